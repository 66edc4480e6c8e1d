/**
 * Custom objects-table attribute names (`TIERLOG_HV_ATTRIBUTES`) reach every component, on the
 * local servers. A writer with its own names overwrites a large object and dies before deleting
 * the blob it replaced; its entry names both blobs. A reader with the default names would see
 * "no blob" for the object and delete the blob HV references. The sweeper handler
 * (functions/sweeper.ts), `tierlog sweep` and `tierlog audit --delete`, each given only the
 * environment, delete the replaced blob and keep the referenced one. The objects handler writes
 * under the configured names. The objects-stream function reads the old images and HV under the
 * configured names, so it deletes what a dead writer replaced and what a removal (TTL's included)
 * left. The snapshot audit (`tierlog audit --inventory --export --delete` and the snapshot-audit
 * function) reads the snapshots and HV under the configured names, so it never takes a
 * referenced blob for an orphan.
 */
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { Context, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { afterEach, describe, expect, test } from 'vitest';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { StreamReader, asTtlDeletion, streamEvent } from '../support/stream.js';
import { type Fixture, freshFixture, listKeys, prefixKeys, scanAll } from '../support/local.js';
import { KiB, PAST_WINDOW_MS, makeSweeper, makeWriter, randomBody, sameBytes, steps } from '../tiered/harness.js';
import { blobKey, cli, cliJson, putBlob } from '../cli/helpers.js';
import { snapshotsRemovedAfterAll } from '../snapshot-audit/snapshots.js';
import { captureStdout, httpEvent, lambdaContext, loadHandler, scheduledEvent } from './lambda.js';

const NAMES = { blob: 'ptr', body: 'data', version: 'ver' };
const HOUR = 60 * 60_000;

const snapshotsAt = snapshotsRemovedAfterAll();
const restores: Array<() => void> = [];
const closers: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
  for (const c of closers.splice(0)) c();
});

/** A large object overwritten by a writer that died (lease 3 h ago) before deleting the old blob. */
async function overwrittenByDeadWriter(fx: Fixture, key: string): Promise<{ referenced: string; replaced: string; body: Uint8Array }> {
  const setup = makeWriter(fx);
  closers.push(() => setup.close());
  await setup.store.put(key, randomBody(20 * KiB));
  const [replaced] = await prefixKeys(fx);

  const injector = new FaultInjector().add({ kind: 'crashBefore', match: steps(fx.config).deleteBlob });
  const w = makeWriter(fx, { injector, log: { clock: () => Date.now() - 3 * HOUR } });
  closers.push(() => w.close());
  const body = randomBody(30 * KiB);
  await w.store.put(key, body).catch(() => undefined);
  expect(injector.crashedAt?.command).toBe('DeleteObjectCommand');

  // HV holds the tombstone under the configured name, not under "blob".
  const [item] = await scanAll(fx.dynamodb, fx.config.objectsTable);
  expect(item).not.toHaveProperty('blob');
  expect(item).not.toHaveProperty('version');
  const referenced = String(item!.ptr);
  expect(referenced).not.toBe(replaced);
  expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([referenced, replaced!].sort());
  return { referenced, replaced: replaced!, body };
}

async function checkAfterSweep(fx: Fixture, key: string, s: { referenced: string; body: Uint8Array }): Promise<void> {
  expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([s.referenced]);
  const entries = (await scanAll(fx.dynamodb, fx.config.changeLogTable)).flatMap((item) =>
    Object.keys(item).filter((name) => name.startsWith('c_')),
  );
  expect(entries).toEqual([]); // the log drained (the set-up writer's live, empty instance remains)
  const reader = makeWriter(fx);
  closers.push(() => reader.close());
  expect(sameBytes((await reader.store.get(key))?.body, s.body)).toBe(true);

  // The audit, from the environment too, keeps the referenced blob.
  const run = await cliJson(fx, ['audit', '--older-than', '90m', '--delete'], { clock: () => Date.now() + 2 * HOUR });
  expect(run.code).toBe(0);
  expect(run.json).toMatchObject({ referenced: 1, orphans: [], deleted: 0 });
  expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([s.referenced]);
}

