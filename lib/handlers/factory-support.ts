/**
 * What the handler factories (`createSweeperHandler`, `createObjectsStreamHandler`) share: their
 * Powertools logger and metrics, seen through the sinks the recovery code writes to, and the
 * rule that an option left `undefined` does not hide its environment variable. With
 * `createObjectsHandler` and the snapshot audit's function, the warning at init of a `TIERLOG_*`
 * variable no entry point reads ({@link warnOfUnknownVariables}).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { reportUnknownVariables } from '../config.js';
import { METRICS_NAMESPACE, type MetricSink } from '../recovery/metric-sink.js';
import type { SweepLogger } from '../recovery/sweeper.js';
import { metricsDeploymentDimensions } from './names.js';

/** A handler's Powertools logger and metrics, and the sinks the recovery code writes to. */
export interface HandlerTelemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `logger` as the sweeper and the stream cleanup log. */
  readonly log: SweepLogger;
  /** `metrics` as a report's figures are added to it. */
  readonly metricSink: MetricSink;
}

/**
 * The given logger and metrics, or new ones of service `serviceName` in the `Tierlog` namespace
 * (with the `deployment` dimension when `TIERLOG_METRICS_DEPLOYMENT` is set: see `names.ts`).
 */
export function handlerTelemetry(serviceName: string, options: { readonly logger?: Logger; readonly metrics?: Metrics }): HandlerTelemetry {
  const logger = options.logger ?? new Logger({ serviceName });
  const metrics =
    options.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName, defaultDimensions: metricsDeploymentDimensions() });
  return {
    logger,
    metrics,
    log: {
      info: (message, attributes = {}) => logger.info(message, attributes),
      warn: (message, attributes = {}) => logger.warn(message, attributes),
      error: (message, attributes = {}) => logger.error(message, attributes),
    },
    metricSink: { addMetric: (name, unit, value) => metrics.addMetric(name, MetricUnit[unit], value) },
  };
}

/** `options` without the fields set to `undefined`, which would hide the environment's value when spread over it. */
export function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Logs a warning for each `TIERLOG_*` variable of the function's environment that no entry point
 * reads (a misspelling: `TIERLOG_LEASE_SHARD`), once, at init: the setting it meant keeps its
 * default. Never a refusal (`reportUnknownVariables` in lib/config.ts says why).
 */
export function warnOfUnknownVariables(
  logger: Pick<Logger, 'warn'>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  reportUnknownVariables(env, (message, detail) => logger.warn(message, { ...detail }));
}
