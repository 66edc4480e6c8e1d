/**
 * The audits' removal of an expired object's item, as DynamoDB's TTL would remove it, and what the
 * outcome frees. Both audits use it: the listing audit (audit.ts) and the at-scale audit's expired
 * finding (snapshot-audit/reverify-expired.ts).
 *
 * The removal is a DeleteItem conditional on the item being still exactly what the audit judged
 * (`HvTable.removeExpired`). Its three outcomes:
 *
 * - `removed`: DynamoDB said the item was removed. Nothing points at its blob any more (blob keys
 *   are never reused): the blob is an orphan, deleted after the orphan's own re-check.
 * - `gone`: refused, and a re-read shows the item points at no blob: it is gone (the SDK's retry of a
 *   removal that landed with its answer lost, or TTL got there first) or was rewritten without one.
 *   The blob is an orphan as above; no answer confirmed that the audit removed the item, so it is
 *   not counted as removed.
 * - `changed`: refused, and the item still points at a blob (renewed, rewritten, or pointing at
 *   another blob): the blob is kept.
 *
 * A removal that fails is not guessed at: when DynamoDB may have applied it (no answer came),
 * `mayHaveLanded` is told first, so the caller's report says so, and the error is thrown.
 */
import { refusedOutright } from '../aws/errors.js';
import type { BlobReference, HvTable } from '../tiered/hv-table.js';

/** What removing an expired object's item came to. */
export type ExpiredRemoval = 'removed' | 'gone' | 'changed';

/**
 * Removes `objectKey`'s item if it is still exactly `ref` and expired at `now` (ms), and tells whether
 * its blob is now an orphan (`removed`, `gone`) or still referenced (`changed`).
 *
 * @param mayHaveLanded called with `objectKey` before the error is thrown when the removal failed
 *   without a definite refusal (it may have been applied).
 * @throws the removal's error, or the re-read's.
 */
export async function removeExpiredItem(
  hv: HvTable,
  objectKey: string,
  ref: Required<BlobReference> & { blob: string },
  now: number,
  mayHaveLanded: (objectKey: string) => void,
): Promise<ExpiredRemoval> {
  let removed: boolean;
  try {
    removed = await hv.removeExpired(objectKey, ref, now);
  } catch (err) {
    if (!refusedOutright(err)) mayHaveLanded(objectKey);
    throw err;
  }
  if (removed) return 'removed';
  const current = (await hv.readBlobReferences([objectKey])).get(objectKey);
  return current?.blob === null ? 'gone' : 'changed';
}
