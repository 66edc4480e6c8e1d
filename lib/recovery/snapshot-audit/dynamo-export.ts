/**
 * DynamoDB full exports on local disk, as `ExportTableToPointInTime` writes them to S3:
 *
 * ```
 * <S3Prefix>/AWSDynamoDB/<export id>/manifest-summary.json   one JSON object: tableArn, exportTime, itemCount, outputFormat, …
 * <S3Prefix>/AWSDynamoDB/<export id>/manifest-files.json     one JSON object a line: dataFileS3Key, itemCount, md5Checksum (base64), etag
 * <S3Prefix>/AWSDynamoDB/<export id>/data/<id>.json.gz       one item a line: {"Item":{"attr":{"S":"…"},…}}
 * ```
 *
 * {@link findExports} finds every export under a folder and tells the tables apart by the
 * summary's `tableArn`: a folder with exports of two tables of one name (another region's or
 * account's) is refused, as are exports of the two tables from two regions or accounts. Each data file must exist, match its MD5, and the item counts must add
 * up: an export with an item missing would make its blobs look like orphans.
 *
 * "For partitions that are empty, your export request will create an empty file" (DynamoDB
 * developer guide): a data file of zero bytes is taken for no items (its manifest line must say
 * 0) and not read, as it is not a gzip stream.
 *
 * A folder of exports (a copy of the exports bucket) may also hold exports the audit cannot read:
 * incremental exports (`exportType` `INCREMENTAL_EXPORT`: changes over a window, their summary
 * states `exportFromTime` / `exportToTime` and no `exportTime`) and exports in Amazon Ion
 * (`outputFormat` `ION`). {@link findExports} passes them over and reads the newest full export in
 * DynamoDB JSON of each table; the cutoff follows the export it read, so an older one is as safe.
 * A table with no such export is refused, naming what was found instead.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { parseFailure, readFailure, SnapshotError } from './errors.js';
import { md5File } from './inventory.js';
import { sqlString } from './query.js';

const summarySchema = z.object({
  version: z.string().optional(),
  exportArn: z.string().optional(),
  tableArn: z.string().regex(/:table\/[A-Za-z0-9_.-]{3,255}$/),
  exportTime: z.string().optional(),
  startTime: z.string().optional(),
  itemCount: z.number().int().nonnegative(),
  outputFormat: z.literal('DYNAMODB_JSON'),
  exportType: z.enum(['FULL_EXPORT', 'INCREMENTAL_EXPORT']).optional(),
});

const fileLineSchema = z.object({
  itemCount: z.number().int().nonnegative(),
  md5Checksum: z.string().min(1),
  etag: z.string().optional(),
  dataFileS3Key: z.string().min(1),
});

/** A verified full export of one table. */
export interface DynamoExport {
  /** The folder that holds `manifest-summary.json`. */
  readonly dir: string;
  readonly tableName: string;
  /** The point in time the export reflects (ms). */
  readonly exportTime: number;
  readonly itemCount: number;
  /** Data files, absolute paths (an empty one, zero bytes, left out: nothing to read). */
  readonly files: readonly string[];
  readonly bytes: number;
}

/**
 * Finds and verifies the newest export of each of `tables` under `root`.
 *
 * @throws SnapshotError when an export of a table is missing, incomplete or not DynamoDB JSON,
 *   when exports of two tables of one name are found, or when the tables are in two regions or accounts.
 */
export async function findExports<T extends string>(root: string, tables: Readonly<Record<T, string>>): Promise<Record<T, DynamoExport>> {
  const base = resolve(root);
  if (!existsSync(base)) throw new SnapshotError('export folder does not exist', base);
  const summaries = findFiles(base, 'manifest-summary.json', 8).map(kindOfSummary);
  const found = {} as Record<T, DynamoExport>;
  // Where each role's table lives (`arn:<partition>:dynamodb:<region>:<account>`): the tables of one store.
  const homes = new Map<string, string>();
  for (const [role, tableName] of Object.entries(tables) as Array<[T, string]>) {
    const exportsOfTable = summaries.filter((s) => s.tableArn.endsWith(`:table/${tableName}`));
    if (exportsOfTable.length === 0) throw new SnapshotError(`no DynamoDB export of table "${tableName}" found`, base);
    // A table is known here by its name alone: another region's or account's table of that name
    // (a folder shared by deployments) is not this store's, and which one is cannot be told.
    const arns = [...new Set(exportsOfTable.map((s) => s.tableArn))].sort();
    if (arns.length > 1) {
      throw new SnapshotError(
        `exports of ${arns.length} tables named "${tableName}" found (${arns.join(', ')}): another region's or account's table of that name; give the folder of this deployment's exports only`,
        base,
      );
    }
    homes.set(arns[0]!.slice(0, arns[0]!.lastIndexOf(':table/')), tableName);
    const full = exportsOfTable
      .filter((s) => s.unusable === undefined)
      .map((s) => ({ path: s.path, time: exportTime(parseSummary(s.path), s.path) }));
    if (full.length === 0) {
      const kinds = [...new Set(exportsOfTable.map((s) => s.unusable))].join(', ');
      throw new SnapshotError(
        `no full export of table "${tableName}" in DynamoDB JSON found (only: ${kinds}): export the table in full, as DYNAMODB_JSON`,
        base,
      );
    }
    full.sort((a, b) => b.time - a.time);
    found[role] = await readExport(dirname(full[0]!.path));
  }
  if (homes.size > 1) {
    throw new SnapshotError(
      `the exports are of tables in ${homes.size} regions or accounts (${[...homes].map(([home, table]) => `"${table}" in ${home}`).join(', ')}): a store's tables are in one`,
      base,
    );
  }
  return found;
}

