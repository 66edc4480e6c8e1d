/**
 * The sweeper handler at its invocation's deadline while a request is unanswered: a blob delete
 * held (until the test releases it) while the sweeper's clock reaches the deadline. The handler
 * returns before the context's deadline, with `stoppedEarly`, nothing unconfirmed counted, and
 * its EMF metrics printed (`StoppedEarly` 1); the instance stays claimed with its entry. The
 * answer margin comes from the handler's options or from `TIERLOG_ANSWER_MARGIN_MS`.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { deferred, putDeadInstance, rawGetObject, rawInstance } from '../tiered/harness.js';
import { captureStdout, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';

const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

/**
 * A sweeper handler of `fx` (loaded afresh, with `env`) whose clients go through `injector`, with
 * the sweeper options `sweeper`; its clients are closed after the test.
 */
async function handlerThrough(fx: Fixture, injector: FaultInjector, sweeper: Record<string, unknown>, env?: Record<string, string>) {
  const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
  const s3 = injector.attach(createS3Client(), 's3');
  restores.push(() => {
    dynamodb.destroy();
    s3.destroy();
  });
  const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'), env);
  restores.push(restore);
  return mod.createSweeperHandler({ sweeper: { dynamodb, s3, ...sweeper } });
}

describe('sweeper handler at its deadline', () => {
  test.each([
    ['the option answerMarginMs', 2_000, { answerMarginMs: 2_000 }, {}],
    ['TIERLOG_ANSWER_MARGIN_MS', 7_000, {}, { TIERLOG_ANSWER_MARGIN_MS: '7000' }],
  ])(
    'a blob delete unanswered at the deadline (margin from %s): the handler returns in time, stoppedEarly, metrics printed, the instance kept claimed',
    async (_from, marginMs, option, env) => {
      const fx = await freshFixture();
      // Fenced an hour ago by a sweeper that died: this invocation judges it and deletes its blob.
      const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
      const blob = blobs[0]!;

      // The sweeper's clock stands still until the DeleteObjects is sent, then reaches the instant
      // the sweep must stop waiting (the answer margin before the invocation's deadline); the
      // request is held, so a sweep that waited longer would never answer.
      const t0 = Date.now();
      const remainingMs = 120_000;
      let now = t0;
      const release = deferred();
      const injector = new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: onCommand('DeleteObjects', 'DeleteObject'),
        before: async () => {
          now = t0 + remainingMs - marginMs;
          await release.promise;
        },
      });
      const handler = await handlerThrough(fx, injector, { clock: () => now, ...option }, env);
      const context = { ...lambdaContext('tierlog-sweeper'), getRemainingTimeInMillis: () => t0 + remainingMs - now };

      const { result, error, out } = await captureStdout(() => handler(scheduledEvent(), context));
      expect(error).toBeUndefined();
      expect(context.getRemainingTimeInMillis(), 'returned before the deadline').toBeGreaterThan(0);
      expect(result).toMatchObject({ stoppedEarly: true, instancesClaimed: 1, blobsDeleted: 0, entriesRecovered: 0, errors: 0 });
      const metrics = out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l))
        .filter((d) => d._aws?.CloudWatchMetrics !== undefined);
      const values = Object.assign({}, ...metrics);
      expect(values).toMatchObject({ InstancesExpired: 1, InstancesClaimed: 1, BlobsDeleted: 0, EntriesRecovered: 0, StoppedEarly: 1 });
      expect(values.SweepDuration).toBeDefined();

      const item = await rawInstance(fx, instanceId);
      expect(item).toMatchObject({ state: 'claimed' });
      expect(item!.claimedBy).not.toBe('dead-sweeper');
      expect(Object.keys(item!).filter((k) => k.startsWith('c_'))).toHaveLength(1);
      expect(await rawGetObject(fx, blob)).toBeDefined();
      release.resolve();
    },
  );
});

describe('sweeper handler cut off before its lease-index queries answered', () => {
  // Every shard's query unanswered at the deadline (a throttled or unreachable table): the sweep
  // found no expired instance, though one has waited an hour. Its OldestExpiredAge of 0 told the
  // backlog alarm that nothing waits, and took it back to OK while the instance waited.
  test('publishes no OldestExpiredAge of 0: the age it did not read is not known to be none', async () => {
    const fx = await freshFixture();
    const { instanceId } = await putDeadInstance(fx);

    const t0 = Date.now();
    const remainingMs = 120_000;
    let now = t0;
    const release = deferred();
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      match: onCommand('Query'),
      before: async () => {
        now = t0 + remainingMs - 2_000;
        await release.promise;
      },
    });
    const handler = await handlerThrough(fx, injector, { clock: () => now, answerMarginMs: 2_000 });
    const context = { ...lambdaContext('tierlog-sweeper'), getRemainingTimeInMillis: () => t0 + remainingMs - now };

    const { result, error, out } = await captureStdout(() => handler(scheduledEvent(), context));
    release.resolve();
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ stoppedEarly: true, instancesExpired: 0, errors: 0 });
    const values = Object.assign(
      {},
      ...out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l))
        .filter((d) => d._aws?.CloudWatchMetrics !== undefined),
    );
    expect(values).toMatchObject({ StoppedEarly: 1, InstancesExpired: 0 });
    expect(values.SweepDuration).toBeDefined();
    expect(values, 'no OldestExpiredAge of 0 for an instance an hour old').not.toHaveProperty('OldestExpiredAge');
    expect(await rawInstance(fx, instanceId)).toBeDefined();
  });
});
