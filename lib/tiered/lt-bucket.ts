/**
 * The bucket ("LT"): uploads through `@aws-sdk/lib-storage` (multipart above one part), reads
 * (whole, ranged, presigned), deletes, and the steps of a client-driven multipart upload (create,
 * presigned part URLs, list, complete, abort). Every key it is given is checked to lie under the configured prefix; this module
 * refuses to touch anything else, whatever its caller believes.
 */
import { createHash } from 'node:crypto';
import { pipeline, Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  paginateListObjectsV2,
  ListMultipartUploadsCommand,
  paginateListParts,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { awsErrorName, isCredentialRefusal, isDefiniteRejection, isNoSuchKey, translateAwsError } from '../aws/errors.js';
import { type PresignedUrl, presignUrl, presignUrls } from '../aws/presign.js';
import { MULTIPART_PART_SIZE, S3_DELETE_BATCH, UPLOAD_ABORT_ROUNDS } from '../constants.js';
import { advancingObjectPages } from '../aws/object-pages.js';
import { keepClassNames } from '../class-names.js';
import { AccessDeniedError, CorruptItemError, ListingError, ResourceMissingError, TierlogError } from '../errors.js';
import { checkBeforeEachAttempt } from '../aws/retry-loop.js';
import { assertPartSize, partSizeFor } from './part-size.js';

export interface UploadOptions {
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Called right before each attempt of each request of the upload goes out (an SDK retry, a part,
   * the complete): what it throws fails that attempt, unsent, and the upload with it.
   */
  readonly beforeAttempt?: () => void;
  /**
   * Cuts every request of the upload in flight when it aborts (its transfer stopped, the request
   * failed with an `AbortError` whose cause is the signal's reason), and fails at once one sent
   * after: the upload fails. A body S3 did not wholly receive is not stored; one it did may be.
   * Not the CompleteMultipartUpload: its small body is received at once and S3 assembles the
   * object whatever becomes of the request, so a cut would only lose the answer (awaited, a
   * writer that lives learns its blob exists and deletes it if its commit is fenced).
   */
  readonly abortSignal?: AbortSignal;
  /**
   * Called when the upload failed and so did the abort of its multipart upload (`err`, the abort's
   * error, or why parts may be left after it: ListParts refused, or parts still listed after the
   * last of its aborts): the parts sent so far stay in S3, billed, until something aborts the upload.
   */
  readonly onAbortFailed?: (err: unknown) => void;
}

/** One uploaded part of a multipart upload, as ListParts reports it. */
export interface UploadedPart {
  /** 1 to 10,000. */
  readonly partNumber: number;
  /** The ETag S3 gave the part: name it in the complete. */
  readonly etag: string;
  /** Its size in bytes. */
  readonly size: number;
}

/**
 * What {@link LtBucket.abortUntilNoParts} left: `gone` when ListParts no longer lists the upload,
 * or lists no part of it;
 * `partsLeft` when it still listed `parts` after the last abort; `unlisted` when the listing failed
 * (`error`, translated: an {@link AccessDeniedError} without `s3:ListMultipartUploadParts`), the
 * caller deciding what that means; `stopped` when its `stopped` said so after an abort. `existed`:
 * some abort found the upload there.
 */
export type UploadAbortOutcome =
  | { readonly kind: 'gone'; readonly existed: boolean }
  | { readonly kind: 'partsLeft'; readonly existed: boolean; readonly parts: number; readonly rounds: number }
  | { readonly kind: 'unlisted'; readonly existed: boolean; readonly error: unknown }
  | { readonly kind: 'stopped'; readonly existed: boolean };

/** Why S3 refused to complete a multipart upload (the upload stays open). */
export type CompleteRefusal = 'NoSuchUpload' | 'InvalidPart' | 'InvalidPartOrder' | 'EntityTooSmall';

/**
 * True for S3's 403 `AccessDenied` of a KMS key the caller may not use (`... is not authorized to
 * perform: kms:Decrypt ...`, `The ciphertext refers to a customer master key ...`): the object is
 * there, unlike the bare `Access Denied` AWS answers for a missing key without s3:ListBucket.
 */
function namesKms(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /\bkms:|\bKMS\b|ciphertext|customer master key/i.test(message);
}

/** What {@link LtBucket.exists} found. */
export type BlobExistence =
  /**
   * The blob is there; `lastModified`: S3's time of its upload, ms since the epoch; `etag`: its
   * ETag as the same listing gave it, when it gave one.
   */
  | { readonly kind: 'exists'; readonly lastModified: number; readonly etag?: string }
  | { readonly kind: 'missing' }
  /** The check could not decide (access denied, an error): treat as neither. */
  | { readonly kind: 'unknown'; readonly reason: string };

/** A key DeleteObjects could not delete, with S3's reason. */
export interface DeleteFailure {
  /** The blob key S3 did not delete. */
  readonly key: string;
  /** S3's error code for it (`AccessDenied`, `InternalError`, ...). */
  readonly code: string;
  /** S3's message for it. */
  readonly message: string;
}

/**
 * {@link LtBucket.deleteMany} stopped on an error (its `cause`) after S3 had answered some of its
 * deletes: what those answers said, so a caller that counts its deletes loses none of them.
 */
export class DeleteManyIncompleteError extends TierlogError {
  /** Deletes S3 confirmed before the error (`deletedKeys.length`). */
  readonly deleted: number;
  constructor(
    /** The keys whose deletes S3 confirmed before the error. */
    readonly deletedKeys: readonly string[],
    /** Keys S3 refused before the error. */
    readonly failures: readonly DeleteFailure[],
    cause: unknown,
  ) {
    super(
      `${deletedKeys.length} blobs deleted, ${failures.length} refused, then: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.deleted = deletedKeys.length;
  }
}
keepClassNames({ DeleteManyIncompleteError });

/** The multipart uploads in progress under the prefix, as far as a bounded listing read. */
export interface MultipartListing {
  /** Key → the ids of its uploads in progress. */
  readonly uploads: ReadonlyMap<string, readonly string[]>;
  /** The listing stopped at its page bound: S3 holds more uploads than it read. */
  readonly truncated: boolean;
}

/** One key of a listing. */
export interface ListedBlob {
  readonly key: string;
  readonly size: number;
  /** S3's LastModified, ms; undefined when S3 did not say. */
  readonly lastModified?: number;
}

/**
 * GetObjects of one read whose body was cut while it was read (`LtBucket.getBytes`, and so the
 * objects API's GET through `TieredStore.getBytesOrUrl`; a stream's, `LtBucket.getStream`, each
 * after the first a GetObject of the rest), as the SDK's attempts of a request.
 */
const BODY_READ_ATTEMPTS = 3;

/** Pages of no key, each truncated, {@link LtBucket.exists} reads before it calls the blob `unknown`. */
const EXISTS_MAX_PAGES = 10;

export class LtBucket {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    /** Bytes of each part of an upload (the last may be fewer): more for a body that needs over 10,000. */
    readonly partSize: number = MULTIPART_PART_SIZE,
  ) {
    assertPartSize(partSize);
  }

  /**
   * Uploads `body` to `key` (multipart above one part; parts are aborted on error, and the error
   * thrown is the upload's own, whatever the abort answered: a failed abort goes to `onAbortFailed`).
   *
   * A CompleteMultipartUpload whose answer was lost after it landed is retried by the SDK, and S3
   * answers the retry NoSuchUpload (the upload is gone: completed). The key is new and written by
   * this upload alone, so a blob there of the body's size is this upload's: it succeeded. A
   * blob S3 does not confirm (404, or 403 without s3:ListBucket) leaves the error as it was.
   */
  async upload(key: string, body: Uint8Array, options: UploadOptions = {}): Promise<void> {
    this.assertOwned(key);
    const upload = new Upload({
      client:
        options.beforeAttempt !== undefined || options.abortSignal !== undefined
          ? guarded(this.s3, options.beforeAttempt, options.abortSignal)
          : this.s3,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.byteLength,
        ...(options.contentType !== undefined ? { ContentType: options.contentType } : {}),
        ...(options.metadata !== undefined ? { Metadata: { ...options.metadata } } : {}),
      },
      // More than the store's part when the body needs over 10,000 of them: lib-storage refuses
      // the 10,001st only once 10,000 have gone up.
      partSize: partSizeFor(body.byteLength, this.partSize),
      queueSize: 4,
      // The parts are aborted below: lib-storage's own abort throws its failure in place of the
      // upload's error (a SlowDown of the abort would hide an access denied of a part).
      leavePartsOnError: true,
    });
    try {
      await upload.done();
    } catch (err) {
      if (awsErrorName(err) === 'NoSuchUpload' && (await this.sizeOf(key).catch(() => undefined)) === body.byteLength) return;
      // An abort that fails leaves the parts in S3: told to `onAbortFailed`, never thrown in place of the upload's error.
      if (upload.uploadId !== undefined) {
        const left = await this.partsLeftAfterAbort(key, upload.uploadId);
        if (left !== undefined) {
          try {
            options.onAbortFailed?.(left);
          } catch {
            // Its own failure changes nothing: the upload's error is thrown.
          }
        }
      }
      throw translateAwsError(err, { operation: 'PutObject', bucket: this.bucket });
    }
  }

  /**
   * The blob's bytes, or undefined if it does not exist. `mayReadAgain` says whether a body cut
   * while it is read may be read again (see `readWhole`): the caller's deadline, not passed.
   * @throws CorruptItemError when S3 says the blob is not `size` bytes (its item's), before its body is read
   */
  async getBytes(key: string, size: number, mayReadAgain?: () => boolean): Promise<Uint8Array | undefined> {
    return this.readWhole(key, size, size, undefined, mayReadAgain);
  }

  /**
   * Aborts a failed upload's multipart upload until S3 lists no part of it ({@link abortUntilNoParts}):
   * a part whose request was cut in flight (its body received whole just before), or whose attempt
   * the SDK gave up on and sent again, may be stored after the first abort, which AWS says may then
   * have to be sent again; a put whose failure removes its entry at once (a part refused outright)
   * left such parts named by nothing, billed until the bucket's lifecycle rule. Undefined once none
   * is left; else why parts may be (the abort's error, ListParts refused, parts still listed after
   * the last round), for `onAbortFailed`.
   */
  private async partsLeftAfterAbort(key: string, uploadId: string): Promise<unknown> {
    let outcome: UploadAbortOutcome;
    try {
      outcome = await this.abortUntilNoParts(key, uploadId);
    } catch (aborting) {
      return aborting;
    }
    switch (outcome.kind) {
      case 'gone':
      case 'stopped':
        return undefined;
      case 'unlisted':
        return outcome.error;
      case 'partsLeft':
        return new TierlogError(
          `multipart upload ${uploadId.slice(0, 200)} of ${key} still holds ${outcome.parts} parts after ${outcome.rounds} aborts`,
        );
    }
  }

  /**
   * The bytes of one GetObject (of `range`), read to their end. The SDK retries a request that
   * failed before its answer, never a body cut while it is read (a connection reset midway through
   * a large blob: a bare `Error: aborted`): such a read is sent again, up to
   * `BODY_READ_ATTEMPTS` in all. A blob key is written once, so a second GET answers the same
   * bytes, or none (the blob deleted since: undefined, and the caller follows the pointer). Not
   * once `mayReadAgain` says no (the caller's deadline has passed: its answer would come after
   * the caller's own, the invocation ended, and a large blob read again for nobody): the cut fails
   * the read.
   */
  private async readWhole(
    key: string,
    size: number,
    wanted: number,
    range: { readonly start: number; readonly end: number } | undefined,
    mayReadAgain: () => boolean = () => true,
  ): Promise<Uint8Array | undefined> {
    for (let attempt = 1; ; attempt++) {
      const out = await this.getObject(key, size, range);
      if (out === undefined) return undefined;
      let bytes: Uint8Array;
      try {
        bytes = await out.transformToByteArray();
        // Its Content-Range named the range (getObject), so fewer bytes are a body cut short
        // on the way, its Content-Length with it, not a blob of another length (a chunked
        // answer's count fails above, as the blob's).
        if (range !== undefined && bytes.byteLength < wanted) throw endedShort(key, range, range.start + bytes.byteLength);
      } catch (err) {
        // A count that found another length is an answer, not a cut: never read again.
        if (err instanceof TierlogError || attempt >= BODY_READ_ATTEMPTS || !mayReadAgain()) throw err;
        continue;
      }
      return this.counted(key, size, wanted, bytes);
    }
  }

  /**
   * The blob as a stream, or undefined if it does not exist. A body cut while it is read goes on
   * from the byte it reached (`resuming`), as `getBytes` reads one again; `mayReadAgain` as
   * for {@link getBytes}.
   * @throws CorruptItemError when S3 says the blob is not `size` bytes (its item's)
   */
  async getStream(key: string, size: number, mayReadAgain?: () => boolean): Promise<Readable | undefined> {
    const out = await this.getObject(key, size);
    if (out === undefined) return undefined;
    return size === 0
      ? (out as unknown as Readable)
      : this.resuming(key, size, { start: 0, end: size - 1 }, out as unknown as Readable, mayReadAgain);
  }

  /**
   * `first`, the body of a GetObject of `range` of the blob, as a stream that goes on past a cut.
   * The SDK retries a request that failed before its answer, never a body cut while it is read (a
   * connection reset midway: `Error: aborted`), and a stream's reader cannot tell a cut from a
   * fault of its own: such a cut is followed by a GetObject of the rest of the range, from the byte
   * reached (a blob key is written once: the same bytes, checked against the item's size as the
   * first answer was), up to `BODY_READ_ATTEMPTS` GetObjects in all, and not once `mayReadAgain`
   * says no. The stream fails with the cut past them, with a count that found another length
   * (a `TierlogError`) at once, and with the cut when the blob is gone meanwhile (replaced and
   * deleted: bytes of it were given already, so its successor's are never spliced in). Destroyed
   * early, it destroys the body it reads at once (one stalled mid-way too, no byte coming), aborts
   * a GetObject of the rest still waiting for its answer, and reads nothing more; destroyed with an
   * error (its reader's: `pipeline` when a client goes away), the error is no cut of S3's body either.
   */
  private resuming(
    key: string,
    size: number,
    range: { readonly start: number; readonly end: number },
    first: Readable,
    mayReadAgain: () => boolean = () => true,
  ): Readable {
    const rest = (start: number, signal: AbortSignal) => this.getObject(key, size, { start, end: range.end }, signal);
    /**
     * The GetObject of the rest while it waits for its answer, aborted if the stream is destroyed
     * meanwhile: one whose answer does not come (sent on a pooled connection that is dead, with no
     * socket timeout) held the stream's close until it did.
     */
    let asking: AbortController | undefined;
    // The body read now: destroyed with the stream, whenever that is (before its first read too,
    // when the generator has not begun and runs nothing of its own), so its socket goes back.
    let source: Readable = first;
    /** The stream was destroyed: what its body throws since (its own destruction) is no cut. */
    let destroyed = false;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      let next = range.start;
      for (let attempt = 1; ; attempt++) {
        // True while a chunk is with the reader: an error thrown in then is the reader's (a stream
        // destroyed with one, as `pipeline` does when a client goes away), never a cut of S3's body.
        let yielding = false;
        try {
          for await (const chunk of source) {
            next += (chunk as Uint8Array).byteLength;
            yielding = true;
            yield chunk as Uint8Array;
            yielding = false;
          }
          // A body that ends before the range's end (a 206 whose Content-Length is shorter than
          // its Content-Range: a proxy cut it) ended with no error: a cut all the same.
          if (next <= range.end) throw endedShort(key, range, next);
          return;
        } catch (err) {
          if (destroyed || yielding || err instanceof TierlogError || attempt >= BODY_READ_ATTEMPTS || next > range.end || !mayReadAgain())
            throw err;
          source.destroy();
          asking = new AbortController();
          const resumed = await rest(next, asking.signal)
            .catch((again: unknown) => {
              // Refused (403: a writer has no s3:ListBucket) as for a missing blob: gone, the cut answered.
              if (again instanceof AccessDeniedError) return undefined;
              throw again;
            })
            .finally(() => {
              asking = undefined;
            });
          if (resumed === undefined) throw err;
          source = resumed as unknown as Readable;
          // Destroyed while the rest was asked for: its body goes back unread.
          if (destroyed) source.destroy();
        }
      }
    }
    const stream = Readable.from(chunks(), { objectMode: false });
    // The body is destroyed as the stream is, not once the generator has its next chunk: a
    // generator waiting on a body stalled mid-way (no byte coming) held the stream's destroy, its
    // close and the body's socket until S3 sent more, which a reader's watchdog could not end.
    const destroyStream = stream._destroy.bind(stream);
    stream._destroy = (error, callback) => {
      destroyed = true;
      source.destroy();
      asking?.abort();
      destroyStream(error, callback);
    };
    return stream;
  }

  /**
   * Whether the blob exists, by a listing: `ListObjectsV2` with `Prefix` = the key and
   * `MaxKeys` = 1 (the key itself sorts first among the keys it prefixes). Not a HeadObject: S3
   * answers a HEAD of a missing key with 403, not 404, unless the caller may list the bucket
   * unconditioned, while a listing is allowed by the `s3:prefix`-scoped grant the construct
   * gives, and is strongly consistent like a HEAD. A page with no key that says it is truncated
   * (S3 stopped before it reached a key) says nothing of the key: the listing goes on from its
   * token, for at most 10 such pages. Anything that does not decide it (access
   * denied, an error after the SDK's retries, a listing that repeats or stops without a token:
   * `../aws/object-pages.ts`) is `unknown`, never "missing".
   *
   * @throws ResourceMissingError when the bucket does not exist.
   */
  async exists(key: string): Promise<BlobExistence> {
    this.assertOwned(key);
    try {
      let pages = 0;
      const listing = paginateListObjectsV2({ client: this.s3, pageSize: 1 }, { Bucket: this.bucket, Prefix: key });
      for await (const page of advancingObjectPages(listing, { bucket: this.bucket, prefix: key })) {
        const first = page.Contents?.[0];
        if (first === undefined && page.IsTruncated === true) {
          if (++pages >= EXISTS_MAX_PAGES) return { kind: 'unknown', reason: `the listing gave no key in ${pages} pages` };
          continue;
        }
        if (first?.Key !== key) return { kind: 'missing' };
        const lastModified = first.LastModified?.getTime();
        if (lastModified === undefined || Number.isNaN(lastModified)) return { kind: 'unknown', reason: 'listing gave no LastModified' };
        return { kind: 'exists', lastModified, ...(first.ETag ? { etag: first.ETag } : {}) };
      }
      return { kind: 'missing' };
    } catch (err) {
      const translated = translateAwsError(err, { operation: 'ListObjectsV2', bucket: this.bucket });
      // A missing bucket is a configuration error, not an undecided blob.
      if (translated instanceof ResourceMissingError) throw translated;
      const name = translated instanceof Error ? translated.name : 'Error';
      const message = translated instanceof Error ? translated.message : String(translated);
      return { kind: 'unknown', reason: `${name}: ${message}` };
    }
  }

  /** Deletes one blob (absent is fine). */
  async delete(key: string): Promise<void> {
    this.assertOwned(key);
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw translateAwsError(err, { operation: 'DeleteObject', bucket: this.bucket });
    }
  }

  /**
   * Deletes blobs with DeleteObjects, 1 000 a request (a lone key with DeleteObject); returns the
   * keys S3 refused (all of a batch's keys when an error in its answer names none). If a batch
   * request fails as a whole for a reason other than a missing bucket or access denied, its keys
   * are deleted one by one. Throws when the bucket is missing, when S3 refuses a whole request
   * (refused credentials, for one), and when a request's outcome is unknown: as it is when S3 had
   * answered none of the deletes before, else as the cause of a {@link DeleteManyIncompleteError}
   * that says what the answers were.
   */
  async deleteMany(keys: readonly string[]): Promise<DeleteFailure[]> {
    for (const key of keys) this.assertOwned(key);
    const failures: DeleteFailure[] = [];
    const deleted: string[] = [];
    try {
      await this.deleteInBatches(keys, failures, (key) => deleted.push(key));
    } catch (err) {
      throw deleted.length > 0 || failures.length > 0 ? new DeleteManyIncompleteError(deleted, [...failures], err) : err;
    }
    return failures;
  }

  /** {@link deleteMany}'s requests: each key S3 refused goes to `failures`, each it deleted to `onDeleted`. */
  private async deleteInBatches(keys: readonly string[], failures: DeleteFailure[], onDeleted: (key: string) => void): Promise<void> {
    for (let i = 0; i < keys.length; i += S3_DELETE_BATCH) {
      const batch = keys.slice(i, i + S3_DELETE_BATCH);
      if (batch.length === 1) {
        const failure = await this.deleteAlone(batch[0]!);
        if (failure !== undefined) failures.push(failure);
        else onDeleted(batch[0]!);
        continue;
      }
      try {
        const out = await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        const errors = out.Errors ?? [];
        if (errors.some((error) => error.Key === undefined)) {
          // An error that names no key could be any of them: none of the batch counts as deleted.
          const { Code = 'Unknown', Message = '' } = errors.find((error) => error.Key === undefined)!;
          for (const key of batch) failures.push({ key, code: Code, message: Message });
          continue;
        }
        const refused = new Set<string>();
        for (const error of errors) {
          refused.add(error.Key!);
          failures.push({ key: error.Key!, code: error.Code ?? 'Unknown', message: error.Message ?? '' });
        }
        for (const key of batch) if (!refused.has(key)) onDeleted(key);
      } catch (err) {
        const translated = translateAwsError(err, { operation: 'DeleteObjects', bucket: this.bucket });
        if (translated !== err) throw translated;
        for (const key of batch) {
          const failure = await this.deleteAlone(key);
          if (failure !== undefined) failures.push(failure);
          else onDeleted(key);
        }
      }
    }
  }

  /**
   * One key of {@link deleteMany} in its own DeleteObject, with the outcome the key would have had
   * in a batch. S3's refusal of the key (a 4xx answer, such as AccessDenied from a bucket policy or
   * a role without `s3:DeleteObject`) is returned as its failure, as DeleteObjects names such a key
   * in its answer. What DeleteObjects would have failed as a whole throws: a missing bucket, refused
   * credentials (an unknown key id, an expired token), and an outcome S3 never gave (no answer,
   * 5xx or throttling after the SDK's retries).
   */
  private async deleteAlone(key: string): Promise<DeleteFailure | undefined> {
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      return undefined;
    } catch (err) {
      const translated = translateAwsError(err, { operation: 'DeleteObject', bucket: this.bucket });
      const refusedKey = isDefiniteRejection(err) && !isCredentialRefusal(err) && !(translated instanceof ResourceMissingError);
      if (!refusedKey) throw translated;
      return { key, code: awsErrorName(err) ?? 'Unknown', message: err instanceof Error ? err.message : String(err) };
    }
  }

  /**
   * Every key under `<prefix>/`, a page at a time (ListObjectsV2 through the SDK's paginator;
   * `pageSize` keys a request, at most 1 000), each once.
   *
   * S3 lists a bucket's keys in ascending UTF-8 order and continues a truncated page from its
   * token. An answer that breaks either (a key not after the one before it: a page answered twice,
   * as by a proxy or an S3-compatible store that ignores the token; a token given before, which an
   * empty page repeats without end; a truncated page with no token, where the SDK's paginator stops
   * in silence: `../aws/object-pages.ts`) is no complete report of the prefix: a
   * {@link ListingError}, so a caller never takes part of the prefix for all of it, or a key twice.
   */
  async *list(options: { pageSize?: number } = {}): AsyncGenerator<ListedBlob[]> {
    const prefix = `${this.prefix}/`;
    const pages = paginateListObjectsV2(
      { client: this.s3, ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}) },
      // Keys URL-encoded: XML 1.0 cannot carry every character a key may hold, and S3 sends them
      // raw without this. The SDK's parser read a carriage return in a key as a line feed (XML's
      // end-of-line rule): a foreign key under the prefix was reported as another key, and two such
      // keys broke the listing's order (a ListingError: every audit of the bucket stopped).
      { Bucket: this.bucket, Prefix: prefix, EncodingType: 'url' },
    );
    let previous: { key: string; bytes: Buffer } | undefined;
    try {
      for await (const page of advancingObjectPages(pages, { bucket: this.bucket, prefix })) {
        const blobs: ListedBlob[] = [];
        for (const listed of page.Contents ?? []) {
          if (listed.Key === undefined) continue;
          // A store that does not encode (the local server) says so by giving no EncodingType.
          const object = { ...listed, Key: page.EncodingType === 'url' ? this.decodeListedKey(listed.Key, prefix) : listed.Key };
          const bytes = Buffer.from(object.Key, 'utf8');
          if (previous !== undefined && Buffer.compare(bytes, previous.bytes) <= 0) {
            throw new ListingError(
              this.bucket,
              prefix,
              `key "${object.Key.slice(0, 300)}" came after "${previous.key.slice(0, 300)}": the listing repeats or is out of order`,
            );
          }
          previous = { key: object.Key, bytes };
          blobs.push({
            key: object.Key,
            size: object.Size ?? 0,
            ...(object.LastModified !== undefined ? { lastModified: object.LastModified.getTime() } : {}),
          });
        }
        yield blobs;
      }
    } catch (err) {
      throw translateAwsError(err, { operation: 'ListObjectsV2', bucket: this.bucket });
    }
  }

  /**
   * A key of a listing asked for with `EncodingType: 'url'`, as S3 encodes it (a space as `+`,
   * anything else not safe as `%XX` of its UTF-8 bytes) decoded.
   *
   * @throws ListingError when it is no such encoding.
   */
  private decodeListedKey(encoded: string, prefix: string): string {
    try {
      return decodeURIComponent(encoded.replaceAll('+', '%20'));
    } catch {
      throw new ListingError(this.bucket, prefix, `key "${encoded.slice(0, 300)}" is not URL-encoded, though the page says it is`);
    }
  }

  // ---- client-driven multipart uploads --------------------------------------------------------

  /** Starts a multipart upload of `key`; returns S3's upload id. */
  async createMultipart(key: string, options: UploadOptions = {}): Promise<string> {
    this.assertOwned(key);
    try {
      const out = await this.s3.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ...(options.contentType !== undefined ? { ContentType: options.contentType } : {}),
          ...(options.metadata !== undefined ? { Metadata: { ...options.metadata } } : {}),
        }),
      );
      if (out.UploadId === undefined) throw new TierlogError(`CreateMultipartUpload ${key} returned no upload id`);
      return out.UploadId;
    } catch (err) {
      throw translateAwsError(err, { operation: 'CreateMultipartUpload', bucket: this.bucket });
    }
  }

  /**
   * URLs that upload the `parts` of the upload with a PUT, in their order, for `expiresInSeconds`
   * at most (see {@link PresignedUrl}); a part of exactly `contentLength` bytes when given (signed:
   * S3 refuses another length). One pass of the SDK's middleware stack makes them all
   * (lib/aws/presign.ts: the parts' requests differ only in `partNumber`).
   */
  async presignUploadParts(
    key: string,
    uploadId: string,
    parts: readonly { readonly partNumber: number; readonly contentLength?: number | undefined }[],
    expiresInSeconds: number,
  ): Promise<PresignedUrl[]> {
    this.assertOwned(key);
    if (parts.length === 0) return [];
    return presignUrls(
      this.s3,
      new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: parts[0]!.partNumber }),
      expiresInSeconds,
      parts.map(({ partNumber, contentLength }) => ({
        query: { partNumber: String(partNumber) },
        signedHeaders: contentLength !== undefined ? { 'content-length': String(contentLength) } : undefined,
      })),
    );
  }

  /**
   * The parts uploaded so far, ascending; undefined when the upload does not exist (any more). S3
   * answers them in pages, ascending, each continued from the last part number of the one before,
   * until a page that is not truncated (its NextPartNumberMarker, which AWS gives too, is not read).
   * A page that does not (a proxy or an S3-compatible store that ignores `PartNumberMarker`,
   * answering the same page again: the SDK's paginator asks for it again without end), or a
   * truncated page without a marker (the paginator stops there, in silence: a complete from that
   * list would assemble part of the object), is a {@link ListingError}.
   */
  async listParts(key: string, uploadId: string): Promise<UploadedPart[] | undefined> {
    this.assertOwned(key);
    const parts: UploadedPart[] = [];
    let last = 0;
    let marker: string | undefined;
    try {
      for await (const out of paginateListParts({ client: this.s3 }, { Bucket: this.bucket, Key: key, UploadId: uploadId })) {
        for (const p of out.Parts ?? []) {
          const partNumber = p.PartNumber ?? 0;
          if (partNumber <= last) {
            throw new ListingError(this.bucket, key, `part ${partNumber} came after part ${last}: the listing of parts repeats`);
          }
          last = partNumber;
          // A part without its size or ETag was listed as 0 bytes (or an empty ETag): a complete
          // summed the object's size from it, a session's listing told the client it held nothing.
          if (!Number.isSafeInteger(p.Size) || p.Size! < 0 || !p.ETag) {
            throw new ListingError(this.bucket, key, `part ${partNumber} is listed without its size or its ETag`);
          }
          parts.push({ partNumber, etag: p.ETag, size: p.Size! });
        }
        if (out.IsTruncated === true && !out.NextPartNumberMarker) {
          throw new ListingError(this.bucket, key, 'a page of parts says it is truncated and gives no marker');
        }
        if (out.IsTruncated === true && out.NextPartNumberMarker === marker) {
          throw new ListingError(this.bucket, key, 'a page of parts gives the marker it was asked with: the listing repeats');
        }
        // The last page ends the listing: AWS gives every page a NextPartNumberMarker (the last
        // part listed; an empty page past the end gives "0"), and the SDK's paginator, which does
        // not read IsTruncated, asked for the page after it, then for the first one again.
        if (out.IsTruncated !== true) break;
        marker = out.NextPartNumberMarker;
      }
    } catch (err) {
      if (awsErrorName(err) === 'NoSuchUpload') return undefined;
      throw translateAwsError(err, { operation: 'ListParts', bucket: this.bucket });
    }
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * Completes the upload from `parts`. A refusal S3 states (no such upload, a part missing or with
   * another ETag, parts out of order, a part too small) is returned, not thrown: nothing was made.
   */
  async completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly { partNumber: number; etag: string }[],
    /** The size the parts make: S3 refuses to assemble anything else (`x-amz-mp-object-size`). */
    expectedSize?: number,
  ): Promise<CompleteRefusal | undefined> {
    this.assertOwned(key);
    try {
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
          ...(expectedSize !== undefined ? { MpuObjectSize: expectedSize } : {}),
        }),
      );
      return undefined;
    } catch (err) {
      const name = awsErrorName(err);
      if (name === 'NoSuchUpload' || name === 'InvalidPart' || name === 'InvalidPartOrder' || name === 'EntityTooSmall') return name;
      throw translateAwsError(err, { operation: 'CompleteMultipartUpload', bucket: this.bucket });
    }
  }

  /** Aborts the upload and frees its parts; false when it did not exist (aborted or completed). */
  async abortMultipart(key: string, uploadId: string): Promise<boolean> {
    this.assertOwned(key);
    try {
      await this.s3.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
      return true;
    } catch (err) {
      if (awsErrorName(err) === 'NoSuchUpload') return false;
      throw translateAwsError(err, { operation: 'AbortMultipartUpload', bucket: this.bucket });
    }
  }

  /**
   * Aborts the upload, then asks S3 for its parts (ListParts): a part PUT in flight during the
   * abort may land after it, and AWS says an upload may then have to be aborted again, ListParts
   * telling when none is left: no such upload, or one that lists no part (AbortMultipartUpload's
   * reference; s3rver refuses such a part, so the emulator never shows it). Whoever aborts is
   * usually about to forget the upload (a session's item deleted), and nothing would name it any
   * more: its parts billed until the bucket's
   * lifecycle rule, days later. So while S3 still lists the upload it is aborted again,
   * {@link UPLOAD_ABORT_ROUNDS} times at most. A failed abort throws; a failed listing is returned
   * (`unlisted`): the abort is done, and only the caller knows whether that is worth a retry.
   * `stopped` is asked after each abort (a sweep cut off at its deadline sends nothing more).
   */
  async abortUntilNoParts(key: string, uploadId: string, stopped: () => boolean = () => false): Promise<UploadAbortOutcome> {
    let existed = false;
    for (let round = 1; ; round++) {
      existed = (await this.abortMultipart(key, uploadId)) || existed;
      if (stopped()) return { kind: 'stopped', existed };
      let left: UploadedPart[] | undefined;
      try {
        left = await this.listParts(key, uploadId);
      } catch (error) {
        return { kind: 'unlisted', existed, error };
      }
      // No part listed is what AWS says to check for ("ensure that the parts list is empty"): an
      // upload still listed after its abort, holding nothing, was aborted twice more and then told
      // as one that "still holds 0 parts" (onCleanupError, AbandonedUploadErrors; a failed put's
      // entry left to the sweeper).
      if (left === undefined || left.length === 0) return { kind: 'gone', existed };
      if (round >= UPLOAD_ABORT_ROUNDS) return { kind: 'partsLeft', existed, parts: left.length, rounds: round };
    }
  }

  /**
   * The ids of the multipart uploads in progress for exactly `key` (ListMultipartUploads with
   * `Prefix` = the key, every page).
   */
  async multipartUploadIds(key: string): Promise<string[]> {
    this.assertOwned(key);
    const ids: string[] = [];
    await this.listMultipart(key, Number.POSITIVE_INFINITY, (u) => {
      if (u.key === key) ids.push(u.uploadId);
    });
    return ids;
  }

  /**
   * The multipart uploads in progress under `<prefix>/` (ListMultipartUploads with that `Prefix`,
   * 1 000 uploads a page), key → upload ids, reading at most `maxPages` pages; `truncated`: S3 had
   * more.
   */
  async multipartUploadsUnderPrefix(maxPages: number): Promise<MultipartListing> {
    const uploads = new Map<string, string[]>();
    const truncated = await this.listMultipart(`${this.prefix}/`, maxPages, (u) => {
      const ids = uploads.get(u.key);
      if (ids === undefined) uploads.set(u.key, [u.uploadId]);
      else ids.push(u.uploadId);
    });
    return { uploads, truncated };
  }

  /**
   * Pages of ListMultipartUploads under `prefix`, each upload handed to `each`; true when it
   * stopped at `maxPages` with more to read. Paged by hand: the SDK has no paginator for this
   * command (its pages continue from a key and upload-id marker pair). A truncated page that gives
   * no markers, or the very markers it was asked with (a proxy or an S3-compatible store that
   * ignores them, answering the same page again), is a {@link ListingError}: the first would end
   * the listing as if complete, the second would ask for the same page without end.
   */
  private async listMultipart(
    prefix: string,
    maxPages: number,
    each: (upload: { key: string; uploadId: string }) => void,
  ): Promise<boolean> {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    try {
      for (let page = 1; ; page++) {
        const out = await this.s3.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker, UploadIdMarker }));
        for (const u of out.Uploads ?? []) {
          if (u.Key !== undefined && u.UploadId !== undefined && u.Key.startsWith(prefix)) each({ key: u.Key, uploadId: u.UploadId });
        }
        if (out.IsTruncated !== true) return false;
        if (!out.NextKeyMarker && !out.NextUploadIdMarker) {
          throw new ListingError(this.bucket, prefix, 'a page of uploads says it is truncated and gives no markers');
        }
        if (out.NextKeyMarker === KeyMarker && out.NextUploadIdMarker === UploadIdMarker) {
          throw new ListingError(this.bucket, prefix, 'a page of uploads gives the markers it was asked with: the listing repeats');
        }
        if (page >= maxPages) return true;
        KeyMarker = out.NextKeyMarker;
        UploadIdMarker = out.NextUploadIdMarker;
      }
    } catch (err) {
      throw translateAwsError(err, { operation: 'ListMultipartUploads', bucket: this.bucket });
    }
  }

  /**
   * The size of a blob S3 shows to exist (a GetObject whose body is not read: a writer's role
   * has s3:GetObject); undefined when S3 does not confirm it: 404, or 403, which is what AWS
   * answers for a missing key to a caller without s3:ListBucket. Undefined is never "missing".
   * @throws AccessDeniedError when the 403 names KMS (the role may not decrypt the blob: it exists)
   * @throws TierlogError when the answer tells no Content-Length (sent chunked, by a proxy or an
   * S3-compatible store): the blob is there, its size is not known (never taken for 0 bytes)
   */
  async sizeOf(key: string): Promise<number | undefined> {
    return (await this.sizeAndEtagOf(key))?.size;
  }

  /**
   * As {@link sizeOf}, with the blob's ETag as S3 answered it (undefined when it answered none):
   * an object a multipart upload assembled has `"<md5 of the parts' ETags>-<part count>"`
   * ({@link multipartEtagOf}), which tells which parts it is made of. `keyEncrypted`: the object
   * is encrypted with a KMS or a customer key, whose parts' ETags are no MD5s of their bytes (the
   * digest of the whole is then not one this library computes; its part count still holds).
   */
  async sizeAndEtagOf(key: string): Promise<{ readonly size: number; readonly etag?: string; readonly keyEncrypted: boolean } | undefined> {
    this.assertOwned(key);
    let out: GetObjectCommandOutput;
    try {
      out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      // A 403 of a missing key names nothing; one of a KMS key the role may not use names it (the
      // blob is there, unreadable): that is the access error it is, never "not confirmed".
      if (isNoSuchKey(err) || (awsErrorName(err) === 'AccessDenied' && !namesKms(err))) return undefined;
      throw translateAwsError(err, { operation: 'GetObject', bucket: this.bucket });
    }
    (out.Body as Readable | undefined)?.destroy?.();
    if (out.ContentLength === undefined) {
      throw new TierlogError(`GetObject ${key.slice(0, 200)} answered no Content-Length: the blob's size is not known`);
    }
    const keyEncrypted =
      (out.ServerSideEncryption !== undefined && out.ServerSideEncryption !== 'AES256') || out.SSECustomerAlgorithm !== undefined;
    return { size: out.ContentLength, ...(out.ETag ? { etag: out.ETag } : {}), keyEncrypted };
  }

  // ---- ranged and presigned reads ------------------------------------------------------------

  /**
   * Bytes `start..end` (inclusive) of the blob of `size` bytes, or undefined if it does not exist.
   * `mayReadAgain` as for {@link getBytes}.
   * @throws CorruptItemError when S3 says the blob is not `size` bytes (its item's)
   */
  async getRangeBytes(
    key: string,
    size: number,
    start: number,
    end: number,
    mayReadAgain?: () => boolean,
  ): Promise<Uint8Array | undefined> {
    return this.readWhole(key, size, end - start + 1, { start, end }, mayReadAgain);
  }

  /**
   * Bytes `start..end` (inclusive) of the blob of `size` bytes as a stream, or undefined if it does not exist;
   * a body cut while it is read goes on from the byte it reached, as {@link getStream}'s.
   * @throws CorruptItemError when S3 says the blob is not `size` bytes (its item's)
   */
  async getRangeStream(key: string, size: number, start: number, end: number, mayReadAgain?: () => boolean): Promise<Readable | undefined> {
    const out = await this.getObject(key, size, { start, end });
    return out === undefined ? undefined : this.resuming(key, size, { start, end }, out as unknown as Readable, mayReadAgain);
  }

  /**
   * A URL that GETs the blob (Range requests included) for `expiresInSeconds` at most (see
   * {@link PresignedUrl}), answered with `Content-Type: <contentType>` whatever S3 holds
   * (`response-content-type`, signed into the URL) and `Cache-Control: no-cache`
   * (`response-cache-control`): with `Last-Modified` alone a cache may reuse S3's answer for a
   * tenth of the blob's age without asking (RFC 9111 4.2.2), past the object's expiry, replacement
   * or deletion, as the objects API's own 200 carries `no-cache` for. A reuse is revalidated with S3,
   * which refuses it once the URL (never longer-lived than the object) has ended.
   */
  async presignGet(key: string, expiresInSeconds: number, contentType: string): Promise<PresignedUrl> {
    this.assertOwned(key);
    return presignUrl(
      this.s3,
      new GetObjectCommand({ Bucket: this.bucket, Key: key, ResponseContentType: contentType, ResponseCacheControl: 'no-cache' }),
      expiresInSeconds,
    );
  }

  /**
   * Throws unless `key` lies under `<prefix>/`: the last guard before any S3 read, write or delete.
   * No caller's input is a blob key (the store makes them, or reads them from HV), so a key outside
   * is a fault of the data or of the deployment (an item written under another prefix, a prefix
   * changed, a corrupt item): a {@link CorruptItemError}, which the objects API answers as a 500
   * that names nothing, never a 400 that blames the client and shows it the key and the prefix.
   */
  assertOwned(key: string): void {
    if (typeof key !== 'string' || !key.startsWith(`${this.prefix}/`) || key.split('/').some((s) => s === '..' || s === '.')) {
      throw new CorruptItemError(
        `outside "${this.prefix}/": not a blob of this store (written under another prefix, or corrupt); not touched`,
        `blob key "${String(key).slice(0, 200)}"`,
      );
    }
  }

  /**
   * The body of the blob (of `range` of it), which its item says is `size` bytes. S3 says how long
   * the blob is (Content-Length, or a ranged answer's Content-Range): a blob of another length
   * (written over out of band, another store's, an item whose size is wrong) is refused before its
   * body is read, never given as the item's bytes, nor a range placed by the item's size in it. A
   * ranged answer that does not say which bytes it holds (no Content-Range: a proxy or a store
   * that ignored the Range answers the whole blob) is refused too, unless the range was the whole;
   * so is one that names other bytes of a blob of the item's size, or more bytes than the range
   * (a TierlogError: the answer is wrong, not the blob).
   */
  private async getObject(
    key: string,
    size: number,
    range?: { readonly start: number; readonly end: number },
    /** Aborts the request (a stream destroyed while it waits for the answer). */
    abortSignal?: AbortSignal,
  ) {
    this.assertOwned(key);
    let out: GetObjectCommandOutput;
    try {
      out = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(range !== undefined ? { Range: `bytes=${range.start}-${range.end}` } : {}),
        }),
        abortSignal !== undefined ? { abortSignal } : {},
      );
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      // The range lies within the item's size: S3 refuses it (416) only when the blob is shorter.
      if (range !== undefined && awsErrorName(err) === 'InvalidRange')
        throw this.notItsSize(key, size, `not bytes ${range.start}-${range.end}`);
      throw translateAwsError(err, { operation: 'GetObject', bucket: this.bucket, key });
    }
    if (out.Body === undefined) throw new TierlogError(`GetObject ${key} returned no body`);
    // A ranged answer without Content-Range is a 200 of the whole blob (a proxy dropped the Range,
    // a store ignored it): its bytes are not the range's, unless the range is the whole blob.
    if (
      range !== undefined &&
      out.ContentRange === undefined &&
      !(range.start === 0 && range.end === size - 1 && out.ContentLength === size)
    ) {
      (out.Body as Readable).destroy?.();
      throw new TierlogError(
        `GetObject ${key.slice(0, 200)} of bytes ${range.start}-${range.end} answered no Content-Range (${out.ContentLength ?? 'unknown'} bytes, the whole blob?): not answered as the range`,
      );
    }
    const answered = range === undefined ? wholeOf(out.ContentLength) : rangeOf(out.ContentRange);
    const wanted = range === undefined ? { start: 0, end: size - 1, size } : { ...range, size };
    if (answered !== undefined && answered.size >= 0 && answered.size !== size) {
      (out.Body as Readable).destroy?.();
      throw this.notItsSize(
        key,
        size,
        `${answered.size} (bytes ${answered.start}-${answered.end} answered for ${wanted.start}-${wanted.end})`,
      );
    }
    // A blob of the item's size answered as other bytes than the range asked for (a proxy or a
    // cache in front of S3 that served another range, a Content-Range that names no bytes): the
    // answer is wrong, not the blob. Refused, as an answer without Content-Range is, never told
    // as a blob that is not its item's size ("declares N bytes, S3 holds N").
    if (answered !== undefined && (answered.size < 0 || answered.start !== wanted.start || answered.end !== wanted.end)) {
      (out.Body as Readable).destroy?.();
      throw new TierlogError(
        `GetObject ${key.slice(0, 200)} of bytes ${wanted.start}-${wanted.end} answered Content-Range "${String(out.ContentRange).slice(0, 100)}": not answered as the range`,
      );
    }
    // A ranged answer whose Content-Length passes the range (the Content-Range asked for over more
    // bytes: a proxy that sent more of the blob under it) holds bytes that are not the range's: a
    // stream gave them all after the range's, ending cleanly, as the range. (A shorter one is a
    // body cut on the way, read again from the byte reached: `endedShort`.)
    if (range !== undefined && out.ContentLength !== undefined && out.ContentLength > wanted.end - wanted.start + 1) {
      (out.Body as Readable).destroy?.();
      throw new TierlogError(
        `GetObject ${key.slice(0, 200)} of bytes ${wanted.start}-${wanted.end} answered ${out.ContentLength} bytes under Content-Range "${String(out.ContentRange).slice(0, 100)}": not answered as the range`,
      );
    }
    // An answer sent chunked (a proxy, an S3-compatible store) tells no Content-Length, which
    // nothing above could check (nor Node, which holds a body to the length it was told): its
    // bytes are counted as they are read, a stream's failing when they are not the ones wanted.
    if (out.ContentLength === undefined) return this.countedStream(key, size, wanted, range !== undefined, out.Body);
    return out.Body;
  }

  /** `bytes`, read from an answer of `key` that should hold `wanted` of its `size`. @throws CorruptItemError */
  private counted(key: string, size: number, wanted: number, bytes: Uint8Array): Uint8Array {
    if (bytes.byteLength !== wanted) throw this.notItsSize(key, size, `another length: ${bytes.byteLength} bytes answered for ${wanted}`);
    return bytes;
  }

  /**
   * `body`, the answer of bytes `wanted.start..wanted.end`, through a count of its bytes: the
   * stream fails as soon as it passes them, or at its end short of them. A whole blob's answer
   * fails with a {@link CorruptItemError} (the blob is another length); a `ranged` one, whose
   * Content-Range named the blob's size, with an answer that is not the range (a TierlogError)
   * when longer, and as a body cut on the way when shorter (`endedShort`: read again from the byte
   * reached), as an answer that tells its Content-Length does. Destroying the stream returned
   * destroys `body`.
   */
  private countedStream<B extends NonNullable<GetObjectCommandOutput['Body']>>(
    key: string,
    size: number,
    wanted: { readonly start: number; readonly end: number },
    ranged: boolean,
    body: B,
  ): B {
    const length = wanted.end - wanted.start + 1;
    let seen = 0;
    const count = new Transform({
      transform: (chunk: Uint8Array, _encoding, done) => {
        seen += chunk.byteLength;
        if (seen <= length) done(null, chunk);
        else if (!ranged) done(this.notItsSize(key, size, `another length: more than the ${length} bytes wanted answered`));
        else
          done(
            new TierlogError(
              `GetObject ${key.slice(0, 200)} of bytes ${wanted.start}-${wanted.end} answered more than its ${length} bytes: not answered as the range`,
            ),
          );
      },
      flush: (done) => {
        if (seen === length) done(null);
        else if (!ranged) done(this.notItsSize(key, size, `another length: ${seen} bytes answered for ${length}`));
        else done(endedShort(key, wanted, wanted.start + seen));
      },
    });
    pipeline(body as unknown as Readable, count, () => {});
    return Object.assign(count, {
      transformToByteArray: async () => {
        const chunks: Uint8Array[] = [];
        for await (const chunk of count) chunks.push(chunk as Uint8Array);
        return new Uint8Array(Buffer.concat(chunks));
      },
    }) as unknown as B;
  }

  /** A blob S3 shows is not the `size` bytes its item declares: it holds `held`. */
  private notItsSize(key: string, size: number, held: string): CorruptItemError {
    return new CorruptItemError(`its item declares ${size} bytes, S3 holds ${held}: not answered`, `blob "${key.slice(0, 200)}"`);
  }
}

