/**
 * Props that would deploy something broken, or fail only at deploy, are refused at synth with an
 * error naming the prop:
 *  - an objects table or a bucket of the user's in another region or account than the stack (the
 *    functions address them by name in their own; the protocol is single-region): an Error when
 *    both are known, a CloudFormation rule when the stack's own region or account is not;
 *  - an alarm threshold every routine event crosses (0, or below what one sweep interval or one
 *    stream retry takes), which keeps the alarm up for nothing;
 *  - an undo window S3 lifecycle cannot express (0 days or a fraction: refused at deploy);
 *  - an audit Distributed Map concurrency of 0 (Step Functions: no limit), a snapshot retention
 *    of 0 days, a safety age under 1 h or reaching back before 2000, or an Athena scan cutoff
 *    under 10 MB;
 *  - the objects function's URL auth without the objects function (silently dropped before);
 *  - a switch that is not a boolean (a CDK context value, a string: `"false"` is truthy), a
 *    schedule that is not a schedule expression (a string: the synth failed on the construct's own schedule).
 *  - a part used on its own whose environment names another prefix, bucket or table than the
 *    resources it grants on (every request of its function refused on AWS).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type App, CfnParameter, Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AuditAtScale } from '../../infra/audit-at-scale.js';
import { ObjectsFunction } from '../../infra/objects-function.js';
import { ObjectsStreamCleanup } from '../../infra/objects-stream.js';
import type { TierlogResources } from '../../infra/permissions.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { TierlogMonitoring } from '../../infra/monitoring.js';
import { Tierlog, type TierlogProps } from '../../infra/tierlog.js';
import { BlobBucket } from '../../infra/bucket.js';
import { schemaTable } from '../../infra/tables.js';
import { changeLogTableSchema } from '../../lib/schema/tables.js';
import { CONFIG_ENV, configToEnv, loadConfig } from '../../lib/config.js';
import { LEASE_INDEX_NAME } from '../../lib/constants.js';
import { changeLogTableIn, cleanOutdirs, newApp, objectsTableIn, tierlogTemplate } from './helpers.js';

afterAll(cleanOutdirs);

const HERE = { account: '123456789012', region: 'eu-west-1' };

function tableAt(stack: Stack, account: string, region: string): dynamodb.ITableV2 {
  const arn = `arn:aws:dynamodb:${region}:${account}:table/my-objects`;
  return dynamodb.TableV2.fromTableAttributes(stack, 'MyObjects', {
    tableArn: arn,
    tableStreamArn: `${arn}/stream/2026-01-01T00:00:00.000`,
  });
}

/** The template's CloudFormation rules but CDK's own bootstrap check. */
function ourRules(template: Template): Record<string, { Assertions: Array<{ Assert: unknown; AssertDescription: string }> }> {
  const rules = (template.toJSON()['Rules'] ?? {}) as Record<string, { Assertions: Array<{ Assert: unknown; AssertDescription: string }> }>;
  return Object.fromEntries(Object.entries(rules).filter(([id]) => id !== 'CheckBootstrapVersion'));
}

/** A Tierlog in a stack at `env` (environment-agnostic when undefined), with the resources `own` gives. */
function build(env: { account: string; region: string } | undefined, own: (stack: Stack) => TierlogProps) {
  const stack = new Stack(newApp(), 'UserStack', env ? { env } : {});
  new Tierlog(stack, 'Storage', own(stack));
  return { stack, template: Template.fromStack(stack) };
}

/** The store variables of `resources` (4 lease shards) as their function reads them, `over` set too. */
function environmentOf(resources: TierlogResources, over: Partial<Parameters<typeof configToEnv>[0]> = {}): Record<string, string> {
  return configToEnv({
    changeLogTable: resources.changeLogTable.tableName,
    objectsTable: resources.objectsTable.tableName,
    bucket: resources.bucket.bucketName,
    prefix: resources.prefix,
    leaseShards: 4,
    ...over,
  });
}

/** A stack of the user's with a change log, an objects table and a bucket of its own, for parts used on their own. */
function partsStack(): { stack: Stack; resources: TierlogResources } {
  const stack = new Stack(newApp(), 'UserStack');
  const resources: TierlogResources = {
    changeLogTable: changeLogTableIn(stack),
    objectsTable: objectsTableIn(stack),
    bucket: new BlobBucket(stack, 'Blobs').bucket,
    prefix: 'blobs',
  };
  return { stack, resources };
}

describe('an objects table or bucket of the user in another region or account', () => {
  const cases: Array<[string, (stack: Stack) => TierlogProps, RegExp]> = [
    [
      'a table in another region',
      (s) => ({ objectsTable: tableAt(s, HERE.account, 'us-east-1') }),
      /objectsTable .* is in region us-east-1, the stack in eu-west-1/,
    ],
    [
      'a table in another account',
      (s) => ({ objectsTable: tableAt(s, '999999999999', HERE.region) }),
      /objectsTable .* is in account 999999999999, the stack in 123456789012/,
    ],
    [
      'a bucket in another region',
      (s) => ({ bucket: s3.Bucket.fromBucketAttributes(s, 'MyBlobs', { bucketName: 'my-blobs', region: 'us-east-1' }) }),
      /bucket .* is in region us-east-1, the stack in eu-west-1/,
    ],
    [
      'a bucket in another account',
      (s) => ({ bucket: s3.Bucket.fromBucketAttributes(s, 'MyBlobs', { bucketName: 'my-blobs', account: '999999999999' }) }),
      /bucket .* is in account 999999999999, the stack in 123456789012/,
    ],
  ];
  for (const [what, own, error] of cases) {
    it(`refuses ${what} at synth`, () => {
      expect(() => build(HERE, own)).toThrow(error);
    });
  }

  it('takes a table and a bucket of the stack own region and account', () => {
    expect(() =>
      build(HERE, (s) => ({
        objectsTable: tableAt(s, HERE.account, HERE.region),
        bucket: s3.Bucket.fromBucketAttributes(s, 'MyBlobs', { bucketName: 'my-blobs', region: HERE.region, account: HERE.account }),
      })),
    ).not.toThrow();
  });

  it('in an environment-agnostic stack: a CloudFormation rule refuses the deploy in another region or account', () => {
    const { template } = build(undefined, (s) => ({ objectsTable: tableAt(s, '999999999999', 'us-east-1') }));
    const rules = Object.values(ourRules(template));
    const assertions = rules.flatMap((r) => r.Assertions);
    expect(assertions.map((a) => a.Assert)).toEqual(
      expect.arrayContaining([
        { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'us-east-1'] },
        { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '999999999999'] },
      ]),
    );
    expect(assertions.every((a) => /objectsTable .*MyObjects is in (region|account)/.test(a.AssertDescription))).toBe(true);
  });

  it('adds no rule when the table, its stream and the bucket are addressed in the stack own environment (imported by name, the stream by a token)', () => {
    const { template } = build(undefined, (s) => ({
      objectsTable: dynamodb.TableV2.fromTableAttributes(s, 'MyObjects', {
        tableName: 'my-objects',
        tableStreamArn: new CfnParameter(s, 'StreamArn').valueAsString,
      }),
      bucket: s3.Bucket.fromBucketName(s, 'MyBlobs', 'my-blobs'),
    }));
    expect(ourRules(template)).toEqual({});
  });

  /**
   * A table imported by name has no known ARN in an environment-agnostic stack: its stream ARN
   * was compared by the table's name alone, so the stream of a table of the same name in another
   * account or region (a copied ARN; Lambda maps a function to another account's stream) was
   * taken, and the stream function read that table's records instead of this one's.
   */
  it("a literal stream ARN of the table imported by name: a rule refuses the deploy in another region or account than the stream's", () => {
    const { template } = build(undefined, (s) => ({
      objectsTable: dynamodb.TableV2.fromTableAttributes(s, 'MyObjects', {
        tableName: 'my-objects',
        tableStreamArn: 'arn:aws:dynamodb:eu-west-1:999999999999:table/my-objects/stream/x',
      }),
    }));
    const assertions = Object.values(ourRules(template)).flatMap((r) => r.Assertions);
    expect(assertions.map((a) => a.Assert)).toEqual(
      expect.arrayContaining([
        { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] },
        { 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '999999999999'] },
      ]),
    );
    expect(assertions.some((a) => /stream .*999999999999.* is in account 999999999999/.test(a.AssertDescription))).toBe(true);
  });

  it('the same stream ARN in a stack of another account: refused at synth', () => {
    expect(() =>
      build(HERE, (s) => ({
        objectsTable: dynamodb.TableV2.fromTableAttributes(s, 'MyObjects', {
          tableName: 'my-objects',
          tableStreamArn: 'arn:aws:dynamodb:eu-west-1:999999999999:table/my-objects/stream/x',
        }),
      })),
    ).toThrow(/999999999999/);
  });
});

