/**
 * The complete of an upload session under a writer's grant (no s3:ListBucket: S3 answers a GET or
 * HEAD of a missing key 403, `withoutListBucket`): the size comes from the listed parts, checked
 * before S3 assembles anything (no HEAD), so a part list that does not make the declared size
 * leaves the session open; a complete retried after its assembly confirms the blob by a GET
 * that S3 answers 200; a multipart upload aborted behind the session's back (the bucket's
 * lifecycle rule) ends the session cleanly, never as an AccessDenied, and commits nothing.
 */
import { AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { InvalidPartsError, UploadSessionClosedError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { withoutListBucket } from '../../lib/faults/without-list-bucket.js';
import { freshFixture, scanAll, type Fixture } from '../support/local.js';
import { MiB, expectClean, makeWriter, randomBody, rawValue, sameBytes, sweepPastEverything, type Writer } from './harness.js';
import { putPart, uploadParts } from './upload-session-client.js';

let fx: Fixture;
const open: Writer[] = [];
function writer(injector?: FaultInjector): Writer {
  const w = makeWriter(fx, injector !== undefined ? { injector } : {});
  withoutListBucket(w.s3);
  open.push(w);
  return w;
}
beforeAll(async () => {
  fx = await freshFixture();
});
afterEach(() => {
  for (const w of open.splice(0)) w.close();
});
afterAll(async () => {
  await sweepPastEverything(fx);
  await expectClean(fx, expect);
});

describe('complete without s3:ListBucket', () => {
  test('commits with the size of the listed parts; no HeadObject anywhere', async () => {
    const w = writer();
    const body = randomBody(5 * MiB + 300);
    const created = await w.store.createUpload('n/plain', { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    w.recorder.reset();
    const result = await w.store.completeUpload(created.uploadId, parts);
    expect(result).toMatchObject({ size: body.byteLength, created: true });
    expect((await w.store.head('n/plain'))?.version).toBe(result.version);
    expect(w.recorder.names('s3')).toEqual(['ListParts', 'CompleteMultipartUpload']);
    expect(sameBytes(await rawValue(fx, 'n/plain'), body)).toBe(true);
  });

  test('parts that do not make the declared size are refused before assembly: the session stays open', async () => {
    const w = writer();
    const body = randomBody(5 * MiB + 300);
    const created = await w.store.createUpload('n/short', { size: body.byteLength, partSize: 5 * MiB });
    const first = await putPart(await w.store.uploadPartUrl(created.uploadId, 1), body.subarray(0, 5 * MiB));
    const short = await putPart(await w.store.uploadPartUrl(created.uploadId, 2), body.subarray(5 * MiB, 5 * MiB + 100));
    await expect(
      w.store.completeUpload(created.uploadId, [
        { partNumber: 1, etag: first },
        { partNumber: 2, etag: short },
      ]),
    ).rejects.toThrow(InvalidPartsError);
    expect(await w.store.head('n/short')).toBeUndefined();
    // The client uploads the right last part and completes the same session.
    const last = await putPart(await w.store.uploadPartUrl(created.uploadId, 2), body.subarray(5 * MiB));
    const result = await w.store.completeUpload(created.uploadId, [
      { partNumber: 1, etag: first },
      { partNumber: 2, etag: last },
    ]);
    expect(result.size).toBe(body.byteLength);
    expect(sameBytes(await rawValue(fx, 'n/short'), body)).toBe(true);
  });

  test('a complete retried after its assembly (the commit never ran) confirms the blob by a GET and commits once', async () => {
    const setup = writer();
    const body = randomBody(5 * MiB + 9);
    const created = await setup.store.createUpload('n/retry', { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(setup.store, created.uploadId, body, created.partSize);
    const crashing = writer(
      new FaultInjector().add({ kind: 'crashAfter', match: (r) => r.command === 'CompleteMultipartUploadCommand', times: 1 }),
    );
    await expect(crashing.store.completeUpload(created.uploadId, parts)).rejects.toThrow();
    expect(await rawValue(fx, 'n/retry')).toBeUndefined();
    const retry = writer();
    const result = await retry.store.completeUpload(created.uploadId, parts);
    expect(result).toMatchObject({ size: body.byteLength, created: true });
    expect((await retry.store.head('n/retry'))?.version).toBe(result.version);
    expect(retry.recorder.names('s3')).not.toContain('HeadObject');
    expect(sameBytes(await rawValue(fx, 'n/retry'), body)).toBe(true);
    expect(await retry.store.completeUpload(created.uploadId, parts)).toEqual(result);
  });

  test('an upload aborted behind the session (lifecycle rule): UploadSessionClosedError, not AccessDenied; nothing committed', async () => {
    const w = writer();
    const created = await w.store.createUpload('n/gone', { partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const item = (await scanAll(fx.dynamodb, fx.config.changeLogTable)).find((i) => i.pk === created.uploadId);
    const upload = item!.upload as { blob: string; s3UploadId: string };
    await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: upload.blob, UploadId: upload.s3UploadId }));
    await expect(w.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(UploadSessionClosedError);
    expect(await w.store.head('n/gone')).toBeUndefined();
    await w.store.abortUpload(created.uploadId);
  });
});
