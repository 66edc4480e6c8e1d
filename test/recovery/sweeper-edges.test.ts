/**
 * The sweeper's ways out that the other recovery tests leave aside, against the real local
 * servers: a delete batch S3 answers in part before it fails, a sweeper whose claim expired while
 * it worked and whose instance another sweeper took over and drained, and an instance item too
 * large for the claim's write. Each checks the report (what the metrics publish) against what
 * the bucket and the change log hold afterwards, read from outside.
 */
import { DeleteItemCommand, type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { DEFAULT_CLAIM_MS, DEFAULT_SKEW_MARGIN_MS } from '../../lib/constants.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { awsServiceError, batchDeleteThenSecondKeyFailing, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { ConfigError, ValidationError } from '../../lib/errors.js';
import type { SweepLogger } from '../../lib/recovery/sweeper.js';
import { newChangeId } from '../../lib/ids.js';
import { collectStatus } from '../../lib/cli/status.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { freshFixture } from '../support/local.js';
import {
  PAST_WINDOW_MS,
  allKeys,
  entryNames,
  expectClean,
  fenceThenSweep,
  KiB,
  makeWriter,
  pointItemAt,
  putDeadInstance,
  putRawInstance,
  rawBlobKey,
  rawInstance,
  rawPutObject,
  rawState,
  randomBody,
  sweepPastEverything,
  sweepersClosedAfterEach,
  isDropRequest,
  putClaimedInstanceOfMany,
} from '../tiered/harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const { open, sweeperAt } = sweepersClosedAfterEach();

/** Past a judging sweep's claim (5 min) and the skew margin: another sweeper may take it over. */
const PAST_CLAIM_MS = DEFAULT_CLAIM_MS + DEFAULT_SKEW_MARGIN_MS + MIN;

/**
 * A DynamoDB client whose requests matching `refused` are throttled, every call (so past the SDK's
 * retries: the middleware sits outside them); closed after the test.
 */
function throttledWhere(refused: (command: string, input: Record<string, unknown>) => boolean): DynamoDBClient {
  const dynamodb = createDynamoDBClient();
  dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if (refused(context.commandName ?? '', args.input as Record<string, unknown>))
        throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), { name: 'ThrottlingException' });
      return next(args);
    },
    { step: 'initialize', name: 'throttledForTest' },
  );
  open.push({ close: () => dynamodb.destroy() });
  return dynamodb;
}

describe('a delete batch S3 answered in part, then failed (DeleteObjects 500, one by one, the second throttled)', () => {
  test('the blobs S3 confirmed deleted are counted; every entry is kept; a later sweep recovers them', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 3, shard: 0 });
    const injector = new FaultInjector();
    for (const rule of batchDeleteThenSecondKeyFailing()) injector.add(rule);
    const { judge } = await fenceThenSweep(fx, 0, {}, { injector });
    const left = await allKeys(fx);
    // S3 deleted the first key before the error: the report says so (it said 0).
    expect(left).toHaveLength(2);
    expect(judge).toMatchObject({ instancesClaimed: 1, entriesRecovered: 0, entriesFailed: 0, errors: 1 });
    expect(judge.blobsDeleted).toBe(blobs.length - left.length);
    // No entry dropped on a batch that failed: each is kept with the claim.
    expect(entryNames(await rawInstance(fx, instanceId))).toHaveLength(3);
    expect(await sweeperAt(fx, PAST_WINDOW_MS + PAST_CLAIM_MS).sweep()).toMatchObject({ entriesRecovered: 3, errors: 0 });
    await expectClean(fx, expect);
    expect((await rawState(fx)).instances).toEqual([]);
  });
});

