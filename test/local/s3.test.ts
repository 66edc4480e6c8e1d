/**
 * The local S3 server as the project's code uses it, checked for the three ways s3rver breaks
 * with a current SDK (notes/local-aws.md): streamed bodies stored with aws-chunked framing,
 * ListObjectsV2 pagination, DeleteObjects under one prefix. Each check compares real bytes/keys.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  ListPartsCommand,
  DeleteObjectsCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';

let fx: Fixture;
/** One attempt per call: an SDK retry would hide a server error (s3rver answers 500 on its races). */
let s3: S3Client;

beforeAll(async () => {
  fx = await freshFixture();
  s3 = new S3Client({ forcePathStyle: true, maxAttempts: 1 });
});

afterAll(() => {
  s3?.destroy();
  fx?.dynamodb.destroy();
  fx?.s3.destroy();
});

/** A stream of `data` in uneven chunks, as a network or file stream would deliver it. */
function chunked(data: Buffer, chunk = 64 * 1024 + 7): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (offset >= data.length) return this.push(null);
      this.push(data.subarray(offset, offset + chunk));
      offset += chunk;
    },
  });
}

async function getBytes(key: string): Promise<Buffer> {
  const out = await s3.send(new GetObjectCommand({ Bucket: fx.config.bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function putMany(keys: string[], concurrency = 24): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        await s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: key, Body: key }));
      }
    }),
  );
}

describe('local S3', () => {
  it('a PutObject with a streamed body round-trips byte-exact (no aws-chunked framing stored)', async () => {
    const data = randomBytes(1024 * 1024 + 13);
    const key = 'blobs/stream/put';
    await s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: key, Body: chunked(data), ContentLength: data.length }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: key }));
    expect(head.ContentLength).toBe(data.length);
    const back = await getBytes(key);
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
  });

  it('a 12 MiB lib-storage Upload from a stream (multipart, 5 MiB parts) round-trips byte-exact', async () => {
    const data = randomBytes(12 * 1024 * 1024);
    const key = 'blobs/stream/multipart';
    const parts: number[] = [];
    const upload = new Upload({
      client: s3,
      params: { Bucket: fx.config.bucket, Key: key, Body: chunked(data) },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    upload.on('httpUploadProgress', (p) => {
      if (p.part !== undefined) parts.push(p.part);
    });
    await upload.done();
    expect(new Set(parts).size).toBe(3);
    const back = await getBytes(key);
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
  });

  it('ListObjectsV2 pages through more than 1000 keys', async () => {
    const prefix = 'blobs/many/';
    const keys = Array.from({ length: 1005 }, (_, i) => `${prefix}${String(i).padStart(5, '0')}`);
    await putMany(keys);
    const pages: number[] = [];
    const seen: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: fx.config.bucket, Prefix: prefix, MaxKeys: 300, ContinuationToken }));
      pages.push(page.Contents?.length ?? 0);
      for (const o of page.Contents ?? []) seen.push(o.Key!);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken !== undefined);
    expect(pages).toEqual([300, 300, 300, 105]);
    expect(seen).toEqual(keys);
    // The default page size (1000) needs two pages too.
    expect(await listKeys(s3, fx.config.bucket, prefix)).toEqual(keys);
  });

  it('DeleteObjects of several keys under one prefix deletes them all, repeatedly, and the prefix takes new keys after', async () => {
    const prefix = 'blobs/deleted/';
    for (let round = 0; round < 3; round++) {
      // The blob layout: <prefix>/<object id>/<blob id>, one directory per object in s3rver's store.
      const keys = Array.from({ length: 25 }, (_, i) => `${prefix}${round}-${i}/blob-${i}`);
      await putMany(keys);
      const out = await s3.send(
        new DeleteObjectsCommand({ Bucket: fx.config.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: false } }),
      );
      expect(out.Errors ?? []).toEqual([]);
      expect((out.Deleted ?? []).map((d) => d.Key).sort()).toEqual([...keys].sort());
      expect(await listKeys(s3, fx.config.bucket, prefix)).toEqual([]);
    }
    await s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: `${prefix}after`, Body: 'x' }));
    expect(await listKeys(s3, fx.config.bucket, prefix)).toEqual([`${prefix}after`]);
  });

  it('concurrent single deletes and puts under one prefix do not fail or lose a fresh object', async () => {
    const prefix = 'blobs/churn/obj/';
    const old = Array.from({ length: 20 }, (_, i) => `${prefix}old-${i}`);
    const fresh = Array.from({ length: 20 }, (_, i) => `${prefix}new-${i}`);
    await putMany(old);
    await Promise.all([...old.map((Key) => s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key }))), putMany(fresh, 8)]);
    expect(await listKeys(s3, fx.config.bucket, prefix)).toEqual([...fresh].sort());
  });

  it('missing objects: HeadObject is NotFound (404), GetObject is NoSuchKey, DeleteObject succeeds', async () => {
    const key = 'blobs/absent/none';
    await expect(s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: key }))).rejects.toMatchObject({
      name: 'NotFound',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(s3.send(new GetObjectCommand({ Bucket: fx.config.bucket, Key: key }))).rejects.toMatchObject({ name: 'NoSuchKey' });
    await expect(s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: key }))).resolves.toBeDefined();
  });
});

