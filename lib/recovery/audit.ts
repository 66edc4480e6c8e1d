/**
 * The audit: lists LT under `<prefix>/` and checks every blob against the change log and HV,
 * independently of the sweeper. It finds what the log cannot: blobs written by something that
 * never logged, entries lost with a deleted table, bugs. With `delete`, it deletes the orphans.
 *
 * The rule, and why it is safe. A blob is deleted only when all of these hold:
 *
 *  - Its key is exactly a blob key this library makes, `<prefix>/<base64url object id>/<uuidv7>`
 *    (anything else is reported as unparseable, never deleted; a blob key of a store whose prefix
 *    is nested in this one, `<prefix>/<segments>/<object id>/<uuidv7>`, is that store's: counted
 *    under its prefix in `nestedStores`, neither judged nor a finding).
 *  - It is older than the safety age (at least 1 h) by BOTH its S3 LastModified and the time in
 *    its UUIDv7 (the younger wins; an unknown LastModified counts as young).
 *  - No change-log item names it. A write records its entry before it uploads and removes it
 *    only in (or after) its commit, so a blob whose write has not committed yet is named by an
 *    entry for as long as it may still become referenced, however slow the write. To be
 *    conservative, "names" means: the blob's UUID appears anywhere in an item, in any attribute
 *    name or value (strings, binaries, sets, nested), whether the entry parses or not.
 *  - HV (consistent read) does not point at it. Keys are never reused, so an unreferenced blob
 *    that no write is about to commit never becomes referenced again.
 *
 * The reads happen in this order for every blob: listed, then the change log read (a full
 * consistent scan that starts after the blob was listed), then HV read. A blob that exists when
 * listed was uploaded after its entry was recorded; if the scan no longer finds that entry, the
 * write committed (HV, read later, points at the blob, unless a later write replaced it: then
 * it is unreferenced for good) or was abandoned (it never commits: its instance is fenced).
 * Each delete batch is checked against HV once more right before it is sent, and against the
 * blobs that items of other objects point at (an item copied to rename an object: no writer
 * makes one, but its blob is referenced), read by one scan of the objects table before the run's
 * first delete. A report-only run does not scan it (a read-only role may not): it lists such a
 * blob among the orphans, as a `delete` run does before keeping it at the re-check.
 *
 * Blobs of expired objects (the backstop of expiry, see `expired-blobs.ts`): a blob HV points
 * at, whose item expired longer ago than TTL's lag plus the stream's retention, is one TTL has
 * not removed (off, on another attribute, behind, or ignoring it), and will never be deleted by
 * the objects table's stream: it is reported as "expired, not removed by TTL". With
 * `delete`, under the same rules as an orphan (old enough, named by no change-log item) and
 * only while the item is still exactly the expired state read, the audit removes the item as
 * TTL would (a conditional DeleteItem: same blob, version and expiry, expired now), then
 * deletes the blob after the same re-check as an orphan's. A blob an unexpired item points at
 * is never touched: an expired item never becomes live again (a read's refresh requires it
 * unexpired; a write replaces its blob, and blob keys are never reused). "Expired" is judged by
 * the earlier of the audit's clock and S3's, so an operator's clock running ahead (days, a
 * wrong year) cannot make a live object look expired.
 *
 * An objects-table item the audit does not understand (none of the configured attributes that
 * say what it is: `TIERLOG_HV_ATTRIBUTES` not as the writers') says nothing about what it points
 * at: its object's blob is `undecided`, not an orphan, and with `delete` every delete of the run
 * is refused (`hv-shape.ts`).
 *
 * An objects table that is not this bucket's store (another deployment's, a variable from the
 * wrong shell) makes every blob look an orphan. Until the run has seen a listed blob that HV
 * points at, a sample of the table's pointers must show one in this bucket (`store-binding.ts`),
 * or the blobs it would call orphans are `undecided` and, with `delete`, every delete of the run
 * is refused (`deleteRefused`). A store that truly holds no large object is confirmed with
 * `emptyStoreOk`. A sample the caller may not read (a read-only role) decides nothing: undecided.
 * A restored copy of this store's own table binds, yet misses every blob committed after its
 * restore point: DescribeTable, once per run, and through a restored table no pointer the run
 * reads shows written since, a blob it would call an orphan that may have been written after that
 * point is undecided, naming the restore; a DescribeTable refused or failing refuses every delete
 * (`restored-table.ts`).
 * Report-only runs judge exactly as `delete` runs do: a report never calls a blob an orphan that
 * a `delete` run would not take for one.
 *
 * The listing must be the whole prefix, each key once: a key not after the one before it (S3
 * lists in ascending order; a page answered twice) or a truncated page without a continuation
 * token stops the audit (`ListingError`), so no key is judged, counted or deleted twice, and half
 * a prefix is never reported as all of it. A clock that does not read ms since the epoch (seconds:
 * every blob young), a safety age reaching back before 2000, or batch sizes that are not whole
 * numbers of at least 1 (a delete batch of NaN deleted nothing) are refused before any request.
 *
 * Change-log items that cannot be trusted: an entry that does not parse but has a readable
 * object id holds every blob of that object (reported as in flight). An entry with no readable
 * object id, or an item that cannot be read at all, refuses every delete of the run
 * (`deleteRefused`): the audit still reports, and deletes nothing, until an operator looked at
 * the item (`tierlog inspect`). So does an instance item stamped with another objects table than
 * this store's (two stores never share a change-log table): the table named may be that store's
 * change log, which names none of this store's writes in flight. Nothing read from a corrupt item
 * ever drives a delete.
 */
