/**
 * The sweeper's primitives of the change-log table, against DynamoDB Local: listing expired
 * instances through the lease index (paginated), claiming (with the entries in the answer, one
 * winner), settling and deleting only under one's own claim, retiring only empty expired ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttributeValue, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { type InstanceSummary, InstanceTable } from '../../lib/changelog/instance-table.js';
import { parseInstanceItem } from '../../lib/changelog/instance-item.js';
import { ResourceMissingError } from '../../lib/errors.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { newChangeId, newInstanceId } from '../../lib/ids.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { manualClock, RawReader } from './helpers.js';

let fx: Fixture;
let table: InstanceTable;
let raw: RawReader;

beforeAll(async () => {
  fx = await freshFixture();
  table = new InstanceTable(fx.config, fx.dynamodb);
  raw = new RawReader(fx.config.changeLogTable);
});

afterAll(() => {
  raw?.close();
  fx?.dynamodb.destroy();
  fx?.s3.destroy();
});

/** Shards no writer of these tests uses (writers use 0..leaseShards-1), one per test. */
let nextShard = 100;

async function putInstance(item: {
  shard: number;
  leaseUntil: number;
  n?: number;
  state?: string;
  claimedBy?: string;
  [k: string]: unknown;
}): Promise<string> {
  const pk = newInstanceId();
  await raw.put({ pk, state: 'live', n: 0, ...item });
  return pk;
}

async function collect(gen: AsyncGenerator<InstanceSummary[]>): Promise<InstanceSummary[][]> {
  const pages: InstanceSummary[][] = [];
  for await (const page of gen) pages.push(page);
  return pages;
}

const entry = (id: string, extra: Record<string, unknown> = {}) => ({ v: 1, id, at: 1, ...extra });

describe('listExpired', () => {
  it('pages through more expired instances than a page holds, oldest first, skipping unexpired ones', async () => {
    const shard = nextShard++;
    const cutoff = 10_000;
    const expired: string[] = [];
    for (let i = 0; i < 7; i++) expired.push(await putInstance({ shard, leaseUntil: 1_000 + i }));
    await putInstance({ shard, leaseUntil: cutoff });
    await putInstance({ shard, leaseUntil: cutoff + 5 });
    await putInstance({ shard: shard + 1000, leaseUntil: 1 }); // another shard
    const pages = await collect(table.listExpired(shard, cutoff, 3));
    expect(pages.length).toBeGreaterThanOrEqual(3);
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(3);
    const all = pages.flat();
    expect(all.map((s) => s.instanceId)).toEqual(expired);
    expect(all.map((s) => s.leaseUntil)).toEqual([1000, 1001, 1002, 1003, 1004, 1005, 1006]);
  });

  it('summaries carry state and claimant from the index projection (not the entry counter, which writers change on every record)', async () => {
    const shard = nextShard++;
    const live = await putInstance({ shard, leaseUntil: 5, n: 3 });
    const claimed = await putInstance({ shard, leaseUntil: 6, n: 1, state: 'claimed', claimedBy: 'sweeper-x' });
    const all = (await collect(table.listExpired(shard, 100))).flat();
    expect(all).toEqual([
      { instanceId: live, leaseUntil: 5, state: 'live', claimedBy: undefined },
      { instanceId: claimed, leaseUntil: 6, state: 'claimed', claimedBy: 'sweeper-x' },
    ]);
  });

  it('an empty shard yields one empty page', async () => {
    expect(await collect(table.listExpired(nextShard++, Date.now()))).toEqual([[]]);
  });

  it('finds the instance a real writer left behind, once its lease is past the cutoff', async () => {
    const clock = manualClock();
    const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, clock: clock.clock, renewInBackground: false });
    await log.record(newChangeId(), { id: 'a' });
    const item = (await raw.get(log.instanceId))!;
    const before = (await collect(table.listExpired(item.shard, item.leaseUntil))).flat();
    expect(before.map((s) => s.instanceId)).not.toContain(log.instanceId);
    const after = (await collect(table.listExpired(item.shard, item.leaseUntil + 1))).flat();
    expect(after.find((s) => s.instanceId === log.instanceId)).toMatchObject({ state: 'live' });
    log.close();
  });
});

