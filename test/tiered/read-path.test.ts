/**
 * The read path as a caller of TieredStore meets it, against the local servers: what a read
 * answers must describe the bytes it gives (size, range, expiry), bad input is a ValidationError
 * before any request, and an item the configuration does not describe is an error, not an object.
 *
 * | scene                                                                | answer                                   |
 * | -------------------------------------------------------------------- | ---------------------------------------- |
 * | a range with a name it does not take (`{ start, length }`)           | ValidationError, no request              |
 * | an item written under other attribute names (no body, no blob)       | CorruptItemError, never an empty body    |
 * | a time-to-idle refresh that landed, its answer lost, the retry refused | the refreshed expiry, as stored        |
 * | a time-to-idle refresh that landed, every attempt's answer lost      | the expiry as stored, read again         |
 * | streams destroyed by their reader, one socket in the pool            | the socket comes back: later reads go out |
 * | an inline object's stream                                            | a byte stream (not object mode), as S3's |
 */
import { Agent } from 'node:http';
import type { Readable } from 'node:stream';
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { BlobArchivedError, CorruptItemError, TierlogError, ValidationError } from '../../lib/errors.js';
import { onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { encodeObjectId } from '../../lib/tiered/blob-keys.js';
import { HvTable } from '../../lib/tiered/hv-table.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawPutObject, rawState, sameBytes, type Writer } from './harness.js';

const SEC = 1000;
let fx: Fixture;
let w: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const clock = () => now;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock } });
});
afterAll(() => w?.close());

describe('a range is checked whole before any request', () => {
  test.each([
    ['a length instead of an end', { start: 10, length: 5 }],
    ['a misspelt end', { start: 0, End: 9 }],
    ['a suffix with an offset', { suffix: 5, offset: 1 }],
  ])('%s: ValidationError naming it, nothing sent', async (_name, range) => {
    await w.store.put('range/names', randomBody(40 * KiB));
    w.recorder.reset();
    for (const read of [
      () => w.store.get('range/names', { range: range as never }),
      () => w.store.getStream('range/names', { range: range as never }),
      () => w.store.getStreamOrUrl('range/names', { range: range as never, maxBytes: 0 }),
    ]) {
      await expect(read()).rejects.toThrow(ValidationError);
    }
    expect(w.recorder.names()).toEqual([]);
  });

  test('the names a range takes still read as before', async () => {
    const body = randomBody(40 * KiB);
    await w.store.put('range/ok', body);
    const got = await w.store.get('range/ok', { range: { start: 10, end: 19 } });
    expect(sameBytes(got?.body, body.subarray(10, 20))).toBe(true);
    expect((await w.store.get('range/ok', { range: { start: 10, end: undefined } }))?.range).toEqual({
      start: 10,
      end: body.byteLength - 1,
      size: body.byteLength,
    });
  });

  /**
   * A name set to `undefined` is let through, as in every options object, but a range's own names
   * were asked for by presence (`'suffix' in range`): `{ start: 10, end: 19, suffix: undefined }`
   * (a range built from optional inputs) was refused as "not both", and `{ suffix: 5, start:
   * undefined }` too. They read as the names that are set.
   */
  test('a name of the range set to undefined is as if absent: read, whole and ranged, by every read', async () => {
    const body = randomBody(40 * KiB);
    await w.store.put('range/undefined-names', body);
    const cases: Array<[unknown, Uint8Array]> = [
      [{ start: 10, end: 19, suffix: undefined }, body.subarray(10, 20)],
      [{ suffix: 5, start: undefined, end: undefined }, body.subarray(body.byteLength - 5)],
    ];
    for (const [range, expected] of cases) {
      const got = await w.store.get('range/undefined-names', { range: range as never });
      expect(sameBytes(got?.body, expected), JSON.stringify(range)).toBe(true);
      const streamed = await w.store.getStream('range/undefined-names', { range: range as never });
      const chunks: Buffer[] = [];
      for await (const chunk of streamed!.body) chunks.push(chunk as Buffer);
      expect(sameBytes(Buffer.concat(chunks), expected), JSON.stringify(range)).toBe(true);
    }
  });
});