import { type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { CONFIG_ENV, hvAttributeNames, isValidPrefix, type TierlogConfig, validateConfig } from '../config.js';
import { MULTIPART_PART_SIZE, S3_DELETE_BATCH, S3_SOCKET_TIMEOUT_MS } from '../constants.js';
import { keepClassNames } from '../class-names.js';
import { AccessDeniedError, ConfigError, stoppedAfterMessage, TierlogError, ValidationError } from '../errors.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import { assertClock, type Clock, isUuidV7, systemClock } from '../ids.js';
import { assertClientOf, createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { isCredentialRefusal, refusedOutright, translateAwsError } from '../aws/errors.js';
import { serverClockOffset } from '../aws/server-clock.js';
import { advancingPages } from '../aws/table-pages.js';
import {
  assertChangeLogShape,
  type CorruptChangeLogItem,
  probeTable,
  protectorOf,
  readChangeLogProtection,
} from './change-log-protection.js';
import { unrecognisedHvItems } from './hv-shape.js';
import { bindingRefusal, checkStoreBinding, type StoreBinding } from './store-binding.js';
import { type ReadPointer, RestoredCopyCheck } from './restored-table.js';
import { isUnrecognised } from '../tiered/hv-item-shape.js';
import { checkBlobKey, encodeObjectId } from '../tiered/blob-keys.js';
import { type BlobReference, HvTable } from '../tiered/hv-table.js';
import { judgeExpiredReference } from './expired-blobs.js';
import { removeExpiredItem } from './expired-removal.js';
import { type DeleteFailure, DeleteManyIncompleteError, type ListedBlob, LtBucket } from '../tiered/lt-bucket.js';
import { assertObjectKey } from '../tiered/object-key.js';

export type { CorruptChangeLogItem } from './change-log-protection.js';

/** The smallest safety age the audit accepts: 1 hour. */
export const MIN_AUDIT_AGE_MS = 60 * 60_000;
/** The default safety age of the CLI: 24 hours. */
export const DEFAULT_AUDIT_AGE_MS = 24 * 60 * 60_000;

/** Options of {@link audit}: any other name is a `ValidationError`, before any request. */
export interface AuditOptions {
  /** Table, bucket, prefix and HV attribute names (the writers' configuration). */
  readonly config: TierlogConfig;
  /** Default: a client from the environment. */
  readonly dynamodb?: DynamoDBClient;
  /**
   * Default: a client from the environment that gives up an idle socket after
   * `S3_SOCKET_TIMEOUT_MS` (the audit streams no body, and has no deadline to stop waiting at).
   */
  readonly s3?: S3Client;
  /**
   * Milliseconds since the epoch. Default `Date.now`. Expiry is judged by the earlier of this
   * clock and S3's (as the SDK measures it), so a clock running ahead never removes a live object;
   * ages are judged on this clock set back by as much as it runs ahead of S3's, so a clock running
   * ahead never makes a young blob old enough.
   */
  readonly clock?: Clock;
  /** Safety age: only blobs older than this (ms) by both clocks are considered. At least 1 h. */
  readonly olderThanMs: number;
  /**
   * Delete the orphans found, and remove the items of objects expired long ago that TTL has not
   * removed as TTL would (a DeleteItem conditional on the expired state read), then delete their
   * blobs. Default false (report only).
   */
  readonly delete?: boolean;
  /** Called after each listed page and each checked batch. */
  readonly onProgress?: (progress: AuditProgress) => void;
  /** Keys per ListObjectsV2 page. Default 1 000 (S3's maximum). */
  readonly pageSize?: number;
  /**
   * Old-enough blobs checked per round (one change-log scan, then HV reads, then deletes).
   * Default 10 000.
   */
  readonly checkBatch?: number;
  /** Keys per DeleteObjects request. Default 1 000. */
  readonly deleteBatch?: number;
  /** Called right before each delete request with its keys (tests, logs). */
  readonly beforeDelete?: (keys: readonly string[]) => void | Promise<void>;
  /**
   * The store holds no large object, so every blob under the prefix is garbage: lets `delete`
   * proceed when the objects table points at no blob at all. Without it, such a table refuses
   * every delete, since it may be another deployment's (`store-binding.ts`). It never overrides a
   * table that points at blobs that are not in this bucket. Default false.
   */
  readonly emptyStoreOk?: boolean;
  /**
   * Stops the audit at its next safe point: before the next listing page, the next round of
   * checks, the next page of the objects table's scan before the run's first delete, or a round's
   * first change (its reads done), never once a round has begun to change
   * things, so an expired object's item is never removed without its blob.
   * It then throws {@link AuditIncompleteError} with what it did and found (when it changed
   * something, or found what a person must read: keys that are no blob keys, corrupt change-log
   * items, undecided blobs, the refusal of every delete, and, without `delete`, orphans or expired
   * objects' blobs), or the signal's reason when it did and found none of that. The CLI aborts it on Ctrl-C.
   */
  readonly signal?: AbortSignal;
}

/** The audit's counts so far, given to `onProgress` after each page and round. */
export interface AuditProgress {
  /** Keys listed under `<prefix>/`. */
  readonly listed: number;
  /** Old enough, and checked against the change log and HV. */
  readonly checked: number;
  /** Orphans found. */
  readonly orphans: number;
  /** Blobs a change-log item protects. */
  readonly inFlight: number;
  /** Keys that are not blob keys. */
  readonly unparseable: number;
  /** Orphans deleted. */
  readonly deleted: number;
}

/** A blob no object points at and no change-log item names. */
export interface OrphanBlob {
  /** The blob's key. */
  readonly key: string;
  /** The object key its key names. */
  readonly objectId: string;
  /** Its size in bytes. */
  readonly size: number;
  /** ISO time of S3's LastModified. */
  readonly lastModified: string;
  /** Age by the younger of LastModified and the UUIDv7 time, ms. */
  readonly ageMs: number;
}

/** An old, unreferenced-looking blob that a change-log item protects: never deleted. */
export interface InFlightBlob {
  /** The blob's key. */
  readonly key: string;
  /** The object key its key names. */
  readonly objectId: string;
  /** The instance item that names it (or holds an unreadable entry for its object). */
  readonly instanceId: string;
  /** `named`: the item names the blob; `unreadableEntry`: an unparseable entry is about its object. */
  readonly why: 'named' | 'unreadableEntry';
}

/** A blob the audit could not judge (see {@link AuditReport.undecided}). */
export interface UndecidedBlob {
  /** The blob's key. */
  readonly key: string;
  /** The object key its key names. */
  readonly objectId: string;
  /** Its size in bytes. */
  readonly size: number;
  /** Why the objects table's answer about it could not be trusted. */
  readonly reason: string;
}

/** A blob HV points at whose object expired so long ago that its stream event was evidently lost. */
export interface ExpiredBlob {
  /** The blob key. */
  readonly key: string;
  /** The key of the expired object that points at it. */
  readonly objectId: string;
  /** The blob's size in bytes, from the listing. */
  readonly size: number;
  /** ISO time the object expired. */
  readonly expiredAt: string;
  /** How far past expiry + TTL lag + stream retention + margin, ms. */
  readonly overdueMs: number;
  /** Always "expired, not removed by TTL" (with the object and the causes), for the report. */
  readonly reason: string;
}

/** What an {@link audit} found and did. */
export interface AuditReport {
  /** The bucket listed. */
  readonly bucket: string;
  /** The prefix listed (`<prefix>/`). */
  readonly prefix: string;
  /** The safety age: younger blobs are not checked. */
  readonly olderThanMs: number;
  /** When the audit started (ISO). */
  readonly at: string;
  /** Deleting was asked for. */
  readonly delete: boolean;
  /** Keys listed under `<prefix>/`. */
  listed: number;
  /** Old enough and checked against the change log and HV. */
  checked: number;
  /** Checked, and HV points at them. */
  referenced: number;
  /** Younger than the safety age by either clock: not checked, never deleted. */
  young: number;
  /** Checked: HV does not point at them and no change-log item names them. */
  readonly orphans: OrphanBlob[];
  /** The orphans' bytes, in all. */
  orphanBytes: number;
  /** Checked: HV does not point at them, but a change-log item does (a write in flight). */
  readonly inFlight: InFlightBlob[];
  /** Checked: HV points at them from an object that expired long ago (expired, not removed by TTL). */
  readonly expired: ExpiredBlob[];
  /** Checked: HV points at them from an expired object whose cleanup (TTL, then the stream) is still due. */
  expiredPending: number;
  /** Items of expired objects removed as TTL would, with `delete` (their blobs are counted in `deleted`). */
  expiredRemoved: number;
  /**
   * Checked: HV seems not to point at them and no change-log item names them, but the audit could
   * not trust that answer: the object's item is not understood under the configured attribute
   * names (`TIERLOG_HV_ATTRIBUTES` not the writers'; at the check, or at the re-check right before
   * its delete), or the objects table was not shown to be this
   * bucket's store (another deployment's, an empty one, a sample it could not read); or the blob of
   * an expired object whose item has no numeric version to remove it on; or a blob a restored copy
   * of the table cannot judge (written, or its object expired, after the restore point), or any, when
   * DescribeTable failed (`restored-table.ts`). Never deleted, with or without `delete`, never
   * orphans: each with why. All but a restored copy's also refuse every delete of the run
   * ({@link undecidedRefusal}).
   */
  readonly undecided: UndecidedBlob[];
  /** Keys that are not blob keys of this library: reported, never deleted. */
  readonly unparseable: Array<{ readonly key: string; readonly reason: string }>;
  /**
   * Blob keys of stores whose prefix is nested in this one (`<prefix>/staging` under `<prefix>`),
   * how many under each such prefix (`nestedStorePrefix`): another store's, which its own
   * audit judges. Never judged here, never deleted, no finding.
   */
  readonly nestedStores: Record<string, number>;
  /** Change-log items or entries that do not parse (from the last scan). */
  readonly corruptChangeLog: CorruptChangeLogItem[];
  /** Set when deleting was asked for but refused (see the module doc); nothing was deleted. */
  deleteRefused?: string;
  /**
   * Why a `delete` run refuses every delete on what the change log holds (an item that cannot be
   * read, an entry that names no object, an item a writer of another store stamped: the first such
   * reason of the run), with or without `delete`, so a report-only run does not send its reader to
   * a `--delete` that would delete nothing. With `delete`, {@link deleteRefused} says it too.
   */
  changeLogRefusal?: string;
  /**
   * Why a `delete` run refuses every delete on what its undecided blobs show (an objects-table item
   * not understood, a table not shown to be this bucket's store, DescribeTable refused or failing,
   * an expired object's item without a version: the first such reason of the run), with or without
   * `delete`. Absent when every undecided blob is one a restored copy of the table cannot judge
   * (restored-table.ts), which a `delete` run keeps while it deletes the orphans: a report-only run
   * said of them that `--delete` would delete nothing. With `delete`, {@link deleteRefused} says it too.
   */
  undecidedRefusal?: string;
  /** Orphans deleted. */
  deleted: number;
  /**
   * Orphans at the check, referenced at the re-check right before the delete: kept. Referenced by
   * their object's item, or by another object's (an item copied to rename an object, which the
   * check, reading by the object a blob key names, does not see; the re-check's scan of the table
   * does). The blob of an expired object another object's item points at is kept so with its item,
   * which is not removed: its removal would have the objects-stream function delete the blob.
   */
  readonly keptOnRecheck: string[];
  /** Deletes S3 refused. */
  readonly deleteFailures: DeleteFailure[];
  /**
   * Keys sent in a delete whose outcome S3 never gave (a 5xx, throttling or no answer after the
   * SDK's retries stopped the audit): neither confirmed nor refused, they may be gone. Not counted
   * in `deleted`; only a run stopped by an error ({@link AuditIncompleteError}) has any.
   */
  readonly deleteUnknown: string[];
  /**
   * Keys of expired objects whose item's removal DynamoDB never answered (a 5xx, throttling or no
   * answer after the SDK's retries stopped the audit): the item may be gone, its blob is not
   * deleted. Not counted in `expiredRemoved`; only a run stopped by an error has any.
   */
  readonly expiredRemoveUnknown: string[];
  /**
   * With `delete`, when an error or the signal stopped the run during a round, before that round
   * had sent the delete of these (or after S3 refused that delete outright, deleting none: refused
   * credentials, a bucket gone): its orphans and expired objects' blobs it meant to delete and did
   * not (an expired object's item may have been removed: `expiredRemoved`). Still in the bucket;
   * the next audit finds them again. Absent when no round was stopped so.
   */
  notDeleted?: string[];
}

/**
 * The audit stopped on an error after it had changed something (deleted a blob, removed an
 * expired item, had a delete refused, or sent a delete or a removal whose outcome was never given),
 * or after it found what a person must read (keys that are no blob keys, corrupt change-log items,
 * undecided blobs, the refusal of every delete, and, run without `delete`, orphans or expired
 * objects' blobs): {@link report} says what it did and found until then. An error before any
 * change (or finding) is thrown as it is, and so is a `ConfigError` before any change.
 */
export class AuditIncompleteError extends TierlogError {
  constructor(
    /** The report up to the error (`deleted` counts the deletes S3 confirmed). */
    readonly report: AuditReport,
    cause: unknown,
  ) {
    super(
      stoppedAfterMessage('audit', report, cause, {
        before: [`${report.listed} keys listed`, `${report.checked} checked`],
        after: [
          ...(report.expiredRemoved > 0 ? [`${report.expiredRemoved} expired items removed`] : []),
          ...(report.deleteUnknown.length > 0 ? [`${report.deleteUnknown.length} deletes of unknown outcome (may be gone)`] : []),
          ...(report.expiredRemoveUnknown.length > 0
            ? [`${report.expiredRemoveUnknown.length} expired item removals of unknown outcome (may be gone)`]
            : []),
        ],
      }),
      { cause },
    );
  }
}
keepClassNames({ AuditIncompleteError });

export type ParsedBlobKey =
  | { readonly ok: true; readonly objectId: string; readonly uuid: string; readonly createdAt: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Parses `<prefix>/<base64url object id>/<uuidv7>`: the object segment must be the canonical
 * base64url of a valid object key, the last segment a lower-case UUIDv7.
 */
export function parseBlobKey(prefix: string, key: string): ParsedBlobKey {
  if (!key.startsWith(`${prefix}/`)) return { ok: false, reason: `not under "${prefix}/"` };
  const parts = key.slice(prefix.length + 1).split('/');
  if (parts.length !== 2) return { ok: false, reason: 'does not have the shape <prefix>/<object id>/<uuidv7>' };
  const [segment, uuid] = parts as [string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(segment)) return { ok: false, reason: 'object segment is not base64url' };
  const objectId = Buffer.from(segment, 'base64url').toString('utf8');
  if (encodeObjectId(objectId) !== segment) return { ok: false, reason: 'object segment is not the canonical base64url of a UTF-8 id' };
  try {
    assertObjectKey(objectId);
  } catch (err) {
    return { ok: false, reason: `object id is not a valid key: ${(err as Error).message}` };
  }
  if (!isUuidV7(uuid)) return { ok: false, reason: 'does not end in a lower-case UUIDv7' };
  const check = checkBlobKey(prefix, objectId, key);
  if (!check.ok) return { ok: false, reason: check.reason };
  return { ok: true, objectId, uuid, createdAt: uuidV7Time(uuid) };
}

/**
 * The prefix of the store nested in `prefix` whose blob key `key` is, or undefined: `key` is
 * `<prefix>/<segments>/<object id>/<uuidv7>`, `<prefix>/<segments>` a prefix a configuration
 * takes, and `key` exactly a blob key under it ({@link parseBlobKey}). A nested prefix is another
 * store's namespace (README: nested prefixes are safe): its keys have a segment too many to be
 * blob keys of `prefix`, so they are never this store's garbage, and they are no key that no store
 * made either. Nothing is ever deleted on this answer.
 */
export function nestedStorePrefix(prefix: string, key: string): string | undefined {
  if (!key.startsWith(`${prefix}/`)) return undefined;
  const cut = key.lastIndexOf('/', key.lastIndexOf('/') - 1);
  if (cut <= prefix.length) return undefined;
  const nested = key.slice(0, cut);
  return isValidPrefix(nested) && parseBlobKey(nested, key).ok ? nested : undefined;
}

/**
 * Keys under `prefix` that are no blob keys of its store, split as the listing audit splits them:
 * blob keys of stores nested in it, counted by prefix, and the rest, malformed (sorted).
 */
export function notBlobKeys(prefix: string, keys: readonly string[]): { malformed: string[]; nestedStores: Record<string, number> } {
  const malformed: string[] = [];
  const nestedStores: Record<string, number> = {};
  for (const key of keys) {
    const nested = nestedStorePrefix(prefix, key);
    if (nested !== undefined) nestedStores[nested] = (nestedStores[nested] ?? 0) + 1;
    else malformed.push(key);
  }
  return { malformed: malformed.sort(), nestedStores };
}

/** The ms timestamp in a UUIDv7 (its first 48 bits). */
export function uuidV7Time(uuid: string): number {
  return parseInt(uuid.slice(0, 8) + uuid.slice(9, 13), 16);
}

interface Candidate {
  readonly key: string;
  readonly objectId: string;
  readonly uuid: string;
  readonly size: number;
  readonly lastModified: number;
  readonly ageMs: number;
}

/** The names {@link AuditOptions} has: any other is refused, before any request. */
const AUDIT_OPTIONS = optionNames<AuditOptions>()(
  'config',
  'dynamodb',
  's3',
  'clock',
  'olderThanMs',
  'delete',
  'onProgress',
  'pageSize',
  'checkBatch',
  'deleteBatch',
  'beforeDelete',
  'emptyStoreOk',
  'signal',
);

/**
 * Audits the bucket; with `delete`, deletes the orphans. Resolves to the report.
 *
 * @throws ConfigError when the configuration is invalid (as `validateConfig`).
 * @throws ValidationError when `olderThanMs` is under 1 h or reaches back before 2000, `clock` does not
 *   read ms since the epoch, `pageSize`, `checkBatch` or `deleteBatch` is not a whole number of at
 *   least 1, `delete` or `emptyStoreOk` is not a boolean, `onProgress` or `beforeDelete` not a
 *   function, `signal` not an AbortSignal, or an option name is not one of {@link AuditOptions}'s.
 * @throws AuditIncompleteError when an error stops it after it changed something, or after it
 *   found what a person must read (keys that are no blob keys, corrupt change-log items, undecided
 *   blobs, the refusal of every delete; without `delete`, orphans or expired objects' blobs), with
 *   the report so far.
 */
export async function audit(options: AuditOptions): Promise<AuditReport> {
  // A misspelt option (`delet`, `olderThan`, `emptyStoreOK`) would be a default nobody chose.
  if (options === undefined) throw new ValidationError('audit takes its options (config, olderThanMs)', 'options');
  assertOptions(options, AUDIT_OPTIONS, 'audit');
  assertOptionTypes(options);
  const { config, olderThanMs } = options;
  validateConfig(config);
  // A clock in seconds (or NaN) would make every blob young: an audit that checks nothing, clean.
  if (options.clock !== undefined) assertClock(options.clock);
  const clock = options.clock ?? systemClock;
  assertSafetyAge(olderThanMs, clock());
  // NaN or 0 keys a delete request would delete nothing and report the orphans deleted.
  countOption(options.pageSize, 'pageSize', 1);
  const checkBatch = countOption(options.checkBatch, 'checkBatch', 10_000);
  const deleteBatch = Math.min(S3_DELETE_BATCH, countOption(options.deleteBatch, 'deleteBatch', S3_DELETE_BATCH));
  assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
  assertClientOf('s3', options.s3, 'S3');
  const dynamodb = options.dynamodb ?? createDynamoDBClient();
  const s3 = options.s3 ?? createS3Client({ socketTimeoutMs: S3_SOCKET_TIMEOUT_MS });
  const hv = new HvTable(config.objectsTable, dynamodb, hvAttributeNames(config));
  const lt = new LtBucket(s3, config.bucket, config.prefix, MULTIPART_PART_SIZE);
  const now = clock();
  // Expiry is judged by the earlier of the audit's clock and S3's (the SDK measures the server's
  // clock from each response's Date header: server-clock.ts): a clock
  // running ahead must never take a live object for one that expired long ago and remove it.
  const expiryNow = (): number => Math.min(clock(), Date.now() + serverClockOffset(s3));
  const report: AuditReport = {
    bucket: config.bucket,
    prefix: config.prefix,
    olderThanMs,
    at: new Date(now).toISOString(),
    delete: options.delete ?? false,
    listed: 0,
    checked: 0,
    referenced: 0,
    young: 0,
    orphans: [],
    orphanBytes: 0,
    inFlight: [],
    expired: [],
    expiredPending: 0,
    expiredRemoved: 0,
    undecided: [],
    unparseable: [],
    nestedStores: {},
    corruptChangeLog: [],
    deleted: 0,
    keptOnRecheck: [],
    deleteFailures: [],
    deleteUnknown: [],
    expiredRemoveUnknown: [],
  };
  const progress = () =>
    options.onProgress?.({
      listed: report.listed,
      checked: report.checked,
      orphans: report.orphans.length,
      inFlight: report.inFlight.length,
      unparseable: report.unparseable.length,
      deleted: report.deleted,
    });

  let binding: StoreBinding | undefined;
  // Whether the objects table is a restored copy (one DescribeTable per run, before the first delete).
  let restored: RestoredCopyCheck | undefined;
  // Of the listed blobs HV pointed at in every round so far, the one latest by both its clocks (its
  // UUIDv7 time and LastModified) and that time: if any shows a restored table written since its
  // restore point, it does, for the rounds after its own too (a round of referenced blobs alone
  // reads no DescribeTable, and the orphans of the next were kept as "no pointer read shows it").
  let latestReferenced: { readonly pointer: ReadPointer; readonly at: number } | undefined;
  const check = async (batch: Candidate[]): Promise<void> => {
    if (batch.length === 0) return;
    options.signal?.throwIfAborted();
    // Order: every blob of `batch` was listed before this scan starts; HV is read after it.
    const protection = await readChangeLogProtection(dynamodb, config.changeLogTable, config.objectsTable);
    report.corruptChangeLog.splice(0, report.corruptChangeLog.length, ...protection.corrupt);
    if (protection.refuse !== undefined) {
      report.changeLogRefusal ??= protection.refuse;
      if (report.delete) report.deleteRefused ??= protection.refuse;
    }
    const unprotected: Candidate[] = [];
    for (const c of batch) {
      const protector = protectorOf(protection, c.objectId, c.uuid);
      if (protector !== undefined) report.inFlight.push({ key: c.key, objectId: c.objectId, ...protector });
      else unprotected.push(c);
    }
    const pointers = await hv.readBlobReferences(unprotected.map((c) => c.objectId));
    report.checked += batch.length;
    // Report-only runs judge as --delete runs do: a blob the audit cannot show unreferenced (an
    // item it does not understand, a table not shown to be this bucket's store) is undecided, never
    // an orphan; with --delete it also refuses every delete of the run.
    const undecide = (c: Candidate, reason: string): void => {
      report.undecided.push({ key: c.key, objectId: c.objectId, size: c.size, reason });
    };
    // An undecided blob on this reason refuses every delete of a --delete run; a report-only run says so.
    const refuseAll = (why: string): void => {
      report.undecidedRefusal ??= why;
      if (report.delete) report.deleteRefused ??= why;
    };
    const doomed: Candidate[] = [];
    const expired: Array<{ candidate: Candidate; ref: Required<BlobReference> & { blob: string } }> = [];
    // Listed blobs the table points at: one uploaded after a restored table's restore point shows it live.
    const referencedRead: ReadPointer[] = [];
    for (const c of unprotected) {
      const ref = pointers.get(c.objectId);
      if (ref?.blob === c.key) {
        report.referenced++;
        const pointer = { objectKey: c.objectId, blob: c.key, lastModified: c.lastModified };
        referencedRead.push(pointer);
        const at = Math.min(uuidV7Time(c.uuid), c.lastModified);
        if (latestReferenced === undefined || at > latestReferenced.at) latestReferenced = { pointer, at };
        const verdict = judgeExpiredReference(
          { key: c.objectId, blob: c.key, ...(ref.expiresAtSeconds !== undefined ? { expiresAtSeconds: ref.expiresAtSeconds } : {}) },
          expiryNow(),
        );
        if (verdict.kind === 'cleanupPending') report.expiredPending++;
        if (verdict.kind !== 'streamEventLost') continue;
        report.expired.push({
          key: c.key,
          objectId: c.objectId,
          size: c.size,
          expiredAt: new Date(verdict.expiredAt).toISOString(),
          overdueMs: verdict.overdueMs,
          reason: `expired, not removed by TTL: ${verdict.reason}`,
        });
        if (ref.version !== undefined && ref.expiresAtSeconds !== undefined)
          expired.push({ candidate: c, ref: { blob: c.key, version: ref.version, expiresAtSeconds: ref.expiresAtSeconds } });
        else {
          // No version to remove it on as TTL would: an item no writer makes, or read under names
          // not the writers'. Not removed, and not a run that did its work.
          const why = `the item of expired object ${JSON.stringify(c.objectId.slice(0, 200))} has no numeric "${hvAttributeNames(config).version}" to remove it on (TIERLOG_HV_ATTRIBUTES must be the writers')`;
          undecide(c, why);
          refuseAll(why);
        }
        continue;
      }
      doomed.push(c);
    }
    if (doomed.length > 0) {
      // HV read with names that are not the writers' makes every blob look unreferenced.
      const unrecognised = await unrecognisedHvItems(
        dynamodb,
        config.objectsTable,
        hvAttributeNames(config),
        doomed.map((c) => c.objectId),
      );
      const [first] = unrecognised.values();
      if (first !== undefined) refuseAll(first);
      const understood = doomed.filter((c) => {
        const why = unrecognised.get(c.objectId);
        if (why !== undefined) undecide(c, why);
        return why === undefined;
      });
      // Put back one at a time: `checkBatch` has no upper bound, and spread into one call some
      // 125 000 candidates passed the stack's bound for arguments (RangeError), every run.
      doomed.length = 0;
      for (const c of understood) doomed.push(c);
    }
    if (doomed.length > 0 && report.referenced === 0) {
      // A blob of this listing that HV points at proves the table is this bucket's store; until
      // the run has seen one, a sample of the table's pointers must (store-binding.ts).
      // The candidates' own objects first: an overwritten one points at the blob that replaced it.
      const read = doomed.flatMap((c) => {
        const blob = pointers.get(c.objectId)?.blob;
        return typeof blob === 'string' ? [{ objectKey: c.objectId, blob }] : [];
      });
      binding ??= await sampleStoreBinding(dynamodb, hv, lt, read);
      const refusal = bindingRefusal(binding, options.emptyStoreOk ?? false);
      if (refusal !== undefined) {
        refuseAll(refusal);
        for (const c of doomed.splice(0)) undecide(c, refusal);
      }
    }
    if (doomed.length > 0 || expired.length > 0) {
      // A restored copy of this store's table binds, yet misses every blob committed since its
      // restore point (restored-table.ts): those are kept unless the table is shown written since;
      // so are the objects it shows expired that expired after that point (live in the store if read since).
      restored ??= await RestoredCopyCheck.read(dynamodb, config.objectsTable, lt);
      await restored.lookAt([
        ...(latestReferenced !== undefined ? [latestReferenced.pointer] : []),
        ...referencedRead,
        ...doomed.flatMap((c) => {
          const blob = pointers.get(c.objectId)?.blob;
          return typeof blob === 'string' ? [{ objectKey: c.objectId, blob }] : [];
        }),
      ]);
      if (restored.refusal !== undefined) refuseAll(restored.refusal);
      const judged = doomed.splice(0);
      for (const c of judged) {
        const why = restored.keeps({ createdAt: uuidV7Time(c.uuid), lastModified: c.lastModified });
        if (why !== undefined) undecide(c, why);
        else doomed.push(c);
      }
      const expiring = expired.splice(0);
      for (const e of expiring) {
        const why = restored.keepsExpired(e.ref.expiresAtSeconds * 1_000);
        if (why !== undefined) undecide(e.candidate, why);
        else expired.push(e);
      }
    }
    for (const c of doomed) {
      report.orphans.push({
        key: c.key,
        objectId: c.objectId,
        size: c.size,
        lastModified: new Date(c.lastModified).toISOString(),
        ageMs: c.ageMs,
      });
      report.orphanBytes += c.size;
    }
    if (report.delete && report.deleteRefused === undefined && (doomed.length > 0 || expired.length > 0)) {
      // The round's reads done (the last may take minutes: the objects table's scan before the
      // run's first delete), none of its changes begun: a signal given during them stops the run
      // here, so nothing is removed or deleted after it. Once a change is made, the round ends.
      // The blobs of the round whose delete is not sent yet: said if the round stops before it is.
      unsent.clear();
      for (const c of doomed) unsent.add(c.key);
      for (const { candidate } of expired) unsent.add(candidate.key);
      try {
        otherObjectsBlobs ??= await blobsOfOtherObjects(dynamodb, hv, config.prefix, options.signal);
        options.signal?.throwIfAborted();
        // An expired object's item goes first, as TTL would remove it; its blob then is an orphan.
        for (const { candidate, ref } of expired) {
          // Unless the item of another object points at its blob (an item copied to rename it): the
          // removal is a REMOVE on the objects table's stream, and the stream function, reading the
          // removed item's key alone, deletes the blob the re-check below would keep. Both stay.
          if (otherObjectsBlobs.has(candidate.key)) {
            report.keptOnRecheck.push(candidate.key);
            unsent.delete(candidate.key);
            continue;
          }
          // A removal DynamoDB never answered may have landed: said, and the run stops with its report.
          const outcome = await removeExpiredItem(hv, candidate.objectId, ref, expiryNow(), (id) => report.expiredRemoveUnknown.push(id));
          if (outcome === 'changed') {
            report.keptOnRecheck.push(candidate.key);
            unsent.delete(candidate.key);
            continue;
          }
          // Removed, or gone (not counted as removed: no answer confirmed the audit removed it):
          // nothing points at the blob, an orphan deleted after the same re-check.
          if (outcome === 'removed') report.expiredRemoved++;
          doomed.push(candidate);
        }
        for (let i = 0; i < doomed.length && report.deleteRefused === undefined; i += deleteBatch) {
          await deleteChecked(doomed.slice(i, i + deleteBatch));
        }
      } catch (err) {
        if (unsent.size > 0) report.notDeleted = [...unsent];
        throw err;
      }
    }
    progress();
  };

  // Blobs under the prefix that an item of ANOTHER object points at (an item copied to rename an
  // object: no writer makes one, and the read by the object a blob key names shows nothing):
  // read once, by a full scan of the objects table, before the run's first delete.
  let otherObjectsBlobs: Map<string, string> | undefined;
  // Keys of the round under way that it means to delete and has sent no delete for (a kept one leaves it too).
  const unsent = new Set<string>();
  const deleteChecked = async (batch: Candidate[]): Promise<void> => {
    // Right before deleting: is each still unreferenced? (Belt and braces: keys are never
    // reused, and the change log protects writes in flight.)
    const again = await hv.readBlobPointers(batch.map((c) => c.objectId));
    otherObjectsBlobs ??= await blobsOfOtherObjects(dynamodb, hv, config.prefix);
    const keys: string[] = [];
    for (const c of batch) {
      const pointer = again.get(c.objectId);
      if (isUnrecognised(pointer)) {
        // An item it does not understand, seen only now: as at the check, undecided (it may point
        // at the blob under other names), and every delete of the run from here on refused.
        report.undecided.push({ key: c.key, objectId: c.objectId, size: c.size, reason: pointer.unrecognised });
        report.undecidedRefusal ??= pointer.unrecognised;
        report.deleteRefused ??= pointer.unrecognised;
      } else if (pointer === c.key || otherObjectsBlobs.has(c.key)) report.keptOnRecheck.push(c.key);
      else keys.push(c.key);
    }
    const sending = new Set(keys);
    for (const c of batch) if (!sending.has(c.key)) unsent.delete(c.key);
    if (keys.length === 0 || report.deleteRefused !== undefined) return;
    await options.beforeDelete?.(keys);
    const before = report.deleted + report.deleteFailures.length + report.deleteUnknown.length;
    try {
      await deleteCounted(lt, keys, report);
    } catch (err) {
      // A request S3 refused outright (refused credentials: a token that expired during an hour's
      // listing; a bucket gone) deleted none of them, and deleteCounted counted none: as never
      // sent, they stay in `notDeleted`, else the report said nowhere that they are still there.
      if (report.deleted + report.deleteFailures.length + report.deleteUnknown.length > before) for (const key of keys) unsent.delete(key);
      throw err;
    }
    for (const key of keys) unsent.delete(key);
  };

  let pending: Candidate[] = [];
  try {
    for await (const page of lt.list(options.pageSize !== undefined ? { pageSize: options.pageSize } : {})) {
      options.signal?.throwIfAborted();
      report.listed += page.length;
      for (const blob of page) {
        // Ages on the audit's clock, set back by as much as it runs ahead of S3's (the SDK has
        // measured that from the listing's Date header): an operator's clock hours ahead would
        // otherwise make every blob old enough, and the safety age would protect nothing.
        const ageNow = Math.min(now, now + serverClockOffset(s3));
        const candidate = classify(blob, config.prefix, ageNow, olderThanMs, report);
        if (candidate !== undefined) pending.push(candidate);
      }
      if (pending.length >= checkBatch) {
        await check(pending);
        pending = [];
      } else {
        progress();
      }
    }
    await check(pending);
  } catch (err) {
    // What was done must not be lost with the error; nor what it found for a person (a `tierlog
    // audit` stopped by Ctrl-C or its job's SIGTERM after an hour of listing printed none of it).
    if (changedAnything(report) || (foundForAPerson(report) && !(err instanceof ConfigError))) throw new AuditIncompleteError(report, err);
    throw err;
  }
  // No blob old enough to check read neither table: one named wrong, or gone, would pass run
  // after run (exit 0) until a blob grew old enough. One counted read of each says so now. Past
  // the run's findings: what it listed under a configuration refused here (keys that are no blob
  // keys under a misspelt prefix) is no finding of the store, and the refusal is thrown as it is.
  if (report.checked === 0) {
    await assertChangeLogShape(dynamodb, config.changeLogTable);
    await probeTable(dynamodb, config.objectsTable);
    // Nor does it say the prefix is the store's: a misspelt TIERLOG_PREFIX listed nothing (or
    // another store's young blobs), and the run reported clean, `--exit-code` 0, run after run.
    await assertPrefixOfStore(dynamodb, hv, lt, report.listed);
  }
  progress();
  return report;
}

/** Whether the audit so far deleted, removed, or sent a delete or a removal that S3 or DynamoDB refused or never answered. */
function changedAnything(report: AuditReport): boolean {
  return (
    report.deleted > 0 ||
    report.expiredRemoved > 0 ||
    report.deleteFailures.length > 0 ||
    report.deleteUnknown.length > 0 ||
    report.expiredRemoveUnknown.length > 0
  );
}

/**
 * Whether the audit so far found what a person must read, which a run stopped by an error or a
 * signal must not lose: keys that are no blob keys, corrupt change-log items, blobs it could not
 * judge, the reason every delete of a `delete` run is refused, and, without `delete`, the orphans
 * and expired objects' blobs (a `delete` run goes on to delete those, so a run again finds them).
 * Only the orphans and expired objects' blobs of a report-only run counted: a `tierlog audit`
 * stopped part-way that had found only keys no store made, or a table it could not trust (every
 * blob undecided, every delete refused), printed nothing of them, nor why it deleted nothing.
 */
function foundForAPerson(report: AuditReport): boolean {
  return (
    report.unparseable.length > 0 ||
    report.corruptChangeLog.length > 0 ||
    report.undecided.length > 0 ||
    report.deleteRefused !== undefined ||
    (!report.delete && (report.orphans.length > 0 || report.expired.length > 0))
  );
}

/**
 * For an audit that judged no blob (`keys` keys under the prefix, none checked; for a snapshot
 * audit that proposed no orphan and no loss, the keys there that are no blob keys of it, undefined
 * when there were none): a sample of the
 * objects table's pointers (store-binding.ts) must not show them all outside `<prefix>/`. Such a run
 * reported clean, `--exit-code` 0, run after run, under a `TIERLOG_PREFIX` that is not the writers'
 * (misspelt, another environment's), while the table points at blobs elsewhere (the pair `tierlog
 * sweep` refuses). An empty store, a table of inline objects and a sample that could not decide
 * pass: nothing says the prefix is wrong.
 *
 * @throws ConfigError naming `TIERLOG_PREFIX` (nothing listed or proposed) or `TIERLOG_OBJECTS_TABLE` (keys
 *   listed, none of them the table's).
 */
export async function assertPrefixOfStore(dynamodb: DynamoDBClient, hv: HvTable, lt: LtBucket, keys?: number): Promise<void> {
  const binding = await sampleStoreBinding(dynamodb, hv, lt);
  if (binding.kind !== 'unbound') return;
  const where = `s3://${lt.bucket}/${lt.prefix}/`;
  throw new ConfigError(
    `${binding.reason.replace(/; deletes refused.*$/s, '')}: no blob under ${where} was judged (${keys === undefined ? 'the snapshots proposed none' : `${keys} ${keys === 1 ? 'key' : 'keys'} there`}); ` +
      `${CONFIG_ENV.prefix} and ${CONFIG_ENV.objectsTable} must be the writers'`,
    keys === undefined || keys === 0 ? CONFIG_ENV.prefix : CONFIG_ENV.objectsTable,
  );
}

/**
 * Deletes `keys` (confirmed orphans) and counts each in `report`: deleted, refused by S3
 * (`deleteFailures`), or in a request whose outcome is unknown (`deleteUnknown`: S3 answered nothing
 * of it, so it may have deleted them), the run then stopping with the error, its report saying what
 * was done. A request S3 refused outright (a missing bucket) deleted nothing: no outcome unknown.
 * The listing audit's and the snapshot audit's re-verification's one way to delete.
 */
export async function deleteCounted(
  lt: LtBucket,
  keys: string[],
  report: { deleted: number; readonly deleteFailures: DeleteFailure[]; readonly deleteUnknown: string[] },
): Promise<void> {
  let failures: DeleteFailure[];
  try {
    failures = await lt.deleteMany(keys);
  } catch (err) {
    const answered = new Set<string>();
    if (err instanceof DeleteManyIncompleteError) {
      report.deleteFailures.push(...err.failures);
      report.deleted += err.deleted;
      for (const key of err.deletedKeys) answered.add(key);
      for (const failure of err.failures) answered.add(failure.key);
    }
    if (err instanceof DeleteManyIncompleteError || !refusedOutright(err))
      report.deleteUnknown.push(...keys.filter((key) => !answered.has(key)));
    throw err instanceof DeleteManyIncompleteError ? err.cause : err;
  }
  report.deleteFailures.push(...failures);
  report.deleted += keys.length - failures.length;
}

/**
 * The blobs under `prefix/` that an objects-table item points at whose blob key names another
 * object (`checkBlobKey`): an item copied to rename an object, which no writer makes, but which
 * the writers, the sweeper and the stream function never delete the blob of. Read by the object
 * its key names, such a blob looks unreferenced. One full, consistent Scan (key and blob
 * projected); blob -> the key of the item that points at it. `signal` stops it as each page comes
 * (a large table's scan takes minutes to hours, and a Ctrl-C during it waited for its end).
 *
 * @throws the Scan's error, translated; the signal's reason once it is aborted.
 */
export async function blobsOfOtherObjects(
  dynamodb: DynamoDBClient,
  hv: HvTable,
  prefix: string,
  signal?: AbortSignal,
): Promise<Map<string, string>> {
  const a = hv.attrs;
  const found = new Map<string, string>();
  const pages = paginateScan(
    { client: dynamodb },
    {
      TableName: hv.tableName,
      ConsistentRead: true,
      FilterExpression: 'attribute_type(#b, :s)',
      ProjectionExpression: '#k, #b',
      ExpressionAttributeNames: { '#k': a.key, '#b': a.blob },
      ExpressionAttributeValues: { ':s': { S: 'S' } },
    },
  );
  try {
    for await (const page of advancingPages(pages, { table: hv.tableName, operation: 'Scan' })) {
      signal?.throwIfAborted();
      for (const item of page.Items ?? []) {
        const key = item[a.key]?.S;
        const blob = item[a.blob]?.S;
        if (key === undefined || blob === undefined || !blob.startsWith(`${prefix}/`)) continue;
        if (!checkBlobKey(prefix, key, blob).ok) found.set(blob, key);
      }
    }
  } catch (err) {
    throw translateAwsError(err, { operation: 'Scan', table: hv.tableName });
  }
  return found;
}

/**
 * {@link checkStoreBinding}, as both audits take it (the listing audit and the snapshot audit's
 * re-verification, with or without `delete`); a sample the caller may not take (a role of the
 * user's own without a Scan of the objects table; tierlog's read-only operator grant has it) decides nothing: `undecided`, so no blob is called an orphan
 * and nothing is deleted on it. Refused credentials (an expired token) are thrown: they say nothing
 * of the grant, and the run cannot go on.
 */
export async function sampleStoreBinding(
  dynamodb: DynamoDBClient,
  hv: HvTable,
  lt: LtBucket,
  pointers: ReadonlyArray<{ readonly objectKey: string; readonly blob: string }> = [],
): Promise<StoreBinding> {
  try {
    return await checkStoreBinding({ dynamodb, hv, lt, pointers });
  } catch (err) {
    if (!(err instanceof AccessDeniedError) || isCredentialRefusal(err.cause)) throw err;
    return {
      kind: 'undecided',
      reason: `could not tell whether the objects table "${hv.tableName}" is the store of s3://${lt.bucket}/${lt.prefix}/ (its sample: ${err.message}); deletes refused`,
    };
  }
}

/**
 * Refuses a switch or a callback of {@link AuditOptions} that is not of its type, from a caller
 * without types (a job's environment, a JSON file): `"false"` is truthy, so `delete: "false"`
 * deleted and `emptyStoreOk: "false"` took an objects table that points at no blob for an empty
 * store; a callback that is no function failed the run after it had begun.
 *
 * @throws ValidationError naming the option.
 */
function assertOptionTypes(options: AuditOptions): void {
  for (const name of ['delete', 'emptyStoreOk'] as const) {
    const value: unknown = options[name];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new ValidationError(`${name} must be true or false, got ${kindOf(value)}`, name);
    }
  }
  for (const name of ['onProgress', 'beforeDelete'] as const) {
    const value: unknown = options[name];
    if (value !== undefined && typeof value !== 'function') {
      throw new ValidationError(`${name} must be a function, got ${kindOf(value)}`, name);
    }
  }
  // What the audit calls of it (an AbortSignal of another realm passes).
  const signal: unknown = options.signal;
  if (signal !== undefined && typeof (signal as Partial<AbortSignal> | null)?.throwIfAborted !== 'function') {
    throw new ValidationError(`signal must be an AbortSignal, got ${kindOf(signal)}`, 'signal');
  }
}

/** 2000-01-01T00:00:00Z, ms: no blob key (a UUIDv7), and no clock of a writer, reads earlier. */
const EARLIEST_BLOB_MS = Date.UTC(2000, 0, 1);

/**
 * A count option of the audits (a page, a batch), checked: `fallback` when undefined.
 *
 * @throws ValidationError (field `name`) unless `value` is undefined or a whole number of at least 1.
 */
export function countOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isSafeInteger(value) && value >= 1)) {
    throw new ValidationError(`${name} must be a whole number of at least 1, got ${String(value)}`, name);
  }
  return value;
}