describe('thresholds and settings that cannot work', () => {
  const refused: Array<[string, TierlogProps, RegExp]> = [
    [
      'oldestExpiredAgeThreshold 0',
      { oldestExpiredAgeThreshold: Duration.seconds(0) },
      /oldestExpiredAgeThreshold must be at least 2 minutes, got 0 seconds/,
    ],
    ['oldestExpiredAgeThreshold 30 s', { oldestExpiredAgeThreshold: Duration.seconds(30) }, /oldestExpiredAgeThreshold must be at least/],
    [
      'streamIteratorAgeThreshold 0',
      { streamIteratorAgeThreshold: Duration.seconds(0) },
      /streamIteratorAgeThreshold must be at least the stream function's timeout \(1 minute\), got 0 seconds/,
    ],
    [
      'noncurrentVersionExpiration 0',
      { noncurrentVersionExpiration: Duration.days(0) },
      /noncurrentVersionExpiration must be a whole number of days, at least 1, got 0 days/,
    ],
    [
      'noncurrentVersionExpiration 36 h',
      { noncurrentVersionExpiration: Duration.hours(36) },
      /noncurrentVersionExpiration must be a whole number of days/,
    ],
    // The audits' own rule for a safety age: under 1 h judges blobs a live upload may still be
    // about to reference; before 2000 (days typed for hours) judges none and reports clean.
    [
      'auditAtScale.olderThan 59 minutes',
      { auditAtScale: { olderThan: Duration.minutes(59) } },
      /auditAtScale.olderThan must be at least 1 hour/,
    ],
    [
      'auditAtScale.olderThan 30 years',
      { auditAtScale: { olderThan: Duration.days(30 * 365) } },
      /auditAtScale.olderThan is too old: a safety age of \d+ ms reaches back before 2000-01-01/,
    ],
    [
      'auditAtScale.maxConcurrency 0',
      { auditAtScale: { maxConcurrency: 0 } },
      /auditAtScale.maxConcurrency must be a positive integer, got 0/,
    ],
    [
      'auditAtScale.maxConcurrency 2.5',
      { auditAtScale: { maxConcurrency: 2.5 } },
      /auditAtScale.maxConcurrency must be a positive integer/,
    ],
    [
      'auditAtScale.snapshotRetentionDays 0',
      { auditAtScale: { snapshotRetentionDays: 0 } },
      /auditAtScale.snapshotRetentionDays must be a positive integer, got 0/,
    ],
    // Athena takes a cutoff of 10 MB or more, in whole bytes: the deploy failed on the workgroup.
    [
      'auditAtScale.bytesScannedCutoffPerQuery under 10 MB',
      { auditAtScale: { bytesScannedCutoffPerQuery: 1_000_000 } },
      /auditAtScale.bytesScannedCutoffPerQuery must be an integer of at least 10000000 \(Athena's least, 10 MB\), got 1000000/,
    ],
    [
      'auditAtScale.bytesScannedCutoffPerQuery not an integer',
      { auditAtScale: { bytesScannedCutoffPerQuery: 1.5e10 + 0.5 } },
      /auditAtScale.bytesScannedCutoffPerQuery must be an integer/,
    ],
    // A CDK context value is a string: "false" was truthy (the audit deployed, and the string spread
    // into its options); an array or a number, the same.
    ...(['false', 'true', 1, ['x']] as const).map((value): [string, TierlogProps, RegExp] => [
      `auditAtScale ${JSON.stringify(value)}`,
      { auditAtScale: value as unknown as boolean },
      /auditAtScale must be true, false or its options/,
    ]),
    // The switches, the same: `objectsFunction: "false"` deployed the objects function and its URL,
    // `acknowledgeNagFindings: "false"` acknowledged the findings, `bundleAwsSdk: "false"` the SDK bundled.
    ...(['objectsFunction', 'acknowledgeNagFindings', 'bundleAwsSdk'] as const).flatMap((prop) =>
      (['false', 'true', 0] as const).map((value): [string, TierlogProps, RegExp] => [
        `${prop} ${JSON.stringify(value)}`,
        { [prop]: value as unknown as boolean },
        new RegExp(`${prop} must be true or false, got ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}`),
      ]),
    ),
    // Lambda's memory is an integer in 128..10240 MiB; the template's validation caught under 128
    // and fractions (with its own message), and the deploy failed on over 10240.
    ...([10_241, 20_000, 1024.5] as const).map((value): [string, TierlogProps, RegExp] => [
      `sweeperMemorySize ${value}`,
      { sweeperMemorySize: value },
      new RegExp(
        `memorySize of the sweeper function \\(sweeperMemorySize\\) must be an integer in 128..10240 \\(MiB, Lambda's bounds\\), got ${value}`,
      ),
    ]),
    // A topic's ARN (a CDK context value, a JavaScript app's) where an alarm action goes failed the
    // synth with a bare TypeError ("a.bind is not a function") naming neither the prop nor the cause.
    [
      'alarmActions given a topic ARN',
      { alarmActions: 'arn:aws:sns:eu-west-1:123456789012:ops' as never },
      /alarmActions must be a list of alarm actions \(new SnsAction\(topic\), \.\.\.\), got "arn:aws:sns:eu-west-1:123456789012:ops" \(string\)/,
    ],
    [
      'alarmActions given a list of topic ARNs',
      { alarmActions: ['arn:aws:sns:eu-west-1:123456789012:ops'] as never },
      /alarmActions\[0\] is not an alarm action \(new SnsAction\(topic\), \.\.\.\): got "arn:aws:sns:eu-west-1:123456789012:ops" \(string\)/,
    ],
    ['alarmActions given an object', { alarmActions: {} as never }, /alarmActions must be a list of alarm actions/],
    [
      'alarmActions given a topic ARN, without the objects function (the monitoring takes them)',
      { objectsFunction: false, alarmActions: 'arn:aws:sns:eu-west-1:123456789012:ops' as never },
      /alarmActions must be a list of alarm actions/,
    ],
    // CloudWatch Logs keeps a log group 1, 3, 5, 7, 14, 30, ... days (logs.RetentionDays): 100
    // synthesized and failed the deploy on the first log group; a context value's "90" failed the
    // synth naming CfnLogGroupProps' retentionInDays, not the prop.
    ...([100, '90', 0] as const).map((value): [string, TierlogProps, RegExp] => [
      `logRetention ${JSON.stringify(value)}`,
      { logRetention: value as never },
      new RegExp(
        `logRetention must be one of logs\\.RetentionDays \\(the days CloudWatch Logs keeps a log group\\), got ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}`,
      ),
    ]),
    [
      'objectsFunctionUrlAuth without the objects function',
      { objectsFunction: false, objectsFunctionUrlAuth: lambda.FunctionUrlAuthType.NONE },
      /objectsFunctionUrlAuth configures the objects function's URL; with objectsFunction: false there is none/,
    ],
  ];
  for (const [what, props, error] of refused) {
    it(`refuses ${what}`, () => {
      expect(() => tierlogTemplate(props)).toThrow(error);
    });
  }

  it('refuses outputs "false" on a Tierlog of your stack (a context value: it added the outputs)', () => {
    expect(() => build(HERE, () => ({ outputs: 'false' as unknown as boolean }))).toThrow(
      /outputs must be true or false, got "false" \(string\)/,
    );
  });

  it('takes the lowest settings that work', () => {
    expect(() =>
      tierlogTemplate({
        oldestExpiredAgeThreshold: Duration.minutes(2),
        streamIteratorAgeThreshold: Duration.minutes(1),
        noncurrentVersionExpiration: Duration.days(1),
        auditAtScale: { maxConcurrency: 1, snapshotRetentionDays: 1, bytesScannedCutoffPerQuery: 10_000_000 },
        sweeperMemorySize: 10_240,
      }),
    ).not.toThrow();
  });
});

describe('what the functions cannot work with, when the stack is made', () => {
  it('an objects table imported without its stream: refused, saying to import it with its stream ARN (the stream function deletes the blobs of removed objects)', () => {
    // Its stream may well be on: "enable it" sent the user to a table that had one.
    expect(() => build(HERE, (s) => ({ objectsTable: dynamodb.TableV2.fromTableName(s, 'NoStream', 'my-objects') }))).toThrow(
      /^the objects table \S*\/NoStream was imported without its stream ARN: import it with TableV2\.fromTableAttributes\(\{ tableName, tableStreamArn \}\)/,
    );
  });

  it('an objects table of the app without a stream: refused, saying to enable it', () => {
    expect(() =>
      build(HERE, (s) => ({
        objectsTable: new dynamodb.TableV2(s, 'NoStream', {
          partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
          timeToLiveAttribute: 'expiresAt',
        }),
      })),
    ).toThrow(/stream must carry old images \(OLD_IMAGE or NEW_AND_OLD_IMAGES\), not none/);
  });

  /**
   * A number or duration the construct checks at synth, given as a CloudFormation parameter: the
   * checks saw the number a token encodes (`leaseShards must be an integer in 1..256, got
   * -1.888e+289`), CDK's own conversion error (`Duration.seconds` of a token), or nothing (the alarm
   * thresholds deployed unchecked, below the floor every routine writer exit crosses).
   */
  const tokenProps: Array<[string, (n: number) => TierlogProps]> = [
    ['leaseShards', (n) => ({ leaseShards: n })],
    ['sweeperParallelism', (n) => ({ sweeperParallelism: n })],
    ['sweeperReservedConcurrency', (n) => ({ sweeperReservedConcurrency: n })],
    ['sweeperMemorySize', (n) => ({ sweeperMemorySize: n })],
    ['oldestExpiredAgeThreshold', (n) => ({ oldestExpiredAgeThreshold: Duration.millis(n) })],
    ['streamIteratorAgeThreshold', (n) => ({ streamIteratorAgeThreshold: Duration.millis(n) })],
    ['noncurrentVersionExpiration', (n) => ({ noncurrentVersionExpiration: Duration.days(n) })],
    ['sweeperTuning.claim', (n) => ({ sweeperTuning: { claim: Duration.seconds(n) } })],
    ['sweeperTuning.quarantineRecheck', (n) => ({ sweeperTuning: { quarantineRecheck: Duration.millis(n) } })],
    ['sweeperTuning.concurrency', (n) => ({ sweeperTuning: { concurrency: n } })],
    ['sweeperTuning.shardlessScan.maxPages', (n) => ({ sweeperTuning: { shardlessScan: { segments: 8, maxPages: n } } })],
    ['objectsTuning.inlineThreshold', (n) => ({ objectsTuning: { inlineThreshold: n } })],
    ['objectsStreamTuning.deadlineMargin', (n) => ({ objectsStreamTuning: { deadlineMargin: Duration.millis(n) } })],
    ['auditAtScale.olderThan', (n) => ({ auditAtScale: { olderThan: Duration.millis(n) } })],
    ['auditAtScale.maxConcurrency', (n) => ({ auditAtScale: { maxConcurrency: n } })],
  ];
  for (const [prop, props] of tokenProps) {
    it(`${prop} from a CloudFormation parameter: refused, naming it (it is checked at synth)`, () => {
      expect(() => build(HERE, (s) => props(new CfnParameter(s, 'Value', { type: 'Number' }).valueAsNumber))).toThrow(
        new RegExp(`^${prop.replaceAll('.', '\\.')} must be a literal (number|duration), not a CloudFormation token`),
      );
    });
  }

  /**
   * A CDK context value is a string: a number of them was refused as if out of range
   * (`leaseShards must be an integer in 1..256, got 8`), a duration failed with a bare TypeError
   * (`d.toMilliseconds is not a function`).
   */
  const stringProps: Array<[string, TierlogProps, RegExp]> = [
    ['leaseShards', { leaseShards: '8' as never }, /^leaseShards must be a number, got "8" \(string\)/],
    ['sweeperParallelism', { sweeperParallelism: '2' as never }, /^sweeperParallelism must be a number, got "2" \(string\)/],
    [
      'sweeperTuning.concurrency',
      { sweeperTuning: { concurrency: '8' as never } },
      /^sweeperTuning\.concurrency must be a number, got "8"/,
    ],
    [
      'sweeperTuning.claim',
      { sweeperTuning: { claim: '300000' as never } },
      /^sweeperTuning\.claim must be a duration \(Duration\.minutes\(5\), \.\.\.\), got "300000" \(string\)/,
    ],
    [
      'oldestExpiredAgeThreshold',
      { oldestExpiredAgeThreshold: 900 as never },
      /^oldestExpiredAgeThreshold must be a duration \(Duration\.minutes\(5\), \.\.\.\), got 900 \(number\)/,
    ],
    // Not read by this check: it failed with `timeout.isUnresolved is not a function`, naming nothing.
    [
      'sweeperTimeout',
      { sweeperTimeout: '5 minutes' as never },
      /^sweeperTimeout must be a duration \(Duration\.minutes\(5\), \.\.\.\), got "5 minutes" \(string\)/,
    ],
    ['sweeperTimeout (a number)', { sweeperTimeout: 300 as never }, /^sweeperTimeout must be a duration .*got 300 \(number\)/],
  ];
  // A table or bucket given by its name (a JavaScript app's, a context value) failed with
  // `Cannot read properties of undefined (reading 'path')`, naming neither the prop nor the value.
  stringProps.push(
    ['objectsTable', { objectsTable: 'my-objects' as never }, /^objectsTable must be a dynamodb\.ITableV2 .*got "my-objects" \(string\)/],
    ['bucket', { bucket: 'my-blobs' as never }, /^bucket must be an s3\.IBucket .*got "my-blobs" \(string\)/],
  );
  for (const [prop, props, error] of stringProps) {
    it(`${prop} of another type (a CDK context value, a string): refused, naming it and what it got`, () => {
      expect(() => tierlogTemplate(props)).toThrow(error);
    });
  }

  /**
   * A schedule of a CDK context value, or a JavaScript app's, is a string ("rate(5 minutes)"),
   * which has no `expressionString`: the synth failed on the construct's own schedule
   * (`.../Sweeper/Schedule/Resource [AWS::Scheduler::Schedule] is missing required property:
   * scheduleExpression`), naming neither the prop nor the value.
   */
  const scheduleProps: Array<[string, TierlogProps, string]> = [
    ['sweepSchedule', { sweepSchedule: 'rate(5 minutes)' as never }, '"rate(5 minutes)" (string)'],
    ['sweepHousekeepingSchedule', { sweepHousekeepingSchedule: 'rate(1 hour)' as never }, '"rate(1 hour)" (string)'],
    ['auditAtScale.schedule', { auditAtScale: { schedule: 'cron(0 6 * * ? *)' as never } }, '"cron(0 6 * * ? *)" (string)'],
  ];
  for (const [prop, props, got] of scheduleProps) {
    it(`${prop} given as a string (a CDK context value): refused, naming it, what it got and what it takes`, () => {
      expect(() => tierlogTemplate(props)).toThrow(`${prop} must be a schedule expression (scheduler.ScheduleExpression.rate(`);
      expect(() => tierlogTemplate(props)).toThrow(`got ${got}`);
    });
  }

  it('the parts on their own: a schedule given as a string is refused, naming their prop', () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const blobs = new BlobBucket(stack, 'Blobs');
    const pitr = { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } };
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack, 'Log', pitr),
      objectsTable: objectsTableIn(stack, 'Objects', pitr),
      bucket: blobs.bucket,
      prefix: 'blobs',
    };
    const environment = environmentOf(resources);
    for (const [prop, given] of [
      ['schedule', { schedule: 'rate(5 minutes)' }],
      ['housekeepingSchedule', { housekeepingSchedule: 'rate(1 hour)' }],
    ] as const) {
      expect(() => new TierlogSweeper(stack, `Sweeper-${prop}`, { resources, environment, leaseShards: 4, ...(given as object) })).toThrow(
        new RegExp(`^${prop} must be a schedule expression .* got "rate\\(`),
      );
    }
    expect(
      () =>
        new AuditAtScale(stack, 'Audit', {
          resources,
          environment,
          accessLogsBucket: blobs.accessLogsBucket,
          schedule: 'cron(0 6 * * ? *)' as never,
        }),
    ).toThrow(/^auditAtScale\.schedule must be a schedule expression .* got "cron\(0 6/);
  });

  it('a prefix that is not a literal (a CloudFormation parameter): refused (it is part of IAM resource ARNs and conditions)', () => {
    expect(() => build(HERE, (s) => ({ prefix: new CfnParameter(s, 'Prefix', { default: 'blobs' }).valueAsString }))).toThrow(
      /prefix must be a literal string/,
    );
  });
});

