/**
 * The live re-verification between a snapshot's proposal and a delete (`reverifyAndDelete`, used
 * by `tierlog audit --inventory … --export …` and the snapshot-audit Lambda) protects at least
 * what the listing audit protects: a candidate whose LastModified is unknown is young; a blob
 * named by a change-log item in any form (a binary, an attribute name, an entry that does not
 * parse) is kept; an entry about an object that does not parse holds every blob of that object;
 * an item the audit cannot read refuses every delete. Each scene: an old, unreferenced blob in
 * the bucket, one change-log item, then the re-verification with `delete`.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { describe, expect, test } from 'vitest';
import { parseBlobKey } from '../../lib/recovery/audit.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { AccessDeniedError, TierlogError } from '../../lib/errors.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { FaultInjector, type FaultRule } from '../../lib/faults/fault-injector.js';
import { awsServiceError, batchDeleteThenSecondKeyFailing, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { checkLost, ReverifyIncompleteError, reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { formatSnapshotAudit, snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { SnapshotAuditIncompleteError } from '../../lib/recovery/snapshot-audit/errors.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { blobKey, cliJson, HOUR, putBlob, putRawInstance, putTombstone, storeWithOrphan } from '../cli/helpers.js';
import { snapshotsRemovedAfterAll } from './snapshots.js';

const OLD = Date.now() - 3 * HOUR;
const snapshotsAt = snapshotsRemovedAfterAll();

async function scene(): Promise<{ fx: Fixture; key: string }> {
  const fx = await freshFixture();
  const key = blobKey(fx, 'obj', OLD);
  await putBlob(fx, key);
  return { fx, key };
}

/** Re-verification with `delete`, a 1 h safety age, now; the scenes' stores hold no large object (no live blob). */
function deleting(fx: Fixture) {
  return { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, now: Date.now(), olderThanMs: HOUR, delete: true, emptyStoreOk: true };
}

async function reverify(fx: Fixture, key: string, lastModified: number | 'unknown' = OLD) {
  return reverifyAndDelete([{ key, ...(lastModified !== 'unknown' ? { lastModified } : {}) }], deleting(fx));
}

const exists = async (fx: Fixture, key: string) => (await listKeys(fx.s3, fx.config.bucket, key)).includes(key);

