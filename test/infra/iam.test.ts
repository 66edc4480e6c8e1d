import { afterAll, describe, expect, it } from 'vitest';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_ENV, loadConfig } from '../../lib/config.js';
import { Tierlog } from '../../infra/tierlog.js';
import { actions, cleanOutdirs, logicalIdOf, resourcesOf, type Statement, statementsOfRole, tierlogTemplate, userStack } from './helpers.js';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const t = stack.tierlog;
const ids = {
  changeLog: logicalIdOf(stack, t.changeLogTable),
  objects: logicalIdOf(stack, t.objectsTable),
  bucket: logicalIdOf(stack, t.bucket),
};
const arn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
const prefixObjects = (bucketId: string, prefix = 'blobs') => join(arn(bucketId), `/${prefix}/*`);
const listPrefix = (bucketId: string, prefix = 'blobs') => ({
  Effect: 'Allow',
  Action: 's3:ListBucket',
  Resource: arn(bucketId),
  Condition: { StringLike: { 's3:prefix': [`${prefix}/*`] } },
});

/**
 * What statements allow, one row per (action, resource, condition), sorted: independent of how
 * CDK merges statements (`@aws-cdk/aws-iam:minimizePolicies`).
 */
function rows(statements: Array<Statement | ReturnType<typeof row>>): string[] {
  return statements
    .flatMap((s) =>
      actions(s as Statement).flatMap((a) =>
        (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((r) => `${s.Effect} ${a} ${JSON.stringify(r)} ${JSON.stringify(s.Condition ?? null)}`),
      ),
    )
    .sort();
}
const row = (actionList: string[], Resource: unknown, Condition?: unknown): Statement => ({
  Effect: 'Allow',
  Action: actionList,
  Resource,
  ...(Condition ? { Condition: Condition as Statement['Condition'] } : {}),
});

function writerRows(i: typeof ids, prefix = 'blobs'): Statement[] {
  return [
    row(['dynamodb:GetItem', 'dynamodb:UpdateItem'], arn(i.changeLog)),
    row(['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'], arn(i.objects)),
    row(['s3:PutObject', 's3:GetObject', 's3:DeleteObject', 's3:AbortMultipartUpload'], prefixObjects(i.bucket, prefix)),
    row(['s3:ListBucket'], arn(i.bucket), listPrefix(i.bucket, prefix).Condition),
  ];
}

function sweeperRows(i: typeof ids): Statement[] {
  return [
    row(['dynamodb:Query'], join(arn(i.changeLog), '/index/byLease')),
    row(['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem'], arn(i.changeLog)),
    row(['dynamodb:GetItem', 'dynamodb:BatchGetItem'], arn(i.objects)),
    row(['s3:DeleteObject', 's3:GetObject'], prefixObjects(i.bucket)),
    row(['s3:ListBucket'], arn(i.bucket), listPrefix(i.bucket).Condition),
  ];
}

const sorted = (xs: Statement[]) => rows(xs);

describe('least privilege in the stack', () => {
  const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
  const allowStatements = policies.flatMap((p) => (p.Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement);

  it('no Allow has a wildcard action or a "*" resource', () => {
    expect(allowStatements.length).toBeGreaterThan(0);
    for (const s of allowStatements) {
      expect(s.Effect).toBe('Allow');
      for (const a of actions(s)) expect(a).not.toContain('*');
      const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
      for (const r of resources) expect(r).not.toBe('*');
    }
  });

  it('every resource with a wildcard is the prefix of the bucket, a qualified ARN of the sweeper or the objects table\'s streams', () => {
    const allowed = [
      JSON.stringify(prefixObjects(ids.bucket)),
      JSON.stringify(join(arn(logicalIdOf(stack, t.sweeperFunction)), ':*')),
      // dynamodb:ListStreams of the stream function, on the objects table's streams.
      JSON.stringify(join(arn(ids.objects), '/stream/*')),
    ];
    for (const s of allowStatements) {
      for (const r of Array.isArray(s.Resource) ? s.Resource : [s.Resource]) {
        const text = JSON.stringify(r);
        if (text.includes('*')) expect(allowed).toContain(text);
      }
    }
  });

  it('no role has a managed policy or an inline wildcard', () => {
    for (const role of Object.values(resourcesOf(template, 'AWS::IAM::Role'))) {
      expect(role.Properties!['ManagedPolicyArns']).toBeUndefined();
      expect(role.Properties!['Policies']).toBeUndefined();
    }
  });

  it('every s3:ListBucket is limited to the prefix', () => {
    const lists = allowStatements.filter((s) => actions(s).includes('s3:ListBucket'));
    expect(lists.length).toBe(2);
    for (const s of lists) expect(s).toEqual(listPrefix(ids.bucket));
  });

  it('the sweeper gets exactly what Sweeper calls (plus its log group)', () => {
    const roleId = logicalIdOf(stack, t.sweeper.role);
    expect(rows(statementsOfRole(template, roleId))).toEqual(
      sorted([...sweeperRows(ids), row(['logs:CreateLogStream', 'logs:PutLogEvents'], arn(logicalIdOf(stack, t.sweeper.logGroup)))]),
    );
  });

  it('the same grants in an app without feature flags (statements unmerged, same permissions)', () => {
    const { stack: s, template: tpl } = tierlogTemplate({}, { flags: false });
    const i = { changeLog: logicalIdOf(s, s.tierlog.changeLogTable), objects: logicalIdOf(s, s.tierlog.objectsTable), bucket: logicalIdOf(s, s.tierlog.bucket) };
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, s.tierlog.sweeper.role)))).toEqual(
      sorted([...sweeperRows(i), row(['logs:CreateLogStream', 'logs:PutLogEvents'], arn(logicalIdOf(s, s.tierlog.sweeper.logGroup)))]),
    );
  });

  it('the objects function gets exactly the writer grant (plus its log group)', () => {
    const role = t.objectsFunction!.role!;
    const fnLogGroup = Object.keys(resourcesOf(template, 'AWS::Logs::LogGroup')).find((id) => id.includes('Objects') && !id.includes('ObjectsStream'))!;
    expect(rows(statementsOfRole(template, logicalIdOf(stack, role)))).toEqual(
      sorted([...writerRows(ids), row(['logs:CreateLogStream', 'logs:PutLogEvents'], arn(fnLogGroup))]),
    );
  });

  it('the scheduler role may only invoke the sweeper and send to its dead-letter queue', () => {
    const fn = arn(logicalIdOf(stack, t.sweeperFunction));
    expect(rows(statementsOfRole(template, logicalIdOf(stack, t.sweeper.schedulerRole)))).toEqual(
      sorted([row(['lambda:InvokeFunction'], [fn, join(fn, ':*')]), row(['sqs:SendMessage'], arn(logicalIdOf(stack, t.deadLetterQueue)))]),
    );
  });
});