describe('an item the configured attribute names do not describe', () => {
  // A writer whose TIERLOG_HV_ATTRIBUTES names the blob `ptr`: under the default names the item
  // has a key, a version and a size, and neither a body nor a blob nor a deletion marker.
  const foreign = async (key: string) => {
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key, version: 7, size: 40 * KiB, ptr: `${fx.config.prefix}/elsewhere/blob`, createdAt: now, updatedAt: now }),
      }),
    );
  };

  test('get, getStream and getStreamOrUrl, whole and ranged: CorruptItemError, never an empty body of another size', async () => {
    const key = 'foreign/item';
    await foreign(key);
    const reads: Array<[string, () => Promise<unknown>]> = [
      ['get', () => w.store.get(key)],
      ['get ranged', () => w.store.get(key, { range: { start: 0, end: 9 } })],
      ['getStream', () => w.store.getStream(key)],
      ['getStream suffix', () => w.store.getStream(key, { range: { suffix: 5 } })],
      ['getStreamOrUrl', () => w.store.getStreamOrUrl(key, { maxBytes: 1 << 20 })],
    ];
    for (const [name, read] of reads) {
      const outcome = await read().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      expect('error' in outcome && outcome.error instanceof CorruptItemError, `${name}: ${JSON.stringify(outcome).slice(0, 200)}`).toBe(
        true,
      );
    }
  });

  test("head answers what get does: CorruptItemError, never an inline object of the item's size", async () => {
    // HEAD read the item without its body, so it could not tell an item of other names from an
    // inline object: it answered one of 40 KiB, stored inline, which every GET refuses.
    const key = 'foreign/head';
    await foreign(key);
    await expect(w.store.head(key)).rejects.toBeInstanceOf(CorruptItemError);
  });

  test('presignGet and getBytesOrUrl answer what get does: CorruptItemError, never a ValidationError "stored inline"', async () => {
    // presignGet read the item without its body, so it could not tell an item of other names (or
    // a deletion marker under them) from an inline object: the caller was told its own request was
    // wrong (a ValidationError, "read it with get()"), and get then answered a CorruptItemError.
    const key = 'foreign/presign';
    await foreign(key);
    const marker = 'foreign/presign-marker';
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key: marker, version: 8, gone: true, createdAt: now, updatedAt: now }),
      }),
    );
    await expectEachCorrupt([
      ['presignGet', () => w.store.presignGet(key)],
      ['presignGet of a marker under other names', () => w.store.presignGet(marker)],
      ['getBytesOrUrl', () => w.store.getBytesOrUrl(key, { maxBytes: 1 << 20 })],
    ]);
    // An object stored inline is still refused as the caller's mistake, and an absent one answered undefined.
    await w.store.put('foreign/presign-inline', randomBody(100));
    await expect(w.store.presignGet('foreign/presign-inline')).rejects.toThrow(/stored inline/);
    await expect(w.store.presignGet('foreign/presign-inline')).rejects.toBeInstanceOf(ValidationError);
    await w.store.delete('foreign/presign-inline');
    expect(await w.store.presignGet('foreign/presign-inline')).toBeUndefined();
  });

  test('head answers what get does for a blob outside the prefix: CorruptItemError, never a 200 of its size', async () => {
    // An item whose blob lies outside `<prefix>/` (written under another prefix, or corrupt): every
    // read of its body refuses it (LtBucket.assertOwned) before any S3 request, while head answered
    // the object, 40 KiB stored as a blob, from the item alone: a HEAD 200 for a GET's 500.
    const key = 'foreign/outside';
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key, version: 7, size: 40 * KiB, blob: `elsewhere/${encodeObjectId(key)}/x`, createdAt: now, updatedAt: now }),
      }),
    );
    await expect(w.store.get(key)).rejects.toBeInstanceOf(CorruptItemError);
    await expect(w.store.head(key)).rejects.toBeInstanceOf(CorruptItemError);
  });

  test('an empty object written by this store is still an empty object', async () => {
    await w.store.put('foreign/empty', new Uint8Array(0));
    const got = await w.store.get('foreign/empty');
    expect(got).toMatchObject({ size: 0, stored: 'inline' });
    expect(got?.body.byteLength).toBe(0);
  });
});

