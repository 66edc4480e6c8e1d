/**
 * The objects handler (`PUT | GET | HEAD | DELETE /objects/{key}` behind a Function URL or an
 * HTTP API v2) as a factory: `functions/objects.ts` is `createObjectsHandler()`; the local dev
 * service and your own functions build it with their own configuration, clients or logger. The change log lives
 * in the factory's scope: one writer instance per execution environment, its lease tied to each
 * invocation's deadline (no timer: a frozen environment holds no lease it cannot honour). A
 * request not finished a second before that deadline (AWS holding it) is answered a 503 `Retry`
 * then, not Lambda's bodyless 502 at the timeout, and sends no write after that answer; behind an
 * HTTP API, a second before the gateway's own 503 (its 30 s integration timeout, counted from when
 * it took the request), if that comes first. What
 * it logs after that answer (in the next invocation of the environment, thawed) carries its own
 * invocation's request id (`function_request_id`), not the one the logger is bound to by then.
 * Each line of a request's failure also names the event's (`http_request_id`): the id its client's
 * answer carries, which behind an HTTP API is API Gateway's, not Lambda's.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import {
  answerWithContent,
  COMPLETE_NOT_FINISHED,
  checkObjectsApiOptions,
  MAX_BUFFERED_RESPONSE_BYTES,
  type ObjectsApiOptions,
  sentFor,
} from '../api/objects-http.js';
import { sentByHttpApi } from '../api/event-source.js';
import { ConfigError } from '../errors.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { addLogContext, assertPowertools, invocationScope, remainingTimeOf, warnOfUnknownVariables } from './factory-support.js';
import { OBJECTS_SERVICE_NAME } from './names.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { OBJECTS_ANSWER_MARGIN_MS, S3_SOCKET_TIMEOUT_MS } from '../constants.js';
import { DynamoChangeLog } from '../changelog/dynamo-change-log.js';
import { loadConfig, type TierlogConfig } from '../config.js';
import { TieredStore } from '../tiered/tiered-store.js';
import { checkWriterTuning, type WriterTuning, writerTuningFromEnv } from '../tiered/writer-env.js';

/** A Lambda handler for Function URL / HTTP API v2 events. */
export type ObjectsHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

/** Options of {@link createObjectsHandler}. All optional. */
export interface ObjectsHandlerOptions extends Pick<ObjectsApiOptions, 'maxBodyBytes' | 'maxResponseBytes'> {
  /**
   * The configuration.
   *
   * @default loadConfig() (the `TIERLOG_*` variables)
   */
  readonly config?: TierlogConfig;
  /**
   * The DynamoDB client of the store and its change log (one wrapped for tracing, say).
   *
   * @default createDynamoDBClient()
   */
  readonly dynamodb?: DynamoDBClient;
  /**
   * The S3 client of the store. Every body the handler answers is read at once, so give it an
   * idle-socket timeout (`createS3Client({ socketTimeoutMs })`): without one, a lost answer waits
   * for the function's own timeout.
   *
   * @default createS3Client({ socketTimeoutMs: 10_000 })
   */
  readonly s3?: S3Client;
  /**
   * Powertools logger for cleanup warnings and request errors.
   *
   * @default new Logger({ serviceName: 'tierlog-objects' })
   */
  readonly logger?: Logger;
  /**
   * Bodies up to this many bytes are stored inline in the objects table (`TieredStore`'s
   * `inlineThreshold`: an integer in 0..384 KiB).
   *
   * @default `TIERLOG_INLINE_THRESHOLD` ({@link writerTuningFromEnv}), else 8 KiB; the variable is
   *   read and checked even when this is given, which takes precedence
   */
  readonly inlineThreshold?: number;
}

/** The names {@link ObjectsHandlerOptions} has: any other is refused. */
const HANDLER_OPTIONS = optionNames<ObjectsHandlerOptions>()(
  'config',
  'dynamodb',
  's3',
  'logger',
  'inlineThreshold',
  'maxBodyBytes',
  'maxResponseBytes',
);

/**
 * Builds the store (once) and returns the handler.
 *
 * @throws ConfigError when `maxBodyBytes` is not a positive integer ({@link checkObjectsApiOptions}), or
 *   `maxResponseBytes` not an integer in 1..{@link MAX_BUFFERED_RESPONSE_BYTES}:
 *   a larger answer does not fit a buffered Lambda response, and Lambda would fail it with no body;
 *   when `inlineThreshold` or `TIERLOG_INLINE_THRESHOLD` is out of range (naming the one at fault).
 * @throws ValidationError naming `logger` when it is not a Powertools `Logger` (`assertPowertools`).
 */
