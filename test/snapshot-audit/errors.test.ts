/**
 * The snapshot audit never deletes and then loses the report of it to an error: the proposed
 * losses are confirmed live (read only) before any proposed orphan is re-verified and deleted,
 * so a failing read there stops the audit with nothing deleted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { snapshotLiveState } from '../../lib/recovery/snapshot-audit/snapshot-writer.js';
import { freshFixture, listKeys } from '../support/local.js';
import { blobKey, HOUR, putBlob, putTombstone } from '../cli/helpers.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('snapshot audit under failures', () => {
  test('a failing live read of a proposed loss stops the audit before any orphan is deleted', async () => {
    const fx = await freshFixture();
    const orphan = blobKey(fx, 'gone');
    await putBlob(fx, orphan);
    await putTombstone(fx, 'lost-object', blobKey(fx, 'lost-object'));
    const destDir = mkdtempSync(join(tmpdir(), 'tierlog-snapshot-'));
    dirs.push(destDir);
    const now = Date.now() + 2 * HOUR;
    const snap = await snapshotLiveState({
      dynamodb: fx.dynamodb,
      s3: fx.s3,
      bucket: fx.config.bucket,
      tables: [fx.config.objectsTable, fx.config.changeLogTable],
      destDir,
      format: 'CSV',
      at: now,
    });
    const dynamodb = createDynamoDBClient();
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'BatchGetItemCommand' && JSON.stringify(r.input).includes('lost-object'),
        error: () => Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }),
      })
      .attach(dynamodb, 'dynamodb');
    try {
      await expect(
        snapshotAudit({
          config: fx.config,
          dynamodb,
          s3: fx.s3,
          inventory: snap.manifest,
          exportDir: snap.exportDir,
          olderThanMs: HOUR,
          now,
          delete: true,
        }),
      ).rejects.toThrow(/access denied/);
      expect(await listKeys(fx.s3, fx.config.bucket, `${fx.config.prefix}/`)).toEqual([orphan]);
    } finally {
      dynamodb.destroy();
    }
  });
});
