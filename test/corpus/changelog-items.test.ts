/**
 * Bad-input corpus, part 1: corrupt change-log items written straight into the table with a lease
 * that ended ten minutes ago, then real sweeps: the first sighting (fences, counts what it cannot
 * trust, defers the rest) and the sweep one upload window later that judges.
 *
 * Entry-level corruption: the bad entry sits beside a good one in the same item. The bad entry
 * must be quarantined (counted, logged with a reason, kept in the item, never used to delete
 * anything) while the good one is recovered (its garbage blob deleted, nothing else).
 * Item-level corruption: the whole item is quarantined and nothing is deleted.
 *
 * Every case: sentinels outside the prefix and under other objects' keys survive, and every
 * existing object still reads back as written.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { NumberValue } from '@aws-sdk/lib-dynamodb';
import { newChangeId } from '../../lib/ids.js';
import {
  bytes,
  deadItem,
  getRawItem,
  encodeId,
  type Ground,
  goodEntry,
  ground,
  HOUR,
  PAST_WINDOW_MS,
  putRawItem,
  sweeperWithLog,
} from './helpers.js';

const open: Ground[] = [];
afterEach(() => {
  for (const g of open.splice(0)) g.close();
});

interface EntryKind {
  readonly name: string;
  /** The bad entry: its attribute name (default `c_<uuidv7>`) and stored value; blobs it names that must survive. */
  readonly make: (
    g: Ground,
  ) => Promise<{ attribute?: string; value: unknown; names?: string[] }> | { attribute?: string; value: unknown; names?: string[] };
  /** What the quarantine reason says. */
  readonly reason: RegExp;
}

const at = () => Date.now() - HOUR;
const p = (g: Ground) => g.fx.config.prefix;
/** A real blob under the prefix for object `corpus/x`, written by the test (bait for a bad delete). */
async function bait(g: Ground, objectId = 'corpus/x'): Promise<string> {
  const key = g.blobKey(objectId);
  await g.putRaw(key, bytes(16));
  return key;
}

