/**
 * The guarded path between a snapshot's proposal and a delete. Snapshots are hours old and not
 * taken at one instant, so a candidate orphan is deleted only if, read live AFTER the candidate
 * list was fixed:
 *
 *  1. its key is exactly a blob key of this library under the prefix (else: `malformed`);
 *  2. it is older than the safety age by the time in its UUIDv7 and by its LastModified; an
 *     unknown LastModified counts as young (else: `too-young`);
 *  3. no change-log item protects it, by the listing audit's own rule
 *     (`../change-log-protection.ts`): the change log is scanned (consistent); a blob whose UUID
 *     appears anywhere in any item (attribute names, strings, binaries, nested; entries live,
 *     claimed, quarantined or unparseable alike), or whose object an unparseable entry is about,
 *     is kept (`named-by-change-log`); an item or entry that cannot be read well enough to know,
 *     or an item a writer of another store stamped (the table may be that store's change log,
 *     naming none of this store's writes in flight), keeps every candidate (`change-log-unreadable`);
 *  4. a consistent read of HV, made after that scan, does not point at it (an item points at the
 *     blob its blob attribute names, whatever its deletion flag: as `HvTable.readBlobPointers`
 *     reads it for the sweeper and the listing audit) (else: `referenced`); with `delete`, nor
 *     does an item of another object (one copied to rename an object, written after the
 *     snapshots: found by one consistent Scan of the objects table before the first delete, as
 *     the listing audit finds it) (else: `referenced`); an objects-table
 *     item it does not understand (`../hv-shape.ts`: attribute names not the writers') keeps
 *     every candidate from there on (`objects-table-unrecognised`), with or without `delete`: a
 *     report that called every live blob a confirmed orphan would be acted on;
 *  5. the objects table has shown itself this bucket's store (`../store-binding.ts`, checked once,
 *     before the first candidate is confirmed), with or without `delete`: through another
 *     deployment's table every blob looks unreferenced, so every candidate from there on is kept
 *     (`store-unbound`), also when the sample cannot be taken (a role that may not Scan the table);
 *     nor a restored copy of this store's table that misses the candidate (`../restored-table.ts`:
 *     `store-unbound`, every candidate when DescribeTable does not answer);
 *  6. the bucket still holds it (a live listing of its key): one gone since the inventory (deleted
 *     by an earlier run of the same rows) is `gone`, neither confirmed nor deleted again.
 *
 * Why that is safe: a writer records its entry before it uploads a blob and removes it only after
 * HV points at the blob or the blob is gone, and no writer ever points HV at a blob it did not
 * just upload (keys are never reused). So a blob that no entry names at the scan, and that HV does
 * not point at in a read made after the scan, can never be referenced again. The time between
 * those reads and the delete does not matter.
 *
 * Deletes go through `LtBucket.deleteMany` (the prefix guard) in batches.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { batchGetConsistent } from '../../aws/batch-get.js';
import { documentClient } from '../../aws/clients.js';
import { hvAttributeNames, type TierlogConfig, validateConfig } from '../../config.js';
import { DYNAMODB_BATCH_GET, MULTIPART_PART_SIZE, S3_DELETE_BATCH } from '../../constants.js';
import { keepClassNames } from '../../class-names.js';
import { stoppedAfterMessage, TierlogError, ValidationError } from '../../errors.js';
import { assertEpochMs, isUuidV7 } from '../../ids.js';
import { assertOptions, optionNames } from '../../plain-options.js';
import { assertSafetyAge, blobsOfOtherObjects, countOption, deleteCounted, sampleStoreBinding } from '../audit.js';
import { type ChangeLogProtection, protectorOf, readChangeLogProtection } from '../change-log-protection.js';
import { unrecognisedHvItem } from '../hv-shape.js';
import { bindingRefusal } from '../store-binding.js';
import { RestoredCopyCheck } from '../restored-table.js';
import { HvTable } from '../../tiered/hv-table.js';
import { checkBlobKey, encodeObjectId } from '../../tiered/blob-keys.js';
import { assertObjectKey } from '../../tiered/object-key.js';
import { type DeleteFailure, LtBucket } from '../../tiered/lt-bucket.js';
import { type SnapshotHvAttributes, snapshotHvAttributesOf } from './query.js';

/** A candidate orphan, as the query proposed it. */
export interface OrphanCandidate {
  readonly key: string;
  /** LastModified from the inventory (ms), when known. */
  readonly lastModified?: number;
}