describe('a delete batch S3 answered in part before it failed, and a later batch of the same sweep naming a blob it deleted', () => {
  test('the blob is counted once: BlobsDeleted says how many blobs left the bucket', async () => {
    const fx = await freshFixture();
    const since = Date.now() - HOUR;
    const fenced = { state: 'claimed', claimedBy: 'dead-sweeper', firstSeen: since, leaseUntil: since };
    // Writer 1 put X (object A) and V (object B), neither committed; writer 2 put Y over X and
    // committed, then died before deleting X. Writer 1's instance is in shard 0, writer 2's in shard 1.
    const [a, b] = [`a/${newChangeId()}`, `b/${newChangeId()}`];
    const [x, v, y] = [rawBlobKey(fx, a), rawBlobKey(fx, b), rawBlobKey(fx, a)];
    for (const blob of [x, v, y]) await rawPutObject(fx, blob, randomBody(64));
    await pointItemAt(fx, a, y);
    await putRawInstance(fx, { ...fenced, shard: 0, entries: { [newChangeId()]: { v: 1, id: a, at: since, new: x } } });
    await putRawInstance(fx, { ...fenced, shard: 0, entries: { [newChangeId()]: { v: 1, id: b, at: since, new: v } } });
    await putRawInstance(fx, { ...fenced, shard: 1, entries: { [newChangeId()]: { v: 1, id: a, at: since, new: y, old: x } } });
    const injector = new FaultInjector()
      // Shard 1's instance comes after shard 0's deletes were answered: a batch of its own.
      .add({
        kind: 'delay',
        delayMs: 1_500,
        match: (r) =>
          r.command === 'QueryCommand' &&
          r.input.IndexName !== undefined &&
          (r.input.ExpressionAttributeValues as Record<string, { N?: string }>)[':shard']?.N === '1',
      })
      // Shard 0's batch: DeleteObjects fails whole, its keys go one by one, X's delete lands, V's is throttled.
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) })
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand' && r.input.Key === v,
        error: () => awsServiceError('SlowDown', 503),
      });
    const report = await sweeperAt(fx, 0, { injector }).sweep({ housekeeping: false });
    expect(await allKeys(fx)).toEqual([v, y].sort());
    // Each instance of the failed batch keeps its entries (an error each); writer 2's entry is recovered.
    expect(report).toMatchObject({ instancesClaimed: 3, entriesRecovered: 1, errors: 2 });
    // One blob (X) left the bucket: it said 2, X once for the failed batch and again for writer 2's.
    expect(report.blobsDeleted).toBe(1);
  });
});

describe('two sweepers on the same instance: the first outlives its claim, the second takes it over and drains it', () => {
  test("the first's delete of the item, gone, is not counted again: each entry and the drain counted once", async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 3, shard: 1 });
    await sweeperAt(fx, 0).sweep(); // first sighting: fenced
    // A judges; its DeleteObjects is slow: by its answer, A's claim has expired (A's clock moved
    // past it), and B, a sweeper of the same shards, took the instance over and drained it.
    let offsetA = PAST_WINDOW_MS;
    let b: SweepReport | undefined;
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 1,
      times: 1,
      match: (r) => r.command === 'DeleteObjectsCommand',
      before: async () => {
        b = await sweeperAt(fx, PAST_WINDOW_MS + PAST_CLAIM_MS).sweep();
        offsetA += PAST_CLAIM_MS;
      },
    });
    const a = await sweeperAt(fx, 0, { injector, clock: () => Date.now() + offsetA }).sweep();
    expect(injector.stats.injected.delay).toBe(1);
    expect(b).toMatchObject({ instancesClaimed: 1, entriesRecovered: 3, instancesDrained: 1, errors: 0 });
    expect(a).toMatchObject({ instancesClaimed: 1, errors: 0 });
    // Summed over both (what the dashboard shows): each entry recovered once, one drain.
    expect(a.entriesRecovered + b!.entriesRecovered).toBe(blobs.length);
    expect(a.instancesDrained + b!.instancesDrained).toBe(1);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test("a retry of the sweeper's own drain whose answer was lost, within its claim, is still counted", async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { count: 2, shard: 2 });
    const injector = new FaultInjector().add({
      kind: 'loseResponse',
      times: 1,
      match: (r) => r.command === 'DeleteItemCommand' && String(r.input.ConditionExpression).includes('#by = :me'),
    });
    const { judge } = await fenceThenSweep(fx, 0, {}, { injector });
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(judge).toMatchObject({ instancesClaimed: 1, entriesRecovered: 2, instancesDrained: 1, blobsDeleted: 2, errors: 0 });
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('a sweeper whose claim another took over while its deletes ran counts none of the drops it could not make', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { count: 3, shard: 1, fenced: true });
    // While A's DeleteObjects runs, another sweeper takes the instance over (A's claim ran out).
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 1,
      times: 1,
      match: (r) => r.command === 'DeleteObjectsCommand',
      before: async () => {
        await fx.dynamodb.send(
          new UpdateItemCommand({
            TableName: fx.config.changeLogTable,
            Key: { pk: { S: instanceId } },
            UpdateExpression: 'SET claimedBy = :other, leaseUntil = :until',
            ExpressionAttributeValues: { ':other': { S: 'another-sweeper' }, ':until': { N: String(Date.now() + 3_600_000) } },
          }),
        );
      },
    });
    const a = await sweeperAt(fx, 0, { injector }).sweep();
    expect(injector.stats.injected.delay).toBe(1);
    expect(a).toMatchObject({ instancesClaimed: 1, blobsDeleted: 3, entriesRecovered: 0, instancesDrained: 0, errors: 0 });
    const item = await rawInstance(fx, instanceId);
    expect(item).toMatchObject({ state: 'claimed', claimedBy: 'another-sweeper' });
    expect(entryNames(item), 'its drops were not made: the other sweeper settles them').toHaveLength(3);
  });

  test('the same with an entry kept (a delete S3 refused): its settle fails, and none of its drops is counted', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 3, shard: 1, fenced: true });
    // The batch delete fails whole (another sweeper takes the instance over meanwhile); one by one,
    // S3 refuses the first blob: that entry is kept for a retry, the others dropped, so A settles
    // (drops and a new expiry) rather than deletes the item, under a claim no longer its own.
    const injector = new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectsCommand',
        before: async () => {
          await fx.dynamodb.send(
            new UpdateItemCommand({
              TableName: fx.config.changeLogTable,
              Key: { pk: { S: instanceId } },
              UpdateExpression: 'SET claimedBy = :other, leaseUntil = :until',
              ExpressionAttributeValues: { ':other': { S: 'another-sweeper' }, ':until': { N: String(Date.now() + 3_600_000) } },
            }),
          );
        },
        error: () => awsServiceError('InternalError', 500),
      })
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand' && r.input.Key === blobs[0], error: s3AccessDenied });
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(`error: ${m}`) };
    const a = await sweeperAt(fx, 0, { injector, logger }).sweep();
    expect(a).toMatchObject({
      instancesClaimed: 1,
      blobsDeleted: 2,
      entriesFailed: 1,
      entriesRecovered: 0,
      instancesDrained: 0,
      errors: 0,
    });
    expect(warnings).toContain('claim lost before settling');
    const item = await rawInstance(fx, instanceId);
    expect(item).toMatchObject({ state: 'claimed', claimedBy: 'another-sweeper' });
    expect(entryNames(item), 'its drops were not made: the other sweeper settles them').toHaveLength(3);
  });
});