const entryKinds: EntryKind[] = [
  { name: 'entry is a string', make: (g) => ({ value: g.blobOf('corpus/victim') }), reason: /malformed entry.*expected object/i },
  {
    name: 'entry is a list',
    make: (g) => ({ value: [g.blobOf('corpus/victim'), 'outside/sentinel'], names: [g.blobOf('corpus/victim')] }),
    reason: /malformed entry.*expected object/i,
  },
  { name: 'entry is a number', make: () => ({ value: 42 }), reason: /malformed entry.*expected object/i },
  { name: 'entry is null', make: () => ({ value: null }), reason: /malformed entry.*expected object/i },
  {
    name: 'entry is a string set',
    make: (g) => ({ value: new Set([g.blobOf('corpus/victim')]), names: [g.blobOf('corpus/victim')] }),
    reason: /malformed entry/i,
  },
  {
    name: 'unknown schema version (v: 2)',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { v: 2, id: 'corpus/x', new: blob, at: at() }, names: [blob] };
    },
    reason: /unknown schema version 2/,
  },
  {
    name: 'schema version as a string ("1")',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { v: '1', id: 'corpus/x', new: blob, at: at() }, names: [blob] };
    },
    reason: /unknown schema version "1"/,
  },
  {
    name: 'missing id',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { v: 1, new: blob, at: at() }, names: [blob] };
    },
    reason: /malformed entry: id/,
  },
  {
    name: 'missing at',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { v: 1, id: 'corpus/x', new: blob }, names: [blob] };
    },
    reason: /malformed entry: at/,
  },
  {
    name: 'extra field',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { ...goodEntry('corpus/x', { new: blob }), purge: 'everything' }, names: [blob] };
    },
    reason: /malformed entry.*unrecognized key/i,
  },
  {
    name: '`new` outside the prefix',
    make: () => ({ value: goodEntry('corpus/x', { new: 'outside/sentinel' }) }),
    reason: /new: .*outside prefix/,
  },
  {
    name: '`old` under a prefix look-alike (blobs-evil/...)',
    make: (g) => ({ value: goodEntry('corpus/x', { old: [...g.sentinels.keys()].find((k) => k.startsWith(`${p(g)}-evil/`))! }) }),
    reason: /old: .*outside prefix/,
  },
  {
    name: 'absolute s3://other-bucket/... key',
    make: (g) => ({ value: goodEntry('corpus/x', { new: `s3://other-bucket/${p(g)}/${encodeId('corpus/x')}/${uuidv7()}` }) }),
    reason: /new: .*outside prefix/,
  },
  {
    name: '.. traversal out of the prefix',
    make: (g) => ({ value: goodEntry('corpus/x', { old: `${p(g)}/${encodeId('corpus/x')}/../../outside/sentinel` }) }),
    reason: /old: .*shape/,
  },
  {
    name: '.. traversal into another object',
    make: (g) => {
      const victim = g.blobOf('corpus/victim');
      const [, object, uuid] = victim.split('/');
      return { value: goodEntry('corpus/x', { old: `${p(g)}/${encodeId('corpus/x')}/../${object}/${uuid}` }), names: [victim] };
    },
    reason: /old: .*shape/,
  },
  {
    name: 'percent-encoded traversal (%2e%2e)',
    make: (g) => ({ value: goodEntry('corpus/x', { new: `${p(g)}/%2e%2e/outside` }) }),
    reason: /new: .*(segment|shape)/,
  },
  {
    name: 'percent-encoded traversal inside the object segment',
    make: (g) => ({ value: goodEntry('corpus/x', { new: `${p(g)}/${encodeId('corpus/x')}%2f%2e%2e/${uuidv7()}` }) }),
    reason: /new: .*invalid object segment/,
  },
  {
    name: "another object's blob",
    make: (g) => ({ value: goodEntry('corpus/x', { old: g.blobOf('corpus/victim') }), names: [g.blobOf('corpus/victim')] }),
    reason: /old: .*another object/,
  },
  {
    name: 'blob name not a UUIDv7 (v4)',
    make: (g) => ({
      value: goodEntry('corpus/x', { new: [...g.sentinels.keys()].find((k) => k.startsWith(`${p(g)}/${encodeId('corpus/x')}/`))! }),
    }),
    reason: /new: .*UUIDv7/,
  },
  {
    name: 'blob name an upper-case UUIDv7',
    make: async (g) => {
      const key = `${p(g)}/${encodeId('corpus/x')}/${uuidv7().toUpperCase()}`;
      await g.putRaw(key, bytes(8));
      return { value: goodEntry('corpus/x', { new: key }), names: [key] };
    },
    reason: /new: .*UUIDv7/,
  },
  {
    name: 'blob key with an extra segment',
    make: async (g) => {
      const key = `${await bait(g)}/more`;
      await g.putRaw(key, bytes(8));
      return { value: goodEntry('corpus/x', { new: key }), names: [key] };
    },
    reason: /new: .*shape/,
  },
  {
    name: 'blob key is the object directory itself',
    make: (g) => ({ value: goodEntry('corpus/x', { old: `${p(g)}/${encodeId('corpus/x')}` }) }),
    reason: /old: .*shape/,
  },
  {
    name: 'blob key as a nested map',
    make: (g) => ({
      value: goodEntry('corpus/x', { new: { S: g.blobOf('corpus/victim') } as unknown as string }),
      names: [g.blobOf('corpus/victim')],
    }),
    reason: /malformed entry: new/,
  },
  { name: 'oversized object id (3 000 chars)', make: () => ({ value: goodEntry('x'.repeat(3_000), {}) }), reason: /malformed entry: id/ },
  {
    name: 'oversized blob key (100 KiB)',
    make: (g) => ({ value: goodEntry('corpus/x', { new: `${p(g)}/${encodeId('corpus/x')}/${'a'.repeat(100 * 1024)}` }) }),
    reason: /malformed entry: new/,
  },
  {
    name: 'invalid object id (control character)',
    make: async (g) => {
      const blob = await bait(g, 'corpus/\u0000x');
      return { value: goodEntry('corpus/\u0000x', { new: blob }), names: [blob] };
    },
    reason: /invalid object id/,
  },
  {
    name: 'recorded-at beyond a safe integer (1e30)',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { v: 1, id: 'corpus/x', new: blob, at: NumberValue.from('1e30') }, names: [blob] };
    },
    reason: /malformed entry: at/,
  },
  {
    name: 'cleanupAfter of the wrong type',
    make: async (g) => {
      const blob = await bait(g);
      return { value: { ...goodEntry('corpus/x', { new: blob }), ca: 'tomorrow' }, names: [blob] };
    },
    reason: /malformed entry: ca/,
  },
  {
    name: 'new and old name the same blob',
    make: async (g) => {
      const blob = await bait(g);
      return { value: goodEntry('corpus/x', { new: blob, old: blob }), names: [blob] };
    },
    reason: /same blob/,
  },
  {
    name: 'change-id attribute name invalid (spaces and punctuation)',
    make: async (g) => {
      const blob = await bait(g);
      return { attribute: 'c_bad id!*', value: goodEntry('corpus/x', { new: blob }), names: [blob] };
    },
    reason: /invalid change id/,
  },
  {
    name: 'change-id attribute name too long',
    make: async (g) => {
      const blob = await bait(g);
      return { attribute: `c_${'a'.repeat(200)}`, value: goodEntry('corpus/x', { new: blob }), names: [blob] };
    },
    reason: /invalid change id/,
  },
  {
    name: 'change-id attribute name empty (c_)',
    make: async (g) => {
      const blob = await bait(g);
      return { attribute: 'c_', value: goodEntry('corpus/x', { new: blob }), names: [blob] };
    },
    reason: /invalid change id/,
  },
];

