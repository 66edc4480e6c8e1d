/**
 * A write over an expired item that TTL has not removed yet is a create: the object is new
 * (`created: true`), and nothing of the expired incarnation shows in it. Its version continues
 * the stored counter (versions.ts), but its `createdAt` is the create's, not the expired
 * object's: on every write path (inline, large, a small write replacing an expired blob, an
 * upload session's complete), and in the answer a retried write decides from HV.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, expectClean, makeWriter, randomBody, type Writer } from './harness.js';
import { uploadParts } from './upload-session-client.js';

const SEC = 1000;
const HOUR = 3_600_000;
let fx: Fixture;
let w: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const clock = () => now;

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx, { store: { clock } });
});
afterAll(() => w?.close());

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
