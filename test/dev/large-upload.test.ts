/**
 * A 64 MiB object through `npm run dev`, the way a real client uploads one: the real bin in a
 * child process, `fetch` to the session routes (create with the part URLs, complete) and PUTs of
 * the parts straight to their presigned S3 URLs; then read back whole (the GET answers a redirect
 * to a presigned S3 URL, which fetch follows) and by ranges (206 with Content-Range, directly or
 * through the redirect when larger than the buffered limit). Memory stays bounded: the body is
 * generated part by part from a keyed stream and hashed as it goes. Then the invariants, from
 * outside: the object's item points at the one blob under the prefix (no orphan), and the
 * session's multipart upload is gone.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevProcess, startDev } from './dev-process.js';

const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const KEY = 'videos/large one.bin';

let dev: DevProcess;
let url: string;
let env: Record<string, string>;
/** The version the complete answered. */
let version: number;

beforeAll(async () => {
  dev = await startDev(['--quiet']);
  ({ url, env } = dev);
}, 180_000);

afterAll(async () => {
  await dev.stop();
});

/** Bytes of part `index` (0-based) of `partSize`: a keyed stream, regenerated on demand. */
function partBytes(index: number, partSize: number): Buffer {
  const length = Math.min(partSize, SIZE - index * partSize);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, 7), iv);
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** Bytes `start..end` (inclusive) of the object, from the parts they fall in. */
function slice(start: number, end: number, partSize: number): Buffer {
  const out: Buffer[] = [];
  for (let p = Math.floor(start / partSize); p * partSize <= end; p++) {
    const from = Math.max(start, p * partSize) - p * partSize;
    const to = Math.min(end, (p + 1) * partSize - 1) - p * partSize;
    out.push(partBytes(p, partSize).subarray(from, to + 1));
  }
  return Buffer.concat(out);
}

async function sha256Of(response: Response): Promise<{ hash: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { hash: hash.digest('hex'), bytes };
}

describe('a 64 MiB object through npm run dev', () => {
  const objectUrl = () => `${url}/objects/${encodeURIComponent(KEY)}`;
  let partSize = 0;
  let expectedHash = '';

  it('uploads through a session: create (with the part URLs), PUT each part to S3, complete', async () => {
    const created = await fetch(`${objectUrl()}?uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'if-none-match': '*' },
      body: JSON.stringify({ size: SIZE, contentType: 'video/mp4' }),
    });
    expect(created.status).toBe(201);
    const session = (await created.json()) as { uploadId: string; partSize: number; parts: Array<{ partNumber: number; url: string }> };
    partSize = session.partSize;
    expect(session.parts).toHaveLength(Math.ceil(SIZE / partSize));

    const hash = createHash('sha256');
    const parts: Array<{ partNumber: number; etag: string }> = [];
    for (const part of session.parts) {
      const bytes = partBytes(part.partNumber - 1, partSize);
      hash.update(bytes);
      const put = await fetch(part.url, { method: 'PUT', body: bytes });
      expect(put.status, await put.clone().text()).toBe(200);
      parts.push({ partNumber: part.partNumber, etag: put.headers.get('etag')! });
    }
    expectedHash = hash.digest('hex');

    const done = await fetch(`${objectUrl()}?uploadId=${encodeURIComponent(session.uploadId)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ parts }),
    });
    expect(done.status).toBe(201);
    const completed = (await done.json()) as { version: number };
    expect(completed).toMatchObject({ key: KEY, size: SIZE, stored: 'blob', created: true });
    version = completed.version;
    const etag = done.headers.get('etag');
    expect(etag).toBe(`"${version}"`);

    const head = await fetch(objectUrl(), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(SIZE));
    expect(head.headers.get('content-type')).toBe('video/mp4');
    expect(head.headers.get('etag')).toBe(etag);
  }, 240_000);

  it('reads it back whole: the GET redirects to S3, and the bytes hash the same', async () => {
    const got = await fetch(objectUrl());
    expect(got.status).toBe(200);
    expect(got.redirected).toBe(true);
    expect(await sha256Of(got)).toEqual({ hash: expectedHash, bytes: SIZE });
  }, 120_000);

  it('reads it back by ranges: 206 with Content-Range, across part boundaries, through the redirect when large', async () => {
    for (const [start, end] of [
      [partSize - 512 * 1024, partSize + 512 * 1024 - 1], // 1 MiB across the first part boundary
      [SIZE - 100, SIZE - 1],
      [0, 0],
    ] as const) {
      const res = await fetch(objectUrl(), { headers: { range: `bytes=${start}-${end}` } });
      expect(res.status).toBe(206);
      expect(res.redirected).toBe(false);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
      expect(Buffer.from(await res.arrayBuffer()).equals(slice(start, end, partSize))).toBe(true);
    }
    const suffix = await fetch(objectUrl(), { headers: { range: 'bytes=-10' } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(slice(SIZE - 10, SIZE - 1, partSize))).toBe(true);
    // 6 MiB: more than a buffered response carries, so S3 serves the range through the redirect.
    const start = 3 * partSize - 3 * MiB;
    const large = await fetch(objectUrl(), { headers: { range: `bytes=${start}-${start + 6 * MiB - 1}` } });
    expect(large.status).toBe(206);
    expect(large.redirected).toBe(true);
    expect(large.headers.get('content-range')).toBe(`bytes ${start}-${start + 6 * MiB - 1}/${SIZE}`);
    expect(Buffer.from(await large.arrayBuffer()).equals(slice(start, start + 6 * MiB - 1, partSize))).toBe(true);
    expect((await fetch(objectUrl(), { headers: { range: `bytes=${SIZE}-` } })).status).toBe(416);
  }, 120_000);

  it('leaves nothing behind: one blob, the one the object points at; the multipart upload is gone', async () => {
    const credentials = { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! };
    const dynamodb = new DynamoDBClient({ endpoint: env.AWS_ENDPOINT_URL_DYNAMODB, region: env.AWS_REGION, credentials });
    const s3 = new S3Client({ endpoint: env.AWS_ENDPOINT_URL_S3, region: env.AWS_REGION, credentials, forcePathStyle: true });
    try {
      const scan = async (table: string) =>
        ((await dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true }))).Items ?? []).map((i) => unmarshall(i));
      const objects = await scan(env.TIERLOG_OBJECTS_TABLE!);
      const item = objects.find((o) => o.key === KEY)!;
      expect(item).toMatchObject({ size: SIZE, version });
      const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.TIERLOG_BUCKET, Prefix: `${env.TIERLOG_PREFIX}/` }));
      expect((listed.Contents ?? []).map((c) => c.Key)).toEqual([item.blob]);
      const sessions = (await scan(env.TIERLOG_CHANGELOG_TABLE!)).filter((i) => i.upload?.key === KEY);
      expect(sessions).toHaveLength(1);
      expect(
        Object.keys(sessions[0]!).filter((k) => k.startsWith('c_')),
        'the create removed its entry',
      ).toEqual([]);
      const parts = await s3
        .send(new ListPartsCommand({ Bucket: env.TIERLOG_BUCKET, Key: sessions[0]!.upload.blob, UploadId: sessions[0]!.upload.s3UploadId }))
        .catch((err: unknown) => err);
      expect((parts as { name?: string }).name).toBe('NoSuchUpload');
    } finally {
      dynamodb.destroy();
      s3.destroy();
    }
  }, 60_000);
});
