/**
 * Alarms and a dashboard on the sweeper's metrics (EMF, published by `functions/sweeper.ts`
 * through Powertools: namespace `Tierlog`, dimension `service`), its function and its DLQ; and
 * the expiry cleanup's alarms and dashboard row (infra/objects-stream.ts).
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { assertOptions, optionNames } from '../lib/plain-options.js';
import {
  DEFAULT_QUARANTINE_RECHECK_MS,
  DEFAULT_RETRY_FAILED_MS,
  DEFAULT_SHARDLESS_SCAN,
  DEFAULT_SKEW_MARGIN_MS,
  MAX_QUARANTINE_RECHECK_MS,
  MAX_RETRY_FAILED_MS,
} from '../lib/constants.js';
import { sweeperTuningFromEnv } from '../lib/recovery/sweeper-env.js';
import {
  HOUSEKEEPING_DIMENSION,
  METRICS_NAMESPACE,
  SWEEP_GROUP_DIMENSION,
  SWEEP_METRICS,
  shardGroupOf,
} from '../lib/recovery/sweep-metrics.js';
import { addAlarmActions, atRunbookRow, pointAlarmsAtRunbook } from './failure-handling.js';
import { tierlogDimensions } from './function.js';
import type { ObjectsStreamAlarms, ObjectsStreamCleanup } from './objects-stream.js';
import { SWEEPER_SERVICE_NAME, TierlogSweeper } from './sweeper.js';

/** Properties of {@link TierlogMonitoring}. */
export interface TierlogMonitoringProps {
  /** The sweeper function. */
  readonly sweeperFunction: lambda.IFunction;
  /** Scheduler's dead-letter queue. */
  readonly deadLetterQueue: sqs.IQueue;
  /** The expiry cleanup on the objects table's stream: its alarms and a dashboard row join these. */
  readonly objectsStream: ObjectsStreamCleanup;
  /**
   * Alarm when the oldest expired writer instance a sweep found is older than this: the sweeper
   * is not keeping up, or is not running. At least {@link TierlogMonitoringProps.routineExpiredAge}.
   *
   * @default routineExpiredAge plus 13 minutes (15 minutes with the default skew margin and schedule)
   */
  readonly oldestExpiredAgeThreshold?: Duration;
  /**
   * How old every instance a sweep finds is, routinely: a dead writer's instance is found a skew
   * margin after its lease ended, by a sweep up to one schedule interval later
   * ({@link routineExpiredAgeOf}). The age alarm's threshold must be above it, or it fires on
   * every writer that ends.
   *
   * @default - with a `TierlogSweeper`'s function, what its skew margin and sweep schedules call for
   *   (the shortest interval of its sweep and housekeeping schedules; as the {@link Tierlog}
   *   construct passes); else Duration.minutes(2) (the default skew margin,
   *   30 s, and a sweep a minute, rounded up)
   */
  readonly routineExpiredAge?: Duration;
  /**
   * How often the sweeper counts quarantined entries again (its `quarantineRecheckMs`, the
   * construct's `sweeperTuning.quarantineRecheck`): the quarantine alarm looks back one recheck,
   * `routineExpiredAge` (the recount comes a skew margin after the recheck, by a sweep up to one
   * schedule interval later; with a `TierlogSweeper` none of whose schedules' interval is read,
   * crons of some days only, the longest gap between two runs of a cron of some days, a week for
   * one of `MON`, 31 days for one of the 1st of the month, 7 days for one whose days are not read (`L`, `W`, `#`); 3 days for an `at(...)`) and 15 minutes (the sweep's run), so it stays up while they are
   * there. At most 12 hours (the sweeper's ceiling: more is refused at synth); the window is at
   * most the 7 days an alarm can evaluate, in hourly periods past a day.
   *
   * @default - with a `TierlogSweeper`'s function, the recheck its function runs with; else Duration.hours(1)
   */
  readonly quarantineRecheck?: Duration;
  /**
   * Alarm when no sweep has published its metrics for this long: the schedules are disabled or
   * deleted, every invocation is throttled or dropped (Lambda drops a sweep event after 5
   * minutes), or every one fails before it publishes (a bad environment at init, a timeout: those
   * raise the errors alarm as well). A sweep that finished publishes a `SweepDuration` data point,
   * errors or not. At least 15 minutes (three five-minute periods) and at most 7 days (in hourly
   * periods past a day: CloudWatch evaluates a day of five-minute ones at most); pass at
   * least twice the sweep schedules' shortest interval, and the sweeper's timeout and 10 minutes (a
   * sweep publishes when it ends: under a backlog, sweeps publish up to a timeout apart); less is
   * taken with a warning at synth, as the alarm would fire on a running sweeper (the
   * {@link Tierlog} construct passes `sweeperSilenceOf(...)` of its schedules and timeout).
   *
   * @default - with a `TierlogSweeper`'s function, `sweeperSilenceOf(...)` of its schedules and
   *   timeout; else Duration.minutes(15)
   */
  readonly sweeperSilence?: Duration;
  /**
   * The longest time between two sweeps of any schedule (the shortest schedule's interval; the
   * {@link Tierlog} construct passes `sweepIntervalOf(...)` of its schedules): the errors alarm's
   * period is that and a minute, rounded up to 5 minutes, so that a sweeper that fails every sweep
   * has an error in every period; past 8 hours (three periods are the day CloudWatch evaluates in
   * periods under an hour), hourly periods over three intervals, at most 7 days, wanting errors in as
   * many as any such window holds (sweeps a week apart: none at all times, a warning at synth).
   *
   * @default - with a `TierlogSweeper`'s function, `sweepIntervalOf(...)` of its schedules (when
   *   none is read, crons of some days only: the longest gap between two runs of a cron of some
   *   days, 3 days for one of `MON-FRI`, a week for one of `MON`, 31 days for one of the 1st of the
   *   month, 7 days for one whose days are not read (`L`, `W`, `#`); 3 days for an `at(...)`); else
   *   Duration.minutes(1)
   */
  readonly sweepInterval?: Duration;
  /**
   * How long the sweeper waits before it retries an entry whose blob deletes failed (its
   * `retryFailedMs`, the construct's `sweeperTuning.retryFailed`): the failing-deletes alarm's
   * period is that, `routineExpiredAge` (the retry is found a skew margin after it came due, by a
   * sweep up to one schedule interval later) and a minute (the sweep's run), rounded up to 5
   * minutes, so that deletes that fail at every retry breach every period; past 8 hours, hourly
   * periods over three of them, at most 7 days, wanting failures in as many as any such window holds.
   * At most 1 hour (the sweeper's ceiling: more is refused at synth).
   *
   * @default - with a `TierlogSweeper`'s function, the retry its function runs with; else Duration.minutes(1)
   */
  readonly retryFailed?: Duration;
  /**
   * How far back the stuck-instances alarm looks: an item without a shard is counted only by the
   * housekeeping sweep that reads its scan segment, one of the sweeper's `shardlessScan.segments`
   * picked at random each time, so the window must outlast the gaps between two counts of it, or
   * the alarm drops to OK while the item stays stuck. 1 hour to 7 days, in hourly periods past a day (the {@link Tierlog}
   * construct passes `stuckWindowOf(...)` of its scan and housekeeping schedules).
   *
   * @default - with a `TierlogSweeper`'s function, `stuckWindowOf(...)` of its scan and
   *   housekeeping schedules; else Duration.hours(1)
   */
  readonly stuckWindow?: Duration;
  /**
   * Actions of every alarm (on ALARM and back to OK), e.g. an SNS topic.
   *
   * @default - none
   */
  readonly alarmActions?: cloudwatch.IAlarmAction[];
  /**
   * Alarms of the deployment's other parts (the objects API's, the snapshot audit's) that the
   * dashboard's alarm status widget shows beside these. They are not in {@link TierlogMonitoring.alarms}, and their
   * actions are their own: this construct adds none to them.
   *
   * @default - none
   */
  readonly statusAlarms?: cloudwatch.IAlarm[];
  /**
   * The dashboard's name.
   *
   * @default - a name CloudFormation generates
   */
  readonly dashboardName?: string;
  /**
   * The sweeper's `metricsDeployment` (`TierlogSweeperProps`): its metrics carry it as their
   * `deployment` dimension, and the alarms and the dashboard watch those. Set both or neither:
   * alarms on another deployment's metrics than the functions publish see no data (the
   * not-running alarm always up, every other never), so a value other than the
   * `objectsStream`'s, or than the `TierlogSweeper`'s whose function `sweeperFunction` is, is
   * refused. An empty one is none, as the parts take it. Without one, the alarms watch the metrics
   * every deployment of the parts without one publishes in the account and region: a warning at
   * synth (`tierlog:metricsDeploymentShared`).
   *
   * @default - none: the metrics of `service` only
   */
  readonly metricsDeployment?: string;
}

