/**
 * TieredStore: objects in two tiers, with every multi-step write made crash-safe by the change log.
 *
 * Small bodies live inline in HV (the objects table): ONE conditional write, no log, no S3.
 * Large bodies live in LT (the bucket) under a never-reused key, and HV holds a tombstone that
 * points at the blob. A write that involves a blob is several non-atomic steps, so it is a
 * {@link LoggedChange}, which owns its phases and the one cleanup rule:
 *
 *   record  the entry `{id: key, new}` (durable), in parallel with a consistent read of HV (the
 *           state to CAS against, and the blob being replaced, `old`);
 *   upload  `new` (lib-storage: multipart above one part);
 *   commit  ONE TransactWriteItems = [HV CAS on the state read, change-log element that requires
 *           the instance live and the entry present]; a create removes its entry inside the
 *           commit, an overwrite writes `old` into it. Lost to another writer: CAS again;
 *   settle  delete `old`, remove the entry; or, when the write did not land, delete `new` and
 *           remove the entry; or, when its outcome is unknown, leave the entry to the sweeper.
 *           With `settleInBackground` a landed commit's settle runs after the answer
 *           ({@link TieredStore.settled} awaits it): the caller waits for record, upload, commit.
 *
 * Replacing a blob with an inline body, and deleting a large object, upload nothing: their entry
 * `{old}` is written by the commit's own transaction (one request less before the answer). A
 * crash anywhere leaves an entry that a sweeper settles from HV alone: delete `old` unless HV
 * points at it, delete `new` unless HV points at it.
 *
 * With `config.replacedBlobCleanup: 'stream'` the objects table's stream function deletes `old`
 * when the writer could not (the commit's MODIFY record names it), so no entry names `old`: an
 * overwrite's commit removes its entry, and a change that uploads nothing is a plain conditional
 * HV write with no entry and no transaction (see {@link LoggedChange}).
 *
 * A delete leaves a deletion marker that keeps the version counter, so a version (and an ETag)
 * names one state of one incarnation of a key: an `ifVersion` taken before a delete never matches
 * the object re-created after it. Reads treat a marker as absent. A write where no item exists
 * (never written, or removed by TTL) starts at a version drawn from its clock (versions.ts), above
 * every version an earlier incarnation of the key could have reached.
 *
 * Expiry (lib/tiered/expiry.ts): a put may set `expiresAt`, `timeToLiveMs` or `timeToIdleMs`,
 * stored as the TTL attribute, fixed at the put's start (a put whose expiry has passed by its
 * commit is refused: ValidationError, nothing written; no attempt of any of its writes, an SDK
 * retry included, goes out past it: `expiryCheck`). An item at or past its expiry is absent to reads, to `ifVersion`
 * and to delete (conditions carry `liveAt`) while DynamoDB has not yet removed it. A write over
 * an expired item CASes on the item as stored, continues at its version + 1, and names its blob
 * as `old` (deleted at settle). A deletion marker never carries an expiry. Reads of a
 * time-to-idle object (whole, ranged or presigned) move its expiry on (debounced, conditional,
 * never failing the read); a presigned GET never lives past the object's expiry.
 *
 * The change log is wrapped once, at construction ({@link fencedLogOf}): a log that cannot fence
 * gets the same path, with a plain conditional write as its commit.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { types } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { replacedBlobCleanupOf, resolveHvAttributes, type TierlogConfig, validateConfig } from '../config.js';
import type { ChangeLog } from '../changelog/change-log.js';
import { oldItemOf } from '../changelog/instance-table.js';
import { DEFAULT_INLINE_THRESHOLD, MAX_TIMER_MS, MULTIPART_PART_SIZE } from '../constants.js';
import { isInlineThreshold, MAX_INLINE_THRESHOLD } from './writer-env.js';
import { isIntegerIn } from '../env-integers.js';
import {
  AccessDeniedError,
  BlobMissingError,
  CommitOutcomeUnknownError,
  CommitRefusedError,
  ConfigError,
  ContentionError,
  InvocationEndedError,
  ValidationError,
  VersionConflictError,
} from '../errors.js';
import { type Clock, newChangeId, systemClock, wholeMsClock } from '../ids.js';
import { assertClientOf, createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { awsErrorName, isConditionalCheckFailed, isTransactionConflict, translateAwsError } from '../aws/errors.js';
import { earlierAttemptMayHaveApplied, requestMayHaveApplied } from '../aws/attempts.js';
import { sleepBackoff, THROTTLED_BACKOFF_MS } from '../aws/backoff.js';
import { AttemptNotSent, checkBeforeEachAttempt, guardEachAttempt, restatedAtEachAttempt } from '../aws/retry-loop.js';
import { newBlobKey } from './blob-keys.js';
import {
  type Expected,
  expectedOf,
  type HvAttributeNames,
  type HvRecord,
  HvTable,
  type HvWrite,
  type HvWriteFields,
  inlineBodyOf,
  liveOf,
  LIVE_AT_VALUE,
} from './hv-table.js';
import { guardedWrite, neverSent } from './commit.js';
import { type ChangeContext, LoggedChange } from './logged-change.js';
import { LtBucket } from './lt-bucket.js';
import {
  ExpiredSinceJudgedError,
  isExpired,
  refuseIfExpired,
  type StoredExpiry,
  storedExpiryOf,
  ttiRefresh,
  ttiRefreshMarginMs,
  unexpiredCheck,
} from './expiry.js';
import { assertContentType, assertMetadata, assertObjectKey } from './object-key.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import {
  type DeleteOptions,
  type GetOptions,
  type GetResult,
  infoOf,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
  type SessionScope,
  type StreamResult,
  type UrlResult,
} from './object-info.js';
import { fencedLogOf } from './plain-log-adapter.js';
import { nextVersion } from './versions.js';

export type {
  DeleteOptions,
  GetOptions,
  GetResult,
  ObjectInfo,
  PutOptions,
  PutResult,
  SessionScope,
  StreamResult,
  UrlResult,
} from './object-info.js';
import { assertByteRange, type ByteRange, resolveRange } from './byte-range.js';
import { GrownPastLimit, readRange } from './ranged-read.js';
import type { UploadedPart } from './lt-bucket.js';
import {
  type CompletedPart,
  type CreatedUpload,
  type CreateUploadOptions,
  type PartUrlOptions,
  checkPresignGetLifetime,
  type PresignedGet,
  UploadSessions,
} from './upload-sessions.js';

/** Options of {@link TieredStore}: any other name is a `ValidationError` at construction. */
export interface TieredStoreOptions {
  /** Table, bucket and prefix names. */
  readonly config: TierlogConfig;
  /**
   * The change log writes that involve a blob go through. A `DynamoChangeLog` gives fenced
   * commits; any other {@link ChangeLog} is adapted (its commit is a plain conditional write).
   */
  readonly changeLog: ChangeLog;
  /** Default: a client from the environment. A client of another service is a ValidationError at construction. */
  readonly dynamodb?: DynamoDBClient;
  /** Default: a client from the environment. A client of another service is a ValidationError at construction. */
  readonly s3?: S3Client;
  /**
   * Bodies up to this many bytes are stored inline in HV. Default 8 KiB (see the README's
   * "inline threshold"); at most 384 KiB (the item limit less room for the other attributes).
   * A writer may read it from `TIERLOG_INLINE_THRESHOLD` with `writerTuningFromEnv`.
   */
  readonly inlineThreshold?: number;
  /** Milliseconds since the epoch (a ValidationError at construction unless it reads 2000 to 2255: not seconds). Default `Date.now`. */
  readonly clock?: Clock;
  /**
   * HV attribute names. Set them in the configuration (`config.hvAttributes`,
   * `TIERLOG_HV_ATTRIBUTES`), which every component reads; this option is kept for
   * compatibility and must agree with the configuration (a `ConfigError` otherwise).
   */
  readonly attributes?: Partial<HvAttributeNames>;
  /** Multipart part size for uploads: an integer from 5 MiB to 5 GiB (S3's bounds; a ValidationError otherwise). Default 8 MiB. */
  readonly partSize?: number;
  /**
   * Attempts of a write without `ifVersion` that loses its CAS to other writers (and passes of a
   * read that follows a blob replaced under it). An integer, 1 or more (a ValidationError
   * otherwise: 0 or NaN would answer every write a ContentionError that no other writer caused).
   * Default 5.
   */
  readonly maxAttempts?: number;
  /**
   * Reads use consistent reads (read-your-writes): true or false (anything else, `'false'` read from
   * the environment, is a ValidationError at construction). Default true. False: a read may answer a state
   * before the latest write; a URL `getStreamOrUrl` answers is still signed from a consistent read.
   */
  readonly consistentReads?: boolean;
  /**
   * A function (anything else is a ValidationError at construction) that receives errors of in-process cleanup (what it did not clean is left to the sweeper, or a
   * replaced blob to the stream function with `replacedBlobCleanup: 'stream'`). What it throws,
   * or the rejection of the promise an async one returns, changes nothing.
   */
  readonly onCleanupError?: (err: unknown, context: { key: string; changeId: string; blob?: string }) => void;
  /**
   * Answer a write as soon as its commit landed and run its settle (delete the replaced blob,
   * remove the entry) in the background; {@link TieredStore.settled} awaits it. True or false (anything
   * else, `'false'` read from the environment, is a ValidationError at construction). Default false:
   * a write resolves after its settle. A process that may stop or freeze right after answering
   * (a Lambda handler) must `await store.settled()` before it returns; whatever it does not
   * finish is left as after a crash: to the sweeper (its entry stays in the log) or, with
   * `replacedBlobCleanup: 'stream'`, a replaced blob to the objects table's stream function.
   */
  readonly settleInBackground?: boolean;
  /**
   * Grace after an upload session's expiry before a sweeper may take it (the session's lease is
   * its expiry plus this): an integer of ms, 0 to 1 day. Default 15 min, a Lambda's longest
   * invocation, so a complete that started before the expiry has finished. Shorter is safe (the
   * sweeper's claim fences a complete still running: it is refused, nothing committed) but
   * refuses such completes; the drill, on compressed time, takes 1 s.
   */
  readonly completeGraceMs?: number;
}

