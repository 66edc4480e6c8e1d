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
 */
import type { Change } from '../changelog/change-log.js';
import type { DecodedEntry } from '../changelog/entry-codec.js';
import { checkBlobKey } from '../tiered/blob-keys.js';
import { assertObjectKey } from '../tiered/object-key.js';

/** An entry that passed screening and is due now. */
export interface Candidate {
  readonly changeId: string;
  readonly change: Change;
  readonly recordedAt: number;
}

export type Screened =
  | { readonly kind: 'quarantine'; readonly changeId: string; readonly reason: string }
  | { readonly kind: 'defer'; readonly changeId: string; readonly until: number; readonly reason: string }
  | { readonly kind: 'candidate'; readonly candidate: Candidate };

export type Decision =
  /** `keepUntil`: delete now, but keep the entry for another look then (an upload may still run). */
  | { readonly kind: 'settle'; readonly deletes: readonly string[]; readonly keepUntil?: number }
  | { readonly kind: 'defer'; readonly until: number; readonly reason: string };

export interface JudgeContext {
  readonly prefix: string;
  readonly now: number;
  /** The longest an upload may run after its entry was recorded. */
  readonly maxUploadMs: number;
}

/** Screens an entry: quarantine what cannot be trusted, defer what is not due. */
export function screenEntry(entry: DecodedEntry, ctx: JudgeContext): Screened {
  if (!entry.ok) return { kind: 'quarantine', changeId: entry.changeId, reason: entry.reason };
  const { change, changeId } = entry;
  try {
    assertObjectKey(change.id);
  } catch (err) {
    return { kind: 'quarantine', changeId, reason: `invalid object id: ${(err as Error).message}` };
  }
  for (const field of ['new', 'old'] as const) {
    const blob = change[field];
    if (blob === undefined) continue;
    const check = checkBlobKey(ctx.prefix, change.id, blob);
    if (!check.ok) return { kind: 'quarantine', changeId, reason: `${field}: ${check.reason}` };
  }
  if (change.new !== undefined && change.new === change.old) {
    return { kind: 'quarantine', changeId, reason: 'new and old name the same blob' };
  }
  const due = change.cleanupAfter?.getTime();
  if (due !== undefined && due > ctx.now) return { kind: 'defer', changeId, until: due, reason: 'cleanupAfter' };
  return { kind: 'candidate', candidate: { changeId, change, recordedAt: entry.recordedAt } };
}

/**
 * True when deciding needs to know whether `new` exists: HV does not point at it and the
 * upload that writes it may still be running.
 */
export function needsExistenceCheck(candidate: Candidate, current: string | null, ctx: JudgeContext): boolean {
  const blob = candidate.change.new;
  return blob !== undefined && blob !== current && ctx.now - candidate.recordedAt < ctx.maxUploadMs;
}

/**
 * Decides a candidate from `current` (the blob HV points at, or null) and, when
 * {@link needsExistenceCheck} said so, whether `new` exists.
 */
export function decide(candidate: Candidate, current: string | null, ctx: JudgeContext, newExists?: boolean): Decision {
  const { change } = candidate;
  const deletes: string[] = [];
  if (change.old !== undefined && change.old !== current) deletes.push(change.old);
  if (change.new !== undefined && change.new !== current) {
    if (needsExistenceCheck(candidate, current, ctx)) {
      const until = candidate.recordedAt + ctx.maxUploadMs;
      // The upload may still land: look again when the longest upload is over.
      if (newExists === false) return { kind: 'defer', until, reason: 'uploadWindow' };
      // It exists, yet the upload may still be running and write it again (an SDK retry of an
      // attempt whose answer was lost, a stalled part): delete it now, and look again then.
      deletes.push(change.new);
      return { kind: 'settle', deletes, keepUntil: until };
    }
    deletes.push(change.new);
  }
  return { kind: 'settle', deletes };
}
