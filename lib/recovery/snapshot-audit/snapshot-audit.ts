/**
 * The audit from snapshots: an S3 Inventory report of the bucket and DynamoDB exports of the
 * objects and change-log tables, joined by one SQL text ({@link ./query.ts}) run with DuckDB,
 * then every proposed orphan re-verified live ({@link ./reverify.ts}) before (with `delete`) it
 * is deleted, every proposed loss confirmed live, and every proposed blob of an object expired long
 * ago whose item TTL has not removed re-verified live ({@link ./reverify-expired.ts}) before it is
 * reported and (with `delete`) its item removed as TTL would and its blob deleted. `tierlog audit --inventory <manifest>
 * --export <dir>` runs it; the same query runs in Athena in AWS (`infra/audit-at-scale.ts`).
 *
 * The cutoff is the safety age before the OLDEST of the three snapshots (and before now).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { type TierlogConfig, validateConfig } from '../../config.js';
import { assertPrefixOfStore, assertSafetyAge, notBlobKeys } from '../audit.js';
import type { DeleteFailure } from '../../tiered/lt-bucket.js';
import { type DynamoExport, findExports } from './dynamo-export.js';
import { assertEpochMs } from '../../ids.js';
import { assertClientOf } from '../../aws/clients.js';
import { assertOptions, optionNames } from '../../plain-options.js';
import { ValidationError } from '../../errors.js';
import type { ObjectsTableTtl } from '../../cli/objects-ttl.js';
import { SnapshotAuditIncompleteError, SnapshotError } from './errors.js';
import { checkDuckDBInstalled, type Finding, runSnapshotQuery } from './duckdb-runner.js';
import { type Inventory, readInventory } from './inventory.js';
import { checkSnapshotHvAttributes, type SnapshotHvAttributes, snapshotHvAttributesOf } from './query.js';
import { RestoredCopyCheck } from '../restored-table.js';
import {
  emptyExpiredReport,
  expiredNeedsALook,
  type ExpiredReverifyReport,
  type ExpiredSnapshotBlob,
  reverifyExpired,
} from './reverify-expired.js';
import {
  checkLost,
  emptyReverifyReport,
  type KeptReason,
  liveStoreOf,
  type LostCandidate,
  type ReverifyReport,
  deletesRefused,
  needsALook,
  reverifyAndDelete,
  reverifyBatchSize,
} from './reverify.js';

export interface SnapshotAuditOptions {
  readonly config: TierlogConfig;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  /** Path of the inventory's `manifest.json`. */
  readonly inventory: string;
  /** Folder holding DynamoDB exports of both tables (told apart by their table ARN). */
  readonly exportDir: string;
  /** Safety age, ms (at least 1 h). */
  readonly olderThanMs: number;
  /** Now, ms since the epoch (2000 to 2255: a `ValidationError` otherwise). */
  readonly now: number;
  /**
   * Delete the confirmed orphans, and remove the items of the confirmed expired objects as TTL
   * would, then delete their blobs. Default false.
   */
  readonly delete?: boolean;
  /**
   * HV attribute names: the configuration's (`config.hvAttributes`). Kept for compatibility; must
   * agree with the configuration (a `ConfigError` otherwise).
   */
  readonly hvAttributes?: SnapshotHvAttributes;
  /**
   * DuckDB's `memory_limit`, a size as DuckDB reads one (`'4GB'`, `'512MiB'`); past it the query
   * spills to disk. A `ValidationError` naming it when it is not a non-empty string (before
   * anything is read) or DuckDB does not read it (before any delete). Default: DuckDB's (80 % of
   * the machine's memory).
   */
  readonly memoryLimit?: string;
  /**
   * Proposed orphans per re-verification batch (one HV read, one DeleteObjects): a whole number of
   * at least 1, at most 1 000 (more is read as 1 000). Default 1 000.
   */
  readonly batchSize?: number;
  readonly beforeDelete?: (keys: readonly string[]) => void | Promise<void>;
  /** The store holds no large object: see `ReverifyOptions.emptyStoreOk`. Default false. */
  readonly emptyStoreOk?: boolean;
  /**
   * Stops the audit at its next safe point: before the query (once the snapshots are read and
   * verified), after it, after the losses are confirmed, or between two re-verification batches
   * (never inside one). It then throws
   * {@link SnapshotAuditIncompleteError} with what it did, or the signal's reason when it deleted
   * nothing and confirmed no loss. The CLI aborts it on Ctrl-C.
   */
  readonly signal?: AbortSignal;
}

