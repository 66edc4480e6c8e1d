/**
 * HTTP semantics of the reference storage writer: `PUT | GET | HEAD | DELETE /objects/{key}` over
 * a Lambda Function URL or an API Gateway HTTP API (payload format 2.0), on a {@link TieredStore}.
 * On an HTTP API's named stage the stage's path segment is not part of the route; through a
 * custom domain, map the API at the domain's root (a mapping path is not removed: 404).
 *
 * - Keys are the percent-decoded path after `/objects/` (they may contain `/`); a `?`, `#` or `%`
 *   in a key is sent percent-encoded. A PUT or DELETE with a query string (other than the upload
 *   session routes below) is 400: it may be the rest of a key whose `?` was not encoded, and
 *   writing the key cut there would change another object. A Function URL (what the construct
 *   deploys) passes the path as the client encoded it. An HTTP API is reported to pass it decoded
 *   (not checked here on AWS), so a `%` in its path is a decoded `%25`, and decoding it again
 *   would name another object: behind one, a path with `%` is refused (400), whatever the method;
 *   a key's `?` ends its path there (a write is then refused for its query string, a read answers
 *   the key before it), and `#` is reported to arrive intact.
 *   A key is taken as sent, byte for byte: `é` composed (NFC) and decomposed (NFD) are two keys,
 *   as in S3, and `.` or `..` segments are part of it; a WHATWG URL client (a browser, `fetch`)
 *   removes such segments, even percent-encoded, before it sends the path, so it reaches another
 *   key: send a key with its `/` encoded (`%2F`, as `encodeURIComponent` does) to keep them.
 * - Bodies arrive base64-encoded when Lambda says so; the decoded size is capped (past it, 413: a PUT's
 *   at `maxBodyBytes`, a session's JSON at 1 MiB). A PUT stores the
 *   body whole and as sent, or refuses it: `Content-Range` (a partial update) is 400 (RFC 9110
 *   §14.5), a `Content-Encoding` other than `identity` is 415 with `Accept-Encoding: identity` (the
 *   bytes would come back encoded and unlabelled; on a session's create too, and on its complete,
 *   whose JSON is read as sent), a `Content-Length`
 *   the body as it arrived does not have is 400 (Lambda passes a text body decoded as UTF-8: one
 *   that is not UTF-8 goes with a binary `Content-Type`), a `Content-MD5` the body does not match is 400
 *   `BadDigest`, as on a session's create and complete (an `x-amz-content-sha256` of other bytes: 400 `XAmzContentSHA256Mismatch`; a
 *   `STREAMING-*` one, an aws-chunked body, 400), and S3's request headers but `x-amz-meta-*` and
 *   SigV4's are 400 (on a session's create too; `x-amz-cf-id`, CloudFront's id of each request it
 *   forwards, is taken wherever SigV4's are): `x-amz-copy-source*` (a copy),
 *   `x-amz-write-offset-bytes` (an append), `x-amz-checksum-*` (not verified here), object lock,
 *   SSE-C, tagging, another storage class or ACL (`x-amz-storage-class: STANDARD` and
 *   `x-amz-acl: private` are what every object is). So are the headers S3 stores with an object and
 *   this API does not: `Content-Disposition`, `Content-Language`, `Expires` and a `Cache-Control`
 *   other than a request's `no-cache` or `max-age=0` (what every answer carries). A DELETE takes no `x-amz-*` header but SigV4's
 *   (S3's `x-amz-if-match-size`, `x-amz-if-match-last-modified-time`, `x-amz-mfa`: not evaluated
 *   here), no expiry header and no content (a condition in a body, `{ "ifVersion": 3 }`, was
 *   ignored; on a session's abort too): 400.
 * - `ETag` is the quoted version; `If-Match: "<version>"` makes a PUT or DELETE conditional,
 *   `If-None-Match: *` makes a PUT create-only (and a DELETE of an existing object 412); a lost
 *   condition is 412, and so is a weak `If-Match` tag (compared strongly, it never matches). A
 *   DELETE of an absent object is 404 whatever its condition, a weak tag too (RFC 9110 §13.2.1), as without one. Any
 *   other `If-None-Match` on a write, `If-Match: *` (only if the object exists), both headers at
 *   once, or `If-Unmodified-Since` without `If-Match`, is 400: a precondition is never ignored.
 * - GET and HEAD evaluate `If-Match` (strong comparison; false: 412) and `If-None-Match` (weak
 *   comparison; a match: 304, with the `ETag`, `Last-Modified` and `Content-Type` a 200 carries: a
 *   cache takes a 304's fields into its stored answer) against the version they answer, in RFC 9110's order
 *   (lib/api/preconditions.ts), so a download in several ranges with `If-Match` gets 412 once the
 *   object is replaced, never bytes of two versions (nor a 416 when its range is past the end of
 *   the new one: a Range is evaluated after the preconditions, §14.2). `If-Unmodified-Since` without `If-Match` is 400
 *   and `If-Modified-Since` is not evaluated: a date cannot name a version. A GET answered by a
 *   redirect is judged on the version the URL serves; the client's headers then follow the
 *   redirect to S3, which compares `If-Match` with its own ETag (not the version, and S3's answer
 *   carries it: the 307 carries the version's; GetObject
 *   answers 412 to a tag it does not hold), so an `If-Match` that held here is refused there: read
 *   an object above the response limit with `If-Match` by presigned URL (`presignGet`), or without it.
 *   S3 would evaluate an `If-Modified-Since` on its own date of the blob (a 304 for a version
 *   written in the second the date names), so a GET answered by a redirect with one and no
 *   `If-None-Match` (with which S3 ignores the date) is 400: send `If-None-Match` with the ETag.
 * - `x-amz-meta-*` request headers (of a PUT or a session's create) become user metadata and come
 *   back on GET and HEAD. The 200, 206, 304 and 404 answers of GET and HEAD carry `Cache-Control:
 *   no-cache`: a cache revalidates (`If-None-Match`) before it reuses one, never serves a replaced
 *   object, nor "no such object" once it is written.
 * - `Range: bytes=a-b | a- | -n` on GET answers 206 with `Content-Range` (416 when the range
 *   does not overlap the object). Several ranges, or another unit, are ignored: the whole object
 *   (RFC 9110 §14.2; no multipart/byteranges answer). A malformed range is 400. A GET whose
 *   answer would exceed the buffered response limit answers `307` to a short-lived presigned S3
 *   URL instead (Range headers follow the redirect): the bytes go from S3 to the client, no
 *   Lambda carries them, labelled with the `Content-Type` a 200 would carry (the URL names it).
 *   One read of HV decides the 307
 *   (and a 304 or 412 of such an object), with no S3 request (`TieredStore.getStreamOrUrl`), and
 *   a GET with `If-None-Match` (a cache's revalidation) or an `If-Match` naming versions is judged
 *   first on the item alone (`TieredStore.head`): a 304 or 412 sends no S3 request. The
 *   limit applies to the object as read by the one read that answers, so an object replaced
 *   meanwhile cannot overflow it; an inline object (at most the inline threshold) is always
 *   answered in the body (`TieredStore.getBytesOrUrl`: a blob grown past the limit while it is read
 *   is answered by URL). A blob's body cut while it is read (a connection reset midway) is read
 *   again, up to 3 GetObjects in all, as `get` reads one, and not once the invocation's answer is
 *   due; cut on every one, the GET is a 503 `Retry`.
 * - `If-Range: "<version>"` with a Range (a resumed download): the range only while the object is
 *   still that version, else the whole object, 200, so a client never splices bytes of two
 *   versions. A date, a weak tag or anything else never matches (a version can change within the
 *   second a date names). When the whole object would be a redirect, the client's Range would
 *   follow it to S3, so a validator that does not match is answered 412 instead: ask again
 *   without Range (S3's own ETag, which a download that followed the redirect resumes with, is
 *   told it names no version, not that the object was replaced). One that matches is redirected, and the client's If-Range goes to S3 with its
 *   Range; S3 compares it with its own ETag (an MD5, never the version), and is reported to answer
 *   the whole object then (not checked on AWS; s3rver ignores If-Range): a resumed download of an
 *   object above the limit may restart from its first byte, never splice.
 * - Upload sessions, for bodies above the request limit (S3's multipart API, as a client expects):
 *   `POST ?uploads` opens one (no other query name: 400; JSON `{ size?, partSize?, contentType?, metadata?, expiresInMs? }`;
 *   with no body, a `Content-Type` header other than JSON's is the object's, as S3 takes it;
 *   `If-Match` / `If-None-Match`, the expiry headers and `x-amz-meta-*` (or `metadata`, not both) as
 *   for PUT, the expiry applying to the object from its commit) and answers the part URLs when `size` is given (the first `maxPartUrls`, fewer if a 6 MB response would not hold them);
 *   `GET ?uploadId=…` lists the uploaded parts (all of them: S3's paging, `max-parts` or
 *   `part-number-marker`, is 400, as is any other query name, a condition or an S3 header but
 *   SigV4's on either GET), `GET ?uploadId=…&partNumber=n` presigns one more part URL (a HEAD of either: its headers alone, RFC 9110 §9.3.2); `POST ?uploadId=…` completes (JSON `{ parts: [{ partNumber, etag }] }`, no other field);
 *   `DELETE ?uploadId=…` aborts. The create's, the list's and the part URL's answers carry
 *   `Cache-Control: no-store` (presigned URLs, parts as they stand), as a 307 does. A query that names `uploadId` or `partNumber` twice, or both
 *   `uploads` and `uploadId`, is 400; so is an abort or a complete with anything beside `uploadId`
 *   (`DELETE ?uploadId=…&partNumber=2` is no request to delete a part: it would end them all), and
 *   a `partNumber` without `uploadId`, whatever the method (`GET ?partNumber=2`, S3's read of one
 *   part, would get the whole object as a 200). So is a `versionId` (S3's read of one version):
 *   only the current version is answered, and `If-Match` insists on it. So is an S3 subresource
 *   (`?tagging`, `?acl`, `?attributes`, `?retention`, `?legal-hold`, `?torrent`: GetObjectTagging and
 *   the like, answered with the object's bytes otherwise), and a `response-*` override
 *   (S3's `response-content-type`, `response-content-disposition`, ...): an object is answered with
 *   the headers it was stored with. A session's condition,
 *   expiry and metadata are given at its create: an abort or a complete with `If-Match`,
 *   `If-None-Match`, `If-Unmodified-Since`, an `x-tierlog-*` or an `x-amz-meta-*` header is 400 (`If-None-Match: *` on a complete,
 *   S3's "create only", would otherwise commit over an object); so is any other S3 request header
 *   but SigV4's (`x-amz-checksum-sha256`, S3's check of the whole object, which nothing here
 *   makes), and a part with a field beside `partNumber`, `etag` and the listed `size`.
 * - Expiry on PUT (and on a session's create), one of: `x-tierlog-expires-at: <ISO 8601 or HTTP date>`
 *   (nothing else: a bare number is not taken for a year, and an ISO time of day names its zone),
 *   `x-tierlog-ttl: <seconds>` (time to live), `x-tierlog-tti: <seconds>` (time to idle: reads
 *   move the expiry forward). None: the object never expires (a PUT replaces the policy). A
 *   refused one (two given, 0 seconds, past 100 years, an instant passed) is 400 naming the header.
 *   Another `x-tierlog-*` header on a write (but `x-tierlog-stored`, an answer's, copied back) is 400: a
 *   misspelt expiry would leave the object for ever. GET
 *   and HEAD answer `x-tierlog-expires-at: <ISO 8601>` for an object that expires (a GET's 307
 *   too: S3's answer to its URL carries none); an expired
 *   object is 404.
 * - Bad input is a 4xx with a JSON `{ error, message }` (to a HEAD, its headers alone); nothing
 *   is written. A server-side failure (configuration, permissions, a missing table, a corrupt
 *   item, a blob whose size is not its item's, a bug) is a 500 whose message says nothing of the
 *   deployment; the error itself goes to `onError`. A request fenced by a sweeper, a commit whose outcome is unknown, a
 *   write stopped at its invocation's deadline (`InvocationEndedError`), AWS
 *   throttling after the SDK's retries, a transaction holding an item through every write's attempt, a GET whose object
 *   was replaced under each of the store's reads of it (a write losing so is 409 `Conflict`), a connection to AWS lost (timed out or reset, after the
 *   SDK's retries or in the middle of a blob's body) and an AWS server error (5xx) to every attempt
 *   are a 503 with `Retry-After` (the last two, faults, go to `onError` too).
 */
