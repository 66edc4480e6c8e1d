/**
 * The audits delete a blob because the objects table does not point at it, so a run given the
 * objects table of another store (a staging table beside the production bucket) would take every
 * blob for an orphan. Each scene: a "production" store (a bucket with a live large object and an
 * old orphan, its objects table pointing at the live one) and the table the audit is given, then
 * `tierlog audit --delete` (listing) and the snapshot re-verification with `delete`; checked from
 * outside by listing the bucket.
 *
 *  - the table of another store (points at blobs that are not in this bucket): nothing deleted,
 *    exit 1, `--empty-store-ok` does not override it;
 *  - an empty table: nothing deleted unless `--empty-store-ok` says the store holds no large object;
 *  - the right table: the orphan deleted, the live blob kept, also when the orphan is checked
 *    (checkBatch 1) before the run has seen a blob the table points at (a sample of the table's
 *    pointers decides then: one Scan page per segment).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { audit } from '../../lib/recovery/audit.js';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { snapshotsRemovedAfterAll } from '../snapshot-audit/snapshots.js';
import { BINDING_SEGMENTS, checkStoreBinding, judgeStoreBinding, type SampleFinding } from '../../lib/recovery/store-binding.js';
import { hvAttributeNames } from '../../lib/config.js';
import { HvTable } from '../../lib/tiered/hv-table.js';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';
import { MULTIPART_PART_SIZE } from '../../lib/constants.js';
import { emptyTable, type Fixture, freshFixture, prefixKeys } from '../support/local.js';
import { makeWriter, randomBody } from '../tiered/harness.js';
import { blobKey, cliJson, HOUR, otherStoresTable, putBlob, putTombstone, storeWithOrphan, withTable } from '../cli/helpers.js';

const OLD = Date.now() - 3 * HOUR;
const ahead = () => Date.now() + 2 * HOUR;
const snapshotsAt = snapshotsRemovedAfterAll();

/** A store with a live large object and an old orphan; the orphan's object id sorts first in the listing. */
const production = () => storeWithOrphan(OLD);

async function listingAudit(fx: Fixture, extra: string[] = []) {
  return cliJson(fx, ['audit', '--older-than', '90m', '--delete', ...extra], { clock: ahead });
}

/** `emptyStoreOk` left out when undefined: the default, as the snapshot-audit Lambda leaves it. */
async function reverify(fx: Fixture, keys: string[], emptyStoreOk?: boolean, batchSize?: number) {
  return reverifyAndDelete(
    keys.map((key) => ({ key, lastModified: OLD })),
    {
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      now: Date.now(),
      olderThanMs: HOUR,
      delete: true,
      ...(emptyStoreOk !== undefined ? { emptyStoreOk } : {}),
      ...(batchSize !== undefined ? { batchSize } : {}),
    },
  );
}

/** The listing audit with `--delete`, 90 min of safety age, two hours ahead, through `dynamodb`. */
function deletingAudit(fx: Fixture, dynamodb: DynamoDBClient, batching: { pageSize?: number; checkBatch?: number } = {}) {
  return audit({ config: fx.config, dynamodb, s3: fx.s3, clock: ahead, olderThanMs: 90 * 60_000, delete: true, ...batching });
}

/**
 * A client whose Scans of the objects table by segment (the binding's sample) read pages of one
 * item, standing for pages of a thousand small objects; `sampled` records each (segment, start key).
 */
function sampleInPagesOfOne(fx: Fixture) {
  const dynamodb = createDynamoDBClient();
  const sampled: Array<{ segment: number; start: unknown }> = [];
  dynamodb.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      const { TableName, TotalSegments, Segment, ExclusiveStartKey } = args.input;
      if (context.commandName !== 'ScanCommand' || TableName !== fx.config.objectsTable || TotalSegments === undefined) return next(args);
      sampled.push({ segment: Segment, start: ExclusiveStartKey });
      return next({ ...args, input: { ...args.input, Limit: 1 } });
    },
    { step: 'initialize', name: 'scanPagesOfOne' },
  );
  return { dynamodb, sampled };
}

