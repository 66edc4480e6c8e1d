/**
 * Upload sessions: large objects that clients upload straight to S3, part by part, with presigned
 * URLs (a Lambda carries at most 6 MB each way, and the client never holds AWS credentials),
 * committed with the same fenced commit as any large put.
 *
 *   create:   record the session, i.e. the change `{ id: key, new: blob }`, BEFORE anything
 *             exists (one PutItem), then start the S3 multipart upload and note its id (a start
 *             S3 refused outright ends the session at once: nothing exists to clean; so does an
 *             object's `expiresAt` that came within a second, or the session's own end, while the
 *             session was opened, its upload aborted, the create refused).
 *   parts:    presigned `UploadPart` URLs, valid until the session expires at the latest (nor past
 *             the object's `expiresAt`, if it has one; and no longer than the signer's temporary
 *             credentials: see lib/aws/presign.ts).
 *   complete: ListParts (the client's list is checked against it and gives the size, before
 *             anything is assembled), CompleteMultipartUpload, then ONE TransactWriteItems = [HV
 *             tombstone CAS, session element: live, entry present, no result yet; it records the
 *             result]. Then the replaced blob is deleted and the entry removed.
 *   abort:    claim the session (fences a complete in flight), abort the multipart upload,
 *             delete the blob if a complete assembled it, delete the session.
 *
 * Rules that keep the invariants:
 *  - The session is its own change-log instance (see `upload-session-item.ts`) whose lease is
 *    the expiry plus {@link UploadSessionsOptions.completeGraceMs}: no execution environment owns
 *    it. A complete must start before the expiry; by the time the lease has ended (and the
 *    sweeper's skew margin passed) any complete that started in time has finished, and the
 *    sweeper's claim fences one that has not. The sweeper aborts the multipart upload and deletes
 *    the blob unless HV points at it.
 *  - A client may retry complete: the committed result is stored on the session, and HV carries
 *    the session id as its write id, so a retry answers the same version and never deletes the
 *    blob. The item keeps the result for {@link COMPLETE_ANSWER_KEPT_MS} after the commit (its
 *    lease is moved there once no entry is left to clean; a sweeper that drains an overwrite's
 *    entry before then keeps the item until the result's `keepUntil`), not only until the session's expiry:
 *    a retry after a lost answer must not be told the session does not exist. A commit whose
 *    outcome is unknown is decided the same way on the retry. Two completes of one session at
 *    once (a client that gave up waiting and retried) commit once, and both answer that commit:
 *    one that lost reads the stored result before it refuses anything (ifVersion, expiry) or
 *    calls its outcome unknown, even once HV has moved on past it. A complete refused for its
 *    condition (`ifVersion`, the object's `expiresAt` passed) ends the session, and the item keeps
 *    that refusal as long (`refusal`): its retry is told the same, not that the session is unknown.
 *  - The id a client holds is only a handle: the session is read from the change-log table, and
 *    an id that names no session of this store for this key is refused
 *    ({@link UploadSessionNotFoundError}).
 */
import { replacedBlobCleanupOf, type TierlogConfig } from '../config.js';
import type { ChangeLog } from '../changelog/change-log.js';
import type { FencedChangeLog, FenceEffect } from '../changelog/fenced.js';
import { shardOf } from '../changelog/dynamo-change-log.js';
import {
  CommitOutcomeUnknownError,
  ContentionError,
  CorruptItemError,
  InvalidPartsError,
  InvocationEndedError,
  TierlogError,
  UploadAssembledError,
  UploadSessionClosedError,
  UploadSessionNotFoundError,
  ValidationError,
  VersionConflictError,
} from '../errors.js';
import type { Clock } from '../ids.js';
import { MAX_PRESIGN_SECONDS } from '../aws/presign.js';
import { refusedOutright } from '../aws/errors.js';
import { sleepBackoff, THROTTLED_BACKOFF_MS } from '../aws/backoff.js';
import { MAX_OBJECT_SIZE, MAX_PARTS, MIN_PART_SIZE, assertPartSize, partCountOf, partLengthOf, partSizeFor } from './part-size.js';
import { checkBlobKey, newBlobKey } from './blob-keys.js';
import {
  ExpiredSinceJudgedError,
  type ExpiryPolicy,
  isExpired,
  refuseIfExpired,
  type StoredExpiry,
  storedExpiryOf,
  unexpiredCheck,
} from './expiry.js';
import { commitWrite } from './commit.js';
import { isThenable } from './logged-change.js';
import { nextVersion } from './versions.js';
import { type Expected, expectedOf, type HvRecord, type HvTable, liveOf } from './hv-table.js';
import { type LtBucket, mayBeAssemblyOf, type UploadedPart } from './lt-bucket.js';
import { assertContentType, assertMetadata, assertObjectKey } from './object-key.js';
import { DEFAULT_CONTENT_TYPE } from './object-info.js';
import {
  ABORT_CLAIMANT,
  isSessionIdShape,
  isSessionOfStore,
  newSessionId,
  parseSessionItem,
  type SessionInfo,
  type SessionItem,
  type SessionRefusal,
  type SessionResult,
  SessionTable,
  type StoredPolicy,
} from './upload-session-item.js';
import type { PutResult } from './tiered-store.js';
import { storeStampOf } from '../changelog/store-stamp.js';

export { MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE } from './part-size.js';
/** Default session lifetime: 24 hours. */
export const DEFAULT_SESSION_EXPIRES_MS = 24 * 3600_000;
/** Default lifetime of a presigned part URL (never past the session's expiry): 1 hour. */
export const DEFAULT_PART_URL_EXPIRES_MS = 3600_000;
/** Default lifetime of a presigned GET: 5 minutes. */
export const DEFAULT_PRESIGN_GET_EXPIRES_MS = 5 * 60_000;
/** Default grace after expiry before the sweeper may take a session: a Lambda's longest invocation. */
export const DEFAULT_COMPLETE_GRACE_MS = 15 * 60_000;
/**
 * How long a committed session keeps its answer for a retried complete, from the commit: 24 hours
 * (objectstore's window), however soon the session itself expires.
 */
export const COMPLETE_ANSWER_KEPT_MS = 24 * 3600_000;

/**
 * Besides the session's own options, the object's expiry: `expiresAt`, `timeToLiveMs` or
 * `timeToIdleMs` (one of them, validated as put's: see lib/tiered/expiry.ts), applied to the
 * object at commit; a time to live or idle counts from the commit. `expiresInMs` is the
 * SESSION's lifetime, unrelated to the object's expiry.
 */
/** Options of {@link TieredStore.createUpload}; the expiry is the object's, from its complete. */
export interface CreateUploadOptions extends ExpiryPolicy {
  /** The object's size in bytes, when known: checked at complete, and sizes the parts. */
  readonly size?: number;
  /**
   * Bytes per part (5 MiB .. 5 GiB; the last part may be smaller). Default the store's `partSize`
   * (8 MiB unless set), more when `size` needs it: the least whole MiB that fits 10,000 parts.
   * Without `size`, 10,000 parts of the default hold about 78 GiB: a stream of unknown length
   * larger than that needs a `partSize` that fits it.
   */
  readonly partSize?: number;
  /** The object's media type, returned with it on reads (none given: none stored; the objects API then answers `application/octet-stream`). */
  readonly contentType?: string;
  /** User metadata: lower-case names, printable ASCII values (no leading or trailing space), 2 KB in all. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Commit only if the stored version is this one at complete (`0`: only if absent); also checked now. */
  readonly ifVersion?: number;
  /** Session lifetime in ms (1 s .. 7 days). Default 24 h. */
  readonly expiresInMs?: number;
}