/** Why a candidate was kept. */
export type KeptReason =
  | 'malformed'
  | 'too-young'
  | 'named-by-change-log'
  | 'change-log-unreadable'
  | 'referenced'
  /** An objects-table item that is not understood (`../hv-shape.ts`): every delete refused. */
  | 'objects-table-unrecognised'
  /**
   * The objects table does not show itself the store of this bucket (`../store-binding.ts`: it
   * may be another deployment's, and then every blob looks an orphan): every delete refused.
   */
  | 'store-unbound';

export interface ReverifyOptions {
  readonly config: TierlogConfig;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  /** Now (ms). */
  readonly now: number;
  /** Safety age (ms): a candidate younger than this by either clock is kept. At least 1 h. */
  readonly olderThanMs: number;
  /** Delete the confirmed orphans. Default false: only confirm. */
  readonly delete?: boolean;
  /**
   * With `delete`: before the first delete, one consistent Scan of the objects table keeps a blob
   * an item of another object points at (an item copied to rename an object since the snapshots,
   * which tierlog never writes). Default true, as the listing audit. The audit at scale's function
   * sets it false: it re-verifies one batch per invocation, and a Scan of the whole table for each
   * batch would cost the table's size times the batches (README, "Audit at scale").
   */
  readonly scanOtherObjects?: boolean;
  /**
   * Candidates per HV read + delete batch: a whole number of at least 1 (a `ValidationError`
   * otherwise), at most 1000 (more is read as 1000). Default 1000 (one DeleteObjects request).
   */
  readonly batchSize?: number;
  /**
   * HV attribute names: the configuration's (`config.hvAttributes`). Kept for compatibility; must
   * agree with the configuration (a `ConfigError` otherwise).
   */
  readonly hvAttributes?: SnapshotHvAttributes;
  /** Called right before each delete batch (tests). */
  readonly beforeDelete?: (keys: readonly string[]) => void | Promise<void>;
  /**
   * The store holds no large object: confirm (and, with `delete`, delete) when the objects table
   * points at no blob at all (never when it points at blobs that are not in this bucket). Default
   * false: kept as `store-unbound`, as such a table may be another deployment's (`../store-binding.ts`).
   */
  readonly emptyStoreOk?: boolean;
  /**
   * Stops at the next batch, never inside one (a batch's read and its delete go together). What
   * was done is then thrown as a {@link ReverifyIncompleteError} if anything was deleted (without
   * `delete`: if an orphan was confirmed), else the signal's reason. The CLI aborts it on Ctrl-C.
   */
  readonly signal?: AbortSignal;
  /**
   * Builds the error thrown when it stops after deleting (without `delete`: after confirming
   * orphans), from the report so far and the cause.
   * Default: a {@link ReverifyIncompleteError}. A caller with a larger report (the snapshot audit)
   * passes its own, so that the error carries that report.
   */
  readonly incomplete?: (report: ReverifyReport, cause: unknown) => Error;
  /**
   * The run's restored-copy check, shared with its other phase ({@link RestoredCopyCheck.shared}).
   * Default: one of its own, read at the first candidate it judges.
   */
  readonly restoredCopy?: () => Promise<RestoredCopyCheck>;
}

export interface ReverifyReport {
  readonly checked: number;
  /** Confirmed orphans (deleted, with `delete`). */
  readonly confirmed: string[];
  deleted: number;
  readonly kept: Array<{ readonly key: string; readonly reason: KeptReason }>;
  readonly deleteFailures: DeleteFailure[];
  /**
   * Confirmed orphans in a delete request S3 never answered (a 5xx, throttling or no answer after
   * the SDK's retries, then its one-by-one fallback too): they may be gone. The run stops there,
   * with a {@link ReverifyIncompleteError} (or the `incomplete` option's error) carrying the report.
   */
  readonly deleteUnknown: string[];
  /**
   * Proposed orphans the bucket no longer holds (a live listing of each, made before it would be
   * confirmed): deleted since the inventory, by an earlier run of the same rows (a batch Step
   * Functions ran again after its answer was lost) or otherwise. Neither confirmed nor deleted:
   * S3 answers a delete of a key already gone as done, and such a blob was counted twice.
   */
  readonly gone: string[];
  /**
   * Why the candidates were kept as `store-unbound` or `change-log-unreadable`, when they were
   * (which item of the change log, and what is wrong with it): every delete refused, and (with or
   * without `delete`) no orphan confirmed from then on; but through a restored copy of the objects
   * table (`../restored-table.ts`), only the candidates the copy cannot judge are kept, the rest go on.
   */
  refusal?: string;
}

