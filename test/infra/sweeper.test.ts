import { METRICS_DEPLOYMENT_ENV } from '../../lib/handlers/names.js';
import { afterAll, describe, expect, it } from 'vitest';
import { CfnParameter, Duration, Stack, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { CONFIG_ENV } from '../../lib/config.js';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { shardsOfSchedule, TierlogSweeper } from '../../infra/sweeper.js';
import { Tierlog } from '../../infra/tierlog.js';
import {
  changeLogTableIn,
  cleanOutdirs,
  logicalIdOf,
  onlyResource,
  resourcesOf,
  storeNames,
  tierlogTemplate,
  userStack,
} from './helpers.js';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const sweeperId = logicalIdOf(stack, stack.tierlog.sweeperFunction);
const sweeper = resourcesOf(template, 'AWS::Lambda::Function')[sweeperId]!;
const dlqId = logicalIdOf(stack, stack.tierlog.deadLetterQueue);

describe('sweeper function', () => {
  it('is Node.js 24 on ARM64, 5 min, 512 MB, bundled ESM handler', () => {
    expect(sweeper.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Timeout: 300,
      MemorySize: 512,
      Handler: 'index.handler',
    });
  });

  it('has the tierlog configuration, Powertools names and source maps in its environment', () => {
    const vars = (sweeper.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(vars).sort()).toEqual(
      [
        ...Object.values(CONFIG_ENV),
        'POWERTOOLS_SERVICE_NAME',
        'POWERTOOLS_METRICS_NAMESPACE',
        'POWERTOOLS_METRICS_DISABLED',
        'POWERTOOLS_DEV',
        'NODE_OPTIONS',
        METRICS_DEPLOYMENT_ENV,
      ].sort(),
    );
    expect(vars).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'tierlog-sweeper',
      POWERTOOLS_METRICS_NAMESPACE: 'Tierlog',
      POWERTOOLS_METRICS_DISABLED: 'false',
      POWERTOOLS_DEV: 'false',
      NODE_OPTIONS: '--enable-source-maps',
      [METRICS_DEPLOYMENT_ENV]: 'Tierlog/Tierlog',
      TIERLOG_PREFIX: 'blobs',
      TIERLOG_LEASE_SHARDS: '4',
      TIERLOG_CHANGELOG_TABLE: { Ref: logicalIdOf(stack, stack.tierlog.changeLogTable) },
      TIERLOG_OBJECTS_TABLE: { Ref: logicalIdOf(stack, stack.tierlog.objectsTable) },
      TIERLOG_BUCKET: { Ref: logicalIdOf(stack, stack.tierlog.bucket) },
    });
  });

  it('has bounded concurrency (reserved, 2 per schedule by default)', () => {
    expect(sweeper.Properties!['ReservedConcurrentExecutions']).toBe(2);
    const { stack: s, template: t } = tierlogTemplate({ sweeperParallelism: 2, sweeperReservedConcurrency: 3 });
    expect(
      resourcesOf(t, 'AWS::Lambda::Function')[logicalIdOf(s, s.tierlog.sweeperFunction)]!.Properties!['ReservedConcurrentExecutions'],
    ).toBe(3);
  });

  it('refuses fewer reserved slots than fan-out groups (a group without one is throttled, its shards unswept and unmeasured)', () => {
    expect(() => tierlogTemplate({ sweeperParallelism: 4, sweeperReservedConcurrency: 3 })).toThrow(
      /sweeperReservedConcurrency must be an integer of at least sweeperParallelism \(4\)/,
    );
    expect(() => tierlogTemplate({ sweeperReservedConcurrency: 0 })).toThrow(/at least sweeperParallelism \(1\)/);
    expect(() => tierlogTemplate({ sweeperParallelism: 4, sweeperReservedConcurrency: 4 })).not.toThrow();
  });

  // Each fan-out group adds two schedules and two not-running alarms: a large sweeperParallelism
  // passed the stack's 500 resources, and the synth failed with CDK's count of resource types
  // (AWS::Scheduler::Schedule (256), AWS::CloudWatch::Alarm (270), ...), naming no prop.
  it('refuses a fan-out that puts the stack over its resource limit, naming sweeperParallelism, the limit and the most that fit', () => {
    let message = '';
    try {
      tierlogTemplate({ leaseShards: 256, sweeperParallelism: 128 });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/sweeperParallelism 128 puts \d+ resources in stack Tierlog, over the 500 a stack takes/);
    expect(message).toMatch(/each fan-out group adds 4 /);
    const most = Number(/give sweeperParallelism at most (\d+)/.exec(message)?.[1]);
    expect(most).toBeGreaterThan(1);
    expect(() => tierlogTemplate({ leaseShards: 256, sweeperParallelism: most })).not.toThrow();
    expect(() => tierlogTemplate({ leaseShards: 256, sweeperParallelism: most + 1 })).toThrow(/give sweeperParallelism at most/);
  });

  it('is not retried by Lambda on failure (the next scheduled sweep does the work)', () => {
    const [, config] = onlyResource(template, 'AWS::Lambda::EventInvokeConfig');
    expect(config.Properties).toMatchObject({ FunctionName: { Ref: sweeperId }, MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 300 });
  });

  it('logs to its own log group with a retention', () => {
    const groupId = logicalIdOf(stack, stack.tierlog.sweeper.logGroup);
    expect(sweeper.Properties!['LoggingConfig']).toEqual({ LogGroup: { Ref: groupId } });
    expect(resourcesOf(template, 'AWS::Logs::LogGroup')[groupId]!.Properties).toEqual({ RetentionInDays: 90 });
  });

  it('refuses a runtime the handlers cannot run on (another language, Node.js before 22), for every function', () => {
    for (const runtime of [lambda.Runtime.NODEJS_20_X, lambda.Runtime.NODEJS_18_X, lambda.Runtime.PYTHON_3_12]) {
      expect(() => tierlogTemplate({ runtime }), runtime.name).toThrow(
        `runtime must be Node.js 22 or later (nodejs22.x, nodejs24.x, ...), got ${runtime.name}`,
      );
    }
    expect(() => tierlogTemplate({ runtime: lambda.Runtime.NODEJS_LATEST })).not.toThrow();
  });

  // A runtime's name (a JavaScript app's, a context value) was refused as "got undefined": a
  // Node.js 24 told it is not Node.js 22 or later.
  it('refuses a runtime given by its name, naming the value and what it takes', () => {
    expect(() => tierlogTemplate({ runtime: 'nodejs24.x' as never })).toThrow(
      'runtime must be a lambda.Runtime (lambda.Runtime.NODEJS_24_X, ...), got "nodejs24.x" (string)',
    );
  });

  it('refuses a timeout under one minute (at 10 s or less a sweep never takes any work)', () => {
    expect(() => tierlogTemplate({ sweeperTimeout: Duration.seconds(59) })).toThrow(/sweeperTimeout must be at least 60 s, got 59 seconds/);
    expect(() => tierlogTemplate({ sweeperTimeout: Duration.seconds(10) })).toThrow(/sweeperTimeout must be at least 60 s/);
    expect(() => tierlogTemplate({ sweeperTimeout: Duration.minutes(1) })).not.toThrow();
  });

  it('refuses a timeout that is a CloudFormation token (a parameter): it was deployed unchecked', () => {
    // The floor and the margins were skipped for a timeout not known at synth: a parameter of 10 s
    // deployed a sweeper whose every sweep stopped before it took any work, and SweeperNotRunning
    // (sized on a literal timeout only) stayed quiet, as a sweep cut off still publishes.
    const { stack } = userStack();
    const seconds = new CfnParameter(stack, 'SweeperTimeoutSeconds', { type: 'Number', default: 10 });
    expect(() => new Tierlog(stack, 'Storage', { sweeperTimeout: Duration.seconds(seconds.valueAsNumber) })).toThrow(
      /sweeperTimeout must be a literal duration, not a CloudFormation token/,
    );
  });

  it('refuses margins that leave a sweep less of its timeout than the least timeout leaves with the default margins', () => {
    // Below the timeout by a second, a margin was taken: a sweep that answers 1 s into its run is
    // cut off before its lease-index queries answer (one lost answer waits 10 s), every sweep, and
    // still publishes its metrics, so SweeperNotRunning stayed quiet while nothing was swept. The
    // 1 minute floor of the timeout, with the default margins, leaves 50 s to take work and 58 s
    // to answer: a margin is held to the same.
    expect(() => tierlogTemplate({ sweeperTimeout: Duration.minutes(1), sweeperTuning: { answerMargin: Duration.seconds(59) } })).toThrow(
      /sweeperTuning\.answerMargin \(59000 ms\) leaves a sweep 1000 ms of sweeperTimeout \(1 minute\) before it answers: at least 58000 ms/,
    );
    expect(() => tierlogTemplate({ sweeperTuning: { deadlineMargin: Duration.seconds(299) } })).toThrow(
      /sweeperTuning\.deadlineMargin \(299000 ms\) leaves a sweep 1000 ms of sweeperTimeout \(5 minutes\) to take work: at least 50000 ms/,
    );
    expect(() => tierlogTemplate({ sweeperTuning: { deadlineMargin: Duration.seconds(251) } })).toThrow(/at least 50000 ms/);
    expect(() =>
      tierlogTemplate({ sweeperTuning: { deadlineMargin: Duration.seconds(250), answerMargin: Duration.seconds(242) } }),
    ).not.toThrow();
  });

  it.each([
    [{ maxUploadListingPages: 0 }, 'sweeperTuning.maxUploadListingPages'],
    [{ maxUploadListingPages: 101 }, 'sweeperTuning.maxUploadListingPages'],
    [{ claim: Duration.seconds(10) }, 'sweeperTuning.claim'],
    [{ maxUpload: Duration.days(2) }, 'sweeperTuning.maxUpload'],
    [{ concurrency: 0 }, 'sweeperTuning.concurrency'],
    [{ answerMargin: Duration.minutes(5) }, 'sweeperTuning.answerMargin'],
    [{ answerMargin: Duration.millis(0) }, 'sweeperTuning.answerMargin'],
    [{ deadlineMargin: Duration.minutes(6) }, 'sweeperTuning.deadlineMargin'],
    [{ quarantineRecheck: Duration.seconds(30) }, 'sweeperTuning.quarantineRecheck'],
    [{ quarantineRecheck: Duration.hours(13) }, 'sweeperTuning.quarantineRecheck'],
    [{ retryFailed: Duration.seconds(1) }, 'sweeperTuning.retryFailed'],
    [{ retryFailed: Duration.hours(2) }, 'sweeperTuning.retryFailed'],
    [{ shardlessScan: { segments: 0, maxPages: 4 } }, 'sweeperTuning.shardlessScan.segments'],
    [{ shardlessScan: { segments: 1_000_000, maxPages: 4 } }, 'sweeperTuning.shardlessScan.segments'],
    [{ shardlessScan: { segments: 8, maxPages: 101 } }, 'sweeperTuning.shardlessScan.maxPages'],
  ])('refuses sweeperTuning %o at synth, naming the prop (the sweeper would refuse it, or never sweep)', (tuning, prop) => {
    expect(() => tierlogTemplate({ sweeperTuning: tuning })).toThrow(prop);
  });

  it('refuses a shardlessScan of "false" (a context value, a string) saying what it got: not "must be false, got false"', () => {
    expect(() => tierlogTemplate({ sweeperTuning: { shardlessScan: 'false' as unknown as false } })).toThrow(
      /shardlessScan(\.segments)? must be false or \{ segments, maxPages \}, got "false" \(a string\)/,
    );
  });

  it('takes runtime, timeout and memory from props', () => {
    const { stack: s, template: t } = tierlogTemplate({
      runtime: lambda.Runtime.NODEJS_22_X,
      sweeperTimeout: Duration.minutes(10),
      sweeperMemorySize: 1024,
    });
    expect(resourcesOf(t, 'AWS::Lambda::Function')[logicalIdOf(s, s.tierlog.sweeperFunction)]!.Properties).toMatchObject({
      Runtime: 'nodejs22.x',
      Timeout: 600,
      MemorySize: 1024,
    });
  });
});

