/**
 * Snapshots an adversary (or an honest mistake) hands the snapshot audit. Each scene is a store
 * with a live large object (HV points at its blob) and an old orphan, snapshotted in the AWS
 * formats 2 h from now (the CLI's clock runs as far ahead), then one file changed. What must
 * hold, checked from outside (the CLI's report and exit code, a listing of the bucket):
 *
 *  - a snapshot that did not see the bucket is never reported "clean" (exit 0): an inventory of
 *    another prefix, or of nothing, lacks the live blob, which the bucket has held since long
 *    before the inventory (found live among the proposed losses);
 *  - a live blob is never reported a confirmed orphan, with or without `--delete`;
 *  - a snapshot time that is not one (seconds for milliseconds, an export "of 1970") is refused,
 *    not read as a cutoff decades back that proposes nothing;
 *  - a proposed loss that cannot be judged live (the listing refused, an export item naming no
 *    object) is reported as such, exit 1: neither a loss nor cleared in silence;
 *  - a blob listed twice is judged, deleted and counted once;
 *  - nothing is deleted but the orphan.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { newChangeId } from '../../lib/ids.js';
import { md5File, readInventory } from '../../lib/recovery/snapshot-audit/inventory.js';
import { findExports } from '../../lib/recovery/snapshot-audit/dynamo-export.js';
import { runSnapshotQuery } from '../../lib/recovery/snapshot-audit/duckdb-runner.js';
import { describe, expect, test } from 'vitest';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createS3Client } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { localTableArn, writeDynamoExport, writeInventory } from '../../lib/recovery/snapshot-audit/snapshot-writer.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { blobKey, cli, cliJson, HOUR, putBlob, putRawInstance, putTombstone, rawEntry, storeWithOrphan } from '../cli/helpers.js';
import { snapshotsRemovedAfterAll } from './snapshots.js';

const snapshotsAt = snapshotsRemovedAfterAll();
const AHEAD = 2 * HOUR;

interface Scene {
  readonly fx: Fixture;
  readonly live: string;
  readonly orphan: string;
  readonly now: number;
  readonly manifest: string;
  readonly exportDir: string;
}

/** A live large object and an orphan, blobs of an hour ago; snapshots (CSV) taken 2 h from now. */
async function scene(): Promise<Scene> {
  const made = await storeWithOrphan(Date.now() - HOUR);
  const now = Date.now() + AHEAD;
  return { ...made, now, ...(await snapshotsAt(made.fx, now)) };
}

const fromSnapshots = (s: Pick<Scene, 'manifest' | 'exportDir'>) => ['--inventory', s.manifest, '--export', s.exportDir];

/** `tierlog audit --older-than 1h --inventory … --export … --json` on the scene's clock. */
function audit(fx: Fixture, s: Scene, more: string[] = []) {
  return cliJson(fx, ['audit', '--older-than', '1h', ...fromSnapshots(s), ...more], { clock: () => s.now });
}

/** The fields of an inventory manifest the tests change. */
interface Manifest {
  creationTimestamp: string;
  fileFormat: string;
  fileSchema: string;
  files: unknown[];
}

/** Rewrites the scene's manifest with `change`; its manifest.checksum is removed (S3's would not match). */
function editManifest(s: Scene, change: (manifest: Manifest) => void): void {
  const manifest = JSON.parse(readFileSync(s.manifest, 'utf8')) as Manifest;
  change(manifest);
  writeFileSync(s.manifest, JSON.stringify(manifest));
  rmSync(join(s.manifest, '..', 'manifest.checksum'), { force: true });
}

/** Adds to the scene's manifest a data file of another inventory configuration, listing `rows`. */
async function addInventoryFile(
  s: Scene,
  rows: Array<{ key: string; size: number; lastModified: number }>,
  configurationId: string,
): Promise<void> {
  const other = await writeInventory(rows, {
    destDir: join(s.manifest, '..', '..', '..', '..'),
    sourceBucket: s.fx.config.bucket,
    format: 'CSV',
    createdAt: s.now,
    configurationId,
  });
  const file = (JSON.parse(readFileSync(other, 'utf8')) as { files: unknown[] }).files[0];
  editManifest(s, (m) => {
    m.files = [...m.files, file];
  });
}