import { createHash } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  CommitOutcomeUnknownError,
  CommitRefusedError,
  ConfigError,
  ContentionError,
  CorruptItemError,
  InstanceClaimedError,
  InvalidPartsError,
  InvocationEndedError,
  RangeNotSatisfiableError,
  TierlogError,
  UploadAssembledError,
  UploadSessionClosedError,
  UploadSessionNotFoundError,
  ValidationError,
  VersionConflictError,
} from '../errors.js';
import { keepClassNames } from '../class-names.js';
import { httpStatus, isThrottling, isTransactionConflict } from '../aws/errors.js';
import { MAX_PRESIGN_SECONDS } from '../aws/presign.js';
import { type ByteRange, contentRange, parseRangeHeader } from '../tiered/byte-range.js';
import { MAX_PARTS } from '../tiered/part-size.js';
import { MAX_EXPIRY_MS } from '../tiered/expiry.js';
import { evaluateRead, type ReadPreconditions, readPreconditionsOf, refuseDateOnlyCondition } from './preconditions.js';
import type { ObjectInfo, PutOptions, TieredStore } from '../tiered/tiered-store.js';
import { DEFAULT_CONTENT_TYPE } from '../tiered/object-info.js';
import { notifyCallback } from '../callbacks.js';
import { sentByHttpApi } from './event-source.js';
import { assertOptions, optionNames } from '../plain-options.js';

/** Options of {@link handleObjectsRequest}: the limits of what a request carries and an answer holds. */
export interface ObjectsApiOptions {
  /**
   * Largest accepted body, decoded, in bytes; larger is a 413. Default 5 MiB. Behind a Function
   * URL the request payload is 6 MB and a binary body arrives base64 (4/3), so Lambda itself
   * answers 413 to a binary body above about 4.4 MiB before this handler runs; a larger body
   * goes through an upload session.
   */
  readonly maxBodyBytes?: number;
  /**
   * Largest blob body (or range of one) returned by GET; a larger one is a 307 to S3. A buffered
   * Lambda response carries 6 MB, and the body travels base64 (4/3): at most
   * {@link MAX_BUFFERED_RESPONSE_BYTES} there (the Lambda handler refuses more). Default 4 MiB.
   */
  readonly maxResponseBytes?: number;
  /**
   * Lifetime of the presigned URL a GET of a large object redirects to: an integer from 1 000 ms
   * to 7 days (a presigned URL's bounds; outside them every redirect is a 500 whose
   * ConfigError goes to `onError`). Default 60 000 ms.
   */
  readonly redirectExpiresInMs?: number;
  /**
   * Most part URLs a session's create answers (more: `GET ?uploadId=…&partNumber=n`). Default 1 000.
   * Fewer when that many would not fit a buffered Lambda response (6 MB; a URL takes 1 to 4 KB):
   * the create answers the first ones that fit.
   */
  readonly maxPartUrls?: number;
  /**
   * Receives unexpected errors (answered as a 500 that does not repeat them, or as a 503 when a
   * connection to AWS was lost or AWS answered a server error), and a failed signing
   * of a new session's part URLs (the session is answered without them). One that throws is a
   * process warning: the request is answered as it would be.
   */
  readonly onError?: (err: unknown) => void;
}

type Response = APIGatewayProxyStructuredResultV2;

/**
 * What a session's complete stopped at its invocation's deadline answers (the handler's 503 then,
 * or the complete's own check, `InvocationEndedError`, first): retry it. A complete that committed
 * answers its result again (the objects table names its session), one that did not completes then.
 * Sent to read the object "to learn whether a write landed", its client learned nothing (another
 * writer's version reads the same), and one that took it for its own left its upload to expire.
 */
export const COMPLETE_NOT_FINISHED =
  'the complete did not finish in time: retry it (a complete that committed answers its result again, one that did not completes the upload)';

/**
 * What a session's complete whose commit's outcome is unknown (DynamoDB did not answer it, nor a
 * read of the session after it: `CommitOutcomeUnknownError`) answers: retry it. Its message was
 * the error's own ("outcome of the commit … is unknown"), with no way out but the runbook's "read
 * the object to learn it", which cannot tell a complete's commit from another writer's version; a
 * client that gave its upload up for another's left it to expire. Retried, the complete answers
 * the result of a commit that landed (the session records it in the same transaction), or commits.
 */
export const COMPLETE_OUTCOME_UNKNOWN =
  "the complete's commit was not answered and its outcome is unknown: retry it (a complete that committed answers its result again, one that did not completes the upload)";

/**
 * The largest `maxResponseBytes` a buffered Lambda response carries: 6 MB (6 291 456 bytes) of
 * JSON, less 16 KiB for the status, the headers (metadata included) and the envelope, of which the
 * body takes 4/3 as base64: 4 706 304 bytes (about 4.49 MiB).
 */
export const MAX_BUFFERED_RESPONSE_BYTES = ((6 * 1024 * 1024 - 16 * 1024) / 4) * 3;
/** The body a buffered Lambda response carries, as the runtime serializes it: 6 MB less 16 KiB for the status, headers and envelope. */
const MAX_BUFFERED_RESPONSE_PAYLOAD = 6 * 1024 * 1024 - 16 * 1024;

const ROUTE = '/objects/';
const ALLOWED = 'GET, HEAD, PUT, DELETE';
const MAX_JSON_BODY = 1024 * 1024;
const DEFAULT_MAX_BODY = 5 * 1024 * 1024;
const DEFAULT_MAX_RESPONSE = 4 * 1024 * 1024;
const DEFAULT_REDIRECT_EXPIRES_MS = 60_000;
/** A version as a quoted tag: up to 16 digits (a version is below 2^53, lib/tiered/versions.ts). */
const ETAG = /^\s*(?:W\/)?"([1-9][0-9]{0,15})"\s*$/;
/** A strong tag of this API: one quoted version, as an `ETag` here carries it. */
const VERSION_TAG = /^\s*"[1-9][0-9]{0,15}"\s*$/;

/** The names {@link ObjectsApiOptions} has: any other is refused ({@link checkObjectsApiOptions}). */
const OBJECTS_API_OPTIONS = optionNames<ObjectsApiOptions>()(
  'maxBodyBytes',
  'maxResponseBytes',
  'redirectExpiresInMs',
  'maxPartUrls',
  'onError',
);

/**
 * Checks the options, each a deployment's setting: {@link handleObjectsRequest} answers a
 * 500 (to `onError`) for every request while one is out of bounds or a name is not one of
 * {@link ObjectsApiOptions}'s, and `createObjectsHandler` refuses it at construction. Unchecked, a
 * NaN limit would turn off the check it names, and a misspelt one (`maxBodyByte`,
 * `redirectExpiresInMS`) would be a default nobody chose, as the handler's factory refuses it.
 * @throws ConfigError naming the option
 */
export function checkObjectsApiOptions(options: ObjectsApiOptions): void {
  try {
    assertOptions(options, OBJECTS_API_OPTIONS, 'handleObjectsRequest');
  } catch (err) {
    // The deployment's setting, not the request's: a ConfigError (a 500), never a 400 blaming the client.
    if (err instanceof ValidationError) throw new ConfigError(err.message, err.field);
    throw err;
  }
  const check = (name: keyof ObjectsApiOptions, value: number | undefined, min: number, max: number, unit: string) => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min || value > max)) {
      throw new ConfigError(`${name} must be an integer in ${min}..${max} (${unit})`, name);
    }
  };
  check('maxBodyBytes', options.maxBodyBytes, 1, Number.MAX_SAFE_INTEGER, 'bytes');
  check('maxResponseBytes', options.maxResponseBytes, 1, Number.MAX_SAFE_INTEGER, 'bytes');
  check('redirectExpiresInMs', options.redirectExpiresInMs, 1_000, MAX_PRESIGN_SECONDS * 1_000, 'ms: a presigned URL lasts 1 s to 7 days');
  check('maxPartUrls', options.maxPartUrls, 0, MAX_PARTS, 'part URLs');
}

/** Answers one request. Never throws: every failure is an HTTP status. */
export async function handleObjectsRequest(
  store: TieredStore,
  event: APIGatewayProxyEventV2,
  options: ObjectsApiOptions = {},
): Promise<Response> {
  return sentFor(event, await answerWithContent(store, event, options));
}

/** `response` as it is sent to `event`: to a HEAD, GET's headers with no content (RFC 9110 9.3.2), an error's too. */
export function sentFor(event: APIGatewayProxyEventV2, response: Response): Response {
  if ((event?.requestContext?.http?.method ?? '').toUpperCase() !== 'HEAD' || response.body === undefined) return response;
  const { body: _content, isBase64Encoded: _encoded, ...headOnly } = response;
  return headOnly;
}

/**
 * The answer to one request with the content a GET of it would carry, a HEAD's too (an error's
 * `{ error, message }`): for a caller that logs what it answers (the Lambda handler) before it
 * sends it with `sentFor`. Never throws.
 */