describe('snapshot re-verification: what it protects', () => {
  test('control: an old blob nothing names and HV does not point at is deleted', async () => {
    const { fx, key } = await scene();
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [key], deleted: 1, kept: [] });
    expect(await exists(fx, key)).toBe(false);
  });

  test('an unknown LastModified counts as young (the UUIDv7 time alone is the writer clock)', async () => {
    const { fx, key } = await scene();
    const report = await reverify(fx, key, 'unknown');
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'too-young' }] });
    expect(await exists(fx, key)).toBe(true);
  });

  test.each([
    ['a young LastModified and an old UUIDv7 (a blob uploaded late, or by a writer whose clock runs behind)', OLD, Date.now()],
    ['an old LastModified and a young UUIDv7', Date.now(), OLD],
  ])('%s: young by one clock is young', async (_name, uuidAt, lastModified) => {
    const fx = await freshFixture();
    const key = blobKey(fx, 'obj', uuidAt);
    await putBlob(fx, key);
    const report = await reverify(fx, key, lastModified);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'too-young' }] });
    expect(await exists(fx, key)).toBe(true);
  });

  // The listing audit's boundary: a blob exactly the safety age old by both clocks is old enough.
  test.each([
    ['exactly the safety age: deleted', OLD + HOUR, true],
    ['a millisecond under it: kept as too young', OLD + HOUR - 1, false],
  ])('a blob %s, as the listing audit judges it', async (_name, now, deleted) => {
    const { fx, key } = await scene();
    const report = await reverifyAndDelete([{ key, lastModified: OLD }], { ...deleting(fx), now });
    expect(report.deleted).toBe(deleted ? 1 : 0);
    expect(report.kept).toEqual(deleted ? [] : [{ key, reason: 'too-young' }]);
    expect(await exists(fx, key)).toBe(!deleted);
  });

  // The base64url segment is the id's UTF-8: read another way, the key of an orphan of a non-ASCII
  // id is taken for another id's (malformed) and never deleted.
  test('an orphan of an id outside ASCII is deleted, as any other', async () => {
    const fx = await freshFixture();
    const key = blobKey(fx, 'café/ünï/日本', OLD);
    await putBlob(fx, key);
    expect(await reverify(fx, key)).toMatchObject({ confirmed: [key], deleted: 1, kept: [] });
    expect(await exists(fx, key)).toBe(false);
  });

  test.each([
    ['under 1 h', HOUR - 1],
    ['half an hour', HOUR / 2],
    ['not a number', Number.NaN],
    ['reaching back before 2000', 60 * 365 * 24 * HOUR],
  ])('a safety age %s is refused before anything is read or deleted', async (_name, olderThanMs) => {
    const { fx, key } = await scene();
    await expect(reverifyAndDelete([{ key, lastModified: OLD }], { ...deleting(fx), olderThanMs })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'olderThanMs' }),
    );
    expect(await exists(fx, key)).toBe(true);
  });

  // NaN as `now` made every candidate too young and NaN as `batchSize` took none into a batch:
  // either way nothing judged and a report that looked clean. 0 never ended.
  test.each([
    ['now NaN', { now: Number.NaN }, 'now'],
    ['now in seconds', { now: Date.now() / 1000 }, 'now'],
    ['now in microseconds', { now: Date.now() * 1000 }, 'now'],
    ['batchSize NaN', { batchSize: Number.NaN }, 'batchSize'],
    ['batchSize 0', { batchSize: 0 }, 'batchSize'],
    ['batchSize 1.5', { batchSize: 1.5 }, 'batchSize'],
    // A misspelt option is a default nobody chose: refused as the listing audit refuses it.
    ['a misspelt option (emptyStoreOK)', { emptyStoreOK: true }, 'emptyStoreOK'],
  ])('%s is refused (ValidationError naming it) before anything is read or deleted', async (_name, bad, field) => {
    const { fx, key } = await scene();
    await expect(reverifyAndDelete([{ key, lastModified: OLD }], { ...deleting(fx), ...bad })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field }),
    );
    expect(await exists(fx, key)).toBe(true);
  });

  const uuidOf = (key: string) => key.slice(key.lastIndexOf('/') + 1);
  test.each([
    ['an entry naming the blob in a binary attribute', (key: string) => ({ x: { v: 1, id: 'obj', at: OLD, new: Buffer.from(key) } })],
    ['an entry of an unknown version naming only the UUID', (key: string) => ({ x: { v: 9, id: 'obj', at: OLD, blob: uuidOf(key) } })],
    ['an entry of an unknown version about the object, naming no blob', () => ({ x: { v: 9, id: 'obj', at: OLD } })],
  ])('%s: kept, not deleted', async (_name, entries) => {
    const { fx, key } = await scene();
    await putRawInstance(fx, { leaseUntil: Date.now() + HOUR, entries: entries(key) });
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'named-by-change-log' }] });
    expect(await exists(fx, key)).toBe(true);
  });

  test('an entry that does not parse and names no object refuses every delete', async () => {
    const { fx, key } = await scene();
    const instanceId = await putRawInstance(fx, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'change-log-unreadable' }] });
    expect(report.refusal).toBe(`entry x of change-log item ${instanceId} does not parse and names no object`);
    expect(await exists(fx, key)).toBe(true);
  });

  test('an item a writer of another store stamped refuses every delete, and the report says which and why, not that it cannot be read', async () => {
    const { fx, key } = await scene();
    const instanceId = await putRawInstance(fx, {
      leaseUntil: Date.now() + HOUR,
      entries: {},
      store: { objectsTable: 'objects-of-another-store' },
    });
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'change-log-unreadable' }] });
    // Before: no refusal, so the handler and the CLI said "a change-log or objects-table item cannot be read".
    expect(report.refusal).toBe(
      `change-log item ${instanceId} was written by a writer of another store, objectsTable "objects-of-another-store" (this store's: ${JSON.stringify(fx.config.objectsTable)}): ` +
        "TIERLOG_CHANGELOG_TABLE may name that store's change log, which shows none of this store's writes in flight",
    );
    expect(await exists(fx, key)).toBe(true);
  });

  test.each([
    ['an attribute name', (key: string) => ({ [`note_${uuidOf(key)}`]: 1 })],
    ['a binary', (key: string) => ({ note: Buffer.from(key) })],
    ['a string set', (key: string) => ({ note: new Set(['other', key]) })],
    ['a binary set', (key: string) => ({ note: new Set([Buffer.from(key)]) })],
    ['a list', (key: string) => ({ note: ['other', key] })],
    ['the name of a nested attribute', (key: string) => ({ note: { [`n_${uuidOf(key)}`]: 1 } })],
  ])('a change-log item carrying the UUID in %s, outside any entry, protects the blob', async (_name, attributes) => {
    const { fx, key } = await scene();
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ pk: 'odd', ...attributes(key) }),
      }),
    );
    const report = await reverify(fx, key);
    expect(report.deleted).toBe(0);
    expect(await exists(fx, key)).toBe(true);
  });
});

