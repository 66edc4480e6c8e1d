/**
 * Housekeeping against the real local servers: an ordinary sweep (`housekeeping: false`, what
 * the construct's every-minute schedule sends) asks the lease index one query per shard and
 * nothing else, so suspect leases and items without a shard wait; a housekeeping sweep (the
 * default, and the construct's every-10-minutes schedule) finds both. Requests are counted by a
 * recorder on the sweeper's own clients; states are read from outside.
 */
import { BatchWriteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { v7 as uuidv7 } from 'uuid';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { newChangeId } from '../../lib/ids.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { makeSweeper, makeWriter, putDeadInstance, putRawInstance, rawInstance, snapshot } from '../tiered/harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** A sweeper on the wall clock whose requests `recorder` sees. */
function recordedSweeper(fx: Fixture, recorder: CommandRecorder) {
  const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
  const s3 = recorder.attach(createS3Client(), 's3');
  const s = makeSweeper(fx, 0, { dynamodb, s3, shardlessScan: { segments: 1, maxPages: 10 } });
  open.push(s, { close: () => (dynamodb.destroy(), s3.destroy()) });
  return s.sweeper;
}

/** Live idle instances (as writers leave them), a writer whose clock runs 3 h ahead, and an item without a shard. */
async function tableWithStuckInstances(fx: Fixture): Promise<{ suspect: string; shardless: string }> {
  for (let shard = 0; shard < fx.config.leaseShards; shard++) {
    await putRawInstance(fx, { shard, leaseUntil: Date.now() + 2 * MIN, entries: {} });
  }
  const ahead = makeWriter(fx, { log: { clock: () => Date.now() + 3 * HOUR } });
  open.push(ahead);
  const objectId = 'ahead/a';
  await ahead.log.record(newChangeId(), {
    id: objectId,
    new: `${fx.config.prefix}/${Buffer.from(objectId).toString('base64url')}/${uuidv7()}`,
  });
  const [shardless] = await putShardless(fx, 1);
  return { suspect: ahead.log.instanceId, shardless: shardless! };
}

/** `count` expired items without a shard (as a writer of a release before shards left them); their ids. */
async function putShardless(fx: Fixture, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push(uuidv7());
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ pk: ids[i], state: 'live', leaseUntil: Date.now() - HOUR, n: 0 }),
      }),
    );
  }
  return ids;
}

/** A client whose Scan pages hold 2 items: a page of 2 stands for one of 1 MB (closed after the test). */
function twoPerPage() {
  const dynamodb = createDynamoDBClient();
  dynamodb.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'ScanCommand') (args.input as { Limit?: number }).Limit = 2;
      return next(args);
    },
    { step: 'initialize', name: 'twoPerPage' },
  );
  open.push({ close: () => dynamodb.destroy() });
  return dynamodb;
}

/** A sweeper logger that adds the ids of each "instances without shard" warning to `found`. */
function shardlessFound(found: { push(...ids: string[]): unknown }) {
  return {
    info() {},
    error() {},
    warn(message: string, attributes?: Record<string, unknown>) {
      if (message === 'instances without shard') found.push(...(attributes!.instanceIds as string[]));
    },
  };
}

/**
 * The write of an instance item in shard 0 as a sweeper's first sighting leaves it: claimed by
 * another, held for its upload window (19 min and `i` ms from now), past the suspect horizon: the
 * suspect query reads it and its filter (live only) drops it.
 */
function farFirstSighting(i: number) {
  return {
    PutRequest: {
      Item: marshall({
        pk: uuidv7(),
        shard: 0,
        state: 'claimed',
        claimedBy: 'another',
        firstSeen: Date.now(),
        leaseUntil: Date.now() + 19 * MIN + i,
        n: 1,
      }),
    },
  };
}

/** Puts three dead idle writers of a setting with 8 shards, in shard 6 (a sweeper on 4 never queries it); answers their ids. */
async function deadIdleWritersInShard6(fx: Fixture): Promise<string[]> {
  const ids = [uuidv7(), uuidv7(), uuidv7()];
  for (const pk of ids) {
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ pk, shard: 6, state: 'live', leaseUntil: Date.now() - HOUR, n: 0 }),
      }),
    );
  }
  return ids;
}