export async function answerWithContent(
  store: TieredStore,
  event: APIGatewayProxyEventV2,
  options: ObjectsApiOptions = {},
): Promise<Response> {
  try {
    // The deployment's settings, not the request's: out of bounds, the server's fault (500), not a 400.
    checkObjectsApiOptions(options);
    // A payload 1.0 event (API Gateway REST API, ALB, an HTTP API set to 1.0) or a test invoke's
    // `{}` has no `rawPath` or `requestContext.http`: refused by name, not a 404 ("no route for
    // undefined") that a client reads as "no such object".
    const unsupported = unsupportedEvent(event);
    if (unsupported !== undefined) return problem(400, 'UnsupportedEvent', unsupported);
    const method = (event.requestContext?.http?.method ?? '').toUpperCase();
    const routePath = routePathOf(event);
    // An HTTP API passes the path decoded: a `%` in it was a `%25` its client sent, and decoding it
    // again names another object (`a%2541` reaches the handler as `a%41`, read as `aA`), whose write
    // or delete would change a key nobody named. Refused, whatever the method: never guessed at.
    // Before the key is decoded: a `%25` its client sent before no two hex digits (`a%25zz`, the
    // key `a%zz`) was refused as "not valid percent-encoding", which it was, and sent nowhere.
    if (routePath.startsWith(ROUTE) && sentByHttpApi(event) && routePath.slice(ROUTE.length).includes('%'))
      throw new ValidationError(
        'a key with % cannot be carried through an API Gateway HTTP API, which passes the path to the function decoded (decoding it again would name another object): send keys with % through the Function URL',
        'key',
      );
    const key = keyOf(routePath);
    if (key === undefined) return problem(404, 'NotFound', `no route for ${String(event.rawPath).slice(0, 200)}`);
    const headers = lowerCase(event.headers ?? {});
    const query = new URLSearchParams(event.rawQueryString ?? '');
    const uploadIds = query.getAll('uploadId');
    // One session route at a time, one session: an ambiguous query is refused, never guessed at.
    if (uploadIds.length > 1 || query.getAll('partNumber').length > 1)
      throw new ValidationError('uploadId and partNumber may each be given once', 'uploadId');
    if (uploadIds.length > 0 && query.has('uploads'))
      throw new ValidationError('?uploads (create a session) and ?uploadId= (use one) cannot be combined', 'uploadId');
    // A part belongs to a session: `GET ?partNumber=2` (S3's read of one part) would get the whole object as a 200.
    if (query.has('partNumber') && uploadIds.length === 0)
      throw new ValidationError(
        'partNumber names a part of an upload session and needs uploadId (a GET answers whole objects)',
        'partNumber',
      );
    // S3's read of one version. Only the current one is answered here: a request for another is refused, not answered with it.
    if (query.has('versionId'))
      throw new ValidationError(
        'versionId is not supported: a GET answers the current version (its ETag), use If-Match to insist on one',
        'versionId',
      );
    // S3's object subresources (GetObjectTagging's `?tagging`, GetObjectAcl's `?acl`, ...): another
    // request than a read of the object, whose bytes would be its answer.
    const subresource = [...query.keys()].find((name) => S3_SUBRESOURCES.has(name));
    if (subresource !== undefined)
      throw new ValidationError(
        `?${subresource} (an S3 subresource of the object) is not supported: only the object is answered`,
        subresource,
      );
    // S3's answer-header overrides (GetObject's `response-content-type`, `response-content-disposition`,
    // ...): an object is answered with the headers it was stored with, never those asked for.
    const override = [...query.keys()].find((name) => name.toLowerCase().startsWith('response-'));
    if (override !== undefined)
      throw new ValidationError(
        `${override.slice(0, 40)} is not supported: an object is answered with the headers it was stored with`,
        override.slice(0, 40),
      );
    const uploadId = uploadIds[0] ?? null;
    if (uploadId !== null || query.has('uploads'))
      return await sessionRequest(store, method, key, uploadId, query, event, headers, options);
    // A write names its object by the path alone. A query string on one is refused, not ignored:
    // it may be the rest of a key whose `?` reached the service unencoded (or decoded by a proxy),
    // and writing the truncated key would change another object.
    if ((method === 'PUT' || method === 'DELETE') && (event.rawQueryString ?? '') !== '')
      return problem(400, 'ValidationError', 'a PUT or DELETE of an object takes no query string (percent-encode ?, # and % in a key)');
    switch (method) {
      case 'GET':
        return await getObject(store, key, headers, options).catch((err: unknown) => {
          // The object was replaced under each of the store's reads (a blob deleted, or grown past
          // the limit, before its bytes came): the GET asked for nothing that conflicts, and the
          // same request is likely answered once the writes pause. A 409 `Conflict` that "lost to
          // concurrent writers" is retried by no client and names a write nobody made.
          if (err instanceof ContentionError) return overtakenRead();
          throw err;
        });
      case 'HEAD': {
        const preconditions = readPreconditionsOf(headers);
        const info = await store.head(key);
        if (info === undefined) return noSuchObject();
        const verdict = evaluateRead(preconditions, info.version);
        if (verdict !== 'proceed') return preconditionAnswer(verdict, info);
        return { statusCode: 200, headers: infoHeaders(info) };
      }
      case 'PUT':
        return await putObject(store, key, event, headers, options.maxBodyBytes ?? DEFAULT_MAX_BODY);
      case 'DELETE': {
        refuseDeleteContent(event, 'delete');
        // Both precondition headers count: `If-None-Match: *` ("only if absent") refuses to delete an object.
        refuseUnhonouredDeleteHeaders(headers);
        // A weak If-Match never matches (§13.1.1): only an absent object meets it, as `If-None-Match: *`
        // would (0), so nothing is deleted, and the absent one is 404 as under any condition.
        const { ifVersion, weakIfMatch } = writeConditionOf(headers, 'delete');
        const condition = weakIfMatch ? 0 : ifVersion;
        const deleted = await store.delete(key, condition !== undefined ? { ifVersion: condition } : {}).catch((err: unknown) => {
          // An absent object is 404 whatever the precondition, as without it (RFC 9110 §13.2.1): a
          // DELETE retried after its answer was lost learns the object is gone, not that a version stands.
          if (err instanceof VersionConflictError && err.actual === undefined) return false;
          throw weakIfMatch && err instanceof VersionConflictError ? new WeakIfMatchError() : err;
        });
        return deleted ? { statusCode: 204 } : problem(404, 'NotFound', 'no such object');
      }
      default:
        return {
          ...problem(405, 'MethodNotAllowed', `method ${method.slice(0, 20)} is not allowed`),
          headers: { allow: ALLOWED, 'content-type': 'application/json' },
        };
    }
  } catch (err) {
    return errorResponse(err, options.onError);
  }
}

/**
 * Why `event` is not a payload 2.0 event (Function URL, HTTP API) this API can answer, or
 * undefined when it is one.
 */
function unsupportedEvent(event: APIGatewayProxyEventV2): string | undefined {
  const given = event as unknown as Record<string, unknown> | null | undefined;
  // A payload 2.0 event has its `rawPath`; its method is judged by the routes (none: 405).
  if (typeof given?.rawPath === 'string') return undefined;
  const shape =
    given !== null && typeof given === 'object' && typeof given.httpMethod === 'string'
      ? 'a payload 1.0 event (API Gateway REST API, Application Load Balancer, or an HTTP API set to payload format 1.0)'
      : 'an event that is not an HTTP request';
  return `this function takes payload format 2.0 events (a Function URL, or an HTTP API with payload format 2.0); got ${shape}`;
}

/**
 * The path the routes are matched on: `rawPath`, less the stage an HTTP API puts first in it.
 * Requests to an HTTP API's default endpoint on a named stage (`https://{apiId}.execute-api.{region}.amazonaws.com/prod/objects/k`)
 * arrive with the stage as the path's first segment (`/prod/objects/k`); the `$default` stage, a
 * Function URL's, is not in the path. Through a custom domain the path carries no stage (the API
 * mapping chose it), so the stage is removed only on the default endpoint, where it is always
 * there: a key whose first segment is the stage's name is never cut. A custom domain's API
 * mapping path stays in the path: no route matches it (404), nothing is written.
 */
function routePathOf(event: APIGatewayProxyEventV2): string {
  const rawPath = event.rawPath ?? '';
  const { stage, apiId, domainName } = event.requestContext ?? {};
  if (stage === undefined || stage === '' || stage === '$default') return rawPath;
  const onDefaultEndpoint = apiId !== undefined && domainName?.startsWith(`${apiId}.execute-api.`) === true;
  const segment = `/${stage}`;
  return onDefaultEndpoint && rawPath.startsWith(`${segment}/`) ? rawPath.slice(segment.length) : rawPath;
}

/** The object key in a route path, percent-decoded; undefined when the path is not an object route. */
function keyOf(rawPath: string): string | undefined {
  if (!rawPath.startsWith(ROUTE)) return undefined;
  const encoded = rawPath.slice(ROUTE.length);
  if (encoded.length === 0) throw new ValidationError('object key is missing', 'key');
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new ValidationError('object key is not valid percent-encoding', 'key');
  }
}

async function getObject(store: TieredStore, key: string, headers: Record<string, string>, options: ObjectsApiOptions): Promise<Response> {
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE;
  // Judged on the version each read returns, the one answered (lib/api/preconditions.ts).
  const preconditions = readPreconditionsOf(headers);
  let range: ByteRange | undefined = headers.range !== undefined ? parseRangeHeader(headers.range) : undefined;
  // Without a Range, If-Range means nothing (RFC 9110 13.1.5).
  const ifRange = range !== undefined ? headers['if-range'] : undefined;
  // One read decides: the size checked against the limit is the size of the bytes answered, so an
  // object replaced while it is read never makes an answer larger than a buffered response carries.
  const expiresInMs = options.redirectExpiresInMs ?? DEFAULT_REDIRECT_EXPIRES_MS;
  // A revalidation (`If-None-Match`: every answer says no-cache, so a cache sends one before each
  // reuse) is judged on the item alone, before any blob is opened: a 304 costs one read of HV and
  // no S3 request (opened first, each 304 cost an S3 GET dropped unread, and S3 throttling a GET
  // made it a 503). So is an `If-Match` that names versions (a download in ranges learning that
  // the object was replaced): its 412 read and dropped the new version's bytes, and was a 503
  // "retry" while S3 failed GETs. The read that answers bytes is judged again on the version it finds.
  if (preconditions.ifNoneMatch !== undefined || (preconditions.ifMatch !== undefined && preconditions.ifMatch !== '*')) {
    const info = await store.head(key);
    if (info === undefined) return noSuchObject();
    const verdict = evaluateRead(preconditions, info.version);
    if (verdict !== 'proceed') return preconditionAnswer(verdict, info);
  }
  // A second pass reads the whole object: the client holds part of another version than the one
  // read (If-Range), which the range would splice with it.
  for (;;) {
    let object: Awaited<ReturnType<TieredStore['getBytesOrUrl']>>;
    try {
      // A blob whose bytes exceed the limit comes back as a URL, from the same read of HV; the
      // bytes of one that fits are read whole (a body cut midway read again, a blob replaced while
      // it was read followed, one grown past the limit answered by URL: `getBytesOrUrl`).
      object = await store.getBytesOrUrl(key, { ...(range !== undefined ? { range } : {}), maxBytes: maxResponseBytes, expiresInMs });
    } catch (err) {
      if (!(err instanceof RangeNotSatisfiableError && range !== undefined)) throw err;
      // A Range is evaluated after the preconditions (RFC 9110 §14.2): a range past the end of a
      // version If-Match does not name is 412, not 416, which a resuming client (curl -C -) takes
      // for "my copy is whole" and keeps the old version's first bytes as the object.
      const noIfRange = ifRange === undefined;
      if (noIfRange && preconditions.ifMatch === undefined && preconditions.ifNoneMatch === undefined) throw err;
      const now = await store.head(key);
      if (now === undefined) return noSuchObject();
      const verdict = evaluateRead(preconditions, now.version);
      if (verdict !== 'proceed') return preconditionAnswer(verdict, now);
      // Past the end of the current version: of the version If-Range names too only if it is that one.
      if (noIfRange || ifRangeMatches(ifRange, now.version)) throw err;
      range = undefined;
      continue;
    }
    if (object === undefined) return noSuchObject();
    const verdict = evaluateRead(preconditions, object.version);
    if (verdict !== 'proceed') return preconditionAnswer(verdict, object);
    if (range !== undefined && ifRange !== undefined && !ifRangeMatches(ifRange, object.version)) {
      // Another version than the client holds part of: the whole object, read afresh.
      range = undefined;
      continue;
    }
    if ('url' in object) return redirectAnswer(object, ifRange, preconditions, object, headers['if-modified-since']);
    const length = object.range === undefined ? object.size : object.range.end - object.range.start + 1;
    // The headers declare `length` bytes: a blob of another size is never answered under them (a
    // short body would be taken for the whole object).
    if (object.body.byteLength !== length)
      throw new TierlogError(`the body read is ${object.body.byteLength} bytes, its item declares ${length}`);
    const body = Buffer.from(object.body.buffer, object.body.byteOffset, object.body.byteLength).toString('base64');
    if (object.range === undefined) return { statusCode: 200, headers: infoHeaders(object), body, isBase64Encoded: true };
    return {
      statusCode: 206,
      headers: { ...infoHeaders(object), 'content-length': String(length), 'content-range': contentRange(object.range) },
      body,
      isBase64Encoded: true,
    };
  }
}