describe('a blob that is not the size its item declares', () => {
  /**
   * A blob written over out of band (or another store's, or an item whose size was changed) was
   * answered by the library's reads as it came: `get` and `getStream` gave the blob's bytes under
   * the item's `size`, and a ranged read the bytes the item's size placed, of the wrong blob, under
   * a `range` that named the item's size. S3 tells the blob's length with every answer (its
   * Content-Length, its Content-Range): a read that disagrees is a CorruptItemError, before any
   * byte is given (and a large blob is not read into memory first).
   */
  test.each([
    ['shorter', 30 * KiB],
    ['longer', 50 * KiB],
  ])('a blob %s than its item: CorruptItemError from every read, whole or ranged', async (_name, actual) => {
    const key = `declared/${actual}`;
    await w.store.put(key, randomBody(40 * KiB));
    const blob = (await rawState(fx)).references.get(key)!;
    await rawPutObject(fx, blob, randomBody(actual));
    const reads: Array<[string, () => Promise<unknown>]> = [
      ['get', () => w.store.get(key)],
      ['get ranged', () => w.store.get(key, { range: { start: 0, end: 9 } })],
      ['get suffix', () => w.store.get(key, { range: { suffix: 100 } })],
      ['getStream', () => w.store.getStream(key)],
      ['getStream ranged', () => w.store.getStream(key, { range: { start: 100 } })],
      ['getStreamOrUrl', () => w.store.getStreamOrUrl(key, { maxBytes: 1 << 20 })],
      ['getStreamOrUrl ranged', () => w.store.getStreamOrUrl(key, { maxBytes: 1 << 20, range: { start: 0, end: 9 } })],
    ];
    for (const [name, read] of reads) {
      const outcome = await read().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      if ('value' in outcome) (outcome.value as { body?: { destroy?: () => void } })?.body?.destroy?.();
      expect(
        'error' in outcome && outcome.error instanceof CorruptItemError,
        `${name}: ${String((outcome as { error?: unknown }).error ?? 'answered')}`,
      ).toBe(true);
    }
  });
});

describe('a blob answered without a Content-Length (chunked: a proxy, an S3-compatible store)', () => {
  /**
   * The size check read S3's Content-Length (or Content-Range): an answer sent chunked, without
   * one, passed it unchecked, and a blob shorter or longer than its item (written over out of
   * band) was answered as the item's bytes: `get` gave 30 KiB under a `size` of 40 KiB, a stream
   * ended early as if whole. The bytes are counted when S3 does not tell their number.
   */
  test.each([
    ['shorter', 30 * KiB],
    ['longer', 50 * KiB],
  ])('a blob %s than its item: CorruptItemError from get, getStream and getStreamOrUrl', async (_name, actual) => {
    const key = `chunked/${actual}`;
    await w.store.put(key, randomBody(40 * KiB));
    const blob = (await rawState(fx)).references.get(key)!;
    await rawPutObject(fx, blob, randomBody(actual));
    const s3 = createS3Client();
    const send = s3.send.bind(s3) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
    // Every GetObject is answered as a chunked response is: the same body, no Content-Length.
    s3.send = (async (command: unknown, ...rest: unknown[]) => {
      const out = await send(command, ...rest);
      if (command instanceof GetObjectCommand) delete (out as { ContentLength?: number }).ContentLength;
      return out;
    }) as typeof s3.send;
    const store = new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3, clock });
    const drain = async (body: unknown) => {
      if (body instanceof Uint8Array) return body.byteLength;
      let n = 0;
      for await (const chunk of body as Readable) n += (chunk as Uint8Array).byteLength;
      return n;
    };
    try {
      const reads: Array<[string, () => Promise<{ body?: unknown } | undefined>]> = [
        ['get', () => store.get(key)],
        ['getStream', () => store.getStream(key)],
        ['getStreamOrUrl', () => store.getStreamOrUrl(key, { maxBytes: 1 << 20 }) as Promise<{ body?: unknown }>],
      ];
      for (const [name, read] of reads) {
        const outcome = await read()
          .then(async (value) => drain(value?.body))
          .then(
            (bytes) => ({ bytes }),
            (error: unknown) => ({ error }),
          );
        expect('error' in outcome && outcome.error instanceof CorruptItemError, `${name}: ${JSON.stringify(outcome)}`).toBe(true);
      }
      // A blob of its item's size is answered whole, chunked or not.
      const key2 = 'chunked/right';
      const body = randomBody(40 * KiB);
      await w.store.put(key2, body);
      expect(sameBytes((await store.get(key2))?.body, body)).toBe(true);
      expect(await drain((await store.getStream(key2))?.body)).toBe(40 * KiB);
    } finally {
      s3.destroy();
    }
  });
});

