/** The CLI's shared formatting: durations in and out, instants, JSON of anything; the human reports. */
import { describe, expect, test } from 'vitest';
import {
  formatBytes,
  formatDuration,
  formatRelative,
  iso,
  parseDuration,
  printJson,
  terminalSafe,
  toJson,
  UsageError,
} from '../../lib/cli/common.js';
import { formatAudit } from '../../lib/cli/audit.js';
import { formatSweep } from '../../lib/cli/sweep.js';
import type { AuditReport } from '../../lib/recovery/audit.js';
import { emptyReport } from '../../lib/recovery/report.js';

describe('durations', () => {
  test.each([
    ['90m', 90 * 60_000],
    ['24h', 24 * 3_600_000],
    ['7d', 7 * 86_400_000],
    ['1h30m', 90 * 60_000],
    ['2w', 14 * 86_400_000],
    ['1.5h', 90 * 60_000],
    ['500ms', 500],
    [' 45s ', 45_000],
    // Whole ms: the age compared with instants.
    ['1.5ms', 2],
  ])('parse %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', '24', 'h', '-1h', '1y', '1 h', '1h-', 'm90'])('refuse %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });

  test('refuse a duration too large to be a number (not an age "too young" for the audit)', () => {
    expect(() => parseDuration(`${'9'.repeat(400)}d`)).toThrow(/invalid duration "9+d": too large to be a number of ms/);
  });

  test('format', () => {
    // Whole ms, whichever the sign (a magnitude: "ago" and "in" say the sign).
    expect([499.6, -850].map(formatDuration)).toEqual(['500ms', '850ms']);
    expect([850, 1_000, 45_000, 252_000, 240_000, 7_500_000, 7_200_000, 273_600_000, 86_400_000].map(formatDuration)).toEqual([
      '850ms',
      '1s',
      '45s',
      '4m 12s',
      '4m',
      '2h 5m',
      '2h',
      '3d 4h',
      '1d',
    ]);
    expect(formatRelative(1_000, 61_000)).toBe('1m ago');
    expect(formatRelative(61_000, 1_000)).toBe('in 1m');
    expect(formatRelative(5, 5)).toBe('now');
    expect([12, 1023, 1024, 2150, 40 * 1024 * 1024].map(formatBytes)).toEqual(['12 B', '1023 B', '1.0 KiB', '2.1 KiB', '40.0 MiB']);
    // A unit is taken at exactly 1024 of the one below; past TiB the count grows, the unit stays.
    expect([1024 ** 2, 1024 ** 4, 1024 ** 5].map(formatBytes)).toEqual(['1.0 MiB', '1.0 TiB', '1024.0 TiB']);
    // An instant that is no date (a corrupt item's number) is shown as it is, never a crash.
    expect([0, Number.NaN, 1e20].map(iso)).toEqual(['1970-01-01T00:00:00.000Z', 'NaN', '100000000000000000000']);
  });
});

test('toJson never throws on values DynamoDB items may hold', () => {
  expect(JSON.parse(toJson({ big: 10n ** 30n, bin: new Uint8Array([1, 2]), set: new Set(['a']), map: new Map([['k', 1]]) }))).toEqual({
    big: '1000000000000000000000000000000',
    bin: { base64: 'AQI=' },
    set: ['a'],
    map: { k: 1 },
  });
});

