/**
 * `tierlog/internals`: the storage formats and low-level parts the other entries are built on
 * (the change-log instance table, the entry codec, the table schemas and attribute names, blob
 * key helpers). For tools that read tierlog's tables directly. No compatibility promise: these
 * change with the storage format.
 *
 * @packageDocumentation
 */
export { type FencedChangeLog, isFencedChangeLog } from './changelog/fenced.js';
export {
  InstanceTable,
  type FenceEffect,
  type InstanceSummary,
  type NotApplied,
  type TransactElement,
  type WriteResult,
} from './changelog/instance-table.js';
export { type InstanceItem, type InstanceState, parseInstanceItem } from './changelog/instance-item.js';
export { foreignStoreReason, type StoreStamp, storeStampOf } from './changelog/store-stamp.js';
export { type DecodedEntry, type ParsedEntry, type CorruptEntry, type StoredEntry, decodeEntry } from './changelog/entry-codec.js';
export {
  changeLogTableSchema,
  objectsTableSchema,
  CHANGELOG_ATTR,
  SESSION_ID_PREFIX,
  type TableSchema,
  type IndexSchema,
  type KeyAttribute,
  type KeyType,
} from './schema/tables.js';
export { checkBlobKey, encodeObjectId, type BlobKeyCheck } from './tiered/blob-keys.js';
export type { HvRecord } from './tiered/hv-table.js';
export * from './constants.js';
