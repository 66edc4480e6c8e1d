/**
 * Calls, round trips and consumed capacity per operation type, logged (DynamoChangeLog) and
 * unlogged (NoopChangeLog), same TieredStore code. Operations run one at a time, so each one's
 * requests are exactly the records gathered while it ran.
 */
import { performance } from 'node:perf_hooks';
import { DynamoChangeLog, NoopChangeLog, TieredStore, type ChangeLog, hvAttributeNames, type TierlogConfig } from '../../lib/index.js';
import { StreamReader } from '../../lib/local/stream-reader.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import { KiB, dynamodbClient, freshConfig, mean, randomBody, round, s3Client } from '../common.js';
import { type AttemptRecord, type CallRecord, Probe, addCapacity, emptyCapacity, roundTrips, sequence } from '../instrument.js';
import { summarizeCalls } from './recovery.js';

export type Mode = 'logged' | 'unlogged';

export const OP_TYPES = [
  'small put (create)',
  'small overwrite',
  'large create',
  'large create, new instance',
  'large overwrite',
  'small over large',
  'large delete',
  'small delete',
] as const;
export type OpType = (typeof OP_TYPES)[number];

export interface OpFigures {
  readonly samples: number;
  /** Mean DynamoDB calls per operation. */
  readonly dynamodbCalls: number;
  readonly s3Calls: number;
  /** Mean sequential DynamoDB round trips (overlapping requests count once). */
  readonly dynamodbRoundTrips: number;
  /** Mean sequential round trips over both services. */
  readonly totalRoundTrips: number;
  /** The most frequent request sequence (`∥`: in parallel, `→`: after). */
  readonly sequence: string;
  /** DynamoDB calls by command (mean per operation). */
  readonly commands: Record<string, number>;
  /** Mean write capacity units: base tables, GSI, and how many of them were computed. */
  readonly wcu: number;
  readonly gsiWcu: number;
  readonly rcu: number;
  readonly computedUnits: number;
  /** Mean wall time per operation, ms (sequential, no load). */
  readonly meanMs: number;
}

export interface OpsResult {
  readonly iterations: number;
  readonly largeBytes: number;
  readonly smallBytes: number;
  readonly figures: Record<Mode, Record<OpType, OpFigures>>;
  /** With `replacedBlobCleanup: 'stream'`: what the objects-stream function did for the logged run's records. */
  readonly streamCleanup?: StreamCleanupCost;
}

/**
 * The objects-stream function's work for one stage's stream: the records the construct's event
 * filter passes (every REMOVE, and MODIFY of an item that pointed at a blob) delivered in batches of 100,
 * as the event source mapping does, and the requests they cost.
 */
export interface StreamCleanupCost {
  readonly records: number;
  /** Records the event filter passes. */
  readonly delivered: number;
  readonly invocations: number;
  /** MODIFY records whose old image names a blob (overwrites and deletes of large objects). */
  readonly replaced: number;
  readonly blobsDeleted: number;
  readonly dynamodbCalls: number;
  readonly s3Calls: number;
  /** Calls by command. */
  readonly commands: Record<string, number>;
}

interface Sample {
  calls: CallRecord[];
  attempts: AttemptRecord[];
  ms: number;
}

export async function opsStage(options: { iterations: number; warmup: number }): Promise<OpsResult> {
  const smallBytes = 1 * KiB;
  const largeBytes = 64 * KiB;
  const figures = {} as Record<Mode, Record<OpType, OpFigures>>;
  let streamCleanup: StreamCleanupCost | undefined;
  for (const mode of ['logged', 'unlogged'] as const) {
    const config = await freshConfig(`ops-${mode}`);
    const probe = new Probe({ measureCapacity: true });
    const dynamodb = probe.attach(dynamodbClient(), 'dynamodb');
    const s3 = probe.attach(s3Client(), 's3');
    const newLog = (): ChangeLog =>
      mode === 'logged' ? new DynamoChangeLog({ config, dynamodb, renewInBackground: false }) : new NoopChangeLog();
    const log = newLog();
    const store = new TieredStore({ config, changeLog: log, dynamodb, s3 });
    const logs: ChangeLog[] = [log];
    // The objects table has its stream on in both modes (the construct's table has one; a table
    // with a stream takes writes more slowly on DynamoDB Local): only the logged run's is read.
    const reader = await StreamReader.open(dynamodb, config.objectsTable, 'OLD_IMAGE');
    const streamed = mode === 'logged' && config.replacedBlobCleanup === 'stream';
    const samples = new Map<OpType, Sample[]>(OP_TYPES.map((t) => [t, []]));
    const small = randomBody(smallBytes);
    const large = randomBody(largeBytes);
    const measure = async (type: OpType, keep: boolean, op: () => Promise<unknown>) => {
      probe.reset();
      const t0 = performance.now();
      await op();
      const ms = performance.now() - t0;
      const taken = probe.take();
      if (keep) samples.get(type)!.push({ ...taken, ms });
    };
    try {
      for (let i = 0; i < options.warmup + options.iterations; i++) {
        const keep = i >= options.warmup;
        await measure('small put (create)', keep, () => store.put(`s-${i}`, small));
        await measure('small overwrite', keep, () => store.put(`s-${i}`, small));
        await measure('large create', keep, () => store.put(`l-${i}`, large));
        // The first record of a fresh instance (a cold Lambda environment) writes its lease:
        // that is the record that also writes the lease index.
        const fresh = newLog();
        logs.push(fresh);
        const freshStore = new TieredStore({ config, changeLog: fresh, dynamodb, s3 });
        await measure('large create, new instance', keep, () => freshStore.put(`n-${i}`, large));
        await measure('large overwrite', keep, () => store.put(`l-${i}`, large));
        await measure('small over large', keep, () => store.put(`l-${i}`, small));
        await store.put(`d-${i}`, large);
        await measure('large delete', keep, () => store.delete(`d-${i}`));
        await measure('small delete', keep, () => store.delete(`l-${i}`));
      }
      if (streamed) streamCleanup = await streamCleanupCost(config, reader);
    } finally {
      reader.close();
      for (const l of logs) if (l instanceof DynamoChangeLog) l.close();
      dynamodb.destroy();
      s3.destroy();
    }
    figures[mode] = Object.fromEntries(OP_TYPES.map((t) => [t, summarize(samples.get(t)!)])) as Record<OpType, OpFigures>;
  }
  return { iterations: options.iterations, largeBytes, smallBytes, figures, ...(streamCleanup !== undefined ? { streamCleanup } : {}) };
}

