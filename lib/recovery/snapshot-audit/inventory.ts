/**
 * An S3 Inventory report on local disk, as S3 delivers it: `manifest.json` (and `manifest.checksum`,
 * the MD5 of the manifest) beside the data files it lists, which live under the same destination
 * layout (`<source bucket>/<configuration>/data/…`). The manifest's file keys are resolved against
 * the manifest's folder and its ancestors, so a downloaded copy of the destination bucket (or any
 * sub-tree of it) works.
 *
 * Every data file must exist and match the manifest's size and MD5: a report with a file missing
 * would make blobs look lost, and one with a corrupt file cannot be read at all.
 *
 * Formats: CSV (gzip, no header, columns per `fileSchema`, keys URL-encoded) and Parquet (columns
 * `key`, `last_modified_date`, `size` when the configuration has Size, …). ORC is refused. Inventories of all versions are reduced
 * to the current, non-delete-marker rows.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFailure, readFailure, SnapshotError } from './errors.js';
import { sqlString } from './query.js';

const manifestSchema = z.object({
  sourceBucket: z.string().min(1),
  destinationBucket: z.string().optional(),
  version: z.string().optional(),
  creationTimestamp: z.string().regex(/^[0-9]+$/),
  fileFormat: z.enum(['CSV', 'Parquet', 'ORC']),
  fileSchema: z.string().min(1),
  files: z.array(
    z.object({ key: z.string().min(1), size: z.number().int().nonnegative(), MD5checksum: z.string().regex(/^[0-9a-f]{32}$/i) }),
  ),
});

/**
 * The earliest time an inventory report can carry (S3 Inventory was launched in November 2016):
 * a `creationTimestamp` before it is not a time in milliseconds.
 */
export const EARLIEST_INVENTORY_MS = Date.UTC(2016, 10, 1);

/** The manifest.json of an S3 Inventory report. */
export type InventoryManifest = z.infer<typeof manifestSchema>;

/** A verified inventory report. */
export interface Inventory {
  readonly manifestPath: string;
  readonly sourceBucket: string;
  /** When S3 began the report (ms). */
  readonly createdAt: number;
  readonly format: 'CSV' | 'Parquet';
  /** CSV column names, in order (from `fileSchema`). */
  readonly csvColumns: readonly string[];
  /** The data files, absolute paths. */
  readonly files: readonly string[];
  readonly bytes: number;
}

/**
 * Reads and verifies `manifest.json` and its data files.
 *
 * @throws SnapshotError when the manifest does not parse, a file is missing or differs from it.
 */
export async function readInventory(manifestPath: string): Promise<Inventory> {
  const path = resolve(manifestPath);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SnapshotError(`cannot read the inventory manifest: ${readFailure(err)}`, path, { cause: err });
  }
  const checksumPath = join(dirname(path), 'manifest.checksum');
  if (existsSync(checksumPath)) {
    const expected = readFileSync(checksumPath, 'utf8').trim().toLowerCase();
    const actual = createHash('md5').update(raw).digest('hex');
    if (expected !== actual) throw new SnapshotError(`manifest.json does not match manifest.checksum (${actual} vs ${expected})`, path);
  }
  let manifest: InventoryManifest;
  try {
    manifest = manifestSchema.parse(JSON.parse(raw));
  } catch (err) {
    throw new SnapshotError(`not an S3 Inventory manifest: ${parseFailure(err)}`, path, { cause: err });
  }
  if (manifest.fileFormat === 'ORC') throw new SnapshotError('ORC inventories are not supported: configure CSV or Parquet', path);
  const csvColumns = manifest.fileFormat === 'CSV' ? manifest.fileSchema.split(',').map((c) => c.trim()) : [];
  if (manifest.fileFormat === 'CSV') {
    for (const needed of ['Key', 'LastModifiedDate']) {
      if (!csvColumns.includes(needed))
        throw new SnapshotError(`the inventory lacks the field ${needed}: add it to the inventory configuration`, path);
    }
  } else if (!/\blast_modified_date\b/.test(manifest.fileSchema)) {
    throw new SnapshotError('the inventory lacks the field last_modified_date: add LastModifiedDate to the inventory configuration', path);
  }
  const createdAt = Number(manifest.creationTimestamp);
  // S3 writes milliseconds: a smaller number (seconds, a placeholder) would put the cutoff decades
  // back, and the audit would propose nothing and report clean.
  if (createdAt < EARLIEST_INVENTORY_MS)
    throw new SnapshotError(
      `creationTimestamp ${manifest.creationTimestamp} is before S3 Inventory existed (${new Date(EARLIEST_INVENTORY_MS).toISOString()}): not milliseconds since the epoch`,
      path,
    );
  // S3 lists each data file once: one listed twice would count its rows twice.
  const twice = manifest.files.find((f, i) => manifest.files.findIndex((g) => g.key === f.key) !== i);
  if (twice !== undefined) throw new SnapshotError(`the manifest lists the data file ${twice.key} twice`, path);
  const files: string[] = [];
  let bytes = 0;
  for (const file of manifest.files) {
    const local = locate(dirname(path), file.key);
    if (local === undefined) throw new SnapshotError(`inventory data file ${file.key} not found beside the manifest or above it`, path);
    const size = statSync(local).size;
    if (size !== file.size) throw new SnapshotError(`inventory data file has ${size} bytes, the manifest says ${file.size}`, local);
    const md5 = await md5File(local);
    if (md5 !== file.MD5checksum.toLowerCase())
      throw new SnapshotError(`inventory data file fails its MD5 (${md5} vs ${file.MD5checksum})`, local);
    files.push(local);
    bytes += size;
  }
  return {
    manifestPath: path,
    sourceBucket: manifest.sourceBucket,
    createdAt,
    format: manifest.fileFormat,
    csvColumns,
    files,
    bytes,
  };
}

