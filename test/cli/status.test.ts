/**
 * `tierlog status` against the real local servers: instances made by real `DynamoChangeLog`
 * writers on injected clocks (live, expired), one claimed through `InstanceTable.claim`, and a
 * corrupt item written raw.
 */
import { UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { InstanceTable } from '../../lib/changelog/instance-table.js';
import { newChangeId } from '../../lib/ids.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { collectStatus, formatStatus } from '../../lib/cli/status.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  blobKey,
  capture,
  cli,
  cliJson,
  clientsWithServerClock,
  HOUR,
  putBlob,
  putRawInstance,
  putTombstone,
  rawEntry,
} from './helpers.js';

const MIN = 60_000;
let fx: Fixture;
const now = Date.now();
const ids: { live: string; expired: string; old: string; claimed: string; corrupt: string } = {} as never;
const logs: DynamoChangeLog[] = [];

function writer(at: number, leaseMs: number): DynamoChangeLog {
  const log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, clock: () => at, leaseMs, renewInBackground: false });
  logs.push(log);
  return log;
}

beforeAll(async () => {
  fx = await freshFixture();
  const p = fx.config.prefix;
  // Live: lease to now + 10 min; two entries, one not due for an hour.
  const live = writer(now, 10 * MIN);
  await live.record(newChangeId(), { id: 'a', new: newBlobKey(p, 'a') });
  await live.record(newChangeId(), { id: 'b', new: newBlobKey(p, 'b'), cleanupAfter: new Date(now + HOUR) });
  ids.live = live.instanceId;
  // Expired 5 minutes ago, one entry.
  const expired = writer(now - 7 * MIN, 2 * MIN);
  await expired.record(newChangeId(), { id: 'c', new: newBlobKey(p, 'c') });
  ids.expired = expired.instanceId;
  // Expired 50 minutes ago and empty (an idle environment the next sweep retires).
  const old = writer(now - 52 * MIN, 2 * MIN);
  const change = newChangeId();
  await old.record(change, { id: 'd', new: newBlobKey(p, 'd') });
  await old.remove(change);
  ids.old = old.instanceId;
  // Claimed by a sweeper until now + 5 min; one entry names a blob outside the prefix (written raw:
  // the log refuses to record what the sweeper would quarantine).
  const claimed = writer(now - 20 * MIN, 2 * MIN);
  await claimed.record(newChangeId(), { id: 'e', new: newBlobKey(p, 'e') });
  ids.claimed = claimed.instanceId;
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.changeLogTable,
      Key: { pk: { S: ids.claimed } },
      UpdateExpression: 'SET #entry = :entry, #n = #n + :one',
      ExpressionAttributeNames: { '#entry': `c_${newChangeId()}`, '#n': 'n' },
      ExpressionAttributeValues: marshall({ ':entry': rawEntry('f', { old: 'elsewhere/ZgA/not-ours' }, 20 * MIN), ':one': 1 }),
    }),
  );
  const table = new InstanceTable(fx.config, fx.dynamodb);
  expect(await table.claim(ids.claimed, { cutoff: now, claimant: 'sweeper-1', until: now + 5 * MIN })).toBeDefined();
  // Corrupt: an unknown state, with one entry.
  ids.corrupt = await putRawInstance(fx, { leaseUntil: now - HOUR, state: 'zombie', entries: { [newChangeId()]: rawEntry('g', {}) } });
});

afterAll(() => {
  for (const log of logs) log.close();
});

