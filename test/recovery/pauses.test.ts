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
 * Defects found here:
 *  - a fenced commit that landed, whose answer was lost and whose SDK retry went out past the
 *    token with the key overwritten and the writer's instance claimed (or drained and deleted)
 *    meanwhile, was judged "fenced": the large put answered InstanceClaimedError ("did not
 *    commit") and a conditional delete VersionConflictError, for writes that had landed. A refusal
 *    by the fence after an attempt that may have been applied is now an unknown outcome;
 *  - a presigned GET was dated when signed, after its lifetime was measured: a signer waiting for
 *    its credentials stretched it past the object's expiry. It is dated when asked for;
 *  - a writer paused past its lease and the upload window sent its upload after the sweeper had
 *    judged and dropped its entry: dying then, it leaked the blob (only an audit found it). No
 *    upload attempt goes out past the lease plus the shortest window (UploadNotSentError);
 *  - a large put's commit retried by the SDK after a pause past the put's expiry landed an object
 *    expired on arrival over the value it replaced, answered success. No attempt goes out then;
 *  - so did a small put's one write (or its CAS over an expired item, or its commit over a large
 *    value) and an upload session's commit (past the object's expiry, whether a fixed instant or
 *    a time to live counted from the commit). The same check now guards every attempt of them.
 */
import { describe, expect, test } from 'vitest';
import { DEFAULT_CLAIM_MS, DEFAULT_SKEW_MARGIN_MS } from '../../lib/constants.js';
import {
  CommitOutcomeUnknownError,
  InstanceClaimedError,
  UploadNotSentError,
  UploadSessionClosedError,
  ValidationError,
} from '../../lib/errors.js';
import { FaultInjector, type FaultRule } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import type { ExpiryPolicy } from '../../lib/tiered/expiry.js';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { uploadParts } from '../tiered/upload-session-client.js';
import {
  deadWriterPut,
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
  closedAfterEach,
  outcome,
  writerHolding,
  sweepOnceAt,
} from '../tiered/harness.js';

const open = closedAfterEach<{ close(): void }>();

const OLD = randomBody(40 * KiB);
const MINE = randomBody(40 * KiB + 1);
const THEIRS = randomBody(40 * KiB + 2);
const SMALL = randomBody(300);
const SMALL_OLD = randomBody(200);
const DAY = 24 * 3600_000;

/** A sweep by a sweeper whose clock is `offsetMs` ahead (the time the paused actor slept). */
const sweepAt = (fx: Fixture, offsetMs: number, injector?: FaultInjector) =>
  sweepOnceAt(fx, offsetMs, injector !== undefined ? { injector } : {});

/**
 * A pause before the next attempt matching `match` (the session's commit) during which the
 * session, past its expiry, is swept twice: claimed, then judged (its blob deleted, its item drained).
 */
