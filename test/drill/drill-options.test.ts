/**
 * The drill refuses to run when it would check nothing: with no writer, no operation or no key,
 * no write is made, and the invariants held over an empty store, reported as "OK: every
 * invariant holds". Refused by name, before a request is sent. And a drill that runs checks what
 * reads and the final state return against the register model of the writes.
 */
import { DeleteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateMultipartUploadCommand, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import buffer from 'node:buffer';
import { spawn, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { type DrillOptions, type DrillReport, runDrill } from '../../lib/drill/drill.js';
import { scanTable } from '../../lib/drill/invariants.js';
import { ValidationError } from '../../lib/errors.js';
import { newChangeId } from '../../lib/ids.js';
import type { DeliverBatch } from '../../lib/drill/expiry.js';
import { StreamReader } from '../../lib/local/stream-reader.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { makeWriter, randomBody } from '../tiered/harness.js';

const options: DrillOptions = { writers: 2, operations: 10, seed: 1, crashRate: 0.1, maxBodyBytes: 1024, keys: 4, invocationMs: 2_000 };
const config = { changeLogTable: 'never-cl', objectsTable: 'never-ob', bucket: 'never-bk', prefix: 'blobs', leaseShards: 4 };
// Nothing listens here: a request sent would fail as a connection error, not as the refusal.
const dynamodb = new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 });
const s3 = new S3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 });

describe('a drill of nothing, or of a seed the generator cannot tell from another, is refused', () => {
  it.each<[keyof DrillOptions, number]>([
    ['writers', 0],
    ['operations', 0],
    ['keys', 0],
    ['writers', 1.5],
    ['maxBodyBytes', 0],
    // Past the largest buffer this process can hold: a put drawn that large ended the run with a RangeError.
    ['maxBodyBytes', buffer.constants.MAX_LENGTH + 1],
    ['invocationMs', 0],
    // The generator keeps 32 bits: these ran the drill of another seed.
    ['seed', 2 ** 32 + 1],
    ['seed', -1],
    ['seed', 1.5],
    // Not a chance: a NaN crash rate or expiring rate made no crash and no expiring put, and said OK.
    ['crashRate', Number.NaN],
    ['crashRate', 1.5],
    ['expiringRate', Number.NaN],
    ['expiringRate', -0.1],
    // No store takes it: every write would have failed with a ConfigError, a drill of nothing.
    ['inlineThreshold', -1],
  ])('%s: %s is a ValidationError naming it', async (name, value) => {
    let swept = 0;
    const error = await runDrill({
      config: { ...config, replacedBlobCleanup: 'log' },
      dynamodb,
      s3,
      options: { ...options, [name]: value },
      sweep: async () => {
        swept++;
        throw new Error('no sweep may run');
      },
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(name);
    expect(swept).toBe(0);
  });
});

describe('a drill asked for expiring puts it cannot check is refused', () => {
  it('expiringRate above 0 without deliverStream (no TTL, no stream: the puts would not expire) is a ValidationError naming it', async () => {
    let swept = 0;
    const error = await runDrill({
      config: { ...config, replacedBlobCleanup: 'log' },
      dynamodb,
      s3,
      options: { ...options, expiringRate: 0.5 },
      sweep: async () => {
        swept++;
        throw new Error('no sweep may run');
      },
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('expiringRate');
    expect(swept).toBe(0);
  });
});

describe('the drill checks every value against a register model of the writes', () => {
  it('fails on a sweeper that removes objects: their acknowledged values are gone (absent is not a value any write left)', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const report = await runDrill({
      ...fx,
      // No session: a session's value is a blob whatever its size.
      options: { ...options, writers: 3, operations: 40, crashRate: 0, keys: 4, sessionRate: 0 },
      // A broken sweeper: it sweeps, then deletes every object's item.
      sweep: async () => {
        const swept = await sweeper.sweep();
        for (const item of await scanTable(fx.dynamodb, fx.config.objectsTable)) {
          await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: String(item['key']) } } }));
        }
        return swept;
      },
    });
    expect(report.ok).toBe(false);
    expect(report.wrongValues).toBeGreaterThan(0);
    expect(report.wrongValueSamples.join('\n')).toMatch(/final value of drill\/object-\d+: read absent, allowed: put /);
    // Nothing else is wrong: bodies of at most 1 KiB (maxBodyBytes) are inline, no blob to lose or leak.
    expect(report).toMatchObject({ lost: 0, leaked: 0, entriesLeft: 0 });
  }, 120_000);
});

