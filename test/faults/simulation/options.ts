/** What one fault simulation runs (its options) and what it reports (its result). */
import type { ReplacedBlobCleanup } from '../../../lib/config.js';
import type { ExpiryCounts } from '../../../lib/drill/expiry.js';
import type { InvariantReport } from '../../../lib/drill/invariants.js';
import type { FaultKind } from '../../../lib/faults/fault-injector.js';
import type { SweepReport } from '../../../lib/recovery/report.js';

export interface SimulationOptions {
  readonly seed: number;
  readonly writers: number;
  readonly operations: number;
  readonly keys: number;
  /** Remaining time of each simulated invocation; the writer's lease ends `leaseMarginMs` after it. */
  readonly invocationMs: number;
  readonly leaseMarginMs: number;
  /** Bodies up to this size are inline. */
  readonly inlineThreshold: number;
  readonly sweepers: number;
  readonly skewMarginMs: number;
  /** Must exceed the longest upload the faults can make (one delay, a few retries). */
  readonly maxUploadMs: number;
  readonly claimMs: number;
  /** Chance that an operation carries network faults. */
  readonly faultRate: number;
  /** Chance that an operation meets a fault that outlasts the SDK's retries. */
  readonly outageRate: number;
  /** Chance that an operation carries a slow call outliving the lease. */
  readonly slowRate: number;
  /** Chance that an operation's writer dies during it. */
  readonly crashRate: number;
  /** Chance that a write is conditional (`ifVersion` = the version its writer last saw). */
  readonly conditionalRate: number;
  /** Writers answer before their settle (`settleInBackground`) and await `settled()` after the answer. */
  readonly settleInBackground?: boolean;
  /** Per-request chance of each fault kind on the sweepers' clients. */
  readonly sweeperFaultRate: number;
  /** Chance that a sweep dies during it. */
  readonly sweeperCrashRate: number;
  /** Offset of each writer slot's clock from the true time, ms (missing: 0). */
  readonly writerClockSkewMs?: readonly number[];
  /** Simulated time between the recovery sweeps after quiescence. */
  readonly recoveryStepMs?: number;
  /** Chance that a put goes through an upload session instead (see `SessionEnding`). Default 0. */
  readonly sessionRate?: number;
  /** Lifetime of a session (but those planned to expire: 3 s). Default 5 s. */
  readonly sessionExpiresMs?: number;
  /**
   * Chance that a put carries an expiry (`timeToLiveMs`, `expiresAt` or `timeToIdleMs`, 0.3 to
   * 3 s); TTL and the objects table's stream then run beside the workload. Not with skewed writer
   * clocks (the model judges expiry on the true clock). Default 0.
   */
  readonly expiringRate?: number;
  /**
   * The writers' `replacedBlobCleanup` (lib/config.ts). With `'stream'` their change-log entries
   * never name a replaced blob, and the blob a writer could not delete after its commit (it died,
   * or the delete failed) is left to the objects table's stream: the stream then runs beside the
   * workload and once more after quiescence (as with `expiringRate`), whatever `expiringRate` is.
   * Default: the configuration's (`'log'`).
   */
  readonly replacedBlobCleanup?: ReplacedBlobCleanup;
}

export const DEFAULT_SIMULATION: Omit<SimulationOptions, 'seed'> = {
  writers: 6,
  operations: 140,
  keys: 6,
  invocationMs: 1_000,
  leaseMarginMs: 300,
  inlineThreshold: 4 * 1024,
  sweepers: 2,
  skewMarginMs: 100,
  maxUploadMs: 10_000,
  claimMs: 4_000,
  faultRate: 0.35,
  outageRate: 0.06,
  slowRate: 0.05,
  crashRate: 0.1,
  conditionalRate: 0.25,
  sweeperFaultRate: 0.02,
  sweeperCrashRate: 0.05,
  sessionRate: 0.15,
  sessionExpiresMs: 5_000,
  expiringRate: 0.25,
};

/** The sweep counters the simulation adds up. */
export type SweepTotals = Pick<
  SweepReport,
  'instancesRetired' | 'instancesClaimed' | 'entriesRecovered' | 'entriesDeferred' | 'entriesQuarantined' | 'blobsDeleted' | 'errors'
>;

/** A type literal (not an interface), so it is a `Record<string, number>` for summing. */
export type OperationCounts = {
  puts: number;
  deletes: number;
  reads: number;
  acked: number;
  failed: number;
  unknown: number;
  crashed: number;
  crashedAfterAck: number;
  readErrors: number;
  conditional: number;
  /** Upload sessions, by how they ended. */
  sessions: number;
  sessionsCompleted: number;
  sessionsAborted: number;
  sessionsAbandoned: number;
  sessionsExpired: number;
  /** Completes refused for a wrong or missing part. */
  partsRefused: number;
  /** Second completes of a committed session (each must answer the first's version). */
  completedTwice: number;
  /** Multipart uploads no session recorded, left to the bucket's lifecycle rule (see verify.ts). */
  uploadsLeftToLifecycle: number;
  /** Puts with an expiry. */
  expiringPuts: number;
  /** Reads that returned an expiring value (each checked: never served past its expiry). */
  expiringReads: number;
  /** Puts and deletes that wrote a replaced blob (`old`) into a change-log entry (none with `replacedBlobCleanup: 'stream'`). */
  writesNamingOld: number;
  /** Session completes that did (a session's commit names `old` in its item whatever the mode). */
  sessionsNamingOld: number;
};

export interface SimulationResult {
  readonly seed: number;
  readonly operations: OperationCounts;
  readonly faults: Record<FaultKind, number>;
  readonly crashesByStep: Record<string, number>;
  readonly sweeperCrashes: number;
  readonly writersStarted: number;
  readonly sweeps: number;
  readonly sweepTotals: SweepTotals;
  readonly finalRounds: number;
  /** Simulated time from quiescence until the log drained (sweeps: {@link finalRounds} rounds). */
  readonly recoveryMs: number;
  /** Stuck instances the sweeps reported (suspect leases). */
  readonly suspectLeases: number;
  readonly errorsByName: Record<string, number>;
  readonly invariants: Pick<InvariantReport, 'objects' | 'blobs' | 'lost' | 'leaked' | 'pending' | 'entries' | 'instances' | 'uploads'>;
  /** TTL and the stream (absent when neither expiry nor `replacedBlobCleanup: 'stream'` runs them). */
  readonly expiry?: ExpiryCounts;
  /** Scenarios the run reached (from the model). */
  readonly scenarios: {
    /** Acknowledged writes over a value that expired while they ran (a key expiring while it is overwritten). */
    readonly expiredDuringWrite: number;
    /** Acknowledged writes over a value that had expired before them. */
    readonly writtenOverExpired: number;
    /** Sessions that committed over a value that expired while the session was open. */
    readonly expiredDuringSession: number;
    /** Puts that re-created a key within 2 s after its value expired. */
    readonly recreatedAfterExpiry: number;
  };

  /** What happened, line by line (for a failing seed). */
  readonly trace: string[];
  /** Everything that went wrong; empty when the seed passed. */
  readonly violations: string[];
  readonly durationMs: number;
}