/** A session opened by {@link TieredStore.createUpload}. */
export interface CreatedUpload {
  /** The session's handle: pass it to the other session calls. */
  readonly uploadId: string;
  /** The object's key. */
  readonly key: string;
  /** Bytes of every part but the last. */
  readonly partSize: number;
  /** Parts the declared size needs (absent when no size was given). */
  readonly partCount?: number;
  /**
   * ms since the epoch; parts and complete are refused from then on: the session's expiry, or the
   * object's `expiresAt` when that comes first.
   */
  readonly expiresAt: number;
}

/** Options of {@link TieredStore.uploadPartUrl} and {@link TieredStore.uploadPartUrls}. */
export interface PartUrlOptions {
  /** Lifetime of the URL in ms; never past the session's expiry, the object's `expiresAt`, nor the signer's credentials'. Default 1 h. */
  readonly expiresInMs?: number;
}

/**
 * A part named in a complete ({@link TieredStore.completeUpload}). A listed part
 * ({@link TieredStore.listUploadParts}, with its `size`) is one; any other field (a checksum to
 * verify) is refused, not ignored.
 */
export interface CompletedPart {
  /** 1 to 10,000. */
  readonly partNumber: number;
  /** The ETag S3 answered to the part's PUT. */
  readonly etag: string;
  /** Bytes of the part, as listed (optional): one S3 does not list for it is refused, not ignored. */
  readonly size?: number;
}

/**
 * The lifetime asked of a presigned GET, checked: an integer of ms within a presigned URL's
 * bounds (1 s to 7 days), {@link DEFAULT_PRESIGN_GET_EXPIRES_MS} when not given.
 */
export function checkPresignGetLifetime(expiresInMs: number | undefined): number {
  const wanted = expiresInMs ?? DEFAULT_PRESIGN_GET_EXPIRES_MS;
  if (!Number.isInteger(wanted) || wanted < 1_000 || wanted > MAX_PRESIGN_SECONDS * 1_000) {
    throw new ValidationError(`expiresInMs must be an integer in 1000..${MAX_PRESIGN_SECONDS * 1_000}`, 'expiresInMs');
  }
  return wanted;
}

/** A presigned GET of a large object's current blob ({@link TieredStore.presignGet}). */
export interface PresignedGet {
  /** The URL: a plain GET (ranges too) until `expiresAt`, of the blob current when it was made. */
  readonly url: string;
  /** ms since the epoch. */
  readonly expiresAt: number;
  /** The object's version the URL reads. */
  readonly version: number;
  /** The object's size in bytes. */
  readonly size: number;
}

export interface UploadSessionsOptions {
  readonly config: TierlogConfig;
  readonly hv: HvTable;
  readonly lt: LtBucket;
  readonly clock: Clock;
  /** Attempts of a commit without `ifVersion` that loses its CAS to other writers. */
  readonly maxAttempts: number;
  /** Grace after a session's expiry before the sweeper may take it. Default 15 min. */
  readonly completeGraceMs?: number;
  /** Receives errors of cleanup after a commit, or of ending a session a complete refused (left to the sweeper). */
  readonly onCleanupError?: (err: unknown, context: { key: string; changeId: string; blob?: string }) => void;
  /**
   * The deadline of the Lambda invocation a call begins in (the store's change log,
   * `DynamoChangeLog.bindInvocation`), read once at a complete's start; undefined when unbound.
   */
  readonly invocationDeadline?: () => number | undefined;
}

export class UploadSessions {
  private readonly table: SessionTable;
  private readonly graceMs: number;

  constructor(private readonly o: UploadSessionsOptions) {
    this.table = new SessionTable(o.hv.client, o.config.changeLogTable, storeStampOf(o.config));
    this.graceMs = o.completeGraceMs ?? DEFAULT_COMPLETE_GRACE_MS;
  }

