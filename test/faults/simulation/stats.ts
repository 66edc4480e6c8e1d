/** The counters, the trace and the violations of one simulation run, filled by every phase. */
import type { FaultInjector, FaultKind } from '../../../lib/faults/fault-injector.js';
import type { SweepReport } from '../../../lib/recovery/report.js';
import type { OperationCounts, SweepTotals } from './options.js';

export const ALL_FAULTS: FaultKind[] = ['loseRequest', 'loseResponse', 'throttle', 'delay', 'crashBefore', 'crashAfter'];

export class SimulationStats {
  readonly started = Date.now();
  readonly operations: OperationCounts = {
    puts: 0,
    deletes: 0,
    reads: 0,
    acked: 0,
    failed: 0,
    unknown: 0,
    crashed: 0,
    crashedAfterAck: 0,
    readErrors: 0,
    conditional: 0,
  };
  readonly faults = Object.fromEntries(ALL_FAULTS.map((k) => [k, 0])) as Record<FaultKind, number>;
  readonly crashesByStep: Record<string, number> = {};
  readonly errorsByName: Record<string, number> = {};
  readonly sweepTotals: SweepTotals = {
    instancesRetired: 0,
    instancesClaimed: 0,
    entriesRecovered: 0,
    entriesDeferred: 0,
    entriesQuarantined: 0,
    blobsDeleted: 0,
    errors: 0,
  };
  sweeps = 0;
  writersStarted = 0;
  sweeperCrashes = 0;
  suspectLeases = 0;
  readonly trace: string[] = [];
  readonly violations: string[] = [];

  constructor(readonly seed: number) {}

  /** A line of the trace, stamped with the time since the start. */
  log(line: string): void {
    this.trace.push(`+${String(Date.now() - this.started).padStart(6)}ms ${line}`);
  }

  /** Something that must not happen (the seed fails). */
  violation(text: string): void {
    this.violations.push(`seed ${this.seed}: ${text}`);
  }

  countError(name: string): void {
    this.errorsByName[name] = (this.errorsByName[name] ?? 0) + 1;
  }

  countCrash(step: string): void {
    this.crashesByStep[step] = (this.crashesByStep[step] ?? 0) + 1;
  }

  /** The faults an injector fired (once per injector, when its writer or sweeper is retired). */
  addFaults(injector: FaultInjector): void {
    for (const kind of ALL_FAULTS) this.faults[kind] += injector.stats.injected[kind];
  }

  addSweep(report: SweepReport): void {
    this.sweeps++;
    this.suspectLeases += report.suspectLeases;
    for (const k of Object.keys(this.sweepTotals) as Array<keyof SweepTotals>) this.sweepTotals[k] += report[k];
  }
}

/** The counters of a sweep that say what it did, for the trace. */
export function briefSweep(r: SweepReport) {
  return {
    claimed: r.instancesClaimed,
    retired: r.instancesRetired,
    recovered: r.entriesRecovered,
    deleted: r.blobsDeleted,
    deferred: r.entriesDeferred,
    failed: r.entriesFailed,
    errors: r.errors,
    quarantined: r.entriesQuarantined,
  };
}

export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}
