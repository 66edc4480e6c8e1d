/**
 * The snapshot audit's Lambda, two actions of the state machine (`infra/audit-at-scale.ts`):
 *
 *  - `plan`: after both exports completed: finds the newest inventory partition (listing every page
 *    of them) and returns the Athena DDL and the audit query ({@link planAthenaRun});
 *  - a Distributed Map batch (`{ Items, BatchInput }`, rows of the query's result): re-verifies the
 *    proposed orphans live and deletes the confirmed ones (when `TIERLOG_SNAPSHOT_DELETE=true`),
 *    confirms proposed losses live; the batch fails when deletes failed or were refused (a
 *    change-log item that cannot be read), and, after its deletes, when a proposed loss is a blob
 *    the bucket has held since before the plan's cutoff (`BatchInput.cutoff`: the inventory is
 *    incomplete) or one the live check could not judge (neither confirmed nor cleared). Metrics `SnapshotOrphansConfirmed`,
 *    `SnapshotOrphansDeleted`, `SnapshotOrphansKept`, `SnapshotLostBlobs` (alarmed; published
 *    before the re-verification, so a batch that fails there still reports its lost blobs); the
 *    plan's `SnapshotInventoryAge` (seconds, alarmed past three days: the daily inventory stopped
 *    arriving).
 */
import { paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { createDynamoDBClient, createS3Client } from '../lib/aws/clients.js';
import { loadConfig, requiredVariable } from '../lib/config.js';
import { warnOfUnknownVariables } from '../lib/handlers/factory-support.js';
import { metricsDeploymentDimensions } from '../lib/handlers/names.js';
import { METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';
import { dtTime, INVENTORY_STALE_SECONDS, newestDt, planAthenaRun } from '../lib/recovery/snapshot-audit/athena-plan.js';
import { SNAPSHOT_AUDIT_ENV, snapshotAuditSettingsFromEnv } from '../lib/recovery/snapshot-audit/function-env.js';
import { snapshotHvAttributesOf } from '../lib/recovery/snapshot-audit/query.js';
import { notBlobKeys } from '../lib/recovery/audit.js';
import {
  checkLost,
  deletesRefused,
  ReverifyIncompleteError,
  type ReverifyReport,
  reverifyAndDelete,
} from '../lib/recovery/snapshot-audit/reverify.js';

const SERVICE = 'tierlog-snapshot-audit';
const logger = new Logger({ serviceName: SERVICE });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE, defaultDimensions: metricsDeploymentDimensions() });
warnOfUnknownVariables(logger);
const config = loadConfig();
const { olderThanMs, delete: deleteConfirmed } = snapshotAuditSettingsFromEnv();
const dynamodb = createDynamoDBClient();
const s3 = createS3Client();
const env = (name: string): string => requiredVariable(process.env, name);

interface ExportDescription {
  readonly ExportArn: string;
  readonly S3Prefix?: string;
  readonly ExportTime: string | number;
}
interface Row {
  readonly kind?: string;
  readonly blob_key?: string;
  readonly object_key?: string;
  readonly last_modified?: string;
}
/** What the state machine's item batcher adds to every batch: the plan's cutoff (ISO). */
interface BatchInput {
  readonly cutoff?: string;
}
type Event =
  | { action: 'plan'; objectsExport: ExportDescription; changeLogExport: ExportDescription }
  | { Items: Row[]; BatchInput?: BatchInput };

export const handler = async (event: Event): Promise<unknown> => {
  if ('action' in event && event.action === 'plan') return plan(event);
  if ('Items' in event && Array.isArray(event.Items)) return batch(event.Items, event.BatchInput);
  throw new Error('unknown event: expected {action:"plan",…} or a Distributed Map batch {Items:[…]}');
};

async function plan(event: { objectsExport: ExportDescription; changeLogExport: ExportDescription }) {
  const bucket = env(SNAPSHOT_AUDIT_ENV.bucket);
  const hive = env(SNAPSHOT_AUDIT_ENV.inventoryHivePrefix);
  // Every page: S3 answers at most 1 000 partitions a page, the oldest first (past ~3 years of
  // retention, the first page alone would hold only old ones).
  const partitions: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: `${hive}/`, Delimiter: '/' })) {
    for (const p of page.CommonPrefixes ?? []) partitions.push(p.Prefix ?? '');
  }
  const dt = newestDt(partitions);
  if (dt === undefined) throw new Error(`no inventory under s3://${bucket}/${hive}/ yet (the first report arrives within 48 h)`);
  // An inventory that stopped arriving (its configuration removed, the bucket policy changed)
  // leaves this run on the last one it finds: safe (every candidate is re-verified live), but
  // blind to every orphan since. Its age is a metric, alarmed by the construct (InventoryStale).
  const inventoryAgeSeconds = Math.max(0, Math.round((Date.now() - dtTime(dt)) / 1_000));
  metrics.addMetric('SnapshotInventoryAge', MetricUnit.Seconds, inventoryAgeSeconds);
  metrics.publishStoredMetrics();
  if (inventoryAgeSeconds > INVENTORY_STALE_SECONDS)
    logger.warn('the newest inventory is stale: orphans since it are not seen', { dt, inventoryAgeSeconds });
  const time = (t: string | number) => (typeof t === 'number' ? t * (t < 1e11 ? 1000 : 1) : Date.parse(t));
  const result = planAthenaRun({
    database: env(SNAPSHOT_AUDIT_ENV.database),
    snapshotBucket: bucket,
    inventoryHivePrefix: hive,
    dt,
    objectsExport: {
      arn: event.objectsExport.ExportArn,
      s3Prefix: event.objectsExport.S3Prefix ?? '',
      exportTime: time(event.objectsExport.ExportTime),
    },
    changeLogExport: {
      arn: event.changeLogExport.ExportArn,
      s3Prefix: event.changeLogExport.S3Prefix ?? '',
      exportTime: time(event.changeLogExport.ExportTime),
    },
    prefix: config.prefix,
    hvAttributes: snapshotHvAttributesOf(config),
    olderThanMs,
    now: Date.now(),
  });
  logger.info('planned', { dt, cutoff: result.cutoff });
  return result;
}

