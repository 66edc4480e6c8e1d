/**
 * TieredStore: objects in two tiers, with every multi-step write made crash-safe by the change log.
 *
 * Small bodies live inline in HV (the objects table): ONE conditional write, no log, no S3.
 * Large bodies live in LT (the bucket) under a never-reused key, and HV holds a tombstone that
 * points at the blob. A large write is several non-atomic steps, so it goes through the log:
 *
 *   1. record `{id: key, new}`, in parallel with a consistent read of HV (the version to CAS
 *      against, and the blob being replaced, `old`). The entry is durable before step 2.
 *   2. upload `new` (lib-storage: multipart above one part).
 *   3. fenced commit: ONE TransactWriteItems = [HV CAS on the version, change-log element that
 *      requires the instance live and the entry present]. A create removes its entry inside the
 *      commit (nothing is left to clean); an overwrite writes `old` into it.
 *   4. delete `old` from LT.   5. remove the entry.
 *
 * A crash anywhere leaves an entry that a sweeper settles from HV alone: delete `old` unless HV
 * points at it, delete `new` unless HV points at it. Replacing a blob with an inline body, and
 * deleting a large object, record `{old}` and commit the same way.
 *
 * Errors inside the process are cleaned up before the call returns (a Lambda may be frozen the
 * moment its handler returns, so nothing is left to a background promise); what cannot be
 * cleaned stays in the log for the sweeper. A commit whose outcome is unknown is decided by a
 * consistent HV read, never assumed lost.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TierlogConfig } from '../config.js';
import type { ChangeLog } from '../changelog/change-log.js';
import { type FenceEffect, isFencedChangeLog } from '../changelog/fenced.js';
import { DEFAULT_INLINE_THRESHOLD, DYNAMODB_ITEM_LIMIT, INLINE_OVERHEAD_RESERVE, MULTIPART_PART_SIZE } from '../constants.js';
import {
  BlobMissingError,
  CommitOutcomeUnknownError,
  ContentionError,
  InstanceClaimedError,
  ValidationError,
  VersionConflictError,
} from '../errors.js';
import { type Clock, newChangeId, systemClock } from '../ids.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { isConditionalCheckFailed, translateAwsError } from '../aws/errors.js';
import { newBlobKey } from './blob-keys.js';
import { type CommitOutcome, commitWrite } from './commit.js';
import { type Expected, type HvAttributeNames, type HvRecord, HvTable, type HvWrite, type HvWriteFields } from './hv-table.js';
import { LtBucket } from './lt-bucket.js';
import { type ExpiryPolicy, expiryDateOf, isExpired, type StoredExpiry, storedExpiryOf, ttiRefresh } from './expiry.js';
import { assertContentType, assertMetadata, assertObjectKey } from './object-key.js';
import { oldItemOf } from '../changelog/instance-table.js';

export interface TieredStoreOptions {
  /** Table, bucket and prefix names. */
  readonly config: TierlogConfig;
  /** The change log large writes go through. A `DynamoChangeLog` gives fenced commits. */
  readonly changeLog: ChangeLog;
  /** Default: a client from the environment. */
  readonly dynamodb?: DynamoDBClient;
  /** Default: a client from the environment. */
  readonly s3?: S3Client;
  /**
   * Bodies up to this many bytes are stored inline in HV. Default 8 KiB (see the README's
   * "inline threshold"); at most 384 KiB (the item limit less room for the other attributes).
   */
  readonly inlineThreshold?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  readonly clock?: Clock;
  /** HV attribute names, for users with their own objects-table schema. */
  readonly attributes?: Partial<HvAttributeNames>;
  /** Multipart part size for uploads. Default 8 MiB (minimum 5 MiB). */
  readonly partSize?: number;
  /** Attempts of a write without `ifVersion` that loses its CAS to other writers. Default 5. */
  readonly maxAttempts?: number;
  /** Reads use consistent reads (read-your-writes). Default true. */
  readonly consistentReads?: boolean;
  /** Receives errors of in-process cleanup (the entry then stays for the sweeper). */
  readonly onCleanupError?: (err: unknown, context: { key: string; changeId: string; blob?: string }) => void;
}

