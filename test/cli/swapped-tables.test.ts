/**
 * One table named for the other: `TIERLOG_CHANGELOG_TABLE` set to an objects table, or
 * `TIERLOG_OBJECTS_TABLE` set to a change log (a variable from the wrong line of a script). Set to
 * the other variable's own table, both name one table: a configuration error naming both (exit 2),
 * before any request. Set to another deployment's table of that kind, each names a table of its
 * own, and nothing may be deleted on what such a table says, and the operator is told which table
 * is wrong:
 *
 *  - the audits read what is in flight from the change log; read from the objects table, nothing
 *    looks in flight, so a write about to commit would lose its blob: every delete is refused;
 *  - `tierlog sweep` and `tierlog inspect` need the change log's key and lease index: a
 *    configuration error (exit 2) naming the table, not DynamoDB's bare ValidationException.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { copyTable, emptyTable, type Fixture, freshFixture, prefixKeys } from '../support/local.js';
import { newChangeId } from '../../lib/ids.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, rawEntry, storeWithOrphan } from './helpers.js';

const OLD = Date.now() - 3 * HOUR;
const ahead = () => Date.now() + 2 * HOUR;

/** A store with a live large object and an old orphan. */
const store = () => storeWithOrphan(OLD);

/** `fx` with a copy of its objects table as it is now (another deployment's) named as the change log. */
const logIsObjects = async (fx: Fixture): Promise<Fixture> => ({
  ...fx,
  config: { ...fx.config, changeLogTable: await copyTable(fx, fx.config.objectsTable) },
});
/** `fx` with a copy of its change log as it is now (another deployment's) named as the objects table. */
const objectsIsLog = async (fx: Fixture): Promise<Fixture> => ({
  ...fx,
  config: { ...fx.config, objectsTable: await copyTable(fx, fx.config.changeLogTable) },
});

describe('one table named for both', () => {
  test.each([['audit', '--older-than', '90m', '--delete'], ['sweep'], ['sweep', '--dry-run'], ['status'], ['inspect', 'some-instance']])(
    '%s: a configuration error naming both variables (exit 2), nothing read or deleted',
    async (...argv) => {
      const { fx, live, orphan } = await store();
      // A writer that died after uploading `orphan`, long ago: a sweep would judge it.
      await putRawInstance(fx, { leaseUntil: Date.now() - 2 * HOUR, entries: { [newChangeId()]: rawEntry('a-orphan', { new: orphan }) } });
      for (const table of [fx.config.objectsTable, fx.config.changeLogTable]) {
        const dynamodb = createDynamoDBClient();
        const injector = new FaultInjector();
        injector.attach(dynamodb, 'dynamodb');
        try {
          const run = await cli({ ...fx, dynamodb, config: { ...fx.config, changeLogTable: table, objectsTable: table } }, argv, {
            clock: ahead,
          });
          expect(run.code, argv.join(' ')).toBe(2);
          expect(run.err).toContain(
            `tierlog: configuration: TIERLOG_CHANGELOG_TABLE and TIERLOG_OBJECTS_TABLE both name the table "${table}"`,
          );
          expect(injector.stats.requests, 'no request').toBe(0);
        } finally {
          dynamodb.destroy();
        }
      }
      expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
    },
  );
});

