/**
 * Recovery throughput and idle sweep cost.
 *
 * Recovery: `instances` dead writers (each a real DynamoChangeLog) each record `perInstance`
 * entries `{id, new}` whose `new` blob exists in S3, and never commit: the state a crash between
 * upload and commit leaves. Recovery takes two sweeps, as it does in service: the first, on a
 * clock past every lease, finds and fences the dead instances (it judges nothing while their
 * upload window is open); the second, on a clock past that window, judges, deletes and drops.
 * Both are timed and their requests counted, and the figures are for both together.
 * Afterwards, from outside: the bucket holds nothing under the prefix and the change-log table
 * is empty.
 *
 * Idle: `idleInstances` live instance items (leases in the future, as a writer leaves them
 * after record + remove), nothing expired; one sweep on the real clock, requests counted.
 */
import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand, UpdateItemCommand, paginateScan } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { DynamoChangeLog, Sweeper, newBlobKey, newChangeId, type SweepReport, type TierlogConfig } from '../../lib/index.js';
import { DEFAULT_MAX_UPLOAD_MS, DEFAULT_SKEW_MARGIN_MS } from '../../lib/constants.js';
import { shardOf } from '../../lib/changelog/dynamo-change-log.js';
import { newInstanceId } from '../../lib/ids.js';
import { CHANGELOG_ATTR } from '../../lib/schema/tables.js';
import { PAST_EVERYTHING_MS, dynamodbClient, freshConfig, log, parallel, round, s3Client } from '../common.js';
import { Probe, addCapacity, attemptLatency, emptyCapacity, type CallRecord } from '../instrument.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { type ReplayResult, replayCommands } from './recovery-replay.js';

export interface SweepCalls {
  readonly dynamodb: Record<string, number>;
  readonly s3: Record<string, number>;
  readonly dynamodbTotal: number;
  readonly s3Total: number;
  /** Duration of single requests, ms, by command. */
  readonly requestMs?: Record<string, { n: number; p50Ms: number; p99Ms: number }>;
  readonly wcu: number;
  readonly gsiWcu: number;
  readonly rcu: number;
  readonly computedUnits: number;
}

export interface RecoveryResult {
  readonly instances: number;
  readonly entries: number;
  readonly setupSeconds: number;
  readonly sweepSeconds: number;
  /** Seconds of each recovery run from the same start (the fastest is `sweepSeconds`). */
  readonly sweepRunsSeconds?: readonly number[];
  readonly entriesPerSecond: number;
  readonly sweeperConcurrency: number;
  /** The sweep's requests (DynamoDB and S3) per second. */
  readonly requestsPerSecond: number;
  /** What the stack takes, measured just before the sweep: small conditional UpdateItems per second at the sweeper's concurrency. */
  readonly stackWritesPerSecond: number;
  /** requestsPerSecond / stackWritesPerSecond: the share of the stack's request throughput the sweep uses. */
  readonly stackRatio: number;
  /**
   * The sweep's requests in flight on average (their summed durations over the sweep's time):
   * how much of its concurrency it kept busy. With `stackRatio` it tells a sweep that leaves
   * slots idle from one whose requests cost the servers more than the yardstick's small writes.
   */
  readonly requestsInFlight?: number;
  /** The sweep's own requests sent again from a bare client, same concurrency, same start (recovery-replay.ts): the faster of two replays. */
  readonly replay?: ReplayResult;
  /** requestsPerSecond / replay.requestsPerSecond: the share of the stack's throughput for recovery's own requests the sweep gets. */
  readonly replayRatio?: number;
  readonly report: Omit<SweepReport, 'wouldDelete'>;
  /** The two sweeps on their own: the fencing one (first sighting) and the judging one. */
  readonly passes: { readonly fence: PassFigures; readonly judge: PassFigures };
  readonly calls: SweepCalls;
  readonly dynamodbCallsPerEntry: number;
  readonly s3CallsPerEntry: number;
  readonly wcuPerEntry: number;
  readonly rcuPerEntry: number;
  readonly after: { readonly blobsUnderPrefix: number; readonly logItems: number; readonly logEntries: number };
  readonly ok: boolean;
}

export interface PassFigures {
  readonly seconds: number;
  readonly dynamodbCalls: number;
  readonly s3Calls: number;
  readonly entriesDeferred: number;
  readonly entriesRecovered: number;
}

