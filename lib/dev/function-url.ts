/**
 * A node:http adapter that serves a Function URL handler as Lambda does, so that a handler that
 * works here works behind a real Function URL. Each request becomes the payload-2.0 event Lambda
 * builds: `rawPath` and `rawQueryString` as sent (`requestContext.http.path` decoded),
 * `queryStringParameters` decoded (repeated names joined with commas), lower-case headers
 * (repeated ones joined with commas), the `cookie` header's cookies also the `cookies` array, with
 * the `x-forwarded-*` and `x-amzn-trace-id` Lambda adds, and the body as text for a textual
 * content type, base64 otherwise. The handler's result becomes the response as Lambda reads it: a
 * result without a `statusCode` is a 200 of its JSON (a string, of the string itself), `cookies`
 * are `set-cookie` headers, the body is sent with its own `content-length` (not one the result
 * names) and `x-amzn-requestid` (the invocation's `awsRequestId`), and a handler that throws, runs
 * past its timeout or answers more than a buffered response carries is a 502. For local use only:
 * no authentication, one process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { LAMBDA_MAX_INVOCATION_MS } from '../constants.js';
import { isIntegerIn } from '../env-integers.js';
import { keepClassNames } from '../class-names.js';
import { TierlogError, ValidationError } from '../errors.js';
import { assertOptions, kindOf } from '../plain-options.js';
import { notifyCallback } from '../callbacks.js';

/**
 * A Function URL / HTTP API v2 handler. Lambda takes any JSON value as its result: one without a
 * `statusCode` is answered as a 200 of that value's JSON.
 */
export type FunctionUrlHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2 | string | Record<string, unknown> | undefined>;

/** The handler did not answer within its timeout: Lambda ends the invocation, the Function URL answers 502. */
export class FunctionTimeoutError extends TierlogError {
  constructor(
    /** The function's timeout, ms. */
    readonly timeoutMs: number,
  ) {
    super(`Task timed out after ${(timeoutMs / 1_000).toFixed(2)} seconds`);
  }
}
keepClassNames({ FunctionTimeoutError });

/** The handler answered something Lambda cannot turn into an HTTP response: the Function URL answers 502. */
export class InvalidFunctionResponseError extends TierlogError {
  constructor(
    message: string,
    /** What the handler answered (its JSON size, when that is what was wrong). */
    readonly detail?: unknown,
  ) {
    super(message);
  }
}
keepClassNames({ InvalidFunctionResponseError });

/** The Lambda context a local invocation gets: a deadline `timeoutMs` from now. */
export function localContext(functionName: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const awsRequestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The event Lambda builds for this request and body. `requestId` is the invocation's
 * (`context.awsRequestId`), which a Function URL's `requestContext.requestId` is: the id the
 * invocation's logs carry.
 */
export function functionUrlEvent(req: IncomingMessage, body: Buffer, requestId: string = randomUUID()): APIGatewayProxyEventV2 {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQueryString = q === -1 ? '' : url.slice(q + 1);
  const { headers: sent, cookies } = requestHeaders(req);
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  const headers = { ...sent, ...forwardedHeaders(req, sent, sourceIp) };
  const queryStringParameters = queryParameters(rawQueryString);
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters !== undefined ? { queryStringParameters } : {}),
    requestContext: {
      accountId: 'anonymous',
      apiId: 'local',
      domainName: headers['host'] ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: (req.method ?? 'GET').toUpperCase(),
        path: decodedPath(rawPath),
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey: '$default',
      stage: '$default',
      time: commonLogTime(now),
      timeEpoch: now.getTime(),
    },
    ...eventBody(body, headers),
  };
}

/**
 * `requestContext.http.path`: the path percent-decoded, where `rawPath` is as sent (a live
 * Function URL event: `/capture/space%20value` and `/capture/space value`). A path that is not
 * valid percent-encoding is left as sent.
 */
function decodedPath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

/**
 * The headers Lambda's front door adds to those a client sent: `x-forwarded-for` (the client's
 * address, after any the client named), `x-forwarded-proto` and `x-forwarded-port` (of the
 * connection it took: here `http` and the local port, on AWS `https` and 443), and an
 * `x-amzn-trace-id` unless the client sent one. A handler that reads them (a client's address
 * from the last of `x-forwarded-for`, an absolute URL from the scheme) found none here.
 */
