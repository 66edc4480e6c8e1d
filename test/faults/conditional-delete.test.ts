/**
 * A delete of a large object whose commit is refused because another writer replaced the object
 * in the meantime. The commit's refusal is definite (the transaction keeps its idempotency token
 * across SDK retries, so a refusal is never the echo of an attempt that landed): the delete did
 * not happen. A conditional delete (`ifVersion`, `If-Match`) must then fail with a version
 * conflict, and an unconditional one must try again, not report success over a live object.
 */
import { describe, expect, test } from 'vitest';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { VersionConflictError } from '../../lib/errors.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { faultWriters } from './writers.js';

const writer = faultWriters();

/** A writer whose next commit waits, once it was reached, until `release` is called. */
function heldCommit(fx: Fixture) {
  let reached!: () => void;
  let release!: () => void;
  const atCommit = new Promise<void>((r) => (reached = r));
  const released = new Promise<void>((r) => (release = r));
  const injector = new FaultInjector().add({
    kind: 'delay',
    delayMs: 0,
    times: 1,
    match: onCommand('TransactWriteItems'),
    before: async () => {
      reached();
      await released;
    },
  });
  return { store: writer(fx, { injector }), atCommit, release };
}

async function expectClean(fx: Fixture): Promise<void> {
  await new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now() + 3 * 60 * 60_000 }).sweep();
  const inv = await checkInvariants(fx);
  expect(inv.lost).toEqual([]);
  expect([...inv.leaked, ...inv.pending]).toEqual([]);
  expect(inv.entries).toBe(0);
}

const large = (fill: number) => new Uint8Array(20 * 1024).fill(fill);

describe('a delete whose commit loses to a concurrent put', () => {
  test("conditional (ifVersion): a version conflict, the object keeps the put's value", async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    const { version } = await setup.put('k', large(1));
    const d = heldCommit(fx);
    const deleting = d.store.delete('k', { ifVersion: version }).then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await d.atCommit;
    const put = await writer(fx).put('k', large(2));
    d.release();
    expect(put.version).toBe(version + 1);
    const result = await deleting;
    expect(result.ok, 'a conditional delete on the first version cannot succeed: the object is at the next and still there').toBe(false);
    expect((result as { e: unknown }).e).toBeInstanceOf(VersionConflictError);
    const now = await setup.get('k');
    expect(now?.version).toBe(version + 1);
    expect(now?.body).toEqual(large(2));
    await expectClean(fx);
  });

  test('unconditional: it tries again and the object is gone', async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    await setup.put('k', large(1));
    const d = heldCommit(fx);
    const deleting = d.store.delete('k');
    await d.atCommit;
    await writer(fx).put('k', large(2));
    d.release();
    expect(await deleting).toBe(true);
    expect(await setup.get('k'), 'a delete that reports success leaves the object absent').toBeUndefined();
    await expectClean(fx);
  });
});
