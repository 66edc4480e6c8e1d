/**
 * The scheduled sweeper handler as a factory: `functions/sweeper.ts` is
 * `createSweeperHandler()`. One sweep of the change log per invocation, until shortly before the
 * invocation's deadline (a sweep still waiting on requests then returns, `stoppedEarly`, so the
 * report is logged and its metrics published); structured logs and EMF metrics through Powertools. What a sweep
 * cut off so logs once the handler returned (a late answer, in the next invocation) carries its own
 * invocation's request id (`function_request_id`), not the one the logger is bound to by then. Overlapping runs
 * are safe: instances are claimed one by one with conditional writes.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import {
  addLogContext,
  assertTimeBeyondMargin,
  definedOnly,
  handlerTelemetry,
  logListInParts,
  remainingTimeOf,
  warnOfUnknownVariables,
} from './factory-support.js';
import { SWEEPER_SERVICE_NAME } from './names.js';
import { loadConfig, type TierlogConfig } from '../config.js';
import { systemClock } from '../ids.js';
import { emptyReport, type SweepReport } from '../recovery/report.js';
import { parseSweepEvent, shardsInRange } from '../recovery/sweep-event.js';
import { addSweepMetrics, HOUSEKEEPING_DIMENSION, SWEEP_GROUP_DIMENSION, SWEEP_METRICS, shardGroupOf } from '../recovery/sweep-metrics.js';
import { SWEEPER_OPTIONS, SweepIncompleteError, Sweeper, type SweeperOptions } from '../recovery/sweeper.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { SWEEPER_ENV, sweeperTuningFromEnv } from '../recovery/sweeper-env.js';
import { DEFAULT_ANSWER_MARGIN_MS, DEFAULT_DEADLINE_MARGIN_MS } from '../constants.js';

/** What a sweep invocation returns (the report without the dry run's blob list). */
export type SweepSummary = Omit<SweepReport, 'wouldDelete'>;

/** A Lambda handler for the schedule's event (`{}`, or `{"shards":[...], "housekeeping": false, "dryRun": true}`). */
export type SweeperHandler = (
  event: unknown,
  context: Pick<Context, 'getRemainingTimeInMillis'> & Partial<Context>,
) => Promise<SweepSummary>;

/** Options of {@link createSweeperHandler}. All optional. */
export interface SweeperHandlerOptions {
  /**
   * The configuration.
   *
   * @default loadConfig() (the `TIERLOG_*` variables)
   */
  readonly config?: TierlogConfig;
  /**
   * Sweeper options beyond the configuration (clients, clock, tuning). The tuning in the
   * environment (`TIERLOG_CLAIM_MS`, ...) is read and checked in any case; an option given here
   * takes precedence over its variable.
   */
  readonly sweeper?: Omit<SweeperOptions, 'config' | 'logger'>;
  /**
   * Powertools logger of the function.
   *
   * @default new Logger({ serviceName: 'tierlog-sweeper' })
   */
  readonly logger?: Logger;
  /**
   * Powertools metrics of the function (EMF, published after each invocation). Given or not, they carry the
   * `deployment` dimension when `TIERLOG_METRICS_DEPLOYMENT` is set: the deployment's alarms watch it.
   * With it set, metrics given must publish where those alarms look (namespace `Tierlog`, service
   * `tierlog-sweeper`, no other default dimension): others are refused at init (a `ConfigError` naming `metrics`).
   *
   * @default new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-sweeper' }), with that dimension
   */
  readonly metrics?: Metrics;
}

/** The names {@link SweeperHandlerOptions} has, and its `sweeper`'s: any other is refused. */
const HANDLER_OPTIONS = optionNames<SweeperHandlerOptions>()('config', 'sweeper', 'logger', 'metrics');
const TUNING_OPTIONS = SWEEPER_OPTIONS.filter((name) => name !== 'config' && name !== 'logger');

/**
 * Builds the sweeper (once) and returns the handler. An invocation with errors throws, after
 * publishing its metrics; one whose lease-index query failed in a shard throws that error, after
 * publishing the metrics of what the sweep did in the others ({@link SweepIncompleteError}).
 */