  async create(key: string, options: CreateUploadOptions = {}): Promise<CreatedUpload> {
    assertObjectKey(key);
    assertContentType(options.contentType);
    assertMetadata(options.metadata);
    // The metadata checked is the metadata stored: a copy, taken before the ifVersion read's await
    // (an edit of the caller's object meanwhile was stored unchecked, a session no read understands).
    const metadata = options.metadata !== undefined ? { ...options.metadata } : undefined;
    const { size, ifVersion, contentType } = options;
    if (size !== undefined && (!Number.isSafeInteger(size) || size < 0 || size > MAX_OBJECT_SIZE)) {
      throw new ValidationError(`size must be an integer in 0..${MAX_OBJECT_SIZE}`, 'size');
    }
    if (ifVersion !== undefined && (!Number.isSafeInteger(ifVersion) || ifVersion < 0)) {
      throw new ValidationError('ifVersion must be a non-negative safe integer', 'ifVersion');
    }
    // The store's part size (a put's), larger only when the size needs more than 10,000 of them.
    const partSize = options.partSize ?? partSizeFor(size ?? 0, this.o.lt.partSize);
    assertPartSize(partSize);
    const partCount = size === undefined ? undefined : partCountOf(size, partSize);
    if (partCount !== undefined && partCount > MAX_PARTS) {
      throw new ValidationError(`${size} bytes in parts of ${partSize} need ${partCount} parts; S3 takes at most ${MAX_PARTS}`, 'partSize');
    }
    const expiresInMs = options.expiresInMs ?? DEFAULT_SESSION_EXPIRES_MS;
    if (!Number.isInteger(expiresInMs) || expiresInMs < 1_000 || expiresInMs > MAX_PRESIGN_SECONDS * 1_000) {
      throw new ValidationError(`expiresInMs must be an integer in 1000..${MAX_PRESIGN_SECONDS * 1_000}`, 'expiresInMs');
    }
    // Validated as put's (one policy, a future instant, positive durations) before anything is written.
    const validatedAt = this.o.clock();
    storedExpiryOf(options, validatedAt);
    const expiry = storedPolicyOf(options);
    assertSessionCanServe(expiry?.at, validatedAt);
    if (ifVersion !== undefined) {
      // An item of other attribute names is refused here (a CorruptItemError, as a put's would be
      // at once), not after the session opened and took every part.
      const current = await this.liveRecordOf(key);
      if ((current?.version ?? 0) !== ifVersion) throw new VersionConflictError(key, ifVersion, current?.version);
    }

    const sessionId = newSessionId();
    const now = this.o.clock();
    // Checked again where the session is made: a read slowed past the object's instant (throttled,
    // retried) opened a session, and a multipart upload billed until the sweeper took it, that no
    // part URL and no complete could ever serve, answered with an `expiresAt` already past.
    assertSessionCanServe(expiry?.at, now);
    const expiresAt = now + expiresInMs;
    const info: SessionInfo = {
      v: 1,
      key,
      blob: newBlobKey(this.o.config.prefix, key),
      partSize,
      createdAt: now,
      expiresAt,
      ...(size !== undefined ? { size } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
      ...(metadata !== undefined ? { metadata } : {}),
      ...(ifVersion !== undefined ? { ifVersion } : {}),
      ...(expiry !== undefined ? { expiry } : {}),
    };
    // The lease ends with the object's `expiresAt` when that comes first: past it no part URL is
    // signed and no complete can land, so the sweeper aborts the upload then (its parts are billed),
    // not at the session's own end, up to a day later. The instant checked and stored above, not
    // the caller's Date read again: edited after the call (during the ifVersion read), it moved the
    // lease off the object's instant.
    const leaseEnd = Math.min(expiresAt, expiry?.at ?? expiresAt);
    // The change is durable before anything exists in S3.
    await this.table.create({
      sessionId,
      shard: shardOf(sessionId, this.o.config.leaseShards),
      leaseUntil: leaseEnd + this.graceMs,
      info,
      now,
    });
    let s3UploadId: string;
    try {
      s3UploadId = await this.o.lt.createMultipart(info.blob, {
        ...(info.contentType !== undefined ? { contentType: info.contentType } : {}),
        ...(info.metadata !== undefined ? { metadata: info.metadata } : {}),
      });
    } catch (err) {
      await this.endUnstarted(sessionId, info, err);
      throw err;
    }
    if (!(await this.table.setS3UploadId(sessionId, s3UploadId))) {
      // Taken over already (a clock far behind the sweeper's): nothing may be uploaded to it.
      await this.o.lt.abortMultipart(info.blob, s3UploadId);
      throw new UploadSessionClosedError(sessionId, 'expired');
    }
    // Checked once more now that it is open: its write or S3's start of its upload slowed past the
    // object's instant (throttled, retried) opened a session, and a multipart upload, that no part
    // URL and no complete could serve, answered with an `expiresAt` already past and left to the
    // sweeper. Nobody holds its id yet: it is ended here (what that fails to do, the sweeper does).
    // So did its own lifetime (`expiresInMs`) running out meanwhile: over HTTP, a create without a
    // `size` (no part URL signed) answered 201 with a session that could take no part.
    try {
      const openedAt = this.o.clock();
      assertSessionCanServe(expiry?.at, openedAt);
      if (openedAt >= expiresAt) throw new UploadSessionClosedError(sessionId, 'expired');
    } catch (refused) {
      await this.endOpened(sessionId, info, s3UploadId);
      throw refused;
    }
    // Parts and complete are refused from the object's `expiresAt` when it comes first: the end answered.
    return { uploadId: sessionId, key, partSize, expiresAt: leaseEnd, ...(partCount !== undefined ? { partCount } : {}) };
  }

  async partUrl(
    uploadId: string,
    partNumber: number,
    options: PartUrlOptions = {},
    expectedKey?: string,
  ): Promise<{ url: string; expiresAt: number }> {
    return (await this.partUrls(uploadId, [partNumber], options, expectedKey))[0]!;
  }

  /**
   * Presigned URLs for the parts `partNumbers` (at most {@link MAX_PARTS}), in their order, from ONE read of the session (a
   * create that answers a thousand URLs costs one read, not a thousand); signing is local, and
   * one pass of the SDK's pipeline serves them all (lt-bucket.ts `presignUploadParts`).
   */
  async partUrls(
    uploadId: string,
    partNumbers: readonly number[],
    options: PartUrlOptions = {},
    expectedKey?: string,
  ): Promise<Array<{ url: string; expiresAt: number }>> {
    if (!Array.isArray(partNumbers)) throw new ValidationError('partNumbers must be an array of part numbers', 'partNumber');
    // An upload has at most MAX_PARTS parts: a longer list (a caller's client naming parts) would
    // sign a URL for each, in one call, however many it names.
    if (partNumbers.length > MAX_PARTS) throw new ValidationError(`at most ${MAX_PARTS} part numbers`, 'partNumber');
    for (const partNumber of partNumbers) {
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
        throw new ValidationError(`partNumber must be an integer in 1..${MAX_PARTS}`, 'partNumber');
      }
    }
    const wanted = options.expiresInMs ?? DEFAULT_PART_URL_EXPIRES_MS;
    if (!Number.isInteger(wanted) || wanted < 1_000)
      throw new ValidationError('expiresInMs must be an integer of at least 1000', 'expiresInMs');
    const session = await this.open(uploadId, expectedKey);
    const { info } = session;
    const declaredParts = info.size !== undefined ? partCountOf(info.size, info.partSize) : MAX_PARTS;
    const past = partNumbers.find((n) => n > declaredParts);
    if (past !== undefined) {
      throw new ValidationError(`part ${past} is past the declared size (${info.size} bytes in parts of ${info.partSize})`, 'partNumber');
    }
    const now = this.o.clock();
    // Never past the session's expiry, but at least the second a presigned URL needs: a session
    // of the shortest lifetime (1 s) could otherwise never sign its first URL. A part sent in
    // that last second is harmless: complete refuses an expired session, and the sweeper aborts
    // its upload.
    const remaining = info.expiresAt - now;
    if (remaining <= 0) throw new UploadSessionClosedError(uploadId, 'expired');
    // Nor past the object's `expiresAt`: a part sent after it can never be completed (complete
    // refuses the session then, and aborts it), so a URL outliving it invited an upload thrown away.
    // Less than the second the shortest URL lives is left of it: none is signed (as a presigned
    // GET of an object with under a second left), the 1 s URL would outlive the instant.
    const objectLeft = info.expiry?.at === undefined ? Number.POSITIVE_INFINITY : info.expiry.at - now;
    if (objectLeft <= 0) {
      throw new ValidationError("the object's expiresAt has passed: the upload can never complete (abort the session)", 'expiresAt');
    }
    if (objectLeft < 1_000) {
      throw new ValidationError(
        "the object's expiresAt is less than a second away, shorter than a part URL lives: the upload cannot complete in time (abort the session)",
        'expiresAt',
      );
    }
    const lifetime = Math.max(1_000, Math.min(wanted, remaining, objectLeft, MAX_PRESIGN_SECONDS * 1_000));
    // A declared size fixes each part's: signed, so a holder of the URL cannot store more. One
    // pass of the SDK's pipeline builds their request (lt-bucket.ts); each URL costs its signature.
    const signed = await this.o.lt.presignUploadParts(
      info.blob,
      info.s3UploadId!,
      partNumbers.map((partNumber) => ({
        partNumber,
        contentLength: info.size !== undefined ? partLengthOf(info.size, info.partSize, partNumber) : undefined,
      })),
      lifetime / 1_000,
    );
    return signed.map(({ url, expiresInMs }) => ({ url, expiresAt: now + expiresInMs }));
  }

  async listParts(uploadId: string, expectedKey?: string): Promise<UploadedPart[]> {
    const session = await this.open(uploadId, expectedKey);
    const parts = await this.o.lt.listParts(session.info.blob, session.info.s3UploadId!);
    if (parts === undefined) throw await this.unlistable(session);
    return parts;
  }

  async complete(uploadId: string, parts: readonly CompletedPart[], expectedKey?: string): Promise<PutResult> {
    assertParts(parts);
    // The invocation's deadline, taken now: no assembly, CAS or commit attempt goes out after it.
    const deadline = this.o.invocationDeadline?.();
    const session = await this.read(uploadId, expectedKey);
    const { info } = session;
    const ended = this.invocationCheck(info.key, deadline);
    if (session.result !== undefined) return committedAnswer(uploadId, resultOf(info, session.result), parts);
    // Ended by a complete refused for its condition: its retry (an answer lost) is told the same.
    if (session.refusal !== undefined) throw refusalError(info, session.refusal);
    // A commit whose answer was lost: HV carries the session id as its write id.
    const before = await this.o.hv.read(info.key, { withBody: false });
    if (before?.writeId === uploadId) {
      const created = before.createdAt === before.updatedAt;
      return committedAnswer(uploadId, { key: info.key, version: before.version, size: before.size, stored: 'blob', created }, parts);
    }
    this.assertOpen(session);
    if (objectExpiryAt(info.expiry, this.o.clock()) === 'passed') {
      // The instant the object was to expire at has passed: it can never be written.
      return this.refuse(session, expiresAtPassed());
    }

    // The size is that of the listed parts (ListParts), checked before S3 assembles anything, so
    // a wrong list leaves the session open; S3 then refuses to assemble another size. No HEAD.
    const uploaded = await this.o.lt.listParts(info.blob, info.s3UploadId!);
    if (uploaded !== undefined) {
      const size = sizeOfParts(uploadId, parts, uploaded);
      if (info.size !== undefined && size !== info.size) {
        throw new InvalidPartsError(uploadId, `the parts make ${size} bytes, the session declared ${info.size}`);
      }
      ended?.();
      const refused = await this.o.lt.completeMultipart(info.blob, info.s3UploadId!, parts, size);
      if (refused !== undefined && refused !== 'NoSuchUpload') throw new InvalidPartsError(uploadId, PART_REFUSALS[refused]);
      if (refused === undefined) return this.commit(session, size, before, ended);
    }
    // NoSuchUpload: an earlier complete assembled it (its commit did not land), or it was aborted,
    // or the client's retry assembled and committed it meanwhile (then that commit's answer).
    const assembled = await this.assembled(session, parts);
    if ('answered' in assembled) return committedAnswer(uploadId, resultOf(info, assembled.answered), parts);
    return this.commit(session, assembled.size, before, ended);
  }

