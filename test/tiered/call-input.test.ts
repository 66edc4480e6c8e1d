/**
 * What a caller hands the store's calls besides the key: the options object, a string body, the
 * store's own `maxAttempts`. Bad input is a ValidationError before any request, and the state is
 * what it was (a byte-exact snapshot of both tables and the bucket, taken from outside).
 *
 * Each row is a mistake that, before it was refused, went through as something else: a misspelt
 * `ifVersion` overwrote or deleted what the condition was there to keep, a misspelt expiry stored
 * an object that never expires, a misspelt session scope let a call end another key's session, a
 * string body with a lone surrogate was stored with U+FFFD in its place, metadata given as a Map
 * was stored as `{}` (its entries are no properties), and `maxAttempts: 0`
 * answered every write a ContentionError no other writer caused.
 */
import { Readable } from 'node:stream';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { ValidationError } from '../../lib/errors.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawValue, sameBytes, snapshot, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

let fx: Fixture;
let w: Writer;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx);
});
afterAll(() => w?.close());

const SMALL = 1 * KiB;
const LARGE = 64 * KiB;

/** Runs `call` against the state `setup` left; it must be refused with a ValidationError naming `field`, nothing sent, nothing changed. */
async function expectRefused(call: () => Promise<unknown>, field: string): Promise<void> {
  const before = await snapshot(fx);
  const requests = w.injector.stats.requests;
  const err = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'refused').toBeInstanceOf(ValidationError);
  expect((err as ValidationError).field).toBe(field);
  expect(w.injector.stats.requests, 'no request sent').toBe(requests);
  expect(await snapshot(fx), 'nothing changed').toBe(before);
}

describe('an option name the call does not know is refused, never ignored', () => {
  // Each key holds an object at a version the misspelt condition does not name.
  const misspelt: Array<[string, Record<string, unknown>, string]> = [
    ['ifVersion in lower case (would overwrite unconditionally)', { ifversion: 1 }, 'ifversion'],
    ['ifVersion capitalised', { IfVersion: 1 }, 'IfVersion'],
    ['a TTL by another name (would never expire)', { ttl: 60_000 }, 'ttl'],
    ['expiresIn for timeToLiveMs', { expiresIn: 60_000 }, 'expiresIn'],
    ['content_type', { content_type: 'text/plain' }, 'content_type'],
  ];

  test.each(misspelt)('put, %s: ValidationError, the object kept', async (_label, options, field) => {
    for (const size of [SMALL, LARGE]) {
      const key = `misspelt/put-${size}-${field}`;
      const kept = randomBody(size);
      await w.store.put(key, kept);
      await expectRefused(() => w.store.put(key, randomBody(size), options as never), field);
      expect(sameBytes(await rawValue(fx, key), kept)).toBe(true);
    }
  });

  test('delete with a misspelt ifVersion: ValidationError, the object kept', async () => {
    for (const size of [SMALL, LARGE]) {
      const key = `misspelt/delete-${size}`;
      const kept = randomBody(size);
      await w.store.put(key, kept);
      await expectRefused(() => w.store.delete(key, { ifversion: 1 } as never), 'ifversion');
      expect(sameBytes(await rawValue(fx, key), kept)).toBe(true);
    }
  });

  test('a session call with a misspelt scope (Key): ValidationError, the session stays open', async () => {
    const { uploadId } = await w.store.createUpload('misspelt/session');
    await expectRefused(() => w.store.abortUpload(uploadId, { Key: 'misspelt/other' } as never), 'Key');
    await expectRefused(() => w.store.completeUpload(uploadId, [], { Key: 'misspelt/other' } as never), 'Key');
    await expectRefused(() => w.store.listUploadParts(uploadId, { Key: 'misspelt/other' } as never), 'Key');
    await expectRefused(() => w.store.uploadPartUrl(uploadId, 1, { expiresIn: 60_000 } as never), 'expiresIn');
    await expect(w.store.listUploadParts(uploadId)).resolves.toEqual([]);
    await w.store.abortUpload(uploadId);
  });

  test('createUpload with an object expiry by another name: ValidationError, no session', async () => {
    await expectRefused(() => w.store.createUpload('misspelt/create', { ttl: 60_000 } as never), 'ttl');
  });

  test('reads: a misspelt range or lifetime is refused, not answered as the whole object', async () => {
    await w.store.put('misspelt/read', randomBody(LARGE));
    await expectRefused(() => w.store.get('misspelt/read', { Range: { start: 0, end: 9 } } as never), 'Range');
    await expectRefused(() => w.store.getStream('misspelt/read', { ranges: { start: 0 } } as never), 'ranges');
    await expectRefused(() => w.store.getStreamOrUrl('misspelt/read', { maxBytes: 10, expiresIn: 1_000 } as never), 'expiresIn');
    await expectRefused(() => w.store.presignGet('misspelt/read', { expiresIn: 1_000 } as never), 'expiresIn');
    await expectRefused(() => w.store.settled({ timeout: 1_000 } as never), 'timeout');
  });

  test('a name whose value is undefined is taken, known or not: it carries nothing', async () => {
    const put = await w.store.put('misspelt/undefined', 'x', { ifVersion: undefined, extra: undefined } as never);
    expect(put.stored).toBe('inline');
  });
});