/** A sweep to give the drill: the real sweeper's, then `sabotage` (what a broken store would leave). */
function sweepThen(fx: Fixture, sabotage: () => Promise<void>): () => ReturnType<Sweeper['sweep']> {
  const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
  return async () => {
    const swept = await sweeper.sweep();
    await sabotage();
    return swept;
  };
}

/**
 * Puts `key` through the real store, a body large enough for a blob; returns the blob's key. A
 * drill writer may write the key (inline) between the put and the scan: the put is made again.
 */
async function putLarge(fx: Fixture, key: string): Promise<string> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const w = makeWriter(fx);
    try {
      await w.store.put(key, randomBody(64 * 1024), { metadata: { tag: 'sabotage' } });
    } finally {
      w.close();
    }
    const [item] = (await scanTable(fx.dynamodb, fx.config.objectsTable)).filter((i) => i['key'] === key);
    const blob = item?.['blob'];
    if (typeof blob === 'string') return blob;
  }
  throw new Error(`${key} has no blob after five puts`);
}

describe('the drill fails when one invariant breaks, and says which', () => {
  const small = { ...options, writers: 3, operations: 24, keys: 4, maxBodyBytes: 64 * 1024, invocationMs: 1_000 };
  it.each<{
    breaks: string;
    run: (fx: Fixture) => Promise<{ sweep: () => ReturnType<Sweeper['sweep']>; crashRate?: number }>;
    expected: (report: DrillReport) => void;
  }>([
    {
      breaks: 'no loss: HV names a blob that is gone (a read of it is a failure reported, not the end of the drill)',
      run: async (fx) => ({
        // After each sweep, drill/object-000 holds a value whose blob was then deleted.
        sweep: sweepThen(fx, async () => {
          const blob = await putLarge(fx, 'drill/object-000');
          await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: blob }));
        }),
        crashRate: 0,
      }),
      expected: (report) => {
        expect(report.lost).toBeGreaterThanOrEqual(1);
        expect(report.wrongValueSamples.join('\n')).toMatch(/the final read of drill\/object-000 failed: BlobMissingError/);
      },
    },
    {
      breaks: 'no leak: a blob under the prefix that no item references and no entry names',
      run: async (fx) => {
        const blob = await putLarge(fx, 'sabotage/leak');
        await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: 'sabotage/leak' } } }));
        expect(blob.startsWith(`${fx.config.prefix}/`)).toBe(true);
        return { sweep: sweepThen(fx, async () => {}), crashRate: 0 };
      },
      expected: (report) => expect(report).toMatchObject({ lost: 0, leaked: 1, entriesLeft: 0, wrongValues: 0 }),
    },
    {
      breaks: 'no upload left in progress: a multipart upload under the prefix nobody completes or aborts',
      run: async (fx) => {
        const key = newBlobKey(fx.config.prefix, 'sabotage/upload');
        await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
        return { sweep: sweepThen(fx, async () => {}), crashRate: 0 };
      },
      expected: (report) => expect(report).toMatchObject({ lost: 0, leaked: 1, entriesLeft: 0, wrongValues: 0 }),
    },
    {
      breaks: "the log drains: a sweeper pointed at another store's tables, writers that die",
      run: async (fx) => {
        // A writer that died after recording its change, before uploading: its entry is left for
        // sure, whichever steps the drill's own writers happen to die at.
        const dead = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
        await dead.record(newChangeId(), { id: 'sabotage/dead', new: newBlobKey(fx.config.prefix, 'sabotage/dead') });
        dead.close();
        const other = await freshFixture({ replacedBlobCleanup: 'log' });
        return { sweep: sweepThen(other, async () => {}), crashRate: 0.5 };
      },
      expected: (report) => {
        expect(report.entriesLeft).toBeGreaterThan(0);
        expect(report).toMatchObject({ lost: 0, wrongValues: 0 });
      },
    },
  ])(
    '$breaks',
    async ({ run, expected }) => {
      const fx = await freshFixture({ replacedBlobCleanup: 'log' });
      const { sweep, crashRate } = await run(fx);
      const report = await runDrill({ ...fx, options: { ...small, crashRate: crashRate ?? 0 }, sweep });
      expect(report.ok).toBe(false);
      expected(report);
    },
    180_000,
  );

  it('a sweep that throws during the workload ends the drill with its error, and no sweep runs after', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    let sweeps = 0;
    let operationsDone = 0;
    let workloadDone = false;
    let firstDuringWorkload: boolean | undefined;
    // Outside a test runner, an unhandled rejection ends the process before `npm start` stops the
    // local stack: the sweep's error must reach the caller only.
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let error: unknown;
    try {
      error = await runDrill({
        ...fx,
        // Enough small writes that the workload outlasts the first sweep (0.2 s in), 7 times over here.
        options: { ...small, writers: 1, operations: 800, maxBodyBytes: 1024, crashRate: 0, invocationMs: 200 },
        // Called once an operation, in the order they end.
        progress: (_, total) => {
          workloadDone = ++operationsDone === total;
        },
        sweep: async () => {
          sweeps++;
          firstDuringWorkload ??= !workloadDone;
          throw new Error('the sweeper is down');
        },
      }).catch((err: unknown) => err);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    // The background sweep threw, while writers still ran: the path under test.
    expect(firstDuringWorkload).toBe(true);
    expect(unhandled).toEqual([]);
    expect((error as Error).message).toBe('the sweeper is down');
    const seen = sweeps;
    await new Promise((resolve) => setTimeout(resolve, 2 * small.invocationMs + 500));
    expect(sweeps).toBe(seen);
  }, 180_000);
});

