/**
 * Stuck instances against the real local servers: a writer whose clock runs hours ahead (its
 * lease lies beyond any writer's reach), an item without a shard (never in the lease index), and
 * an item a writer with more lease shards than the sweeper put in a shard the sweeper never
 * queries. The sweeper claims the first at once and recovers its entries one upload window later
 * on its own clock, reports the others and leaves them alone; `tierlog status` lists them.
 */
import { DeleteItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, test } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { DynamoChangeLog, shardOf } from '../../lib/changelog/dynamo-change-log.js';
import { collectStatus, formatStatus } from '../../lib/cli/status.js';
import { DEFAULT_MAX_UPLOAD_MS, MAX_WRITER_LEASE_MS } from '../../lib/constants.js';
import { ValidationError } from '../../lib/errors.js';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { SweepIncompleteError, Sweeper } from '../../lib/recovery/sweeper.js';
import { newChangeId } from '../../lib/ids.js';
import { addSweepMetrics, SWEEP_METRICS } from '../../lib/recovery/sweep-metrics.js';
import { type Fixture, freshFixture, listKeys, scanAll } from '../support/local.js';
import { SESSION_ID_PREFIX } from '../../lib/schema/tables.js';
import {
  expectClean,
  expectFencedOnly,
  makeSweeper,
  makeWriter,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  putRawInstance,
  rawGetObject,
  rawInstance,
  rawPutObject,
  recordedSweep,
  type SweeperAtOptions,
  snapshot,
  sweepersClosedAfterEach,
} from '../tiered/harness.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const sweepers = sweepersClosedAfterEach();
const open = sweepers.open;

function blobKey(fx: Fixture, objectId: string): string {
  return `${fx.config.prefix}/${Buffer.from(objectId, 'utf8').toString('base64url')}/${uuidv7()}`;
}

/** Every sweep here scans the whole table for items without a shard. */
const SCAN = { shardlessScan: { segments: 1, maxPages: 10 } } as const;

function sweeperAt(fx: Fixture, offsetMs: number, options: SweeperAtOptions = {}) {
  return sweepers.sweeperAt(fx, offsetMs, { ...SCAN, ...options });
}

function statusCtx(fx: Fixture, now: number) {
  const io = { stdout: { write: () => true }, stderr: { write: () => true } };
  return { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => now, io } as unknown as Parameters<typeof collectStatus>[0];
}

