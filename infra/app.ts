/**
 * The CDK app (`npx cdk synth | deploy`, see cdk.json): one {@link TierlogStack}, checked by
 * cdk-nag's AwsSolutions pack as a validation plugin (synth fails on an unacknowledged finding).
 * Environment-agnostic unless CDK_DEFAULT_ACCOUNT/REGION are set (by `cdk deploy` with credentials).
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { TierlogStack } from './stack.js';

const app = new App();
const account = process.env.CDK_DEFAULT_ACCOUNT;
const region = process.env.CDK_DEFAULT_REGION;
new TierlogStack(app, app.node.tryGetContext('tierlog:stackName') ?? 'Tierlog', {
  ...(account !== undefined && region !== undefined ? { env: { account, region } } : {}),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
