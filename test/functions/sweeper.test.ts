/**
 * `functions/sweeper.ts` with a scheduled event and a Lambda context, on the local servers: it
 * returns the report, prints EMF metrics to stdout, honours `{shards}`, `{dryRun}`, `{housekeeping}` and the
 * invocation's remaining time, rejects malformed input, and fails the invocation on errors.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  KiB,
  expectClean,
  deadWriterPut,
  putDeadInstance,
  putRawInstance,
  randomBody,
  rawGetObject,
  rawInstance,
  rawState,
  rawValue,
  sameBytes,
  snapshot,
  steps,
} from '../tiered/harness.js';
import { captureStdout, jsonLines, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DEFAULT_DEADLINE_MARGIN_MS, DEFAULT_MAX_UPLOAD_MS } from '../../lib/constants.js';

/**
 * A 1 ms upload window (unsafe, for tests): the window an invocation opens when it claims an
 * instance has closed by the time it judges it (a round trip later), so one invocation fences and
 * recovers.
 */
const PAST_UPLOADS = { TIERLOG_MAX_UPLOAD_MS: '1', TIERLOG_UNSAFE_SHORT_WINDOWS: '1' };

type Handler = (event: unknown, context: Context) => Promise<Record<string, unknown>>;

const restores: Array<() => void> = [];
const writers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
  for (const w of writers.splice(0)) w.close();
});

async function sweeperHandler(fx: Fixture, env: Record<string, string> = {}): Promise<Handler> {
  const { mod, restore } = await loadHandler(fx, () => import('../../functions/sweeper.js'), env);
  restores.push(restore);
  return mod.handler as Handler;
}

/** A writer whose clock runs 3 h behind (its lease long over), dying at its commit: `crashAfter`, the commit landed. */
function deadWriter(fx: Fixture, key: string, kind: 'crashBefore' | 'crashAfter', old?: Uint8Array) {
  return deadWriterPut(fx, writers, key, steps(fx.config).commit, {
    kind,
    ...(old !== undefined ? { old } : {}),
    writer: { log: { clock: () => Date.now() - 3 * 60 * 60_000 } },
  });
}

/** Whether a command's input is a lease-index query of shard 0. */
const isShard0Query = (input: Record<string, unknown>) =>
  input.IndexName !== undefined && (input.ExpressionAttributeValues as Record<string, { N?: string }>)[':shard']?.N === '0';

/** What DynamoDB answers a query of a hot index partition; the SDK retries it until its attempts run out. */
const indexThrottled = () =>
  Object.assign(new Error('injected: The level of configured provisioned throughput for the index was exceeded'), {
    name: 'ProvisionedThroughputExceededException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    $retryable: { throttling: true },
  });

/**
 * A sweeper handler of `fx` (loaded afresh) whose every attempt of shard 0's lease-index query
 * fails with `error`. Its clients are closed after the test.
 */
async function shard0Failing(fx: Fixture, error: () => Error) {
  const injector = new FaultInjector().add({ kind: 'fail', match: (r) => r.command === 'QueryCommand' && isShard0Query(r.input), error });
  const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
  const s3 = createS3Client();
  writers.push({ close: () => (dynamodb.destroy(), s3.destroy()) });
  const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
  restores.push(restore);
  return { injector, handler: mod.createSweeperHandler({ sweeper: { dynamodb, s3 } }) };
}

/** The EMF documents in captured stdout. */
function emfDocuments(out: string): Array<Record<string, any>> {
  return out
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((d) => d._aws?.CloudWatchMetrics !== undefined);
}

