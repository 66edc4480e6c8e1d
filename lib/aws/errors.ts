/**
 * Turns AWS SDK errors into tierlog's named errors where the caller can act on the difference
 * (a missing table, a missing bucket, access denied), and recognises the error kinds the
 * protocols branch on.
 */
import { AccessDeniedError, BlobArchivedError, ConfigError, ResourceMissingError, TierlogError } from '../errors.js';
import { sleepBackoff } from './backoff.js';
import { LEASE_INDEX_NAME } from '../constants.js';

interface AwsErrorLike {
  name?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

function asAws(err: unknown): AwsErrorLike {
  return typeof err === 'object' && err !== null ? (err as AwsErrorLike) : {};
}

/** The SDK error's name (`ConditionalCheckFailedException`, `NoSuchKey`, ...), or undefined. */
export function awsErrorName(err: unknown): string | undefined {
  return asAws(err).name;
}

/** The HTTP status the service answered with, or undefined when no answer arrived. */
export function httpStatus(err: unknown): number | undefined {
  return asAws(err).$metadata?.httpStatusCode;
}

export function isConditionalCheckFailed(err: unknown): boolean {
  return awsErrorName(err) === 'ConditionalCheckFailedException';
}

export function isTransactionCanceled(err: unknown): boolean {
  return awsErrorName(err) === 'TransactionCanceledException';
}

/**
 * DynamoDB refused a plain write (PutItem, UpdateItem, DeleteItem) because an ongoing
 * TransactWriteItems includes the item: nothing was applied, and the same write may be sent
 * again once the transaction is over. The SDK does not retry it.
 */
export function isTransactionConflict(err: unknown): boolean {
  return awsErrorName(err) === 'TransactionConflictException';
}

/**
 * Runs `call`, sending it again (up to `attempts` times in all, with jittered backoff) while
 * DynamoDB refuses it with TransactionConflictException: a transaction holds the item for a few
 * milliseconds. Only for writes whose repetition is safe (conditional writes that tell "already
 * done" from their failed condition).
 */
export async function retryOnTransactionConflict<T>(call: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!isTransactionConflict(err) || attempt >= attempts) throw err;
      await sleepBackoff(attempt, 25);
    }
  }
}

/** S3 "no such object" as HeadObject (`NotFound`) and GetObject (`NoSuchKey`) report it. */
export function isNoSuchKey(err: unknown): boolean {
  const name = awsErrorName(err);
  return name === 'NoSuchKey' || name === 'NotFound';
}

/**
 * True when AWS refused the request for load (throttling, S3's SlowDown, DynamoDB's provisioned
 * throughput), after the SDK's own retries: nothing was applied, and the same request may succeed
 * later. A transaction DynamoDB cancelled only for throttling (every reason that is not `None` is
 * `ThrottlingError` or `ProvisionedThroughputExceeded`; the SDK never retries a cancellation) is
 * one too.
 */
export function isThrottling(err: unknown): boolean {
  const e = asAws(err);
  const retryable = e.$retryable as { throttling?: unknown } | undefined;
  return (
    retryable?.throttling === true ||
    /Throttl|SlowDown|RequestLimitExceeded|ProvisionedThroughputExceeded/.test(e.name ?? '') ||
    isThrottledTransaction(err)
  );
}

/** Cancellation reasons of a transaction refused for load: nothing applied, it may land later. */
const THROTTLED_REASONS = new Set(['ThrottlingError', 'ProvisionedThroughputExceeded']);

/**
 * A TransactionCanceledException whose every reason that is not `None` is a throttling one (at
 * least one): the transaction was refused for load alone.
 */
export function isThrottledTransaction(err: unknown): boolean {
  if (!isTransactionCanceled(err)) return false;
  const codes = ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [])
    .map((r) => r.Code ?? 'None')
    .filter((code) => code !== 'None');
  return codes.length > 0 && codes.every((code) => THROTTLED_REASONS.has(code));
}

/**
 * True when the service answered with a definite rejection (a 4xx other than throttling): the
 * request was not applied. Anything else (no answer, 5xx, throttling after all retries, a
 * timeout) leaves the outcome unknown.
 */
export function isDefiniteRejection(err: unknown): boolean {
  const status = httpStatus(err);
  const name = awsErrorName(err) ?? '';
  if (status === undefined || status >= 500) return false;
  if (/Throttl|RequestLimitExceeded|ProvisionedThroughputExceeded|TransactionInProgress/.test(name)) return false;
  return status >= 400;
}

/**
 * True when a request was sent once and refused definitely ({@link isDefiniteRejection}), so it was
 * not applied. A request the SDK retried is never that sure: an earlier attempt whose answer was
 * lost may have been applied. Sees through a tierlog error that wraps the AWS one.
 */