/**
 * The answer to a GET that the presigned URL `signed` serves (its version's blob): 307, unless
 * a precondition says otherwise. `info` gives the validators a 304 or 412 carries, and the
 * object's expiry the 307 carries. `ifModifiedSince` is the request's `If-Modified-Since`: not
 * evaluated here, but it follows the redirect, and S3 evaluates it on its own date of the blob
 * (without an `If-None-Match`, which S3 never matches with a version), so it is refused (400).
 * @throws ValidationError naming If-Modified-Since
 */
function redirectAnswer(
  signed: { readonly url: string; readonly version: number },
  ifRange: string | undefined,
  preconditions: ReadPreconditions,
  info: Parameters<typeof preconditionAnswer>[1],
  ifModifiedSince?: string,
): Response {
  // The URL serves this version: the preconditions are judged on it, as on any read.
  const verdict = evaluateRead(preconditions, signed.version);
  if (verdict !== 'proceed') return preconditionAnswer(verdict, info);
  // Not evaluated here (a date cannot name a version), but S3 answers the URL 304 when its blob's
  // LastModified is not after the date: a version written in the second the client's copy names
  // (or a session's blob, dated by its upload's start) came as 304, the old copy kept as current.
  // With If-None-Match S3 ignores the date (that tag never matches S3's own ETag).
  if (ifModifiedSince !== undefined && preconditions.ifNoneMatch === undefined)
    throw new ValidationError(
      'If-Modified-Since is not evaluated here, and this object is answered by a redirect to S3, which would evaluate it on its own date (a 304 for a version the date cannot tell apart): send If-None-Match with the ETag, or no condition',
      'If-Modified-Since',
    );
  // The URL names the content type S3 answers it with (`response-content-type`), as a 200's header.
  assertHeaderFields({ key: info.key, contentType: info.contentType });
  // The client's Range follows the redirect, and S3 would answer it from this version's blob.
  if (ifRange !== undefined && !ifRangeMatches(ifRange, signed.version)) {
    // Only a tag of this API names a version. A download that followed a redirect holds S3's own
    // ETag, and resumes with it: told "the object is now version …", its client took an object
    // nobody wrote for replaced, whatever it retried.
    const why = VERSION_TAG.test(ifRange)
      ? `the object is now version ${signed.version}, not the one If-Range names`
      : `If-Range names no version of this object (the ETag S3 answers after a GET's redirect is its own, no version; a date or a weak tag is none either), and this object, version ${signed.version}, is answered by a redirect the Range would follow`;
    return {
      ...problem(412, 'PreconditionFailed', `${why}: request it again without Range`),
      headers: { 'content-type': 'application/json', etag: etagOf(signed.version) },
    };
  }
  // The object's expiry, as a 200 answers it: S3's answer to the URL carries none (for a time to
  // idle, the expiry this very read moved on).
  const expiry: Record<string, string> = info.expiresAt !== undefined ? { 'x-tierlog-expires-at': info.expiresAt.toISOString() } : {};
  return {
    statusCode: 307,
    headers: { location: signed.url, etag: etagOf(signed.version), 'cache-control': 'no-store', 'x-tierlog-stored': 'blob', ...expiry },
  };
}

// ---- upload sessions ---------------------------------------------------------------------------

async function sessionRequest(
  store: TieredStore,
  method: string,
  key: string,
  uploadId: string | null,
  query: URLSearchParams,
  event: APIGatewayProxyEventV2,
  headers: Record<string, string>,
  options: ObjectsApiOptions,
): Promise<Response> {
  if (uploadId === null) {
    if (method !== 'POST') return notAllowed(method, 'POST');
    // S3's CreateMultipartUpload takes `uploads` alone: another name (an expiry or a condition put
    // in the query) was ignored, the session opened and its object committed without it.
    const extra = [...query.keys()].find((name) => name !== 'uploads');
    if (extra !== undefined)
      throw new ValidationError(
        `a session's create takes ?uploads alone, not "${extra.slice(0, 40)}" (its fields go in the JSON body, its condition, expiry and metadata in headers)`,
        extra.slice(0, 40),
      );
    const encoded = contentCodingRefusal(headers);
    if (encoded !== undefined) return encoded;
    const fields = jsonBody(event, true);
    const digest = digestRefusal(headers, bytesOfBody(event));
    if (digest !== undefined) return digest;
    return createSession(store, key, fields, objectTypeOfSessionCreate(event, headers), headers, options);
  }
  // An abort ends the whole upload and a complete commits it: they name the session by `uploadId`
  // alone. Anything beside it is refused, not ignored: `DELETE ?uploadId=…&partNumber=2` reads as
  // "delete part 2" (no such request), and ignoring the part number would end every part.
  if (method === 'DELETE' || method === 'POST') {
    if (method === 'DELETE') refuseDeleteContent(event, 'abort');
    const extra = [...query.keys()].find((name) => name !== 'uploadId');
    if (extra !== undefined)
      throw new ValidationError(
        `a session's ${method === 'DELETE' ? 'abort' : 'complete'} takes uploadId alone, not "${extra.slice(0, 40)}"`,
        extra.slice(0, 40),
      );
    // Its condition, expiry and metadata were given at its create: here they would be ignored,
    // `If-None-Match: *` on a complete (S3 takes it there as "create only") would commit over an
    // object, and `x-amz-meta-*` there was answered 200 with the object committed without it.
    const ignored = Object.keys(headers).find(
      (name) =>
        ['if-match', 'if-none-match', 'if-unmodified-since'].includes(name) ||
        (name.startsWith('x-tierlog-') && name !== 'x-tierlog-stored') ||
        name.startsWith('x-amz-meta-'),
    );
    if (ignored !== undefined)
      throw new ValidationError(
        `a session's ${method === 'DELETE' ? 'abort' : 'complete'} takes no ${ignored.slice(0, 40)}: a session's condition, expiry and metadata are given at its create (POST ?uploads)`,
        ignored.slice(0, 40),
      );
    // S3's own request headers but SigV4's: `x-amz-checksum-sha256` on S3's complete asks it to
    // verify the whole object, and nothing here would (each part's ETag is what S3 checks).
    const unhonoured = s3RequestHeaderOf(headers);
    if (unhonoured !== undefined)
      throw new ValidationError(
        `a session's ${method === 'DELETE' ? 'abort' : 'complete'} takes no ${unhonoured.slice(0, 40)}: it is not honoured here (a complete checks each part's ETag with S3, no checksum)`,
        unhonoured.slice(0, 40),
      );
  }
  // HEAD is GET without the content (RFC 9110 §9.3.2), answered wherever GET is: a 405 naming
  // GET in its Allow told a client checking a session with HEAD that the route refuses it.
  if (method === 'GET' || method === 'HEAD') refuseUnhonouredSessionRead(query, headers);
  switch (method) {
    case 'GET':
    case 'HEAD': {
      const partNumber = query.get('partNumber');
      if (partNumber === null) {
        const parts = await store.listUploadParts(uploadId, { key });
        return unstored(json(200, { uploadId, key, parts }));
      }
      if (!/^[1-9][0-9]{0,4}$/.test(partNumber)) throw new ValidationError('partNumber must be an integer in 1..10000', 'partNumber');
      // Refused past the object's instant, as its create is: named by the header it was given with.
      const url = await namingExpiryHeader(store.uploadPartUrl(uploadId, Number(partNumber), { key }));
      return unstored(json(200, { uploadId, key, partNumber: Number(partNumber), url }));
    }
    case 'POST': {
      // Its JSON is read as sent: a gzip one was "not valid JSON", and the header on a plain one ignored.
      const encoded = contentCodingRefusal(headers);
      if (encoded !== undefined) return encoded;
      const body = jsonBody(event, false) as { parts?: unknown };
      const digest = digestRefusal(headers, bytesOfBody(event));
      if (digest !== undefined) return digest;
      if (!Array.isArray(body.parts))
        throw new ValidationError('body must be { "parts": [{ "partNumber": 1, "etag": "..." }, ...] }', 'parts');
      // Refused, not ignored, as the create refuses an unknown field: a condition, metadata or an
      // expiry here would be dropped from the object committed (they are given at the create).
      const other = Object.keys(body).find((name) => name !== 'parts');
      if (other !== undefined)
        throw new ValidationError(
          `a session's complete takes { "parts" } alone, not "${other.slice(0, 40)}": a session's condition, expiry and metadata are given at its create (POST ?uploads)`,
          other.slice(0, 40),
        );
      // Refused for the object's expiry (its instant passed, its time to live ran out before the
      // commit), as its create and a PUT are: named by the header it was given with.
      // Stopped at the deadline, or its commit's outcome unknown: what the client learns by retrying
      // the complete, never by reading the object (another writer's version reads the same).
      const result = await namingExpiryHeader(store.completeUpload(uploadId, body.parts as never, { key })).catch((err: unknown) => {
        if (err instanceof InvocationEndedError) return COMPLETE_NOT_FINISHED;
        if (err instanceof CommitOutcomeUnknownError) return COMPLETE_OUTCOME_UNKNOWN;
        throw err;
      });
      if (typeof result === 'string')
        return { ...problem(503, 'Retry', result), headers: { 'retry-after': '1', 'content-type': 'application/json' } };
      return {
        statusCode: result.created ? 201 : 200,
        headers: { etag: etagOf(result.version), 'x-tierlog-stored': result.stored, 'content-type': 'application/json' },
        body: JSON.stringify(result),
      };
    }
    case 'DELETE':
      await store.abortUpload(uploadId, { key });
      return { statusCode: 204 };
    default:
      return notAllowed(method, 'GET, HEAD, POST, DELETE');
  }
}

/** The conditions of a GET (RFC 9110 §13.1): none is evaluated on a session's list of parts or part URL. */
const READ_CONDITIONS: ReadonlySet<string> = new Set(['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']);

/**
 * Refuses (400) what a session's list of parts (`GET ?uploadId=…`) or part URL (`…&partNumber=n`)
 * would ignore: a query name beside `uploadId` and `partNumber` (S3's ListParts paging,
 * `max-parts` and `part-number-marker`: every part was answered, so a client paging from a marker
 * took the parts it held for the next ones), a condition (answered 200 unevaluated: a precondition
 * is never ignored), and S3's request headers but SigV4's (SSE-C for a part, which its URL is
 * signed without; a request payer).
 * @throws ValidationError naming the first
 */
function refuseUnhonouredSessionRead(query: URLSearchParams, headers: Record<string, string>): void {
  const route = query.has('partNumber') ? "a session's part URL" : "a session's list of parts";
  const extra = [...query.keys()].find((name) => name !== 'uploadId' && name !== 'partNumber');
  if (extra !== undefined)
    throw new ValidationError(
      `${route} takes uploadId and partNumber alone, not "${extra.slice(0, 40)}" (the list answers every part, unpaged)`,
      extra.slice(0, 40),
    );
  const unhonoured = Object.keys(headers).find((name) => READ_CONDITIONS.has(name)) ?? s3RequestHeaderOf(headers);
  if (unhonoured !== undefined)
    throw new ValidationError(`${route} takes no ${unhonoured.slice(0, 60)}: it is not evaluated here`, unhonoured.slice(0, 60));
}

