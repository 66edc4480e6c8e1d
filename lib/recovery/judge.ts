/**
 * How the sweeper judges one entry of a dead writer. Pure functions, no I/O: the sweeper does
 * the reads and the deletes, this decides.
 *
 * The rule: `current` is the blob HV points at for the entry's object (consistent read), or
 * none. Delete `old` if `current != old`; delete `new` if `current != new`. That is safe because
 * blob keys are never reused (a blob HV stopped pointing at can never be pointed at again) and
 * because the writer is fenced (its commit can no longer make `new` current).
 *
 * Before that rule runs, an entry must earn trust: it parses, its version is known, its object
 * id is a valid key, and each blob it names is exactly a key this library makes for that object
 * under the configured prefix. Anything else is quarantined: kept, counted, logged, and never
 * used to delete anything.
 *
 * The upload window, on a clock the sweeper trusts. A fenced writer's upload may still be
 * running and land `new` after the sweeper looked; an upload ends at most `maxUploadMs` after its
 * entry was recorded. The entry's own `recordedAt` comes from the writer's clock, which may run
 * hours off: a clock behind would close the window early (the upload lands after the entry was
 * dropped: a leak), a clock ahead would hold the entry for hours. So the window is judged on
 * `firstSeen` instead: when a sweeper first claimed the instance (its own clock, written with
 * the claim). A claimed instance takes no new entries, so every entry in it was recorded before
 * `firstSeen`, and every upload of them is over by `firstSeen + maxUploadMs`.
 *
 * An instance is judged once, after that instant. The first sighting only fences (the claim)
 * and defers every entry to the window's end; the claim itself holds the instance until then, so
 * a first sighting costs no other request. After the window nothing can land any more, so what
 * exists is final and the rule needs no look at the bucket: no existence check, no `LastModified`,
 * no delete made twice because an upload might write the blob again. Recovery comes one upload
 * window later than it could; a blob nothing references costs storage for those minutes and
 * nothing else.
 *
 * Leases from a clock that runs ahead. A writer's lease ends at most `maxLeaseMs` after its
 * clock's now; a live lease ending later than `now + maxLeaseMs + skewMargin` on the sweeper's
 * clock comes from a clock that runs ahead beyond the margin (or from a corrupt item) and is
 * *suspect*. A suspect instance is claimed as if its lease had ended. That is safe: the claim
 * fences the writer whatever its clock says (its records and its commit require the instance
 * live), exactly as for a writer that outlived its lease, and the upload window of its entries is
 * judged on `firstSeen` above, never on the writer's times. A live writer whose clock runs ahead
 * loses the writes in flight at the claim (they fail with a definite error and take a new
 * instance), which is the price of not leaving its dead entries for hours. Suspect leases are
 * looked for by housekeeping sweeps (the sweeper's `housekeeping` option).
 */
import type { Change } from '../changelog/change-log.js';
import type { DecodedEntry } from '../changelog/entry-codec.js';
import { checkChangeNames } from '../tiered/blob-keys.js';

/** An entry that passed screening and is due now. */
export interface Candidate {
  readonly changeId: string;
  readonly change: Change;
  /** The writer's clock: shown to operators, never used to decide (see the header). */
  readonly recordedAt: number;
}

export type Screened =
  | { readonly kind: 'quarantine'; readonly changeId: string; readonly reason: string }
  | { readonly kind: 'defer'; readonly changeId: string; readonly until: number; readonly reason: string }
  | { readonly kind: 'candidate'; readonly candidate: Candidate };

export type Decision = { readonly kind: 'settle'; readonly deletes: readonly string[] };

export interface JudgeContext {
  readonly prefix: string;
  /** The sweeper's clock, ms since the epoch. */
  readonly now: number;
  /** The longest an upload may run after its entry was recorded. */
  readonly maxUploadMs: number;
  /**
   * When a sweeper first claimed the instance (sweeper's clock): every entry was recorded before.
   * Default `now` (a first look).
   */
  readonly firstSeen?: number;
}

/** The instant after which no upload of the instance's entries can still land (sweeper's clock). */
export function uploadWindowEnd(ctx: JudgeContext): number {
  return (ctx.firstSeen ?? ctx.now) + ctx.maxUploadMs;
}

/** True when a live lease ending at `leaseUntil` lies beyond the reach of any writer's lease. */
export function isSuspectLease(leaseUntil: number, now: number, limits: { maxLeaseMs: number; skewMarginMs: number }): boolean {
  return leaseUntil > suspectLeaseHorizon(now, limits);
}

/** Leases ending after this instant are suspect (see the module header). */
export function suspectLeaseHorizon(now: number, limits: { maxLeaseMs: number; skewMarginMs: number }): number {
  return now + limits.maxLeaseMs + limits.skewMarginMs;
}

/**
 * Screens an entry: quarantine what cannot be trusted; defer what is not due (its `cleanupAfter`
 * lies ahead, or the instance's upload window is still open).
 */
export function screenEntry(entry: DecodedEntry, ctx: JudgeContext): Screened {
  if (!entry.ok) return { kind: 'quarantine', changeId: entry.changeId, reason: entry.reason };
  const { change, changeId } = entry;
  const names = checkChangeNames(ctx.prefix, change);
  if (!names.ok) return { kind: 'quarantine', changeId, reason: names.reason };
  const due = change.cleanupAfter?.getTime();
  if (due !== undefined && due > ctx.now)
    return { kind: 'defer', changeId, until: Math.max(due, uploadWindowEnd(ctx)), reason: 'cleanupAfter' };
  if (ctx.now < uploadWindowEnd(ctx)) return { kind: 'defer', changeId, until: uploadWindowEnd(ctx), reason: 'uploadWindow' };
  return { kind: 'candidate', candidate: { changeId, change, recordedAt: entry.recordedAt } };
}

/**
 * Decides a due candidate from `current`, the blob HV points at (consistent read, after the
 * fence), or null: delete `old` unless it is current, delete `new` unless it is current.
 */
export function decide(candidate: Candidate, current: string | null): Decision {
  const { change } = candidate;
  const deletes: string[] = [];
  if (change.old !== undefined && change.old !== current) deletes.push(change.old);
  if (change.new !== undefined && change.new !== current) deletes.push(change.new);
  return { kind: 'settle', deletes };
}