describe('snapshot re-verification: a blob key of an object id the store refuses', () => {
  /**
   * The canonical base64url of an object id no writer can use (a control character; more than 512
   * bytes too, which the local S3 server cannot hold as a file name) is no blob key of this library: the listing audit reports it unparseable and never
   * deletes it. The re-verification took it for one (the segment decodes, re-encodes, and
   * `checkBlobKey` binds it to that id), read HV for the id, found nothing, and deleted it as an
   * orphan. It is malformed to both now.
   */
  test.each([
    ['a control character', 'a\u0001b'],
    ['a line feed', 'line\nbreak'],
    ['DEL', 'a\u007fb'],
  ])('an id with %s: kept as malformed, as the listing audit reports it', async (_name, objectId) => {
    const fx = await freshFixture();
    const key = `${fx.config.prefix}/${Buffer.from(objectId, 'utf8').toString('base64url')}/${uuidv7({ msecs: OLD })}`;
    await putBlob(fx, key);
    expect(parseBlobKey(fx.config.prefix, key)).toMatchObject({ ok: false });
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'malformed' }] });
    expect(await exists(fx, key)).toBe(true);
  });
});

describe('snapshot re-verification: a proposed key that is no blob key of this store', () => {
  /**
   * The proposal comes from an inventory and an export, files anyone with the bucket's grants can
   * write: a key that is not `<prefix>/<object id>/<uuidv7>` is old, and no item points at it, so
   * read as a blob key it would be an orphan. It is kept as malformed, never deleted.
   */
  const seg = Buffer.from('obj', 'utf8').toString('base64url');
  test.each([
    // Of the prefix's length: read past it, the rest has the shape <object id>/<uuidv7>.
    ['outside the prefix', (p: string) => `${'z'.repeat(p.length)}/${seg}/${uuidv7({ msecs: OLD })}`],
    ["a nested store's blob key (a segment too many)", (p: string) => `${p}/nested/${seg}/${uuidv7({ msecs: OLD })}`],
    ['a blob key with a segment after it', (p: string) => `${p}/${seg}/${uuidv7({ msecs: OLD })}/x`],
    ['an object segment that is not base64url', (p: string) => `${p}/o.bj/${uuidv7({ msecs: OLD })}`],
    ['a last segment that is a UUIDv4', (p: string) => `${p}/${seg}/${uuidv4()}`],
    ['a last segment in upper case', (p: string) => `${p}/${seg}/${uuidv7({ msecs: OLD }).toUpperCase()}`],
  ])('%s: kept as malformed, not deleted', async (_name, keyOf) => {
    const fx = await freshFixture();
    const key = keyOf(fx.config.prefix);
    await putBlob(fx, key);
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'malformed' }] });
    expect(await exists(fx, key)).toBe(true);
  });
});

describe('snapshot re-verification failing before any delete', () => {
  // Nothing was deleted: the error itself (its type is what the caller acts on), not an
  // "incomplete" one saying a run stopped after 0 deletes.
  test('the objects table refused (AccessDenied): an AccessDeniedError, nothing deleted', async () => {
    const { fx, key } = await scene();
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'BatchGetItemCommand',
        error: () => Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }),
      })
      .attach(dynamodb, 'dynamodb');
    const err = await reverifyAndDelete([{ key, lastModified: OLD }], { ...deleting(fx), dynamodb }).then(
      () => undefined,
      (e: unknown) => e,
    );
    dynamodb.destroy();
    expect(err).toBeInstanceOf(AccessDeniedError);
    expect(err).not.toBeInstanceOf(ReverifyIncompleteError);
    expect(await exists(fx, key)).toBe(true);
  });

  test("the delete batch failing whole before S3 deleted anything (the bucket gone): S3's error, translated, nothing counted", async () => {
    const { fx, key } = await scene();
    // Two keys: one goes by DeleteObject alone.
    const { err, other } = await deletingTwo(fx, key, {
      kind: 'fail',
      match: (r) => r.command === 'DeleteObjectsCommand',
      error: () => awsServiceError('NoSuchBucket', 404, 'The specified bucket does not exist'),
    });
    expect(err).toBeInstanceOf(TierlogError);
    expect(err).not.toBeInstanceOf(ReverifyIncompleteError);
    expect((err as Error).message).toMatch(/does not exist/);
    expect(await exists(fx, key)).toBe(true);
    expect(await exists(fx, other)).toBe(true);
  });
});

