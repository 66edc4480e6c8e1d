import type { Construct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Duration, Fn } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { routineExpiredAgeOf, sweepIntervalOf, sweeperSilenceOf, TierlogMonitoring } from '../../infra/monitoring.js';
import { SWEEP_METRICS } from '../../lib/recovery/sweep-metrics.js';
import { Tierlog } from '../../infra/tierlog.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { ObjectsStreamCleanup } from '../../infra/objects-stream.js';
import { ObjectsFunction } from '../../infra/objects-function.js';
import { AuditAtScale } from '../../infra/audit-at-scale.js';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { ConfigError } from '../../lib/errors.js';
import { cleanOutdirs, logicalIdOf, onlyResource, resourcesOf, tierlogTemplate, userStack } from './helpers.js';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
const alarm = (name: keyof typeof stack.tierlog.alarms) => alarms[logicalIdOf(stack, stack.tierlog.alarms[name]!)]!.Properties!;
const sweeperMetric = (metricName: string, stat: string) => [
  expect.objectContaining({
    MetricStat: {
      Metric: {
        Namespace: 'Tierlog',
        MetricName: metricName,
        Dimensions: [
          { Name: 'deployment', Value: 'Tierlog/Tierlog' },
          { Name: 'service', Value: 'tierlog-sweeper' },
        ],
      },
      Period: 300,
      Stat: stat,
    },
  }),
];

