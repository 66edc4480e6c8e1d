/**
 * A read of a time-to-idle blob object refreshes its expiry as of the read of its item, before the
 * blob is fetched: judged once the body had come, a read whose download outlasted what was left of
 * the object (less the refresh margin) did not extend it, and the object expired seconds after a
 * read although its time to idle is minutes. Against the local stack, with an injected clock that
 * the (simulated) slow GetObject moves on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { onCommand } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, rawState, type Writer } from './harness.js';

const SEC = 1000;
let fx: Fixture;
let writer: Writer;
let now = Date.UTC(2026, 10, 30, 12, 0, 0);
const clock = () => now;

beforeAll(async () => {
  fx = await freshFixture();
  writer = makeWriter(fx, { store: { clock } });
});
afterAll(() => writer?.close());

describe('a read of a time-to-idle blob whose download outlasts what was left of the object', () => {
  test.each([
    ['get', (key: string) => writer.store.get(key)],
    ['a ranged get', (key: string) => writer.store.get(key, { range: { start: 0, end: 9 } })],
    [
      'getStream',
      async (key: string) => {
        const read = await writer.store.getStream(key);
        read?.body.destroy();
        return read;
      },
    ],
    ['getBytesOrUrl (the objects API GET)', (key: string) => writer.store.getBytesOrUrl(key, { maxBytes: 64 * KiB })],
  ])('%s keeps it alive: the refresh is judged when the read begins', async (name, read) => {
    const key = `idle-slow/${name}`;
    const tti = 10 * 60_000; // debounce 5 min, refresh margin 5 s
    await writer.store.put(key, randomBody(40 * KiB), { timeToIdleMs: tti });
    now += tti - 8 * SEC; // 8 s left: a read is due to refresh
    const startedAt = now;
    // The blob takes 4 s to come: judged after it, 4 s were left, under the 5 s margin.
    const slow = {
      kind: 'delay' as const,
      delayMs: 0,
      times: 1,
      match: onCommand('GetObjectCommand'),
      before: async () => void (now += 4 * SEC),
    };
    writer.injector.add(slow);
    try {
      const got = await read(key);
      expect(got).toBeDefined();
      expect(writer.injector.stats.injected.delay).toBeGreaterThan(0);
      expect(got!.expiresAt!.getTime(), 'the read answers the expiry it moved the object to').toBe(startedAt + tti);
    } finally {
      writer.injector.remove(slow);
    }
    const stored = (await rawState(fx)).objects.find((o) => o.key === key);
    expect(stored!.expiresAt).toBe((startedAt + tti) / SEC);
    now += 10 * SEC; // 6 s after the read answered, with a time to idle of 10 min
    expect(await writer.store.head(key)).toBeDefined();
  });
});

test('a ranged read whose refresh is refused sends that one refresh, not another once its bytes came', async () => {
  const key = 'idle-slow/refused';
  const tti = 10 * 60_000;
  await writer.store.put(key, randomBody(40 * KiB), { timeToIdleMs: tti });
  now += tti - 60 * SEC; // due
  const refused = {
    kind: 'fail' as const,
    times: 1,
    match: onCommand('UpdateItemCommand'),
    error: () => awsServiceError('ValidationException', 400),
  };
  writer.injector.add(refused);
  const before = writer.recorder.commands.length;
  try {
    expect(await writer.store.get(key, { range: { start: 0, end: 9 } })).toBeDefined();
  } finally {
    writer.injector.remove(refused);
  }
  const updates = writer.recorder.commands.slice(before).filter((c) => c.command === 'UpdateItem');
  expect(updates).toHaveLength(1);
});
