/**
 * The snapshot audit's Lambda as a factory: `functions/snapshot-audit.ts` is
 * `createSnapshotAuditHandler()`. It serves two actions of the at-scale audit's state machine
 * (`infra/audit-at-scale.ts`):
 *
 *  - `plan`: after both exports completed: finds the newest inventory partition (listing every page
 *    of them) and returns the Athena DDL and the audit query ({@link planAthenaRun});
 *  - a Distributed Map batch (`{ Items, BatchInput }`, rows of the query's result): re-verifies the
 *    proposed orphans live and deletes the confirmed ones (when `TIERLOG_SNAPSHOT_DELETE=true`),
 *    re-verifies the proposed blobs of objects expired long ago whose items TTL has not removed
 *    (`expired` rows) and, when deleting, removes their items as TTL would and deletes the blobs
 *    (`../recovery/snapshot-audit/reverify-expired.ts`),
 *    confirms proposed losses live, both in rounds that stop before the invocation's deadline (a
 *    batch stopped so fails, the losses and orphans it confirmed and the blobs it deleted published); the
 *    batch fails when deletes failed or were refused (a
 *    change-log item that cannot be read), and, after its deletes, when a proposed loss is a blob
 *    the bucket has held since before the plan's cutoff (`BatchInput.cutoff`: the inventory is
 *    incomplete) or one the live check could not judge (neither confirmed nor cleared).
 *
 * The query's rows are input from outside tierlog: a row of a kind the query does not return
 * fails the batch before anything is judged, a key that is not a blob key of the prefix is
 * reported and never deleted, and every proposed orphan is re-verified live before its delete
 * (lib/recovery/snapshot-audit/reverify.ts). The confirmed orphans are logged by name (report
 * only too: the construct's default, reviewed before deletes are turned on). Metrics `SnapshotOrphansConfirmed`,
 * `SnapshotOrphansDeleted`, `SnapshotOrphansKept`, `SnapshotExpiredConfirmed`, `SnapshotExpiredRemoved`,
 * `SnapshotExpiredDeleted`, `SnapshotLostBlobs` (alarmed; published before
 * the re-verification, so a batch that fails there still reports its lost blobs, as does one whose
 * live check of losses failed after confirming some: `LostCheckIncompleteError`); the plan's
 * `SnapshotInventoryAge` (seconds, alarmed past three days: the daily inventory stopped arriving).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '@aws-lambda-powertools/logger';
import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { assertClientOf, createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { translateAwsError } from '../aws/errors.js';
import { advancingObjectPages } from '../aws/object-pages.js';
import { hvAttributeNames, loadConfig, type TierlogConfig, validateConfig } from '../config.js';
import { readObjectsTableTtl } from '../cli/objects-ttl.js';
import { MAX_TIMER_MS, S3_SOCKET_TIMEOUT_MS } from '../constants.js';
import { TierlogError, ValidationError } from '../errors.js';
import { wholeMsClock } from '../ids.js';
import { assertOptions, kindOf, optionNames } from '../plain-options.js';
import { notBlobKeys } from '../recovery/audit.js';
import { type AthenaPlan, dtTime, INVENTORY_STALE_SECONDS, newestDt, planAthenaRun } from '../recovery/snapshot-audit/athena-plan.js';
import { EARLIEST_EXPORT_MS } from '../recovery/snapshot-audit/dynamo-export.js';
import {
  checkSnapshotAuditLocation,
  checkSnapshotAuditSettings,
  type SnapshotAuditLocation,
  type SnapshotAuditSettings,
  snapshotAuditLocationFromEnv,
  snapshotAuditSettingsFromEnv,
} from '../recovery/snapshot-audit/function-env.js';
import { SnapshotError } from '../recovery/snapshot-audit/errors.js';
import { snapshotHvAttributesOf } from '../recovery/snapshot-audit/query.js';
import {
  checkLost,
  deletesRefused,
  needsALook,
  type LostCandidate,
  type LostCheck,
  liveStoreOf,
  LostCheckIncompleteError,
  ReverifyIncompleteError,
  type ReverifyReport,
  reverifyAndDelete,
} from '../recovery/snapshot-audit/reverify.js';
import { emptyExpiredReport, expiredNeedsALook, reverifyExpired } from '../recovery/snapshot-audit/reverify-expired.js';
import { RestoredCopyCheck } from '../recovery/restored-table.js';
import { addLogContext, handlerTelemetry, logListInParts, remainingTimeOf, warnOfUnknownVariables } from './factory-support.js';
import { SNAPSHOT_AUDIT_SERVICE_NAME } from './names.js';

/** A DynamoDB export's description, as the state machine passes it from `DescribeExport`. */
export interface ExportDescription {
  /** The export's ARN (`.../table/<name>/export/<id>`): the plan reads its manifest under it. */
  readonly ExportArn: string;
  /** The prefix the export was written under in the snapshots bucket. */
  readonly S3Prefix?: string;
  /** ISO time, or seconds (or ms) since the epoch. */
  readonly ExportTime: string | number;
  /**
   * `COMPLETED` when given (the state machine passes it): an export still `IN_PROGRESS` (or
   * `FAILED`) has no complete data to read, and the plan refuses it.
   */
  readonly ExportStatus?: string;
  /**
   * When given (a description copied whole from `describe-export`): `FULL_EXPORT`, `DYNAMODB_JSON`
   * and the snapshot bucket, the one export the query reads; another is refused.
   */
  readonly ExportType?: string;
  /** See {@link ExportDescription.ExportType}. */
  readonly ExportFormat?: string;
  /** See {@link ExportDescription.ExportType}. */
  readonly S3Bucket?: string;
}

