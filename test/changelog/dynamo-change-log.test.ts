/**
 * DynamoChangeLog against DynamoDB Local: durability seen from a second client, idempotency
 * under lost responses and SDK retries, the claim fence, lease renewal (and what it costs),
 * background renewal, retirement, the fenced commit, slots, and a missing table.
 *
 * Every check of what is stored reads the raw item with a client of its own (consistent read).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoChangeLog, type DynamoChangeLogOptions, shardOf } from '../../lib/changelog/dynamo-change-log.js';
import { type FenceEffect, InstanceTable } from '../../lib/changelog/instance-table.js';
import { parseInstanceItem } from '../../lib/changelog/instance-item.js';
import { CorruptItemError, ResourceMissingError, ValidationError } from '../../lib/errors.js';
import { newChangeId, newInstanceId } from '../../lib/ids.js';
import { MAX_WRITER_LEASE_MS } from '../../lib/constants.js';
import { suspectLeaseHorizon } from '../../lib/recovery/judge.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { blobOf, gsiUnits, type ManualClock, manualClock, newClient, type Probe, probe, RawReader } from './helpers.js';

const LEASE = 120_000;
const SKEW = 30_000;
const CLAIM_MS = 300_000;

let fx: Fixture;
let raw: RawReader;
let sweeper: InstanceTable;
let objects: DynamoDBDocumentClient;
const logs: DynamoChangeLog[] = [];
const clients: DynamoDBClient[] = [];

beforeAll(async () => {
  fx = await freshFixture();
  raw = new RawReader(fx.config.changeLogTable);
  const sweeperClient = newClient();
  clients.push(sweeperClient);
  sweeper = new InstanceTable(fx.config, sweeperClient);
  objects = DynamoDBDocumentClient.from(fx.dynamodb);
});

afterEach(() => {
  for (const log of logs.splice(0)) log.close();
  vi.useRealTimers();
});

afterAll(() => {
  for (const client of clients) client.destroy();
  raw?.close();
  fx?.dynamodb.destroy();
  fx?.s3.destroy();
});

interface Writer {
  log: DynamoChangeLog;
  clock: ManualClock;
  probe: Probe;
  client: DynamoDBClient;
}

/** A writer with a client of its own (probed) and a manual clock. */
function writer(
  options: Partial<DynamoChangeLogOptions> & { maxAttempts?: number; capacity?: boolean; clock?: never } = {},
  clock = manualClock(),
): Writer {
  const { maxAttempts, capacity, ...logOptions } = options;
  const client = newClient(maxAttempts ?? 3);
  clients.push(client);
  const p = probe(client, { capacity: capacity ?? false });
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, clock: clock.clock, renewInBackground: false, ...logOptions });
  logs.push(log);
  return { log, clock, probe: p, client };
}

/** Claims `instanceId` as a sweeper whose clock reads `now`. */
function claimAt(instanceId: string, now: number, claimant = 'sweeper-1') {
  return sweeper.claim(instanceId, { cutoff: now - SKEW, claimant, until: now + CLAIM_MS });
}

const isUpdate = (command: string) => command === 'UpdateItem';

/**
 * The lease of `instance` runs on AWS's clock (`awsNow` there), and a sweeper on that clock, which
 * claims a lease past any a writer takes as suspect, does not claim it.
 */
async function expectNotSuspectOnAwsClock(instance: string, awsNow: number): Promise<void> {
  const horizon = suspectLeaseHorizon(awsNow, { maxLeaseMs: MAX_WRITER_LEASE_MS, skewMarginMs: SKEW });
  expect((await raw.get(instance))!.leaseUntil, "the lease runs on AWS's clock").toBeLessThanOrEqual(awsNow + LEASE + 5_000);
  const suspect = await sweeper.claim(instance, {
    cutoff: awsNow,
    suspectAbove: horizon,
    claimant: 'sweeper-1',
    until: awsNow + CLAIM_MS,
    now: awsNow,
  });
  expect(suspect, "a sweeper on AWS's clock claimed the live writer as suspect").toBeUndefined();
}

/** A writer whose instance `old` holds entries `a` and `b` and was claimed by sweeper-1 once its lease ran out. */
async function claimedWithTwoEntries(): Promise<Writer & { a: string; b: string; old: string }> {
  const w = writer();
  const a = newChangeId();
  const b = newChangeId();
  await w.log.record(a, { id: 'a' });
  await w.log.record(b, { id: 'b' });
  const old = w.log.instanceId;
  w.clock.advance(LEASE + SKEW + 1);
  expect(await claimAt(old, w.clock.now)).toBeDefined();
  return { ...w, a, b, old };
}

/**
 * An objects-table write of `key` in one transaction with the fence of `changeId`: undefined when
 * it commits, else the error.
 */
async function commit(log: DynamoChangeLog, changeId: string, effect: FenceEffect, key: string): Promise<unknown> {
  return objects
    .send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: fx.config.objectsTable, Item: { key, version: 1, blob: blobOf('obj', 1) } } },
          log.fence(changeId, effect),
        ],
      }),
    )
    .then(
      () => undefined,
      (e: unknown) => e,
    );
}

/** The objects table's item of `key`, read raw. */
async function objectItem(key: string) {
  return (await objects.send(new GetCommand({ TableName: fx.config.objectsTable, Key: { key }, ConsistentRead: true }))).Item;
}