describe('options that are not an object', () => {
  const notObjects: Array<[string, unknown]> = [
    ['null', null],
    ['a number', 5],
    ['a string', 'text/plain'],
    ['an array', [{ ifVersion: 1 }]],
  ];

  test.each(notObjects)('%s: ValidationError naming the options, for put, delete and createUpload', async (_label, options) => {
    await w.store.put('not-object/kept', 'kept');
    for (const size of [SMALL, LARGE]) {
      await expectRefused(() => w.store.put('not-object/kept', randomBody(size), options as never), 'options');
    }
    await expectRefused(() => w.store.delete('not-object/kept', options as never), 'options');
    await expectRefused(() => w.store.createUpload('not-object/kept', options as never), 'options');
    await expectRefused(() => w.store.get('not-object/kept', options as never), 'options');
  });

  test('getStreamOrUrl without its options (maxBytes is required): ValidationError naming the options, not a TypeError', async () => {
    await expectRefused(() => (w.store.getStreamOrUrl as (key: string) => Promise<unknown>)('not-object/kept'), 'options');
  });
});

describe('metadata is a plain object of strings, or refused', () => {
  class Tags {
    owner = 'x';
  }
  const notPlain: Array<[string, unknown]> = [
    // Its entries are no properties: it read as no metadata and was stored as {}, its entries lost.
    ['a Map', new Map([['owner', 'x']])],
    ['a Set', new Set(['owner'])],
    ['a Date', new Date()],
    ['a class instance', new Tags()],
  ];

  test.each(notPlain)('%s: ValidationError (metadata), nothing written, for put and createUpload', async (_label, metadata) => {
    for (const size of [SMALL, LARGE]) {
      await expectRefused(() => w.store.put(`metadata/${size}`, randomBody(size), { metadata } as never), 'metadata');
    }
    await expectRefused(() => w.store.createUpload('metadata/session', { metadata } as never), 'metadata');
  });

  test('a plain object, with or without a prototype, is taken', async () => {
    const bare = Object.assign(Object.create(null) as Record<string, string>, { owner: 'y' });
    for (const metadata of [{ owner: 'x' }, bare]) {
      for (const size of [SMALL, LARGE]) {
        await w.store.put(`metadata/plain-${size}`, randomBody(size), { metadata });
        expect((await w.store.head(`metadata/plain-${size}`))?.metadata).toEqual({ ...metadata });
      }
    }
  });

  test.each([
    ['a large put', LARGE, undefined],
    ['a small put over a large object', SMALL, LARGE],
  ])(
    '%s: metadata edited while the put is in flight is stored as it was given and checked, never the edit',
    async (_label, size, before) => {
      // The put checked the metadata at its call, then read it again after its first request (the
      // upload's headers, the commit's item): an edit made meanwhile (a caller's shared object, a
      // request handler reusing it) was stored unchecked, a value no read understands.
      const key = `metadata/edited-${size}`;
      if (before !== undefined) await w.store.put(key, randomBody(before));
      const metadata: Record<string, unknown> = { owner: 'bob' };
      const put = w.store.put(key, randomBody(size), { metadata: metadata as Record<string, string> });
      metadata.owner = 'eve';
      metadata.count = 7;
      await put;
      expect((await w.store.head(key))?.metadata).toEqual({ owner: 'bob' });
    },
  );

  test('createUpload: metadata edited while the session is created (an ifVersion read in flight) is stored as it was given, never the edit', async () => {
    // The session checked the metadata at its call and copied it after the ifVersion read: an edit
    // made meanwhile was stored unchecked, and the object the complete commits held it.
    const key = 'metadata/edited-session';
    const { version } = await w.store.put(key, randomBody(SMALL));
    const metadata: Record<string, unknown> = { owner: 'bob' };
    const created = w.store.createUpload(key, { ifVersion: version, metadata: metadata as Record<string, string> });
    metadata.owner = 'eve';
    metadata.count = 7;
    const { uploadId } = await created;
    const body = randomBody(SMALL);
    await w.store.completeUpload(uploadId, await uploadParts(w.store, uploadId, body, 5 * 1024 * KiB));
    expect((await w.store.head(key))?.metadata).toEqual({ owner: 'bob' });
  });

  test("options and metadata made in another realm (a vm context; Jest's globals) are plain objects all the same", async () => {
    const options = runInNewContext('({ metadata: { owner: "z" } })') as { metadata: Record<string, string> };
    await w.store.put('metadata/other-realm', randomBody(SMALL), options);
    expect((await w.store.head('metadata/other-realm'))?.metadata).toEqual({ owner: 'z' });
  });

  test('options that are a Map (whose entries are no properties): ValidationError, not a put without options', async () => {
    await w.store.put('metadata/options-map', 'kept');
    await expectRefused(() => w.store.put('metadata/options-map', 'new', new Map([['ifVersion', 1]]) as never), 'options');
  });
});

