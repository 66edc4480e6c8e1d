/**
 * `onCleanupError` is user code and may throw. A write's answer never depends on it: a landed
 * write whose cleanup failed (its replaced blob could not be deleted) answers its result whatever
 * the reporter does, and what it could not clean stays for the sweeper. Both the store's own
 * writes and an upload session's complete.
 */
import { beforeEach, expect, test } from 'vitest';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  expectClean,
  KiB,
  MiB,
  makeWriter,
  randomBody,
  rawValue,
  sameBytes,
  steps,
  sweepPastEverything,
  type Writer,
  writersClosedAfterEach,
} from './harness.js';
import { uploadParts } from './upload-session-client.js';

let fx: Fixture;
beforeEach(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

/**
 * A writer whose delete of blobs is refused and whose cleanup reporter throws (`rejects`: an async
 * reporter, whose returned promise rejects).
 */
function failingCleanup(rejects = false): { w: Writer; reported: unknown[] } {
  const reported: unknown[] = [];
  const denied = () =>
    Object.assign(new Error('injected: denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
  const injector = new FaultInjector().add({ kind: 'fail', match: steps(fx.config).deleteBlob, error: denied });
  const w = makeWriter(fx, {
    injector,
    store: {
      onCleanupError: rejects
        ? async (err) => {
            reported.push(err);
            throw new Error('an async reporter that rejects');
          }
        : (err) => {
            reported.push(err);
            throw new Error('a reporter that throws');
          },
    },
  });
  open.push(w);
  return { w, reported };
}

test('a large overwrite whose replaced blob cannot be deleted answers its result, whatever the reporter throws', async () => {
  const key = 'callbacks/overwrite';
  const setup = makeWriter(fx);
  open.push(setup);
  const { version } = await setup.store.put(key, randomBody(40 * KiB));
  const { w, reported } = failingCleanup();
  const next = randomBody(40 * KiB + 1);
  await expect(w.store.put(key, next)).resolves.toMatchObject({ version: version + 1 });
  expect(reported.length, 'the failure was reported').toBeGreaterThan(0);
  expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
  expect(w.log.outstanding).toBe(0);
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});

test('an upload session complete over a large object whose replaced blob cannot be deleted answers its result, whatever the reporter throws', async () => {
  const key = 'callbacks/session';
  const setup = makeWriter(fx);
  open.push(setup);
  const { version } = await setup.store.put(key, randomBody(40 * KiB));
  const { w, reported } = failingCleanup();
  const body = randomBody(5 * MiB + 7);
  // A short session: its entry (naming the replaced blob) is the sweeper's once its lease ends.
  const created = await w.store.createUpload(key, { size: body.byteLength, partSize: 5 * MiB, expiresInMs: 60_000 });
  const parts = await uploadParts(w.store, created.uploadId, body, 5 * MiB);
  await expect(w.store.completeUpload(created.uploadId, parts)).resolves.toMatchObject({ version: version + 1, size: body.byteLength });
  expect(reported.length, 'the failure was reported').toBeGreaterThan(0);
  expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});

/** What `run` leaves unhandled: promise rejections nobody awaits (Node ends a process on one). */
async function unhandledRejectionsOf(run: () => Promise<void>): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await run();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return unhandled;
}

test('an async reporter whose promise rejects leaves no unhandled rejection: a large overwrite and a session complete answer, nothing else', async () => {
  const setup = makeWriter(fx);
  open.push(setup);
  await setup.store.put('callbacks/async/put', randomBody(40 * KiB));
  await setup.store.put('callbacks/async/session', randomBody(40 * KiB));
  const { w, reported } = failingCleanup(true);
  const unhandled = await unhandledRejectionsOf(async () => {
    await w.store.put('callbacks/async/put', randomBody(40 * KiB + 1));
    const body = randomBody(5 * MiB + 7);
    const created = await w.store.createUpload('callbacks/async/session', { size: body.byteLength, partSize: 5 * MiB });
    await w.store.completeUpload(created.uploadId, await uploadParts(w.store, created.uploadId, body, 5 * MiB));
  });
  expect(reported.length, 'the failures were reported').toBeGreaterThanOrEqual(2);
  expect(unhandled, "the reporter's rejections, unhandled").toEqual([]);
});
