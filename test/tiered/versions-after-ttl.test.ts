/**
 * Versions never restart, even once DynamoDB's TTL removed an expired object's item (counter and
 * all): the key's next item starts at a version drawn from the writer's clock
 * (lib/tiered/versions.ts), above every version the removed incarnation reached. So a condition
 * taken before the expiry (`ifVersion`, `If-Match` with its ETag) never matches the object
 * re-created under the key, even after as many writes as the old one had: a lost update.
 *
 * On the local servers with an injected clock: an object is written with a time to live (inline,
 * blob, and re-created through an upload session), the clock passes its expiry, the item is
 * removed as TTL removes it (a DeleteItem conditional on the expiry being past: DynamoDB Local
 * runs no TTL), the key is written again as many times, and the stale condition is refused. The
 * rule itself is checked pure, against the write rate DynamoDB allows on one item.
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { VersionConflictError } from '../../lib/errors.js';
import { firstVersion, nextVersion, VERSIONS_PER_MS } from '../../lib/tiered/versions.js';
import { objectsRequest } from '../functions/lambda.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawState, rawValue, sameBytes, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

const SEC = 1000;
const MINUTE = 60_000;
/** Writes of each incarnation: the stale condition is the last version of the first one. */
const WRITES = 3;

let fx: Fixture;
let w: Writer;
// Near the wall clock (presigned part URLs are checked against it), moved on by the tests.
let now = Date.now();
const clock = () => now;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock } });
});
afterAll(() => w?.close());

async function item(key: string): Promise<Record<string, unknown> | undefined> {
  return (await rawState(fx)).objects.find((o) => o.key === key);
}

/** Removes the item as DynamoDB's TTL does: a DeleteItem, only once its expiry (epoch seconds) is past. */
async function removeAsTtl(key: string): Promise<void> {
  await fx.dynamodb.send(
    new DeleteItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: key } },
      ConditionExpression: 'expiresAt <= :now',
      ExpressionAttributeValues: { ':now': { N: String(Math.floor(now / SEC)) } },
    }),
  );
  expect(await item(key), 'TTL removed the item').toBeUndefined();
}

/** Writes `key` WRITES times with a time to live of a minute; returns the versions answered. */
async function firstIncarnation(key: string, size: number): Promise<number[]> {
  const versions: number[] = [];
  for (let i = 0; i < WRITES; i++) {
    versions.push((await w.store.put(key, randomBody(size), { timeToLiveMs: MINUTE })).version);
    now += 1;
  }
  return versions;
}

/** Moves the clock past the object's expiry and removes its item as TTL would. */
async function expireAndRemove(key: string): Promise<void> {
  now += MINUTE + 2 * SEC;
  expect(await w.store.head(key), 'absent once expired').toBeUndefined();
  await removeAsTtl(key);
}

describe.each([
  ['inline', 100],
  ['blob', 40 * KiB],
])('%s object removed by TTL, then re-created', (_label, size) => {
  test('the re-created object starts above the removed one; its old ifVersion is refused after as many writes', async () => {
    const key = `ttl-aba/${size}`;
    const createdAt = now;
    const old = await firstIncarnation(key, size);
    // The first version comes from the writer's clock; the next writes count on by one.
    expect(old).toEqual([firstVersion(createdAt), firstVersion(createdAt) + 1, firstVersion(createdAt) + 2]);
    const stale = old.at(-1)!;
    await expireAndRemove(key);

    const recreatedAt = now;
    const created = await w.store.put(key, randomBody(size), { ifVersion: 0 });
    expect(created).toMatchObject({ version: firstVersion(recreatedAt), created: true });
    expect(created.version).toBeGreaterThan(stale);
    // As many writes as the removed incarnation had: each one version more, none at `stale`.
    let current = created.version;
    for (let i = 1; i < WRITES; i++) {
      const put = await w.store.put(key, randomBody(size), { ifVersion: current });
      expect(put).toMatchObject({ version: current + 1, created: false });
      current = put.version;
    }
    expect((await w.store.head(key))?.version).toBe(current);
    const value = await rawValue(fx, key);

    // The holder of the removed incarnation's last version loses, for a put of either size and a delete.
    for (const body of [randomBody(100), randomBody(40 * KiB)]) {
      await expect(w.store.put(key, body, { ifVersion: stale })).rejects.toMatchObject({
        name: 'VersionConflictError',
        expected: stale,
        actual: current,
      });
    }
    await expect(w.store.delete(key, { ifVersion: stale })).rejects.toBeInstanceOf(VersionConflictError);
    expect(sameBytes(await rawValue(fx, key), value), 'the re-created value is untouched').toBe(true);

    // The current version (a large number) still works.
    expect(await w.store.delete(key, { ifVersion: current })).toBe(true);
    expect((await item(key))?.version).toBe(current + 1);
    expect((await rawState(fx)).lost).toEqual([]);
  });
});

