/**
 * The judge's rule as a table: (old, new, current, time since first sighting, cleanupAfter)
 * -> delete / defer. Pure functions: no local stack.
 */
import { describe, expect, test } from 'vitest';
import { decide, isSuspectLease, type JudgeContext, screenEntry } from '../../lib/recovery/judge.js';
import type { DecodedEntry } from '../../lib/changelog/entry-codec.js';
import { judgeEntries } from '../../lib/recovery/judge-entries.js';
import { TierlogError } from '../../lib/errors.js';
import { ID, NEW, OLD, OTHER, PREFIX } from '../support/blob-names.js';

const MIN = 60_000;
const WINDOW = 20 * MIN;
const NOW = 1_800_000_000_000;

interface Row {
  readonly name: string;
  readonly old?: string;
  readonly new?: string;
  readonly current: string | null;
  /** Time since the sweeper first saw the instance (undefined: this is the first look). */
  readonly seenAgoMs?: number;
  /** The entry's cleanupAfter, relative to now. */
  readonly cleanupInMs?: number;
  /** The writer's recordedAt, relative to now: never changes the outcome. */
  readonly recordedAgoMs?: number;
  readonly expect: { readonly delete: readonly string[] } | { readonly defer: number; readonly reason: string };
}

const rows: Row[] = [
  // Window over (first sighting long ago): the rule alone.
  { name: 'create died before commit', new: NEW, current: null, seenAgoMs: WINDOW, expect: { delete: [NEW] } },
  { name: 'create committed', new: NEW, current: NEW, seenAgoMs: WINDOW, expect: { delete: [] } },
  { name: 'overwrite died before commit', old: OLD, new: NEW, current: OLD, seenAgoMs: WINDOW, expect: { delete: [NEW] } },
  { name: 'overwrite committed', old: OLD, new: NEW, current: NEW, seenAgoMs: WINDOW, expect: { delete: [OLD] } },
  { name: 'overwritten again since', old: OLD, new: NEW, current: OTHER, seenAgoMs: WINDOW, expect: { delete: [OLD, NEW] } },
  { name: 'delete committed', old: OLD, current: null, seenAgoMs: WINDOW, expect: { delete: [OLD] } },
  { name: 'delete not committed', old: OLD, current: OLD, seenAgoMs: WINDOW, expect: { delete: [] } },
  // Window open: every entry waits for its end, whatever HV says, uploads or not.
  { name: 'first look: deferred to the window end', new: NEW, current: null, expect: { defer: NOW + WINDOW, reason: 'uploadWindow' } },
  {
    name: 'first look, nothing uploaded: deferred too',
    old: OLD,
    current: null,
    expect: { defer: NOW + WINDOW, reason: 'uploadWindow' },
  },
  {
    name: 'one ms before the window end: deferred',
    new: NEW,
    current: null,
    seenAgoMs: WINDOW - 1,
    expect: { defer: NOW + 1, reason: 'uploadWindow' },
  },
  // cleanupAfter ahead: due at the later of it and the window end.
  {
    name: 'cleanupAfter beyond the window',
    old: OLD,
    current: null,
    seenAgoMs: WINDOW,
    cleanupInMs: 60 * MIN,
    expect: { defer: NOW + 60 * MIN, reason: 'cleanupAfter' },
  },
  {
    name: 'cleanupAfter inside the window',
    old: OLD,
    current: null,
    cleanupInMs: MIN,
    expect: { defer: NOW + WINDOW, reason: 'cleanupAfter' },
  },
  { name: 'cleanupAfter passed', old: OLD, current: null, seenAgoMs: WINDOW, cleanupInMs: -MIN, expect: { delete: [OLD] } },
  { name: 'cleanupAfter exactly now: due', old: OLD, current: null, seenAgoMs: WINDOW, cleanupInMs: 0, expect: { delete: [OLD] } },
  // The writer's clock does not move the window, whichever way it is off.
  {
    name: 'writer clock 3 h behind: window still open',
    new: NEW,
    current: null,
    seenAgoMs: 0,
    recordedAgoMs: 3 * 60 * MIN,
    expect: { defer: NOW + WINDOW, reason: 'uploadWindow' },
  },
  {
    name: 'writer clock 3 h ahead: window closes on time',
    new: NEW,
    current: null,
    seenAgoMs: WINDOW,
    recordedAgoMs: -3 * 60 * MIN,
    expect: { delete: [NEW] },
  },
];

