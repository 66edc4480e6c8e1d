/**
 * A slow read of a large object that is overwritten twice while it reads: each blob it follows is
 * replaced (and deleted) before its GetObject arrives. Nothing is lost: HV points at a blob that
 * exists the whole time. The read must follow the pointer while it keeps moving, not report
 * BlobMissingError ("an invariant is broken"). (Found by the fault simulation, long-run seed 1013:
 * a read whose GetObject answers were lost, retried past two overwrites.)
 */
import { expect, test } from 'vitest';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { ContentionError } from '../../lib/errors.js';
import { freshFixture } from '../support/local.js';
import { makeWriter } from '../tiered/harness.js';
import { faultWriters } from './writers.js';

const newWriter = faultWriters();

const body = (fill: number) => new Uint8Array(20 * 1024).fill(fill);

test.each([1, 2, 3])('a read overtaken by %i overwrites returns a value that was current during it', async (overwrites) => {
  const fx = await freshFixture();
  const writer = newWriter(fx);
  await writer.put('k', body(0));
  let written = 0;
  const overwriting: Promise<unknown>[] = [];
  // Each GetObject of the reader waits until another writer has replaced the object (and
  // deleted the blob the reader is about to fetch).
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    times: overwrites,
    match: onCommand('GetObject'),
    before: async () => {
      const overwrite = writer.put('k', body(++written));
      overwriting.push(overwrite);
      await overwrite;
    },
  });
  const read = await newWriter(fx, { injector }).get('k');
  await Promise.all(overwriting);
  // Every GET the test meant to overtake was overtaken.
  expect(injector.stats.injected.delay).toBe(overwrites);
  expect(written).toBe(overwrites);
  expect(read).toBeDefined();
  expect(read!.body).toEqual(body(read!.body[0]!));
  // The last overwrite, or the one before it while its replaced blob was still there: a value
  // current during the read, never one from before it or one never written.
  expect(read!.body[0]).toBeGreaterThanOrEqual(overwrites - 1);
  expect(read!.body[0]).toBeLessThanOrEqual(overwrites);
  expect((await checkInvariants(fx)).lost).toEqual([]);
});

test.each([
  ['a ranged read', { range: { start: 0, end: 9 } }],
  ['a whole read', {}],
])('%s overtaken before every GET: a ContentionError after maxAttempts GETs, not one more', async (_name, options) => {
  const fx = await freshFixture();
  const writer = newWriter(fx);
  await writer.put('k', body(0));
  let gets = 0;
  let written = 0;
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    match: onCommand('GetObject'),
    before: async () => {
      gets++;
      await writer.put('k', body(++written));
    },
  });
  const reader = makeWriter(fx, { injector, store: { maxAttempts: 3 } });
  try {
    await expect(reader.store.get('k', options)).rejects.toBeInstanceOf(ContentionError);
    expect(gets).toBe(3);
  } finally {
    reader.close();
  }
  expect((await checkInvariants(fx)).lost).toEqual([]);
});

test.each([
  ['a ranged read', { range: { start: 0, end: 9 } }],
  ['a whole read', {}],
])('%s whose last GET is overtaken by a small (inline) write answers that value, not ContentionError', async (_name, options) => {
  const fx = await freshFixture();
  const writer = newWriter(fx);
  await writer.put('k', body(0));
  let gets = 0;
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    match: onCommand('GetObject'),
    // Large overwrites before the first GETs; before the last one, a small body: nothing more to GET.
    before: async () => void (await writer.put('k', ++gets < 3 ? body(gets) : 'small')),
  });
  const reader = makeWriter(fx, { injector, store: { maxAttempts: 3 } });
  try {
    const read = await reader.store.get('k', options);
    expect(gets).toBe(3);
    expect(new TextDecoder().decode(read!.body)).toBe('small'); // five bytes: the range 0-9 is all of it
  } finally {
    reader.close();
  }
  expect((await checkInvariants(fx)).lost).toEqual([]);
});

// With eventually consistent reads (`consistentReads: false`), the re-read after a blob went
// missing must still be consistent: an eventually consistent one may answer the item that named
// the deleted blob, and the read would fail with BlobMissingError where the object was there.
test.each([
  ['a ranged read', { range: { start: 0, end: 9 } }],
  ['a whole read', {}],
])('%s with eventually consistent reads follows an overwrite with a consistent re-read of HV', async (_name, options) => {
  const fx = await freshFixture();
  const writer = newWriter(fx);
  await writer.put('k', body(0));
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    times: 1,
    match: onCommand('GetObject'),
    before: async () => {
      await writer.put('k', body(1));
    },
  });
  const reader = makeWriter(fx, { injector, store: { consistentReads: false } });
  try {
    const read = await reader.store.get('k', options);
    expect(read!.body[0]).toBe(1);
    const reads = reader.recorder.commands.filter((c) => c.command === 'GetItem').map((c) => c.input.ConsistentRead);
    expect(reads).toEqual([false, true]);
  } finally {
    reader.close();
  }
});
