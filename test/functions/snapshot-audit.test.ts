/**
 * `functions/snapshot-audit.ts` reads its settings as `loadConfig` reads the configuration: a
 * missing or malformed variable (or a safety age under the audit's 1 h floor) fails the load with
 * a ConfigError naming the variable, never a default (a NaN safety age used to make every
 * candidate "too young", silently; a small one deletes younger blobs than any other audit).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ConfigError, ValidationError } from '../../lib/errors.js';
import { LostCheckIncompleteError, ReverifyIncompleteError, reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { FaultInjector, type FaultRule } from '../../lib/faults/fault-injector.js';
import { awsServiceError, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { planAthenaRun } from '../../lib/recovery/snapshot-audit/athena-plan.js';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { type Fixture, freshFixture, listKeys, testConfig } from '../support/local.js';
import { blobKey, putBlob, putRawInstance, putTombstone } from '../cli/helpers.js';
import { captureStdout, lambdaContext, loadHandler } from './lambda.js';
import { Logger } from '@aws-lambda-powertools/logger';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';

const HOUR = 3_600_000;
const fx = { config: testConfig() } as Fixture;
const settings = {
  TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(24 * HOUR),
  TIERLOG_SNAPSHOT_DELETE: 'false',
  TIERLOG_SNAPSHOT_BUCKET: 'snapshots-1',
  TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX: 'inventory/hive',
  TIERLOG_SNAPSHOT_DATABASE: 'tierlog_audit',
};

const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

async function load(overrides: Record<string, string>): Promise<unknown> {
  const env = { ...settings, ...overrides };
  // Unset ones (given as '') must not leak in from an earlier test.
  const { mod, restore } = await loadHandler(fx, () => import('../../functions/snapshot-audit.js'), env).catch((err: unknown) => {
    for (const k of Object.keys(env)) delete process.env[k];
    throw err;
  });
  restores.push(restore);
  return mod;
}

/**
 * An S3 client of the local stack whose requests pass through `middleware` first (an answer of
 * AWS's the local server does not give), destroyed after the test.
 */
function s3Through(
  name: string,
  middleware: (next: (args: any) => Promise<any>, context: { commandName?: string }) => (args: any) => Promise<any>,
): S3Client {
  const s3 = createS3Client();
  restores.push(() => s3.destroy());
  s3.middlewareStack.add(middleware as never, { step: 'initialize', name });
  return s3;
}

describe('snapshot-audit function settings', () => {
  it.each([
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', 'abc'],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', ''],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', '60000'],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', '-86400000'],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', '1e9'],
    // 30 years: before 2000, no blob old enough, a run that judges nothing (refused at init, not at each run).
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', String(30 * 365 * 24 * HOUR)],
    ['TIERLOG_SNAPSHOT_DELETE', 'yes'],
    ['TIERLOG_SNAPSHOT_DELETE', 'TRUE'],
  ])('%s=%j fails the load with a ConfigError naming it', async (variable, value) => {
    const error = await load({ [variable]: value }).then(
      () => undefined,
      (err: unknown) => err,
    );
    // The module was loaded afresh (its own copy of lib/errors.ts): compare by name.
    expect((error as Error).name).toBe('ConfigError');
    expect((error as ConfigError).setting).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
  });

  it('valid settings load', async () => {
    expect(await load({ TIERLOG_SNAPSHOT_DELETE: 'true' })).toHaveProperty('handler');
    expect(await load({ TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(HOUR), TIERLOG_SNAPSHOT_DELETE: '' })).toHaveProperty('handler');
  });

  it('the re-verification refuses a safety age under 1 h or reaching back before 2000, as the audits do', async () => {
    const options = { config: fx.config, dynamodb: createDynamoDBClient(), s3: createS3Client(), now: Date.now(), delete: true };
    await expect(reverifyAndDelete([], { ...options, olderThanMs: HOUR - 1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(reverifyAndDelete([], { ...options, olderThanMs: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
    // Reaching back before 2000, no candidate is old enough: nothing deleted, a clean-looking report.
    await expect(reverifyAndDelete([], { ...options, olderThanMs: 60 * 365 * 24 * HOUR })).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'olderThanMs',
    });
  });

  it('the snapshot audit refuses a safety age under 1 h or reaching back before 2000 with the same typed error, before it reads a snapshot', async () => {
    const options = { config: fx.config, dynamodb: createDynamoDBClient(), s3: createS3Client(), now: Date.now() };
    for (const olderThanMs of [HOUR - 1, Number.NaN, 60 * 365 * 24 * HOUR]) {
      const refused = snapshotAudit({ ...options, inventory: '/nonexistent/manifest.json', exportDir: '/nonexistent', olderThanMs });
      await expect(refused).rejects.toBeInstanceOf(ValidationError);
      await expect(refused).rejects.toMatchObject({ field: 'olderThanMs' });
    }
  });
});

/** The counts of a batch's summary (what the re-verification function returns). */
const SUMMARY_COUNTS = ['confirmed', 'deleted', 'kept', 'lost', 'malformed', 'expired', 'expiredRemoved', 'expiredDeleted'] as const;

/** A batch's summary: every count 0 but those of `counts`. */
function batchSummary(counts: Partial<Record<(typeof SUMMARY_COUNTS)[number], number>>): Record<string, number> {
  return { ...Object.fromEntries(SUMMARY_COUNTS.map((name) => [name, 0])), ...counts };
}

/**
 * The function's handler for batches, on `live`, with the settings, a safety age of an hour and
 * `env` (restored after the test).
 */
async function batchHandler(live: Fixture, env: Record<string, string>): Promise<(event: unknown) => Promise<unknown>> {
  const { mod, restore } = await loadHandler(live, () => import('../../functions/snapshot-audit.js'), {
    ...settings,
    TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(HOUR),
    ...env,
  });
  restores.push(restore);
  return (mod as { handler: (event: unknown) => Promise<unknown> }).handler;
}

/** A batch handler of `live` with `delete` on and a safety age of an hour, over `s3` (and `dynamodb`), its logs off. */
function handlerWith(live: Fixture, s3: S3Client, dynamodb: DynamoDBClient = live.dynamodb) {
  return createSnapshotAuditHandler({
    config: live.config,
    settings: { olderThanMs: HOUR, delete: true },
    dynamodb,
    s3,
    logger: new Logger({ logLevel: 'CRITICAL' }),
  });
}

/** The EMF documents (metrics) among the lines the function wrote. */
function emfDocuments(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((line) => line.includes('"_aws"'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The values of metric `name` in the EMF documents the function wrote, in order. */
function published(out: string, name: string): unknown[] {
  return emfDocuments(out)
    .filter((doc) => name in doc)
    .map((doc) => doc[name]);
}

/**
 * `count` proposed losses three hours old: each object's tombstone points at a blob the bucket
 * lacks, keys `<prefix>-000`, `<prefix>-001`, ... (sorted as made).
 */
async function lostRows(
  live: Fixture,
  prefix: string,
  count: number,
): Promise<Array<{ kind: string; blob_key: string; object_key: string }>> {
  const rows: Array<{ kind: string; blob_key: string; object_key: string }> = [];
  for (let i = 0; i < count; i++) {
    const objectKey = `${prefix}-${String(i).padStart(3, '0')}`;
    const key = blobKey(live, objectKey, Date.now() - 3 * HOUR);
    await putTombstone(live, objectKey, key);
    rows.push({ kind: 'lost', blob_key: key, object_key: objectKey });
  }
  return rows;
}

/** A report-only batch's handler whose DynamoDB client meets `rule` (the client closed after the test). */
function reportOnlyMeeting(live: Fixture, rule: FaultRule): ReturnType<typeof createSnapshotAuditHandler> {
  const dynamodb = createDynamoDBClient();
  restores.push(() => dynamodb.destroy());
  new FaultInjector().add(rule).attach(dynamodb, 'dynamodb');
  return createSnapshotAuditHandler({
    config: live.config,
    settings: { olderThanMs: HOUR, delete: false },
    dynamodb,
    s3: live.s3,
    logger: new Logger({ logLevel: 'ERROR' }),
  });
}

/** Three hours ago, as Athena writes a timestamp in the query's rows. */
const threeHoursAgo = () => new Date(Date.now() - 3 * HOUR).toISOString().replace('T', ' ').slice(0, 23);

/** Two blobs three hours old: `referenced`'s, which its object points at, and `orphan`'s, which nothing does. */
async function referencedAndOrphan(live: Fixture, names: { referenced: string; orphan: string }) {
  const referenced = blobKey(live, names.referenced, Date.now() - 3 * HOUR);
  await putBlob(live, referenced);
  await putTombstone(live, names.referenced, referenced);
  const orphan = blobKey(live, names.orphan, Date.now() - 3 * HOUR);
  await putBlob(live, orphan);
  return { referenced, orphan };
}

describe('snapshot-audit function batches', () => {
  it('a change-log entry that cannot be read: the batch deletes nothing and fails (deletes refused)', async () => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    await putRawInstance(live, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    const handler = await batchHandler(live, {
      TIERLOG_SNAPSHOT_DELETE: 'true',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    const lastModified = threeHoursAgo();
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: lastModified }] }));
    expect((run.error as Error).message).toMatch(/deletes refused/);
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([orphan]);
  });

  it('an objects table that points at no blob: the batch fails, and says how to state the store holds no large object (the function has no such setting)', async () => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] }));
    const message = (run.error as Error).message;
    expect(message).toMatch(/deletes refused: the objects table .* points at no blob/);
    // "State that the store holds no large object": the function reads no such setting; the CLI does.
    expect(message).toContain('tierlog audit --delete --empty-store-ok');
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([orphan]);
  });

  // Report-only (the default, `delete: false`): the same untrusted state keeps every proposed
  // orphan unjudged and the batch goes on (as the CLI's report-only run exits 0). Its reason was
  // logged nowhere (the keys' info line gave a code, `store-unbound`), where the CLI prints it: a
  // run that could confirm no orphan read as one that found none.
  it.each([
    ['an objects table that points at no blob', /the objects table .* points at no blob/, false],
    // Which item, and why: before, "a change-log or objects-table item cannot be read", naming neither.
    ['a change-log entry that cannot be read', /^entry x of change-log item \S+ does not parse and names no object$/, true],
  ])('report-only, %s: the batch logs at error level why no orphan was confirmed; nothing deleted', async (_what, reason, corrupt) => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    if (corrupt) await putRawInstance(live, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'false', POWERTOOLS_LOG_LEVEL: 'ERROR' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] }));
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual(batchSummary({ kept: 1 }));
    const errors = `${run.out}\n${run.err}`
      .split('\n')
      .filter((line) => line.startsWith('{') && !line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as { level?: string; message?: string; reason?: string; unjudged?: number })
      .filter((line) => line.level === 'ERROR');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/^orphans not confirmed/);
    expect(errors[0]!.reason).toMatch(reason);
    expect(errors[0]!.unjudged).toBe(1);
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([orphan]);
  });
});