/**
 * The re-verification stopped (an error, or its signal) after it had deleted blobs (without
 * `delete`: after it had confirmed orphans, its findings): `report` says what it did up to there,
 * `cause` why it stopped. Stopped before that, it throws the cause itself.
 */
export class ReverifyIncompleteError extends TierlogError {
  constructor(
    /** The report up to the stop (`deleted` counts the deletes S3 confirmed). */
    readonly report: ReverifyReport,
    cause: unknown,
  ) {
    super(stoppedAfterMessage('re-verification', report, cause, { after: unknownOutcome(report) }), { cause });
  }
}
keepClassNames({ ReverifyIncompleteError });

/** The count of deletes of unknown outcome, as a stop's message says it (none: nothing). */
export function unknownOutcome(report: Pick<ReverifyReport, 'deleteUnknown'>): string[] {
  return report.deleteUnknown.length > 0 ? [`${report.deleteUnknown.length} deletes of unknown outcome (may be gone)`] : [];
}

const REVERIFY_OPTIONS = optionNames<ReverifyOptions>()(
  'config',
  'dynamodb',
  's3',
  'now',
  'olderThanMs',
  'delete',
  'scanOtherObjects',
  'batchSize',
  'hvAttributes',
  'beforeDelete',
  'emptyStoreOk',
  'signal',
  'incomplete',
  'restoredCopy',
);

/**
 * Re-verifies candidates live and (with `delete`) deletes the confirmed ones.
 *
 * @throws ConfigError on an invalid configuration; ValidationError when an option name is not one
 *   of {@link ReverifyOptions}'s, `olderThanMs` is under 1 h or reaches back before 2000, `now` is
 *   not ms since the epoch or `batchSize` not a whole number of at least 1;
 *   {@link ReverifyIncompleteError} (or the `incomplete` option's error) when it stopped after
 *   deleting (without `delete`: after confirming orphans).
 */
export async function reverifyAndDelete(candidates: readonly OrphanCandidate[], options: ReverifyOptions): Promise<ReverifyReport> {
  // A misspelt option (`delet`, `emptyStoreOK`, `batchsize`) would be a default nobody chose.
  assertOptions(options, REVERIFY_OPTIONS, 'reverifyAndDelete');
  const config = validateConfig(options.config);
  // NaN made every candidate too young, silently; one in µs made every blob old by the clock.
  assertEpochMs(options.now, 'now');
  assertSafetyAge(options.olderThanMs, options.now);
  const batchSize = reverifyBatchSize(options.batchSize);
  const attrs = snapshotHvAttributesOf(config, options.hvAttributes);
  const report = emptyReverifyReport(candidates.length);
  const parsed: Array<{ key: string; objectId: string; uuid: string; createdAt: number; lastModified: number }> = [];
  // A key proposed twice (overlapping inventory files) is judged, deleted and counted once.
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.key)) continue;
    seen.add(c.key);
    const p = parseBlobKeyStrict(config.prefix, c.key);
    if (p === undefined) {
      report.kept.push({ key: c.key, reason: 'malformed' });
      continue;
    }
    // Unknown LastModified: young (the UUIDv7 time alone is the writer's clock; never delete on a guess).
    const ageMs = c.lastModified === undefined ? Number.NaN : Math.min(options.now - p.createdAt, options.now - c.lastModified);
    if (!(ageMs >= options.olderThanMs)) {
      report.kept.push({ key: c.key, reason: 'too-young' });
      continue;
    }
    parsed.push({ key: c.key, objectId: p.objectId, uuid: p.uuid, createdAt: p.createdAt, lastModified: c.lastModified! });
  }
  if (parsed.length === 0) return report;

  // The change log first, then HV: see the header.
  const protection = await readChangeLogProtection(options.dynamodb, config.changeLogTable, config.objectsTable);
  if (protection.refuse !== undefined) {
    // Said, as the listing audit says it: which item, and why (one of another store is readable).
    report.refusal = protection.refuse;
    for (const c of parsed) report.kept.push({ key: c.key, reason: 'change-log-unreadable' });
    return report;
  }
  try {
    return await reverifyBatches(parsed, protection, config, attrs, { ...options, batchSize }, report);
  } catch (err) {
    // Stopped before it changed anything, the cause alone; but a report-only run's confirmed orphans
    // are its findings, and go with the error (the snapshot-audit function's default, stopped at its
    // deadline, counted them nowhere).
    const changed = report.deleted > 0 || report.deleteFailures.length > 0 || report.deleteUnknown.length > 0;
    if (!changed && (options.delete === true || report.confirmed.length === 0)) throw err;
    throw options.incomplete !== undefined ? options.incomplete(report, err) : new ReverifyIncompleteError(report, err);
  }
}

