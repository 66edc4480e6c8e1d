/**
 * The snapshot audit never deletes and then loses the report of it to an error: the proposed
 * losses are confirmed live (read only) before any proposed orphan is re-verified and deleted,
 * so a failing read there stops the audit with nothing deleted; an error or Ctrl-C (the CLI's
 * abort signal) after a delete batch stops it between two batches, and what it deleted is
 * reported (`SnapshotAuditIncompleteError`, printed by the CLI before the error).
 */
import { describe, expect, test } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { SnapshotAuditIncompleteError } from '../../lib/recovery/snapshot-audit/errors.js';
import type { AuditCommandOptions } from '../../lib/cli/audit.js';
import { InterruptedError } from '../../lib/cli/common.js';
import { reportError } from '../../lib/cli/program.js';
import { type Fixture, freshFixture, prefixKeys } from '../support/local.js';
import { auditStop, blobKey, cli, HOUR, putBlob, putOrphans, putTombstone } from '../cli/helpers.js';
import { snapshotsRemovedAfterAll } from './snapshots.js';

const snapshotsAt = snapshotsRemovedAfterAll();

/** Snapshots of the live state, taken 2 h from now. */
async function snapshotNow(fx: Fixture) {
  const now = Date.now() + 2 * HOUR;
  const snap = await snapshotsAt(fx, now);
  return { now, inventory: snap.manifest, exportDir: snap.exportDir };
}

/** `count` old orphans in the bucket (sorted keys) and snapshots of that state. */
async function snapshotOfOrphans(fx: Fixture, count: number) {
  const keys = await putOrphans(fx, count);
  return { keys, ...(await snapshotNow(fx)) };
}

/** The snapshot audit with `delete`, on clients of the test's; the scenes' stores hold only orphans. */
function deleting(fx: Fixture, dynamodb: DynamoDBClient, snap: { inventory: string; exportDir: string; now: number }) {
  const { inventory, exportDir, now } = snap;
  return { config: fx.config, dynamodb, s3: fx.s3, inventory, exportDir, now, olderThanMs: HOUR, delete: true, emptyStoreOk: true };
}

/** The rejection of `promise` (fails the test if it resolves). */
async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e,
  );
}

/** What the tests' DynamoDB refuses a read with: a denied permission. */
const accessDenied = () => Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });

/**
 * `tierlog audit --inventory --export --delete` from `snap` (safety age 1 h, the store declared
 * to hold only orphans) with `options`, its output captured: the error it stops with.
 */
function cliAuditStop(
  fx: Fixture,
  snap: { inventory: string; exportDir: string; now: number },
  options: AuditCommandOptions & { json?: boolean },
) {
  const from = { inventory: snap.inventory, export: snap.exportDir };
  return auditStop(fx, () => snap.now, { ...from, olderThanMs: HOUR, delete: true, emptyStoreOk: true, ...options });
}

