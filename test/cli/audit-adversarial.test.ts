/**
 * The listing audit (`tierlog audit` without `--inventory`) given inputs it cannot trust, checked
 * from outside (the bucket listed, the report read) against the local stack:
 *
 *  - objects-table attribute names that are not the writers', or the objects table of another
 *    store, or an empty one: a blob HV seems not to point at is not called an orphan unless the
 *    audit understands the item and the table shows itself this bucket's store. Report-only runs
 *    judge as `--delete` runs do: such a blob is `undecided` (never deleted, a finding for
 *    `--exit-code`); with `--delete`, every delete of the run is refused (exit 1);
 *  - a sample of the objects table the caller may not read (a read-only role): undecided, not a
 *    stopped run and not a guess;
 *  - a clock that does not read ms since the epoch (seconds, NaN): refused before any request,
 *    not an audit that checks nothing and reports clean;
 *  - a ListObjectsV2 answer that repeats keys, is out of order, or says it is truncated without
 *    saying where to go on: the audit stops (`ListingError`), rather than count and delete a key
 *    twice or report clean on half a listing;
 *  - batch sizes that are not whole numbers of at least 1 (a delete batch of NaN deleted nothing
 *    and reported the run done) and a safety age reaching back before 2000: refused;
 *  - a LastModified that is no time (young, not a RangeError); a refusal after earlier rounds
 *    deleted (the text says how many went); an expired object's item read without a numeric
 *    version (undecided, deletes refused, not exit 0 with its blob left).
 *
 * Checked and found correct (kept as regression tests): a writer re-creating an expired key right
 * after the audit removed its item, and the pre-delete re-check failing as throttled, with expired
 * credentials, on a missing table or denied: the audit stops with what S3 confirmed, counted once.
 */
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { ListingError, TierlogError, ValidationError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { formatAudit } from '../../lib/cli/audit.js';
import { AuditIncompleteError, type AuditOptions, audit } from '../../lib/recovery/audit.js';
import { emptyTable, type Fixture, freshFixture, listKeys, prefixKeys } from '../support/local.js';
import { KiB, makeWriter, randomBody } from '../tiered/harness.js';
import {
  blobKey,
  cli,
  cliJson,
  HOUR,
  otherStoresTable,
  putBlob,
  putOrphans,
  putTombstone,
  storeWithOrphan,
  withServerClock,
  withTable,
} from './helpers.js';

const OLD = Date.now() - 3 * HOUR;
const ahead = () => Date.now() + 2 * HOUR;
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

const keysOf = (list: ReadonlyArray<{ key: string }>) => list.map((x) => x.key).sort();

/** A deleting audit of `fx`'s store through `dynamodb`, each batch it deletes recorded in `deletes`. */
function deletingAudit(fx: Fixture, dynamodb: DynamoDBClient, deletes: string[], extra: Partial<AuditOptions> = {}) {
  return audit({
    config: fx.config,
    dynamodb,
    s3: fx.s3,
    clock: ahead,
    olderThanMs: HOUR,
    delete: true,
    emptyStoreOk: true,
    beforeDelete: (batch) => void deletes.push(...batch),
    ...extra,
  });
}

/** A store written under other attribute names (`ptr`, `data`, `ver`): one live large object, one old orphan. */
async function renamedStore(): Promise<{ fx: Fixture; plain: Fixture['config']; live: string; orphan: string }> {
  const fx = await freshFixture({ hvAttributes: { blob: 'ptr', body: 'data', version: 'ver' } });
  const w = makeWriter(fx);
  try {
    await w.store.put('large', randomBody(20 * KiB));
  } finally {
    w.close();
  }
  const [live] = await prefixKeys(fx);
  const orphan = blobKey(fx, 'gone', OLD);
  await putBlob(fx, orphan);
  const { hvAttributes: _names, ...plain } = fx.config;
  return { fx, plain, live: live!, orphan };
}

describe('report-only and --delete runs judge an objects table they cannot trust alike', () => {
  test.each([[[]], [['--delete']]])(
    "attribute names not the writers' (%j): the live blob is undecided, not an orphan; so is the blob with no item (no pointer binds the table, whose items are not understood)",
    async (extra) => {
      const { fx, plain, live, orphan } = await renamedStore();
      const run = await cliJson({ ...fx, config: plain }, ['audit', '--older-than', '1h', ...extra], { clock: ahead });
      expect(run.json.orphans).toEqual([]);
      expect(run.json.undecided).toEqual([
        expect.objectContaining({ key: live, objectId: 'large', reason: expect.stringContaining('TIERLOG_HV_ATTRIBUTES') }),
        expect.objectContaining({
          key: orphan,
          objectId: 'gone',
          reason: expect.stringMatching(/has none of the attributes the configuration names/),
        }),
      ]);
      expect(run.json.deleted).toBe(0);
      if (extra.length > 0) {
        expect(run.code).toBe(1);
        expect(run.json.deleteRefused).toContain('TIERLOG_HV_ATTRIBUTES');
      } else {
        expect(run.code).toBe(0);
        const flagged = await cli({ ...fx, config: plain }, ['audit', '--older-than', '1h', '--exit-code'], { clock: ahead });
        expect(flagged.code).toBe(3);
        expect(flagged.out).toContain('2 undecided');
        expect(flagged.out).toContain(`  ${live}`);
        expect(flagged.out).not.toMatch(new RegExp(`^orphans:[^]*${live}`, 'm'));
      }
      expect((await prefixKeys(fx)).sort()).toEqual([live, orphan].sort());
    },
  );

  test.each([false, true])(
    'an item of another shape among understood ones (delete %s): its blob is undecided, the orphan beside it is one',
    async (del) => {
      const { fx, live, orphan } = await storeWithOrphan(OLD);
      // Written by something else: its blob attribute is not a string.
      const odd = blobKey(fx, 'odd', OLD);
      await putBlob(fx, odd);
      await fx.dynamodb.send(
        new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall({ key: 'odd', version: 1, blob: { key: odd } }) }),
      );
      const report = await audit({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: ahead, olderThanMs: HOUR, delete: del });
      expect(report.referenced).toBe(1);
      expect(report.undecided).toEqual([
        expect.objectContaining({ key: odd, objectId: 'odd', reason: expect.stringContaining('TIERLOG_HV_ATTRIBUTES') }),
      ]);
      expect(keysOf(report.orphans)).toEqual([orphan]);
      if (del) expect(report).toMatchObject({ deleted: 0, deleteRefused: expect.stringContaining('TIERLOG_HV_ATTRIBUTES') });
      expect(await prefixKeys(fx)).toEqual([live, odd, orphan].sort());
    },
  );

  test("another store's objects table, report only: no blob is called an orphan; each is undecided with why", async () => {
    const { fx, live, orphan } = await storeWithOrphan(OLD);
    const wrong = withTable(fx, await otherStoresTable());
    const run = await cliJson(wrong, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.json.orphans).toEqual([]);
    expect(keysOf(run.json.undecided)).toEqual([live, orphan].sort());
    for (const u of run.json.undecided) expect(u.reason).toMatch(/points at blobs that are not in s3:\/\//);
    expect((await cli(wrong, ['audit', '--older-than', '90m', '--exit-code'], { clock: ahead })).code).toBe(3);
    // The right table: the live blob binds it, the orphan is one.
    const right = await cliJson(fx, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(right.json).toMatchObject({ referenced: 1, undecided: [] });
    expect(keysOf(right.json.orphans)).toEqual([orphan]);
    expect(await prefixKeys(fx)).toEqual([live, orphan].sort());
  });

  test('an empty objects table, report only: undecided, unless the library is told the store holds no large object', async () => {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'a-orphan', OLD);
    await putBlob(fx, orphan);
    const empty = withTable(fx, await emptyTable(fx));
    const run = await cliJson(empty, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(run.json.orphans).toEqual([]);
    expect(run.json.undecided).toEqual([expect.objectContaining({ key: orphan, reason: expect.stringMatching(/points at no blob/) })]);
    const stated = await audit({
      config: empty.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      clock: ahead,
      olderThanMs: HOUR,
      emptyStoreOk: true,
    });
    expect(keysOf(stated.orphans)).toEqual([orphan]);
    expect(stated.undecided).toEqual([]);
    expect(await prefixKeys(fx)).toEqual([orphan]);
  });

  /** An old orphan, and a DynamoDB client whose Scan of the objects table (the store binding's sample) is refused with `name`. */
  async function orphanWithSampleRefused(name: string, message: string) {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'a-orphan', OLD);
    await putBlob(fx, orphan);
    const dynamodb = createDynamoDBClient();
    closers.push(() => dynamodb.destroy());
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'ScanCommand' && JSON.stringify(r.input).includes(fx.config.objectsTable),
        error: () => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } }),
      })
      .attach(dynamodb, 'dynamodb');
    return { fx, orphan, dynamodb };
  }

  test.each([false, true])(
    'the sample of the objects table refused (a read-only role, delete %s): undecided and reported, never a guess',
    async (del) => {
      const { fx, orphan, dynamodb } = await orphanWithSampleRefused(
        'AccessDeniedException',
        'User is not authorized to perform: dynamodb:Scan',
      );
      const report = await audit({
        config: fx.config,
        dynamodb,
        s3: fx.s3,
        clock: ahead,
        olderThanMs: HOUR,
        delete: del,
        emptyStoreOk: true,
      });
      expect(report.orphans).toEqual([]);
      expect(report.undecided).toEqual([expect.objectContaining({ key: orphan, reason: expect.stringMatching(/access denied: Scan/) })]);
      expect(report.deleted).toBe(0);
      if (del) expect(report.deleteRefused).toMatch(/access denied: Scan/);
      expect(await prefixKeys(fx)).toEqual([orphan]);
    },
  );

  test('the sample refused for its credentials (an expired token): the audit stops, as no role was judged; nothing deleted', async () => {
    const { fx, orphan, dynamodb } = await orphanWithSampleRefused(
      'ExpiredTokenException',
      'The security token included in the request is expired',
    );
    const run = audit({ config: fx.config, dynamodb, s3: fx.s3, clock: ahead, olderThanMs: HOUR, delete: true, emptyStoreOk: true });
    await expect(run).rejects.toThrow(/expired/);
    expect(await prefixKeys(fx)).toEqual([orphan]);
  });
});

