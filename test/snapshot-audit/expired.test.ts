/**
 * The snapshot audit's parity with the listing audit for objects expired long ago whose items TTL
 * has not removed, against the real local servers (DuckDB in-process): the query proposes the blob
 * of an object expired past TTL's lag + the stream's retention + the margin before the snapshots'
 * cutoff, the live re-verification confirms it ("expired, not removed by TTL", with the objects
 * table's TTL), and with `--delete` removes its item as TTL would, then deletes its blob. An object
 * whose cleanup is still due, a live and a permanent one are not proposed; an object whose time to
 * idle was refreshed since the snapshots, or one overwritten since, is kept at the re-verification.
 */
import { PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client, documentClient } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { SnapshotAuditIncompleteError } from '../../lib/recovery/snapshot-audit/errors.js';
import { reverifyExpired } from '../../lib/recovery/snapshot-audit/reverify-expired.js';
import { formatSnapshotAudit, snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { snapshotFindingsLeft } from '../../lib/recovery/snapshot-audit/cli.js';
import { findExports } from '../../lib/recovery/snapshot-audit/dynamo-export.js';
import { runSnapshotQuery } from '../../lib/recovery/snapshot-audit/duckdb-runner.js';
import { readInventory } from '../../lib/recovery/snapshot-audit/inventory.js';
import { type Fixture, freshFixture, prefixKeys, scanAll } from '../support/local.js';
import { makeWriter, randomBody } from '../tiered/harness.js';
import { newChangeId } from '../../lib/ids.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { StreamReader } from '../support/stream.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from '../cli/helpers.js';
import { captureStdout } from '../functions/lambda.js';
import { type Snapshots, snapshotsRemovedAfterAll } from './snapshots.js';

const KiB = 1024;
/** The audit runs 2 h ahead, so blobs written now are old enough for --older-than 1h. */
const ahead = () => Date.now() + 2 * HOUR;
const snapshotsAt = snapshotsRemovedAfterAll();

interface Scene {
  readonly fx: Fixture;
  /** Blob of each object at the snapshots, by key. */
  readonly blobs: Map<string, string>;
  readonly snap: Snapshots;
}

/** Objects written by writers whose clocks run behind; snapshots; then two objects changed live. */
async function scene(): Promise<Scene> {
  const fx = await freshFixture();
  const at = async (offsetMs: number, key: string, policy: { timeToLiveMs?: number; timeToIdleMs?: number }) => {
    const w = makeWriter(fx, { store: { clock: () => Date.now() + offsetMs } });
    try {
      await w.store.put(key, randomBody(20 * KiB), policy);
    } finally {
      w.close();
    }
  };
  await at(-80 * HOUR, 'exp/lost', { timeToLiveMs: HOUR }); // expired ~79 h ago: past 48 h + 24 h + 1 h before the cutoff
  await at(-80 * HOUR, 'exp/refreshed', { timeToIdleMs: HOUR });
  await at(-80 * HOUR, 'exp/changed', { timeToLiveMs: HOUR });
  await at(-10 * HOUR, 'exp/pending', { timeToLiveMs: HOUR }); // expired ~9 h ago: TTL and the stream may still come
  await at(0, 'exp/live', { timeToLiveMs: 100 * HOUR });
  await at(0, 'perm', {});
  const items = await scanAll(fx.dynamodb, fx.config.objectsTable);
  const blobs = new Map(items.map((i) => [String(i.key), String(i.blob)]));
  const snap = await snapshotsAt(fx, ahead());
  // Since the snapshots: the idle object's expiry moved on (as a read's refresh sets it), and the
  // other object overwritten (a new blob).
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: 'exp/refreshed' } },
      UpdateExpression: 'SET expiresAt = :e',
      ExpressionAttributeValues: { ':e': { N: String(Math.floor(Date.now() / 1000) + 3600) } },
    }),
  );
  await at(0, 'exp/changed', {});
  return { fx, blobs, snap };
}