export function createObjectsHandler(options: ObjectsHandlerOptions = {}): ObjectsHandler {
  // A misspelt option (`maxBodyByte`, `inlineTreshold`) would be a default nobody chose: refused at init.
  assertOptions(options, HANDLER_OPTIONS, 'createObjectsHandler');
  const limits: ObjectsApiOptions = {
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {}),
  };
  checkObjectsApiOptions(limits);
  const max = options.maxResponseBytes;
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > MAX_BUFFERED_RESPONSE_BYTES)) {
    throw new ConfigError(
      `maxResponseBytes must be an integer in 1..${MAX_BUFFERED_RESPONSE_BYTES} (a buffered Lambda response carries 6 MB, the body as base64)`,
      'maxResponseBytes',
    );
  }
  assertPowertools(options, OBJECTS_SERVICE_NAME);
  const logger = options.logger ?? new Logger({ serviceName: OBJECTS_SERVICE_NAME });
  warnOfUnknownVariables(logger);
  // A request answered 503 at its deadline goes on when the environment is thawed for the next
  // invocation: what it logs then (its failure, a cleanup left) is told as its own invocation's.
  const invocation = invocationScope();
  // The variable is read and checked in any case, as the sweeper's and the stream function's
  // tuning are: an option given takes precedence, but never hides a bad value in the environment.
  const tuning: WriterTuning = {
    ...writerTuningFromEnv(),
    ...(options.inlineThreshold !== undefined ? { inlineThreshold: options.inlineThreshold } : {}),
  };
  checkWriterTuning(tuning);
  const config = options.config ?? loadConfig();
  const dynamodb = options.dynamodb ?? createDynamoDBClient();
  const changeLog = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
  const store = new TieredStore({
    config,
    changeLog,
    dynamodb,
    // Every body this function answers is read at once (never streamed to a slow reader), so an
    // idle S3 socket is a lost answer: given up and sent again, not waited on until the timeout.
    s3: options.s3 ?? createS3Client({ socketTimeoutMs: S3_SOCKET_TIMEOUT_MS }),
    ...tuning,
    onCleanupError: (err, context) =>
      logger.warn('cleanup left for the sweeper', { ...context, error: String(err), ...invocation.attributes() }),
  });
  return async (event, context) => {
    // Behind an HTTP API, the gateway answers its client 503 once its integration timeout passes,
    // from when it took the request (a cold start's init counted): the handler's own answer, and
    // the last write it sends, come before that, not at the invocation's later deadline.
    const remainingMs = Math.min(remainingTimeOf(context, 'the objects handler'), gatewayTimeLeftOf(event, Date.now()));
    addLogContext(logger, context);
    // The request is answered a margin before the invocation's deadline, finished or not, and its
    // writes send nothing after that answer: the log is bound to it, not to the deadline itself. A
    // write attempt still on its way then may land, so the answer is the 503 of an outcome unknown.
    const answerInMs = remainingMs - Math.min(OBJECTS_ANSWER_MARGIN_MS, Math.floor(remainingMs / 10));
    changeLog.bindInvocation({ getRemainingTimeInMillis: () => answerInMs });
    // The id its client's answer carries: behind an HTTP API, API Gateway's (`apigw-requestid`),
    // not Lambda's (`function_request_id`), so each line of its failure names it too.
    const requestId = httpRequestIdOf(event);
    let logged = false;
    // Answered with its content, a HEAD's too, so that a 5xx is logged with what it says: a HEAD's
    // is sent without it (sentFor), and was logged as a bare status, its cause unsaid.
    const request = invocation.run(context, () =>
      answerWithContent(store, event, {
        ...limits,
        onError: (err) => {
          logged = true;
          logger.error('request failed', { error: err, ...invocation.attributes(), ...requestId });
        },
      }),
    );
    const response = await answeredWithin(request, answerInMs);
    if (response === undefined) {
      logger.warn("request not finished before the invocation's deadline: answered 503", { answeredAfterMs: answerInMs, ...requestId });
      return notFinishedInTime(String(event?.requestContext?.http?.method ?? '').toUpperCase(), String(event?.rawQueryString ?? ''));
    }
    // Every 5xx is in the log, as the ServerErrors alarm's runbook says: a 503 the API answers
    // without an error to report (AWS throttling, a writer fenced by a sweeper, a commit whose
    // outcome is unknown) is told with what its client was told, at warn: retried, not broken.
    if (!logged && (response.statusCode ?? 200) >= 500)
      logger.warn(`request answered ${response.statusCode}`, { ...answeredProblemOf(response), ...requestId });
    return sentFor(event, response);
  };
}

