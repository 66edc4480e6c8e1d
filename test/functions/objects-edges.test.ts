/**
 * The objects HTTP API (`handleObjectsRequest`) at its edges, on the local servers: what every
 * error becomes (a deliberate status, and a 500 that tells the client nothing of the deployment),
 * preconditions that must never be dropped, and GET answers that must fit a buffered Lambda
 * response however the object changes while it is read. AWS behaviour the emulators lack is
 * injected with the fault injector; the state is checked from outside.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { PutItemCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { handleObjectsRequest, MAX_BUFFERED_RESPONSE_BYTES, type ObjectsApiOptions } from '../../lib/api/objects-http.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import * as errors from '../../lib/errors.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector, onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import { refusal } from '../support/refusal.js';
import { KiB, makeWriter, randomBody, rawPutObject, snapshot, steps, type Writer } from '../tiered/harness.js';
import { captureStdout, httpEvent, jsonLines, lambdaContext } from './lambda.js';
import { uploadParts } from '../tiered/upload-session-client.js';
import { eventBody, functionUrlResponse } from '../../lib/dev/function-url.js';

let fx: Fixture;
const open: Writer[] = [];

beforeAll(async () => {
  fx = await freshFixture();
});
afterAll(() => {
  for (const w of open.splice(0)) w.close();
});

function writer(injector?: FaultInjector): Writer {
  const w = makeWriter(fx, injector !== undefined ? { injector } : {});
  open.push(w);
  return w;
}

function call(
  w: Writer,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean; query?: string } = {},
  api: ObjectsApiOptions = {},
): Promise<APIGatewayProxyStructuredResultV2> {
  return handleObjectsRequest(w.store, httpEvent(method, path, options), api);
}

function bodyOf(res: APIGatewayProxyStructuredResultV2): { error?: string; message?: string } {
  return JSON.parse(String(res.body));
}

/**
 * `POST ?uploads` of a session of two 5 MiB parts for `key` (`extra` fields in its body, `headers`
 * on the request): the answer, and what the API told `onError`.
 */
async function createTwoPartSession(
  w: Writer,
  key: string,
  options: { headers?: Record<string, string>; extra?: Record<string, unknown> } = {},
): Promise<{ res: APIGatewayProxyStructuredResultV2; errors: unknown[] }> {
  const errors: unknown[] = [];
  const res = await call(
    w,
    'POST',
    `/objects/${key}`,
    {
      query: 'uploads',
      ...(options.headers !== undefined ? { headers: options.headers } : {}),
      body: JSON.stringify({ size: 2 * 5 * 1024 * KiB, partSize: 5 * 1024 * KiB, ...options.extra }),
    },
    { onError: (err) => errors.push(err) },
  );
  return { res, errors };
}

// ---- errors --------------------------------------------------------------------------------------

/** What a deployment must not tell an HTTP client: account, roles, tables, blob keys, AWS's own words. */
const SECRET = 'secret-internals-123456789012';
const awsDenial = Object.assign(
  new Error(`User: arn:aws:sts::${SECRET}:assumed-role/writer is not authorized to perform: dynamodb:GetItem`),
  {
    name: 'AccessDeniedException',
    $metadata: { httpStatusCode: 400 },
  },
);

