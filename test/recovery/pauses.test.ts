/**
 * A process paused for an arbitrary time at an exact point, and resumed: its next request (an
 * SDK retry whose timer fires after the pause, or the next step of its protocol) goes out after
 * every bound it leaned on was outlived (its lease, a sweeper's claim, the transaction token's
 * 10 minutes), with other actors' writes and sweeps landed meanwhile. The pause is a fault
 * rule's `before` hook: the other actors act there, before the paused actor's request is sent; a
 * clock ahead (sweepers) stands for the time that passed. Invariants are checked from outside
 * (raw scans and a listing): nothing lost right after, the caller's answer true to what landed,
 * and nothing lost, leaked or left in the log after a sweep past everything.
 *
 * Defect found here: a fenced commit that landed, whose answer was lost and whose SDK retry went
 * out past the token with the key overwritten and the writer's instance claimed (or drained and
 * deleted) meanwhile, was judged "fenced": the large put answered InstanceClaimedError ("did not
 * commit") and a conditional delete VersionConflictError, for writes that had landed. A refusal
 * by the fence after an attempt that may have been applied is now an unknown outcome.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { CommitOutcomeUnknownError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  expectClean,
  KiB,
  makeSweeper,
  makeWriter,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  steps,
  sweepPastEverything,
} from '../tiered/harness.js';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

const OLD = randomBody(40 * KiB);
const MINE = randomBody(40 * KiB + 1);
const THEIRS = randomBody(40 * KiB + 2);
const SMALL = randomBody(300);

async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** A sweep by a sweeper whose clock is `offsetMs` ahead (the time the paused actor slept). */
async function sweepAt(fx: Fixture, offsetMs: number) {
  const { sweeper, close } = makeSweeper(fx, offsetMs);
  try {
    return await sweeper.sweep();
  } finally {
    close();
  }
}

describe('a writer paused between the attempts of its commit (the first landed, its answer lost), its instance claimed meanwhile', () => {
  type Case = {
    readonly op: (s: TieredStore, key: string, version: number) => Promise<unknown>;
    /** What the sweeps did during the pause: the first sighting (claim only), or also the judging sweep (drained, item deleted). */
    readonly sweeps: 'claimed' | 'drained';
  };
  const put = (s: TieredStore, key: string) => s.put(key, MINE);
  const putIf = (s: TieredStore, key: string, version: number) => s.put(key, MINE, { ifVersion: version });
  const deleteIf = (s: TieredStore, key: string, version: number) => s.delete(key, { ifVersion: version });
  const putSmall = (s: TieredStore, key: string) => s.put(key, SMALL);
  const cases: Array<[string, Case]> = [
    ['large overwrite, instance claimed', { op: put, sweeps: 'claimed' }],
    ['large overwrite, instance drained', { op: put, sweeps: 'drained' }],
    ['large overwrite (ifVersion), instance claimed', { op: putIf, sweeps: 'claimed' }],
    ['large delete (ifVersion), instance claimed', { op: deleteIf, sweeps: 'claimed' }],
    ['large delete (ifVersion), instance drained', { op: deleteIf, sweeps: 'drained' }],
    ['small over large, instance claimed', { op: putSmall, sweeps: 'claimed' }],
  ];

  test.each(cases)('%s: told "unknown", never "failed"', async (_name, c) => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const key = 'pause/commit';
    const other = makeWriter(fx);
    open.push(other);
    const { version } = await other.store.put(key, OLD);

    const match = steps(fx.config).commit;
    const injector = new FaultInjector()
      // The first attempt lands; its answer is lost.
      .add({ kind: 'loseResponse', match, times: 1 })
      // The writer sleeps past the token's 10 minutes and past its lease; meanwhile another writer
      // overwrites the key (deleting the blob it replaced) and sweepers take the writer's instance.
      .add({
        kind: 'expireToken',
        match,
        times: 1,
        before: async () => {
          await other.store.put(key, THEIRS);
          expect(await sweepAt(fx, PAST_EVERYTHING_MS), 'the first sighting claims').toMatchObject({ instancesClaimed: 1 });
          if (c.sweeps === 'drained') {
            expect(await sweepAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS), 'the judging sweep').toMatchObject({ errors: 0 });
          }
        },
      });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const result = await outcome(c.op(w.store, key, version));
    expect(injector.stats.injected, 'the answer was lost, and the world moved before the retry').toMatchObject({
      loseResponse: 1,
      expireToken: 1,
    });

    expect((await rawState(fx)).lost, 'no HV item references a missing blob').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), THEIRS), "the other writer's value, the last one written").toBe(true);
    expect((result as { error?: unknown }).error, 'told "unknown", never "failed"').toBeInstanceOf(CommitOutcomeUnknownError);

    w.close();
    other.close();
    expect((await sweepPastEverything(fx)).errors).toBe(0);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), THEIRS)).toBe(true);
  });
});

describe('a reader paused while it signs a presigned GET (its credentials resolved slowly: a refresh from STS or the container endpoint, a GC pause)', () => {
  // S3 judges a URL by its X-Amz-Date and X-Amz-Expires on its own clock: real time here.
  const endOf = (url: string) => {
    const params = new URL(url).searchParams;
    const date = params.get('X-Amz-Date')!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
    return Date.parse(date) + Number(params.get('X-Amz-Expires')) * 1_000;
  };

  test("the URL still dies with the object: its lifetime runs from before the pause, not from the signature's moment", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const key = 'pause/presign';
    await w.store.put(key, MINE, { timeToLiveMs: 20_000 });
    const expiresAt = (await w.store.head(key))!.expiresAt!.getTime();
    // The signer's credentials answer 3 s late (presignUrl asks for them on every URL).
    const config = w.s3.config;
    const base = config.credentials;
    let paused = 0;
    config.credentials = async () => {
      paused++;
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      return base();
    };
    const presigned = (await w.store.presignGet(key, { expiresInMs: 5 * 60_000 }))!;
    expect(paused, 'the signer paused').toBe(1);
    expect(endOf(presigned.url), "the URL ends no later than the object's expiry").toBeLessThanOrEqual(expiresAt);
    expect(presigned.expiresAt).toBeLessThanOrEqual(expiresAt);
    expect(endOf(presigned.url), 'the answer says when the URL ends').toBeGreaterThanOrEqual(presigned.expiresAt - 1_000);
  });
});
