/**
 * What the handler factories (`createSweeperHandler`, `createObjectsStreamHandler`) share: their
 * Powertools logger and metrics, seen through the sinks the recovery code writes to, and the
 * rule that an option left `undefined` does not hide its environment variable. With
 * `createObjectsHandler` and the snapshot audit's function, the warning at init of a `TIERLOG_*`
 * variable no entry point reads ({@link warnOfUnknownVariables}), and the Lambda context's remaining
 * time, which bounds each handler's work ({@link remainingTimeOf}), and must leave more than the
 * handler's deadline margin ({@link assertTimeBeyondMargin}).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { EmfOutput } from '@aws-lambda-powertools/metrics/types';
import { reportUnknownVariables } from '../config.js';
import { LOG_LIST_PART_BYTES } from '../constants.js';
import { ConfigError, ValidationError } from '../errors.js';
import { kindOf } from '../plain-options.js';
import { METRICS_NAMESPACE, type MetricSink } from '../recovery/metric-sink.js';
import type { SweepLogger } from '../recovery/sweeper.js';
import { METRICS_DEPLOYMENT_DIMENSION, METRICS_DEPLOYMENT_ENV, metricsDeploymentDimensions } from './names.js';

/**
 * The invocation a handler's work began in, through all of that work ({@link InvocationScope.run}):
 * Lambda freezes the environment once the handler answers, and work still under way then (a
 * request answered 503 at its deadline, a stream batch's delete not answered in time) goes on
 * when it is thawed for the next invocation, whose request id the logger's context holds by then.
 * What that work logs carries its own invocation's request id ({@link InvocationScope.attributes}),
 * not the next one's.
 */
export interface InvocationScope {
  /** Runs `work` as the invocation of `context` (its `awsRequestId`; none: as it is). */
  run<T>(context: object, work: () => T): T;
  /** `{ function_request_id }` of the invocation the calling work began in; empty outside one. */
  attributes(): { function_request_id?: string };
}

/** A new {@link InvocationScope}. */
export function invocationScope(): InvocationScope {
  const storage = new AsyncLocalStorage<string>();
  return {
    run: (context, work) => {
      const id = (context as { awsRequestId?: unknown }).awsRequestId;
      return typeof id === 'string' ? storage.run(id, work) : work();
    },
    attributes: () => {
      const id = storage.getStore();
      return id !== undefined ? { function_request_id: id } : {};
    },
  };
}

/** A handler's Powertools logger and metrics, and the sinks the recovery code writes to. */
export interface HandlerTelemetry {
  readonly logger: Logger;
  readonly metrics: Metrics;
  /**
   * `logger` as the sweeper and the stream cleanup log: each line with the request id of the
   * invocation the work that logs it began in ({@link HandlerTelemetry.invocation}).
   */
  readonly log: SweepLogger;
  /** The scope each invocation's work runs in, so that what it logs late is told as its own. */
  readonly invocation: InvocationScope;
  /** `metrics` as a report's figures are added to it. */
  readonly metricSink: MetricSink;
}

/**
 * The given logger and metrics, or new ones of service `serviceName` in the `Tierlog` namespace.
 * Either way the metrics carry the `deployment` dimension when `TIERLOG_METRICS_DEPLOYMENT` is set
 * (see `names.ts`): the alarms of that deployment watch them so, and metrics given without it (a
 * function's own, for its cold-start metric) left every one of them blind. With it set, metrics
 * given that publish elsewhere are refused (`checkGivenMetrics`), and so, in Lambda, are Powertools
 * variables that publish none (`checkMetricsPublished`).
 *
 * @throws ConfigError naming `metrics` for those, or the Powertools variable; ValidationError
 *   naming `logger` or `metrics` for one that is not Powertools' ({@link assertPowertools}).
 */
