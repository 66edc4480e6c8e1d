/** The counters, the trace and the violations of one simulation run, filled by every phase. */
import type { ExpiryCounts } from '../../../lib/drill/expiry.js';
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
    sessions: 0,
    sessionsCompleted: 0,
    sessionsAborted: 0,
    sessionsAbandoned: 0,
    sessionsExpired: 0,
    partsRefused: 0,
    completedTwice: 0,
    uploadsLeftToLifecycle: 0,
    expiringPuts: 0,
    expiringReads: 0,
    writesNamingOld: 0,
    sessionsNamingOld: 0,
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
  /** TTL and the objects table's stream (when objects expire in this run). */
  expiry?: ExpiryCounts;
  /** The tags of the upload sessions (the model's writes that are sessions). */
  readonly sessionTags: string[] = [];
  /**
   * Per object key: multipart uploads S3 may hold that no session recorded (a CreateMultipartUpload
   * sent again after its answer was lost, or a writer that died before the session noted the id).
   */
  readonly unrecordedUploads = new Map<string, number>();

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
