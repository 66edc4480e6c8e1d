/**
 * Upload sessions against listings that come in pages, as AWS answers them (ListParts past 1,000
 * parts, ListMultipartUploads past 1,000 uploads; `withPagedListings` cuts the local server's
 * one-page answers to pages of one): a complete sees every part (a list read from the first page
 * only would refuse the later parts, or size the object short), and the sweeper aborts every
 * upload under an expired session's blob key, not only the first page's.
 */
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { withPagedListings } from '../../lib/faults/paged-listings.js';
import { freshFixture, type Fixture } from '../support/local.js';
import { MiB, expectClean, makeWriter, randomBody, rawState, sameBytes, sweepPastEverything, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

let fx: Fixture;
let w: Writer;
const sweeperS3 = withPagedListings(createS3Client(), 1);
beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx);
  withPagedListings(w.s3, 1);
});
afterAll(() => {
  w.close();
  sweeperS3.destroy();
});

describe('upload sessions with paged listings', () => {
  test('list and complete see every part of a listing that takes three pages', async () => {
    const body = randomBody(10 * MiB + 100);
    const created = await w.store.createUpload('paged/parts', { size: body.byteLength, partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    expect((await w.store.listUploadParts(created.uploadId)).map((p) => p.partNumber)).toEqual([1, 2, 3]);
    const result = await w.store.completeUpload(created.uploadId, parts);
    expect(result).toMatchObject({ size: body.byteLength, created: true });
    const got = await w.store.get('paged/parts');
    expect(got?.version).toBe(result.version);
    expect(sameBytes(got!.body, body)).toBe(true);
  });

  test('the sweeper aborts every upload under an expired session, listed over several pages', async () => {
    const created = await w.store.createUpload('paged/abandoned', { expiresInMs: 1_000 });
    const session = (await rawState(fx)).instances.find((i) => i.pk === created.uploadId) as { upload: { blob: string } };
    // Two uploads the session never noted (a CreateMultipartUpload the SDK sent again).
    for (let i = 0; i < 2; i++) await w.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: session.upload.blob }));
    expect(await uploadsUnder(session.upload.blob)).toHaveLength(3);
    await sweepPastEverything(fx, { s3: sweeperS3 });
    expect(await uploadsUnder(session.upload.blob)).toEqual([]);
    await expectClean(fx, expect);
  });
});

async function uploadsUnder(key: string): Promise<string[]> {
  const plain = createS3Client();
  try {
    const out = await plain.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: key }));
    return (out.Uploads ?? []).filter((u) => u.Key === key).map((u) => u.UploadId!);
  } finally {
    plain.destroy();
  }
}
