/**
 * The README's table of the construct's props and their defaults lists every prop `TierlogProps`
 * declares (its own and the function options it extends), so a new option cannot go undocumented.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Tierlog, type TierlogProps } from '../../infra/tierlog.js';
import { cleanOutdirs, logicalIdOf, PROJECT_ROOT, resourcesOf, tierlogTemplate, userStack } from './helpers.js';

afterAll(cleanOutdirs);

const source = (path: string) => readFileSync(join(PROJECT_ROOT, path), 'utf8');

/** The TSDoc right above `readonly <field>` in `file`'s interface `iface` (the interface's first such field). */
function fieldDoc(file: string, iface: string, field: string): string {
  const text = source(file);
  const body = text.slice(text.indexOf(`export interface ${iface} `));
  const at = body.search(new RegExp(`\\n  readonly ${field}\\??: `)) + 1;
  expect(at, `${iface}.${field}`).toBeGreaterThan(0);
  return body.slice(body.lastIndexOf('/**', at), at);
}

/** The optional fields of `interface <name> ... { ... }` in `text`. */
function fieldsOf(text: string, name: string): string[] {
  const start = text.indexOf(`export interface ${name} `);
  expect(start, name).toBeGreaterThanOrEqual(0);
  const body = text.slice(start, text.indexOf('\n}\n', start));
  return [...body.matchAll(/^ {2}readonly (\w+)\?:/gm)].map((m) => m[1]!);
}

/** The first-column names of README's defaults table (after "The defaults (see `TierlogProps`"). */
function readmeProps(): string[] {
  const readme = source('README.md');
  const table = readme.slice(readme.indexOf('The defaults (see `TierlogProps`'));
  const rows = table
    .split('\n')
    .slice(2)
    .filter((l) => l.startsWith('|'));
  const end = table
    .split('\n')
    .slice(2)
    .findIndex((l, i) => i > 0 && !l.startsWith('|'));
  return rows.slice(0, end).flatMap((row) => [...row.split('|')[1]!.matchAll(/`(\w+)`/g)].map((m) => m[1]!));
}

describe('README: the construct props table', () => {
  it('lists every prop of TierlogProps', () => {
    const props = [
      ...fieldsOf(source('infra/tierlog.ts'), 'TierlogProps'),
      ...fieldsOf(source('infra/function.ts'), 'TierlogFunctionOptions'),
    ];
    expect(props.length).toBeGreaterThan(20);
    expect(readmeProps().sort()).toEqual([...new Set(props)].sort());
  });

  // The props the construct refuses beside a bucket of the user's said so in their rows
  // (noncurrentVersionExpiration, corsAllowedOrigins), but auditAtScale's row and TSDoc did not:
  // an app designed around its own bucket and the audit at scale met the refusal at its first synth.
  it('says of each prop refused with your own bucket that it is', () => {
    const readme = source('README.md');
    const rowOf = (prop: string) => readme.split('\n').find((l) => l.startsWith(`| \`${prop}\``)) ?? '';
    const candidates: Array<[string, TierlogProps]> = [
      ['noncurrentVersionExpiration', { noncurrentVersionExpiration: Duration.days(3) }],
      ['corsAllowedOrigins', { corsAllowedOrigins: ['https://app.example.com'] }],
      ['auditAtScale', { auditAtScale: true }],
      ['sweeperTimeout', { sweeperTimeout: Duration.minutes(6) }],
    ];
    const refused = candidates
      .filter(([, props]) => {
        const { stack } = userStack();
        try {
          new Tierlog(stack, 'Storage', { bucket: s3.Bucket.fromBucketName(stack, 'Mine', 'my-blobs'), ...props });
          return false;
        } catch {
          return true;
        }
      })
      .map(([prop]) => prop);
    expect(refused).toEqual(['noncurrentVersionExpiration', 'corsAllowedOrigins', 'auditAtScale']);
    for (const prop of refused) expect(rowOf(prop), prop).toMatch(/refused with your own `bucket`/);
    for (const prop of refused)
      expect(fieldDoc('infra/tierlog.ts', 'TierlogProps', prop).replace(/\n\s*\*\s*/g, ' '), prop).toMatch(/refused with `bucket`/);
  });
});

