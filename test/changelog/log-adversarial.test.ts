/**
 * The change log's own machinery under attack: a renewal tick, an SDK retry or a refusal landing
 * at the one moment its bookkeeping (slots, their items, their leases) can be wrong. Real DynamoDB
 * Local (and S3 for the store's row); faults are the injector's, aimed at one request; what is
 * stored is read raw, with a client of its own.
 *
 * Defects found here:
 *  - a renewal tick that ran while a new slot's first record was in flight found no item, took the
 *    slot for retired and fenced it: once the record landed, its entries were live but the log
 *    neither renewed the item (a write longer than the lease was claimed after its upload) nor
 *    removed them (left to the sweeper). A tick now renews only items written once;
 *  - one renewal that did not answer (a client with no timeout, a dropped connection) held a flag
 *    that made every later tick return at once: no lease of the process was renewed until it
 *    answered, and every write longer than a lease was claimed meanwhile. The guard is per slot;
 *  - a record whose first attempt landed (its answer lost) and whose SDK retry came after a sweeper
 *    claimed the instance found its entry there and answered success, taking the claim's expiry
 *    for its lease: the writer uploaded on it and, dying then, left a blob the sweeper had already
 *    judged and dropped the entry of (a leak only the audit finds). It is `InstanceClaimedError`;
 *  - a record called again after an unknown outcome, once another write had found its instance
 *    claimed, was recorded in a new instance and resolved: its `new` was named by a live entry and
 *    by the claimed one the sweeper judges. It is `InstanceClaimedError`;
 *  - `mayUpload` answered true for a change whose instance the log knew claimed, until the lease it
 *    had last written plus the window ran out: uploads for a commit that could only be fenced;
 *  - a commit whose first attempt got no answer and whose SDK retry was refused for a claim made
 *    meanwhile ended "outcome unknown" without telling the log of the claim: the instance's other
 *    changes went on uploading on the writer's lease, not cut at once as for a claim the log knows;
 *    so did one whose first attempt landed unanswered and whose retry, judged afresh, showed it
 *    landed and the claim made since (committed);
 *  - a commit whose change-log element the log threw building (nothing sent) was classified as
 *    "outcome unknown" and its change left to the sweeper;
 *  - a remove that found its instance item gone (claimed, judged, deleted) took it for "already
 *    removed" and the log went on writing to, and uploading for, the deleted instance;
 *  - a record into an item in no state of the protocol (corrupt) was sent six times, then threw
 *    "did not converge", and so was every later record of the slot. It takes a new identity;
 *  - a record into an item whose count `n` is no number (corrupt) was refused with DynamoDB's bare
 *    ValidationException, and so was every later record of the process while the slot lasted (a
 *    lease or more). It takes a new identity; a remove there is a `CorruptItemError`;
 *  - a record whose lost answer was followed by a refusal of its retry (access denied, an expired
 *    token) was taken for "nothing landed": the log forgot the change, so `remove` sent nothing and
 *    the entry stayed in a live item the process kept using. Only a refusal of the only attempt is;
 *  - the first write after the process sat idle past its lease (a Lambda environment thawed for a
 *    later invocation) went to its empty item, which a sweeper retires once the lease ends: refused
 *    for the item gone, it was sent again to a new one (a round trip more; for a change recorded at
 *    its commit, a whole commit more). A slot empty past its lease is dropped at the next write;
 *  - a clock with fractions of a ms (which the clock check takes, and the store floors for its
 *    versions) wrote leases with fractions: every item of that writer was a malformed header to
 *    `scan` (which threw), `tierlog status`, `inspect` and the audits (a corrupt item reported on
 *    every run). Leases are whole ms;
 *  - two lease writes of one slot in flight at once (two records, a renewal tick beside them), the
 *    one with the shorter lease landing last (an SDK retry): the log took the longer for its lease,
 *    renewed nothing until that one was half over, and the item's lease ended first: a sweeper could
 *    claim the live writer mid-upload (its commit fenced, the upload lost) and judge it before an
 *    upload the log still allowed had landed. The log now believes the shortest lease of writes
 *    that overlap;
 *  - a `cleanupAfter` before 1970 was recorded, but its stored form (`ca`, non-negative) reads back
 *    as malformed: quarantined forever, and a retried record of it refused as a conflict with
 *    itself. It is refused at record, by every log (test/changelog/contract.test.ts);
 *  - a renewal tick renewed only a lease already past half, every quarter lease: right before the
 *    tick that renewed, a quarter was left, so a stall of a quarter lease plus the skew margin had
 *    a live process claimed (the README says half). A tick renews a lease past half by the next.
 *    So did a record into an item idle meanwhile (the timer stopped, or the slot empty): it renewed
 *    only below half, and the first tick came a period later. Both renew a lease past half by the next tick.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoChangeLog, type DynamoChangeLogOptions } from '../../lib/changelog/dynamo-change-log.js';
import { parseInstanceItem } from '../../lib/changelog/instance-item.js';
import { InstanceTable } from '../../lib/changelog/instance-table.js';
import { CommitOutcomeUnknownError, CorruptItemError, InstanceClaimedError, InvocationEndedError } from '../../lib/errors.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { addInsideRetryLoop } from '../../lib/aws/retry-loop.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { newChangeId } from '../../lib/ids.js';
import { MIN_MAX_UPLOAD_MS } from '../../lib/constants.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  closedAfterEach,
  expectClean,
  KiB,
  sweepOnceAt,
  makeWriter,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  deferred,
  randomBody,
  sameBytes,
  rawValue,
  sweepPastEverything,
  waitFor,
  writerHolding,
} from '../tiered/harness.js';
import { blobOf, type ManualClock, manualClock, newClient, type Probe, probe, RawReader } from './helpers.js';

const LEASE = 120_000;

let fx: Fixture;
let raw: RawReader;
let sweeper: InstanceTable;
let objects: DynamoDBDocumentClient;
const clients: DynamoDBClient[] = [];
const logs: DynamoChangeLog[] = [];
const open = closedAfterEach<{ close(): void }>();

beforeAll(async () => {
  fx = await freshFixture({ replacedBlobCleanup: 'log' });
  raw = new RawReader(fx.config.changeLogTable);
  const sweeperClient = newClient();
  clients.push(sweeperClient);
  sweeper = new InstanceTable(fx.config, sweeperClient);
  objects = DynamoDBDocumentClient.from(sweeperClient);
});

afterEach(() => {
  for (const log of logs.splice(0)) log.close();
});

afterAll(() => {
  for (const client of clients) client.destroy();
  raw?.close();
  fx?.dynamodb.destroy();
  fx?.s3.destroy();
});

/** A log on a client of its own with an injector attached, and a manual clock. */
function writer(options: Partial<DynamoChangeLogOptions> = {}): {
  log: DynamoChangeLog;
  clock: ManualClock;
  injector: FaultInjector;
  probe: Probe;
  client: DynamoDBClient;
} {
  const clock = manualClock(Date.now());
  const injector = new FaultInjector();
  const client = injector.attach(newClient(), 'dynamodb');
  clients.push(client);
  const p = probe(client);
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, clock: clock.clock, renewInBackground: false, ...options });
  logs.push(log);
  return { log, clock, injector, probe: p, client };
}

