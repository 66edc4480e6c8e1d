/**
 * The snapshot audit's query at scale, with DuckDB on this machine:
 *
 *   npx tsx bench/stages/snapshot-audit.ts [--rows 10000000] [--dir /tmp/tierlog-snapshot-bench] [--memory 8GB]
 *
 * Generates (once per --rows and --dir) an S3 Inventory report in Parquet of `rows` blobs under
 * `blobs/` and full DynamoDB JSON exports of an objects table with `rows` items (99 % of them
 * tombstones pointing at those blobs, 1 % inline; 1 in 100 000 pointing at a blob the inventory
 * lacks, 1 in 10 000 expired long ago) and a change log of 1 000 in-flight entries, in the formats
 * AWS writes. Then runs the query in a child process and prints its time, the child's peak RSS, the
 * rows it returned, and the bytes Athena would scan (the inventory's three columns + the exports),
 * per million objects.
 *
 *   npx tsx bench/stages/snapshot-audit.ts --listing 5000
 *
 * times the listing audit (`tierlog audit`) over `n` blobs in the local S3 server instead.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { findExports } from '../../lib/recovery/snapshot-audit/dynamo-export.js';
import { runSnapshotQuery } from '../../lib/recovery/snapshot-audit/duckdb-runner.js';
import { readInventory } from '../../lib/recovery/snapshot-audit/inventory.js';
import { localTableArn, writeDynamoExport, writeInventory } from '../../lib/recovery/snapshot-audit/snapshot-writer.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    dir: { type: 'string', default: '/tmp/tierlog-snapshot-bench' },
    memory: { type: 'string' },
    child: { type: 'boolean', default: false },
    listing: { type: 'string' },
  },
});
const rows = Number(values.rows);
const root = join(values.dir!, String(rows));
const BUCKET = 'bench-bucket';
const OBJECTS = 'bench-objects';
const CHANGELOG = 'bench-changelog';
const T0 = Date.UTC(2025, 0, 1); // blobs are written from here on, one per ms
const NOW = T0 + rows + 30 * 24 * 3600_000;

/** SQL: the blob key of blob number `i` (a UUIDv7 whose time is T0 + i ms; object id `obj-<i>`). */
function blobKeySql(i: string): string {
  const b64 = `rtrim(replace(replace(to_base64(encode('obj-' || ${i})), '+', '-'), '/', '_'), '=')`;
  const rnd = `md5(CAST(${i} AS varchar))`;
  const uuid = `printf('%012x', ${T0} + ${i})`;
  return `('blobs/' || ${b64} || '/' || substr(${uuid}, 1, 8) || '-' || substr(${uuid}, 9, 4) || '-7' || substr(${rnd}, 1, 3) || '-8' || substr(${rnd}, 4, 3) || '-' || substr(${rnd}, 7, 12))`;
}

