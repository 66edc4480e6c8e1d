/** A stack with one {@link Tierlog} and outputs for the CLI and writers. */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { addTierlogOutputs } from './outputs.js';
import { Tierlog, type TierlogProps } from './tierlog.js';

/** Properties of {@link TierlogStack}. */
export interface TierlogStackProps extends StackProps {
  /**
   * Properties of the tierlog construct. The stack adds the outputs itself, at its top level, so
   * the construct's `outputs` is not used here (set to true, it would output everything twice).
   *
   * @default - the construct's defaults
   */
  readonly tierlog?: TierlogProps;
}

/** tierlog on its own: tables, bucket, sweeper, objects function, alarms, dashboard. */
export class TierlogStack extends Stack {
  /** The construct. */
  public readonly tierlog: Tierlog;

  constructor(scope: Construct, id: string, props: TierlogStackProps = {}) {
    super(scope, id, { description: 'tierlog: durable change log and garbage collector for DynamoDB + S3 tiered storage', ...props });
    this.tierlog = new Tierlog(this, 'Tierlog', { ...props.tierlog, outputs: false });

    addTierlogOutputs(this, this.tierlog);
  }
}