/** Runs the stream's records through the objects-stream function's cleanup, as deployed (filter, batches of 100). */
async function streamCleanupCost(config: TierlogConfig, reader: StreamReader): Promise<StreamCleanupCost> {
  const records = await reader.read();
  const delivered = records.filter(
    (r) => r.eventName === 'REMOVE' || (r.eventName === 'MODIFY' && r.dynamodb?.OldImage?.[hvAttributeNames(config).blob]?.S !== undefined),
  );
  const probe = new Probe();
  const dynamodb = probe.attach(dynamodbClient(), 'dynamodb');
  const s3 = probe.attach(s3Client(), 's3');
  const cleanup = new StreamCleanup({ config, dynamodb, s3 });
  let replaced = 0;
  let blobsDeleted = 0;
  let invocations = 0;
  try {
    for (let i = 0; i < delivered.length; i += 100) {
      const { report } = await cleanup.handle(delivered.slice(i, i + 100));
      invocations++;
      replaced += report.replaced;
      blobsDeleted += report.blobsDeleted;
    }
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
  const calls = summarizeCalls(probe.take().calls);
  return {
    records: records.length,
    delivered: delivered.length,
    invocations,
    replaced,
    blobsDeleted,
    dynamodbCalls: calls.dynamodbTotal,
    s3Calls: calls.s3Total,
    commands: { ...calls.dynamodb, ...Object.fromEntries(Object.entries(calls.s3).map(([c, n]) => [`s3:${c}`, n])) },
  };
}

function summarize(samples: Sample[]): OpFigures {
  const n = samples.length;
  const commands: Record<string, number> = {};
  const sequences = new Map<string, number>();
  const capacity = emptyCapacity();
  for (const s of samples) {
    for (const c of s.calls) {
      if (c.service === 'dynamodb') commands[c.command] = (commands[c.command] ?? 0) + 1 / n;
      else commands[`s3:${c.command}`] = (commands[`s3:${c.command}`] ?? 0) + 1 / n;
      addCapacity(capacity, c.capacity);
    }
    const seq = sequence(s.attempts);
    sequences.set(seq, (sequences.get(seq) ?? 0) + 1);
  }
  const top = [...sequences].sort((a, b) => b[1] - a[1])[0];
  return {
    samples: n,
    dynamodbCalls: round(mean(samples.map((s) => s.calls.filter((c) => c.service === 'dynamodb').length))),
    s3Calls: round(mean(samples.map((s) => s.calls.filter((c) => c.service === 's3').length))),
    dynamodbRoundTrips: round(mean(samples.map((s) => roundTrips(s.attempts, 'dynamodb')))),
    totalRoundTrips: round(mean(samples.map((s) => roundTrips(s.attempts)))),
    sequence: top === undefined ? '' : top[1] === n ? top[0] : `${top[0]} (${top[1]}/${n})`,
    commands: Object.fromEntries(Object.entries(commands).map(([k, v]) => [k, round(v)])),
    wcu: round(capacity.wcu / n),
    gsiWcu: round(capacity.gsiWcu / n),
    rcu: round(capacity.rcu / n),
    computedUnits: round(capacity.computed / n),
    meanMs: round(mean(samples.map((s) => s.ms))),
  };
}
