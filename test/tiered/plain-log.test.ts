/**
 * A plain ChangeLog (one that cannot fence) takes the same write path through its adapter: the
 * commit is the HV conditional write alone, and the replaced blob is in the log before that
 * write is sent (the commit cannot write it). Checked on an InMemoryChangeLog against the real
 * servers: at the moment of each commit the log names `new` and `old`; afterwards it is empty and
 * nothing leaked; a CAS lost to another writer commits again and cleans both blobs it replaced.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { TierlogConfig } from '../../lib/config.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { VersionConflictError } from '../../lib/errors.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, pointItemAt, randomBody, rawState, rawValue, sameBytes, type Writer } from './harness.js';

let fx: Fixture;
let other: Writer;
beforeAll(async () => {
  fx = await freshFixture();
  other = makeWriter(fx);
});
afterAll(() => other?.close());

const LARGE = 32 * KiB;

/** An HV write that points the object at a blob: the plain commit. */
const isPlainCommit = (fx: Fixture) => (r: RequestInfo) =>
  r.command === 'UpdateItemCommand' &&
  r.input.TableName === fx.config.objectsTable &&
  String(r.input.UpdateExpression).includes('#blob = ');

/**
 * A store on an InMemoryChangeLog, its clients behind `injector`. With `snapshotAt`, the log's
 * entries (`new`, `old`) are copied into `seen` right before each request it matches.
 */
function plainStore(options: { injector?: FaultInjector; config?: TierlogConfig; snapshotAt?: (r: RequestInfo) => boolean } = {}) {
  const { injector = new FaultInjector(), config = fx.config, snapshotAt } = options;
  const log = new InMemoryChangeLog();
  const seen: Array<Array<{ new?: string; old?: string }>> = [];
  if (snapshotAt !== undefined) {
    injector.add({
      kind: 'delay',
      delayMs: 0,
      match: snapshotAt,
      before: async () => {
        seen.push((await log.scan()).map(([, c]) => ({ ...(c.new ? { new: c.new } : {}), ...(c.old ? { old: c.old } : {}) })));
      },
    });
  }
  const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
  const s3 = injector.attach(createS3Client(), 's3');
  return {
    log,
    seen,
    store: new TieredStore({ config, changeLog: log, dynamodb, s3 }),
    close: () => (dynamodb.destroy(), s3.destroy()),
  };
}

async function expectNoLeak(): Promise<void> {
  const state = await rawState(fx);
  expect(state.lost).toEqual([]);
  expect(state.unreferenced).toEqual([]);
}

