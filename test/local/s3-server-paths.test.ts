/**
 * The local S3 server keeps buckets and uploads on disk under its own directory, at paths made of
 * what a request names: a bucket in its path, an upload id in its query. Neither may reach the disk
 * outside that directory. A bucket that is no single name (`..`, `a%2F..`) is `InvalidBucketName`;
 * an upload id that is a path (`../../..`) is `NoSuchUpload` (S3's ids are opaque, and the server
 * mints its own), as S3 answers them: never a directory to write into, read or remove. A key is
 * stored as a path of its segments: one with a `.` or `..` segment is refused (`InvalidArgument`,
 * which S3 does not answer: it takes such keys), never a file outside the bucket.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  ListPartsCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const SERVER = fileURLToPath(new URL('../../lib/local/s3-server-process.mjs', import.meta.url));
const BUCKET = 'upload-ids';

let temp: string;
/** Where the server makes its directory: two levels below `temp`, so that `..` and `../..` of it are still in `temp`. */
let home: string;
let server: ChildProcess;
let s3: S3Client;
let port: number;

beforeAll(async () => {
  temp = mkdtempSync(join(tmpdir(), 'tierlog-s3-paths-'));
  home = join(temp, 'a', 'b');
  mkdirSync(home, { recursive: true });
  server = spawn(process.execPath, ['--openssl-legacy-provider', SERVER, join(home, 'data-')], { stdio: ['pipe', 'pipe', 'inherit'] });
  ({ port } = await new Promise<{ port: number }>((resolve, reject) => {
    server.stdout!.once('data', (line: Buffer) => resolve(JSON.parse(line.toString())));
    server.once('exit', (code) => reject(new Error(`the S3 server exited with ${code}`)));
  }));
  s3 = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  s3?.destroy();
  if (server?.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.stdin!.end();
    await exited;
  }
  rmSync(temp, { recursive: true, force: true });
});

/**
 * A directory of the user's beside the server's, shaped as an upload (a `key`, a `metadata`), and
 * the upload id that names it from the server's uploads directory (`<data>/<bucket>/._S3rver_uploads`).
 */
function decoy(name: string): { dir: string; uploadId: string; files: () => string[] } {
  const dir = join(home, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'key'), 'mine');
  writeFileSync(join(dir, 'metadata'), '{}');
  return { dir, uploadId: `../../../${name}`, files: () => readdirSync(dir).sort() };
}

describe('an upload id that is a path is NoSuchUpload, and the disk outside the server is left alone', () => {
  it.each<[string, (uploadId: string) => Promise<unknown>]>([
    [
      'AbortMultipartUpload (it removes the upload directory)',
      (UploadId) => s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'k', UploadId })),
    ],
    [
      'CompleteMultipartUpload (it removes the upload directory once the object is written)',
      (UploadId) =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: 'k',
            UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0"' }] },
          }),
        ),
    ],
    [
      'UploadPart (it writes the part into the upload directory)',
      (UploadId) => s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'k', UploadId, PartNumber: 1, Body: 'part' })),
    ],
    ['ListParts (it reads the upload directory)', (UploadId) => s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'k', UploadId }))],
  ])('%s', async (operation, send) => {
    const mine = decoy(`decoy-${operation.split(' ')[0]}`);
    const error = await send(mine.uploadId).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect((error as Error | undefined)?.name).toBe('NoSuchUpload');
    expect(mine.files()).toEqual(['key', 'metadata']);
  });

  it('an upload the server made is still served by its id', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'real' }));
    expect(UploadId).toMatch(/^[0-9a-f]{32}$/);
    await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'real', UploadId, PartNumber: 1, Body: 'part' }));
    expect((await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'real', UploadId }))).Parts).toHaveLength(1);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'real', UploadId }));
    const gone = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'real', UploadId })).catch((err: unknown) => err);
    expect((gone as Error).name).toBe('NoSuchUpload');
  });
});

/** A request sent as it is (no client normalizes its path), answered with its status and body. */
function raw(method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a bucket that is no single name is InvalidBucketName, and the disk outside the server is left alone', () => {
  it.each([
    ['/..', "the directory holding the server's (the temporary directory, for the stack)"],
    ['/%2E%2E', 'the same, its dots encoded'],
    ['/x%2F..%2F..', 'the same, through a name with an encoded slash'],
    ['/.', "the server's own directory"],
  ])('DeleteBucket %s (it would remove %s)', async (path) => {
    writeFileSync(join(home, 'precious'), 'mine');
    const answer = await raw('DELETE', path);
    expect(answer.body).toContain('<Code>InvalidBucketName</Code>');
    expect(answer.status).toBe(400);
    expect(readdirSync(home).sort()).toEqual(expect.arrayContaining(['precious']));
    // The server's directory is still there: it still serves.
    await expect(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'k', UploadId: '0'.repeat(32) }))).rejects.toMatchObject({
      name: 'NoSuchUpload',
    });
    expect(readdirSync(home).some((name) => name.startsWith('data-'))).toBe(true);
  });
});

describe('a key with a dot segment is refused, and the disk outside the bucket is left alone', () => {
  const refusal = (sent: Promise<unknown>) =>
    sent.then(
      () => 'answered',
      (err: unknown) => (err as Error).name,
    );

  it('DeleteObject of ../../x does not delete the x of the directory holding the server', async () => {
    // A file the server would have made there: an object of another server beside it, say.
    const victim = join(home, 'victim._S3rver_object');
    writeFileSync(victim, 'mine');
    const answer = await refusal(s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: '../../victim' })));
    expect(existsSync(victim)).toBe(true);
    expect(answer).toBe('InvalidArgument');
  });

  it('PutObject of ../../x writes nothing outside the bucket; GetObject of it reads nothing', async () => {
    const put = await refusal(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a/../../../written', Body: 'data' })));
    expect(readdirSync(home).filter((name) => name.startsWith('written'))).toEqual([]);
    expect(put).toBe('InvalidArgument');
    writeFileSync(join(home, 'secret._S3rver_object'), 'mine');
    expect(await refusal(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: '../../secret' })))).toBe('InvalidArgument');
  });

  it('a key with dots inside its segments is an object as any other', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'v1..2/.hidden/x.', Body: 'data' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'v1..2/.hidden/x.' }));
    expect(await got.Body!.transformToString()).toBe('data');
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'v1..2/.hidden/x.' }));
  });
});
