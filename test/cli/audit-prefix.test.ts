/**
 * The listing audit run with a `TIERLOG_PREFIX` that is not the writers' (misspelt, another
 * environment's): nothing under it is this store's, so nothing is checked. A clean report (exit 0,
 * `--exit-code` 0) said the store had no garbage, run after run, while the objects table points at
 * blobs under another prefix (`tierlog sweep` refuses that pair, exit 2). The audit says so too,
 * from a listing or from snapshots.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, listKeys } from '../support/local.js';
import { snapshotsRemovedAfterAll } from '../snapshot-audit/snapshots.js';
import { cli, cliJson, HOUR } from './helpers.js';

const snapshotsAt = snapshotsRemovedAfterAll();
let fx: Fixture;
let log: DynamoChangeLog;
beforeAll(async () => {
  fx = await freshFixture();
  log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb: fx.dynamodb, s3: fx.s3 });
  await store.put('live', new Uint8Array(40 * 1024).fill(1));
});
afterAll(() => log.close());

const later = () => Date.now() + 2 * HOUR;
const misspelt = { TIERLOG_PREFIX: 'blobz' };

describe('audit under a prefix that is not the store’s', () => {
  test('an empty listing is refused as the configuration it is (exit 2), naming the prefix, not reported clean', async () => {
    const run = await cli(fx, ['audit', '--older-than', '1h', '--exit-code'], { clock: later, env: misspelt });
    expect(run.code, run.out).toBe(2);
    expect(run.out).toBe('');
    expect(run.err).toMatch(/^tierlog: configuration: .*points at blobs that are not in s3:\/\/[^/]+\/blobz\//);
    expect(run.err).toContain('TIERLOG_PREFIX');
    const json = await cliJson(fx, ['audit', '--older-than', '1h'], { clock: later, env: misspelt });
    expect(json.code).toBe(2);
    expect(json.json.error).toMatchObject({ name: 'ConfigError', exitCode: 2 });
  });

  test('with --delete, nothing is deleted; with the writers’ prefix the same audit is clean', async () => {
    const before = await listKeys(fx.s3, fx.config.bucket);
    const run = await cli(fx, ['audit', '--older-than', '1h', '--delete'], { clock: later, env: misspelt });
    expect(run.code).toBe(2);
    expect(await listKeys(fx.s3, fx.config.bucket)).toEqual(before);
    const right = await cli(fx, ['audit', '--older-than', '1h', '--exit-code'], { clock: later });
    expect(right.code, right.err).toBe(0);
    expect(right.out).toContain('1 key listed: 1 referenced, 0 orphans');
  });

  test('from snapshots: one that proposes nothing under the prefix is refused the same way; under the writers’ prefix it is clean', async () => {
    const now = later();
    const s = await snapshotsAt(fx, now);
    const argv = ['audit', '--older-than', '1h', '--inventory', s.manifest, '--export', s.exportDir, '--exit-code'];
    const run = await cli(fx, argv, { clock: () => now, env: misspelt });
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(/^tierlog: configuration: .*points at blobs that are not in s3:\/\/[^/]+\/blobz\//);
    expect(run.err).toContain('TIERLOG_PREFIX');
    const right = await cli(fx, argv, { clock: () => now });
    expect(right.code, right.err).toBe(0);
  });
});

describe('audit under a prefix that is not the store’s, that holds keys which are no blob keys', () => {
  // A user's file under the misspelt prefix: the snapshots show a key there (malformed, never
  // deleted) and propose nothing. The run reported that key and read clean (exit 0), where the
  // listing audit of the same configuration stops.
  test('from snapshots: refused as the listing audit refuses it (exit 2), not reported clean', async () => {
    const own = await freshFixture();
    const ownLog = new DynamoChangeLog({ config: own.config, dynamodb: own.dynamodb, renewInBackground: false });
    try {
      const store = new TieredStore({ config: own.config, changeLog: ownLog, dynamodb: own.dynamodb, s3: own.s3 });
      await store.put('live', new Uint8Array(40 * 1024).fill(1));
    } finally {
      ownLog.close();
    }
    await own.s3.send(new PutObjectCommand({ Bucket: own.config.bucket, Key: 'blobz/notes.txt', Body: 'a file of the user' }));
    const now = later();
    const s = await snapshotsAt(own, now);
    const listing = await cli(own, ['audit', '--older-than', '1h', '--exit-code'], { clock: () => now, env: misspelt });
    expect(listing.code, listing.out).toBe(2);
    const argv = ['audit', '--older-than', '1h', '--inventory', s.manifest, '--export', s.exportDir, '--exit-code'];
    const run = await cli(own, argv, { clock: () => now, env: misspelt });
    expect(run.code, run.out).toBe(2);
    expect(run.err).toMatch(/^tierlog: configuration: .*points at blobs that are not in s3:\/\/[^/]+\/blobz\//);
    expect(run.err).toContain('(1 key there)');
    const before = await listKeys(own.s3, own.config.bucket);
    expect((await cli(own, [...argv, '--delete'], { clock: () => now, env: misspelt })).code).toBe(2);
    expect(await listKeys(own.s3, own.config.bucket)).toEqual(before);
    // Under the writers' prefix the same snapshots are clean: the file is not under it.
    const right = await cli(own, argv, { clock: () => now });
    expect(right.code, right.err).toBe(0);
  });
});
