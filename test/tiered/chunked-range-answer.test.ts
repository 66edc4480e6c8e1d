/**
 * A ranged GetObject answered 206 with the Content-Range asked for, sent chunked (no
 * Content-Length: a proxy, an S3-compatible store), whose body ends cleanly short of the range (a
 * proxy that cut it) or runs past it. Its bytes are counted as they come, and the count took
 * either for a blob of another length: a CorruptItemError, never read again, where the same answer
 * with a Content-Length is a cut read again from the byte reached (the objects API's 503 retry, not
 * a 500 blaming the blob), and one longer than the range an answer that is not the range. A
 * chunked ranged answer is judged as one that tells its length.
 */
import { expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { CorruptItemError, TierlogError } from '../../lib/errors.js';
import { httpEvent } from '../functions/lambda.js';
import { readAll, rewriteRangedAnswers } from '../support/ranged-answers.js';
import { MiB, randomBody, sameBytes, type Writer, largeObjectWriters } from './harness.js';

const { writer } = largeObjectWriters();

const BODY = randomBody(1 * MiB);

/**
 * The next `times` 206s of `w`'s S3 client are answered chunked (no Content-Length) with their
 * Content-Range untouched and `reshape` of their body.
 */
function chunkedRangedAnswers(w: Writer, times: number, reshape: (body: Buffer) => Buffer): { rewritten: number } {
  return rewriteRangedAnswers(w.s3, async (answer, done) => {
    if (done >= times) return false;
    const body = await answer.body();
    answer.setHeader('content-length', undefined);
    answer.setBody(reshape(body));
    return true;
  });
}

const short = (body: Buffer) => body.subarray(0, 64 * 1024);
const longer = (body: Buffer) => Buffer.concat([body, Buffer.alloc(1000, 7)]);
const RANGE = { start: 1000, end: 500_000 };

test('a ranged get answered chunked and short once: read again, the range, not a corrupt blob', async () => {
  const w = writer();
  await w.store.put('chunked-range/bytes', BODY);
  const answers = chunkedRangedAnswers(w, 1, short);
  const got = await w.store.get('chunked-range/bytes', { range: RANGE });
  expect(answers.rewritten).toBe(1);
  expect(sameBytes(got?.body, BODY.subarray(RANGE.start, RANGE.end + 1)), 'the range').toBe(true);
});

test('a ranged getStream answered chunked and short once: goes on from the byte reached, the range', async () => {
  const w = writer();
  await w.store.put('chunked-range/stream', BODY);
  const answers = chunkedRangedAnswers(w, 1, short);
  const got = await w.store.getStream('chunked-range/stream', { range: RANGE });
  expect(sameBytes(await readAll(got!.body), BODY.subarray(RANGE.start, RANGE.end + 1)), 'the range').toBe(true);
  expect(answers.rewritten).toBe(1);
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
  expect(answers.rewritten).toBe(3);
  expect(res.statusCode).toBe(503);
  expect(logged[0]).not.toBeInstanceOf(CorruptItemError);
});

test('a ranged read answered chunked and longer than the range: refused as not the range, never as a corrupt blob', async () => {
  const w = writer();
  await w.store.put('chunked-range/longer', BODY);
  chunkedRangedAnswers(w, Number.POSITIVE_INFINITY, longer);
  const bytesError = await w.store.get('chunked-range/longer', { range: RANGE }).catch((e: unknown) => e);
  const streamed = await w.store.getStream('chunked-range/longer', { range: RANGE });
  const streamError = await readAll(streamed!.body).then(
    (bytes) => bytes.byteLength,
    (e: unknown) => e,
  );
  for (const error of [bytesError, streamError]) {
    expect(error).toBeInstanceOf(TierlogError);
    expect(error).not.toBeInstanceOf(CorruptItemError);
    expect(String(error)).toMatch(/not answered as the range/);
  }
});