/** Every TierlogError class, the error it is injected as, and the answer it must get. */
const ERROR_TABLE: Array<{ name: string; error: Error; status: number; code: string; logged: boolean }> = [
  {
    name: 'ValidationError',
    error: new errors.ValidationError('range.start must be a non-negative integer', 'range'),
    status: 400,
    code: 'BadRequest',
    logged: false,
  },
  {
    name: 'VersionConflictError',
    error: new errors.VersionConflictError('k', 2, 3),
    status: 412,
    code: 'PreconditionFailed',
    logged: false,
  },
  // A GET's (the table's rows are a GET's): overtaken by writes on each read, retried; a write's is 409 Conflict.
  { name: 'ContentionError', error: new errors.ContentionError('k', 5), status: 503, code: 'Retry', logged: false },
  {
    name: 'UploadSessionNotFoundError',
    error: new errors.UploadSessionNotFoundError('upload-x'),
    status: 404,
    code: 'NoSuchUpload',
    logged: false,
  },
  {
    name: 'UploadSessionClosedError',
    error: new errors.UploadSessionClosedError('upload-x', 'completed'),
    status: 409,
    code: 'UploadCompleted',
    logged: false,
  },
  {
    name: 'UploadSessionClosedError',
    error: new errors.UploadSessionClosedError('upload-x', 'expired'),
    status: 410,
    code: 'UploadClosed',
    logged: false,
  },
  {
    name: 'UploadAssembledError',
    error: new errors.UploadAssembledError('upload-x'),
    status: 409,
    code: 'UploadAssembled',
    logged: false,
  },
  {
    name: 'InvalidPartsError',
    error: new errors.InvalidPartsError('upload-x', 'part 2 is missing'),
    status: 400,
    code: 'InvalidPart',
    logged: false,
  },
  {
    name: 'RangeNotSatisfiableError',
    error: new errors.RangeNotSatisfiableError('k', 10),
    status: 416,
    code: 'RangeNotSatisfiable',
    logged: false,
  },
  {
    name: 'InstanceClaimedError',
    error: new errors.InstanceClaimedError('0190d7a2-1c3b-7000-8000-000000000000'),
    status: 503,
    code: 'Retry',
    logged: false,
  },
  {
    name: 'UploadNotSentError',
    error: new errors.UploadNotSentError('0190d7a2-1c3b-7000-8000-000000000000'),
    status: 503,
    code: 'Retry',
    logged: false,
  },
  {
    name: 'CommitOutcomeUnknownError',
    error: new errors.CommitOutcomeUnknownError('k', '0190d7a2-1c3b-7000-8000-000000000000', awsDenial),
    status: 503,
    code: 'Retry',
    logged: false,
  },
  // A write DynamoDB refuses for the request itself (an item past 400 KB): the same request is refused again.
  {
    name: 'CommitRefusedError (ValidationError)',
    error: new errors.CommitRefusedError('k', ['ValidationError'], new Error(SECRET)),
    status: 400,
    code: 'InvalidRequest',
    logged: false,
  },
  {
    name: 'CommitRefusedError (ValidationException)',
    error: new errors.CommitRefusedError('k', ['ValidationException'], new Error(SECRET)),
    status: 400,
    code: 'InvalidRequest',
    logged: false,
  },
  // Refused for the request and for the deployment: the deployment's fault (500), not the client's.
  {
    name: 'CommitRefusedError (ValidationError and ItemCollectionSizeLimitExceeded)',
    error: new errors.CommitRefusedError(SECRET, ['ValidationError', 'ItemCollectionSizeLimitExceeded'], new Error(SECRET)),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  // An item collection past 10 GB: the deployment's limit, not the request's.
  {
    name: 'CommitRefusedError (ItemCollectionSizeLimitExceeded)',
    error: new errors.CommitRefusedError(SECRET, ['ItemCollectionSizeLimitExceeded'], new Error(SECRET)),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  // A commit DynamoDB cancelled for load alone, to the last attempt: the table is throttled, retry later.
  {
    name: 'TransactionCanceledException (ThrottlingError)',
    error: new TransactionCanceledException({
      message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError, None]',
      $metadata: { httpStatusCode: 400 },
      CancellationReasons: [{ Code: 'ThrottlingError' }, { Code: 'None' }],
    }),
    status: 503,
    code: 'SlowDown',
    logged: false,
  },
  // Server-side faults: a 500 whose body names nothing of the deployment; the error goes to onError.
  // The audit's: never thrown by a request, but a 500 that names no bucket if one ever were.
  {
    name: 'ListingError',
    error: new errors.ListingError(`bucket-${SECRET}`, `${SECRET}/`, 'a page answered twice'),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  // A blob S3 archived (a lifecycle transition, an Intelligent-Tiering archive tier): the bucket's
  // configuration, a 500 that names neither bucket nor blob.
  {
    name: 'BlobArchivedError',
    error: new errors.BlobArchivedError(`bucket-${SECRET}`, `${SECRET}/blob`, 'GLACIER', undefined),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  // The sweeper's and the audits' change-log listings': a 500 that names no table if one ever were.
  {
    name: 'TableListingError',
    error: new errors.TableListingError(`table-${SECRET}`, 'scan', 'a page answered twice'),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  // A write stopped at its invocation's deadline, nothing sent after it: its client may still be
  // waiting (the handler's own 503 is a timer the write's check can beat), told to retry.
  {
    name: 'InvocationEndedError',
    error: new errors.InvocationEndedError(SECRET, Date.UTC(2026, 0, 1)),
    status: 503,
    code: 'Retry',
    logged: false,
  },
  {
    name: 'AccessDeniedError',
    error: new errors.AccessDeniedError('GetItem', `objects-${SECRET}`, awsDenial),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  {
    name: 'ResourceMissingError',
    error: new errors.ResourceMissingError('table', `objects-${SECRET}`),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  {
    name: 'ConfigError',
    error: new errors.ConfigError(`prefix "${SECRET}" is invalid`, 'TIERLOG_PREFIX'),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  {
    name: 'CorruptItemError',
    error: new errors.CorruptItemError('item lacks a string key', `objects table objects-${SECRET}`),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  {
    name: 'ItemTooLargeError',
    error: new errors.ItemTooLargeError(`instance ${SECRET}`, new Error('Item size to update has exceeded the maximum allowed size')),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  {
    name: 'BlobMissingError',
    error: new errors.BlobMissingError('k', `blobs/${SECRET}/0190d7a2-1c3b-7000-8000-000000000000`),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  { name: 'ChangeIdConflictError', error: new errors.ChangeIdConflictError(SECRET), status: 500, code: 'InternalError', logged: true },
  {
    name: 'TierlogError',
    error: new errors.TierlogError(`commit of change ${SECRET} in phase settled`),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
  {
    name: 'Error',
    error: Object.assign(new Error(`socket hang up ${SECRET}`), { name: 'Error' }),
    status: 500,
    code: 'InternalError',
    logged: true,
  },
];

describe('every error is a deliberate status; a 500 leaks nothing', () => {
  test.each([
    ['DynamoDB', 'hvRead'],
    ['S3', 'getBlob'],
  ] as const)('%s throttling after the SDK retries is a 503 with Retry-After, not logged as a failure', async (_service, step) => {
    const setup = writer();
    await setup.store.put('errors/throttled', randomBody(20 * KiB));
    const match = step === 'hvRead' ? steps(fx.config).hvRead : onCommand('GetObject');
    const injector = new FaultInjector().add({ kind: 'throttle', match });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'GET', '/objects/errors/throttled', {}, { onError: (err) => logged.push(err) });
    expect(injector.stats.injected.throttle).toBeGreaterThan(1);
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    expect(bodyOf(res).error).toBe('SlowDown');
    expect(logged).toEqual([]);
  });

  /** A `method` of `key`, a blob's, through the Lambda handler while DynamoDB throttles every read: its answer and the JSON lines it logged. */
  async function throttledThroughHandler(method: 'GET' | 'HEAD', key: string) {
    await writer().store.put(key, randomBody(20 * KiB));
    const injector = new FaultInjector().add({ kind: 'throttle', match: steps(fx.config).hvRead });
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    try {
      const handler = createObjectsHandler({ config: fx.config, dynamodb });
      const { result, err } = await captureStdout(() => handler(httpEvent(method, `/objects/${key}`), lambdaContext('tierlog-objects')));
      return { result, lines: jsonLines(err) };
    } finally {
      dynamodb.destroy();
    }
  }

  /** The warning a throttled request's 503 is logged with: what its client was told. */
  const loggedThrottled503 = expect.objectContaining({
    level: 'WARN',
    message: 'request answered 503',
    error: 'SlowDown',
    answered: 'the service is busy: retry later',
  });

  test('the Lambda handler logs every 5xx it answers: a throttled 503 at warn, with what its client was told', async () => {
    // The ServerErrors alarm counts every 5xx and its runbook sends the operator to the log group:
    // before, a 503 with no error to report (throttling, a fenced writer, an unknown commit) left
    // nothing there.
    const { result, lines } = await throttledThroughHandler('GET', 'errors/logged-503');
    expect(result?.statusCode).toBe(503);
    expect(lines).toContainEqual(loggedThrottled503);
  });

  /**
   * Behind an HTTP API (payload 2.0, which the API serves) the client's answer carries API
   * Gateway's request id (`apigw-requestid`, the event's `requestContext.requestId`), not Lambda's
   * (`function_request_id` in the log): the operator given the id of a 500 "logged on the server"
   * found no line of it. Each line of a request's failure names the event's id too.
   */
  test("a request's 5xx is logged with the event's request id (an HTTP API's, which its client holds), a 500's and a 503's", async () => {
    const setup = writer();
    await setup.store.put('errors/logged-id', randomBody(20 * KiB));
    // A 503 (DynamoDB throttling every read) and a 500 (an S3 refusal the API does not translate).
    const throttled = new FaultInjector().add({ kind: 'throttle', match: steps(fx.config).hvRead });
    const refused = new FaultInjector().add({
      kind: 'fail',
      match: onCommand('GetObject'),
      error: () => awsServiceError('InvalidRequest', 400, 'injected: a refusal the API does not translate'),
    });
    const clients = [throttled, refused].map((injector) => ({
      dynamodb: injector.attach(createDynamoDBClient(), 'dynamodb'),
      s3: injector.attach(createS3Client(), 's3'),
    }));
    try {
      const ids: string[] = [];
      const { err } = await captureStdout(async () => {
        for (const [i, expected] of [503, 500].entries()) {
          const handler = createObjectsHandler({ config: fx.config, ...clients[i]! });
          const event = httpEvent('GET', '/objects/errors/logged-id');
          const id = `apigw-${expected}-${event.requestContext.requestId}`;
          ids.push(id);
          const res = await handler(
            { ...event, requestContext: { ...event.requestContext, requestId: id } },
            lambdaContext('tierlog-objects'),
          );
          expect(res.statusCode).toBe(expected);
        }
      });
      const lines = jsonLines(err);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'request answered 503', http_request_id: ids[0] }));
      expect(lines).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'request failed', http_request_id: ids[1] }));
    } finally {
      for (const { dynamodb, s3 } of clients) {
        dynamodb.destroy();
        s3.destroy();
      }
    }
  });

  test("a HEAD's 5xx (its headers alone to the client) is logged with what a GET's would be told: the error and its message", async () => {
    // A HEAD answers no body (RFC 9110 §9.3.2), and the handler took what it logs from the body:
    // a throttled HEAD was logged as a bare `request answered 503`, the operator the alarm sent
    // to the log group left to guess whether AWS was throttling or a writer was fenced.
    const { result, lines } = await throttledThroughHandler('HEAD', 'errors/logged-head-503');
    expect(result?.statusCode).toBe(503);
    expect(result?.body, 'a HEAD answer is its headers alone').toBeUndefined();
    expect(result?.headers?.['retry-after']).toBe('1');
    expect(lines).toContainEqual(loggedThrottled503);
  });

  /**
   * The ServerErrors runbook names the line each 5xx is logged as, and an operator greps for it: a
   * 503 for storage that answered a server error to every attempt (a fault) goes to `onError`, so
   * the handler logs it as `request failed` with its error, not as `request answered 503`, which
   * the row said.
   */
  test("a 503 for storage's server errors is logged as `request failed` with its error, as the ServerErrors runbook says", async () => {
    const key = 'errors/storage-5xx';
    await writer().store.put(key, randomBody(20 * KiB));
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: onCommand('GetObject'),
      error: () => awsServiceError('InternalError', 500, 'injected: S3 failing'),
    });
    const s3 = injector.attach(createS3Client(), 's3');
    try {
      const handler = createObjectsHandler({ config: fx.config, s3 });
      const { result, err } = await captureStdout(() => handler(httpEvent('GET', `/objects/${key}`), lambdaContext('tierlog-objects')));
      expect(result?.statusCode).toBe(503);
      const lines = jsonLines(err);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'ERROR', message: 'request failed' }));
      expect(lines.some((l) => (l as { message?: string }).message === 'request answered 503')).toBe(false);
    } finally {
      s3.destroy();
    }
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((line) => line.startsWith('| `ServerErrors`')) ?? '';
    const failed = row.slice(row.indexOf('Its log group logs each'), row.indexOf('as `request failed`'));
    expect(failed, 'the runbook logs the storage-fault 503 as `request failed`').toContain(
      'storage that did not answer or answered a server error',
    );
  });

  /**
   * A complete's commit (a transaction) held the session's item through every attempt of an abort's
   * claim (DynamoDB's TransactionConflictException, sent again 8 times): nothing was applied, and
   * the same abort succeeds once the transaction is over. It was a 500 logged as a failure, which a
   * client takes for this server broken; it is a 503 with Retry-After, as throttling is, not logged.
   */
  test('a session abort whose claim meets a transaction on every attempt: a 503 with Retry-After, not logged', async () => {
    const setup = writer();
    const key = 'errors/transaction-conflict';
    const { uploadId } = await setup.store.createUpload(key, { size: 10 });
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: atStep('session-abort-claim', fx.config),
      error: () => awsServiceError('TransactionConflictException', 400, `${SECRET} Transaction is ongoing for the item`),
    });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'DELETE', `/objects/${key}`, { query: `uploadId=${uploadId}` }, { onError: (err) => logged.push(err) });
    expect(injector.stats.injected.fail).toBeGreaterThan(1);
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    expect(JSON.stringify(res)).not.toContain(SECRET);
    expect(logged).toEqual([]);
    // Retried once the transaction is over, it aborts the session.
    expect((await call(setup, 'DELETE', `/objects/${key}`, { query: `uploadId=${uploadId}` })).statusCode).toBe(204);
  });

  /**
   * AWS answered every attempt of the SDK with a server error (S3's InternalError or
   * ServiceUnavailable, DynamoDB's InternalServerError): a fault on AWS's side that the same
   * request may not meet later. It was a 500, which a client takes for this server broken and does
   * not retry; it is a 503 with Retry-After now, told to onError (a fault, unlike throttling).
   */
  test.each([
    ['DynamoDB', 'hvRead', 'InternalServerError', 500],
    ['S3', 'getBlob', 'InternalError', 500],
    ['S3', 'getBlob', 'ServiceUnavailable', 503],
  ] as const)('%s answering %s %s to every attempt: a 503 with Retry-After, logged', async (_service, step, name, status) => {
    const setup = writer();
    await setup.store.put('errors/aws-fault', randomBody(20 * KiB));
    const match = step === 'hvRead' ? steps(fx.config).hvRead : onCommand('GetObject');
    const injector = new FaultInjector().add({ kind: 'fail', match, error: () => awsServiceError(name, status, `${SECRET} ${name}`) });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'GET', '/objects/errors/aws-fault', {}, { onError: (err) => logged.push(err) });
    expect(injector.stats.injected.fail).toBeGreaterThan(1);
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    expect(bodyOf(res).error).toBe('Retry');
    expect(JSON.stringify(res)).not.toContain(SECRET);
    expect(logged).toHaveLength(1);
  });

  /**
   * The name of DynamoDB's or S3's host not resolved for now (`EAI_AGAIN`, "try again": a resolver
   * busy or briefly out, as Lambda's is under load) on every attempt the SDK made: nothing was sent,
   * and the same request is likely answered later. It was a 500, which a client takes for this
   * server broken and does not retry; it is a 503 with Retry-After, logged, as a lost connection is.
   * A name that does not exist (`ENOTFOUND`: a wrong endpoint) stays a 500.
   */
  test.each([
    ['DynamoDB', 'hvRead', 'EAI_AGAIN', 503],
    ['S3', 'getBlob', 'EAI_AGAIN', 503],
    ['S3', 'getBlob', 'ENOTFOUND', 500],
  ] as const)('%s (%s) host name lookup failing with %s on every attempt: %d, logged', async (_service, step, code, status) => {
    const setup = writer();
    await setup.store.put('errors/dns', randomBody(20 * KiB));
    const match = step === 'hvRead' ? steps(fx.config).hvRead : onCommand('GetObject');
    const error = () => Object.assign(new Error(`getaddrinfo ${code} ${SECRET}.amazonaws.com`), { code, syscall: 'getaddrinfo' });
    const injector = new FaultInjector().add({ kind: 'fail', match, error });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'GET', '/objects/errors/dns', {}, { onError: (err) => logged.push(err) });
    expect(injector.stats.injected.fail, 'the SDK sent it again').toBeGreaterThan(1);
    expect(res.statusCode).toBe(status);
    if (status === 503) {
      expect(res.headers?.['retry-after']).toBe('1');
      expect(bodyOf(res).error).toBe('Retry');
    }
    expect(JSON.stringify(res)).not.toContain(SECRET);
    expect(logged).toHaveLength(1);
  });

  /**
   * An answer cut short on its way: DynamoDB's 200 whose body ends early (the SDK cannot parse it,
   * and its error carries the 200's status), or S3's body stream closed before its end
   * (`ERR_STREAM_PREMATURE_CLOSE`). Nothing is wrong with the object or this server, and the same
   * read is likely answered whole: it was a 500, which a client does not retry; a 503 with
   * Retry-After now, logged, as a connection reset is.
   */
  test.each([
    [
      'DynamoDB',
      'hvRead',
      () => Object.assign(new SyntaxError(`Unexpected end of JSON input ${SECRET}`), { $metadata: { httpStatusCode: 200 } }),
    ],
    ['S3', 'getBlob', () => Object.assign(new Error(`Premature close ${SECRET}`), { code: 'ERR_STREAM_PREMATURE_CLOSE' })],
  ] as const)('%s (%s) answering a GET cut short: a 503 with Retry-After, logged', async (_service, step, error) => {
    const setup = writer();
    await setup.store.put('errors/cut-short', randomBody(20 * KiB));
    const match = step === 'hvRead' ? steps(fx.config).hvRead : onCommand('GetObject');
    const injector = new FaultInjector().add({ kind: 'fail', match, error });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'GET', '/objects/errors/cut-short', {}, { onError: (err) => logged.push(err) });
    expect(injector.stats.injected.fail).toBeGreaterThan(0);
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    expect(bodyOf(res).error).toBe('Retry');
    expect(JSON.stringify(res)).not.toContain(SECRET);
    expect(logged).toHaveLength(1);
  });

  /**
   * S3 gave up reading the body of every attempt of a large PUT's upload (400 `RequestTimeout`:
   * "Your socket connection to the server was not read from or written to within the timeout
   * period", a stalled connection seen from S3's side, which the SDK takes for transient): nothing
   * was stored, and the same request is likely taken later. It was a 500, which a client takes for
   * this server broken and does not retry; it is a 503 with Retry-After, logged, as a connection
   * lost on this side is.
   */
  test('a large PUT whose upload S3 timed out on every attempt (RequestTimeout): a 503 with Retry-After, logged', async () => {
    const error = () =>
      awsServiceError(
        'RequestTimeout',
        400,
        `Your socket connection to the server was not read from or written to within the timeout period. ${SECRET}`,
      );
    const injector = new FaultInjector().add({ kind: 'fail', match: onCommand('PutObject'), error });
    const w = writer(injector);
    const logged: unknown[] = [];
    const body = { body: Buffer.from(randomBody(40 * KiB)).toString('base64'), isBase64Encoded: true };
    const res = await call(w, 'PUT', '/objects/errors/request-timeout', body, { onError: (err) => logged.push(err) });
    expect(injector.stats.injected.fail, 'the SDK sent it again').toBeGreaterThan(1);
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    expect(bodyOf(res).error).toBe('Retry');
    expect(JSON.stringify(res)).not.toContain(SECRET);
    expect(logged).toHaveLength(1);
    expect(await writer().store.head('errors/request-timeout')).toBeUndefined();
  });

  /**
   * A small PUT or DELETE whose first attempt may have applied (its answer lost, or the request
   * lost on the way: the writer cannot tell) and whose SDK retry meets another writer's
   * transaction: the store decides it by a read. Landed: the write's own answer. Not: 503, retry
   * (the outcome is unknown). Before, the raw TransactionConflictException was a logged 500.
   */
  test.each([
    ['PUT', 'loseResponse', 200],
    ['PUT', 'loseRequest', 503],
    ['DELETE', 'loseResponse', 204],
    ['DELETE', 'loseRequest', 503],
  ] as const)('a small %s with If-Match, first attempt %s, its retry meeting a transaction: %d', async (method, first, status) => {
    const key = `errors/uncertain/${method}/${first}`;
    const setup = writer();
    const { version } = await setup.store.put(key, randomBody(300));
    const match = steps(fx.config)[method === 'PUT' ? 'hvInline' : 'hvDelete'];
    const conflict = () =>
      Object.assign(new Error(`injected: Transaction is ongoing for the item ${SECRET}`), {
        name: 'TransactionConflictException',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
      });
    const injector = new FaultInjector().add({ kind: first, times: 1, match }).add({ kind: 'fail', times: 1, match, error: conflict });
    const w = writer(injector);
    const logged: unknown[] = [];
    const body = method === 'PUT' ? { body: Buffer.from(randomBody(301)).toString('base64'), isBase64Encoded: true } : {};
    const res = await call(
      w,
      method,
      `/objects/${key}`,
      { headers: { 'if-match': `"${version}"` }, ...body },
      { onError: (err) => logged.push(err) },
    );
    expect(injector.stats.injected).toMatchObject({ [first]: 1, fail: 1 });
    expect(res.statusCode).toBe(status);
    expect(logged).toEqual([]);
    expect(JSON.stringify(res)).not.toContain(SECRET);
    if (status === 503) {
      expect(bodyOf(res).error).toBe('Retry');
      expect(res.headers?.['retry-after']).toBe('1');
    }
    // From outside: the object is the write (the new version, or gone), or untouched.
    const after = await setup.store.head(key);
    if (status === 503) expect(after?.version).toBe(version);
    else if (method === 'PUT') expect(after?.version).toBe(version + 1);
    else expect(after).toBeUndefined();
  });

  test('an item pointing outside the prefix (another prefix, corrupt) is a 500 naming nothing, not a 400 showing the key', async () => {
    // Before: LtBucket refused the key with a ValidationError, answered as the client's fault (400)
    // with the blob key and the configured prefix in its message.
    const w = writer();
    const blob = `${SECRET}/b2s/01a23232-c51c-71ae-aa7c-20eff8a2902c`;
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key: 'errors/elsewhere', version: 5, blob, size: 10, createdAt: 1, updatedAt: 1, writeId: 'w', metadata: {} }),
      }),
    );
    await expect(w.store.get('errors/elsewhere')).rejects.toBeInstanceOf(errors.CorruptItemError);
    for (const maxResponseBytes of [1, undefined]) {
      const logged: unknown[] = [];
      const api = { onError: (err: unknown) => logged.push(err), ...(maxResponseBytes !== undefined ? { maxResponseBytes } : {}) };
      const res = await call(w, 'GET', '/objects/errors/elsewhere', {}, api);
      expect(res.statusCode).toBe(500);
      expect(JSON.stringify(res)).not.toContain(SECRET);
      expect(JSON.stringify(res)).not.toContain(fx.config.prefix);
      expect(logged[0]).toBeInstanceOf(errors.CorruptItemError);
    }
  });

  test.each([
    ['a content type holding CR LF (a header of its own)', { contentType: 'text/plain\r\nset-cookie: session=stolen' }],
    ['a metadata value holding a line feed', { metadata: { note: 'first line\nsecond line' } }],
    ['a metadata name that is no HTTP token', { metadata: { 'my note': 'x' } }],
    // Past Latin-1, no header byte: Node's HTTP server refuses it as it refuses a CR LF.
    ['a metadata value past Latin-1', { metadata: { note: 'caf\u00e9 \u65e5\u672c' } }],
    ['a content type past Latin-1', { contentType: 'text/plain; title=\u2603' }],
  ] as const)('an item whose answer would carry a header HTTP cannot (%s) is a 500 naming the item, never sent', async (_what, fields) => {
    // No writer of the store makes one (the store checks what it writes); another tool's item read
    // under TIERLOG_HV_ATTRIBUTES, or one edited by hand, does. Answered 200, Lambda refused the
    // result once the handler had returned it: a bodiless 502, nothing in the function's log.
    const w = writer();
    const key = `errors/header-${Object.keys(fields)[0]}-${Math.random().toString(36).slice(2)}`;
    // A blob (past the inline threshold), so that a GET past a response limit is a redirect.
    await w.store.put(key, randomBody(40 * KiB), { contentType: 'text/plain', metadata: { note: 'ok' } });
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({
          ...(await scanAll(fx.dynamodb, fx.config.objectsTable)).find((item) => item.key === key),
          ...fields,
        }),
      }),
    );
    const version = (await w.store.head(key))!.version;
    for (const [method, headers, api] of [
      ['GET', {}, {}],
      ['HEAD', {}, {}],
      ['GET', { 'if-none-match': `"${version}"` }, {}],
      // Answered by a redirect: its URL names the content type S3 is to answer with.
      ['GET', {}, { maxResponseBytes: 1, redirectExpiresInMs: 60_000 }],
    ] as const) {
      const logged: unknown[] = [];
      const res = await call(w, method, `/objects/${key}`, { headers }, { onError: (err) => logged.push(err), ...api });
      if ('metadata' in fields && (res.statusCode === 304 || res.statusCode === 307)) {
        // A 304 and a 307 carry no metadata: their headers are HTTP's.
        expect([304, 307]).toContain(res.statusCode);
        continue;
      }
      // Every header of what is answered is one Node's HTTP server (and so the dev service) sends.
      for (const [name, value] of Object.entries(res.headers ?? {})) {
        expect(() => validateHeaderName(name), `${method} header name ${JSON.stringify(name)}`).not.toThrow();
        expect(() => validateHeaderValue(name, String(value)), `${method} ${name}: ${JSON.stringify(value)}`).not.toThrow();
      }
      expect(res.statusCode, `${method} ${JSON.stringify(headers)}`).toBe(500);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toBeInstanceOf(errors.CorruptItemError);
      expect(String(logged[0])).toContain(key);
    }
  });

  test('the table names every TierlogError class lib/errors.ts exports', () => {
    const classes = Object.entries(errors)
      .filter(
        ([, value]) => typeof value === 'function' && (value === errors.TierlogError || value.prototype instanceof errors.TierlogError),
      )
      .map(([name]) => name)
      .sort();
    const tierlogRows = ERROR_TABLE.map((row) => row.name.replace(/ \(.*\)$/, '')).filter(
      (n) => n !== 'Error' && n !== 'TransactionCanceledException',
    );
    expect([...new Set(tierlogRows)].sort()).toEqual(classes);
  });

  test.each(ERROR_TABLE.map((row) => [`${row.name} (${row.error.message.slice(0, 40)})`, row] as const))('%s', async (_name, row) => {
    // The objects table's read of a GET fails with the error, as the store would throw it.
    const injector = new FaultInjector().add({ kind: 'fail', match: steps(fx.config).hvRead, times: 1, error: () => row.error });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'GET', '/objects/errors/k', {}, { onError: (err) => logged.push(err) });
    expect(res.statusCode).toBe(row.status);
    expect(res.headers?.['content-type']).toBe('application/json');
    const body = bodyOf(res);
    expect(body.error).toBe(row.code);
    expect(typeof body.message).toBe('string');
    expect(JSON.stringify(res)).not.toContain(SECRET);
    expect(JSON.stringify(res)).not.toContain('arn:aws');
    expect(logged).toEqual(row.logged ? [row.error] : []);
    if (row.status === 503) expect(res.headers?.['retry-after']).toBe('1');
    if (row.status === 416) expect(res.headers?.['content-range']).toBe('bytes */10');
  });
});

describe('an onError that throws', () => {
  // handleObjectsRequest never throws: a logger that fails on the error it is given (a circular
  // cause, a closed stream) rejected the request instead, and Lambda answered a bodiless 502.
  test.each([
    ['a 500 (AWS refused the read)', awsDenial, 500, 'InternalError'],
    ['a 503 (a connection to AWS reset)', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 503, 'Retry'],
  ] as const)('still answers %s, its own status and body', async (_name, error, status, code) => {
    const injector = new FaultInjector().add({ kind: 'fail', match: steps(fx.config).hvRead, times: 10, error: () => error });
    const w = writer(injector);
    const res = await call(
      w,
      'GET',
      '/objects/errors/thrown-logger',
      {},
      {
        onError: () => {
          throw new TypeError('Converting circular structure to JSON');
        },
      },
    );
    expect(res.statusCode).toBe(status);
    expect(bodyOf(res).error).toBe(code);
    expect(JSON.stringify(res)).not.toContain(SECRET);
  });
});

// ---- preconditions -------------------------------------------------------------------------------