describe('CompleteMultipartUpload checks the list of parts as S3 does (s3rver took any)', () => {
  /** A multipart upload of `key` with parts of these sizes, and the list naming them in order. */
  async function uploadParts(key: string, sizes: number[]) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    const parts: Array<{ PartNumber: number; ETag: string | undefined }> = [];
    for (const [i, size] of sizes.entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: fx.config.bucket, Key: key, UploadId, PartNumber: i + 1, Body: randomBytes(size) }),
      );
      parts.push({ PartNumber: i + 1, ETag });
    }
    const complete = (Parts: typeof parts) =>
      s3.send(new CompleteMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key, UploadId, MultipartUpload: { Parts } }));
    return { parts, complete, UploadId };
  }

  it('parts out of ascending order are InvalidPartOrder; in order, they complete', async () => {
    const { parts, complete } = await uploadParts('blobs/mp/order', [5 * 1024 * 1024, 5 * 1024 * 1024]);
    await expect(complete([parts[1]!, parts[0]!])).rejects.toMatchObject({ name: 'InvalidPartOrder' });
    await complete(parts);
    expect((await getBytes('blobs/mp/order')).length).toBe(10 * 1024 * 1024);
  });

  it('a part before the last under 5 MiB is EntityTooSmall, and nothing is stored', async () => {
    const { parts, complete } = await uploadParts('blobs/mp/small', [5 * 1024 * 1024 - 1, 10]);
    await expect(complete(parts)).rejects.toMatchObject({ name: 'EntityTooSmall' });
    await expect(s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: 'blobs/mp/small' }))).rejects.toMatchObject({
      name: 'NotFound',
    });
  });

  it('an upload named under another key than the one it was made for is NoSuchUpload, as S3 answers it: nothing written, completed or aborted', async () => {
    const { parts, complete, UploadId } = await uploadParts('blobs/mp/owner', [10]);
    const other = { Bucket: fx.config.bucket, Key: 'blobs/mp/other', UploadId };
    const noSuchUpload = { name: 'NoSuchUpload' };
    await expect(s3.send(new UploadPartCommand({ ...other, PartNumber: 2, Body: randomBytes(10) }))).rejects.toMatchObject(noSuchUpload);
    await expect(s3.send(new ListPartsCommand(other))).rejects.toMatchObject(noSuchUpload);
    await expect(s3.send(new CompleteMultipartUploadCommand({ ...other, MultipartUpload: { Parts: parts } }))).rejects.toMatchObject(
      noSuchUpload,
    );
    await expect(s3.send(new AbortMultipartUploadCommand(other))).rejects.toMatchObject(noSuchUpload);
    for (const key of ['blobs/mp/other', 'blobs/mp/owner']) {
      await expect(s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: key }))).rejects.toMatchObject({ name: 'NotFound' });
    }
    // The upload is whole: its own key completes it, with its one part.
    await complete(parts);
    expect((await getBytes('blobs/mp/owner')).length).toBe(10);
  });
});
