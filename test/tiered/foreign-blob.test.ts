/**
 * An objects-table item that points at a blob this store would not have made for its key (another
 * object's blob, say an item copied to "rename" an object): the writer that replaces or deletes it
 * must not delete that blob, since the other object still references it. The delete is refused
 * by the namespace guard the sweeper and the stream apply (exactly a blob key of this object); the
 * change-log entry that names it is left to the sweeper, which quarantines it. Checked from
 * outside on the local servers, for every write that replaces a blob, in both cleanup modes.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { KiB, makeWriter, pointItemAt, randomBody, rawState, sweepPastEverything, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

const WRITES: Array<[string, (store: TieredStore, key: string) => Promise<unknown>]> = [
  ['a large put', (s, k) => s.put(k, randomBody(30 * KiB))],
  ['a small put', (s, k) => s.put(k, randomBody(100))],
  ['a delete', (s, k) => s.delete(k)],
  [
    'an upload session',
    async (s, k) => {
      const body = randomBody(40 * KiB);
      const { uploadId } = await s.createUpload(k, { size: body.byteLength });
      await s.completeUpload(uploadId, await uploadParts(s, uploadId, body, body.byteLength), { key: k });
    },
  ],
];

describe.each([['log'], ['stream']] as const)('replacedBlobCleanup %s', (mode) => {
  let fx: Fixture;
  let w: Writer;
  const cleanupErrors: string[] = [];

  beforeAll(async () => {
    fx = await freshFixture(mode === 'stream' ? { replacedBlobCleanup: 'stream' } : {});
    w = makeWriter(fx, { store: { onCleanupError: (err) => cleanupErrors.push(String(err)) } });
  });
  afterAll(() => w?.close());

  test.each(WRITES)("%s over an item that points at another object's blob deletes no blob", async (name, write) => {
    const owner = `owner/${name}`;
    const key = `copy/${name}`;
    const ownerBody = randomBody(20 * KiB);
    await w.store.put(owner, ownerBody);
    await w.store.put(key, randomBody(20 * KiB));
    const foreign = (await rawState(fx)).references.get(owner)!;
    // The item of `key` now names `owner`'s blob (its own blob is left unreferenced).
    await pointItemAt(fx, key, foreign);
    cleanupErrors.length = 0;

    await write(w.store, key);

    expect(await listKeys(fx.s3, fx.config.bucket)).toContain(foreign);
    expect((await w.store.get(owner))?.body).toEqual(ownerBody);
    expect(cleanupErrors.join('\n')).toMatch(/belongs to another object/);

    // The sweeper never deletes it either: in log mode the entry naming it is quarantined (a
    // session's entry is judged once the session expired, days later).
    const report = await sweepPastEverything(fx);
    expect(report.entriesQuarantined).toBe(mode === 'log' && name !== 'an upload session' ? 1 : 0);
    expect(await listKeys(fx.s3, fx.config.bucket)).toContain(foreign);
    expect((await w.store.get(owner))?.body).toEqual(ownerBody);
  });
});

/**
 * An objects-table item whose blob pointer no S3 key can be (empty, or longer than S3's 1,024
 * bytes), which a change-log entry cannot hold either (`assertChange`: 1 to 2,048 UTF-8 bytes):
 * written by hand or by another tool. Every write over it lands, as over a foreign blob, deletes
 * nothing and reports the pointer. A small put or a delete, whose entry the commit itself records,
 * failed `CommitOutcomeUnknownError` on every attempt though nothing was sent (the log refused the
 * commit's element before it went out): the objects API answered 503, retry, for ever. A large put
 * wrote the pointer into its entry as `old`, which no reader parses: the sweeper kept the entry
 * quarantined for ever (an alarm nothing clears), for a pointer no blob is.
 */
describe.each([['log'], ['stream']] as const)('replacedBlobCleanup %s, a blob pointer no entry can hold', (mode) => {
  let fx: Fixture;
  let w: Writer;
  const cleanupErrors: string[] = [];

  beforeAll(async () => {
    fx = await freshFixture(mode === 'stream' ? { replacedBlobCleanup: 'stream' } : {});
    w = makeWriter(fx, { store: { onCleanupError: (err) => cleanupErrors.push(String(err)) } });
  });
  afterAll(() => w?.close());

  const pointers = [
    ['empty', ''],
    ['longer than any S3 key', `${'x'.repeat(3000)}`],
  ] as const;
  const cases = WRITES.flatMap(([name, write]) => pointers.map(([what, pointer]) => [name, what, write, pointer] as const));
  test.each(cases)('%s over an item whose blob pointer is %s lands, deletes nothing and reports it', async (name, what, write, pointer) => {
    const key = `unloggable/${name}/${what}`;
    await w.store.put(key, randomBody(20 * KiB));
    const blobs = await listKeys(fx.s3, fx.config.bucket);
    await pointItemAt(fx, key, pointer);
    cleanupErrors.length = 0;

    await write(w.store, key);

    expect((await w.store.head(key)) === undefined, 'the write landed').toBe(name === 'a delete');
    expect(cleanupErrors.length, 'the pointer is reported').toBeGreaterThan(0);
    expect(await listKeys(fx.s3, fx.config.bucket), 'nothing deleted').toEqual(expect.arrayContaining(blobs));
    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    expect(report.entriesQuarantined, 'no entry kept for ever for a pointer no blob is').toBe(0);
    expect(w.log.outstanding).toBe(0);
  });
});