async function batch(items: Row[], input: BatchInput | undefined) {
  // The query's three kinds (query.ts); any other row is not this query's result: judge nothing from it.
  const unknown = items.find((r) => r.kind !== 'orphan' && r.kind !== 'lost' && r.kind !== 'malformed');
  if (unknown !== undefined) throw new Error(`a result row of unknown kind: ${JSON.stringify(unknown).slice(0, 300)}`);
  // Keys under the prefix that are not blob keys: never deleted, reported (as the CLI does); those
  // of a store nested in this one are that store's, counted by its prefix.
  const { malformed, nestedStores } = notBlobKeys(
    config.prefix,
    items.filter((r) => r.kind === 'malformed').map((r) => r.blob_key ?? ''),
  );
  if (malformed.length > 0)
    logger.warn('keys under the prefix that are not blob keys (never deleted)', { malformed: malformed.slice(0, 100) });
  if (Object.keys(nestedStores).length > 0) logger.info('blob keys of stores under nested prefixes (not judged here)', { nestedStores });
  const orphans = items.filter((r) => r.kind === 'orphan' && typeof r.blob_key === 'string');
  // Athena writes a NULL object key as an empty field: judged undecided, never read as a key.
  const lost = items.filter((r) => r.kind === 'lost' && typeof r.blob_key === 'string');
  // Read only, so first: an error there fails the batch before it deleted anything.
  const cutoffMs = Date.parse(input?.cutoff ?? '');
  const {
    lost: confirmed,
    missedByInventory,
    undecided,
  } = await checkLost(
    lost.map((r) => ({ key: r.blob_key!, objectKey: r.object_key ?? '' })),
    { config, dynamodb, s3, ...(Number.isFinite(cutoffMs) ? { cutoffMs } : {}) },
  );
  // Published and logged at once: an error in the re-verification below fails the batch, and
  // must not take with it the one figure that says invariant 1 is broken (LostBlobs alarm).
  metrics.addMetric('SnapshotLostBlobs', MetricUnit.Count, confirmed.length);
  metrics.publishStoredMetrics();
  if (confirmed.length > 0) logger.error('lost blobs: HV points at blobs the bucket lacks', { lost: confirmed });
  // Both fail the batch once it has done its re-verified deletes (the run fails: ExecutionsFailed),
  // rather than let the run look clean.
  if (undecided.length > 0)
    logger.error('proposed losses not judged (neither confirmed nor cleared)', { undecided: undecided.slice(0, 100) });
  if (missedByInventory.length > 0)
    logger.error('the inventory lacks blobs the bucket holds: it is incomplete', { missed: missedByInventory.slice(0, 100) });
  let report: ReverifyReport;
  try {
    report = await reverifyAndDelete(
      orphans.map((r) => {
        const lm = Date.parse(`${(r.last_modified ?? '').replace(' ', 'T')}Z`);
        return { key: r.blob_key!, ...(Number.isFinite(lm) ? { lastModified: lm } : {}) };
      }),
      { config, dynamodb, s3, now: Date.now(), olderThanMs, delete: deleteConfirmed },
    );
  } catch (err) {
    // Stopped after deleting: what it deleted is counted all the same.
    if (err instanceof ReverifyIncompleteError) {
      metrics.addMetric('SnapshotOrphansDeleted', MetricUnit.Count, err.report.deleted);
      metrics.publishStoredMetrics();
    }
    throw err;
  }
  metrics.addMetric('SnapshotOrphansConfirmed', MetricUnit.Count, report.confirmed.length);
  metrics.addMetric('SnapshotOrphansDeleted', MetricUnit.Count, report.deleted);
  metrics.addMetric('SnapshotOrphansKept', MetricUnit.Count, report.kept.length);
  metrics.publishStoredMetrics();
  if (report.kept.length > 0) logger.info('kept at the re-verification', { kept: report.kept });
  if (report.deleteFailures.length > 0)
    throw new Error(`${report.deleteFailures.length} deletes failed: ${JSON.stringify(report.deleteFailures.slice(0, 5))}`);
  if (undecided.length > 0)
    throw new Error(`${undecided.length} proposed losses could not be judged live: ${JSON.stringify(undecided.slice(0, 5))}`);
  // Blobs the bucket held long before the inventory and the inventory lacks: it is not the
  // prefix's complete report, and the orphans among what it lacks were not seen.
  if (missedByInventory.length > 0)
    throw new Error(
      `the inventory lacks ${missedByInventory.length} blobs the bucket has held since before ${input?.cutoff} (${missedByInventory[0]}): ` +
        'it is not a complete report of the prefix, and the orphans among what it lacks were not seen',
    );
  // As the CLI: an item that cannot be read, or a table that is not this bucket's store, refused
  // the deletes, and that needs a look (tierlog audit).
  if (deleteConfirmed && deletesRefused(report))
    throw new Error(
      `deletes refused: ${report.refusal ?? 'a change-log or objects-table item cannot be read (run "tierlog audit" to name it)'}`,
    );
  return {
    confirmed: report.confirmed.length,
    deleted: report.deleted,
    kept: report.kept.length,
    lost: confirmed.length,
    malformed: malformed.length,
  };
}
