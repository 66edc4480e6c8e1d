/**
 * tierlog: a durable write-ahead change log, and the garbage collector built on it, for storage
 * split between DynamoDB (HV: small objects and tombstones) and S3 (LT: large blobs).
 */
export type { Change, ChangeLog } from './changelog/change-log.js';
export { isEligible } from './changelog/change-log.js';
export type { ChangeId, Clock } from './ids.js';
export { newChangeId, systemClock } from './ids.js';
export { InMemoryChangeLog } from './changelog/in-memory.js';
export { NoopChangeLog } from './changelog/noop.js';
export { DynamoChangeLog, type DynamoChangeLogOptions } from './changelog/dynamo-change-log.js';
export { type FencedChangeLog, isFencedChangeLog } from './changelog/fenced.js';
export { InstanceTable, type FenceEffect, type InstanceSummary } from './changelog/instance-table.js';
export { type InstanceItem, parseInstanceItem } from './changelog/instance-item.js';
export { type DecodedEntry, type ParsedEntry, type CorruptEntry, decodeEntry } from './changelog/entry-codec.js';
export { loadConfig, validateConfig, configToEnv, CONFIG_ENV, type TierlogConfig } from './config.js';
export { provisionLocal } from './local/provision.js';
export { changeLogTableSchema, objectsTableSchema, CHANGELOG_ATTR, type TableSchema } from './schema/tables.js';
export * from './errors.js';
export {
  TieredStore,
  type TieredStoreOptions,
  type PutOptions,
  type PutResult,
  type DeleteOptions,
  type GetResult,
  type StreamResult,
  type ObjectInfo,
} from './tiered/tiered-store.js';
export { DEFAULT_HV_ATTRIBUTES, type HvAttributeNames } from './tiered/hv-table.js';
export type { ByteRange, ResolvedRange } from './tiered/byte-range.js';
export type { CompletedPart, CreatedUpload, CreateUploadOptions, PartUrlOptions, PresignedGet } from './tiered/upload-sessions.js';
export type { UploadedPart } from './tiered/lt-bucket.js';
export { newBlobKey, checkBlobKey, encodeObjectId } from './tiered/blob-keys.js';
export { Sweeper, type SweeperOptions, type SweepOptions, type SweepLogger } from './recovery/sweeper.js';
export type { SweepReport } from './recovery/report.js';
export { createDynamoDBClient, createS3Client } from './aws/clients.js';
