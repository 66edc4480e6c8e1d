/**
 * An objects item whose expiry attribute is no Number (a String `"1767225600"`, as a migration or
 * another tool writes one: DynamoDB TTL reads only a Number there, and ignores any other type, so
 * it never removes the item). Every read takes it for an object that never expires, as TTL does;
 * the conditions of the writes must too. They compared the attribute with a number, which
 * DynamoDB answers false for another type: the object read as live was neither "live" to a
 * delete or a put with `ifVersion` nor "expired", so each such write lost its condition on every
 * attempt and ended as a ContentionError ("lost to concurrent writers", 409 over HTTP), for ever;
 * a small object's put without a condition too.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { VersionConflictError } from '../../lib/errors.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawState, type Writer } from './harness.js';

let fx: Fixture;
let writer: Writer;

beforeAll(async () => {
  fx = await freshFixture();
  writer = makeWriter(fx);
});
afterAll(() => writer?.close());

/** Sets the item's expiry attribute to `value` as a DynamoDB String (past or future seconds). */
async function stringExpiry(key: string, value: string): Promise<void> {
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: key } },
      UpdateExpression: 'SET expiresAt = :e',
      ExpressionAttributeValues: { ':e': { S: value } },
    }),
  );
}

const past = String(Math.floor(Date.now() / 1000) - 3600);
const future = String(Math.floor(Date.now() / 1000) + 3600);

describe.each([
  ['inline', 100],
  ['blob', 40 * KiB],
])('a %s object whose expiry is a String', (kind, size) => {
  test.each([
    ['past', past],
    ['future', future],
  ])('(%s seconds) is live to reads and to every conditional write, as to TTL', async (when, value) => {
    const key = `mistyped/${kind}/${when}`;
    const put = await writer.store.put(key, randomBody(size));
    await stringExpiry(key, value);
    const got = await writer.store.get(key);
    expect(got?.version).toBe(put.version);
    expect(got?.expiresAt).toBeUndefined();
    // A create-only put is refused (the object is there); a put without a condition replaces it.
    await expect(writer.store.put(key, randomBody(size), { ifVersion: 0 })).rejects.toBeInstanceOf(VersionConflictError);
    const plain = await writer.store.put(key, randomBody(size));
    expect(plain.version).toBeGreaterThan(put.version);
    // A put with ifVersion over it, then a delete with ifVersion.
    const body = randomBody(size);
    await stringExpiry(key, value);
    const over = await writer.store.put(key, body, { ifVersion: plain.version });
    expect(over.version).toBeGreaterThan(put.version);
    expect((await writer.store.get(key))?.body).toEqual(body);
    await stringExpiry(key, value);
    expect(await writer.store.delete(key, { ifVersion: over.version })).toBe(true);
    expect(await writer.store.get(key)).toBeUndefined();
    // Without ifVersion: a delete of it answers true.
    const again = await writer.store.put(key, randomBody(size));
    await stringExpiry(key, value);
    expect(await writer.store.delete(key)).toBe(true);
    expect(await writer.store.get(key)).toBeUndefined();
    expect(again.version).toBeGreaterThan(over.version);
    expect((await rawState(fx)).lost).toEqual([]);
  });
});
