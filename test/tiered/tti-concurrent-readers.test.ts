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
