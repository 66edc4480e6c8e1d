/**
 * A ranged GetObject answered 206 with a Content-Range that is not the one asked for, of a blob of
 * the item's size (a proxy or a cache in front of S3 that served another range of it, a
 * Content-Range that names no bytes): the answer is wrong, not the blob. It was refused as a blob
 * that is not its item's size, a CorruptItemError saying "its item declares 1048576 bytes, S3
 * holds 1048576", which the objects API logged as a corrupt blob. It is refused as an answer that
 * is not the range, as one without Content-Range is; a blob of another size is still corrupt.
 */
import type { Readable } from 'node:stream';
import { expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { CorruptItemError, TierlogError } from '../../lib/errors.js';
import { httpEvent } from '../functions/lambda.js';
import { rewriteRangedAnswers } from '../support/ranged-answers.js';
import { MiB, randomBody, rawPutObject, rawState, type Writer, largeObjectWriters } from './harness.js';

const { writer, fixture } = largeObjectWriters();

const BODY = randomBody(1 * MiB);

/** Every ranged GET of `w`'s S3 client is answered with its body as S3 sent it and the Content-Range `rewrite` gives. */
function rewrittenContentRange(w: Writer, rewrite: (contentRange: string) => string): { rewritten: number } {
  return rewriteRangedAnswers(w.s3, (answer) => {
    const range = answer.header('content-range');
    if (range === undefined) return false;
    answer.setHeader('content-range', rewrite(range));
    return true;
  });
}

/** Bytes 1000-500000 answered as bytes 0-499000 of the same blob: the same length, another range. */
const shifted = (contentRange: string) =>
  contentRange.replace(/^bytes (\d+)-(\d+)\//, (_m, a: string, b: string) => `bytes 0-${Number(b) - Number(a)}/`);

async function outcomeOf(read: Promise<{ body?: unknown } | undefined>): Promise<unknown> {
  try {
    const got = await read;
    const body = got?.body as Readable | Uint8Array | undefined;
    if (body !== undefined && !(body instanceof Uint8Array)) for await (const _ of body) void _;
    return 'answered';
  } catch (err) {
    return err;
  }
}

test.each([
  ['another range of the same length', shifted],
  ['a Content-Range of unknown length', (cr: string) => cr.replace(/\/\d+$/, '/*')],
])('a ranged read answered %s: refused as not the range, never as a corrupt blob', async (_name, rewrite) => {
  const w = writer();
  const key = `wrong-range/${_name.length}`;
  await w.store.put(key, BODY);
  const answers = rewrittenContentRange(w, rewrite);
  // One read at a time: a second one started beside the first rejected unheard while the first was awaited.
  const reads: Array<[string, () => Promise<{ body?: unknown } | undefined>]> = [
    ['get', () => w.store.get(key, { range: { start: 1000, end: 500_000 } })],
    ['getStream', () => w.store.getStream(key, { range: { start: 1000, end: 500_000 } })],
  ];
  for (const [name, read] of reads) {
    const error = await outcomeOf(read());
    expect(error, `${name}: refused`).toBeInstanceOf(TierlogError);
    expect(error, `${name}: the blob is its item's size`).not.toBeInstanceOf(CorruptItemError);
    expect(String(error), name).toMatch(/Content-Range .*not answered as the range/);
  }
  expect(answers.rewritten).toBeGreaterThanOrEqual(2);
  const logged: unknown[] = [];
  const res = await handleObjectsRequest(w.store, httpEvent('GET', `/objects/${key}`, { headers: { range: 'bytes=1000-500000' } }), {
    onError: (err) => logged.push(err),
  });
  expect(res.statusCode).toBe(500);
  expect(logged[0], 'logged as the answer it is, not a corrupt blob').not.toBeInstanceOf(CorruptItemError);
});

test('a ranged read of a blob of another size than its item: still a CorruptItemError', async () => {
  const w = writer();
  const key = 'wrong-range/other-size';
  await w.store.put(key, BODY);
  const blob = (await rawState(fixture())).references.get(key)!;
  await rawPutObject(fixture(), blob, randomBody(2 * MiB));
  const error = await outcomeOf(w.store.get(key, { range: { start: 1000, end: 500_000 } }));
  expect(error).toBeInstanceOf(CorruptItemError);
});
