/**
 * A ranged GetObject answered 206 with the Content-Range asked for and a Content-Length, and a
 * body, shorter than that range (a proxy in front of S3 that cut the body and its length with it,
 * an S3-compatible store): the body ends cleanly, at its Content-Length, so nothing reading it
 * sees a cut. A ranged stream ended there as if whole, the range's last bytes never given and no
 * error; it is a cut now, and the stream goes on from the byte it reached, as after a reset.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { beforeAll, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { CorruptItemError } from '../../lib/errors.js';
import { httpEvent } from '../functions/lambda.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { MiB, makeWriter, randomBody, sameBytes, type Writer, writersClosedAfterEach } from './harness.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

const BODY = randomBody(1 * MiB);

function writer(): Writer {
  const w = makeWriter(fx, { store: { inlineThreshold: 1024, partSize: 5 * MiB } });
  open.push(w);
  return w;
}

interface Handler {
  handle: (
    request: { method: string; headers: Record<string, string> },
    options?: unknown,
  ) => Promise<{ response: { statusCode: number; headers: Record<string, string>; body: unknown } }>;
}

/**
 * The next `times` ranged GETs of `w`'s S3 client are answered 206 with their Content-Range
 * untouched and only the first `keep` bytes of the body, its Content-Length saying so.
 */
function shortRangedAnswers(w: Writer, times: number, keep = 64 * 1024): { shortened: number } {
  const handler = w.s3.config.requestHandler as unknown as Handler;
  const send = handler.handle.bind(handler);
  const state = { shortened: 0 };
  handler.handle = async (request, options) => {
    const out = await send(request, options);
    const ranged = request.headers.range ?? request.headers.Range;
    if (request.method !== 'GET' || ranged === undefined || out.response.statusCode !== 206 || state.shortened >= times) return out;
    state.shortened++;
    const chunks: Buffer[] = [];
    for await (const chunk of out.response.body as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
    const whole = Buffer.concat(chunks);
    const kept = whole.subarray(0, Math.min(keep, whole.byteLength - 1));
    for (const name of Object.keys(out.response.headers)) {
      if (name.toLowerCase() === 'content-length') out.response.headers[name] = String(kept.byteLength);
    }
    out.response.body = ReadableStream.from([kept]);
    return out;
  };
  return state;
}

async function read(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

test('a ranged getStream answered short once: goes on from the byte reached, the whole range', async () => {
  const w = writer();
  await w.store.put('short-range/once', BODY);
  const answers = shortRangedAnswers(w, 1);
  const got = await w.store.getStream('short-range/once', { range: { start: 1000, end: 500_000 } });
  const bytes = await read(got!.body);
  expect(answers.shortened).toBe(1);
  expect(bytes.byteLength, 'the range, not a prefix of it').toBe(499_001);
  expect(sameBytes(bytes, BODY.subarray(1000, 500_001)), 'the range').toBe(true);
});

test('a ranged getStream answered short every time: the stream fails, never ends short as if whole', async () => {
  const w = writer();
  await w.store.put('short-range/always', BODY);
  const answers = shortRangedAnswers(w, Number.POSITIVE_INFINITY);
  const got = await w.store.getStream('short-range/always', { range: { start: 1000, end: 500_000 } });
  const outcome = await read(got!.body).then(
    (bytes) => ({ bytes: bytes.byteLength }),
    (error: unknown) => ({ error }),
  );
  expect(answers.shortened).toBe(3);
  expect('error' in outcome, JSON.stringify(outcome)).toBe(true);
  const error = (outcome as { error: Error }).error;
  expect(error).not.toBeInstanceOf(CorruptItemError);
  expect(error.message).toMatch(/short/);
});

test('a ranged get (bytes) answered short once: read again, the range, not a corrupt blob', async () => {
  const w = writer();
  await w.store.put('short-range/bytes', BODY);
  const answers = shortRangedAnswers(w, 1);
  const got = await w.store.get('short-range/bytes', { range: { start: 1000, end: 500_000 } });
  expect(answers.shortened).toBe(1);
  expect(sameBytes(got?.body, BODY.subarray(1000, 500_001)), 'the range').toBe(true);
});

test('the objects API, a Range GET answered short on every read: a 503 Retry (a cut), not a 500 blaming the blob', async () => {
  const w = writer();
  await w.store.put('short-range/api', BODY);
  const answers = shortRangedAnswers(w, Number.POSITIVE_INFINITY);
  const logged: unknown[] = [];
  const res = await handleObjectsRequest(
    w.store,
    httpEvent('GET', '/objects/short-range/api', { headers: { range: 'bytes=1000-500000' } }),
    { onError: (err) => logged.push(err) },
  );
  expect(answers.shortened).toBe(3);
  expect(res.statusCode).toBe(503);
  expect(res.headers?.['retry-after']).toBe('1');
  expect(logged[0]).not.toBeInstanceOf(CorruptItemError);
});
