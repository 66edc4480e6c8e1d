/**
 * `tierlog audit [--older-than 24h] [--delete]`: the audit of `lib/recovery/audit.ts` (which see
 * for the rule and why it is safe), with a progress bar on stderr when it is a terminal, and its
 * report for a human or as JSON.
 */
import { SingleBar } from 'cli-progress';
import {
  audit,
  AuditIncompleteError,
  type AuditOptions as LibraryAuditOptions,
  type AuditReport,
  DEFAULT_AUDIT_AGE_MS,
  safetyAgeRefusal,
} from '../recovery/audit.js';
import { assertClock } from '../ids.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import { ValidationError } from '../errors.js';
import { hvAttributeNames } from '../config.js';
import { snapshotAuditCommand } from '../recovery/snapshot-audit/cli.js';
import {
  type CliContext,
  columns,
  EXIT,
  formatBytes,
  formatDuration,
  formatRelative,
  InterruptedError,
  plural,
  printJson,
  println,
  UsageError,
} from './common.js';
import { type ObjectsTableTtl, readObjectsTableTtl } from './objects-ttl.js';

export { DEFAULT_AUDIT_AGE_MS, MIN_AUDIT_AGE_MS, parseBlobKey, uuidV7Time, type AuditReport } from '../recovery/audit.js';

/** Options of `tierlog audit` as code runs it ({@link runAudit}): the library's, with the CLI's defaults. */
export interface AuditCommandOptions
  extends Pick<LibraryAuditOptions, 'delete' | 'pageSize' | 'checkBatch' | 'deleteBatch' | 'beforeDelete' | 'signal' | 'emptyStoreOk'> {
  /** Only blobs older than this (ms) are considered. Default 24 h; at least 1 h. */
  readonly olderThanMs?: number;
  /** Show a progress bar on stderr. Default: when stderr is a TTY. */
  readonly progress?: boolean;
}

const AUDIT_COMMAND_OPTIONS = optionNames<AuditCommandOptions>()(
  'delete',
  'pageSize',
  'checkBatch',
  'deleteBatch',
  'beforeDelete',
  'signal',
  'emptyStoreOk',
  'olderThanMs',
  'progress',
);

/**
 * Runs the audit with the context's configuration, clients and clock, showing progress.
 *
 * @throws UsageError when `olderThanMs` is under 1 h or reaches back before 2000; ValidationError
 *   when `olderThanMs` is not a number, `progress` is not a boolean or an option name is not one of {@link AuditCommandOptions}'s (a misspelt `olderThanMS` was a
 *   default nobody chose), both before any request; what {@link audit} throws.
 */
export async function runAudit(ctx: CliContext, options: AuditCommandOptions = {}): Promise<AuditReport> {
  assertOptions(options, AUDIT_COMMAND_OPTIONS, 'runAudit');
  // From a caller without types (a job's JSON, its environment): "false" is truthy, and drew the bar.
  const progress: unknown = options.progress;
  if (progress !== undefined && typeof progress !== 'boolean') {
    throw new ValidationError(`progress must be true or false, got ${kindOf(progress)}`, 'progress');
  }
  const olderThanMs = cliSafetyAge(ctx, options.olderThanMs);
  const showProgress = options.progress ?? ctx.io.stderr.isTTY === true;
  const bar = showProgress
    ? new SingleBar({
        stream: ctx.io.stderr as unknown as NodeJS.WritableStream,
        format: 'audit |{bar}| {value}/{total} blobs | {orphans} orphans | {inFlight} in flight | {unparseable} unparseable',
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
      })
    : undefined;
  bar?.start(0, 0, { orphans: 0, inFlight: 0, unparseable: 0 });
  // The bar hides the cursor and turns line wrapping off until it stops: a second Ctrl-C ends the
  // process at once (process.exit), and left the operator's terminal so; they are put back then too.
  const restoreTerminal = (): void => bar?.stop();
  if (bar !== undefined) process.once('exit', restoreTerminal);
  try {
    return await audit({
      config: ctx.config,
      dynamodb: ctx.dynamodb,
      s3: ctx.s3,
      clock: ctx.clock,
      olderThanMs,
      delete: options.delete ?? false,
      ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
      ...(options.checkBatch !== undefined ? { checkBatch: options.checkBatch } : {}),
      ...(options.deleteBatch !== undefined ? { deleteBatch: options.deleteBatch } : {}),
      ...(options.beforeDelete !== undefined ? { beforeDelete: options.beforeDelete } : {}),
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.emptyStoreOk !== undefined ? { emptyStoreOk: options.emptyStoreOk } : {}),
      onProgress: (p) => {
        bar?.setTotal(p.listed);
        bar?.update(p.listed, { orphans: p.orphans, inFlight: p.inFlight, unparseable: p.unparseable });
      },
    });
  } finally {
    process.off('exit', restoreTerminal);
    bar?.stop();
  }
}

