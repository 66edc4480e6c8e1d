/**
 * `provisionLocal` against the local servers: creates both tables (the change-log table with the
 * `byLease` index) and the bucket, and is idempotent, also when two runs race. A table of the
 * name that exists with another schema is refused with a ConfigError, not taken as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { createTableInput, provisionLocal } from '../../lib/local/provision.js';
import { changeLogTableSchema, objectsTableSchema } from '../../lib/schema/tables.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { AccessDeniedError, ConfigError, ResourceMissingError } from '../../lib/errors.js';
import type { TierlogConfig } from '../../lib/config.js';
import { testConfig } from '../support/local.js';
import { s3AccessDenied } from '../../lib/faults/s3-answers.js';

let dynamodb: DynamoDBClient;
let s3: S3Client;

beforeAll(() => {
  dynamodb = createDynamoDBClient();
  s3 = createS3Client();
});

afterAll(() => {
  dynamodb?.destroy();
  s3?.destroy();
});

async function describeTable(name: string) {
  return (await dynamodb.send(new DescribeTableCommand({ TableName: name }))).Table!;
}

describe('provisionLocal', () => {
  it('refuses one table named for both the change log and the objects, naming both, before it makes anything', async () => {
    const config = testConfig();
    const one = { ...config, changeLogTable: config.objectsTable, hvAttributes: { key: 'pk' } };
    // Made for one and refused for the other as "of another schema" (delete this one, though this
    // call had made it), or, with the objects keyed by pk, taken for both when the change log's
    // table was made first: by chance.
    const error = await provisionLocal(one, { dynamodb, s3 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain('changeLogTable and objectsTable both name the table');
    expect((error as ConfigError).setting).toBe('objectsTable');
    await expect(describeTable(config.objectsTable)).rejects.toThrow(/not found|non-existent|ResourceNotFound/i);
  });

  it('refuses two table names that differ in case alone (one table to DynamoDB Local), naming both, before it makes anything', async () => {
    const config = testConfig();
    const cased = { ...config, changeLogTable: config.objectsTable.toUpperCase() };
    // Two tables to the configuration (and on AWS); DynamoDB Local failed the second CreateTable with a bare InternalFailure.
    const error = await provisionLocal(cased, { dynamodb, s3 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toContain(
      `changeLogTable "${cased.changeLogTable}" and objectsTable "${config.objectsTable}" differ in case alone`,
    );
    await expect(describeTable(config.objectsTable)).rejects.toThrow(/not found|non-existent|ResourceNotFound/i);
  });

  it('creates the change-log table with the byLease GSI (shard, leaseUntil) and INCLUDE projection', async () => {
    const config = testConfig();
    await provisionLocal(config, { dynamodb, s3 });
    const table = await describeTable(config.changeLogTable);
    expect(table.TableStatus).toBe('ACTIVE');
    expect(table.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(table.GlobalSecondaryIndexes).toHaveLength(1);
    const index = table.GlobalSecondaryIndexes![0]!;
    expect(index.IndexName).toBe('byLease');
    expect(index.KeySchema).toEqual([
      { AttributeName: 'shard', KeyType: 'HASH' },
      { AttributeName: 'leaseUntil', KeyType: 'RANGE' },
    ]);
    expect(index.Projection?.ProjectionType).toBe('INCLUDE');
    expect([...(index.Projection?.NonKeyAttributes ?? [])].sort()).toEqual(['claimedBy', 'state']);
    const types = Object.fromEntries((table.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]));
    expect(types).toEqual({ pk: 'S', shard: 'N', leaseUntil: 'N' });

    const objects = await describeTable(config.objectsTable);
    expect(objects.KeySchema).toEqual([{ AttributeName: 'key', KeyType: 'HASH' }]);
    expect(objects.GlobalSecondaryIndexes ?? []).toEqual([]);
    await expect(s3.send(new HeadBucketCommand({ Bucket: config.bucket }))).resolves.toBeDefined();
  });

  it('is idempotent: a second run succeeds and leaves existing data alone', async () => {
    const config = testConfig();
    await provisionLocal(config, { dynamodb, s3 });
    await dynamodb.send(new PutItemCommand({ TableName: config.changeLogTable, Item: { pk: { S: 'keep-me' } } }));
    await expect(provisionLocal(config, { dynamodb, s3 })).resolves.toBeUndefined();
    const kept = await dynamodb.send(
      new GetItemCommand({ TableName: config.changeLogTable, Key: { pk: { S: 'keep-me' } }, ConsistentRead: true }),
    );
    expect(kept.Item).toEqual({ pk: { S: 'keep-me' } });
  });

  it('two runs racing on the same names both succeed', async () => {
    const config = testConfig();
    await Promise.all([provisionLocal(config, { dynamodb, s3 }), provisionLocal(config, { dynamodb, s3 })]);
    expect((await describeTable(config.changeLogTable)).TableStatus).toBe('ACTIVE');
    expect((await describeTable(config.objectsTable)).TableStatus).toBe('ACTIVE');
  });

  it('uses clients from the environment when none are given, and releases them', async () => {
    const config = testConfig();
    await provisionLocal(config);
    expect((await describeTable(config.changeLogTable)).TableStatus).toBe('ACTIVE');
  });

  it('createTableInput maps the one schema definition to on-demand CreateTable requests', () => {
    const input = createTableInput(changeLogTableSchema, 'cl');
    expect(input).toMatchObject({ TableName: 'cl', BillingMode: 'PAY_PER_REQUEST' });
    expect(input.GlobalSecondaryIndexes?.[0]?.IndexName).toBe('byLease');
    const objects = createTableInput(objectsTableSchema, 'ob');
    expect(objects.AttributeDefinitions).toEqual([{ AttributeName: 'key', AttributeType: 'S' }]);
    expect(objects.GlobalSecondaryIndexes).toBeUndefined();
  });

  it('refuses an objects table keyed by another attribute (hvAttributes.key changed since it was made), and leaves it alone', async () => {
    const config = testConfig();
    await provisionLocal(config, { dynamodb, s3 });
    await dynamodb.send(new PutItemCommand({ TableName: config.objectsTable, Item: { key: { S: 'keep-me' } } }));
    const error = await provisionLocal({ ...config, hvAttributes: { key: 'id' } }, { dynamodb, s3 }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('objectsTable');
    expect((error as ConfigError).message).toContain('its key is (key S HASH), not (id S HASH)');
    const kept = await dynamodb.send(new GetItemCommand({ TableName: config.objectsTable, Key: { key: { S: 'keep-me' } } }));
    expect(kept.Item).toBeDefined();
  });

  it.each([
    ['a table name DynamoDB refuses', { changeLogTable: 'a b' }, 'changeLogTable'],
    ['a bucket name S3 refuses', { bucket: 'Bad_Bucket' }, 'bucket'],
    ['a misspelt setting', { hvAtributes: { key: 'id' } }, 'hvAtributes'],
  ])('refuses %s as every entry point does, a ConfigError naming it, before anything is made', async (_what, override, setting) => {
    const config = { ...testConfig(), ...override } as TierlogConfig;
    const refused = await provisionLocal(config, { dynamodb, s3 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).setting).toBe(setting);
    for (const table of [config.changeLogTable, config.objectsTable]) {
      await expect(describeTable(table), `${table}: not made`).rejects.toBeDefined();
    }
    await expect(s3.send(new HeadBucketCommand({ Bucket: config.bucket })), 'no bucket made').rejects.toBeDefined();
  });

  it('refuses no configuration with a ConfigError, as every entry point does', async () => {
    await expect(provisionLocal(undefined as unknown as TierlogConfig, { dynamodb, s3 })).rejects.toBeInstanceOf(ConfigError);
  });

  it('refuses a change-log table without the lease index, and the objects table named as the change log', async () => {
    const config = testConfig();
    await dynamodb.send(
      new CreateTableCommand({
        TableName: config.changeLogTable,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const noIndex = await provisionLocal(config, { dynamodb, s3 }).catch((err: unknown) => err);
    expect(noIndex).toBeInstanceOf(ConfigError);
    expect((noIndex as ConfigError).setting).toBe('changeLogTable');
    expect((noIndex as ConfigError).message).toContain('no index byLease');

    const fresh = testConfig();
    await provisionLocal(fresh, { dynamodb, s3 });
    const swapped = await provisionLocal(
      { ...fresh, changeLogTable: fresh.objectsTable, objectsTable: fresh.changeLogTable },
      { dynamodb, s3 },
    ).catch((err: unknown) => err);
    expect(swapped).toBeInstanceOf(ConfigError);
  });
});

describe("provisionLocal judges an existing change-log table's lease index", () => {
  /** A change-log table made by hand, its byLease index keyed by `keys` and projecting `projection`. */
  async function changeLogWith(keys: { shard: 'N' | 'S'; leaseUntil: 'N' | 'S'; swapped?: boolean }, projection: object) {
    const config = testConfig();
    const [hash, range] = keys.swapped ? ['leaseUntil', 'shard'] : ['shard', 'leaseUntil'];
    await dynamodb.send(
      new CreateTableCommand({
        TableName: config.changeLogTable,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'shard', AttributeType: keys.shard },
          { AttributeName: 'leaseUntil', AttributeType: keys.leaseUntil },
        ],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: 'byLease',
            KeySchema: [
              { AttributeName: hash, KeyType: 'HASH' },
              { AttributeName: range, KeyType: 'RANGE' },
            ],
            Projection: projection,
          },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    return provisionLocal(config, { dynamodb, s3 }).then(
      () => undefined,
      (err: unknown) => err,
    );
  }

  const INCLUDE = { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state', 'claimedBy'] };
  it.each<[string, Parameters<typeof changeLogWith>[0], object, string | undefined]>([
    ["the index's keys swapped (a lease query would find nothing)", { shard: 'N', leaseUntil: 'N', swapped: true }, INCLUDE, 'has the key'],
    ['the lease a string (ordered as text, not as time)', { shard: 'N', leaseUntil: 'S' }, INCLUDE, 'has the key'],
    // The sweeper reads an instance's state and claimant from the index: without them, a claimed
    // instance looks live.
    ['projecting keys only', { shard: 'N', leaseUntil: 'N' }, { ProjectionType: 'KEYS_ONLY' }, 'does not project state, claimedBy'],
    [
      'projecting the state only',
      { shard: 'N', leaseUntil: 'N' },
      { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state'] },
      'does not project claimedBy',
    ],
    ['projecting everything (more than needed: taken)', { shard: 'N', leaseUntil: 'N' }, { ProjectionType: 'ALL' }, undefined],
  ])('%s', async (_what, keys, projection, refusal) => {
    const error = await changeLogWith(keys, projection);
    if (refusal === undefined) {
      expect(error).toBeUndefined();
      return;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('changeLogTable');
    expect((error as ConfigError).message).toContain(refusal);
  });
});

describe('provisionLocal and a table of the name DynamoDB is still deleting', () => {
  it('waits until it is gone and makes it again, rather than waiting for it to become active', async () => {
    // DynamoDB Local deletes a table at once; AWS answers DELETING for a while after DeleteTable
    // (a test's teardown on a scratch account): the first DescribeTable of the objects table says so.
    const model = testConfig();
    await provisionLocal(model, { dynamodb, s3 });
    const config = testConfig();
    let deleting = 1;
    const client = createDynamoDBClient();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { TableName?: string };
        if (context.commandName !== 'DescribeTableCommand' || input.TableName !== config.objectsTable || deleting-- <= 0) return next(args);
        const answer = await next({ ...args, input: { ...input, TableName: model.objectsTable } });
        const table = (answer.output as { Table: TableDescription }).Table;
        return { ...answer, output: { ...answer.output, Table: { ...table, TableName: config.objectsTable, TableStatus: 'DELETING' } } };
      },
      { step: 'initialize', name: 'tableDeleting' },
    );
    try {
      const started = Date.now();
      await provisionLocal(config, { dynamodb: client, s3 });
      expect(Date.now() - started, 'no wait for a deleted table to become active').toBeLessThan(30_000);
      expect((await describeTable(config.objectsTable)).TableStatus).toBe('ACTIVE');
    } finally {
      client.destroy();
    }
  }, 90_000);
});

