/**
 * Races between actors on ONE key, combined with lost answers and retries. Each interleaving is
 * made exact with a fault rule's `before` hook (the other actor acts at that request of the first
 * one) on the real local stack; the invariants are checked from outside (raw scans of both tables
 * and a listing of the bucket), before any cleanup and after the stream's delivery (twice, the
 * second time in reverse order) and a sweep past every lease and upload window:
 *
 *   - no HV item references a missing blob (at every moment checked, not only at the end);
 *   - no blob is left unreferenced, no entry left in the change log;
 *   - the value read is that of the last acknowledged write;
 *   - a writer whose outcome was unknown is told so (CommitOutcomeUnknownError), never "version
 *     conflict" (nothing written) for a write that landed.
 *
 * A commit whose answer was lost, with another writer's overwrite landing before the SDK's retry,
 * was the defect found here: a plain commit (a change log that cannot fence, or a stream-mode
 * change that uploads nothing) took the retry's failed condition for a lost CAS. A large put then
 * committed its blob again over the other writer's, which had already deleted that blob as its
 * `old` (lost object); a conditional delete answered VersionConflictError though it had landed
 * (and, on a plain log, removed the entry naming the blob it replaced: leaked). The fenced commit
 * is a transaction with an idempotency token: its retry answers the first attempt's success, for
 * the token's 10 minutes. A retry sent later is judged afresh (`expireToken`): in `log` mode an
 * overwrite's commit then landed a second time over the other writer's value (lost object),
 * until its change-log half was made to land once.
 */
import { DeleteItemCommand, GetItemCommand, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { describe, expect, test } from 'vitest';
import type { DynamoDBRecord } from 'aws-lambda';
import type { ChangeLog } from '../../lib/changelog/change-log.js';
import type { ReplacedBlobCleanup } from '../../lib/config.js';
import { CommitOutcomeUnknownError, UploadSessionClosedError, VersionConflictError } from '../../lib/errors.js';
import { audit, type AuditReport } from '../../lib/operations.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { asTtlDeletion, StreamReader } from '../support/stream.js';
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
  type Writer,
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

/** A writer's DynamoChangeLog seen as a plain ChangeLog: the store adapts it (no fence); its entries stay sweepable. */
function plainFace(w: Writer): ChangeLog {
  return { record: (id, change) => w.log.record(id, change), remove: (id) => w.log.remove(id), scan: () => w.log.scan() };
}

/** An injector that runs `world` once, right before the first commit request is sent (a delay of 0). */
function atCommit(fx: Fixture, world: () => Promise<void>): FaultInjector {
  return new FaultInjector().add({ kind: 'delay', delayMs: 0, times: 1, match: atStep('commit', fx.config), before: world });
}

/**
 * A sweeper's injector for a race: as the sweep reads HV (its BatchGetItem) `b` puts THEIRS over
 * `key`, and as its blob delete goes out (one key: DeleteObject, more: DeleteObjects), after
 * `delayMs`, `atDelete` runs.
 */
function sweepRacedBy(fx: Fixture, b: Writer, key: string, delayMs: number, atDelete: () => Promise<void>): FaultInjector {
  return new FaultInjector()
    .add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: onCommand('BatchGetItem'),
      before: async () => void (await b.store.put(key, THEIRS)),
    })
    .add({
      kind: 'delay',
      delayMs,
      times: 1,
      match: (r) => atStep('delete-blobs', fx.config)(r) || atStep('delete-blob', fx.config)(r),
      before: atDelete,
    });
}

/**
 * Hands every stream record so far to the stream function's cleanup, then the same records again
 * in reverse order. A REMOVE is delivered as TTL's (the only remover here is the TTL emulation).
 */
async function deliverTwice(fx: Fixture, reader: StreamReader): Promise<DynamoDBRecord[]> {
  const records = (await reader.read()).map((r) => (r.eventName === 'REMOVE' ? asTtlDeletion(r) : r));
  const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
  for (const batch of [records, [...records].reverse()]) {
    const { response, report } = await cleanup.handle(batch);
    expect(response.batchItemFailures).toEqual([]);
    expect(report.untrusted).toBe(0);
  }
  return records;
}