/** A row of the audit query's result (lib/recovery/snapshot-audit/query.ts). */
export interface SnapshotAuditRow {
  /**
   * `orphan` (proposed, re-checked live before any delete), `lost` (a blob an object points at that
   * the inventory lacks), `malformed` (a key under the prefix that is not a blob key: reported) or
   * `expired` (a blob an object expired long ago still points at: re-checked live).
   */
  readonly kind?: string;
  /** The blob key. */
  readonly blob_key?: string;
  /** For a lost blob, or a blob of an expired object: the key of the object that points at it. */
  readonly object_key?: string;
  /**
   * The blob's last-modified time in the inventory: as Athena writes it (`2026-01-01 06:00:00.000`,
   * UTC) or ISO (`2026-01-01T06:00:00.000Z`). Another form is no time: the blob is kept as too young.
   */
  readonly last_modified?: string;
}

/** What the state machine's item batcher adds to every batch. */
export interface SnapshotAuditBatchInput {
  /**
   * The plan's cutoff (ISO): a blob last modified at or after it is not deleted (kept as too
   * young), whatever the row says, and a proposed loss the bucket has held since before it shows
   * the inventory incomplete. Without it, the safety age before now alone decides. One that is
   * not an ISO time as the plan writes it (`2026-01-01T00:00:00.000Z`), or a BatchInput with
   * another field, fails the batch (a `ValidationError`) before any request.
   */
  readonly cutoff?: string;
}

/** The two events the state machine sends. */
export type SnapshotAuditEvent =
  | { readonly action: 'plan'; readonly objectsExport: ExportDescription; readonly changeLogExport: ExportDescription }
  | { readonly Items: SnapshotAuditRow[]; readonly BatchInput?: SnapshotAuditBatchInput };

/** What a batch returns: counts of what it judged and did. */
export interface SnapshotAuditBatchSummary {
  /** Proposed orphans the live re-check confirmed (unreferenced, old enough, named by no entry). */
  readonly confirmed: number;
  /** Of those, deleted (0 unless `TIERLOG_SNAPSHOT_DELETE=true`). */
  readonly deleted: number;
  /** Proposed orphans the live re-check kept (referenced since, too young, or not judged). */
  readonly kept: number;
  /** Proposed losses the live check confirmed: the objects table points at a blob the bucket lacks. */
  readonly lost: number;
  /** Keys under the prefix that are not blob keys of this store (reported, never deleted). */
  readonly malformed: number;
  /**
   * Blobs of objects expired long ago whose items TTL has not removed, confirmed live (reported;
   * with `TIERLOG_SNAPSHOT_DELETE=true`, their items removed as TTL would and the blobs deleted).
   */
  readonly expired: number;
  /** Of those, the items removed as TTL would (0 unless `TIERLOG_SNAPSHOT_DELETE=true`). */
  readonly expiredRemoved: number;
  /** Their blobs deleted after the removal. */
  readonly expiredDeleted: number;
}

/**
 * The snapshot audit's Lambda handler: a plan, or a batch's summary. The Lambda context, when
 * given, binds the function's logs to the invocation (its request id), as the other handlers' are,
 * and bounds a batch's live checks: no round of them starts within 30 s of the deadline (half the
 * invocation's time, when it has less than a minute), and a batch stopped so fails with what it
 * confirmed (lost, orphaned) and deleted published.
 */
export type SnapshotAuditHandler = (event: unknown, context?: Partial<Context>) => Promise<AthenaPlan | SnapshotAuditBatchSummary>;

/** Options of {@link createSnapshotAuditHandler}. All optional. */
export interface SnapshotAuditHandlerOptions {
  /**
   * The configuration.
   *
   * @default loadConfig() (the `TIERLOG_*` variables)
   */
  readonly config?: TierlogConfig;
  /**
   * The safety age and the delete switch.
   *
   * @default snapshotAuditSettingsFromEnv() (`TIERLOG_SNAPSHOT_OLDER_THAN_MS`, `TIERLOG_SNAPSHOT_DELETE`)
   */
  readonly settings?: SnapshotAuditSettings;
  /**
   * Where the plan finds the inventory; read when a plan is asked for, so a function that only
   * runs batches needs none of it.
   *
   * @default the `TIERLOG_SNAPSHOT_BUCKET`, `_INVENTORY_HIVE_PREFIX` and `_DATABASE` variables
   */
  readonly location?: SnapshotAuditLocation;
  /**
   * The DynamoDB client the live re-checks read both tables with.
   *
   * @default createDynamoDBClient()
   */
  readonly dynamodb?: DynamoDBClient;
  /**
   * The S3 client that lists the inventory partitions, checks proposed blobs live and deletes
   * confirmed orphans. No body it reads is streamed, so give it an idle-socket timeout
   * (`createS3Client({ socketTimeoutMs })`): without one, a lost answer waits for the function's
   * own timeout, which fails the run.
   *
   * @default createS3Client({ socketTimeoutMs: 10_000 })
   */
  readonly s3?: S3Client;
  /**
   * Powertools logger of the function.
   *
   * @default new Logger({ serviceName: 'tierlog-snapshot-audit' })
   */
  readonly logger?: Logger;
  /**
   * Powertools metrics of the function (EMF, published as each action goes). Given or not, they carry the
   * `deployment` dimension when `TIERLOG_METRICS_DEPLOYMENT` is set: the deployment's alarms watch it.
   * With it set, metrics given must publish where those alarms look (namespace `Tierlog`, service
   * `tierlog-snapshot-audit`, no other default dimension): others are refused at init (a `ConfigError` naming `metrics`).
   *
   * @default new Metrics({ namespace: 'Tierlog', serviceName: 'tierlog-snapshot-audit' }), with that dimension
   */
  readonly metrics?: Metrics;
  /**
   * Clock, ms since the epoch (checked when the handler is made, as every component's: a
   * `ValidationError` unless it reads 2000 to 2255).
   *
   * @default Date.now
   */
  readonly clock?: () => number;
}