describe('snapshot-audit function batches: an incomplete inventory', () => {
  it('a proposed loss the bucket has held since before the cutoff (the inventory missed it): the batch fails, not a clean run', async () => {
    const live = await freshFixture();
    // HV points at a blob the bucket holds: the inventory lacked it (another prefix, a file missing).
    const { referenced: held, orphan } = await referencedAndOrphan(live, { referenced: 'held-obj', orphan: 'orphan-obj' });
    const handler = await batchHandler(live, {
      TIERLOG_SNAPSHOT_DELETE: 'true',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    const lastModified = threeHoursAgo();
    const Items = [
      { kind: 'lost', blob_key: held, object_key: 'held-obj' },
      { kind: 'orphan', blob_key: orphan, last_modified: lastModified },
    ];
    // The plan's cutoff, as the state machine's item batcher passes it (the blobs were put before it).
    const run = await captureStdout(() => handler({ Items, BatchInput: { cutoff: new Date(Date.now() + HOUR).toISOString() } }));
    expect((run.error as Error).message).toMatch(/inventory lacks 1 blobs .*not a complete report/);
    // The orphan it proposed was re-verified live and deleted (nothing of that owes to the inventory); the held blob stays.
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([held]);
  });

  // S3 gives an object assembled from parts the LastModified of its upload's start (the object's
  // creation date "is the date of initiation of the multipart upload"), which s3rver does not: an
  // upload session begun before the cutoff and completed after the inventory was taken is such a
  // blob, which the inventory could not list. A client shows the blob as S3 lists one (its ETag
  // `"<digest>-<parts>"`); its LastModified, s3rver's, is before the cutoff.
  it('a proposed loss the bucket holds as an object assembled from parts, begun before the cutoff: no proof the inventory missed it, the batch does not fail', async () => {
    const live = await freshFixture();
    const { referenced: held } = await referencedAndOrphan(live, { referenced: 'session-obj', orphan: 'orphan-obj' });
    const s3 = s3Through(
      'assembledFromParts',
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        const out = await next(args);
        if (context.commandName !== 'ListObjectsV2Command') return out;
        out.output.Contents = (out.output.Contents ?? []).map((c: { Key?: string }) =>
          c.Key === held ? { ...c, ETag: '"0123456789abcdef0123456789abcdef-2"' } : c,
        );
        return out;
      },
    );
    const handler = handlerWith(live, s3);
    const Items = [{ kind: 'lost', blob_key: held, object_key: 'session-obj' }];
    const run = await captureStdout(() => handler({ Items, BatchInput: { cutoff: new Date(Date.now() + HOUR).toISOString() } }));
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual(batchSummary({}));
  });
});

describe('snapshot-audit function batches: what a batch reports', () => {
  it('keys that are not blob keys are reported (never deleted), and a row of a kind the query does not return fails the batch', async () => {
    const live = await freshFixture();
    const stray = `${live.config.prefix}/not-a-blob.txt`;
    await putBlob(live, stray);
    const handler = await batchHandler(live, {
      TIERLOG_SNAPSHOT_DELETE: 'true',
    });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'malformed', blob_key: stray }] }));
    // Reported only: not proposed to the re-verification as an orphan (kept 0), not judged a loss.
    expect(run.result).toEqual(batchSummary({ malformed: 1 }));
    const odd = await captureStdout(() => handler({ Items: [{ kind: 'orphan ', blob_key: stray }] }));
    expect((odd.error as Error).message).toMatch(/unknown kind/);
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([stray]);
  });
});

describe('snapshot-audit function batches: an orphan row whose LastModified is unknown', () => {
  // The row comes from the Athena result (the inventory's last_modified_date). Without a time, the
  // UUIDv7's is the writer's clock alone: young, never deleted on a guess.
  it.each([
    ['absent', {}],
    ['empty (a NULL Athena wrote)', { last_modified: '' }],
    ['no time', { last_modified: 'yesterday' }],
  ])('%s: kept as too young, not deleted', async (_name, lastModified) => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, ...lastModified }] }));
    expect(run.result).toEqual(batchSummary({ kept: 1 }));
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([orphan]);
  });
});

describe('snapshot-audit function batches: an orphan row whose LastModified is an ISO time', () => {
  // SnapshotAuditRow.last_modified is documented "(ISO)"; Athena writes `2026-01-01 06:00:00.000`.
  // A row given the ISO form (a batch re-run by hand, as the type says) was read as no time: every
  // orphan "kept as too young" though old, nothing deleted, and the summary said so.
  it('is read as that time: an old unreferenced blob is confirmed and deleted, as with the Athena form', async () => {
    const live = await freshFixture();
    const { referenced, orphan } = await referencedAndOrphan(live, { referenced: 'live-obj', orphan: 'obj' });
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const lastModified = new Date(Date.now() - 3 * HOUR).toISOString();
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: lastModified }] }));
    expect(run.result).toEqual(batchSummary({ confirmed: 1, deleted: 1 }));
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
  });
});

describe('snapshot-audit function batches: what a batch reads of the objects table', () => {
  // One batch of 500 rows per invocation: the CLI audits' Scan of the whole objects table for an
  // item of another object (a copy renaming an object) would be made once per batch, the table's
  // size times the batches (infra/README-deploy.md says what the function does not see for it).
  it('the items its rows name, never a consistent Scan of the whole table, though it deletes', async () => {
    const live = await freshFixture();
    const { referenced, orphan } = await referencedAndOrphan(live, { referenced: 'scan-live', orphan: 'scan-obj' });
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = createS3Client();
    try {
      const handler = handlerWith(live, s3, dynamodb);
      const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] }));
      expect(run.result).toMatchObject({ confirmed: 1, deleted: 1 });
      expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
      const wholeTable = recorder.commands.filter(
        (c) => c.command === 'Scan' && c.input.TableName === live.config.objectsTable && c.input.ConsistentRead === true,
      );
      expect(wholeTable).toEqual([]);
    } finally {
      dynamodb.destroy();
      s3.destroy();
    }
  });
});