describe('a plain change log behind the adapter', () => {
  test('create, overwrite, small-over-large, delete: the log names new and old at each commit, and drains', async () => {
    const key = 'plain/rt';
    const s = plainStore({ snapshotAt: isPlainCommit(fx) });
    const { log, seen } = s;
    try {
      const v1 = randomBody(LARGE);
      const first = await s.store.put(key, v1);
      expect(first).toMatchObject({ created: true, stored: 'blob' });
      const { version } = first;
      const blob1 = (await rawState(fx)).references.get(key)!;
      expect(seen[0]).toEqual([{ new: blob1 }]);
      expect(log.size).toBe(0);

      const v2 = randomBody(LARGE);
      expect(await s.store.put(key, v2)).toMatchObject({ version: version + 1, created: false });
      const blob2 = (await rawState(fx)).references.get(key)!;
      expect(seen[1]).toHaveLength(2);
      expect(seen[1]).toEqual(expect.arrayContaining([{ new: blob2 }, { old: blob1 }]));
      expect(log.size).toBe(0);
      await expectNoLeak();

      expect(await s.store.put(key, 'small now')).toMatchObject({ version: version + 2, stored: 'inline' });
      expect(log.size).toBe(0);
      await expectNoLeak();
      expect(await s.store.put(key, randomBody(LARGE))).toMatchObject({ version: version + 3 });
      expect(await s.store.delete(key)).toBe(true);
      expect(await s.store.get(key)).toBeUndefined();
      expect(log.size).toBe(0);
      await expectNoLeak();
    } finally {
      s.close();
    }
  });

  test('a CAS lost to another writer commits again against the new state; both replaced blobs are deleted', async () => {
    const key = 'plain/race';
    const { version } = await other.store.put(key, randomBody(LARGE));
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: isPlainCommit(fx),
      // Right before the commit, another (fenced) writer overwrites the object.
      before: async () => {
        await other.store.put(key, randomBody(LARGE));
      },
    });
    const s = plainStore({ injector });
    try {
      const mine = randomBody(LARGE);
      expect(await s.store.put(key, mine)).toMatchObject({ version: version + 2 });
      expect(sameBytes(await rawValue(fx, key), mine)).toBe(true);
      expect(s.log.size).toBe(0);
      await expectNoLeak();
    } finally {
      s.close();
    }
  });

  /**
   * Two large objects of `other`'s, `plain/owner<suffix>` and `plain/copy<suffix>`, the copy's item
   * then made to name the owner's blob (`foreign`: an item copied to "rename" an object); `stranded`,
   * the copy's own blob, which nothing names after the rewrite (delete it when done).
   */
  async function copyNamingOthersBlob(suffix: string) {
    const owner = `plain/owner${suffix}`;
    const copy = `plain/copy${suffix}`;
    await other.store.put(owner, randomBody(LARGE));
    await other.store.put(copy, randomBody(LARGE));
    const before = await rawState(fx);
    const foreign = before.references.get(owner)!;
    await pointItemAt(fx, copy, foreign);
    return { copy, foreign, stranded: before.references.get(copy)! };
  }

  /**
   * No entry the plain log was given, nor any it holds now (what a recovery of it would see), names
   * `foreign`, the other object's blob, which is still stored.
   */
  async function expectNamedNowhere(s: Pick<ReturnType<typeof plainStore>, 'seen' | 'log'>, foreign: string) {
    expect(s.seen.flat().flatMap((e) => [e.new, e.old])).not.toContain(foreign);
    expect((await s.log.scan()).flatMap(([, c]) => [c.new, c.old])).not.toContain(foreign);
    expect((await rawState(fx)).blobs).toContain(foreign);
  }

  test("an item that names another object's blob: that blob is never recorded as old, so no recovery of the plain log deletes it", async () => {
    const { copy, foreign, stranded } = await copyNamingOthersBlob('');
    const s = plainStore({ snapshotAt: isPlainCommit(fx) });
    try {
      await s.store.put(copy, randomBody(LARGE));
      await expectNamedNowhere(s, foreign);
    } finally {
      s.close();
      // The copy's own blob, stranded by the test's rewrite of the item: not this test's subject.
      await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: stranded }));
    }
  });

  test.each([
    ['a delete', (store: TieredStore, key: string) => store.delete(key)],
    ['a small put', (store: TieredStore, key: string) => store.put(key, 'small now')],
  ])(
    "%s over an item that names another object's blob records it nowhere, so no recovery of the plain log deletes it",
    async (name, write) => {
      const { copy, foreign, stranded } = await copyNamingOthersBlob(`-${name}`);
      const s = plainStore({ snapshotAt: (r) => r.command === 'UpdateItemCommand' && r.input.TableName === fx.config.objectsTable });
      try {
        await write(s.store, copy);
        await expectNamedNowhere(s, foreign);
      } finally {
        s.close();
        await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: stranded }));
      }
    },
  );
});

describe("a plain change log with replacedBlobCleanup: 'stream'", () => {
  test('the log names only new at each commit; a large delete and a small body over a blob record nothing; it drains', async () => {
    const key = 'plain/stream';
    const s = plainStore({
      config: { ...fx.config, replacedBlobCleanup: 'stream' },
      snapshotAt: (r) => r.command === 'UpdateItemCommand' && r.input.TableName === fx.config.objectsTable,
    });
    const { log, seen } = s;
    const record = vi.spyOn(log, 'record');
    try {
      await s.store.put(key, randomBody(LARGE));
      const blob1 = (await rawState(fx)).references.get(key)!;
      await s.store.put(key, randomBody(LARGE));
      const blob2 = (await rawState(fx)).references.get(key)!;
      // At the overwrite's commit the log names the new blob only, never the one it replaces.
      expect(seen.at(-1)).toEqual([{ new: blob2 }]);
      expect(seen.flat().some((c) => c.old !== undefined)).toBe(false);
      expect(blob1).not.toBe(blob2);
      const recordsBefore = record.mock.calls.length;
      expect(await s.store.put(key, 'small now')).toMatchObject({ stored: 'inline' });
      await s.store.put(key, randomBody(LARGE));
      const recordsForLarge = record.mock.calls.length;
      expect(await s.store.delete(key)).toBe(true);
      expect(record.mock.calls.length - recordsForLarge, 'a large delete records nothing').toBe(0);
      expect(recordsForLarge - recordsBefore, 'only the large put recorded').toBe(1);
      expect(log.size).toBe(0);
      await expectNoLeak();
    } finally {
      s.close();
    }
  });
});