describe('an inventory that did not see the prefix is never "clean"', () => {
  test.each<[string, Array<{ key: string; size: number; lastModified: number }>]>([
    ['an inventory of another prefix of the bucket', [{ key: 'logs/2024/app.log', size: 10, lastModified: Date.now() - 5 * HOUR }]],
    ['an inventory of no object at all', []],
  ])('%s: exit 1 naming the live blob it lacks, and --delete deletes nothing', async (_name, rows) => {
    const s = await scene();
    const manifest = await writeInventory(rows, {
      destDir: join(s.exportDir, '..', 'other-inventory'),
      sourceBucket: s.fx.config.bucket,
      format: 'CSV',
      createdAt: s.now,
    });
    const before = await listKeys(s.fx.s3, s.fx.config.bucket);
    for (const more of [[], ['--delete']]) {
      const run = await audit(s.fx, { ...s, manifest }, more);
      expect(run.code).toBe(1);
      expect(run.json).toMatchObject({ orphans: [], lost: [], deleted: 0, inventoryMissed: [s.live] });
    }
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual(before);
    // The human report says so too.
    const human = await cli(s.fx, ['audit', '--older-than', '1h', ...fromSnapshots({ ...s, manifest })], { clock: () => s.now });
    expect(human.code).toBe(1);
    expect(human.out).toContain(`INVENTORY INCOMPLETE`);
  });

  test('an inventory that lacks the live blob, among others it lists: exit 1; the orphan it lists is re-verified live and deleted', async () => {
    const s = await scene();
    const manifest = await writeInventory([{ key: s.orphan, size: 12, lastModified: Date.now() - HOUR }], {
      destDir: join(s.exportDir, '..', 'partial-inventory'),
      sourceBucket: s.fx.config.bucket,
      format: 'CSV',
      createdAt: s.now,
    });
    const run = await audit(s.fx, { ...s, manifest }, ['--delete']);
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ orphans: [s.orphan], deleted: 1, inventoryMissed: [s.live] });
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual([s.live]);
  });

  test("keys of a sibling prefix (`<prefix>-old/…`, `<prefix>.txt`) are not the store's: no finding, exit 0", async () => {
    const s = await scene();
    const p = s.fx.config.prefix;
    const sibling = [`${p}-old/${s.orphan.slice(p.length + 1)}`, `${p}.txt`];
    const manifest = await writeInventory(
      [s.live, s.orphan, ...sibling].map((key) => ({ key, size: 12, lastModified: Date.now() - HOUR })),
      { destDir: join(s.exportDir, '..', 'sibling-inventory'), sourceBucket: s.fx.config.bucket, format: 'CSV', createdAt: s.now },
    );
    const run = await audit(s.fx, { ...s, manifest }, ['--delete']);
    expect(run).toMatchObject({ code: 0, json: { orphans: [s.orphan], malformed: [], lost: [], deleted: 1 } });
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual([s.live]);
  });

  test('control: the complete inventory deletes the orphan, exit 0', async () => {
    const s = await scene();
    const run = await audit(s.fx, s, ['--delete']);
    expect(run).toMatchObject({ code: 0, json: { orphans: [s.orphan], deleted: 1, inventoryMissed: [] } });
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual([s.live]);
  });
});

describe('a proposed loss that cannot be judged live is not cleared in silence', () => {
  test('the listing of the proposed lost blob is refused (access denied): reported not judged, exit 1', async () => {
    const s = await scene();
    const lost = blobKey(s.fx, 'lost-object', Date.now() - HOUR);
    await putTombstone(s.fx, 'lost-object', lost);
    const snap = { ...s, ...(await snapshotsAt(s.fx, s.now)) };
    const s3 = createS3Client();
    const denied = () => Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    new FaultInjector()
      .add({ kind: 'fail', match: (r) => r.command === 'ListObjectsV2Command' && r.input.Prefix === lost, error: denied })
      .attach(s3, 's3');
    try {
      const run = await audit({ ...s.fx, s3 }, snap);
      expect(run.code).toBe(1);
      expect(run.json).toMatchObject({
        proposed: { lost: 1 },
        lost: [],
        lostUndecided: [{ key: lost, objectKey: 'lost-object', reason: expect.stringMatching(/AccessDenied|access denied/i) }],
      });
    } finally {
      s3.destroy();
    }
  });

  test('an objects-export item that names a blob and no object key: reported not judged (no bare DynamoDB ValidationException), exit 1', async () => {
    const s = await scene();
    const named = blobKey(s.fx, 'nameless', Date.now() - HOUR);
    const item: Record<string, AttributeValue> = { blob: { S: named }, version: { N: '1' } };
    await writeDynamoExport([item], {
      destDir: join(s.exportDir, 'newer'),
      tableArn: localTableArn(s.fx.config.objectsTable),
      exportTime: s.now,
    });
    const run = await audit(s.fx, s, ['--delete']);
    expect(run.code).toBe(1);
    expect(run.json.lostUndecided).toEqual([{ key: named, objectKey: '', reason: expect.stringContaining('names no object') }]);
  });
});