const HANDLER_OPTIONS = optionNames<SnapshotAuditHandlerOptions>()(
  'config',
  'settings',
  'location',
  'dynamodb',
  's3',
  'logger',
  'metrics',
  'clock',
);

/**
 * Reads and checks the configuration and settings (once: a bad variable fails the function's
 * init) and returns the handler. An event that is neither action, or one with a field beside
 * those the state machine sends, fails the invocation before any request.
 */
export function createSnapshotAuditHandler(options: SnapshotAuditHandlerOptions = {}): SnapshotAuditHandler {
  assertOptions(options, HANDLER_OPTIONS, 'createSnapshotAuditHandler');
  const { logger, metrics } = handlerTelemetry(SNAPSHOT_AUDIT_SERVICE_NAME, options);
  warnOfUnknownVariables(logger);
  const location = options.location !== undefined ? checkSnapshotAuditLocation(options.location) : undefined;
  const clock = options.clock !== undefined ? wholeMsClock(options.clock) : Date.now;
  assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
  assertClientOf('s3', options.s3, 'S3');
  const audit: AuditContext = {
    config: options.config !== undefined ? validateConfig(options.config) : loadConfig(),
    settings:
      options.settings !== undefined
        ? checkSnapshotAuditSettings(options.settings, clock())
        : snapshotAuditSettingsFromEnv(process.env, clock()),
    location: () => location ?? snapshotAuditLocationFromEnv(),
    dynamodb: options.dynamodb ?? createDynamoDBClient(),
    s3: options.s3 ?? createS3Client({ socketTimeoutMs: S3_SOCKET_TIMEOUT_MS }),
    logger,
    metrics,
    clock,
  };
  return async (event, context) => {
    // A batch's findings (its lost blobs, its deletes of unknown outcome) are in its logs alone:
    // without the invocation's fields, a failed batch of a map run could not be told from the others.
    if (typeof context === 'object' && context !== null) addLogContext(logger, context);
    if (isPlanEvent(event)) {
      // The state machine sends these three alone: another (a safety age, an inventory partition,
      // a cutoff put in a plan re-run by hand) would be dropped in silence, the plan made without it.
      const other = Object.keys(event).find((k) => k !== 'action' && k !== 'objectsExport' && k !== 'changeLogExport');
      if (other !== undefined) {
        throw new ValidationError(
          `a plan is {action:"plan", objectsExport, changeLogExport}, got a field "${other.slice(0, 50)}" beside them: the plan takes its settings from the function`,
          'event',
        );
      }
      return plan(audit, event);
    }
    if (isBatchEvent(event)) {
      // The item batcher sends these two alone: another (a cutoff put beside Items by hand) would
      // be dropped in silence, and the batch judged without it.
      const other = Object.keys(event).find((k) => k !== 'Items' && k !== 'BatchInput');
      if (other !== undefined) {
        throw new ValidationError(
          `a Distributed Map batch is {Items:[…], BatchInput?:{cutoff}}, got a field "${other.slice(0, 50)}" beside them`,
          'event',
        );
      }
      // The invocation's time left bounds the batch's re-verification (a context without it: unbounded).
      const bounded = typeof (context as { getRemainingTimeInMillis?: unknown } | undefined)?.getRemainingTimeInMillis === 'function';
      const deadline = bounded ? Date.now() + remainingTimeOf(context, 'the snapshot-audit handler') : undefined;
      return batch(audit, event.Items, event.BatchInput, deadline);
    }
    throw new ValidationError(
      `the snapshot audit's event must be {action:"plan",…} or a Distributed Map batch {Items:[…]}, got ${describe(event)}`,
      'event',
    );
  };
}

interface AuditContext {
  readonly config: TierlogConfig;
  readonly settings: SnapshotAuditSettings;
  readonly location: () => SnapshotAuditLocation;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: () => number;
}

function isPlanEvent(event: unknown): event is Record<string, unknown> & { action: 'plan' } {
  return typeof event === 'object' && event !== null && (event as { action?: unknown }).action === 'plan';
}

function isBatchEvent(event: unknown): event is Extract<SnapshotAuditEvent, { Items: SnapshotAuditRow[] }> {
  return typeof event === 'object' && event !== null && Array.isArray((event as { Items?: unknown }).Items);
}

function describe(event: unknown): string {
  return typeof event === 'object' && event !== null && !Array.isArray(event) ? JSON.stringify(event).slice(0, 200) : kindOf(event);
}

/** An export time as ms: ISO, or seconds (or ms) since the epoch; NaN when it is neither. */
function exportTimeMs(t: unknown): number {
  if (typeof t === 'number') return t * (t < 1e11 ? 1000 : 1);
  return typeof t === 'string' ? Date.parse(t) : Number.NaN;
}

/**
 * An export's ARN: `arn:<partition>:dynamodb:<region>:<account>:table/<name>/export/<id>`, the id
 * DynamoDB's (`01700000000000-0123abcd`), which names the export's data folder the plan points
 * Athena at (athena-plan.ts).
 */
const EXPORT_ARN = /^arn:[a-z-]+:dynamodb:[a-z0-9-]+:\d{12}:table\/([A-Za-z0-9_.-]{3,255})\/export\/[0-9]{14}-[0-9a-f]{8}$/;

/**
 * The plan's view of the export `name` of the event, checked before any request: an ARN of an
 * export of `table` (the configured table of that role), an S3 prefix when given, and a time
 * since DynamoDB exports existed (as `tierlog audit --inventory` requires). (A
 * time that is not one made the plan's cutoff NaN, and the run failed on a `RangeError` after
 * listing the inventory. An export of another table, the two exports swapped or another
 * deployment's, made every blob a proposed orphan: each re-verified live, so nothing referenced
 * was deleted, but the run checked the whole bucket live and reported orphans that were none.)
 * What a description says of itself is checked too when it says it: a COMPLETED, FULL_EXPORT,
 * DYNAMODB_JSON export (and, in the plan, one written to the snapshot bucket).
 */