describe('a writer whose clock runs 3 h ahead', () => {
  test('its lease is suspect: reported, claimed at once, its entries recovered on the sweeper clock', async () => {
    const fx = await freshFixture();
    const ahead = makeWriter(fx, { log: { clock: () => Date.now() + 3 * HOUR } });
    open.push(ahead);
    const uploaded = blobKey(fx, 'ahead/a');
    const never = blobKey(fx, 'ahead/b');
    await ahead.log.record(newChangeId(), { id: 'ahead/a', new: uploaded });
    await ahead.log.record(newChangeId(), { id: 'ahead/b', new: never });
    await rawPutObject(fx, uploaded, 'orphan');
    const instanceId = ahead.log.instanceId;

    // `status` shows it as stuck.
    const status = await collectStatus(statusCtx(fx, Date.now()));
    expect(status.stuck.suspectLeases.map((s) => s.instanceId)).toEqual([instanceId]);
    expect(status.stuck.suspectLeases[0]!.leaseAheadMs).toBeGreaterThan(2 * HOUR);
    expect(formatStatus(status).join('\n')).toMatch(/stuck instances {2}1/);

    // A sweep now: the lease is hours ahead, yet the instance is claimed (fenced), and held until
    // the upload window closes on the sweeper's clock; nothing is judged at this first sighting.
    const fence = await recordedSweep(fx, 0, SCAN);
    expect(fence.report).toMatchObject({ suspectLeases: 1, stuckInstances: 1 });
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 1, deferred: 2 }, expect);
    expect(await rawGetObject(fx, uploaded)).toBeDefined();
    const claimed = (await rawInstance(fx, instanceId))!;
    expect(claimed).toMatchObject({ state: 'claimed', claimedBy: fence.sweeperId });
    expect(claimed.leaseUntil).toBe((claimed.firstSeen as number) + DEFAULT_MAX_UPLOAD_MS);
    expect(claimed.firstSeen as number).toBeLessThan(Date.now() + MIN); // the sweeper's clock, not the writer's
    // Claimed and held for the upload window (further ahead than any writer's lease): the lease is
    // the sweeper's now, and `status` no longer lists it as suspect.
    expect(claimed.leaseUntil as number).toBeGreaterThan(Date.now() + MAX_WRITER_LEASE_MS + MIN);
    expect((await collectStatus(statusCtx(fx, Date.now()))).stuck.suspectLeases).toEqual([]);

    // Inside the window (past the claim's own 5 min): no longer suspect, and left alone.
    expect(await sweeperAt(fx, 10 * MIN).sweep()).toMatchObject({ suspectLeases: 0, instancesClaimed: 0 });

    // Fenced: its claimed instance takes no more records; the writer goes on under a new instance
    // (whose lease is as far ahead: suspect too, and claimed by the next sweep).
    await ahead.store.put('ahead/c', new Uint8Array(40 * 1024));
    expect(ahead.log.instanceId).not.toBe(instanceId);
    const later = await sweeperAt(fx, 21 * MIN).sweep();
    expect(later).toMatchObject({ suspectLeases: 1, instancesClaimed: 2, entriesRecovered: 2, errors: 0 });
    expect(await rawInstance(fx, instanceId)).toBeUndefined();
    expect(await rawGetObject(fx, uploaded)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('a lease within reach is not suspect: a live writer is left alone', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx, { log: { clock: () => Date.now() + 10 * MIN } });
    open.push(w);
    await w.log.record(newChangeId(), { id: 'near/a', new: blobKey(fx, 'near/a') });
    const image = await snapshot(fx);
    expect(await sweeperAt(fx, 0).sweep()).toMatchObject({ suspectLeases: 0, stuckInstances: 0, instancesClaimed: 0 });
    expect(await snapshot(fx)).toBe(image);
  });
});

describe('an upload session made before session ids took their prefix (a bare UUIDv7)', () => {
  // Its lease (its expiry plus the grace, a day ahead) passes the suspect horizon, and the lease
  // index's filter knows sessions by the id's prefix alone: the suspect query shows it, the claim
  // refuses it (it has an `upload` attribute). It was counted as a suspect lease and a stuck
  // instance (and skipped) by every housekeeping sweep of its life, and listed by status as one.
  test('is no suspect lease: not counted stuck nor skipped, not claimed; status lists no stuck item', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const created = await w.store.createUpload('legacy/session', { expiresInMs: 2 * 24 * HOUR });
    const item = (await rawInstance(fx, created.uploadId))!;
    const legacyId = uuidv7();
    const { pk: _pk, [`c_${created.uploadId}`]: entry, ...header } = item;
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ ...header, pk: legacyId, [`c_${legacyId}`]: entry }, { removeUndefinedValues: true }),
      }),
    );
    await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: marshall({ pk: created.uploadId }) }));
    const image = await snapshot(fx);
    const warned: string[] = [];
    const report = await sweeperAt(fx, 0, { logger: { info() {}, warn: (m) => warned.push(m), error() {} } }).sweep();
    expect(report).toMatchObject({ suspectLeases: 0, stuckInstances: 0, instancesSkipped: 0, instancesClaimed: 0, errors: 0 });
    expect(warned).not.toContain('suspect lease');
    expect(await snapshot(fx)).toBe(image);
    const status = await collectStatus(statusCtx(fx, Date.now()));
    expect(status.stuck.suspectLeases).toEqual([]);
  });
});

