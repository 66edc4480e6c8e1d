/**
 * Consistent reads of many items of one table by key: `BatchGetItem` in batches of 100 keys,
 * the keys DynamoDB leaves unprocessed sent again with jittered backoff (at most 8 times), AWS
 * errors translated once here. The one loop every batched read of the objects table uses (the
 * sweeper's and the stream function's pointer reads, the audits' shape check and the snapshot
 * audit's re-verification). The SDK retries a failed request but not a request's unprocessed
 * keys, and lib-dynamodb has no batch helper: written here, once.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DYNAMODB_BATCH_GET } from '../constants.js';
import { TierlogError } from '../errors.js';
import { sleepBackoff } from './backoff.js';
import { translateAwsError } from './errors.js';

/** Sends of one batch's unprocessed keys before giving up. */
const MAX_UNPROCESSED_RETRIES = 8;

/**
 * Calls `onItem` for every item found among `keys` (values of the partition key
 * `keyAttribute`; a key given twice is read once), projected to the attributes `names` maps its
 * placeholders (`#x`) to. Keys with no item are not reported. Throws a translated AWS error, or a
 * {@link TierlogError} when a batch keeps coming back unprocessed.
 */
export async function batchGetConsistent(
  doc: DynamoDBDocumentClient,
  table: string,
  keyAttribute: string,
  keys: readonly string[],
  names: Readonly<Record<`#${string}`, string>>,
  onItem: (item: Record<string, unknown>) => void,
): Promise<void> {
  const projection = Object.keys(names).join(', ');
  const unique = [...new Set(keys)];
  for (let i = 0; i < unique.length; i += DYNAMODB_BATCH_GET) {
    let pending: Record<string, unknown>[] = unique.slice(i, i + DYNAMODB_BATCH_GET).map((k) => ({ [keyAttribute]: k }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > MAX_UNPROCESSED_RETRIES) {
        throw new TierlogError(`BatchGetItem on ${table} left ${pending.length} keys unprocessed after ${MAX_UNPROCESSED_RETRIES} retries`);
      }
      if (attempt > 0) await sleepBackoff(attempt, 25);
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