/**
 * The DuckDB relation over the report with the Parquet inventory's column names and types:
 * `key` (decoded), `size`, `last_modified_date` (TIMESTAMP, UTC), current versions only.
 */
export function inventoryRelation(inventory: Inventory): string {
  const files = `[${inventory.files.map(sqlString).join(', ')}]`;
  if (inventory.files.length === 0) {
    return `(SELECT CAST(NULL AS varchar) AS "key", CAST(NULL AS bigint) AS "size", CAST(NULL AS timestamp) AS last_modified_date WHERE false)`;
  }
  if (inventory.format === 'Parquet') {
    const schema = readSchemaHint(inventory);
    const hasVersions = /\bis_latest\b/.test(schema);
    // `size` is there only when the configuration asks for Size: else NULL, as Athena reads a column a file lacks.
    const size = /\bsize\b/.test(schema) ? 'CAST("size" AS bigint)' : 'CAST(NULL AS bigint)';
    return (
      `(SELECT "key", ${size} AS "size", CAST(last_modified_date AS timestamp) AS last_modified_date ` +
      `FROM read_parquet(${files})${hasVersions ? ' WHERE is_latest AND NOT coalesce(is_delete_marker, false)' : ''})`
    );
  }
  const cols = inventory.csvColumns;
  const columns = `{${cols.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(', ')}}`;
  const versions = cols.includes('IsLatest') ? ` WHERE "IsLatest" = 'true' AND coalesce("IsDeleteMarker", 'false') <> 'true'` : '';
  const size = cols.includes('Size') ? `CAST(nullif("Size", '') AS bigint)` : 'CAST(NULL AS bigint)';
  // CSV keys are URL-encoded with '+' for a space (S3 Inventory's encoding).
  return (
    `(SELECT url_decode(replace("Key", '+', ' ')) AS "key", ${size} AS "size", ` +
    `CAST(CAST("LastModifiedDate" AS timestamptz) AS timestamp) AS last_modified_date ` +
    `FROM read_csv(${files}, columns = ${columns}, header = false, delim = ',', quote = '"', escape = '"', ` +
    `compression = 'gzip', auto_detect = false, strict_mode = true)${versions})`
  );
}

function readSchemaHint(inventory: Inventory): string {
  try {
    return (JSON.parse(readFileSync(inventory.manifestPath, 'utf8')) as { fileSchema?: string }).fileSchema ?? '';
  } catch {
    return '';
  }
}

/** The local copy of S3 key `key`: under the manifest's folder or one of its ancestors. */
function locate(start: string, key: string): string | undefined {
  if (key.split('/').some((s) => s === '..')) return undefined;
  let dir = start;
  for (;;) {
    const candidate = join(dir, key);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Hex MD5 of a file, streamed. */
export function md5File(path: string, encoding: 'hex' | 'base64' = 'hex'): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('md5');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(hash.digest(encoding)));
  });
}
