/**
 * A time-to-idle large object's refresh is a MODIFY of an item whose old image names its blob, as
 * an overwrite's is: on the construct's stream of old images, the objects-stream function's event
 * filter passes it, and the function re-reads the item to learn the blob is kept. The cost of a
 * time-to-idle object (README, docs/COST.md) says so: it was "one extra write" per debounce, and a
 * large object's refresh cost the stream function a record and a consistent read besides.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { hvAttributeNames } from '../../lib/config.js';
import { StreamReader } from '../../lib/local/stream-reader.js';
import { objectsStreamFilterPatterns, passesStreamFilters } from '../../lib/recovery/stream-filter.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, type Writer } from './harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** A document as one line of single spaces: its sentences wrap anywhere. */
const flat = (file: string) => readFileSync(join(root, file), 'utf8').replace(/\s+/g, ' ');

let fx: Fixture;
let writer: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);

beforeAll(async () => {
  fx = await freshFixture();
  writer = makeWriter(fx, { store: { clock: () => now } });
});
afterAll(() => writer?.close());

test("a large time-to-idle object's refresh reaches the stream function, and its cost says so", async () => {
  // The construct's view type: old images only, so a refresh cannot be told from an overwrite by the filter.
  const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable, 'OLD_IMAGE');
  const tti = 10 * 60_000;
  await writer.store.put('idle/large', randomBody(40 * KiB), { timeToIdleMs: tti });
  now += 6 * 60_000; // 4 min left, under TTI - debounce: the read refreshes
  await writer.store.head('idle/large');
  const records = await reader.read();
  const refresh = records.filter((r) => r.eventName === 'MODIFY');
  expect(refresh).toHaveLength(1);
  const names = hvAttributeNames(fx.config);
  expect(passesStreamFilters(refresh[0], objectsStreamFilterPatterns(names, names.blob)), 'the event filter passes the refresh').toBe(true);
  for (const doc of ['README.md', 'docs/COST.md']) {
    const phrase = "a large one's refresh also reaches the stream function, as an overwrite does";
    expect(flat(doc).includes(phrase), `${doc} says: ${phrase}`).toBe(true);
  }
});
