/**
 * The sweeper's judgement of one instance's entries, as one step both the sweeper and
 * `tierlog inspect` run, so an operator is never shown a verdict a sweep would not reach.
 *
 * Screen each entry (`screenEntry`: quarantine what cannot be trusted, defer what is not due,
 * which is every entry while the instance's upload window is open), read the current blob
 * pointer of every due entry's object in one consistent read, and apply the rule (`decide`). The
 * rule and why it is safe are in `judge.ts`; this file only gathers the facts the rule needs, and
 * reads nothing when nothing is due. An object whose item is not understood under the configured
 * names (hv-item-shape.ts) gives no answer: its entries are quarantined, never judged.
 */
import type { DecodedEntry } from '../changelog/entry-codec.js';
import { type HvPointer, isUnrecognised } from '../tiered/hv-item-shape.js';
import { decide, type JudgeContext, screenEntry } from './judge.js';
import { TierlogError } from '../errors.js';

/** What the sweeper makes of one entry now. */
export type EntryJudgement =
  /** Kept and never acted on (corrupt, naming a blob outside the namespace, or its object's item not understood). */
  | { readonly kind: 'quarantined'; readonly changeId: string; readonly reason: string }
  /** Kept for a later pass, due again at `until`; `reason` is the judge's code. */
  | { readonly kind: 'deferred'; readonly changeId: string; readonly until: number; readonly reason: string }
  /**
   * Due: delete `deletes`, then drop the entry. `abandonedNew`: the entry's `new` when it is among
   * them (never committed, or no longer current): the key whose multipart uploads in progress the
   * sweeper aborts (abandoned-uploads.ts).
   */
  | { readonly kind: 'settled'; readonly changeId: string; readonly deletes: readonly string[]; readonly abandonedNew?: string };

/** Where the facts come from: the objects table. */
export interface JudgeSources {
  /**
   * Consistent reads of each object's current blob (`null`: inline, a marker, or no item), one for
   * every id asked: an id left out fails the judgement ({@link judgeEntries} throws), never read as "no item".
   */
  readBlobPointers(objectIds: readonly string[]): Promise<ReadonlyMap<string, HvPointer>>;
}

/**
 * Judges `entries` in their order.
 * @throws TierlogError when `sources` answered nothing for a due entry's object (nothing is judged)
 */
export async function judgeEntries(entries: readonly DecodedEntry[], ctx: JudgeContext, sources: JudgeSources): Promise<EntryJudgement[]> {
  const screened = entries.map((entry) => screenEntry(entry, ctx));
  const candidates = screened.flatMap((s) => (s.kind === 'candidate' ? [s.candidate] : []));
  const pointers =
    candidates.length === 0 ? new Map<string, HvPointer>() : await sources.readBlobPointers(candidates.map((c) => c.change.id));
  return screened.map((s): EntryJudgement => {
    if (s.kind === 'quarantine') return { kind: 'quarantined', changeId: s.changeId, reason: s.reason };
    if (s.kind === 'defer') return { kind: 'deferred', changeId: s.changeId, until: s.until, reason: s.reason };
    const { candidate } = s;
    // An object the read did not answer for is no fact: never "no item", which would delete its blobs.
    if (!pointers.has(candidate.change.id)) {
      throw new TierlogError(
        `the objects table's read answered nothing for object ${JSON.stringify(candidate.change.id)}: its entries are not judged`,
      );
    }
    const pointer = pointers.get(candidate.change.id) ?? null;
    if (isUnrecognised(pointer)) return { kind: 'quarantined', changeId: candidate.changeId, reason: pointer.unrecognised };
    const decision = decide(candidate, pointer);
    const { new: blob } = candidate.change;
    const abandonedNew = blob !== undefined && decision.deletes.includes(blob) ? { abandonedNew: blob } : {};
    return { kind: 'settled', changeId: candidate.changeId, deletes: decision.deletes, ...abandonedNew };
  });
}