describe('corrupt entries are quarantined; the good entry beside them is recovered', () => {
  test.each(entryKinds.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
    const g = await ground();
    open.push(g);
    const bad = await kind.make(g);
    const attribute = bad.attribute ?? `c_${newChangeId()}`;
    const goodBlob = g.blobKey('corpus/good');
    await g.putRaw(goodBlob, bytes(64));
    const goodId = newChangeId();
    const item = deadItem({ [attribute]: bad.value, [`c_${goodId}`]: goodEntry('corpus/good', { new: goodBlob }) });
    await putRawItem(g.fx, item);
    const before = await g.keys();

    // The first sighting counts the bad entry, defers the good one, deletes nothing.
    const fence = sweeperWithLog(g.fx);
    expect(await fence.sweeper.sweep()).toMatchObject({
      instancesClaimed: 1,
      entriesQuarantined: 1,
      entriesDeferred: 1,
      entriesRecovered: 0,
      blobsDeleted: 0,
      errors: 0,
    });
    expect((await g.keys()).sort()).toEqual([...before].sort());

    const { sweeper, warnings } = sweeperWithLog(g.fx, { clockOffsetMs: PAST_WINDOW_MS });
    const report = await sweeper.sweep();
    expect(report).toMatchObject({ instancesClaimed: 1, entriesQuarantined: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    // Exactly the good entry's garbage is gone.
    expect((await g.keys()).sort()).toEqual(before.filter((k) => k !== goodBlob).sort());
    for (const name of bad.names ?? []) expect(await g.getRaw(name), `${name} named by the bad entry survives`).toBeDefined();
    await g.expectIntact(expect);

    // Logged with a reason that says what is wrong.
    const logged = warnings().find((l) => l.message === 'entry quarantined');
    expect(logged?.attributes?.reason, JSON.stringify(warnings())).toMatch(kind.reason);

    // Kept as it was, under the claim, until the recheck.
    const stored = await getRawItem(g.fx, item.pk);
    expect(stored).toBeDefined();
    expect(stored).toMatchObject({ state: 'claimed', claimedBy: sweeper.sweeperId, n: 1 });
    expect(Object.keys(stored!)).toContain(attribute);
    expect(stored![`c_${goodId}`]).toBeUndefined();

    // Looked at again after the recheck: counted again, still never acted on.
    const later = sweeperWithLog(g.fx, { clockOffsetMs: PAST_WINDOW_MS + HOUR + 5 * 60_000 });
    expect(await later.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesQuarantined: 1, blobsDeleted: 0, errors: 0 });
    for (const name of bad.names ?? []) expect(await g.getRaw(name)).toBeDefined();
    await g.expectIntact(expect);
  });

  test('an entry that names a live blob as `old` of its own object deletes nothing (HV points at it)', async () => {
    const g = await ground();
    open.push(g);
    const live = g.blobOf('corpus/large');
    const item = deadItem({ [`c_${newChangeId()}`]: goodEntry('corpus/large', { old: live }) });
    await putRawItem(g.fx, item);
    const before = await g.keys();
    expect(await sweeperWithLog(g.fx).sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, blobsDeleted: 0 });
    const report = await sweeperWithLog(g.fx, { clockOffsetMs: PAST_WINDOW_MS }).sweeper.sweep();
    expect(report).toMatchObject({
      instancesClaimed: 1,
      entriesRecovered: 1,
      entriesQuarantined: 0,
      blobsDeleted: 0,
      errors: 0,
      instancesDrained: 1,
    });
    expect((await g.keys()).sort()).toEqual(before.sort());
    await g.expectIntact(expect);
  });
});