function sessionSweptDuring(fx: Fixture, match: FaultRule['match']): FaultRule {
  return {
    kind: 'delay',
    delayMs: 0,
    times: 1,
    match,
    before: async () => {
      expect(await sweepAt(fx, 2 * DAY)).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
      expect(await sweepAt(fx, 2 * DAY + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1 });
    },
  };
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
    const { other, version } = await writerHolding(fx, open, key, OLD);

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

/**
 * Pauses that hold: each row pauses one actor at an exact request (a rule's `before` hook), lets
 * the others run past the bounds it leans on, resumes it, and returns the value the key must end
 * with. Then, from outside: nothing lost right after; after sweeps past every lease, upload window
 * and session (the kept answer of a completed one too), nothing lost, leaked or left in the log.
 */
describe('pauses that hold', () => {
  type Pause = (fx: Fixture) => Promise<Uint8Array | undefined>;
  const cases: Array<[string, Pause]> = [
    [
      "a writer paused between its upload and its commit, past its lease and the upload window: a sweeper claims, judges and deletes `new`; the writer's commit is fenced",
      async (fx) => {
        const key = 'pause/writer';
        const { other } = await writerHolding(fx, open, key, OLD);
        const injector = new FaultInjector().add({
          kind: 'delay',
          delayMs: 0,
          times: 1,
          match: steps(fx.config).commit,
          before: async () => {
            expect(await sweepAt(fx, PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
            expect(await sweepAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1, blobsDeleted: 1 });
          },
        });
        const w = makeWriter(fx, { injector });
        open.push(w);
        await expect(w.store.put(key, MINE)).rejects.toBeInstanceOf(InstanceClaimedError);
        expect(injector.stats.injected.delay).toBe(1);
        return OLD;
      },
    ],
    ...(['before its upload', "between its upload's attempts (the SDK's retry timer fires after the pause)"] as const).map(
      (where): [string, Pause] => [
        `a writer paused ${where}, past its lease and the upload window, dies right after: the upload is not sent (it would land a blob nothing names, the entry judged and dropped)`,
        async (fx) => {
          const key = 'pause/upload';
          const { other } = await writerHolding(fx, open, key, OLD);
          const upload = steps(fx.config).upload;
          // The writer's clock: the pause passes for it too.
          let slept = 0;
          const injector = new FaultInjector();
          // The first attempt goes out and is lost on its way (not applied): the SDK sends it again.
          if (where !== 'before its upload') injector.add({ kind: 'loseRequest', times: 1, match: upload });
          injector.add({
            kind: 'crashAfter',
            times: 1,
            match: upload,
            before: async () => {
              expect(await sweepAt(fx, PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
              expect(await sweepAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1 });
              slept = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
            },
          });
          const w = makeWriter(fx, { injector, log: { clock: () => Date.now() + slept } });
          open.push(w);
          await expect(w.store.put(key, MINE)).rejects.toThrow();
          expect(injector.crashedAt, 'the writer died at its upload').toBeDefined();
          // Had it lived on, it would have been told its write did not commit.
          const after = makeWriter(fx, { log: { clock: () => Date.now() + slept } });
          open.push(after);
          after.injector.add({
            kind: 'delay',
            delayMs: 0,
            times: 1,
            match: upload,
            before: async () => void (slept += PAST_EVERYTHING_MS),
          });
          await expect(after.store.put(key, MINE)).rejects.toBeInstanceOf(UploadNotSentError);
          return OLD;
        },
      ],
    ),
    [
      "a writer's lease renewal paused until a sweeper claimed its instance: refused, the writer takes a new identity, its write in flight is fenced",
      async (fx) => {
        const key = 'pause/renewal';
        let ahead = 0;
        const w = makeWriter(fx, { log: { clock: () => Date.now() + ahead } });
        open.push(w);
        w.injector
          // While the put uploads, half its lease has passed: the renewal goes out...
          .add({
            kind: 'delay',
            delayMs: 0,
            times: 1,
            match: steps(fx.config).upload,
            before: async () => {
              ahead = 61_000;
              await w.log.renewDueLeases();
            },
          })
          // ...and is held until a sweeper claimed the instance.
          .add({
            kind: 'delay',
            delayMs: 0,
            times: 1,
            match: atStep('renew', fx.config),
            before: async () => void expect(await sweepAt(fx, PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1 }),
          });
        const fencedId = w.log.instanceId;
        await expect(w.store.put(key, MINE)).rejects.toBeInstanceOf(InstanceClaimedError);
        expect(w.injector.stats.injected.delay, 'both pauses happened').toBe(2);
        expect(w.log.instanceId, 'a new identity').not.toBe(fencedId);
        ahead = 0;
        // The writer goes on, on its new instance.
        await w.store.put(key, THEIRS);
        return THEIRS;
      },
    ],
    [
      "a sweeper paused between its HV read and its delete, past its claim: a writer overwrites, another sweeper settles the instance; the first one's delete and drop change nothing",
      async (fx) => {
        const key = 'pause/sweeper';
        // Died after its commit, before deleting `old`: the entry names `new` (current) and `old`.
        await deadWriterPut(fx, open, key, steps(fx.config).deleteBlob, { old: OLD });
        const b = makeWriter(fx);
        open.push(b);
        expect(await sweepAt(fx, PAST_EVERYTHING_MS), 'the first sighting').toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
        const judging = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
        const injector = new FaultInjector().add({
          kind: 'delay',
          delayMs: 0,
          times: 1,
          match: (r) => atStep('delete-blobs', fx.config)(r) || atStep('delete-blob', fx.config)(r),
          before: async () => {
            await b.store.put(key, THEIRS);
            // The paused sweeper's claim has ended: another takes the instance over and settles it.
            const takeover = await sweepAt(fx, judging + DEFAULT_CLAIM_MS + DEFAULT_SKEW_MARGIN_MS + 60_000);
            expect(takeover).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, errors: 0 });
          },
        });
        const paused = await sweepAt(fx, judging, injector);
        expect(injector.stats.injected.delay).toBe(1);
        // Its release finds the item gone (taken over and finished) and counts the entry as
        // recovered: a count, no write (the release of an item held by another is refused).
        expect(paused).toMatchObject({ errors: 0 });
        return THEIRS;
      },
    ],
    [
      "an upload session's complete paused between CompleteMultipartUpload and its commit, past the session's expiry: the sweeper claims, judges, deletes the blob; the commit is fenced",
      async (fx) => {
        const key = 'pause/session';
        const { other } = await writerHolding(fx, open, key, OLD);
        const w = makeWriter(fx);
        open.push(w);
        const created = await w.store.createUpload(key);
        const body = randomBody(64 * KiB);
        const parts = await uploadParts(w.store, created.uploadId, body, 64 * KiB);
        const injector = new FaultInjector().add(sessionSweptDuring(fx, steps(fx.config).commit));
        const completer = makeWriter(fx, { injector });
        open.push(completer);
        const result = await outcome(completer.store.completeUpload(created.uploadId, parts));
        expect(injector.stats.injected.delay).toBe(1);
        expect((result as { error?: unknown }).error).toBeInstanceOf(UploadSessionClosedError);
        // Its retry is told the same, never a success.
        await expect(w.store.completeUpload(created.uploadId, parts)).rejects.toThrow();
        return OLD;
      },
    ],
    [
      "an upload session's commit retried by the SDK (its first attempt throttled) after a pause past the session's expiry: the sweeper claims, judges, deletes the blob meanwhile; the retry is fenced, not landed (the session's element requires it live: no deadline of the writer's needed)",
      async (fx) => {
        const key = 'pause/session-retry';
        await writerHolding(fx, open, key, OLD);
        const w = makeWriter(fx);
        open.push(w);
        const created = await w.store.createUpload(key);
        const parts = await uploadParts(w.store, created.uploadId, randomBody(64 * KiB), 64 * KiB);
        const commit = steps(fx.config).commit;
        const injector = new FaultInjector().add({ kind: 'throttle', times: 1, match: commit }).add(sessionSweptDuring(fx, commit));
        const completer = makeWriter(fx, { injector });
        open.push(completer);
        const result = await outcome(completer.store.completeUpload(created.uploadId, parts));
        expect(injector.stats.injected).toMatchObject({ throttle: 1, delay: 1 });
        expect((result as { error?: unknown }).error).toBeInstanceOf(UploadSessionClosedError);
        return OLD;
      },
    ],
  ];

  test.each(cases)('%s', async (_name, pause) => {
    const fx = await freshFixture({ replacedBlobCleanup: 'log' });
    const expected = await pause(fx);
    const before = await rawState(fx);
    expect(before.lost, 'no HV item references a missing blob, right after').toEqual([]);
    const key = String(before.objects[0]?.key);
    expect(sameBytes(await rawValue(fx, key), expected), 'the last acknowledged write').toBe(true);
    for (const offset of [3 * DAY, 3 * DAY + PAST_WINDOW_MS]) expect((await sweepAt(fx, offset)).errors).toBe(0);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), expected), 'the last acknowledged write, after the cleanup').toBe(true);
  });
});