describe('a dry run whose instance is gone before it reads it (drained by a sweeper meanwhile)', () => {
  test('nothing counted for it, no error, nothing deleted', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 1, fenced: true });
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => r.command === 'GetItemCommand' && JSON.stringify(r.input).includes(instanceId),
      before: async () => {
        await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: { pk: { S: instanceId } } }));
      },
    });
    const report = await sweeperAt(fx, 0, { injector }).sweep({ dryRun: true });
    expect(injector.stats.injected.delay).toBe(1);
    expect(report).toMatchObject({ instancesClaimed: 0, entriesRecovered: 0, entriesQuarantined: 0, blobsDeleted: 0, errors: 0 });
    expect(await allKeys(fx)).toEqual(blobs);
  });
});

describe('an instance another sweeper claimed after the lease index showed it, before the sweep read or claimed it', () => {
  // A dry run behind a busy pool reads an instance long after its query page: the scheduled
  // sweeper may have claimed it meanwhile. The real sweep's claim is refused then (skipped); the
  // dry run read the item and reported its blobs as ones it would delete, the other sweeper's work.
  test.each([true, false])('dryRun %s: skipped, nothing would be (or is) deleted; the two reports agree', async (dryRun) => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { count: 2, fenced: true });
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => ['GetItemCommand', 'UpdateItemCommand'].includes(r.command) && JSON.stringify(r.input).includes(instanceId),
      before: async () => {
        await fx.dynamodb.send(
          new UpdateItemCommand({
            TableName: fx.config.changeLogTable,
            Key: { pk: { S: instanceId } },
            UpdateExpression: 'SET claimedBy = :by, leaseUntil = :until',
            ExpressionAttributeValues: { ':by': { S: 'another-sweeper' }, ':until': { N: String(Date.now() + DEFAULT_CLAIM_MS) } },
          }),
        );
      },
    });
    const report = await sweeperAt(fx, 0, { injector }).sweep({ dryRun });
    expect(injector.stats.injected.delay).toBe(1);
    expect(report).toMatchObject({
      instancesExpired: 1,
      instancesSkipped: 1,
      entriesRecovered: 0,
      entriesDeferred: 0,
      blobsDeleted: 0,
      wouldDelete: [],
      errors: 0,
    });
    expect((await allKeys(fx)).sort()).toEqual([...blobs].sort());
    expect(await rawInstance(fx, instanceId)).toMatchObject({ state: 'claimed', claimedBy: 'another-sweeper' });
  });
});

