/**
 * The audit-at-scale part of the construct, from the synthesized template: off by default; when on,
 * the inventory configuration, the Glue tables, the Athena workgroup, the state machine (exports →
 * plan → DDL → query → Distributed Map re-verify/delete), the alarms, least-privilege policies,
 * and no cdk-nag finding left unacknowledged.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { LEASE_INDEX_NAME } from '../../lib/constants.js';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type App, type CfnElement, CfnParameter, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { AuditAtScale } from '../../infra/audit-at-scale.js';
import { KMS_ACTIONS_FOR, type TierlogResources } from '../../infra/permissions.js';
import { toAttribute, toGlobalSecondaryIndex } from '../../infra/tables.js';
import { changeLogTableSchema } from '../../lib/schema/tables.js';
import { TierlogStack } from '../../infra/stack.js';
import { Tierlog, type TierlogProps } from '../../infra/tierlog.js';
import { METRICS_NAMESPACE } from '../../lib/recovery/metric-sink.js';
import { actions, changeLogTableIn, cleanOutdirs, logicalIdOf, newApp, statementsOfRole, storeNames, userStack } from './helpers.js';

afterAll(cleanOutdirs);

function build(props: TierlogProps, flags = true): { app: App; template: Template; stack: TierlogStack } {
  const app = newApp({ flags });
  const stack = new TierlogStack(app, 'Tierlog', { tierlog: props });
  return { app, stack, template: Template.fromStack(stack) };
}

function findings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`)).sort();
}

/** The resources a policy allows dynamodb:Scan on, sorted. */
function scanned(policy: unknown): unknown[] {
  const statements = (policy as any).Properties.PolicyDocument.Statement as any[];
  return statements
    .filter((st) => [st.Action].flat().includes('dynamodb:Scan'))
    .flatMap((st) => [st.Resource].flat())
    .sort(byJson);
}

/**
 * The re-verification's Distributed Map writes its batches' results to the snapshots bucket
 * (`map-results`): without a ResultWriter, Step Functions gathers them into the map's output, which
 * may not pass 256 KiB whatever ResultPath discards (States.DataLimitExceeded).
 */
function expectMapResultsInSnapshotsBucket(stack: TierlogStack, template: Template): void {
  const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0] as any;
  const body = machine.Properties.DefinitionString;
  const text =
    typeof body === 'string' ? body : (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
  const map = JSON.parse(text).States.ReverifyAndDelete;
  expect(map.ResultWriter?.Resource).toMatch(/:states:::s3:putObject$/);
  expect(map.ResultWriter.Parameters.Prefix).toBe('map-results');
  const bucketRef = JSON.stringify(stack.resolve(stack.tierlog.auditAtScale!.snapshotBucket.bucketName));
  const parts = (body['Fn::Join']?.[1] ?? []) as unknown[];
  expect(parts.some((p) => JSON.stringify(p) === bucketRef)).toBe(true);
}

const byJson = (a: unknown, b: unknown) => JSON.stringify(a).localeCompare(JSON.stringify(b));
const objectsTableArn = (stack: TierlogStack) => stack.resolve(stack.tierlog.objectsTable.tableArn);
/** The change log and its lease index (read when the change log is empty or holds an item that is no instance: lib/recovery/change-log-protection.ts). */
const changeLogScans = (stack: TierlogStack) => [
  stack.resolve(stack.tierlog.changeLogTable.tableArn),
  stack.resolve(`${stack.tierlog.changeLogTable.tableArn}/index/${LEASE_INDEX_NAME}`),
];

/** A stack of the user's own, in a fixed account and region. */
const userStackIn = () => new Stack(newApp(), 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });

/** A table of `stack` keyed `key`, with point-in-time recovery (each run exports it). */
const exportableTable = (stack: Stack, id: string) =>
  new dynamodb.TableV2(stack, id, {
    partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  });

/**
 * The resources of an audit part in `stack`: an exportable change log (`Log`) and objects table
 * (`Objects`), a bucket `Blobs`, the prefix `blobs`; `overrides` in their place.
 */
const auditResourcesIn = (stack: Stack, overrides: Partial<TierlogResources> = {}): TierlogResources => ({
  changeLogTable: changeLogTableIn(stack, 'Log', { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } }),
  objectsTable: overrides.objectsTable ?? exportableTable(stack, 'Objects'),
  bucket: overrides.bucket ?? new s3.Bucket(stack, 'Blobs'),
  prefix: 'blobs',
});

/** A `Table` (not `TableV2`) of the app: the change log's (id `Log`) with its key and lease index. */
const v1Table = (stack: Stack, id: string, pitr: boolean): dynamodb.ITableV2 => {
  const log = id === 'Log';
  const table = new dynamodb.Table(stack, id, {
    partitionKey: log ? toAttribute(changeLogTableSchema.partitionKey) : { name: 'key', type: dynamodb.AttributeType.STRING },
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: pitr },
  });
  if (log)
    for (const index of changeLogTableSchema.globalSecondaryIndexes) {
      const { readCapacity: _r, writeCapacity: _w, ...props } = toGlobalSecondaryIndex(index);
      table.addGlobalSecondaryIndex(props);
    }
  return table as unknown as dynamodb.ITableV2;
};

