/**
 * A ranged GetObject answered 206 with the Content-Range asked for and a Content-Length, and a
 * body, longer than that range (a proxy in front of S3 that sent more of the blob under the
 * Content-Range asked for). Node reads a body to its Content-Length, so a ranged stream gave every
 * byte of it, the range's and then more, and ended cleanly as the range: a download written at its
 * offsets was corrupted past the range, and a whole `getStream` whose body was cut and went on
 * with a GetObject of the rest was longer than the blob. It is refused as an answer that is not
 * the range, before any byte of it is given (as `get` refused it, after reading it, as a blob of
 * another size).
 */
import type { Readable } from 'node:stream';
import { expect, test } from 'vitest';
import { CorruptItemError, TierlogError } from '../../lib/errors.js';
import { cutGets } from '../support/cut-body.js';
import { rewriteRangedAnswers } from '../support/ranged-answers.js';
import { MiB, randomBody, type Writer, largeObjectWriters } from './harness.js';

const { writer } = largeObjectWriters();

const BODY = randomBody(1 * MiB);

/** Every 206 `w`'s S3 client gets carries 1,000 bytes more than its Content-Range, its Content-Length saying so. */
function longerRangedAnswers(w: Writer): { rewritten: number } {
  return rewriteRangedAnswers(w.s3, async (answer) => {
    const longer = Buffer.concat([await answer.body(), Buffer.alloc(1000, 7)]);
    answer.setHeader('content-length', String(longer.byteLength));
    answer.setBody(longer);
    return true;
  });
}

/** The bytes a stream gave, and what it failed with. */
async function drain(body: Readable): Promise<{ bytes: number; error?: unknown }> {
  let bytes = 0;
  try {
    for await (const chunk of body) bytes += (chunk as Uint8Array).byteLength;
    return { bytes };
  } catch (error) {
    return { bytes, error };
  }
}

test('a ranged getStream answered with more bytes than its range: the stream fails, never gives a byte past the range', async () => {
  const w = writer();
  await w.store.put('long-range/stream', BODY);
  const answers = longerRangedAnswers(w);
  const got = await w.store.getStream('long-range/stream', { range: { start: 1000, end: 500_000 } }).then(
    async (result) => drain(result!.body),
    (error: unknown) => ({ bytes: 0, error }),
  );
  expect(answers.rewritten).toBe(1);
  expect(got.bytes, 'no byte past the range').toBeLessThanOrEqual(499_001);
  expect(got.error, 'not ended as the range').toBeInstanceOf(TierlogError);
  expect(String(got.error)).toMatch(/not answered as the range/);
});

test('a ranged get answered with more bytes than its range: refused as an answer that is not the range, not a corrupt blob', async () => {
  const w = writer();
  await w.store.put('long-range/bytes', BODY);
  longerRangedAnswers(w);
  const error = await w.store.get('long-range/bytes', { range: { start: 1000, end: 500_000 } }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TierlogError);
  expect(error).not.toBeInstanceOf(CorruptItemError);
});

test('a whole getStream cut once, the GetObject of the rest answered longer: the stream fails, never longer than the blob', async () => {
  const w = writer();
  await w.store.put('long-range/resumed', BODY);
  // The whole GET (a 200) is cut after 64 KiB; the GetObject of the rest (a 206) comes back longer.
  const cuts = cutGets(w.s3, 1);
  const answers = longerRangedAnswers(w);
  const got = await drain((await w.store.getStream('long-range/resumed'))!.body);
  expect(cuts.cut).toBe(1);
  expect(answers.rewritten).toBe(1);
  expect(got.bytes, 'no byte past the blob').toBeLessThanOrEqual(BODY.byteLength);
  expect(got.error).toBeInstanceOf(TierlogError);
});
