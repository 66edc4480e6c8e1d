/**
 * The version numbers of an HV item. Pure functions, no I/O: the HV writes (hv-table.ts) store
 * what these compute, and the writers answer it.
 *
 * A version names one state of one incarnation of a key, for compare-and-swap (`ifVersion`, the
 * HTTP ETag). While the item exists its counter moves on by one per write: a put, a delete (the
 * deletion marker keeps the counter), a create over a marker or over an expired item. An item
 * does not always exist, though: DynamoDB's TTL removes an expired object's item (a deletion
 * marker never expires, so only an object's item goes), and with it the counter. A counter that
 * started again at 1 would let a version taken from the removed incarnation match an unrelated
 * object re-created under the key once it reached that number: a lost update.
 *
 * The rule: the FIRST version of an item, written where no item exists, is the writer's clock in
 * ms × 1,000 ({@link firstVersion}); every later write is the previous version + 1
 * ({@link nextVersion}). Why a later incarnation B always starts above every version an earlier
 * incarnation A of the same key reached:
 *  - A started at `1000·a` (its creator's clock `a`, ms) and its last write came at `a + L`.
 *    DynamoDB takes at most 1,000 write units a second on one item (its partition's limit, which
 *    splitting cannot raise for a single key), and every HV write costs at least one; so A took
 *    at most `L + 1000` writes in all (one second of burst granted), and its last version is at
 *    most `1000·a + L + 999`.
 *  - B can only be created after A's item was removed, and only TTL (or the audit, which removes
 *    an item exactly as TTL would; tierlog deletes no HV item otherwise, a delete leaves a
 *    marker) removes one: after A's expiry, which every write sets strictly
 *    after its own instant (an expiry is in the future), so after `a + L + 1`, plus the removal's
 *    lag (DynamoDB's TTL: typically minutes to two days). B's first version is then at least
 *    `1000·(a + L + 1 + lag)`, above A's last by `999·L + 1 + 1000·lag` at least.
 * That margin holds on one clock. Writers' clocks may disagree: B's creator running ε ms behind
 * A's creator shrinks it by `1000·ε`, so the rule stays safe while clocks disagree by less than
 * 999/1000 of A's lifetime plus the time from its last write to its removal (its last time to
 * live, at least 1 ms, plus TTL's lag, usually hours). A clock that disagrees by more can let B
 * start at or below A's last version; that is the case the rule does not cover.
 *
 * Why a clock and not something else: once TTL removed the item, nothing in the table remembers
 * the counter, and keeping something (a marker that never expires) would defeat TTL's purpose
 * of removing the key. A random start only makes a match unlikely; the clock makes it impossible
 * under the bounds above.
 *
 * Range: `Date.now() × 1000` stays below `Number.MAX_SAFE_INTEGER` (2^53 − 1) until the year
 * 2255, so a version is an exact integer in JavaScript, in DynamoDB (38 digits) and in an ETag.
 * Items written before this rule started at 1; they keep counting from there, and a key of theirs
 * re-created after TTL removed it starts at its clock like any other.
 */

/** Versions per millisecond of the creating writer's clock. */
export const VERSIONS_PER_MS = 1_000;

/**
 * The version of an item written where none exists: the writer's clock (`nowMs`, ms since the
 * epoch) × 1,000, and never below 1 (0 means "absent" to `ifVersion`). See the module header for
 * why it exceeds every version of an earlier incarnation of the key.
 */
export function firstVersion(nowMs: number): number {
  return Math.max(1, Math.floor(nowMs) * VERSIONS_PER_MS);
}

/**
 * The version a write stores over an item at `previous` (undefined: no item, so
 * {@link firstVersion} of the write's clock `nowMs`).
 */
export function nextVersion(previous: number | undefined, nowMs: number): number {
  return previous === undefined ? firstVersion(nowMs) : previous + 1;
}
