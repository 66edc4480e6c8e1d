/**
 * A configuration built in code gets the same validation as one read from the environment, at
 * every entry point of the library that writes, sweeps or deletes: an invalid value is a
 * ConfigError naming the option before anything is sent, never a component that quietly does
 * something else (a fractional shard count, for instance, makes writers put instances on shards
 * no sweep queries; an empty prefix moves the namespace guard).
 */
import { describe, expect, it } from 'vitest';
import type { TierlogConfig } from '../../lib/config.js';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { ConfigError } from '../../lib/errors.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { createSweeperHandler } from '../../lib/handlers/sweeper.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { audit } from '../../lib/recovery/audit.js';
import { reverifyAndDelete } from '../../lib/recovery/snapshot-audit/reverify.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';

const valid: TierlogConfig = { changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'blobs', leaseShards: 4 };
const HOUR = 3_600_000;
const dynamodb = createDynamoDBClient();
const s3 = createS3Client();

/** Each entry point, started with `config`; resolves when it accepted it. */
const entryPoints: Array<[string, (config: TierlogConfig) => unknown]> = [
  ['TieredStore', (config) => new TieredStore({ config, changeLog: new InMemoryChangeLog(), dynamodb, s3 })],
  ['DynamoChangeLog', (config) => new DynamoChangeLog({ config, dynamodb, renewInBackground: false }).close()],
  ['Sweeper', (config) => new Sweeper({ config, dynamodb, s3 })],
  ['StreamCleanup', (config) => new StreamCleanup({ config, dynamodb, s3 })],
  ['createSweeperHandler', (config) => createSweeperHandler({ config, sweeper: { dynamodb, s3 } })],
  ['createObjectsHandler', (config) => createObjectsHandler({ config })],
  [
    'createSnapshotAuditHandler',
    (config) => createSnapshotAuditHandler({ config, dynamodb, s3, settings: { olderThanMs: HOUR, delete: true } }),
  ],
  // Given nothing to do, the audits resolve without a request once the configuration is accepted.
  ['audit', (config) => audit({ config, dynamodb, s3, olderThanMs: HOUR, delete: true }).catch(rethrowConfig)],
  ['reverifyAndDelete', (config) => reverifyAndDelete([], { config, dynamodb, s3, now: Date.now(), olderThanMs: HOUR, delete: true })],
];

/** Only a ConfigError matters here: the accepted configurations name tables that do not exist. */
function rethrowConfig(err: unknown): void {
  if (err instanceof ConfigError) throw err;
}

const invalid: Array<[string, Partial<TierlogConfig>, string]> = [
  ['a fractional shard count', { leaseShards: 2.5 }, 'leaseShards'],
  ['no shards', { leaseShards: 0 }, 'leaseShards'],
  ['more shards than the index takes', { leaseShards: 100_000 }, 'leaseShards'],
  ['a NaN shard count', { leaseShards: Number.NaN }, 'leaseShards'],
  ['an empty prefix', { prefix: '' }, 'prefix'],
  ['a prefix with a trailing slash', { prefix: 'blobs/' }, 'prefix'],
  ['a prefix with an IAM wildcard', { prefix: 'blobs*' }, 'prefix'],
  ['a table name DynamoDB refuses', { changeLogTable: 'a b' }, 'changeLogTable'],
  // From a JSON file: a number (a table named 12345, unquoted) or a list read as its text by a
  // pattern would reach DynamoDB as no string, and a stamp compared with === as another table.
  ['a table name that is a number', { changeLogTable: 12345 as unknown as string }, 'changeLogTable'],
  ['a table name that is a list', { objectsTable: ['ob-1'] as unknown as string }, 'objectsTable'],
  ['a prefix that is a list', { prefix: ['blobs'] as unknown as string }, 'prefix'],
  // A writer would put its instances and entries among the objects, a sweeper read objects as instances.
  ['one table named for both the change log and the objects', { objectsTable: 'cl-1' }, 'objectsTable'],
  ['a bucket name S3 refuses', { bucket: 'Bad_Bucket' }, 'bucket'],
  // S3 Express One Zone: its listings are unsorted, so the audit could never run.
  ['a directory bucket', { bucket: 'blobs--usw2-az1--x-s3' }, 'bucket'],
  ['two logical names on one attribute', { hvAttributes: { blob: 'body' } }, 'hvAttributes'],
  // A misspelt setting is a default nobody chose: here the library's `log` cleanup under a
  // construct that deploys the stream, or the default attribute names under an objects table of
  // the user's schema (every blob read as "none").
  ['a misspelt setting', { replacedBlobCleanp: 'stream' } as Partial<TierlogConfig>, 'replacedBlobCleanp'],
  ['a setting of another casing', { HvAttributes: { blob: 'ptr' } } as Partial<TierlogConfig>, 'HvAttributes'],
];