describe('objects-table attribute names that are not the writers', () => {
  test('report only (no --delete): the live blob is kept as not understood, never reported a confirmed orphan', async () => {
    const s = await scene();
    const wrong = { ...s.fx, config: { ...s.fx.config, hvAttributes: { blob: 'ptr' } } };
    const run = await audit(wrong, s);
    // Read under "ptr", the export shows no pointer: both blobs are proposed.
    expect(run.json.proposed.orphans).toBe(2);
    expect(run.json.orphans).not.toContain(s.live);
    expect(run.json.kept).toEqual(expect.arrayContaining([{ key: s.live, reason: 'objects-table-unrecognised' }]));
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toContain(s.live);
    // Not a clean run for --exit-code either: what could not be read is left for a person.
    const flagged = await cli(wrong, ['audit', '--older-than', '1h', '--exit-code', ...fromSnapshots(s)], { clock: () => s.now });
    expect(flagged.code).toBe(3);
  });
});

describe('an inventory the audit cannot read as the report of its keys and times: refused before the query', () => {
  test.each<[string, (m: Manifest) => void, RegExp]>([
    [
      'ORC',
      (m) => {
        m.fileFormat = 'ORC';
      },
      /ORC inventories are not supported/,
    ],
    [
      'CSV without LastModifiedDate',
      (m) => {
        m.fileSchema = 'Bucket, Key, Size';
      },
      /lacks the field LastModifiedDate/,
    ],
    [
      'CSV without Key',
      (m) => {
        m.fileSchema = 'Bucket, Size, LastModifiedDate';
      },
      /lacks the field Key/,
    ],
    [
      'Parquet without last_modified_date',
      (m) => {
        m.fileFormat = 'Parquet';
        m.fileSchema = 'message s3.inventory { required binary bucket (STRING); required binary key (STRING); optional int64 size; }';
      },
      /lacks the field last_modified_date/,
    ],
  ])('%s', async (_, change, message) => {
    const s = await scene();
    editManifest(s, change);
    const run = await audit(s.fx, s, ['--delete']);
    expect(run.code).toBe(1);
    expect(run.json.error).toMatchObject({ name: 'SnapshotError', message: expect.stringMatching(message) });
    expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual([s.live, s.orphan].sort());
  });
});

/** The folder of the scene's export of the objects table (`…/AWSDynamoDB/<id>`). */
function objectsExportDir(s: Scene): string {
  const exports = join(s.exportDir, s.fx.config.objectsTable, 'AWSDynamoDB');
  return join(exports, readdirSync(exports)[0]!);
}

describe('snapshot files that are not whole (a copy interrupted, a file edited)', () => {
  // Each is a SnapshotError naming what is wrong (exit 1), before anything is judged or deleted.
  test.each<[string, (s: Scene) => void, RegExp]>([
    [
      "a data file of the objects table's export missing",
      (s) => {
        const data = join(objectsExportDir(s), 'data');
        for (const f of readdirSync(data)) rmSync(join(data, f));
      },
      /export data file data\/.* is missing/,
    ],
    [
      "the objects table's export without its manifest-files.json",
      (s) => rmSync(join(objectsExportDir(s), 'manifest-files.json')),
      /cannot read manifest-files\.json: ENOENT: no such file or directory/,
    ],
    [
      'a line of manifest-files.json that is not JSON',
      (s) => writeFileSync(join(objectsExportDir(s), 'manifest-files.json'), '{"itemCount": 1\n'),
      /malformed line in manifest-files\.json/,
    ],
    [
      "the inventory's data file missing",
      (s) => {
        // S3 Inventory's key is the file's path from the destination bucket's root: beside the manifest or above it.
        const manifest = JSON.parse(readFileSync(s.manifest, 'utf8')) as { files: Array<{ key: string }> };
        for (const f of manifest.files)
          for (let dir = dirname(s.manifest); dir !== dirname(dir); dir = dirname(dir)) rmSync(join(dir, f.key), { force: true });
      },
      /inventory data file .* not found beside the manifest or above it/,
    ],
  ])('%s: refused', async (_, damage, message) => {
    const s = await scene();
    damage(s);
    const run = await audit(s.fx, s, ['--delete']);
    expect(run.json.error).toMatchObject({ name: 'SnapshotError', message: expect.stringMatching(message) });
    expect(run.code).toBe(1);
    expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual([s.live, s.orphan].sort());
  });
});

