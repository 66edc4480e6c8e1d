/**
 * Profiles the writer's own process: `n` logged 1 MiB creates then `n` unlogged ones on a fresh
 * local stack, with each mode's CPU time per operation next to its wall time, and one CPU profile
 * per mode (written to the directory given as the first argument).
 *
 *   npx tsx bench/repro/write-profile.ts /tmp/out [n]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { DynamoChangeLog, NoopChangeLog, TieredStore } from '../../lib/index.js';
import { startLocalStack } from '../../lib/local/stack.js';
import { MiB, dynamodbClient, freshConfig, randomBody, s3Client } from '../common.js';

const [dir = '/tmp', count = '200'] = process.argv.slice(2);
const n = Number(count);
const stack = await startLocalStack();
try {
  const config = { ...(await freshConfig('write-profile')), replacedBlobCleanup: 'stream' as const };
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const log = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
  const stores = {
    logged: new TieredStore({ config, changeLog: log, dynamodb, s3 }),
    unlogged: new TieredStore({ config, changeLog: new NoopChangeLog(), dynamodb, s3 }),
  };
  const body = randomBody(MiB);
  for (let i = 0; i < 30; i++) for (const store of Object.values(stores)) await store.put(`warm-${i}-${Math.random()}`, body);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // Each mode twice, alternating, so what the first run pays alone (JIT, connections) shows.
  const order = [...Object.entries(stores), ...Object.entries(stores)];
  for (const [round, [mode, store]] of order.entries()) {
    await session.post('Profiler.start');
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await store.put(`${mode}-${round}-${i}`, body);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(`${dir}/${mode}-${round}.cpuprofile`, JSON.stringify(profile));
    console.log(
      JSON.stringify({ mode, round, wallMsPerOp: +(wallMs / n).toFixed(2), cpuMsPerOp: +((cpu.user + cpu.system) / 1000 / n).toFixed(2) }),
    );
  }
  log.close();
  dynamodb.destroy();
  s3.destroy();
} finally {
  await stack.stop();
}