/** A user's stack with two tables and a bucket of its own, as a `TierlogSweeper`'s `resources` (prefix `blobs`). */
function stackWithResources() {
  const { stack } = userStack();
  const table = (id: string, key: string) =>
    new dynamodb.TableV2(stack, id, { partitionKey: { name: key, type: dynamodb.AttributeType.STRING } });
  const resources = {
    changeLogTable: changeLogTableIn(stack),
    objectsTable: table('Objects', 'key'),
    bucket: new s3.Bucket(stack, 'Bucket'),
    prefix: 'blobs',
  };
  return { stack, resources };
}

/** The schedules of a template, with their parsed input, sweeps first. */
function schedulesOf(t: typeof template) {
  return Object.values(resourcesOf(t, 'AWS::Scheduler::Schedule'))
    .map((sc) => ({ sc, input: JSON.parse((sc.Properties!['Target'] as { Input: string }).Input) as Record<string, unknown> }))
    .sort((a, b) => JSON.stringify(a.input).localeCompare(JSON.stringify(b.input)));
}

describe('sweep schedule', () => {
  it('sweeps every minute without housekeeping, with a retry policy and a dead-letter queue', () => {
    const all = schedulesOf(template);
    expect(all.map((s) => s.input)).toEqual([{ housekeeping: false }, { housekeeping: true }]);
    const schedule = all[0]!.sc;
    expect(schedule.Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': [sweeperId, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 300 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
        RoleArn: { 'Fn::GetAtt': [logicalIdOf(stack, stack.tierlog.sweeper.schedulerRole), 'Arn'] },
      },
    });
  });

  it('a housekeeping sweep every 10 minutes, with the same target settings', () => {
    const [sweep, housekeeping] = schedulesOf(template);
    expect(housekeeping!.sc.Properties!['ScheduleExpression']).toBe('rate(10 minutes)');
    const { Input: _a, ...sweepTarget } = sweep!.sc.Properties!['Target'] as Record<string, unknown>;
    const { Input: _b, ...housekeepingTarget } = housekeeping!.sc.Properties!['Target'] as Record<string, unknown>;
    expect(housekeepingTarget).toEqual(sweepTarget);
  });

  it('the dead-letter queue is encrypted, TLS-only, keeps 14 days', () => {
    const queue = resourcesOf(template, 'AWS::SQS::Queue')[dlqId]!;
    expect(queue.Properties).toEqual({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    const policies = Object.values(resourcesOf(template, 'AWS::SQS::QueuePolicy')).filter((p) =>
      JSON.stringify(p.Properties!['Queues']).includes(dlqId),
    );
    expect(policies).toHaveLength(1);
    expect(JSON.stringify(policies[0]!.Properties)).toContain('"aws:SecureTransport":"false"');
  });

  it("Scheduler assumes its role only for this account's default schedule group", () => {
    const role = resourcesOf(template, 'AWS::IAM::Role')[logicalIdOf(stack, stack.tierlog.sweeper.schedulerRole)]!;
    const [statement] = (role.Properties!['AssumeRolePolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
    expect(statement).toMatchObject({ Principal: { Service: 'scheduler.amazonaws.com' }, Action: 'sts:AssumeRole' });
    expect(JSON.stringify(statement!['Condition'])).toContain('aws:SourceAccount');
    expect(JSON.stringify(statement!['Condition'])).toContain(':schedule-group/default');
  });

  it('takes the schedule expressions from props', () => {
    const { template: t } = tierlogTemplate({
      sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(5)),
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
    });
    expect(schedulesOf(t).map((s) => s.sc.Properties!['ScheduleExpression'])).toEqual(['rate(5 minutes)', 'rate(1 hour)']);
  });
});

describe('fan-out', () => {
  it('splits the lease shards round-robin, each exactly once', () => {
    expect(shardsOfSchedule(0, 1, 4)).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2].map((i) => shardsOfSchedule(i, 3, 4))).toEqual([[0, 3], [1], [2]]);
    for (const [p, n] of [
      [2, 8],
      [5, 16],
      [16, 16],
    ] as const) {
      const all = Array.from({ length: p }, (_, i) => shardsOfSchedule(i, p, n))
        .flat()
        .sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: n }, (_, s) => s));
    }
  });

  it('sweeperParallelism N makes N sweep and N housekeeping schedules, each with {"shards":[...]} as input', () => {
    const { stack: s, template: t } = tierlogTemplate({ sweeperParallelism: 3 });
    const schedules = Object.values(resourcesOf(t, 'AWS::Scheduler::Schedule'));
    expect(schedules).toHaveLength(6);
    expect(schedulesOf(t).map((x) => x.input)).toEqual([
      { shards: [0, 3], housekeeping: false },
      { shards: [0, 3], housekeeping: true },
      { shards: [1], housekeeping: false },
      { shards: [1], housekeeping: true },
      { shards: [2], housekeeping: false },
      { shards: [2], housekeeping: true },
    ]);
    const fnId = logicalIdOf(s, s.tierlog.sweeperFunction);
    for (const sc of schedules) expect((sc.Properties!['Target'] as { Arn: unknown }).Arn).toEqual({ 'Fn::GetAtt': [fnId, 'Arn'] });
    // One scheduler role serves all schedules; concurrency bound scales with the fan-out.
    expect(new Set(schedules.map((sc) => JSON.stringify((sc.Properties!['Target'] as { RoleArn: unknown }).RoleArn))).size).toBe(1);
    expect(resourcesOf(t, 'AWS::Lambda::Function')[fnId]!.Properties!['ReservedConcurrentExecutions']).toBe(6);
  });

  it('many shards: inputs list them all, descriptions stay within Scheduler limits', () => {
    const { template: t } = tierlogTemplate({ leaseShards: 256, sweeperParallelism: 2 });
    const schedules = Object.values(resourcesOf(t, 'AWS::Scheduler::Schedule'));
    for (const housekeeping of [false, true]) {
      const shards = schedulesOf(t)
        .filter((x) => x.input.housekeeping === housekeeping)
        .flatMap((x) => x.input.shards as number[]);
      expect(shards.sort((a, b) => a - b)).toEqual(Array.from({ length: 256 }, (_, s) => s));
    }
    for (const sc of schedules) expect((sc.Properties!['Description'] as string).length).toBeLessThanOrEqual(512);
    expect(schedules.map((sc) => sc.Properties!['Description']).sort()).toEqual([
      'tierlog housekeeping sweep (suspect leases, items without a shard) of lease shards s with s % 2 = 0 (128 of 256)',
      'tierlog housekeeping sweep (suspect leases, items without a shard) of lease shards s with s % 2 = 1 (128 of 256)',
      'tierlog sweep of lease shards s with s % 2 = 0 (128 of 256)',
      'tierlog sweep of lease shards s with s % 2 = 1 (128 of 256)',
    ]);
  });

  it.each([0, 5, 1.5])('rejects sweeperParallelism %s with 4 shards', (p) => {
    expect(() => tierlogTemplate({ sweeperParallelism: p })).toThrow(/sweeperParallelism/);
  });

  it.each([0, 257, 2.5])('rejects leaseShards %s', (n) => {
    expect(() => tierlogTemplate({ leaseShards: n })).toThrow(/leaseShards/);
  });

  it.each(['', '/blobs', 'blobs/', 'a/../b'])('rejects prefix %j', (prefix) => {
    expect(() => tierlogTemplate({ prefix })).toThrow(/prefix/);
  });

  it('the quarantine recheck, the retry of failed deletes and the shardless scan reach the environment; the quarantine alarm follows the recheck', () => {
    const envOf = (props: Parameters<typeof tierlogTemplate>[0]) => {
      const { stack: s, template: t } = tierlogTemplate(props);
      const fn = resourcesOf(t, 'AWS::Lambda::Function')[logicalIdOf(s, s.tierlog.sweeperFunction)]!;
      const quarantine = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.entriesQuarantined)]!;
      return {
        vars: (fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables,
        // Five-minute periods.
        lookBackMs: (quarantine.Properties!['EvaluationPeriods'] as number) * 300_000,
      };
    };
    const tuned = envOf({
      sweeperTuning: {
        quarantineRecheck: Duration.hours(6),
        retryFailed: Duration.minutes(5),
        shardlessScan: { segments: 32, maxPages: 10 },
      },
    });
    expect(tuned.vars).toMatchObject({
      TIERLOG_QUARANTINE_RECHECK_MS: '21600000',
      TIERLOG_RETRY_FAILED_MS: '300000',
      TIERLOG_SHARDLESS_SCAN_SEGMENTS: '32',
      TIERLOG_SHARDLESS_SCAN_PAGES: '10',
    });
    expect(tuned.lookBackMs).toBeGreaterThan(6 * 3_600_000);
    expect(tuned.lookBackMs).toBeLessThanOrEqual(86_400_000);
    const off = envOf({ sweeperTuning: { shardlessScan: false } });
    expect(off.vars).toMatchObject({ TIERLOG_SHARDLESS_SCAN_SEGMENTS: '0' });
    expect(off.vars).not.toHaveProperty('TIERLOG_SHARDLESS_SCAN_PAGES');
    // At the ceiling, the alarm still looks back past one recheck, within CloudWatch's one day.
    const longest = envOf({ sweeperTuning: { quarantineRecheck: Duration.hours(12) } });
    expect(longest.lookBackMs).toBeGreaterThan(12 * 3_600_000);
    expect(longest.lookBackMs).toBeLessThanOrEqual(86_400_000);
  });

  it('leaseShards and prefix reach the environment', () => {
    const { stack: s, template: t } = tierlogTemplate({ leaseShards: 16, prefix: 'tenant-a/blobs' });
    const vars = (
      resourcesOf(t, 'AWS::Lambda::Function')[logicalIdOf(s, s.tierlog.sweeperFunction)]!.Properties!['Environment'] as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(vars).toMatchObject({ TIERLOG_LEASE_SHARDS: '16', TIERLOG_PREFIX: 'tenant-a/blobs' });
  });
});