/** `audit --delete` on a clock 2 h ahead, past a safety age of 90 min: every blob written now is old enough. */
function auditDeleting(fx: Fixture): Promise<AuditReport> {
  return audit({
    config: fx.config,
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    clock: () => Date.now() + 2 * 3600_000,
    olderThanMs: 90 * 60_000,
    delete: true,
  });
}

/**
 * A fresh fixture whose objects-table stream is read from its start, and `key` holding OLD, put by
 * another writer (who acts again at the interleaving's exact point).
 */
async function oneKeyScene(mode: ReplacedBlobCleanup, key: string) {
  const fx = await freshFixture({ replacedBlobCleanup: mode });
  const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
  open.push(reader);
  const { other, version } = await writerHolding(fx, open, key, OLD);
  return { fx, reader, other, version };
}

/** `w`'s store: its own (a fenced log), or one on its log seen as a plain ChangeLog. */
function storeOf(fx: Fixture, w: Writer, log: 'fenced' | 'plain'): TieredStore {
  return log === 'fenced' ? w.store : new TieredStore({ config: fx.config, changeLog: plainFace(w), dynamodb: w.dynamodb, s3: w.s3 });
}

/**
 * The writers closed, the stream delivered (stream mode), a sweep past every lease and window, the
 * stream again: no sweep error, and nothing lost, leaked or left in the log.
 */
async function sweptClean(fx: Fixture, reader: StreamReader, mode: ReplacedBlobCleanup, writers: readonly Writer[]): Promise<void> {
  for (const w of writers) w.close();
  if (mode === 'stream') await deliverTwice(fx, reader);
  expect((await sweepPastEverything(fx)).errors).toBe(0);
  if (mode === 'stream') await deliverTwice(fx, reader);
  await expectClean(fx, expect);
}

describe("a commit whose answer was lost, overtaken by another writer's overwrite before the SDK's retry", () => {
  type Case = {
    readonly mode: ReplacedBlobCleanup;
    /** The writer's change log: `fenced` (DynamoChangeLog: a transaction with a token) or `plain` (adapted: a plain conditional write). */
    readonly log: 'fenced' | 'plain';
    /** The step whose answer is lost. */
    readonly step: 'commit' | 'hvCommit';
    readonly op: (s: TieredStore, key: string, version: number) => Promise<unknown>;
    /** The answer the writer must get: its success, or "unknown" (it may have landed). */
    readonly answer: 'ok' | 'unknown';
    /**
     * The SDK's retry comes past the transaction token's 10 minutes (a writer paused between two
     * attempts): DynamoDB judges it as a new transaction, not from the first one's outcome.
     */
    readonly pastToken?: true;
  };
  const put = (s: TieredStore, key: string) => s.put(key, MINE);
  const deleteIf = (s: TieredStore, key: string, version: number) => s.delete(key, { ifVersion: version });
  const putIf = (s: TieredStore, key: string, version: number) => s.put(key, MINE, { ifVersion: version });
  const putSmall = (s: TieredStore, key: string) => s.put(key, SMALL);
  const cases: Array<[string, Case]> = [
    ['large overwrite, log mode: the token answers the retry', { mode: 'log', log: 'fenced', step: 'commit', op: put, answer: 'ok' }],
    ['large overwrite, stream mode: the token answers the retry', { mode: 'stream', log: 'fenced', step: 'commit', op: put, answer: 'ok' }],
    ['large delete (ifVersion), log mode', { mode: 'log', log: 'fenced', step: 'commit', op: deleteIf, answer: 'ok' }],
    ['large overwrite, plain change log', { mode: 'log', log: 'plain', step: 'hvCommit', op: put, answer: 'unknown' }],
    ['large overwrite (ifVersion), plain change log', { mode: 'log', log: 'plain', step: 'hvCommit', op: putIf, answer: 'unknown' }],
    ['large delete (ifVersion), plain change log', { mode: 'log', log: 'plain', step: 'hvCommit', op: deleteIf, answer: 'unknown' }],
    ['large delete (ifVersion), stream mode', { mode: 'stream', log: 'fenced', step: 'hvCommit', op: deleteIf, answer: 'unknown' }],
    ['small over large, stream mode', { mode: 'stream', log: 'fenced', step: 'hvCommit', op: putSmall, answer: 'unknown' }],
    // Past the token, the change-log half of the transaction refuses a second landing (its entry
    // already names `old`, was removed, or exists): decided by the HV item the cancellation returns.
    [
      'large overwrite, log mode, retried past the token',
      { mode: 'log', log: 'fenced', step: 'commit', op: put, answer: 'unknown', pastToken: true },
    ],
    [
      'large overwrite (ifVersion), log mode, past the token',
      { mode: 'log', log: 'fenced', step: 'commit', op: putIf, answer: 'unknown', pastToken: true },
    ],
    [
      'large overwrite, stream mode, past the token',
      { mode: 'stream', log: 'fenced', step: 'commit', op: put, answer: 'unknown', pastToken: true },
    ],
    [
      'large delete (ifVersion), log mode, past the token',
      { mode: 'log', log: 'fenced', step: 'commit', op: deleteIf, answer: 'unknown', pastToken: true },
    ],
    [
      'small over large, log mode, past the token',
      { mode: 'log', log: 'fenced', step: 'commit', op: putSmall, answer: 'unknown', pastToken: true },
    ],
  ];

  test.each(cases)('%s', async (_name, c) => {
    const key = 'race/lost-answer';
    const { fx, reader, other, version } = await oneKeyScene(c.mode, key);

    const match = steps(fx.config)[c.step];
    const injector = new FaultInjector()
      // The first attempt lands; its answer is lost.
      .add({ kind: 'loseResponse', match, times: 1 })
      // Before the SDK sends it again, the other writer overwrites the key (and deletes what it replaced).
      .add({
        kind: c.pastToken ? 'expireToken' : 'delay',
        delayMs: 0,
        match,
        times: 1,
        before: async () => void (await other.store.put(key, THEIRS)),
      });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const store = storeOf(fx, w, c.log);
    const result = await outcome(c.op(store, key, version));
    expect(injector.stats.injected, 'the answer was lost, and the other writer went between').toMatchObject({
      loseResponse: 1,
      [c.pastToken ? 'expireToken' : 'delay']: 1,
    });

    const before = await rawState(fx);
    expect(before.lost, 'no HV item references a missing blob').toEqual([]);
    // The first attempt landed before the other writer's overwrite: the last write is theirs.
    expect(sameBytes(await rawValue(fx, key), THEIRS), "the other writer's value, the last one written").toBe(true);
    if (c.answer === 'ok') expect(result.ok, String((result as { error?: unknown }).error)).toBe(true);
    else expect((result as { error?: unknown }).error, 'told "unknown", never "failed"').toBeInstanceOf(CommitOutcomeUnknownError);

    await sweptClean(fx, reader, c.mode, [w, other]);
    expect(sameBytes(await rawValue(fx, key), THEIRS)).toBe(true);
  });
});