describe('claim', () => {
  it('returns the entries in its answer; a second claimer gets undefined', async () => {
    const a = newChangeId();
    const b = newChangeId();
    const pk = await putInstance({
      shard: nextShard++,
      leaseUntil: 1_000,
      n: 2,
      [`c_${a}`]: entry('obj-a', { new: 'blobs/a' }),
      [`c_${b}`]: entry('obj-b'),
    });
    const claimed = await table.claim(pk, { cutoff: 2_000, claimant: 'one', until: 50_000 });
    expect(claimed).toBeDefined();
    const parsed = parseInstanceItem(claimed!);
    expect(parsed).toMatchObject({ instanceId: pk, state: 'claimed', claimedBy: 'one', leaseUntil: 50_000, count: 2 });
    expect(parsed.entries.map((e) => e.changeId).sort()).toEqual([a, b].sort());
    expect(parsed.entries.find((e) => e.changeId === a)).toMatchObject({ ok: true, change: { id: 'obj-a', new: 'blobs/a' } });
    expect(await table.claim(pk, { cutoff: 2_000, claimant: 'two', until: 60_000 })).toBeUndefined();
    expect(await raw.get(pk)).toMatchObject({ claimedBy: 'one', leaseUntil: 50_000 });
  });

  it('concurrent claimers: exactly one wins', async () => {
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 1, [`c_${newChangeId()}`]: entry('o') });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => table.claim(pk, { cutoff: 2_000, claimant: `s${i}`, until: 90_000 })),
    );
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    expect((await raw.get(pk))!.claimedBy).toBe(winners[0]!.claimedBy);
  });

  it('refuses an instance whose lease has not ended before the cutoff', async () => {
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 5_000, n: 0 });
    expect(await table.claim(pk, { cutoff: 5_000, claimant: 'one', until: 90_000 })).toBeUndefined();
    expect(await raw.get(pk)).toMatchObject({ state: 'live', leaseUntil: 5_000 });
  });

  it('never creates an item that does not exist', async () => {
    const pk = newInstanceId();
    expect(await table.claim(pk, { cutoff: Number.MAX_SAFE_INTEGER, claimant: 'one', until: 1 })).toBeUndefined();
    expect(await raw.get(pk)).toBeUndefined();
  });

  // A suspect lease is one past the sweeper's horizon, not merely one still running: a writer whose
  // lease came back under the horizon since the index showed it (its clock corrected) is healthy.
  it('a suspect claim takes a live lease past `suspectAbove` only, whatever the cutoff', async () => {
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 5_000, n: 0 });
    expect(await table.claim(pk, { cutoff: 1_000, suspectAbove: 5_000, claimant: 'one', until: 90_000 })).toBeUndefined();
    expect(await raw.get(pk)).toMatchObject({ state: 'live', leaseUntil: 5_000 });
    expect(await table.claim(pk, { cutoff: 1_000, suspectAbove: 4_999, claimant: 'one', until: 90_000 })).toMatchObject({
      state: 'claimed',
      claimedBy: 'one',
    });
  });

  it("a claim that meets a writer's commit on the item (TransactionConflictException) is sent again and lands", async () => {
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 1, [`c_${newChangeId()}`]: entry('o') });
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: (r) => r.command === 'UpdateItemCommand' && String(r.input.UpdateExpression).startsWith('SET #state = :claimed'),
      error: () =>
        Object.assign(new Error('injected: Transaction is ongoing for the item'), {
          name: 'TransactionConflictException',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
        }),
    });
    const client = injector.attach(createDynamoDBClient(), 'dynamodb');
    try {
      const claimed = await new InstanceTable(fx.config, client).claim(pk, { cutoff: 2_000, claimant: 'one', until: 50_000 });
      expect(injector.stats.injected.fail).toBe(1);
      expect(claimed).toMatchObject({ state: 'claimed', claimedBy: 'one' });
    } finally {
      client.destroy();
    }
  });

  it('an expired claim can be taken over by another sweeper', async () => {
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 1, [`c_${newChangeId()}`]: entry('o') });
    expect(await table.claim(pk, { cutoff: 2_000, claimant: 'one', until: 10_000 })).toBeDefined();
    expect(await table.claim(pk, { cutoff: 9_999, claimant: 'two', until: 20_000 })).toBeUndefined();
    expect(await table.claim(pk, { cutoff: 10_001, claimant: 'two', until: 20_000 })).toMatchObject({ claimedBy: 'two' });
  });
});

