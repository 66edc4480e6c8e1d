import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { startLocalStack } from '../../lib/local/stack.js';
import { dynamodbClient, freshConfig, s3Client } from '../common.js';
import { recoverInTwoSweeps, setupOrphans } from '../stages/recovery.js';
import { Probe } from '../instrument.js';

const stack = await startLocalStack({ exportEnv: true });
try {
  const config = await freshConfig('prof');
  await setupOrphans(config, 300, 10);
  const probe = new Probe({ measureCapacity: false });
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const cpu0 = process.cpuUsage();
  const r = await recoverInTwoSweeps(config, [{ dynamodb, s3 }], 16, probe);
  const cpu = process.cpuUsage(cpu0);
  const { profile } = await session.post('Profiler.stop');
  writeFileSync('/tmp/sweep.cpuprofile', JSON.stringify(profile));
  console.log('fence', r.fence.seconds, 'judge', r.judge.seconds, 'cpu s', ((cpu.user + cpu.system) / 1e6).toFixed(2));
  dynamodb.destroy();
  s3.destroy();
} finally {
  await stack.stop();
}