describe('an instance item too large for the claim to write (near DynamoDB’s 400 KB)', () => {
  /** An expired instance item grown to the largest size DynamoDB takes, naming an orphan. */
  async function hugeInstance() {
    const fx = await freshFixture();
    const blob = rawBlobKey(fx, 'huge/a');
    await rawPutObject(fx, blob, 'orphan');
    const instanceId = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: { v: 1, id: 'huge/a', at: Date.now() - HOUR, new: blob } },
    });
    // Grown (not by this library's writers) to the largest size DynamoDB takes.
    const grow = (size: number) =>
      fx.dynamodb.send(
        new UpdateItemCommand({
          TableName: fx.config.changeLogTable,
          Key: { pk: { S: instanceId } },
          UpdateExpression: 'SET padding_x = :p',
          ExpressionAttributeValues: { ':p': { S: 'x'.repeat(size) } },
        }),
      );
    let lo = 400_000;
    let hi = 409_600;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (
        await grow(mid).then(
          () => true,
          () => false,
        )
      )
        lo = mid;
      else hi = mid - 1;
    }
    await grow(lo);
    return { fx, instanceId, blob };
  }

  test('quarantined whole on every sweep, never an error; nothing deleted, the item left as it was', async () => {
    const { fx, instanceId, blob } = await hugeInstance();
    const before = await rawInstance(fx, instanceId);
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(`error: ${m}`) };
    for (const offset of [0, PAST_WINDOW_MS]) {
      const report = await sweeperAt(fx, offset, { logger }).sweep();
      expect(report).toMatchObject({ instancesExpired: 1, instancesClaimed: 0, entriesQuarantined: 1, blobsDeleted: 0, errors: 0 });
    }
    expect(warnings).toEqual(['instance quarantined', 'instance quarantined']);
    expect(await rawInstance(fx, instanceId)).toEqual(before);
    expect(await allKeys(fx)).toEqual([blob]);
  });

  test('gone between the refused claim and the read of it (retired by its writer, drained by another sweeper): skipped, not quarantined, no error', async () => {
    const { fx, instanceId } = await hugeInstance();
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => r.command === 'GetItemCommand' && JSON.stringify(r.input).includes(instanceId),
      before: async () => {
        await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: { pk: { S: instanceId } } }));
      },
    });
    const report = await sweeperAt(fx, 0, { injector }).sweep();
    expect(injector.stats.injected.delay).toBe(1);
    expect(report).toMatchObject({ instancesClaimed: 0, instancesSkipped: 1, entriesQuarantined: 0, errors: 0 });
  });

  test('its claim refused after the sweep was cut off at its deadline: no read of the item follows, nothing counted, the item as it was', async () => {
    const { fx, instanceId } = await hugeInstance();
    const before = await rawInstance(fx, instanceId);
    // The claim is held while the sweeper's clock jumps past the deadline; the test lets it go
    // once the sweep has returned.
    let jump = 0;
    let release = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: atStep('claim', fx.config),
      before: async () => {
        jump = 10 * MIN;
        await released;
      },
    });
    const recorder = new CommandRecorder();
    open.push({ close: release });
    const sweep = sweeperAt(fx, 0, { injector, recorder, clock: () => Date.now() + jump }).sweep({ deadline: Date.now() + 5 * MIN });
    const report = await sweep;
    expect(injector.stats.injected.delay).toBe(1);
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 0, entriesQuarantined: 0, errors: 0 });
    const sentBeforeReturn = recorder.commands.length;
    release();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // The claim's answer (ItemTooLarge) came after the sweep returned: nothing is started for it.
    expect(recorder.names().slice(sentBeforeReturn), 'requests started after the sweep returned').toEqual([]);
    expect(await rawInstance(fx, instanceId)).toEqual(before);
  });

  test('a claim that fails (throttled past the SDK retries) is an error of the sweep, not a quarantine; the next sweep takes the instance', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx, { fenced: true });
    const before = await rawInstance(fx, instanceId);
    const dynamodb = throttledWhere(
      (command, input) => command === 'UpdateItemCommand' && String(input.UpdateExpression).startsWith('SET #state = :claimed'),
    );
    expect(await sweeperAt(fx, 0, { dynamodb }).sweep()).toMatchObject({
      errors: 1,
      entriesQuarantined: 0,
      instancesClaimed: 0,
      entriesRecovered: 0,
    });
    expect(await rawInstance(fx, instanceId)).toEqual(before);
    expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 1, entriesQuarantined: 0, errors: 0 });
    await expectClean(fx, expect);
  });

  test('a drain that fails (throttled past the SDK retries) is an error of the sweep; the blob is gone, the entry kept for the next sweep', async () => {
    const fx = await freshFixture();
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
    const dynamodb = throttledWhere((command) => command === 'DeleteItemCommand');
    expect(await sweeperAt(fx, 0, { dynamodb }).sweep()).toMatchObject({
      errors: 1,
      instancesClaimed: 1,
      blobsDeleted: 1,
      entriesRecovered: 0,
      instancesDrained: 0,
    });
    expect(await allKeys(fx)).not.toContain(blobs[0]);
    expect((await rawInstance(fx, instanceId))?.state).toBe('claimed');
    expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 1, instancesDrained: 1, errors: 0 });
    await expectClean(fx, expect);
  });
});

