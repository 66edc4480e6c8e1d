/**
 * Every way out of a logged write ends with its entry settled, or left to the sweeper with the
 * writer no longer keeping its instance alive for it. Table: write path × protocol step × error
 * class, each error injected (lib/faults/fault-injector.ts) into the writer's real SDK clients at
 * that step, against the local servers. Error classes: the refusals the emulators never give
 * (access denied, expired credentials, a missing table or bucket, a validation error), a request
 * that never gets an answer (not applied), one applied whose answer is lost, and one applied
 * whose answer is lost with the SDK's retry refused (access denied: no refusal on the only attempt);
 * plus an item that does not parse met on a lost CAS.
 *
 * Checked from outside after the call (which may throw, or succeed when only cleanup failed):
 *  - either no entry is left and no blob leaked, or entries are left AND the writer keeps none of
 *    them alive: its log holds nothing, and when its lease is due for renewal (its clock moved
 *    on, a renewal tick ran, it wrote again) the instance items holding them keep their lease;
 *  - a sweep past the lease then settles everything: no loss, no leak, the log drains;
 *  - the value is the old one unless the commit may have landed (the new one if acknowledged).
 *
 * The table runs again with `replacedBlobCleanup: 'stream'` (the paths of STREAM_WRITE_PATHS),
 * the objects table's stream delivered to the stream function's cleanup before the checks: no
 * entry ever names a replaced blob, and what a failed delete left is the stream's.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CorruptItemError } from '../../lib/errors.js';
import { FaultInjector, type FaultRule, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import { StreamReader } from '../support/stream.js';
import {
  KiB,
  deliverStream,
  expectClean,
  makeWriter,
  writersClosedAfterEach,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  steps,
  sweepPastEverything,
  type Writer,
} from './harness.js';
import { STREAM_WRITE_PATHS, type WritePath, newLarge, newSmall, oldLarge, writePaths } from './write-paths.js';

const LARGE = 40 * KiB;

const paths = writePaths('create', 'overwrite', 'small-over-large', 'delete');
const streamPaths = STREAM_WRITE_PATHS.filter((p) => paths.some((q) => q.name === p.name));

/** How each class of error is injected at the matched request (every attempt of it, unless it says otherwise). */
const errorClasses: Record<string, (match: (r: RequestInfo) => boolean) => FaultRule | FaultRule[]> = {
  'access denied': (match) => ({
    kind: 'fail',
    match,
    error: (r) => (r.service === 's3' ? awsServiceError('AccessDenied', 403) : awsServiceError('AccessDeniedException', 400)),
  }),
  'expired credentials': (match) => ({
    kind: 'fail',
    match,
    error: (r) => awsServiceError(r.service === 's3' ? 'ExpiredToken' : 'ExpiredTokenException', 400),
  }),
  'missing table or bucket': (match) => ({
    kind: 'fail',
    match,
    error: (r) => (r.service === 's3' ? awsServiceError('NoSuchBucket', 404) : awsServiceError('ResourceNotFoundException', 400)),
  }),
  validation: (match) => ({
    kind: 'fail',
    match,
    error: (r) => awsServiceError(r.service === 's3' ? 'InvalidArgument' : 'ValidationException', 400),
  }),
  'no answer (not applied)': (match) => ({ kind: 'loseRequest', match }),
  'answer lost (applied)': (match) => ({ kind: 'loseResponse', match }),
  // The SDK's retry of an attempt that may have applied is refused: the refusal says nothing of the
  // first attempt. A commit so refused is no commit that did not land: its new blob must stay.
  'answer lost (applied), the retry refused': (match) => [
    { kind: 'loseResponse', match, times: 1 },
    {
      kind: 'fail',
      match,
      error: (r) => (r.service === 's3' ? awsServiceError('AccessDenied', 403) : awsServiceError('AccessDeniedException', 400)),
    },
  ],
};

function casesOf(table: readonly WritePath[]) {
  return table.flatMap((path) =>
    path.steps.flatMap((step, index) =>
      Object.keys(errorClasses).map(
        (errorClass) => [path.name, `${index + 1}.${step}`, errorClass, { path, step, index, errorClass }] as const,
      ),
    ),
  );
}
const cases = casesOf(paths);
const streamCases = casesOf(streamPaths);

let fx: Fixture;
/** The fixture of the stream-mode block (`replacedBlobCleanup: 'stream'`), with its objects table's stream. */
let streamFx: Fixture;
let reader: StreamReader;
beforeAll(async () => {
  fx = await freshFixture();
  streamFx = await freshFixture({ replacedBlobCleanup: 'stream' });
  reader = await StreamReader.open(streamFx.dynamodb, streamFx.config.objectsTable);
});
const open = writersClosedAfterEach();
afterAll(() => reader?.close());

