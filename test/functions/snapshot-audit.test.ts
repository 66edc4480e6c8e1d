/**
 * `functions/snapshot-audit.ts` reads its settings as `loadConfig` reads the configuration: a
 * missing or malformed variable (or a safety age under the audit's 1 h floor) fails the load with
 * a ConfigError naming the variable, never a default (a NaN safety age used to make every
 * candidate "too young", silently; a small one deletes younger blobs than any other audit).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type ConfigError, ValidationError } from '../../lib/errors.js';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { snapshotAudit } from '../../lib/recovery/snapshot-audit/snapshot-audit.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { type Fixture, freshFixture, listKeys, testConfig } from '../support/local.js';
import { blobKey, putBlob, putRawInstance } from '../cli/helpers.js';
import { captureStdout, loadHandler } from './lambda.js';

const HOUR = 3_600_000;
const fx = { config: testConfig() } as Fixture;
const settings = {
  TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(24 * HOUR),
  TIERLOG_SNAPSHOT_DELETE: 'false',
  TIERLOG_SNAPSHOT_BUCKET: 'snapshots-1',
  TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX: 'inventory/hive',
  TIERLOG_SNAPSHOT_DATABASE: 'tierlog_audit',
};

const restores: Array<() => void> = [];
afterEach(() => {
  for (const r of restores.splice(0)) r();
});

async function load(overrides: Record<string, string>): Promise<unknown> {
  const env = { ...settings, ...overrides };
  // Unset ones (given as '') must not leak in from an earlier test.
  const { mod, restore } = await loadHandler(fx, () => import('../../functions/snapshot-audit.js'), env).catch((err: unknown) => {
    for (const k of Object.keys(env)) delete process.env[k];
    throw err;
  });
  restores.push(restore);
  return mod;
}

describe('snapshot-audit function settings', () => {
  it.each([
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', 'abc'],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', ''],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', '60000'],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', '-86400000'],
    ['TIERLOG_SNAPSHOT_OLDER_THAN_MS', '1e9'],
    ['TIERLOG_SNAPSHOT_DELETE', 'yes'],
    ['TIERLOG_SNAPSHOT_DELETE', 'TRUE'],
  ])('%s=%j fails the load with a ConfigError naming it', async (variable, value) => {
    const error = await load({ [variable]: value }).then(
      () => undefined,
      (err: unknown) => err,
    );
    // The module was loaded afresh (its own copy of lib/errors.ts): compare by name.
    expect((error as Error).name).toBe('ConfigError');
    expect((error as ConfigError).setting).toBe(variable);
    expect((error as ConfigError).message).toContain(variable);
  });

  it('valid settings load', async () => {
    expect(await load({ TIERLOG_SNAPSHOT_DELETE: 'true' })).toHaveProperty('handler');
    expect(await load({ TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(HOUR), TIERLOG_SNAPSHOT_DELETE: '' })).toHaveProperty('handler');
  });

  it('the re-verification refuses a safety age under 1 h, as the audits do', async () => {
    const options = { config: fx.config, dynamodb: createDynamoDBClient(), s3: createS3Client(), now: Date.now(), delete: true };
    await expect(reverifyAndDelete([], { ...options, olderThanMs: HOUR - 1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(reverifyAndDelete([], { ...options, olderThanMs: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
  });

  it('the snapshot audit refuses a safety age under 1 h with the same typed error, before it reads a snapshot', async () => {
    const options = { config: fx.config, dynamodb: createDynamoDBClient(), s3: createS3Client(), now: Date.now() };
    for (const olderThanMs of [HOUR - 1, Number.NaN]) {
      const refused = snapshotAudit({ ...options, inventory: '/nonexistent/manifest.json', exportDir: '/nonexistent', olderThanMs });
      await expect(refused).rejects.toBeInstanceOf(ValidationError);
      await expect(refused).rejects.toMatchObject({ field: 'olderThanMs' });
    }
  });
});

describe('snapshot-audit function batches', () => {
  it('a change-log entry that cannot be read: the batch deletes nothing and fails (deletes refused)', async () => {
    const live = await freshFixture();
    const orphan = blobKey(live, 'obj', Date.now() - 3 * HOUR);
    await putBlob(live, orphan);
    await putRawInstance(live, { leaseUntil: Date.now() + HOUR, entries: { x: 'garbage' } });
    const { mod, restore } = await loadHandler(live, () => import('../../functions/snapshot-audit.js'), {
      ...settings,
      TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(HOUR),
      TIERLOG_SNAPSHOT_DELETE: 'true',
      POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    });
    restores.push(restore);
    const handler = (mod as { handler: (event: unknown) => Promise<unknown> }).handler;
    const lastModified = new Date(Date.now() - 3 * HOUR).toISOString().replace('T', ' ').slice(0, 23);
    const run = await captureStdout(() => handler({ Items: [{ kind: 'orphan', blob_key: orphan, last_modified: lastModified }] }));
    expect((run.error as Error).message).toMatch(/deletes refused/);
    expect(await listKeys(live.s3, live.config.bucket)).toEqual([orphan]);
  });
});
