/**
 * The namespace guard in front of every delete the sweeper, the stream function and the audits
 * make (`checkBlobKey`, `checkChangeNames`), as a table: each shape of key it refuses, and the
 * one it accepts. Pure functions: no local stack. The sweeper's quarantine of such entries is
 * tested end to end in test/recovery/sweeper.test.ts; this table holds every term of the guard,
 * so that one dropped or widened fails here by name.
 */
import { describe, expect, test } from 'vitest';
import { checkBlobKey, checkChangeNames, encodeObjectId, newBlobKey } from '../../lib/tiered/blob-keys.js';

const PREFIX = 'blobs';
const ID = 'obj/1';
const UUID = '0190a000-0000-7000-8000-000000000001';
const OTHER_UUID = '0190a000-0000-7000-8000-000000000002';
const dir = `${PREFIX}/${encodeObjectId(ID)}`;
const KEY = `${dir}/${UUID}`;

describe('checkBlobKey', () => {
  test('accepts the keys this library makes for the object', () => {
    expect(checkBlobKey(PREFIX, ID, KEY)).toEqual({ ok: true });
    expect(checkBlobKey(PREFIX, ID, newBlobKey(PREFIX, ID))).toEqual({ ok: true });
    expect(checkBlobKey('tenants/a', ID, newBlobKey('tenants/a', ID))).toEqual({ ok: true });
  });

  const refused: Array<[string, unknown, string]> = [
    ['not a string', 7, 'not a string'],
    ['a look-alike prefix', `${PREFIX}2/${encodeObjectId(ID)}/${UUID}`, 'outside prefix'],
    ['another prefix', `other/${encodeObjectId(ID)}/${UUID}`, 'outside prefix'],
    ['the prefix without its slash', `${PREFIX}${encodeObjectId(ID)}/${UUID}`, 'outside prefix'],
    ['a segment after the UUID', `${KEY}/x`, 'does not have the shape'],
    ['no UUID segment', dir, 'does not have the shape'],
    ['a nested store under the prefix', `${PREFIX}/nested/${encodeObjectId(ID)}/${UUID}`, 'does not have the shape'],
    ['a percent-encoded object segment', `${PREFIX}/%2e%2e/${UUID}`, 'invalid object segment'],
    ['a ".." object segment', `${PREFIX}/../${UUID}`, 'invalid object segment'],
    ['an empty object segment', `${PREFIX}//${UUID}`, 'invalid object segment'],
    ['a name that is not a UUID', `${dir}/secret`, 'does not end in a UUIDv7'],
    ['a UUIDv4', `${dir}/0190a000-0000-4000-8000-000000000001`, 'does not end in a UUIDv7'],
    ['an upper-case UUIDv7', `${dir}/${UUID.toUpperCase()}`, 'does not end in a UUIDv7'],
    ["another object's blob", `${PREFIX}/${encodeObjectId('obj/2')}/${UUID}`, 'belongs to another object'],
  ];
  test.each(refused)('refuses %s', (_name, key, reason) => {
    const check = checkBlobKey(PREFIX, ID, key);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toContain(reason);
  });
});

describe('checkChangeNames', () => {
  const OLD = `${dir}/${OTHER_UUID}`;

  test('accepts a valid id with its own blobs in new and old', () => {
    expect(checkChangeNames(PREFIX, { id: ID, new: KEY, old: OLD })).toEqual({ ok: true });
    expect(checkChangeNames(PREFIX, { id: ID })).toEqual({ ok: true });
  });

  const refused: Array<[string, { id: string; new?: string; old?: string }, ReadonlyArray<'new' | 'old'> | undefined, string]> = [
    ['an invalid object id', { id: '', new: KEY }, undefined, 'invalid object id'],
    ['an object id with a control character', { id: 'a\u0000b' }, undefined, 'invalid object id'],
    ['a new outside the prefix', { id: ID, new: 'elsewhere/x', old: OLD }, undefined, 'new: '],
    ['an old outside the prefix', { id: ID, new: KEY, old: 'elsewhere/x' }, undefined, 'old: '],
    ['a new outside the prefix, only new checked', { id: ID, new: 'elsewhere/x' }, ['new'], 'new: '],
    ['new and old the same blob', { id: ID, new: KEY, old: KEY }, undefined, 'same blob'],
  ];
  test.each(refused)('refuses %s', (_name, change, fields, reason) => {
    const check = checkChangeNames(PREFIX, change, fields);
    expect(check.ok).toBe(false);
    expect(check.ok ? '' : check.reason).toContain(reason);
  });

  test('checks only the fields asked for: an old of another object is recorded by the change log', () => {
    const foreign = `${PREFIX}/${encodeObjectId('obj/2')}/${OTHER_UUID}`;
    expect(checkChangeNames(PREFIX, { id: ID, new: KEY, old: foreign }, ['new'])).toEqual({ ok: true });
    expect(checkChangeNames(PREFIX, { id: ID, new: KEY, old: foreign }).ok).toBe(false);
  });
});