describe('one table named for the other', () => {
  test('the objects table as the change log: the listing audit deletes nothing and says which table (exit 1)', async () => {
    const { fx, live, orphan } = await store();
    const wrong = await logIsObjects(fx);
    const run = await cliJson(wrong, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(run.code).toBe(1);
    expect(run.json.deleted).toBe(0);
    expect(run.json.deleteRefused).toMatch(new RegExp(`table ${wrong.config.changeLogTable} .*not a change-log table`));
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
    // The same store, rightly named: the orphan goes, the live blob stays.
    const right = await cliJson(fx, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(right.json.deleted).toBe(1);
    expect(await prefixKeys(fx)).toEqual([live]);
  });

  test("the objects table as the change log, its key named pk as the change log's: the listing audit deletes nothing, not even a write in flight's blob (exit 2)", async () => {
    // A schema of the user's whose partition key is "pk", the change log's key name: every item
    // of it has a string pk, so only the table's shape (no lease index) tells it from a change log.
    const fx = await freshFixture({ hvAttributes: { key: 'pk' } });
    const live = blobKey(fx, 'z-live', OLD);
    const orphan = blobKey(fx, 'a-orphan', OLD);
    const pending = blobKey(fx, 'm-pending', OLD);
    for (const key of [live, orphan, pending]) await putBlob(fx, key);
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ pk: 'z-live', version: 1, blob: live, size: 12, metadata: {}, createdAt: OLD, updatedAt: OLD, writeId: uuidv7() }),
      }),
    );
    // A writer that uploaded `pending` and has yet to commit it: its live instance names it.
    await putRawInstance(fx, {
      leaseUntil: Date.now() + 10 * 60_000,
      entries: { [newChangeId()]: rawEntry('m-pending', { new: pending }) },
    });
    const wrong = await logIsObjects(fx);
    const run = await cli(wrong, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(run.code).toBe(2);
    expect(run.err).toMatch(
      new RegExp(`^tierlog: configuration: table "${wrong.config.changeLogTable}" does not have the key or index tierlog uses`),
    );
    expect(await prefixKeys(fx)).toEqual([live, orphan, pending].sort());
  });

  test("the same, run by a role not granted the lease index (it cannot tell the table's kind from it): no item is an instance, every delete refused (exit 1)", async () => {
    const fx = await freshFixture({ hvAttributes: { key: 'pk' } });
    const orphan = blobKey(fx, 'a-orphan', OLD);
    const pending = blobKey(fx, 'm-pending', OLD);
    for (const key of [orphan, pending]) await putBlob(fx, key);
    await putRawInstance(fx, {
      leaseUntil: Date.now() + 10 * 60_000,
      entries: { [newChangeId()]: rawEntry('m-pending', { new: pending }) },
    });
    // An item of the objects table, so the table named as the change log is not empty.
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ pk: 'small', version: 1, body: 'x', size: 1, metadata: {}, createdAt: OLD, updatedAt: OLD, writeId: uuidv7() }),
      }),
    );
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'ScanCommand' && r.input.IndexName !== undefined,
        error: () =>
          awsServiceError('AccessDeniedException', 400, 'User: operator is not authorized to perform: dynamodb:Scan on resource: index'),
      })
      .attach(dynamodb, 'dynamodb');
    try {
      const wrong = await logIsObjects(fx);
      const run = await cliJson({ ...wrong, dynamodb }, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], {
        clock: ahead,
      });
      expect(run.json.deleted).toBe(0);
      expect(run.json.deleteRefused).toMatch(new RegExp(`table ${wrong.config.changeLogTable} .*no item .*instance`));
      expect(run.code).toBe(1);
    } finally {
      dynamodb.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([orphan, pending].sort());
  });

  test('the objects table as the change log: the snapshot re-verification keeps every candidate', async () => {
    const { fx, live, orphan } = await store();
    const report = await reverifyAndDelete(
      [orphan, live].map((key) => ({ key, lastModified: OLD })),
      { config: (await logIsObjects(fx)).config, dynamodb: fx.dynamodb, s3: fx.s3, now: Date.now(), olderThanMs: HOUR, delete: true },
    );
    expect(report.deleted).toBe(0);
    expect(report.kept.map((k) => k.reason)).toEqual(['change-log-unreadable', 'change-log-unreadable']);
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  test('an empty table of another kind as the change log: the audit stops before any delete, naming it (exit 2)', async () => {
    const { fx, live, orphan } = await store();
    const empty = await emptyTable(fx);
    const run = await cli({ ...fx, config: { ...fx.config, changeLogTable: empty } }, ['audit', '--older-than', '90m', '--delete'], {
      clock: ahead,
    });
    expect(run.code).toBe(2);
    expect(run.err).toMatch(new RegExp(`^tierlog: configuration: table "${empty}" does not have the key or index tierlog uses`));
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  test('the same with a key that is no blob key under the prefix (listed before the refusal): still the configuration error (exit 2), not a stopped run', async () => {
    const { fx, live, orphan } = await store();
    const junk = `${fx.config.prefix}/0-notes.txt`;
    await putBlob(fx, junk);
    const empty = await emptyTable(fx);
    const run = await cliJson({ ...fx, config: { ...fx.config, changeLogTable: empty } }, ['audit', '--older-than', '90m', '--delete'], {
      clock: ahead,
    });
    expect(run.code, run.err).toBe(2);
    expect(run.err).toMatch(new RegExp(`^tierlog: configuration: table "${empty}" does not have the key or index tierlog uses`, 'm'));
    expect(run.json).toEqual({ error: expect.objectContaining({ name: 'ConfigError', exitCode: 2 }) });
    expect(await prefixKeys(fx)).toEqual([junk, orphan, live].sort());
  });

  test("an empty table of another kind as the change log, its index check refused for expired credentials: not taken for a role without the index's grant; nothing deleted", async () => {
    const { fx, live, orphan } = await store();
    const empty = await emptyTable(fx);
    const dynamodb = createDynamoDBClient();
    // The credentials expire between the scan and the index check: that says nothing about the table.
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'ScanCommand' && r.input.IndexName !== undefined,
        error: () => awsServiceError('ExpiredTokenException', 400, 'The security token included in the request is expired'),
      })
      .attach(dynamodb, 'dynamodb');
    try {
      const run = await cli(
        { ...fx, dynamodb, config: { ...fx.config, changeLogTable: empty } },
        ['audit', '--older-than', '90m', '--delete'],
        {
          clock: ahead,
        },
      );
      expect(run.code).toBe(1);
      expect(run.err).toMatch(/access denied: Scan .*ExpiredTokenException/);
    } finally {
      dynamodb.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });

  test('the right (empty) change log, its index check refused as not granted (a role granted the table alone): the audit goes on, the orphan deleted', async () => {
    const { fx, live } = await store();
    const dynamodb = createDynamoDBClient();
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r) => r.command === 'ScanCommand' && r.input.IndexName !== undefined,
      error: () =>
        awsServiceError(
          'AccessDeniedException',
          400,
          `User: operator is not authorized to perform: dynamodb:Scan on resource: ${fx.config.changeLogTable}/index/*`,
        ),
    });
    injector.attach(dynamodb, 'dynamodb');
    try {
      const run = await cli({ ...fx, dynamodb }, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
      expect(injector.stats.injected.fail, 'the index check was refused').toBe(1);
      expect(run.code).toBe(0);
    } finally {
      dynamodb.destroy();
    }
    expect(await prefixKeys(fx)).toEqual([live]);
  });

  test("the change log as the objects table, its key named pk as the change log's, with --empty-store-ok: no item is understood as an object, nothing deleted (exit 1)", async () => {
    const fx = await freshFixture({ hvAttributes: { key: 'pk' } });
    const live = blobKey(fx, 'z-live', OLD);
    const orphan = blobKey(fx, 'a-orphan', OLD);
    for (const key of [live, orphan]) await putBlob(fx, key);
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ pk: 'z-live', version: 1, blob: live, size: 12, metadata: {}, createdAt: OLD, updatedAt: OLD, writeId: uuidv7() }),
      }),
    );
    // An idle writer's instance: the table named as the objects table is not empty.
    await putRawInstance(fx, { leaseUntil: Date.now() + 10 * 60_000, entries: {} });
    // Told the store holds no large object (the table named pointed at no blob, so the audit said).
    const run = await cliJson(await objectsIsLog(fx), ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], { clock: ahead });
    expect(run.json.deleted).toBe(0);
    expect(run.json.deleteRefused).toMatch(/objects-table item .* has none of the attributes the configuration names/);
    expect(run.code).toBe(1);
    expect(await prefixKeys(fx)).toEqual([live, orphan].sort());
  });

  test("status on the objects table as the change log, its key named pk as the change log's: a configuration error naming it (exit 2), not its objects listed as corrupt instances", async () => {
    const fx = await freshFixture({ hvAttributes: { key: 'pk' } });
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.objectsTable,
        Item: marshall({ pk: 'small', version: 1, body: 'x', size: 1, metadata: {}, createdAt: OLD, updatedAt: OLD, writeId: uuidv7() }),
      }),
    );
    const wrong = await logIsObjects(fx);
    const run = await cli(wrong, ['status']);
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(
      new RegExp(`^tierlog: configuration: table "${wrong.config.changeLogTable}" does not have the key or index tierlog uses`),
    );
  });

  test('sweep and inspect on the objects table as the change log: a configuration error naming it (exit 2)', async () => {
    const { fx } = await store();
    const wrong = await logIsObjects(fx);
    for (const argv of [['sweep'], ['sweep', '--dry-run'], ['inspect', 'some-instance']]) {
      const run = await cli(wrong, argv);
      expect(run.code, argv.join(' ')).toBe(2);
      // The sweep's scan for shardless instances may warn first (it reads the objects table's items): the error is a line of its own.
      expect(run.err).toMatch(
        new RegExp(`^tierlog: configuration: table "${wrong.config.changeLogTable}" does not have the key or index tierlog uses`, 'm'),
      );
    }
  });

  test("the change log as the objects table: the sweep of a dead writer's entry refuses before any delete (exit 2)", async () => {
    const { fx, live, orphan } = await store();
    // A writer that died after uploading `orphan` for "a-orphan", long ago: a sweep judges it.
    await putRawInstance(fx, { leaseUntil: Date.now() - 2 * HOUR, entries: { [newChangeId()]: rawEntry('a-orphan', { new: orphan }) } });
    const run = await cli(await objectsIsLog(fx), ['sweep']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^tierlog: configuration: /m);
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });
});