describe("a suspect-lease query page read after the sweep's start", () => {
  test("a live writer whose lease was renewed since, within a writer's reach on the sweeper's clock then, is not taken for suspect or claimed", async () => {
    const fx = await freshFixture({ leaseShards: 1 });
    const t0 = Date.now();
    let offset = 0;
    // A writer whose clock runs a minute ahead: its lease is suspect, and the query's first page shows it.
    const ahead = await putRawInstance(fx, {
      shard: 0,
      leaseUntil: t0 + MAX_WRITER_LEASE_MS + 70_000,
      entries: { [newChangeId()]: { v: 1, id: 's', at: t0 } },
    });
    // A live writer, its lease within reach when the sweep starts.
    const live = await putRawInstance(fx, { shard: 0, leaseUntil: t0 + 5 * MIN, entries: { [newChangeId()]: { v: 1, id: 'w', at: t0 } } });
    const dynamodb = createDynamoDBClient();
    open.push({ close: () => dynamodb.destroy() });
    let suspectPages = 0;
    // One item a page, and ten minutes pass (a pool busy with a backlog) before the second page is
    // read; meanwhile the live writer's next invocation renewed its lease as far as any writer takes it.
    (dynamodb.middlewareStack as { add(m: unknown, o: unknown): void }).add(
      (next: (args: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input: Record<string, unknown> }) => {
          if (context.commandName === 'QueryCommand' && String(args.input.KeyConditionExpression).includes('> :horizon')) {
            args.input.Limit = 1;
            if (++suspectPages === 2) {
              offset = 10 * MIN;
              await putRawInstance(fx, {
                instanceId: live,
                shard: 0,
                leaseUntil: Date.now() + offset + MAX_WRITER_LEASE_MS,
                entries: { [newChangeId()]: { v: 1, id: 'w', at: t0 } },
              });
            }
          }
          return next(args);
        },
      { step: 'initialize', name: 'suspectPageLate' },
    );
    const sweeper = new Sweeper({ config: fx.config, dynamodb, clock: () => Date.now() + offset, shardlessScan: false });
    const report = await sweeper.sweep();
    expect(suspectPages, 'the second page was read').toBeGreaterThanOrEqual(2);
    expect(await rawInstance(fx, ahead)).toMatchObject({ state: 'claimed' });
    expect(await rawInstance(fx, live)).toMatchObject({ state: 'live' });
    expect(report).toMatchObject({ suspectLeases: 1, instancesClaimed: 1 });
  });
});

describe('a suspect instance whose writer renewed its lease within reach between the query and the claim', () => {
  // A writer whose first lease was written on a clock hours ahead (before its clock, or the SDK's
  // measure of AWS's, was set right) renews on AWS's time: as far ahead as any writer takes a lease.
  // The sweep read the suspect lease at its start, and claims minutes later (a busy pool).
  test.each([false, true])(
    'dryRun %s: not claimed (nor counted as one a sweep would recover): the live writer is not fenced',
    async (dryRun) => {
      const fx = await freshFixture({ leaseShards: 1 });
      let offset = 0;
      const ahead = await putRawInstance(fx, {
        shard: 0,
        leaseUntil: Date.now() + 3 * HOUR,
        entries: { [newChangeId()]: { v: 1, id: 's', at: Date.now() } },
      });
      const dynamodb = createDynamoDBClient();
      open.push({ close: () => dynamodb.destroy() });
      let renewed = 0;
      (dynamodb.middlewareStack as { add(m: unknown, o: unknown): void }).add(
        (next: (args: { input: Record<string, unknown> }) => Promise<unknown>, context: { commandName?: string }) =>
          async (args: { input: Record<string, unknown> }) => {
            const claimOrRead = ['UpdateItemCommand', 'GetItemCommand'].includes(context.commandName ?? '');
            if (claimOrRead && JSON.stringify(args.input).includes(ahead) && renewed++ === 0) {
              await putRawInstance(fx, {
                instanceId: ahead,
                shard: 0,
                leaseUntil: Date.now() + offset + MAX_WRITER_LEASE_MS,
                entries: { [newChangeId()]: { v: 1, id: 's', at: Date.now() } },
              });
            }
            const out = await next(args);
            // Five minutes pass once the suspect query is answered (the pool busy with a backlog).
            if (context.commandName === 'QueryCommand' && String(args.input.KeyConditionExpression).includes('> :horizon'))
              offset = 5 * MIN;
            return out;
          },
        { step: 'initialize', name: 'renewedBeforeClaim' },
      );
      const sweeper = new Sweeper({ config: fx.config, dynamodb, clock: () => Date.now() + offset, shardlessScan: false });
      const report = await sweeper.sweep({ dryRun });
      expect(renewed, "the item was renewed before the claim (or the dry run's read)").toBeGreaterThan(0);
      expect(await rawInstance(fx, ahead)).toMatchObject({ state: 'live' });
      expect(report).toMatchObject({ instancesClaimed: 0, instancesSkipped: 1, entriesDeferred: 0, errors: 0 });
    },
  );
});