/**
 * Refuses a safety age no audit can honour: not a number or under an hour (a blob whose write is
 * still committing would pass for an orphan), or reaching back before 2000 ({@link safetyAgeTooOld}).
 * The listing audit, the snapshot audit and its re-verification all check it, before any request.
 *
 * @throws ValidationError naming `olderThanMs`.
 */
export function assertSafetyAge(olderThanMs: number, now: number): void {
  const refused = safetyAgeRefusal(olderThanMs, now);
  if (refused !== undefined) throw new ValidationError(refused.reason, 'olderThanMs');
}

/**
 * Which bound a safety age of `olderThanMs` at `now` crosses, and why, or undefined: the 1 h
 * floor (`floor`: not a number, or under an hour) or the year 2000 (`past`, {@link safetyAgeTooOld}).
 * The one rule {@link assertSafetyAge} and the CLI's `--older-than` each phrase in their own words.
 * A value that is no number (a caller without types: `"86400000"` read from a job's environment)
 * is said to be one, not an age under the floor ("at least 3600000, got 86400000").
 */
export function safetyAgeRefusal(
  olderThanMs: number,
  now: number,
): { readonly bound: 'floor' | 'past'; readonly reason: string } | undefined {
  if (typeof olderThanMs !== 'number') {
    return { bound: 'floor', reason: `olderThanMs must be a number of milliseconds, got ${kindOf(olderThanMs)}` };
  }
  if (!Number.isFinite(olderThanMs) || olderThanMs < MIN_AUDIT_AGE_MS) {
    return { bound: 'floor', reason: `olderThanMs must be at least ${MIN_AUDIT_AGE_MS} (1 h), got ${olderThanMs}` };
  }
  const tooOld = safetyAgeTooOld(olderThanMs, now);
  return tooOld === undefined ? undefined : { bound: 'past', reason: tooOld };
}

