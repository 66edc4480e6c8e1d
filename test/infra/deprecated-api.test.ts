/**
 * tierlog's constructs use no deprecated aws-cdk-lib API: each one prints a deprecation warning at
 * every synth of the user's app, naming an API the app does not call, and fails the synth of an
 * app run with `JSII_DEPRECATED=fail` (CDK's way to check an app is ready for the next major
 * version). aws-cdk-lib reads the variable at each call, and warns of an API once per process:
 * this file sets it before its first construct.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TierlogStack } from '../../infra/stack.js';
import { cleanOutdirs, newApp } from './helpers.js';

const before = process.env.JSII_DEPRECATED;
beforeAll(() => {
  process.env.JSII_DEPRECATED = 'fail';
});
afterAll(() => {
  if (before === undefined) delete process.env.JSII_DEPRECATED;
  else process.env.JSII_DEPRECATED = before;
  cleanOutdirs();
});

describe('under JSII_DEPRECATED=fail', () => {
  it.each([true, false])(
    'the stack with every part (audit at scale, fan-out groups) synthesizes (feature flags of cdk.json: %s)',
    (flags) => {
      const app = newApp({ flags });
      const stack = new TierlogStack(app, 'Tierlog', { tierlog: { auditAtScale: true, sweeperParallelism: 2 } });
      expect(Template.fromStack(stack).findResources('AWS::Glue::Table')).not.toEqual({});
    },
  );
});