function exportOf(event: Record<string, unknown>, name: 'objectsExport' | 'changeLogExport', table: string) {
  const e = event[name] as Partial<Record<keyof ExportDescription, unknown>> | undefined;
  const exportTime = exportTimeMs(e?.ExportTime);
  if (typeof e?.ExportArn !== 'string' || (e.S3Prefix !== undefined && typeof e.S3Prefix !== 'string') || !Number.isFinite(exportTime)) {
    throw new ValidationError(
      `the plan's ${name} must be a DescribeExport description with ExportArn, ExportTime and an optional S3Prefix, got ${JSON.stringify(e ?? null).slice(0, 200)}`,
      name,
    );
  }
  // As the CLI reads only an export whose manifest-summary.json is written: one not finished (a
  // plan re-run by hand on a DescribeExport taken too early) has no or part of its data, so the
  // query saw a table short of items: every blob of the missing ones a proposed orphan, every
  // loss among them unseen, and the run read clean.
  if (e.ExportStatus !== undefined && e.ExportStatus !== 'COMPLETED') {
    throw new ValidationError(
      `the plan's ${name} has ExportStatus ${JSON.stringify(e.ExportStatus)?.slice(0, 100)}: only a COMPLETED export holds the table's data`,
      name,
    );
  }
  // As the CLI refuses an incremental export or one in ION (dynamo-export.ts): the query reads the
  // table's every item, in DynamoDB JSON; one of changes alone, or a format it cannot read, is a
  // table short of items too.
  for (const [field, expected] of [
    ['ExportType', 'FULL_EXPORT'],
    ['ExportFormat', 'DYNAMODB_JSON'],
  ] as const) {
    if (e[field] !== undefined && e[field] !== expected) {
      throw new ValidationError(
        `the plan's ${name} has ${field} ${JSON.stringify(e[field])?.slice(0, 100)}: the query reads a ${expected} export only`,
        name,
      );
    }
  }
  if (e.S3Bucket !== undefined && typeof e.S3Bucket !== 'string') {
    throw new ValidationError(
      `the plan's ${name} has an S3Bucket that is not a bucket name: ${JSON.stringify(e.S3Bucket)?.slice(0, 100)}`,
      name,
    );
  }
  const exported = EXPORT_ARN.exec(e.ExportArn)?.[1];
  if (exported !== table) {
    const what =
      exported === undefined ? `"${e.ExportArn.slice(0, 200)}", not a DynamoDB export's ARN` : `an export of table "${exported}"`;
    throw new ValidationError(`the plan's ${name} is ${what}: it must be an export of the configured table "${table}"`, name);
  }
  // As the CLI refuses it (`findExports`): a time before DynamoDB exports existed (a placeholder,
  // minutes for seconds) put the cutoff decades back, and the run proposed nothing and read clean.
  if (exportTime < EARLIEST_EXPORT_MS) {
    throw new ValidationError(
      `the plan's ${name} has ExportTime ${JSON.stringify(e.ExportTime)} (${new Date(exportTime).toISOString()}), before DynamoDB exports existed (${new Date(EARLIEST_EXPORT_MS).toISOString()}): not the time of an export`,
      name,
    );
  }
  return { arn: e.ExportArn, s3Prefix: (e.S3Prefix as string | undefined) ?? '', exportTime, s3Bucket: e.S3Bucket };
}

async function plan(audit: AuditContext, event: Record<string, unknown>): Promise<AthenaPlan> {
  const { config, s3, logger, metrics } = audit;
  const objectsExport = exportOf(event, 'objectsExport', config.objectsTable);
  const changeLogExport = exportOf(event, 'changeLogExport', config.changeLogTable);
  // A table is checked by its name alone: the two tables of one store are in one region and
  // account, and a plan whose exports are not (a same-named table of another, in a plan sent by
  // hand) would read another store's table as this one's, as `tierlog audit --export` refuses to.
  const home = (arn: string) => arn.split(':').slice(0, 5).join(':');
  if (home(objectsExport.arn) !== home(changeLogExport.arn)) {
    throw new ValidationError(
      `the plan's changeLogExport is of a table in ${home(changeLogExport.arn)}, its objectsExport of one in ${home(objectsExport.arn)}: a store's two tables are in one region and account`,
      'changeLogExport',
    );
  }
  const { bucket, inventoryHivePrefix: hive, database } = audit.location();
  // The query reads each export's data in the snapshot bucket: one written to another bucket is
  // not there, and read as an empty table.
  for (const [name, exp] of [
    ['objectsExport', objectsExport],
    ['changeLogExport', changeLogExport],
  ] as const) {
    if (exp.s3Bucket !== undefined && exp.s3Bucket !== bucket) {
      throw new ValidationError(
        `the plan's ${name} was written to bucket "${exp.s3Bucket.slice(0, 100)}", not the snapshot bucket "${bucket}" the query reads`,
        name,
      );
    }
  }
  // Every page: S3 answers at most 1 000 partitions a page, the oldest first (past ~3 years of
  // retention, the first page alone would hold only old ones).
  const partitions: string[] = [];
  // A page that repeats its token (a proxy ignoring it) is a ListingError, not a plan that lists until its timeout.
  const pages = paginateListObjectsV2({ client: s3 }, { Bucket: bucket, Prefix: `${hive}/`, Delimiter: '/' });
  try {
    for await (const page of advancingObjectPages(pages, { bucket, prefix: `${hive}/` })) {
      for (const p of page.CommonPrefixes ?? []) partitions.push(p.Prefix ?? '');
    }
  } catch (err) {
    // The one S3 call of the function no tierlog class makes: translated as theirs are. As S3 said
    // it (`NoSuchBucket: The specified bucket does not exist`, `AccessDenied: Access Denied`), the
    // run's failure named neither the bucket (the function reads two) nor the call.
    throw translateAwsError(err, { operation: 'ListObjectsV2', bucket });
  }
  const dt = newestDt(partitions);
  // No partition says nothing of the deployment's age: a first report not delivered yet, a
  // delivery S3 was never let make, or reports that stopped and expired all read the same. The
  // SnapshotInventoryAge alarm cannot tell (no age to publish), so the message names all three.
  if (dt === undefined) throw noInventoryError(bucket, hive);
  // An inventory that stopped arriving (its configuration removed, the bucket policy changed)
  // leaves this run on the last one it finds: safe (every candidate is re-verified live), but
  // blind to every orphan since. Its age is a metric, alarmed by the construct (InventoryStale).
  const now = audit.clock();
  const inventoryAgeSeconds = Math.max(0, Math.round((now - dtTime(dt)) / 1_000));
  metrics.addMetric('SnapshotInventoryAge', MetricUnit.Seconds, inventoryAgeSeconds);
  metrics.publishStoredMetrics();
  if (inventoryAgeSeconds > INVENTORY_STALE_SECONDS)
    logger.warn('the newest inventory is stale: orphans since it are not seen', { dt, inventoryAgeSeconds });
  const result = planAthenaRun({
    database,
    snapshotBucket: bucket,
    inventoryHivePrefix: hive,
    dt,
    objectsExport,
    changeLogExport,
    prefix: config.prefix,
    hvAttributes: snapshotHvAttributesOf(config),
    olderThanMs: audit.settings.olderThanMs,
    now,
  });
  logger.info('planned', { dt, cutoff: result.cutoff });
  return result;
}

