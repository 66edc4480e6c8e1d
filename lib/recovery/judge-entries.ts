/**
 * The sweeper's judgement of one instance's entries, as one step both the sweeper and
 * `tierlog inspect` run, so an operator is never shown a verdict a sweep would not reach.
 *
 * Screen each entry (`screenEntry`: quarantine what cannot be trusted, defer what is not due),
 * read the current blob pointer of every candidate's object in one consistent batch, check
 * whether `new` exists only where the upload window may still be open, and apply the rule
 * (`decide`). The rule and why it is safe are in `judge.ts`; this file only gathers the facts
 * the rule needs, in the order that makes them trustworthy (HV before the existence check).
 */
import type { DecodedEntry } from '../changelog/entry-codec.js';
import type { BlobExistence } from '../tiered/lt-bucket.js';
import { type Candidate, decide, type JudgeContext, needsExistenceCheck, screenEntry } from './judge.js';

/** What the sweeper makes of one entry now. */
export type EntryJudgement =
  /** Kept and never acted on (corrupt, or naming a blob outside the namespace). */
  | { readonly kind: 'quarantined'; readonly changeId: string; readonly reason: string }
  /** Kept for a later pass, due again at `until`; `reason` is the judge's code. */
  | { readonly kind: 'deferred'; readonly changeId: string; readonly until: number; readonly reason: string }
  /**
   * Due: delete `deletes`, then drop the entry, unless `keepUntil` is set (delete now, but keep
   * the entry for another look when the upload window closes).
   */
  | { readonly kind: 'settled'; readonly changeId: string; readonly deletes: readonly string[]; readonly keepUntil?: number };

/** Where the facts come from: the objects table and the bucket. */
export interface JudgeSources {
  /** Consistent reads of each object's current blob (`null`: inline, a marker, or no item). */
  readBlobPointers(objectIds: readonly string[]): Promise<Map<string, string | null>>;
  /** Whether a blob exists; `unknown` never leads to a delete. */
  exists(blob: string): Promise<BlobExistence>;
}

/**
 * Judges `entries` in their order. `onUnknownExistence` hears each existence check that could not
 * decide (the entry is deferred).
 */
export async function judgeEntries(
  entries: readonly DecodedEntry[],
  ctx: JudgeContext,
  sources: JudgeSources,
  onUnknownExistence?: (candidate: Candidate, reason: string) => void,
): Promise<EntryJudgement[]> {
  const screened = entries.map((entry) => screenEntry(entry, ctx));
  const candidates = screened.flatMap((s) => (s.kind === 'candidate' ? [s.candidate] : []));
  const pointers =
    candidates.length === 0 ? new Map<string, string | null>() : await sources.readBlobPointers(candidates.map((c) => c.change.id));
  return Promise.all(
    screened.map(async (s): Promise<EntryJudgement> => {
      if (s.kind === 'quarantine') return { kind: 'quarantined', changeId: s.changeId, reason: s.reason };
      if (s.kind === 'defer') return { kind: 'deferred', changeId: s.changeId, until: s.until, reason: s.reason };
      const candidate = s.candidate;
      const pointer = pointers.get(candidate.change.id) ?? null;
      const existence = needsExistenceCheck(candidate, pointer, ctx) ? await sources.exists(candidate.change.new!) : undefined;
      if (existence?.kind === 'unknown') onUnknownExistence?.(candidate, existence.reason);
      const decision = decide(candidate, pointer, ctx, existence);
      if (decision.kind === 'defer')
        return { kind: 'deferred', changeId: candidate.changeId, until: decision.until, reason: decision.reason };
      return {
        kind: 'settled',
        changeId: candidate.changeId,
        deletes: decision.deletes,
        ...(decision.keepUntil !== undefined ? { keepUntil: decision.keepUntil } : {}),
      };
    }),
  );
}
