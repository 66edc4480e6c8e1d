/**
 * A restored copy of this store's own objects table (a point-in-time restore, a backup, staging
 * restored from production) binds (its pointers are blobs of this bucket) but misses every blob
 * committed after its restore point: through it, `tierlog audit --delete` and the snapshot
 * re-verification took those live blobs for orphans and deleted them (`lib/recovery/restored-table.ts`).
 *
 * DynamoDB Local restores nothing: DescribeTable's `RestoreSummary` for the objects table is
 * answered by a client middleware (one AWS answer faked, not the database). Each scene: the table
 * is the copy, restored at `at`; a blob written after `at` whose item only the live store has
 * (here: no item at all); checked from outside by listing the bucket.
 */
import { type DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { liveStoreOf, reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { reverifyExpired } from '../../lib/recovery/snapshot-audit/reverify-expired.js';
import { audit } from '../../lib/recovery/audit.js';
import {
  RESTORE_COMMIT_WINDOW_MS,
  RestoredCopyCheck,
  restoredCopyKeeps,
  restoredCopyKeepsExpired,
} from '../../lib/recovery/restored-table.js';
import { type Fixture, freshFixture, prefixKeys, scanAll } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putTombstone, storeWithOrphan } from '../cli/helpers.js';

const OLD = Date.now() - 3 * HOUR;
const ahead = () => Date.now() + 2 * HOUR;
const SOURCE = 'arn:aws:dynamodb:eu-west-1:123456789012:table/prod-objects';

/** A client whose DescribeTable of `table` answers it restored from {@link SOURCE} at `at`. */
function restoredAt(table: string, at: number): DynamoDBClient {
  const dynamodb = createDynamoDBClient();
  dynamodb.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      const out = await next(args);
      if (context.commandName === 'DescribeTableCommand' && args.input.TableName === table)
        out.output.Table = {
          ...out.output.Table,
          RestoreSummary: { SourceTableArn: SOURCE, RestoreDateTime: new Date(at), RestoreInProgress: false },
        };
      return out;
    },
    { step: 'initialize', name: 'restoreSummary' },
  );
  return dynamodb;
}

