/**
 * A revalidation (`If-None-Match`) of a blob object in the last second of its life: the objects
 * API judges such a GET on the item before any blob is opened, asking the store for a URL of any
 * size, and the store signs none for less than a second of life. The GET answered 404 for an
 * object that was there (a GET without the header at the same instant answered 200 and its
 * body); a cache holding it was told it was gone instead of 304. It is judged on the item as
 * `head` reads it (an object there is one), and its bytes read as a GET without the header reads them.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, sameBytes, type Writer } from '../tiered/harness.js';
import { httpEvent } from './lambda.js';

let fx: Fixture;
let w: Writer;
let now = Date.now();

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock: () => now } });
});
afterAll(() => w?.close());

function get(key: string, headers: Record<string, string> = {}): Promise<APIGatewayProxyStructuredResultV2> {
  return handleObjectsRequest(w.store, httpEvent('GET', `/objects/${key}`, { headers }), { maxResponseBytes: 64 * KiB });
}

test.each([
  ['a time to live', 'ttl', { timeToLiveMs: 60_000 }],
  ['a time to idle', 'tti', { timeToIdleMs: 60_000 }],
])('a blob answered in the body, with %s, revalidated in its last second: 304 or its body, never 404', async (_name, name, policy) => {
  now = Date.now();
  const key = `last-second/${name}`;
  const body = randomBody(30 * KiB);
  const put = await w.store.put(key, body, policy);
  expect(put.stored).toBe('blob');
  const info = await w.store.head(key);
  // Half a second of its life left: past the refresh margin of a time to idle, so no read moves it on.
  now = info!.expiresAt!.getTime() - 500;
  const etag = `"${put.version}"`;
  const plain = await get(key);
  expect(plain.statusCode).toBe(200);
  const same = await get(key, { 'if-none-match': etag });
  expect(same.statusCode).toBe(304);
  expect(same.headers?.etag).toBe(etag);
  const other = await get(key, { 'if-none-match': '"1234567890123456"' });
  expect(other.statusCode).toBe(200);
  expect(sameBytes(new Uint8Array(Buffer.from(String(other.body), 'base64')), body)).toBe(true);
  // Once expired it is absent to both.
  now = info!.expiresAt!.getTime();
  expect((await get(key)).statusCode).toBe(404);
  expect((await get(key, { 'if-none-match': etag })).statusCode).toBe(404);
});
