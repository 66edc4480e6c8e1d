/**
 * The local Function URL adapter holds requests and responses to Lambda's buffered payload limit
 * (6 MB each way, as the invocation's JSON), so a client or a handler that works locally does not
 * meet the limit for the first time on AWS: a larger request is refused before the handler runs
 * (413), a larger response fails as a function error (502).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { type FunctionUrlHandler, functionUrlListener, LAMBDA_BUFFERED_PAYLOAD_BYTES } from '../../lib/dev/function-url.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: FunctionUrlHandler, onError?: (err: unknown) => void): Promise<string> {
  const server = createServer(functionUrlListener(handler, { functionName: 'limits', ...(onError ? { onError } : {}) }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('Lambda payload limits on the local Function URL', () => {
  test('a request whose event passes 6 MB is 413 and never reaches the handler; one within it does', async () => {
    const seen: number[] = [];
    const url = await serve(async (event) => {
      seen.push(Buffer.from(event.body ?? '', 'base64').length);
      return { statusCode: 200, body: 'ok' };
    });
    // 4.5 MiB: its base64 event is 6 MiB and more.
    const tooLarge = await fetch(`${url}/x`, { method: 'PUT', body: new Uint8Array(4.5 * 1024 * 1024) });
    expect(tooLarge.status).toBe(413);
    expect(((await tooLarge.json()) as { Message: string }).Message).toContain(String(LAMBDA_BUFFERED_PAYLOAD_BYTES));
    // Raw bytes past the limit: refused without buffering them all.
    expect((await fetch(`${url}/x`, { method: 'PUT', body: new Uint8Array(7 * 1024 * 1024) })).status).toBe(413);
    expect(seen).toEqual([]);
    const fits = await fetch(`${url}/x`, { method: 'PUT', body: new Uint8Array(4 * 1024 * 1024) });
    expect(fits.status).toBe(200);
    expect(seen).toEqual([4 * 1024 * 1024]);
  });

  test('a response past 6 MB as JSON is a 502, the error goes to onError; one within it is served', async () => {
    const errors: unknown[] = [];
    let size = 0;
    const url = await serve(
      async () => ({ statusCode: 200, body: Buffer.alloc(size).toString('base64'), isBase64Encoded: true }),
      (err) => errors.push(err),
    );
    size = 4.6 * 1024 * 1024; // 6.13 MiB of base64
    const tooLarge = await fetch(`${url}/x`);
    expect(tooLarge.status).toBe(502);
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toMatch(/exceeds Lambda's 6291456/);
    size = 4 * 1024 * 1024;
    const fits = await fetch(`${url}/x`);
    expect(fits.status).toBe(200);
    expect((await fits.arrayBuffer()).byteLength).toBe(size);
  });
});
