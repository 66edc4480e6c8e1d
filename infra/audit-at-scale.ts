/**
 * Audit at any scale from snapshots the services already produce (opt-in: `Tierlog` prop
 * `auditAtScale`):
 *
 *  - a daily S3 Inventory (Parquet, current versions, under `<prefix>/`, Size + LastModifiedDate)
 *    of the blob bucket, delivered to a snapshots bucket;
 *  - a Step Functions state machine, on a schedule: full exports of both tables
 *    (point-in-time recovery is on) → the `plan` Lambda (newest inventory partition, DDL, the
 *    query) → the DDL and the audit query in Athena (Glue database + tables over the snapshots, a
 *    workgroup with its results under the snapshots bucket) → a Distributed Map over the result
 *    that re-verifies every row live and, with `delete`, deletes confirmed orphans (and removes the
 *    items of objects expired long ago, then their blobs) in batches (the Lambda's guarded path;
 *    nothing is deleted on the snapshots' word alone);
 *  - alarms: execution failed / timed out / aborted, any confirmed lost blob, a scheduled run
 *    Scheduler could not start (its dead-letter queue not empty: no run, so no failed run), a stale
 *    inventory, and no run at all for two schedule intervals and a day (`AuditNotRunning`, on the
 *    schedules whose interval is read).
 */
