/**
 * The cdk-nag AwsSolutions findings tierlog has by design, each acknowledged with its reason on
 * the construct that has it. A test drops these and expects exactly these findings, so one that
 * is no longer needed is noticed.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
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
  return renderNag(Stack.of(resource).resolve(arn));
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