describe('snapshot-audit function batches: one failure is enough to fail the run', () => {
  it('one key a DeleteObjects answer says it did not delete, among confirmed orphans: the batch fails after the others are deleted', async () => {
    const live = await freshFixture();
    const referenced = blobKey(live, 'kept-live', Date.now() - 3 * HOUR);
    await putBlob(live, referenced);
    await putTombstone(live, 'kept-live', referenced);
    const orphans = [blobKey(live, 'gone-a', Date.now() - 3 * HOUR), blobKey(live, 'gone-b', Date.now() - 3 * HOUR)];
    for (const key of orphans) await putBlob(live, key);
    // S3 answers the last key of each DeleteObjects with an error of its own (a bucket policy that
    // denies it, say): the request is sent without it, and its error added to the answer.
    const s3 = s3Through('lastKeyDenied', (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      if (context.commandName !== 'DeleteObjectsCommand') return next(args);
      const keys = args.input.Delete.Objects as Array<{ Key: string }>;
      const denied = keys.at(-1)!.Key;
      const out = await next({ ...args, input: { ...args.input, Delete: { ...args.input.Delete, Objects: keys.slice(0, -1) } } });
      out.output.Errors = [...(out.output.Errors ?? []), { Key: denied, Code: 'AccessDenied', Message: 'Access Denied' }];
      return out;
    });
    const items = orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() }));
    const run = await captureStdout(() => handlerWith(live, s3)({ Items: items }));
    expect((run.error as Error).message).toMatch(/^1 deletes failed: .*AccessDenied/);
    expect((await listKeys(live.s3, live.config.bucket)).sort()).toEqual([referenced, orphans[1]!].sort());
  });

  it('every key S3 refused to delete is named in the batch log, not only the five its error names', async () => {
    const live = await freshFixture();
    const orphans = Array.from({ length: 7 }, (_, i) => blobKey(live, `denied-${i}`, Date.now() - 3 * HOUR));
    for (const key of orphans) await putBlob(live, key);
    // S3 answers every key of each DeleteObjects with an error of its own (an object lock, a bucket policy).
    const s3 = s3Through('everyKeyDenied', (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      if (context.commandName !== 'DeleteObjectsCommand') return next(args);
      const keys = args.input.Delete.Objects as Array<{ Key: string }>;
      return { output: { Errors: keys.map(({ Key }) => ({ Key, Code: 'AccessDenied', Message: 'Access Denied' })) }, response: {} };
    });
    const handler = createSnapshotAuditHandler({
      config: live.config,
      settings: { olderThanMs: HOUR, delete: true },
      dynamodb: live.dynamodb,
      s3,
      logger: new Logger({ logLevel: 'ERROR' }),
    });
    const items = orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() }));
    // A live object binds the objects table to the bucket (its item points at a blob there).
    const referenced = blobKey(live, 'kept-live', Date.now() - 3 * HOUR);
    await putBlob(live, referenced);
    await putTombstone(live, 'kept-live', referenced);
    const run = await captureStdout(() => handler({ Items: items }));
    expect((run.error as Error).message).toMatch(/^7 deletes failed: /);
    const logged = `${run.out}\n${run.err}`
      .split('\n')
      .filter((l) => l.includes('"deleteFailures":['))
      .flatMap((l) => (JSON.parse(l) as { deleteFailures: Array<{ key: string; code: string }> }).deleteFailures);
    expect(logged.map((f) => f.key).sort()).toEqual([...orphans].sort());
    expect(logged.every((f) => f.code === 'AccessDenied')).toBe(true);
    expect((await listKeys(live.s3, live.config.bucket)).sort()).toEqual([...orphans, referenced].sort());
  });

  it('every proposed loss not judged is named in the batch log, not only the first 100', async () => {
    const live = await freshFixture();
    // Athena writes a NULL object key as an empty field: 150 rows of a batch, none judged.
    const missing = Array.from({ length: 150 }, (_, i) => blobKey(live, `unjudged-${i}`, Date.now() - 3 * HOUR));
    const handler = createSnapshotAuditHandler({
      config: live.config,
      settings: { olderThanMs: HOUR, delete: true },
      dynamodb: live.dynamodb,
      s3: live.s3,
      logger: new Logger({ logLevel: 'ERROR' }),
    });
    const run = await captureStdout(() => handler({ Items: missing.map((blob_key) => ({ kind: 'lost', blob_key, object_key: '' })) }));
    expect((run.error as Error).message).toMatch(/^150 proposed losses could not be judged live/);
    const logged = `${run.out}\n${run.err}`
      .split('\n')
      .filter((l) => l.includes('"undecided":['))
      .flatMap((l) => (JSON.parse(l) as { undecided: Array<{ key: string }> }).undecided.map((u) => u.key));
    expect(logged.sort()).toEqual([...missing].sort());
  });

  it('every key under the prefix that is no blob key is named in the batch log, not only the first 100', async () => {
    const live = await freshFixture();
    const keys = Array.from({ length: 150 }, (_, i) => `${live.config.prefix}/notes/${i}.txt`);
    const handler = createSnapshotAuditHandler({
      config: live.config,
      settings: { olderThanMs: HOUR, delete: true },
      dynamodb: live.dynamodb,
      s3: live.s3,
      logger: new Logger({ logLevel: 'WARN' }),
    });
    const run = await captureStdout(() => handler({ Items: keys.map((blob_key) => ({ kind: 'malformed', blob_key })) }));
    expect(run.result).toEqual(batchSummary({ malformed: 150 }));
    const logged = `${run.out}\n${run.err}`
      .split('\n')
      .filter((l) => l.includes('"malformed":['))
      .flatMap((l) => (JSON.parse(l) as { malformed: string[] }).malformed);
    expect(logged.sort()).toEqual([...keys].sort());
  });

  it('one proposed loss that cannot be judged live: the batch fails, not a clean run', async () => {
    const live = await freshFixture();
    const missing = blobKey(live, 'unjudged', Date.now() - 3 * HOUR);
    // Athena writes a NULL object key as an empty field: no object to read, so neither lost nor cleared.
    const run = await captureStdout(() => handlerWith(live, live.s3)({ Items: [{ kind: 'lost', blob_key: missing, object_key: '' }] }));
    expect((run.error as Error).message).toMatch(/^1 proposed losses could not be judged live/);
  });
});

