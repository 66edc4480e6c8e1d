/**
 * Writes an S3 Inventory report and DynamoDB full exports in the formats AWS delivers (see
 * {@link ./inventory.ts} and {@link ./dynamo-export.ts}), from rows or from the live state of a
 * deployment: what DynamoDB Local (which has no export) and a local S3 server need to be audited
 * from snapshots, and what the benchmark generates at scale.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type AttributeValue, type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { advancingObjectPages } from '../../aws/object-pages.js';
import { advancingPages } from '../../aws/table-pages.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { md5File } from './inventory.js';
import { sqlString } from './query.js';

/** One inventory row. */
export interface InventoryRow {
  readonly key: string;
  readonly size: number;
  readonly lastModified: number;
}

/** The Parquet schema S3 Inventory states in a manifest's `fileSchema` (the fields written here). */
export const PARQUET_FILE_SCHEMA =
  'message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); }';

export interface WriteInventoryOptions {
  /** The destination folder (stands for the destination bucket). */
  readonly destDir: string;
  readonly sourceBucket: string;
  readonly format: 'CSV' | 'Parquet';
  /** Inventory configuration id. Default `tierlog-audit`. */
  readonly configurationId?: string;
  /** When the report was begun (ms). */
  readonly createdAt: number;
}

/**
 * Writes `manifest.json`, `manifest.checksum` and one data file of `rows`, laid out as S3 does:
 * `<source>/<config>/<YYYY-MM-DDTHH-MMZ>/manifest.json` and `<source>/<config>/data/<uuid>.<ext>`.
 * Returns the manifest's path. `sql`: a DuckDB query with columns `key`, `size`,
 * `last_modified_ms` instead of rows (large generated inventories).
 */
export async function writeInventory(rows: Iterable<InventoryRow> | { sql: string }, options: WriteInventoryOptions): Promise<string> {
  const config = options.configurationId ?? 'tierlog-audit';
  const stamp = new Date(options.createdAt).toISOString().slice(0, 16).replace(':', '-') + 'Z';
  const base = join(options.destDir, options.sourceBucket, config);
  mkdirSync(join(base, 'data'), { recursive: true });
  mkdirSync(join(base, stamp), { recursive: true });
  const ext = options.format === 'CSV' ? 'csv.gz' : 'parquet';
  const dataKey = `${options.sourceBucket}/${config}/data/${randomUUID()}.${ext}`;
  const dataPath = join(options.destDir, dataKey);
  if ('sql' in rows) {
    await duck(async (run) => {
      const select = `SELECT ${sqlString(options.sourceBucket)} AS bucket, "key", CAST("size" AS bigint) AS "size", make_timestamp(CAST(last_modified_ms AS bigint) * 1000) AS last_modified_date FROM (${rows.sql})`;
      if (options.format === 'Parquet') await run(`COPY (${select}) TO ${sqlString(dataPath)} (FORMAT parquet, COMPRESSION snappy)`);
      else throw new Error('generated inventories are written as Parquet');
    });
  } else if (options.format === 'CSV') {
    const lines: string[] = [];
    for (const r of rows) {
      const fields = [options.sourceBucket, encodeKey(r.key), String(r.size), new Date(r.lastModified).toISOString()];
      lines.push(fields.map((f) => `"${f.replaceAll('"', '""')}"`).join(','));
    }
    writeFileSync(dataPath, gzipSync(lines.length > 0 ? `${lines.join('\n')}\n` : ''));
  } else {
    const staged = `${dataPath}.jsonl`;
    writeFileSync(staged, [...rows].map((r) => JSON.stringify({ key: r.key, size: r.size, ms: r.lastModified })).join('\n') + '\n');
    await duck(async (run) => {
      await run(
        `COPY (SELECT ${sqlString(options.sourceBucket)} AS bucket, "key", CAST("size" AS bigint) AS "size", make_timestamp(CAST(ms AS bigint) * 1000) AS last_modified_date ` +
          `FROM read_json(${sqlString(staged)}, columns = {'key': 'VARCHAR', 'size': 'BIGINT', 'ms': 'BIGINT'}, format = 'newline_delimited')) TO ${sqlString(dataPath)} (FORMAT parquet)`,
      );
    });
    rmSync(staged);
  }
  const { size } = statSync(dataPath);
  const manifest = {
    sourceBucket: options.sourceBucket,
    destinationBucket: 'arn:aws:s3:::inventory-destination',
    version: '2016-11-30',
    creationTimestamp: String(options.createdAt),
    fileFormat: options.format,
    fileSchema: options.format === 'CSV' ? 'Bucket, Key, Size, LastModifiedDate' : PARQUET_FILE_SCHEMA,
    files: [{ key: dataKey, size, MD5checksum: await md5File(dataPath) }],
  };
  const text = JSON.stringify(manifest, null, 2);
  const manifestPath = join(base, stamp, 'manifest.json');
  writeFileSync(manifestPath, text);
  writeFileSync(join(base, stamp, 'manifest.checksum'), createHash('md5').update(text).digest('hex'));
  return manifestPath;
}

export interface WriteExportOptions {
  /** The folder that stands for `s3://<bucket>/<S3Prefix>`. */
  readonly destDir: string;
  readonly tableArn: string;
  /** The point in time the export reflects (ms). */
  readonly exportTime: number;
}

/**
 * Writes a full export in DynamoDB JSON under `<destDir>/AWSDynamoDB/<export id>/`: the data file
 * (gzip, `{"Item":…}` a line), `manifest-files.json`, `manifest-summary.json`, their `.md5`, and
 * `_started`. `parts`: DuckDB queries with one column `Item` (a struct in DynamoDB JSON form), one data
 * file each, instead of items. Returns the export's folder.
 */
