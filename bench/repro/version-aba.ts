/**
 * Deterministic repro of the leak the load stage finds (`npx tsx bench/repro/version-aba.ts`).
 *
 * HV versions restart at 1 after a delete (`if_not_exists(version, 0) + 1`), and a large put's
 * fenced commit CASes on the version alone (`expected = { kind: 'version', version }`, no blob).
 * So a commit can land on a *different incarnation* of the key that happens to carry the same
 * version number, overwrite that incarnation's tombstone without knowing it was there (it is
 * not written into the entry as `old`), and leak its blob: no entry names it, HV no longer
 * points at it, no sweep will ever delete it.
 *
 *   1. Y: small put k                         -> k inline, version 1
 *   2. X: large put k starts: reads (inline, v1: no blob to replace), records {new: bX}, uploads;
 *         its commit is held for 1.5 s (FaultInjector `delay`, a slow request)
 *   3. Y: delete k                            -> k absent
 *   4. Y: large put k                         -> k tombstone -> bY, version 1; Y's entry removed
 *   5. X: commit `version = 1` lands on Y's item -> k -> bX; X's entry removed; bY referenced by
 *         nothing, named by no entry: leaked, even after a sweep past every lease.
 *
 * Exits 1 when the leak reproduces, 0 when it does not.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { startLocalStack } from '../../lib/local/stack.js';
import { DynamoChangeLog, Sweeper, TieredStore } from '../../lib/index.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { KiB, PAST_EVERYTHING_MS, destroyAgents, dynamodbClient, freshConfig, randomBody, s3Client } from '../common.js';
import { listBlobs, scanRaw } from '../stages/recovery.js';

const stack = await startLocalStack();
let code = 1;
try {
  const config = await freshConfig('repro');
  const writer = (injector?: FaultInjector) => {
    const dynamodb = dynamodbClient();
    const s3 = s3Client();
    if (injector !== undefined) injector.attach(dynamodb, 'dynamodb');
    const changeLog = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
    return {
      store: new TieredStore({ config, changeLog, dynamodb, s3 }),
      close: () => (changeLog.close(), dynamodb.destroy(), s3.destroy()),
    };
  };
  const slow = new FaultInjector().add({ kind: 'delay', delayMs: 1_500, times: 1, match: onCommand('TransactWriteItems') });
  const x = writer(slow);
  const y = writer();
  const key = 'k';

  await y.store.put(key, 'small body'); //                      1. inline, version 1
  const xPut = x.store.put(key, randomBody(64 * KiB)); //       2. X reads v1 (no blob), commit held
  await new Promise((resolve) => setTimeout(resolve, 500));
  await y.store.delete(key); //                                 3. absent
  const yPut = await y.store.put(key, randomBody(64 * KiB)); // 4. tombstone, version 1
  const xResult = await xPut; //                                5. X's CAS on version 1 lands
  console.log(`Y put -> version ${yPut.version}; X put -> version ${xResult.version}`);

  const sweeper = new Sweeper({ config, dynamodb: dynamodbClient(), s3: s3Client(), clock: () => Date.now() + PAST_EVERYTHING_MS });
  const report = await sweeper.sweep();
  const ddb = dynamodbClient();
  const s3 = s3Client();
  const objects = (await scanRaw(ddb, config.objectsTable)).map((item) => unmarshall(item));
  const entries = (await scanRaw(ddb, config.changeLogTable)).reduce(
    (n, item) => n + Object.keys(item).filter((k) => k.startsWith('c_')).length,
    0,
  );
  const blobs = await listBlobs(s3, config.bucket, config.prefix);
  const referenced = new Set(objects.map((o) => o.blob).filter((b): b is string => typeof b === 'string'));
  const leaked = blobs.filter((b) => !referenced.has(b));
  console.log(`after a sweep past every lease (recovered ${report.entriesRecovered}): HV -> ${[...referenced].join(', ')}`);
  console.log(`blobs ${blobs.length}, log entries ${entries}, leaked ${leaked.length}${leaked.length > 0 ? `: ${leaked.join(', ')}` : ''}`);
  code = leaked.length > 0 ? 1 : 0;
  console.log(code === 1 ? 'REPRODUCED: a blob leaked' : 'not reproduced');
  x.close();
  y.close();
  ddb.destroy();
  s3.destroy();
} finally {
  await stack.stop();
  destroyAgents();
}
process.exit(code);
