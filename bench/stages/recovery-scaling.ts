/**
 * How recovery scales: with the sweeper's concurrency (one sweeper at 4, 16 and 64 instances in
 * flight), and with 1, 2 and 4 sweepers at concurrency 16 splitting the lease shards between
 * them (`sweep({ shards })`, as the fan-out does). Each point has its own fresh tables, the same
 * orphaned entries as the recovery stage (smaller: `instances` x `perInstance`), recovered in the
 * same two sweeps (fence, then judge past the upload window; times and requests of both), and its own
 * yardstick: the stack's small conditional writes per second at the same number of requests in
 * flight (the sweepers' concurrencies added up), measured just before the sweep.
 */
import { dynamodbClient, freshConfig, log, round, s3Client } from '../common.js';
import { Probe } from '../instrument.js';
import { countBlobs, recoverInTwoSweeps, scanRaw, setupOrphans, stackWritesPerSecond } from './recovery.js';

export interface ScalingPoint {
  readonly sweepers: number;
  /** Concurrency of each sweeper. */
  readonly concurrency: number;
  readonly entries: number;
  readonly sweepSeconds: number;
  readonly entriesPerSecond: number;
  readonly requestsPerSecond: number;
  /** Small conditional writes per second the stack takes at `sweepers * concurrency` in flight. */
  readonly stackWritesPerSecond: number;
  readonly stackRatio: number;
  readonly dynamodbCallsPerEntry: number;
  readonly s3CallsPerEntry: number;
  readonly ok: boolean;
}

export interface RecoveryScalingResult {
  readonly instances: number;
  readonly perInstance: number;
  readonly byConcurrency: ScalingPoint[];
  readonly bySweepers: ScalingPoint[];
}

export async function recoveryScalingStage(options: {
  instances: number;
  perInstance: number;
  concurrencies?: readonly number[];
  sweepers?: readonly number[];
}): Promise<RecoveryScalingResult> {
  const byConcurrency: ScalingPoint[] = [];
  for (const concurrency of options.concurrencies ?? [4, 16, 64]) {
    byConcurrency.push(await point(options.instances, options.perInstance, 1, concurrency));
  }
  const bySweepers: ScalingPoint[] = [];
  for (const sweepers of options.sweepers ?? [1, 2, 4]) {
    const reuse = sweepers === 1 ? byConcurrency.find((p) => p.concurrency === 16) : undefined;
    bySweepers.push(reuse ?? (await point(options.instances, options.perInstance, sweepers, 16)));
  }
  return { instances: options.instances, perInstance: options.perInstance, byConcurrency, bySweepers };
}

async function point(instances: number, perInstance: number, sweepers: number, concurrency: number): Promise<ScalingPoint> {
  const config = await freshConfig('scaling');
  const entries = instances * perInstance;
  await setupOrphans(config, instances, perInstance);
  const stack = await stackWritesPerSecond(config, sweepers * concurrency);
  const probe = new Probe({ keep: false });
  const clients = Array.from({ length: sweepers }, () => ({
    dynamodb: probe.attach(dynamodbClient(), 'dynamodb'),
    s3: probe.attach(s3Client(), 's3'),
  }));
  // Shard i goes to sweeper i mod n.
  const shardsOf = (i: number) => Array.from({ length: config.leaseShards }, (_, s) => s).filter((s) => s % sweepers === i);
  const { report, fence, judge } = await recoverInTwoSweeps(
    config,
    clients.map((c, i) => ({ ...c, shards: shardsOf(i) })),
    concurrency,
    probe,
  );
  const seconds = fence.seconds + judge.seconds;
  for (const c of clients) {
    c.dynamodb.destroy();
    c.s3.destroy();
  }
  const recovered = report.entriesRecovered;
  const errors = report.errors;
  const s3 = s3Client();
  const left = await countBlobs(s3, config.bucket, config.prefix).finally(() => s3.destroy());
  // Clean as the recovery stage checks it: no blob and no change-log item left (an instance the
  // sweep drained but did not retire is work left undone too).
  const dynamodb = dynamodbClient();
  const logItems = (await scanRaw(dynamodb, config.changeLogTable).finally(() => dynamodb.destroy())).length;
  const counts = probe.counts;
  const requests = counts.dynamodbCalls + counts.s3Calls;
  const result: ScalingPoint = {
    sweepers,
    concurrency,
    entries,
    sweepSeconds: round(seconds, 2),
    entriesPerSecond: round(recovered / seconds, 0),
    requestsPerSecond: round(requests / seconds, 0),
    stackWritesPerSecond: stack,
    stackRatio: round(requests / seconds / stack, 3),
    dynamodbCallsPerEntry: round(counts.dynamodbCalls / entries, 3),
    s3CallsPerEntry: round(counts.s3Calls / entries, 3),
    ok: recovered === entries && left === 0 && logItems === 0 && errors === 0,
  };
  log(
    `recovery scaling: ${sweepers} sweeper(s) x ${concurrency}: ${result.entriesPerSecond} entries/s, ${result.requestsPerSecond} req/s vs stack ${stack}/s (ratio ${result.stackRatio})`,
  );
  return result;
}
