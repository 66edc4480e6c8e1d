/**
 * One table named for the other: `TIERLOG_CHANGELOG_TABLE` set to the objects table, or
 * `TIERLOG_OBJECTS_TABLE` set to the change log (a variable from the wrong line of a script).
 * Nothing may be deleted on what such a table says, and the operator is told which table is wrong:
 *
 *  - the audits read what is in flight from the change log; read from the objects table, nothing
 *    looks in flight, so a write about to commit would lose its blob: every delete is refused;
 *  - `tierlog sweep` and `tierlog inspect` need the change log's key and lease index: a
 *    configuration error (exit 2) naming the table, not DynamoDB's bare ValidationException.
 */
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { emptyTable, type Fixture, prefixKeys } from '../support/local.js';
import { newChangeId } from '../../lib/ids.js';
import { cli, cliJson, HOUR, putRawInstance, rawEntry, storeWithOrphan } from './helpers.js';

const OLD = Date.now() - 3 * HOUR;
const ahead = () => Date.now() + 2 * HOUR;

/** A store with a live large object and an old orphan. */
const store = () => storeWithOrphan(OLD);

const logIsObjects = (fx: Fixture): Fixture => ({ ...fx, config: { ...fx.config, changeLogTable: fx.config.objectsTable } });
const objectsIsLog = (fx: Fixture): Fixture => ({ ...fx, config: { ...fx.config, objectsTable: fx.config.changeLogTable } });

describe('one table named for the other', () => {
  test('the objects table as the change log: the listing audit deletes nothing and says which table (exit 1)', async () => {
    const { fx, live, orphan } = await store();
    const run = await cliJson(logIsObjects(fx), ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(run.code).toBe(1);
    expect(run.json.deleted).toBe(0);
    expect(run.json.deleteRefused).toMatch(new RegExp(`table ${fx.config.objectsTable} .*not a change-log table`));
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
    // The same store, rightly named: the orphan goes, the live blob stays.
    const right = await cliJson(fx, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(right.json.deleted).toBe(1);
    expect(await prefixKeys(fx)).toEqual([live]);
  });

  test('the objects table as the change log: the snapshot re-verification keeps every candidate', async () => {
    const { fx, live, orphan } = await store();
    const report = await reverifyAndDelete(
      [orphan, live].map((key) => ({ key, lastModified: OLD })),
      { config: logIsObjects(fx).config, dynamodb: fx.dynamodb, s3: fx.s3, now: Date.now(), olderThanMs: HOUR, delete: true },
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

  test('sweep and inspect on the objects table as the change log: a configuration error naming it (exit 2)', async () => {
    const { fx } = await store();
    const wrong = logIsObjects(fx);
    for (const argv of [['sweep'], ['sweep', '--dry-run'], ['inspect', 'some-instance']]) {
      const run = await cli(wrong, argv);
      expect(run.code, argv.join(' ')).toBe(2);
      // The sweep's scan for shardless instances may warn first (it reads the objects table's items): the error is a line of its own.
      expect(run.err).toMatch(
        new RegExp(`^tierlog: configuration: table "${fx.config.objectsTable}" does not have the key or index tierlog uses`, 'm'),
      );
    }
  });

  test("the change log as the objects table: the sweep of a dead writer's entry refuses before any delete (exit 2)", async () => {
    const { fx, live, orphan } = await store();
    // A writer that died after uploading `orphan` for "a-orphan", long ago: a sweep judges it.
    await putRawInstance(fx, { leaseUntil: Date.now() - 2 * HOUR, entries: { [newChangeId()]: rawEntry('a-orphan', { new: orphan }) } });
    const run = await cli(objectsIsLog(fx), ['sweep']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/^tierlog: configuration: /m);
    expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
  });
});