  /**
   * Fenced commit of the assembled blob; retries a lost CAS (without ifVersion) against the new
   * state. `ended` ({@link invocationCheck}) runs before each round and right before each attempt
   * of the commit goes out: a complete held past its invocation (frozen at a timeout, thawed for a
   * later one) would otherwise CAS again over a value written after its client was answered a
   * timeout. Stopped so, it throws {@link InvocationEndedError} and the session stays open,
   * uncommitted (an attempt sent before the deadline is decided as ever).
   */
  private async commit(
    session: SessionItem,
    size: number,
    first: HvRecord | undefined,
    ended: (() => void) | undefined,
  ): Promise<PutResult> {
    const { info, sessionId } = session;
    let current = first;
    // The cancellation, when the last commit was refused for load alone.
    let throttled: unknown;
    for (let attempt = 0; attempt < this.o.maxAttempts; attempt++) {
      throttled = undefined;
      ended?.();
      const now = this.o.clock();
      // A time-to-idle object is kept alive by its readers: past the expiry this complete read
      // (before S3 assembled the parts, or a backoff) it may be live still, its expiry moved on.
      // Judged on that read it was absent: `ifVersion` refused (the session ended) for an object
      // that is there, an overwrite taken for a create. It is read again.
      if (current?.ttiMs !== undefined && liveOf(current) !== undefined && isExpired(current, now)) {
        current = await this.o.hv.read(info.key, { withBody: false });
      }
      // An expired object is absent to ifVersion (its item is replaced like a live one, and its blob is `old`).
      const live = this.liveAt(current, now);
      if (info.ifVersion !== undefined && (live?.version ?? 0) !== info.ifVersion) {
        return this.refuse(session, new VersionConflictError(info.key, info.ifVersion, live?.version));
      }
      const old = current?.blob;
      // The CAS expects exactly the state read: no item, a deletion marker, or a version with its blob.
      const expected: Expected = expectedOf(current);
      // The entry names `old` unless the objects table's stream cleans replaced blobs; then the
      // commit removes it, as a create's does, and the commit's MODIFY record names `old`.
      const effect: FenceEffect = old !== undefined && !this.streamCleans ? { kind: 'setOld', old } : { kind: 'remove' };
      // What the write below stores: no item, a version from `now` (versions.ts); else the item's + 1.
      const result: SessionResult = { version: nextVersion(current?.version, now), size, created: live === undefined };
      const keepUntil = Math.max(session.leaseUntil, now + COMPLETE_ANSWER_KEPT_MS);
      const log = this.sessionLog(sessionId, result, keepUntil);
      const expiry = objectExpiryAt(info.expiry, now);
      if (expiry === 'passed') return this.refuse(session, expiresAtPassed());
      const fields = {
        size,
        now,
        writeId: sessionId,
        expiry,
        // Over an expired item the commit creates the object: its `createdAt` is not carried over.
        overExpired: live === undefined && liveOf(current) !== undefined,
        ...(info.contentType !== undefined ? { contentType: info.contentType } : {}),
        ...(info.metadata !== undefined ? { metadata: info.metadata } : {}),
      };
      const outcome = await commitWrite({
        hv: this.o.hv,
        write: this.o.hv.tombstoneWrite(info.key, info.blob, fields, expected),
        log,
        changeId: sessionId,
        effect,
        // No attempt of it goes out once the expiry it stores has passed (an SDK retry of a
        // completer paused between two): it would land an object expired on arrival, over the
        // value it replaces; nor once the invocation it began in has ended. As a put's
        // (tiered-store.ts, `expiryCheck`). Nor once the object it replaces, live at `now`, has
        // expired: the round judges `ifVersion` again.
        ...beforeEachAttempt(
          ended,
          expiry.expiresAtSeconds !== undefined ? () => this.assertExpiryAhead(info.expiry, expiry) : undefined,
          unexpiredCheck(live, now, this.o.clock),
        ),
      });
      switch (outcome.kind) {
        case 'committed': {
          // Applied by this request, the result it stored is `result`. Else this attempt landed
          // (an answer lost), or a concurrent complete of the same session did: the stored result
          // is the answer (written in the same transaction), read back. Applied, no read is made
          // that could fail the answer of a durable object.
          if (outcome.applied === true) {
            await this.finish(session, old, keepUntil);
            return resultOf(info, result);
          }
          // What is left to clean is what the landed commit replaced, as its entry names it: a
          // concurrent complete may have read another state than this one (the key overwritten
          // between their reads) and died before its cleanup. Its entry gone, nothing is left.
          // A landing is known: a failed read of the item fails no answer (its cleanup is then left
          // to the sweeper), HV tells it.
          const landed = parseSessionItem(await this.table.getRaw(sessionId).catch(() => undefined));
          await this.finish(session, landed?.replaced, keepUntil);
          if (landed?.result !== undefined) return resultOf(info, landed.result);
          // The item is gone (a sweeper retired it while this complete was paused), or its read
          // failed: `result` is only what this attempt computed, not what landed (a retry's commit
          // over a later value). What landed is HV's item under the session's id; HV moved on
          // since, its version is unknown.
          return this.landedOf(info, sessionId);
        }
        case 'conflict': {
          const now = outcome.current === undefined ? undefined : this.o.hv.parseWhole(outcome.current);
          if (now?.writeId === sessionId)
            return { key: info.key, version: now.version, size: now.size, stored: 'blob', created: result.created ?? false };
          current = now;
          continue;
        }
        case 'busy':
          throttled = outcome.throttled;
          // No wait and no read after the last attempt: its answer is the caller's at once.
          if (attempt + 1 >= this.o.maxAttempts) continue;
          await sleepBackoff(attempt, throttled !== undefined ? THROTTLED_BACKOFF_MS : 10);
          current = await this.o.hv.read(info.key, { withBody: false });
          continue;
        case 'fenced': {
          // A sweeper (expiry) or an abort claimed the session: this commit can never land.
          const again = parseSessionItem(await this.table.getRaw(sessionId));
          if (again?.result !== undefined) return resultOf(info, again.result);
          return this.closedByClaim(session, again);
        }
        case 'refused':
          // Not sent once the object it replaces had expired: judged again on the item as it is
          // now (expired, or live still: a reader's time-to-idle refresh moved its expiry on).
          if (outcome.error instanceof ExpiredSinceJudgedError) {
            current = await this.o.hv.read(info.key, { withBody: false });
            continue;
          }
          // Not sent past the invocation's deadline: nothing committed, the session stays open
          // (completed again or aborted by the client, or taken by the sweeper at its expiry).
          if (outcome.error instanceof InvocationEndedError) throw outcome.error;
          // Cancelled for a reason it would meet again, throttled on every attempt, or not sent
          // past the object's expiry: nothing committed; the session stays open (the client aborts
          // it, completes it again later or when its object's time to live counts from the commit,
          // or the sweeper takes it at expiry), unless the object's expiresAt has passed: it can
          // never complete, so it ends, refused for that instant (kept for a retry), whatever the
          // attempt's own error was: ended with a throttling, the complete answered "retry later"
          // (the objects API's 503) and kept nothing, so the retry was told the session does not exist.
          if (objectExpiryAt(info.expiry, this.o.clock()) === 'passed') return this.refuse(session, expiresAtPassed());
          throw outcome.error;
        default: {
          // The fence failed on a live session: a concurrent complete of it (the client's retry)
          // committed, and HV has moved on since. Its stored result is the answer.
          const again = await this.table.getRaw(sessionId).then(parseSessionItem, () => 'unread' as const);
          if (again !== 'unread' && again?.result !== undefined) return resultOf(info, again.result);
          // Claimed without a result (an abort's or a sweeper's claim before the SDK's retry of an
          // attempt answered a 5xx or nothing): no commit of it landed, since its element records the
          // result in the same transaction and a claim is refused once a result is there; none can
          // land now. Closed, as a commit refused at once for the claim ('fenced'), never unknown.
          if (again !== 'unread' && again?.state === 'claimed') return this.closedByClaim(session, again);
          // Unknown: a retried complete decides it from HV; the sweeper settles it after expiry.
          throw new CommitOutcomeUnknownError(info.key, sessionId, outcome.error);
        }
      }
    }
    // Refused for load to the last: nothing committed, the session stays open for a retry later.
    if (throttled !== undefined) throw throttled;
    throw new ContentionError(info.key, this.o.maxAttempts);
  }