/** Claims `instanceId` as a sweeper whose clock is far ahead of every lease. */
function claimNow(instanceId: string) {
  const now = Date.now() + PAST_EVERYTHING_MS;
  return sweeper.claim(instanceId, { cutoff: now, claimant: 'sweeper-1', until: now + 300_000, now });
}

const denied = () => Object.assign(new Error('injected: denied'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });

describe('slots and the renewal tick', () => {
  test("a tick while a new slot's first record is in flight leaves the slot live: its item is renewed and its entry removed", async () => {
    const { log, clock, injector } = writer({ entriesPerInstance: 1 });
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    // The second record opens a second slot; the timer's tick runs while its first write is on its way.
    injector.add({ kind: 'delay', delayMs: 0, times: 1, match: atStep('record', fx.config), before: () => log.renewDueLeases() });
    const b = newChangeId();
    const first = log.instanceId;
    await log.record(b, { id: 'b', new: blobOf('b') });
    expect(injector.stats.injected.delay, 'the tick ran during the record').toBe(1);
    const slots = log.instanceIds;
    expect(slots, 'two slots, neither taken for claimed').toHaveLength(2);
    expect(slots[0]).toBe(first);
    const opened = slots[1]!;
    expect(RawReader.entryIds(await raw.get(opened)), 'the slot the log writes to is the item that holds the entry').toEqual([b]);

    // Past half the lease, the tick renews both items.
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect((await raw.get(opened))!.leaseUntil, 'the new slot is renewed').toBe(clock.now + LEASE);
    expect((await raw.get(first))!.leaseUntil).toBe(clock.now + LEASE);

    // Its entry is removed by the writer, not left to the sweeper.
    await log.remove(b);
    expect(await raw.get(opened)).toMatchObject({ state: 'live', n: 0 });
    expect(RawReader.entryIds(await raw.get(opened))).toEqual([]);
    expect(log.outstanding).toBe(1);
  });

  test('a renewal that does not answer holds back only its own slot: the next tick renews the others', async () => {
    const { log, clock, injector, probe: p } = writer({ entriesPerInstance: 1 });
    const [a, b] = [newChangeId(), newChangeId()];
    await log.record(a, { id: 'a', new: blobOf('a') });
    await log.record(b, { id: 'b', new: blobOf('b') });
    const [stuck, other] = log.instanceIds as [string, string];
    // The renewal of `stuck` is held (a request whose answer does not come: a client with no
    // timeout, a dropped connection), while the tick renews `other`.
    const held = deferred();
    const keyOf = (request: { input: Record<string, unknown> }) => (request.input.Key as { pk?: { S?: string } } | undefined)?.pk?.S;
    injector.add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (request) => atStep('renew', fx.config)(request) && keyOf(request) === stuck,
      before: () => held.promise,
    });
    clock.advance(LEASE / 2 + 1);
    p.clear();
    const first = log.renewDueLeases();
    await waitFor(() => injector.stats.injected.delay === 1, 10_000, 'the held renewal');
    // The other slot's renewal answered (the probe sees the answer, inside the SDK's retry loop).
    const answered = () => p.of('UpdateItem').some((a) => a.input.Key?.pk?.S === other && a.error === undefined);
    await waitFor(answered, 10_000, 'the first tick renewing the other slot');
    expect((await raw.get(other))!.leaseUntil).toBe(clock.now + LEASE);
    // Half a lease later, the other slot is due again: the next tick renews it.
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect((await raw.get(other))!.leaseUntil, 'renewed by the next tick').toBe(clock.now + LEASE);
    // Nor does a tick send the held slot's renewal again: each would be one more request left hanging.
    expect(p.of('UpdateItem').filter((attempt) => attempt.input.Key?.pk?.S === stuck)).toEqual([]);
    held.resolve();
    await first;
  });

  test('a tick still fences a slot whose item a sweeper claimed, and one whose item is gone', async () => {
    const { log, clock } = writer({ entriesPerInstance: 1 });
    const [a, b] = [newChangeId(), newChangeId()];
    await log.record(a, { id: 'a', new: blobOf('a') });
    await log.record(b, { id: 'b', new: blobOf('b') });
    const [claimed, drained] = log.instanceIds as [string, string];
    expect(await claimNow(claimed)).toBeDefined();
    expect(await claimNow(drained)).toBeDefined();
    expect(await sweeper.settle(drained, { claimant: 'sweeper-1', drop: [b], leaseUntil: Date.now() })).toBe(true);
    expect(await sweeper.deleteClaimed(drained, 'sweeper-1')).toBe(true);
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect(log.instanceIds).not.toContain(claimed);
    expect(log.instanceIds).not.toContain(drained);
    expect(await raw.get(drained), 'never re-created').toBeUndefined();
    expect(await raw.get(claimed)).toMatchObject({ state: 'claimed', claimedBy: 'sweeper-1' });
  });
});

