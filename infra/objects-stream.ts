/**
 * Blob cleanup from the objects table's stream: the `functions/objects-stream.ts` Lambda. When
 * DynamoDB TTL (or anyone) removes an item, or a write makes it point elsewhere, the function
 * deletes the blob its old image points at unless the item still does: an expired large object
 * leaves nothing behind in the bucket, and neither does an overwrite or a delete whose writer died
 * before deleting the blob it replaced (the stack's writers run with
 * `replacedBlobCleanup: 'stream'`).
 *
 * The event source mapping hands over every REMOVE record and the MODIFY records of items that
 * pointed at a blob, or that showed neither a blob, an inline body nor a deletion marker under the
 * function's attribute names (counted untrusted) (an event filter: the other records cost no invocation), bisects a failing batch, retries a
 * bounded number of times, reports partial batch failures, and sends what it gives up on to an
 * on-failure SQS queue (the audit then finds those blobs). Alarms: iterator age (the consumer
 * falls behind; past the stream's 24 h retention records are lost), a non-empty on-failure
 * queue, and any untrusted record (a blob kept that nothing will delete).
 *
 * Grants, least privilege: read of this table's stream, BatchGetItem on the objects table (the
 * consistent re-read that keeps a referenced blob), s3:DeleteObject under `<prefix>/*`.
 */