describe('judge: screen and decide', () => {
  test.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const ctx: JudgeContext = {
      prefix: PREFIX,
      now: NOW,
      maxUploadMs: WINDOW,
      ...(row.seenAgoMs !== undefined ? { firstSeen: NOW - row.seenAgoMs } : {}),
    };
    const entry: DecodedEntry = {
      ok: true,
      changeId: 'c1',
      change: {
        id: ID,
        ...(row.old !== undefined ? { old: row.old } : {}),
        ...(row.new !== undefined ? { new: row.new } : {}),
        ...(row.cleanupInMs !== undefined ? { cleanupAfter: new Date(NOW + row.cleanupInMs) } : {}),
      },
      recordedAt: NOW - (row.recordedAgoMs ?? 0),
    };
    const screened = screenEntry(entry, ctx);
    if ('defer' in row.expect) {
      expect(screened).toEqual({ kind: 'defer', changeId: 'c1', until: row.expect.defer, reason: row.expect.reason });
      return;
    }
    if (screened.kind !== 'candidate') throw new Error(`not a candidate: ${JSON.stringify(screened)}`);
    // The writer's recordedAt reaches the candidate unchanged (operators see it).
    expect(screened.candidate).toEqual({ changeId: 'c1', change: entry.change, recordedAt: entry.recordedAt });
    expect(decide(screened.candidate, row.current)).toEqual({ kind: 'settle', deletes: row.expect.delete });
  });

  test('an entry that did not decode is quarantined with its reason, in the window or not', () => {
    for (const firstSeen of [NOW, NOW - WINDOW]) {
      const ctx: JudgeContext = { prefix: PREFIX, now: NOW, maxUploadMs: WINDOW, firstSeen };
      const entry: DecodedEntry = { ok: false, changeId: 'c', reason: 'unknown schema version 9' };
      expect(screenEntry(entry, ctx)).toEqual({ kind: 'quarantine', changeId: 'c', reason: 'unknown schema version 9' });
    }
  });

  test('an entry naming a blob outside the prefix is quarantined, in the window or not', () => {
    for (const firstSeen of [NOW, NOW - WINDOW]) {
      const ctx: JudgeContext = { prefix: PREFIX, now: NOW, maxUploadMs: WINDOW, firstSeen };
      const entry: DecodedEntry = { ok: true, changeId: 'c', change: { id: ID, new: 'elsewhere/x' }, recordedAt: NOW };
      expect(screenEntry(entry, ctx)).toMatchObject({ kind: 'quarantine', changeId: 'c' });
    }
  });
});

describe('judgeEntries: the facts it is given', () => {
  /**
   * An object the pointer read left out of its answer (a batching bug, a source that drops a key
   * it cannot read) was taken for one with no item: both blobs of a committed overwrite's entry
   * deleted, the object's current blob among them. It fails the judgement now; nothing is settled.
   */
  test('an object the read answered nothing for: nothing judged, never "no item"', async () => {
    const ctx: JudgeContext = { prefix: PREFIX, now: NOW, maxUploadMs: WINDOW, firstSeen: NOW - WINDOW };
    const entry: DecodedEntry = { ok: true, changeId: 'c1', change: { id: ID, old: OLD, new: NEW }, recordedAt: NOW };
    const answered = await judgeEntries([entry], ctx, { readBlobPointers: async () => new Map([[ID, NEW]]) });
    expect(answered).toEqual([{ kind: 'settled', changeId: 'c1', deletes: [OLD] }]);
    const silent = judgeEntries([entry], ctx, { readBlobPointers: async () => new Map() });
    await expect(silent).rejects.toBeInstanceOf(TierlogError);
    await expect(silent).rejects.toThrow(/answered nothing for object/);
  });
});

describe('judge: suspect leases', () => {
  const limits = { maxLeaseMs: 15 * MIN, skewMarginMs: 30_000 };
  test.each([
    [15 * MIN + 30_000, false],
    [15 * MIN + 30_001, true],
    [3 * 60 * MIN, true],
    [-MIN, false],
  ])('lease ending %i ms from now: suspect %s', (aheadMs, suspect) => {
    expect(isSuspectLease(NOW + aheadMs, NOW, limits)).toBe(suspect);
  });
});
