/**
 * The reference storage writer: `functions/objects.ts` (`PUT | GET | HEAD | DELETE
 * /objects/{key}`) behind a Function URL, with the writer grants.
 */
import { Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  FUNCTION_OPTIONS,
  functionOptionsOf,
  literalVariables,
  refuseTokenOptions,
  TierlogFunction,
  type TierlogFunctionOptions,
} from './function.js';
import { addAlarmActions, pointAlarmsAtRunbook } from './failure-handling.js';
import { validateChangeLogTable } from './change-log-table.js';
import { refuseOtherStoreUnderPrefix } from './one-store-per-prefix.js';
import { checkObjectsTableKey, validateObjectsTableInOneRegion } from './own-objects-table.js';
import { checkGrantsCoverEnvironment, grantWriter, type TierlogResources } from './permissions.js';
import { acknowledgeEach, defaultRuntimeFinding, type NagAcknowledgement, prefixObjectsFinding } from './nag.js';
import { readableTable } from './readable-table.js';
import { CONFIG_ENV } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { assertOptions, optionNames } from '../lib/plain-options.js';
import { writerTuningFromEnv, writerTuningToEnv } from '../lib/tiered/writer-env.js';

export { OBJECTS_SERVICE_NAME } from '../lib/handlers/names.js';
import { OBJECTS_SERVICE_NAME } from '../lib/handlers/names.js';

/**
 * The objects function's store tuning, written to its environment (`WRITER_ENV`, the variables
 * `writerTuningFromEnv` reads) and checked at synth as the store checks it (a `ConfigError`
 * naming the prop). Unset, the library's defaults hold.
 *
 * Not part of `writerEnvironment`: your own writers choose their own store options, and they need
 * not agree with the objects function's. Writers of one store may use different inline thresholds:
 * the threshold only decides where a new body goes, and every reader reads an inline body and a
 * blob alike. To make yours match, give them the same `TIERLOG_INLINE_THRESHOLD` and build their
 * store with `writerTuningFromEnv()`.
 */
export interface ObjectsTuningProps {
  /**
   * Bodies up to this many bytes are stored inline in the objects table, larger ones as blobs in
   * the bucket (`TIERLOG_INLINE_THRESHOLD`). An integer in 0..393216 (384 KiB: DynamoDB's item
   * limit less room for the other attributes); 0 puts every non-empty body in the bucket. A larger
   * threshold saves S3 requests for mid-sized bodies and costs DynamoDB write and storage units.
   *
   * @default 8192 (8 KiB)
   */
  readonly inlineThreshold?: number;
}

/** The names {@link ObjectsFunctionProps} has: any other is refused. */
const OBJECTS_FUNCTION_PROPS = optionNames<ObjectsFunctionProps>()(
  ...FUNCTION_OPTIONS,
  'resources',
  'environment',
  'authType',
  'tuning',
  'serverErrorsThreshold',
  'alarmActions',
  'timeout',
  'memorySize',
);

/** The names {@link ObjectsTuningProps} has: any other is refused. */
const OBJECTS_TUNING_PROPS = optionNames<ObjectsTuningProps>()('inlineThreshold');

/** The prop each tuning option comes from, as errors name it. */
const TUNING_PROPS = { inlineThreshold: 'objectsTuning.inlineThreshold' } as const;