describe('an instance item whose header the claim would launder (written by something else)', () => {
  test.each([
    ['a claimant that is not a string', 'SET claimedBy = :v', { ':v': { N: '7' } }],
    ['a state neither live nor claimed', 'SET #s = :v', { ':v': { S: 'zombie' } }],
  ])('%s: quarantined whole on every sweep, never claimed (its blob would be judged)', async (_, update, values) => {
    const fx = await freshFixture();
    const blob = rawBlobKey(fx, 'corrupt-claimant/a');
    await rawPutObject(fx, blob, 'orphan');
    const instanceId = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: { v: 1, id: 'corrupt-claimant/a', at: Date.now() - HOUR, new: blob } },
    });
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.changeLogTable,
        Key: { pk: { S: instanceId } },
        UpdateExpression: update,
        ...(update.includes('#s') ? { ExpressionAttributeNames: { '#s': 'state' } } : {}),
        ExpressionAttributeValues: values,
      }),
    );
    const before = await rawInstance(fx, instanceId);
    for (const offset of [0, PAST_WINDOW_MS]) {
      const report = await sweeperAt(fx, offset).sweep();
      expect(report).toMatchObject({ instancesClaimed: 0, entriesQuarantined: 1, blobsDeleted: 0, errors: 0 });
    }
    expect(await rawInstance(fx, instanceId)).toEqual(before);
    expect(await allKeys(fx)).toEqual([blob]);
  });
});

describe('an instance item whose header the claim refuses, quarantined whole on every sweep beside a dead writer recovered', () => {
  test("its age is no backlog: OldestExpiredAge is the recoverable instance's, then 0, as tierlog status names none", async () => {
    const fx = await freshFixture();
    const corrupt = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() - 3 * HOUR,
      entries: { [newChangeId()]: { v: 1, id: 'refused-header/a', at: Date.now() - 3 * HOUR, new: rawBlobKey(fx, 'refused-header/a') } },
    });
    // A claimant that is not a string: the claim refuses the header, so the item is never claimed.
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.changeLogTable,
        Key: { pk: { S: corrupt } },
        UpdateExpression: 'SET claimedBy = :v',
        ExpressionAttributeValues: { ':v': { N: '7' } },
      }),
    );
    await putDeadInstance(fx, { since: Date.now() - HOUR });
    const first = await sweeperAt(fx, 0).sweep();
    expect(first).toMatchObject({ instancesExpired: 2, instancesClaimed: 1, entriesQuarantined: 1, errors: 0 });
    // The dead writer's lease ended an hour ago; the refused item's three hours ago is not a wait for recovery.
    expect(first.oldestExpiredAgeMs).toBeGreaterThanOrEqual(HOUR);
    expect(first.oldestExpiredAgeMs).toBeLessThan(2 * HOUR);
    const judged = await sweeperAt(fx, PAST_WINDOW_MS).sweep();
    expect(judged).toMatchObject({ instancesDrained: 1, entriesQuarantined: 1, errors: 0 });
    expect(judged.oldestExpiredAgeMs).toBeLessThan(2 * HOUR);
    // Nothing left a sweep can recover: the backlog alarm's data point is 0 (EntriesQuarantined tells the item).
    const idle = await sweeperAt(fx, PAST_WINDOW_MS + MIN).sweep();
    expect(idle).toMatchObject({ instancesExpired: 1, entriesQuarantined: 1, stoppedEarly: false, errors: 0 });
    expect(idle.oldestExpiredAgeMs).toBe(0);
    const io = { stdout: { write: () => true }, stderr: { write: () => true } };
    const ctx = { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now() + PAST_WINDOW_MS + MIN, io, env: {} };
    const status = await collectStatus(ctx as unknown as Parameters<typeof collectStatus>[0]);
    expect(status.oldestExpiredAgeMs).toBeNull();
    expect(status.corruptItems.map((c) => c.instanceId)).toEqual([corrupt]);
  });
});