/** The report of a re-verification of `checked` candidates that has judged none yet. */
export function emptyReverifyReport(checked: number): ReverifyReport {
  return { checked, confirmed: [], deleted: 0, kept: [], deleteFailures: [], deleteUnknown: [], gone: [] };
}

async function reverifyBatches(
  parsed: ReadonlyArray<{ key: string; objectId: string; uuid: string; createdAt: number; lastModified: number }>,
  protection: ChangeLogProtection,
  config: TierlogConfig,
  attrs: Required<SnapshotHvAttributes>,
  options: ReverifyOptions & { readonly batchSize: number },
  report: ReverifyReport,
): Promise<ReverifyReport> {
  const { hv, lt } = liveStoreOf(config, options);
  const { batchSize } = options;
  let bound = false;
  let restored: RestoredCopyCheck | undefined;
  // Blobs an item of another object points at (an item copied to rename an object): read by the
  // object its key names, such a blob looks unreferenced. Read once, before the first delete.
  let otherObjects: Map<string, string> | undefined;
  for (let i = 0; i < parsed.length; i += batchSize) {
    options.signal?.throwIfAborted();
    const batch = parsed.slice(i, i + batchSize).filter((c) => {
      if (protectorOf(protection, c.objectId, c.uuid) === undefined) return true;
      report.kept.push({ key: c.key, reason: 'named-by-change-log' });
      return false;
    });
    const pointers = await hvPointers(
      options.dynamodb,
      config.objectsTable,
      batch.map((c) => c.objectId),
      attrs,
    );
    const doomed: string[] = [];
    const doomedObjects: string[] = [];
    for (const c of batch) {
      if (pointers.get(c.objectId) === c.key) report.kept.push({ key: c.key, reason: 'referenced' });
      else doomed.push(c.key), doomedObjects.push(c.objectId);
    }
    if (doomed.length > 0) {
      // HV read with names that are not the writers' makes every blob look unreferenced. Checked
      // without `delete` too: a live blob is never reported a confirmed orphan.
      const why = await unrecognisedHvItem(options.dynamodb, config.objectsTable, hvAttributeNames(config), doomedObjects);
      if (why !== undefined) {
        const rest = [...doomed, ...parsed.slice(i + batchSize).map((c) => c.key)];
        for (const key of rest) report.kept.push({ key, reason: 'objects-table-unrecognised' });
        return report;
      }
    }
    if (doomed.length > 0 && !bound) {
      // Before the first delete, and before the first orphan is confirmed (a report is acted on):
      // is the objects table this bucket's store at all?
      // The candidates' own objects first: an overwritten one points at the blob that replaced it.
      const read = doomedObjects.flatMap((objectKey) => {
        const blob = pointers.get(objectKey);
        return typeof blob === 'string' ? [{ objectKey, blob }] : [];
      });
      const refusal = await storeBindingRefusal(options, { hv, lt }, read);
      if (refusal !== undefined) {
        report.refusal = refusal;
        const rest = [...doomed, ...parsed.slice(i + batchSize).map((c) => c.key)];
        for (const key of rest) report.kept.push({ key, reason: 'store-unbound' });
        return report;
      }
      bound = true;
    }
    if (doomed.length > 0) {
      // A restored copy of this store's table (`../restored-table.ts`): what it cannot judge is
      // kept, said as a table not shown to be this bucket's store (every candidate, when unknown).
      restored ??= await (options.restoredCopy?.() ?? RestoredCopyCheck.read(options.dynamodb, config.objectsTable, lt));
      await restored.lookAt([...pointers].flatMap(([objectKey, blob]) => (typeof blob === 'string' ? [{ objectKey, blob }] : [])));
      if (restored.refusal !== undefined) {
        report.refusal = restored.refusal;
        for (const key of [...doomed, ...parsed.slice(i + batchSize).map((c) => c.key)]) report.kept.push({ key, reason: 'store-unbound' });
        return report;
      }
      const judged = new Set(doomed);
      const held = new Set<string>();
      for (const c of batch) {
        const why = judged.has(c.key) ? restored.keeps(c) : undefined;
        if (why !== undefined) held.add(c.key), (report.refusal ??= why), report.kept.push({ key: c.key, reason: 'store-unbound' });
      }
      doomed.splice(0, doomed.length, ...doomed.filter((key) => !held.has(key)));
    }
    if (options.delete && options.scanOtherObjects !== false && doomed.length > 0) {
      // The signal stops the scan (minutes to hours at scale) at its next page, before this round's deletes.
      otherObjects ??= await blobsOfOtherObjects(options.dynamodb, hv, config.prefix, options.signal);
      const pointed = doomed.filter((key) => otherObjects?.has(key));
      for (const key of pointed) report.kept.push({ key, reason: 'referenced' });
      doomed.splice(0, doomed.length, ...doomed.filter((key) => !otherObjects?.has(key)));
    }
    // Last, the bucket itself: a blob gone since the inventory is no orphan to confirm or delete.
    // A listing that does not decide it leaves it confirmed, as before (a delete of a key that is
    // gone changes nothing).
    const gone = await goneKeys(lt, doomed);
    if (gone.size > 0) {
      report.gone.push(...doomed.filter((key) => gone.has(key)));
      doomed.splice(0, doomed.length, ...doomed.filter((key) => !gone.has(key)));
    }
    report.confirmed.push(...doomed);
    if (!options.delete || doomed.length === 0) continue;
    await options.beforeDelete?.(doomed);
    // What S3 deleted, refused or never answered is counted, as the listing audit counts it.
    await deleteCounted(lt, doomed, report);
  }
  return report;
}