  async abort(uploadId: string, expectedKey?: string): Promise<void> {
    const session = await this.read(uploadId, expectedKey);
    if (session.result !== undefined) throw new UploadSessionClosedError(uploadId, 'completed');
    if (session.state === 'claimed' && session.closed !== 'aborted') throw new UploadSessionClosedError(uploadId, 'expired');
    if (!(await this.discard(session))) throw await this.closedNow(uploadId);
  }

  /**
   * Presigned GET of a large object's current blob; undefined when absent. It is a read: `read`
   * (the store's time-to-idle refresh) runs on the record first, and the URL never lives past the
   * object's expiry (an object with less than a second left is absent to it).
   */
  async presignGet(
    key: string,
    options: { expiresInMs?: number } = {},
    read: (record: HvRecord) => Promise<HvRecord> = (record) => Promise.resolve(record),
  ): Promise<PresignedGet | undefined> {
    assertObjectKey(key);
    const wanted = checkPresignGetLifetime(options.expiresInMs);
    // A deletion marker and an expired item are absent, as to every read; an item of other
    // attribute names is a CorruptItemError, as to get (not "stored inline", the caller's fault).
    const live = await this.liveRecordOf(key);
    if (live === undefined) return undefined;
    if (live.blob === undefined) throw new ValidationError(`object "${key}" is stored inline: read it with get()`, 'key');
    return (await this.presignLive(live, live.blob, wanted, read))?.presigned;
  }