/** `key` written by a writer whose clock runs 80 h behind, 1 h to live (expired ~79 h ago, past 48 h + 24 h + 1 h): its item as stored. */
async function putExpiredLongAgo(fx: Fixture, key = 'exp/lost'): Promise<Record<string, unknown>> {
  const w = makeWriter(fx, { store: { clock: () => Date.now() - 80 * HOUR } });
  try {
    await w.store.put(key, randomBody(20 * KiB), { timeToLiveMs: HOUR });
  } finally {
    w.close();
  }
  const items = await scanAll(fx.dynamodb, fx.config.objectsTable);
  return items.find((i) => i.key === key)!;
}

/**
 * An object expired long ago (`exp/lost`), and a proposed orphan (3 h old) whose object's item
 * (`weird`) names none of the configured attributes: the re-verification does not understand it.
 */
async function expiredAndUnrecognised(): Promise<{ fx: Fixture; blob: string; orphan: string }> {
  const fx = await freshFixture();
  const blob = String((await putExpiredLongAgo(fx)).blob);
  const orphan = blobKey(fx, 'weird', Date.now() - 3 * HOUR);
  await putBlob(fx, orphan);
  await fx.dynamodb.send(new PutItemCommand({ TableName: fx.config.objectsTable, Item: { key: { S: 'weird' }, other: { S: 'x' } } }));
  return { fx, blob, orphan };
}

/** The scene of `expiredAndUnrecognised` as it was: both blobs and both items stay. */
async function expectNothingChanged(fx: Fixture, blob: string, orphan: string): Promise<void> {
  expect((await prefixKeys(fx)).sort()).toEqual([blob, orphan].sort());
  expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => i.key).sort()).toEqual(['exp/lost', 'weird']);
}

/** The at-scale audit's batch handler over `fx`, older than 1 h, its clock `ahead` and its S3 client `fx.s3` unless given. */
function auditHandler(
  fx: Fixture,
  options: { delete: boolean; logLevel: 'WARN' | 'ERROR' | 'CRITICAL'; s3?: S3Client; clock?: () => number },
): ReturnType<typeof createSnapshotAuditHandler> {
  return createSnapshotAuditHandler({
    config: fx.config,
    settings: { olderThanMs: HOUR, delete: options.delete },
    dynamodb: fx.dynamodb,
    s3: options.s3 ?? fx.s3,
    logger: new Logger({ logLevel: options.logLevel }),
    clock: options.clock ?? ahead,
  });
}

const args = (s: Scene) => ['audit', '--older-than', '1h', '--inventory', s.snap.manifest, '--export', s.snap.exportDir];