describe('auditAtScale', () => {
  it('is off by default: no state machine, no inventory, no Glue, no Athena', () => {
    const { template } = build({});
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    template.resourceCountIs('AWS::Glue::Database', 0);
    template.resourceCountIs('AWS::Athena::WorkGroup', 0);
    template.hasResourceProperties('AWS::S3::Bucket', Match.not(Match.objectLike({ InventoryConfigurations: Match.anyValue() })));
  });

  describe('on', () => {
    const { app, template, stack } = build({ auditAtScale: { delete: true } });

    it('a daily Parquet inventory of the current versions under <prefix>/, with size and last-modified', () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        InventoryConfigurations: [
          Match.objectLike({
            Enabled: true,
            Destination: Match.objectLike({ Format: 'Parquet', Prefix: 'inventory' }),
            ScheduleFrequency: 'Daily',
            IncludedObjectVersions: 'Current',
            Prefix: 'blobs/',
            OptionalFields: ['Size', 'LastModifiedDate'],
          }),
        ],
      });
    });

    it('Glue tables over the inventory (symlink, partitioned by dt) and the two exports (one text column)', () => {
      template.resourceCountIs('AWS::Glue::Table', 3);
      template.hasResourceProperties('AWS::Glue::Table', {
        TableInput: Match.objectLike({
          Name: 'inventory',
          PartitionKeys: [{ Name: 'dt', Type: 'string' }],
          StorageDescriptor: Match.objectLike({ InputFormat: 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat' }),
        }),
      });
      for (const name of ['objects_export', 'changelog_export']) {
        template.hasResourceProperties('AWS::Glue::Table', {
          TableInput: Match.objectLike({
            Name: name,
            StorageDescriptor: Match.objectLike({ Columns: [{ Name: 'line', Type: 'string' }] }),
          }),
        });
      }
      template.hasResourceProperties('AWS::Athena::WorkGroup', {
        WorkGroupConfiguration: Match.objectLike({
          EnforceWorkGroupConfiguration: true,
          ResultConfiguration: Match.objectLike({ EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } }),
        }),
      });
    });

    it('the state machine: exports, plan, DDL, query, then a Distributed Map over the result that calls the re-verify Lambda', () => {
      const machines = template.findResources('AWS::StepFunctions::StateMachine');
      const json = JSON.stringify(Object.values(machines)[0]);
      for (const piece of [
        'exportTableToPointInTime',
        'describeExport',
        'athena:startQueryExecution.sync',
        '\\"Mode\\":\\"DISTRIBUTED\\"',
        '\\"ItemReader\\"',
        '\\"InputType\\":\\"CSV\\"',
        '\\"MaxItemsPerBatch\\":500',
        // Every batch gets the plan's cutoff, to tell an incomplete inventory from a loss.
        '\\"BatchInput\\":{\\"cutoff.$\\":\\"$.plan.cutoff\\"}',
      ]) {
        expect(json, piece).toContain(piece);
      }
      template.resourceCountIs('AWS::Scheduler::Schedule', 3); // the sweep, its housekeeping, the audit
    });

    // Lambda answers a throttled invocation (the account's concurrency spent by other functions, a
    // new account's 10) with Lambda.TooManyRequestsException, which the LambdaInvoke retry for
    // service errors does not match: one throttled batch failed the Distributed Map (no tolerated
    // failure), the run and its alarm. The throttled invocation did not run: it is retried.
    it('the plan and every re-verify batch are retried when Lambda throttles them, every Athena statement when Athena does (nothing ran)', () => {
      const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0] as any;
      const body = machine.Properties.DefinitionString;
      const text =
        typeof body === 'string' ? body : (body['Fn::Join'][1] as unknown[]).map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
      const states = JSON.parse(text).States;
      const retried = (state: any) => (state.Retry ?? []).flatMap((r: any) => r.ErrorEquals as string[]);
      expect(retried(states.Plan)).toContain('Lambda.TooManyRequestsException');
      expect(retried(states.ReverifyAndDelete.ItemProcessor.States.ReverifyBatch)).toContain('Lambda.TooManyRequestsException');
      // Athena refuses a query past the account's active-query quota (shared with other workloads)
      // with TooManyRequestsException; nothing started: each statement and the query are retried.
      expect(retried(states.Ddl.ItemProcessor.States.RunDdl)).toContain('Athena.TooManyRequestsException');
      expect(retried(states.Query)).toContain('Athena.TooManyRequestsException');
    });

    // Without a ResultWriter, Step Functions gathers every batch's output into the Distributed Map's
    // result, which may not pass 256 KiB even when ResultPath discards it (States.DataLimitExceeded):
    // a run of some thousands of batches failed after its last delete. The results go to S3.
    it("the re-verification's Distributed Map writes its batches' results to the snapshots bucket, not into the run's 256 KiB output", () => {
      expectMapResultsInSnapshotsBucket(stack, template);
    });

    // A child execution of the Distributed Map takes at most 256 KiB of input, and its batches were
    // bounded by rows alone (500): a row is a blob key of up to 1 KiB (an S3 key; long object keys
    // make long blob keys) with the object's key beside it for a lost blob, so 500 rows of a store
    // with long keys pass that. Bounded in bytes too, Step Functions makes such batches smaller.
    it('re-verification batches are bounded in bytes as well as rows, within what a child execution takes', () => {
      const CHILD_INPUT_LIMIT = 256 * 1024;
      const row = {
        kind: 'lost',
        blob_key: `blobs/${'A'.repeat(1024 - 'blobs/'.length - 37)}/0190a5a0-0000-7000-8000-000000000000`,
        object_key: 'k'.repeat(700),
        size: '',
        last_modified: '',
      };
      expect(JSON.stringify({ Items: Array.from({ length: 500 }, () => row) }).length).toBeGreaterThan(CHILD_INPUT_LIMIT);
      const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0] as {
        Properties: { DefinitionString: string | { 'Fn::Join': [string, unknown[]] } };
      };
      const body = machine.Properties.DefinitionString;
      const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : 'TOKEN')).join('');
      const batcher = JSON.parse(text).States.ReverifyAndDelete.ItemBatcher as {
        MaxItemsPerBatch?: number;
        MaxInputBytesPerBatch?: number;
      };
      expect(batcher.MaxItemsPerBatch).toBe(500);
      expect(batcher.MaxInputBytesPerBatch, 'a bound in bytes').toBeGreaterThan(0);
      // Room left for the batch input (the plan's cutoff) and the batch's own wrapping.
      expect(batcher.MaxInputBytesPerBatch!).toBeLessThanOrEqual(CHILD_INPUT_LIMIT - 16 * 1024);
    });

    it("the state machine's role may write an export's files as DynamoDB does, and Athena's results as Athena does (AWS's documented policies)", () => {
      const policies = template.findResources('AWS::IAM::Policy');
      const machine = Object.entries(policies).find(([id]) => id.includes('AuditAtScaleStateMachineRole'));
      expect(machine).toBeDefined();
      const statements = (machine![1] as any).Properties.PolicyDocument.Statement as any[];
      const exportsArn = JSON.stringify(stack.resolve(stack.tierlog.auditAtScale!.snapshotBucket.arnForObjects('exports/*')));
      const onExports = statements.filter((st) => [st.Resource].flat().some((r: unknown) => JSON.stringify(r) === exportsArn));
      const actions = onExports.flatMap((st) => [st.Action].flat());
      for (const action of ['s3:AbortMultipartUpload', 's3:PutObject', 's3:PutObjectAcl']) expect(actions, action).toContain(action);
      // Athena's results, written in parts as its managed policy allows.
      const resultsArn = JSON.stringify(stack.resolve(stack.tierlog.auditAtScale!.snapshotBucket.arnForObjects('athena-results/*')));
      const onResults = statements.filter((st) => [st.Resource].flat().some((r: unknown) => JSON.stringify(r) === resultsArn));
      const resultActions = onResults.flatMap((st) => [st.Action].flat());
      for (const action of ['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject'])
        expect(resultActions, action).toContain(action);
    });

    // The Athena integration grants object writes on "*" unless its task names the results'
    // location: the run's role could then overwrite any object of the account, the live blobs
    // under the prefix among them (an Athena statement writes with the caller's rights).
    it("the state machine's role writes no object outside the snapshots bucket (no s3:PutObject on every bucket)", () => {
      const role = stack.tierlog.auditAtScale!.stateMachine.role;
      const snapshots = JSON.stringify(stack.resolve(stack.tierlog.auditAtScale!.snapshotBucket.bucketName));
      const writes = statementsOfRole(template, logicalIdOf(stack, role)).filter(
        (st) => st.Effect === 'Allow' && actions(st).some((a) => ['s3:PutObject', 's3:AbortMultipartUpload'].includes(a)),
      );
      expect(writes.length).toBeGreaterThan(0);
      for (const st of writes) {
        for (const resource of [st.Resource].flat()) {
          const text = JSON.stringify(resource);
          expect(text, 'a write on every bucket').not.toBe('"*"');
          const inSnapshots =
            text.includes(JSON.stringify(stack.resolve(stack.tierlog.auditAtScale!.snapshotBucket.bucketArn))) ||
            text.includes(snapshots.slice(1, -1));
          expect(inSnapshots, `${text} is the snapshots bucket's`).toBe(true);
        }
      }
    });

    // The Athena integration grants s3:GetObject, s3:ListBucket, s3:GetBucketLocation and
    // s3:CreateBucket on "*" whatever its task names: the run could read every object of the
    // account (the live blobs, other applications' data) and create buckets. Its queries read the
    // snapshots bucket only, which the construct grants on exactly.
    it("the state machine's role has no S3 action on every bucket: it reads the snapshots bucket only, and creates none", () => {
      const role = stack.tierlog.auditAtScale!.stateMachine.role;
      const onEverything = statementsOfRole(template, logicalIdOf(stack, role)).filter(
        (st) => st.Effect === 'Allow' && [st.Resource].flat().some((r: unknown) => r === '*'),
      );
      expect(onEverything.flatMap(actions).filter((a) => a.startsWith('s3:'))).toEqual([]);
      // What Athena reads through it stays granted, on the snapshots bucket.
      const snapshots = stack.tierlog.auditAtScale!.snapshotBucket;
      const granted = (resource: unknown) =>
        statementsOfRole(template, logicalIdOf(stack, role))
          .filter((st) => [st.Resource].flat().some((r: unknown) => JSON.stringify(r) === JSON.stringify(stack.resolve(resource))))
          .flatMap(actions);
      for (const prefix of ['inventory/*', 'exports/*', 'athena-results/*'])
        expect(granted(snapshots.arnForObjects(prefix)), prefix).toContain('s3:GetObject');
      expect(granted(snapshots.bucketArn)).toEqual(expect.arrayContaining(['s3:ListBucket', 's3:GetBucketLocation']));
    });

    it("the Lambda re-verifies with exactly: change-log Scan, HV BatchGetItem, DescribeTable, the objects table's TTL, listing and delete under the prefix, an expired item's removal (no blob read)", () => {
      const policies = template.findResources('AWS::IAM::Policy');
      const fnPolicy = Object.entries(policies).find(([id]) => id.includes('AuditAtScaleFunctionRole'));
      expect(fnPolicy).toBeDefined();
      const actions = (fnPolicy![1] as any).Properties.PolicyDocument.Statement.flatMap((s: any) => [s.Action].flat()).sort();
      expect(actions).toEqual(
        [
          'dynamodb:BatchGetItem',
          'dynamodb:DeleteItem',
          // Whether the objects table is a restored copy (lib/recovery/restored-table.ts).
          'dynamodb:DescribeTable',
          'dynamodb:DescribeTimeToLive',
          'dynamodb:Scan',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          's3:DeleteObject',
          's3:ListBucket',
          's3:ListBucket',
        ].sort(),
      );
      // The change log, and (deleting) the objects table: its pointers are sampled before the first delete.
      expect(scanned(fnPolicy![1])).toEqual([...changeLogScans(stack), objectsTableArn(stack)].sort(byJson));
      const text = JSON.stringify(policies);
      expect(text).not.toContain('"dynamodb:*"');
      expect(text).not.toContain('"s3:*"');
    });

    it('the snapshots bucket (table exports: every item of both tables) is private, SSE-S3 and TLS 1.2+ only, as the blob bucket', () => {
      const { stack } = build({ auditAtScale: true });
      const snapshots = stack.resolve((stack.tierlog.auditAtScale!.snapshotBucket.node.defaultChild as CfnElement).logicalId) as string;
      const t = Template.fromStack(stack);
      expect(t.findResources('AWS::S3::Bucket')[snapshots]!.Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
      });
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: snapshots },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
            Match.objectLike({ Effect: 'Deny', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
          ]),
        },
      });
    });

    it("Scheduler assumes the audit's role only for this account's default schedule group", () => {
      const roles = template.findResources('AWS::IAM::Role');
      const role = Object.entries(roles).find(([id]) => id.includes('AuditAtScaleSchedulerRole'));
      expect(role).toBeDefined();
      const statement = (role![1] as any).Properties.AssumeRolePolicyDocument.Statement[0];
      expect(statement.Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
      expect(statement.Condition.StringEquals['aws:SourceAccount']).toEqual({ Ref: 'AWS::AccountId' });
      expect(JSON.stringify(statement.Condition.StringEquals['aws:SourceArn'])).toContain(':schedule-group/default');
    });

    // It samples the objects table report-only too: an orphan is confirmed only through a table
    // shown to be this bucket's store (lib/recovery/snapshot-audit/reverify.ts).
    it('report-only (delete: false, the default): the Lambda cannot delete, nor read any object, and samples the objects table; nag-clean', () => {
      const { app: a, template: t, stack: s } = build({ auditAtScale: true });
      const policies = t.findResources('AWS::IAM::Policy');
      const fnPolicy = Object.entries(policies).find(([id]) => id.includes('AuditAtScaleFunctionRole'));
      expect(JSON.stringify(fnPolicy)).not.toContain('s3:DeleteObject');
      expect(JSON.stringify(fnPolicy)).not.toContain('dynamodb:DeleteItem');
      expect(JSON.stringify(fnPolicy)).not.toContain('s3:GetObject');
      expect(scanned(fnPolicy![1])).toEqual([...changeLogScans(s), objectsTableArn(s)].sort(byJson));
      expect(findings(a)).toEqual([]);
    });

    it('a run Scheduler cannot start goes to a dead-letter queue, and that alarms (no run, so no failed run to alarm on)', () => {
      const { stack } = build({ auditAtScale: true });
      const t = Template.fromStack(stack);
      const audit = stack.tierlog.auditAtScale!;
      const lid = (c: { node: { defaultChild?: unknown } }) => stack.resolve((c.node.defaultChild as CfnElement).logicalId) as string;
      const schedules = Object.values(t.findResources('AWS::Scheduler::Schedule')) as any[];
      const auditSchedule = schedules.find((sc) => JSON.stringify(sc.Properties.Target.Arn).includes(lid(audit.stateMachine)));
      expect(auditSchedule.Properties.Target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [lid(audit.deadLetterQueue), 'Arn'] } });
      expect((t.findResources('AWS::CloudWatch::Alarm')[lid(audit.alarms.runsNotStarted)] as any).Properties).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [lid(audit.deadLetterQueue), 'QueueName'] } }],
        Threshold: 1,
      });
    });

    it('a schedule disabled or deleted starts no run (nothing fails, nothing reaches the dead-letter queue): an alarm on the heartbeat every run publishes, missing data breaching', () => {
      const { stack: s } = build({ auditAtScale: true });
      const t = Template.fromStack(s);
      const lid = (c: { node: { defaultChild?: unknown } }) => s.resolve((c.node.defaultChild as CfnElement).logicalId) as string;
      const notRunning = s.tierlog.auditAtScale!.alarms.auditNotRunning;
      expect(notRunning).toBeDefined();
      const p = (t.findResources('AWS::CloudWatch::Alarm')[lid(notRunning!)] as any).Properties;
      // The metric every run's plan publishes (the InventoryStale alarm's), counted.
      expect(p).toMatchObject({
        Namespace: METRICS_NAMESPACE,
        MetricName: 'SnapshotInventoryAge',
        Dimensions: [
          { Name: 'deployment', Value: s.tierlog.metricsDeployment },
          { Name: 'service', Value: 'tierlog-snapshot-audit' },
        ],
        Statistic: 'SampleCount',
        Period: 3600,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        // Daily runs: two intervals and a run's 24-hour timeout.
        EvaluationPeriods: 72,
        DatapointsToAlarm: 72,
      });
      expect(p.AlarmDescription).toMatch(/Runbook: .*, AuditNotRunning\.$/);
      // Hourly runs: two hours and a day; a schedule of some days only: not read, no alarm.
      const hourly = build({ auditAtScale: { schedule: scheduler.ScheduleExpression.rate(Duration.hours(1)) } }).stack;
      const h = (Template.fromStack(hourly).findResources('AWS::CloudWatch::Alarm') as any)[
        hourly.resolve((hourly.tierlog.auditAtScale!.alarms.auditNotRunning!.node.defaultChild as CfnElement).logicalId)
      ].Properties;
      expect(h.EvaluationPeriods).toBe(26);
      const weekly = build({ auditAtScale: { schedule: scheduler.ScheduleExpression.expression('cron(0 6 ? * MON *)') } }).stack;
      expect(weekly.tierlog.auditAtScale!.alarms.auditNotRunning).toBeUndefined();
    });

    it('alarms: failed / timed-out / aborted runs, any confirmed lost blob, an inventory over three days old', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'SnapshotLostBlobs', Threshold: 1 });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'SnapshotInventoryAge',
        Namespace: METRICS_NAMESPACE,
        Dimensions: [
          { Name: 'deployment', Value: stack.tierlog.metricsDeployment },
          { Name: 'service', Value: 'tierlog-snapshot-audit' },
        ],
        Statistic: 'Maximum',
        Threshold: 3 * 24 * 3600,
        ComparisonOperator: 'GreaterThanThreshold',
        // The last run's verdict stands until the next run: no OK an hour after each run.
        TreatMissingData: 'ignore',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([Match.objectLike({ Expression: 'FILL(f, 0) + FILL(t, 0) + FILL(a, 0)' })]),
      });
    });

    it('cdk-nag AwsSolutions: no unacknowledged finding', () => {
      expect(findings(app)).toEqual([]);
    });
  });

  // A stack given its account and region (infra/app.ts's under `cdk deploy` with credentials, most
  // users' own) has ARNs with them written out, where an environment-agnostic one has
  // <AWS::Region>: acknowledgements written for the latter left the findings of the Glue tables,
  // the Athena results and the Distributed Map's executions open, and the synth under cdk-nag failed.
  it.each([
    ['report only', true],
    ['deleting', { delete: true }],
  ] as const)('in a stack with its account and region (%s): no unacknowledged finding, none acknowledged for nothing', (_name, audit) => {
    const env = { account: '123456789012', region: 'eu-west-1' };
    const app = newApp();
    new TierlogStack(app, 'Tierlog', { env, tierlog: { auditAtScale: audit } });
    expect(findings(app)).toEqual([]);
    const bare = newApp();
    const stack = new TierlogStack(bare, 'Tierlog', { env, tierlog: { auditAtScale: audit, acknowledgeNagFindings: false } });
    const found = findings(bare);
    for (const ack of stack.tierlog.auditAtScale!.nagAcknowledgements()) {
      expect(
        found.some((f) => f.startsWith(`${ack.id} @ ${ack.construct.node.path}/`)),
        `${ack.id} on ${ack.construct.node.path}`,
      ).toBe(true);
    }
  });

  // `delete` decides two things: the function's TIERLOG_SNAPSHOT_DELETE (String(delete)) and its
  // s3:DeleteObject grant (if delete). A value that is not a boolean (`cdk deploy -c delete=false`
  // gives the string "false") granted the deletes to a function told not to delete, and `1` or
  // "yes" deployed a function whose every run failed at its init (TIERLOG_SNAPSHOT_DELETE="1").
  it.each([
    ['the string "false"', 'false'],
    ['the string "true"', 'true'],
    ['1', 1],
  ])('refuses auditAtScale.delete %s at synth, naming it', (_what, value) => {
    expect(() => build({ auditAtScale: { delete: value as unknown as boolean } })).toThrow(/auditAtScale\.delete must be true or false/);
  });

  it('refuses objects-table attribute names its query cannot read from the exports (only letters, digits, _): each run would fail at its plan', () => {
    // Valid names for the writers (TIERLOG_HV_ATTRIBUTES takes . and -), not for the snapshot query's JSON paths.
    expect(() => build({ auditAtScale: true, hvAttributes: { blob: 'blob-ref' } })).toThrow(/auditAtScale.*hvAttributes\.blob.*"blob-ref"/);
    expect(() => build({ auditAtScale: true, hvAttributes: { deleted: 'is.deleted' } })).toThrow(/hvAttributes\.deleted/);
    // The expiry attribute too: the query reads it for the objects expired long ago that TTL left.
    expect(() => build({ auditAtScale: true, hvAttributes: { expiresAt: 'expires-at' } })).toThrow(/hvAttributes\.expiresAt/);
    // Without the audit at scale they are fine; with names the query reads, so is the audit.
    expect(() => build({ hvAttributes: { blob: 'blob-ref' } })).not.toThrow();
    expect(() => build({ auditAtScale: true, hvAttributes: { blob: 'blob_ref', body: 'data-body' } })).not.toThrow();
  });

  it('the Athena workgroup is deleted with its query history whatever the removal policy: a run leaves query executions, and Athena refuses to delete a workgroup holding them otherwise', () => {
    // With RecursiveDeleteOption false, `cdk destroy` of a stack whose audit had run once ended in
    // DELETE_FAILED ("WorkGroup ... is not empty"), and an update turning auditAtScale off left
    // the workgroup behind, so turning it on again failed on its name. The results stay in the
    // snapshots bucket, which the removal policy keeps.
    for (const removalPolicy of [undefined, RemovalPolicy.RETAIN, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, RemovalPolicy.DESTROY]) {
      const { template } = build({ auditAtScale: true, ...(removalPolicy !== undefined ? { removalPolicy } : {}) });
      template.hasResourceProperties('AWS::Athena::WorkGroup', { RecursiveDeleteOption: true });
      const [workGroup] = Object.values(template.findResources('AWS::Athena::WorkGroup'));
      expect(workGroup?.DeletionPolicy ?? 'Delete').toBe('Delete');
    }
  });

  it('two Tierlogs with auditAtScale in one stack: each its own Glue database and Athena workgroup (names are account-wide)', () => {
    const { stack } = userStack();
    const a = new Tierlog(stack, 'A', { auditAtScale: true });
    const b = new Tierlog(stack, 'B', { auditAtScale: true });
    const t = Template.fromStack(stack);
    const databases = Object.values(t.findResources('AWS::Glue::Database')).map((d: any) => d.Properties.DatabaseInput.Name);
    const workGroups = Object.values(t.findResources('AWS::Athena::WorkGroup')).map((w: any) => w.Properties.Name);
    expect(new Set(databases).size).toBe(2);
    expect(new Set(workGroups).size).toBe(2);
    // Each function plans against its own database.
    const env = (x: Tierlog) =>
      (
        Object.entries(t.findResources('AWS::Lambda::Function')).find(
          ([id]) => id === stack.resolve((x.auditAtScale!.function.node.defaultChild as CfnElement).logicalId),
        )![1] as any
      ).Properties.Environment.Variables.TIERLOG_SNAPSHOT_DATABASE;
    expect(new Set([env(a), env(b)])).toEqual(new Set(databases));
  });

  it('the same app deployed twice under other stack names (one account and region): each its own Glue database and Athena workgroup', () => {
    // Their construct paths are the same (a stage's `stackName`, not its id): names made from the
    // path alone were the same, and the second deploy failed on a database that already exists.
    const namesIn = (stackName: string) => {
      const stack = new Stack(newApp(), 'Storage', { stackName });
      new Tierlog(stack, 'Tierlog', { auditAtScale: true });
      const t = Template.fromStack(stack);
      return [
        ...Object.values(t.findResources('AWS::Glue::Database')).map((d) => d.Properties.DatabaseInput.Name as string),
        ...Object.values(t.findResources('AWS::Athena::WorkGroup')).map((w) => w.Properties.Name as string),
      ];
    };
    const [devDatabase, devWorkGroup] = namesIn('storage-dev');
    const [prodDatabase, prodWorkGroup] = namesIn('storage-prod');
    expect(devDatabase).not.toEqual(prodDatabase);
    expect(devWorkGroup).not.toEqual(prodWorkGroup);
    // Still names Glue and Athena take, the same for the same stack.
    expect(devDatabase).toMatch(/^tierlog_audit_[0-9a-f]{8}$/);
    expect(devWorkGroup).toMatch(/^tierlog-audit-[0-9a-f]{8}$/);
    expect(namesIn('storage-dev')).toEqual([devDatabase, devWorkGroup]);
  });

  it('in an app without feature flags (an older cdk.json): builds, the snapshots bucket logs under a bucket policy, nag-clean', () => {
    // Without @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy, `serverAccessLogsBucket` falls back
    // to an ACL, which an owner-enforced log bucket refuses at synth.
    const { app, stack, template } = build({ auditAtScale: true }, false);
    const snapshots = stack.resolve((stack.tierlog.auditAtScale!.snapshotBucket.node.defaultChild as CfnElement).logicalId) as string;
    const logs = stack.resolve((stack.tierlog.accessLogsBucket!.node.defaultChild as CfnElement).logicalId) as string;
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: { Ref: logs }, LogFilePrefix: 'snapshots/' },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logs },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: { ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [snapshots, 'Arn'] } }, StringEquals: Match.anyValue() },
          }),
        ]),
      },
    });
    expect(JSON.stringify(template.findResources('AWS::S3::Bucket'))).not.toContain('AccessControl');
    expect(findings(app)).toEqual([]);
  });

  // aws-cdk-lib renders `resultWriterV2` only under @aws-cdk/aws-stepfunctions:useDistributedMapResultWriterV2
  // (this repository's cdk.json has it; an app made before the flag, or `new App()` without cdk.json,
  // does not): without it the map had no ResultWriter in a user's app, and a large run failed.
  it("in an app without feature flags (an older cdk.json): the Distributed Map's results still go to the snapshots bucket", () => {
    const { stack, template } = build({ auditAtScale: true }, false);
    expectMapResultsInSnapshotsBucket(stack, template);
  });
});