describe('sweeper handler', () => {
  test('scheduled event: returns the report and prints EMF metrics', async () => {
    const fx = await freshFixture();
    const old = randomBody(40 * KiB);
    await deadWriter(fx, 'sw/overwrite', 'crashAfter', old); // died after its commit: old is garbage
    await deadWriter(fx, 'sw/create', 'crashBefore'); // died before its commit: new is garbage
    const before = await rawState(fx);
    expect(before.unreferenced).toHaveLength(2);
    expect(before.entries).toBe(2);

    const handler = await sweeperHandler(fx, PAST_UPLOADS);
    const context = lambdaContext('tierlog-sweeper', 120_000);
    const { result, error, out } = await captureStdout(() => handler(scheduledEvent(), context));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({
      instancesClaimed: 2,
      entriesRecovered: 2,
      blobsDeleted: 2,
      errors: 0,
      stoppedEarly: false,
      dryRun: false,
    });
    expect(result).not.toHaveProperty('wouldDelete');

    const docs = emfDocuments(out);
    expect(docs.length).toBeGreaterThanOrEqual(1);
    // Every metric the README names, by that name (alarms and dashboards outside the construct
    // refer to them), the two durations in milliseconds, the rest counts.
    const units = Object.fromEntries(
      docs.flatMap((d) => d._aws.CloudWatchMetrics.flatMap((m: any) => m.Metrics.map((x: any) => [x.Name, x.Unit]))),
    );
    const counts = [
      'InstancesExpired',
      'InstancesRetired',
      'InstancesClaimed',
      'EntriesRecovered',
      'EntriesDeferred',
      'EntriesQuarantined',
      'EntriesFailed',
      'BlobsDeleted',
      'AbandonedUploadsAborted',
      'AbandonedUploadErrors',
      'AbandonedUploadListingsTruncated',
      'SweepErrors',
      'StuckInstances',
      'StoppedEarly',
    ];
    expect(units).toEqual({
      ...Object.fromEntries(counts.map((name) => [name, 'Count'])),
      SweepDuration: 'Milliseconds',
      OldestExpiredAge: 'Milliseconds',
    });
    expect(docs[0]!._aws.CloudWatchMetrics[0].Namespace).toBe('Tierlog');
    const values = Object.assign({}, ...docs);
    expect(values.EntriesRecovered).toBe(2);
    expect(values.BlobsDeleted).toBe(2);
    expect(values.StoppedEarly).toBe(0);
    const { durationMs, oldestExpiredAgeMs } = result as { durationMs: number; oldestExpiredAgeMs: number };
    expect(durationMs).toBeGreaterThan(0);
    expect(oldestExpiredAgeMs).toBeGreaterThan(durationMs);
    expect(values).toMatchObject({ SweepDuration: durationMs, OldestExpiredAge: oldestExpiredAgeMs });
    // Powertools logs carry the Lambda context.
    expect(out).toContain(context.awsRequestId);

    const after = await expectClean(fx, expect);
    // Only the (live, idle) setup writer's instance is left.
    expect(after.instances).toHaveLength(1);
    expect(after.instances[0]).toMatchObject({ state: 'live', n: 0 });
    expect(after.instances[0]!.leaseUntil as number).toBeGreaterThan(Date.now());
    expect(after.references.has('sw/overwrite')).toBe(true); // the commit had landed: the new value
    expect(sameBytes(await rawValue(fx, 'sw/overwrite'), old)).toBe(false);
    expect(await rawValue(fx, 'sw/create')).toBeUndefined(); // the create never committed
  });

  test('{shards:[0]} sweeps only shard 0 (the schedule input alone, as EventBridge Scheduler sends it)', async () => {
    const fx = await freshFixture();
    const zero = await putDeadInstance(fx, { shard: 0 });
    const one = await putDeadInstance(fx, { shard: 1 });
    const handler = await sweeperHandler(fx, PAST_UPLOADS);
    const { result, error } = await captureStdout(() => handler({ shards: [0] }, lambdaContext('tierlog-sweeper')));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1 });
    expect(await rawGetObject(fx, zero.blobs[0]!)).toBeUndefined();
    expect(await rawInstance(fx, zero.instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, one.blobs[0]!)).toBeDefined();
    expect(await rawInstance(fx, one.instanceId)).toMatchObject({ state: 'live' });
  });

  test('{shards:[1,5]} from a schedule of 8 shards reaching a sweeper rolled to 4 (a deploy under way): shard 1 is swept, shard 5 skipped with a warning, no error', async () => {
    const fx = await freshFixture();
    expect(fx.config.leaseShards).toBe(4);
    const one = await putDeadInstance(fx, { shard: 1 });
    const five = await putDeadInstance(fx, { shard: 5 });
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), PAST_UPLOADS);
    restores.push(restore);
    const logger = new Logger({ serviceName: 'tierlog-sweeper' });
    const warn = vi.spyOn(logger, 'warn');
    const handler = mod.createSweeperHandler({ logger });
    const { result, error } = await captureStdout(() =>
      handler(scheduledEvent({ shards: [1, 5], housekeeping: false }), lambdaContext('tierlog-sweeper')),
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, errors: 0 });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('past TIERLOG_LEASE_SHARDS'), expect.objectContaining({ skipped: [5] }));
    expect(await rawInstance(fx, one.instanceId)).toBeUndefined();
    expect(await rawInstance(fx, five.instanceId)).toMatchObject({ state: 'live' });
    // A group whose every shard is past the setting sweeps nothing, and fails nothing: shard 4, the
    // setting itself, is past it too.
    const none = await captureStdout(() => handler(scheduledEvent({ shards: [4, 5] }), lambdaContext('tierlog-sweeper')));
    expect(none.error).toBeUndefined();
    expect(none.result).toMatchObject({ instancesClaimed: 0, errors: 0 });
    // Nor does it publish: its SweepDuration would keep SweeperNotRunning quiet, and its
    // OldestExpiredAge of 0 clear a backlog's alarm, for a sweep of no shard.
    expect(none.out).not.toContain('SweepDuration');
    expect(none.out).not.toContain('OldestExpiredAge');
  });

  test('{housekeeping:false} skips the checks for stuck instances; the default event runs them', async () => {
    const fx = await freshFixture();
    // A live lease 3 h ahead (a writer clock that runs ahead): only the housekeeping query sees it.
    const suspect = await putRawInstance(fx, { shard: 0, leaseUntil: Date.now() + 3 * 60 * 60_000, entries: {} });
    const handler = await sweeperHandler(fx);
    const ordinary = await captureStdout(() => handler(scheduledEvent({ housekeeping: false }), lambdaContext('tierlog-sweeper')));
    expect(ordinary.error).toBeUndefined();
    expect(ordinary.result).toMatchObject({ suspectLeases: 0, stuckInstances: 0, instancesClaimed: 0 });
    expect(await rawInstance(fx, suspect)).toMatchObject({ state: 'live' });
    const full = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(full.error).toBeUndefined();
    expect(full.result).toMatchObject({ suspectLeases: 1, stuckInstances: 1, instancesClaimed: 1 });
  });

  test('dryRun event: reports what this sweep would do, changes nothing', async () => {
    const fx = await freshFixture();
    const { blobs } = await putDeadInstance(fx, { shard: 2 });
    // One-second windows: the first sighting defers; past the window a sweep would delete.
    const handler = await sweeperHandler(fx, {
      TIERLOG_MAX_UPLOAD_MS: '1000',
      TIERLOG_CLAIM_MS: '1000',
      TIERLOG_SKEW_MARGIN_MS: '100',
      TIERLOG_UNSAFE_SHORT_WINDOWS: '1',
    });
    const dry = async () => {
      const image = await snapshot(fx);
      const { result, error, out } = await captureStdout(() => handler(scheduledEvent({ dryRun: true }), lambdaContext('tierlog-sweeper')));
      expect(error).toBeUndefined();
      expect(await snapshot(fx)).toBe(image);
      return { result, out };
    };
    // Never claimed: a sweep now would only fence it.
    expect((await dry()).result).toMatchObject({ dryRun: true, blobsDeleted: 0, entriesDeferred: 1, instancesClaimed: 0 });
    expect((await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')))).result).toMatchObject({
      instancesClaimed: 1,
      entriesDeferred: 1,
      blobsDeleted: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    const past = await dry();
    expect(past.result).toMatchObject({ dryRun: true, blobsDeleted: 1, entriesRecovered: 1, instancesClaimed: 0 });
    // The blobs it would delete are listed by key (the report and the sweep's own log give a count).
    const listed = jsonLines(past.out).filter((l) => Array.isArray(l.wouldDelete));
    expect(listed.map((l) => l.wouldDelete)).toEqual([blobs]);
    // It published nothing: its would-be deletes are not BlobsDeleted on the dashboard.
    expect(emfDocuments(past.out)).toEqual([]);
  });

  // CloudWatch Logs takes an event of at most 256 KB: Lambda cuts a longer line, and the list a dry
  // run is asked for (before deletes are turned on over a backlog) is then unreadable JSON.
  test('a dry run over a backlog logs its whole list in lines CloudWatch Logs takes whole', async () => {
    const fx = await freshFixture();
    // 1,100 blobs of objects with 180-byte keys (the local S3 server takes no longer path segment):
    // over 300 KB of blob keys. Their writers died before uploading; a sweeper's claim on them is over.
    const blobs: string[] = [];
    for (let i = 0; i < 11; i++) {
      const dead = await putDeadInstance(fx, {
        shard: i % fx.config.leaseShards,
        count: 100,
        objectId: (j) => `${'k'.repeat(170)}/${i}/${j}`,
        uploaded: false,
        fenced: true,
      });
      blobs.push(...dead.blobs);
    }
    const handler = await sweeperHandler(fx);
    const image = await snapshot(fx);
    const { result, error, out } = await captureStdout(() => handler(scheduledEvent({ dryRun: true }), lambdaContext('tierlog-sweeper')));
    expect(error).toBeUndefined();
    expect(await snapshot(fx)).toBe(image);
    expect(result).toMatchObject({ dryRun: true, blobsDeleted: blobs.length });
    const lines = out.split('\n').filter((l) => l.includes('"wouldDelete":['));
    for (const line of lines) expect(Buffer.byteLength(line)).toBeLessThan(256 * 1024 - 26);
    const parts = lines.map((l) => JSON.parse(l) as { wouldDelete: string[]; part: number; parts: number; total: number });
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.map((p) => [p.part, p.parts, p.total])).toEqual(parts.map((_, i) => [i + 1, parts.length, blobs.length]));
    expect(parts.flatMap((p) => p.wouldDelete).sort()).toEqual([...blobs].sort());
  });

  test.each([
    ['shards not an array', { shards: 'x' }],
    ['shards empty', { shards: [] }],
    ['shards negative', { shards: [-1] }],
    ['shards fractional', { shards: [0.5] }],
    // Past this sweeper's setting a shard is skipped, not refused: a fraction there is still malformed.
    ['shards fractional past the setting', { shards: [1, 4.5] }],
    ['shard no configuration has (256 or more)', { shards: [256] }],
    ['dryRun not a boolean', { dryRun: 'yes' }],
    ['housekeeping not a boolean', { housekeeping: 1 }],
    // A misspelt option is not "anything else": a dry run asked for as `dryrun` would sweep for real.
    ['dryRun misspelt', { dryrun: true }],
    ['dryRun in snake case', { dry_run: true }],
    ['dryRun capitalised', { DryRun: true }],
    ['shards misspelt', { shard: [0] }],
    ['housekeeping misspelt', { houseKeeping: false }],
    ['dryRun shortened', { dry: true }],
    // Not a misspelling the sweeper can name, still not a field it can act on.
    ['a field the event does not take', { mode: 'dry' }],
    // An event put on a bus with its options as detail, routed by a rule with no input: a dry run asked for.
    ['dryRun in the envelope’s detail', { detail: { dryRun: true } }],
    ['shards in the envelope’s detail, misspelt', { detail: { shard: [0] } }],
  ])('malformed event (%s) is an error and changes nothing', async (_name, extra) => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { shard: 0 });
    const image = await snapshot(fx);
    const handler = await sweeperHandler(fx);
    const { error } = await captureStdout(() => handler(scheduledEvent(extra), lambdaContext('tierlog-sweeper')));
    expect(error).toMatchObject({ name: 'ValidationError' }); // a fresh module copy: compare by name
    expect((error as Error).message).toContain(Object.keys(extra)[0]); // it names the field
    expect(await snapshot(fx)).toBe(image);
  });

  test.each([
    ['a JSON string (an input encoded twice)', JSON.stringify({ dryRun: true })],
    ['an array', [{ dryRun: true }]],
    ['a number', 42],
    ['a boolean', true],
  ])('an event that is not an object (%s) is an error and changes nothing', async (_name, event) => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { shard: 0 });
    const image = await snapshot(fx);
    const handler = await sweeperHandler(fx);
    const { error } = await captureStdout(() => handler(event, lambdaContext('tierlog-sweeper')));
    expect(error).toMatchObject({ name: 'ValidationError' });
    expect(await snapshot(fx)).toBe(image);
  });

  test.each([
    ['null', null],
    ['undefined', undefined],
  ])('an invocation without a payload (event %s) is an ordinary sweep: every shard, housekeeping, for real', async (_name, event) => {
    const fx = await freshFixture();
    const dead = await putDeadInstance(fx, { shard: 3 });
    const handler = await sweeperHandler(fx, PAST_UPLOADS);
    const { result, error } = await captureStdout(() => handler(event, lambdaContext('tierlog-sweeper')));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ dryRun: false, instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    expect(await rawInstance(fx, dead.instanceId)).toBeUndefined();
  });

  test('an invocation that starts with no more time than the deadline margin (a timeout under it) is refused, naming the setting: nothing taken, nothing published', async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { shard: 0 });
    const image = await snapshot(fx);
    const handler = await sweeperHandler(fx);
    for (const remainingMs of [3_000, DEFAULT_DEADLINE_MARGIN_MS]) {
      const { error, out } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper', remainingMs)));
      expect(error, `${remainingMs} ms`).toMatchObject({ name: 'ConfigError', setting: 'TIERLOG_DEADLINE_MARGIN_MS' });
      // A SweepDuration of a sweep that took nothing would tell the not-running alarm it ran, every time.
      expect(out).not.toMatch(/SweepDuration/);
    }
    expect(await snapshot(fx)).toBe(image);
  });

  test('an invocation that starts with no more time than the answer margin (raised above the deadline margin, a timeout under it) is refused, naming the setting: nothing taken, nothing published', async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { shard: 0 });
    const image = await snapshot(fx);
    // Past the deadline margin (10 s), within the answer margin (30 s): the sweep would be cut off as it starts.
    const handler = await sweeperHandler(fx, { ...PAST_UPLOADS, TIERLOG_ANSWER_MARGIN_MS: '30000' });
    for (const remainingMs of [DEFAULT_DEADLINE_MARGIN_MS + 1, 30_000]) {
      const { error, out } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper', remainingMs)));
      expect(error, `${remainingMs} ms`).toMatchObject({ name: 'ConfigError', setting: 'TIERLOG_ANSWER_MARGIN_MS' });
      // A SweepDuration of a sweep that took nothing would tell the not-running alarm it ran, every time.
      expect(out).not.toMatch(/SweepDuration/);
    }
    expect(await snapshot(fx)).toBe(image);
    // With more time than the margin, the same handler sweeps.
    const { result, error } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper', 60_000)));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ stoppedEarly: false, instancesClaimed: 1 });
  });

  test.each([
    ['deadlineMarginMs', { deadlineMarginMs: 40_000 }, 'sweeper.deadlineMarginMs'],
    ['answerMarginMs', { answerMarginMs: 40_000 }, 'sweeper.answerMarginMs'],
  ] as const)(
    'an invocation within a margin given as an option (%s, no variable set) is refused naming the option, not a variable nobody set',
    async (_label, margin, setting) => {
      const fx = await freshFixture();
      await putDeadInstance(fx, { shard: 0 });
      const image = await snapshot(fx);
      const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
      restores.push(restore);
      const handler = mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, ...margin } });
      const { error } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper', 30_000)));
      expect(error).toMatchObject({ name: 'ConfigError', setting });
      expect(String((error as Error).message)).toContain(setting);
      expect(String((error as Error).message)).not.toMatch(/TIERLOG_/);
      expect(await snapshot(fx)).toBe(image);
    },
  );

  test("the deadline is taken on the sweeper's own clock: a clock option far from the wall clock neither stops the sweep at once nor lets it run past the invocation", async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx, { shard: 0 });
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    // A sweeper on a clock two hours ahead (a drill's compressed time, a test's clock): 60 s left
    // is 60 s on its clock too.
    const ahead = mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now() + 2 * 60 * 60_000 } });
    const { result, error } = await captureStdout(() => ahead(scheduledEvent(), lambdaContext('tierlog-sweeper', 60_000)));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ stoppedEarly: false, instancesClaimed: 1 });
    // And one two hours behind still stops at the invocation's deadline, on its own clock, which the
    // wall clock would not reach for two hours.
    await putDeadInstance(fx, { shard: 1 });
    const behindBy = 2 * 60 * 60_000;
    const start = Date.now() - behindBy;
    // Each read a second later: the deadline's margin is reached one read after the deadline is taken.
    let reads = 0;
    const behind = mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, clock: () => start + 1_000 * reads++ } });
    const late = await captureStdout(() => behind(scheduledEvent(), lambdaContext('tierlog-sweeper', DEFAULT_DEADLINE_MARGIN_MS + 1_000)));
    expect(late.error).toBeUndefined();
    expect(late.result).toMatchObject({ stoppedEarly: true, instancesClaimed: 0 });
  });

  test("OldestExpiredAge is the age in ms of the oldest expired instance, on the sweeper's clock: what the backlog alarm compares with its threshold (ms)", async () => {
    const fx = await freshFixture();
    const now = Date.now();
    await putDeadInstance(fx, { shard: 0, since: now - 40 * 60_000 });
    await putDeadInstance(fx, { shard: 1, since: now - 20 * 60_000 });
    // Found after the oldest (its shard's query reads the oldest lease first): the age is the oldest's, not the last one's.
    await putDeadInstance(fx, { shard: 0, since: now - 10 * 60_000 });
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    const handler = mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, clock: () => now } });
    const { result, error, out } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ instancesExpired: 3, oldestExpiredAgeMs: 40 * 60_000 });
    expect(Object.assign({}, ...emfDocuments(out))).toMatchObject({ OldestExpiredAge: 40 * 60_000 });
  });

  test('tuning from the environment; a sweep with errors fails the invocation and keeps the entry', async () => {
    const fx = await freshFixture();
    // Fenced by an earlier sweep, so this one judges it and deletes.
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
    // A bucket that does not exist: every delete fails, the entry must stay.
    const handler = await sweeperHandler(
      { ...fx, config: { ...fx.config, bucket: `${fx.config.bucket}-gone` } },
      { ...PAST_UPLOADS, TIERLOG_CLAIM_MS: '60000' },
    );
    const started = Date.now();
    const { error, out } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(String((error as Error)?.message)).toMatch(/sweep finished with 1 errors/);
    expect(emfDocuments(out).some((d) => d.SweepErrors === 1)).toBe(true);
    const item = await rawInstance(fx, instanceId);
    expect(item).toMatchObject({ state: 'claimed' });
    expect(Object.keys(item!).filter((k) => k.startsWith('c_'))).toHaveLength(1);
    // TIERLOG_CLAIM_MS reached the sweeper: the claim lasts one minute.
    expect((item!.leaseUntil as number) - started).toBeGreaterThan(50_000);
    expect((item!.leaseUntil as number) - started).toBeLessThan(70_000);
    expect(await rawGetObject(fx, blobs[0]!)).toBeDefined();
  });

  test('a handler built with its own clients (and options left undefined) still takes the tuning from the environment', async () => {
    const fx = await freshFixture();
    await deadWriter(fx, 'sw/own-clients', 'crashBefore');
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), PAST_UPLOADS);
    restores.push(restore);
    // An option left undefined (`{ ...defaults, maxUploadMs: process.env.X && Number(...) }`) carries nothing: the variable holds.
    const handler = mod.createSweeperHandler({
      sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, maxUploadMs: undefined, unsafeShortWindows: undefined },
    });
    const { result, error } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(error).toBeUndefined();
    // TIERLOG_MAX_UPLOAD_MS=1 reached the sweeper: the invocation that fences the writer also recovers.
    expect(result).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, entriesDeferred: 0 });
    await expectClean(fx, expect);
    // And a malformed variable is refused, clients or not.
    process.env.TIERLOG_SWEEP_CONCURRENCY = '0';
    try {
      expect(() => mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3 } })).toThrow(/TIERLOG_SWEEP_CONCURRENCY/);
    } finally {
      delete process.env.TIERLOG_SWEEP_CONCURRENCY;
    }
  });

  test('an option given to the handler takes precedence over its variable (TIERLOG_MAX_UPLOAD_MS)', async () => {
    const fx = await freshFixture();
    await deadWriter(fx, 'sw/option-first', 'crashBefore');
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), PAST_UPLOADS);
    restores.push(restore);
    // The variable's 1 ms window would recover at once; the option's default window keeps the entry waiting.
    const handler = mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, maxUploadMs: DEFAULT_MAX_UPLOAD_MS } });
    const { result, error } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ instancesClaimed: 1, entriesRecovered: 0, blobsDeleted: 0, entriesDeferred: 1 });
  });

  test('a handler given its own logger and metrics logs and publishes through them', async () => {
    const fx = await freshFixture();
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    const logger = new Logger({ serviceName: 'my-sweeper' });
    const metrics = new Metrics({ namespace: 'MyNamespace', serviceName: 'my-sweeper' });
    const { result, error, out } = await captureStdout(() =>
      mod.createSweeperHandler({ logger, metrics })(scheduledEvent(), lambdaContext('tierlog-sweeper')),
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ errors: 0 });
    const logs = jsonLines(out).filter((l) => l._aws === undefined);
    expect(logs.map((l) => [l.message, l.service])).toContainEqual(['sweep finished', 'my-sweeper']);
    // The sweep's metrics, and the heartbeat of a housekeeping sweep (HOUSEKEEPING_DIMENSION).
    expect(emfDocuments(out).map((d) => d._aws.CloudWatchMetrics[0].Namespace)).toEqual(['MyNamespace', 'MyNamespace']);
  });

  /**
   * `TIERLOG_METRICS_DEPLOYMENT` names the deployment the function's metrics carry (their
   * `deployment` dimension), and the alarms of that deployment watch them so. A handler given its
   * own Metrics (its cold-start metric, say) published without it: every alarm of the deployment
   * blind, its not-running alarm up for good while it swept.
   */
  test('a handler given its own metrics, in a function of a deployment (TIERLOG_METRICS_DEPLOYMENT), publishes them under that deployment', async () => {
    const fx = await freshFixture();
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), {
      TIERLOG_METRICS_DEPLOYMENT: 'Stack/Own',
    });
    restores.push(restore);
    const metrics = new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-sweeper' });
    const { error, out } = await captureStdout(() =>
      mod.createSweeperHandler({ metrics })(scheduledEvent(), lambdaContext('tierlog-sweeper')),
    );
    expect(error).toBeUndefined();
    const documents = emfDocuments(out);
    // The sweep's metrics, and the heartbeat of a housekeeping sweep: both under the deployment.
    expect(documents).toHaveLength(2);
    expect(documents.map((d) => d._aws.CloudWatchMetrics[0].Dimensions)).toEqual([
      [['service', 'deployment']],
      [['service', 'deployment', 'housekeeping']],
    ]);
    expect(documents[1]).toMatchObject({ service: 'tierlog-sweeper', deployment: 'Stack/Own', housekeeping: 'true' });
    expect(documents[0]).toMatchObject({ service: 'tierlog-sweeper', deployment: 'Stack/Own' });
    expect(documents[0]!.SweepDuration).toBeDefined();
  });

  /**
   * CloudWatch tells metrics apart by namespace and whole dimension set: metrics given with one
   * more default dimension (`environment`, as Powertools' examples set), or of another service or
   * namespace (or none: Powertools' `service_undefined`, `default_namespace`), published every
   * figure where none of the deployment's alarms looks, which watch `Tierlog` with `service` and
   * `deployment` alone: the function swept, and `SweeperNotRunning` stayed up. Each factory
   * refuses them at init.
   */
  test.each([
    ['one more default dimension', { namespace: 'Tierlog', serviceName: 'tierlog-sweeper', defaultDimensions: { environment: 'prod' } }],
    ['another namespace', { namespace: 'MyNamespace', serviceName: 'tierlog-sweeper' }],
    ['no namespace', { serviceName: 'tierlog-sweeper' }],
    ['another service', { namespace: 'Tierlog', serviceName: 'my-sweeper' }],
    ['no service', { namespace: 'Tierlog' }],
  ])('metrics given to a function of a deployment that its alarms cannot see (%s) are refused at init', async (_what, given) => {
    const fx = await freshFixture();
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), {
      TIERLOG_METRICS_DEPLOYMENT: 'Stack/Own',
    });
    restores.push(restore);
    const saved = process.env.POWERTOOLS_SERVICE_NAME;
    delete process.env.POWERTOOLS_SERVICE_NAME;
    restores.push(() => {
      if (saved !== undefined) process.env.POWERTOOLS_SERVICE_NAME = saved;
    });
    const { error } = await captureStdout(async () => mod.createSweeperHandler({ metrics: new Metrics(given) }));
    expect(error).toMatchObject({ name: 'ConfigError', setting: 'metrics' });
    expect((error as Error).message).toMatch(
      /watch namespace "Tierlog", service "tierlog-sweeper" and the dimensions service, deployment alone/,
    );
  });

  /**
   * Metrics set to throw on empty metrics (`setThrowOnEmptyMetrics(true)`, what Powertools'
   * `throwOnEmptyMetrics` sets) throw when read holding none, and the check took that for metrics
   * it cannot read: another namespace so set was taken, every alarm of the deployment blind. They
   * are read all the same now, and their setting is left as it was.
   */
  test('metrics given set to throw on empty metrics are checked too, and keep that setting', async () => {
    const fx = await freshFixture();
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), {
      TIERLOG_METRICS_DEPLOYMENT: 'Stack/Own',
    });
    restores.push(restore);
    const elsewhere = new Metrics({ namespace: 'MyNamespace', serviceName: 'tierlog-sweeper' }).setThrowOnEmptyMetrics(true);
    expect(() => mod.createSweeperHandler({ metrics: elsewhere })).toThrow(
      expect.objectContaining({ name: 'ConfigError', setting: 'metrics' }),
    );
    const watched = new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-sweeper' }).setThrowOnEmptyMetrics(true);
    expect(() => mod.createSweeperHandler({ metrics: watched })).not.toThrow();
    expect(() => watched.serializeMetrics()).toThrow(RangeError);
  });

  test("the stream and snapshot-audit factories refuse metrics their deployment's alarms cannot see too", async () => {
    const fx = await freshFixture();
    const deployment = { TIERLOG_METRICS_DEPLOYMENT: 'Stack/Own' };
    const stream = await loadHandler(fx, () => import('../../lib/handlers/objects-stream.js'), deployment);
    restores.push(stream.restore);
    const extra = { namespace: 'Tierlog', serviceName: 'tierlog-objects-stream', defaultDimensions: { environment: 'prod' } };
    expect(() => stream.mod.createObjectsStreamHandler({ metrics: new Metrics(extra) })).toThrow(
      expect.objectContaining({ name: 'ConfigError', setting: 'metrics' }),
    );
    // The same metrics without the extra dimension are taken.
    expect(() =>
      stream.mod.createObjectsStreamHandler({ metrics: new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-objects-stream' }) }),
    ).not.toThrow();
    const audit = await loadHandler(fx, () => import('../../lib/handlers/snapshot-audit.js'), deployment);
    // Restored first: it saw the variable the stream's loading set.
    restores.unshift(audit.restore);
    expect(() =>
      audit.mod.createSnapshotAuditHandler({ metrics: new Metrics({ namespace: 'Other', serviceName: 'tierlog-snapshot-audit' }) }),
    ).toThrow(expect.objectContaining({ name: 'ConfigError', setting: 'metrics' }));
  });

  /**
   * Powertools publishes no metric with `POWERTOOLS_METRICS_DISABLED` true, nor with `POWERTOOLS_DEV`
   * true (its local-development mode) unless that is set false, and then writes them through the
   * console, whose lines Lambda decorates (no EMF CloudWatch reads). The construct sets both false;
   * a function of your own in a deployment (a `TierlogMonitoring` of its `metricsDeployment`
   * watching) took them, swept, and had every alarm blind and `SweeperNotRunning` up. Each factory
   * refuses them at init in Lambda, naming the variable; outside it (the dev service turns them
   * off on purpose) they are taken.
   */
  /** A function of your own in Lambda, of a deployment its alarms watch, with the Powertools variables the construct sets. */
  const OWN_FUNCTION_OF_DEPLOYMENT = {
    TIERLOG_METRICS_DEPLOYMENT: 'Stack/Own',
    AWS_LAMBDA_FUNCTION_NAME: 'own-sweeper',
    POWERTOOLS_DEV: 'false',
    POWERTOOLS_METRICS_DISABLED: 'false',
  };

  test.each<[string, Record<string, string>, string]>([
    ['metrics disabled', { POWERTOOLS_METRICS_DISABLED: 'true' }, 'POWERTOOLS_METRICS_DISABLED'],
    ['dev mode', { POWERTOOLS_DEV: 'true' }, 'POWERTOOLS_DEV'],
    ['dev mode (1), metrics enabled', { POWERTOOLS_DEV: '1', POWERTOOLS_METRICS_DISABLED: 'false' }, 'POWERTOOLS_DEV'],
  ])(
    'a function of a deployment whose Powertools variables publish no metric its alarms read (%s) is refused at init',
    async (_what, powertools, variable) => {
      const fx = await freshFixture();
      const env = { ...OWN_FUNCTION_OF_DEPLOYMENT, ...powertools };
      const sweeper = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), env);
      restores.push(sweeper.restore);
      const expected = expect.objectContaining({ name: 'ConfigError', setting: variable });
      expect(() => sweeper.mod.createSweeperHandler()).toThrow(expected);
      expect(() =>
        sweeper.mod.createSweeperHandler({ metrics: new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-sweeper' }) }),
      ).toThrow(expected);
      const stream = await loadHandler(fx, () => import('../../lib/handlers/objects-stream.js'), env);
      restores.unshift(stream.restore);
      expect(() => stream.mod.createObjectsStreamHandler()).toThrow(expected);
      const audit = await loadHandler(fx, () => import('../../lib/handlers/snapshot-audit.js'), {
        ...env,
        TIERLOG_SNAPSHOT_OLDER_THAN_MS: '86400000',
      });
      restores.unshift(audit.restore);
      expect(() => audit.mod.createSnapshotAuditHandler()).toThrow(expected);
      // The same variables outside Lambda (a local run, which turns the metrics off on purpose): taken.
      process.env.AWS_SAM_LOCAL = 'true';
      expect(() => sweeper.mod.createSweeperHandler()).not.toThrow();
      delete process.env.AWS_SAM_LOCAL;
      delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      expect(() => sweeper.mod.createSweeperHandler()).not.toThrow();
    },
  );

  test('a function of a deployment with the Powertools variables the construct sets (both false) publishes its metrics', async () => {
    const fx = await freshFixture();
    const env = { ...OWN_FUNCTION_OF_DEPLOYMENT, POWERTOOLS_LOG_LEVEL: 'CRITICAL' };
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), env);
    restores.push(restore);
    const { error, out } = await captureStdout(() => mod.createSweeperHandler()(scheduledEvent(), lambdaContext('own-sweeper')));
    expect(error).toBeUndefined();
    expect(emfDocuments(out)[0]).toMatchObject({ service: 'tierlog-sweeper', deployment: 'Stack/Own' });
  });

  test('without a deployment (TIERLOG_METRICS_DEPLOYMENT unset), metrics given publish as given', async () => {
    const fx = await freshFixture();
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    const metrics = new Metrics({ namespace: 'MyNamespace', serviceName: 'my-sweeper', defaultDimensions: { environment: 'prod' } });
    const { error, out } = await captureStdout(() =>
      mod.createSweeperHandler({ metrics })(scheduledEvent(), lambdaContext('tierlog-sweeper')),
    );
    expect(error).toBeUndefined();
    expect(emfDocuments(out)[0]).toMatchObject({ service: 'my-sweeper', environment: 'prod' });
  });

  test('TIERLOG_RETRY_FAILED_MS: an entry whose blob delete failed is not taken again before it', async () => {
    const fx = await freshFixture();
    // Fenced by an earlier sweep, so this one judges it and deletes (two blobs: one DeleteObjects).
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true, count: 2 });
    // S3 answers 200 and names every key it left in place (the local server never does).
    const s3 = createS3Client();
    writers.push({ close: () => s3.destroy() });
    s3.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'DeleteObjectsCommand') return next(args);
        const keys: Array<{ Key: string }> = args.input.Delete.Objects;
        return {
          output: {
            $metadata: {},
            Errors: keys.map(({ Key }) => ({ Key, Code: 'InternalError', Message: 'We encountered an internal error.' })),
          },
        };
      },
      { step: 'initialize', name: 'everyKeyRefused' },
    );
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), { TIERLOG_RETRY_FAILED_MS: '600000' });
    restores.push(restore);
    const started = Date.now();
    const handler = mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3 } });
    const first = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(first.error).toBeUndefined();
    expect(first.result).toMatchObject({ instancesClaimed: 1, entriesFailed: 2, blobsDeleted: 0 });
    // The claim is held until the retry, 10 minutes on (the default is one minute).
    const item = await rawInstance(fx, instanceId);
    expect(item).toMatchObject({ state: 'claimed' });
    expect((item!.leaseUntil as number) - started).toBeGreaterThan(590_000);
    expect((item!.leaseUntil as number) - started).toBeLessThan(610_000);
    // Five minutes on (past the default retry), no sweep takes it; eleven minutes on, one does.
    const at = (aheadMs: number) =>
      mod.createSweeperHandler({ sweeper: { dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now() + aheadMs } });
    const early = await captureStdout(() => at(5 * 60_000)(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(early.result).toMatchObject({ instancesClaimed: 0, blobsDeleted: 0 });
    const due = await captureStdout(() => at(11 * 60_000)(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(due.result).toMatchObject({ instancesClaimed: 1, entriesRecovered: 2, blobsDeleted: 2 });
    for (const blob of blobs) expect(await rawGetObject(fx, blob)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test.each([
    ['0', 0, 0],
    ['1', 1, 1],
  ])(
    'TIERLOG_SHARDLESS_SCAN_SEGMENTS=%s: a housekeeping invocation sends %i Scan requests and finds %i items without a shard',
    async (segments, scans, found) => {
      const fx = await freshFixture();
      // An item without a shard: the lease index never shows it, only the bounded scan finds it.
      await fx.dynamodb.send(
        new PutItemCommand({
          TableName: fx.config.changeLogTable,
          Item: marshall({ pk: uuidv7(), state: 'live', leaseUntil: Date.now() - 60 * 60_000, n: 0 }),
        }),
      );
      const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), {
        TIERLOG_SHARDLESS_SCAN_SEGMENTS: segments,
        TIERLOG_SHARDLESS_SCAN_PAGES: '2',
      });
      restores.push(restore);
      const recorder = new CommandRecorder();
      const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
      writers.push({ close: () => dynamodb.destroy() });
      const handler = mod.createSweeperHandler({ sweeper: { dynamodb, s3: fx.s3 } });
      const { result, error } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
      expect(error).toBeUndefined();
      expect(result).toMatchObject({ instancesWithoutShard: found, stuckInstances: found, errors: 0 });
      const sent = recorder.commands.filter((c) => c.command === 'Scan');
      expect(sent).toHaveLength(scans);
      for (const scan of sent) expect(scan.input).toMatchObject({ Segment: 0, TotalSegments: 1 });
    },
  );

  test("a shard's lease-index query that fails: the invocation fails with it only once the other shards are swept; nothing runs after it returned", async () => {
    const fx = await freshFixture();
    // Fenced by an earlier sweep, in shard 1: this invocation judges it and deletes its blob.
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    // Shard 0's query is refused (not retried); shard 1's claim is slow, so it is still in flight then.
    const injector = new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'QueryCommand' && isShard0Query(r.input),
        error: () =>
          Object.assign(new Error('injected: not authorized'), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} }),
      })
      .add({ kind: 'delay', delayMs: 300, times: 1, match: (r) => r.command === 'UpdateItemCommand' });
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
    const s3 = recorder.attach(createS3Client(), 's3');
    writers.push({ close: () => (dynamodb.destroy(), s3.destroy()) });
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    const handler = mod.createSweeperHandler({ sweeper: { dynamodb, s3 } });

    const { error } = await captureStdout(() => handler(scheduledEvent({ housekeeping: false }), lambdaContext('tierlog-sweeper')));
    const sentByTheInvocation = recorder.commands.length;
    // Lambda may freeze the environment now: what the sweep still had running would go on in a
    // later invocation, or never. Give it time to show.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(recorder.names().slice(sentByTheInvocation), 'requests sent after the handler returned').toEqual([]);
    // (The handler's module is loaded afresh: its error classes are not this file's.)
    expect(error).toMatchObject({ name: 'AccessDeniedError', message: expect.stringMatching(/listExpired/) });
    // Shard 1 was swept in full before the invocation failed.
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
  });

  test("a dry run whose shard's lease-index query fails: the invocation fails, and the blobs the other shards' sweep would delete are still listed in the log", async () => {
    const fx = await freshFixture();
    // Fenced by an earlier sweep, in shard 1: a sweep now would delete its blob.
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    const { handler } = await shard0Failing(fx, () =>
      Object.assign(new Error('injected: not authorized'), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} }),
    );
    const image = await snapshot(fx);

    const { error, out } = await captureStdout(() =>
      handler(scheduledEvent({ housekeeping: false, dryRun: true }), lambdaContext('tierlog-sweeper')),
    );
    expect(error).toMatchObject({ name: 'AccessDeniedError' });
    // The list the operator asked for, of the shard that answered (it was lost with the error).
    const listed = jsonLines(out).filter((l) => Array.isArray(l.wouldDelete));
    expect(listed.map((l) => l.wouldDelete)).toEqual([blobs]);
    // A dry run still: nothing changed, nothing published.
    expect(await snapshot(fx)).toBe(image);
    expect(await rawInstance(fx, instanceId)).toBeDefined();
    expect(emfDocuments(out)).toEqual([]);
  });

  test("a shard's lease-index query throttled past the SDK's retries: the invocation fails, and the metrics of what the other shards did are published", async () => {
    const fx = await freshFixture();
    // Fenced by an earlier sweep, in shard 1: this invocation judges it and deletes its blob.
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true, shard: 1 });
    // Every attempt of shard 0's query is throttled, as a hot index partition is: the SDK's
    // retries run out and the query fails with ProvisionedThroughputExceededException.
    const { injector, handler } = await shard0Failing(fx, indexThrottled);

    const { error, out } = await captureStdout(() => handler(scheduledEvent({ housekeeping: false }), lambdaContext('tierlog-sweeper')));
    expect(injector.stats.injected.fail, "the SDK's retries were spent").toBeGreaterThan(1);
    // The invocation fails with the query's own error, as before...
    expect(error).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    // ... after shard 1 was swept in full ...
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, blobs[0]!)).toBeUndefined();
    // ... and what that sweep did and found is published: the alarms on quarantined entries, stuck
    // instances and the backlog's age see every sweep, not only those where every shard answered.
    const values = Object.assign({}, ...emfDocuments(out));
    expect(values).toMatchObject({ InstancesExpired: 1, InstancesClaimed: 1, EntriesRecovered: 1, BlobsDeleted: 1, SweepErrors: 1 });
    expect(values.OldestExpiredAge).toBeGreaterThan(0);
  });

  test("a shard's lease-index query failed and no other shard had an expired instance: no OldestExpiredAge of 0 for the shard not read", async () => {
    const fx = await freshFixture();
    // Dead an hour, in shard 0, whose query fails: the sweep never sees it.
    const { instanceId } = await putDeadInstance(fx, { shard: 0 });
    // A lease 10 hours ahead in shard 1 (a writer clock far ahead): claimed and counted stuck,
    // so the sweep shows something and its metrics are published.
    await putRawInstance(fx, { shard: 1, leaseUntil: Date.now() + 10 * 3_600_000, entries: {} });
    const { injector, handler } = await shard0Failing(fx, indexThrottled);

    const { error, out } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(error).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    const values = Object.assign({}, ...emfDocuments(out));
    expect(values).toMatchObject({ InstancesExpired: 0, StuckInstances: 1, SweepErrors: 1 });
    // Its 0 took the backlog alarm back to OK with the instance still waiting an hour.
    expect(values, 'no OldestExpiredAge of 0 for a shard not read').not.toHaveProperty('OldestExpiredAge');
    expect(await rawInstance(fx, instanceId)).toMatchObject({ state: 'live' });
  });

  // The default deployment (one schedule over every lease shard), one shard's query failing at
  // each sweep and nothing to do in the others: the invocation failed with nothing published, so
  // SweeperNotRunning paged "the sweeper is not running" (check the schedules) for a sweeper that
  // ran every schedule and swept its other shards; the errors alarm alone tells the failure.
  test("a shard's lease-index query failed and the other shards held nothing to do: the sweep is still published (its heartbeat), no OldestExpiredAge", async () => {
    const fx = await freshFixture();
    const { injector, handler } = await shard0Failing(fx, indexThrottled);

    const { error, out } = await captureStdout(() => handler(scheduledEvent({ housekeeping: false }), lambdaContext('tierlog-sweeper')));
    expect(injector.stats.injected.fail).toBeGreaterThan(0);
    expect(error).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    const values = Object.assign({}, ...emfDocuments(out));
    expect(values).toMatchObject({ InstancesExpired: 0, SweepErrors: 1 });
    expect(values.SweepDuration, 'the heartbeat SweeperNotRunning counts').toEqual(expect.any(Number));
    expect(values, 'no OldestExpiredAge of 0 for the shard not read').not.toHaveProperty('OldestExpiredAge');
  });

  test.each([
    ['TIERLOG_SWEEP_CONCURRENCY', '0'],
    ['TIERLOG_SHARDLESS_SCAN_SEGMENTS', '1000000'],
    ['TIERLOG_SHARDLESS_SCAN_PAGES', '0'],
    ['TIERLOG_QUARANTINE_RECHECK_MS', '1000'],
    ['TIERLOG_RETRY_FAILED_MS', '1 minute'],
  ])('malformed tuning in the environment fails at load: %s=%s, the variable named', async (variable, value) => {
    const fx = await freshFixture();
    // A module that fails to load returns no restore: the variable is put back here.
    restores.push(() => delete process.env[variable]);
    await expect(sweeperHandler(fx, { [variable]: value })).rejects.toThrow(new RegExp(`^${variable} `));
  });
});