describe('a housekeeping sweep cut off behind a backlog of expired instances', () => {
  test('has still claimed the suspect lease in the same shard (its query goes first) and reported it', async () => {
    const fx = await freshFixture();
    const ahead = makeWriter(fx, { log: { clock: () => Date.now() + 3 * HOUR } });
    open.push(ahead);
    await ahead.log.record(newChangeId(), { id: 'ahead/backlog', new: blobKey(fx, 'ahead/backlog') });
    const suspect = ahead.log.instanceId;
    const shard = shardOf(suspect, fx.config.leaseShards);
    // 30 dead writers' empty items in the suspect's shard: more than this sweep gets through.
    await putEmptyExpired(fx, shard, 30);
    // The sweep is stopped once its third retire is sent (a deadline reached, in effect).
    const stop = new AbortController();
    let retires = 0;
    const dynamodb = createDynamoDBClient();
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteItemCommand' && ++retires === 3) stop.abort();
        return next(args);
      },
      { step: 'initialize', name: 'stopAtThirdRetire' },
    );
    try {
      const report = await sweeperAt(fx, 0, { dynamodb, concurrency: 1 }).sweep({ signal: stop.signal, shards: [shard] });
      expect(report.stoppedEarly).toBe(true);
      expect(report.instancesRetired).toBeLessThan(30);
      expect(report).toMatchObject({ suspectLeases: 1, stuckInstances: 1 });
      expect((await rawInstance(fx, suspect))!.state).toBe('claimed');
    } finally {
      dynamodb.destroy();
    }
  });
});

describe('a housekeeping sweep whose suspect-lease query fails', () => {
  /**
   * A client whose suspect-lease queries (a lease-index Query for leases above a horizon) fail with
   * a 500; `answered` is told the name of every other command once it is answered.
   */
  function failingSuspectQueries(answered?: (command: string | undefined) => void) {
    const dynamodb = createDynamoDBClient();
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { KeyConditionExpression?: string };
        if (context.commandName === 'QueryCommand' && input.KeyConditionExpression?.includes('>')) {
          throw awsServiceError('InternalServerError', 500);
        }
        const out = await next(args);
        answered?.(context.commandName);
        return out;
      },
      { step: 'initialize', name: 'failSuspectQuery' },
    );
    return dynamodb;
  }

  test('still takes the expired instances of that shard, then fails with what it did', async () => {
    const fx = await freshFixture();
    const shard = 1;
    await putEmptyExpired(fx, shard, 2);
    const dynamodb = failingSuspectQueries();
    try {
      const failed = await sweeperAt(fx, 0, { dynamodb })
        .sweep({ shards: [shard] })
        .catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(SweepIncompleteError);
      expect((failed as SweepIncompleteError).report).toMatchObject({ instancesRetired: 2, errors: 1 });
    } finally {
      dynamodb.destroy();
    }
  });

  // The shard's finding ended early (the deadline, the signal) while its expired instances were
  // taken: the suspect query's failure, thrown after them, was dropped with the rest, and the sweep
  // answered a report of no error (SweepErrors 0, `tierlog sweep` exit 0).
  test('stopped while taking the expired instances of that shard, it still fails with what it did', async () => {
    const fx = await freshFixture();
    const shard = 1;
    await putEmptyExpired(fx, shard, 3);
    const stop = new AbortController();
    // Stopped as its first retire is answered.
    const dynamodb = failingSuspectQueries((command) => command === 'DeleteItemCommand' && stop.abort());
    try {
      const failed = await sweeperAt(fx, 0, { dynamodb, concurrency: 1 })
        .sweep({ shards: [shard], signal: stop.signal })
        .catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(SweepIncompleteError);
      expect((failed as SweepIncompleteError).report).toMatchObject({ instancesRetired: 1, stoppedEarly: true, errors: 1 });
    } finally {
      dynamodb.destroy();
    }
  });
});