/** Re-verifies and deletes `key` and another old orphan over an S3 client failing by `rules`; its error. */
async function deletingTwo(fx: Fixture, key: string, ...rules: FaultRule[]): Promise<{ err: unknown; other: string }> {
  const other = blobKey(fx, 'other', OLD);
  await putBlob(fx, other);
  const s3 = createS3Client();
  const injector = new FaultInjector();
  for (const rule of rules) injector.add(rule);
  injector.attach(s3, 's3');
  try {
    const err = await reverifyAndDelete(
      [key, other].map((k) => ({ key: k, lastModified: OLD })),
      { ...deleting(fx), s3 },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { err, other };
  } finally {
    s3.destroy();
  }
}

describe('snapshot re-verification: a delete S3 never answered', () => {
  test('DeleteObjects 500, then the one-by-one delete 503, before any confirmed: the keys that may be gone are in the report, not lost with a bare error', async () => {
    const { fx, key } = await scene();
    const { err, other } = await deletingTwo(
      fx,
      key,
      { kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) },
      { kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand', error: () => awsServiceError('SlowDown', 503) },
    );
    // The failed DeleteObjects may have deleted every key of its batch: said, with the report.
    expect(err).toBeInstanceOf(ReverifyIncompleteError);
    expect((err as ReverifyIncompleteError).report).toMatchObject({ deleted: 0, deleteFailures: [], deleteUnknown: [key, other].sort() });
    expect((err as Error).message).toMatch(/^re-verification stopped after 0 blobs deleted, 2 deletes of unknown outcome \(may be gone\)/);
  });

  test('the snapshot audit: its report, carried by the error, names them', async () => {
    const { fx, key } = await scene();
    const now = Date.now() + 2 * HOUR;
    const snap = await snapshotsAt(fx, now);
    const s3 = createS3Client();
    new FaultInjector()
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) })
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand', error: () => awsServiceError('SlowDown', 503) })
      .attach(s3, 's3');
    const err = await snapshotAudit({ ...deleting(fx), s3, inventory: snap.manifest, exportDir: snap.exportDir, now }).then(
      () => undefined,
      (e: unknown) => e,
    );
    s3.destroy();
    expect(err).toBeInstanceOf(SnapshotAuditIncompleteError);
    expect((err as SnapshotAuditIncompleteError).report).toMatchObject({ orphans: [key], deleted: 0, deleteUnknown: [key] });
    expect(formatSnapshotAudit((err as SnapshotAuditIncompleteError).report)).toContain(
      '1 deletes of unknown outcome (S3 did not answer; these blobs may be gone):',
    );
  });
});

describe('snapshot re-verification: what HV points at', () => {
  test('an item that names the blob and also carries the deletion flag (no writer leaves one): referenced, as the listing audit reads it', async () => {
    const { fx, key } = await scene();
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ key: 'obj', version: 2, blob: key, deleted: true, size: 12, createdAt: OLD, updatedAt: OLD }),
      }),
    );
    // The listing audit (HvTable.readBlobPointers, as the sweeper and the stream function) reads a pointer.
    const listing = await cliJson(fx, ['audit', '--older-than', '1h'], { clock: () => Date.now() + 2 * HOUR });
    expect(listing.json).toMatchObject({ referenced: 1, orphans: [] });
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'referenced' }] });
    expect(await exists(fx, key)).toBe(true);
    // The snapshots' query reads it so too: not proposed.
    const now = Date.now() + 2 * HOUR;
    const snap = await snapshotsAt(fx, now);
    const audit = await snapshotAudit({ ...deleting(fx), inventory: snap.manifest, exportDir: snap.exportDir, now });
    expect(audit).toMatchObject({ proposed: { orphans: 0, lost: 0 }, orphans: [], kept: [], deleted: 0 });
  });
});

