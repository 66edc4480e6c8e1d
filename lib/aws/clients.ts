/**
 * Default AWS clients. Region, credentials and endpoints come from the SDK's own configuration
 * chain (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, ...); retries are the
 * SDK's (exponential backoff with jitter, `AWS_MAX_ATTEMPTS`, default 3 here 5), in the mode its
 * chain names (`AWS_RETRY_MODE`, the profile's `retry_mode`): standard unless it says `adaptive`,
 * whose client-side rate limit a job that meets throttling (an audit's deletes) may ask for. A
 * mode fixed here ignored that setting in silence, where a client of the user's own honours it.
 *
 * An endpoint variable is read when the client is made, not at its first request as the SDK
 * reads it: a client made while a local stack's variables were set (`startLocalStack`, the dev
 * service, a test) keeps talking to that stack after they are put back, instead of sending its
 * first request to the shell's endpoint or AWS account. The S3 client's path-style addressing is
 * decided at the same moment, from the same endpoint.
 *
 * Timeouts: the SDK sets none by default, so a request whose answer never comes (a keep-alive
 * socket that a NAT dropped while the Lambda environment was frozen, a response lost on the way)
 * waits until the function times out. The DynamoDB client gives up a request whose socket sits
 * idle (nothing sent either way) for {@link DYNAMODB_SOCKET_TIMEOUT_MS}. The SDK takes the
 * `TimeoutError` for a transient error and sends the request again; one whose retries are spent
 * leaves its outcome unknown (`isDefiniteRejection` is false for it), as any lost answer does.
 *
 * The S3 client has no idle timeout unless asked (`socketTimeoutMs`; the objects API's function,
 * the snapshot audit's, the CLI and the listing audit, which stream no body, set `S3_SOCKET_TIMEOUT_MS`): a body streamed to
 * a caller who reads it at its own pace sits idle while the caller's buffers are full, and would
 * be cut. The sweeper and the stream
 * function stop waiting at their own deadlines. Neither client has a connection timeout unless
 * asked: the SDK's counts the time a request waits for a free socket of the client's pool (50),
 * so a client busy with large uploads would time out the requests queued behind them.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError, ValidationError } from '../errors.js';
import { DYNAMODB_SOCKET_TIMEOUT_MS } from '../constants.js';
import { assertOptions, optionNames } from '../plain-options.js';

const DEFAULT_MAX_ATTEMPTS = 5;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Refuses, as the default clients refuse them when they are made, the AWS SDK variables of `env`
 * they read: an `AWS_MAX_ATTEMPTS` that is no whole number of 1 or more, an endpoint variable
 * (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`) that is no http(s) URL.
 * For what builds a function's environment (the construct, at synth): every handler makes its
 * clients at its init, so such a value failed every invocation of a function that deployed.
 *
 * @throws ConfigError naming the variable.
 */
export function checkClientVariables(env: Env): void {
  maxAttempts(env);
  endpointFromEnvironment('DYNAMODB', env);
  endpointFromEnvironment('S3', env);
}

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

/**
 * The names {@link ClientTimeouts} takes: any other is a `ValidationError`. The SDK's own names for
 * them (`socketTimeout`, `connectionTimeout`, in its request handler's options) set nothing here:
 * taken in silence, they made a client with no timeout at all.
 */
const TIMEOUT_OPTIONS = optionNames<ClientTimeouts>()('connectionTimeoutMs', 'socketTimeoutMs');

/**
 * A DynamoDB client from the environment, with the SDK's retries and timeouts.
 * @throws ValidationError for an option {@link ClientTimeouts} does not have; ConfigError for a timeout that is not a positive whole number of ms, or an endpoint variable that is not an http(s) URL
 */
export function createDynamoDBClient(timeouts: ClientTimeouts = {}): DynamoDBClient {
  assertOptions(timeouts, TIMEOUT_OPTIONS, 'createDynamoDBClient');
  const endpoint = endpointFromEnvironment('DYNAMODB');
  return new DynamoDBClient({
    ...(endpoint !== undefined ? { endpoint } : {}),
    maxAttempts: maxAttempts(),
    requestHandler: requestHandlerOptions(timeouts, DYNAMODB_SOCKET_TIMEOUT_MS),
  });
}

/**
 * An S3 client from the environment, with the SDK's retries and timeouts. Path-style addressing
 * when the environment sets an endpoint override (local servers do not serve virtual-hosted
 * buckets). An endpoint set in the shared config file (`endpoint_url`) is not seen here: pass a
 * client of your own, with `forcePathStyle`, for one.
 * @throws ValidationError for an option {@link ClientTimeouts} does not have; ConfigError for a timeout that is not a positive whole number of ms, or an endpoint variable that is not an http(s) URL
 */
