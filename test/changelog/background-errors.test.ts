/**
 * The background renewal runs on a timer, where nothing awaits it: whatever goes wrong in a tick
 * must end there. A renewal that fails goes to `onBackgroundError` (user code, which may throw
 * itself); a rejection escaping the tick would be an unhandled rejection, which ends a Node
 * process by default, and with it every write in flight.
 */
import { afterEach, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { newChangeId } from '../../lib/ids.js';
import { freshFixture } from '../support/local.js';
import { blobOf, manualClock } from './helpers.js';

const LEASE = 120_000;
const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

// A reporter that sends the error on (a metric, a log service) may fail itself: by a throw, or, an
// async one, by a rejected promise, which a caller that only catches a throw leaves unhandled.
test.each([
  [
    'throws',
    (): void => {
      throw new Error('a reporter that throws');
    },
  ],
  [
    'is async and its promise rejects',
    async (): Promise<void> => {
      throw new Error('a reporter whose promise rejects');
    },
  ],
] as const)(
  'a renewal tick whose onBackgroundError %s settles quietly, no unhandled rejection; the next tick renews',
  async (_how, fails) => {
    const fx = await freshFixture();
    const clock = manualClock(Date.now());
    const injector = new FaultInjector();
    const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
    const reported: unknown[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const log = new DynamoChangeLog({
      config: fx.config,
      dynamodb,
      clock: clock.clock,
      leaseMs: LEASE,
      renewInBackground: false,
      onBackgroundError: (err) => {
        reported.push(err);
        return fails();
      },
    });
    closers.push(() => {
      process.off('unhandledRejection', onUnhandled);
      log.close();
      dynamodb.destroy();
    });
    await log.record(newChangeId(), { id: 'k', new: blobOf('k') });
    clock.advance(LEASE / 2 + 1); // the lease is due for renewal
    const denied = Object.assign(new Error('injected: denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
    const rule = { kind: 'fail' as const, match: onCommand('UpdateItem'), error: () => denied };
    injector.add(rule);

    await expect(log.renewDueLeases(), 'the tick never rejects').resolves.toBeUndefined();
    expect(reported, 'the failure reached onBackgroundError').toHaveLength(1);
    // Node reports an unhandled rejection after the microtasks of the turn: let a few turns pass.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled, 'the reporter’s rejection was left unhandled').toEqual([]);

    injector.remove(rule);
    await log.renewDueLeases();
    expect(reported, 'the next tick renews').toHaveLength(1);
  },
);