/** A writer whose change-log clock the test moves (to make its lease due for renewal). */
function writer(injector?: FaultInjector, fixture: Fixture = fx) {
  const clock = { skew: 0 };
  const w = makeWriter(fixture, { ...(injector ? { injector } : {}), log: { clock: () => Date.now() + clock.skew } });
  open.push(w);
  return { w, clock };
}

async function instancesWithEntries(fixture: Fixture): Promise<Map<string, unknown>> {
  const items = await scanAll(fixture.dynamodb, fixture.config.changeLogTable);
  return new Map(items.filter((i) => Object.keys(i).some((k) => k.startsWith('c_'))).map((i) => [String(i.pk), i.leaseUntil]));
}

type RefusedCase = (typeof cases)[number][3];

/**
 * Stores the path's old value under `key` in `fixture`, runs the path in a writer whose requests
 * of the case's step fail with the case's error class, checks that the fault fired and what the
 * object holds (the new value if acknowledged, the old one if it failed before the commit, one of
 * the two otherwise), and returns the writer, its clock and injector, and that value.
 */
async function failAt(c: RefusedCase, key: string, fixture: Fixture) {
  if (c.path.old !== undefined) await writer(undefined, fixture).w.store.put(key, c.path.old);
  const injector = new FaultInjector();
  for (const rule of [errorClasses[c.errorClass]!(steps(fixture.config)[c.step])].flat()) injector.add(rule);
  const { w, clock } = writer(injector, fixture);
  let acknowledged = false;
  try {
    await c.path.op(w.store, key);
    acknowledged = true;
  } catch {
    // the injected error, or what it turned into
  }
  expect(
    Object.values(injector.stats.injected).some((n) => n > 0),
    'the fault fired',
  ).toBe(true);
  const value = await rawValue(fixture, key);
  if (acknowledged) expect(sameBytes(value, c.path.next), 'an acknowledged write holds the new value').toBe(true);
  else if (c.index < c.path.commitAt) expect(sameBytes(value, c.path.old), 'failed before the commit: the old value').toBe(true);
  else expect(sameBytes(value, c.path.old) || sameBytes(value, c.path.next)).toBe(true);
  return { w, clock, injector, value };
}

/** Hands what the stream holds to the stream function's cleanup (stream mode: it deletes what a writer replaced and could not delete). */
async function deliverStreamOfStreamFx(): Promise<void> {
  const { response } = await deliverStream(streamFx, reader);
  expect(response.batchItemFailures).toEqual([]);
}

/**
 * The assertions of the module doc, after `op` returned or threw. In stream mode the stream is
 * delivered first: a replaced blob the writer failed to delete is the stream's, not an entry's.
 */
async function expectSettledOrLeft(w: Writer, clock: { skew: number }, injector: FaultInjector, fixture: Fixture = fx): Promise<void> {
  injector.clear();
  if (fixture === streamFx) await deliverStreamOfStreamFx();
  const state = await rawState(fixture);
  const named = new Set(
    state.instances.flatMap((i) =>
      Object.entries(i)
        .filter(([k]) => k.startsWith('c_'))
        .flatMap(([, e]) => [(e as any).new, (e as any).old]),
    ),
  );
  expect(w.log.outstanding, 'the writer keeps no entry of the failed write').toBe(0);
  if (state.entries === 0) {
    expect(state.unreferenced, 'no entry left: no blob leaked').toEqual([]);
  } else {
    expect(
      state.unreferenced.filter((b) => !named.has(b)),
      'every unreferenced blob is named by an entry left',
    ).toEqual([]);
    // The writer lives on and its lease falls due: the items holding the entries keep their lease.
    const before = await instancesWithEntries(fixture);
    clock.skew = 100_000; // past half of the 120 s lease
    await w.log.renewDueLeases();
    await w.store.put(`after/${Date.now()}`, randomBody(LARGE));
    await w.store.put(`after/${Date.now()}-2`, randomBody(LARGE), { ifVersion: 0 });
    await w.log.renewDueLeases();
    const after = await instancesWithEntries(fixture);
    expect(after, 'the entries left are not kept alive by the writer').toEqual(before);
  }
  const report = await sweepPastEverything(fixture);
  expect(report.errors).toBe(0);
  expect(report.entriesQuarantined).toBe(0);
  if (fixture === streamFx) await deliverStreamOfStreamFx();
  const clean = await expectClean(fixture, expect);
  expect(clean.instances, 'the change log is drained').toEqual([]);
}