describe('settle and deleteClaimed', () => {
  async function claimedInstance() {
    const [a, b, c] = [newChangeId(), newChangeId(), newChangeId()];
    const pk = await putInstance({
      shard: nextShard++,
      leaseUntil: 1_000,
      n: 3,
      [`c_${a}`]: entry('a'),
      [`c_${b}`]: entry('b'),
      [`c_${c}`]: entry('c'),
    });
    await table.claim(pk, { cutoff: 2_000, claimant: 'owner', until: 10_000 });
    return { pk, a, b, c };
  }

  it('settle drops entries only under the caller’s own claim', async () => {
    const { pk, a, b, c } = await claimedInstance();
    expect(await table.settle(pk, { claimant: 'intruder', drop: [a], leaseUntil: 1 })).toBe(false);
    expect(RawReader.entryIds(await raw.get(pk))).toEqual([a, b, c].sort());
    expect(await table.settle(pk, { claimant: 'owner', drop: [a, b], leaseUntil: 33_000 })).toBe(true);
    const item = await raw.get(pk);
    expect(RawReader.entryIds(item)).toEqual([c]);
    expect(item).toMatchObject({ n: 1, leaseUntil: 33_000, state: 'claimed', claimedBy: 'owner' });
  });

  it('a settle sent again after it landed (an SDK retry of a lost answer) is recognised, and moves the counter once', async () => {
    const { pk, a, b, c } = await claimedInstance();
    const args = { claimant: 'owner', drop: [a, b], leaseUntil: 33_000 };
    expect(await table.settle(pk, args)).toBe(true);
    expect(await table.settle(pk, args)).toBe(true);
    const item = await raw.get(pk);
    expect(RawReader.entryIds(item)).toEqual([c]);
    expect(item).toMatchObject({ n: 1, leaseUntil: 33_000, state: 'claimed', claimedBy: 'owner' });
  });

  // Its condition fails when an entry it drops is gone: only the exact image of its own landing
  // (our claim, our expiry, every entry gone) is taken for "already done"; anything else is a claim lost.
  it.each([
    ['the item is gone (drained by a sweeper that took the claim over)', 'gone'],
    ['another claimant dropped the same entries with the same expiry', 'other'],
    ['our claim, the entries dropped under another expiry (an earlier settle of ours)', 'expiry'],
    ['our claim, one of the entries still there', 'partly'],
  ] as const)('a settle whose entries are not all there is not taken for its own landing: %s', async (_label, how) => {
    const { pk, a, b, c } = await claimedInstance();
    const args = { claimant: 'owner', drop: [a, b], leaseUntil: 33_000 };
    if (how === 'gone') expect(await table.deleteClaimed(pk, 'owner')).toBe(true);
    if (how === 'other') {
      expect(await table.claim(pk, { cutoff: 10_001, claimant: 'another', until: 20_000 })).toBeDefined();
      expect(await table.settle(pk, { ...args, claimant: 'another' })).toBe(true);
    }
    if (how === 'expiry') expect(await table.settle(pk, { ...args, leaseUntil: 44_000 })).toBe(true);
    if (how === 'partly') expect(await table.settle(pk, { ...args, drop: [b] })).toBe(true);
    const before = await raw.get(pk);
    expect(await table.settle(pk, args)).toBe(false);
    expect(await raw.get(pk)).toEqual(before);
    if (how === 'partly') expect(RawReader.entryIds(before)).toEqual([a, c].sort());
  });

  // An expression past 4 KB is refused: 48 entries a request. A larger drop (an item written by a
  // writer before the cap) would otherwise fail on every sweep, its blobs deleted again each time.
  it('settle drops more entries than one request takes (150), every one of them, the counter with them', async () => {
    const ids = Array.from({ length: 150 }, () => newChangeId());
    const pk = await putInstance({
      shard: nextShard++,
      leaseUntil: 1_000,
      n: ids.length + 1,
      ...Object.fromEntries(ids.map((id) => [`c_${id}`, entry(id)])),
      [`c_${newChangeId()}`]: entry('kept'),
    });
    await table.claim(pk, { cutoff: 2_000, claimant: 'owner', until: 10_000 });
    expect(await table.settle(pk, { claimant: 'owner', drop: ids, leaseUntil: 33_000 })).toBe(true);
    const item = await raw.get(pk);
    expect(RawReader.entryIds(item)).toHaveLength(1);
    expect(item).toMatchObject({ n: 1, leaseUntil: 33_000, state: 'claimed', claimedBy: 'owner' });
  });

  it('settle with nothing to drop only moves the claim’s expiry', async () => {
    const { pk } = await claimedInstance();
    expect(await table.settle(pk, { claimant: 'owner', drop: [], leaseUntil: 44_000 })).toBe(true);
    expect(await raw.get(pk)).toMatchObject({ n: 3, leaseUntil: 44_000 });
  });

  it('settle refuses a live (unclaimed) instance', async () => {
    const a = newChangeId();
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 1, [`c_${a}`]: entry('a') });
    expect(await table.settle(pk, { claimant: 'owner', drop: [a], leaseUntil: 2 })).toBe(false);
    expect(RawReader.entryIds(await raw.get(pk))).toEqual([a]);
  });

  it('deleteClaimed deletes only for the claimant, and never a live instance', async () => {
    const { pk } = await claimedInstance();
    expect(await table.deleteClaimed(pk, 'intruder')).toBe(false);
    expect(await raw.get(pk)).toBeDefined();
    expect(await table.deleteClaimed(pk, 'owner')).toBe(true);
    expect(await raw.get(pk)).toBeUndefined();
    // A repeat (an SDK retry of a delete that landed) reports success; it never re-creates.
    expect(await table.deleteClaimed(pk, 'owner')).toBe(true);
    expect(await raw.get(pk)).toBeUndefined();
    const live = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 0 });
    expect(await table.deleteClaimed(live, 'owner')).toBe(false);
    expect(await raw.get(live)).toBeDefined();
  });
});

