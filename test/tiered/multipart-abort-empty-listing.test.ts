/**
 * An aborted multipart upload that ListParts still answers, listing no part. AWS's reference for
 * AbortMultipartUpload says to check that "the parts list is empty" after an abort; the local
 * server answers NoSuchUpload at once and never shows such a listing. Only NoSuchUpload counted as
 * done: an upload listed with no part was aborted twice more and then told as one that "still
 * holds 0 parts after 3 aborts" (a failed put's `onAbortFailed`, so its entry left to the sweeper
 * and the failure to `onCleanupError`; a session's abort's `onCleanupError`; the sweeper's
 * AbandonedUploadErrors), for an upload that holds nothing.
 */
import { CreateMultipartUploadCommand, ListPartsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';
import { answering } from '../support/canned-listing.js';
import { type Fixture, freshFixture } from '../support/local.js';

let fx: Fixture;
const s3 = createS3Client();
beforeAll(async () => {
  fx = await freshFixture();
});
afterAll(() => s3.destroy());

test('an upload listed with no part after its abort is gone: one abort, nothing told', async () => {
  const blob = newBlobKey(fx.config.prefix, 'k');
  const { UploadId } = await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: blob }));
  await fx.s3.send(new UploadPartCommand({ Bucket: fx.config.bucket, Key: blob, UploadId, PartNumber: 1, Body: Buffer.from('part') }));
  let aborts = 0;
  s3.middlewareStack.add(
    ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => (args: unknown) => {
      if (context.commandName === 'AbortMultipartUploadCommand') aborts++;
      return next(args);
    }) as never,
    { step: 'initialize', name: 'countAborts' },
  );
  // As AWS may answer it after the abort: the upload, no <Part> in it.
  const listings = answering(s3, 'ListParts', () => ({ IsTruncated: false }));
  const lt = new LtBucket(s3, fx.config.bucket, fx.config.prefix);
  expect(await lt.abortUntilNoParts(blob, UploadId!)).toEqual({ kind: 'gone', existed: true });
  expect(aborts, 'aborted once').toBe(1);
  expect(listings.sent()).toBe(1);
  // The abort was the real server's: the upload is gone there.
  await expect(fx.s3.send(new ListPartsCommand({ Bucket: fx.config.bucket, Key: blob, UploadId }))).rejects.toMatchObject({
    name: 'NoSuchUpload',
  });
});
