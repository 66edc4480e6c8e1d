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
 * Replacing a blob with an inline body, and deleting a large object, record `{old}` and commit
 * the same way. A crash anywhere leaves an entry that a sweeper settles from HV alone: delete
 * `old` unless HV points at it, delete `new` unless HV points at it.
 *
 * A delete leaves a deletion marker that keeps the version counter, so a version (and an ETag)
 * names one state of one incarnation of a key: an `ifVersion` taken before a delete never matches
 * the object re-created after it. Reads treat a marker as absent.
 *
 * The change log is wrapped once, at construction ({@link fencedLogOf}): a log that cannot fence
 * gets the same path, with a plain conditional write as its commit.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TierlogConfig } from '../config.js';
import type { ChangeLog } from '../changelog/change-log.js';
import { oldItemOf } from '../changelog/instance-table.js';
import { DEFAULT_INLINE_THRESHOLD, DYNAMODB_ITEM_LIMIT, INLINE_OVERHEAD_RESERVE, MULTIPART_PART_SIZE } from '../constants.js';
import {
  AccessDeniedError,
  BlobMissingError,
  CommitOutcomeUnknownError,
  ContentionError,
  ValidationError,
  VersionConflictError,
} from '../errors.js';
import { type Clock, newChangeId, systemClock } from '../ids.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { isConditionalCheckFailed, translateAwsError } from '../aws/errors.js';
import { newBlobKey } from './blob-keys.js';
import {
  type Expected,
  expectedOf,
  type HvAttributeNames,
  type HvRecord,
  HvTable,
  type HvWrite,
  type HvWriteFields,
  liveOf,
} from './hv-table.js';
import { type ChangeContext, LoggedChange } from './logged-change.js';
import { LtBucket } from './lt-bucket.js';
import { assertContentType, assertMetadata, assertObjectKey } from './object-key.js';
import { type DeleteOptions, type GetResult, infoOf, type ObjectInfo, type PutOptions, type PutResult, type StreamResult } from './object-info.js';
import { fencedLogOf } from './plain-log-adapter.js';

export type { DeleteOptions, GetResult, ObjectInfo, PutOptions, PutResult, StreamResult } from './object-info.js';

export interface TieredStoreOptions {
  /** Table, bucket and prefix names. */
  readonly config: TierlogConfig;
  /**
   * The change log writes that involve a blob go through. A `DynamoChangeLog` gives fenced
   * commits; any other {@link ChangeLog} is adapted (its commit is a plain conditional write).
   */
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
  /**
   * Answer a write as soon as its commit landed and run its settle (delete the replaced blob,
   * remove the entry) in the background; {@link TieredStore.settled} awaits it. Default false:
   * a write resolves after its settle. A process that may stop or freeze right after answering
   * (a Lambda handler) must `await store.settled()` before it returns; whatever it does not
   * finish stays in the log for the sweeper, as after a crash.
   */
  readonly settleInBackground?: boolean;
}

const RETRY = Symbol('retry');
type Attempt<T> = T | typeof RETRY;

export class TieredStore {
  readonly config: TierlogConfig;
  readonly inlineThreshold: number;
  private readonly hv: HvTable;
  private readonly lt: LtBucket;
  private readonly context: ChangeContext;
  private readonly clock: Clock;
  private readonly maxAttempts: number;
  private readonly consistentReads: boolean;
  private readonly settleInBackground: boolean;
  /** Settles of committed changes still running (with `settleInBackground`). */
  private readonly settling = new Set<Promise<void>>();

  constructor(options: TieredStoreOptions) {
    this.config = options.config;
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
    this.settleInBackground = options.settleInBackground ?? false;
    this.context = { log: fencedLogOf(options.changeLog), hv: this.hv, lt: this.lt, onCleanupError: options.onCleanupError ?? (() => {}) };
  }

  /**
   * Resolves once every settle running in the background (see `settleInBackground`) has
   * finished, including settles of writes that answer while it waits. Never rejects: a settle
   * that fails leaves its entry to the sweeper and reports to `onCleanupError`.
   */
  async settled(): Promise<void> {
    while (this.settling.size > 0) await Promise.all([...this.settling]);
  }

