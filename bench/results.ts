/** The shape of one bench run's results: what `--json` writes and what the renderer reads. */
import type { Settings } from './settings.js';
import type { BaselineResult } from './stages/baseline.js';
import type { LatencyResult } from './stages/latency.js';
import type { LoadResult } from './stages/load.js';
import type { OpsResult } from './stages/ops.js';
import type { IdleResult, RecoveryResult } from './stages/recovery.js';
import type { SessionsResult } from './stages/sessions.js';
import type { RecoveryScalingResult } from './stages/recovery-scaling.js';
import type { ColdStartResult } from './stages/coldstart.js';
import type { MemoryResult } from './stages/memory.js';

export interface Target {
  readonly name: string;
  readonly target: string;
  readonly value: string;
  readonly met: boolean;
  /**
   * Set on a ratio measured with a 95% interval (the latency ratios): true when the bound lies
   * inside that interval, so this run cannot tell the target met from missed (`met` still judges
   * the point estimate). Absent in runs judged before 2026-12-02.
   */
  readonly undecided?: boolean;
}

export interface Results {
  date: string;
  startedAt: string;
  node: string;
  /** The commit the run was made on (and whether lib/ had uncommitted changes). */
  commit: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  /** The machine's 1, 5 and 15 minute load averages when the run started and ended. */
  loadAverageAtStart?: number[];
  loadAverageAtEnd?: number[];
  settings: Settings;
  warmup?: { rounds: number; seconds: number };
  baseline?: BaselineResult;
  ops?: OpsResult;
  latency?: LatencyResult;
  latencyModelled?: LatencyResult;
  recovery?: RecoveryResult;
  recoveryScaling?: RecoveryScalingResult;
  idle?: IdleResult;
  load?: LoadResult;
  sessions?: SessionsResult;
  loadUnlogged?: LoadResult;
  /** Every load run's throughput (ops/s) by mode, and the order they ran in; `load`/`loadUnlogged` are the fastest of each. */
  loadRuns?: {
    order: string[];
    logged: number[];
    unlogged: number[];
    /** Each run's correctness check (lost=0 leaked=0 log drained), by mode in run order; absent before 2026-12-02. */
    loggedOk?: boolean[];
    unloggedOk?: boolean[];
  };
  coldStart?: ColdStartResult;
  memory?: MemoryResult;
  targets: Target[];
  totalSeconds?: number;
  ok: boolean;
}