import { createHash } from 'node:crypto';
import { Annotations, Arn, ArnFormat, type CfnElement, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2 } from 'aws-cdk-lib/cx-api';
import { Construct, type IConstruct } from 'constructs';
import { CONFIG_ENV, hvAttributeNamesFromEnv } from '../lib/config.js';
import { LEASE_INDEX_NAME } from '../lib/constants.js';
import { ConfigError, ValidationError } from '../lib/errors.js';
import { assertOptions, optionNames } from '../lib/plain-options.js';
import { SNAPSHOT_AUDIT_SERVICE_NAME } from '../lib/handlers/names.js';
import { GLUE_TABLES } from '../lib/recovery/snapshot-audit/athena-plan.js';
import { safetyAgeRefusal } from '../lib/recovery/audit.js';
import { METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';
import { INVENTORY_STALE_SECONDS } from '../lib/recovery/snapshot-audit/athena-plan.js';
import { checkSnapshotHvAttributes } from '../lib/recovery/snapshot-audit/query.js';
import { deliverAccessLogs } from './bucket.js';
import { addAlarmActions, failureQueue, pointAlarmsAtRunbook } from './failure-handling.js';
import { sweepIntervalOf } from './monitoring.js';
import { defaultRuntimeFinding, nagArn, nagText } from './nag.js';
import {
  metricsDeploymentEnv,
  metricsDeploymentOf,
  refuseNonSchedules,
  refuseTokenOptions,
  TierlogFunction,
  tierlogDimensions,
} from './function.js';
import { validateChangeLogTable } from './change-log-table.js';
import { refuseOtherStoreUnderPrefix } from './one-store-per-prefix.js';
import { checkObjectsTableKey, validateObjectsTableInOneRegion } from './own-objects-table.js';
import { pointInTimeRecoveryOf } from './readable-table.js';
import { checkRemovalPolicy } from './tables.js';
import { checkGrantsCoverEnvironment, grantKeyFor, type TierlogResources } from './permissions.js';

/**
 * The Step Functions Athena integration without the S3 grants it adds on `*` whatever its task
 * names (`s3:GetObject`, `s3:ListBucket`, `s3:GetBucketLocation`, `s3:CreateBucket`): every object
 * of the account readable by the run, the live blobs among them, and any bucket creatable. The
 * audit's queries read and write the snapshots bucket only (inventory, exports, results), which
 * the construct grants on exactly; Athena creates no bucket when the work group names its results
 * location. What the integration grants on `*` besides, `lakeformation:GetDataAccess`, takes no
 * resource ARN in IAM, and is kept.
 */
class AuditAthenaQuery extends tasks.AthenaStartQueryExecution {
  declare protected readonly taskPolicies?: iam.PolicyStatement[];

  constructor(scope: Construct, id: string, props: tasks.AthenaStartQueryExecutionProps) {
    super(scope, id, props);
    this.taskPolicies = this.taskPolicies?.flatMap((statement) => {
      if (!statement.resources.includes('*')) return [statement];
      const actions = statement.actions.filter((action) => !action.startsWith('s3:'));
      return actions.length === statement.actions.length ? [statement] : actions.length > 0 ? [statement.copy({ actions })] : [];
    });
  }
}

/** The state machine's timeout: a run's plan publishes up to that long after it started. */
const AUDIT_RUN_TIMEOUT = Duration.hours(24);
/** The hourly periods an alarm evaluates at most: 7 days. */
const MAX_HOURLY_EVALUATION_PERIODS = 7 * 24;

/** Options of the audit at scale (`TierlogProps.auditAtScale`). */
export interface AuditAtScaleOptions {
  /**
   * When the audit runs (after the day's inventory has arrived).
   *
   * @default scheduler.ScheduleExpression.cron({ hour: '6', minute: '0' }) (daily, 06:00 UTC)
   */
  readonly schedule?: scheduler.ScheduleExpression;
  /**
   * Safety age: only blobs older than this before the oldest snapshot are proposed (at least 1 h).
   *
   * @default Duration.hours(24)
   */
  readonly olderThan?: Duration;
  /**
   * Delete the orphans the re-verification confirms, and the objects expired long ago whose items
   * TTL has not removed: each item is removed as TTL would (a DeleteItem conditional on the blob,
   * version and expiry it read; `dynamodb:DeleteItem` on the objects table, granted with `delete`
   * only), then its blob deleted after an orphan's re-check. `false`: report them only (metrics,
   * logs). A boolean (another value, such as a CDK context's `"false"`, is refused at synth).
   *
   * @default false
   */
  readonly delete?: boolean;
  /**
   * Re-verify/delete batches the Distributed Map runs at once. A positive integer (Step Functions
   * reads 0 as no limit).
   *
   * @default 4
   */
  readonly maxConcurrency?: number;
  /**
   * Days the snapshots (inventories, exports, query results) are kept. A positive integer.
   *
   * @default 14
   */
  readonly snapshotRetentionDays?: number;
  /**
   * Athena stops a query that would scan more than this many bytes. An integer, at least
   * 10 000 000 (Athena's least).
   *
   * @default 10 TiB
   */
  readonly bytesScannedCutoffPerQuery?: number;
}

/** Properties of {@link AuditAtScale}. */
export interface AuditAtScaleProps extends AuditAtScaleOptions {
  /**
   * The tables, the blob bucket and the prefix the audit reads (the deployment's). Both tables
   * need point-in-time recovery (each run exports them): a table of this app without it is refused,
   * as is an objects table of this app keyed otherwise than the function reads it, or (at synth)
   * in more than one region (a replica: the re-verification's consistent read does not see a write there).
   * The bucket is one of this app (an `s3.Bucket`): the part adds its S3 Inventory; an imported
   * one is refused, and so is one another audit at scale of the app inventories already (another
   * store under another prefix: the bucket takes one inventory of the audit).
   */
  readonly resources: TierlogResources;
  /** The bucket the blob bucket's access logs go to (the snapshots bucket logs there too). */
  readonly accessLogsBucket: s3.Bucket;
  /**
   * The configuration variables (what `loadConfig` reads), of the store `resources` names (another
   * prefix, bucket or table is refused at synth, and so are objects-table attribute names in
   * `TIERLOG_HV_ATTRIBUTES` that the snapshot query cannot read: letters, digits and `_` only).
   */
  readonly environment: Record<string, string>;
  /**
   * Removal policy of the snapshots bucket (`DESTROY` empties it first) and of the log groups
   * (the function's and the state machine's). The Athena work group is deleted with the stack
   * whatever it says, with its query history (`recursiveDeleteOption`): Athena refuses to delete a
   * work group that holds query executions (every run leaves some), which failed the stack's
   * deletion and left the work group's name taken. Its queries' results stay in the snapshots bucket.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The function's runtime (`TierlogFunctionOptions.runtime`).
   *
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
  /**
   * Bundle the AWS SDK v3 into the function (`TierlogFunctionOptions.bundleAwsSdk`).
   *
   * @default true (the prebuilt bundle)
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * Retention of the function's and the state machine's log groups.
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Actions of the audit's alarms (on ALARM and on OK).
   *
   * @default - none
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];
  /**
   * The deployment the function's metrics are told apart by (`TIERLOG_METRICS_DEPLOYMENT`, their
   * `deployment` dimension; see `lib/handlers/names.ts`). The {@link Tierlog} construct sets it.
   * Over the variable in `environment`; one set there alone is taken as this, as the function reads
   * it (its alarms, and a monitoring of it, watch it). Without one, its alarms watch the metrics of
   * every audit at scale without one in the account and region: a warning at synth
   * (`tierlog:metricsDeploymentShared`).
   *
   * @default - the `TIERLOG_METRICS_DEPLOYMENT` of `environment`; none without it: the metrics carry
   *   `service` only
   */
  readonly metricsDeployment?: string;
}

const INVENTORY_ID = 'tierlog-audit';
/** Where the Distributed Map writes its batches' summaries in the snapshots bucket. */
const MAP_RESULTS_PREFIX = 'map-results';
/**
 * The most bytes of rows a re-verification batch takes: a child execution's input is at most 256
 * KiB, with the batch input (the plan's cutoff) and the batch's wrapping beside the rows.
 */
const MAX_BATCH_BYTES = 200 * 1024;
/** Where Athena writes its results in the snapshots bucket (the work group's location). */
const ATHENA_RESULTS_PREFIX = 'athena-results';

/** The names {@link AuditAtScaleOptions} has (the `Tierlog` construct's `auditAtScale`): any other is refused. */
export const AUDIT_AT_SCALE_OPTIONS = optionNames<AuditAtScaleOptions>()(
  'schedule',
  'olderThan',
  'delete',
  'maxConcurrency',
  'snapshotRetentionDays',
  'bytesScannedCutoffPerQuery',
);

/** The names {@link AuditAtScaleProps} has: any other is refused. */
const AUDIT_AT_SCALE_PROPS = optionNames<AuditAtScaleProps>()(
  ...AUDIT_AT_SCALE_OPTIONS,
  'resources',
  'accessLogsBucket',
  'environment',
  'removalPolicy',
  'runtime',
  'bundleAwsSdk',
  'logRetention',
  'alarmActions',
  'metricsDeployment',
);

/**
 * The audit at scale that added its S3 Inventory ({@link INVENTORY_ID}) to each blob bucket: S3
 * keeps one inventory configuration per id, so a second audit of the same bucket (another store,
 * under another prefix) would replace the first's inventory or fail the deploy.
 */
const inventoriedBy = new WeakMap<s3.IBucket, AuditAtScale>();

/**
 * Refuses objects-table attribute names in `environment` (its `TIERLOG_HV_ATTRIBUTES`, when known at
 * synth) that the snapshot query cannot read from the table exports (`checkSnapshotHvAttributes`:
 * letters, digits and `_`, narrower than what the configuration takes), as the `Tierlog` construct
 * refuses its `hvAttributes` under `auditAtScale`: every run would export both tables and then fail
 * at its plan. A token is left to the function.
 *
 * @throws ConfigError naming the variable, the attribute and its name.
 */
function checkExportedAttributeNames(environment: Readonly<Record<string, string>>): void {
  const variable = environment[CONFIG_ENV.hvAttributes];
  if (variable !== undefined && Token.isUnresolved(variable)) return;
  const names = hvAttributeNamesFromEnv(environment);
  try {
    checkSnapshotHvAttributes({ key: names.key, blob: names.blob, deleted: names.deleted, expiresAt: names.expiresAt });
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const field = err.field.replace(/^hvAttributes\./, '') as 'key' | 'blob' | 'deleted' | 'expiresAt';
    throw new ConfigError(
      `${CONFIG_ENV.hvAttributes} names ${field} ${JSON.stringify(names[field])}, which the snapshot query cannot read from the table exports (letters, digits and _ only): every run would export both tables and fail at its plan`,
      CONFIG_ENV.hvAttributes,
      { cause: err },
    );
  }
}

/** The least `BytesScannedCutoffPerQuery` Athena takes (10 MB). */
const MIN_BYTES_SCANNED_CUTOFF = 10_000_000;

/** Inventory, exports, Glue, Athena and the state machine of the snapshot audit. */
export class AuditAtScale extends Construct {
  /** Where the inventory, the exports and Athena's results go. */
  public readonly snapshotBucket: s3.Bucket;
  /** The Glue database of the inventory and export tables the query reads. */
  public readonly database: glue.CfnDatabase;
  /** The Athena work group the query runs in (its results in the snapshots bucket). */
  public readonly workGroup: athena.CfnWorkGroup;
  /** The run: exports, plan, query, re-verification in batches, report. */
  public readonly stateMachine: sfn.StateMachine;
  /** The plan / re-verify Lambda. */
  public readonly function: lambda.IFunction;
  /** The function's role: reads the snapshots, re-checks live, deletes only when told to. */
  public readonly functionRole: iam.Role;
  /** The role EventBridge Scheduler starts the runs with. */
  public readonly schedulerRole: iam.Role;
  /** Where Scheduler puts the runs it could not start. */
  public readonly deadLetterQueue: sqs.Queue;
  /** The audit's alarms. */
  public readonly alarms: {
    /** A run failed. */
    readonly executionsFailed: cloudwatch.Alarm;
    /** A run found an object whose blob is missing: data already lost. */
    readonly lostBlobs: cloudwatch.Alarm;
    /** A scheduled run could not be started: the audit did not run at all. */
    readonly runsNotStarted: cloudwatch.Alarm;
    /** The newest inventory a run found is over three days old: the audit runs blind to new orphans. */
    readonly inventoryStale: cloudwatch.Alarm;
    /**
     * No run's plan published `SnapshotInventoryAge` for two schedule intervals and a day (a run's
     * timeout: 3 days with the daily default): the schedule is disabled or deleted, or every run
     * stops before its plan. Missing data is breaching (so it is up after the first deploy, until
     * the first run reaches its plan). Absent when the schedule's interval is not
     * read (an `at(...)`, a cron of some days only) or that window passes the 7 days an alarm of
     * hourly periods can look back.
     */
    readonly auditNotRunning?: cloudwatch.Alarm;
  };

  private readonly props: AuditAtScaleProps;

  constructor(scope: Construct, id: string, props: AuditAtScaleProps) {
    super(scope, id);
    // aws-cdk-lib renders the Distributed Map's `resultWriterV2` only under this feature flag, which
    // an app made before it (or a `new App()` without cdk.json) lacks: the map then had no
    // ResultWriter and a large run failed (States.DataLimitExceeded). Set on this construct alone,
    // before its first child, so the map renders it in every app.
    this.node.setContext(STEPFUNCTIONS_USE_DISTRIBUTED_MAP_RESULT_WRITER_V2, true);
    // A name it does not know (a JavaScript caller's `olderthan`) was dropped: the default ran.
    assertOptions(props, AUDIT_AT_SCALE_PROPS, 'AuditAtScale');
    this.props = props;
    const { resources } = props;
    checkGrantsCoverEnvironment(this, resources, props.environment);
    checkObjectsTableKey(resources.objectsTable, props.environment);
    checkExportedAttributeNames(props.environment);
    validateChangeLogTable(this, resources.changeLogTable);
    refuseOtherStoreUnderPrefix(this, resources, props.environment);
    validateObjectsTableInOneRegion(
      this,
      resources.objectsTable,
      'the audit deletes an orphan once a consistent read of the objects table shows no item pointing at it',
    );
    // Every run exports both tables, which DynamoDB refuses without point-in-time recovery: each
    // run would fail at its export (the Tierlog construct's change log has it, and it refuses an
    // objects table of the app without it; used on its own, the part took either).
    for (const [prop, table] of [
      ['resources.changeLogTable', resources.changeLogTable],
      ['resources.objectsTable', resources.objectsTable],
    ] as const) {
      if (pointInTimeRecoveryOf(table) === false) {
        throw new Error(
          `${prop} ${table.node.path} has no point-in-time recovery: every run exports it with ExportTableToPointInTime, which needs it, so each run would fail at its export; turn it on`,
        );
      }
    }
    // Its snapshot of the bucket is an S3 Inventory, a setting of the bucket: only a bucket of this
    // app can be given one here (an imported one failed with a bare TypeError).
    const blobBucket = resources.bucket as s3.Bucket;
    if (typeof (blobBucket as Partial<s3.Bucket>).addInventory !== 'function') {
      const name = Token.isUnresolved(blobBucket.bucketName) ? '' : ` ("${blobBucket.bucketName}")`;
      throw new Error(
        `resources.bucket ${blobBucket.node.path}${name} is imported: the audit at scale reads the bucket through an S3 Inventory, a setting of the bucket that only a bucket of this app (an s3.Bucket) can be given here; configure the imported bucket's S3 Inventory yourself and run \`tierlog audit --inventory\``,
      );
    }
    // The bucket's inventory of the audit is one configuration id: a second audit's (another store
    // under another prefix of the bucket) replaced the first's or failed the deploy, and one store's
    // every run then failed for want of its inventory.
    const first = inventoriedBy.get(blobBucket);
    if (first !== undefined) {
      throw new Error(
        `resources.bucket ${blobBucket.node.path} has the S3 Inventory of the audit at scale ${first.node.path} already (under "${first.props.resources.prefix}/"): the bucket takes one inventory of the audit (configuration "${INVENTORY_ID}"), so a second would replace it; audit this store with \`tierlog audit\`, or give it a bucket of its own`,
      );
    }
    // What the function publishes under, whoever set it: the alarms watch that.
    const deployment = metricsDeploymentOf(props.metricsDeployment, props.environment);
    // Used on its own without one (the Tierlog construct gives its own): its metrics are those of
    // every other such audit in the account and region, whose losses would page this one.
    if (deployment === undefined) {
      Annotations.of(this).addWarningV2(
        'tierlog:metricsDeploymentShared',
        "AuditAtScale's alarms watch metrics without a deployment (no metricsDeployment): every audit at scale without one in this account and region publishes those same metrics, so another store's lost blobs or stale inventory raise LostBlobs and InventoryStale here. Give it a metricsDeployment, unique in the account and region (the stack name, say; the Tierlog construct gives its own <stack name>/<construct path>)",
      );
    }
    const stack = Stack.of(this);
    checkRemovalPolicy(props.removalPolicy, 'removalPolicy');
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    // Used on its own (the Tierlog construct refuses them first): each is checked below, and a
    // token was refused as the number it encodes, or by CDK's conversion of the duration.
    refuseTokenOptions(
      Object.fromEntries(
        (['olderThan', 'maxConcurrency', 'snapshotRetentionDays', 'bytesScannedCutoffPerQuery'] as const).map((option) => [
          `auditAtScale.${option}`,
          props[option],
        ]),
      ),
    );
    refuseNonSchedules({ 'auditAtScale.schedule': props.schedule });
    const olderThan = props.olderThan ?? Duration.hours(24);
    // The audits' one rule, at synth: at least 1 h, and not reaching back before 2000 (a unit mistaken).
    const refused = safetyAgeRefusal(olderThan.toMilliseconds(), Date.now());
    if (refused?.bound === 'floor') throw new Error('auditAtScale.olderThan must be at least 1 hour');
    if (refused !== undefined) throw new Error(`auditAtScale.olderThan is too old: ${refused.reason}`);
    // Step Functions reads a Distributed Map's MaxConcurrency 0 as "no limit" (up to 10 000 child
    // runs at once against the tables, the bucket and Lambda); S3 lifecycle takes whole days >= 1.
    for (const [option, value] of [
      ['maxConcurrency', props.maxConcurrency],
      ['snapshotRetentionDays', props.snapshotRetentionDays],
    ] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
        throw new Error(`auditAtScale.${option} must be a positive integer, got ${value}`);
      }
    }
    // `delete` is both the function's TIERLOG_SNAPSHOT_DELETE and its s3:DeleteObject grant: a value
    // that is no boolean (`-c delete=false` gives "false") granted deletes to a function told not to
    // delete, or deployed one (`1`, "yes") whose every run failed at its init.
    if (props.delete !== undefined && typeof props.delete !== 'boolean') {
      throw new Error(`auditAtScale.delete must be true or false, got ${JSON.stringify(props.delete)} (${typeof props.delete})`);
    }
    // Athena refuses a workgroup whose cutoff is under 10 MB, or not whole bytes: the deploy failed.
    const cutoff = props.bytesScannedCutoffPerQuery;
    if (cutoff !== undefined && !(Number.isSafeInteger(cutoff) && cutoff >= MIN_BYTES_SCANNED_CUTOFF)) {
      throw new Error(
        `auditAtScale.bytesScannedCutoffPerQuery must be an integer of at least ${MIN_BYTES_SCANNED_CUTOFF} (Athena's least, 10 MB), got ${cutoff}`,
      );
    }

    this.snapshotBucket = new s3.Bucket(this, 'Snapshots', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        { expiration: Duration.days(props.snapshotRetentionDays ?? 14), abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    });
    deliverAccessLogs(this.snapshotBucket, props.accessLogsBucket, 'snapshots/');
    const bucketName = this.snapshotBucket.bucketName;
    blobBucket.addInventory({
      inventoryId: INVENTORY_ID,
      destination: { bucket: this.snapshotBucket, prefix: 'inventory' },
      format: s3.InventoryFormat.PARQUET,
      frequency: s3.InventoryFrequency.DAILY,
      includeObjectVersions: s3.InventoryObjectVersion.CURRENT,
      objectsPrefix: `${resources.prefix}/`,
      optionalFields: ['Size', 'LastModifiedDate'],
    });
    inventoriedBy.set(blobBucket, this);
    const hivePrefix = `inventory/${blobBucket.bucketName}/${INVENTORY_ID}/hive`;

    // Glue: the inventory (Parquet through S3's symlink files) and the two exports (text lines).
    // Glue and Athena names are per account and region: one per construct and stack name (two
    // Tierlogs in one stack, and the same app deployed under two stack names, each get their own).
    const stackName = stack.stackName;
    const owner = Token.isUnresolved(stackName) ? this.node.path : `${stackName}/${this.node.path}`;
    const unique = createHash('sha256').update(owner).digest('hex').slice(0, 8);
    const databaseName = `tierlog_audit_${unique}`;
    this.database = new glue.CfnDatabase(this, 'Database', { catalogId: stack.account, databaseInput: { name: databaseName } });
    const table = (tid: string, name: string, input: Omit<glue.CfnTable.TableInputProperty, 'name'>) => {
      const t = new glue.CfnTable(this, tid, {
        catalogId: stack.account,
        databaseName,
        tableInput: { name, tableType: 'EXTERNAL_TABLE', ...input },
      });
      t.addResourceDependency(this.database);
      return t;
    };
    table('InventoryTable', GLUE_TABLES.inventory, {
      partitionKeys: [{ name: 'dt', type: 'string' }],
      storageDescriptor: {
        columns: [
          { name: 'bucket', type: 'string' },
          { name: 'key', type: 'string' },
          { name: 'size', type: 'bigint' },
          { name: 'last_modified_date', type: 'timestamp' },
        ],
        location: `s3://${bucketName}/${hivePrefix}/`,
        inputFormat: 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat',
        outputFormat: 'org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat',
        serdeInfo: { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
      },
    });
    for (const [tid, name] of [
      ['ObjectsExportTable', GLUE_TABLES.objects],
      ['ChangeLogExportTable', GLUE_TABLES.changeLog],
    ] as const) {
      table(tid, name, {
        storageDescriptor: {
          columns: [{ name: 'line', type: 'string' }],
          // Pointed at each run's export data by the run's DDL.
          location: `s3://${bucketName}/exports/${name}/`,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: {
            serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
            parameters: { 'field.delim': '\u0001' },
          },
        },
      });
    }

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: `tierlog-audit-${unique}`,
      // Every run leaves query executions, and without it Athena refuses to delete the work group:
      // `cdk destroy` ended in DELETE_FAILED, and an update turning the audit off left the work group,
      // whose name then failed the update turning it on again. It holds no data: the results are
      // in the snapshots bucket, which the removal policy keeps.
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery ?? 10 * 2 ** 40,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${bucketName}/${ATHENA_RESULTS_PREFIX}/`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    // The Lambda: plan + re-verify/delete batches.
    const fn = new TierlogFunction(this, 'Function', {
      handler: 'snapshot-audit',
      serviceName: SNAPSHOT_AUDIT_SERVICE_NAME,
      environment: {
        ...props.environment,
        TIERLOG_SNAPSHOT_BUCKET: bucketName,
        TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX: hivePrefix,
        TIERLOG_SNAPSHOT_DATABASE: databaseName,
        TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(olderThan.toMilliseconds()),
        TIERLOG_SNAPSHOT_DELETE: String(props.delete ?? false),
        ...metricsDeploymentEnv(props.metricsDeployment),
      },
      timeout: Duration.minutes(5),
      memorySize: 1024,
      ...(props.runtime ? { runtime: props.runtime } : {}),
      ...(props.bundleAwsSdk !== undefined ? { bundleAwsSdk: props.bundleAwsSdk } : {}),
      ...(props.logRetention !== undefined ? { logRetention: props.logRetention } : {}),
      removalPolicy,
    });
    this.function = fn.function;
    this.functionRole = fn.role;
    // Re-verification: scan the change log (and, when it is empty, read one count of its lease
    // index: an empty table without it is not a change log), consistent batch reads of HV,
    // existence by a listing of the exact key (ListObjectsV2, prefix-scoped below), and deletes
    // under the prefix. It never reads a blob, so it has no s3:GetObject; report-only, it has no
    // object access at all.
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Scan'],
        resources: [resources.changeLogTable.tableArn, `${resources.changeLogTable.tableArn}/index/${LEASE_INDEX_NAME}`],
      }),
    );
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:BatchGetItem'], resources: [resources.objectsTable.tableArn] }),
    );
    // Beside objects expired long ago whose items TTL did not remove: the objects table's TTL, which
    // says why (off, on another attribute), as `tierlog audit` says it. Read only.
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:DescribeTimeToLive'], resources: [resources.objectsTable.tableArn] }),
    );
    if (props.delete) {
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:DeleteObject'], resources: [resources.bucket.arnForObjects(`${resources.prefix}/*`)] }),
      );
      // An object expired long ago whose item TTL has not removed: its item is removed as TTL would
      // (a DeleteItem conditional on the same blob, version and expiry), then its blob deleted.
      fn.role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['dynamodb:DeleteItem'], resources: [resources.objectsTable.tableArn] }),
      );
      grantKeyFor(fn.role, resources.objectsTable.encryptionKey, 'dynamodb', ['dynamodb:DeleteItem']);
    }
    // Before its first orphan is confirmed (reported or deleted): a sample of the objects table's
    // pointers shows it is this bucket's store. Without it, report-only, every candidate is kept.
    fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['dynamodb:Scan'], resources: [resources.objectsTable.tableArn] }));
    // And whether the objects table is a restored copy, which misses the blobs written since its
    // restore point (lib/recovery/restored-table.ts). Without it, every candidate is kept.
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['dynamodb:DescribeTable'], resources: [resources.objectsTable.tableArn] }),
    );
    // A table of the user's under a customer managed key is read through it: the objects table,
    // and the change log, whose Scan refused left every orphan kept ("change-log-unreadable").
    grantKeyFor(fn.role, resources.objectsTable.encryptionKey, 'dynamodb', ['dynamodb:BatchGetItem', 'dynamodb:Scan']);
    if (resources.changeLogTable.encryptionKey !== resources.objectsTable.encryptionKey)
      grantKeyFor(fn.role, resources.changeLogTable.encryptionKey, 'dynamodb', ['dynamodb:Scan']);
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [resources.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${resources.prefix}/*`] } },
      }),
    );
    // Plan: list the inventory's partitions.
    fn.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.snapshotBucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${hivePrefix}/`] } },
      }),
    );

    // The state machine.
    const exportBranch = (name: string, tableArn: string, s3Prefix: string): sfn.IChainable => {
      const start = new tasks.CallAwsService(this, `Export${name}`, {
        service: 'dynamodb',
        action: 'exportTableToPointInTime',
        parameters: {
          TableArn: tableArn,
          S3Bucket: bucketName,
          S3Prefix: s3Prefix,
          ExportFormat: 'DYNAMODB_JSON',
          ExportType: 'FULL_EXPORT',
        },
        iamResources: [tableArn],
        iamAction: 'dynamodb:ExportTableToPointInTime',
        resultSelector: { 'ExportArn.$': '$.ExportDescription.ExportArn' },
        resultPath: '$.export',
      });
      const wait = new sfn.Wait(this, `Wait${name}`, { time: sfn.WaitTime.duration(Duration.minutes(5)) });
      const describe = new tasks.CallAwsService(this, `Describe${name}`, {
        service: 'dynamodb',
        action: 'describeExport',
        parameters: { 'ExportArn.$': '$.export.ExportArn' },
        iamResources: [`${tableArn}/export/*`],
        iamAction: 'dynamodb:DescribeExport',
        resultSelector: {
          'ExportArn.$': '$.ExportDescription.ExportArn',
          'ExportStatus.$': '$.ExportDescription.ExportStatus',
          'S3Prefix.$': '$.ExportDescription.S3Prefix',
          'ExportTime.$': '$.ExportDescription.ExportTime',
        },
        resultPath: '$.export',
      });
      const failed = new sfn.Fail(this, `${name}ExportFailed`, { error: 'ExportFailed', cause: `the export of the ${name} table failed` });
      const done = new sfn.Pass(this, `${name}Exported`, { outputPath: '$.export' });
      return start
        .next(wait)
        .next(describe)
        .next(
          new sfn.Choice(this, `${name}ExportDone?`)
            .when(sfn.Condition.stringEquals('$.export.ExportStatus', 'COMPLETED'), done)
            .when(sfn.Condition.stringEquals('$.export.ExportStatus', 'FAILED'), failed)
            .otherwise(wait),
        );
    };
    // Each table's export goes to the folder its Glue table is pointed under.
    const exports = new sfn.Parallel(this, 'ExportTables', { resultSelector: { 'objectsExport.$': '$[0]', 'changeLogExport.$': '$[1]' } })
      .branch(exportBranch('Objects', resources.objectsTable.tableArn, `exports/${GLUE_TABLES.objects}`))
      .branch(exportBranch('ChangeLog', resources.changeLogTable.tableArn, `exports/${GLUE_TABLES.changeLog}`));

    // Lambda answers an invocation it throttled (the account's concurrency spent by other
    // functions) with Lambda.TooManyRequestsException, which the retry of service errors does not
    // match: one throttled batch failed the map (no failure tolerated) and the run. Such an
    // invocation did not run, so it is retried, spread out.
    const throttled: sfn.RetryProps = {
      errors: ['Lambda.TooManyRequestsException'],
      interval: Duration.seconds(5),
      maxAttempts: 8,
      backoffRate: 2,
      maxDelay: Duration.minutes(2),
      jitterStrategy: sfn.JitterType.FULL,
    };
    const plan = new tasks.LambdaInvoke(this, 'Plan', {
      lambdaFunction: fn.function,
      payload: sfn.TaskInput.fromObject({ action: 'plan', 'objectsExport.$': '$.objectsExport', 'changeLogExport.$': '$.changeLogExport' }),
      payloadResponseOnly: true,
      resultPath: '$.plan',
    }).addRetry(throttled);
    // Athena refuses a query past the account's quota of active (running and queued) DDL or DML
    // queries, which other workloads share, with TooManyRequestsException: nothing started, so it
    // is retried, spread out, as the throttled invocation above. Every statement may run again (the
    // DDL sets a location or adds a partition if not there; the query writes a new result file).
    const athenaThrottled: sfn.RetryProps = { ...throttled, errors: ['Athena.TooManyRequestsException'] };
    const athenaTask = (tid: string, query: string, resultPath: string) =>
      new AuditAthenaQuery(this, tid, {
        queryString: query,
        workGroup: this.workGroup.name,
        queryExecutionContext: { databaseName },
        // The work group's own location (which it enforces over this). Without it the integration
        // granted the role object writes on "*": every object of the account, the live blobs among
        // them, writable by the run (an Athena statement writes with the caller's rights).
        resultConfiguration: { outputLocation: { bucketName, objectKey: ATHENA_RESULTS_PREFIX } },
        integrationPattern: sfn.IntegrationPattern.RUN_JOB,
        resultPath,
      }).addRetry(athenaThrottled);
    const ddl = new sfn.Map(this, 'Ddl', {
      itemsPath: '$.plan.statements',
      maxConcurrency: 1,
      resultPath: sfn.JsonPath.DISCARD,
    }).itemProcessor(athenaTask('RunDdl', sfn.JsonPath.stringAt('$'), sfn.JsonPath.DISCARD));
    const query = athenaTask('Query', sfn.JsonPath.stringAt('$.plan.query'), '$.query');
    const reverify = new sfn.DistributedMap(this, 'ReverifyAndDelete', {
      itemReader: new sfn.S3CsvItemReader({
        bucket: this.snapshotBucket,
        key: sfn.JsonPath.format('athena-results/{}.csv', sfn.JsonPath.stringAt('$.query.QueryExecution.QueryExecutionId')),
        csvHeaders: sfn.CsvHeaders.useFirstRow(),
      }),
      // The plan's cutoff goes with every batch: a proposed loss the bucket held before it shows the inventory incomplete.
      // In bytes too: a child execution takes 256 KiB of input, and 500 rows of long blob keys (an S3
      // key is up to 1 KiB; a lost blob's row carries its object's key too) pass that.
      itemBatcher: new sfn.ItemBatcher({
        maxItemsPerBatch: 500,
        maxInputBytesPerBatch: MAX_BATCH_BYTES,
        batchInput: { 'cutoff.$': '$.plan.cutoff' },
      }),
      maxConcurrency: props.maxConcurrency ?? 4,
      toleratedFailurePercentage: 0,
      // Without a writer, Step Functions gathers every batch's summary into the map's output, which
      // may not pass 256 KiB whatever ResultPath discards (States.DataLimitExceeded): a run of some
      // thousands of batches (a bucket's first audit, millions of findings) failed after its last
      // delete. The summaries go to the snapshots bucket (expired with it), the output is their address.
      resultWriterV2: new sfn.ResultWriterV2({ bucket: this.snapshotBucket, prefix: MAP_RESULTS_PREFIX }),
      resultPath: sfn.JsonPath.DISCARD,
    }).itemProcessor(
      new tasks.LambdaInvoke(this, 'ReverifyBatch', {
        lambdaFunction: fn.function,
        payloadResponseOnly: true,
        retryOnServiceExceptions: true,
      }).addRetry(throttled),
    );

    const logGroup = new logs.LogGroup(this, 'StateMachineLogs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(exports.next(plan).next(ddl).next(query).next(reverify)),
      timeout: AUDIT_RUN_TIMEOUT,
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    // Athena reads the snapshots and writes its results; the Distributed Map reads the results.
    const role = this.stateMachine.role;
    const on = (actions: string[], resources: string[]) => role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources }));
    on(['s3:GetObject'], [this.snapshotBucket.arnForObjects('inventory/*')]);
    on(
      ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
      [this.snapshotBucket.arnForObjects('exports/*'), this.snapshotBucket.arnForObjects('athena-results/*')],
    );
    // DynamoDB writes an export's files with the caller's S3 permissions, s3:PutObjectAcl among
    // them (AWS's documented policy for ExportTableToPointInTime): without it the export fails,
    // which no local server shows.
    on(['s3:PutObjectAcl'], [this.snapshotBucket.arnForObjects('exports/*')]);
    // Athena writes a large result in parts, with the caller's permissions, as AWS's managed
    // policy for it (AmazonAthenaFullAccess) grants on a results bucket.
    on(['s3:ListMultipartUploadParts'], [this.snapshotBucket.arnForObjects('athena-results/*')]);
    on(['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], [this.snapshotBucket.bucketArn]);
    on(
      [
        'glue:GetDatabase',
        'glue:GetTable',
        'glue:UpdateTable',
        'glue:GetPartition',
        'glue:GetPartitions',
        'glue:BatchGetPartition',
        'glue:CreatePartition',
        'glue:BatchCreatePartition',
      ],
      [
        stack.formatArn({ service: 'glue', resource: 'catalog' }),
        stack.formatArn({ service: 'glue', resource: 'database', resourceName: databaseName }),
        ...Object.values(GLUE_TABLES).map((t) =>
          stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${databaseName}/${t}` }),
        ),
      ],
    );

    this.deadLetterQueue = failureQueue(this, 'DeadLetterQueue');
    // Only this account's schedules (the default group) may assume it: no confused deputy.
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'EventBridge Scheduler: start the tierlog snapshot audit',
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({ service: 'scheduler', resource: 'schedule-group', resourceName: 'default' }),
          },
        },
      }),
    });
    const schedule = props.schedule ?? scheduler.ScheduleExpression.cron({ hour: '6', minute: '0' });
    new scheduler.Schedule(this, 'Schedule', {
      schedule,
      target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine, {
        role: this.schedulerRole,
        retryAttempts: 2,
        deadLetterQueue: this.deadLetterQueue,
      }),
      description: 'tierlog audit from snapshots',
    });

    // Step Functions publishes each of the three only when it counts one: an hour with a failed
    // run and no timed-out one has no `t`, and CloudWatch answers no data for `f + t + a` there
    // (the alarm would never fire). Each gap counts as 0.
    const failedRuns = new cloudwatch.MathExpression({
      expression: 'FILL(f, 0) + FILL(t, 0) + FILL(a, 0)',
      usingMetrics: { f: this.stateMachine.metricFailed(), t: this.stateMachine.metricTimedOut(), a: this.stateMachine.metricAborted() },
      period: Duration.hours(1),
    });
    const executionsFailed = failedRuns.createAlarm(this, 'ExecutionsFailed', {
      alarmDescription: 'A tierlog snapshot-audit run failed, timed out or was aborted (see the state machine execution).',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const lostBlobs = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'SnapshotLostBlobs',
      dimensionsMap: tierlogDimensions(SNAPSHOT_AUDIT_SERVICE_NAME, deployment),
      statistic: 'Sum',
      period: Duration.hours(1),
    }).createAlarm(this, 'LostBlobs', {
      alarmDescription:
        'The snapshot audit confirmed blobs that HV references and the bucket lacks (invariant 1 broken; see the function logs).',
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const runsNotStarted = new cloudwatch.Alarm(this, 'RunsNotStarted', {
      alarmDescription:
        'EventBridge Scheduler could not start a tierlog snapshot-audit run (see its dead-letter queue): the audit did not run.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: 'Maximum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const inventoryStale = new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'SnapshotInventoryAge',
      dimensionsMap: tierlogDimensions(SNAPSHOT_AUDIT_SERVICE_NAME, deployment),
      statistic: 'Maximum',
      period: Duration.hours(1),
    }).createAlarm(this, 'InventoryStale', {
      alarmDescription:
        'The newest S3 Inventory report a snapshot-audit run found is over three days old: reports stopped arriving (inventory configuration, snapshot bucket policy), and the audit no longer sees new orphans.',
      threshold: INVENTORY_STALE_SECONDS,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      // Every run's plan publishes the age: between runs, the last run's verdict stands (missing
      // data neither clears a stale inventory an hour after the run nor raises a fresh one).
      treatMissingData: cloudwatch.TreatMissingData.IGNORE,
    });
    // A disabled or deleted schedule starts no run: nothing fails, nothing reaches the dead-letter
    // queue, and InventoryStale keeps the last run's verdict. Every run's plan publishes the age:
    // its count is the heartbeat.
    const auditNotRunning = this.notRunningAlarm(schedule, deployment);
    const alarms = [executionsFailed, lostBlobs, runsNotStarted, inventoryStale, ...(auditNotRunning ? [auditNotRunning] : [])];
    addAlarmActions(alarms, props.alarmActions);
    // Deployed on its own too: the person an alarm pages finds its runbook row from the alarm alone.
    pointAlarmsAtRunbook(this);
    this.alarms = { executionsFailed, lostBlobs, runsNotStarted, inventoryStale, ...(auditNotRunning ? { auditNotRunning } : {}) };
  }

  /**
   * {@link AuditAtScale.alarms}' `auditNotRunning` for runs on `schedule`: no `SnapshotInventoryAge`
   * data point (one per run's plan) in two intervals of the schedule and the state machine's 24-hour
   * timeout (a run's plan may publish up to that late), in hourly periods; undefined when the
   * interval is not read, or that window is over the 7 days an alarm of hourly periods evaluates.
   */
  private notRunningAlarm(schedule: scheduler.ScheduleExpression, deployment: string | undefined): cloudwatch.Alarm | undefined {
    const interval = sweepIntervalOf([schedule.expressionString]);
    if (interval === undefined) return undefined;
    const hours = Math.ceil((2 * interval.toMilliseconds() + AUDIT_RUN_TIMEOUT.toMilliseconds()) / 3_600_000);
    if (hours > MAX_HOURLY_EVALUATION_PERIODS) return undefined;
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: 'SnapshotInventoryAge',
      dimensionsMap: tierlogDimensions(SNAPSHOT_AUDIT_SERVICE_NAME, deployment),
      statistic: cloudwatch.Stats.SAMPLE_COUNT,
      period: Duration.hours(1),
    }).createAlarm(this, 'AuditNotRunning', {
      alarmDescription: `No tierlog snapshot-audit run reached its plan for ${Duration.hours(hours).toHumanString()}: its schedule is disabled or deleted, or every run stops before its plan (see the state machine's executions and the schedule); orphans and lost blobs are not looked for.`,
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: hours,
      datapointsToAlarm: hours,
      // No data is no run: the case this alarm is for.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }

  /** The cdk-nag AwsSolutions findings of this part, each with its reason. */
  nagAcknowledgements(): Array<{ construct: IConstruct; id: string; reason: string }> {
    const lid = (c: IConstruct) => Stack.of(this).resolve((c.node.defaultChild as CfnElement).logicalId) as string;
    const snapshots = lid(this.snapshotBucket);
    const role = this.stateMachine.role;
    // The ARNs as cdk-nag prints them, in this stack: with its account and region written out when
    // it has them (<AWS::Region> otherwise), as the findings carry them.
    const stack = Stack.of(this);
    const database = (this.database.databaseInput as glue.CfnDatabase.DatabaseInputProperty).name;
    const prefixReason =
      'Object access under one fixed prefix of the snapshots bucket (inventory, exports, Athena results are written under generated keys), exact actions.';
    const athenaReason =
      "Added by the Step Functions Athena integration (AthenaStartQueryExecution): Athena runs the query with the caller's rights on the Glue catalog and on S3 objects of the tables; the workgroup enforces its own results location.";
    const acks: Array<{ construct: IConstruct; id: string; reason: string }> = [
      ...['athena-results', 'exports', 'inventory'].map((p) => ({
        construct: role,
        id: `AwsSolutions-IAM5[Resource::<${snapshots}.Arn>/${p}/*]`,
        reason: prefixReason,
      })),
      {
        construct: role,
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Actions that take no resource ARN in IAM, only: lakeformation:GetDataAccess (the Step Functions Athena integration), ' +
          "the log delivery actions of the state machine's logging (logs:*LogDelivery, DescribeLogGroups, DescribeResourcePolicies, PutResourcePolicy) and X-Ray's of its tracing; no S3 action (the integration's on * are removed).",
      },
      {
        construct: this.deadLetterQueue,
        id: 'AwsSolutions-SQS3',
        reason:
          "This queue IS a dead-letter queue: the audit schedule's DeadLetterConfig, which cdk-nag does not recognise as one. " +
          'It is watched by the RunsNotStarted alarm.',
      },
      { construct: role, id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::<${snapshots}>/*]`, reason: athenaReason },
      {
        construct: role,
        id: `AwsSolutions-IAM5[Resource::${nagText(this, stack.formatArn({ region: '', account: '', service: 's3', resource: this.snapshotBucket.bucketName, resourceName: `${ATHENA_RESULTS_PREFIX}/*` }))}]`,
        reason: `Added by the Step Functions Athena integration for the results location its tasks name (the work group's): writes under ${ATHENA_RESULTS_PREFIX}/ of the snapshots bucket only.`,
      },
      {
        construct: role,
        id: `AwsSolutions-IAM5[Resource::${nagText(this, stack.formatArn({ service: 'glue', resource: 'table', resourceName: `${database}/*` }))}]`,
        reason: athenaReason,
      },
      {
        construct: role,
        id: `AwsSolutions-IAM5[Resource::${nagText(this, stack.formatArn({ service: 'glue', resource: 'userDefinedFunction', resourceName: `${database}/*` }))}]`,
        reason: athenaReason,
      },
      {
        construct: role,
        id: `AwsSolutions-IAM5[Resource::<${lid(this.function)}.Arn>:*]`,
        reason: 'Added by LambdaInvoke: the qualified ARNs (versions, aliases) of the audit function only.',
      },
      ...[this.props.resources.objectsTable, this.props.resources.changeLogTable].map((t) => ({
        construct: role,
        id: `AwsSolutions-IAM5[Resource::${nagArn(t, t.tableArn)}/export/*]`,
        reason: 'DescribeExport of the exports of this one table: export ids are generated per export.',
      })),
      ...defaultRuntimeFinding(this.function),
    ];
    if (this.props.delete) {
      acks.push({
        construct: this.functionRole,
        id: `AwsSolutions-IAM5[Resource::<${lid(this.props.resources.bucket)}.Arn>/${this.props.resources.prefix}/*]`,
        reason: 'Blob keys are generated per write; the deletes are limited to the tierlog prefix of this one bucket.',
      });
    }
    for (const child of this.stateMachine.node.children) {
      if (child.node.id === 'DistributedMapPolicy') {
        // As the Distributed Map names them (the state machine's name, split out of its ARN).
        const name = Arn.split(this.stateMachine.stateMachineArn, ArnFormat.COLON_RESOURCE_NAME).resourceName;
        const exec = nagText(
          this,
          stack.formatArn({ service: 'states', resource: 'execution', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
        );
        for (const tail of ['/*:*', ':*'])
          acks.push({
            construct: child,
            id: `AwsSolutions-IAM5[Resource::${exec}${tail}]`,
            reason: 'Added by the Distributed Map: its own child executions of this state machine only.',
          });
      }
    }
    return acks;
  }

  /** Acknowledges {@link nagAcknowledgements}. */
  acknowledgeNagFindings(): void {
    for (const ack of this.nagAcknowledgements()) Validations.of(ack.construct).acknowledge({ id: ack.id, reason: ack.reason });
  }
}
