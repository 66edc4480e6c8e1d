/**
 * The snapshot audit on files as AWS writes them, beyond what `snapshotLiveState` writes: the
 * variants a real deployment's snapshots take that the local writer does not produce.
 *
 *  - An export folder (a copy of the exports bucket) holds whatever exports were taken there:
 *    DynamoDB writes each one under `<S3Prefix>/AWSDynamoDB/<export id>/`, full or incremental,
 *    DynamoDB JSON or Amazon Ion (`outputFormat`, `exportType` in `manifest-summary.json`; an
 *    incremental export's summary states `exportFromTime` / `exportToTime`, not `exportTime`).
 *    The audit reads the newest FULL export in DynamoDB JSON of each table, and an export it
 *    cannot use beside it is passed over, never a reason to fail.
 *  - An empty partition's data file may be empty ("For partitions that are empty, your export
 *    request will create an empty file"), zero bytes and not a gzip stream: no items.
 *  - A Parquet inventory has the columns of the fields its configuration asks for: `size` only
 *    with the optional field Size. Without it the audit still runs (sizes unknown), as Athena does
 *    over the same files (a column a Parquet file lacks reads as NULL).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, test } from 'vitest';
import { SnapshotError } from '../../lib/recovery/snapshot-audit/errors.js';
import { md5File } from '../../lib/recovery/snapshot-audit/inventory.js';
import { sqlString } from '../../lib/recovery/snapshot-audit/query.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { localTableArn, writeDynamoExport } from '../../lib/recovery/snapshot-audit/snapshot-writer.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { blobKey, HOUR, putBlob, putOrphans, putTombstone } from '../cli/helpers.js';
import { snapshotsRemovedAfterAll } from './snapshots.js';

const snapshotsAt = snapshotsRemovedAfterAll();

/** Two old orphans and one referenced blob; snapshots (CSV or Parquet) taken 2 h from now. */
async function scene(format: 'CSV' | 'Parquet' = 'CSV') {
  const fx = await freshFixture();
  const orphans = await putOrphans(fx, 2);
  const live = blobKey(fx, 'live');
  await putBlob(fx, live);
  await putTombstone(fx, 'live', live);
  const now = Date.now() + 2 * HOUR;
  const snap = await snapshotsAt(fx, now, format);
  return { fx, orphans, live, now, ...snap };
}

const auditOf = (fx: Fixture, s: { manifest: string; exportDir: string; now: number }) =>
  snapshotAudit({
    config: fx.config,
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    inventory: s.manifest,
    exportDir: s.exportDir,
    olderThanMs: HOUR,
    now: s.now,
  });

/** Rewrites the summary of the export in `dir` with `change` (as DynamoDB would have written it). */
function editSummary(dir: string, change: (summary: Record<string, unknown>) => Record<string, unknown>): void {
  const path = join(dir, 'manifest-summary.json');
  writeFileSync(path, JSON.stringify(change(JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>)));
}