describe('auditAtScale used on its own, with tables under customer managed keys', () => {
  /**
   * The function scans the change log (and its lease index) before it confirms any orphan: a change
   * log under a key of the user's that the role may not use is refused on AWS (the local stack
   * checks no IAM), every proposed orphan kept as "change-log-unreadable", and every batch of a
   * deleting run failed ("deletes refused"). The objects table's key was granted; the change log's
   * was not.
   */
  const build = (shared: boolean) => {
    const stack = userStackIn();
    const changeLogKey = new kms.Key(stack, 'ChangeLogKey', { enableKeyRotation: true });
    const objectsKey = shared ? changeLogKey : new kms.Key(stack, 'ObjectsKey', { enableKeyRotation: true });
    const changeLogTable = changeLogTableIn(stack, 'MyChangeLog', {
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.customerManagedKey(changeLogKey),
    });
    const objectsTable = new dynamodb.TableV2(stack, 'MyObjects', {
      partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.customerManagedKey(objectsKey),
    });
    const bucket = new s3.Bucket(stack, 'MyBlobs', { enforceSSL: true });
    const accessLogsBucket = new s3.Bucket(stack, 'MyLogs', { enforceSSL: true });
    const resources = { changeLogTable, objectsTable, bucket, prefix: 'blobs' };
    const audit = new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket, environment: storeNames(resources), delete: true });
    const template = Template.fromStack(stack);
    /** The KMS actions the function's role may take on `key`, through DynamoDB. */
    const granted = (key: kms.IKey) => {
      const keyArn = JSON.stringify(stack.resolve(key.keyArn));
      // Statements of like actions and conditions may be merged into one of several resources.
      const statements = statementsOfRole(template, logicalIdOf(stack, audit.functionRole)).filter(
        (s) => s.Effect === 'Allow' && [s.Resource].flat().some((r) => JSON.stringify(r) === keyArn),
      );
      for (const s of statements)
        expect(s.Condition?.['StringEquals']?.['kms:ViaService']).toEqual(stack.resolve(`dynamodb.${stack.region}.amazonaws.com`));
      return [...new Set(statements.flatMap(actions))].sort();
    };
    return { changeLogKey, objectsKey, granted };
  };

  it("the function may decrypt through the change log's key, as through the objects table's, and (deleting) remove an expired item through the objects table's", () => {
    const { changeLogKey, objectsKey, granted } = build(false);
    expect(granted(changeLogKey)).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
    expect(granted(objectsKey)).toEqual([...KMS_ACTIONS_FOR['dynamodb:DeleteItem']!].sort());
  });

  it('one key of both tables: read through it, and (deleting) an expired item removed through it', () => {
    const { changeLogKey, granted } = build(true);
    expect(granted(changeLogKey)).toEqual([...KMS_ACTIONS_FOR['dynamodb:DeleteItem']!].sort());
  });
});

