/**
 * How a report becomes CloudWatch metrics: one data point per named figure, in the `Tierlog`
 * namespace. Each report (sweep, stream cleanup) fixes its own names in its own file, because the
 * CDK alarms and dashboard (infra/) refer to them; this file holds what they share.
 */

/** Namespace of every tierlog metric. */
export const METRICS_NAMESPACE = 'Tierlog';

/** The part of Powertools' `Metrics` this needs. */
export interface MetricSink {
  /** Adds one data point of the metric `name`. */
  addMetric(name: string, unit: 'Count' | 'Milliseconds', value: number): void;
}

/**
 * Adds one data point for each figure in `names` (report field → metric name), read from
 * `report`; figures listed in `durations` are milliseconds, the rest counts.
 */
export function addReportMetrics<K extends string>(
  sink: MetricSink,
  names: Readonly<Record<K, string>>,
  report: Readonly<Record<NoInfer<K>, number>>,
  durations: readonly NoInfer<K>[] = [],
): void {
  for (const field of Object.keys(names) as K[]) {
    sink.addMetric(names[field], durations.includes(field) ? 'Milliseconds' : 'Count', report[field]);
  }
}
