/**
 * Writes and reads racing expiry, checked from the items as stored.
 *
 * A write over an expired item that TTL has not removed yet is a create: the object is new
 * (`created: true`), and nothing of the expired incarnation shows in it. Its version continues
 * the stored counter (versions.ts), but its `createdAt` is the create's, not the expired
 * object's: on every write path (inline, large, a small write replacing an expired blob, an
 * upload session's complete), and in the answer a retried write decides from HV.
 *
 * A time-to-idle refresh overtaken between its read and its write (by a delete, an overwrite, a
 * removal as TTL's, or the expiry itself) writes nothing: it never re-creates a removed item,
 * never touches a deletion marker, never extends a newer write's policy; and a URL handed out by
 * that read lives no longer than the expiry it read.
 */
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { ContentionError, ValidationError, VersionConflictError } from '../../lib/errors.js';
import { StreamCleanup, TTL_PRINCIPAL } from '../../lib/recovery/stream-cleanup.js';
import { HvTable } from '../../lib/tiered/hv-table.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, expectClean, makeWriter, randomBody, rawState, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

const SEC = 1000;
const HOUR = 3_600_000;
let fx: Fixture;
let w: Writer;
/** Another process, with its own clients (the reader's fault rules do not see its requests). */
let other: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const clock = () => now;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock } });
  other = makeWriter(fx, { store: { clock } });
});
afterAll(() => {
  w?.close();
  other?.close();
});

const writes: Array<[string, number, (key: string) => Promise<{ created: boolean; version: number }>]> = [
  ['inline over inline', 100, (key) => w.store.put(key, randomBody(100))],
  ['inline over blob', 40 * KiB, (key) => w.store.put(key, randomBody(100))],
  ['blob over inline', 100, (key) => w.store.put(key, randomBody(40 * KiB))],
  ['blob over blob', 40 * KiB, (key) => w.store.put(key, randomBody(40 * KiB))],
  ['ifVersion 0, inline', 100, (key) => w.store.put(key, randomBody(100), { ifVersion: 0 })],
  [
    'upload session',
    40 * KiB,
    async (key) => {
      const created = await w.store.createUpload(key);
      const parts = await uploadParts(w.store, created.uploadId, randomBody(3000), created.partSize);
      return w.store.completeUpload(created.uploadId, parts);
    },
  ],
];

describe('a create over an expired item TTL has not removed', () => {
  test.each(writes)('%s: created, at the create instant; the version continues', async (name, oldSize, write) => {
    const key = `recreated/${name}`;
    const first = now;
    const { version } = await w.store.put(key, randomBody(oldSize), { timeToLiveMs: HOUR });
    now += HOUR + 5 * SEC;
    const recreatedAt = now;
    const put = await write(key);
    expect(put).toMatchObject({ created: true, version: version + 1 });
    const head = await w.store.head(key);
    expect(head).toMatchObject({ version: version + 1, updatedAt: recreatedAt });
    expect(head!.createdAt, `createdAt of the expired object (${first}) carried over`).toBe(recreatedAt);
    await expectClean(fx, expect);
  });
});

test.each([
  ['throttled', 'ThrottlingError'],
  ['lost to a conflict', 'TransactionConflict'],
])(
  'a large put over an object that expired while its commit was %s and tried again: created, at the attempt that landed',
  async (_name, code) => {
    const key = `recreated/commit-again/${code}`;
    const { version } = await w.store.put(key, randomBody(40 * KiB), { timeToLiveMs: HOUR });
    now += HOUR - 5 * SEC; // live when the put reads it and when its first commit goes out
    // The first commit cancelled (tried again after a backoff), the object expiring meanwhile.
    const rule = {
      kind: 'fail' as const,
      times: 1,
      match: onCommand('TransactWriteItems'),
      error: () => {
        now += 10 * SEC;
        return Object.assign(new Error('injected: transaction cancelled'), {
          name: 'TransactionCanceledException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: [{ Code: code }, { Code: 'None' }],
        });
      },
    };
    w.injector.add(rule);
    let put: { created: boolean; version: number };
    try {
      put = await w.store.put(key, randomBody(40 * KiB + 1));
    } finally {
      w.injector.remove(rule);
    }
    expect(w.injector.stats.injected.fail, 'the rule fired').toBeGreaterThan(0);
    expect(put, 'a create over the expired object').toMatchObject({ created: true, version: version + 1 });
    const head = await w.store.head(key);
    expect(head, 'written at the instant of the attempt that landed').toMatchObject({ version: version + 1, updatedAt: now });
    expect(head!.createdAt, 'createdAt of the expired object carried over').toBe(now);
    await expectClean(fx, expect);
  },
);