/** The alarms of {@link TierlogMonitoring}. */
export interface TierlogAlarms extends ObjectsStreamAlarms {
  /**
   * Sweep invocations fail (2 of the last 3 periods had errors; five-minute periods, longer when
   * the sweeps are further apart: `sweepInterval`; with sweeps more than 8 hours apart, errors in 2
   * hourly periods of three intervals, at most 7 days: 1 with sweeps more than 3 days 12 hours
   * apart, as 7 days hold no more at times; sweeps a week or more apart cannot be watched: it fires
   * at each failure and goes OK between two, a warning at synth, `tierlog:failureAlarmsFlap`).
   */
  readonly sweeperErrors: cloudwatch.Alarm;
  /**
   * No sweep finished (published its metrics) for `sweeperSilence`: the sweeper is not running.
   * Missing data is breaching here: it is what this alarm is about.
   */
  readonly sweeperNotRunning: cloudwatch.Alarm;
  /** Scheduler could not deliver a sweep event: it is in the dead-letter queue. */
  readonly deadLetterQueueNotEmpty: cloudwatch.Alarm;
  /**
   * The oldest expired instance a sweep found is older than the threshold. A period without a
   * sweep neither raises nor clears it: the last sweep's verdict stands until the next.
   */
  readonly oldestExpiredAge: cloudwatch.Alarm;
  /**
   * A sweep quarantined an entry. Quarantined entries are counted again each recheck (hourly by
   * default, `sweeperTuning.quarantineRecheck`), and the alarm looks back further than that, so
   * it stays up until they are dealt with. At most 7 days: with sweeps a week or more apart it goes
   * OK before each count while they stay quarantined (a warning at synth,
   * `tierlog:failureAlarmsFlap`).
   */
  readonly entriesQuarantined: cloudwatch.Alarm;
  /**
   * Blob deletes fail at every retry, for three periods in a row (`EntriesFailed` in each): a
   * missing `s3:DeleteObject` right, a bucket or key policy that refuses it, an object lock. Those
   * entries are kept and retried, not counted as sweep errors, and their blobs stay (the change
   * log names them, so the audit keeps them too): without this alarm, garbage would pile up
   * unseen. A failure that a retry clears does not breach three periods. (Retries more than 8
   * hours apart: 3 hourly periods of three retries, at most 7 days, or as many as 7 days hold;
   * retries a week or more apart cannot be watched, a warning at synth,
   * `tierlog:failureAlarmsFlap`.)
   */
  readonly entriesFailing: cloudwatch.Alarm;
  /**
   * A sweep found stuck instances: a live lease further ahead than any writer can take (a writer
   * clock that runs ahead; the sweeper claims them) or an item without a `shard` (never found by
   * the lease index; see "stuck" in `tierlog status`). Housekeeping sweeps look for both (every 10
   * minutes by default), and the scan for the latter reads one random segment of the table each,
   * so the alarm looks back `stuckWindow` (about 9 hours with the defaults: {@link stuckWindowOf}),
   * and clears that long after the last one is dealt with. At most 7 days: housekeeping too far
   * apart for that many scans (more than 3 hours 13 minutes with 8 segments) leaves an item without
   * a shard unread through it at times, and the alarm OK while it stays stuck (a warning at synth).
   */
  readonly stuckInstances: cloudwatch.Alarm;
  /**
   * A sweep could not list or abort the multipart uploads of dead writers (an S3 error past the
   * SDK's retries, or a missing `s3:ListBucketMultipartUploads` / `s3:AbortMultipartUpload` /
   * `s3:ListMultipartUploadParts` right): their parts are left to the bucket's AbortIncompleteMultipartUpload rule, and stored
   * (and billed) until it runs. Nothing is lost; the alarm says the sweeper cannot clean them.
   */
  readonly abandonedUploadErrors: cloudwatch.Alarm;
  /**
   * With a `TierlogSweeper`'s function: no housekeeping sweep finished (published its heartbeat,
   * `HOUSEKEEPING_DIMENSION`) for three intervals of its housekeeping schedules, and at least the
   * sweeper's timeout and 10 minutes, at most 7 days, in hourly periods past a day (`sweeperSilenceOf`
   * of those schedules: housekeeping more than 3 days 12 hours apart fires it whenever one publishes
   * late, a warning at synth), while the other
   * sweeps may run: its schedules disabled or deleted, or their events dropped. Housekeeping sweeps
   * alone look for suspect leases and for items without a shard or outside the lease shards (never
   * taken then), and count `StuckInstances`, which every other sweep publishes as 0. Missing data
   * is breaching. Absent with an imported function (its schedules are not known here).
   */
  readonly housekeepingNotRunning?: cloudwatch.Alarm;
  /**
   * The objects API's Function URL answered 5xx (`Url5xxCount`, `ObjectsFunction.alarms`): absent
   * with `objectsFunction: false`. Set by the {@link Tierlog} construct, not by this one.
   */
  readonly objectsServerErrors?: cloudwatch.Alarm;
}

const PERIOD = Duration.minutes(5);

/** The alarms a dashboard's alarm status widget shows at most. */
const MAX_ALARMS_PER_STATUS_WIDGET = 100;