describe('provisionLocal and a bucket it may not read', () => {
  it('HeadBucket answered 403: the refusal is thrown (an AccessDeniedError) and no bucket is created (only a missing bucket is made)', async () => {
    const config = testConfig();
    const sent: string[] = [];
    const refusing = createS3Client();
    refusing.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(String(context.commandName));
        if (context.commandName === 'HeadBucketCommand') throw s3AccessDenied();
        return next(args);
      },
      { step: 'initialize', name: 'headBucketDenied' },
    );
    try {
      const error = await provisionLocal(config, { dynamodb, s3: refusing }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(AccessDeniedError);
      expect(((error as Error).cause as Error).name).toBe('AccessDenied');
      expect(sent).toEqual(['HeadBucketCommand']);
    } finally {
      refusing.destroy();
    }
  });

  it('rejects only once nothing of it is under way: the tables it was making are made, no request of it is sent after', async () => {
    const config = testConfig();
    const refusing = createS3Client();
    refusing.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'HeadBucketCommand') throw s3AccessDenied();
        return next(args);
      },
      { step: 'initialize', name: 'headBucketDenied' },
    );
    let settled = false;
    const sentAfter: string[] = [];
    const watched = createDynamoDBClient();
    watched.middlewareStack.add(
      (next, context) => async (args) => {
        if (settled) sentAfter.push(String(context.commandName));
        return next(args);
      },
      { step: 'initialize', name: 'sentAfterSettled' },
    );
    try {
      const error = await provisionLocal(config, { dynamodb: watched, s3: refusing }).catch((err: unknown) => err);
      settled = true;
      expect(error).toBeInstanceOf(AccessDeniedError);
      // The tables' requests, still under way when the bucket's failed, have ended: both tables are there.
      expect((await describeTable(config.changeLogTable)).TableStatus).toBe('ACTIVE');
      expect((await describeTable(config.objectsTable)).TableStatus).toBe('ACTIVE');
      expect(sentAfter).toEqual([]);
    } finally {
      watched.destroy();
      refusing.destroy();
    }
  });
});