describe('housekeeping', () => {
  test('an ordinary sweep makes one lease-index query per shard and nothing else; a housekeeping sweep finds what it left', async () => {
    const fx = await freshFixture();
    const { suspect } = await tableWithStuckInstances(fx);
    const image = await snapshot(fx);

    const recorder = new CommandRecorder();
    const ordinary = await recordedSweeper(fx, recorder).sweep({ housekeeping: false });
    expect(ordinary).toMatchObject({ suspectLeases: 0, instancesWithoutShard: 0, stuckInstances: 0, instancesClaimed: 0, errors: 0 });
    expect(recorder.commands.map((c) => c.command)).toEqual(Array(fx.config.leaseShards).fill('Query'));
    // Each one the expiry query (`leaseUntil < cutoff`), never the one for suspect leases.
    for (const c of recorder.commands) expect(String(c.input.KeyConditionExpression)).toMatch(/<\s*:cutoff/);
    expect(await snapshot(fx)).toBe(image);

    const full = await recordedSweeper(fx, new CommandRecorder()).sweep();
    expect(full).toMatchObject({ suspectLeases: 1, instancesWithoutShard: 1, stuckInstances: 2, instancesClaimed: 1, errors: 0 });
    expect(await rawInstance(fx, suspect)).toMatchObject({ state: 'claimed' });
  });

  test('a fan-out housekeeping sweep scans only where shard 0 is swept, and queries suspect leases on its own shards', async () => {
    const fx = await freshFixture();
    await tableWithStuckInstances(fx);
    const recorder = new CommandRecorder();
    const report = await recordedSweeper(fx, recorder).sweep({ shards: [1, 2], dryRun: true });
    expect(report.instancesWithoutShard).toBe(0);
    const names = recorder.commands.map((c) => c.command);
    expect(names.filter((n) => n === 'Scan')).toHaveLength(0);
    expect(names.filter((n) => n === 'Query')).toHaveLength(4); // expiry and suspect queries of shards 1 and 2
  });

  // AWS ends a Scan page at 1 MB, so a segment larger than `maxPages` MB (8 x 4 MB by default: some
  // 100 000 instance items) has a part the scan reads only if it goes on where the last one stopped.
  test('the bounded scan goes on where the last housekeeping sweep stopped: successive sweeps read the whole table, however large', async () => {
    const fx = await freshFixture();
    const shardless = await putShardless(fx, 9);
    // One page a sweep: the table is 5 sweeps' worth.
    const found = new Set<string>();
    const logger = shardlessFound({ push: (...ids: string[]) => ids.forEach((id) => found.add(id)) });
    const s = makeSweeper(fx, 0, { dynamodb: twoPerPage(), shardlessScan: { segments: 1, maxPages: 1 }, logger });
    open.push(s);
    const counts: number[] = [];
    // Real sweeps (a dry run leaves the scan where it was): items without a shard are only reported.
    for (let i = 0; i < 5; i++) counts.push((await s.sweeper.sweep()).instancesWithoutShard);
    expect(counts).toEqual([2, 2, 2, 2, 1]);
    expect([...found].sort()).toEqual([...shardless].sort());
    // Read to its end, the next scan starts over.
    expect((await s.sweeper.sweep()).instancesWithoutShard).toBe(2);
  });

  // A sweeper that scanned segment 0 only (the default `Math.random` unread) would leave the items
  // of the other segments, 7 in 8 by default, unreported and untaken; one that went on in a segment
  // where the scan of another stopped would skip or repeat items.
  test('each housekeeping sweep scans the segment its random picks (default Math.random), going on where the last scan of that segment stopped', async () => {
    const fx = await freshFixture();
    const shardless = await putShardless(fx, 12);
    // The items each scan names, in the order it read them.
    const found: string[] = [];
    const logger = shardlessFound(found);
    const segmentRead = async (random?: () => number) => {
      found.length = 0;
      const s = makeSweeper(fx, 0, { shardlessScan: { segments: 2, maxPages: 10 }, logger, ...(random ? { random } : {}) });
      open.push(s);
      expect(await s.sweeper.sweep({ dryRun: true })).toMatchObject({ instancesWithoutShard: found.length, errors: 0 });
      return [...found];
    };
    const segments = [await segmentRead(() => 0), await segmentRead(() => 0.75)];
    expect(segments[0]!.length * segments[1]!.length).toBeGreaterThan(0);
    expect(segments.flat().sort()).toEqual([...shardless].sort());
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.75);
    try {
      expect(await segmentRead()).toEqual(segments[1]);
    } finally {
      random.mockRestore();
    }

    // One page a sweep, segments 0 and 1 in turn.
    let sweeps = 0;
    const s = makeSweeper(fx, 0, {
      dynamodb: twoPerPage(),
      shardlessScan: { segments: 2, maxPages: 1 },
      logger,
      random: () => (sweeps % 2) * 0.75,
    });
    open.push(s);
    const reads: string[][] = [[], []];
    for (; sweeps < 12; sweeps++) {
      found.length = 0;
      expect(await s.sweeper.sweep()).toMatchObject({ errors: 0 });
      reads[sweeps % 2]!.push(...found);
    }
    // Six sweeps of each segment: it read whole, in order, each item once.
    for (const k of [0, 1]) expect(reads[k]!.slice(0, segments[k]!.length)).toEqual(segments[k]);
  });

  test('a sweeper given no shardlessScan scans too: one of 8 segments (the default), picked by Math.random', async () => {
    const fx = await freshFixture();
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    const random = vi.spyOn(Math, 'random').mockReturnValue(0.99);
    try {
      const s = makeSweeper(fx, 0, { dynamodb });
      open.push(s, { close: () => dynamodb.destroy() });
      expect(await s.sweeper.sweep({ dryRun: true })).toMatchObject({ errors: 0 });
    } finally {
      random.mockRestore();
    }
    const scans = recorder.commands.filter((c) => c.command === 'Scan');
    expect(scans.map((c) => [c.input.Segment, c.input.TotalSegments])).toEqual([[7, 8]]);
  });

  // After an outage every dead instance's first sighting holds it for its upload window (20 min),
  // past the suspect horizon (15.5 min): the suspect query reads each one and its filter (live
  // only) drops it. With `Limit` 100 (applied before the filter), 10^5 of them were 250 requests a
  // shard each housekeeping sweep, every page empty; in pages of 1 MB, 3 (the same read units).
  test('the suspect-lease query reads the far leases its filter drops in pages of 1 MB, not of 100 items', async () => {
    const fx = await freshFixture();
    for (let i = 0; i < 300; i += 25) {
      const items = Array.from({ length: 25 }, (_, j) => farFirstSighting(i + j));
      await fx.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [fx.config.changeLogTable]: items } }));
    }
    const recorder = new CommandRecorder();
    const report = await recordedSweeper(fx, recorder).sweep({ shards: [0] });
    expect(report).toMatchObject({ suspectLeases: 0, instancesClaimed: 0, errors: 0 });
    const suspectQueries = recorder.commands.filter(
      (c) => c.command === 'Query' && String(c.input.KeyConditionExpression).includes(':horizon'),
    );
    expect(suspectQueries).toHaveLength(1);
  });

  // Ctrl-C on `tierlog sweep` (its signal) takes no instance more, but the suspect query went on
  // page after page: its filter left them empty, so nothing came to `take` to stop it, and after an
  // outage (10^5 first sightings past the horizon) the interrupted sweep read the whole index first.
  test('a sweep whose signal is aborted reads no page more of the suspect query, and says it stopped early', async () => {
    const fx = await freshFixture();
    const items = Array.from({ length: 20 }, (_, i) => farFirstSighting(i));
    await fx.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [fx.config.changeLogTable]: items } }));
    // Pages of 2 stand for pages of 1 MB; the signal is aborted once the first page has come.
    const controller = new AbortController();
    const dynamodb = createDynamoDBClient();
    let suspectPages = 0;
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Limit?: number; KeyConditionExpression?: string };
        const suspect = context.commandName === 'QueryCommand' && String(input.KeyConditionExpression).includes(':horizon');
        if (suspect) input.Limit = 2;
        const out = await next(args);
        if (suspect && ++suspectPages === 1) controller.abort();
        return out;
      },
      { step: 'initialize', name: 'suspectPagesOfTwo' },
    );
    open.push({ close: () => dynamodb.destroy() });
    const s = makeSweeper(fx, 0, { dynamodb, shardlessScan: false });
    open.push(s);
    const report = await s.sweeper.sweep({ shards: [0], signal: controller.signal });
    expect(report).toMatchObject({ stoppedEarly: true, instancesClaimed: 0, errors: 0 });
    // The page that was on its way when the signal came, no more (of the 11 the query has).
    expect(suspectPages).toBeLessThanOrEqual(2);
  });

  // The bounded scan asked whether to stop only once the sweep was cut off: Ctrl-C on `tierlog sweep`
  // (its signal) took no instance more, but the scan read on to its page bound (up to 100 pages of
  // 1 MB) before the sweep could answer, and its pages left unread were not told as work left.
  test('a sweep whose signal is aborted reads no page more of the bounded scan, says it stopped early, and the next scan goes on from there', async () => {
    const fx = await freshFixture();
    await putShardless(fx, 20);
    const controller = new AbortController();
    let scanPages = 0;
    const dynamodb = twoPerPage();
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (context.commandName === 'ScanCommand' && ++scanPages === 1) controller.abort();
        return out;
      },
      { step: 'initialize', name: 'abortAfterFirstScanPage' },
    );
    const s = makeSweeper(fx, 0, { dynamodb, shardlessScan: { segments: 1, maxPages: 100 } });
    open.push(s);
    const first = await s.sweeper.sweep({ shards: [0], signal: controller.signal });
    expect(first).toMatchObject({ stoppedEarly: true, errors: 0 });
    // The page that was on its way when the signal came, no more (of the 10 the scan has).
    expect(scanPages).toBeLessThanOrEqual(2);
    // What it read is not read again, nor what it left skipped: the next scan goes on from there.
    const second = await s.sweeper.sweep({ shards: [0] });
    expect(second).toMatchObject({ stoppedEarly: false, errors: 0 });
    expect(first.instancesWithoutShard + second.instancesWithoutShard).toBe(20);
  });

  // The scan goes on, in the next scan of its segment, where this one stopped: pages whose items a
  // sweep stopped (its signal, its deadline) before taking were never read again until the scan of
  // the segment came round, a whole pass of the table later.
  test('items outside the lease shards a sweep stopped before taking are read again by the next scan of their segment', async () => {
    const fx = await freshFixture();
    const ids = await deadIdleWritersInShard6(fx);
    // The sweep is stopped (Ctrl-C) once the first of them is retired: the second is left.
    const controller = new AbortController();
    const dynamodb = twoPerPage();
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const out = await next(args);
        if (/Delete/.test(context.commandName ?? '')) controller.abort();
        return out;
      },
      { step: 'initialize', name: 'stopAfterRetire' },
    );
    const s = makeSweeper(fx, 0, { dynamodb, shardlessScan: { segments: 1, maxPages: 1 }, concurrency: 1 });
    open.push(s);
    const first = await s.sweeper.sweep({ signal: controller.signal });
    expect(first).toMatchObject({ instancesOutsideShards: 2, instancesRetired: 1, stoppedEarly: true, errors: 0 });
    // The next scan reads that page again: the one left is retired with the rest.
    expect(await s.sweeper.sweep()).toMatchObject({ instancesRetired: 2, errors: 0 });
    for (const id of ids) expect(await rawInstance(fx, id)).toBeUndefined();
  });

  // A sweep on a machine whose clock is off AWS's takes no instance (the refusal of `take`): the
  // scan's pages were left read past, so once the clock was set right, the items on them waited a
  // whole pass of the table, not the next scan of their segment, as those a deadline stopped do.
  test('items outside the lease shards a clock off AWS refused are read again by the next scan of their segment, once the clock is right', async () => {
    const fx = await freshFixture();
    const ids = await deadIdleWritersInShard6(fx);
    // AWS's clock, as the answers' Date header tells it: three minutes behind this machine's, then right.
    let awsAheadMs = -3 * MIN;
    const dynamodb = twoPerPage();
    dynamodb.middlewareStack.add(
      (next) => async (args) => {
        const out = await next(args);
        const response = out.response as { headers?: Record<string, string> } | undefined;
        if (response?.headers !== undefined) response.headers.date = new Date(Date.now() + awsAheadMs).toUTCString();
        return out;
      },
      { step: 'deserialize', name: 'serverClockAt' },
    );
    const s3 = createS3Client();
    open.push({ close: () => s3.destroy() });
    // The default clock (the machine's), checked against AWS's; one sweeper, as a warm Lambda keeps it.
    const sweeper = new Sweeper({ config: fx.config, dynamodb, s3, shardlessScan: { segments: 1, maxPages: 1 }, concurrency: 1 });
    const refused = await sweeper.sweep();
    expect(refused).toMatchObject({ instancesOutsideShards: 2, instancesRetired: 0, errors: 1 });
    for (const id of ids) expect(await rawInstance(fx, id)).toBeDefined();
    awsAheadMs = 0;
    // The next scan reads the refused page again: both its items are retired.
    expect(await sweeper.sweep()).toMatchObject({ instancesOutsideShards: 2, instancesRetired: 2, errors: 0 });
  });

  // The deployed function takes `{"dryRun": true}` (README): on a warm environment, the one the
  // schedules' sweeps run in, a dry run that moved the scan on made the next real sweep start past
  // the pages it read, so the items there it only previewed were left until the scan came round.
  test('a dry run leaves the scan where it was: the next real sweep takes the items outside the lease shards the dry run read', async () => {
    const fx = await freshFixture();
    // Four dead idle writers of a setting with 8 shards, in shard 6 (the sweeper's 4 never query it).
    const ids = [uuidv7(), uuidv7(), uuidv7(), uuidv7()];
    for (const pk of ids) {
      await fx.dynamodb.send(
        new PutItemCommand({
          TableName: fx.config.changeLogTable,
          Item: marshall({ pk, shard: 6, state: 'live', leaseUntil: Date.now() - HOUR, n: 0 }),
        }),
      );
    }
    const previewed: string[] = [];
    const logger = {
      info() {},
      error() {},
      warn(message: string, attributes?: Record<string, unknown>) {
        if (message.startsWith('instances outside the lease shards'))
          previewed.push(...(attributes!.instances as Array<{ instanceId: string }>).map((i) => i.instanceId));
      },
    };
    // One sweeper, as a warm Lambda keeps it between invocations; two items a page, one page a sweep.
    const s = makeSweeper(fx, 0, { dynamodb: twoPerPage(), shardlessScan: { segments: 1, maxPages: 1 }, logger });
    open.push(s);
    expect(await s.sweeper.sweep({ dryRun: true })).toMatchObject({ instancesOutsideShards: 2, instancesRetired: 0, errors: 0 });
    expect(previewed).toHaveLength(2);
    for (const id of ids) expect(await rawInstance(fx, id)).toBeDefined();
    expect(await s.sweeper.sweep()).toMatchObject({ instancesOutsideShards: 2, instancesRetired: 2, errors: 0 });
    for (const id of previewed) expect(await rawInstance(fx, id)).toBeUndefined();
  });

  test('a bounded scan that fails is counted among the errors (SweepErrors); the shards are swept all the same', async () => {
    const fx = await freshFixture();
    const dead = await putDeadInstance(fx, { fenced: true, shard: 1 });
    const dynamodb = createDynamoDBClient();
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ScanCommand')
          throw Object.assign(new Error('Throughput exceeds the current capacity'), { name: 'ThrottlingException' });
        return next(args);
      },
      { step: 'initialize', name: 'scanFails' },
    );
    const errors: string[] = [];
    const logger = { info() {}, warn() {}, error: (message: string) => errors.push(message) };
    const s = makeSweeper(fx, 0, { dynamodb, shardlessScan: { segments: 1, maxPages: 10 }, logger });
    open.push(s, { close: () => dynamodb.destroy() });
    const report = await s.sweeper.sweep();
    expect(report).toMatchObject({ errors: 1, entriesRecovered: 1, instancesDrained: 1, instancesWithoutShard: 0 });
    expect(errors).toEqual(['scan for instances outside the lease shards failed']);
    expect(await rawInstance(fx, dead.instanceId)).toBeUndefined();
  });

  test('a random that throws or answers no number fails the scan (counted), not the sweep: it answered with the shards still being settled', async () => {
    const fx = await freshFixture();
    for (const random of [
      () => {
        throw new Error('no entropy');
      },
      () => Number.NaN,
      () => 'half' as unknown as number,
    ]) {
      const dead = await putDeadInstance(fx, { fenced: true, shard: 1 });
      const errors: string[] = [];
      const logger = { info() {}, warn() {}, error: (message: string) => errors.push(message) };
      const s = makeSweeper(fx, 0, { random, shardlessScan: { segments: 4, maxPages: 10 }, logger });
      open.push(s);
      const report = await s.sweeper.sweep();
      expect(report, String(random)).toMatchObject({ errors: 1, entriesRecovered: 1, instancesDrained: 1 });
      expect(errors).toEqual(['scan for instances outside the lease shards failed']);
      expect(await rawInstance(fx, dead.instanceId)).toBeUndefined();
    }
  });

  test("a random that is no function (a JS caller's random: 0.5) is refused at construction, naming it", async () => {
    const fx = await freshFixture();
    expect(() => new Sweeper({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, random: 0.5 as unknown as () => number })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'random' }),
    );
  });
});
