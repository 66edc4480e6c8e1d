/**
 * tierlog: a durable write-ahead change log, and the garbage collector built on it, for storage
 * split between DynamoDB (HV: small objects and tombstones) and S3 (LT: large blobs).
 *
 * This root entry is the writer API: the tiered store, the change logs (the seed's
 * `record` / `remove` / `scan` contract), ids, configuration and errors. Other entries:
 * `tierlog/cdk` (the construct), `tierlog/operations` (sweeper, handlers, audit),
 * `tierlog/testing` (local stack, fault injector), `tierlog/internals` (storage formats; no
 * compatibility promise).
 *
 * @packageDocumentation
 */
export type { Change, ChangeLog } from './changelog/change-log.js';
export { isEligible } from './changelog/change-log.js';
export type { ChangeId, Clock } from './ids.js';
export { newChangeId, systemClock } from './ids.js';
export { InMemoryChangeLog, type InMemoryChangeLogOptions } from './changelog/in-memory.js';
export { NoopChangeLog } from './changelog/noop.js';
export { DynamoChangeLog, type DynamoChangeLogOptions } from './changelog/dynamo-change-log.js';
export {
  loadConfig,
  validateConfig,
  configToEnv,
  CONFIG_ENV,
  hvAttributeNames,
  REPLACED_BLOB_CLEANUPS,
  type ReplacedBlobCleanup,
  type TierlogConfig,
  warnUnknownVariables,
  TIERLOG_VARIABLES,
  UNKNOWN_VARIABLE_WARNING,
} from './config.js';
export * from './errors.js';
export {
  TieredStore,
  type TieredStoreOptions,
  type PutOptions,
  type PutResult,
  type DeleteOptions,
  type GetResult,
  type StreamResult,
  type UrlResult,
  type ObjectInfo,
} from './tiered/tiered-store.js';
export type { GetOptions, SessionScope } from './tiered/object-info.js';
export { DEFAULT_HV_ATTRIBUTES, type HvAttributeNames } from './tiered/hv-table.js';
export { newBlobKey } from './tiered/blob-keys.js';
export { createDynamoDBClient, createS3Client, type ClientTimeouts } from './aws/clients.js';
// The design's contract names these at the root too; their home entries are
// `tierlog/testing` (provisionLocal) and `tierlog/operations` (Sweeper).
export { provisionLocal } from './local/provision.js';
export type { ByteRange, ResolvedRange } from './tiered/byte-range.js';
export type { CompletedPart, CreatedUpload, CreateUploadOptions, PartUrlOptions, PresignedGet } from './tiered/upload-sessions.js';
export type { UploadedPart } from './tiered/lt-bucket.js';
export { SweepIncompleteError, Sweeper, type SweeperOptions, type SweepOptions, type SweepLogger } from './recovery/sweeper.js';
export type { SweepReport } from './recovery/report.js';