describe('durability', () => {
  it('a resolved record is visible to a second client: entry c_<id> {v,id,new,old,ca,at} and the header', async () => {
    const { log, clock } = writer();
    const id = newChangeId();
    const ca = clock.now + 5_000;
    await log.record(id, {
      id: 'photos/cat.jpg',
      new: blobOf('photos/cat.jpg', 1),
      old: blobOf('photos/cat.jpg', 0),
      cleanupAfter: new Date(ca),
    });
    const item = await raw.get(log.instanceId);
    expect(item).toBeDefined();
    expect(item![`c_${id}`]).toEqual({
      v: 1,
      id: 'photos/cat.jpg',
      new: blobOf('photos/cat.jpg', 1),
      old: blobOf('photos/cat.jpg', 0),
      ca,
      at: clock.now,
    });
    expect(item).toMatchObject({ pk: log.instanceId, state: 'live', n: 1, leaseUntil: clock.now + LEASE });
    expect(item!.shard).toBe(shardOf(log.instanceId, fx.config.leaseShards));
    expect(item!.shard).toBeGreaterThanOrEqual(0);
    expect(item!.shard).toBeLessThan(fx.config.leaseShards);
    expect(item!.claimedBy).toBeUndefined();
  });

  it('spreads instances over every lease shard, by the random tail of their ids', () => {
    // A sweeper (or each of several splitting the shards) queries the lease index shard by shard:
    // instances bunched on one shard make one hot partition and one sweeper do all the work.
    const counts = new Array<number>(4).fill(0);
    for (let i = 0; i < 400; i++) counts[shardOf(newInstanceId(), 4)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(40);
    expect(shardOf('0190a6b0-0000-7000-8000-00000000000e', 4)).toBe(2);
    expect(shardOf('0190a6b0-0000-7000-8000-0000000000ff', 16)).toBe(15);
  });

  it('stores no attribute for an unset field, and parses back to the same change', async () => {
    const { log, clock } = writer();
    const id = newChangeId();
    await log.record(id, { id: 'only-id' });
    const item = await raw.get(log.instanceId);
    expect(Object.keys(item![`c_${id}`]).sort()).toEqual(['at', 'id', 'v']);
    const parsed = parseInstanceItem(item!);
    expect(parsed.entries).toEqual([{ ok: true, changeId: id, change: { id: 'only-id' }, recordedAt: clock.now }]);
  });

  it('each record and each remove is exactly one UpdateItem', async () => {
    const { log, probe: p } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    await log.remove(a);
    expect(p.attempts.map((x) => x.command)).toEqual(['UpdateItem', 'UpdateItem']);
  });
});

describe('idempotency under lost responses', () => {
  it('record: response lost after the write landed (new instance) → SDK retries, resolves, entry counted once', async () => {
    const { log, probe: p } = writer();
    const id = newChangeId();
    p.loseNextResponse(isUpdate);
    await expect(log.record(id, { id: 'obj', new: blobOf('obj', 1) })).resolves.toBeUndefined();
    const updates = p.of('UpdateItem');
    expect(updates).toHaveLength(2);
    expect(updates[0]!.lost).toBe(true);
    expect(updates[1]!.error).toBe('ConditionalCheckFailedException');
    const item = await raw.get(log.instanceId);
    expect(item).toMatchObject({ n: 1, state: 'live' });
    expect(RawReader.entryIds(item)).toEqual([id]);
  });

  it('record: response lost on an existing instance (no lease write) → counted once', async () => {
    const { log, probe: p, clock } = writer();
    const first = newChangeId();
    const second = newChangeId();
    await log.record(first, { id: 'first' });
    clock.advance(1_000);
    p.clear();
    p.loseNextResponse(isUpdate);
    await log.record(second, { id: 'second' });
    expect(p.of('UpdateItem')).toHaveLength(2);
    const item = await raw.get(log.instanceId);
    expect(item!.n).toBe(2);
    expect(RawReader.entryIds(item)).toEqual([first, second].sort());
  });

  it('record: the caller retries a call that failed after it landed → resolves, counted once', async () => {
    const { log, probe: p } = writer({ maxAttempts: 1 });
    const id = newChangeId();
    p.loseNextResponse(isUpdate);
    await expect(log.record(id, { id: 'obj', new: blobOf('obj', 2) })).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(log.record(id, { id: 'obj', new: blobOf('obj', 2) })).resolves.toBeUndefined();
    expect(p.of('UpdateItem')).toHaveLength(2);
    const item = await raw.get(log.instanceId);
    expect(item!.n).toBe(1);
    expect(RawReader.entryIds(item)).toEqual([id]);
    expect(log.outstanding).toBe(1);
  });

  it('record: a retry that finds a DIFFERENT change under its id is a conflict, not a success', async () => {
    const { log, probe: p } = writer({ maxAttempts: 1 });
    const id = newChangeId();
    p.loseNextResponse(isUpdate);
    await expect(log.record(id, { id: 'obj', new: blobOf('obj', 10) })).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(log.record(id, { id: 'obj', new: blobOf('obj', 11) })).rejects.toMatchObject({ name: 'ChangeIdConflictError' });
    const item = await raw.get(log.instanceId);
    expect(item![`c_${id}`].new).toBe(blobOf('obj', 10));
    expect(item!.n).toBe(1);
  });

  it('remove: response lost → the SDK retry finds the entry gone → resolves; n correct, never negative', async () => {
    const { log, probe: p } = writer();
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a' });
    await log.record(b, { id: 'b' });
    p.clear();
    p.loseNextResponse(isUpdate);
    await expect(log.remove(a)).resolves.toBeUndefined();
    expect(p.of('UpdateItem')).toHaveLength(2);
    expect((await raw.get(log.instanceId))!.n).toBe(1);
    p.loseNextResponse(isUpdate);
    await log.remove(b);
    const item = await raw.get(log.instanceId);
    expect(item!.n).toBe(0);
    expect(RawReader.entryIds(item)).toEqual([]);
    expect(log.outstanding).toBe(0);
  });

  it('remove: the caller retries a call that failed after it landed → resolves; n stays 0; a third remove sends nothing', async () => {
    const { log, probe: p } = writer({ maxAttempts: 1 });
    const id = newChangeId();
    await log.record(id, { id: 'x' });
    p.clear();
    p.loseNextResponse(isUpdate);
    await expect(log.remove(id)).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(log.remove(id)).resolves.toBeUndefined();
    await expect(log.remove(id)).resolves.toBeUndefined();
    expect(p.of('UpdateItem')).toHaveLength(2);
    expect((await raw.get(log.instanceId))!.n).toBe(0);
  });

  it('the same id recorded twice concurrently lands once', async () => {
    const { log } = writer();
    const id = newChangeId();
    await Promise.all([log.record(id, { id: 'twin' }), log.record(id, { id: 'twin' })]);
    const item = await raw.get(log.instanceId);
    expect(item!.n).toBe(1);
    expect(RawReader.entryIds(item)).toEqual([id]);
  });
});

describe('claims fence the writer', () => {
  it('a record after a claim lands on a NEW instance id, durable there; the claimed item keeps only its old entries', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const old = log.instanceId;
    clock.advance(LEASE + SKEW + 1);
    const claimed = await claimAt(old, clock.now);
    expect(RawReader.entryIds(claimed)).toEqual([a]);

    const b = newChangeId();
    await log.record(b, { id: 'b', new: blobOf('b') });
    expect(log.instanceId).not.toBe(old);
    expect(log.instanceIds).not.toContain(old);
    const fresh = await raw.get(log.instanceId);
    expect(fresh).toMatchObject({ state: 'live', n: 1, leaseUntil: clock.now + LEASE });
    expect(RawReader.entryIds(fresh)).toEqual([b]);
    const oldItem = await raw.get(old);
    expect(oldItem).toMatchObject({ state: 'claimed', claimedBy: 'sweeper-1', n: 1 });
    expect(RawReader.entryIds(oldItem)).toEqual([a]);
  });

  it('claim racing record: exactly one wins, every time', async () => {
    const outcomes = { claim: 0, record: 0 };
    for (let round = 0; round < 10; round++) {
      const { log, clock } = writer();
      const a = newChangeId();
      const b = newChangeId();
      await log.record(a, { id: 'a' });
      const old = log.instanceId;
      clock.advance(LEASE + SKEW + 1);
      const [claimed] = await Promise.all([claimAt(old, clock.now), log.record(b, { id: 'b' })]);
      const oldItem = await raw.get(old);
      if (claimed !== undefined) {
        outcomes.claim++;
        expect(RawReader.entryIds(claimed)).toEqual([a]);
        expect(log.instanceId).not.toBe(old);
        expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([b]);
        expect(oldItem).toMatchObject({ state: 'claimed', n: 1 });
        expect(RawReader.entryIds(oldItem)).toEqual([a]);
      } else {
        outcomes.record++;
        expect(log.instanceId).toBe(old);
        expect(oldItem).toMatchObject({ state: 'live', n: 2, leaseUntil: clock.now + LEASE });
        expect(RawReader.entryIds(oldItem)).toEqual([a, b].sort());
      }
    }
    console.log(`claim vs record race, 10 rounds: claim won ${outcomes.claim}, record won ${outcomes.record}`);
    expect(outcomes.claim + outcomes.record).toBe(10);
  });

  it('a renewing record before the claim makes the claim fail', async () => {
    const { log, clock } = writer();
    await log.record(newChangeId(), { id: 'a' });
    clock.advance(LEASE + SKEW + 1);
    await log.record(newChangeId(), { id: 'b' });
    expect(await claimAt(log.instanceId, clock.now)).toBeUndefined();
    expect(await raw.get(log.instanceId)).toMatchObject({ state: 'live', n: 2 });
  });

  it('a record that keeps its lease (more than half left) after a claim (sweeper clock ahead) never lands in the claimed item', async () => {
    // The claim wrote a lease (its due time) past the record's floor: only the state keeps the
    // entry out. Landed there, it would be named by no judgement of that claim, and the claimer's
    // delete of the item once its own entries are done would leave the blob named by nothing.
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    const old = log.instanceId;
    clock.advance(1_000);
    expect(await claimAt(old, clock.now + LEASE + SKEW)).toBeDefined();

    const b = newChangeId();
    await log.record(b, { id: 'b', new: blobOf('b') });
    const oldItem = await raw.get(old);
    expect(oldItem).toMatchObject({ state: 'claimed', claimedBy: 'sweeper-1', n: 1 });
    expect(RawReader.entryIds(oldItem)).toEqual([a]);
    expect(log.instanceId).not.toBe(old);
    const fresh = await raw.get(log.instanceId);
    expect(fresh).toMatchObject({ state: 'live', n: 1 });
    expect(RawReader.entryIds(fresh)).toEqual([b]);
  });

  it('a record that lands just before a claim (writer clock behind) goes to the claimer, and its fenced commit fails', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a' });
    clock.advance(1_000);
    await log.record(b, { id: 'late-writer', new: blobOf('late-writer') });
    const claimed = await claimAt(log.instanceId, clock.now + LEASE + SKEW);
    expect(RawReader.entryIds(claimed)).toEqual([a, b].sort());
    const key = `late-${b}`;
    expect(await commit(log, b, { kind: 'remove' }, key)).toMatchObject({ name: 'TransactionCanceledException' });
    expect(await objectItem(key)).toBeUndefined();
  });

  /**
   * A writer whose instance `old` held entry `a` (its upload in flight) and which a sweeper, its
   * clock ahead, claimed, drained (`a` judged and dropped) and deleted; the writer's clock reads
   * less than half a lease left, so its next write renews.
   */
  async function drainedUnderPausedWriter(): Promise<Writer & { a: string; old: string }> {
    const w = writer();
    const a = newChangeId();
    await w.log.record(a, { id: 'a', new: blobOf('a') });
    const old = w.log.instanceId;
    w.clock.advance(LEASE * 0.6);
    const sweeperNow = w.clock.now + LEASE;
    expect(await claimAt(old, sweeperNow)).toBeDefined();
    expect(await sweeper.settle(old, { claimant: 'sweeper-1', drop: [a], leaseUntil: sweeperNow + CLAIM_MS })).toBe(true);
    expect(await sweeper.deleteClaimed(old, 'sweeper-1')).toBe(true);
    return { ...w, a, old };
  }

  // Re-created, the item would be live again under the writer's old slot, unfenced: its lease
  // renewed, which is what `mayUpload` bounds the upload of `a`'s blob by, whose entry the sweeper
  // already judged and dropped.
  it('a renewing record never re-creates an item a sweeper drained and deleted: it records under a new identity', async () => {
    const { log, old } = await drainedUnderPausedWriter();
    const b = newChangeId();
    await log.record(b, { id: 'b', new: blobOf('b') });
    expect(await raw.get(old)).toBeUndefined();
    expect(log.instanceId).not.toBe(old);
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([b]);
  });

  it('a commit that records its entry never re-creates an item a sweeper drained and deleted', async () => {
    const { log, old } = await drainedUnderPausedWriter();
    const b = newChangeId();
    const key = `recorded-${b}`;
    expect(await commit(log, b, { kind: 'record', change: { id: 'b', old: blobOf('b') } }, key)).toMatchObject({
      name: 'TransactionCanceledException',
    });
    expect(await raw.get(old)).toBeUndefined();
    expect(await objectItem(key)).toBeUndefined();
  });

  it('remove of an entry of a claimed instance leaves it to the sweeper and takes a new identity', async () => {
    const { log, probe: p, a, b, old } = await claimedWithTwoEntries();
    p.clear();
    await log.remove(a);
    expect(log.instanceId).not.toBe(old);
    await log.remove(b); // known fenced: nothing to send
    expect(p.of('UpdateItem')).toHaveLength(1);
    const oldItem = await raw.get(old);
    expect(oldItem).toMatchObject({ state: 'claimed', n: 2 });
    expect(RawReader.entryIds(oldItem)).toEqual([a, b].sort());
    expect(log.outstanding).toBe(0);
  });

  it('scan reports only the entries of live instances, not those handed to a sweeper', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    clock.advance(LEASE + SKEW + 1);
    await claimAt(log.instanceId, clock.now);
    const b = newChangeId();
    await log.record(b, { id: 'b' });
    expect(await log.scan()).toEqual([[b, { id: 'b' }]]);
  });
});