export interface IdleResult {
  readonly liveInstances: number;
  readonly shards: number;
  /** The every-minute sweep (`housekeeping: false`, as the construct's schedule sends). */
  readonly sweepMs: number;
  readonly report: Omit<SweepReport, 'wouldDelete'>;
  readonly calls: SweepCalls;
  readonly queriesPerShard: number;
  /** The housekeeping sweep on the same table (every 10 minutes in the construct). */
  readonly housekeeping?: { readonly sweepMs: number; readonly calls: SweepCalls; readonly queriesPerShard: number };
}

/** Replays of the sweep's requests; the fastest is the stack's throughput for them. */
const REPLAYS = 2;
/** Sweeps from the same start; the fastest is the sweeper's throughput. */
const SWEEP_RUNS = 2;

/** One recovery (two sweeps) on fresh instrumented clients, and what it left. */
interface SweepRun {
  readonly recovery: TwoSweeps;
  readonly probe: Probe;
  readonly recorder: CommandRecorder;
  readonly seconds: number;
  readonly blobsUnderPrefix: number;
  readonly logState: { readonly items: number; readonly entries: number };
}

async function sweepOnce(
  config: TierlogConfig,
  concurrency: number,
  dynamodb: ReturnType<typeof dynamodbClient>,
  s3: ReturnType<typeof s3Client>,
): Promise<SweepRun> {
  const probe = new Probe({ measureCapacity: true });
  const recorder = new CommandRecorder();
  const sweepDynamo = recorder.attach(probe.attach(dynamodbClient(), 'dynamodb'), 'dynamodb');
  const sweepS3 = recorder.attach(probe.attach(s3Client(), 's3'), 's3');
  try {
    const recovery = await recoverInTwoSweeps(config, [{ dynamodb: sweepDynamo, s3: sweepS3 }], concurrency, probe, recorder);
    return {
      recovery,
      probe,
      recorder,
      seconds: recovery.fence.seconds + recovery.judge.seconds,
      blobsUnderPrefix: await countBlobs(s3, config.bucket, config.prefix),
      logState: await scanLog(dynamodb, config.changeLogTable),
    };
  } finally {
    sweepDynamo.destroy();
    sweepS3.destroy();
  }
}

