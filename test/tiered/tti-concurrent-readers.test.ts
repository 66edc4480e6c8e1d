/**
 * Time to idle under concurrent readers: the debounce promises that an object read continuously
 * costs at most one write per debounce (lib/tiered/expiry.ts). Reads of one store that came in
 * together once a refresh was due each sent their own refresh, all but one refused by its
 * condition (a refused conditional write is billed as a write): a server answering a hot object
 * (the dev service, a container) paid one write per read in flight at that instant. Concurrent
 * reads of the same state share one refresh, and each answers the expiry it moved the object to.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import { makeWriter, randomBody, sameBytes, type Writer } from './harness.js';

let fx: Fixture;
let w: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const MINUTE = 60_000;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock: () => now } });
});
afterAll(() => w?.close());

test('20 reads in flight of a time-to-idle object due for a refresh send one refresh, each answering the expiry moved on', async () => {
  now = Date.UTC(2026, 10, 30, 12, 0, 0);
  const body = randomBody(1_000);
  const { version } = await w.store.put('tti/hot', body, { timeToIdleMs: 10 * MINUTE });
  const written = (await w.store.head('tti/hot'))!.expiresAt!.getTime();
  // 6 minutes on, 4 left: below TTI - debounce (5 minutes), a refresh is due.
  now += 6 * MINUTE;
  w.recorder.reset();
  const reads = await Promise.all([
    ...Array.from({ length: 10 }, () => w.store.get('tti/hot')),
    ...Array.from({ length: 5 }, () => w.store.get('tti/hot', { range: { start: 0, end: 9 } })),
    ...Array.from({ length: 5 }, () => w.store.head('tti/hot')),
  ]);
  const refreshes = w.recorder.names('dynamodb').filter((name) => /Update/.test(name));
  // One shared refresh (each of the 20 sent its own before). A read whose item came back only after
  // that refresh was answered (a slow GetItem under load) may send one more, refused: a few at most.
  expect(refreshes.length).toBeGreaterThanOrEqual(1);
  expect(refreshes.length, refreshes.join(', ')).toBeLessThanOrEqual(3);
  const moved = now + 10 * MINUTE;
  for (const read of reads) {
    expect(read?.version).toBe(version);
    expect(read!.expiresAt!.getTime()).toBeGreaterThanOrEqual(moved);
  }
  expect(sameBytes((reads[0] as { body: Uint8Array }).body, body)).toBe(true);
  expect((await w.store.head('tti/hot'))!.expiresAt!.getTime()).toBeGreaterThan(written);
  expect((await w.store.head('tti/hot'))!.expiresAt!.getTime()).toBe(reads[0]!.expiresAt!.getTime());
});

/**
 * A blob object's read refreshes after its body is read (a whole GET downloads it first): the reads
 * whose item came back before a refresh landed, and whose download ended after it was answered (a
 * large object read by many clients at once), each sent a refresh of their own, refused by its
 * condition (billed as a write): as many writes as downloads overlapping the refresh, not one per
 * debounce. A refresh that moved the object on answers the reads of the state it moved on from.
 */
test("a blob read whose download ends after another read's refresh landed sends no refresh of its own", async () => {
  now = Date.UTC(2026, 10, 30, 12, 0, 0);
  const body = randomBody(300 * 1024);
  const { version } = await w.store.put('tti/slow-download', body, { timeToIdleMs: 10 * MINUTE });
  now += 6 * MINUTE;
  // The first read's download is held until the second read, refresh included, has answered.
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let gets = 0;
  w.s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand' && gets++ === 0) await held;
      return next(args);
    },
    { step: 'initialize', name: 'holdFirstDownload' },
  );
  try {
    w.recorder.reset();
    const slow = w.store.get('tti/slow-download');
    while (gets === 0) await new Promise((resolve) => setImmediate(resolve));
    const fast = await w.store.get('tti/slow-download');
    release();
    const slowRead = await slow;
    const refreshes = w.recorder.names('dynamodb').filter((name) => /Update/.test(name));
    expect(refreshes, refreshes.join(', ')).toHaveLength(1);
    expect(slowRead?.version).toBe(version);
    expect(sameBytes(slowRead!.body, body)).toBe(true);
    expect(slowRead!.expiresAt!.getTime()).toBe(fast!.expiresAt!.getTime());
    expect(fast!.expiresAt!.getTime()).toBeGreaterThanOrEqual(now + 10 * MINUTE);
  } finally {
    release();
    w.s3.middlewareStack.remove('holdFirstDownload');
  }
});