describe("the audit's clock must read ms since the epoch", () => {
  test.each([
    ['seconds', () => Date.now() / 1000],
    ['NaN', () => Number.NaN],
    ['a string', (() => String(Date.now())) as unknown as () => number],
  ])('a clock in %s is refused before any request; nothing checked or deleted as if clean', async (_name, clock) => {
    const fx = await freshFixture();
    const [orphan] = await putOrphans(fx, 1);
    const run = audit({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock, olderThanMs: HOUR, delete: true, emptyStoreOk: true });
    await expect(run).rejects.toThrow(ValidationError);
    await expect(run).rejects.toMatchObject({ field: 'clock' });
    expect(await prefixKeys(fx)).toEqual([orphan]);
  });
});

/**
 * An S3 client whose ListObjectsV2 answers are rewritten by `rewrite(n, output)` (n: the request's
 * number, from 1), after the real server answered.
 */
function listingRewritten(rewrite: (n: number, output: any) => any) {
  const s3 = createS3Client();
  closers.push(() => s3.destroy());
  let n = 0;
  s3.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      const out = await next(args);
      if (context.commandName !== 'ListObjectsV2Command') return out;
      return { ...out, output: rewrite(++n, out.output) };
    },
    { step: 'initialize', name: 'testListingRewritten' },
  );
  return s3;
}