/** Listings of the existence check at once: a batch of 1 000 keys is 1 000 listings. */
export const EXISTENCE_CHECKS_AT_ONCE = 16;

/** The keys of `keys` a live listing finds missing from the bucket (`LtBucket.exists`). */
async function goneKeys(lt: LtBucket, keys: readonly string[]): Promise<Set<string>> {
  const gone = new Set<string>();
  for (let i = 0; i < keys.length; i += EXISTENCE_CHECKS_AT_ONCE) {
    const slice = keys.slice(i, i + EXISTENCE_CHECKS_AT_ONCE);
    const found = await Promise.all(slice.map((key) => lt.exists(key)));
    found.forEach((existence, j) => {
      if (existence.kind === 'missing') gone.add(slice[j]!);
    });
  }
  return gone;
}

/**
 * {@link ReverifyOptions.batchSize}, checked: NaN took no candidate into any batch (none judged,
 * none reported: a clean-looking report), 0 never ended.
 *
 * @throws ValidationError unless `value` is undefined or a whole number of at least 1.
 */
export function reverifyBatchSize(value: number | undefined): number {
  return Math.min(S3_DELETE_BATCH, countOption(value, 'batchSize', S3_DELETE_BATCH));
}

/**
 * Whether the re-verification refused deletes for a reason that needs an operator's look: a
 * change-log or objects-table item it cannot read, or an objects table that is not this
 * bucket's store (then, as for a change-log item that refuses, `report.refusal` says why). Exit code 1 in the CLI, an error in the Lambda.
 */
export function deletesRefused(report: Pick<ReverifyReport, 'kept'>): boolean {
  return report.kept.some((k) => needsALook(k.reason));
}

/**
 * Whether a candidate kept for `reason` was kept because something could not be trusted (an item
 * that cannot be read or is not understood, a table that is not this bucket's store), not because
 * it is live: with or without `delete`, a person must look.
 */
export function needsALook(reason: KeptReason): boolean {
  return reason === 'change-log-unreadable' || reason === 'objects-table-unrecognised' || reason === 'store-unbound';
}

/** The live store `config` names, as the snapshot audit reads and deletes in it: its objects table, its blobs under the prefix. */
export interface LiveStore {
  readonly hv: HvTable;
  readonly lt: LtBucket;
}

/** The {@link LiveStore} of `config`, through `clients`. */
export function liveStoreOf(config: TierlogConfig, clients: { readonly dynamodb: DynamoDBClient; readonly s3: S3Client }): LiveStore {
  return {
    hv: new HvTable(config.objectsTable, clients.dynamodb, hvAttributeNames(config)),
    lt: new LtBucket(clients.s3, config.bucket, config.prefix, MULTIPART_PART_SIZE),
  };
}

