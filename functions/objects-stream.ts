/**
 * DynamoDB Streams consumer of the objects table: deletes the blob an item stopped pointing at
 * (removed, TTL expiry included, or replaced by a writer that could not delete it), through the
 * sweeper's namespace guard. Reports partial batch failures, so
 * the event source mapping (ReportBatchItemFailures) retries from the first failed record;
 * everything it does is idempotent. It answers before the invocation's deadline, reporting the
 * records it did not finish. See lib/recovery/stream-cleanup.ts for the rule, and
 * lib/recovery/stream-env.ts for its tuning variables.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import { loadConfig } from '../lib/config.js';
import { METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';
import { parseStreamEvent, StreamCleanup, type StreamBatchResponse } from '../lib/recovery/stream-cleanup.js';
import { streamTuningFromEnv } from '../lib/recovery/stream-env.js';
import { addStreamMetrics } from '../lib/recovery/stream-metrics.js';

const logger = new Logger({ serviceName: 'tierlog-objects-stream' });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'tierlog-objects-stream' });
const cleanup = new StreamCleanup({
  config: loadConfig(),
  // TIERLOG_STREAM_CONCURRENCY, TIERLOG_STREAM_DEADLINE_MARGIN_MS: out of range fails the init.
  ...streamTuningFromEnv(),
  logger: {
    info: (message, attributes = {}) => logger.info(message, attributes),
    warn: (message, attributes = {}) => logger.warn(message, attributes),
    error: (message, attributes = {}) => logger.error(message, attributes),
  },
});

export const handler = async (event: DynamoDBStreamEvent, context: Context): Promise<StreamBatchResponse> => {
  logger.addContext(context);
  // Not a stream batch: a ValidationError fails the invocation before anything is judged.
  const records = parseStreamEvent(event);
  // Answer before the invocation ends: what is unfinished then is reported, not timed out.
  const { response, report } = await cleanup.handle(records, { deadline: Date.now() + context.getRemainingTimeInMillis() });
  addStreamMetrics({ addMetric: (name, unit, value) => metrics.addMetric(name, MetricUnit[unit], value) }, report);
  metrics.publishStoredMetrics();
  logger.info('stream batch', { ...report });
  return response;
};
