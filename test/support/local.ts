/**
 * Test fixtures against the local stack: a fresh, provisioned configuration per test file (own
 * tables and bucket, so files run in parallel without seeing each other), and raw readers that
 * check the invariants from outside the library.
 */
import { randomBytes } from 'node:crypto';
import { CreateTableCommand, DescribeTableCommand, type DynamoDBClient, PutItemCommand, paginateScan } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { TierlogConfig } from '../../lib/config.js';
import { provisionLocal } from '../../lib/local/provision.js';
import { listBlobs, scanTable } from '../../lib/drill/invariants.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export function testConfig(overrides: Partial<TierlogConfig> = {}): TierlogConfig {
  return {
    changeLogTable: uniqueName('changelog'),
    objectsTable: uniqueName('objects'),
    bucket: uniqueName('bucket'),
    prefix: 'blobs',
    leaseShards: 4,
    ...overrides,
  };
}

export interface Fixture {
  readonly config: TierlogConfig;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
}

/** A provisioned configuration with its own tables and bucket. */
export async function freshFixture(overrides: Partial<TierlogConfig> = {}): Promise<Fixture> {
  const config = testConfig(overrides);
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  await provisionLocal(config, { dynamodb, s3 });
  return { config, dynamodb, s3 };
}

/**
 * A table beside the fixture's, `<objects table>-empty`, with the objects table's key (`key`) and
 * no index and no item: an empty objects table, or a table of another kind named as the change log.
 */
export async function emptyTable(fx: Fixture): Promise<string> {
  const name = `${fx.config.objectsTable}-empty`;
  await fx.dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'key', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'key', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  return name;
}

/**
 * A copy of the fixture's table `source`, `<source>-copy`: its key, its indexes and its items as
 * they are now. Another deployment's table of the same kind (a staging copy), for the mistake of
 * naming it for the other table of this store: a configuration cannot name one table for both.
 */
export async function copyTable(fx: Fixture, source: string): Promise<string> {
  const name = `${source}-copy`;
  const { Table: table } = await fx.dynamodb.send(new DescribeTableCommand({ TableName: source }));
  const indexes = (table?.GlobalSecondaryIndexes ?? []).map(({ IndexName, KeySchema, Projection }) => ({
    IndexName,
    KeySchema,
    Projection,
  }));
  await fx.dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: table?.AttributeDefinitions,
      KeySchema: table?.KeySchema,
      ...(indexes.length > 0 ? { GlobalSecondaryIndexes: indexes } : {}),
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  for await (const page of paginateScan({ client: fx.dynamodb }, { TableName: source, ConsistentRead: true })) {
    for (const item of page.Items ?? []) await fx.dynamodb.send(new PutItemCommand({ TableName: name, Item: item }));
  }
  return name;
}

/** Every item of a table, read raw (full scan, consistent). */
export const scanAll = scanTable;

/** Every key in the bucket (under `prefix` when given). */
export const listKeys = (s3: S3Client, bucket: string, prefix?: string): Promise<string[]> => listBlobs(s3, bucket, prefix);

/** Every key under the fixture's prefix (`<prefix>/`), in the bucket's listing order. */
export const prefixKeys = (fx: Fixture): Promise<string[]> => listBlobs(fx.s3, fx.config.bucket, `${fx.config.prefix}/`);