import { Duration, type RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONFIG_ENV, hvAttributeNamesFromEnv } from '../lib/config.js';
import { checkIntegerIn } from '../lib/env-integers.js';
import { assertOptions, optionNames } from '../lib/plain-options.js';
import { METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';
import { STREAM_METRICS } from '../lib/recovery/stream-metrics.js';
import { objectsStreamFilterPatterns } from '../lib/recovery/stream-filter.js';
import { DEFAULT_STREAM_MARGIN_MS, STREAM_ENV, streamTuningFromEnv, streamTuningToEnv } from '../lib/recovery/stream-env.js';
import { failureQueue, pointAlarmsAtRunbook } from './failure-handling.js';
import {
  literalVariables,
  metricsDeploymentEnv,
  metricsDeploymentOf,
  refuseTokenOptions,
  TierlogFunction,
  tierlogDimensions,
} from './function.js';
import { checkObjectsTableKey, validateObjectsTableInOneRegion } from './own-objects-table.js';
import { refuseOtherStoreUnderPrefix } from './one-store-per-prefix.js';
import { requireStreamInStackEnvironment } from './same-environment.js';
import {
  acknowledgeEach,
  deadLetterQueueFinding,
  defaultRuntimeFinding,
  type NagAcknowledgement,
  nagArn,
  prefixObjectsFinding,
} from './nag.js';
import { checkGrantsCoverEnvironment, grantKeyFor, type TierlogResources } from './permissions.js';

/** `POWERTOOLS_SERVICE_NAME` of the stream function, and the `service` dimension of its metrics. */
export { OBJECTS_STREAM_SERVICE_NAME } from '../lib/handlers/names.js';
import { OBJECTS_STREAM_SERVICE_NAME } from '../lib/handlers/names.js';

/** Actions of the stream function (besides the stream read). */
export const OBJECTS_STREAM_ACTIONS = {
  stream: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
  /** On `<table ARN>/stream/*` (the resource AWS documents for it): this table's streams only. */
  listStreams: ['dynamodb:ListStreams'],
  objectsTable: ['dynamodb:BatchGetItem'],
  objects: ['s3:DeleteObject'],
} as const;

/**
 * The stream function's tuning, written to its environment (`STREAM_ENV`, the variables
 * `streamTuningFromEnv` reads) and checked at synth as `StreamCleanup` checks it (a
 * `ConfigError` naming the prop). Unset, the library's defaults hold.
 */
export interface ObjectsStreamTuningProps {
  /**
   * Blob deletes at once, within a batch (`TIERLOG_STREAM_CONCURRENCY`). A positive integer.
   *
   * @default 16
   */
  readonly concurrency?: number;
  /**
   * No read or delete starts once less than this remains before the function's timeout, and the
   * batch answers when a fifth of it remains, reporting what it did not finish for the retry
   * (`TIERLOG_STREAM_DEADLINE_MARGIN_MS`). At least 500 ms (with less the batch answers when
   * Lambda has ended the invocation), and below the function's timeout (1 minute; refused
   * otherwise: no batch would ever delete anything).
   *
   * @default Duration.seconds(5)
   */
  readonly deadlineMargin?: Duration;
}

/** The names {@link ObjectsStreamCleanupProps} has: any other is refused. */
const STREAM_CLEANUP_PROPS = optionNames<ObjectsStreamCleanupProps>()(
  'resources',
  'environment',
  'blobAttribute',
  'batchSize',
  'retryAttempts',
  'iteratorAgeThreshold',
  'timeout',
  'tuning',
  'memorySize',
  'runtime',
  'bundleAwsSdk',
  'logRetention',
  'metricsDeployment',
  'removalPolicy',
);

/** The names {@link ObjectsStreamTuningProps} has: any other is refused. */
const STREAM_TUNING_PROPS = optionNames<ObjectsStreamTuningProps>()('concurrency', 'deadlineMargin');

/** The prop each tuning option comes from, as errors name it. */
const TUNING_PROPS = {
  concurrency: 'objectsStreamTuning.concurrency',
  deadlineMarginMs: 'objectsStreamTuning.deadlineMargin',
} as const;

/** Properties of {@link ObjectsStreamCleanup}. */
export interface ObjectsStreamCleanupProps {
  /**
   * The objects table, bucket and prefix. The table's stream must be on and carry old images
   * (`OLD_IMAGE` or `NEW_AND_OLD_IMAGES`): a table of this app whose stream has none is refused,
   * as is one with a replica in another region, whose TTL is not on the expiry attribute the
   * function's `TIERLOG_HV_ATTRIBUTES` names (`expiresAt` when it names none; off, when that variable
   * is resolved only at deploy), or whose key is not its key attribute (`key` when it names none).
   */
  readonly resources: TierlogResources;
  /**
   * The function's configuration variables (what `loadConfig` reads), of the store `resources`
   * grants on (another prefix, bucket or table is refused at synth). A tuning variable set here
   * (`TIERLOG_STREAM_*`) is checked at synth as the `tuning` prop is; the prop takes precedence.
   */
  readonly environment: Record<string, string>;
  /**
   * The objects table's blob attribute (`hvAttributes.blob`): the event filter passes a MODIFY
   * record when its old image has one (or, with the names known at synth, shows neither a blob, an
   * inline body nor a deletion marker under them: the function counts it untrusted). It is the one `TIERLOG_HV_ATTRIBUTES` in
   * `environment` names, which the function reads; a value that disagrees is refused (the filter
   * would drop every MODIFY the function must see).
   *
   * @default - the blob attribute `environment` names (`blob` when it names none); required when
   *   `TIERLOG_HV_ATTRIBUTES` there is a token (resolved at deploy), refused without it
   */
  readonly blobAttribute?: string;
  /**
   * Records per invocation, 1 to 10 000 (DynamoDB's bounds; refused otherwise at synth).
   *
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * Retries of a failing batch (halved each time by bisection) before its records go to the
   * on-failure queue: 0 to 10 000. Lambda's -1 (retry until the stream drops the record) is
   * refused: a failing record would hold its shard for the stream's 24 hours.
   *
   * @default 10
   */
  readonly retryAttempts?: number;
  /**
   * Alarm when the oldest record the function gets is older than this. The stream keeps
   * records 24 hours; the alarm leaves time to act. Under 24 hours (refused otherwise: the
   * records, and the blobs they name, would be lost before it fired).
   *
   * @default Duration.hours(1)
   */
  readonly iteratorAgeThreshold?: Duration;
  /**
   * The function's timeout.
   *
   * @default Duration.minutes(1)
   */
  readonly timeout?: Duration;
  /**
   * The function's tuning, added to its environment.
   *
   * @default - the library's defaults (see {@link ObjectsStreamTuningProps})
   */
  readonly tuning?: ObjectsStreamTuningProps;
  /**
   * The function's memory, in MiB.
   *
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * The Lambda runtime of the function.
   *
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
  /**
   * Deploy the prebuilt bundle, with the AWS SDK inside it (`false`: bundle at synth time).
   *
   * @default true
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * Retention of the function's log group.
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * The deployment the function's metrics are told apart by (`TIERLOG_METRICS_DEPLOYMENT`, their
   * `deployment` dimension; see `lib/handlers/names.ts`). The {@link Tierlog} construct sets it.
   * Over the variable in `environment`; one set there alone is taken as this, as the function reads
   * it (its alarms, and a monitoring of it, watch it).
   *
   * @default - the `TIERLOG_METRICS_DEPLOYMENT` of `environment`; none without it: the metrics carry
   *   `service` only
   */
  readonly metricsDeployment?: string;
  /**
   * Removal policy of the log group (the on-failure queue is kept 14 days and deleted with the stack).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The alarms of {@link ObjectsStreamCleanup}. */
export interface ObjectsStreamAlarms {
  /** The function's iterator age exceeds the threshold: it falls behind the stream. */
  readonly streamIteratorAge: cloudwatch.Alarm;
  /** Records were given up on (their blobs stay until the audit deletes them). */
  readonly streamFailureQueueNotEmpty: cloudwatch.Alarm;
  /**
   * The function kept a blob it could not trust a record or an item about (no old image, a blob
   * outside the namespace or of another object, an item not understood under the configured
   * names): the stream's counterpart of the sweeper's quarantine.
   */
  readonly streamUntrusted: cloudwatch.Alarm;
  /**
   * The function kept the blob of a removed item because the objects table points at it again:
   * an item re-created with a blob pointer it had before it was removed (a restore or a copy into
   * the live table, outside the library), which the write protocol never does (blob keys are never
   * reused). The same re-creation after the removal's delivery points at a deleted blob.
   */
  readonly streamReferencedKept: cloudwatch.Alarm;
}

const PERIOD = Duration.minutes(5);

/** The stream view types that carry the old image. */
const OLD_IMAGE_VIEWS: readonly string[] = ['OLD_IMAGE', 'NEW_AND_OLD_IMAGES'];

/**
 * The view type of the table's stream when the table is a resource of this app (a `TableV2` or a
 * `Table`) and it is a literal; undefined for an imported table, whose settings cannot be read.
 */
function streamViewTypeOf(table: dynamodb.ITableV2): string | undefined {
  const resource = table.node.defaultChild as { cfnResourceType?: string; streamSpecification?: unknown } | undefined;
  if (resource?.cfnResourceType !== 'AWS::DynamoDB::GlobalTable' && resource?.cfnResourceType !== 'AWS::DynamoDB::Table') return undefined;
  const spec = Stack.of(table).resolve(resource.streamSpecification) as { streamViewType?: unknown } | undefined;
  return typeof spec?.streamViewType === 'string' ? spec.streamViewType : undefined;
}

/**
 * The TTL setting of the table when it is a resource of this app (`{}` when TTL is off);
 * undefined for an imported table, whose settings cannot be read.
 */
function timeToLiveOf(table: dynamodb.ITableV2): { attributeName?: string; enabled?: boolean } | undefined {
  const resource = table.node.defaultChild as { cfnResourceType?: string; timeToLiveSpecification?: unknown } | undefined;
  if (resource?.cfnResourceType !== 'AWS::DynamoDB::GlobalTable' && resource?.cfnResourceType !== 'AWS::DynamoDB::Table') return undefined;
  return (Stack.of(table).resolve(resource.timeToLiveSpecification) as { attributeName?: string; enabled?: boolean } | undefined) ?? {};
}

/**
 * Refuses a stream ARN that is not a stream of `table` (an imported table given another table's
 * `tableStreamArn`), where both are literals: the function would read that table's records, each
 * one judged untrusted and kept, and never this table's, whose removed and replaced blobs leak.
 */
function checkStreamOfTable(table: dynamodb.ITableV2, streamArn: string): void {
  if (Token.isUnresolved(streamArn)) return;
  const ownArn = Token.isUnresolved(table.tableArn) ? undefined : table.tableArn;
  const ownName = Token.isUnresolved(table.tableName) ? undefined : table.tableName;
  const ofTable =
    ownArn !== undefined
      ? streamArn.startsWith(`${ownArn}/stream/`)
      : ownName === undefined || /:table\/([^/]+)\/stream\//.exec(streamArn)?.[1] === ownName;
  if (!ofTable) {
    throw new Error(
      `the objects table's stream ${streamArn} is not a stream of table "${ownName ?? ownArn}": the function would read another table's records (each one untrusted, its blob kept) and never this table's, whose removed and replaced blobs would leak`,
    );
  }
}

/** How long a DynamoDB stream keeps a record. */
const STREAM_RETENTION = Duration.hours(24);

/** The stream function, its event source mapping, on-failure queue and alarms. */
export class ObjectsStreamCleanup extends Construct {
  /** The stream function. */
  public readonly function: lambda.IFunction;
  /** Its execution role. */
  public readonly role: iam.IRole;
  /** Its log group. */
  public readonly logGroup: logs.ILogGroup;
  /** The event source mapping on the objects table's stream. */
  public readonly eventSourceMapping: lambda.EventSourceMapping;
  /** Where the mapping sends the records of batches it gave up on. */
  public readonly failureQueue: sqs.Queue;
  /** Its alarms. */
  public readonly alarms: ObjectsStreamAlarms;
  private readonly iteratorAgeThreshold: Duration;
  /** The deployment its metrics carry as their `deployment` dimension (`metricsDeployment`, else its variable in `environment`), if any. */
  public readonly metricsDeployment: string | undefined;

  /** The objects table, bucket and prefix it cleans (its findings name them). */
  private readonly store: TierlogResources;

  constructor(scope: Construct, id: string, props: ObjectsStreamCleanupProps) {
    super(scope, id);
    // A name it does not know (a JavaScript caller's `iteratorAgeTreshold`) was dropped: the default ran.
    assertOptions(props, STREAM_CLEANUP_PROPS, 'ObjectsStreamCleanup');
    this.store = props.resources;
    this.metricsDeployment = metricsDeploymentOf(props.metricsDeployment, props.environment);
    checkGrantsCoverEnvironment(this, props.resources, props.environment);
    checkObjectsTableKey(props.resources.objectsTable, props.environment);
    refuseOtherStoreUnderPrefix(this, props.resources, props.environment);
    const table = props.resources.objectsTable as dynamodb.ITableV2;
    const streamArn = table.tableStreamArn;
    if (streamArn === undefined) {
      // An imported table has no stream ARN unless it is given: its stream may well be on.
      throw new Error(
        table.node.defaultChild === undefined
          ? `the objects table ${table.node.path} was imported without its stream ARN: import it with TableV2.fromTableAttributes({ tableName, tableStreamArn }) (its stream must carry old images: OLD_IMAGE or NEW_AND_OLD_IMAGES)`
          : 'the objects table has no stream: enable it (OLD_IMAGE or NEW_AND_OLD_IMAGES)',
      );
    }
    checkStreamOfTable(table, streamArn);
    // Its table's name alone was compared where the table's ARN is not known (an environment-
    // agnostic stack): a stream of a table of the same name in another account or region passed.
    // (A table whose ARN is known has its stream where it is, checked as the table is.)
    if (Token.isUnresolved(table.tableArn)) requireStreamInStackEnvironment(this, "resources.objectsTable's stream", streamArn);
    // Every blob the function deletes is named by an old image: a stream of new images or keys only
    // has none, and its MODIFY records would not even pass the event filter (no metric, no alarm).
    const view = streamViewTypeOf(table);
    if (view !== undefined && !OLD_IMAGE_VIEWS.includes(view)) {
      throw new Error(
        `the objects table's stream must carry old images (OLD_IMAGE or NEW_AND_OLD_IMAGES), not ${view}: the function deletes the blob an item's old image names, and without one every replaced or expired blob would leak`,
      );
    }
    // As the Tierlog construct refuses it (DESIGN, "One region"): the function's consistent re-read
    // holds in its own region only, so a replica's write that points the item back at the blob an
    // old image names (last writer wins) is not seen yet, and the blob is deleted under it.
    validateObjectsTableInOneRegion(this, table, 'the function deletes a blob once a consistent read here shows no item pointing at it');
    // A name it does not know (a JavaScript caller's `concurency`) was dropped: the default ran.
    assertOptions(props.tuning, STREAM_TUNING_PROPS, 'objectsStreamTuning');
    const timeout = props.timeout ?? Duration.minutes(1);
    const margin = props.tuning?.deadlineMargin;
    // Both become variables the function reads, checked below as it reads them: a token's value is
    // not known at synth (the concurrency was refused as the number it encodes).
    refuseTokenOptions({ [TUNING_PROPS.concurrency]: props.tuning?.concurrency, [TUNING_PROPS.deadlineMarginMs]: margin });
    const tuningEnv = streamTuningToEnv(
      {
        ...(props.tuning?.concurrency !== undefined ? { concurrency: props.tuning.concurrency } : {}),
        ...(margin !== undefined ? { deadlineMarginMs: margin.toMilliseconds() } : {}),
      },
      TUNING_PROPS,
    );
    // The margin the function will use must leave the batch some time: at or above the timeout, no
    // batch would ever delete anything. It reads its variables whoever set them: one `environment`
    // sets and the props do not is checked here as the prop is, naming the variable.
    const literalEnvironment = literalVariables(props.environment);
    const read = streamTuningFromEnv({ ...literalEnvironment, ...tuningEnv });
    const marginUsed = Duration.millis(read.deadlineMarginMs ?? DEFAULT_STREAM_MARGIN_MS);
    if (!timeout.isUnresolved() && marginUsed.toMilliseconds() >= timeout.toMilliseconds()) {
      const named =
        margin !== undefined
          ? TUNING_PROPS.deadlineMarginMs
          : read.deadlineMarginMs !== undefined
            ? STREAM_ENV.deadlineMarginMs
            : `the default ${TUNING_PROPS.deadlineMarginMs}`;
      throw new Error(
        `${named} (${marginUsed.toHumanString()}) must be below the function's timeout (${timeout.toHumanString()}): no batch would ever delete anything`,
      );
    }

    // The filter must pass what the function reads: the blob attribute of its own environment.
    const hvVariable = props.environment[CONFIG_ENV.hvAttributes];
    const namesKnown = hvVariable === undefined || !Token.isUnresolved(hvVariable);
    const names = namesKnown ? hvAttributeNamesFromEnv(props.environment) : undefined;
    if (names === undefined && props.blobAttribute === undefined) {
      // Taken as `blob`, a variable resolved at deploy that names another (an SSM parameter's
      // `{"blob":"ptr"}`) had the filter drop every MODIFY the function must see: each blob a
      // stream-mode writer replaced and could not delete left with no invocation, no metric, no alarm.
      throw new Error(
        `the function's ${CONFIG_ENV.hvAttributes} is resolved only at deploy: give blobAttribute, the blob attribute it names (the event filter passes a MODIFY on it; taken as "blob", a variable naming another would have every MODIFY dropped)`,
      );
    }
    const blobAttribute = names !== undefined ? names.blob : (props.blobAttribute as string);
    if (props.blobAttribute !== undefined && props.blobAttribute !== blobAttribute) {
      throw new Error(
        `blobAttribute "${props.blobAttribute}" disagrees with the function's ${CONFIG_ENV.hvAttributes} (blob "${blobAttribute}"): the event filter would drop every MODIFY the function must see`,
      );
    }

    // TTL on the expiry attribute: the function deletes the blob of an item TTL removed. With the
    // names known only at deploy the attribute cannot be compared, but a TTL that is off is on none
    // of them: such a table passed, and no expired object was ever removed, nor its blob deleted.
    const ttl = timeToLiveOf(table);
    if (ttl !== undefined) {
      const off = ttl.attributeName === undefined || ttl.enabled === false;
      const expiresAt = names?.expiresAt;
      if (expiresAt !== undefined ? off || ttl.attributeName !== expiresAt : off) {
        throw new Error(
          `the objects table's TTL must be on ${expiresAt !== undefined ? `"${expiresAt}" (the expiry attribute of the function's ${CONFIG_ENV.hvAttributes})` : `the expiry attribute of the function's ${CONFIG_ENV.hvAttributes} (resolved at deploy)`}, not ${off ? 'off' : `"${ttl.attributeName}"`}: the function deletes the blob of an item TTL removed, and without it no expired object is ever removed, nor its blob deleted`,
        );
      }
    }

    // What the mapping takes, checked here rather than by the deploy: DynamoDB's batches are 1 to
    // 10 000 records, and Lambda's -1 retries a failing record until the stream drops it, holding
    // its shard (every record behind it) all that time.
    const batchSize = props.batchSize ?? 100;
    const retryAttempts = props.retryAttempts ?? 10;
    if (!Token.isUnresolved(batchSize))
      checkIntegerIn('batchSize', batchSize, { min: 1, max: 10_000 }, 'must be an integer in 1..10000 (records per invocation)');
    if (!Token.isUnresolved(retryAttempts)) {
      checkIntegerIn(
        'retryAttempts',
        retryAttempts,
        { min: 0, max: 10_000 },
        'must be an integer in 0..10000 (retries of a failing batch before its records go to the on-failure queue)',
      );
    }

    const fn = new TierlogFunction(this, 'Function', {
      handler: 'objects-stream',
      serviceName: OBJECTS_STREAM_SERVICE_NAME,
      environment: { ...props.environment, ...tuningEnv, ...metricsDeploymentEnv(props.metricsDeployment) },
      timeout,
      memorySize: props.memorySize ?? 256,
      ...(props.runtime ? { runtime: props.runtime } : {}),
      ...(props.bundleAwsSdk !== undefined ? { bundleAwsSdk: props.bundleAwsSdk } : {}),
      ...(props.logRetention !== undefined ? { logRetention: props.logRetention } : {}),
      ...(props.removalPolicy !== undefined ? { removalPolicy: props.removalPolicy } : {}),
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;

    const grant = (actions: readonly string[], resources: string[]) =>
      fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: [...actions], resources }));
    grant(OBJECTS_STREAM_ACTIONS.stream, [streamArn]);
    grant(OBJECTS_STREAM_ACTIONS.listStreams, [`${table.tableArn}/stream/*`]);
    grant(OBJECTS_STREAM_ACTIONS.objectsTable, [table.tableArn]);
    grant(OBJECTS_STREAM_ACTIONS.objects, [props.resources.bucket.arnForObjects(`${props.resources.prefix}/*`)]);
    // A table of the user's under a customer managed key: its stream and items are read through it.
    grantKeyFor(fn.role, table.encryptionKey, 'dynamodb', [...OBJECTS_STREAM_ACTIONS.stream, ...OBJECTS_STREAM_ACTIONS.objectsTable]);

    this.failureQueue = failureQueue(this, 'FailureQueue');

    this.eventSourceMapping = new lambda.EventSourceMapping(this, 'Mapping', {
      target: fn.function,
      eventSourceArn: streamArn,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize,
      maxBatchingWindow: Duration.seconds(5),
      bisectBatchOnError: true,
      retryAttempts,
      // The stream keeps records 24 h; a record older than that is gone anyway.
      maxRecordAge: STREAM_RETENTION,
      reportBatchItemFailures: true,
      onFailure: new SqsDlq(this.failureQueue),
      // Every removal, the modifications of items that pointed at a blob, and those of items the
      // function counts untrusted (no string blob, inline body or deletion marker under its names):
      // the rule is in lib/recovery/stream-filter.ts, which the local delivery of the stream applies
      // too. Creates and changes of inline objects and of deletion markers invoke nothing. (Names
      // known only at deploy: the blob attribute alone, as `blobAttribute` gives it.)
      filters: objectsStreamFilterPatterns(names, blobAttribute).map((pattern) => lambda.FilterCriteria.filter(pattern)),
    });

    this.iteratorAgeThreshold = props.iteratorAgeThreshold ?? Duration.hours(1);
    if (!this.iteratorAgeThreshold.isUnresolved() && this.iteratorAgeThreshold.toMilliseconds() >= STREAM_RETENTION.toMilliseconds()) {
      throw new Error(
        `streamIteratorAgeThreshold must be under ${STREAM_RETENTION.toHumanString()}, got ${this.iteratorAgeThreshold.toHumanString()}: the stream keeps records ${STREAM_RETENTION.toHumanString()}, so the alarm would fire only after they (and the blobs they name) were lost`,
      );
    }
    if (
      !this.iteratorAgeThreshold.isUnresolved() &&
      !timeout.isUnresolved() &&
      this.iteratorAgeThreshold.toMilliseconds() < timeout.toMilliseconds()
    ) {
      // A batch retried once is older than the timeout: a lower threshold (0 most of all: every
      // record is older than that) raises the alarm on routine retries, and it is ignored.
      throw new Error(
        `streamIteratorAgeThreshold must be at least the stream function's timeout (${timeout.toHumanString()}), got ${this.iteratorAgeThreshold.toHumanString()}: a batch retried once is older than that, so the alarm would fire on every retry`,
      );
    }
    this.alarms = {
      streamIteratorAge: new cloudwatch.Alarm(this, 'IteratorAge', {
        alarmDescription: `tierlog: the objects-stream function is more than ${this.iteratorAgeThreshold.toHumanString()} behind the objects table's stream (records are lost after 24 h; the audit then finds their blobs)`,
        metric: this.function.metric('IteratorAge', { period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: this.iteratorAgeThreshold.toMilliseconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      streamFailureQueueNotEmpty: new cloudwatch.Alarm(this, 'FailureQueueNotEmpty', {
        alarmDescription:
          'tierlog: the objects-stream function gave up on stream records (see its log group and the on-failure queue); `tierlog audit --delete` deletes the blobs they leave',
        metric: this.failureQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      streamUntrusted: this.anyCountAlarm(
        'Untrusted',
        STREAM_METRICS.untrusted,
        'tierlog: the objects-stream function kept blobs of records or items it cannot trust (see "not trusted" / "not understood" in its logs): a stream without old images, a record of another table\'s stream or of an unknown event, a blob outside the namespace, or an objects table read under other attribute names',
      ),
      streamReferencedKept: this.anyCountAlarm(
        'ReferencedKept',
        STREAM_METRICS.referenced,
        'tierlog: the objects table points again at the blob of an item that was removed, or replaced (a new image naming another) (see "referenced again" in the objects-stream logs): items re-created with old blob pointers (a restore or a copy into the live table), which tierlog never writes; the same re-creation made after the removal was handled points at a deleted blob',
      ),
    };
    // Deployed on its own too: the person an alarm pages finds its runbook row from the alarm alone.
    pointAlarmsAtRunbook(this);
  }

  /** An alarm on any count of the stream function's metric `metricName` in a period. */
  private anyCountAlarm(id: string, metricName: string, alarmDescription: string): cloudwatch.Alarm {
    return new cloudwatch.Alarm(this, id, {
      alarmDescription,
      metric: new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: tierlogDimensions(OBJECTS_STREAM_SERVICE_NAME, this.metricsDeployment),
        statistic: cloudwatch.Stats.SUM,
        period: PERIOD,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  /** The function's iterator age (maximum, ms). */
  iteratorAgeMetric(): cloudwatch.Metric {
    return this.function.metric('IteratorAge', { period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM, label: 'iterator age (ms)' });
  }

  /** One dashboard row: iterator age, what the function did, the function and its queue. */
  dashboardRow(): cloudwatch.IWidget[] {
    const count = (name: keyof typeof STREAM_METRICS) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: STREAM_METRICS[name],
        dimensionsMap: tierlogDimensions(OBJECTS_STREAM_SERVICE_NAME, this.metricsDeployment),
        statistic: cloudwatch.Stats.SUM,
        period: PERIOD,
        label: STREAM_METRICS[name],
      });
    return [
      new cloudwatch.GraphWidget({
        title: 'Objects stream: iterator age (ms)',
        left: [this.iteratorAgeMetric()],
        leftAnnotations: [{ value: this.iteratorAgeThreshold.toMilliseconds(), label: 'alarm threshold' }],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Objects stream: removals, replacements and blobs deleted',
        left: [count('removes'), count('expiredRemoves'), count('replaced'), count('blobsDeleted')],
        right: [count('unchanged'), count('untrusted'), count('referenced'), count('failed')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Objects stream function',
        left: [
          this.function.metricInvocations({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
          this.function.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
        ],
        right: [this.failureQueue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM })],
        width: 8,
      }),
    ];
  }

  /**
   * The cdk-nag AwsSolutions findings this part has by design, each with its reason: object access
   * under the prefix and `dynamodb:ListStreams` on the table's streams (its role), the on-failure
   * queue cdk-nag does not recognise as a dead-letter queue. The `Tierlog` construct acknowledges
   * them; used on its own, call {@link acknowledgeNagFindings}.
   */
  nagAcknowledgements(): NagAcknowledgement[] {
    const table = this.store.objectsTable;
    return [
      { construct: this.role, ...prefixObjectsFinding(this.store) },
      {
        construct: this.role,
        id: `AwsSolutions-IAM5[Resource::${nagArn(table, table.tableArn)}/stream/*]`,
        reason:
          "dynamodb:ListStreams, which the stream event source mapping needs, on the objects table's own streams (the resource AWS documents for it); " +
          'it lists stream ARNs, no data.',
      },
      deadLetterQueueFinding(this.failureQueue, "the stream event source mapping's on-failure destination", 'FailureQueueNotEmpty'),
      ...defaultRuntimeFinding(this.function),
    ];
  }

  /** Acknowledges {@link nagAcknowledgements} on the constructs that have them. */
  acknowledgeNagFindings(): void {
    acknowledgeEach(this.nagAcknowledgements());
  }
}
