/**
 * Example (c): tierlog added to an existing stack, with your own writer function granted on it,
 * checked by cdk-nag's AwsSolutions pack (synth fails on an unacknowledged finding).
 *
 *   npm run build && npm run synth
 *
 * (`synth` first bundles lambda-writer.ts, tierlog and the SDK inside, into dist/writer/index.cjs:
 * the writer's asset below.)
 */
import { App, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { Tierlog, prefixObjectsFinding } from 'tierlog/cdk';

export class MyServiceStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    const tierlog = new Tierlog(this, 'Tierlog', {
      prefix: 'media', // default 'blobs'
      leaseShards: 8, // default 4
      sweeperParallelism: 2, // default 1: two groups of schedules (sweep, housekeeping), shards [0,2,4,6] and [1,3,5,7]
      oldestExpiredAgeThreshold: Duration.minutes(30),
      objectsFunction: false, // you bring your own writers
      outputs: true, // TIERLOG_* values as stack outputs, for the CLI
      // objectsTable: existingTable, bucket: existingBucket,   // bring your own
      // alarmActions: [new SnsAction(opsTopic)],
    });

    // Your writer: a Lambda that imports tierlog (TieredStore + DynamoChangeLog), with a role of
    // its own (no managed policy: cdk-nag's IAM4) that may write its own log group only.
    const logGroup = new logs.LogGroup(this, 'WriterLogs', { retention: logs.RetentionDays.THREE_MONTHS });
    const role = new iam.Role(this, 'WriterRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }),
    );
    const writer = new lambda.Function(this, 'Writer', {
      code: lambda.Code.fromAsset('dist/writer'), // your bundled writer (e.g. lambda-writer.ts)
      handler: 'index.handler',
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      role,
      logGroup,
      environment: { ...tierlog.writerEnvironment }, // TIERLOG_CHANGELOG_TABLE, _OBJECTS_TABLE, _BUCKET, _PREFIX, _LEASE_SHARDS
    });
    tierlog.grantWriter(writer); // exact actions; S3 only under media/
    // Node.js 24, the runtime tierlog is tested on: cdk-nag's "not the latest runtime" (AwsSolutions-L1)
    // under an aws-cdk-lib that knows a newer one (2.278 knows nodejs26.x), acknowledged with its reason:
    Validations.of(writer).acknowledge({ id: 'AwsSolutions-L1', reason: 'Node.js 24, the runtime tierlog is tested on' });
    // The grant's one cdk-nag finding (object access on media/*), with its reason:
    Validations.of(role).acknowledge(prefixObjectsFinding(tierlog));

    // Operators' CLI roles, assumed by your operators: read-only (status / inspect / audit) and
    // full (+ sweep, audit --delete). The read-only grant leaves no cdk-nag finding.
    const readers = new iam.Role(this, 'TierlogReaders', { assumedBy: new iam.AccountRootPrincipal() });
    tierlog.grantOperatorReadOnly(readers);
    const operators = new iam.Role(this, 'TierlogOperators', { assumedBy: new iam.AccountRootPrincipal() });
    tierlog.grantOperator(operators);
    Validations.of(operators).acknowledge(prefixObjectsFinding(tierlog));
  }
}

const app = new App();
new MyServiceStack(app, 'MyService');
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
