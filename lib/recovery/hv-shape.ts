/**
 * The audits' check that they understand the objects-table items they are about to act on (the
 * rule is hv-item-shape.ts's): read consistently, after the audit's own HV read, only for the
 * objects whose blobs it is about to call orphans; the body is projected (a read costs the item's
 * full size whatever the projection).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetConsistent } from '../aws/batch-get.js';
import { documentClient } from '../aws/clients.js';
import { translateAwsError } from '../aws/errors.js';
import { type HvShapeNames, unrecognisedHvItemReason } from '../tiered/hv-item-shape.js';

/**
 * The first of `objectIds` whose item exists and is not understood, with why; undefined when
 * every one is absent or understood.
 */
export async function unrecognisedHvItem(
  dynamodb: DynamoDBClient,
  table: string,
  a: HvShapeNames,
  objectIds: readonly string[],
): Promise<string | undefined> {
  for (const why of (await unrecognisedHvItems(dynamodb, table, a, objectIds)).values()) return why;
  return undefined;
}

/**
 * Each of `objectIds` whose item exists and is not understood, with why (in the order read); the
 * absent and the understood are not in it.
 */
export async function unrecognisedHvItems(
  dynamodb: DynamoDBClient,
  table: string,
  a: HvShapeNames,
  objectIds: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const names = { '#k': a.key, '#b': a.blob, '#y': a.body, '#d': a.deleted };
  await batchGetConsistent(documentClient(dynamodb), table, a.key, objectIds, names, (item) => {
    const why = unrecognisedHvItemReason(item, a);
    if (why !== undefined) out.set(String(item[a.key]), why);
  });
  return out;
}

/**
 * A sample of the objects table (one Scan page of `limit` items), checked as above: why the
 * first item not understood is not, or undefined. Commands that act on HV's word (`tierlog
 * sweep`) run it first, so attribute names that are not the writers' stop them before anything.
 */
export async function sampleHvItems(dynamodb: DynamoDBClient, table: string, a: HvShapeNames, limit = 25): Promise<string | undefined> {
  let out;
  try {
    out = await documentClient(dynamodb).send(new ScanCommand({ TableName: table, Limit: limit }));
  } catch (err) {
    throw translateAwsError(err, { operation: 'Scan', table });
  }
  for (const item of out.Items ?? []) {
    const why = unrecognisedHvItemReason(item, a);
    if (why !== undefined) return why;
  }
  return undefined;
}