/** `items` in consecutive slices of `size` (the last one shorter). */
function chunksOf<T>(items: readonly T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/**
 * Bounds of {@link TierlogMonitoringProps.sweeperSilence}: three periods, and the 7 days an alarm of
 * hourly periods can look back ({@link heartbeatPeriods}).
 */
const MIN_SWEEPER_SILENCE = Duration.minutes(15);

/** The default `routineExpiredAge`: the default skew margin (30 s) plus a sweep a minute, rounded up. */
const DEFAULT_ROUTINE_EXPIRED_AGE = Duration.minutes(2);
/** The default `oldestExpiredAgeThreshold` over `routineExpiredAge`: 15 minutes with the defaults. */
const OLDEST_EXPIRED_AGE_SLACK = Duration.minutes(13);
const MAX_SWEEPER_SILENCE = Duration.days(7);
/** What an alarm of five-minute periods can look back: CloudWatch evaluates a day at most in periods under an hour. */
const MAX_FIVE_MINUTE_WINDOW = Duration.days(1);
/** The period of a not-running alarm whose window passes {@link MAX_FIVE_MINUTE_WINDOW}: 7 days of them can be evaluated. */
const HOURLY_PERIOD = Duration.hours(1);

/**
 * The period and the number of periods of an alarm that looks back `window` (a not-running alarm's
 * silence, the stuck and quarantine alarms' windows): five-minute periods up to a day, hourly ones
 * past it, at most 7 days of them (CloudWatch evaluates at most a day in periods under an hour, 7
 * days in periods of an hour or more), so that housekeeping or sweeps a day or more apart are
 * watched over the window they call for, not one that any late run leaves empty.
 */
function heartbeatPeriods(window: Duration): { period: Duration; periods: number } {
  const period = window.toMilliseconds() > MAX_FIVE_MINUTE_WINDOW.toMilliseconds() ? HOURLY_PERIOD : PERIOD;
  const periods = Math.ceil(window.toMilliseconds() / period.toMilliseconds());
  return { period, periods: Math.min(periods, MAX_SWEEPER_SILENCE.toMilliseconds() / period.toMilliseconds()) };
}
/**
 * How far apart the failure alarms (`SweeperErrors`, `EntriesFailing`, `EntriesQuarantined`) take
 * the sweeps of a `TierlogSweeper` none of whose schedules' interval is read, when no schedule's
 * days are read either and none is a cron ({@link unreadSweepGapOf}: an `at(...)`): a cron of
 * weekdays runs up to this far apart (Friday's first run to Monday's).
 */
const UNREAD_SWEEP_GAP = Duration.days(3);
/**
 * The same for a cron whose days are not read ({@link cronCalendarInterval}: `L`, `W`, `#`, a step
 * in its days, a year): it may run a month or more apart (`L`, the last day of the month; `MON#1`),
 * so it is taken for the 7 days past which the failure alarms fire at each failure, with the
 * warning `tierlog:failureAlarmsFlap`. Taken for 3 days, a sweeper on `cron(0 6 L * ? *)` failing
 * each monthly sweep had one error a month, and the errors and failing-deletes alarms, wanting two
 * in 7 days, never fired, with no warning.
 */
const UNREAD_CRON_GAP = MAX_SWEEPER_SILENCE;

/** The days of the week as a cron's day-of-week field names them, from 1 (`SUN`) to 7 (`SAT`). */
const CRON_WEEK_DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
/** The months as a cron's month field names them, from 1 (`JAN`) to 12 (`DEC`). */
const CRON_MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

/**
 * The failure alarms' gap between two sweeps of a `TierlogSweeper` none of whose schedules'
 * interval is read (ms): the shortest longest gap of a `cron(...)` of some days
 * ({@link cronCalendarInterval}: a cron of `MON-FRI` runs up to a weekend apart, one of `MON` a
 * week apart, one of the 1st of the month up to 31 days apart), else {@link UNREAD_SWEEP_GAP}
 * (`read` false; {@link UNREAD_CRON_GAP} for a cron whose days are not read). Taken for 3 days, a sweeper on a weekly cron failing each sweep had one error a
 * week, and the errors and failing-deletes alarms, wanting two in 7 days, never fired, with no warning.
 */
function unreadSweepGapOf(expressions: readonly string[]): { gapMs: number; read: boolean; cron: boolean } {
  const gaps = expressions.flatMap((e) => {
    const gap = cronCalendarInterval(e);
    return gap !== undefined ? [gap] : [];
  });
  if (gaps.length > 0) return { gapMs: Math.min(...gaps), read: true, cron: true };
  const cron = expressions.some((e) => e.trim().startsWith('cron('));
  return { gapMs: (cron ? UNREAD_CRON_GAP : UNREAD_SWEEP_GAP).toMilliseconds(), read: false, cron };
}

/** The calendar a cron's days are read over: 8 years from a leap year's first day (UTC), every day of the week and month in it. */
const CRON_CALENDAR = { from: Date.UTC(2024, 0, 1), days: 8 * 365 + 2 };

/**
 * The longest gap between two runs of a `cron(minutes hours days-of-month months days-of-week *)`
 * expression that runs on some days (ms): its days of the month (`?`, `*` or a list of days and
 * ranges), months (`*` or a list) and days of the week (`?`, `*` or a list) read over 8 years of
 * days. Undefined for any other expression, or a field not read (`L`, `W`, `#`, a step in the days,
 * a year other than `*`), or one that runs on no day.
 */
function cronCalendarInterval(expression: string): number | undefined {
  const m = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) \*\)$/.exec(expression.trim());
  if (!m) return undefined;
  const minutes = cronValues(m[1]!, 59);
  const hours = cronValues(m[2]!, 23);
  const all = (field: string) => field === '*' || field === '?';
  const monthDays = all(m[3]!) ? undefined : cronList(m[3]!, [], 1, 31);
  const months = all(m[4]!) ? undefined : cronList(m[4]!, CRON_MONTHS, 1, 12);
  const weekDays = all(m[5]!) ? undefined : cronList(m[5]!, CRON_WEEK_DAYS, 1, 7);
  if (minutes === undefined || hours === undefined) return undefined;
  if ((!all(m[3]!) && monthDays === undefined) || (!all(m[4]!) && months === undefined) || (!all(m[5]!) && weekDays === undefined)) {
    return undefined;
  }
  const times = hours.flatMap((h) => minutes.map((mi) => h * 60 + mi)).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
  let last: number | undefined;
  for (let day = 0; day < CRON_CALENDAR.days; day++) {
    const date = new Date(CRON_CALENDAR.from + day * 86_400_000);
    const runs =
      (monthDays?.includes(date.getUTCDate()) ?? true) &&
      (months?.includes(date.getUTCMonth() + 1) ?? true) &&
      (weekDays?.includes(date.getUTCDay() + 1) ?? true);
    if (!runs) continue;
    if (last !== undefined) gap = Math.max(gap, (day - last) * 24 * 60 + times[0]! - times.at(-1)!);
    last = day;
  }
  return last === undefined ? undefined : gap * 60_000;
}

/** The values (`min` to `max`) of a cron's list of values and ranges, by number or by name (`names[0]` is `min`); undefined when not read. */
function cronList(field: string, names: readonly string[], min: number, max: number): number[] | undefined {
  const value = (v: string): number | undefined => {
    const named = names.indexOf(v.toUpperCase());
    if (named >= 0) return min + named;
    return /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? Number(v) : undefined;
  };
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const p = /^(\w+)(?:-(\w+))?$/.exec(part);
    if (!p) return undefined;
    const start = value(p[1]!);
    const end = p[2] !== undefined ? value(p[2]) : start;
    if (start === undefined || end === undefined || start > end) return undefined;
    for (let v = start; v <= end; v++) values.add(v);
  }
  return [...values];
}

/**
 * The failing-deletes and errors alarms' longest period of their own length: three of them are the
 * day an alarm of periods under an hour can evaluate ({@link failurePeriods}: hourly ones past it).
 */
const MAX_FAILING_PERIOD_MINUTES = 8 * 60;

/**
 * The period, the number of periods and the data points of an alarm that wants a failure in
 * `wanted` of three periods, each of which holds one of failures up to `gapMs` apart (a sweep's, a
 * retry's): periods of that gap (rounded up to five minutes) while three of them are a day at most;
 * past it, hourly periods over three gaps, at most 7 days of them (CloudWatch evaluates a day in
 * periods under an hour, 7 days in hourly ones), and as many data points of `wanted` as any such
 * window holds. Three periods of 8 hours held one failure a day apart at times, none once one came
 * a minute late: the alarm went OK between two daily sweeps and paged again at the next (two days
 * apart, a day of OK each time). `watched` is false when even 7 days may hold none (failures 7
 * days or more apart): the alarm fires at each one and goes OK between them.
 */
function failurePeriods(gapMs: number, wanted: number): { period: Duration; periods: number; datapoints: number; watched: boolean } {
  const minutes = 5 * Math.ceil(gapMs / PERIOD.toMilliseconds());
  if (minutes <= MAX_FAILING_PERIOD_MINUTES) {
    const period = Duration.minutes(minutes);
    return { period, periods: 3, datapoints: datapointsWithin(wanted, period.toMilliseconds(), gapMs), watched: true };
  }
  const hourMs = HOURLY_PERIOD.toMilliseconds();
  const periods = Math.min(Math.ceil((3 * gapMs) / hourMs), MAX_SWEEPER_SILENCE.toMilliseconds() / hourMs);
  // Any window of `periods` hours holds at least this many failures up to `gapMs` apart, each in its own hour.
  const held = Math.floor((periods * hourMs) / gapMs);
  return { period: HOURLY_PERIOD, periods, datapoints: Math.max(1, Math.min(wanted, held)), watched: held >= 1 };
}

/**
 * The `routineExpiredAge` of a sweeper with skew margin `skewMargin` (default 30 s) on these
 * schedules: the skew margin plus the shortest interval of a `rate(...)` or a daily `cron(...)` (a minute
 * when there is none: an `at` expression's, or a cron's of some days only, is not read here),
 * rounded up to whole minutes. The housekeeping schedules' (`housekeepingExpressions`) count as
 * the sweep schedules' do: their sweeps find and take expired instances too, so the next of
 * either finds a dead writer's (and on the days without a sweep only they do).
 */
export function routineExpiredAgeOf(
  skewMargin: Duration | undefined,
  expressions: readonly string[],
  housekeepingExpressions: readonly string[] = [],
): Duration {
  const skewMs = skewMargin !== undefined && !skewMargin.isUnresolved() ? skewMargin.toMilliseconds() : DEFAULT_SKEW_MARGIN_MS;
  const intervals = rateIntervals([...expressions, ...housekeepingExpressions]);
  const intervalMs = intervals.length > 0 ? Math.min(...intervals) : 60_000;
  return Duration.minutes(Math.ceil((skewMs + intervalMs) / 60_000));
}

/**
 * The interval of each `rate(...)` expression, and the longest gap between two runs of each
 * `cron(...)` expression that runs every day (its day-of-month, month, day-of-week and year `*`
 * or `?`: {@link cronInterval}), ms. Other expressions (`at(...)`, a cron of some days only) are
 * not read.
 */
function rateIntervals(expressions: readonly string[]): number[] {
  const units: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
  return expressions.flatMap((e) => {
    const m = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(e);
    if (m) return [Number(m[1]) * units[m[2]!]!];
    const cron = cronInterval(e);
    return cron !== undefined ? [cron] : [];
  });
}

