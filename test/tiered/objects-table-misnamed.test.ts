/**
 * The objects table named by a setting that names a change-log table (another deployment's: a
 * variable from the wrong line of a script). Every call of the store is a ConfigError naming the table, not only
 * those that read first: a small put's and a delete's one conditional write, refused by DynamoDB
 * with a ValidationException for the key the table does not have, were a CommitRefusedError ("would
 * be refused again"), which the objects API answered 400 InvalidRequest, the client blamed for the
 * deployment's fault and no 5xx for the operator's alarm. The API answers 500, the error logged.
 */
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';

import { beforeAll, describe, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { ConfigError } from '../../lib/errors.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { copyTable, emptyTable, type Fixture, freshFixture } from '../support/local.js';
import { httpEvent } from '../functions/lambda.js';
import { KiB } from './harness.js';

let fx: Fixture;
let store: TieredStore;
let table: string;

beforeAll(async () => {
  fx = await freshFixture();
  // A copy of the change-log table (another deployment's): one table named for both is refused first.
  table = await copyTable(fx, fx.config.changeLogTable);
  const config = { ...fx.config, objectsTable: table };
  store = new TieredStore({ config, changeLog: new DynamoChangeLog({ config, dynamodb: fx.dynamodb }), dynamodb: fx.dynamodb, s3: fx.s3 });
});

/** What `call` rejected with; undefined when it resolved. */
function rejectionOf(call: () => Promise<unknown>): Promise<unknown> {
  return call().then(
    () => undefined,
    (err: unknown) => err,
  );
}

/** The objects API's answer's status to `method` of `/objects/k` through `on`, and the errors it told `onError`. */
async function apiAnswer(on: TieredStore, method: string, body?: string): Promise<{ status: number | undefined; logged: unknown[] }> {
  const logged: unknown[] = [];
  const event = httpEvent(method, '/objects/k', body !== undefined ? { body } : {});
  const response = await handleObjectsRequest(on, event, { onError: (err) => logged.push(err) });
  return { status: response.statusCode, logged };
}

const calls: Record<string, () => Promise<unknown>> = {
  'a small put': () => store.put('k', 'small'),
  'a large put': () => store.put('k', new Uint8Array(20 * KiB)),
  'a delete': () => store.delete('k'),
  'a conditional delete': () => store.delete('k', { ifVersion: 3 }),
  'a get': () => store.get('k'),
};

describe('the objects table named as another table', () => {
  test.each(Object.keys(calls))('%s is a ConfigError naming the table', async (name) => {
    const error = await rejectionOf(calls[name]!);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`table "${table}"`);
  });

  test.each([
    ['PUT', 'small'],
    ['DELETE', undefined],
  ])('the objects API answers a %s 500, the error logged', async (method, body) => {
    const { status, logged } = await apiAnswer(store, method, body);
    expect(status).toBe(500);
    expect(logged[0]).toBeInstanceOf(ConfigError);
  });
});

/**
 * The change-log table named by a setting that names a table keyed as the objects table. A change
 * that uploads nothing (a delete of a large object, a small body over one) writes its entry in its
 * commit's transaction, whose refusal for a key the table does not have does not say which table:
 * the ConfigError named the objects table, which is keyed right, sending the operator to the wrong
 * table. It names the change-log table now, as a large put's record does.
 */
describe('the change-log table named as another table', () => {
  let wrong: TieredStore;
  let other: string;
  beforeAll(async () => {
    other = await emptyTable(fx);
    const config = { ...fx.config, changeLogTable: other };
    const right = new TieredStore({
      config: fx.config,
      changeLog: new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb }),
      dynamodb: fx.dynamodb,
      s3: fx.s3,
    });
    await right.put('large', new Uint8Array(20 * KiB));
    wrong = new TieredStore({
      config,
      changeLog: new DynamoChangeLog({ config, dynamodb: fx.dynamodb }),
      dynamodb: fx.dynamodb,
      s3: fx.s3,
    });
  });

  test.each([
    ['a delete of a large object', () => wrong.delete('large')],
    ['a small body over a large one', () => wrong.put('large', 'small')],
    ['a large put', () => wrong.put('large', new Uint8Array(30 * KiB))],
  ])('%s is a ConfigError naming the change-log table', async (_name, call) => {
    const error = await rejectionOf(call);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`table "${other}"`);
  });
});

/**
 * An objects table of the user's own (imported, so the construct could not check it) whose partition
 * key has the right name but is a Number, where tierlog needs a String. DynamoDB refuses every
 * request for it with a ValidationException ("Type mismatch for key"), which named nothing: a small
 * put's or a delete's one conditional write was a CommitRefusedError ("would be refused again"),
 * answered 400 InvalidRequest by the objects API (the client blamed for the deployment's fault, no
 * 5xx for the operator's alarm), and a read the SDK's bare error. Each is a ConfigError naming the
 * table, as a table keyed by another name is; the API answers 500, the error logged.
 */