describe('a listing that cannot be a complete, ordered report of the prefix stops the audit', () => {
  test.each([false, true])('a page answered twice (delete %s): ListingError; nothing counted or deleted twice', async (del) => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 3, 'twice');
    let first: any;
    // The second request is answered with the first page again (same keys, same token), as a proxy
    // or an S3-compatible store that ignores ContinuationToken does.
    const s3 = listingRewritten((n, output) => {
      if (n === 1) first = output;
      return n === 2 ? first : output;
    });
    const deletes: string[] = [];
    const run = audit({
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3,
      clock: ahead,
      olderThanMs: HOUR,
      delete: del,
      emptyStoreOk: true,
      pageSize: 1,
      beforeDelete: (batch) => void deletes.push(...batch),
    });
    await expect(run).rejects.toThrow(ListingError);
    await expect(run).rejects.toThrow(/the listing repeats/);
    expect(deletes).toEqual([]);
    expect(await prefixKeys(fx)).toEqual(keys);
  });

  test('a page out of order: ListingError', async () => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 3, 'order');
    const s3 = listingRewritten((_n, output) => ({ ...output, Contents: [...(output.Contents ?? [])].reverse() }));
    const run = audit({ config: fx.config, dynamodb: fx.dynamodb, s3, clock: ahead, olderThanMs: HOUR });
    await expect(run).rejects.toThrow(ListingError);
    expect(await prefixKeys(fx)).toEqual(keys);
  });

  test('a page that says it is truncated and gives no continuation token: ListingError, not a clean report of half the prefix', async () => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 2, 'cut');
    const s3 = listingRewritten((_n, output) => {
      const { NextContinuationToken: _token, ...rest } = output;
      return rest;
    });
    const run = audit({ config: fx.config, dynamodb: fx.dynamodb, s3, clock: ahead, olderThanMs: HOUR, pageSize: 1 });
    await expect(run).rejects.toThrow(ListingError);
    await expect(run).rejects.toThrow(/truncated/);
    expect(await prefixKeys(fx)).toEqual(keys);
  });
});