test("an inline create over an expired item whose answer was lost: the SDK's retry answers created, and createdAt is the create's", async () => {
  const key = 'recreated/answer-lost';
  const { version } = await w.store.put(key, 'old', { timeToLiveMs: HOUR });
  now += HOUR + 5 * SEC;
  // The body's writes of the objects table: the one that lands loses its answer; the SDK sends it again.
  const writesBody = (r: RequestInfo) =>
    onCommand('UpdateItem')(r) && r.input.TableName === fx.config.objectsTable && String(r.input.UpdateExpression).includes('#body');
  const lose = { kind: 'loseResponse' as const, times: 2, match: writesBody };
  w.injector.add(lose);
  try {
    expect(await w.store.put(key, 'new')).toMatchObject({ version: version + 1, created: true });
  } finally {
    w.injector.remove(lose);
  }
  expect((await w.store.head(key))!.createdAt).toBe(now);
});

describe('an inline create over an expired item whose compare-and-swap another writer wins', () => {
  // The create's CAS on the expired item (its version named: `:expectedVersion`), not the put's
  // first write (refused for the expiry, no version named).
  const overExpired = (r: RequestInfo) =>
    onCommand('UpdateItem')(r) &&
    r.input.TableName === fx.config.objectsTable &&
    String(r.input.UpdateExpression).includes('#body') &&
    String(r.input.ConditionExpression).includes(':expectedVersion');

  test('the create is tried again over what the other writer left: its answer is the value stored, never a version it did not write', async () => {
    const key = 'recreated/cas-lost';
    const { version } = await w.store.put(key, 'old', { timeToLiveMs: HOUR });
    now += HOUR + 5 * SEC;
    const overtaken = {
      kind: 'delay' as const,
      delayMs: 0,
      times: 1,
      match: overExpired,
      before: async () => void (await other.store.put(key, 'theirs')),
    };
    w.injector.add(overtaken);
    let put: { version: number; created: boolean };
    try {
      put = await w.store.put(key, 'mine');
    } finally {
      w.injector.remove(overtaken);
    }
    expect(w.injector.stats.injected.delay).toBeGreaterThan(0);
    // Not "created at version + 1": that version is the other writer's value.
    expect(put).toMatchObject({ version: version + 2, created: false });
    const got = await w.store.get(key);
    expect(got!.version).toBe(version + 2);
    expect(new TextDecoder().decode(got!.body)).toBe('mine');
  });

  test("lost on every attempt: ContentionError, and the value is the other writer's", async () => {
    const key = 'recreated/cas-lost-always';
    // A writer whose clock is two hours behind: what it writes with an hour to live is expired already to `w`.
    const behind = makeWriter(fx, { store: { clock: () => now - 2 * HOUR } });
    try {
      await w.store.put(key, 'old', { timeToLiveMs: HOUR });
      now += HOUR + 5 * SEC;
      const overtaken = {
        kind: 'delay' as const,
        delayMs: 0,
        match: overExpired,
        before: async () => void (await behind.store.put(key, 'theirs', { timeToLiveMs: HOUR })),
      };
      w.injector.add(overtaken);
      try {
        await expect(w.store.put(key, 'mine')).rejects.toBeInstanceOf(ContentionError);
      } finally {
        w.injector.remove(overtaken);
      }
      const item = (await rawState(fx)).objects.find((o) => o.key === key)!;
      expect(Buffer.from(item.body as Uint8Array).toString()).toBe('theirs');
    } finally {
      behind.close();
    }
  });
});

