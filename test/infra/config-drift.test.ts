/**
 * No configuration drift: with every option that reaches a function set to a non-default value,
 * each function of the stack (sweeper, objects-stream, objects, snapshot audit) is parsed with the
 * library's own parsers (the sweeper's tuning, `sweeperTuning`, and the objects function's,
 * `objectsTuning`, and the objects-stream function's, `objectsStreamTuning`, included)
 * (`loadConfig`, `sweeperTuningFromEnv`, `writerTuningFromEnv`, `streamTuningFromEnv`,
 * `snapshotAuditSettingsFromEnv`) and
 * must read exactly the configuration the props give, as must the outputs for the CLI; and the
 * resources keyed by the same settings (table key and TTL, stream filter, inventory prefix, IAM
 * resources) name the same values.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_ENV, loadConfig, unknownVariables } from '../../lib/config.js';
import { SWEEPER_ENV, sweeperTuningFromEnv } from '../../lib/recovery/sweeper-env.js';
import { WRITER_ENV, writerTuningFromEnv } from '../../lib/tiered/writer-env.js';
import { STREAM_ENV, streamTuningFromEnv } from '../../lib/recovery/stream-env.js';
import { snapshotAuditSettingsFromEnv } from '../../lib/recovery/snapshot-audit/function-env.js';
import type { HvAttributeNames } from '../../lib/tiered/hv-table.js';
import { Tierlog, type TierlogProps } from '../../infra/tierlog.js';
import { cleanOutdirs, logicalIdOf, onlyResource, resourcesOf, tierlogTemplate, userStack } from './helpers.js';
import { EVERY_SWEEPER_OPTION } from '../support/sweeper-tuning.js';

afterAll(cleanOutdirs);

/** Every attribute renamed. */
const HV_ATTRIBUTES: HvAttributeNames = {
  key: 'k',
  version: 'v',
  body: 'data',
  blob: 'ptr',
  size: 'sz',
  contentType: 'ct',
  metadata: 'meta',
  createdAt: 'created',
  updatedAt: 'updated',
  writeId: 'wid',
  deleted: 'gone',
  expiresAt: 'ttl',
  tti: 'idle',
};

const PROPS: TierlogProps = {
  prefix: 'tenant/media',
  leaseShards: 9,
  hvAttributes: HV_ATTRIBUTES,
  sweeperParallelism: 3,
  // Every option of the sweeper's tuning, none at its default.
  sweeperTuning: {
    claim: Duration.millis(EVERY_SWEEPER_OPTION.claimMs),
    skewMargin: Duration.millis(EVERY_SWEEPER_OPTION.skewMarginMs),
    maxUpload: Duration.millis(EVERY_SWEEPER_OPTION.maxUploadMs),
    concurrency: EVERY_SWEEPER_OPTION.concurrency,
    maxUploadListingPages: EVERY_SWEEPER_OPTION.maxUploadListingPages,
    deadlineMargin: Duration.millis(EVERY_SWEEPER_OPTION.deadlineMarginMs),
    answerMargin: Duration.millis(EVERY_SWEEPER_OPTION.answerMarginMs),
    quarantineRecheck: Duration.millis(EVERY_SWEEPER_OPTION.quarantineRecheckMs),
    retryFailed: Duration.millis(EVERY_SWEEPER_OPTION.retryFailedMs),
    shardlessScan: EVERY_SWEEPER_OPTION.shardlessScan,
  },
  // Every option of the objects function's tuning, none at its default.
  objectsTuning: { inlineThreshold: 32_768 },
  // Every option of the objects-stream function's tuning, none at its default.
  objectsStreamTuning: { concurrency: 6, deadlineMargin: Duration.seconds(9) },
  auditAtScale: { delete: true, olderThan: Duration.hours(3) },
  outputs: true,
};

const { stack, template } = tierlogTemplate(PROPS);
const t = stack.tierlog;

/**
 * A resolved template value as the function would see it after deployment: a `Ref` to a table or
 * bucket of the stack becomes a valid name derived from its logical id.
 */
function deployed(value: unknown): string {
  if (typeof value === 'string') return value;
  const ref = (value as { Ref?: string }).Ref;
  if (typeof ref === 'string') return `ref-${ref.toLowerCase()}`;
  throw new Error(`not a string or a Ref: ${JSON.stringify(value)}`);
}

/** The TIERLOG_* variables of an environment, as deployed (other variables kept as they are if plain). */
function deployedEnv(variables: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(variables).flatMap(([k, v]) => (typeof v === 'string' || k in CONFIG_ENV_NAMES ? [[k, deployed(v)]] : [])),
  );
}
const CONFIG_ENV_NAMES = Object.fromEntries(Object.values(CONFIG_ENV).map((v) => [v, true]));