describe('with expiry, the drill judges the stream handler too', () => {
  const expiring = {
    ...options,
    writers: 3,
    operations: 40,
    keys: 4,
    maxBodyBytes: 64 * 1024,
    invocationMs: 1_000,
    crashRate: 0,
    expiringRate: 0.6,
  };
  const drillWith = async (handler: (fx: Fixture) => DeliverBatch) => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    return runDrill({ ...fx, options: expiring, sweep: () => sweeper.sweep(), deliverStream: handler(fx) });
  };

  it('the real handler: OK, with the expiring puts, their TTL deletions and the three scenarios counted', async () => {
    const report = await drillWith(
      (fx) => async (records) =>
        (await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(records)).response,
    );
    expect(report.wrongValueSamples).toEqual([]);
    expect(report.expiry?.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.expiry?.expiringPuts).toBeGreaterThan(0);
    expect(report.expiry?.expiredServed).toBe(0);
    expect(report.expiry?.stream.ttlDeletions).toBeGreaterThan(0);
    expect(report.expiry?.stream.expiredBlobs).toBeGreaterThan(0);
    expect(report.expiry?.scenarios).toEqual({ overwrittenAsExpiring: 1, expiredDuringSession: 1, recreatedAfterExpiry: 1 });
  }, 180_000);

  it('a handler that deletes nothing: the drill fails, naming the blobs of expired objects left behind', async () => {
    const report = await drillWith(() => async () => ({ batchItemFailures: [] }));
    expect(report.ok).toBe(false);
    expect(report.expiry?.violations.join('\n')).toMatch(/the blob \S+ of the expired \S+ outlived its stream event/);
    expect(report).toMatchObject({ wrongValues: 0, lost: 0 });
  }, 180_000);
});

