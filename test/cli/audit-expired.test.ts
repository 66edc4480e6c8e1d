/**
 * The audit's backstop for expiry, against the real local servers: a large object that expired
 * longer ago than TTL's lag plus the stream's retention still points at its blob (TTL never
 * removed it). `tierlog audit` names it "expired, not removed by TTL", with what the objects
 * table's TTL says of the cause; one whose cleanup is still due, a live expiring object and a
 * permanent one are not named. With `--delete` the audit removes the expired item as TTL would, then deletes its blob;
 * an object overwritten between the check and the removal (no longer the expired state read)
 * is never touched, nor is a live object when the audit's clock runs far ahead of S3's.
 */
import { type DynamoDBClient, UpdateItemCommand, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { auditFindingsLeft, runAudit } from '../../lib/cli/audit.js';
import { AuditIncompleteError } from '../../lib/recovery/audit.js';
import type { CliContext } from '../../lib/cli/common.js';
import { AccessDeniedError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { HvTable } from '../../lib/tiered/hv-table.js';
import { type Fixture, freshFixture, prefixKeys, scanAll } from '../support/local.js';
import { makeWriter, randomBody } from '../tiered/harness.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { StreamReader } from '../support/stream.js';
import { capture, cli, cliJson, HOUR, putTombstone, withServerClock } from './helpers.js';

const KiB = 1024;
/** The audit runs 2 h ahead, so blobs written now are old enough for --older-than 1h. */
const ahead = () => Date.now() + 2 * HOUR;

interface Scene {
  readonly fx: Fixture;
  /** Blob of each object, by key. */
  readonly blobs: Map<string, string>;
}

/** Objects written by writers whose clocks run behind: expired long ago, recently, not yet, never. */
/** A DynamoDB client whose removals of objects items (DeleteItem on `fx`'s objects table) fail with `error()`. */
function removalsFailing(fx: Fixture, error: () => Error): DynamoDBClient {
  const dynamodb = createDynamoDBClient();
  new FaultInjector()
    .add({ kind: 'fail', match: (r) => r.command === 'DeleteItemCommand' && r.input.TableName === fx.config.objectsTable, error })
    .attach(dynamodb, 'dynamodb');
  return dynamodb;
}

async function scene(): Promise<Scene> {
  const fx = await freshFixture();
  const at = async (offsetMs: number, key: string, policy: { timeToLiveMs?: number }) => {
    const w = makeWriter(fx, { store: { clock: () => Date.now() + offsetMs } });
    try {
      await w.store.put(key, randomBody(20 * KiB), policy);
    } finally {
      w.close();
    }
  };
  await at(-80 * HOUR, 'exp/lost', { timeToLiveMs: HOUR }); // expired ~81 h before the audit: past 48 h + 24 h + 1 h
  await at(-80 * HOUR, 'exp/lost-too', { timeToLiveMs: HOUR });
  await at(-10 * HOUR, 'exp/pending', { timeToLiveMs: HOUR }); // expired ~11 h before: TTL and the stream may still come
  await at(0, 'exp/live', { timeToLiveMs: 100 * HOUR });
  await at(0, 'perm', {});
  const items = await scanAll(fx.dynamodb, fx.config.objectsTable);
  const blobs = new Map(items.map((i) => [String(i.key), String(i.blob)]));
  return { fx, blobs };
}

function ctxOf(fx: Fixture, overrides: Partial<CliContext> = {}): CliContext {
  return { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: ahead, io: capture().io, env: {}, ...overrides };
}

async function allBlobs(fx: Fixture): Promise<string[]> {
  return (await prefixKeys(fx)).sort();
}

describe('audit: blobs of expired objects', () => {
  test('names the blobs of objects expired past every window "expired, not removed by TTL" (no stream event was made: the items are there), and deletes nothing', async () => {
    const s = await scene();
    const before = await allBlobs(s.fx);
    const run = await cliJson(s.fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.json.expired.map((e: { key: string }) => e.key).sort()).toEqual(
      [s.blobs.get('exp/lost'), s.blobs.get('exp/lost-too')].sort(),
    );
    expect(run.json.expired[0].reason).toMatch(/^expired, not removed by TTL: .*DynamoDB TTL has not removed it/);
    expect(run.json).toMatchObject({ referenced: 5, expiredPending: 1, expiredRemoved: 0, orphans: [], deleted: 0 });
    expect(await allBlobs(s.fx)).toEqual(before);

    const text = await cli(s.fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(text.out).toContain('2 of expired objects (not removed by TTL)');
    expect(text.out).toContain('expired, not removed by TTL: ');
    expect(text.out).toContain('on another attribute than the expiry attribute');
    expect(text.out).not.toContain('stream event lost');
    expect(text.out).not.toContain('the stream consumer lost the event');
    expect(text.out).toContain(s.blobs.get('exp/lost')!);
    expect(text.out).toContain('run with --delete to delete the orphans and the blobs of expired objects');
  });

  test("names the objects table's TTL with the finding: off, on another attribute, or not readable; read only when there is a finding", async () => {
    const s = await scene();
    const table = s.fx.config.objectsTable;
    // The local tables are made without TTL, as an imported table may be on AWS.
    const off = await cliJson(s.fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(off.json.objectsTableTtl).toEqual({
      status: 'DISABLED',
      attribute: null,
      expiryAttribute: 'expiresAt',
      diagnosis: expect.stringMatching(new RegExp(`^TTL is off on ${table}: .*AttributeName=expiresAt$`)),
    });
    const text = await cli(s.fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(text.out).toContain(`  the objects table's TTL: TTL is off on ${table}: it removes no expired object`);
    // On another attribute than the writers' (TIERLOG_HV_ATTRIBUTES): named, with the one to set.
    await s.fx.dynamodb.send(
      new UpdateTimeToLiveCommand({ TableName: table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' } }),
    );
    const other = await cliJson(s.fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(other.json.objectsTableTtl).toMatchObject({ status: 'ENABLED', attribute: 'ttl' });
    expect(other.json.objectsTableTtl.diagnosis).toMatch(/^TTL reads "ttl" on .*, not "expiresAt", where the writers set the expiry/);
    // A role without dynamodb:DescribeTimeToLive: said, and the report stands (exit 0, the findings in it).
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DescribeTimeToLiveCommand',
        error: () => awsServiceError('AccessDeniedException', 400),
      })
      .attach(dynamodb, 'dynamodb');
    try {
      const denied = await cliJson({ ...s.fx, dynamodb }, ['audit', '--older-than', '1h'], { clock: ahead });
      expect(denied.code).toBe(0);
      expect(denied.json.expired).toHaveLength(2);
      expect(denied.json.objectsTableTtl).toEqual({
        error: expect.stringMatching(/could not be read \(AccessDeniedException: .*dynamodb:DescribeTimeToLive\)$/),
      });
    } finally {
      dynamodb.destroy();
    }
    // Without a finding, no field and no request: nothing to explain.
    const clean = await freshFixture();
    const none = await cliJson(clean, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(none.json).not.toHaveProperty('objectsTableTtl');
  });

  test.each([
    ['throttled past the retries', 'ThrottlingException', 400],
    ['the table gone since', 'ResourceNotFoundException', 400],
    ['credentials expired', 'ExpiredTokenException', 400],
  ])(
    'a TTL read that fails for another reason than the grant (%s): said with its cause, naming no permission to add',
    async (_why, name, status) => {
      const s = await scene();
      const dynamodb = createDynamoDBClient();
      new FaultInjector()
        .add({ kind: 'fail', match: (r) => r.command === 'DescribeTimeToLiveCommand', error: () => awsServiceError(name, status) })
        .attach(dynamodb, 'dynamodb');
      try {
        const run = await cliJson({ ...s.fx, dynamodb }, ['audit', '--older-than', '1h'], { clock: ahead });
        expect(run.code).toBe(0);
        expect(run.json.expired).toHaveLength(2);
        // Before, every failure ended "; dynamodb:DescribeTimeToLive)", sending the operator to a grant the role has.
        expect(run.json.objectsTableTtl).toEqual({
          error: `the TTL of ${s.fx.config.objectsTable} could not be read (${name}: injected: ${name})`,
        });
      } finally {
        dynamodb.destroy();
      }
    },
  );

  test('--delete removes the expired items as TTL would, then their blobs; everything else stays', async () => {
    const s = await scene();
    const run = await cliJson(s.fx, ['audit', '--older-than', '1h', '--delete'], { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ expiredRemoved: 2, deleted: 2, keptOnRecheck: [], deleteFailures: [] });
    const keys = (await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key)).sort();
    expect(keys).toEqual(['exp/live', 'exp/pending', 'perm']);
    expect(await allBlobs(s.fx)).toEqual([s.blobs.get('exp/pending'), s.blobs.get('exp/live'), s.blobs.get('perm')].sort());
    // Nothing left to do.
    const again = await cliJson(s.fx, ['audit', '--older-than', '1h', '--delete'], { clock: ahead });
    expect(again.json).toMatchObject({ expired: [], orphans: [], deleted: 0 });
    // `audit --help` says so: --delete removes objects-table items too, not only blobs of orphans.
    const help = await cli(s.fx, ['audit', '--help']);
    expect(help.code).toBe(0);
    const option = /--delete\s+([\s\S]*?)\n\s+--/.exec(help.out)![1]!.replace(/\s+/g, ' ');
    expect(option).toContain('removes the items of objects expired');
    expect(option).toContain('from the objects table, as TTL would');
    expect(option).toContain('then deletes their blobs');
  });

  test("--delete keeps the item of an expired object whose blob another object's item points at (copied to rename it): its removal had the stream function delete that blob", async () => {
    // The re-check kept the blob (referenced by the copy), but the item was removed first: a REMOVE
    // on the objects table's stream, whose function reads the removed item's key alone and deleted
    // the blob the renamed object still points at.
    const s = await scene();
    const shared = s.blobs.get('exp/lost')!;
    await putTombstone(s.fx, 'renamed', shared);
    const reader = await StreamReader.open(s.fx.dynamodb, s.fx.config.objectsTable, 'OLD_IMAGE');
    try {
      const run = await cliJson(s.fx, ['audit', '--older-than', '1h', '--delete'], { clock: ahead });
      expect(run.code).toBe(0);
      // The objects-stream function, as the deployment runs it, on what the audit did to the table.
      const cleanup = new StreamCleanup({ config: s.fx.config, dynamodb: s.fx.dynamodb, s3: s.fx.s3 });
      await cleanup.handle(await reader.read());
      expect(await allBlobs(s.fx), "the renamed object's blob").toContain(shared);
      expect(await allBlobs(s.fx)).not.toContain(s.blobs.get('exp/lost-too'));
      expect(run.json).toMatchObject({ expiredRemoved: 1, deleted: 1, keptOnRecheck: [shared], deleteFailures: [] });
      const keys = (await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key)).sort();
      expect(keys).toEqual(['exp/live', 'exp/lost', 'exp/pending', 'perm', 'renamed']);
    } finally {
      reader.close();
    }
  });

  test("--delete --exit-code: the expired object whose blob another object's item points at, left with its item, is a finding left (exit 3), run after run", async () => {
    const s = await scene();
    const shared = s.blobs.get('exp/lost')!;
    await putTombstone(s.fx, 'renamed', shared);
    for (let run = 0; run < 2; run++) {
      const audit = await cliJson(s.fx, ['audit', '--older-than', '1h', '--delete', '--exit-code'], { clock: ahead });
      // Before, 0: as if it had deleted it, though its item and blob stay and every run finds them.
      expect(audit.code, `run ${run}`).toBe(3);
      expect(audit.json.expired.map((e: { key: string }) => e.key)).toContain(shared);
      expect(audit.json.keptOnRecheck).toEqual([shared]);
      // That one alone: the expired object the first run removed and deleted is no finding left.
      expect(auditFindingsLeft(audit.json)).toBe(1);
    }
  });

  test("--delete: a removal whose answer is lost (the SDK's retry fails its condition: the item is gone) still deletes the blob", async () => {
    const s = await scene();
    const dynamodb = createDynamoDBClient();
    // The first removal lands, its answer is lost; the SDK sends it again and the condition fails.
    new FaultInjector()
      .add({
        kind: 'loseResponse',
        times: 1,
        match: (r) => r.command === 'DeleteItemCommand' && r.input.TableName === s.fx.config.objectsTable,
      })
      .attach(dynamodb, 'dynamodb');
    try {
      const report = await runAudit(ctxOf(s.fx, { dynamodb }), { olderThanMs: HOUR, delete: true });
      // Not "kept on recheck": the item no longer points at the blob, which nothing else references.
      expect(report).toMatchObject({ deleted: 2, keptOnRecheck: [], deleteFailures: [] });
      expect(report.expiredRemoved, 'only the removals an answer confirmed').toBe(1);
    } finally {
      dynamodb.destroy();
    }
    const keys = (await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key)).sort();
    expect(keys).toEqual(['exp/live', 'exp/pending', 'perm']);
    expect(await allBlobs(s.fx)).toEqual([s.blobs.get('exp/pending'), s.blobs.get('exp/live'), s.blobs.get('perm')].sort());
  });

  test('--delete: a removal refused (the role lacks dynamodb:DeleteItem) fails the audit as AccessDeniedError, not "kept on recheck"; nothing deleted', async () => {
    const s = await scene();
    const before = await allBlobs(s.fx);
    const dynamodb = removalsFailing(s.fx, () =>
      awsServiceError('AccessDeniedException', 400, 'not authorized to perform: dynamodb:DeleteItem'),
    );
    try {
      await expect(runAudit(ctxOf(s.fx, { dynamodb }), { olderThanMs: HOUR, delete: true })).rejects.toBeInstanceOf(AccessDeniedError);
    } finally {
      dynamodb.destroy();
    }
    expect(await allBlobs(s.fx)).toEqual(before);
  });

  test('--delete: a removal refused once for a transaction holding the item (TransactionConflictException, which the SDK does not retry) is sent again: the run goes on, not stopped with the conflict', async () => {
    const s = await scene();
    const dynamodb = createDynamoDBClient();
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: (r) => r.command === 'DeleteItemCommand' && r.input.TableName === s.fx.config.objectsTable,
      error: () => awsServiceError('TransactionConflictException', 400, 'Transaction is ongoing for the item'),
    });
    injector.attach(dynamodb, 'dynamodb');
    try {
      const report = await runAudit(ctxOf(s.fx, { dynamodb }), { olderThanMs: HOUR, delete: true });
      expect(injector.stats.injected.fail, 'the conflict was met').toBe(1);
      expect(report).toMatchObject({ expiredRemoved: 2, deleted: 2, deleteUnknown: [], expiredRemoveUnknown: [] });
    } finally {
      dynamodb.destroy();
    }
    const left = (await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key)).sort();
    expect(left).toEqual(['exp/live', 'exp/pending', 'perm']);
    expect(await allBlobs(s.fx)).toEqual(['exp/live', 'exp/pending', 'perm'].map((k) => s.blobs.get(k)!).sort());
  });

  test('--delete: a removal DynamoDB never answered (500 after the retries), the first change of the run: the report names the object whose item may be gone (exit 1), not a bare error', async () => {
    const s = await scene();
    const before = await allBlobs(s.fx);
    const dynamodb = removalsFailing(s.fx, () => awsServiceError('InternalServerError', 500, 'Internal server error'));
    let err: unknown;
    try {
      err = await runAudit(ctxOf(s.fx, { dynamodb }), { olderThanMs: HOUR, delete: true }).then(
        () => undefined,
        (e: unknown) => e,
      );
    } finally {
      dynamodb.destroy();
    }
    expect(err).toBeInstanceOf(AuditIncompleteError);
    const report = (err as AuditIncompleteError).report;
    expect(report).toMatchObject({ expiredRemoved: 0, deleted: 0, deleteUnknown: [] });
    expect(report.expiredRemoveUnknown).toHaveLength(1);
    expect(['exp/lost', 'exp/lost-too']).toContain(report.expiredRemoveUnknown[0]);
    expect((err as Error).message).toMatch(/1 expired item removals of unknown outcome/);
    expect(await allBlobs(s.fx)).toEqual(before);
  });

  test('an expiry before the first instant a Date holds (an item of another writer): reported and removed, not a RangeError', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    try {
      await w.store.put('exp/ancient', randomBody(20 * KiB), { timeToLiveMs: HOUR });
    } finally {
      w.close();
    }
    const [item] = await scanAll(fx.dynamodb, fx.config.objectsTable);
    // -10^13 seconds: before -271821-04-20, the earliest instant a Date holds.
    await fx.dynamodb.send(
      new UpdateItemCommand({
        TableName: fx.config.objectsTable,
        Key: { key: { S: 'exp/ancient' } },
        UpdateExpression: 'SET expiresAt = :e',
        ExpressionAttributeValues: { ':e': { N: '-10000000000000' } },
      }),
    );
    const run = await cliJson(fx, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.json.expired.map((e: { key: string }) => e.key)).toEqual([item!.blob]);
    const removed = await cliJson(fx, ['audit', '--older-than', '1h', '--delete'], { clock: ahead });
    expect(removed.code).toBe(0);
    expect(removed.json).toMatchObject({ expiredRemoved: 1 });
    expect(await allBlobs(fx)).toEqual([]);
  });

  test('an operator clock a year ahead (S3 says otherwise) takes no live object for an expired one', async () => {
    const s = await scene();
    const yearAhead = () => Date.now() + 365 * 24 * HOUR;
    const run = await cliJson(s.fx, ['audit', '--older-than', '1h', '--delete'], { clock: yearAhead });
    expect(run.code).toBe(0);
    // By S3's clock only the two long-expired objects are past every window.
    expect(run.json).toMatchObject({ expiredRemoved: 2, expiredPending: 1, deleted: 2 });
    const keys = (await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key)).sort();
    expect(keys).toEqual(['exp/live', 'exp/pending', 'perm']);
    expect(await allBlobs(s.fx)).toEqual([s.blobs.get('exp/pending'), s.blobs.get('exp/live'), s.blobs.get('perm')].sort());
  });

  test("S3's clock a year behind the audit's (as the SDK measures it from the Date header): every blob young on it, nothing judged expired or removed", async () => {
    const s = await scene();
    // This machine's clock a year ahead of S3's, seen from here: S3's Date header says a year ago.
    const s3 = withServerClock(createS3Client(), -365 * 24 * HOUR);
    try {
      const report = await runAudit(ctxOf(s.fx, { s3 }), { olderThanMs: HOUR, delete: true });
      // By S3's clock every blob was written a year from now: young, not even checked (the safety
      // age is judged on S3's clock too), and no expiry judged.
      expect(report).toMatchObject({ young: 5, referenced: 0, expired: [], expiredRemoved: 0, expiredPending: 0 });
      expect((await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).map((i) => String(i.key)).sort()).toEqual([
        'exp/live',
        'exp/lost',
        'exp/lost-too',
        'exp/pending',
        'perm',
      ]);
    } finally {
      s3.destroy();
    }
  });

  /**
   * `HvTable.removeExpired`, the one delete of an objects item, stands on its own condition: the
   * item exactly as read (blob, version, expiry) and expired at the instant given. The audit
   * calls it only for what it judged expired; a caller that judged wrong (another clock, a stale
   * read) must not remove a live object, whose blob would then be deleted as an orphan.
   */
  test.each([
    ['not yet expired at the instant given', (e: number) => ({ at: e * 1000 - 1, version: 0 })],
    ['at another version', (e: number) => ({ at: e * 1000, version: 1 })],
  ])('removeExpired refuses an item %s, and keeps it', async (_label, refOf) => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    const hv = new HvTable(fx.config.objectsTable, fx.dynamodb);
    try {
      const put = await w.store.put('exp/soon', randomBody(20 * KiB), { timeToLiveMs: HOUR });
      const [item] = await scanAll(fx.dynamodb, fx.config.objectsTable);
      const e = Number(item!.expiresAt);
      const { at, version } = refOf(e);
      const ref = { blob: String(item!.blob), version: put.version + version, expiresAtSeconds: e };
      expect(await hv.removeExpired('exp/soon', ref, at)).toBe(false);
      expect(await scanAll(fx.dynamodb, fx.config.objectsTable)).toEqual([item]);
      // The same item, exactly as read and expired at the instant given, is removed.
      expect(await hv.removeExpired('exp/soon', { ...ref, version: put.version }, e * 1000)).toBe(true);
      expect(await scanAll(fx.dynamodb, fx.config.objectsTable)).toEqual([]);
    } finally {
      w.close();
    }
  });

  test('an expired object overwritten between the check and the removal is kept: its new blob is never touched', async () => {
    const s = await scene();
    const writer = makeWriter(s.fx);
    const body = randomBody(20 * KiB);
    // A client whose removal of "exp/lost" is preceded by a new write of that key.
    const dynamodb: DynamoDBClient = createDynamoDBClient();
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteItemCommand' && JSON.stringify(args.input).includes('exp/lost"')) {
          await writer.store.put('exp/lost', body);
        }
        return next(args);
      },
      { step: 'initialize', name: 'testOverwrite' },
    );
    try {
      const report = await runAudit(ctxOf(s.fx, { dynamodb }), { olderThanMs: HOUR, delete: true });
      expect(report.expired).toHaveLength(2);
      expect(report.expiredRemoved).toBe(1);
      expect(report.keptOnRecheck).toEqual([s.blobs.get('exp/lost')]);
      expect((await writer.store.get('exp/lost'))?.body).toEqual(body);
      const item = (await scanAll(s.fx.dynamodb, s.fx.config.objectsTable)).find((i) => i.key === 'exp/lost');
      expect(await allBlobs(s.fx)).toContain(String(item!.blob));
    } finally {
      dynamodb.destroy();
      writer.close();
    }
  });
});
