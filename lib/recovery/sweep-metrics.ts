/**
 * The sweeper's CloudWatch metrics, from a {@link SweepReport}. Names are fixed here because the
 * CDK alarms and dashboard (infra/) refer to them.
 */
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

/**
 * Adds one data point per metric for `report`; `OldestExpiredAge` only when the sweep found an
 * expired instance or read every shard's lease index: a sweep cut off at its deadline
 * (`stoppedEarly`) or with a shard unread (`shardsUnread`) that found none does not know that
 * none waits (its queries unanswered, a throttled or unreachable table), and its 0 would take the
 * backlog alarm back to OK while instances wait. Without the data point the alarm's last verdict
 * stands, as in a period without a sweep.
 */
export function addSweepMetrics(sink: MetricSink, report: SweepReport, options: SweepMetricsOptions = {}): void {
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