async function generate(): Promise<void> {
  if (existsSync(join(root, 'done'))) return;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const t = performance.now();
  await writeInventory(
    { sql: `SELECT ${blobKeySql('i')} AS "key", 1048576 + (i % 1000) AS "size", ${T0} + i AS last_modified_ms FROM range(${rows}) t(i)` },
    { destDir: join(root, 'inventory'), sourceBucket: BUCKET, format: 'Parquet', createdAt: NOW },
  );
  // Items: i % 100 = 0 inline (its blob is an orphan), else a tombstone; every 100 000th points at a missing blob;
  // every 10 000th (i % 10 000 = 5) expired an hour after its write, long before the cutoff: TTL never removed it.
  const chunk = 1_000_000;
  const parts = [];
  for (let from = 0; from < rows; from += chunk) {
    const to = Math.min(rows, from + chunk);
    const blob = `CASE WHEN i % 100000 = 1 THEN ${blobKeySql(`i + ${rows * 10}`)} ELSE ${blobKeySql('i')} END`;
    const j = (type: string, v: string) => `json_object('${type}', ${v})`;
    const common =
      `'key', ${j('S', "'obj-' || i")}, 'version', ${j('N', 'CAST(1 + i % 7 AS varchar)')}, 'size', ${j('N', 'CAST(1048576 + i % 1000 AS varchar)')}, ` +
      `'metadata', ${j('M', `json_object('owner', ${j('S', "'user-' || (i % 977)")})`)}, 'createdAt', ${j('N', `CAST(${T0} + i AS varchar)`)}, ` +
      `'updatedAt', ${j('N', `CAST(${T0} + i AS varchar)`)}, 'writeId', ${j('S', "md5('w' || i)")}, 'contentType', ${j('S', "'application/octet-stream'")}`;
    parts.push({
      sql:
        `SELECT CASE WHEN i % 100 = 0 THEN json_object(${common}, 'body', ${j('B', "to_base64(encode(repeat('x', 100)))")}) ` +
        `WHEN i % 10000 = 5 THEN json_object(${common}, 'blob', ${j('S', blob)}, 'expiresAt', ${j('N', `CAST((${T0} + i) // 1000 + 3600 AS varchar)`)}) ` +
        `ELSE json_object(${common}, 'blob', ${j('S', blob)}) END AS "Item" FROM range(${from}, ${to}) t(i)`,
      count: to - from,
    });
  }
  await writeDynamoExport({ parts }, { destDir: join(root, 'exports', OBJECTS), tableArn: localTableArn(OBJECTS), exportTime: NOW });
  // 1 000 instances, each with one entry naming an orphan (i % 100 = 0): those are protected.
  await writeDynamoExport(
    {
      parts: [
        {
          sql:
            `SELECT json_object('pk', json_object('S', 'inst-' || i), 'state', json_object('S', 'live'), 'leaseUntil', json_object('N', '${NOW}'), ` +
            `'c_chg', json_object('M', json_object('v', json_object('N', '1'), 'id', json_object('S', 'obj-' || (i * 100)), ` +
            `'new', json_object('S', ${blobKeySql('i * 100')}), 'at', json_object('N', '${NOW}')))) AS "Item" FROM range(${Math.min(1000, Math.ceil(rows / 100))}) t(i)`,
          count: Math.min(1000, Math.ceil(rows / 100)),
        },
      ],
    },
    { destDir: join(root, 'exports', CHANGELOG), tableArn: localTableArn(CHANGELOG), exportTime: NOW },
  );
  execFileSync('touch', [join(root, 'done')]);
  console.log(`generated ${rows} rows in ${((performance.now() - t) / 1000).toFixed(1)} s under ${root}`);
}

async function query(): Promise<void> {
  const manifestDir = join(root, 'inventory', BUCKET, 'tierlog-audit');
  const stamp = readdirSync(manifestDir).find((d) => d !== 'data')!;
  const t0 = performance.now();
  const inventory = await readInventory(join(manifestDir, stamp, 'manifest.json'));
  const exports = await findExports(join(root, 'exports'), { objects: OBJECTS, changeLog: CHANGELOG });
  const verifyMs = performance.now() - t0;
  const t1 = performance.now();
  const findings = await runSnapshotQuery({
    inventory,
    objects: exports.objects,
    changeLog: exports.changeLog,
    prefix: 'blobs',
    cutoffMs: NOW - 24 * 3600_000,
    ...(values.memory !== undefined ? { memoryLimit: values.memory } : {}),
  });
  const queryMs = performance.now() - t1;
  const count = (kind: string) => findings.filter((f) => f.kind === kind).length;
  const scanned = await athenaBytes(inventory.files, exports.objects.bytes + exports.changeLog.bytes);
  console.log(
    JSON.stringify({
      rows,
      verifyChecksumsS: +(verifyMs / 1000).toFixed(1),
      queryS: +(queryMs / 1000).toFixed(1),
      cpuS: +((process.cpuUsage().user + process.cpuUsage().system) / 1e6).toFixed(1),
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      orphans: count('orphan'),
      lost: count('lost'),
      expired: count('expired'),
      malformed: count('malformed'),
      inventoryBytes: inventory.bytes,
      exportBytes: exports.objects.bytes + exports.changeLog.bytes,
      athenaScannedBytes: scanned,
    }),
  );
}

/** Bytes Athena scans: the Parquet column chunks of key, size, last_modified_date, and whole export files. */
async function athenaBytes(parquetFiles: readonly string[], exportBytes: number): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:');
  const c = await instance.connect();
  const list = parquetFiles.map((f) => `'${f}'`).join(', ');
  const r = await c.runAndReadAll(
    `SELECT sum(total_compressed_size) AS b FROM parquet_metadata([${list}]) WHERE path_in_schema IN ('key', 'size', 'last_modified_date')`,
  );
  const b = Number(r.getRowObjectsJS()[0]!.b);
  c.closeSync();
  instance.closeSync();
  return b + exportBytes;
}

async function listing(n: number): Promise<void> {
  const { startLocalStack } = await import('../../lib/local/stack.js');
  const { destroyAgents } = await import('../common.js');
  const { listingAuditBench } = await import('./snapshot-audit-listing.js');
  const stack = await startLocalStack();
  try {
    console.log(JSON.stringify(await listingAuditBench(n)));
  } finally {
    destroyAgents();
    await stack.stop();
  }
}

if (values.listing !== undefined) {
  await listing(Number(values.listing));
} else if (values.child) {
  await query();
} else {
  await generate();
  const dirBytes = (p: string): number =>
    statSync(p).isDirectory() ? readdirSync(p).reduce((n, e) => n + dirBytes(join(p, e)), 0) : statSync(p).size;
  console.log(`snapshot files: ${(dirBytes(root) / 2 ** 20).toFixed(0)} MiB`);
  const child = spawnSync(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1]!,
      '--child',
      '--rows',
      String(rows),
      '--dir',
      values.dir!,
      ...(values.memory ? ['--memory', values.memory] : []),
    ],
    {
      stdio: 'inherit',
    },
  );
  process.exitCode = child.status ?? 1;
}