/** Properties of {@link ObjectsFunction}. */
export interface ObjectsFunctionProps extends TierlogFunctionOptions {
  /**
   * The tables, bucket and prefix it writes. An objects table of this app keyed otherwise than the
   * function reads it (the key attribute of its `TIERLOG_HV_ATTRIBUTES`) is refused, and so, at
   * synth, is one in more than one region (a replica: its conditional writes hold here only).
   * With `TIERLOG_REPLACED_BLOB_CLEANUP=stream` in `environment`, one whose stream carries no old
   * images is refused too (the blobs the function leaves to the stream would leak).
   */
  readonly resources: TierlogResources;
  /**
   * The function's configuration variables (what `loadConfig` reads), of the store `resources`
   * grants on (another prefix, bucket or table is refused at synth). A tuning variable set here
   * (`TIERLOG_INLINE_THRESHOLD`) is checked at synth as `tuning` is; `tuning` takes precedence.
   */
  readonly environment: Record<string, string>;
  /**
   * Who may call the Function URL. `AWS_IAM`: callers sign with SigV4 and need
   * `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` via the URL (see {@link ObjectsFunction.grantInvokeUrl}). `NONE` makes the
   * URL public: anyone can read and overwrite objects. Another value (a context value's `"none"`)
   * is refused at synth, naming it.
   *
   * @default lambda.FunctionUrlAuthType.AWS_IAM
   */
  readonly authType?: lambda.FunctionUrlAuthType;
  /**
   * The store's tuning, added to its environment.
   *
   * @default - the library's defaults (see {@link ObjectsTuningProps})
   */
  readonly tuning?: ObjectsTuningProps;
  /**
   * Alarm when the Function URL answers at least this many 5xx in five minutes (`Url5xxCount`):
   * the function answers its own failures (a missing grant, a table that is not there, throttling
   * past the retries: 500 and 503) as responses, which Lambda's `Errors` never counts.
   *
   * @default 5
   */
  readonly serverErrorsThreshold?: number;
  /**
   * Actions of its alarm (on ALARM and back to OK), e.g. an SNS topic.
   *
   * @default - none
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];
  /**
   * The function's timeout.
   *
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * The function's memory, in MiB.
   *
   * @default 512
   */
  readonly memorySize?: number;
}

/**
 * Refuses `TIERLOG_REPLACED_BLOB_CLEANUP=stream` in `environment` over an objects table of this app
 * whose stream carries no old images (none, `KEYS_ONLY`, `NEW_IMAGE`): with it the function records
 * no replaced blob in its change-log entry and leaves the one it could not delete (it died after the
 * commit, or the delete failed) to the stream function, which finds the blob in the old image alone.
 * With no old image, every such blob leaks until an audit. An imported table, or a variable known
 * only at deploy, is not judged.
 *
 * @throws ConfigError naming the variable and the table.
 */
function checkStreamForReplacedBlobs(resources: TierlogResources, environment: Readonly<Record<string, string>>): void {
  const cleanup = environment[CONFIG_ENV.replacedBlobCleanup];
  if (cleanup === undefined || Token.isUnresolved(cleanup) || cleanup.trim() !== 'stream') return;
  const readable = readableTable(resources.objectsTable);
  if (readable === undefined) return;
  const view = readable.read(readable.props.streamSpecification)?.streamViewType;
  if (view === 'OLD_IMAGE' || view === 'NEW_AND_OLD_IMAGES') return;
  throw new ConfigError(
    `${CONFIG_ENV.replacedBlobCleanup}=stream leaves the blob an overwrite or delete replaced, when the function could not delete it, to the objects table's stream function, which reads it from the old image; the stream of resources.objectsTable ${resources.objectsTable.node.path} carries ${view === undefined ? 'nothing (it is off)' : `no old image (${view})`}, so each such blob would leak: turn its stream on with old images (and deploy ObjectsStreamCleanup on it), or leave the variable unset (log: the sweeper deletes them)`,
    CONFIG_ENV.replacedBlobCleanup,
  );
}

/** The objects function and its URL. */
export class ObjectsFunction extends Construct {
  /** The function. */
  public readonly function: lambda.IFunction;
  /** Its execution role. */
  public readonly role: iam.IRole;
  /** Its log group. */
  public readonly logGroup: logs.ILogGroup;
  /** Its Function URL. */
  public readonly url: lambda.FunctionUrl;
  /** Its alarm: the URL answers 5xx (`serverErrorsThreshold` in five minutes). */
  public readonly alarms: { readonly serverErrors: cloudwatch.Alarm };

  /** The bucket and prefix it writes (its finding names them). */
  private readonly store: TierlogResources;