const functions = Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).map(([id, fn]) => ({
  id,
  env: deployedEnv((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables),
}));
const expected = loadConfig(deployedEnv(stack.resolve(t.writerEnvironment) as Record<string, unknown>));

describe('every function reads the configuration the props give', () => {
  it('the writer environment parses to the props', () => {
    expect(expected).toEqual({
      changeLogTable: `ref-${logicalIdOf(stack, t.changeLogTable).toLowerCase()}`,
      objectsTable: `ref-${logicalIdOf(stack, t.objectsTable).toLowerCase()}`,
      bucket: `ref-${logicalIdOf(stack, t.bucket).toLowerCase()}`,
      prefix: 'tenant/media',
      leaseShards: 9,
      hvAttributes: HV_ATTRIBUTES,
      replacedBlobCleanup: 'stream',
    });
  });

  it('the four functions: sweeper, objects-stream, objects, snapshot audit', () => {
    expect(functions.map((f) => f.id).sort()).toEqual(
      [t.sweeperFunction, t.objectsStream.function, t.objectsFunction!, t.auditAtScale!.function].map((f) => logicalIdOf(stack, f)).sort(),
    );
  });

  it.each(functions.map((f) => [f.id, f.env] as const))('%s: loadConfig reads exactly that', (_id, env) => {
    expect(loadConfig(env)).toEqual(expected);
  });

  it('every TIERLOG_* variable the construct sets on a function is one tierlog reads (no warning at its init)', () => {
    for (const [id, fn] of Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))) {
      const names = Object.keys((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables);
      expect(names.filter((n) => n.startsWith('TIERLOG_')).length, id).toBeGreaterThan(5);
      expect(unknownVariables(Object.fromEntries(names.map((n) => [n, 'set']))), id).toEqual([]);
    }
  });

  it("the sweeper's tuning parses to the props', every variable of SWEEPER_ENV", () => {
    const env = functions.find((f) => f.id === logicalIdOf(stack, t.sweeperFunction))!.env;
    expect(
      Object.keys(env)
        .filter((k) => (Object.values(SWEEPER_ENV) as string[]).includes(k))
        .sort(),
    ).toEqual(Object.values(SWEEPER_ENV).sort());
    expect(sweeperTuningFromEnv(env)).toEqual(EVERY_SWEEPER_OPTION);
  });

  it("without sweeperTuning the sweeper's environment sets none (the library's defaults)", () => {
    const { stack: plain, template: plainTemplate } = tierlogTemplate();
    const fn = resourcesOf(plainTemplate, 'AWS::Lambda::Function')[logicalIdOf(plain, plain.tierlog.sweeperFunction)]!;
    const env = deployedEnv((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables);
    expect(sweeperTuningFromEnv(env)).toEqual({});
  });

  it('only the sweeper gets the tuning', () => {
    for (const f of functions.filter((f) => f.id !== logicalIdOf(stack, t.sweeperFunction))) {
      expect(
        Object.keys(f.env).filter((k) => (Object.values(SWEEPER_ENV) as string[]).includes(k)),
        f.id,
      ).toEqual([]);
    }
  });

  it("the objects function's tuning parses to the props', every option of WRITER_ENV", () => {
    const env = functions.find((f) => f.id === logicalIdOf(stack, t.objectsFunction!))!.env;
    const tuning = { inlineThreshold: 32_768 };
    expect(Object.keys(tuning).sort()).toEqual(Object.keys(WRITER_ENV).sort());
    expect(writerTuningFromEnv(env)).toEqual(tuning);
  });

  it("without objectsTuning the objects function's environment sets none (the library's defaults)", () => {
    const { stack: plain, template: plainTemplate } = tierlogTemplate();
    const fn = resourcesOf(plainTemplate, 'AWS::Lambda::Function')[logicalIdOf(plain, plain.tierlog.objectsFunction!)]!;
    const env = deployedEnv((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables);
    expect(writerTuningFromEnv(env)).toEqual({});
  });

  it('only the objects function gets its tuning', () => {
    for (const f of functions.filter((f) => f.id !== logicalIdOf(stack, t.objectsFunction!))) {
      expect(
        Object.keys(f.env).filter((k) => (Object.values(WRITER_ENV) as string[]).includes(k)),
        f.id,
      ).toEqual([]);
    }
  });

  it("the objects-stream function's tuning parses to the props', every option of STREAM_ENV", () => {
    const env = functions.find((f) => f.id === logicalIdOf(stack, t.objectsStream.function))!.env;
    const tuning = { concurrency: 6, deadlineMarginMs: 9_000 };
    expect(Object.keys(tuning).sort()).toEqual(Object.keys(STREAM_ENV).sort());
    expect(streamTuningFromEnv(env)).toEqual(tuning);
  });

  it("without objectsStreamTuning the objects-stream function's environment sets none (the library's defaults)", () => {
    const { stack: plain, template: plainTemplate } = tierlogTemplate();
    const fn = resourcesOf(plainTemplate, 'AWS::Lambda::Function')[logicalIdOf(plain, plain.tierlog.objectsStream.function)]!;
    const env = deployedEnv((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables);
    expect(streamTuningFromEnv(env)).toEqual({});
  });

  it('only the objects-stream function gets its tuning', () => {
    for (const f of functions.filter((f) => f.id !== logicalIdOf(stack, t.objectsStream.function))) {
      expect(
        Object.keys(f.env).filter((k) => (Object.values(STREAM_ENV) as string[]).includes(k)),
        f.id,
      ).toEqual([]);
    }
  });

  it("the snapshot audit's settings are the props'", () => {
    const env = functions.find((f) => f.id === logicalIdOf(stack, t.auditAtScale!.function))!.env;
    expect(snapshotAuditSettingsFromEnv(env)).toEqual({ olderThanMs: Duration.hours(3).toMilliseconds(), delete: true });
  });

  it('the outputs for the CLI parse to the same configuration', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const env: Record<string, string> = {};
    for (const [option, variable] of Object.entries(CONFIG_ENV)) {
      const id = option.charAt(0).toUpperCase() + option.slice(1);
      const matching = Object.entries(outputs).filter(([k]) => k === id || k.startsWith(`TierlogOutputs${id}`));
      expect(
        matching.map(([k]) => k),
        `one output for ${id}`,
      ).toHaveLength(1);
      for (const [, output] of matching) {
        if (env[variable] !== undefined) expect(deployed(output.Value), id).toBe(env[variable]);
        env[variable] = deployed(output.Value);
      }
    }
    expect(loadConfig(env)).toEqual(expected);
  });

  it("the outputs for the CLI parse to the sweeper's own tuning (a CLI without them sweeps on the default windows)", () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const env: Record<string, string> = {};
    for (const [setting, variable] of Object.entries(SWEEPER_ENV)) {
      const id = `Sweeper${setting.charAt(0).toUpperCase()}${setting.slice(1)}`;
      const matching = Object.entries(outputs).filter(([k]) => k === id || k.startsWith(`TierlogOutputs${id}`));
      expect(
        matching.map(([k]) => k),
        `one output for ${id}`,
      ).toHaveLength(1);
      env[variable] = deployed(matching[0]![1].Value);
    }
    const sweeperEnv = functions.find((f) => f.id === logicalIdOf(stack, t.sweeperFunction))!.env;
    expect(sweeperTuningFromEnv(env)).toEqual(sweeperTuningFromEnv(sweeperEnv));
    expect(sweeperTuningFromEnv(env)).toEqual(EVERY_SWEEPER_OPTION);
  });

  it("the construct in a user's stack outputs each setting once, as the stack does", () => {
    const { stack: user } = userStack();
    new Tierlog(user, 'Storage', { outputs: true });
    const ids = Object.keys(Template.fromStack(user).toJSON().Outputs as Record<string, unknown>);
    for (const option of Object.keys(CONFIG_ENV)) {
      const id = option.charAt(0).toUpperCase() + option.slice(1);
      expect(
        ids.filter((k) => k.startsWith(`StorageOutputs${id}`)),
        id,
      ).toHaveLength(1);
    }
  });
});

describe('the resources keyed by the same settings', () => {
  it('the objects table: partition key and TTL under the configured names', () => {
    const table = resourcesOf(template, 'AWS::DynamoDB::GlobalTable')[logicalIdOf(stack, t.objectsTable)]!.Properties!;
    expect(table['KeySchema']).toEqual([{ AttributeName: 'k', KeyType: 'HASH' }]);
    expect(table['TimeToLiveSpecification']).toEqual({ AttributeName: 'ttl', Enabled: true });
  });

  it('the stream filter passes MODIFY records whose old image has the configured blob attribute', () => {
    const [, mapping] = onlyResource(template, 'AWS::Lambda::EventSourceMapping');
    const patterns = (mapping.Properties!['FilterCriteria'] as { Filters: Array<{ Pattern: string }> }).Filters.map((f) =>
      JSON.parse(f.Pattern),
    );
    expect(patterns).toContainEqual({ eventName: ['MODIFY'], dynamodb: { OldImage: { ptr: { S: [{ exists: true }] } } } });
  });

  it('the inventory covers <prefix>/, and every S3 object grant is on <prefix>/* (no default prefix anywhere)', () => {
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toContain('/blobs/');
    const [, bucket] = Object.entries(resourcesOf(template, 'AWS::S3::Bucket')).find(([id]) => id === logicalIdOf(stack, t.bucket))!;
    expect((bucket.Properties!['InventoryConfigurations'] as Array<{ Prefix: string }>)[0]!.Prefix).toBe('tenant/media/');
    for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      for (const s of (policy.Properties!['PolicyDocument'] as { Statement: Array<{ Action: unknown; Resource: unknown }> }).Statement) {
        const text = JSON.stringify(s.Resource);
        if (text.includes(logicalIdOf(stack, t.bucket)) && text.includes('/')) expect(text).toContain('/tenant/media/*');
      }
    }
  });

  it('the sweep schedules split all nine shards between the three fan-out groups', () => {
    const inputs = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule'))
      .map(
        (s) => JSON.parse((s.Properties!['Target'] as { Input?: string }).Input ?? '{}') as { shards?: number[]; housekeeping?: boolean },
      )
      .filter((i) => i.housekeeping === false);
    expect(inputs.flatMap((i) => i.shards!).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
