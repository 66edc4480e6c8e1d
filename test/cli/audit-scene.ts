/**
 * The bucket both audits are tested on (test/cli/audit.test.ts lists it; the snapshot audit's
 * agreement test reads it from snapshots): real objects written through `TieredStore` (an
 * overwrite and an inline object among them), then planted orphans of every kind the audit
 * must tell apart, a young blob, malformed keys and a key outside the prefix.
 */
import { expect } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, prefixKeys } from '../support/local.js';
import { blobKey, HOUR, putBlob } from './helpers.js';

const KiB = 1024;

export interface AuditScene {
  readonly fx: Fixture;
  readonly store: TieredStore;
  /** The change log of the writer that wrote the scene (closed: nothing in flight). */
  readonly log: DynamoChangeLog;
  /** The body of each object written through the store. */
  readonly bodies: Map<string, Uint8Array>;
  /** The blobs the objects reference (sorted). */
  readonly referenced: string[];
  /** Unreferenced blobs older than 90 minutes on a clock 2 h ahead (sorted). */
  readonly orphans: string[];
  /** Unreferenced, but its UUIDv7 says it is 1 h old on that clock. */
  readonly young: string;
  /** Keys under the prefix that are not blob keys (sorted). */
  readonly malformed: string[];
  /** A blob key outside the prefix. */
  readonly outside: string;
}

/** Builds the scene in a fresh fixture; the audits run with a clock 2 h ahead. */
export async function auditScene(): Promise<AuditScene> {
  const fx = await freshFixture();
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb: fx.dynamodb, s3: fx.s3 });
  const bodies = new Map<string, Uint8Array>();
  const put = async (key: string, size: number, fill: number) => {
    const body = new Uint8Array(size).fill(fill);
    await store.put(key, body);
    bodies.set(key, body);
  };
  await put('big-1', 20 * KiB, 1);
  await put('big-2', 20 * KiB, 2);
  await put('big-2', 24 * KiB, 3); // overwrite: the first blob is deleted by the store
  await put('small', 1 * KiB, 4); // inline: no blob
  await put('dir/ünïcode key', 30 * KiB, 5);
  log.close();
  const referenced = (await prefixKeys(fx)).sort();
  expect(referenced).toHaveLength(3);

  const p = fx.config.prefix;
  const orphans = [
    blobKey(fx, 'never-written'), // no HV item at all
    blobKey(fx, 'big-1'), // a stale blob of an object that points elsewhere
    blobKey(fx, 'small'), // an object that is inline now
    blobKey(fx, 'ancient', Date.now() - 10 * HOUR), // an old UUID (LastModified decides: 2 h)
  ].sort();
  // By LastModified 2 h old, but its UUIDv7 says 1 h: the younger clock wins, so it is young.
  const young = blobKey(fx, 'young', Date.now() + HOUR);
  const uuid = blobKey(fx, 'x').split('/').pop()!;
  const malformed = [
    `${p}/not/a/blob`,
    `${p}/Zm9v/not-a-uuid`,
    `${p}/!!/${uuid}`,
    `${p}/Zm9vY/${uuid}`, // not the canonical base64url of anything
    `${p}/Zm9v/${uuid.toUpperCase()}`,
  ].sort();
  const outside = `other/${blobKey(fx, 'outside')}`;
  for (const key of [...orphans, young, ...malformed, outside]) await putBlob(fx, key);
  return { fx, store, log, bodies, referenced, orphans, young, malformed, outside };
}
