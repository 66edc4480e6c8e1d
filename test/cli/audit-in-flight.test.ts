/**
 * The audit never deletes the blob of a write in flight, however old the blob looks: a write
 * stalled between its upload and its commit (held by a gate in its client), a writer that died
 * there, and change-log items that do not parse. The audit's clock runs 2 h ahead, so every
 * blob written now looks 2 h old; the safety age is 90 min. Once no entry names a blob and HV
 * does not point at it, the audit deletes it.
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { newChangeId } from '../../lib/ids.js';
import { audit } from '../../lib/operations.js';
import { type Fixture, freshFixture, listKeys, scanAll } from '../support/local.js';
import { KiB, makeWriter, randomBody, sameBytes, steps } from '../tiered/harness.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone } from './helpers.js';

const ahead = () => Date.now() + 2 * HOUR;
const OLDER_THAN = 90 * 60_000;

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** `audit --delete` past the safety age; the scenes' stores hold no live large object. */
const auditDeleting = (fx: Fixture) =>
  audit({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: ahead, olderThanMs: OLDER_THAN, delete: true, emptyStoreOk: true });

async function blobsOf(fx: Fixture, objectId: string): Promise<string[]> {
  return listKeys(fx.s3, fx.config.bucket, `${fx.config.prefix}/${Buffer.from(objectId).toString('base64url')}/`);
}

/** Holds every TransactWriteItems of `client` until released; `reached` resolves when one waits. */
function gateCommits(client: { middlewareStack: any }): { reached: Promise<void>; release: () => void } {
  let arrive!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (context.commandName === 'TransactWriteItemsCommand') {
        arrive();
        await opened;
      }
      return next(args);
    },
    { step: 'initialize', name: 'testCommitGate' },
  );
  return { reached, release: open };
}

