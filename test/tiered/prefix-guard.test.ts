/**
 * The prefix guard, the last line before a request: `LtBucket` sends nothing for a key outside
 * `<prefix>/` (another store's namespace in the same bucket, a look-alike prefix, a `..` or `.`
 * segment), whatever asks for it. The checks before it (the writer's own blob keys, the sweeper's
 * and the stream's strict parse of a blob key of the object) are tested where they are; this one
 * stands when they are wrong, so it is tested alone: a guard that no test would miss is one a
 * refactor can drop in silence. And through the store: an objects item that names a blob outside
 * the prefix (another store's, in a shared bucket) never has that blob's bytes served, by any read.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { MULTIPART_PART_SIZE } from '../../lib/constants.js';
import { CorruptItemError, ResourceMissingError } from '../../lib/errors.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { KiB, makeWriter, pointItemAt, randomBody, type Writer } from './harness.js';

let fx: Fixture;
let w: Writer;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { inlineThreshold: 0 } });
});
afterAll(() => w?.close());

describe('LtBucket sends no request for a key outside its prefix', () => {
  const outside = (prefix: string): Array<[string, string]> => [
    ["another store's prefix", 'other/k/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'],
    ['a look-alike prefix', `${prefix}2/k/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`],
    ['the prefix itself', prefix],
    ['a ".." segment', `${prefix}/../other/k/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`],
    ['a "." segment', `${prefix}/./k/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`],
    ['empty', ''],
  ];
  const calls: Array<[string, (lt: LtBucket, key: string) => Promise<unknown>]> = [
    ['upload', (lt, key) => lt.upload(key, randomBody(10))],
    ['getBytes', (lt, key) => lt.getBytes(key, 10)],
    ['getStream', (lt, key) => lt.getStream(key, 10)],
    ['getRangeBytes', (lt, key) => lt.getRangeBytes(key, 10, 0, 1)],
    ['getRangeStream', (lt, key) => lt.getRangeStream(key, 10, 0, 1)],
    ['sizeOf', (lt, key) => lt.sizeOf(key)],
    ['exists', (lt, key) => lt.exists(key)],
    ['delete', (lt, key) => lt.delete(key)],
    ['deleteMany', (lt, key) => lt.deleteMany([`${lt.prefix}/k/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`, key])],
    ['presignGet', (lt, key) => lt.presignGet(key, 60, 'application/octet-stream')],
    ['createMultipart', (lt, key) => lt.createMultipart(key)],
    ['presignUploadParts', (lt, key) => lt.presignUploadParts(key, 'upload-id', [{ partNumber: 1 }], 60)],
    ['listParts', (lt, key) => lt.listParts(key, 'upload-id')],
    ['completeMultipart', (lt, key) => lt.completeMultipart(key, 'upload-id', [{ partNumber: 1, etag: '"e"' }])],
    ['abortMultipart', (lt, key) => lt.abortMultipart(key, 'upload-id')],
    ['multipartUploadIds', (lt, key) => lt.multipartUploadIds(key)],
  ];

  test.each(calls)('%s: a CorruptItemError for each such key, and nothing sent', async (_name, call) => {
    const recorder = new CommandRecorder();
    const s3 = recorder.attach(createS3Client(), 's3');
    const lt = new LtBucket(s3, fx.config.bucket, fx.config.prefix, MULTIPART_PART_SIZE);
    try {
      for (const [what, key] of outside(fx.config.prefix)) {
        const refused = await call(lt, key).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(refused, what).toBeInstanceOf(CorruptItemError);
      }
      expect(recorder.commands).toEqual([]);
    } finally {
      s3.destroy();
    }
  });
});

describe("an objects item that names another store's blob in the same bucket", () => {
  const foreignKey = 'other/secret/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
  const secret = Buffer.from('the other store’s bytes, never to be served from this one');

  beforeAll(async () => {
    await fx.s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: foreignKey, Body: secret }));
    await w.store.put('named', randomBody(20 * KiB));
    // The item of `named` now points at the other store's blob, with that blob's size.
    await pointItemAt(fx, 'named', foreignKey, secret.byteLength);
  });

  const reads: Array<[string, () => Promise<unknown>]> = [
    ['get', () => w.store.get('named')],
    ['get of a range', () => w.store.get('named', { range: { start: 0, end: 3 } })],
    [
      'getStream',
      async () => {
        const got = await w.store.getStream('named');
        for await (const _ of got?.body ?? []);
        return got;
      },
    ],
    ['getStreamOrUrl (a presigned URL)', () => w.store.getStreamOrUrl('named', { maxBytes: 0 })],
  ];

  test.each(reads)('%s: a CorruptItemError, its bytes never read', async (_name, read) => {
    const refused = await read().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(CorruptItemError);
    expect(await listKeys(fx.s3, fx.config.bucket)).toContain(foreignKey);
  });
});

/**
 * `exists` decides the store binding (a blob HV points at that the bucket holds proves the table is
 * this bucket's store, which lets the audit delete) and the snapshot audit's "lost": it answers for
 * exactly the key (a listing from the key finds the keys it prefixes too), and a missing bucket is
 * a configuration error, never a blob undecided.
 */
describe('LtBucket.exists answers for exactly its key', () => {
  test('a key that only prefixes another is missing; that other exists; a missing bucket throws', async () => {
    const lt = new LtBucket(fx.s3, fx.config.bucket, fx.config.prefix, MULTIPART_PART_SIZE);
    const key = `${fx.config.prefix}/exists/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`;
    await fx.s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: `${key}-longer`, Body: 'x' }));
    expect(await lt.exists(key)).toEqual({ kind: 'missing' });
    expect(await lt.exists(`${key}-longer`)).toMatchObject({ kind: 'exists', lastModified: expect.any(Number) });
    const elsewhere = new LtBucket(fx.s3, `${fx.config.bucket}-missing`, fx.config.prefix, MULTIPART_PART_SIZE);
    await expect(elsewhere.exists(key)).rejects.toBeInstanceOf(ResourceMissingError);
  });
});
