/** The handlers' service names (`POWERTOOLS_SERVICE_NAME`; the `service` dimension of the sweep metrics). */
import { ConfigError } from '../errors.js';

/** Service name of the scheduled sweeper. */
export const SWEEPER_SERVICE_NAME = 'tierlog-sweeper';

/** Service name of the objects function. */
export const OBJECTS_SERVICE_NAME = 'tierlog-objects';

/** Service name of the objects table's stream consumer. */
export const OBJECTS_STREAM_SERVICE_NAME = 'tierlog-objects-stream';

/** Service name of the snapshot audit's function (the at-scale audit). */
export const SNAPSHOT_AUDIT_SERVICE_NAME = 'tierlog-snapshot-audit';

/**
 * The variable that names the deployment a function belongs to, and the metric dimension it
 * becomes (besides `service`) on every metric the sweeper, the stream function and the snapshot
 * audit publish. The construct sets it (stack name and construct path): without it, every tierlog
 * deployment of an account and region publishes the same metrics (`Tierlog`, `service`), and one
 * deployment's sweeps keep another's "sweeper not running" alarm quiet, while each one's findings
 * raise the other's alarms. Unset (the handlers outside the construct): no such dimension.
 */
export const METRICS_DEPLOYMENT_ENV = 'TIERLOG_METRICS_DEPLOYMENT';

/** The metric dimension {@link METRICS_DEPLOYMENT_ENV} sets. */
export const METRICS_DEPLOYMENT_DIMENSION = 'deployment';

/** The longest dimension value CloudWatch takes. */
export const MAX_DIMENSION_VALUE_LENGTH = 1_024;

/**
 * What CloudWatch refuses in `value` as a dimension value, or undefined when it takes it: at most
 * {@link MAX_DIMENSION_VALUE_LENGTH} characters of printable ASCII (no control character), one at
 * least not whitespace (CloudWatch API reference, `Dimension`). A metric of a refused value is
 * dropped, and Powertools drops a blank one's dimension: either way the alarms that watch the
 * deployment never see its metrics.
 */
export function dimensionValueProblem(value: string): string | undefined {
  if (value.length > MAX_DIMENSION_VALUE_LENGTH)
    return `is ${value.length} characters long, CloudWatch takes at most ${MAX_DIMENSION_VALUE_LENGTH}`;
  if (!/^[\x20-\x7e]*$/.test(value)) return 'holds a character CloudWatch refuses in a dimension value (it takes printable ASCII only)';
  if (value.trim() === '') return 'is blank (CloudWatch needs a character that is not whitespace)';
  return undefined;
}

/**
 * The dimensions the deployment adds to every metric: `{ deployment }`, or none when unset or empty.
 *
 * @throws ConfigError for a value CloudWatch refuses as a dimension value (see
 *   {@link dimensionValueProblem}): its metrics would be dropped, or published without it, and the
 *   alarms watching the deployment silent for good.
 */
export function metricsDeploymentDimensions(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const deployment = env[METRICS_DEPLOYMENT_ENV];
  if (deployment === undefined || deployment === '') return {};
  const problem = dimensionValueProblem(deployment);
  if (problem !== undefined) {
    throw new ConfigError(
      `${METRICS_DEPLOYMENT_ENV} ${JSON.stringify(deployment.slice(0, 80))} ${problem}: the alarms watching the deployment would never see its metrics`,
      METRICS_DEPLOYMENT_ENV,
    );
  }
  return { [METRICS_DEPLOYMENT_DIMENSION]: deployment };
}