  /**
   * The URL of `blob`, the blob of `live`, a record of a live large object just read: `read` (the
   * store's time-to-idle refresh) runs on it first, and the URL never outlives the object.
   * Undefined when less than the second a URL needs is left of its life.
   */
  async presignLive(
    live: HvRecord,
    blob: string,
    wanted: number,
    read: (record: HvRecord) => Promise<HvRecord>,
  ): Promise<{ readonly presigned: PresignedGet; readonly record: HvRecord } | undefined> {
    const record = await read(live);
    // Whoever holds the URL reads the blob without asking HV again: it must die with the object.
    // Its lifetime runs from its signing, so it is counted from now, after the reads (a slow or
    // retried read would otherwise stretch it past the expiry by as long as the reads took).
    const signedAt = this.o.clock();
    const lifetime = record.expiresAtSeconds === undefined ? wanted : Math.min(wanted, record.expiresAtSeconds * 1_000 - signedAt);
    if (lifetime < 1_000) return undefined;
    // Answered with the type reads answer: a blob stored with none has S3's default there
    // (`binary/octet-stream` on AWS), not the `application/octet-stream` of the objects API's 200.
    const contentType = record.contentType ?? DEFAULT_CONTENT_TYPE;
    const { url, expiresInMs } = await this.o.lt.presignGet(blob, lifetime / 1_000, contentType);
    return { presigned: { url, expiresAt: signedAt + expiresInMs, version: record.version, size: record.size }, record };
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * The check a complete runs before its assembly, each CAS round and each commit attempt, or
   * undefined when no invocation is bound: it throws {@link InvocationEndedError} once `deadline`,
   * that of the invocation the complete began in (taken at its start), has passed (as a put's,
   * tiered-store.ts `invocationCheck`).
   */
  private invocationCheck(key: string, deadline: number | undefined): (() => void) | undefined {
    if (deadline === undefined) return undefined;
    return () => {
      if (this.o.clock() >= deadline) throw new InvocationEndedError(key, deadline);
    };
  }

  /** The object `record` stands for at `now`: none for no item, a deletion marker or an expired item. */
  /**
   * The live record of `key` (undefined for a deletion marker, an expired item or none), read
   * without an inline body when it has a blob. Read without its body, an item of other attribute
   * names (TIERLOG_HV_ATTRIBUTES not the writers'; its deletion markers too) shows no blob, as an
   * inline object does: a record without one is read again with its body, as get reads it, which
   * tells the two apart (a CorruptItemError for the item the names do not describe).
   */
  private async liveRecordOf(key: string): Promise<HvRecord | undefined> {
    const lean = this.liveAt(await this.o.hv.read(key, { withBody: false }), this.o.clock());
    if (lean === undefined || lean.blob !== undefined) return lean;
    return this.liveAt(await this.o.hv.read(key), this.o.clock());
  }

  private liveAt(record: HvRecord | undefined, now: number): HvRecord | undefined {
    const object = liveOf(record);
    return object !== undefined && isExpired(object, now) ? undefined : object;
  }

  /** The session behind a handle, or UploadSessionNotFoundError. */
  private async read(uploadId: string, expectedKey: string | undefined): Promise<SessionItem> {
    if (typeof uploadId !== 'string' || !isSessionIdShape(uploadId)) throw new UploadSessionNotFoundError(String(uploadId));
    const raw = await this.table.getRaw(uploadId);
    const session = parseSessionItem(raw);
    if (session === undefined || (expectedKey !== undefined && session.info.key !== expectedKey))
      throw new UploadSessionNotFoundError(uploadId);
    // A session another store's writer opened in a shared change-log table is none of this one's:
    // committed here, its object would be this objects table's under an item whose sweeper reads
    // the other (and deletes the blob as unreferenced); aborted here, another client's upload ends.
    if (!isSessionOfStore(raw!, storeStampOf(this.o.config))) throw new UploadSessionNotFoundError(uploadId);
    // Never act on a blob this store would not have made for this key.
    if (!checkBlobKey(this.o.config.prefix, session.info.key, session.info.blob).ok) throw new UploadSessionNotFoundError(uploadId);
    return session;
  }

  /**
   * The size of a blob an earlier complete of the session assembled, confirmed by S3 (a GET of the
   * blob whose body is not read). A blob S3 does not confirm (404, or 403 without s3:ListBucket)
   * means the session ended since: committed by the client's retry (whose blob another writer's
   * overwrite may have deleted already), then that commit's stored result, which a complete that
   * raced its own retry and lost answers too; or ended by a concurrent complete refused for its
   * condition, then that kept refusal; else aborted or expired, and nothing is committed.
   * A blob whose ETag says another list of parts assembled it (an earlier complete's, whose commit
   * did not land, and the retry lists other parts), or whose size is not the one the listed parts'
   * sizes make (when each is given), is {@link InvalidPartsError}: committed, the
   * object would be parts the client did not list, its size answered as theirs. The session stays
   * open (complete it with the parts that were assembled, or abort it).
   */
  private async assembled(
    session: SessionItem,
    parts: readonly CompletedPart[],
  ): Promise<{ readonly size: number } | { readonly answered: SessionResult }> {
    const blob = await this.o.lt.sizeAndEtagOf(session.info.blob);
    const size = blob?.size;
    if (size === undefined) {
      const now = parseSessionItem(await this.table.getRaw(session.sessionId));
      if (now?.result !== undefined) return { answered: now.result };
      // Ended by a concurrent complete refused for its condition (the client's first, whose answer
      // it is retrying): that refusal is the answer, not an abort the client never asked for.
      if (now?.refusal !== undefined) throw refusalError(session.info, now.refusal);
      throw closedError(session.sessionId, now);
    }
    if (!mayBeAssemblyOf(blob?.etag, parts, blob?.keyEncrypted !== true)) {
      throw new InvalidPartsError(
        session.sessionId,
        `an earlier complete assembled other parts than these ${parts.length} (S3 holds the object with ETag ${blob?.etag}); complete with the parts it assembled, or abort`,
      );
    }
    // Parts given with their sizes (as listed) make a size: another is another assembly, even where
    // the ETag tells nothing (an S3-compatible store's digest of the whole body, a KMS key's).
    const listed = parts.every((part) => part.size !== undefined) ? parts.reduce((sum, part) => sum + part.size!, 0) : undefined;
    if (listed !== undefined && listed !== size) {
      throw new InvalidPartsError(
        session.sessionId,
        `an earlier complete assembled ${size} bytes, not the ${listed} these ${parts.length} parts make; complete with the parts it assembled, or abort`,
      );
    }
    if (session.info.size !== undefined && size !== session.info.size) {
      throw new InvalidPartsError(
        session.sessionId,
        `the parts make ${size} bytes, the session declared ${session.info.size}; abort it and start again`,
      );
    }
    return { size };
  }

  /** A session that still takes parts. */
  private async open(uploadId: string, expectedKey: string | undefined): Promise<SessionItem> {
    const session = await this.read(uploadId, expectedKey);
    this.assertOpen(session);
    return session;
  }

  private assertOpen(session: SessionItem): void {
    if (session.result !== undefined) throw new UploadSessionClosedError(session.sessionId, 'completed');
    if (session.state !== 'live')
      throw new UploadSessionClosedError(session.sessionId, session.closed === 'aborted' ? 'aborted' : 'expired');
    if (session.info.s3UploadId === undefined) throw new UploadSessionNotFoundError(session.sessionId);
    if (this.o.clock() >= session.info.expiresAt) throw new UploadSessionClosedError(session.sessionId, 'expired');
  }

  /**
   * @throws ValidationError when `expiry`, what the commit stores for the object's `policy`, has
   * passed: the object would be absent the moment it landed.
   */
  private assertExpiryAhead(policy: StoredPolicy | undefined, expiry: StoredExpiry): void {
    const field = policy?.at !== undefined ? 'expiresAt' : policy?.ttlMs !== undefined ? 'timeToLiveMs' : 'timeToIdleMs';
    refuseIfExpired(expiry, this.o.clock(), field, 'complete');
  }

  /**
   * Why S3 lists no parts of a session that was open: it ended since (completed, aborted,
   * expired), or, still open, an earlier complete assembled its parts and did not commit (its
   * object exists: {@link UploadAssembledError}, complete again). Open without an object, the
   * bucket's lifecycle rule aborted its upload: expired.
   */
  private async unlistable(session: SessionItem): Promise<Error> {
    const now = parseSessionItem(await this.table.getRaw(session.sessionId));
    const open = now?.state === 'live' && now.result === undefined && this.o.clock() < now.info.expiresAt;
    if (open && (await this.o.lt.sizeOf(session.info.blob)) !== undefined) return new UploadAssembledError(session.sessionId);
    return closedError(session.sessionId, now);
  }

  /**
   * The answer of a complete whose commit can never land, its session claimed without a result
   * (`now`, its item read since; undefined when gone): the refusal a concurrent complete of it
   * ended it with (the client's retry), else {@link UploadSessionClosedError} (aborted or expired),
   * its assembled blob deleted first (nothing references it; a failed delete is the sweeper's).
   */
  private async closedByClaim(session: SessionItem, now: SessionItem | undefined): Promise<never> {
    const { info, sessionId } = session;
    // Ended by this complete's own retry, refused for its condition: the same refusal.
    if (now?.refusal !== undefined) throw refusalError(info, now.refusal);
    await this.tryDelete(info.key, sessionId, info.blob);
    throw new UploadSessionClosedError(sessionId, this.fencedBy(session, now));
  }

  /**
   * Who fenced a commit of `session`, from its item read since (`now`): an abort, or a sweeper at
   * its expiry. A deleted item was an abort's (run to its end) while the session's lease is still
   * ahead: a sweeper takes a session only once its lease, the expiry and a grace past it, has ended.
   * That lease ends with the object's `expiresAt` when it comes first (see `create`): past it, with
   * the session's own expiry still ahead, a sweeper's take was told "aborted".
   */
  private fencedBy(session: SessionItem, now: SessionItem | undefined): 'aborted' | 'expired' {
    if (now !== undefined) return now.closed === 'aborted' ? 'aborted' : 'expired';
    const { expiresAt, expiry } = session.info;
    return this.o.clock() < Math.min(expiresAt, expiry?.at ?? expiresAt) ? 'aborted' : 'expired';
  }

  /** Why a session that was open a moment ago no longer is. */
  private async closedNow(uploadId: string): Promise<Error> {
    return closedError(uploadId, parseSessionItem(await this.table.getRaw(uploadId)));
  }

  /** The change-log face of one session for `commitWrite`: only the fence is used. */
  private sessionLog(sessionId: string, result: SessionResult, keepUntil: number): FencedChangeLog {
    const unsupported = () => Promise.reject(new ValidationError('an upload session records nothing else', 'changeId'));
    const log: FencedChangeLog & ChangeLog = {
      record: unsupported,
      remove: unsupported,
      scan: () => Promise.resolve([]),
      fence: (_changeId, effect) => this.table.fenceElement(sessionId, effect, result, keepUntil),
      prepareCommit: () => Promise.resolve(),
      committed: () => {},
      fenceLost: () => {},
      abandon: () => {},
    };
    return log;
  }

  /**
   * After the commit: delete the replaced blob, then the entry, moving the lease to `keepUntil`
   * (both left to the sweeper on failure, at the session's own lease).
   */
  private async finish(session: SessionItem, old: string | undefined, keepUntil: number): Promise<void> {
    if (old === undefined || old === session.info.blob) return;
    // `old` comes from HV: never delete a blob that is not exactly one of this object's (the
    // sweeper's namespace guard); its entry (log mode) is left to the sweeper, which quarantines it.
    const check = checkBlobKey(this.o.config.prefix, session.info.key, old);
    if (!check.ok) {
      const refused = new CorruptItemError(`the blob it pointed at was not deleted: ${check.reason}`, `objects item "${session.info.key}"`);
      this.report(refused, { key: session.info.key, changeId: session.sessionId, blob: old });
      return;
    }
    // Not deleted: the entry (log) or the stream deletes it. Stream mode: no entry to remove.
    if (!(await this.tryDelete(session.info.key, session.sessionId, old)) || this.streamCleans) return;
    try {
      await this.table.removeEntry(session.sessionId, keepUntil);
    } catch (err) {
      this.report(err, { key: session.info.key, changeId: session.sessionId });
    }
  }

  /** True when the objects table's stream deletes a replaced blob the writer could not (`replacedBlobCleanup`). */
  private get streamCleans(): boolean {
    return replacedBlobCleanupOf(this.o.config) === 'stream';
  }

  /**
   * Ends an uncommitted session for good: claim it (fences a complete in flight; a sweeper
   * finishes from there if this process dies), abort the multipart upload, delete the blob unless
   * HV points at it, delete the session; or, ending it for a complete's `refusal` (a
   * {@link VersionConflictError} or {@link ValidationError}), keep the item with that refusal for
   * {@link COMPLETE_ANSWER_KEPT_MS}, its entry removed, for a retried complete. False when the claim
   * was refused (the session committed meanwhile, or a sweeper took it): nothing was done.
   *
   * A claim refused because the session is claimed for an abort already goes on: a concurrent
   * abort's (this one's own, its answer lost and the request sent again by the SDK, is told by its
   * token: `claimForAbort`, and a complete's refusal is kept); either way the session is an
   * abort's, and every step below may be done twice.
   */
  private async discard(session: SessionItem, refusal?: Error): Promise<boolean> {
    const { info, sessionId } = session;
    // A complete's refusal is its answer to a retry too (the client lost it): kept a day, as a
    // commit's result, when this complete ended the session (an abort's claim it joined is the
    // abort's). Recorded with the claim, so a writer that dies before the ending is done leaves it.
    const kept = refusal !== undefined ? refusalOf(refusal, this.o.clock() + COMPLETE_ANSWER_KEPT_MS) : undefined;
    let claimedHere = false;
    // The refusal of the complete whose ending this joins (its claim holds the session: a client's
    // abort after it, an abort or a refused complete racing it), recorded with that claim: kept, as
    // it would have been, never deleted with the item (a retried complete was told "no such session").
    let joined = session.refusal;
    if (session.state === 'live') {
      claimedHere = await this.table.claimForAbort(sessionId, this.o.clock(), kept);
      if (!claimedHere) {
        const now = parseSessionItem(await this.table.getRaw(sessionId));
        if (now?.result !== undefined || now?.claimedBy !== ABORT_CLAIMANT) return false;
        joined = now.refusal;
      }
    }
    if (info.s3UploadId !== undefined) await this.abortUntilNoParts(session, info.s3UploadId);
    const current = await this.o.hv.read(info.key, { withBody: false });
    if (current?.blob !== info.blob) await this.o.lt.delete(info.blob);
    const keep = claimedHere ? kept : joined;
    if (keep !== undefined) await this.table.keepRefusal(sessionId, keep);
    else await this.table.deleteAborted(sessionId);
    return true;
  }

  /**
   * Aborts the session's multipart upload until S3 no longer lists it
   * ({@link LtBucket.abortUntilNoParts}): the session's item is deleted next, and nothing would name
   * that upload any more. A listing that fails, or an upload still listed after the last round, goes
   * to `onCleanupError` and is the lifecycle rule's (the abort itself is done: nothing can complete
   * the session).
   */
  private async abortUntilNoParts(session: SessionItem, s3UploadId: string): Promise<void> {
    const { info, sessionId } = session;
    const outcome = await this.o.lt.abortUntilNoParts(info.blob, s3UploadId);
    const context = { key: info.key, changeId: sessionId, blob: info.blob };
    if (outcome.kind === 'unlisted') this.report(outcome.error, context);
    if (outcome.kind === 'partsLeft') {
      this.report(
        new TierlogError(
          `upload ${s3UploadId.slice(0, 200)} of ${info.blob.slice(0, 200)} still holds ${outcome.parts} parts after ${outcome.rounds} aborts: left to the bucket's lifecycle rule`,
        ),
        context,
      );
    }
  }

  /**
   * A session whose multipart upload could not start. Refused outright (sent once, a 4xx: a
   * missing bucket, a denied key), S3 holds nothing of it, so the session is ended now instead of
   * waiting a day for its expiry and the sweeper. Any other failure may have started an upload
   * whose id was lost: the session stays, and the sweeper aborts every upload under its blob key
   * once it expires. Failing to end it changes nothing either: the sweeper takes it then.
   */
  private async endUnstarted(sessionId: string, info: SessionInfo, err: unknown): Promise<void> {
    if (!refusedOutright(err)) return;
    try {
      if (await this.table.claimForAbort(sessionId, this.o.clock())) await this.table.deleteAborted(sessionId);
    } catch (cleanup) {
      this.report(cleanup, { key: info.key, changeId: sessionId, blob: info.blob });
    }
  }

  /**
   * Ends a session its create has just opened and will not answer (no one holds its id, so no
   * part was sent): claims it, aborts its upload, deletes it. A failure goes to `onCleanupError`;
   * the session, claimed or still open, is then the sweeper's (which aborts every upload under its
   * blob key) at its claim's end or its lease's.
   */
  private async endOpened(sessionId: string, info: SessionInfo, s3UploadId: string): Promise<void> {
    try {
      if (!(await this.table.claimForAbort(sessionId, this.o.clock()))) return;
      await this.o.lt.abortMultipart(info.blob, s3UploadId);
      await this.table.deleteAborted(sessionId);
    } catch (cleanup) {
      this.report(cleanup, { key: info.key, changeId: sessionId, blob: info.blob });
    }
  }

  /**
   * A complete that cannot commit: ends the session and throws `error`, unless a concurrent
   * complete of the same session (the client's retry) committed it first; then that one's answer.
   * Ending it failing (S3 refusing the abort of its upload, say) changes no answer: the failure goes
   * to `onCleanupError`, and the session, claimed for the abort or still open, is the sweeper's at
   * its claim's end or its expiry (as a create's that S3 refused: `endUnstarted`).
   */
  private async refuse(session: SessionItem, error: Error): Promise<PutResult> {
    let discarded: boolean | 'failed';
    try {
      discarded = await this.discard(session, error);
    } catch (cleanup) {
      this.report(cleanup, { key: session.info.key, changeId: session.sessionId, blob: session.info.blob });
      discarded = 'failed';
    }
    if (discarded !== true) {
      const stored = this.storedResult(session.sessionId);
      const answered = discarded === 'failed' ? await stored.catch(() => undefined) : await stored;
      if (answered !== undefined) return resultOf(session.info, answered);
    }
    throw error;
  }

  /**
   * The answer of a commit of the session that landed, learned from HV when the session's item (its
   * stored result) is gone or could not be read: the item carrying the session's id as its write id.
   * @throws CommitOutcomeUnknownError when HV has moved on: the version that landed is not known.
   */
  private async landedOf(info: SessionInfo, sessionId: string): Promise<PutResult> {
    const now = await this.o.hv.read(info.key, { withBody: false });
    if (now?.writeId !== sessionId) throw new CommitOutcomeUnknownError(info.key, sessionId);
    return { key: info.key, version: now.version, size: now.size, stored: 'blob', created: now.createdAt === now.updatedAt };
  }

  /** The result a committed session stores (consistent read), or undefined. */
  private async storedResult(sessionId: string): Promise<SessionResult | undefined> {
    return parseSessionItem(await this.table.getRaw(sessionId))?.result;
  }

  /** Hands a cleanup error to `onCleanupError`: user code, whose own error changes no answer. */
  private report(err: unknown, context: { key: string; changeId: string; blob?: string }): void {
    try {
      const returned: unknown = this.o.onCleanupError?.(err, context);
      // An async reporter's rejection is its throw (logged-change.ts): handled, changing nothing.
      if (isThenable(returned)) Promise.resolve(returned).catch(() => {});
    } catch {
      // What was not cleaned stays for the sweeper either way.
    }
  }

  private async tryDelete(key: string, changeId: string, blob: string): Promise<boolean> {
    try {
      await this.o.lt.delete(blob);
      return true;
    } catch (err) {
      this.report(err, { key, changeId, blob });
      return false;
    }
  }
}

const PART_REFUSALS: Record<'InvalidPart' | 'InvalidPartOrder' | 'EntityTooSmall', string> = {
  InvalidPart: 'a listed part was not uploaded, or its ETag differs from the one S3 answered',
  InvalidPartOrder: 'parts must be listed in ascending part-number order',
  EntityTooSmall: `every part but the last must be at least ${MIN_PART_SIZE} bytes`,
};

/**
 * The size the client's part list makes, from S3's listing of the uploaded parts; refuses what S3's
 * CompleteMultipartUpload would refuse (a part not uploaded or with another ETag, parts out of
 * order or repeated, a part but the last under 5 MiB) before anything is assembled.
 */
/**
 * Refuses an object's instant (`at`, ms since the epoch) under a second after `now`: no part URL
 * is signed for it (the shortest lives a second, past the instant, see partUrls), so a session
 * for it could never receive a part, nor complete.
 *
 * @throws ValidationError naming `expiresAt`.
 */
function assertSessionCanServe(at: number | undefined, now: number): void {
  if (at !== undefined && at - now < 1_000) {
    throw new ValidationError(
      'expiresAt is less than a second away, shorter than a part URL lives: an upload session for it could never complete',
      'expiresAt',
    );
  }
}

function sizeOfParts(uploadId: string, parts: readonly CompletedPart[], uploaded: readonly UploadedPart[]): number {
  const byNumber = new Map(uploaded.map((p) => [p.partNumber, p]));
  const bare = (etag: string) => etag.replace(/^"|"$/g, '');
  let size = 0;
  parts.forEach((part, i) => {
    if (i > 0 && part.partNumber <= parts[i - 1]!.partNumber) throw new InvalidPartsError(uploadId, PART_REFUSALS.InvalidPartOrder);
    const listed = byNumber.get(part.partNumber);
    if (listed === undefined || bare(listed.etag) !== bare(part.etag)) throw new InvalidPartsError(uploadId, PART_REFUSALS.InvalidPart);
    if (part.size !== undefined && part.size !== listed.size) {
      throw new InvalidPartsError(uploadId, `part ${part.partNumber} is listed as ${listed.size} bytes, not the ${part.size} given for it`);
    }
    if (i < parts.length - 1 && listed.size < MIN_PART_SIZE) throw new InvalidPartsError(uploadId, PART_REFUSALS.EntityTooSmall);
    size += listed.size;
  });
  return size;
}

function assertParts(parts: readonly CompletedPart[]): void {
  if (!Array.isArray(parts) || parts.length === 0)
    throw new ValidationError('parts must be a non-empty array of { partNumber, etag }', 'parts');
  if (parts.length > MAX_PARTS) throw new ValidationError(`at most ${MAX_PARTS} parts`, 'parts');
  // By index, not forEach: a hole in a sparse array (skipped by forEach, and by the checks after
  // this one) is a missing part, refused here rather than as a TypeError or S3's MalformedXML.
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (typeof part !== 'object' || part === null) throw new ValidationError(`parts[${i}] must be { partNumber, etag }`, `parts[${i}]`);
    if (!Number.isInteger(part.partNumber) || part.partNumber < 1 || part.partNumber > MAX_PARTS) {
      throw new ValidationError(`parts[${i}].partNumber must be an integer in 1..${MAX_PARTS}`, `parts[${i}].partNumber`);
    }
    if (typeof part.etag !== 'string' || part.etag.length === 0 || part.etag.length > 256) {
      throw new ValidationError(`parts[${i}].etag must be the ETag S3 answered for the part`, `parts[${i}].etag`);
    }
    // A size given is checked against the listing (sizeOfParts): it must be one a part can have.
    if (part.size !== undefined && (!Number.isSafeInteger(part.size) || part.size < 0)) {
      throw new ValidationError(`parts[${i}].size must be the part's size in bytes, as listed`, `parts[${i}].size`);
    }
    // A field asking for more (a part's checksum to verify) would be ignored: refused. `size` is
    // what listUploadParts answers beside them, so its parts can be sent back as listed.
    const other = Object.keys(part).find((name) => !PART_FIELDS.has(name));
    if (other !== undefined) {
      throw new ValidationError(`parts[${i}] takes partNumber and etag, not "${other.slice(0, 40)}" (not honoured here)`, `parts[${i}]`);
    }
  }
}