/**
 * The plan's refusal when the snapshot bucket holds no inventory partition. It said "yet (the first
 * report arrives within 48 h)" alone, every day, also to a deployment whose inventory S3 never
 * delivered or whose reports stopped long enough ago that the snapshot bucket's lifecycle expired
 * the last: an operator who read it waited, and no alarm but the failed runs fired (the
 * inventory-age alarm has no age to read where there is no report).
 */
function noInventoryError(bucket: string, hive: string): SnapshotError {
  return new SnapshotError(
    'no S3 Inventory report in the inventory folder: S3 delivers the first within 48 h of the inventory configuration; ' +
      "later than that, S3 delivers none (the blob bucket's inventory configuration removed or changed, its delivery to " +
      'this bucket refused) or the reports stopped and the last one expired with the snapshot retention',
    `s3://${bucket}/${hive}/`,
  );
}

/**
 * How long before its invocation's deadline (or, with less than twice this left when it starts,
 * half the time it has) a batch starts no more rounds of its live checks
 * ({@link REVERIFY_ROUND} proposed losses or orphans: their listings, reads and, for orphans, one
 * delete request): the round under way has that long to finish, and the batch to publish what it
 * confirmed lost or deleted and fail.
 */
const SNAPSHOT_BATCH_MARGIN_MS = 30_000;

/**
 * Proposed losses, or orphans, a round of a batch's live checks takes. A batch (500 rows) in one
 * round could not stop before its deadline: a Lambda timeout ended it, the losses it had confirmed
 * unpublished (no `SnapshotLostBlobs`), what it had deleted counted nowhere (no
 * `SnapshotOrphansDeleted`) and its deletes of unknown outcome unlogged.
 */
const REVERIFY_ROUND = 100;

/** The result row fields the batch reads: each a string when present (Athena writes every field as one). */
const ROW_TEXT_FIELDS = ['blob_key', 'object_key', 'last_modified'] as const;

/**
 * Refuses a batch with a row that is not the audit query's (query.ts): a kind other than its four,
 * or a field that is not text (a hand-built invocation; Athena writes every field as a string).
 * Nothing is judged from a batch refused: no row of it is deleted.
 * @throws ValidationError naming the row
 */
function assertResultRows(items: readonly SnapshotAuditRow[]): void {
  for (const [i, row] of items.entries()) {
    const shown = () => JSON.stringify(row ?? null).slice(0, 300);
    if (row?.kind !== 'orphan' && row?.kind !== 'lost' && row?.kind !== 'malformed' && row?.kind !== 'expired') {
      throw new ValidationError(`result row ${i} is of unknown kind: ${shown()}`, 'Items');
    }
    const odd = ROW_TEXT_FIELDS.find((field) => row[field] !== undefined && row[field] !== null && typeof row[field] !== 'string');
    if (odd !== undefined) throw new ValidationError(`result row ${i} has a ${odd} that is not text: ${shown()}`, 'Items');
  }
}