interface ItemKind {
  readonly name: string;
  readonly header: (g: Ground) => Record<string, unknown>;
  readonly reason: RegExp;
}

const itemKinds: ItemKind[] = [
  { name: 'state bogus', header: () => ({ state: 'zombie' }), reason: /state/ },
  { name: 'state missing', header: () => ({ state: undefined }), reason: /state/ },
  { name: 'n missing', header: () => ({ n: undefined }), reason: /\bn\b/ },
  { name: 'n a string', header: () => ({ n: 'two' }), reason: /\bn\b/ },
  { name: 'claimedBy a number on a claimed item', header: () => ({ state: 'claimed', claimedBy: 7 }), reason: /claimedBy/ },
];

describe('corrupt item headers: the whole item is quarantined, nothing deleted', () => {
  test.each(itemKinds.map((k) => [k.name, k] as const))('%s', async (_name, kind) => {
    const g = await ground();
    open.push(g);
    const blob = g.blobKey('corpus/x');
    await g.putRaw(blob, bytes(16));
    const item = deadItem(
      {
        [`c_${newChangeId()}`]: goodEntry('corpus/x', { new: blob }),
        [`c_${newChangeId()}`]: goodEntry('corpus/victim', { old: g.blobOf('corpus/victim') }),
      },
      kind.header(g),
    );
    await putRawItem(g.fx, item);
    const before = await g.keys();
    const { sweeper, warnings } = sweeperWithLog(g.fx);
    const report = await sweeper.sweep();
    expect(report, JSON.stringify(warnings())).toMatchObject({ entriesQuarantined: 2, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
    expect((await g.keys()).sort()).toEqual(before.sort());
    expect(await g.getRaw(blob)).toBeDefined();
    await g.expectIntact(expect);
    const logged = warnings().find((l) => l.message === 'instance quarantined');
    expect(logged?.attributes?.reason, JSON.stringify(warnings())).toMatch(kind.reason);
    // Still there, entries intact.
    const stored = await getRawItem(g.fx, item.pk);
    expect(Object.keys(stored ?? {}).filter((k) => k.startsWith('c_'))).toHaveLength(2);
    // A second sweep does not act on it either.
    expect(await sweeperWithLog(g.fx, { clockOffsetMs: HOUR + 5 * 60_000 }).sweeper.sweep()).toMatchObject({
      blobsDeleted: 0,
      entriesRecovered: 0,
    });
    expect((await g.keys()).sort()).toEqual(before.sort());
  });

  test('leaseUntil a string: DynamoDB refuses the item (the lease index key is a number), so no sweep can ever see it', async () => {
    const g = await ground();
    open.push(g);
    const blob = g.blobKey('corpus/x');
    await g.putRaw(blob, bytes(16));
    const item = deadItem({ [`c_${newChangeId()}`]: goodEntry('corpus/x', { new: blob }) }, { leaseUntil: 'yesterday' });
    await expect(putRawItem(g.fx, item)).rejects.toThrow(/type mismatch|leaseUntil|index/i);
    expect(await sweeperWithLog(g.fx).sweeper.sweep()).toMatchObject({ instancesClaimed: 0, blobsDeleted: 0 });
    await g.expectIntact(expect);
  });
});
