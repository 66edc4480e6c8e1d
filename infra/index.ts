/**
 * `tierlog/cdk`: the construct, its parts, the stack, the grants and the cdk-nag
 * acknowledgements. Needs the peer dependencies `aws-cdk-lib` and `constructs`; deploys the
 * handlers prebuilt in this package (no bundler or Docker in your app; with `bundleAwsSdk: false`
 * they are bundled at synth, with esbuild in your app, else in Docker).
 *
 * @packageDocumentation
 */
export { Tierlog, type TierlogProps } from './tierlog.js';
export { TierlogStack, type TierlogStackProps } from './stack.js';
export {
  TierlogSweeper,
  type TierlogSweeperProps,
  type SweeperTuningProps,
  SWEEPER_SERVICE_NAME,
  shardsOfSchedule,
  sweeperTuningOf,
} from './sweeper.js';
export { ObjectsFunction, type ObjectsFunctionProps, type ObjectsTuningProps, OBJECTS_SERVICE_NAME } from './objects-function.js';
export {
  TierlogMonitoring,
  type TierlogMonitoringProps,
  type TierlogAlarms,
  sweepMetric,
  routineExpiredAgeOf,
  stuckWindowOf,
  sweepIntervalOf,
} from './monitoring.js';
export { BlobBucket, type BlobBucketProps } from './bucket.js';
export { TierlogFunction, type TierlogFunctionProps, type TierlogFunctionOptions, functionOptionsOf } from './function.js';
export type { HandlerName } from './bundling.js';
export { AuditAtScale, type AuditAtScaleOptions, type AuditAtScaleProps } from './audit-at-scale.js';
export { addTierlogOutputs } from './outputs.js';
export { schemaTable, toAttribute, toGlobalSecondaryIndex, type SchemaTableOptions } from './tables.js';
export {
  changeLogTableSchema,
  objectsTableSchema,
  type TableSchema,
  type IndexSchema,
  type KeyAttribute,
  type KeyType,
} from '../lib/schema/tables.js';
export {
  grantWriter,
  grantSweeper,
  grantOperator,
  grantOperatorReadOnly,
  grantRole,
  leaseIndexArn,
  actionsByResource,
  ROLE_PERMISSIONS,
  ROLE_ENTRY_POINTS,
  WRITER_ACTIONS,
  SWEEPER_ACTIONS,
  type RolePermission,
  type TierlogResources,
  type TierlogRole,
} from './permissions.js';
export {
  COMMAND_ACTIONS,
  permissionsOf,
  requiredPermissions,
  type CommandAction,
  type CommandTarget,
  type Permission,
  type ResourceKind,
  type SentCommand,
} from './iam-map.js';
export { acknowledgeNagFindings, nagAcknowledgements, prefixObjectsFinding, type NagAcknowledgement } from './nag.js';
export {
  ObjectsStreamCleanup,
  type ObjectsStreamCleanupProps,
  type ObjectsStreamTuningProps,
  type ObjectsStreamAlarms,
  OBJECTS_STREAM_ACTIONS,
  OBJECTS_STREAM_SERVICE_NAME,
} from './objects-stream.js';
