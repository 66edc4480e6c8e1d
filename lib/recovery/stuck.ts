/**
 * Stuck instances: change-log items the lease index alone would leave waiting. Two kinds:
 *
 *  - `suspectLease`: a live instance whose lease ends further ahead than any writer can take
 *    (`now + maxLeaseMs + skewMargin`): its writer's clock runs ahead, or the item is corrupt.
 *    The sweeper finds these by a lease-index query and claims them (see judge.ts). An upload
 *    session's lease is its expiry (up to days ahead): its `pk` prefix keeps it out of the query
 *    and of this classification (its `upload` attribute, for a session whose id is a bare UUIDv7,
 *    made before the prefix: the sweeper's claim refuses it, uncounted), so it is never counted
 *    nor claimed as stuck.
 *  - `noShard`: an item without a `shard`, or with one that is no lease shard (negative,
 *    fractional: a corrupt item), or without a numeric `leaseUntil` (the index's sort key: a
 *    corrupt or hand-written item), which no lease-index query shows. The sweeper finds these by a
 *    bounded scan (`instancesWithoutShard`) and only reports them.
 *
 * The same scan finds a third kind, which depends on the reader's setting rather than on the item:
 * an item in a shard at or past `TIERLOG_LEASE_SHARDS` (its writer configured with more shards),
 * (or written before the count was lowered), which no lease-index query with that setting shows.
 * The sweeper reports it (`instancesOutsideShards`; in `stuckInstances` while its lease runs) and
 * takes it once its lease has ended; `tierlog status` lists it as `outsideShards`.
 *
 * `tierlog status` classifies every item it scans with {@link stuckKind}; the sweeper reports
 * the count as the `StuckInstances` metric.
 */
import { DEFAULT_SKEW_MARGIN_MS, MAX_WRITER_LEASE_MS } from '../constants.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { isSessionPk, UPLOAD_ATTR } from '../tiered/upload-session-item.js';
import { isSuspectLease } from './judge.js';

export type StuckKind = 'suspectLease' | 'noShard';

/** The limits a lease is judged by. */
export interface LeaseLimits {
  readonly maxLeaseMs: number;
  readonly skewMarginMs: number;
}

/**
 * The longest lease a writer takes: a Lambda invocation (15 minutes at most) plus the invocation
 * lease margin ({@link MAX_WRITER_LEASE_MS}; `DynamoChangeLog` refuses longer ones). A
 * long-running writer's lease (`leaseMs`) is shorter by default.
 */
export const DEFAULT_MAX_LEASE_MS = MAX_WRITER_LEASE_MS;

/** The sweeper's default limits. */
export const DEFAULT_LEASE_LIMITS: LeaseLimits = { maxLeaseMs: DEFAULT_MAX_LEASE_MS, skewMarginMs: DEFAULT_SKEW_MARGIN_MS };

/** How a raw (unmarshalled) instance item is stuck at `now`, if it is. */
export function stuckKind(raw: Record<string, unknown>, now: number, limits: LeaseLimits): StuckKind | undefined {
  // No lease shard at all, as the sweeper's scan judges it: in no query of any sweeper.
  const shard = raw[CHANGELOG_ATTR.shard];
  if (typeof shard !== 'number' || !Number.isInteger(shard) || shard < 0) return 'noShard';
  const lease = raw[CHANGELOG_ATTR.leaseUntil];
  // No lease to sort it by: the sparse index leaves it out, as the scan judges it.
  if (typeof lease !== 'number') return 'noShard';
  // An upload session's lease is its expiry, days ahead by design: never suspect. Known by its
  // `upload` attribute too, as the sweeper's claim knows it: a session whose id is a bare UUIDv7
  // (made before session ids took their prefix) has no prefix.
  if (isSessionPk(raw[CHANGELOG_ATTR.pk]) || raw[UPLOAD_ATTR] !== undefined) return undefined;
  if (raw[CHANGELOG_ATTR.state] === 'live' && isSuspectLease(lease, now, limits)) return 'suspectLease';
  return undefined;
}
