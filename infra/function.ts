/**
 * A tierlog Lambda function: one of the handlers in `functions/`, ARM64, source maps on, its own
 * role and log group (no managed policy). Installed from the registry, the construct deploys the
 * handler prebuilt by `npm run build` (`dist/handlers/<name>/`): no bundler, no Docker. From this
 * repository's sources (or with `bundleAwsSdk: false`), `NodejsFunction` bundles it with the
 * local esbuild.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Annotations, Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { checkClientVariables } from '../lib/aws/clients.js';
import { CONFIG_ENV, loadConfig, unknownVariables } from '../lib/config.js';
import { ConfigError } from '../lib/errors.js';
import { optionNames } from '../lib/plain-options.js';
import { dimensionValueProblem, METRICS_DEPLOYMENT_DIMENSION, METRICS_DEPLOYMENT_ENV } from '../lib/handlers/names.js';
import { METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';
import { BUNDLE_BANNER, BUNDLE_TARGET, type HandlerName } from './bundling.js';
import { checkLogLevelKeepsWarnings } from './failure-handling.js';
import { checkRemovalPolicy } from './tables.js';

/** The package root (where `functions/` lives), from this file's location. */
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The handler's source: `functions/<name>.ts`, or `functions/<name>.js` in the built package. */
export function handlerEntry(name: HandlerName): string {
  const compiled = fileURLToPath(new URL(`../functions/${name}.js`, import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL(`../functions/${name}.ts`, import.meta.url));
}

/** The directory of the prebuilt bundle (`index.mjs`) of the handler, when this is the built package. */
export function prebuiltHandler(name: HandlerName): string | undefined {
  const dir = fileURLToPath(new URL(`../handlers/${name}`, import.meta.url));
  return existsSync(`${dir}/index.mjs`) ? dir : undefined;
}

/**
 * The options every tierlog function takes, set once on {@link Tierlog} and passed down to the
 * sweeper and the objects function. All optional.
 */
export interface TierlogFunctionOptions {
  /**
   * Lambda runtime: Node.js 22 or later (the handlers are bundled for Node.js 22); any other is
   * refused with an `Error`.
   *
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
  /**
   * Bundle the AWS SDK v3 into the function rather than use the runtime's copy, so the deployed
   * SDK is the version the library was tested with (the runtime's copy lags and changes without
   * notice). `false` bundles at synth time (`NodejsFunction`: esbuild or Docker in your app).
   *
   * @default true (the prebuilt bundle)
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * Retention of the log group: one of `logs.RetentionDays` (another value is refused at synth).
   *
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log group. `SNAPSHOT` is refused (CloudFormation snapshots no log
   * group: it deletes it).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The names {@link TierlogFunctionOptions} has: each props list of a part that takes them spreads these. */
export const FUNCTION_OPTIONS = optionNames<TierlogFunctionOptions>()('runtime', 'bundleAwsSdk', 'logRetention', 'removalPolicy');

/**
 * The variables of `environment` whose values are known at synth (a token, resolved only at
 * deploy, left out): what a construct checks as the function will read them at its start.
 */
export function literalVariables(environment: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).filter(([, value]) => !Token.isUnresolved(value)));
}

/**
 * Refuses a number or duration option given as a CloudFormation token (a parameter's
 * `valueAsNumber`, `Duration.seconds` of one), naming it (`names` maps each to the prop it is):
 * each is checked at synth against what the function and its alarms work with, and a token's value
 * is not known then. Checked as a number, a token was refused as the one it encodes
 * (`sweeperParallelism must be an integer in 1..leaseShards (4), got -1.888e+289`), or by CDK's
 * conversion of the duration, a message that named neither the prop nor the cause.
 *
 * @throws Error naming the option.
 */