/** A put's options with its expiry computed once (at the start of the put). */
interface PutPlan extends PutOptions {
  readonly expiry: StoredExpiry;
  /** Throws once the invocation the put began in has ended ({@link TieredStore.invocationCheck}). */
  readonly ended: (() => void) | undefined;
}

const RETRY = Symbol('retry');

/**
 * How long a time-to-idle refresh that moved an object on answers the reads of the state it moved
 * it from (reads whose item came back before it landed). A minute: longer than such a read
 * takes as a rule, and the refreshes kept are those of the last minute only.
 */
const REFRESHED_HOLD_MS = 60_000;
type Attempt<T> = T | typeof RETRY;

/**
 * A commit DynamoDB cancelled for load alone (`error`, the cancellation): {@link TieredStore}'s
 * retry loop tries again, after a longer wait than for a lost CAS, and throws `error` once its
 * attempts run out: the caller learns the table is throttled (retry later), not that other
 * writers won.
 */
class ThrottledCommit extends Error {
  constructor(readonly error: unknown) {
    super('commit throttled');
  }
}

/**
 * The names each call's options object takes ({@link assertOptions}: any other is refused, so a
 * misspelt `ifVersion` or expiry is an error, not an unconditional or permanent write).
 */
const EXPIRY_OPTIONS = ['expiresAt', 'timeToLiveMs', 'timeToIdleMs'] as const;
const OPTIONS = {
  put: ['contentType', 'metadata', 'ifVersion', ...EXPIRY_OPTIONS],
  delete: ['ifVersion'],
  get: ['range'],
  getStreamOrUrl: ['range', 'maxBytes', 'expiresInMs'],
  getBytesOrUrl: ['range', 'maxBytes', 'expiresInMs'],
  presignGet: ['expiresInMs'],
  settled: ['timeoutMs'],
  createUpload: ['size', 'partSize', 'contentType', 'metadata', 'ifVersion', 'expiresInMs', ...EXPIRY_OPTIONS],
  uploadPartUrl: ['expiresInMs', 'key'],
  session: ['key'],
} as const satisfies Record<string, readonly string[]>;

/** The names {@link TieredStoreOptions} has: any other is refused at construction. */
const STORE_OPTIONS = optionNames<TieredStoreOptions>()(
  'config',
  'changeLog',
  'dynamodb',
  's3',
  'inlineThreshold',
  'clock',
  'attributes',
  'partSize',
  'maxAttempts',
  'consistentReads',
  'onCleanupError',
  'settleInBackground',
  'completeGraceMs',
);

/**
 * Objects in two tiers: small bodies inline in the objects table, large ones as blobs in the
 * bucket, every write that involves a blob made crash-safe by the change log (see the module doc).
 */
export class TieredStore {
  /** The configuration it was made with (validated). */
  readonly config: TierlogConfig;
  /** Bodies up to this many bytes are stored inline. */
  readonly inlineThreshold: number;
  private readonly hv: HvTable;
  private readonly lt: LtBucket;
  private readonly context: ChangeContext;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
  private readonly consistentReads: boolean;
  private readonly settleInBackground: boolean;
  private readonly completeGraceMs: number | undefined;
  /** Settles of committed changes still running (with `settleInBackground`). */
  private readonly settling = new Set<Promise<void>>();

  constructor(options: TieredStoreOptions) {
    // A misspelt option (`inlineTreshold`, `settleInBackgrund`) would be a default the caller
    // did not choose, silently: refused, as every call's options are.
    if (options === undefined) throw new ValidationError('TieredStore takes its options (config, changeLog)', 'options');
    assertOptions(options, STORE_OPTIONS, 'TieredStore');
    this.config = validateConfig(options.config);
    assertLogOfThisStore(this.config, options.changeLog);
    this.inlineThreshold = options.inlineThreshold ?? DEFAULT_INLINE_THRESHOLD;
    if (!isInlineThreshold(this.inlineThreshold)) {
      throw new ValidationError(`inlineThreshold must be an integer in 0..${MAX_INLINE_THRESHOLD}`, 'inlineThreshold');
    }
    assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
    assertClientOf('s3', options.s3, 'S3');
    this.hv = new HvTable(
      options.config.objectsTable,
      options.dynamodb ?? createDynamoDBClient(),
      resolveHvAttributes(options.config, options.attributes),
    );
    this.lt = new LtBucket(
      options.s3 ?? createS3Client(),
      options.config.bucket,
      options.config.prefix,
      options.partSize ?? MULTIPART_PART_SIZE,
    );
    this.clock = wholeMsClock(options.clock ?? systemClock);
    this.maxAttempts = options.maxAttempts ?? 5;
    if (!isIntegerIn(this.maxAttempts, 1)) {
      throw new ValidationError(`maxAttempts must be an integer, 1 or more; got ${this.maxAttempts}`, 'maxAttempts');
    }
    // From a caller without types (options read from JSON or the environment): `'false'` is truthy,
    // so `settleInBackground: 'false'` answered writes before their settle (a Lambda handler that
    // did not await `settled()` left each replaced blob to the sweeper), `consistentReads: 0` read
    // stale, and an `onCleanupError` that is not a function dropped every report in silence.
    for (const name of ['consistentReads', 'settleInBackground'] as const) {
      const value: unknown = options[name];
      if (value !== undefined && typeof value !== 'boolean') {
        throw new ValidationError(`${name} must be true or false, got ${kindOf(value)}`, name);
      }
    }
    if (options.onCleanupError !== undefined && typeof options.onCleanupError !== 'function') {
      throw new ValidationError(`onCleanupError must be a function, got ${kindOf(options.onCleanupError)}`, 'onCleanupError');
    }
    this.consistentReads = options.consistentReads ?? true;
    this.settleInBackground = options.settleInBackground ?? false;
    this.completeGraceMs = options.completeGraceMs;
    if (this.completeGraceMs !== undefined && !isIntegerIn(this.completeGraceMs, 0, 24 * 3600_000)) {
      throw new ValidationError(
        `completeGraceMs must be an integer in 0..${24 * 3600_000}; got ${this.completeGraceMs}`,
        'completeGraceMs',
      );
    }
    this.context = {
      log: fencedLogOf(options.changeLog, this.config.prefix),
      hv: this.hv,
      lt: this.lt,
      replacedBlobCleanup: replacedBlobCleanupOf(options.config),
      onCleanupError: options.onCleanupError ?? (() => {}),
    };
  }