describe('snapshot-audit function batches: metrics on the error path', () => {
  it('a confirmed lost blob is published (SnapshotLostBlobs) even when the re-verification then fails the batch', async () => {
    const live = await freshFixture();
    // HV points at a blob the bucket lacks: lost.
    const lostKey = blobKey(live, 'lost-obj', Date.now() - 3 * HOUR);
    await putTombstone(live, 'lost-obj', lostKey);
    const orphan = blobKey(live, 'orphan-obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    // The re-verification reads the change log first: a table that is not there fails it.
    const handler = await batchHandler(live, {
      TIERLOG_CHANGELOG_TABLE: `${live.config.changeLogTable}-missing`,
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    const lastModified = threeHoursAgo();
    const run = await captureStdout(() =>
      handler({
        Items: [
          { kind: 'lost', blob_key: lostKey, object_key: 'lost-obj' },
          { kind: 'orphan', blob_key: orphan, last_modified: lastModified },
        ],
      }),
    );
    expect(run.error).toBeDefined();
    const lostFigures = emfDocuments(run.out)
      .filter((doc) => 'SnapshotLostBlobs' in doc)
      .map((doc) => [doc.service, doc.SnapshotLostBlobs]);
    expect(lostFigures).toEqual([['tierlog-snapshot-audit', 1]]);
  });

  // The live check reads HV 100 keys a request: a read that failed after earlier ones had
  // confirmed losses took those with it (no SnapshotLostBlobs, no log of their keys), and the
  // run failed on a throttling or access error alone, the broken invariant unseen.
  it('losses confirmed before a later live read of HV failed are published (SnapshotLostBlobs) and logged, then the batch fails', async () => {
    const live = await freshFixture();
    const rows = await lostRows(live, 'lost', 101);
    const handler = reportOnlyMeeting(live, {
      kind: 'fail',
      match: (r) => r.command === 'BatchGetItemCommand' && JSON.stringify(r.input).includes('lost-100'),
      error: () => awsServiceError('AccessDeniedException', 400),
    });
    const run = await captureStdout(() => handler({ Items: rows }));
    expect((run.error as Error).message).toMatch(/access denied/);
    const lostFigures = published(run.out, 'SnapshotLostBlobs');
    expect(lostFigures).toEqual([100]);
    const logged = `${run.out}\n${run.err}`
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('lost blobs'))
      .map((line) => JSON.parse(line) as { lost: Array<{ key: string }> });
    expect(logged).toHaveLength(1);
    expect(logged[0]!.lost.map((l) => l.key).sort()).toEqual(
      rows
        .slice(0, 100)
        .map((r) => r.blob_key)
        .sort(),
    );
  });

  // The live check of 500 proposed losses (a listing of each, then HV) could outlast the invocation:
  // Lambda's timeout ended it, and the losses it had confirmed went with it, the LostBlobs alarm quiet.
  it("a live check of losses that runs out of its invocation's time publishes the losses it confirmed, then fails", async () => {
    const live = await freshFixture();
    const rows = await lostRows(live, 'late-lost', 101);
    // 8 s left: rounds stop starting 4 s in (half the time, under a minute); the first HV read answers after that.
    const handler = reportOnlyMeeting(live, { kind: 'delay', delayMs: 5_000, times: 1, match: (r) => r.command === 'BatchGetItemCommand' });
    const context = lambdaContext('tierlog-snapshot-audit', 8_000);
    const run = await captureStdout(() => handler({ Items: rows }, context));
    expect(run.error).toBeInstanceOf(LostCheckIncompleteError);
    expect((run.error as Error).message).toContain("the invocation's deadline");
    const lostFigures = published(run.out, 'SnapshotLostBlobs');
    expect(lostFigures).toEqual([100]);
  });
});

describe('snapshot-audit function batches: the figures each batch publishes', () => {
  it('SnapshotOrphansConfirmed / Deleted / Kept and SnapshotLostBlobs, in one batch with an orphan and a referenced blob', async () => {
    // DESIGN.md, "Observability and operations": each batch's SnapshotOrphansConfirmed / Deleted /
    // Kept and SnapshotLostBlobs, under the function's service.
    const live = await freshFixture();
    const referenced = blobKey(live, 'live-obj', Date.now() - 3 * HOUR);
    await putBlob(live, referenced);
    await putTombstone(live, 'live-obj', referenced);
    const orphan = blobKey(live, 'orphan-obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    // HV points at a blob the bucket lacks: lost (alarmed, reported; the batch itself does not fail).
    const lostKey = blobKey(live, 'lost-obj', Date.now() - 3 * HOUR);
    await putTombstone(live, 'lost-obj', lostKey);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const lastModified = threeHoursAgo();
    const run = await captureStdout(() =>
      handler({
        Items: [
          { kind: 'orphan', blob_key: orphan, last_modified: lastModified },
          { kind: 'orphan', blob_key: referenced, last_modified: lastModified },
          { kind: 'lost', blob_key: lostKey, object_key: 'lost-obj' },
        ],
      }),
    );
    expect(run.error).toBeUndefined();
    // The summary the state machine's results carry, figure by figure.
    expect(run.result).toEqual(batchSummary({ confirmed: 1, deleted: 1, kept: 1, lost: 1 }));
    const figures = Object.assign({}, ...emfDocuments(run.out));
    expect(figures).toMatchObject({
      service: 'tierlog-snapshot-audit',
      SnapshotLostBlobs: 1,
      SnapshotOrphansConfirmed: 1,
      SnapshotOrphansDeleted: 1,
      SnapshotOrphansKept: 1,
    });
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
  });
});

describe('snapshot-audit function batches: logs bound to the invocation', () => {
  it("a batch's log lines carry the Lambda context's request id, as the sweeper's and the stream function's do", async () => {
    const live = await freshFixture();
    const handler = (await batchHandler(live, { POWERTOOLS_LOG_LEVEL: 'WARN' })) as (event: unknown, context: unknown) => Promise<unknown>;
    const context = lambdaContext('tierlog-snapshot-audit');
    const run = await captureStdout(() =>
      handler({ Items: [{ kind: 'malformed', blob_key: `${live.config.prefix}/not-a-blob` }] }, context),
    );
    expect(run.error).toBeUndefined();
    const warnings = `${run.out}\n${run.err}`
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('not blob keys'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ function_request_id: context.awsRequestId, function_name: 'tierlog-snapshot-audit' });
  });
});

describe('snapshot-audit function batches: rows and modes at the edges', () => {
  /** One live large object, so that the objects table shows itself this bucket's store (store-binding.ts). */
  async function withLiveBlob(live: Fixture): Promise<string> {
    const referenced = blobKey(live, 'live-obj', Date.now() - 3 * HOUR);
    await putBlob(live, referenced);
    await putTombstone(live, 'live-obj', referenced);
    return referenced;
  }

  it('rows without a blob key (a NULL the query cannot produce) are judged as nothing: the batch goes on with the others', async () => {
    const live = await freshFixture();
    const referenced = await withLiveBlob(live);
    const orphan = blobKey(live, 'orphan-obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const Items = [
      { kind: 'orphan', last_modified: threeHoursAgo() },
      { kind: 'lost', object_key: 'some-obj' },
      { kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() },
    ];
    const run = await captureStdout(() => handler({ Items }));
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual(batchSummary({ confirmed: 1, deleted: 1 }));
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
  });

  // The state machine retries a batch whose answer was lost (Lambda.ServiceException,
  // SdkClientException: retryOnServiceExceptions) though it may have run whole: S3 answers a
  // delete of a key already gone as done, so the run counted each of its deletes twice.
  it('a batch run again after its answer was lost: the blobs it deleted are gone, neither confirmed nor deleted again', async () => {
    const live = await freshFixture();
    const referenced = await withLiveBlob(live);
    const orphans = [blobKey(live, 'orphan-a', Date.now() - 3 * HOUR), blobKey(live, 'orphan-b', Date.now() - 3 * HOUR)];
    for (const orphan of orphans) await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const Items = orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() }));
    const first = await captureStdout(() => handler({ Items }));
    expect(first.result).toEqual(batchSummary({ confirmed: 2, deleted: 2 }));
    const again = await captureStdout(() => handler({ Items }));
    expect(again.error).toBeUndefined();
    expect(again.result).toEqual(batchSummary({}));
    expect(Object.assign({}, ...emfDocuments(again.out))).toMatchObject({ SnapshotOrphansConfirmed: 0, SnapshotOrphansDeleted: 0 });
    // Without delete too: a blob gone since the inventory is no confirmed orphan.
    const reportOnly = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'false', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    expect((await captureStdout(() => reportOnly({ Items }))).result).toEqual(batchSummary({}));
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
  });

  it('report only (TIERLOG_SNAPSHOT_DELETE=false): a change-log entry that cannot be read keeps the orphan, and the batch does not fail', async () => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    await putRawInstance(live, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'false', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] }));
    expect(run.error).toBeUndefined();
    expect(run.result).toEqual(batchSummary({ kept: 1 }));
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([orphan]);
  });

  it('report only: a confirmed orphan is published as confirmed (SnapshotOrphansConfirmed 1), not deleted (SnapshotOrphansDeleted 0)', async () => {
    const live = await freshFixture();
    await withLiveBlob(live);
    const orphan = blobKey(live, 'orphan-obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'false', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] }));
    expect(run.result).toEqual(batchSummary({ confirmed: 1 }));
    const figures = Object.assign({}, ...emfDocuments(run.out));
    expect(figures).toMatchObject({ SnapshotOrphansConfirmed: 1, SnapshotOrphansDeleted: 0, SnapshotOrphansKept: 0 });
    expect(await listKeys(live.s3, live.config.bucket)).toContain(orphan);
  });

  // The construct's default is report only: the operator reviews the orphans before turning deletes
  // on, as the sweeper's dry run names the blobs it would delete. The batch published a count alone.
  it('report only: the confirmed orphans are named in the batch log, not only counted', async () => {
    const live = await freshFixture();
    await withLiveBlob(live);
    const orphans = [blobKey(live, 'orphan-a', Date.now() - 3 * HOUR), blobKey(live, 'orphan-b', Date.now() - 3 * HOUR)];
    for (const orphan of orphans) await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'false', POWERTOOLS_LOG_LEVEL: 'INFO' });
    const Items = orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() }));
    const run = await captureStdout(() => handler({ Items }));
    expect(run.result).toEqual(batchSummary({ confirmed: 2 }));
    const lines = `${run.out}\n${run.err}`.split('\n').filter((l) => l.includes('"confirmed":['));
    const logged = lines.map((l) => JSON.parse(l) as { message: string; confirmed: string[] });
    expect(logged.map((l) => l.message)).toEqual(['orphans confirmed (report only: not deleted)']);
    expect(logged.flatMap((l) => l.confirmed).sort()).toEqual([...orphans].sort());
  });

  // SnapshotAuditBatchInput.cutoff: "a blob last modified at or after it is not deleted". The
  // query proposes none; a row that says otherwise is not the plan's query's (another run's
  // result, a batch sent by hand), and its blob was written after the snapshots were taken.
  it("an orphan row last modified at or after the plan's cutoff is kept (too young), though older than the safety age", async () => {
    const live = await freshFixture();
    await withLiveBlob(live);
    const orphan = blobKey(live, 'orphan-obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const cutoff = new Date(Date.now() - 4 * HOUR).toISOString();
    const Items = [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }];
    const run = await captureStdout(() => handler({ Items, BatchInput: { cutoff } }));
    expect(run.result).toEqual(batchSummary({ kept: 1 }));
    expect(await listKeys(live.s3, live.config.bucket)).toContain(orphan);
  });

  /**
   * A batch of one old orphan row, sent as `eventOf(Items)` to a deleting function beside a live
   * object: refused with a ValidationError whose field matches `field`, the orphan not deleted.
   */
  async function expectOrphanBatchRefused(eventOf: (Items: object[]) => unknown, field: RegExp): Promise<void> {
    const live = await freshFixture();
    await withLiveBlob(live);
    const orphan = blobKey(live, 'orphan-obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const run = await captureStdout(() => handler(eventOf([{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }])));
    expect((run.error as Error | undefined)?.name).toBe('ValidationError');
    expect((run.error as ValidationError).field).toMatch(field);
    expect(await listKeys(live.s3, live.config.bucket)).toContain(orphan);
  }

  // A batch sent by hand (a re-run) whose BatchInput is not the plan's ISO cutoff: read as no
  // cutoff, it turned the guard above off in silence, and the row's blob was deleted on the safety
  // age alone. Refused before any request, naming the field; nothing deleted.
  it.each([
    ['the cutoff as ms', () => ({ cutoff: Date.now() - 4 * HOUR })],
    ['a cutoff that is no time', () => ({ cutoff: '4 hours ago' })],
    ['a misspelt cutoff', () => ({ Cutoff: new Date(Date.now() - 4 * HOUR).toISOString() })],
    ['the cutoff itself as the BatchInput', () => new Date(Date.now() - 4 * HOUR).toISOString()],
  ])(
    'a BatchInput with %s is refused, not read as no cutoff: the row written after the cutoff is not deleted',
    async (_what, batchInput) => {
      await expectOrphanBatchRefused((Items) => ({ Items, BatchInput: batchInput() }), /^BatchInput/);
    },
  );

  // The same cutoff put beside Items rather than in BatchInput (`{Items, cutoff}`, `{Items, batchInput}`):
  // the event was taken as a batch without one, and the row's blob deleted on the safety age alone.
  it.each([
    ['cutoff', () => ({ cutoff: new Date(Date.now() - 4 * HOUR).toISOString() })],
    ['batchInput', () => ({ batchInput: { cutoff: new Date(Date.now() - 4 * HOUR).toISOString() } })],
  ])(
    'a batch event with a field %s beside Items is refused, naming it: the row written after that cutoff is not deleted',
    async (_what, extra) => {
      await expectOrphanBatchRefused((Items) => ({ Items, ...extra() }), /^event$/);
    },
  );

  // The query's shape test is coarse (query.ts); the exact one is the re-verification's. A key it
  // finds is no blob key of this store (an id no writer can use) is malformed, as the CLI reports
  // it (test/snapshot-audit/reverify.test.ts), not a candidate "kept" as if it might be live.
  it('a proposed orphan the re-verification finds no blob key (an id no writer can use) is counted malformed, not kept', async () => {
    const live = await freshFixture();
    await withLiveBlob(live);
    const stray = blobKey(live, 'a\u0001b', Date.now() - 3 * HOUR);
    await putBlob(live, stray);
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: stray, last_modified: threeHoursAgo() }] }));
    expect(run.result).toEqual(batchSummary({ malformed: 1 }));
    expect(Object.assign({}, ...emfDocuments(run.out))).toMatchObject({ SnapshotOrphansKept: 0 });
    expect(await listKeys(live.s3, live.config.bucket)).toContain(stray);
  });

  it('deletes that stop partway (a key throttled to the last): what S3 deleted is published (SnapshotOrphansDeleted) before the batch fails', async () => {
    const live = await freshFixture();
    const referenced = await withLiveBlob(live);
    const orphans = [blobKey(live, 'gone-a', Date.now() - 3 * HOUR), blobKey(live, 'gone-b', Date.now() - 3 * HOUR)];
    for (const key of orphans) await putBlob(live, key);
    const s3 = createS3Client();
    restores.push(() => s3.destroy());
    new FaultInjector()
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) })
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand' && r.input.Key === orphans[1],
        error: () => awsServiceError('SlowDown', 503),
      })
      .attach(s3, 's3');
    const handler = handlerWith(live, s3);
    const run = await captureStdout(() =>
      handler({ Items: orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() })) }),
    );
    expect(run.error).toBeInstanceOf(ReverifyIncompleteError);
    const deleted = published(run.out, 'SnapshotOrphansDeleted');
    expect(deleted).toEqual([1]);
    expect((await listKeys(live.s3, live.config.bucket)).sort()).toEqual([referenced, orphans[1]].sort());
  });

  it("a batch that runs out of its invocation's time stops between rounds: what it deleted is published before the deadline, the rest left", async () => {
    const live = await freshFixture();
    const referenced = await withLiveBlob(live);
    // 101 proposed orphans: a round of 100, then one more.
    const orphans = Array.from({ length: 101 }, (_, i) => blobKey(live, `late-${i}`, Date.now() - 3 * HOUR));
    for (const key of orphans) await putBlob(live, key);
    const s3 = createS3Client();
    restores.push(() => s3.destroy());
    // 8 s left: rounds stop starting 4 s in (half the time, under a minute); the first round's delete answers after that.
    new FaultInjector()
      .add({ kind: 'delay', delayMs: 5_000, times: 1, match: (r) => r.command === 'DeleteObjectsCommand' })
      .attach(s3, 's3');
    const handler = handlerWith(live, s3);
    const context = lambdaContext('tierlog-snapshot-audit', 8_000);
    const run = await captureStdout(() =>
      handler({ Items: orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() })) }, context),
    );
    expect(run.error).toBeInstanceOf(ReverifyIncompleteError);
    expect((run.error as Error).message).toContain("the invocation's deadline");
    const deleted = published(run.out, 'SnapshotOrphansDeleted');
    expect(deleted).toEqual([100]);
    expect((await listKeys(live.s3, live.config.bucket)).sort()).toEqual([referenced, orphans[100]!].sort());
  });

  it("a report-only batch (the construct's default) that runs out of its invocation's time publishes the orphans it confirmed before the deadline (SnapshotOrphansConfirmed)", async () => {
    const live = await freshFixture();
    const referenced = await withLiveBlob(live);
    // 101 proposed orphans: a round of 100, then one more.
    const orphans = Array.from({ length: 101 }, (_, i) => blobKey(live, `report-${i}`, Date.now() - 3 * HOUR));
    for (const key of orphans) await putBlob(live, key);
    const s3 = createS3Client();
    restores.push(() => s3.destroy());
    // 8 s left: rounds stop starting 4 s in; the first round's last listing (is the blob still there?) answers after that.
    new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 5_000,
        times: 1,
        match: (r) => r.command === 'ListObjectsV2Command' && r.input.Prefix === orphans[99],
      })
      .attach(s3, 's3');
    const handler = createSnapshotAuditHandler({
      config: live.config,
      settings: { olderThanMs: HOUR, delete: false },
      dynamodb: live.dynamodb,
      s3,
      logger: new Logger({ logLevel: 'INFO' }),
    });
    const run = await captureStdout(() =>
      handler(
        { Items: orphans.map((blob_key) => ({ kind: 'orphan', blob_key, last_modified: threeHoursAgo() })) },
        lambdaContext('tierlog-snapshot-audit', 8_000),
      ),
    );
    // Before, the deadline's error was thrown bare: the 100 orphans the first round confirmed were counted nowhere.
    expect(run.error).toBeInstanceOf(ReverifyIncompleteError);
    expect((run.error as Error).message).toContain("the invocation's deadline");
    expect((run.error as ReverifyIncompleteError).report.confirmed).toEqual(orphans.slice(0, 100));
    expect(published(run.out, 'SnapshotOrphansConfirmed')).toEqual([100]);
    expect(published(run.out, 'SnapshotOrphansDeleted')).toEqual([0]);
    // And named, as a batch that ends names them: counted alone, they could not be reviewed.
    const named = run.out
      .split('\n')
      .filter((l) => l.includes('"confirmed":['))
      .flatMap((l) => (JSON.parse(l) as { confirmed: string[] }).confirmed);
    expect(named).toEqual(orphans.slice(0, 100));
    expect((await listKeys(live.s3, live.config.bucket)).sort()).toEqual([referenced, ...orphans].sort());
  });

  it("a function of a short timeout (10 s, not the construct's 5 min) still does its batch: the margin is then half its time", async () => {
    const live = await freshFixture();
    const referenced = await withLiveBlob(live);
    const orphan = blobKey(live, 'short-timeout', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    const handler = handlerWith(live, live.s3);
    const run = await captureStdout(() =>
      handler(
        { Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] },
        lambdaContext('tierlog-snapshot-audit', 10_000),
      ),
    );
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ confirmed: 1, deleted: 1 });
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
  });
});

