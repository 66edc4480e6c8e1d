/**
 * The largest inline object the store accepts fits DynamoDB's 400 KB item limit (which DynamoDB
 * Local enforces): a body at the highest inline threshold (384 KiB), the longest key (512 bytes),
 * the most metadata (2 KB as one long entry, or as many short ones as the store takes, each of
 * which costs a few bytes more in a map), the longest content type and a time-to-idle expiry (two attributes more),
 * written over a deletion marker too. The threshold's reserve (16 KiB) is what makes that hold.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawValue, sameBytes, type Writer } from './harness.js';

let w: Writer;
let fx: Awaited<ReturnType<typeof freshFixture>>;
beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { inlineThreshold: 384 * KiB } });
});
afterAll(() => w?.close());

const KEY = 'k'.repeat(512);
// As many entries as the store takes: 132 of a 2-character name (S3's request headers bound them,
// MAX_METADATA_HEADER_BYTES; within 2 KB alone, 1,024 would pass).
const manyShort: Record<string, string> = {};
for (const a of 'abcdefghijklmnopqrstuvwxyz0123456789')
  for (const b of 'abcdefghijklmnopqrstuvwxyz0123456789') if (Object.keys(manyShort).length < 132) manyShort[a + b] = '';
const oneLong = { ['m'.repeat(128)]: 'v'.repeat(2048 - 128) };

test.each([
  ['many short metadata entries', manyShort],
  ['one long metadata entry', oneLong],
])('a 384 KiB inline body with the longest key and %s fits, over a deletion marker too', async (_name, metadata) => {
  for (const round of [1, 2]) {
    const body = randomBody(384 * KiB);
    const result = await w.store.put(KEY, body, { metadata, contentType: 't'.repeat(255), timeToIdleMs: 3_600_000 });
    expect(result).toMatchObject({ stored: 'inline', size: 384 * KiB });
    expect(sameBytes(await rawValue(fx, KEY), body)).toBe(true);
    if (round === 1) expect(await w.store.delete(KEY)).toBe(true);
  }
});
