/**
 * Whether the audits understand the objects-table items they are about to act on. An item that
 * exists but has none of the configured attributes that say what it is (a string `blob`, a
 * `body`, a `deleted` marker) is read with the wrong attribute names (`TIERLOG_HV_ATTRIBUTES`
 * not as the writers', or another table): its blob would look unreferenced. An audit that meets
 * one deletes nothing (never delete on a guess).
 *
 * Read consistently, after the audit's own HV read, only for the objects whose blobs it is about
 * to call orphans; the body is projected (a read costs the item's full size whatever the
 * projection).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../aws/clients.js';
import { translateAwsError } from '../aws/errors.js';
import { DYNAMODB_BATCH_GET } from '../constants.js';
import { TierlogError } from '../errors.js';
import type { HvAttributeNames } from '../tiered/hv-table.js';

/**
 * The first of `objectIds` whose item exists and is not understood (see the module doc), with
 * why; undefined when every one is absent or understood.
 */
export async function unrecognisedHvItem(
  dynamodb: DynamoDBClient,
  table: string,
  a: Pick<HvAttributeNames, 'key' | 'blob' | 'body' | 'deleted'>,
  objectIds: readonly string[],
): Promise<string | undefined> {
  const doc = documentClient(dynamodb);
  const unique = [...new Set(objectIds)];
  for (let i = 0; i < unique.length; i += DYNAMODB_BATCH_GET) {
    let pending: Record<string, unknown>[] = unique.slice(i, i + DYNAMODB_BATCH_GET).map((k) => ({ [a.key]: k }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new TierlogError(`BatchGetItem on ${table} left ${pending.length} keys unprocessed`);
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** attempt) * Math.random()));
      let out;
      try {
        out = await doc.send(
          new BatchGetCommand({
            RequestItems: {
              [table]: {
                Keys: pending,
                ConsistentRead: true,
                ProjectionExpression: '#k, #b, #y, #d',
                ExpressionAttributeNames: { '#k': a.key, '#b': a.blob, '#y': a.body, '#d': a.deleted },
              },
            },
          }),
        );
      } catch (err) {
        throw translateAwsError(err, { operation: 'BatchGetItem', table });
      }
      for (const item of out.Responses?.[table] ?? []) {
        const why = notUnderstood(item, a);
        if (why !== undefined) return why;
      }
      pending = (out.UnprocessedKeys?.[table]?.Keys as Record<string, unknown>[] | undefined) ?? [];
    }
  }
  return undefined;
}

/**
 * A sample of the objects table (one Scan page of `limit` items), checked as above: why the
 * first item not understood is not, or undefined. Commands that act on HV's word (`tierlog
 * sweep`) run it first, so attribute names that are not the writers' stop them before anything.
 */
export async function sampleHvItems(
  dynamodb: DynamoDBClient,
  table: string,
  a: Pick<HvAttributeNames, 'key' | 'blob' | 'body' | 'deleted'>,
  limit = 25,
): Promise<string | undefined> {
  let out;
  try {
    out = await documentClient(dynamodb).send(new ScanCommand({ TableName: table, Limit: limit }));
  } catch (err) {
    throw translateAwsError(err, { operation: 'Scan', table });
  }
  for (const item of out.Items ?? []) {
    const why = notUnderstood(item, a);
    if (why !== undefined) return why;
  }
  return undefined;
}

function notUnderstood(item: Record<string, unknown>, a: Pick<HvAttributeNames, 'key' | 'blob' | 'body' | 'deleted'>): string | undefined {
  const blob = item[a.blob];
  const says = typeof blob === 'string' || item[a.body] !== undefined || item[a.deleted] === true;
  if (typeof item[a.key] === 'string' && says && (blob === undefined || typeof blob === 'string')) return undefined;
  const key = item[a.key] === undefined ? `(no "${a.key}" attribute)` : JSON.stringify(String(item[a.key]));
  return (
    `objects-table item ${key} has none of the attributes the configuration names ` +
    `(key "${a.key}", blob "${a.blob}" as a string, body "${a.body}", deleted "${a.deleted}"): ` +
    "TIERLOG_HV_ATTRIBUTES must be the writers' (or the table is not theirs)"
  );
}