export async function recoveryStage(options: { instances: number; perInstance: number; concurrency?: number }): Promise<RecoveryResult> {
  const config = await freshConfig('recovery');
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const entries = options.instances * options.perInstance;
  const concurrency = options.concurrency ?? 16;
  try {
    const setupSeconds = await setupOrphans(config, options.instances, options.perInstance);
    log(
      `recovery: ${entries} orphaned entries over ${options.instances} instances written in ${round(setupSeconds, 1)} s; measuring the stack at ${concurrency} in flight, then sweeping`,
    );
    const snapshot = await snapshotOrphans(config);
    // The yardstick, before the sweeps and again after the replays, and the faster counts: a
    // capacity is the best the stack did (one measurement alone met a pause of DynamoDB Local's
    // and read a quarter of the stack's usual rate).
    const stackRuns = [await stackWritesPerSecond(config, concurrency)];

    // The sweep, twice from the same start, and the faster counts: as for the replay below (a
    // capacity is the best the stack did), the sweep's rate is the best the sweeper did, so both
    // sides of the ratio are measured alike. Each run is checked clean.
    const runs: SweepRun[] = [];
    for (let i = 0; i < SWEEP_RUNS; i++) {
      if (i > 0) await restoreOrphans(config, snapshot);
      runs.push(await sweepOnce(config, concurrency, dynamodb, s3));
    }
    const best = runs.reduce((b, r) => (r.seconds < b.seconds ? r : b));
    const { recovery, probe, recorder, seconds: sweepSeconds } = best;
    const report = recovery.report;
    const calls = { ...summarizeCalls(probe.calls), requestMs: attemptLatency(probe.attempts) };
    const busyMs = probe.attempts.reduce((sum, a) => sum + (a.end - a.start), 0);
    const { blobsUnderPrefix, logState } = best;
    log(`recovery: ${SWEEP_RUNS} sweeps from the same start: ${runs.map((r) => `${round(r.seconds, 2)} s`).join(', ')}`);
    // The stack's throughput for the sweep's own requests (recovery-replay.ts), from the same start.
    // Twice, each from the restored start, and the faster counts: a capacity is the best the stack
    // did, and one replay alone moves by a fifth between runs on a shared machine.
    const replays: ReplayResult[] = [];
    for (let i = 0; i < REPLAYS; i++) {
      await restoreOrphans(config, snapshot);
      replays.push(await replayCommands([recorder.of('fence'), recorder.of('judge')], concurrency));
    }
    const replay = replays.reduce((best, r) => (r.requestsPerSecond > best.requestsPerSecond ? r : best));
    stackRuns.push(await stackWritesPerSecond(config, concurrency));
    const stack = Math.max(...stackRuns);
    log(
      `recovery: the stack's small conditional writes at ${concurrency} in flight, before and after: ${stackRuns.map((r) => `${r}/s`).join(', ')}`,
    );
    const requestsPerSecond = (calls.dynamodbTotal + calls.s3Total) / sweepSeconds;
    log(
      `recovery: the sweep's ${replay.requests} requests replayed from a bare client at ${concurrency} in flight: ${replays.map((r) => `${r.requestsPerSecond}/s`).join(', ')} (the sweep: ${round(requestsPerSecond, 0)}/s)`,
    );
    const { wouldDelete: _, ...rest } = report;
    return {
      instances: options.instances,
      entries,
      setupSeconds: round(setupSeconds, 1),
      sweepSeconds: round(sweepSeconds, 2),
      sweepRunsSeconds: runs.map((r) => round(r.seconds, 2)),
      entriesPerSecond: round(report.entriesRecovered / sweepSeconds, 0),
      sweeperConcurrency: concurrency,
      requestsPerSecond: round(requestsPerSecond, 0),
      stackWritesPerSecond: stack,
      stackRatio: round(requestsPerSecond / stack, 3),
      replay,
      replayRatio: round(requestsPerSecond / replay.requestsPerSecond, 3),
      requestsInFlight: round(busyMs / (sweepSeconds * 1000), 1),
      report: rest,
      passes: { fence: recovery.fence, judge: recovery.judge },
      calls,
      dynamodbCallsPerEntry: round(calls.dynamodbTotal / entries, 3),
      s3CallsPerEntry: round(calls.s3Total / entries, 3),
      wcuPerEntry: round((calls.wcu + calls.gsiWcu) / entries, 3),
      rcuPerEntry: round(calls.rcu / entries, 3),
      after: { blobsUnderPrefix, logItems: logState.items, logEntries: logState.entries },
      ok: runs.every(
        (r) =>
          r.recovery.report.entriesRecovered === entries &&
          r.blobsUnderPrefix === 0 &&
          r.logState.items === 0 &&
          r.recovery.report.errors === 0,
      ),
    };
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}

/** The clients of one sweeper, and the lease shards it sweeps (default: all). */
export interface SweeperClients {
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly shards?: readonly number[];
}

/** What two sweeps recovered together, and each on its own. */
export interface TwoSweeps {
  /** The counts of every sweeper's two sweeps, summed. */
  readonly report: SweepReport;
  readonly fence: PassFigures;
  readonly judge: PassFigures;
}

/**
 * Recovery as it runs in service, in two sweeps by the same sweepers (running side by side when
 * there are several): one on a clock past every lease (the first sighting: it fences and judges
 * nothing while the upload window is open), then one on a clock past the upload window the first
 * one opened. `probe` counts the requests of the clients given; each pass's count is its share.
 * `recorder`, if given and attached to the same clients, records each pass's requests under its
 * name (`fence`, `judge`).
 */
export async function recoverInTwoSweeps(
  config: TierlogConfig,
  sweepers: readonly SweeperClients[],
  concurrency: number,
  probe: { readonly counts: { dynamodbCalls: number; s3Calls: number } },
  recorder?: CommandRecorder,
): Promise<TwoSweeps> {
  const pass = async (name: 'fence' | 'judge', offsetMs: number): Promise<{ figures: PassFigures; reports: SweepReport[] }> => {
    const before = { ...probe.counts };
    const t0 = performance.now();
    const sweeps = () =>
      Promise.all(
        sweepers.map((c) =>
          new Sweeper({ config, dynamodb: c.dynamodb, s3: c.s3, concurrency, clock: () => Date.now() + offsetMs }).sweep(
            c.shards !== undefined ? { shards: c.shards } : {},
          ),
        ),
      );
    const reports = recorder !== undefined ? await recorder.during(name, sweeps) : await sweeps();
    const seconds = (performance.now() - t0) / 1000;
    const sum = (f: (r: SweepReport) => number) => reports.reduce((n, r) => n + f(r), 0);
    const figures: PassFigures = {
      seconds: round(seconds, 2),
      dynamodbCalls: probe.counts.dynamodbCalls - before.dynamodbCalls,
      s3Calls: probe.counts.s3Calls - before.s3Calls,
      entriesDeferred: sum((r) => r.entriesDeferred),
      entriesRecovered: sum((r) => r.entriesRecovered),
    };
    return { figures, reports };
  };
  const fence = await pass('fence', PAST_EVERYTHING_MS);
  // Past the window the first sweep opened (firstSeen + maxUploadMs) and the skew margin.
  const judge = await pass('judge', PAST_EVERYTHING_MS + DEFAULT_MAX_UPLOAD_MS + DEFAULT_SKEW_MARGIN_MS + 60_000);
  const all = [...fence.reports, ...judge.reports];
  const report = { ...all[0]!, wouldDelete: [] as string[] };
  for (const key of Object.keys(report) as (keyof SweepReport)[]) {
    if (typeof report[key] === 'number') (report as Record<string, unknown>)[key] = all.reduce((n, r) => n + (r[key] as number), 0);
  }
  report.stoppedEarly = all.some((r) => r.stoppedEarly);
  report.oldestExpiredAgeMs = Math.max(...all.map((r) => r.oldestExpiredAgeMs));
  return { report, fence: fence.figures, judge: judge.figures };
}

/**
 * `instances` dead writers (each a real DynamoChangeLog) record `perInstance` entries `{id, new}`
 * each, upload each `new`, and never commit. Returns the setup's seconds.
 */
export async function setupOrphans(config: TierlogConfig, instances: number, perInstance: number): Promise<number> {
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const t0 = performance.now();
  try {
    await parallel(instances, 24, async (i) => {
      const writer = new DynamoChangeLog({ config, dynamodb, renewInBackground: false, entriesPerInstance: perInstance });
      try {
        await Promise.all(
          Array.from({ length: perInstance }, async (_, j) => {
            const key = `rec-${i}-${j}`;
            const blob = newBlobKey(config.prefix, key);
            await writer.record(newChangeId(), { id: key, new: blob });
            await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: blob, Body: `orphan ${key}` }));
          }),
        );
        if (writer.instanceIds.length !== 1) throw new Error(`writer ${i} spread over ${writer.instanceIds.length} instances`);
      } finally {
        writer.close();
      }
    });
    const before = await countBlobs(s3, config.bucket, config.prefix);
    if (before !== instances * perInstance) throw new Error(`setup made ${before} blobs, expected ${instances * perInstance}`);
    return (performance.now() - t0) / 1000;
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}