/** The fields a completed part may have: its own, and the listed part's size. */
const PART_FIELDS: ReadonlySet<string> = new Set(['partNumber', 'etag', 'size']);

/** The policy a session keeps until its commit (validated before). */
function storedPolicyOf(policy: ExpiryPolicy): StoredPolicy | undefined {
  if (policy.expiresAt !== undefined) return { at: policy.expiresAt.getTime() };
  if (policy.timeToLiveMs !== undefined) return { ttlMs: policy.timeToLiveMs };
  if (policy.timeToIdleMs !== undefined) return { ttiMs: policy.timeToIdleMs };
  return undefined;
}

/** The expiry a commit at `now` stores; `passed` when the fixed instant is not in the future any more. */
function objectExpiryAt(policy: StoredPolicy | undefined, now: number): StoredExpiry | 'passed' {
  if (policy?.at !== undefined && policy.at <= now) return 'passed';
  return storedExpiryOf(
    policy === undefined
      ? undefined
      : {
          ...(policy.at !== undefined ? { expiresAt: new Date(policy.at) } : {}),
          ...(policy.ttlMs !== undefined ? { timeToLiveMs: policy.ttlMs } : {}),
          ...(policy.ttiMs !== undefined ? { timeToIdleMs: policy.ttiMs } : {}),
        },
    now,
  );
}

