/** The audit backstop's rule (pure): when an expired object's blob is reported as "not removed by TTL". */
import { describe, expect, test } from 'vitest';
import {
  EXPIRED_BLOB_MARGIN_MS,
  STREAM_RETENTION_MS,
  TTL_DELETION_LAG_MS,
  judgeExpiredReference,
} from '../../lib/recovery/expired-blobs.js';

const HOUR = 3_600_000;
const T = Date.UTC(2026, 10, 30) / 1000; // expiry, epoch seconds
const WINDOW = TTL_DELETION_LAG_MS + STREAM_RETENTION_MS + EXPIRED_BLOB_MARGIN_MS;
const blob = 'blobs/a2V5/0190b3c4-0000-7000-8000-000000000000';

describe('judgeExpiredReference', () => {
  const cases: Array<[string, { blob?: string; expiresAtSeconds?: number }, number, string]> = [
    ['no expiry', { blob }, T * 1000 + 100 * WINDOW, 'notExpired'],
    ['inline object (no blob)', { expiresAtSeconds: T }, T * 1000 + 100 * WINDOW, 'notExpired'],
    ['not expired yet', { blob, expiresAtSeconds: T }, T * 1000 - 1, 'notExpired'],
    ['just expired: TTL and the stream still to come', { blob, expiresAtSeconds: T }, T * 1000, 'cleanupPending'],
    ['at the edge of the window', { blob, expiresAtSeconds: T }, T * 1000 + WINDOW, 'cleanupPending'],
    // DESIGN.md, Expiry: TTL may take two days to remove the item, and the stream keeps its record
    // 24 h more; the window is all of that and a margin, never less.
    ['72 h after the expiry (TTL lag of two days, 24 h of stream)', { blob, expiresAtSeconds: T }, T * 1000 + 72 * HOUR, 'cleanupPending'],
    ['past the window: not removed by TTL', { blob, expiresAtSeconds: T }, T * 1000 + WINDOW + 1, 'streamEventLost'],
  ];
  test.each(cases)('%s', (_name, item, now, kind) => {
    const verdict = judgeExpiredReference({ key: 'key', ...item }, now);
    expect(verdict.kind).toBe(kind);
    if (verdict.kind === 'streamEventLost') {
      expect(verdict.blob).toBe(blob);
      expect(verdict.overdueMs).toBe(1);
      // The item is still there: TTL has not removed it, so no stream event was made to lose (a
      // lost REMOVE leaves an orphan). The reason names TTL's causes, the five-year rule among them.
      expect(verdict.reason).not.toContain('stream event lost');
      expect(verdict.reason).toContain('DynamoDB TTL has not removed it');
      expect(verdict.reason).toContain('on another attribute than the expiry attribute');
      expect(verdict.reason).toContain('more than five years past');
    }
  });

  test('the windows are options', () => {
    expect(
      judgeExpiredReference({ key: 'k', blob, expiresAtSeconds: T }, T * 1000 + 2, {
        ttlDeletionLagMs: 0,
        streamRetentionMs: 0,
        marginMs: 1,
      }).kind,
    ).toBe('streamEventLost');
  });
});