/** The parts that take `resources` and `environment`, each made with those alone. */
/** Synthesizes the app of `stack`: its validations run (a part's checks of what the app gives it). */
const synth = (stack: Stack) => (stack.node.root as App).synth();

const PARTS = {
  sweeper: (s: Stack, resources: TierlogResources, environment: Record<string, string>) =>
    new TierlogSweeper(s, 'Sweeper', { resources, environment, leaseShards: 4 }),
  objectsStream: (s: Stack, resources: TierlogResources, environment: Record<string, string>) =>
    new ObjectsStreamCleanup(s, 'Stream', { resources, environment }),
  objectsFunction: (s: Stack, resources: TierlogResources, environment: Record<string, string>) =>
    new ObjectsFunction(s, 'Api', { resources, environment }),
};

describe('the parts used on their own: the grants (resources) and the configuration the function reads (environment) name one store', () => {
  /**
   * Each part grants on `resources` and its function works on what `environment` names: a prefix,
   * bucket or table that differs was granted on one and used on the other, and every request of
   * the function was refused on AWS (the local stack checks no IAM), or, the prefix, blobs
   * outside the function's namespace kept for ever.
   */
  const parts = PARTS;
  const setup = () => {
    const stack = new Stack(newApp(), 'UserStack');
    const table = (id: string) =>
      new dynamodb.TableV2(stack, id, {
        partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
        dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        timeToLiveAttribute: 'expiresAt',
      });
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack),
      objectsTable: table('Objects'),
      bucket: new s3.Bucket(stack, 'Bucket'),
      prefix: 'tenant/blobs',
    };
    const env = (over: Partial<Parameters<typeof configToEnv>[0]> = {}) => environmentOf(resources, over);
    return { stack, table, resources, env };
  };

  for (const [part, make] of Object.entries(parts)) {
    it(`${part}: another prefix, bucket or table in the environment is refused at synth, naming the variable`, () => {
      const cases: Array<[(x: ReturnType<typeof setup>) => [TierlogResources, Record<string, string>], RegExp]> = [
        [
          (x) => [x.resources, x.env({ prefix: 'blobs' })],
          /TIERLOG_PREFIX \("blobs"\) is not the prefix the grants are on \("tenant\/blobs"\)/,
        ],
        // Unset, the function reads the default prefix.
        [
          (x) => {
            const { [CONFIG_ENV.prefix]: _, ...rest } = x.env();
            return [x.resources, rest];
          },
          /TIERLOG_PREFIX \("blobs", the default: unset\) is not the prefix the grants are on/,
        ],
        [
          (x) => [x.resources, x.env({ bucket: new s3.Bucket(x.stack, 'Other').bucketName })],
          /TIERLOG_BUCKET .* is not the bucket the grants are on/,
        ],
        [
          (x) => [{ ...x.resources, bucket: s3.Bucket.fromBucketName(x.stack, 'Mine', 'my-blobs') }, x.env({ bucket: 'my-other-blobs' })],
          /TIERLOG_BUCKET \("my-other-blobs"\) is not the bucket the grants are on \("my-blobs"\)/,
        ],
        [
          (x) => [x.resources, x.env({ objectsTable: x.table('OtherObjects').tableName })],
          /TIERLOG_OBJECTS_TABLE .* is not the objects table the grants are on/,
        ],
        [
          (x) => [x.resources, x.env({ changeLogTable: x.table('OtherLog').tableName })],
          /TIERLOG_CHANGELOG_TABLE .* is not the change-log table the grants are on/,
        ],
      ];
      for (const [given, message] of cases) {
        const x = setup();
        const [resources, environment] = given(x);
        expect(() => make(x.stack, resources, environment)).toThrow(message);
      }
    });

    it(`${part}: a table or bucket name padded with whitespace, which the function's loadConfig trims to the granted one, is taken (it was refused as another bucket)`, () => {
      for (const padded of [' my-blobs', 'my-blobs\n']) {
        const x = setup();
        const resources = { ...x.resources, bucket: s3.Bucket.fromBucketName(x.stack, 'Mine', 'my-blobs') };
        const environment = { ...x.env({ bucket: 'my-blobs' }), [CONFIG_ENV.bucket]: padded };
        // What the function reads: the granted name.
        expect(
          loadConfig({
            ...configToEnv({ changeLogTable: 'log', objectsTable: 'objects', bucket: 'b-1', prefix: 'p', leaseShards: 4 }),
            [CONFIG_ENV.bucket]: padded,
          }).bucket,
        ).toBe('my-blobs');
        expect(() => make(x.stack, resources, environment)).not.toThrow();
      }
    });

    it(`${part}: a TIERLOG_PREFIX the function's loadConfig refuses (blank, padded) is refused at synth, not read as the default`, () => {
      for (const prefix of ['', '  ', ' tenant/blobs']) {
        const x = setup();
        const environment = { ...x.env(), [CONFIG_ENV.prefix]: prefix };
        // What the function would do at its init, on every invocation.
        const literal = {
          ...configToEnv({ changeLogTable: 'log', objectsTable: 'objects', bucket: 'blobs', prefix: 'p', leaseShards: 4 }),
        };
        expect(() => loadConfig({ ...literal, [CONFIG_ENV.prefix]: prefix })).toThrow(
          expect.objectContaining({ name: 'ConfigError', setting: CONFIG_ENV.prefix }),
        );
        // Blank, as the default, it matched grants on "blobs": here, the default prefix.
        const y = setup();
        const resources = { ...y.resources, prefix: 'blobs' };
        expect(() => make(y.stack, resources, { ...y.env({ prefix: 'blobs' }), [CONFIG_ENV.prefix]: prefix })).toThrow(
          expect.objectContaining({ name: 'ConfigError', setting: CONFIG_ENV.prefix }),
        );
        expect(() => make(x.stack, x.resources, environment)).toThrow(expect.objectContaining({ setting: CONFIG_ENV.prefix }));
      }
    });

    it(`${part}: a configuration variable its function's loadConfig refuses is refused at synth, naming it`, () => {
      const cases: Array<[string, string]> = [
        // Case: "Stream" is no value of it; the function refused it at init, on every invocation.
        [CONFIG_ENV.replacedBlobCleanup, 'Stream'],
        [CONFIG_ENV.leaseShards, 'eight'],
        [CONFIG_ENV.hvAttributes, '{"blob":'],
        [CONFIG_ENV.hvAttributes, '{"blob":"body"}'],
        [CONFIG_ENV.objectsTable, ''],
      ];
      for (const [variable, value] of cases) {
        const x = setup();
        expect(() => make(x.stack, x.resources, { ...x.env(), [variable]: value }), `${variable}=${value}`).toThrow(
          expect.objectContaining({ name: 'ConfigError', setting: variable }),
        );
      }
    });

    it(`${part}: an AWS SDK variable its function's default clients refuse (AWS_MAX_ATTEMPTS, an endpoint that is no URL) is refused at synth, naming it`, () => {
      // The handler makes its clients at init: each of these failed every invocation of a function that deployed.
      const cases: Array<[string, string]> = [
        ['AWS_MAX_ATTEMPTS', '1O'],
        ['AWS_MAX_ATTEMPTS', '0'],
        ['AWS_ENDPOINT_URL_DYNAMODB', 'localhost:8000'],
        ['AWS_ENDPOINT_URL_S3', 'vpce-1a2b3c4d.s3.us-east-1.vpce.amazonaws.com'],
        ['AWS_ENDPOINT_URL', 'not a url'],
      ];
      for (const [variable, value] of cases) {
        const x = setup();
        expect(() => make(x.stack, x.resources, { ...x.env(), [variable]: value }), `${variable}=${value}`).toThrow(
          expect.objectContaining({ name: 'ConfigError', setting: variable }),
        );
      }
      // What the clients take is taken: a count, a URL, and an endpoint the SDK is told to ignore.
      const takenCases: Array<Record<string, string>> = [
        { AWS_MAX_ATTEMPTS: '10' },
        { AWS_ENDPOINT_URL_S3: 'https://s3.us-east-1.amazonaws.com' },
        { AWS_ENDPOINT_URL: 'localhost:8000', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' },
        // Resolved at deploy, the service's own variable may be the one read: the global one is not judged.
        { AWS_ENDPOINT_URL_DYNAMODB: Lazy.string({ produce: () => 'http://127.0.0.1:8000' }), AWS_ENDPOINT_URL: 'localhost:8000' },
      ];
      for (const taken of takenCases) {
        const x = setup();
        expect(() => make(x.stack, x.resources, { ...x.env(), ...taken }), JSON.stringify(taken)).not.toThrow();
      }
    });

    it(`${part}: a table or bucket name left out of its environment is refused at synth, naming the variable`, () => {
      // The function's loadConfig has no default for them: it refused every invocation at init,
      // while the part synthesized and deployed (an environment built by hand, a name forgotten).
      for (const variable of [CONFIG_ENV.changeLogTable, CONFIG_ENV.objectsTable, CONFIG_ENV.bucket]) {
        const x = setup();
        const { [variable]: _, ...environment } = x.env();
        expect(() => make(x.stack, x.resources, environment), variable).toThrow(
          expect.objectContaining({
            name: 'ConfigError',
            setting: variable,
            message: expect.stringMatching(/is not set in the function's environment/),
          }),
        );
      }
    });

    it(`${part}: the same store, or a name known on one side only, is taken`, () => {
      const x = setup();
      expect(() => make(x.stack, x.resources, x.env())).not.toThrow();
      const y = setup();
      // A literal name against a reference: not comparable at synth.
      expect(() => make(y.stack, y.resources, y.env({ bucket: 'some-bucket' }))).not.toThrow();
    });
  }
});

