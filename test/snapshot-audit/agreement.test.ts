/**
 * The snapshot audit against the real local servers. The scene is real state (objects written
 * through `TieredStore`, an overwrite, an inline object), plus planted cases: orphans, a lost blob
 * (a tombstone whose blob was never uploaded), a young orphan, an in-flight entry naming an old
 * unreferenced blob, an unparseable entry naming another, and malformed keys. The snapshots are
 * written from that state in the AWS formats (DynamoDB Local has no export). The CLI's clock and
 * the snapshots' times run 2 h ahead, so blobs written now are 2 h old.
 *
 * What users rely on: the snapshot audit proposes, and after live re-verification confirms, the
 * same orphans as the listing audit (which lists the bucket), except the blobs a change-log entry
 * names (the listing audit does not read the change log); it finds the lost blob the listing
 * audit cannot see; it deletes only confirmed orphans; and what changed since the snapshots is
 * caught by the re-verification.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { newChangeId } from '../../lib/ids.js';
import { SnapshotError } from '../../lib/recovery/snapshot-audit/errors.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { localTableArn, writeDynamoExport } from '../../lib/recovery/snapshot-audit/snapshot-writer.js';
import { auditFindingsLeft } from '../../lib/cli/audit.js';
import { snapshotFindingsLeft } from '../../lib/recovery/snapshot-audit/cli.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry } from '../cli/helpers.js';
import { type AuditScene, auditScene } from '../cli/audit-scene.js';
import { type Fixture, listKeys } from '../support/local.js';
import { type Snapshots, snapshotsRemovedAfterAll } from './snapshots.js';

const AHEAD = 2 * HOUR;
const ahead = () => Date.now() + AHEAD;
const snapshotsAt = snapshotsRemovedAfterAll();

interface Scene extends AuditScene {
  lost: string;
  inFlight: string;
  namedByUnparseable: string;
}

/** The audits' common scene, plus what only the snapshot audit tells apart. */
async function scene(): Promise<Scene> {
  const base = await auditScene();
  const fx = base.fx;
  // A live writer's entry names it: in flight, whatever its age.
  const inFlight = blobKey(fx, 'in-flight');
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  await log.record(newChangeId(), { id: 'in-flight', new: inFlight });
  log.close();
  // An entry that does not parse (unknown schema version) still protects the blob it names.
  const namedByUnparseable = blobKey(fx, 'quarantined');
  await putRawInstance(fx, {
    leaseUntil: Date.now() - HOUR,
    entries: { [newChangeId()]: { ...rawEntry('quarantined', { new: namedByUnparseable }), v: 99 } },
  });
  // HV points at a blob that was never uploaded: invariant 1 broken.
  const lost = blobKey(fx, 'lost-object');
  await putTombstone(fx, 'lost-object', lost);
  for (const key of [inFlight, namedByUnparseable]) await putBlob(fx, key);
  return { ...base, lost, inFlight, namedByUnparseable };
}

/** Snapshots of the fixture, stamped 2 h ahead. */
const snapshots = (fx: Fixture, format: 'CSV' | 'Parquet'): Promise<Snapshots> => snapshotsAt(fx, ahead(), format);

/** The snapshot audit of `fx` from `snap` (the options every run here shares). */
const auditOf = (fx: Fixture, snap: Snapshots) => ({
  config: fx.config,
  dynamodb: fx.dynamodb,
  s3: fx.s3,
  inventory: snap.manifest,
  exportDir: snap.exportDir,
});

