/** A stack with one {@link Tierlog} and outputs for the CLI and writers. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CONFIG_ENV } from '../lib/config.js';
import { Tierlog, type TierlogProps } from './tierlog.js';

/** Properties of {@link TierlogStack}. */
export interface TierlogStackProps extends StackProps {
  /**
   * Properties of the tierlog construct.
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
    this.tierlog = new Tierlog(this, 'Tierlog', props.tierlog);

    // The configuration, named after the variables `loadConfig` reads (for the CLI and writers).
    for (const [option, variable] of Object.entries(CONFIG_ENV)) {
      const value = this.tierlog.writerEnvironment[variable];
      if (value === undefined) continue;
      const id = option.charAt(0).toUpperCase() + option.slice(1);
      new CfnOutput(this, id, { value, description: `${variable}, for writers and the tierlog CLI` });
    }
    if (this.tierlog.objectsFunctionUrl) {
      new CfnOutput(this, 'ObjectsFunctionUrl', { value: this.tierlog.objectsFunctionUrl.url, description: 'Function URL of the reference objects API: /objects/{key}' });
    }
    new CfnOutput(this, 'SweeperFunctionName', { value: this.tierlog.sweeperFunction.functionName });
    new CfnOutput(this, 'DashboardName', { value: this.tierlog.dashboard.dashboardName });
  }
}
