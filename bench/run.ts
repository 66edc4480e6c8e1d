/**
 * `npm run bench [-- options]`: the tierlog benchmark on the embedded local stack (DynamoDB
 * Local + s3rver), logged (DynamoChangeLog) vs unlogged (NoopChangeLog), same TieredStore code.
 * See bench/README.md for what each figure means and how it is measured.
 *
 *   --json FILE                write every figure as JSON
 *   --quick                    a smaller run (about a minute)
 *   --only a,b                 stages: baseline, ops, latency, recovery, idle, load, sessions
 *   --latency-runs N           1 MiB creates and overwrites per mode (default 200)
 *   --recovery-instances N     dead instances (default 1000), --entries-per-instance N (10)
 *   --sweep-concurrency N      the sweeper's concurrency in the recovery stage (library default 16)
 *   --idle-instances N         live instances for the idle sweep (default 10000)
 *   --writers N  --ops-per-writer N  --keys N  --throttle P   the load stage (100, 30, 150, 0.05)
 *   --seed N                   seed of the load stage's random choices (default 1)
 *   --model-dynamodb-ms N --model-s3-ms N   the modelled latency run: ms added to every request
 *                              attempt, as a remote service's round trip would (default 4 and 25; 0 skips it)
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { startLocalStack, type LocalStack } from '../lib/local/stack.js';
import { destroyAgents, log, round, table } from './common.js';
import { OP_TYPES, opsStage, type OpsResult } from './stages/ops.js';
import { latencyStage, type LatencyResult } from './stages/latency.js';
import { idleStage, recoveryStage, type IdleResult, type RecoveryResult } from './stages/recovery.js';
import { loadStage, type LoadResult } from './stages/load.js';
import { warmupStage } from './stages/warmup.js';
import { baselineStage, type BaselineResult } from './stages/baseline.js';
import { sessionsStage, type SessionsResult } from './stages/sessions.js';

const STAGES = ['baseline', 'ops', 'latency', 'recovery', 'idle', 'load', 'sessions'] as const;
type Stage = (typeof STAGES)[number];

const { values: args } = parseArgs({
  options: {
    json: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'latency-runs': { type: 'string' },
    'recovery-instances': { type: 'string' },
    'entries-per-instance': { type: 'string' },
    'sweep-concurrency': { type: 'string' },
    'idle-instances': { type: 'string' },
    writers: { type: 'string' },
    'ops-per-writer': { type: 'string' },
    keys: { type: 'string' },
    throttle: { type: 'string' },
    seed: { type: 'string' },
    'model-dynamodb-ms': { type: 'string' },
    'model-s3-ms': { type: 'string' },
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

const settings = {
  quick: args.quick ?? false,
  warmupRounds: args.quick ? 80 : 300,
  opsIterations: args.quick ? 5 : 20,
  opsWarmup: 2,
  latencyRuns: num('latency-runs', 200, 30),
  latencyWarmup: args.quick ? 5 : 20,
  recoveryInstances: num('recovery-instances', 1000, 100),
  entriesPerInstance: num('entries-per-instance', 10, 10),
  sweepConcurrency: args['sweep-concurrency'] !== undefined ? num('sweep-concurrency', 16, 16) : undefined,
  idleInstances: num('idle-instances', 10_000, 1_000),
  writers: num('writers', 100, 100),
  opsPerWriter: num('ops-per-writer', 30, 5),
  keys: num('keys', 150, 100),
  throttle: num('throttle', 0.05, 0.05),
  seed: num('seed', 1, 1),
  modelRuns: args.quick ? 20 : 100,
  modelDynamodbMs: num('model-dynamodb-ms', 4, 4),
  modelS3Ms: num('model-s3-ms', 25, 25),
};
const only = new Set<Stage>(
  args.only === undefined
    ? STAGES
    : args.only.split(',').map((s) => {
        if (!(STAGES as readonly string[]).includes(s.trim())) throw new Error(`unknown stage "${s}" (${STAGES.join(', ')})`);
        return s.trim() as Stage;
      }),
);

interface Target {
  readonly name: string;
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
}

interface Results {
  date: string;
  startedAt: string;
  node: string;
  /** The commit the run was made on (and whether lib/ had uncommitted changes). */
  commit: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  settings: typeof settings;
  warmup?: { rounds: number; seconds: number };
  baseline?: BaselineResult;
  ops?: OpsResult;
  latency?: LatencyResult;
  latencyModelled?: LatencyResult;
  recovery?: RecoveryResult;
  idle?: IdleResult;
  load?: LoadResult;
  sessions?: SessionsResult;
  targets: Target[];
  totalSeconds?: number;
  ok: boolean;
}

