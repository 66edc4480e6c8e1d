/**
 * Profiles the sweeper's own process during recovery: the two sweeps of the recovery stage on a
 * fresh local stack, with the process's CPU time next to the wall time and a CPU profile of
 * the sweeps alone (written to the directory given as the first argument).
 *
 *   npx tsx bench/repro/sweep-profile.ts /tmp/out [instances]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { startLocalStack } from '../../lib/local/stack.js';
import { dynamodbClient, freshConfig, s3Client } from '../common.js';
import { Probe } from '../instrument.js';
import { recoverInTwoSweeps, setupOrphans, stackWritesPerSecond } from '../stages/recovery.js';

const [dir = '/tmp', n = '300'] = process.argv.slice(2);
const stack = await startLocalStack();
try {
  const config = await freshConfig('profile');
  await setupOrphans(config, Number(n), 10);
  const yardstick = await stackWritesPerSecond(config, 16);
  const probe = new Probe();
  const dynamodb = probe.attach(dynamodbClient(), 'dynamodb');
  const s3 = probe.attach(s3Client(), 's3');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await recoverInTwoSweeps(config, [{ dynamodb, s3 }], 16, probe);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(`${dir}/sweeps.cpuprofile`, JSON.stringify(profile));
  const calls = probe.counts.dynamodbCalls + probe.counts.s3Calls;
  console.log(
    JSON.stringify({
      wallMs: Math.round(wallMs),
      cpuUserMs: Math.round(cpu.user / 1000),
      cpuSystemMs: Math.round(cpu.system / 1000),
      calls,
      requestsPerSecond: Math.round(calls / (wallMs / 1000)),
      yardstick,
      recovered: result.report.entriesRecovered,
    }),
  );
  dynamodb.destroy();
  s3.destroy();
} finally {
  await stack.stop();
}