describe('an audit with no blob old enough to check still reads both tables', () => {
  test.each([
    { table: 'changeLogTable', named: 'no-such-table', code: 1, says: 'table "no-such-table" does not exist' },
    { table: 'objectsTable', named: 'no-such-table', code: 1, says: 'table "no-such-table" does not exist' },
  ] as const)(
    '$table named for a table that does not exist: exit $code naming it, not a clean run',
    async ({ table, named, code, says }) => {
      const fx = await freshFixture();
      // A blob too young to judge: the run checks nothing, and read no table before.
      await putBlob(fx, blobKey(fx, 'young', Date.now()));
      const run = await cli({ ...fx, config: { ...fx.config, [table]: named } }, ['audit', '--older-than', '1h']);
      expect(run.code).toBe(code);
      expect(run.err).toContain(says);
      expect(await prefixKeys(fx)).toHaveLength(1);
    },
  );

  test('the objects table named as the change log: a configuration error naming it (exit 2); the right tables: a clean run (exit 0)', async () => {
    const fx = await freshFixture();
    await putBlob(fx, blobKey(fx, 'young', Date.now()));
    const wrong = await logIsObjects(fx);
    const swapped = await cli(wrong, ['audit', '--older-than', '1h']);
    expect(swapped.code).toBe(2);
    expect(swapped.err).toContain(`table "${wrong.config.changeLogTable}" does not have the key or index tierlog uses`);
    const right = await cli(fx, ['audit', '--older-than', '1h']);
    expect(right.code).toBe(0);
  });
});