describe('the longest writer lease', () => {
  test('a writer lease the sweeper would take for a clock running ahead is refused; the longest accepted is left alone', async () => {
    const fx = await freshFixture();
    const options = { config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false };
    // 20 min (a service with long uploads, say): every housekeeping sweep would claim the live writer as suspect.
    expect(() => new DynamoChangeLog({ ...options, leaseMs: 20 * MIN })).toThrow(ValidationError);
    expect(() => new DynamoChangeLog({ ...options, leaseMs: MAX_WRITER_LEASE_MS + 1 })).toThrow(/leaseMs must be at most/);
    // A 15-minute invocation plus a 60 s margin reaches as far.
    expect(() => new DynamoChangeLog({ ...options, invocationLeaseMarginMs: 60_000 })).toThrow(/invocationLeaseMarginMs/);

    const longest = new DynamoChangeLog({ ...options, leaseMs: MAX_WRITER_LEASE_MS });
    open.push(longest);
    await longest.record(newChangeId(), { id: 'long/a', new: blobKey(fx, 'long/a') });
    const lambda = new DynamoChangeLog(options);
    open.push(lambda);
    lambda.bindInvocation({ getRemainingTimeInMillis: () => 15 * MIN });
    await lambda.record(newChangeId(), { id: 'long/b', new: blobKey(fx, 'long/b') });
    // A deadline further ahead than an invocation lasts would make the same suspect lease.
    expect(() => lambda.setInvocationDeadline(Date.now() + 20 * MIN)).toThrow(/invocation deadline/);
    expect(() => lambda.bindInvocation({ getRemainingTimeInMillis: () => Number.POSITIVE_INFINITY })).toThrow(ValidationError);
    const image = await snapshot(fx);
    expect(await sweeperAt(fx, 0).sweep()).toMatchObject({ suspectLeases: 0, stuckInstances: 0, instancesClaimed: 0 });
    expect(await snapshot(fx)).toBe(image);
  });
});

/**
 * Puts an expired instance item whose `shard` is `shard` (absent when undefined; its `leaseUntil`
 * too with `noLease`), with one entry
 * naming a blob that exists, and sweeps once: the report, what the sweep warned, and whether the
 * tables and the bucket are as they were.
 */
