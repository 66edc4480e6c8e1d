/**
 * Consistent reads of many items of one table by key: `BatchGetItem` in batches of 100 keys,
 * the keys DynamoDB leaves unprocessed sent again with jittered backoff until all are read, AWS
 * errors translated once here. Under throttling DynamoDB reads some keys of a request and leaves
 * the rest: a batch read a few keys a request takes as many requests as it needs, and gives up
 * only after 8 retries in a row that read none of it. The one loop every batched read of the objects table uses (the
 * sweeper's and the stream function's pointer reads, the audits' shape check and the snapshot
 * audit's re-verification). The SDK retries a failed request but not a request's unprocessed
 * keys, and lib-dynamodb has no batch helper: written here, once.
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DYNAMODB_BATCH_GET } from '../constants.js';
import { TierlogError } from '../errors.js';
import { sleepBackoff } from './backoff.js';
import { translateAwsError } from './errors.js';

/** Sends in a row of one batch's unprocessed keys that read none of them, before giving up. */
const MAX_UNPROCESSED_RETRIES = 8;

/**
 * Calls `onItem` for every item found among `keys` (values of the partition key
 * `keyAttribute`; a key given twice is read once), projected to the attributes `names` maps its
 * placeholders (`#x`) to. Keys with no item are not reported. Throws a translated AWS error, or a
 * {@link TierlogError} when a batch keeps coming back unprocessed whole (no key of it read).
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
    // Requests in a row that read none of the pending keys.
    let fruitless = 0;
    for (let sent = 0; pending.length > 0; sent++) {
      if (fruitless > MAX_UNPROCESSED_RETRIES) {
        throw new TierlogError(
          `BatchGetItem on ${table} left ${pending.length} keys unprocessed after ${MAX_UNPROCESSED_RETRIES} retries that read none of them`,
        );
      }
      if (sent > 0) await sleepBackoff(Math.max(1, fruitless), 25);
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
      const left = (out.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
      // A request that read some of the keys is progress: the count of fruitless ones starts over.
      fruitless = left.length < pending.length ? 0 : fruitless + 1;
      pending = left;
    }
  }
}