describe('lease writes of one slot that overlap', () => {
  test('a renewal landing after a later one (an SDK retry) leaves the shorter lease: the log believes that one and renews before it ends', async () => {
    const { log, clock, injector } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instance = log.instanceId;
    // Past half the lease: the next record renews.
    clock.advance(LEASE / 2 + 1_000);
    const [x, y] = [newChangeId(), newChangeId()];
    const entryOf = (request: { input: Record<string, unknown> }) =>
      (request.input.ExpressionAttributeNames as Record<string, string> | undefined)?.['#c'];
    injector.add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (request) => atStep('record', fx.config)(request) && entryOf(request) === `c_${x}`,
      // x's attempt goes out 70 s late (its first attempt lost, the SDK's retry sent then); meanwhile
      // y records on the same slot and renews to a lease 70 s longer, which lands first.
      before: async () => {
        clock.advance(70_000);
        await log.record(y, { id: 'y', new: blobOf('y') });
      },
    });
    const xLease = clock.now + LEASE;
    await log.record(x, { id: 'x', new: blobOf('x') });
    expect(injector.stats.injected.delay, 'y recorded while x was on its way').toBe(1);
    expect(log.instanceId, 'one slot').toBe(instance);
    expect((await raw.get(instance))!.leaseUntil, "the item holds x's lease, the shorter").toBe(xLease);

    // A second before that lease ends, the renewal tick must renew it: a sweeper may claim from then on.
    clock.now = xLease - 1_000;
    await log.renewDueLeases();
    expect((await raw.get(instance))!.leaseUntil, 'renewed before it ended').toBe(clock.now + LEASE);
    const cutoff = xLease + 1;
    const claimed = await sweeper.claim(instance, { cutoff, claimant: 'sweeper-1', until: cutoff + 300_000, now: cutoff });
    expect(claimed, 'no sweeper claims the live writer').toBeUndefined();
    for (const id of [a, x, y]) await log.remove(id);
  });

  test('only writes that overlap bound the belief: one answered before another began does not hold its lease down', async () => {
    const { log, clock, injector } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const entryOf = (request: { input: Record<string, unknown> }) =>
      (request.input.ExpressionAttributeNames as Record<string, string> | undefined)?.['#c'];
    const held = (id: string) => {
      const gate = deferred();
      injector.add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (request) => atStep('record', fx.config)(request) && entryOf(request) === `c_${id}`,
        before: () => gate.promise,
      });
      return gate;
    };
    // Each record renews to a later invocation deadline (plus the margin): leases 1 < 2 < 3.
    const [x1, x2, x3] = [newChangeId(), newChangeId(), newChangeId()];
    const record = async (id: string, deadlineAhead: number, fired: number) => {
      log.setInvocationDeadline(clock.now + deadlineAhead);
      const done = log.record(id, { id, new: blobOf(id) });
      await waitFor(() => injector.stats.injected.delay === fired, 10_000, `record ${fired} on its way`);
      return { done };
    };
    // x1 and x2 overlap; x1 is answered, then x3 starts (x2 still on its way); x2, then x3 answered.
    const [gate1, gate2, gate3] = [held(x1), held(x2), held(x3)];
    const first = await record(x1, 100_000, 1);
    const second = await record(x2, 200_000, 2);
    gate1.resolve();
    await first.done;
    const third = await record(x3, 300_000, 3);
    gate2.resolve();
    await second.done;
    gate3.resolve();
    await third.done;
    const instance = log.instanceId;
    const stored = (await raw.get(instance))!.leaseUntil as number;
    // x1 was answered before x3 began: it cannot land after x3, so the item holds x3's lease or x2's
    // (x2 was answered while x3 was on its way), never x1's. Uploads go on past x1's lease plus the window.
    expect(stored).toBe(clock.now + 300_000 + 30_000);
    const x1Lease = clock.now + 100_000 + 30_000;
    clock.now = x1Lease + MIN_MAX_UPLOAD_MS - 60_000 + 1_000;
    expect(log.mayUpload(x3), "x1's lease does not bound x3's uploads").toBe(true);
    log.setInvocationDeadline(undefined);
    for (const id of [a, x1, x2, x3]) await log.remove(id);
  });

  /**
   * An answer says nothing of when its write landed: y, carrying the longer lease, is answered last,
   * while x, carrying the shorter, landed after it or may still. Each row leaves the item with x's
   * lease; believing y's, the log would let an upload start past the item's lease plus the window,
   * when a sweeper may have claimed the instance and judged the entry (a blob nothing names).
   */
  const answeredLast: Array<[string, 'request held' | 'answer held' | 'retry refused']> = [
    ["x's request is still on its way when y is answered", 'request held'],
    ['y landed first, its answer held until x landed and was answered', 'answer held'],
    ["y's first attempt landed, its answer lost; its SDK retry, refused, reads y's lease while x is on its way", 'retry refused'],
  ];
  test.each(answeredLast)('%s: the log believes the shorter lease', async (_title, order) => {
    const { log, clock, injector, client } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instance = log.instanceId;
    const start = clock.now;
    const entryOf = (input: Record<string, unknown>) => (input.ExpressionAttributeNames as Record<string, string> | undefined)?.['#c'];
    const isRecordOf = (id: string) => (request: { input: Record<string, unknown> }) =>
      atStep('record', fx.config)(request as never) && entryOf(request.input) === `c_${id}`;
    const [x, y] = [newChangeId(), newChangeId()];
    // Each record renews to its invocation's deadline plus the 30 s margin: x's lease is the shorter.
    const xLease = start + 100_000 + 30_000;
    const yLease = start + 300_000 + 30_000;
    const xGate = deferred();
    injector.add({ kind: 'delay', delayMs: 0, times: 1, match: isRecordOf(x), before: () => xGate.promise });
    const recordX = () => {
      log.setInvocationDeadline(start + 100_000);
      return log.record(x, { id: 'x', new: blobOf('x') });
    };
    const recordY = () => {
      log.setInvocationDeadline(start + 300_000);
      return log.record(y, { id: 'y', new: blobOf('y') });
    };
    let xDone: Promise<void> | undefined;
    if (order === 'request held') {
      xDone = recordX();
      await waitFor(() => injector.stats.injected.delay === 1, 10_000, "x's record held");
      await recordY();
    } else if (order === 'answer held') {
      const yAnswer = deferred();
      client.middlewareStack.add(
        (next) => async (args) => {
          const out = await next(args);
          if (entryOf(args.input as Record<string, unknown>) === `c_${y}`) await yAnswer.promise;
          return out;
        },
        { step: 'initialize', name: 'holdAnswerOfY' },
      );
      const yDone = recordY();
      await waitFor(async () => (await raw.get(instance))?.[`c_${y}`] !== undefined, 10_000, 'y landed');
      xGate.resolve();
      await recordX();
      expect((await raw.get(instance))!.leaseUntil, 'x landed after y').toBe(xLease);
      yAnswer.resolve();
      await yDone;
    } else {
      injector.add({ kind: 'loseResponse', times: 1, match: isRecordOf(y) });
      injector.add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: isRecordOf(y),
        // The retry goes out once x's record is on its way (held).
        before: async () => {
          xDone = recordX();
          await waitFor(() => injector.stats.injected.delay === 1, 10_000, "x's record held");
        },
      });
      await recordY();
      expect(injector.stats.injected.loseResponse, "y's first attempt landed, its answer lost").toBe(1);
    }
    // Past x's lease plus the window (less the send margin), before y's: no upload may start.
    const pastX = xLease + MIN_MAX_UPLOAD_MS - 60_000 + 1_000;
    expect(pastX).toBeLessThan(yLease + MIN_MAX_UPLOAD_MS - 60_000);
    clock.now = pastX;
    expect(log.mayUpload(y), 'an upload of y past the lease the item may be left with').toBe(false);
    clock.now = start;
    xGate.resolve();
    await xDone;
    expect((await raw.get(instance))!.leaseUntil, "the item ends with x's lease").toBe(xLease);
    clock.now = pastX;
    expect(log.mayUpload(y)).toBe(false);
    clock.now = start;
    log.setInvocationDeadline(undefined);
    for (const id of [a, x, y]) await log.remove(id);
  });
});