describe('retire', () => {
  it('deletes an empty instance whose lease ended before the cutoff; refuses entries or a live lease', async () => {
    const shard = nextShard++;
    const empty = await putInstance({ shard, leaseUntil: 1_000, n: 0 });
    const busy = await putInstance({ shard, leaseUntil: 1_000, n: 1, [`c_${newChangeId()}`]: entry('o') });
    const fresh = await putInstance({ shard, leaseUntil: 5_000, n: 0 });
    expect(await table.retire(busy, 2_000)).toBe(false);
    expect(await table.retire(fresh, 2_000)).toBe(false);
    expect(await table.retire(empty, 2_000)).toBe(true);
    expect(await raw.get(empty)).toBeUndefined();
    expect(await raw.get(busy)).toBeDefined();
    expect(await raw.get(fresh)).toBeDefined();
    expect(await table.retire(empty, 2_000)).toBe(false);
  });

  // The counter is the writer's, kept in the write that adds or removes each entry; an item whose
  // counter says 0 beside entries (a hand edit, another tool's bug) was deleted with them, their
  // blobs then in no log. No condition can name the entries' attributes: the delete returns the item.
  it('an item whose counter says 0 beside an entry is put back as it was and answered as not retired, with the item', async () => {
    const shard = nextShard++;
    const id = newChangeId();
    const miscounted = await putInstance({ shard, leaseUntil: 1_000, n: 0, [`c_${id}`]: entry('o') });
    const before = await raw.get(miscounted);
    const outcome = await table.retireOutcome(miscounted, 2_000);
    expect(outcome).toMatchObject({ applied: false, item: { pk: miscounted, n: 0, [`c_${id}`]: { id: 'o' } } });
    expect(await raw.get(miscounted)).toEqual(before);
  });

  // The put back is a conditional put (no item of its id): when its first attempt landed and its
  // answer was lost, the SDK's retry is refused by the item that attempt wrote. That refusal was
  // taken for another item written in between: a CorruptItemError saying the entries' blobs were
  // in no log, for an item put back whole.
  it("a put back whose answer was lost, refused on the SDK's retry by its own item: put back, not reported lost", async () => {
    const shard = nextShard++;
    const id = newChangeId();
    const miscounted = await putInstance({ shard, leaseUntil: 1_000, n: 0, [`c_${id}`]: entry('o') });
    const before = await raw.get(miscounted);
    const injector = new FaultInjector();
    injector.add({ kind: 'loseResponse', times: 1, match: (r) => r.command === 'PutItemCommand' });
    const client = injector.attach(createDynamoDBClient(), 'dynamodb');
    try {
      const outcome = await new InstanceTable(fx.config, client).retireOutcome(miscounted, 2_000);
      expect(outcome).toMatchObject({ applied: false, item: { pk: miscounted, n: 0, [`c_${id}`]: { id: 'o' } } });
      expect(await raw.get(miscounted)).toEqual(before);
    } finally {
      client.destroy();
    }
  });
});