describe('snapshot-audit function plan', () => {
  /** An inventory partition under `live`'s bucket (hive/, as the daily inventory leaves it) made at each of `times`. */
  async function putInventoryPartitions(live: Fixture, times: readonly number[]): Promise<void> {
    const s3 = createS3Client();
    try {
      for (const time of times) {
        const dt = new Date(time).toISOString().slice(0, 16).replace(/[T:]/g, '-');
        await s3.send(new PutObjectCommand({ Bucket: live.config.bucket, Key: `inventory/hive/dt=${dt}/symlink.txt`, Body: '' }));
      }
    } finally {
      s3.destroy();
    }
  }

  /** The function's plan, on `live`'s bucket as the snapshot bucket, for exports made at `exportTime`. */
  async function runPlan(
    live: Fixture,
    exportTime: number,
    asGiven: (ms: number) => string | number = (ms) => new Date(ms).toISOString(),
    logLevel = 'CRITICAL',
    described: Record<string, unknown> = {},
  ) {
    const { mod, restore } = await loadHandler(live, () => import('../../functions/snapshot-audit.js'), {
      ...settings,
      TIERLOG_SNAPSHOT_BUCKET: live.config.bucket,
      POWERTOOLS_LOG_LEVEL: logLevel,
    });
    restores.push(restore);
    const handler = (mod as { handler: (event: unknown) => Promise<unknown> }).handler;
    const exported = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:000000000000:table/${table}/export/01700000000000-0123abcd`,
      S3Prefix: `exports/${table}`,
      ExportTime: asGiven(exportTime),
      ...described,
    });
    return captureStdout(() =>
      handler({ action: 'plan', objectsExport: exported(live.config.objectsTable), changeLogExport: exported(live.config.changeLogTable) }),
    );
  }

  it.each([
    { what: 'a fresh inventory', ageHours: 20, stale: false },
    { what: 'an inventory that stopped arriving', ageHours: 5 * 24, stale: true },
  ])(
    'publishes the age of the newest inventory it plans on, and warns when it is stale ($what: $ageHours h)',
    async ({ ageHours, stale }) => {
      const live = await freshFixture();
      const newest = Date.now() - ageHours * HOUR;
      await putInventoryPartitions(live, [newest - 24 * HOUR, newest]);
      const run = await runPlan(live, Date.now(), undefined, 'WARN');
      expect(run.error).toBeUndefined();
      // Past INVENTORY_STALE_SECONDS (3 days) the run is blind to every orphan since: said in the log too.
      const warnings = `${run.out}\n${run.err}`
        .split('\n')
        .filter((line) => line.startsWith('{') && line.includes('"level":"WARN"'))
        .map((line) => JSON.parse(line) as { message: string; inventoryAgeSeconds?: number; dt?: string });
      const staleWarnings = warnings.filter((w) => w.message.includes('inventory is stale'));
      expect(staleWarnings).toHaveLength(stale ? 1 : 0);
      if (stale) expect(Math.abs(staleWarnings[0]!.inventoryAgeSeconds! - ageHours * 3600)).toBeLessThanOrEqual(120);
      const ages = run.out
        .split('\n')
        .filter((line) => line.includes('SnapshotInventoryAge'))
        .map((line) => JSON.parse(line) as { SnapshotInventoryAge: number; _aws: { CloudWatchMetrics: Array<{ Metrics: unknown[] }> } });
      expect(ages).toHaveLength(1);
      expect(ages[0]!._aws.CloudWatchMetrics[0]!.Metrics).toEqual([{ Name: 'SnapshotInventoryAge', Unit: 'Seconds' }]);
      // The partition name has minute resolution.
      expect(Math.abs(ages[0]!.SnapshotInventoryAge - ageHours * 3600)).toBeLessThanOrEqual(120);
    },
  );

  /**
   * The plan's listing of the snapshot bucket is the one S3 call of the function no tierlog class
   * made: what S3 refused it with reached the state machine's failure as S3 said it, `NoSuchBucket:
   * The specified bucket does not exist` or `AccessDenied: Access Denied`, naming neither the bucket
   * (the function reads two) nor the call. It is translated as every other listing is: a
   * `ResourceMissingError` and an `AccessDeniedError` naming the snapshot bucket.
   */
  it('a snapshot bucket that does not exist fails the plan with a ResourceMissingError naming it', async () => {
    const live = await freshFixture();
    const { mod, restore } = await loadHandler(live, () => import('../../functions/snapshot-audit.js'), {
      ...settings,
      TIERLOG_SNAPSHOT_BUCKET: 'tierlog-no-such-snapshots',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    restores.push(restore);
    const handler = (mod as { handler: (event: unknown) => Promise<unknown> }).handler;
    const exportOf = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:000000000000:table/${table}/export/01700000000000-0123abcd`,
      ExportTime: new Date().toISOString(),
    });
    const run = await captureStdout(() =>
      handler({ action: 'plan', objectsExport: exportOf(live.config.objectsTable), changeLogExport: exportOf(live.config.changeLogTable) }),
    );
    expect(run.error).toMatchObject({ name: 'ResourceMissingError', resource: 'bucket', resourceName: 'tierlog-no-such-snapshots' });
    expect((run.error as Error).message).toContain('"tierlog-no-such-snapshots"');
  });

  it('a listing of the snapshot bucket S3 refuses (AccessDenied) fails the plan with an AccessDeniedError naming the call and the bucket', async () => {
    const live = await freshFixture();
    const s3 = createS3Client();
    restores.push(() => s3.destroy());
    new FaultInjector().add({ kind: 'fail', match: (r) => r.command === 'ListObjectsV2Command', error: s3AccessDenied }).attach(s3, 's3');
    const handler = createSnapshotAuditHandler({
      config: live.config,
      settings: { olderThanMs: HOUR, delete: false },
      location: { bucket: live.config.bucket, inventoryHivePrefix: 'inventory/hive', database: 'tierlog_audit' },
      dynamodb: live.dynamodb,
      s3,
      logger: new Logger({ logLevel: 'CRITICAL' }),
    });
    const exportOf = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:000000000000:table/${table}/export/01700000000000-0123abcd`,
      ExportTime: new Date().toISOString(),
    });
    const run = await captureStdout(() =>
      handler({ action: 'plan', objectsExport: exportOf(live.config.objectsTable), changeLogExport: exportOf(live.config.changeLogTable) }),
    );
    expect(run.error).toMatchObject({ name: 'AccessDeniedError', operation: 'ListObjectsV2', resourceName: live.config.bucket });
    expect((run.error as Error).message).toContain(live.config.bucket);
  });

  it('no inventory partition at all: a SnapshotError naming the folder that says it may never come, not only "yet, within 48 h"', async () => {
    // A deployment whose inventory S3 stopped delivering weeks ago (its last report expired with the
    // snapshot retention) lists as a fresh one: no partition, no age for the inventory-age alarm.
    const live = await freshFixture();
    const run = await runPlan(live, Date.now() - 3 * HOUR);
    expect(run.result).toBeUndefined();
    // The module was loaded afresh (its own copy of the errors): compared by name.
    expect(run.error).toMatchObject({ name: 'SnapshotError', path: `s3://${live.config.bucket}/inventory/hive/` });
    const message = (run.error as Error).message;
    expect(message).toContain('within 48 h');
    expect(message).toContain('the reports stopped and the last one expired');
    expect(message).toContain("the blob bucket's inventory configuration");
    // Nothing to publish: no age is made up for it.
    expect(run.out).not.toContain('SnapshotInventoryAge');
  });

  it("takes an export's time as ISO, seconds or ms since the epoch alike: the same cutoff, the export's time less the safety age", async () => {
    const live = await freshFixture();
    await putInventoryPartitions(live, [Date.now() - HOUR]);
    // Older than the inventory, so the exports' time is the one the cutoff counts from.
    const exportTime = Math.floor(Date.now() / 1000) * 1000 - 3 * HOUR;
    const cutoffs: unknown[] = [];
    for (const asGiven of [(ms: number) => new Date(ms).toISOString(), (ms: number) => ms / 1000, (ms: number) => ms]) {
      const run = await runPlan(live, exportTime, asGiven);
      expect(run.error).toBeUndefined();
      cutoffs.push((run.result as { cutoff: string }).cutoff);
    }
    expect(cutoffs).toEqual(Array(3).fill(new Date(exportTime - 24 * HOUR).toISOString()));
  });

  // As `tierlog audit --inventory … --export …` refuses an exportTime before DynamoDB exports
  // existed: taken, it put the cutoff decades back, the query proposed nothing, and the run
  // reported clean (no orphan, no loss) whatever the bucket held.
  it.each([
    ['0 (a placeholder)', () => 0],
    ['an ISO time in 1970', () => '1970-01-02T00:00:00.000Z'],
    ['minutes since the epoch', (ms: number) => Math.floor(ms / 60_000)],
  ])('refuses an export time before DynamoDB exports existed (%s), before the cutoff is taken from it', async (_what, asGiven) => {
    const live = await freshFixture();
    await putInventoryPartitions(live, [Date.now() - HOUR]);
    const run = await runPlan(live, Date.now() - 3 * HOUR, asGiven);
    expect(run.result).toBeUndefined();
    expect(run.error).toMatchObject({ name: 'ValidationError', field: 'objectsExport', message: expect.stringContaining('2020') });
  });

  // The state machine passes DescribeExport's ExportStatus: a plan re-run by hand on one taken
  // before the export finished had the query read a table short of items, and read clean.
  it.each(['IN_PROGRESS', 'FAILED'])('refuses an export whose ExportStatus is %s, before any request; takes COMPLETED', async (status) => {
    const live = await freshFixture();
    await putInventoryPartitions(live, [Date.now() - HOUR]);
    const run = await runPlan(live, Date.now() - 3 * HOUR, undefined, 'CRITICAL', { ExportStatus: status });
    expect(run.result).toBeUndefined();
    expect(run.error).toMatchObject({ name: 'ValidationError', field: 'objectsExport', message: expect.stringContaining(status) });
    const completed = await runPlan(live, Date.now() - 3 * HOUR, undefined, 'CRITICAL', { ExportStatus: 'COMPLETED' });
    expect(completed.error).toBeUndefined();
  });

  // A description copied whole from `describe-export`: as the CLI refuses an incremental export or
  // one in ION, and the query reads the snapshot bucket alone; each was read as a table short of items.
  it.each([
    ['an incremental export', { ExportType: 'INCREMENTAL_EXPORT' }, 'INCREMENTAL_EXPORT'],
    ['an export in ION', { ExportFormat: 'ION' }, 'ION'],
    ['an export to another bucket', { S3Bucket: 'another-bucket' }, 'another-bucket'],
  ])(
    'refuses %s, before the query is planned; takes a full DynamoDB JSON export to the snapshot bucket',
    async (_what, described, named) => {
      const live = await freshFixture();
      await putInventoryPartitions(live, [Date.now() - HOUR]);
      const run = await runPlan(live, Date.now() - 3 * HOUR, undefined, 'CRITICAL', described);
      expect(run.result).toBeUndefined();
      expect(run.error).toMatchObject({ name: 'ValidationError', field: 'objectsExport', message: expect.stringContaining(named) });
      const full = { ExportType: 'FULL_EXPORT', ExportFormat: 'DYNAMODB_JSON', S3Bucket: live.config.bucket };
      const taken = await runPlan(live, Date.now() - 3 * HOUR, undefined, 'CRITICAL', full);
      expect(taken.error).toBeUndefined();
    },
  );

  it('reads the newest inventory partition when there are more than 1 000 (a retention of about 3 years): not the 1 000th', async () => {
    const live = await freshFixture();
    // One partition a day, as the daily inventory leaves them under hive/ (only the folder names matter here).
    const day = Date.UTC(2023, 0, 1);
    const dts = Array.from({ length: 1_005 }, (_, i) => new Date(day + i * 24 * HOUR).toISOString().slice(0, 16).replace(/[T:]/g, '-'));
    const s3 = createS3Client();
    try {
      for (let i = 0; i < dts.length; i += 50) {
        await Promise.all(
          dts
            .slice(i, i + 50)
            .map((dt) =>
              s3.send(new PutObjectCommand({ Bucket: live.config.bucket, Key: `inventory/hive/dt=${dt}/symlink.txt`, Body: '' })),
            ),
        );
      }
    } finally {
      s3.destroy();
    }
    // S3 answers at most 1 000 keys and common prefixes a page ("Returns some or all (up to 1,000) of the
    // objects in a bucket", ListObjectsV2; common prefixes count against it) and a continuation token for
    // the rest; the local server answers every common prefix at once. Paged here as S3 pages.
    const send = S3Client.prototype.send as (this: S3Client, command: unknown) => Promise<any>;
    const paged = vi.spyOn(S3Client.prototype, 'send').mockImplementation(async function (this: S3Client, command: any) {
      if (!(command instanceof ListObjectsV2Command) || command.input.Delimiter === undefined) return send.call(this, command);
      const { ContinuationToken, ...input } = command.input;
      const after = ContinuationToken !== undefined ? Buffer.from(ContinuationToken, 'base64').toString('utf8') : undefined;
      const out = await send.call(this, new ListObjectsV2Command(input));
      const prefixes = ((out.CommonPrefixes ?? []) as Array<{ Prefix: string }>).filter((p) => after === undefined || p.Prefix > after);
      const page = prefixes.slice(0, 1_000);
      const truncated = prefixes.length > page.length;
      return {
        ...out,
        CommonPrefixes: page,
        IsTruncated: truncated,
        ...(truncated ? { NextContinuationToken: Buffer.from(page.at(-1)!.Prefix).toString('base64') } : {}),
      };
    });
    restores.push(() => paged.mockRestore());
    const run = await runPlan(live, day + 1_010 * 24 * HOUR);
    expect(run.error).toBeUndefined();
    const plan = run.result as { statements: string[] };
    expect(plan.statements[2]).toContain(`dt = '${dts.at(-1)}'`);
  });
});

