/**
 * A ranged GetObject answered 206 with the Content-Range asked for and a Content-Length, and a
 * body, shorter than that range (a proxy in front of S3 that cut the body and its length with it,
 * an S3-compatible store): the body ends cleanly, at its Content-Length, so nothing reading it
 * sees a cut. A ranged stream ended there as if whole, the range's last bytes never given and no
 * error; it is a cut now, and the stream goes on from the byte it reached, as after a reset.
 */
import { expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { CorruptItemError } from '../../lib/errors.js';
import { httpEvent } from '../functions/lambda.js';
import { readAll, rewriteRangedAnswers } from '../support/ranged-answers.js';
import { MiB, randomBody, sameBytes, type Writer, largeObjectWriters } from './harness.js';

const { writer } = largeObjectWriters();

const BODY = randomBody(1 * MiB);

/**
 * The next `times` ranged GETs of `w`'s S3 client are answered 206 with their Content-Range
 * untouched and only the first `keep` bytes of the body, its Content-Length saying so.
 */
function shortRangedAnswers(w: Writer, times: number, keep = 64 * 1024): { rewritten: number } {
  return rewriteRangedAnswers(w.s3, async (answer, done) => {
    if ((answer.requestHeaders.range ?? answer.requestHeaders.Range) === undefined || done >= times) return false;
    const whole = await answer.body();
    const kept = whole.subarray(0, Math.min(keep, whole.byteLength - 1));
    answer.setHeader('content-length', String(kept.byteLength));
    answer.setBody(kept);
    return true;
  });
}

test('a ranged getStream answered short once: goes on from the byte reached, the whole range', async () => {
  const w = writer();
  await w.store.put('short-range/once', BODY);
  const answers = shortRangedAnswers(w, 1);
  const got = await w.store.getStream('short-range/once', { range: { start: 1000, end: 500_000 } });
  const bytes = await readAll(got!.body);
  expect(answers.rewritten).toBe(1);
  expect(bytes.byteLength, 'the range, not a prefix of it').toBe(499_001);
  expect(sameBytes(bytes, BODY.subarray(1000, 500_001)), 'the range').toBe(true);
});

test('a ranged getStream answered short every time: the stream fails, never ends short as if whole', async () => {
  const w = writer();
  await w.store.put('short-range/always', BODY);
  const answers = shortRangedAnswers(w, Number.POSITIVE_INFINITY);
  const got = await w.store.getStream('short-range/always', { range: { start: 1000, end: 500_000 } });
  const outcome = await readAll(got!.body).then(
    (bytes) => ({ bytes: bytes.byteLength }),
    (error: unknown) => ({ error }),
  );
  expect(answers.rewritten).toBe(3);
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
  expect(answers.rewritten).toBe(1);
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
  expect(answers.rewritten).toBe(3);
  expect(res.statusCode).toBe(503);
  expect(res.headers?.['retry-after']).toBe('1');
  expect(logged[0]).not.toBeInstanceOf(CorruptItemError);
});