export function createSweeperHandler(options: SweeperHandlerOptions = {}): SweeperHandler {
  // A misspelt option (`sweeper: { maxUploadMS }`) would be a default nobody chose: refused at init.
  assertOptions(options, HANDLER_OPTIONS, 'createSweeperHandler');
  assertOptions(options.sweeper, TUNING_OPTIONS, "createSweeperHandler's sweeper");
  const { logger, metrics, log, metricSink, invocation } = handlerTelemetry(SWEEPER_SERVICE_NAME, options);
  warnOfUnknownVariables(logger);
  const clock = options.sweeper?.clock ?? systemClock;
  const config = options.config ?? loadConfig();
  const tuning = {
    // The option decides over the variable (a short window set in the environment is taken
    // with `unsafeShortWindows: true` given here), as every option does.
    ...sweeperTuningFromEnv(process.env, { unsafeShortWindows: options.sweeper?.unsafeShortWindows }),
    ...definedOnly(options.sweeper ?? {}),
  };
  const sweeper = new Sweeper({ config, ...tuning, logger: log });
  const deadlineMarginMs = tuning.deadlineMarginMs ?? DEFAULT_DEADLINE_MARGIN_MS;
  const answerMarginMs = tuning.answerMarginMs ?? DEFAULT_ANSWER_MARGIN_MS;
  // The setting each margin came from: the option when given (it decides), else the variable. A
  // refusal naming the variable sent the user to an environment where nothing was set.
  const settingOf = (option: 'deadlineMarginMs' | 'answerMarginMs') =>
    options.sweeper?.[option] !== undefined ? `sweeper.${option}` : SWEEPER_ENV[option];
  return async (event, context) => {
    const remainingMs = remainingTimeOf(context, 'the sweeper handler');
    addLogContext(logger, context);
    // Before anything is published: a sweep that took nothing would tell the not-running alarm it ran.
    assertTimeBeyondMargin(remainingMs, deadlineMarginMs, 'the sweeper handler', settingOf('deadlineMarginMs'));
    assertTimeBeyondMargin(remainingMs, answerMarginMs, 'the sweeper handler', settingOf('answerMarginMs'), 'answer margin');
    const { shards: asked, dryRun, housekeeping } = parseSweepEvent(event);
    const shards = asked === undefined ? undefined : shardsInRange(asked, config.leaseShards);
    if (shards !== undefined && shards.skipped.length > 0) {
      logger.warn('event shards past TIERLOG_LEASE_SHARDS skipped (a schedule of another setting: a deploy under way?)', {
        skipped: shards.skipped,
        leaseShards: config.leaseShards,
      });
      if (shards.swept.length === 0) {
        // No shard to sweep: nothing is published. Its SweepDuration would tell the not-running
        // alarm that a sweep ran, and its OldestExpiredAge of 0 clear a backlog's alarm, for a
        // sweep that looked at nothing (a group of the old setting left after a deploy would
        // keep both quiet for good).
        const { wouldDelete: _none, ...nothing } = emptyReport(dryRun);
        return nothing;
      }
    }
    // On the sweeper's own clock, the one it judges the deadline on.
    const deadline = clock() + remainingMs;
    const publish = (report: SweepReport, shardsUnread = false) => {
      // A dry run acts on nothing: its counts (blobs it would delete, instances it would claim)
      // would show on the dashboard and in the alarms as done. It is logged, not published: its
      // list too when the invocation then fails (an error in one instance, a shard's query), as
      // what the rest of the sweep would delete is what the dry run was asked for.
      if (report.dryRun) {
        // In parts: a backlog's list in one line passed CloudWatch Logs' 256 KB event, and was cut.
        logListInParts((m, a) => logger.info(m, a), 'dry run: blobs that would be deleted', 'wouldDelete', report.wouldDelete);
        return;
      }
      addSweepMetrics(metricSink, report, { shardsUnread });
      metrics.publishStoredMetrics();
      // A fan-out group's heartbeat, under its shards: the not-running alarm hears every group's
      // sweeps together, and one group's silence under the others' (SWEEP_GROUP_DIMENSION).
      if (asked !== undefined) {
        const heartbeat = metrics.singleMetric();
        heartbeat.addDimension(SWEEP_GROUP_DIMENSION, shardGroupOf(asked));
        heartbeat.addMetric(SWEEP_METRICS.sweepDuration, MetricUnit.Milliseconds, report.durationMs);
      }
      // The housekeeping heartbeat: the other sweeps' keep the not-running alarm quiet while the
      // housekeeping schedules are stopped, and nothing looks for what only they find (HOUSEKEEPING_DIMENSION).
      if (housekeeping) {
        const heartbeat = metrics.singleMetric();
        heartbeat.addDimension(HOUSEKEEPING_DIMENSION, 'true');
        heartbeat.addMetric(SWEEP_METRICS.sweepDuration, MetricUnit.Milliseconds, report.durationMs);
        // And a fan-out group's, under both: the other groups' keep the one above quiet while this
        // group's housekeeping schedule is stopped, and the scan outside the lease shards runs
        // only in the group that holds shard 0.
        if (asked !== undefined) {
          const group = metrics.singleMetric();
          group.addDimension(SWEEP_GROUP_DIMENSION, shardGroupOf(asked));
          group.addDimension(HOUSEKEEPING_DIMENSION, 'true');
          group.addMetric(SWEEP_METRICS.sweepDuration, MetricUnit.Milliseconds, report.durationMs);
        }
      }
    };
    let report: SweepReport;
    try {
      // In the invocation's scope: a request a cut-off sweep left unanswered is answered after the
      // handler returned, once Lambda thaws the environment for the next invocation, and what the
      // sweeper logs of it then ("sweep failed after its deadline") is told as this invocation's.
      report = await invocation.run(context, () =>
        sweeper.sweep({ deadline, dryRun, housekeeping, ...(shards !== undefined ? { shards: shards.swept } : {}) }),
      );
    } catch (err) {
      if (!(err instanceof SweepIncompleteError)) throw err;
      // A shard's lease-index query failed after the others were swept: what they did is
      // published (the alarms see it), then the invocation fails with the query's error.
      publish(err.report, true);
      logger.error(err.message, { errors: err.report.errors });
      throw err.cause;
    }
    publish(report);
    if (report.errors > 0) {
      // Fail the invocation so the errors alarm sees it; the next sweep retries (all idempotent).
      throw new Error(`sweep finished with ${report.errors} errors (see logs)`);
    }
    const { wouldDelete: _listed, ...summary } = report;
    return summary;
  };
}