describe('an expired instance whose counter says 0 beside its entry (a hand edit, another tool)', () => {
  test('not retired with its entry: claimed and judged, its orphan blob deleted, the item drained', async () => {
    const fx = await freshFixture();
    const blob = rawBlobKey(fx, 'miscounted/a');
    await rawPutObject(fx, blob, 'orphan');
    const instanceId = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: Date.now() - HOUR,
      entries: { [newChangeId()]: { v: 1, id: 'miscounted/a', at: Date.now() - HOUR, new: blob } },
    });
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.changeLogTable,
        Key: { pk: { S: instanceId } },
        UpdateExpression: 'SET n = :zero',
        ExpressionAttributeValues: { ':zero': { N: '0' } },
      }),
    );
    for (const offset of [0, PAST_WINDOW_MS]) expect((await sweeperAt(fx, offset).sweep()).errors).toBe(0);
    expect(await allKeys(fx)).toEqual([]);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    await expectClean(fx, expect);
  });
});

describe('a sweeper that dies at any of its requests, before or after it is sent: later sweepers settle every state', () => {
  type Match = (r: RequestInfo) => boolean;
  const condition = (r: RequestInfo) => String(r.input.ConditionExpression ?? '');
  const query: Match = (r) => r.command === 'QueryCommand';
  const claim: Match = (r) => r.command === 'UpdateItemCommand' && String(r.input.UpdateExpression).includes('#by = :me');
  const hvRead: Match = (r) => r.command === 'BatchGetItemCommand';
  const deleteObjects: Match = (r) => r.command === 'DeleteObjectsCommand';
  /**
   * The sweeps, in order: 0 the first sighting (retires the empty instance, fences the other), 1
   * one window later (judges, deletes, aborts the abandoned upload, keeps the deferred entry), 2
   * past the deferred entry's cleanupAfter (deletes its blob, drains the item). Each request, at
   * a sweep that sends it.
   */
  const requests: Array<[string, Match, 0 | 1 | 2]> = [
    ['lease-index query', query, 0],
    ['retire', (r) => r.command === 'DeleteItemCommand' && condition(r).includes('#n = :zero'), 0],
    ['first claim', claim, 0],
    ['lease-index query', query, 1],
    ['claim', claim, 1],
    ['HV read', hvRead, 1],
    ['DeleteObjects', deleteObjects, 1],
    ['upload listing', (r) => r.command === 'ListMultipartUploadsCommand', 1],
    ['upload abort', (r) => r.command === 'AbortMultipartUploadCommand', 1],
    ['settle', (r) => r.command === 'UpdateItemCommand' && condition(r).startsWith('#state = :claimed AND #by = :me'), 1],
    ['claim', claim, 2],
    ['HV read', hvRead, 2],
    ['lone DeleteObject', (r) => r.command === 'DeleteObjectCommand', 2],
    ['drain', (r) => r.command === 'DeleteItemCommand' && condition(r) === '#state = :claimed AND #by = :me', 2],
  ];
  const cases = requests.flatMap(([name, match, sweep]) =>
    (['crashBefore', 'crashAfter'] as const).map((kind) => [`${name} at sweep ${sweep}, ${kind}`, match, kind, sweep] as const),
  );

  test.each(cases)('%s', async (_name, match, kind, at) => {
    const fx = await freshFixture();
    // A committed overwrite whose writer died (old garbage, new current), a never-committed large
    // put with its multipart upload in progress, an entry deferred two hours, an empty instance.
    const w = makeWriter(fx);
    open.push(w);
    await w.store.put('obj', randomBody(40 * KiB));
    const current = (await rawState(fx)).references.get('obj')!;
    const old = rawBlobKey(fx, 'obj');
    await rawPutObject(fx, old, 'replaced');
    const abandoned = rawBlobKey(fx, 'never');
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: abandoned }));
    const later = rawBlobKey(fx, 'later');
    await rawPutObject(fx, later, 'later');
    const since = Date.now() - HOUR;
    await putRawInstance(fx, {
      shard: 0,
      leaseUntil: since,
      entries: {
        [newChangeId()]: { v: 1, id: 'obj', at: since, new: current, old },
        [newChangeId()]: { v: 1, id: 'never', at: since, new: abandoned },
        [newChangeId()]: { v: 1, id: 'later', at: since, new: later, ca: Date.now() + 2 * HOUR },
      },
    });
    await putRawInstance(fx, { shard: 0, leaseUntil: since, entries: {} });

    const injector = new FaultInjector().add({ kind, match, times: 1 });
    const offsets = [0, PAST_WINDOW_MS, 3 * HOUR];
    for (const [i, offset] of offsets.entries()) {
      // The dying sweeper's report or rejection is of no interest: only the state it leaves.
      await sweeperAt(fx, offset, i === at ? { injector } : {})
        .sweep()
        .catch(() => undefined);
    }
    expect(injector.crashedAt, 'the crash fired').toBeDefined();
    // Heirs, past the dead sweeper's claim (and, for a first sighting of theirs, its window).
    for (const offset of [3 * HOUR + PAST_CLAIM_MS, 3 * HOUR + 2 * PAST_CLAIM_MS + PAST_WINDOW_MS]) {
      expect((await sweeperAt(fx, offset).sweep()).errors).toBe(0);
    }
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
    expect(after.references.get('obj')).toBe(current);
    const uploads = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
    expect(uploads.Uploads ?? []).toEqual([]);
  });
});