/**
 * A deleting audit of a store holding one orphan, given option `name` = `value` (and `extra`):
 * refused with a ValidationError naming the option, and the orphan still there.
 */
async function expectOptionRefused(name: string, value: unknown, extra: Partial<AuditOptions> = {}): Promise<void> {
  const fx = await freshFixture();
  const [orphan] = await putOrphans(fx, 1);
  const run = audit({
    config: fx.config,
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    clock: ahead,
    olderThanMs: HOUR,
    delete: true,
    ...extra,
    ...{ [name]: value },
  } as AuditOptions);
  await expect(run).rejects.toThrow(ValidationError);
  await expect(run).rejects.toMatchObject({ field: name });
  expect(await prefixKeys(fx)).toEqual([orphan]);
}

describe('sizes and the safety age that would make the audit do nothing while reporting it did its work', () => {
  test.each([
    ['deleteBatch', Number.NaN],
    ['deleteBatch', 0],
    ['checkBatch', Number.NaN],
    ['checkBatch', -1],
    ['pageSize', 2.5],
    ['pageSize', Number.NaN],
    // The library's own floor of 1 h (the CLI's is not the only one: a caller of audit() has no CLI).
    ['olderThanMs', HOUR - 1],
    // Reaching back before 2000 by less than a century: 30 years, to 1996.
    ['olderThanMs', 30 * 365 * 24 * HOUR],
  ])('%s %s is refused before any request', async (name, value) => {
    await expectOptionRefused(name, value, { emptyStoreOk: true });
  });

  /**
   * The switches that decide whether anything is deleted, from a caller without types (a job's
   * environment, a JSON file): the string "false" is truthy. `emptyStoreOk: 'false'` took an objects
   * table that points at no blob (another deployment's, an empty one) for an empty store and deleted
   * every old blob; `delete: 'no'` deleted. Each is refused before any request, as the callbacks
   * that are no functions are (a `beforeDelete` of another type failed after the run had begun).
   */
  test.each([
    ['delete', 'no'],
    ['delete', 1],
    ['emptyStoreOk', 'false'],
    ['beforeDelete', 'log'],
    ['onProgress', true],
    ['signal', { aborted: false }],
  ])('%s %j (not its type) is refused before any request; nothing is deleted', async (name, value) => {
    await expectOptionRefused(name, value);
  });

  test('a safety age reaching back before 2000 (no blob can be that old: a unit mistaken) is refused, exit 2 from the CLI', async () => {
    const fx = await freshFixture();
    const [orphan] = await putOrphans(fx, 1);
    const run = audit({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: ahead, olderThanMs: 60 * 365 * 24 * HOUR });
    await expect(run).rejects.toMatchObject({ name: 'ValidationError', field: 'olderThanMs' });
    const cliRun = await cli(fx, ['audit', '--older-than', '30000d', '--exit-code'], { clock: ahead });
    expect(cliRun.code).toBe(2);
    expect(cliRun.err).toMatch(/--older-than 30000d/);
    expect(await prefixKeys(fx)).toEqual([orphan]);
  });
});

