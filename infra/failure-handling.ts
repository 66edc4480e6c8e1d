/**
 * What every tierlog function's failure path shares: a queue for what could not be delivered or
 * processed, alarm actions wired to both ALARM and OK (so an on-call channel hears the recovery
 * too), alarm descriptions that name their runbook, and a log level that keeps the lines that
 * runbook names.
 */
import { Duration, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';
import { ConfigError } from '../lib/errors.js';

/**
 * An encrypted, TLS-only queue that keeps messages 14 days (SQS's maximum). Its messages name
 * events (sweep invocations, stream records), never data, so it is destroyed with the stack.
 */
export function failureQueue(scope: Construct, id: string): sqs.Queue {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
    removalPolicy: RemovalPolicy.DESTROY,
  });
}

/**
 * Sends each alarm's ALARM and OK transitions to every action.
 *
 * @throws Error naming `alarmActions` when it is not a list of alarm actions (see {@link checkAlarmActions}).
 */
export function addAlarmActions(alarms: Iterable<cloudwatch.Alarm>, actions: readonly cloudwatch.IAlarmAction[] | undefined): void {
  checkAlarmActions(actions);
  for (const alarm of alarms) {
    for (const action of actions ?? []) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}

/**
 * Refuses an `alarmActions` that is not a list of CloudWatch alarm actions (objects with `bind`,
 * `new SnsAction(topic)`): a CDK context value or a JavaScript app's topic ARN, alone or in a list,
 * failed the synth with a bare TypeError (`a.bind is not a function`) that named neither the prop
 * nor what it got.
 *
 * @throws Error naming `alarmActions` (or the element) and the value.
 */
export function checkAlarmActions(actions: unknown): void {
  if (actions === undefined) return;
  const shown = (v: unknown) => `${JSON.stringify(v)?.slice(0, 100) ?? String(v)} (${typeof v})`;
  if (!Array.isArray(actions)) {
    throw new Error(`alarmActions must be a list of alarm actions (new SnsAction(topic), ...), got ${shown(actions)}`);
  }
  const at = actions.findIndex((a: unknown) => typeof (a as { bind?: unknown } | null | undefined)?.bind !== 'function');
  if (at >= 0) {
    throw new Error(`alarmActions[${at}] is not an alarm action (new SnsAction(topic), ...): got ${shown(actions[at])}`);
  }
}

/** Where every alarm's description sends the person it pages: the README's runbook. */
export const RUNBOOK = 'the tierlog README (node_modules/tierlog/README.md), "When an alarm fires"';

/**
 * Ends the description of every alarm under `scope` with where its runbook row is: the table of
 * "When an alarm fires" in the README, by the alarm's id (`SweeperErrors`, `LostBlobs`, ...). Each
 * part that makes alarms calls it (a part is deployed on its own too, and the person its alarm
 * pages needs the row as much), and the `Tierlog` construct over them: an alarm that names
 * its runbook already is left as it is.
 */
export function pointAlarmsAtRunbook(scope: IConstruct): void {
  for (const node of scope.node.findAll()) {
    if (!(node instanceof cloudwatch.Alarm)) continue;
    const alarm = node.node.defaultChild as cloudwatch.CfnAlarm;
    if (alarm.alarmDescription?.includes(` Runbook: ${RUNBOOK}, `)) continue;
    alarm.alarmDescription = `${alarm.alarmDescription ?? ''} Runbook: ${RUNBOOK}, ${RUNBOOK_ROWS.get(node) ?? node.node.id}.`.trim();
  }
}

/** The runbook rows of alarms one row serves (one per fan-out group): their ids are not the row's. */
const RUNBOOK_ROWS = new WeakMap<cloudwatch.Alarm, string>();

/** Makes {@link pointAlarmsAtRunbook} name `row` for `alarm`, whose id is not its row's (`SweeperGroupNotRunning3`). */
export function atRunbookRow(alarm: cloudwatch.Alarm, row: string): cloudwatch.Alarm {
  RUNBOOK_ROWS.set(alarm, row);
  return alarm;
}

/** The variables Powertools' logger takes its level from: the first one set (not blank) decides. */
const LOG_LEVEL_VARIABLES = ['POWERTOOLS_LOG_LEVEL', 'LOG_LEVEL'] as const;

/** Powertools' log levels above WARN: a logger at one of them drops every warning. */
const LEVELS_WITHOUT_WARNINGS: readonly string[] = ['ERROR', 'CRITICAL', 'SILENT'];

/**
 * Refuses a function `environment` whose Powertools log level drops warnings (`ERROR`,
 * `CRITICAL`, `SILENT` in `POWERTOOLS_LOG_LEVEL`, or in `LOG_LEVEL` when that is unset): the lines
 * the runbook sends an alarm's reader to are warnings (`blob deletes failed`, `entry quarantined`,
 * `suspect lease`, `blob of a removed item is referenced again`, `request answered 503`), so the
 * alarm would fire with nothing in the log to say why. A level not known at synth (a token) is not
 * read, and stops the check: it may decide, so a `LOG_LEVEL` after it is not judged either.
 *
 * @throws ConfigError naming the variable.
 */
export function checkLogLevelKeepsWarnings(environment: Readonly<Record<string, string>>, handler: string): void {
  for (const variable of LOG_LEVEL_VARIABLES) {
    const value = environment[variable];
    if (value === undefined || value.trim() === '') continue;
    // Known only at deploy, it decides (or, blank then, the next does): nothing here can be judged.
    if (Token.isUnresolved(value)) return;
    const level = value.trim().toUpperCase();
    if (!LEVELS_WITHOUT_WARNINGS.includes(level)) return;
    throw new ConfigError(
      `${variable} ${JSON.stringify(value.slice(0, 40))} in the ${handler} function's environment drops its warnings, and the lines the alarms' runbook names are warnings ("blob deletes failed", "entry quarantined", "suspect lease", "request answered 503", ...): an alarm would fire with nothing in the log to say why. Give WARN (or a more verbose level), or leave it unset (INFO)`,
      variable,
    );
  }
}