describe('lease renewal', () => {
  it('a second record soon after the first does not write leaseUntil and leaves the lease index alone', async () => {
    const { log, clock, probe: p } = writer({ capacity: true });
    await log.record(newChangeId(), { id: 'a' });
    const lease = (await raw.get(log.instanceId))!.leaseUntil;
    expect(lease).toBe(clock.now + LEASE);
    clock.advance(5_000);
    await log.record(newChangeId(), { id: 'b' });
    const [first, second] = p.of('UpdateItem');
    expect(first!.input.UpdateExpression).toContain('#lease = :lease');
    expect(second!.input.UpdateExpression).not.toContain('#lease = :lease');
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(lease);
    // A record that renews, for comparison.
    clock.advance(LEASE / 2);
    await log.record(newChangeId(), { id: 'c' });
    const third = p.of('UpdateItem')[2]!;
    expect(third.input.UpdateExpression).toContain('#lease = :lease');
    // DynamoDB Local reports per-index capacity. byLease projects only what writers never
    // change (state, claimedBy), so a record that keeps the lease costs the index nothing;
    // a lease write moves the index entry (2 units).
    expect(second!.consumed?.Table?.CapacityUnits).toBe(1);
    expect(third.consumed?.Table?.CapacityUnits).toBe(1);
    expect(gsiUnits(second!.consumed)).toBe(0);
    expect(gsiUnits(third.consumed)).toBe(2);
  });

  it('a record after more than half the lease elapsed renews it', async () => {
    const { log, clock, probe: p } = writer();
    await log.record(newChangeId(), { id: 'a' });
    clock.advance(LEASE / 2 + 1);
    await log.record(newChangeId(), { id: 'b' });
    expect(p.of('UpdateItem')[1]!.input.UpdateExpression).toContain('#lease = :lease');
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(clock.now + LEASE);
  });

  it('exactly half remaining does not renew yet', async () => {
    const { log, clock } = writer();
    await log.record(newChangeId(), { id: 'a' });
    const lease = clock.now + LEASE;
    clock.advance(LEASE / 2);
    await log.record(newChangeId(), { id: 'b' });
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(lease);
  });

  it('a stored lease shorter than the writer believes is caught by the lease floor and renewed', async () => {
    const { log, clock, probe: p } = writer();
    await log.record(newChangeId(), { id: 'a' });
    const item = (await raw.get(log.instanceId))!;
    await raw.put({ ...item, leaseUntil: clock.now + 1_000 });
    p.clear();
    await log.record(newChangeId(), { id: 'b' });
    expect(p.of('UpdateItem')).toHaveLength(2);
    expect((await raw.get(log.instanceId))!).toMatchObject({ leaseUntil: clock.now + LEASE, n: 2 });
  });

  it('remove renews while other entries are outstanding and the lease is past half; the last remove does not', async () => {
    const { log, clock, probe: p } = writer();
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a' });
    await log.record(b, { id: 'b' });
    clock.advance(LEASE / 2 + 1);
    p.clear();
    await log.remove(a);
    expect(p.of('UpdateItem')[0]!.input.UpdateExpression).toContain('#lease = :lease');
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(clock.now + LEASE);
    const renewed = clock.now + LEASE;
    clock.advance(LEASE / 2 + 1);
    await log.remove(b);
    expect(p.of('UpdateItem')[1]!.input.UpdateExpression).not.toContain('#lease');
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(renewed);
  });

  it('bindInvocation: the lease reaches the deadline plus the margin; later records of the invocation leave it', async () => {
    const { log, clock, probe: p } = writer();
    log.bindInvocation({ getRemainingTimeInMillis: () => 600_000 });
    const start = clock.now;
    await log.record(newChangeId(), { id: 'a' });
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(start + 600_000 + 30_000);
    clock.advance(200_000);
    await log.record(newChangeId(), { id: 'b' });
    expect(p.of('UpdateItem')[1]!.input.UpdateExpression).not.toContain('#lease');
    // The next invocation ends later than the lease: the first record renews to it.
    log.bindInvocation({ getRemainingTimeInMillis: () => 900_000 });
    await log.record(newChangeId(), { id: 'c' });
    expect((await raw.get(log.instanceId))!.leaseUntil).toBe(clock.now + 900_000 + 30_000);
  });

  it.each([
    ['the time left, not an instant (getRemainingTimeInMillis())', 600_000],
    ['seconds since the epoch', Math.floor(1_700_000_000_000 / 1000) + 600],
  ])('setInvocationDeadline given %s is a ValidationError naming deadline, and binds nothing', async (_what, deadline) => {
    // An instant in 1970, long past: every write of the invocation failed with InvocationEndedError,
    // "the invocation's deadline passed", for an invocation with minutes left.
    const { log } = writer();
    expect(() => log.setInvocationDeadline(deadline)).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'deadline' }));
    expect(log.invocationDeadline).toBeUndefined();
    await log.record(newChangeId(), { id: 'a' });
  });

  it('measures the calls and consumed capacity of record and remove (printed)', async () => {
    const { log, clock, probe: p } = writer({ capacity: true });
    const rows: Array<{ op: string; calls: number; table: number | undefined; gsi: number; total: number | undefined }> = [];
    const measure = async (op: string, action: () => Promise<void>) => {
      p.clear();
      await action();
      const attempts = p.attempts;
      rows.push({
        op,
        calls: attempts.length,
        table: attempts.reduce((s, a) => s + (a.consumed?.Table?.CapacityUnits ?? 0), 0),
        gsi: attempts.reduce((s, a) => s + gsiUnits(a.consumed), 0),
        total: attempts.reduce((s, a) => s + (a.consumed?.CapacityUnits ?? 0), 0),
      });
    };
    const ids = Array.from({ length: 4 }, () => newChangeId());
    await measure('record, first on a new instance (creates, lease write)', () => log.record(ids[0]!, { id: 'o0', new: blobOf('o0') }));
    clock.advance(1_000);
    await measure('record, lease fresh (no lease write)', () => log.record(ids[1]!, { id: 'o1', new: blobOf('o1') }));
    await measure('remove, lease fresh (no lease write)', () => log.remove(ids[1]!));
    clock.advance(LEASE / 2 + 1);
    await measure('record, lease past half (renews)', () => log.record(ids[2]!, { id: 'o2', new: blobOf('o2') }));
    clock.advance(LEASE / 2 + 1);
    await measure('remove, others outstanding, past half (renews)', () => log.remove(ids[2]!));
    await measure('remove, last entry (never renews)', () => log.remove(ids[0]!));
    console.log('DynamoChangeLog cost per operation on DynamoDB Local (ReturnConsumedCapacity=INDEXES):');
    console.table(rows);
    for (const row of rows) expect(row.calls).toBe(1);
    const byOp = Object.fromEntries(rows.map((r) => [r.op, r]));
    expect(byOp['record, lease fresh (no lease write)']!.gsi).toBeLessThan(byOp['record, lease past half (renews)']!.gsi);
    expect(byOp['remove, last entry (never renews)']!.gsi).toBeLessThan(byOp['remove, others outstanding, past half (renews)']!.gsi);
  });
});