describe('TierlogSweeper used on its own: tuning set in the environment it is given', () => {
  /**
   * The function's environment is `environment` with the props' tuning over it: a tuning variable
   * set there was read by the function (a bad one failed every sweep at init; a margin at or
   * above the timeout stopped every sweep before it did anything) and checked by nothing at synth,
   * and the CLI outputs left it out.
   */
  const build = (environment: Record<string, string>, tuning?: { deadlineMargin: Duration }) => {
    const { stack, resources } = stackWithResources();
    return new TierlogSweeper(stack, 'Sweeper', {
      resources,
      environment: { ...storeNames(resources), ...environment },
      leaseShards: 4,
      ...(tuning ? { tuning } : {}),
    });
  };

  it('is refused at synth as the prop is, naming the variable', () => {
    expect(() => build({ TIERLOG_CLAIM_MS: '1000' })).toThrow(/TIERLOG_CLAIM_MS is 1000 ms, below its floor/);
    expect(() => build({ TIERLOG_SWEEP_CONCURRENCY: '0' })).toThrow(/TIERLOG_SWEEP_CONCURRENCY/);
    expect(() => build({ TIERLOG_DEADLINE_MARGIN_MS: '5m' })).toThrow(/TIERLOG_DEADLINE_MARGIN_MS/);
    expect(() => build({ TIERLOG_DEADLINE_MARGIN_MS: '300000' })).toThrow(
      /TIERLOG_DEADLINE_MARGIN_MS \(300000 ms\) must be below sweeperTimeout \(5 minutes\)/,
    );
    // The prop is what the function reads then.
    expect(() => build({ TIERLOG_DEADLINE_MARGIN_MS: '300000' }, { deadlineMargin: Duration.seconds(30) })).not.toThrow();
  });

  it("the drills' opt-out of the floors is refused, naming it: a deployed sweeper runs beside real writers", () => {
    // It let a claim of 2 s through, and the CLI outputs (tuningEnvironment) left the opt-out out.
    expect(() => build({ TIERLOG_UNSAFE_SHORT_WINDOWS: '1', TIERLOG_CLAIM_MS: '2000' })).toThrow(
      expect.objectContaining({ name: 'ConfigError', setting: 'TIERLOG_UNSAFE_SHORT_WINDOWS' }),
    );
    expect(() => build({ TIERLOG_UNSAFE_SHORT_WINDOWS: 'true' })).toThrow(
      /TIERLOG_UNSAFE_SHORT_WINDOWS may not be set on a deployed sweeper/,
    );
    // Blank is unset, as the function reads it.
    expect(() => build({ TIERLOG_UNSAFE_SHORT_WINDOWS: '' })).not.toThrow();
  });

  it('keeps the NODE_OPTIONS it is given, with source maps beside them (they were replaced: a heap size or a preload lost in silence)', () => {
    const variables = (sweeper: TierlogSweeper) =>
      (
        Stack.of(sweeper).resolve((sweeper.function.node.defaultChild as lambda.CfnFunction).environment) as {
          variables: Record<string, string>;
        }
      ).variables;
    expect(variables(build({ NODE_OPTIONS: '--max-old-space-size=384' })).NODE_OPTIONS).toBe(
      '--max-old-space-size=384 --enable-source-maps',
    );
    expect(variables(build({ NODE_OPTIONS: '--enable-source-maps' })).NODE_OPTIONS).toBe('--enable-source-maps');
    expect(variables(build({})).NODE_OPTIONS).toBe('--enable-source-maps');
  });

  it('is among the variables the CLI is given to judge as this sweeper does', () => {
    const sweeper = build({ TIERLOG_MAX_UPLOAD_MS: '3600000', TIERLOG_CHANGELOG_TABLE: 'cl-1' });
    expect(sweeper.tuningEnvironment).toEqual({ TIERLOG_MAX_UPLOAD_MS: '3600000' });
  });
});