describe('retire, its answer lost', () => {
  // The delete landed and its answer was lost: the SDK's retry is refused for the item gone. That
  // refusal was taken for another sweeper's retire (or claim and drain): the sweep counted the
  // instance it had retired as skipped (InstancesSkipped), not retired (InstancesRetired).
  it("a retire whose answer was lost, refused on the SDK's retry for the item gone, is answered retired", async () => {
    const empty = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 0 });
    const injector = new FaultInjector();
    injector.add({ kind: 'loseResponse', times: 1, match: (r) => r.command === 'DeleteItemCommand' });
    const client = injector.attach(createDynamoDBClient(), 'dynamodb');
    try {
      expect(await new InstanceTable(fx.config, client).retireOutcome(empty, 2_000)).toEqual({ applied: true });
      expect(injector.stats.injected.loseResponse).toBe(1);
      expect(await raw.get(empty)).toBeUndefined();
    } finally {
      client.destroy();
    }
  });

  it('a retire refused for the item gone, with no attempt of its own that may have landed, is not retired', async () => {
    const empty = await putInstance({ shard: nextShard++, leaseUntil: 1_000, n: 0 });
    expect(await table.retire(empty, 2_000)).toBe(true);
    // Another sweeper's, or a writer gone: its own first attempt refused, nothing of it landed.
    expect(await table.retireOutcome(empty, 2_000)).toEqual({ applied: false, item: undefined });
  });
});

describe('reads', () => {
  it('get parses an item; scanAll pages over every item; a missing table is ResourceMissingError', async () => {
    const pk = await putInstance({ shard: nextShard++, leaseUntil: 7, n: 0 });
    expect(await table.get(pk)).toMatchObject({ instanceId: pk, state: 'live', leaseUntil: 7, count: 0, entries: [] });
    expect(await table.get(newInstanceId())).toBeUndefined();
    let pages = 0;
    const seen = new Set<string>();
    for await (const page of table.scanAll(2)) {
      pages++;
      for (const item of page) seen.add(String(item.pk));
    }
    expect(seen.has(pk)).toBe(true);
    expect(pages).toBeGreaterThan(1);
    const missing = new InstanceTable({ ...fx.config, changeLogTable: 'no-such-changelog' }, fx.dynamodb);
    await expect(missing.get(pk)).rejects.toBeInstanceOf(ResourceMissingError);
    await expect(collect(missing.listExpired(0, 1))).rejects.toBeInstanceOf(ResourceMissingError);
    await expect(collect(missing.listSuspect(0, 1))).rejects.toBeInstanceOf(ResourceMissingError);
    await expect(missing.scanOutsideShards({ segment: 0, segments: 1, maxPages: 1, shards: 1 })).rejects.toBeInstanceOf(
      ResourceMissingError,
    );
    await expect(missing.claim(pk, { cutoff: 1, claimant: 'one', until: 2 })).rejects.toBeInstanceOf(ResourceMissingError);
  });

  // DynamoDB Local reads consistently whatever it is asked; AWS does not. An item read back is the
  // one just written (a writer's scan, the sweeper's read after a claim it lost), not an older image.
  it('get, getRaw and scanAll ask for consistent reads', async () => {
    const recorder = new CommandRecorder();
    const client = recorder.attach(createDynamoDBClient(), 'dynamodb');
    try {
      const reader = new InstanceTable(fx.config, client);
      const pk = await putInstance({ shard: nextShard++, leaseUntil: 7, n: 0 });
      await reader.get(pk);
      await reader.getRaw(pk);
      for await (const _page of reader.scanAll()) break;
      expect(recorder.commands.map((c) => [c.command, c.input.ConsistentRead])).toEqual([
        ['GetItem', true],
        ['GetItem', true],
        ['Scan', true],
      ]);
    } finally {
      client.destroy();
    }
  });

  /** A live item of `pk` (lease 5) written as is, holding `entries` (raw attribute values by name). */
  const putRawLive = (pk: string, entries: Record<string, AttributeValue>) =>
    raw.client.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: {
          pk: { S: pk },
          state: { S: 'live' },
          leaseUntil: { N: '5' },
          n: { N: String(Object.keys(entries).length) },
          shard: { N: String(nextShard++) },
          ...entries,
        },
      }),
    );
  const hugeEntry: AttributeValue = { M: { v: { N: '99999999999999999999' }, id: { S: 'big' }, at: { N: '1' } } };

  // The item a failed condition returns is read as any other: a number no JS number holds (a
  // corrupt entry's) is a string there, never an exception that keeps the item from being claimed.
  it('a refused retire or claim returns the item even when it holds a number too large for a JS number', async () => {
    const pk = newInstanceId();
    const huge = newChangeId();
    await putRawLive(pk, { [`c_${huge}`]: hugeEntry });
    const retired = await table.retireOutcome(pk, 10);
    expect(retired).toMatchObject({ applied: false, item: { pk, n: 1, [`c_${huge}`]: { v: '99999999999999999999' } } });
    const claim = await table.claimOutcome(pk, { cutoff: 5, claimant: 'one', until: 9 });
    expect(claim).toMatchObject({ applied: false, item: { pk, state: 'live', [`c_${huge}`]: { id: 'big' } } });
  });

  it('an entry with a number too large for a JS number reads as corrupt, beside its good neighbour', async () => {
    const pk = newInstanceId();
    const good = newChangeId();
    const huge = newChangeId();
    await putRawLive(pk, { [`c_${good}`]: { M: { v: { N: '1' }, id: { S: 'ok' }, at: { N: '1' } } }, [`c_${huge}`]: hugeEntry });
    const item = await table.get(pk);
    const byId = Object.fromEntries(item!.entries.map((e) => [e.changeId, e]));
    expect(byId[good]).toMatchObject({ ok: true, change: { id: 'ok' } });
    expect(byId[huge]).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown schema version "?99999999999999999999/) });
  });
});