/** Why deletes are refused for the store `config` names (`../store-binding.ts`), or undefined. */
export async function storeBindingRefusal(
  options: Pick<ReverifyOptions, 'dynamodb' | 'emptyStoreOk'>,
  { hv, lt }: LiveStore,
  pointers: ReadonlyArray<{ readonly objectKey: string; readonly blob: string }> = [],
): Promise<string | undefined> {
  return bindingRefusal(await sampleStoreBinding(options.dynamodb, hv, lt, pointers), options.emptyStoreOk ?? false);
}

/**
 * The live check of proposed losses stopped (a read of HV that failed) after it had confirmed
 * some: {@link lost} are those, confirmed as ever (the bucket lacks each, and HV, read after the
 * listing, points at it); the candidates after them were not judged. Stopped before it confirmed
 * any, it throws the cause itself.
 */
export class LostCheckIncompleteError extends TierlogError {
  constructor(
    /** The losses confirmed before it stopped. */
    readonly lost: LostCandidate[],
    cause: unknown,
  ) {
    super(
      `the live check of proposed losses stopped after ${lost.length} losses confirmed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}
keepClassNames({ LostCheckIncompleteError });

/** A candidate lost blob: HV item `objectKey` references `key`, the inventory lacks it. */
export interface LostCandidate {
  readonly key: string;
  readonly objectKey: string;
}

/** What {@link checkLost} found. */
export interface LostCheck {
  /**
   * Losses confirmed live: the bucket has no such object AND HV, read (consistent) after that
   * listing, still points at the blob. The others were resolved since the snapshots.
   *
   * The order matters: an overwrite that commits and then deletes the old blob between an HV read
   * and the listing would make a blob that HV no longer points at look lost. Read after the
   * listing, HV still pointing at the blob means it pointed there all along (no writer points HV at
   * a blob it did not just upload, and the snapshots saw HV point at this one), so the blob was
   * missing while referenced.
   */
  readonly lost: LostCandidate[];
  /**
   * Proposed losses the bucket holds, and has held since before `cutoffMs`: blobs the inventory
   * should list and does not (an object assembled from parts is not counted: its LastModified is
   * when its upload began, which says nothing of when it appeared). An inventory that lacks them is not a complete report of the
   * prefix (another prefix's or bucket's, files missing, keys decoded wrongly), so it cannot show
   * the orphans among what it lacks either: an audit from it is not "clean".
   */
  readonly missedByInventory: string[];
  /**
   * Proposed losses it could not judge: the listing did not answer (access denied, an error after
   * retries), or the snapshot names no object for the blob (an objects-export item without a
   * string key). Neither confirmed nor cleared: a run with any is not clean.
   */
  readonly undecided: Array<{ readonly key: string; readonly objectKey: string; readonly reason: string }>;
}

/**
 * Confirms the proposed losses live ({@link LostCheck.lost}), and finds those the live listing
 * holds, last modified before `cutoffMs` (the query's cutoff: at least the safety age before the
 * inventory was begun): a blob uploaded later (an upload session completed after the inventory,
 * its UUIDv7 older) is not counted, since the inventory could not have listed it.
 *
 * @throws the error of a read of HV that failed; a {@link LostCheckIncompleteError} carrying the
 *   losses confirmed before it, when there are any.
 */
export async function checkLost(
  candidates: readonly LostCandidate[],
  options: Pick<ReverifyOptions, 'config' | 'dynamodb' | 's3' | 'hvAttributes'> & { readonly cutoffMs?: number },
): Promise<LostCheck> {
  const config = validateConfig(options.config);
  // NaN: no blob last modified before it, so an inventory that missed blobs looked complete.
  if (options.cutoffMs !== undefined && !(Number.isSafeInteger(options.cutoffMs) && options.cutoffMs >= 0)) {
    throw new ValidationError(`cutoffMs must be ms since the epoch, got ${String(options.cutoffMs)}`, 'cutoffMs');
  }
  const attrs = snapshotHvAttributesOf(config, options.hvAttributes);
  const { lt } = liveStoreOf(config, options);
  const confirmed: LostCandidate[] = [];
  const missedByInventory: string[] = [];
  const undecided: LostCheck['undecided'] = [];
  const unique = [...new Map(candidates.map((c) => [`${c.objectKey}\0${c.key}`, c])).values()];
  for (let i = 0; i < unique.length; i += DYNAMODB_BATCH_GET) {
    const batch = unique.slice(i, i + DYNAMODB_BATCH_GET).filter((c) => c.key.startsWith(`${config.prefix}/`));
    const missing: LostCandidate[] = [];
    for (const c of batch) {
      if (c.objectKey === '') {
        undecided.push({ ...c, reason: 'the snapshot names no object for it (an objects-export item without a string key)' });
        continue;
      }
      // Lost only when the listing says missing: an answer it cannot decide confirms nothing, and clears nothing.
      const existence = await lt.exists(c.key);
      if (existence.kind === 'missing') missing.push(c);
      else if (existence.kind === 'unknown') undecided.push({ ...c, reason: existence.reason });
      else if (options.cutoffMs !== undefined && existence.lastModified < options.cutoffMs && !assembledFromParts(existence.etag))
        missedByInventory.push(c.key);
    }
    if (missing.length === 0) continue;
    let pointers: Map<string, string | null>;
    try {
      pointers = await hvPointers(
        options.dynamodb,
        config.objectsTable,
        missing.map((c) => c.objectKey),
        attrs,
      );
    } catch (err) {
      // The losses confirmed by the reads before are not lost with this one (the LostBlobs alarm).
      throw confirmed.length > 0 ? new LostCheckIncompleteError(confirmed, err) : err;
    }
    for (const c of missing) if (pointers.get(c.objectKey) === c.key) confirmed.push(c);
  }
  return { lost: confirmed, missedByInventory: [...new Set(missedByInventory)], undecided };
}

/**
 * Whether the listing that showed a blob (`etag`: the ETag it gave) shows an object assembled from
 * parts (`"<digest>-<parts>"`). Such an object's LastModified is when its upload began, not when it
 * appeared (S3: its creation date "is the date of initiation of the multipart upload"), and an
 * upload session may be completed days after its start: begun before the cutoff, it may have
 * appeared after the inventory was taken, so its absence there proves nothing. Read from the
 * listing that decided the blob exists, not from another: a second listing could answer otherwise
 * (an empty truncated page, a throttled request), and a healthy object's blob was then named as
 * one the inventory missed.
 */
function assembledFromParts(etag: string | undefined): boolean {
  return /-[0-9]+"?$/.test(etag ?? '');
}

/**
 * The blob each object points at (consistent BatchGetItem): the string its blob attribute holds,
 * whatever its deletion flag (a marker holds none; an item flagged deleted that still names a blob,
 * which no writer leaves, points at it, as `HvTable.readBlobPointers` reads it); none for no item.
 */
async function hvPointers(
  dynamodb: DynamoDBClient,
  table: string,
  objectIds: readonly string[],
  a: Required<SnapshotHvAttributes>,
): Promise<Map<string, string | null>> {
  const result = new Map<string, string | null>();
  await batchGetConsistent(documentClient(dynamodb), table, a.key, objectIds, { '#k': a.key, '#b': a.blob }, (item) => {
    const blob = item[a.blob];
    result.set(String(item[a.key]), typeof blob === 'string' ? blob : null);
  });
  return result;
}

/**
 * `<prefix>/<canonical base64url object id>/<lower-case uuidv7>`, the id one a writer may use
 * (`assertObjectKey`: no control character, at most 512 bytes), or undefined: the listing audit's
 * `parseBlobKey`. A blob key of an id no writer can use was never written by this library, and is
 * never deleted (it was read as an orphan of that id, which HV never holds).
 */
export function parseBlobKeyStrict(prefix: string, key: string): { objectId: string; uuid: string; createdAt: number } | undefined {
  if (!key.startsWith(`${prefix}/`)) return undefined;
  const parts = key.slice(prefix.length + 1).split('/');
  if (parts.length !== 2) return undefined;
  const [segment, uuid] = parts as [string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(segment) || !isUuidV7(uuid)) return undefined;
  const objectId = Buffer.from(segment, 'base64url').toString('utf8');
  if (encodeObjectId(objectId) !== segment || !checkBlobKey(prefix, objectId, key).ok) return undefined;
  try {
    assertObjectKey(objectId);
  } catch {
    return undefined;
  }
  return { objectId, uuid, createdAt: parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16) };
}