describe('npm start refuses what it cannot run, before it starts the local stack', () => {
  // The drill's own process, as `npm start` runs it.
  const drill = (argv: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bin/drill.ts', ...argv], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    });

  it.each<[string, string[], Record<string, string>, string]>([
    ['an option it cannot take', ['--writers', '0'], {}, "option '--writers <n>' argument '0' is invalid"],
    ['an unknown option', ['--writer', '2'], {}, "unknown option '--writer'"],
    // A blank value (an unset shell variable) is no number: it was read as 0, a drill without crashes, of seed 0.
    [
      'a blank crash rate',
      ['--crash-rate', '', '--writers', '1', '--operations', '2'],
      {},
      "option '--crash-rate <p>' argument '' is invalid",
    ],
    ['a blank seed', ['--seed', ' ', '--writers', '1', '--operations', '2'], {}, "option '--seed <n>' argument ' ' is invalid"],
    ['a session rate above 1', ['--session-rate', '1.5'], {}, "option '--session-rate <p>' argument '1.5' is invalid"],
    [
      'a largest body no buffer holds',
      ['--max-body', String(buffer.constants.MAX_LENGTH + 1)],
      {},
      `option '--max-body <bytes>' argument '${buffer.constants.MAX_LENGTH + 1}' is invalid`,
    ],
    [
      'a TIERLOG_* variable refused',
      ['--operations', '5'],
      { TIERLOG_LEASE_SHARDS: 'abc' },
      'drill: TIERLOG_LEASE_SHARDS must be an integer',
    ],
    // The sweeper's and the stream handler's own variables: read by the handlers, which the drill
    // made once the stack was up (their tuning), or checked at their first invocation (their
    // margins, against the drill's invocations of 60 s): refused after the stack had started, a
    // margin after the whole workload had run, as the set-up error it is (exit 2).
    [
      'a sweeper tuning variable the sweeper refuses',
      ['--operations', '5'],
      { TIERLOG_SWEEP_CONCURRENCY: 'abc' },
      'drill: TIERLOG_SWEEP_CONCURRENCY must be a non-negative integer',
    ],
    [
      "a stream handler's margin longer than the drill's invocations",
      ['--operations', '5', '--writers', '1', '--max-body', '2048'],
      { TIERLOG_STREAM_DEADLINE_MARGIN_MS: '120000' },
      'drill: TIERLOG_STREAM_DEADLINE_MARGIN_MS',
    ],
    // The writers' own variable (the objects function's, `npm run dev`'s): ignored, a bad one too.
    [
      'an inline threshold no store takes',
      ['--operations', '5', '--writers', '1', '--max-body', '2048'],
      { TIERLOG_INLINE_THRESHOLD: 'abc' },
      'drill: TIERLOG_INLINE_THRESHOLD',
    ],
    [
      "a sweeper's margin longer than the drill's invocations",
      ['--operations', '5', '--writers', '1', '--max-body', '2048'],
      { TIERLOG_DEADLINE_MARGIN_MS: '60000' },
      'drill: TIERLOG_DEADLINE_MARGIN_MS',
    ],
    // Read by both handlers when the drill makes them, once the stack is up and its tables made.
    [
      'a deployment name CloudWatch refuses as a dimension',
      ['--operations', '5', '--writers', '1', '--max-body', '2048'],
      { TIERLOG_METRICS_DEPLOYMENT: ' ' },
      'drill: TIERLOG_METRICS_DEPLOYMENT',
    ],
    // Refused by provisionLocal and by the clients, made once the stack was up: after it had started.
    [
      'two table names that differ in case alone (one table to DynamoDB Local)',
      ['--operations', '5'],
      { TIERLOG_CHANGELOG_TABLE: 'Drill-Tables', TIERLOG_OBJECTS_TABLE: 'drill-tables' },
      'differ in case alone',
    ],
    [
      'an AWS_MAX_ATTEMPTS the clients refuse',
      ['--operations', '5'],
      { AWS_MAX_ATTEMPTS: '1O' },
      'drill: AWS_MAX_ATTEMPTS must be a whole number',
    ],
  ])('%s: exit code 2 (1 is an invariant that failed), the reason in a line, no stack started', (_, argv, env, reason) => {
    const out = drill(argv, env);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain(reason);
    expect(out.stderr).not.toContain('starting DynamoDB Local');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('npm start --json prints one JSON document whatever happens', () => {
  const drill = (argv: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bin/drill.ts', '--json', ...argv], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    });

  it.each<[string, string[], Record<string, string>, string]>([
    ['a TIERLOG_* variable refused', ['--operations', '5'], { TIERLOG_LEASE_SHARDS: 'abc' }, 'TIERLOG_LEASE_SHARDS must be an integer'],
    ['an option it cannot take', ['--writers', '0'], {}, "option '--writers <n>' argument '0' is invalid"],
  ])('%s: stdout is {"error": {name, message, exitCode}} (the message on stderr too), exit code 2', (_, argv, env, reason) => {
    const out = drill(argv, env);
    expect(out.status).toBe(2);
    expect(out.stderr).toContain(reason);
    // A script that reads the report from stdout (`> report.json`, `| jq .ok`) met an empty output.
    const document = JSON.parse(out.stdout) as { error: { name: string; message: string; exitCode: number } };
    expect(document.error.message).toContain(reason);
    expect(document.error.exitCode).toBe(2);
    expect(typeof document.error.name).toBe('string');
  });
});

describe('npm start --json ended by a signal', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    '%s (a CI job\'s timeout, Ctrl-C) while it runs: stdout is {"error": {"name": "InterruptedError", ...}}, exit code 130',
    async (signal) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'bin/drill.ts', '--json', '--writers', '1', '--operations', '100000', '--max-body', '2048'],
        { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, killedBy) => resolve({ code, signal: killedBy })),
      );
      // Once the local stack is up: the drill runs.
      await new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (/up in \d+ ms/.test(stderr)) resolve();
        });
        void exited.then(() => reject(new Error(`the drill exited before it ran:\n${stderr}`)));
      });
      try {
        child.kill(signal);
      } finally {
        // Whatever the test finds, no drill of 100 000 operations is left running.
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
      }
      // A script reading the verdict from stdout met an empty output, the process ended by the signal.
      expect(await exited).toEqual({ code: 130, signal: null });
      const document = JSON.parse(stdout) as { error: { name: string; message: string; exitCode: number } };
      expect(document.error).toMatchObject({ name: 'InterruptedError', exitCode: 130 });
      expect(document.error.message).toContain(signal);
    },
    120_000,
  );
});