  /**
   * Resolves once every settle running in the background (see `settleInBackground`) has
   * finished, including settles of writes that answer while it waits: true. Never rejects: a
   * settle that fails reports to `onCleanupError` and leaves its work as a crash would (to the
   * sweeper, or a replaced blob to the stream function with `replacedBlobCleanup: 'stream'`).
   *
   * `timeoutMs` bounds the wait (a Lambda handler passes what its invocation has left, less a
   * margin, so that a slow delete cannot run it into its timeout): it resolves false when the time
   * is up with settles still running ({@link TieredStore.pendingSettles}); one past Node's longest
   * timer (about 24.8 days) bounds nothing. They go on running; what
   * a frozen or stopped process does not finish is left as after a crash (see `settleInBackground`).
   */
  async settled(options: { readonly timeoutMs?: number } = {}): Promise<boolean> {
    assertOptions(options, OPTIONS.settled, 'settled');
    const { timeoutMs } = options;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0)) {
      throw new ValidationError(`timeoutMs must be a finite number of ms, 0 or more; got ${timeoutMs}`, 'timeoutMs');
    }
    const all = (async () => {
      while (this.settling.size > 0) await Promise.all([...this.settling]);
      return true;
    })();
    // Past Node's longest timer a delay fires at once (taken for 1 ms): no bound that far comes sooner.
    if (timeoutMs === undefined || timeoutMs > MAX_TIMER_MS) return all;
    let timer: NodeJS.Timeout | undefined;
    const timeUp = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([all, timeUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** How many settles are running in the background. */
  get pendingSettles(): number {
    return this.settling.size;
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The object with its body (or the bytes of `range`), or undefined when absent. */
  async get(key: string, options: GetOptions = {}): Promise<GetResult | undefined> {
    assertObjectKey(key);
    assertOptions(options, OPTIONS.get, 'get');
    if (options.range !== undefined) return this.readRanged<Uint8Array>(key, options.range, 'bytes');
    return this.readBody(key, 'bytes', (blob, size) => this.lt.getBytes(blob, size, this.beforeInvocationDeadline()));
  }

  /**
   * The object with its body as a stream (large objects are not buffered), or undefined. A blob's
   * body cut while it is read goes on from the byte reached (up to 3 GetObjects in all, as
   * {@link get} reads one again; not past the invocation's deadline), and fails with the cut past
   * them or when the blob was deleted meanwhile: never ends short, never splices two versions.
   */
  async getStream(key: string, options: GetOptions = {}): Promise<StreamResult | undefined> {
    assertObjectKey(key);
    assertOptions(options, OPTIONS.get, 'getStream');
    if (options.range !== undefined) return this.readRanged<Readable>(key, options.range, 'stream');
    return this.readBody(key, 'stream', (blob, size) => this.lt.getStream(blob, size, this.beforeInvocationDeadline()));
  }

  /**
   * A read for a server that sends large answers elsewhere (the objects API's 307): the object's
   * body as a stream when the bytes to answer (the range, or the whole object) are at most
   * `maxBytes`, else, for a blob, a presigned URL of it ({@link presignGet}'s, `expiresInMs`
   * long at most, answered with the object's content type and `Cache-Control: no-cache`). One read of HV decides, and the blob is not opened for bytes the caller will
   * not send: a large object's redirect costs one DynamoDB read, not two and an S3 GET (with
   * `consistentReads: false`, a redirect is signed from a second, consistent read: the URL's holder
   * cannot follow a blob a stale read named and an overwrite deleted). An inline object is always a stream. A stream whose blob was replaced while it was read
   * follows the pointer, as {@link getStream} does, so its size may exceed `maxBytes`: check it.
   * @throws RangeNotSatisfiableError, ValidationError (`maxBytes`, `expiresInMs`, the key)
   */
  async getStreamOrUrl(
    key: string,
    options: GetOptions & { readonly maxBytes: number; readonly expiresInMs?: number },
  ): Promise<StreamResult | UrlResult | undefined> {
    const read = await this.readOrSign(key, options, 'getStreamOrUrl');
    if (read === undefined || 'url' in read) return read;
    if (options.range !== undefined) return this.readRanged<Readable>(key, options.range, 'stream', read.first);
    return this.readBody(key, 'stream', (blob, size) => this.lt.getStream(blob, size, this.beforeInvocationDeadline()), read.first);
  }

  /**
   * {@link getStreamOrUrl} for a server that answers at most `maxBytes` from memory (the objects
   * API's buffered response): the bytes to answer (the range, or the whole object) read whole, as
   * {@link get} reads them (a blob's body cut midway read again, not past the invocation's
   * deadline; a blob replaced and deleted meanwhile followed to its successor), else, for a blob,
   * a presigned URL of it. Never more than `maxBytes` of a blob read: an object replaced by a
   * larger one while it is read is read again, and answered by URL (a ContentionError after
   * `maxAttempts` passes that each found it replaced).
   * @throws RangeNotSatisfiableError, ContentionError, ValidationError (`maxBytes`, `expiresInMs`, the key)
   */
  async getBytesOrUrl(
    key: string,
    options: GetOptions & { readonly maxBytes: number; readonly expiresInMs?: number },
  ): Promise<GetResult | UrlResult | undefined> {
    for (let pass = 1; ; pass++) {
      const read = await this.readOrSign(key, options, 'getBytesOrUrl');
      if (read === undefined || 'url' in read) return read;
      try {
        if (options.range !== undefined)
          return await this.readRanged<Uint8Array>(key, options.range, 'bytes', read.first, options.maxBytes);
        return await this.readBody(
          key,
          'bytes',
          (blob, size) =>
            size > options.maxBytes ? Promise.reject(new GrownPastLimit()) : this.lt.getBytes(blob, size, this.beforeInvocationDeadline()),
          read.first,
        );
      } catch (err) {
        if (!(err instanceof GrownPastLimit)) throw err;
        if (pass >= this.maxAttempts) throw new ContentionError(key, pass);
      }
    }
  }

  /**
   * The first read of {@link getStreamOrUrl} and {@link getBytesOrUrl}: undefined when absent, the
   * URL of a blob whose bytes to answer exceed `maxBytes`, else the live record to read the body of.
   */
  private async readOrSign(
    key: string,
    options: GetOptions & { readonly maxBytes: number; readonly expiresInMs?: number },
    call: 'getStreamOrUrl' | 'getBytesOrUrl',
  ): Promise<UrlResult | { readonly first: HvRecord } | undefined> {
    assertObjectKey(key);
    if (options === undefined) throw new ValidationError(`${call} takes its options (maxBytes)`, 'options');
    assertOptions(options, OPTIONS[call], call);
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new ValidationError(`maxBytes must be a non-negative integer, got ${options.maxBytes}`, 'maxBytes');
    }
    const wanted = checkPresignGetLifetime(options.expiresInMs);
    if (options.range !== undefined) assertByteRange(options.range);
    let first = this.live(await this.hv.read(key, { consistent: this.consistentReads }));
    if (first?.blob !== undefined && !this.consistentReads && this.answeredByUrl(key, first, options)) {
      // A URL is followed by its holder, never by this read: an eventually consistent read may name a
      // blob an overwrite's settle has deleted (S3 then answers the holder 403 or 404), which a stream
      // would follow to the new one. It is signed from a consistent read.
      first = this.live(await this.hv.read(key, { consistent: true }));
    }
    if (first === undefined) return undefined;
    if (first.blob !== undefined && this.answeredByUrl(key, first, options)) {
      const range = options.range === undefined ? undefined : resolveRange(key, options.range, first.size);
      const signed = await this.uploads.presignLive(first, first.blob, wanted, (record) => this.touch(record));
      if (signed === undefined) return undefined; // less than a second of its life left
      const { url, expiresAt } = signed.presigned;
      return { ...infoOf(signed.record), url, urlExpiresAt: expiresAt, ...(range !== undefined ? { range } : {}) };
    }
    return { first };
  }

  /** True when {@link getStreamOrUrl} answers `record`, a blob object's, by URL: more bytes to answer than `maxBytes`. */
  private answeredByUrl(key: string, record: HvRecord, options: GetOptions & { readonly maxBytes: number }): boolean {
    const range = options.range === undefined ? undefined : resolveRange(key, options.range, record.size);
    return (range === undefined ? record.size : range.end - range.start + 1) > options.maxBytes;
  }

  private async readRanged<B extends Uint8Array | Readable>(
    key: string,
    range: ByteRange,
    mode: 'bytes' | 'stream',
    first?: HvRecord,
    maxBytes?: number,
  ) {
    const read = await readRange<B>({
      first,
      hv: this.hv,
      lt: this.lt,
      key,
      range,
      mode,
      consistent: this.consistentReads,
      maxAttempts: this.maxAttempts,
      live: (record) => this.live(record),
      mayReadAgain: this.beforeInvocationDeadline(),
      ...(maxBytes !== undefined ? { maxBytes } : {}),
      // A ranged read is a read: it moves a time-to-idle object's expiry on, as a whole read does,
      // a blob's before its bytes are fetched (readBody).
      touch: (record) => this.touch(record),
    });
    if (read === undefined) return undefined;
    return { ...infoOf(read.record), body: read.body, ...(read.range !== undefined ? { range: read.range } : {}) };
  }

  /**
   * A short-lived URL that GETs a large object's current blob (ranges too); undefined when absent.
   * A read: it refreshes a time-to-idle object, and the URL never lives past the object's expiry.
   * S3 answers it with the object's content type (`application/octet-stream` when it has none) and
   * `Cache-Control: no-cache`: a cache revalidates with S3 before it reuses the answer, so none
   * outlives the URL.
   * @throws ValidationError when the object is stored inline (read it with {@link get}), or for the
   *   key or `expiresInMs`; CorruptItemError for an item the configured attribute names do not
   *   describe, as {@link get} answers it.
   */
  async presignGet(key: string, options: { expiresInMs?: number } = {}): Promise<PresignedGet | undefined> {
    assertOptions(options, OPTIONS.presignGet, 'presignGet');
    return this.uploads.presignGet(key, options, (record) => this.touch(record));
  }

  // ---- upload sessions (lib/tiered/upload-sessions.ts) ---------------------------------------

  /** Opens an upload session: the client uploads the parts straight to S3 with presigned URLs. */
  async createUpload(key: string, options: CreateUploadOptions = {}): Promise<CreatedUpload> {
    assertOptions(options, OPTIONS.createUpload, 'createUpload');
    return this.uploads.create(key, options);
  }

  /** A presigned URL for a PUT of part `partNumber` of the session's upload. */
  async uploadPartUrl(uploadId: string, partNumber: number, options: PartUrlOptions & SessionScope = {}): Promise<string> {
    assertOptions(options, OPTIONS.uploadPartUrl, 'uploadPartUrl');
    return (await this.uploads.partUrl(uploadId, partNumber, options, options.key)).url;
  }

  /**
   * Presigned URLs for the parts `partNumbers`, in their order, from one read of the session: for
   * a client that wants many at once (the objects API's create answers up to 1,000). One pass of
   * the SDK's pipeline builds the request they share (lib/aws/presign.ts): each more URL costs a
   * signature (about 0.1 to 0.4 ms, 30 KiB of garbage), not a pass (2 to 4 ms, 230 KiB).
   */
  async uploadPartUrls(uploadId: string, partNumbers: readonly number[], options: PartUrlOptions & SessionScope = {}): Promise<string[]> {
    assertOptions(options, OPTIONS.uploadPartUrl, 'uploadPartUrls');
    return (await this.uploads.partUrls(uploadId, partNumbers, options, options.key)).map((u) => u.url);
  }

  /**
   * The parts uploaded so far, ascending. Once a complete assembled them and did not commit, S3
   * lists them no more: `UploadAssembledError` (the session is open: complete it again).
   */
  async listUploadParts(uploadId: string, options: SessionScope = {}): Promise<UploadedPart[]> {
    assertOptions(options, OPTIONS.session, 'listUploadParts');
    return this.uploads.listParts(uploadId, options.key);
  }

  /**
   * Assembles the parts and commits the object; a retry of a committed session answers the same
   * result. With the change log bound to a Lambda invocation, no assembly, CAS round or commit
   * attempt goes out after that invocation's deadline: {@link InvocationEndedError}, the session
   * left open and uncommitted (as a put's write, see `DynamoChangeLog.bindInvocation`).
   */
  async completeUpload(uploadId: string, parts: readonly CompletedPart[], options: SessionScope = {}): Promise<PutResult> {
    assertOptions(options, OPTIONS.session, 'completeUpload');
    return this.uploads.complete(uploadId, parts, options.key);
  }

  /** Ends the session: its parts and any assembled blob are deleted; it can no longer complete. */
  async abortUpload(uploadId: string, options: SessionScope = {}): Promise<void> {
    assertOptions(options, OPTIONS.session, 'abortUpload');
    return this.uploads.abort(uploadId, options.key);
  }

  private sessions: UploadSessions | undefined;
  private get uploads(): UploadSessions {
    this.sessions ??= new UploadSessions({
      config: this.config,
      hv: this.hv,
      lt: this.lt,
      clock: this.clock,
      maxAttempts: this.maxAttempts,
      onCleanupError: this.context.onCleanupError,
      invocationDeadline: () => this.context.log.invocationDeadline,
      ...(this.completeGraceMs !== undefined ? { completeGraceMs: this.completeGraceMs } : {}),
    });
    return this.sessions;
  }

  /**
   * The object's metadata without its body, or undefined when absent. What a GET would describe:
   * an item the configured names do not describe, or an inline body that is not its item's size,
   * is a CorruptItemError here too. The item is read with its body for that (an inline body is
   * small, and a blob object has none: a GetItem costs the whole item's size either way). So is a
   * blob outside the prefix, which every read of the body refuses before any request.
   */
  async head(key: string): Promise<ObjectInfo | undefined> {
    assertObjectKey(key);
    const record = this.live(await this.hv.read(key, { consistent: this.consistentReads }));
    if (record === undefined) return undefined;
    if (record.blob === undefined) inlineBodyOf(record);
    else this.lt.assertOwned(record.blob);
    return infoOf(await this.touch(record));
  }

  /**
   * Reads HV, then the blob if the object is a tombstone. A blob that is gone was replaced
   * between the two reads: re-read HV and follow the new pointer, instead of failing (at most
   * `maxAttempts` times; then a ContentionError, the object being rewritten faster than read).
   */
  private async readBody<B extends Uint8Array | Readable>(
    key: string,
    mode: B extends Readable ? 'stream' : 'bytes',
    fetchBlob: (blob: string, size: number) => Promise<B | undefined>,
    first?: HvRecord,
  ): Promise<(ObjectInfo & { body: B }) | undefined> {
    let record = first ?? this.live(await this.hv.read(key, { consistent: this.consistentReads }));
    for (let pass = 0; record !== undefined; pass++) {
      if (record.blob === undefined) {
        const bytes = inlineBodyOf(record);
        const body = (mode === 'stream' ? ReadableStream.from([Buffer.from(bytes)], { objectMode: false }) : bytes) as B;
        return { ...infoOf(await this.touch(record)), body };
      }
      // A read of a time-to-idle object counts as of the read of its item, not once its body has
      // come: judged after a download that outlasted what was left of the object (less the refresh
      // margin), the read did not extend it, and the object expired seconds after it was read.
      const blob = record.blob;
      record = await this.touch(record);
      // A writer has no s3:ListBucket, so S3 answers a GET of a missing blob 403, not 404: a
      // refusal may mean "replaced and deleted". It counts as that only if HV moved on.
      let refused: AccessDeniedError | undefined;
      const body = await fetchBlob(blob, record.size).catch((err: unknown) => {
        if (!(err instanceof AccessDeniedError)) throw err;
        refused = err;
        return undefined;
      });
      if (body !== undefined) return { ...infoOf(record), body };
      // Missing only if HV still points at it; else it was replaced while we read: follow the
      // pointer while it keeps moving (a slow read can be overtaken more than once).
      record = this.live(await this.hv.read(key, { consistent: true }));
      if (record?.blob === blob) throw refused ?? new BlobMissingError(key, blob);
      if (pass + 1 >= this.maxAttempts && record?.blob !== undefined) throw new ContentionError(key, this.maxAttempts);
    }
    return undefined;
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Stores `body` under `key`: inline when small, as a blob through the log when large. */
  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<PutResult> {
    assertObjectKey(key);
    assertOptions(options, OPTIONS.put, 'put');
    assertContentType(options.contentType);
    assertMetadata(options.metadata);
    assertIfVersion(options.ifVersion);
    // Validates the expiry policy before anything is written; one instant for every attempt. The
    // metadata checked is the metadata written: a copy, since the upload and the commit come after
    // awaits, and an edit of the caller's object meanwhile would be stored unchecked.
    const plan: PutPlan = {
      ...options,
      ...(options.metadata !== undefined ? { metadata: { ...options.metadata } } : {}),
      expiry: storedExpiryOf(options, this.clock()),
      ended: this.invocationCheck(key),
    };
    // A lone surrogate has no UTF-8 form: TextEncoder would store U+FFFD in its place, a body other
    // than the one given, answered as stored. Refused as a key with one is.
    if (typeof body === 'string' && !body.isWellFormed()) {
      throw new ValidationError(
        'a string body must be well-formed Unicode (a lone surrogate has no UTF-8 form): pass its bytes instead',
        'body',
      );
    }
    const bytes = bytesOf(body);
    const inline = bytes.byteLength <= this.inlineThreshold;
    return this.retrying(key, () => (inline ? this.tryPutInline(key, bytes, plan) : this.tryPutBlob(key, bytes, plan)), plan.ended);
  }

  /** Deletes `key`; false when it was absent. */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    assertObjectKey(key);
    assertOptions(options, OPTIONS.delete, 'delete');
    assertIfVersion(options.ifVersion);
    const ended = this.invocationCheck(key);
    return this.retrying(key, () => this.tryDelete(key, options, ended), ended);
  }

  /** Small body: one conditional write that refuses to overwrite a tombstone. */
  private async tryPutInline(key: string, bytes: Uint8Array, options: PutPlan): Promise<Attempt<PutResult>> {
    const fields = this.fields(bytes, options, newChangeId());
    // An item expired at `now` is refused even where the put would replace it (no ifVersion, or
    // 0: absent), so that nothing of the expired object (its `createdAt`) carries over: the CAS
    // on it, below, creates the object afresh.
    const write = this.hv.inlineWrite(key, bytes, fields, firstConditionOf(options.ifVersion, fields.now), true);
    try {
      // The replaced attributes come back: the version it moved on from, and `createdAt` unless
      // it replaced nothing or a deletion marker (an expired item was refused).
      const out = await this.hv.client.send(
        this.judgedAtEachAttempt(
          key,
          guardedWrite(
            new UpdateCommand({ ...write.input, ReturnValues: 'UPDATED_OLD', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
            this.expiryCheck(options),
          ),
        ),
      );
      const old = out.Attributes ?? {};
      const previous = old[this.hv.attrs.version];
      const version = nextVersion(previous === undefined ? undefined : Number(previous), fields.now);
      return { key, version, size: bytes.byteLength, stored: 'inline', created: old[this.hv.attrs.createdAt] === undefined };
    } catch (err) {
      // Another writer's commit of this key holds the item: nothing was applied; try again.
      const decided = await this.unlessConditionFailed(key, err, fields.writeId, 'put');
      if (decided === RETRY) return RETRY;
      if (decided !== undefined) {
        // Landed despite the error (its answer lost, then a retry refused): the write's own answer.
        return { key, version: decided.version, size: bytes.byteLength, stored: 'inline', created: decided.createdAt === fields.now };
      }
      // The item as stored: live, expired (absent to the condition, but its blob is replaced
      // through the log like a live one's) or a deletion marker.
      const physical = this.parse(oldItemOf(err));
      if (physical?.writeId === fields.writeId) {
        // An SDK retry of a write that had landed.
        return { key, version: physical.version, size: bytes.byteLength, stored: 'inline', created: physical.createdAt === fields.now };
      }
      this.assertVersionAfterRetries(key, options.ifVersion, physical, err, fields.writeId);
      if (physical?.blob === undefined) {
        return expiredAt(physical, fields.now) ? this.putInlineOverExpired(key, bytes, options, physical!) : RETRY;
      }
      let at = fields.now;
      const replaced = await this.replaceBlob(
        key,
        physical,
        options.ifVersion,
        (id, expected) => {
          const replacing = this.fields(bytes, options, id);
          at = replacing.now;
          return this.hv.inlineWrite(key, bytes, { ...replacing, overExpired: expiredAt(physical, at) }, expected, false);
        },
        this.expiryCheck(options),
      );
      // `physical` is an item (it has a blob), so the write stored its version + 1 whatever its clock.
      return replaced === RETRY ? RETRY : this.resultOf(key, bytes, 'inline', physical, at);
    }
  }

  /**
   * A small body over `expired`, an inline item expired now that TTL has not removed: a CAS on
   * the item as stored that creates the object (its version continues the stored counter, its
   * `createdAt` is this write's). RETRY when the item moved on.
   */
  private async putInlineOverExpired(key: string, bytes: Uint8Array, options: PutPlan, expired: HvRecord): Promise<Attempt<PutResult>> {
    const fields = { ...this.fields(bytes, options, newChangeId()), overExpired: true };
    const write = this.hv.inlineWrite(key, bytes, fields, expectedOf(expired), true);
    const result: PutResult = { key, version: expired.version + 1, size: bytes.byteLength, stored: 'inline', created: true };
    try {
      await this.hv.client.send(
        guardedWrite(new UpdateCommand({ ...write.input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }), this.expiryCheck(options)),
      );
      return result;
    } catch (err) {
      const decided = await this.unlessConditionFailed(key, err, fields.writeId, 'put');
      if (decided === RETRY) return RETRY;
      if (decided !== undefined) return result;
      const current = this.parse(oldItemOf(err));
      if (current?.writeId === fields.writeId) return result; // an SDK retry of this very write, which had landed
      // The item moved on (if the SDK sent this more than once, perhaps after it landed): start again.
      this.assertVersionAfterRetries(key, options.ifVersion, current, err, fields.writeId);
      return RETRY;
    }
  }

  /** Large body: record ∥ read, upload, commit (again against what HV holds, if it moved), settle. */
  private async tryPutBlob(key: string, bytes: Uint8Array, options: PutPlan): Promise<Attempt<PutResult>> {
    const change = this.change(key, newBlobKey(this.config.prefix, key));
    try {
      // `current` is the item as stored (the CAS and `old` name it); an expired one is absent to ifVersion.
      let current = await change.record(this.hv.read(key, { withBody: false }));
      this.assertVersion(key, options.ifVersion, current);
      // A record answered after the invocation's deadline (the environment frozen while it was on
      // its way, thawed for a later invocation) uploads nothing: its commit would be refused, and
      // the upload, judged on the lease of then, was refused as if a sweeper had fenced it.
      options.ended?.();
      await change.upload(bytes, {
        // No attempt of the upload (a part, a retry) goes out after the invocation's deadline either.
        ...(options.ended !== undefined ? { beforeAttempt: options.ended } : {}),
        ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
        ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
      });
      let throttled: unknown;
      for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
        // Each attempt writes at its own instant, checked again (a lost CAS, load, its backoff): the
        // put's expiry may have passed since, and so may the replaced object's, whose `createdAt`
        // must not carry over then (judged on an earlier instant, it did, reported `created: false`).
        const fields = this.fields(bytes, options, change.changeId);
        // A time-to-idle object is kept alive by its readers: past the expiry this put read (a slow
        // upload, a backoff) it may be live still, its expiry moved on. Judged on that read it was
        // absent, and a put with `ifVersion` refused for an object that is there: it is read again.
        if (current?.ttiMs !== undefined && expiredAt(current, fields.now)) current = await this.hv.read(key, { withBody: false });
        // `ifVersion` is judged as the write lands, not at the read: an object that expired since
        // (during the upload, a backoff) is absent to it, and the CAS on its item would land.
        this.assertVersion(key, options.ifVersion, current);
        const write = this.hv.tombstoneWrite(
          key,
          change.blob!,
          { ...fields, overExpired: expiredAt(current, fields.now) },
          expectedOf(current),
        );
        // No attempt of it goes out once the expiry has passed (an SDK retry of a paused writer),
        // nor once the object it replaces, live at `fields.now`, has expired: judged again then.
        let refused: Awaited<ReturnType<LoggedChange['commit']>>;
        try {
          refused = await change.commit(write, current?.blob, unexpiredCheck(current, fields.now, this.clock, this.expiryCheck(options)));
        } catch (err) {
          if (!(err instanceof ExpiredSinceJudgedError)) throw err;
          // Judged again on the item as it is now: expired, or live still (a reader's time-to-idle
          // refresh moved its expiry on since it was read).
          current = await this.hv.read(key, { withBody: false });
          continue;
        }
        if (refused === undefined) return this.resultOf(key, bytes, 'blob', current, fields.now);
        if (refused.kind === 'conflict') {
          // Another writer got there first: CAS again against what is there now, same blob.
          current = this.parse(refused.current);
          this.assertVersion(key, options.ifVersion, current);
        }
        throttled = refused.kind === 'busy' ? refused.throttled : undefined;
        if (attempt + 1 < this.maxAttempts) await sleepBackoff(attempt, throttled !== undefined ? THROTTLED_BACKOFF_MS : 10);
      }
      // Throttled to the last: uploading the body again for another round would only add load.
      if (throttled !== undefined) throw throttled;
      // Lost on every attempt: another round would upload the body again, under a new blob, to
      // lose as many more (maxAttempts squared commits, maxAttempts uploads). The bound is this.
      throw new ContentionError(key, this.maxAttempts);
    } finally {
      await this.close(change);
    }
  }

  /** Small delete: one conditional write of a deletion marker that refuses to replace a tombstone. */
  private async tryDelete(key: string, options: DeleteOptions, ended: (() => void) | undefined): Promise<Attempt<boolean>> {
    const writeId = newChangeId();
    const now = this.clock();
    // An expired object is absent to a delete: the condition refuses it (TTL removes it). `0`
    // ("only if absent") never matches an object to delete.
    const expected: Expected =
      options.ifVersion === undefined
        ? { kind: 'any', liveAt: now }
        : options.ifVersion === 0
          ? { kind: 'missing' }
          : conditionOf(options.ifVersion, now);
    const write = this.hv.markerWrite(key, { now, writeId }, expected, true);
    try {
      await this.hv.client.send(
        this.judgedAtEachAttempt(
          key,
          guardedWrite(new UpdateCommand({ ...write.input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }), ended),
        ),
      );
      return true;
    } catch (err) {
      const decided = await this.unlessConditionFailed(key, err, writeId, 'delete');
      if (decided === RETRY) return RETRY;
      if (decided !== undefined) return true; // its deletion marker, carrying its id
      const current = this.parse(oldItemOf(err));
      if (current?.writeId === writeId) return true; // an SDK retry of a delete that had landed
      this.assertVersionAfterRetries(key, options.ifVersion, current, err, writeId);
      const live = this.live(current);
      if (live === undefined) return false; // absent, a deletion marker, or expired
      if (live.blob === undefined) return RETRY;
      const replaced = await this.replaceBlob(
        key,
        live,
        options.ifVersion,
        (id, expected) => this.hv.markerWrite(key, { now: this.clock(), writeId: id }, expected, false),
        ended,
        true,
      );
      return replaced;
    }
  }

  /**
   * Replaces the blob of `current` with an inline body, or deletes it: record `{old}`, commit
   * `write(changeId)` against `current`, settle. True once committed; RETRY when the CAS was lost.
   * `beforeAttempt`: an inline body's {@link expiryCheck}. `deleting`: false, nothing written,
   * when the object has expired by the commit (absent to a delete, as to its first write).
   */
  private async replaceBlob(
    key: string,
    current: HvRecord,
    ifVersion: number | undefined,
    write: (writeId: string, expected: Expected) => HvWrite,
    beforeAttempt?: () => void,
    deleting = false,
  ): Promise<Attempt<boolean>> {
    const change = this.change(key, undefined, current.blob);
    const wasLive = this.live(current) !== undefined;
    try {
      await change.record();
      // A time-to-idle object is kept alive by its readers: past the expiry read before the record
      // (a plain log's request of its own) it may be live still, its expiry moved on. Judged on
      // that read it was absent (`ifVersion` refused, a delete `false`): judged again from the start.
      if (wasLive && current.ttiMs !== undefined && this.live(current) === undefined) return RETRY;
      // `ifVersion` is judged as the write lands: an object that expired while a plain log
      // recorded the change (a request of its own) is absent to it, and the CAS on its item would land.
      this.assertVersion(key, ifVersion, current);
      // So is a delete without it: it would land a marker over an absent object and answer `true`
      // (DELETE 204) for what readers were told is gone. Left as it is, TTL and the stream remove it.
      if (deleting && this.live(current) === undefined) return false;
      let refused: Awaited<ReturnType<LoggedChange['commit']>>;
      try {
        // No attempt of it goes out once `current`, live now, has expired (an SDK retry of a paused
        // writer): it would land over an object readers were told is absent. Judged again then.
        const check = unexpiredCheck(current, this.clock(), this.clock, beforeAttempt);
        refused = await change.commit(write(change.changeId, expectedOf(current)), current.blob, check);
      } catch (err) {
        // Judged again from the start, on the item as it is now: expired, or live still (a
        // reader's time-to-idle refresh moved its expiry on since it was read).
        if (err instanceof ExpiredSinceJudgedError) return RETRY;
        throw err;
      }
      if (refused === undefined) return true;
      if (refused.kind === 'conflict') this.assertVersion(key, ifVersion, this.parse(refused.current));
      if (refused.kind === 'busy' && refused.throttled !== undefined) throw new ThrottledCommit(refused.throttled);
      return RETRY;
    } finally {
      await this.close(change);
    }
  }

  // ---- helpers -----------------------------------------------------------------------------

  /**
   * The object `record` stands for: none for no item, a deletion marker, or an item expired now
   * (DynamoDB TTL may keep it for days).
   */
  private live(record: HvRecord | undefined): HvRecord | undefined {
    const object = liveOf(record);
    return object !== undefined && isExpired(object, this.clock()) ? undefined : object;
  }

  /**
   * Moves a time-to-idle object's expiry on after a read (debounced, see `ttiRefresh`), only if
   * the item is still the state read and not expired. Never fails the read.
   */
  private async touch(record: HvRecord): Promise<HvRecord> {
    const now = this.clock();
    const next = ttiRefresh(record, now);
    if (next === undefined) return record;
    // Judged where it lands, later than `now`: it must not land past the expiry it read (expiry.ts).
    const margin = ttiRefreshMarginMs(record.ttiMs!);
    if (record.expiresAtSeconds! * 1000 - now <= margin) return record;
    // Reads of the same state in flight together share one refresh: each sent its own, all but one
    // refused by its condition (billed as a write), and an object read continuously by a server
    // cost a write per read in flight when the refresh fell due, not one per debounce. Each read
    // answers the expiry the shared refresh moved the object to, on its own record.
    const state = `${record.key}\u0000${record.version}\u0000${record.blob ?? ''}\u0000${record.expiresAtSeconds}`;
    // A read of a state a refresh has just moved on from (its item came back before the refresh
    // landed, and whose refresh falls due after it was answered) answers where it moved the object:
    // sent, its own refresh was refused by its condition and billed as a write, one per read
    // overlapping the refresh of a large object read by many at once.
    const moved = this.refreshedState(state, now);
    if (moved !== undefined) return { ...record, expiresAtSeconds: moved };
    let refreshing = this.refreshing.get(state);
    if (refreshing === undefined) {
      refreshing = this.refresh(record, now, next, margin).then((r) => {
        // Only a refresh that moved the object on is kept: one given up or refused leaves the next read to try.
        if (r.expiresAtSeconds! > record.expiresAtSeconds!) this.keepRefreshed(state, r.expiresAtSeconds!);
        return r.expiresAtSeconds;
      });
      this.refreshing.set(state, refreshing);
      const done = () => this.refreshing.delete(state);
      refreshing.then(done, done);
    }
    const expiresAtSeconds = await refreshing;
    return expiresAtSeconds === record.expiresAtSeconds ? record : { ...record, expiresAtSeconds };
  }

  /** Time-to-idle refreshes in flight, by the state they refresh (key, version, blob, expiry read). */
  private readonly refreshing = new Map<string, Promise<number | undefined>>();

  /**
   * Refreshes that moved an object on, by the state they moved it from, with the expiry they set
   * and when they were kept, oldest first: held {@link REFRESHED_HOLD_MS}, so the map holds the
   * refreshes of that long, whatever the number of objects read.
   */
  private readonly refreshed = new Map<string, { readonly expiresAtSeconds: number; readonly at: number }>();

  private keepRefreshed(state: string, expiresAtSeconds: number): void {
    const at = this.clock();
    for (const [old, kept] of this.refreshed) {
      if (at - kept.at < REFRESHED_HOLD_MS) break;
      this.refreshed.delete(old);
    }
    this.refreshed.delete(state);
    this.refreshed.set(state, { expiresAtSeconds, at });
  }

  /**
   * The expiry a refresh moved `state` to, when one did less than {@link REFRESHED_HOLD_MS} ago.
   * Only a refresh moves a version's expiry, so the object's is that one or later.
   */
  private refreshedState(state: string, now: number): number | undefined {
    const kept = this.refreshed.get(state);
    if (kept === undefined) return undefined;
    if (now - kept.at >= REFRESHED_HOLD_MS || now < kept.at) {
      this.refreshed.delete(state);
      return undefined;
    }
    return kept.expiresAtSeconds;
  }

  /** The refresh of {@link touch}: `next` at `now`, sent only while `margin` lasts. Never fails. */
  private async refresh(record: HvRecord, now: number, next: number, margin: number): Promise<HvRecord> {
    try {
      const write = this.hv.ttiRefreshWrite(record.key, record.version, record.expiresAtSeconds!, next, now + margin);
      const command = new UpdateCommand({ ...write.input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' });
      // Each attempt is sent only while the margin lasts, checked right before it goes out (the last
      // step of the SDK's pipeline, inside its retry loop): a retry, or an attempt held up before it
      // was sent, is given up. An attempt already sent is awaited, never abandoned: one abandoned that
      // landed would have refreshed the object while this read answers that it did not.
      const givenUpAt = now + margin;
      checkBeforeEachAttempt(command, 'tierlogRefreshDeadline', () => {
        if (this.clock() >= givenUpAt) throw new Error('time-to-idle refresh given up: it could land past the expiry it read');
      });
      await this.hv.client.send(command);
      return { ...record, expiresAtSeconds: next };
    } catch (err) {
      // Refused, the item may still be the state read with its expiry moved on since: by this very
      // refresh (an attempt that landed, its answer lost, and the SDK's retry refused by it) or by
      // another reader's. Only a refresh moves the expiry of a version, so that is the object's expiry:
      // answered, the read never tells an expiry earlier than the one the item has. An outcome left
      // open (no answer, a 5xx, then retries that never reached the table) is decided by a read.
      const stored = isConditionalCheckFailed(err)
        ? this.refusedWith(err)
        : requestMayHaveApplied(err)
          ? await this.hv.read(record.key, { consistent: true, withBody: false }).catch(() => undefined)
          : undefined;
      const sameState =
        stored !== undefined && stored.deleted === undefined && stored.version === record.version && stored.blob === record.blob;
      const later = sameState ? stored.expiresAtSeconds : undefined;
      return later !== undefined && later > record.expiresAtSeconds! ? { ...record, expiresAtSeconds: later } : record; // else the read stands
    }
  }

  /** The item a conditional write was refused by (`ALL_OLD`); undefined when none came back, or one not understood. */
  private refusedWith(err: unknown): HvRecord | undefined {
    try {
      return this.parse(oldItemOf(err));
    } catch {
      return undefined;
    }
  }

  /** The version a condition compares with: 0 for absent, a deletion marker and an expired item. */
  private versionOf(record: HvRecord | undefined): number {
    return this.live(record)?.version ?? 0;
  }

  /** The answer of a put that replaced `replaced` (the item as stored its CAS expected), written at `now`. */
  private resultOf(key: string, bytes: Uint8Array, stored: 'inline' | 'blob', replaced: HvRecord | undefined, now: number): PutResult {
    const version = nextVersion(replaced?.version, now);
    return { key, version, size: bytes.byteLength, stored, created: liveOf(replaced) === undefined || expiredAt(replaced, now) };
  }

  private change(key: string, blob?: string, old?: string): LoggedChange {
    return new LoggedChange(this.context, key, blob, old);
  }

  /**
   * Applies the change's cleanup rule: now, or, for a landed commit with `settleInBackground`,
   * after the answer (tracked until {@link settled}). Only a committed change is deferred: its
   * answer is final whatever its settle does, and an unfinished settle is the sweeper's, as
   * after a crash (`old` is deleted only because HV no longer points at it).
   */
  private async close(change: LoggedChange): Promise<void> {
    if (!this.settleInBackground || change.phase !== 'committed') return change.close();
    const settle = change.close().finally(() => this.settling.delete(settle));
    this.settling.add(settle);
  }

  /**
   * Runs `attempt` until it does not ask for a retry (a lost CAS), with backoff; none starts once
   * `ended` throws (the invocation the write began in is over).
   */
  private async retrying<T>(key: string, attempt: () => Promise<Attempt<T>>, ended: (() => void) | undefined): Promise<T> {
    let throttled: ThrottledCommit | undefined;
    for (let n = 0; n < this.maxAttempts; n++) {
      let result: Attempt<T>;
      ended?.();
      try {
        result = await attempt();
        throttled = undefined;
      } catch (err) {
        if (!(err instanceof ThrottledCommit)) throw err;
        throttled = err;
        result = RETRY;
      }
      if (result !== RETRY) return result;
      // No wait after the last attempt: its answer is the caller's at once.
      if (n + 1 < this.maxAttempts) await sleepBackoff(n, throttled !== undefined ? THROTTLED_BACKOFF_MS : 10);
    }
    // Refused for load to the last: the caller retries later (the objects API answers 503).
    if (throttled !== undefined) throw throttled.error;
    throw new ContentionError(key, this.maxAttempts);
  }

  /**
   * `command`, a small write (no log) of `key` whose condition judges the item live or expired at an
   * instant (`liveAt`, hv-table.ts), with that instant restated at each attempt right before it is
   * signed: the clock's then, never earlier than the one it carries. Taken once, before the first
   * attempt, it let an SDK retry (the first attempt throttled, the writer paused) land over an
   * object that had expired meanwhile, one readers were told is absent: a put with `ifVersion`
   * answered success, a delete `true`. An attempt held up after that (its signing waited for
   * credentials, the process paused) is not sent once a second has passed since its instant:
   * {@link ExpiredSinceJudgedError}, the write judged again ({@link unlessConditionFailed}). Not at
   * the next whole second: a restatement and a send milliseconds apart straddle one about once in a
   * few hundred attempts, and an attempt after one that may have landed was then an unknown outcome
   * for a write held up by nothing (a send is milliseconds late by its network anyway).
   */
  private judgedAtEachAttempt<C extends { middlewareStack: unknown }>(key: string, command: C): C {
    let judgedAt: number | undefined;
    restatedAtEachAttempt(command, LIVE_AT_VALUE, (sent) => {
      judgedAt = Math.max(sent, this.clock() / 1000);
      return judgedAt;
    });
    return guardEachAttempt(command, 'tierlogLiveAtDeadline', () => {
      if (judgedAt !== undefined && this.clock() >= judgedAt * 1000 + 1000) throw new ExpiredSinceJudgedError(key);
    });
  }

  /** A refused write's item (`ALL_OLD`, whole); one not understood is a {@link CorruptItemError}. */
  private parse(raw: Record<string, unknown> | undefined): HvRecord | undefined {
    return raw === undefined ? undefined : this.hv.parseWhole(raw);
  }

  /**
   * As {@link assertVersion} for a conditional write that was refused: if the SDK sent it more
   * than once, an earlier attempt may have landed (its answer lost) before the state moved on, so
   * a mismatch proves nothing: the outcome is unknown, not a conflict.
   */
  private assertVersionAfterRetries(
    key: string,
    ifVersion: number | undefined,
    current: HvRecord | undefined,
    err: unknown,
    id: string,
  ): void {
    if (ifVersion === undefined || this.versionOf(current) === ifVersion) return;
    if (earlierAttemptMayHaveApplied(err)) throw new CommitOutcomeUnknownError(key, id, err);
    this.assertVersion(key, ifVersion, current);
  }

  /**
   * An inline write's error, unless its condition failed (undefined: the item it returned is the
   * caller's to judge): RETRY when a transaction held the item and nothing applied; thrown as a
   * tierlog-named error (a missing table, access denied, a table keyed as another: a ConfigError,
   * never the request's fault); thrown when the request itself was refused (an item past 400 KB,
   * refused again if sent again), or when an
   * attempt was not sent (the put's expiry passed: {@link expiryCheck}) and none before it may have
   * been applied; RETRY when one was not sent for the instant its condition judged the item at
   * ({@link judgedAtEachAttempt}) and none before it may have been applied; else decided by a read
   * ({@link decideByRead}): the record of the write landed, or thrown as unknown.
   */
  private async unlessConditionFailed(
    key: string,
    err: unknown,
    writeId: string,
    operation: 'put' | 'delete',
  ): Promise<typeof RETRY | HvRecord | undefined> {
    if (err instanceof AttemptNotSent) {
      // Stopped before an attempt went out: nothing landed unless an earlier attempt did (a commit's rule, commit.ts).
      if (!earlierAttemptMayHaveApplied(err)) {
        // Held past the instant its condition judged the item live at: judged again, from the start.
        if (err.reason instanceof ExpiredSinceJudgedError) return RETRY;
        throw err.reason;
      }
      return this.landedOrUnknown(key, writeId, err.reason);
    }
    if (refusedForTransaction(err)) return RETRY;
    if (isConditionalCheckFailed(err)) return undefined;
    // A tierlog-named error first: a table keyed as another (the setting names the change log's)
    // is refused with a ValidationException too, the deployment's fault, not the request's.
    const translated = translateAwsError(err, { operation, table: this.hv.tableName });
    if (translated !== err) throw translated;
    if (awsErrorName(err) === 'ValidationException') throw new CommitRefusedError(key, ['ValidationException'], err);
    return this.decideByRead(key, err, writeId, operation);
  }

  /**
   * Decides an inline write (a small put's or a delete's one conditional write, `writeId`) that
   * failed with `err`, neither a failed condition nor a sure refusal for a transaction. A
   * tierlog-named error (a missing table, access denied, a table keyed as another) is thrown as
   * that, and an error of a request refused outright on every attempt (throttled to the last: a
   * 400, nothing applied) as it is. Otherwise the write may have landed: its answer lost, or a 5xx,
   * and perhaps then a retry refused by another writer's transaction, which says nothing of the
   * earlier attempt. A consistent read decides, as a logged commit's unknown outcome (commit.ts):
   * the item carrying `writeId` (a put's body, a delete's marker) is this write landed, returned;
   * anything else is {@link CommitOutcomeUnknownError}, `err` its cause. Never sent again: landed,
   * and overwritten since, the write would apply a second time over the newer one.
   */
  private async decideByRead(key: string, err: unknown, writeId: string, operation: 'put' | 'delete'): Promise<HvRecord> {
    const translated = translateAwsError(err, { operation, table: this.hv.tableName });
    if (translated !== err) throw translated;
    // No attempt went out (credentials that could not be loaded): thrown as it is, as for a logged write.
    if (!requestMayHaveApplied(err) || neverSent(err)) throw err;
    return this.landedOrUnknown(key, writeId, err);
  }

  /** The item, when a consistent read shows it carries `writeId`; else {@link CommitOutcomeUnknownError}, `cause` its cause. */
  private async landedOrUnknown(key: string, writeId: string, cause: unknown): Promise<HvRecord> {
    // A read that fails leaves it open too: not carrying the id, as far as this write can tell.
    const current = await this.hv.read(key, { consistent: true, withBody: false }).catch(() => undefined);
    if (current?.writeId === writeId) return current;
    throw new CommitOutcomeUnknownError(key, writeId, cause);
  }

  /** @throws VersionConflictError unless `current` (a marker or expired: absent, 0) is at `ifVersion`. */
  private assertVersion(key: string, ifVersion: number | undefined, current: HvRecord | undefined): void {
    if (ifVersion !== undefined && this.versionOf(current) !== ifVersion) {
      throw new VersionConflictError(key, ifVersion, this.live(current)?.version);
    }
  }

  /**
   * What a write of this put stores, at its commit. @throws ValidationError when the put's expiry
   * (fixed at its start) has passed by then: the object would be absent the moment it landed, and
   * the value it replaces lost for nothing (an upload session refuses the same at its complete).
   */
  private fields(bytes: Uint8Array, options: PutPlan, writeId: string): HvWriteFields {
    const now = this.assertExpiryAhead(options);
    return {
      size: bytes.byteLength,
      now,
      writeId,
      expiry: options.expiry,
      ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
      ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    };
  }

  /**
   * What each attempt of a put's write runs right before it goes out (an SDK retry a paused writer
   * sends late included): {@link assertExpiryAhead}, so that no attempt lands the object past its
   * expiry, over the value it replaces. Undefined for a put with no expiry.
   */
  private expiryCheck(options: PutPlan): (() => void) | undefined {
    const { ended } = options;
    if (options.expiry.expiresAtSeconds === undefined) return ended;
    return () => {
      ended?.();
      this.assertExpiryAhead(options);
    };
  }

  /**
   * The check a write started now runs before each of its attempts, or undefined: with the log
   * bound to a Lambda invocation (`DynamoChangeLog.bindInvocation`), it throws
   * {@link InvocationEndedError} once that invocation's deadline, taken now, has passed. A write
   * held past it (the invocation timed out; the environment was frozen, then thawed for another)
   * would otherwise go on in a later invocation, unowned: retry a lost CAS and replace or delete
   * what was written since, for a caller answered a timeout long before.
   */
  private invocationCheck(key: string): (() => void) | undefined {
    const deadline = this.context.log.invocationDeadline;
    if (deadline === undefined) return undefined;
    return () => {
      if (this.clock() >= deadline) throw new InvocationEndedError(key, deadline);
    };
  }

  /**
   * Whether a read started now may still send a GET again (a body cut while read), or undefined
   * (always): with the log bound to a Lambda invocation, not once that invocation's deadline,
   * taken now, has passed. A read is no write (sent late it changes nothing), but its answer would
   * come after the invocation's: a large blob read again for nobody, the cut the answer instead.
   */
  private beforeInvocationDeadline(): (() => boolean) | undefined {
    const deadline = this.context.log.invocationDeadline;
    if (deadline === undefined) return undefined;
    return () => this.clock() < deadline;
  }

  /** The clock's now. @throws ValidationError when the put's expiry (fixed at its start) has passed. */
  private assertExpiryAhead(options: PutPlan): number {
    const now = this.clock();
    const field = options.expiresAt !== undefined ? 'expiresAt' : options.timeToLiveMs !== undefined ? 'timeToLiveMs' : 'timeToIdleMs';
    refuseIfExpired(options.expiry, now, field, 'put');
    return now;
  }
}

/**
 * The bytes of a put's body: a string's UTF-8 (well-formed: checked by the caller), or the bytes a
 * `Uint8Array` (a `Buffer`) views, its own `byteOffset` and `byteLength` into its buffer. One of
 * another realm (a `vm` context; Jest's sandbox, whose `Buffer` is the host's) is viewed again in
 * this one: refused by `instanceof`, it was a "must be a Uint8Array" for a Buffer, and the SDK's
 * upload tells bytes by `instanceof` too. Anything else (a stream, a Blob, an ArrayBuffer, another
 * typed array) is a ValidationError naming what it got, before anything is written; so is a view
 * of a detached buffer, which reads as empty.
 */
function bytesOf(body: unknown): Uint8Array {
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (types.isUint8Array(body)) {
    // A view of a buffer that was transferred (postMessage, structuredClone's transfer) reads as
    // empty: it would be stored as an empty object and answered as a success, the bytes lost.
    if (body.byteLength === 0 && isDetached(body.buffer)) {
      throw new ValidationError(
        'body is a view of a detached ArrayBuffer (transferred elsewhere): its bytes are gone, nothing was stored',
        'body',
      );
    }
    // One of another realm fails `instanceof` here: viewed again in this one.
    const view: Uint8Array = body;
    return body instanceof Uint8Array ? body : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  }
  throw new ValidationError(
    `body must be a Uint8Array (a Buffer) or a string, got ${kindOf(body)}: read a stream or a Blob into a Buffer first (createUpload uploads a large body in parts)`,
    'body',
  );
}

/** True when `buffer` was detached (transferred): `detached` where the runtime has it (Node 22+), else `slice` throws. */
function isDetached(buffer: ArrayBufferLike): boolean {
  const flag = (buffer as { readonly detached?: unknown }).detached;
  if (typeof flag === 'boolean') return flag;
  try {
    buffer.slice(0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * A write refused because a transaction (another writer's commit of the key) held the item, with
 * no attempt before it that may have been applied (every earlier one, if any, refused outright):
 * nothing was applied, so it is tried again. After an attempt that got no answer or a 5xx, the
 * earlier one may have landed: the write is decided by a read instead (`decideByRead`).
 */
function refusedForTransaction(err: unknown): boolean {
  return isTransactionConflict(err) && !earlierAttemptMayHaveApplied(err);
}

/**
 * @throws ValidationError when `log` is not a change log (none given, `{}`).
 * @throws ConfigError when `log` was made from a configuration (a `DynamoChangeLog`: its `config`) with another change-log table,
 * blob prefix, lease-shard count or objects table than the store's configuration. The
 * store writes its entries through the log, into the log's table, while its upload sessions live
 * in the configuration's table and the sweeper reads the configuration's table and prefix: with
 * another table, a dead writer's entries lie where no sweeper of this store looks (its blobs
 * leak); with another prefix, every large write is refused at its record; with other shards, a
 * sweeper queries lease-index partitions the instances are not in; with another objects table,
 * the log stamps its items with a store the writes do not go to (store-stamp.ts), and this
 * store's sweeper quarantines them. Refused at construction, before any request.
 */
function assertLogOfThisStore(config: TierlogConfig, log: ChangeLog): void {
  const candidate = log as Partial<ChangeLog> | undefined;
  if (typeof candidate?.record !== 'function' || typeof candidate.remove !== 'function' || typeof candidate.scan !== 'function') {
    // Else a TypeError at construction (none given) or at the first large write (not a log).
    throw new ValidationError(
      'changeLog must be a change log (record, remove, scan): a DynamoChangeLog, or NoopChangeLog for none',
      'changeLog',
    );
  }
  // A log made from a configuration (DynamoChangeLog) says which: it must be this store's.
  const logConfig = (log as { readonly config?: Partial<TierlogConfig> }).config;
  if (typeof logConfig?.changeLogTable !== 'string') return;
  for (const setting of ['changeLogTable', 'prefix', 'leaseShards', 'objectsTable'] as const) {
    if (logConfig[setting] !== config[setting]) {
      throw new ConfigError(
        `the change log was made with ${setting} ${JSON.stringify(logConfig[setting])}, the store with ${JSON.stringify(config[setting])}: give both the same configuration`,
        setting,
      );
    }
  }
}

/** A version is a non-negative integer JavaScript holds exactly (versions.ts: below 2^53 until 2255). */
function assertIfVersion(ifVersion: number | undefined): void {
  if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
    throw new ValidationError('ifVersion must be a non-negative safe integer', 'ifVersion');
  }
}

/**
 * The condition of an inline put's first write: {@link conditionOf}, but an item expired at
 * `now` is refused whatever `ifVersion` says (the put then CASes on it as stored).
 */
function firstConditionOf(ifVersion: number | undefined, now: number): Expected {
  if (ifVersion === undefined) return { kind: 'any', liveAt: now };
  return ifVersion === 0 ? { kind: 'absent' } : conditionOf(ifVersion, now);
}

/** True when `record` is an object's item (not a deletion marker) expired at `now`. */
function expiredAt(record: HvRecord | undefined, now: number): boolean {
  const object = liveOf(record);
  return object !== undefined && isExpired(object, now);
}

/**
 * The condition of a user's `ifVersion`: anything, absent (0: no object, a marker, or an item
 * expired at `now`), or that version of an object live at `now`.
 */
function conditionOf(ifVersion: number | undefined, now: number): Expected {
  if (ifVersion === undefined) return { kind: 'any' };
  return ifVersion === 0 ? { kind: 'absent', liveAt: now } : { kind: 'version', version: ifVersion, liveAt: now };
}