describe('snapshot re-verification: an item of another object written after the snapshots', () => {
  test('an item copied to rename an object (key A, blob key of B), written after the export: referenced, kept, as the listing audit keeps it', async () => {
    // The snapshots saw no item point at the blob (proposed); the copy lands before the re-verification.
    // A store with a live large object, so the objects table shows itself this bucket's store.
    const { fx, orphan: key } = await storeWithOrphan(OLD);
    await putTombstone(fx, 'renamed', key);
    const report = await reverify(fx, key);
    expect(report).toMatchObject({ confirmed: [], deleted: 0, kept: [{ key, reason: 'referenced' }] });
    expect(await exists(fx, key)).toBe(true);
    // The listing audit's --delete keeps it too.
    const listing = await cliJson(fx, ['audit', '--older-than', '1h', '--delete'], { clock: () => Date.now() + 2 * HOUR });
    expect(listing.json).toMatchObject({ deleted: 0, keptOnRecheck: [key] });
    expect(await exists(fx, key)).toBe(true);
  });
});

describe('snapshot re-verification stopped during the scan for items of other objects', () => {
  // The scan reads the whole objects table (minutes to hours at scale): a Ctrl-C given during it
  // stops the run there, before the round's deletes, as the listing audit's scan stops.
  test('the signal aborted while the objects table is scanned: nothing deleted, the abort thrown', async () => {
    const { fx, key } = await scene();
    const dynamodb = createDynamoDBClient();
    const interrupt = new AbortController();
    new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        match: (r) =>
          r.command === 'ScanCommand' && r.input.TableName === fx.config.objectsTable && r.input.ProjectionExpression === '#k, #b',
        before: async () => interrupt.abort(new Error('interrupted')),
      })
      .attach(dynamodb, 'dynamodb');
    const err = await reverifyAndDelete([{ key, lastModified: OLD }], { ...deleting(fx), dynamodb, signal: interrupt.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    dynamodb.destroy();
    expect((err as Error | undefined)?.message).toBe('interrupted');
    expect(await exists(fx, key)).toBe(true);
  });
});

describe('confirming a proposed loss live', () => {
  test('an overwrite between the HV read and the listing (the old blob deleted by its writer): no loss, as HV no longer points at it', async () => {
    const fx = await freshFixture();
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
    const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb: fx.dynamodb, s3: fx.s3 });
    const s3 = createS3Client();
    try {
      await store.put('obj', new Uint8Array(20 * 1024).fill(1));
      const [old] = await listKeys(fx.s3, fx.config.bucket);
      // The listing of the proposed blob runs right after an overwrite that committed and deleted it.
      new FaultInjector()
        .add({
          kind: 'delay',
          delayMs: 0,
          times: 1,
          match: (r) => r.command === 'ListObjectsV2Command' && r.input.Prefix === old,
          before: async () => {
            await store.put('obj', new Uint8Array(20 * 1024).fill(2));
          },
        })
        .attach(s3, 's3');
      expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([old]);
      const { lost, undecided } = await checkLost([{ key: old!, objectKey: 'obj' }], { config: fx.config, dynamodb: fx.dynamodb, s3 });
      expect(await listKeys(fx.s3, fx.config.bucket)).not.toContain(old);
      expect(lost).toEqual([]);
      expect(undecided).toEqual([]);
    } finally {
      log.close();
      s3.destroy();
    }
  });
});

describe('a proposed loss named twice (overlapping inventory files)', () => {
  test('is reported once, lost or missed by the inventory', async () => {
    const fx = await freshFixture();
    const gone = blobKey(fx, 'lost-object', OLD);
    await putTombstone(fx, 'lost-object', gone);
    const held = blobKey(fx, 'held', OLD);
    await putBlob(fx, held);
    const twice = [
      { key: gone, objectKey: 'lost-object' },
      { key: gone, objectKey: 'lost-object' },
      { key: held, objectKey: 'held' },
      { key: held, objectKey: 'held-too' },
    ];
    const check = await checkLost(twice, { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, cutoffMs: Date.now() + HOUR });
    expect(check).toEqual({ lost: [{ key: gone, objectKey: 'lost-object' }], missedByInventory: [held], undecided: [] });
  });
});