/**
 * The longest gap between two runs of a `cron(minutes hours * * ? *)` expression (ms): between
 * the runs of one day, and from its last to the next day's first (a daylight-saving change of
 * the schedule's time zone aside). Undefined for any other expression, or a minutes or hours
 * field that is not a list of `*`, `n` or `a-b`, each with an optional `/step`.
 */
function cronInterval(expression: string): number | undefined {
  const m = /^cron\((\S+) (\S+) (\S+) (\S+) (\S+) (\S+)\)$/.exec(expression.trim());
  if (!m) return undefined;
  const [, minuteField, hourField, ...dayFields] = m as unknown as [string, string, string, ...string[]];
  if (!dayFields.every((f) => f === '*' || f === '?')) return undefined;
  const minutes = cronValues(minuteField, 59);
  const hours = cronValues(hourField, 23);
  if (minutes === undefined || hours === undefined) return undefined;
  const runs = hours.flatMap((h) => minutes.map((mi) => h * 60 + mi)).sort((a, b) => a - b);
  let gap = runs[0]! + 24 * 60 - runs.at(-1)!;
  for (let i = 1; i < runs.length; i++) gap = Math.max(gap, runs[i]! - runs[i - 1]!);
  return gap * 60_000;
}

/** The values (0 to `max`) of one minutes or hours field of a cron expression; undefined when not read. */
function cronValues(field: string, max: number): number[] | undefined {
  const values = new Set<number>();
  for (const part of field.split(',')) {
    const p = /^(?:(\*)|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!p) return undefined;
    const step = p[4] !== undefined ? Number(p[4]) : 1;
    const start = p[1] !== undefined ? 0 : Number(p[2]);
    const end = p[1] !== undefined || (p[3] === undefined && p[4] !== undefined) ? max : p[3] !== undefined ? Number(p[3]) : start;
    if (step < 1 || start > end || end > max) return undefined;
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return [...values];
}

/** How rarely a gap between two scans of an item's segment may outlast the stuck alarm's window. */
const STUCK_MISS_ODDS = 0.001;
/** A housekeeping sweep's lag: it publishes its count when it ends, up to its timeout later. */
const SWEEP_LAG = Duration.minutes(15);
const MIN_STUCK_WINDOW = Duration.hours(1);

/**
 * The stuck-instances alarm's window for a sweeper whose housekeeping runs on these schedules
 * with this `shardlessScan` (default 8 segments): enough housekeeping sweeps (at the shortest
 * interval of a `rate(...)` or a daily `cron(...)`) that a segment picked at random one in `segments` times goes unread in
 * all of them less than once in a thousand, and a sweep's lag; within 1 hour (the suspect leases
 * every sweep finds) and 7 days (what an alarm of hourly periods can evaluate). One day when no
 * schedule's interval is read (an `at` expression, a cron of some days only). A segment of more than `maxPages`
 * pages is read over several of its turns: not counted here.
 */
export function stuckWindowOf(
  shardlessScan: { readonly segments: number; readonly maxPages: number } | false | undefined,
  housekeepingExpressions: readonly string[],
): Duration {
  const intervals = rateIntervals(housekeepingExpressions);
  if (intervals.length === 0) return MAX_FIVE_MINUTE_WINDOW;
  const segments = shardlessScan === false ? 1 : (shardlessScan ?? DEFAULT_SHARDLESS_SCAN).segments;
  const sweeps = segments <= 1 ? 1 : Math.ceil(Math.log(STUCK_MISS_ODDS) / Math.log(1 - 1 / segments));
  const ms = Math.min(
    Math.max(sweeps * Math.min(...intervals) + SWEEP_LAG.toMilliseconds(), MIN_STUCK_WINDOW.toMilliseconds()),
    MAX_SWEEPER_SILENCE.toMilliseconds(),
  );
  return Duration.millis(ms);
}

/**
 * Why `StuckInstances`, looking back `window`, cannot hold an item without a shard (or outside the
 * lease shards) from one count of it to the next, or undefined when it can (or the housekeeping
 * schedules' interval is not read: warned of apart). Such an item is counted only by the
 * housekeeping sweep that scans its segment, one of `shardlessScan.segments` picked at random
 * each time; {@link stuckWindowOf} sizes the window for enough of them that it goes unread through
 * all less than once in a thousand, but stops at 7 days: housekeeping further apart than 7 days
 * over that many (3 hours 13 minutes with 8 segments) leaves windows where it went unread, and
 * the alarm goes OK while the item stays stuck, and fires again at its next count.
 */
function stuckWindowBlindSpot(
  window: Duration,
  shardlessScan: { readonly segments: number; readonly maxPages: number } | false | undefined,
  housekeepingExpressions: readonly string[],
): string | undefined {
  const intervals = rateIntervals(housekeepingExpressions);
  const segments = shardlessScan === false ? 1 : (shardlessScan ?? DEFAULT_SHARDLESS_SCAN).segments;
  // One segment is read by every housekeeping sweep: the not-running alarm's bounds are its own.
  if (segments <= 1 || intervals.length === 0 || window.isUnresolved()) return undefined;
  const intervalMs = Math.min(...intervals);
  const held = Math.max(0, Math.floor((window.toMilliseconds() - SWEEP_LAG.toMilliseconds()) / intervalMs));
  const missOdds = (1 - 1 / segments) ** held;
  if (missOdds <= STUCK_MISS_ODDS) return undefined;
  const needed = Math.ceil(Math.log(STUCK_MISS_ODDS) / Math.log(1 - 1 / segments));
  const every = Duration.minutes(Math.floor((MAX_SWEEPER_SILENCE.toMilliseconds() - SWEEP_LAG.toMilliseconds()) / needed / 60_000));
  return (
    `StuckInstances looks back ${window.toHumanString()}, which holds ${held} housekeeping sweeps ${Duration.millis(intervalMs).toHumanString()} apart, ` +
    `each scanning one of ${segments} segments picked at random: an item without a shard (or outside the lease shards) goes uncounted through the window ` +
    `${Number((missOdds * 100).toPrecision(2))}% of the time, and the alarm goes OK while it stays stuck and fires again at its next count. ` +
    `Run the housekeeping sweeps at least every ${every.toHumanString()} (${needed} of them in the ${MAX_SWEEPER_SILENCE.toHumanString()} an alarm looks back at most) to have it hold them.`
  );
}

/**
 * The `sweepInterval` of sweeps on these schedules: the shortest interval of a `rate(...)`
 * or of a daily `cron(...)` (the longest gap between two of its runs), or undefined when none is
 * read (an `at` expression, a cron of some days only).
 */
export function sweepIntervalOf(expressions: readonly string[]): Duration | undefined {
  const intervals = rateIntervals(expressions);
  return intervals.length > 0 ? Duration.millis(Math.min(...intervals)) : undefined;
}

/**
 * The `sweeperSilence` for sweeps on these schedules: three times the shortest interval of
 * a `rate(...)` or a daily `cron(...)` (two missed sweeps are not an incident), within 15 minutes
 * and 7 days (the not-running alarms look back past a day in hourly periods); one day when none is read (an `at` expression, a cron of some days only). With the sweeper's
 * `timeout`, at least that and two periods (10 minutes): a sweep publishes when it finishes, and
 * under a backlog every sweep runs to its deadline, so sweeps that run 15 minutes with one slot
 * publish 15 minutes (and a throttled event's retry) apart, which three empty periods would take
 * for a sweeper that stopped.
 */
export function sweeperSilenceOf(expressions: readonly string[], timeout?: Duration): Duration {
  const intervals = rateIntervals(expressions);
  if (intervals.length === 0) return MAX_FIVE_MINUTE_WINDOW;
  const longestSweep = timeout !== undefined && !timeout.isUnresolved() ? timeout.toMilliseconds() + 2 * PERIOD.toMilliseconds() : 0;
  const ms = Math.min(
    Math.max(3 * Math.min(...intervals), longestSweep, MIN_SWEEPER_SILENCE.toMilliseconds()),
    MAX_SWEEPER_SILENCE.toMilliseconds(),
  );
  return Duration.millis(ms);
}

/**
 * Why `SweeperNotRunning` (or, with `alarm`, `HousekeepingNotRunning` on housekeeping sweeps)
 * cannot watch sweeps `interval` apart with this `silence`, or undefined when it can. It fires when
 * its window holds no sweep; a window shorter than two intervals holds one sweep at times, and a
 * sweep that publishes late (a longer run, a retried invocation) leaves it empty: the alarm fires
 * on a running sweeper. The window stops at 7 days (what an alarm of hourly periods can look back),
 * so sweeps more than 3 days 12 hours apart (a weekly one) always meet it; a warning at synth, as
 * the schedule is a choice: sweep more often to have the alarm watch.
 */
function notRunningBlindSpot(
  silence: Duration,
  interval: Duration,
  alarm: 'SweeperNotRunning' | 'HousekeepingNotRunning' = 'SweeperNotRunning',
): string | undefined {
  if (silence.toMilliseconds() >= 2 * interval.toMilliseconds()) return undefined;
  const runs = alarm === 'SweeperNotRunning' ? 'sweeps' : 'housekeeping sweeps';
  return (
    `${alarm} looks back ${silence.toHumanString()} for ${runs} ${interval.toHumanString()} apart: its window ` +
    `holds less than two ${runs}, so it fires whenever one publishes late (a false alarm on a running sweeper). ` +
    (2 * interval.toMilliseconds() > MAX_SWEEPER_SILENCE.toMilliseconds()
      ? `An alarm looks back ${MAX_SWEEPER_SILENCE.toHumanString()} at most: run the ${runs} at least every ${Duration.millis(MAX_SWEEPER_SILENCE.toMilliseconds() / 2).toHumanString()} to have it watch them.`
      : `Give sweeperSilence at least ${Duration.millis(2 * interval.toMilliseconds()).toHumanString()}.`)
  );
}

/**
 * Why `SweeperNotRunning` cannot watch a sweeper of this `timeout` with this `silence`, or undefined
 * when it can (or either is not known at synth). A sweep publishes when it ends, and under a
 * backlog every sweep runs to its deadline: sweeps of one slot then publish a timeout (and a
 * throttled event's retry) apart, so a window shorter than the timeout and two periods (what
 * {@link sweeperSilenceOf} gives it) holds none at times, and the alarm fires on a sweeper that runs
 * flat out. A `sweeperSilence` given is the user's choice: a warning at synth, as for the interval.
 */
function silenceUnderLongestSweep(silence: Duration, timeout: Duration | undefined): string | undefined {
  if (timeout === undefined || timeout.isUnresolved() || silence.isUnresolved()) return undefined;
  const longestMs = timeout.toMilliseconds() + 2 * PERIOD.toMilliseconds();
  if (silence.toMilliseconds() >= longestMs) return undefined;
  return (
    `SweeperNotRunning looks back ${silence.toHumanString()} for a sweeper whose timeout is ${timeout.toHumanString()}: ` +
    'a sweep publishes when it ends, and under a backlog every sweep runs to its deadline, so sweeps publish up to that far apart ' +
    `and the alarm fires on a sweeper that is running (a false alarm during every backlog). Give sweeperSilence at least ${Duration.millis(longestMs).toHumanString()} (the timeout and two periods), or leave it to the sweeper's schedules and timeout.`
  );
}

/** The {@link TierlogSweeper} whose function `fn` is; undefined for another function (an imported one). */
function sweeperOf(fn: lambda.IFunction): TierlogSweeper | undefined {
  const sweeper = fn.node.scopes.findLast((scope) => scope instanceof TierlogSweeper);
  return sweeper instanceof TierlogSweeper ? sweeper : undefined;
}

/** The windows of {@link TierlogMonitoringProps} that follow the sweeper's schedules, timeout and tuning. */
type SweeperWindows = Pick<
  TierlogMonitoringProps,
  'routineExpiredAge' | 'sweeperSilence' | 'sweepInterval' | 'stuckWindow' | 'quarantineRecheck' | 'retryFailed'
>;

/**
 * The windows a {@link TierlogSweeper}'s schedules, timeout and tuning (the variables its function
 * runs with) call for: what the {@link Tierlog} construct passes, and the defaults of a
 * monitoring whose `sweeperFunction` is that sweeper's.
 */
function windowsOf(sweeper: TierlogSweeper): SweeperWindows {
  const { sweeps, housekeeping } = scheduleExpressionsOf(sweeper);
  // Checked by the sweeper already, against the floors (a deployed sweeper may not waive them): read again here without.
  const tuning = sweeperTuningFromEnv(sweeper.tuningEnvironment, { unsafeShortWindows: true });
  const ms = (value: number | undefined) => (value !== undefined ? Duration.millis(value) : undefined);
  const interval = sweepIntervalOf([...sweeps, ...housekeeping]);
  const recheck = ms(tuning.quarantineRecheckMs);
  const retry = ms(tuning.retryFailedMs);
  return {
    routineExpiredAge: routineExpiredAgeOf(ms(tuning.skewMarginMs), sweeps, housekeeping),
    sweeperSilence: sweeperSilenceOf([...sweeps, ...housekeeping], sweeper.timeout),
    ...(interval !== undefined ? { sweepInterval: interval } : {}),
    stuckWindow: stuckWindowOf(tuning.shardlessScan, housekeeping),
    ...(recheck !== undefined ? { quarantineRecheck: recheck } : {}),
    ...(retry !== undefined ? { retryFailed: retry } : {}),
  };
}

/** The expressions of a {@link TierlogSweeper}'s sweep and housekeeping schedules. */
function scheduleExpressionsOf(sweeper: TierlogSweeper): { sweeps: string[]; housekeeping: string[] } {
  const expressionOf = (s: scheduler.Schedule): string => (s.node.defaultChild as scheduler.CfnSchedule).scheduleExpression;
  return { sweeps: sweeper.schedules.map(expressionOf), housekeeping: sweeper.housekeepingSchedules.map(expressionOf) };
}

/**
 * Refuses a `metricsDeployment` other than the one the watched functions publish under: the
 * stream cleanup's, and the sweeper's when its function is a {@link TierlogSweeper}'s (an
 * imported function's is not known here).
 */
function checkSameDeployment(deployment: string | undefined, props: TierlogMonitoringProps): void {
  const sweeper = sweeperOf(props.sweeperFunction);
  const published: Array<[string, string | undefined]> = [['objectsStream', props.objectsStream.metricsDeployment]];
  if (sweeper !== undefined) published.push(['the sweeper', sweeper.metricsDeployment]);
  for (const [what, theirs] of published) {
    if (theirs === deployment) continue;
    throw new Error(
      `metricsDeployment is ${deployment === undefined ? 'not set' : `"${deployment}"`}, but ${what} publishes its metrics ${theirs === undefined ? 'without a deployment' : `under "${theirs}"`}: the alarms would watch metrics nobody publishes (set the same metricsDeployment on each, or on none)`,
    );
  }
}

/**
 * Why a monitoring without a `metricsDeployment` does not watch its own deployment alone: its
 * parts' functions then publish under `service` only, as those of every other deployment of the
 * parts without one in the account and region (a second stack of the same app, another store), so
 * CloudWatch holds one metric for all of them. Another deployment's sweeps keep `SweeperNotRunning`
 * quiet while this sweeper is down, and its backlog, quarantined entries or failed deletes raise
 * these alarms. The {@link Tierlog} construct gives its parts their own (`<stack name>/<construct
 * path>`); parts composed by hand take none unless given one.
 */
function sharedMetricsWarning(): string {
  return (
    'TierlogMonitoring watches metrics without a deployment (no metricsDeployment): every deployment of the parts without one in this account and region publishes those same metrics, ' +
    "so another one's sweeps keep SweeperNotRunning quiet while this sweeper is down, and its backlog, quarantined entries or failed deletes raise these alarms. " +
    'Give this monitoring and the parts it watches (TierlogSweeper, ObjectsStreamCleanup) one metricsDeployment, unique in the account and region (the stack name, say; the Tierlog construct gives its own <stack name>/<construct path>)'
  );
}

/** The names {@link TierlogMonitoringProps} has: any other is refused. */
const MONITORING_PROPS = optionNames<TierlogMonitoringProps>()(
  'sweeperFunction',
  'deadLetterQueue',
  'objectsStream',
  'oldestExpiredAgeThreshold',
  'routineExpiredAge',
  'quarantineRecheck',
  'sweeperSilence',
  'sweepInterval',
  'retryFailed',
  'stuckWindow',
  'alarmActions',
  'statusAlarms',
  'dashboardName',
  'metricsDeployment',
);

/** Alarms and a dashboard for the sweeper. */
export class TierlogMonitoring extends Construct {
  /** The alarms. */
  public readonly alarms: TierlogAlarms;
  /**
   * With a `TierlogSweeper`'s function that fans out (`parallelism` above 1), one alarm per group
   * (`SweeperGroupNotRunning<i>`, in the order of its `fanOutGroups`): no sweep of that group's
   * shards finished for `sweeperSilence`, while `sweeperNotRunning`, which counts every group's
   * sweeps, hears the others (a group's schedules disabled or deleted, its events dropped). Missing
   * data is breaching, as there. Empty otherwise (one group: `sweeperNotRunning` is its alarm; an
   * imported function's groups are not known here). Their actions are `alarmActions`.
   */
  public readonly sweeperGroupsNotRunning: readonly cloudwatch.Alarm[];
  /**
   * With a `TierlogSweeper`'s function that fans out (`parallelism` above 1), one alarm per group
   * (`HousekeepingGroupNotRunning<i>`, in the order of its `fanOutGroups`): no housekeeping sweep
   * of that group finished for as long as `housekeepingNotRunning` waits, while the other groups'
   * housekeeping keeps that one quiet and the group's frequent sweeps keep its
   * `SweeperGroupNotRunning` quiet (its `Housekeeping<i>` schedule disabled or deleted, its events
   * dropped): suspect leases in its shards are not looked for, and, for the group that holds shard
   * 0, neither are items without a shard or outside the lease shards. Missing data is breaching.
   * Empty otherwise. Their actions are `alarmActions`.
   */
  public readonly housekeepingGroupsNotRunning: readonly cloudwatch.Alarm[];
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: TierlogMonitoringProps) {
    super(scope, id);
    // A name it does not know (a JavaScript caller's `alarmAction`) was dropped: alarms paging no one.
    assertOptions(props, MONITORING_PROPS, 'TierlogMonitoring');
    const fn = props.sweeperFunction;
    // An empty one is none, as the parts and the handlers read it.
    const deployment = props.metricsDeployment === '' ? undefined : props.metricsDeployment;
    checkSameDeployment(deployment, props);
    if (deployment === undefined) Annotations.of(this).addWarningV2('tierlog:metricsDeploymentShared', sharedMetricsWarning());
    // A window not given follows the TierlogSweeper whose function this is, as the construct's do.
    const sweeper = sweeperOf(fn);
    const derived: SweeperWindows = sweeper !== undefined ? windowsOf(sweeper) : {};
    const chosen = <K extends keyof SweeperWindows>(name: K): SweeperWindows[K] => props[name] ?? derived[name];
    const routine = chosen('routineExpiredAge') ?? DEFAULT_ROUTINE_EXPIRED_AGE;
    const threshold = props.oldestExpiredAgeThreshold ?? routine.plus(OLDEST_EXPIRED_AGE_SLACK);
    if (!threshold.isUnresolved() && threshold.toMilliseconds() < routine.toMilliseconds()) {
      // A dead writer's instance is first seen a skew margin after its lease ended, by a sweep up
      // to a schedule interval later: a lower threshold (0 most of all) fires on every routine
      // writer exit, not on a sweeper that falls behind.
      throw new Error(
        `oldestExpiredAgeThreshold must be at least ${routine.toHumanString()}, got ${threshold.toHumanString()}: every instance a sweep finds is up to that old (the sweeper's skew margin and a sweep interval), so the alarm would fire on every dead writer`,
      );
    }
    // Given here (a TierlogMonitoring on its own), within the sweeper's ceilings (which it applies
    // even to drills): it refuses one above at init, and an alarm sized for it would watch a sweeper
    // that never runs so.
    checkSweeperCeiling(props.quarantineRecheck, 'quarantineRecheck', MAX_QUARANTINE_RECHECK_MS);
    checkSweeperCeiling(props.retryFailed, 'retryFailed', MAX_RETRY_FAILED_MS);
    const recheckMs = chosen('quarantineRecheck')?.toMilliseconds() ?? DEFAULT_QUARANTINE_RECHECK_MS;
    const silence = chosen('sweeperSilence') ?? MIN_SWEEPER_SILENCE;
    if (
      !silence.isUnresolved() &&
      (silence.toMilliseconds() < MIN_SWEEPER_SILENCE.toMilliseconds() || silence.toMilliseconds() > MAX_SWEEPER_SILENCE.toMilliseconds())
    ) {
      throw new Error(
        `sweeperSilence must be between ${MIN_SWEEPER_SILENCE.toHumanString()} and ${MAX_SWEEPER_SILENCE.toHumanString()}, got ${silence.toHumanString()}`,
      );
    }
    // Deletes failing at each retry show up in every period of this length (a retry comes due, its
    // claim is found once it ended by the skew margin, by the next sweep, and its own run time
    // takes it); three periods stay within the day an alarm can evaluate.
    const sweepInterval = chosen('sweepInterval');
    // A TierlogSweeper's schedules none of whose interval is read (crons of some days only, an
    // `at`): taken for a sweep a minute, a sweeper failing at every weekday sweep had one error an
    // hour or a day, and the errors, failing-deletes and quarantine alarms, which want failures in
    // periods of minutes or a window of an hour, never fired (or went OK after each daily count).
    const unreadGap =
      sweepInterval === undefined && sweeper !== undefined
        ? unreadSweepGapOf(Object.values(scheduleExpressionsOf(sweeper)).flat())
        : { gapMs: 0, read: false, cron: false };
    const unreadGapMs = unreadGap.gapMs;
    const retryMs = chosen('retryFailed')?.toMilliseconds() ?? DEFAULT_RETRY_FAILED_MS;
    const routineMs = Math.max((routine.isUnresolved() ? DEFAULT_ROUTINE_EXPIRED_AGE : routine).toMilliseconds(), unreadGapMs);
    const retryGapMs = retryMs + routineMs + 60_000;
    const failing = failurePeriods(retryGapMs, 3);
    const { period: silencePeriod, periods: silencePeriods } = heartbeatPeriods(silence);
    // A sweeper failing each sweep has an error in every period of this length; three periods stay
    // within the day an alarm can evaluate.
    const intervalMs =
      sweepInterval !== undefined && !sweepInterval.isUnresolved() ? sweepInterval.toMilliseconds() : unreadGapMs || 60_000;
    if (sweepInterval !== undefined && !sweepInterval.isUnresolved() && !silence.isUnresolved()) {
      const warning = notRunningBlindSpot(silence, sweepInterval);
      if (warning !== undefined) Annotations.of(this).addWarningV2('tierlog:sweeperNotRunningFlaps', warning);
    } else if (sweepInterval === undefined && sweeper !== undefined) {
      // No schedule's interval read (a cron of some days only, an `at`): the windows assume a sweep
      // a day, and a weekday cron's weekend is two days without one.
      const { sweeps, housekeeping } = scheduleExpressionsOf(sweeper);
      Annotations.of(this).addWarningV2(
        'tierlog:sweeperNotRunningFlaps',
        `SweeperNotRunning looks back a day, and no sweep schedule's interval is read (${[...sweeps, ...housekeeping].join(', ')}: only rate(...) and a cron(...) of every day are): it fires on any day without a sweep; SweeperErrors, EntriesFailing and EntriesQuarantined take sweeps up to ${Duration.millis(unreadGapMs).toHumanString()} apart (${unreadGap.read ? 'the longest gap between two runs of a cron of these days' : unreadGap.cron ? 'a cron whose days are not read, L, W, # or a step: it may run a month apart' : 'a weekend'}); OldestExpiredAge fires when an expired instance waits more than ${threshold.toHumanString()}, which every dead writer found after a day without a sweep has. Add a schedule of every day (a rate, or a cron of every day).`,
      );
    }
    const silenceWarning = silenceUnderLongestSweep(silence, sweeper?.timeout ?? (fn instanceof lambda.Function ? fn.timeout : undefined));
    if (silenceWarning !== undefined) Annotations.of(this).addWarningV2('tierlog:sweeperNotRunningFlaps', silenceWarning);
    if (sweeper !== undefined) {
      const { housekeeping } = scheduleExpressionsOf(sweeper);
      if (housekeeping.length > 0 && sweepIntervalOf(housekeeping) === undefined) {
        // Housekeeping sweeps alone count stuck instances: a day without one empties the window.
        Annotations.of(this).addWarningV2(
          'tierlog:stuckInstancesFlaps',
          `StuckInstances looks back a day at most, and no housekeeping schedule's interval is read (${housekeeping.join(', ')}: only rate(...) and a cron(...) of every day are): it clears on any day without a housekeeping sweep while the instances stay stuck, and fires again after, and HousekeepingNotRunning (which looks back a day then) fires on such a day. Give the housekeeping sweep a schedule of every day.`,
        );
      }
      const stuckWarning = stuckWindowBlindSpot(
        chosen('stuckWindow') ?? MIN_STUCK_WINDOW,
        sweeperTuningFromEnv(sweeper.tuningEnvironment, { unsafeShortWindows: true }).shardlessScan,
        housekeeping,
      );
      if (stuckWarning !== undefined) Annotations.of(this).addWarningV2('tierlog:stuckInstancesFlaps', stuckWarning);
      const housekeepingInterval = sweepIntervalOf(housekeeping);
      const housekeepingWarning =
        housekeepingInterval !== undefined
          ? notRunningBlindSpot(sweeperSilenceOf(housekeeping, sweeper.timeout), housekeepingInterval, 'HousekeepingNotRunning')
          : undefined;
      if (housekeepingWarning !== undefined) {
        Annotations.of(this).addWarningV2('tierlog:housekeepingNotRunningFlaps', housekeepingWarning);
      }
    }
    // Sweeps or retries further apart than 8 hours: hourly periods over three of them, at most 7
    // days, wanting no more failures than such a window holds.
    const errors = failurePeriods(intervalMs + 60_000, 2);
    // Quarantined entries are counted again at most this far apart (see quarantineRecheck).
    const recountGapMs = recheckMs + routineMs + 3 * PERIOD.toMilliseconds();
    for (const [alarm, gapMs, watched] of [
      ['SweeperErrors', intervalMs + 60_000, errors.watched],
      ['EntriesFailing', retryGapMs, failing.watched],
      ['EntriesQuarantined', recountGapMs, recountGapMs <= MAX_SWEEPER_SILENCE.toMilliseconds()],
    ] as const) {
      if (watched) continue;
      Annotations.of(this).addWarningV2(
        'tierlog:failureAlarmsFlap',
        `${alarm} watches failures up to ${Duration.millis(gapMs).toHumanString()} apart (a sweep's, a retry's or a quarantine recount's on the shortest schedule), and looks back ${MAX_SWEEPER_SILENCE.toHumanString()} at most (what CloudWatch evaluates): it fires at each failure and goes OK between them, paging again at the next. Run the sweeps (or the housekeeping sweeps) more often than every ${MAX_SWEEPER_SILENCE.toHumanString()} to have it watch them.`,
      );
    }
    const stuckWindow = chosen('stuckWindow') ?? MIN_STUCK_WINDOW;
    if (
      !stuckWindow.isUnresolved() &&
      (stuckWindow.toMilliseconds() < MIN_STUCK_WINDOW.toMilliseconds() ||
        stuckWindow.toMilliseconds() > MAX_SWEEPER_SILENCE.toMilliseconds())
    ) {
      throw new Error(
        `stuckWindow must be between ${MIN_STUCK_WINDOW.toHumanString()} and ${MAX_SWEEPER_SILENCE.toHumanString()}, got ${stuckWindow.toHumanString()}`,
      );
    }

    // Windows past a day (sweeps or housekeeping a day apart) in hourly periods: 7 days at most.
    const quarantineWindow = heartbeatPeriods(Duration.millis(recountGapMs));
    const stuckPeriods = heartbeatPeriods(stuckWindow);
    const oldestAge = sweepMetric(SWEEP_METRICS.oldestExpiredAge, cloudwatch.Stats.MAXIMUM, 'oldest expired instance (ms)', deployment);
    const quarantined = sweepMetric(SWEEP_METRICS.entriesQuarantined, cloudwatch.Stats.SUM, 'quarantined', deployment);
    const stuck = sweepMetric(SWEEP_METRICS.stuckInstances, cloudwatch.Stats.SUM, 'stuck instances', deployment);
    const uploadErrors = sweepMetric(SWEEP_METRICS.abandonedUploadErrors, cloudwatch.Stats.SUM, 'abandoned upload errors', deployment);
    // Every sweep that finishes publishes one SweepDuration data point: their count is the heartbeat.
    const sweeps = sweepMetric(SWEEP_METRICS.sweepDuration, cloudwatch.Stats.SAMPLE_COUNT, 'sweeps', deployment);
    const dlqDepth = props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: PERIOD,
      statistic: cloudwatch.Stats.MAXIMUM,
    });

    this.alarms = {
      sweeperErrors: new cloudwatch.Alarm(this, 'SweeperErrors', {
        alarmDescription: 'tierlog: sweeper invocations fail (see the sweeper log group)',
        metric: fn.metricErrors({ period: errors.period, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: errors.periods,
        datapointsToAlarm: errors.datapoints,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      sweeperNotRunning: new cloudwatch.Alarm(this, 'SweeperNotRunning', {
        alarmDescription: `tierlog: no sweep finished for ${silence.toHumanString()}: the sweeper is not running (schedules disabled or deleted, invocations throttled or dropped, or failing before they publish; see its Invocations, Throttles and Errors, and its log group)`,
        metric: sweeps.with({ period: silencePeriod }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: silencePeriods,
        datapointsToAlarm: silencePeriods,
        // No data is no sweep: the case this alarm is for.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      }),
      deadLetterQueueNotEmpty: new cloudwatch.Alarm(this, 'DeadLetterQueueNotEmpty', {
        alarmDescription: 'tierlog: EventBridge Scheduler could not invoke the sweeper; events are in the dead-letter queue',
        metric: dlqDepth,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      oldestExpiredAge: new cloudwatch.Alarm(this, 'OldestExpiredAge', {
        alarmDescription: `tierlog: an expired writer instance waits for recovery for more than ${threshold.toHumanString()}; the sweeper is behind or failing`,
        metric: oldestAge,
        threshold: threshold.toMilliseconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // Every sweep publishes the age (but one that found none with a shard unread: its 0 is not
        // known): a period between two sweeps has none, and the last
        // sweep's verdict stands (MISSING dropped the alarm to INSUFFICIENT_DATA there, and raised
        // it again, paging, at each sweep of a backlog). A sweeper that stopped: SweeperNotRunning.
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      }),
      entriesQuarantined: new cloudwatch.Alarm(this, 'EntriesQuarantined', {
        alarmDescription:
          'tierlog: the sweeper quarantined change-log entries it cannot trust (see "entry quarantined" in its logs; `tierlog inspect <instance>`)',
        metric: quarantined.with({ period: quarantineWindow.period }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // Any data point in a window longer than the gap between two counts (see quarantineRecheck).
        evaluationPeriods: quarantineWindow.periods,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      entriesFailing: new cloudwatch.Alarm(this, 'EntriesFailing', {
        alarmDescription: `tierlog: the sweeper's blob deletes fail at every retry (EntriesFailed in ${failing.datapoints === failing.periods ? `${failing.periods} periods` : `${failing.datapoints} of ${failing.periods} periods`} of ${failing.period.toHumanString()}${failing.datapoints === failing.periods ? ' in a row' : ''}): see "blob deletes failed" in its logs; check s3:DeleteObject on the blob bucket (role, bucket policy, object lock). The entries are kept and their blobs stay`,
        metric: sweepMetric(SWEEP_METRICS.entriesFailed, cloudwatch.Stats.SUM, 'entries failed', deployment).with({
          period: failing.period,
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: failing.periods,
        datapointsToAlarm: failing.datapoints,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      stuckInstances: new cloudwatch.Alarm(this, 'StuckInstances', {
        alarmDescription:
          'tierlog: stuck change-log instances: a writer clock far ahead (suspect lease), an item without a shard, or an item in a lease shard the sweeper never queries (a writer with a larger TIERLOG_LEASE_SHARDS) (see "suspect lease" / "instances without shard" / "instances outside the lease shards" in the sweeper logs; `tierlog status`)',
        metric: stuck.with({ period: stuckPeriods.period }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // Any data point in a window that outlasts the gaps between two scans of a segment.
        evaluationPeriods: stuckPeriods.periods,
        datapointsToAlarm: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      abandonedUploadErrors: new cloudwatch.Alarm(this, 'AbandonedUploadErrors', {
        alarmDescription:
          'tierlog: the sweeper could not list or abort dead writers\' (or expired upload sessions\') multipart uploads; their parts wait for the bucket\'s lifecycle rule (see "abandoned upload" / "abandoned uploads not listed" / "upload session\'s uploads not listed" / "may still hold parts" in the sweeper logs; check s3:ListBucketMultipartUploads, s3:AbortMultipartUpload and s3:ListMultipartUploadParts)',
        metric: uploadErrors,
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // Listings happen only in sweeps that judge dead writers' new blobs: any failure counts.
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      ...props.objectsStream.alarms,
      ...(sweeper !== undefined ? { housekeepingNotRunning: this.housekeepingAlarm(sweeper, sweeps) } : {}),
    };
    const groups = sweeper?.fanOutGroups ?? [];
    this.housekeepingGroupsNotRunning =
      sweeper === undefined
        ? []
        : groups.map((shards, i) => atRunbookRow(this.housekeepingAlarm(sweeper, sweeps, { shards, i }), 'HousekeepingGroupNotRunning'));
    this.sweeperGroupsNotRunning = groups.map((shards, i) =>
      atRunbookRow(
        new cloudwatch.Alarm(this, `SweeperGroupNotRunning${i}`, {
          alarmDescription: `tierlog: no sweep of the sweeper's fan-out group ${i} (lease shards s with s % ${groups.length} = ${i}) finished for ${silence.toHumanString()}, while other groups' sweeps run: its schedules (Schedule${i}, Housekeeping${i}) are disabled or deleted, or their events dropped (see the dead-letter queue); its shards' dead writers are not swept`,
          metric: sweeps.with({
            dimensionsMap: { ...sweeps.dimensions, [SWEEP_GROUP_DIMENSION]: shardGroupOf(shards) },
            label: `sweeps of group ${i}`,
            period: silencePeriod,
          }),
          threshold: 1,
          comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: silencePeriods,
          datapointsToAlarm: silencePeriods,
          // No data is no sweep of the group: the case this alarm is for.
          treatMissingData: cloudwatch.TreatMissingData.BREACHING,
        }),
        'SweeperGroupNotRunning',
      ),
    );
    addAlarmActions(
      [...Object.values(this.alarms), ...this.sweeperGroupsNotRunning, ...this.housekeepingGroupsNotRunning],
      props.alarmActions,
    );
    // Deployed on its own too: the person an alarm pages finds its runbook row from the alarm alone.
    pointAlarmsAtRunbook(this);

    const counts = (names: Array<keyof typeof SWEEP_METRICS>) =>
      names.map((name) => sweepMetric(SWEEP_METRICS[name], cloudwatch.Stats.SUM, SWEEP_METRICS[name], deployment));
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      ...(props.dashboardName !== undefined ? { dashboardName: props.dashboardName } : {}),
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'tierlog alarms',
            alarms: [...Object.values(this.alarms), ...(props.statusAlarms ?? [])],
            width: 24,
            height: 3,
          }),
        ],
        // A widget shows 100 alarms at most: the groups' (two each, up to 256 groups) in rows of their own.
        ...chunksOf([...this.sweeperGroupsNotRunning, ...this.housekeepingGroupsNotRunning], MAX_ALARMS_PER_STATUS_WIDGET).map(
          (alarms, i) => [
            new cloudwatch.AlarmStatusWidget({
              title: `tierlog sweeper fan-out groups${i > 0 ? ` (${i * MAX_ALARMS_PER_STATUS_WIDGET}+)` : ''}`,
              alarms: [...alarms],
              width: 24,
              height: 3,
            }),
          ],
        ),
        [
          new cloudwatch.GraphWidget({
            title: 'Instances',
            left: counts(['instancesExpired', 'instancesRetired', 'instancesClaimed', 'stuckInstances']),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Entries',
            left: counts(['entriesRecovered', 'entriesDeferred', 'entriesQuarantined', 'entriesFailed']),
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Blobs deleted, abandoned uploads',
            left: counts(['blobsDeleted', 'abandonedUploadsAborted', 'abandonedUploadErrors', 'abandonedUploadListingsTruncated']),
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Oldest expired instance (ms)',
            left: [oldestAge],
            leftAnnotations: [{ value: threshold.toMilliseconds(), label: 'alarm threshold' }],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Sweep duration (ms)',
            left: [
              sweepMetric(SWEEP_METRICS.sweepDuration, cloudwatch.Stats.AVERAGE, 'average', deployment),
              sweepMetric(SWEEP_METRICS.sweepDuration, cloudwatch.Stats.MAXIMUM, 'maximum', deployment),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Sweeper function',
            left: [
              fn.metricInvocations({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
              fn.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
              fn.metricThrottles({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
              ...counts(['errors', 'stoppedEarly']),
            ],
            right: [dlqDepth],
            width: 8,
          }),
        ],
        props.objectsStream.dashboardRow(),
      ],
    });
  }

  /**
   * {@link TierlogAlarms.housekeepingNotRunning} for `sweeper`: on the heartbeat of its
   * housekeeping sweeps (`sweeps` with {@link HOUSEKEEPING_DIMENSION}), over `sweeperSilenceOf` its
   * housekeeping schedules and timeout. With `group` (its shards and index in `fanOutGroups`), that
   * group's `HousekeepingGroupNotRunning<i>`, on its own housekeeping sweeps' heartbeat (and
   * {@link SWEEP_GROUP_DIMENSION}).
   */
  private housekeepingAlarm(
    sweeper: TierlogSweeper,
    sweeps: cloudwatch.Metric,
    group?: { readonly shards: readonly number[]; readonly i: number },
  ): cloudwatch.Alarm {
    const { housekeeping } = scheduleExpressionsOf(sweeper);
    const silence = sweeperSilenceOf(housekeeping, sweeper.timeout);
    const { period, periods } = heartbeatPeriods(silence);
    const n = sweeper.fanOutGroups.length;
    return new cloudwatch.Alarm(this, group === undefined ? 'HousekeepingNotRunning' : `HousekeepingGroupNotRunning${group.i}`, {
      alarmDescription:
        group === undefined
          ? `tierlog: no housekeeping sweep finished for ${silence.toHumanString()}: its schedules (Housekeeping, or Housekeeping<i> of each fan-out group) are disabled or deleted, or their events dropped (see the dead-letter queue), while other sweeps may run; suspect leases, items without a shard and items outside the lease shards are not looked for (StuckInstances reads 0 from every other sweep)`
          : `tierlog: no housekeeping sweep of the sweeper's fan-out group ${group.i} (lease shards s with s % ${n} = ${group.i}) finished for ${silence.toHumanString()}, while other groups' housekeeping and this group's sweeps may run: its schedule (Housekeeping${group.i}) is disabled or deleted, or its events dropped (see the dead-letter queue); suspect leases in its shards are not looked for${group.shards.includes(0) ? ', nor items without a shard or outside the lease shards (this group holds shard 0)' : ''}`,
      metric: sweeps.with({
        dimensionsMap: {
          ...sweeps.dimensions,
          ...(group !== undefined ? { [SWEEP_GROUP_DIMENSION]: shardGroupOf(group.shards) } : {}),
          [HOUSEKEEPING_DIMENSION]: 'true',
        },
        label: group === undefined ? 'housekeeping sweeps' : `housekeeping sweeps of group ${group.i}`,
        period,
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      // No data is no housekeeping sweep: the case this alarm is for.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
  }
}

/**
 * Refuses `value` of prop `name` above the sweeper's own ceiling for that tuning (`max` ms): the
 * alarm would be sized for a recheck or retry no sweeper runs with.
 */
function checkSweeperCeiling(value: Duration | undefined, name: string, max: number): void {
  if (value === undefined || value.isUnresolved()) return;
  if (value.toMilliseconds() > max) {
    throw new Error(
      `${name} must be at most ${Duration.millis(max).toHumanString()} (the sweeper's ceiling: it refuses more at init), got ${value.toHumanString()}`,
    );
  }
}

/**
 * Of the three periods of `periodMs` an alarm reads, in how many it wants a failure: `wanted`, or
 * as many as any three periods in a row hold of failures up to `gapMs` apart when that is fewer,
 * and at least one. Wanting more than they can hold, the alarm would never fire; wanting more than
 * some of them hold, it would go OK at each window that holds fewer, and page again at the next.
 */
function datapointsWithin(wanted: number, periodMs: number, gapMs: number): number {
  return Math.max(1, Math.min(wanted, Math.floor((3 * periodMs) / gapMs)));
}

/** A sweeper metric as Powertools publishes it (in `deployment`, when the sweeper has one). */
export function sweepMetric(metricName: string, statistic: string, label: string, deployment?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: tierlogDimensions(SWEEPER_SERVICE_NAME, deployment),
    statistic,
    period: PERIOD,
    label,
  });
}