describe('infra/README-deploy.md: the SweeperNotRunning window it states is the one the construct makes', () => {
  /**
   * It said three times the shortest `rate(...)` of the sweep schedules, and a day for cron
   * schedules: the construct reads a `cron(...)` of every day too (hourly: 3 hours), and the
   * housekeeping schedules (sweeps hourly, housekeeping every 10 minutes: 30 minutes). Its worked
   * examples are synthesized here.
   */
  const readme = source('infra/README-deploy.md');
  const clause = readme.slice(
    readme.indexOf('sweeper not running ('),
    readme.indexOf('missing data breaches', readme.indexOf('sweeper not running (')),
  );
  const examples = [...clause.matchAll(/sweeps `([^`]+)` with housekeeping `([^`]+)`: (\d+) (minutes|hours?)/g)].map((m) => ({
    sweep: m[1]!,
    housekeeping: m[2]!,
    minutes: Number(m[3]) * (m[4]!.startsWith('hour') ? 60 : 1),
  }));

  it('gives worked examples, and no window for cron schedules the construct does not make', () => {
    expect(clause).not.toMatch(/a day for cron schedules/);
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it('each worked example is the window of the alarm synthesized with those schedules', () => {
    for (const { sweep, housekeeping, minutes } of examples) {
      const { stack: s, template: t } = tierlogTemplate({
        sweepSchedule: scheduler.ScheduleExpression.expression(sweep),
        sweepHousekeepingSchedule: scheduler.ScheduleExpression.expression(housekeeping),
      });
      const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.sweeperNotRunning)]!;
      expect(a.Properties!['EvaluationPeriods'], `${sweep} / ${housekeeping}`).toBe(minutes / 5);
    }
  });
});

