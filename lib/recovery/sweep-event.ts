/**
 * The sweeper Lambda's input: an EventBridge Scheduler (or cron rule) event, optionally carrying
 * `{ "shards": [..] }` (this schedule's share of the lease shards, for fan-out) and
 * `{ "dryRun": true }`. Anything else in the event is ignored; a malformed `shards` or `dryRun`
 * is an error, never a guess.
 */
import { ValidationError } from '../errors.js';

export interface SweepEventOptions {
  readonly shards?: number[];
  readonly dryRun: boolean;
}

export function parseSweepEvent(event: unknown): SweepEventOptions {
  if (typeof event !== 'object' || event === null) return { dryRun: false };
  const { shards, dryRun } = event as { shards?: unknown; dryRun?: unknown };
  if (dryRun !== undefined && typeof dryRun !== 'boolean') throw new ValidationError('dryRun must be a boolean', 'dryRun');
  if (shards === undefined) return { dryRun: dryRun ?? false };
  if (!Array.isArray(shards) || shards.length === 0 || !shards.every((s) => Number.isInteger(s) && s >= 0)) {
    throw new ValidationError('shards must be a non-empty array of non-negative integers', 'shards');
  }
  return { shards: shards as number[], dryRun: dryRun ?? false };
}
