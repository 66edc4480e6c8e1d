/**
 * The objects function behind a local HTTP server, as a Function URL in BUFFERED mode puts it:
 * the request becomes a payload-2.0 event (body base64, at most 6 MB), the handler's result
 * becomes the response (at most 6 MB). Clients then talk to it with plain `fetch`, the way they
 * talk to the deployed function.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { httpEvent, lambdaContext } from './lambda.js';

/** Lambda's buffered payload limit, each way. */
export const FUNCTION_URL_LIMIT = 6 * 1024 * 1024;

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

export interface FunctionUrl {
  readonly url: string;
  close(): Promise<void>;
}

export async function serveFunction(handler: Handler): Promise<FunctionUrl> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (body === undefined) {
        res
          .writeHead(413, { 'content-type': 'application/json' })
          .end(JSON.stringify({ message: 'Request must be smaller than 6291456 bytes' }));
        return;
      }
      const url = new URL(req.url ?? '/', 'http://localhost');
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) if (typeof value === 'string') headers[name] = value;
      const event = httpEvent(req.method ?? 'GET', url.pathname, {
        headers,
        ...(body.byteLength > 0 ? { body: body.toString('base64'), isBase64Encoded: true } : {}),
      });
      event.rawQueryString = url.search.slice(1);
      const out = await handler(event, lambdaContext('tierlog-objects'));
      const payload = out.body === undefined ? Buffer.alloc(0) : Buffer.from(out.body, out.isBase64Encoded ? 'base64' : 'utf8');
      if (payload.byteLength > FUNCTION_URL_LIMIT) {
        res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'response payload too large' }));
        return;
      }
      res.writeHead(out.statusCode ?? 200, out.headers as Record<string, string>).end(payload);
    })().catch((err) => {
      res.writeHead(500).end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).byteLength;
    if (size > FUNCTION_URL_LIMIT) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