describe('snapshot audit options that cannot be right', () => {
  // Refused before the query (minutes at scale), not by the re-verification after it: a `now` in
  // seconds made every blob young, NaN took no candidate into any batch (a clean-looking report).
  test.each([
    ['now in seconds', { now: Date.now() / 1000 }, 'now'],
    ['now NaN', { now: Number.NaN }, 'now'],
    ['batchSize 0', { batchSize: 0 }, 'batchSize'],
    ['batchSize NaN', { batchSize: Number.NaN }, 'batchSize'],
    ['memoryLimit a number (bytes, not a size DuckDB reads)', { memoryLimit: 4e9 as never }, 'memoryLimit'],
    ['memoryLimit empty', { memoryLimit: ' ' }, 'memoryLimit'],
    // No blob is that old (a unit mistaken): the query took no candidate and the report read clean.
    ['olderThanMs reaching back before 2000', { olderThanMs: 60 * 365 * 24 * HOUR }, 'olderThanMs'],
    // A misspelt option is a default nobody chose: refused as the listing audit refuses it.
    ['a misspelt option (batchsize)', { batchsize: 1 }, 'batchsize'],
  ])('%s: a ValidationError naming it before the inventory is read, nothing deleted', async (_name, bad, field) => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 1);
    const missing = { inventory: `${snap.inventory}.missing`, exportDir: `${snap.exportDir}.missing` };
    await expect(snapshotAudit({ ...deleting(fx, fx.dynamodb, { ...snap, ...missing }), ...bad })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field }),
    );
    // The same options with good snapshots delete nothing either.
    await expect(snapshotAudit({ ...deleting(fx, fx.dynamodb, snap), ...bad })).rejects.toThrow(expect.objectContaining({ field }));
    expect(await prefixKeys(fx)).toEqual(snap.keys);
  });
  test('HV attribute names the query cannot embed (blob-ptr): a ValidationError naming the field before the inventory is read, nothing deleted', async () => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 1);
    // Names the listing audit reads; the snapshot query only letters, digits and _.
    const config = { ...fx.config, hvAttributes: { blob: 'blob-ptr' } };
    const missing = { inventory: `${snap.inventory}.missing`, exportDir: `${snap.exportDir}.missing` };
    await expect(snapshotAudit({ ...deleting(fx, fx.dynamodb, { ...snap, ...missing }), config })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'hvAttributes.blob' }),
    );
    await expect(snapshotAudit({ ...deleting(fx, fx.dynamodb, snap), config })).rejects.toThrow(
      expect.objectContaining({ field: 'hvAttributes.blob' }),
    );
    expect(await prefixKeys(fx)).toEqual(snap.keys);
  });
  test('the CLI refuses a safety age reaching back before 2000 as the listing audit does: exit 2, nothing deleted', async () => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 1);
    const from = ['--inventory', snap.inventory, '--export', snap.exportDir];
    const run = await cli(fx, ['audit', '--older-than', '30000d', '--delete', '--empty-store-ok', ...from], { clock: () => snap.now });
    expect(run.code).toBe(2);
    expect(run.err).toContain('tierlog: --older-than 30000d is too old: a safety age of');
    expect(await prefixKeys(fx)).toEqual(snap.keys);
  });
});

describe('Ctrl-C while the snapshots are read and verified (minutes for a large inventory)', () => {
  test('stops the audit before the DuckDB query (which may run for an hour), not after it', async () => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 1);
    const interrupt = new AbortController();
    interrupt.abort(new InterruptedError());
    // A memoryLimit DuckDB refuses: the query was started if that refusal comes back. Before, the
    // run read the snapshots, started DuckDB and ran its query, and only then took the interrupt.
    const err = await rejectionOf(snapshotAudit({ ...deleting(fx, fx.dynamodb, snap), memoryLimit: 'lots', signal: interrupt.signal }));
    expect(err).toBeInstanceOf(InterruptedError);
    expect(await prefixKeys(fx)).toEqual(snap.keys);
  });
});

describe("the snapshot audit's memoryLimit", () => {
  // Passed to DuckDB as given (DuckDB reads the size, before any delete): a limit dropped on the
  // way would let a large audit take the machine's memory.
  test('reaches DuckDB: a size DuckDB cannot read is a ValidationError naming it, nothing deleted; a readable one runs', async () => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 1);
    const err = await rejectionOf(snapshotAudit({ ...deleting(fx, fx.dynamodb, snap), memoryLimit: 'lots' }));
    // DuckDB's own words ("Failed to set config") name no setting: the error names the option.
    expect(err).toMatchObject({ name: 'ValidationError', field: 'memoryLimit', message: expect.stringContaining('memoryLimit "lots"') });
    expect(await prefixKeys(fx)).toEqual(snap.keys);
    expect(await snapshotAudit({ ...deleting(fx, fx.dynamodb, snap), memoryLimit: '256MB' })).toMatchObject({ deleted: 1 });
  });
});