describe('alarms', () => {
  it("are the nine sweeper alarms, the four of the objects stream and the objects API's", () => {
    expect(Object.keys(alarms)).toHaveLength(14);
  });

  it('housekeeping that stopped is heard while the other sweeps run: an alarm on its own heartbeat, missing data breaching', () => {
    // Housekeeping sweeps alone look for suspect leases and items without a shard or outside the
    // lease shards, and count StuckInstances, which every other sweep publishes as 0: with their
    // schedule disabled the minute sweeps kept SweeperNotRunning quiet and StuckInstances at OK,
    // and those items were never looked for.
    const p = alarm('housekeepingNotRunning');
    expect(p).toMatchObject({
      Metrics: [
        {
          MetricStat: {
            Metric: {
              Namespace: 'Tierlog',
              MetricName: SWEEP_METRICS.sweepDuration,
              Dimensions: expect.arrayContaining([
                { Name: 'service', Value: 'tierlog-sweeper' },
                { Name: 'housekeeping', Value: 'true' },
              ]),
            },
            Stat: 'SampleCount',
            Period: 300,
          },
        },
      ],
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    // Three housekeeping intervals (10 minutes by default), not the minute sweeps' 15 minutes.
    expect(p['EvaluationPeriods']).toBe(6);
    expect(p['DatapointsToAlarm']).toBe(6);
    expect(p['AlarmDescription']).toMatch(/Runbook: .*, HousekeepingNotRunning\.$/);
    const { stack: s, template: t } = tierlogTemplate({
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
    });
    const hourly = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.housekeepingNotRunning!)]!.Properties!;
    expect(hourly['EvaluationPeriods']).toBe(36);
  });

  it("with fan-out, one group's housekeeping that stopped is heard while the other groups' housekeeping and its own sweeps run: an alarm per group on its own housekeeping heartbeat", () => {
    // Each group's Housekeeping<i> schedule sends its shards: with one of them disabled, the other
    // groups' housekeeping kept HousekeepingNotRunning quiet and the group's minute sweeps its
    // SweeperGroupNotRunning<i>, and (group 0) nothing scanned for items outside the lease shards.
    const { stack: s, template: t } = tierlogTemplate({ sweeperParallelism: 3 });
    expect(s.tierlog.housekeepingGroupsNotRunning).toHaveLength(3);
    const all = resourcesOf(t, 'AWS::CloudWatch::Alarm');
    const inputs = Object.entries(resourcesOf(t, 'AWS::Scheduler::Schedule'))
      .filter(([id]) => /Housekeeping\d+[A-F0-9]{8}$/.test(id))
      .map(([, r]) => JSON.parse((r.Properties!['Target'] as { Input: string }).Input) as { shards: number[]; housekeeping: boolean });
    s.tierlog.housekeepingGroupsNotRunning.forEach((a, i) => {
      const p = all[logicalIdOf(s, a)]!.Properties!;
      const group = ['0,3', '1', '2'][i]!;
      expect(inputs.filter((input) => input.housekeeping && input.shards.join(',') === group)).toHaveLength(1);
      expect(p, a.node.id).toMatchObject({
        Metrics: [
          {
            MetricStat: {
              Metric: {
                Namespace: 'Tierlog',
                MetricName: SWEEP_METRICS.sweepDuration,
                Dimensions: expect.arrayContaining([
                  { Name: 'service', Value: 'tierlog-sweeper' },
                  { Name: 'shards', Value: group },
                  { Name: 'housekeeping', Value: 'true' },
                ]),
              },
              Stat: 'SampleCount',
              Period: 300,
            },
          },
        ],
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        EvaluationPeriods: 6,
        DatapointsToAlarm: 6,
      });
      expect(p['AlarmDescription']).toMatch(
        new RegExp(`fan-out group ${i} .*Housekeeping${i}\\).*Runbook: .*, HousekeepingGroupNotRunning\\.$`),
      );
    });
    expect(String(all[logicalIdOf(s, s.tierlog.housekeepingGroupsNotRunning[0]!)]!.Properties!['AlarmDescription'])).toMatch(
      /outside the lease shards \(this group holds shard 0\)/,
    );
    // Without fan-out, none: HousekeepingNotRunning is the one group's.
    expect(stack.tierlog.housekeepingGroupsNotRunning).toEqual([]);
  });

  it("the objects API's 5xx: Url5xxCount of its Function URL, 5 in five minutes (its errors are answers, never Lambda Errors)", () => {
    expect(alarm('objectsServerErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Url5xxCount',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(stack, stack.tierlog.objectsFunction!) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 5,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
  });

  it('blob deletes failing at every retry: EntriesFailed in 3 five-minute periods in a row (the default 1-minute retry)', () => {
    expect(alarm('entriesFailing')).toMatchObject({
      Metrics: sweeperMetric(SWEEP_METRICS.entriesFailed, 'Sum'),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
    });
    expect(alarm('entriesFailing')['AlarmDescription']).toContain('s3:DeleteObject');
  });

  it.each([
    { what: '5 minutes', retry: Duration.minutes(5), period: 600 },
    { what: '1 hour', retry: Duration.hours(1), period: 3900 },
  ])(
    'blob deletes failing: the period follows sweeperTuning.retryFailed ($what: each retry lands in every period)',
    ({ retry, period }) => {
      const { stack: s, template: t } = tierlogTemplate({ sweeperTuning: { retryFailed: retry } });
      const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.entriesFailing)]!;
      expect((a.Properties!['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period).toBe(period);
    },
  );

  // An entry whose deletes failed is found again when its claim (moved to the retry) ended by the
  // skew margin, by the next sweep: a period shorter than that leaves periods without a retry, and
  // three failing in a row never happen while the deletes fail at every one.
  it.each([
    {
      what: 'a sweep every 10 minutes',
      props: { sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(10)) },
      gapMs: 60_000 + 30_000 + 600_000,
    },
    { what: 'a 20 minute skew margin', props: { sweeperTuning: { skewMargin: Duration.minutes(20) } }, gapMs: 60_000 + 1_200_000 + 60_000 },
  ])('blob deletes failing: the period holds a retry whatever the schedule and skew margin ($what)', ({ props, gapMs }) => {
    const { stack: s, template: t } = tierlogTemplate(props);
    const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.entriesFailing)]!;
    expect((a.Properties!['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period * 1000).toBeGreaterThanOrEqual(
      gapMs,
    );
  });

  it('sweeper not running: no sweep finished (no SweepDuration data point) in three five-minute periods; missing data breaches', () => {
    expect(alarm('sweeperNotRunning')).toMatchObject({
      Metrics: sweeperMetric(SWEEP_METRICS.sweepDuration, 'SampleCount'),
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'breaching',
    });
  });

  it.each([
    { what: 'a sweep every 20 minutes (housekeeping every 10)', sweep: 'rate(20 minutes)', housekeeping: undefined, periods: 6 },
    { what: 'both hourly', sweep: 'rate(1 hour)', housekeeping: 'rate(1 hour)', periods: 36 },
    { what: 'both hourly cron', sweep: 'cron(0 * * * ? *)', housekeeping: 'cron(30 * * * ? *)', periods: 36 },
    { what: 'cron on weekdays only', sweep: 'cron(0 * ? * MON-FRI *)', housekeeping: 'cron(30 * ? * MON-FRI *)', periods: 288 },
  ])(
    'sweeper not running: its window follows the schedules ($what: three of the shortest interval, at most a day)',
    ({ sweep, housekeeping, periods }) => {
      const { stack: s, template: t } = tierlogTemplate({
        sweepSchedule: scheduler.ScheduleExpression.expression(sweep),
        ...(housekeeping ? { sweepHousekeepingSchedule: scheduler.ScheduleExpression.expression(housekeeping) } : {}),
      });
      const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.sweeperNotRunning)]!;
      expect(a.Properties).toMatchObject({ EvaluationPeriods: periods, DatapointsToAlarm: periods });
    },
  );

  it('sweeper not running, with sweeps of 15 minutes in one slot: silent longer than a sweep runs (its timeout and two periods), not 15 minutes', () => {
    // Under a backlog every sweep runs to its deadline and publishes when it ends: 15 minutes (and
    // a throttled event's retry) apart, which three empty five-minute periods would take for a
    // sweeper that stopped.
    const { stack: s, template: t } = tierlogTemplate({ sweeperTimeout: Duration.minutes(15), sweeperReservedConcurrency: 1 });
    const props = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.sweeperNotRunning)]!.Properties!;
    expect(props).toMatchObject({ EvaluationPeriods: 5, DatapointsToAlarm: 5 });
  });

  it('TierlogMonitoring used on its own: silence of 15 minutes by default; under 15 minutes or over 7 days refused', () => {
    // Under three periods the alarm fires between two routine sweeps; over 7 days CloudWatch cannot
    // evaluate it (and a sweeper stopped for a week goes unseen).
    const { stack: s } = userStack();
    const t = new Tierlog(s, 'Storage');
    const monitoring = (id: string, sweeperSilence?: Duration) => () =>
      new TierlogMonitoring(s, id, {
        metricsDeployment: t.metricsDeployment,
        sweeperFunction: t.sweeperFunction,
        deadLetterQueue: t.deadLetterQueue,
        objectsStream: t.objectsStream,
        ...(sweeperSilence !== undefined ? { sweeperSilence } : {}),
      });
    expect(monitoring('Short', Duration.minutes(10))).toThrow(/sweeperSilence must be between 15 minutes and 7 days, got 10 minutes/);
    expect(monitoring('Long', Duration.hours(169))).toThrow(/sweeperSilence must be between 15 minutes and 7 days, got 7 days 1 hour/);
    expect(monitoring('Lowest', Duration.minutes(15))).not.toThrow();
    expect(monitoring('Highest', Duration.days(7))).not.toThrow();
    const byDefault = monitoring('Default')();
    const notRunning = resourcesOf(Template.fromStack(s), 'AWS::CloudWatch::Alarm')[logicalIdOf(s, byDefault.alarms.sweeperNotRunning)]!;
    expect(notRunning.Properties).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3 });
  });

  // A sweep publishes when it ends: under a backlog, sweeps of 15 minutes in one slot publish 15
  // minutes (and a throttled event's retry) apart. A sweeperSilence given under the timeout and two
  // periods fired SweeperNotRunning on a sweeper running flat out, and synth said nothing (it
  // warned of a window under two sweep intervals only).
  it.each([
    ['15 minutes, the least taken', Duration.minutes(15), true],
    ['24 minutes', Duration.minutes(24), true],
    ['25 minutes (the timeout and two periods)', Duration.minutes(25), false],
    ["not given (the sweeper's own)", undefined, false],
  ])(
    'TierlogMonitoring on a sweeper of a 15-minute timeout, sweeperSilence %s: a synth warning that it fires on a running sweeper: %s',
    (_what, sweeperSilence, warned) => {
      const { stack: s } = userStack();
      const t = new Tierlog(s, 'Storage', { sweeperTimeout: Duration.minutes(15), sweeperReservedConcurrency: 1 });
      new TierlogMonitoring(s, 'Own', {
        metricsDeployment: t.metricsDeployment,
        sweeperFunction: t.sweeperFunction,
        deadLetterQueue: t.deadLetterQueue,
        objectsStream: t.objectsStream,
        ...(sweeperSilence !== undefined ? { sweeperSilence } : {}),
      });
      const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('whose timeout is 15 minutes'));
      expect(warnings.length > 0).toBe(warned);
      if (warned) expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(/at least 25 minutes/);
    },
  );

  it("TierlogMonitoring used on its own on a TierlogSweeper's function: its windows follow that sweeper's schedules, timeout and tuning, as the construct's do", () => {
    // Left at their fixed defaults (15 minutes of silence, a one-minute sweep, a 30 s skew margin),
    // the not-running alarm stayed up between sweeps 30 minutes apart, the errors alarm never saw
    // a sweeper failing every sweep, and the age alarm fired on every writer that ended.
    const { stack: s } = userStack();
    const t = new Tierlog(s, 'Storage', {
      sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      sweeperTimeout: Duration.minutes(15),
      sweeperTuning: {
        skewMargin: Duration.minutes(20),
        quarantineRecheck: Duration.hours(3),
        retryFailed: Duration.minutes(30),
        shardlessScan: { segments: 16, maxPages: 2 },
      },
    });
    const own = monitoringOfParts(s, t);
    const all = resourcesOf(Template.fromStack(s), 'AWS::CloudWatch::Alarm');
    const windowOf = (a: cloudwatch.Alarm) => {
      const p = all[logicalIdOf(s, a)]!.Properties!;
      return { periods: p['EvaluationPeriods'], datapoints: p['DatapointsToAlarm'], period: p['Period'], threshold: p['Threshold'] };
    };
    for (const name of [
      'sweeperErrors',
      'sweeperNotRunning',
      'oldestExpiredAge',
      'entriesQuarantined',
      'entriesFailing',
      'stuckInstances',
    ] as const) {
      expect(windowOf(own.alarms[name]), name).toEqual(windowOf(t.alarms[name]));
    }
    expect(windowOf(own.alarms.sweeperNotRunning).periods).toBe(18);
  });

  // The sweeper refuses a recheck above 12 hours and a retry above 1 hour at init: a TierlogMonitoring
  // on its own given one sized its alarms for a sweeper that never runs so, and said nothing.
  it.each([
    ['quarantineRecheck', Duration.hours(13), /quarantineRecheck must be at most 12 hours.*got 13 hours/],
    ['retryFailed', Duration.minutes(61), /retryFailed must be at most 1 hour.*got 1 hour 1 minute/],
  ] as const)("TierlogMonitoring on its own refuses a %s above the sweeper's ceiling", (name, value, error) => {
    const { stack: s } = userStack();
    const t = new Tierlog(s, 'Storage', {});
    const own = (given: Duration) => () =>
      new TierlogMonitoring(s, `Own${name}${given.toMilliseconds()}`, {
        metricsDeployment: t.metricsDeployment,
        sweeperFunction: t.sweeperFunction,
        deadLetterQueue: t.deadLetterQueue,
        objectsStream: t.objectsStream,
        [name]: given,
      });
    expect(own(value)).toThrow(error);
    // At the ceiling, taken.
    expect(own(name === 'quarantineRecheck' ? Duration.hours(12) : Duration.hours(1))).not.toThrow();
  });

  it("with sweeps on some days only, the routine age is the housekeeping schedule's, for the construct and a TierlogMonitoring on its sweeper", () => {
    expect(routineExpiredAgeOf(undefined, ['cron(* * ? * MON-FRI *)'], ['rate(30 minutes)']).toMinutes()).toBe(31);
    expect(routineExpiredAgeOf(undefined, ['rate(5 minutes)'], ['rate(30 minutes)']).toMinutes()).toBe(6);
    const { stack: s } = userStack();
    const t = new Tierlog(s, 'Storage', {
      sweepSchedule: scheduler.ScheduleExpression.expression('cron(* * ? * MON-FRI *)'),
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
    });
    const own = monitoringOfParts(s, t);
    const all = resourcesOf(Template.fromStack(s), 'AWS::CloudWatch::Alarm');
    for (const a of [t.alarms.oldestExpiredAge, own.alarms.oldestExpiredAge]) {
      expect(all[logicalIdOf(s, a)]!.Properties!['Threshold']).toBe((31 + 13) * 60_000);
    }
  });

  it('sweeperSilenceOf reads rate expressions only', () => {
    expect(sweeperSilenceOf(['rate(1 minute)', 'rate(10 minutes)']).toMinutes()).toBe(15);
    // Three intervals, at most the 7 days an alarm of hourly periods looks back.
    expect(sweeperSilenceOf(['rate(1 day)']).toHours()).toBe(72);
    expect(sweeperSilenceOf(['rate(2 days)']).toHours()).toBe(144);
    expect(sweeperSilenceOf(['rate(7 days)']).toHours()).toBe(168);
    expect(sweeperSilenceOf(['at(2030-01-01T00:00:00)']).toHours()).toBe(24);
    // A sweep runs up to its timeout before it publishes: at least that and two periods.
    expect(sweeperSilenceOf(['rate(1 minute)'], Duration.minutes(5)).toMinutes()).toBe(15);
    expect(sweeperSilenceOf(['rate(1 minute)'], Duration.minutes(15)).toMinutes()).toBe(25);
    expect(sweeperSilenceOf(['rate(30 minutes)'], Duration.minutes(15)).toMinutes()).toBe(90);
  });

  it('sweeper errors: Lambda Errors of the sweeper in 2 of 3 five-minute periods', () => {
    expect(alarm('sweeperErrors')).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(stack, stack.tierlog.sweeperFunction) } }],
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
  });

  // Every sweep of a sweeper that fails each time fails in its own period: with sweeps 15 minutes
  // apart, 5 minute periods hold one error in three, and 2 of 3 never breach.
  it('sweeper errors: a sweeper failing every sweep breaches 2 of 3 periods, whatever the schedules', () => {
    const { stack: s, template: t } = tierlogTemplate({
      sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(15)),
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(15)),
    });
    const p = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.sweeperErrors)]!.Properties!;
    expect(p).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 2 });
    expect(p['Period'] as number).toBeGreaterThanOrEqual(15 * 60);
    // The default, a sweep a minute: five-minute periods, as ever.
    expect(alarm('sweeperErrors')['Period']).toBe(300);
  });

  // A cron schedule's interval was not read: taken for a minute, so an hourly cron sweeper failing
  // every sweep had one error in twelve five-minute periods (2 of 3 never breached), blob deletes
  // failing at every hourly retry never filled 3 periods in a row, and every dead writer found up
  // to an hour after its lease raised the 15-minute age alarm.
  it('a cron schedule is read as a rate is (its longest gap in a day): the alarms follow an hourly cron sweeper', () => {
    const hourly = scheduler.ScheduleExpression.cron({ minute: '7' });
    const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: hourly, sweepHousekeepingSchedule: hourly });
    const props = (name: keyof typeof s.tierlog.alarms) =>
      resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms[name]!)]!.Properties!;
    const period = (p: Record<string, unknown>) =>
      (p['Period'] as number | undefined) ?? (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period;
    expect(period(props('sweeperErrors'))).toBeGreaterThanOrEqual(61 * 60);
    expect(period(props('entriesFailing'))).toBeGreaterThanOrEqual(61 * 60);
    expect(props('oldestExpiredAge')['Threshold']).toBe((61 + 13) * 60_000);
    // Three missed hourly sweeps, not a day.
    expect(props('sweeperNotRunning')['EvaluationPeriods']).toBe(36);
  });

  // The periods stop at 8 hours (three are the day an alarm can evaluate): with sweeps further
  // apart than that, a sweeper failing at every sweep (or deletes failing at every retry) left
  // fewer periods with data than the alarm wanted, and it never fired (a daily sweep: one error a
  // day, never 2 of 3 periods).
  it.each([
    ['a minute', 'rate(1 minute)'],
    ['15 minutes', 'rate(15 minutes)'],
    ['6 hours', 'rate(6 hours)'],
    ['12 hours', 'rate(12 hours)'],
    ['a day', 'rate(1 day)'],
    ['a day (cron)', 'cron(0 6 * * ? *)'],
  ])('sweeps %s apart failing at every sweep breach the errors and failing-deletes alarms', (_what, expression) => {
    const schedule = scheduler.ScheduleExpression.expression(expression);
    const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
    const props = (name: keyof typeof s.tierlog.alarms) =>
      resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms[name]!)]!.Properties!;
    // A sweep fails once an interval; a retry of failing deletes (1 minute, and the 30 s skew
    // margin) comes due before the next sweep, which fails it again: one failure an interval too.
    const intervalMs = sweepIntervalOf([expression])!.toMilliseconds();
    for (const name of ['sweeperErrors', 'entriesFailing'] as const) {
      const p = props(name);
      const periodMs =
        ((p['Period'] as number | undefined) ?? (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period) * 1000;
      const periods = p['EvaluationPeriods'] as number;
      // Three periods of their own, or hourly ones past a day (at most 7 days of them).
      expect(periods === 3 || (periodMs === 3_600_000 && periods <= 168), name).toBe(true);
      // The most periods with a failure that the window can hold.
      const most = Math.min(3, Math.ceil((periods * periodMs) / intervalMs));
      expect(p['DatapointsToAlarm'], name).toBeGreaterThanOrEqual(1);
      expect(p['DatapointsToAlarm'] as number, name).toBeLessThanOrEqual(most);
    }
  });

  // Three periods of 8 hours hold one or two sweeps 13 to 23 hours apart: wanting a failure in 2 of
  // 3 (as many as they hold at most, not at least), the alarms went OK at each window holding one
  // and paged again at the next, every 16 hours, for a sweeper failing every sweep. Sweeps a day
  // apart (a daily cron, `rate(1 day)`), a minute late once, left three periods of 8 hours without
  // one, and sweeps two or three days apart a day or two of them between each two: the alarms went
  // OK between two sweeps and paged again at each. Past 8 hours the periods are hourly, over three
  // sweeps (at most 7 days), wanting as many failures as such a window holds.
  it.each([
    ['12 hours', 'rate(12 hours)', 12],
    ['16 hours', 'rate(16 hours)', 16],
    ['18 hours', 'rate(18 hours)', 18],
    ['20 hours', 'rate(20 hours)', 20],
    ['a day', 'rate(1 day)', 24],
    ['a day (cron)', 'cron(0 6 * * ? *)', 24],
    ['two days', 'rate(2 days)', 48],
    ['three days', 'rate(3 days)', 72],
    ['four days', 'rate(4 days)', 96],
    ['six days', 'rate(6 days)', 144],
  ])('sweeps %s apart failing at every sweep keep the errors and failing-deletes alarms up once they fire', (_what, expression, hours) => {
    const schedule = scheduler.ScheduleExpression.expression(expression);
    const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
    const gapMs = hours * 3_600_000;
    for (const name of ['sweeperErrors', 'entriesFailing'] as const) {
      const p = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms[name])]!.Properties!;
      const periodMs =
        ((p['Period'] as number | undefined) ?? (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period) * 1000;
      const periods = p['EvaluationPeriods'] as number;
      const wanted = p['DatapointsToAlarm'] as number;
      expect(periods * periodMs, name).toBeLessThanOrEqual(periodMs >= 3_600_000 ? 7 * 86_400_000 : 86_400_000);
      // A failure at each sweep (a retry comes due before the next), up to a minute late (its run),
      // at any phase of the periods; every window from the first on is judged.
      for (const phaseMs of [0, periodMs / 3, periodMs / 2, periodMs - 30_000]) {
        for (const late of [() => 0, (k: number) => (k % 2) * 60_000, (k: number) => (k >= 2 ? 60_000 : 0)]) {
          const failed = new Set<number>();
          for (let k = 0; k < 30; k++) failed.add(Math.floor((phaseMs + k * gapMs + late(k)) / periodMs));
          const first = Math.min(...failed);
          const last = Math.max(...failed);
          for (let end = first + periods - 1; end <= last; end++) {
            let held = 0;
            for (let i = end - periods + 1; i <= end; i++) if (failed.has(i)) held++;
            expect(held, `${name}: periods ${end - periods + 1}..${end} (phase ${phaseMs} ms)`).toBeGreaterThanOrEqual(wanted);
          }
        }
      }
    }
    expect(Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('tierlog:failureAlarmsFlap'))).toHaveLength(0);
  });

  // Crons of weekdays only are not read: taken for a sweep a minute, a sweeper failing at every
  // sweep (hourly or daily, on weekdays) had one error an hour or a day, which 2 of 3 five-minute
  // periods (3 in a row for failing deletes) never held, and quarantined entries counted at each
  // daily sweep left the quarantine alarm's window of about an hour: it went OK till the next day.
  it.each([
    ['hourly on weekdays', 'cron(0 * ? * MON-FRI *)', (d: number, h: number) => d < 5 || h < 0],
    ['daily on weekdays', 'cron(0 6 ? * MON-FRI *)', (d: number, h: number) => d < 5 && h === 6],
  ])(
    'sweeps %s failing at every sweep raise the errors, failing-deletes and quarantine alarms and keep them up',
    (_what, expression, runs) => {
      const schedule = scheduler.ScheduleExpression.expression(expression);
      const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
      const hourMs = 3_600_000;
      // Four weeks of runs from a Monday, each a minute late at times (its run).
      const failures: number[] = [];
      for (let hour = 0; hour < 4 * 7 * 24; hour++) {
        if (runs(Math.floor(hour / 24) % 7, hour % 24)) failures.push(hour * hourMs + (hour % 3 === 0 ? 60_000 : 0));
      }
      for (const name of ['sweeperErrors', 'entriesFailing', 'entriesQuarantined'] as const) {
        const p = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms[name])]!.Properties!;
        const periodMs =
          ((p['Period'] as number | undefined) ?? (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period) * 1000;
        const periods = p['EvaluationPeriods'] as number;
        const wanted = p['DatapointsToAlarm'] as number;
        expect(periods * periodMs, name).toBeLessThanOrEqual(periodMs >= hourMs ? 7 * 86_400_000 : 86_400_000);
        const failed = new Set(failures.map((at) => Math.floor(at / periodMs)));
        const first = Math.min(...failed);
        const last = Math.max(...failed);
        for (let end = first + periods - 1; end <= last; end++) {
          let held = 0;
          for (let i = end - periods + 1; i <= end; i++) if (failed.has(i)) held++;
          expect(held, `${name}: periods ${end - periods + 1}..${end}`).toBeGreaterThanOrEqual(wanted);
        }
      }
    },
  );

  // The age alarm's threshold takes such schedules for a sweep a minute (15 minutes): every dead
  // writer found after a night or a weekend without a sweep fires it, and the synth warning on
  // those schedules named SweeperNotRunning alone.
  it('sweeps on weekdays only (not read): the synth warning says OldestExpiredAge fires on every dead writer found after a day without a sweep', () => {
    const schedule = scheduler.ScheduleExpression.expression('cron(0 6 ? * MON-FRI *)');
    const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
    expect(resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.oldestExpiredAge)]!.Properties!['Threshold']).toBe(
      15 * 60_000,
    );
    const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('no sweep schedule.s interval is read'));
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toContain('OldestExpiredAge fires when an expired instance waits more than 15 minutes');
  });

  // A week apart, no window CloudWatch evaluates (7 days at most) holds a failure (or a count of
  // quarantined entries) at all times: the quarantine alarm went OK between two weekly counts unsaid.
  it('sweeps a week apart: the errors, failing-deletes and quarantine alarms cannot hold a failure from one to the next, a warning at synth', () => {
    const schedule = scheduler.ScheduleExpression.rate(Duration.days(7));
    const { stack: s } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
    const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('tierlog:failureAlarmsFlap'));
    expect(warnings.map((w) => JSON.stringify(w.entry.data).match(/^"(\w+) watches/)?.[1])).toEqual([
      'SweeperErrors',
      'EntriesFailing',
      'EntriesQuarantined',
    ]);
    expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(/more often than every 7 days/);
  });

  // A cron of one day a week is not read either, and was taken for sweeps 3 days apart: the errors
  // and failing-deletes alarms wanted failures in 2 of 168 hourly periods, which one failure a week
  // never gives (two are 168 periods apart): a sweeper failing every sweep raised neither, and no
  // warning said so. Read as a week, they fire at each failure, with the warning of sweeps a week apart.
  // A cron of the first of the month was not read either (3 days, 2 failures wanted in 7 days).
  it.each([
    ['one day a week', { minute: '0', hour: '6', weekDay: 'MON' }, [0, 7, 14, 21], '7 days'],
    ['the first of the month', { minute: '0', hour: '6', day: '1' }, [0, 31, 59, 90], '31 days'],
    // Days not read (`L`, `#`): taken for 3 days as an `at(...)` is, the same alarms never fired;
    // taken for 7 days, they fire at each failure.
    ['the last day of the month (L, not read)', { minute: '0', hour: '6', day: 'L' }, [30, 58, 89, 119], '7 days'],
    ['the first Monday of the month (MON#1, not read)', { minute: '0', hour: '6', weekDay: 'MON#1' }, [0, 35, 63, 91], '7 days'],
  ])(
    'sweeps on a cron of %s failing at every sweep raise the errors and failing-deletes alarms, a warning at synth',
    (_what, cron, days, gap) => {
      const schedule = scheduler.ScheduleExpression.cron(cron);
      const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
      const hourMs = 3_600_000;
      // Four runs, each a minute late at times (its run).
      const failures = days.map((day, k) => (day * 24 + 6) * hourMs + (k % 2 === 0 ? 60_000 : 0));
      for (const name of ['sweeperErrors', 'entriesFailing'] as const) {
        const p = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms[name])]!.Properties!;
        const periodMs =
          ((p['Period'] as number | undefined) ?? (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period) * 1000;
        const periods = p['EvaluationPeriods'] as number;
        const wanted = p['DatapointsToAlarm'] as number;
        const failed = new Set(failures.map((at) => Math.floor(at / periodMs)));
        // The window that ends at each failure's period holds what the alarm wants.
        for (const end of failed) {
          let held = 0;
          for (let i = end - periods + 1; i <= end; i++) if (failed.has(i)) held++;
          expect(held, `${name}: periods ${end - periods + 1}..${end}`).toBeGreaterThanOrEqual(wanted);
        }
      }
      const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('tierlog:failureAlarmsFlap'));
      expect(warnings.map((w) => JSON.stringify(w.entry.data).match(/^"(\w+) watches/)?.[1])).toEqual([
        'SweeperErrors',
        'EntriesFailing',
        'EntriesQuarantined',
      ]);
      const unread = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('no sweep schedule.s interval is read'));
      expect(JSON.stringify(unread[0]!.entry.data)).toContain(`take sweeps up to ${gap} apart`);
    },
  );

  // The not-running alarm's window stops at 7 days (in hourly periods past a day): with sweeps
  // further apart than 3 days 12 hours it holds one sweep at times, and one that publishes late
  // leaves it empty (a false alarm on a running sweeper). The schedule is the user's choice: a
  // warning at synth says so, and what to do.
  it.each([
    ['a minute', 'rate(1 minute)', false],
    ['6 hours', 'rate(6 hours)', false],
    ['12 hours', 'rate(12 hours)', false],
    ['a day', 'rate(1 day)', false],
    ['a day (cron)', 'cron(0 6 * * ? *)', false],
    ['three days', 'rate(3 days)', false],
    ['four days', 'rate(4 days)', true],
    ['a week', 'rate(7 days)', true],
    ['an hour on weekdays (not read: a day assumed)', 'cron(0 * ? * MON-FRI *)', true],
  ])('sweeps %s apart: a synth warning that SweeperNotRunning cannot watch them: %s', (_what, expression, warned) => {
    const schedule = scheduler.ScheduleExpression.expression(expression);
    const { stack: s } = tierlogTemplate({ sweepSchedule: schedule, sweepHousekeepingSchedule: schedule });
    const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('SweeperNotRunning looks back'));
    expect(warnings.length > 0, expression).toBe(warned);
    if (warned) expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(/every 3 days 12 hours|a schedule of every day/);
  });

  // Housekeeping sweeps alone count stuck instances: on a schedule of some days only (not read: a
  // day's window), StuckInstances went OK on the days without one while the items stayed stuck,
  // and fired again after; the sweeps, read, kept the not-running warning quiet.
  it.each([
    ['every 10 minutes', 'rate(10 minutes)', false],
    ['every 10 minutes on weekdays (not read)', 'cron(0/10 * ? * MON-FRI *)', true],
  ])('housekeeping %s: a synth warning that StuckInstances cannot watch it: %s', (_what, expression, warned) => {
    const { stack: s } = tierlogTemplate({ sweepHousekeepingSchedule: scheduler.ScheduleExpression.expression(expression) });
    const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('StuckInstances looks back'));
    expect(warnings.length > 0, expression).toBe(warned);
    // The housekeeping heartbeat's alarm looks back a day then too: it fires on such a day.
    if (warned)
      expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(/HousekeepingNotRunning \(which looks back a day then\) fires on such a day/);
  });

  it.each([
    ['cron(*/5 * * * ? *)', 5 * 60_000],
    ['cron(0/20 * * * ? *)', 20 * 60_000],
    ['cron(7 * * * ? *)', 3_600_000],
    ['cron(0 8,20 * * ? *)', 12 * 3_600_000],
    ['cron(0 6 * * ? *)', 24 * 3_600_000],
    ['cron(0 9-17 * * ? *)', 16 * 3_600_000],
  ])('sweepIntervalOf(%s): the longest gap between two runs', (expression, ms) => {
    expect(sweepIntervalOf([expression])?.toMilliseconds()).toBe(ms);
  });

  it('sweepIntervalOf: a cron expression that does not run every day, or an at expression, is not read', () => {
    expect(sweepIntervalOf(['cron(0 * ? * MON-FRI *)'])).toBeUndefined();
    expect(sweepIntervalOf(['cron(0 * 1 * ? *)'])).toBeUndefined();
    expect(sweepIntervalOf(['at(2030-01-01T00:00:00)'])).toBeUndefined();
  });

  it('dead-letter queue not empty', () => {
    expect(alarm('deadLetterQueueNotEmpty')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(stack, stack.tierlog.deadLetterQueue), 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  it('oldest expired instance older than 15 minutes (the sweeper EMF metric); a period without a sweep neither raises nor clears it', () => {
    // Every sweep publishes the age (0 when it found none): the periods between two sweeps (sweeps
    // 30 minutes apart, say) have no data. Breaching would raise the alarm in each; "missing" took
    // the alarm out of ALARM into INSUFFICIENT_DATA there while the backlog stayed, and raised it
    // (and paged) again at each sweep. Ignored, the last sweep's verdict stands until the next.
    for (const [what, p] of [
      ['the default schedule', alarm('oldestExpiredAge')],
      [
        'sweeps 30 minutes apart',
        (() => {
          const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)) });
          return resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.oldestExpiredAge)]!.Properties!;
        })(),
      ],
    ] as const) {
      expect(p, what).toMatchObject({
        Metrics: sweeperMetric(SWEEP_METRICS.oldestExpiredAge, 'Maximum'),
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'ignore',
      });
    }
    expect(alarm('oldestExpiredAge')['Threshold']).toBe(15 * 60_000);
  });

  it('the age threshold is a prop', () => {
    const { stack: s, template: t } = tierlogTemplate({ oldestExpiredAgeThreshold: Duration.hours(1) });
    const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.oldestExpiredAge)]!;
    expect(a.Properties!['Threshold']).toBe(3_600_000);
  });

  // A dead writer's instance is found a skew margin after its lease ended, by a sweep up to one
  // schedule interval later: every instance a sweep finds is up to that old, routinely.
  it.each([
    ['sweeperTuning.skewMargin 20 min', { sweeperTuning: { skewMargin: Duration.minutes(20) } }, 21 * 60_000],
    [
      'sweepSchedule and housekeeping every 30 min',
      {
        sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
        sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
      },
      31 * 60_000,
    ],
    // A housekeeping sweep takes expired instances as a sweep does: with sweeps hourly and
    // housekeeping every 10 minutes (the default), a dead writer's instance is found within 10
    // minutes and the skew margin. Taken for the hourly sweep's 61, a backlog went unseen for an
    // hour more, and a threshold of 20 minutes was refused.
    [
      'sweepSchedule every 60 min (housekeeping every 10)',
      { sweepSchedule: scheduler.ScheduleExpression.rate(Duration.hours(1)) },
      11 * 60_000,
    ],
    // Sweeps on weekdays only (not read): on a weekend only the housekeeping sweeps (which sweep
    // expired instances too) find them, up to its interval later. Taken for a sweep a minute, the
    // alarm fired on every dead writer of the weekend.
    [
      'a weekday sweep cron and housekeeping every 30 min',
      {
        sweepSchedule: scheduler.ScheduleExpression.expression('cron(* * ? * MON-FRI *)'),
        sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
      },
      31 * 60_000,
    ],
  ] as const)('with %s, the default age threshold stays above what every instance a sweep finds is', (_what, props, routineMs) => {
    const { stack: s, template: t } = tierlogTemplate(props);
    const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.oldestExpiredAge)]!;
    // The slack of the defaults (15 minutes over 2), over the routine age.
    expect(a.Properties!['Threshold']).toBe(routineMs + 13 * 60_000);
  });

  it('refuses an age threshold below the skew margin and a sweep interval: the alarm would fire on every dead writer', () => {
    expect(() =>
      tierlogTemplate({ sweeperTuning: { skewMargin: Duration.minutes(20) }, oldestExpiredAgeThreshold: Duration.minutes(15) }),
    ).toThrow(/oldestExpiredAgeThreshold must be at least 21 minutes, got 15 minutes/);
    expect(() =>
      tierlogTemplate({
        sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(10)),
        oldestExpiredAgeThreshold: Duration.minutes(5),
      }),
    ).toThrow(/oldestExpiredAgeThreshold must be at least 11 minutes/);
    expect(routineExpiredAgeOf(undefined, ['rate(1 hour)'], ['rate(10 minutes)']).toMinutes()).toBe(11);
    const { stack: s, template: t } = tierlogTemplate({
      sweepSchedule: scheduler.ScheduleExpression.rate(Duration.hours(1)),
      oldestExpiredAgeThreshold: Duration.minutes(20),
    });
    expect(resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.oldestExpiredAge)]!.Properties!['Threshold']).toBe(
      20 * 60_000,
    );
  });

  it('any quarantined entry, held over a window of the hourly recheck and 15 minutes', () => {
    const p = alarm('entriesQuarantined');
    expect(p).toMatchObject({
      Metrics: sweeperMetric(SWEEP_METRICS.entriesQuarantined, 'Sum'),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      DatapointsToAlarm: 1,
    });
    // The recount comes a recheck after the last one, from a sweep up to a minute later that
    // publishes when it ends (up to its 5 minute timeout): a window of the recheck alone, or a
    // few minutes more, empties between two counts, and the alarm flaps to OK while the entries stay.
    expect((p['EvaluationPeriods'] as number) * 300).toBeGreaterThanOrEqual(3600 + 15 * 60);
  });

  it('the README says what the quarantine alarm does: it stays up between rechecks, no new notification at each', () => {
    // Its window outlasts the gap between two counts (above), so it stays in ALARM, and CloudWatch
    // notifies on a change of state only: the README said it "fires again at each recheck", and an
    // operator waited for a page each hour that never came (or took the quiet for the entry gone).
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).not.toMatch(/EntriesQuarantined` fires again|alarm fires each recheck/);
    const row = readme.split('\n').find((line) => line.startsWith('| `EntriesQuarantined`'))!;
    expect(row).toMatch(/the alarm stays up until you do \(each recheck counts it again within the alarm's window: no new notification\)/);
    expect(readme).toMatch(
      /`EntriesQuarantined` too \(each recheck counts the entries again within its window, so\s+it stays up with no new notification/,
    );
  });

  // A quarantined entry is counted again when its claim (moved to the recheck) ended by the skew
  // margin, by the next sweep, which publishes when it ends: a window shorter than that empties
  // between two counts.
  it.each([
    {
      what: 'sweeps every 30 minutes',
      props: {
        sweepSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
        sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(30)),
      },
      gapMs: 3_600_000 + 30_000 + 1_800_000,
    },
    {
      what: 'a 20 minute skew margin',
      props: { sweeperTuning: { skewMargin: Duration.minutes(20) } },
      gapMs: 3_600_000 + 1_200_000 + 60_000,
    },
  ])('quarantined: the window outlasts the recheck, the skew margin, a sweep interval and its run ($what)', ({ props, gapMs }) => {
    const { stack: s, template: t } = tierlogTemplate(props);
    const q = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.entriesQuarantined)]!.Properties!;
    expect((q['EvaluationPeriods'] as number) * 300_000).toBeGreaterThanOrEqual(gapMs + 5 * 60_000);
  });

  it('any stuck instance (suspect lease, item without shard), held over an hour', () => {
    const p = alarm('stuckInstances');
    expect(p).toMatchObject({
      Metrics: sweeperMetric(SWEEP_METRICS.stuckInstances, 'Sum'),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
    });
    expect((p['EvaluationPeriods'] as number) * 300).toBeGreaterThanOrEqual(3600);
  });

  // An item without a shard is counted only by the housekeeping sweep that reads its segment, one
  // of `segments` picked at random each time: the gap between two counts of it is geometric. A
  // window a given gap outlasts more often than once in a thousand lets the alarm drop to OK (and
  // page again) while the item stays stuck.
  const housekeepingSweepsIn = (p: Record<string, unknown>, everyMinutes: number) =>
    Math.floor(((p['EvaluationPeriods'] as number) * 300 - 15 * 60) / (everyMinutes * 60));
  it('stuck: an item without a shard, counted only when its random scan segment comes round, keeps the alarm on', () => {
    const p = alarm('stuckInstances');
    expect((7 / 8) ** housekeepingSweepsIn(p, 10)).toBeLessThan(0.001);
    const { stack: s, template: t } = tierlogTemplate({
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.minutes(15)),
      sweeperTuning: { shardlessScan: { segments: 12, maxPages: 4 } },
    });
    const q = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.stuckInstances)]!.Properties!;
    expect((11 / 12) ** housekeepingSweepsIn(q, 15)).toBeLessThan(0.001);
  });

  it('stuck: past a day the window is in hourly periods (the sweeps a segment needs, at most 7 days); a day on a cron housekeeping schedule of some days', () => {
    for (const [props, period, periods] of [
      // 688 housekeeping sweeps 10 minutes apart and a sweep's lag: 115 hours.
      [{ sweeperTuning: { shardlessScan: { segments: 100, maxPages: 4 } } }, 3600, 115],
      // 52 hourly ones and the lag: 53 hours (a day cut it to two chances in three of seeing an item).
      [{ sweepHousekeepingSchedule: scheduler.ScheduleExpression.cron({ minute: '7' }) }, 3600, 53],
      [{ sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.days(1)) }, 3600, 168],
      [{ sweepHousekeepingSchedule: scheduler.ScheduleExpression.expression('cron(0/10 * ? * MON-FRI *)') }, 300, 288],
    ] as const) {
      const { stack: s, template: t } = tierlogTemplate(props);
      const q = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.stuckInstances)]!.Properties!;
      expect(q['Period'] ?? (q['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period).toBe(period);
      expect(q['EvaluationPeriods']).toBe(periods);
    }
  });

  // An item without a shard is counted only by the housekeeping sweep that scans its segment (one
  // of 8 at random): the window stops at 7 days, which holds 6 daily housekeeping sweeps, and the
  // item goes unread in all of them 45% of the time: the alarm went OK while it stayed stuck and
  // paged again at its next count, with nothing at synth to say so.
  it.each([
    [
      'a day',
      { sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.days(1)) },
      '6 housekeeping sweeps 1 day apart',
      '45%',
    ],
    [
      '4 hours',
      { sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.hours(4)) },
      '41 housekeeping sweeps 4 hours apart',
      '0.42%',
    ],
    [
      '2 hours (100 segments)',
      {
        sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.hours(2)),
        sweeperTuning: { shardlessScan: { segments: 100, maxPages: 4 } },
      },
      '83 housekeeping sweeps 2 hours apart',
      '43%',
    ],
  ] as const)(
    'housekeeping %s apart: StuckInstances cannot hold an item without a shard from one count to the next, a warning at synth',
    (_what, props, held, odds) => {
      const { stack: s } = tierlogTemplate(props);
      const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('StuckInstances looks back 7 days'));
      expect(warnings).toHaveLength(1);
      const text = JSON.stringify(warnings[0]!.entry.data);
      expect(text).toContain(held);
      expect(text).toContain(`uncounted through the window ${odds} of the time`);
      expect(text).toMatch(/at least every \d/);
    },
  );

  it.each([
    ['the defaults', {}],
    ['3 hours', { sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.hours(3)) }],
    [
      'a day, no scan',
      { sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.days(1)), sweeperTuning: { shardlessScan: false } },
    ],
  ] as const)('housekeeping of %s: StuckInstances holds an item without a shard, no warning', (_what, props) => {
    const { stack: s } = tierlogTemplate(props);
    expect(Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('StuckInstances looks back'))).toHaveLength(0);
  });

  // The windows of the alarms held by any count in them stopped at a day of five-minute periods:
  // with sweeps and housekeeping a day apart, quarantined entries (counted at each daily sweep)
  // and a suspect lease (counted at each daily housekeeping sweep) left the window a day after
  // their count, before the next one published, and the alarms went OK and paged again each day
  // while the entries stayed quarantined and the lease suspect. Past a day, hourly periods.
  it('sweeps and housekeeping a day apart: EntriesQuarantined and StuckInstances hold from one daily count to the next', () => {
    const daily = scheduler.ScheduleExpression.expression('cron(0 3 * * ? *)');
    const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: daily, sweepHousekeepingSchedule: daily });
    const windowMs = (a: cloudwatch.Alarm) => {
      const p = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, a)]!.Properties!;
      const period =
        (p['Period'] as number | undefined) ?? (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period;
      expect(p['DatapointsToAlarm'], a.node.id).toBe(1);
      expect(period * (p['EvaluationPeriods'] as number), a.node.id).toBeLessThanOrEqual(period >= 3600 ? 7 * 86_400 : 86_400);
      return period * (p['EvaluationPeriods'] as number) * 1000;
    };
    // The next count: a day later (the recheck, an hour, comes due before it), and its run.
    const gapMs = 86_400_000 + 15 * 60_000;
    expect(windowMs(s.tierlog.alarms.entriesQuarantined)).toBeGreaterThan(gapMs);
    expect(windowMs(s.tierlog.alarms.stuckInstances)).toBeGreaterThan(gapMs);
  });

  it('stuck: without the scan (suspect leases only, found by every housekeeping sweep), an hour', () => {
    const { stack: s, template: t } = tierlogTemplate({ sweeperTuning: { shardlessScan: false } });
    const q = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.stuckInstances)]!.Properties!;
    expect(q['EvaluationPeriods']).toBe(12);
  });

  it("any failed listing or abort of dead writers' multipart uploads (parts left to the lifecycle rule)", () => {
    expect(alarm('abandonedUploadErrors')).toMatchObject({
      Metrics: sweeperMetric(SWEEP_METRICS.abandonedUploadErrors, 'Sum'),
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
    expect(alarm('abandonedUploadErrors')['AlarmDescription']).toContain('s3:ListBucketMultipartUploads');
  });

  it('alarmActions go on every alarm, for ALARM and OK', () => {
    const action: cloudwatch.IAlarmAction = { bind: () => ({ alarmActionArn: 'arn:aws:sns:us-east-1:111111111111:ops' }) };
    const { template: t } = tierlogTemplate({ alarmActions: [action] });
    for (const a of Object.values(resourcesOf(t, 'AWS::CloudWatch::Alarm'))) {
      expect(a.Properties).toMatchObject({
        AlarmActions: ['arn:aws:sns:us-east-1:111111111111:ops'],
        OKActions: ['arn:aws:sns:us-east-1:111111111111:ops'],
      });
    }
  });
});

/**
 * The not-running alarms looked back in five-minute periods, so at most a day (what CloudWatch
 * evaluates in periods under an hour): housekeeping a day apart (a daily `cron`, `rate(1 day)`) had a
 * window of one run, and `HousekeepingNotRunning` fired each day a run published late, on a sweeper
 * that was running; runs two days apart left it empty every other day. Past a day they look back in
 * hourly periods (7 days of them can be evaluated): three intervals, or two within 7 days.
 */
describe('not-running alarms of schedules a day or more apart: hourly periods, up to 7 days', () => {
  const windowOf = (t: Template, s: { node: { path: string } } & Parameters<typeof logicalIdOf>[0], a: cloudwatch.Alarm) => {
    const p = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, a)]!.Properties!;
    const period = (p['Metrics'] as Array<{ MetricStat: { Period: number } }>)[0]!.MetricStat.Period;
    expect(p['DatapointsToAlarm'], a.node.id).toBe(p['EvaluationPeriods']);
    expect(p['TreatMissingData'], a.node.id).toBe('breaching');
    return { period, hours: ((p['EvaluationPeriods'] as number) * period) / 3600 };
  };

  it.each([
    ['every 8 hours', 'rate(8 hours)', 300, 24],
    ['every 12 hours', 'rate(12 hours)', 3600, 36],
    ['a day (rate)', 'rate(1 day)', 3600, 72],
    ['a day (cron)', 'cron(0 3 * * ? *)', 3600, 72],
    ['two days', 'rate(2 days)', 3600, 144],
    ['three days', 'rate(3 days)', 3600, 168],
  ])("housekeeping %s (%s): HousekeepingNotRunning (and each group's) in periods of %i s, %i hours", (_what, expression, period, hours) => {
    const { stack: s, template: t } = tierlogTemplate({
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.expression(expression),
      sweeperParallelism: 2,
    });
    for (const a of [s.tierlog.alarms.housekeepingNotRunning!, ...s.tierlog.housekeepingGroupsNotRunning]) {
      expect(windowOf(t, s, a), `${a.node.id} ${expression}`).toEqual({ period, hours });
    }
    expect(Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('HousekeepingNotRunning looks back'))).toEqual([]);
  });

  it("sweeps and housekeeping a day apart: SweeperNotRunning (and each group's) looks back three days, no warning", () => {
    const daily = scheduler.ScheduleExpression.expression('cron(0 3 * * ? *)');
    const { stack: s, template: t } = tierlogTemplate({ sweepSchedule: daily, sweepHousekeepingSchedule: daily, sweeperParallelism: 2 });
    for (const a of [s.tierlog.alarms.sweeperNotRunning, ...s.tierlog.sweeperGroupsNotRunning]) {
      expect(windowOf(t, s, a), a.node.id).toEqual({ period: 3600, hours: 72 });
    }
    expect(Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('NotRunning looks back'))).toEqual([]);
  });

  it('housekeeping a week apart: 7 days, the most an alarm looks back, and a synth warning that it cannot watch them', () => {
    const { stack: s, template: t } = tierlogTemplate({
      sweepHousekeepingSchedule: scheduler.ScheduleExpression.rate(Duration.days(7)),
    });
    expect(windowOf(t, s, s.tierlog.alarms.housekeepingNotRunning!)).toEqual({ period: 3600, hours: 168 });
    const warnings = Annotations.fromStack(s).findWarning('*', Match.stringLikeRegexp('HousekeepingNotRunning looks back 7 days'));
    expect(warnings).toHaveLength(1);
    expect(JSON.stringify(warnings[0]!.entry.data)).toMatch(/at least every 3 days 12 hours/);
  });

  it('TierlogMonitoring on its own: a sweeperSilence of up to 7 days is taken, in hourly periods past a day; more refused', () => {
    const { stack: s } = userStack();
    const t = new Tierlog(s, 'Storage');
    const monitoring = (id: string, sweeperSilence: Duration) =>
      new TierlogMonitoring(s, id, {
        metricsDeployment: t.metricsDeployment,
        sweeperFunction: t.sweeperFunction,
        deadLetterQueue: t.deadLetterQueue,
        objectsStream: t.objectsStream,
        sweeperSilence,
      });
    expect(() => monitoring('Long', Duration.hours(7 * 24 + 1))).toThrow(
      /sweeperSilence must be between 15 minutes and 7 days, got 7 days 1 hour/,
    );
    const day = monitoring('Day', Duration.days(1));
    const threeDays = monitoring('ThreeDays', Duration.days(3));
    const template = Template.fromStack(s);
    expect(windowOf(template, s, day.alarms.sweeperNotRunning)).toEqual({ period: 300, hours: 24 });
    expect(windowOf(template, s, threeDays.alarms.sweeperNotRunning)).toEqual({ period: 3600, hours: 72 });
  });

  it.each([['rate(10 minutes)'], ['rate(1 day)'], ['rate(7 days)'], ['cron(0 3 * * ? *)'], ['cron(0 3 ? * MON-FRI *)']])(
    'housekeeping and sweeps %s: every alarm stays within what CloudWatch evaluates (a day under hourly periods, 7 days with them)',
    (expression) => {
      const schedule = scheduler.ScheduleExpression.expression(expression);
      const { template: t } = tierlogTemplate({
        sweepSchedule: schedule,
        sweepHousekeepingSchedule: schedule,
        sweeperParallelism: 2,
        auditAtScale: true,
      });
      for (const [id, r] of Object.entries(resourcesOf(t, 'AWS::CloudWatch::Alarm'))) {
        const p = r.Properties!;
        const periods = (
          (p['Metrics'] as Array<{ MetricStat?: { Period: number }; Expression?: string; Period?: number }> | undefined) ?? []
        )
          .map((m) => m.MetricStat?.Period ?? m.Period)
          .filter((x): x is number => x !== undefined);
        const period = (p['Period'] as number | undefined) ?? Math.max(...periods);
        const seconds = period * (p['EvaluationPeriods'] as number);
        expect(seconds, id).toBeLessThanOrEqual(period >= 3600 ? 7 * 86_400 : 86_400);
      }
    },
  );
});

describe('alarms on what must not happen at all fire on one occurrence', () => {
  // DESIGN.md, "Observability and operations": an alarm on "any" quarantined entry, stuck instance,
  // failed listing, given-up or untrusted record, confirmed lost blob, run not started... One
  // occurrence in one period is the incident: a threshold met only by two (or a comparison that
  // needs more than the threshold) would leave one given-up record, and its blob, unseen.
  const { stack: full, template: fullTemplate } = tierlogTemplate({ auditAtScale: true });
  const fullAlarms = resourcesOf(fullTemplate, 'AWS::CloudWatch::Alarm');
  const audit = full.tierlog.auditAtScale!.alarms;
  const any: Array<[string, { node: { defaultChild?: unknown } }]> = [
    ['deadLetterQueueNotEmpty', full.tierlog.alarms.deadLetterQueueNotEmpty],
    ['entriesQuarantined', full.tierlog.alarms.entriesQuarantined],
    ['stuckInstances', full.tierlog.alarms.stuckInstances],
    ['abandonedUploadErrors', full.tierlog.alarms.abandonedUploadErrors],
    ['streamFailureQueueNotEmpty', full.tierlog.alarms.streamFailureQueueNotEmpty],
    ['streamUntrusted', full.tierlog.alarms.streamUntrusted],
    ['streamReferencedKept', full.tierlog.alarms.streamReferencedKept],
    ['auditAtScale executionsFailed', audit.executionsFailed],
    ['auditAtScale lostBlobs', audit.lostBlobs],
    ['auditAtScale runsNotStarted', audit.runsNotStarted],
  ];

  it.each(any)('%s: a count of 1 in one period breaches; a period without data (nothing happened) does not', (_name, alarm) => {
    const p = fullAlarms[logicalIdOf(full, alarm)]!.Properties!;
    // Missing data is the normal case for each (an idle queue, a metric published only when it
    // counts one): as breaching, the alarm would be up all the time, and ignored.
    expect(p).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
    expect((p['DatapointsToAlarm'] as number | undefined) ?? 1).toBe(1);
  });
});

describe('dashboard', () => {
  it("shows every sweeper metric, the function's health and the alarms", () => {
    const [, dashboard] = onlyResource(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(stack.resolve(dashboard.Properties!['DashboardBody']));
    for (const name of [
      'InstancesRetired',
      'InstancesClaimed',
      'EntriesRecovered',
      'EntriesDeferred',
      'EntriesQuarantined',
      'BlobsDeleted',
      'SweepDuration',
      'OldestExpiredAge',
      'StuckInstances',
      'AbandonedUploadsAborted',
      'AbandonedUploadErrors',
      'AbandonedUploadListingsTruncated',
      'StoppedEarly',
    ]) {
      expect(body).toContain(`\\"${name}\\"`);
    }
    expect(body).toContain('tierlog-sweeper');
    for (const name of ['Invocations', 'Errors', 'Throttles', 'ApproximateNumberOfMessagesVisible'])
      expect(body).toContain(`\\"${name}\\"`);
    expect(body).toContain('\\"alarm\\"');
  });

  it("the alarm status widget shows every alarm of the construct: the objects API's and auditAtScale's too", () => {
    const { stack: full, template: withAudit } = tierlogTemplate({ auditAtScale: true });
    const [, dashboard] = onlyResource(withAudit, 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(full.resolve(dashboard.Properties!['DashboardBody']));
    const ids = Object.keys(resourcesOf(withAudit, 'AWS::CloudWatch::Alarm'));
    expect(ids).toHaveLength(19);
    const shown = ids.filter((id) => body.includes(`{"Fn::GetAtt":["${id}","Arn"]}`));
    expect(ids.filter((id) => !shown.includes(id))).toEqual([]);
  });

  it('a sweeper of 110 fan-out groups: each group has its two not-running alarms, on the dashboard once, in widgets of 100 alarms at most (CloudWatch refuses more)', () => {
    const { stack: full, template } = tierlogTemplate({ leaseShards: 110, sweeperParallelism: 110, sweeperReservedConcurrency: 110 });
    const groups = Object.entries(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(([id]) =>
      /(Sweeper|Housekeeping)GroupNotRunning/.test(id),
    );
    expect(groups).toHaveLength(220);
    // (With a label, CDK writes the alarm's metric as a query of its Metrics.)
    type Dims = Array<{ Name: string; Value: string }>;
    const dimensionsOf = (p: Record<string, unknown>): Dims =>
      (p['Dimensions'] as Dims | undefined) ??
      (p['Metrics'] as Array<{ MetricStat?: { Metric: { Dimensions: Dims } } }>).find((m) => m.MetricStat)!.MetricStat!.Metric.Dimensions;
    const shards = groups.map(([, a]) => dimensionsOf(a.Properties!).find((d) => d.Name === 'shards')?.Value);
    expect(new Set(shards).size).toBe(110);
    // The body as CloudFormation joins it, each alarm's ARN written as its logical id.
    const [, dashboard] = onlyResource(template, 'AWS::CloudWatch::Dashboard');
    const joined = full.resolve(dashboard.Properties!['DashboardBody']) as {
      'Fn::Join': [string, Array<string | Record<string, unknown>>];
    };
    const text = joined['Fn::Join'][1]
      .map((p) => (typeof p === 'string' ? p : ((p['Fn::GetAtt'] as string[] | undefined)?.[0] ?? '?')))
      .join('');
    const widgets = (JSON.parse(text) as { widgets: Array<{ type: string; properties: { alarms?: string[] } }> }).widgets;
    const statusLists = widgets.filter((w) => w.type === 'alarm').map((w) => w.properties.alarms ?? []);
    for (const list of statusLists) expect(list.length).toBeLessThanOrEqual(100);
    const shown = statusLists.flat();
    for (const [id] of groups)
      expect(
        shown.filter((a) => a === id),
        id,
      ).toHaveLength(1);
  });
});

describe('every alarm names its runbook', () => {
  it("each description ends with the README's \"When an alarm fires\" and the alarm's row, which the README's table has (19 alarms, auditAtScale's too)", () => {
    const { template: full } = tierlogTemplate({ auditAtScale: true });
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const runbook = readme.slice(readme.indexOf('### When an alarm fires'));
    const rows = new Set(
      [...runbook.slice(0, runbook.indexOf('\n\n**')).matchAll(/^\| ([^|]+)\|/gm)].flatMap((m) =>
        [...m[1]!.matchAll(/`(\w+)`/g)].map((n) => n[1]!),
      ),
    );
    const descriptions = Object.values(resourcesOf(full, 'AWS::CloudWatch::Alarm')).map((a) => String(a.Properties!['AlarmDescription']));
    expect(descriptions).toHaveLength(19);
    for (const description of descriptions) {
      const row = /Runbook: the tierlog README \(node_modules\/tierlog\/README\.md\), "When an alarm fires", (\w+)\.$/.exec(
        description,
      )?.[1];
      expect(row, description).toBeDefined();
      expect(rows, `README has no row for ${row}`).toContain(row);
      expect(description.length).toBeLessThanOrEqual(1024);
    }
  });
});

describe('the alarms of the parts used on their own name their runbook', () => {
  /**
   * The parts are deployed on their own too (`TierlogSweeper`, `ObjectsStreamCleanup`,
   * `ObjectsFunction`, `AuditAtScale`, watched by a `TierlogMonitoring`): only the `Tierlog`
   * construct ended its alarms' descriptions with the runbook, so the person such an alarm paged
   * had nothing to go on but its name. Each part ends its own, once, whoever composes it.
   */
  it("every alarm of the parts ends with the README's row, once, and a Tierlog's still once", () => {
    const { stack } = userStack();
    const t = new Tierlog(stack, 'T');
    const resources = { changeLogTable: t.changeLogTable, objectsTable: t.objectsTable, bucket: t.bucket, prefix: t.prefix };
    const environment = { ...t.writerEnvironment };
    const sweeper = new TierlogSweeper(stack, 'OwnSweeper', { resources, environment, leaseShards: t.leaseShards });
    const objectsStream = new ObjectsStreamCleanup(stack, 'OwnStream', { resources, environment });
    new ObjectsFunction(stack, 'OwnApi', { resources, environment });
    new AuditAtScale(stack, 'OwnAudit', { resources, accessLogsBucket: new s3.Bucket(stack, 'Logs'), environment });
    new TierlogMonitoring(stack, 'OwnMonitoring', {
      sweeperFunction: sweeper.function,
      deadLetterQueue: sweeper.deadLetterQueue,
      objectsStream,
    });
    const alarms = resourcesOf(Template.fromStack(stack), 'AWS::CloudWatch::Alarm');
    const own = Object.entries(alarms).filter(([id]) => id.startsWith('Own'));
    // The monitoring's 9, the stream's 4, the API's 1 and the audit's 5.
    expect(own).toHaveLength(19);
    for (const [id, alarm] of Object.entries(alarms)) {
      const description = String(alarm.Properties!['AlarmDescription']);
      expect(description, id).toMatch(/ Runbook: the tierlog README \(node_modules\/tierlog\/README\.md\), "When an alarm fires", \w+\.$/);
      expect(description.split(' Runbook: ').length, id).toBe(2);
    }
  });
});

describe("a part's log level keeps the lines the runbook names", () => {
  /**
   * The runbook sends an alarm's reader to warnings: `blob deletes failed` (EntriesFailing), `entry
   * quarantined` (EntriesQuarantined), `suspect lease` (StuckInstances), `blob of a removed item is
   * referenced again` (ReferencedKept), `request answered 503` (ServerErrors). A part given a
   * Powertools level above WARN in its `environment` (to cut log costs) deployed a function whose
   * alarms fired with nothing in its log group to say why. Refused at synth, naming the variable.
   */
  const partsOf = (level: Record<string, string>) => {
    const { stack } = userStack();
    const t = new Tierlog(stack, 'T');
    const resources = { changeLogTable: t.changeLogTable, objectsTable: t.objectsTable, bucket: t.bucket, prefix: t.prefix };
    const environment = { ...t.writerEnvironment, ...level };
    return {
      sweeper: () => new TierlogSweeper(stack, 'OwnSweeper', { resources, environment, leaseShards: t.leaseShards }),
      stream: () => new ObjectsStreamCleanup(stack, 'OwnStream', { resources, environment }),
      api: () => new ObjectsFunction(stack, 'OwnApi', { resources, environment }),
    };
  };

  it.each([
    ['POWERTOOLS_LOG_LEVEL', { POWERTOOLS_LOG_LEVEL: 'ERROR' }],
    ['POWERTOOLS_LOG_LEVEL', { POWERTOOLS_LOG_LEVEL: 'SILENT' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'CRITICAL' }],
    ['POWERTOOLS_LOG_LEVEL', { POWERTOOLS_LOG_LEVEL: ' ERROR ', LOG_LEVEL: 'DEBUG' }],
  ])('%s of %j: each part is refused with a ConfigError naming it', (variable, level) => {
    const parts = partsOf(level);
    for (const make of [parts.sweeper, parts.stream, parts.api]) {
      const refused = (() => {
        try {
          make();
          return undefined;
        } catch (err) {
          return err;
        }
      })();
      expect(refused).toBeInstanceOf(ConfigError);
      expect(refused).toMatchObject({ setting: variable, message: expect.stringContaining('drops its warnings') });
    }
  });

  it.each([
    [{ POWERTOOLS_LOG_LEVEL: 'WARN' }],
    [{ POWERTOOLS_LOG_LEVEL: 'DEBUG' }],
    [{ LOG_LEVEL: 'INFO' }],
    [{ POWERTOOLS_LOG_LEVEL: 'WARN', LOG_LEVEL: 'ERROR' }],
    // Known only at deploy, the level that decides is not judged, nor the LOG_LEVEL it overrides.
    [{ POWERTOOLS_LOG_LEVEL: Fn.importValue('OpsLogLevel'), LOG_LEVEL: 'ERROR' }],
  ])('%j keeps warnings: taken', (level) => {
    const parts = partsOf(level);
    for (const make of [parts.sweeper, parts.stream, parts.api]) expect(make).not.toThrow();
  });
});

/** A TierlogMonitoring built from `t`'s parts, as a user who deploys the parts and monitors them does. */
function monitoringOfParts(scope: Construct, t: Tierlog): TierlogMonitoring {
  return new TierlogMonitoring(scope, 'Own', {
    metricsDeployment: t.metricsDeployment,
    sweeperFunction: t.sweeperFunction,
    deadLetterQueue: t.deadLetterQueue,
    objectsStream: t.objectsStream,
  });
}