export async function writeDynamoExport(
  items: Iterable<Record<string, AttributeValue>> | { parts: ReadonlyArray<{ sql: string; count: number }> },
  options: WriteExportOptions,
): Promise<string> {
  const exportId = `${String(options.exportTime).padStart(14, '0')}-${randomBytes(4).toString('hex')}`;
  const rel = `AWSDynamoDB/${exportId}`;
  const dir = join(options.destDir, rel);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(join(dir, '_started'), '');
  const written: Array<{ rel: string; count: number }> = [];
  const newDataFile = () => `${rel}/data/${randomBytes(8).toString('hex')}.json.gz`;
  if ('parts' in items) {
    await duck(async (run) => {
      for (const part of items.parts) {
        const dataRel = newDataFile();
        await run(`COPY (${part.sql}) TO ${sqlString(join(options.destDir, dataRel))} (FORMAT json, COMPRESSION gzip)`);
        written.push({ rel: dataRel, count: part.count });
      }
    });
  } else {
    const dataRel = newDataFile();
    const lines = [...items].map((Item) => JSON.stringify({ Item }));
    writeFileSync(join(options.destDir, dataRel), gzipSync(lines.length > 0 ? `${lines.join('\n')}\n` : ''));
    written.push({ rel: dataRel, count: lines.length });
  }
  const fileLines: string[] = [];
  for (const w of written) {
    const path = join(options.destDir, w.rel);
    fileLines.push(
      JSON.stringify({ itemCount: w.count, md5Checksum: await md5File(path, 'base64'), etag: await md5File(path), dataFileS3Key: w.rel }),
    );
  }
  const files = fileLines.join('\n');
  const count = written.reduce((n, w) => n + w.count, 0);
  writeFileSync(join(dir, 'manifest-files.json'), `${files}\n`);
  const iso = new Date(options.exportTime).toISOString();
  const summary = JSON.stringify({
    version: '2020-06-30',
    exportArn: `${options.tableArn}/export/${exportId}`,
    startTime: iso,
    endTime: iso,
    tableArn: options.tableArn,
    tableId: randomUUID(),
    exportTime: iso,
    s3Bucket: 'export-bucket',
    s3Prefix: null,
    s3SseAlgorithm: 'AES256',
    s3SseKmsKeyId: null,
    manifestFilesS3Key: `${rel}/manifest-files.json`,
    billedSizeBytes: 0,
    itemCount: count,
    outputFormat: 'DYNAMODB_JSON',
    exportType: 'FULL_EXPORT',
  });
  writeFileSync(join(dir, 'manifest-summary.json'), summary);
  const hash = createHash;
  writeFileSync(join(dir, 'manifest-summary.md5'), hash('md5').update(summary).digest('hex'));
  writeFileSync(join(dir, 'manifest-files.md5'), hash('md5').update(`${files}\n`).digest('hex'));
  return dir;
}

/** An ARN of the shape DynamoDB gives a table (the account and region are placeholders). */
export function localTableArn(tableName: string): string {
  return `arn:aws:dynamodb:us-east-1:000000000000:table/${tableName}`;
}

export interface SnapshotLocalOptions {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly bucket: string;
  readonly tables: readonly string[];
  readonly destDir: string;
  readonly format: 'CSV' | 'Parquet';
  /** The time stamped on the snapshots. Default now. */
  readonly at?: number;
}

/**
 * Snapshots live state: an inventory of the whole bucket (listed) and a full export of each
 * table (scanned, consistent). Returns the manifest path and the export root.
 */
export async function snapshotLiveState(options: SnapshotLocalOptions): Promise<{ manifest: string; exportDir: string }> {
  const at = options.at ?? Date.now();
  const rows: InventoryRow[] = [];
  const listing = paginateListObjectsV2({ client: options.s3 }, { Bucket: options.bucket });
  for await (const page of advancingObjectPages(listing, { bucket: options.bucket, prefix: '' })) {
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined) rows.push({ key: o.Key, size: o.Size ?? 0, lastModified: o.LastModified?.getTime() ?? at });
    }
  }
  const manifest = await writeInventory(rows, {
    destDir: join(options.destDir, 'inventory'),
    sourceBucket: options.bucket,
    format: options.format,
    createdAt: at,
  });
  const exportDir = join(options.destDir, 'exports');
  for (const table of options.tables) {
    const items: Record<string, AttributeValue>[] = [];
    const pages = paginateScan({ client: options.dynamodb }, { TableName: table, ConsistentRead: true });
    for await (const page of advancingPages(pages, { table, operation: 'Scan' })) {
      items.push(...(page.Items ?? []));
    }
    await writeDynamoExport(items.map(toExportJson), { destDir: join(exportDir, table), tableArn: localTableArn(table), exportTime: at });
  }
  return { manifest, exportDir };
}

/** DynamoDB JSON as exports write it: binary values base64, like the wire format. */
function toExportJson(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  return JSON.parse(JSON.stringify(item, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))) as Record<
    string,
    AttributeValue
  >;
}

/** S3 Inventory's CSV key encoding: URL-encoded, a space as '+'. */
function encodeKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/%20/g, '+')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

async function duck(body: (run: (sql: string) => Promise<unknown>) => Promise<unknown>): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`SET TimeZone = 'UTC'`);
    await body((sql) => connection.run(sql));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