describe('what the report says', () => {
  test('a LastModified S3 gives that is no time: the blob counts as young (never deleted on a guess), the run goes on', async () => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 2, 'when');
    const s3 = listingRewritten((_n, output) => ({
      ...output,
      Contents: (output.Contents ?? []).map((o: { Key: string }) => (o.Key === keys[0] ? { ...o, LastModified: new Date(Number.NaN) } : o)),
    }));
    const report = await audit({
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3,
      clock: ahead,
      olderThanMs: HOUR,
      delete: true,
      emptyStoreOk: true,
    });
    expect(report).toMatchObject({ listed: 2, young: 1, checked: 1, deleted: 1 });
    expect(keysOf(report.orphans)).toEqual([keys[1]]);
    expect(await prefixKeys(fx)).toEqual([keys[0]]);
  });

  test('deletes refused after a round deleted some: the report says how many went, not "nothing deleted"', async () => {
    const { fx, live, orphan } = await storeWithOrphan(OLD);
    // Listed after the orphan, before the live blob: the second round meets an item it does not understand.
    const odd = blobKey(fx, 'odd', OLD);
    await putBlob(fx, odd);
    await fx.dynamodb.send(
      new PutItemCommand({ TableName: fx.config.objectsTable, Item: marshall({ key: 'odd', version: 1, blob: { key: odd } }) }),
    );
    const report = await audit({
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      clock: ahead,
      olderThanMs: HOUR,
      delete: true,
      pageSize: 1,
      checkBatch: 1,
    });
    expect(report).toMatchObject({ deleted: 1, deleteRefused: expect.stringContaining('TIERLOG_HV_ATTRIBUTES') });
    expect(keysOf(report.undecided)).toEqual([odd]);
    const text = formatAudit(report, ahead()).join('\n');
    expect(text).not.toContain('nothing deleted');
    expect(text).toContain('deletes refused from then on');
    expect(text).toContain('deleted 1 blob');
    expect(await prefixKeys(fx)).toEqual([live, odd].sort());
    void orphan;
  });
});

describe("an expired object's removal racing a writer", () => {
  test('the key re-created right after the audit removed its expired item: the old blob goes, the new one stays, each counted once', async () => {
    const fx = await freshFixture();
    const old = makeWriter(fx, { store: { clock: () => Date.now() - 80 * HOUR } });
    try {
      await old.store.put('exp/raced', randomBody(20 * KiB), { timeToLiveMs: HOUR });
    } finally {
      old.close();
    }
    const [expiredBlob] = await prefixKeys(fx);
    const writer = makeWriter(fx);
    closers.push(() => writer.close());
    const body = randomBody(24 * KiB);
    const dynamodb = createDynamoDBClient();
    closers.push(() => dynamodb.destroy());
    // Once the removal has landed, and before the audit's re-check, a writer creates the key again.
    dynamodb.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        const out = await next(args);
        if (context.commandName === 'DeleteItemCommand' && JSON.stringify(args.input).includes('exp/raced')) {
          await writer.store.put('exp/raced', body);
        }
        return out;
      },
      { step: 'initialize', name: 'testRecreate' },
    );
    const report = await audit({ config: fx.config, dynamodb, s3: fx.s3, clock: ahead, olderThanMs: HOUR, delete: true });
    expect(report).toMatchObject({ expiredRemoved: 1, deleted: 1, keptOnRecheck: [], deleteFailures: [], undecided: [], orphans: [] });
    expect(keysOf(report.expired)).toEqual([expiredBlob]);
    const left = await prefixKeys(fx);
    expect(left).toHaveLength(1);
    expect(left).not.toContain(expiredBlob);
    expect((await writer.store.get('exp/raced'))?.body).toEqual(body);
  });
});