/**
 * Why a safety age of `olderThanMs` at `now` makes no sense, or undefined: one reaching back before
 * 2000 leaves no blob old enough (a unit mistaken: ns, or days typed for hours), and the audit would
 * check nothing and report every blob young.
 */
export function safetyAgeTooOld(olderThanMs: number, now: number): string | undefined {
  if (now - olderThanMs >= EARLIEST_BLOB_MS) return undefined;
  return `a safety age of ${olderThanMs} ms reaches back before ${new Date(EARLIEST_BLOB_MS).toISOString()}: no blob is that old (a unit mistaken?)`;
}

/** A candidate when the key parses and is old enough; otherwise counted in `report`. */
function classify(blob: ListedBlob, prefix: string, now: number, olderThanMs: number, report: AuditReport): Candidate | undefined {
  const parsed = parseBlobKey(prefix, blob.key);
  if (!parsed.ok) {
    const nested = nestedStorePrefix(prefix, blob.key);
    if (nested !== undefined) report.nestedStores[nested] = (report.nestedStores[nested] ?? 0) + 1;
    else report.unparseable.push({ key: blob.key, reason: parsed.reason });
    return undefined;
  }
  // Unknown LastModified, or one that is no time: young (never delete on a guess).
  if (blob.lastModified === undefined || !Number.isFinite(blob.lastModified)) {
    report.young++;
    return undefined;
  }
  const ageMs = Math.min(now - blob.lastModified, now - parsed.createdAt);
  if (ageMs < olderThanMs) {
    report.young++;
    return undefined;
  }
  return { key: blob.key, objectId: parsed.objectId, uuid: parsed.uuid, size: blob.size, lastModified: blob.lastModified, ageMs };
}
