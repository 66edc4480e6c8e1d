/**
 * An instance item of the change-log table, parsed. The item-level fields must be well formed
 * for anything to act on it; each entry is decoded on its own, so one corrupt entry does not
 * hide the others.
 */
import { z } from 'zod';
import { CHANGELOG_ATTR } from '../schema/tables.js';
import { CorruptItemError } from '../errors.js';
import { type DecodedEntry, decodeEntry, isEntryAttribute } from './entry-codec.js';
import type { StoreStamp } from './store-stamp.js';

export type InstanceState = 'live' | 'claimed';

export interface InstanceItem {
  readonly instanceId: string;
  readonly state: InstanceState;
  readonly leaseUntil: number;
  readonly claimedBy?: string;
  /** The outstanding-entry counter the writer keeps (retirement requires 0). */
  readonly count: number;
  readonly shard: number;
  /** When a sweeper first claimed the instance (sweeper's clock); absent before the first claim. */
  readonly firstSeen?: number;
  /** The store of the writer that recorded its entries; absent on an item written before stamps. */
  readonly store?: StoreStamp;
  readonly entries: readonly DecodedEntry[];
}

const headerSchema = z.object({
  [CHANGELOG_ATTR.pk]: z.string().min(1),
  [CHANGELOG_ATTR.state]: z.enum(['live', 'claimed']),
  [CHANGELOG_ATTR.leaseUntil]: z.number().int(),
  [CHANGELOG_ATTR.claimedBy]: z.string().optional(),
  [CHANGELOG_ATTR.count]: z.number().int(),
  [CHANGELOG_ATTR.shard]: z.number().int().nonnegative(),
  [CHANGELOG_ATTR.firstSeen]: z.number().int().nonnegative().optional(),
  [CHANGELOG_ATTR.store]: z.object({ objectsTable: z.string() }).optional(),
});

/**
 * Parses a raw (unmarshalled) instance item.
 *
 * @throws CorruptItemError when the item-level fields are malformed.
 */
export function parseInstanceItem(raw: Record<string, unknown>): InstanceItem {
  const header = headerSchema.safeParse(raw);
  if (!header.success) {
    const issue = header.error.issues[0];
    throw new CorruptItemError(
      `malformed instance item: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'unknown'}`,
      `instance ${String(raw[CHANGELOG_ATTR.pk] ?? '?')}`,
    );
  }
  const h = header.data;
  const entries = Object.entries(raw)
    .filter(([name]) => isEntryAttribute(name))
    .map(([name, value]) => decodeEntry(name, value));
  const item: InstanceItem = {
    instanceId: h[CHANGELOG_ATTR.pk] as string,
    state: h[CHANGELOG_ATTR.state] as InstanceState,
    leaseUntil: h[CHANGELOG_ATTR.leaseUntil] as number,
    count: h[CHANGELOG_ATTR.count] as number,
    shard: h[CHANGELOG_ATTR.shard] as number,
    entries,
  };
  const claimedBy = h[CHANGELOG_ATTR.claimedBy] as string | undefined;
  const firstSeen = h[CHANGELOG_ATTR.firstSeen] as number | undefined;
  const store = h[CHANGELOG_ATTR.store] as StoreStamp | undefined;
  return {
    ...item,
    ...(claimedBy !== undefined ? { claimedBy } : {}),
    ...(firstSeen !== undefined ? { firstSeen } : {}),
    ...(store !== undefined ? { store: { objectsTable: store.objectsTable } } : {}),
  };
}

/**
 * Whether the sweeper retires `raw` without reading more of it: a live instance whose lease ended
 * before `cutoff`, its counter 0 and no entry (`InstanceTable.retireOutcome`'s condition, the
 * first thing a sweep tries on an expired instance), whatever its store stamp or the rest of its
 * header, once a sweep reaches it (it has a lease shard). Such an item is deleted, not kept as a
 * corrupt one, and nothing of it is quarantined.
 */
export function retiredUnread(raw: Record<string, unknown>, cutoff: number): boolean {
  const lease = raw[CHANGELOG_ATTR.leaseUntil];
  const shard = raw[CHANGELOG_ATTR.shard];
  return (
    // Only a query (or the housekeeping scan past the shards) hands an instance to a sweep: one
    // without a lease shard is in neither, never retired.
    typeof shard === 'number' &&
    Number.isInteger(shard) &&
    shard >= 0 &&
    raw[CHANGELOG_ATTR.state] === 'live' &&
    raw[CHANGELOG_ATTR.count] === 0 &&
    typeof lease === 'number' &&
    lease < cutoff &&
    !Object.keys(raw).some(isEntryAttribute)
  );
}
