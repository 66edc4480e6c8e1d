/**
 * The exits of a large put's multipart upload (`@aws-sdk/lib-storage`), with the S3 behaviours
 * the local server never shows injected into the writer's client:
 *  - a CompleteMultipartUpload that landed and whose answer was lost: the SDK's retry is answered
 *    NoSuchUpload (the upload is gone, completed);
 *  - S3 throttling every attempt of a part (503 SlowDown): the upload is aborted;
 *  - a CompleteMultipartUpload answered 200 with an error in its body (S3 answers so when the
 *    assembly fails after it began to answer): nothing is committed.
 * After each: the answer the caller got, the value, and from outside: no blob lost, no blob left
 * that no entry names, no multipart upload in progress; then a sweep past everything drains the
 * log and leaves nothing.
 */
import { Readable } from 'node:stream';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { beforeAll, expect, test } from 'vitest';
import { AccessDeniedError } from '../../lib/errors.js';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { withoutListBucket } from '../../lib/faults/without-list-bucket.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  abortOutlivedByAPart,
  expectClean,
  isFirstVersionBetween,
  MiB,
  makeWriter,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  sweepPastEverything,
  type Writer,
  writersClosedAfterEach,
} from './harness.js';

const BODY = randomBody(11 * MiB);
let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

function writer(injector: FaultInjector): Writer {
  const w = makeWriter(fx, { injector, store: { partSize: 5 * MiB } });
  open.push(w);
  return w;
}

/** Nothing lost, every unreferenced blob named by an entry, no multipart upload left; then a sweep cleans all. */
async function expectKnownState(w: Writer): Promise<void> {
  expect(w.log.outstanding, 'the writer keeps no entry').toBe(0);
  const now = await checkInvariants(fx);
  expect(now.lost, 'no blob lost').toEqual([]);
  expect(now.leaked, 'no blob that no entry names').toEqual([]);
  expect(now.uploads, 'no multipart upload in progress').toEqual([]);
  const report = await sweepPastEverything(fx);
  expect(report.errors).toBe(0);
  await expectClean(fx, expect);
}

test('a CompleteMultipartUpload that landed, its answer lost (the retry answered NoSuchUpload): the put succeeds', async () => {
  const key = 'multipart/complete-answer-lost';
  const injector = new FaultInjector().add({ kind: 'loseResponse', times: 1, match: onCommand('CompleteMultipartUpload') });
  const w = writer(injector);
  const before = Date.now();
  const put = await w.store.put(key, BODY);
  expect(put).toMatchObject({ size: BODY.byteLength, stored: 'blob', created: true });
  expect(isFirstVersionBetween(put.version, before, Date.now()), `${put.version} is a first version`).toBe(true);
  expect(injector.stats.injected.loseResponse).toBe(1);
  expect(sameBytes(await rawValue(fx, key), BODY), 'the value is the new one').toBe(true);
  await expectKnownState(w);
  expect(sameBytes(await rawValue(fx, key), BODY), 'the sweep took nothing').toBe(true);
});

test('a CompleteMultipartUpload answered NoSuchUpload for an upload that is gone without landing, the writer without s3:ListBucket: the put fails, nothing is left', async () => {
  const key = 'multipart/complete-upload-gone';
  // Someone (the bucket's lifecycle rule, an operator) aborts the upload right before its complete.
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    times: 1,
    match: onCommand('CompleteMultipartUpload'),
    before: async (r) => {
      await fx.s3.send(
        new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: String(r.input.Key), UploadId: String(r.input.UploadId) }),
      );
    },
  });
  const w = writer(injector);
  withoutListBucket(w.s3); // the GET that would confirm the blob is answered 403, as AWS does for a missing key
  const error = await w.store.put(key, BODY).catch((e: unknown) => e);
  expect((error as { name?: string }).name, 'not taken for a landed upload').toBe('NoSuchUpload');
  expect(await rawValue(fx, key)).toBeUndefined();
  await expectKnownState(w);
});