/**
 * The integration timeout of an HTTP API (API Gateway, payload 2.0): 30 s at most, not raised on
 * request, counted from when the gateway took the request (`requestContext.timeEpoch`).
 */
const HTTP_API_TIMEOUT_MS = 30_000;

/**
 * The ms left before an HTTP API that sent `event` answers its client 503 on its own (its
 * integration timeout, {@link HTTP_API_TIMEOUT_MS} from `requestContext.timeEpoch`), at `now`;
 * Infinity for an event no HTTP API sent (a Function URL's, whose client waits for the function's
 * timeout; the dev service's adapter's: {@link sentByHttpApi}) or without a time.
 */
function gatewayTimeLeftOf(event: APIGatewayProxyEventV2, now: number): number {
  if (!sentByHttpApi(event)) return Number.POSITIVE_INFINITY;
  const timeEpoch: unknown = event.requestContext.timeEpoch;
  if (typeof timeEpoch !== 'number' || !Number.isFinite(timeEpoch)) return Number.POSITIVE_INFINITY;
  return Math.max(0, timeEpoch + HTTP_API_TIMEOUT_MS - now);
}

/**
 * `{ http_request_id }`: the event's `requestContext.requestId`, the id its client's answer carries
 * (a Function URL's is the invocation's own, an HTTP API's is API Gateway's); empty without one.
 */
function httpRequestIdOf(event: APIGatewayProxyEventV2): { http_request_id?: string } {
  const id: unknown = event?.requestContext?.requestId;
  return typeof id === 'string' && id !== '' ? { http_request_id: id.slice(0, 200) } : {};
}

/**
 * The `{ error, message }` a problem response carries, as `error` and `answered` (the log line's
 * own `message` is the logger's); empty when its body is not one. A HEAD's answer is taken before
 * its content is dropped, so it tells its cause too.
 */
function answeredProblemOf(response: { readonly body?: string | undefined }): { error?: string; answered?: string } {
  try {
    const { error, message } = JSON.parse(response.body ?? '') as { error?: unknown; message?: unknown };
    return { ...(typeof error === 'string' ? { error } : {}), ...(typeof message === 'string' ? { answered: message } : {}) };
  } catch {
    return {};
  }
}

/** What `request` answers within `ms`, or undefined when it has not by then (it goes on, unawaited). */
async function answeredWithin<T>(request: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  // Answered late, it must not fail the process if it fails after all (an unhandled rejection).
  request.catch(() => undefined);
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([request, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The answer of a request its invocation's deadline cut short, to a request of `method` with
 * `query`: retry. A write's outcome is unknown (a 503 `Retry` says so, and where to learn it); a
 * read's (GET, HEAD: of an object or of an upload session) is not, it writes nothing the client
 * would learn of, and was told "a write may have landed". Nor does a session's create or abort
 * write the object, which they sent the client to read: a create's session, its id never
 * answered, is aborted by the sweeper once it expires. A complete's is retried: its retry answers
 * the result of a commit that landed, which a read of the object cannot tell from another's. To a HEAD, its headers alone (RFC 9110
 * §9.3.2), as the API answers its own.
 */
function notFinishedInTime(method: string, query: string): APIGatewayProxyStructuredResultV2 {
  const headers = { 'content-type': 'application/json', 'retry-after': '1' };
  if (method === 'HEAD') return { statusCode: 503, headers };
  const params = new URLSearchParams(query);
  const message =
    method === 'GET'
      ? 'the read did not finish in time: retry it'
      : method === 'POST' && params.has('uploads')
        ? 'the request did not finish in time: retry (a session it may have opened, its id unanswered, is aborted once it expires; the object is unchanged)'
        : method === 'DELETE' && params.has('uploadId')
          ? 'the abort did not finish in time: retry it (the object is unchanged)'
          : method === 'POST' && params.has('uploadId')
            ? COMPLETE_NOT_FINISHED
            : 'the request did not finish in time: retry (a write may have landed: read the object to learn it)';
  return { statusCode: 503, headers, body: JSON.stringify({ error: 'Retry', message }) };
}
