/**
 * Profiles the writers' own process during the load stage: a fresh local stack, the bench's
 * warm-up, then the load stage once per run given (default `logged,unlogged,unlogged,logged`; a
 * run is `mode` or `mode:ops`, ops per writer, default 30), each printing its throughput, this
 * process's CPU ms per operation (user and system apart) and the servers', and its SDK calls.
 * Each run's operations alone (not the sweep and checks after them) are profiled into `dir`:
 *
 *   npx tsx bench/repro/load-profile.ts /tmp/out [runs]                 V8 profile per run (.cpuprofile)
 *   npx tsx bench/repro/load-profile.ts /tmp/out [runs] --no-profile    figures only
 *   NODE_OPTIONS='--perf-basic-prof --interpreted-frames-native-stack' \
 *     npx tsx bench/repro/load-profile.ts /tmp/out [runs] --perf        `perf record -g` per run (.perf.data)
 *
 * The V8 profiler samples wall time: a write to a loopback socket that wakes a server is charged
 * the time the server then holds the core, so with the servers on the same cores its `writev`
 * grows with the servers' work, not this process's. `perf` samples CPU time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { startLocalStack } from '../../lib/local/stack.js';
import { destroyAgents } from '../common.js';
import { cpuMeter } from '../cpu.js';
import { loadStage } from '../stages/load.js';
import type { Mode } from '../stages/ops.js';
import { warmupStage } from '../stages/warmup.js';

const [dir = '/tmp', runs = 'logged,unlogged,unlogged,logged', flag] = process.argv.slice(2);
const profiler = flag === undefined;
const perf = flag === '--perf';
const stack = await startLocalStack();
try {
  await warmupStage({ rounds: 300 });
  const session = new Session();
  session.connect();
  // A same-thread session answers synchronously, so the profile starts and stops exactly where the operations do.
  const post = (method: string) => {
    let result: { profile?: unknown } = {};
    session.post(method, (err, out) => {
      if (err) throw err;
      result = out ?? {};
    });
    return result;
  };
  if (profiler) post('Profiler.enable');
  const meter = cpuMeter(stack);
  for (const [round, run] of runs.split(',').entries()) {
    const [mode, ops = '30'] = run.split(':') as [Mode, string?];
    const writers = 100;
    const operations = writers * Number(ops);
    let started = false;
    let recorder: ChildProcess | undefined;
    let own = process.cpuUsage();
    // The load stage samples the CPU right before its operations and right after them.
    const cpu = () => {
      const sample = meter();
      if (!started) {
        started = true;
        own = process.cpuUsage();
        if (profiler) post('Profiler.start');
        const out = `${dir}/${mode}-${round}.perf.data`;
        if (perf) recorder = spawn('perf', ['record', '-g', '-F', '997', '-p', String(process.pid), '-o', out], { stdio: 'ignore' });
      } else {
        own = process.cpuUsage(own);
        recorder?.kill('SIGINT');
        if (profiler) writeFileSync(`${dir}/${mode}-${round}.cpuprofile`, JSON.stringify(post('Profiler.stop').profile));
      }
      return sample;
    };
    const result = await loadStage({ writers, opsPerWriter: Number(ops), keys: 150, throttle: 0.05, seed: 1, mode, cpu });
    const perOp = (micros: number) => Math.round((micros / 1000 / operations) * 100) / 100;
    console.log(
      JSON.stringify({
        mode,
        round,
        opsPerSecond: result.opsPerSecond,
        cpuMsPerOp: result.cpuMsPerOp,
        userMsPerOp: perOp(own.user),
        systemMsPerOp: perOp(own.system),
        calls: result.sdk.calls,
        ok: result.ok,
      }),
    );
  }
} finally {
  await stack.stop();
  destroyAgents();
}
