/**
 * Shared pieces of the benchmark: fresh resources per stage on the local stack, clients,
 * statistics, a seeded random generator and the table printer.
 */
import { Agent as HttpAgent } from 'node:http';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DYNAMODB_SOCKET_TIMEOUT_MS } from '../lib/constants.js';
import { provisionLocal, type ReplacedBlobCleanup, type TierlogConfig } from '../lib/index.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Far past every writer lease (2 min) + skew margin (30 s) + upload window (20 min). */
export const PAST_EVERYTHING_MS = 3 * 60 * 60_000;

/** One keep-alive agent per service, shared by every client of the run (as a process would). */
const agents = {
  dynamodb: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
  s3: new HttpAgent({ keepAlive: true, maxSockets: 64 }),
};

export function destroyAgents(): void {
  agents.dynamodb.destroy();
  agents.s3.destroy();
}

/** A DynamoDB client as `createDynamoDBClient()` makes it (standard retries, 5 attempts, idle timeout), on the shared agent. */
export function dynamodbClient(): DynamoDBClient {
  return new DynamoDBClient({
    maxAttempts: 5,
    retryMode: 'standard',
    requestHandler: { httpAgent: agents.dynamodb, socketTimeout: DYNAMODB_SOCKET_TIMEOUT_MS },
  });
}

/** An S3 client as `createS3Client()` makes it for a local endpoint, on the shared agent. */
export function s3Client(): S3Client {
  return new S3Client({
    maxAttempts: 5,
    retryMode: 'standard',
    forcePathStyle: true,
    requestHandler: { httpAgent: agents.s3 },
  });
}

/**
 * What every stage's configuration carries beyond its tables: the logged writers'
 * `replacedBlobCleanup` (bench/run.ts sets it from `--replaced-blob-cleanup`).
 */
export const benchConfig: { replacedBlobCleanup: ReplacedBlobCleanup } = { replacedBlobCleanup: 'stream' };

let counter = 0;
const runTag = randomBytes(3).toString('hex');

/** Fresh tables and bucket for one stage of the run. */
export async function freshConfig(stage: string, prefix = 'blobs'): Promise<TierlogConfig> {
  const n = `${stage}-${runTag}-${counter++}`;
  const config: TierlogConfig = {
    changeLogTable: `bench-log-${n}`,
    objectsTable: `bench-obj-${n}`,
    bucket: `bench-${n}`.toLowerCase(),
    prefix,
    leaseShards: 4,
    replacedBlobCleanup: benchConfig.replacedBlobCleanup,
  };
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  try {
    await provisionLocal(config, { dynamodb, s3 });
  } finally {
    dynamodb.destroy();
    s3.destroy();
  }
  return config;
}

/** Runs `task(i)` for i in 0..n-1 with at most `concurrency` at once. */
export async function parallel(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(n, concurrency) }, async () => {
    while (next < n) {
      const i = next++;
      await task(i);
    }
  });
  await Promise.all(workers);
}

/** Deterministic uniform [0, 1) generator (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBody(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** Nearest-rank percentile of `values` (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * A 95% interval of `statistic(logged) / statistic(unlogged)` by a paired bootstrap: `resamples`
 * times, draw run indices with replacement and take both modes' samples of each drawn run (runs
 * alternate, so a pause of the servers falls on both modes of one run). Seeded, so a run's
 * interval is reproducible from its samples. Tells a ratio the noise could give from one it
 * could not: with 200 runs, p99 is the third-largest sample (nearest rank 198); with 300, the fourth.
 */
export function pairedRatioInterval(
  logged: readonly number[],
  unlogged: readonly number[],
  statistic: (values: readonly number[]) => number,
  resamples = 2_000,
): [number, number] {
  const n = Math.min(logged.length, unlogged.length);
  if (n === 0) return [NaN, NaN];
  const random = seeded(n * 7919 + resamples);
  const ratios: number[] = [];
  const a = new Array<number>(n);
  const b = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(random() * n);
      a[i] = logged[j]!;
      b[i] = unlogged[j]!;
    }
    ratios.push(statistic(a) / statistic(b));
  }
  return [percentile(ratios, 2.5), percentile(ratios, 97.5)];
}

/**
 * Times `a(i)` and `b(i)` side by side for i from 0 to `warmup + runs - 1`: `a` first when i is
 * even, `b` first when it is odd, so neither always runs on what the other left (its garbage,
 * the servers' caches); the first `warmup` pairs are not kept. Each side's times, ms, in run order:
 * time j of `a` and time j of `b` are one pair, as {@link pairedRatioInterval} draws them.
 */
export async function alternated(
  runs: number,
  warmup: number,
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
): Promise<{ a: number[]; b: number[] }> {
  const times = { a: [] as number[], b: [] as number[] };
  const ops = { a, b };
  for (let i = 0; i < warmup + runs; i++) {
    for (const side of i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const)) {
      const t0 = performance.now();
      await ops[side](i);
      if (i >= warmup) times[side].push(performance.now() - t0);
    }
  }
  return times;
}

/**
 * A ratio and, when the run has one, its 95% interval: `1.104 (0.95-1.27)`. A ratio the run could
 * not measure (NaN, null in the JSON) is `not measured`.
 */
export function withInterval(ratio: number, interval: readonly [number, number] | undefined): string {
  const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  if (!finite(ratio)) return 'not measured';
  return interval === undefined || !interval.every(finite)
    ? ratio.toFixed(3)
    : `${ratio.toFixed(3)} (${interval[0].toFixed(2)}-${interval[1].toFixed(2)})`;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Renders rows as an aligned text table (first row: header). */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => [...(r[i] ?? '')].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c + ' '.repeat(widths[i]! - [...c].length))
      .join('  ')
      .trimEnd();
  const out = [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  ')];
  for (const r of cells.slice(1)) out.push(line(r));
  return out.join('\n');
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
