/**
 * A clock that reads ms with a fraction (`performance.timeOrigin + performance.now()`) passes the
 * clock check: every number the store writes from it must still be a whole number of ms. A lease
 * with a fraction makes a session's change-log item unreadable to the sweeper (its header takes
 * integers), so the session, its upload and its blob would be quarantined, never cleaned. And every
 * other component that takes a clock checks it as the writers do (below).
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseInstanceItem } from '../../lib/changelog/instance-item.js';
import { scanTable } from '../../lib/drill/invariants.js';
import { InMemoryChangeLog } from '../../lib/changelog/in-memory.js';
import { ValidationError } from '../../lib/errors.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { createObjectsStreamHandler } from '../../lib/handlers/objects-stream.js';
import { runCli } from '../../lib/cli/program.js';
import { configToEnv } from '../../lib/config.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, randomBody } from './harness.js';

let fx: Fixture;
let store: TieredStore;

beforeAll(async () => {
  fx = await freshFixture();
  store = new TieredStore({
    config: fx.config,
    changeLog: new InMemoryChangeLog(),
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    clock: () => Date.now() + 0.25,
  });
});
afterAll(() => undefined);

/** The attributes of `item` that are numbers with a fraction, by name. */
function fractional(item: Record<string, unknown>): string[] {
  return Object.entries(item)
    .filter(([, value]) => typeof value === 'number' && !Number.isInteger(value))
    .map(([name, value]) => `${name}=${value}`);
}

describe('a store whose clock reads fractions of a ms', () => {
  test('writes whole numbers: objects (inline, blob, with expiries) and upload sessions the sweeper can read', async () => {
    await store.put('frac/inline', randomBody(100), { timeToLiveMs: 3_600_000 });
    await store.put('frac/blob', randomBody(20 * KiB), { timeToIdleMs: 3_600_000 });
    const { uploadId } = await store.createUpload('frac/session', { size: 10 * KiB, timeToLiveMs: 3_600_000 });
    expect(uploadId).toBeTruthy();
    for (const item of await scanTable(fx.dynamodb, fx.config.objectsTable)) expect(fractional(item), String(item.key)).toEqual([]);
    const sessions = await scanTable(fx.dynamodb, fx.config.changeLogTable);
    expect(sessions.length).toBe(1);
    for (const item of sessions) {
      expect(fractional(item), String(item.pk)).toEqual([]);
      expect(() => parseInstanceItem(item)).not.toThrow();
    }
  });
});

/** What `make` threw, or returned a promise rejected with. */
async function refusal(make: () => unknown): Promise<unknown> {
  try {
    await make();
  } catch (err) {
    return err;
  }
  return undefined;
}

// The sweeper checks its clock as the writers do: one in seconds would take every lease for long
// over. The stream cleanup's would never reach its deadline (every batch ran into the Lambda
// timeout), and the CLI's `status` and `inspect` would call every lease live.
describe('a clock in seconds is a ValidationError naming the clock, before any request', () => {
  const seconds = () => Date.now() / 1000;
  test.each([
    ['Sweeper', () => new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: seconds })],
    ['StreamCleanup', () => new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: seconds })],
    ['createObjectsStreamHandler', () => createObjectsStreamHandler({ config: fx.config, cleanup: { clock: seconds } })],
    [
      'runCli',
      () =>
        runCli(['status'], {
          env: configToEnv(fx.config),
          dynamodb: fx.dynamodb,
          s3: fx.s3,
          io: { stdout: quiet, stderr: quiet },
          clock: seconds,
        }),
    ],
  ])('%s', async (_name, make) => {
    const error = await refusal(make);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('clock');
  });
});

const quiet = { write: () => true };
