/**
 * The bench's command line: which stages run, and the size of each. `--quick` picks smaller
 * defaults; every size can be set on its own ({@link USAGE}).
 *
 * {@link parseBenchArgs} reads nothing but the arguments (and whether `--json`'s folder exists, and
 * `--coldstart-node`'s version), so
 * bench/run.ts can refuse a bad command line with the usage before it starts the local stack, and
 * the tests and the figures script can read the options without parsing their own command lines.
 */
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { REPLACED_BLOB_CLEANUPS, type ReplacedBlobCleanup } from '../lib/config.js';

export const STAGES = ['baseline', 'ops', 'latency', 'recovery', 'scaling', 'idle', 'load', 'coldstart', 'memory', 'sessions'] as const;
export type Stage = (typeof STAGES)[number];

/** Every option `npm run bench` takes, as `node:util`'s `parseArgs` reads them. */
export const BENCH_OPTIONS = {
  help: { type: 'boolean', default: false },
  json: { type: 'string' },
  quick: { type: 'boolean', default: false },
  only: { type: 'string' },
  'latency-runs': { type: 'string' },
  'recovery-instances': { type: 'string' },
  'entries-per-instance': { type: 'string' },
  'sweep-concurrency': { type: 'string' },
  'scaling-instances': { type: 'string' },
  'coldstart-runs': { type: 'string' },
  'coldstart-node': { type: 'string' },
  'idle-instances': { type: 'string' },
  writers: { type: 'string' },
  'ops-per-writer': { type: 'string' },
  keys: { type: 'string' },
  throttle: { type: 'string' },
  seed: { type: 'string' },
  'model-dynamodb-ms': { type: 'string' },
  'model-s3-ms': { type: 'string' },
  'replaced-blob-cleanup': { type: 'string' },
} as const;

/** The name of an option the bench takes, without its `--`. */
export type BenchOption = keyof typeof BENCH_OPTIONS;

/** What `npm run bench -- --help` prints, and a refused command line after its reason. */
export const USAGE = `usage: npm run bench [-- options]   (bench/README.md says what each figure means)

  --json FILE                write every figure as JSON
  --quick                    a smaller run (about 3 minutes)
  --only a,b                 stages: ${STAGES.join(', ')}
  --latency-runs N           1 MiB creates, overwrites and deletes per mode (default 200, at least 2)
  --recovery-instances N     dead instances (default 1000), --entries-per-instance N (10)
  --sweep-concurrency N      the sweeper's concurrency in the recovery stage (library default 16)
  --scaling-instances N      dead instances per point of the scaling stage (default 300)
  --coldstart-runs N         fresh processes per bundle in the cold-start stage (default 7, at least 2)
  --coldstart-node FILE      the node the cold-start processes run (default this one; the construct
                             deploys nodejs24.x: a Node 24 binary measures what Lambda runs)
  --idle-instances N         live instances for the idle sweep (default 10000)
  --writers N  --ops-per-writer N  --keys N  --throttle P   the load stage (100, 30, 150, 0.05)
  --seed N                   seed of the load stage's random choices (default 1)
  --model-dynamodb-ms N --model-s3-ms N   ms added to every request attempt in the modelled
                             latency run, as a remote service's round trip would (4 and 25; 0 skips it)
  --replaced-blob-cleanup M  who cleans a blob a logged writer replaced: ${REPLACED_BLOB_CLEANUPS.join(' or ')} (default stream)
  --help                     this text
`;

/** A command line the bench cannot run: the message names the option and what it takes. */
export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

type Args = ReturnType<typeof parseOptions>['values'];

function parseOptions(argv: readonly string[]) {
  return parseArgs({ args: [...argv], options: BENCH_OPTIONS, strict: true, allowPositionals: false });
}