describe('a writer idle past its lease (its item empty, retirable)', () => {
  const SKEW = 30_000;
  type Idle = { readonly bind?: (log: DynamoChangeLog, now: number) => void };
  const writers: Array<[string, Idle]> = [
    ['a long-running process', {}],
    // The lease reaches the invocation's deadline plus the margin; the next invocation comes later.
    ['a Lambda environment thawed for a later invocation', { bind: (log, now) => log.setInvocationDeadline(now + 10_000) }],
  ];

  /** A writer whose one item held an entry, removed, and whose lease then ended; the item retired by a sweep when `retire`. */
  async function idleWriter(idle: Idle, retire: boolean) {
    const w = writer();
    idle.bind?.(w.log, w.clock.now);
    const a = newChangeId();
    await w.log.record(a, { id: 'a', new: blobOf('a') });
    await w.log.remove(a);
    const old = w.log.instanceId;
    const lease = (await raw.get(old))!.leaseUntil as number;
    w.clock.now = lease + SKEW + 60_000;
    if (retire) expect(await sweeper.retire(old, w.clock.now - SKEW)).toBe(true);
    idle.bind?.(w.log, w.clock.now);
    w.probe.clear();
    return { ...w, old };
  }

  test.each(writers)(
    '%s: the next record opens a new item in one request (not one refused for the retired item, then another)',
    async (_name, idle) => {
      const { log, probe: p, old } = await idleWriter(idle, true);
      const b = newChangeId();
      await log.record(b, { id: 'b', new: blobOf('b') });
      expect(p.of('UpdateItem').length, 'one request').toBe(1);
      expect(log.instanceId).not.toBe(old);
      expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([b]);
      expect(await raw.get(old), 'never re-created').toBeUndefined();
    },
  );

  test.each(writers)(
    '%s: a change that records at its commit (a large delete) lands on a new item, not fenced by the retired one',
    async (_name, idle) => {
      const { log, old } = await idleWriter(idle, true);
      const c = newChangeId();
      const effect = { kind: 'record', change: { id: 'c', old: blobOf('c') } } as const;
      const element = log.fence(c, effect);
      await expect(objects.send(new TransactWriteCommand({ TransactItems: [element] })), 'the commit lands').resolves.toBeDefined();
      log.committed(c, effect);
      expect(log.instanceId).not.toBe(old);
      expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([c]);
    },
  );

  test.each(writers)('%s: the idle item not retired yet is left to the sweeper, which retires it', async (_name, idle) => {
    const { log, clock, old } = await idleWriter(idle, false);
    await log.record(newChangeId(), { id: 'b', new: blobOf('b') });
    expect(log.instanceId).not.toBe(old);
    expect(await raw.get(old)).toMatchObject({ state: 'live', n: 0 });
    expect(await sweeper.retire(old, clock.now - SKEW)).toBe(true);
  });
});

describe('leases as stored', () => {
  // A clock of ms with a fraction (`performance.timeOrigin + performance.now()`) passes the clock
  // check, and the store floors it for versions; a lease is a header field the reader takes only
  // as an integer.
  test('a clock with fractions of a ms writes whole-ms leases: the item parses, scan reads it, on record, renewal and commit', async () => {
    const { log, clock } = writer({ entriesPerInstance: 1 });
    clock.now += 0.25;
    const [a, b] = [newChangeId(), newChangeId()];
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instance = log.instanceId;
    const item = await raw.get(instance);
    expect(Number.isInteger(item!.leaseUntil), `leaseUntil ${item!.leaseUntil}`).toBe(true);
    expect(() => parseInstanceItem(item!)).not.toThrow();
    expect((await log.scan()).map(([id]) => id)).toEqual([a]);
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect(Number.isInteger((await raw.get(instance))!.leaseUntil)).toBe(true);
    // A commit that records its own entry, on a new slot (entriesPerInstance: 1): its lease too.
    const element = log.fence(b, { kind: 'record', change: { id: 'b', old: blobOf('b') } });
    expect(Number.isInteger(element.Update.ExpressionAttributeValues[':lease'])).toBe(true);
    log.withdraw(b);
  });

  test('the lease a landed recording commit wrote is believed: the next record does not write it again', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    clock.advance(LEASE / 2 + 1_000);
    const b = newChangeId();
    const effect = { kind: 'record', change: { id: 'b', old: blobOf('b') } } as const;
    const element = log.fence(b, effect);
    const commitLease = element.Update.ExpressionAttributeValues[':lease'] as number;
    expect(commitLease, 'the commit renews').toBe(clock.now + LEASE);
    await objects.send(new TransactWriteCommand({ TransactItems: [element] }));
    log.committed(b, effect);
    clock.advance(1_000);
    const c = newChangeId();
    await log.record(c, { id: 'c', new: blobOf('c') });
    // A lease write costs the record twice (the lease index's entry is rewritten too).
    expect((await raw.get(log.instanceId))!.leaseUntil, "the commit's lease, not written again").toBe(commitLease);
    for (const id of [a, b, c]) await log.remove(id);
  });

  // A recording commit that lost its race is sent again (commit.ts), each attempt with its own
  // element: the lease the first would have written must not stay counted as in flight. It would
  // hold every later belief of the slot below it: each write renewing, and past it plus the window,
  // no upload of the slot allowed again.
  test('a recording commit sent again, then given up, leaves no lease of its in flight: later writes believe their own', async () => {
    const { log, clock } = writer();
    const start = clock.now;
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    clock.advance(LEASE / 2 + 1_000);
    const b = newChangeId();
    const change = { id: 'b', old: blobOf('b') };
    const first = log.fence(b, { kind: 'record', change });
    const staleLease = first.Update.ExpressionAttributeValues[':lease'] as number;
    expect(staleLease, 'the commit renews').toBe(clock.now + LEASE);
    log.fence(b, { kind: 'record', change });
    log.withdraw(b);
    clock.now = start + LEASE - 10_000;
    const c = newChangeId();
    await log.record(c, { id: 'c', new: blobOf('c') });
    const cLease = (await raw.get(log.instanceId))!.leaseUntil as number;
    expect(cLease, 'the record renewed').toBe(clock.now + LEASE);
    clock.now = staleLease + MIN_MAX_UPLOAD_MS - 60_000 + 1_000;
    expect(clock.now).toBeLessThan(cLease + MIN_MAX_UPLOAD_MS - 60_000);
    expect(log.mayUpload(c)).toBe(true);
    clock.now = start + LEASE;
    for (const id of [a, c]) await log.remove(id);
  });

  test('a lease length with a fraction of a ms (leaseMs 90_000.5) writes whole-ms leases: the item parses, scan reads it', async () => {
    const { log } = writer({ leaseMs: 90_000.5 });
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const item = await raw.get(log.instanceId);
    expect(Number.isInteger(item!.leaseUntil), `leaseUntil ${item!.leaseUntil}`).toBe(true);
    expect(() => parseInstanceItem(item!)).not.toThrow();
    expect((await log.scan()).map(([id]) => id)).toEqual([a]);
    await log.remove(a);
  });
});