describe('a ranged read answered with the whole blob (S3, or a proxy before it, ignored the Range)', () => {
  /**
   * A GetObject with a Range answered 200, the whole blob and no Content-Range (a proxy that drops
   * Range, an S3-compatible store that ignores it) passed the size check, which read only a
   * Content-Range: `get` gave the whole blob as the bytes of the range it named, a stream its
   * whole body. A ranged answer that does not say it holds the range is refused now, unless the
   * range asked for was the whole blob.
   */
  test('get, getStream and getStreamOrUrl with a range: an error, never the whole blob as the range', async () => {
    const key = 'range/ignored';
    const body = randomBody(40 * KiB);
    await w.store.put(key, body);
    const s3 = createS3Client();
    const send = s3.send.bind(s3) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
    // Every GetObject goes out without its Range: S3 answers 200 with the whole blob, as a proxy that drops it makes it.
    s3.send = ((command: unknown, ...rest: unknown[]) => {
      if (!(command instanceof GetObjectCommand) || command.input.Range === undefined) return send(command, ...rest);
      const { Range: _dropped, ...input } = command.input;
      return send(new GetObjectCommand(input), ...rest);
    }) as typeof s3.send;
    const store = new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3, clock });
    try {
      const reads: Array<[string, () => Promise<unknown>]> = [
        ['get ranged', () => store.get(key, { range: { start: 10, end: 19 } })],
        ['get suffix', () => store.get(key, { range: { suffix: 100 } })],
        ['getStream ranged', () => store.getStream(key, { range: { start: 100 } })],
        ['getStreamOrUrl ranged', () => store.getStreamOrUrl(key, { maxBytes: 1 << 20, range: { start: 0, end: 9 } })],
      ];
      for (const [name, read] of reads) {
        const outcome = await read().then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        );
        if ('value' in outcome) (outcome.value as { body?: { destroy?: () => void } })?.body?.destroy?.();
        expect('error' in outcome && outcome.error instanceof TierlogError, `${name}: answered`).toBe(true);
        expect(String((outcome as { error?: unknown }).error), name).toMatch(/Content-Range/);
      }
      // A range of the whole blob is what a 200 holds: answered.
      const whole = await store.get(key, { range: { start: 0 } });
      expect(sameBytes(whole?.body, body)).toBe(true);
    } finally {
      s3.destroy();
    }
  });
});

describe('a blob S3 archived (a lifecycle transition to Glacier, an Intelligent-Tiering archive tier)', () => {
  /**
   * S3 answers GetObject of an archived object 403 `InvalidObjectState`: before, every read of it
   * was an AccessDeniedError telling the operator to check the credentials and the IAM policy,
   * which are fine. It is a BlobArchivedError naming the blob, its class and what to change.
   */
  test('get and getStream: BlobArchivedError naming the blob and its storage class, not access denied', async () => {
    const key = 'archived/glacier';
    await w.store.put(key, randomBody(40 * KiB));
    const archived = {
      kind: 'fail' as const,
      match: onCommand('GetObject'),
      error: () =>
        Object.assign(awsServiceError('InvalidObjectState', 403, "The operation is not valid for the object's storage class"), {
          StorageClass: 'GLACIER',
        }),
    };
    w.injector.add(archived);
    try {
      for (const read of [() => w.store.get(key), () => w.store.getStream(key)]) {
        const error = await read().then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(BlobArchivedError);
        expect(error).toMatchObject({
          bucket: fx.config.bucket,
          storageClass: 'GLACIER',
          blob: expect.stringMatching(new RegExp(`^${fx.config.prefix}/`)),
        });
      }
    } finally {
      w.injector.remove(archived);
    }
  });
});

describe('an inline body that is not the size its item declares', () => {
  /**
   * An inline item whose `size` is not its body's length (changed by hand, another writer's) was
   * answered as it came: the body under the item's `size`, a range resolved by the size and cut
   * from the body (short, or bytes of a body the size does not describe). As a blob's is, it is a
   * CorruptItemError now, whole or ranged.
   */
  test.each([
    ['smaller', 100],
    ['larger', 5000],
  ])('a size %s than the body: CorruptItemError from every read, whole or ranged', async (_name, size) => {
    const key = `declared-inline/${size}`;
    await w.store.put(key, randomBody(1000));
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.objectsTable,
        Key: { key: { S: key } },
        UpdateExpression: 'SET #s = :s',
        ExpressionAttributeNames: { '#s': 'size' },
        ExpressionAttributeValues: { ':s': { N: String(size) } },
      }),
    );
    const reads: Array<[string, () => Promise<unknown>]> = [
      ['get', () => w.store.get(key)],
      ['get ranged', () => w.store.get(key, { range: { start: 0, end: 9 } })],
      ['get suffix', () => w.store.get(key, { range: { suffix: 50 } })],
      ['getStream', () => w.store.getStream(key)],
      ['getStreamOrUrl', () => w.store.getStreamOrUrl(key, { maxBytes: 1 << 20 })],
      ['getStreamOrUrl ranged', () => w.store.getStreamOrUrl(key, { maxBytes: 1 << 20, range: { start: 10 } })],
      ['head', () => w.store.head(key)],
    ];
    for (const [name, read] of reads) {
      const outcome = await read().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      );
      expect(
        'error' in outcome && outcome.error instanceof CorruptItemError,
        `${name}: ${String((outcome as { error?: unknown }).error ?? 'answered')}`,
      ).toBe(true);
    }
  });
});