export interface SnapshotAuditReport {
  readonly bucket: string;
  readonly prefix: string;
  readonly olderThanMs: number;
  /** Blobs are old enough when older than this (ISO). */
  readonly cutoff: string;
  readonly inventory: { readonly manifest: string; readonly createdAt: string; readonly files: number; readonly bytes: number };
  readonly exports: Record<
    'objects' | 'changeLog',
    { readonly dir: string; readonly exportTime: string; readonly items: number; readonly bytes: number }
  >;
  /** How long the query took, ms. */
  readonly queryMs: number;
  /** Proposed by the snapshots. */
  readonly proposed: { readonly orphans: number; readonly lost: number; readonly expired: number };
  /** Orphans confirmed live (deleted with `delete`). */
  readonly orphans: string[];
  /** Proposed orphans kept by the live re-verification, with the reason (malformed ones are in {@link malformed}). */
  readonly kept: Array<{ readonly key: string; readonly reason: KeptReason }>;
  /** Losses confirmed live: HV points at a blob the bucket lacks (invariant 1 broken). */
  readonly lost: LostCandidate[];
  /** Proposed orphans the bucket no longer holds (deleted since the inventory): neither confirmed nor deleted. */
  readonly gone: string[];
  /** Keys under the prefix that are not blob keys (never deleted). */
  readonly malformed: string[];
  /**
   * Blobs of objects expired longer ago than TTL's lag, the stream's retention and the margin whose
   * items are still there ("expired, not removed by TTL"), confirmed live: no stream event will
   * delete them. With `delete`, their items were removed as TTL would and the blobs deleted
   * (counted in {@link expiredRemoved} and {@link deleted}), but for those in {@link expiredKept}.
   */
  readonly expired: ExpiredSnapshotBlob[];
  /** Proposed (or, with `delete`, confirmed) blobs of expired objects the live re-verification kept, with the reason. */
  readonly expiredKept: ExpiredReverifyReport['kept'];
  /** Items of expired objects removed as TTL would, with `delete`. */
  readonly expiredRemoved: number;
  /**
   * Objects whose item's removal DynamoDB never answered (the run stopped there): the item may be
   * gone, its blob is not deleted.
   */
  readonly expiredRemoveUnknown: string[];
  /**
   * Blob keys of stores whose prefix is nested in this one, how many under each such prefix
   * (`nestedStorePrefix`, as the listing audit counts them): another store's, never judged here,
   * never deleted, no finding.
   */
  readonly nestedStores: Record<string, number>;
  /**
   * Blobs the bucket has held since before the cutoff and the inventory lacks (found live among
   * the proposed losses): the inventory is not a complete report of the prefix (another prefix's,
   * data files missing), so the orphans among what it lacks went unseen, and the run is not clean:
   * the CLI exits 1. (A blob restored since the inventory, by removing its delete marker, keeps its
   * old LastModified and shows here too.) The orphans it proposed are judged and deleted as ever:
   * each is re-verified live, which owes nothing to the inventory being complete.
   */
  readonly inventoryMissed: string[];
  /**
   * Proposed losses that could not be judged live (the listing did not answer, or the export
   * names no object for the blob): neither confirmed nor cleared, so the CLI exits 1.
   */
  readonly lostUndecided: Array<{ readonly key: string; readonly objectKey: string; readonly reason: string }>;
  readonly delete: boolean;
  /** Blobs deleted: the confirmed orphans and the blobs of the expired objects whose items were removed. */
  readonly deleted: number;
  readonly deleteFailures: DeleteFailure[];
  /**
   * Confirmed orphans in a delete request S3 never answered: they may be gone (the run stopped
   * there, with a {@link SnapshotAuditIncompleteError}).
   */
  readonly deleteUnknown: string[];
  /**
   * Why every delete was refused, or (without `delete`) why no orphan was confirmed: the objects
   * table does not show itself this bucket's store, or a change-log item refuses (one that cannot
   * be read, an entry naming no object, an item of another store).
   */
  readonly deleteRefused?: string;
}

