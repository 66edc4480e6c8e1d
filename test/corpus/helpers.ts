/**
 * The bad-input corpus's ground: a fresh fixture holding real objects (an inline one, two large
 * ones) and sentinel objects the library must never touch: outside the prefix (including keys
 * that only look like the prefix) and inside it under other objects' keys. After each bad input,
 * {@link Ground.expectIntact} checks from outside that every sentinel still exists with its bytes
 * and every object still reads back as written (nothing lost, nothing outside the prefix deleted).
 */
import { randomBytes } from 'node:crypto';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { unmarshallOptions } from '../../lib/aws/clients.js';
import { v4 as uuidv4, v7 as uuidv7 } from 'uuid';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { Sweeper, type SweepLogger } from '../../lib/recovery/sweeper.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, listKeys, scanAll } from '../support/local.js';

export const HOUR = 60 * 60_000;
/** From a first sighting to past the upload window it opened (the default 20 min window, and a minute). */
export { PAST_WINDOW_MS } from '../tiered/harness.js';

export interface Ground {
  readonly fx: Fixture;
  readonly store: TieredStore;
  readonly log: DynamoChangeLog;
  /** Object key -> bytes written. */
  readonly objects: ReadonlyMap<string, Uint8Array>;
  /** The blob each large object points at. */
  readonly blobOf: (key: string) => string;
  /** Sentinel bucket key -> bytes. */
  readonly sentinels: ReadonlyMap<string, Uint8Array>;
  /** A blob key as the library makes them for `objectId` (not written). */
  blobKey(objectId: string): string;
  /** Writes a raw object into the bucket. */
  putRaw(key: string, body: Uint8Array | string): Promise<void>;
  getRaw(key: string): Promise<Uint8Array | undefined>;
  /** Every key of the bucket. */
  keys(): Promise<string[]>;
  /** Every sentinel exists with its bytes; every object reads back as written (also raw). */
  expectIntact(expect: (v: unknown, m?: string) => any): Promise<void>;
  close(): void;
}

/** Base64url of the UTF-8 object id, as in blob keys. */
export function encodeId(objectId: string): string {
  return Buffer.from(objectId, 'utf8').toString('base64url');
}

export async function ground(): Promise<Ground> {
  const fx = await freshFixture();
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb: fx.dynamodb, s3: fx.s3 });
  const p = fx.config.prefix;
  const objects = new Map<string, Uint8Array>([
    ['corpus/small', bytes(100)],
    ['corpus/large', bytes(40 * 1024)],
    ['corpus/victim', bytes(30 * 1024)],
  ]);
  for (const [key, body] of objects) await store.put(key, body);
  const items = await scanAll(fx.dynamodb, fx.config.objectsTable);
  const blobs = new Map(items.filter((i) => typeof i.blob === 'string').map((i) => [String(i.key), String(i.blob)]));

  const sentinels = new Map<string, Uint8Array>();
  for (const key of [
    'outside/sentinel',
    'secret',
    `${p}-evil/${encodeId('corpus/x')}/${uuidv7()}`, // looks like the prefix, is not under it
    `other/${p}/${encodeId('corpus/x')}/${uuidv7()}`,
    `${p}/${encodeId('corpus/victim')}/${uuidv7()}`, // inside, under another object's key
    `${p}/${encodeId('corpus/x')}/${uuidv4()}`, // inside, not a name the library makes
    `${p}/${encodeId('corpus/x')}`, // inside, the object's "directory" itself
    `${p}/%2e%2e/outside`,
    `outside`,
  ]) {
    sentinels.set(key, bytes(32));
  }
  const putRaw = async (key: string, body: Uint8Array | string) => {
    await fx.s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: key, Body: body }));
  };
  const getRaw = async (key: string): Promise<Uint8Array | undefined> => {
    try {
      const out = await fx.s3.send(new GetObjectCommand({ Bucket: fx.config.bucket, Key: key }));
      return await out.Body!.transformToByteArray();
    } catch (err) {
      if ((err as { name?: string }).name === 'NoSuchKey') return undefined;
      throw err;
    }
  };
  for (const [key, body] of sentinels) await putRaw(key, body);

  return {
    fx,
    store,
    log,
    objects,
    blobOf: (key) => blobs.get(key)!,
    sentinels,
    blobKey: (objectId) => `${p}/${encodeId(objectId)}/${uuidv7()}`,
    putRaw,
    getRaw,
    keys: () => listKeys(fx.s3, fx.config.bucket),
    async expectIntact(expect) {
      for (const [key, body] of sentinels) {
        const now = await getRaw(key);
        expect(now !== undefined && Buffer.from(now).equals(Buffer.from(body)), `sentinel ${key} survives`).toBe(true);
      }
      for (const [key, body] of objects) {
        const read = await store.get(key);
        expect(read !== undefined && Buffer.from(read.body).equals(Buffer.from(body)), `object ${key} still reads back`).toBe(true);
      }
      for (const key of ['corpus/large', 'corpus/victim']) {
        expect(await getRaw(blobs.get(key)!), `blob of ${key} exists`).toBeDefined();
      }
    },
    close() {
      log.close();
    },
  };
}