/**
 * `expiresAt`, `timeToLiveMs` or `timeToIdleMs` (one of them, see lib/tiered/expiry.ts): the
 * object's expiry. A write replaces the policy; none given, the object never expires.
 */
export interface PutOptions extends ExpiryPolicy {
  readonly contentType?: string;
  /** User metadata: lower-case names, printable ASCII values, 2 KB in all. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Write only if the stored version is this one; `0` means "only if absent". */
  readonly ifVersion?: number;
}

/** A put's options with its expiry computed once (at the start of the put). */
interface PutPlan extends PutOptions {
  readonly expiry: StoredExpiry;
}

export interface DeleteOptions {
  /** Delete only if the stored version is this one. */
  readonly ifVersion?: number;
}

export interface ObjectInfo {
  readonly key: string;
  readonly version: number;
  readonly size: number;
  readonly contentType?: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Where the body lives. */
  readonly stored: 'inline' | 'blob';
  /** When the object expires (absent: never). Second resolution. */
  readonly expiresAt?: Date;
}

export interface GetResult extends ObjectInfo {
  readonly body: Uint8Array;
}

export interface StreamResult extends ObjectInfo {
  readonly body: Readable;
}

export interface PutResult {
  readonly key: string;
  readonly version: number;
  readonly size: number;
  readonly stored: 'inline' | 'blob';
}

const RETRY = Symbol('retry');
type Attempt<T> = T | typeof RETRY;

export class TieredStore {
  readonly config: TierlogConfig;
  readonly inlineThreshold: number;
  private readonly log: ChangeLog;
  private readonly hv: HvTable;
  private readonly lt: LtBucket;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
  private readonly consistentReads: boolean;
  private readonly onCleanupError: NonNullable<TieredStoreOptions['onCleanupError']>;

  constructor(options: TieredStoreOptions) {
    this.config = options.config;
    this.log = options.changeLog;
    this.inlineThreshold = options.inlineThreshold ?? DEFAULT_INLINE_THRESHOLD;
    const maxInline = DYNAMODB_ITEM_LIMIT - INLINE_OVERHEAD_RESERVE;
    if (!Number.isInteger(this.inlineThreshold) || this.inlineThreshold < 0 || this.inlineThreshold > maxInline) {
      throw new ValidationError(`inlineThreshold must be an integer in 0..${maxInline}`, 'inlineThreshold');
    }
    this.hv = new HvTable(options.config.objectsTable, options.dynamodb ?? createDynamoDBClient(), options.attributes);
    this.lt = new LtBucket(options.s3 ?? createS3Client(), options.config.bucket, options.config.prefix, options.partSize ?? MULTIPART_PART_SIZE);
    this.clock = options.clock ?? systemClock;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.consistentReads = options.consistentReads ?? true;
    this.onCleanupError = options.onCleanupError ?? (() => {});
  }

  // ---- reads -------------------------------------------------------------------------------

  /** The object with its body, or undefined when absent. */
  async get(key: string): Promise<GetResult | undefined> {
    assertObjectKey(key);
    return this.readBody(key, 'bytes', (blob) => this.lt.getBytes(blob));
  }

  /** The object with its body as a stream (large objects are not buffered), or undefined. */
  async getStream(key: string): Promise<StreamResult | undefined> {
    assertObjectKey(key);
    return this.readBody(key, 'stream', (blob) => this.lt.getStream(blob));
  }

  /** The object's metadata without its body, or undefined when absent. */
  async head(key: string): Promise<ObjectInfo | undefined> {
    assertObjectKey(key);
    const record = this.live(await this.hv.read(key, { consistent: this.consistentReads, withBody: false }));
    return record === undefined ? undefined : infoOf(await this.touch(record));
  }

