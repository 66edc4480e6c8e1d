/**
 * Faults around the commit, against the real local servers:
 *  - the fenced-commit race: a sweeper claims a writer's instance while its upload is in flight;
 *  - ambiguous commits: the transaction lands and its answer is lost (once, or on every retry,
 *    or together with the read that would decide it), or it never lands and we cannot tell;
 *  - lost answers on record, remove and DeleteObject (SDK retries must be idempotent).
 * After each, invariants are checked from outside, before and after a sweep.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { CommitOutcomeUnknownError, InstanceClaimedError } from '../../lib/errors.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  KiB,
  PAST_WINDOW_MS,
  deferred,
  expectClean,
  expectFencedOnly,
  isFirstVersionBetween,
  makeSweeper,
  makeWriter,
  randomBody,
  rawInstance,
  rawState,
  rawValue,
  recordedSweep,
  sameBytes,
  steps,
  sweepPastEverything,
  type Writer,
} from './harness.js';

const LARGE = 48 * KiB;
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

function writer(fx: Fixture, injector?: FaultInjector): Writer {
  const w = makeWriter(fx, injector ? { injector } : {});
  open.push(w);
  return w;
}

async function outcome(p: Promise<unknown>): Promise<{ ok: true } | { ok: false; error: unknown }> {
  try {
    await p;
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

describe('fenced-commit race: the instance is claimed while the upload is in flight', () => {
  async function setup(extraRules: (s: ReturnType<typeof steps>) => Array<Parameters<FaultInjector['add']>[0]> = () => []) {
    const fx = await freshFixture();
    const key = 'race/object';
    const old = randomBody(LARGE);
    await writer(fx).store.put(key, old);
    const uploading = deferred();
    const released = deferred();
    const s = steps(fx.config);
    // The upload is held until the test has swept; then it goes on (and its commit is fenced).
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: s.upload,
      before: async () => {
        uploading.resolve();
        await released.promise;
      },
    });
    for (const rule of extraRules(s)) injector.add(rule);
    const w = writer(fx, injector);
    const next = randomBody(LARGE);
    const put = outcome(w.store.put(key, next));
    await uploading.promise;
    const [entry] = (await rawState(fx)).instances.filter((i) => i.pk === w.log.instanceId);
    expect(entry, 'the entry is durable before the upload starts').toBeDefined();
    return { fx, key, old, next, w, put, injector, instanceId: w.log.instanceId, release: () => released.resolve() };
  }

  test('sweeper past the upload window settles the entry; the commit is fenced; nothing leaks', async () => {
    const { fx, key, old, next, w, put, instanceId, release } = await setup();
    // The first pass finds the blob missing and defers to the window's end after its first
    // sighting; the second, past it, settles.
    const report = await sweepPastEverything(fx);
    expect(report).toMatchObject({ instancesClaimed: 2, entriesRecovered: 1, instancesDrained: 1, errors: 0 });
    // The sweep finished while the upload was still held.
    expect((await rawState(fx)).blobs).toHaveLength(1);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();

    release();
    const result = await put;
    expect(result.ok).toBe(false);
    expect((result as { error: unknown }).error).toBeInstanceOf(InstanceClaimedError);
    expect(sameBytes(await rawValue(fx, key), old)).toBe(true);
    expect(sameBytes((await w.store.get(key))?.body, old)).toBe(true);
    // The writer deleted its fenced blob itself: clean without another sweep.
    await expectClean(fx, expect);
    expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 0, blobsDeleted: 0 });
    await expectClean(fx, expect);

    // The writer goes on under a new identity.
    expect(w.log.instanceId).not.toBe(instanceId);
    await w.store.put(key, next);
    expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
    await expectClean(fx, expect);
  });

  test('sweeper inside the upload window defers the entry; the commit is fenced; a later sweep drains it', async () => {
    const { fx, key, old, put, instanceId, release } = await setup();
    const early = makeSweeper(fx, 10 * 60_000); // past lease (2 min) + skew, inside the 20 min window
    open.push(early);
    const report = await early.sweeper.sweep();
    expect(report).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0, errors: 0 });
    const claimed = await rawInstance(fx, instanceId);
    expect(claimed).toMatchObject({ state: 'claimed', claimedBy: early.sweeper.sweeperId });
    // Deferred to the end of the upload window, which runs from the sweeper's first sighting.
    expect(claimed!.leaseUntil).toBe((claimed!.firstSeen as number) + 20 * 60_000);

    release();
    const result = await put;
    expect((result as { error: unknown }).error).toBeInstanceOf(InstanceClaimedError);
    expect(sameBytes(await rawValue(fx, key), old)).toBe(true);
    const mid = await rawState(fx);
    expect(mid.lost).toEqual([]);
    expect(mid.unreferenced).toEqual([]); // the writer deleted its blob
    expect(mid.entries).toBe(1); // the entry is the sweeper's now

    const final = await sweepPastEverything(fx);
    expect(final).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, errors: 0 });
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), old)).toBe(true);
  });

  test('late upload: the writer dies after being fenced, its blob lands after the sweep looked; the next pass deletes it', async () => {
    const { fx, key, old, put, injector, instanceId, release } = await setup((s) => [
      { kind: 'crashBefore', match: s.deleteBlob, times: 1 },
    ]);
    const early = makeSweeper(fx, 10 * 60_000);
    open.push(early);
    expect(await early.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
    release();
    await put; // upload lands, commit fenced, in-process delete of the blob crashes
    expect(injector.crashedAt?.command).toBe('DeleteObjectCommand');
    const mid = await rawState(fx);
    expect(mid.unreferenced, 'the late blob exists, unreferenced').toHaveLength(1);
    const late = mid.unreferenced[0]!;

    // Still inside the claim's window: nothing is taken.
    const between = makeSweeper(fx, 15 * 60_000);
    open.push(between);
    expect(await between.sweeper.sweep()).toMatchObject({ instancesClaimed: 0, entriesRecovered: 0, blobsDeleted: 0 });
    expect((await rawState(fx)).blobs).toContain(late);

    const final = await sweepPastEverything(fx);
    expect(final).toMatchObject({ instancesClaimed: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    const after = await expectClean(fx, expect);
    expect(after.blobs).not.toContain(late);
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(sameBytes(await rawValue(fx, key), old)).toBe(true);
  });
});

describe('ambiguous commit', () => {
  const LARGE_OLD = randomBody(LARGE);
  const LARGE_NEW = randomBody(LARGE + 3);
  const SMALL_NEW = randomBody(100);
  const scenarios: Array<[string, Uint8Array | undefined, Uint8Array | undefined, (s: TieredStore, k: string) => Promise<unknown>]> = [
    ['create', undefined, LARGE_NEW, (s, k) => s.put(k, LARGE_NEW)],
    ['overwrite', LARGE_OLD, LARGE_NEW, (s, k) => s.put(k, LARGE_NEW)],
    ['delete', LARGE_OLD, undefined, (s, k) => s.delete(k)],
    ['small-over-large', LARGE_OLD, SMALL_NEW, (s, k) => s.put(k, SMALL_NEW)],
  ];

  type Mode = 'lose one answer' | 'lose every answer' | 'lose every answer and the deciding read' | 'never lands, unknown';
  const modes: Mode[] = ['lose one answer', 'lose every answer', 'lose every answer and the deciding read', 'never lands, unknown'];
  const cases = scenarios.flatMap((s) => modes.map((m) => [s[0], m, s] as const));

  test.each(cases)('%s: %s', async (_name, mode, [, old, next, op]) => {
    const fx = await freshFixture();
    const key = 'ambiguous/object';
    if (old !== undefined) await writer(fx).store.put(key, old);
    const s = steps(fx.config);
    const injector = new FaultInjector();
    switch (mode) {
      case 'lose one answer':
        injector.add({ kind: 'loseResponse', match: s.commit, times: 1 });
        break;
      case 'lose every answer':
        injector.add({ kind: 'loseResponse', match: s.commit });
        break;
      case 'lose every answer and the deciding read': {
        // Every answer of the commit is lost, and so is every HV read after it (the read that
        // would decide the outcome); reads before the commit go through.
        let committing = false;
        injector.add({ kind: 'loseResponse', match: (r: RequestInfo) => s.commit(r) && (committing = true) });
        injector.add({ kind: 'loseResponse', match: (r: RequestInfo) => committing && s.hvRead(r) });
        break;
      }
      case 'never lands, unknown':
        injector.add({ kind: 'loseRequest', match: s.commit });
        break;
    }
    const w = writer(fx, injector);
    const result = await outcome(op(w.store, key));
    const landed = mode !== 'never lands, unknown';
    const expected = landed ? next : old;

    if (result.ok) {
      expect(landed, 'success is reported only for a commit that landed').toBe(true);
      // A reported success finished its cleanup in-process: clean without a sweep.
      await expectClean(fx, expect);
    } else {
      expect(result.error).toBeInstanceOf(CommitOutcomeUnknownError);
    }
    if (mode === 'lose one answer' || mode === 'lose every answer') expect(result.ok).toBe(true);
    if (mode === 'lose every answer and the deciding read') {
      // The outcome cannot be decided: unknown, never "failed" with cleanup of the live blob.
      expect(result.ok).toBe(false);
      expect(injector.stats.injected.loseResponse).toBeGreaterThan(1);
    }
    const before = await rawState(fx);
    expect(before.lost, 'no loss before the sweep').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected)).toBe(true);

    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected)).toBe(true);
  });
});

describe('lost answers on record, remove and DeleteObject', () => {
  const steps_ = ['record', 'remove', 'deleteBlob', 'hvRead', 'upload'] as const;
  test.each(steps_)('overwrite with the answer of %s lost once: success, exact counters, clean', async (step) => {
    const fx = await freshFixture();
    const key = 'lost/object';
    await writer(fx).store.put(key, randomBody(LARGE));
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: steps(fx.config)[step], times: 1 });
    const w = writer(fx, injector);
    const next = randomBody(LARGE);
    await w.store.put(key, next);
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
    const state = await expectClean(fx, expect);
    // The retried record/remove was applied once: the entry counter is back at 0.
    const mine = state.instances.find((i) => i.pk === w.log.instanceId);
    expect(mine).toMatchObject({ state: 'live', n: 0 });
    // ... so the idle instance retires in one request.
    const report = await sweepPastEverything(fx);
    expect(report.instancesRetired).toBe(2);
    expect((await expectClean(fx, expect)).instances).toEqual([]);
  });

  test('throttling once on every command of an overwrite and a delete: both succeed, clean', async () => {
    const fx = await freshFixture();
    const key = 'lost/throttled';
    await writer(fx).store.put(key, randomBody(LARGE));
    const seen = new Set<string>();
    const injector = new FaultInjector().add({
      kind: 'throttle',
      match: (r: RequestInfo) => {
        const id = `${r.command}:${String(r.input.TableName ?? '')}:${String(r.input.UpdateExpression ?? '')}`;
        if (seen.has(id)) return false;
        seen.add(id);
        return true;
      },
    });
    const w = writer(fx, injector);
    const next = randomBody(LARGE);
    await w.store.put(key, next);
    expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
    expect(await w.store.delete(key)).toBe(true);
    expect(injector.stats.injected.throttle).toBeGreaterThanOrEqual(6);
    expect(await rawValue(fx, key)).toBeUndefined();
    await expectClean(fx, expect);
  }, 60_000);
});

describe('fenced commit on the paths that replace a blob without uploading (delete, small-over-large)', () => {
  // These paths record nothing before their commit: the commit's transaction writes the entry.
  // A sweeper that retires (or claims) the writer's instance while the commit is held fences
  // that commit; nothing of the change was written, so it commits again on a fresh instance.
  const small = randomBody(100);
  const cases: Array<[string, (s: TieredStore, k: string) => Promise<unknown>, Uint8Array | undefined]> = [
    ['delete', (s, k) => s.delete(k), undefined],
    ['small-over-large', (s, k) => s.put(k, small), small],
  ];
  test.each(cases)(
    '%s: commit held while a sweeper retires its instance; fenced, committed again on a live one, nothing leaks',
    async (_n, op, next) => {
      const fx = await freshFixture();
      const key = 'fenced/replace';
      const old = randomBody(LARGE);
      await writer(fx).store.put(key, old);
      const oldBlob = (await rawState(fx)).references.get(key)!;
      const committing = deferred();
      const released = deferred();
      let held = false;
      const injector = new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r: RequestInfo) => held && steps(fx.config).commit(r),
        before: async () => {
          committing.resolve();
          await released.promise;
        },
      });
      const w = writer(fx, injector);
      // The writer's instance item exists (an earlier write), empty once that write settled.
      await w.store.put('fenced/other', randomBody(LARGE));
      const instance = w.log.instanceId;
      held = true;
      const result = outcome(op(w.store, key));
      await committing.promise;
      const report = await sweepPastEverything(fx);
      expect(report).toMatchObject({ instancesClaimed: 0, entriesRecovered: 0, blobsDeleted: 0, errors: 0 });
      expect(report.instancesRetired).toBeGreaterThanOrEqual(1);
      released.resolve();
      const r = await result;
      expect((r as { error?: unknown }).error).toBeUndefined();
      expect(w.log.instanceIds).not.toContain(instance);
      expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
      expect((await rawState(fx)).blobs).not.toContain(oldBlob);
      await expectClean(fx, expect);
      await sweepPastEverything(fx);
      await expectClean(fx, expect);
    },
  );
});

describe('lost answers on single-request writes of small objects', () => {
  test('small put: the retried write is recognised, the version moves by one', async () => {
    const fx = await freshFixture();
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: steps(fx.config).hvInline, times: 1 });
    const w = writer(fx, injector);
    const before = Date.now();
    const r = await w.store.put('lost/small', randomBody(100));
    expect(injector.stats.injected.loseResponse).toBe(1);
    const item = (await rawState(fx)).objects.find((i) => i.key === 'lost/small');
    expect(item?.version).toBe(r.version);
    expect(isFirstVersionBetween(r.version, before, Date.now()), `${r.version} is a first version`).toBe(true);
    // An overwrite too: the version moves by exactly one.
    injector.add({ kind: 'loseResponse', match: steps(fx.config).hvInline, times: 1 });
    const body = randomBody(100);
    expect((await w.store.put('lost/small', body)).version).toBe(r.version + 1);
    expect((await rawState(fx)).objects.find((i) => i.key === 'lost/small')?.version).toBe(r.version + 1);
    expect(sameBytes(await rawValue(fx, 'lost/small'), body)).toBe(true);
    expect(injector.stats.injected.loseResponse).toBe(2);
  });

  // The retry finds the deletion marker its first attempt wrote (it carries the delete's id).
  test('small delete: the retried delete is recognised: deleted, true', async () => {
    const fx = await freshFixture();
    await writer(fx).store.put('lost/small', randomBody(100));
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: steps(fx.config).hvDelete, times: 1 });
    const w = writer(fx, injector);
    const deleted = await w.store.delete('lost/small');
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(await rawValue(fx, 'lost/small')).toBeUndefined();
    expect(deleted).toBe(true);
    expect(await w.store.delete('lost/small')).toBe(false);
  });
});

describe('an entry left to the sweeper by a writer that lives on', () => {
  test('after an unknown commit the writer stops renewing that instance: a sweeper settles it while the writer keeps writing', async () => {
    const fx = await freshFixture();
    const s = steps(fx.config);
    const injector = new FaultInjector().add({ kind: 'loseRequest', match: s.commit });
    let now = Date.now();
    const w = makeWriter(fx, { injector, log: { clock: () => now } });
    open.push(w);
    const first = await outcome(w.store.put('lives-on/a', randomBody(LARGE)));
    expect(first.ok).toBe(false);
    if (!first.ok) expect(first.error).toBeInstanceOf(CommitOutcomeUnknownError);
    const leftBehind = await rawState(fx);
    expect(leftBehind.entries).toBe(1);
    injector.clear();

    // The writer lives on: past half its lease it writes again. Were the abandoned instance
    // still its home, this write would renew it and keep the orphan alive with the process.
    now += 70_000;
    await w.store.put('lives-on/b', randomBody(LARGE));
    await w.store.put('lives-on/a', randomBody(LARGE));

    // A sweeper 160 s on: past the abandoned instance's lease (120 s) and skew margin (30 s),
    // which the writes above did not renew. Its first sighting fences it and defers the entry.
    const fence = await recordedSweep(fx, 160_000);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 1 }, expect);
    const fenced = await rawState(fx);
    expect(fenced.lost).toEqual([]);
    expect(fenced.entries).toBe(1);
    expect(fenced.unreferenced).toHaveLength(1); // the first put's blob, until the window closes

    // Past the upload window that sighting opened: recovered, while the writer's own instance
    // (its lease ended too, its entries settled) is retired.
    const judge = await recordedSweep(fx, 160_000 + PAST_WINDOW_MS);
    expect(judge.report).toMatchObject({ instancesClaimed: 1, instancesRetired: 1, entriesRecovered: 1, blobsDeleted: 1, errors: 0 });
    const after = await rawState(fx);
    expect(after.lost).toEqual([]);
    expect(after.unreferenced).toEqual([]);
    expect(after.entries).toBe(0);
    expect(await sweepPastEverything(fx)).toMatchObject({ entriesRecovered: 0, errors: 0 });
    await expectClean(fx, expect);
  });
});

describe('a write whose client fails before sending anything (credentials that cannot be loaded)', () => {
  // The SDK resolves credentials before its retry loop: nothing went out, so the write did not
  // land. Such an error has no status; it was read as "no answer" and answered as an unknown outcome.
  test('small put, small delete and large delete answer the error, not CommitOutcomeUnknownError; nothing is left', async () => {
    const fx = await freshFixture();
    const small = randomBody(100);
    const large = randomBody(LARGE);
    const setup = writer(fx);
    await setup.store.put('creds/small', small);
    await setup.store.put('creds/large', large);
    const dynamodb = new DynamoDBClient({
      endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB || process.env.AWS_ENDPOINT_URL,
      region: process.env.AWS_REGION || 'us-east-1',
      credentials: async () => {
        throw Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
      },
    });
    const log = new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false });
    open.push({ close: () => (log.close(), dynamodb.destroy()) });
    const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb, s3: setup.s3 });
    for (const write of [() => store.put('creds/small', 'other'), () => store.delete('creds/small'), () => store.delete('creds/large')]) {
      const result = await outcome(write());
      expect(result.ok).toBe(false);
      const error = (result as { error: unknown }).error;
      expect(error).not.toBeInstanceOf(CommitOutcomeUnknownError);
      expect((error as Error).name).toBe('CredentialsProviderError');
    }
    expect(sameBytes(await rawValue(fx, 'creds/small'), small)).toBe(true);
    expect(sameBytes(await rawValue(fx, 'creds/large'), large)).toBe(true);
    await expectClean(fx, expect);
  });

  test('an error after an attempt was answered (the write landed) is never taken for one nothing was sent for: the commit is decided by a read', async () => {
    // A middleware outside the SDK's retry loop that fails once the answer came (an output the
    // document client cannot unmarshal, say): the commit landed. Taken for "never sent", it was
    // a refusal: the put's cleanup deleted the blob the object now points at, and a read of it failed.
    const fx = await freshFixture();
    const w = writer(fx);
    const body = randomBody(LARGE);
    let thrown = 0;
    (w.dynamodb.middlewareStack as unknown as { add(m: unknown, o: { step: 'initialize'; name: string }): void }).add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const out = await next(args);
        if (context.commandName === 'TransactWriteItemsCommand' && thrown === 0) {
          thrown++;
          throw new Error('failed after the answer came');
        }
        return out;
      },
      { step: 'initialize', name: 'failAfterAnswer' },
    );
    const result = await outcome(w.store.put('landed/after-answer', body));
    expect(thrown).toBe(1);
    expect(result.ok, 'the commit landed: a read shows it').toBe(true);
    expect(sameBytes((await w.store.get('landed/after-answer'))?.body, body)).toBe(true);
    await expectClean(fx, expect);
  });
});