export function handlerTelemetry(serviceName: string, options: { readonly logger?: Logger; readonly metrics?: Metrics }): HandlerTelemetry {
  assertPowertools(options, serviceName);
  const logger = options.logger ?? new Logger({ serviceName });
  const deployment = metricsDeploymentDimensions();
  if (Object.keys(deployment).length > 0) checkMetricsPublished(serviceName, deployment);
  if (options.metrics !== undefined && Object.keys(deployment).length > 0) checkGivenMetrics(options.metrics, serviceName, deployment);
  const metrics = options.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName, defaultDimensions: deployment });
  if (options.metrics !== undefined && Object.keys(deployment).length > 0) options.metrics.setDefaultDimensions(deployment);
  const invocation = invocationScope();
  return {
    logger,
    metrics,
    log: {
      info: (message, attributes = {}) => logger.info(message, { ...attributes, ...invocation.attributes() }),
      warn: (message, attributes = {}) => logger.warn(message, { ...attributes, ...invocation.attributes() }),
      error: (message, attributes = {}) => logger.error(message, { ...attributes, ...invocation.attributes() }),
    },
    invocation,
    metricSink: { addMetric: (name, unit, value) => metrics.addMetric(name, MetricUnit[unit], value) },
  };
}

/** What the handlers call of a Powertools `Logger` and `Metrics` given to them. */
const POWERTOOLS_METHODS = {
  logger: ['info', 'warn', 'error', 'addContext'],
  metrics: [
    'addMetric',
    'publishStoredMetrics',
    'serializeMetrics',
    'setDefaultDimensions',
    'hasStoredMetrics',
    'setThrowOnEmptyMetrics',
    'singleMetric',
  ],
} as const;

/**
 * Refuses a `logger` or `metrics` given to the handler of `serviceName` that is not Powertools'
 * (a JS caller's `console`, a pino or winston logger, an `aws-embedded-metrics` logger): the
 * factory took it, and every invocation then failed with a `TypeError` from inside tierlog
 * (`logger.addContext is not a function` before any work, so a sweeper never swept and every
 * request to the objects function was Lambda's bodiless 502; `metrics.publishStoredMetrics is not
 * a function` after a sweep had done its deletes, its metrics lost). Refused when the handler is
 * made, naming the option and what it lacks.
 *
 * @throws ValidationError naming `logger` or `metrics`.
 */
export function assertPowertools(options: { readonly logger?: unknown; readonly metrics?: unknown }, serviceName: string): void {
  for (const option of ['logger', 'metrics'] as const) {
    const given = options[option];
    if (given === undefined) continue;
    const missing = POWERTOOLS_METHODS[option].filter(
      (method) => typeof (given as Record<string, unknown> | null)?.[method] !== 'function',
    );
    if (missing.length === 0) continue;
    const kind = option === 'logger' ? 'Logger (@aws-lambda-powertools/logger)' : 'Metrics (@aws-lambda-powertools/metrics)';
    throw new ValidationError(
      `the ${serviceName} handler's ${option} must be a Powertools ${kind}, which it calls at each invocation; got ${kindOf(given)}${given !== null && typeof given === 'object' ? ` without ${missing.join(', ')}` : ''}`,
      option,
    );
  }
}

/** The values Powertools reads as true and as false in its boolean variables (its `extendedParsing`). */
const POWERTOOLS_TRUE = new Set(['1', 'y', 'yes', 't', 'true', 'on']);
const POWERTOOLS_FALSE = new Set(['0', 'n', 'no', 'f', 'false', 'off']);

/** A Powertools boolean variable of `env` as Powertools reads it: undefined when unset or not a boolean. */
function powertoolsFlag(env: Readonly<Record<string, string | undefined>>, name: string): boolean | undefined {
  const value = env[name]?.trim().toLowerCase();
  if (value === undefined) return undefined;
  return POWERTOOLS_TRUE.has(value) ? true : POWERTOOLS_FALSE.has(value) ? false : undefined;
}

/**
 * Refuses to start the handler of `serviceName` in a Lambda function of a deployment (`deployment`,
 * from `TIERLOG_METRICS_DEPLOYMENT`) whose Powertools variables leave the deployment's alarms
 * without its metrics: `POWERTOOLS_METRICS_DISABLED` true publishes none, and `POWERTOOLS_DEV`
 * true (its local-development mode) publishes none unless that is set false, and then writes them
 * through the console, whose lines Lambda decorates, so CloudWatch reads no EMF from them. The
 * construct sets both false in its functions; a function of your own (a `TierlogMonitoring` of its
 * `metricsDeployment` watching it) took them, swept, and had `SweeperNotRunning` up and every other
 * alarm blind. Outside Lambda (`AWS_LAMBDA_FUNCTION_NAME` unset: the dev service, a drill, a
 * test; or `sam local`, which sets it with `AWS_SAM_LOCAL`) nothing reads the EMF lines, and a
 * local run turns them off on purpose: not checked.
 *
 * @throws ConfigError naming the Powertools variable at fault.
 */
