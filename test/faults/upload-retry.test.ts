/**
 * An upload is not over when its blob exists: an SDK retry of a PutObject whose answer was lost
 * writes the blob again. A sweeper that claimed the writer inside the upload window and deleted
 * the blob and dropped the entry then would be overtaken by the retry; if the writer dies before
 * its own cleanup (its commit is fenced), nothing would name the blob any more: a leak. (Found by
 * the fault simulation, seed 1003 of the long run.)
 *
 * So the sweeper's first sighting only fences: it deletes nothing and keeps the entry until the
 * upload window is over, and judges it then.
 */
import { expect, test } from 'vitest';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { InstanceClaimedError } from '../../lib/errors.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { freshFixture } from '../support/local.js';
import { faultWriters } from './writers.js';

const writer = faultWriters();

test('a PutObject retried after a sweep fenced its writer is caught once the upload window is over', async () => {
  const fx = await freshFixture();
  let retrying!: () => void;
  let release!: () => void;
  const atRetry = new Promise<void>((r) => (retrying = r));
  const released = new Promise<void>((r) => (release = r));
  const injector = new FaultInjector()
    // Attempt 1 lands, its answer is lost; attempt 2 stalls past the lease (until the test has
    // swept), then lands again.
    .add({ kind: 'loseResponse', match: onCommand('PutObject'), times: 1 })
    .add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: onCommand('PutObject'),
      before: async () => {
        retrying();
        await released;
      },
    })
    // Fenced, the writer deletes its blob itself, unless it dies first.
    .add({ kind: 'crashBefore', match: onCommand('DeleteObject'), times: 1 });
  const store = writer(fx, { injector, leaseMs: 1_000 });

  const put = store.put('k', new Uint8Array(20 * 1024).fill(1)).then(
    () => undefined,
    (e: unknown) => e,
  );
  await atRetry;
  // A sweeper 10 s on: the writer's lease (1 s) is over.
  const during = new Sweeper({
    config: fx.config,
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    clock: () => Date.now() + 10_000,
    skewMarginMs: 0,
    maxUploadMs: 60_000,
    unsafeShortWindows: true,
  });
  const first = await during.sweep();
  expect(first).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
  release();
  expect(await put).toBeInstanceOf(InstanceClaimedError); // fenced...
  expect(injector.crashedAt?.command, '...and dead before its cleanup').toBe('DeleteObjectCommand');

  const mid = await checkInvariants(fx);
  expect(mid.blobs, 'the blob the retried upload wrote again').toBe(1);
  expect(mid.entries, 'its entry is kept until the upload window is over').toBe(1);

  const later = new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now() + 3 * 60 * 60_000 });
  expect(await later.sweep()).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
  const after = await checkInvariants(fx);
  expect([...after.leaked, ...after.pending]).toEqual([]);
  expect(after.entries).toBe(0);
  expect(after.instances).toBe(0);
});