/** The options whose value is a count of things. */
type CountOption =
  | 'latency-runs'
  | 'recovery-instances'
  | 'entries-per-instance'
  | 'sweep-concurrency'
  | 'scaling-instances'
  | 'coldstart-runs'
  | 'idle-instances'
  | 'writers'
  | 'ops-per-writer'
  | 'keys'
  | 'seed';

/** `--name`'s number, or `full` (`quick` with `--quick`) when it is not given; NaN for a blank or non-numeric value. */
function given(args: Args, name: CountOption | 'throttle' | 'model-dynamodb-ms' | 'model-s3-ms', full: number, quick: number) {
  const raw = args[name];
  if (raw === undefined) return { n: args.quick ? quick : full, raw: '' };
  return { n: raw.trim() === '' ? Number.NaN : Number(raw), raw };
}

/** A count: a whole number of at least `least` (1, or 0 where 0 means none). */
function readCount(args: Args, name: CountOption, full: number, quick: number, least = 1): number {
  const { n, raw } = given(args, name, full, quick);
  if (!Number.isSafeInteger(n) || n < least) throw new BenchArgsError(`--${name} takes a whole number of at least ${least}, got "${raw}"`);
  return n;
}

/** Milliseconds added to each request of the modelled run: a number of at least 0. */
function readMs(args: Args, name: 'model-dynamodb-ms' | 'model-s3-ms', full: number): number {
  const { n, raw } = given(args, name, full, full);
  if (!(Number.isFinite(n) && n >= 0)) throw new BenchArgsError(`--${name} takes milliseconds, a number of at least 0, got "${raw}"`);
  return n;
}

/** The share of the load's attempts to throttle: from 0 to below 1. */
function readThrottle(args: Args): number {
  const { n, raw } = given(args, 'throttle', 0.05, 0.05);
  if (!(n >= 0 && n < 1)) throw new BenchArgsError(`--throttle takes the share of attempts to throttle, from 0 to below 1, got "${raw}"`);
  return n;
}

/** Who cleans a replaced blob for the logged writers: `stream` (as the construct deploys them) unless told. */
function readReplacedBlobCleanup(args: Args): ReplacedBlobCleanup {
  const raw = args['replaced-blob-cleanup'] ?? 'stream';
  if (!(REPLACED_BLOB_CLEANUPS as readonly string[]).includes(raw)) {
    throw new BenchArgsError(`--replaced-blob-cleanup takes ${REPLACED_BLOB_CLEANUPS.join(' or ')}, got "${raw}"`);
  }
  return raw as ReplacedBlobCleanup;
}

/**
 * Where `--json` writes the run's JSON: a file in a folder that exists. The bench writes it after
 * every stage has run, so a path it cannot write is refused before the stack starts, not found out
 * when the run's figures are lost.
 */
function readJson(args: Args): string | undefined {
  const path = args.json;
  if (path === undefined) return undefined;
  const kind = (p: string) => {
    try {
      return statSync(p).isDirectory() ? 'folder' : 'file';
    } catch {
      return 'none';
    }
  };
  if (path.trim() === '') throw new BenchArgsError('--json takes the path of a file to write, got ""');
  if (kind(path) === 'folder') throw new BenchArgsError(`--json takes the path of a file to write, got the folder "${path}"`);
  if (kind(dirname(path)) !== 'folder') throw new BenchArgsError(`--json: no folder "${dirname(path)}" to write "${path}" in`);
  return path;
}

/**
 * The node binary the cold-start stage runs its processes with, when one is given: it must answer
 * `--version` with a Node version, so a wrong path is refused before the stack starts, not found
 * out after the other stages have run.
 */
function readColdStartNode(args: Args): string | undefined {
  const path = args['coldstart-node'];
  if (path === undefined) return undefined;
  const answer = path.trim() === '' ? undefined : spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (answer?.status !== 0 || !/^v\d+\./.test(answer.stdout)) {
    throw new BenchArgsError(
      `--coldstart-node takes the path of a node binary, got "${path}" (it does not answer --version with a Node version)`,
    );
  }
  return path;
}

