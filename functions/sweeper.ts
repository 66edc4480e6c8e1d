/**
 * Scheduled Lambda: one sweep of the change log per invocation, until shortly before the
 * invocation's deadline. Structured logs and EMF metrics through Powertools. Overlapping runs
 * are safe: instances are claimed one by one with conditional writes.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { loadConfig } from '../lib/config.js';
import { Sweeper } from '../lib/recovery/sweeper.js';
import type { SweepReport } from '../lib/recovery/report.js';
import { parseSweepEvent } from '../lib/recovery/sweep-event.js';
import { sweeperTuningFromEnv } from '../lib/recovery/sweeper-env.js';
import { addSweepMetrics, METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';

const logger = new Logger({ serviceName: 'tierlog-sweeper' });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'tierlog-sweeper' });
const sweeper = new Sweeper({
  config: loadConfig(),
  ...sweeperTuningFromEnv(),
  logger: {
    info: (message, attributes = {}) => logger.info(message, attributes),
    warn: (message, attributes = {}) => logger.warn(message, attributes),
    error: (message, attributes = {}) => logger.error(message, attributes),
  },
});

export const handler = async (event: unknown, context: Context): Promise<Omit<SweepReport, 'wouldDelete'>> => {
  logger.addContext(context);
  const { shards, dryRun } = parseSweepEvent(event);
  const deadline = Date.now() + context.getRemainingTimeInMillis();
  const report = await sweeper.sweep({ deadline, dryRun, ...(shards !== undefined ? { shards } : {}) });
  addSweepMetrics({ addMetric: (name, unit, value) => metrics.addMetric(name, MetricUnit[unit], value) }, report);
  metrics.publishStoredMetrics();
  if (report.errors > 0) {
    // Fail the invocation so the errors alarm sees it; the next sweep retries (all idempotent).
    throw new Error(`sweep finished with ${report.errors} errors (see logs)`);
  }
  const { wouldDelete, ...summary } = report;
  if (dryRun) logger.info('dry run: blobs that would be deleted', { wouldDelete });
  return summary;
};
