/**
 * A version names one state of one incarnation of a key. A delete leaves a deletion marker that
 * keeps the version counter, so a condition taken from a deleted object (`ifVersion`, `If-Match`
 * with its ETag) never matches the unrelated object re-created under the same key: that would be
 * a lost update. Checked for inline and blob objects, through the library and the HTTP handler,
 * and from outside: the marker references no blob, reads see the key as absent, the invariants
 * hold.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { VersionConflictError } from '../../lib/errors.js';
import { objectsRequest } from '../functions/lambda.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import { KiB, expectClean, makeWriter, randomBody, rawValue, sameBytes, sweepPastEverything, type Writer } from './harness.js';

let fx: Fixture;
let w: Writer;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx);
});
afterAll(() => w?.close());

const sizes = [
  ['inline', 1 * KiB],
  ['blob', 64 * KiB],
] as const;

async function rawItem(key: string): Promise<Record<string, unknown> | undefined> {
  return (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === key);
}

describe('versions across a delete (library)', () => {
  for (const [first, firstSize] of sizes) {
    for (const [second, secondSize] of sizes) {
      test(`${first} deleted, ${second} re-created: the old ifVersion is refused, the re-created object keeps its value`, async () => {
        const key = `inc/${first}-${second}`;
        const old = await w.store.put(key, randomBody(firstSize));
        expect(old).toMatchObject({ created: true });
        const v = old.version;
        expect(await w.store.delete(key)).toBe(true);

        // The key is absent to every read; the marker references no blob and keeps the counter.
        expect(await w.store.get(key)).toBeUndefined();
        expect(await w.store.head(key)).toBeUndefined();
        expect(await w.store.delete(key)).toBe(false);
        const marker = await rawItem(key);
        expect(marker).toMatchObject({ version: v + 1, deleted: true });
        expect(marker?.blob).toBeUndefined();
        expect(marker?.body).toBeUndefined();

        // A condition from the deleted incarnation does not match what is there now (nothing).
        await expect(w.store.put(key, randomBody(secondSize), { ifVersion: old.version })).rejects.toBeInstanceOf(VersionConflictError);
        await expect(w.store.delete(key, { ifVersion: old.version })).rejects.toBeInstanceOf(VersionConflictError);
        // Nor does the marker's own version (the deleted one's + 1, which a caller can count to):
        // it names a deletion, not an object to replace.
        await expect(w.store.put(key, randomBody(secondSize), { ifVersion: v + 1 })).rejects.toBeInstanceOf(VersionConflictError);
        await expect(w.store.delete(key, { ifVersion: v + 1 })).rejects.toBeInstanceOf(VersionConflictError);
        expect(await rawItem(key)).toEqual(marker);

        const value = randomBody(secondSize);
        const created = await w.store.put(key, value, { ifVersion: 0 });
        expect(created).toMatchObject({ version: v + 2, created: true });
        expect((await w.store.head(key))?.version).toBe(v + 2);

        // The lost update the marker prevents: a writer holding the first version of the old object.
        await expect(w.store.put(key, randomBody(secondSize), { ifVersion: old.version })).rejects.toMatchObject({
          name: 'VersionConflictError',
          expected: v,
          actual: v + 2,
        });
        await expect(w.store.delete(key, { ifVersion: old.version })).rejects.toBeInstanceOf(VersionConflictError);
        expect(sameBytes(await rawValue(fx, key), value)).toBe(true);

        // The current version works, and an overwrite is not a creation.
        expect(await w.store.put(key, randomBody(secondSize), { ifVersion: v + 2 })).toMatchObject({ version: v + 3, created: false });
        expect(await w.store.delete(key, { ifVersion: v + 3 })).toBe(true);
        expect(await w.store.get(key)).toBeUndefined();
        await sweepPastEverything(fx);
        await expectClean(fx, expect);
      });
    }
  }

  test('ifVersion 0 means "absent or deleted"; a delete of a deleted key is false and writes nothing', async () => {
    const key = 'inc/zero';
    const { version: v } = await w.store.put(key, randomBody(64 * KiB));
    expect(await w.store.delete(key)).toBe(true);
    const marker = await rawItem(key);
    expect(await w.store.delete(key)).toBe(false);
    expect(await w.store.delete(key, { ifVersion: 0 })).toBe(false);
    expect(await rawItem(key)).toEqual(marker);
    expect(await w.store.put(key, 'again', { ifVersion: 0 })).toMatchObject({ version: v + 2, created: true });
    await expect(w.store.put(key, 'not again', { ifVersion: 0 })).rejects.toBeInstanceOf(VersionConflictError);
  });

  test('a delete of a key never written leaves no item', async () => {
    expect(await w.store.delete('inc/never')).toBe(false);
    expect(await rawItem('inc/never')).toBeUndefined();
  });
});

describe('ETags across a delete (HTTP)', () => {
  const event = (method: string, key: string, init?: Parameters<typeof objectsRequest>[3]) => objectsRequest(w.store, method, key, init);

  for (const [label, size] of sizes) {
    test(`${label}: If-Match with the ETag of a deleted object is 412 on the re-created one`, async () => {
      const key = `http-inc/${label}`;
      const first = await event('PUT', key, { body: randomBody(size) });
      expect(first.statusCode).toBe(201);
      const staleEtag = String(first.headers?.etag);
      expect((await event('DELETE', key)).statusCode).toBe(204);

      const again = await event('PUT', key, { body: randomBody(size) });
      expect(again.statusCode, 'a re-creation is a creation').toBe(201);
      expect(again.headers?.etag).not.toBe(staleEtag);

      const stalePut = await event('PUT', key, { body: randomBody(size), headers: { 'if-match': staleEtag } });
      expect(stalePut.statusCode).toBe(412);
      const staleDelete = await event('DELETE', key, { headers: { 'if-match': staleEtag } });
      expect(staleDelete.statusCode).toBe(412);
      const head = await event('HEAD', key);
      expect(head.headers?.etag).toBe(again.headers?.etag);

      const current = await event('PUT', key, { body: randomBody(size), headers: { 'if-match': String(again.headers?.etag) } });
      expect(current.statusCode).toBe(200);
    });
  }
});