describe('background renewal', () => {
  it('renewDueLeases renews only busy slots whose lease is past half', async () => {
    const { log, clock, probe: p } = writer({ entriesPerInstance: 1 });
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a' });
    await log.record(b, { id: 'b' });
    const [busy, idle] = log.instanceIds;
    expect(log.instanceIds).toHaveLength(2);
    await log.remove(b);
    const start = clock.now;
    p.clear();
    clock.advance(LEASE / 4);
    await log.renewDueLeases();
    expect(p.attempts).toHaveLength(0);
    clock.advance(LEASE / 4 + 1);
    await log.renewDueLeases();
    expect(p.attempts).toHaveLength(1);
    expect((await raw.get(busy!))!.leaseUntil).toBe(clock.now + LEASE);
    expect((await raw.get(idle!))!.leaseUntil).toBe(start + LEASE);
  });

  it('a record after an empty slot lapsed drops that slot only: the slot still holding a change stays, and its lease is renewed', async () => {
    const { log, clock } = writer({ entriesPerInstance: 1 });
    const a = newChangeId();
    const b = newChangeId();
    await log.record(a, { id: 'a' });
    await log.record(b, { id: 'b', new: blobOf('b') });
    const [emptied, busy] = log.instanceIds;
    await log.remove(a);
    // `b` is still on its way: its slot is renewed, the emptied one lapses.
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    clock.advance(LEASE / 2 + 1);
    expect((await raw.get(emptied!))!.leaseUntil).toBeLessThanOrEqual(clock.now);
    await log.record(newChangeId(), { id: 'c' });
    expect(log.instanceIds).not.toContain(emptied);
    expect(log.instanceIds).toContain(busy);
    // Still renewed while `b` runs: a sweeper never takes the item under a change in flight.
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect((await raw.get(busy!))!.leaseUntil).toBe(clock.now + LEASE);
  });

  it('a record after a slot still holding a change lapsed (an environment thawed) goes to a new slot, not to the item a sweeper may have claimed', async () => {
    const { log, clock, probe: p } = writer();
    const a = newChangeId();
    // Invocation 1: its write of `a` is frozen with the environment, its entry outstanding.
    log.setInvocationDeadline(clock.now + 10_000);
    await log.record(a, { id: 'a', new: blobOf('a') });
    const thawed = log.instanceId;
    const leaseEnd = (await raw.get(thawed))!.leaseUntil;
    clock.advance(leaseEnd - clock.now + SKEW + 1);
    expect(await claimAt(thawed, clock.now)).toBeDefined();
    // Invocation 2, after the thaw: one write, to a new item.
    log.setInvocationDeadline(clock.now + 10_000);
    p.clear();
    const b = newChangeId();
    await log.record(b, { id: 'b' });
    expect(p.attempts.filter((x) => isUpdate(x.command))).toHaveLength(1);
    expect(log.instanceId).not.toBe(thawed);
    expect(parseInstanceItem((await raw.get(log.instanceId))!).entries.map((e) => e.changeId)).toEqual([b]);
    // The lapsed slot still settles its own change: `a`'s remove finds the claim, writes nothing more.
    await log.remove(a);
    expect(log.outstanding).toBe(1);
    expect((await raw.get(thawed))!.state).toBe('claimed');
  });

  it('abandon: the slot takes no new entries and is kept alive only while its other changes run, then a sweeper can claim it', async () => {
    const { log, clock } = writer();
    const kept = newChangeId();
    const left = newChangeId();
    await log.record(kept, { id: 'kept' });
    await log.record(left, { id: 'left', new: blobOf('left') });
    const abandoned = log.instanceId;
    log.abandon(left);
    expect(log.outstanding).toBe(1);
    expect(log.instanceId).not.toBe(abandoned);
    // New changes go elsewhere.
    const fresh = newChangeId();
    await log.record(fresh, { id: 'fresh' });
    expect(
      parseInstanceItem((await raw.get(abandoned))!)
        .entries.map((e) => e.changeId)
        .sort(),
    ).toEqual([kept, left].sort());
    // While `kept` runs, the abandoned item's lease is renewed like any busy slot.
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect((await raw.get(abandoned))!.leaseUntil).toBe(clock.now + LEASE);
    // Once it is done, nothing keeps the item alive: its lease runs out and a sweeper takes it.
    await log.remove(kept);
    const leaseEnd = (await raw.get(abandoned))!.leaseUntil;
    clock.advance(LEASE / 2 + 1);
    await log.renewDueLeases();
    expect((await raw.get(abandoned))!.leaseUntil).toBe(leaseEnd);
    const claimed = await claimAt(abandoned, leaseEnd + SKEW + 1);
    expect(claimed).toBeDefined();
    expect(parseInstanceItem(claimed!).entries.map((e) => e.changeId)).toEqual([left]);
  });

  // Inside Lambda no timer runs, and the timer's tick was the only thing that let go of an item
  // stopped after an abandon once its other changes were done: a warm environment kept every one
  // (memory), and each scan() read all of them again, one GetItem each, for ever.
  it('without background renewal, an abandoned slot is let go by the next write once its other changes are done: scan reads it no more', async () => {
    const { log, probe: p } = writer({ renewInBackground: false });
    for (let i = 0; i < 4; i++) {
      const kept = newChangeId();
      const left = newChangeId();
      await log.record(kept, { id: `kept-${i}` });
      await log.record(left, { id: `left-${i}`, new: blobOf(`left-${i}`) });
      log.abandon(left);
      await log.remove(kept);
    }
    await log.record(newChangeId(), { id: 'next' });
    p.clear();
    await log.scan();
    expect(p.of('GetItem'), 'the live slot alone').toHaveLength(1);
  });

  it('renewDueLeases never re-creates a retired item and fences a claimed one', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    const old = log.instanceId;
    clock.advance(LEASE + SKEW + 1);
    await claimAt(old, clock.now);
    await log.renewDueLeases();
    expect(log.instanceId).not.toBe(old);
    expect(await raw.get(old)).toMatchObject({ state: 'claimed', claimedBy: 'sweeper-1', leaseUntil: clock.now + CLAIM_MS });
    expect(await raw.get(log.instanceId)).toBeUndefined();
  });

  it('the timer ticks while entries are outstanding, stops itself when idle, and close() stops it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { log } = writer({ renewInBackground: true, leaseMs: 8_000 });
    expect(vi.getTimerCount()).toBe(0);
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    expect(vi.getTimerCount()).toBe(1);
    await log.remove(a);
    await log.renewDueLeases(); // idle: the tick stops the timer
    expect(vi.getTimerCount()).toBe(0);

    await log.record(newChangeId(), { id: 'b' });
    const tick = vi.spyOn(log, 'renewDueLeases').mockResolvedValue();
    vi.advanceTimersByTime(2_000);
    expect(tick).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(4_000);
    expect(tick).toHaveBeenCalledTimes(3);
    log.close();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(tick).toHaveBeenCalledTimes(3);
  });

  it('renewInBackground: false starts no timer', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { log } = writer({ renewInBackground: false });
    await log.record(newChangeId(), { id: 'a' });
    expect(vi.getTimerCount()).toBe(0);
  });
});