describe('a time-to-idle refresh whose answer was lost', () => {
  test("landed, the SDK's retry refused by its own landing: the read answers the expiry as stored", async () => {
    const key = 'tti/lost-answer';
    const tti = 10 * 60_000; // debounce 5 min: a read with 4 min left refreshes
    await w.store.put(key, randomBody(40 * KiB), { timeToIdleMs: tti });
    const stored = async () => (await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt as number;
    const before = await stored();
    now = before * SEC - 4 * 60_000;
    const refresh = (r: RequestInfo) =>
      onCommand('UpdateItem')(r) && (r.input.ExpressionAttributeValues as object)[':fromExpiry' as never] !== undefined;
    const lose = { kind: 'loseResponse' as const, times: 1, match: refresh };
    for (const read of [() => w.store.head(key), () => w.store.get(key, { range: { start: 0, end: 9 } })]) {
      w.injector.add(lose);
      let answered: Date | undefined;
      try {
        answered = (await read())?.expiresAt;
      } finally {
        w.injector.remove(lose);
      }
      const after = await stored();
      expect(after, 'the refresh landed').toBeGreaterThan(before);
      expect(answered?.getTime(), 'the read answers the expiry the item has').toBe(after * SEC);
      now = after * SEC - 4 * 60_000;
    }
  });
});

describe('a time-to-idle refresh refused because the object was overwritten since the read', () => {
  test("the read answers the state it read, with its own expiry: never the newer object's", async () => {
    const key = 'tti/overwritten';
    const tti = 10 * 60_000;
    await w.store.put(key, randomBody(100), { timeToIdleMs: tti });
    const read = (await rawState(fx)).objects.find((o) => o.key === key)!;
    now = (read.expiresAt as number) * SEC - 4 * 60_000;
    // Right before the refresh goes out, another write replaces the object (inline too, so the
    // item names no blob either way) with a later expiry.
    const refresh = (r: RequestInfo) =>
      onCommand('UpdateItem')(r) && (r.input.ExpressionAttributeValues as object)[':fromExpiry' as never] !== undefined;
    const overwrite = {
      kind: 'delay' as const,
      delayMs: 0,
      times: 1,
      match: refresh,
      before: async () => void (await w.store.put(key, randomBody(100), { timeToLiveMs: 10 * 3600_000 })),
    };
    w.injector.add(overwrite);
    let answered;
    try {
      answered = await w.store.head(key);
    } finally {
      w.injector.remove(overwrite);
    }
    expect(w.injector.stats.injected.delay).toBeGreaterThan(0);
    expect(answered).toMatchObject({ version: read.version, expiresAt: new Date((read.expiresAt as number) * SEC) });
  });
});

describe('a time-to-idle refresh whose every answer was lost', () => {
  test('landed, no attempt answered: the read answers the expiry as stored (read again), not the one before', async () => {
    const key = 'tti/every-answer-lost';
    await w.store.put(key, randomBody(40 * KiB), { timeToIdleMs: 10 * 60_000 });
    const stored = async () => (await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt as number;
    const before = await stored();
    now = before * SEC - 4 * 60_000;
    const refresh = (r: RequestInfo) =>
      onCommand('UpdateItem')(r) && (r.input.ExpressionAttributeValues as object)[':fromExpiry' as never] !== undefined;
    // The first attempt lands and loses its answer; every retry is lost on its way (never refused).
    const lose = { kind: 'loseResponse' as const, times: 1, match: refresh };
    const lost = { kind: 'loseRequest' as const, times: 20, match: refresh };
    w.injector.add(lose);
    w.injector.add(lost);
    let answered: Date | undefined;
    try {
      answered = (await w.store.head(key))?.expiresAt;
    } finally {
      w.injector.remove(lose);
      w.injector.remove(lost);
    }
    const after = await stored();
    expect(after, 'the refresh landed').toBeGreaterThan(before);
    expect(answered?.getTime(), 'the read answers the expiry the item has').toBe(after * SEC);
  });
});

describe('a time-to-idle refresh left open whose re-read fails too', () => {
  test('the read still answers, with the expiry it read: a refresh never fails the read', async () => {
    const key = 'tti/open-reread-fails';
    await w.store.put(key, randomBody(100), { timeToIdleMs: 10 * 60_000 });
    const before = (await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt as number;
    now = before * SEC - 4 * 60_000;
    const refresh = (r: RequestInfo) =>
      onCommand('UpdateItem')(r) && (r.input.ExpressionAttributeValues as object)[':fromExpiry' as never] !== undefined;
    // No attempt of the refresh gets an answer (none reached the table); the read that would decide it fails (500).
    const lost = { kind: 'loseRequest' as const, match: refresh };
    const reread = {
      kind: 'fail' as const,
      skip: 1,
      match: (r: RequestInfo) => onCommand('GetItem')(r) && r.input.TableName === fx.config.objectsTable,
      error: () => awsServiceError('InternalServerError', 500),
    };
    w.injector.add(lost);
    w.injector.add(reread);
    let answered;
    try {
      answered = await w.store.get(key);
    } finally {
      w.injector.remove(lost);
      w.injector.remove(reread);
    }
    expect(w.injector.stats.injected.fail).toBeGreaterThan(0);
    expect(answered?.expiresAt?.getTime()).toBe(before * SEC);
    expect((await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt).toBe(before);
  });
});

describe('a stream its reader destroys gives its S3 socket back', () => {
  test('with one socket in the pool, reads after destroyed streams (whole, ranged, by getStreamOrUrl) still go out', async () => {
    const body = randomBody(256 * KiB);
    await w.store.put('sockets/blob', body);
    const s3 = new S3Client({
      forcePathStyle: true,
      requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 1 }) }),
    });
    const store = new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3, clock });
    try {
      const opened = [
        () => store.getStream('sockets/blob'),
        () => store.getStream('sockets/blob', { range: { start: 1, end: 200 * KiB } }),
        () => store.getStreamOrUrl('sockets/blob', { maxBytes: 1 << 20 }),
      ];
      for (const open of opened) {
        const read = (await open()) as { body: Readable };
        read.body.destroy();
      }
      const got = await Promise.race([
        store.get('sockets/blob'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('no socket came back')), 5_000).unref()),
      ]);
      expect(sameBytes((got as { body: Uint8Array }).body, body)).toBe(true);
    } finally {
      s3.destroy();
    }
  });
});

