/**
 * The two pieces every tierlog function's failure path shares: a queue for what could not be
 * delivered or processed, and alarm actions wired to both ALARM and OK (so an on-call channel
 * hears the recovery too).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

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