describe('snapshot audit under failures', () => {
  test('a failing live read of a proposed loss stops the audit before any orphan is deleted', async () => {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'gone');
    await putBlob(fx, orphan);
    await putTombstone(fx, 'lost-object', blobKey(fx, 'lost-object'));
    const snap = await snapshotNow(fx);
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'BatchGetItemCommand' && JSON.stringify(r.input).includes('lost-object'),
        error: accessDenied,
      })
      .attach(dynamodb, 'dynamodb');
    try {
      await expect(snapshotAudit(deleting(fx, dynamodb, snap))).rejects.toThrow(/access denied/);
      expect(await prefixKeys(fx)).toEqual([orphan]);
    } finally {
      dynamodb.destroy();
    }
  });

  test.each([false, true])(
    'the live check of proposed losses failing after it confirmed some (--json %s): the CLI names those losses, exit 1, nothing deleted',
    async (json) => {
      // 101 objects point at blobs the bucket lacks: the check reads HV 100 a request, the second read fails.
      const fx = await freshFixture();
      const orphan = blobKey(fx, 'orphan');
      await putBlob(fx, orphan);
      const lost: string[] = [];
      for (let i = 0; i < 101; i++) {
        const key = blobKey(fx, `lost-${String(i).padStart(3, '0')}`);
        await putTombstone(fx, `lost-${String(i).padStart(3, '0')}`, key);
        lost.push(key);
      }
      const run = await auditSecondReadRefused(fx, json);
      expect(run.code).toBe(1);
      expect(run.err).toMatch(/^tierlog: the live check of proposed losses stopped after 100 losses confirmed: access denied/);
      // The losses it confirmed are named (the one figure that says invariant 1 is broken), not only counted.
      const named = lost.filter((key) => run.out.includes(key));
      expect(named).toHaveLength(100);
      if (json) {
        const out = JSON.parse(run.out) as { lost: Array<{ key: string; objectKey: string }>; error: { name: string; exitCode: number } };
        expect(out.lost).toHaveLength(100);
        expect(out.lost[0]).toEqual({
          key: expect.stringMatching(new RegExp(`^${fx.config.prefix}/`)),
          objectKey: expect.stringMatching(/^lost-/),
        });
        expect(out.error).toMatchObject({ name: 'LostCheckIncompleteError', exitCode: 1 });
      } else expect(run.out).toContain('LOST');
      expect((await prefixKeys(fx)).sort()).toEqual([orphan]);
    },
  );

  test.each([false, true])(
    'the re-verification failing before any delete, after losses were confirmed (--json %s): the CLI names the losses, exit 1, nothing deleted',
    async (json) => {
      const fx = await freshFixture();
      const orphan = blobKey(fx, 'orphan');
      await putBlob(fx, orphan);
      const lostKey = blobKey(fx, 'lost-object');
      await putTombstone(fx, 'lost-object', lostKey);
      // The first read of HV confirms the loss; the second, the re-verification's first, is refused.
      const run = await auditSecondReadRefused(fx, json);
      expect(run.code).toBe(1);
      expect(run.err).toMatch(/access denied/);
      // The loss the audit confirmed (invariant 1 broken) is named, not lost with the error.
      expect(run.out).toContain(lostKey);
      if (json)
        expect(JSON.parse(run.out)).toMatchObject({
          lost: [{ key: lostKey, objectKey: 'lost-object' }],
          deleted: 0,
          error: { exitCode: 1, message: expect.stringMatching(/access denied/) },
        });
      else expect(run.out).toContain('LOST');
      expect(await prefixKeys(fx)).toEqual([orphan]);
    },
  );

  test('an error after a delete batch: the audit stops there and reports what it deleted', async () => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 3);
    const dynamodb = createDynamoDBClient();
    // Per batch of one: BatchGetItem (HV pointers), BatchGetItem (the items' shape), DeleteObjects. The third read fails.
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'BatchGetItemCommand',
        skip: 2,
        error: accessDenied,
      })
      .attach(dynamodb, 'dynamodb');
    try {
      const err = await rejectionOf(snapshotAudit({ ...deleting(fx, dynamodb, snap), batchSize: 1 }));
      expect(err).toBeInstanceOf(SnapshotAuditIncompleteError);
      const { report } = err as SnapshotAuditIncompleteError;
      expect(report).toMatchObject({ deleted: 1, orphans: [snap.keys[0]], deleteFailures: [] });
      expect((err as Error).message).toMatch(/^snapshot audit stopped after 1 blobs deleted: access denied/);
      expect(await prefixKeys(fx)).toEqual(snap.keys.slice(1));
    } finally {
      dynamodb.destroy();
    }
  });

  test.each([true, false])(
    'Ctrl-C during a delete batch (--json %s): the batch finishes, the next never starts, the report is printed, exit 130',
    async (json) => {
      const fx = await freshFixture();
      const snap = await snapshotOfOrphans(fx, 3);
      const interrupt = new AbortController();
      const deletes: string[][] = [];
      const { err, c } = await cliAuditStop(fx, snap, {
        json,
        deleteBatch: 1,
        signal: interrupt.signal,
        beforeDelete: (keys) => {
          deletes.push([...keys]);
          interrupt.abort(new InterruptedError()); // before the first batch's delete request
        },
      });
      expect(err).toBeInstanceOf(SnapshotAuditIncompleteError);
      expect(deletes).toEqual([[snap.keys[0]]]);
      expect(await prefixKeys(fx)).toEqual(snap.keys.slice(1));
      expect(reportError(err, c.io)).toBe(130);
      expect(c.err()).toMatch(/^tierlog: snapshot audit stopped after 1 blobs deleted: interrupted/);
      // The JSON report says it did not finish, as the listing audit's does: a script reading stdout
      // alone (its exit code lost in a pipe) took it for a clean run's.
      if (json)
        expect(JSON.parse(c.out())).toMatchObject({
          delete: true,
          deleted: 1,
          orphans: [snap.keys[0]],
          deleteFailures: [],
          error: { name: 'SnapshotAuditIncompleteError', exitCode: 130, message: expect.stringMatching(/interrupted/) },
        });
      else expect(c.out()).toContain('deleted 1 blobs');
    },
  );

  test('Ctrl-C before anything was deleted: nothing is, exit 130', async () => {
    const fx = await freshFixture();
    const snap = await snapshotOfOrphans(fx, 2);
    const interrupt = new AbortController();
    interrupt.abort(new InterruptedError());
    const { err, c } = await cliAuditStop(fx, snap, { signal: interrupt.signal });
    expect(err).toBeInstanceOf(InterruptedError);
    expect(reportError(err, c.io)).toBe(130);
    expect(await prefixKeys(fx)).toEqual(snap.keys);
  });
});

/**
 * `tierlog audit --delete --empty-store-ok` from snapshots of `fx` taken now, its second
 * BatchGetItem (a read of the objects table) refused: access denied.
 */
async function auditSecondReadRefused(fx: Fixture, json: boolean) {
  const snap = await snapshotNow(fx);
  const dynamodb = createDynamoDBClient();
  new FaultInjector()
    .add({ kind: 'fail', match: (r) => r.command === 'BatchGetItemCommand', skip: 1, error: accessDenied })
    .attach(dynamodb, 'dynamodb');
  try {
    const from = ['--inventory', snap.inventory, '--export', snap.exportDir];
    return await cli(
      { ...fx, dynamodb },
      ['audit', '--delete', '--empty-store-ok', '--older-than', '1h', ...from, ...(json ? ['--json'] : [])],
      {
        clock: () => snap.now,
      },
    );
  } finally {
    dynamodb.destroy();
  }
}