/**
 * The object's content type a session's create states in its `Content-Type` header, as S3's
 * CreateMultipartUpload takes it: when the request has no body (a JSON body is what the header
 * describes otherwise) and the header is not JSON's own type (a JSON client's default).
 */
function objectTypeOfSessionCreate(event: APIGatewayProxyEventV2, headers: Record<string, string>): string | undefined {
  const type = headers['content-type'];
  if (type === undefined || !blankBody(event) || /^application\/json\s*(;|$)/i.test(type)) return undefined;
  return type;
}

/**
 * The request has no body, or a blank one (white space): what {@link jsonBody} reads as no fields.
 * A blank body taken for one, the create's `Content-Type` was taken for the body's and the
 * object's type dropped.
 */
function blankBody(event: APIGatewayProxyEventV2): boolean {
  const raw = event.body ?? '';
  return (event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw).trim() === '';
}

async function createSession(
  store: TieredStore,
  key: string,
  raw: unknown,
  headerContentType: string | undefined,
  headers: Record<string, string>,
  options: ObjectsApiOptions,
): Promise<Response> {
  refuseS3Headers(headers, "a session's commit");
  refuseUnstoredHeaders(headers, "a session's commit");
  const body = raw as Record<string, unknown>;
  const allowed = new Set(['size', 'partSize', 'contentType', 'metadata', 'expiresInMs']);
  for (const name of Object.keys(body)) if (!allowed.has(name)) throw new ValidationError(`unknown field "${name.slice(0, 50)}"`, name);
  const numberField = (name: string) => {
    const v = body[name];
    if (v !== undefined && typeof v !== 'number') throw new ValidationError(`${name} must be a number`, name);
    return v as number | undefined;
  };
  if (body.contentType !== undefined && typeof body.contentType !== 'string')
    throw new ValidationError('contentType must be a string', 'contentType');
  const contentType = (body.contentType as string | undefined) ?? headerContentType;
  if (body.metadata !== undefined && (typeof body.metadata !== 'object' || body.metadata === null || Array.isArray(body.metadata))) {
    throw new ValidationError('metadata must be an object of strings', 'metadata');
  }
  // Metadata as headers (as S3's CreateMultipartUpload and a PUT take it) or in the body, not both: never dropped.
  const headerMetadata = metadataOf(headers);
  if (Object.keys(headerMetadata).length > 0 && body.metadata !== undefined)
    throw new ValidationError('metadata goes in x-amz-meta-* headers or in the body, not both', 'metadata');
  const metadata = body.metadata ?? (Object.keys(headerMetadata).length > 0 ? headerMetadata : undefined);
  const ifVersion = conditionOf(headers);
  const size = numberField('size');
  const partSize = numberField('partSize');
  const expiresInMs = numberField('expiresInMs');
  const created = await namingExpiryHeader(
    store.createUpload(key, {
      ...(size !== undefined ? { size } : {}),
      ...(partSize !== undefined ? { partSize } : {}),
      ...(expiresInMs !== undefined ? { expiresInMs } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
      ...(metadata !== undefined ? { metadata: metadata as Record<string, string> } : {}),
      ...(ifVersion !== undefined ? { ifVersion } : {}),
      ...expiryOf(headers),
    }),
  );
  const count = Math.min(created.partCount ?? 0, options.maxPartUrls ?? 1_000);
  // The URLs live as long as the session (or the signer's temporary credentials, if they expire
  // first: a client refused asks again with `GET ?uploadId=…&partNumber=n`). One read of the session signs them all.
  // The longest a URL may live, which the store bounds by what is left of the session on its own
  // clock: `expiresAt` is on that clock, and taken from this host's (`Date.now()`) the URLs were
  // shorter than the session by as much as the store's clock is behind, a second once that passed it.
  const expiresInMsOfUrls = MAX_PRESIGN_SECONDS * 1_000;
  const partNumbers = Array.from({ length: count }, (_, i) => i + 1);
  const urls =
    count > 0 ? await namingExpiryHeader(signedOrNone(store, created.uploadId, partNumbers, key, expiresInMsOfUrls, options)) : [];
  const parts = fitting(
    created,
    urls.map((url, i) => ({ partNumber: partNumbers[i]!, url })),
  );
  return unstored(json(201, { ...created, ...(created.partCount !== undefined ? { parts } : {}) }));
}

/**
 * The part URLs of a session just created, or none when signing them fails (the signer's
 * temporary credentials about to end, a session aborted meanwhile): the session exists by then,
 * and a 500 would lose the client its id (the session and its upload would wait a day for the
 * sweeper). Its create answers it without part URLs, as it answers fewer past `maxPartUrls`; the
 * client asks for them with `GET ?uploadId=…&partNumber=n`, which answers the failure if it lasts.
 * The error goes to `onError`. But when the client's own instants ended the session meanwhile (the
 * object's `expiresAt` passed, or came under a second away, or the session's `expiresInMs` ran out,
 * during a create slowed by retries), no part can ever be sent nor completed: the session is
 * aborted (what that fails to do is left to the sweeper, a fault told to `onError`) and the refusal
 * answered, a 4xx, not logged; a session gone already (a sweeper drained it) is answered expired.
 */
async function signedOrNone(
  store: TieredStore,
  uploadId: string,
  partNumbers: readonly number[],
  key: string,
  expiresInMs: number,
  options: ObjectsApiOptions,
): Promise<string[]> {
  try {
    return await store.uploadPartUrls(uploadId, partNumbers, { key, expiresInMs });
  } catch (err) {
    // Gone already: no one holds its id yet, so what ended it is a sweeper that took it once its
    // lease had run out (a create slowed past it). That is the session's expiry, told as such.
    if (err instanceof UploadSessionNotFoundError) throw new UploadSessionClosedError(uploadId, 'expired');
    if (err instanceof ValidationError || err instanceof UploadSessionClosedError) {
      await store.abortUpload(uploadId, { key }).catch((abortErr: unknown) => {
        if (!(abortErr instanceof UploadSessionClosedError || abortErr instanceof UploadSessionNotFoundError))
          tell(options.onError, abortErr);
      });
      throw err;
    }
    tell(options.onError, err);
    return [];
  }
}

/**
 * The first of `parts` that fit a buffered Lambda response beside `created`. A part URL takes 1 to
 * 4 KB (the blob key, S3's upload id, a session token), so 1,000 of them may take 4 MB and the
 * 10,000 `maxPartUrls` allows 40: Lambda fails an answer past its 6 MB payload, the client gets a
 * 502 without its session id, and the session and its multipart upload stay until the sweeper takes
 * them a day later. Cut here, the client asks for the rest with `GET ?uploadId=…&partNumber=n`, as
 * for parts past `maxPartUrls`. Counted as the runtime sends it: the body is a string in the
 * response's JSON, so each quote in it takes a byte more.
 */
function fitting<T>(created: object, parts: readonly T[]): T[] {
  const escaped = (value: unknown) => Buffer.byteLength(JSON.stringify(JSON.stringify(value)), 'utf8');
  let total = escaped({ ...created, parts: [] });
  let n = 0;
  for (const part of parts) {
    total += escaped(part) - 2 + 1; // without the string's own quotes, with a comma
    if (total > MAX_BUFFERED_RESPONSE_PAYLOAD) break;
    n++;
  }
  return parts.slice(0, n);
}

/** The JSON object in the request body (`{}` when empty and allowed). */
function jsonBody(event: APIGatewayProxyEventV2, emptyAllowed: boolean): Record<string, unknown> {
  const raw = event.body ?? '';
  const tooLarge = () => new BodyTooLargeError(`body exceeds ${MAX_JSON_BODY} bytes`);
  // Base64 takes 4/3 of the bytes: what cannot fit is refused before it is decoded.
  if (raw.length > (event.isBase64Encoded ? Math.ceil(MAX_JSON_BODY / 3) * 4 : MAX_JSON_BODY)) throw tooLarge();
  const text = event.isBase64Encoded ? base64Body(raw).toString('utf8') : raw;
  if (Buffer.byteLength(text, 'utf8') > MAX_JSON_BODY) throw tooLarge();
  if (text.trim() === '' && emptyAllowed) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError('body is not valid JSON', 'body');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError('body must be a JSON object', 'body');
  return value as Record<string, unknown>;
}

async function putObject(
  store: TieredStore,
  key: string,
  event: APIGatewayProxyEventV2,
  headers: Record<string, string>,
  maxBodyBytes: number,
): Promise<Response> {
  // A PUT replaces the whole object. Content-Range asks for a partial update (RFC 9110 14.5: a
  // server without them MUST answer 400): stored as the whole object, the part would lose the rest.
  if (headers['content-range'] !== undefined)
    return problem(400, 'BadRequest', 'a PUT replaces the whole object: Content-Range (a partial update) is not supported');
  refuseS3Headers(headers, 'a PUT');
  refuseUnstoredHeaders(headers, 'a PUT');
  const encoded = contentCodingRefusal(headers);
  if (encoded !== undefined) return encoded;
  const raw = event.body ?? '';
  // Reject before decoding: base64 is 4/3 of the bytes it carries.
  const approx = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw, 'utf8');
  if (approx > maxBodyBytes + 3) return problem(413, 'BodyTooLarge', `body exceeds ${maxBodyBytes} bytes`);
  const body = event.isBase64Encoded ? base64Body(raw) : Buffer.from(raw, 'utf8');
  if (body.byteLength > maxBodyBytes) return problem(413, 'BodyTooLarge', `body exceeds ${maxBodyBytes} bytes`);
  const digest = digestRefusal(headers, body);
  if (digest !== undefined) return digest;

  const ifVersion = conditionOf(headers);
  const metadata = metadataOf(headers);
  const options: PutOptions = {
    ...(headers['content-type'] !== undefined ? { contentType: headers['content-type'] } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(ifVersion !== undefined ? { ifVersion } : {}),
    ...expiryOf(headers),
  };
  const result = await namingExpiryHeader(store.put(key, body, options));
  return {
    statusCode: result.created ? 201 : 200,
    headers: { etag: etagOf(result.version), 'x-tierlog-stored': result.stored, 'content-type': 'application/json' },
    body: JSON.stringify(result),
  };
}

/**
 * The 415 of a write whose `Content-Encoding` is not `identity` (RFC 9110 15.5.16), or undefined.
 * The bytes are stored and answered as sent, with no Content-Encoding: a gzip body, or a session's
 * gzip parts (S3's CreateMultipartUpload takes the header as the object's coding), would come back
 * as gzip bytes labelled as the object itself. A session's complete reads its JSON as sent: a gzip
 * one was no JSON to it, and the header on a plain one ignored. Refused, not ignored.
 */
function contentCodingRefusal(headers: Record<string, string>): Response | undefined {
  const coding = (headers['content-encoding'] ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity') return undefined;
  return {
    ...problem(415, 'UnsupportedMediaType', 'Content-Encoding is not supported: send the bytes to store, unencoded'),
    headers: { 'content-type': 'application/json', 'accept-encoding': 'identity' },
  };
}

/** S3's subresources of an object (tags, ACL, attributes, retention, legal hold, torrent): none is served here. */
const S3_SUBRESOURCES: ReadonlySet<string> = new Set(['tagging', 'acl', 'attributes', 'retention', 'legal-hold', 'torrent']);

/**
 * The `x-amz-*` request headers of the way a request came, not of what it asks: SigV4's (a
 * Function URL with IAM auth) and CloudFront's request id (`x-amz-cf-id`, on every request a
 * distribution forwards to its origin: the way to a custom domain in front of a Function URL).
 * Taken on every request, whatever it is.
 */
const SIGV4_HEADERS: ReadonlySet<string> = new Set([
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
  'x-amz-user-agent',
  'x-amz-cf-id',
]);

/** The first of S3's request headers (`x-amz-*`) in `headers` but SigV4's and CloudFront's, or undefined. */
function s3RequestHeaderOf(headers: Record<string, string>): string | undefined {
  return Object.keys(headers).find((name) => name.startsWith('x-amz-') && !SIGV4_HEADERS.has(name));
}

/**
 * S3 request headers a write takes, and the values taken: user metadata, SigV4's (a Function URL
 * with IAM auth; a payload hash is a hex SHA-256, verified on a PUT, or `UNSIGNED-PAYLOAD`: a
 * `STREAMING-*` one says the body is aws-chunked, signatures inside, which would be stored as the
 * object), CloudFront's request id (`x-amz-cf-id`, on every request a distribution forwards), and
 * two that ask for what every object here is anyway. `null`: any value.
 */
const S3_HEADERS_TAKEN: ReadonlyMap<string, { readonly pattern: RegExp; readonly shown: string } | null> = new Map([
  ['x-amz-date', null],
  ['x-amz-cf-id', null],
  ['x-amz-content-sha256', { pattern: /^(?:[0-9a-f]{64}|UNSIGNED-PAYLOAD)$/i, shown: 'a hex SHA-256 or UNSIGNED-PAYLOAD' }],
  ['x-amz-security-token', null],
  ['x-amz-user-agent', null],
  ['x-amz-acl', { pattern: /^private$/, shown: 'private' }],
  ['x-amz-storage-class', { pattern: /^STANDARD$/, shown: 'STANDARD' }],
]);

/**
 * Refuses (400) an S3 request header of a write (`x-amz-*`) that is not taken here: each asks S3's
 * PutObject or CreateMultipartUpload for something this API does not do, and the object would be
 * stored without it: a copy (`x-amz-copy-source`, the object replaced by the empty body), an
 * append, a checksum to verify (unchecked), an object lock or legal hold (a retention promise not
 * kept), encryption with the client's key (stored without it), tags (no lifecycle rule would see
 * them), another storage class or ACL, a streamed (aws-chunked) body. 400, not S3's 501
 * NotImplemented: a client's request is no server error (nor an alarm). `x-amz-meta-*` is user
 * metadata, taken.
 */
function refuseS3Headers(headers: Record<string, string>, write: string): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-') || name.startsWith('x-amz-meta-')) continue;
    const taken = S3_HEADERS_TAKEN.get(name);
    if (taken === null || taken?.pattern.test(value.trim()) === true) continue;
    throw new ValidationError(
      `${name.slice(0, 60)}${taken !== undefined ? ` other than ${taken.shown}` : ''} is not supported: ${write} stores its body as the whole object, as sent, with x-amz-meta-* (integrity: Content-MD5)`,
      name.slice(0, 60),
    );
  }
}