/**
 * On AWS, HeadBucket of a bucket the credentials may not read answers a bare 403 (no body, so no
 * error name: bucket names are global, and `tierlog-blobs` may be another account's), and of a
 * bucket in another region than the client's a bare 301 naming its region in
 * `x-amz-bucket-region`. The S3 server answers neither: a server here answers as S3 does.
 */
describe('provisionLocal and a bucket S3 answers a bare 403 or 301 for', () => {
  let status = 403;
  const methods: string[] = [];
  let server: Server;
  let answering: S3Client;
  beforeAll(async () => {
    server = createServer((req, res) => {
      methods.push(String(req.method));
      req.resume();
      res.writeHead(status, status === 301 ? { 'x-amz-bucket-region': 'eu-west-1' } : {});
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    answering = new S3Client({
      region: 'us-west-2',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      forcePathStyle: true,
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    answering?.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('403: an AccessDeniedError naming HeadBucket and the bucket, saying the name may be another account’s; no bucket is made', async () => {
    status = 403;
    methods.length = 0;
    const config = testConfig();
    const error = await provisionLocal(config, { dynamodb, s3: answering }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error).toMatchObject({ operation: 'HeadBucket', resourceName: config.bucket });
    expect((error as Error).message).toContain('another account');
    expect(methods).toEqual(['HEAD']);
  });

  it('301: a ResourceMissingError naming the bucket’s region and AWS_REGION; no bucket is made', async () => {
    status = 301;
    methods.length = 0;
    const config = testConfig();
    const error = await provisionLocal(config, { dynamodb, s3: answering }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ResourceMissingError);
    expect(error).toMatchObject({ resource: 'bucket', resourceName: config.bucket });
    expect((error as Error).message).toContain('eu-west-1');
    expect((error as Error).message).toContain('AWS_REGION');
    expect(methods).toEqual(['HEAD']);
  });
});

/**
 * On AWS an index added to an existing table (UpdateTable, after provisionLocal refused the table
 * for want of it) is `CREATING` while DynamoDB backfills it, the table `ACTIVE` all along, and a
 * Query of it is refused ("Cannot read from backfilling global secondary index"): the sweeper's
 * every sweep. DynamoDB Local makes an index at once: the client here reports it `CREATING` to the
 * first two DescribeTable calls, as AWS would during a backfill.
 */
describe('provisionLocal and an existing table whose lease index DynamoDB is still backfilling', () => {
  it('resolves only once the index is ACTIVE, not while it is CREATING', async () => {
    const config = testConfig();
    await provisionLocal(config, { dynamodb, s3 });
    const statuses: string[] = [];
    const backfilling = createDynamoDBClient();
    backfilling.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'DescribeTableCommand') {
          const table = (out.output as { Table?: TableDescription }).Table;
          if (table?.TableName === config.changeLogTable) {
            const creating = statuses.length < 2;
            for (const index of table.GlobalSecondaryIndexes ?? []) if (creating) index.IndexStatus = 'CREATING';
            statuses.push(creating ? 'CREATING' : 'ACTIVE');
          }
        }
        return out;
      },
      { step: 'initialize', name: 'indexBackfilling' },
    );
    try {
      await provisionLocal(config, { dynamodb: backfilling, s3 });
      expect(statuses.at(-1)).toBe('ACTIVE');
      expect(statuses.slice(0, 2)).toEqual(['CREATING', 'CREATING']);
    } finally {
      backfilling.destroy();
    }
  }, 60_000);
});
