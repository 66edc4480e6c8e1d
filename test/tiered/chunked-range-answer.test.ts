/**
 * A ranged GetObject answered 206 with the Content-Range asked for, sent chunked (no
 * Content-Length: a proxy, an S3-compatible store), whose body ends cleanly short of the range (a
 * proxy that cut it) or runs past it. Its bytes are counted as they come, and the count took
 * either for a blob of another length: a CorruptItemError, never read again, where the same answer
 * with a Content-Length is a cut read again from the byte reached (the objects API's 503 retry, not
 * a 500 blaming the blob), and one longer than the range an answer that is not the range. A
 * chunked ranged answer is judged as one that tells its length.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import { beforeAll, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { CorruptItemError, TierlogError } from '../../lib/errors.js';
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
 * The next `times` 206s of `w`'s S3 client are answered chunked (no Content-Length) with their
 * Content-Range untouched and `reshape` of their body.
 */
function chunkedRangedAnswers(w: Writer, times: number, reshape: (body: Buffer) => Buffer): { answered: number } {
  const handler = w.s3.config.requestHandler as unknown as Handler;
  const send = handler.handle.bind(handler);
  const state = { answered: 0 };
  handler.handle = async (request, options) => {
    const out = await send(request, options);
    if (request.method !== 'GET' || out.response.statusCode !== 206 || state.answered >= times) return out;
    state.answered++;
    const chunks: Buffer[] = [];
    for await (const chunk of out.response.body as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
    for (const name of Object.keys(out.response.headers)) {
      if (name.toLowerCase() === 'content-length') delete out.response.headers[name];
    }
    out.response.body = ReadableStream.from([reshape(Buffer.concat(chunks))]);
    return out;
  };
  return state;
}

const short = (body: Buffer) => body.subarray(0, 64 * 1024);
const longer = (body: Buffer) => Buffer.concat([body, Buffer.alloc(1000, 7)]);
const RANGE = { start: 1000, end: 500_000 };

async function read(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

test('a ranged get answered chunked and short once: read again, the range, not a corrupt blob', async () => {
  const w = writer();
  await w.store.put('chunked-range/bytes', BODY);
  const answers = chunkedRangedAnswers(w, 1, short);
  const got = await w.store.get('chunked-range/bytes', { range: RANGE });
  expect(answers.answered).toBe(1);
  expect(sameBytes(got?.body, BODY.subarray(RANGE.start, RANGE.end + 1)), 'the range').toBe(true);
});

test('a ranged getStream answered chunked and short once: goes on from the byte reached, the range', async () => {
  const w = writer();
  await w.store.put('chunked-range/stream', BODY);
  const answers = chunkedRangedAnswers(w, 1, short);
  const got = await w.store.getStream('chunked-range/stream', { range: RANGE });
  expect(sameBytes(await read(got!.body), BODY.subarray(RANGE.start, RANGE.end + 1)), 'the range').toBe(true);
  expect(answers.answered).toBe(1);
});

test('the objects API, a Range GET answered chunked and short on every read: a 503 Retry (a cut), not a 500 blaming the blob', async () => {
  const w = writer();
  await w.store.put('chunked-range/api', BODY);
  const answers = chunkedRangedAnswers(w, Number.POSITIVE_INFINITY, short);
  const logged: unknown[] = [];
  const res = await handleObjectsRequest(
    w.store,
    httpEvent('GET', '/objects/chunked-range/api', { headers: { range: 'bytes=1000-500000' } }),
    { onError: (err) => logged.push(err) },
  );
  expect(answers.answered).toBe(3);
  expect(res.statusCode).toBe(503);
  expect(logged[0]).not.toBeInstanceOf(CorruptItemError);
});

test('a ranged read answered chunked and longer than the range: refused as not the range, never as a corrupt blob', async () => {
  const w = writer();
  await w.store.put('chunked-range/longer', BODY);
  chunkedRangedAnswers(w, Number.POSITIVE_INFINITY, longer);
  const bytesError = await w.store.get('chunked-range/longer', { range: RANGE }).catch((e: unknown) => e);
  const streamed = await w.store.getStream('chunked-range/longer', { range: RANGE });
  const streamError = await read(streamed!.body).then(
    (bytes) => bytes.byteLength,
    (e: unknown) => e,
  );
  for (const error of [bytesError, streamError]) {
    expect(error).toBeInstanceOf(TierlogError);
    expect(error).not.toBeInstanceOf(CorruptItemError);
    expect(String(error)).toMatch(/not answered as the range/);
  }
});
