/**
 * After the workload: sweepers on a simulated clock that advances `recoveryStepMs` a round from
 * now, sweeping until nothing is deferred and the log is drained (leases, claims and upload
 * windows pass). Reports the rounds and the simulated time it took.
 *
 * Upload sessions hold their item until their expiry plus a grace of one Lambda lifetime
 * (15 min): when nothing is left but sessions whose leases outlast the next round, the clock
 * jumps past the latest of them instead of stepping there.
 */
import { checkInvariants, type InvariantReport, scanTable } from '../../../lib/drill/invariants.js';
import { CHANGELOG_ATTR } from '../../../lib/schema/tables.js';
import { UPLOAD_ATTR } from '../../../lib/tiered/upload-session-item.js';
import { Sweeper } from '../../../lib/recovery/sweeper.js';
import type { Fixture } from '../../support/local.js';
import type { SimulationOptions } from './options.js';
import { briefSweep, type SimulationStats } from './stats.js';
import { maxLeaseMs } from './sweepers.js';

export interface Quiesced {
  /** The state after the last round. */
  readonly invariants: InvariantReport;
  readonly rounds: number;
  /** Simulated time from quiescence to the last round. */
  readonly simulatedMs: number;
}

export async function quiesce(fx: Fixture, o: SimulationOptions, stats: SimulationStats): Promise<Quiesced> {
  const step = o.recoveryStepMs ?? 1_000;
  const quiesced = Date.now();
  let simulated = 0;
  const sweepers = Array.from(
    { length: o.sweepers },
    () =>
      new Sweeper({
        config: fx.config,
        dynamodb: fx.dynamodb,
        s3: fx.s3,
        clock: () => quiesced + simulated,
        skewMarginMs: o.skewMarginMs,
        maxUploadMs: o.maxUploadMs,
        maxLeaseMs: maxLeaseMs(o),
        claimMs: o.claimMs,
        unsafeShortWindows: true, // the simulated writers run on the same compressed time
        retryFailedMs: 500,
      }),
  );
  const maxRounds = Math.ceil((3 * o.maxUploadMs + 3 * o.claimMs) / step) + 8;
  for (let rounds = 1; ; rounds++) {
    const reports = await Promise.all(sweepers.map((s) => s.sweep()));
    for (const r of reports) stats.addSweep(r);
    stats.log(`final sweep ${rounds} at +${simulated}ms: ${JSON.stringify(reports.map(briefSweep))}`);
    const invariants = await checkInvariants(fx);
    const unsettled = reports.some((r) => r.entriesDeferred + r.entriesFailed + r.errors + r.entriesQuarantined > 0);
    if (!unsettled && invariants.entries === 0 && invariants.instances === 0) return { invariants, rounds, simulatedMs: simulated };
    if (rounds >= maxRounds) {
      stats.violation(
        `the log did not drain after ${rounds} final sweeps (${simulated} ms simulated): ${JSON.stringify(reports.map(briefSweep))}`,
      );
      return { invariants, rounds, simulatedMs: simulated };
    }
    simulated = Math.max(simulated + step, (await sessionsOnlyUntil(fx)) - quiesced + o.skewMarginMs + 1);
  }
}

/** The latest lease of the instance items left when all of them are upload sessions (else 0). */
async function sessionsOnlyUntil(fx: Fixture): Promise<number> {
  const items = await scanTable(fx.dynamodb, fx.config.changeLogTable);
  if (items.length === 0 || items.some((item) => item[UPLOAD_ATTR] === undefined)) return 0;
  return Math.max(...items.map((item) => Number(item[CHANGELOG_ATTR.leaseUntil] ?? 0)));
}
