/**
 * An upload that failed without a definite answer may still land: S3 may apply a request whose
 * answer never reached the writer after the writer gave up on it (a PutObject held in the network,
 * a CompleteMultipartUpload that takes minutes to assemble). The writer's cleanup of a write that
 * did not land deletes its blob; if it also removed the entry, a blob landing after that delete
 * would be named by nothing: leaked for good. So after such a failure the entry is left to the
 * sweeper, which judges it once the upload window is over (DESIGN.md, "the upload window").
 * A definite refusal on the only attempt (access denied) cannot land later: its entry is removed.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { beforeEach, expect, test } from 'vitest';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  expectClean,
  KiB,
  makeWriter,
  randomBody,
  rawState,
  rawValue,
  steps,
  sweepPastEverything,
  writersClosedAfterEach,
} from './harness.js';

let fx: Fixture;
beforeEach(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

test('a PutObject that never answered lands after the writer gave up: its entry is left to the sweeper, which deletes it', async () => {
  const key = 'late/put';
  const body = randomBody(40 * KiB);
  let held: RequestInfo | undefined;
  // Every attempt gets no answer; the first one is held in the network and reaches S3 later.
  const injector = new FaultInjector().add({
    kind: 'loseRequest',
    match: steps(fx.config).upload,
    before: async (r) => {
      held ??= r;
    },
  });
  const w = makeWriter(fx, { injector });
  open.push(w);
  await expect(w.store.put(key, body)).rejects.toThrow();
  expect(held, 'the upload was attempted').toBeDefined();
  expect(w.log.outstanding, 'the writer keeps no entry').toBe(0);

  // The held request lands now, after the writer's cleanup.
  await fx.s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: String(held!.input.Key), Body: body }));
  const mid = await rawState(fx);
  expect(mid.unreferenced, 'the late blob').toEqual([held!.input.Key]);
  expect(mid.entries, 'an entry still names it').toBe(1);

  expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
  await expectClean(fx, expect);
  expect(await rawValue(fx, key)).toBeUndefined();
});

test('an upload refused outright (access denied) cannot land later: its entry is removed at once', async () => {
  const key = 'late/denied';
  const injector = new FaultInjector().add({
    kind: 'fail',
    match: steps(fx.config).upload,
    error: () => Object.assign(new Error('denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
  });
  const w = makeWriter(fx, { injector });
  open.push(w);
  await expect(w.store.put(key, randomBody(40 * KiB))).rejects.toThrow();
  const state = await rawState(fx);
  expect(state.entries, 'nothing left for a sweeper').toBe(0);
  expect(state.unreferenced).toEqual([]);
});
