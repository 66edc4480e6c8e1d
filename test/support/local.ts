/**
 * Test fixtures against the local stack: a fresh, provisioned configuration per test file (own
 * tables and bucket, so files run in parallel without seeing each other), and raw readers that
 * check the invariants from outside the library.
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { TierlogConfig } from '../../lib/config.js';
import { provisionLocal } from '../../lib/local/provision.js';
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

/** Every item of a table, read raw (full scan, consistent). */
export async function scanAll(dynamodb: DynamoDBClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, any> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey }));
    for (const item of page.Items ?? []) items.push(unmarshall(item));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined);
  return items;
}

/** Every key in the bucket (under `prefix` when given). */
export async function listKeys(s3: S3Client, bucket: string, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken !== undefined);
  return keys;
}