function checkMetricsPublished(
  serviceName: string,
  deployment: Record<string, string>,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  if (env['AWS_LAMBDA_FUNCTION_NAME'] === undefined || env['AWS_SAM_LOCAL'] === 'true') return;
  const disabled = powertoolsFlag(env, 'POWERTOOLS_METRICS_DISABLED');
  const dev = powertoolsFlag(env, 'POWERTOOLS_DEV') === true;
  const at = disabled === true ? 'POWERTOOLS_METRICS_DISABLED' : dev ? 'POWERTOOLS_DEV' : undefined;
  if (at === undefined) return;
  const effect =
    at === 'POWERTOOLS_METRICS_DISABLED' || disabled === undefined
      ? 'Powertools publishes no metric'
      : 'Powertools writes its metrics through the console, whose lines Lambda decorates, so CloudWatch reads no metric from them';
  throw new ConfigError(
    `the ${serviceName} handler runs with ${at}=${JSON.stringify(env[at]?.slice(0, 20))} in a function of a deployment (${METRICS_DEPLOYMENT_ENV} ${JSON.stringify(deployment[METRICS_DEPLOYMENT_DIMENSION])}): ` +
      `${effect}, and the deployment's alarms would never see this function's metrics. Set POWERTOOLS_METRICS_DISABLED and POWERTOOLS_DEV to false, as the construct does`,
    at,
  );
}

/**
 * Refuses `metrics` given to the handler of `serviceName` in a function of a deployment
 * (`deployment`, from `TIERLOG_METRICS_DEPLOYMENT`) that do not publish where that deployment's
 * alarms look: namespace `Tierlog`, dimensions `service` (this `serviceName`) and `deployment`
 * alone. CloudWatch tells metrics apart by their whole dimension set, so one more default
 * dimension (`environment: 'prod'`, as Powertools' examples set), another service (or none: Powertools'
 * `service_undefined`) or another namespace (or none: `default_namespace`) are other metrics:
 * every alarm of the deployment blind, `SweeperNotRunning` up for good while it sweeps. Metrics
 * set to throw on empty metrics are read too (`serializedOf`); what cannot be read is not checked.
 *
 * @throws ConfigError naming `metrics`.
 */
function checkGivenMetrics(metrics: Metrics, serviceName: string, deployment: Record<string, string>): void {
  const emf = serializedOf(metrics);
  if (emf === undefined) return;
  const directive = emf._aws.CloudWatchMetrics[0];
  const namespace = directive?.Namespace;
  const dimensions = [...new Set((directive?.Dimensions ?? []).flat())].filter((d) => !(d in deployment));
  const service = emf['service'];
  if (namespace === METRICS_NAMESPACE && service === serviceName && dimensions.length === 1 && dimensions[0] === 'service') return;
  const watched = ['service', ...Object.keys(deployment)].join(', ');
  throw new ConfigError(
    `the metrics given to the ${serviceName} handler publish in namespace ${JSON.stringify(namespace)}, service ${JSON.stringify(service)}, ` +
      `dimensions ${[...dimensions, ...Object.keys(deployment)].join(', ')}; the alarms of its deployment (${METRICS_DEPLOYMENT_ENV} ${JSON.stringify(deployment[METRICS_DEPLOYMENT_DIMENSION])}) ` +
      `watch namespace "${METRICS_NAMESPACE}", service "${serviceName}" and the dimensions ${watched} alone, so they would never see this function's metrics. ` +
      `Give new Metrics({ namespace: '${METRICS_NAMESPACE}', serviceName: '${serviceName}' }) without other default dimensions, or none (the handler makes its own)`,
    'metrics',
  );
}

/**
 * What `metrics` would publish now (their namespace and dimensions, no metric yet), or undefined
 * when that cannot be read. Metrics set to throw on empty metrics (`setThrowOnEmptyMetrics(true)`,
 * as Powertools' `throwOnEmptyMetrics` sets them) throw a `RangeError` when they hold none, the
 * first thing they check: they are read once without that setting, which is then put back. Left
 * unread, metrics of another namespace so set were taken in a function of a deployment, and its
 * alarms never saw a figure of it.
 */
