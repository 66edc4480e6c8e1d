import { afterAll, describe, expect, it } from 'vitest';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_ENV } from '../../lib/config.js';
import { S3_SOCKET_TIMEOUT_MS } from '../../lib/constants.js';
import { ObjectsFunction } from '../../infra/objects-function.js';
import { TierlogStack } from '../../infra/stack.js';
import { Tierlog } from '../../infra/tierlog.js';
import { cleanOutdirs, logicalIdOf, newApp, onlyResource, resourcesOf, tierlogTemplate, userStack } from './helpers.js';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const fnId = logicalIdOf(stack, stack.tierlog.objectsFunction!);

/** The resources of `tierlog`, for a part given them on its own. */
function resourcesOfTierlog(tierlog: Tierlog) {
  return { changeLogTable: tierlog.changeLogTable, objectsTable: tierlog.objectsTable, bucket: tierlog.bucket, prefix: tierlog.prefix };
}

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

  // Its S3 client gives up a request whose answer was lost after S3_SOCKET_TIMEOUT_MS of silence
  // and sends it again: at the function's timeout itself, the answer would be Lambda's 502.
  it('leaves room in its timeout for an S3 request given up idle and sent again', () => {
    const fn = resourcesOf(template, 'AWS::Lambda::Function')[fnId]!;
    expect(Number(fn.Properties!['Timeout']) * 1000).toBeGreaterThanOrEqual(3 * S3_SOCKET_TIMEOUT_MS);
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

  it('refuses an objectsFunctionUrlAuth that is not AWS_IAM or NONE (a context value: "none" deployed a URL CloudFormation refused)', () => {
    for (const value of ['none', 'IAM', ''])
      expect(() => tierlogTemplate({ objectsFunctionUrlAuth: value as lambda.FunctionUrlAuthType }), value).toThrow(
        `objectsFunctionUrlAuth must be AWS_IAM or NONE (lambda.FunctionUrlAuthType), got ${JSON.stringify(value)}`,
      );
  });

  // ObjectsFunction used on its own passed its authType to the URL unchecked: a JavaScript app's or
  // a context value's "none" synthesized, and CloudFormation refused the URL at deploy (the stack
  // rolled back), where the Tierlog construct refuses the same value at synth.
  it('ObjectsFunction used on its own refuses an authType that is not AWS_IAM or NONE, naming it', () => {
    for (const value of ['none', 'IAM', '']) {
      const { stack: user } = userStack();
      const t = new Tierlog(user, 'T', { objectsFunction: false });
      expect(
        () =>
          new ObjectsFunction(user, 'Api', {
            resources: resourcesOfTierlog(t),
            environment: { ...t.writerEnvironment },
            authType: value as lambda.FunctionUrlAuthType,
          }),
        value,
      ).toThrow(`authType must be AWS_IAM or NONE (lambda.FunctionUrlAuthType), got ${JSON.stringify(value)}`);
    }
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

describe('objectsTuning', () => {
  const envOf = (s: typeof stack, t: typeof template) =>
    (
      resourcesOf(t, 'AWS::Lambda::Function')[logicalIdOf(s, s.tierlog.objectsFunction!)]!.Properties!['Environment'] as {
        Variables: Record<string, unknown>;
      }
    ).Variables;

  it('unset: the objects function gets no TIERLOG_INLINE_THRESHOLD (the store keeps 8 KiB)', () => {
    expect(envOf(stack, template)).not.toHaveProperty('TIERLOG_INLINE_THRESHOLD');
  });

  it('inlineThreshold reaches the objects function as TIERLOG_INLINE_THRESHOLD, and only it', () => {
    const { stack: s, template: t } = tierlogTemplate({ objectsTuning: { inlineThreshold: 65_536 } });
    expect(envOf(s, t)).toMatchObject({ TIERLOG_INLINE_THRESHOLD: '65536' });
    expect(s.tierlog.writerEnvironment).not.toHaveProperty('TIERLOG_INLINE_THRESHOLD');
    for (const [id, fn] of Object.entries(resourcesOf(t, 'AWS::Lambda::Function'))) {
      if (id === logicalIdOf(s, s.tierlog.objectsFunction!)) continue;
      expect((fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables, id).not.toHaveProperty(
        'TIERLOG_INLINE_THRESHOLD',
      );
    }
  });

  it.each([-1, 1.5, 393_217, Number.NaN])(
    'refuses inlineThreshold %d at synth, naming the prop (the function would fail to start)',
    (value) => {
      expect(() => tierlogTemplate({ objectsTuning: { inlineThreshold: value } })).toThrow(
        /objectsTuning\.inlineThreshold must be an integer in 0\.\.393216/,
      );
    },
  );

  it.each([0, 393_216])('takes inlineThreshold %d (the ends of the range)', (value) => {
    const { stack: s, template: t } = tierlogTemplate({ objectsTuning: { inlineThreshold: value } });
    expect(envOf(s, t)['TIERLOG_INLINE_THRESHOLD']).toBe(String(value));
  });

  it('ObjectsFunction used on its own: an IAM-authenticated URL by default; a 5xx threshold that is not a positive integer is refused (at 0 the alarm is up whenever a request comes)', () => {
    const { stack: s } = userStack();
    const tierlog = new Tierlog(s, 'Storage', { objectsFunction: false });
    const resources = resourcesOfTierlog(tierlog);
    const api = (id: string, serverErrorsThreshold: number) => () =>
      new ObjectsFunction(s, id, { resources, environment: { ...tierlog.writerEnvironment }, serverErrorsThreshold });
    expect(api('Zero', 0)).toThrow(/serverErrorsThreshold must be a positive integer, got 0/);
    expect(api('Fraction', 2.5)).toThrow(/serverErrorsThreshold must be a positive integer, got 2.5/);
    expect(api('One', 1)).not.toThrow();
    // No authType given: not a public URL.
    const own = new ObjectsFunction(s, 'Own', { resources, environment: { ...tierlog.writerEnvironment } });
    const urls = Object.values(resourcesOf(Template.fromStack(s), 'AWS::Lambda::Url')).filter(
      (u) => JSON.stringify(u.Properties!['TargetFunctionArn']) === JSON.stringify({ 'Fn::GetAtt': [logicalIdOf(s, own.function), 'Arn'] }),
    );
    expect(urls.map((u) => u.Properties!['AuthType'])).toEqual(['AWS_IAM']);
  });

  it('ObjectsFunction used on its own checks the tuning variable its environment sets at synth, as its tuning prop (the function failed its start-up on every request)', () => {
    const { stack: s } = userStack();
    const tierlog = new Tierlog(s, 'Storage', { objectsFunction: false });
    const resources = resourcesOfTierlog(tierlog);
    const api = (id: string, threshold: string, tuning?: { inlineThreshold: number }) => () =>
      new ObjectsFunction(s, id, {
        resources,
        environment: { ...tierlog.writerEnvironment, TIERLOG_INLINE_THRESHOLD: threshold },
        ...(tuning ? { tuning } : {}),
      });
    expect(api('TooLarge', '500000')).toThrow(/TIERLOG_INLINE_THRESHOLD/);
    expect(api('NotANumber', '8k')).toThrow(/TIERLOG_INLINE_THRESHOLD/);
    expect(api('Taken', '4096')).not.toThrow();
    // The prop is what the function reads then.
    expect(api('Overridden', '500000', { inlineThreshold: 4096 })).not.toThrow();
  });

  it.each([
    ['a Map', new Map([['inlineThreshold', 0]])],
    ['null', null],
    ['an array', [0]],
    ['a string (a CDK context value)', '{"inlineThreshold":0}'],
  ])(
    'refuses objectsTuning that is %s, naming it, as sweeperTuning and objectsStreamTuning are (spread, a Map or null deployed the default threshold in silence)',
    (_kind, value) => {
      expect(() => tierlogTemplate({ objectsTuning: value as never })).toThrow(
        /^the options of objectsTuning must be (an|a plain) object, not /,
      );
    },
  );

  it('ObjectsFunction used on its own refuses a tuning that is a Map, naming objectsTuning, before writing any variable', () => {
    const { stack: s } = userStack();
    const tierlog = new Tierlog(s, 'Storage', { objectsFunction: false });
    const resources = resourcesOfTierlog(tierlog);
    const tuning = new Map([['inlineThreshold', 0]]) as never;
    expect(() => new ObjectsFunction(s, 'Api', { resources, environment: { ...tierlog.writerEnvironment }, tuning })).toThrow(
      /^the options of objectsTuning must be a plain object, not a Map/,
    );
  });

  it('refuses objectsTuning with objectsFunction: false (it would configure nothing)', () => {
    expect(() => tierlogTemplate({ objectsFunction: false, objectsTuning: { inlineThreshold: 1024 } })).toThrow(
      /objectsTuning configures the objects function/,
    );
  });
});