describe('the parts used on their own: an objects table of the app keyed otherwise than the function reads it', () => {
  /**
   * Each part's function addresses every objects-table item by the key attribute of its
   * `TIERLOG_HV_ATTRIBUTES` (`key` when it names none): a table keyed otherwise has DynamoDB refuse
   * every such request (a ValidationException), on every sweep, stream batch or request. The
   * `Tierlog` construct refuses such a table of yours; the parts used on their own took it.
   */
  const setup = (partitionKey: dynamodb.Attribute, hvAttributes?: { key: string }) => {
    const stack = new Stack(newApp(), 'UserStack');
    const table = (id: string, key: dynamodb.Attribute) =>
      new dynamodb.TableV2(stack, id, {
        partitionKey: key,
        dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        timeToLiveAttribute: 'expiresAt',
      });
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack),
      objectsTable: table('Keyed', partitionKey),
      bucket: new s3.Bucket(stack, 'Bucket'),
      prefix: 'blobs',
    };
    const environment = environmentOf(resources, hvAttributes !== undefined ? { hvAttributes } : {});
    return { stack, resources, environment };
  };
  const S = dynamodb.AttributeType.STRING;

  for (const [part, make] of Object.entries(PARTS)) {
    it(`${part}: refused at synth, naming the table and both keys`, () => {
      const cases: Array<[dynamodb.Attribute, { key: string } | undefined, RegExp]> = [
        [
          { name: 'id', type: S },
          undefined,
          /partition key "key" \(the key attribute of the function's TIERLOG_HV_ATTRIBUTES\) alone, not HASH "id"/,
        ],
        [{ name: 'id', type: S }, { key: 'k' }, /partition key "k" .* alone, not HASH "id"/],
        [{ name: 'key', type: dynamodb.AttributeType.NUMBER }, undefined, /not HASH "key" \(type N\)/],
      ];
      for (const [partitionKey, hvAttributes, message] of cases) {
        const x = setup(partitionKey, hvAttributes);
        expect(() => make(x.stack, x.resources, x.environment)).toThrow(
          new RegExp(`^resources\\.objectsTable UserStack/Keyed cannot be the function's objects table: .*${message.source}`),
        );
      }
    });

    it(`${part}: a table keyed as the function reads it is taken`, () => {
      for (const [partitionKey, hvAttributes] of [
        [{ name: 'key', type: S }, undefined],
        [{ name: 'id', type: S }, { key: 'id' }],
      ] as const) {
        const x = setup(partitionKey, hvAttributes);
        expect(() => make(x.stack, x.resources, x.environment)).not.toThrow();
      }
    });
  }
});