test.each([
  ['large overwrite', 'log'],
  ['large overwrite', 'stream'],
] as const)(
  '%s (%s mode) retried past the token with nobody in between: the retry finds its own landing, a success',
  async (_name, mode) => {
    // Judged afresh, the retry is refused at HV by the item the first attempt wrote: that item is
    // this write's (its id), so the write landed. Never "unknown" for it.
    const key = `race/past-token-alone/${mode}`;
    const { fx, reader, other } = await oneKeyScene(mode, key);
    const match = steps(fx.config).commit;
    const injector = new FaultInjector()
      .add({ kind: 'loseResponse', match, times: 1 })
      .add({ kind: 'expireToken', delayMs: 0, match, times: 1 });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const result = await outcome(w.store.put(key, MINE));
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, expireToken: 1 });
    expect(result.ok, String((result as { error?: unknown }).error)).toBe(true);
    expect(sameBytes(await rawValue(fx, key), MINE)).toBe(true);
    await sweptClean(fx, reader, mode, [w, other]);
  },
);

test("past the token, the retry's change-log half held by another transaction: the same commit is sent again, then unknown", async () => {
  // The afresh-judged retry is refused at HV (the other writer's item) while a transaction of this
  // writer's process holds the change-log item, so that half's condition was not judged. Taken for a
  // lost CAS, a conditional put answered VersionConflictError for a write that had landed.
  const key = 'race/past-token-busy';
  const { fx, reader, other, version } = await oneKeyScene('log', key);
  let theirs: Record<string, unknown> | undefined;
  const match = steps(fx.config).commit;
  const injector = new FaultInjector().add({ kind: 'loseResponse', match, times: 1 }).add({
    kind: 'fail',
    match,
    times: 1,
    before: async () => {
      await other.store.put(key, THEIRS);
      const out = await fx.dynamodb.send(
        new GetItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: key } }, ConsistentRead: true }),
      );
      theirs = out.Item;
    },
    error: () =>
      new TransactionCanceledException({
        message:
          'Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, TransactionConflict]',
        $metadata: { httpStatusCode: 400 },
        CancellationReasons: [
          { Code: 'ConditionalCheckFailed', Item: theirs as never },
          { Code: 'TransactionConflict', Message: 'injected' },
        ],
      }),
  });
  const w = makeWriter(fx, { injector });
  open.push(w);
  const result = await outcome(w.store.put(key, MINE, { ifVersion: version }));
  expect(injector.stats.injected).toMatchObject({ loseResponse: 1, fail: 1 });
  expect((result as { error?: unknown }).error, 'told "unknown", never "version conflict"').toBeInstanceOf(CommitOutcomeUnknownError);
  expect((await rawState(fx)).lost).toEqual([]);
  expect(sameBytes(await rawValue(fx, key), THEIRS)).toBe(true);
  await sweptClean(fx, reader, 'log', [w, other]);
});

