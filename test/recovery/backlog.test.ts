/**
 * The sweeper over a backlog: hundreds of expired instances in every shard (what an outage
 * leaves, scaled down), item pages and a sweep's time scaled with them. What one invocation must
 * keep at any size, checked from outside (the change log and the bucket read raw, the reports
 * summed as the dashboard sums them):
 *
 *  - an instance it claimed is settled while its claim holds: its HV read and its deletes do not
 *    wait for every other instance of the sweep to be taken (an instance due for judging at the
 *    head of a backlog of first sightings waited for the sweep's end, and with a sweep longer than
 *    a claim another sweeper took it over while the first still held its work);
 *  - a sweeper that trails another over the same shards (the next scheduled invocation, while a
 *    sweep of a backlog runs to its deadline: reserved concurrency 2) spends one request on each
 *    instance the other took before it, not three (a retire, a claim and a read, each refused or
 *    wasted: two overlapping sweeps of 800 instances sent 2,994 requests where one sent 1,612),
 *    and a claim it loses in a tie costs no read after it.
 */
import { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, test } from 'vitest';
import { DEFAULT_CLAIM_MS, DEFAULT_SKEW_MARGIN_MS } from '../../lib/constants.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { newChangeId, newInstanceId } from '../../lib/ids.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { allKeys, entryNames, rawBlobKey, rawPutObject, rawState, sweepersClosedAfterEach } from '../tiered/harness.js';

const MIN = 60_000;
const { sweeperAt } = sweepersClosedAfterEach();

/** Instance items written 25 a request (BatchWriteItem), as raw as `putRawInstance` writes one. */
async function putInstances(fx: Fixture, items: Array<Record<string, unknown>>): Promise<void> {
  for (let i = 0; i < items.length; i += 25) {
    const requests = items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: marshall(item) } }));
    let unprocessed: Record<string, any> | undefined = { [fx.config.changeLogTable]: requests };
    while (unprocessed !== undefined && Object.keys(unprocessed).length > 0) {
      unprocessed = (await fx.dynamodb.send(new BatchWriteItemCommand({ RequestItems: unprocessed }))).UnprocessedItems;
    }
  }
}

/** A dead writer's instance of one entry `{id, new}`, its lease ended at `leaseUntil`. */
function deadInstance(shard: number, leaseUntil: number, id: string, blob: string, claimed?: { firstSeen: number }) {
  return {
    pk: newInstanceId(),
    shard,
    leaseUntil,
    n: 1,
    [`c_${newChangeId()}`]: { v: 1, id, at: leaseUntil - MIN, new: blob },
    ...(claimed === undefined ? { state: 'live' } : { state: 'claimed', claimedBy: 'dead-sweeper', firstSeen: claimed.firstSeen }),
  };
}

/**
 * A clock `speed` times faster than the wall clock from now on, `offsetMs` ahead: a sweep of a few
 * seconds on the local stack stands for one of minutes in AWS (its claims expire in its time).
 */
function fastClock(speed: number, offsetMs = 0): () => number {
  const start = Date.now();
  return () => start + offsetMs + (Date.now() - start) * speed;
}