describe('snapshot audit: blobs of objects expired long ago, not removed by TTL', () => {
  let s: Scene;
  beforeAll(async () => {
    s = await scene();
  });

  test('proposes only the objects expired past every window before the cutoff; confirms live the one still so, with the objects table TTL; deletes nothing', async () => {
    const before = (await prefixKeys(s.fx)).sort();
    const run = await cliJson(s.fx, args(s), { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.json.proposed).toEqual({ orphans: 0, lost: 0, expired: 3 });
    expect(run.json.expired).toEqual([
      expect.objectContaining({
        key: s.blobs.get('exp/lost'),
        objectKey: 'exp/lost',
        reason: expect.stringMatching(/^expired, not removed by TTL: /),
      }),
    ]);
    expect(run.json.expiredKept).toEqual(
      [
        { key: s.blobs.get('exp/refreshed'), objectKey: 'exp/refreshed', reason: 'not-expired' },
        { key: s.blobs.get('exp/changed'), objectKey: 'exp/changed', reason: 'changed' },
      ].sort((a, b) => (a.key! < b.key! ? -1 : 1)),
    );
    // DynamoDB Local's tables have TTL off: the cause, and the command that sets it.
    expect(run.json.objectsTableTtl).toMatchObject({ status: 'DISABLED', expiryAttribute: 'expiresAt' });
    expect(run.json).toMatchObject({ expiredRemoved: 0, deleted: 0, orphans: [], lost: [] });
    expect((await prefixKeys(s.fx)).sort()).toEqual(before);
    // The listing audit of the same live state names the same blobs, for the same reason.
    const listing = await cliJson(s.fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(listing.json.expired.map((e: { key: string; objectId: string }) => [e.key, e.objectId])).toEqual(
      run.json.expired.map((e: { key: string; objectKey: string }) => [e.key, e.objectKey]),
    );
    expect(listing.json.objectsTableTtl).toEqual(run.json.objectsTableTtl);
    // A finding for a person, as the listing audit counts it.
    expect(snapshotFindingsLeft(run.json)).toBe(1);
    expect((await cli(s.fx, [...args(s), '--exit-code'], { clock: ahead })).code).toBe(3);
    const text = await cli(s.fx, args(s), { clock: ahead });
    expect(text.out).toContain('expired, not removed by TTL');
    expect(text.out).toContain(`  ${s.blobs.get('exp/lost')}  expired `);
    expect(text.out).toContain("the objects table's TTL: TTL is off on");
    expect(text.out).toContain('run with --delete to delete the confirmed orphans and the blobs of expired objects');
  });

  test('blobs younger than the safety age before the snapshots are not proposed, though their objects expired long ago by the writers clocks', async () => {
    // The audit's clock not ahead: every blob was uploaded less than the hour before the cutoff.
    const run = await cliJson(s.fx, [...args(s), '--delete'], { clock: Date.now });
    expect(run.json).toMatchObject({ proposed: { orphans: 0, lost: 0, expired: 0 }, expired: [], expiredRemoved: 0, deleted: 0 });
    expect((await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key))).toContain('exp/lost');
  });

  test('--delete removes the expired item as TTL would, then deletes its blob; the refreshed and the changed objects, and every other blob, stay', async () => {
    const before = (await prefixKeys(s.fx)).sort();
    const run = await cliJson(s.fx, [...args(s), '--delete'], { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ expiredRemoved: 1, deleted: 1, deleteFailures: [] });
    expect(run.json.expired.map((e: { key: string }) => e.key)).toEqual([s.blobs.get('exp/lost')]);
    expect((await prefixKeys(s.fx)).sort()).toEqual(before.filter((k) => k !== s.blobs.get('exp/lost')));
    const items = new Map((await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => [String(i.key), i]));
    expect(items.has('exp/lost')).toBe(false);
    for (const key of ['exp/refreshed', 'exp/pending', 'exp/live', 'perm']) expect(items.get(key)?.blob).toBe(s.blobs.get(key));
    // Run again on the same snapshots: the item is gone, so the proposal is kept as changed, nothing more deleted.
    const again = await cliJson(s.fx, [...args(s), '--delete'], { clock: ahead });
    expect(again.json).toMatchObject({ expired: [], expiredRemoved: 0, deleted: 0 });
    expect(again.json.expiredKept).toContainEqual({ key: s.blobs.get('exp/lost'), objectKey: 'exp/lost', reason: 'changed' });
  });
});

/** The EMF figures (metrics) among the lines a function wrote, merged. */
function figures(out: string): Record<string, unknown> {
  return Object.assign(
    {},
    ...out
      .split('\n')
      .filter((line) => line.includes('"_aws"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>),
  );
}

describe("the audit at scale's batches: rows of kind expired", () => {
  /** Objects expired long ago and recently, and the rows the query would give for both. */
  async function rows() {
    const fx = await freshFixture();
    for (const [offset, key] of [
      [-80 * HOUR, 'exp/lost'],
      [-10 * HOUR, 'exp/pending'],
    ] as const) {
      const w = makeWriter(fx, { store: { clock: () => Date.now() + offset } });
      try {
        await w.store.put(key, randomBody(20 * KiB), { timeToLiveMs: HOUR });
      } finally {
        w.close();
      }
    }
    const blobs = new Map((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => [String(i.key), String(i.blob)]));
    // A row of an object still pending (a query of another cutoff, or one sent by hand): judged live, kept.
    const Items = ['exp/lost', 'exp/pending'].map((key) => ({ kind: 'expired', blob_key: blobs.get(key)!, object_key: key }));
    return { fx, blobs, Items };
  }

  /** The function, its clock 2 h ahead (the blobs just written are old enough for its 1 h safety age) or not. */
  const handlerOf = (fx: Fixture, deleteConfirmed: boolean, clock: () => number = ahead) =>
    auditHandler(fx, { delete: deleteConfirmed, logLevel: 'WARN', clock });

  test('report only: the row is re-verified live, counted (summary, SnapshotExpiredConfirmed) and named in the log; nothing removed', async () => {
    const { fx, blobs, Items } = await rows();
    const before = (await prefixKeys(fx)).sort();
    const run = await captureStdout(() => handlerOf(fx, false)({ Items }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ expired: 1, expiredRemoved: 0, expiredDeleted: 0, confirmed: 0, deleted: 0 });
    expect(figures(run.out)).toMatchObject({ SnapshotExpiredConfirmed: 1, SnapshotExpiredRemoved: 0, SnapshotExpiredDeleted: 0 });
    const log = `${run.out}\n${run.err}`;
    expect(log).toContain('expired, not removed by TTL');
    expect(log).toContain(blobs.get('exp/lost'));
    // The objects table's TTL, read once with the finding (DynamoDB Local's is off).
    expect(log).toContain('TTL is off on');
    expect((await prefixKeys(fx)).sort()).toEqual(before);
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => i.key).sort()).toEqual(['exp/lost', 'exp/pending']);
  });

  test('with deletes on: the item removed as TTL would, then its blob deleted; the pending object untouched', async () => {
    const { fx, blobs, Items } = await rows();
    const run = await captureStdout(() => handlerOf(fx, true)({ Items }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ expired: 1, expiredRemoved: 1, expiredDeleted: 1 });
    expect(figures(run.out)).toMatchObject({ SnapshotExpiredConfirmed: 1, SnapshotExpiredRemoved: 1, SnapshotExpiredDeleted: 1 });
    expect(await prefixKeys(fx)).toEqual([blobs.get('exp/pending')]);
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => i.key)).toEqual(['exp/pending']);
  });

  test("with deletes on, S3 refusing the expired object's blob: the refused key logged once, no error line of an empty list of the orphans'", async () => {
    const { fx, blobs, Items } = await rows();
    const s3 = createS3Client();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectsCommand' || r.command === 'DeleteObjectCommand',
        error: s3AccessDenied,
      })
      .attach(s3, 's3');
    const handler = auditHandler(fx, { delete: true, logLevel: 'WARN', s3 });
    const run = await captureStdout(() => handler({ Items }));
    s3.destroy();
    expect((run.error as Error).message).toMatch(/^1 deletes failed/);
    const refused = `${run.out}\n${run.err}`
      .split('\n')
      .filter((line) => line.includes('deletes S3 refused'))
      .map((line) => JSON.parse(line) as { deleteFailures: Array<{ key: string }>; total: number });
    // Before, a second line said S3 refused deletes and listed none (the orphans', of which there were none).
    expect(refused.map((l) => [l.total, l.deleteFailures.map((f) => f.key)])).toEqual([[1, [blobs.get('exp/lost')]]]);
  });

  // As the listing audit judges no blob younger than the safety age: a writer whose clock runs 80 h
  // behind uploads a blob whose object is already expired past every window by the item's word.
  test('a blob younger than the safety age (just uploaded, its object expired by a writer clock far behind) is kept, nothing removed', async () => {
    const { fx, blobs, Items } = await rows();
    const run = await captureStdout(() => handlerOf(fx, true, Date.now)({ Items }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ expired: 0, expiredRemoved: 0, expiredDeleted: 0 });
    expect((await prefixKeys(fx)).sort()).toEqual([blobs.get('exp/lost'), blobs.get('exp/pending')].sort());
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => i.key).sort()).toEqual(['exp/lost', 'exp/pending']);
  });
});