describe('createSnapshotAuditHandler (the factory the function is)', () => {
  it('an event that is neither a plan nor a batch is a ValidationError naming the event, before any request', async () => {
    const recorder = new CommandRecorder();
    const handler = createSnapshotAuditHandler({
      config: fx.config,
      settings: { olderThanMs: HOUR, delete: true },
      dynamodb: recorder.attach(createDynamoDBClient(), 'dynamodb'),
      s3: recorder.attach(createS3Client(), 's3'),
      logger: new Logger({ logLevel: 'CRITICAL' }),
    });
    for (const event of [null, undefined, 'plan', [], {}, { action: 'plan ' }, { Items: 'orphan' }]) {
      const refused = handler(event);
      await expect(refused).rejects.toBeInstanceOf(ValidationError);
      await expect(refused).rejects.toMatchObject({ field: 'event' });
    }
    // A plan whose export descriptions are not DescribeExport's: refused before it lists anything.
    const arnOf = (table: string) => `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`;
    const arn = arnOf(fx.config.objectsTable);
    const changeLogExport = { ExportArn: arnOf(fx.config.changeLogTable), ExportTime: Date.now() };
    for (const [objectsExport, field] of [
      [undefined, 'objectsExport'],
      [{ ExportArn: arn }, 'objectsExport'],
      [{ ExportArn: arn, ExportTime: 'yesterday' }, 'objectsExport'],
      [{ ExportArn: arn, ExportTime: Date.now(), S3Prefix: 7 }, 'objectsExport'],
      [{ ExportTime: Date.now() }, 'objectsExport'],
    ] as const) {
      const refused = handler({ action: 'plan', objectsExport, changeLogExport });
      await expect(refused).rejects.toMatchObject({ name: 'ValidationError', field });
    }
    await expect(handler({ action: 'plan', objectsExport: { ExportArn: arn, ExportTime: 1.7e9 } })).rejects.toMatchObject({
      field: 'changeLogExport',
    });
    // An export of another table than the configured one of its role (the two swapped, another
    // deployment's, an ARN that is no export's): every blob of the run would be proposed as an
    // orphan or a loss. Refused, naming the export and both tables.
    const now = Date.now();
    for (const [objects, changeLog, field, message] of [
      [changeLogExport.ExportArn, arn, 'objectsExport', `an export of table "${fx.config.changeLogTable}"`],
      [arn, arn, 'changeLogExport', `an export of table "${fx.config.objectsTable}"`],
      [arnOf('another-deployment-objects'), changeLogExport.ExportArn, 'objectsExport', 'another-deployment-objects'],
      [arn, `arn:aws:dynamodb:us-east-1:123456789012:table/${fx.config.changeLogTable}`, 'changeLogExport', "not a DynamoDB export's ARN"],
      [`${arn}/extra`, changeLogExport.ExportArn, 'objectsExport', "not a DynamoDB export's ARN"],
      // An export id not of DynamoDB's form (<ms>-<hex>): the plan could not name its data folder,
      // and failed with a plain Error after listing the inventory and publishing its age.
      [arn.replace(/export\/.*$/, 'export/latest'), changeLogExport.ExportArn, 'objectsExport', "not a DynamoDB export's ARN"],
      [arn, changeLogExport.ExportArn.replace('-0123abcd', '-0123ABCD'), 'changeLogExport', "not a DynamoDB export's ARN"],
      // The change log's export of a same-named table in another region or account (a plan sent by
      // hand): the run read another store's change log as this one's, as the CLI no longer does.
      [arn, changeLogExport.ExportArn.replace(':us-east-1:', ':eu-west-1:'), 'changeLogExport', 'arn:aws:dynamodb:eu-west-1:123456789012'],
      [arn, changeLogExport.ExportArn.replace(':123456789012:', ':210987654321:'), 'changeLogExport', 'one region and account'],
    ] as const) {
      const refused = handler({
        action: 'plan',
        objectsExport: { ExportArn: objects, ExportTime: now },
        changeLogExport: { ExportArn: changeLog, ExportTime: now },
      });
      await expect(refused).rejects.toMatchObject({ name: 'ValidationError', field });
      await expect(refused).rejects.toThrow(message);
    }
    // A row that is not an object is not this query's result either.
    await expect(handler({ Items: [null] })).rejects.toThrow(/unknown kind/);
    // Nor one whose fields are not text (Athena writes each as a string): a hand-built invocation
    // failed on a TypeError deep in the check, after the batch's first reads. Refused, naming the row.
    for (const row of [
      { kind: 'orphan', blob_key: `${fx.config.prefix}/x`, last_modified: 1_700_000_000_000 },
      { kind: 'lost', blob_key: `${fx.config.prefix}/x`, object_key: 7 },
      { kind: 'orphan', blob_key: ['x'] },
    ]) {
      const refused = handler({ Items: [{ kind: 'malformed', blob_key: 'fine' }, row] });
      await expect(refused).rejects.toMatchObject({ name: 'ValidationError', field: 'Items' });
      await expect(refused).rejects.toThrow(/result row 1 has a (blob_key|object_key|last_modified) that is not text/);
    }
    expect(recorder.commands).toEqual([]);
  });

  it('a plan with a field beside action and the two exports (a safety age, a partition) is refused before any request, as a batch with one is', async () => {
    const recorder = new CommandRecorder();
    const handler = createSnapshotAuditHandler({
      config: fx.config,
      settings: { olderThanMs: HOUR, delete: false },
      location: { bucket: fx.config.bucket, inventoryHivePrefix: 'inventory/hive', database: 'tierlog_audit' },
      dynamodb: recorder.attach(createDynamoDBClient(), 'dynamodb'),
      s3: recorder.attach(createS3Client(), 's3'),
      logger: new Logger({ logLevel: 'CRITICAL' }),
    });
    const exported = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`,
      ExportTime: Date.now() - HOUR,
    });
    const planEvent = {
      action: 'plan',
      objectsExport: exported(fx.config.objectsTable),
      changeLogExport: exported(fx.config.changeLogTable),
    };
    for (const extra of [{ olderThanMs: 7 * 24 * HOUR }, { dt: '2026-01-01-00-00' }, { cutoff: '2026-01-01T00:00:00.000Z' }]) {
      const refused = handler({ ...planEvent, ...extra });
      await expect(refused).rejects.toMatchObject({ name: 'ValidationError', field: 'event' });
      await expect(refused).rejects.toThrow(`"${Object.keys(extra)[0]}"`);
    }
    expect(recorder.commands).toEqual([]);
  });

  it('settings given in code are checked as the variables are: refused at init, naming the setting', () => {
    const given = (settings: unknown) => () =>
      createSnapshotAuditHandler({ config: fx.config, settings: settings as { olderThanMs: number; delete: boolean } });
    for (const [settings, field] of [
      [{ olderThanMs: HOUR - 1, delete: false }, 'settings.olderThanMs'],
      [{ olderThanMs: Number.NaN, delete: false }, 'settings.olderThanMs'],
      [{ olderThanMs: 1.5 * HOUR + 0.5, delete: false }, 'settings.olderThanMs'],
      [{ olderThanMs: HOUR, delete: 'false' }, 'settings.delete'],
      [{ olderThanMs: HOUR }, 'settings.delete'],
      [{ olderThanMs: HOUR, delete: false, olderThanMS: HOUR }, 'olderThanMS'],
      [{ olderThanMs: 30 * 365 * 24 * HOUR, delete: false }, 'settings.olderThanMs'],
    ] as const) {
      expect(given(settings)).toThrow(expect.objectContaining({ name: 'ValidationError', field }));
    }
    expect(given({ olderThanMs: HOUR, delete: false })).not.toThrow();
    // No number (a job's JSON): said so, not "at least 3600000 (1 h), got 86400000".
    expect(given({ olderThanMs: '86400000', delete: false })).toThrow(
      expect.objectContaining({ field: 'settings.olderThanMs', message: 'settings.olderThanMs must be an integer of ms, got string' }),
    );
    // Before 2000 by the handler's own clock: two years back from mid-2001 is refused, from now not.
    const twoYears = { olderThanMs: 2 * 365 * 24 * HOUR, delete: false };
    expect(() => createSnapshotAuditHandler({ config: fx.config, settings: twoYears, clock: () => Date.parse('2001-06-01') })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'settings.olderThanMs' }),
    );
    expect(given(twoYears)).not.toThrow();
  });

  // Its clock dates the plan's cutoff and every re-verified blob's age: one in seconds made every
  // blob young (nothing ever deleted, no error), one in µs every blob old by the safety age.
  it.each([
    ['in seconds', () => Date.now() / 1000],
    ['in microseconds', () => Date.now() * 1000],
    ['NaN', () => Number.NaN],
  ])('a clock %s is refused at init (ValidationError, clock), as every component refuses it', (_label, clock) => {
    expect(() => createSnapshotAuditHandler({ config: fx.config, settings: { olderThanMs: HOUR, delete: true }, clock })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'clock' }),
    );
  });

  it('an inventory location that cannot be one is refused before any request: given in code at init, from the variables at the plan', async () => {
    const location = { bucket: 'snapshots-1', inventoryHivePrefix: 'inventory/b/id/hive', database: 'tierlog_audit_0a1b' };
    const settings = { olderThanMs: HOUR, delete: false };
    for (const [bad, field] of [
      [{ database: 'tierlog` SET LOCATION' }, 'database'],
      [{ database: 'Tierlog' }, 'database'],
      [{ bucket: 'Snapshots' }, 'bucket'],
      [{ inventoryHivePrefix: '/inventory/hive' }, 'inventoryHivePrefix'],
      [{ inventoryHivePrefix: 'inventory//hive' }, 'inventoryHivePrefix'],
    ] as const) {
      expect(() => createSnapshotAuditHandler({ config: fx.config, settings, location: { ...location, ...bad } })).toThrow(
        expect.objectContaining({ name: 'ValidationError', field: `location.${field}` }),
      );
    }
    expect(() => createSnapshotAuditHandler({ config: fx.config, settings, location })).not.toThrow();
    // From the variables: read when a plan is asked for, a ConfigError naming the variable.
    vi.stubEnv('TIERLOG_SNAPSHOT_BUCKET', 'snapshots-1');
    vi.stubEnv('TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX', 'inventory/hive');
    vi.stubEnv('TIERLOG_SNAPSHOT_DATABASE', "audit'; DROP");
    restores.push(() => vi.unstubAllEnvs());
    const recorder = new CommandRecorder();
    const handler = createSnapshotAuditHandler({
      config: fx.config,
      settings,
      s3: recorder.attach(createS3Client(), 's3'),
      logger: new Logger({ logLevel: 'CRITICAL' }),
    });
    const exported = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`,
      ExportTime: Date.now(),
    });
    const plan = { action: 'plan', objectsExport: exported(fx.config.objectsTable), changeLogExport: exported(fx.config.changeLogTable) };
    await expect(handler(plan)).rejects.toMatchObject({
      name: 'ConfigError',
      setting: 'TIERLOG_SNAPSHOT_DATABASE',
    });
    expect(recorder.commands).toEqual([]);
  });

  it('runs on the settings and location it is given, not the TIERLOG_SNAPSHOT_* variables', async () => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'factory-orphan', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    // A referenced blob, which binds the objects table to the bucket (the re-check's store binding).
    const referenced = blobKey(live, 'factory-live', Date.now() - 3 * HOUR);
    await putBlob(live, referenced);
    await putTombstone(live, 'factory-live', referenced);
    // Variables that would fail the load, or point the plan elsewhere, if the factory read them.
    vi.stubEnv('TIERLOG_SNAPSHOT_OLDER_THAN_MS', 'abc');
    vi.stubEnv('TIERLOG_SNAPSHOT_DELETE', 'yes');
    vi.stubEnv('TIERLOG_SNAPSHOT_BUCKET', 'elsewhere');
    restores.push(() => vi.unstubAllEnvs());
    const handler = createSnapshotAuditHandler({
      config: live.config,
      settings: { olderThanMs: HOUR, delete: true },
      location: { bucket: live.config.bucket, inventoryHivePrefix: 'inventory/hive', database: 'tierlog_audit' },
      dynamodb: live.dynamodb,
      s3: live.s3,
      logger: new Logger({ logLevel: 'CRITICAL' }),
    });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: threeHoursAgo() }] }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ confirmed: 1, deleted: 1 });
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([referenced]);
    // The plan reads the location given: no inventory there yet.
    const exportOf = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`,
      ExportTime: new Date().toISOString(),
    });
    const plan = await captureStdout(() =>
      handler({ action: 'plan', objectsExport: exportOf(live.config.objectsTable), changeLogExport: exportOf(live.config.changeLogTable) }),
    );
    expect(plan.error).toMatchObject({ name: 'SnapshotError', path: `s3://${live.config.bucket}/inventory/hive/` });
  });
});