/**
 * `s3` as lib-storage sees it, with a check on every command it sends: right before each attempt
 * goes out (the last step of the SDK's pipeline, inside its retry loop), `beforeAttempt` runs, and
 * what it throws fails the attempt unsent. An attempt already sent is awaited, never abandoned,
 * unless `abortSignal` (given to every command but the complete: lib-storage passes its own to
 * none) aborts it.
 */
function guarded(s3: S3Client, beforeAttempt: (() => void) | undefined, abortSignal: AbortSignal | undefined): S3Client {
  return new Proxy(s3, {
    get(target, property, receiver) {
      if (property !== 'send') return Reflect.get(target, property, receiver);
      return (command: { middlewareStack: unknown; input?: unknown }, options?: object, ...rest: unknown[]) => {
        if (beforeAttempt !== undefined) checkBeforeEachAttempt(command, 'tierlogUploadDeadline', beforeAttempt);
        const cuttable = abortSignal !== undefined && !isCompleteMultipartUpload(command);
        const sent = cuttable ? { ...options, abortSignal } : options;
        return Reflect.apply(target.send, target, [command, ...(sent !== undefined ? [sent] : []), ...rest]) as Promise<unknown>;
      };
    },
  });
}

/**
 * Whether lib-storage's `command` is its CompleteMultipartUpload: the one command it sends with
 * a `MultipartUpload` (the parts to assemble). By its input, not its class: lib-storage's commands
 * may be another copy of the SDK's classes (its CommonJS build, beside this module's ESM import),
 * and a writer's bundle minified without `keepNames` renames each copy differently, so neither
 * `instanceof` nor the class name would know it, and the complete would be cut mid-assembly.
 */
