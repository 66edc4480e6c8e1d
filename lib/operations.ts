/**
 * `tierlog/operations`: running and watching tierlog. The sweeper, the Lambda handlers as
 * factories (deploy them in your own functions, or run them locally), the objects API's HTTP
 * semantics, the sweep metrics, and the operator CLI as a function.
 *
 * @packageDocumentation
 */
export { SweepIncompleteError, Sweeper, type SweeperOptions, type SweepOptions, type SweepLogger } from './recovery/sweeper.js';
export type { SweepReport } from './recovery/report.js';
export { parseSweepEvent, type SweepEventOptions } from './recovery/sweep-event.js';
export {
  sweeperTuningFromEnv,
  checkSweeperWindows,
  SWEEPER_ENV,
  SWEEPER_FLOORS,
  SWEEPER_CEILINGS,
  sweeperTuningToEnv,
  MAX_UPLOAD_LISTING_PAGES,
  MAX_SWEEP_MARGIN_MS,
  MIN_ANSWER_MARGIN_MS,
  MAX_SHARDLESS_SCAN_SEGMENTS,
  MAX_SHARDLESS_SCAN_PAGES,
  type SweeperTuning,
  type SweeperSetting,
  type SweeperIntegerOption,
  type SweeperWindow,
  type SweeperFloor,
} from './recovery/sweeper-env.js';
export { DEFAULT_MAX_LEASE_MS } from './recovery/stuck.js';
export {
  writerTuningFromEnv,
  writerTuningToEnv,
  checkWriterTuning,
  WRITER_ENV,
  MAX_INLINE_THRESHOLD,
  type WriterTuning,
} from './tiered/writer-env.js';
export {
  streamTuningFromEnv,
  streamTuningToEnv,
  checkStreamTuning,
  STREAM_ENV,
  MAX_STREAM_MARGIN_MS,
  MIN_STREAM_MARGIN_MS,
  type StreamTuning,
} from './recovery/stream-env.js';
export {
  audit,
  AuditIncompleteError,
  type AuditOptions,
  type AuditReport,
  type AuditProgress,
  type OrphanBlob,
  type InFlightBlob,
  type UndecidedBlob,
  type CorruptChangeLogItem,
  type ExpiredBlob,
  MIN_AUDIT_AGE_MS,
  DEFAULT_AUDIT_AGE_MS,
} from './recovery/audit.js';
export {
  addSweepMetrics,
  METRICS_NAMESPACE,
  SWEEP_GROUP_DIMENSION,
  SWEEP_METRICS,
  shardGroupOf,
  type MetricSink,
  type SweepMetricsOptions,
} from './recovery/sweep-metrics.js';
export {
  createSweeperHandler,
  type SweeperHandler,
  type SweeperHandlerOptions,
  type SweepSummary,
} from './handlers/sweeper.js';
export {
  SWEEPER_SERVICE_NAME,
  OBJECTS_SERVICE_NAME,
  OBJECTS_STREAM_SERVICE_NAME,
  SNAPSHOT_AUDIT_SERVICE_NAME,
} from './handlers/names.js';
export { createObjectsHandler, type ObjectsHandler, type ObjectsHandlerOptions } from './handlers/objects.js';
export {
  createObjectsStreamHandler,
  type ObjectsStreamHandler,
  type ObjectsStreamHandlerOptions,
} from './handlers/objects-stream.js';
export type { StreamBatchResponse, StreamCleanupOptions } from './recovery/stream-cleanup.js';
export {
  createSnapshotAuditHandler,
  type SnapshotAuditHandler,
  type SnapshotAuditHandlerOptions,
  type SnapshotAuditEvent,
  type SnapshotAuditBatchSummary,
  type SnapshotAuditBatchInput,
  type SnapshotAuditRow,
  type ExportDescription,
} from './handlers/snapshot-audit.js';
export type { AthenaPlan } from './recovery/snapshot-audit/athena-plan.js';
export type { DeleteFailure } from './tiered/lt-bucket.js';
export type { SnapshotAuditLocation, SnapshotAuditSettings } from './recovery/snapshot-audit/function-env.js';
export { checkObjectsApiOptions, handleObjectsRequest, MAX_BUFFERED_RESPONSE_BYTES, type ObjectsApiOptions } from './api/objects-http.js';
export type { CliContext, CliIO, CliOutput } from './cli/common.js';
export { runAudit, type AuditCommandOptions } from './cli/audit.js';
export { runCli, type RunCliOptions } from './cli/program.js';