/** What the sweep started from: the change-log items as stored, and the blobs' keys. */
export interface OrphanSnapshot {
  readonly items: ReadonlyArray<Record<string, unknown>>;
  readonly blobs: readonly string[];
}

/** Reads the change-log items (as stored) and the blob keys under the prefix. */
export async function snapshotOrphans(config: TierlogConfig): Promise<OrphanSnapshot> {
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  try {
    return { items: await scanRaw(dynamodb, config.changeLogTable), blobs: await listBlobs(s3, config.bucket, config.prefix) };
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}

/** Writes the snapshot's items and blobs back (blobs with small bodies, as the setup's). */
export async function restoreOrphans(config: TierlogConfig, snapshot: OrphanSnapshot): Promise<void> {
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  try {
    await parallel(Math.ceil(snapshot.items.length / 25), 8, async (b) => {
      let pending = snapshot.items.slice(b * 25, b * 25 + 25).map((item) => ({ PutRequest: { Item: item as Record<string, any> } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 10) throw new Error('BatchWriteItem left items unprocessed');
        const out = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [config.changeLogTable]: pending } }));
        pending = (out.UnprocessedItems?.[config.changeLogTable] as typeof pending | undefined) ?? [];
      }
    });
    await parallel(snapshot.blobs.length, 16, async (i) => {
      const key = snapshot.blobs[i]!;
      await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: key, Body: `orphan ${key}` }));
    });
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
}

/**
 * The stack's own request throughput at `concurrency` in flight: small conditional UpdateItems
 * (each creates one item of the objects table, `attribute_not_exists`), as many as 100 per slot
 * and at least 2 000, on a fresh client. Requests per second.
 */
export async function stackWritesPerSecond(config: TierlogConfig, concurrency: number): Promise<number> {
  const dynamodb = dynamodbClient();
  const count = Math.max(2_000, 100 * concurrency);
  const tag = newChangeId();
  try {
    const t0 = performance.now();
    await parallel(count, concurrency, async (i) => {
      await dynamodb.send(
        new UpdateItemCommand({
          TableName: config.objectsTable,
          Key: { key: { S: `stack-probe/${tag}/${i}` } },
          UpdateExpression: 'SET #v = :one',
          ConditionExpression: 'attribute_not_exists(#k)',
          ExpressionAttributeNames: { '#v': 'version', '#k': 'key' },
          ExpressionAttributeValues: { ':one': { N: '1' } },
        }),
      );
    });
    return round(count / ((performance.now() - t0) / 1000), 0);
  } finally {
    dynamodb.destroy();
  }
}

