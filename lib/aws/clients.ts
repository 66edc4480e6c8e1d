/**
 * Default AWS clients. Region, credentials and endpoints come from the SDK's own configuration
 * chain (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, ...); retries are the
 * SDK's standard mode (exponential backoff with jitter, `AWS_MAX_ATTEMPTS`, default 3 here 5).
 *
 * Timeouts: the SDK sets none by default, so a request whose answer never comes (a keep-alive
 * socket that a NAT dropped while the Lambda environment was frozen, a response lost on the way)
 * waits until the function times out. The DynamoDB client gives up a request whose socket sits
 * idle (nothing sent either way) for {@link DYNAMODB_SOCKET_TIMEOUT_MS}. The SDK takes the
 * `TimeoutError` for a transient error and sends the request again; one whose retries are spent
 * leaves its outcome unknown (`isDefiniteRejection` is false for it), as any lost answer does.
 *
 * The S3 client has no idle timeout unless asked (`socketTimeoutMs`; the objects API's function
 * sets `S3_SOCKET_TIMEOUT_MS`): a body streamed to a caller who reads it at its own pace
 * sits idle while the caller's buffers are full, and would be cut. The sweeper and the stream
 * function stop waiting at their own deadlines. Neither client has a connection timeout unless
 * asked: the SDK's counts the time a request waits for a free socket of the client's pool (50),
 * so a client busy with large uploads would time out the requests queued behind them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../errors.js';
import { DYNAMODB_SOCKET_TIMEOUT_MS } from '../constants.js';

const DEFAULT_MAX_ATTEMPTS = 5;

/** How long a default client waits; each defaults to the constant it names. */
export interface ClientTimeouts {
  /**
   * Longest wait for a connection to open, in ms. The SDK counts the time a request waits for a
   * free socket of the client's pool too: set it only for a client that never queues.
   * @default none (the operating system's limit)
   */
  readonly connectionTimeoutMs?: number;
  /**
   * Longest time a connected request's socket may sit idle before the request is given up, in ms.
   * For S3, a streamed body its reader pauses is idle too: set it only for a client whose bodies
   * are read at once.
   * @default DYNAMODB_SOCKET_TIMEOUT_MS (10 s) for DynamoDB, none for S3
   */
  readonly socketTimeoutMs?: number;
}

/** A DynamoDB client from the environment, with standard retries and timeouts. */
export function createDynamoDBClient(timeouts: ClientTimeouts = {}): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
    requestHandler: requestHandlerOptions(timeouts, DYNAMODB_SOCKET_TIMEOUT_MS),
  });
}

/**
 * An S3 client from the environment, with standard retries and timeouts. Path-style addressing
 * when the environment sets an endpoint override (local servers do not serve virtual-hosted
 * buckets). An endpoint set in the shared config file (`endpoint_url`) is not seen here: pass a
 * client of your own, with `forcePathStyle`, for one.
 */
export function createS3Client(timeouts: ClientTimeouts = {}): S3Client {
  return new S3Client({
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
    forcePathStyle: s3EndpointFromEnvironment() !== undefined,
    requestHandler: requestHandlerOptions(timeouts, undefined),
  });
}

/**
 * The S3 endpoint the SDK takes from the environment, read as the SDK reads it: the service's own
 * variable, else the global one, an empty value being none; none at all when
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true` (the SDK then talks to AWS).
 */
function s3EndpointFromEnvironment(): string | undefined {
  if (process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  return process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
}

/** The options of the SDK's Node request handler for `timeouts` (its keep-alive agent kept). */
function requestHandlerOptions(
  timeouts: ClientTimeouts,
  defaultSocketTimeoutMs: number | undefined,
): { connectionTimeout?: number; socketTimeout?: number } {
  const connectionTimeout = positiveMs(timeouts.connectionTimeoutMs, undefined, 'connectionTimeoutMs');
  const socketTimeout = positiveMs(timeouts.socketTimeoutMs, defaultSocketTimeoutMs, 'socketTimeoutMs');
  return {
    ...(connectionTimeout !== undefined ? { connectionTimeout } : {}),
    ...(socketTimeout !== undefined ? { socketTimeout } : {}),
  };
}

function positiveMs<F extends number | undefined>(value: number | undefined, fallback: F, name: string): number | F {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive whole number of milliseconds, got ${value}`, name);
  }
  return value;
}

/**
 * How tierlog reads numbers: as JS numbers when they are exact, else as their string. A stored
 * number no JS number holds (a corrupt or forged `1e30`) then fails schema validation and is
 * reported, instead of making the whole item unreadable. A fresh object per call: the document
 * client writes into the options it is given.
 */
export function unmarshallOptions(): { wrapNumbers: (value: string) => number | string } {
  return {
    wrapNumbers: (value) => {
      const n = Number(value);
      return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : value;
    },
  };
}

/** The document client tierlog uses on top of `client`: plain JS values, no empty-value surprises. */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: unmarshallOptions(),
  });
}

function maxAttempts(): number {
  const raw = Number(process.env.AWS_MAX_ATTEMPTS);
  return Number.isInteger(raw) && raw > 0 ? raw : DEFAULT_MAX_ATTEMPTS;
}