/** A row's time as Athena writes a timestamp (`2026-01-01 06:00:00.000`, UTC) or in ISO (`…T06:00:00.000Z`). */
const ROW_TIME = /^([0-9]{4}-[0-9]{2}-[0-9]{2})[ T]([0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?)(Z?)$/;

/**
 * A result row's `last_modified` (ms), NaN when it is no time (absent, empty: Athena's NULL).
 * Both forms are read: Athena's (no zone, UTC) and the ISO time {@link SnapshotAuditRow} documents;
 * the ISO one was read as no time before, and the row's old blob kept as too young.
 */
function rowTimeMs(value: string | undefined): number {
  const m = ROW_TIME.exec(value ?? '');
  // ISO with its zone, or Athena's form without one: a `T` time without `Z` may be local.
  if (m === null || (m[4] === 'Z') !== m[0].includes('T')) return Number.NaN;
  return Date.parse(`${m[1]}T${m[2]!.slice(0, 12)}Z`);
}

/** The plan's cutoff as the plan writes it (`Date.prototype.toISOString`). */
const ISO_CUTOFF = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?Z$/;

/**
 * The batch's `BatchInput.cutoff` (ms), or undefined when the batch has none. A BatchInput that is
 * not the plan's (not an object, another field, a cutoff that is not the plan's ISO time: a batch
 * sent by hand) is refused: read as no cutoff, it turned off in silence the guard that keeps a
 * blob written after the snapshots, and the row's blob was deleted on the safety age alone.
 * @throws ValidationError naming `BatchInput` or `BatchInput.cutoff`
 */
function batchCutoffMs(input: unknown): number | undefined {
  if (input === undefined) return undefined;
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ValidationError(`the batch's BatchInput must be {cutoff: "<the plan's ISO cutoff>"}, got ${kindOf(input)}`, 'BatchInput');
  }
  const other = Object.keys(input).find((k) => k !== 'cutoff');
  if (other !== undefined) {
    throw new ValidationError(`the batch's BatchInput has a field "${other.slice(0, 50)}": its one field is cutoff`, 'BatchInput');
  }
  const cutoff: unknown = (input as { cutoff?: unknown }).cutoff;
  if (cutoff === undefined) return undefined;
  const ms = typeof cutoff === 'string' && ISO_CUTOFF.test(cutoff) ? Date.parse(cutoff) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new ValidationError(
      `the batch's BatchInput.cutoff must be the plan's cutoff, an ISO time such as 2026-01-01T00:00:00.000Z, got ${JSON.stringify(cutoff)?.slice(0, 100)}`,
      'BatchInput.cutoff',
    );
  }
  return ms;
}