export function refusedOutright(err: unknown): boolean {
  const raw = err instanceof TierlogError && err.cause !== undefined ? err.cause : err;
  const attempts = (raw as { $metadata?: { attempts?: number } }).$metadata?.attempts ?? 1;
  return attempts <= 1 && isDefiniteRejection(raw);
}

/**
 * The SDK's refusal to send anything for want of its own configuration, as a {@link ConfigError}
 * naming what to set; undefined for any other error. The SDK says only "Region is missing" when
 * neither `AWS_REGION` nor a profile gives one (a Lambda always has it; a shell may not).
 */
export function sdkConfigurationError(err: unknown): ConfigError | undefined {
  if (err instanceof Error && err.message === 'Region is missing') {
    return new ConfigError('no AWS region: set AWS_REGION, or AWS_PROFILE naming a profile that has a region', 'AWS_REGION', {
      cause: err,
    });
  }
  return undefined;
}

/**
 * Rethrows `err` as a {@link ResourceMissingError} or {@link AccessDeniedError} when it is one
 * of those (a bucket in another region than the client's, which S3 answers with a redirect or a
 * 400 naming the bucket's region, is missing, as a table of another region is), as a {@link BlobArchivedError} for S3's `InvalidObjectState` (a 403 of the object's
 * storage class, not of the credentials), or as a {@link ConfigError} when the table is not keyed or indexed as tierlog's;
 * otherwise returns it unchanged for the caller to throw.
 */
export function translateAwsError(err: unknown, context: { operation: string; table?: string; bucket?: string; key?: string }): unknown {
  const name = awsErrorName(err);
  // A 403 that is no authorization failure: the object's storage class archives it.
  if (name === 'InvalidObjectState' && context.bucket !== undefined) {
    const { StorageClass, AccessTier } = err as { StorageClass?: unknown; AccessTier?: unknown };
    return new BlobArchivedError(
      context.bucket,
      context.key,
      typeof StorageClass === 'string' ? StorageClass : undefined,
      typeof AccessTier === 'string' ? AccessTier : undefined,
      err,
    );
  }
  if (name === 'ResourceNotFoundException' && context.table !== undefined) {
    return new ResourceMissingError('table', context.table, err);
  }
  if (name === 'NoSuchBucket' && context.bucket !== undefined) {
    return new ResourceMissingError('bucket', context.bucket, err);
  }
  // A request sent to another region than the bucket's: S3 redirects it (301 `PermanentRedirect`;
  // a HEAD's has no body, so no name), which the client does not follow. The bucket is not where
  // the client looks, as a table of another region is not: missing, naming the region S3 gave.
  // S3's 400s of the same mistake too: a bucket of an opt-in region asked at another region's
  // endpoint (`IllegalLocationConstraintException`), and a request signed for another region than
  // the one S3 expects, when S3 names it (`AuthorizationHeaderMalformed`, else a credentials refusal).
  if (context.bucket !== undefined && isOtherRegion(err)) {
    const missing = new ResourceMissingError('bucket', context.bucket, err);
    const region = bucketRegionOf(err);
    if (region !== undefined) {
      missing.message = `bucket "${context.bucket}" is in region ${region}, not the S3 client's: set AWS_REGION to it (or give a client made for that region)`;
    }
    return missing;
  }
  if (name === 'ValidationException' && context.table !== undefined) {
    const shape = tableShapeError(messageOf(err), context.table, err);
    if (shape !== undefined) return shape;
  }
  // A 403 is always an authorization failure (a HEAD answers it without a body, so without a name).
  if ((name !== undefined && ACCESS_DENIED.has(name)) || httpStatus(err) === 403) {
    const denied = context.table !== undefined ? deniedTableOf(err) : undefined;
    return new AccessDeniedError(context.operation, denied ?? context.table ?? context.bucket ?? 'unknown', err);
  }
  return err;
}

/**
 * The {@link ConfigError} naming `table` when DynamoDB's `message` (a ValidationException's, or a
 * transaction's `ValidationError` reason) says the table is not keyed or indexed as tierlog writes
 * it; undefined for any other message. The deployment's fault, never the request's: sent again, or
 * by any other write, it is refused alike.
 */