describe('a precondition is never dropped', () => {
  test.each([
    ['If-None-Match: * on an existing object', { 'if-none-match': '*' }, 412],
    ['If-None-Match: "1" (not supported)', { 'if-none-match': '"1"' }, 400],
    ['If-None-Match: W/"1" (not supported)', { 'if-none-match': 'W/"1"' }, 400],
    ['If-Match with If-None-Match', { 'if-match': '"1"', 'if-none-match': '*' }, 400],
  ] as const)('DELETE with %s is refused and deletes nothing', async (_name, headers, status) => {
    const w = writer();
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      const put = await call(w, 'PUT', '/objects/pre/kept', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
      expect(put.statusCode).toBeLessThan(300);
      const before = await snapshot(fx);
      const res = await call(w, 'DELETE', '/objects/pre/kept', { headers });
      expect(res.statusCode).toBe(status);
      expect(bodyOf(res).error).toBeDefined();
      expect(await snapshot(fx)).toBe(before);
      expect((await w.store.get('pre/kept'))?.body).toEqual(body);
    }
  });

  test.each([
    ['If-Match with the weak tag of the current version', (etag: string) => ({ 'if-match': `W/${etag}` }), 412],
    ['If-Unmodified-Since without If-Match', () => ({ 'if-unmodified-since': 'Tue, 01 Dec 2099 00:00:00 GMT' }), 400],
  ] as const)('PUT and DELETE with %s are refused and change nothing', async (_name, headersOf, status) => {
    const w = writer();
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      const put = await call(w, 'PUT', '/objects/pre/weak', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
      const headers = headersOf(put.headers?.etag as string);
      const before = await snapshot(fx);
      const over = await call(w, 'PUT', '/objects/pre/weak', {
        body: Buffer.from(randomBody(40 * KiB)).toString('base64'),
        isBase64Encoded: true,
        headers,
      });
      const del = await call(w, 'DELETE', '/objects/pre/weak', { headers });
      expect([over.statusCode, del.statusCode]).toEqual([status, status]);
      expect(await snapshot(fx)).toBe(before);
      expect((await w.store.get('pre/weak'))?.body).toEqual(body);
    }
  });

  /**
   * RFC 9110 §13.2.1: a DELETE of an absent object is 404 without a precondition, so it is 404
   * with one. A DELETE with `If-Match` retried after its answer was lost (the 503 "Retry" the API
   * answers an outcome it does not know) was 412 "is at version none": to the client, its delete
   * had lost to another version that still stood, when its own delete had removed the object.
   */
  test('DELETE with If-Match of an object deleted (by its own earlier attempt) or never there is 404, as without it', async () => {
    const w = writer();
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      const put = await call(w, 'PUT', '/objects/pre/gone', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
      const headers = { 'if-match': String(put.headers?.etag) };
      expect((await call(w, 'DELETE', '/objects/pre/gone', { headers })).statusCode).toBe(204);
      const before = await snapshot(fx);
      const again = await call(w, 'DELETE', '/objects/pre/gone', { headers });
      expect([again.statusCode, bodyOf(again).error]).toEqual([404, 'NotFound']);
      expect(await snapshot(fx)).toBe(before);
    }
    const never = await call(w, 'DELETE', '/objects/pre/never-there', { headers: { 'if-match': '"7"' } });
    expect([never.statusCode, bodyOf(never).error]).toEqual([404, 'NotFound']);
    // A version that is not the one stored is still 412, and deletes nothing.
    const put = await call(w, 'PUT', '/objects/pre/gone', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    expect(put.statusCode).toBe(201);
    expect((await call(w, 'DELETE', '/objects/pre/gone', { headers: { 'if-match': '"7"' } })).statusCode).toBe(412);
    expect(await w.store.head('pre/gone')).toBeDefined();
  });

  /**
   * A weak tag in If-Match never matches (strong comparison), so it deletes nothing; but an absent
   * object is 404 whatever the condition, as the API says: a DELETE retried with the weak ETag a
   * proxy handed the client (one that compresses answers weakens their tags) after its first
   * attempt's answer was lost was told 412, a version standing, when no object was there.
   */
  test('DELETE with a weak If-Match of an object deleted or never there is 404, as with a strong one; of one there, 412', async () => {
    const w = writer();
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      const put = await call(w, 'PUT', '/objects/pre/weak-gone', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
      const weak = { 'if-match': `W/${String(put.headers?.etag)}` };
      const before = await snapshot(fx);
      const kept = await call(w, 'DELETE', '/objects/pre/weak-gone', { headers: weak });
      expect([kept.statusCode, bodyOf(kept).error]).toEqual([412, 'PreconditionFailed']);
      expect(bodyOf(kept).message).toContain('strong');
      expect(await snapshot(fx), 'nothing deleted nor recorded').toBe(before);
      expect((await call(w, 'DELETE', '/objects/pre/weak-gone')).statusCode).toBe(204);
      const gone = await snapshot(fx);
      const again = await call(w, 'DELETE', '/objects/pre/weak-gone', { headers: weak });
      expect([again.statusCode, bodyOf(again).error]).toEqual([404, 'NotFound']);
      expect(await snapshot(fx)).toBe(gone);
    }
    const never = await call(w, 'DELETE', '/objects/pre/weak-never-there', { headers: { 'if-match': 'W/"7"' } });
    expect([never.statusCode, bodyOf(never).error]).toEqual([404, 'NotFound']);
  });

  /**
   * S3's DeleteObject takes conditions of its own beside If-Match (`x-amz-if-match-size`,
   * `x-amz-if-match-last-modified-time`) and checks (`x-amz-mfa`, `x-amz-expected-bucket-owner`);
   * the API evaluated none and deleted the object, 204, whatever they said. An `x-tierlog-*`
   * expiry on a DELETE ("delete it then") deleted it now. Refused, as an abort refuses them.
   */
  test.each([
    ['x-amz-if-match-size of another size', { 'x-amz-if-match-size': '1' }],
    ['x-amz-if-match-last-modified-time of another time', { 'x-amz-if-match-last-modified-time': 'Tue, 01 Dec 2020 00:00:00 GMT' }],
    ['x-amz-mfa', { 'x-amz-mfa': '123456 000000' }],
    ['x-amz-expected-bucket-owner', { 'x-amz-expected-bucket-owner': '123456789012' }],
    ['x-tierlog-expires-at (a delete later)', { 'x-tierlog-expires-at': '2099-01-01T00:00:00Z' }],
    ['x-tierlog-ttl', { 'x-tierlog-ttl': '60' }],
  ] as const)('DELETE with %s is 400 and deletes nothing', async (_name, headers) => {
    const w = writer();
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      await call(w, 'PUT', '/objects/pre/s3-conditions', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
      const before = await snapshot(fx);
      const res = await call(w, 'DELETE', '/objects/pre/s3-conditions', { headers });
      expect([res.statusCode, bodyOf(res).message]).toEqual([400, expect.stringContaining(Object.keys(headers)[0]!)]);
      expect(await snapshot(fx)).toBe(before);
      expect((await w.store.get('pre/s3-conditions'))?.body).toEqual(body);
    }
  });

  test("DELETE takes SigV4's headers (a Function URL with IAM auth) and x-tierlog-stored (an answer's, copied back): 204", async () => {
    const w = writer();
    await call(w, 'PUT', '/objects/pre/signed', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const headers = {
      'x-amz-date': '20261204T000000Z',
      'x-amz-content-sha256': createHash('sha256').digest('hex'),
      'x-amz-security-token': 'token',
      'x-tierlog-stored': 'inline',
    };
    expect((await call(w, 'DELETE', '/objects/pre/signed', { headers })).statusCode).toBe(204);
    expect(await w.store.head('pre/signed')).toBeUndefined();
  });

  /**
   * A DELETE's content has no meaning here (RFC 9110 §9.3.5), and it was ignored: a client that put
   * its condition in the body, as the library takes it (`{ "ifVersion": 3 }`), deleted the object
   * whatever its version, 204, and one that named a session there (`{ "uploadId": … }`, an abort)
   * deleted the object and left the session open. Refused, as every request that asks for what the
   * API does not do: 400, nothing deleted. An empty body is none.
   */
  test.each([
    ['a condition as the library takes it', '{"ifVersion":1}', false],
    ['a session to abort', '{"uploadId":"upload-x"}', false],
    ['bytes, base64', Buffer.from('x').toString('base64'), true],
  ] as const)('DELETE with content (%s) is 400 and deletes nothing', async (_name, body, isBase64Encoded) => {
    const w = writer();
    const kept = randomBody(10);
    await call(w, 'PUT', '/objects/pre/delete-content', { body: Buffer.from(kept).toString('base64'), isBase64Encoded: true });
    await call(w, 'PUT', '/objects/pre/delete-content', { body: Buffer.from(kept).toString('base64'), isBase64Encoded: true });
    const before = await snapshot(fx);
    const headers = { 'content-type': isBase64Encoded ? 'application/octet-stream' : 'application/json' };
    const res = await call(w, 'DELETE', '/objects/pre/delete-content', { headers, body, isBase64Encoded });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res)).toEqual({ error: 'BadRequest', message: expect.stringContaining('content') });
    expect(await snapshot(fx)).toBe(before);
    expect((await w.store.get('pre/delete-content'))?.body).toEqual(kept);
    // A session's abort takes none either (a part number there would end every part).
    const created = await call(w, 'POST', '/objects/pre/delete-content-session', { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    const { uploadId } = JSON.parse(String(created.body)) as { uploadId: string };
    const abort = await call(w, 'DELETE', '/objects/pre/delete-content-session', {
      query: `uploadId=${uploadId}`,
      headers,
      body: isBase64Encoded ? body : '{"partNumber":2}',
      isBase64Encoded,
    });
    expect(abort.statusCode).toBe(400);
    const listed = await call(w, 'GET', '/objects/pre/delete-content-session', { query: `uploadId=${uploadId}` });
    expect(listed.statusCode).toBe(200);
    // Without content (an empty body is none), both go through.
    expect((await call(w, 'DELETE', '/objects/pre/delete-content', { body: '' })).statusCode).toBe(204);
    expect((await call(w, 'DELETE', '/objects/pre/delete-content-session', { query: `uploadId=${uploadId}` })).statusCode).toBe(204);
  });

  /**
   * An abort's refusal of its content gave an object DELETE's way out: "its condition is If-Match
   * (or If-None-Match: *), a session is aborted by DELETE ?uploadId=…". Followed, the abort with
   * If-Match is 400 again (a session's condition is given at its create), and it was a DELETE
   * ?uploadId=… already. It names the abort's: uploadId alone, no condition.
   */
  test("a session's abort with content: its refusal names the abort's way out, not an object DELETE's", async () => {
    const w = writer();
    const created = await call(w, 'POST', '/objects/pre/abort-content', { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    const { uploadId } = JSON.parse(String(created.body)) as { uploadId: string };
    const res = await call(w, 'DELETE', '/objects/pre/abort-content', {
      query: `uploadId=${uploadId}`,
      headers: { 'content-type': 'application/json' },
      body: '{"ifVersion":1}',
    });
    expect(res.statusCode).toBe(400);
    const { message } = bodyOf(res);
    expect(message).not.toContain('If-Match');
    expect(message).toContain('uploadId alone');
    // Its advice followed: the abort with a condition is refused; with none, it aborts.
    const conditioned = await call(w, 'DELETE', '/objects/pre/abort-content', {
      query: `uploadId=${uploadId}`,
      headers: { 'if-match': '"1"' },
    });
    expect(conditioned.statusCode).toBe(400);
    expect((await call(w, 'DELETE', '/objects/pre/abort-content', { query: `uploadId=${uploadId}` })).statusCode).toBe(204);
  });

  test('DELETE with If-None-Match: * of an absent object is 404 and writes nothing', async () => {
    const w = writer();
    const before = await snapshot(fx);
    const res = await call(w, 'DELETE', '/objects/pre/absent', { headers: { 'if-none-match': '*' } });
    expect(res.statusCode).toBe(404);
    expect(await snapshot(fx)).toBe(before);
  });
});

// ---- the key is the path alone ----------------------------------------------------------------------

describe('a write names its object by the path alone', () => {
  test.each([
    ['PUT', 'y'],
    ['PUT', 'x=1'],
    ['DELETE', 'y'],
  ] as const)('%s /objects/q/a?%s (a key whose ? arrived unencoded) is refused and writes nothing', async (method, query) => {
    const w = writer();
    const body = randomBody(10);
    const put = await call(w, 'PUT', '/objects/q/a', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
    expect(put.statusCode).toBeLessThan(300);
    const before = await snapshot(fx);
    const res = await call(w, method, '/objects/q/a', {
      query,
      ...(method === 'PUT' ? { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true } : {}),
    });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain('query string');
    expect(await snapshot(fx)).toBe(before);
    expect((await w.store.get('q/a'))?.body).toEqual(body);
  });

  test('a percent-encoded ? is part of the key', async () => {
    const w = writer();
    const body = randomBody(10);
    const put = await call(w, 'PUT', '/objects/q/a%3Fy', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
    expect(put.statusCode).toBeLessThan(300);
    expect((await w.store.get('q/a?y'))?.body).toEqual(body);
  });

  test('a key is taken as sent: NFC and NFD are two keys; `..` segments, sent or with `/` encoded, are the same key', async () => {
    const w = writer();
    const [composed, decomposed] = [randomBody(10), randomBody(11)];
    await call(w, 'PUT', '/objects/q/caf%C3%A9', { body: Buffer.from(composed).toString('base64'), isBase64Encoded: true });
    await call(w, 'PUT', '/objects/q/cafe%CC%81', { body: Buffer.from(decomposed).toString('base64'), isBase64Encoded: true });
    expect((await w.store.get('q/caf\u00e9'))?.body).toEqual(composed);
    expect((await w.store.get('q/cafe\u0301'))?.body).toEqual(decomposed);
    const dotted = randomBody(12);
    await call(w, 'PUT', '/objects/q/a/../b', { body: Buffer.from(dotted).toString('base64'), isBase64Encoded: true });
    expect((await w.store.get('q/a/../b'))?.body).toEqual(dotted);
    expect(await w.store.head('q/b')).toBeUndefined();
    const read = await call(w, 'GET', '/objects/q%2Fa%2F..%2Fb');
    expect(Buffer.from(String(read.body), 'base64')).toEqual(Buffer.from(dotted));
  });

  test('a GET ignores a query string (a cache buster)', async () => {
    const w = writer();
    const body = randomBody(10);
    await call(w, 'PUT', '/objects/q/read', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
    const res = await call(w, 'GET', '/objects/q/read', { query: 't=123' });
    expect(res.statusCode).toBe(200);
    expect(Buffer.from(String(res.body), 'base64')).toEqual(Buffer.from(body));
  });
});

/** `event` as an HTTP API delivers it: on `stage`, through its default endpoint or a custom domain. */
function onHttpApi(event: ReturnType<typeof httpEvent>, stage: string, domain: 'default endpoint' | 'custom domain') {
  const domainName = domain === 'default endpoint' ? 'a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com' : 'storage.example.com';
  return {
    ...event,
    headers: { ...event.headers, host: domainName },
    requestContext: { ...event.requestContext, apiId: 'a1b2c3d4e5', domainName, domainPrefix: domainName.split('.')[0] ?? '', stage },
  };
}

describe("an HTTP API's stage is not part of the key", () => {
  test('on a named stage of the default endpoint, /<stage>/objects/k is the object k, written, read and deleted', async () => {
    const w = writer();
    const body = randomBody(10);
    const send = (method: string, path: string, options: Parameters<typeof httpEvent>[2] = {}) =>
      handleObjectsRequest(w.store, onHttpApi(httpEvent(method, path, options), 'prod', 'default endpoint'));
    const put = await send('PUT', '/prod/objects/stage/k', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
    expect(put.statusCode).toBe(201);
    expect((await w.store.get('stage/k'))?.body).toEqual(body);
    expect(await w.store.head('prod/objects/stage/k')).toBeUndefined();
    const read = await send('GET', '/prod/objects/stage/k');
    expect(Buffer.from(String(read.body), 'base64')).toEqual(Buffer.from(body));
    expect((await send('DELETE', '/prod/objects/stage/k')).statusCode).toBe(204);
    expect(await w.store.head('stage/k')).toBeUndefined();
  });

  test.each([
    { through: 'a custom domain', stage: 'objects', domain: 'custom domain', path: '/objects/objects/k', key: 'objects/k' },
    {
      through: 'the $default stage',
      stage: '$default',
      domain: 'default endpoint',
      path: '/objects/prod/objects/k',
      key: 'prod/objects/k',
    },
  ] as const)('a key whose first segment is a stage name keeps it: through $through', async ({ stage, domain, path, key }) => {
    const w = writer();
    const body = randomBody(10);
    const event = onHttpApi(httpEvent('PUT', path, { body: Buffer.from(body).toString('base64'), isBase64Encoded: true }), stage, domain);
    expect((await handleObjectsRequest(w.store, event)).statusCode).toBe(201);
    expect((await w.store.get(key))?.body).toEqual(body);
    expect(await w.store.head('k'), 'a key cut at its first segment').toBeUndefined();
  });

  test("a custom domain's mapping path is no route: 404, nothing written", async () => {
    const w = writer();
    const before = await snapshot(fx);
    const mapped = onHttpApi(
      httpEvent('PUT', '/storage/objects/k', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true }),
      'prod',
      'custom domain',
    );
    expect((await handleObjectsRequest(w.store, mapped)).statusCode).toBe(404);
    expect(await snapshot(fx)).toBe(before);
  });
});

describe('a key with % through an HTTP API, which passes the path decoded', () => {
  // The client's `a%2541` (the key `a%41`) reaches the function as `a%41`; decoded again it is `aA`.
  const viaHttpApi = (w: ReturnType<typeof writer>, method: string, path: string, options: Parameters<typeof httpEvent>[2] = {}) =>
    handleObjectsRequest(w.store, onHttpApi(httpEvent(method, path, options), '$default', 'custom domain'));

  test.each(['PUT', 'DELETE', 'GET', 'HEAD'])('a %s is refused (400 naming the Function URL), and no object changes', async (method) => {
    const w = writer();
    const other = randomBody(10);
    await w.store.put('pct/aA', other);
    const res = await viaHttpApi(
      w,
      method,
      '/objects/pct/a%41',
      method === 'PUT' ? { body: Buffer.from('x').toString('base64'), isBase64Encoded: true } : {},
    );
    expect(res.statusCode).toBe(400);
    if (method !== 'HEAD') expect(String(res.body)).toMatch(/HTTP API.*decoded.*Function URL/);
    expect((await w.store.get('pct/aA'))?.body, 'the object the path decodes to again is untouched').toEqual(other);
    expect(await w.store.head('pct/a%41')).toBeUndefined();
  });

  /**
   * `a%25zz` (the key `a%zz`, its `%` encoded as it should be) reaches the function as `a%zz`: it
   * was refused as "not valid percent-encoding", which the client's path was, and sent nowhere.
   */
  test.each(['PUT', 'GET'])(
    'a %s of a key whose decoded % is followed by no two hex digits names the HTTP API, not the encoding',
    async (method) => {
      const w = writer();
      const before = await snapshot(fx);
      const res = await viaHttpApi(
        w,
        method,
        '/objects/pct/a%zz',
        method === 'PUT' ? { body: Buffer.from('x').toString('base64'), isBase64Encoded: true } : {},
      );
      expect(res.statusCode).toBe(400);
      expect(String(res.body)).toMatch(/HTTP API.*decoded.*Function URL/);
      expect(String(res.body)).not.toContain('not valid percent-encoding');
      expect(await snapshot(fx)).toBe(before);
    },
  );

  test('through the Function URL the same key, sent encoded, is written and deleted as itself', async () => {
    const w = writer();
    const put = await call(w, 'PUT', '/objects/pct/a%2541', { body: Buffer.from('y').toString('base64'), isBase64Encoded: true });
    expect(put.statusCode).toBe(201);
    expect((await w.store.get('pct/a%41'))?.body).toEqual(new Uint8Array(Buffer.from('y')));
    expect((await call(w, 'DELETE', '/objects/pct/a%2541')).statusCode).toBe(204);
    expect(await w.store.head('pct/a%41')).toBeUndefined();
  });

  test('a key without % through an HTTP API is served as before (a space arrives decoded)', async () => {
    const w = writer();
    const put = await viaHttpApi(w, 'PUT', '/objects/pct/with space', { body: Buffer.from('z').toString('base64'), isBase64Encoded: true });
    expect(put.statusCode).toBe(201);
    expect((await w.store.get('pct/with space'))?.body).toEqual(new Uint8Array(Buffer.from('z')));
  });
});

describe("a session's complete whose commit DynamoDB never answered", () => {
  /**
   * Its 503 carried the error's own words ("outcome of the commit … is unknown") and the runbook's
   * way out, read the object, which cannot tell the complete's commit from another writer's
   * version: a client that took what it read for its own left its upload to expire. It says to
   * retry the complete, which answers the result of a commit that landed, or commits.
   */
  test('is a 503 Retry that says to retry the complete, which then completes', async () => {
    const w = writer();
    const key = 'sessions/outcome-unknown';
    const body = randomBody(10 * KiB);
    const { uploadId } = await w.store.createUpload(key, { size: body.byteLength });
    const parts = await uploadParts(w.store, uploadId, body, 5 * 1024 * KiB);
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: steps(fx.config).commit,
      error: () => awsServiceError('InternalServerError', 500),
    });
    const failing = writer(injector);
    const complete = httpEvent('POST', `/objects/${key}`, { query: `uploadId=${uploadId}`, body: JSON.stringify({ parts }) });
    const res = await handleObjectsRequest(failing.store, complete);
    expect(injector.stats.injected.fail).toBeGreaterThan(0);
    expect(res.statusCode).toBe(503);
    expect(res.headers?.['retry-after']).toBe('1');
    const { error, message } = bodyOf(res);
    expect(error).toBe('Retry');
    expect(message).toMatch(/outcome is unknown: retry it \(a complete that committed answers its result again/);
    // Retried as it says: the upload completes.
    const retried = await handleObjectsRequest(w.store, complete);
    expect(retried.statusCode).toBe(201);
    expect((await w.store.get(key))?.body).toEqual(body);
  });
});

describe("a session's abort or complete names its session by uploadId alone", () => {
  /**
   * `DELETE ?uploadId=…&partNumber=2` reads as "delete part 2", which S3 has no such request for:
   * the whole session was aborted (its upload, its parts, its item), the part number ignored. A
   * complete with a part number, or anything else beside `uploadId`, was taken as a complete too.
   * Refused (400), nothing ended or committed: an ambiguous request never drives a destructive one.
   */
  test.each([
    ['DELETE', 'partNumber=2'],
    ['DELETE', 'x-id=AbortMultipartUpload'],
    ['POST', 'partNumber=1'],
  ] as const)('%s ?uploadId=…&%s is 400; the session, its upload and its parts stay', async (method, extra) => {
    const w = writer();
    const key = `sessions/alone/${method}/${extra}`;
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    const sent = await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    expect(sent.ok).toBe(true);
    const etag = String(sent.headers.get('etag'));
    const before = await snapshot(fx);
    const res = await call(w, method, `/objects/${key}`, {
      query: `uploadId=${uploadId}&${extra}`,
      ...(method === 'POST' ? { body: JSON.stringify({ parts: [{ partNumber: 1, etag }] }) } : {}),
    });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain('uploadId alone');
    expect(await snapshot(fx)).toBe(before);
    expect(await w.store.head(key)).toBeUndefined();
    // Still open: its part is there, and it completes.
    expect((await w.store.listUploadParts(uploadId, { key })).map((p) => p.partNumber)).toEqual([1]);
    const done = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      body: JSON.stringify({ parts: [{ partNumber: 1, etag }] }),
    });
    expect(done.statusCode).toBe(201);
  });
});

// ---- what a write is asked to do is done, or refused ------------------------------------------------

describe('a write does what it was asked, or nothing', () => {
  /**
   * Each PUT asks for something the API does not do, and each was stored as if it were a plain
   * PUT: a Content-Range part replaced the whole object (RFC 9110 14.5: MUST be 400), a gzip body
   * was stored and answered as gzip bytes with no Content-Encoding, a Content-MD5 that the body
   * does not match was not checked, a misspelt expiry header left an object that never
   * expires, and S3's copy (`x-amz-copy-source`, an empty body) or append replaced the object with
   * the body sent. Each is refused now, and nothing is written.
   */
  const md5 = (bytes: Uint8Array) => createHash('md5').update(bytes).digest('base64');
  test.each([
    ['Content-Range (a partial update)', { 'content-range': 'bytes 0-9/100' }, 400, 'BadRequest'],
    ['Content-Encoding: gzip', { 'content-encoding': 'gzip' }, 415, 'UnsupportedMediaType'],
    ['Content-Encoding: br, gzip', { 'content-encoding': 'br, gzip' }, 415, 'UnsupportedMediaType'],
    ['a Content-MD5 of other bytes', { 'content-md5': md5(Buffer.from('other')) }, 400, 'BadDigest'],
    ['a Content-MD5 that is not one', { 'content-md5': 'not-an-md5' }, 400, 'BadDigest'],
    // The body is 10 bytes: one that did not arrive as sent (cut, or decoded by the front door) is not stored.
    ['a Content-Length of more bytes than the body', { 'content-length': '11' }, 400, 'BadRequest'],
    ['a Content-Length of fewer bytes than the body', { 'content-length': '9' }, 400, 'BadRequest'],
    // Stored as '', answered as an empty Content-Type (no media type), and as S3's default by a 307.
    ['an empty Content-Type', { 'content-type': '' }, 400, 'BadRequest'],
    ['x-tierlog-expires (a misspelt expiry)', { 'x-tierlog-expires': '2030-01-01' }, 400, 'BadRequest'],
    ['x-tierlog-ttl-seconds', { 'x-tierlog-ttl-seconds': '60' }, 400, 'BadRequest'],
    ["x-amz-copy-source (S3's copy)", { 'x-amz-copy-source': '/bucket/other' }, 400, 'BadRequest'],
    ["x-amz-write-offset-bytes (S3's append)", { 'x-amz-write-offset-bytes': '10' }, 400, 'BadRequest'],
    ['x-amz-checksum-sha256 (not verified here)', { 'x-amz-checksum-sha256': 'AAAA' }, 400, 'BadRequest'],
    [
      'x-amz-object-lock-mode (a retention not kept)',
      { 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-object-lock-retain-until-date': '2099-01-01T00:00:00Z' },
      400,
      'BadRequest',
    ],
    ['x-amz-object-lock-legal-hold', { 'x-amz-object-lock-legal-hold': 'ON' }, 400, 'BadRequest'],
    [
      "x-amz-server-side-encryption-customer-* (the client's key)",
      { 'x-amz-server-side-encryption-customer-algorithm': 'AES256', 'x-amz-server-side-encryption-customer-key': 'a2V5' },
      400,
      'BadRequest',
    ],
    ['x-amz-tagging', { 'x-amz-tagging': 'temp=true' }, 400, 'BadRequest'],
    ['x-amz-storage-class: GLACIER', { 'x-amz-storage-class': 'GLACIER' }, 400, 'BadRequest'],
    ['x-amz-acl: public-read', { 'x-amz-acl': 'public-read' }, 400, 'BadRequest'],
    ['x-amz-website-redirect-location', { 'x-amz-website-redirect-location': '/other' }, 400, 'BadRequest'],
    [
      'an x-amz-content-sha256 of other bytes',
      { 'x-amz-content-sha256': createHash('sha256').update('other').digest('hex') },
      400,
      'XAmzContentSHA256Mismatch',
    ],
    [
      'x-amz-content-sha256: STREAMING-… (an aws-chunked body, signatures inside)',
      { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' },
      400,
      'BadRequest',
    ],
  ] as const)('PUT with %s is refused; the object stays', async (_name, headers, status, code) => {
    const w = writer();
    for (const [i, kept] of [randomBody(10), randomBody(40 * KiB)].entries()) {
      const key = `asked/${code}/${i}`;
      await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from(kept).toString('base64'), isBase64Encoded: true });
      const before = await snapshot(fx);
      const res = await call(w, 'PUT', `/objects/${key}`, {
        body: Buffer.from(randomBody(10)).toString('base64'),
        isBase64Encoded: true,
        headers,
      });
      expect(res.statusCode).toBe(status);
      expect(bodyOf(res).error).toBe(code);
      if (status === 415) expect(res.headers?.['accept-encoding']).toBe('identity');
      expect(await snapshot(fx)).toBe(before);
      expect((await w.store.get(key))?.body).toEqual(kept);
    }
  });

  test.each([
    ['Content-MD5 of the body', (b: Uint8Array) => ({ 'content-md5': md5(b) })],
    ['Content-Encoding: identity', () => ({ 'content-encoding': 'identity' })],
    ['Content-Length of the body', (b: Uint8Array) => ({ 'content-length': String(b.byteLength) })],
    ['x-tierlog-stored (a response header, copied back)', () => ({ 'x-tierlog-stored': 'blob' })],
    [
      'SigV4 headers (a Function URL with IAM auth)',
      () => ({ 'x-amz-date': '20261202T000000Z', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-security-token': 't' }),
    ],
    ['x-amz-content-sha256 of the body', (b: Uint8Array) => ({ 'x-amz-content-sha256': createHash('sha256').update(b).digest('hex') })],
    [
      'x-amz-acl: private, x-amz-storage-class: STANDARD (what every object is), x-amz-user-agent',
      () => ({ 'x-amz-acl': 'private', 'x-amz-storage-class': 'STANDARD', 'x-amz-user-agent': 'aws-sdk-js' }),
    ],
  ] as const)('PUT with %s is taken', async (_name, headersOf) => {
    const w = writer();
    const body = randomBody(40 * KiB);
    const res = await call(w, 'PUT', '/objects/asked/ok', {
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
      headers: headersOf(body),
    });
    expect(res.statusCode).toBeLessThan(300);
    expect((await w.store.get('asked/ok'))?.body).toEqual(body);
  });

  /**
   * Lambda passes a body whose Content-Type is text (`text/*`, JSON, XML) as a string, decoded as
   * UTF-8 (the local Function URL does as it does): a Latin-1 text's `é` (one byte, not UTF-8)
   * arrived as U+FFFD, and the PUT stored those three bytes in its place, 201, another body than
   * the one sent. Its Content-Length tells: 400, nothing written. Sent as binary, it is stored as sent.
   */
  test('a text body that did not arrive as sent (not UTF-8) is 400 by its Content-Length; as binary, stored', async () => {
    const w = writer();
    const key = 'asked/latin-1';
    const sent = Buffer.from('caf\xe9 cr\xe8me', 'latin1');
    const put = (contentType: string) => {
      const headers = { 'content-type': contentType, 'content-length': String(sent.byteLength) };
      return handleObjectsRequest(w.store, { ...httpEvent('PUT', `/objects/${key}`, { headers }), ...eventBody(sent, headers) });
    };
    const before = await snapshot(fx);
    const res = await put('text/plain; charset=iso-8859-1');
    expect([res.statusCode, bodyOf(res).message]).toEqual([400, expect.stringContaining('Content-Length')]);
    expect(await snapshot(fx)).toBe(before);
    expect((await put('application/octet-stream')).statusCode).toBe(201);
    expect(Buffer.from((await w.store.get(key))!.body)).toEqual(sent);
  });

  /**
   * `GET ?partNumber=2` is S3's read of one part of a multipart object (206); without `uploadId` it
   * names no session here, and the whole object came back as a 200. Refused, as a PUT or DELETE
   * with it already was; so is a session's create with it.
   */
  test.each(['GET', 'HEAD', 'POST'] as const)('%s ?partNumber=… without uploadId is 400', async (method) => {
    const w = writer();
    await call(w, 'PUT', '/objects/asked/part', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const before = await snapshot(fx);
    const res = await call(w, method, '/objects/asked/part', {
      query: method === 'POST' ? 'uploads&partNumber=2' : 'partNumber=2',
      ...(method === 'POST' ? { body: JSON.stringify({ size: 10 }) } : {}),
    });
    expect(res.statusCode).toBe(400);
    if (method !== 'HEAD') expect(bodyOf(res).message).toContain('uploadId');
    expect(await snapshot(fx)).toBe(before);
  });

  /**
   * `GET ?versionId=…` is S3's read of one version; here a version is the ETag, and only the
   * current one is answered: the current version came back as a 200 to a request for another.
   */
  test.each(['GET', 'HEAD'] as const)('%s ?versionId=… is 400 (only the current version is answered)', async (method) => {
    const w = writer();
    const put = await call(w, 'PUT', '/objects/asked/version', {
      body: Buffer.from(randomBody(10)).toString('base64'),
      isBase64Encoded: true,
    });
    const version = JSON.parse(String(put.body)).version as number;
    await call(w, 'PUT', '/objects/asked/version', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const res = await call(w, method, '/objects/asked/version', { query: `versionId=${version}` });
    expect(res.statusCode).toBe(400);
  });

  /**
   * S3's `response-*` query parameters ask GetObject to answer with other headers (a download as
   * an attachment, another type or encoding): ignored, the object came back as a 200 under its
   * stored headers, not those asked for (a redirect's URL names only the stored type). Refused.
   */
  test.each([
    ['GET', 'response-content-disposition=attachment%3B%20filename%3D%22a.html%22'],
    ['GET', 'response-content-type=text%2Fplain'],
    ['HEAD', 'response-cache-control=no-store'],
  ] as const)('%s ?%s is 400 (the answer would not carry the header asked for)', async (method, query) => {
    const w = writer();
    await call(w, 'PUT', '/objects/asked/response', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const res = await call(w, method, '/objects/asked/response', { query });
    expect(res.statusCode).toBe(400);
    if (method !== 'HEAD') expect(bodyOf(res).message).toContain('response-');
  });

  /**
   * S3's object subresources (`?tagging`, `?acl`, `?attributes`, `?retention`, `?legal-hold`,
   * `?torrent`): an S3 client addressing this API path-style (bucket `objects`) asks GetObjectTagging
   * or GetObjectAcl with them, and got the object's bytes as a 200, the answer to another request.
   * Refused; any other query of a read (a cache buster) is still ignored.
   */
  test.each([
    ['GET', 'tagging'],
    ['GET', 'acl'],
    ['GET', 'attributes'],
    ['GET', 'retention'],
    ['GET', 'legal-hold'],
    ['GET', 'torrent'],
    ['HEAD', 'tagging'],
  ] as const)('%s ?%s (an S3 subresource, not the object) is 400', async (method, query) => {
    const w = writer();
    await call(w, 'PUT', '/objects/asked/subresource', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const res = await call(w, method, '/objects/asked/subresource', { query });
    expect(res.statusCode).toBe(400);
    if (method !== 'HEAD') expect(bodyOf(res).message).toContain(query);
    expect((await call(w, method, '/objects/asked/subresource', { query: `t=1&x-id=${query}` })).statusCode).toBe(200);
  });

  /**
   * A session's create took the expiry and precondition headers as a PUT does, but dropped its
   * `x-amz-meta-*` headers (S3's CreateMultipartUpload takes metadata so): the object committed
   * without them, 201. Taken now; with metadata in the body too, 400.
   */
  test("a session's create takes x-amz-meta-* headers as a PUT does; with body metadata too, 400", async () => {
    const w = writer();
    const key = 'asked/session-meta';
    const created = await call(w, 'POST', `/objects/${key}`, {
      query: 'uploads',
      headers: { 'x-amz-meta-owner': 'bob', 'content-type': 'application/json' },
      body: JSON.stringify({ size: 10 }),
    });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    const sent = await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const done = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      body: JSON.stringify({ parts: [{ partNumber: 1, etag: String(sent.headers.get('etag')) }] }),
    });
    expect(done.statusCode).toBe(201);
    expect((await call(w, 'HEAD', `/objects/${key}`)).headers?.['x-amz-meta-owner']).toBe('bob');

    const before = await snapshot(fx);
    const both = await call(w, 'POST', `/objects/${key}`, {
      query: 'uploads',
      headers: { 'x-amz-meta-owner': 'bob' },
      body: JSON.stringify({ size: 10, metadata: { owner: 'alice' } }),
    });
    expect(both.statusCode).toBe(400);
    expect(await snapshot(fx)).toBe(before);
  });

  /**
   * A metadata name the store refuses is a 400, whichever it is. `x-amz-meta-__proto__` was
   * assigned to a plain object, which set its prototype instead of an entry: the PUT (or the
   * session's create) was answered 201 and the object stored without that metadata.
   */
  test.each([
    ['PUT', { 'x-amz-meta-__proto__': 'x' }],
    ['PUT', { 'x-amz-meta-__proto__': 'x', 'x-amz-meta-owner': 'bob' }],
    ['POST ?uploads', { 'x-amz-meta-__proto__': 'x' }],
  ] as const)('%s with %o is 400 and writes nothing, as any name the store refuses', async (route, headers) => {
    const w = writer();
    const key = `asked/proto-meta/${Object.keys(headers).length}`;
    await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const before = await snapshot(fx);
    const res =
      route === 'PUT'
        ? await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true, headers })
        : await call(w, 'POST', `/objects/${key}`, { query: 'uploads', headers, body: JSON.stringify({ size: 10 }) });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain('__proto__');
    expect(await snapshot(fx)).toBe(before);
  });
});

describe('a write takes no header of the object that it would not store', () => {
  /**
   * S3's PutObject and CreateMultipartUpload store these with the object and answer them on every
   * GET; the API stores none. Each write was answered 201 and its reads came back without it: a
   * download meant as an attachment opened inline, an `Expires` meant as an expiry never expired.
   */
  test.each([
    ['Content-Disposition', { 'content-disposition': 'attachment; filename="report.pdf"' }],
    ['Content-Language', { 'content-language': 'fr' }],
    ['Expires (not an expiry here)', { expires: 'Thu, 01 Jan 2099 00:00:00 GMT' }],
    ['Cache-Control: max-age=3600', { 'cache-control': 'max-age=3600' }],
    ['Cache-Control: public, immutable', { 'cache-control': 'public, immutable' }],
  ] as const)('PUT and POST ?uploads with %s are 400 and write nothing', async (_name, headers) => {
    const w = writer();
    const name = Object.keys(headers)[0]!;
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      const before = await snapshot(fx);
      const put = await call(w, 'PUT', '/objects/asked/unstored', {
        body: Buffer.from(body).toString('base64'),
        isBase64Encoded: true,
        headers,
      });
      expect([put.statusCode, bodyOf(put).message]).toEqual([400, expect.stringContaining(name)]);
      expect(await snapshot(fx)).toBe(before);
    }
    const before = await snapshot(fx);
    const created = await call(w, 'POST', '/objects/asked/unstored', { query: 'uploads', headers });
    expect([created.statusCode, bodyOf(created).message]).toEqual([400, expect.stringContaining(name)]);
    expect(await snapshot(fx)).toBe(before);
  });

  /** What `fetch` adds to any request of a `cache` mode (`no-store`, `reload`: no-cache; `no-cache`: max-age=0): a request's, taken. */
  test.each(['no-cache', 'max-age=0', 'no-cache, max-age=0'])('PUT and POST ?uploads with Cache-Control: %s are taken', async (value) => {
    const w = writer();
    const headers = { 'cache-control': value };
    const put = await call(w, 'PUT', '/objects/asked/no-cache', {
      body: Buffer.from(randomBody(10)).toString('base64'),
      isBase64Encoded: true,
      headers,
    });
    expect(put.statusCode).toBeLessThan(300);
    expect((await call(w, 'POST', '/objects/asked/no-cache', { query: 'uploads', headers })).statusCode).toBe(201);
  });
});

describe("a session's create takes its lifetime from the body", () => {
  test('expiresInMs: the session (and so its part URLs) lives that long, not the default day', async () => {
    const w = writer();
    const before = Date.now();
    const created = await call(w, 'POST', '/objects/sessions/lifetime', {
      query: 'uploads',
      body: JSON.stringify({ size: 10, expiresInMs: 3_600_000 }),
    });
    expect(created.statusCode).toBe(201);
    const { expiresAt, parts } = JSON.parse(String(created.body)) as { expiresAt: number; parts: Array<{ url: string }> };
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
    expect(Number(new URL(parts[0]!.url).searchParams.get('X-Amz-Expires'))).toBeLessThanOrEqual(3_600);
  });

  test.each([
    ['10 minutes behind the host', -10 * 60_000],
    ['a week behind the host (a test clock fixed at an instant)', -7 * 24 * 3_600_000],
    ['10 minutes ahead of the host', 10 * 60_000],
  ])("a store on a clock %s: the part URLs live as long as its session, on the store's clock", async (_name, offset) => {
    // The session's expiry is on the store's clock; its URLs' lifetime was taken on the host's
    // (`expiresAt - Date.now()`): shorter than the session by the offset, 1 s once that passed it.
    const w = makeWriter(fx, { store: { clock: () => Date.now() + offset } });
    open.push(w);
    const created = await call(w, 'POST', '/objects/sessions/store-clock', {
      query: 'uploads',
      body: JSON.stringify({ size: 10, expiresInMs: 3_600_000 }),
    });
    expect(created.statusCode).toBe(201);
    const { parts } = JSON.parse(String(created.body)) as { parts: Array<{ url: string }> };
    const asked = await w.store.uploadPartUrl(JSON.parse(String(created.body)).uploadId as string, 1, {
      key: 'sessions/store-clock',
      expiresInMs: 3_600_000,
    });
    const lifetime = (url: string) => Number(new URL(url).searchParams.get('X-Amz-Expires'));
    expect(lifetime(parts[0]!.url), "the create's URL").toBeGreaterThanOrEqual(3_590);
    expect(lifetime(parts[0]!.url), 'as the URL asked for the part later').toBeGreaterThanOrEqual(lifetime(asked) - 5);
  });
});

describe("a session's create takes the object's content type as S3 does", () => {
  /**
   * S3's CreateMultipartUpload has no body and takes the object's type from `Content-Type`. Such
   * a request was answered 201 and the type dropped: the object was served as
   * `application/octet-stream`. With no body, the header is the object's type now; JSON's own
   * type there (a JSON client's default) and a JSON body's header are not.
   */
  test.each<{ name: string; headers: Record<string, string>; body?: Record<string, string>; raw?: string; served: string }>([
    { name: 'no body, Content-Type: video/mp4', headers: { 'content-type': 'video/mp4' }, served: 'video/mp4' },
    // A blank body is no body to the JSON reader: no fields, so the header is the object's type.
    {
      name: 'a blank body (a line break), Content-Type: video/mp4',
      headers: { 'content-type': 'video/mp4' },
      raw: '\n',
      served: 'video/mp4',
    },
    {
      name: 'no body, Content-Type: application/json',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      served: 'application/octet-stream',
    },
    {
      name: 'a JSON body with contentType, sent as text/plain',
      headers: { 'content-type': 'text/plain' },
      body: { contentType: 'image/png' },
      served: 'image/png',
    },
    {
      name: 'a JSON body without contentType, sent as text/plain',
      headers: { 'content-type': 'text/plain' },
      body: {},
      served: 'application/octet-stream',
    },
  ])('$name: the object is $served', async ({ name, headers, body, raw, served }) => {
    const w = writer();
    const key = `sessions/type/${encodeURIComponent(name)}`;
    const created = await call(w, 'POST', `/objects/${key}`, {
      query: 'uploads',
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : raw !== undefined ? { body: raw } : {}),
    });
    expect(created.statusCode).toBe(201);
    const { uploadId } = JSON.parse(String(created.body)) as { uploadId: string };
    const signed = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${uploadId}&partNumber=1` });
    const { url } = JSON.parse(String(signed.body)) as { url: string };
    const sent = await fetch(url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const done = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      body: JSON.stringify({ parts: [{ partNumber: 1, etag: String(sent.headers.get('etag')) }] }),
    });
    expect(done.statusCode).toBe(201);
    expect((await call(w, 'HEAD', `/objects/${key}`)).headers?.['content-type']).toBe(served);
  });
});

describe("a session's answers are never stored by a cache", () => {
  /**
   * The create's and the part URL's answers carry presigned part URLs (a credential to write into
   * the bucket: a 307's URL to read it goes with `no-store`), and the list of parts changes with
   * every part uploaded. A GET's 200 without Cache-Control is storable (RFC 9111 §3): a shared cache
   * in front of the function could answer one client's part URL to another, or a resumed upload its
   * parts as they were before the latest.
   */
  test('create, list of parts and part URL: Cache-Control: no-store', async () => {
    const w = writer();
    const key = 'sessions/no-store';
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    expect(created.statusCode).toBe(201);
    const { uploadId } = JSON.parse(String(created.body)) as { uploadId: string };
    const listed = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${uploadId}` });
    const signed = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${uploadId}&partNumber=1` });
    expect([listed.statusCode, signed.statusCode]).toEqual([200, 200]);
    expect([created, listed, signed].map((res) => res.headers?.['cache-control'])).toEqual(['no-store', 'no-store', 'no-store']);
    expect(JSON.parse(String(signed.body)).url).toMatch(/^http/);
  });
});

describe("HEAD of a session's list of parts and part URL", () => {
  /**
   * HEAD is GET without the content (RFC 9110 §9.3.2). The list's and the part URL's routes took
   * GET and answered HEAD 405 with `Allow: GET, POST, DELETE`: a client checking a session with
   * HEAD (still open, or gone) was told the method is refused where the Allow it got names GET.
   */
  test('answers the headers a GET answers (200, or the 404 of a session that is not there), no body, and a 405 names HEAD', async () => {
    const w = writer();
    const key = 'sessions/head';
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    const { uploadId } = JSON.parse(String(created.body)) as { uploadId: string };
    for (const query of [`uploadId=${uploadId}`, `uploadId=${uploadId}&partNumber=1`]) {
      const get = await call(w, 'GET', `/objects/${key}`, { query });
      const head = await call(w, 'HEAD', `/objects/${key}`, { query });
      expect([head.statusCode, head.body]).toEqual([200, undefined]);
      expect(head.headers).toEqual(get.headers);
    }
    const absent = await call(w, 'HEAD', `/objects/${key}`, { query: 'uploadId=no-such-session' });
    expect([absent.statusCode, absent.body]).toEqual([404, undefined]);
    const refused = await call(w, 'PUT', `/objects/${key}`, { query: `uploadId=${uploadId}&partNumber=1`, body: 'x' });
    expect(refused.statusCode).toBe(405);
    expect(refused.headers?.allow).toBe('GET, HEAD, POST, DELETE');
    expect((await call(w, 'DELETE', `/objects/${key}`, { query: `uploadId=${uploadId}` })).statusCode).toBe(204);
  });
});

describe("a session's create takes ?uploads alone", () => {
  /**
   * S3's CreateMultipartUpload takes no query name but `uploads`. Another (`?uploads&ttl=60`, an
   * expiry or a condition put in the query) was ignored: the session was opened, 201, and its
   * object committed without what was asked. Refused (400), no session opened.
   */
  test.each(['x-tierlog-ttl=60', 'max-parts=3', 'ifVersion=0'])('POST ?uploads&%s is 400; no session is opened', async (extra) => {
    const w = writer();
    const before = await snapshot(fx);
    const res = await call(w, 'POST', '/objects/sessions/create-alone', { query: `uploads&${extra}`, body: JSON.stringify({ size: 10 }) });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain(extra.split('=')[0]);
    expect(await snapshot(fx)).toBe(before);
    expect((await call(w, 'POST', '/objects/sessions/create-alone', { query: 'uploads' })).statusCode).toBe(201);
  });
});

describe("a session's list of parts and part URL take no paging, condition or S3 header they ignore", () => {
  /**
   * S3's ListParts pages (`max-parts`, `part-number-marker`) and a GET may carry conditions: the
   * list answered every part whatever they said, so a client paging from a marker took parts it
   * held already for the next ones, and `If-None-Match` or `If-Match` was answered 200 unevaluated.
   * The part URL took them too, and an SSE-C header for a part that the URL signs without it.
   * Refused (400), as an abort or a complete refuses what it does not honour: a precondition is
   * never ignored.
   */
  test.each([
    ['max-parts=1', {}, 'max-parts'],
    ['part-number-marker=1', {}, 'part-number-marker'],
    ['partNumber=1&x-id=UploadPart', {}, 'x-id'],
    ['', { 'if-none-match': '"1"' }, 'if-none-match'],
    ['', { 'if-match': '"1"' }, 'if-match'],
    ['', { 'if-modified-since': 'Tue, 01 Dec 2099 00:00:00 GMT' }, 'if-modified-since'],
    ['partNumber=1', { 'if-match': '*' }, 'if-match'],
    ['partNumber=1', { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }, 'x-amz-server-side-encryption-customer'],
    ['', { 'x-amz-request-payer': 'requester' }, 'x-amz-request-payer'],
  ] as const)('GET ?uploadId=…&%s with %o is 400 naming %s; without it, 200', async (extra, headers, says) => {
    const w = writer();
    const key = `sessions/list-refused/${extra}/${Object.keys(headers).join('+')}`;
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    expect((await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) })).ok).toBe(true);
    const query = `uploadId=${uploadId}${extra !== '' ? `&${extra}` : ''}`;
    const res = await call(w, 'GET', `/objects/${key}`, { query, headers });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain(says);
    const plain = await call(w, 'GET', `/objects/${key}`, {
      query: extra.startsWith('partNumber') ? `uploadId=${uploadId}&partNumber=1` : `uploadId=${uploadId}`,
    });
    expect(plain.statusCode).toBe(200);
  });

  test('SigV4 headers are taken by the list of parts and the part URL', async () => {
    const w = writer();
    const key = 'sessions/list-refused/sigv4';
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    const { uploadId } = JSON.parse(String(created.body)) as { uploadId: string };
    const headers = { 'x-amz-date': '20261202T000000Z', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'x-amz-security-token': 't' };
    const listed = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${uploadId}`, headers });
    const signed = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${uploadId}&partNumber=1`, headers });
    expect([listed.statusCode, signed.statusCode]).toEqual([200, 200]);
  });
});

describe("a session's create takes no S3 header it does not honour", () => {
  test.each([
    ['x-amz-tagging', { 'x-amz-tagging': 'temp=true' }],
    ['x-amz-object-lock-mode', { 'x-amz-object-lock-mode': 'GOVERNANCE' }],
    ['x-amz-checksum-algorithm', { 'x-amz-checksum-algorithm': 'CRC32' }],
  ] as const)('POST ?uploads with %s is 400; no session is opened', async (_name, headers) => {
    const w = writer();
    const before = await snapshot(fx);
    const res = await call(w, 'POST', '/objects/asked/session-s3', { query: 'uploads', headers, body: JSON.stringify({ size: 10 }) });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain(Object.keys(headers)[0]);
    expect(await snapshot(fx)).toBe(before);
  });

  /**
   * A PUT refuses a Content-Encoding (415): the bytes would be stored and answered encoded, with no
   * Content-Encoding. A session's create (S3's CreateMultipartUpload, which stores it as the
   * object's coding) ignored it, 201: the gzip parts were committed and served as the object itself.
   */
  test.each([
    ['no body', undefined],
    ['a JSON body', JSON.stringify({ size: 10 })],
  ] as const)('POST ?uploads with Content-Encoding: gzip and %s is 415, as a PUT; no session is opened', async (_name, body) => {
    const w = writer();
    const before = await snapshot(fx);
    const res = await call(w, 'POST', '/objects/asked/session-gzip', {
      query: 'uploads',
      headers: { 'content-encoding': 'gzip', 'content-type': 'text/csv' },
      ...(body !== undefined ? { body } : {}),
    });
    expect([res.statusCode, res.headers?.['accept-encoding'], bodyOf(res).error]).toEqual([415, 'identity', 'UnsupportedMediaType']);
    expect(await snapshot(fx)).toBe(before);
    const plain = await call(w, 'POST', '/objects/asked/session-gzip', { query: 'uploads', headers: { 'content-encoding': 'identity' } });
    expect(plain.statusCode).toBe(201);
  });

  /**
   * A session's complete reads its JSON as sent, never decoded: a gzip one (a client compressing its
   * request bodies) was answered 400 "body is not valid JSON" for JSON that is valid, and the header
   * on a plain one was ignored, the object committed. 415, as the create and a PUT; nothing
   * committed, the session still completes.
   */
  test.each([
    ['the JSON gzip-encoded', true],
    ['the JSON as it is', false],
  ] as const)('POST ?uploadId=… with Content-Encoding: gzip and %s is 415; nothing committed, the session stays', async (_name, zipped) => {
    const w = writer();
    const key = `asked/complete-gzip/${zipped}`;
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    const sent = await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const json = JSON.stringify({ parts: [{ partNumber: 1, etag: String(sent.headers.get('etag')) }] });
    // As a Function URL passes a body with a content coding: base64.
    const bytes = zipped ? gzipSync(json) : Buffer.from(json);
    const res = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
      body: bytes.toString('base64'),
      isBase64Encoded: true,
    });
    expect([res.statusCode, res.headers?.['accept-encoding'], bodyOf(res).error]).toEqual([415, 'identity', 'UnsupportedMediaType']);
    expect(await w.store.head(key)).toBeUndefined();
    const done = await call(w, 'POST', `/objects/${key}`, { query: `uploadId=${uploadId}`, body: json });
    expect(done.statusCode).toBe(201);
  });
});

describe("a session's complete or abort takes no condition it cannot evaluate", () => {
  /**
   * A session's condition (`If-Match`, `If-None-Match: *`), expiry and metadata are given at its
   * create. On the complete they were ignored: `If-None-Match: *` there (S3's CompleteMultipartUpload takes it
   * as "create only") committed over an existing object, and an expiry header left an object
   * that never expires. Refused (400), nothing committed or ended; the session still completes.
   */
  test.each([
    ['POST', { 'if-none-match': '*' }, 'create'],
    ['POST', { 'if-match': '"1"' }, 'create'],
    ['POST', { 'if-unmodified-since': 'Tue, 01 Dec 2099 00:00:00 GMT', 'if-match': '"1"' }, 'create'],
    ['POST', { 'x-tierlog-ttl': '60' }, 'create'],
    // Metadata too: the complete was answered 200 and the object committed without it.
    ['POST', { 'x-amz-meta-owner': 'bob' }, 'create'],
    ['DELETE', { 'if-match': '"1"' }, 'create'],
    ['DELETE', { 'x-amz-meta-owner': 'bob' }, 'create'],
    ['DELETE', { 'if-none-match': '*' }, 'create'],
    // S3's checksum of the whole object, which nothing here verifies: the complete committed unchecked.
    ['POST', { 'x-amz-checksum-sha256': 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=' }, 'not honoured'],
    ['POST', { 'x-amz-checksum-type': 'FULL_OBJECT', 'x-amz-checksum-crc32': 'AAAAAA==' }, 'not honoured'],
    ['POST', { 'x-amz-request-payer': 'requester' }, 'not honoured'],
    ['DELETE', { 'x-amz-expected-bucket-owner': '123456789012' }, 'not honoured'],
  ] as const)('%s ?uploadId=… with %o is 400; the object and the session stay', async (method, headers, says) => {
    const w = writer();
    const key = `sessions/conditions/${method}/${Object.keys(headers).join('+')}`;
    const kept = randomBody(10);
    await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from(kept).toString('base64'), isBase64Encoded: true });
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    const sent = await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const complete = { body: JSON.stringify({ parts: [{ partNumber: 1, etag: String(sent.headers.get('etag')) }] }) };
    const before = await snapshot(fx);
    const res = await call(w, method, `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      headers,
      ...(method === 'POST' ? complete : {}),
    });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain(says);
    expect(await snapshot(fx)).toBe(before);
    expect((await w.store.get(key))?.body).toEqual(kept);
    const done = await call(w, 'POST', `/objects/${key}`, { query: `uploadId=${uploadId}`, ...complete });
    expect(done.statusCode).toBe(200);
  });

  /**
   * The same in the complete's body: a field beside `parts` (a condition, metadata, an expiry, a
   * size, the whole object's checksum) was ignored, the object committed without it, 201, as the
   * create refuses an unknown field. Refused (400), nothing committed; the session still completes.
   */
  test.each([
    [{ ifVersion: 0 }, 'ifVersion'],
    [{ metadata: { owner: 'bob' } }, 'metadata'],
    [{ timeToLiveMs: 60_000 }, 'timeToLiveMs'],
    [{ size: 11 }, 'size'],
    [{ checksumSHA256: 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=' }, 'checksumSHA256'],
  ] as const)('a complete whose body has %o beside its parts is 400; nothing committed, the session stays', async (extra, says) => {
    const w = writer();
    const key = `sessions/complete-body/${Object.keys(extra).join('+')}`;
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    const sent = await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const listed = [{ partNumber: 1, etag: String(sent.headers.get('etag')) }];
    const res = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      body: JSON.stringify({ parts: listed, ...extra }),
    });
    expect(res.statusCode).toBe(400);
    expect(bodyOf(res).message).toContain(says);
    expect(await w.store.head(key)).toBeUndefined();
    const done = await call(w, 'POST', `/objects/${key}`, { query: `uploadId=${uploadId}`, body: JSON.stringify({ parts: listed }) });
    expect(done.statusCode).toBe(201);
  });
});