function isCompleteMultipartUpload(command: { input?: unknown }): boolean {
  if (command instanceof CompleteMultipartUploadCommand) return true;
  const input = command.input;
  return typeof input === 'object' && input !== null && 'MultipartUpload' in input;
}

/**
 * The body of a GetObject of `range` of `key` ended at byte `reached`, before the range's end,
 * without an error: a 206 whose Content-Length is shorter than its Content-Range (a proxy or a
 * load balancer cut the body and its length with it). A cut, as a reset midway is: read again
 * from there while the read may, else the read's error, `ERR_STREAM_PREMATURE_CLOSE` (Node's code for
 * a body closed before its end, which the objects API answers with a 503), never a short read.
 */
function endedShort(key: string, range: { readonly start: number; readonly end: number }, reached: number): Error {
  return Object.assign(
    new Error(
      `GetObject ${key.slice(0, 200)} of bytes ${range.start}-${range.end} ended short, at byte ${reached}: its answer was shorter than the range it named`,
    ),
    { code: 'ERR_STREAM_PREMATURE_CLOSE' },
  );
}

/** The bytes a whole GetObject answers, from its Content-Length; undefined when S3 gave none. */
function wholeOf(contentLength: number | undefined): { start: number; end: number; size: number } | undefined {
  return contentLength === undefined ? undefined : { start: 0, end: contentLength - 1, size: contentLength };
}