function serializedOf(metrics: Metrics): EmfOutput | undefined {
  try {
    return metrics.serializeMetrics();
  } catch (err) {
    if (!(err instanceof RangeError) || metrics.hasStoredMetrics()) return undefined;
    metrics.setThrowOnEmptyMetrics(false);
    try {
      return metrics.serializeMetrics();
    } catch {
      return undefined;
    } finally {
      metrics.setThrowOnEmptyMetrics(true);
    }
  }
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

/**
 * The ms the invocation has left, from the handler's second argument: the Lambda context. Each
 * handler bounds its work by it (no request sent past it, the answer before it), so a context that
 * cannot tell it (a handler called by hand with `{}` or none, a wrapper that passed its own
 * object) is a {@link ValidationError} naming the handler, before any request, not a `TypeError`
 * from inside it; nor is a non-number or a negative answer taken for a deadline.
 */
export function remainingTimeOf(context: unknown, handler: string): number {
  const read =
    typeof context === 'object' && context !== null
      ? (context as { getRemainingTimeInMillis?: unknown }).getRemainingTimeInMillis
      : undefined;
  if (typeof read !== 'function') {
    throw new ValidationError(
      `${handler}: its second argument must be the Lambda context, with getRemainingTimeInMillis() (what bounds the handler's work); got ${kindOf(context)}${context !== null && typeof context === 'object' ? ' without it' : ''}`,
      'context',
    );
  }
  const ms: unknown = read.call(context);
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new ValidationError(`${handler}: the context's getRemainingTimeInMillis() answered ${String(ms)}, not a number of ms`, 'context');
  }
  return ms;
}

/** Adds the Lambda context's fields to the handler's logs, when `context` is one (a test may give only the remaining time). */
export function addLogContext(logger: Pick<Logger, 'addContext'>, context: object): void {
  if ('functionName' in context) logger.addContext(context as Parameters<Logger['addContext']>[0]);
}

/**
 * Refuses an invocation that starts with no more time than the handler's deadline margin: its work
 * stops starting that long before the deadline, so it would do nothing, in every invocation, and
 * say it ran (a function deployed without the construct, with Lambda's default 3 s timeout and
 * the stream's 5 s margin, or a sweeper timeout under its 10 s one; the construct refuses both at
 * synth). An invocation begins with its function's whole timeout: this is a setting, named in a
 * {@link ConfigError} before any request, so the function's errors show it, never a quiet no-op.
 * The sweeper checks its answer margin so too (`margin`): a sweep stops waiting that long before
 * the deadline, so one under it would be cut off as it starts.
 */
export function assertTimeBeyondMargin(
  remainingMs: number,
  marginMs: number,
  handler: string,
  setting: string,
  margin: 'deadline margin' | 'answer margin' = 'deadline margin',
): void {
  if (remainingMs > marginMs) return;
  throw new ConfigError(
    `${handler}: the invocation started with ${remainingMs} ms left, no more than the ${margin} (${setting}, ${marginMs} ms): it would start nothing, in every invocation. Raise the function's timeout above the margin, or lower the margin`,
    setting,
  );
}

/**
 * Logs `list` under `field` in as many lines as it takes, each holding at most
 * {@link LOG_LIST_PART_BYTES} of its items (as JSON), with `part`, `parts` and `total`; an empty list
 * is one line. One line of a long list (a dry run over a backlog of thousands of blobs) passed
 * CloudWatch Logs' 256 KB event: Lambda cut it, and the list it was asked for was unreadable.
 */
export function logListInParts(
  log: (message: string, attributes: Record<string, unknown>) => void,
  message: string,
  field: string,
  list: readonly unknown[],
  attributes: Record<string, unknown> = {},
): void {
  const parts: unknown[][] = [[]];
  let bytes = 0;
  for (const item of list) {
    const size = (JSON.stringify(item) ?? 'null').length + 1;
    if (bytes + size > LOG_LIST_PART_BYTES && parts.at(-1)!.length > 0) {
      parts.push([]);
      bytes = 0;
    }
    parts.at(-1)!.push(item);
    bytes += size;
  }
  for (const [i, part] of parts.entries()) {
    log(message, { ...attributes, [field]: part, part: i + 1, parts: parts.length, total: list.length });
  }
}
