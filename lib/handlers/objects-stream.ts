/**
 * The objects table's stream consumer as a factory: `functions/objects-stream.ts` is
 * `createObjectsStreamHandler()`. It deletes the blob an item stopped pointing at (removed, TTL
 * expiry included, or replaced by a writer that could not delete it), through the sweeper's
 * namespace guard (the rule is in lib/recovery/stream-cleanup.ts). It reports partial batch
 * failures, so the event source mapping (ReportBatchItemFailures) retries from the first failed
 * record; everything it does is idempotent. It answers before the invocation's deadline,
 * reporting the records it did not finish. Structured logs and EMF metrics through Powertools.
 *
 * For a deployment without the construct that sets `replacedBlobCleanup: 'stream'`: map the
 * objects table's stream (old images: OLD_IMAGE, as the construct's, or NEW_AND_OLD_IMAGES; a
 * stream of new images only is untrusted, every blob kept) to a function exporting this handler, with
 * ReportBatchItemFailures and the tuning variables of lib/recovery/stream-env.ts.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, DynamoDBStreamEvent } from 'aws-lambda';
import {
  addLogContext,
  assertTimeBeyondMargin,
  definedOnly,
  handlerTelemetry,
  remainingTimeOf,
  warnOfUnknownVariables,
} from './factory-support.js';
import { OBJECTS_STREAM_SERVICE_NAME } from './names.js';
import { loadConfig, type TierlogConfig } from '../config.js';
import { assertOptions, optionNames } from '../plain-options.js';
import {
  accountOfArn,
  parseStreamEvent,
  STREAM_CLEANUP_OPTIONS,
  StreamCleanup,
  type StreamBatchResponse,
  type StreamCleanupOptions,
} from '../recovery/stream-cleanup.js';
import { DEFAULT_STREAM_MARGIN_MS, STREAM_ENV, streamTuningFromEnv } from '../recovery/stream-env.js';
import { addStreamMetrics } from '../recovery/stream-metrics.js';

/** A Lambda handler for the objects table's stream batches. */
export type ObjectsStreamHandler = (
  event: DynamoDBStreamEvent,
  context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>,
) => Promise<StreamBatchResponse>;

/** Options of {@link createObjectsStreamHandler}. All optional. */
export interface ObjectsStreamHandlerOptions {
  /**
   * The configuration.
   *
   * @default loadConfig() (the `TIERLOG_*` variables)
   */
  readonly config?: TierlogConfig;
  /**
   * Cleanup options beyond the configuration (clients, clock, tuning). The tuning in the
   * environment (`TIERLOG_STREAM_CONCURRENCY`, `TIERLOG_STREAM_DEADLINE_MARGIN_MS`) is read and
   * checked in any case; an option given here takes precedence over its variable. Without a
   * `dynamodb` client here the function reads the objects table through its own role, so the
   * table is its own account's: a record of another account's stream (a table of the same name
   * there) is untrusted. With one (which may be another account's), the table's name alone is compared.
   */
  readonly cleanup?: Omit<StreamCleanupOptions, 'config' | 'logger'>;
  /**
   * Powertools logger of the function.
   *
   * @default new Logger({ serviceName: 'tierlog-objects-stream' })
   */
  readonly logger?: Logger;
  /**
   * Powertools metrics of the function (EMF, published after each invocation). Given or not, they carry the
   * `deployment` dimension when `TIERLOG_METRICS_DEPLOYMENT` is set: the deployment's alarms watch it.
   * With it set, metrics given must publish where those alarms look (namespace `Tierlog`, service
   * `tierlog-objects-stream`, no other default dimension): others are refused at init (a `ConfigError` naming `metrics`).
   *
   * @default new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-objects-stream' }), with that dimension
   */
  readonly metrics?: Metrics;
}

/** The names {@link ObjectsStreamHandlerOptions} has, and its `cleanup`'s: any other is refused. */
const HANDLER_OPTIONS = optionNames<ObjectsStreamHandlerOptions>()('config', 'cleanup', 'logger', 'metrics');
const CLEANUP_OPTIONS = STREAM_CLEANUP_OPTIONS.filter((name) => name !== 'config' && name !== 'logger');

/**
 * Builds the cleanup (once: its configuration and tuning are checked here, so a bad variable
 * fails the function's init) and returns the handler. A batch that is not a stream batch fails
 * the invocation before anything is judged.
 */
export function createObjectsStreamHandler(options: ObjectsStreamHandlerOptions = {}): ObjectsStreamHandler {
  // A misspelt option (`cleanup: { concurency }`) would be a default nobody chose: refused at init.
  assertOptions(options, HANDLER_OPTIONS, 'createObjectsStreamHandler');
  assertOptions(options.cleanup, CLEANUP_OPTIONS, "createObjectsStreamHandler's cleanup");
  const { logger, metrics, log, metricSink, invocation } = handlerTelemetry(OBJECTS_STREAM_SERVICE_NAME, options);
  warnOfUnknownVariables(logger);
  const clock = options.cleanup?.clock ?? Date.now;
  const tuning = { ...streamTuningFromEnv(), ...definedOnly(options.cleanup ?? {}) };
  const cleanup = new StreamCleanup({ config: options.config ?? loadConfig(), ...tuning, logger: log });
  const deadlineMarginMs = tuning.deadlineMarginMs ?? DEFAULT_STREAM_MARGIN_MS;
  // The setting the margin came from: the option when given (it decides), else the variable. A
  // refusal naming the variable sent the user to an environment where nothing was set.
  const marginSetting = options.cleanup?.deadlineMarginMs !== undefined ? 'cleanup.deadlineMarginMs' : STREAM_ENV.deadlineMarginMs;
  // Through its own role, the configuration's table (a name, never an ARN) is the function's own
  // account's: a record of another account's stream (a cross-account mapping to a table of the
  // same name) is not this table's. A client given may be another account's: the name alone then.
  const ownTable = options.cleanup?.dynamodb === undefined;
  return async (event, context) => {
    const remainingMs = remainingTimeOf(context, 'the objects-stream handler');
    addLogContext(logger, context);
    // Every record would be reported unfinished, in every retry, until the stream drops it.
    assertTimeBeyondMargin(remainingMs, deadlineMarginMs, 'the objects-stream handler', marginSetting);
    const records = parseStreamEvent(event);
    // Answer before the invocation ends: what is unfinished then is reported, not timed out.
    // In the invocation's scope: a delete answered after the batch (in the next invocation) logs as this one's.
    const account = ownTable ? accountOfArn(context.invokedFunctionArn) : undefined;
    const { response, report } = await invocation.run(context, () =>
      cleanup.handle(records, { deadline: clock() + remainingMs, ...(account !== undefined ? { account } : {}) }),
    );
    addStreamMetrics(metricSink, report);
    metrics.publishStoredMetrics();
    logger.info('stream batch', { ...report });
    return response;
  };
}