describe("the parts used on their own: a change-log table of the app that is not tierlog's", () => {
  /**
   * The sweeper claims and the writer records every instance by its string key `pk`, and every
   * sweep finds expired instances by querying the lease index: a table of the app keyed otherwise
   * had DynamoDB refuse every request of the function (a ValidationException, on every invocation),
   * and one without the index (or with an index that does not carry `state` and `claimedBy`) let no
   * sweep find a dead writer, so its blobs leaked. The `Tierlog` construct makes its change log
   * from the schema; the parts used on their own took any table. The stream function never reads
   * the change log: its part takes any.
   */
  const S = dynamodb.AttributeType.STRING;
  const N = dynamodb.AttributeType.NUMBER;
  const setup = (log: (stack: Stack) => dynamodb.ITableV2) => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const resources: TierlogResources = {
      changeLogTable: log(stack),
      objectsTable: objectsTableIn(stack),
      bucket: new BlobBucket(stack, 'Blobs').bucket, // with the lifecycle tierlog relies on: checked too
      prefix: 'blobs',
    };
    return { stack, resources, environment: environmentOf(resources) };
  };
  const leaseIndex = (overrides: Partial<dynamodb.GlobalSecondaryIndexPropsV2> = {}): dynamodb.GlobalSecondaryIndexPropsV2 => ({
    indexName: LEASE_INDEX_NAME,
    partitionKey: { name: 'shard', type: N },
    sortKey: { name: 'leaseUntil', type: N },
    projectionType: dynamodb.ProjectionType.INCLUDE,
    nonKeyAttributes: ['state', 'claimedBy'],
    ...overrides,
  });
  const refused: Array<[string, (stack: Stack) => dynamodb.ITableV2, RegExp]> = [
    [
      'keyed by another attribute',
      (stack) => new dynamodb.TableV2(stack, 'Log', { partitionKey: { name: 'id', type: S }, globalSecondaryIndexes: [leaseIndex()] }),
      /its key is \(id S HASH\), not \(pk S HASH\)/,
    ],
    [
      'keyed by pk and a sort key',
      (stack) =>
        new dynamodb.TableV2(stack, 'Log', {
          partitionKey: { name: 'pk', type: S },
          sortKey: { name: 'sk', type: S },
          globalSecondaryIndexes: [leaseIndex()],
        }),
      /its key is \(pk S HASH, sk S RANGE\), not \(pk S HASH\)/,
    ],
    [
      'without the lease index',
      (stack) => new dynamodb.TableV2(stack, 'Log', { partitionKey: { name: 'pk', type: S } }),
      /it has no index byLease/,
    ],
    [
      'with a lease index keyed otherwise',
      (stack) =>
        new dynamodb.TableV2(stack, 'Log', {
          partitionKey: { name: 'pk', type: S },
          globalSecondaryIndexes: [leaseIndex({ partitionKey: { name: 'state', type: S } })],
        }),
      /its index byLease has the key \(state S HASH, leaseUntil N RANGE\), not \(shard N HASH, leaseUntil N RANGE\)/,
    ],
    [
      'with a lease index that projects only its keys',
      (stack) =>
        new dynamodb.TableV2(stack, 'Log', {
          partitionKey: { name: 'pk', type: S },
          globalSecondaryIndexes: [leaseIndex({ projectionType: dynamodb.ProjectionType.KEYS_ONLY, nonKeyAttributes: undefined })],
        }),
      /its index byLease does not project state, claimedBy/,
    ],
    [
      'replicated to another region',
      (stack) => changeLogTableIn(stack, 'Log', { replicas: [{ region: 'us-east-1' }] }),
      /it must live in one region, not 2 \(us-east-1, eu-west-1\)/,
    ],
  ];

  for (const [part, make] of Object.entries({ sweeper: PARTS.sweeper, objectsFunction: PARTS.objectsFunction })) {
    for (const [what, log, message] of refused) {
      it(`${part}: a table ${what} is refused at synth, naming the table and what it lacks`, () => {
        const x = setup(log);
        make(x.stack, x.resources, x.environment);
        expect(() => synth(x.stack)).toThrow(
          new RegExp(`resources\\.changeLogTable UserStack/Log cannot be tierlog's change-log table: .*${message.source}`),
        );
      });
    }

    /**
     * A table is written in steps (`addGlobalSecondaryIndex`, `addReplica`), and a stack's parts
     * in any order: checked when the part was made, a lease index added next was refused as
     * missing (an app written that way did not synthesize), and a replica added next put the
     * change log in two regions, its sweeper deployed with nothing refused.
     */
    it(`${part}: an index or a replica added to the table after the part counts`, () => {
      const late = setup((stack) => new dynamodb.TableV2(stack, 'Log', { partitionKey: { name: 'pk', type: S } }));
      make(late.stack, late.resources, late.environment);
      (late.resources.changeLogTable as dynamodb.TableV2).addGlobalSecondaryIndex(leaseIndex());
      expect(() => synth(late.stack)).not.toThrow();

      const replicated = setup((stack) => changeLogTableIn(stack));
      make(replicated.stack, replicated.resources, replicated.environment);
      (replicated.resources.changeLogTable as dynamodb.TableV2).addReplica({ region: 'us-east-1' });
      expect(() => synth(replicated.stack)).toThrow(
        /resources\.changeLogTable UserStack\/Log cannot be tierlog's change-log table: it must live in one region, not 2/,
      );
    });

    it(`${part}: the schema's table, one projecting all, or an imported one (whose settings cannot be read) is taken`, () => {
      const taken: Array<(stack: Stack) => dynamodb.ITableV2> = [
        (stack) => changeLogTableIn(stack),
        (stack) =>
          new dynamodb.TableV2(stack, 'Log', {
            partitionKey: { name: 'pk', type: S },
            globalSecondaryIndexes: [leaseIndex({ projectionType: dynamodb.ProjectionType.ALL, nonKeyAttributes: undefined })],
          }),
        (stack) => dynamodb.TableV2.fromTableName(stack, 'Log', 'my-change-log'),
      ];
      for (const log of taken) {
        const x = setup(log);
        make(x.stack, x.resources, x.environment);
        expect(() => synth(x.stack)).not.toThrow();
      }
    });
  }

  it('auditAtScale: a table without the lease index is refused; the stream cleanup, which never reads the change log, takes it', () => {
    const pitr = { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } };
    const x = setup((stack) => new dynamodb.TableV2(stack, 'Log', { partitionKey: { name: 'pk', type: S }, ...pitr }));
    const objectsTable = new dynamodb.TableV2(x.stack, 'Exported', { partitionKey: { name: 'key', type: S }, ...pitr });
    const resources = { ...x.resources, objectsTable };
    new AuditAtScale(x.stack, 'Audit', {
      resources,
      accessLogsBucket: new s3.Bucket(x.stack, 'Logs'),
      environment: environmentOf(resources),
    });
    expect(() => synth(x.stack)).toThrow(
      /resources\.changeLogTable UserStack\/Log cannot be tierlog's change-log table: it has no index byLease/,
    );
    const y = setup((stack) => new dynamodb.TableV2(stack, 'Log', { partitionKey: { name: 'pk', type: S } }));
    PARTS.objectsStream(y.stack, y.resources, y.environment);
    expect(() => synth(y.stack)).not.toThrow();
  });
});