/**
 * Makes `client` see DynamoDB's clock `ms` ahead of this machine's: each answer's Date header moved
 * on before the SDK's signer reads it (as it does an answer of AWS to a machine whose clock is behind).
 */
function serverClockAhead(client: DynamoDBClient, ms: number): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const out = (await next(args)) as { response?: { headers?: Record<string, string> } };
      const headers = out.response?.headers;
      if (headers?.date !== undefined) headers.date = new Date(Date.parse(headers.date) + ms).toUTCString();
      return out as never;
    },
    { step: 'deserialize', name: 'testServerClockAhead', priority: 'high' },
  );
}

describe("a writer whose clock is off AWS's", () => {
  // A machine whose clock runs three minutes behind (a VM after a pause, a host without NTP): its
  // leases, written on its own clock, had ended on AWS's, on which the scheduled sweeper judges
  // them, while it was still writing: every sweep claimed its instances and fenced its commits.
  it("writes its leases on DynamoDB's clock as the SDK measured it: a sweeper on that clock does not claim the live writer", async () => {
    const BEHIND = 180_000;
    const client = newClient();
    clients.push(client);
    serverClockAhead(client, BEHIND);
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, renewInBackground: false });
    logs.push(log);
    await log.record(newChangeId(), { id: 'skewed-a' }); // its answer tells the SDK DynamoDB's clock
    await log.record(newChangeId(), { id: 'skewed-b' });
    const instance = log.instanceId;
    const awsNow = Date.now() + BEHIND;
    expect((await raw.get(instance))!.leaseUntil, "the lease runs on AWS's clock").toBeGreaterThan(awsNow + LEASE / 2);
    expect(await claimAt(instance, awsNow), "a sweeper on AWS's clock claimed the live writer").toBeUndefined();
    await log.record(newChangeId(), { id: 'skewed-c' });
    expect(log.instanceId, 'the writer was fenced').toBe(instance);
  });

  // Its first record is sent before any answer told the SDK DynamoDB's clock: its lease is on this
  // machine's, a minute past on AWS's, and the writer goes on to its upload with it. A sweep before
  // the next write claimed the live writer (and its commit was fenced).
  it("its first record's lease, written before any answer measured AWS's clock, is renewed on that clock before the record resolves", async () => {
    const BEHIND = 180_000;
    const client = newClient();
    clients.push(client);
    serverClockAhead(client, BEHIND);
    const p = probe(client);
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, renewInBackground: false });
    logs.push(log);
    const id = newChangeId();
    await log.record(id, { id: 'skewed-first' });
    const instance = log.instanceId;
    const awsNow = Date.now() + BEHIND;
    expect((await raw.get(instance))!.leaseUntil, "the lease runs on AWS's clock").toBeGreaterThan(awsNow + LEASE / 2);
    expect(await claimAt(instance, awsNow), "a sweeper on AWS's clock claimed the live writer").toBeUndefined();
    expect(p.of('UpdateItem'), 'the record, and one renewal on the measured clock').toHaveLength(2);
    // Measured now: a later record renews nothing more.
    p.clear();
    await log.record(newChangeId(), { id: 'skewed-second' });
    expect(p.of('UpdateItem')).toHaveLength(1);
    expect(log.instanceId).toBe(instance);
    expect(log.mayUpload(id)).toBe(true);
  });

  // A machine whose clock runs 20 minutes ahead of AWS's: its first record's lease, written before
  // any answer, ends 22 minutes ahead on AWS's clock, past any lease a writer takes. The renewal on
  // the measured clock only lengthened a short lease: this one stayed, every record of the slot
  // went into it, and a sweep claimed the live writer as suspect (its commits fenced).
  it("its first record's lease, too long on AWS's clock (its own ahead), is set on that clock before the record resolves", async () => {
    const AHEAD = 1_200_000;
    const client = newClient();
    clients.push(client);
    serverClockAhead(client, -AHEAD);
    const p = probe(client);
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, renewInBackground: false });
    logs.push(log);
    const id = newChangeId();
    await log.record(id, { id: 'skewed-ahead' });
    const instance = log.instanceId;
    await expectNotSuspectOnAwsClock(instance, Date.now() - AHEAD);
    expect(p.of('UpdateItem'), 'the record, and one renewal on the measured clock').toHaveLength(2);
    // Measured now: later records renew nothing more, whatever second of jitter each answer's
    // Date header gives the measure (one lease that much longer than the next is no wrong one).
    p.clear();
    for (let i = 0; i < 6; i++) await log.record(newChangeId(), { id: `skewed-ahead-${i}` });
    expect(p.of('UpdateItem'), 'the records alone').toHaveLength(6);
    expect(log.instanceId).toBe(instance);
  });

  // Its first change a delete or a small object (the entry written by the commit, sent on the
  // store's client): the lease was on this machine's clock, 20 minutes ahead, and once a remove's
  // answer had measured the clock nothing renewed a lease that long (only a short one): the
  // writer's next records went into an item a sweep claimed as suspect, their commits fenced.
  it('a lease written before the clock was measured, past any lease on the measured clock, is renewed by the next write', async () => {
    const AHEAD = 1_200_000;
    const client = newClient();
    clients.push(client);
    serverClockAhead(client, -AHEAD);
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, renewInBackground: false });
    logs.push(log);
    const first = newChangeId();
    const effect: FenceEffect = { kind: 'record', change: { id: 'skewed-commit' } };
    expect(await commit(log, first, effect, 'skewed-commit')).toBeUndefined();
    log.committed(first, effect);
    await log.remove(first); // its answer measures DynamoDB's clock
    await log.record(newChangeId(), { id: 'skewed-after', new: blobOf('skewed-after') });
    const instance = log.instanceId;
    await expectNotSuspectOnAwsClock(instance, Date.now() - AHEAD);
  });

  // Each answer's Date header has whole seconds: the measured offset moves by up to a second from
  // one answer to the next, so a lease this log wrote a moment ago can read up to a second longer
  // than it is. With the longest lease (930 s) that read as one no writer takes, and each record
  // on a machine off AWS's by more than 2 s renewed it again (a lease write, twice the cost).
  it('the longest lease, read through the Date header jitter, is renewed by no record', async () => {
    const client = newClient();
    clients.push(client);
    serverClockAhead(client, -60_000);
    const p = probe(client);
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, renewInBackground: false, leaseMs: MAX_WRITER_LEASE_MS });
    logs.push(log);
    await log.record(newChangeId(), { id: 'longest-0' });
    p.clear();
    for (let i = 1; i <= 16; i++) await log.record(newChangeId(), { id: `longest-${i}` });
    expect(p.of('UpdateItem'), 'the records alone').toHaveLength(16);
  });

  it('sends no such renewal once the invocation the record began in has ended (its answer came after the deadline)', async () => {
    const client = newClient();
    clients.push(client);
    serverClockAhead(client, 180_000);
    // The answer held until the invocation's deadline has passed (the environment frozen meanwhile).
    client.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        await new Promise((resolve) => setTimeout(resolve, 300));
        return out;
      },
      { step: 'deserialize', name: 'testLateAnswer', priority: 'low' },
    );
    const p = probe(client);
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: client, renewInBackground: false });
    logs.push(log);
    log.setInvocationDeadline(Date.now() + 150);
    await log.record(newChangeId(), { id: 'skewed-late' });
    expect(p.of('UpdateItem'), 'the record alone: no renewal past the deadline').toHaveLength(1);
  });
});

