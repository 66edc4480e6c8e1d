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
 *    Some puts go through upload sessions (sessions.ts: parts PUT with `fetch` to presigned
 *    URLs; completed once or twice, after a wrong or missing part, aborted, abandoned, or left
 *    to expire), and some carry an expiry: TTL and the objects table's stream then run beside
 *    the workload (expiry.ts), delivering batches twice, late and out of order.
 *  - quiesce (quiesce.ts): sweepers on a simulated clock sweep until nothing is deferred and
 *    the log is drained (jumping past the sessions' leases); the rounds and the simulated time
 *    are reported. Then TTL and the stream once more. With `replacedBlobCleanup: 'stream'` the
 *    writers name no replaced blob in the log: the stream (which then always runs) deletes the
 *    blobs they replaced and could not delete, so no leak is judged before its last pass.
 *  - verify (verify.ts): the invariants from raw reads (no loss, no leak: no unreferenced blob
 *    and no multipart upload in progress, the log drained), and a {@link RegisterModel} check of
 *    every answer, every read (no expired object served), and every key's final value.
 *
 * A failing seed writes its trace (every operation with the faults that fired and the requests
 * each attempt sent, every sweep that did something) to a file named in the failure.
 */
import { checkInvariants } from '../../../lib/drill/invariants.js';
import { RegisterModel } from '../../../lib/drill/model.js';
import type { Fixture } from '../../support/local.js';
import { runWorkload } from './execute.js';
import { startExpiry } from './expiry.js';
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

  // The stream runs for expiring objects, and for the blobs writers replaced when it cleans them.
  const expiring = (options.expiringRate ?? 0) > 0 && options.writerClockSkewMs === undefined;
  const streamCleans = options.replacedBlobCleanup === 'stream';
  const expiry = expiring || streamCleans ? await startExpiry(fx, options, stats) : undefined;
  const sweepers = startSweepers(fx, options, stats);
  await runWorkload({ fx, options, model, keys, stats });
  await sweepers.stop();
  await expiry?.stop();

  const quiesced = await quiesce(fx, options, stats);
  // What expired since, and the blobs replaced by writers that died: TTL and the stream once
  // more, then the invariants again (no leak is judged before this last delivery).
  await expiry?.finish();
  const invariants = expiry === undefined ? quiesced.invariants : await checkInvariants(fx);
  const { rounds, simulatedMs } = quiesced;
  await verifyInvariants(fx, invariants, stats);
  await verifyModel(fx, model, keys, stats);
  const sessions = new Set(stats.sessionTags);
  const overExpiry = model.overExpiry();

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
      uploads: invariants.uploads,
    },
    ...(stats.expiry !== undefined ? { expiry: stats.expiry } : {}),
    scenarios: {
      expiredDuringWrite: overExpiry.during,
      writtenOverExpired: overExpiry.before,
      expiredDuringSession: model.overExpiry((w) => sessions.has(w.tag)).during,
      recreatedAfterExpiry: model.recreatedAfterExpiry(),
    },
    violations: stats.violations,
    trace: stats.trace,
    durationMs: Date.now() - stats.started,
  };
}