describe('the parts used on their own: a number or duration given as a CloudFormation parameter', () => {
  /**
   * As the `Tierlog` construct refuses them: each is checked at synth (or becomes a variable its
   * function reads, checked as it reads it), and a token's value is not known then. Used on their
   * own, the parts refused it as the number it encodes (`sweeperParallelism must be an integer in
   * 1..leaseShards (4), got -1.888e+289`) or by CDK's conversion of the duration, naming neither the
   * prop nor the cause; and the objects function refused a parameter as its alarm's threshold,
   * which CloudFormation takes.
   */
  const setup = () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const table = (id: string) =>
      new dynamodb.TableV2(stack, id, {
        partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
        dynamoStream: dynamodb.StreamViewType.OLD_IMAGE,
        timeToLiveAttribute: 'expiresAt',
      });
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack),
      objectsTable: table('Objects'),
      bucket: new s3.Bucket(stack, 'Bucket'),
      prefix: 'blobs',
    };
    const environment = environmentOf(resources);
    const parameter = () => new CfnParameter(stack, 'Value', { type: 'Number' }).valueAsNumber;
    return { stack, resources, environment, parameter };
  };
  type Setup = ReturnType<typeof setup>;
  const sweeper = (x: Setup, props: Partial<ConstructorParameters<typeof TierlogSweeper>[2]>) =>
    new TierlogSweeper(x.stack, 'Sweeper', { resources: x.resources, environment: x.environment, leaseShards: 4, ...props });
  const streamCleanup = (x: Setup, tuning: NonNullable<ConstructorParameters<typeof ObjectsStreamCleanup>[2]['tuning']>) =>
    new ObjectsStreamCleanup(x.stack, 'Stream', { resources: x.resources, environment: x.environment, tuning });
  const cases: Array<[string, (x: Setup) => unknown]> = [
    ['leaseShards', (x) => sweeper(x, { leaseShards: x.parameter() })],
    ['sweeperParallelism', (x) => sweeper(x, { parallelism: x.parameter() })],
    ['sweeperReservedConcurrency', (x) => sweeper(x, { reservedConcurrency: x.parameter() })],
    ['sweeperTuning.concurrency', (x) => sweeper(x, { tuning: { concurrency: x.parameter() } })],
    ['sweeperTuning.claim', (x) => sweeper(x, { tuning: { claim: Duration.seconds(x.parameter()) } })],
    ['sweeperTuning.retryFailed', (x) => sweeper(x, { tuning: { retryFailed: Duration.millis(x.parameter()) } })],
    ['sweeperTuning.shardlessScan.segments', (x) => sweeper(x, { tuning: { shardlessScan: { segments: x.parameter(), maxPages: 4 } } })],
    [
      'objectsTuning.inlineThreshold',
      (x) =>
        new ObjectsFunction(x.stack, 'Api', {
          resources: x.resources,
          environment: x.environment,
          tuning: { inlineThreshold: x.parameter() },
        }),
    ],
    ['objectsStreamTuning.concurrency', (x) => streamCleanup(x, { concurrency: x.parameter() })],
    ['objectsStreamTuning.deadlineMargin', (x) => streamCleanup(x, { deadlineMargin: Duration.millis(x.parameter()) })],
  ];
  for (const [prop, make] of cases) {
    it(`${prop}: refused, naming it and that it must be a literal`, () => {
      expect(() => make(setup())).toThrow(
        new RegExp(`^${prop.replaceAll('.', '\\.')} must be a literal (number|duration), not a CloudFormation token`),
      );
    });
  }

  it("ObjectsFunction's serverErrorsThreshold: the parameter is the alarm's threshold (CloudFormation resolves it)", () => {
    const x = setup();
    const value = new CfnParameter(x.stack, 'Threshold', { type: 'Number', default: 10 });
    new ObjectsFunction(x.stack, 'Api', { resources: x.resources, environment: x.environment, serverErrorsThreshold: value.valueAsNumber });
    Template.fromStack(x.stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Url5xxCount',
      Threshold: { Ref: 'Threshold' },
    });
  });
});

describe('the parts used on their own: resources in another region or account than the stack', () => {
  /**
   * Each function addresses its tables and bucket by name (`TIERLOG_OBJECTS_TABLE`, ...) in its own
   * region and account, where that name is another table or none: every sweep, stream batch or
   * request failed on AWS. `Tierlog` refused such an `objectsTable` or `bucket`; the parts used on
   * their own took them.
   */
  const parts = PARTS;
  const setup = (where: { table?: string; bucket?: string; account?: string }) => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const own = (id: string) =>
      new dynamodb.TableV2(stack, id, {
        partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
        dynamoStream: dynamodb.StreamViewType.OLD_IMAGE,
        timeToLiveAttribute: 'expiresAt',
      });
    const account = where.account ?? HERE.account;
    const arn = `arn:aws:dynamodb:${where.table ?? HERE.region}:${account}:table/my-objects`;
    const objectsTable =
      where.table !== undefined || where.account !== undefined
        ? dynamodb.TableV2.fromTableAttributes(stack, 'MyObjects', {
            tableArn: arn,
            tableStreamArn: `${arn}/stream/2026-01-01T00:00:00.000`,
          })
        : own('Objects');
    const bucket =
      where.bucket !== undefined
        ? s3.Bucket.fromBucketAttributes(stack, 'MyBlobs', { bucketName: 'my-blobs', region: where.bucket })
        : new s3.Bucket(stack, 'Bucket');
    const resources: TierlogResources = { changeLogTable: changeLogTableIn(stack), objectsTable, bucket, prefix: 'blobs' };
    const environment = environmentOf(resources);
    return { stack, resources, environment };
  };
  for (const [part, make] of Object.entries(parts)) {
    it(`${part}: an objects table in another region or account, or a bucket in another region, is refused at synth, naming it`, () => {
      const cases: Array<[Parameters<typeof setup>[0], RegExp]> = [
        [{ table: 'us-east-1' }, /^resources\.objectsTable .* is in region us-east-1, the stack in eu-west-1/],
        [{ account: '210987654321' }, /^resources\.objectsTable .* is in account 210987654321, the stack in 123456789012/],
        [{ bucket: 'us-east-1' }, /^resources\.bucket .* is in region us-east-1, the stack in eu-west-1/],
      ];
      for (const [where, message] of cases) {
        const x = setup(where);
        expect(() => make(x.stack, x.resources, x.environment)).toThrow(message);
      }
      // The stack's own: taken.
      const x = setup({});
      make(x.stack, x.resources, x.environment);
    });
  }

  it('in an environment-agnostic stack: a CloudFormation rule refuses the deploy elsewhere, one a resource however many parts use it', () => {
    const stack = new Stack(newApp(), 'UserStack');
    const table = tableAt(stack, HERE.account, HERE.region);
    const log = changeLogTableIn(stack);
    const bucket = new BlobBucket(stack, 'Blobs').bucket;
    const resources: TierlogResources = { changeLogTable: log, objectsTable: table, bucket, prefix: 'blobs' };
    const environment = environmentOf(resources);
    parts.sweeper(stack, resources, environment);
    parts.objectsFunction(stack, resources, environment);
    const rules = Object.values(ourRules(Template.fromStack(stack)));
    expect(rules.map((r) => r.Assertions[0]!.AssertDescription).sort()).toEqual([
      expect.stringMatching(/^resources\.objectsTable UserStack\/MyObjects is in account 123456789012: deploy the stack there/),
      expect.stringMatching(/^resources\.objectsTable UserStack\/MyObjects is in region eu-west-1: deploy the stack there/),
    ]);
  });
});

describe('the parts used on their own: two parts of one objects table read it with other attribute names', () => {
  /**
   * Each part checks its own TIERLOG_HV_ATTRIBUTES against the table's key alone: an objects
   * function given `{"blob":"ptr"}` and a sweeper given none were deployed together, and the
   * sweeper quarantined every entry of the function's writes (an item it does not understand), the
   * blobs of its dead writers never collected.
   */
  const setup = partsStack;

  it('refused at synth, naming both parts and both sets of names', () => {
    const x = setup();
    PARTS.sweeper(x.stack, x.resources, environmentOf(x.resources));
    PARTS.objectsFunction(x.stack, x.resources, environmentOf(x.resources, { hvAttributes: { blob: 'ptr' } }));
    expect(() => synth(x.stack)).toThrow(
      /UserStack\/Api reads the objects table UserStack\/\S+ with other attribute names \(TIERLOG_HV_ATTRIBUTES\): blob "ptr", not "blob"/,
    );
  });

  it('the same names, given or defaulted ({} is the default names): taken', () => {
    const x = setup();
    PARTS.sweeper(x.stack, x.resources, environmentOf(x.resources, { hvAttributes: { blob: 'blob' } }));
    PARTS.objectsFunction(x.stack, x.resources, environmentOf(x.resources));
    expect(() => synth(x.stack)).not.toThrow();
  });
});