describe('scan after an abandon', () => {
  // An abandoned entry stays in its item, and the log stops feeding that item (a new slot takes
  // the next records) while it renews it for its other changes: those are outstanding still.
  test('returns the other changes of the abandoned slot, and the abandoned one, until they are removed', async () => {
    const { log } = writer();
    const [kept, left, later] = [newChangeId(), newChangeId(), newChangeId()];
    await log.record(kept, { id: 'kept', new: blobOf('kept') });
    await log.record(left, { id: 'left', new: blobOf('left') });
    const first = log.instanceId;
    log.abandon(left);
    await log.record(later, { id: 'later', new: blobOf('later') });
    expect(log.instanceId).not.toBe(first);
    expect((await log.scan()).map(([id]) => id).sort()).toEqual([kept, left, later].sort());
    await log.remove(kept);
    expect((await log.scan()).map(([id]) => id).sort()).toEqual([left, later].sort());
  });

  // A sweeper's claim reaches the writer only with its next write to that item: until then the
  // log still takes the slot for its own, but the claimed item's entries are the sweeper's to settle.
  test("leaves out a claimed instance's entries, before the log has learnt of the claim", async () => {
    const { log } = writer();
    const mine = newChangeId();
    await log.record(mine, { id: 'mine', new: blobOf('mine') });
    const instance = log.instanceId;
    expect((await log.scan()).map(([id]) => id)).toEqual([mine]);
    expect(await claimNow(instance)).toBeDefined();
    expect(log.instanceId, 'the log has not learnt of the claim').toBe(instance);
    expect(await log.scan()).toEqual([]);
  });
});

describe('a record retried by the SDK after its first attempt landed', () => {
  test('the instance claimed before the retry: InstanceClaimedError, a new identity, the entry left to the sweeper', async () => {
    const { log, injector } = writer();
    await log.record(newChangeId(), { id: 'first', new: blobOf('first') });
    const instance = log.instanceId;
    const record = atStep('record', fx.config);
    injector
      .add({ kind: 'loseResponse', times: 1, match: record })
      .add({ kind: 'delay', delayMs: 0, times: 1, match: record, before: async () => void expect(await claimNow(instance)).toBeDefined() });
    const id = newChangeId();
    await expect(log.record(id, { id: 'k', new: blobOf('k') })).rejects.toBeInstanceOf(InstanceClaimedError);
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, delay: 1 });
    expect(log.instanceId, 'a new identity').not.toBe(instance);
    expect(RawReader.entryIds(await raw.get(instance))).toContain(id);
    expect(await raw.get(instance)).toMatchObject({ state: 'claimed', claimedBy: 'sweeper-1' });
    // The entry is the sweeper's: removing it sends nothing, and the next record goes elsewhere.
    await log.remove(id);
    expect(RawReader.entryIds(await raw.get(instance))).toContain(id);
    const next = newChangeId();
    await log.record(next, { id: 'next', new: blobOf('next') });
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([next]);
  });

  /**
   * The retry's refusal (its entry there) was judged by comparing the stored entry with the
   * caller's `change` object as it was after the await: a caller that reused or edited that object
   * meanwhile got `ChangeIdConflictError` for a record that had landed as asked.
   */
  test("the caller's change object edited while the record is in flight: the landed record is its own, not a conflict", async () => {
    const { log, injector } = writer();
    injector.add({ kind: 'loseResponse', times: 1, match: atStep('record', fx.config) });
    const id = newChangeId();
    const change: { id: string; new: string } = { id: 'edited', new: blobOf('edited') };
    const recorded = log.record(id, change);
    change.new = blobOf('edited-after');
    await expect(recorded).resolves.toBeUndefined();
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([id]);
    expect(log.outstanding).toBe(1);
  });

  test('a refusal of the retry (access denied) after a lost answer keeps the change outstanding: remove cleans what landed', async () => {
    const { log, injector } = writer();
    const record = atStep('record', fx.config);
    injector.add({ kind: 'loseResponse', times: 1, match: record }).add({ kind: 'fail', times: 1, match: record, error: denied });
    const id = newChangeId();
    await expect(log.record(id, { id: 'maybe', new: blobOf('maybe') })).rejects.toThrow();
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, fail: 1 });
    expect(RawReader.entryIds(await raw.get(log.instanceId)), 'the first attempt landed').toEqual([id]);
    expect(log.outstanding, 'the log still knows it').toBe(1);
    await log.remove(id);
    expect(await raw.get(log.instanceId)).toMatchObject({ n: 0 });
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([]);
  });

  test('a record called again after an unknown outcome and refused outright keeps the change outstanding: remove cleans what landed', async () => {
    const { log, injector } = writer();
    const record = atStep('record', fx.config);
    const id = newChangeId();
    // No attempt of the first call is answered (the first one landed, the SDK's retries are never
    // sent): its outcome is unknown.
    injector.add({ kind: 'loseResponse', times: 1, match: record }).add({ kind: 'loseRequest', times: 2, match: record });
    await expect(log.record(id, { id: 'again', new: blobOf('again') })).rejects.toThrow();
    expect(RawReader.entryIds(await raw.get(log.instanceId)), 'the first attempt landed').toEqual([id]);
    injector.add({ kind: 'fail', times: 1, match: record, error: denied });
    await expect(log.record(id, { id: 'again', new: blobOf('again') })).rejects.toThrow();
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, loseRequest: 2, fail: 1 });
    // The call refused outright sent nothing, but the earlier one's entry may be there: not forgotten.
    expect(log.outstanding, 'the log still knows it').toBe(1);
    await log.remove(id);
    expect(await raw.get(log.instanceId)).toMatchObject({ n: 0 });
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([]);
  });

  test('a record called again after an unknown outcome, once another write found the instance claimed: InstanceClaimedError, not recorded elsewhere', async () => {
    const { log, injector } = writer();
    await log.record(newChangeId(), { id: 'first', new: blobOf('first') });
    const instance = log.instanceId;
    const record = atStep('record', fx.config);
    const id = newChangeId();
    const change = { id: 'twice', new: blobOf('twice') };
    // Its first attempt lands, no answer of the call comes back: its outcome is unknown.
    injector.add({ kind: 'loseResponse', times: 1, match: record }).add({ kind: 'loseRequest', times: 2, match: record });
    await expect(log.record(id, change)).rejects.toThrow();
    expect(RawReader.entryIds(await raw.get(instance)), 'the first attempt landed').toContain(id);
    // A sweeper claims the instance; another change's record finds it claimed and moves on.
    expect(await claimNow(instance)).toBeDefined();
    await log.record(newChangeId(), { id: 'other', new: blobOf('other') });
    expect(log.instanceId).not.toBe(instance);
    // Called again, the record must not name the same blob from a live item beside the claimed one.
    await expect(log.record(id, change)).rejects.toBeInstanceOf(InstanceClaimedError);
    expect(RawReader.entryIds(await raw.get(log.instanceId)), 'not recorded again elsewhere').not.toContain(id);
    // Its entry is the sweeper's: remove sends nothing and forgets it (two others are outstanding).
    await log.remove(id);
    expect(log.outstanding).toBe(2);
    expect(RawReader.entryIds(await raw.get(instance))).toContain(id);
  });

  test('a refusal of the only attempt: nothing landed, nothing outstanding', async () => {
    const { log, injector } = writer();
    injector.add({ kind: 'fail', times: 1, match: atStep('record', fx.config), error: denied });
    await expect(log.record(newChangeId(), { id: 'no', new: blobOf('no') })).rejects.toThrow();
    expect(log.outstanding).toBe(0);
  });
});