describe('the re-check before a delete finds an item it does not understand', () => {
  /**
   * A DynamoDB client for the audit that, as the run's third BatchGetItem (the check, the items'
   * shape, then the re-check) goes out, writes item `objectId` pointing at `blob` under other
   * attribute names than the configured ones (`ptr`, not `blob`).
   */
  function itemUnderOtherNamesAtRecheck(fx: Fixture, objectId: string, blob: string) {
    const dynamodb = createDynamoDBClient();
    closers.push(() => dynamodb.destroy());
    new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        skip: 2,
        match: (r) => r.command === 'BatchGetItemCommand',
        before: async () => {
          const now = Date.now();
          await fx.dynamodb.send(
            new PutItemCommand({
              TableName: fx.config.objectsTable,
              Item: marshall({ key: objectId, ver: 1, ptr: blob, size: 12, createdAt: now, updatedAt: now }),
            }),
          );
        },
      })
      .attach(dynamodb, 'dynamodb');
    return dynamodb;
  }

  test('an item under other attribute names appears for the orphan between the check and the delete: the blob is kept', async () => {
    // DESIGN.md: a component that would delete a blob on HV's word checks that it understands the
    // items it read; the audits delete nothing for an item that shows no blob, body or deletion
    // marker under the configured names (it may point at the blob under other names). The run's
    // shape check passed (no item then); the re-check right before the delete is what sees it.
    const fx = await freshFixture();
    const [orphan] = await putOrphans(fx, 1, 'renamed');
    const objectId = Buffer.from(orphan!.split('/')[1]!, 'base64url').toString('utf8');
    const dynamodb = itemUnderOtherNamesAtRecheck(fx, objectId, orphan!);
    const deletes: string[] = [];
    const report = await deletingAudit(fx, dynamodb, deletes);
    expect(report).toMatchObject({ deleted: 0, keptOnRecheck: [] });
    expect(report.undecided).toEqual([expect.objectContaining({ key: orphan, reason: expect.stringMatching(/TIERLOG_HV_ATTRIBUTES/) })]);
    expect(deletes).toEqual([]);
    expect(await prefixKeys(fx)).toEqual([orphan]);
  });

  /**
   * The re-check kept such a blob as "referenced at the re-check" and went on: the other orphans'
   * deletes went ahead, the item the audit does not understand was reported nowhere, and the run
   * exited 0 (no finding for --exit-code), where the same item seen by the check is undecided and
   * refuses every delete of the run (exit 1). It now does the same at the re-check.
   */
  test('seen only at the re-check of the first delete batch: undecided, every later delete refused (exit 1), not "referenced"', async () => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 2, 'renamed');
    const objectId = Buffer.from(keys[0]!.split('/')[1]!, 'base64url').toString('utf8');
    const dynamodb = itemUnderOtherNamesAtRecheck(fx, objectId, keys[0]!);
    const deletes: string[] = [];
    const report = await deletingAudit(fx, dynamodb, deletes, { deleteBatch: 1 });
    expect(report).toMatchObject({ deleted: 0, keptOnRecheck: [], deleteRefused: expect.stringMatching(/TIERLOG_HV_ATTRIBUTES/) });
    expect(report.undecided).toEqual([expect.objectContaining({ key: keys[0] })]);
    expect(deletes).toEqual([]);
    expect(await prefixKeys(fx)).toEqual(keys);
    expect(formatAudit(report, Date.now()).join('\n')).toMatch(/deletes refused: .*TIERLOG_HV_ATTRIBUTES.*; nothing deleted/);
  });
});

describe('the re-check before a delete fails, in each class of error', () => {
  test.each([
    ['throttled past the retries', 'ProvisionedThroughputExceededException', /throughput|Throughput/],
    ['expired credentials', 'ExpiredTokenException', /ExpiredToken|expired/i],
    ['the table gone', 'ResourceNotFoundException', /does not exist/],
    ['access denied', 'AccessDeniedException', /access denied/],
  ])('%s: the audit stops with what it did (the first round deleted, counted once); nothing more goes', async (_name, code, message) => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 4, 'recheck');
    const dynamodb = createDynamoDBClient();
    closers.push(() => dynamodb.destroy());
    // Per round of 2: BatchGetItem for the check, the items' shape, the re-check. The second round's re-check fails, every attempt.
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'BatchGetItemCommand',
        skip: 5,
        error: () => Object.assign(new Error(`injected ${code}`), { name: code, $fault: 'client', $metadata: { httpStatusCode: 400 } }),
      })
      .attach(dynamodb, 'dynamodb');
    const deletes: string[] = [];
    const err = await deletingAudit(fx, dynamodb, deletes, { pageSize: 2, checkBatch: 2 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuditIncompleteError);
    expect((err as Error).message).toMatch(message);
    expect((err as AuditIncompleteError).report).toMatchObject({ checked: 4, deleted: 2, deleteFailures: [] });
    expect(keysOf((err as AuditIncompleteError).report.orphans)).toEqual(keys);
    expect(deletes).toEqual(keys.slice(0, 2));
    expect(await prefixKeys(fx)).toEqual(keys.slice(2));
  });
});