export function refuseTokenOptions(values: Readonly<Record<string, unknown>>): void {
  for (const [name, value] of Object.entries(values)) {
    const duration = value instanceof Duration;
    if (duration ? value.isUnresolved() : typeof value === 'number' && Token.isUnresolved(value)) {
      throw new Error(
        `${name} must be a literal ${duration ? 'duration' : 'number'}, not a CloudFormation token (a parameter): it is checked at synth against what the functions and alarms work with`,
      );
    }
  }
}

/**
 * Refuses a schedule option (`names` each prop, its value) that is not a schedule expression: a
 * CDK context value or a JavaScript app's `"rate(5 minutes)"` is a string, which has no
 * `expressionString`, and the synth failed on the construct's own schedule
 * (`.../Sweeper/Schedule/Resource [AWS::Scheduler::Schedule] is missing required property:
 * scheduleExpression`), naming neither the prop nor the value. Unset (`undefined`, `null`) is the default.
 *
 * @throws Error naming the option, the value and what it takes.
 */
export function refuseNonSchedules(values: Readonly<Record<string, unknown>>): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    if (typeof value === 'object' && typeof (value as { expressionString?: unknown }).expressionString === 'string') continue;
    throw new Error(
      `${name} must be a schedule expression (scheduler.ScheduleExpression.rate(Duration.minutes(5)), .cron({ ... }), or .expression('rate(5 minutes)') for a string), got ${JSON.stringify(value)} (${typeof value})`,
    );
  }
}

/**
 * Refuses a configuration variable of `environment` (`TIERLOG_CHANGELOG_TABLE`, ...,
 * `TIERLOG_REPLACED_BLOB_CLEANUP`) whose literal value the function's `loadConfig` refuses at
 * its init: every invocation would fail on it (`TIERLOG_REPLACED_BLOB_CLEANUP=Stream`, a
 * `TIERLOG_HV_ATTRIBUTES` that is no JSON object of names, a blank table name). Every tierlog
 * handler reads the configuration. The table and bucket names have no default: one left unset is
 * refused too. An optional variable left unset (its default holds), or a token (resolved only at
 * deploy), is not judged here.
 *
 * @throws ConfigError naming the variable.
 */
export function checkConfigVariables(environment: Readonly<Record<string, string>>): void {
  const literal = literalVariables(environment);
  const read: Record<string, string> = {};
  // One stand-in per token: two references to one table (the same resource given as both tables)
  // are one name to the function, refused as such; two tables are two.
  const tokens: string[] = [];
  for (const variable of [CONFIG_ENV.changeLogTable, CONFIG_ENV.objectsTable, CONFIG_ENV.bucket]) {
    const value = environment[variable];
    if (value === undefined) {
      // Required, with no default: the function's loadConfig refuses every invocation without it.
      throw new ConfigError(
        `${variable} is not set in the function's environment: its loadConfig refuses it at init, on every invocation (give the names of the store its resources grant on, e.g. Tierlog.writerEnvironment)`,
        variable,
      );
    }
    // A stand-in for a name not known at synth (a token, resolved at deploy).
    if (Token.isUnresolved(value)) {
      if (!tokens.includes(value)) tokens.push(value);
      read[variable] = `reference-${tokens.indexOf(value) + 1}-resolved-at-deploy`;
    }
  }
  for (const variable of Object.values(CONFIG_ENV)) {
    const value = literal[variable];
    if (value !== undefined) read[variable] = value;
  }
  loadConfig(read);
}

/**
 * A synth warning on `scope` for each `TIERLOG_*` variable of `environment` that no entry point
 * reads (a misspelling: `TIERLOG_LEASE_SHARD`), naming the one it likely meant: the function
 * ignores it, and the setting it meant keeps its default, as the CLI, the handlers and
 * `loadConfig` warn. Never a refusal (`unknownVariables` in lib/config.ts says why).
 */
function warnOfUnknownVariablesAtSynth(scope: Construct, environment: Readonly<Record<string, string>>): void {
  for (const { message } of unknownVariables(environment)) {
    Annotations.of(scope).addWarningV2(
      'tierlog:unknownVariable',
      `${message}: the function would run on the default it was meant to change`,
    );
  }
}

