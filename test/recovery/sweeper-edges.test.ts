/**
 * The sweeper's ways out that the other recovery tests leave aside, against the real local
 * servers: a delete batch S3 answers in part before it fails, a sweeper whose claim expired while
 * it worked and whose instance another sweeper took over and drained, and an instance item too
 * large for the claim's write. Each checks the report (what the metrics publish) against what
 * the bucket and the change log hold afterwards, read from outside.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { DEFAULT_CLAIM_MS, DEFAULT_SKEW_MARGIN_MS } from '../../lib/constants.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { batchDeleteThenSecondKeyFailing } from '../../lib/faults/s3-answers.js';
import { newChangeId } from '../../lib/ids.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  PAST_WINDOW_MS,
  type SweeperAtOptions,
  allKeys,
  entryNames,
  expectClean,
  fenceThenSweep,
  makeSweeper,
  putDeadInstance,
  putRawInstance,
  rawBlobKey,
  rawInstance,
  rawPutObject,
  rawState,
} from '../tiered/harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

function sweeperAt(fx: Fixture, offsetMs: number, options: SweeperAtOptions = {}) {
  const s = makeSweeper(fx, offsetMs, options);
  open.push(s);
  return s.sweeper;
}

/** Past a judging sweep's claim (5 min) and the skew margin: another sweeper may take it over. */
const PAST_CLAIM_MS = DEFAULT_CLAIM_MS + DEFAULT_SKEW_MARGIN_MS + MIN;

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
});

describe('an instance item too large for the claim to write (near DynamoDB’s 400 KB)', () => {
  test('quarantined whole on every sweep, never an error; nothing deleted, the item left as it was', async () => {
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
});