/**
 * The safety age of `--older-than` (default 24 h), refused as a usage error (exit 2) when no audit
 * can honour it: the listing and the snapshot audit alike, before any request.
 */
function cliSafetyAge(ctx: CliContext, given: number | undefined): number {
  // From a caller without types (a job's JSON, its environment): "86400000" was refused as an
  // --older-than "too young" (1d), naming a flag nobody gave and hiding that it is no number.
  const value: unknown = given;
  if (value !== undefined && typeof value !== 'number') {
    throw new ValidationError(`olderThanMs must be a number of milliseconds, got ${kindOf(value)}`, 'olderThanMs');
  }
  const olderThanMs = given ?? DEFAULT_AUDIT_AGE_MS;
  assertClock(ctx.clock);
  const refused = safetyAgeRefusal(olderThanMs, ctx.clock());
  if (refused?.bound === 'floor') {
    throw new UsageError(
      `--older-than ${formatDuration(olderThanMs)} is too young: audit needs at least 1h, so a blob whose write is still ` +
        'committing is never taken for an orphan (the sweeper handles recent changes)',
    );
  }
  if (refused !== undefined) throw new UsageError(`--older-than ${formatDuration(olderThanMs)} is too old: ${refused.reason}`);
  return olderThanMs;
}

/**
 * The human form of an audit report; `ttl`, the objects table's TTL read when it found expired
 * objects TTL did not remove ({@link readObjectsTableTtl}), said with them.
 */
