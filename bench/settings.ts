/**
 * The bench's command line: which stages run, and the size of each. `--quick` picks smaller
 * defaults; every size can be set on its own (see the head of bench/run.ts).
 */
import { parseArgs } from 'node:util';
import { REPLACED_BLOB_CLEANUPS, type ReplacedBlobCleanup } from '../lib/config.js';

export const STAGES = ['baseline', 'ops', 'latency', 'recovery', 'scaling', 'idle', 'load', 'coldstart', 'memory', 'sessions'] as const;
export type Stage = (typeof STAGES)[number];

export const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'latency-runs': { type: 'string' },
    'recovery-instances': { type: 'string' },
    'entries-per-instance': { type: 'string' },
    'sweep-concurrency': { type: 'string' },
    'scaling-instances': { type: 'string' },
    'coldstart-runs': { type: 'string' },
    'idle-instances': { type: 'string' },
    writers: { type: 'string' },
    'ops-per-writer': { type: 'string' },
    keys: { type: 'string' },
    throttle: { type: 'string' },
    seed: { type: 'string' },
    'model-dynamodb-ms': { type: 'string' },
    'model-s3-ms': { type: 'string' },
    'replaced-blob-cleanup': { type: 'string' },
  },
  strict: true,
});

function num(name: keyof typeof args, full: number, quick: number): number {
  const raw = args[name];
  if (raw === undefined) return args.quick ? quick : full;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got ${String(raw)}`);
  return n;
}

/** Who cleans a replaced blob for the logged writers: `stream` (as the construct deploys them) unless told. */
function replacedBlobCleanup(): ReplacedBlobCleanup {
  const raw = args['replaced-blob-cleanup'] ?? 'stream';
  if (!(REPLACED_BLOB_CLEANUPS as readonly string[]).includes(raw)) {
    throw new Error(`--replaced-blob-cleanup must be one of ${REPLACED_BLOB_CLEANUPS.join(', ')}, got ${raw}`);
  }
  return raw as ReplacedBlobCleanup;
}

export const settings = {
  quick: args.quick ?? false,
  warmupRounds: args.quick ? 80 : 300,
  opsIterations: args.quick ? 5 : 20,
  opsWarmup: 2,
  latencyRuns: num('latency-runs', 200, 30),
  latencyWarmup: args.quick ? 5 : 20,
  recoveryInstances: num('recovery-instances', 1000, 100),
  entriesPerInstance: num('entries-per-instance', 10, 10),
  sweepConcurrency: args['sweep-concurrency'] !== undefined ? num('sweep-concurrency', 16, 16) : undefined,
  scalingInstances: num('scaling-instances', 300, 60),
  coldStartRuns: num('coldstart-runs', 7, 3),
  idleInstances: num('idle-instances', 10_000, 1_000),
  writers: num('writers', 100, 100),
  opsPerWriter: num('ops-per-writer', 30, 5),
  keys: num('keys', 150, 100),
  throttle: num('throttle', 0.05, 0.05),
  seed: num('seed', 1, 1),
  // As many rounds as the local run: a p99 of 100 samples is one of the two slowest, noise alone.
  modelRuns: num('latency-runs', 200, 30),
  modelDynamodbMs: num('model-dynamodb-ms', 4, 4),
  modelS3Ms: num('model-s3-ms', 25, 25),
  replacedBlobCleanup: replacedBlobCleanup(),
};
export const only = new Set<Stage>(
  args.only === undefined
    ? STAGES
    : args.only.split(',').map((s) => {
        if (!(STAGES as readonly string[]).includes(s.trim())) throw new Error(`unknown stage "${s}" (${STAGES.join(', ')})`);
        return s.trim() as Stage;
      }),
);

export type Settings = typeof settings;