export function createS3Client(timeouts: ClientTimeouts = {}): S3Client {
  assertOptions(timeouts, TIMEOUT_OPTIONS, 'createS3Client');
  const endpoint = endpointFromEnvironment('S3');
  return new S3Client({
    ...(endpoint !== undefined ? { endpoint } : {}),
    maxAttempts: maxAttempts(),
    forcePathStyle: endpoint !== undefined,
    requestHandler: requestHandlerOptions(timeouts, undefined),
  });
}

/**
 * The endpoint the SDK would take from the environment for `service`, read as the SDK reads it:
 * the service's own variable (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`), else the global
 * one, an empty value being none; none at all when `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is
 * `true` (the SDK then talks to AWS). An endpoint in the shared config file is left to the SDK.
 *
 * It must be an http or https URL with a host. Written without its scheme (`localhost:8000`, the
 * usual slip), it is a URL to `new URL` (scheme `localhost:`): the SDK sent DynamoDB's requests to
 * whatever answered on the default port (a bare "UnknownError") and refused S3's naming no variable.
 *
 * @throws ConfigError naming the variable, before any request.
 */
function endpointFromEnvironment(service: 'S3' | 'DYNAMODB', env: Env = process.env): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  const variable = [`AWS_ENDPOINT_URL_${service}`, 'AWS_ENDPOINT_URL'].find((name) => (env[name] ?? '') !== '');
  if (variable === undefined) return undefined;
  const value = env[variable]!;
  if (!isHttpUrl(value)) {
    throw new ConfigError(
      `${variable} ${JSON.stringify(value)} is not a URL: set it to one, e.g. http://127.0.0.1:8000, or unset it`,
      variable,
    );
  }
  return value;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
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

/**
 * The document client tierlog uses on top of `client`: plain JS values, no empty-value surprises.
 *
 * On a config of its own: `DynamoDBDocumentClient.from` writes its options into the config object
 * of the client it wraps, which every document client made on that client shares, and each of
 * them reads the options there at each request. On the caller's client, the last one made set
 * them for all: the caller's own document client (`wrapNumbers: true`) made after the store made
 * every read of the store a CorruptItemError (its version a NumberValue), and the store made after
 * it turned the caller's numbers into plain ones. A shallow copy keeps the client's handler,
 * credentials and signer (its middleware, shared, keeps the client's own config and clock offset).
 */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  const own = { config: { ...client.config }, middlewareStack: client.middlewareStack } as unknown as DynamoDBClient;
  return DynamoDBDocumentClient.from(own, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: unmarshallOptions(),
  });
}

/**
 * `AWS_MAX_ATTEMPTS` (a whole number, 1 or more), else {@link DEFAULT_MAX_ATTEMPTS}; a profile's
 * `max_attempts` is not read. Any other value was taken as the default in silence, where the
 * SDK's own clients refuse it: a typo (`AWS_MAX_ATTEMPTS=1O`) meant to stop retries gave five.
 *
 * @throws ConfigError naming the variable.
 */
function maxAttempts(env: Env = process.env): number {
  const value = env.AWS_MAX_ATTEMPTS ?? '';
  if (value === '') return DEFAULT_MAX_ATTEMPTS;
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(
      `AWS_MAX_ATTEMPTS must be a whole number of attempts, 1 or more; got ${JSON.stringify(value)}`,
      'AWS_MAX_ATTEMPTS',
    );
  }
  return n;
}

/**
 * Refuses a client given as the option `name` that is an AWS SDK client of another service than
 * `service` (the DynamoDB and S3 clients swapped, a DynamoDB Streams client): every request would
 * go to that service's endpoint, and the first failed with what it answered (`SyntaxError:
 * Unexpected token '<'`, S3's XML read as DynamoDB's JSON), naming no option. Undefined (the
 * default client) and objects without a `serviceId` (a test's own) pass.
 *
 * @throws ValidationError naming the option.
 */
export function assertClientOf(name: string, client: unknown, service: 'DynamoDB' | 'S3'): void {
  if (client === undefined) return;
  const serviceId = (client as { readonly config?: { readonly serviceId?: unknown } } | null)?.config?.serviceId;
  if (typeof serviceId === 'string' && serviceId !== service) {
    throw new ValidationError(`${name} must be a client of ${service}, got a client of ${serviceId}`, name);
  }
}