describe('an upload of a change whose instance the log knows claimed', () => {
  test('mayUpload is false once another write found the instance claimed, whatever lease the log last wrote', async () => {
    const { log } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instance = log.instanceId;
    expect(log.mayUpload(a)).toBe(true);
    // A sweeper claims it (as suspect, say: a lease it took for a clock ahead); the next record finds the claim.
    expect(await claimNow(instance)).toBeDefined();
    const b = newChangeId();
    await log.record(b, { id: 'b', new: blobOf('b') });
    expect(log.instanceId).not.toBe(instance);
    // `a`'s entry is the sweeper's: its commit can only be fenced, and the sweeper judges the
    // entry one window after its claim, not after the lease this writer wrote.
    expect(log.mayUpload(a), 'no upload for an entry the sweeper holds').toBe(false);
    expect(log.mayUpload(b)).toBe(true);
  });

  test('a commit refused by a claim made after an attempt that got no answer (outcome unknown) tells the log: the other changes of its instance upload nothing more', async () => {
    const injector = new FaultInjector();
    const w = makeWriter(fx, { injector });
    open.push(w);
    // Another change of the same instance, recorded and uploading (its upload checks the log).
    const other = newChangeId();
    await w.log.record(other, { id: 'adversarial/unknown-claimed-other', new: blobOf('adversarial/unknown-claimed-other') });
    const instance = w.log.instanceId;
    // The commit's first attempt gets no answer (it may have landed); a sweeper claims the instance
    // before the SDK's retry, which its change-log half refuses for the claim.
    injector.add({
      kind: 'loseRequest',
      times: 1,
      match: atStep('commit', fx.config),
      before: async () => void expect(await claimNow(instance)).toBeDefined(),
    });
    await expect(w.store.put('adversarial/unknown-claimed', randomBody(40 * KiB))).rejects.toBeInstanceOf(CommitOutcomeUnknownError);
    expect(injector.stats.injected.loseRequest).toBe(1);
    expect(w.log.instanceIds, 'the claimed instance takes no new entry').not.toContain(instance);
    // The refusal showed the claim: the other change's entry is the sweeper's, which judges it one
    // window after its claim (a suspect claim: long before this writer's lease plus that window).
    expect(w.log.mayUpload(other), 'no attempt sent for an entry the sweeper holds').toBe(false);
    expect(w.log.uploadTimeLeft(other), 'an attempt in flight is cut now').toBeLessThanOrEqual(0);
  });

  test('a commit whose first attempt landed unanswered and whose retry, judged afresh, found the instance claimed tells the log: the other changes of its instance upload nothing more', async () => {
    const injector = new FaultInjector();
    const w = makeWriter(fx, { injector });
    open.push(w);
    const other = newChangeId();
    await w.log.record(other, { id: 'adversarial/committed-claimed-other', new: blobOf('adversarial/committed-claimed-other') });
    const instance = w.log.instanceId;
    // The first attempt lands, its answer lost; the SDK's retry goes out past its token's 10
    // minutes (judged afresh), after a sweeper claimed the instance: refused at HV (the item holds
    // this change already) and at the change log (claimed). The commit landed.
    injector.add({ kind: 'loseResponse', times: 1, match: atStep('commit', fx.config) });
    injector.add({
      kind: 'expireToken',
      times: 1,
      match: atStep('commit', fx.config),
      before: async () => void expect(await claimNow(instance)).toBeDefined(),
    });
    await w.store.put('adversarial/committed-claimed', randomBody(40 * KiB));
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, expireToken: 1 });
    expect(w.log.instanceIds, 'the claimed instance takes no new entry').not.toContain(instance);
    expect(w.log.mayUpload(other), 'no attempt sent for an entry the sweeper holds').toBe(false);
    expect(w.log.uploadTimeLeft(other), 'an attempt in flight is cut now').toBeLessThanOrEqual(0);
  });
});