function forwardedHeaders(req: IncomingMessage, sent: Readonly<Record<string, string>>, sourceIp: string): Record<string, string> {
  const given = sent['x-forwarded-for'];
  const epoch = Math.floor(Date.now() / 1_000)
    .toString(16)
    .padStart(8, '0');
  return {
    'x-forwarded-for': given !== undefined && given.trim() !== '' ? `${given}, ${sourceIp}` : sourceIp,
    'x-forwarded-proto': 'encrypted' in req.socket && req.socket.encrypted === true ? 'https' : 'http',
    'x-forwarded-port': String(req.socket.localPort ?? ''),
    'x-amzn-trace-id': sent['x-amzn-trace-id'] ?? `Root=1-${epoch}-${randomBytes(12).toString('hex')}`,
  };
}

/**
 * The request's headers as Lambda passes them: names in lower case, a repeated header's values
 * joined with commas (Node.js joins some with ", " and keeps only the first of others, such as
 * `content-type`), and the `cookie` headers also in the `cookies` array, one cookie each. A
 * Function URL keeps the `cookie` header beside that array (an HTTP API takes it out): a live
 * event has both.
 */
export function requestHeaders(req: IncomingMessage): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values === undefined) continue;
    if (name === 'cookie') {
      for (const value of values)
        cookies.push(
          ...value
            .split(';')
            .map((c) => c.trim())
            .filter((c) => c !== ''),
        );
      // Cookie headers are joined as one (RFC 9113 §8.2.3), not with commas.
      headers[name] = values.join('; ');
    } else {
      headers[name] = values.join(',');
    }
  }
  return { headers, cookies };
}

/**
 * The query's parameters, decoded, a repeated name's values joined with commas; none without a
 * query. Each name is an own property, as in the JSON event Lambda sends: gathered on a plain
 * object, a name such as `constructor` or `toString` found the object's own member (its value
 * became `function Object() { [native code] },a`) and `__proto__` set the object's prototype.
 */
export function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const parameters = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    const before = parameters.get(name);
    parameters.set(name, before === undefined ? value : `${before},${value}`);
  }
  return Object.fromEntries(parameters);
}

/**
 * The content types whose bodies Lambda passes as text (`isBase64Encoded: false`); every other
 * one, and a body without a content type or with a content coding, is passed as base64.
 */
const TEXT_CONTENT_TYPE = /^(?:text\/[^;\s]+|application\/(?:json|javascript|xml))\s*(?:;|$)/i;

/** The event's `body` and `isBase64Encoded` for these bytes, as Lambda chooses by the content type. */
export function eventBody(
  body: Buffer,
  headers: Readonly<Record<string, string>>,
): Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'> {
  if (body.length === 0) return { isBase64Encoded: false };
  const textual = headers['content-encoding'] === undefined && TEXT_CONTENT_TYPE.test(headers['content-type'] ?? '');
  return textual ? { body: body.toString('utf8'), isBase64Encoded: false } : { body: body.toString('base64'), isBase64Encoded: true };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestContext.time` as Lambda writes it: `07/Sep/2021:22:50:22 +0000`. */
function commonLogTime(at: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(at.getUTCDate())}/${MONTHS[at.getUTCMonth()]}/${at.getUTCFullYear()}:${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())} +0000`;
}

/**
 * The most a buffered (synchronous) invocation carries in: the event Lambda builds for a request
 * (its body base64-encoded), as JSON. Lambda refuses a larger request before the function runs;
 * the local adapter too, so a client that works here does not meet the limit for the first time
 * on AWS. The result has a limit of its own, `LAMBDA_BUFFERED_RESPONSE_BYTES`.
 */
export const LAMBDA_BUFFERED_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * The most a buffered invocation's result carries, as JSON: 100 bytes more than the request's 6
 * MiB, as Lambda's own error for a larger one says ("Response payload size exceeded maximum
 * allowed payload size (6291556 bytes)"). Lambda fails a larger response as a function error (a
 * Function URL answers 502); the local adapter too, and only a larger one.
 */
export const LAMBDA_BUFFERED_RESPONSE_BYTES = 6_291_556;

/** The HTTP response Lambda makes of a handler's result. */
export interface FunctionUrlResponse {
  /** The HTTP status. */
  readonly statusCode: number;
  /** The headers, names in lower case; `set-cookie` holds the result's `cookies`. */
  readonly headers: OutgoingHttpHeaders;
  /** The body's bytes (decoded from base64 when the result says so); none without a body. */
  readonly body?: Buffer;
}