describe("an inline object's stream is a byte stream, as a blob's is", () => {
  test('not in object mode: read(n) gives n bytes, readableLength counts bytes', async () => {
    const body = randomBody(3 * KiB);
    await w.store.put('bytes/inline', body);
    await w.store.put('bytes/blob', randomBody(40 * KiB));
    for (const [name, open] of [
      ['inline whole', () => w.store.getStream('bytes/inline')],
      ['inline ranged', () => w.store.getStream('bytes/inline', { range: { start: 0, end: 99 } })],
      ['inline by getStreamOrUrl', () => w.store.getStreamOrUrl('bytes/inline', { maxBytes: 0 })],
      ['blob', () => w.store.getStream('bytes/blob')],
    ] as const) {
      const read = (await open()) as { body: Readable };
      expect(read.body.readableObjectMode, name).toBe(false);
      await new Promise((resolve) => read.body.once('readable', resolve));
      const first = read.body.read(10) as Buffer | null;
      expect(first?.byteLength, name).toBe(10);
      read.body.destroy();
    }
    await w.store.put('bytes/empty', new Uint8Array(0));
    const empty = await w.store.getStream('bytes/empty');
    const chunks: Buffer[] = [];
    for await (const chunk of empty!.body) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).byteLength).toBe(0);
  });
});