describe('the plan: the cutoff and what the query reads', () => {
  const exported = (table: string, id: string, exportTime: number) => ({
    arn: `arn:aws:dynamodb:us-east-1:000000000000:table/${table}/export/${id}`,
    s3Prefix: `exports/${table}`,
    exportTime,
  });
  const input = {
    database: 'tierlog_audit',
    snapshotBucket: 'snapshots-1',
    inventoryHivePrefix: 'inventory/hive',
    // 2026-01-10T00:00Z; the exports at 06:00 and 07:00, now the next day: the inventory is the oldest.
    dt: '2026-01-10-00-00',
    objectsExport: exported('objects', '01768024800000-0123abcd', Date.UTC(2026, 0, 10, 6)),
    changeLogExport: exported('changelog', '01768028400000-4567cdef', Date.UTC(2026, 0, 10, 7)),
    prefix: 'blobs',
    olderThanMs: 24 * HOUR,
    now: Date.UTC(2026, 0, 11),
  };

  it.each([
    ['the inventory', {}, '2026-01-09T00:00:00.000Z'],
    ['the objects export', { objectsExport: { ...input.objectsExport, exportTime: Date.UTC(2026, 0, 9, 23) } }, '2026-01-08T23:00:00.000Z'],
    [
      'the change-log export',
      { changeLogExport: { ...input.changeLogExport, exportTime: Date.UTC(2026, 0, 9, 22) } },
      '2026-01-08T22:00:00.000Z',
    ],
    ['now (snapshots stamped ahead of the clock)', { now: Date.UTC(2026, 0, 9, 21) }, '2026-01-08T21:00:00.000Z'],
  ])('the oldest is %s: the cutoff is the safety age before it', (_, change, cutoff) => {
    const plan = planAthenaRun({ ...input, ...change });
    expect(plan.cutoff).toBe(cutoff);
    expect(plan.query).toContain(`< TIMESTAMP '${cutoff.slice(0, 10)} ${cutoff.slice(11, 23)}'`);
  });

  it("reads the newest inventory partition only, and each export's own data", () => {
    const plan = planAthenaRun(input);
    expect(plan.query).toContain(`FROM "tierlog_audit"."inventory" WHERE dt = '2026-01-10-00-00')`);
    expect(plan.statements).toEqual([
      "ALTER TABLE `tierlog_audit`.`objects_export` SET LOCATION 's3://snapshots-1/exports/objects/AWSDynamoDB/01768024800000-0123abcd/data/'",
      "ALTER TABLE `tierlog_audit`.`changelog_export` SET LOCATION 's3://snapshots-1/exports/changelog/AWSDynamoDB/01768028400000-4567cdef/data/'",
      "ALTER TABLE `tierlog_audit`.`inventory` ADD IF NOT EXISTS PARTITION (dt = '2026-01-10-00-00') LOCATION 's3://snapshots-1/inventory/hive/dt=2026-01-10-00-00/'",
    ]);
    // An ARN that is not exactly an export's (anything after its id) names no export folder.
    const odd = { ...input.objectsExport, arn: `${input.objectsExport.arn}/data` };
    expect(() => planAthenaRun({ ...input, objectsExport: odd })).toThrow(/not an export ARN/);
  });

  it("an export to the snapshot bucket's root (no S3 prefix): its data read from there, not from an empty first segment", () => {
    const plan = planAthenaRun({ ...input, objectsExport: { ...input.objectsExport, s3Prefix: '' } });
    expect(plan.statements[0]).toBe(
      "ALTER TABLE `tierlog_audit`.`objects_export` SET LOCATION 's3://snapshots-1/AWSDynamoDB/01768024800000-0123abcd/data/'",
    );
  });

  // A cutoff before 2000 finds no candidate and no loss: a run that reads clean having judged nothing.
  it.each([
    ['under 1 h', HOUR - 1],
    ['not a number', Number.NaN],
    ['reaching back before 2000', 30 * 365 * 24 * HOUR],
  ])('a safety age %s is refused as the audits refuse it: no plan', (_, olderThanMs) => {
    expect(() => planAthenaRun({ ...input, olderThanMs })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'olderThanMs' }),
    );
  });
});

