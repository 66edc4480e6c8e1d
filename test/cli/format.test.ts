/** The CLI's shared formatting: durations in and out, instants, JSON of anything. */
import { describe, expect, test } from 'vitest';
import { formatBytes, formatDuration, formatRelative, parseDuration, terminalSafe, toJson, UsageError } from '../../lib/cli/common.js';
import { formatSweep } from '../../lib/cli/sweep.js';
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

  test('format', () => {
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
