/**
 * The largest inline object the store accepts fits DynamoDB's 400 KB item limit (which DynamoDB
 * Local enforces): a body at the highest inline threshold (384 KiB), the longest key (512 bytes),
 * the most metadata (2 KB as one long entry, or as many short ones as the store takes, each of
 * which costs a few bytes more in a map), the longest content type and a time-to-idle expiry (two attributes more),
 * written over a deletion marker too. The threshold's reserve (16 KiB) is what makes that hold.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { DEFAULT_HV_ATTRIBUTES } from '../../lib/tiered/hv-table.js';
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

test('it fits with the longest attribute names a configuration takes too (255 characters each, 3 KB of names)', async () => {
  const logical = Object.keys(DEFAULT_HV_ATTRIBUTES);
  const hvAttributes = Object.fromEntries(
    logical.map((name, i) => [name, `${name}${'_'.repeat(253 - name.length)}${String(i).padStart(2, '0')}`]),
  );
  const named = await freshFixture({ hvAttributes });
  const writer = makeWriter(named, { store: { inlineThreshold: 384 * KiB } });
  try {
    for (const metadata of [manyShort, oneLong]) {
      const body = randomBody(384 * KiB);
      const result = await writer.store.put('😀'.repeat(128), body, { metadata, contentType: 't'.repeat(255), timeToIdleMs: 3_600_000 });
      expect(result).toMatchObject({ stored: 'inline', size: 384 * KiB });
      expect(sameBytes((await writer.store.get('😀'.repeat(128)))?.body, body)).toBe(true);
    }
  } finally {
    writer.close();
  }
});
