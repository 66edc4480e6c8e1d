/**
 * `startDevService` refuses, before it starts anything, a configuration it cannot honour: an
 * invalid one (as `loadConfig` would), and `replacedBlobCleanup: 'stream'`, since the service runs
 * no objects-stream function, so the blobs its writers replace and cannot delete would stay.
 * Without a `config`, it runs the one the `TIERLOG_*` variables set (as every entry point of the
 * library reads them), its own names for what they leave unset.
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TierlogConfig } from '../../lib/config.js';
import { MAX_SWEEP_INTERVAL_MS, startDevService } from '../../lib/dev/service.js';
import { ConfigError, ValidationError } from '../../lib/errors.js';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { scanTable } from '../../lib/drill/invariants.js';
import { runCli } from '../../lib/cli/program.js';

const config: TierlogConfig = { changeLogTable: 'dev-cl', objectsTable: 'dev-ob', bucket: 'dev-bk', prefix: 'blobs', leaseShards: 4 };

/** What starting the dev service with `options` throws (undefined: it started, and is stopped again). */
async function startError(options: Partial<Parameters<typeof startDevService>[0]>): Promise<unknown> {
  return startDevService({ ...options, port: 0, sweepIntervalMs: 0 }).then(
    async (service) => {
      await service.stop();
      return undefined;
    },
    (err: unknown) => err,
  );
}

describe('dev service configuration', () => {
  it.each<[string, Partial<TierlogConfig>, string]>([
    ['replacedBlobCleanup "stream" (no stream function runs)', { replacedBlobCleanup: 'stream' }, 'replacedBlobCleanup'],
    ['an invalid shard count', { leaseShards: 0 }, 'leaseShards'],
    ['an invalid prefix', { prefix: 'blobs/' }, 'prefix'],
  ])('refuses %s with a ConfigError naming the option', async (_what, override, setting) => {
    const error = await startError({ config: { ...config, ...override } });
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(setting);
  });

  it('refuses an invalid configuration before anything starts: with no java on PATH, the error is the configuration one', async () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent/tierlog-dev-config-test';
    try {
      const error = await startError({ config: { ...config, leaseShards: 0 } });
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).setting).toBe('leaseShards');
    } finally {
      process.env.PATH = saved;
    }
  });

  it('refuses what it refused once the stack ran (table names that differ in case alone, an AWS_MAX_ATTEMPTS its clients refuse) before anything starts: with no java on PATH, the error is that one', async () => {
    const saved = { PATH: process.env.PATH, attempts: process.env.AWS_MAX_ATTEMPTS };
    process.env.PATH = '/nonexistent/tierlog-dev-config-test';
    try {
      // One table to DynamoDB Local: provisionLocal refused it, once the stack had started.
      const oneTable = await startError({ config: { ...config, objectsTable: 'DEV-CL' } });
      expect(oneTable).toBeInstanceOf(ConfigError);
      expect((oneTable as ConfigError).setting).toBe('objectsTable');
      // The clients made over the stack refused it, once the stack had started.
      process.env.AWS_MAX_ATTEMPTS = '1O';
      const attempts = await startError({ config });
      expect(attempts).toBeInstanceOf(ConfigError);
      expect((attempts as ConfigError).setting).toBe('AWS_MAX_ATTEMPTS');
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.attempts === undefined) delete process.env.AWS_MAX_ATTEMPTS;
      else process.env.AWS_MAX_ATTEMPTS = saved.attempts;
    }
  });

  it("refuses a TIERLOG_METRICS_DEPLOYMENT its sweeper handler refuses before anything starts: with no java on PATH, the error is the variable's", async () => {
    const saved = { PATH: process.env.PATH, deployment: process.env.TIERLOG_METRICS_DEPLOYMENT };
    process.env.PATH = '/nonexistent/tierlog-dev-config-test';
    process.env.TIERLOG_METRICS_DEPLOYMENT = 'prod\u00e9';
    try {
      const error = await startError({ config });
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).setting).toBe('TIERLOG_METRICS_DEPLOYMENT');
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.deployment === undefined) delete process.env.TIERLOG_METRICS_DEPLOYMENT;
      else process.env.TIERLOG_METRICS_DEPLOYMENT = saved.deployment;
    }
  });
});