describe('the first delete batch failing as a whole before S3 deleted anything (the bucket gone meanwhile)', () => {
  test("the audit stops with S3's error, translated, nothing counted as deleted", async () => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 2, 'nobucket');
    const s3 = createS3Client();
    closers.push(() => s3.destroy());
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectsCommand',
        error: () => awsServiceError('NoSuchBucket', 404, 'The specified bucket does not exist'),
      })
      .attach(s3, 's3');
    const err = await deletingAudit(fx, fx.dynamodb, [], { s3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TierlogError);
    expect(err).not.toBeInstanceOf(AuditIncompleteError);
    expect((err as Error).message).toMatch(/does not exist/);
    expect(await prefixKeys(fx)).toEqual(keys);
  });
});

describe('an expired object the audit cannot remove as TTL would', () => {
  test("its item read without a numeric version (TIERLOG_HV_ATTRIBUTES' version not the writers'): undecided, deletes refused (exit 1), not a run that did its work", async () => {
    const fx = await freshFixture({ hvAttributes: { version: 'ver' } });
    const w = makeWriter(fx, { store: { clock: () => Date.now() - 80 * HOUR } });
    try {
      await w.store.put('exp/unversioned', randomBody(20 * KiB), { timeToLiveMs: HOUR });
    } finally {
      w.close();
    }
    const [blob] = await prefixKeys(fx);
    const { hvAttributes: _names, ...plain } = fx.config;
    // Report only: the same finding, and no delete to refuse (exit 0 without --exit-code).
    const look = await cliJson({ ...fx, config: plain }, ['audit', '--older-than', '1h'], { clock: ahead });
    expect(look.json).toMatchObject({ undecided: [{ key: blob, reason: expect.stringMatching(/"version"/) }] });
    expect(look.json.deleteRefused).toBeUndefined();
    expect(look.code).toBe(0);
    const run = await cliJson({ ...fx, config: plain }, ['audit', '--older-than', '1h', '--delete', '--exit-code'], { clock: ahead });
    expect(run.json.expired.map((e: { key: string }) => e.key)).toEqual([blob]);
    expect(run.json).toMatchObject({
      expiredRemoved: 0,
      deleted: 0,
      undecided: [{ key: blob, reason: expect.stringMatching(/"version"/) }],
    });
    expect(run.code).toBe(1);
    expect(await prefixKeys(fx)).toEqual([blob]);
    // With the writers' names: removed as TTL would, then deleted.
    const right = await cliJson(fx, ['audit', '--older-than', '1h', '--delete', '--exit-code'], { clock: ahead });
    expect(right).toMatchObject({ code: 0, json: { expiredRemoved: 1, deleted: 1, undecided: [] } });
    expect(await prefixKeys(fx)).toEqual([]);
  });
});

/**
 * A DynamoDB client whose Scan answers for the change-log table (not its index) carry `extra` raw
 * items too, after the real table's: an item the SDK cannot unmarshall (an attribute type this SDK
 * does not know: its deserializer hands it over as `$unknown`).
 */
function changeLogScanWith(fx: Fixture, extra: Array<Record<string, unknown>>) {
  const dynamodb = createDynamoDBClient();
  closers.push(() => dynamodb.destroy());
  dynamodb.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      const out = await next(args);
      const input = args.input as { TableName?: string; IndexName?: string };
      if (context.commandName !== 'ScanCommand' || input.TableName !== fx.config.changeLogTable || input.IndexName !== undefined)
        return out;
      if (out.output.LastEvaluatedKey !== undefined) return out;
      return { ...out, output: { ...out.output, Items: [...(out.output.Items ?? []), ...extra] } };
    },
    { step: 'initialize', name: 'testChangeLogScanWith' },
  );
  return dynamodb;
}

describe('a change-log item the audit cannot read at all', () => {
  // An attribute type the SDK does not know (a newer DynamoDB's): `unmarshall` throws. Nothing in
  // flight can be known from that item, so no blob of the run may go, not only those it names.
  test('with --delete: every delete of the run refused (not only of the blobs it names), the item reported corrupt', async () => {
    const fx = await freshFixture();
    const keys = await putOrphans(fx, 2, 'unreadable');
    const dynamodb = changeLogScanWith(fx, [{ pk: { S: 'future-item' }, odd: { $unknown: ['Z', 'x'] } }]);
    const deletes: string[] = [];
    const report = await deletingAudit(fx, dynamodb, deletes);
    expect(report.deleteRefused).toBe('change-log item future-item cannot be read');
    expect(report.corruptChangeLog).toEqual([{ instanceId: 'future-item', reason: expect.stringMatching(/^item cannot be read: /) }]);
    expect(report.deleted).toBe(0);
    expect(deletes).toEqual([]);
    expect(await prefixKeys(fx)).toEqual(keys);
  });
});