describe('snapshot audit --delete: a removal DynamoDB never answers', () => {
  test('stops the audit with its report: the object named among the removals of unknown outcome, its blob not deleted', async () => {
    const s = await scene();
    const before = (await prefixKeys(s.fx)).sort();
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteItemCommand' && r.input.TableName === s.fx.config.objectsTable,
        error: () => awsServiceError('InternalServerError', 500, 'Internal server error'),
      })
      .attach(dynamodb, 'dynamodb');
    let err: unknown;
    try {
      err = await snapshotAudit({
        config: s.fx.config,
        dynamodb,
        s3: s.fx.s3,
        inventory: s.snap.manifest,
        exportDir: s.snap.exportDir,
        olderThanMs: HOUR,
        now: ahead(),
        delete: true,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
    } finally {
      dynamodb.destroy();
    }
    expect(err).toBeInstanceOf(SnapshotAuditIncompleteError);
    // Said in the error too, as the listing audit's AuditIncompleteError says it.
    expect((err as Error).message).toContain('1 expired item removals of unknown outcome (may be gone)');
    const report = (err as SnapshotAuditIncompleteError).report;
    expect(report).toMatchObject({ expiredRemoveUnknown: ['exp/lost'], expiredRemoved: 0, deleted: 0 });
    expect(formatSnapshotAudit(report).join('\n')).toContain('1 expired item removals of unknown outcome');
    expect((await prefixKeys(s.fx)).sort()).toEqual(before);
  });
});