async function batch(
  audit: AuditContext,
  items: SnapshotAuditRow[],
  input: SnapshotAuditBatchInput | undefined,
  /** The invocation's end (ms since the epoch, real time), when the context tells it. */
  deadline: number | undefined,
): Promise<SnapshotAuditBatchSummary> {
  const { config, dynamodb, s3, logger, metrics } = audit;
  const { olderThanMs, delete: deleteConfirmed } = audit.settings;
  assertResultRows(items);
  // NaN without one: then the safety age before now alone decides.
  const cutoffMs = batchCutoffMs(input) ?? Number.NaN;
  // Keys under the prefix that are not blob keys: never deleted, reported (as the CLI does); those
  // of a store nested in this one are that store's, counted by its prefix.
  const { malformed, nestedStores } = notBlobKeys(
    config.prefix,
    items.filter((r) => r.kind === 'malformed').map((r) => r.blob_key ?? ''),
  );
  // Whole, in parts: a batch holds up to 500 such rows (the first 100 alone were logged).
  const warnLog = (m: string, a: Record<string, unknown>) => logger.warn(m, a);
  if (malformed.length > 0) logListInParts(warnLog, 'keys under the prefix that are not blob keys (never deleted)', 'malformed', malformed);
  if (Object.keys(nestedStores).length > 0) logger.info('blob keys of stores under nested prefixes (not judged here)', { nestedStores });
  const orphans = items.filter((r) => r.kind === 'orphan' && typeof r.blob_key === 'string');
  // Athena writes a NULL object key as an empty field: judged undecided, never read as a key.
  const lost = items.filter((r) => r.kind === 'lost' && typeof r.blob_key === 'string');
  const expiredRows = items.filter((r) => r.kind === 'expired' && typeof r.blob_key === 'string');
  // Read only, so first: an error there fails the batch before it deleted anything.
  // Published and logged at once: an error in the re-verification below (or in a later read of
  // the check itself) fails the batch, and must not take with it the one figure that says
  // invariant 1 is broken (LostBlobs alarm).
  const reportLost = (confirmed: readonly LostCandidate[]) => {
    metrics.addMetric('SnapshotLostBlobs', MetricUnit.Count, confirmed.length);
    metrics.publishStoredMetrics();
    if (confirmed.length > 0)
      logListInParts((m, a) => logger.error(m, a), 'lost blobs: HV points at blobs the bucket lacks', 'lost', confirmed);
  };
  // Rounds (of the live check of losses, then of the re-verification) start until the margin before
  // the invocation's deadline: a batch that runs out of time stops between two rounds, and what it
  // confirmed lost or deleted is published, rather than Lambda ending it with nothing said.
  const stop = new AbortController();
  const left = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
  // Half the time left when that is less (a function of a short timeout, not the construct's): the
  // margin would leave it none, and every batch would stop before its work.
  const margin = left === undefined ? 0 : Math.min(SNAPSHOT_BATCH_MARGIN_MS, Math.floor(left / 2));
  const wait = left === undefined ? undefined : left - margin;
  // Node fires a longer timer (~24.8 days) at once: an unreachable deadline is no deadline.
  const timer =
    wait === undefined || wait > MAX_TIMER_MS
      ? undefined
      : setTimeout(
          () =>
            stop.abort(
              new TierlogError(
                `the invocation's deadline is ${margin} ms away: the batch starts no more rounds of its live checks (the rows left are the next run's)`,
              ),
            ),
          wait,
        );
  // Each proposed loss once (rows of one finding from two inventory files), checked in rounds.
  const proposed = [
    ...new Map(
      lost.map((r) => [`${r.object_key ?? ''}\0${r.blob_key}`, { key: r.blob_key!, objectKey: r.object_key ?? '' }] as const),
    ).values(),
  ];
  const confirmed: LostCandidate[] = [];
  const missedByInventory: string[] = [];
  const undecided: LostCheck['undecided'] = [];
  try {
    for (let i = 0; i < proposed.length; i += REVERIFY_ROUND) {
      stop.signal.throwIfAborted();
      const checked = await checkLost(proposed.slice(i, i + REVERIFY_ROUND), {
        config,
        dynamodb,
        s3,
        ...(Number.isFinite(cutoffMs) ? { cutoffMs } : {}),
      });
      confirmed.push(...checked.lost);
      for (const key of checked.missedByInventory) if (!missedByInventory.includes(key)) missedByInventory.push(key);
      undecided.push(...checked.undecided);
    }
  } catch (err) {
    clearTimeout(timer);
    if (err instanceof LostCheckIncompleteError) confirmed.push(...err.lost);
    if (confirmed.length === 0) throw err;
    // The losses confirmed before the failed read, or before the deadline, are not lost with it.
    reportLost(confirmed);
    throw err instanceof LostCheckIncompleteError
      ? new LostCheckIncompleteError(confirmed, err.cause)
      : new LostCheckIncompleteError(confirmed, err);
  }
  reportLost(confirmed);
  // Both fail the batch once it has done its re-verified deletes (the run fails: ExecutionsFailed),
  // rather than let the run look clean. Whole, in parts: a batch holds up to 500 rows, and each
  // proposed loss not judged may be a lost blob (the first 100 alone were logged, the error names 5).
  const errorLog = (m: string, a: Record<string, unknown>) => logger.error(m, a);
  if (undecided.length > 0) logListInParts(errorLog, 'proposed losses not judged (neither confirmed nor cleared)', 'undecided', undecided);
  if (missedByInventory.length > 0)
    logListInParts(errorLog, 'the inventory lacks blobs the bucket holds: it is incomplete', 'missed', missedByInventory);
  // The confirmed orphans by name, as the sweeper's dry run names the blobs it would delete: a
  // report-only run (the construct's default) published their count alone, so the operator who
  // reviews before turning deletes on could not tell which blobs they were.
  const logConfirmed = (confirmedOrphans: readonly string[]) => {
    if (confirmedOrphans.length === 0) return;
    logListInParts(
      (m, a) => logger.info(m, a),
      deleteConfirmed ? 'orphans confirmed and deleted (but for the deletes S3 refused)' : 'orphans confirmed (report only: not deleted)',
      'confirmed',
      confirmedOrphans,
    );
  };
  // One restored-copy check for the batch's two phases: a pointer the orphans' reads shows the table live for the expired objects'.
  const restoredCopy = RestoredCopyCheck.shared(dynamodb, config.objectsTable, liveStoreOf(config, { dynamodb, s3 }).lt);
  let report: ReverifyReport;
  try {
    report = await reverifyAndDelete(
      orphans.map((r) => {
        const lm = rowTimeMs(r.last_modified);
        // Last modified at or after the plan's cutoff: written after the snapshots the plan's
        // query read, which proposes no such blob. Its LastModified is then taken as unknown
        // (young): never deleted on a row that is not that query's.
        const beforeCutoff = Number.isFinite(lm) && !(lm >= cutoffMs);
        return { key: r.blob_key!, ...(beforeCutoff ? { lastModified: lm } : {}) };
      }),
      // One batch of the run per invocation: a Scan of the whole objects table for each would cost
      // the table's size times the batches (README, "Audit at scale": items copied since the export).
      {
        config,
        dynamodb,
        s3,
        now: audit.clock(),
        olderThanMs,
        delete: deleteConfirmed,
        scanOtherObjects: false,
        batchSize: REVERIFY_ROUND,
        signal: stop.signal,
        restoredCopy,
      },
    );
  } catch (err) {
    clearTimeout(timer);
    // Stopped after confirming (report-only) or deleting: what it confirmed and deleted is counted
    // all the same, and what may be gone is said.
    if (err instanceof ReverifyIncompleteError) {
      metrics.addMetric('SnapshotOrphansConfirmed', MetricUnit.Count, err.report.confirmed.length);
      metrics.addMetric('SnapshotOrphansDeleted', MetricUnit.Count, err.report.deleted);
      metrics.publishStoredMetrics();
      logConfirmed(err.report.confirmed);
      if (err.report.deleteUnknown.length > 0)
        logger.error('deletes of unknown outcome (S3 did not answer; these blobs may be gone)', {
          deleteUnknown: err.report.deleteUnknown.slice(0, 100),
        });
    }
    throw err;
  }
  // The query's shape test is coarse: a proposed orphan the re-verification finds is no blob key of
  // this store (an id no writer can use) is reported with the malformed keys, as the CLI does.
  const notBlobs = notBlobKeys(
    config.prefix,
    report.kept.filter((k) => k.reason === 'malformed').map((k) => k.key),
  );
  if (notBlobs.malformed.length > 0)
    logListInParts(warnLog, 'keys under the prefix that are not blob keys (never deleted)', 'malformed', notBlobs.malformed);
  if (Object.keys(notBlobs.nestedStores).length > 0)
    logger.info('blob keys of stores under nested prefixes (not judged here)', { nestedStores: notBlobs.nestedStores });
  const kept = report.kept.filter((k) => k.reason !== 'malformed');
  metrics.addMetric('SnapshotOrphansConfirmed', MetricUnit.Count, report.confirmed.length);
  metrics.addMetric('SnapshotOrphansDeleted', MetricUnit.Count, report.deleted);
  metrics.addMetric('SnapshotOrphansKept', MetricUnit.Count, kept.length);
  metrics.publishStoredMetrics();
  // In parts, as every list a batch logs whole: a batch's 500 long keys passed CloudWatch Logs' 256 KB event.
  if (kept.length > 0) logListInParts((m, a) => logger.info(m, a), 'kept at the re-verification', 'kept', kept);
  logConfirmed(report.confirmed);
  // Report-only (the default), such a state keeps every proposed orphan unjudged and the batch goes
  // on (as the CLI's report-only run exits 0): said at error level, as the CLI prints it ("orphans
  // not confirmed: …"). The keys' info line alone gave their reason code, not why (which table,
  // which item) nor what to do, so a run that could confirm nothing read as one that found nothing.
  if (!deleteConfirmed && deletesRefused(report))
    logger.error('orphans not confirmed: the re-verification cannot trust the tables (run "tierlog audit" to see why)', {
      reason: report.refusal ?? 'a change-log or objects-table item cannot be read',
      unjudged: kept.filter((k) => needsALook(k.reason)).length,
    });
  // Deleted since the inventory (an earlier run of this batch, its answer lost): counted nowhere.
  if (report.gone.length > 0) logger.info('proposed orphans the bucket no longer holds (not counted)', { gone: report.gone.length });
  // Then the blobs of objects expired long ago that TTL left, re-verified live, in the same rounds
  // and under the same deadline; removed (item as TTL would, then blob) only when deletes are on and
  // the orphans' re-verification refused none (a table it cannot trust refuses every change).
  const expired = emptyExpiredReport(expiredRows.length);
  // Deletes on and none refused: the confirmed ones are removed (and said so); else reported only.
  const removingExpired = deleteConfirmed && !deletesRefused(report);
  const reportExpired = async () => {
    metrics.addMetric('SnapshotExpiredConfirmed', MetricUnit.Count, expired.confirmed.length);
    metrics.addMetric('SnapshotExpiredRemoved', MetricUnit.Count, expired.removed);
    metrics.addMetric('SnapshotExpiredDeleted', MetricUnit.Count, expired.deleted);
    metrics.publishStoredMetrics();
    if (expired.confirmed.length > 0) {
      // Why TTL left them, as the listing audit says it: one DescribeTimeToLive (never throws).
      const ttl = await readObjectsTableTtl(dynamodb, config.objectsTable, hvAttributeNames(config).expiresAt);
      logger.warn("the objects table's TTL, beside objects expired long ago that it did not remove", {
        objectsTableTtl: 'error' in ttl ? ttl.error : ttl.diagnosis,
      });
      logListInParts(
        warnLog,
        removingExpired
          ? 'expired, not removed by TTL: objects expired long ago still point at these blobs (items removed as TTL would, blobs deleted, but for those kept)'
          : deleteConfirmed
            ? 'expired, not removed by TTL: objects expired long ago still point at these blobs (deletes refused: not removed)'
            : 'expired, not removed by TTL: objects expired long ago still point at these blobs (report only: not removed)',
        'expired',
        expired.confirmed.map((e) => ({ key: e.key, objectKey: e.objectKey, expiredAt: e.expiredAt })),
      );
    }
    if (expired.kept.length > 0)
      logListInParts((m, a) => logger.info(m, a), 'blobs of expired objects kept at the re-verification', 'expiredKept', expired.kept);
    // Report-only, a change log it cannot trust (or a restored copy of the objects table) keeps
    // proposals unjudged and the batch goes on: said at error level with why, as for the orphans
    // (with deletes on, the batch fails below).
    if (!deleteConfirmed && expired.refusal !== undefined)
      logger.error(
        'blobs of expired objects not confirmed: the re-verification cannot trust what it read, the change log or a restored copy of the objects table (reason says which)',
        {
          reason: expired.refusal,
          unjudged: expired.kept.filter((k) => expiredNeedsALook(k.reason)).length,
        },
      );
    if (expired.removeUnknown.length > 0)
      logger.error('expired item removals of unknown outcome (DynamoDB did not answer; these items may be gone, their blobs stay)', {
        removeUnknown: expired.removeUnknown.slice(0, 100),
      });
    if (expired.deleteUnknown.length > 0)
      logger.error('deletes of unknown outcome (S3 did not answer; these blobs may be gone)', {
        deleteUnknown: expired.deleteUnknown.slice(0, 100),
      });
  };
  try {
    await reverifyExpired(
      expiredRows.map((r) => ({ key: r.blob_key!, objectKey: r.object_key ?? '' })),
      {
        config,
        dynamodb,
        s3,
        now: audit.clock(),
        olderThanMs,
        delete: removingExpired,
        scanOtherObjects: false,
        batchSize: REVERIFY_ROUND,
        signal: stop.signal,
        report: expired,
        restoredCopy,
      },
    );
  } catch (err) {
    clearTimeout(timer);
    await reportExpired();
    throw err;
  }
  clearTimeout(timer);
  await reportExpired();
  const expiredLooks = expired.kept.filter((k) => expiredNeedsALook(k.reason));
  if (expired.deleteFailures.length > 0) {
    logListInParts(
      (m, a) => logger.error(m, a),
      'deletes S3 refused (the blobs are still there)',
      'deleteFailures',
      expired.deleteFailures,
    );
  }
  if (report.deleteFailures.length > 0 || expired.deleteFailures.length > 0) {
    // Each key S3 refused, in the batch's log (the error names five): the blobs are still there,
    // and the rest of a batch of 500 refused (a policy, an object lock) was named nowhere. Only
    // when there are some: the expired objects' refusals alone added an error line listing none.
    if (report.deleteFailures.length > 0)
      logListInParts(
        (m, a) => logger.error(m, a),
        'deletes S3 refused (the blobs are still there)',
        'deleteFailures',
        report.deleteFailures,
      );
    const failures = [...report.deleteFailures, ...expired.deleteFailures];
    throw new Error(`${failures.length} deletes failed: ${JSON.stringify(failures.slice(0, 5))}`);
  }
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
  if (deleteConfirmed && expiredLooks.length > 0)
    throw new Error(
      `removals of expired items refused: ${expired.refusal ?? `${expiredLooks.length} items have no numeric version to remove them on (${JSON.stringify(expiredLooks.slice(0, 5))})`}`,
    );
  return {
    confirmed: report.confirmed.length,
    deleted: report.deleted,
    kept: kept.length,
    lost: confirmed.length,
    malformed: malformed.length + notBlobs.malformed.length,
    expired: expired.confirmed.length,
    expiredRemoved: expired.removed,
    expiredDeleted: expired.deleted,
  };
}
