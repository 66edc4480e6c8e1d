import { afterAll, describe, expect, it, vi } from 'vitest';
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { App } from 'aws-cdk-lib';
import { type NagAcknowledgement, nagAcknowledgements, prefixObjectsFinding } from '../../infra/nag.js';
import { Tierlog, type TierlogProps } from '../../infra/tierlog.js';
import { TierlogStack } from '../../infra/stack.js';
import { BlobBucket } from '../../infra/bucket.js';
import { ObjectsFunction } from '../../infra/objects-function.js';
import { ObjectsStreamCleanup } from '../../infra/objects-stream.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { schemaTable } from '../../infra/tables.js';
import { configToEnv } from '../../lib/config.js';
import { changeLogTableSchema, objectsTableSchema } from '../../lib/schema/tables.js';
import { cleanOutdirs, newApp, userStack } from './helpers.js';

afterAll(cleanOutdirs);

/** Every finding as `rule @ construct path`. */
function findings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`)).sort();
}

/**
 * Every finding is covered by an acknowledgement on a construct above it, and every
 * acknowledgement covers a finding (one no longer needed is noticed).
 */
function expectExactlyAcknowledged(found: readonly string[], acks: readonly NagAcknowledgement[]): void {
  for (const finding of found) {
    const [rule, path] = finding.split(' @ ') as [string, string];
    expect(
      acks.some((a) => a.id === rule && path.startsWith(`${a.construct.node.path}/`)),
      finding,
    ).toBe(true);
  }
  for (const ack of acks) {
    expect(
      found.some((f) => f.startsWith(`${ack.id} @ ${ack.construct.node.path}/`)),
      `${ack.id} on ${ack.construct.node.path}`,
    ).toBe(true);
  }
}

function stackWith(props: TierlogProps, flags = true): { app: App; stack: TierlogStack } {
  const app = newApp({ flags });
  return { app, stack: new TierlogStack(app, 'Tierlog', { tierlog: props }) };
}

const variants: Array<[string, TierlogProps]> = [
  ['defaults', {}],
  ['fan-out, own prefix, no objects function', { sweeperParallelism: 4, prefix: 'tenant/blobs', objectsFunction: false }],
  ['public objects URL', { objectsFunctionUrlAuth: lambda.FunctionUrlAuthType.NONE }],
  ['scratch: DESTROY (buckets emptied by a custom resource)', { removalPolicy: RemovalPolicy.DESTROY }],
];

describe('cdk-nag AwsSolutions', () => {
  it.each(variants)('%s: no unacknowledged finding', (_name, props) => {
    expect(findings(stackWith(props).app)).toEqual([]);
  });

  it.each(variants)('%s: each acknowledgement is still needed, and they are all there is', (_name, props) => {
    const { app, stack } = stackWith({ ...props, acknowledgeNagFindings: false });
    const found = findings(app);
    expectExactlyAcknowledged(found, nagAcknowledgements(stack.tierlog));
  });

  it('in an app without feature flags (an older cdk.json): still builds, still nag-clean', () => {
    expect(findings(stackWith({}, false).app)).toEqual([]);
  });

  it('the acknowledged findings of the default stack, by name', () => {
    const { app } = stackWith({ acknowledgeNagFindings: false });
    expect(findings(app).map((f) => f.replace(/[0-9A-F]{8}\b/g, '*'))).toEqual(
      [
        'AwsSolutions-IAM5[Resource::<TierlogBlobsBucket*.Arn>/blobs/*] @ Tierlog/Tierlog/ObjectsApi/Objects/Role/DefaultPolicy/Resource',
        'AwsSolutions-IAM5[Resource::<TierlogBlobsBucket*.Arn>/blobs/*] @ Tierlog/Tierlog/Sweeper/Sweeper/Role/DefaultPolicy/Resource',
        'AwsSolutions-IAM5[Resource::<TierlogSweeperFunction*.Arn>:*] @ Tierlog/Tierlog/Sweeper/SchedulerRole/DefaultPolicy/Resource',
        'AwsSolutions-SQS3 @ Tierlog/Tierlog/Sweeper/DeadLetterQueue/Resource',
        'AwsSolutions-IAM5[Resource::<TierlogBlobsBucket*.Arn>/blobs/*] @ Tierlog/Tierlog/ObjectsStream/Function/Role/DefaultPolicy/Resource',
        'AwsSolutions-IAM5[Resource::<TierlogObjectsTable*.Arn>/stream/*] @ Tierlog/Tierlog/ObjectsStream/Function/Role/DefaultPolicy/Resource',
        'AwsSolutions-SQS3 @ Tierlog/Tierlog/ObjectsStream/FailureQueue/Resource',
      ].sort(),
    );
  });

  it('every acknowledgement has a reason', () => {
    const { stack } = stackWith({});
    for (const ack of nagAcknowledgements(stack.tierlog)) expect(ack.reason.length, ack.id).toBeGreaterThan(40);
  });

  it("a user's writer: grantWriter's one finding, acknowledged with prefixObjectsFinding", () => {
    const { app, stack } = userStack();
    const tierlog = new Tierlog(stack, 'Storage');
    const fn = new lambda.Function(stack, 'MyWriter', {
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
      environment: { ...tierlog.writerEnvironment },
    });
    tierlog.grantWriter(fn);
    const before = findings(app).filter((f) => f.includes('/MyWriter/'));
    // IAM4: the user's own function uses the managed basic-execution policy; not tierlog's business.
    expect(before.filter((f) => !f.startsWith('AwsSolutions-IAM4'))).toEqual([
      `${prefixObjectsFinding(tierlog).id} @ UserStack/MyWriter/ServiceRole/DefaultPolicy/Resource`,
    ]);
    Validations.of(fn.role!).acknowledge(prefixObjectsFinding(tierlog));
    expect(findings(app).filter((f) => f.includes('/MyWriter/') && !f.startsWith('AwsSolutions-IAM4'))).toEqual([]);
    // Nothing in the construct itself.
    expect(findings(app).filter((f) => f.includes('/Storage/'))).toEqual([]);
  });

  it("a user's operators: the read-only grant has no finding; the full grant's one finding is prefixObjectsFinding", () => {
    const { app, stack } = userStack();
    const tierlog = new Tierlog(stack, 'Storage');
    const reader = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
    const operator = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    tierlog.grantOperatorReadOnly(reader);
    tierlog.grantOperator(operator);
    expect(findings(app).filter((f) => f.includes('/Reader/'))).toEqual([]);
    expect(findings(app).filter((f) => f.includes('/Operator/'))).toEqual([
      `${prefixObjectsFinding(tierlog).id} @ UserStack/Operator/DefaultPolicy/Resource`,
    ]);
    Validations.of(operator).acknowledge(prefixObjectsFinding(tierlog));
    expect(findings(app).filter((f) => f.includes('/Operator/') || f.includes('/Reader/') || f.includes('/Storage/'))).toEqual([]);
  });

  it('as a validation plugin (as infra/app.ts registers it): synth passes, and fails without the acknowledgements', () => {
    const ok = stackWith({}).app;
    Validations.of(ok).addPlugins(new AwsSolutionsChecks(ok));
    expect(() => ok.synth()).not.toThrow();

    const { app: bad, stack } = stackWith({ acknowledgeNagFindings: false });
    Validations.of(bad).addPlugins(new AwsSolutionsChecks(bad));
    // The plugin may print its report too; keep the test output quiet.
    const spies = (['log', 'error', 'warn'] as const).map((m) => vi.spyOn(console, m).mockImplementation(() => undefined));
    let message = '';
    try {
      bad.synth();
    } catch (err) {
      message = String((err as Error).message);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(message).not.toBe('');
    for (const ack of nagAcknowledgements(stack.tierlog)) expect(message).toContain(ack.id);
  });
});

describe('cdk-nag AwsSolutions: the parts on their own, over tables and a bucket of the user', () => {
  /** The parts over resources the user's stack defines, as examples/cdk-parts.ts builds them; a bucket imported when `imported`. */
  function partsStack(imported = false) {
    const { app, stack } = userStack();
    const changeLogTable = schemaTable(stack, 'ChangeLog', changeLogTableSchema);
    const objectsTable = schemaTable(stack, 'Objects', objectsTableSchema, {
      dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      timeToLiveAttribute: 'expiresAt',
    });
    const bucket = imported ? s3.Bucket.fromBucketName(stack, 'Imported', 'their-blobs') : new BlobBucket(stack, 'Blobs').bucket;
    const resources = { changeLogTable, objectsTable, bucket, prefix: 'media' };
    const environment = configToEnv({
      changeLogTable: changeLogTable.tableName,
      objectsTable: objectsTable.tableName,
      bucket: bucket.bucketName,
      prefix: 'media',
      leaseShards: 4,
    });
    const parts = [
      new TierlogSweeper(stack, 'Sweeper', { resources, environment, leaseShards: 4 }),
      new ObjectsStreamCleanup(stack, 'ObjectsStream', { resources, environment }),
      new ObjectsFunction(stack, 'ObjectsApi', { resources, environment }),
    ];
    return { app, parts };
  }

  it.each([
    ['a bucket of the stack', false],
    ['an imported bucket', true],
  ])('%s: each part names exactly the findings it has, and acknowledging them leaves none', (_name, imported) => {
    const { app, parts } = partsStack(imported);
    const found = findings(app);
    const acks = parts.flatMap((part) => part.nagAcknowledgements());
    expect(found.length).toBeGreaterThan(0);
    expectExactlyAcknowledged(found, acks);
    for (const ack of acks) expect(ack.reason.length, ack.id).toBeGreaterThan(40);
    for (const part of parts) part.acknowledgeNagFindings();
    expect(findings(app)).toEqual([]);
  });

  it('the Tierlog construct acknowledges what its parts name, no more', () => {
    const { stack } = stackWith({});
    const { sweeper, objectsStream, objectsApi } = stack.tierlog;
    expect(nagAcknowledgements(stack.tierlog)).toEqual([
      ...sweeper.nagAcknowledgements(),
      ...objectsStream.nagAcknowledgements(),
      ...objectsApi!.nagAcknowledgements(),
    ]);
  });
});
