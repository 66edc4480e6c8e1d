/**
 * `settleInBackground`: a write whose commit landed answers before its settle (delete `old`,
 * remove the entry); `settled()` waits for every settle; a write that did not land is never
 * deferred. The old blob's DeleteObject is held at a gate, so "before" and "after" are states,
 * not timings.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { VersionConflictError } from '../../lib/errors.js';
import { freshFixture } from '../support/local.js';
import { KiB, deferred, makeWriter, writersClosedAfterEach, randomBody, rawState, rawValue, sameBytes } from './harness.js';

const open = writersClosedAfterEach();

/** Holds every DeleteObject of `s3` until the returned gate is opened. */
function gateDeletes(s3: S3Client): { open(): void; reached: Promise<void> } {
  const gate = deferred();
  const reached = deferred();
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'DeleteObjectCommand') {
        reached.resolve();
        await gate.promise;
      }
      return next(args);
    },
    { step: 'initialize', name: 'gateDeletes' },
  );
  return { open: () => gate.resolve(), reached: reached.promise };
}

const oldBody = randomBody(40 * KiB);
const newBody = randomBody(40 * KiB + 1);

describe('settle in the background', () => {
  test('an overwrite answers before its settle; settled() waits for it, then old and the entry are gone', async () => {
    const fx = await freshFixture();
    const writer = makeWriter(fx, { store: { settleInBackground: true } });
    open.push(writer);
    const { version } = await writer.store.put('k', oldBody);
    const oldBlob = (await rawState(fx)).references.get('k')!;
    const gate = gateDeletes(writer.s3);

    const result = await writer.store.put('k', newBody);
    expect(result.version).toBe(version + 1);
    // Answered: the new value is the value; the settle is held at the old blob's delete.
    expect(sameBytes(await rawValue(fx, 'k'), newBody)).toBe(true);
    expect(writer.store.pendingSettles).toBe(1);
    const held = await rawState(fx);
    expect(held.blobs).toContain(oldBlob);
    expect(held.entries).toBe(1);
    let settled = false;
    const waiting = writer.store.settled().then(() => (settled = true));
    await new Promise((r) => setImmediate(r));
    expect(settled, 'settled() waits for the held settle').toBe(false);

    gate.open();
    await waiting;
    expect(writer.store.pendingSettles).toBe(0);
    const after = await rawState(fx);
    expect(after.blobs).not.toContain(oldBlob);
    expect(after.entries).toBe(0);
    expect(after.lost).toEqual([]);
  });

  test('settled({ timeoutMs }) resolves false when the time is up with a settle still held, and true once it is done', async () => {
    const fx = await freshFixture();
    const writer = makeWriter(fx, { store: { settleInBackground: true } });
    open.push(writer);
    await writer.store.put('k', oldBody);
    const oldBlob = (await rawState(fx)).references.get('k')!;
    const gate = gateDeletes(writer.s3);
    await writer.store.put('k', newBody);
    await gate.reached;
    // The held delete would keep a handler waiting until its own timeout: the bound answers instead.
    expect(await writer.store.settled({ timeoutMs: 50 })).toBe(false);
    expect(writer.store.pendingSettles, 'still running, not dropped').toBe(1);
    expect((await rawState(fx)).blobs).toContain(oldBlob);
    await expect(writer.store.settled({ timeoutMs: -1 })).rejects.toMatchObject({ name: 'ValidationError', field: 'timeoutMs' });
    gate.open();
    expect(await writer.store.settled({ timeoutMs: 60_000 })).toBe(true);
    const after = await rawState(fx);
    expect(after.blobs).not.toContain(oldBlob);
    expect(after.entries).toBe(0);
    expect(after.lost).toEqual([]);
    expect(await writer.store.settled({ timeoutMs: 0 }), 'nothing pending: true at once').toBe(true);
  });

  /**
   * A bound past Node's longest timer (2^31 - 1 ms, about 24.8 days) fired at once (Node takes
   * such a delay for 1 ms): `settled` answered false, "time is up", while the settle it was asked
   * to wait for went on. It waits as without a bound now: no deadline that far can be met sooner.
   */
  test.each([2 ** 31, Number.MAX_SAFE_INTEGER])(
    'settled({ timeoutMs: %d }) waits for the settle, not for a timer Node fires at once',
    async (timeoutMs) => {
      const fx = await freshFixture();
      const writer = makeWriter(fx, { store: { settleInBackground: true } });
      open.push(writer);
      await writer.store.put('k', oldBody);
      const gate = gateDeletes(writer.s3);
      await writer.store.put('k', newBody);
      await gate.reached;
      let answer: boolean | undefined;
      const waiting = writer.store.settled({ timeoutMs }).then((done) => (answer = done));
      await new Promise((r) => setTimeout(r, 50));
      expect(answer, 'still waiting for the held settle').toBeUndefined();
      gate.open();
      await waiting;
      expect(answer).toBe(true);
    },
  );

  test('a delete answers before its settle', async () => {
    const fx = await freshFixture();
    const writer = makeWriter(fx, { store: { settleInBackground: true } });
    open.push(writer);
    await writer.store.put('k', oldBody);
    const gate = gateDeletes(writer.s3);
    expect(await writer.store.delete('k')).toBe(true);
    expect(await writer.store.get('k')).toBeUndefined();
    expect(writer.store.pendingSettles).toBe(1);
    gate.open();
    await writer.store.settled();
    const after = await rawState(fx);
    expect(after.blobs).toEqual([]);
    expect(after.entries).toBe(0);
  });

  test('by default a write answers after its settle', async () => {
    const fx = await freshFixture();
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.put('k', oldBody);
    const gate = gateDeletes(writer.s3);
    let answered = false;
    const put = writer.store.put('k', newBody).then(() => (answered = true));
    // The commit landed and the settle reached the delete of old: the answer waits for it.
    await gate.reached;
    await new Promise((r) => setImmediate(r));
    expect(sameBytes(await rawValue(fx, 'k'), newBody)).toBe(true);
    expect(answered).toBe(false);
    gate.open();
    await put;
    const after = await rawState(fx);
    expect(after.blobs.length).toBe(1);
    expect(after.entries).toBe(0);
  });

  test('a write that did not land is cleaned before its answer, never deferred', async () => {
    const fx = await freshFixture();
    const writer = makeWriter(fx, { store: { settleInBackground: true } });
    open.push(writer);
    await writer.store.put('k', oldBody);
    await expect(writer.store.put('k', newBody, { ifVersion: 7 })).rejects.toBeInstanceOf(VersionConflictError);
    expect(writer.store.pendingSettles).toBe(0);
    const after = await rawState(fx);
    expect(after.entries).toBe(0);
    expect(after.blobs.length).toBe(1);
  });
});