describe.each(['CSV', 'Parquet'] as const)('snapshot audit, %s inventory', (format) => {
  let s: Scene;
  let snap: Snapshots;
  beforeAll(async () => {
    s = await scene();
    snap = await snapshots(s.fx, format);
  });

  test('agrees with the listing audit: same orphans (but for the blobs entries name), same young and malformed keys; finds the loss', async () => {
    const listing = await cliJson(s.fx, ['audit', '--older-than', '90m'], { clock: ahead });
    const snapshot = await cliJson(s.fx, ['audit', '--older-than', '90m', '--inventory', snap.manifest, '--export', snap.exportDir], {
      clock: ahead,
    });
    expect(listing.code).toBe(0);
    // A confirmed loss is a failure exit.
    expect(snapshot.code).toBe(1);

    const listed = listing.json.orphans.map((u: { key: string }) => u.key).sort();
    // Both read the change log: the blobs that entries name are in flight for both, orphans for neither.
    expect(listed).toEqual([...s.orphans].sort());
    expect(listing.json.inFlight.map((b: { key: string }) => b.key).sort()).toEqual([s.inFlight, s.namedByUnparseable].sort());
    expect(snapshot.json.orphans).toEqual(s.orphans);
    // The query's shape test is coarse: the key whose object segment is not canonical base64url is proposed,
    // and the re-verification's exact test reports it malformed.
    expect(snapshot.json.proposed).toEqual({ orphans: s.orphans.length + 1, lost: 1, expired: 0 });
    expect(snapshot.json.kept).toEqual([]);
    expect(snapshot.json.orphans).not.toContain(s.young);
    expect(snapshot.json.orphans).not.toContain(s.inFlight);
    expect(snapshot.json.orphans).not.toContain(s.namedByUnparseable);
    for (const ref of s.referenced) expect(snapshot.json.orphans).not.toContain(ref);

    expect(listing.json.young).toBe(1);
    expect(snapshot.json.malformed).toEqual(s.malformed);
    expect(listing.json.unparseable.map((m: { key: string }) => m.key).sort()).toEqual(s.malformed);

    expect(snapshot.json.lost).toEqual([{ key: s.lost, objectKey: 'lost-object' }]);
    expect(snapshot.json.deleted).toBe(0);

    // --exit-code: the findings a person must look at are counted, and a loss still exits 1, not 3.
    expect(snapshotFindingsLeft(snapshot.json)).toBe(s.orphans.length + s.malformed.length);
    // The listing audit also counts the change-log entry it cannot read.
    expect(listing.json.corruptChangeLog).toHaveLength(1);
    expect(auditFindingsLeft(listing.json)).toBe(s.orphans.length + s.malformed.length + 1);
    const flagged = await cli(
      s.fx,
      ['audit', '--older-than', '90m', '--exit-code', '--inventory', snap.manifest, '--export', snap.exportDir],
      {
        clock: ahead,
      },
    );
    expect(flagged.code).toBe(1);
    expect((await cli(s.fx, ['audit', '--older-than', '90m', '--exit-code'], { clock: ahead })).code).toBe(3);
  });

  test('--delete deletes exactly the confirmed orphans; referenced, young, in-flight and malformed blobs stay', async () => {
    const before = (await listKeys(s.fx.s3, s.fx.config.bucket)).sort();
    const run = await cliJson(
      s.fx,
      ['audit', '--older-than', '90m', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir],
      { clock: ahead },
    );
    expect(run.json.deleted).toBe(s.orphans.length);
    // Deleted, the orphans are no longer left for a person; the malformed keys are.
    expect(snapshotFindingsLeft(run.json)).toBe(s.malformed.length);
    const after = (await listKeys(s.fx.s3, s.fx.config.bucket)).sort();
    expect(after).toEqual(before.filter((k) => !s.orphans.includes(k)));
    // Run again from the same (now stale) snapshots: the gone orphans are proposed again, and deleting them is harmless.
    const again = await cliJson(
      s.fx,
      ['audit', '--older-than', '90m', '--delete', '--inventory', snap.manifest, '--export', snap.exportDir],
      { clock: ahead },
    );
    expect(again.json.proposed.orphans).toBe(s.orphans.length + 1);
    expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual(after);
  });
});

describe('re-verification: what changed since the snapshots', () => {
  test('an orphan that HV references by now, or that an entry names by now, is kept; a loss repaired since is not reported', async () => {
    const s = await scene();
    const snap = await snapshots(s.fx, 'Parquet');
    const [adopted, named, ...rest] = s.orphans as [string, string, ...string[]];
    // After the snapshots: HV points at one orphan, an entry names another, the lost blob appears.
    await putTombstone(s.fx, Buffer.from(adopted.split('/')[1]!, 'base64url').toString('utf8'), adopted);
    await putRawInstance(s.fx, { leaseUntil: Date.now() + HOUR, entries: { [newChangeId()]: rawEntry('whatever', { old: named }) } });
    await putBlob(s.fx, s.lost);
    let deletedKeys: string[] = [];
    const report = await snapshotAudit({
      ...auditOf(s.fx, snap),
      olderThanMs: 90 * 60_000,
      now: ahead(),
      delete: true,
      beforeDelete: (keys) => {
        deletedKeys = [...deletedKeys, ...keys];
      },
    });
    expect(report.proposed.orphans).toBe(s.orphans.length + 1);
    expect(report.kept).toEqual(
      expect.arrayContaining([
        { key: adopted, reason: 'referenced' },
        { key: named, reason: 'named-by-change-log' },
      ]),
    );
    expect(report.kept).toHaveLength(2);
    expect(deletedKeys.sort()).toEqual(rest.sort());
    const left = await listKeys(s.fx.s3, s.fx.config.bucket);
    expect(left).toEqual(expect.arrayContaining([adopted, named]));
    expect(report.lost).toEqual([]);
  });

  test('a safety age under 1 h is refused; a blob younger than the safety age NOW is kept even if the snapshots call it old', async () => {
    const s = await scene();
    const snap = await snapshots(s.fx, 'CSV');
    const base = auditOf(s.fx, snap);
    await expect(snapshotAudit({ ...base, olderThanMs: 30 * 60_000, now: ahead() })).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'olderThanMs',
      message: expect.stringContaining('at least 3600000 (1 h)'),
    });
    // Now is the real time, 2 h before the snapshots' stamp: the cutoff is 90 min before now, nothing is old enough.
    const report = await snapshotAudit({ ...base, olderThanMs: 90 * 60_000, now: Date.now() });
    expect(report.proposed.orphans).toBe(0);
    expect(report.orphans).toEqual([]);
  });
});