describe('the re-verification of expired objects: listings at once', () => {
  test("a round's existence checks go a few at a time (16), as the orphans' do, not one listing per proposal at once", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx, { store: { clock: () => Date.now() - 80 * HOUR } });
    try {
      for (let i = 0; i < 40; i++) await w.store.put(`exp/${String(i).padStart(2, '0')}`, randomBody(20 * KiB), { timeToLiveMs: HOUR });
    } finally {
      w.close();
    }
    const Items = (await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => ({
      kind: 'expired',
      blob_key: String(i.blob),
      object_key: String(i.key),
    }));
    const s3 = createS3Client();
    let listing = 0;
    let most = 0;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'ListObjectsV2Command') return next(args);
        most = Math.max(most, ++listing);
        try {
          await new Promise((resolve) => setTimeout(resolve, 5));
          return await next(args);
        } finally {
          listing--;
        }
      },
      { step: 'initialize' },
    );
    try {
      const handler = auditHandler(fx, { delete: false, logLevel: 'CRITICAL', s3 });
      const run = await captureStdout(() => handler({ Items }));
      expect(run.error).toBeUndefined();
      expect(run.result).toMatchObject({ expired: 40 });
    } finally {
      s3.destroy();
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(16);
  });
});

describe('the re-verification of expired objects: what the change log protects', () => {
  test('a blob a change-log entry names (a write over the expired object in flight) is kept, its item not removed, with deletes on', async () => {
    const fx = await freshFixture();
    const item = await putExpiredLongAgo(fx);
    const blob = String(item.blob);
    await putRawInstance(fx, {
      leaseUntil: Date.now() + 3 * HOUR,
      entries: { [newChangeId()]: rawEntry('exp/lost', { old: blob }, HOUR) },
    });
    const handler = auditHandler(fx, { delete: true, logLevel: 'CRITICAL' });
    const run = await captureStdout(() => handler({ Items: [{ kind: 'expired', blob_key: blob, object_key: 'exp/lost' }] }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ expired: 0, expiredRemoved: 0, expiredDeleted: 0 });
    expect(await prefixKeys(fx)).toEqual([blob]);
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => i.key)).toEqual(['exp/lost']);
  });
});