describe("a body of bytes from another realm (a vm context; Jest, whose Buffer is the host realm's)", () => {
  /** A Uint8Array made in another realm: `instanceof Uint8Array` is false here. */
  function foreignBytes(size: number, offset: number): Uint8Array {
    return runInNewContext(
      `const b = new Uint8Array(${size + 2 * offset}); for (let i = 0; i < b.length; i++) b[i] = (i * 7) % 251; b.subarray(${offset}, ${offset + size})`,
    ) as Uint8Array;
  }

  test.each([
    ['inline', SMALL],
    ['blob', LARGE],
  ])('%s: stored byte-exact (its own view into its buffer), not refused as "not a Uint8Array"', async (_label, size) => {
    const body = foreignBytes(size, 100);
    expect(body instanceof Uint8Array).toBe(false);
    const put = await w.store.put(`realm/${size}`, body);
    expect(put.size).toBe(size);
    expect(sameBytes(await rawValue(fx, `realm/${size}`), Buffer.from(body.buffer, body.byteOffset, body.byteLength))).toBe(true);
  });

  test('an expiresAt Date of another realm is taken as the Date it is', async () => {
    const at = runInNewContext(`new Date(${Date.now() + 3_600_000})`) as Date;
    expect(at instanceof Date).toBe(false);
    await w.store.put('realm/expiring', 'x', { expiresAt: at });
    expect((await w.store.head('realm/expiring'))?.expiresAt?.getTime()).toBe(Math.ceil(at.getTime() / 1000) * 1000);
  });

  test.each([
    ['a Buffer', () => Buffer.alloc(LARGE, 7)],
    ['a Uint8Array', () => new Uint8Array(SMALL).fill(7)],
    ['a view of another realm', () => foreignBytes(SMALL, 100)],
  ])('%s whose buffer was transferred (detached, it reads as empty): refused, not stored as an empty object', async (_label, make) => {
    const body = make();
    structuredClone(body.buffer, { transfer: [body.buffer as ArrayBuffer] });
    expect(body.byteLength).toBe(0);
    await w.store.put('realm/detached', 'kept');
    await expectRefused(() => w.store.put('realm/detached', body), 'body');
    expect(Buffer.from((await w.store.get('realm/detached'))!.body).toString()).toBe('kept');
  });

  test('an empty body (not detached) is stored as the empty object', async () => {
    const put = await w.store.put('realm/empty', new Uint8Array(0));
    expect(put.size).toBe(0);
    expect((await w.store.get('realm/empty'))?.body.byteLength).toBe(0);
  });

  test.each([
    ['a Readable', Readable.from([Buffer.from('x')]), 'Readable'],
    ['a Blob', new Blob(['x']), 'Blob'],
    ['an ArrayBuffer', new ArrayBuffer(4), 'ArrayBuffer'],
    ['a Uint16Array', new Uint16Array(4), 'Uint16Array'],
  ])('%s: refused, the error naming what it got', async (_label, body, named) => {
    const err = await w.store.put('realm/refused', body as never).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain(`got ${named.replace(/^an? /, (a) => a)}`);
  });
});

