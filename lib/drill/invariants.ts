/**
 * The invariants of DESIGN.md, checked from outside the library: raw scans of both tables and a
 * listing of the bucket, no tierlog code in the way.
 *
 *  1. No loss: every blob HV references exists in LT.
 *  2. No leak: no blob under the prefix is unreferenced (except those named by quarantined or
 *     not-yet-due entries, which are reported apart).
 *  3. The log drains: no entries left in the change log.
 */
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { hvAttributeNames, type TierlogConfig } from '../config.js';
import { isEntryAttribute } from '../changelog/entry-codec.js';
import { unmarshallOptions } from '../aws/clients.js';

export interface InvariantReport {
  /** Objects in HV. */
  readonly objects: number;
  /** Blobs under the prefix. */
  readonly blobs: number;
  /** HV keys whose blob does not exist (invariant 1). */
  readonly lost: string[];
  /** Blobs no HV item references and no outstanding entry names (invariant 2). */
  readonly leaked: string[];
  /** Unreferenced blobs that an outstanding entry still names (to be settled by a sweep). */
  readonly pending: string[];
  /** Entries left in the change log (invariant 3 wants 0 after a final sweep). */
  readonly entries: number;
  /** Instance items left in the change log. */
  readonly instances: number;
  /** HV key -> blob key, for callers that check values. */
  readonly references: ReadonlyMap<string, string>;
}

export async function checkInvariants(args: { config: TierlogConfig; dynamodb: DynamoDBClient; s3: S3Client }): Promise<InvariantReport> {
  const { config, dynamodb, s3 } = args;
  const [objects, instances, blobs] = await Promise.all([
    scanTable(dynamodb, config.objectsTable),
    scanTable(dynamodb, config.changeLogTable),
    listBlobs(s3, config.bucket, `${config.prefix}/`),
  ]);
  const references = new Map<string, string>();
  const names = hvAttributeNames(config);
  for (const item of objects) {
    const blob = item[names.blob];
    if (typeof blob === 'string') references.set(String(item[names.key]), blob);
  }
  const named = new Set<string>();
  let entries = 0;
  for (const item of instances) {
    for (const [name, value] of Object.entries(item)) {
      if (!isEntryAttribute(name)) continue;
      entries++;
      const entry = value as { new?: unknown; old?: unknown };
      if (typeof entry?.new === 'string') named.add(entry.new);
      if (typeof entry?.old === 'string') named.add(entry.old);
    }
  }
  const existing = new Set(blobs);
  const referenced = new Set(references.values());
  const lost = [...references].filter(([, blob]) => !existing.has(blob)).map(([key]) => key);
  const unreferenced = blobs.filter((blob) => !referenced.has(blob));
  return {
    objects: objects.length,
    blobs: blobs.length,
    lost,
    leaked: unreferenced.filter((blob) => !named.has(blob)),
    pending: unreferenced.filter((blob) => named.has(blob)),
    entries,
    instances: instances.length,
    references,
  };
}

/** Every item of a table, read raw (full consistent scan). */
export async function scanTable(dynamodb: DynamoDBClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let ExclusiveStartKey: Record<string, any> | undefined;
  do {
    const page = await dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey }));
    for (const item of page.Items ?? []) items.push(unmarshall(item, unmarshallOptions()));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey !== undefined);
  return items;
}

/** Every key in the bucket under `prefix` (all keys when undefined). */
export async function listBlobs(s3: S3Client, bucket: string, prefix: string | undefined): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken !== undefined);
  return keys;
}
