/**
 * Expiring objects in the simulation: DynamoDB TTL and the objects table's stream, run beside
 * the workload (lib/drill/expiry.ts): every few hundred ms the expired items are deleted as TTL
 * deletes them and the new stream records are delivered to the real stream cleanup
 * (`StreamCleanup`, what functions/objects-stream.ts runs) with faults of its own, in batches
 * delivered twice, late or out of order. One last pass runs after quiescence, once every
 * expiring object left has expired.
 */
import { createDynamoDBClient, createS3Client } from '../../../lib/aws/clients.js';
import { hvAttributeNames } from '../../../lib/config.js';
import { ExpiryDriver } from '../../../lib/drill/expiry.js';
import { scanTable } from '../../../lib/drill/invariants.js';
import { randomInt, seededRandom } from '../../../lib/drill/random.js';
import { FaultInjector } from '../../../lib/faults/fault-injector.js';
import { StreamReader } from '../../../lib/local/stream-reader.js';
import { StreamCleanup } from '../../../lib/recovery/stream-cleanup.js';
import type { Fixture } from '../../support/local.js';
import type { SimulationOptions } from './options.js';
import { mix } from './plan.js';
import type { SimulationStats } from './stats.js';
import { sleep } from './sweepers.js';

export interface ExpiryProcess {
  /** Ends the loop after its current pass. */
  stop(): Promise<void>;
  /** One last pass once what is stored has expired (after quiescence), then closes the reader and the clients. */
  finish(): Promise<void>;
}

export async function startExpiry(fx: Fixture, o: SimulationOptions, stats: SimulationStats): Promise<ExpiryProcess> {
  const reader = await StreamReader.open(fx.dynamodb, fx.config.objectsTable);
  const injector = new FaultInjector(seededRandom(mix(o.seed, 4_000, 1)));
  for (const kind of ['loseRequest', 'loseResponse', 'throttle'] as const) injector.add({ kind, probability: o.sweeperFaultRate });
  const dynamodb = injector.attach(createDynamoDBClient(), 'dynamodb');
  const s3 = injector.attach(createS3Client(), 's3');
  const cleanup = new StreamCleanup({ config: fx.config, dynamodb, s3 });
  const random = seededRandom(mix(o.seed, 4_000, 0));
  const driver = new ExpiryDriver({
    config: fx.config,
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    reader,
    random,
    deliver: async (records) => (await cleanup.handle(records)).response,
    violation: (text) => stats.violation(text),
  });
  stats.expiry = driver.counts;
  let working = true;
  const loop = (async () => {
    while (working) {
      await sleep(randomInt(random, 200, 600));
      if (working) await driver.pass().catch((err: unknown) => stats.countError(`expiry:${(err as Error).name}`));
    }
  })();
  return {
    async stop() {
      working = false;
      await loop;
    },
    async finish() {
      try {
        // Until what is stored has expired (TTL deletes a second after the expiry, at the soonest).
        const items = await scanTable(fx.dynamodb, fx.config.objectsTable);
        const latest = Math.max(0, ...items.map((item) => Number(item[hvAttributeNames(fx.config).expiresAt] ?? 0)));
        await sleep(Math.min(10_000, Math.max(0, (latest + 1) * 1_000 + 100 - Date.now())));
        await driver.pass();
      } finally {
        stats.addFaults(injector);
        reader.close();
        dynamodb.destroy();
        s3.destroy();
      }
    },
  };
}