describe('a proposed loss the bucket holds', () => {
  test('missed by the inventory only when last modified before the cutoff: one modified at it could be uploaded after the inventory', async () => {
    const { fx, key } = await scene();
    const listed = await fx.s3.send(new ListObjectsV2Command({ Bucket: fx.config.bucket, Prefix: key }));
    const modified = listed.Contents![0]!.LastModified!.getTime();
    const check = (cutoffMs: number) =>
      checkLost([{ key, objectKey: 'obj' }], { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, cutoffMs });
    expect(await check(modified)).toEqual({ lost: [], missedByInventory: [], undecided: [] });
    expect(await check(modified + 1)).toEqual({ lost: [], missedByInventory: [key], undecided: [] });
  });
});

describe('a proposed loss the bucket holds as an object assembled from parts', () => {
  // S3 may answer a listing with a page of no key that says it is truncated (it stopped before it
  // reached one): the existence check goes on from its token, and finds the blob. Whether the blob
  // was assembled from parts (its LastModified its upload's start, so no proof the inventory missed
  // it) was read by a second listing of its own, which took such a page for "not assembled": a
  // healthy object's blob was named as one the inventory missed, and the batch failed the run.
  test('a first page of no key, truncated: the listing that shows the blob tells its parts, no inventory miss', async () => {
    const { fx, key } = await scene();
    const s3 = createS3Client();
    try {
      s3.middlewareStack.add(
        (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
          if (context.commandName !== 'ListObjectsV2Command') return next(args);
          if (args.input.ContinuationToken === undefined) {
            return { response: {}, output: { $metadata: {}, Contents: [], KeyCount: 0, IsTruncated: true, NextContinuationToken: 'on' } };
          }
          const out = await next({ ...args, input: { ...args.input, ContinuationToken: undefined } });
          out.output.Contents = (out.output.Contents ?? []).map((c: { Key?: string }) =>
            c.Key === key ? { ...c, ETag: '"0123456789abcdef0123456789abcdef-2"' } : c,
          );
          return out;
        },
        { step: 'initialize', name: 'emptyFirstPageThenPartsObject' },
      );
      const check = await checkLost([{ key, objectKey: 'obj' }], {
        config: fx.config,
        dynamodb: fx.dynamodb,
        s3,
        cutoffMs: Date.now() + HOUR,
      });
      expect(check).toEqual({ lost: [], missedByInventory: [], undecided: [] });
    } finally {
      s3.destroy();
    }
  });
});

describe('a proposed loss judged against a cutoff that is no instant', () => {
  // NaN: no blob was last modified before it, so an inventory that missed blobs looked complete.
  test.each([
    ['NaN', Number.NaN],
    ['negative', -1],
    ['with a fraction', 1.5],
  ])('cutoffMs %s: a ValidationError (cutoffMs) before any request', async (_name, cutoffMs) => {
    const { fx, key } = await scene();
    await expect(checkLost([{ key, objectKey: 'obj' }], { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, cutoffMs })).rejects.toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'cutoffMs' }),
    );
  });
});

describe('a proposed loss outside the prefix', () => {
  test('is not judged: no finding of any kind', async () => {
    const fx = await freshFixture();
    await putBlob(fx, 'outside/x');
    const lost = await checkLost([{ key: 'outside/x', objectKey: 'obj' }], {
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      cutoffMs: Date.now() + HOUR,
    });
    expect(lost).toEqual({ lost: [], missedByInventory: [], undecided: [] });
  });
});

