/**
 * The cdk-nag AwsSolutions findings tierlog has by design, each acknowledged with its reason on
 * the construct that has it. A test drops these and expects exactly these findings, so one that
 * is no longer needed is noticed.
 */
import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
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
 * `grantOperatorReadOnly` has no object access, so no finding.
 */
export function prefixObjectsFinding(tierlog: Tierlog): { id: string; reason: string } {
  return {
    id: `AwsSolutions-IAM5[Resource::${nagArn(tierlog.bucket, tierlog.bucket.bucketArn)}/${tierlog.prefix}/*]`,
    reason:
      'Blob keys are generated per write (<prefix>/<object id>/<uuidv7>), so object access cannot name them; ' +
      'it is limited to the tierlog prefix of this one bucket, with exact actions.',
  };
}

/** The findings tierlog accepts, on the constructs that have them. */
export function nagAcknowledgements(tierlog: Tierlog): NagAcknowledgement[] {
  const prefixObjects = prefixObjectsFinding(tierlog);
  const sweeper = tierlog.sweeper;
  const acks: NagAcknowledgement[] = [
    { construct: sweeper.role, ...prefixObjects },
    {
      construct: sweeper.schedulerRole,
      id: `AwsSolutions-IAM5[Resource::<${logicalId(sweeper.function)}.Arn>:*]`,
      reason:
        'Added by the EventBridge Scheduler Lambda target (Function.grantInvoke): the qualified ARNs (versions, aliases) ' +
        'of the sweeper function only; the schedules invoke its unqualified ARN.',
    },
    {
      construct: sweeper.deadLetterQueue,
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue IS a dead-letter queue: the schedules' DeadLetterConfig, which cdk-nag does not recognise as one. " +
        'It is watched by the DeadLetterQueueNotEmpty alarm.',
    },
  ];
  const stream = tierlog.objectsStream;
  acks.push(
    { construct: stream.role, ...prefixObjects },
    {
      construct: stream.role,
      id: `AwsSolutions-IAM5[Resource::${nagArn(tierlog.objectsTable, tierlog.objectsTable.tableArn)}/stream/*]`,
      reason:
        "dynamodb:ListStreams, which the stream event source mapping needs, on the objects table's own streams (the resource AWS documents for it); " +
        'it lists stream ARNs, no data.',
    },
    {
      construct: stream.failureQueue,
      id: 'AwsSolutions-SQS3',
      reason:
        "This queue IS a dead-letter queue: the stream event source mapping's on-failure destination, which cdk-nag does not recognise as one. " +
        'It is watched by the FailureQueueNotEmpty alarm.',
    },
  );
  if (tierlog.objectsFunction?.role) acks.push({ construct: tierlog.objectsFunction.role, ...prefixObjects });
  return acks;
}

/** Acknowledges {@link nagAcknowledgements} on `tierlog`'s constructs. */
export function acknowledgeNagFindings(tierlog: Tierlog): void {
  for (const ack of nagAcknowledgements(tierlog)) {
    Validations.of(ack.construct).acknowledge({ id: ack.id, reason: ack.reason });
  }
}

/**
 * The ARN of a bucket or table as cdk-nag prints it: `<Logical.Arn>` for one of this app, the
 * resolved ARN for an imported one (`objectsTable` / `bucket` of your own, which has no resource).
 */
export function nagArn(resource: IConstruct, arn: string): string {
  if (resource.node.defaultChild !== undefined) return `<${logicalId(resource)}.Arn>`;
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

function logicalId(construct: IConstruct): string {
  const element = construct.node.defaultChild as CfnElement;
  return Stack.of(construct).resolve(element.logicalId) as string;
}