describe("a listing that names a key outside the prefix (not S3's answer to a prefixed listing)", () => {
  // A proxy or an S3-compatible store that ignores Prefix. The key is old, and no item of this
  // store points at it: read as a blob key it would be an orphan. It is no blob key of this store.
  test.each([
    // Of the prefix's length: read past it, the rest has the shape <object id>/<uuidv7>.
    ['a sibling prefix', (p: string) => `${p.slice(0, -1)}z`],
    ['another top-level folder', (p: string) => 'z'.repeat(p.length)],
  ])('under %s: reported unparseable, never deleted', async (_name, outside) => {
    const fx = await freshFixture();
    const [orphan] = await putOrphans(fx, 1, 'inside');
    const foreign = blobKey({ ...fx, config: { ...fx.config, prefix: outside(fx.config.prefix) } }, 'inside', OLD);
    await putBlob(fx, foreign);
    const listed = await fx.s3.send(new ListObjectsV2Command({ Bucket: fx.config.bucket, Prefix: foreign }));
    const s3 = listingRewritten((_n, output) => ({ ...output, Contents: [...(output.Contents ?? []), ...(listed.Contents ?? [])] }));
    const deletes: string[] = [];
    const report = await deletingAudit(fx, fx.dynamodb, deletes, { s3 });
    expect(report.unparseable).toEqual([expect.objectContaining({ key: foreign })]);
    expect(deletes).toEqual([orphan]);
    expect(await listKeys(fx.s3, fx.config.bucket, foreign)).toEqual([foreign]);
  });
});

describe('a blob the item of another object points at (an item copied to rename an object)', () => {
  // DESIGN.md: no writer points an item at another object's blob, but such an item may exist (an
  // item copied to rename an object), and the writers, the sweeper and the stream function never
  // delete the blob it names. Read by the object its key names, nothing points at the blob.
  test('--delete keeps it (referenced at the re-check) and deletes the true orphan; the renamed object keeps its bytes', async () => {
    const { fx, live, orphan } = await storeWithOrphan(OLD);
    const copied = blobKey(fx, 'b-original', OLD);
    await putBlob(fx, copied, 'renamed bytes');
    await putTombstone(fx, 'c-renamed', copied);
    const deletes: string[] = [];
    const report = await deletingAudit(fx, fx.dynamodb, deletes, { emptyStoreOk: false });
    expect(report.deleteRefused).toBeUndefined();
    expect(deletes).toEqual([orphan]);
    expect(report).toMatchObject({ deleted: 1, keptOnRecheck: [copied] });
    expect(await prefixKeys(fx)).toEqual([copied, live].sort());
  });
});

describe("the safety age on S3's clock when the operator's runs ahead", () => {
  /**
   * A blob's age was judged on the audit's clock alone: an operator's clock hours ahead (a laptop
   * off NTP) made every blob old enough, and the safety age, which keeps the blobs of writes in
   * flight, protected nothing. The SDK measures S3's clock from the listing's Date header; the
   * audit's clock is set back by as much as it runs ahead of it.
   */
  const s3BehindBy = (ms: number) => {
    const s3 = withServerClock(createS3Client(), -ms);
    closers.push(() => s3.destroy());
    return s3;
  };

  test('a clock 2 h ahead of S3: a blob written now is young, not an orphan, and is not deleted', async () => {
    const { fx, orphan } = await storeWithOrphan(Date.now());
    const report = await audit({
      config: fx.config,
      dynamodb: fx.dynamodb,
      s3: s3BehindBy(2 * HOUR),
      clock: ahead,
      olderThanMs: HOUR,
      delete: true,
    });
    expect(report.orphans).toEqual([]);
    expect(report.deleted).toBe(0);
    expect(await prefixKeys(fx)).toContain(orphan);
    // With S3 agreeing with the audit's clock, the same blob is an orphan 2 h old, and deleted.
    const agreed = await audit({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: ahead, olderThanMs: HOUR, delete: true });
    expect(keysOf(agreed.orphans)).toEqual([orphan]);
    expect(await prefixKeys(fx)).not.toContain(orphan);
  });
});
