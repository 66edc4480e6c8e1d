/**
 * `tierlog/internals`: the storage formats and low-level parts the other entries are built on
 * (the change-log instance table, the entry codec, the table schemas and attribute names, blob
 * key helpers). For tools that read tierlog's tables directly. No compatibility promise: these
 * change with the storage format.
 *
 * @packageDocumentation
 */
export { type FencedChangeLog, isFencedChangeLog } from './changelog/fenced.js';
export { InstanceTable, type FenceEffect, type InstanceSummary } from './changelog/instance-table.js';
export { type InstanceItem, parseInstanceItem } from './changelog/instance-item.js';
export { type DecodedEntry, type ParsedEntry, type CorruptEntry, decodeEntry } from './changelog/entry-codec.js';
export { changeLogTableSchema, objectsTableSchema, CHANGELOG_ATTR, type TableSchema } from './schema/tables.js';
export { checkBlobKey, encodeObjectId } from './tiered/blob-keys.js';
export * from './constants.js';