describe("a plain commit whose answer was lost, its SDK retry refused by another writer's transaction on the item", () => {
  // The refusal says nothing applied by the retry; the first attempt may have landed, been
  // overwritten, and its blob deleted as the overwriter's `old`. Taken for "busy" (nothing
  // applied: send again), a large put committed its blob again (HV pointing at a deleted blob)
  // and a conditional delete answered VersionConflictError for a delete that had landed.
  const cases: Array<[string, (s: TieredStore, key: string, version: number) => Promise<unknown>]> = [
    ['large overwrite', (s, k) => s.put(k, MINE)],
    ['large delete (ifVersion)', (s, k, v) => s.delete(k, { ifVersion: v })],
  ];

  test.each(cases)('%s: unknown, never sent again', async (_name, op) => {
    const key = 'race/lost-then-conflict';
    const { fx, reader, other, version } = await oneKeyScene('log', key);
    const match = steps(fx.config).hvCommit;
    const injector = new FaultInjector().add({ kind: 'loseResponse', match, times: 1 }).add({
      kind: 'fail',
      match,
      times: 1,
      before: async () => void (await other.store.put(key, THEIRS)),
      error: () =>
        Object.assign(new Error('injected: Transaction is ongoing for the item'), {
          name: 'TransactionConflictException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        }),
    });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const result = await outcome(op(storeOf(fx, w, 'plain'), key, version));
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, fail: 1 });
    expect((result as { error?: unknown }).error, 'told "unknown"').toBeInstanceOf(CommitOutcomeUnknownError);
    expect((await rawState(fx)).lost, 'no HV item references a missing blob').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), THEIRS), "the other writer's value, the last one written").toBe(true);
    await sweptClean(fx, reader, 'log', [w, other]);
  });
});

describe('a conditional write that replaces a blob, overtaken right before its commit', () => {
  // Its commit's lost CAS is checked against the `ifVersion` given: a version conflict at once,
  // whatever attempts are left (with one attempt, it was answered a ContentionError).
  const cases: Array<[string, (s: TieredStore, key: string, version: number) => Promise<unknown>]> = [
    ['delete (ifVersion)', (s, k, v) => s.delete(k, { ifVersion: v })],
    ['small over large (ifVersion)', (s, k, v) => s.put(k, SMALL, { ifVersion: v })],
  ];

  test.each(cases)("%s: VersionConflictError, the other writer's value stays", async (_name, op) => {
    const key = 'race/replace-overtaken';
    const { fx, reader, other, version } = await oneKeyScene('log', key);
    const injector = atCommit(fx, async () => void (await other.store.put(key, THEIRS)));
    const w = makeWriter(fx, { injector, store: { maxAttempts: 1 } });
    open.push(w);
    const result = await outcome(op(w.store, key, version));
    expect(injector.stats.injected.delay).toBe(1);
    expect((result as { error?: unknown }).error).toBeInstanceOf(VersionConflictError);
    expect(sameBytes(await rawValue(fx, key), THEIRS)).toBe(true);
    await sweptClean(fx, reader, 'log', [w, other]);
  });
});