describe('the parts used on their own: a TIERLOG_* variable of the environment that no entry point reads', () => {
  /**
   * The function ignores it, and the setting it meant keeps its default (`TIERLOG_LEASE_SHARD`: a
   * sweeper on 4 shards beside writers on 8), said only in its log at each start: the CLI, the
   * handlers and `loadConfig` warn of it, the synth that deployed it said nothing.
   */
  const setup = partsStack;
  const unknownWarnings = (stack: Stack) =>
    Annotations.fromStack(stack)
      .findWarning('*', Match.stringLikeRegexp('is not a variable tierlog reads'))
      .map((w) => String(w.entry.data));

  for (const [part, make] of Object.entries(PARTS)) {
    it(`${part}: a synth warning for each, naming the variable it likely meant`, () => {
      const x = setup();
      make(x.stack, x.resources, { ...environmentOf(x.resources), TIERLOG_LEASE_SHARD: '8', TIERLOG_SOMETHING_ELSE: '1' });
      expect(unknownWarnings(x.stack)).toEqual([
        expect.stringMatching(/^TIERLOG_LEASE_SHARD is not a variable tierlog reads: ignored \(did you mean TIERLOG_LEASE_SHARDS\?\)/),
        expect.stringMatching(/^TIERLOG_SOMETHING_ELSE is not a variable tierlog reads: ignored \(README\.md lists the variables\)/),
      ]);
    });

    it(`${part}: none for the store's own variables`, () => {
      const x = setup();
      make(x.stack, x.resources, environmentOf(x.resources));
      expect(unknownWarnings(x.stack)).toEqual([]);
    });
  }
});

describe('the parts used on their own: a bucket of the app without the lifecycle tierlog relies on', () => {
  /**
   * The sweeper refuses, at synth, the bucket a `Tierlog` refuses as its own (a lifecycle rule that
   * expires live blobs under the prefix deletes what the objects table points at; none that aborts
   * incomplete uploads bills them for ever). Used on its own, it took any bucket: the check was the
   * `Tierlog`'s alone.
   */
  const setup = (bucket: (stack: Stack) => s3.IBucket) => {
    const stack = new Stack(newApp(), 'UserStack');
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack),
      objectsTable: objectsTableIn(stack),
      bucket: bucket(stack),
      prefix: 'blobs',
    };
    PARTS.sweeper(stack, resources, environmentOf(resources));
    return () => Template.fromStack(stack);
  };

  it('a bucket that expires current objects under the prefix, or aborts no upload: refused at synth, naming it', () => {
    const expiring = (stack: Stack) =>
      new s3.Bucket(stack, 'Expiring', {
        lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(8) }, { prefix: 'blobs/', expiration: Duration.days(30) }],
      });
    expect(setup(expiring)).toThrow(/bucket UserStack\/Expiring cannot hold tierlog's blobs: .*expire/);
    expect(setup((stack) => new s3.Bucket(stack, 'Plain'))).toThrow(
      /bucket UserStack\/Plain cannot hold tierlog's blobs: no lifecycle rule over "blobs\/" aborts incomplete multipart uploads/,
    );
  });

  it("a BlobBucket's, or an imported one (whose rules cannot be read): taken", () => {
    expect(setup((stack) => new BlobBucket(stack, 'Blobs').bucket)).not.toThrow();
    expect(setup((stack) => s3.Bucket.fromBucketName(stack, 'Theirs', 'their-blobs'))).not.toThrow();
  });
});

describe('the parts used on their own: an objects table of the app in more than one region', () => {
  /**
   * DESIGN, "One region": the sweeper deletes a dead writer's blob, and the audit an orphan, once a
   * consistent read of the objects table shows no item pointing at it, and the objects function
   * writes under a condition on the item's version; a write in another region's replica is seen by
   * neither. `Tierlog` and `ObjectsStreamCleanup` refused an objects table with a replica; the
   * sweeper, the objects function and the audit used on their own took it.
   */
  const pitr = { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } };
  const setup = (replicas: dynamodb.ReplicaTableProps[]) => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const blobs = new BlobBucket(stack, 'Blobs');
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack, 'Log', pitr),
      objectsTable: objectsTableIn(stack, 'Objects', { replicas, ...pitr }),
      bucket: blobs.bucket,
      prefix: 'blobs',
    };
    return { stack, resources, environment: environmentOf(resources), accessLogsBucket: blobs.accessLogsBucket };
  };
  const parts: Record<string, (x: ReturnType<typeof setup>) => void> = {
    sweeper: (x) => PARTS.sweeper(x.stack, x.resources, x.environment),
    objectsFunction: (x) => PARTS.objectsFunction(x.stack, x.resources, x.environment),
    auditAtScale: (x) =>
      new AuditAtScale(x.stack, 'Audit', { resources: x.resources, environment: x.environment, accessLogsBucket: x.accessLogsBucket }),
  };
  for (const [part, make] of Object.entries(parts)) {
    it(`${part}: a table with a replica in another region, given or added after the part, is refused at synth, naming it`, () => {
      const replicated = setup([{ region: 'us-east-1' }]);
      make(replicated);
      expect(() => synth(replicated.stack)).toThrow(
        /resources\.objectsTable UserStack\/Objects must live in one region, not 2 \(.*us-east-1.*\)/,
      );
      const late = setup([]);
      make(late);
      (late.resources.objectsTable as dynamodb.TableV2).addReplica({ region: 'us-east-1' });
      expect(() => synth(late.stack)).toThrow(/resources\.objectsTable UserStack\/Objects must live in one region, not 2/);
    });

    it(`${part}: a table in the stack's region alone is taken`, () => {
      const x = setup([]);
      make(x);
      expect(() => synth(x.stack)).not.toThrow();
    });
  }
});

describe('removalPolicy SNAPSHOT, which CloudFormation honours on no resource of tierlog', () => {
  /**
   * CloudFormation takes snapshots of volumes and databases only: on a DynamoDB table, an S3 bucket
   * or a log group it deletes the resource instead. An app without CDK's
   * `validateSnapshotRemovalPolicy` flag (an older cdk.json) synthesized and deployed
   * `removalPolicy: RemovalPolicy.SNAPSHOT` (the tables' deletion protection off, as for anything
   * but RETAIN), and `cdk destroy` deleted the change log and the objects the user meant to keep a
   * copy of; with the flag, CDK refused it naming a resource type, not the prop.
   */
  const snapshot =
    /removalPolicy RemovalPolicy\.SNAPSHOT: CloudFormation takes no snapshot of a DynamoDB table, an S3 bucket or a log group/;

  it('the Tierlog: refused at synth, naming the prop, with or without the feature flags', () => {
    expect(() => tierlogTemplate({ removalPolicy: RemovalPolicy.SNAPSHOT }, { flags: false })).toThrow(snapshot);
    expect(() => tierlogTemplate({ removalPolicy: RemovalPolicy.SNAPSHOT })).toThrow(snapshot);
  });

  it('the parts and their tables and bucket: refused at synth, naming the prop', () => {
    const stack = () => new Stack(newApp({ flags: false }), 'UserStack', { env: HERE });
    const SNAPSHOT = RemovalPolicy.SNAPSHOT;
    expect(() => schemaTable(stack(), 'Log', changeLogTableSchema, { removalPolicy: SNAPSHOT })).toThrow(snapshot);
    expect(() => new BlobBucket(stack(), 'Blobs', { removalPolicy: SNAPSHOT })).toThrow(snapshot);
    const partOf = (make: (s: Stack, resources: TierlogResources, environment: Record<string, string>) => unknown) => () => {
      const s = stack();
      const pitr = { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } };
      const blobs = new BlobBucket(s, 'Blobs');
      const resources: TierlogResources = {
        changeLogTable: changeLogTableIn(s, 'Log', pitr),
        objectsTable: objectsTableIn(s, 'Objects', pitr),
        bucket: blobs.bucket,
        prefix: 'blobs',
      };
      make(s, resources, environmentOf(resources));
      return blobs;
    };
    const parts: Array<(s: Stack, resources: TierlogResources, environment: Record<string, string>) => unknown> = [
      (s, resources, environment) => new TierlogSweeper(s, 'Sweeper', { resources, environment, leaseShards: 4, removalPolicy: SNAPSHOT }),
      (s, resources, environment) => new ObjectsStreamCleanup(s, 'Stream', { resources, environment, removalPolicy: SNAPSHOT }),
      (s, resources, environment) => new ObjectsFunction(s, 'Api', { resources, environment, removalPolicy: SNAPSHOT }),
      (s, resources, environment) =>
        new AuditAtScale(s, 'Audit', {
          resources,
          environment,
          accessLogsBucket: new s3.Bucket(s, 'Logs'),
          removalPolicy: SNAPSHOT,
        }),
    ];
    for (const make of parts) expect(partOf(make)).toThrow(snapshot);
  });

  it('RETAIN, DESTROY and RETAIN_ON_UPDATE_OR_DELETE are taken', () => {
    for (const removalPolicy of [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY, RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE]) {
      expect(() => tierlogTemplate({ removalPolicy }, { flags: false })).not.toThrow();
    }
  });
});