export function formatAudit(r: AuditReport, now: number, ttl?: ObjectsTableTtl): string[] {
  const age = formatDuration(r.olderThanMs);
  const nested = Object.values(r.nestedStores).reduce((sum, n) => sum + n, 0);
  const lines = [
    `audit of s3://${r.bucket}/${r.prefix}/ against the change log and HV (consistent reads), blobs older than ${age}`,
    `  ${plural(r.listed, 'key')} listed: ${r.referenced} referenced, ${r.orphans.length} ${r.orphans.length === 1 ? 'orphan' : 'orphans'}, ` +
      `${r.inFlight.length} in flight, ${r.young} younger than ${age} (not checked), ${r.unparseable.length} unparseable` +
      (r.undecided.length > 0 ? `, ${r.undecided.length} undecided` : '') +
      (nested > 0 ? `, ${nested} of nested stores` : '') +
      (r.expired.length > 0 ? `, ${r.expired.length} of expired objects (not removed by TTL)` : ''),
  ];
  if (r.orphans.length > 0) {
    lines.push(
      `orphans: no object points at them, no change-log entry names them (${plural(r.orphans.length, 'blob')}, ${formatBytes(r.orphanBytes)}):`,
    );
    const rows = columns(
      r.orphans.map((u) => [
        `  ${u.key}`,
        formatBytes(u.size),
        `modified ${formatRelative(Date.parse(u.lastModified), now)}`,
        `object ${JSON.stringify(u.objectId)}`,
      ]),
    );
    // One at a time: spread into one call, some 125 000 rows passed the stack's bound for arguments
    // (RangeError: Maximum call stack size exceeded), and the report of a run that deleted them was lost.
    for (const row of rows) lines.push(row);
  }
  if (r.inFlight.length > 0) {
    lines.push(
      'in flight: named by a change-log entry (a write not committed yet, or one the sweeper settles); never deleted by the audit:',
    );
    for (const f of r.inFlight)
      lines.push(`  ${f.key}  instance ${f.instanceId}${f.why === 'unreadableEntry' ? ' (an unparseable entry about its object)' : ''}`);
  }
  if (r.expired.length > 0) {
    lines.push(
      'expired, not removed by TTL: objects expired past TTL lag + stream retention still point at these blobs, so no stream event will delete them (TTL off on the objects table or on another attribute than the expiry attribute, far behind, or ignoring an expiry more than five years past):',
    );
    if (ttl !== undefined) lines.push(`  the objects table's TTL: ${'error' in ttl ? ttl.error : ttl.diagnosis}`);
    for (const e of r.expired)
      lines.push(`  ${e.key}  expired ${formatRelative(Date.parse(e.expiredAt), now)}  object ${JSON.stringify(e.objectId)}`);
  }
  if (r.undecided.length > 0) {
    lines.push(
      'undecided: HV seems not to point at them, but its answer cannot be trusted (not orphans; never deleted; fix what is named, then audit again):',
    );
    const reasons = new Map<string, string[]>();
    // Appended in place: a copy per blob was quadratic, and a run whose every blob is undecided
    // on one reason (a table not this bucket's store) never printed a bucket of millions.
    for (const u of r.undecided) {
      const keys = reasons.get(u.reason);
      if (keys === undefined) reasons.set(u.reason, [u.key]);
      else keys.push(u.key);
    }
    for (const [reason, keys] of reasons) {
      lines.push(`  ${reason}:`);
      for (const key of keys) lines.push(`    ${key}`);
    }
  }
  if (r.unparseable.length > 0) {
    lines.push('unparseable keys (not blob keys of this library; never deleted):');
    for (const m of r.unparseable) lines.push(`  ${m.key}  ${m.reason}`);
  }
  if (nested > 0) {
    lines.push("blob keys of stores under nested prefixes (each store's own audit judges them; not judged here, never deleted):");
    for (const [prefix, n] of Object.entries(r.nestedStores)) lines.push(`  ${prefix}/  ${plural(n, 'key')}`);
  }
  if (r.corruptChangeLog.length > 0) {
    lines.push(`corrupt change-log items or entries (${r.corruptChangeLog.length}; see "tierlog inspect <instance>"):`);
    for (const c of r.corruptChangeLog)
      lines.push(`  ${c.instanceId}${c.changeId !== undefined ? ` entry ${c.changeId}` : ''}  ${c.reason}`);
  }
  if (r.delete) {
    if (r.deleteRefused !== undefined) {
      // Refused from the round that found why: the rounds before it may have deleted.
      lines.push(`deletes refused${r.deleted > 0 ? ' from then on' : ''}: ${r.deleteRefused}${r.deleted > 0 ? '' : '; nothing deleted'}`);
    }
    lines.push(
      `deleted ${plural(r.deleted, 'blob')}` +
        (r.expiredRemoved > 0 ? ` (${plural(r.expiredRemoved, 'expired item')} removed first, as TTL would)` : '') +
        (r.keptOnRecheck.length > 0 ? `; ${r.keptOnRecheck.length} kept (referenced at the re-check)` : ''),
    );
    for (const key of r.keptOnRecheck) lines.push(`  kept ${key}`);
    if (r.deleteFailures.length > 0) {
      lines.push(`${plural(r.deleteFailures.length, 'delete')} failed:`);
      for (const f of r.deleteFailures) lines.push(`  ${f.key}  ${f.code}: ${f.message}`);
    }
    if (r.deleteUnknown.length > 0) {
      lines.push(`${plural(r.deleteUnknown.length, 'delete')} of unknown outcome (S3 did not answer; these blobs may be gone):`);
      for (const key of r.deleteUnknown) lines.push(`  ${key}`);
    }
    if (r.notDeleted !== undefined && r.notDeleted.length > 0) {
      lines.push(
        `${plural(r.notDeleted.length, 'blob')} not deleted: the run stopped before their deletes were sent or done (still in the bucket):`,
      );
      for (const key of r.notDeleted) lines.push(`  ${key}`);
    }
    if (r.expiredRemoveUnknown.length > 0) {
      lines.push(
        `${plural(r.expiredRemoveUnknown.length, 'expired item removal')} of unknown outcome (DynamoDB did not answer; these items may be gone, their blobs stay):`,
      );
      for (const key of r.expiredRemoveUnknown) lines.push(`  object ${JSON.stringify(key)}`);
    }
  } else if (r.orphans.length > 0 || r.expired.length > 0) {
    // An undecided blob (but one a restored copy of the table cannot judge, which --delete keeps
    // while it deletes the rest), or a change-log item that cannot be trusted, refuses every delete
    // of a --delete run (audit.ts): it would delete none of them.
    lines.push(
      r.undecidedRefusal !== undefined
        ? 'nothing deleted: --delete would refuse every delete while blobs are undecided (fix what is named under "undecided", then audit again)'
        : r.changeLogRefusal !== undefined
          ? `nothing deleted: --delete would refuse every delete while ${r.changeLogRefusal} (see "tierlog inspect <instance>", then audit again)`
          : 'nothing deleted: run with --delete to delete the orphans and the blobs of expired objects',
    );
  }
  return lines;
}