describe('a prefix with characters a regular expression reads (a configuration may use . ( ) !)', () => {
  // The query finds blob keys (and the change-log texts that name them) by regular expressions
  // built from the prefix: read as a pattern, "(" makes a group and "." any character.
  test('the orphan is found and deleted; the live blob and one a change-log entry names are kept', async () => {
    const prefix = "v1.0/my(blobs)!'x";
    const fx = await freshFixture({ prefix });
    const orphan = blobKey(fx, 'a-orphan', Date.now() - HOUR);
    const live = blobKey(fx, 'z-live', Date.now() - HOUR);
    const inFlight = blobKey(fx, 'm-in-flight', Date.now() - HOUR);
    for (const key of [orphan, live, inFlight]) await putBlob(fx, key);
    await putTombstone(fx, 'z-live', live);
    await putRawInstance(fx, {
      leaseUntil: Date.now() + 3 * HOUR,
      entries: { [newChangeId()]: rawEntry('m-in-flight', { new: inFlight }, HOUR) },
    });
    const now = Date.now() + AHEAD;
    const s = { ...(await snapshotsAt(fx, now)), now };
    const run = await cliJson(fx, ['audit', '--older-than', '1h', '--inventory', s.manifest, '--export', s.exportDir, '--delete'], {
      clock: () => s.now,
    });
    expect(run.json).toMatchObject({ orphans: [orphan], deleted: 1, malformed: [] });
    expect((await listKeys(fx.s3, fx.config.bucket)).sort()).toEqual([inFlight, live].sort());
  });
});

describe('snapshot times that are not times', () => {
  test('an inventory creationTimestamp in seconds: refused (it would put the cutoff in 1970 and report clean)', async () => {
    const s = await scene();
    editManifest(s, (m) => {
      m.creationTimestamp = String(Math.floor(s.now / 1000));
    });
    const run = await audit(s.fx, s, ['--delete']);
    expect(run.code).toBe(1);
    expect(run.json.error).toMatchObject({ name: 'SnapshotError', message: expect.stringMatching(/creationTimestamp .* milliseconds/) });
    expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual([s.live, s.orphan].sort());
  });

  test('an export whose exportTime is the epoch: refused', async () => {
    const s = await scene();
    const exports = join(s.exportDir, s.fx.config.objectsTable, 'AWSDynamoDB');
    const summaryPath = join(exports, readdirSync(exports)[0]!, 'manifest-summary.json');
    const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(summaryPath, JSON.stringify({ ...summary, exportTime: '1970-01-01T00:00:00.000Z' }));
    const run = await audit(s.fx, s, ['--delete']);
    expect(run.code).toBe(1);
    expect(run.json.error).toMatchObject({ name: 'SnapshotError', message: expect.stringContaining('exportTime') });
  });
});

/** Sets the exportTime in the summary of the scene's export of `table` (the audit checks no checksum of it). */
function editExportTime(s: Scene, table: string, exportTime: number): void {
  const exports = join(s.exportDir, table, 'AWSDynamoDB');
  const summaryPath = join(exports, readdirSync(exports)[0]!, 'manifest-summary.json');
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>;
  writeFileSync(summaryPath, JSON.stringify({ ...summary, exportTime: new Date(exportTime).toISOString() }));
}

describe('the cutoff is the safety age before the oldest snapshot', () => {
  test.each<[string, (s: Scene, at: number) => void]>([
    [
      'the inventory',
      (s, at) =>
        editManifest(s, (m) => {
          m.creationTimestamp = String(at);
        }),
    ],
    ['the objects export', (s, at) => editExportTime(s, s.fx.config.objectsTable, at)],
    ['the change-log export', (s, at) => editExportTime(s, s.fx.config.changeLogTable, at)],
  ])('%s taken 30 min before the others: blobs are old enough 1 h before it', async (_, takenAt) => {
    const s = await scene();
    const oldest = s.now - 30 * 60_000;
    takenAt(s, oldest);
    const run = await audit(s.fx, s);
    expect(run.code).toBe(0);
    expect(run.json.cutoff).toBe(new Date(oldest - HOUR).toISOString());
    expect(run.json.orphans).toEqual([s.orphan]);
  });
});

