/**
 * The sweeper Lambda's input: an EventBridge Scheduler (or cron rule) event, optionally carrying
 * `{ "shards": [..] }` (this schedule's share of the lease shards, for fan-out),
 * `{ "housekeeping": false }` (skip the checks for suspect leases and items without a shard or
 * outside the lease shards: the construct's frequent schedule sends it, its housekeeping
 * schedule sends `true`) and `{ "dryRun": true }`, beside an EventBridge event's own fields
 * (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`:
 * what a cron rule without an input sends). Any other field is an error, never a guess: one of
 * these misspelt (`dryrun`, `dry_run`, `dry`) would be ignored, and a dry run would sweep for real;
 * so would one put in the envelope's `detail` (where an event sent to a bus carries its fields).
 * So is a malformed field, and an event that is not an object (a JSON string, an input encoded
 * twice, would run a full sweep). A shard no configuration has (256 or more) is malformed; one at
 * or past the sweeper's own `TIERLOG_LEASE_SHARDS` is not: it is what a schedule of the other
 * setting sends while a deploy changes the count, and the handler sweeps the event's other shards
 * ({@link shardsInRange}).
 */
import { MAX_LEASE_SHARDS } from '../constants.js';
import { ValidationError } from '../errors.js';

/** What a sweeper invocation's event asks for ({@link parseSweepEvent}). */
export interface SweepEventOptions {
  /** This schedule's share of the lease shards (absent: all of them). */
  readonly shards?: number[];
  /** Report what the sweep would do, and change nothing. */
  readonly dryRun: boolean;
  /**
   * Whether the sweep also looks for suspect leases and items without a shard or outside the
   * lease shards (default true).
   */
  readonly housekeeping: boolean;
}

/** The event's options, and the forms of them an error names as what was meant (lower case, letters only). */
const OPTIONS = ['shards', 'dryRun', 'housekeeping'] as const;
const LOOKALIKES = new Map<string, string>([...OPTIONS.map((o) => [o.toLowerCase(), o] as const), ['shard', 'shards'], ['dry', 'dryRun']]);
/** An EventBridge event's own fields: what a cron rule without an input sends. */
const EVENT_ENVELOPE = ['version', 'id', 'detail-type', 'source', 'account', 'time', 'region', 'resources', 'detail'] as const;
const KNOWN: ReadonlySet<string> = new Set([...OPTIONS, ...EVENT_ENVELOPE]);

/**
 * The options of a sweeper invocation's event (see the module doc).
 *
 * @throws ValidationError when the event is not an object, or a field is malformed or unknown.
 */
export function parseSweepEvent(event: unknown): SweepEventOptions {
  if (event === undefined || event === null) return { dryRun: false, housekeeping: true };
  if (typeof event !== 'object' || Array.isArray(event)) {
    throw new ValidationError(
      `the event must be a JSON object (e.g. {"dryRun": true}), not ${Array.isArray(event) ? 'an array' : `a ${typeof event}`}`,
      'event',
    );
  }
  for (const name of Object.keys(event)) {
    if (KNOWN.has(name)) continue;
    const meant = LOOKALIKES.get(name.toLowerCase().replace(/[^a-z]/g, ''));
    const hint =
      meant !== undefined ? `did you mean "${meant}"?` : `the event takes ${OPTIONS.join(', ')} and an EventBridge event's own fields`;
    throw new ValidationError(`unknown field "${name}": ${hint}`, name);
  }
  refuseOptionsInDetail((event as { detail?: unknown }).detail);
  const { shards, dryRun, housekeeping } = event as { shards?: unknown; dryRun?: unknown; housekeeping?: unknown };
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new ValidationError('dryRun must be a boolean', 'dryRun');
  if (housekeeping !== undefined && typeof housekeeping !== 'boolean') {
    throw new ValidationError('housekeeping must be a boolean', 'housekeeping');
  }
  const flags = { dryRun: dryRun ?? false, housekeeping: housekeeping ?? true };
  if (shards === undefined) return flags;
  if (!Array.isArray(shards) || shards.length === 0 || !shards.every((s) => Number.isInteger(s) && s >= 0 && s < MAX_LEASE_SHARDS)) {
    throw new ValidationError(`shards must be a non-empty array of integers in 0..${MAX_LEASE_SHARDS - 1}`, 'shards');
  }
  return { shards: shards as number[], ...flags };
}

/**
 * An EventBridge event's `detail` is its sender's, not read as options: a cron rule sends `{}`,
 * and a rule matching other events passes theirs. One that holds an option of the sweep (or a
 * form of one: `{"detail": {"dryRun": true}}`, an event put on a bus and routed by a rule with no
 * input) was meant for it, and ignored it would run a real sweep for a dry run.
 *
 * @throws ValidationError naming `detail.<field>`.
 */
function refuseOptionsInDetail(detail: unknown): void {
  if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) return;
  for (const name of Object.keys(detail)) {
    const meant = LOOKALIKES.get(name.toLowerCase().replace(/[^a-z]/g, ''));
    if (meant === undefined) continue;
    throw new ValidationError(
      `"detail.${name}" is not read: the sweep's options (${OPTIONS.join(', ')}) go at the event's top level (the schedule's or the rule's input), not in its detail`,
      `detail.${name}`,
    );
  }
}

/**
 * The event's shards split by the sweeper's `leaseShards`: those it sweeps, and those it skips. A
 * deploy that changes `TIERLOG_LEASE_SHARDS` (with fan-out) updates the function before its
 * schedules, so for a moment a schedule still sends the old setting's share: refused whole, the
 * event would fail that group's sweep of every shard (an error alarm, its retries failing alike)
 * for the sake of one no writer of this setting writes to. The items left in a shard past the
 * setting are taken by the housekeeping scan once their leases ended.
 */
export function shardsInRange(shards: readonly number[], leaseShards: number): { readonly swept: number[]; readonly skipped: number[] } {
  return { swept: shards.filter((s) => s < leaseShards), skipped: shards.filter((s) => s >= leaseShards) };
}
