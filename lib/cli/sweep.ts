/**
 * `tierlog sweep [--dry-run] [--shards 0,1]`: one sweep, as the scheduled Lambda runs it (same
 * tuning variables, `SWEEPER_ENV`: `TIERLOG_CLAIM_MS`, `TIERLOG_SKEW_MARGIN_MS`,
 * `TIERLOG_MAX_UPLOAD_MS`, `TIERLOG_SWEEP_CONCURRENCY`, `TIERLOG_UPLOAD_LISTING_PAGES`,
 * `TIERLOG_QUARANTINE_RECHECK_MS`, `TIERLOG_RETRY_FAILED_MS`, `TIERLOG_SHARDLESS_SCAN_SEGMENTS`,
 * `TIERLOG_SHARDLESS_SCAN_PAGES`; the deadline margins too, which do nothing here: a sweep from
 * the CLI has no deadline), and its report. A dry run claims nothing, deletes nothing and lists
 * the blobs it would delete. Ctrl-C (the `signal`) stops the sweep from taking new instances: it
 * settles those under way and prints its report, exit code 130 (the next sweep finishes the
 * work). Exit code 1 when the sweep had errors or failed deletes (all
 * is idempotent: run it again); 2 when a sample of the objects table is not understood with the
 * configured attribute names (`TIERLOG_HV_ATTRIBUTES` not the writers'), or shows a table that is
 * not this bucket's store (it points at blobs that are not here: `TIERLOG_OBJECTS_TABLE` of another
 * deployment), before anything. A table that points at no blob is no evidence either way (a new
 * store) and does not stop a sweep, which deletes only blobs its own change log names; the bucket is
 * then listed once (one key), so a bucket that does not exist stops the sweep before anything (exit 1).
 */
import { CONFIG_ENV, hvAttributeNames } from '../config.js';
import { DEFAULT_SKEW_MARGIN_MS } from '../constants.js';
import { AccessDeniedError, ConfigError } from '../errors.js';
import { sampleHvItems } from '../recovery/hv-shape.js';
import { checkStoreBinding } from '../recovery/store-binding.js';
import { HvTable } from '../tiered/hv-table.js';
import { LtBucket } from '../tiered/lt-bucket.js';
import { SweepIncompleteError, Sweeper, type SweepLogger, sweepOnClockOff } from '../recovery/sweeper.js';
import type { SweepReport } from '../recovery/report.js';
import { sweeperTuningFromEnv } from '../recovery/sweeper-env.js';
import {
  type CliContext,
  type CliOutput,
  describeClockOff,
  EXIT,
  formatDuration,
  plural,
  printJson,
  println,
  ReportBeforeError,
  terminalSafe,
  UsageError,
} from './common.js';
import { clockOffAws } from '../aws/server-clock.js';
import { systemClock } from '../ids.js';

export interface SweepCommandOptions {
  readonly dryRun?: boolean;
  /** Lease shards to sweep; default all. */
  readonly shards?: readonly number[];
  readonly json?: boolean;
  /** Once aborted (Ctrl-C), the sweep takes no new instance and reports (`sweep({ signal })`). */
  readonly signal?: AbortSignal;
}

/** Parses `--shards 0,1,3` against the configured shard count. @throws UsageError */
export function parseShards(text: string, leaseShards: number): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const shards: number[] = [];
  for (const part of parts) {
    if (!/^[0-9]+$/.test(part)) throw new UsageError(`invalid --shards "${text}": give shard numbers separated by commas, e.g. 0,1`);
    const shard = Number(part);
    if (shard >= leaseShards) {
      throw new UsageError(`shard ${shard} does not exist: TIERLOG_LEASE_SHARDS is ${leaseShards}, so shards are 0..${leaseShards - 1}`);
    }
    if (!shards.includes(shard)) shards.push(shard);
  }
  return shards;
}

/** Whether a sweep that reported `r` changed anything: retired, claimed or drained an instance, settled an entry, deleted a blob, aborted an upload. */
function changedAnything(r: SweepReport): boolean {
  if (r.dryRun) return false;
  return r.instancesRetired + r.instancesClaimed + r.instancesDrained + r.entriesRecovered + r.blobsDeleted + r.abandonedUploadsAborted > 0;
}

