/**
 * The verdict of a run, from outside: the invariants of DESIGN.md on the raw state after
 * quiescence (no loss, no leak, the log drained, nothing quarantined), then the model: every
 * answer and read during the workload, and every key's final value.
 */
import { NoopChangeLog } from '../../../lib/changelog/noop.js';
import type { InvariantReport } from '../../../lib/drill/invariants.js';
import { type Observed, observe, type RegisterModel } from '../../../lib/drill/model.js';
import { TieredStore } from '../../../lib/tiered/tiered-store.js';
import type { Fixture } from '../../support/local.js';
import { errorName, type SimulationStats } from './stats.js';
import { describeBlob } from './trace.js';

/** Invariants 1-3 and no quarantine, as violations. */
export async function verifyInvariants(fx: Fixture, invariants: InvariantReport, stats: SimulationStats): Promise<void> {
  if (invariants.lost.length > 0) stats.violation(`invariant 1 (no loss): HV keys whose blob is gone: ${invariants.lost.join(', ')}`);
  const unreferenced = [...invariants.leaked, ...invariants.pending];
  if (unreferenced.length > 0) {
    const described = await Promise.all(unreferenced.map((blob) => describeBlob(fx, blob)));
    stats.violation(`invariant 2 (no leak): unreferenced blobs: ${described.join(', ')}`);
  }
  const untracked = uploadsNoSessionNamed(invariants.uploads, stats);
  if (untracked.length > 0) stats.violation(`invariant 2 (no leak): multipart uploads left in progress: ${untracked.join(', ')}`);
  if (invariants.entries > 0 || invariants.instances > 0)
    stats.violation(`invariant 3 (log drains): ${invariants.entries} entries in ${invariants.instances} instance items left`);
  if (stats.sweepTotals.entriesQuarantined > 0)
    stats.violation(`${stats.sweepTotals.entriesQuarantined} entries quarantined (the library wrote an entry it cannot trust)`);
}

/** Every answer and read the model does not allow, and every key's final value (read now). */
export async function verifyModel(fx: Fixture, model: RegisterModel, keys: readonly string[], stats: SimulationStats): Promise<void> {
  for (const v of model.violations()) stats.violation(v);
  const reader = new TieredStore({ config: fx.config, changeLog: new NoopChangeLog(), dynamodb: fx.dynamodb, s3: fx.s3 });
  for (const key of keys) {
    let observed: Observed;
    const start = Date.now();
    try {
      observed = observe(await reader.get(key), false);
    } catch (err) {
      stats.violation(`final read of ${key} failed: ${errorName(err)}: ${(err as Error).message}`);
      continue;
    }
    const why = model.checkFinal(key, observed, { start, end: Date.now() });
    if (why !== undefined) stats.violation(why);
  }
}

/**
 * The multipart uploads left that a session should have ended. Those no session ever recorded (see
 * `unrecordedUploads`) are left to the bucket's lifecycle rule (AbortIncompleteMultipartUpload,
 * which the construct sets): counted, not violations.
 */
function uploadsNoSessionNamed(uploads: readonly string[], stats: SimulationStats): string[] {
  const allowance = new Map(stats.unrecordedUploads);
  const wrong: string[] = [];
  for (const blob of uploads) {
    const key = Buffer.from(blob.split('/')[1] ?? '', 'base64url').toString('utf8');
    const left = allowance.get(key) ?? 0;
    if (left > 0) {
      allowance.set(key, left - 1);
      stats.operations.uploadsLeftToLifecycle++;
    } else wrong.push(`${blob} (object ${key})`);
  }
  return wrong;
}
