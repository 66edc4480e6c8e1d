/**
 * HTTP semantics of the reference storage writer: `PUT | GET | HEAD | DELETE /objects/{key}` over
 * a Lambda Function URL or an API Gateway HTTP API (payload format 2.0), on a {@link TieredStore}.
 *
 * - Keys are the percent-decoded path after `/objects/` (they may contain `/`).
 * - Bodies arrive base64-encoded when Lambda says so; the decoded size is capped.
 * - `ETag` is the quoted version; `If-Match: "<version>"` makes a PUT or DELETE conditional,
 *   `If-None-Match: *` makes a PUT create-only; a lost condition is 412.
 * - `x-amz-meta-*` request headers become user metadata and come back on GET and HEAD.
 * - Expiry on PUT, one of: `x-tierlog-expires-at: <ISO 8601 or HTTP date>`,
 *   `x-tierlog-ttl: <seconds>` (time to live), `x-tierlog-tti: <seconds>` (time to idle: reads
 *   move the expiry forward). None: the object never expires (a PUT replaces the policy). GET
 *   and HEAD answer `x-tierlog-expires-at: <ISO 8601>` for an object that expires; an expired
 *   object is 404.
 * - Bad input is a 4xx with a JSON `{ error, message }`; nothing is written.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  CommitOutcomeUnknownError,
  ContentionError,
  InstanceClaimedError,
  TierlogError,
  ValidationError,
  VersionConflictError,
} from '../errors.js';
import type { ObjectInfo, PutOptions, TieredStore } from '../tiered/tiered-store.js';

export interface ObjectsApiOptions {
  /** Largest accepted body, decoded, in bytes. Default 5 MiB (a Lambda request carries 6 MB). */
  readonly maxBodyBytes?: number;
  /** Largest body returned by GET (a buffered Lambda response carries 6 MB). Default 4 MiB. */
  readonly maxResponseBytes?: number;
  /** Receives unexpected errors (answered as 500). */
  readonly onError?: (err: unknown) => void;
}

type Response = APIGatewayProxyStructuredResultV2;

const ROUTE = '/objects/';
const ALLOWED = 'GET, HEAD, PUT, DELETE';
const DEFAULT_MAX_BODY = 5 * 1024 * 1024;
const DEFAULT_MAX_RESPONSE = 4 * 1024 * 1024;
const ETAG = /^\s*(?:W\/)?"([1-9][0-9]{0,14})"\s*$/;

/** Answers one request. Never throws: every failure is an HTTP status. */
export async function handleObjectsRequest(
  store: TieredStore,
  event: APIGatewayProxyEventV2,
  options: ObjectsApiOptions = {},
): Promise<Response> {
  try {
    const method = (event.requestContext?.http?.method ?? '').toUpperCase();
    const key = keyOf(event.rawPath ?? '');
    if (key === undefined) return problem(404, 'NotFound', `no route for ${String(event.rawPath).slice(0, 200)}`);
    const headers = lowerCase(event.headers ?? {});
    switch (method) {
      case 'GET':
        return await getObject(store, key, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE);
      case 'HEAD': {
        const info = await store.head(key);
        return info === undefined ? { statusCode: 404 } : { statusCode: 200, headers: infoHeaders(info) };
      }
      case 'PUT':
        return await putObject(store, key, event, headers, options.maxBodyBytes ?? DEFAULT_MAX_BODY);
      case 'DELETE': {
        const ifVersion = ifMatchOf(headers);
        const deleted = await store.delete(key, ifVersion !== undefined ? { ifVersion } : {});
        return deleted ? { statusCode: 204 } : problem(404, 'NotFound', 'no such object');
      }
      default:
        return { ...problem(405, 'MethodNotAllowed', `method ${method.slice(0, 20)} is not allowed`), headers: { allow: ALLOWED, 'content-type': 'application/json' } };
    }
  } catch (err) {
    return errorResponse(err, options.onError);
  }
}

/** The object key in `rawPath`, percent-decoded; undefined when the path is not an object route. */
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

async function getObject(store: TieredStore, key: string, maxResponseBytes: number): Promise<Response> {
  const info = await store.head(key);
  if (info === undefined) return problem(404, 'NotFound', 'no such object');
  if (info.size > maxResponseBytes) {
    return problem(413, 'ResponseTooLarge', `object is ${info.size} bytes; this endpoint returns at most ${maxResponseBytes}`);
  }
  const object = await store.get(key);
  if (object === undefined) return problem(404, 'NotFound', 'no such object');
  return {
    statusCode: 200,
    headers: infoHeaders(object),
    body: Buffer.from(object.body).toString('base64'),
    isBase64Encoded: true,
  };
}