describe('retirement', () => {
  it('retire deletes an empty expired instance in one request', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    await log.remove(a);
    const id = log.instanceId;
    const sweeperProbe = probe(clients[0]!);
    sweeperProbe.clear();
    expect(await sweeper.retire(id, clock.now + LEASE + 1)).toBe(true);
    expect(sweeperProbe.attempts.map((x) => x.command)).toEqual(['DeleteItem']);
    expect(await raw.get(id)).toBeUndefined();
  });

  it('retire refuses an instance with a live lease, and one with entries', async () => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    expect(await sweeper.retire(log.instanceId, clock.now + LEASE + 1)).toBe(false);
    await log.remove(a);
    expect(await sweeper.retire(log.instanceId, clock.now + LEASE)).toBe(false); // lease not before cutoff
    expect(await raw.get(log.instanceId)).toMatchObject({ n: 0, state: 'live' });
  });

  it.each([
    ['the writer sees its lease expired', LEASE + SKEW + 1],
    ['the writer believes its lease is fresh', 1_000],
  ])('after retirement the next record is durable (%s), and the retired item is not resurrected', async (_label, advance) => {
    const { log, clock } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a' });
    await log.remove(a);
    const old = log.instanceId;
    expect(await sweeper.retire(old, clock.now + LEASE + 1)).toBe(true);
    clock.advance(advance);
    const b = newChangeId();
    await log.record(b, { id: 'b' });
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([b]);
    expect(await raw.get(log.instanceId)).toMatchObject({ state: 'live', n: 1 });
    expect(log.instanceId).not.toBe(old);
    expect(await raw.get(old)).toBeUndefined();
  });

  it('remove never re-creates an item a sweeper drained and deleted', async () => {
    const { log, clock, a, b, old } = await claimedWithTwoEntries();
    expect(await sweeper.settle(old, { claimant: 'sweeper-1', drop: [a, b], leaseUntil: clock.now + CLAIM_MS })).toBe(true);
    expect(await sweeper.deleteClaimed(old, 'sweeper-1')).toBe(true);
    await expect(log.remove(a)).resolves.toBeUndefined();
    await expect(log.remove(b)).resolves.toBeUndefined();
    expect(await raw.get(old)).toBeUndefined();
    expect(log.outstanding).toBe(0);
  });
});