describe('status', () => {
  test('counts live, expired and claimed instances, entries, the oldest expired lease and corrupt items', async () => {
    const { code, json } = await cliJson(fx, ['status'], { clock: () => now });
    expect(code).toBe(0);
    expect(json).toMatchObject({
      table: fx.config.changeLogTable,
      instances: { total: 5, live: 1, expired: 2, claimed: 1, claimsExpired: 0 },
      // 2 + 1 + 0 + 2 + 1 (the corrupt item's entry). Not yet due: b (cleanupAfter) and a, c, e,
      // whose upload windows are open (a and c never claimed: a window opens at the first
      // sighting; e claimed just now).
      entries: { outstanding: 6, quarantined: 2, notYetDue: 4 },
      oldestExpiredAgeMs: 50 * MIN,
      oldestExpiredInstance: ids.old,
    });
    expect(json.corruptItems).toEqual([{ instanceId: ids.corrupt, reason: expect.stringContaining('state'), entries: 1 }]);
    // The ids `tierlog inspect` takes, oldest lease first.
    expect(json.instanceIds).toEqual({ expired: [ids.old, ids.expired], claimed: [ids.claimed], stuck: [], quarantined: [ids.claimed] });
  });

  test('a claim past its expiry counts as due', async () => {
    const later = now + 6 * MIN;
    const report = await collectStatus({ ...ctxOf(), clock: () => later });
    expect(report.instances).toMatchObject({ live: 1, expired: 2, claimed: 1, claimsExpired: 1 });
    expect(report.instances.live).toBe(1);
    expect(report.oldestExpiredAgeMs).toBe(56 * MIN);
    expect(formatStatus(report)).toContain('instances   5: 1 live, 2 expired, 1 claimed (1 past their claim)');
  });

  test('text output', async () => {
    const { code, out } = await cli(fx, ['status'], { clock: () => now });
    expect(code).toBe(0);
    expect(out).toContain(`change log  ${fx.config.changeLogTable}  (full table scan`);
    expect(out).toContain('\ninstances   5: 1 live, 2 expired, 1 claimed\n');
    expect(out).toContain('entries     6 outstanding (2 quarantined, 4 not yet due)');
    expect(out).toContain(`oldest expired  50m ago (instance ${ids.old})`);
    expect(out).toContain('corrupt items  1');
    expect(out).toContain(ids.corrupt);
    expect(formatStatus(await collectStatus({ ...ctxOf(), clock: () => now }))).toEqual(out.trimEnd().split('\n'));
  });

  test('a missing table is a clear failure (exit 1)', async () => {
    const { code, out, err } = await cli(fx, ['status'], { env: { TIERLOG_CHANGELOG_TABLE: 'no-such-table' } });
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(/^tierlog: table "no-such-table" does not exist \(check the name, the region and AWS_ENDPOINT_URL_\*\)\n$/);
  });

  test('missing or invalid configuration names the variable (exit 2)', async () => {
    const { code, err } = await cli(fx, ['status'], { env: { TIERLOG_BUCKET: '' } });
    expect(code).toBe(2);
    expect(err).toContain('TIERLOG_BUCKET is not set');
    const bad = await cli(fx, ['status'], { env: { TIERLOG_PREFIX: '/x/' } });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('TIERLOG_PREFIX');
  });
});

/**
 * The sweeper takes an instance once its lease (or claim) ended the skew margin ago
 * (`leaseUntil < now - skewMargin`). `status` and `inspect` called one expired as soon as its lease
 * ended, and so said the next sweep takes an instance the sweep at that instant does not take.
 */
describe('a lease that ended less than the skew margin ago', () => {
  test('status, inspect and a sweep agree: not taken yet; taken once the skew margin passed', async () => {
    const own = await freshFixture();
    const at = Date.now();
    const ended = at - 10_000;
    const dead = await putRawInstance(own, { shard: 0, leaseUntil: ended, entries: { [newChangeId()]: rawEntry('x', {}) } });
    await putRawInstance(own, {
      shard: 1,
      state: 'claimed',
      claimedBy: 'gone-sweeper',
      firstSeen: at - HOUR,
      leaseUntil: ended,
      entries: { [newChangeId()]: rawEntry('y', {}) },
    });
    for (const [clock, taken] of [
      [at, 0],
      [at + 30_000, 2],
    ] as const) {
      const sweep = await cliJson(own, ['sweep', '--dry-run'], { clock: () => clock });
      expect(sweep.code, sweep.err).toBe(0);
      expect(sweep.json.instancesExpired).toBe(taken);
      const status = await cliJson(own, ['status'], { clock: () => clock });
      expect(status.json.instances).toMatchObject({ expired: taken / 2, claimsExpired: taken / 2, live: 1 - taken / 2 });
      const inspect = await cliJson(own, ['inspect', dead], { clock: () => clock });
      expect(inspect.json.expired).toBe(taken > 0);
      const text = await cli(own, ['inspect', dead], { clock: () => clock });
      expect(text.out).toContain(
        taken > 0
          ? 'state     live (lease ended: expired)\n'
          : 'state     live (lease ended, within the skew margin: no sweep takes it yet)\n',
      );
    }
  });
});

