/**
 * The table schemas of `lib/schema/tables.ts` (the one definition `provisionLocal` also reads)
 * turned into DynamoDB `TableV2` resources. A key or index change there follows here.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import type { IndexSchema, KeyAttribute, KeyType, TableSchema } from '../lib/schema/tables.js';

const ATTRIBUTE_TYPE: Record<KeyType, dynamodb.AttributeType> = {
  S: dynamodb.AttributeType.STRING,
  N: dynamodb.AttributeType.NUMBER,
  B: dynamodb.AttributeType.BINARY,
};

/** A schema key as a CDK attribute. */
export function toAttribute(key: KeyAttribute): dynamodb.Attribute {
  return { name: key.name, type: ATTRIBUTE_TYPE[key.type] };
}

/** A schema index as a `TableV2` global secondary index (projection INCLUDE, as locally). */
export function toGlobalSecondaryIndex(index: IndexSchema): dynamodb.GlobalSecondaryIndexPropsV2 {
  return {
    indexName: index.indexName,
    partitionKey: toAttribute(index.partitionKey),
    ...(index.sortKey ? { sortKey: toAttribute(index.sortKey) } : {}),
    projectionType: dynamodb.ProjectionType.INCLUDE,
    nonKeyAttributes: [...index.nonKeyAttributes],
  };
}

/** Options of {@link schemaTable}. */
export interface SchemaTableOptions {
  /**
   * What happens to the table when it leaves the stack. `SNAPSHOT` is refused (CloudFormation
   * snapshots no DynamoDB table: it deletes it).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Refuse `DeleteTable` (also from the console or the CLI).
   *
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * The table's stream (what the expiry cleanup reads).
   *
   * @default - no stream
   */
  readonly dynamoStream?: dynamodb.StreamViewType;
  /**
   * The attribute DynamoDB TTL deletes items by (epoch seconds).
   *
   * @default - TTL off
   */
  readonly timeToLiveAttribute?: string;
}

/** The removal policies CloudFormation applies to every resource of tierlog's (tables, buckets, log groups). */
const REMOVAL_POLICIES: readonly unknown[] = [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE];

/**
 * Refuses a removal policy (prop `prop`) that no resource of tierlog's takes: `SNAPSHOT`, which
 * CloudFormation honours on volumes and databases only (not a DynamoDB table, an S3 bucket or a
 * log group). An app without CDK's `@aws-cdk/core:validateSnapshotRemovalPolicy` flag (an older
 * `cdk.json`) deployed it, and CloudFormation deleted the resource instead of taking a snapshot:
 * `cdk destroy` (or a resource leaving the stack) deleted the change log and the objects, which the
 * user meant to keep a copy of. With the flag, CDK refused it naming the resource type, not the
 * prop. Another value (a CDK context value that is no `RemovalPolicy`) is refused too.
 *
 * @throws Error naming `prop`.
 */
export function checkRemovalPolicy(value: unknown, prop: string): void {
  if (value === undefined || REMOVAL_POLICIES.includes(value)) return;
  if (value === RemovalPolicy.SNAPSHOT) {
    throw new Error(
      `${prop} RemovalPolicy.SNAPSHOT: CloudFormation takes no snapshot of a DynamoDB table, an S3 bucket or a log group, it deletes them instead (your data with them); keep RETAIN (the default) and copy the tables with point-in-time recovery or AWS Backup`,
    );
  }
  throw new Error(`${prop} must be RemovalPolicy.RETAIN, DESTROY or RETAIN_ON_UPDATE_OR_DELETE, got ${JSON.stringify(value)}`);
}

/**
 * A `TableV2` for `schema`: on-demand billing, point-in-time recovery, deletion protection,
 * AWS-owned encryption, retained on stack deletion (all by default).
 */
export function schemaTable(scope: Construct, id: string, schema: TableSchema, options: SchemaTableOptions = {}): dynamodb.TableV2 {
  checkRemovalPolicy(options.removalPolicy, 'removalPolicy');
  return new dynamodb.TableV2(scope, id, {
    partitionKey: toAttribute(schema.partitionKey),
    ...(schema.sortKey ? { sortKey: toAttribute(schema.sortKey) } : {}),
    globalSecondaryIndexes: schema.globalSecondaryIndexes.map(toGlobalSecondaryIndex),
    billing: dynamodb.Billing.onDemand(),
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    deletionProtection: options.deletionProtection ?? true,
    encryption: dynamodb.TableEncryptionV2.dynamoOwnedKey(),
    removalPolicy: options.removalPolicy ?? RemovalPolicy.RETAIN,
    ...(options.dynamoStream !== undefined ? { dynamoStream: options.dynamoStream } : {}),
    ...(options.timeToLiveAttribute !== undefined ? { timeToLiveAttribute: options.timeToLiveAttribute } : {}),
  });
}