describe("the audits refuse to delete through an objects table that is not the bucket's store", () => {
  test("another store's table: the listing audit deletes nothing and says why (exit 1), even with --empty-store-ok", async () => {
    const { fx, live, orphan } = await production();
    const wrong = withTable(fx, await otherStoresTable());
    for (const extra of [[], ['--empty-store-ok']]) {
      const run = await listingAudit(wrong, extra);
      expect(run.code).toBe(1);
      expect(run.json.deleted).toBe(0);
      expect(run.json.deleteRefused).toMatch(/points at blobs that are not in s3:\/\//);
    }
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  // In batches of one, the refusal at the first batch keeps the candidates of the batches after it too.
  test.each([
    ['in one batch', undefined],
    ['in batches of one', 1],
  ])("another store's table: the snapshot re-verification keeps every candidate as store-unbound (%s)", async (_name, batchSize) => {
    const { fx, live, orphan } = await production();
    const report = await reverify(withTable(fx, await otherStoresTable()), [orphan, live], true, batchSize);
    expect(report.deleted).toBe(0);
    expect(report.kept.map((k) => k.reason)).toEqual(['store-unbound', 'store-unbound']);
    expect(report.refusal).toMatch(/points at blobs that are not in/);
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  // A report is what an operator acts on: one that called the live blob a confirmed orphan (the
  // other table does not point at it) would be deleted by hand, or by the --delete run it invites.
  test("another store's table, report only: the snapshot audit confirms no orphan (store-unbound), as the listing audit reports none", async () => {
    const { fx, live, orphan } = await production();
    const wrong = withTable(fx, await otherStoresTable());
    const now = ahead();
    const snap = await snapshotsAt(wrong, now);
    const report = await snapshotAudit({
      config: wrong.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      inventory: snap.manifest,
      exportDir: snap.exportDir,
      olderThanMs: HOUR,
      now,
    });
    expect(report.orphans).toEqual([]);
    expect(report.kept).toEqual([
      { key: orphan, reason: 'store-unbound' },
      { key: live, reason: 'store-unbound' },
    ]);
    expect(report.deleteRefused).toMatch(/points at blobs that are not in s3:\/\//);
    const listing = await cliJson(wrong, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(listing.json.orphans).toEqual([]);
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  // A read-only role (the report-only CLI's) may not Scan the objects table: no sample, no binding.
  test('report only, the sample of the objects table refused (a read-only role): the candidates kept as store-unbound, not a failed run', async () => {
    const { fx, live, orphan } = await production();
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'ScanCommand' && JSON.stringify(r.input).includes(fx.config.objectsTable),
        error: () =>
          Object.assign(new Error('User is not authorized to perform: dynamodb:Scan'), {
            name: 'AccessDeniedException',
            $metadata: { httpStatusCode: 400 },
          }),
      })
      .attach(dynamodb, 'dynamodb');
    try {
      const report = await reverifyAndDelete([{ key: orphan, lastModified: OLD }], {
        config: fx.config,
        dynamodb,
        s3: fx.s3,
        now: Date.now(),
        olderThanMs: HOUR,
      });
      expect(report.confirmed).toEqual([]);
      expect(report.kept).toEqual([{ key: orphan, reason: 'store-unbound' }]);
      expect(report.refusal).toMatch(/could not tell whether .*access denied: Scan/);
    } finally {
      dynamodb.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  // The sample's pointers are the table's word, so they are checked before they are looked up:
  // a blob of another object, or one outside the prefix, says nothing of this bucket's store
  // (and the first one exists here: taken for evidence, it would bind the table).
  test.each([
    ['a blob of another object of this bucket', (live: string) => live],
    ['a blob outside the prefix', (_live: string) => 'elsewhere/ei1saXZl/0190b3c4-0000-7000-8000-000000000000'],
  ])('a table whose only pointer names %s: not bound, nothing deleted', async (_name, pointer) => {
    const { fx, live, orphan } = await production();
    const crafted = withTable(fx, await emptyTable(fx));
    await putTombstone(crafted, 'y-other', pointer(live));
    const report = await audit({
      config: crafted.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      clock: ahead,
      olderThanMs: 90 * 60_000,
      delete: true,
    });
    expect(report.deleted).toBe(0);
    expect(report.deleteRefused).toMatch(/points at blobs that are not in s3:\/\//);
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  test("another store's table whose sampled blob S3 does not answer for: undecided, nothing deleted", async () => {
    const { fx, live, orphan } = await production();
    const wrong = withTable(fx, await otherStoresTable());
    const denied = () => Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    // The binding's lookup of one blob (a listing of at most one key), not the audit's own listing.
    const lookup = (r: RequestInfo) => r.command === 'ListObjectsV2Command' && r.input.MaxKeys === 1;
    const injector = new FaultInjector().add({ kind: 'fail', match: lookup, error: denied });
    const s3 = injector.attach(createS3Client(), 's3');
    try {
      const report = await audit({ config: wrong.config, dynamodb: fx.dynamodb, s3, clock: ahead, olderThanMs: 90 * 60_000, delete: true });
      expect(injector.stats.injected.fail).toBeGreaterThan(0);
      expect(report.deleted).toBe(0);
      expect(report.deleteRefused).toMatch(/could not tell whether/);
    } finally {
      s3.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  // Churn is not evidence either way: every sampled pointer that moved during the check leaves the
  // question open, and the operator is told to run again (not that the table is another store's).
  test("another store's table whose every sampled pointer moves during the check: refused as churn, run again", async () => {
    const { fx, live, orphan } = await production();
    const other = withTable(fx, await otherStoresTable());
    const overwrite = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      // The sample's lookup: the first is of the pointer the audit read for the listed blob's own
      // object (the other store's blob, missing here: no evidence either way).
      skip: 1,
      match: (r: RequestInfo) => r.command === 'ListObjectsV2Command' && r.input.MaxKeys === 1,
      before: async () => putTombstone(other, 'z-live', blobKey(other, 'z-live'), 2),
    });
    const s3 = overwrite.attach(createS3Client(), 's3');
    try {
      const report = await audit({ config: other.config, dynamodb: fx.dynamodb, s3, clock: ahead, olderThanMs: 90 * 60_000, delete: true });
      expect(overwrite.stats.injected.delay).toBe(1);
      expect(report.deleted).toBe(0);
      expect(report.deleteRefused).toMatch(/changed during the check; deletes refused \(run again\)/);
    } finally {
      s3.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  test('an empty table: refused, unless --empty-store-ok states the store holds no large object', async () => {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'a-orphan', OLD);
    await putBlob(fx, orphan);
    const empty = withTable(fx, await emptyTable(fx));
    const refused = await listingAudit(empty);
    expect(refused.code).toBe(1);
    expect(refused.json.deleteRefused).toMatch(/points at no blob/);
    expect(await prefixKeys(fx)).toEqual([orphan]);
    expect((await reverify(empty, [orphan])).kept).toEqual([{ key: orphan, reason: 'store-unbound' }]);
    expect(await prefixKeys(fx)).toEqual([orphan]);

    const confirmed = await listingAudit(empty, ['--empty-store-ok']);
    expect(confirmed.code).toBe(0);
    expect(confirmed.json.deleted).toBe(1);
    expect(await prefixKeys(fx)).toEqual([]);
  });

  test('an empty table, snapshot audit: the orphan kept as store-unbound, unless emptyStoreOk states the store holds no large object', async () => {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'a-orphan', OLD);
    await putBlob(fx, orphan);
    const empty = withTable(fx, await emptyTable(fx));
    const now = ahead();
    const snap = await snapshotsAt(empty, now);
    const run = (emptyStoreOk: boolean) =>
      snapshotAudit({
        config: empty.config,
        dynamodb: fx.dynamodb,
        s3: fx.s3,
        inventory: snap.manifest,
        exportDir: snap.exportDir,
        olderThanMs: HOUR,
        now,
        delete: true,
        emptyStoreOk,
      });
    const refused = await run(false);
    expect(refused.kept).toEqual([{ key: orphan, reason: 'store-unbound' }]);
    expect(refused.deleteRefused).toMatch(/points at no blob/);
    expect(await prefixKeys(fx)).toEqual([orphan]);
    // The CLI exits 1 on it (a person must look), as on a table that cannot be read.
    const cliRun = await cliJson(
      empty,
      ['audit', '--older-than', '1h', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir],
      {
        clock: () => now,
      },
    );
    expect(cliRun.code).toBe(1);
    expect(cliRun.json).toMatchObject({ deleted: 0, deleteRefused: expect.stringMatching(/points at no blob/) });
    expect(await prefixKeys(fx)).toEqual([orphan]);
    const confirmed = await run(true);
    expect(confirmed.orphans).toEqual([orphan]);
    expect(confirmed.deleted).toBe(1);
    expect(await prefixKeys(fx)).toEqual([]);
  });

  test.each([
    ['in one round: a listed blob it points at binds it', {}, 0],
    ['the orphan checked alone first: the sample binds it', { pageSize: 1, checkBatch: 1 }, BINDING_SEGMENTS],
  ])('the right table, %s; the orphan is deleted, the live blob kept', async (_name, batching, objectsScans) => {
    const { fx, live } = await production();
    const dynamodb = createDynamoDBClient();
    const scans: string[] = [];
    dynamodb.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        // The binding's sample scans by segment (the re-check's one full scan, before the first delete, does not).
        if (context.commandName === 'ScanCommand' && args.input.TotalSegments !== undefined) scans.push(args.input.TableName);
        return next(args);
      },
      { step: 'initialize', name: 'countScans' },
    );
    try {
      const report = await deletingAudit(fx, dynamodb, batching);
      expect(report.deleteRefused).toBeUndefined();
      expect(report.deleted).toBe(1);
      expect(scans.filter((t) => t === fx.config.objectsTable)).toHaveLength(objectsScans);
    } finally {
      dynamodb.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([live]);
  });

  // A store mostly of small objects: a Scan page of a segment may hold no item that points at a
  // blob, and the sample reads on from where it stopped. Pages of one item (the Scan's Limit
  // rewritten) stand for pages of a thousand small objects.
  test('the right table whose first items are small objects, snapshot re-verification: the sample reads past them and binds it', async () => {
    const { fx, live, orphan } = await production();
    const writer = makeWriter(fx);
    try {
      // DynamoDB Local scans "small-38" before "z-live" in their segment (of 4); the other segments
      // hold no item, or small ones.
      for (const key of ['small-38', 'small-1', 'small-2']) await writer.store.put(key, randomBody(10));
    } finally {
      writer.close();
    }
    const { dynamodb, sampled } = sampleInPagesOfOne(fx);
    try {
      const report = await reverifyAndDelete([{ key: orphan, lastModified: OLD }], {
        config: fx.config,
        dynamodb,
        s3: fx.s3,
        now: Date.now(),
        olderThanMs: HOUR,
        delete: true,
      });
      expect(report.refusal).toBeUndefined();
      expect(report.deleted).toBe(1);
    } finally {
      dynamodb.destroy();
    }
    expect(
      sampled.some(({ start }) => start !== undefined),
      'a segment read a second page',
    ).toBe(true);
    expect(await prefixKeys(fx)).toEqual([live]);
  });

  // A store of many small objects and few large ones: the sample (pages of one item stand for pages
  // of a thousand small objects) meets no item that points at a blob. The orphan is the old blob of
  // an object overwritten since: its own item, which both audits read, points at the blob that
  // replaced it, in the bucket, and binds the store with no Scan.
  test("the right table whose sample meets no blob: the orphan's own object, overwritten, binds it in both audits", async () => {
    const fx = await freshFixture();
    const live = blobKey(fx, 'doc', OLD + 60_000);
    const orphan = blobKey(fx, 'doc', OLD);
    await putBlob(fx, orphan);
    await putBlob(fx, live, 'live bytes');
    await putTombstone(fx, 'doc', live);
    const writer = makeWriter(fx);
    try {
      for (let i = 0; i < 40; i++) await writer.store.put(`small-${i}`, randomBody(10));
    } finally {
      writer.close();
    }
    const { dynamodb, sampled } = sampleInPagesOfOne(fx);
    try {
      // The scene's premise: the sample alone sees no pointer (DynamoDB Local's order puts "doc"
      // past the third page of its segment), and refused every delete before.
      const hv = new HvTable(fx.config.objectsTable, dynamodb, hvAttributeNames(fx.config));
      const lt = new LtBucket(fx.s3, fx.config.bucket, fx.config.prefix, MULTIPART_PART_SIZE);
      expect((await checkStoreBinding({ dynamodb, hv, lt })).kind).toBe('noReferences');
      sampled.length = 0;
      const snapshot = await reverifyAndDelete([{ key: orphan, lastModified: OLD }], {
        config: fx.config,
        dynamodb,
        s3: fx.s3,
        now: Date.now(),
        olderThanMs: HOUR,
        delete: false,
      });
      expect(snapshot.refusal).toBeUndefined();
      expect(snapshot.confirmed).toEqual([orphan]);
      const listing = await deletingAudit(fx, dynamodb, { pageSize: 1, checkBatch: 1 });
      expect(listing.deleteRefused).toBeUndefined();
      expect(listing.deleted).toBe(1);
      expect(sampled, 'no sample of the table').toEqual([]);
    } finally {
      dynamodb.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([live]);
  });

  test('the right table, snapshot re-verification: the sample binds it, the orphan is deleted', async () => {
    const { fx, live, orphan } = await production();
    const report = await reverify(fx, [orphan]);
    expect(report.refusal).toBeUndefined();
    expect(report.deleted).toBe(1);
    expect(await prefixKeys(fx)).toEqual([live]);
  });
});

describe('judgeStoreBinding', () => {
  const scope = { table: 'objects', bucket: 'b', prefix: 'p', scanned: 10 };
  const here: SampleFinding = { kind: 'here', objectKey: 'k', blob: 'p/x/y' };
  const missing = (confirmed: boolean): SampleFinding => ({
    kind: 'notHere',
    objectKey: 'k',
    blob: 'p/x/y',
    why: 'no such blob',
    confirmed,
  });
  const unknown: SampleFinding = { kind: 'unknown', objectKey: 'k', blob: 'p/x/y', why: 'AccessDenied' };

  test.each<[string, SampleFinding[], string]>([
    ['one blob here binds, whatever else the sample shows', [missing(true), unknown, here], 'bound'],
    ['no item points at a blob', [], 'noReferences'],
    ['a confirmed pointer to a blob not here', [missing(true), missing(false)], 'unbound'],
    ['a pointer that moved during the check is not evidence', [missing(false)], 'undecided'],
    ['a lookup S3 did not answer', [missing(true), unknown], 'undecided'],
  ])('%s: %s', (_name, findings, kind) => {
    expect(judgeStoreBinding(findings, scope).kind).toBe(kind);
  });
});