/**
 * Refuses (400) a DELETE (an object's, or a session's abort) that carries content, which has
 * no meaning here (RFC 9110 §9.3.5): ignored, a condition put there as the library takes it
 * (`{ "ifVersion": 3 }`) deleted the object whatever its version, and a session named there (an
 * abort meant) deleted the object and left the session open. An empty body is none. The way out
 * is the request's own: an abort takes no If-Match (400), which an object's DELETE does.
 * @throws ValidationError naming the body
 */
function refuseDeleteContent(event: APIGatewayProxyEventV2, what: 'delete' | 'abort'): void {
  if ((event.body ?? '') === '') return;
  throw new ValidationError(
    what === 'delete'
      ? 'a DELETE takes no content, and nothing was deleted: its condition is If-Match (or If-None-Match: *), a session is aborted by DELETE ?uploadId=…'
      : "a session's abort takes no content, and nothing was aborted: it names its session by uploadId alone, and takes no condition (a session's is given at its create)",
    'body',
  );
}

/**
 * Refuses (400) a DELETE's header that asks for what it does not do: S3's own conditions of a
 * DeleteObject (`x-amz-if-match-size`, `x-amz-if-match-last-modified-time`) and checks (`x-amz-mfa`,
 * `x-amz-expected-bucket-owner`), any `x-amz-*` but SigV4's, and an expiry (`x-tierlog-*` but an
 * answer's `x-tierlog-stored`), as if the delete could wait for it. Ignored, each deleted the
 * object at once, 204, whatever it said; a precondition is never ignored. An abort refuses the same.
 */
function refuseUnhonouredDeleteHeaders(headers: Record<string, string>): void {
  const unhonoured =
    s3RequestHeaderOf(headers) ?? Object.keys(headers).find((name) => name.startsWith('x-tierlog-') && name !== 'x-tierlog-stored');
  if (unhonoured !== undefined)
    throw new ValidationError(
      `a DELETE takes no ${unhonoured.slice(0, 60)}: it is not evaluated here, and the object would be deleted now (a condition: If-Match)`,
      unhonoured.slice(0, 60),
    );
}

/**
 * The headers S3's PutObject and CreateMultipartUpload store with an object and answer on its
 * reads, which the API neither stores nor answers (`Content-Type` and `x-amz-meta-*` it does).
 */
const UNSTORED_HEADERS: ReadonlySet<string> = new Set(['content-disposition', 'content-language', 'expires', 'cache-control']);
/** A request's own `Cache-Control` (what `fetch` adds in a `cache` mode): what every answer says already (no-cache). */
const REQUEST_CACHE_CONTROL = /^\s*(?:no-cache|max-age=0)\s*(?:,\s*(?:no-cache|max-age=0)\s*)*$/i;

/**
 * Refuses (400) a write's header of the object that it would not store: taken, the write was
 * answered 201 and the object's reads came without it (a download meant as an attachment opened
 * inline, an `Expires` meant as an expiry never expired). `Cache-Control: no-cache` or
 * `max-age=0`, a request's directives and what every answer carries, is taken.
 */
function refuseUnstoredHeaders(headers: Record<string, string>, write: string): void {
  const name = Object.keys(headers).find(
    (header) => UNSTORED_HEADERS.has(header) && !(header === 'cache-control' && REQUEST_CACHE_CONTROL.test(headers[header]!)),
  );
  if (name === undefined) return;
  throw new ValidationError(
    `${name} is not stored here, so ${write} would drop it: an object is answered with its Content-Type and x-amz-meta-* only${name === 'expires' ? ' (an expiry is x-tierlog-expires-at)' : ''}`,
    name,
  );
}

/**
 * The user metadata of the `x-amz-meta-*` request headers (names lower-case), each an own property:
 * assigned, `x-amz-meta-__proto__` set the object's prototype instead, and the entry was dropped
 * (201 without it) where every other name the store refuses is a 400.
 */
function metadataOf(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers)
      .filter(([name]) => name.startsWith('x-amz-meta-'))
      .map(([name, value]) => [name.slice('x-amz-meta-'.length), value]),
  );
}

/**
 * The 400 of a request whose body its `Content-Length`, its `Content-MD5`, or its SigV4 payload
 * hash in hex (`x-amz-content-sha256`), does not match; undefined when it has none or they match.
 * An integrity check the client asked for is made, never skipped (S3 answers BadDigest and
 * XAmzContentSHA256Mismatch too): on a PUT, and on a session's create and complete, whose JSON a
 * client that hashed other bytes than it sent would have taken as sent. The length tells a body
 * that did not arrive as sent: Lambda passes a text one (`text/*`, JSON, XML) decoded as UTF-8,
 * so bytes that are not UTF-8 (a Latin-1 `é`) arrive as U+FFFD, three bytes in their place.
 */
function digestRefusal(headers: Record<string, string>, body: Uint8Array): Response | undefined {
  const length = headers['content-length'];
  if (length !== undefined && length.trim() !== String(body.byteLength))
    return problem(
      400,
      'BadRequest',
      `Content-Length is ${length.trim().slice(0, 20)}, the body arrived as ${body.byteLength} bytes: nothing was written (a body that is not UTF-8 goes with a binary Content-Type, e.g. application/octet-stream)`,
    );
  const md5 = headers['content-md5'];
  if (md5 !== undefined && md5.trim() !== createHash('md5').update(body).digest('base64'))
    return problem(400, 'BadDigest', 'Content-MD5 is not the base64 MD5 of the body: nothing was written');
  // A hex hash is checked as S3 checks it; UNSIGNED-PAYLOAD asks for nothing (a PUT takes no other value: refuseS3Headers).
  const sha256 = headers['x-amz-content-sha256']?.trim().toLowerCase();
  if (sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256) && sha256 !== createHash('sha256').update(body).digest('hex'))
    return problem(400, 'XAmzContentSHA256Mismatch', 'x-amz-content-sha256 is not the SHA-256 of the body: nothing was written');
  return undefined;
}

/** The bytes of the request's body (a JSON body's; its size was checked when it was parsed). */
function bytesOfBody(event: APIGatewayProxyEventV2): Buffer {
  const raw = event.body ?? '';
  return event.isBase64Encoded ? base64Body(raw) : Buffer.from(raw, 'utf8');
}

/** A body Lambda says is base64, decoded; anything else than padded base64 is refused (Node would skip it silently). */
function base64Body(raw: string): Buffer {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) throw new ValidationError('body is not valid base64', 'body');
  return Buffer.from(raw, 'base64');
}

/**
 * A write's preconditions, `If-Match: "<version>"` or `If-None-Match: *`, as an ifVersion (0: only
 * if absent). None is ignored: a weak tag in `If-Match` never matches (§13.1.1 compares strongly:
 * 412), and `If-Unmodified-Since` without `If-Match` is refused (400), as on a read.
 */
function conditionOf(headers: Record<string, string>): number | undefined {
  const { ifVersion, weakIfMatch } = writeConditionOf(headers);
  if (weakIfMatch) throw new WeakIfMatchError();
  return ifVersion;
}

/**
 * The preconditions of a well-formed write request (`write`: a DELETE, or a write of the object,
 * a PUT's or a session's create): the version `If-Match` names or 0 for `If-None-Match: *`
 * (undefined: none), and whether `If-Match` named a weak tag (which never matches, so its version
 * is not given). Malformed ones are refused (400).
 */
function writeConditionOf(
  headers: Record<string, string>,
  write: 'put' | 'delete' = 'put',
): { readonly ifVersion: number | undefined; readonly weakIfMatch: boolean } {
  refuseDateOnlyCondition(headers);
  const ifMatch = ifMatchOf(headers, write);
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new ValidationError('If-None-Match supports only "*"', 'If-None-Match');
  }
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new ValidationError('If-Match and If-None-Match cannot be combined', 'If-Match');
  }
  if (ifMatch?.weak === true) return { ifVersion: undefined, weakIfMatch: true };
  return { ifVersion: ifMatch?.version ?? (ifNoneMatch !== undefined ? 0 : undefined), weakIfMatch: false };
}

/** The request headers of a write in tierlog's namespace (`x-tierlog-stored`, a response header, means nothing on a request). */
const WRITE_HEADERS = new Set(['x-tierlog-expires-at', 'x-tierlog-ttl', 'x-tierlog-tti', 'x-tierlog-stored']);