describe('a failure at any step of a logged write leaves nothing kept alive', () => {
  test('covers every step of every path with every error class', () => {
    expect(cases.length).toBe(18 * 7);
  });

  test.each(cases)('%s: %s, %s', async (_p, _s, _e, c) => {
    const key = `refused/${c.path.name}/${c.step}/${c.errorClass}`;
    const { w, clock, injector, value } = await failAt(c, key, fx);
    await expectSettledOrLeft(w, clock, injector);
    expect(sameBytes(await rawValue(fx, key), value), 'the sweep changed no value').toBe(true);
  });

  test.each([
    ['delete', (s: TieredStore, k: string) => s.delete(k), undefined],
    ['small-over-large', (s: TieredStore, k: string) => s.put(k, newSmall), newSmall],
  ] as const)(
    '%s whose commit (which records its entry) is fenced: nothing was written, it commits again on a live instance',
    async (name, op, next) => {
      const key = `refused/fenced-record-at-commit/${name}`;
      await writer().w.store.put(key, oldLarge);
      const oldBlob = (await rawState(fx)).references.get(key)!;
      let claimed: string | undefined;
      const injector = new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: steps(fx.config).commit,
        // Right before the first commit, a sweeper claims the instance the commit names.
        before: async (r) => {
          const items = (r.input.TransactItems as Array<{ Update?: { TableName?: string; Key?: Record<string, unknown> } }>) ?? [];
          const element = items.find((i) => i.Update?.TableName === fx.config.changeLogTable)!;
          claimed = String(element.Update!.Key!.pk);
          await fx.dynamodb.send(
            new PutItemCommand({
              TableName: fx.config.changeLogTable,
              Item: {
                pk: { S: claimed },
                state: { S: 'claimed' },
                claimedBy: { S: 'test' },
                leaseUntil: { N: String(Date.now() + 60_000) },
                n: { N: '0' },
                shard: { N: '0' },
              },
            }),
          );
        },
      });
      const { w, clock } = writer(injector);
      await op(w.store, key);
      expect(sameBytes(await rawValue(fx, key), next), 'the write landed on its second commit').toBe(true);
      expect(w.log.instanceIds, 'the writer moved off the claimed instance').not.toContain(claimed);
      const state = await rawState(fx);
      expect(state.blobs).not.toContain(oldBlob);
      expect(state.entries, 'settled: no entry left').toBe(0);
      expect(state.instances.filter((i) => i.pk !== claimed).every((i) => i.state === 'live')).toBe(true);
      // The claimed item (empty: the refused commit wrote nothing into it) is the sweeper's.
      const claimedItem = state.instances.find((i) => i.pk === claimed)!;
      expect(Object.keys(claimedItem).filter((k) => k.startsWith('c_'))).toEqual([]);
      await expectSettledOrLeft(w, clock, injector);
    },
  );

  test('an item that does not parse, met on a lost CAS: CorruptItemError, the new blob and the entry are cleaned', async () => {
    const key = 'refused/corrupt-on-conflict';
    await writer().w.store.put(key, oldLarge);
    const oldBlob = (await rawState(fx)).references.get(key)!;
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: steps(fx.config).commit,
      // Right before the commit, the item is rewritten by something that breaks its schema.
      before: async () => {
        await fx.dynamodb.send(
          new PutItemCommand({
            TableName: fx.config.objectsTable,
            Item: { key: { S: key }, version: { S: 'seven' }, blob: { S: oldBlob } },
          }),
        );
      },
    });
    const { w, clock } = writer(injector);
    await expect(w.store.put(key, newLarge)).rejects.toBeInstanceOf(CorruptItemError);
    const state = await rawState(fx);
    expect(state.entries).toBe(0);
    expect(state.unreferenced).toEqual([]);
    await expectSettledOrLeft(w, clock, injector);
    expect(sameBytes(await rawValue(fx, key), oldLarge)).toBe(true);
  });
});

describe("the same, when the stream cleans replaced blobs (replacedBlobCleanup: 'stream')", () => {
  test('covers every step of every path with every error class', () => {
    expect(streamCases.length).toBe(15 * 7);
  });

  test.each(streamCases)('%s: %s, %s', async (_p, _s, _e, c) => {
    const key = `refused-stream/${c.path.name}/${c.step}/${c.errorClass}`;
    const { w, clock, injector, value } = await failAt(c, key, streamFx);
    expect((await rawState(streamFx)).olds, 'no entry names a replaced blob').toEqual([]);

    await expectSettledOrLeft(w, clock, injector, streamFx);
    expect(sameBytes(await rawValue(streamFx, key), value), 'the cleanup changed no value').toBe(true);
  });
});
