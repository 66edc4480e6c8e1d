/**
 * The Athena side of the snapshot audit: the Glue tables' layout and the statements one run
 * executes. The state machine (`infra/audit-at-scale.ts`) exports both tables, then asks
 * {@link planAthenaRun} for: DDL that points the two export tables at this run's export data and
 * adds the newest inventory partition, and the audit query ({@link snapshotAuditSql}) over them.
 *
 * Glue tables (database per deployment):
 *  - `inventory`: the Parquet inventory through S3's `hive/dt=…/symlink.txt` files
 *    (SymlinkTextInputFormat), partitioned by `dt`; the query reads one `dt`.
 *  - `objects_export`, `changelog_export`: one string column `line` over gzip text files (each
 *    line one exported item in DynamoDB JSON); their LOCATION is set to the export's `data/`.
 */
import { assertSafetyAge } from '../audit.js';
import { sqlString, snapshotAuditSql, type SnapshotHvAttributes } from './query.js';

/** Names of the Glue tables. */
export const GLUE_TABLES = { inventory: 'inventory', objects: 'objects_export', changeLog: 'changelog_export' } as const;

export interface AthenaPlanInput {
  readonly database: string;
  /** Bucket holding the inventory and the exports. */
  readonly snapshotBucket: string;
  /** `s3://bucket/<this>/dt=…/`: the inventory's hive folder key, without a trailing `/`. */
  readonly inventoryHivePrefix: string;
  /** The newest inventory partition, `YYYY-MM-DD-HH-MM`. */
  readonly dt: string;
  /** Export ARNs (…/export/<id>) and the S3 prefix each was written under. */
  readonly objectsExport: { readonly arn: string; readonly s3Prefix: string; readonly exportTime: number };
  readonly changeLogExport: { readonly arn: string; readonly s3Prefix: string; readonly exportTime: number };
  readonly prefix: string;
  readonly olderThanMs: number;
  readonly now: number;
  readonly hvAttributes?: SnapshotHvAttributes;
}

/** What the snapshot audit's plan step gives the state machine to run on Athena. */
export interface AthenaPlan {
  /** DDL to run first, in order. */
  readonly statements: string[];
  /** The audit query. */
  readonly query: string;
  /**
   * ISO time: only a blob last modified before it may be proposed (the safety age before the
   * oldest of now, the inventory partition and the two exports).
   */
  readonly cutoff: string;
}

const DT = /^[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}$/;
const EXPORT_ID = /\/export\/([0-9]{14}-[0-9a-f]{8})$/;

/**
 * Age (s) past which the newest inventory partition counts as stale: three days. The construct's
 * inventory is daily, and S3 delivers a report within 48 h of its time; older, reports stopped
 * arriving, and an audit on the last one sees no orphan made since.
 */
export const INVENTORY_STALE_SECONDS = 3 * 24 * 3_600;

/** The inventory time a `dt` partition name stands for (ms, UTC). */
export function dtTime(dt: string): number {
  if (!DT.test(dt)) throw new Error(`not an inventory partition name: ${dt}`);
  const [y, mo, d, h, mi] = dt.split('-').map(Number) as [number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi);
}

/** The newest `dt=` partition among S3 common prefixes (`…/hive/dt=2025-01-01-01-00/`). */
export function newestDt(prefixes: readonly string[]): string | undefined {
  const dts = prefixes.map((p) => /dt=([0-9-]+)\/?$/.exec(p)?.[1]).filter((d): d is string => d !== undefined && DT.test(d));
  return dts.sort().at(-1);
}

/**
 * DDL + query of one run.
 *
 * @throws ValidationError when `olderThanMs` is one no audit honours (under 1 h, or reaching back
 *   before 2000: a query that finds nothing and a run that reads clean).
 */
export function planAthenaRun(input: AthenaPlanInput): AthenaPlan {
  assertSafetyAge(input.olderThanMs, input.now);
  const db = input.database;
  const location = (e: AthenaPlanInput['objectsExport']): string => {
    const id = EXPORT_ID.exec(e.arn)?.[1];
    if (id === undefined) throw new Error(`not an export ARN: ${e.arn}`);
    const prefix = e.s3Prefix.replace(/\/+$/, '');
    return sqlString(`s3://${input.snapshotBucket}/${prefix === '' ? '' : `${prefix}/`}AWSDynamoDB/${id}/data/`);
  };
  const oldest = Math.min(input.now, dtTime(input.dt), input.objectsExport.exportTime, input.changeLogExport.exportTime);
  const cutoffMs = Math.max(0, Math.floor(oldest - input.olderThanMs));
  const statements = [
    `ALTER TABLE \`${db}\`.\`${GLUE_TABLES.objects}\` SET LOCATION ${location(input.objectsExport)}`,
    `ALTER TABLE \`${db}\`.\`${GLUE_TABLES.changeLog}\` SET LOCATION ${location(input.changeLogExport)}`,
    `ALTER TABLE \`${db}\`.\`${GLUE_TABLES.inventory}\` ADD IF NOT EXISTS PARTITION (dt = ${sqlString(input.dt)}) ` +
      `LOCATION ${sqlString(`s3://${input.snapshotBucket}/${input.inventoryHivePrefix}/dt=${input.dt}/`)}`,
  ];
  const query = snapshotAuditSql({
    relations: {
      inventory: `(SELECT "key", "size", last_modified_date FROM "${db}"."${GLUE_TABLES.inventory}" WHERE dt = ${sqlString(input.dt)})`,
      objects: `"${db}"."${GLUE_TABLES.objects}"`,
      changeLog: `"${db}"."${GLUE_TABLES.changeLog}"`,
    },
    prefix: input.prefix,
    cutoffMs,
    ...(input.hvAttributes !== undefined ? { hvAttributes: input.hvAttributes } : {}),
  });
  return { statements, query, cutoff: new Date(cutoffMs).toISOString() };
}