/** The function variable that sets its metrics' `deployment` dimension; none when `deployment` is undefined. */
export function metricsDeploymentEnv(deployment: string | undefined): Record<string, string> {
  return deployment !== undefined ? { [METRICS_DEPLOYMENT_ENV]: deployment } : {};
}

/**
 * The deployment a part's function publishes its metrics under: its `metricsDeployment`, else the
 * `TIERLOG_METRICS_DEPLOYMENT` its `environment` sets (the function reads the variable whoever set
 * it); none when empty, as the handlers read it. What the part's alarms, and a monitoring of it,
 * must watch.
 *
 * @throws Error for a value CloudWatch refuses as a dimension value (blank, not printable ASCII,
 *   over 1,024 characters): the handler refuses it at init.
 */
export function metricsDeploymentOf(deployment: string | undefined, environment: Readonly<Record<string, string>>): string | undefined {
  const published = deployment ?? environment[METRICS_DEPLOYMENT_ENV];
  if (published === undefined || published === '') return undefined;
  const problem = dimensionValueProblem(published);
  if (problem !== undefined) {
    throw new Error(
      `${deployment !== undefined ? 'metricsDeployment' : `the environment's ${METRICS_DEPLOYMENT_ENV}`} ${JSON.stringify(published.slice(0, 80))} ${problem}: ` +
        'the function would fail at init (a ConfigError), its alarms never seeing its metrics',
    );
  }
  return published;
}

/** The dimensions of a tierlog metric of `service`, in `deployment` when set (what the handlers publish). */
export function tierlogDimensions(service: string, deployment: string | undefined): Record<string, string> {
  return { service, ...(deployment !== undefined ? { [METRICS_DEPLOYMENT_DIMENSION]: deployment } : {}) };
}

/** The runtime tierlog's functions deploy unless given another: the one their bundles are tested on. */
export const DEFAULT_RUNTIME = lambda.Runtime.NODEJS_24_X;

/** The oldest Node.js major the handlers run on (their bundles target it: `BUNDLE_TARGET`). */
export const MIN_NODEJS_MAJOR = Number(BUNDLE_TARGET.replace('node', ''));

/**
 * Refuses a runtime the handlers cannot run on: another language, or Node.js before
 * {@link MIN_NODEJS_MAJOR} (the bundles' target; Node.js 20 is past its end of life). A value that
 * is no `lambda.Runtime` (a JavaScript app's or a context value's `"nodejs24.x"`) was refused as
 * "got undefined", as if a Node.js 24 were too old.
 *
 * @throws Error naming the runtime.
 */
export function checkRuntime(runtime: lambda.Runtime): void {
  const given: unknown = runtime;
  if (typeof given !== 'object' || given === null || typeof (given as { name?: unknown }).name !== 'string') {
    throw new Error(
      `runtime must be a lambda.Runtime (lambda.Runtime.NODEJS_24_X, ...), got ${typeof given === 'string' ? JSON.stringify(given) : String(given)} (${typeof given})`,
    );
  }
  const major = /^nodejs(\d+)\.x$/.exec(runtime.name)?.[1];
  if (runtime.family !== lambda.RuntimeFamily.NODEJS || major === undefined || Number(major) < MIN_NODEJS_MAJOR) {
    throw new Error(
      `runtime must be Node.js ${MIN_NODEJS_MAJOR} or later (nodejs${MIN_NODEJS_MAJOR}.x, nodejs24.x, ...), got ${runtime.name}`,
    );
  }
}

/**
 * Refuses a `logRetention` that is not one of `logs.RetentionDays` (the days CloudWatch Logs keeps a
 * log group: 1, 3, 5, 7, 14, 30, ...): a number between them (100) synthesized and failed the
 * deploy at the first log group, a CDK context value's `"90"` failed the synth naming
 * `CfnLogGroupProps`' `retentionInDays`, not the prop.
 *
 * @throws Error naming `logRetention` and the value.
 */