/** The expiry headers of a write, and the option of the store each one gives. */
const EXPIRY_HEADERS = ['x-tierlog-expires-at', 'x-tierlog-ttl', 'x-tierlog-tti'] as const;
const EXPIRY_HEADER_OF: Readonly<Record<string, string>> = {
  expiresAt: 'x-tierlog-expires-at',
  timeToLiveMs: 'x-tierlog-ttl',
  timeToIdleMs: 'x-tierlog-tti',
};

/**
 * `write` (a PUT's; a session's create, part URL or complete), its store's refusal of the expiry the
 * headers gave (`expiresAt must be in the future`, `... more than 100 years away`, passed before
 * the write could commit it) naming the header sent, not only the store's option: the client sent
 * no `expiresAt`.
 */
async function namingExpiryHeader<T>(write: Promise<T>): Promise<T> {
  try {
    return await write;
  } catch (err) {
    const header = err instanceof ValidationError ? EXPIRY_HEADER_OF[err.field] : undefined;
    if (header === undefined || !(err instanceof ValidationError)) throw err;
    throw new ValidationError(`${header}: ${err.message}`, header);
  }
}

/**
 * The expiry policy of the request headers (at most one: more is 400 naming them). Another
 * `x-tierlog-*` header is 400: a misspelt expiry (`x-tierlog-expires`) would write an object that
 * never expires, and the answer would not say so.
 */
function expiryOf(headers: Record<string, string>): Pick<PutOptions, 'expiresAt' | 'timeToLiveMs' | 'timeToIdleMs'> {
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-tierlog-') && !WRITE_HEADERS.has(name))
      throw new ValidationError(
        `unknown header ${name.slice(0, 60)} (a write takes x-tierlog-expires-at, x-tierlog-ttl or x-tierlog-tti)`,
        name,
      );
  }
  // Refused here, in the header's terms: the store names its options (`timeToLiveMs`) and their
  // unit (milliseconds), and a client that followed that sent milliseconds to a header of seconds.
  const sent = EXPIRY_HEADERS.filter((name) => headers[name] !== undefined);
  if (sent.length > 1)
    throw new ValidationError(`only one of ${EXPIRY_HEADERS.join(', ')} may be given (got ${sent.join(', ')})`, sent[1]!);
  const seconds = (name: string): number | undefined => {
    const value = headers[name];
    if (value === undefined) return undefined;
    // Any number of digits: past 12 it is past 100 years, said so (milliseconds since the epoch
    // sent for seconds were told they were no whole number, which they are).
    if (!/^\d+$/.test(value.trim()) || Number(value.trim()) === 0)
      throw new ValidationError(`${name} must be a whole number of seconds, at least 1`, name);
    if (Number(value.trim()) * 1000 > MAX_EXPIRY_MS)
      throw new ValidationError(`${name} is more than 100 years (${MAX_EXPIRY_MS / 1000} seconds)`, name);
    return Number(value.trim()) * 1000;
  };
  const at = headers['x-tierlog-expires-at'];
  const expiresAt = at === undefined ? undefined : instantOf(at.trim());
  if (expiresAt !== undefined && Number.isNaN(expiresAt.getTime())) {
    throw new ValidationError('x-tierlog-expires-at must be an ISO 8601 or HTTP date', 'x-tierlog-expires-at');
  }
  const ttl = seconds('x-tierlog-ttl');
  const tti = seconds('x-tierlog-tti');
  return {
    ...(expiresAt !== undefined ? { expiresAt } : {}),
    ...(ttl !== undefined ? { timeToLiveMs: ttl } : {}),
    ...(tti !== undefined ? { timeToIdleMs: tti } : {}),
  };
}

/**
 * ISO 8601 (`2030-01-01`, midnight UTC; `2030-01-01T12:00:00Z` or with an offset) or an HTTP date
 * (IMF-fixdate, RFC 850, asctime: all three GMT, RFC 9110 5.6.7); anything else is an invalid
 * date. Read field by field, not by `Date`: `Date` would take a bare number for a year (`3600`:
 * the year 3600), free forms (`1/2/2030`) by the host's conventions, a time of day without a
 * zone (and so an asctime date) in the host's time zone (one header, another instant on a
 * developer's machine than on Lambda), a day the month lacks as the next month's (`31 Apr`: 1
 * May), a leap second as the start of its minute (59 s early), and an RFC 850 year `50`..`99` as
 * 19xx where RFC 9110 reads the nearest year not more than 50 years ahead. A fraction of a
 * millisecond rounds up: an object never expires before the instant asked for.
 */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|([+-])(\d{2}):(\d{2})))?$/i;
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) ([A-Z][a-z]{2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const RFC_850 = /^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\d{2})-([A-Z][a-z]{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) GMT$/;
const ASCTIME = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ([ \d]\d) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The instant an `x-tierlog-expires-at` value names (see above), or an invalid date. `now` places
 * an RFC 850 two-digit year: the nearest year ending so that is not more than 50 years ahead.
 */
export function instantOf(text: string, now: number = Date.now()): Date {
  const invalid = new Date(Number.NaN);
  const n = (digits: string | undefined) => (digits === undefined ? 0 : Number(digits));
  let m = ISO_DATE.exec(text);
  if (m !== null) {
    const ms = m[7] === undefined ? 0 : Math.ceil(Number(`0.${m[7]}`) * 1000);
    const offset = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (n(m[9]) * 60 + n(m[10]));
    if (n(m[9]) > 23 || n(m[10]) > 59 || n(m[6]) > 59) return invalid;
    return utcOf(n(m[1]), n(m[2]), n(m[3]), n(m[4]), n(m[5]), n(m[6]), ms, offset) ?? invalid;
  }
  m = IMF_FIXDATE.exec(text);
  if (m !== null) return utcOf(n(m[3]), monthOf(m[2]!), n(m[1]), n(m[4]), n(m[5]), n(m[6])) ?? invalid;
  m = RFC_850.exec(text);
  if (m !== null) {
    // RFC 9110: a two-digit year more than 50 years ahead is the latest past year ending so; the
    // nearest one not more than 50 years ahead may be in the next century (from 2050 on).
    const latest = new Date(now).getUTCFullYear() + 50;
    const year = latest - ((latest - n(m[3])) % 100);
    return utcOf(year, monthOf(m[2]!), n(m[1]), n(m[4]), n(m[5]), n(m[6])) ?? invalid;
  }
  m = ASCTIME.exec(text);
  if (m !== null) return utcOf(n(m[6]), monthOf(m[1]!), Number(m[2]!.trim()), n(m[3]), n(m[4]), n(m[5])) ?? invalid;
  return invalid;
}

function monthOf(name: string): number {
  return MONTHS.indexOf(name) + 1;
}

/**
 * The instant of these UTC fields (minus `offsetMinutes`), or undefined when a field is out of its
 * range (a day the month lacks, hour 24). A second of 60 (a leap second) counts as the next
 * minute's first: not before the instant meant.
 */
function utcOf(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms = 0,
  offsetMinutes = 0,
): Date | undefined {
  const date = new Date(0);
  date.setUTCFullYear(year, month, 0); // the last day of `month`
  if (month < 1 || month > 12 || day < 1 || day > date.getUTCDate() || hour > 23 || minute > 59 || second > 60) return undefined;
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, ms);
  return date;
}

/**
 * A write's `If-Match` (`write`: a DELETE, or a write of the object): the version it names, and
 * whether its tag is weak (which never matches).
 */
function ifMatchOf(
  headers: Record<string, string>,
  write: 'put' | 'delete',
): { readonly version: number; readonly weak: boolean } | undefined {
  const value = headers['if-match'];
  if (value === undefined) return undefined;
  // RFC 9110's "only if the object exists", which a write here cannot ask: refused as such. It was
  // told it was an ETag S3 answered after a redirect, and to take a version from a 307 or a HEAD.
  // A DELETE's way out is not a PUT's: `If-None-Match: *` there ("only if absent") refuses to
  // delete the object, 412 whatever its version, and a DELETE has no version to replace.
  if (value.trim() === '*')
    throw new ValidationError(
      write === 'delete'
        ? 'If-Match: * (delete only if the object exists) is not evaluated on a DELETE here: send the ETag of the version to delete, e.g. "3", or no condition (a DELETE of an absent object is 404)'
        : 'If-Match: * (write only if the object exists) is not evaluated on a write here: send the ETag of the version to replace, e.g. "3", or If-None-Match: * to create only',
      'If-Match',
    );
  const match = ETAG.exec(value);
  const version = match === null ? Number.NaN : Number(match[1]);
  // A tag S3 answered (a client that followed a GET's 307 is given S3's own ETag, an MD5) is the
  // likeliest other one: the refusal says where a version is found.
  if (!Number.isSafeInteger(version))
    throw new ValidationError(
      "If-Match must be one quoted version, e.g. \"3\", an ETag of this API (the ETag S3 answers after a GET's redirect is its own, no version: take the 307's or a HEAD's)",
      'If-Match',
    );
  return { version, weak: value.trim().startsWith('W/') };
}

function infoHeaders(info: ObjectInfo): Record<string, string> {
  assertHeaderFields(info);
  const headers: Record<string, string> = {
    etag: etagOf(info.version),
    'content-length': String(info.size),
    'content-type': info.contentType ?? DEFAULT_CONTENT_TYPE,
    'x-tierlog-stored': info.stored,
    'accept-ranges': 'bytes',
    // Revalidated before reuse: with Last-Modified alone a cache may reuse the answer for a tenth
    // of its age (RFC 9111 4.2.2), after the object was replaced (or, for a time to idle, expired).
    'cache-control': 'no-cache',
    // The content type is the writer's choice: a body stored as text/html or SVG, opened by a
    // browser from this API's origin, would run its scripts with that origin's cookies and
    // storage. A sandbox with no sources runs none (an image or a PDF still shows); nosniff keeps
    // a browser from taking another type than the one given. Clients that are not browsers
    // ignore both. (A 307 sends the reader to S3's origin, not this one.)
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
  };
  const modified = lastModifiedOf(info.updatedAt);
  if (modified !== undefined) headers['last-modified'] = modified;
  for (const [name, value] of Object.entries(info.metadata)) headers[`x-amz-meta-${name}`] = value;
  if (info.expiresAt !== undefined) headers['x-tierlog-expires-at'] = info.expiresAt.toISOString();
  return headers;
}

/** An HTTP field name (RFC 9110 §5.1: a token). */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * What no HTTP field value holds (RFC 9110 §5.5): a control character but a tab (CR, LF, NUL, DEL),
 * or a character past Latin-1, which is no byte of a header (Node's HTTP server refuses both alike).
 */
const NOT_IN_FIELD_VALUE = /[^\t\u0020-\u007e\u0080-\u00ff]/;

/**
 * Refuses an object whose item would give its answer a header HTTP cannot carry: a content type
 * or metadata value with a control character (a CR LF, a header of its own) or one past Latin-1, a metadata name
 * that is no token. No writer of the store makes one (`assertContentType`, `assertMetadata`);
 * another tool's item read under `TIERLOG_HV_ATTRIBUTES`, or one edited by hand, may. Answered,
 * the handler's 200 was a result Lambda refuses once the handler has returned it (a bodiless 502,
 * nothing in the function's log: it had answered 200), and the dev service's HTTP server threw.
 * @throws CorruptItemError naming the item and what is wrong (a 500, the error to `onError`)
 */
function assertHeaderFields(info: Pick<ObjectInfo, 'key' | 'contentType'> & Partial<Pick<ObjectInfo, 'metadata'>>): void {
  const where = `objects item "${info.key.slice(0, 200)}"`;
  if (info.contentType !== undefined && NOT_IN_FIELD_VALUE.test(info.contentType))
    throw new CorruptItemError('its content type holds a control character or one past Latin-1, which no HTTP header carries', where);
  for (const [name, value] of Object.entries(info.metadata ?? {})) {
    if (!FIELD_NAME.test(name))
      throw new CorruptItemError(`its metadata name ${JSON.stringify(name.slice(0, 64))} is no HTTP header name`, where);
    if (NOT_IN_FIELD_VALUE.test(value))
      throw new CorruptItemError(
        `its metadata "${name.slice(0, 64)}" holds a control character or one past Latin-1, which no HTTP header carries`,
        where,
      );
  }
}

/**
 * The `Last-Modified` of an object written at `updatedAt` (ms since the epoch), or undefined when
 * its item tells no such time: an item another tool wrote (an objects table of its own schema,
 * `TIERLOG_HV_ATTRIBUTES`) with no `updatedAt`, read as 0, or one that is not a number, read as
 * NaN, was answered `Thu, 01 Jan 1970 00:00:00 GMT` or `Invalid Date` (no HTTP date at all).
 */
function lastModifiedOf(updatedAt: number | undefined): string | undefined {
  if (updatedAt === undefined || !(updatedAt > 0)) return undefined;
  const date = new Date(updatedAt);
  return Number.isFinite(date.getTime()) ? date.toUTCString() : undefined;
}

/**
 * The answer of a read whose preconditions did not let it proceed: 304 (If-None-Match matched)
 * with the validators a 200 would carry (RFC 9110 §15.4.5), or 412 (If-Match did not) with the
 * current ETag, so the client knows what it would get. The 304 also carries the `Content-Type` a
 * 200 would: a cache takes a 304's header fields into the answer it stored (RFC 9111 §4.3.4), and
 * a Function URL answers a result without one as `application/json`, which relabelled the object.
 */
function preconditionAnswer(
  verdict: 'not-modified' | 'failed',
  info: Pick<ObjectInfo, 'key' | 'version' | 'contentType'> & Partial<Pick<ObjectInfo, 'updatedAt' | 'expiresAt'>>,
): Response {
  const validators: Record<string, string> = { etag: etagOf(info.version) };
  const modified = lastModifiedOf(info.updatedAt);
  if (modified !== undefined) validators['last-modified'] = modified;
  if (info.expiresAt !== undefined) validators['x-tierlog-expires-at'] = info.expiresAt.toISOString();
  if (verdict === 'not-modified') {
    assertHeaderFields({ key: info.key, contentType: info.contentType });
    const type = info.contentType ?? DEFAULT_CONTENT_TYPE;
    return { statusCode: 304, headers: { ...validators, 'content-type': type, 'cache-control': 'no-cache' } };
  }
  const failed = problem(412, 'PreconditionFailed', `the object is version ${info.version}, which If-Match does not name`);
  return { ...failed, headers: { ...failed.headers, ...validators } };
}

/** Whether `If-Range` is exactly the strong tag of `version` (a date or a weak tag never is). */
function ifRangeMatches(value: string, version: number): boolean {
  return value.trim() === etagOf(version);
}

function etagOf(version: number): string {
  return `"${version}"`;
}

function lowerCase(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name.toLowerCase()] = value;
  return out;
}

/**
 * `response` with `Cache-Control: no-store`: a session's answers carry presigned part URLs (a
 * credential to write into the bucket, as a 307's URL is one to read it) or its parts as they
 * stand now. Without it, a GET's 200 is storable (RFC 9111 §3): a shared cache in front of the
 * function (a CDN's default time to live) could answer one client's part URL to another, or a
 * resumed upload's list of parts as it was before its latest parts.
 */
function unstored(response: Response): Response {
  return { ...response, headers: { ...response.headers, 'cache-control': 'no-store' } };
}

function json(statusCode: number, value: unknown): Response {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}

/**
 * The 404 of a read (GET, HEAD) of an absent object, with `Cache-Control: no-cache`, as its 200
 * carries: a 404 is cacheable by default (RFC 9110 §15.5.5), so a browser or a shared cache could
 * answer "no such object" from its store after the object was written.
 */
function noSuchObject(): Response {
  const absent = problem(404, 'NotFound', 'no such object');
  return { ...absent, headers: { ...absent.headers, 'cache-control': 'no-cache' } };
}

function notAllowed(method: string, allow: string): Response {
  return {
    ...problem(405, 'MethodNotAllowed', `method ${method.slice(0, 20)} is not allowed here`),
    headers: { allow, 'content-type': 'application/json' },
  };
}

function problem(statusCode: number, error: string, message: string): Response {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error, message }) };
}