/** An object expired long ago (`exp/lost`), the snapshots, then an item copied to rename it (`renamed`), pointing at its blob. */
async function expiredRenamedSinceSnapshots(): Promise<{ fx: Fixture; blob: string; snap: Snapshots }> {
  const fx = await freshFixture();
  const blob = String((await putExpiredLongAgo(fx)).blob);
  const snap = await snapshotsAt(fx, ahead());
  await putTombstone(fx, 'renamed', blob);
  return { fx, blob, snap };
}

describe('the re-verification of expired objects: a blob the item of another object points at', () => {
  test('--delete keeps the item of an expired object whose blob an item copied to rename it since the snapshots points at: its removal had the stream function delete that blob', async () => {
    // The re-check kept the blob (referenced by the copy), but the item was removed first: a REMOVE
    // on the objects table's stream, whose function reads the removed item's key alone.
    const { fx, blob, snap } = await expiredRenamedSinceSnapshots();
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable, 'OLD_IMAGE');
    try {
      const run = await cliJson(fx, ['audit', '--older-than', '1h', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir], {
        clock: ahead,
      });
      expect(run.code).toBe(0);
      // The objects-stream function, as the deployment runs it, on what the audit did to the table.
      await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(await reader.read());
      expect(await prefixKeys(fx), "the renamed object's blob").toEqual([blob]);
      expect(run.json).toMatchObject({ expiredRemoved: 0, deleted: 0 });
      expect(run.json.expiredKept).toEqual([{ key: blob, objectKey: 'exp/lost', reason: 'referenced' }]);
      expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => String(i.key)).sort()).toEqual(['exp/lost', 'renamed']);
    } finally {
      reader.close();
    }
  });
});

describe('the re-verification of expired objects: a blob the item of another object points at, and --exit-code', () => {
  test('--delete --exit-code: the expired object kept with its item is a finding left (exit 3), as the listing audit counts it', async () => {
    const { fx, blob, snap } = await expiredRenamedSinceSnapshots();
    const argv = ['audit', '--older-than', '1h', '--delete', '--exit-code', '--inventory', snap.manifest, '--export', snap.exportDir];
    const run = await cliJson(fx, argv, { clock: ahead });
    // Before, 0: as if it had deleted it, though the expired item and its blob stay.
    expect(run.code).toBe(3);
    expect(run.json.expiredKept).toEqual([{ key: blob, objectKey: 'exp/lost', reason: 'referenced' }]);
    expect(snapshotFindingsLeft(run.json)).toBe(1);
    expect(await prefixKeys(fx)).toEqual([blob]);
  });
});

describe('snapshot audit of expired objects under HV attribute names not the defaults', () => {
  test("reads the expiry from the configured attribute in the export (TIERLOG_HV_ATTRIBUTES' expiresAt), and removes the item as TTL would under those names", async () => {
    const fx = await freshFixture({ hvAttributes: { blob: 'ptr', version: 'ver', expiresAt: 'exp_at' } });
    const item = await putExpiredLongAgo(fx);
    expect(item).toHaveProperty('exp_at');
    const blob = String(item.ptr);
    const snap = await snapshotsAt(fx, ahead());
    const run = await cliJson(fx, ['audit', '--older-than', '1h', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir], {
      clock: ahead,
    });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ proposed: { expired: 1 }, expiredRemoved: 1, deleted: 1 });
    expect(run.json.expired.map((e: { key: string }) => e.key)).toEqual([blob]);
    expect(run.json.objectsTableTtl).toMatchObject({ expiryAttribute: 'exp_at' });
    expect(await prefixKeys(fx)).toEqual([]);
    expect(await scanAll(fx.dynamodb, fx.config.objectsTable)).toEqual([]);
  });
});