describe('a time-to-idle refresh overtaken between its read and its write writes nothing', () => {
  const tti = 10 * 60_000; // debounce 5 min
  const item = async (key: string) => (await rawState(fx)).objects.find((o) => o.key === key);
  type Check = (after: Record<string, unknown> | undefined, before: Record<string, unknown>) => void;
  const unchanged: Check = (after, before) => expect(after!.expiresAt).toBe(before.expiresAt);
  // [case, ms of life left at the read (a refresh is due under 5 min), what overtakes the refresh, what is stored after]
  const cases: Array<[string, number, (key: string) => Promise<unknown>, Check]> = [
    [
      'a delete',
      4 * 60_000,
      (key) => other.store.delete(key),
      (after, before) => {
        expect(after).toMatchObject({ deleted: true, version: (before.version as number) + 1 });
        expect(after!.expiresAt).toBeUndefined();
        expect(after!.tti).toBeUndefined();
      },
    ],
    [
      'an overwrite without a policy',
      4 * 60_000,
      (key) => other.store.put(key, randomBody(40 * KiB)),
      (after) => {
        expect(after!.expiresAt).toBeUndefined();
        expect(after!.tti).toBeUndefined();
      },
    ],
    [
      'an overwrite with a shorter time to live',
      4 * 60_000,
      (key) => other.store.put(key, 'short', { timeToLiveMs: 60 * SEC }),
      (after) => expect(after!.expiresAt).toBe(Math.ceil((now + 60 * SEC) / SEC)),
    ],
    [
      "a removal as TTL's (the reader's clock behind TTL's)",
      4 * 60_000,
      async (key) => {
        // TTL's removal, and its REMOVE delivered to the stream function.
        const blob = (await item(key))!.blob as string;
        await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: key } } }));
        const { report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle([
          {
            eventName: 'REMOVE',
            userIdentity: { type: 'Service', principalId: TTL_PRINCIPAL },
            dynamodb: { SequenceNumber: '1', OldImage: { key: { S: key }, blob: { S: blob } } },
          },
        ]);
        expect(report).toMatchObject({ expiredRemoves: 1, blobsDeleted: 1 });
      },
      (after) => expect(after).toBeUndefined(),
    ],
    [
      'the expiry, 3 s after the read: a refresh would land past it (none is sent)',
      3 * SEC,
      async () => {
        now += 4 * SEC;
      },
      unchanged,
    ],
    [
      'the expiry, while the refresh is held up past its margin (a stalled connection, SDK retries): given up',
      5_500,
      async () => {
        now += 6 * SEC;
        await new Promise((resolve) => setTimeout(resolve, 6 * SEC));
      },
      unchanged,
    ],
  ];

  test.each(cases)('%s', { timeout: 60_000 }, async (name, left, overtake, check) => {
    const key = `refresh/${name.slice(0, 40)}`;
    await w.store.put(key, randomBody(40 * KiB), { timeToIdleMs: tti });
    const before = (await item(key))!;
    now = (before.expiresAt as number) * SEC - left;
    const refresh = {
      kind: 'delay' as const,
      delayMs: 0,
      times: 1,
      match: (r: RequestInfo) =>
        onCommand('UpdateItem')(r) && (r.input.ExpressionAttributeValues as object)[':fromExpiry' as never] !== undefined,
      before: async () => {
        await overtake(key);
      },
    };
    w.injector.add(refresh);
    let presigned: Awaited<ReturnType<Writer['store']['presignGet']>>;
    try {
      presigned = await w.store.presignGet(key, { expiresInMs: 3_600_000 });
    } finally {
      w.injector.remove(refresh);
    }
    // The URL was signed from the read, whose refresh did not land: it dies by the expiry read.
    if (presigned !== undefined) expect(presigned.expiresAt).toBeLessThanOrEqual((before.expiresAt as number) * SEC);
    check(await item(key), before);
    now += HOUR; // past every expiry of this case
    await expectClean(fx, expect);
  });
});

