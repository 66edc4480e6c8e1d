/**
 * A read of a blob whose GetObject body is cut while it is read (a connection reset midway
 * through a large blob). The SDK retries a request that failed before its answer, never a body
 * that fails while it is read: `get` (whole or ranged) reads the body itself, so it sends the GET
 * again, as many times as the SDK tries a request (3 in all); the blob key is written once, so
 * the second answer is the same bytes. Cut every time, the read fails with the cut, never taken
 * for a missing or corrupt blob. Bound to a Lambda invocation whose deadline has passed, it is not
 * read again: the cut is the answer, not a large blob read for an invocation that has ended.
 */
import { beforeAll, expect, test } from 'vitest';
import { BlobMissingError, CorruptItemError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { cutGets as cutS3Gets } from '../support/cut-body.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { MiB, makeWriter, randomBody, sameBytes, type Writer, writersClosedAfterEach } from './harness.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

/** The next `times` GETs of `w`'s S3 client answer a body cut after its first 64 KiB (a connection reset). */
const cutGets = (w: Writer, times: number, onCut?: () => void) => cutS3Gets(w.s3, times, onCut);

const BODY = randomBody(1 * MiB);

function writer(): Writer {
  const w = makeWriter(fx, { injector: new FaultInjector(), store: { inlineThreshold: 1024, partSize: 5 * MiB } });
  open.push(w);
  return w;
}

test('get of a blob whose body is cut once midway: read again, the whole body answered', async () => {
  const w = writer();
  await w.store.put('cut/whole', BODY);
  const cuts = cutGets(w, 1);
  const got = await w.store.get('cut/whole');
  expect(cuts.cut).toBe(1);
  expect(sameBytes(got?.body, BODY), 'the whole body').toBe(true);
});

test('a ranged get whose body is cut once midway: read again, the range answered', async () => {
  const w = writer();
  await w.store.put('cut/range', BODY);
  const cuts = cutGets(w, 1);
  const got = await w.store.get('cut/range', { range: { start: 1000, end: 500_000 } });
  expect(cuts.cut).toBe(1);
  expect(got?.range).toEqual({ start: 1000, end: 500_000, size: BODY.byteLength });
  expect(sameBytes(got?.body, BODY.subarray(1000, 500_001)), 'the range').toBe(true);
});

test('cut on every attempt: the get fails with the cut after 3 GETs, not as a missing or corrupt blob', async () => {
  const w = writer();
  await w.store.put('cut/always', BODY);
  const cuts = cutGets(w, Number.POSITIVE_INFINITY);
  const error = await w.store.get('cut/always').catch((e: unknown) => e);
  expect(cuts.cut).toBe(3);
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(CorruptItemError);
  expect(error).not.toBeInstanceOf(BlobMissingError);
  expect((error as Error).message).toBe('aborted');
});

test.each([
  ['whole', undefined],
  ['ranged', { start: 1000, end: 500_000 }],
] as const)(
  '%s get bound to an invocation whose deadline passes during the cut read: not read again, the cut answered',
  async (name, range) => {
    let ahead = 0;
    const w = makeWriter(fx, { store: { inlineThreshold: 1024, partSize: 5 * MiB, clock: () => Date.now() + ahead } });
    open.push(w);
    const key = `cut/deadline-${name}`;
    await w.store.put(key, BODY);
    w.log.setInvocationDeadline(Date.now() + 60_000);
    // Two GETs cut: this read's, in which the invocation's minute runs out, and the next read's first.
    const cuts = cutGets(w, 2, () => {
      if (cuts.cut === 1) ahead = 120_000;
    });
    const error = await w.store.get(key, range === undefined ? {} : { range }).catch((e: unknown) => e);
    expect(cuts.cut, 'one GET: none sent after the deadline').toBe(1);
    expect((error as Error).message).toBe('aborted');
    // A read that began before its deadline and is cut before it: read again.
    ahead = 0;
    const got = await w.store.get(key, range === undefined ? {} : { range });
    expect(cuts.cut).toBe(2);
    expect(got?.body.byteLength).toBe(range === undefined ? BODY.byteLength : 500_001 - 1000);
  },
);