describe('a configuration built in code is validated at every entry point', () => {
  describe.each(entryPoints)('%s', (_name, start) => {
    it.each(invalid)('refuses %s with a ConfigError naming the option', async (_what, override, setting) => {
      let error: unknown;
      try {
        await start({ ...valid, ...override });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).setting).toBe(setting);
    });

    it.each([
      ['no configuration', undefined],
      ['a Map', new Map(Object.entries(valid))],
      ['a string', 'cl-1'],
    ])('refuses %s as its configuration with a ConfigError', async (_what, config) => {
      let error: unknown;
      try {
        await start(config as unknown as TierlogConfig);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
    });

    it('takes a setting left undefined (a spread of optional settings)', async () => {
      await start({ ...valid, hvAttributes: undefined, replacedBlobCleanup: undefined });
    });

    it('accepts a valid configuration', async () => {
      // Throws (or rejects) on a refusal; what it returns (a handler, a report) does not matter here.
      await start(valid);
    });
  });
});

/**
 * A store writes its entries through the change log it is given, into the log's table, while its
 * upload sessions go to its configuration's table and the sweeper reads the configuration's table
 * and prefix: a store and a DynamoChangeLog made with different ones would write where no sweeper
 * of the store looks (a dead writer's blobs leak), refuse every large write at its record (another
 * prefix), put instances on lease-index shards no sweep queries, or stamp them with another
 * objects table than the one the store commits to: quarantined by its sweeper.
 */
describe('a TieredStore and its DynamoChangeLog must have one configuration', () => {
  const mismatches: Array<[string, Partial<TierlogConfig>, string]> = [
    ['another change-log table', { changeLogTable: 'cl-2' }, 'changeLogTable'],
    ['another prefix', { prefix: 'other' }, 'prefix'],
    ['a nested prefix', { prefix: 'blobs/inner' }, 'prefix'],
    ['another shard count', { leaseShards: 8 }, 'leaseShards'],
    // The log stamps its instance items with it: a sweeper of the store would quarantine them all.
    ['another objects table', { objectsTable: 'ob-2' }, 'objectsTable'],
  ];

  it.each(mismatches)('a log made with %s: ConfigError naming the setting, at construction', (_what, override, setting) => {
    const log = new DynamoChangeLog({ config: { ...valid, ...override }, dynamodb, renewInBackground: false });
    let error: unknown;
    try {
      new TieredStore({ config: valid, changeLog: log, dynamodb, s3 });
    } catch (err) {
      error = err;
    }
    log.close();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(setting);
  });

  it('settings the log does not read may differ (the bucket, attribute names, replaced-blob cleanup)', () => {
    const log = new DynamoChangeLog({ config: valid, dynamodb, renewInBackground: false });
    const other: TierlogConfig = {
      ...valid,
      bucket: 'bk-2',
      hvAttributes: { blob: 'ptr' },
      replacedBlobCleanup: 'stream',
    };
    expect(() => new TieredStore({ config: other, changeLog: log, dynamodb, s3 })).not.toThrow();
    log.close();
  });
});