describe('scanOutsideShards', () => {
  it('finds every item whose shard is none of 0..shards-1 (absent, negative, fractional, at or past), with 256 shards (IN lists of 100)', async () => {
    const id = (shard?: number) => putInstance({ leaseUntil: 1, ...(shard !== undefined ? { shard } : {}) } as never);
    const none = await id();
    const negative = await id(-1);
    const fraction = await id(2.5);
    const last = await id(255);
    const past = await id(256);
    const found = await table.scanOutsideShards({ segment: 0, segments: 1, maxPages: 100, shards: 256 });
    expect(found.complete).toBe(true);
    expect(found.withoutShard).toEqual(expect.arrayContaining([none, negative, fraction]));
    // With what the lease index would show of it: the sweeper takes it once its lease ended.
    expect(found.outsideShards).toContainEqual(expect.objectContaining({ instanceId: past, shard: 256, leaseUntil: 1, state: 'live' }));
    const named = [...found.withoutShard, ...found.outsideShards.map((o) => o.instanceId)];
    expect(named).not.toContain(last);
  });

  it('a claimed item outside the shards comes with its claimant, as the lease index would show it', async () => {
    const pk = await putInstance({ shard: 300, leaseUntil: 2, state: 'claimed', claimedBy: 'sweeper-z' });
    const found = await table.scanOutsideShards({ segment: 0, segments: 1, maxPages: 100, shards: 256 });
    expect(found.outsideShards).toContainEqual({
      instanceId: pk,
      shard: 300,
      leaseUntil: 2,
      state: 'claimed',
      claimedBy: 'sweeper-z',
      session: false,
    });
  });

  it('each segment of a parallel scan reads its own part: together they find every item once', async () => {
    const ids = await Promise.all(Array.from({ length: 12 }, () => putInstance({ leaseUntil: 1 } as never)));
    const segment = async (n: number) =>
      (await table.scanOutsideShards({ segment: n, segments: 2, maxPages: 100, shards: 1 })).withoutShard;
    const [first, second] = await Promise.all([segment(0), segment(1)]);
    expect(first.filter((id) => second.includes(id))).toEqual([]);
    expect([...first, ...second]).toEqual(expect.arrayContaining(ids));
  });

  it('a scan that read the last page is complete, even when told to stop or at its page bound', async () => {
    const found = await table.scanOutsideShards({ segment: 0, segments: 1, maxPages: 1, shards: 1, stop: () => true });
    expect(found).toMatchObject({ complete: true });
    expect(found.next).toBeUndefined();
  });
});
