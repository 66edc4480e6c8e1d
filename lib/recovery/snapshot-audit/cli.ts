/**
 * `tierlog audit --inventory <manifest.json> --export <dir> [--older-than 24h] [--delete]`: the
 * snapshot audit for mid-size buckets, run locally with DuckDB. Exit code 1 when a loss is
 * confirmed, the inventory proved incomplete (`inventoryMissed`), a proposed loss could not be judged
 * (`lostUndecided`), a delete failed, or deletes were refused (an item that cannot be read, or an objects
 * table that is not this bucket's store); with `--exit-code`, else 3 when it left findings for a
 * person ({@link snapshotFindingsLeft}). A live check of proposed losses that stopped after it
 * confirmed some prints those losses before its error (exit 1).
 */
import { EXIT, type CliContext, InterruptedError, printJson, println, ReportBeforeError, UsageError } from '../../cli/common.js';
import { hvAttributeNames } from '../../config.js';
import { type ObjectsTableTtl, readObjectsTableTtl } from '../../cli/objects-ttl.js';
import { SnapshotAuditIncompleteError } from './errors.js';
import { expiredNeedsALook } from './reverify-expired.js';
import { deletesRefused, LostCheckIncompleteError, needsALook } from './reverify.js';
import { formatSnapshotAudit, type SnapshotAuditReport, snapshotAudit } from './snapshot-audit.js';

export interface SnapshotAuditCliOptions {
  readonly inventory?: string;
  readonly export?: string;
  readonly olderThanMs: number;
  readonly delete?: boolean;
  readonly json?: boolean;
  /** `--exit-code`: exit 3 when the audit left findings for a person ({@link snapshotFindingsLeft}). */
  readonly exitCode?: boolean;
  /** Stops the audit at its next safe point (Ctrl-C): see `SnapshotAuditOptions.signal`. */
  readonly signal?: AbortSignal;
  /** Proposed orphans per re-verification batch (`SnapshotAuditOptions.batchSize`). Default 1 000. */
  readonly deleteBatch?: number;
  /** Called right before each delete request with its keys (tests, logs). */
  readonly beforeDelete?: (keys: readonly string[]) => void | Promise<void>;
  /** `--empty-store-ok`: see `SnapshotAuditOptions.emptyStoreOk`. */
  readonly emptyStoreOk?: boolean;
}

/** Runs the snapshot audit for the CLI; returns the exit code. */
export async function snapshotAuditCommand(ctx: CliContext, options: SnapshotAuditCliOptions): Promise<number> {
  if (options.inventory === undefined || options.export === undefined) {
    throw new UsageError('--inventory <manifest.json> and --export <dir> go together');
  }
  // The objects table's TTL, read once when the report holds objects expired long ago that TTL left
  // (as the listing audit says it), never after a Ctrl-C.
  const ttlOf = async (report: SnapshotAuditReport, interrupted = false): Promise<ObjectsTableTtl | undefined> =>
    report.expired.length === 0 || interrupted
      ? undefined
      : readObjectsTableTtl(ctx.dynamodb, ctx.config.objectsTable, hvAttributeNames(ctx.config).expiresAt);
  const print = (report: SnapshotAuditReport, ttl: ObjectsTableTtl | undefined, error?: Record<string, unknown>) => {
    if (options.json) printJson(ctx.io, { ...report, ...(ttl !== undefined ? { objectsTableTtl: ttl } : {}), ...(error ?? {}) });
    else println(ctx.io.stdout, ...formatSnapshotAudit(report, ttl));
  };
  let report: SnapshotAuditReport;
  try {
    report = await snapshotAudit({
      config: ctx.config,
      dynamodb: ctx.dynamodb,
      s3: ctx.s3,
      inventory: options.inventory,
      exportDir: options.export,
      olderThanMs: options.olderThanMs,
      now: ctx.clock(),
      delete: options.delete ?? false,
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.deleteBatch !== undefined ? { batchSize: options.deleteBatch } : {}),
      ...(options.beforeDelete !== undefined ? { beforeDelete: options.beforeDelete } : {}),
      ...(options.emptyStoreOk !== undefined ? { emptyStoreOk: options.emptyStoreOk } : {}),
    });
  } catch (err) {
    // Stopped after deleting: print what it did (stdout), then the error (stderr; exit 130 or 1).
    // The JSON report carries the error too, as the listing audit's does: what it did is no clean
    // run's report, and a script parsing stdout tells them apart.
    if (err instanceof SnapshotAuditIncompleteError) {
      const exitCode = err.cause instanceof InterruptedError ? EXIT.interrupted : EXIT.failure;
      const ttl = await ttlOf(err.report, err.cause instanceof InterruptedError);
      print(err.report, ttl, { error: { name: err.name, message: err.message, exitCode } });
    }
    // The live check of proposed losses stopped (a read of the objects table failed) after it had
    // confirmed some, before any delete: those losses are named (stdout; with --json, the report's
    // `lost` beside the error), not only counted in the error's message.
    if (err instanceof LostCheckIncompleteError) {
      const lost = [...err.lost].sort((a, b) => a.key.localeCompare(b.key));
      if (!options.json)
        println(
          ctx.io.stdout,
          'LOST (HV points at a blob the bucket lacks; the live check stopped before it judged the other proposed losses):',
          ...lost.map((l) => `  ${l.key}  object ${JSON.stringify(l.objectKey)}`),
        );
      throw new ReportBeforeError({ lost }, err, false);
    }
    throw err;
  }
  print(report, await ttlOf(report));
  // As the listing audit: an item that cannot be read, or a table that is not this bucket's store,
  // refuses the deletes, and that needs a look.
  const refused = report.delete && (deletesRefused(report) || report.expiredKept.some((k) => expiredNeedsALook(k.reason)));
  // An inventory that lacks blobs the bucket held before it did not see the bucket, and a proposed
  // loss that could not be judged may be one: neither run is clean.
  const unsure = report.inventoryMissed.length > 0 || report.lostUndecided.length > 0;
  if (report.lost.length > 0 || report.deleteFailures.length > 0 || refused || unsure) return EXIT.failure;
  return options.exitCode === true && snapshotFindingsLeft(report) > 0 ? EXIT.findings : EXIT.ok;
}

/**
 * How many of the report's findings this run left for a person (lost blobs exit 1 in any case):
 * keys that are not blob keys, candidates kept because an item could not be read or understood
 * (without `delete`; with it they exit 1), and, unless it deleted them, the confirmed orphans and
 * blobs of objects expired long ago ("expired, not removed by TTL").
 */
export function snapshotFindingsLeft(report: SnapshotAuditReport): number {
  const untrusted =
    report.kept.filter((k) => needsALook(k.reason)).length + report.expiredKept.filter((k) => expiredNeedsALook(k.reason)).length;
  // With `delete`, an expired object kept because another object's item points at its blob: its
  // expired item and blob stay, found again every run (as the listing audit counts it).
  const expiredLeft = report.delete ? report.expiredKept.filter((k) => k.reason === 'referenced').length : report.expired.length;
  return report.malformed.length + untrusted + (report.delete ? 0 : report.orphans.length) + expiredLeft;
}