export function tableShapeError(message: string, table: string, cause: unknown): ConfigError | undefined {
  // The table exists but is not keyed or indexed as the one tierlog means: a variable naming
  // another table (the change log's for the objects', or the reverse).
  if (SCHEMA_MISMATCH.test(message)) {
    return new ConfigError(
      `table "${table}" does not have the key or index tierlog uses for it (DynamoDB: ${message}): the setting that names it names another table`,
      table,
      { cause },
    );
  }
  // An index keyed by an attribute tierlog writes, declared of another type (a table of the user's
  // own): every write of that attribute is refused so. Its partition key may be right: not blamed.
  if (INDEX_KEY_TYPE_MISMATCH.test(message)) {
    return new ConfigError(
      `table "${table}" has an index keyed by an attribute tierlog writes, declared of another type (DynamoDB: ${message}): the change log's lease index ${LEASE_INDEX_NAME} takes shard and leaseUntil as Numbers; an index of the objects table must not key on an attribute tierlog writes as another type`,
      table,
      { cause },
    );
  }
  // Keyed by the name tierlog uses, of another type (a table of the user's own with a Number
  // partition key): every request for it is refused so, whatever it carries. The deployment's
  // fault, never the request's: a small write's refusal was a CommitRefusedError, a 400 to the client.
  if (KEY_TYPE_MISMATCH.test(message)) {
    return new ConfigError(
      `table "${table}" has a key of another type than tierlog writes (DynamoDB: ${message}): its partition key must be a String (the objects table's, hvAttributes.key; the change log's, pk)`,
      table,
      { cause },
    );
  }
  return undefined;
}

/**
 * S3's answer to a request sent to another region than the bucket's: its 301, its
 * `IllegalLocationConstraintException` (a bucket of an opt-in region), or an
 * `AuthorizationHeaderMalformed` that names the region it expected.
 */
function isOtherRegion(err: unknown): boolean {
  if (httpStatus(err) === 301) return true;
  const name = awsErrorName(err);
  if (name === 'IllegalLocationConstraintException') return true;
  return name === 'AuthorizationHeaderMalformed' && bucketRegionOf(err) !== undefined;
}

/**
 * The region S3's answer names for the bucket (`x-amz-bucket-region`, else the `Region` of its
 * error body), when it names one that reads as a region.
 */
function bucketRegionOf(err: unknown): string | undefined {
  const headers = (err as { $response?: { headers?: Record<string, unknown> } }).$response?.headers;
  const isRegion = (region: unknown): region is string => typeof region === 'string' && /^[a-z]{2}(?:-[a-z0-9]+){1,4}$/.test(region);
  const header = headers?.['x-amz-bucket-region'];
  if (isRegion(header)) return header;
  const body = (err as { Region?: unknown }).Region;
  return isRegion(body) ? body : undefined;
}

/**
 * The table IAM's refusal names (`... is not authorized to perform: dynamodb:UpdateItem on
 * resource: arn:aws:dynamodb:<region>:<account>:table/<name> ...`), or undefined. A transaction
 * spans two tables and its refusal does not say which in its code: the message does, and naming
 * the other table sends the reader to the wrong policy.
 */
function deniedTableOf(err: unknown): string | undefined {
  return /on resource: arn:[a-z-]+:dynamodb:[a-z0-9-]*:\d*:table\/([A-Za-z0-9_.-]{3,255})/.exec(messageOf(err))?.[1];
}

/**
 * Runs one AWS call and translates what it throws ({@link translateAwsError}): the one wrapper
 * the table and bucket classes put around calls that need no error handling of their own.
 */
export async function withAwsErrors<T>(
  context: { operation: string; table?: string; bucket?: string },
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw translateAwsError(err, context);
  }
}

/** DynamoDB's answers to a request whose key or index the table does not have. */
const SCHEMA_MISMATCH = /does not have the specified index|key element does not match the schema|required keys was not given a value/i;
/** DynamoDB's refusal of a key (or an index key) attribute of another type than the table's schema declares. */
const KEY_TYPE_MISMATCH = /type mismatch for (index )?key/i;
/** DynamoDB's refusal of an attribute an index keys on, of another type than the index declares. */
const INDEX_KEY_TYPE_MISMATCH = /type mismatch for index key/i;

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * True when AWS refused the request's credentials themselves (an unknown key id, a bad signature,
 * an expired token), not what they may do: every request signed with them is refused alike.
 */
export function isCredentialRefusal(err: unknown): boolean {
  return CREDENTIALS_REFUSED.has(awsErrorName(err) ?? '');
}

/**
 * Error names of a request refused for its credentials or its signature, whatever it asked (S3,
 * DynamoDB, STS): every request signed alike is refused alike. A signature whose scope names
 * another region (`AuthorizationHeaderMalformed`) or whose time is too far off (`RequestTimeTooSkewed`,
 * `RequestExpired`, still refused after the SDK corrected its clock offset) included.
 */
const CREDENTIALS_REFUSED = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'IncompleteSignature',
  'IncompleteSignatureException',
  'AuthorizationHeaderMalformed',
  'MissingAuthenticationToken',
  'MissingAuthenticationTokenException',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidToken',
  'InvalidSecurity',
  'TokenRefreshRequired',
  'RequestTimeTooSkewed',
  'RequestExpired',
]);

/** Error names of a request refused for its credentials or permissions (S3, DynamoDB, STS). */
const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'Forbidden', ...CREDENTIALS_REFUSED]);
