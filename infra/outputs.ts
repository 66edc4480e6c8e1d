/** Stack outputs of a {@link Tierlog}: its configuration for writers and the CLI, and where to look. */
import { CfnOutput } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { CONFIG_ENV } from '../lib/config.js';
import { SWEEPER_ENV } from '../lib/recovery/sweeper-env.js';
import type { Tierlog } from './tierlog.js';

/**
 * Adds, in `scope`, one output per configuration variable `loadConfig` reads (named after the
 * option: `ChangeLogTable`, `ObjectsTable`, `Bucket`, `Prefix`, `LeaseShards`, `HvAttributes`,
 * `ReplacedBlobCleanup`), one per sweeper tuning variable `sweeperTuning` sets (`Sweeper` and the
 * setting: `SweeperMaxUploadMs` for `TIERLOG_MAX_UPLOAD_MS`, ...: a CLI without them sweeps and
 * judges on the default windows, not the deployment's), and
 * `ObjectsFunctionUrl`, `SweeperFunctionName`, `DashboardName`.
 */
export function addTierlogOutputs(scope: Construct, tierlog: Tierlog): void {
  for (const [option, variable] of Object.entries(CONFIG_ENV)) {
    const value = tierlog.writerEnvironment[variable];
    if (value === undefined) continue;
    const id = option.charAt(0).toUpperCase() + option.slice(1);
    new CfnOutput(scope, id, { value, description: `${variable}, for writers and the tierlog CLI` });
  }
  for (const [setting, variable] of Object.entries(SWEEPER_ENV)) {
    const value = tierlog.sweeper.tuningEnvironment[variable];
    if (value === undefined) continue;
    const id = `Sweeper${setting.charAt(0).toUpperCase()}${setting.slice(1)}`;
    new CfnOutput(scope, id, { value, description: `${variable}, for the tierlog CLI (sweep, inspect, status judge as the sweeper does)` });
  }
  if (tierlog.objectsFunctionUrl) {
    new CfnOutput(scope, 'ObjectsFunctionUrl', {
      value: tierlog.objectsFunctionUrl.url,
      description: 'Function URL of the reference objects API: /objects/{key}',
    });
  }
  new CfnOutput(scope, 'SweeperFunctionName', { value: tierlog.sweeperFunction.functionName });
  new CfnOutput(scope, 'DashboardName', { value: tierlog.dashboard.dashboardName });
}