describe('custom HV attribute names from the environment', () => {
  test('the sweeper handler deletes the replaced blob and keeps the referenced one; then audit --delete keeps it too', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const s = await overwrittenByDeadWriter(fx, 'custom/handler');
    // A 1 ms upload window (unsafe, for tests): the invocation's first sighting of the dead
    // writer's instance has closed its window by the time it judges it, so one invocation recovers.
    const { mod, restore } = await loadHandler(fx, () => import('../../functions/sweeper.js'), {
      TIERLOG_MAX_UPLOAD_MS: '1',
      TIERLOG_UNSAFE_SHORT_WINDOWS: '1',
    });
    restores.push(restore);
    expect(process.env.TIERLOG_HV_ATTRIBUTES).toBe(JSON.stringify(NAMES));
    const handler = mod.handler as (event: unknown, context: Context) => Promise<Record<string, unknown>>;
    const { result } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    expect(result).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    await checkAfterSweep(fx, 'custom/handler', s);
  });

  test('tierlog sweep deletes the replaced blob and keeps the referenced one; then audit --delete keeps it too', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const s = await overwrittenByDeadWriter(fx, 'custom/cli');
    // The first sighting fences; past the upload window it opened, the next sweep recovers.
    expect((await cliJson(fx, ['sweep'])).json).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, blobsDeleted: 0, errors: 0 });
    const run = await cliJson(fx, ['sweep'], { clock: () => Date.now() + PAST_WINDOW_MS });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    await checkAfterSweep(fx, 'custom/cli', s);
  });

  test('the objects-stream handler deletes the blob a dead writer replaced, and the blob of an item TTL removed', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(() => reader.close());
    const s = await overwrittenByDeadWriter(fx, 'custom/stream');
    const { mod, restore } = await loadHandler(fx, () => import('../../functions/objects-stream.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    restores.push(restore);
    const handler = mod.handler as (event: DynamoDBStreamEvent, context: Context) => Promise<{ batchItemFailures: unknown[] }>;
    const deliver = async (records: DynamoDBRecord[]) =>
      (await captureStdout(() => handler(streamEvent(records), lambdaContext('tierlog-objects-stream')))).result;

    // The overwrite's MODIFY names the replaced blob under "ptr": it goes, the referenced one stays.
    expect(await deliver(await reader.read())).toEqual({ batchItemFailures: [] });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([s.referenced]);

    // TTL removes the item: its REMOVE names the referenced blob under "ptr": it goes too.
    await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: 'custom/stream' } } }));
    const records = (await reader.read()).map((r) => (r.eventName === 'REMOVE' ? asTtlDeletion(r) : r));
    expect(records.map((r) => r.eventName)).toEqual(['REMOVE']);
    expect(await deliver(records)).toEqual({ batchItemFailures: [] });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([]);
  });

  test('a StreamCleanup given attributes that disagree with the configuration is refused', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    expect(() => new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, attributes: { blob: 'blob' } })).toThrow(
      /attributes disagree with the configuration/,
    );
  });

  test('the objects handler writes under the configured names', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const { mod, restore } = await loadHandler(fx, () => import('../../functions/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    restores.push(restore);
    const body = randomBody(20 * KiB);
    const response = await mod.handler(
      httpEvent('PUT', '/objects/custom/http', { body: Buffer.from(body).toString('base64'), isBase64Encoded: true }),
      lambdaContext('tierlog-objects'),
    );
    expect(response).toMatchObject({ statusCode: expect.any(Number) });
    expect((response as { statusCode: number }).statusCode).toBeLessThan(300);
    const [item] = await scanAll(fx.dynamodb, fx.config.objectsTable);
    const { version } = JSON.parse(String((response as { body: string }).body)) as { version: number };
    expect(item).toMatchObject({ key: 'custom/http', ver: version, ptr: expect.stringMatching(/^blobs\//) });
    expect(item).not.toHaveProperty('blob');
  });

  test('a TieredStore or Sweeper given attributes that disagree with the configuration is refused', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    expect(() => makeWriter(fx, { store: { attributes: { blob: 'blob' } } })).toThrow(/attributes disagree with the configuration/);
    expect(() => makeWriter(fx, { store: { attributes: NAMES } }).close()).not.toThrow();
    const run = await cli(fx, ['sweep'], { env: { TIERLOG_HV_ATTRIBUTES: '{"blob":"body"}' } });
    expect(run.code).toBe(2);
    expect(run.err).toContain('TIERLOG_HV_ATTRIBUTES');
  });

  /** An object whose tombstone (under the configured names) points at a blob 3 h old, and an orphan as old. */
  async function oldTombstoneAndOrphan(fx: Fixture): Promise<{ referenced: string; orphan: string }> {
    const at = Date.now() - 3 * HOUR;
    const referenced = blobKey(fx, 'custom/old', at);
    const orphan = blobKey(fx, 'custom/gone', at);
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key: 'custom/old', ver: 1, ptr: referenced, size: 12, metadata: {}, createdAt: at, updatedAt: at, writeId: 'w' }),
      }),
    );
    await putBlob(fx, referenced);
    await putBlob(fx, orphan);
    return { referenced, orphan };
  }

  test('tierlog audit --inventory --export --delete deletes the orphan and keeps the referenced blob', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const { referenced, orphan } = await oldTombstoneAndOrphan(fx);
    // The snapshots and the CLI's clock 2 h ahead: the blobs written now are 2 h old too.
    const ahead = () => Date.now() + 2 * HOUR;
    const snap = await snapshotsAt(fx, ahead());
    const run = await cliJson(fx, ['audit', '--older-than', '90m', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir], {
      clock: ahead,
    });
    expect(run.json).toMatchObject({ proposed: { orphans: 1, lost: 0 }, orphans: [orphan], deleted: 1, lost: [] });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([referenced]);
  });

  test('the snapshot-audit function plans its query on the configured names and keeps a referenced blob proposed as an orphan', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const { referenced, orphan } = await oldTombstoneAndOrphan(fx);
    await putBlob(fx, 'inventory/hive/dt=2026-01-01-00-00/symlink.txt');
    const { mod, restore } = await loadHandler(fx, () => import('../../functions/snapshot-audit.js'), {
      TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(HOUR),
      TIERLOG_SNAPSHOT_DELETE: 'true',
      TIERLOG_SNAPSHOT_BUCKET: fx.config.bucket,
      TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX: 'inventory/hive',
      TIERLOG_SNAPSHOT_DATABASE: 'tierlog_audit',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    restores.push(restore);
    const handler = mod.handler as (event: unknown) => Promise<unknown>;
    const exportOf = (table: string) => ({
      ExportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`,
      S3Prefix: 'exports',
      ExportTime: Date.now() - HOUR,
    });
    const { result: plan } = await captureStdout(() =>
      handler({ action: 'plan', objectsExport: exportOf(fx.config.objectsTable), changeLogExport: exportOf(fx.config.changeLogTable) }),
    );
    const query = String((plan as { query: string }).query);
    expect(query).toContain('$.Item.ptr.S');
    expect(query).not.toContain('$.Item.blob.S');

    // A proposal that calls the referenced blob an orphan (a query on other names would): kept.
    const lastModified = new Date(Date.now() - 3 * HOUR).toISOString().replace('T', ' ').slice(0, 23);
    const { result } = await captureStdout(() =>
      handler({
        Items: [
          { kind: 'orphan', blob_key: referenced, last_modified: lastModified },
          { kind: 'orphan', blob_key: orphan, last_modified: lastModified },
        ],
      }),
    );
    expect(result).toEqual({ confirmed: 1, deleted: 1, kept: 1, lost: 0, malformed: 0, expired: 0, expiredRemoved: 0, expiredDeleted: 0 });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual(expect.arrayContaining([referenced]));
    expect(await listKeys(fx.s3, fx.config.bucket)).not.toContain(orphan);
  });

  test('a snapshot audit given names that disagree with the configuration is refused', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const { reverifyAndDelete } = await import('../../lib/recovery/snapshot-audit/reverify.js');
    await expect(
      reverifyAndDelete([], {
        config: fx.config,
        dynamodb: fx.dynamodb,
        s3: fx.s3,
        now: Date.now(),
        olderThanMs: HOUR,
        hvAttributes: { blob: 'blob' },
      }),
    ).rejects.toThrow(/disagree with the configuration/);
  });

  test('the objects-stream function deletes the blob a dead stream-mode writer replaced and the blob of a removed item', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES, replacedBlobCleanup: 'stream' });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(() => reader.close());
    const setup = makeWriter(fx);
    closers.push(() => setup.close());
    await setup.store.put('custom/replaced', randomBody(20 * KiB));
    await setup.store.put('custom/removed', randomBody(20 * KiB));
    const [replaced, removed] = await Promise.all(
      ['custom/replaced', 'custom/removed'].map(async (key) =>
        String((await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === key)!.ptr),
      ),
    );
    // A stream-mode writer overwrites and dies before deleting the blob it replaced.
    const injector = new FaultInjector().add({ kind: 'crashBefore', match: steps(fx.config).deleteBlob });
    const w = makeWriter(fx, { injector });
    closers.push(() => w.close());
    await w.store.put('custom/replaced', randomBody(30 * KiB)).catch(() => undefined);
    expect(injector.crashedAt?.command).toBe('DeleteObjectCommand');
    const current = String((await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === 'custom/replaced')!.ptr);
    // Another object's item is removed (as TTL or an operator would).
    await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: 'custom/removed' } } }));
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([replaced, removed, current].sort());

    const { mod, restore } = await loadHandler(fx, () => import('../../functions/objects-stream.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
    restores.push(restore);
    const handler = mod.handler as (event: unknown, context: Context) => Promise<{ batchItemFailures: unknown[] }>;
    const { result } = await captureStdout(() =>
      reader.read().then((records) => handler(streamEvent(records), lambdaContext('tierlog-objects-stream'))),
    );
    expect(result).toEqual({ batchItemFailures: [] });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([current]);
  });
});

describe('attribute names forgotten where blobs are deleted: nothing referenced goes', () => {
  /** The same tables and bucket, read under the default names (TIERLOG_HV_ATTRIBUTES unset). */
  function forgotten(fx: Fixture): Fixture {
    const { hvAttributes: _, ...config } = fx.config;
    return { ...fx, config };
  }

  test('the sweeper handler quarantines the entry and deletes neither blob; with the names, a later sweep recovers it', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const s = await overwrittenByDeadWriter(fx, 'custom/forgotten');
    const { mod, restore } = await loadHandler(forgotten(fx), () => import('../../functions/sweeper.js'), {
      TIERLOG_MAX_UPLOAD_MS: '1',
      TIERLOG_UNSAFE_SHORT_WINDOWS: '1',
    });
    restores.push(restore);
    expect(JSON.parse(process.env.TIERLOG_HV_ATTRIBUTES ?? '{}')).toEqual({}); // the default names
    const handler = mod.handler as (event: unknown, context: Context) => Promise<Record<string, unknown>>;
    const { result } = await captureStdout(() => handler(scheduledEvent(), lambdaContext('tierlog-sweeper')));
    // The entry names the referenced blob as `new`: read under "blob", HV would point at nothing.
    expect(result).toMatchObject({ entriesQuarantined: 1, entriesRecovered: 0, blobsDeleted: 0 });
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([s.referenced, s.replaced].sort());

    // Under the writers' names, once the quarantine's recheck is due: recovered as it should be.
    const sweep = makeSweeperAt(fx, PAST_WINDOW_MS + 2 * HOUR);
    expect(await sweep()).toMatchObject({ entriesQuarantined: 0, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    await checkAfterSweep(fx, 'custom/forgotten', s);
  });

  test("an object now inline under the writers' names is quarantined too (its body is not where the defaults look)", async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const s = await overwrittenByDeadWriter(fx, 'custom/inline');
    const w = makeWriter(fx);
    closers.push(() => w.close());
    await w.store.put('custom/inline', new Uint8Array([1, 2, 3])); // small: inline under "data", deletes `referenced`
    const sweep = makeSweeperAt(forgotten(fx), PAST_WINDOW_MS);
    await makeSweeperAt(forgotten(fx), 0)();
    expect(await sweep()).toMatchObject({ entriesQuarantined: 1, entriesRecovered: 0, blobsDeleted: 0 });
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([s.replaced]);
  });

  test('the objects-stream function leaves a replaced blob when the current item is not understood', async () => {
    const fx = await freshFixture({ hvAttributes: NAMES });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    closers.push(() => reader.close());
    const s = await overwrittenByDeadWriter(fx, 'custom/foreign');
    const records = await reader.read();
    // Something else rewrote the item in its own shape before the record was delivered.
    await fx.dynamodb.send(
      new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall({ key: 'custom/foreign', ver: 9, location: s.replaced }) }),
    );
    const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
    const { response, report } = await cleanup.handle(records);
    expect(response).toEqual({ batchItemFailures: [] });
    expect(report).toMatchObject({ blobsDeleted: 0, untrusted: 1 });
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([s.referenced, s.replaced].sort());
  });
});

/** One sweep at `offsetMs` past now, by a Sweeper on `fx`'s configuration (closed after the test). */
function makeSweeperAt(fx: Fixture, offsetMs: number): () => Promise<Record<string, unknown>> {
  const { sweeper, close } = makeSweeper(fx, offsetMs);
  closers.push(close);
  return async () => ({ ...(await sweeper.sweep()) });
}