describe('an instance due for judging at the head of a backlog of first sightings', () => {
  test('is read, deleted and settled while its claim holds: no other sweeper takes it over, each instance claimed once', async () => {
    const fx = await freshFixture();
    const now = Date.now();
    const due: Array<{ id: string; blob: string }> = [];
    const items: Array<Record<string, unknown>> = [];
    for (let shard = 0; shard < fx.config.leaseShards; shard++) {
      // Fenced two days (upload windows) ago by a sweeper that died; their claims ended an hour ago: the oldest leases.
      for (let i = 0; i < 3; i++) {
        const id = `due/${shard}/${i}`;
        const blob = rawBlobKey(fx, id);
        await rawPutObject(fx, blob, 'never committed');
        due.push({ id, blob });
        items.push(deadInstance(shard, now - 60 * MIN - i, id, blob, { firstSeen: now - 2 * 24 * 60 * MIN }));
      }
      // Behind them, 200 a shard whose writers died ten minutes ago: first sightings, each only fenced.
      for (let i = 0; i < 200; i++)
        items.push(deadInstance(shard, now - 10 * MIN + i, `fresh/${shard}/${i}`, rawBlobKey(fx, `fresh/${shard}/${i}`)));
    }
    await putInstances(fx, items);

    // The sweep's clock runs 150 times faster: the few seconds it takes here are many minutes,
    // longer than a claim (5 min). B, a sweeper of the same shards (the next scheduled invocation),
    // sweeps in full when A sends its first HV read: what A claimed and has not settled by then,
    // past its claim, is B's to take over.
    // The upload window is a day (its ceiling): the first sightings' claims hold through both sweeps.
    const clock = fastClock(150);
    const maxUploadMs = 24 * 60 * MIN;
    let b: SweepReport | undefined;
    const warnings: string[] = [];
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r) => r.command === 'BatchGetItemCommand',
      before: async () => {
        b = await sweeperAt(fx, 0, { clock, maxUploadMs }).sweep({ housekeeping: false });
      },
    });
    const logger = { info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(`error: ${m}`) };
    const a = await sweeperAt(fx, 0, { clock, maxUploadMs, injector, logger }).sweep({ housekeeping: false });
    expect(injector.stats.injected.delay).toBe(1);

    expect(a.errors + b!.errors).toBe(0);
    // Each instance claimed by one sweeper, once; no claim lost under A's feet.
    expect(a.instancesClaimed + b!.instancesClaimed).toBe(items.length);
    expect(warnings).toEqual([]);
    // The due instances recovered (once each), the first sightings only fenced.
    expect(a.entriesRecovered + b!.entriesRecovered).toBe(due.length);
    expect(a.entriesDeferred + b!.entriesDeferred).toBe(items.length - due.length);
    const keys = await allKeys(fx);
    for (const { blob } of due) expect(keys).not.toContain(blob);
    const { instances } = await rawState(fx);
    expect(instances).toHaveLength(items.length - due.length);
    expect(instances.every((i) => i.state === 'claimed' && entryNames(i).length === 1)).toBe(true);
  });
});

describe('a sweeper that trails another over the same shards of a backlog', () => {
  /**
   * `count` dead instances, and a sweeper B whose requests that `match` wait, the first of them
   * until sweeper A, started then over the same shards, has finished: B's sweep, and A's report.
   */
  async function trailing(count: number, match: (r: RequestInfo) => boolean, idle = false) {
    const fx = await freshFixture();
    const now = Date.now();
    const items = Array.from({ length: count }, (_, i) =>
      idle
        ? { pk: newInstanceId(), shard: i % fx.config.leaseShards, leaseUntil: now - 10 * MIN + i, n: 0, state: 'live' }
        : deadInstance(i % fx.config.leaseShards, now - 10 * MIN + i, `dead/${i}`, rawBlobKey(fx, `dead/${i}`)),
    );
    await putInstances(fx, items);
    let ahead: Promise<SweepReport> | undefined;
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 10 * items.length,
      match,
      before: async () => {
        ahead ??= sweeperAt(fx, 0).sweep({ housekeeping: false });
        await ahead;
      },
    });
    const recorder = new CommandRecorder();
    const b = await sweeperAt(fx, 0, { injector, recorder }).sweep({ housekeeping: false });
    expect(await ahead).toMatchObject({ [idle ? 'instancesRetired' : 'instancesClaimed']: items.length, errors: 0 });
    expect(b).toMatchObject({ instancesClaimed: 0, instancesSkipped: items.length, errors: 0 });
    return { fx, items, names: recorder.names() };
  }

  test.each([
    { what: 'took (claimed)', count: 200, idle: false },
    { what: 'retired (gone: no claim is tried on an item that is not there)', count: 40, idle: true },
  ])('spends one request on each instance the other $what since its lease-index page was read', async ({ count, idle }) => {
    // B has read its first page of each shard (50 instances) when A, ahead of it, takes them all.
    const { fx, items, names } = await trailing(count, (r) => r.command !== 'QueryCommand', idle);
    const sent = names.filter((name) => name !== 'Query');
    expect(sent, 'one refused retire each').toEqual(Array(items.length).fill('DeleteItem'));
    // What A left is as A left it: every instance claimed once, its entry deferred to its window's end; or none.
    const { instances } = await rawState(fx);
    expect(instances).toHaveLength(idle ? 0 : items.length);
    expect(instances.every((i) => i.state === 'claimed' && entryNames(i).length === 1)).toBe(true);
  });

  test('a claim lost in a tie (both saw it expired) is told from its own refusal: no read after it', async () => {
    // B's claims wait while A takes every instance: the instances B had seen expired (its retire
    // refused on the counter), it claims too late.
    const { names } = await trailing(40, (r) => r.command === 'UpdateItemCommand');
    expect(names.filter((n) => n === 'UpdateItem').length, 'claims lost in a tie').toBeGreaterThan(0);
    expect(names.filter((n) => n === 'GetItem')).toEqual([]);
  });
});
