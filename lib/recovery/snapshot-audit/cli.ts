/**
 * `tierlog audit --inventory <manifest.json> --export <dir> [--older-than 24h] [--delete]`: the
 * snapshot audit for mid-size buckets, run locally with DuckDB. Exit code 1 when a loss is
 * confirmed or a delete failed.
 */
import { EXIT, type CliContext, printJson, println, UsageError } from '../../cli/common.js';
import { formatSnapshotAudit, MIN_SNAPSHOT_AUDIT_AGE_MS, snapshotAudit } from './snapshot-audit.js';

export interface SnapshotAuditCliOptions {
  readonly inventory?: string;
  readonly export?: string;
  readonly olderThanMs: number;
  readonly delete?: boolean;
  readonly json?: boolean;
}

/** Runs the snapshot audit for the CLI; returns the exit code. */
export async function snapshotAuditCommand(ctx: CliContext, options: SnapshotAuditCliOptions): Promise<number> {
  if (options.inventory === undefined || options.export === undefined) {
    throw new UsageError('--inventory <manifest.json> and --export <dir> go together');
  }
  if (options.olderThanMs < MIN_SNAPSHOT_AUDIT_AGE_MS) throw new UsageError('--older-than must be at least 1h');
  const report = await snapshotAudit({
    config: ctx.config,
    dynamodb: ctx.dynamodb,
    s3: ctx.s3,
    inventory: options.inventory,
    exportDir: options.export,
    olderThanMs: options.olderThanMs,
    now: ctx.clock(),
    delete: options.delete ?? false,
  });
  if (options.json) printJson(ctx.io, report);
  else println(ctx.io.stdout, ...formatSnapshotAudit(report));
  return report.lost.length > 0 || report.deleteFailures.length > 0 ? EXIT.failure : EXIT.ok;
}
