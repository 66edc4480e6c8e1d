/**
 * TieredStore behaviour against the real local servers: where bodies live, how many calls each
 * operation costs, byte-exact round trips, conditional writes, validation, and the read that
 * follows a blob replaced under it. Every outcome is checked from outside (raw scans/listings).
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { addInsideRetryLoop } from '../../lib/aws/retry-loop.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { BlobMissingError, ValidationError, VersionConflictError } from '../../lib/errors.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import type { TierlogConfig } from '../../lib/config.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { firstVersion } from '../../lib/tiered/versions.js';
import { type Fixture, freshFixture, listKeys, scanAll } from '../support/local.js';
import {
  KiB,
  MiB,
  deferred,
  expectClean,
  makeWriter,
  randomBody,
  rawGetObject,
  rawState,
  rawValue,
  sameBytes,
  snapshot,
  type Writer,
} from './harness.js';

let fx: Fixture;
let w: Writer;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx);
});
afterAll(() => w?.close());

const SMALL = 1 * KiB;
const LARGE = 64 * KiB;

/** A store whose two clients carry separate injectors, to count calls per service. */
function countingStore(options: { partSize?: number; config?: Partial<TierlogConfig> } = {}) {
  const { config: overrides, ...storeOptions } = options;
  const config = { ...fx.config, ...overrides };
  const ddb = new FaultInjector();
  const s3i = new FaultInjector();
  const recorder = new CommandRecorder();
  const dynamodb = recorder.attach(ddb.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
  const s3 = recorder.attach(s3i.attach(createS3Client(), 's3'), 's3');
  const log = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
  const store = new TieredStore({ config, changeLog: log, dynamodb, s3, ...storeOptions });
  return {
    store,
    recorder,
    /** Runs `op` and returns the calls it made per service (attempts, as the injectors count them). */
    async measure<T>(op: () => Promise<T>): Promise<{ result: T; dynamodb: number; s3: number; names: string[] }> {
      const d0 = ddb.stats.requests;
      const s0 = s3i.stats.requests;
      recorder.reset();
      const result = await op();
      return { result, dynamodb: ddb.stats.requests - d0, s3: s3i.stats.requests - s0, names: recorder.names() };
    },
    close() {
      log.close();
      dynamodb.destroy();
      s3.destroy();
    },
  };
}

describe('calls per operation', () => {
  test('small put is inline: exactly 1 DynamoDB call, 0 S3 calls, no log item', async () => {
    const c = countingStore();
    try {
      const body = randomBody(SMALL);
      const before = Date.now();
      const m = await c.measure(() => c.store.put('calls/small', body));
      expect(m.result).toMatchObject({ stored: 'inline', size: SMALL, created: true });
      // A key with no item starts at a version drawn from the writer's clock (lib/tiered/versions.ts).
      expect(m.result.version).toBeGreaterThanOrEqual(firstVersion(before));
      expect(m.result.version).toBeLessThanOrEqual(firstVersion(Date.now()));
      expect(m.dynamodb).toBe(1);
      expect(m.s3).toBe(0);
      expect(m.names).toEqual(['UpdateItem']);
      const item = (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === 'calls/small');
      expect(item?.blob).toBeUndefined();
      expect(sameBytes(item?.body as Uint8Array, body)).toBe(true);
      expect((await listKeys(fx.s3, fx.config.bucket)).some((k) => k.includes(Buffer.from('calls/small').toString('base64url')))).toBe(
        false,
      );
    } finally {
      c.close();
    }
  });

  test('measured per operation type (printed), with the protocol bounds', async () => {
    const c = countingStore();
    const rows: Array<{ op: string; dynamodb: number; s3: number; calls: string }> = [];
    const run = async <T>(op: string, f: () => Promise<T>) => {
      const m = await c.measure(f);
      rows.push({ op, dynamodb: m.dynamodb, s3: m.s3, calls: m.names.join(' ') });
      return m;
    };
    try {
      const smallPut = await run('small put (create)', () => c.store.put('calls/a', randomBody(SMALL)));
      const smallOver = await run('small put (overwrite small)', () => c.store.put('calls/a', randomBody(SMALL)));
      const largeOverSmall = await run('large over small', () => c.store.put('calls/a', randomBody(LARGE)));
      const largeCreate = await run('large create', () => c.store.put('calls/b', randomBody(LARGE)));
      const overwrite = await run('large overwrite', () => c.store.put('calls/b', randomBody(LARGE)));
      const getLarge = await run('get large', () => c.store.get('calls/b'));
      const headLarge = await run('head large', () => c.store.head('calls/b'));
      const smallOverLarge = await run('small over large', () => c.store.put('calls/b', randomBody(SMALL)));
      const getSmall = await run('get small', () => c.store.get('calls/b'));
      const deleteSmall = await run('delete small', () => c.store.delete('calls/b'));
      const deleteAbsent = await run('delete absent', () => c.store.delete('calls/b'));
      const deleteLarge = await run('delete large', () => c.store.delete('calls/a'));
      const multipart = await run('large create multipart (9 MiB)', () => c.store.put('calls/mp', randomBody(9 * MiB)));
      console.log(
        `\ncalls per operation (attempts seen by the injectors):\n${rows
          .map((r) => `  ${r.op.padEnd(32)} dynamodb=${r.dynamodb} s3=${r.s3}  [${r.calls}]`)
          .join('\n')}\n`,
      );

      expect([smallPut.dynamodb, smallPut.s3]).toEqual([1, 0]);
      expect([smallOver.dynamodb, smallOver.s3]).toEqual([1, 0]);
      // Large create: record ∥ read, then the commit; no remove (the commit drops the entry).
      expect(largeCreate.dynamodb).toBeLessThanOrEqual(3);
      expect([largeCreate.dynamodb, largeCreate.s3]).toEqual([3, 1]);
      expect(largeCreate.names.slice(0, 2).sort()).toEqual(['GetItem', 'UpdateItem']);
      expect(largeCreate.names.slice(2)).toEqual(['PutObject', 'TransactWriteItems']);
      expect([largeOverSmall.dynamodb, largeOverSmall.s3]).toEqual([3, 1]);
      // Overwrite: + delete old + remove.
      expect([overwrite.dynamodb, overwrite.s3]).toEqual([4, 2]);
      expect(overwrite.names.slice(2)).toEqual(['PutObject', 'TransactWriteItems', 'DeleteObject', 'UpdateItem']);
      // Replacing a blob without uploading one records nothing before its commit: the commit's
      // transaction writes the entry `{old}`; the settle deletes `old` and removes it.
      expect([smallOverLarge.dynamodb, smallOverLarge.s3]).toEqual([3, 1]);
      expect(smallOverLarge.names).toEqual(['UpdateItem', 'TransactWriteItems', 'DeleteObject', 'UpdateItem']);
      expect([deleteLarge.dynamodb, deleteLarge.s3]).toEqual([3, 1]);
      expect(deleteLarge.names).toEqual(['UpdateItem', 'TransactWriteItems', 'DeleteObject', 'UpdateItem']);
      expect([deleteSmall.dynamodb, deleteSmall.s3]).toEqual([1, 0]);
      expect([deleteAbsent.dynamodb, deleteAbsent.s3]).toEqual([1, 0]);
      expect([getLarge.dynamodb, getLarge.s3]).toEqual([1, 1]);
      expect([headLarge.dynamodb, headLarge.s3]).toEqual([1, 0]);
      expect([getSmall.dynamodb, getSmall.s3]).toEqual([1, 0]);
      expect(multipart.dynamodb).toBe(3);
      expect(multipart.names.filter((n) => n === 'UploadPart')).toHaveLength(2);
      expect(multipart.names).toContain('CreateMultipartUpload');
      expect(multipart.names).toContain('CompleteMultipartUpload');
      expect(multipart.s3).toBe(4);
      await c.store.delete('calls/mp');
      await c.store.delete('calls/small');
      await expectClean(fx, expect);
    } finally {
      c.close();
    }
  });
});

describe("calls per operation when the stream cleans replaced blobs (replacedBlobCleanup: 'stream')", () => {
  test('a large delete or small-over-large is the unlogged path; an overwrite removes its entry at the commit', async () => {
    const c = countingStore({ config: { replacedBlobCleanup: 'stream' } });
    try {
      await c.store.put('stream-calls/a', randomBody(LARGE));
      await c.store.put('stream-calls/b', randomBody(LARGE));
      const largeCreate = await c.measure(() => c.store.put('stream-calls/c', randomBody(LARGE)));
      const overwrite = await c.measure(() => c.store.put('stream-calls/a', randomBody(LARGE)));
      const smallOverLarge = await c.measure(() => c.store.put('stream-calls/b', randomBody(SMALL)));
      const deleteLarge = await c.measure(() => c.store.delete('stream-calls/a'));
      // A create is the same in both modes.
      expect(largeCreate.names.slice(2)).toEqual(['PutObject', 'TransactWriteItems']);
      // Overwrite: no remove after deleting old (the commit removed the entry, which never named old).
      expect([overwrite.dynamodb, overwrite.s3]).toEqual([3, 2]);
      expect(overwrite.names.slice(0, 2).sort()).toEqual(['GetItem', 'UpdateItem']);
      expect(overwrite.names.slice(2)).toEqual(['PutObject', 'TransactWriteItems', 'DeleteObject']);
      // Replacing a blob without uploading one: the refused small write, then a plain conditional
      // write (no transaction, no change-log request), then the delete of old: as without a log.
      expect(smallOverLarge.names).toEqual(['UpdateItem', 'UpdateItem', 'DeleteObject']);
      expect(deleteLarge.names).toEqual(['UpdateItem', 'UpdateItem', 'DeleteObject']);
      const tables = c.recorder.commands.map((r) => r.input.TableName).filter((t) => t !== undefined);
      expect(tables, 'the delete never touched the change log').not.toContain(fx.config.changeLogTable);
      const state = await rawState(fx);
      expect(state.references.has('stream-calls/a')).toBe(false);
      expect(state.unreferenced).toEqual([]);
      await c.store.delete('stream-calls/b');
      await c.store.delete('stream-calls/c');
      await expectClean(fx, expect);
    } finally {
      c.close();
    }
  });
});

describe('round trips', () => {
  test('large create, overwrite, small-over-large, large-over-small, delete: byte-exact, nothing leaks', async () => {
    const key = 'rt/object with spaces/ünïcode';
    const v1 = randomBody(LARGE);
    const r1 = await w.store.put(key, v1, { contentType: 'application/x-test', metadata: { owner: 'alice', 'tag-1': 'x y' } });
    expect(r1).toEqual({ key, version: expect.any(Number), size: LARGE, stored: 'blob', created: true });
    const v = r1.version;
    const blob1 = (await rawState(fx)).references.get(key)!;
    expect(blob1.startsWith(`${fx.config.prefix}/`)).toBe(true);
    const head = await fx.s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: blob1 }));
    expect(head.ContentType).toBe('application/x-test');
    expect(head.Metadata).toMatchObject({ owner: 'alice', 'tag-1': 'x y' });
    const g1 = await w.store.get(key);
    expect(sameBytes(g1?.body, v1)).toBe(true);
    expect(g1).toMatchObject({
      version: v,
      size: LARGE,
      contentType: 'application/x-test',
      metadata: { owner: 'alice', 'tag-1': 'x y' },
      stored: 'blob',
    });

    const v2 = randomBody(LARGE + 7);
    expect(await w.store.put(key, v2)).toMatchObject({ version: v + 1, stored: 'blob', created: false });
    let state = await expectClean(fx, expect);
    const blob2 = state.references.get(key)!;
    expect(blob2).not.toBe(blob1);
    expect(state.blobs).not.toContain(blob1);
    expect(sameBytes(await rawValue(fx, key), v2)).toBe(true);
    const g2 = await w.store.get(key);
    expect(g2?.contentType).toBeUndefined();
    expect(g2?.metadata).toEqual({});

    const v3 = randomBody(SMALL);
    expect(await w.store.put(key, v3, { contentType: 'text/plain' })).toMatchObject({ version: v + 2, stored: 'inline' });
    state = await expectClean(fx, expect);
    expect(state.references.has(key)).toBe(false);
    expect(state.blobs).not.toContain(blob2);
    expect(sameBytes(await rawValue(fx, key), v3)).toBe(true);
    expect(await w.store.get(key)).toMatchObject({ version: v + 2, stored: 'inline', contentType: 'text/plain' });

    const v4 = randomBody(LARGE * 2);
    expect(await w.store.put(key, v4)).toMatchObject({ version: v + 3, stored: 'blob' });
    state = await expectClean(fx, expect);
    const item = state.objects.find((i) => i.key === key)!;
    expect(item.body).toBeUndefined();
    expect(sameBytes(await rawValue(fx, key), v4)).toBe(true);

    expect(await w.store.delete(key)).toBe(true);
    state = await expectClean(fx, expect);
    // What stays is a deletion marker: the version counter, no body, no blob.
    expect(state.objects.find((i) => i.key === key)).toEqual(expect.objectContaining({ key, version: v + 4, deleted: true }));
    expect(state.references.has(key)).toBe(false);
    expect(state.blobs.filter((b) => [blob1, blob2].includes(b) || b.includes(Buffer.from(key).toString('base64url')))).toEqual([]);
    expect(await w.store.get(key)).toBeUndefined();
    expect(await w.store.delete(key)).toBe(false);
  });

  test('multipart (> 8 MiB) round-trips byte-exact through get and getStream', async () => {
    const key = 'rt/multipart';
    const body = randomBody(9 * MiB + 123);
    const put = await w.store.put(key, body, { contentType: 'application/octet-stream', metadata: { part: 'many' } });
    expect(put).toMatchObject({ size: body.byteLength, stored: 'blob', created: true });
    expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
    const got = await w.store.get(key);
    expect(sameBytes(got?.body, body)).toBe(true);
    expect(got).toMatchObject({ version: put.version, metadata: { part: 'many' } });
    const streamed = await w.store.getStream(key);
    const chunks: Buffer[] = [];
    for await (const chunk of streamed!.body) chunks.push(Buffer.from(chunk));
    expect(Buffer.concat(chunks).equals(Buffer.from(body))).toBe(true);
    expect(await w.store.delete(key)).toBe(true);
    await expectClean(fx, expect);
  });

  test('get / getStream / head / delete of an absent key', async () => {
    expect(await w.store.get('absent/x')).toBeUndefined();
    expect(await w.store.getStream('absent/x')).toBeUndefined();
    expect(await w.store.head('absent/x')).toBeUndefined();
    expect(await w.store.delete('absent/x')).toBe(false);
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === 'absent/x')).toBeUndefined();
  });

  test('getStream and head of small and large objects', async () => {
    const small = randomBody(SMALL);
    const large = randomBody(LARGE);
    const versions = {
      'gs/small': (await w.store.put('gs/small', small, { metadata: { a: 'b' } })).version,
      'gs/large': (await w.store.put('gs/large', large)).version,
    };
    for (const [key, body] of [
      ['gs/small', small],
      ['gs/large', large],
    ] as const) {
      const s = await w.store.getStream(key);
      const chunks: Buffer[] = [];
      for await (const chunk of s!.body) chunks.push(Buffer.from(chunk));
      expect(Buffer.concat(chunks).equals(Buffer.from(body))).toBe(true);
      const h = await w.store.head(key);
      expect(h).toMatchObject({ key, version: versions[key], size: body.byteLength });
      expect(h).not.toHaveProperty('body');
    }
    expect((await w.store.head('gs/small'))?.metadata).toEqual({ a: 'b' });
    await w.store.delete('gs/small');
    await w.store.delete('gs/large');
    await expectClean(fx, expect);
  });

  test('concurrent large overwrites of one key: last writer wins, nothing leaks', async () => {
    const key = 'race/overwrite';
    const { version: v } = await w.store.put(key, randomBody(LARGE));
    const other = makeWriter(fx);
    try {
      const a = randomBody(LARGE);
      const b = randomBody(LARGE);
      const [ra, rb] = await Promise.all([w.store.put(key, a), other.store.put(key, b)]);
      expect([ra.version - v, rb.version - v].sort()).toEqual([1, 2]);
      const final = await rawValue(fx, key);
      const winner = ra.version === v + 2 ? a : b;
      expect(sameBytes(final, winner)).toBe(true);
      await expectClean(fx, expect);
      await w.store.delete(key);
    } finally {
      other.close();
    }
  });
});