export function checkLogRetention(value: unknown): void {
  if (value === undefined || Object.values<unknown>(logs.RetentionDays).includes(value)) return;
  throw new Error(
    `logRetention must be one of logs.RetentionDays (the days CloudWatch Logs keeps a log group), got ${JSON.stringify(value)} (${typeof value})`,
  );
}

/** The {@link TierlogFunctionOptions} set in `props` (unset ones left out, so defaults apply). */
export function functionOptionsOf(props: TierlogFunctionOptions): TierlogFunctionOptions {
  const { runtime, bundleAwsSdk, logRetention, removalPolicy } = props;
  return {
    ...(runtime !== undefined ? { runtime } : {}),
    ...(bundleAwsSdk !== undefined ? { bundleAwsSdk } : {}),
    ...(logRetention !== undefined ? { logRetention } : {}),
    ...(removalPolicy !== undefined ? { removalPolicy } : {}),
  };
}

/** Properties of {@link TierlogFunction}. */
export interface TierlogFunctionProps extends TierlogFunctionOptions {
  /** Which handler of `functions/` to deploy. */
  readonly handler: HandlerName;
  /** `POWERTOOLS_SERVICE_NAME`: the logger's service and the metrics' `service` dimension. */
  readonly serviceName: string;
  /**
   * Variables besides the Powertools and Node.js ones (the tierlog configuration): the function's
   * service, namespace, `POWERTOOLS_METRICS_DISABLED` and `POWERTOOLS_DEV` (both false: the alarms
   * watch its metrics, which CloudWatch reads from its stdout) are set over any given here; a
   * `NODE_OPTIONS` given is kept, `--enable-source-maps` added to it. A Powertools log level that
   * drops warnings (`POWERTOOLS_LOG_LEVEL` or `LOG_LEVEL` of `ERROR`, `CRITICAL`, `SILENT`) is
   * refused: the lines the alarms' runbook names are warnings. So is a value the handler refuses
   * at its init: a `TIERLOG_*` configuration variable `loadConfig` refuses, and an AWS SDK variable
   * its default clients refuse (`AWS_MAX_ATTEMPTS`, an `AWS_ENDPOINT_URL*` that is no URL).
   */
  readonly environment: Record<string, string>;
  /**
   * The function's timeout.
   *
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * The function's memory, in MiB: an integer in 128..10240 (Lambda's bounds; refused otherwise
   * at synth, where the deploy would fail).
   *
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Concurrent executions reserved for the function.
   *
   * @default - no reserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Retries of a failed asynchronous invocation.
   *
   * @default 2 (Lambda's default)
   */
  readonly retryAttempts?: number;
  /**
   * Maximum age of a queued asynchronous invocation.
   *
   * @default Duration.hours(6) (Lambda's default)
   */
  readonly maxEventAge?: Duration;
}

/** `NODE_OPTIONS` with `--enable-source-maps` added to those given (once). */
function nodeOptionsWithSourceMaps(given: string | undefined): string {
  const flag = '--enable-source-maps';
  if (given === undefined || given.trim() === '') return flag;
  if (!Token.isUnresolved(given) && given.split(/\s+/).includes(flag)) return given;
  return `${given} ${flag}`;
}

/** The variables that decide the endpoint of the handlers' default clients (`lib/aws/clients.ts`). */
const ENDPOINT_VARIABLES = ['AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'];