describe('the objects table keyed by a Number', () => {
  let numeric: string;
  let keyedWrong: TieredStore;
  beforeAll(async () => {
    numeric = `${fx.config.objectsTable}-numeric`;
    await fx.dynamodb.send(
      new CreateTableCommand({
        TableName: numeric,
        AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'N' }],
        KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const config = { ...fx.config, objectsTable: numeric };
    keyedWrong = new TieredStore({
      config,
      changeLog: new DynamoChangeLog({ config, dynamodb: fx.dynamodb }),
      dynamodb: fx.dynamodb,
      s3: fx.s3,
    });
  });

  test.each([
    ['a small put', () => keyedWrong.put('k', 'small')],
    ['a conditional small put', () => keyedWrong.put('k', 'small', { ifVersion: 0 })],
    ['a large put', () => keyedWrong.put('k', new Uint8Array(20 * KiB))],
    ['a delete', () => keyedWrong.delete('k')],
    ['a get', () => keyedWrong.get('k')],
    ['a head', () => keyedWrong.head('k')],
  ])('%s is a ConfigError naming the table', async (_name, call) => {
    const error = await rejectionOf(call);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`table "${numeric}"`);
  });

  test.each([
    ['PUT', 'small'],
    ['DELETE', undefined],
    ['GET', undefined],
  ])('the objects API answers a %s 500, the error logged', async (method, body) => {
    const { status, logged } = await apiAnswer(keyedWrong, method, body);
    expect(status).toBe(500);
    expect(logged[0]).toBeInstanceOf(ConfigError);
  });
});

/**
 * A table of the user's own with an index keyed by an attribute tierlog writes, declared of another
 * type: the objects table's `contentType` as a Number, or the change log's lease index with `shard`
 * as a String. DynamoDB refuses every write of that attribute ("Type mismatch for Index Key"). A
 * commit's transaction carries the refusal as a `ValidationError` reason, which was a
 * CommitRefusedError ("would be refused again", the objects API's 400 InvalidRequest: the client
 * blamed for the deployment's fault, no table named, no 5xx for the operator's alarm); a single
 * write's was a ConfigError telling the operator that the partition key must be a String (it is).
 * Each is a ConfigError naming the table and its index; the API answers 500.
 */
describe('an index keyed by an attribute tierlog writes, of another type', () => {
  let objectsIndexed: TieredStore;
  let objectsTable: string;
  let logIndexed: TieredStore;
  let logTable: string;
  beforeAll(async () => {
    objectsTable = `${fx.config.objectsTable}-typed-index`;
    await fx.dynamodb.send(
      new CreateTableCommand({
        TableName: objectsTable,
        AttributeDefinitions: [
          { AttributeName: 'key', AttributeType: 'S' },
          { AttributeName: 'contentType', AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byType',
            KeySchema: [{ AttributeName: 'contentType', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const objectsConfig = { ...fx.config, objectsTable };
    objectsIndexed = new TieredStore({
      config: objectsConfig,
      changeLog: new DynamoChangeLog({ config: objectsConfig, dynamodb: fx.dynamodb }),
      dynamodb: fx.dynamodb,
      s3: fx.s3,
    });
    logTable = `${fx.config.changeLogTable}-typed-index`;
    await fx.dynamodb.send(
      new CreateTableCommand({
        TableName: logTable,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'shard', AttributeType: 'S' },
          { AttributeName: 'leaseUntil', AttributeType: 'N' },
        ],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byLease',
            KeySchema: [
              { AttributeName: 'shard', KeyType: 'HASH' },
              { AttributeName: 'leaseUntil', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'KEYS_ONLY' },
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const right = new TieredStore({
      config: fx.config,
      changeLog: new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb }),
      dynamodb: fx.dynamodb,
      s3: fx.s3,
    });
    await right.put('indexed-large', new Uint8Array(20 * KiB));
    const logConfig = { ...fx.config, changeLogTable: logTable };
    logIndexed = new TieredStore({
      config: logConfig,
      changeLog: new DynamoChangeLog({ config: logConfig, dynamodb: fx.dynamodb }),
      dynamodb: fx.dynamodb,
      s3: fx.s3,
    });
  });

  /** Asserts `error` is the ConfigError of `table`'s index, not of its partition key. */
  function expectIndexError(error: unknown, table: () => string): void {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(`table "${table()}"`);
    expect((error as ConfigError).message).toMatch(/has an index keyed by an attribute tierlog writes/);
    expect((error as ConfigError).message).not.toMatch(/partition key must be/);
  }

  test.each([
    ['a small put', () => objectsIndexed.put('k', 'small', { contentType: 'text/plain' })],
    ['a large put (its commit a transaction)', () => objectsIndexed.put('k', new Uint8Array(20 * KiB), { contentType: 'text/plain' })],
  ])('on the objects table, %s is a ConfigError naming it', async (_name, call) => {
    expectIndexError(await rejectionOf(call), () => objectsTable);
  });

  test.each([
    ['a large put (its record)', () => logIndexed.put('indexed-large', new Uint8Array(30 * KiB))],
    ['a delete of a large object (its entry written in its commit)', () => logIndexed.delete('indexed-large')],
  ])('on the change log, %s is a ConfigError naming it', async (_name, call) => {
    expectIndexError(await rejectionOf(call), () => logTable);
  });

  test('the objects API answers a large PUT 500, the error logged', async () => {
    const logged: unknown[] = [];
    const event = httpEvent('PUT', '/objects/k', { body: 'x'.repeat(20 * KiB), headers: { 'content-type': 'text/plain' } });
    const response = await handleObjectsRequest(objectsIndexed, event, { onError: (err) => logged.push(err) });
    expect(response.statusCode).toBe(500);
    expect(logged[0]).toBeInstanceOf(ConfigError);
  });
});