/**
 * Tells the operator the store check could not decide (`reason`, the audits' words, which end in
 * "deletes refused": the sweep does not refuse). An instance item stamped by another store's writer
 * is still quarantined; one written before the stamps existed is judged against this table.
 * `goingOn` says what the command does instead (`tierlog inspect` judges its entries on).
 */
export function warnUnchecked(
  ctx: Pick<CliContext, 'io'>,
  reason: string,
  goingOn = `sweeping on, as the scheduled sweeper does (an item stamped by another store's writer is quarantined; an unstamped one is judged against ${CONFIG_ENV.objectsTable})`,
): void {
  const why = reason.replace(/; deletes refused.*$/s, '');
  ctx.io.stderr.write(`tierlog: warning: ${terminalSafe(why)}: ${goingOn}\n`);
}

/** Logs the sweeper's warnings and errors on stderr, one line each. */
export function stderrLogger(err: CliOutput): SweepLogger {
  const line = (level: string, message: string, attributes?: Record<string, unknown>) =>
    err.write(
      `${level}: ${terminalSafe(message)}${attributes && Object.keys(attributes).length > 0 ? ` ${terminalSafe(JSON.stringify(attributes))}` : ''}\n`,
    );
  return {
    info() {},
    warn: (message, attributes) => line('warning', message, attributes),
    error: (message, attributes) => line('error', message, attributes),
  };
}

