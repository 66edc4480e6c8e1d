/**
 * Load: many writer "processes" at once (logged: each with a DynamoChangeLog; unlogged: a
 * NoopChangeLog, the same load for comparison), each with its own DynamoChangeLog and TieredStore and
 * its own SDK clients (sharing the process's keep-alive agents) carrying a FaultInjector that
 * throttles a share of attempts. They run a fixed number of mixed operations on a small, shared
 * key space (so writes race on the same keys), then stop. One sweep past every lease follows,
 * and the invariants of DESIGN.md are checked from outside with raw scans and a bucket listing:
 *
 *   lost    HV references a blob that does not exist                   must be 0
 *   leaked  a blob under the prefix that HV does not reference          must be 0
 *   drained entries left in the change log                             must be 0
 */
import { performance } from 'node:perf_hooks';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoChangeLog, NoopChangeLog, Sweeper, TieredStore, DEFAULT_HV_ATTRIBUTES } from '../../lib/index.js';
import type { Mode } from './ops.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import {
  KiB,
  PAST_EVERYTHING_MS,
  dynamodbClient,
  freshConfig,
  log,
  mean,
  percentile,
  randomBody,
  round,
  s3Client,
  seeded,
} from '../common.js';
import { Probe } from '../instrument.js';
import { listBlobs, scanRaw, summarizeCalls, type SweepCalls } from './recovery.js';
import { type CpuSample, cpuSpent } from '../cpu.js';

const OPS = ['small put', 'large put', 'delete'] as const;
type LoadOp = (typeof OPS)[number];

export interface LoadResult {
  /** logged: each writer has a DynamoChangeLog; unlogged: a NoopChangeLog (same store code). */
  readonly mode: Mode;
  readonly writers: number;
  readonly opsPerWriter: number;
  readonly keys: number;
  readonly throttleProbability: number;
  readonly largeBytes: number;
  readonly seconds: number;
  readonly opsPerSecond: number;
  readonly ops: Record<LoadOp, { count: number; ok: number; p50Ms: number; p99Ms: number }>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
  readonly errors: Record<string, number>;
  /**
   * CPU ms per operation while the ops ran, of this process (the writers and their SDK clients)
   * and of each server; absent where /proc is not.
   */
  readonly cpuMsPerOp?: { readonly client: number; readonly dynamodb?: number; readonly s3?: number };
  /** Logical SDK calls (outside the retry loop) and attempts (inside it; FaultInjector's count). */
  readonly sdk: {
    readonly calls: number;
    readonly attempts: number;
    readonly retries: number;
    readonly throttlesInjected: number;
    readonly dynamodbCalls: number;
    readonly s3Calls: number;
    /** Logical calls by command (`:changelog` for the change-log table), and failures by command and error. */
    readonly byCommand: Record<string, number>;
    readonly failuresByCommand: Record<string, number>;
  };
  readonly sweep: {
    readonly seconds: number;
    readonly instancesExpired: number;
    readonly instancesRetired: number;
    readonly instancesClaimed: number;
    readonly entriesRecovered: number;
    readonly entriesQuarantined: number;
    readonly entriesDeferred: number;
    readonly blobsDeleted: number;
    readonly errors: number;
    readonly calls: SweepCalls;
  };
  readonly invariants: {
    readonly objects: number;
    readonly blobObjects: number;
    readonly blobs: number;
    readonly lost: number;
    readonly leaked: number;
    readonly logEntries: number;
    readonly logItems: number;
    readonly lostKeys: string[];
    readonly leakedBlobs: string[];
  };
  readonly ok: boolean;
}

