import { afterEach, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { freshFixture } from '../support/local.js';
import { deferred, putDeadInstance, rawGetObject, rawInstance } from '../tiered/harness.js';
import { captureStdout, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';

const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

describe('sweeper handler at its deadline', () => {
  test('a blob delete unanswered at the deadline: the handler returns in time, stoppedEarly, metrics printed, the instance kept claimed', async () => {
    const fx = await freshFixture();
    // Fenced an hour ago by a sweeper that died: this invocation judges it and deletes its blob.
    const { instanceId, blobs } = await putDeadInstance(fx, { fenced: true });
    const blob = blobs[0]!;

    // The sweeper's clock stands still until the DeleteObjects is sent, then reaches the instant
    // the sweep must stop waiting (2 s before the invocation's deadline); the request is held.
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
        now = t0 + remainingMs - 2_000;
        await release.promise;
      },
    });
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = injector.attach(createS3Client(), 's3');
    restores.push(() => {
      dynamodb.destroy();
      s3.destroy();
    });
    const { mod, restore } = await loadHandler(fx, () => import('../../lib/handlers/sweeper.js'));
    restores.push(restore);
    const handler = mod.createSweeperHandler({ sweeper: { dynamodb, s3, clock: () => now, answerMarginMs: 2_000 } });
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
    expect(values).toMatchObject({ InstancesClaimed: 1, BlobsDeleted: 0, EntriesRecovered: 0 });
    expect(values.SweepDuration).toBeDefined();

    const item = await rawInstance(fx, instanceId);
    expect(item).toMatchObject({ state: 'claimed' });
    expect(item!.claimedBy).not.toBe('dead-sweeper');
    expect(Object.keys(item!).filter((k) => k.startsWith('c_'))).toHaveLength(1);
    expect(await rawGetObject(fx, blob)).toBeDefined();
    release.resolve();
  });
});