describe('a change-log export that writes "/" as "\\/" (valid JSON)', () => {
  test('the blob an entry names there is protected: not proposed, not deleted', async () => {
    const made = await storeWithOrphan(Date.now() - HOUR);
    const objectId = Buffer.from(made.orphan.split('/')[1]!, 'base64url').toString('utf8');
    await putRawInstance(made.fx, {
      leaseUntil: Date.now() + HOUR,
      entries: { [newChangeId()]: rawEntry(objectId, { new: made.orphan }) },
    });
    const now = Date.now() + AHEAD;
    const s: Scene = { ...made, now, ...(await snapshotsAt(made.fx, now)) };
    const exports = join(s.exportDir, s.fx.config.changeLogTable, 'AWSDynamoDB');
    const dir = join(exports, readdirSync(exports)[0]!);
    const filesPath = join(dir, 'manifest-files.json');
    const line = JSON.parse(readFileSync(filesPath, 'utf8').trim()) as { md5Checksum: string; dataFileS3Key: string };
    const dataPath = join(dir, line.dataFileS3Key.slice(line.dataFileS3Key.indexOf('data/')));
    const escaped = gunzipSync(readFileSync(dataPath)).toString('utf8').replaceAll('/', '\\/');
    expect(escaped).toContain(made.orphan.replaceAll('/', '\\/'));
    writeFileSync(dataPath, gzipSync(escaped));
    writeFileSync(filesPath, `${JSON.stringify({ ...line, md5Checksum: await md5File(dataPath, 'base64') })}\n`);
    const run = await audit(s.fx, s, ['--delete']);
    expect(run).toMatchObject({ code: 0, json: { proposed: { orphans: 0, lost: 0 }, orphans: [], kept: [], deleted: 0 } });
    expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual([s.live, s.orphan].sort());
  });
});

describe('a blob listed twice', () => {
  test('a manifest that lists its data file twice: refused', async () => {
    const s = await scene();
    editManifest(s, (m) => {
      m.files = [m.files[0], m.files[0]];
    });
    const run = await audit(s.fx, s, ['--delete']);
    expect(run.code).toBe(1);
    expect(run.json.error).toMatchObject({ name: 'SnapshotError', message: expect.stringContaining('twice') });
    expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual([s.live, s.orphan].sort());
  });

  test('two data files that both list the orphan: judged, deleted and counted once', async () => {
    const s = await scene();
    await addInventoryFile(s, [{ key: s.orphan, size: 12, lastModified: Date.now() - HOUR }], 'second');
    const run = await audit(s.fx, s, ['--delete']);
    expect(run).toMatchObject({ code: 0, json: { orphans: [s.orphan], deleted: 1 } });
    expect(await listKeys(s.fx.s3, s.fx.config.bucket)).toEqual([s.live]);
  });

  test('two data files that both list the orphan and a key that is no blob key: each proposed and reported once', async () => {
    const s = await scene();
    const stray = `${s.fx.config.prefix}/not-a-blob`;
    await putBlob(s.fx, stray);
    const rows = [
      { key: s.orphan, size: 12, lastModified: Date.now() - HOUR },
      { key: stray, size: 12, lastModified: Date.now() - HOUR },
    ];
    for (const configurationId of ['second', 'third']) await addInventoryFile(s, rows, configurationId);
    const run = await audit(s.fx, s);
    expect(run.json).toMatchObject({ proposed: { orphans: 1, lost: 0 }, orphans: [s.orphan], malformed: [stray] });
  });

  test('a key the inventory lists twice is one row of the query itself, the text Athena runs (its batches take the rows as they come)', async () => {
    const s = await scene();
    const stray = `${s.fx.config.prefix}/not-a-blob`;
    await putBlob(s.fx, stray);
    await addInventoryFile(
      s,
      [
        { key: s.orphan, size: 12, lastModified: Date.now() - HOUR },
        { key: stray, size: 12, lastModified: Date.now() - HOUR },
        { key: stray, size: 12, lastModified: Date.now() - HOUR },
      ],
      'second',
    );
    const exports = await findExports(s.exportDir, { objects: s.fx.config.objectsTable, changeLog: s.fx.config.changeLogTable });
    // Athena's result is split into Distributed Map batches as it comes: a key in two rows was
    // re-verified in two batches, each counting it confirmed and deleted (S3 answers a delete of a
    // key already gone as done), so the run's SnapshotOrphansDeleted told of two deletes.
    const rows = await runSnapshotQuery({
      inventory: await readInventory(s.manifest),
      objects: exports.objects,
      changeLog: exports.changeLog,
      prefix: s.fx.config.prefix,
      cutoffMs: s.now - HOUR,
    });
    expect(rows.map((r) => `${r.kind} ${r.blobKey}`).sort()).toEqual([`malformed ${stray}`, `orphan ${s.orphan}`]);
  });
});