let stack: LocalStack | undefined;
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await stack?.stop().catch(() => {});
    destroyAgents();
  }
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown(130));

async function main(): Promise<number> {
  const started = Date.now();
  const now = new Date();
  const results: Results = {
    date: now.toISOString().slice(0, 10),
    startedAt: now.toISOString(),
    node: process.version,
    commit: gitCommit(),
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    settings,
    targets: [],
    ok: true,
  };
  log('starting the local stack (DynamoDB Local + s3rver)');
  stack = await startLocalStack();
  log(`DynamoDB ${stack.dynamodbEndpoint}, S3 ${stack.s3Endpoint}; warming up (${settings.warmupRounds} rounds)`);
  results.warmup = await warmupStage({ rounds: settings.warmupRounds });

  if (only.has('baseline')) {
    log('baseline: the local servers alone');
    results.baseline = await baselineStage({ samples: settings.quick ? 50 : 200 });
  }
  if (only.has('ops')) {
    log(`ops: calls, round trips and capacity per operation (${settings.opsIterations} each, per mode)`);
    results.ops = await opsStage({ iterations: settings.opsIterations, warmup: settings.opsWarmup });
  }
  if (only.has('latency')) {
    log(`latency: ${settings.latencyRuns} x 1 MiB creates and overwrites per mode, interleaved`);
    results.latency = await latencyStage({ runs: settings.latencyRuns, warmup: settings.latencyWarmup });
    if (settings.modelDynamodbMs > 0 || settings.modelS3Ms > 0) {
      log(`latency, modelled: +${settings.modelDynamodbMs} ms per DynamoDB request, +${settings.modelS3Ms} ms per S3 request, ${settings.modelRuns} runs`);
      results.latencyModelled = await latencyStage({
        runs: settings.modelRuns,
        warmup: 5,
        addedPerRequestMs: { dynamodb: settings.modelDynamodbMs, s3: settings.modelS3Ms },
      });
    }
  }
  if (only.has('recovery')) {
    log(`recovery: ${settings.recoveryInstances * settings.entriesPerInstance} orphaned entries over ${settings.recoveryInstances} dead instances`);
    results.recovery = await recoveryStage({
      instances: settings.recoveryInstances,
      perInstance: settings.entriesPerInstance,
      ...(settings.sweepConcurrency !== undefined ? { concurrency: settings.sweepConcurrency } : {}),
    });
  }
  if (only.has('idle')) {
    log(`idle: ${settings.idleInstances} live instances, nothing expired`);
    results.idle = await idleStage({ instances: settings.idleInstances });
  }
  if (only.has('load')) {
    log(`load: ${settings.writers} writers x ${settings.opsPerWriter} ops on ${settings.keys} keys, ${settings.throttle * 100}% throttled attempts`);
    results.load = await loadStage({
      writers: settings.writers,
      opsPerWriter: settings.opsPerWriter,
      keys: settings.keys,
      throttle: settings.throttle,
      seed: settings.seed,
    });
  }
  if (only.has('sessions')) {
    log('sessions: 64 MiB upload through a session vs SDK multipart; 1 MiB ranged reads vs S3');
    results.sessions = await sessionsStage({ runs: settings.quick ? 3 : 7, rangeRuns: settings.quick ? 20 : 100 });
  }
  results.totalSeconds = round((Date.now() - started) / 1000, 1);
  results.targets = targets(results);
  results.ok = (results.load?.ok ?? true) && (results.recovery?.ok ?? true);

  process.stdout.write(render(results));
  if (args.json !== undefined) {
    writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${args.json}`);
  }
  return results.ok ? 0 : 1;
}

function targets(r: Results): Target[] {
  const out: Target[] = [];
  const create = r.ops?.figures.logged['large create'];
  if (create !== undefined) {
    out.push({
      name: 'logged large create',
      target: '<= 3 DynamoDB calls in 2 sequential round trips',
      value: `${create.dynamodbCalls} calls, ${create.dynamodbRoundTrips} round trips`,
      met: create.dynamodbCalls <= 3 && create.dynamodbRoundTrips <= 2,
    });
  }
  if (r.latency !== undefined) {
    for (const kind of ['create', 'overwrite'] as const) {
      for (const p of ['p50', 'p99'] as const) {
        const ratio = r.latency[kind][`${p}Ratio`];
        out.push({ name: `1 MiB ${kind} ${p} logged/unlogged`, target: '<= 1.10', value: ratio.toFixed(3), met: ratio <= 1.1 });
      }
    }
  }
  if (r.recovery !== undefined) {
    out.push({
      name: 'recovery throughput',
      target: '>= 1000 entries/s',
      value: `${r.recovery.entriesPerSecond} entries/s`,
      met: r.recovery.entriesPerSecond >= 1000,
    });
    out.push({
      name: 'recovery leaves nothing',
      target: '0 blobs, 0 log items',
      value: `${r.recovery.after.blobsUnderPrefix} blobs, ${r.recovery.after.logItems} log items`,
      met: r.recovery.ok,
    });
  }
  if (r.idle !== undefined) {
    const other = r.idle.calls.dynamodbTotal - (r.idle.calls.dynamodb.Query ?? 0) + r.idle.calls.s3Total;
    out.push({
      name: 'idle sweep',
      target: '<= 1 Query per shard',
      value: `${r.idle.queriesPerShard} per shard, ${other} other calls`,
      met: r.idle.queriesPerShard <= 1 && other === 0,
    });
  }
  if (r.sessions !== undefined) {
    out.push({ name: '64 MiB upload session/SDK multipart', target: '<= 1.10', value: r.sessions.uploadRatio.toFixed(3), met: r.sessions.uploadRatio <= 1.1 });
  }
  if (r.load !== undefined) {
    const inv = r.load.invariants;
    out.push({
      name: 'load invariants',
      target: 'lost=0 leaked=0 log drained',
      value: `lost=${inv.lost} leaked=${inv.leaked} entries=${inv.logEntries}`,
      met: r.load.ok,
    });
  }
  return out;
}

function render(r: Results): string {
  const parts: string[] = [];
  parts.push(`tierlog bench ${r.date}  commit ${r.commit}  node ${r.node}  ${r.platform}  ${r.cpus} CPU  ${r.settings.quick ? '(quick)' : ''}`.trimEnd());
  if (r.baseline !== undefined) {
    const b = r.baseline;
    parts.push(
      `\n== Baseline: the local servers alone (median ms per request, one at a time) ==\n` +
        `${fmt(b.sequentialP50Ms)}\nsmall PutItem at 16 in flight: ${b.putItemPerSecondAt16}/s`,
    );
  }
  if (r.ops !== undefined) {
    const rows: Array<Array<string | number>> = [
      ['operation', 'mode', 'DDB calls', 'S3 calls', 'DDB RT', 'all RT', 'WCU', 'GSI WCU', 'RCU', 'computed', 'ms', 'sequence'],
    ];
    for (const op of OP_TYPES) {
      for (const mode of ['logged', 'unlogged'] as const) {
        const f = r.ops.figures[mode][op];
        rows.push([op, mode, f.dynamodbCalls, f.s3Calls, f.dynamodbRoundTrips, f.totalRoundTrips, f.wcu, f.gsiWcu, f.rcu, f.computedUnits, f.meanMs, f.sequence]);
      }
    }
    parts.push(
      `\n== Requests and capacity per operation (mean of ${r.ops.iterations}; small ${r.ops.smallBytes / 1024} KiB, large ${r.ops.largeBytes / 1024} KiB; RT = sequential round trips; capacity as DynamoDB Local reports it, "computed" = units of refused conditional writes added from AWS's rules) ==\n` +
        table(rows),
    );
  }
  if (r.latency !== undefined) parts.push(renderLatency(r.latency, 'measured on the local stack'));
  if (r.latencyModelled !== undefined) {
    const m = r.latencyModelled.addedPerRequestMs!;
    parts.push(renderLatency(r.latencyModelled, `MODELLED: +${m.dynamodb} ms per DynamoDB request (TransactWriteItems +${2 * m.dynamodb}), +${m.s3} ms per S3 request, added to the local stack`));
  }
  if (r.recovery !== undefined) {
    const x = r.recovery;
    const rows: Array<Array<string | number>> = [
      ['entries', 'instances', 'sweep s', 'entries/s', 'DDB calls/entry', 'S3 calls/entry', 'WCU/entry', 'RCU/entry', 'blobs deleted', 'left: blobs', 'left: log items'],
      [x.entries, x.instances, x.sweepSeconds, x.entriesPerSecond, x.dynamodbCallsPerEntry, x.s3CallsPerEntry, x.wcuPerEntry, x.rcuPerEntry, x.report.blobsDeleted, x.after.blobsUnderPrefix, x.after.logItems],
    ];
    parts.push(
      `\n== Recovery (sweeper concurrency ${x.sweeperConcurrency}; setup ${x.setupSeconds} s) ==\n${table(rows)}\nDynamoDB: ${fmt(x.calls.dynamodb)}; S3: ${fmt(x.calls.s3)}`,
    );
  }
  if (r.idle !== undefined) {
    const x = r.idle;
    const rows: Array<Array<string | number>> = [
      ['live instances', 'shards', 'DDB calls', 'Query/shard', 'S3 calls', 'RCU', 'ms', 'expired found'],
      [x.liveInstances, x.shards, x.calls.dynamodbTotal, x.queriesPerShard, x.calls.s3Total, x.calls.rcu, x.sweepMs, x.report.instancesExpired],
    ];
    parts.push(`\n== Idle sweep ==\n${table(rows)}`);
  }
  if (r.load !== undefined) {
    const x = r.load;
    const rows: Array<Array<string | number>> = [['op', 'count', 'ok', 'p50 ms', 'p99 ms']];
    for (const [op, f] of Object.entries(x.ops)) rows.push([op, f.count, f.ok, f.p50Ms, f.p99Ms]);
    rows.push(['all', x.writers * x.opsPerWriter, Object.values(x.ops).reduce((n, f) => n + f.ok, 0), x.p50Ms, x.p99Ms]);
    const inv = x.invariants;
    parts.push(
      `\n== Load (${x.writers} writers x ${x.opsPerWriter} ops on ${x.keys} keys, ${x.throttleProbability * 100}% of attempts throttled) ==\n` +
        `${x.opsPerSecond} ops/s over ${x.seconds} s; SDK calls ${x.sdk.calls}, attempts ${x.sdk.attempts}, retries ${x.sdk.retries} (throttles injected ${x.sdk.throttlesInjected})\n` +
        `${table(rows)}\n` +
        `errors: ${Object.keys(x.errors).length === 0 ? 'none' : fmt(x.errors)}\n` +
        `sweep past every lease: ${x.sweep.seconds} s, expired ${x.sweep.instancesExpired}, retired ${x.sweep.instancesRetired}, claimed ${x.sweep.instancesClaimed}, entries recovered ${x.sweep.entriesRecovered}, blobs deleted ${x.sweep.blobsDeleted}, quarantined ${x.sweep.entriesQuarantined}, errors ${x.sweep.errors}\n` +
        `invariants: objects ${inv.objects} (${inv.blobObjects} with a blob), blobs ${inv.blobs}: lost=${inv.lost} leaked=${inv.leaked} log entries=${inv.logEntries} log items=${inv.logItems}` +
        (x.ok ? '' : `\nLOST: ${inv.lostKeys.join(', ')}\nLEAKED: ${inv.leakedBlobs.join(', ')}`),
    );
  }
  if (r.sessions !== undefined) {
    const x = r.sessions;
    const rows: Array<Array<string | number>> = [
      ['what', 'tierlog p50 ms', 'S3 p50 ms', 'ratio'],
      [`${x.uploadMiB} MiB upload (session vs SDK multipart, ${x.runs} runs)`, x.sessionUploadP50Ms, x.sdkMultipartP50Ms, x.uploadRatio],
      [`1 MiB ranged read of ${x.uploadMiB} MiB (${x.rangeRuns} runs)`, x.rangedGetP50Ms, x.s3RangedGetP50Ms, x.rangeRatio],
    ];
    parts.push(`\n== Upload sessions and ranged reads ==\n${table(rows)}`);
  }
  const rows: Array<Array<string>> = [['target', 'wanted', 'measured', '']];
  for (const t of r.targets) rows.push([t.name, t.target, t.value, t.met ? 'met' : 'MISSED']);
  parts.push(`\n== Targets ==\n${table(rows)}\n\ntotal ${r.totalSeconds} s; ${r.ok ? 'OK' : 'FAILED'}\n`);
  return `${parts.join('\n')}\n`;
}

