/**
 * Audit backstop for expiry: tells when the blob of an HV item belongs to an object that
 * expired so long ago that the AWS-native cleanup has evidently failed for it. Pure, no I/O.
 *
 * The normal path: DynamoDB TTL removes an expired item (typically within two days), the
 * removal appears in the objects table's stream, and the stream function deletes the blob
 * (lib/recovery/stream-cleanup.ts). A removal whose stream record is lost (a consumer stuck past
 * the stream's 24 hours) leaves an orphan: the item is gone, the audit finds its blob as one. So
 * an item that still references a blob after `expiry + TTL lag + stream retention + margin` is
 * one TTL has not removed: TTL is off on the objects table or on another attribute than the
 * expiry attribute (an imported table the construct cannot check), far behind, or ignoring the
 * item, as it ignores an expiry more than five years past (AWS's TTL documentation). No stream
 * event will come for it, and nothing will ever delete that blob on its own. The verdict says
 * so ("not removed by TTL"; its kind keeps the name `streamEventLost`). The object is already
 * absent to every reader (expiry.ts: isExpired), so the audit may remove the item the way TTL
 * does (a DeleteItem conditional on the same version and expiry) and then delete the blob
 * itself, after the same re-check as an orphan's (audit.ts).
 *
 * Younger expired items are not reported: their cleanup is still on its way.
 */
import { isExpired } from '../tiered/expiry.js';

/** How long DynamoDB TTL may take to remove an expired item ("typically within two days"). */
export const TTL_DELETION_LAG_MS = 48 * 3_600_000;
/** How long the objects table's stream keeps a record. */
export const STREAM_RETENTION_MS = 24 * 3_600_000;
/** Added on top, for clock skew and a consumer's retries. */
export const EXPIRED_BLOB_MARGIN_MS = 3_600_000;

/** What {@link judgeExpiredReference} needs of an HV item. */
export interface ExpiringReference {
  readonly key: string;
  readonly blob?: string;
  /** Expiry, epoch seconds (HvRecord.expiresAtSeconds). */
  readonly expiresAtSeconds?: number;
}

export type ExpiredReferenceVerdict =
  /** No blob, no expiry, or not expired: not this backstop's business. */
  | { readonly kind: 'notExpired' }
  /** Expired, cleanup still due to happen (TTL, then the stream). */
  | { readonly kind: 'cleanupPending'; readonly blob: string; readonly expiredAt: number }
  /**
   * Expired past every window and still there: TTL has not removed the item (off, on another
   * attribute, behind, or ignoring an expiry more than five years past), so no stream event
   * will delete its blob. (Named for a lost stream event, which leaves an orphan instead.)
   */
  | {
      readonly kind: 'streamEventLost';
      readonly blob: string;
      readonly expiredAt: number;
      readonly overdueMs: number;
      readonly reason: string;
    };

/** The first instant a JavaScript Date holds, ms since the epoch. */
const EARLIEST_DATE_MS = -8.64e15;

export interface ExpiredReferenceOptions {
  readonly ttlDeletionLagMs?: number;
  readonly streamRetentionMs?: number;
  readonly marginMs?: number;
}

/** Judges one HV item at `now` (ms). */
export function judgeExpiredReference(
  item: ExpiringReference,
  now: number,
  options: ExpiredReferenceOptions = {},
): ExpiredReferenceVerdict {
  if (item.blob === undefined || item.expiresAtSeconds === undefined || !isExpired(item, now)) return { kind: 'notExpired' };
  // An expiry before the first instant a Date holds (no writer of this library stores one; an item
  // of another writer may) is that instant: a verdict that names a time no Date holds failed the
  // audit with a RangeError, every run, wherever it was formatted.
  const expiredAt = Math.max(item.expiresAtSeconds * 1000, EARLIEST_DATE_MS);
  const window =
    (options.ttlDeletionLagMs ?? TTL_DELETION_LAG_MS) +
    (options.streamRetentionMs ?? STREAM_RETENTION_MS) +
    (options.marginMs ?? EXPIRED_BLOB_MARGIN_MS);
  const overdueMs = now - expiredAt - window;
  if (overdueMs <= 0) return { kind: 'cleanupPending', blob: item.blob, expiredAt };
  return {
    kind: 'streamEventLost',
    blob: item.blob,
    expiredAt,
    overdueMs,
    reason: `object "${item.key.slice(0, 200)}" expired at ${new Date(expiredAt).toISOString()} and its item still points at its blob: DynamoDB TTL has not removed it (TTL off on the objects table or on another attribute than the expiry attribute, far behind, or ignoring an expiry more than five years past), so no stream event will delete the blob`,
  };
}
