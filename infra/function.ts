/**
 * A tierlog Lambda function: one of the handlers in `functions/`, bundled with the local esbuild
 * (no Docker), ARM64, source maps on, its own role and log group (no managed policy).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lib/recovery/sweep-metrics.js';

/** The package root (where `functions/` lives), from this file's location. */
const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The handler file `functions/<name>.ts` of this package. */
export function handlerEntry(name: TierlogFunctionProps['handler']): string {
  return fileURLToPath(new URL(`../functions/${name}.ts`, import.meta.url));
}

/** Properties of {@link TierlogFunction}. */
export interface TierlogFunctionProps {
  /** Which handler of `functions/` to deploy. */
  readonly handler: 'sweeper' | 'objects' | 'objects-stream';
  /** `POWERTOOLS_SERVICE_NAME`: the logger's service and the metrics' `service` dimension. */
  readonly serviceName: string;
  /** Variables besides the Powertools and Node.js ones (the tierlog configuration). */
  readonly environment: Record<string, string>;
  /**
   * @default lambda.Runtime.NODEJS_24_X
   */
  readonly runtime?: lambda.Runtime;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * @default 512
   */
  readonly memorySize?: number;
  /**
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
  /**
   * Bundle the AWS SDK v3 into the function rather than use the runtime's copy, so the deployed
   * SDK is the version the library was tested with (the runtime's copy lags and changes without
   * notice).
   *
   * @default true
   */
  readonly bundleAwsSdk?: boolean;
  /**
   * @default logs.RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Removal policy of the log group.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** A bundled tierlog handler with its own execution role and log group. */
export class TierlogFunction extends Construct {
  /** The function. */
  public readonly function: nodejs.NodejsFunction;
  /** Its execution role: log writing only, until tierlog grants are added. */
  public readonly role: iam.Role;
  /** Its log group. */
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TierlogFunctionProps) {
    super(scope, id);
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

    const lockFile = fileURLToPath(new URL('../package-lock.json', import.meta.url));
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: handlerEntry(props.handler),
      handler: 'handler',
      // In this repository, bundle from its root; installed as a dependency, from the app's.
      ...(existsSync(lockFile) ? { projectRoot: PACKAGE_ROOT, depsLockFilePath: lockFile } : {}),
      runtime: props.runtime ?? lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
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
        // NodejsFunction's sourceMap does not set this; without it stack traces stay minified.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        format: nodejs.OutputFormat.ESM,
        mainFields: ['module', 'main'],
        // Some CommonJS dependencies call require(); give the ESM bundle one.
        banner: "import { createRequire as __tierlogCreateRequire } from 'node:module'; const require = __tierlogCreateRequire(import.meta.url);",
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
