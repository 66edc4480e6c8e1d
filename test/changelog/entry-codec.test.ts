/**
 * The stored form of entries and instance items: what a reader trusts. A corrupt entry is
 * reported as such (never thrown, never guessed at); a malformed item header is refused.
 */
import { describe, expect, it } from 'vitest';
import {
  assertChange,
  assertChangeId,
  decodeEntry,
  encodeEntry,
  entryAttribute,
  isEntryAttribute,
} from '../../lib/changelog/entry-codec.js';
import { parseInstanceItem } from '../../lib/changelog/instance-item.js';
import { CorruptItemError, ValidationError } from '../../lib/errors.js';
import { newChangeId } from '../../lib/ids.js';

const ID = '0190f5f4-1c2a-7b3c-8d4e-5f6a7b8c9d0e';
const ATTR = `c_${ID}`;

describe('entry codec', () => {
  it('encodes to {v,id,new,old,ca,at} and decodes back to the same change', () => {
    const change = { id: 'obj', new: 'blobs/n', old: 'blobs/o', cleanupAfter: new Date(1_700_000_123_456) };
    const stored = encodeEntry(change, 1_700_000_000_000.7);
    expect(stored).toEqual({ v: 1, id: 'obj', new: 'blobs/n', old: 'blobs/o', ca: 1_700_000_123_456, at: 1_700_000_000_000 });
    expect(decodeEntry(entryAttribute(ID), stored)).toEqual({ ok: true, changeId: ID, change, recordedAt: 1_700_000_000_000 });
  });

  it('entry attributes are c_<changeId>', () => {
    expect(entryAttribute(ID)).toBe(ATTR);
    expect(isEntryAttribute(ATTR)).toBe(true);
    expect(isEntryAttribute('claimedBy')).toBe(false);
    expect(isEntryAttribute('n')).toBe(false);
    // Only a name that starts with the prefix: an attribute of another writer that holds "c_" is no entry.
    expect(isEntryAttribute('etc_x')).toBe(false);
  });

  // Reading is as lenient as recording ever was: a field at the longest a record takes (2,048
  // bytes), or at 2,048 characters of 3 bytes each (what records took before they counted bytes),
  // reads back whole, never quarantined (its blob would then never be settled).
  it.each([
    ['id', 'o'.repeat(2048)],
    ['new', `blobs/${'n'.repeat(2042)}`],
    ['old', '€'.repeat(2048)],
  ])('decodes a %s of 2,048 characters as recorded', (field, value) => {
    const stored = { v: 1, id: 'obj', at: 1, [field]: value };
    expect(decodeEntry(ATTR, stored)).toMatchObject({ ok: true, change: { [field]: value } });
  });

  it.each([
    ['a string', 'hello', /malformed/],
    ['null', null, /malformed/],
    ['an array', [1, 2], /malformed/],
    ['a number', 42, /malformed/],
    ['unknown version 2', { v: 2, id: 'o', at: 1 }, /unknown schema version 2/],
    ['a string version', { v: '1', id: 'o', at: 1 }, /unknown schema version "1"/],
    ['no version', { id: 'o', at: 1 }, /malformed.*v/],
    ['no object id', { v: 1, at: 1 }, /malformed.*id/],
    ['no recorded-at', { v: 1, id: 'o' }, /malformed.*at/],
    ['an empty object id', { v: 1, id: '', at: 1 }, /malformed.*id/],
    ['a numeric blob', { v: 1, id: 'o', new: 7, at: 1 }, /malformed.*new/],
    ['an empty new blob', { v: 1, id: 'o', new: '', at: 1 }, /malformed.*new/],
    ['an empty old blob', { v: 1, id: 'o', old: '', at: 1 }, /malformed.*old/],
    ['a negative cleanupAfter', { v: 1, id: 'o', ca: -5, at: 1 }, /malformed.*ca/],
    ['a cleanupAfter past the last Date', { v: 1, id: 'o', ca: 8.64e15 + 1, at: 1 }, /malformed.*ca/],
    ['a fractional recorded-at', { v: 1, id: 'o', at: 1.5 }, /malformed.*at/],
    // No writer records one (its clock reads 2000 onwards): the stored form takes none.
    ['a negative recorded-at', { v: 1, id: 'o', at: -1 }, /malformed.*at/],
    ['an extra field', { v: 1, id: 'o', at: 1, extra: 'x' }, /malformed/],
    ['a blob key over the size cap', { v: 1, id: 'o', new: 'x'.repeat(5000), at: 1 }, /malformed.*new/],
  ])('decodes %s as corrupt, with a reason, without throwing', (_label, value, reason) => {
    const decoded = decodeEntry(ATTR, value);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.changeId).toBe(ID);
    expect(decoded.reason).toMatch(reason);
  });

  it('an attribute name that is not a valid change id is corrupt even when the value is fine', () => {
    const decoded = decodeEntry('c_bad/id', { v: 1, id: 'o', at: 1 });
    expect(decoded).toEqual({ ok: false, changeId: 'bad/id', reason: 'invalid change id in attribute name' });
  });

  it('never throws on hostile values', () => {
    const hostile: unknown[] = [
      undefined,
      Symbol('s'),
      () => 1,
      new Map(),
      new Set(['a']),
      Object.create(null),
      { v: 1n },
      new Uint8Array(3),
    ];
    for (const value of hostile) expect(() => decodeEntry(ATTR, value)).not.toThrow();
    for (const value of hostile) expect(decodeEntry(ATTR, value).ok).toBe(false);
  });

  it('assertChangeId accepts UUIDv7 ids and rejects others', () => {
    expect(() => assertChangeId(newChangeId())).not.toThrow();
    for (const bad of ['', 'a b', 'a/b', 'ü', 'x'.repeat(129), 42 as unknown as string]) {
      expect(() => assertChangeId(bad)).toThrow(ValidationError);
    }
  });

  it('assertChange refuses bad shapes with the field at fault', () => {
    const field = (change: unknown) => {
      try {
        assertChange(change as never);
        return undefined;
      } catch (err) {
        expect(err).toBeInstanceOf(ValidationError);
        return (err as ValidationError).field;
      }
    };
    expect(field({ id: 'ok' })).toBeUndefined();
    expect(field(null)).toBe('change');
    expect(field('obj')).toBe('change');
    expect(field({ id: 3 })).toBe('change.id');
    // Read back as malformed (the stored form takes no empty id): quarantined, never settled.
    expect(field({ id: '' })).toBe('change.id');
    // A field of another name is refused, not dropped: `{ id, blob }` for `{ id, new }` would
    // record an entry that names no blob, and the blob its writer uploads would leak after a crash.
    expect(field({ id: 'o', blob: 'blobs/n' }), 'blob for new').toBe('change.blob');
    expect(field({ id: 'o', new: 'blobs/n', cleanupafter: new Date(0) }), 'a misspelt field').toBe('change.cleanupafter');
    expect(field({ id: 'o', new: undefined })).toBeUndefined();
    // Unset is not set: an object built with an optional property left undefined records as without it.
    expect(field({ id: 'o', blob: undefined })).toBeUndefined();
    expect(field({ id: 'x'.repeat(2049) })).toBe('change.id');
    expect(field({ id: '€'.repeat(683) }), '2,049 bytes of UTF-8').toBe('change.id');
    expect(field({ id: '€'.repeat(682) }), '2,046 bytes').toBeUndefined();
    expect(field({ id: 'o', new: 'blobs/\ud800' }), 'a lone surrogate').toBe('change.new');
    expect(field({ id: 'o', old: 5 })).toBe('change.old');
    // An empty blob key reads back as malformed (the stored form takes none): quarantined, never settled.
    expect(field({ id: 'o', new: '' }), 'an empty new').toBe('change.new');
    expect(field({ id: 'o', old: '' }), 'an empty old').toBe('change.old');
    expect(field({ id: 'o', cleanupAfter: new Date(Number.NaN) }), 'an invalid Date').toBe('change.cleanupAfter');
    expect(field({ id: 'o', cleanupAfter: '2024-01-01' })).toBe('change.cleanupAfter');
    // What the stored form takes (`ca` non-negative, test above) and no more: one it would read
    // back as malformed is refused, not recorded to be quarantined.
    expect(field({ id: 'o', cleanupAfter: new Date(-1) }), 'before 1970').toBe('change.cleanupAfter');
    expect(field({ id: 'o', cleanupAfter: new Date(0) })).toBeUndefined();
    expect(field({ id: 'o', cleanupAfter: new Date(8.64e15) }), 'the last Date').toBeUndefined();
  });
});

