/**
 * A writer whose objects-table attribute names are not those of the item's writer: a function
 * deployed without `TIERLOG_HV_ATTRIBUTES`, or one still on the old names while a deploy changes
 * them (docs/DESIGN.md, "Upgrades and configuration changes"). Its reads of such an item are a
 * `CorruptItemError`; so must its writes be. They were not: a large put read the item without its
 * body (as every write does), took it for an empty object, and its condition (the version read)
 * matched: it wrote its blob beside the item's, answered success with a new version, and every
 * reader of the writers' names went on reading the old bytes, now under that version. Each write
 * here is refused with nothing written and nothing left behind, checked from outside.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { CorruptItemError } from '../../lib/errors.js';
import type { TierlogConfig } from '../../lib/config.js';
import { freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawState, sameBytes, type Writer } from './harness.js';

const open: Writer[] = [];
afterEach(() => {
  for (const w of open.splice(0)) w.close();
});

const WRITERS_NAMES = { blob: 'ptr', body: 'data' };

describe.each([
  ['a large object (a blob)', 64 * KiB],
  ['a small object (inline)', 1 * KiB],
])('%s of the writers, written over by a writer of the default names', (_name, size) => {
  test.each([
    ['a large put', (w: Writer) => w.store.put('names/x', randomBody(64 * KiB))],
    ['a small put', (w: Writer) => w.store.put('names/x', 'tiny')],
    ['a delete', (w: Writer) => w.store.delete('names/x')],
    [
      // The version as the writers' answered it (a head of this writer's refuses the item, as a get does).
      'a conditional put on the version it read',
      (w: Writer, version: number) => w.store.put('names/x', randomBody(64 * KiB), { ifVersion: version }),
    ],
    [
      // The version matched as a put's did: the session opened and took its parts, and only its
      // complete was refused, after the client had sent them all.
      'an upload session conditional on the version it read',
      (w: Writer, version: number) => w.store.createUpload('names/x', { size: 64 * KiB, ifVersion: version }),
    ],
  ])('%s is refused (CorruptItemError): nothing written, nothing left behind, the object reads as it was', async (_what, write) => {
    const fx = await freshFixture({ hvAttributes: WRITERS_NAMES });
    const writers = makeWriter(fx);
    const { hvAttributes: _names, ...defaults } = fx.config as TierlogConfig & { hvAttributes: unknown };
    const other = makeWriter({ ...fx, config: defaults });
    open.push(writers, other);
    const body = randomBody(size);
    const { version } = await writers.store.put('names/x', body);
    const before = await rawState(fx);

    await expect(write(other, version)).rejects.toBeInstanceOf(CorruptItemError);
    // The objects item and the bucket as they were (a large put's upload deleted), no entry left.
    const after = await rawState(fx);
    expect(after.objects).toEqual(before.objects);
    expect(after.blobs).toEqual(before.blobs);
    expect(after.uploads, 'no multipart upload left in progress').toEqual(before.uploads);
    expect(after.entries).toBe(0);
    const read = await writers.store.get('names/x');
    expect(read?.version).toBe(version);
    expect(sameBytes(read?.body, body)).toBe(true);
  });
});

test('the writers themselves, and a writer of the default names on a new key, write as ever', async () => {
  const fx = await freshFixture({ hvAttributes: WRITERS_NAMES });
  const writers = makeWriter(fx);
  open.push(writers);
  for (const body of [randomBody(64 * KiB), randomBody(KiB), randomBody(64 * KiB)]) {
    const { version } = await writers.store.put('names/y', body);
    expect((await writers.store.get('names/y'))?.version).toBe(version);
  }
  expect(await writers.store.delete('names/y')).toBe(true);
  expect(await writers.store.get('names/y')).toBeUndefined();
  await writers.store.put('names/y', 'again', { ifVersion: 0 });
});

/**
 * An item of another schema that keeps a soft-delete flag under the configured `deleted` name
 * (`deleted: false` on a live object) and its blob under another name: the shape check
 * (hv-item-shape.ts) takes only `deleted: true` for a deletion marker, so every read refuses the
 * item, but the writes' condition took any `deleted` attribute for one, and their read parsed the
 * item as a marker: a put landed over it, answered `created`, the item's own blob left beside it.
 */
describe("an item whose 'deleted' attribute is not true (another schema's soft-delete flag)", () => {
  test.each([
    ['a large put', (w: Writer) => w.store.put('flag/x', randomBody(64 * KiB))],
    ['a small put', (w: Writer) => w.store.put('flag/x', 'tiny')],
    ['a create (ifVersion 0)', (w: Writer) => w.store.put('flag/x', 'tiny', { ifVersion: 0 })],
    ['an upload session create (ifVersion 0)', (w: Writer) => w.store.createUpload('flag/x', { size: 64 * KiB, ifVersion: 0 })],
    ['a delete', (w: Writer) => w.store.delete('flag/x')],
    ['a get', (w: Writer) => w.store.get('flag/x')],
  ])('%s is refused (CorruptItemError): the item as it was, nothing left behind', async (_what, call) => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: {
          key: { S: 'flag/x' },
          version: { N: '7' },
          size: { N: '10' },
          deleted: { BOOL: false },
          s3Key: { S: 'elsewhere/x' },
          createdAt: { N: '1' },
          updatedAt: { N: '1' },
        },
      }),
    );
    const before = await rawState(fx);
    await expect(call(w)).rejects.toBeInstanceOf(CorruptItemError);
    const after = await rawState(fx);
    expect(after.objects).toEqual(before.objects);
    expect(after.blobs).toEqual(before.blobs);
    expect(after.uploads, 'no multipart upload left in progress').toEqual(before.uploads);
    expect(after.entries).toBe(0);
  });
});