describe("the audit at scale's batches: expired objects when the orphans' deletes are refused", () => {
  test('an objects-table item the re-verification does not understand refuses every change of the batch: the expired object is reported, its item and blob stay, the batch fails', async () => {
    const { fx, blob, orphan } = await expiredAndUnrecognised();
    const handler = auditHandler(fx, { delete: true, logLevel: 'WARN' });
    const lastModified = new Date(Date.now() - 3 * HOUR).toISOString().replace('T', ' ').slice(0, 23);
    const run = await captureStdout(() =>
      handler({
        Items: [
          { kind: 'orphan', blob_key: orphan, last_modified: lastModified },
          { kind: 'expired', blob_key: blob, object_key: 'exp/lost' },
        ],
      }),
    );
    expect((run.error as Error).message).toMatch(/deletes refused/);
    expect(figures(run.out)).toMatchObject({ SnapshotExpiredConfirmed: 1, SnapshotExpiredRemoved: 0, SnapshotExpiredDeleted: 0 });
    // The log names the blob as not removed (deletes refused), never as removed and deleted.
    const named = `${run.out}\n${run.err}`
      .split('\n')
      .filter((line) => line.includes('expired, not removed by TTL') && line.includes(blob));
    expect(named).not.toEqual([]);
    for (const line of named) {
      expect(line).toContain('deletes refused: not removed');
      expect(line).not.toContain('items removed as TTL would');
    }
    await expectNothingChanged(fx, blob, orphan);
  });
});

describe('snapshot audit --delete: expired objects when the orphans deletes are refused', () => {
  test('an objects-table item the re-verification does not understand refuses every change of the run: the expired object is reported, its item and blob stay, exit 1', async () => {
    const { fx, blob, orphan } = await expiredAndUnrecognised();
    const snap = await snapshotsAt(fx, ahead());
    const run = await cliJson(fx, ['audit', '--older-than', '1h', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir], {
      clock: ahead,
    });
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ kept: [{ key: orphan, reason: 'objects-table-unrecognised' }], expiredRemoved: 0, deleted: 0 });
    expect(run.json.expired.map((e: { key: string }) => e.key)).toEqual([blob]);
    await expectNothingChanged(fx, blob, orphan);
  });
});

