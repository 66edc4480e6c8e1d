/**
 * The objects API's GET of a blob whose S3 body is cut while it is read (a connection reset
 * midway through a large blob). The SDK retries a request that fails before its answer, never a
 * body that fails while it is read, and the API reads that body itself (a buffered answer): it
 * reads the object again, as `get` does (3 GetObjects in all, `TieredStore.getBytesOrUrl`), a
 * blob replaced and deleted meanwhile followed to its successor. Cut on every one, the answer is the
 * 503 `Retry` of a connection lost, logged. Bound to a Lambda invocation whose deadline has passed,
 * the cut is not read again: the handler has answered its 503 by then, and the blob would be read
 * for nobody.
 */
import type { Readable } from 'node:stream';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { cutGets as cutS3Gets } from '../support/cut-body.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { MiB, makeWriter, randomBody, type Writer, writersClosedAfterEach } from '../tiered/harness.js';
import { httpEvent } from './lambda.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

/** The next `times` GETs of `w`'s S3 client answer a body cut after its first 64 KiB (a connection reset). */
const cutGets = (w: Writer, times: number, onCut?: () => void) => cutS3Gets(w.s3, times, onCut);

/** The S3 client's request handler, as the replacing test wraps it once more. */
interface Handler {
  handle: (request: { method: string }, options?: unknown) => Promise<{ response: { body: unknown } }>;
}

const BODY = Buffer.from(randomBody(1 * MiB));

function writer(): Writer {
  const w = makeWriter(fx, { store: { inlineThreshold: 1024 } });
  open.push(w);
  return w;
}

function get(w: Writer, key: string, headers: Record<string, string> = {}, logged: unknown[] = []) {
  return handleObjectsRequest(w.store, httpEvent('GET', `/objects/${key}`, { headers }), { onError: (err) => logged.push(err) });
}

function bytesOf(res: APIGatewayProxyStructuredResultV2): Buffer {
  return Buffer.from(String(res.body), 'base64');
}

test('a GET whose blob body is cut once midway: read again, 200 with the whole object, nothing logged', async () => {
  const w = writer();
  await w.store.put('cut/whole', BODY);
  const cuts = cutGets(w, 1);
  const logged: unknown[] = [];
  const res = await get(w, 'cut/whole', {}, logged);
  expect(cuts.cut).toBe(1);
  expect(res.statusCode).toBe(200);
  expect(res.headers?.['content-length']).toBe(String(BODY.byteLength));
  expect(bytesOf(res).equals(BODY), 'the whole body').toBe(true);
  expect(logged).toEqual([]);
});

test('a ranged GET whose blob body is cut once midway: read again, 206 with the range', async () => {
  const w = writer();
  await w.store.put('cut/range', BODY);
  const cuts = cutGets(w, 1);
  const res = await get(w, 'cut/range', { range: 'bytes=1000-500000' });
  expect(cuts.cut).toBe(1);
  expect(res.statusCode).toBe(206);
  expect(res.headers?.['content-range']).toBe(`bytes 1000-500000/${BODY.byteLength}`);
  expect(bytesOf(res).equals(BODY.subarray(1000, 500_001)), 'the range').toBe(true);
});

test('a GET whose blob was replaced between a cut read and the next: the new version answered whole, under its own ETag', async () => {
  const w = writer();
  const first = await w.store.put('cut/replaced', BODY);
  const handler = w.s3.config.requestHandler as unknown as Handler;
  const cuts = cutGets(w, 1);
  const cutHandle = handler.handle;
  const next = Buffer.from(randomBody(MiB / 2));
  let replaced: number | undefined;
  // Once the first GET is cut, the object is replaced before the API reads it again.
  handler.handle = async (request, options) => {
    const out = await cutHandle(request, options);
    if (request.method === 'GET' && replaced === undefined) {
      const body = out.response.body as Readable;
      body.once('error', () => undefined);
      replaced = (await w.store.put('cut/replaced', next)).version;
    }
    return out;
  };
  const res = await get(w, 'cut/replaced');
  expect(cuts.cut).toBe(1);
  expect(replaced).toBeGreaterThan(first.version);
  expect(res.statusCode).toBe(200);
  expect(res.headers?.etag).toBe(`"${replaced}"`);
  expect(bytesOf(res).equals(next), 'the new version, whole').toBe(true);
});

test('cut on every attempt: 503 Retry after 3 GETs, logged once', async () => {
  const w = writer();
  await w.store.put('cut/always', BODY);
  const cuts = cutGets(w, Number.POSITIVE_INFINITY);
  const logged: unknown[] = [];
  const res = await get(w, 'cut/always', {}, logged);
  expect(cuts.gets).toBe(3);
  expect(res.statusCode).toBe(503);
  expect(res.headers?.['retry-after']).toBe('1');
  expect(JSON.parse(String(res.body)).error).toBe('Retry');
  expect(logged).toHaveLength(1);
  expect((logged[0] as Error).message).toBe('aborted');
});

test('a GET bound to an invocation whose deadline passes during the cut read: not read again, the 503 of the cut', async () => {
  let ahead = 0;
  const w = makeWriter(fx, { store: { inlineThreshold: 1024, clock: () => Date.now() + ahead } });
  open.push(w);
  await w.store.put('cut/deadline', BODY);
  w.log.setInvocationDeadline(Date.now() + 60_000);
  // Two GETs cut: this read's, in which the invocation's minute runs out, and the next read's first.
  const cuts = cutGets(w, 2, () => {
    if (cuts.cut === 1) ahead = 120_000;
  });
  const res = await get(w, 'cut/deadline');
  expect(cuts.gets, 'one GET: none sent after the deadline').toBe(1);
  expect(res.statusCode).toBe(503);
  expect(JSON.parse(String(res.body)).error).toBe('Retry');
  // A read that began before its deadline and is cut before it: read again.
  ahead = 0;
  const again = await get(w, 'cut/deadline');
  expect(cuts.gets).toBe(3);
  expect(again.statusCode).toBe(200);
  expect(bytesOf(again).equals(BODY)).toBe(true);
});