test('S3 throttles every attempt of a part (503 SlowDown): the upload is aborted, the put fails, nothing is left', async () => {
  const key = 'multipart/part-throttled';
  const injector = new FaultInjector().add({ kind: 'throttle', match: onCommand('UploadPart'), skip: 1 });
  const w = writer(injector);
  const error = await w.store.put(key, BODY).catch((e: unknown) => e);
  expect((error as { name?: string }).name).toBe('SlowDown');
  expect(await rawValue(fx, key)).toBeUndefined();
  await expectKnownState(w);
});

test("a part refused (access denied) and its abort throttled: the put fails with the error of the part, not of the abort; its entry is the sweeper's, which aborts the upload", async () => {
  const key = 'multipart/part-denied-abort-throttled';
  const injector = new FaultInjector()
    .add({
      kind: 'fail',
      match: onCommand('UploadPart'),
      skip: 1,
      error: () =>
        Object.assign(new Error('injected: denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
    })
    .add({ kind: 'throttle', match: onCommand('AbortMultipartUpload') });
  const reported: unknown[] = [];
  const w = makeWriter(fx, { injector, store: { partSize: 5 * MiB, onCleanupError: (err) => reported.push(err) } });
  open.push(w);
  const error = await w.store.put(key, BODY).catch((e: unknown) => e);
  expect(error, 'the cause a caller can act on').toBeInstanceOf(AccessDeniedError);
  expect(await rawValue(fx, key)).toBeUndefined();
  expect((reported[0] as { name?: string } | undefined)?.name, 'the abort that failed, told').toBe('SlowDown');
  // The abort never got through: the upload holds its first part. Its entry, removed, left it to
  // the bucket's lifecycle rule (days of parts billed, nothing naming them); kept, it names it.
  const mid = await rawState(fx);
  expect(mid.uploads, 'the upload left in progress').toHaveLength(1);
  expect(mid.entries, 'an entry names its key').toBe(1);
  const report = await sweepPastEverything(fx);
  expect(report.abandonedUploadsAborted, 'the sweeper aborted it').toBe(1);
  await expectKnownState(w);
});

test('a part refused once for good (access denied) in a large body: the parts after it are not sent, the put fails with its error, nothing is left', async () => {
  const key = 'multipart/part-denied-early';
  // Twelve parts of 5 MiB. Pinned, not fixed: lib-storage's four workers share one generator of
  // parts, which the failed worker's loop closes, so the others stop after the part they have in
  // flight. An upgrade that let them go on would send the rest of the body (minutes of a Lambda's
  // 15 for a GiB) before the put failed and its upload was aborted.
  const body = randomBody(12 * 5 * MiB);
  const injector = new FaultInjector().add({
    kind: 'fail',
    match: onCommand('UploadPart'),
    times: 1,
    error: () =>
      Object.assign(new Error('injected: denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
  });
  const w = writer(injector);
  let partsSent = 0;
  w.s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'UploadPartCommand') partsSent++;
      return next(args);
    },
    { step: 'initialize', name: 'countParts' },
  );
  const error = await w.store.put(key, body).catch((e: unknown) => e);
  expect(error, 'the cause a caller can act on').toBeInstanceOf(AccessDeniedError);
  expect(injector.stats.injected.fail).toBe(1);
  // The refused part and the (at most three) parts the other workers had in flight when it was refused.
  expect(partsSent, 'no part sent after one failed').toBeLessThanOrEqual(4);
  expect(await rawValue(fx, key)).toBeUndefined();
  await expectKnownState(w);
});

test("a part refused (access denied) and the writer's abort outlived by a part that landed after it: the writer aborts until S3 lists no part, nothing is left", async () => {
  const key = 'multipart/part-denied-abort-outlived';
  // A part whose attempt the SDK gave up on (its answer timed out) and sent again may still be
  // stored after the upload's abort, which AWS says may then have to be sent again (s3rver never
  // shows it: its first abort is answered unsent). Refused outright, the put removes its entry at
  // once: nothing would name the upload any more, its parts billed until the lifecycle rule.
  const injector = new FaultInjector().add({
    kind: 'fail',
    match: onCommand('UploadPart'),
    skip: 1,
    error: () =>
      Object.assign(new Error('injected: denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
  });
  const reported: unknown[] = [];
  const w = makeWriter(fx, { injector, store: { partSize: 5 * MiB, onCleanupError: (err) => reported.push(err) } });
  open.push(w);
  abortOutlivedByAPart(w.s3);
  const error = await w.store.put(key, BODY).catch((e: unknown) => e);
  expect(error, 'the cause a caller can act on').toBeInstanceOf(AccessDeniedError);
  expect(reported, 'nothing failed to clean').toEqual([]);
  await expectKnownState(w);
});

test('a CompleteMultipartUpload answered 200 with an error in its body: the put fails, nothing is committed or left', async () => {
  const key = 'multipart/complete-200-error';
  const w = writer(new FaultInjector());
  let answered = 0;
  const handler = w.s3.config.requestHandler as {
    handle: (request: { method: string; query?: Record<string, unknown> }, options?: unknown) => Promise<{ response: unknown }>;
  };
  const send = handler.handle.bind(handler);
  handler.handle = async (request, options) => {
    // CompleteMultipartUpload: a POST with an uploadId (CreateMultipartUpload's POST has `uploads`).
    if (request.method !== 'POST' || request.query?.uploadId === undefined) return send(request, options);
    answered++;
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>r</RequestId></Error>';
    return {
      response: {
        statusCode: 200,
        headers: { 'content-type': 'application/xml' },
        body: Readable.from([Buffer.from(xml)]),
      },
    };
  };
  const error = await w.store.put(key, BODY).catch((e: unknown) => e);
  expect(answered, 'the complete was answered 200 with an error').toBeGreaterThan(0);
  expect((error as { name?: string }).name).toBe('InternalError');
  expect(await rawValue(fx, key)).toBeUndefined();
  await expectKnownState(w);
});

test('known limit: a CreateMultipartUpload that landed, its answer lost (the SDK made a second upload): the put succeeds; the first upload, with no part, is left to the lifecycle rule', async () => {
  const key = 'multipart/create-answer-lost';
  const injector = new FaultInjector().add({ kind: 'loseResponse', times: 1, match: onCommand('CreateMultipartUpload') });
  const w = writer(injector);
  const put = await w.store.put(key, BODY);
  expect(put).toMatchObject({ size: BODY.byteLength, stored: 'blob', created: true });
  expect(injector.stats.injected.loseResponse).toBe(1);
  expect(sameBytes(await rawValue(fx, key), BODY), 'the value is the new one').toBe(true);
  expect(w.log.outstanding).toBe(0);
  const now = await checkInvariants(fx);
  expect(now.lost).toEqual([]);
  expect(now.leaked).toEqual([]);
  // The upload whose id was lost: under the committed blob's key, never given a part (lib-storage
  // sends every part to the second one), so it holds no storage; no entry names it any more, so
  // no sweep lists it: the bucket's AbortIncompleteMultipartUpload rule ends it.
  const listed = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
  expect((listed.Uploads ?? []).map((u) => u.Key)).toEqual(now.uploads);
  expect(now.uploads).toHaveLength(1);
  const stray = listed.Uploads![0]!;
  const parts = await fx.s3.send(new ListPartsCommand({ Bucket: fx.config.bucket, Key: stray.Key, UploadId: stray.UploadId }));
  expect(parts.Parts ?? [], 'it holds no part').toEqual([]);
  await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: stray.Key, UploadId: stray.UploadId }));
  await expectKnownState(w);
});