describe('a commit whose change-log element the log refuses to build', () => {
  test('nothing was sent: the refusal itself, not "outcome unknown"; the blob deleted and the entry removed', async () => {
    const w = makeWriter(fx);
    open.push(w);
    const refusal = new Error('injected: the log refuses the element');
    vi.spyOn(w.log, 'fence').mockImplementation(() => {
      throw refusal;
    });
    const key = 'adversarial/fence-throws';
    await expect(w.store.put(key, randomBody(40 * KiB))).rejects.toBe(refusal);
    expect(await w.store.get(key), 'nothing committed').toBeUndefined();
    // Settled by its writer, not left to a sweeper: the entry is gone and the log holds nothing.
    expect(await w.log.scan()).toEqual([]);
  });
});

describe('a remove that finds its instance drained and deleted', () => {
  test('the log takes the instance for claimed: a new identity, and no upload for the changes it held', async () => {
    const { log, probe: p } = writer();
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    await log.record(b, { id: 'b', new: blobOf('b') });
    const instance = log.instanceId;
    // A sweeper claims the instance, judges both entries and deletes the item.
    const now = Date.now() + PAST_EVERYTHING_MS;
    expect(await claimNow(instance)).toBeDefined();
    expect(await sweeper.settle(instance, { claimant: 'sweeper-1', drop: [a, b], leaseUntil: now + 300_000 })).toBe(true);
    expect(await sweeper.deleteClaimed(instance, 'sweeper-1')).toBe(true);
    await log.remove(a);
    expect(log.instanceId, 'never written again: a new identity').not.toBe(instance);
    expect(log.mayUpload(b), "b's entry was judged and dropped: nothing may land for it").toBe(false);
    p.clear();
    const c = newChangeId();
    await log.record(c, { id: 'c', new: blobOf('c') });
    expect(p.of('UpdateItem'), 'the next record goes straight to a new item').toHaveLength(1);
    expect(await raw.get(instance)).toBeUndefined();
  });
});

// Corrupt items (an operator's edit, a tool's bug): a state no writer or sweeper writes, or a count
// of another type (DynamoDB refuses every `ADD` to a string).
describe.each([
  ['whose state is neither live nor claimed', { state: 'LIVE' }],
  ['whose count is of another type', { n: '1' }],
])('a record into an item %s', (_what, corrupt) => {
  test('the item is never written again: one refusal, then a new identity', async () => {
    const { log, probe: p } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instance = log.instanceId;
    await raw.put({ ...(await raw.get(instance))!, ...corrupt });
    p.clear();
    const b = newChangeId();
    await log.record(b, { id: 'b', new: blobOf('b') });
    expect(log.instanceId).not.toBe(instance);
    expect(p.of('UpdateItem'), 'one refused, one landed').toHaveLength(2);
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([b]);
    // The next record goes straight to the new item, as every later one.
    p.clear();
    await log.record(newChangeId(), { id: 'c', new: blobOf('c') });
    expect(p.of('UpdateItem')).toHaveLength(1);
    expect(RawReader.entryIds(await raw.get(instance))).toEqual([a]);
  });
});

describe('a remove from an item whose count is of another type', () => {
  test('a remove that meets it throws a CorruptItemError naming the instance, not a bare ValidationException', async () => {
    const { log } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instance = log.instanceId;
    await raw.put({ ...(await raw.get(instance))!, n: '1' });
    const err = await log.remove(a).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptItemError);
    expect((err as CorruptItemError).where).toContain(instance);
  });
});

describe('a store whose record is retried after a claim', () => {
  const OLD = randomBody(40 * KiB);
  const MINE = randomBody(40 * KiB + 1);

  test('the put is fenced before its upload; a writer paused past the judging sweep sends no upload, and nothing leaks', async () => {
    const fresh = await freshFixture({ replacedBlobCleanup: 'log' });
    const key = 'adversarial/record-retry';
    await writerHolding(fresh, open, key, OLD);
    const sweepAt = (offsetMs: number) => sweepOnceAt(fresh, offsetMs);
    // The writer's clock: the pause before its upload passes for it too.
    let slept = 0;
    const injector = new FaultInjector();
    const w = makeWriter(fresh, { injector, log: { clock: () => Date.now() + slept } });
    open.push(w);
    const record = atStep('record', fresh.config);
    const upload = atStep('upload', fresh.config);
    injector
      // The record lands, its answer is lost; before the SDK's retry a sweeper claims the instance.
      .add({ kind: 'loseResponse', times: 1, match: record })
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: record,
        before: async () => void expect(await sweepAt(PAST_EVERYTHING_MS)).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 }),
      })
      // Were the upload to start, the writer sleeps past the judging sweep first, then dies.
      .add({
        kind: 'crashAfter',
        times: 1,
        match: upload,
        before: async () => {
          expect(await sweepAt(PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1 });
          slept = PAST_EVERYTHING_MS + PAST_WINDOW_MS;
        },
      });
    await expect(w.store.put(key, MINE)).rejects.toBeInstanceOf(InstanceClaimedError);
    expect(injector.crashedAt, 'no upload was sent').toBeUndefined();
    expect(w.recorder.commands.filter((c) => c.command === 'PutObject')).toEqual([]);
    w.close();
    expect((await sweepPastEverything(fresh)).errors).toBe(0);
    await expectClean(fresh, expect);
    expect(sameBytes(await rawValue(fresh, key), OLD)).toBe(true);
  });
});