  constructor(scope: Construct, id: string, props: ObjectsFunctionProps) {
    super(scope, id);
    // A name it does not know (a JavaScript caller's `alarmAction`) was dropped: the default ran.
    assertOptions(props, OBJECTS_FUNCTION_PROPS, 'ObjectsFunction');
    this.store = props.resources;
    // Checked before anything reads it, as sweeperTuning and objectsStreamTuning are: spread into a
    // plain object, a Map (or null, an array) was an empty tuning, the default threshold deployed
    // in silence, and a CDK context string was refused as options "0", "1", ... of writerTuningToEnv.
    assertOptions(props.tuning, OBJECTS_TUNING_PROPS, 'objectsTuning');
    // A variable the function reads, checked below as it reads it: a token's value is not known at
    // synth (it was refused as the number it encodes).
    refuseTokenOptions({ 'objectsTuning.inlineThreshold': props.tuning?.inlineThreshold });
    checkGrantsCoverEnvironment(this, props.resources, props.environment);
    checkObjectsTableKey(props.resources.objectsTable, props.environment);
    validateChangeLogTable(this, props.resources.changeLogTable);
    refuseOtherStoreUnderPrefix(this, props.resources, props.environment);
    checkStreamForReplacedBlobs(props.resources, props.environment);
    validateObjectsTableInOneRegion(
      this,
      props.resources.objectsTable,
      'the function writes an object with a condition on its version and deletes the blob that write replaced',
    );
    const tuningEnv = writerTuningToEnv({ ...props.tuning }, TUNING_PROPS);
    // The function reads its tuning variables whoever set them: one `environment` sets and the
    // props do not is checked here as the prop is (a ConfigError naming the variable), not by a
    // function that fails its start-up on every request.
    writerTuningFromEnv(literalVariables({ ...props.environment, ...tuningEnv }));
    const fn = new TierlogFunction(this, 'Objects', {
      handler: 'objects',
      serviceName: OBJECTS_SERVICE_NAME,
      environment: { ...props.environment, ...tuningEnv },
      ...(props.timeout ? { timeout: props.timeout } : {}),
      ...(props.memorySize !== undefined ? { memorySize: props.memorySize } : {}),
      ...functionOptionsOf(props),
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;
    grantWriter(fn.function, props.resources);
    const authType: unknown = props.authType;
    if (authType !== undefined && !Object.values<unknown>(lambda.FunctionUrlAuthType).includes(authType)) {
      // A context value ("none") reached the template as given: CloudFormation refused the URL at deploy.
      throw new Error(`authType must be AWS_IAM or NONE (lambda.FunctionUrlAuthType), got ${JSON.stringify(authType)}`);
    }
    this.url = fn.function.addFunctionUrl({ authType: props.authType ?? lambda.FunctionUrlAuthType.AWS_IAM });
    const threshold = props.serverErrorsThreshold ?? 5;
    // A token (a parameter) is the alarm's threshold as CloudFormation resolves it: it was refused
    // as the number it encodes.
    if (!Token.isUnresolved(threshold) && (!Number.isInteger(threshold) || threshold < 1))
      throw new Error(`serverErrorsThreshold must be a positive integer, got ${threshold}`);
    // Lambda publishes the URL's metrics under the function's name (its $LATEST and aliases), and
    // only for periods with requests: no data is no 5xx.
    const serverErrors = new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'Url5xxCount',
      dimensionsMap: { FunctionName: fn.function.functionName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
    });
    this.alarms = {
      serverErrors: serverErrors.createAlarm(this, 'ServerErrors', {
        alarmDescription: `tierlog: the objects API answered ${threshold} or more 5xx in five minutes (see the objects function's log group: each is logged with its error)`,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    };
    addAlarmActions(Object.values(this.alarms), props.alarmActions);
    // Deployed on its own too: the person its alarm pages finds its runbook row from the alarm alone.
    pointAlarmsAtRunbook(this);
  }

  /** Lets `grantee` call the Function URL (`lambda:InvokeFunctionUrl`, and `lambda:InvokeFunction` only via the URL). */
  grantInvokeUrl(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvokeUrl(grantee);
  }

  /**
   * The cdk-nag AwsSolutions finding this part has by design, with its reason: object access under
   * the prefix (its role). The `Tierlog` construct acknowledges it; used on its own, call
   * {@link acknowledgeNagFindings}.
   */
  nagAcknowledgements(): NagAcknowledgement[] {
    return [{ construct: this.role, ...prefixObjectsFinding(this.store) }, ...defaultRuntimeFinding(this.function)];
  }

  /** Acknowledges {@link nagAcknowledgements} on the constructs that have them. */
  acknowledgeNagFindings(): void {
    acknowledgeEach(this.nagAcknowledgements());
  }
}
