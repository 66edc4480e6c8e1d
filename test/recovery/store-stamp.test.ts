/**
 * A sweeper configured with another store than the writers whose changes it sweeps: the same
 * change-log table, another objects table (an environment variable from the wrong shell, a
 * sweeper deployed beside another deployment's writers). Reading "no item" in its objects table
 * for every key, it would judge every blob a dead writer's entries name unreferenced, the
 * committed ones included. Writers stamp their instance items with their objects table; a
 * sweeper of another quarantines such an item whole and acts on nothing in it. Checked from
 * outside: the objects read back, the bucket, the change log.
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { emptyTable, freshFixture } from '../support/local.js';
import {
  deadWriterPut,
  entryNames,
  KiB,
  makeSweeper,
  makeWriter,
  PAST_EVERYTHING_MS,
  randomBody,
  rawState,
  sameBytes,
  sweepPastEverything,
  writersClosedAfterEach,
} from '../tiered/harness.js';

const open = writersClosedAfterEach();

/** An overwrite whose writer died after its commit, before deleting the blob it replaced: its entry names both blobs. */
async function committedOverwriteLeftToTheSweeper(fx: Awaited<ReturnType<typeof freshFixture>>) {
  const body = randomBody(40 * KiB);
  await deadWriterPut(fx, open, 'photo', atStep('delete-blob', fx.config), { old: randomBody(40 * KiB), body });
  return body;
}

describe('a sweeper of another store than the writer that left the change', () => {
  test('another objects table: the committed blob is kept, the instance quarantined whole', async () => {
    const fx = await freshFixture();
    const body = await committedOverwriteLeftToTheSweeper(fx);
    const before = await rawState(fx);
    const other = { ...fx, config: { ...fx.config, objectsTable: await emptyTable(fx) } };
    const report = await sweepPastEverything(other);
    expect(report).toMatchObject({ entriesRecovered: 0, blobsDeleted: 0, entriesQuarantined: expect.any(Number) });
    expect(report.entriesQuarantined).toBeGreaterThan(0);
    // It deleted the blob the object points at: every read of it failed from then on.
    const reader = makeWriter(fx);
    open.push(reader);
    expect(sameBytes((await reader.store.get('photo'))?.body, body)).toBe(true);
    const after = await rawState(fx);
    expect(after.blobs).toEqual(before.blobs);
    expect(after.instances.flatMap((i) => entryNames(i))).toEqual(before.instances.flatMap((i) => entryNames(i)));
    // The store's own sweeper recovers it, once the other's claim (its quarantine recheck) ended.
    const own = makeSweeper(fx, 3 * PAST_EVERYTHING_MS);
    try {
      expect(await own.sweeper.sweep()).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, entriesQuarantined: 0, errors: 0 });
    } finally {
      own.close();
    }
    expect(sameBytes((await reader.store.get('photo'))?.body, body)).toBe(true);
  });

  test('an expired upload session of another store: its upload and blob kept, nothing aborted', async () => {
    const fx = await freshFixture();
    const writer = makeWriter(fx);
    open.push(writer);
    await writer.store.createUpload('video', { expiresInMs: 60_000, partSize: 5 * 1024 * KiB });
    const uploads = async () =>
      (await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }))).Uploads ?? [];
    expect(await uploads()).toHaveLength(1);
    const other = { ...fx, config: { ...fx.config, objectsTable: await emptyTable(fx) } };
    const report = await sweepPastEverything(other);
    expect(report).toMatchObject({ entriesRecovered: 0, blobsDeleted: 0 });
    expect(report.entriesQuarantined).toBeGreaterThan(0);
    expect(await uploads(), 'the session upload still in progress').toHaveLength(1);
  });

  test('a delete committed by a writer that died before deleting the blob: its commit stamped the item it created', async () => {
    const fx = await freshFixture();
    const setup = makeWriter(fx);
    open.push(setup);
    await setup.store.put('doc', randomBody(40 * KiB));
    // The delete's commit writes its entry (it uploads nothing, so it records nothing before), on
    // an instance item the commit creates.
    const injector = new FaultInjector().add({ kind: 'crashBefore', match: atStep('delete-blob', fx.config) });
    const dying = makeWriter(fx, { injector });
    open.push(dying);
    await dying.store.delete('doc').catch(() => undefined);
    expect(injector.crashedAt).toBeDefined();
    const before = await rawState(fx);
    const report = await sweepPastEverything({ ...fx, config: { ...fx.config, objectsTable: await emptyTable(fx) } });
    expect(report).toMatchObject({ entriesRecovered: 0, blobsDeleted: 0 });
    expect(report.entriesQuarantined).toBeGreaterThan(0);
    const after = await rawState(fx);
    expect(after.instances.flatMap((i) => entryNames(i))).toEqual(before.instances.flatMap((i) => entryNames(i)));
    expect(after.blobs).toEqual(before.blobs);
  });
});