  /** How many settles are running in the background. */
  get pendingSettles(): number {
    return this.settling.size;
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
    const record = liveOf(await this.hv.read(key, { consistent: this.consistentReads, withBody: false }));
    return record === undefined ? undefined : infoOf(record);
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
    let record = liveOf(await this.hv.read(key, { consistent: this.consistentReads }));
    for (let pass = 0; record !== undefined; pass++) {
      if (record.blob === undefined) {
        const bytes = record.body ?? new Uint8Array(0);
        const body = (mode === 'stream' ? ReadableStream.from([Buffer.from(bytes)]) : bytes) as B;
        return { ...infoOf(record), body };
      }
      // A writer has no s3:ListBucket, so S3 answers a GET of a missing blob 403, not 404: a
      // refusal may mean "replaced and deleted". It counts as that only if HV moved on.
      let refused: AccessDeniedError | undefined;
      const body = await fetchBlob(record.blob).catch((err: unknown) => {
        if (!(err instanceof AccessDeniedError)) throw err;
        refused = err;
        return undefined;
      });
      if (body !== undefined) return { ...infoOf(record), body };
      // Missing only if HV still points at it; else it was replaced while we read: follow the
      // pointer while it keeps moving (a slow read can be overtaken more than once).
      const previous = record.blob;
      record = liveOf(await this.hv.read(key, { consistent: true }));
      if (record?.blob === previous) throw refused ?? new BlobMissingError(key, previous);
      if (pass + 1 >= this.maxAttempts && record?.blob !== undefined) throw new ContentionError(key, this.maxAttempts);
    }
    return undefined;
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Stores `body` under `key`: inline when small, as a blob through the log when large. */
  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<PutResult> {
    assertObjectKey(key);
    assertContentType(options.contentType);
    assertMetadata(options.metadata);
    assertIfVersion(options.ifVersion);
    const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    if (!(bytes instanceof Uint8Array)) throw new ValidationError('body must be a Uint8Array or a string', 'body');
    const inline = bytes.byteLength <= this.inlineThreshold;
    return this.retrying(key, () => (inline ? this.tryPutInline(key, bytes, options) : this.tryPutBlob(key, bytes, options)));
  }

  /** Deletes `key`; false when it was absent. */
  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    assertObjectKey(key);
    assertIfVersion(options.ifVersion);
    return this.retrying(key, () => this.tryDelete(key, options));
  }

  /** Small body: one conditional write that refuses to overwrite a tombstone. */
  private async tryPutInline(key: string, bytes: Uint8Array, options: PutOptions): Promise<Attempt<PutResult>> {
    const fields = this.fields(bytes, options, newChangeId());
    const write = this.hv.inlineWrite(key, bytes, fields, conditionOf(options.ifVersion), true);
    try {
      // The replaced attributes come back: the version it moved on from, and `createdAt` unless
      // it replaced nothing or a deletion marker.
      const out = await this.hv.client.send(
        new UpdateCommand({ ...write.input, ReturnValues: 'UPDATED_OLD', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }),
      );
      const old = out.Attributes ?? {};
      const version = Number(old[this.hv.attrs.version] ?? 0) + 1;
      return { key, version, size: bytes.byteLength, stored: 'inline', created: old[this.hv.attrs.createdAt] === undefined };
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw translateAwsError(err, { operation: 'put', table: this.hv.tableName });
      const current = this.parse(oldItemOf(err));
      if (current?.writeId === fields.writeId) {
        // An SDK retry of a write that had landed.
        return { key, version: current.version, size: bytes.byteLength, stored: 'inline', created: current.createdAt === fields.now };
      }
      this.assertVersionAfterRetries(key, options.ifVersion, current, err, fields.writeId);
      if (current?.blob === undefined) return RETRY;
      const replaced = await this.replaceBlob(key, current, options.ifVersion, (id, expected) =>
        this.hv.inlineWrite(key, bytes, this.fields(bytes, options, id), expected, false),
      );
      return replaced === RETRY ? RETRY : resultOf(key, bytes, 'inline', current);
    }
  }

