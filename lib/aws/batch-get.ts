/**
 * Consistent reads of many items of one table by key: `BatchGetItem` in batches of 100 keys,
 * the keys DynamoDB leaves unprocessed sent again with jittered backoff (at most 8 times), AWS
 * errors translated once here. The one loop the sweeper's HV reads, the audits' shape check and
 * the snapshot audit's re-verification share.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DYNAMODB_BATCH_GET } from '../constants.js';
import { TierlogError } from '../errors.js';
import { translateAwsError } from './errors.js';

/**
 * Calls `onItem` for every item found among `keys` (values of the partition key `keyAttribute`),
 * projected to `attributes`. Keys with no item are not reported.
 */
export async function batchGetConsistent(
  doc: DynamoDBDocumentClient,
  table: string,
  keyAttribute: string,
  keys: readonly string[],
  attributes: readonly string[],
  onItem: (item: Record<string, unknown>) => void,
): Promise<void> {
  const names = Object.fromEntries(attributes.map((name, i) => [`#a${i}`, name]));
  const projection = Object.keys(names).join(', ');
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += DYNAMODB_BATCH_GET) {
    let pending: Record<string, unknown>[] = unique.slice(i, i + DYNAMODB_BATCH_GET).map((k) => ({ [keyAttribute]: k }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new TierlogError(`BatchGetItem on ${table} left ${pending.length} keys unprocessed`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** attempt) * Math.random()));
      let out;
      try {
        out = await doc.send(
          new BatchGetCommand({
            RequestItems: {
              [table]: { Keys: pending, ConsistentRead: true, ProjectionExpression: projection, ExpressionAttributeNames: names },
            },
          }),
        );
      } catch (err) {
        throw translateAwsError(err, { operation: 'BatchGetItem', table });
      }
      for (const item of out.Responses?.[table] ?? []) onItem(item);
      pending = (out.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
  }
}