const SNAPSHOT_AUDIT_OPTIONS = optionNames<SnapshotAuditOptions>()(
  'config',
  'dynamodb',
  's3',
  'inventory',
  'exportDir',
  'olderThanMs',
  'now',
  'delete',
  'hvAttributes',
  'memoryLimit',
  'batchSize',
  'beforeDelete',
  'emptyStoreOk',
  'signal',
);

/**
 * Runs the snapshot audit.
 *
 * @throws ValidationError when an option name is not one of {@link SnapshotAuditOptions}'s,
 *   `olderThanMs` is under 1 h or reaches back before 2000, `now` is not ms since the epoch,
 *   `batchSize` not a whole number of at least 1, `memoryLimit` not a non-empty string or an HV
 *   attribute name the query cannot embed (`key`, `blob`, `deleted`, `expiresAt`: letters, digits
 *   and `_`) (before anything is read), `memoryLimit` a size DuckDB does not read (before the query); SnapshotError on a
 *   snapshot that cannot be trusted; {@link SnapshotAuditIncompleteError} when it stopped (an
 *   error, or its signal) after deleting, or in the re-verification after the live check had
 *   confirmed losses (its report names them; nothing deleted).
 */
export async function snapshotAudit(options: SnapshotAuditOptions): Promise<SnapshotAuditReport> {
  // A misspelt option (`delet`, `emptyStoreOK`, `batchsize`) would be a default nobody chose.
  assertOptions(options, SNAPSHOT_AUDIT_OPTIONS, 'snapshotAudit');
  const config = validateConfig(options.config);
  assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
  assertClientOf('s3', options.s3, 'S3');
  // Checked before the query, which may take minutes: the re-verification would refuse them after it.
  assertEpochMs(options.now, 'now');
  assertSafetyAge(options.olderThanMs, options.now);
  reverifyBatchSize(options.batchSize);
  assertMemoryLimit(options.memoryLimit);
  const hvAttributes = snapshotHvAttributesOf(config, options.hvAttributes);
  // The query embeds them: one it cannot (`blob-ptr`) was refused only once the inventory and the
  // exports had been read and verified (minutes at scale), by a run that could never have gone on.
  checkSnapshotHvAttributes(hvAttributes);
  // The query's engine, an optional peer: a project without it read and verified the snapshots first.
  await checkDuckDBInstalled();
  const inventory: Inventory = await readInventory(options.inventory);
  if (inventory.sourceBucket !== config.bucket) {
    throw new SnapshotError(`the inventory is of bucket "${inventory.sourceBucket}", not "${config.bucket}"`, inventory.manifestPath);
  }
  const exports: Record<'objects' | 'changeLog', DynamoExport> = await findExports(options.exportDir, {
    objects: config.objectsTable,
    changeLog: config.changeLogTable,
  });
  // Before the query, which DuckDB runs to its end (an hour on a large bucket): a Ctrl-C while the
  // snapshots were read and their checksums verified stopped the audit only after it.
  options.signal?.throwIfAborted();
  const oldest = Math.min(options.now, inventory.createdAt, exports.objects.exportTime, exports.changeLog.exportTime);
  const cutoffMs = Math.max(0, Math.floor(oldest - options.olderThanMs));
  const started = Date.now();
  const rows: Finding[] = await runSnapshotQuery({
    inventory,
    objects: exports.objects,
    changeLog: exports.changeLog,
    prefix: config.prefix,
    cutoffMs,
    hvAttributes,
    ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}),
  });
  const queryMs = Date.now() - started;
  // A key that two inventory data files list (overlapping reports) is one finding: proposed,
  // judged and reported once, its count in the report that of the bucket's keys.
  // In key order, as the listing audit goes (the query's rows come in no order): batches and a stop part-way are predictable.
  const findings = [...new Map(rows.map((f) => [`${f.kind}\0${f.blobKey}\0${f.objectKey ?? ''}`, f])).values()].sort((a, b) =>
    a.blobKey < b.blobKey ? -1 : a.blobKey > b.blobKey ? 1 : 0,
  );
  const proposedOrphans = findings.filter((f) => f.kind === 'orphan');
  const proposedLost = findings.filter((f) => f.kind === 'lost');
  const proposedExpired = findings.filter((f) => f.kind === 'expired');
  const clients = {
    config,
    dynamodb: options.dynamodb,
    s3: options.s3,
    hvAttributes,
  };
  // Snapshots that propose nothing under the prefix say nothing of it: one misspelt (not the
  // writers') reported clean, run after run. A sample of the live table's pointers must not lie
  // all outside it (as the listing audit that checked no blob asks). Keys there that are no blob
  // keys of it (a user's files, another store's) are no proposal: with only those, the run
  // reported them and read clean, where the listing audit of the same prefix stops.
  if (proposedOrphans.length === 0 && proposedLost.length === 0 && proposedExpired.length === 0) {
    const { hv, lt } = liveStoreOf(config, options);
    await assertPrefixOfStore(options.dynamodb, hv, lt, findings.length === 0 ? undefined : findings.length);
  }
  options.signal?.throwIfAborted();
  // Read only, so first: an error here stops the audit before it deleted anything.
  const { lost, missedByInventory, undecided } = await checkLost(
    proposedLost.map((f) => ({ key: f.blobKey, objectKey: f.objectKey ?? '' })),
    { ...clients, cutoffMs },
  );
  const describe = (e: DynamoExport) => ({
    dir: e.dir,
    exportTime: new Date(e.exportTime).toISOString(),
    items: e.itemCount,
    bytes: e.bytes,
  });
  const reportOf = (
    verified: ReverifyReport,
    expired: ExpiredReverifyReport = emptyExpiredReport(proposedExpired.length),
  ): SnapshotAuditReport => ({
    bucket: config.bucket,
    prefix: config.prefix,
    olderThanMs: options.olderThanMs,
    cutoff: new Date(cutoffMs).toISOString(),
    inventory: {
      manifest: inventory.manifestPath,
      createdAt: new Date(inventory.createdAt).toISOString(),
      files: inventory.files.length,
      bytes: inventory.bytes,
    },
    exports: { objects: describe(exports.objects), changeLog: describe(exports.changeLog) },
    queryMs,
    proposed: { orphans: proposedOrphans.length, lost: proposedLost.length, expired: proposedExpired.length },
    orphans: [...verified.confirmed].sort(),
    kept: verified.kept.filter((k) => k.reason !== 'malformed'),
    lost: lost.sort((a, b) => a.key.localeCompare(b.key)),
    gone: [...verified.gone].sort(),
    // The query's shape check is coarse (no canonical-base64url test); the exact one is the re-verification's.
    ...notBlobKeys(config.prefix, [
      ...findings.filter((f) => f.kind === 'malformed').map((f) => f.blobKey),
      ...verified.kept.filter((k) => k.reason === 'malformed').map((k) => k.key),
    ]),
    expired: [...expired.confirmed].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    expiredKept: [...expired.kept].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    expiredRemoved: expired.removed,
    expiredRemoveUnknown: [...expired.removeUnknown].sort(),
    inventoryMissed: [...missedByInventory].sort(),
    lostUndecided: [...undecided].sort((a, b) => a.key.localeCompare(b.key)),
    delete: options.delete ?? false,
    deleted: verified.deleted + expired.deleted,
    deleteFailures: [...verified.deleteFailures, ...expired.deleteFailures],
    deleteUnknown: [...verified.deleteUnknown, ...expired.deleteUnknown].sort(),
    ...((verified.refusal ?? expired.refusal) !== undefined ? { deleteRefused: verified.refusal ?? expired.refusal } : {}),
  });
  // Losses confirmed above are not lost with an error (or Ctrl-C) of the re-verification before its
  // first delete, which is thrown bare (after a delete, the error below carries the report): they
  // are reported with it, as the snapshot-audit function logs and publishes them first.
  const notReverified = emptyReverifyReport(proposedOrphans.length);
  const losing = (err: unknown): unknown =>
    lost.length > 0 && !(err instanceof SnapshotAuditIncompleteError)
      ? new SnapshotAuditIncompleteError(reportOf(notReverified), err)
      : err;
  // One restored-copy check for both phases: a pointer the orphans' phase reads shows the table live for the expired objects'.
  const restoredCopy = RestoredCopyCheck.shared(options.dynamodb, config.objectsTable, liveStoreOf(config, options).lt);
  let verified: ReverifyReport;
  try {
    options.signal?.throwIfAborted();
    verified = await reverifyAndDelete(
      proposedOrphans.map((f) => ({ key: f.blobKey, ...(f.lastModified !== undefined ? { lastModified: f.lastModified } : {}) })),
      {
        ...clients,
        now: options.now,
        olderThanMs: options.olderThanMs,
        delete: options.delete ?? false,
        ...(options.beforeDelete ? { beforeDelete: options.beforeDelete } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        ...(options.emptyStoreOk !== undefined ? { emptyStoreOk: options.emptyStoreOk } : {}),
        // Stopped after deleting: the error carries the whole audit's report, not the re-verification's.
        incomplete: (done, cause) => new SnapshotAuditIncompleteError(reportOf(done), cause),
        restoredCopy,
      },
    );
  } catch (err) {
    throw losing(err);
  }
  // The blobs of objects expired long ago that TTL left, each re-verified live. A run whose orphan
  // deletes were refused (a table it cannot trust) changes nothing more: as the listing audit, whose
  // refusal holds for every delete of the run, it reports them only.
  const expired = emptyExpiredReport(proposedExpired.length);
  const removing = (options.delete ?? false) && !deletesRefused(verified);
  try {
    options.signal?.throwIfAborted();
    await reverifyExpired(
      proposedExpired.map((f) => ({ key: f.blobKey, objectKey: f.objectKey ?? '', ...(f.size !== undefined ? { size: f.size } : {}) })),
      {
        config,
        dynamodb: options.dynamodb,
        s3: options.s3,
        now: options.now,
        olderThanMs: options.olderThanMs,
        delete: removing,
        report: expired,
        restoredCopy,
        ...(options.beforeDelete ? { beforeDelete: options.beforeDelete } : {}),
        ...(options.signal !== undefined ? { signal: options.signal } : {}),
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      },
    );
  } catch (err) {
    // What was done (or, report-only, found) before it stopped goes with the error.
    const changed =
      verified.deleted > 0 ||
      verified.deleteFailures.length > 0 ||
      verified.deleteUnknown.length > 0 ||
      expired.removed > 0 ||
      expired.deleted > 0 ||
      expired.deleteFailures.length > 0 ||
      expired.deleteUnknown.length > 0 ||
      expired.removeUnknown.length > 0;
    const found = !(options.delete ?? false) && (verified.confirmed.length > 0 || expired.confirmed.length > 0);
    if (changed || found || lost.length > 0) throw new SnapshotAuditIncompleteError(reportOf(verified, expired), err);
    throw err;
  }
  return reportOf(verified, expired);
}

