/**
 * The sweeper handler at its invocation's deadline while a request is unanswered: a blob delete
 * held (until the test releases it) while the sweeper's clock reaches the deadline. The handler
 * returns before the context's deadline, with `stoppedEarly`, nothing unconfirmed counted, and
 * its EMF metrics printed (`StoppedEarly` 1); the instance stays claimed with its entry. The
 * answer margin comes from the handler's options or from `TIERLOG_ANSWER_MARGIN_MS`.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { deferred, putDeadInstance, rawGetObject, rawInstance } from '../tiered/harness.js';
import { captureStdout, jsonLines, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';

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

describe('what a sweep cut off at its deadline logs after it answered', () => {
  /**
   * Lambda freezes the environment once the handler answers and thaws it for the next invocation:
   * a lease-index query still unanswered when the sweep was cut off is answered then, and what the
   * sweeper logs of it ("finding instances failed", "sweep failed after its deadline") was logged
   * under the next invocation's request id (the logger's context by then): an operator who looked
   * up the invocation that stopped early never found why, and the next one seemed to fail.
   */
  test("a lease-index query refused after the sweep answered, in the next invocation, is logged under its own invocation's request id", async () => {
    const fx = await freshFixture();
    await putDeadInstance(fx);
    const t0 = Date.now();
    const remainingMs = 120_000;
    let now = t0;
    let holding = true;
    const held = deferred();
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r) => holding && onCommand('Query')(r),
      before: async () => {
        now = t0 + remainingMs - 2_000;
        await held.promise;
      },
      error: () => Object.assign(new Error('injected: not authorized'), { name: 'AccessDeniedException', $fault: 'client', $metadata: {} }),
    });
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = createS3Client();
    restores.push(() => {
      held.resolve();
      dynamodb.destroy();
      s3.destroy();
    });
    const logger = new Logger({ serviceName: 'tierlog-sweeper', logLevel: 'INFO' });
    const lateLogged = deferred();
    const write = logger.error.bind(logger) as (...args: unknown[]) => void;
    logger.error = ((...args: unknown[]) => {
      write(...args);
      if (args[0] === 'sweep failed after its deadline') lateLogged.resolve();
    }) as Logger['error'];
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    const handler = mod.createSweeperHandler({ sweeper: { dynamodb, s3, clock: () => now, answerMarginMs: 2_000 }, logger });
    const first = { ...lambdaContext('tierlog-sweeper'), getRemainingTimeInMillis: () => t0 + remainingMs - now };
    const second = lambdaContext('tierlog-sweeper');

    const { error, out, err } = await captureStdout(async () => {
      expect(await handler(scheduledEvent(), first)).toMatchObject({ stoppedEarly: true, errors: 0 });
      // The next invocation starts; the first sweep's held queries are answered (refused) meanwhile.
      holding = false;
      now = Date.now();
      const next = handler(scheduledEvent(), { ...second, getRemainingTimeInMillis: () => 60_000 });
      held.resolve();
      await lateLogged.promise;
      return next;
    });
    expect(error).toBeUndefined();
    const late = jsonLines(out + err).filter(
      (l) => l.message === 'sweep failed after its deadline' || l.message === 'finding instances failed: shard left for the next sweep',
    );
    expect(late.map((l) => l.message)).toContain('sweep failed after its deadline');
    expect(late.map((l) => [l.message, l.function_request_id])).toEqual(late.map((l) => [l.message, first.awsRequestId]));
  });
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
