/** The handlers' service names (`POWERTOOLS_SERVICE_NAME`; the `service` dimension of the sweep metrics). */

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

/** The dimensions the deployment adds to every metric: `{ deployment }`, or none when unset or empty. */
export function metricsDeploymentDimensions(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const deployment = env[METRICS_DEPLOYMENT_ENV];
  return deployment !== undefined && deployment !== '' ? { [METRICS_DEPLOYMENT_DIMENSION]: deployment } : {};
}