describe('dev service start that fails', () => {
  it('on a port in use rejects, and stops the local stack and the sweep timer it started: process.env is as it was', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    const port = (taken.address() as { port: number }).port;
    const names = ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3', 'AWS_ACCESS_KEY_ID', 'AWS_REGION'];
    const before = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    try {
      const sweeps: unknown[] = [];
      const error = await startDevService({ port, sweepIntervalMs: 200, onSweep: (result) => sweeps.push(result) }).then(
        async (service) => {
          await service.stop();
          return undefined;
        },
        (err: unknown) => err,
      );
      expect((error as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
      expect(Object.fromEntries(names.map((name) => [name, process.env[name]]))).toEqual(before);
      // Nor its sweep timer: no sweep runs once the start has failed (here a sweep would be due every 200 ms).
      await new Promise((r) => setTimeout(r, 1_000));
      expect(sweeps).toEqual([]);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  }, 120_000);
});

describe('dev service port and sweep interval', () => {
  const DAY = 86_400_000;
  it.each<[string, { port?: number; sweepIntervalMs?: number; onSweep?: never; onError?: never; onStackExit?: never }, string]>([
    ['a port that is not a number (--port abc)', { port: Number.NaN }, 'port'],
    ['a port past 65535', { port: 70_000 }, 'port'],
    ['port 65536', { port: 65_536 }, 'port'],
    ['a fractional port', { port: 1.5 }, 'port'],
    ['a negative port', { port: -1 }, 'port'],
    // Node.js runs a timer past 2^31 - 1 ms after 1 ms: the sweeps would follow each other without pause.
    ['a sweep interval past the longest timer (--sweep-interval 4w)', { sweepIntervalMs: 28 * DAY }, 'sweepIntervalMs'],
    ['an infinite sweep interval', { sweepIntervalMs: Number.POSITIVE_INFINITY }, 'sweepIntervalMs'],
    ['a sweep interval that is not a number', { sweepIntervalMs: Number.NaN }, 'sweepIntervalMs'],
    ['a negative sweep interval', { sweepIntervalMs: -1 }, 'sweepIntervalMs'],
    // Called only once a sweep ends or a request fails: a TypeError then, in a promise's handler,
    // is an unhandled rejection that ends the process (and the request is never answered).
    ['an onSweep that is no function', { onSweep: 'log' as never }, 'onSweep'],
    ['an onError that is no function', { onError: console as never }, 'onError'],
    // Passed to the local stack, which named its own option (onUnexpectedExit), one the caller never gave.
    ['an onStackExit that is no function', { onStackExit: 'exit' as never }, 'onStackExit'],
  ])(
    'refuses %s with a ValidationError naming it, before anything starts',
    async (_what, options, field) => {
      const error = await startDevService({ port: 0, sweepIntervalMs: 0, ...options }).then(
        async (service) => {
          await service.stop();
          return undefined;
        },
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    },
    120_000,
  );

  it('accepts the longest timer as the sweep interval', async () => {
    const service = await startDevService({ port: 0, sweepIntervalMs: MAX_SWEEP_INTERVAL_MS });
    try {
      expect((await fetch(`${service.url}/objects/none`)).status).toBe(404);
    } finally {
      await service.stop();
    }
  }, 120_000);
});

describe("the dev service's Powertools variables", () => {
  it('sets the ones unset for a quiet local run, takes them out on stop, and leaves the ones you set', async () => {
    const saved = { level: process.env.POWERTOOLS_LOG_LEVEL, metrics: process.env.POWERTOOLS_METRICS_DISABLED };
    process.env.POWERTOOLS_LOG_LEVEL = 'DEBUG';
    delete process.env.POWERTOOLS_METRICS_DISABLED;
    try {
      const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
      try {
        expect(process.env.POWERTOOLS_METRICS_DISABLED).toBe('true');
        expect(process.env.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
      } finally {
        await service.stop();
      }
      expect(process.env.POWERTOOLS_METRICS_DISABLED).toBeUndefined();
      expect(process.env.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');

      // One it set that you changed while it ran is yours: left as you set it.
      delete process.env.POWERTOOLS_LOG_LEVEL;
      const again = await startDevService({ port: 0, sweepIntervalMs: 0 });
      try {
        expect(process.env.POWERTOOLS_LOG_LEVEL).toBe('WARN');
        process.env.POWERTOOLS_LOG_LEVEL = 'INFO';
      } finally {
        await again.stop();
      }
      expect(process.env.POWERTOOLS_LOG_LEVEL).toBe('INFO');
      expect(process.env.POWERTOOLS_METRICS_DISABLED).toBeUndefined();
    } finally {
      for (const [name, value] of [
        ['POWERTOOLS_LOG_LEVEL', saved.level],
        ['POWERTOOLS_METRICS_DISABLED', saved.metrics],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  }, 120_000);
});

describe('dev service configuration from the TIERLOG_* variables', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  });

  it('runs the configuration the variables set (your attribute names, your shard count), its names for the rest', async () => {
    process.env.TIERLOG_LEASE_SHARDS = '8';
    process.env.TIERLOG_HV_ATTRIBUTES = '{"blob":"ptr"}';
    process.env.TIERLOG_PREFIX = 'media';
    process.env.TIERLOG_MAX_UPLOAD_MS = '3600000';
    const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
    try {
      expect(service.config).toMatchObject({
        changeLogTable: 'tierlog-changelog',
        leaseShards: 8,
        prefix: 'media',
        hvAttributes: { blob: 'ptr' },
      });
      expect(service.env).toMatchObject({ TIERLOG_LEASE_SHARDS: '8', TIERLOG_PREFIX: 'media', TIERLOG_HV_ATTRIBUTES: '{"blob":"ptr"}' });
      // The sweeper's tuning too: the CLI's inspect and status judge entries as its sweeper does.
      expect(service.env).toMatchObject({ TIERLOG_MAX_UPLOAD_MS: '3600000' });
      // The SDK's endpoints and credentials of its local stack, for the CLI and your own processes.
      expect(service.env).toMatchObject(service.stack.env);
      // Only variables with values: one this process does not set is not printed (as "undefined").
      for (const [name, value] of Object.entries(service.env)) expect(typeof value, name).toBe('string');
      // A large object is stored under the prefix the variable set, its pointer under the name it set.
      const put = await fetch(`${service.url}/objects/k`, { method: 'PUT', body: new Uint8Array(20_000) });
      expect(put.status).toBe(201);
      const dynamodb = createDynamoDBClient(); // the service's stack: startDevService pointed this process at it
      const [item] = await scanTable(dynamodb, 'tierlog-objects');
      dynamodb.destroy();
      expect(item?.['ptr']).toMatch(/^media\//);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it("gives the CLI the drills' opt-out of the floors with the short windows its sweeper runs on: the CLI takes that environment", async () => {
    process.env.TIERLOG_UNSAFE_SHORT_WINDOWS = '1';
    process.env.TIERLOG_CLAIM_MS = '2000';
    const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
    try {
      expect(service.env).toMatchObject({ TIERLOG_UNSAFE_SHORT_WINDOWS: '1', TIERLOG_CLAIM_MS: '2000' });
      const out: string[] = [];
      const err: string[] = [];
      const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
      expect(await runCli(['status', '--json'], { io, env: service.env }), err.join('')).toBe(0);
    } finally {
      await service.stop();
    }
  }, 120_000);

  it.each<[string, Record<string, string>, string]>([
    [
      'TIERLOG_REPLACED_BLOB_CLEANUP=stream (no stream function runs)',
      { TIERLOG_REPLACED_BLOB_CLEANUP: 'stream' },
      'TIERLOG_REPLACED_BLOB_CLEANUP',
    ],
    ['an invalid TIERLOG_LEASE_SHARDS', { TIERLOG_LEASE_SHARDS: '0' }, 'TIERLOG_LEASE_SHARDS'],
    // Each sweep of the service is given 60 s (the construct refuses a margin at its sweeper's timeout).
    ['a deadline margin its 60 s sweeps cannot keep', { TIERLOG_DEADLINE_MARGIN_MS: '60000' }, 'TIERLOG_DEADLINE_MARGIN_MS'],
    ['an answer margin its 60 s sweeps cannot keep', { TIERLOG_ANSWER_MARGIN_MS: '90000' }, 'TIERLOG_ANSWER_MARGIN_MS'],
  ])('refuses %s with a ConfigError naming the variable', async (_what, variables, setting) => {
    Object.assign(process.env, variables);
    const error = await startError({});
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(setting);
  });

  it.each([
    ['TIERLOG_CLAIM_MS', '1000'],
    ['TIERLOG_INLINE_THRESHOLD', '8KiB'],
    ['TIERLOG_DEADLINE_MARGIN_MS', '60000'],
  ])('refuses %s=%s before anything starts: with no java on PATH, the error is the configuration one', async (variable, raw) => {
    process.env[variable] = raw;
    process.env.PATH = '/nonexistent/tierlog-dev-config-test';
    const error = await startError({});
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(variable);
  });
});
