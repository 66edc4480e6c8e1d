/**
 * Latency of 1 MiB creates, overwrites and deletes, logged vs unlogged. Both stores share the
 * same clients, tables and bucket; runs alternate (logged first on even iterations, unlogged
 * first on odd ones) so drift of the servers (GC, disk cache) falls on both alike.
 *
 * Both stores settle in the background (`settleInBackground`), and each operation gives two
 * figures: `answer`, until the caller has its answer (the put or delete resolved), and `done`,
 * until all its work is done (then `store.settled()` resolved: the replaced blob deleted, the
 * entry removed). Work moved off the caller's path shows in `done`. The next operation starts
 * after `done`, so settles never overlap the next measurement.
 */
import { performance } from 'node:perf_hooks';
import { DynamoChangeLog, NoopChangeLog, TieredStore } from '../../lib/index.js';
import { MiB, dynamodbClient, freshConfig, mean, pairedRatioInterval, percentile, randomBody, round, s3Client } from '../common.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { type AttemptRecord, Probe } from '../instrument.js';
import type { Mode } from './ops.js';

export interface LatencyFigures {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

export const LATENCY_KINDS = ['create', 'overwrite', 'delete'] as const;
export type LatencyKind = (typeof LATENCY_KINDS)[number];

/**
 * Logged and unlogged figures of one measure, with logged/unlogged ratios and their 95% paired
 * bootstrap intervals (`pairedRatioInterval`; absent in results before 2026-12-01).
 */
export type LatencyPair = Record<Mode, LatencyFigures> & {
  p50Ratio: number;
  p99Ratio: number;
  p50RatioInterval?: [number, number];
  p99RatioInterval?: [number, number];
};

export interface LatencyResult {
  readonly bytes: number;
  readonly warmup: number;
  readonly runs: number;
  /** Until the caller has its answer. */
  readonly create: LatencyPair;
  readonly overwrite: LatencyPair;
  readonly delete: LatencyPair;
  /** Until all the operation's work (its settle included) is done. */
  readonly done: Record<LatencyKind, LatencyPair>;
  /** Median latency of single requests during the stage, ms, by command (all modes). */
  readonly perRequestMedianMs: Record<string, number>;
  /** A modelled run: this much was added to every request attempt (a remote service's round trip). */
  readonly addedPerRequestMs?: { readonly dynamodb: number; readonly s3: number };
  /**
   * Settles of the kept rounds that failed (the store's `onCleanupError`), by mode: such a settle
   * resolves `settled()` all the same, so its "all done" time is of work left undone (absent in
   * results before 2026-12-05).
   */
  readonly settleFailures?: Record<Mode, number>;
}

export async function latencyStage(options: {
  runs: number;
  warmup: number;
  bytes?: number;
  /** Model a remote service: add this many ms to every attempt (FaultInjector `delay`). */
  addedPerRequestMs?: { dynamodb: number; s3: number };
}): Promise<LatencyResult> {
  const bytes = options.bytes ?? MiB;
  const config = await freshConfig('latency');
  const probe = new Probe();
  const dynamodb = probe.attach(dynamodbClient(), 'dynamodb');
  const s3 = probe.attach(s3Client(), 's3');
  const added = options.addedPerRequestMs;
  if (added !== undefined) {
    // A transaction is charged twice per item and coordinates two items: model it as two round trips.
    const model = new FaultInjector()
      .add({ kind: 'delay', delayMs: 2 * added.dynamodb, match: (r) => r.command === 'TransactWriteItemsCommand' })
      .add({ kind: 'delay', delayMs: added.dynamodb, match: (r) => r.service === 'dynamodb' })
      .add({ kind: 'delay', delayMs: added.s3, match: (r) => r.service === 's3' });
    model.attach(dynamodb, 'dynamodb');
    model.attach(s3, 's3');
  }
  const log = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
  // A settle that fails (a delete or a remove refused) is reported here and nowhere else: `settled()`
  // resolves all the same, often sooner, so its "all done" time is not that of the work done. Counted
  // in the kept rounds (every settle of a round is done before the next round starts).
  const settleFailures: Record<Mode, number> = { logged: 0, unlogged: 0 };
  let counting = false;
  const stores: Record<Mode, TieredStore> = {
    logged: new TieredStore({
      config,
      changeLog: log,
      dynamodb,
      s3,
      settleInBackground: true,
      onCleanupError: () => {
        if (counting) settleFailures.logged++;
      },
    }),
    unlogged: new TieredStore({
      config,
      changeLog: new NoopChangeLog(),
      dynamodb,
      s3,
      settleInBackground: true,
      onCleanupError: () => {
        if (counting) settleFailures.unlogged++;
      },
    }),
  };
  const bodies: Record<Mode, Uint8Array> = { logged: randomBody(bytes), unlogged: randomBody(bytes) };
  const series = () =>
    Object.fromEntries(LATENCY_KINDS.map((k) => [k, { logged: [] as number[], unlogged: [] as number[] }])) as Record<
      LatencyKind,
      Record<Mode, number[]>
    >;
  const answer = series();
  const done = series();
  const op = (store: TieredStore, kind: LatencyKind, key: string, body: Uint8Array) =>
    kind === 'delete' ? store.delete(key) : store.put(key, body);
  const attempts: AttemptRecord[] = [];
  try {
    const total = options.warmup + options.runs;
    for (let i = 0; i < total; i++) {
      const keep = i >= options.warmup;
      counting = keep;
      const order: Mode[] = i % 2 === 0 ? ['logged', 'unlogged'] : ['unlogged', 'logged'];
      for (const kind of LATENCY_KINDS) {
        for (const mode of order) {
          const t0 = performance.now();
          await op(stores[mode], kind, `${mode}-${i}`, bodies[mode]);
          const t1 = performance.now();
          await stores[mode].settled();
          const t2 = performance.now();
          if (keep) {
            answer[kind][mode].push(t1 - t0);
            done[kind][mode].push(t2 - t0);
          }
        }
      }
      const taken = probe.take();
      if (keep) attempts.push(...taken.attempts);
    }
  } finally {
    log.close();
    dynamodb.destroy();
    s3.destroy();
  }
  const pair = latencyPair;
  const byCommand = new Map<string, number[]>();
  for (const a of attempts) {
    const key = `${a.service === 's3' ? 's3:' : ''}${a.command}`;
    if (!byCommand.has(key)) byCommand.set(key, []);
    byCommand.get(key)!.push(a.end - a.start);
  }
  return {
    bytes,
    warmup: options.warmup,
    runs: options.runs,
    create: pair(answer.create),
    overwrite: pair(answer.overwrite),
    delete: pair(answer.delete),
    done: { create: pair(done.create), overwrite: pair(done.overwrite), delete: pair(done.delete) },
    perRequestMedianMs: Object.fromEntries([...byCommand].map(([k, v]) => [k, round(percentile(v, 50))])),
    ...(added !== undefined ? { addedPerRequestMs: added } : {}),
    settleFailures,
  };
}

function figures(values: readonly number[]): LatencyFigures {
  return {
    samples: values.length,
    p50Ms: round(percentile(values, 50)),
    p99Ms: round(percentile(values, 99)),
    meanMs: round(mean(values)),
  };
}

/**
 * One measure's figures in both modes, its logged/unlogged ratios and their intervals. A ratio is
 * of the percentiles as measured, as its interval is, not of the printed ones (rounded to 0.01
 * ms): a ratio of rounded milliseconds could move across a target's bound.
 */
export function latencyPair(times: Readonly<Record<Mode, readonly number[]>>): LatencyPair {
  const ratio = (p: number) => round(percentile(times.logged, p) / percentile(times.unlogged, p), 3);
  const interval = (p: number): [number, number] =>
    pairedRatioInterval(times.logged, times.unlogged, (v) => percentile(v, p)).map((x) => round(x, 3)) as [number, number];
  return {
    logged: figures(times.logged),
    unlogged: figures(times.unlogged),
    p50Ratio: ratio(50),
    p99Ratio: ratio(99),
    p50RatioInterval: interval(50),
    p99RatioInterval: interval(99),
  };
}