describe('a string body is stored as its UTF-8 bytes, or refused', () => {
  test.each([
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', 'a\udc00b'],
    ['reversed pair', '\udc00\ud800'],
  ])('%s: ValidationError (body), nothing written, not U+FFFD in its place', async (_label, text) => {
    for (const size of [0, SMALL, LARGE]) {
      await expectRefused(() => w.store.put(`string-body/${size}`, `${'x'.repeat(size)}${text}`), 'body');
    }
  });

  test('a well-formed string (a pair, astral characters) round-trips byte-exact', async () => {
    const text = `emoji \u{1F600} pair \ud83d\ude00 ${'é'.repeat(40 * KiB)}`;
    await w.store.put('string-body/ok', text);
    expect(Buffer.from((await w.store.get('string-body/ok'))!.body).toString('utf8')).toBe(text);
  });
});

/** What `make` threw (undefined when it returned). */
function refusal(make: () => unknown): unknown {
  try {
    make();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("the store's own options: maxAttempts, changeLog", () => {
  test.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    '%d: refused at construction (a ValidationError), not a ContentionError at each write',
    (value) => {
      let err: unknown;
      try {
        new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3: w.s3, maxAttempts: value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('maxAttempts');
    },
  );

  test.each([
    ['none', undefined],
    ['an object that is not a log', {}],
    ['a log missing scan', { record: async () => {}, remove: async () => {} }],
  ])('changeLog %s: a ValidationError at construction, not a TypeError (or one at the first large write)', (_label, changeLog) => {
    let err: unknown;
    try {
      new TieredStore({ config: fx.config, changeLog: changeLog as never, dynamodb: w.dynamodb, s3: w.s3 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe('changeLog');
  });

  // A clock in seconds stored expiry instants and leases in 1970 and first versions 1,000 times too low.
  test.each([
    ['in seconds', () => Date.now() / 1000],
    ['in microseconds', () => Date.now() * 1000],
    ['NaN', () => Number.NaN],
    ['a Date, not a number', () => new Date()],
    ['not a function', 12345],
  ])('a clock %s: a ValidationError (clock) from the store and the change log, at construction', (_label, clock) => {
    for (const err of [
      refusal(() => new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3: w.s3, clock: clock as never })),
      refusal(() => new DynamoChangeLog({ config: fx.config, dynamodb: w.dynamodb, renewInBackground: false, clock: clock as never })),
    ]) {
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe('clock');
    }
  });

  // A misspelt constructor option was a default nobody chose: `settleInBackgrund: true` answered
  // after the settle, `leaseMS: 900_000` kept the 2-minute lease, `onCleanupEror` dropped the
  // reports the caller meant to log.
  test.each([
    ['inlineTreshold', 64],
    ['settleInBackgrund', true],
    ['onCleanupEror', () => {}],
    ['Config', {}],
  ])('TieredStore with a misspelt option (%s): a ValidationError naming it, at construction', (name, value) => {
    const err = refusal(
      () => new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3: w.s3, [name]: value } as never),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(name);
    expect((err as Error).message).toContain('TieredStore');
  });

  // From a caller without types (options read from JSON or the environment): `'false'` is truthy.
  // `settleInBackground: 'false'` answered every overwrite before its settle (a Lambda handler that
  // does not await `settled()` left each replaced blob to the sweeper), `consistentReads: 0` read
  // stale, and an `onCleanupError` that is not a function dropped every report in silence.
  test.each([
    ['settleInBackground', 'false'],
    ['settleInBackground', 1],
    ['consistentReads', 'true'],
    ['consistentReads', 0],
    ['onCleanupError', 'console.warn'],
    ['onCleanupError', null],
  ])('%s given %j: a ValidationError naming it, at construction', (name, value) => {
    const err = refusal(
      () => new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3: w.s3, [name]: value } as never),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(name);
  });

  // Swapped, every request went to the other service's endpoint: the first put failed with
  // "SyntaxError: Unexpected token '<'" (S3's XML read as DynamoDB's JSON), naming no option.
  test('the DynamoDB and S3 clients swapped: a ValidationError naming the option, at construction, nothing sent', async () => {
    const requests = w.injector.stats.requests;
    for (const [name, options] of [
      ['dynamodb', { dynamodb: w.s3, s3: w.s3 }],
      ['s3', { dynamodb: w.dynamodb, s3: w.dynamodb }],
    ] as const) {
      const err = refusal(() => new TieredStore({ config: fx.config, changeLog: w.log, ...options } as never));
      expect(err, name).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).field).toBe(name);
    }
    expect(w.injector.stats.requests).toBe(requests);
  });

  test.each([
    ['leaseMS', 900_000],
    ['renewInBackgound', false],
    ['onBackgroundErorr', () => {}],
  ])('DynamoChangeLog with a misspelt option (%s): a ValidationError naming it, at construction', (name, value) => {
    const err = refusal(
      () => new DynamoChangeLog({ config: fx.config, dynamodb: w.dynamodb, renewInBackground: false, [name]: value } as never),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(name);
  });

  test('no options, or options that are not an object: a ValidationError, not a TypeError', () => {
    for (const options of [undefined, null, 'config', new Map([['config', fx.config]])]) {
      for (const make of [() => new TieredStore(options as never), () => new DynamoChangeLog(options as never)]) {
        const err = refusal(make);
        expect(err, String(options)).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).field).toBe('options');
      }
    }
  });

  test('every option the interfaces declare is taken (and undefined for an unknown name)', () => {
    const log = new DynamoChangeLog({
      config: fx.config,
      dynamodb: w.dynamodb,
      leaseMs: 60_000,
      clock: Date.now,
      entriesPerInstance: 4,
      maxSlots: 2,
      invocationLeaseMarginMs: 1_000,
      renewInBackground: false,
      onBackgroundError: () => {},
      extra: undefined,
    } as never);
    const store = new TieredStore({
      config: fx.config,
      changeLog: log,
      dynamodb: w.dynamodb,
      s3: w.s3,
      inlineThreshold: 1024,
      clock: Date.now,
      attributes: {},
      partSize: 5 * 1024 * 1024,
      maxAttempts: 3,
      consistentReads: true,
      onCleanupError: () => {},
      settleInBackground: false,
      completeGraceMs: 1_000,
    });
    expect(store.inlineThreshold).toBe(1024);
    return log.close();
  });

  test('1 is taken: a write makes one attempt', async () => {
    const store = new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3: w.s3, maxAttempts: 1 });
    expect((await store.put('max-attempts/one', randomBody(LARGE))).stored).toBe('blob');
  });
});