describe('a replaced blob whose object expires while the plain log records the change', () => {
  // A plain log's record is a request of its own, between the judgement of `ifVersion` (on the
  // item the small write was refused by) and the commit: an object expired by the commit is absent
  // to `ifVersion`, as a large put and a session's complete judge it at their commits.
  const HOUR = 3_600_000;

  /**
   * A store on a plain log whose record is slow once `expire()` was called: the clock moves past
   * an hour's time to live while the record is made. `close()` destroys its clients.
   */
  function storeExpiringAtRecord() {
    let now = Date.now();
    let expireAtRecord = false;
    class SlowLog extends InMemoryChangeLog {
      override async record(id: string, change: Parameters<InMemoryChangeLog['record']>[1]): Promise<void> {
        if (expireAtRecord) now += HOUR + 5_000;
        return super.record(id, change);
      }
    }
    const log = new SlowLog();
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb, s3, clock: () => now });
    return {
      store,
      log,
      expire: () => {
        expireAtRecord = true;
      },
      close: () => {
        dynamodb.destroy();
        s3.destroy();
      },
    };
  }

  const cases: Array<[string, (store: TieredStore, key: string, version: number) => Promise<unknown>]> = [
    ['a small put', (store, key, version) => store.put(key, 'small', { ifVersion: version })],
    ['a delete', (store, key, version) => store.delete(key, { ifVersion: version })],
  ];
  test.each(cases)('%s with ifVersion: VersionConflictError, the expired item as it was, the log empty', async (name, op) => {
    const key = `plain/expires-at-record/${name}`;
    // Its record is slow: the object expires while it is made.
    const { store, log, expire, close } = storeExpiringAtRecord();
    try {
      const { version } = await store.put(key, randomBody(LARGE), { timeToLiveMs: HOUR });
      expire();
      const error = await op(store, key, version).catch((e: unknown) => e);
      expect(error, 'nothing written over an object absent to ifVersion').toBeInstanceOf(VersionConflictError);
      const item = (await rawState(fx)).objects.find((o) => o.key === key)!;
      expect(item.version, 'the expired item as it was').toBe(version);
      expect(item.blob, 'still pointing at its blob').toBeDefined();
      expect(log.size, 'the log drained').toBe(0);
    } finally {
      close();
    }
  });

  test('a delete without ifVersion: false (absent, as a delete of an expired object answers), the expired item as it was, the log empty', async () => {
    const key = 'plain/expires-at-record/delete-any';
    const { store, log, expire, close } = storeExpiringAtRecord();
    try {
      const { version } = await store.put(key, randomBody(LARGE), { timeToLiveMs: HOUR });
      const blob = (await rawState(fx)).objects.find((o) => o.key === key)!.blob as string;
      expire();
      expect(await store.delete(key), 'the object was absent when the delete would land').toBe(false);
      const state = await rawState(fx);
      const item = state.objects.find((o) => o.key === key)!;
      expect(item.version, 'the expired item as it was, for TTL to remove').toBe(version);
      expect(item.deleted, 'no deletion marker').toBeUndefined();
      expect(state.blobs, 'its blob, for the stream to delete with the item').toContain(blob);
      expect(log.size, 'the log drained').toBe(0);
    } finally {
      close();
    }
  });
});

describe('a replaced blob of a time-to-idle object that readers keep alive while the plain log records the change', () => {
  // The expiry the write read passes while the record is made, but another reader has moved it
  // on meanwhile: the object is live at its version, and the write lands.
  const HOUR = 3_600_000;
  const cases: Array<[string, (store: TieredStore, key: string, version: number) => Promise<unknown>, unknown]> = [
    ['a small put with ifVersion', (store, key, version) => store.put(key, 'small', { ifVersion: version }), undefined],
    ['a delete with ifVersion', (store, key, version) => store.delete(key, { ifVersion: version }), true],
    ['a delete', (store, key) => store.delete(key), true],
  ];
  test.each(cases)('%s lands', async (name, op, answer) => {
    const key = `plain/kept-alive-at-record/${name}`;
    let now = Date.now();
    let keepAlive: (() => Promise<void>) | undefined;
    class SlowLog extends InMemoryChangeLog {
      override async record(id: string, change: Parameters<InMemoryChangeLog['record']>[1]): Promise<void> {
        const once = keepAlive;
        keepAlive = undefined;
        await once?.();
        return super.record(id, change);
      }
    }
    const log = new SlowLog();
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb, s3, clock: () => now });
    const reader = new TieredStore({ config: fx.config, changeLog: new InMemoryChangeLog(), dynamodb, s3, clock: () => now });
    try {
      const { version } = await store.put(key, randomBody(LARGE), { timeToIdleMs: HOUR });
      keepAlive = async () => {
        now += HOUR - 10_000; // a refresh due
        await reader.head(key); // another reader: the expiry moves an hour on
        now += 20_000; // past the expiry the write read
      };
      const result = await op(store, key, version).catch((e: unknown) => e);
      expect(keepAlive, 'the record was slow').toBeUndefined();
      expect(result, 'the object is live at that version').not.toBeInstanceOf(Error);
      if (answer !== undefined) expect(result).toBe(answer);
      const item = (await rawState(fx)).objects.find((o) => o.key === key)!;
      expect(item.version, 'the write landed').toBe(version + 1);
      expect(log.size, 'the log drained').toBe(0);
    } finally {
      dynamodb.destroy();
      s3.destroy();
    }
  });
});