describe('audit and writes in flight', () => {
  test('a write stalled between upload and commit: its blob is in flight, not deleted; the write then commits and reads back', async () => {
    const fx = await freshFixture();
    const setup = makeWriter(fx);
    closers.push(() => setup.close());
    await setup.store.put('slow', randomBody(20 * KiB));
    const [first] = await blobsOf(fx, 'slow');

    const w = makeWriter(fx);
    closers.push(() => w.close());
    const gate = gateCommits(w.dynamodb);
    const body = randomBody(30 * KiB);
    const write = w.store.put('slow', body);
    await gate.reached;
    const uploaded = (await blobsOf(fx, 'slow')).filter((k) => k !== first);
    expect(uploaded).toHaveLength(1);

    const report = await auditDeleting(fx);
    expect(report.inFlight).toEqual([{ key: uploaded[0], objectId: 'slow', instanceId: w.log.instanceId, why: 'named' }]);
    expect(report).toMatchObject({ orphans: [], deleted: 0, referenced: 1, young: 0 });
    expect(await blobsOf(fx, 'slow')).toContain(uploaded[0]);

    gate.release();
    await write;
    expect(sameBytes((await setup.store.get('slow'))?.body, body)).toBe(true);
    expect(await blobsOf(fx, 'slow')).toEqual(uploaded);
  });

  test("another store's change-log table (its writer's item stamped with its objects table): every delete refused, so a write stalled before its commit keeps its blob", async () => {
    const fx = await freshFixture();
    const other = await freshFixture();
    const theirs = makeWriter(other);
    closers.push(() => theirs.close());
    await theirs.store.put('theirs', randomBody(20 * KiB));
    const setup = makeWriter(fx);
    closers.push(() => setup.close());
    await setup.store.put('kept', randomBody(20 * KiB));

    const w = makeWriter(fx);
    closers.push(() => w.close());
    const gate = gateCommits(w.dynamodb);
    const body = randomBody(30 * KiB);
    const write = w.store.put('slow', body);
    await gate.reached;
    const [uploaded] = await blobsOf(fx, 'slow');

    // TIERLOG_CHANGELOG_TABLE from the other deployment's shell: it names none of this store's writes.
    const report = await audit({
      config: { ...fx.config, changeLogTable: other.config.changeLogTable },
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      clock: ahead,
      olderThanMs: OLDER_THAN,
      delete: true,
    });
    expect(report.deleteRefused).toContain(
      `written by a writer of another store, objectsTable ${JSON.stringify(other.config.objectsTable)}`,
    );
    expect(report.corruptChangeLog).toEqual([
      { instanceId: theirs.log.instanceId, reason: expect.stringContaining('TIERLOG_CHANGELOG_TABLE') },
    ]);
    expect(report).toMatchObject({ deleted: 0, referenced: 1 });
    expect(await blobsOf(fx, 'slow')).toEqual([uploaded]);

    gate.release();
    await write;
    expect(sameBytes((await setup.store.get('slow'))?.body, body)).toBe(true);
  });

  test('a writer dead before its commit: in flight while its entry is outstanding; deleted once the entry is gone', async () => {
    const fx = await freshFixture();
    const injector = new FaultInjector().add({ kind: 'crashBefore', match: steps(fx.config).commit });
    const w = makeWriter(fx, { injector });
    closers.push(() => w.close());
    await w.store.put('dead', randomBody(20 * KiB)).catch(() => undefined);
    expect(injector.crashedAt).toBeDefined();
    const [blob] = await blobsOf(fx, 'dead');
    const items = await scanAll(fx.dynamodb, fx.config.changeLogTable);
    expect(items).toHaveLength(1);
    const instanceId = String(items[0]!.pk);

    const held = await cliJson(fx, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], { clock: ahead });
    expect(held.code).toBe(0);
    expect(held.json).toMatchObject({ inFlight: [{ key: blob, instanceId, why: 'named' }], orphans: [], deleted: 0 });
    const text = await cli(fx, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(text.out).toContain('1 in flight');
    expect(text.out).toContain(`  ${blob}  instance ${instanceId}`);
    expect(await blobsOf(fx, 'dead')).toEqual([blob]);

    // The entry is gone (its item deleted) and HV never pointed at the blob: an orphan now.
    await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: marshall({ pk: instanceId }) }));
    const gone = await auditDeleting(fx);
    expect(gone).toMatchObject({ inFlight: [], deleted: 1 });
    expect(gone.orphans.map((o) => o.key)).toEqual([blob]);
    expect(await blobsOf(fx, 'dead')).toEqual([]);
  });

  test('any mention protects: a blob named only inside a corrupt entry, or by an unparseable entry about its object, is in flight', async () => {
    const fx = await freshFixture();
    const named = blobKey(fx, 'mangled');
    const ofObject = blobKey(fx, 'held');
    const orphan = blobKey(fx, 'free');
    for (const key of [named, ofObject, orphan]) await putBlob(fx, key);
    const instanceId = await putRawInstance(fx, {
      leaseUntil: Date.now() + HOUR,
      entries: {
        [newChangeId()]: { v: 1, id: 'mangled', note: `was ${JSON.stringify({ blob: named })}`, at: Date.now() }, // unknown field: does not parse
        [newChangeId()]: { v: 7, id: 'held', at: Date.now() }, // unknown version, names no blob
      },
    });
    const report = await auditDeleting(fx);
    expect(report.inFlight.map((f) => [f.key, f.why, f.instanceId]).sort()).toEqual(
      [
        [named, 'named', instanceId],
        [ofObject, 'unreadableEntry', instanceId],
      ].sort(),
    );
    expect(report.corruptChangeLog).toHaveLength(2);
    expect(report.deleteRefused).toBeUndefined();
    expect(report.orphans.map((o) => o.key)).toEqual([orphan]);
    expect(report.deleted).toBe(1);
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([named, ofObject].sort());
  });

  test('an entry that does not parse and names no object refuses every delete of the run (exit 1); the report is complete', async () => {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'free');
    await putBlob(fx, orphan);
    const changeId = newChangeId();
    const instanceId = await putRawInstance(fx, { leaseUntil: Date.now() + HOUR, entries: { [changeId]: 'not an entry' } });
    const run = await cliJson(fx, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], { clock: ahead });
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ deleted: 0, deleteRefused: expect.stringContaining(instanceId), corruptChangeLog: [{ instanceId }] });
    expect(run.json.orphans.map((o: { key: string }) => o.key)).toEqual([orphan]);
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([orphan]);
    const text = await cli(fx, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], { clock: ahead });
    expect(text.out).toContain('deletes refused:');
    // Report only: it does not send its reader to a --delete that would delete nothing (before: "run with --delete to delete the orphans").
    // A live object binds the store, so the orphan is no undecided blob.
    const live = blobKey(fx, 'live');
    await putBlob(fx, live);
    await putTombstone(fx, 'live', live);
    const report = await cli(fx, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(report.code).toBe(0);
    expect(report.out).not.toContain('run with --delete');
    expect(report.out).toContain(
      `nothing deleted: --delete would refuse every delete while entry ${changeId} of change-log item ${instanceId} does not parse and names no object`,
    );
    const json = await cliJson(fx, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(json.json).toMatchObject({ changeLogRefusal: expect.stringContaining(instanceId), orphans: [{ key: orphan }] });
    expect(json.json.deleteRefused).toBeUndefined();
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([live, orphan].sort());
  });
});