describe('what a terminal may act on is escaped, in text and in JSON', () => {
  // Each class at its ends: C0 but tab, DEL, C1, ALM, LRM/RLM, the line and paragraph separators,
  // the embeddings and overrides, the isolates.
  const ACTING = [
    '\u0000',
    '\u0007',
    '\u0008',
    '\u000a',
    '\u000d',
    '\u001b',
    '\u001f',
    '\u007f',
    '\u0080',
    '\u009b',
    '\u009d',
    '\u009f',
    '\u061c',
    '\u200e',
    '\u200f',
    '\u2028',
    '\u2029',
    '\u202a',
    '\u202e',
    '\u2066',
    '\u2069',
  ];
  test.each(ACTING.map((c) => [`U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`, c]))('%s', (_name, c) => {
    const escaped = `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    expect(terminalSafe(`a${c}b`)).toBe(`a${escaped}b`);
    const json = toJson({ key: `a${c}b` });
    // A line break between lines is the layout of the JSON text.
    for (const line of json.split('\n')) expect(line).not.toContain(c);
    expect(JSON.parse(json)).toEqual({ key: `a${c}b` });
  });

  test('what a terminal only shows is kept: tab, text, the characters just past each class', () => {
    const shown = 'a\tb ~ \u00a0é\u061b\u061d\u200d\u2010\u2027\u202f\u2065\u206a 🙂';
    expect(terminalSafe(shown)).toBe(shown);
    expect(toJson(shown)).toBe(JSON.stringify(shown));
  });
});

test('the human sweep report has a stuck line naming each kind only when the sweep found stuck instances', () => {
  const quiet = formatSweep(emptyReport(false));
  expect(quiet.join('\n')).not.toContain('stuck');
  const stuck = formatSweep({
    ...emptyReport(false),
    stuckInstances: 4,
    suspectLeases: 1,
    instancesWithoutShard: 0,
    // 5 found outside the shards, 3 of them with a lease still running (stuck), 2 taken.
    instancesOutsideShards: 5,
  });
  expect(stuck).toContain(
    '  stuck      4 instances: 1 with a lease further ahead than any writer takes (claimed as expired); ' +
      '3 in a shard past TIERLOG_LEASE_SHARDS whose lease still runs (taken once it ended)',
  );
  expect(stuck).toContain(
    '  outside    5 instances in a shard past TIERLOG_LEASE_SHARDS (taken once their leases ended: set it the same for every writer and sweeper)',
  );
});

describe('the human audit report names every finding it holds, each under its heading', () => {
  const now = Date.UTC(2030, 0, 2);
  const hourAgo = new Date(now - 3_600_000).toISOString();
  /** A report of one of each finding, deleting, with the parts a test sets. */
  const report = (over: Partial<AuditReport> = {}): AuditReport => ({
    bucket: 'bk',
    prefix: 'blobs',
    olderThanMs: 86_400_000,
    at: new Date(now).toISOString(),
    delete: true,
    listed: 9,
    checked: 7,
    referenced: 1,
    young: 1,
    orphans: [{ key: 'blobs/o/1', objectId: 'o', size: 2048, lastModified: hourAgo, ageMs: 3_600_000 }],
    orphanBytes: 2048,
    inFlight: [{ key: 'blobs/f/1', objectId: 'f', instanceId: 'i-1', why: 'unreadableEntry' }],
    expired: [{ key: 'blobs/e/1', objectId: 'e', size: 1, expiredAt: hourAgo, overdueMs: 1, reason: 'not removed by TTL' }],
    expiredPending: 0,
    expiredRemoved: 1,
    undecided: [{ key: 'blobs/u/1', objectId: 'u', size: 1, reason: 'not understood' }],
    unparseable: [{ key: 'blobs/junk', reason: 'not a blob key' }],
    nestedStores: { 'blobs/staging': 2 },
    corruptChangeLog: [
      { instanceId: 'i-2', changeId: 'c-9', reason: 'unknown schema version 7' },
      { instanceId: 'i-3', reason: 'state: zombie' },
    ],
    deleted: 2,
    keptOnRecheck: ['blobs/k/1'],
    deleteFailures: [{ key: 'blobs/d/1', code: 'AccessDenied', message: 'Access Denied' }],
    deleteUnknown: [],
    expiredRemoveUnknown: [],
    ...over,
  });

  test('each section, and the summary counts of the findings without one', () => {
    const lines = formatAudit(report(), now);
    expect(lines[1]).toBe(
      '  9 keys listed: 1 referenced, 1 orphan, 1 in flight, 1 younger than 1d (not checked), 1 unparseable, 1 undecided, ' +
        '2 of nested stores, 1 of expired objects (not removed by TTL)',
    );
    const text = lines.join('\n');
    for (const expected of [
      '  blobs/f/1  instance i-1 (an unparseable entry about its object)',
      '  blobs/e/1  expired 1h ago  object "e"',
      '  not understood:\n    blobs/u/1',
      '  blobs/junk  not a blob key',
      '  blobs/staging/  2 keys',
      'corrupt change-log items or entries (2; see "tierlog inspect <instance>"):\n  i-2 entry c-9  unknown schema version 7\n  i-3  state: zombie',
      'deleted 2 blobs (1 expired item removed first, as TTL would); 1 kept (referenced at the re-check)\n  kept blobs/k/1',
      '1 delete failed:\n  blobs/d/1  AccessDenied: Access Denied',
    ]) {
      expect(text).toContain(expected);
    }
  });

  test.each([
    ['no orphans and no expired objects: nothing to delete said', { orphans: [], expired: [] }, false],
    ['orphans only', { expired: [], undecided: [] }, true],
    ['blobs of expired objects only', { orphans: [], undecided: [] }, true],
  ])('without --delete, %s', (_name, over, said) => {
    const text = formatAudit(report({ ...over, delete: false }), now).join('\n');
    expect(text.includes('nothing deleted: run with --delete')).toBe(said);
    expect(text).not.toContain('delete failed');
  });

  /**
   * An undecided blob makes `--delete` refuse every delete of the run (audit.ts): "run with
   * --delete to delete the orphans" sent the operator to a run that deleted nothing and exited 1.
   */
  test('without --delete, orphans beside undecided blobs: --delete is said to refuse, not to delete them', () => {
    const text = formatAudit(report({ delete: false, undecidedRefusal: 'the objects table is not this store' }), now).join('\n');
    expect(text).not.toContain('run with --delete');
    expect(text).toContain(
      'nothing deleted: --delete would refuse every delete while blobs are undecided (fix what is named under "undecided", then audit again)',
    );
  });

  /**
   * The undecided blobs of a restored copy of the table (written after its restore point) refuse no
   * delete: `--delete` keeps them and deletes the orphans, as the report now says.
   */
  test('without --delete, orphans beside undecided blobs that refuse nothing (a restored copy): --delete is said to delete the orphans', () => {
    const text = formatAudit(report({ delete: false }), now).join('\n');
    expect(text).toContain('nothing deleted: run with --delete to delete the orphans and the blobs of expired objects');
    expect(text).not.toContain('would refuse');
  });

  /**
   * Every blob of a bucket is undecided on one reason when the objects table is not shown to be its
   * store: the keys grouped by reason were copied once per blob, quadratic, and 60 000 of them took
   * 46 s (a bucket of millions never printed). What this shows is the grouping; its speed is no
   * assertion here (the suite times nothing, and a synchronous loop outruns any test timeout).
   */
  test('60 000 blobs undecided on one reason are printed, grouped under it in listing order', () => {
    const undecided = Array.from({ length: 60_000 }, (_, i) => ({ key: `blobs/u/${i}`, objectId: 'u', size: 1, reason: 'not the store' }));
    const lines = formatAudit(report({ undecided }), now);
    const at = lines.indexOf('  not the store:');
    expect(lines.slice(at + 1, at + 3)).toEqual(['    blobs/u/0', '    blobs/u/1']);
    expect(lines[at + 60_000]).toBe('    blobs/u/59999');
  }, 120_000);

  /**
   * The orphans' rows were spread into one `push`: past some 125 000 the call's arguments passed the
   * stack's bound (RangeError: Maximum call stack size exceeded), after a `--delete` that deleted them.
   */
  test('300 000 orphans are printed, one row each', () => {
    const orphans = Array.from({ length: 300_000 }, (_, i) => ({
      key: `blobs/o/${i}`,
      objectId: 'o',
      size: 1,
      lastModified: hourAgo,
      ageMs: 3_600_000,
    }));
    const lines = formatAudit(report({ orphans, deleted: 300_000 }), now);
    expect(lines.filter((line) => line.startsWith('  blobs/o/'))).toHaveLength(300_000);
  }, 60_000);

  test('a refusal before any delete says nothing was deleted; after one, from then on', () => {
    const before = formatAudit(report({ deleted: 0, deleteRefused: 'the table is not the store' }), now).join('\n');
    expect(before).toContain('deletes refused: the table is not the store; nothing deleted');
    const after = formatAudit(report({ deleteRefused: 'the table is not the store' }), now).join('\n');
    expect(after).toContain('deletes refused from then on: the table is not the store\n');
  });
});

describe('printJson writes a report of any size, the text of toJson', () => {
  /** Collects what is written, or only counts it. */
  const sink = (keep: boolean) => {
    const out = { text: '', chars: 0, chunks: 0 };
    const io = {
      stdout: {
        write: (chunk: string) => {
          out.chars += chunk.length;
          out.chunks++;
          if (keep) out.text += chunk;
          return true;
        },
      },
      stderr: { write: () => true },
    };
    return { out, io };
  };

  test.each<[string, unknown]>([
    [
      'a report: arrays of objects, empty ones, nested records, dates, bigints, sets, maps, binaries, undefined',
      {
        bucket: 'bk',
        listed: 3,
        orphans: [{ key: 'blobs/o/1', size: 2, lastModified: new Date(0), nested: { a: [1, { b: 2 }], c: [] } }, 'x', 7],
        empty: [],
        skipped: undefined,
        fn: () => 1,
        holes: [undefined, () => 1, null, 'ok\u009b\u2028'],
        nestedStores: { 'blobs/staging': 2 },
        big: 12n,
        set: new Set(['a', 'b']),
        map: new Map([['k', 1]]),
        bytes: new Uint8Array([1, 2]),
        at: new Date(1),
        error: { name: 'E', message: 'line\nbreak', exitCode: 1 },
      },
    ],
    ['an empty object', {}],
    ['an object of what JSON leaves out', { a: undefined }],
    ['an array', [1, { a: 2 }]],
    ['a string', 'text'],
    ['a date', new Date(5)],
  ])('%s', (_name, value) => {
    const { out, io } = sink(true);
    printJson(io, value);
    expect(out.text).toBe(`${toJson(value)}\n`);
  });

  /**
   * `--json` built the whole report as one string: past V8's ~512 MiB (an audit's millions of
   * orphans, ~220 characters each) it threw `RangeError: Invalid string length`, and the report of a
   * run that had deleted was lost. Here 600 findings of 1 MiB (one string, shared: little memory).
   */
  test('a report of 600 MiB of JSON is written, element by element', () => {
    const long = 'k'.repeat(1 << 20);
    const orphans = Array.from({ length: 600 }, () => ({ key: long, size: 1 }));
    const { out, io } = sink(false);
    printJson(io, { bucket: 'bk', orphans, deleted: 600 });
    expect(out.chars).toBeGreaterThan(600 * (1 << 20));
    expect(out.chunks).toBeGreaterThan(600);
  }, 60_000);
});