describe('an item that does not parse', () => {
  // Written by something else, or corrupt: a read refuses it (CorruptItemError), never takes it
  // for an object or for absent. Taken for a deletion marker, a marker naming a blob let the next
  // write replace it as a live object's (its blob deleted at settle); taken for an object, an item
  // whose version is no number answered a string for a version. A write refuses it too, unless it
  // replaces the item without reading it (an inline put over a marker with a body: nothing deleted).
  test.each([
    ['a deletion marker with a blob', { deleted: true, blob: 'BLOB' }, CorruptItemError],
    ['a deletion marker with a body', { deleted: true, body: new Uint8Array([1]) }, undefined],
    ['a version that is not a number', { version: '7', body: new Uint8Array([1]) }, Error],
  ])('%s: a CorruptItemError to every read', async (label, attributes, putRefused) => {
    const key = `unparsable/${label.replaceAll(' ', '-')}`;
    const item: Record<string, unknown> = { key, version: 7, size: 1, createdAt: now, updatedAt: now, ...attributes };
    if (item.blob !== undefined) item.blob = `${fx.config.prefix}/${encodeObjectId(key)}/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`;
    await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall(item) }));
    const before = (await rawState(fx)).objects.find((o) => o.key === key);
    await expect(w.store.get(key)).rejects.toBeInstanceOf(CorruptItemError);
    await expect(w.store.getStream(key)).rejects.toBeInstanceOf(CorruptItemError);
    if (putRefused === undefined) return;
    await expect(w.store.put(key, randomBody(100))).rejects.toBeInstanceOf(putRefused);
    expect(
      (await rawState(fx)).objects.find((o) => o.key === key),
      'the item untouched',
    ).toEqual(before);
  });
});

describe('an attribute of another type than the writers write', () => {
  // Read leniently, each described something other than the item: a `blob` that is no string
  // (which the sweeper's pointer read calls not understood) or a `body` that is no binary (a
  // string, another tool's) was taken for no blob and no body, an empty object; `metadata` that is
  // no map of strings for none; a `createdAt` or `updatedAt` that is no number for NaN (HEAD's
  // Last-Modified "Invalid Date"). Each is a CorruptItemError to every read, as a size that is no
  // byte count is. (A write that replaces the item without reading it still may, as over any item.)
  test.each([
    ['a blob that is a number', { blob: 42, size: 0 }],
    ['a body that is a string', { body: 'hello', size: 5 }],
    ['a body that is a string, with a blob', { body: 'hello', blob: 'BLOB', size: 5 }],
    ['metadata that is a string', { body: new Uint8Array([1]), metadata: 'a=b' }],
    ['metadata with a value that is a number', { body: new Uint8Array([1]), metadata: { a: 1 } }],
    ['a createdAt that is a string', { body: new Uint8Array([1]), createdAt: '2026-12-05' }],
    ['an updatedAt that is a string', { body: new Uint8Array([1]), updatedAt: 'yesterday' }],
  ])('%s: head, get, getStream and a ranged get refuse it', async (label, attributes) => {
    const key = `mistyped/${label.replaceAll(' ', '-')}`;
    const item: Record<string, unknown> = { key, version: 7, size: 1, createdAt: now, updatedAt: now, ...attributes };
    if (item.blob === 'BLOB') item.blob = `${fx.config.prefix}/${encodeObjectId(key)}/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b`;
    await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall(item) }));
    const before = (await rawState(fx)).objects.find((o) => o.key === key);
    await expectEachCorrupt([
      ['head', () => w.store.head(key)],
      ['get', () => w.store.get(key)],
      ['getStream', () => w.store.getStream(key)],
      ['get ranged', () => w.store.get(key, { range: { start: 0, end: 0 } })],
    ]);
    expect(
      (await rawState(fx)).objects.find((o) => o.key === key),
      'the item untouched',
    ).toEqual(before);
  });
});

describe('an item whose size is no byte count', () => {
  // A blob's item with a `size` that is not a number (a string, written by another tool) or none
  // was read as 0 bytes: `head` (the objects API's HEAD, its Content-Length) answered a 40 KiB
  // object as empty, and a write took the item for one it could replace. A size is checked as a
  // version is: a CorruptItemError to every read, and to a write that reads it.
  test.each([
    ['a string', '40960'],
    ['absent', undefined],
    ['negative', -1],
    ['fractional', 1.5],
  ])('a size that is %s: head, get and put refuse it', async (label, size) => {
    const key = `sizeless/${label}`;
    const body = randomBody(40 * KiB);
    await w.store.put(key, body);
    await fx.dynamodb.send(
      size === undefined
        ? new UpdateItemCommand({
            TableName: fx.config.objectsTable,
            Key: marshall({ key }),
            UpdateExpression: 'REMOVE #s',
            ExpressionAttributeNames: { '#s': 'size' },
          })
        : new UpdateItemCommand({
            TableName: fx.config.objectsTable,
            Key: marshall({ key }),
            UpdateExpression: 'SET #s = :s',
            ExpressionAttributeNames: { '#s': 'size' },
            ExpressionAttributeValues: marshall({ ':s': size }),
          }),
    );
    const before = (await rawState(fx)).objects.find((o) => o.key === key);
    const head = await w.store.head(key).then(
      (info) => ({ info }),
      (error: unknown) => ({ error }),
    );
    expect('error' in head && head.error instanceof CorruptItemError, `head: ${JSON.stringify(head)}`).toBe(true);
    await expect(w.store.get(key)).rejects.toBeInstanceOf(CorruptItemError);
    await expect(w.store.put(key, randomBody(100))).rejects.toBeInstanceOf(CorruptItemError);
    expect(
      (await rawState(fx)).objects.find((o) => o.key === key),
      'the item untouched',
    ).toEqual(before);
  });
});