  /**
   * Reads HV, then the blob if the object is a tombstone. A blob that is gone was replaced
   * between the two reads: re-read HV and follow the new pointer, instead of failing (at most
   * `maxAttempts` times; then a ContentionError, the object being rewritten faster than read).
   */
  private async readBody<B extends Uint8Array | Readable>(
    key: string,
    mode: B extends Readable ? 'stream' : 'bytes',
    fetchBlob: (blob: string) => Promise<B | undefined>,
  ): Promise<(ObjectInfo & { body: B }) | undefined> {
    let record = this.live(await this.hv.read(key, { consistent: this.consistentReads }));
    for (let pass = 0; record !== undefined; pass++) {
      if (record.blob === undefined) {
        const bytes = record.body ?? new Uint8Array(0);
        const body = (mode === 'stream' ? ReadableStream.from([Buffer.from(bytes)]) : bytes) as B;
        return { ...infoOf(await this.touch(record)), body };
      }
      const body = await fetchBlob(record.blob);
      if (body !== undefined) return { ...infoOf(await this.touch(record)), body };
      // Missing only if HV still points at it; else it was replaced while we read: follow the
      // pointer while it keeps moving (a slow read can be overtaken more than once).
      const previous = record.blob;
      record = this.live(await this.hv.read(key, { consistent: true }));
      if (record?.blob === previous) throw new BlobMissingError(key, previous);
      if (pass + 1 >= this.maxAttempts && record?.blob !== undefined) throw new ContentionError(key, this.maxAttempts);
    }
    return undefined;
  }

  /** The object `record` stands for: none when it is expired (DynamoDB may keep it for days). */
  private live(record: HvRecord | undefined): HvRecord | undefined {
    return record !== undefined && isExpired(record, this.clock()) ? undefined : record;
  }

  /**
   * Time to idle: moves the expiry of a read object forward when due (debounced, see
   * expiry.ts), as a conditional update that never fails the read.
   */
  private async touch(record: HvRecord): Promise<HvRecord> {
    const now = this.clock();
    const next = ttiRefresh(record, now);
    if (next === undefined) return record;
    try {
      await this.hv.client.send(new UpdateCommand(this.hv.ttiRefreshWrite(record.key, record.version, record.expiresAtSeconds!, next, now).input));
      return { ...record, expiresAtSeconds: next };
    } catch {
      return record; // overwritten, deleted or expired meanwhile, or a transient error: the read stands
    }
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Stores `body` under `key`: inline when small, as a blob through the log when large. */
  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<PutResult> {
    assertObjectKey(key);
    assertContentType(options.contentType);
    assertMetadata(options.metadata);
    if (options.ifVersion !== undefined && (!Number.isInteger(options.ifVersion) || options.ifVersion < 0)) {
      throw new ValidationError('ifVersion must be a non-negative integer', 'ifVersion');
    }
    // Validates the expiry policy before anything is written; one instant for every attempt.
    const plan: PutPlan = { ...options, expiry: storedExpiryOf(options, this.clock()) };
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    if (!(bytes instanceof Uint8Array)) throw new ValidationError('body must be a Uint8Array or a string', 'body');
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const result =
        bytes.byteLength <= this.inlineThreshold
          ? await this.tryPutInline(key, bytes, plan)
          : await this.tryPutBlob(key, bytes, plan);
      if (result !== RETRY) return result;
      await backoff(attempt);
    }
    throw new ContentionError(key, this.maxAttempts);
  }