function renderLatency(l: LatencyResult, what: string): string {
  const rows: Array<Array<string | number>> = [
    ['1 MiB', 'logged p50', 'unlogged p50', 'ratio', 'added', 'logged p99', 'unlogged p99', 'ratio', 'logged mean', 'unlogged mean'],
  ];
  for (const kind of ['create', 'overwrite'] as const) {
    const x = l[kind];
    rows.push([
      kind,
      x.logged.p50Ms,
      x.unlogged.p50Ms,
      x.p50Ratio.toFixed(3),
      `+${round(x.logged.p50Ms - x.unlogged.p50Ms)}`,
      x.logged.p99Ms,
      x.unlogged.p99Ms,
      x.p99Ratio.toFixed(3),
      x.logged.meanMs,
      x.unlogged.meanMs,
    ]);
  }
  const per = Object.entries(l.perRequestMedianMs)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return `\n== Latency, ms, ${what} (${l.runs} runs per mode and kind after ${l.warmup} warm-up, interleaved) ==\n${table(rows)}\nmedian per request${l.addedPerRequestMs !== undefined ? ' (local server time, without the added delay)' : ''}: ${per}`;
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'lib'], { encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head} (lib/ modified)` : head;
  } catch {
    return 'unknown';
  }
}

function fmt(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  code = 1;
} finally {
  await shutdown(code);
}
