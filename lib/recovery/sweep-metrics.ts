/**
 * The sweeper's CloudWatch metrics, from a {@link SweepReport}. Names are fixed here because the
 * CDK alarms and dashboard (infra/) refer to them.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import { addReportMetrics, type MetricSink } from './metric-sink.js';
import type { SweepReport } from './report.js';

export { METRICS_NAMESPACE, type MetricSink } from './metric-sink.js';

/** The sweeper's metric names. */
export const SWEEP_METRICS = {
  /**
   * Instances past their lease that the sweep found (`instancesExpired`): next to those it retired
   * and claimed, it shows whether a backlog drains or grows (OldestExpiredAge rises either way).
   */
  instancesExpired: 'InstancesExpired',
  instancesRetired: 'InstancesRetired',
  instancesClaimed: 'InstancesClaimed',
  entriesRecovered: 'EntriesRecovered',
  entriesDeferred: 'EntriesDeferred',
  entriesQuarantined: 'EntriesQuarantined',
  entriesFailed: 'EntriesFailed',
  blobsDeleted: 'BlobsDeleted',
  abandonedUploadsAborted: 'AbandonedUploadsAborted',
  abandonedUploadErrors: 'AbandonedUploadErrors',
  abandonedUploadListingsTruncated: 'AbandonedUploadListingsTruncated',
  errors: 'SweepErrors',
  sweepDuration: 'SweepDuration',
  oldestExpiredAge: 'OldestExpiredAge',
  stuckInstances: 'StuckInstances',
  /** 1 when the deadline cut the sweep short (`stoppedEarly`), else 0. */
  stoppedEarly: 'StoppedEarly',
} as const;

/**
 * The dimension of a fan-out group's heartbeat. A sweep whose event names its shards (each of the
 * construct's schedules with `sweeperParallelism` above 1) publishes, beside its metrics, one more
 * `SweepDuration` data point with this dimension, valued {@link shardGroupOf} the event's shards
 * (`"1-253/4"`).
 * The not-running alarm counts the sweeps of every group together: a group that stopped (its
 * schedules disabled or deleted, its invocations dropped or failing before they publish) left it
 * quiet while the dead writers of that group's shards were never swept. Each group's
 * `SweeperGroupNotRunning` alarm counts its own.
 */
export const SWEEP_GROUP_DIMENSION = 'shards';

/**
 * The dimension of the housekeeping heartbeat. A housekeeping sweep (its event's `housekeeping`
 * true or absent: the construct's housekeeping schedules, a sweep run by hand) publishes, beside
 * its metrics, one more `SweepDuration` data point with this dimension, valued `"true"`.
 * Housekeeping sweeps alone look for suspect leases and for the items the lease index never shows
 * (without a shard, in a shard past `leaseShards`), and count `StuckInstances`: with their
 * schedules disabled or deleted, or their events dropped, the other sweeps kept `SweeperNotRunning`
 * quiet and published `StuckInstances` 0, while those items were never looked for. The
 * `HousekeepingNotRunning` alarm counts these. A housekeeping sweep whose event names its shards
 * (a fan-out group's) publishes one more, with this dimension and {@link SWEEP_GROUP_DIMENSION}:
 * the other groups' housekeeping kept that alarm quiet while one group's was stopped (and the scan
 * for items outside the lease shards runs only in the group that holds shard 0), and that group's
 * sweeps kept its `SweeperGroupNotRunning`; each group's `HousekeepingGroupNotRunning` counts its own.
 */
export const HOUSEKEEPING_DIMENSION = 'housekeeping';

/** The longest dimension value the CDK takes (CloudWatch's own limit is longer). */
const MAX_DIMENSION_VALUE = 255;

/**
 * The value of {@link SWEEP_GROUP_DIMENSION} for a sweep of `shards`: each once, ascending, a run
 * of three or more at one step written `first-last/step` (`/1` left out), others as they are,
 * joined by commas. A fan-out group of the construct is one run (`"1-253/4"`, or `"1"`), within
 * the 255 characters a dimension value has; a list of the user's whose form is longer is named by a
 * digest of it (`sha256:` and 16 hex digits), as stable.
 */
export function shardGroupOf(shards: readonly number[]): string {
  const sorted = [...new Set(shards)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    const step = (sorted[i + 1] ?? Number.NaN) - sorted[i]!;
    let last = i;
    while (last + 1 < sorted.length && sorted[last + 1]! - sorted[last]! === step) last += 1;
    if (last - i >= 2) {
      parts.push(`${sorted[i]}-${sorted[last]}${step === 1 ? '' : `/${step}`}`);
      i = last + 1;
    } else {
      parts.push(String(sorted[i]));
      i += 1;
    }
  }
  const written = parts.join(',');
  if (written.length <= MAX_DIMENSION_VALUE) return written;
  return `sha256:${createHash('sha256').update(sorted.join(',')).digest('hex').slice(0, 16)}`;
}

/** Options of {@link addSweepMetrics}. */
export interface SweepMetricsOptions {
  /**
   * A shard's lease-index query failed (the report of a `SweepIncompleteError`): its
   * expired instances were not read.
   *
   * @default false
   */
  readonly shardsUnread?: boolean;
}

/** The names {@link SweepMetricsOptions} has: any other is refused. */
const SWEEP_METRICS_OPTIONS = optionNames<SweepMetricsOptions>()('shardsUnread');

/**
 * Adds one data point per metric for `report`; `OldestExpiredAge` only when the sweep found an
 * expired instance or read every shard's lease index: a sweep cut off at its deadline
 * (`stoppedEarly`) or with a shard unread (`shardsUnread`) that found none does not know that
 * none waits (its queries unanswered, a throttled or unreachable table), and its 0 would take the
 * backlog alarm back to OK while instances wait. Without the data point the alarm's last verdict
 * stands, as in a period without a sweep.
 *
 * @throws ValidationError when `options` has a name {@link SweepMetricsOptions} does not (a misspelt
 *   `shardUnread` published that 0), or `shardsUnread` is not a boolean (`"true"` was read as
 *   false), before anything is added.
 */
export function addSweepMetrics(sink: MetricSink, report: SweepReport, options: SweepMetricsOptions = {}): void {
  assertOptions(options, SWEEP_METRICS_OPTIONS, 'addSweepMetrics');
  const unread: unknown = options.shardsUnread;
  if (unread !== undefined && typeof unread !== 'boolean') {
    throw new ValidationError(`shardsUnread must be true or false, got ${kindOf(unread)}`, 'shardsUnread');
  }
  const figures = {
    ...report,
    sweepDuration: report.durationMs,
    oldestExpiredAge: report.oldestExpiredAgeMs,
    stoppedEarly: report.stoppedEarly ? 1 : 0,
  };
  if (report.oldestExpiredAgeMs === 0 && (report.stoppedEarly || options.shardsUnread === true)) {
    const { oldestExpiredAge: _unknown, ...known } = SWEEP_METRICS;
    addReportMetrics(sink, known, figures, ['sweepDuration']);
    return;
  }
  addReportMetrics(sink, SWEEP_METRICS, figures, ['sweepDuration', 'oldestExpiredAge']);
}
