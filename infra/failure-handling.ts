/**
 * What every tierlog function's failure path shares: a queue for what could not be delivered or
 * processed, alarm actions wired to both ALARM and OK (so an on-call channel hears the recovery
 * too), and alarm descriptions that name their runbook.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct, IConstruct } from 'constructs';

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

/** Sends each alarm's ALARM and OK transitions to every action. */
export function addAlarmActions(alarms: Iterable<cloudwatch.Alarm>, actions: readonly cloudwatch.IAlarmAction[] | undefined): void {
  for (const alarm of alarms) {
    for (const action of actions ?? []) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
  }
}

/** Where every alarm's description sends the person it pages: the README's runbook. */
export const RUNBOOK = 'the tierlog README (node_modules/tierlog/README.md), "When an alarm fires"';

/**
 * Ends the description of every alarm under `scope` with where its runbook row is: the table of
 * "When an alarm fires" in the README, by the alarm's id (`SweeperErrors`, `LostBlobs`, ...).
 */
export function pointAlarmsAtRunbook(scope: IConstruct): void {
  for (const node of scope.node.findAll()) {
    if (!(node instanceof cloudwatch.Alarm)) continue;
    const alarm = node.node.defaultChild as cloudwatch.CfnAlarm;
    alarm.alarmDescription = `${alarm.alarmDescription ?? ''} Runbook: ${RUNBOOK}, ${node.node.id}.`.trim();
  }
}
