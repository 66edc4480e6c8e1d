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
 * is a transaction with an idempotency token: its retry answers the first attempt's success.
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { DynamoDBRecord } from 'aws-lambda';
import type { ChangeLog } from '../../lib/changelog/change-log.js';
import type { ReplacedBlobCleanup } from '../../lib/config.js';
import { CommitOutcomeUnknownError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { StreamReader } from '../support/stream.js';
import {
  expectClean,
  KiB,
  makeWriter,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  steps,
  sweepPastEverything,
  type Writer,
} from '../tiered/harness.js';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

const OLD = randomBody(40 * KiB);
const MINE = randomBody(40 * KiB + 1);
const THEIRS = randomBody(40 * KiB + 2);
const SMALL = randomBody(300);

/** A writer's DynamoChangeLog seen as a plain ChangeLog: the store adapts it (no fence); its entries stay sweepable. */
function plainFace(w: Writer): ChangeLog {
  return { record: (id, change) => w.log.record(id, change), remove: (id) => w.log.remove(id), scan: () => w.log.scan() };
}

async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Hands every stream record so far to the stream function's cleanup, then the same records again in reverse order. */
async function deliverTwice(fx: Fixture, reader: StreamReader): Promise<DynamoDBRecord[]> {
  const records = await reader.read();
  const cleanup = new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 });
  for (const batch of [records, [...records].reverse()]) {
    const { response, report } = await cleanup.handle(batch);
    expect(response.batchItemFailures).toEqual([]);
    expect(report.untrusted).toBe(0);
  }
  return records;
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
  ];

  test.each(cases)('%s', async (_name, c) => {
    const fx = await freshFixture({ replacedBlobCleanup: c.mode });
    const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
    open.push(reader);
    const key = 'race/lost-answer';
    const other = makeWriter(fx);
    open.push(other);
    const { version } = await other.store.put(key, OLD);

    const match = steps(fx.config)[c.step];
    const injector = new FaultInjector()
      // The first attempt lands; its answer is lost.
      .add({ kind: 'loseResponse', match, times: 1 })
      // Before the SDK sends it again, the other writer overwrites the key (and deletes what it replaced).
      .add({ kind: 'delay', delayMs: 0, match, times: 1, before: async () => void (await other.store.put(key, THEIRS)) });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const store =
      c.log === 'fenced' ? w.store : new TieredStore({ config: fx.config, changeLog: plainFace(w), dynamodb: w.dynamodb, s3: w.s3 });
    const result = await outcome(c.op(store, key, version));
    expect(injector.stats.injected, 'the answer was lost, and the other writer went between').toMatchObject({ loseResponse: 1, delay: 1 });

    const before = await rawState(fx);
    expect(before.lost, 'no HV item references a missing blob').toEqual([]);
    // The first attempt landed before the other writer's overwrite: the last write is theirs.
    expect(sameBytes(await rawValue(fx, key), THEIRS), "the other writer's value, the last one written").toBe(true);
    if (c.answer === 'ok') expect(result.ok, String((result as { error?: unknown }).error)).toBe(true);
    else expect((result as { error?: unknown }).error, 'told "unknown", never "failed"').toBeInstanceOf(CommitOutcomeUnknownError);

    w.close();
    other.close();
    if (c.mode === 'stream') await deliverTwice(fx, reader);
    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    if (c.mode === 'stream') await deliverTwice(fx, reader);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), THEIRS)).toBe(true);
  });
});
