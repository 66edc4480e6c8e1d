/**
 * The stream cleanup's CloudWatch metrics, from a {@link StreamCleanupReport}. Names are fixed
 * here because the CDK alarms and dashboard (infra/) refer to them.
 */
import type { StreamCleanupReport } from './stream-cleanup.js';
import { addReportMetrics, type MetricSink } from './metric-sink.js';

/** The stream cleanup's metric names (namespace `Tierlog`). */
export const STREAM_METRICS = {
  removes: 'StreamRemoves',
  expiredRemoves: 'StreamExpiredRemoves',
  replaced: 'StreamReplaced',
  unchanged: 'StreamUnchangedKept',
  blobsDeleted: 'StreamBlobsDeleted',
  untrusted: 'StreamUntrusted',
  referenced: 'StreamReferencedKept',
  failed: 'StreamRecordsFailed',
} as const;

/** Adds one data point per metric for `report`. */
export function addStreamMetrics(sink: MetricSink, report: StreamCleanupReport): void {
  addReportMetrics(sink, STREAM_METRICS, report);
}
