/**
 * A node:http adapter that serves a Function URL handler: each request becomes the payload-2.0
 * event Lambda would build (raw path and query, lower-case headers joined with commas, the body
 * base64-encoded), and the handler's structured result becomes the response. For local use only:
 * no authentication, one process.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

/** A Function URL / HTTP API v2 handler. */
export type FunctionUrlHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

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

/** The event Lambda builds for this request and body. */
export function functionUrlEvent(req: IncomingMessage, body: Buffer): APIGatewayProxyEventV2 {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQueryString = q === -1 ? '' : url.slice(q + 1);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: 'anonymous',
      apiId: 'local',
      domainName: headers['host'] ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: (req.method ?? 'GET').toUpperCase(),
        path: rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toISOString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 ? { body: body.toString('base64'), isBase64Encoded: true } : { isBase64Encoded: false }),
  };
}

/**
 * The most a buffered (synchronous) invocation carries each way: the event Lambda builds for a
 * request (its body base64-encoded) and the result the handler returns, each as JSON. Lambda
 * refuses a larger request before the function runs, and fails a larger response as a function
 * error (a Function URL answers 502). The local adapter holds both to it, so a client or a handler
 * that works here does not meet the limit for the first time on AWS.
 */
export const LAMBDA_BUFFERED_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** A request listener for `http.createServer` that runs `handler` as a Function URL would, within Lambda's payload limits. */
export function functionUrlListener(
  handler: FunctionUrlHandler,
  options: { functionName: string; timeoutMs?: number; onError?: (err: unknown) => void },
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Past the limit as raw bytes, the event is too: keep draining, stop keeping.
      if (received <= LAMBDA_BUFFERED_PAYLOAD_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      const event = received <= LAMBDA_BUFFERED_PAYLOAD_BYTES ? functionUrlEvent(req, Buffer.concat(chunks)) : undefined;
      if (event === undefined || Buffer.byteLength(JSON.stringify(event)) > LAMBDA_BUFFERED_PAYLOAD_BYTES) {
        res.writeHead(413, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            Message: `Request must be smaller than ${LAMBDA_BUFFERED_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
          }),
        );
        return;
      }
      handler(event, localContext(options.functionName, options.timeoutMs ?? 30_000))
        .then((result) => {
          if (Buffer.byteLength(JSON.stringify(result)) > LAMBDA_BUFFERED_PAYLOAD_BYTES) {
            throw new Error(
              `the response (${Buffer.byteLength(JSON.stringify(result))} bytes as JSON) exceeds Lambda's ${LAMBDA_BUFFERED_PAYLOAD_BYTES}`,
            );
          }
          res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string> | undefined);
          const body = result.body === undefined ? undefined : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
          res.end(req.method === 'HEAD' ? undefined : body);
        })
        .catch((err: unknown) => {
          options.onError?.(err);
          // What a Function URL answers when the function fails.
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ Message: 'Internal Server Error' }));
        });
    });
  };
}