describe('snapshot-audit function batches: what a batch logs', () => {
  // CloudWatch Logs takes an event of at most 256 KB, and Lambda cuts a longer line: a batch's
  // list of kept orphans, logged whole, was unreadable JSON past a few hundred long keys.
  it('a batch logs its whole list of kept orphans in lines CloudWatch Logs takes whole', async () => {
    const live = await freshFixture();
    // 1,000 proposed orphans of objects with 180-byte keys, written a minute ago: all kept as too young.
    const young = Array.from({ length: 1_000 }, (_, i) => blobKey(live, `${'k'.repeat(170)}/${i}`, Date.now() - 60_000));
    const handler = await batchHandler(live, { TIERLOG_SNAPSHOT_DELETE: 'true', POWERTOOLS_LOG_LEVEL: 'INFO' });
    const run = await captureStdout(() =>
      handler({ Items: young.map((key) => ({ kind: 'orphan', blob_key: key, last_modified: threeHoursAgo() })) }),
    );
    expect(run.result).toEqual(batchSummary({ kept: young.length }));
    const lines = run.out.split('\n').filter((l) => l.includes('"kept":['));
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThan(256 * 1024 - 26);
    const parts = lines.map((l) => JSON.parse(l) as { kept: Array<{ key: string; reason: string }>; part: number; parts: number });
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((p) => [p.part, p.parts])).toEqual(parts.map((_, i) => [i + 1, parts.length]));
    expect(parts.flatMap((p) => p.kept.map((k) => k.key)).sort()).toEqual([...young].sort());
  });
});
