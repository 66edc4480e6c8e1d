/**
 * Warm-up: DynamoDB Local is Java (JIT), s3rver and the SDK are JIT-compiled JavaScript. A few
 * thousand requests of every kind the stages send make the measured figures steady.
 */
import { DynamoChangeLog, NoopChangeLog, Sweeper, TieredStore } from '../../lib/index.js';
import { KiB, PAST_EVERYTHING_MS, dynamodbClient, freshConfig, parallel, randomBody, s3Client } from '../common.js';

export async function warmupStage(options: { rounds: number }): Promise<{ rounds: number; seconds: number }> {
  const started = Date.now();
  const config = await freshConfig('warmup');
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const log = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
  const stores = [
    new TieredStore({ config, changeLog: log, dynamodb, s3 }),
    new TieredStore({ config, changeLog: new NoopChangeLog(), dynamodb, s3 }),
  ];
  const small = randomBody(KiB);
  const large = randomBody(64 * KiB);
  const big = randomBody(1024 * KiB);
  try {
    await parallel(options.rounds, 8, async (i) => {
      const store = stores[i % 2]!;
      const key = `w-${i}`;
      await store.put(key, small);
      await store.put(key, i % 10 === 0 ? big : large);
      await store.put(key, large);
      await store.get(key);
      await store.put(key, small);
      await store.put(key, large);
      await store.delete(key);
    });
    // Leave some dead entries behind and sweep them, so the sweeper's requests are warm too.
    for (let i = 0; i < 20; i++) {
      const dead = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
      await dead.record(`${i}-warm`.padEnd(8, 'x'), { id: `dead-${i}` });
      dead.close();
    }
    await new Sweeper({ config, dynamodb, s3, clock: () => Date.now() + PAST_EVERYTHING_MS }).sweep();
  } finally {
    log.close();
    dynamodb.destroy();
    s3.destroy();
  }
  return { rounds: options.rounds, seconds: (Date.now() - started) / 1000 };
}