describe('parseInstanceItem', () => {
  const good = { pk: 'inst-1', state: 'live', leaseUntil: 1_000, n: 2, shard: 3 };

  it('parses a well-formed item, each entry on its own: one corrupt entry does not hide the others', () => {
    const item = parseInstanceItem({
      ...good,
      [ATTR]: { v: 1, id: 'obj', new: 'blobs/x', at: 5 },
      c_other: { v: 2, id: 'future', at: 6 },
    });
    expect(item).toMatchObject({ instanceId: 'inst-1', state: 'live', leaseUntil: 1_000, count: 2, shard: 3 });
    expect(item.claimedBy).toBeUndefined();
    const byId = Object.fromEntries(item.entries.map((e) => [e.changeId, e]));
    expect(byId[ID]).toEqual({ ok: true, changeId: ID, change: { id: 'obj', new: 'blobs/x' }, recordedAt: 5 });
    expect(byId.other).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown schema version 2/) });
  });

  it('carries claimedBy and firstSeen of a claimed item', () => {
    // `firstSeen` opens the upload window (judge.ts): lost, every sweep would open it anew.
    expect(parseInstanceItem({ ...good, state: 'claimed', claimedBy: 's-1', firstSeen: 900 })).toMatchObject({
      state: 'claimed',
      claimedBy: 's-1',
      firstSeen: 900,
    });
  });

  it.each([
    ['no pk', { ...good, pk: undefined }],
    ['an empty pk', { ...good, pk: '' }],
    ['an unknown state', { ...good, state: 'zombie' }],
    ['no state', { ...good, state: undefined }],
    ['a string lease', { ...good, leaseUntil: '1000' }],
    ['a fractional lease', { ...good, leaseUntil: 1.5 }],
    ['no counter', { ...good, n: undefined }],
    ['a fractional counter', { ...good, n: 1.5 }],
    // In no lease-index query (the sweeper's scan reports it as without a shard).
    ['a fractional shard', { ...good, shard: 2.5 }],
    ['a negative shard', { ...good, shard: -1 }],
    ['no shard', { ...good, shard: undefined }],
    ['a numeric claimant', { ...good, claimedBy: 7 }],
    // `firstSeen` opens the upload window (judge.ts): one before the epoch would close it at once.
    ['a negative firstSeen', { ...good, state: 'claimed', claimedBy: 's-1', firstSeen: -1 }],
    ['a fractional firstSeen', { ...good, state: 'claimed', claimedBy: 's-1', firstSeen: 1.5 }],
  ])('rejects a header with %s as CorruptItemError', (_label, rawItem) => {
    const clean = Object.fromEntries(Object.entries(rawItem).filter(([, v]) => v !== undefined));
    expect(() => parseInstanceItem(clean)).toThrow(CorruptItemError);
  });

  it('names the instance in the error', () => {
    expect(() => parseInstanceItem({ ...good, state: 'zombie' })).toThrow(/instance inst-1/);
  });
});
