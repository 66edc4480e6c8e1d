/**
 * The change-log contract, after the `ChangeLog` trait of the upstream Rust service.
 *
 * A change log is a durable write-ahead log for storage changes that span both tiers: HV (the
 * objects table) and LT (the bucket). A writer records a change before its first side effect
 * and removes it after its last cleanup. Recovery reads the changes of writers that died, asks
 * HV which blobs are unreferenced, and deletes exactly those. Recovery is garbage collection:
 * it never replays a write and never finishes one.
 *
 * Implementations handle instance identity, leases and key layout; callers see only entries.
 */
import type { ChangeId } from '../ids.js';

export type { ChangeId } from '../ids.js';

/** One outstanding multi-step change of one logical object. */
export interface Change {
  /** The logical object (the objects-table key). */
  id: string;
  /** Blob this change may have written; deleted by recovery if HV does not point at it. */
  new?: string;
  /** Blob this change replaces; deleted by recovery once HV no longer points at it. */
  old?: string;
  /** Not eligible for recovery before this instant. */
  cleanupAfter?: Date;
}

/** Durable write-ahead log of in-progress changes. */
export interface ChangeLog {
  /**
   * Records a change before any side effect begins. Durable when the promise resolves: the
   * caller starts writing to LT right after.
   */
  record(id: ChangeId, change: Change): Promise<void>;
  /** Removes a completed change. Removing an absent entry is not an error. */
  remove(id: ChangeId): Promise<void>;
  /** This instance's outstanding changes eligible for recovery (`cleanupAfter` passed), unordered. */
  scan(): Promise<Array<[ChangeId, Change]>>;
}

/** True when `change` may be recovered at `now` (ms since the epoch). */
export function isEligible(change: Change, now: number): boolean {
  return change.cleanupAfter === undefined || change.cleanupAfter.getTime() <= now;
}

/** A copy of `change` that shares nothing mutable with it. */
export function cloneChange(change: Change): Change {
  const copy: Change = { id: change.id };
  if (change.new !== undefined) copy.new = change.new;
  if (change.old !== undefined) copy.old = change.old;
  if (change.cleanupAfter !== undefined) copy.cleanupAfter = new Date(change.cleanupAfter.getTime());
  return copy;
}

/** True when both describe the same change. */
export function sameChange(a: Change, b: Change): boolean {
  return a.id === b.id && a.new === b.new && a.old === b.old && a.cleanupAfter?.getTime() === b.cleanupAfter?.getTime();
}