describe('fenced commit', () => {
  const effects: Array<[string, FenceEffect]> = [
    ['remove', { kind: 'remove' }],
    ['setOld', { kind: 'setOld', old: blobOf('obj', 0) }],
    ['check', { kind: 'check' }],
  ];

  it.each(effects)('%s: commits with the objects-table write while the instance is live', async (kind, effect) => {
    const { log } = writer();
    const id = newChangeId();
    const other = newChangeId();
    await log.record(id, { id: 'obj', new: blobOf('obj', 1) });
    await log.record(other, { id: 'other' });
    const key = `fenced-live-${kind}-${id}`;
    expect(await commit(log, id, effect, key)).toBeUndefined();
    log.committed(id, effect);
    expect(await objectItem(key)).toMatchObject({ key, version: 1 });
    const item = await raw.get(log.instanceId);
    if (effect.kind === 'remove') {
      expect(RawReader.entryIds(item)).toEqual([other]);
      expect(item!.n).toBe(1);
      expect(log.outstanding).toBe(1);
    } else {
      expect(item!.n).toBe(2);
      expect(item![`c_${id}`]).toMatchObject({
        id: 'obj',
        new: blobOf('obj', 1),
        ...(effect.kind === 'setOld' ? { old: effect.old } : {}),
      });
      if (effect.kind === 'check') expect(item![`c_${id}`].old).toBeUndefined();
      expect(log.outstanding).toBe(2);
    }
  });

  it.each(effects)('%s: after a claim the transaction is cancelled and the objects-table write did not happen', async (kind, effect) => {
    const { log, clock } = writer();
    const id = newChangeId();
    await log.record(id, { id: 'obj', new: blobOf('obj', 1) });
    const old = log.instanceId;
    clock.advance(LEASE + SKEW + 1);
    expect(await claimAt(old, clock.now)).toBeDefined();
    const key = `fenced-claimed-${kind}-${id}`;
    const err = await commit(log, id, effect, key);
    expect(err).toMatchObject({ name: 'TransactionCanceledException' });
    const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
    expect(reasons?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed']);
    expect(await objectItem(key)).toBeUndefined();
    const claimed = await raw.get(old);
    expect(claimed![`c_${id}`]).toEqual({ v: 1, id: 'obj', new: blobOf('obj', 1), at: expect.any(Number) });
    expect(claimed).toMatchObject({ state: 'claimed', n: 1 });
    log.fenceLost(id);
    expect(log.instanceId).not.toBe(old);
  });

  // A transaction's token answers an SDK retry from the first attempt for 10 minutes only; a retry
  // sent later is judged afresh (here: a second command, a token of its own). A commit that makes a
  // blob current must not land twice: the HV write of the second would go over whatever replaced
  // the first, pointing at a blob the replacing writer deleted.
  it.each(effects.filter(([kind]) => kind !== 'check'))(
    '%s: the same commit sent again is refused by the change-log half',
    async (kind, effect) => {
      const { log } = writer();
      const id = newChangeId();
      await log.record(id, { id: 'obj', new: blobOf('obj', 1) });
      const key = `fenced-twice-${kind}-${id}`;
      expect(await commit(log, id, effect, key)).toBeUndefined();
      const err = await commit(log, id, effect, key);
      expect(err).toMatchObject({ name: 'TransactionCanceledException' });
      const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
      expect(reasons?.map((r) => r.Code)).toEqual(['None', 'ConditionalCheckFailed']);
      expect((await raw.get(log.instanceId))?.state).toBe('live');
    },
  );

  // A change that uploads nothing has its entry written by the commit itself: counted there as a
  // record counts it, or the item's counter never returns to 0 and the item is never retired.
  it('record: the commit writes the entry and counts it once, beside the entries recorded before', async () => {
    const { log } = writer();
    const other = newChangeId();
    await log.record(other, { id: 'other' });
    const id = newChangeId();
    const effect: FenceEffect = { kind: 'record', change: { id: 'obj', old: blobOf('obj', 0) } };
    expect(await commit(log, id, effect, `fenced-record-${id}`)).toBeUndefined();
    log.committed(id, effect);
    const item = await raw.get(log.instanceId);
    expect(RawReader.entryIds(item)).toEqual([id, other].sort());
    expect(item![`c_${id}`]).toEqual({ v: 1, id: 'obj', old: blobOf('obj', 0), at: expect.any(Number) });
    expect(item!.n).toBe(2);
  });

  it('fence of a change this log did not record throws ValidationError', () => {
    const { log } = writer();
    expect(() => log.fence(newChangeId(), { kind: 'check' })).toThrow(ValidationError);
  });
});

describe('slots', () => {
  it('50 parallel records: all durable, spread over slots of at most entriesPerInstance (8) entries', async () => {
    const { log } = writer();
    const ids = Array.from({ length: 50 }, () => newChangeId());
    await Promise.all(ids.map((id, i) => log.record(id, { id: `parallel-${i}`, new: blobOf(`parallel-${i}`) })));
    expect(log.instanceIds.length).toBeGreaterThan(1);
    expect(new Set(log.instanceIds).size).toBe(log.instanceIds.length);
    const items = await Promise.all(log.instanceIds.map((id) => raw.get(id)));
    const seen: string[] = [];
    for (const item of items) {
      const entries = RawReader.entryIds(item);
      expect(entries.length).toBeLessThanOrEqual(8);
      expect(item!.n).toBe(entries.length);
      expect(item!.state).toBe('live');
      seen.push(...entries);
    }
    expect(seen.sort()).toEqual([...ids].sort());
    expect((await log.scan()).length).toBe(50);
    await Promise.all(ids.map((id) => log.remove(id)));
    for (const id of log.instanceIds) expect((await raw.get(id))!.n).toBe(0);
    expect(log.outstanding).toBe(0);
  });

  it('a freed slot is reused before a new one is opened', async () => {
    const { log } = writer({ entriesPerInstance: 2 });
    const [a, b, c] = [newChangeId(), newChangeId(), newChangeId()];
    await log.record(a, { id: 'a' });
    await log.record(b, { id: 'b' });
    await log.remove(a);
    await log.record(c, { id: 'c' });
    expect(log.instanceIds).toHaveLength(1);
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([b, c].sort());
  });
});

describe('errors', () => {
  it('a remove that finds its entry on an item neither live nor claimed (written by something else) is a CorruptItemError, never a success', async () => {
    const { log } = writer();
    const a = newChangeId();
    await log.record(a, { id: 'a', new: blobOf('a') });
    const instanceId = log.instanceId;
    const item = await raw.get(instanceId);
    await raw.put({ ...item, state: 'retired' });
    await expect(log.remove(a)).rejects.toBeInstanceOf(CorruptItemError);
    expect(RawReader.entryIds(await raw.get(instanceId))).toEqual([a]);
    expect(log.outstanding).toBe(1);
  });

  it('a missing table gives ResourceMissingError naming it, on record, remove and scan', async () => {
    const client = newClient(1);
    clients.push(client);
    const config = { ...fx.config, changeLogTable: 'tierlog-no-such-table' };
    const log = new DynamoChangeLog({ config, dynamodb: client, renewInBackground: false });
    logs.push(log);
    const id = newChangeId();
    const err = await log.record(id, { id: 'x' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ResourceMissingError);
    expect((err as ResourceMissingError).resource).toBe('table');
    expect((err as ResourceMissingError).resourceName).toBe('tierlog-no-such-table');
    expect((err as Error).message).toMatch(/table "tierlog-no-such-table" does not exist/);
    await expect(log.scan()).rejects.toBeInstanceOf(ResourceMissingError);
  });

  it('a record the service refuses outright leaves nothing outstanding (no phantom entry, no busy slot)', async () => {
    const client = newClient(1);
    clients.push(client);
    const p = probe(client);
    const log = new DynamoChangeLog({
      config: { ...fx.config, changeLogTable: 'tierlog-no-such-table' },
      dynamodb: client,
      renewInBackground: false,
    });
    logs.push(log);
    const id = newChangeId();
    await expect(log.record(id, { id: 'x' })).rejects.toBeInstanceOf(ResourceMissingError);
    expect(log.outstanding).toBe(0);
    p.clear();
    await log.remove(id);
    await log.renewDueLeases();
    expect(p.attempts).toHaveLength(0);
  });

  it('a record whose outcome is unknown stays outstanding, so remove() still cleans up what may have landed', async () => {
    const { log, probe: p } = writer({ maxAttempts: 1 });
    const id = newChangeId();
    p.loseNextResponse(isUpdate);
    await expect(log.record(id, { id: 'maybe' })).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(log.outstanding).toBe(1);
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([id]);
    await log.remove(id);
    expect(await raw.get(log.instanceId)).toMatchObject({ n: 0 });
    expect(RawReader.entryIds(await raw.get(log.instanceId))).toEqual([]);
  });

  it.each([['leaseMs'], ['entriesPerInstance'], ['maxSlots']] as const)('rejects a non-positive %s', (option) => {
    expect(() => new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, [option]: 0 })).toThrow(ValidationError);
  });

  // From a caller without types (options read from the environment, a logger given for a function):
  // `renewInBackground: 'false'` is truthy, so it ran the timer inside Lambda and no longer refused a
  // write made without bindInvocation; an onBackgroundError that is no function swallowed every
  // renewal failure it was given to report.
  it.each([
    ['renewInBackground', 'false'],
    ['renewInBackground', 0],
    ['onBackgroundError', { error: () => {} }],
    ['onBackgroundError', 'console.error'],
  ] as const)('rejects a %s of another type (%j) with a ValidationError naming it', (option, value) => {
    const err = (() => {
      try {
        logs.push(new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, [option]: value } as never));
        return undefined;
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(option);
  });

  it('inside Lambda, renewInBackground given as the string "false" is refused, not taken for true (no write left unbound)', () => {
    const before = process.env.AWS_LAMBDA_FUNCTION_NAME;
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'writer';
    try {
      expect(() => new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: 'false' as never })).toThrow(
        expect.objectContaining({ name: 'ValidationError', field: 'renewInBackground' }),
      );
    } finally {
      if (before === undefined) delete process.env.AWS_LAMBDA_FUNCTION_NAME;
      else process.env.AWS_LAMBDA_FUNCTION_NAME = before;
    }
  });

  // The Lambda event given for the context (`bindInvocation(event)`), a context a framework wrapped,
  // or a remaining time read as a string: a bare TypeError, or a deadline of "<now>30000" refused
  // as a deadline the caller never gave.
  it.each([
    ['no context', undefined],
    ['the event, not the context', { userId: 'u1' }],
    ['a remaining time that is a string', { getRemainingTimeInMillis: () => '30000' }],
    ['a remaining time that is NaN', { getRemainingTimeInMillis: () => Number.NaN }],
  ])('bindInvocation given %s is a ValidationError naming context, and binds nothing', async (_what, context) => {
    const { log } = writer();
    expect(() => log.bindInvocation(context as never)).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'context' }));
    expect(log.invocationDeadline).toBeUndefined();
  });
});