describe('export folders holding exports the audit cannot use', () => {
  test('a newer incremental export and a newer Ion export beside the full DynamoDB JSON ones: passed over, the full ones read', async () => {
    const s = await scene();
    // A newer incremental export of the objects table (it holds changes, not the table)...
    const incremental = await writeDynamoExport([], {
      destDir: join(s.exportDir, 'incremental'),
      tableArn: localTableArn(s.fx.config.objectsTable),
      exportTime: s.now + HOUR,
    });
    editSummary(incremental, ({ exportTime, ...rest }) => ({
      ...rest,
      version: '2023-08-01',
      exportFromTime: new Date(s.now).toISOString(),
      exportToTime: exportTime,
      outputView: 'NEW_AND_OLD_IMAGES',
      exportType: 'INCREMENTAL_EXPORT',
    }));
    // ...and a newer full export of the change log in Amazon Ion.
    const ion = await writeDynamoExport([], {
      destDir: join(s.exportDir, 'ion'),
      tableArn: localTableArn(s.fx.config.changeLogTable),
      exportTime: s.now + HOUR,
    });
    editSummary(ion, (summary) => ({ ...summary, outputFormat: 'ION' }));

    const report = await auditOf(s.fx, s);
    expect(report.orphans).toEqual(s.orphans);
    expect(report.lost).toEqual([]);
    // The full exports were read: the referenced blob is no orphan, and neither skipped export's folder is named.
    expect(report.exports.objects.dir).not.toBe(incremental);
    expect(report.exports.changeLog.dir).not.toBe(ion);
    expect(report.exports.objects.items).toBe(1);
  });

  test("a newer export of a table whose name ends with this table's (`old-<table>`): another table's, passed over", async () => {
    const s = await scene();
    const other = await writeDynamoExport([], {
      destDir: join(s.exportDir, 'other'),
      tableArn: localTableArn(`old-${s.fx.config.objectsTable}`),
      exportTime: s.now + HOUR,
    });
    const report = await auditOf(s.fx, s);
    expect(report.exports.objects.dir).not.toBe(other);
    expect(report.exports.objects.items).toBe(1);
    // Read from that export, the referenced blob would have been proposed as an orphan.
    expect(report.proposed.orphans).toBe(s.orphans.length);
    expect(report.orphans).toEqual(s.orphans);
  });

  test("a newer export of another region's or account's table of the same name (a shared folder): refused, naming both, nothing read", async () => {
    for (const home of ['arn:aws:dynamodb:eu-west-1:000000000000', 'arn:aws:dynamodb:us-east-1:111111111111']) {
      const s = await scene();
      // Read from it (its table empty), the live blob was proposed an orphan, the losses of this
      // store's table went unseen, and the report named an export of another store.
      await writeDynamoExport([], {
        destDir: join(s.exportDir, 'elsewhere'),
        tableArn: `${home}:table/${s.fx.config.objectsTable}`,
        exportTime: s.now + HOUR,
      });
      const err = await auditOf(s.fx, s).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SnapshotError);
      expect((err as Error).message).toContain(`tables named "${s.fx.config.objectsTable}"`);
      expect((err as Error).message).toContain(`${home}:table/${s.fx.config.objectsTable}`);
      expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual(expect.arrayContaining([...s.orphans, s.live]));
    }
  });

  test("the objects table's only export is another account's: refused, the two tables are in two accounts", async () => {
    const s = await scene();
    const exports = join(s.exportDir, s.fx.config.objectsTable, 'AWSDynamoDB');
    for (const d of readdirSync(exports))
      editSummary(join(exports, d), (x) => ({
        ...x,
        tableArn: `arn:aws:dynamodb:us-east-1:111111111111:table/${s.fx.config.objectsTable}`,
      }));
    const err = await auditOf(s.fx, s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(/tables in 2 regions or accounts/);
  });

  test('only an Ion export of a table: refused, naming the table and why', async () => {
    const s = await scene();
    const table = s.fx.config.changeLogTable;
    // The change log's one export is made Ion.
    const exports = join(s.exportDir, table, 'AWSDynamoDB');
    for (const d of readdirSync(exports)) editSummary(join(exports, d), (x) => ({ ...x, outputFormat: 'ION' }));
    const err = await auditOf(s.fx, s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(new RegExp(`no full export of table "${table}" in DynamoDB JSON.*ION`));
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual(expect.arrayContaining([...s.orphans, s.live]));
  });
});

describe('export data files as DynamoDB writes them', () => {
  test("an empty partition's data file, zero bytes: read as no items", async () => {
    const s = await scene();
    // "The export creates at least 1 file per partition. For partitions that are empty, your export
    // request will create an empty file." (DynamoDB developer guide, table export output format)
    const exports = join(s.exportDir, s.fx.config.objectsTable, 'AWSDynamoDB');
    const dir = join(exports, readdirSync(exports)[0]!);
    const emptyKey = `AWSDynamoDB/${readdirSync(exports)[0]!}/data/0123456789abcdef.json.gz`;
    writeFileSync(join(dir, 'data', '0123456789abcdef.json.gz'), '');
    const filesPath = join(dir, 'manifest-files.json');
    const line = {
      itemCount: 0,
      md5Checksum: createHash('md5').update('').digest('base64'),
      etag: createHash('md5').update('').digest('hex'),
      dataFileS3Key: emptyKey,
    };
    writeFileSync(filesPath, `${readFileSync(filesPath, 'utf8')}${JSON.stringify(line)}\n`);

    const report = await auditOf(s.fx, s);
    expect(report.orphans).toEqual(s.orphans);
    expect(report.exports.objects.items).toBe(1);
  });

  test('an empty data file whose manifest line says it holds items: refused (its items would be missing)', async () => {
    const s = await scene();
    const exports = join(s.exportDir, s.fx.config.objectsTable, 'AWSDynamoDB');
    const dir = join(exports, readdirSync(exports)[0]!);
    // The one data file emptied, its line and the summary's count left as they were (md5 of nothing).
    const filesPath = join(dir, 'manifest-files.json');
    const line = JSON.parse(readFileSync(filesPath, 'utf8').trim()) as { itemCount: number; md5Checksum: string; dataFileS3Key: string };
    expect(line.itemCount).toBe(1);
    writeFileSync(join(dir, line.dataFileS3Key.slice(line.dataFileS3Key.indexOf('data/'))), '');
    writeFileSync(filesPath, `${JSON.stringify({ ...line, md5Checksum: createHash('md5').update('').digest('base64') })}\n`);
    const err = await auditOf(s.fx, s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(/empty, the manifest says 1 items/);
  });
});

describe('a Parquet inventory of the fields its configuration asks for', () => {
  test('without the optional field Size (no `size` column): the audit runs and finds the orphans', async () => {
    const s = await scene('Parquet');
    const manifest = JSON.parse(readFileSync(s.manifest, 'utf8')) as {
      fileSchema: string;
      files: Array<{ key: string; size: number; MD5checksum: string }>;
    };
    // Rewrite the data file without `size`, as S3 writes it for a configuration without Size.
    const root = join(s.manifest, '..', '..', '..', '..');
    const dataPath = join(root, manifest.files[0]!.key);
    const stripped = `${dataPath}.tmp.parquet`;
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    try {
      await c.run(
        `COPY (SELECT bucket, "key", last_modified_date FROM read_parquet(${sqlString(dataPath)})) TO ${sqlString(stripped)} (FORMAT parquet)`,
      );
    } finally {
      c.closeSync();
      db.closeSync();
    }
    writeFileSync(dataPath, readFileSync(stripped));
    rmSync(stripped);
    manifest.fileSchema = manifest.fileSchema.replace(' optional int64 size;', '');
    manifest.files[0] = { ...manifest.files[0]!, size: readFileSync(dataPath).length, MD5checksum: await md5File(dataPath) };
    const text = JSON.stringify(manifest);
    writeFileSync(s.manifest, text);
    writeFileSync(join(s.manifest, '..', 'manifest.checksum'), createHash('md5').update(text).digest('hex'));

    const report = await auditOf(s.fx, s);
    expect(report.orphans).toEqual(s.orphans);
    expect(report.lost).toEqual([]);
  });
});

describe('an inventory of all versions (a versioned bucket)', () => {
  /** One row of an inventory of all versions. */
  interface VersionRow {
    readonly key: string;
    readonly latest: boolean;
    readonly deleteMarker: boolean;
  }

  /** Rewrites the scene's one data file with `rows` (and their manifest entry), as S3 writes an inventory of all versions. */
  async function writeVersions(manifestPath: string, bucket: string, format: 'CSV' | 'Parquet', rows: VersionRow[]): Promise<void> {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      fileSchema: string;
      files: Array<{ key: string; size: number; MD5checksum: string }>;
    };
    const dataPath = join(manifestPath, '..', '..', '..', '..', manifest.files[0]!.key);
    const modified = new Date(Date.now() - 3 * HOUR).toISOString();
    if (format === 'CSV') {
      const lines = rows.map((r, i) =>
        [bucket, r.key, `v${i}`, String(r.latest), String(r.deleteMarker), r.deleteMarker ? '' : '12', modified]
          .map((f) => `"${f}"`)
          .join(','),
      );
      writeFileSync(dataPath, gzipSync(`${lines.join('\n')}\n`));
      manifest.fileSchema = 'Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate';
    } else {
      const values = rows
        .map(
          (r, i) =>
            `(${sqlString(bucket)}, ${sqlString(r.key)}, 'v${i}', ${r.latest}, ${r.deleteMarker}, ${r.deleteMarker ? 'NULL' : 12}, TIMESTAMP '${modified.slice(0, 10)} ${modified.slice(11, 23)}')`,
        )
        .join(', ');
      const db = await DuckDBInstance.create(':memory:');
      const c = await db.connect();
      try {
        await c.run(
          `COPY (SELECT * FROM (VALUES ${values}) AS t(bucket, "key", version_id, is_latest, is_delete_marker, "size", last_modified_date)) TO ${sqlString(dataPath)} (FORMAT parquet)`,
        );
      } finally {
        c.closeSync();
        db.closeSync();
      }
      manifest.fileSchema =
        'message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional binary version_id (STRING); optional boolean is_latest; optional boolean is_delete_marker; optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true)); }';
    }
    manifest.files[0] = { ...manifest.files[0]!, size: readFileSync(dataPath).length, MD5checksum: await md5File(dataPath) };
    const text = JSON.stringify(manifest);
    writeFileSync(manifestPath, text);
    writeFileSync(join(manifestPath, '..', 'manifest.checksum'), createHash('md5').update(text).digest('hex'));
  }

  test.each(['CSV', 'Parquet'] as const)(
    '%s: a blob whose latest version is a delete marker is not in the bucket (HV pointing at it: a loss); current versions are read',
    async (format) => {
      const fx = await freshFixture();
      const orphans = await putOrphans(fx, 2);
      const live = blobKey(fx, 'live');
      await putBlob(fx, live);
      await putTombstone(fx, 'live', live);
      // HV points at a blob that was deleted: its versions are a noncurrent one and the delete marker.
      const gone = blobKey(fx, 'gone');
      await putTombstone(fx, 'gone', gone);
      const now = Date.now() + 2 * HOUR;
      const snap = await snapshotsAt(fx, now, format);
      await writeVersions(snap.manifest, fx.config.bucket, format, [
        ...[...orphans, live].map((key) => ({ key, latest: true, deleteMarker: false })),
        // An old version of an orphan, noncurrent: the key is there, once.
        { key: orphans[0]!, latest: false, deleteMarker: false },
        { key: gone, latest: false, deleteMarker: false },
        { key: gone, latest: true, deleteMarker: true },
      ]);
      const report = await auditOf(fx, { ...snap, now });
      expect(report.proposed).toEqual({ orphans: 2, lost: 1, expired: 0 });
      expect(report.orphans).toEqual(orphans);
      expect(report.lost).toEqual([{ key: gone, objectKey: 'gone' }]);
    },
  );
});
