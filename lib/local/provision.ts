/**
 * Creates what tierlog needs on a local stack (or a scratch account): both tables, from the one
 * schema in `lib/schema/tables.ts`, and the bucket. Idempotent: what exists is left alone.
 * Production resources come from the CDK construct in `infra/`, not from here.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { hvAttributeNames, type TierlogConfig } from '../config.js';
import { changeLogTableSchema, objectsTableSchema, type TableSchema } from '../schema/tables.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { awsErrorName } from '../aws/errors.js';

/** The CreateTable request for `schema` under `tableName` (on-demand billing). */
export function createTableInput(schema: TableSchema, tableName: string): CreateTableCommandInput {
  const attributes = new Map<string, string>();
  const keys = [schema.partitionKey, schema.sortKey, ...schema.globalSecondaryIndexes.flatMap((i) => [i.partitionKey, i.sortKey])];
  for (const key of keys) if (key !== undefined) attributes.set(key.name, key.type);
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({
      AttributeName,
      AttributeType: AttributeType as 'S' | 'N' | 'B',
    })),
    KeySchema: [
      { AttributeName: schema.partitionKey.name, KeyType: 'HASH' },
      ...(schema.sortKey ? [{ AttributeName: schema.sortKey.name, KeyType: 'RANGE' as const }] : []),
    ],
    ...(schema.globalSecondaryIndexes.length > 0
      ? {
          GlobalSecondaryIndexes: schema.globalSecondaryIndexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: [
              { AttributeName: index.partitionKey.name, KeyType: 'HASH' as const },
              ...(index.sortKey ? [{ AttributeName: index.sortKey.name, KeyType: 'RANGE' as const }] : []),
            ],
            Projection: { ProjectionType: 'INCLUDE' as const, NonKeyAttributes: [...index.nonKeyAttributes] },
          })),
        }
      : {}),
  };
}

/** Creates the change-log table, the objects table and the bucket where missing. */
export async function provisionLocal(config: TierlogConfig, clients: { dynamodb?: DynamoDBClient; s3?: S3Client } = {}): Promise<void> {
  const dynamodb = clients.dynamodb ?? createDynamoDBClient();
  const s3 = clients.s3 ?? createS3Client();
  try {
    await Promise.all([
      ensureTable(dynamodb, createTableInput(changeLogTableSchema, config.changeLogTable)),
      // The partition key follows the configured name of the key attribute.
      ensureTable(
        dynamodb,
        createTableInput(
          { ...objectsTableSchema, partitionKey: { ...objectsTableSchema.partitionKey, name: hvAttributeNames(config).key } },
          config.objectsTable,
        ),
      ),
      ensureBucket(s3, config.bucket),
    ]);
  } finally {
    if (clients.dynamodb === undefined) dynamodb.destroy();
    if (clients.s3 === undefined) s3.destroy();
  }
}

async function ensureTable(client: DynamoDBClient, input: CreateTableCommandInput): Promise<void> {
  const TableName = input.TableName!;
  try {
    await client.send(new DescribeTableCommand({ TableName }));
    return;
  } catch (err) {
    if (awsErrorName(err) !== 'ResourceNotFoundException') throw err;
  }
  try {
    await client.send(new CreateTableCommand(input));
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName });
}

async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    const name = awsErrorName(err);
    if (name !== 'NotFound' && name !== 'NoSuchBucket') throw err;
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = awsErrorName(err);
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}