async function putObject(
  store: TieredStore,
  key: string,
  event: APIGatewayProxyEventV2,
  headers: Record<string, string>,
  maxBodyBytes: number,
): Promise<Response> {
  const raw = event.body ?? '';
  // Reject before decoding: base64 is 4/3 of the bytes it carries.
  const approx = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw, 'utf8');
  if (approx > maxBodyBytes + 3) return problem(413, 'BodyTooLarge', `body exceeds ${maxBodyBytes} bytes`);
  let body: Buffer;
  if (event.isBase64Encoded) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) throw new ValidationError('body is not valid base64', 'body');
    body = Buffer.from(raw, 'base64');
  } else {
    body = Buffer.from(raw, 'utf8');
  }
  if (body.byteLength > maxBodyBytes) return problem(413, 'BodyTooLarge', `body exceeds ${maxBodyBytes} bytes`);

  const ifMatch = ifMatchOf(headers);
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
    throw new ValidationError('If-None-Match supports only "*"', 'If-None-Match');
  }
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw new ValidationError('If-Match and If-None-Match cannot be combined', 'If-Match');
  }
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  const options: PutOptions = {
    ...(headers['content-type'] !== undefined ? { contentType: headers['content-type'] } : {}),
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    ...(ifMatch !== undefined ? { ifVersion: ifMatch } : ifNoneMatch !== undefined ? { ifVersion: 0 } : {}),
    ...expiryOf(headers),
  };
  const result = await store.put(key, body, options);
  return {
    statusCode: result.created ? 201 : 200,
    headers: { etag: etagOf(result.version), 'x-tierlog-stored': result.stored, 'content-type': 'application/json' },
    body: JSON.stringify(result),
  };
}

/** The expiry policy of the request headers (the store rejects more than one). */
function expiryOf(headers: Record<string, string>): Pick<PutOptions, 'expiresAt' | 'timeToLiveMs' | 'timeToIdleMs'> {
  const seconds = (name: string): number | undefined => {
    const value = headers[name];
    if (value === undefined) return undefined;
    if (!/^\d{1,12}$/.test(value.trim())) throw new ValidationError(`${name} must be a whole number of seconds`, name);
    return Number(value.trim()) * 1000;
  };
  const at = headers['x-tierlog-expires-at'];
  const expiresAt = at === undefined ? undefined : new Date(at);
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

function ifMatchOf(headers: Record<string, string>): number | undefined {
  const value = headers['if-match'];
  if (value === undefined) return undefined;
  const match = ETAG.exec(value);
  if (match === null) throw new ValidationError('If-Match must be one quoted version, e.g. "3"', 'If-Match');
  return Number(match[1]);
}

function infoHeaders(info: ObjectInfo): Record<string, string> {
  const headers: Record<string, string> = {
    etag: etagOf(info.version),
    'content-length': String(info.size),
    'content-type': info.contentType ?? 'application/octet-stream',
    'last-modified': new Date(info.updatedAt).toUTCString(),
    'x-tierlog-stored': info.stored,
  };
  for (const [name, value] of Object.entries(info.metadata)) headers[`x-amz-meta-${name}`] = value;
  if (info.expiresAt !== undefined) headers['x-tierlog-expires-at'] = info.expiresAt.toISOString();
  return headers;
}

function etagOf(version: number): string {
  return `"${version}"`;
}

function lowerCase(headers: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name.toLowerCase()] = value;
  return out;
}

function problem(statusCode: number, error: string, message: string): Response {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error, message }) };
}

function errorResponse(err: unknown, onError: ((err: unknown) => void) | undefined): Response {
  if (err instanceof ValidationError) return problem(400, 'BadRequest', err.message);
  if (err instanceof VersionConflictError) return problem(412, 'PreconditionFailed', err.message);
  if (err instanceof ContentionError) return problem(409, 'Conflict', err.message);
  if (err instanceof InstanceClaimedError || err instanceof CommitOutcomeUnknownError) {
    return { ...problem(503, 'Retry', err.message), headers: { 'retry-after': '1', 'content-type': 'application/json' } };
  }
  onError?.(err);
  const message = err instanceof TierlogError ? err.message : 'internal error';
  return problem(500, 'InternalError', message);
}