describe("a put whose write is retried by the SDK after a pause past the put's expiry", () => {
  const TTL = { timeToLiveMs: 2_000 };
  type Write = {
    /** The key's value before: another writer's, with no expiry (`expiring`: with 1 s to live, expired to the writer). */
    readonly before: Uint8Array;
    readonly expiring?: boolean;
    /** `replacedBlobCleanup: 'stream'`: a change that uploads nothing commits with a plain conditional write. */
    readonly stream?: boolean;
    /** The request the writer pauses between the attempts of, and how many of its requests go out first. */
    readonly step: 'commit' | 'hvInline' | 'hvCommit';
    readonly skip?: number;
    /** What the put writes, with an expiry that the pause outlives. */
    readonly body: Uint8Array;
    readonly put: (s: TieredStore, key: string, now: number) => Promise<unknown>;
    /** How long the writer pauses (3 s unless said): past the expiry the put gave. */
    readonly pauseMs?: number;
  };
  /** An upload session of MINE, its object's expiry `policy`; the session itself lives a minute. */
  const session =
    (policy: (now: number) => ExpiryPolicy) =>
    async (s: TieredStore, key: string, now: number): Promise<unknown> => {
      const created = await s.createUpload(key, { ...policy(now), expiresInMs: 60_000 });
      return s.completeUpload(created.uploadId, await uploadParts(s, created.uploadId, MINE, 64 * KiB));
    };
  const writes: Array<[string, Write]> = [
    ['a large put (its fenced commit)', { before: OLD, step: 'commit', body: MINE, put: (s, key) => s.put(key, MINE, TTL) }],
    [
      'a small put (its one conditional write)',
      { before: SMALL_OLD, step: 'hvInline', body: SMALL, put: (s, key) => s.put(key, SMALL, TTL) },
    ],
    [
      'a small put over an expired small value (its CAS on the item as stored, after its first write was refused)',
      { before: SMALL_OLD, expiring: true, step: 'hvInline', skip: 1, body: SMALL, put: (s, key) => s.put(key, SMALL, TTL) },
    ],
    [
      'a small put over a large value (its fenced commit)',
      { before: OLD, step: 'commit', body: SMALL, put: (s, key) => s.put(key, SMALL, TTL) },
    ],
    [
      'a small put over a large value, the stream cleaning replaced blobs (its plain conditional commit)',
      { before: OLD, stream: true, step: 'hvCommit', body: SMALL, put: (s, key) => s.put(key, SMALL, TTL) },
    ],
    [
      "an upload session's complete, the object's time to live counted from the commit",
      { before: OLD, step: 'commit', body: MINE, put: session(() => TTL) },
    ],
    [
      "an upload session's complete, the object's expiresAt",
      // An expiresAt far enough ahead for the parts to go up first on a loaded machine (a part URL
      // lives no longer than it), and a pause past it.
      {
        before: OLD,
        step: 'commit',
        body: MINE,
        put: session((now) => ({ expiresAt: new Date(now + 20_000) })),
        pauseMs: 30_000,
      },
    ],
  ];
  type First = {
    /** What became of the first attempt. */
    readonly first: 'throttle' | 'loseRequest' | 'loseResponse';
    /** The answer: refused (nothing written), unknown (nothing written, but it could not know), or ok (it landed before the expiry). */
    readonly answer: 'refused' | 'unknown' | 'ok';
  };
  const firsts: Array<[string, First]> = [
    [
      'the first attempt throttled (not applied): refused, the value it would have replaced stays',
      { first: 'throttle', answer: 'refused' },
    ],
    [
      'the first attempt got no answer (it never arrived): unknown, the value it would have replaced stays',
      { first: 'loseRequest', answer: 'unknown' },
    ],
    [
      'the first attempt landed, its answer lost: the retry is not sent, and the read finds it landed',
      { first: 'loseResponse', answer: 'ok' },
    ],
  ];
  const cases = writes.flatMap(([write, w]) => firsts.map(([first, f]): [string, Write, First] => [`${write}; ${first}`, w, f]));

  test.each(cases)('%s', async (_name, w, c) => {
    const fx = await freshFixture(w.stream ? { replacedBlobCleanup: 'stream' } : {});
    const key = 'pause/expiry';
    const { other } = await writerHolding(fx, open, key, w.before);
    if (w.expiring) await other.store.put(key, w.before, { timeToLiveMs: 1_000 });
    // The writer's clock: the pause passes for it too (and, for an expiring value, it runs past its expiry).
    const ahead = w.expiring ? 5_000 : 0;
    let slept = 0;
    const clock = () => Date.now() + ahead + slept;
    const match = steps(fx.config)[w.step];
    const skip = w.skip ?? 0;
    const injector = new FaultInjector()
      .add({ kind: c.first, times: 1, skip, match })
      .add({ kind: 'delay', delayMs: 0, times: 1, skip, match, before: async () => void (slept = w.pauseMs ?? 3_000) });
    const wr = makeWriter(fx, { injector, store: { clock } });
    open.push(wr);
    const result = await outcome(w.put(wr.store, key, clock()));
    expect(injector.stats.injected.delay, 'the writer paused between the attempts').toBe(1);

    expect((await rawState(fx)).lost).toEqual([]);
    if (c.answer === 'ok') {
      expect(result.ok, String((result as { error?: unknown }).error)).toBe(true);
      expect(sameBytes(await rawValue(fx, key), w.body), 'its value, landed before the pause').toBe(true);
    } else {
      const expected = c.answer === 'refused' ? ValidationError : CommitOutcomeUnknownError;
      expect((result as { error?: unknown }).error).toBeInstanceOf(expected);
      expect(sameBytes(await rawValue(fx, key), w.before), 'the value it would have replaced stays').toBe(true);
    }
    wr.close();
    other.close();
    expect((await sweepPastEverything(fx)).errors).toBe(0);
    await expectClean(fx, expect);
  });

  // The pause passes the object's expiry. An expiresAt is far enough ahead for the parts to go up
  // first on a loaded machine: a part URL lives no longer than it (bbd0455), and one of 2 s gave
  // URLs of 1 s that a busy test run sent too late (403 "Request has expired").
  test.each([
    [
      "its object's time to live: the session stays open, and completed again the time to live counts from that commit",
      () => TTL,
      true,
      3_000,
    ],
    [
      "its object's expiresAt, passed: the session is ended, as a complete that starts past it",
      (now: number) => ({ expiresAt: new Date(now + 20_000) }),
      false,
      30_000,
    ],
  ] as const)("an upload session's commit not sent past %s", async (_name, policy, staysOpen, pauseMs) => {
    // DESIGN.md, Expiry: "A session refused so stays open (completed again, its time to live counts
    // afresh) unless its expiresAt has passed; then it is ended". Ended, a session of a time to
    // live would take its uploaded parts with it: the client would have to upload them again.
    const fx = await freshFixture();
    const key = 'pause/session-again';
    let slept = 0;
    const clock = () => Date.now() + slept;
    const match = steps(fx.config).commit;
    const injector = new FaultInjector()
      .add({ kind: 'throttle', times: 1, match })
      .add({ kind: 'delay', delayMs: 0, times: 1, match, before: async () => void (slept = pauseMs) });
    const wr = makeWriter(fx, { injector, store: { clock } });
    open.push(wr);
    const created = await wr.store.createUpload(key, { ...policy(clock()), expiresInMs: 60_000 });
    const parts = await uploadParts(wr.store, created.uploadId, MINE, 64 * KiB);
    await expect(wr.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(ValidationError);
    expect(await rawValue(fx, key)).toBeUndefined();
    const again = await outcome(wr.store.completeUpload(created.uploadId, parts));
    if (staysOpen) {
      expect(again.ok, String((again as { error?: unknown }).error)).toBe(true);
      expect(sameBytes(await rawValue(fx, key), MINE)).toBe(true);
      const expiresAt = (await wr.store.head(key))!.expiresAt!.getTime();
      expect(expiresAt).toBeGreaterThan(clock() + TTL.timeToLiveMs - 1_000);
    } else {
      // Ended: the complete sent again is told the same refusal (the session keeps it), nothing committed.
      expect((again as { error?: unknown }).error).toBeInstanceOf(ValidationError);
      await expect(wr.store.listUploadParts(created.uploadId)).rejects.toMatchObject({ reason: 'aborted' });
      expect(await rawValue(fx, key)).toBeUndefined();
    }
    wr.close();
    expect((await sweepPastEverything(fx)).errors).toBe(0);
    await expectClean(fx, expect);
  });
});
