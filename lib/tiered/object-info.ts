/**
 * What the store's callers pass and get back: write options, and an object's description
 * (version, size, content type, metadata, where its body lives) with or without its body.
 */
import type { Readable } from 'node:stream';
import type { ByteRange, ResolvedRange } from './byte-range.js';
import { type ExpiryPolicy, expiryDateOf } from './expiry.js';
import type { HvRecord } from './hv-table.js';

/**
 * `expiresAt`, `timeToLiveMs` or `timeToIdleMs` (one of them, see lib/tiered/expiry.ts): the
 * object's expiry. A write replaces the policy; none given, the object never expires.
 */
export interface PutOptions extends ExpiryPolicy {
  /**
   * The object's media type, returned with it on reads (none given: none stored; the objects API then answers
   * `application/octet-stream`): printable ASCII, 1 to 255 characters, no leading or trailing space.
   */
  readonly contentType?: string;
  /** User metadata: lower-case names, printable ASCII values (no leading or trailing space), 2 KB in all. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Write only if the stored version is this one; `0` means "only if absent" (never written, or
   * deleted, or expired). Versions never restart: one taken before a delete, or before TTL removed
   * an expired object, never matches after it (lib/tiered/versions.ts). A safe integer.
   */
  readonly ifVersion?: number;
}

/**
 * The type an object stored without one is answered with: by the objects API, and by a presigned
 * GET of its blob (S3's own default differs: `binary/octet-stream` on AWS).
 */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/** Options of {@link TieredStore.delete}. */
export interface DeleteOptions {
  /** Delete only if the stored version is this one (one taken before a delete never matches). */
  readonly ifVersion?: number;
}

/** The fields of an HV record that describe the object to its users. */
export type DescribedFields = 'key' | 'version' | 'size' | 'contentType' | 'metadata' | 'createdAt' | 'updatedAt';

/** An object's description: its record's public fields ({@link HvRecord}), where its body lives, its expiry. */
export interface ObjectInfo extends Pick<HvRecord, DescribedFields> {
  /** Where the body lives. */
  readonly stored: 'inline' | 'blob';
  /** When the object expires (absent: never). Second resolution. */
  readonly expiresAt?: Date;
}

/** Options of the store's reads. */
export interface GetOptions {
  /** Read only these bytes (see {@link ByteRange}); a range past the end is a RangeNotSatisfiableError. */
  readonly range?: ByteRange;
}

/** Limits a session call to the object it was opened for (an HTTP route's key). */
export interface SessionScope {
  /** Refuse the id unless its session uploads this key. */
  readonly key?: string;
}

/** An object read whole (or the bytes of its range) into memory ({@link TieredStore.get}). */
export interface GetResult extends ObjectInfo {
  /** The object's bytes (those of `range` when one was asked for). */
  readonly body: Uint8Array;
  /**
   * The bytes `body` holds, when a range was asked for (`size` stays the whole object's); absent
   * for a suffix of an empty object, which HTTP answers with the whole (empty) object.
   */
  readonly range?: ResolvedRange;
}

/** An object whose body is a stream ({@link TieredStore.getStream}): a large one is not buffered. */
export interface StreamResult extends ObjectInfo {
  /**
   * The body. A blob's reads S3's response stream (a body cut midway goes on from the byte
   * reached, with a GetObject of the rest, up to 3 in all): read it to its end, or `destroy()` it
   * when you stop early (a client that went away); left unread, it holds one of the S3 client's
   * pooled sockets until the connection times out.
   */
  readonly body: Readable;
  /**
   * The bytes `body` holds, when a range was asked for (`size` stays the whole object's); absent
   * for a suffix of an empty object, which HTTP answers with the whole (empty) object.
   */
  readonly range?: ResolvedRange;
}

/**
 * A large object answered by URL ({@link TieredStore.getStreamOrUrl}): its bytes are fetched from
 * S3 by whoever holds the URL. Tell it from a {@link StreamResult} with `'url' in result`.
 */
export interface UrlResult extends ObjectInfo {
  /** A presigned GET of the object's blob, this version's (a Range header works on it). */
  readonly url: string;
  /** When the URL stops working, in ms since the epoch: never after the object expires. */
  readonly urlExpiresAt: number;
  /** The bytes asked for, resolved against this version, when a range was asked for. */
  readonly range?: ResolvedRange;
}

/** What a write stored ({@link TieredStore.put}, {@link TieredStore.completeUpload}). */
export interface PutResult {
  /** The object's key. */
  readonly key: string;
  /**
   * One past the version of the state it replaced (a deletion marker keeps counting); where no
   * item existed, a first version drawn from the writer's clock (lib/tiered/versions.ts).
   */
  readonly version: number;
  /** The body's size in bytes. */
  readonly size: number;
  /** Where the body lives: in the objects table, or as a blob in the bucket. */
  readonly stored: 'inline' | 'blob';
  /** True when no object was there before (absent, deleted, or expired). */
  readonly created: boolean;
}

/** The description of a live object's record. */
export function infoOf(record: HvRecord): ObjectInfo {
  const { key, version, size, contentType, metadata, createdAt, updatedAt } = record;
  const expiresAt = expiryDateOf(record);
  return {
    key,
    version,
    size,
    ...(contentType !== undefined ? { contentType } : {}),
    metadata,
    createdAt,
    updatedAt,
    stored: record.blob !== undefined ? 'blob' : 'inline',
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}