/**
 * The table of the export whose summary is `path`, and why the audit cannot read that export
 * (an incremental export, or another format than DynamoDB JSON), if it cannot. Only what tells
 * them apart is read here; a summary without a table ARN is not an export summary (refused).
 */
function kindOfSummary(path: string): { path: string; tableArn: string; unusable?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SnapshotError(`not a DynamoDB export summary: ${parseFailure(err)}`, path, { cause: err });
  }
  const { tableArn, outputFormat, exportType } = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  if (typeof tableArn !== 'string') throw new SnapshotError('not a DynamoDB export summary: no tableArn', path);
  if (exportType === 'INCREMENTAL_EXPORT') return { path, tableArn, unusable: 'an incremental export' };
  if (outputFormat !== 'DYNAMODB_JSON') return { path, tableArn, unusable: `an export in ${String(outputFormat)}` };
  return { path, tableArn };
}

/** Reads and verifies the export whose `manifest-summary.json` is in `dir`. @throws SnapshotError */
export async function readExport(dir: string): Promise<DynamoExport> {
  const summaryPath = join(dir, 'manifest-summary.json');
  const summary = parseSummary(summaryPath);
  if (summary.exportType === 'INCREMENTAL_EXPORT')
    throw new SnapshotError('an incremental export holds changes, not the table: use a full export', summaryPath);
  const filesPath = join(dir, 'manifest-files.json');
  let lines: string[];
  try {
    lines = readFileSync(filesPath, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
  } catch (err) {
    throw new SnapshotError(`cannot read manifest-files.json: ${readFailure(err)}`, filesPath, { cause: err });
  }
  const files: string[] = [];
  let items = 0;
  let bytes = 0;
  for (const line of lines) {
    let entry: z.infer<typeof fileLineSchema>;
    try {
      entry = fileLineSchema.parse(JSON.parse(line));
    } catch (err) {
      throw new SnapshotError(`malformed line in manifest-files.json: ${parseFailure(err, 200)}`, filesPath, { cause: err });
    }
    // The key is <S3Prefix>/AWSDynamoDB/<id>/data/<file>: locally, relative to this export's folder.
    const at = entry.dataFileS3Key.lastIndexOf('/data/');
    const relative = at < 0 ? '' : entry.dataFileS3Key.slice(at + 1);
    if (relative === '' || relative.split('/').some((s) => s === '..'))
      throw new SnapshotError(`data file key ${entry.dataFileS3Key} is not under data/`, filesPath);
    const local = join(dir, relative);
    if (!existsSync(local)) throw new SnapshotError(`export data file ${relative} is missing`, dir);
    const md5 = await md5File(local, 'base64');
    if (md5 !== entry.md5Checksum) throw new SnapshotError(`export data file fails its MD5 (${md5} vs ${entry.md5Checksum})`, local);
    const size = statSync(local).size;
    // An empty partition's file may be empty, not even a gzip stream: it holds no item, and is not read.
    if (size === 0 && entry.itemCount !== 0)
      throw new SnapshotError(`export data file is empty, the manifest says ${entry.itemCount} items`, local);
    if (size > 0) files.push(local);
    items += entry.itemCount;
    bytes += size;
  }
  if (items !== summary.itemCount)
    throw new SnapshotError(`data files hold ${items} items, the summary says ${summary.itemCount}`, summaryPath);
  const tableName = summary.tableArn.slice(summary.tableArn.lastIndexOf('/') + 1);
  return { dir, tableName, exportTime: exportTime(summary, summaryPath), itemCount: items, files, bytes };
}

/** The DuckDB relation over an export: one column `line`, one exported item per row. */
export function exportRelation(exp: DynamoExport): string {
  if (exp.files.length === 0) return `(SELECT CAST(NULL AS varchar) AS line WHERE false)`;
  const files = `[${exp.files.map(sqlString).join(', ')}]`;
  // A delimiter and no quoting that JSON text never contains (control characters are escaped in JSON).
  return (
    `(SELECT line FROM read_csv(${files}, columns = {'line': 'VARCHAR'}, header = false, delim = chr(1), quote = '', ` +
    `escape = '', compression = 'gzip', auto_detect = false, max_line_size = 4194304))`
  );
}

function parseSummary(path: string): z.infer<typeof summarySchema> {
  try {
    return summarySchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    throw new SnapshotError(`not a DynamoDB JSON export summary: ${parseFailure(err)}`, path, { cause: err });
  }
}

/**
 * The earliest time a table export can reflect (DynamoDB exports to S3 were launched in November
 * 2020): an `exportTime` before it would put the cutoff years back, and the audit would propose
 * nothing and report clean.
 */
export const EARLIEST_EXPORT_MS = Date.UTC(2020, 10, 1);

function exportTime(summary: z.infer<typeof summarySchema>, path: string): number {
  const t = Date.parse(summary.exportTime ?? '');
  if (!Number.isFinite(t)) throw new SnapshotError('export summary has no valid exportTime', path);
  if (t < EARLIEST_EXPORT_MS)
    throw new SnapshotError(`exportTime ${summary.exportTime} is before DynamoDB exports existed: not the time of an export`, path);
  return t;
}

function findFiles(dir: string, name: string, depth: number): string[] {
  if (depth < 0) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findFiles(path, name, depth - 1));
    else if (entry.name === name) out.push(path);
  }
  return out;
}