test('re-created through an upload session: the complete starts above the removed incarnation', async () => {
  const key = 'ttl-aba/session';
  const old = await firstIncarnation(key, 40 * KiB);
  const stale = old.at(-1)!;
  await expireAndRemove(key);

  const session = await w.store.createUpload(key, { ifVersion: 0 });
  const parts = await uploadParts(w.store, session.uploadId, randomBody(40 * KiB), session.partSize);
  const completedAt = now;
  const result = await w.store.completeUpload(session.uploadId, parts);
  expect(result).toMatchObject({ version: firstVersion(completedAt), created: true, stored: 'blob' });
  expect(result.version).toBeGreaterThan(stale);
  let current = result.version;
  for (let i = 1; i < WRITES; i++) current = (await w.store.put(key, randomBody(40 * KiB), { ifVersion: current })).version;

  await expect(w.store.put(key, 'stale', { ifVersion: stale })).rejects.toBeInstanceOf(VersionConflictError);
  await expect(w.store.delete(key, { ifVersion: stale })).rejects.toBeInstanceOf(VersionConflictError);
  // A session created with the stale version is refused at once.
  await expect(w.store.createUpload(key, { ifVersion: stale })).rejects.toBeInstanceOf(VersionConflictError);
  expect((await w.store.head(key))?.version).toBe(current);
});

describe('HTTP: an ETag taken before TTL removed the object', () => {
  const event = (method: string, key: string, init?: Parameters<typeof objectsRequest>[3]) => objectsRequest(w.store, method, key, init);

  test.each([
    ['inline', 100],
    ['blob', 40 * KiB],
  ])('%s: If-Match with it is 412 on the re-created object, after as many writes', async (_label, size) => {
    const key = `http-ttl-aba/${size}`;
    let etag = '';
    for (let i = 0; i < WRITES; i++) {
      const put = await event('PUT', key, { body: randomBody(size), headers: { 'x-tierlog-ttl': '60' } });
      expect(put.statusCode).toBe(i === 0 ? 201 : 200);
      etag = String(put.headers?.etag);
      now += 1;
    }
    await expireAndRemove(key);

    const recreated = await event('PUT', key, { body: randomBody(size), headers: { 'if-none-match': '*' } });
    expect(recreated.statusCode, 'a re-creation is a creation').toBe(201);
    let current = String(recreated.headers?.etag);
    for (let i = 1; i < WRITES; i++) {
      // The ETag of the re-created object (16 digits) is a valid If-Match.
      const put = await event('PUT', key, { body: randomBody(size), headers: { 'if-match': current } });
      expect(put.statusCode).toBe(200);
      current = String(put.headers?.etag);
    }
    expect(current).not.toBe(etag);

    expect((await event('PUT', key, { body: randomBody(size), headers: { 'if-match': etag } })).statusCode).toBe(412);
    expect((await event('DELETE', key, { headers: { 'if-match': etag } })).statusCode).toBe(412);
    expect((await event('HEAD', key)).headers?.etag).toBe(current);
    expect((await event('DELETE', key, { headers: { 'if-match': current } })).statusCode).toBe(204);
  });
});

describe('the rule (pure)', () => {
  /** The most writes DynamoDB takes on one item in `ms` milliseconds: 1,000 a second, one second of burst. */
  const maxWrites = (ms: number) => ms + 1_000;
  const lifetimes = [0, 1, 999, 1_000, 1_001, 60_000, 86_400_000, 100 * 365 * 86_400_000];
  const starts = [Date.UTC(2026, 11, 1), Date.UTC(2026, 11, 1) + 0.75, Date.UTC(2200, 0, 1)];

  test.each(lifetimes)('an incarnation written at 1,000 writes/s for %i ms stays below the next one', (lifetime) => {
    for (const start of starts) {
      const earlier = firstVersion(start);
      // Its first write and every write after it the item can take until its last, at start + lifetime.
      const reached = earlier + maxWrites(lifetime) - 1;
      // The next item exists only once TTL removed this one: after an expiry strictly after the
      // last write (so at least 1 ms later), on the same clock.
      const removedAt = start + lifetime + 1;
      expect(firstVersion(removedAt)).toBeGreaterThan(reached);
      // Clocks that disagree by less than 999/1000 of the lifetime keep it safe.
      expect(firstVersion(removedAt - Math.floor(lifetime * 0.998))).toBeGreaterThan(reached);
    }
  });

  test('first versions are whole numbers of the clock in ms × 1000; later ones count on by one whatever the clock', () => {
    const t = Date.UTC(2026, 11, 1, 7, 0, 0);
    expect(firstVersion(t)).toBe(t * VERSIONS_PER_MS);
    expect(firstVersion(t + 0.9)).toBe(t * VERSIONS_PER_MS);
    expect(nextVersion(undefined, t)).toBe(firstVersion(t));
    expect(nextVersion(41, t)).toBe(42);
    expect(nextVersion(firstVersion(t), t - MINUTE)).toBe(firstVersion(t) + 1);
    // 0 means "absent" to ifVersion: a clock at the epoch still gives a version.
    expect(firstVersion(0)).toBe(1);
  });

  test('a version stays an exact JavaScript integer (and an ETag of at most 16 digits) until 2255', () => {
    const lastSafe = firstVersion(Date.UTC(2255, 0, 1)) + maxWrites(100 * 365 * 86_400_000) - 1;
    expect(Number.isSafeInteger(lastSafe)).toBe(true);
    expect(String(lastSafe)).toHaveLength(16);
    expect(Number.isSafeInteger(firstVersion(Date.UTC(2256, 0, 1)))).toBe(false);
  });
});