describe('1, 2 and 4 sweepers splitting the lease shards (fan-out), with a second run of the same split overlapping the first', () => {
  const splits: Record<number, number[][]> = {
    1: [[0, 1, 2, 3]],
    2: [
      [0, 2],
      [1, 3],
    ],
    4: [[0], [1], [2], [3]],
  };
  test.each([1, 2, 4])(
    '%i: every instance taken by the sweepers of its shard only; each entry, drain, retire and blob counted once',
    async (n) => {
      const fx = await freshFixture();
      const dead: Array<{ instanceId: string; blobs: string[] }> = [];
      for (let i = 0; i < 12; i++) dead.push(await putDeadInstance(fx, { count: (i % 3) + 1, shard: i % fx.config.leaseShards }));
      for (let shard = 0; shard < fx.config.leaseShards; shard++)
        await putRawInstance(fx, { shard, leaseUntil: Date.now() - HOUR, entries: {} });
      const entries = dead.reduce((sum, d) => sum + d.blobs.length, 0);
      const reports: SweepReport[] = [];
      for (const offset of [0, PAST_WINDOW_MS]) {
        // Each share swept twice at once (the schedule's run and an overlapping one), with housekeeping.
        const runs = splits[n]!.flatMap((shards) => [0, 1].map(() => sweeperAt(fx, offset, { concurrency: 2 }).sweep({ shards })));
        reports.push(...(await Promise.all(runs)));
      }
      const sum = (field: keyof SweepReport) => reports.reduce((acc, r) => acc + (r[field] as number), 0);
      expect(sum('errors')).toBe(0);
      expect(sum('instancesRetired')).toBe(fx.config.leaseShards);
      expect(sum('entriesRecovered')).toBe(entries);
      expect(sum('instancesDrained')).toBe(dead.length);
      expect(sum('blobsDeleted')).toBe(entries);
      // The scan for items outside the shards runs in the sweeps that cover shard 0 only; it finds none.
      expect(sum('stuckInstances')).toBe(0);
      await expectClean(fx, expect);
      expect((await rawState(fx)).instances).toEqual([]);
    },
  );
});

describe('the skew margin: a lease is taken only once it ended more than TIERLOG_SKEW_MARGIN_MS ago by the sweeper’s clock', () => {
  test('a lease that ended within the margin (a writer whose clock is behind) is left live; past it, the instance is fenced', async () => {
    const fx = await freshFixture();
    // By the sweeper's clock the lease ended half a margin ago: a writer whose clock lags by that
    // much still takes itself for inside it, and may commit.
    const { instanceId } = await putDeadInstance(fx, { count: 1, since: Date.now() - DEFAULT_SKEW_MARGIN_MS / 2 });
    expect(await sweeperAt(fx, 0).sweep()).toMatchObject({ instancesClaimed: 0, instancesExpired: 0, errors: 0 });
    expect((await rawInstance(fx, instanceId))?.state).toBe('live');
    expect(await sweeperAt(fx, DEFAULT_SKEW_MARGIN_MS).sweep()).toMatchObject({ instancesClaimed: 1, errors: 0 });
    expect((await rawInstance(fx, instanceId))?.state).toBe('claimed');
  });
});

