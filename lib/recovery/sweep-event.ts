/**
 * The sweeper Lambda's input: an EventBridge Scheduler (or cron rule) event, optionally carrying
 * `{ "shards": [..] }` (this schedule's share of the lease shards, for fan-out),
 * `{ "housekeeping": false }` (skip the checks for suspect leases and items without a shard: the
 * construct's frequent schedule sends it, its housekeeping schedule sends `true`) and
 * `{ "dryRun": true }`. Anything else in the event is ignored; a malformed field is an error,
 * never a guess.
 */
import { ValidationError } from '../errors.js';

export interface SweepEventOptions {
  readonly shards?: number[];
  readonly dryRun: boolean;
  /** Whether the sweep also looks for suspect leases and items without a shard (default true). */
  readonly housekeeping: boolean;
}

export function parseSweepEvent(event: unknown): SweepEventOptions {
  if (typeof event !== 'object' || event === null) return { dryRun: false, housekeeping: true };
  const { shards, dryRun, housekeeping } = event as { shards?: unknown; dryRun?: unknown; housekeeping?: unknown };
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new ValidationError('dryRun must be a boolean', 'dryRun');
  if (housekeeping !== undefined && typeof housekeeping !== 'boolean') {
    throw new ValidationError('housekeeping must be a boolean', 'housekeeping');
  }
  const flags = { dryRun: dryRun ?? false, housekeeping: housekeeping ?? true };
  if (shards === undefined) return flags;
  if (!Array.isArray(shards) || shards.length === 0 || !shards.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ValidationError('shards must be a non-empty array of non-negative integers', 'shards');
  }
  return { shards: shards as number[], ...flags };
}