describe("a plain commit throttled, then overtaken by another writer before the SDK's retry: a sure loss, tried again", () => {
  // The throttled attempt was refused (a 400: not applied), so the retry's refusal is a lost
  // compare-and-swap, not an unknown outcome: a table under load must not turn lost races into
  // CommitOutcomeUnknownError (a bench load of 5% throttling answered 24 of 3,000 writes so, and
  // leaked 54 blobs of a store without a sweeper, before lib/aws/attempts.ts).
  type Case = {
    readonly mode: ReplacedBlobCleanup;
    readonly log: 'fenced' | 'plain';
    readonly op: (s: TieredStore, key: string, version: number) => Promise<unknown>;
    /** What the key holds after the write. */
    readonly value: 'mine' | 'small' | 'absent' | 'theirs';
    readonly error?: typeof VersionConflictError;
  };
  const cases: Array<[string, Case]> = [
    ['large delete, stream mode', { mode: 'stream', log: 'fenced', op: (s, k) => s.delete(k), value: 'absent' }],
    ['small over large, stream mode', { mode: 'stream', log: 'fenced', op: (s, k) => s.put(k, SMALL), value: 'small' }],
    ['large overwrite, plain change log', { mode: 'log', log: 'plain', op: (s, k) => s.put(k, MINE), value: 'mine' }],
    [
      'large delete (ifVersion), plain change log: a version conflict, nothing written',
      { mode: 'log', log: 'plain', op: (s, k, v) => s.delete(k, { ifVersion: v }), value: 'theirs', error: VersionConflictError },
    ],
  ];

  test.each(cases)('%s', async (_name, c) => {
    const key = 'race/throttled';
    const { fx, reader, other, version } = await oneKeyScene(c.mode, key);
    const injector = new FaultInjector().add({
      kind: 'throttle',
      match: steps(fx.config).hvCommit,
      times: 1,
      before: async () => void (await other.store.put(key, THEIRS)),
    });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const store = storeOf(fx, w, c.log);
    const result = await outcome(c.op(store, key, version));
    expect(injector.stats.injected.throttle).toBe(1);
    if (c.error === undefined) expect(result.ok, String((result as { error?: unknown }).error)).toBe(true);
    else expect((result as { error?: unknown }).error).toBeInstanceOf(c.error);
    const expected = { mine: MINE, small: SMALL, theirs: THEIRS, absent: undefined }[c.value];
    const value = await rawValue(fx, key);
    if (expected === undefined) expect(value).toBeUndefined();
    else expect(sameBytes(value, expected)).toBe(true);

    await sweptClean(fx, reader, c.mode, [w, other]);
  });
});

/**
 * Races that hold: each row runs one interleaving of several actors on one key and returns the
 * value the key must end with. Then, from outside: nothing lost right after the race; the stream
 * delivered twice (the second time reversed: late, repeated, out of order), a sweep past every
 * lease and window (past every session's kept answer, for the session row), the stream again;
 * then nothing lost, nothing leaked, no entry left, and the value is the last acknowledged one.
 */