describe("the pointer read that judges blobs (sweeper, stream function, the audit's re-check)", () => {
  test('reads no body: only an item that names neither a blob nor a marker is read again, with its body', async () => {
    // DESIGN.md, "Observability and operations": the sweeper's read projects no bodies (an inline
    // body is up to the inline threshold, per item of a batch of 100); only an item that names
    // neither a blob nor a marker is read again with its body, to tell an inline object from an
    // item not understood.
    await w.store.put('pointers/large', randomBody(40 * KiB));
    await w.store.put('pointers/small', randomBody(100));
    await w.store.put('pointers/deleted', randomBody(100));
    await w.store.delete('pointers/deleted');
    const hv = new HvTable(fx.config.objectsTable, w.dynamodb);
    w.recorder.reset();
    const pointers = await hv.readBlobPointers(['pointers/large', 'pointers/small', 'pointers/deleted', 'pointers/none']);
    expect(typeof pointers.get('pointers/large')).toBe('string');
    expect(pointers.get('pointers/small')).toBeNull();
    expect(pointers.get('pointers/deleted')).toBeNull();
    expect(pointers.get('pointers/none')).toBeNull();
    const reads = w.recorder.commands.filter((c) => c.command === 'BatchGetItem');
    expect(reads).toHaveLength(2);
    const [first, again] = reads.map((c) => {
      const request = Object.values(
        c.input['RequestItems'] as Record<
          string,
          { Keys: unknown[]; ProjectionExpression: string; ExpressionAttributeNames: Record<string, string> }
        >,
      )[0]!;
      const projected = request.ProjectionExpression.split(',').map((p) => request.ExpressionAttributeNames[p.trim()]);
      return { keys: request.Keys.length, projected };
    });
    expect(first!.keys).toBe(4);
    expect(first!.projected).not.toContain('body');
    expect(again).toMatchObject({ keys: 1 });
    expect(again!.projected).toContain('body');
  });
  /**
   * An item read under names that are not its writer's can look like "no blob" while it points at
   * one under another name: the sweeper, the stream function and the audit would then delete a
   * blob an object references. Only a marker that says so (`deleted: true`) or a body is "no blob";
   * a blob attribute that is not a string is no blob key.
   */
  test.each([
    ['a "deleted" flag that is not true, the blob under another name', { deleted: false, ptr: 'blob' }],
    ['a "deleted" flag of another type, the blob under another name', { deleted: 'no', ptr: 'blob' }],
    ['a blob attribute that is not a string, beside a body', { blob: 42, body: new Uint8Array([1]) }],
  ])('an item with %s is not understood, never "no blob"', async (_label, attributes) => {
    const key = `pointers/foreign-${Object.values(attributes).map(String).join('-')}`;
    const item = { key, version: 7, size: 40 * KiB, createdAt: now, updatedAt: now, ...attributes };
    if ('ptr' in item) item.ptr = `${fx.config.prefix}/elsewhere/blob`;
    await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall(item) }));
    const pointer = (await new HvTable(fx.config.objectsTable, w.dynamodb).readBlobPointers([key])).get(key);
    expect(pointer).toMatchObject({ unrecognised: expect.stringMatching(/none of the attributes the configuration names/) });
  });
});

/** Each read, by its name, is refused with a CorruptItemError (what else it answered is in the message). */
async function expectEachCorrupt(reads: ReadonlyArray<readonly [name: string, read: () => Promise<unknown>]>): Promise<void> {
  for (const [name, read] of reads) {
    const outcome = await read().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    expect('error' in outcome && outcome.error instanceof CorruptItemError, `${name}: ${JSON.stringify(outcome).slice(0, 200)}`).toBe(true);
  }
}