describe('two dead writers of one object, the second having replaced the first’s blob: one blob named by both instances', () => {
  /** Writer 1 put X over W and died before deleting W; writer 2 put Y over X and died before deleting X. HV points at Y. */
  async function twoOverwriters(fx: Awaited<ReturnType<typeof freshFixture>>) {
    const id = `shared/${newChangeId()}`;
    const [w, x, y] = [rawBlobKey(fx, id), rawBlobKey(fx, id), rawBlobKey(fx, id)];
    for (const blob of [w, x, y]) await rawPutObject(fx, blob, randomBody(64));
    await pointItemAt(fx, id, y);
    const since = Date.now() - HOUR;
    const fenced = { state: 'claimed', claimedBy: 'dead-sweeper', firstSeen: since, leaseUntil: since };
    await putRawInstance(fx, { ...fenced, entries: { [newChangeId()]: { v: 1, id, at: since, new: x, old: w } } });
    await putRawInstance(fx, { ...fenced, entries: { [newChangeId()]: { v: 1, id, at: since, new: y, old: x } } });
    return { w, x, y };
  }

  test('the blob both name is deleted once and counted once; both entries recovered', async () => {
    const fx = await freshFixture();
    const { w, x, y } = await twoOverwriters(fx);
    const report = await sweeperAt(fx, 0).sweep();
    expect(await allKeys(fx)).toEqual([y]);
    expect(report).toMatchObject({ instancesClaimed: 2, entriesRecovered: 2, instancesDrained: 2, errors: 0 });
    // Two blobs left the bucket (W and X): the report said 3, X once per instance that named it.
    expect(report.blobsDeleted).toBe([w, x].length);
  });

  test('a dry run lists and counts it once', async () => {
    const fx = await freshFixture();
    const { w, x } = await twoOverwriters(fx);
    const report = await sweeperAt(fx, 0).sweep({ dryRun: true });
    expect([...report.wouldDelete].sort()).toEqual([w, x].sort());
    expect(report.blobsDeleted).toBe(2);
  });
});

describe('an instance with more entries to drop than one settle request takes (48), whose claim another sweeper takes between two of them', () => {
  test('the drops of the request that landed are counted: those entries left the log, and nobody else will count them', async () => {
    const fx = await freshFixture();
    const since = Date.now() - HOUR;
    const { instanceId } = await putClaimedInstanceOfMany(fx, 50, since);
    // Before the second settle request: another sweeper takes the instance over (its claim is the item's now).
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      skip: 1,
      times: 1,
      match: isDropRequest,
      before: async () => {
        await fx.dynamodb.send(
          new UpdateItemCommand({
            TableName: fx.config.changeLogTable,
            Key: { pk: { S: instanceId } },
            UpdateExpression: 'SET claimedBy = :other',
            ExpressionAttributeValues: { ':other': { S: 'another-sweeper' } },
          }),
        );
      },
    });
    const report = await sweeperAt(fx, 0, { injector }).sweep();
    expect(injector.stats.injected.delay).toBe(1);
    const left = entryNames(await rawInstance(fx, instanceId));
    // 48 dropped by the first request; 2 and the quarantined one left to the sweeper that took over.
    expect(left).toHaveLength(3);
    expect(report).toMatchObject({ blobsDeleted: 50, entriesQuarantined: 1, errors: 0 });
    // It said 0: the 48 entries that left the log were counted by nobody.
    expect(report.entriesRecovered).toBe(51 - left.length);
  });
});

describe('a sweeperId that is not a non-empty string (a number or an object from a JS caller, an empty string)', () => {
  test.each([
    ['a number', 42],
    ['an object', { id: 'sweeper-1' }],
    ['an empty string', ''],
  ])(
    '%s is a ConfigError at construction, before any request: its claims would write a claimedBy no claim trusts',
    async (_what, sweeperId) => {
      const fx = await freshFixture();
      const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
      const before = await rawInstance(fx, instanceId);
      // It constructed, and its sweep claimed the instance under a claimedBy the claim's condition
      // refuses (not a string) and quarantined it, on that sweep and every later one's: the entry
      // was never recovered again.
      expect(() => sweeperAt(fx, 0, { sweeperId: sweeperId as string })).toThrow(ConfigError);
      expect(await rawInstance(fx, instanceId)).toEqual(before);
      expect(await allKeys(fx)).toEqual(blobs);
    },
  );
});

describe("a logger without one of info, warn and error (a JS caller's logger of other method names)", () => {
  // It constructed; the sweep claimed, and failed with a TypeError where it first logged with the
  // missing method (warn: a quarantined entry, as here), its report lost; every later sweep alike.
  test.each(['info', 'warn', 'error'])(
    'without %s: a ValidationError naming logger at construction, before any request',
    async (method) => {
      const fx = await freshFixture();
      const at = Date.now() - 2 * HOUR;
      const instanceId = await putRawInstance(fx, {
        state: 'claimed',
        claimedBy: 'a-sweeper-that-died',
        leaseUntil: Date.now() - HOUR,
        firstSeen: at,
        entries: { [newChangeId()]: { v: 1, id: 'q', new: 'elsewhere/blob', at } },
      });
      const before = await rawInstance(fx, instanceId);
      const logger: Record<string, unknown> = { info() {}, warn() {}, error() {} };
      delete logger[method];
      let thrown: unknown;
      try {
        await sweeperAt(fx, 0, { logger: logger as unknown as SweepLogger }).sweep();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ValidationError);
      expect((thrown as ValidationError).field).toBe('logger');
      expect(await rawInstance(fx, instanceId)).toEqual(before);
    },
  );
});
