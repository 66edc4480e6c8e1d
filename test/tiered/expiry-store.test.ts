/**
 * Expiry through TieredStore on the local stack, with an injected clock: the policy is stored
 * (epoch seconds, DynamoDB TTL's unit) and returned; an object past its expiry is absent to
 * get, getStream, head, ifVersion and delete although its item is still there; a put over an
 * expired item writes as over an absent object, and the expired object's blob is deleted by
 * the writer (nothing leaks, nothing referenced is lost); overwriting replaces the policy; a
 * time-to-idle object's expiry moves forward on reads, debounced; bad policies write nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ValidationError, VersionConflictError } from '../../lib/errors.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { onCommand } from '../../lib/faults/fault-injector.js';
import { firstVersion } from '../../lib/tiered/versions.js';
import { KiB, expectClean, makeWriter, randomBody, rawState, type Writer } from './harness.js';

const SEC = 1000;
const HOUR = 3_600_000;
let fx: Fixture;
let writer: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const clock = () => now;

beforeAll(async () => {
  fx = await freshFixture();
  writer = makeWriter(fx, { store: { clock } });
});
afterAll(() => writer?.close());

async function item(key: string): Promise<Record<string, unknown> | undefined> {
  return (await rawState(fx)).objects.find((o) => o.key === key);
}

describe.each([
  ['small (inline)', 100],
  ['large (blob)', 40 * KiB],
])('%s object with a time to live', (_name, size) => {
  const key = `ttl/${size}`;
  let version = 0;

  test('stores the expiry in epoch seconds and returns it from get, getStream and head', async () => {
    const put = await writer.store.put(key, randomBody(size), { timeToLiveMs: HOUR });
    expect(put.version).toBe(firstVersion(now)); // no item: a version from the clock (lib/tiered/versions.ts)
    version = put.version;
    const expiresAt = new Date(now + HOUR);
    expect((await item(key))!.expiresAt).toBe((now + HOUR) / SEC);
    expect((await writer.store.get(key))!.expiresAt).toEqual(expiresAt);
    expect((await writer.store.head(key))!.expiresAt).toEqual(expiresAt);
    const stream = await writer.store.getStream(key);
    expect(stream!.expiresAt).toEqual(expiresAt);
    stream!.body.destroy();
  });

  test('past its expiry it is absent to every read, ifVersion and delete, though the item is still there', async () => {
    now += HOUR;
    expect(await item(key)).toBeDefined();
    expect(await writer.store.get(key)).toBeUndefined();
    expect(await writer.store.getStream(key)).toBeUndefined();
    expect(await writer.store.head(key)).toBeUndefined();
    expect(await writer.store.delete(key)).toBe(false);
    expect((await item(key))!.version).toBe(version);
    await expect(writer.store.delete(key, { ifVersion: version })).rejects.toBeInstanceOf(VersionConflictError);
    await expect(writer.store.put(key, 'x', { ifVersion: version })).rejects.toBeInstanceOf(VersionConflictError);
    await expect(writer.store.put(key, randomBody(40 * KiB), { ifVersion: version })).rejects.toBeInstanceOf(VersionConflictError);
    expect(await item(key)).toBeDefined(); // refused, not removed: TTL removes it (and the stream its blob)
    const state = await rawState(fx);
    expect(state.lost).toEqual([]);
  });

  test.each([
    ['small', 10],
    ['large', 50 * KiB],
  ])('a create (ifVersion 0) over it with a %s body succeeds, permanent, and the expired blob is gone', async (_n, newSize) => {
    const body = randomBody(newSize);
    const stored = (await item(key))!.version as number;
    const put = await writer.store.put(key, body, { ifVersion: 0 });
    expect(put).toMatchObject({ version: stored + 1, created: true }); // continues after the expired incarnation's version
    const got = await writer.store.get(key);
    expect(got!.body).toEqual(body);
    expect(got!.expiresAt).toBeUndefined();
    expect((await item(key))!.expiresAt).toBeUndefined();
    await expectClean(fx, expect);
    // Expire it again for the next case.
    await writer.store.put(key, randomBody(size), { timeToLiveMs: SEC });
    now += 2 * SEC;
  });
});

describe('policies', () => {
  test.each([
    ['two of them', { timeToLiveMs: HOUR, timeToIdleMs: HOUR }],
    ['a past instant', { expiresAt: new Date(Date.UTC(2020, 0, 1)) }],
    ['a negative ttl', { timeToLiveMs: -1 }],
  ])('%s: ValidationError, nothing written', async (_name, policy) => {
    for (const body of ['small', randomBody(40 * KiB)]) {
      await expect(writer.store.put('bad', body, policy)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(await item('bad')).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('an instant: rounded up to the second, never earlier than asked', async () => {
    const at = new Date(now + 90_500);
    await writer.store.put('at', 'x', { expiresAt: at });
    expect((await writer.store.head('at'))!.expiresAt).toEqual(new Date(now + 91_000));
  });

  test('overwriting replaces the policy (none given: permanent)', async () => {
    await writer.store.put('over', randomBody(40 * KiB), { timeToLiveMs: HOUR });
    await writer.store.put('over', 'small now', { timeToIdleMs: 2 * HOUR });
    const tti = await item('over');
    expect(tti).toMatchObject({ expiresAt: (now + 2 * HOUR) / SEC, tti: 2 * HOUR });
    await writer.store.put('over', randomBody(40 * KiB));
    const plain = await item('over');
    expect(plain!.expiresAt).toBeUndefined();
    expect(plain!.tti).toBeUndefined();
    now += 100 * HOUR;
    expect(await writer.store.head('over')).toBeDefined();
    await expectClean(fx, expect);
  });
});

describe('time to idle', () => {
  test('reads move the expiry forward, debounced: no write while more than TTI - debounce remains', async () => {
    const tti = 10 * 60_000; // debounce = 5 min (half of it)
    const { version } = await writer.store.put('idle', randomBody(40 * KiB), { timeToIdleMs: tti });
    const first = (await item('idle'))!.expiresAt as number;
    now += 4 * 60_000;
    expect(await writer.store.get('idle')).toBeDefined();
    expect((await item('idle'))!.expiresAt).toBe(first); // not due: no write
    now += 2 * 60_000; // 6 min after the write: 4 min remain < 5 min
    const read = await writer.store.head('idle');
    expect(read!.expiresAt).toEqual(new Date(now + tti));
    expect((await item('idle'))!.expiresAt).toBe((now + tti) / SEC);
    expect((await item('idle'))!.version).toBe(version); // a refresh is not a new version
    // Kept alive by reads far past the first expiry...
    for (let i = 0; i < 5; i++) {
      now += 6 * 60_000;
      expect(await writer.store.get('idle')).toBeDefined();
    }
    // ...and expires when left alone; a read then does not resurrect it.
    now += tti;
    expect(await writer.store.get('idle')).toBeUndefined();
    expect((await item('idle'))!.expiresAt as number).toBeLessThanOrEqual(now / SEC);
  });
});

describe('reads that refresh and never outlive the expiry', () => {
  const tti = 10 * 60_000; // debounce = 5 min (half of it)

  test.each([
    ['a ranged get', (key: string) => writer.store.get(key, { range: { start: 0, end: 9 } })],
    [
      'a ranged getStream',
      async (key: string) => {
        const read = await writer.store.getStream(key, { range: { start: 0, end: 9 } });
        read?.body.destroy();
        return read;
      },
    ],
    ['a presigned GET', (key: string) => writer.store.presignGet(key)],
    ['a GET answered by URL', (key: string) => writer.store.getStreamOrUrl(key, { maxBytes: 0 })],
  ])('%s of a time-to-idle object is a read: it moves the expiry forward', async (name, read) => {
    const key = `idle-read/${name}`;
    await writer.store.put(key, randomBody(40 * KiB), { timeToIdleMs: tti });
    now += 6 * 60_000; // 4 min remain < 5 min: a read is due to refresh
    expect(await read(key)).toBeDefined();
    expect((await item(key))!.expiresAt).toBe((now + tti) / SEC);
    now += 6 * 60_000; // past the first expiry, not past the refreshed one
    expect(await writer.store.head(key)).toBeDefined();
  });

  test("a presigned GET never lives past the object's expiry; with under a second left the object is absent to it", async () => {
    await writer.store.put('short/url', randomBody(40 * KiB), { timeToLiveMs: 90 * SEC });
    const presigned = (await writer.store.presignGet('short/url', { expiresInMs: 5 * 60_000 }))!;
    expect(presigned.expiresAt).toBeLessThanOrEqual(now + 90 * SEC);
    expect(Number(new URL(presigned.url).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(90);
    now += 90 * SEC - 500;
    expect(await writer.store.head('short/url')).toBeDefined();
    expect(await writer.store.presignGet('short/url')).toBeUndefined();
    now += SEC;
  });

  test("a GET answered by URL: the URL never lives past the object's expiry; with under a second left, absent", async () => {
    await writer.store.put('short/by-url', randomBody(40 * KiB), { timeToLiveMs: 90 * SEC });
    const read = await writer.store.getStreamOrUrl('short/by-url', { maxBytes: 1024, expiresInMs: 5 * 60_000 });
    expect(read !== undefined && 'url' in read).toBe(true);
    if (read === undefined || !('url' in read)) return;
    expect(read.urlExpiresAt).toBeLessThanOrEqual(now + 90 * SEC);
    expect(Number(new URL(read.url).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(90);
    expect(Math.abs(read.expiresAt!.getTime() - (now + 90 * SEC)), 'the object info carries its expiry (second resolution)').toBeLessThan(
      SEC,
    );
    now = read.expiresAt!.getTime() - 500;
    expect(await writer.store.getStreamOrUrl('short/by-url', { maxBytes: 1024 })).toBeUndefined();
    now += SEC;
  });
});

describe("a presigned GET's lifetime is counted from its signing", () => {
  test('a read slow to answer does not stretch the URL past the expiry (real clock: S3 checks the URL on it)', async () => {
    const real = makeWriter(fx);
    try {
      await real.store.put('short/slow-read', randomBody(40 * KiB), { timeToLiveMs: 20 * SEC });
      const expiresAt = Number((await item('short/slow-read'))!.expiresAt) * SEC;
      // The objects table's read of presignGet answers 3 s late (a throttled, retried read).
      real.injector.add({ kind: 'delay', delayMs: 3 * SEC, match: onCommand('GetItemCommand'), times: 1 });
      const presigned = (await real.store.presignGet('short/slow-read', { expiresInMs: 5 * 60_000 }))!;
      expect(real.injector.stats.injected.delay).toBe(1);
      const params = new URL(presigned.url).searchParams;
      const signed = Date.parse(params.get('X-Amz-Date')!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
      expect(signed + Number(params.get('X-Amz-Expires')) * SEC).toBeLessThanOrEqual(expiresAt);
      expect(presigned.expiresAt).toBeLessThanOrEqual(expiresAt);
    } finally {
      real.close();
    }
  });
});

describe('an expiry that passes while the put runs', () => {
  test.each([
    ['an instant', () => ({ expiresAt: new Date(now + 2 * SEC) })],
    ['a time to live', () => ({ timeToLiveMs: 2 * SEC })],
  ])('%s that passes during the upload: ValidationError, the old value stays, nothing is left', async (name, policy) => {
    const key = `passes/${name}`;
    const old = randomBody(40 * KiB);
    const { version } = await writer.store.put(key, old);
    // The upload is slow: the clock passes the expiry the put was given before it can commit.
    const slow = {
      kind: 'delay' as const,
      delayMs: 0,
      times: 1,
      match: onCommand('PutObjectCommand'),
      before: async () => {
        now += 3 * SEC;
      },
    };
    writer.injector.add(slow);
    try {
      await expect(writer.store.put(key, randomBody(40 * KiB), policy())).rejects.toBeInstanceOf(ValidationError);
    } finally {
      writer.injector.remove(slow);
    }
    const got = await writer.store.get(key);
    expect(got!.body).toEqual(old);
    expect(got!.version).toBe(version);
    await expectClean(fx, expect);
  });
});

describe('expiry and deletion markers', () => {
  test.each([
    ['small, time to live', 100, { timeToLiveMs: HOUR }],
    ['large, time to idle', 40 * KiB, { timeToIdleMs: HOUR }],
  ])(
    '%s: a delete leaves a marker without expiresAt or tti (TTL never removes it), and a create continues its version',
    async (name, size, policy) => {
      const key = `marked/${name}`;
      const { version } = await writer.store.put(key, randomBody(size), policy);
      expect(version).toBe(firstVersion(now));
      expect(await writer.store.delete(key)).toBe(true);
      const marker = (await item(key))!;
      expect(marker).toMatchObject({ deleted: true, version: version + 1 });
      expect(marker.expiresAt).toBeUndefined();
      expect(marker.tti).toBeUndefined();
      now += 10 * HOUR;
      const put = await writer.store.put(key, randomBody(size), { ifVersion: 0 });
      // The marker kept the counter: not a version from the clock, 10 hours on.
      expect(put).toMatchObject({ version: version + 2, created: true });
      await expectClean(fx, expect);
    },
  );

  test.each([
    ['small', 100, 10],
    ['small', 100, 50 * KiB],
    ['large', 50 * KiB, 10],
    ['large', 50 * KiB, 50 * KiB],
  ])(
    'a create over an expired %s item with a body of %i bytes continues at the stored version + 1 and is reported created',
    async (name, size, newSize) => {
      const key = `recreate/${name}/${newSize}`;
      const { version } = await writer.store.put(key, randomBody(size));
      await writer.store.put(key, randomBody(size), { timeToLiveMs: SEC });
      now += 2 * SEC;
      // The expired item is still there (TTL has not removed it): its counter goes on.
      const put = await writer.store.put(key, randomBody(newSize), { ifVersion: 0 });
      expect(put).toMatchObject({ version: version + 2, created: true });
      expect(await writer.store.head(key)).toMatchObject({ version: version + 2 });
      await expectClean(fx, expect);
    },
  );
});
