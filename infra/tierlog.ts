/**
 * `Tierlog`: everything tierlog needs in an AWS account, as one construct to drop into a stack:
 * the change-log and objects tables, the LT bucket, the scheduled sweeper, the reference objects
 * function, alarms and a dashboard; `grantWriter` / `writerEnvironment` for your own writers.
 */
import { type Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { configToEnv, hvAttributeNames, validateConfig } from '../lib/config.js';
import type { HvAttributeNames } from '../lib/tiered/hv-table.js';
import { DEFAULT_LEASE_SHARDS, DEFAULT_PREFIX } from '../lib/constants.js';
import { ValidationError } from '../lib/errors.js';
import { assertOptions, optionNames } from '../lib/plain-options.js';
import { checkSnapshotHvAttributes } from '../lib/recovery/snapshot-audit/query.js';
import { changeLogTableSchema, objectsTableSchema } from '../lib/schema/tables.js';
import { AUDIT_AT_SCALE_OPTIONS, AuditAtScale, type AuditAtScaleOptions } from './audit-at-scale.js';
import { BlobBucket } from './bucket.js';
import {
  routineExpiredAgeOf,
  stuckWindowOf,
  sweepIntervalOf,
  sweeperSilenceOf,
  TierlogMonitoring,
  type TierlogAlarms,
} from './monitoring.js';
import { acknowledgeNagFindings } from './nag.js';
import { FUNCTION_OPTIONS, functionOptionsOf, refuseNonSchedules, refuseTokenOptions, type TierlogFunctionOptions } from './function.js';
import { ObjectsFunction, type ObjectsTuningProps } from './objects-function.js';
import { ObjectsStreamCleanup, type ObjectsStreamTuningProps } from './objects-stream.js';
import { pointAlarmsAtRunbook } from './failure-handling.js';
import { refuseSharedObjectsTable, refuseSharedPrefix } from './one-store-per-prefix.js';
import { checkOwnObjectsTable, validateOwnObjectsTable } from './own-objects-table.js';
import { requireSameEnvironment } from './same-environment.js';
import { addTierlogOutputs } from './outputs.js';
import {
  grantOperator,
  grantOperatorReadOnly,
  grantSweeper,
  grantWriter,
  refuseAccessPointAlias,
  type TierlogResources,
} from './permissions.js';
import { type SweeperTuningProps, TierlogSweeper } from './sweeper.js';
import { checkRemovalPolicy, schemaTable } from './tables.js';
import { TableReplacementGuard } from './table-guard.js';
import { dimensionValueProblem } from '../lib/handlers/names.js';

/**
 * Properties of {@link Tierlog}. All optional. Its numbers and durations are literals: each is
 * checked at synth, and one given as a CloudFormation token (a parameter) is refused. A name it
 * does not know (a JavaScript app's `alarmAction`), here or in `sweeperTuning`,
 * `objectsStreamTuning`, `objectsTuning` or the `auditAtScale` options, is refused too (a
 * `ValidationError` naming it), never ignored.
 */
export interface TierlogProps extends TierlogFunctionOptions {
  /**
   * Your own objects table ("HV") instead of a new one. The construct grants on it and points its
   * functions at it; it neither changes nor deletes it. It needs:
   *  - its partition key, a string, named `hvAttributes.key` (default `key`), and no sort key;
   *  - its stream, `OLD_IMAGE` or `NEW_AND_OLD_IMAGES` (so `tableStreamArn` is set: the stream
   *    function deletes the blob an old image names, for expiry and for the blobs dead writers
   *    replaced);
   *  - TTL on `hvAttributes.expiresAt` (default `expiresAt`);
   *  - with `auditAtScale`, point-in-time recovery (its runs export the table).
   * It must be in the stack's region and account (the functions address it by name in their
   * own): refused at synth, or at deploy by a CloudFormation rule in an environment-agnostic stack.
   * A table defined in this app is checked and refused (an `Error` naming each problem) when it
   * lacks one of these; an imported one (`TableV2.fromTableAttributes` with `tableStreamArn`)
   * cannot be read, so check it yourself: with another stream view type every blob of an
   * expired or replaced object leaks (a `tableStreamArn` of another table is refused, and so is
   * one of another region or account than the stack's, as the table would be). Under a
   * customer managed KMS key, each role gets the key actions its DynamoDB actions need on the
   * table's `encryptionKey`: import the table with it (`fromTableAttributes({ encryptionKey })`),
   * or every function's first request is refused by KMS, on AWS only. One store's: another
   * `Tierlog` of the app given the same table (one construct, or one name in one account and
   * region) is refused at synth, as an item names its blob by key alone (objects written through
   * one would be unreadable through the other).
   *
   * @default - a new table from the objects schema
   */
  readonly objectsTable?: dynamodb.ITableV2;
  /**
   * Your own bucket ("LT") for the blobs instead of a new one. It should be versioned, with a
   * noncurrent-version expiry and an abort rule for incomplete multipart uploads (see
   * README "What it creates"); the construct grants on `<prefix>/` only and changes nothing else.
   * A bucket defined in this app is refused at synth (naming each problem) when no enabled
   * lifecycle rule over `<prefix>/` aborts incomplete multipart uploads, or, versioned, expires
   * noncurrent versions: without them, uploads nothing names and every deleted blob are kept
   * for ever; and when a rule that reaches `<prefix>/` expires current objects or moves them to
   * `GLACIER` or `DEEP_ARCHIVE`, or to `INTELLIGENT_TIERING` with an archive tier over them (live
   * blobs deleted, or unreadable until restored). An imported
   * bucket cannot be read: check it yourself. In another region or account
   * than the stack it is refused, as `objectsTable` is. A general purpose bucket: a directory
   * bucket (S3 Express One Zone, a name ending `--x-s3`) is refused, as `loadConfig` refuses it
   * (its listings are unsorted, and it has no S3 Inventory and no versioning), and so is an access
   * point's alias (a name ending `-s3alias`, `--ol-s3` or `.mrap`: no IAM grant can name it). Under a customer managed KMS
   * key (its `encryptionKey`), each role gets the key actions its S3 actions need on that key (on
   * the key an alias names; an alias imported by its name alone is refused).
   *
   * @default - a new versioned bucket with access logging
   */
  readonly bucket?: s3.IBucket;
  /**
   * Add stack outputs named after the variables `loadConfig` reads (`ChangeLogTable`,
   * `ObjectsTable`, `Bucket`, `Prefix`, `LeaseShards`, `HvAttributes`, `ReplacedBlobCleanup`),
   * the objects function's URL, the sweeper's name and the dashboard's, for writers and the CLI.
   * (`TierlogStack` adds them itself.)
   *
   * @default false
   */
  readonly outputs?: boolean;
  /**
   * Key prefix of the blobs in the bucket, without leading or trailing `/`
   * (`TIERLOG_PREFIX`). Writers and the sweeper get S3 rights under `<prefix>/` only.
   * `<prefix>/` of a bucket is one store's: another `Tierlog` of the app given the same bucket
   * and prefix is refused at synth (an audit of either would delete the other's blobs).
   *
   * @default 'blobs'
   */
  readonly prefix?: string;
  /**
   * Number of partitions of the change log's lease index (`TIERLOG_LEASE_SHARDS`, 1..256).
   * Writers spread over them; a sweep queries each. Writers and sweeper must agree: always give
   * your writers {@link Tierlog.writerEnvironment}.
   *
   * @default 4
   */
  readonly leaseShards?: number;
  /**
   * Attribute names of the objects table, by logical name (`TIERLOG_HV_ATTRIBUTES`), e.g.
   * `{ blob: 'ptr', body: 'data' }`. The writers, the sweeper and the objects function all get
   * them through {@link Tierlog.writerEnvironment}; `key` also names the table's partition key.
   * Literal strings (one given as a CloudFormation token is refused at synth).
   *
   * @default - the default names (`DEFAULT_HV_ATTRIBUTES`)
   */
  readonly hvAttributes?: Partial<HvAttributeNames>;
  /**
   * When the sweeper runs (EventBridge Scheduler expression).
   *
   * @default scheduler.ScheduleExpression.rate(Duration.minutes(1))
   */
  readonly sweepSchedule?: scheduler.ScheduleExpression;
  /**
   * When the sweeper's housekeeping sweep runs: the sweep plus the checks for live leases
   * further ahead than any writer takes and for items without a shard (rare faults; the every-
   * minute sweep skips them, so an idle sweep costs one lease-index query per shard).
   *
   * @default scheduler.ScheduleExpression.rate(Duration.minutes(10))
   */
  readonly sweepHousekeepingSchedule?: scheduler.ScheduleExpression;
  /**
   * Fan-out: the number of schedules, each sweeping its own subset of the lease shards (event
   * `{"shards":[...]}`), so a large backlog is swept by that many functions at once.
   * 1..`leaseShards`. Each group is two schedules and two alarms: a number that puts the stack
   * past its 500 resources (about 110 groups) is refused at synth, naming the most that fit.
   *
   * @default 1
   */
  readonly sweeperParallelism?: number;
  /**
   * Reserved concurrency of the sweeper: the most sweeps running at once (they are safe to
   * overlap; this bounds the load on the tables). At least `sweeperParallelism`: each fan-out
   * group needs a slot.
   *
   * @default 2 × sweeperParallelism
   */
  readonly sweeperReservedConcurrency?: number;
  /**
   * Sweeper timeout, 1 to 15 minutes. A sweep stops taking new work 10 s
   * (`sweeperTuning.deadlineMargin`) before it; claims it
   * leaves behind expire and are taken over by a later sweep. Shorter is refused: with 10 s or
   * less a sweep never takes any work, and one killed mid-settle holds its instance until its
   * claim expires. A literal duration (a CloudFormation parameter is refused: it is checked at synth).
   *
   * @default Duration.minutes(5)
   */
  readonly sweeperTimeout?: Duration;
  /**
   * The sweeper's tuning (claim, skew margin, upload window, concurrency, upload listing bound,
   * deadline margins, quarantine recheck, retry of failed deletes, the scan for items without a
   * shard), passed to its function as the `TIERLOG_*` variables `tierlog sweep` reads too, and
   * checked at synth as the sweeper checks it. The quarantine alarm follows its recheck.
   *
   * @default - the library's defaults (see `SweeperTuningProps`)
   */
  readonly sweeperTuning?: SweeperTuningProps;
  /**
   * The objects function's store tuning (the inline threshold), passed to it as
   * `TIERLOG_INLINE_THRESHOLD` and checked at synth as the store checks it. Not in
   * {@link Tierlog.writerEnvironment}: writers of one store may differ (see `ObjectsTuningProps`).
   * Refused with `objectsFunction: false`.
   *
   * @default - the library's defaults (see `ObjectsTuningProps`)
   */
  readonly objectsTuning?: ObjectsTuningProps;
  /**
   * The objects-stream function's tuning (blob deletes at once, deadline margin), passed to it as
   * `TIERLOG_STREAM_CONCURRENCY` and `TIERLOG_STREAM_DEADLINE_MARGIN_MS` and checked at synth as
   * `StreamCleanup` checks it; the margin must be below the function's 1 minute timeout.
   *
   * @default - the library's defaults (see `ObjectsStreamTuningProps`)
   */
  readonly objectsStreamTuning?: ObjectsStreamTuningProps;
  /**
   * Sweeper memory (MB); CPU and network scale with it. An integer in 128..10240 (Lambda's bounds;
   * refused otherwise at synth).
   *
   * @default 512
   */
  readonly sweeperMemorySize?: number;
  /**
   * How long an overwritten or deleted blob stays recoverable as a noncurrent version in the
   * bucket (the undo window for a wrong delete). Expired delete markers are removed. Whole days,
   * at least 1 (what S3 lifecycle takes). A setting of the bucket the construct creates: refused
   * with `bucket` (set your bucket's lifecycle instead).
   *
   * @default Duration.days(7)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * Origins of browser clients of upload sessions and presigned GETs: the bucket answers CORS
   * for them and exposes `ETag` (see `BlobBucketProps.corsAllowedOrigins`). A setting of the
   * bucket the construct creates: refused with `bucket` (add the rule to your bucket instead).
   *
   * @default none
   */
  readonly corsAllowedOrigins?: readonly string[];
  /**
   * Alarm when the oldest expired writer instance found by a sweep is older than this. At least
   * the sweeper's skew margin plus the shortest interval of its sweep and housekeeping schedules
   * (a housekeeping sweep takes expired instances too), rounded up to minutes (2 minutes by
   * default): a dead writer's instance is found a skew margin after its lease ended, by a sweep up
   * to an interval later, so a lower threshold fires on every routine writer exit.
   *
   * @default that floor plus 13 minutes: Duration.minutes(15) with the default skew margin and schedule
   */
  readonly oldestExpiredAgeThreshold?: Duration;
  /**
   * Alarm when the objects-stream function (expiry cleanup) is this far behind the objects
   * table's stream (records are lost after 24 h). From the function's 1 minute timeout (a batch
   * retried once is older than that) to under 24 hours.
   *
   * @default Duration.hours(1)
   */
  readonly streamIteratorAgeThreshold?: Duration;
  /**
   * Deploy the reference storage writer `functions/objects.ts` with a Function URL.
   *
   * @default true
   */
  readonly objectsFunction?: boolean;
  /**
   * Authentication of the objects function's URL. `NONE` makes it public. Refused with
   * `objectsFunction: false`.
   *
   * @default lambda.FunctionUrlAuthType.AWS_IAM
   */
  readonly objectsFunctionUrlAuth?: lambda.FunctionUrlAuthType;
  /**
   * Removal policy of the tables, buckets and log groups. Anything but `RETAIN` also
   * turns the tables' deletion protection off, and `DESTROY` empties the buckets this construct
   * made before deleting them (for scratch stacks only: the change log and the objects are your
   * data; a bucket you pass in is never emptied). `SNAPSHOT` is refused: CloudFormation snapshots
   * none of these (it deletes them); copy the tables with point-in-time recovery or AWS Backup.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A deliberate replacement of a table (a migration: `hvAttributes.key` changed on the objects
   * table the construct makes, or `objectsTable` given instead of it), or move of the store (to
   * another `prefix`, bucket or `hvAttributes`): a word (1 to 40 of `[A-Za-z0-9_+=,.@-]`) that
   * renames the guards against them. Without it, CloudFormation refuses an update that would point
   * the functions at a new table, or at a store where the objects written before cannot be read
   * (`infra/table-guard.ts`); the table left behind is retained, and its objects are no longer answered.
   *
   * @default - no replacement: an update that would replace a table fails and rolls back
   */
  readonly tableReplacementAcknowledged?: string;
  /**
   * Actions of every alarm (on ALARM and on OK), e.g. `new SnsAction(topic)`. Anything else (a
   * topic's ARN) is refused at synth, naming it.
   *
   * @default - none
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];
  /**
   * Acknowledge the cdk-nag AwsSolutions findings tierlog has by design, each with its reason
   * (see `infra/nag.ts`). Set `false` to review them yourself.
   *
   * @default true
   */
  readonly acknowledgeNagFindings?: boolean;
  /**
   * Audit at any scale from snapshots (`infra/audit-at-scale.ts`): a daily S3 Inventory, scheduled
   * table exports, Glue + Athena, and a state machine that re-verifies what they propose and reports
   * it (with `AuditAtScaleOptions.delete`, deletes the orphans and removes the objects expired long
   * ago). `true` for the defaults, or its options. Its S3 Inventory is a setting of the bucket the construct creates:
   * refused with `bucket` (configure your bucket's inventory and run `tierlog audit --inventory`).
   *
   * @default - off
   */
  readonly auditAtScale?: boolean | AuditAtScaleOptions;
}

/** tierlog's tables, bucket, sweeper, objects function and monitoring. */
export class Tierlog extends Construct {
  /** The change-log table (one item per writer instance; lease index `byLease`). */
  public readonly changeLogTable: dynamodb.TableV2;
  /** The objects table ("HV"): inline objects and tombstones (yours, when given). */
  public readonly objectsTable: dynamodb.ITableV2;
  /** The bucket ("LT") that holds the blobs under {@link prefix} (yours, when given). */
  public readonly bucket: s3.IBucket;
  /** The bucket that receives {@link bucket}'s server access logs; none for a bucket of yours. */
  public readonly accessLogsBucket?: s3.Bucket;
  /** Key prefix of the blobs. */
  public readonly prefix: string;
  /** Number of lease shards. */
  public readonly leaseShards: number;
  /** The scheduled sweeper (function, schedules, dead-letter queue). */
  public readonly sweeper: TierlogSweeper;
  /** The sweeper function. */
  public readonly sweeperFunction: lambda.IFunction;
  /** Scheduler's dead-letter queue for undeliverable sweep events. */
  public readonly deadLetterQueue: sqs.IQueue;
  /**
   * The function on the objects table's stream that deletes the blob an item stopped pointing at:
   * removed (DynamoDB TTL turns expired objects into removals) or replaced by a writer that could
   * not delete it; its on-failure queue.
   */
  public readonly objectsStream: ObjectsStreamCleanup;
  /** The reference objects function, unless `objectsFunction: false`. */
  public readonly objectsFunction?: lambda.IFunction;
  /** Its Function URL. */
  public readonly objectsFunctionUrl?: lambda.FunctionUrl;
  /** The part that holds them (function, role, log group, URL, alarm), unless `objectsFunction: false`. */
  public readonly objectsApi?: ObjectsFunction;
  /** The alarms. */
  public readonly alarms: TierlogAlarms;
  /**
   * With `sweeperParallelism` above 1, one not-running alarm per fan-out group
   * (`TierlogMonitoring.sweeperGroupsNotRunning`); empty otherwise.
   */
  public readonly sweeperGroupsNotRunning: readonly cloudwatch.Alarm[];
  /**
   * With `sweeperParallelism` above 1, one housekeeping-not-running alarm per fan-out group
   * (`TierlogMonitoring.housekeepingGroupsNotRunning`); empty otherwise.
   */
  public readonly housekeepingGroupsNotRunning: readonly cloudwatch.Alarm[];
  /** The sweeper dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /**
   * The environment variables `loadConfig` reads (`TIERLOG_CHANGELOG_TABLE`,
   * `TIERLOG_OBJECTS_TABLE`, `TIERLOG_BUCKET`, `TIERLOG_PREFIX`, `TIERLOG_LEASE_SHARDS`,
   * `TIERLOG_HV_ATTRIBUTES`, and `TIERLOG_REPLACED_BLOB_CLEANUP=stream`, since the stack's
   * stream function deletes what a dead writer replaced): give them to your writer functions.
   * Nothing secret.
   */
  public readonly writerEnvironment: Readonly<Record<string, string>>;
  /**
   * The `deployment` dimension of every metric this construct's functions publish, and that its
   * alarms and dashboard watch (`TIERLOG_METRICS_DEPLOYMENT`): `<stack name>/<construct path>`,
   * so that deployments in one account and region do not answer each other's alarms.
   */
  public readonly metricsDeployment: string;
  /** The audit at scale, when `auditAtScale` is set. */
  public readonly auditAtScale?: AuditAtScale;

  private readonly resources: TierlogResources;

  constructor(scope: Construct, id: string, props: TierlogProps = {}) {
    super(scope, id);
    // A prop it does not know (a JavaScript app's `alarmAction`, `Prefix`) was ignored: the default
    // deployed (alarms paging no one, blobs under another prefix).
    assertOptions(props, TIERLOG_PROPS, 'Tierlog');
    if (typeof props.auditAtScale === 'object' && props.auditAtScale !== null && !Array.isArray(props.auditAtScale)) {
      assertOptions(props.auditAtScale, AUDIT_AT_SCALE_OPTIONS, 'auditAtScale');
    }
    this.prefix = props.prefix ?? DEFAULT_PREFIX;
    this.leaseShards = props.leaseShards ?? DEFAULT_LEASE_SHARDS;
    refuseTokenProps(props);
    validateSettings(this.prefix, this.leaseShards, props.hvAttributes);
    checkAuditAtScaleProp(props.auditAtScale);
    refuseNonSchedules({
      sweepSchedule: props.sweepSchedule,
      sweepHousekeepingSchedule: props.sweepHousekeepingSchedule,
      ...(typeof props.auditAtScale === 'object' ? { 'auditAtScale.schedule': props.auditAtScale.schedule } : {}),
    });
    checkBooleanProps(props);
    checkResourceProps(props);
    checkRemovalPolicy(props.removalPolicy, 'removalPolicy');
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const tableOptions = { removalPolicy, deletionProtection: removalPolicy === RemovalPolicy.RETAIN };

    this.changeLogTable = schemaTable(this, 'ChangeLogTable', changeLogTableSchema, tableOptions);
    const hvNames = hvAttributeNames(
      props.hvAttributes !== undefined ? { ...PLACEHOLDER_CONFIG, hvAttributes: props.hvAttributes } : PLACEHOLDER_CONFIG,
    );
    // TTL deletes expired objects; the stream's removals let the stream function delete their blobs.
    this.objectsTable =
      props.objectsTable ??
      schemaTable(
        this,
        'ObjectsTable',
        { ...objectsTableSchema, partitionKey: { ...objectsTableSchema.partitionKey, name: hvNames.key } },
        { ...tableOptions, dynamoStream: dynamodb.StreamViewType.OLD_IMAGE, timeToLiveAttribute: hvNames.expiresAt },
      );
    if (props.objectsTable !== undefined) {
      requireSameEnvironment(this, 'objectsTable', props.objectsTable);
      const ownTableOptions = { pointInTimeRecovery: props.auditAtScale !== undefined && props.auditAtScale !== false };
      checkOwnObjectsTable(props.objectsTable, hvNames, ownTableOptions);
      validateOwnObjectsTable(this, props.objectsTable, hvNames, ownTableOptions);
      refuseSharedObjectsTable(this, (node): node is Tierlog => node instanceof Tierlog);
    }
    if (props.bucket !== undefined) {
      // Settings of the bucket the construct creates: silently dropped, they would promise an undo
      // window or a CORS rule the user's bucket does not have.
      for (const setting of ['noncurrentVersionExpiration', 'corsAllowedOrigins'] as const) {
        if (props[setting] !== undefined) {
          throw new Error(`${setting} configures the bucket the construct creates; with your own bucket, set it on that bucket`);
        }
      }
      requireSameEnvironment(this, 'bucket', props.bucket);
      refuseAccessPointAlias(props.bucket, 'bucket');
      validateBucketName(props.bucket);
      this.bucket = props.bucket;
      refuseSharedPrefix(this, (node): node is Tierlog => node instanceof Tierlog);
    } else {
      const blobs = new BlobBucket(this, 'Blobs', {
        removalPolicy,
        ...(props.noncurrentVersionExpiration ? { noncurrentVersionExpiration: props.noncurrentVersionExpiration } : {}),
        ...(props.corsAllowedOrigins ? { corsAllowedOrigins: props.corsAllowedOrigins } : {}),
      });
      this.bucket = blobs.bucket;
      this.accessLogsBucket = blobs.accessLogsBucket;
    }

    this.resources = { changeLogTable: this.changeLogTable, objectsTable: this.objectsTable, bucket: this.bucket, prefix: this.prefix };
    new TableReplacementGuard(this, 'TablesGuard', {
      changeLogTable: this.changeLogTable,
      objectsTable: this.objectsTable,
      store: { bucket: this.bucket, prefix: this.prefix, hvAttributes: hvNames },
      ...(props.tableReplacementAcknowledged !== undefined ? { acknowledged: props.tableReplacementAcknowledged } : {}),
    });
    this.writerEnvironment = configToEnv({
      changeLogTable: this.changeLogTable.tableName,
      objectsTable: this.objectsTable.tableName,
      bucket: this.bucket.bucketName,
      prefix: this.prefix,
      leaseShards: this.leaseShards,
      ...(props.hvAttributes !== undefined ? { hvAttributes: { ...props.hvAttributes } } : {}),
      // The stack runs the objects-stream function: it deletes what a dead writer replaced.
      replacedBlobCleanup: 'stream',
    });

    const functionOptions = functionOptionsOf({ ...props, removalPolicy });
    // Tells this deployment's metrics from those of every other tierlog in the account and region
    // (a stack name is unique there; the path, within the stack): each alarm watches its own.
    const stack = Stack.of(this);
    const metricsDeployment = `${stack.stackName}/${this.node.path.slice(stack.node.path.length + 1)}`;
    const unpublishable = dimensionValueProblem(metricsDeployment);
    if (unpublishable !== undefined) {
      throw new Error(
        `the deployment this Tierlog's metrics are told apart by, its stack name and construct path ${JSON.stringify(metricsDeployment.slice(0, 80))}, ${unpublishable}: give the construct (and its scopes) ids CloudWatch takes`,
      );
    }
    this.metricsDeployment = metricsDeployment;
    this.sweeper = new TierlogSweeper(this, 'Sweeper', {
      metricsDeployment,
      resources: this.resources,
      environment: { ...this.writerEnvironment },
      leaseShards: this.leaseShards,
      ...functionOptions,
      ...(props.sweepSchedule ? { schedule: props.sweepSchedule } : {}),
      ...(props.sweepHousekeepingSchedule ? { housekeepingSchedule: props.sweepHousekeepingSchedule } : {}),
      ...(props.sweeperParallelism !== undefined ? { parallelism: props.sweeperParallelism } : {}),
      ...(props.sweeperReservedConcurrency !== undefined ? { reservedConcurrency: props.sweeperReservedConcurrency } : {}),
      ...(props.sweeperTimeout ? { timeout: props.sweeperTimeout } : {}),
      ...(props.sweeperMemorySize !== undefined ? { memorySize: props.sweeperMemorySize } : {}),
      ...(props.sweeperTuning !== undefined ? { tuning: props.sweeperTuning } : {}),
    });
    this.sweeperFunction = this.sweeper.function;
    this.deadLetterQueue = this.sweeper.deadLetterQueue;

    this.objectsStream = new ObjectsStreamCleanup(this, 'ObjectsStream', {
      metricsDeployment,
      resources: this.resources,
      environment: { ...this.writerEnvironment },
      blobAttribute: hvNames.blob,
      ...functionOptions,
      ...(props.streamIteratorAgeThreshold ? { iteratorAgeThreshold: props.streamIteratorAgeThreshold } : {}),
      ...(props.objectsStreamTuning !== undefined ? { tuning: props.objectsStreamTuning } : {}),
    });

    if (props.objectsFunction === false && props.objectsTuning !== undefined) {
      throw new Error("objectsTuning configures the objects function; with objectsFunction: false, set your own writers' store options");
    }
    if (props.objectsFunction === false && props.objectsFunctionUrlAuth !== undefined) {
      // Silently dropped, it would read as the auth of a URL that does not exist.
      throw new Error("objectsFunctionUrlAuth configures the objects function's URL; with objectsFunction: false there is none");
    }
    const urlAuth: unknown = props.objectsFunctionUrlAuth;
    if (urlAuth !== undefined && !Object.values<unknown>(lambda.FunctionUrlAuthType).includes(urlAuth)) {
      // A context value ("none") reached the template as given: CloudFormation refused the URL at deploy.
      throw new Error(`objectsFunctionUrlAuth must be AWS_IAM or NONE (lambda.FunctionUrlAuthType), got ${JSON.stringify(urlAuth)}`);
    }
    if (props.objectsFunction ?? true) {
      this.objectsApi = new ObjectsFunction(this, 'ObjectsApi', {
        resources: this.resources,
        environment: { ...this.writerEnvironment },
        ...(props.objectsTuning !== undefined ? { tuning: props.objectsTuning } : {}),
        authType: props.objectsFunctionUrlAuth ?? lambda.FunctionUrlAuthType.AWS_IAM,
        ...functionOptions,
        ...(props.alarmActions ? { alarmActions: props.alarmActions } : {}),
      });
      this.objectsFunction = this.objectsApi.function;
      this.objectsFunctionUrl = this.objectsApi.url;
    }

    if (props.auditAtScale) {
      try {
        // Its query reads these names from the exports: one it cannot read would fail every run at its plan.
        checkSnapshotHvAttributes({ key: hvNames.key, blob: hvNames.blob, deleted: hvNames.deleted, expiresAt: hvNames.expiresAt });
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        throw new Error(`auditAtScale cannot read ${err.field} from the table exports: ${err.message}`);
      }
      if (this.accessLogsBucket === undefined) {
        // An S3 Inventory configuration is a property of the bucket: an imported bucket cannot get one here.
        throw new Error(
          'auditAtScale needs the bucket the construct creates; with your own bucket, configure its S3 Inventory yourself and run `tierlog audit --inventory`',
        );
      }
      this.auditAtScale = new AuditAtScale(this, 'AuditAtScale', {
        metricsDeployment,
        ...(props.auditAtScale === true ? {} : props.auditAtScale),
        resources: this.resources,
        accessLogsBucket: this.accessLogsBucket,
        environment: { ...this.writerEnvironment },
        ...functionOptions,
        ...(props.alarmActions ? { alarmActions: props.alarmActions } : {}),
      });
    }

    const expressionOf = (s: scheduler.Schedule): string => (s.node.defaultChild as scheduler.CfnSchedule).scheduleExpression;
    const sweepExpressions = this.sweeper.schedules.map(expressionOf);
    const housekeepingExpressions = this.sweeper.housekeepingSchedules.map(expressionOf);
    const sweepInterval = sweepIntervalOf([...sweepExpressions, ...housekeepingExpressions]);
    const monitoring = new TierlogMonitoring(this, 'Monitoring', {
      metricsDeployment,
      sweeperFunction: this.sweeperFunction,
      deadLetterQueue: this.deadLetterQueue,
      objectsStream: this.objectsStream,
      ...(props.oldestExpiredAgeThreshold ? { oldestExpiredAgeThreshold: props.oldestExpiredAgeThreshold } : {}),
      ...(props.sweeperTuning?.quarantineRecheck ? { quarantineRecheck: props.sweeperTuning.quarantineRecheck } : {}),
      ...(props.sweeperTuning?.retryFailed ? { retryFailed: props.sweeperTuning.retryFailed } : {}),
      routineExpiredAge: routineExpiredAgeOf(props.sweeperTuning?.skewMargin, sweepExpressions, housekeepingExpressions),
      sweeperSilence: sweeperSilenceOf([...sweepExpressions, ...housekeepingExpressions], this.sweeper.timeout),
      // Schedules whose interval is not read (`at`, a cron of some days only): five-minute periods.
      ...(sweepInterval !== undefined ? { sweepInterval } : {}),
      stuckWindow: stuckWindowOf(props.sweeperTuning?.shardlessScan, housekeepingExpressions),
      ...(props.alarmActions ? { alarmActions: props.alarmActions } : {}),
      // The dashboard's alarm status shows them too (they have their actions already).
      statusAlarms: [
        ...(this.objectsApi !== undefined ? [this.objectsApi.alarms.serverErrors] : []),
        ...Object.values(this.auditAtScale?.alarms ?? {}),
      ],
    });
    this.alarms = {
      ...monitoring.alarms,
      ...(this.objectsApi !== undefined ? { objectsServerErrors: this.objectsApi.alarms.serverErrors } : {}),
    };
    this.sweeperGroupsNotRunning = monitoring.sweeperGroupsNotRunning;
    this.housekeepingGroupsNotRunning = monitoring.housekeepingGroupsNotRunning;
    this.dashboard = monitoring.dashboard;

    if (props.outputs ?? false) addTierlogOutputs(new Construct(this, 'Outputs'), this);
    pointAlarmsAtRunbook(this);
    if (props.acknowledgeNagFindings ?? true) {
      acknowledgeNagFindings(this);
      this.auditAtScale?.acknowledgeNagFindings();
    }
  }

  /**
   * Grants a storage writer (your Lambda function, a role) exactly what `TieredStore` and
   * `DynamoChangeLog` call: item reads and writes on both tables, and S3 put/get/delete/abort
   * under `<prefix>/` (no listing). Give it {@link writerEnvironment} too.
   */
  grantWriter(grantee: iam.IGrantable): iam.Grant {
    return grantWriter(grantee, this.resources);
  }

  /** Grants what a sweep calls (e.g. a sweeper of your own, outside this construct). */
  grantSweeper(grantee: iam.IGrantable): iam.Grant {
    return grantSweeper(grantee, this.resources);
  }

  /**
   * Grants a read-only operator (`tierlog status | inspect | audit` without `--delete`): reads
   * of the change log, consistent batch reads of the objects table, listing under `<prefix>/`.
   * No write or delete anywhere.
   */
  grantOperatorReadOnly(grantee: iam.IGrantable): iam.Grant {
    return grantOperatorReadOnly(grantee, this.resources);
  }

  /**
   * Grants the full operator: the read-only commands plus `tierlog sweep` and `audit --delete`
   * (the sweeper's rights, and blob deletes under `<prefix>/`).
   */
  grantOperator(grantee: iam.IGrantable): iam.Grant {
    return grantOperator(grantee, this.resources);
  }

  /**
   * Lets `grantee` call the objects function's URL (`lambda:InvokeFunctionUrl`, and
   * `lambda:InvokeFunction` only via the URL).
   *
   * @throws when the construct was built with `objectsFunction: false`.
   */
  grantInvokeObjectsUrl(grantee: iam.IGrantable): iam.Grant {
    if (this.objectsApi === undefined) throw new Error('this Tierlog has no objects function (objectsFunction: false)');
    return this.objectsApi.grantInvokeUrl(grantee);
  }
}

/** The names {@link TierlogProps} has: any other is refused. */
const TIERLOG_PROPS = optionNames<TierlogProps>()(
  ...FUNCTION_OPTIONS,
  'objectsTable',
  'bucket',
  'outputs',
  'prefix',
  'leaseShards',
  'hvAttributes',
  'sweepSchedule',
  'sweepHousekeepingSchedule',
  'sweeperParallelism',
  'sweeperReservedConcurrency',
  'sweeperTimeout',
  'sweeperTuning',
  'objectsTuning',
  'objectsStreamTuning',
  'sweeperMemorySize',
  'noncurrentVersionExpiration',
  'corsAllowedOrigins',
  'oldestExpiredAgeThreshold',
  'streamIteratorAgeThreshold',
  'objectsFunction',
  'objectsFunctionUrlAuth',
  'tableReplacementAcknowledged',
  'alarmActions',
  'acknowledgeNagFindings',
  'auditAtScale',
);

/** Checks prefix and shard count with the library's own validation (what `loadConfig` accepts). */
const PLACEHOLDER_CONFIG = {
  changeLogTable: 'placeholder-changelog',
  objectsTable: 'placeholder-objects',
  bucket: 'placeholder',
  prefix: 'blobs',
  leaseShards: 1,
};

/**
 * Checks the name of a bucket of the user's, when it is a literal (`fromBucketName`), as
 * `loadConfig` will in every function: a name it refuses (a directory bucket among them) fails
 * the synth, not each function's first request after the deploy.
 */
function validateBucketName(bucket: s3.IBucket): void {
  if (!Token.isUnresolved(bucket.bucketName)) validateConfig({ ...PLACEHOLDER_CONFIG, bucket: bucket.bucketName });
}

function validateSettings(prefix: string, leaseShards: number, hvAttributes?: Partial<HvAttributeNames>): void {
  if (Token.isUnresolved(prefix)) throw new Error('prefix must be a literal string: it is part of IAM resource ARNs and conditions');
  // A token (a parameter) was refused as the text that encodes it ("${Token[TOKEN.33]}" is not an
  // attribute name), which says nothing of the value the user gave.
  for (const [name, value] of Object.entries(hvAttributes ?? {})) {
    if (typeof value === 'string' && Token.isUnresolved(value)) {
      throw new Error(
        `hvAttributes.${name} must be a literal string, not a CloudFormation token (a parameter): the names key the objects table, filter its stream and name the store's guard, all at synth`,
      );
    }
  }
  validateConfig({ ...PLACEHOLDER_CONFIG, prefix, leaseShards, ...(hvAttributes !== undefined ? { hvAttributes } : {}) });
}

/**
 * Refuses a switch of {@link TierlogProps} that is not a boolean: a CDK context value is a string,
 * and `"false"` is truthy (`objectsFunction: "false"` deployed the objects function and its URL,
 * `acknowledgeNagFindings: "false"` acknowledged the findings the user meant to review). The
 * function option `bundleAwsSdk` is checked by each function (`TierlogFunction`).
 */
function checkBooleanProps(props: TierlogProps): void {
  for (const prop of ['objectsFunction', 'outputs', 'acknowledgeNagFindings'] as const) {
    const value: unknown = props[prop];
    if (value !== undefined && typeof value !== 'boolean') {
      throw new Error(`${prop} must be true or false, got ${JSON.stringify(value)} (${typeof value})`);
    }
  }
}

/**
 * Refuses an `objectsTable` or `bucket` that is no construct: a JavaScript app's (or a CDK context
 * value's) table or bucket name failed the synth with `TypeError: Cannot read properties of
 * undefined (reading 'path')`, naming neither the prop nor the value.
 */
function checkResourceProps(props: TierlogProps): void {
  const expected = {
    objectsTable: "a dynamodb.ITableV2 (dynamodb.TableV2.fromTableName(this, 'Objects', name) for a table by its name)",
    bucket: "an s3.IBucket (s3.Bucket.fromBucketName(this, 'Blobs', name) for a bucket by its name)",
  } as const;
  for (const prop of ['objectsTable', 'bucket'] as const) {
    const value: unknown = props[prop];
    if (value === undefined || Construct.isConstruct(value)) continue;
    throw new Error(
      `${prop} must be ${expected[prop]}, got ${typeof value === 'string' || typeof value === 'number' ? JSON.stringify(value) : 'no construct'} (${typeof value})`,
    );
  }
}

/**
 * Refuses a number or duration of {@link TierlogProps} of another type (a CDK context value is a
 * string), or given as a CloudFormation token (a
 * parameter): each is checked at synth against what the functions and alarms work with, and a
 * token's value is not known then. Checked, a token was refused as the number it encodes
 * (`leaseShards must be an integer in 1..256, got -1.888e+289`) or by CDK's conversion of a
 * duration; unchecked (the alarm thresholds), it was deployed below the floor the construct
 * refuses. (`prefix`: {@link validateSettings}.)
 */
function refuseTokenProps(props: TierlogProps): void {
  const tuning = props.sweeperTuning;
  const scan = tuning?.shardlessScan;
  const audit = typeof props.auditAtScale === 'object' ? props.auditAtScale : undefined;
  const values: Record<string, unknown> = {
    leaseShards: props.leaseShards,
    sweeperParallelism: props.sweeperParallelism,
    sweeperReservedConcurrency: props.sweeperReservedConcurrency,
    sweeperMemorySize: props.sweeperMemorySize,
    sweeperTimeout: props.sweeperTimeout,
    oldestExpiredAgeThreshold: props.oldestExpiredAgeThreshold,
    streamIteratorAgeThreshold: props.streamIteratorAgeThreshold,
    noncurrentVersionExpiration: props.noncurrentVersionExpiration,
    ...Object.fromEntries(Object.entries(tuning ?? {}).map(([option, value]) => [`sweeperTuning.${option}`, value])),
    ...(typeof scan === 'object' && scan !== null
      ? { 'sweeperTuning.shardlessScan.segments': scan.segments, 'sweeperTuning.shardlessScan.maxPages': scan.maxPages }
      : {}),
    ...Object.fromEntries(Object.entries(props.objectsTuning ?? {}).map(([option, value]) => [`objectsTuning.${option}`, value])),
    ...Object.fromEntries(
      Object.entries(props.objectsStreamTuning ?? {}).map(([option, value]) => [`objectsStreamTuning.${option}`, value]),
    ),
    ...Object.fromEntries(
      (['olderThan', 'maxConcurrency', 'snapshotRetentionDays', 'bytesScannedCutoffPerQuery'] as const).map((option) => [
        `auditAtScale.${option}`,
        audit?.[option],
      ]),
    ),
  };
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) continue;
    refuseTokenOptions({ [name]: value });
    // A CDK context value is a string: a number was refused as out of its range ("got 8"), a
    // duration failed with a bare TypeError.
    const expected = DURATION_PROPS.has(name)
      ? { is: typeof value === 'object' && value !== null, what: 'a duration (Duration.minutes(5), ...)' }
      : { is: typeof value === 'number' || !NUMBER_PROPS.has(name), what: 'a number' };
    if (!expected.is) throw new Error(`${name} must be ${expected.what}, got ${JSON.stringify(value)} (${typeof value})`);
  }
}