test.each([
  ['10 s, read with 4 s left: refreshed', 10 * SEC, 4 * SEC, true],
  ['10 s, read with 2 s left (a refresh would have under TTI / 4 to land): not', 10 * SEC, 2 * SEC, false],
  ['1 h, read with 6 s left: refreshed', HOUR, 6 * SEC, true],
  ['1 h, read with 5 s left (under the 5 s cap): not', HOUR, 5 * SEC, false],
])('a time to idle of %s', async (name, ttiMs, left, refreshed) => {
  const key = `short-tti/${name.slice(0, 30)}`;
  await w.store.put(key, 'idle', { timeToIdleMs: ttiMs });
  const stored = (await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt as number;
  now = stored * SEC - left;
  w.recorder.reset();
  const read = await w.store.head(key);
  expect(read!.expiresAt!.getTime() > stored * SEC).toBe(refreshed);
  expect(((await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt as number) > stored).toBe(refreshed);
  // With less than the margin left the refresh is not sent at all (not sent and refused).
  expect(w.recorder.names('dynamodb').filter((n) => n === 'UpdateItem')).toHaveLength(refreshed ? 1 : 0);
});

test.each([
  ['live until the expiry, less a millisecond: it lands', -1, true],
  ['live until the expiry itself: refused', 0, false],
  ['live until past the expiry: refused', SEC, false],
])(
  "a refresh's own condition requires the item live until the reader's now plus the margin (%s), whatever checks ran before it was sent",
  async (name, pastExpiryMs, lands) => {
    const key = `refresh-condition/${name.slice(0, 30)}`;
    await w.store.put(key, 'idle', { timeToIdleMs: HOUR });
    const before = (await rawState(fx)).objects.find((o) => o.key === key)!;
    const expiry = before.expiresAt as number;
    // The write a reader builds, sent as is: a refresh held up in flight lands with this condition.
    const hv = new HvTable(fx.config.objectsTable, fx.dynamodb);
    const write = hv.ttiRefreshWrite(key, before.version as number, expiry, expiry + 3600, expiry * SEC + pastExpiryMs);
    const sent = hv.client.send(new UpdateCommand(write.input));
    if (lands) await sent;
    else await expect(sent).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    const after = (await rawState(fx)).objects.find((o) => o.key === key)!;
    expect(after.expiresAt).toBe(lands ? expiry + 3600 : expiry);
  },
);

test("a refresh built from an expiry another reader's refresh has moved since is refused: it never moves the expiry back", async () => {
  const key = 'refresh-condition/moved';
  await w.store.put(key, 'idle', { timeToIdleMs: HOUR });
  const before = (await rawState(fx)).objects.find((o) => o.key === key)!;
  const [version, expiry] = [before.version as number, before.expiresAt as number];
  const hv = new HvTable(fx.config.objectsTable, fx.dynamodb);
  // Both readers read `expiry`; the later one's refresh lands first, then the earlier one's.
  await hv.client.send(new UpdateCommand(hv.ttiRefreshWrite(key, version, expiry, expiry + 7200, now).input));
  const stale = hv.client.send(new UpdateCommand(hv.ttiRefreshWrite(key, version, expiry, expiry + 3600, now).input));
  await expect(stale).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
  expect((await rawState(fx)).objects.find((o) => o.key === key)!.expiresAt).toBe(expiry + 7200);
});

test("an expiry that passes while a large put's commit is tried again (another writer got there first): ValidationError, the other writer's value stays", async () => {
  const key = 'commit-retried/past-expiry';
  await w.store.put(key, 'first');
  const overtaken = {
    kind: 'delay' as const,
    delayMs: 0,
    times: 1,
    match: onCommand('TransactWriteItems'),
    before: async () => {
      await other.store.put(key, 'theirs');
      now += 3 * SEC; // past the put's expiry, fixed at its start
    },
  };
  w.injector.add(overtaken);
  try {
    await expect(w.store.put(key, randomBody(40 * KiB), { timeToLiveMs: 2 * SEC })).rejects.toBeInstanceOf(ValidationError);
  } finally {
    w.injector.remove(overtaken);
  }
  expect(new TextDecoder().decode((await w.store.get(key))!.body)).toBe('theirs');
  await expectClean(fx, expect);
});

describe('an object that expires while a large put with ifVersion runs', () => {
  // `ifVersion` is judged where the write lands: an object expired by then is absent to it (0),
  // as an upload session's complete judges it at each of its commits.
  const passes = () => {
    now += HOUR + 5 * SEC;
  };
  const rules = {
    // A slow upload: the object expires before the commit.
    upload: () => ({ kind: 'delay' as const, delayMs: 0, times: 1, match: onCommand('PutObjectCommand'), before: async () => passes() }),
    // The commit cancelled for contention (tried again), the object expiring meanwhile.
    'commit tried again': () => ({
      kind: 'fail' as const,
      times: 1,
      match: onCommand('TransactWriteItems'),
      error: () => {
        passes();
        return Object.assign(new Error('injected: transaction cancelled'), {
          name: 'TransactionCanceledException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: [{ Code: 'TransactionConflict' }, { Code: 'None' }],
        });
      },
    }),
  };
  test.each(Object.keys(rules) as Array<keyof typeof rules>)(
    'expired during its %s: VersionConflictError, the expired item stays as it was, nothing is left',
    async (name) => {
      const key = `ifversion-expired/${name}`;
      const { version } = await w.store.put(key, randomBody(40 * KiB), { timeToLiveMs: HOUR });
      const rule = rules[name]();
      w.injector.add(rule);
      let error: unknown;
      try {
        error = await w.store.put(key, randomBody(40 * KiB + 1), { ifVersion: version }).catch((e: unknown) => e);
      } finally {
        w.injector.remove(rule);
      }
      expect(w.injector.stats.injected[rule.kind], 'the rule fired').toBeGreaterThan(0);
      expect(error, 'a put over an object absent to its ifVersion').toBeInstanceOf(VersionConflictError);
      expect((error as VersionConflictError).actual, 'absent').toBeUndefined();
      const item = (await rawState(fx)).objects.find((o) => o.key === key)!;
      expect(item.version, 'the expired item as it was').toBe(version);
      await expectClean(fx, expect);
    },
  );
});

describe('an object that expires between two attempts the SDK makes of a commit conditioned on it (the first throttled, the writer paused)', () => {
  // `ifVersion`, and a delete, judge the object where the write lands: a commit's condition names
  // the item as read, not its expiry, so an SDK retry sent once the object had expired landed over
  // what readers are told is absent (a put answered success, a delete true).
  const commits = onCommand('TransactWriteItems');
  // A small object's put or delete is one conditional write of its own, no commit: `liveAt`, the
  // instant its condition judges the item live at, was taken once, before its first attempt.
  const updates = onCommand('UpdateItem');
  const cases: Array<
    [string, number, (r: RequestInfo) => boolean, (key: string, version: number) => Promise<unknown>, (r: unknown) => void]
  > = [
    [
      'a large put with ifVersion over a large object',
      40 * KiB,
      commits,
      (key, version) => w.store.put(key, randomBody(40 * KiB + 1), { ifVersion: version }),
      (r) => expect(r, 'absent to its ifVersion').toBeInstanceOf(VersionConflictError),
    ],
    [
      'a small put with ifVersion over a large object',
      40 * KiB,
      commits,
      (key, version) => w.store.put(key, randomBody(100), { ifVersion: version }),
      (r) => expect(r, 'absent to its ifVersion').toBeInstanceOf(VersionConflictError),
    ],
    ['a delete of a large object', 40 * KiB, commits, (key) => w.store.delete(key), (r) => expect(r, 'absent to a delete').toBe(false)],
    [
      'a delete with ifVersion of a large object',
      40 * KiB,
      commits,
      (key, version) => w.store.delete(key, { ifVersion: version }),
      (r) => expect(r, 'absent to its ifVersion').toBeInstanceOf(VersionConflictError),
    ],
    [
      'a small put with ifVersion over a small object',
      100,
      updates,
      (key, version) => w.store.put(key, randomBody(100), { ifVersion: version }),
      (r) => expect(r, 'absent to its ifVersion').toBeInstanceOf(VersionConflictError),
    ],
    ['a delete of a small object', 100, updates, (key) => w.store.delete(key), (r) => expect(r, 'absent to a delete').toBe(false)],
    [
      'a delete with ifVersion of a small object',
      100,
      updates,
      (key, version) => w.store.delete(key, { ifVersion: version }),
      (r) => expect(r, 'absent to its ifVersion').toBeInstanceOf(VersionConflictError),
    ],
    [
      "an upload session's complete with ifVersion",
      40 * KiB,
      commits,
      async (key, version) => {
        const created = await w.store.createUpload(key, { ifVersion: version });
        return w.store.completeUpload(created.uploadId, await uploadParts(w.store, created.uploadId, randomBody(3000), created.partSize));
      },
      (r) => expect(r, 'absent to its ifVersion').toBeInstanceOf(VersionConflictError),
    ],
  ];
  test.each(cases)('%s: the retry is not sent, and the expired item stays as it was', async (name, size, match, write, check) => {
    const key = `retried-past-expiry/${name}`;
    const { version } = await w.store.put(key, randomBody(size), { timeToLiveMs: HOUR });
    now += HOUR - 5 * SEC; // live when the write reads it and when its first attempt goes out
    const result = await throttledThenPaused(
      match,
      async () => void (now += 10 * SEC),
      () => write(key, version),
    );
    expect(w.injector.stats.injected.throttle, 'the first attempt was throttled').toBeGreaterThan(0);
    check(result);
    const item = (await rawState(fx)).objects.find((o) => o.key === key)!;
    expect(item.version, 'the expired item as it was').toBe(version);
    expect(item.deleted, 'no deletion marker').toBeUndefined();
    await expectClean(fx, expect);
  });

  test.each(cases)(
    '%s, its expiry moved on meanwhile by a reader (time to idle): the object is live, and the write lands',
    async (name, size, match, write) => {
      const key = `retried-past-expiry/refreshed/${name}`;
      const { version } = await w.store.put(key, randomBody(size), { timeToIdleMs: HOUR });
      now += HOUR - 10 * SEC; // live, a refresh due, when the write reads it
      const paused = async () => {
        await other.store.head(key); // another reader: the expiry moves an hour on
        now += 20 * SEC; // past the expiry the write read
      };
      const result = await throttledThenPaused(match, paused, () => write(key, version));
      expect(w.injector.stats.injected.delay, 'the writer paused between the attempts').toBeGreaterThan(0);
      expect(result, 'the write lands').not.toBeInstanceOf(Error);
      expect(result, 'a delete answers true').not.toBe(false);
      await expectClean(fx, expect);
    },
  );
});

test.each([
  ['a small put with ifVersion', (key: string, version: number) => w.store.put(key, randomBody(100), { ifVersion: version })],
  ['a delete of a small object', (key: string) => w.store.delete(key)],
])(
  '%s whose first attempt got no answer, sent again by the SDK seconds later while the object lives: the retry judges it at its own instant, and lands',
  async (name, write) => {
    // Its condition's instant is restated for the retry, not refused for the seconds that passed
    // (then decided by a read, which finds nothing landed: an outcome unknown, a 503).
    const key = `retried-live/${name}`;
    const { version } = await w.store.put(key, randomBody(100), { timeToLiveMs: HOUR });
    const rule = { kind: 'loseRequest' as const, times: 1, match: onCommand('UpdateItem'), before: async () => void (now += 10 * SEC) };
    w.injector.add(rule);
    let result: unknown;
    try {
      result = await write(key, version).catch((e: unknown) => e);
    } finally {
      w.injector.remove(rule);
    }
    expect(w.injector.stats.injected.loseRequest, 'the first attempt got no answer').toBeGreaterThan(0);
    expect(result, 'the retry landed').not.toBeInstanceOf(Error);
    expect(result, 'a delete answers true').not.toBe(false);
    const item = (await rawState(fx)).objects.find((o) => o.key === key)!;
    expect(item.version, 'written once').toBe(version + 1);
    await expectClean(fx, expect);
  },
);

/**
 * Runs `write` with its first attempt matching `match` throttled and, before the SDK's retry of
 * it, `paused` run (the writer paused between its attempts): its result, or what it threw.
 */
async function throttledThenPaused(
  match: (request: RequestInfo) => boolean,
  paused: () => Promise<void>,
  write: () => Promise<unknown>,
): Promise<unknown> {
  const throttle = { kind: 'throttle' as const, times: 1, match };
  const pause = { kind: 'delay' as const, delayMs: 0, times: 1, match, before: paused };
  w.injector.add(throttle).add(pause);
  try {
    return await write().catch((e: unknown) => e);
  } finally {
    w.injector.remove(throttle);
    w.injector.remove(pause);
  }
}

/**
 * Runs `write` while, once, right before its `command` goes out, another reader reads `key` (its
 * time-to-idle refresh moves the expiry an hour on) and the clock moves 20 s past the expiry the
 * writer read: its result, or what it threw.
 */
async function whileReaderKeepsAlive(key: string, command: string, write: () => Promise<unknown>): Promise<unknown> {
  const rule = {
    kind: 'delay' as const,
    delayMs: 0,
    times: 1,
    match: onCommand(command),
    before: async () => {
      await other.store.head(key);
      now += 20 * SEC;
    },
  };
  w.injector.add(rule);
  try {
    return await write().catch((e: unknown) => e);
  } finally {
    w.injector.remove(rule);
  }
}

test.each([
  ['a large put with ifVersion', (key: string, version: number) => w.store.put(key, randomBody(40 * KiB + 1), { ifVersion: version })],
  ['a large put (no ifVersion: an overwrite, not a create)', (key: string) => w.store.put(key, randomBody(40 * KiB + 1))],
])(
  '%s over a time-to-idle object whose expiry readers moved on while its body went up: live at its version, the write lands',
  async (name, write) => {
    const key = `tti-kept-alive/${name}`;
    const { version } = await w.store.put(key, randomBody(40 * KiB), { timeToIdleMs: HOUR });
    now += HOUR - 10 * SEC; // a refresh due
    // A slow upload: meanwhile another reader moves the expiry an hour on, and the one read passes.
    const result = await whileReaderKeepsAlive(key, 'PutObjectCommand', () => write(key, version));
    expect(w.injector.stats.injected.delay, 'the upload was slow').toBeGreaterThan(0);
    expect(result, 'the object is live at that version').not.toBeInstanceOf(Error);
    expect(result).toMatchObject({ version: version + 1, created: false });
    await expectClean(fx, expect);
  },
);

test.each([
  ['with ifVersion', true],
  ['without ifVersion (an overwrite, not a create)', false],
])(
  "an upload session's complete %s over a time-to-idle object whose expiry readers moved on while S3 assembled the parts: live at its version, the complete lands",
  async (name, conditional) => {
    const key = `tti-kept-alive/session/${name}`;
    const { version } = await w.store.put(key, randomBody(40 * KiB), { timeToIdleMs: HOUR });
    now += HOUR - 10 * SEC; // a refresh due
    const created = await w.store.createUpload(key, conditional ? { ifVersion: version } : {});
    const parts = await uploadParts(w.store, created.uploadId, randomBody(3000), created.partSize);
    // A slow assembly (a large object): meanwhile another reader moves the expiry an hour on, and the one read passes.
    const result = await whileReaderKeepsAlive(key, 'CompleteMultipartUploadCommand', () =>
      w.store.completeUpload(created.uploadId, parts),
    );
    expect(w.injector.stats.injected.delay, 'the assembly was slow').toBeGreaterThan(0);
    expect(result, 'the object is live at that version').not.toBeInstanceOf(Error);
    expect(result).toMatchObject({ version: version + 1, created: false });
    await expectClean(fx, expect);
  },
);