describe("a session's complete takes SigV4's headers and the parts as listed", () => {
  test('x-amz-date, x-amz-content-sha256 and x-amz-security-token beside a complete whose parts carry their listed size: 201', async () => {
    const w = writer();
    const key = 'sessions/sigv4/complete';
    const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', body: JSON.stringify({ size: 10 }) });
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const listed = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${uploadId}` });
    const asListed = (JSON.parse(String(listed.body)) as { parts: Array<{ partNumber: number; etag: string; size: number }> }).parts;
    expect(asListed).toEqual([expect.objectContaining({ partNumber: 1, size: 10 })]);
    // A field that asks for more than the part (its checksum) is refused, not ignored; nothing committed.
    const checked = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      body: JSON.stringify({ parts: asListed.map((p) => ({ ...p, checksumSHA256: 'AAAA' })) }),
    });
    expect(checked.statusCode).toBe(400);
    expect(bodyOf(checked).message).toContain('checksumSHA256');
    expect(await w.store.head(key)).toBeUndefined();
    const done = await call(w, 'POST', `/objects/${key}`, {
      query: `uploadId=${uploadId}`,
      // x-tierlog-stored: a response header, copied back as on a PUT (it asks for nothing).
      headers: {
        'x-amz-date': '20261202T000000Z',
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        'x-amz-security-token': 't',
        'x-tierlog-stored': 'blob',
      },
      body: JSON.stringify({ parts: asListed }),
    });
    expect(done.statusCode).toBe(201);
  });
});

/**
 * CloudFront sends `X-Amz-Cf-Id` (its request id) with every request it forwards to an origin, and
 * it is the way to a custom domain in front of a Function URL. Taken for an S3 request header that
 * is not honoured, it made every write through a distribution a 400: a PUT, a DELETE and each of a
 * session's routes. It asks for nothing: taken on every request, as SigV4's are.
 */
describe('a request through CloudFront (x-amz-cf-id on every origin request)', () => {
  test('PUT, DELETE and every session route take it', async () => {
    const w = writer();
    const cf = { 'x-amz-cf-id': 'vZ2Fqg0BzXa3ZtKk5jXfq3GmcHvSVLgu7YTnDdTT-Hb5ZcZvHvQnVg==' };
    const key = 'through-cloudfront/object';
    const body = randomBody(40 * KiB);
    const put = await call(w, 'PUT', `/objects/${key}`, {
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
      headers: cf,
    });
    expect([put.statusCode, put.body]).toEqual([201, expect.any(String)]);
    expect((await w.store.get(key))?.body).toEqual(body);
    const deleted = await call(w, 'DELETE', `/objects/${key}`, { headers: cf });
    expect([deleted.statusCode, deleted.body]).toEqual([204, undefined]);
    expect(await w.store.head(key)).toBeUndefined();

    const sessionKey = 'through-cloudfront/session';
    const created = await call(w, 'POST', `/objects/${sessionKey}`, { query: 'uploads', headers: cf, body: JSON.stringify({ size: 10 }) });
    expect([created.statusCode, created.body]).toEqual([201, expect.any(String)]);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
    await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
    const signed = await call(w, 'GET', `/objects/${sessionKey}`, { query: `uploadId=${uploadId}&partNumber=1`, headers: cf });
    expect([signed.statusCode, signed.body]).toEqual([200, expect.any(String)]);
    const listed = await call(w, 'GET', `/objects/${sessionKey}`, { query: `uploadId=${uploadId}`, headers: cf });
    expect([listed.statusCode, listed.body]).toEqual([200, expect.any(String)]);
    const asListed = (JSON.parse(String(listed.body)) as { parts: unknown[] }).parts;
    const done = await call(w, 'POST', `/objects/${sessionKey}`, {
      query: `uploadId=${uploadId}`,
      headers: cf,
      body: JSON.stringify({ parts: asListed }),
    });
    expect([done.statusCode, done.body]).toEqual([201, expect.any(String)]);
    expect((await w.store.head(sessionKey))?.size).toBe(10);

    const abortedKey = 'through-cloudfront/aborted';
    const opened = await call(w, 'POST', `/objects/${abortedKey}`, { query: 'uploads', headers: cf, body: JSON.stringify({ size: 10 }) });
    const { uploadId: abortedId } = JSON.parse(String(opened.body)) as { uploadId: string };
    const aborted = await call(w, 'DELETE', `/objects/${abortedKey}`, { query: `uploadId=${abortedId}`, headers: cf });
    expect([aborted.statusCode, aborted.body]).toEqual([204, undefined]);
  });
});

describe("a session's create and complete check the digest of the body their client sent, as a PUT does", () => {
  /**
   * A PUT whose `Content-MD5` or hex `x-amz-content-sha256` its body does not match is refused
   * (S3 checks both on every request with a body). A session's create and complete checked
   * neither: a complete whose client hashed another list of parts than it sent committed the one
   * sent, 201.
   */
  const md5 = (text: string) => createHash('md5').update(text).digest('base64');
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  test.each([
    ['Content-MD5', (other: string) => ({ 'content-md5': md5(other) }), 'BadDigest'],
    ['x-amz-content-sha256', (other: string) => ({ 'x-amz-content-sha256': sha256(other) }), 'XAmzContentSHA256Mismatch'],
  ] as const)(
    'a %s of other bytes: 400, no session opened, nothing committed; of the bytes sent: taken',
    async (_name, digestOf, error) => {
      const w = writer();
      const key = `sessions/digest/${error}`;
      const createBody = JSON.stringify({ size: 10 });
      let before = await snapshot(fx);
      const refused = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', headers: digestOf('{"size":11}'), body: createBody });
      expect([refused.statusCode, bodyOf(refused).error]).toEqual([400, error]);
      expect(await snapshot(fx)).toBe(before);
      const created = await call(w, 'POST', `/objects/${key}`, { query: 'uploads', headers: digestOf(createBody), body: createBody });
      expect(created.statusCode).toBe(201);
      const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: Array<{ url: string }> };
      const sent = await fetch(parts[0]!.url, { method: 'PUT', body: Buffer.from(randomBody(10)) });
      const complete = JSON.stringify({ parts: [{ partNumber: 1, etag: String(sent.headers.get('etag')) }] });
      before = await snapshot(fx);
      const wrong = await call(w, 'POST', `/objects/${key}`, {
        query: `uploadId=${uploadId}`,
        headers: digestOf('{"parts":[]}'),
        body: complete,
      });
      expect([wrong.statusCode, bodyOf(wrong).error]).toEqual([400, error]);
      expect(await snapshot(fx)).toBe(before);
      expect(await w.store.head(key)).toBeUndefined();
      const done = await call(w, 'POST', `/objects/${key}`, { query: `uploadId=${uploadId}`, headers: digestOf(complete), body: complete });
      expect(done.statusCode).toBe(201);
    },
  );
});

describe('a GET answers the bytes its headers declare, or a 500', () => {
  /**
   * A blob that is not the size its item declares (written over out of band, or a store's bug)
   * was answered 200 with the item's Content-Length (or a 206 with its Content-Range) and the
   * blob's bytes: a shorter body, which a client takes for the whole object, or a longer one.
   * Only a blob longer than the response limit was refused. Now any other count is a 500 (the
   * error to onError), never bytes under headers that do not describe them.
   */
  test.each([
    ['shorter', 30 * KiB, undefined],
    ['shorter', 30 * KiB, 'bytes=0-'],
    ['shorter', 30 * KiB, 'bytes=-35000'],
    ['longer', 50 * KiB, undefined],
    // A range the blob holds: S3 answers the bytes asked for, of the wrong blob (Content-Range told it).
    ['shorter', 30 * KiB, 'bytes=0-99'],
    ['longer', 50 * KiB, 'bytes=0-'],
    ['longer', 50 * KiB, 'bytes=-1000'],
  ] as const)('a blob %s than its item (%i bytes), Range %s: 500', async (_name, actual, range) => {
    const w = writer();
    const key = `declared/${actual}/${range ?? 'whole'}`;
    await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from(randomBody(40 * KiB)).toString('base64'), isBase64Encoded: true });
    const item = (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === key);
    expect(typeof item?.blob).toBe('string');
    await rawPutObject(fx, item!.blob as string, randomBody(actual));
    const logged: unknown[] = [];
    const res = await call(w, 'GET', `/objects/${key}`, range !== undefined ? { headers: { range } } : {}, {
      onError: (e) => logged.push(e),
    });
    expect(res.statusCode).toBe(500);
    expect(logged).toHaveLength(1);
  });
});

/**
 * A TCP proxy in front of the local S3 server that passes each connection's first `passed` bytes
 * of answer, then stalls it (the socket stays open, silent) or resets it: an S3 answer cut in
 * the middle of its body, as a lost connection cuts it.
 */
async function cuttingProxy(cut: 'stall' | 'reset', passed: number): Promise<{ endpoint: string; close(): void }> {
  const upstream = new URL(process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL ?? '');
  const sockets: Socket[] = [];
  const server: Server = createServer((client) => {
    const origin = connect(Number(upstream.port), upstream.hostname);
    sockets.push(client, origin);
    let sent = 0;
    client.on('data', (chunk) => origin.write(chunk));
    origin.on('data', (chunk: Buffer) => {
      const room = Math.max(0, passed - sent);
      sent += chunk.byteLength;
      if (room > 0) client.write(chunk.subarray(0, room));
      if (sent >= passed && cut === 'reset') client.resetAndDestroy();
    });
    client.on('error', () => undefined);
    origin.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe("a GET whose blob's body is cut while it is read", () => {
  /**
   * S3 answered, then its body stopped mid-way: the socket went idle past the client's timeout
   * (the objects function's S3 client gives up after 10 s), or the connection was reset. Nothing
   * of the answer has gone to the client (a buffered Lambda response goes whole or not at all), and
   * the same GET sent again will likely be answered: a 503 with Retry-After, as throttling is,
   * not a 500 that says the server is broken. Unlike throttling, it is a fault: told to onError.
   */
  test.each(['stall', 'reset'] as const)('the body %s mid-way: 503 with Retry-After', async (cut) => {
    const w = writer();
    const key = `cut-body/${cut}`;
    await w.store.put(key, randomBody(64 * KiB));
    const proxy = await cuttingProxy(cut, 16 * KiB);
    const s3 = new S3Client({ endpoint: proxy.endpoint, forcePathStyle: true, requestHandler: { socketTimeout: 300 } });
    const store = new TieredStore({ config: fx.config, changeLog: w.log, dynamodb: w.dynamodb, s3 });
    try {
      const logged: unknown[] = [];
      const res = await handleObjectsRequest(store, httpEvent('GET', `/objects/${key}`), { onError: (e) => logged.push(e) });
      expect(res.statusCode, `${res.body} ${String(logged[0])}`).toBe(503);
      expect(res.headers?.['retry-after']).toBe('1');
      expect(bodyOf(res).error).toBe('Retry');
      // A fault, not load: still told to onError, as the 500 was.
      expect(logged).toHaveLength(1);
    } finally {
      s3.destroy();
      proxy.close();
    }
  });
});

describe('a GET answered by a redirect is labelled as a 200 would be', () => {
  /**
   * An object stored without a content type is answered `application/octet-stream` by a 200 and
   * a HEAD; its blob holds none, and S3 answers its own default for it (`binary/octet-stream` on
   * AWS, emulated here by a blob stored with that type). A GET above the response limit, a 307 to
   * a presigned URL, came back labelled with S3's, and so did `presignGet`. The URL now names the
   * type the store answers (`response-content-type`, signed).
   */
  test.each([
    ['no content type', undefined, 'application/octet-stream'],
    ['image/png', 'image/png', 'image/png'],
  ] as const)('%s: the 307 and presignGet answer the type of the HEAD', async (_name, contentType, served) => {
    const w = writer();
    const key = `redirect-type/${contentType ?? 'none'}`;
    const body = randomBody(40 * KiB);
    await call(w, 'PUT', `/objects/${key}`, {
      body: Buffer.from(body).toString('base64'),
      isBase64Encoded: true,
      ...(contentType !== undefined ? { headers: { 'content-type': contentType } } : {}),
    });
    const item = (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === key);
    await fx.s3.send(
      new PutObjectCommand({ Bucket: fx.config.bucket, Key: item!.blob as string, Body: body, ContentType: 'binary/octet-stream' }),
    );
    const head = await call(w, 'HEAD', `/objects/${key}`);
    expect(head.headers?.['content-type']).toBe(served);

    const redirect = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: 1 });
    expect(redirect.statusCode).toBe(307);
    const viaRedirect = await fetch(String(redirect.headers?.location));
    expect(Buffer.from(await viaRedirect.arrayBuffer())).toEqual(Buffer.from(body));
    expect(viaRedirect.headers.get('content-type')).toBe(served);

    const presigned = await fetch(String((await w.store.presignGet(key))?.url));
    await presigned.arrayBuffer();
    expect(presigned.headers.get('content-type')).toBe(served);
  });
});

/**
 * A client that follows a GET's 307 (a browser, `fetch`, `curl -L`) is answered by S3, whose
 * `ETag` is S3's own (an MD5), not the version. Sent back as `If-Match` on a write, it was refused
 * as "If-Match must be one quoted version, e.g. \"3\"": the very tag the client was given, the
 * cause unsaid. The refusal says where a version is taken from; nothing is written.
 */
describe("a write's If-Match: * (RFC 9110: only if the object exists)", () => {
  test('PUT, DELETE and a session create: 400 saying it is not evaluated (not that it is an ETag S3 answered), nothing written', async () => {
    const w = writer();
    const key = 'if-match-star/k';
    await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from('v1').toString('base64'), isBase64Encoded: true });
    const before = await snapshot(fx);
    for (const [method, query] of [
      ['PUT', ''],
      ['DELETE', ''],
      ['POST', 'uploads'],
    ] as const) {
      const res = await call(w, method, `/objects/${key}`, {
        headers: { 'if-match': '*' },
        query,
        ...(method === 'PUT' ? { body: Buffer.from('v2').toString('base64'), isBase64Encoded: true } : {}),
      });
      expect(res.statusCode, method).toBe(400);
      const { message } = bodyOf(res);
      expect(message, method).toContain('If-Match: *');
      expect(message, method).toContain('only if the object exists');
      expect(message, method).not.toMatch(/S3|redirect/);
    }
    expect(await snapshot(fx)).toBe(before);
  });

  /**
   * The DELETE's refusal gave a PUT's way out: "send the ETag of the version to replace, or
   * If-None-Match: * to create only". Followed, a DELETE with If-None-Match: * (only if absent) is
   * 412 for the object there, whatever its version: it could never delete it. It names the DELETE's.
   */
  test("a DELETE's: its refusal names a DELETE's way out, not a PUT's (If-None-Match: * would refuse the delete)", async () => {
    const w = writer();
    const key = 'if-match-star/delete';
    await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from('v1').toString('base64'), isBase64Encoded: true });
    const res = await call(w, 'DELETE', `/objects/${key}`, { headers: { 'if-match': '*' } });
    expect(res.statusCode).toBe(400);
    const { message } = bodyOf(res);
    expect(message).not.toContain('If-None-Match');
    expect(message).toContain('version to delete');
    expect(message).toContain('no condition');
    // The way out it names works: no condition deletes the object.
    expect((await call(w, 'DELETE', `/objects/${key}`)).statusCode).toBe(204);
  });
});

describe('an ETag S3 answered, after a redirect, sent back as If-Match', () => {
  test("PUT and DELETE: 400 naming the cause, nothing written; the 307's own ETag is a version", async () => {
    const w = writer();
    const key = 'redirect-etag/k';
    const body = randomBody(40 * KiB);
    await call(w, 'PUT', `/objects/${key}`, { body: Buffer.from(body).toString('base64'), isBase64Encoded: true });
    const redirect = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: 1 });
    expect(redirect.statusCode).toBe(307);
    const followed = await fetch(String(redirect.headers?.location));
    await followed.arrayBuffer();
    const s3Etag = String(followed.headers.get('etag'));
    expect(s3Etag).not.toBe(redirect.headers?.etag);
    const before = await snapshot(fx);
    for (const method of ['PUT', 'DELETE'] as const) {
      const res = await call(w, method, `/objects/${key}`, {
        headers: { 'if-match': s3Etag },
        ...(method === 'PUT' ? { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true } : {}),
      });
      expect(res.statusCode, method).toBe(400);
      expect(bodyOf(res).message, method).toMatch(/If-Match must be one quoted version.*redirect.*307/);
    }
    expect(await snapshot(fx)).toBe(before);
    const replaced = await call(w, 'PUT', `/objects/${key}`, {
      headers: { 'if-match': String(redirect.headers?.etag) },
      body: Buffer.from(randomBody(10)).toString('base64'),
      isBase64Encoded: true,
    });
    expect(replaced.statusCode).toBe(200);
  });
});

describe('an answer of an object is revalidated before a cache reuses it', () => {
  /**
   * A 200 carried `Last-Modified` and no `Cache-Control`, so a browser or a shared cache may reuse
   * it for a tenth of its age without asking (heuristic freshness, RFC 9111 4.2.2): an object
   * replaced since is answered stale (a day-old object for over two hours), and a time-to-idle
   * object expires while it is read from the cache. `no-cache` keeps caching with revalidation
   * (If-None-Match, 304), which carries it too.
   */
  test.each([
    ['GET', {}, 200],
    ['GET', { range: 'bytes=0-1' }, 206],
    ['HEAD', {}, 200],
    ['GET', { 'if-none-match': '*' }, 304],
    ['HEAD', { 'if-none-match': '*' }, 304],
  ] as const)('%s with %o: %i, Cache-Control: no-cache', async (method, headers, status) => {
    const w = writer();
    await call(w, 'PUT', '/objects/cached/k', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const res = await call(w, method, '/objects/cached/k', { headers });
    expect(res.statusCode).toBe(status);
    expect(res.headers?.['cache-control']).toBe('no-cache');
  });

  /**
   * A GET above the response limit is a 307 to a presigned URL (and `presignGet` gives one): S3's
   * answer to it carried `Last-Modified` and no `Cache-Control`, so a browser or a shared cache could
   * reuse it for a tenth of the blob's age without asking S3, past the object's expiry (a day-old
   * object due to expire in a minute was still served for over two hours from that URL, expired,
   * deleted or replaced), as the API's own 200 could before it carried `no-cache`. The URL asks S3
   * for `Cache-Control: no-cache` (`response-cache-control`, signed): a reuse is revalidated with
   * S3, which refuses it once the URL, never longer-lived than the object, has ended.
   */
  test("S3's answer to a 307's URL and to presignGet's (whole or ranged): Cache-Control: no-cache", async () => {
    const w = writer();
    const key = 'cached/by-url';
    await call(w, 'PUT', `/objects/${key}`, {
      body: Buffer.from(randomBody(40 * KiB)).toString('base64'),
      isBase64Encoded: true,
      headers: { 'x-tierlog-ttl': '60' },
    });
    const redirect = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: 1 });
    expect(redirect.statusCode).toBe(307);
    const urls = { '307': String(redirect.headers?.location), presignGet: String((await w.store.presignGet(key))?.url) };
    for (const [name, url] of Object.entries(urls)) {
      for (const headers of [{}, { range: 'bytes=0-9' }] as Record<string, string>[]) {
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        expect(res.status, `${name} ${JSON.stringify(headers)}`).toBe('range' in headers ? 206 : 200);
        expect(res.headers.get('cache-control'), `${name} ${JSON.stringify(headers)}`).toBe('no-cache');
      }
    }
  });
});

/**
 * A cache that revalidates its stored answer takes the 304's header fields into it (RFC 9111
 * §4.3.4: all but Content-Length). The 304 carried no Content-Type, and a Function URL answers a
 * result without one as `application/json` (an empty body too; the local adapter does as it does):
 * a cache freshening its stored PNG with that 304 relabelled it JSON, which a browser, told
 * `nosniff` by the same answer, refuses to show. The 304 carries the type a 200 would.
 */
describe("a 304 carries the object's content type, not the platform's default", () => {
  test.each([
    ['a type of its own', 'image/png', 'image/png'],
    ['none (the default a 200 answers)', undefined, 'application/octet-stream'],
  ] as const)('stored with %s: GET and HEAD, in the body and by redirect, and through the Function URL', async (_name, type, answered) => {
    const w = writer();
    for (const [key, size] of [
      ['cached/typed/inline', 10],
      ['cached/typed/blob', 40 * KiB],
    ] as const) {
      await call(w, 'PUT', `/objects/${key}`, {
        body: Buffer.from(randomBody(size)).toString('base64'),
        isBase64Encoded: true,
        headers: type !== undefined ? { 'content-type': type } : {},
      });
      for (const method of ['GET', 'HEAD'] as const) {
        for (const limit of [1, 64 * KiB]) {
          const res = await call(w, method, `/objects/${key}`, { headers: { 'if-none-match': '*' } }, { maxResponseBytes: limit });
          expect([res.statusCode, res.headers?.['content-type']], `${method} ${key} ${limit}`).toEqual([304, answered]);
          expect(functionUrlResponse(res).headers['content-type']).toBe(answered);
        }
      }
    }
  });
});

describe('"no such object" is revalidated before a cache reuses it', () => {
  /**
   * A 404 is cacheable by default (RFC 9110 §15.5.5), and it came with no Cache-Control: a browser
   * or a shared cache could answer it from its store after the object was written (or written
   * again after a delete), where its 200 is revalidated.
   */
  test.each([
    ['GET', 'never written'],
    ['HEAD', 'never written'],
    ['GET', 'deleted'],
    ['HEAD', 'deleted'],
  ] as const)('%s of an object %s: 404, Cache-Control: no-cache', async (method, state) => {
    const w = writer();
    const path = `/objects/cached/absent-${method}-${state.replace(' ', '-')}`;
    if (state === 'deleted') {
      await call(w, 'PUT', path, { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
      expect((await call(w, 'DELETE', path)).statusCode).toBe(204);
    }
    const res = await call(w, method, path);
    expect(res.statusCode).toBe(404);
    expect(res.headers?.['cache-control']).toBe('no-cache');
    expect(res.body).toBe(method === 'HEAD' ? undefined : JSON.stringify({ error: 'NotFound', message: 'no such object' }));
  });
});

describe('Last-Modified is the time of the write, not of the answer', () => {
  /**
   * A cache or a sync client compares Last-Modified across answers: a time of the answer instead
   * would tell it every read that the object changed (and a 304 would disagree with its 200).
   */
  test('GET, HEAD, a 206 and a 304 read a second after the write carry its time', async () => {
    const w = writer();
    await call(w, 'PUT', '/objects/modified/k', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const written = new Date((await w.store.head('modified/k'))!.updatedAt).toUTCString();
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    for (const [method, headers, status] of [
      ['GET', {}, 200],
      ['HEAD', {}, 200],
      ['GET', { range: 'bytes=0-1' }, 206],
      ['GET', { 'if-none-match': '*' }, 304],
      ['HEAD', { 'if-none-match': '*' }, 304],
    ] as const) {
      const res = await call(w, method, '/objects/modified/k', { headers });
      expect(res.statusCode).toBe(status);
      expect(res.headers?.['last-modified'], `${method} ${status}`).toBe(written);
    }
  });
});

describe('Last-Modified is an HTTP date or absent', () => {
  /**
   * An item another tool wrote (an objects table of its own schema) may tell no write time: none
   * was read as 0 and answered as 1970, a string as NaN and answered `Invalid Date`, which is no
   * HTTP date. An object with no `updatedAt` is answered without Last-Modified (its ETag is the
   * validator); one whose `updatedAt` is no number is a corrupt item (a 500), as every read says.
   */
  test.each([
    ['no updatedAt', {}, 200],
    ['an updatedAt that is not a number', { updatedAt: '2026-01-01T00:00:00Z' }, 500],
  ] as const)('an item with %s: GET, HEAD and a 304 carry none', async (name, extra, read) => {
    const w = writer();
    const key = `modified/foreign-${name.replace(/ /g, '-')}`;
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key, version: 7, body: Buffer.from('hello'), size: 5, createdAt: 1, writeId: 'w', metadata: {}, ...extra }),
      }),
    );
    for (const [method, headers, status] of [
      ['GET', {}, read],
      ['HEAD', {}, read],
      ['GET', { 'if-none-match': '"7"' }, read === 200 ? 304 : read],
    ] as const) {
      const res = await call(w, method, `/objects/${key}`, { headers });
      expect(res.statusCode, `${method} ${status}`).toBe(status);
      if (status < 500) expect(res.headers?.etag).toBe('"7"');
      expect(res.headers?.['last-modified'], `${method} ${status}`).toBeUndefined();
    }
  });
});

describe('a HEAD answer has no content', () => {
  /**
   * RFC 9110 9.3.2: a HEAD answer carries GET's headers and no content. The 412 was stripped; a
   * 400, 405 or 404 of a HEAD came back with GET's JSON body, which a front door that passes it
   * on sends as bytes the client reads as the start of its next answer.
   */
  test.each([
    ['a malformed If-Match', { headers: { 'if-match': 'garbage' } }, 400],
    ['If-Unmodified-Since without If-Match', { headers: { 'if-unmodified-since': 'Tue, 01 Dec 2099 00:00:00 GMT' } }, 400],
    ['a session route of no session', { query: 'uploadId=upload-x' }, 404],
    ["a session's create", { query: 'uploads' }, 405],
    ['a key too long', { path: `/objects/${'k'.repeat(600)}` }, 400],
    ['If-Match of another version', { headers: { 'if-match': '"1"' } }, 412],
  ] as const)('HEAD with %s: no body', async (_name, request, status) => {
    const w = writer();
    await call(w, 'PUT', '/objects/head/k', { body: Buffer.from(randomBody(10)).toString('base64'), isBase64Encoded: true });
    const { path = '/objects/head/k', ...options } = request as { path?: string; headers?: Record<string, string>; query?: string };
    const res = await call(w, 'HEAD', path, options);
    expect(res.statusCode).toBe(status);
    expect(res.body ?? '').toBe('');
    expect(res.headers?.['content-type']).toBe('application/json');
  });
});

// ---- the buffered response limit ------------------------------------------------------------------

/** What a buffered Lambda response (Function URL) carries at most: 6 MB. */
const LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024;

describe('a GET answer always fits the buffered response', () => {
  const LIMIT = 64 * KiB;

  test.each([
    ['whole object', undefined],
    ['Range: bytes=0-', 'bytes=0-'],
    ['Range: bytes=-100000', 'bytes=-100000'],
  ] as const)('%s: an object that grows past the limit while it is read is answered by a redirect', async (name, range) => {
    const key = `grow/${name.replace(/[^a-z0-9]+/gi, '-')}`;
    const other = writer();
    const { version } = await other.store.put(key, randomBody(20 * KiB));
    const big = randomBody(300 * KiB);
    // Another writer replaces the object (and deletes the blob first read) right before its bytes are fetched.
    const injector = replacedBeforeItsFetch(() => other.store.put(key, big));
    const w = writer(injector);
    const res = await call(w, 'GET', `/objects/${key}`, range !== undefined ? { headers: { range } } : {}, { maxResponseBytes: LIMIT });
    expect(injector.stats.injected.delay).toBe(1);
    expect(res.body === undefined ? 0 : Buffer.from(String(res.body), 'base64').byteLength).toBeLessThanOrEqual(LIMIT);
    expect(res.statusCode).toBe(307);
    expect(res.headers?.etag).toBe(`"${version + 1}"`);
    const fetched = await fetch(String(res.headers?.location));
    expect(new Uint8Array(await fetched.arrayBuffer())).toEqual(big);
  });

  test('an object that grows past the limit while it is read, then is replaced by a small one before its redirect is signed: the small one, 200', async () => {
    const key = 'grow/then-inline';
    const other = writer();
    const { version } = await other.store.put(key, randomBody(20 * KiB));
    const small = randomBody(100);
    const objectsRead = (r: RequestInfo) => onCommand('GetItem')(r) && r.input.TableName === fx.config.objectsTable;
    const injector = new FaultInjector()
      // Before its bytes are fetched, the object grows past the limit (the blob first read deleted).
      .add({
        kind: 'delay',
        delayMs: 0,
        match: onCommand('GetObject'),
        times: 1,
        before: async () => void (await other.store.put(key, randomBody(300 * KiB))),
      })
      // Its reads of HV: the first, the one that follows the replaced blob, then the redirect's: before
      // that one the object is replaced by an inline body, which has no URL.
      .add({
        kind: 'delay',
        delayMs: 0,
        match: objectsRead,
        skip: 2,
        times: 1,
        before: async () => void (await other.store.put(key, small)),
      });
    const w = writer(injector);
    const res = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: LIMIT });
    expect(injector.stats.injected.delay).toBe(2);
    expect(res.statusCode).toBe(200);
    expect(res.headers?.etag).toBe(`"${version + 2}"`);
    expect(new Uint8Array(Buffer.from(String(res.body), 'base64'))).toEqual(small);
  });

  test("an object that grows past the limit while each read of a GET reads it: a 503 Retry after the store's attempts, never a loop without end", async () => {
    const key = 'grow/flipping';
    const other = writer();
    await other.store.put(key, randomBody(20 * KiB));
    const objectsRead = (r: RequestInfo) => onCommand('GetItem')(r) && r.input.TableName === fx.config.objectsTable;
    let reads = 0;
    // Each pass reads HV twice (the object, then the blob that replaced it once its own was found
    // gone) and fetches one blob: the blob fits when read, and is replaced by one over the limit
    // before its fetch; the next pass finds a blob that fits again.
    const injector = new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        match: onCommand('GetObject'),
        before: async () => void (await other.store.put(key, randomBody(300 * KiB))),
      })
      .add({
        kind: 'delay',
        delayMs: 0,
        match: objectsRead,
        before: async () => {
          if (reads++ % 2 === 0 && reads > 1) await other.store.put(key, randomBody(20 * KiB));
        },
      });
    const w = writer(injector);
    const logged: unknown[] = [];
    const res = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: LIMIT, onError: (err) => logged.push(err) });
    // A read overtaken each time is retried by the client (it conflicts with nothing), not a 409.
    expect(res.statusCode).toBe(503);
    expect(bodyOf(res).error).toBe('Retry');
    expect(res.headers?.['retry-after']).toBe('1');
    expect(logged, 'contention, not a fault').toEqual([]);
    // The store's maxAttempts (5) passes.
    expect(reads).toBe(2 * 5);
  });

  test('an object replaced (its blob deleted) before each fetch of its bytes: a 503 Retry naming no writer, not a 409 Conflict', async () => {
    const key = 'overtaken/every-read';
    const other = writer();
    await other.store.put(key, randomBody(20 * KiB));
    // Before each GetObject another writer replaces the object, and deletes the blob about to be read.
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      match: onCommand('GetObject'),
      before: async () => void (await other.store.put(key, randomBody(20 * KiB))),
    });
    const w = writer(injector);
    const res = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: LIMIT });
    expect(res.statusCode).toBe(503);
    expect(bodyOf(res).error).toBe('Retry');
    expect(bodyOf(res).message).not.toMatch(/writer/);
    expect(res.headers?.['retry-after']).toBe('1');
    // The store's maxAttempts (5) fetches, each overtaken.
    expect(injector.stats.injected.delay).toBe(5);
  });

  test('at the default limit the whole Lambda answer (base64 body, headers, 2 KB of metadata) stays within 6 MB', async () => {
    const w = writer();
    const metadata = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`m${String(i).padStart(2, '0')}`, 'v'.repeat(120)]));
    await w.store.put('limit/default', randomBody(4 * 1024 * KiB), { metadata, contentType: `application/x-${'c'.repeat(200)}` });
    const res = await call(w, 'GET', '/objects/limit/default');
    expect(res.statusCode).toBe(200);
    expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
  });

  test.each([5 * 1024 * KiB, 6 * 1024 * KiB, 0, 1.5])('the Lambda handler refuses maxResponseBytes %d', (maxResponseBytes) => {
    expect(() => createObjectsHandler({ config: fx.config, maxResponseBytes })).toThrow(errors.ConfigError);
    expect(() => createObjectsHandler({ config: fx.config, maxResponseBytes: MAX_BUFFERED_RESPONSE_BYTES })).not.toThrow();
  });

  test.each([false, true])(
    'a JSON body is refused past 1 MiB of bytes, as its message says, and taken up to it (base64: %s)',
    async (isBase64Encoded) => {
      const w = writer();
      const MiB = 1024 * KiB;
      const json = (bytes: number) => {
        const core = JSON.stringify({ size: 10 });
        return `${core}${' '.repeat(bytes - core.length)}`;
      };
      const send = (text: string) =>
        call(w, 'POST', '/objects/limit/json-body', {
          query: 'uploads',
          body: isBase64Encoded ? Buffer.from(text).toString('base64') : text,
          isBase64Encoded,
        });
      expect((await send(json(MiB))).statusCode).toBe(201);
      const over = await send(json(MiB + 1));
      // 413, as a PUT's body past its limit is (RFC 9110 §15.5.14), not a 400 for a malformed request.
      expect([over.statusCode, bodyOf(over).error]).toEqual([413, 'BodyTooLarge']);
      expect(bodyOf(over).message).toMatch(/body exceeds 1048576 bytes/);
      // Counted in bytes, not characters: 600 KiB of two-byte characters is 1.2 MB.
      const wide = await send(`{"size": 10, "x": "${'é'.repeat(600 * KiB)}"}`);
      expect(wide.statusCode).toBe(413);
      // A complete's list of parts too (10,000 parts, pretty-printed, pass 1 MiB), before any request.
      const complete = await call(w, 'POST', '/objects/limit/json-body', {
        query: 'uploadId=upload-x',
        body: `{"parts": []}${' '.repeat(MiB)}`,
      });
      expect([complete.statusCode, bodyOf(complete).error]).toEqual([413, 'BodyTooLarge']);
    },
  );

  test("a session's create answers its part URLs from one read of the session, however many parts", async () => {
    const w = writer();
    const mark = w.recorder.commands.length;
    const res = await call(w, 'POST', '/objects/limit/many-parts', {
      query: 'uploads',
      body: JSON.stringify({ size: 300 * 5 * 1024 * KiB }),
    });
    expect(res.statusCode).toBe(201);
    const created = JSON.parse(String(res.body)) as { partCount: number; parts: Array<{ partNumber: number; url: string }> };
    expect(created.partCount).toBeGreaterThan(100);
    expect(created.parts.map((p) => p.partNumber)).toEqual(Array.from({ length: created.partCount }, (_, i) => i + 1));
    expect(created.parts.map((p) => new URL(p.url).searchParams.get('partNumber'))).toEqual(created.parts.map((p) => String(p.partNumber)));
    // The create's own requests and one read of the session: not one read per URL.
    const dynamodbCalls = w.recorder.commands.slice(mark).filter((c) => c.service === 'dynamodb');
    expect(dynamodbCalls.length, dynamodbCalls.map((c) => c.command).join(' ')).toBeLessThanOrEqual(4);
  });

  test.each([0, 2])(
    "maxPartUrls %i: a session's create answers that many part URLs; the rest are asked for one by one",
    async (maxPartUrls) => {
      const w = writer();
      const key = `limit/max-part-urls/${maxPartUrls}`;
      const res = await call(
        w,
        'POST',
        `/objects/${key}`,
        { query: 'uploads', body: JSON.stringify({ size: 3 * 5 * 1024 * KiB, partSize: 5 * 1024 * KiB }) },
        { maxPartUrls },
      );
      expect(res.statusCode).toBe(201);
      const created = JSON.parse(String(res.body)) as { uploadId: string; partCount: number; parts: Array<{ partNumber: number }> };
      expect(created.partCount).toBe(3);
      expect(created.parts.map((p) => p.partNumber)).toEqual([1, 2].slice(0, maxPartUrls));
      const more = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${created.uploadId}&partNumber=3` });
      expect(more.statusCode).toBe(200);
      expect((await call(w, 'DELETE', `/objects/${key}`, { query: `uploadId=${created.uploadId}` })).statusCode).toBe(204);
    },
  );

  test("a session's create whose part URLs cannot be signed answers the session without them (its id kept), the error to onError", async () => {
    const w = writer();
    const key = 'limit/unsigned-part-urls';
    const signing = new Error('the signer could not sign: its credentials end in 0.4 s');
    // Part URLs are UploadPart requests built up to their signing (lib/aws/presign.ts); the
    // session's own requests are not UploadParts.
    let fail = true;
    w.s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (fail && context.commandName === 'UploadPartCommand') throw signing;
        return next(args);
      },
      { step: 'build', name: 'failPartSigning' },
    );
    const { res, errors } = await createTwoPartSession(w, key);
    expect(res.statusCode).toBe(201);
    const created = JSON.parse(String(res.body)) as { uploadId: string; partCount: number; parts: unknown[] };
    expect(created.partCount).toBe(2);
    expect(created.parts).toEqual([]);
    expect(errors).toEqual([signing]);
    // The client asks for the URLs by the id it kept, and can end the session.
    fail = false;
    const one = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${created.uploadId}&partNumber=1` });
    expect(one.statusCode).toBe(200);
    expect((await call(w, 'DELETE', `/objects/${key}`, { query: `uploadId=${created.uploadId}` })).statusCode).toBe(204);
  });

  /**
   * The object's `expiresAt` passed (or came under a second away) between the session's create and
   * the signing of its part URLs (a create throttled for a second): the signing's ValidationError,
   * the client's instant, went to `onError` as a server failure, and the create answered 201 with a
   * session no part could ever be sent to, nor completed, left for the sweeper. It is a 400 naming
   * the instant, nothing logged, and the session is aborted.
   */
  test.each([
    [
      'its object expiresAt passes',
      400,
      /expiresAt/,
      (now: number) => ({ 'x-tierlog-expires-at': new Date(now + 1_500).toISOString() }),
      {},
    ],
    ['the session runs out (expiresInMs)', 410, /expired/, () => ({}), { expiresInMs: 1_000 }],
  ])(
    "a session's create where %s before its part URLs are signed: %i, not logged, the session aborted",
    async (_what, status, message, headersAt, extra) => {
      let now = Date.now();
      const w = makeWriter(fx, { store: { clock: () => now } });
      open.push(w);
      const key = `limit/expiry-passes-while-creating-${status}`;
      const create = w.store.createUpload.bind(w.store);
      let uploadId: string | undefined;
      w.store.createUpload = async (k, options) => {
        const created = await create(k, options);
        uploadId = created.uploadId;
        now += 1_000; // the create took a second (throttled, retried)
        return created;
      };
      const { res, errors } = await createTwoPartSession(w, key, { headers: headersAt(now), extra });
      expect(res.statusCode).toBe(status);
      expect(bodyOf(res).message).toMatch(message);
      expect(errors).toEqual([]);
      expect(uploadId).toBeDefined();
      const again = await call(w, 'DELETE', `/objects/${key}`, { query: `uploadId=${uploadId}` });
      expect(again.statusCode, 'the session was aborted').not.toBe(204);
    },
  );

  /**
   * The session was taken and drained (its item deleted, its upload aborted: a sweeper's work once
   * its lease had ended) between its create and the signing of its part URLs: the signing's
   * UploadSessionNotFoundError went to `onError` as a server failure and the create answered 201
   * with the id of a session that no longer exists, no part URL, every later call on it a 404.
   * It is the 410 of a session that ended ("start a new one"), not logged.
   */
  test("a session's create whose session is gone before its part URLs are signed: 410, not a 201 without URLs, not logged", async () => {
    const w = writer();
    const key = 'limit/session-gone-while-creating';
    const create = w.store.createUpload.bind(w.store);
    let uploadId: string | undefined;
    w.store.createUpload = async (k, options) => {
      const created = await create(k, options);
      uploadId = created.uploadId;
      await w.store.abortUpload(created.uploadId); // drained: item deleted, upload aborted
      return created;
    };
    const { res, errors } = await createTwoPartSession(w, key);
    expect(uploadId).toBeDefined();
    expect(res.statusCode, String(res.body)).toBe(410);
    expect(bodyOf(res).message).toMatch(/expired/);
    expect(errors).toEqual([]);
  });

  test("a session's create answers no more part URLs than a 6 MB response holds; the rest are asked for one by one", async () => {
    // 10,000 URLs of a long key take 11 MB here (40 MB on AWS, with a session token): Lambda failed
    // that answer with a 502 and no session id, and the session and its upload stayed a day.
    const w = writer();
    const key = `limit/${'k'.repeat(500)}`;
    const res = await call(
      w,
      'POST',
      `/objects/${key}`,
      { query: 'uploads', body: JSON.stringify({ size: 10_000 * 5 * 1024 * KiB, partSize: 5 * 1024 * KiB }) },
      { maxPartUrls: 10_000 },
    );
    expect(res.statusCode).toBe(201);
    expect(Buffer.byteLength(JSON.stringify(res)), 'the whole Lambda answer').toBeLessThanOrEqual(LAMBDA_PAYLOAD_BYTES);
    const created = JSON.parse(String(res.body)) as {
      uploadId: string;
      partCount: number;
      parts: Array<{ partNumber: number; url: string }>;
    };
    expect(created.partCount).toBe(10_000);
    expect(created.parts.length).toBeGreaterThan(1_000);
    expect(created.parts.length).toBeLessThan(10_000);
    expect(created.parts.map((p) => p.partNumber)).toEqual(Array.from({ length: created.parts.length }, (_, i) => i + 1));
    const next = created.parts.length + 1;
    const more = await call(w, 'GET', `/objects/${key}`, { query: `uploadId=${created.uploadId}&partNumber=${next}` });
    expect(more.statusCode).toBe(200);
    expect(new URL((JSON.parse(String(more.body)) as { url: string }).url).searchParams.get('partNumber')).toBe(String(next));
  });

  test.each([
    ['maxBodyBytes', Number.NaN, 'PUT'],
    ['maxBodyBytes', 0, 'PUT'],
    ['maxResponseBytes', Number.NaN, 'GET'],
    ['maxResponseBytes', -1, 'GET'],
    ['maxResponseBytes', 1.5, 'GET'],
    ['maxPartUrls', Number.NaN, 'POST'],
    ['maxPartUrls', 10_001, 'POST'],
  ] as const)(
    '%s %d is refused by both entry points: the handler at construction, the request function with a 500, logged',
    async (name, value, method) => {
      // The Lambda handler takes the two byte limits; the rest are the request function's alone.
      if (name !== 'maxPartUrls') expect(refusal(() => createObjectsHandler({ config: fx.config, [name]: value })).setting).toBe(name);
      const w = writer();
      await w.store.put('limit/option', randomBody(100 * KiB));
      const before = await snapshot(fx);
      const logged: unknown[] = [];
      const request =
        method === 'POST' ? { query: 'uploads', body: JSON.stringify({ size: 20 * 1024 * KiB }) } : method === 'PUT' ? { body: 'x' } : {};
      const res = await call(w, method, '/objects/limit/option', request, { [name]: value, onError: (err) => logged.push(err) });
      expect(res.statusCode).toBe(500);
      expect((logged[0] as errors.ConfigError).setting).toBe(name);
      expect(await snapshot(fx)).toBe(before);
    },
  );

  test.each([
    ['maxBodyByte', 'PUT'],
    ['redirectExpiresInMS', 'GET'],
  ] as const)(
    'a misspelt option (%s) is refused by the request function as the handler refuses it: a 500, logged, not a default nobody chose',
    async (name, method) => {
      const w = writer();
      await w.store.put('limit/misspelt', randomBody(100 * KiB));
      const before = await snapshot(fx);
      const logged: unknown[] = [];
      const options = { maxResponseBytes: LIMIT, [name]: 1_000, onError: (err: unknown) => logged.push(err) } as ObjectsApiOptions;
      const res = await call(w, method, '/objects/limit/misspelt', method === 'PUT' ? { body: 'x'.repeat(2_000) } : {}, options);
      expect(res.statusCode).toBe(500);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toBeInstanceOf(errors.ConfigError);
      expect((logged[0] as errors.ConfigError).setting).toBe(name);
      expect((logged[0] as errors.ConfigError).message).toContain(`unknown option "${name}"`);
      expect(await snapshot(fx)).toBe(before);
    },
  );

  test.each([500, 8 * 24 * 3_600_000, 1.5])(
    'redirectExpiresInMs %d (no presigned URL lives so) is a server fault, 500 and logged, not a 400 blaming the client',
    async (redirectExpiresInMs) => {
      const w = writer();
      await w.store.put('limit/redirect-lifetime', randomBody(100 * KiB));
      const logged: unknown[] = [];
      const res = await call(
        w,
        'GET',
        '/objects/limit/redirect-lifetime',
        {},
        {
          maxResponseBytes: LIMIT,
          redirectExpiresInMs,
          onError: (err) => logged.push(err),
        },
      );
      expect(res.statusCode).toBe(500);
      expect(logged).toHaveLength(1);
      expect(logged[0]).toBeInstanceOf(errors.ConfigError);
      expect((logged[0] as errors.ConfigError).message).toContain('redirectExpiresInMs');
    },
  );

  test('an inline object is answered in the body even above a limit set below the inline threshold', async () => {
    const w = writer();
    const body = randomBody(5 * KiB);
    await w.store.put('small/inline', body);
    const res = await call(w, 'GET', '/objects/small/inline', {}, { maxResponseBytes: KiB });
    expect(res.statusCode).toBe(200);
    expect(new Uint8Array(Buffer.from(String(res.body), 'base64'))).toEqual(body);
    const ranged = await call(w, 'GET', '/objects/small/inline', { headers: { range: 'bytes=0-2047' } }, { maxResponseBytes: KiB });
    expect(ranged.statusCode).toBe(206);
    expect(ranged.headers?.['content-range']).toBe(`bytes 0-2047/${5 * KiB}`);
    expect(new Uint8Array(Buffer.from(String(ranged.body), 'base64'))).toEqual(body.subarray(0, 2048));
  });
});

/** An injector that runs `replace` (another writer's overwrite) right before the first blob fetch, once. */
function replacedBeforeItsFetch(replace: () => Promise<unknown>): FaultInjector {
  return new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    match: onCommand('GetObject'),
    times: 1,
    before: async () => void (await replace()),
  });
}

/**
 * A GET whose read followed the pointer to a blob over the response limit (the blob it read
 * replaced by a larger one meanwhile) is answered by a second read, a URL: its 307 carried no
 * `x-tierlog-expires-at`, where the same object's 307 from one read carries it.
 */
test('a GET sent to S3 after its read followed the pointer to a larger blob: its 307 carries the expiry, as HEAD answers it', async () => {
  const key = 'replaced-while-read';
  const other = writer();
  await other.store.put(key, randomBody(40 * KiB), { timeToLiveMs: 3_600_000 });
  // The blob read fits the limit; before its fetch it is replaced by one over it (the old deleted).
  let replaced = false;
  const injector = replacedBeforeItsFetch(async () => {
    await other.store.put(key, randomBody(100 * KiB), { timeToLiveMs: 3_600_000 });
    replaced = true;
  });
  const w = writer(injector);
  const got = await call(w, 'GET', `/objects/${key}`, {}, { maxResponseBytes: 64 * KiB });
  expect(replaced, 'replaced while it was read').toBe(true);
  expect(got.statusCode).toBe(307);
  const headed = await call(w, 'HEAD', `/objects/${key}`);
  expect(headed.headers?.['x-tierlog-expires-at']).toBeDefined();
  expect(got.headers?.['x-tierlog-expires-at']).toBe(headed.headers?.['x-tierlog-expires-at']);
});