/**
 * The HTTP response of a handler's result, as Lambda reads it: the result's JSON, as the runtime
 * sends it (so a header whose value is undefined is not sent). A result with a `statusCode` (a
 * number, or its digits as a string, which Lambda takes too) is the response (its `cookies` become
 * `set-cookie` headers, and without a `content-type` of its own it is `application/json`, as a
 * Function URL answers it); any other is a 200 whose `application/json` body is the result's JSON
 * (an object without a `statusCode`, a number, a list) or, for a string, the string itself: a
 * Function URL answers `"hello"` with the 5 bytes `hello` (recorded against AWS), not quoted.
 *
 * @throws InvalidFunctionResponseError for a result Lambda answers with a 502.
 */
export function functionUrlResponse(returned: unknown): FunctionUrlResponse {
  // The runtime sends Lambda the result's JSON (undefined as null): what JSON drops (an undefined
  // header, statusCode or body) is not in the response, and a Buffer or a Date is what its JSON is.
  const json = JSON.stringify(returned === undefined ? null : returned);
  const size = Buffer.byteLength(json);
  if (size > LAMBDA_BUFFERED_RESPONSE_BYTES) {
    throw new InvalidFunctionResponseError(`the response (${size} bytes as JSON) exceeds Lambda's ${LAMBDA_BUFFERED_RESPONSE_BYTES}`, size);
  }
  const result: unknown = JSON.parse(json);
  // A string is answered as itself, not quoted as its JSON ("hello" is 5 bytes on AWS).
  if (typeof result === 'string') return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(result) };
  if (result === null || typeof result !== 'object' || !('statusCode' in result)) {
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(json) };
  }
  const structured = result as APIGatewayProxyStructuredResultV2;
  const given: unknown = structured.statusCode;
  // A status given as its digits ("418") is taken as Lambda takes it: that status.
  const statusCode = typeof given === 'string' && /^\d{3}$/.test(given) ? Number(given) : given;
  if (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599) {
    throw new InvalidFunctionResponseError(`statusCode ${JSON.stringify(given)} is not an HTTP status`, given);
  }
  // An informational status (1xx) is no final answer: sent as one, the client took it as interim,
  // waited for the answer that never came and had its connection closed under it (~5 s later).
  if (statusCode < 200) {
    throw new InvalidFunctionResponseError(
      `statusCode ${JSON.stringify(given)} is an informational (1xx) status, not a final response`,
      given,
    );
  }
  // A Function URL answers a result that names no content type as application/json.
  const headers: OutgoingHttpHeaders = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(structured.headers ?? {})) headers[name.toLowerCase()] = String(value);
  const cookies: unknown = structured.cookies ?? [];
  // A list of strings, one cookie each: a string was spread into its characters (`cookies: 'a=1'`
  // sent the three set-cookie headers `a`, `=` and `1`), which no Function URL sends.
  if (!Array.isArray(cookies) || !cookies.every((cookie) => typeof cookie === 'string')) {
    throw new InvalidFunctionResponseError(`cookies must be a list of strings, one cookie each; got ${JSON.stringify(cookies)}`, cookies);
  }
  if (cookies.length > 0)
    headers['set-cookie'] = [...(headers['set-cookie'] !== undefined ? [String(headers['set-cookie'])] : []), ...cookies];
  if (structured.body === undefined || structured.body === null) return { statusCode, headers };
  return { statusCode, headers, body: Buffer.from(String(structured.body), structured.isBase64Encoded ? 'base64' : 'utf8') };
}

/**
 * The headers the response is sent with: a buffered response goes whole, framed as Lambda frames
 * it, by the `content-length` of the body sent, never by one the result names (a handler's count
 * of a string's characters, not its bytes, or a length of other content) nor by chunks. A HEAD
 * answer, and a status without content (204, 304), keep the result's own.
 */
function framedHeaders(response: FunctionUrlResponse, method: string | undefined): OutgoingHttpHeaders {
  const { statusCode, headers, body } = response;
  if (method === 'HEAD' || statusCode === 204 || statusCode === 304) return headers;
  const { 'content-length': _named, 'transfer-encoding': _chunked, ...rest } = headers;
  return { ...rest, 'content-length': String(body?.length ?? 0) };
}

/** The body of the 502 a Function URL answers when the function fails. */
const FUNCTION_ERROR_BODY = 'Internal Server Error';

