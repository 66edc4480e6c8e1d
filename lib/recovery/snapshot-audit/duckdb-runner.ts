/**
 * Runs the snapshot audit's SQL text in-process with DuckDB (`@duckdb/node-api`): the local
 * inventory and exports become the query's three relations, {@link DUCKDB_PRELUDE} adds the two
 * Trino functions DuckDB names differently, and the session runs in UTC (inventory times are UTC).
 * DuckDB spills to a temporary folder when a join outgrows `memoryLimit`.
 */
import { ConfigError, ValidationError } from '../../errors.js';
import type { DynamoExport } from './dynamo-export.js';
import { exportRelation } from './dynamo-export.js';
import type { Inventory } from './inventory.js';
import { inventoryRelation } from './inventory.js';
import { DUCKDB_PRELUDE, type FindingKind, type SnapshotHvAttributes, snapshotAuditSql, sqlString } from './query.js';

/** One row of the query's result. */
export interface Finding {
  readonly kind: FindingKind;
  readonly blobKey: string;
  /** `lost`: the HV item that references the blob. */
  readonly objectKey?: string;
  /** From the inventory (`orphan`, `malformed`). */
  readonly size?: number;
  /** From the inventory, ms (`orphan`, `malformed`). */
  readonly lastModified?: number;
}

export interface DuckDbRunOptions {
  readonly inventory: Inventory;
  readonly objects: DynamoExport;
  readonly changeLog: DynamoExport;
  readonly prefix: string;
  readonly cutoffMs: number;
  readonly hvAttributes?: SnapshotHvAttributes;
  /** DuckDB `memory_limit`, e.g. `'4GB'`. Default: DuckDB's (80 % of RAM). */
  readonly memoryLimit?: string;
  /** DuckDB `threads`. Default: DuckDB's (all cores). */
  readonly threads?: number;
  /** Where DuckDB spills. Default: DuckDB's (`.tmp` beside a database; the system temp folder here). */
  readonly tempDirectory?: string;
}

/** Runs the query; returns its rows. */
export async function runSnapshotQuery(options: DuckDbRunOptions): Promise<Finding[]> {
  const config: Record<string, string> = {};
  if (options.memoryLimit !== undefined) config.memory_limit = options.memoryLimit;
  if (options.threads !== undefined) config.threads = String(options.threads);
  const instance = await openInstance(await loadDuckDB(), config, options.memoryLimit);
  const connection = await instance.connect();
  try {
    await connection.run(`SET TimeZone = 'UTC'`);
    if (options.tempDirectory !== undefined) await connection.run(`SET temp_directory = ${sqlString(options.tempDirectory)}`);
    for (const statement of DUCKDB_PRELUDE) await connection.run(statement);
    await connection.run(`CREATE VIEW inventory AS SELECT * FROM ${inventoryRelation(options.inventory)}`);
    await connection.run(`CREATE VIEW objects AS SELECT * FROM ${exportRelation(options.objects)}`);
    await connection.run(`CREATE VIEW changelog AS SELECT * FROM ${exportRelation(options.changeLog)}`);
    const sql = snapshotAuditSql({
      relations: { inventory: 'inventory', objects: 'objects', changeLog: 'changelog' },
      prefix: options.prefix,
      cutoffMs: options.cutoffMs,
      ...(options.hvAttributes !== undefined ? { hvAttributes: options.hvAttributes } : {}),
    });
    // Epoch ms for the time: portable to JS without time-zone guesswork.
    const reader = await connection.runAndReadAll(
      `SELECT kind, blob_key, object_key, size, epoch_ms(last_modified) AS last_modified_ms FROM (${sql}) AS findings`,
    );
    return reader.getRowObjectsJS().map((row: Record<string, unknown>) => {
      const finding: { -readonly [K in keyof Finding]: Finding[K] } = { kind: row.kind as FindingKind, blobKey: String(row.blob_key) };
      if (row.object_key !== null && row.object_key !== undefined) finding.objectKey = String(row.object_key);
      if (row.size !== null && row.size !== undefined) finding.size = Number(row.size);
      if (row.last_modified_ms !== null && row.last_modified_ms !== undefined) finding.lastModified = Number(row.last_modified_ms);
      return finding;
    });
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/**
 * An in-memory DuckDB with `config`. DuckDB refuses a setting it does not read with "Failed to set
 * config", naming none: the only one a caller gives is the memory limit, so that refusal is one of
 * it, said as such.
 */
async function openInstance(
  duckdb: typeof import('@duckdb/node-api'),
  config: Record<string, string>,
  memoryLimit: string | undefined,
): Promise<import('@duckdb/node-api').DuckDBInstance> {
  try {
    return await duckdb.DuckDBInstance.create(':memory:', config);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (memoryLimit === undefined || !/failed to set config/i.test(message)) throw err;
    throw new ValidationError(
      `memoryLimit ${JSON.stringify(memoryLimit)} is not a size DuckDB reads, such as "4GB" or "512MiB" (DuckDB: ${message})`,
      'memoryLimit',
    );
  }
}

/**
 * Refuses a run that could not query, before anything is read: DuckDB, an optional peer
 * dependency, not installed. Without it an audit read the inventory and both exports and verified
 * their checksums (minutes at scale) before the query failed to load it.
 *
 * @throws ConfigError naming `@duckdb/node-api`, with the command that installs it.
 */
export async function checkDuckDBInstalled(): Promise<void> {
  await loadDuckDB();
}

/**
 * DuckDB is an optional peer dependency (a native package of ~40 MB that writers never need):
 * loaded only when a snapshot audit runs, with a clear error when it is not installed.
 */
async function loadDuckDB(): Promise<typeof import('@duckdb/node-api')> {
  try {
    return await import('@duckdb/node-api');
  } catch (err) {
    throw new ConfigError(
      `the snapshot audit runs its query in DuckDB: install it next to tierlog (npm install @duckdb/node-api@1.5.6-r.1); ${err instanceof Error ? err.message : String(err)}`,
      '@duckdb/node-api',
    );
  }
}