describe('ifVersion', () => {
  for (const [label, size] of [
    ['small', SMALL],
    ['large', LARGE],
  ] as const) {
    test(`${label}: 0 = create-only, match writes, mismatch throws VersionConflictError and changes nothing`, async () => {
      const key = `ifv/${label}`;
      const v1 = randomBody(size);
      const { version: v } = await w.store.put(key, v1, { ifVersion: 0 });

      const before = await rawState(fx);
      await expect(w.store.put(key, randomBody(size), { ifVersion: 0 })).rejects.toBeInstanceOf(VersionConflictError);
      await expect(w.store.put(key, randomBody(size), { ifVersion: 7 })).rejects.toMatchObject({
        name: 'VersionConflictError',
        expected: 7,
        actual: v,
      });
      await expect(w.store.put(key, randomBody(size), { ifVersion: v - 1 })).rejects.toBeInstanceOf(VersionConflictError);
      await expect(w.store.delete(key, { ifVersion: v + 1 })).rejects.toBeInstanceOf(VersionConflictError);
      const after = await rawState(fx);
      expect(after.objects).toEqual(before.objects);
      expect(after.blobs).toEqual(before.blobs);
      expect(after.entries).toBe(0);
      expect(sameBytes(await rawValue(fx, key), v1)).toBe(true);

      const v2 = randomBody(size);
      expect(await w.store.put(key, v2, { ifVersion: v })).toMatchObject({ version: v + 1 });
      expect(sameBytes(await rawValue(fx, key), v2)).toBe(true);
      expect(await w.store.delete(key, { ifVersion: v + 1 })).toBe(true);
      expect(await rawValue(fx, key)).toBeUndefined();
      await expectClean(fx, expect);
    });
  }

  test('ifVersion on an absent key: only 0 writes', async () => {
    await expect(w.store.put('ifv/absent', randomBody(LARGE), { ifVersion: 1 })).rejects.toBeInstanceOf(VersionConflictError);
    await expect(w.store.put('ifv/absent', randomBody(SMALL), { ifVersion: 1 })).rejects.toBeInstanceOf(VersionConflictError);
    expect(await rawValue(fx, 'ifv/absent')).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('two writers with the same ifVersion: exactly one wins', async () => {
    const key = 'ifv/race';
    const { version: v } = await w.store.put(key, randomBody(LARGE));
    const other = makeWriter(fx);
    try {
      const a = randomBody(LARGE);
      const b = randomBody(LARGE);
      const results = await Promise.allSettled([w.store.put(key, a, { ifVersion: v }), other.store.put(key, b, { ifVersion: v })]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      expect(failed[0]!.reason).toBeInstanceOf(VersionConflictError);
      const winner = results[0]!.status === 'fulfilled' ? a : b;
      expect(sameBytes(await rawValue(fx, key), winner)).toBe(true);
      await expectClean(fx, expect);
      await w.store.delete(key);
    } finally {
      other.close();
    }
  });
});

describe('validation writes nothing', () => {
  const badKeys: Array<[string, unknown]> = [
    ['empty', ''],
    ['too long', 'k'.repeat(513)],
    ['control character', 'a\u0001b'],
    ['lone surrogate', 'a\ud800b'],
    ['not a string', 42],
  ];
  const badOptions: Array<[string, Record<string, unknown>]> = [
    ['metadata upper-case name', { metadata: { Owner: 'x' } }],
    ['metadata non-string value', { metadata: { owner: 1 } }],
    ['metadata non-printable value', { metadata: { owner: 'a\nb' } }],
    ['metadata over 2 KB', { metadata: { big: 'x'.repeat(2100) } }],
    // 400 bytes of names, 6 KB of S3 request headers: taken inline, refused by S3 (a 431) for a blob.
    ['metadata of 200 short entries', { metadata: shortEntries(200) }],
    ['metadata an array', { metadata: ['x'] }],
    // A Map's entries are no properties: it passed as no metadata, and was stored as {}.
    ['metadata a Map', { metadata: new Map([['owner', 'bob']]) }],
    ['content type non-printable', { contentType: 'text/\u0000' }],
    // HTTP drops the spaces around a header value: S3 stored 'text/plain', HV ' text/plain', and no
    // HTTP client could send or read what the store held. An empty type is no media type at all.
    ['content type empty', { contentType: '' }],
    ['content type with a leading space', { contentType: ' text/plain' }],
    ['content type of 256 characters', { contentType: 't'.repeat(256) }],
    ['metadata name of 129 characters', { metadata: { ['m'.repeat(129)]: 'v' } }],
    ['metadata of 2,049 bytes', { metadata: { ['m'.repeat(128)]: 'v'.repeat(1921) } }],
    ['content type with a trailing space', { contentType: 'text/plain ' }],
    ['metadata value with a leading space', { metadata: { owner: ' bob' } }],
    ['metadata value with a trailing space', { metadata: { owner: 'bob ' } }],
    ['metadata value of a space', { metadata: { owner: ' ' } }],
    ['ifVersion negative', { ifVersion: -1 }],
    ['ifVersion fractional', { ifVersion: 1.5 }],
    ['ifVersion beyond 2^53', { ifVersion: 2 ** 53 }],
  ];

  test.each(badKeys)('bad key (%s): ValidationError, no request sent', async (_label, key) => {
    const before = await snapshot(fx);
    const requests = w.injector.stats.requests;
    for (const size of [SMALL, LARGE]) {
      await expect(w.store.put(key as string, randomBody(size))).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(w.store.get(key as string)).rejects.toBeInstanceOf(ValidationError);
    await expect(w.store.head(key as string)).rejects.toBeInstanceOf(ValidationError);
    await expect(w.store.delete(key as string)).rejects.toBeInstanceOf(ValidationError);
    expect(w.injector.stats.requests).toBe(requests);
    expect(await snapshot(fx)).toBe(before);
  });

  test.each(badOptions)('bad option (%s): ValidationError, no request sent', async (_label, options) => {
    const before = await snapshot(fx);
    const requests = w.injector.stats.requests;
    for (const size of [SMALL, LARGE]) {
      await expect(w.store.put('valid/key', randomBody(size), options as never)).rejects.toBeInstanceOf(ValidationError);
    }
    await expect(w.store.createUpload('valid/key', options as never)).rejects.toBeInstanceOf(ValidationError);
    expect(w.injector.stats.requests).toBe(requests);
    expect(await snapshot(fx)).toBe(before);
  });

  test('what lies exactly at each bound is taken: a 512-byte key, a 255-character type, 2,048 bytes of metadata, 4,096 bytes of its headers', async () => {
    // 132 entries of a 2-character name cost 4,092 bytes of headers; 4 characters of value make 4,096.
    const atHeaderBound = { ...shortEntries(132), aa: 'abcd' };
    // The longest keys inline only: the local S3 server stores a blob key's segment as a file name.
    const cases: Array<[string, Record<string, unknown>, number[]]> = [
      ['k'.repeat(512), { contentType: 't'.repeat(255) }, [SMALL]],
      ['ü'.repeat(256), {}, [SMALL]],
      ['bounds/metadata', { metadata: { ['m'.repeat(128)]: 'v'.repeat(1920) } }, [SMALL, LARGE]],
      ['bounds/headers', { metadata: atHeaderBound }, [SMALL, LARGE]],
    ];
    for (const [key, options, sizes] of cases) {
      for (const size of sizes) {
        const put = await w.store.put(key, randomBody(size), options as never);
        expect(await w.store.head(put.key)).toMatchObject(options);
      }
      await w.store.delete(key);
    }
  });

  test('metadata is taken or refused alike inline, as a blob and by an upload session: S3 headers bound the entries', async () => {
    // 132 entries of a 2-character name cost 4,092 bytes of headers (27 + 2 × 2 each): the most taken.
    const most = shortEntries(132);
    for (const size of [SMALL, LARGE]) {
      const put = await w.store.put(`metadata/most-${size}`, randomBody(size), { metadata: most });
      expect((await w.store.head(put.key))?.metadata).toEqual(most);
    }
    const session = await w.store.createUpload('metadata/most-session', { metadata: most });
    await w.store.abortUpload(session.uploadId);

    const before = await snapshot(fx);
    const one = shortEntries(133);
    for (const size of [SMALL, LARGE]) {
      await expect(w.store.put('metadata/one-more', randomBody(size), { metadata: one })).rejects.toMatchObject({
        name: 'ValidationError',
        field: 'metadata',
      });
    }
    await expect(w.store.createUpload('metadata/one-more', { metadata: one })).rejects.toMatchObject({ field: 'metadata' });
    expect(await snapshot(fx)).toBe(before);
  });

  test("what S3 holds of a blob (a presigned GET's answer) is what reads answer: its type and metadata, as given", async () => {
    const options = { contentType: 'text/plain; charset=utf-8', metadata: { 'tag-1': 'x  y', empty: '', owner: 'bob' } };
    const { key } = await w.store.put('metadata/as-s3-holds', randomBody(LARGE), options);
    const info = await w.store.head(key);
    expect(info).toMatchObject({ stored: 'blob', ...options });
    const url = (await w.store.presignGet(key))?.url;
    const s3 = await fetch(String(url));
    await s3.arrayBuffer();
    expect(s3.headers.get('content-type')).toBe(info?.contentType);
    for (const [name, value] of Object.entries(options.metadata)) expect(s3.headers.get(`x-amz-meta-${name}`)).toBe(value);
  });

  test('body that is neither bytes nor string', async () => {
    const before = await snapshot(fx);
    await expect(w.store.put('valid/key', 12 as never)).rejects.toBeInstanceOf(ValidationError);
    expect(await snapshot(fx)).toBe(before);
  });
});

describe('read of a tombstone whose blob is replaced under it', () => {
  /** A reader whose GetObject is held (a middleware) until the test releases it. */
  function gatedReader() {
    const arrived = deferred();
    const release = deferred();
    let gated = 0;
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = recorder.attach(createS3Client(), 's3');
    s3.middlewareStack.add(
      (next: any, context: any) => async (args: any) => {
        if (context.commandName === 'GetObjectCommand' && gated++ === 0) {
          arrived.resolve();
          await release.promise;
        }
        return next(args);
      },
      { step: 'initialize', name: 'testGate' },
    );
    const store = new TieredStore({
      config: fx.config,
      changeLog: new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false }),
      dynamodb,
      s3,
    });
    return { store, recorder, arrived, release, close: () => (dynamodb.destroy(), s3.destroy()) };
  }

  for (const mode of ['get', 'getStream'] as const) {
    test(`${mode}: re-reads HV once and returns the new value`, async () => {
      const key = `reread/${mode}`;
      const { version: v } = await w.store.put(key, randomBody(LARGE));
      const reader = gatedReader();
      try {
        const pending = reader.store[mode](key);
        await reader.arrived.promise; // HV read, GetObject held
        const newer = randomBody(LARGE);
        await w.store.put(key, newer); // deletes the blob the reader is about to fetch
        reader.release.resolve();
        const result = await pending;
        let bytes: Uint8Array;
        if (mode === 'get') bytes = (result as { body: Uint8Array }).body;
        else {
          const chunks: Buffer[] = [];
          for await (const c of (result as { body: AsyncIterable<Buffer> }).body) chunks.push(Buffer.from(c));
          bytes = Buffer.concat(chunks);
        }
        expect(sameBytes(bytes, newer)).toBe(true);
        expect(result?.version).toBe(v + 1);
        expect(reader.recorder.names('dynamodb')).toEqual(['GetItem', 'GetItem']);
        expect(reader.recorder.names('s3')).toEqual(['GetObject', 'GetObject']);
        await w.store.delete(key);
        await expectClean(fx, expect);
      } finally {
        reader.close();
      }
    });
  }

  for (const [label, replace] of [
    ['an inline body', (key: string) => w.store.put(key, 'now small')],
    ['nothing (deleted)', (key: string) => w.store.delete(key)],
  ] as const) {
    test(`get: the blob replaced by ${label} under the read`, async () => {
      const key = `reread/${label}`;
      await w.store.put(key, randomBody(LARGE));
      const reader = gatedReader();
      try {
        const pending = reader.store.get(key);
        await reader.arrived.promise;
        await replace(key);
        reader.release.resolve();
        const result = await pending;
        if (label === 'an inline body') expect(Buffer.from(result!.body).toString()).toBe('now small');
        else expect(result).toBeUndefined();
        expect(reader.recorder.names('dynamodb')).toEqual(['GetItem', 'GetItem']);
        await w.store.delete(key);
        await expectClean(fx, expect);
      } finally {
        reader.close();
      }
    });
  }

  test('getStreamOrUrl with consistentReads false: the URL names the blob a consistent read shows, never one a stale read named', async () => {
    // An eventually consistent read may answer the item as it was before an overwrite, whose settle
    // deleted that blob. A stream follows the pointer (a consistent re-read); a URL is followed by
    // its holder, who got a 403/404 from S3 for an object that exists.
    const key = 'reread/stale-url';
    await w.store.put(key, randomBody(LARGE));
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    let capture = false;
    let stale: unknown;
    // The next eventually consistent GetItem after a capture is answered with the captured answer.
    type Args = { readonly input: { readonly ConsistentRead?: boolean } };
    const staleRead = (next: (args: Args) => Promise<unknown>, context: { readonly commandName?: string }) => async (args: Args) => {
      if (context.commandName !== 'GetItemCommand') return next(args);
      if (args.input.ConsistentRead === false && stale !== undefined) {
        const answer = stale;
        stale = undefined;
        return answer;
      }
      const answer = await next(args);
      if (capture) [capture, stale] = [false, answer];
      return answer;
    };
    addInsideRetryLoop(dynamodb.middlewareStack, 'testStaleRead', staleRead);
    const changeLog = new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false });
    const store = new TieredStore({ config: fx.config, changeLog, dynamodb, s3, consistentReads: false });
    try {
      capture = true;
      await store.head(key); // the item as it is now: the stale answer of the read below
      const newer = randomBody(LARGE);
      const { version } = await w.store.put(key, newer); // its settle deletes the blob the stale item names
      const result = await store.getStreamOrUrl(key, { maxBytes: 1024 });
      expect(stale).toBeUndefined(); // the stale answer was given
      expect(result).toMatchObject({ version });
      const answer = await fetch(String((result as { url?: string }).url));
      const bytes = new Uint8Array(await answer.arrayBuffer());
      expect(answer.status).toBe(200);
      expect(sameBytes(bytes, newer)).toBe(true);
    } finally {
      changeLog.close();
      dynamodb.destroy();
      s3.destroy();
    }
  });

  test('a blob missing while HV still points at it: one re-read, then BlobMissingError', async () => {
    const key = 'reread/missing';
    await w.store.put(key, randomBody(LARGE));
    const blob = (await rawState(fx)).references.get(key)!;
    const reader = gatedReader();
    try {
      const pending = reader.store.get(key);
      await reader.arrived.promise;
      await fx.s3.send(new (await import('@aws-sdk/client-s3')).DeleteObjectCommand({ Bucket: fx.config.bucket, Key: blob }));
      reader.release.resolve();
      await expect(pending).rejects.toBeInstanceOf(BlobMissingError);
      expect(reader.recorder.names('dynamodb')).toEqual(['GetItem', 'GetItem']);
      expect(await rawGetObject(fx, blob)).toBeUndefined();
    } finally {
      reader.close();
      // restore a clean state for the other tests: drop the broken object raw
      await fx.dynamodb.send(
        new (await import('@aws-sdk/client-dynamodb')).DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: key } } }),
      );
    }
  });
});

/** `count` metadata entries of distinct 2-character names and empty values. */
function shortEntries(count: number): Record<string, string> {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const names = [...alphabet].flatMap((a) => [...alphabet].map((b) => a + b));
  return Object.fromEntries(names.slice(0, count).map((name) => [name, '']));
}
