/**
 * The sweeper's CloudWatch metrics, from a {@link SweepReport}. Names are fixed here because the
 * CDK alarms and dashboard (infra/) refer to them.
 */
import type { SweepReport } from './report.js';

/** Namespace of every tierlog metric. */
export const METRICS_NAMESPACE = 'Tierlog';

/** The sweeper's metric names. */
export const SWEEP_METRICS = {
  instancesRetired: 'InstancesRetired',
  instancesClaimed: 'InstancesClaimed',
  entriesRecovered: 'EntriesRecovered',
  entriesDeferred: 'EntriesDeferred',
  entriesQuarantined: 'EntriesQuarantined',
  entriesFailed: 'EntriesFailed',
  blobsDeleted: 'BlobsDeleted',
  errors: 'SweepErrors',
  sweepDuration: 'SweepDuration',
  oldestExpiredAge: 'OldestExpiredAge',
  stuckInstances: 'StuckInstances',
} as const;

/** The part of Powertools' `Metrics` this needs. */
export interface MetricSink {
  addMetric(name: string, unit: 'Count' | 'Milliseconds', value: number): void;
}

/** Adds one data point per metric for `report`. */
export function addSweepMetrics(sink: MetricSink, report: SweepReport): void {
  sink.addMetric(SWEEP_METRICS.instancesRetired, 'Count', report.instancesRetired);
  sink.addMetric(SWEEP_METRICS.instancesClaimed, 'Count', report.instancesClaimed);
  sink.addMetric(SWEEP_METRICS.entriesRecovered, 'Count', report.entriesRecovered);
  sink.addMetric(SWEEP_METRICS.entriesDeferred, 'Count', report.entriesDeferred);
  sink.addMetric(SWEEP_METRICS.entriesQuarantined, 'Count', report.entriesQuarantined);
  sink.addMetric(SWEEP_METRICS.entriesFailed, 'Count', report.entriesFailed);
  sink.addMetric(SWEEP_METRICS.blobsDeleted, 'Count', report.blobsDeleted);
  sink.addMetric(SWEEP_METRICS.errors, 'Count', report.errors);
  sink.addMetric(SWEEP_METRICS.sweepDuration, 'Milliseconds', report.durationMs);
  sink.addMetric(SWEEP_METRICS.oldestExpiredAge, 'Milliseconds', report.oldestExpiredAgeMs);
  sink.addMetric(SWEEP_METRICS.stuckInstances, 'Count', report.stuckInstances);
}