  /** Large body: record ∥ read, upload, commit (again against what HV holds, if it moved), settle. */
  private async tryPutBlob(key: string, bytes: Uint8Array, options: PutOptions): Promise<Attempt<PutResult>> {
    const change = this.change(key, newBlobKey(this.config.prefix, key));
    try {
      let current = await change.record(this.hv.read(key, { withBody: false }));
      this.assertVersion(key, options.ifVersion, current);
      await change.upload(bytes, {
        ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
        ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
      });
      const fields = this.fields(bytes, options, change.changeId);
      for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
        const write = this.hv.tombstoneWrite(key, change.blob!, fields, expectedOf(current));
        const refused = await change.commit(write, current?.blob);
        if (refused === undefined) return resultOf(key, bytes, 'blob', current);
        if (refused.kind === 'conflict') {
          // Another writer got there first: CAS again against what is there now, same blob.
          current = this.parse(refused.current);
          this.assertVersion(key, options.ifVersion, current);
        }
        await backoff(attempt);
      }
      return RETRY;
    } finally {
      await this.close(change);
    }
  }

  /** Small delete: one conditional write of a deletion marker that refuses to replace a tombstone. */
  private async tryDelete(key: string, options: DeleteOptions): Promise<Attempt<boolean>> {
    const writeId = newChangeId();
    const write = this.hv.markerWrite(key, { now: this.clock(), writeId }, conditionOf(options.ifVersion), true);
    try {
      await this.hv.client.send(new UpdateCommand({ ...write.input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
      return true;
    } catch (err) {
      if (!isConditionalCheckFailed(err)) throw translateAwsError(err, { operation: 'delete', table: this.hv.tableName });
      const current = this.parse(oldItemOf(err));
      if (current?.writeId === writeId) return true; // an SDK retry of a delete that had landed
      this.assertVersionAfterRetries(key, options.ifVersion, current, err, writeId);
      const live = liveOf(current);
      if (live === undefined) return false;
      if (live.blob === undefined) return RETRY;
      const replaced = await this.replaceBlob(key, live, options.ifVersion, (id, expected) =>
        this.hv.markerWrite(key, { now: this.clock(), writeId: id }, expected, false),
      );
      return replaced === RETRY ? RETRY : true;
    }
  }

  /**
   * Replaces the blob of `current` with an inline body, or deletes it: record `{old}`, commit
   * `write(changeId)` against `current`, settle. RETRY when the CAS was lost.
   */
  private async replaceBlob(
    key: string,
    current: HvRecord,
    ifVersion: number | undefined,
    write: (writeId: string, expected: Expected) => HvWrite,
  ): Promise<Attempt<void>> {
    const change = this.change(key, undefined, current.blob);
    try {
      await change.record();
      const refused = await change.commit(write(change.changeId, expectedOf(current)), current.blob);
      if (refused === undefined) return;
      if (refused.kind === 'conflict') this.assertVersion(key, ifVersion, this.parse(refused.current));
      return RETRY;
    } finally {
      await this.close(change);
    }
  }

  // ---- helpers -----------------------------------------------------------------------------

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

  /** Runs `attempt` until it does not ask for a retry (a lost CAS), with backoff. */
  private async retrying<T>(key: string, attempt: () => Promise<Attempt<T>>): Promise<T> {
    for (let n = 0; n < this.maxAttempts; n++) {
      const result = await attempt();
      if (result !== RETRY) return result;
      await backoff(n);
    }
    throw new ContentionError(key, this.maxAttempts);
  }

  private parse(raw: Record<string, unknown> | undefined): HvRecord | undefined {
    return raw === undefined ? undefined : this.hv.parse(raw);
  }

  /**
   * As {@link assertVersion} for a conditional write that was refused: if the SDK sent it more
   * than once, an earlier attempt may have landed (its answer lost) before the state moved on, so
   * a mismatch proves nothing: the outcome is unknown, not a conflict.
   */
  private assertVersionAfterRetries(key: string, ifVersion: number | undefined, current: HvRecord | undefined, err: unknown, id: string): void {
    if (ifVersion === undefined || versionOf(current) === ifVersion) return;
    const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
    if (attempts > 1) throw new CommitOutcomeUnknownError(key, id, err);
    this.assertVersion(key, ifVersion, current);
  }

  /** @throws VersionConflictError unless `current` (a marker: absent, 0) is at `ifVersion`. */
  private assertVersion(key: string, ifVersion: number | undefined, current: HvRecord | undefined): void {
    if (ifVersion !== undefined && versionOf(current) !== ifVersion) {
      throw new VersionConflictError(key, ifVersion, liveOf(current)?.version);
    }
  }

  private fields(bytes: Uint8Array, options: PutOptions, writeId: string): HvWriteFields {
    return {
      size: bytes.byteLength,
      now: this.clock(),
      writeId,
      ...(options.contentType !== undefined ? { contentType: options.contentType } : {}),
      ...(options.metadata !== undefined ? { metadata: options.metadata } : {}),
    };
  }
}

/** The version a condition compares with: 0 for absent and for a deletion marker. */
function versionOf(record: HvRecord | undefined): number {
  return liveOf(record)?.version ?? 0;
}

/** The answer of a put that replaced `replaced` (the state its CAS expected). */
function resultOf(key: string, bytes: Uint8Array, stored: 'inline' | 'blob', replaced: HvRecord | undefined): PutResult {
  return { key, version: (replaced?.version ?? 0) + 1, size: bytes.byteLength, stored, created: liveOf(replaced) === undefined };
}

function assertIfVersion(ifVersion: number | undefined): void {
  if (ifVersion !== undefined && (!Number.isInteger(ifVersion) || ifVersion < 0)) {
    throw new ValidationError('ifVersion must be a non-negative integer', 'ifVersion');
  }
}

/** The condition of a user's `ifVersion`: anything, absent (0: no object, or a marker), or that version. */
function conditionOf(ifVersion: number | undefined): Expected {
  if (ifVersion === undefined) return { kind: 'any' };
  return ifVersion === 0 ? { kind: 'absent' } : { kind: 'version', version: ifVersion };
}


function backoff(attempt: number): Promise<void> {
  const ms = Math.random() * Math.min(1_000, 10 * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, ms));
}
