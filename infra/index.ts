/** The CDK side of tierlog: the construct, its parts and the stack. */
export { Tierlog, type TierlogProps } from './tierlog.js';
export { TierlogStack, type TierlogStackProps } from './stack.js';
export { TierlogSweeper, type TierlogSweeperProps, SWEEPER_SERVICE_NAME, shardsOfSchedule } from './sweeper.js';
export { ObjectsFunction, type ObjectsFunctionProps, OBJECTS_SERVICE_NAME } from './objects-function.js';
export { TierlogMonitoring, type TierlogMonitoringProps, type TierlogAlarms, sweepMetric } from './monitoring.js';
export { BlobBucket, type BlobBucketProps } from './bucket.js';
export { TierlogFunction, type TierlogFunctionProps } from './function.js';
export { schemaTable, toAttribute, toGlobalSecondaryIndex, type SchemaTableOptions } from './tables.js';
export {
  grantWriter,
  grantSweeper,
  grantOperator,
  leaseIndexArn,
  WRITER_ACTIONS,
  SWEEPER_ACTIONS,
  OPERATOR_ACTIONS,
  type TierlogResources,
} from './permissions.js';
export { acknowledgeNagFindings, nagAcknowledgements, prefixObjectsFinding, type NagAcknowledgement } from './nag.js';
export { ObjectsStreamCleanup, type ObjectsStreamCleanupProps, type ObjectsStreamAlarms, OBJECTS_STREAM_ACTIONS, OBJECTS_STREAM_SERVICE_NAME } from './objects-stream.js';
