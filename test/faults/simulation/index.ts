/**
 * One seeded random fault simulation against the real local servers, in four phases:
 *
 *  - plan (plan.ts): each writer slot draws its operations from the seed: small and large puts,
 *    overwrites, small-over-large, deletes and reads on a small shared keyspace; a quarter of
 *    the writes conditional (`ifVersion` on the version the writer last saw); network faults
 *    (a request lost before it was sent, a response lost after it was applied, throttling, a
 *    slow call that outlives the lease) and crash points (at the n-th request, or at a
 *    protocol step).
 *  - execute (execute.ts, sweepers.ts): simulated Lambda writers (their own SDK clients,
 *    FaultInjector, change log and store; short leases tied to each invocation; clocks skewed
 *    as `writerClockSkewMs` says) run the plan; a dead writer is replaced by a fresh one. Two
 *    sweepers with a short skew margin and upload window sweep concurrently, with faults and
 *    crashes of their own, so claims race live writers.
 *  - quiesce (quiesce.ts): sweepers on a simulated clock sweep until nothing is deferred and
 *    the log is drained; the rounds and the simulated time are reported.
 *  - verify (verify.ts): the invariants from raw reads (no loss, no leak, the log drained), and
 *    a {@link RegisterModel} check of every answer, every read, and every key's final value.
 *
 * A failing seed writes its trace (every operation with the faults that fired and the requests
 * each attempt sent, every sweep that did something) to a file named in the failure.
 */
import { RegisterModel } from '../../../lib/drill/model.js';
import type { Fixture } from '../../support/local.js';
import { runWorkload } from './execute.js';
import type { SimulationOptions, SimulationResult } from './options.js';
import { quiesce } from './quiesce.js';
import { SimulationStats } from './stats.js';
import { startSweepers } from './sweepers.js';
import { verifyInvariants, verifyModel } from './verify.js';

export { DEFAULT_SIMULATION, type SimulationOptions, type SimulationResult } from './options.js';
export { mix } from './plan.js';

export async function runSimulation(fx: Fixture, options: SimulationOptions): Promise<SimulationResult> {
  const stats = new SimulationStats(options.seed);
  const model = new RegisterModel();
  const keys = Array.from({ length: options.keys }, (_, i) => `sim/k${i}${i % 3 === 0 ? '/nested/ü' : ''}`);

  const sweepers = startSweepers(fx, options, stats);
  await runWorkload({ fx, options, model, keys, stats });
  await sweepers.stop();

  const { invariants, rounds, simulatedMs } = await quiesce(fx, options, stats);
  await verifyInvariants(fx, invariants, stats);
  await verifyModel(fx, model, keys, stats);

  return {
    seed: options.seed,
    operations: stats.operations,
    faults: stats.faults,
    crashesByStep: stats.crashesByStep,
    sweeperCrashes: stats.sweeperCrashes,
    writersStarted: stats.writersStarted,
    sweeps: stats.sweeps,
    sweepTotals: stats.sweepTotals,
    finalRounds: rounds,
    recoveryMs: simulatedMs,
    suspectLeases: stats.suspectLeases,
    errorsByName: stats.errorsByName,
    invariants: {
      objects: invariants.objects,
      blobs: invariants.blobs,
      lost: invariants.lost,
      leaked: invariants.leaked,
      pending: invariants.pending,
      entries: invariants.entries,
      instances: invariants.instances,
    },
    violations: stats.violations,
    trace: stats.trace,
    durationMs: Date.now() - stats.started,
  };
}
