/**
 * The cdk-nag AwsSolutions findings tierlog has by design, each acknowledged with its reason on
 * the construct that has it. A test drops these and expects exactly these findings, so one that
 * is no longer needed is noticed.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { DEFAULT_RUNTIME } from './function.js';
import type { Tierlog } from './tierlog.js';

/** One acknowledged finding: where, which, why. */
export interface NagAcknowledgement {
  /** The construct whose subtree has the finding. */
  readonly construct: IConstruct;
  /** The finding, e.g. `AwsSolutions-IAM5[Resource::<Bucket1234.Arn>/blobs/*]`. */
  readonly id: string;
  /** Why it is accepted. */
  readonly reason: string;
}

/**
 * The finding a grant of {@link Tierlog.grantWriter} (or `grantSweeper`, `grantOperator`) adds to
 * the grantee's policy: object access on `<bucket>/<prefix>/*`. Acknowledge it on your own
 * writer's or operator's role: `Validations.of(role).acknowledge(prefixObjectsFinding(tierlog))`.
 * `grantOperatorReadOnly` has no object access, so no finding. `store` is the `Tierlog`, or the
 * `resources` its parts were given when they are used on their own.
 */
export function prefixObjectsFinding(store: { readonly bucket: s3.IBucket; readonly prefix: string }): { id: string; reason: string } {
  return {
    id: `AwsSolutions-IAM5[Resource::${nagArn(store.bucket, store.bucket.bucketArn)}/${store.prefix}/*]`,
    reason:
      'Blob keys are generated per write (<prefix>/<object id>/<uuidv7>), so object access cannot name them; ' +
      'it is limited to the tierlog prefix of this one bucket, with exact actions.',
  };
}

/**
 * The findings tierlog accepts, on the constructs that have them: those of each of its parts (the
 * sweeper's, the objects stream's, the objects function's: each part's `nagAcknowledgements()`).
 */
export function nagAcknowledgements(tierlog: Tierlog): NagAcknowledgement[] {
  const parts = [tierlog.sweeper, tierlog.objectsStream, ...(tierlog.objectsApi !== undefined ? [tierlog.objectsApi] : [])];
  return parts.flatMap((part) => part.nagAcknowledgements());
}

/** Acknowledges {@link nagAcknowledgements} on `tierlog`'s constructs. */
export function acknowledgeNagFindings(tierlog: Tierlog): void {
  acknowledgeEach(nagAcknowledgements(tierlog));
}

/** Acknowledges each of `acks` on its construct, with its reason. */
export function acknowledgeEach(acks: readonly NagAcknowledgement[]): void {
  for (const ack of acks) Validations.of(ack.construct).acknowledge({ id: ack.id, reason: ack.reason });
}

/** The Node.js major of a runtime name (`nodejs24.x`: 24), 0 for another. */
function nodeMajor(name: string): number {
  return Number(/^nodejs(\d+)/.exec(name)?.[1] ?? 0);
}

/**
 * The finding `AwsSolutions-L1` (not the latest runtime of its family) of a tierlog function on
 * {@link DEFAULT_RUNTIME}, when the aws-cdk-lib in use knows a newer Node.js runtime. cdk-nag
 * judges "latest" by that library's list of runtimes, and a release newer than the one tierlog was
 * tested with, which its peer range admits (2.278 knows `nodejs26.x`), failed the synth of every
 * app under cdk-nag on tierlog's own functions, acknowledged findings or not. None for a runtime the
 * app chose (its finding is the app's to acknowledge, README: `runtime`), nor when the default is
 * the newest the library knows.
 */
export function defaultRuntimeFinding(fn: IConstruct): NagAcknowledgement[] {
  const runtime = (fn.node.defaultChild as lambda.CfnFunction | undefined)?.runtime;
  if (runtime !== DEFAULT_RUNTIME.name) return [];
  const newest = Math.max(...lambda.Runtime.ALL.filter((r) => r.family === lambda.RuntimeFamily.NODEJS).map((r) => nodeMajor(r.name)));
  if (newest <= nodeMajor(runtime)) return [];
  return [
    {
      construct: fn,
      id: 'AwsSolutions-L1',
      reason:
        `${runtime} is the runtime tierlog's handler bundles are built and tested for (its default); ` +
        `the nodejs${newest}.x this aws-cdk-lib knows is not yet one they are tested on (choose it with the runtime prop).`,
    },
  ];
}

/** The finding of a dead-letter queue cdk-nag does not recognise as one (`AwsSolutions-SQS3`), on `queue`. */
export function deadLetterQueueFinding(queue: IConstruct, whoseQueue: string, alarm: string): NagAcknowledgement {
  return {
    construct: queue,
    id: 'AwsSolutions-SQS3',
    reason: `This queue IS a dead-letter queue: ${whoseQueue}, which cdk-nag does not recognise as one. It is watched by the ${alarm} alarm.`,
  };
}

/**
 * The ARN of a bucket or table as cdk-nag prints it: `<Logical.Arn>` for one of this app, the
 * resolved ARN for an imported one (`objectsTable` / `bucket` of your own, which has no resource).
 */
export function nagArn(resource: IConstruct, arn: string): string {
  if (resource.node.defaultChild !== undefined) return `<${logicalIdOf(resource)}.Arn>`;
  return nagText(resource, arn);
}

/**
 * `value` (an ARN built in `scope`'s stack, with its tokens) as cdk-nag prints it in a finding:
 * `arn:aws:glue:eu-west-1:...` in a stack given its account and region, `arn:<AWS::Partition>:glue:
 * <AWS::Region>:...` in an environment-agnostic one. An acknowledgement written for one of the two
 * does not match the other's finding.
 */
export function nagText(scope: IConstruct, value: string): string {
  return renderNag(Stack.of(scope).resolve(value));
}

function renderNag(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (Array.isArray(v['Fn::Join'])) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(renderNag).join(sep);
  }
  if (typeof v.Ref === 'string') return `<${v.Ref}>`;
  if (Array.isArray(v['Fn::GetAtt'])) return `<${(v['Fn::GetAtt'] as string[]).join('.')}>`;
  return JSON.stringify(value);
}

/** The CloudFormation logical id of `construct`'s resource, as cdk-nag prints it. */
export function logicalIdOf(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement;
  return Stack.of(construct).resolve(element.logicalId) as string;
}