/**
 * `status` and `inspect` judge leases and windows on this machine's clock, as a sweep would. A
 * minute behind AWS's, a live writer in a 15-minute invocation was listed as "a writer clock runs
 * ahead" with nothing saying the fault was this machine's; `sweep` refuses such a clock, and these
 * two warn of it now.
 */
describe("status and inspect on a machine whose clock is off AWS's", () => {
  test.each([
    ['a minute behind', 60_000, /tierlog: warning: this machine's clock is (59s|1m|1m [12]s) behind AWS's/],
    ['a minute ahead', -60_000, /tierlog: warning: this machine's clock is (59s|1m|1m [12]s) ahead of AWS's/],
    ['10 seconds behind (within the skew margin)', 10_000, undefined],
  ] as const)('%s: status and inspect warn on stderr only past the skew margin', async (_name, awsAheadMs, warning) => {
    const own = await freshFixture();
    const aws = Date.now() + awsAheadMs;
    const live = await putRawInstance(own, {
      shard: 0,
      leaseUntil: aws + 15 * MIN + 25_000,
      entries: { [newChangeId()]: rawEntry('x', {}) },
    });
    const clients = clientsWithServerClock(awsAheadMs);
    try {
      for (const args of [['status'], ['inspect', live]]) {
        const run = await cli({ ...own, dynamodb: clients.dynamodb, s3: clients.s3 }, args);
        expect(run.code, run.err).toBe(0);
        if (warning === undefined) expect(run.err).not.toContain('warning');
        else expect(run.err).toMatch(warning);
      }
    } finally {
      clients.close();
    }
  });
});

function ctxOf() {
  return { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => now, io: capture().io, env: {} };
}

describe("status with a TIERLOG_PREFIX that is not the writers'", () => {
  test("refuses as sweep and inspect do (exit 2, naming the prefix), rather than count every writer's entry quarantined", async () => {
    const store = await freshFixture();
    const t0 = Date.now();
    // A store under the default prefix: a live large object, and a dead writer's entry replacing its old blob.
    const live = blobKey(store, 'live-object', t0 - 3 * HOUR);
    await putBlob(store, live);
    await putTombstone(store, 'live-object', live);
    const old = blobKey(store, 'live-object', t0 - 4 * HOUR);
    await putBlob(store, old);
    const id = await putRawInstance(store, { leaseUntil: t0 - 10 * MIN, entries: { [newChangeId()]: rawEntry('live-object', { old }) } });

    const right = await cliJson(store, ['status']);
    expect(right.code).toBe(0);
    expect(right.json.entries).toMatchObject({ outstanding: 1, quarantined: 0 });

    // The operator's shell without the deployment's prefix: the sweeper (its own prefix right) quarantines nothing.
    const env = { TIERLOG_PREFIX: 'media' };
    const wrong = await cli(store, ['status'], { env });
    expect(wrong.code).toBe(2);
    expect(wrong.out).toBe('');
    expect(wrong.err).toContain('tierlog: configuration: TIERLOG_PREFIX');
    expect(wrong.err).toContain('outside prefix "media/"');
    const json = await cliJson(store, ['status'], { env });
    expect(json.json.error).toMatchObject({ name: 'ConfigError', exitCode: 2 });
    // As inspect of the instance says (the same check).
    expect((await cli(store, ['inspect', id], { env })).code).toBe(2);
  });
});