describe('AuditAtScale used on its own: a number or duration given as a CloudFormation parameter', () => {
  /**
   * As the `Tierlog` construct refuses them under `auditAtScale`: each is checked at synth (the
   * safety age against the audits' one rule), and a token's value is not known then. Used on its
   * own, the part refused it as the number it encodes (`auditAtScale.maxConcurrency must be a
   * positive integer, got -1.888e+289`) or by CDK's conversion of the duration, naming neither the
   * prop nor the cause.
   */
  const cases: Array<[string, (n: number) => Partial<ConstructorParameters<typeof AuditAtScale>[2]>]> = [
    ['olderThan', (n) => ({ olderThan: Duration.hours(n) })],
    ['maxConcurrency', (n) => ({ maxConcurrency: n })],
    ['snapshotRetentionDays', (n) => ({ snapshotRetentionDays: n })],
    ['bytesScannedCutoffPerQuery', (n) => ({ bytesScannedCutoffPerQuery: n })],
  ];
  for (const [option, props] of cases) {
    it(`${option}: refused, naming it and that it must be a literal`, () => {
      const stack = userStackIn();
      const resources = auditResourcesIn(stack);
      const accessLogsBucket = new s3.Bucket(stack, 'Logs');
      const n = new CfnParameter(stack, 'Value', { type: 'Number' }).valueAsNumber;
      expect(
        () => new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket, environment: storeNames(resources), ...props(n) }),
      ).toThrow(new RegExp(`^auditAtScale\\.${option} must be a literal (number|duration), not a CloudFormation token`));
    });
  }
});