describe('npm start --json that stopped on an error, then a signal while its local stack stops', () => {
  it('stdout stays the one document of its error, and the exit code is the one it names', async () => {
    // An error once the stack is up: the provisioning's CreateTable refused (a configuration
    // refused before the stack starts would not reach it). Its document printed, the stack is
    // stopped; a SIGTERM then (a CI job's timeout) printed a second document, an InterruptedError,
    // and exited 130.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        './test/support/refuse-create-table.ts',
        'bin/drill.ts',
        '--json',
        '--writers',
        '1',
        '--operations',
        '5',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, killedBy) => resolve({ code, signal: killedBy })),
    );
    setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/"exitCode": \d+\n {2}}\n}/.test(stdout)) resolve();
      });
      void exited.then(() => reject(new Error(`the drill exited before its error was printed:\n${stdout}\n${stderr}`)));
    });
    expect(stderr).toMatch(/up in \d+ ms/);
    child.kill('SIGTERM');
    const document = JSON.parse(stdout) as { error: { name: string; message: string; exitCode: number } };
    expect(document.error.message).toMatch(/injected: CreateTable refused/);
    expect(document.error.exitCode).not.toBe(130);
    expect(await exited).toEqual({ code: document.error.exitCode, signal: null });
  }, 120_000);
});

describe("the writers' inline threshold (TIERLOG_INLINE_THRESHOLD in npm start) is the drill's", () => {
  it('with inlineThreshold 0 every value the workload leaves is a blob, though every body is of 1 KiB at most', async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const report = await runDrill({
      ...fx,
      // Puts only, so the keys end holding values; no session (a session's value is a blob whatever the threshold).
      options: { ...options, writers: 2, operations: 24, keys: 3, crashRate: 0, sessionRate: 0, inlineThreshold: 0 },
      sweep: () => sweeper.sweep(),
    });
    expect(report).toMatchObject({ ok: true, lost: 0, leaked: 0, wrongValues: 0 });
    const values = (await scanTable(fx.dynamodb, fx.config.objectsTable)).filter(
      (item) => String(item['key']).startsWith('drill/object-') && item['deleted'] !== true,
    );
    expect(values.length).toBeGreaterThan(0);
    // With the library's 8 KiB, each of them was inline: the drill ran another store than the one asked for.
    expect(values.filter((item) => typeof item['blob'] !== 'string').map((item) => item['key'])).toEqual([]);
  }, 180_000);
});

describe('--max-body bounds every body the drill writes', () => {
  it("the puts that race a session's complete too: with maxBodyBytes 1 KiB, no value the workload writes is larger", async () => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    // The windows npm start gives its sweeper, scaled to 1 s invocations: the sessions abandoned are taken.
    const windows = { skewMarginMs: 500, maxUploadMs: 2_000, claimMs: 10_000, unsafeShortWindows: true };
    const sweeper = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, ...windows });
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const maxBodyBytes = 1024;
    const report = await runDrill({
      ...fx,
      options: { ...options, writers: 3, operations: 40, keys: 4, crashRate: 0, sessionRate: 1, maxBodyBytes, invocationMs: 1_000 },
      sweep: () => sweeper.sweep(),
      deliverStream: async (records) => (await cleanup.handle(records)).response,
    });
    // Every value the workload's keys held, from the objects table's stream read whole (the handler
    // gets records as the construct's stream carries them: no create, no new image; the expiry
    // scenarios' keys aside).
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    const written: Array<{ tag: string; size: number }> = [];
    try {
      for (const record of await reader.read()) {
        const image = record.dynamodb?.NewImage;
        if (image?.['key']?.S?.startsWith('drill/object-') !== true || image['size']?.N === undefined) continue;
        written.push({ tag: image['metadata']?.M?.['tag']?.S ?? '(no tag)', size: Number(image['size'].N) });
      }
    } finally {
      reader.close();
    }
    expect(report.sessions.raced).toBeGreaterThan(0);
    expect(written.filter(({ tag }) => tag.endsWith('-race')).length).toBeGreaterThan(0);
    expect(written.filter(({ size }) => size > maxBodyBytes)).toEqual([]);
    expect([...report.wrongValueSamples, ...(report.expiry?.violations ?? [])]).toEqual([]);
    expect(report.ok).toBe(true);
  }, 180_000);
});