/**
 * The human form of a snapshot audit report; `ttl`, the objects table's TTL read when it confirmed
 * blobs of objects expired long ago ({@link readObjectsTableTtl}), said with them.
 */
export function formatSnapshotAudit(r: SnapshotAuditReport, ttl?: ObjectsTableTtl): string[] {
  const lines = [
    `snapshot audit of s3://${r.bucket}/${r.prefix}/: inventory of ${r.inventory.createdAt}, exports of ${r.exports.objects.exportTime} (objects) and ${r.exports.changeLog.exportTime} (change log)`,
    `  blobs older than ${r.cutoff}; query ${r.queryMs} ms: ${r.proposed.orphans} orphans and ${r.proposed.lost} losses proposed` +
      (r.proposed.expired > 0 ? `, ${r.proposed.expired} blobs of objects expired long ago` : ''),
    `  re-verified live: ${r.orphans.length} orphans confirmed, ${r.kept.length} kept, ${r.lost.length} losses confirmed, ${r.malformed.length} malformed keys` +
      (r.proposed.expired > 0 ? `, ${r.expired.length} of expired objects (not removed by TTL) confirmed` : ''),
  ];
  if (r.orphans.length > 0) lines.push('orphans:', ...r.orphans.map((k) => `  ${k}`));
  if (r.kept.length > 0) lines.push('kept at the re-verification:', ...r.kept.map((k) => `  ${k.key}  ${k.reason}`));
  if (r.expired.length > 0) {
    lines.push(
      'expired, not removed by TTL: objects expired past TTL lag + stream retention still point at these blobs, so no stream event will delete them (TTL off on the objects table or on another attribute than the expiry attribute, far behind, or ignoring an expiry more than five years past):',
    );
    if (ttl !== undefined) lines.push(`  the objects table's TTL: ${'error' in ttl ? ttl.error : ttl.diagnosis}`);
    for (const e of r.expired) lines.push(`  ${e.key}  expired ${e.expiredAt}  object ${JSON.stringify(e.objectKey)}`);
  }
  if (r.expiredKept.length > 0)
    lines.push(
      'blobs of expired objects kept at the re-verification:',
      ...r.expiredKept.map((k) => `  ${k.key}  object ${JSON.stringify(k.objectKey)}  ${k.reason}`),
    );
  if (r.lost.length > 0)
    lines.push('LOST (HV points at a blob the bucket lacks):', ...r.lost.map((l) => `  ${l.key}  object ${JSON.stringify(l.objectKey)}`));
  if (r.gone.length > 0)
    lines.push('proposed orphans the bucket no longer holds (deleted since the inventory):', ...r.gone.map((k) => `  ${k}`));
  if (r.malformed.length > 0) lines.push('malformed keys (never deleted):', ...r.malformed.map((k) => `  ${k}`));
  if (Object.keys(r.nestedStores).length > 0)
    lines.push(
      "blob keys of stores under nested prefixes (each store's own audit judges them; not judged here, never deleted):",
      ...Object.entries(r.nestedStores).map(([prefix, n]) => `  ${prefix}/  ${n} ${n === 1 ? 'key' : 'keys'}`),
    );
  if (r.lostUndecided.length > 0)
    lines.push(
      'proposed losses NOT JUDGED (neither confirmed nor cleared):',
      ...r.lostUndecided.map((u) => `  ${u.key}  object ${JSON.stringify(u.objectKey)}: ${u.reason}`),
    );
  if (r.inventoryMissed.length > 0)
    lines.push(
      'INVENTORY INCOMPLETE (blobs the bucket has held since before the cutoff, missing from the inventory; their orphans were not seen):',
      ...r.inventoryMissed.map((k) => `  ${k}`),
    );
  if (r.delete) {
    if (r.deleteRefused !== undefined) lines.push(`deletes refused: ${r.deleteRefused}`);
    lines.push(
      `deleted ${r.deleted} blobs${r.expiredRemoved > 0 ? ` (${r.expiredRemoved} expired items removed first, as TTL would)` : ''}`,
    );
    for (const f of r.deleteFailures) lines.push(`  ${f.key}  ${f.code}: ${f.message}`);
    if (r.deleteUnknown.length > 0) {
      lines.push(`${r.deleteUnknown.length} deletes of unknown outcome (S3 did not answer; these blobs may be gone):`);
      for (const key of r.deleteUnknown) lines.push(`  ${key}`);
    }
    if (r.expiredRemoveUnknown.length > 0) {
      lines.push(
        `${r.expiredRemoveUnknown.length} expired item removals of unknown outcome (DynamoDB did not answer; these items may be gone, their blobs stay):`,
      );
      for (const key of r.expiredRemoveUnknown) lines.push(`  object ${JSON.stringify(key)}`);
    }
  } else {
    // Named by what it left unjudged: a run that proposed no orphan (or judged them all) and could
    // not trust what it read for the expired objects' blobs said "orphans not confirmed".
    if (r.deleteRefused !== undefined) {
      const orphans = r.kept.some((k) => needsALook(k.reason));
      const expired = r.expiredKept.some((k) => expiredNeedsALook(k.reason));
      const what = expired && !orphans ? 'blobs of expired objects' : expired ? 'orphans and blobs of expired objects' : 'orphans';
      lines.push(`${what} not confirmed: ${r.deleteRefused}`);
    }
    if (r.orphans.length > 0 || r.expired.length > 0)
      lines.push(
        r.expired.length > 0
          ? 'nothing deleted: run with --delete to delete the confirmed orphans and the blobs of expired objects (their items removed first, as TTL would)'
          : 'nothing deleted: run with --delete to delete the confirmed orphans',
      );
  }
  return lines;
}

/** A memory limit is a size DuckDB reads: a string, and not an empty one (DuckDB reads the rest). */
function assertMemoryLimit(memoryLimit: unknown): void {
  if (memoryLimit === undefined) return;
  if (typeof memoryLimit !== 'string' || memoryLimit.trim() === '') {
    throw new ValidationError(`memoryLimit must be a size DuckDB reads, such as "4GB" (got ${JSON.stringify(memoryLimit)})`, 'memoryLimit');
  }
}