describe('AuditAtScale used on its own: what its runs need of the tables and the bucket it is given', () => {
  /**
   * Every run exports both tables with ExportTableToPointInTime, which DynamoDB refuses for a table
   * without point-in-time recovery: the `Tierlog` construct refuses an objects table of the app
   * without it under `auditAtScale`, but the part used on its own took either table, and every
   * scheduled run failed at its export (`ExecutionsFailed` daily, no audit ever).
   */
  const setup = (pitr: { changeLog: boolean; objects: boolean }, tableKind: 'TableV2' | 'Table' = 'TableV2') => {
    const stack = userStackIn();
    const table = (id: string, enabled: boolean) =>
      tableKind === 'TableV2'
        ? id === 'Log'
          ? changeLogTableIn(stack, id, { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: enabled } })
          : new dynamodb.TableV2(stack, id, {
              partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
              pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: enabled },
            })
        : v1Table(stack, id, enabled);
    const resources = {
      changeLogTable: table('Log', pitr.changeLog),
      objectsTable: table('Objects', pitr.objects),
      bucket: new s3.Bucket(stack, 'Blobs'),
      prefix: 'blobs',
    };
    const accessLogsBucket = new s3.Bucket(stack, 'Logs');
    return () => new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket, environment: storeNames(resources) });
  };

  it('a table of the app without point-in-time recovery is refused, naming it (every run would fail at its export)', () => {
    expect(setup({ changeLog: false, objects: true })).toThrow(/resources\.changeLogTable UserStack\/Log .*point-in-time recovery/);
    expect(setup({ changeLog: true, objects: false })).toThrow(/resources\.objectsTable UserStack\/Objects .*point-in-time recovery/);
    expect(setup({ changeLog: false, objects: true }, 'Table')).toThrow(
      /resources\.changeLogTable UserStack\/Log .*point-in-time recovery/,
    );
  });

  it("an imported blob bucket is refused, naming it: its S3 Inventory, the audit's snapshot of it, is a setting of the bucket the part cannot add", () => {
    // It failed with a bare TypeError ("addInventory is not a function"), naming neither the prop nor the cause.
    const stack = userStackIn();
    const resources = auditResourcesIn(stack, { bucket: s3.Bucket.fromBucketName(stack, 'Blobs', 'my-blobs') });
    const accessLogsBucket = new s3.Bucket(stack, 'Logs');
    expect(() => new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket, environment: storeNames(resources) })).toThrow(
      /^resources\.bucket UserStack\/Blobs \("my-blobs"\) is imported: .*S3 Inventory.*tierlog audit --inventory/,
    );
  });

  it('an objects table of the app keyed otherwise than the function reads it is refused, naming it (every HV read of a batch would be refused)', () => {
    const stack = userStackIn();
    const table = (id: string, key: string) =>
      new dynamodb.TableV2(stack, id, {
        partitionKey: { name: key, type: dynamodb.AttributeType.STRING },
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      });
    const resources = auditResourcesIn(stack, { objectsTable: table('Objects', 'id') });
    const accessLogsBucket = new s3.Bucket(stack, 'Logs');
    expect(() => new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket, environment: storeNames(resources) })).toThrow(
      /^resources\.objectsTable UserStack\/Objects cannot be the function's objects table: its key must be the string partition key "key"/,
    );
  });

  it('objects-table attribute names in its environment that the query cannot read from the exports are refused, naming the variable (every run would fail at its plan, after both exports)', () => {
    // The Tierlog construct refuses them under auditAtScale; the part used on its own deployed
    // them, and each run exported both tables and then failed at its plan (ExecutionsFailed daily).
    const audit = (hvAttributes: Record<string, string>) => () => {
      const stack = userStackIn();
      const resources = auditResourcesIn(stack);
      const environment = { ...storeNames(resources), TIERLOG_HV_ATTRIBUTES: JSON.stringify(hvAttributes) };
      new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket: new s3.Bucket(stack, 'Logs'), environment });
    };
    expect(audit({ blob: 'blob-ref' })).toThrow(/^TIERLOG_HV_ATTRIBUTES names blob "blob-ref", which the snapshot query cannot read/);
    expect(audit({ deleted: 'is.deleted' })).toThrow(/^TIERLOG_HV_ATTRIBUTES names deleted "is\.deleted"/);
    expect(audit({ blob: 'blob_ref', body: 'data-body' })).not.toThrow();
  });

  it("a second audit at scale over the same bucket (another store's prefix) is refused, naming the first: the bucket's S3 Inventory of the audit is one configuration id", () => {
    // Both added the inventory "tierlog-audit" to the bucket, one under each prefix: S3 keeps one
    // configuration per id, so one store's audit had no inventory (every run failed), or the deploy failed.
    const stack = userStackIn();
    const bucket = new s3.Bucket(stack, 'Blobs');
    const accessLogsBucket = new s3.Bucket(stack, 'Logs');
    const audit = (tenant: string) => () => {
      const resources = {
        changeLogTable: changeLogTableIn(stack, `Log${tenant}`, { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } }),
        objectsTable: exportableTable(stack, `Objects${tenant}`),
        bucket,
        prefix: tenant,
      };
      new AuditAtScale(stack, `Audit${tenant}`, {
        resources,
        accessLogsBucket,
        environment: { ...storeNames(resources), TIERLOG_PREFIX: tenant },
      });
    };
    expect(audit('a')).not.toThrow();
    expect(audit('b')).toThrow(/^resources\.bucket UserStack\/Blobs has the S3 Inventory of the audit at scale UserStack\/Audita already/);
    // One audit a bucket: the inventory it adds is one.
    const inventories = Object.values(Template.fromStack(stack).findResources('AWS::S3::Bucket')).flatMap(
      (b) => (b.Properties?.InventoryConfigurations as unknown[] | undefined) ?? [],
    );
    expect(inventories).toHaveLength(1);
  });

  it('tables with point-in-time recovery, or imported ones (whose settings cannot be read), are taken', () => {
    expect(setup({ changeLog: true, objects: true })).not.toThrow();
    expect(setup({ changeLog: true, objects: true }, 'Table')).not.toThrow();
    const stack = userStackIn();
    const resources = {
      changeLogTable: dynamodb.TableV2.fromTableName(stack, 'Log', 'my-change-log'),
      objectsTable: dynamodb.TableV2.fromTableName(stack, 'Objects', 'my-objects'),
      bucket: new s3.Bucket(stack, 'Blobs'),
      prefix: 'blobs',
    };
    const accessLogsBucket = new s3.Bucket(stack, 'Logs');
    expect(() => new AuditAtScale(stack, 'Audit', { resources, accessLogsBucket, environment: storeNames(resources) })).not.toThrow();
  });
});

