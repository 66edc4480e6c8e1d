/**
 * The stream cleanup's CloudWatch metrics, from a {@link StreamCleanupReport}. Names are fixed
 * here because the CDK alarms and dashboard (infra/) refer to them.
 */
import type { StreamCleanupReport } from './stream-cleanup.js';
import type { MetricSink } from './sweep-metrics.js';

/** The stream cleanup's metric names (namespace `Tierlog`). */
export const STREAM_METRICS = {
  removes: 'StreamRemoves',
  expiredRemoves: 'StreamExpiredRemoves',
  blobsDeleted: 'StreamBlobsDeleted',
  untrusted: 'StreamUntrusted',
  referenced: 'StreamReferencedKept',
  failed: 'StreamRecordsFailed',
} as const;

/** Adds one data point per metric for `report`. */
export function addStreamMetrics(sink: MetricSink, report: StreamCleanupReport): void {
  sink.addMetric(STREAM_METRICS.removes, 'Count', report.removes);
  sink.addMetric(STREAM_METRICS.expiredRemoves, 'Count', report.expiredRemoves);
  sink.addMetric(STREAM_METRICS.blobsDeleted, 'Count', report.blobsDeleted);
  sink.addMetric(STREAM_METRICS.untrusted, 'Count', report.untrusted);
  sink.addMetric(STREAM_METRICS.referenced, 'Count', report.referenced);
  sink.addMetric(STREAM_METRICS.failed, 'Count', report.failed);
}
