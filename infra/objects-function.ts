/**
 * The reference storage writer: `functions/objects.ts` (`PUT | GET | HEAD | DELETE
 * /objects/{key}`) behind a Function URL, with the writer grants.
 */
import type { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { functionOptionsOf, TierlogFunction, type TierlogFunctionOptions } from './function.js';
import { grantWriter, type TierlogResources } from './permissions.js';

export { OBJECTS_SERVICE_NAME } from '../lib/handlers/names.js';
import { OBJECTS_SERVICE_NAME } from '../lib/handlers/names.js';

/** Properties of {@link ObjectsFunction}. */
export interface ObjectsFunctionProps extends TierlogFunctionOptions {
  /** The tables, bucket and prefix it writes. */
  readonly resources: TierlogResources;
  /** The function's configuration variables (what `loadConfig` reads). */
  readonly environment: Record<string, string>;
  /**
   * Who may call the Function URL. `AWS_IAM`: callers sign with SigV4 and need
   * `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` via the URL (see {@link ObjectsFunction.grantInvokeUrl}). `NONE` makes the
   * URL public: anyone can read and overwrite objects.
   *
   * @default lambda.FunctionUrlAuthType.AWS_IAM
   */
  readonly authType?: lambda.FunctionUrlAuthType;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * @default 512
   */
  readonly memorySize?: number;
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

  constructor(scope: Construct, id: string, props: ObjectsFunctionProps) {
    super(scope, id);
    const fn = new TierlogFunction(this, 'Objects', {
      handler: 'objects',
      serviceName: OBJECTS_SERVICE_NAME,
      environment: props.environment,
      ...(props.timeout ? { timeout: props.timeout } : {}),
      ...(props.memorySize !== undefined ? { memorySize: props.memorySize } : {}),
      ...functionOptionsOf(props),
    });
    this.function = fn.function;
    this.role = fn.role;
    this.logGroup = fn.logGroup;
    grantWriter(fn.function, props.resources);
    this.url = fn.function.addFunctionUrl({ authType: props.authType ?? lambda.FunctionUrlAuthType.AWS_IAM });
  }

  /** Lets `grantee` call the Function URL (`lambda:InvokeFunctionUrl`, and `lambda:InvokeFunction` only via the URL). */
  grantInvokeUrl(grantee: iam.IGrantable): iam.Grant {
    return this.function.grantInvokeUrl(grantee);
  }
}
