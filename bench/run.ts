/**
 * `npm run bench [-- options]`: the tierlog benchmark on the embedded local stack (DynamoDB
 * Local + s3rver), logged (DynamoChangeLog) vs unlogged (NoopChangeLog), same TieredStore code.
 * See bench/README.md for what each figure means and how it is measured.
 *
 * Its options are `USAGE` in bench/settings.ts (`npm run bench -- --help` prints them); a command
 * line it cannot read is refused with them, exit code 2, before the local stack starts.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { startLocalStack, type LocalStack } from '../lib/local/stack.js';
import { benchConfig, destroyAgents, freshConfig, log, round } from './common.js';
import { cpuMeter } from './cpu.js';
import { recoveryScalingStage } from './stages/recovery-scaling.js';
import { coldStartStage } from './stages/coldstart.js';
import { memoryStage } from './stages/memory.js';
import { loadavg } from 'node:os';
import { opsStage } from './stages/ops.js';
import { latencyStage } from './stages/latency.js';
import { idleStage, recoveryStage } from './stages/recovery.js';
import { type LoadResult, loadStage } from './stages/load.js';
import type { Mode } from './stages/ops.js';
import { warmupStage } from './stages/warmup.js';
import { baselineStage } from './stages/baseline.js';
import { sessionsStage } from './stages/sessions.js';
import { render } from './render.js';
import type { Results } from './results.js';
import { BenchArgsError, USAGE, parseBenchArgs, type BenchRun } from './settings.js';
import { targets } from './targets.js';

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

/** The command line, or the usage: printed to stdout when asked for, after the reason when refused. */
function readCommandLine(): BenchRun {
  try {
    const run = parseBenchArgs(process.argv.slice(2));
    if (run.help) {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    return run;
  } catch (err) {
    if (!(err instanceof BenchArgsError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
}
const { json, only, settings } = readCommandLine();

async function main(): Promise<number> {
  const started = Date.now();
  let loadOk = true;
  const now = new Date();
  const results: Results = {
    date: now.toISOString().slice(0, 10),
    startedAt: now.toISOString(),
    node: process.version,
    commit: gitCommit(),
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    loadAverageAtStart: loadavg().map((v) => round(v, 1)),
    settings,
    targets: [],
    ok: true,
  };
  benchConfig.replacedBlobCleanup = settings.replacedBlobCleanup;
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
    log(`latency: ${settings.latencyRuns} x 1 MiB creates, overwrites and deletes per mode, interleaved (answer and all done)`);
    results.latency = await latencyStage({ runs: settings.latencyRuns, warmup: settings.latencyWarmup });
    if (settings.modelDynamodbMs > 0 || settings.modelS3Ms > 0) {
      log(
        `latency, modelled: +${settings.modelDynamodbMs} ms per DynamoDB request, +${settings.modelS3Ms} ms per S3 request, ${settings.modelRuns} runs`,
      );
      results.latencyModelled = await latencyStage({
        runs: settings.modelRuns,
        warmup: 5,
        addedPerRequestMs: { dynamodb: settings.modelDynamodbMs, s3: settings.modelS3Ms },
      });
    }
  }
  if (only.has('recovery')) {
    log(
      `recovery: ${settings.recoveryInstances * settings.entriesPerInstance} orphaned entries over ${settings.recoveryInstances} dead instances`,
    );
    results.recovery = await recoveryStage({
      instances: settings.recoveryInstances,
      perInstance: settings.entriesPerInstance,
      ...(settings.sweepConcurrency !== undefined ? { concurrency: settings.sweepConcurrency } : {}),
    });
  }
  if (only.has('scaling')) {
    log(
      `recovery scaling: ${settings.scalingInstances * settings.entriesPerInstance} entries per point; concurrency 4/16/64, 1/2/4 sweepers`,
    );
    results.recoveryScaling = await recoveryScalingStage({
      instances: settings.scalingInstances,
      perInstance: settings.entriesPerInstance,
    });
  }
  if (only.has('idle')) {
    log(`idle: ${settings.idleInstances} live instances, nothing expired`);
    results.idle = await idleStage({ instances: settings.idleInstances });
  }
  if (only.has('load')) {
    log(
      `load: ${settings.writers} writers x ${settings.opsPerWriter} ops on ${settings.keys} keys, ${settings.throttle * 100}% throttled attempts`,
    );
    const load = {
      writers: settings.writers,
      opsPerWriter: settings.opsPerWriter,
      keys: settings.keys,
      throttle: settings.throttle,
      seed: settings.seed,
    };
    if ((['recovery', 'scaling', 'idle'] as const).some((stage) => only.has(stage))) {
      // A stack of its own, warmed up as the first: the stages before leave DynamoDB Local holding
      // their tables (the idle stage alone 10 000 instances) in one JVM, and a throughput must not
      // depend on which stages ran first (`--only load` measures the same as a full run).
      log("load: a fresh local stack (the earlier stages' tables stay with the old one)");
      await stack.stop();
      stack = await startLocalStack();
      await warmupStage({ rounds: settings.warmupRounds });
    }
    const cpu = cpuMeter(stack);
    // Each mode twice, in the order logged, unlogged, unlogged, logged, so a drift of the
    // machine over the stage (warm-up, a neighbour) weighs on both alike; the faster run of each counts.
    const runs: Record<Mode, LoadResult[]> = { logged: [], unlogged: [] };
    for (const mode of LOAD_ORDER) {
      log(`load, ${mode}${mode === 'unlogged' ? ': the same load with NoopChangeLog' : ''}`);
      runs[mode].push(await loadStage({ ...load, mode, cpu }));
    }
    results.load = fastest(runs.logged);
    results.loadUnlogged = fastest(runs.unlogged);
    results.loadRuns = {
      order: [...LOAD_ORDER],
      logged: runs.logged.map((run) => run.opsPerSecond),
      unlogged: runs.unlogged.map((run) => run.opsPerSecond),
      loggedOk: runs.logged.map((run) => run.ok),
      unloggedOk: runs.unlogged.map((run) => run.ok),
    };
    loadOk = [...runs.logged, ...runs.unlogged].every((run) => run.ok);
  }
  if (only.has('coldstart')) {
    log(`cold start: bundles, ${settings.coldStartRuns} fresh processes each`);
    results.coldStart = await coldStartStage({
      config: await freshConfig('cold'),
      runs: settings.coldStartRuns,
      node: settings.coldStartNode,
    });
  }
  if (only.has('memory')) {
    log('memory: 64 MiB put and streamed read, peak RSS in child processes');
    results.memory = await memoryStage({ config: await freshConfig('memory') });
  }
  if (only.has('sessions')) {
    log('sessions: 64 MiB upload through a session vs SDK multipart; 1 MiB ranged reads vs S3');
    results.sessions = await sessionsStage({ runs: settings.quick ? 3 : 15, rangeRuns: settings.quick ? 20 : 100 });
  }
  results.totalSeconds = round((Date.now() - started) / 1000, 1);
  results.loadAverageAtEnd = loadavg().map((v) => round(v, 1));
  results.targets = targets(results);
  results.ok =
    loadOk &&
    (results.recovery?.ok ?? true) &&
    [...(results.recoveryScaling?.byConcurrency ?? []), ...(results.recoveryScaling?.bySweepers ?? [])].every((p) => p.ok);

  process.stdout.write(render(results));
  if (json !== undefined) {
    writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
    log(`wrote ${json}`);
  }
  return results.ok ? 0 : 1;
}

/** The load stage's order: each mode twice, ABBA. */
const LOAD_ORDER: readonly Mode[] = ['logged', 'unlogged', 'unlogged', 'logged'];

/** The run with the highest throughput. */
function fastest(runs: readonly LoadResult[]): LoadResult {
  return runs.reduce((best, run) => (run.opsPerSecond > best.opsPerSecond ? run : best));
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

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  code = 1;
} finally {
  await shutdown(code);
}