describe('AuditAtScale on its own without a metricsDeployment', () => {
  /**
   * Its function then publishes under `service` only, as every other audit at scale without one in
   * the account and region (a second stack of the app, another store): CloudWatch holds one metric
   * for all of them, and one store's lost blobs or stale inventory raise the other's LostBlobs and
   * InventoryStale. The Tierlog construct gives its own; the part used on its own said nothing.
   */
  const audit = (metricsDeployment?: string) => {
    const stack = userStackIn();
    const resources = auditResourcesIn(stack);
    const accessLogsBucket = new s3.Bucket(stack, 'Logs');
    const part = new AuditAtScale(stack, 'Audit', {
      resources,
      accessLogsBucket,
      environment: storeNames(resources),
      ...(metricsDeployment !== undefined ? { metricsDeployment } : {}),
    });
    const template = Template.fromStack(stack);
    const dimensions = [part.alarms.lostBlobs, part.alarms.inventoryStale].map(
      (alarm) => (template.toJSON().Resources[logicalIdOf(stack, alarm)].Properties as { Dimensions: unknown }).Dimensions,
    );
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('tierlog:metricsDeploymentShared'));
    return { dimensions, warnings };
  };

  it('watches metrics every such audit publishes: a warning at synth, naming what to set', () => {
    const { dimensions, warnings } = audit();
    for (const d of dimensions) expect(d).toEqual([{ Name: 'service', Value: 'tierlog-snapshot-audit' }]);
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(
      /LostBlobs and InventoryStale here.*a metricsDeployment, unique in the account and region/,
    );
  });

  it('given one, watches it, no warning', () => {
    const { dimensions, warnings } = audit('MyAudit');
    for (const d of dimensions) expect(d).toContainEqual({ Name: 'deployment', Value: 'MyAudit' });
    expect(warnings).toEqual([]);
  });
});