/**
 * How many of the report's findings this run left for a person: keys that are not blob keys,
 * corrupt change-log items and blobs it could not judge (never deleted), and, unless it deleted
 * them, the orphans and the blobs of expired objects. A `--delete` run leaves the blob of an
 * expired object it kept at the re-check (`keptOnRecheck`: another object's item points at it),
 * and that object's expired item with it, which TTL did not remove: found again every run, and
 * counted, where such a run exited 0 as if it had deleted it. `--exit-code` makes a run with any
 * exit {@link EXIT.findings}.
 */
export function auditFindingsLeft(r: AuditReport): number {
  const deletedThem = r.delete && r.deleteRefused === undefined;
  const kept = new Set(r.keptOnRecheck);
  const expiredLeft = deletedThem ? r.expired.filter((e) => kept.has(e.key)).length : r.expired.length;
  return r.unparseable.length + r.corruptChangeLog.length + r.undecided.length + (deletedThem ? 0 : r.orphans.length) + expiredLeft;
}

/**
 * The objects table's TTL when `report` holds objects expired long ago whose items TTL did not
 * remove (their cause is there), else undefined: no request.
 */
async function ttlOfExpired(ctx: CliContext, report: AuditReport): Promise<ObjectsTableTtl | undefined> {
  if (report.expired.length === 0) return undefined;
  return readObjectsTableTtl(ctx.dynamodb, ctx.config.objectsTable, hvAttributeNames(ctx.config).expiresAt);
}

/** `{ objectsTableTtl }` in the JSON report when it was read. */
function ttlField(ttl: ObjectsTableTtl | undefined): { objectsTableTtl?: ObjectsTableTtl } {
  return ttl === undefined ? {} : { objectsTableTtl: ttl };
}

/**
 * Runs `audit`; returns the exit code: 1 when a delete failed or deletes were refused; with
 * `exitCode`, else 3 when it left findings ({@link auditFindingsLeft}); else 0.
 */
export async function auditCommand(
  ctx: CliContext,
  options: AuditCommandOptions & {
    json?: boolean;
    inventory?: string | undefined;
    export?: string | undefined;
    /** `--exit-code`: exit 3 when the audit left findings for a person. */
    exitCode?: boolean;
  } = {},
): Promise<number> {
  const { json, inventory, export: exportDir, exitCode, ...listing } = options;
  // From snapshots (S3 Inventory + DynamoDB exports, DuckDB) instead of listing the bucket.
  if (inventory !== undefined || exportDir !== undefined) {
    return snapshotAuditCommand(ctx, { ...options, olderThanMs: cliSafetyAge(ctx, options.olderThanMs) });
  }
  let report: AuditReport;
  try {
    report = await runAudit(ctx, listing);
  } catch (err) {
    // Stopped after deleting (or after finding what a person must read): print what it did and
    // found (stdout), then the error (stderr, exit 1, or 130 for Ctrl-C). The JSON report carries the error too, as a run stopped before its report
    // prints it: what it did is no clean run's report, and a script parsing stdout tells them apart.
    if (err instanceof AuditIncompleteError) {
      const exitCode = err.cause instanceof InterruptedError ? EXIT.interrupted : EXIT.failure;
      // No request more after a Ctrl-C: the report as it stands.
      const ttl = err.cause instanceof InterruptedError ? undefined : await ttlOfExpired(ctx, err.report);
      if (json) printJson(ctx.io, { ...err.report, ...ttlField(ttl), error: { name: err.name, message: err.message, exitCode } });
      else println(ctx.io.stdout, ...formatAudit(err.report, ctx.clock(), ttl));
    }
    throw err;
  }
  const ttl = await ttlOfExpired(ctx, report);
  if (json) printJson(ctx.io, { ...report, ...ttlField(ttl) });
  else println(ctx.io.stdout, ...formatAudit(report, ctx.clock(), ttl));
  if (report.deleteFailures.length > 0 || report.deleteRefused !== undefined) return EXIT.failure;
  return exitCode === true && auditFindingsLeft(report) > 0 ? EXIT.findings : EXIT.ok;
}