export async function loadStage(options: {
  writers: number;
  opsPerWriter: number;
  keys: number;
  throttle: number;
  seed?: number;
  /** Default logged. */
  mode?: Mode;
  /** Samples the CPU of this process and the servers (bench/cpu.ts); the ops' share is reported. */
  cpu?: () => CpuSample;
}): Promise<LoadResult> {
  const mode = options.mode ?? 'logged';
  const config = await freshConfig('load');
  const smallBytes = 1 * KiB;
  const largeBytes = 64 * KiB;
  const small = randomBody(smallBytes);
  const large = randomBody(largeBytes);
  const probe = new Probe({ keep: false });
  probe.tableLabels.set(config.changeLogTable, 'changelog');
  const writers = Array.from({ length: options.writers }, (_, w) => {
    const injector = new FaultInjector(seeded((options.seed ?? 1) * 7919 + w)).add({ kind: 'throttle', probability: options.throttle });
    // Call counter outside the retry loop, injector inside it: attempts - calls = SDK retries.
    const dynamodb = probe.attach(injector.attach(dynamodbClient(), 'dynamodb'), 'dynamodb');
    const s3 = probe.attach(injector.attach(s3Client(), 's3'), 's3');
    const changeLog = mode === 'logged' ? new DynamoChangeLog({ config, dynamodb }) : new NoopChangeLog();
    const store = new TieredStore({ config, changeLog, dynamodb, s3 });
    return { injector, dynamodb, s3, changeLog, store, random: seeded((options.seed ?? 1) * 104729 + w) };
  });

  const latencies: Record<LoadOp, number[]> = { 'small put': [], 'large put': [], delete: [] };
  const counts: Record<LoadOp, { count: number; ok: number }> = {
    'small put': { count: 0, ok: 0 },
    'large put': { count: 0, ok: 0 },
    delete: { count: 0, ok: 0 },
  };
  const errors: Record<string, number> = {};
  const cpu0 = options.cpu?.();
  const t0 = performance.now();
  try {
    await Promise.all(
      writers.map(async (writer) => {
        for (let i = 0; i < options.opsPerWriter; i++) {
          const r = writer.random();
          const op: LoadOp = r < 0.3 ? 'small put' : r < 0.75 ? 'large put' : 'delete';
          const key = `k-${Math.floor(writer.random() * options.keys)}`;
          counts[op].count++;
          const s = performance.now();
          try {
            if (op === 'small put') await writer.store.put(key, small);
            else if (op === 'large put') await writer.store.put(key, large);
            else await writer.store.delete(key);
            counts[op].ok++;
          } catch (err) {
            const name = (err as { name?: string }).name ?? 'Error';
            errors[name] = (errors[name] ?? 0) + 1;
          }
          latencies[op].push(performance.now() - s);
        }
      }),
    );
  } finally {
    for (const w of writers) if (w.changeLog instanceof DynamoChangeLog) w.changeLog.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpu0 !== undefined && options.cpu !== undefined ? cpuSpent(cpu0, options.cpu()) : undefined;
  const totalOps = options.writers * options.opsPerWriter;
  const attempts = writers.reduce((n, w) => n + w.injector.stats.requests, 0);
  const throttles = writers.reduce((n, w) => n + w.injector.stats.injected.throttle, 0);
  for (const w of writers) {
    w.dynamodb.destroy();
    w.s3.destroy();
  }
  log(`load: ${totalOps} ops by ${options.writers} writers in ${round(seconds, 1)} s; sweeping past every lease`);

  // One sweep past every lease, on clean clients.
  const sweepProbe = new Probe({ measureCapacity: true });
  const sweepDynamo = sweepProbe.attach(dynamodbClient(), 'dynamodb');
  const sweepS3 = sweepProbe.attach(s3Client(), 's3');
  const sweeper = new Sweeper({ config, dynamodb: sweepDynamo, s3: sweepS3, clock: () => Date.now() + PAST_EVERYTHING_MS });
  const s0 = performance.now();
  const report = await sweeper.sweep();
  const sweepSeconds = (performance.now() - s0) / 1000;
  sweepDynamo.destroy();
  sweepS3.destroy();

  // The invariants, from outside: raw scans and a bucket listing, no tierlog code.
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  let invariants: LoadResult['invariants'];
  try {
    const [objects, instances, blobs] = await Promise.all([
      scanRaw(dynamodb, config.objectsTable),
      scanRaw(dynamodb, config.changeLogTable),
      listBlobs(s3, config.bucket, config.prefix),
    ]);
    const referenced = new Map<string, string>();
    for (const raw of objects) {
      const item = unmarshall(raw);
      const blob = item[DEFAULT_HV_ATTRIBUTES.blob];
      if (typeof blob === 'string') referenced.set(String(item[DEFAULT_HV_ATTRIBUTES.key]), blob);
    }
    const existing = new Set(blobs);
    const referencedBlobs = new Set(referenced.values());
    const lostKeys = [...referenced].filter(([, blob]) => !existing.has(blob)).map(([key]) => key);
    const leakedBlobs = blobs.filter((b) => !referencedBlobs.has(b));
    const logEntries = instances.reduce((n, item) => n + Object.keys(item).filter((k) => k.startsWith('c_')).length, 0);
    invariants = {
      objects: objects.length,
      blobObjects: referenced.size,
      blobs: blobs.length,
      lost: lostKeys.length,
      leaked: leakedBlobs.length,
      logEntries,
      logItems: instances.length,
      lostKeys: lostKeys.slice(0, 20),
      leakedBlobs: leakedBlobs.slice(0, 20),
    };
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }

  const all = OPS.flatMap((op) => latencies[op]);
  const calls = probe.counts.calls;
  return {
    mode,
    writers: options.writers,
    opsPerWriter: options.opsPerWriter,
    keys: options.keys,
    throttleProbability: options.throttle,
    largeBytes,
    seconds: round(seconds, 2),
    opsPerSecond: round(totalOps / seconds, 1),
    ops: Object.fromEntries(
      OPS.map((op) => [op, { ...counts[op], p50Ms: round(percentile(latencies[op], 50)), p99Ms: round(percentile(latencies[op], 99)) }]),
    ) as LoadResult['ops'],
    p50Ms: round(percentile(all, 50)),
    p99Ms: round(percentile(all, 99)),
    meanMs: round(mean(all)),
    errors,
    ...(cpu !== undefined ? { cpuMsPerOp: perOp(cpu, totalOps) } : {}),
    sdk: {
      calls,
      attempts,
      retries: attempts - calls,
      throttlesInjected: throttles,
      dynamodbCalls: probe.counts.dynamodbCalls,
      s3Calls: probe.counts.s3Calls,
      byCommand: sorted(probe.byCommand),
      failuresByCommand: sorted(probe.failuresByCommand),
    },
    sweep: {
      seconds: round(sweepSeconds, 2),
      instancesExpired: report.instancesExpired,
      instancesRetired: report.instancesRetired,
      instancesClaimed: report.instancesClaimed,
      entriesRecovered: report.entriesRecovered,
      entriesQuarantined: report.entriesQuarantined,
      entriesDeferred: report.entriesDeferred,
      blobsDeleted: report.blobsDeleted,
      errors: report.errors,
      calls: summarizeCalls(sweepProbe.calls),
    },
    invariants,
    ok: invariants.lost === 0 && invariants.leaked === 0 && invariants.logEntries === 0,
  };
}

function sorted(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).sort(([, a], [, b]) => b - a));
}

function perOp(cpu: CpuSample, ops: number): NonNullable<LoadResult['cpuMsPerOp']> {
  const ms = (seconds: number) => round((seconds * 1000) / ops, 2);
  return {
    client: ms(cpu.client),
    ...(cpu.dynamodb !== undefined ? { dynamodb: ms(cpu.dynamodb) } : {}),
    ...(cpu.s3 !== undefined ? { s3: ms(cpu.s3) } : {}),
  };
}