function readStages(args: Args): Set<Stage> {
  if (args.only === undefined) return new Set(STAGES);
  return new Set(
    args.only.split(',').map((s) => {
      const stage = s.trim();
      if (!(STAGES as readonly string[]).includes(stage))
        throw new BenchArgsError(`--only: unknown stage "${stage}" (${STAGES.join(', ')})`);
      return stage as Stage;
    }),
  );
}

function readSettings(args: Args) {
  const quick = args.quick ?? false;
  return {
    quick,
    warmupRounds: quick ? 80 : 300,
    opsIterations: quick ? 5 : 20,
    opsWarmup: 2,
    // Runs of a ratio with a paired bootstrap interval: of one pair, the interval is the ratio
    // itself ([r, r]), which would mark its target decided; two pairs at least.
    latencyRuns: readCount(args, 'latency-runs', 200, 30, 2),
    latencyWarmup: quick ? 5 : 20,
    recoveryInstances: readCount(args, 'recovery-instances', 1000, 100),
    entriesPerInstance: readCount(args, 'entries-per-instance', 10, 10),
    sweepConcurrency: args['sweep-concurrency'] !== undefined ? readCount(args, 'sweep-concurrency', 16, 16) : undefined,
    scalingInstances: readCount(args, 'scaling-instances', 300, 60),
    coldStartRuns: readCount(args, 'coldstart-runs', 7, 3, 2),
    coldStartNode: readColdStartNode(args),
    // At least one: the idle figure is that a sweep reads no live instance, which an empty table cannot show.
    idleInstances: readCount(args, 'idle-instances', 10_000, 1_000),
    writers: readCount(args, 'writers', 100, 100),
    opsPerWriter: readCount(args, 'ops-per-writer', 30, 5),
    keys: readCount(args, 'keys', 150, 100),
    throttle: readThrottle(args),
    seed: readCount(args, 'seed', 1, 1, 0),
    // As many rounds as the local run: a p99 of 100 samples is one of the two slowest, noise alone.
    modelRuns: readCount(args, 'latency-runs', 200, 30, 2),
    modelDynamodbMs: readMs(args, 'model-dynamodb-ms', 4),
    modelS3Ms: readMs(args, 'model-s3-ms', 25),
    replacedBlobCleanup: readReplacedBlobCleanup(args),
  };
}

/** The sizes and settings of one run, as its JSON records them (`settings`). */
export type Settings = ReturnType<typeof readSettings>;

/** A command line read: what to run, or that the usage was asked for. */
export interface BenchRun {
  /** `--help` was given: print {@link USAGE}, run nothing. */
  readonly help: boolean;
  /** Where to write the run's JSON, if anywhere (`--json`). */
  readonly json: string | undefined;
  /** The stages to run (`--only`; all of them by default). */
  readonly only: ReadonlySet<Stage>;
  /** The sizes and settings of the run. */
  readonly settings: Settings;
}

/**
 * Reads the bench's command line (`process.argv.slice(2)`). Throws a {@link BenchArgsError} for an
 * option it does not know, a positional argument, a size that is not a whole number of at least 1
 * (2 for the runs of a ratio with an interval: `--latency-runs`, `--coldstart-runs`),
 * a throttle outside [0, 1), an unknown stage or a `--json` path in no existing folder (or a
 * folder itself), so a typo never runs a full bench of the defaults, nor one whose JSON is lost.
 */
export function parseBenchArgs(argv: readonly string[]): BenchRun {
  let args: Args;
  try {
    args = parseOptions(argv).values;
  } catch (err) {
    // node's message goes on to explain `--` for positionals; its first sentence names the option.
    throw new BenchArgsError(err instanceof Error ? (err.message.split('. ')[0] ?? err.message) : String(err));
  }
  return { help: args.help ?? false, json: readJson(args), only: readStages(args), settings: readSettings(args) };
}
