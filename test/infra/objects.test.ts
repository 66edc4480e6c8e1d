import { afterAll, describe, expect, it } from 'vitest';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_ENV } from '../../lib/config.js';
import { TierlogStack } from '../../infra/stack.js';
import { cleanOutdirs, logicalIdOf, newApp, onlyResource, resourcesOf, tierlogTemplate } from './helpers.js';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const fnId = logicalIdOf(stack, stack.tierlog.objectsFunction!);

describe('objects function', () => {
  it('is Node.js 24 on ARM64 with the writer configuration and Powertools names', () => {
    const fn = resourcesOf(template, 'AWS::Lambda::Function')[fnId]!;
    expect(fn.Properties).toMatchObject({
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 30,
      MemorySize: 512,
    });
    const vars = (fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables;
    expect(vars).toMatchObject({
      POWERTOOLS_SERVICE_NAME: 'tierlog-objects',
      POWERTOOLS_METRICS_NAMESPACE: 'Tierlog',
      NODE_OPTIONS: '--enable-source-maps',
    });
    for (const variable of Object.values(CONFIG_ENV)) expect(vars).toHaveProperty(variable);
    expect(fn.Properties!['ReservedConcurrentExecutions']).toBeUndefined();
  });

  it('has a Function URL with IAM auth by default', () => {
    const [, url] = onlyResource(template, 'AWS::Lambda::Url');
    expect(url.Properties).toEqual({ AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] } });
    // No resource-based permission opens it to anyone.
    expect(resourcesOf(template, 'AWS::Lambda::Permission')).toEqual({});
    template.hasOutput('ObjectsFunctionUrl', {
      Value: { 'Fn::GetAtt': [logicalIdOf(stack, stack.tierlog.objectsFunctionUrl!), 'FunctionUrl'] },
    });
  });

  it('objectsFunctionUrlAuth NONE makes a public URL', () => {
    const { template: t } = tierlogTemplate({ objectsFunctionUrlAuth: lambda.FunctionUrlAuthType.NONE });
    expect(onlyResource(t, 'AWS::Lambda::Url')[1].Properties!['AuthType']).toBe('NONE');
    expect(JSON.stringify(resourcesOf(t, 'AWS::Lambda::Permission'))).toContain('lambda:InvokeFunctionUrl');
  });

  it('grantInvokeObjectsUrl lets a principal call the URL of this function only (and nothing else)', () => {
    const app = newApp();
    const fresh = new TierlogStack(app, 'Tierlog');
    const role = new iam.Role(fresh, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });
    fresh.tierlog.grantInvokeObjectsUrl(role);
    const t = Template.fromStack(fresh);
    const fn = { 'Fn::GetAtt': [logicalIdOf(fresh, fresh.tierlog.objectsFunction!), 'Arn'] };
    t.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: logicalIdOf(fresh, role) }],
      PolicyDocument: {
        Statement: [
          {
            Action: 'lambda:InvokeFunctionUrl',
            Effect: 'Allow',
            Resource: fn,
            Condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } },
          },
          { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: fn, Condition: { Bool: { 'lambda:InvokedViaFunctionUrl': true } } },
        ],
      },
    });
  });

  it('objectsFunction: false leaves it out', () => {
    const { stack: s, template: t } = tierlogTemplate({ objectsFunction: false });
    expect(Object.keys(resourcesOf(t, 'AWS::Lambda::Function')).sort()).toEqual(
      [logicalIdOf(s, s.tierlog.sweeperFunction), logicalIdOf(s, s.tierlog.objectsStream.function)].sort(),
    );
    expect(resourcesOf(t, 'AWS::Lambda::Url')).toEqual({});
    expect(s.tierlog.objectsFunction).toBeUndefined();
    expect(() => s.tierlog.grantInvokeObjectsUrl(new iam.AccountRootPrincipal())).toThrow(/no objects function/);
  });
});