/**
 * A session's JSON body (a create's or a complete's) past its limit: 413 (RFC 9110 §15.5.14), as
 * a PUT's body past `maxBodyBytes` is, not a 400 that reads as a malformed request.
 */
class BodyTooLargeError extends ValidationError {
  constructor(message: string) {
    super(message, 'body');
  }
}
keepClassNames({ BodyTooLargeError });

/** A write's `If-Match` named a weak tag, which never matches (RFC 9110 §13.1.1): 412. */
class WeakIfMatchError extends Error {
  constructor() {
    super('If-Match compares strong tags only (RFC 9110 13.1.1), so a weak tag never matches: send the ETag as given, e.g. "3"');
  }
}

/**
 * A GET whose every read the store made was overtaken by a write (a {@link ContentionError} of a
 * read): a 503 `Retry` with `Retry-After`, contention and not a fault, so not logged.
 */
function overtakenRead(): Response {
  return {
    ...problem(503, 'Retry', 'the object was replaced while it was read, each time it was read: retry'),
    headers: { 'retry-after': '1', 'content-type': 'application/json' },
  };
}

function errorResponse(err: unknown, onError: ((err: unknown) => void) | undefined): Response {
  if (err instanceof BodyTooLargeError) return problem(413, 'BodyTooLarge', err.message);
  if (err instanceof ValidationError) return problem(400, 'BadRequest', err.message);
  if (err instanceof WeakIfMatchError) return problem(412, 'PreconditionFailed', err.message);
  if (err instanceof VersionConflictError) return problem(412, 'PreconditionFailed', err.message);
  if (err instanceof ContentionError) return problem(409, 'Conflict', err.message);
  if (err instanceof UploadSessionNotFoundError) return problem(404, 'NoSuchUpload', err.message);
  if (err instanceof UploadSessionClosedError) {
    return err.reason === 'completed' ? problem(409, 'UploadCompleted', err.message) : problem(410, 'UploadClosed', err.message);
  }
  if (err instanceof InvalidPartsError) return problem(400, 'InvalidPart', err.message);
  if (err instanceof UploadAssembledError) return problem(409, 'UploadAssembled', err.message);
  // The object's item would pass DynamoDB's 400 KB: the same request is refused again.
  if (err instanceof CommitRefusedError && err.reasons.every((reason) => reason.startsWith('Validation'))) {
    return problem(400, 'InvalidRequest', err.message);
  }
  if (err instanceof RangeNotSatisfiableError) {
    return {
      ...problem(416, 'RangeNotSatisfiable', err.message),
      headers: { 'content-type': 'application/json', 'content-range': `bytes */${err.size}` },
    };
  }
  if (err instanceof InstanceClaimedError || err instanceof CommitOutcomeUnknownError) {
    return { ...problem(503, 'Retry', err.message), headers: { 'retry-after': '1', 'content-type': 'application/json' } };
  }
  // A write stopped at its invocation's deadline (bound a margin before Lambda's, by the handler):
  // no attempt went out after it. The handler's own 503 at that instant is a timer, and the write's
  // check can come first (a large body's decoding and digests run between the two): its client is
  // waiting, and learns what that 503 says, retry, never a 500 for a broken server.
  if (err instanceof InvocationEndedError) {
    return {
      ...problem(503, 'Retry', 'the request did not finish in time: retry (a write may have landed: read the object to learn it)'),
      headers: { 'retry-after': '1', 'content-type': 'application/json' },
    };
  }
  // AWS throttled the request (after the SDK's retries): the client may retry it, later.
  if (isThrottling(err)) {
    return {
      ...problem(503, 'SlowDown', 'the service is busy: retry later'),
      headers: { 'retry-after': '1', 'content-type': 'application/json' },
    };
  }
  // DynamoDB refused a plain write for a transaction holding its item (a complete's commit) to
  // every attempt the store sent (retryOnTransactionConflict): nothing applied, the same request
  // succeeds once the transaction is over. Contention, not a fault: retry, not logged.
  if (isTransactionConflict(err)) {
    return {
      ...problem(503, 'Retry', 'the object is being changed by another request: retry'),
      headers: { 'retry-after': '1', 'content-type': 'application/json' },
    };
  }
  // A connection to AWS lost or not made for now (after the SDK's retries, or in the middle of a
  // body, which the SDK does not retry), or a server error of AWS's to every attempt: nothing of the answer went out
  // (a buffered response goes whole or not at all). A fault, not load: logged, as a 500 was.
  if (isConnectionLost(err) || AWS_SERVER_FAULTS.has(httpStatus(err) ?? 0)) {
    tell(onError, err);
    return {
      ...problem(503, 'Retry', 'storage did not answer: retry'),
      headers: { 'retry-after': '1', 'content-type': 'application/json' },
    };
  }
  // Everything else is the server's fault (ConfigError, ResourceMissingError, AccessDeniedError,
  // CorruptItemError, BlobMissingError, ChangeIdConflictError; a bug, an AWS error): its message
  // names tables, blob keys, roles and account ids, so it goes to the log, never to the client.
  tell(onError, err);
  return problem(500, 'InternalError', 'internal error (logged on the server)');
}

/**
 * Tells `onError` of `err`. An `onError` that throws (a logger failing on the error it is given:
 * a circular cause, a closed stream) is a process warning, never the request's answer: the
 * request rejected, which a Lambda answers with a bodiless 502, and a session's create whose part
 * URLs failed to sign lost its opened session's id.
 */
function tell(onError: ((err: unknown) => void) | undefined, err: unknown): void {
  notifyCallback('handleObjectsRequest: onError', onError, err);
}

/** AWS's answers of a fault on its side that a later attempt may not meet (not 501, S3's NotImplemented: a request it never serves). */
const AWS_SERVER_FAULTS: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/**
 * Whether `err` is a connection to AWS lost: its socket idle past the client's timeout (the SDK's
 * `TimeoutError`, also what a body stalled mid-way errors with), or past S3's while it read a
 * request's body (`RequestTimeout`, a 400 the SDK takes for transient: nothing was stored), or
 * reset (`ECONNRESET`: Node's "aborted" for an answer cut in its body, `ETIMEDOUT`, `EPIPE`), or
 * cut short (a body stream closed before its end, `ERR_STREAM_PREMATURE_CLOSE`; a success the SDK
 * could not parse, its body ended early: its error carries the 2xx), or
 * not made for now: the host's
 * name not resolved this time (`EAI_AGAIN`, "try again": a resolver busy or briefly out; nothing
 * was sent). The same request sent again is likely answered; a connection refused or a name that
 * does not exist (`ENOTFOUND`: a wrong endpoint) is not one.
 */
function isConnectionLost(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { name, code } = err as { name?: unknown; code?: unknown };
  const status = httpStatus(err);
  return (
    (status !== undefined && status >= 200 && status < 300) ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === 'EPIPE' ||
    code === 'EAI_AGAIN'
  );
}
