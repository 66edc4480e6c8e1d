/**
 * The judge's rule as a table: (old, new, current, time since first sighting, existence of `new`)
 * -> delete / defer / keep. Pure functions: no local stack.
 */
import { describe, expect, test } from 'vitest';
import { decide, type Existence, isSuspectLease, type JudgeContext, needsExistenceCheck, screenEntry } from '../../lib/recovery/judge.js';
import type { DecodedEntry } from '../../lib/changelog/entry-codec.js';

const MIN = 60_000;
const WINDOW = 20 * MIN;
const NOW = 1_800_000_000_000;
const PREFIX = 'blobs';
const ID = 'obj/1';
const dir = `${PREFIX}/${Buffer.from(ID).toString('base64url')}`;
const OLD = `${dir}/0190a000-0000-7000-8000-000000000001`;
const NEW = `${dir}/0190a000-0000-7000-8000-000000000002`;
const OTHER = `${dir}/0190a000-0000-7000-8000-000000000003`;

const exists = (agoMs: number): Existence => ({ kind: 'exists', lastModified: NOW - agoMs });
const missing: Existence = { kind: 'missing' };
const unknown: Existence = { kind: 'unknown', reason: 'AccessDeniedError: 403' };

interface Row {
  readonly name: string;
  readonly old?: string;
  readonly new?: string;
  readonly current: string | null;
  /** Time since the sweeper first saw the instance. */
  readonly seenAgoMs: number;
  readonly existence?: Existence;
  /** The writer's recordedAt, relative to now: never changes the outcome. */
  readonly recordedAgoMs?: number;
  readonly expect:
    | { readonly delete: readonly string[] }
    | { readonly delete: readonly string[]; readonly keepUntil: number }
    | { readonly defer: number };
}

const rows: Row[] = [
  // Window over (first sighting long ago): no existence check; the rule alone.
  { name: 'create died before commit', new: NEW, current: null, seenAgoMs: WINDOW, expect: { delete: [NEW] } },
  { name: 'create committed', new: NEW, current: NEW, seenAgoMs: WINDOW, expect: { delete: [] } },
  { name: 'overwrite died before commit', old: OLD, new: NEW, current: OLD, seenAgoMs: WINDOW, expect: { delete: [NEW] } },
  { name: 'overwrite committed', old: OLD, new: NEW, current: NEW, seenAgoMs: WINDOW, expect: { delete: [OLD] } },
  { name: 'overwritten again since', old: OLD, new: NEW, current: OTHER, seenAgoMs: WINDOW, expect: { delete: [OLD, NEW] } },
  { name: 'delete committed', old: OLD, current: null, seenAgoMs: WINDOW, expect: { delete: [OLD] } },
  { name: 'delete not committed', old: OLD, current: OLD, seenAgoMs: WINDOW, expect: { delete: [] } },
  // Window open (first seen now): `new` unreferenced needs its existence.
  {
    name: 'new missing: defer to the window end',
    new: NEW,
    current: null,
    seenAgoMs: 0,
    existence: missing,
    expect: { defer: NOW + WINDOW },
  },
  {
    name: 'new missing, old garbage: nothing yet',
    old: OLD,
    new: NEW,
    current: OTHER,
    seenAgoMs: 0,
    existence: missing,
    expect: { defer: NOW + WINDOW },
  },
  {
    name: 'existence unknown (403): defer, never delete',
    new: NEW,
    current: null,
    seenAgoMs: 5 * MIN,
    existence: unknown,
    expect: { defer: NOW + 15 * MIN },
  },
  { name: 'existence not given: treated as unknown', new: NEW, current: null, seenAgoMs: 0, expect: { defer: NOW + WINDOW } },
  {
    name: 'new exists, fresh: delete and keep to the window end',
    new: NEW,
    current: null,
    seenAgoMs: 5 * MIN,
    existence: exists(MIN),
    expect: { delete: [NEW], keepUntil: NOW + 15 * MIN },
  },
  {
    name: 'new exists, LastModified past the window: delete, drop',
    new: NEW,
    current: null,
    seenAgoMs: 0,
    existence: exists(WINDOW),
    expect: { delete: [NEW] },
  },
  { name: 'new current: no check, nothing of new deleted', old: OLD, new: NEW, current: NEW, seenAgoMs: 0, expect: { delete: [OLD] } },
  // The writer's clock does not move the window, whichever way it is off.
  {
    name: 'writer clock 3 h behind: window still open',
    new: NEW,
    current: null,
    seenAgoMs: 0,
    recordedAgoMs: 3 * 60 * MIN,
    existence: missing,
    expect: { defer: NOW + WINDOW },
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

describe('judge: decide', () => {
  test.each(rows.map((r) => [r.name, r] as const))('%s', (_name, row) => {
    const ctx: JudgeContext = { prefix: PREFIX, now: NOW, maxUploadMs: WINDOW, firstSeen: NOW - row.seenAgoMs };
    const entry: DecodedEntry = {
      ok: true,
      changeId: 'c1',
      change: { id: ID, ...(row.old !== undefined ? { old: row.old } : {}), ...(row.new !== undefined ? { new: row.new } : {}) },
      recordedAt: NOW - (row.recordedAgoMs ?? 0),
    };
    const screened = screenEntry(entry, ctx);
    if (screened.kind !== 'candidate') throw new Error(`not a candidate: ${JSON.stringify(screened)}`);
    const candidate = screened.candidate;
    const checks = needsExistenceCheck(candidate, row.current, ctx);
    expect(checks).toBe(row.existence !== undefined || ('defer' in row.expect && row.existence === undefined));
    const decision = decide(candidate, row.current, ctx, checks ? row.existence : undefined);
    if ('defer' in row.expect) {
      expect(decision).toMatchObject({ kind: 'defer', until: row.expect.defer });
    } else if ('keepUntil' in row.expect) {
      expect(decision).toEqual({ kind: 'settle', deletes: row.expect.delete, keepUntil: row.expect.keepUntil });
    } else {
      expect(decision).toEqual({ kind: 'settle', deletes: row.expect.delete });
    }
  });

  test('without a first sighting the window opens now', () => {
    const ctx: JudgeContext = { prefix: PREFIX, now: NOW, maxUploadMs: WINDOW };
    const candidate = { changeId: 'c', change: { id: ID, new: NEW }, recordedAt: NOW - 60 * MIN };
    expect(decide(candidate, null, ctx, missing)).toMatchObject({ kind: 'defer', until: NOW + WINDOW });
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