/** Writes an instance item straight into the change-log table, as a dead or broken writer left it. */
export async function putRawItem(fx: Fixture, item: Record<string, unknown>): Promise<void> {
  await fx.dynamodb.send(
    new PutItemCommand({
      TableName: fx.config.changeLogTable,
      Item: marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: true }),
    }),
  );
}

/** An instance item as stored (numbers no JS number holds read as strings). */
export async function getRawItem(fx: Fixture, pk: unknown): Promise<Record<string, unknown> | undefined> {
  const out = await fx.dynamodb.send(
    new GetItemCommand({ TableName: fx.config.changeLogTable, Key: { pk: { S: String(pk) } }, ConsistentRead: true }),
  );
  return out.Item === undefined ? undefined : unmarshall(out.Item, unmarshallOptions());
}

/** A raw instance item whose lease ended ten minutes ago. */
export function deadItem(entries: Record<string, unknown>, header: Record<string, unknown> = {}): Record<string, unknown> {
  const item: Record<string, unknown> = {
    pk: uuidv7(),
    state: 'live',
    leaseUntil: Date.now() - 10 * 60_000,
    shard: 0,
    n: Object.keys(entries).length,
    ...header,
  };
  for (const [name, value] of Object.entries(entries)) item[name] = value;
  return item;
}

/** A valid stored entry (schema v1), recorded an hour ago. */
export function goodEntry(objectId: string, fields: { new?: string; old?: string }): Record<string, unknown> {
  return { v: 1, id: objectId, at: Date.now() - HOUR, ...fields };
}

/**
 * A sweeper on the fixture that records what it logs; its clock runs `clockOffsetMs` (default 0)
 * ahead of the wall clock. A dead instance takes two sweeps: the first sighting fences it and
 * defers its entries, a sweep {@link PAST_WINDOW_MS} later judges them.
 */
export function sweeperWithLog(fx: Fixture, options: { clockOffsetMs?: number } = {}) {
  const lines: Array<{ level: string; message: string; attributes?: Record<string, unknown> }> = [];
  const logger: SweepLogger = {
    info: (message, attributes) => lines.push({ level: 'info', message, ...(attributes ? { attributes } : {}) }),
    warn: (message, attributes) => lines.push({ level: 'warn', message, ...(attributes ? { attributes } : {}) }),
    error: (message, attributes) => lines.push({ level: 'error', message, ...(attributes ? { attributes } : {}) }),
  };
  const sweeper = new Sweeper({
    config: fx.config,
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    logger,
    clock: () => Date.now() + (options.clockOffsetMs ?? 0),
  });
  return { sweeper, lines, warnings: () => lines.filter((l) => l.level !== 'info') };
}

export function bytes(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

export type { SweepReport };