describe("grants for the user's own functions", () => {
  function userSetup(props = {}) {
    const { stack: s } = userStack();
    const tierlog = new Tierlog(s, 'Storage', { objectsFunction: false, ...props });
    const fn = new lambda.Function(s, 'MyWriter', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
      environment: { ...tierlog.writerEnvironment },
    });
    return { s, tierlog, fn };
  }
  const idsOf = (s: Parameters<typeof logicalIdOf>[0], tierlog: Tierlog) => ({
    changeLog: logicalIdOf(s, tierlog.changeLogTable),
    objects: logicalIdOf(s, tierlog.objectsTable),
    bucket: logicalIdOf(s, tierlog.bucket),
  });

  it('grantWriter gives exact actions on both tables and the prefix only', () => {
    const { s, tierlog, fn } = userSetup({ prefix: 'app/blobs' });
    tierlog.grantWriter(fn);
    const tpl = Template.fromStack(s);
    const mine = rows(statementsOfRole(tpl, logicalIdOf(s, fn.role!)));
    expect(mine).toEqual(sorted(writerRows(idsOf(s, tierlog), 'app/blobs')));
  });

  it('grantSweeper gives the sweeper set; grantOperator adds only a Scan of the change log', () => {
    const { s, tierlog } = userSetup();
    const sweeperRole = new iam.Role(s, 'MySweeper', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    const operatorRole = new iam.Role(s, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
    tierlog.grantSweeper(sweeperRole);
    tierlog.grantOperator(operatorRole);
    const tpl = Template.fromStack(s);
    const i = idsOf(s, tierlog);
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, sweeperRole)))).toEqual(sorted(sweeperRows(i)));
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, operatorRole)))).toEqual(
      sorted([...sweeperRows(i), row(['dynamodb:Scan'], arn(i.changeLog))]),
    );
  });

  it('writerEnvironment is exactly what loadConfig reads, and loadConfig accepts it once deployed', () => {
    const { s, tierlog, fn } = userSetup();
    expect(Object.keys(tierlog.writerEnvironment).sort()).toEqual(Object.values(CONFIG_ENV).sort());
    const tpl = Template.fromStack(s).toJSON();
    const vars = tpl.Resources[logicalIdOf(s, fn)].Properties.Environment.Variables as Record<string, unknown>;
    // What CloudFormation would substitute for each Ref: the physical names.
    const physical: Record<string, string> = {
      [logicalIdOf(s, tierlog.changeLogTable)]: 'UserStack-StorageChangeLogTable-1A2B3C',
      [logicalIdOf(s, tierlog.objectsTable)]: 'UserStack-StorageObjectsTable-4D5E6F',
      [logicalIdOf(s, tierlog.bucket)]: 'userstack-storageblobsbucket-7g8h9i',
    };
    const deployed = Object.fromEntries(
      Object.entries(vars).map(([k, v]) => [k, typeof v === 'string' ? v : physical[(v as { Ref: string }).Ref]]),
    );
    expect(loadConfig(deployed)).toEqual({
      changeLogTable: 'UserStack-StorageChangeLogTable-1A2B3C',
      objectsTable: 'UserStack-StorageObjectsTable-4D5E6F',
      bucket: 'userstack-storageblobsbucket-7g8h9i',
      prefix: 'blobs',
      leaseShards: 4,
    });
    expect(JSON.stringify(vars)).not.toMatch(/secret|password|key/i);
  });
});
