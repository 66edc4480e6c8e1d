/** The CLI's shared formatting: durations in and out, instants, JSON of anything. */
import { describe, expect, test } from 'vitest';
import { formatBytes, formatDuration, formatRelative, parseDuration, toJson, UsageError } from '../../lib/cli/common.js';
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
  ])('parse %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  test.each(['', '24', 'h', '-1h', '1y', '1 h', '1h-', 'm90'])('refuse %j', (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });

  test('format', () => {
    expect([850, 45_000, 252_000, 240_000, 7_500_000, 7_200_000, 273_600_000, 86_400_000].map(formatDuration)).toEqual([
      '850ms',
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
    expect([12, 2150, 40 * 1024 * 1024].map(formatBytes)).toEqual(['12 B', '2.1 KiB', '40.0 MiB']);
  });
});

test('toJson never throws on values DynamoDB items may hold', () => {
  expect(JSON.parse(toJson({ big: 10n ** 30n, bin: new Uint8Array([1, 2]), set: new Set(['a']) }))).toEqual({
    big: '1000000000000000000000000000000',
    bin: { base64: 'AQI=' },
    set: ['a'],
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