  /** Deletes `key`; false when it was absent. */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    assertObjectKey(key);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const result = await this.tryDelete(key, options);
      if (result !== RETRY) return result;
      await backoff(attempt);
    }
    throw new ContentionError(key, this.maxAttempts);
  }

  /** Small body: one conditional write that refuses to overwrite a tombstone. */
  private async tryPutInline(key: string, bytes: Uint8Array, options: PutPlan): Promise<Attempt<PutResult>> {
    const writeId = newChangeId();
    const write = this.hv.inlineWrite(key, bytes, this.fields(bytes, options, writeId), expectedOf(options.ifVersion, this.clock()), true);
    try {
      const out = await this.hv.client.send(
        new UpdateCommand({ ...write.input, ReturnValues: 'UPDATED_NEW', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
      );
      return { key, version: Number(out.Attributes?.[this.hv.attrs.version]), size: bytes.byteLength, stored: 'inline' };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw translateAwsError(err, { operation: 'put', table: this.hv.tableName });
      const raw = oldItemOf(err);
      // `physical`: the item as stored; `current`: the object it stands for (none when expired).
      const physical = raw === undefined ? undefined : this.hv.parse(raw);
      const current = this.live(physical);
      if (physical?.writeId === writeId) {
        // An SDK retry of a write that had landed.
        return { key, version: physical.version, size: bytes.byteLength, stored: 'inline' };
      }
      this.assertVersionAfterRetries(key, options.ifVersion, current, err, writeId);
      if (physical?.blob === undefined) return RETRY;
      // A blob (of a live or an expired object) is replaced through the log: the CAS names it.
      const replaced = await this.replaceBlob(
        key,
        physical,
        (id, expected) => this.hv.inlineWrite(key, bytes, this.fields(bytes, options, id), expected, false),
        options.ifVersion,
      );
      return replaced === RETRY ? RETRY : { key, version: physical.version + 1, size: bytes.byteLength, stored: 'inline' };
    }
  }

  /** Large body: record ∥ read, upload, fenced commit, delete old, remove. */
  private async tryPutBlob(key: string, bytes: Uint8Array, options: PutPlan): Promise<Attempt<PutResult>> {
    const changeId = newChangeId();
    const blob = newBlobKey(this.config.prefix, key);
    let current: HvRecord | undefined;
    if (isFencedChangeLog(this.log)) {
      const [recorded, read] = await Promise.allSettled([
        this.log.record(changeId, { id: key, new: blob }),
        this.hv.read(key, { withBody: false }),
      ]);
      if (recorded.status === 'rejected' || read.status === 'rejected') {
        await this.forget(key, changeId);
        throw recorded.status === 'rejected' ? recorded.reason : (read as PromiseRejectedResult).reason;
      }
      current = read.value;
    } else {
      // A plain log cannot have `old` written into its entry at commit: record it up front.
      current = await this.hv.read(key, { withBody: false });
      await this.log.record(changeId, { id: key, new: blob, ...(current?.blob !== undefined ? { old: current.blob } : {}) });
    }
    // An expired object is absent to ifVersion; the CAS below still names the item as stored.
    if (options.ifVersion !== undefined && (this.live(current)?.version ?? 0) !== options.ifVersion) {
      await this.forget(key, changeId);
      throw new VersionConflictError(key, options.ifVersion, this.live(current)?.version);
    }

    try {
      await this.lt.upload(blob, bytes, {
        ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
        ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
      });
    } catch (err) {
      await this.discard(key, changeId, blob);
      throw err;
    }

    const fields = this.fields(bytes, options, changeId);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const old = current?.blob;
      // The blob pins the incarnation (a delete restarts versions at 1): a CAS that lands on
      // another incarnation with the same version would replace a blob it never names as `old`.
      const expected: Expected =
        current === undefined ? { kind: 'absent' } : { kind: 'version', version: current.version, blob: current.blob ?? null };
      const effect: FenceEffect = old !== undefined ? { kind: 'setOld', old } : { kind: 'remove' };
      const outcome = await commitWrite({ hv: this.hv, write: this.hv.tombstoneWrite(key, blob, fields, expected), log: this.log, changeId, effect });
      switch (outcome.kind) {
        case 'committed':
          await this.finish(key, changeId, old);
          return { key, version: (current?.version ?? 0) + 1, size: bytes.byteLength, stored: 'blob' };
        case 'conflict': {
          const now = outcome.current === undefined ? undefined : this.hv.parse(outcome.current);
          if (options.ifVersion !== undefined || !isFencedChangeLog(this.log)) {
            await this.discard(key, changeId, blob);
            if (options.ifVersion !== undefined) throw new VersionConflictError(key, options.ifVersion, now?.version);
            return RETRY;
          }
          // Another writer got there first: CAS again against what is there now, same blob.
          current = now;
          await backoff(attempt);
          continue;
        }
        case 'busy':
          await backoff(attempt);
          continue;
        default:
          return this.failedCommit(key, changeId, outcome, blob);
      }
    }
    await this.discard(key, changeId, blob);
    return RETRY;
  }

  /**
   * Replaces a blob with an inline body, or deletes a large object: record `{old}`, fenced
   * commit of `write(changeId)`, delete `old`, remove. RETRY when the CAS was lost.
   */
  private async replaceBlob(
    key: string,
    current: HvRecord,
    write: (changeId: string, expected: Expected) => HvWrite,
    ifVersion: number | undefined,
    landed?: (item: Record<string, unknown> | undefined) => boolean,
  ): Promise<Attempt<void>> {
    const old = current.blob!;
    const changeId = newChangeId();
    await this.log.record(changeId, { id: key, old });
    const outcome = await commitWrite({
      hv: this.hv,
      write: write(changeId, { kind: 'version', version: current.version, blob: old }),
      log: this.log,
      changeId,
      effect: { kind: 'check' },
      ...(landed !== undefined ? { landed } : {}),
    });
    switch (outcome.kind) {
      case 'committed':
        await this.finish(key, changeId, old);
        return;
      case 'conflict':
      case 'busy': {
        await this.forget(key, changeId);
        if (ifVersion !== undefined) {
          const now = outcome.kind === 'conflict' && outcome.current !== undefined ? this.hv.parse(outcome.current) : undefined;
          throw new VersionConflictError(key, ifVersion, now?.version);
        }
        return RETRY;
      }
      default:
        return this.failedCommit(key, changeId, outcome, undefined);
    }
  }

  private async tryDelete(key: string, options: DeleteOptions): Promise<Attempt<boolean>> {
    // An expired object is absent to delete: the condition refuses it (TTL removes it).
    const now = this.clock();
    const expected: Expected = options.ifVersion === undefined ? { kind: 'any', liveAt: now } : expectedOf(options.ifVersion, now);
    const write = this.hv.deleteWrite(key, expected, true);
    try {
      const out = await this.hv.client.send(
        new DeleteCommand({ ...write.input, ReturnValues: 'ALL_OLD', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
      );
      return out.Attributes !== undefined;
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw translateAwsError(err, { operation: 'delete', table: this.hv.tableName });
      const raw = oldItemOf(err);
      const current = this.live(raw === undefined ? undefined : this.hv.parse(raw));
      this.assertVersionAfterRetries(key, options.ifVersion, current, err, '(inline delete)');
      if (current === undefined) return false; // expired: absent
      if (current.blob === undefined) return RETRY;
      const replaced = await this.replaceBlob(
        key,
        current,
        (_id, expected) => this.hv.deleteWrite(key, expected, false),
        options.ifVersion,
        // A delete leaves no item to carry its id: it landed only if the item is gone. An item
        // that points elsewhere was replaced by another writer (whose entry names `old`): the
        // delete did not happen (the transaction's token makes a refusal definite).
        (item) => item === undefined,
      );
      return replaced === RETRY ? RETRY : true;
    }
  }

  // ---- outcomes and cleanup ----------------------------------------------------------------

  /** After a commit landed: delete the replaced blob, then the entry. */
  private async finish(key: string, changeId: string, old: string | undefined): Promise<void> {
    if (old !== undefined && !(await this.tryDeleteBlob(key, changeId, old))) {
      this.leaveToSweeper(changeId);
      return;
    }
    await this.forget(key, changeId);
  }

  /** A commit that was fenced or whose outcome is unknown. */
  private async failedCommit(key: string, changeId: string, outcome: CommitOutcome, blob: string | undefined): Promise<never> {
    if (outcome.kind === 'fenced') {
      if (isFencedChangeLog(this.log)) this.log.fenceLost(changeId);
      // Fenced: this commit can never land, so `new` is garbage. The sweeper that claimed the
      // instance would delete it too; deleting it now is prompt and idempotent.
      if (blob !== undefined) await this.tryDeleteBlob(key, changeId, blob);
      throw new InstanceClaimedError(changeId);
    }
    // Unknown: leave everything to the sweeper, whose claim fences a commit that lands late.
    this.leaveToSweeper(changeId);
    throw new CommitOutcomeUnknownError(key, changeId, outcome.kind === 'unknown' ? outcome.error : undefined);
  }

  /** The write did not land: delete its blob, then its entry (the entry stays if the blob does). */
  private async discard(key: string, changeId: string, blob: string): Promise<void> {
    if (await this.tryDeleteBlob(key, changeId, blob)) await this.forget(key, changeId);
    else this.leaveToSweeper(changeId);
  }

  private async tryDeleteBlob(key: string, changeId: string, blob: string): Promise<boolean> {
    try {
      await this.lt.delete(blob);
      return true;
    } catch (err) {
      this.onCleanupError(err, { key, changeId, blob });
      return false;
    }
  }

  /** Removes an entry; a failure leaves it for the sweeper, which settles it from HV. */
  private async forget(key: string, changeId: string): Promise<void> {
    try {
      await this.log.remove(changeId);
    } catch (err) {
      this.onCleanupError(err, { key, changeId });
      this.leaveToSweeper(changeId);
    }
  }

  /** An entry this process will not settle: the log stops keeping its instance alive for it. */
  private leaveToSweeper(changeId: string): void {
    if (isFencedChangeLog(this.log)) this.log.abandon(changeId);
  }

  /**
   * As {@link assertVersion} for a conditional write that was refused: if the SDK sent it more
   * than once, an earlier attempt may have landed (its answer lost) before the state moved on, so
   * a mismatch proves nothing: the outcome is unknown, not a conflict.
   */
  private assertVersionAfterRetries(key: string, ifVersion: number | undefined, current: HvRecord | undefined, err: unknown, id: string): void {
    if (ifVersion === undefined || (current?.version ?? 0) === ifVersion) return;
    const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
    if (attempts > 1) throw new CommitOutcomeUnknownError(key, id, err);
    this.assertVersion(key, ifVersion, current);
  }

  private assertVersion(key: string, ifVersion: number | undefined, current: HvRecord | undefined): void {
    if (ifVersion === undefined) return;
    if ((current?.version ?? 0) !== ifVersion) throw new VersionConflictError(key, ifVersion, current?.version);
  }

  private fields(bytes: Uint8Array, options: PutPlan, writeId: string): HvWriteFields {
    return {
      size: bytes.byteLength,
      now: this.clock(),
      writeId,
      expiry: options.expiry,
      ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
      ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    };
  }
}

/** The condition of `ifVersion`, under which an item expired at `now` counts as absent. */
function expectedOf(ifVersion: number | undefined, now: number): Expected {
  if (ifVersion === undefined) return { kind: 'any' };
  return ifVersion === 0 ? { kind: 'absent', liveAt: now } : { kind: 'version', version: ifVersion, liveAt: now };
}

function infoOf(record: HvRecord): ObjectInfo {
  return {
    key: record.key,
    version: record.version,
    size: record.size,
    ...(record.contentType !== undefined ? { contentType: record.contentType } : {}),
    metadata: record.metadata,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    stored: record.blob !== undefined ? 'blob' : 'inline',
    ...(record.expiresAtSeconds !== undefined ? { expiresAt: expiryDateOf(record)! } : {}),
  };
}

function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(1_000, 10 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
