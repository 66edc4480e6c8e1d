/**
 * Sweepers that run WHILE the workload runs, as the scheduled Lambda does: each sweeps at random
 * intervals with faults of its own (lost requests and answers, throttling) and sometimes dies at
 * one of its requests (a fresh sweeper takes its place), so claims race live writers. As deployed,
 * most sweeps skip housekeeping; one in five looks for suspect leases and items without a shard.
 */
import { createDynamoDBClient, createS3Client } from '../../../lib/aws/clients.js';
import { randomInt, seededRandom } from '../../../lib/drill/random.js';
import { CrashError, FaultInjector, type FaultRule } from '../../../lib/faults/fault-injector.js';
import { Sweeper } from '../../../lib/recovery/sweeper.js';
import type { Fixture } from '../../support/local.js';
import type { SimulationOptions } from './options.js';
import { mix } from './plan.js';
import { briefSweep, errorName, type SimulationStats } from './stats.js';
import { describeRequest, spyRule } from './trace.js';

/** Starts `options.sweepers` sweeper loops; `stop()` ends them after their current sweep. */
export function startSweepers(fx: Fixture, o: SimulationOptions, stats: SimulationStats): { stop(): Promise<void> } {
  let working = true;
  const loops = Array.from({ length: o.sweepers }, (_, index) => sweeperLoop(fx, o, stats, index, () => working));
  return {
    async stop() {
      working = false;
      await Promise.all(loops);
    },
  };
}

/** The longest lease a simulated writer takes (the sweepers' `maxLeaseMs`). */
export function maxLeaseMs(o: SimulationOptions): number {
  return o.invocationMs + o.leaseMarginMs;
}

async function sweeperLoop(fx: Fixture, o: SimulationOptions, stats: SimulationStats, index: number, working: () => boolean) {
  const random = seededRandom(mix(o.seed, 2_000 + index, 0));
  let generation = 0;
  let requests: string[] = [];
  const make = () => {
    const gen = generation++;
    const name = `sweeper${index}.${gen}`;
    const injector = new FaultInjector(seededRandom(mix(o.seed, 3_000 + index, gen)));
    const sweeper = new Sweeper({
      config: fx.config,
      dynamodb: injector.attach(createDynamoDBClient(), 'dynamodb'),
      s3: injector.attach(createS3Client(), 's3'),
      skewMarginMs: o.skewMarginMs,
      maxUploadMs: o.maxUploadMs,
      claimMs: o.claimMs,
      unsafeShortWindows: true, // the simulated writers run on the same compressed time
      maxLeaseMs: maxLeaseMs(o),
      retryFailedMs: 500,
      concurrency: 4,
      logger: {
        info() {},
        warn: (message, attributes) => stats.log(`${name} warn ${message} ${JSON.stringify(attributes)}`),
        error: (message, attributes) => stats.log(`${name} error ${message} ${JSON.stringify(attributes)}`),
      },
    });
    return { injector, sweeper, name, spy: spyRule(fx.config, () => requests) };
  };
  let current = make();
  while (working()) {
    await sleep(randomInt(random, 20, 250));
    if (!working()) break;
    // A sweep that dies at one of its requests (first rule: it counts every request).
    const crash: FaultRule | undefined =
      random() < o.sweeperCrashRate
        ? { kind: random() < 0.5 ? 'crashBefore' : 'crashAfter', skip: randomInt(random, 0, 12), times: 1 }
        : undefined;
    current.injector.clear();
    current.injector.add(current.spy);
    if (crash !== undefined) current.injector.add(crash);
    for (const kind of ['loseRequest', 'loseResponse', 'throttle'] as const)
      current.injector.add({ kind, probability: o.sweeperFaultRate });
    requests = [];
    // As deployed: most sweeps skip housekeeping (the every-minute schedule), one in five runs it.
    const housekeeping = random() < 0.2;
    try {
      const r = await current.sweeper.sweep({ housekeeping });
      stats.addSweep(r);
      if (r.instancesClaimed + r.instancesRetired + r.errors > 0)
        stats.log(
          `${current.name} ${JSON.stringify(briefSweep(r))} requests=[${requests.filter((l) => !l.startsWith('hvRead')).join('; ')}]`,
        );
    } catch (err) {
      if (!(err instanceof CrashError)) stats.countError(`sweep:${errorName(err)}`);
    }
    if (current.injector.crashedAt !== undefined) {
      stats.log(`${current.name} crashed at ${describeRequest(current.injector.crashedAt, fx.config)}`);
      stats.sweeperCrashes++;
      stats.addFaults(current.injector);
      current = make();
    }
  }
  stats.addFaults(current.injector);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