export async function idleStage(options: { instances: number }): Promise<IdleResult> {
  const config = await freshConfig('idle');
  const dynamodb = dynamodbClient();
  try {
    // What a writer's instance item looks like after record + remove: live, n = 0, lease ahead.
    const leaseUntil = Date.now() + 120_000;
    const items = Array.from({ length: options.instances }, () => {
      const pk = newInstanceId();
      return {
        [CHANGELOG_ATTR.pk]: pk,
        [CHANGELOG_ATTR.state]: 'live',
        [CHANGELOG_ATTR.shard]: shardOf(pk, config.leaseShards),
        [CHANGELOG_ATTR.leaseUntil]: leaseUntil,
        [CHANGELOG_ATTR.count]: 0,
      };
    });
    await parallel(Math.ceil(items.length / 25), 8, async (b) => {
      let pending = items.slice(b * 25, b * 25 + 25).map((item) => ({ PutRequest: { Item: marshall(item) } }));
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 10) throw new Error('BatchWriteItem left items unprocessed');
        const out = await dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [config.changeLogTable]: pending } }));
        pending = (out.UnprocessedItems?.[config.changeLogTable] as typeof pending | undefined) ?? [];
      }
    });
    const countedSweep = async (housekeeping: boolean) => {
      const probe = new Probe({ measureCapacity: true });
      const sweepDynamo = probe.attach(dynamodbClient(), 'dynamodb');
      const sweepS3 = probe.attach(s3Client(), 's3');
      const sweeper = new Sweeper({ config, dynamodb: sweepDynamo, s3: sweepS3 });
      const s0 = performance.now();
      const report = await sweeper.sweep({ housekeeping });
      const sweepMs = round(performance.now() - s0, 1);
      sweepDynamo.destroy();
      sweepS3.destroy();
      const calls = summarizeCalls(probe.calls);
      return { report, sweepMs, calls, queriesPerShard: round((calls.dynamodb.Query ?? 0) / config.leaseShards, 2) };
    };
    const ordinary = await countedSweep(false);
    const housekeeping = await countedSweep(true);
    const { wouldDelete: _, ...rest } = ordinary.report;
    return {
      liveInstances: options.instances,
      shards: config.leaseShards,
      sweepMs: ordinary.sweepMs,
      report: rest,
      calls: ordinary.calls,
      queriesPerShard: ordinary.queriesPerShard,
      housekeeping: { sweepMs: housekeeping.sweepMs, calls: housekeeping.calls, queriesPerShard: housekeeping.queriesPerShard },
    };
  } finally {
    dynamodb.destroy();
  }
}

export function summarizeCalls(calls: readonly CallRecord[]): SweepCalls {
  const dynamodb: Record<string, number> = {};
  const s3: Record<string, number> = {};
  const capacity = emptyCapacity();
  for (const c of calls) {
    const into = c.service === 'dynamodb' ? dynamodb : s3;
    into[c.command] = (into[c.command] ?? 0) + 1;
    addCapacity(capacity, c.capacity);
  }
  const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
  return {
    dynamodb,
    s3,
    dynamodbTotal: sum(dynamodb),
    s3Total: sum(s3),
    wcu: round(capacity.wcu),
    gsiWcu: round(capacity.gsiWcu),
    rcu: round(capacity.rcu),
    computedUnits: round(capacity.computed),
  };
}

export async function countBlobs(s3: ReturnType<typeof s3Client>, bucket: string, prefix: string): Promise<number> {
  return (await listBlobs(s3, bucket, prefix)).length;
}

export async function listBlobs(s3: ReturnType<typeof s3Client>, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: `${prefix}/` })) {
    for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
  }
  return keys;
}

export async function scanRaw(dynamodb: ReturnType<typeof dynamodbClient>, tableName: string) {
  const items: Array<Record<string, any>> = [];
  for await (const page of paginateScan({ client: dynamodb }, { TableName: tableName, ConsistentRead: true })) {
    items.push(...(page.Items ?? []));
  }
  return items;
}

async function scanLog(dynamodb: ReturnType<typeof dynamodbClient>, tableName: string): Promise<{ items: number; entries: number }> {
  const items = await scanRaw(dynamodb, tableName);
  const entries = items.reduce((n, item) => n + Object.keys(item).filter((k) => k.startsWith('c_')).length, 0);
  return { items: items.length, entries };
}