/** A bundled tierlog handler with its own execution role and log group. */
export class TierlogFunction extends Construct {
  /** The function. */
  public readonly function: lambda.Function;
  /** Its execution role: log writing only, until tierlog grants are added. */
  public readonly role: iam.Role;
  /** Its log group. */
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TierlogFunctionProps) {
    super(scope, id);
    // The handler reads its configuration at init: a value it refuses would fail every invocation.
    checkConfigVariables(props.environment);
    // Its default clients, made at init too, refuse an AWS SDK variable they cannot use. Which
    // endpoint variable they read is known only when none of them is resolved at deploy.
    const literal = literalVariables(props.environment);
    const endpointsKnown = ENDPOINT_VARIABLES.every((name) => literal[name] === props.environment[name]);
    checkClientVariables(endpointsKnown ? literal : { AWS_MAX_ATTEMPTS: literal.AWS_MAX_ATTEMPTS });
    // What an alarm's runbook sends its reader to is logged at warn: a level above drops it.
    checkLogLevelKeepsWarnings(props.environment, props.handler);
    warnOfUnknownVariablesAtSynth(this, props.environment);
    // Its log group's: CloudFormation snapshots none (with SNAPSHOT it deletes it).
    checkRemovalPolicy(props.removalPolicy, 'removalPolicy');
    checkLogRetention(props.logRetention);
    const runtime = props.runtime ?? DEFAULT_RUNTIME;
    checkRuntime(runtime);
    const bundleAwsSdk: unknown = props.bundleAwsSdk;
    if (bundleAwsSdk !== undefined && typeof bundleAwsSdk !== 'boolean') {
      // A CDK context value is a string: "false" was truthy, and the SDK bundled all the same.
      throw new Error(`bundleAwsSdk must be true or false, got ${JSON.stringify(bundleAwsSdk)} (${typeof bundleAwsSdk})`);
    }
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.THREE_MONTHS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `tierlog ${props.handler} function`,
    });
    // What AWSLambdaBasicExecutionRole gives, on this log group only.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    const memorySize = props.memorySize ?? 512;
    if (!Token.isUnresolved(memorySize) && !(Number.isInteger(memorySize) && memorySize >= 128 && memorySize <= 10_240)) {
      // The template's own validation refuses under 128 and fractions only: 10241 MiB failed the deploy.
      throw new Error(
        `memorySize of the ${props.handler} function${props.handler === 'sweeper' ? ' (sweeperMemorySize)' : ''} must be an integer in 128..10240 (MiB, Lambda's bounds), got ${JSON.stringify(memorySize)}`,
      );
    }

    const common = {
      runtime,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      ...(props.reservedConcurrentExecutions !== undefined ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions } : {}),
      ...(props.retryAttempts !== undefined ? { retryAttempts: props.retryAttempts } : {}),
      ...(props.maxEventAge !== undefined ? { maxEventAge: props.maxEventAge } : {}),
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        // Powertools publishes nothing with it true, or with POWERTOOLS_DEV true and it unset, and
        // in dev mode writes its EMF through the console, whose lines Lambda decorates (CloudWatch
        // extracts no metric from them): the alarms on the functions' metrics would be blind.
        POWERTOOLS_METRICS_DISABLED: 'false',
        POWERTOOLS_DEV: 'false',
        // Without it stack traces stay minified. Beside the options given (a heap size, a preload),
        // which it replaced in silence.
        NODE_OPTIONS: nodeOptionsWithSourceMaps(props.environment.NODE_OPTIONS),
      },
    };
    const prebuilt = (props.bundleAwsSdk ?? true) ? prebuiltHandler(props.handler) : undefined;
    if (prebuilt !== undefined) {
      this.function = new lambda.Function(this, 'Function', { ...common, code: lambda.Code.fromAsset(prebuilt), handler: 'index.handler' });
      return;
    }
    const lockFile = fileURLToPath(new URL('../package-lock.json', import.meta.url));
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      ...common,
      entry: handlerEntry(props.handler),
      handler: 'handler',
      // In this repository, bundle from its root; installed as a dependency, from the app's.
      ...(existsSync(lockFile) ? { projectRoot: PACKAGE_ROOT, depsLockFilePath: lockFile } : {}),
      bundling: {
        format: nodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        banner: BUNDLE_BANNER,
        minify: true,
        // Error and class names stay readable in logs (errors are told apart by name).
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        bundleAwsSDK: props.bundleAwsSdk ?? true,
      },
    });
  }
}