describe('the parts used on their own: two stores under one bucket and prefix', () => {
  /**
   * An audit lists `<prefix>/` and reads one store's objects table: a second store under the same
   * bucket and prefix has blobs that table never points at, and the audit (`AuditAtScale` with
   * `delete`, `tierlog audit --delete`) deletes them, live ones included. Two `Tierlog` constructs
   * so were refused; parts of two stores (each its objects table) over one bucket and prefix, or
   * parts beside a `Tierlog` given its bucket and prefix, synthesized.
   */
  const S = dynamodb.AttributeType.STRING;
  const objectsTable = (stack: Stack, id: string) =>
    new dynamodb.TableV2(stack, id, {
      partitionKey: { name: 'key', type: S },
      dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
      timeToLiveAttribute: 'expiresAt',
    });
  const storeOf = (stack: Stack, n: number, bucket: s3.IBucket, prefix: string): TierlogResources => ({
    changeLogTable: changeLogTableIn(stack, `Log${n}`),
    objectsTable: objectsTable(stack, `Objects${n}`),
    bucket,
    prefix,
  });

  it('parts of two stores (each its objects table) under one bucket and prefix: refused at synth, naming both', () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const bucket = new BlobBucket(stack, 'Blobs').bucket;
    const first = storeOf(stack, 1, bucket, 'media');
    const second = storeOf(stack, 2, bucket, 'media');
    new TierlogSweeper(stack, 'Sweeper1', { resources: first, environment: environmentOf(first), leaseShards: 4 });
    new ObjectsFunction(stack, 'Api2', { resources: second, environment: environmentOf(second) });
    expect(() => synth(stack)).toThrow(
      /UserStack\/Api2 stores blobs under the same bucket and prefix "media\/" for another objects table \(UserStack\/Objects2, not UserStack\/Objects1\): an audit of either store would delete the other's blobs/,
    );
  });

  it("parts beside a Tierlog given the Tierlog's bucket and prefix, with their own objects table: refused at synth", () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const tierlog = new Tierlog(stack, 'Storage');
    const mine = storeOf(stack, 1, tierlog.bucket, tierlog.prefix);
    new ObjectsStreamCleanup(stack, 'Stream', { resources: mine, environment: environmentOf(mine) });
    expect(() => synth(stack)).toThrow(
      /UserStack\/Storage\/\S+ stores blobs under the same bucket and prefix "blobs\/" for another objects table/,
    );
  });

  it('parts of one store, or of two stores under their own prefixes or buckets: taken', () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const bucket = new BlobBucket(stack, 'Blobs').bucket;
    const first = storeOf(stack, 1, bucket, 'media');
    const second = storeOf(stack, 2, bucket, 'media/b'); // nested: the outer audits never delete the inner keys
    const third = storeOf(stack, 3, new BlobBucket(stack, 'Other').bucket, 'media');
    new TierlogSweeper(stack, 'Sweeper1', { resources: first, environment: environmentOf(first), leaseShards: 4 });
    new ObjectsStreamCleanup(stack, 'Stream1', { resources: first, environment: environmentOf(first) });
    new ObjectsFunction(stack, 'Api1', { resources: { ...first }, environment: environmentOf(first) });
    new ObjectsFunction(stack, 'Api2', { resources: second, environment: environmentOf(second) });
    new ObjectsFunction(stack, 'Api3', { resources: third, environment: environmentOf(third) });
    expect(() => synth(stack)).not.toThrow();
  });
});

describe('ObjectsFunction used on its own: replaced blobs left to a stream without old images', () => {
  /**
   * With `TIERLOG_REPLACED_BLOB_CLEANUP=stream` (what `Tierlog.writerEnvironment` sets) the objects
   * function records no replaced blob in its change-log entry and leaves one it could not delete (a
   * failed delete, a death after the commit) to the stream function, which reads it from the old
   * image: over a table of the app whose stream is off or carries no old image, each such blob
   * leaked until an audit, with nothing refused.
   */
  const setup = (dynamoStream: dynamodb.StreamViewType | undefined, replacedBlobCleanup?: 'stream' | 'log') => () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack),
      objectsTable: objectsTableIn(stack, 'Objects', { dynamoStream }),
      bucket: new BlobBucket(stack, 'Blobs').bucket,
      prefix: 'blobs',
    };
    const environment = environmentOf(resources, replacedBlobCleanup !== undefined ? { replacedBlobCleanup } : {});
    new ObjectsFunction(stack, 'Api', { resources, environment });
  };

  it('a table whose stream is off or carries no old image: refused, naming the variable and the table', () => {
    expect(setup(undefined, 'stream')).toThrow(
      /^TIERLOG_REPLACED_BLOB_CLEANUP=stream .* the stream of resources\.objectsTable UserStack\/Objects carries nothing \(it is off\)/,
    );
    expect(setup(dynamodb.StreamViewType.NEW_IMAGE, 'stream')).toThrow(/carries no old image \(NEW_IMAGE\)/);
    expect(setup(dynamodb.StreamViewType.KEYS_ONLY, 'stream')).toThrow(/carries no old image \(KEYS_ONLY\)/);
  });

  it('old images, or the log cleanup (the sweeper deletes them): taken', () => {
    expect(setup(dynamodb.StreamViewType.OLD_IMAGE, 'stream')).not.toThrow();
    expect(setup(dynamodb.StreamViewType.NEW_AND_OLD_IMAGES, 'stream')).not.toThrow();
    expect(setup(undefined, 'log')).not.toThrow();
    expect(setup(undefined)).not.toThrow();
  });
});

describe('a prop the construct does not know (a JavaScript app, no type check)', () => {
  // Each was ignored: the default deployed in silence (alarms without actions, blobs under
  // `blobs/`, the default upload window, the default safety age), nothing said why.
  it.each([
    ['Tierlog', { alarmAction: [] }, /unknown option "alarmAction" for Tierlog \(it takes .*alarmActions/],
    ['Tierlog', { Prefix: 'media' }, /unknown option "Prefix" for Tierlog/],
    [
      'sweeperTuning',
      { sweeperTuning: { maxUploadMS: Duration.minutes(30) } },
      /unknown option "maxUploadMS" for sweeperTuning \(it takes .*maxUpload/,
    ],
    ['objectsStreamTuning', { objectsStreamTuning: { concurency: 4 } }, /unknown option "concurency" for objectsStreamTuning/],
    [
      'auditAtScale',
      { auditAtScale: { olderthan: Duration.hours(48) } },
      /unknown option "olderthan" for auditAtScale \(it takes .*olderThan/,
    ],
  ])('%s: refused, naming it and the names it takes', (_where, props, error) => {
    expect(() => build(HERE, () => props as TierlogProps)).toThrow(error);
  });

  it('the props it knows, and one left undefined, are taken', () => {
    expect(() =>
      build(HERE, () => ({
        prefix: 'media',
        alarmActions: [],
        sweeperTuning: { maxUpload: Duration.minutes(30) },
        objectsStreamTuning: { concurrency: 4 },
        removalPolicy: undefined,
      })),
    ).not.toThrow();
  });

  it.each([
    ['TierlogSweeper', (s: Stack) => new TierlogSweeper(s, 'Part', { reservedConcurency: 8 } as never)],
    ['ObjectsStreamCleanup', (s: Stack) => new ObjectsStreamCleanup(s, 'Part', { iteratorAgeTreshold: Duration.hours(2) } as never)],
    ['ObjectsFunction', (s: Stack) => new ObjectsFunction(s, 'Part', { alarmAction: [] } as never)],
    ['TierlogMonitoring', (s: Stack) => new TierlogMonitoring(s, 'Part', { alarmAction: [] } as never)],
  ])('%s used on its own: a name it does not know is refused, naming it', (part, make) => {
    // Dropped, its default deployed: TierlogMonitoring's or ObjectsFunction's alarms paging no one.
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    expect(() => make(stack)).toThrow(new RegExp(`^unknown option "\\w+" for ${part} \\(it takes `));
  });

  it('hvAttributes given as a CloudFormation parameter: refused, naming the attribute and that it must be a literal', () => {
    // It was refused as the text that encodes the token: '"blob" is "${Token[TOKEN.33]}", not an attribute name'.
    expect(() => build(HERE, (stack) => ({ hvAttributes: { blob: new CfnParameter(stack, 'Blob').valueAsString } }))).toThrow(
      /^hvAttributes\.blob must be a literal string, not a CloudFormation token/,
    );
  });

  it('hvAttributes given as a Map: refused, naming them (read as no overrides, the table keyed and every function run on the default names)', () => {
    expect(() => build(HERE, () => ({ hvAttributes: new Map([['key', 'pk']]) as never }))).toThrow(
      /^hvAttributes must be a plain object of attribute names by logical name, not a Map/,
    );
  });

  it('AuditAtScale used on its own: a name it does not know is refused', () => {
    const stack = new Stack(newApp(), 'UserStack', { env: HERE });
    const resources: TierlogResources = {
      changeLogTable: changeLogTableIn(stack, 'Log', { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } }),
      objectsTable: objectsTableIn(stack, 'Objects', { pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } }),
      bucket: new s3.Bucket(stack, 'Blobs'),
      prefix: 'blobs',
    };
    const environment = configToEnv({
      changeLogTable: resources.changeLogTable.tableName,
      objectsTable: resources.objectsTable.tableName,
      bucket: resources.bucket.bucketName,
      prefix: 'blobs',
      leaseShards: 4,
    });
    const props = { resources, environment, accessLogsBucket: new s3.Bucket(stack, 'Logs'), deleet: true };
    expect(() => new AuditAtScale(stack, 'Audit', props as unknown as ConstructorParameters<typeof AuditAtScale>[2])).toThrow(
      /unknown option "deleet" for AuditAtScale/,
    );
  });
});