describe('snapshots that cannot be trusted are refused, nothing deleted', () => {
  let s: Scene;
  beforeAll(async () => {
    s = await scene();
  });

  async function attempt(mutate: (snap: Snapshots) => void | Promise<void>): Promise<unknown> {
    const snap = await snapshots(s.fx, 'CSV');
    await mutate(snap);
    const before = await listKeys(s.fx.s3, s.fx.config.bucket);
    const err = await snapshotAudit({ ...auditOf(s.fx, snap), olderThanMs: 90 * 60_000, now: ahead(), delete: true }).catch(
      (e: unknown) => e,
    );
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual(before);
    return err;
  }

  test.each<[string, (snap: Snapshots) => void | Promise<void>, RegExp]>([
    ['an inventory data file changed', (snap) => corruptFirstFile(snap.manifest), /MD5|bytes/],
    [
      'the manifest edited (checksum)',
      (snap) => writeFileSync(snap.manifest, readFileSync(snap.manifest, 'utf8').replace('"CSV"', '"CSV" ')),
      /manifest.checksum/,
    ],
    [
      'an export with an item missing',
      async (snap) => {
        // A second, newer export of the objects table whose summary claims one item more than its data holds.
        const dir = await writeDynamoExport([], {
          destDir: join(snap.exportDir, 'late'),
          tableArn: localTableArn(s.fx.config.objectsTable),
          exportTime: ahead() + HOUR,
        });
        const summaryPath = join(dir, 'manifest-summary.json');
        writeFileSync(summaryPath, readFileSync(summaryPath, 'utf8').replace('"itemCount":0', '"itemCount":1'));
      },
      /items/,
    ],
    [
      'an export data file replaced by one of no items (the manifest still counting them)',
      (snap) => writeFileSync(objectsExportDataFile(snap, s.fx.config.objectsTable), gzipSync('')),
      /MD5/,
    ],
    [
      'an export data file key with a `..` (`data/x/../`)',
      (snap) => {
        const dir = objectsExportDir(snap, s.fx.config.objectsTable);
        const filesPath = join(dir, 'manifest-files.json');
        const line = JSON.parse(readFileSync(filesPath, 'utf8').trim()) as { dataFileS3Key: string };
        writeFileSync(filesPath, `${JSON.stringify({ ...line, dataFileS3Key: line.dataFileS3Key.replace('/data/', '/data/x/../') })}\n`);
      },
      /not under data\//,
    ],
    [
      'no export of the change log',
      (snap) => rmSync(join(snap.exportDir, s.fx.config.changeLogTable), { recursive: true }),
      /no DynamoDB export of table/,
    ],
  ])('%s', async (_name, mutate, message) => {
    const err = await attempt(mutate);
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(message);
  });

  test('an inventory of another bucket', async () => {
    const err = await attempt((snap) => {
      const m = JSON.parse(readFileSync(snap.manifest, 'utf8'));
      m.sourceBucket = 'someone-else';
      writeFileSync(snap.manifest, JSON.stringify(m));
      rmSync(join(snap.manifest, '..', 'manifest.checksum'));
    });
    expect(err).toBeInstanceOf(SnapshotError);
    expect((err as Error).message).toMatch(/someone-else/);
  });
});

/** The folder of the one export of `table` in `snap`. */
function objectsExportDir(snap: Snapshots, table: string): string {
  const exports = join(snap.exportDir, table, 'AWSDynamoDB');
  return join(exports, readdirSync(exports)[0]!);
}

/** The one data file of the export of `table` in `snap`. */
function objectsExportDataFile(snap: Snapshots, table: string): string {
  const dir = objectsExportDir(snap, table);
  const line = JSON.parse(readFileSync(join(dir, 'manifest-files.json'), 'utf8').trim()) as { dataFileS3Key: string };
  return join(dir, line.dataFileS3Key.slice(line.dataFileS3Key.indexOf('data/')));
}

function corruptFirstFile(manifestPath: string): void {
  const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: Array<{ key: string }> };
  let dir = join(manifestPath, '..');
  for (let i = 0; i < 5; i++) {
    try {
      const path = join(dir, m.files[0]!.key);
      const bytes = readFileSync(path);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
      writeFileSync(path, bytes);
      return;
    } catch {
      dir = join(dir, '..');
    }
  }
  throw new Error('data file not found');
}