/** The bytes a ranged GetObject answers, from its `Content-Range: bytes a-b/size`; undefined when S3 gave none. */
function rangeOf(contentRange: string | undefined): { start: number; end: number; size: number } | undefined {
  if (contentRange === undefined) return undefined;
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange.trim());
  // A Content-Range that does not name the bytes and the length (`bytes */size`, `bytes a-b/*`, garbage): size -1, not the range asked.
  if (match === null) return { start: -1, end: -1, size: -1 };
  return { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) };
}

/** An ETag without its quotes, lower case. */
function bareEtag(etag: string): string {
  return etag.replace(/^"|"$/g, '').toLowerCase();
}

/**
 * Whether an object S3 holds (its ETag, as GetObject answered it) can be the one a
 * CompleteMultipartUpload of `parts` assembled. S3 gives such an object the ETag
 * `"<md5 of the parts' binary ETags>-<part count>"`: a count that is not the list's, or (every
 * part's ETag an MD5 in hex, and `digest`: the object not encrypted with a KMS or a customer key,
 * for which the digest is not known to follow that rule) a digest that is not the list's, is
 * another assembly. An ETag of another form (none, or an S3-compatible store's digest of the whole
 * body) tells nothing: true. Never false on a guess: a false refuses the client's complete.
 */
export function mayBeAssemblyOf(etag: string | undefined, parts: readonly { readonly etag: string }[], digest = true): boolean {
  const match = etag === undefined ? null : /^([0-9a-f]{32})-(\d+)$/.exec(bareEtag(etag));
  if (match === null) return true;
  if (Number(match[2]) !== parts.length) return false;
  if (!digest) return true;
  const expected = multipartEtagOf(parts);
  return expected === undefined || bareEtag(expected) === `${match[1]}-${match[2]}`;
}

/**
 * The ETag S3 gives the object a multipart upload of `parts` assembles (quoted), or undefined
 * when a part's ETag is not an MD5 in hex (then S3's cannot be computed here).
 */
export function multipartEtagOf(parts: readonly { readonly etag: string }[]): string | undefined {
  const digests = parts.map((p) => bareEtag(p.etag));
  if (digests.some((d) => !/^[0-9a-f]{32}$/.test(d))) return undefined;
  const md5 = createHash('md5');
  for (const d of digests) md5.update(Buffer.from(d, 'hex'));
  return `"${md5.digest('hex')}-${parts.length}"`;
}