async function sweepStranded(fx: Fixture, key: string, shard: number | undefined, options: { noLease?: boolean } = {}) {
  const blob = blobKey(fx, key);
  await rawPutObject(fx, blob, 'kept');
  const instanceId = uuidv7();
  await fx.dynamodb.send(
    new PutItemCommand({
      TableName: fx.config.changeLogTable,
      Item: marshall({
        pk: instanceId,
        state: 'live',
        ...(options.noLease === true ? {} : { leaseUntil: Date.now() - HOUR }),
        ...(shard !== undefined ? { shard } : {}),
        n: 1,
        [`c_${newChangeId()}`]: { v: 1, id: key, new: blob, at: Date.now() - HOUR },
      }),
    }),
  );
  const image = await snapshot(fx);
  const lines: string[] = [];
  const report = await sweeperAt(fx, 0, {
    logger: { info() {}, warn: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`), error() {} },
  }).sweep();
  // Found by the bounded scan, reported as stuck with no shard, never acted on.
  expect(report).toMatchObject({ instancesWithoutShard: 1, stuckInstances: 1, instancesClaimed: 0, blobsDeleted: 0, errors: 0 });
  expect(lines.join('\n')).toContain(instanceId);
  expect(await snapshot(fx)).toBe(image);
  return { instanceId, report };
}

describe('an item without a shard', () => {
  test('found by the bounded scan, reported as stuck, never acted on; status lists it', async () => {
    const fx = await freshFixture();
    const { instanceId, report } = await sweepStranded(fx, 'noshard/x', undefined);

    const metrics: Record<string, number> = {};
    addSweepMetrics({ addMetric: (name, _unit, value) => (metrics[name] = value) }, report);
    expect(metrics[SWEEP_METRICS.stuckInstances]).toBe(1);

    const status = await collectStatus(statusCtx(fx, Date.now()));
    expect(status.stuck.withoutShard).toEqual([instanceId]);
    expect(formatStatus(status).join('\n')).toContain(`${instanceId}  no lease shard or no lease`);

    // A fan-out sweep of other shards does not scan.
    expect(await sweeperAt(fx, 0).sweep({ shards: [1] })).toMatchObject({ instancesWithoutShard: 0 });
  });
});

describe('an item whose shard no lease-index query reads (negative, fractional: a corrupt item)', () => {
  // It was silent: in no shard's query, and not caught by the scan's filter (absent, or at or past leaseShards).
  test.each([-1, 1.5])(
    'shard %d: found by the bounded scan, reported as stuck with no shard, never acted on; status lists it so',
    async (shard) => {
      const fx = await freshFixture();
      const { instanceId } = await sweepStranded(fx, 'badshard/x', shard);
      // What the sweep counted in StuckInstances, `tierlog status` lists with the stuck instances
      // (it listed none: the alarm fired while status said "stuck instances 0").
      const status = await collectStatus(statusCtx(fx, Date.now()));
      expect(status.stuck.withoutShard).toEqual([instanceId]);
      expect(formatStatus(status).join('\n')).toMatch(/stuck instances {2}1/);
    },
  );
});

describe('an item with a lease shard but no leaseUntil (corrupt, or written by hand)', () => {
  // The lease index is sparse on its sort key: no query of any shard shows the item, and the
  // scan's filter (a shard outside the queried ones) left it out. Its entries were never
  // recovered, with no count and no alarm.
  test('found by the bounded scan, reported as stuck, never acted on; status lists it with the stuck instances', async () => {
    const fx = await freshFixture();
    const { instanceId } = await sweepStranded(fx, 'nolease/x', fx.config.leaseShards - 1, { noLease: true });
    const status = await collectStatus(statusCtx(fx, Date.now()));
    expect(status.stuck.withoutShard).toEqual([instanceId]);
    expect(formatStatus(status).join('\n')).toMatch(/stuck instances {2}1/);
    // It has a shard: what the line says is that no lease-index query shows it, not that it has none.
    expect(formatStatus(status)).toContain(
      `  ${instanceId}  no lease shard or no lease: the lease index never shows it (see "tierlog inspect ${instanceId}")`,
    );
  });
});

/** `count` empty instance items in `shard` whose leases ended an hour ago (dead writers that left nothing). */
async function putEmptyExpired(fx: Fixture, shard: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ pk: uuidv7(), state: 'live', shard, leaseUntil: Date.now() - HOUR, n: 0 }),
      }),
    );
  }
}

/** A real writer's change log configured with `leaseShards`, whose instance lands in `shard`. */
function writerInShard(fx: Fixture, leaseShards: number, shard: number): DynamoChangeLog {
  for (let i = 0; i < 1000; i++) {
    const log = new DynamoChangeLog({ config: { ...fx.config, leaseShards }, dynamodb: fx.dynamodb, renewInBackground: false });
    if (shardOf(log.instanceId, leaseShards) === shard) return log;
    log.close();
  }
  throw new Error(`no instance id in shard ${shard} of ${leaseShards}`);
}

describe("an item in a shard past the sweeper's TIERLOG_LEASE_SHARDS (a writer configured with 8, the sweeper with 4)", () => {
  test.each([
    { sweeperShards: 4, outside: 1, what: 'found by the scan outside its shards, and taken as any expired instance' },
    { sweeperShards: 8, outside: 0, what: 'in its shards: swept, not reported' },
  ])(
    'a sweeper with $sweeperShards shards: the shard-6 item is $what; the in-range dead writer is recovered',
    async ({ sweeperShards, outside }) => {
      const fx = await freshFixture();
      // Two dead writers, each with an uploaded blob no object points at: one in shard 6 of 8, one of the sweeper's 4 shards.
      const far = writerInShard(fx, 8, 6);
      const near = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
      open.push(far, near);
      const farBlob = blobKey(fx, 'far/a');
      const nearBlob = blobKey(fx, 'near/a');
      await far.record(newChangeId(), { id: 'far/a', new: farBlob });
      await near.record(newChangeId(), { id: 'near/a', new: nearBlob });
      await rawPutObject(fx, farBlob, 'far');
      await rawPutObject(fx, nearBlob, 'near');
      const farItem = (await rawInstance(fx, far.instanceId))!;
      expect(farItem.shard).toBe(6);
      expect((await rawInstance(fx, near.instanceId))!.shard as number).toBeLessThan(4);

      const config = { ...fx.config, leaseShards: sweeperShards };
      const lines: string[] = [];
      const sweepAt = async (offsetMs: number) => {
        const s = makeSweeper({ ...fx, config }, offsetMs, {
          ...SCAN,
          logger: { info() {}, warn: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`), error() {} },
        });
        open.push(s);
        return s.sweeper.sweep();
      };

      // Both leases long over: the first sighting claims both, the far one found by the scan, and
      // moves it into one of the sweeper's shards (6 % 4), where the lease index shows it again.
      const fence = await sweepAt(PAST_EVERYTHING_MS);
      expect(fence).toMatchObject({
        instancesOutsideShards: outside,
        instancesWithoutShard: 0,
        stuckInstances: 0,
        instancesExpired: 2,
        instancesClaimed: 2,
        errors: 0,
      });
      expect(await rawInstance(fx, far.instanceId)).toMatchObject({ state: 'claimed', shard: outside === 1 ? 2 : 6 });
      const metrics: Record<string, number> = {};
      addSweepMetrics({ addMetric: (name, _unit, value) => (metrics[name] = value) }, fence);
      expect(metrics[SWEEP_METRICS.stuckInstances]).toBe(0);

      // One upload window later: both entries are recovered as any dead writer's.
      const judge = await sweepAt(PAST_EVERYTHING_MS + PAST_WINDOW_MS);
      expect(judge).toMatchObject({ instancesOutsideShards: 0, stuckInstances: 0, entriesRecovered: 2, errors: 0 });
      expect(await rawInstance(fx, near.instanceId)).toBeUndefined();
      expect(await rawInstance(fx, far.instanceId)).toBeUndefined();
      expect(await listKeys(fx.s3, fx.config.bucket)).toEqual([]);
      await expectClean(fx, expect);

      const log = lines.join('\n');
      if (outside === 1) {
        // The warning names it, its shard, the sweeper's setting and what to do.
        expect(log).toContain(`"instanceId":"${far.instanceId}","shard":6`);
        expect(log).toContain('"leaseShards":4');
        expect(log).toContain('set TIERLOG_LEASE_SHARDS the same for every writer and sweeper');
      } else {
        expect(log).not.toContain(far.instanceId);
      }
    },
  );

  test('one whose lease still runs (its writer alive, the deploy under way) is reported as stuck and left alone, then taken once it ended', async () => {
    const fx = await freshFixture();
    const far = writerInShard(fx, 8, 5);
    open.push(far);
    const farBlob = blobKey(fx, 'alive/a');
    await far.record(newChangeId(), { id: 'alive/a', new: farBlob });
    await rawPutObject(fx, farBlob, 'alive');
    const config = { ...fx.config, leaseShards: 4 };
    const image = await snapshot(fx);
    const sweepAt = (offsetMs: number) => {
      const s = makeSweeper({ ...fx, config }, offsetMs, SCAN);
      open.push(s);
      return s.sweeper.sweep();
    };
    expect(await sweepAt(0)).toMatchObject({ instancesOutsideShards: 1, stuckInstances: 1, instancesClaimed: 0, errors: 0 });
    expect(await snapshot(fx)).toBe(image);
    expect(await sweepAt(PAST_EVERYTHING_MS)).toMatchObject({ instancesOutsideShards: 1, stuckInstances: 0, instancesClaimed: 1 });
    expect(await sweepAt(PAST_EVERYTHING_MS + PAST_WINDOW_MS)).toMatchObject({ entriesRecovered: 1, errors: 0 });
    await expectClean(fx, expect);
  });

  test('an upload session in a shard past the sweeper’s (its lease is its expiry, days ahead) is counted outside the shards, never stuck', async () => {
    const fx = await freshFixture();
    const writer = makeWriter({ ...fx, config: { ...fx.config, leaseShards: 8 } });
    open.push(writer);
    const outside = async () => (await scanAll(fx.dynamodb, fx.config.changeLogTable)).filter((i) => (i.shard as number) >= 4);
    for (let i = 0; i < 20 && !(await outside()).some((item) => String(item.pk).startsWith(SESSION_ID_PREFIX)); i++) {
      await writer.store.createUpload(`session/${i}`);
    }
    const items = await outside();
    const sessions = items.filter((item) => String(item.pk).startsWith(SESSION_ID_PREFIX));
    expect(sessions.length).toBeGreaterThan(0);
    const image = await snapshot(fx);
    const s = makeSweeper({ ...fx, config: { ...fx.config, leaseShards: 4 } }, 0, SCAN);
    open.push(s);
    expect(await s.sweeper.sweep()).toMatchObject({
      instancesOutsideShards: items.length,
      stuckInstances: items.length - sessions.length,
      instancesClaimed: 0,
      errors: 0,
    });
    expect(await snapshot(fx)).toBe(image);
  });

  // The id's prefix was all the scan knew sessions by: a session made before session ids took
  // their prefix (a bare UUIDv7) was counted as stuck by every housekeeping sweep of its life.
  test('an upload session there whose id is a bare UUIDv7 is counted outside the shards, never stuck', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const created = await w.store.createUpload('legacy/outside');
    const { pk: _pk, [`c_${created.uploadId}`]: entry, ...header } = (await rawInstance(fx, created.uploadId))!;
    const legacyId = uuidv7();
    await fx.dynamodb.send(
      new PutItemCommand({
        TableName: fx.config.changeLogTable,
        Item: marshall({ ...header, shard: 6, pk: legacyId, [`c_${legacyId}`]: entry }, { removeUndefinedValues: true }),
      }),
    );
    await fx.dynamodb.send(new DeleteItemCommand({ TableName: fx.config.changeLogTable, Key: marshall({ pk: created.uploadId }) }));
    const image = await snapshot(fx);
    expect(await sweeperAt(fx, 0).sweep()).toMatchObject({ instancesOutsideShards: 1, stuckInstances: 0, instancesClaimed: 0, errors: 0 });
    expect(await snapshot(fx)).toBe(image);
  });
});