describe('races that hold', () => {
  type Race = (fx: Fixture, reader: StreamReader) => Promise<Uint8Array | undefined>;
  const DAY = 24 * 3600_000;

  /** A sweep by a sweeper `offsetMs` ahead, with `injector` on its clients. */
  const sweepAt = (fx: Fixture, offsetMs: number, injector?: FaultInjector) =>
    sweepOnceAt(fx, offsetMs, injector !== undefined ? { injector } : {});

  /**
   * A writer died after its commit landed, before deleting `old` (log mode: its entry names `new`
   * and `old`) or before its commit (stream mode: its entry names `new`). The judging sweep's HV
   * read is preceded by another writer's overwrite of the key; its delete of the judged blobs is
   * delayed, and meanwhile a third writer overwrites the key again (and the stream is delivered).
   */
  const sweeperJudgesWhileWritersCommit =
    (mode: ReplacedBlobCleanup): Race =>
    async (fx, reader) => {
      const key = 'race/judged';
      await deadWriterPut(fx, open, key, steps(fx.config)[mode === 'log' ? 'deleteBlob' : 'commit'], { old: OLD });
      const b = makeWriter(fx);
      const c = makeWriter(fx);
      open.push(b, c);
      expect(await sweepAt(fx, PAST_EVERYTHING_MS), 'the first sighting fences').toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
      const injector = sweepRacedBy(fx, b, key, 200, async () => {
        await c.store.put(key, mode === 'log' ? MINE : SMALL);
        if (mode === 'stream') await deliverTwice(fx, reader);
      });
      const judged = await sweepAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS, injector);
      expect(injector.stats.injected.delay, 'both actors went at their points').toBe(2);
      expect(judged).toMatchObject({ entriesRecovered: 1, errors: 0 });
      return mode === 'log' ? MINE : SMALL;
    };

  const cases: Array<[string, ReplacedBlobCleanup, Race]> = [
    [
      "the sweeper judges a dead writer's entry while two writers overwrite the key (log mode)",
      'log',
      sweeperJudgesWhileWritersCommit('log'),
    ],
    [
      "the sweeper judges a dead writer's entry while a writer overwrites and the stream deletes (stream mode)",
      'stream',
      sweeperJudgesWhileWritersCommit('stream'),
    ],
    [
      "an upload session's complete overtaken, at its commit, by a large put and a delete: it commits over the marker",
      'log',
      async (fx) => {
        const key = 'race/session';
        const { other } = await writerHolding(fx, open, key, OLD);
        const w = makeWriter(fx);
        open.push(w);
        const created = await w.store.createUpload(key);
        const body = randomBody(64 * KiB);
        const parts = await uploadParts(w.store, created.uploadId, body, 64 * KiB);
        const injector = atCommit(fx, async () => {
          await other.store.put(key, THEIRS);
          expect(await other.store.delete(key)).toBe(true);
        });
        const completer = makeWriter(fx, { injector });
        open.push(completer);
        const result = await completer.store.completeUpload(created.uploadId, parts);
        expect(injector.stats.injected.delay).toBe(1);
        expect(result).toMatchObject({ created: true, size: body.byteLength });
        // Its retry answers the same, from the session's stored result.
        expect(await w.store.completeUpload(created.uploadId, parts)).toEqual(result);
        return body;
      },
    ],
    [
      'a large overwrite overtaken, at its commit, by a small put and a delete (stream mode: neither is logged)',
      'stream',
      async (fx) => {
        const key = 'race/small';
        const { other } = await writerHolding(fx, open, key, OLD);
        const injector = atCommit(fx, async () => {
          await other.store.put(key, SMALL);
          expect(await other.store.delete(key)).toBe(true);
        });
        const w = makeWriter(fx, { injector });
        open.push(w);
        expect(await w.store.put(key, MINE)).toMatchObject({ created: true });
        expect(injector.stats.injected.delay).toBe(1);
        return MINE;
      },
    ],
    [
      'a large overwrite of an expired object whose item TTL removes right before its commit: it commits as a create',
      'log',
      async (fx) => {
        const key = 'race/expired';
        // Its clock ten minutes behind: the object it puts has expired a minute ago by the wall clock.
        const other = makeWriter(fx, { store: { clock: () => Date.now() - 10 * 60_000 } });
        open.push(other);
        await other.store.put(key, OLD, { timeToLiveMs: 9 * 60_000 });
        // TTL removes the expired item (DynamoDB Local runs no TTL: deleted as TTL deletes it).
        const injector = atCommit(fx, async () => {
          await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.objectsTable, Key: { key: { S: key } } }));
        });
        const w = makeWriter(fx, { injector });
        open.push(w);
        expect(await w.store.put(key, MINE)).toMatchObject({ created: true });
        expect(injector.stats.injected.delay).toBe(1);
        return MINE;
      },
    ],
    ...(['log', 'stream'] as const).map((mode): [string, ReplacedBlobCleanup, Race] => [
      `\`audit --delete\` runs while a large overwrite is held at its commit (${mode} mode): its blob is in flight, the old one referenced; nothing deleted`,
      mode,
      async (fx) => {
        const key = `race/audit-${mode}`;
        await writerHolding(fx, open, key, OLD);
        let seen: AuditReport | undefined;
        const injector = atCommit(fx, async () => void (seen = await auditDeleting(fx)));
        const w = makeWriter(fx, { injector });
        open.push(w);
        expect(await w.store.put(key, MINE)).toMatchObject({ created: false });
        expect(injector.stats.injected.delay).toBe(1);
        expect(seen).toMatchObject({ referenced: 1, orphans: [], deleted: 0, undecided: [] });
        expect(seen?.deleteRefused).toBeUndefined();
        expect(seen?.inFlight).toHaveLength(1);
        // Once it has committed, the audit finds nothing to delete: the writer deleted the blob it replaced.
        expect(await auditDeleting(fx)).toMatchObject({ referenced: 1, inFlight: [], orphans: [], deleted: 0 });
        return MINE;
      },
    ]),
    [
      "the sweeper, held at its delete of a dead writer's judged blobs, while `audit --delete` runs and writers overwrite the key",
      'log',
      async (fx) => {
        const key = 'race/audit-sweep';
        await deadWriterPut(fx, open, key, steps(fx.config).deleteBlob, { old: OLD });
        const b = makeWriter(fx);
        const c = makeWriter(fx);
        open.push(b, c);
        expect(await sweepAt(fx, PAST_EVERYTHING_MS), 'the first sighting fences').toMatchObject({
          instancesClaimed: 1,
          entriesDeferred: 1,
        });
        let seen: AuditReport | undefined;
        const injector = sweepRacedBy(fx, b, key, 0, async () => {
          // The claimed instance's entry still names both blobs it judged: in flight, not deleted.
          seen = await auditDeleting(fx);
          await c.store.put(key, MINE);
        });
        const judged = await sweepAt(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS, injector);
        expect(injector.stats.injected.delay, 'every actor went at its point').toBe(2);
        expect(judged).toMatchObject({ entriesRecovered: 1, errors: 0 });
        expect(seen).toMatchObject({ referenced: 1, orphans: [], deleted: 0, undecided: [] });
        expect(seen?.deleteRefused).toBeUndefined();
        expect(seen?.inFlight).toHaveLength(1);
        return MINE;
      },
    ],
    [
      "an upload session's complete held after its assembly while the sweeper takes the expired session and `audit --delete` runs: fenced, its blob deleted, the old value stays",
      'log',
      async (fx) => {
        const key = 'race/audit-session';
        await writerHolding(fx, open, key, OLD);
        const w = makeWriter(fx);
        open.push(w);
        const created = await w.store.createUpload(key, { expiresInMs: 60_000 });
        const parts = await uploadParts(w.store, created.uploadId, randomBody(64 * KiB), 64 * KiB);
        let seen: AuditReport | undefined;
        const injector = atCommit(fx, async () => {
          expect(await sweepAt(fx, PAST_EVERYTHING_MS), 'the sweeper claims the expired session').toMatchObject({ instancesClaimed: 1 });
          seen = await auditDeleting(fx);
        });
        const completer = makeWriter(fx, { injector });
        open.push(completer);
        const result = await outcome(completer.store.completeUpload(created.uploadId, parts));
        expect(injector.stats.injected.delay).toBe(1);
        expect(result.ok ? result.value : result.error).toBeInstanceOf(UploadSessionClosedError);
        // The assembled blob, named by the claimed session only: in flight, kept.
        expect(seen).toMatchObject({ referenced: 1, orphans: [], deleted: 0, undecided: [] });
        expect(seen?.deleteRefused).toBeUndefined();
        expect(seen?.inFlight).toHaveLength(1);
        return OLD;
      },
    ],
  ];

  test.each(cases)('%s', async (_name, mode, race) => {
    const fx = await freshFixture({ replacedBlobCleanup: mode });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    open.push(reader);
    const expected = await race(fx, reader);
    const before = await rawState(fx);
    expect(before.lost, 'no HV item references a missing blob, right after the race').toEqual([]);
    const objectKey = String(before.objects[0]?.key);
    expect(before.objects.length).toBe(1);
    expect(sameBytes(await rawValue(fx, objectKey), expected), 'the last acknowledged write').toBe(true);

    await deliverTwice(fx, reader);
    // Past every lease and upload window, and past a completed session's kept answer.
    for (const offset of [PAST_EVERYTHING_MS, 2 * DAY, 2 * DAY + PAST_WINDOW_MS]) expect((await sweepAt(fx, offset)).errors).toBe(0);
    await deliverTwice(fx, reader);
    const after = await expectClean(fx, expect);
    expect(
      after.instances.filter((i) => String(i.pk).startsWith('upload-')),
      'the session is retired',
    ).toEqual([]);
    expect(sameBytes(await rawValue(fx, objectKey), expected), 'the last acknowledged write, after the cleanup').toBe(true);
  });
});
