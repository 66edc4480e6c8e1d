/** The handlers' service names (`POWERTOOLS_SERVICE_NAME`; the `service` dimension of the sweep metrics). */

/** Service name of the scheduled sweeper. */
export const SWEEPER_SERVICE_NAME = 'tierlog-sweeper';

/** Service name of the objects function. */
export const OBJECTS_SERVICE_NAME = 'tierlog-objects';

/** Service name of the objects table's stream consumer. */
export const OBJECTS_STREAM_SERVICE_NAME = 'tierlog-objects-stream';
