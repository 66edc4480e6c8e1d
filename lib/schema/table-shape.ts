/**
 * A table's shape against one of tierlog's schemas (`tables.ts`): the CreateTable request a schema
 * makes, and what a table that exists lacks of it. Read by `provisionLocal` for a table it finds
 * (DescribeTable's answer) and by the CDK construct's parts for a table of the user's app (its
 * CloudFormation properties, `infra/readable-table.ts`): one rule for both.
 */
import type { CreateTableCommandInput, TableDescription } from '@aws-sdk/client-dynamodb';
import type { TableSchema } from './tables.js';

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

/**
 * What `existing` lacks of the table `input` would create, or undefined when it has it all: the
 * same key (names, key types and attribute types), and each index of `input` with the same key and
 * the non-key attributes projected. Another billing mode, more indexes or more projected
 * attributes are taken.
 */
export function schemaMismatch(existing: TableDescription, input: CreateTableCommandInput): string | undefined {
  const typeOf = (definitions: CreateTableCommandInput['AttributeDefinitions'], name: string | undefined) =>
    definitions?.find((d) => d.AttributeName === name)?.AttributeType;
  const keyOf = (schema: CreateTableCommandInput['KeySchema'], definitions: CreateTableCommandInput['AttributeDefinitions']): string =>
    (schema ?? []).map((k) => `${k.AttributeName} ${typeOf(definitions, k.AttributeName)} ${k.KeyType}`).join(', ');
  const wantedKey = keyOf(input.KeySchema, input.AttributeDefinitions);
  const hasKey = keyOf(existing.KeySchema, existing.AttributeDefinitions);
  if (hasKey !== wantedKey) return `its key is (${hasKey}), not (${wantedKey})`;
  for (const index of input.GlobalSecondaryIndexes ?? []) {
    const found = existing.GlobalSecondaryIndexes?.find((i) => i.IndexName === index.IndexName);
    if (found === undefined) return `it has no index ${index.IndexName}`;
    const wanted = keyOf(index.KeySchema, input.AttributeDefinitions);
    const has = keyOf(found.KeySchema, existing.AttributeDefinitions);
    if (has !== wanted) return `its index ${index.IndexName} has the key (${has}), not (${wanted})`;
    const projected = found.Projection?.ProjectionType === 'ALL' ? undefined : new Set(found.Projection?.NonKeyAttributes ?? []);
    const missing = (index.Projection?.NonKeyAttributes ?? []).filter((name) => projected !== undefined && !projected.has(name));
    if (missing.length > 0) return `its index ${index.IndexName} does not project ${missing.join(', ')}`;
  }
  return undefined;
}