describe('infra/README-deploy.md: the OldestExpiredAge threshold it states is the one the construct makes', () => {
  /**
   * It said "older than 15 minutes", the threshold with the default schedules only: the construct
   * makes it the skew margin and the shortest interval of the sweep and housekeeping schedules,
   * rounded up to minutes, plus 13 minutes, so a deployment sweeping hourly (housekeeping every
   * 10 minutes) is alarmed at 24 minutes, one sweeping and housekeeping hourly at 74. An operator
   * who went by it waited for an alarm at 15 minutes that was not coming. Its worked examples are
   * synthesized here.
   */
  const readme = source('infra/README-deploy.md');
  const start = readme.indexOf('oldest expired instance older than');
  const clause = readme.slice(start, readme.indexOf(', blob deletes failing', start));
  const examples = [...clause.matchAll(/sweeps `([^`]+)` with housekeeping `([^`]+)`: (\d+) minutes/g)].map((m) => ({
    sweep: m[1]!,
    housekeeping: m[2]!,
    minutes: Number(m[3]),
  }));

  it('names the prop and gives worked examples, not 15 minutes whatever the schedules', () => {
    expect(start).toBeGreaterThanOrEqual(0);
    expect(clause).toContain('`oldestExpiredAgeThreshold`');
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it('each worked example is the threshold of the alarm synthesized with those schedules', () => {
    for (const { sweep, housekeeping, minutes } of examples) {
      const { stack: s, template: t } = tierlogTemplate({
        sweepSchedule: scheduler.ScheduleExpression.expression(sweep),
        sweepHousekeepingSchedule: scheduler.ScheduleExpression.expression(housekeeping),
      });
      const a = resourcesOf(t, 'AWS::CloudWatch::Alarm')[logicalIdOf(s, s.tierlog.alarms.oldestExpiredAge)]!;
      expect(a.Properties!['Threshold'], `${sweep} / ${housekeeping}`).toBe(minutes * 60_000);
    }
  });
});

describe('infra/README-deploy.md: its alarms rows name every alarm the construct deploys', () => {
  /**
   * The rows are what a deployment gets, read before the runbook: they left out `ReferencedKept`
   * (a removed item's blob the objects table points at again) and the not-running alarm of each
   * fan-out group (`sweeperParallelism` above 1: one alarm and one custom metric more per group),
   * and named none by the id its description and the runbook's row carry. Each is named here by
   * that id, a group's without its number.
   */
  const readme = source('infra/README-deploy.md');
  const rows = readme
    .split('\n')
    .filter((l) => /^\| alarms\b/.test(l))
    .join('\n');

  it('each alarm, by its id', () => {
    const { stack } = tierlogTemplate({ sweeperParallelism: 2, auditAtScale: true });
    const ids = [
      ...new Set(
        [
          ...Object.values(stack.tierlog.alarms),
          ...stack.tierlog.sweeperGroupsNotRunning,
          ...stack.tierlog.housekeepingGroupsNotRunning,
          ...Object.values(stack.tierlog.auditAtScale?.alarms ?? {}),
        ].map((a) => a.node.id.replace(/\d+$/, '')),
      ),
    ];
    expect(ids.length).toBeGreaterThanOrEqual(18);
    expect(ids.filter((id) => !rows.includes(`\`${id}`))).toEqual([]);
  });
});
describe('README and infra/README-deploy.md: when the audit at scale has no AuditNotRunning', () => {
  /**
   * Both said the alarm was absent on "a schedule of some days only", and the README sent such a
   * schedule's owner to check it by hand: an `at(...)` and runs more than 3 days apart (a weekly
   * `rate(7 days)`, whose window of two intervals and a day passes the 7 days an alarm of hourly
   * periods looks back) have none either, and their owners relied on an alarm they did not have.
   */
  const auditNotRunning = (schedule: scheduler.ScheduleExpression) =>
    tierlogTemplate({ auditAtScale: { schedule } }).stack.tierlog.auditAtScale!.alarms.auditNotRunning;

  it('the construct: runs 3 days apart have it, 4 days apart or at(...) not', () => {
    expect(auditNotRunning(scheduler.ScheduleExpression.rate(Duration.days(3)))).toBeDefined();
    expect(auditNotRunning(scheduler.ScheduleExpression.rate(Duration.days(4)))).toBeUndefined();
    expect(auditNotRunning(scheduler.ScheduleExpression.expression('at(2030-01-01T06:00:00)'))).toBeUndefined();
  });

  it('each document says so where it states when the alarm is absent', () => {
    const readme = source('README.md');
    const deploy = source('infra/README-deploy.md');
    const runbookRow = readme.split('\n').find((l) => l.includes('`AuditNotRunning` (`auditAtScale`)')) ?? '';
    const deployRow = deploy.split('\n').find((l) => /^\| alarms\b/.test(l) && l.includes('`AuditNotRunning`')) ?? '';
    const stateParagraph = readme.slice(
      readme.indexOf('on a schedule with no `AuditNotRunning`'),
      readme.indexOf("the audit's last report is old"),
    );
    for (const [where, text] of [
      ['README runbook row', runbookRow],
      ['README-deploy alarms row', deployRow],
      ['README on alarms back to OK', stateParagraph],
    ] as const) {
      const flat = text.replace(/\s+/g, ' ');
      expect(flat, where).toContain('`at(...)`');
      expect(flat, where).toContain('a cron of some days only');
      expect(flat, where).toContain('runs more than 3 days apart');
    }
  });
});
describe("HousekeepingNotRunning's window: three housekeeping intervals, at most 7 days", () => {
  /**
   * The README's runbook row, infra/README-deploy.md and `TierlogAlarms.housekeepingNotRunning`
   * said three housekeeping intervals with no ceiling: a daily housekeeping schedule was promised
   * three days, and the alarm looks back one, so it fires whenever a daily housekeeping sweep
   * publishes late, on a sweeper that is running. Past a day it looks back in hourly periods (7
   * days of them can be evaluated): three days for housekeeping a day apart.
   */
  const windowOf = (schedule: scheduler.ScheduleExpression) => {
    const alarm = tierlogTemplate({ sweepHousekeepingSchedule: schedule }).stack.tierlog.alarms.housekeepingNotRunning!;
    const { evaluationPeriods, metrics } = alarm.node.defaultChild as cloudwatch.CfnAlarm;
    const [query] = metrics as cloudwatch.CfnAlarm.MetricDataQueryProperty[];
    return (evaluationPeriods! * (query!.metricStat as cloudwatch.CfnAlarm.MetricStatProperty).period) / 60;
  };

  it('the construct: 30 minutes by default, three days for housekeeping a day apart, 7 days at most', () => {
    expect(windowOf(scheduler.ScheduleExpression.rate(Duration.minutes(10)))).toBe(30);
    expect(windowOf(scheduler.ScheduleExpression.rate(Duration.days(1)))).toBe(3 * 24 * 60);
    expect(windowOf(scheduler.ScheduleExpression.rate(Duration.days(7)))).toBe(7 * 24 * 60);
  });

  it('each document states the ceiling', () => {
    const flat = (path: string) => source(path).replace(/\s+/g, ' ');
    const runbookRow = source('README.md')
      .split('\n')
      .find((l) => l.startsWith('| `HousekeepingNotRunning`'));
    expect(runbookRow).toContain("three housekeeping intervals (at least the sweeper's timeout and 10 minutes, at most 7 days)");
    expect(flat('infra/README-deploy.md')).toContain(
      "three housekeeping intervals, at least the sweeper's timeout and 10 minutes, at most 7 days, in hourly periods past a day",
    );
    expect(flat('README.md')).toContain('`HousekeepingNotRunning` looks back three housekeeping intervals, at most 7 days');
    expect(flat('infra/monitoring.ts')).toContain("sweeper's timeout and 10 minutes, at most 7 days");
  });
});

describe('README\'s "What the alarms cannot see": every blind spot the construct warns of at synth', () => {
  it('names each warning code of the monitoring that says an alarm flaps', () => {
    const readme = source('README.md');
    const start = readme.indexOf('**What the alarms cannot see**');
    expect(start).toBeGreaterThanOrEqual(0);
    const paragraph = readme.slice(start, readme.indexOf('\n- ', start));
    const codes = [...new Set([...source('infra/monitoring.ts').matchAll(/'(tierlog:\w+Flaps?)'/g)].map((m) => m[1]!))];
    expect(codes.length).toBeGreaterThan(0);
    expect(codes.filter((code) => !paragraph.includes(`\`${code}\``))).toEqual([]);
  });
});

describe("TierlogAlarms' TSDoc: each failure alarm that cannot watch sweeps a week apart says so", () => {
  it.each(['sweeperErrors', 'entriesFailing', 'entriesQuarantined'])('%s names tierlog:failureAlarmsFlap', (field) => {
    expect(fieldDoc('infra/monitoring.ts', 'TierlogAlarms', field)).toContain('`tierlog:failureAlarmsFlap`');
  });
});

describe("AuditAtScaleOptions.delete's TSDoc: everything the option deletes", () => {
  it('names the expired objects whose items it removes, and the grant it adds, beside the orphans', () => {
    const doc = fieldDoc('infra/audit-at-scale.ts', 'AuditAtScaleOptions', 'delete');
    expect(doc).toContain('orphans');
    expect(doc).toMatch(/expired long ago/);
    expect(doc).toContain('`dynamodb:DeleteItem`');
  });

  it("and so does the listing audit's AuditOptions.delete (tierlog/operations' audit)", () => {
    const doc = fieldDoc('lib/recovery/audit.ts', 'AuditOptions', 'delete');
    expect(doc).toContain('orphans');
    expect(doc).toMatch(/expired long ago/);
  });
});

describe("the snapshot audit's expired objects: a blob another object's item points at is left", () => {
  // The query proposes no such blob, and the re-verification keeps such an item with its blob: the
  // removal's REMOVE would have the objects-stream function delete the blob under the other item.
  const flat = (path: string) => source(path).replace(/\s+/g, ' ');
  it("infra/README-deploy.md's query paragraph says the expired rows leave it", () => {
    const doc = flat('infra/README-deploy.md');
    const query = doc.slice(doc.indexOf('**The query**'), doc.indexOf('**Nothing is deleted on a snapshot'));
    expect(query).toMatch(/`expired` rows.*but for a blob an item of another object in the export points at too/);
  });
  it("the README's audit at scale says so beside the removal of the expired items", () => {
    const doc = flat('README.md');
    const atScale = doc.slice(doc.indexOf('**Audit at scale**'), doc.indexOf('**Sweeper tuning**'));
    expect(atScale).toMatch(
      /its item removed as TTL would, then its blob deleted after an orphan's re-check; not a blob an item of another object points at/,
    );
  });
});

describe("docs/DESIGN.md's list of alarms: the not-running alarms the construct deploys", () => {
  it('names the housekeeping, fan-out groups and audit-at-scale ones beside the sweeper', () => {
    const design = source('docs/DESIGN.md');
    const start = design.indexOf('Alarms on sweeper errors');
    expect(start).toBeGreaterThan(0);
    const list = design.slice(start, design.indexOf('A test runs each function', start)).replace(/\s+/g, ' ');
    expect(list).toContain('housekeeping sweeps that stopped running');
    expect(list).toContain('fan-out group');
    expect(list).toContain('`AuditNotRunning`');
  });
});