/** Runs one sweep with the context's clients and clock. */
export async function runSweep(ctx: CliContext, options: SweepCommandOptions = {}): Promise<SweepReport> {
  if (options.shards !== undefined) {
    for (const shard of options.shards) {
      if (!Number.isInteger(shard) || shard < 0 || shard >= ctx.config.leaseShards) {
        throw new UsageError(`shard ${shard} does not exist: shards are 0..${ctx.config.leaseShards - 1}`);
      }
    }
  }
  // The sweeper deletes a blob unless HV points at it: HV must be read with the writers' names.
  const why = await sampleHvItems(ctx.dynamodb, ctx.config.objectsTable, hvAttributeNames(ctx.config));
  if (why !== undefined) throw new ConfigError(why, CONFIG_ENV.hvAttributes);
  // ... and be this bucket's store: another deployment's table points at none of the blobs a dead
  // writer's entries name, so the sweep would delete those that were committed (store-binding.ts).
  const lt = new LtBucket(ctx.s3, ctx.config.bucket, ctx.config.prefix);
  const binding = await checkStoreBinding({
    dynamodb: ctx.dynamodb,
    hv: new HvTable(ctx.config.objectsTable, ctx.dynamodb, hvAttributeNames(ctx.config)),
    lt,
  });
  if (binding.kind === 'unbound') throw new ConfigError(`${CONFIG_ENV.objectsTable}: ${binding.reason}`, CONFIG_ENV.objectsTable);
  // A table that points at no blob sent the check nothing to look up in the bucket: one listed key
  // says it is there (a misspelt TIERLOG_BUCKET swept "clean", exit 0, until a blob was due).
  if (binding.kind === 'noReferences') await assertBucketThere(lt);
  // Not told either way (a role that may not list the bucket): the sweep goes on, as the scheduled
  // sweeper does, with only the items' store stamps to guard it; the operator is told so.
  if (binding.kind === 'undecided') warnUnchecked(ctx, binding.reason);
  // ... and on AWS's clock, within the skew margin: the sweeper trusts its own (DESIGN.md, Recovery).
  const tuning = sweeperTuningFromEnv(ctx.env);
  checkClock(ctx, tuning.skewMarginMs ?? DEFAULT_SKEW_MARGIN_MS);
  const sweeper = new Sweeper({
    config: ctx.config,
    dynamodb: ctx.dynamodb,
    s3: ctx.s3,
    // This machine's clock is the sweeper's default, which it checks against every answer before it
    // takes an instance (it takes a clock given for the caller's choice, unchecked): a clock that
    // steps after the check above (a VM resumed, NTP correcting it) takes no instance once the
    // answers show it off. A clock `runCli` was given (tests, drills) is used as it reads.
    ...(ctx.clock !== systemClock ? { clock: ctx.clock } : {}),
    ...tuning,
    logger: stderrLogger(ctx.io.stderr),
  });
  return sweeper.sweep({
    dryRun: options.dryRun ?? false,
    ...(options.shards !== undefined ? { shards: options.shards } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
}

/**
 * Lists one key under the prefix: a bucket that does not exist is the `ResourceMissingError` naming
 * it (exit 1), before the sweep claims anything. A listing the role may not make tells nothing either way.
 */
async function assertBucketThere(lt: LtBucket): Promise<void> {
  try {
    for await (const _page of lt.list({ pageSize: 1 })) break;
  } catch (err) {
    if (!(err instanceof AccessDeniedError)) throw err;
  }
}

/**
 * The sweeper decides on its own clock: an instance is expired once its lease ended `skewMargin`
 * before it, suspect once its lease ends further ahead than `maxLease + skewMargin`, and a dead
 * writer's uploads are over `maxUpload` after its first claim (`firstSeen`). The scheduled
 * Lambda's clock is AWS's; an operator's machine may be off it either way. Ahead, a sweep from it
 * claims live writers (fencing their writes in flight) and, run again one window later on that
 * clock, judges a fenced writer's upload window closed while it may still land: a blob left behind
 * that nothing names. Behind, it takes the fresh lease of a writer in a 15-minute invocation (15
 * minutes and a half) for one further ahead than any writer takes and claims it as suspect, and the
 * `firstSeen` it writes closes the scheduled sweeper's upload window as much too early. How far
 * this machine's clock is from the services' the SDK measured from the Date header of the checks'
 * answers before the sweep (a Scan of the objects table, the store-binding sample): `serverClockOffset`.
 *
 * @throws ConfigError when this machine's clock is ahead of or behind DynamoDB's or S3's by more than `skewMarginMs`.
 */
function checkClock(ctx: CliContext, skewMarginMs: number): void {
  const off = clockOffAws(ctx, skewMarginMs);
  if (off === undefined) return;
  throw new ConfigError(
    `${describeClockOff(off)}: a sweep on it would ${sweepOnClockOff(off)}. Set the clock right (NTP) before sweeping by hand; the scheduled sweeper is not affected`,
    'clock',
  );
}

/** The human form of a sweep report; `interrupted`: Ctrl-C stopped it (not a deadline). */
export function formatSweep(r: SweepReport, shards?: readonly number[], interrupted = false): string[] {
  const scope = shards === undefined ? 'all shards' : `${plural(shards.length, 'shard')} (${shards.join(', ')})`;
  const lines = [
    `sweep${r.dryRun ? ' (dry run: nothing claimed, nothing deleted)' : ''} over ${scope}: ${plural(r.instancesExpired, 'expired instance')} in ${formatDuration(r.durationMs)}`,
  ];
  if (!r.dryRun) {
    lines.push(
      `  instances  ${r.instancesRetired} retired, ${r.instancesClaimed} claimed, ${r.instancesDrained} drained, ${r.instancesSkipped} skipped`,
    );
  }
  lines.push(
    `  entries    ${r.entriesRecovered} ${r.dryRun ? 'would be recovered' : 'recovered'}, ${r.entriesDeferred} deferred, ${r.entriesQuarantined} quarantined, ${r.entriesFailed} failed`,
    `  blobs      ${r.blobsDeleted} ${r.dryRun ? 'would be deleted' : 'deleted'}`,
  );
  if (r.abandonedUploadsAborted > 0 || r.abandonedUploadErrors > 0 || r.abandonedUploadListingsTruncated > 0) {
    lines.push(
      `  uploads    ${r.abandonedUploadsAborted} multipart uploads of dead writers ${r.dryRun ? 'would be aborted' : 'aborted'}` +
        (r.abandonedUploadErrors > 0 ? `, ${r.abandonedUploadErrors} listings or aborts failed` : '') +
        (r.abandonedUploadListingsTruncated > 0 ? ', the listing cut at its bound' : '') +
        (r.abandonedUploadErrors > 0 || r.abandonedUploadListingsTruncated > 0
          ? " (their parts are left to the bucket's AbortIncompleteMultipartUpload rule)"
          : ''),
    );
  }
  if (r.oldestExpiredAgeMs > 0) lines.push(`  oldest expired lease  ${formatDuration(r.oldestExpiredAgeMs)} ago`);
  if (r.stuckInstances > 0) lines.push(...stuckLines(r));
  if (r.instancesOutsideShards > 0) {
    lines.push(
      `  outside    ${plural(r.instancesOutsideShards, 'instance')} in a shard past TIERLOG_LEASE_SHARDS (taken once their leases ended: set it the same for every writer and sweeper)`,
    );
  }
  if (r.errors > 0) lines.push(`  errors     ${r.errors} (see the messages above; the next sweep retries)`);
  if (r.stoppedEarly)
    lines.push(
      interrupted
        ? '  stopped early: interrupted, took no new instance after it; run again to finish'
        : '  stopped early at the deadline; run again to finish',
    );
  if (r.entriesQuarantined > 0)
    lines.push('  quarantined entries are kept and never acted on: look at them with "tierlog inspect <instance>"');
  if (r.dryRun && r.wouldDelete.length > 0) {
    lines.push('would delete:');
    for (const key of [...r.wouldDelete].sort()) lines.push(`  ${key}`);
  }
  return lines;
}

/**
 * The instances the lease index alone would leave stuck, by kind, with what each means (the
 * `StuckInstances` alarm counts them; the warnings above name their ids).
 */
function stuckLines(r: SweepReport): string[] {
  const outsideLive = r.stuckInstances - r.suspectLeases - r.instancesWithoutShard;
  const kinds = [
    // A dry run claimed none of them: it says what a sweep does.
    r.suspectLeases > 0
      ? `${r.suspectLeases} with a lease further ahead than any writer takes (${r.dryRun ? `a sweep claims ${r.suspectLeases === 1 ? 'it' : 'them'} as expired` : 'claimed as expired'})`
      : '',
    r.instancesWithoutShard > 0 ? `${r.instancesWithoutShard} without a shard (never swept)` : '',
    outsideLive > 0 ? `${outsideLive} in a shard past TIERLOG_LEASE_SHARDS whose lease still runs (taken once it ended)` : '',
  ].filter((kind) => kind !== '');
  return [`  stuck      ${plural(r.stuckInstances, 'instance')}: ${kinds.join('; ')}`];
}

/**
 * Runs `sweep`; returns the exit code: {@link EXIT.interrupted} when the signal stopped it with
 * work left (whatever else the report says: it is printed either way), else 1 on errors, failed
 * deletes or failed listings or aborts of dead writers' uploads (`abandonedUploadErrors`), else 0.
 */
export async function sweepCommand(ctx: CliContext, options: SweepCommandOptions = {}): Promise<number> {
  let report: SweepReport;
  try {
    report = await runSweep(ctx, options);
  } catch (err) {
    if (!(err instanceof SweepIncompleteError)) throw err;
    // A shard's lease-index query failed after the others were swept: print what they did
    // (stdout; with --json, the query's error in the report), then the query's error (stderr,
    // with its own exit code, a failure's for a setting's once the sweep changed something).
    // Stopped early by Ctrl-C too, it says so: a sweep from the CLI has no deadline.
    const interrupted = interruptedBy(options.signal, err.report);
    if (!options.json) println(ctx.io.stdout, ...formatSweep(err.report, options.shards, interrupted));
    throw new ReportBeforeError({ ...err.report, shards: options.shards ?? null, interrupted }, err.cause, changedAnything(err.report));
  }
  const interrupted = interruptedBy(options.signal, report);
  if (options.json) printJson(ctx.io, { ...report, shards: options.shards ?? null, interrupted });
  else println(ctx.io.stdout, ...formatSweep(report, options.shards, interrupted));
  if (interrupted) return EXIT.interrupted;
  // A listing or abort of dead writers' uploads S3 refused (AccessDenied) or never answered is a
  // request that failed, as a failed delete is: its parts wait for the lifecycle rule.
  return report.errors > 0 || report.entriesFailed > 0 || report.abandonedUploadErrors > 0 ? EXIT.failure : EXIT.ok;
}

/** Whether `signal` (Ctrl-C) stopped the sweep that reported `r` with work left. */
function interruptedBy(signal: AbortSignal | undefined, r: SweepReport): boolean {
  return signal?.aborted === true && r.stoppedEarly;
}