/** A client whose DescribeTable is refused (a role without dynamodb:DescribeTable). */
function describeDenied(): DynamoDBClient {
  const dynamodb = createDynamoDBClient();
  new FaultInjector()
    .add({
      kind: 'fail',
      match: (r) => r.command === 'DescribeTableCommand',
      error: () =>
        Object.assign(new Error('User is not authorized to perform: dynamodb:DescribeTable'), {
          name: 'AccessDeniedException',
          $metadata: { httpStatusCode: 400 },
        }),
    })
    .attach(dynamodb, 'dynamodb');
  return dynamodb;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The store's copy restored at `at`: "z-live" and the old orphan "a-orphan" before it; after it
 * (past S3's one-second LastModified), "m-new" written by the live store: its blob here, its item
 * not in the copy.
 */
async function copyTakenBeforeAWrite(): Promise<{ fx: Fixture; live: string; orphan: string; fresh: string; at: number }> {
  const { fx, live, orphan } = await storeWithOrphan(OLD);
  await pause(1_100);
  const at = Date.now();
  await pause(1_100);
  const fresh = blobKey(fx, 'm-new');
  await putBlob(fx, fresh, 'written after the restore point');
  return { fx, live, orphan, fresh, at };
}

function deletingAudit(fx: Fixture, dynamodb: DynamoDBClient) {
  return cliJson({ ...fx, dynamodb }, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
}

describe('an objects table restored from this store: what it cannot judge is never deleted', () => {
  test('a copy taken before a write: tierlog audit --delete keeps the blob written since, undecided, naming the restore', async () => {
    const { fx, live, orphan, fresh, at } = await copyTakenBeforeAWrite();
    const dynamodb = restoredAt(fx.config.objectsTable, at);
    try {
      const run = await deletingAudit(fx, dynamodb);
      expect(run.json.deleted).toBe(0);
      expect(run.json.undecided.map((u: { key: string }) => u.key).sort()).toEqual([fresh, orphan].sort());
      expect(run.json.undecided[0].reason).toContain(`is a copy restored from ${SOURCE} at ${new Date(at).toISOString()}`);
      expect(run.json.deleteRefused).toBeUndefined();
      expect(await prefixKeys(fx)).toEqual([orphan, live, fresh].sort());
    } finally {
      dynamodb.destroy();
    }
  });

  test('the same copy written since its restore point (the disaster-recovery case): shown live, the audit deletes as before', async () => {
    const { fx, live, orphan, fresh, at } = await copyTakenBeforeAWrite();
    const since = blobKey(fx, 'y-since');
    await putBlob(fx, since, 'written to the restored table');
    await putTombstone(fx, 'y-since', since);
    const dynamodb = restoredAt(fx.config.objectsTable, at);
    try {
      const run = await deletingAudit(fx, dynamodb);
      expect(run.json.undecided).toEqual([]);
      expect(run.json.deleted).toBe(2);
      const left = await prefixKeys(fx);
      expect(left).toEqual([live, since].sort());
      expect(left).not.toContain(orphan);
      expect(left).not.toContain(fresh);
    } finally {
      dynamodb.destroy();
    }
  });

  test('written since, shown live by a round of referenced blobs alone: the rounds after it judge by it, their orphans deleted', async () => {
    const { fx, live, orphan, fresh, at } = await copyTakenBeforeAWrite();
    // "A-since" lists first (its object segment "QS1...": before "YS1...", the orphan's), in a round of its own.
    const since = blobKey(fx, 'A-since');
    await putBlob(fx, since, 'written to the restored table');
    await putTombstone(fx, 'A-since', since);
    const dynamodb = restoredAt(fx.config.objectsTable, at);
    try {
      const report = await audit({
        config: fx.config,
        dynamodb,
        s3: fx.s3,
        clock: ahead,
        olderThanMs: 90 * 60_000,
        delete: true,
        pageSize: 1,
        checkBatch: 1,
      });
      expect(report.undecided).toEqual([]);
      expect(report.deleted).toBe(2);
      const left = await prefixKeys(fx);
      expect(left).toEqual([since, live].sort());
      expect(left).not.toContain(orphan);
      expect(left).not.toContain(fresh);
    } finally {
      dynamodb.destroy();
    }
  });

  test('DescribeTable refused: tierlog audit --delete deletes nothing, says why, exit 1', async () => {
    const { fx, live, orphan, fresh } = await copyTakenBeforeAWrite();
    const dynamodb = describeDenied();
    try {
      const run = await deletingAudit(fx, dynamodb);
      expect(run.code).toBe(1);
      expect(run.json.deleted).toBe(0);
      expect(run.json.deleteRefused).toMatch(/restored copy .*DescribeTable: .*access denied/is);
      expect(await prefixKeys(fx)).toEqual([orphan, live, fresh].sort());
    } finally {
      dynamodb.destroy();
    }
  });

  test('the snapshot re-verification through the copy keeps the blob written since (store-unbound, the restore named); refused DescribeTable keeps all', async () => {
    const { fx, live, orphan, fresh, at } = await copyTakenBeforeAWrite();
    const reverify = (dynamodb: DynamoDBClient) =>
      reverifyAndDelete(
        [orphan, fresh].map((key) => ({ key, lastModified: Date.now() - 2 * HOUR })),
        { config: fx.config, dynamodb, s3: fx.s3, now: ahead(), olderThanMs: HOUR, delete: true },
      );
    const denied = describeDenied();
    const restored = restoredAt(fx.config.objectsTable, at);
    try {
      const refused = await reverify(denied);
      expect(refused.deleted).toBe(0);
      expect(refused.kept.map((k) => k.reason)).toEqual(['store-unbound', 'store-unbound']);
      expect(refused.refusal).toMatch(/DescribeTable: .*access denied/is);
      const report = await reverify(restored);
      expect(report.deleted).toBe(0);
      expect(report.kept).toEqual(expect.arrayContaining([{ key: fresh, reason: 'store-unbound' }]));
      expect(report.refusal).toContain(`is a copy restored from ${SOURCE}`);
      expect(await prefixKeys(fx)).toEqual([orphan, live, fresh].sort());
    } finally {
      denied.destroy();
      restored.destroy();
    }
  });

  test('the rule: a copy not shown live judges only blobs from before its restore point less the commit window', () => {
    const at = Date.UTC(2026, 0, 10);
    const state = { kind: 'restored', at, source: SOURCE } as const;
    const old = at - RESTORE_COMMIT_WINDOW_MS - 1;
    expect(restoredCopyKeeps(state, false, { createdAt: old, lastModified: old }, 't')).toBeUndefined();
    expect(restoredCopyKeeps(state, false, { createdAt: old, lastModified: at - HOUR }, 't')).toMatch(/restored from/);
    expect(restoredCopyKeeps(state, false, { createdAt: at - HOUR, lastModified: old }, 't')).toMatch(/restored from/);
    expect(restoredCopyKeeps(state, true, { createdAt: at + HOUR, lastModified: at + HOUR }, 't')).toBeUndefined();
    expect(restoredCopyKeeps({ kind: 'original' }, false, { createdAt: at, lastModified: at }, 't')).toBeUndefined();
    expect(RESTORE_COMMIT_WINDOW_MS).toBe(8 * 24 * HOUR);
  });

  /**
   * An object that expired after the copy's restore point may have been read since in the store,
   * its time to idle moved on, and be live there pointing at the same blob: through the copy, its
   * item was removed and its blob deleted as "expired, not removed by TTL".
   */
  describe('objects the copy shows expired long ago', () => {
    /**
     * An object written 100 h ago (its blob's UUIDv7 then), 22 h to live: expired 78 h ago, past
     * TTL's lag and the stream's retention. A copy restored between its write and its expiry held
     * it live; one restored after its expiry, expired. Written straight to the table and the bucket.
     */
    async function expiredLongAgo(): Promise<{ fx: Fixture; blob: string; expiresAt: number }> {
      const fx = await freshFixture();
      const written = Date.now() - 100 * HOUR;
      const expiresAt = written + 22 * HOUR;
      const blob = blobKey(fx, 'exp/old', written);
      await putBlob(fx, blob);
      await putTombstone(fx, 'exp/old', blob);
      await fx.dynamodb.send(
        new UpdateItemCommand({
          TableName: fx.config.objectsTable,
          Key: { key: { S: 'exp/old' } },
          UpdateExpression: 'SET expiresAt = :e',
          ExpressionAttributeValues: { ':e': { N: String(Math.floor(expiresAt / 1_000)) } },
        }),
      );
      return { fx, blob, expiresAt };
    }

    test('expired after the restore point: tierlog audit --delete keeps its item and blob, undecided, naming the restore', async () => {
      const { fx, blob, expiresAt } = await expiredLongAgo();
      const dynamodb = restoredAt(fx.config.objectsTable, expiresAt - 12 * HOUR);
      try {
        const run = await deletingAudit(fx, dynamodb);
        expect(run.json.expiredRemoved).toBe(0);
        expect(run.json.deleted).toBe(0);
        expect(run.json.undecided).toEqual([
          expect.objectContaining({ key: blob, reason: expect.stringMatching(/expired after that point/) }),
        ]);
        expect(await prefixKeys(fx)).toEqual([blob]);
        expect(await scanAll(fx.dynamodb, fx.config.objectsTable)).toHaveLength(1);
      } finally {
        dynamodb.destroy();
      }
    });

    test('expired before the restore point: the copy knows it as the store does, removed and deleted as before', async () => {
      const { fx, blob, expiresAt } = await expiredLongAgo();
      const dynamodb = restoredAt(fx.config.objectsTable, expiresAt + 2 * HOUR);
      try {
        const run = await deletingAudit(fx, dynamodb);
        expect(run.json.undecided).toEqual([]);
        expect(run.json.expiredRemoved).toBe(1);
        expect(await prefixKeys(fx)).not.toContain(blob);
      } finally {
        dynamodb.destroy();
      }
    });

    test('restored after its expiry, beside a blob written since that the copy cannot judge: the report without --delete sends to --delete, which removes it and keeps the other', async () => {
      const { fx, blob, expiresAt } = await expiredLongAgo();
      // Written after the restore point, its item only in the store: undecided, which refuses nothing.
      const fresh = blobKey(fx, 'm-new');
      await putBlob(fx, fresh, 'written after the restore point');
      const dynamodb = restoredAt(fx.config.objectsTable, expiresAt + 2 * HOUR);
      try {
        const report = await cli({ ...fx, dynamodb }, ['audit', '--older-than', '90m'], { clock: ahead });
        expect(report.out).toContain('1 undecided');
        // Before, it said "--delete would refuse every delete while blobs are undecided".
        expect(report.out).toContain('nothing deleted: run with --delete to delete the orphans and the blobs of expired objects');
        expect(report.out).not.toContain('would refuse');
        const run = await deletingAudit(fx, dynamodb);
        expect(run.json.deleteRefused).toBeUndefined();
        expect(run.json.expiredRemoved).toBe(1);
        expect(run.json.undecided.map((u: { key: string }) => u.key)).toEqual([fresh]);
        expect(await prefixKeys(fx)).toEqual([fresh]);
      } finally {
        dynamodb.destroy();
      }
    });

    test('the snapshot re-verification through the copy keeps it (store-unbound, the restore named); refused DescribeTable keeps it too', async () => {
      const { fx, blob, expiresAt } = await expiredLongAgo();
      const reverify = (dynamodb: DynamoDBClient) =>
        reverifyExpired([{ key: blob, objectKey: 'exp/old' }], {
          config: fx.config,
          dynamodb,
          s3: fx.s3,
          now: ahead(),
          olderThanMs: HOUR,
          delete: true,
        });
      const restored = restoredAt(fx.config.objectsTable, expiresAt - 12 * HOUR);
      const denied = describeDenied();
      try {
        const kept = await reverify(restored);
        expect(kept.removed).toBe(0);
        expect(kept.kept).toEqual([{ key: blob, objectKey: 'exp/old', reason: 'store-unbound' }]);
        expect(kept.refusal).toContain(`is a copy restored from ${SOURCE}`);
        const refused = await reverify(denied);
        expect(refused.kept).toEqual([{ key: blob, objectKey: 'exp/old', reason: 'store-unbound' }]);
        expect(refused.refusal).toMatch(/DescribeTable: .*access denied/is);
        expect(await prefixKeys(fx)).toEqual([blob]);
        expect(await scanAll(fx.dynamodb, fx.config.objectsTable)).toHaveLength(1);
      } finally {
        restored.destroy();
        denied.destroy();
      }
    });

    test("through a restored table written since (disaster recovery), shown live by the orphans' phase: the expired objects' phase, sharing its check, removes as before", async () => {
      const { fx, blob, expiresAt } = await expiredLongAgo();
      // An object overwritten since the restore point: its old blob the orphan proposed, its item
      // pointing at the blob that replaced it, written after the restore point.
      const old = blobKey(fx, 'o', Date.now() - 3 * HOUR);
      const replacement = blobKey(fx, 'o');
      await putBlob(fx, old);
      await putBlob(fx, replacement);
      await putTombstone(fx, 'o', replacement);
      const dynamodb = restoredAt(fx.config.objectsTable, expiresAt - 12 * HOUR);
      const restoredCopy = RestoredCopyCheck.shared(dynamodb, fx.config.objectsTable, liveStoreOf(fx.config, { dynamodb, s3: fx.s3 }).lt);
      const options = { config: fx.config, dynamodb, s3: fx.s3, now: ahead(), olderThanMs: HOUR, delete: true, restoredCopy };
      try {
        const orphans = await reverifyAndDelete([{ key: old, lastModified: Date.now() - 2 * HOUR }], options);
        expect(orphans.deleted).toBe(1);
        const expired = await reverifyExpired([{ key: blob, objectKey: 'exp/old' }], options);
        expect(expired.kept).toEqual([]);
        expect(expired.removed).toBe(1);
        expect(await prefixKeys(fx)).toEqual([replacement]);
      } finally {
        dynamodb.destroy();
      }
    });

    test('the rule: kept when it expired after the restore point less the expiry margin, or the table is not known', () => {
      const at = Date.UTC(2026, 0, 10);
      const state = { kind: 'restored', at, source: SOURCE } as const;
      expect(restoredCopyKeepsExpired(state, false, at - 2 * HOUR, 't')).toBeUndefined();
      expect(restoredCopyKeepsExpired(state, false, at - HOUR / 2, 't')).toMatch(/expired after that point/);
      expect(restoredCopyKeepsExpired(state, true, at + HOUR, 't')).toBeUndefined();
      expect(restoredCopyKeepsExpired({ kind: 'unknown', reason: 'r' }, false, at - 100 * HOUR, 't')).toBe('r');
    });
  });
});