/** Runs the handler; a `FunctionTimeoutError` when it has not answered by the deadline (it is left to finish unheard, as a frozen Lambda's is). */
async function invokeWithin(
  handler: FunctionUrlHandler,
  event: APIGatewayProxyEventV2,
  context: Context,
  timeoutMs: number,
): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FunctionTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([handler(event, context), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A request listener for `http.createServer` that runs `handler` as a Function URL would: within
 * Lambda's payload limits, and within `timeoutMs` (default 30 s, the objects function's), past
 * which the request is answered 502 and the handler's answer is not waited for. `onError` is told
 * of each such failure once its 502 is answered; an `onError` that throws is a process warning,
 * never a request left unanswered.
 *
 * @throws ValidationError when `handler` is no function, the options are left out or their
 *   `functionName` is not a non-blank string, `timeoutMs` is not an integer in 1..900 000 (Lambda's 15 minutes:
 *   a handler told more time than an invocation has refuses it, tierlog's objects handler every
 *   request; and Node.js fires a timer past 2^31 - 1 ms, `Infinity` among them, after 1 ms, every
 *   request a 502), an `onError` that is no function, or an option name is not one it takes.
 */
export function functionUrlListener(
  handler: FunctionUrlHandler,
  options: { functionName: string; timeoutMs?: number; onError?: (err: unknown) => void },
): (req: IncomingMessage, res: ServerResponse) => void {
  // Checked when the listener is made: a handler that is no function (a module, a promise of one)
  // made every request a 502 of its TypeError; options left out were a TypeError reading onError,
  // and a functionName left out or blank named the function "undefined" in every context, ARN and
  // log group the handler was given.
  if (typeof handler !== 'function') {
    throw new ValidationError(`the handler must be a function of (event, context); got ${kindOf(handler)}`, 'handler');
  }
  if (options === undefined) throw new ValidationError('functionUrlListener takes its options (functionName)', 'options');
  assertOptions(options, ['functionName', 'timeoutMs', 'onError'], 'functionUrlListener');
  if (typeof options.functionName !== 'string' || options.functionName.trim() === '') {
    throw new ValidationError(
      `functionName must be the function's name, a non-blank string; got ${typeof options.functionName === 'string' ? JSON.stringify(options.functionName) : kindOf(options.functionName)}`,
      'functionName',
    );
  }
  // Called only once a request has failed: one that is no function (a logger given for its method)
  // was a process warning "onError threw: TypeError" in place of each failure, whose error was lost.
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw new ValidationError(`onError must be a function; got ${kindOf(options.onError)}`, 'onError');
  }
  if (options.timeoutMs !== undefined && !isIntegerIn(options.timeoutMs, 1, LAMBDA_MAX_INVOCATION_MS)) {
    throw new ValidationError(
      `timeoutMs must be an integer in 1..${LAMBDA_MAX_INVOCATION_MS} ms (a Lambda invocation's 15 minutes at most, as the Function URL's function has); got ${String(options.timeoutMs)}`,
      'timeoutMs',
    );
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  return (req, res) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Past the limit as raw bytes, the event is too: keep draining, stop keeping.
      if (received <= LAMBDA_BUFFERED_PAYLOAD_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const context = localContext(options.functionName, timeoutMs);
      const event =
        received <= LAMBDA_BUFFERED_PAYLOAD_BYTES ? functionUrlEvent(req, Buffer.concat(chunks), context.awsRequestId) : undefined;
      if (event === undefined || Buffer.byteLength(JSON.stringify(event)) > LAMBDA_BUFFERED_PAYLOAD_BYTES) {
        res.writeHead(413, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            Message: `Request must be smaller than ${LAMBDA_BUFFERED_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
          }),
        );
        return;
      }
      invokeWithin(handler, event, context, timeoutMs)
        .then((result) => {
          const response = functionUrlResponse(result);
          // Framed by its own length: a Content-Length the result named that is not the body's
          // left the client waiting for bytes never sent, or read the rest as the next answer.
          res.writeHead(response.statusCode, { ...framedHeaders(response, req.method), 'x-amzn-requestid': context.awsRequestId });
          res.end(req.method === 'HEAD' ? undefined : response.body);
        })
        .catch((err: unknown) => {
          // What a Function URL answers when the function fails: answered before `onError` is
          // told, whatever it does. One that threw (a log line's JSON.stringify of a circular
          // error) left the client waiting for ever, and ended the process: an unhandled rejection.
          // Its body is these words, not JSON (LocalStack's tests, validated against AWS, read them).
          res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'x-amzn-requestid': context.awsRequestId });
          res.end(FUNCTION_ERROR_BODY);
          notifyCallback('functionUrlListener: onError', options.onError, err);
        });
    });
  };
}
