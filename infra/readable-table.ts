/**
 * Reading a DynamoDB table's settings at synth, for the checks that refuse a table of the user's
 * tierlog cannot work with (`own-objects-table.ts`, `change-log-table.ts`). A table resource of
 * this app (a `TableV2` or a `Table` defined in CDK) has its CloudFormation properties to read; an
 * imported one (`fromTableAttributes`, `fromTableName`) has none, and every check takes it as
 * documented.
 */
import { Stack, Token } from 'aws-cdk-lib';
import type { TableDescription } from '@aws-sdk/client-dynamodb';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';

type Pitr = { pointInTimeRecoveryEnabled?: boolean } | undefined;

/** A key schema, as CloudFormation writes it (the table's and each index's). */
export type KeySchema = Array<{ attributeName: string; keyType: string }>;

/** The properties the checks read, common to `AWS::DynamoDB::Table` and `AWS::DynamoDB::GlobalTable`. */
export interface ReadableTableProps {
  /** `AWS::DynamoDB::Table`. */
  readonly pointInTimeRecoverySpecification?: Pitr;
  /** `AWS::DynamoDB::GlobalTable` (`TableV2`): per replica. */
  readonly replicas?: Array<{ region?: string; pointInTimeRecoverySpecification?: Pitr }>;
  readonly keySchema?: KeySchema;
  readonly attributeDefinitions?: Array<{ attributeName: string; attributeType: string }>;
  readonly globalSecondaryIndexes?: Array<{
    indexName: string;
    keySchema: KeySchema;
    projection?: { projectionType?: string; nonKeyAttributes?: string[] };
  }>;
  readonly streamSpecification?: { streamViewType?: string };
  readonly timeToLiveSpecification?: { attributeName?: string; enabled?: boolean };
}

/** A table resource of this app, its properties readable. */
export interface ReadableTable {
  readonly type: 'AWS::DynamoDB::GlobalTable' | 'AWS::DynamoDB::Table';
  readonly props: ReadableTableProps;
  /** Resolves a property's value (a token to what CloudFormation receives). */
  readonly read: <T>(value: T) => T;
}

/**
 * The CloudFormation properties of `table` when it is a table resource of this app, with its type
 * and `read`; undefined for an imported table, whose settings cannot be read.
 */
export function readableTable(table: dynamodb.ITableV2): ReadableTable | undefined {
  const resource = table.node.defaultChild as { cfnResourceType?: string } | undefined;
  const type = resource?.cfnResourceType;
  if (type !== 'AWS::DynamoDB::GlobalTable' && type !== 'AWS::DynamoDB::Table') return undefined;
  const stack = Stack.of(table);
  return { type, props: resource as unknown as ReadableTableProps, read: <T>(value: T): T => stack.resolve(value) as T };
}

/**
 * `readable`'s key, attributes and indexes as DynamoDB would describe the table once deployed
 * (DescribeTable's answer), for `schemaMismatch` (`lib/schema/table-shape.ts`), the rule
 * `provisionLocal` judges a table it finds by.
 */
export function describedAs(readable: ReadableTable): TableDescription {
  const { props, read } = readable;
  const keySchema = (keys: KeySchema | undefined) =>
    (read(keys) ?? []).map((k) => ({ AttributeName: k.attributeName, KeyType: k.keyType as 'HASH' | 'RANGE' }));
  return {
    KeySchema: keySchema(props.keySchema),
    AttributeDefinitions: (read(props.attributeDefinitions) ?? []).map((d) => ({
      AttributeName: d.attributeName,
      AttributeType: d.attributeType as 'S' | 'N' | 'B',
    })),
    GlobalSecondaryIndexes: (read(props.globalSecondaryIndexes) ?? []).map((index) => {
      const projection = read(index.projection);
      return {
        IndexName: read(index.indexName),
        KeySchema: keySchema(index.keySchema),
        Projection: {
          ...(projection?.projectionType !== undefined
            ? { ProjectionType: projection.projectionType as 'ALL' | 'INCLUDE' | 'KEYS_ONLY' }
            : {}),
          ...(projection?.nonKeyAttributes !== undefined ? { NonKeyAttributes: read(projection.nonKeyAttributes) } : {}),
        },
      };
    }),
  };
}

/**
 * The type (`S`, `N`, `B`) `readable` declares for `attribute`; undefined when it declares none.
 */
export function attributeTypeOf(readable: ReadableTable, attribute: string | undefined): string | undefined {
  return readable.read(readable.props.attributeDefinitions)?.find((d) => d.attributeName === attribute)?.attributeType;
}

/**
 * What is wrong with the key of `table` for a table keyed by the string attribute `key` alone
 * (`setting` names where that comes from): undefined when it is, or when the table cannot be read
 * (imported).
 */
export function stringKeyProblem(table: dynamodb.ITableV2, key: string, setting: string): string | undefined {
  const readable = readableTable(table);
  if (readable === undefined) return undefined;
  const keys = readable.read(readable.props.keySchema) ?? [];
  const hash = keys.find((k) => k.keyType === 'HASH');
  const hashType = attributeTypeOf(readable, hash?.attributeName);
  if (hash?.attributeName === key && hashType === 'S' && keys.length === 1) return undefined;
  return `its key must be the string partition key "${key}" (${setting}) alone, not ${keys.map((k) => `${k.keyType} "${k.attributeName}"`).join(' + ') || 'none'}${hashType !== undefined && hashType !== 'S' ? ` (type ${hashType})` : ''}`;
}

/**
 * The regions `readable` (a table of this app) lives in: a `TableV2`'s replicas, or a `Table`'s
 * stack region and the regions it replicates to with `replicationRegions` (CDK makes each such
 * replica a custom resource under the table, `Custom::DynamoDBReplica` named `Replica<region>`,
 * not a property of the table resource).
 */
export function regionsOf(table: dynamodb.ITableV2, readable: ReadableTable): string[] {
  if (readable.type === 'AWS::DynamoDB::GlobalTable') return (readable.read(readable.props.replicas) ?? []).map((r) => r.region ?? '?');
  const stack = Stack.of(table);
  const replicas = table.node.children
    .filter((child) => (child.node.defaultChild as { cfnResourceType?: string } | undefined)?.cfnResourceType === 'Custom::DynamoDBReplica')
    .map((child) => child.node.id.replace(/^Replica/, ''));
  return [Token.isUnresolved(stack.region) ? "the stack's" : stack.region, ...replicas];
}

/**
 * Whether `table` has point-in-time recovery (in every replica, for a `TableV2`), when it is a
 * resource of this app whose setting is a literal; undefined for an imported table, whose settings
 * cannot be read.
 */
export function pointInTimeRecoveryOf(table: dynamodb.ITableV2): boolean | undefined {
  const readable = readableTable(table);
  if (readable === undefined) return undefined;
  const { type, props, read } = readable;
  const specs: Pitr[] =
    type === 'AWS::DynamoDB::Table'
      ? [read(props.pointInTimeRecoverySpecification)]
      : (read(props.replicas) ?? [{}]).map((r) => r.pointInTimeRecoverySpecification);
  return specs.every((p) => p?.pointInTimeRecoveryEnabled === true);
}