describe('TierlogSweeper used on its own: leaseShards and the TIERLOG_LEASE_SHARDS it is given', () => {
  /**
   * The schedules split `leaseShards` between them; the function sweeps the shards of its own
   * TIERLOG_LEASE_SHARDS. With 8 in the environment (the writers' own) and 4 as the prop, two
   * fan-out groups swept shards 0..3 only: the dead writers of shards 4..7 were never recovered,
   * and nothing counted them (the housekeeping scan reports items past the function's 8 only).
   */
  const build = (environment: Record<string, string>, leaseShards: number, parallelism = 2) => {
    const { stack, resources } = stackWithResources();
    return new TierlogSweeper(stack, 'Sweeper', {
      resources,
      environment: { ...storeNames(resources), ...environment },
      leaseShards,
      parallelism,
    });
  };

  it('a leaseShards other than the function reads is refused at synth, naming both', () => {
    expect(() => build({ [CONFIG_ENV.leaseShards]: '8' }, 4)).toThrow(
      /leaseShards \(4\) disagrees with the function's TIERLOG_LEASE_SHARDS \(8\)/,
    );
    expect(() => build({ [CONFIG_ENV.leaseShards]: '4' }, 8)).toThrow(
      /leaseShards \(8\) disagrees with the function's TIERLOG_LEASE_SHARDS \(4\)/,
    );
    // Unset, the function reads the default (4).
    expect(() => build({}, 8)).toThrow(/leaseShards \(8\) disagrees with the function's TIERLOG_LEASE_SHARDS \(4, the default: unset\)/);
    // A value the function cannot read fails it at init: refused here, naming the variable.
    expect(() => build({ [CONFIG_ENV.leaseShards]: 'eight' }, 8)).toThrow(/TIERLOG_LEASE_SHARDS must be an integer/);
  });

  it('the same number, or a value known only at deploy, is taken', () => {
    expect(() => build({ [CONFIG_ENV.leaseShards]: '8' }, 8)).not.toThrow();
    expect(() => build({ [CONFIG_ENV.leaseShards]: ' 8' }, 8)).not.toThrow();
    expect(() => build({}, 4)).not.toThrow();
    expect(() => build({ [CONFIG_ENV.leaseShards]: Token.asString({ Ref: 'Shards' }) }, 8)).not.toThrow();
  });
});
