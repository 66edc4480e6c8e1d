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

/** Adds one data point per metric for `report`. */
export function addSweepMetrics(sink: MetricSink, report: SweepReport): void {
  const figures = {
    ...report,
    sweepDuration: report.durationMs,
    oldestExpiredAge: report.oldestExpiredAgeMs,
    stoppedEarly: report.stoppedEarly ? 1 : 0,
  };
  addReportMetrics(sink, SWEEP_METRICS, figures, ['sweepDuration', 'oldestExpiredAge']);
}
