/**
 * Snapshots of a fixture's live state for the snapshot audit's tests (DynamoDB Local has no
 * export): an S3 Inventory of its bucket and a DynamoDB export of each of its two tables, written
 * by `snapshotLiveState` in the AWS formats into a temporary directory of their own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { snapshotLiveState } from '../../lib/recovery/snapshot-audit/snapshot-writer.js';
import type { Fixture } from '../support/local.js';

/** Where a snapshot audit reads: the inventory's manifest and the root of the exports. */
export interface Snapshots {
  readonly manifest: string;
  readonly exportDir: string;
}

/**
 * A function that snapshots a fixture, stamped `at`; the directories it writes are removed after
 * the file's tests. Call it at the top level of a test file.
 */
export function snapshotsRemovedAfterAll(): (fx: Fixture, at: number, format?: 'CSV' | 'Parquet') => Promise<Snapshots> {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return (fx, at, format = 'CSV') => {
    const destDir = mkdtempSync(join(tmpdir(), 'tierlog-snapshot-'));
    dirs.push(destDir);
    return snapshotLiveState({
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      bucket: fx.config.bucket,
      tables: [fx.config.objectsTable, fx.config.changeLogTable],
      destDir,
      format,
      at,
    });
  };
}
