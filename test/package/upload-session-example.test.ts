/**
 * `examples/upload-session.ts` (the README's upload session, verbatim): a session with a declared
 * size fixes each part (`partSize` bytes, the rest for the last) and its part URLs sign that
 * length, so S3 refuses a PUT of other bytes (SignatureDoesNotMatch; the local S3 server checks
 * no signature and takes them). The client the example hands each URL to must be told which bytes
 * go there: `partSize` is the store's choice (8 MiB by default, more for a size past 10,000 parts
 * of it), not the client's to guess. Run here against a local stack of its own, on the store's
 * sources; `npm test`'s consumer check compiles the example from the packed tarball.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { provisionLocal } from '../../lib/local/provision.js';
import { type LocalStack, startLocalStack } from '../../lib/local/stack.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { testConfig } from '../support/local.js';

const MiB = 1024 * 1024;
/** The client's side the example takes: `(url, partNumber, bytes?)`; `bytes` is what this test checks it is given. */
type UploadPart = (url: string, partNumber: number, bytes?: { readonly start: number; readonly end: number }) => Promise<string>;
type UploadLarge = (store: TieredStore, key: string, size: number, uploadPart: UploadPart) => Promise<number>;

let stack: LocalStack;
let store: TieredStore;
let changeLog: DynamoChangeLog;
let uploadLarge: UploadLarge;

beforeAll(async () => {
  stack = await startLocalStack();
  const config = testConfig();
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  await provisionLocal(config, { dynamodb, s3 });
  changeLog = new DynamoChangeLog({ config, dynamodb });
  store = new TieredStore({ config, changeLog, dynamodb, s3 });
  // Not a static import: the example imports tierlog by its package name, for its own project.
  const example = '../../examples/upload-session.js';
  ({ uploadLarge } = (await import(example)) as { uploadLarge: UploadLarge });
}, 180_000);

afterAll(async () => {
  changeLog?.close();
  await stack?.stop();
});

/** The bytes S3 takes at part `n`'s URL of a session of `size` bytes and `partSize` parts. */
const partBytes = (n: number, partSize: number, size: number) => ({ start: (n - 1) * partSize, end: Math.min(n * partSize, size) - 1 });

test('the client is told the bytes of each part: the parts of a session past 10,000 parts of 8 MiB are the store’s size, not 8 MiB', async () => {
  const size = 100 * 1024 * MiB; // 100 GiB: 8 MiB parts would be 12,800, past S3's 10,000
  const told: Array<{ partNumber: number; bytes: unknown }> = [];
  const stop = new Error('enough parts seen');
  const uploadPart: UploadPart = async (_url, partNumber, bytes) => {
    told.push({ partNumber, bytes });
    if (told.length === 3) throw stop; // the example aborts the session
    return `"etag-${partNumber}"`;
  };
  await expect(uploadLarge(store, 'videos/huge', size, uploadPart)).rejects.toBe(stop);
  const partSize = Math.ceil(size / 10_000 / MiB) * MiB;
  expect(partSize).toBeGreaterThan(8 * MiB);
  expect(told).toEqual([1, 2, 3].map((n) => ({ partNumber: n, bytes: partBytes(n, partSize, size) })));
}, 120_000);

test('a client that PUTs exactly the bytes it is told stores the body, the short last part included', async () => {
  const size = 17 * MiB + 5;
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4096) body.writeUInt32BE(i, i);
  const uploadPart: UploadPart = async (url, _partNumber, bytes) => {
    if (bytes === undefined) throw new Error('the example did not say which bytes go to this URL');
    const res = await fetch(url, { method: 'PUT', body: body.subarray(bytes.start, bytes.end + 1) });
    expect(res.status).toBe(200);
    return res.headers.get('etag')!;
  };
  const version = await uploadLarge(store, 'videos/small', size, uploadPart);
  const got = await store.get('videos/small');
  expect(got?.version).toBe(version);
  expect(got?.size).toBe(size);
  expect(createHash('sha256').update(got!.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
}, 120_000);
