/**
 * The invariants of DESIGN.md, checked from outside the library: raw scans of both tables and a
 * listing of the bucket, no tierlog code in the way.
 *
 *  1. No loss: every blob HV references exists in LT.
 *  2. No leak: no blob under the prefix is unreferenced (except those named by quarantined or
 *     not-yet-due entries, which are reported apart).
 *  3. The log drains: no entries left in the change log.
 *
 * Also the multipart uploads in progress under the prefix (their parts are paid for until the
 * upload is completed or aborted: the sweeper aborts an expired session's uploads and those of a
 * writer that died mid-upload, so after the sweeps none may be left).
 *
 * The blob keys of a store whose prefix is nested in this one (`blobs/staging` in `blobs`, which
 * the README allows) are that store's, not this one's: counted by prefix, never judged here (as
 * the audit counts them, `nestedStorePrefix`).
 */
import { type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { ListMultipartUploadsCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { hvAttributeNames, type TierlogConfig, validateConfig } from '../config.js';
import { isEntryAttribute } from '../changelog/entry-codec.js';
import { unmarshallOptions } from '../aws/clients.js';
import { advancingObjectPages } from '../aws/object-pages.js';
import { ListingError } from '../errors.js';
import { advancingPages } from '../aws/table-pages.js';
import { nestedStorePrefix } from '../recovery/audit.js';

/** What {@link checkInvariants} found, read from outside: the tables and the bucket as they are. */
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
  /** Keys of the multipart uploads in progress under the prefix (none may be left after the sweeps). */
  readonly uploads: string[];
  /** HV key -> blob key, for callers that check values. */
  readonly references: ReadonlyMap<string, string>;
  /**
   * Blob keys under the prefix that are another store's, one nested in it, and how many under
   * each such prefix: in none of the lists above.
   */
  readonly nestedStores: Record<string, number>;
}

/**
 * The invariants, read from outside tierlog: a consistent scan of both tables of `config` and a
 * listing of the bucket under `<prefix>/` and of its multipart uploads in progress. After the
 * sweeps that recover every dead writer (`sweepPastLeases`), a clean store has `lost`, `leaked`,
 * `pending` and `uploads` empty and `entries` 0. Reads only; assert on the report.
 *
 * @throws ConfigError for a configuration every other entry point refuses (`validateConfig`),
 *   before any request. Read as it was, `hvAttributes` given as a Map, or misspelt (`hvAtributes`),
 *   read the objects table under the default names: no item of a schema of its own pointed at a
 *   blob, and `lost` was empty whatever the store had lost.
 */
export async function checkInvariants(args: { config: TierlogConfig; dynamodb: DynamoDBClient; s3: S3Client }): Promise<InvariantReport> {
  const { config, dynamodb, s3 } = args;
  validateConfig(config);
  const [objects, instances, listed, listedUploads] = await Promise.all([
    scanTable(dynamodb, config.objectsTable),
    scanTable(dynamodb, config.changeLogTable),
    listBlobs(s3, config.bucket, `${config.prefix}/`),
    listUploads(s3, config.bucket, `${config.prefix}/`),
  ]);
  const nestedStores: Record<string, number> = {};
  const blobs = listed.filter((key) => {
    const nested = nestedStorePrefix(config.prefix, key);
    if (nested !== undefined) nestedStores[nested] = (nestedStores[nested] ?? 0) + 1;
    return nested === undefined;
  });
  const uploads = listedUploads.filter((key) => nestedStorePrefix(config.prefix, key) === undefined);
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
    uploads,
    references,
    nestedStores,
  };
}

/** Every item of a table, read raw (full consistent scan; a page that repeats is a `TableListingError`). */
export async function scanTable(dynamodb: DynamoDBClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  const pages = paginateScan({ client: dynamodb }, { TableName: table, ConsistentRead: true });
  for await (const page of advancingPages(pages, { table, operation: 'Scan' })) {
    for (const item of page.Items ?? []) items.push(unmarshall(item, unmarshallOptions()));
  }
  return items;
}

/** Every key in the bucket under `prefix` (all keys when undefined). */
export async function listBlobs(s3: S3Client, bucket: string, prefix: string | undefined): Promise<string[]> {
  const keys: string[] = [];
  const pages = paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: prefix });
  for await (const page of advancingObjectPages(pages, { bucket, prefix: prefix ?? '' })) {
    for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
  }
  return keys;
}

/**
 * The keys of the multipart uploads in progress under `prefix`. (The SDK has no paginator for
 * ListMultipartUploads: its pages continue from a key and upload-id marker pair.)
 * @throws ListingError when a truncated page gives no markers, or the very markers it was asked
 * with (the listing would begin again, or repeat, without end)
 */
export async function listUploads(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let markers: { KeyMarker?: string; UploadIdMarker?: string } = {};
  for (;;) {
    const page = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, ...markers }));
    for (const upload of page.Uploads ?? []) if (upload.Key !== undefined) keys.push(upload.Key);
    if (page.IsTruncated !== true) return keys;
    // Without markers the next page would be asked from the start: the listing would begin again without end.
    if (!page.NextKeyMarker && !page.NextUploadIdMarker) {
      throw new ListingError(bucket, prefix, 'a page of uploads says it is truncated and gives no markers');
    }
    if (page.NextKeyMarker === markers.KeyMarker && page.NextUploadIdMarker === markers.UploadIdMarker) {
      throw new ListingError(bucket, prefix, 'a page of uploads gives the markers it was asked with: the listing repeats');
    }
    markers = {
      ...(page.NextKeyMarker !== undefined ? { KeyMarker: page.NextKeyMarker } : {}),
      ...(page.NextUploadIdMarker !== undefined ? { UploadIdMarker: page.NextUploadIdMarker } : {}),
    };
  }
}
