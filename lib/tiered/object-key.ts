/**
 * What the store accepts as an object key, content type and user metadata. Checked before any
 * write, so bad input is a {@link ValidationError} and nothing is written.
 */
import { MAX_OBJECT_KEY_BYTES } from '../constants.js';
import { ValidationError } from '../errors.js';
import { hintFor, notPlain } from '../plain-options.js';

const CONTROL = /[\u0000-\u001f\u007f]/;
const METADATA_NAME = /^[a-z0-9][a-z0-9-]{0,127}$/;
/**
 * Printable ASCII that neither begins nor ends with a space: a header field's value as HTTP carries
 * it. A parser drops the spaces around a field value (RFC 9110 5.5), so S3 stored `' x '` as `'x'`
 * while the objects table kept `' x '`: a blob's S3 copy (what a presigned GET or the objects API's
 * 307 answers) differed from what reads answered, and no HTTP client could ever send or read the
 * value the store held.
 */
const HEADER_VALUE = /^(?:[\u0021-\u007e](?:[\u0020-\u007e]*[\u0021-\u007e])?)?$/;
/** S3 allows 2 KB of user metadata (names and values, as sent). */
const MAX_METADATA_BYTES = 2048;
/**
 * Most bytes the metadata may add to the headers of the S3 request that carries it (PutObject,
 * CreateMultipartUpload). S3 limits a PUT's header section to 8 KB, and each entry costs more there
 * than its name and value: the line `x-amz-meta-<name>: <value>` and its CRLF, and `x-amz-meta-<name>;`
 * in the signature's SignedHeaders, 27 bytes + 2 × name + value. Many short entries within 2 KB
 * take far more: 1,000 of them take 31 KB, which even the local S3 server (16 KB of headers)
 * refuses with a 431 (S3 itself was not tried). The other half of the 8 KB is left to the SDK's
 * own headers (signature, a session token of about 1 KB, content type). An inline object is held
 * to it too: whether a put's metadata is taken must not depend on the size of its body.
 */
export const MAX_METADATA_HEADER_BYTES = 4096;
/** The bytes one entry adds to a signed S3 request's headers (see {@link MAX_METADATA_HEADER_BYTES}). */
const headerCost = (name: string, value: string) => 2 * 'x-amz-meta-'.length + 5 + 2 * name.length + value.length;

/** Throws unless `key` is a non-empty, well-formed string of at most 512 UTF-8 bytes without control characters. */
export function assertObjectKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) throw new ValidationError('object key must be a non-empty string', 'key');
  if (!key.isWellFormed()) throw new ValidationError('object key is not well-formed Unicode', 'key');
  if (Buffer.byteLength(key, 'utf8') > MAX_OBJECT_KEY_BYTES) {
    throw new ValidationError(`object key is longer than ${MAX_OBJECT_KEY_BYTES} bytes`, 'key');
  }
  if (CONTROL.test(key)) throw new ValidationError('object key contains control characters', 'key');
}

/**
 * Throws unless `contentType` is printable ASCII of 1 to 255 characters, without a leading or
 * trailing space ({@link HEADER_VALUE}). An empty one is no media type: the objects API answered
 * it as an empty `Content-Type`, while S3, which the SDK sends none to, stored its default.
 */
export function assertContentType(contentType: unknown): void {
  if (contentType === undefined) return;
  if (typeof contentType !== 'string' || contentType.length === 0 || contentType.length > 255 || !HEADER_VALUE.test(contentType)) {
    throw new ValidationError(
      'content type must be printable ASCII of 1 to 255 characters, with no leading or trailing space (HTTP drops them)',
      'contentType',
    );
  }
}

/**
 * Throws unless `metadata` is a map of lower-case names to printable ASCII values ({@link HEADER_VALUE}:
 * no leading or trailing space) within 2 KB, and within {@link MAX_METADATA_HEADER_BYTES} as S3 headers.
 */
export function assertMetadata(metadata: unknown): void {
  if (metadata === undefined) return;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ValidationError('metadata must be an object of strings', 'metadata');
  }
  const kind = notPlain(metadata);
  if (kind !== undefined) {
    // A Map's entries are no properties: it passed as no metadata and was stored as `{}`.
    throw new ValidationError(`metadata must be a plain object of strings, not ${kind}${hintFor(kind)}`, 'metadata');
  }
  let bytes = 0;
  let headerBytes = 0;
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_NAME.test(name))
      throw new ValidationError(`metadata name "${name.slice(0, 64)}" must match ${METADATA_NAME}`, 'metadata');
    if (typeof value !== 'string' || !HEADER_VALUE.test(value)) {
      throw new ValidationError(
        `metadata "${name}" must be a printable ASCII string with no leading or trailing space (HTTP drops them)`,
        'metadata',
      );
    }
    bytes += name.length + value.length;
    headerBytes += headerCost(name, value);
  }
  if (bytes > MAX_METADATA_BYTES) throw new ValidationError(`metadata exceeds ${MAX_METADATA_BYTES} bytes`, 'metadata');
  if (headerBytes > MAX_METADATA_HEADER_BYTES) {
    throw new ValidationError(
      `metadata takes ${headerBytes} bytes of S3 request headers (27 + 2 × name + value an entry), more than ${MAX_METADATA_HEADER_BYTES}: use fewer entries`,
      'metadata',
    );
  }
}