describe('snapshot re-verification stopped after a delete', () => {
  // Batches of one; the second batch's delete hook throws. The first batch's delete went through,
  // or S3 refused it (403): either way what the first batch did is in the error, not lost with it.
  test.each([
    ['deleted', 'the next blob stays', false, '1 blobs deleted', { deleted: 1, deleteFailures: [] }],
    [
      'refused by S3',
      'both blobs stay',
      true,
      '0 blobs deleted, 1 deletes failed',
      { deleted: 0, deleteFailures: [{ code: 'AccessDenied' }] },
    ],
  ])(
    'an error before the second batch, the first blob %s: a ReverifyIncompleteError with the report so far; %s',
    async (_first, _stays, refuse, done, expected) => {
      const fx = await freshFixture();
      const keys = [blobKey(fx, 'a', OLD), blobKey(fx, 'b', OLD)].sort();
      for (const key of keys) await putBlob(fx, key);
      const s3 = createS3Client();
      if (refuse)
        new FaultInjector()
          .add({ kind: 'fail', times: 1, match: (r) => r.command === 'DeleteObjectCommand', error: s3AccessDenied })
          .attach(s3, 's3');
      let batches = 0;
      const stopped = await reverifyAndDelete(
        keys.map((key) => ({ key, lastModified: OLD })),
        {
          ...deleting(fx),
          s3,
          batchSize: 1,
          beforeDelete: () => {
            if (++batches === 2) throw new Error('boom');
          },
        },
      ).then(
        () => undefined,
        (err: unknown) => err,
      );
      s3.destroy();
      expect(stopped).toBeInstanceOf(ReverifyIncompleteError);
      expect((stopped as ReverifyIncompleteError).message).toBe(`re-verification stopped after ${done}: boom`);
      expect((stopped as ReverifyIncompleteError).report).toMatchObject({
        ...expected,
        deleteFailures: expected.deleteFailures.map((f) => ({ key: keys[0], ...f })),
      });
      expect(await exists(fx, keys[0]!)).toBe(refuse);
      expect(await exists(fx, keys[1]!)).toBe(true);
    },
  );

  test('a DeleteObjects that fails as a whole, then a one-by-one delete that fails: the delete S3 confirmed is counted, not lost with the error', async () => {
    const fx = await freshFixture();
    const keys = [blobKey(fx, 'a', OLD), blobKey(fx, 'b', OLD), blobKey(fx, 'c', OLD)].sort();
    for (const key of keys) await putBlob(fx, key);
    const s3 = createS3Client();
    const injector = new FaultInjector();
    for (const rule of batchDeleteThenSecondKeyFailing()) injector.add(rule);
    injector.attach(s3, 's3');
    const stopped = await reverifyAndDelete(
      keys.map((key) => ({ key, lastModified: OLD })),
      { ...deleting(fx), s3 },
    ).then(
      () => undefined,
      (err: unknown) => err,
    );
    s3.destroy();
    expect(await exists(fx, keys[0]!), 'the first key was deleted').toBe(false);
    expect(stopped).toBeInstanceOf(ReverifyIncompleteError);
    // The keys S3 never answered for (in the failed batch, not confirmed one by one) may be gone.
    expect((stopped as ReverifyIncompleteError).message).toBe(
      're-verification stopped after 1 blobs deleted, 2 deletes of unknown outcome (may be gone): injected: SlowDown',
    );
    expect((stopped as ReverifyIncompleteError).report).toMatchObject({ deleted: 1, deleteFailures: [], deleteUnknown: keys.slice(1) });
  });
});

describe('snapshot re-verification: deletes S3 refused', () => {
  // DeleteObjects fails whole (500); one by one, S3 refuses the first key (403, a bucket policy)
  // and deletes the second; with a third, every attempt of it is throttled (503): the run stops.
  test.each([
    ['the run ends: the refused key reported, the deleted one counted', 2],
    ['the run stops at a later key: the refusal reported with what was deleted', 3],
  ])('%s', async (_name, count) => {
    const fx = await freshFixture();
    const keys = ['a', 'b', 'c'].slice(0, count).map((id) => blobKey(fx, id, OLD));
    for (const key of keys) await putBlob(fx, key);
    const s3 = createS3Client();
    new FaultInjector()
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) })
      .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand' && r.input.Key === keys[0], error: s3AccessDenied })
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand' && r.input.Key === keys[2],
        error: () => awsServiceError('SlowDown', 503),
      })
      .attach(s3, 's3');
    const outcome = await reverifyAndDelete(
      keys.map((key) => ({ key, lastModified: OLD })),
      { ...deleting(fx), s3 },
    ).then(
      (report) => ({ report }),
      (err: unknown) => ({ err }),
    );
    s3.destroy();
    const report = 'report' in outcome ? outcome.report : (outcome.err as ReverifyIncompleteError).report;
    if (count === 3) expect(outcome).toMatchObject({ err: expect.any(ReverifyIncompleteError) });
    expect(report).toMatchObject({ deleted: 1, deleteFailures: [{ key: keys[0], code: 'AccessDenied' }] });
    expect(await exists(fx, keys[0]!)).toBe(true);
    expect(await exists(fx, keys[1]!)).toBe(false);
  });
});