describe('TIERLOG_LEASE_SHARDS lowered from 8 to 4 by a deploy', () => {
  test("the old writers' items in shards 4..7 are retired (idle) or recovered (dead with an entry) by the new sweeper: none stays stuck", async () => {
    const fx = await freshFixture();
    // Old execution environments, configured with 8 shards: one idle (its item empty), one that died mid-write.
    const idle = writerInShard(fx, 8, 7);
    const dead = writerInShard(fx, 8, 4);
    open.push(idle, dead);
    const done = newChangeId();
    await idle.record(done, { id: 'idle/a', new: blobKey(fx, 'idle/a') });
    await idle.remove(done);
    const orphan = blobKey(fx, 'dead/a');
    await dead.record(newChangeId(), { id: 'dead/a', new: orphan });
    await rawPutObject(fx, orphan, 'never committed');
    expect((await rawInstance(fx, idle.instanceId))!).toMatchObject({ shard: 7, n: 0 });

    // The sweeper, rolled to 4 shards, runs as the construct runs it: housekeeping sweeps past every lease and window.
    const config = { ...fx.config, leaseShards: 4 };
    const sweepAt = (offsetMs: number) => {
      const s = makeSweeper({ ...fx, config }, offsetMs, SCAN);
      open.push(s);
      return s.sweeper.sweep();
    };
    expect(await sweepAt(PAST_EVERYTHING_MS)).toMatchObject({ instancesRetired: 1, instancesClaimed: 1, stuckInstances: 0, errors: 0 });
    const last = await sweepAt(PAST_EVERYTHING_MS + PAST_WINDOW_MS);
    expect(last).toMatchObject({ entriesRecovered: 1, stuckInstances: 0, instancesOutsideShards: 0, errors: 0 });
    expect(await rawInstance(fx, idle.instanceId)).toBeUndefined();
    expect(await rawInstance(fx, dead.instanceId)).toBeUndefined();
    await expectClean(fx, expect);
    // And `tierlog status` with the new setting lists nothing outside the shards.
    expect((await collectStatus(statusCtx({ ...fx, config }, Date.now()))).stuck.outsideShards).toEqual([]);
  });
});