/** The props {@link refuseTokenProps} reads that are numbers. */
const NUMBER_PROPS: ReadonlySet<string> = new Set([
  'leaseShards',
  'sweeperParallelism',
  'sweeperReservedConcurrency',
  'sweeperMemorySize',
  'sweeperTuning.concurrency',
  'sweeperTuning.maxUploadListingPages',
  'sweeperTuning.shardlessScan.segments',
  'sweeperTuning.shardlessScan.maxPages',
  'objectsTuning.inlineThreshold',
  'objectsStreamTuning.concurrency',
  'auditAtScale.maxConcurrency',
  'auditAtScale.snapshotRetentionDays',
  'auditAtScale.bytesScannedCutoffPerQuery',
]);

/** The props {@link refuseTokenProps} reads that are durations. */
const DURATION_PROPS: ReadonlySet<string> = new Set([
  'sweeperTimeout',
  'oldestExpiredAgeThreshold',
  'streamIteratorAgeThreshold',
  'noncurrentVersionExpiration',
  ...(['claim', 'skewMargin', 'maxUpload', 'deadlineMargin', 'answerMargin', 'quarantineRecheck', 'retryFailed'] as const).map(
    (option) => `sweeperTuning.${option}`,
  ),
  'objectsStreamTuning.deadlineMargin',
  'auditAtScale.olderThan',
]);

/**
 * Refuses an `auditAtScale` that is neither a boolean nor an options object: a CDK context value is
 * a string, and `"false"` is truthy (the audit was deployed, the string spread into its options).
 */
function checkAuditAtScaleProp(value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return;
  throw new Error(
    `auditAtScale must be true, false or its options ({ schedule, olderThan, delete, ... }), got ${JSON.stringify(value)} (${typeof value})`,
  );
}