describe("a record refused after its invocation's deadline", () => {
  // Invocation 1 records into its slot; the environment is frozen while the record is on its way,
  // a sweeper claims the slot meanwhile, and the record's attempt is answered (refused: claimed)
  // after the thaw, in invocation 2. Sent again to a new slot, it wrote an entry (and created an
  // item) past the deadline of the invocation it began in, for a write that can no longer commit.
  test('InvocationEndedError; no new item, nothing outstanding', async () => {
    const { log, clock, injector, client } = writer();
    log.setInvocationDeadline(clock.now + 10_000);
    await log.record(newChangeId(), { id: 'held/first', new: blobOf('held/first') });
    const [claimed] = log.instanceIds as [string];
    injector.add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => r.command === 'UpdateItemCommand',
      before: async () => void expect(await claimNow(claimed)).toBeDefined(),
    });
    // The attempt leaves before the deadline; its answer comes after the thaw, in invocation 2.
    let thawed = false;
    addInsideRetryLoop(
      client.middlewareStack,
      'testAnsweredAfterThaw',
      (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
        try {
          return await next(args);
        } finally {
          if (!thawed) {
            thawed = true;
            clock.advance(20 * 60_000);
            log.setInvocationDeadline(clock.now + 10_000);
          }
        }
      },
    );
    const outcome = await log.record(newChangeId(), { id: 'held/second', new: blobOf('held/second') }).catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(InvocationEndedError);
    for (const id of log.instanceIds) expect(await raw.get(id), `no item ${id} written past the deadline`).toBeUndefined();
    expect(log.outstanding).toBe(1);
  });
});

describe("a record's SDK retry after its invocation's deadline", () => {
  // The record's first attempt is throttled (a 400: not applied) or its answer lost; the
  // environment is frozen before the SDK's retry, which goes out after the thaw, past the deadline
  // of the invocation the record began in. Only tierlog's own later attempts were checked: the
  // SDK's retry wrote the entry (and created the item) past the deadline.
  test('a throttled first attempt: the retry is not sent; InvocationEndedError, no item, nothing outstanding', async () => {
    const { log, clock, injector, probe: p } = writer();
    const deadline = clock.now + 10_000;
    log.setInvocationDeadline(deadline);
    injector.add({
      kind: 'throttle',
      times: 1,
      match: (r) => r.command === 'UpdateItemCommand',
      before: async () => void clock.advance(20_000),
    });
    const outcome = await log.record(newChangeId(), { id: 'held/throttled', new: blobOf('held/throttled') }).catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(InvocationEndedError);
    expect((outcome as InvocationEndedError).deadline).toBe(deadline);
    expect(
      p.of('UpdateItem').filter((a) => a.error === undefined),
      'no attempt reached the table',
    ).toEqual([]);
    for (const id of log.instanceIds) expect(await raw.get(id), `no item ${id} written past the deadline`).toBeUndefined();
    expect(log.outstanding).toBe(0);
  });

  test('a first attempt whose answer was lost: the retry is not sent; the outcome is unknown, the change kept for its remove', async () => {
    const { log, clock, injector } = writer();
    log.setInvocationDeadline(clock.now + 10_000);
    const update = (r: { command: string }) => r.command === 'UpdateItemCommand';
    // Applied, its answer lost; the environment is frozen before the SDK's retry leaves.
    injector
      .add({ kind: 'loseResponse', times: 1, match: update })
      .add({ kind: 'delay', delayMs: 0, times: 1, match: update, before: async () => void clock.advance(20_000) });
    const id = newChangeId();
    const outcome = await log.record(id, { id: 'held/lost', new: blobOf('held/lost') }).catch((err: unknown) => err);
    expect(outcome).toBeInstanceOf(InvocationEndedError);
    // The first attempt landed: the change stays outstanding, so that its remove cleans it up.
    const [instance] = log.instanceIds as [string];
    expect(RawReader.entryIds(await raw.get(instance))).toEqual([id]);
    expect(log.outstanding).toBe(1);
    await log.remove(id);
    expect(RawReader.entryIds(await raw.get(instance))).toEqual([]);
    expect(log.outstanding).toBe(0);
  });
});

describe('a long-running writer between its renewal ticks', () => {
  /** Records the period of each timer set (the renewal ticks, driven by the test on its clock), and starts none. */
  function recordTimerPeriods() {
    const periods: number[] = [];
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval').mockImplementation(((_run: () => void, ms?: number) => {
      periods.push(ms ?? 0);
      return { unref() {}, ref() {}, hasRef: () => false, refresh() {} } as unknown as NodeJS.Timeout;
    }) as typeof setInterval);
    return { periods, setIntervalSpy };
  }

  // The README: a long-running process "must stall for more than about half its lease (60 s by
  // default) plus the skew margin to be claimed". A tick renewed only a lease already past half,
  // every quarter lease: the tick after a renewal found 3/4 left, the next one 1/2 (not past half),
  // so right before the third a quarter was left. A stall (a GC pause, a VM paused, a laptop lid)
  // of a quarter lease plus the skew margin had the live writer claimed, its commit fenced.
  test('the lease left never falls below half of it, at any instant between two ticks', async () => {
    const { periods, setIntervalSpy } = recordTimerPeriods();
    try {
      const { log, clock } = writer({ renewInBackground: true });
      const start = clock.now;
      const id = newChangeId();
      await log.record(id, { id: 'long', new: blobOf('long') });
      // The timer the record started: its period is the log's, ticks are driven here on the clock.
      expect(periods).toHaveLength(1);
      const period = periods[0]!;
      for (let tick = 1; tick <= 12; tick++) {
        clock.now = start + tick * period;
        await log.renewDueLeases();
        // Stalled from here until the instant before the next tick: what the lease still holds then.
        const lease = (await raw.get(log.instanceId))!.leaseUntil;
        expect(lease - (start + (tick + 1) * period - 1), `after tick ${tick}`).toBeGreaterThanOrEqual(LEASE / 2);
      }
      await log.remove(id);
    } finally {
      setIntervalSpy.mockRestore();
    }
  });

  test('a record that starts the ticks again (the process idle meanwhile) leaves at least half the lease until the first of them', async () => {
    const { periods, setIntervalSpy } = recordTimerPeriods();
    try {
      const { log, clock } = writer({ renewInBackground: true });
      const first = newChangeId();
      await log.record(first, { id: 'first', new: blobOf('first') });
      await log.remove(first);
      // Idle: the next tick stops the timer. Its item keeps the lease the record wrote.
      await log.renewDueLeases();
      const leaseEnd = (await raw.get(log.instanceId))!.leaseUntil;
      clock.now = leaseEnd - LEASE / 2;
      const next = newChangeId();
      await log.record(next, { id: 'next', new: blobOf('next') });
      expect(periods).toHaveLength(2);
      // Stalled from the record until the instant before the first tick of the timer it started.
      const lease = (await raw.get(log.instanceId))!.leaseUntil;
      expect(lease - (clock.now + periods[1]! - 1)).toBeGreaterThanOrEqual(LEASE / 2);
      await log.remove(next);
    } finally {
      setIntervalSpy.mockRestore();
    }
  });
});