/** A commit's `beforeAttempt` running each of the checks given, in order; none: no option. */
function beforeEachAttempt(...checks: Array<(() => void) | undefined>): { beforeAttempt?: () => void } {
  const given = checks.filter((check): check is () => void => check !== undefined);
  if (given.length === 0) return {};
  return {
    beforeAttempt: () => {
      for (const check of given) check();
    },
  };
}

/**
 * The committed `result` as the answer to a complete of `parts`, unless those parts, each given
 * with its size, make another size: another list than the one committed, which was not taken
 * ({@link UploadSessionClosedError}, completed), never answered as if it had been.
 */
function committedAnswer(uploadId: string, result: PutResult, parts: readonly CompletedPart[]): PutResult {
  const listed = parts.every((part) => part.size !== undefined) ? parts.reduce((sum, part) => sum + part.size!, 0) : undefined;
  if (listed !== undefined && listed !== result.size) throw new UploadSessionClosedError(uploadId, 'completed');
  return result;
}

/** The refusal of a complete whose object's `expiresAt` passed before it committed (the session ends). */
function expiresAtPassed(): ValidationError {
  return new ValidationError("the object's expiresAt has passed before the upload completed; the session is aborted", 'expiresAt');
}

/**
 * The refusal of a complete that ended its session, as kept for a retry (until `keepUntil`):
 * undefined for an error that is no refusal of the complete's own (its answer is not kept).
 */
function refusalOf(error: Error, keepUntil: number): SessionRefusal | undefined {
  if (error instanceof VersionConflictError) {
    return {
      error: 'VersionConflictError',
      ...(error.expected !== undefined ? { expected: error.expected } : {}),
      ...(error.actual !== undefined ? { actual: error.actual } : {}),
      keepUntil,
    };
  }
  if (error instanceof ValidationError) return { error: 'ValidationError', message: error.message, field: error.field, keepUntil };
  return undefined;
}

/** The error a kept refusal answers a retried complete with: the one the refused complete threw. */
function refusalError(info: SessionInfo, refusal: SessionRefusal): Error {
  if (refusal.error === 'VersionConflictError') return new VersionConflictError(info.key, refusal.expected, refusal.actual);
  return new ValidationError(refusal.message, refusal.field);
}

function resultOf(info: SessionInfo, result: SessionResult): PutResult {
  return { key: info.key, version: result.version, size: result.size, stored: 'blob', created: result.created ?? false };
}

/** How a session that S3 no longer knows the upload of ended, from its item read since. */
function closedError(uploadId: string, session: SessionItem | undefined): Error {
  if (session === undefined) return new UploadSessionNotFoundError(uploadId);
  if (session.result !== undefined) return new UploadSessionClosedError(uploadId, 'completed');
  return new UploadSessionClosedError(uploadId, session.closed === 'aborted' ? 'aborted' : 'expired');
}
