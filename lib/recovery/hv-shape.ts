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
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetConsistent } from '../aws/batch-get.js';
import { documentClient } from '../aws/clients.js';
import { translateAwsError } from '../aws/errors.js';
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
  let why: string | undefined;
  await batchGetConsistent(documentClient(dynamodb), table, a.key, objectIds, [a.key, a.blob, a.body, a.deleted], (item) => {
    why ??= notUnderstood(item, a);
  });
  return why;
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