describe("the audit at scale's batches: expired objects and a change log it cannot read", () => {
  async function sceneWithGarbage() {
    const fx = await freshFixture();
    const item = await putExpiredLongAgo(fx);
    await putRawInstance(fx, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    return { fx, blob: String(item.blob) };
  }
  const handlerOf = (fx: Fixture, deleteConfirmed: boolean) => auditHandler(fx, { delete: deleteConfirmed, logLevel: 'ERROR' });

  test('report only: the batch goes on, and says at error level why the expired objects were not confirmed', async () => {
    const { fx, blob } = await sceneWithGarbage();
    const run = await captureStdout(() => handlerOf(fx, false)({ Items: [{ kind: 'expired', blob_key: blob, object_key: 'exp/lost' }] }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ expired: 0, expiredRemoved: 0 });
    const errors = `${run.out}\n${run.err}`
      .split('\n')
      .filter((line) => line.startsWith('{') && line.includes('blobs of expired objects not confirmed'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(errors).toEqual([expect.objectContaining({ level: 'ERROR', unjudged: 1, reason: expect.any(String) })]);
  });

  test('with deletes on: nothing removed or deleted, and the batch fails naming why', async () => {
    const { fx, blob } = await sceneWithGarbage();
    const run = await captureStdout(() => handlerOf(fx, true)({ Items: [{ kind: 'expired', blob_key: blob, object_key: 'exp/lost' }] }));
    expect((run.error as Error).message).toMatch(/removals of expired items refused/);
    expect(await prefixKeys(fx)).toEqual([blob]);
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => i.key)).toEqual(['exp/lost']);
  });
});

describe('snapshot audit, report only: expired objects and a change log it cannot read', () => {
  test('no orphan proposed: the blob of the expired object is said not confirmed, with why, and no orphan is named as such', async () => {
    const fx = await freshFixture();
    await putExpiredLongAgo(fx);
    await putRawInstance(fx, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    const snap = await snapshotsAt(fx, ahead());
    const run = await cli(fx, ['audit', '--older-than', '1h', '--inventory', snap.manifest, '--export', snap.exportDir], { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/0 orphans and 0 losses proposed, 1 blobs of objects expired long ago/);
    expect(run.out).toMatch(/blobs of expired objects not confirmed: \S/);
    expect(run.out).not.toContain('orphans not confirmed');
  });
});

describe("the audit at scale's batches: an expired object's blob that another exported item points at", () => {
  // An item copied to rename an object (tierlog never writes one): the expired object's item and a
  // live copy of it under another key, both in the export, point at one blob. The query keeps such a
  // blob from the orphans (an item references it); the batches read by the object a blob's key
  // names and Scan no other (scanOtherObjects false), so a proposal of it as expired deleted the
  // blob under the live copy.
  test('is not proposed: with deletes on, the blob stays and the copy still reads it', async () => {
    const fx = await freshFixture();
    const item = await putExpiredLongAgo(fx);
    const blob = String(item.blob);
    const { expiresAt: _expiry, ...permanent } = item;
    await documentClient(fx.dynamodb).send(
      new PutCommand({ TableName: fx.config.objectsTable, Item: { ...permanent, key: 'exp/renamed' } }),
    );
    const snap = await snapshotsAt(fx, ahead());
    const exports = await findExports(snap.exportDir, { objects: fx.config.objectsTable, changeLog: fx.config.changeLogTable });
    const rows = await runSnapshotQuery({
      inventory: await readInventory(snap.manifest),
      objects: exports.objects,
      changeLog: exports.changeLog,
      prefix: fx.config.prefix,
      cutoffMs: ahead() - HOUR,
    });
    expect(rows.filter((r) => r.kind === 'expired')).toEqual([]);
    const handler = auditHandler(fx, { delete: true, logLevel: 'CRITICAL' });
    const Items = rows.map((r) => ({ kind: r.kind, blob_key: r.blobKey, object_key: r.objectKey ?? null }));
    const run = await captureStdout(() => handler({ Items }));
    expect(run.error).toBeUndefined();
    expect(run.result).toMatchObject({ expiredDeleted: 0, deleted: 0 });
    expect(await prefixKeys(fx)).toEqual([blob]);
    const w = makeWriter(fx);
    try {
      expect((await w.store.get('exp/renamed'))?.size).toBe(20 * KiB);
    } finally {
      w.close();
    }
  });
});

describe('the re-verification of expired objects stopped during the scan for items of other objects', () => {
  test('the signal aborted while the objects table is scanned: the scan stops at its next page, nothing removed', async () => {
    const fx = await freshFixture();
    const blob = String((await putExpiredLongAgo(fx)).blob);
    // Items of ~380 KB with no blob: the scan of the table takes pages (DynamoDB's 1 MB each), as a large table's does.
    for (let i = 0; i < 4; i++)
      await fx.dynamodb.send(
        new PutItemCommand({ TableName: fx.config.objectsTable, Item: { key: { S: `pad/${i}` }, pad: { S: 'x'.repeat(380 * KiB) } } }),
      );
    const dynamodb = createDynamoDBClient();
    const interrupt = new AbortController();
    let scans = 0;
    new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        match: (r) =>
          r.command === 'ScanCommand' && r.input.TableName === fx.config.objectsTable && r.input.ProjectionExpression === '#k, #b',
        before: async () => {
          scans++;
          interrupt.abort(new Error('interrupted'));
        },
      })
      .attach(dynamodb, 'dynamodb');
    const err = await reverifyExpired([{ key: blob, objectKey: 'exp/lost' }], {
      config: fx.config,
      dynamodb,
      s3: fx.s3,
      now: ahead(),
      olderThanMs: HOUR,
      delete: true,
      signal: interrupt.signal,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    dynamodb.destroy();
    expect((err as Error | undefined)?.message).toBe('interrupted');
    // Before, every page of the table was read after the Ctrl-C (minutes to hours at scale).
    expect(scans).toBe(1);
    expect(await prefixKeys(fx)).toEqual([blob]);
    expect((await scanAll(fx.dynamodb, fx.config.objectsTable)).map((i) => String(i.key))).toContain('exp/lost');
  });
});
