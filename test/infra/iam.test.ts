/**
 * The grants are what the code calls, no more, no less. Every entry point is driven against the
 * local stack with a recorder on its clients (`entry-points.ts`); each recorded command is mapped
 * to IAM actions and resources (`infra/iam-map.ts`); each role must then grant exactly that set,
 * both in `ROLE_PERMISSIONS` (with the calls that need each action) and in the synthesized
 * template. A call without its grant, or a grant without its call, fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_ENV, configToEnv, loadConfig } from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import {
  COMMAND_ACTIONS,
  type Permission,
  permissionId,
  permissionsOf,
  type ResourceKind,
  requiredPermissions,
  type SentCommand,
  UnmappedCommandError,
} from '../../infra/iam-map.js';
import {
  grantOperator,
  grantOperatorReadOnly,
  grantSweeper,
  grantWriter,
  ROLE_PERMISSIONS,
  type TierlogResources,
  type TierlogRole,
} from '../../infra/permissions.js';
import { ObjectsFunction } from '../../infra/objects-function.js';
import { ObjectsStreamCleanup } from '../../infra/objects-stream.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { Tierlog } from '../../infra/tierlog.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { driveCli, driveObjectsFunction, driveSweeperFunction, driveWriter, ENTRY_POINTS } from './entry-points.js';
import {
  actions,
  changeLogTableIn,
  cleanOutdirs,
  logicalIdOf,
  PROJECT_ROOT,
  resourcesOf,
  type Statement,
  statementsOfRole,
  tierlogTemplate,
  userStack,
} from './helpers.js';

afterAll(cleanOutdirs);

/** The entry points each role runs. */
const ROLE_RUNS: Record<TierlogRole, string[]> = {
  writer: [ENTRY_POINTS.writer, ENTRY_POINTS.objectsFunction],
  sweeper: [ENTRY_POINTS.sweeperFunction],
  operatorReadOnly: [ENTRY_POINTS.status, ENTRY_POINTS.inspect, ENTRY_POINTS.audit],
  operator: [
    ENTRY_POINTS.status,
    ENTRY_POINTS.inspect,
    ENTRY_POINTS.audit,
    ENTRY_POINTS.auditDelete,
    ENTRY_POINTS.sweepDryRun,
    ENTRY_POINTS.sweep,
  ],
};
const ROLES = Object.keys(ROLE_RUNS) as TierlogRole[];

let fx: Fixture;
const recorder = new CommandRecorder();
/** Per role: `action on resource` -> the commands that need it, from the recording. */
const needed = {} as Record<TierlogRole, Map<string, { permission: Permission; commands: Set<string> }>>;

beforeAll(async () => {
  fx = await freshFixture();
  await driveWriter(fx, recorder);
  await driveObjectsFunction(fx, recorder);
  await driveSweeperFunction(fx, recorder);
  await driveCli(fx, recorder);
  for (const role of ROLES)
    needed[role] = requiredPermissions(
      ROLE_RUNS[role].flatMap((e) => recorder.of(e)),
      fx.config,
    );
}, 240_000);

// ---- template helpers -------------------------------------------------------------------------

const arn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const join2 = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });
type Ids = { changeLog: string; objects: string; bucket: string };

/** One row per (action, resource, condition): independent of how CDK merges statements. */
function rows(statements: Statement[]): string[] {
  return statements
    .flatMap((s) =>
      actions(s).flatMap((a) =>
        (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map(
          (r) => `${s.Effect} ${a} ${JSON.stringify(r)} ${JSON.stringify(s.Condition ?? null)}`,
        ),
      ),
    )
    .sort();
}

/** The statement a permission must appear as in the template. */
function statementOf(p: Permission, i: Ids, prefix: string): Statement {
  const where: Record<ResourceKind, Pick<Statement, 'Resource' | 'Condition'>> = {
    changeLogTable: { Resource: arn(i.changeLog) },
    leaseIndex: { Resource: join2(arn(i.changeLog), '/index/byLease') },
    objectsTable: { Resource: arn(i.objects) },
    prefixObjects: { Resource: join2(arn(i.bucket), `/${prefix}/*`) },
    prefixListing: { Resource: arn(i.bucket), Condition: { StringLike: { 's3:prefix': [`${prefix}/*`] } } },
    bucket: { Resource: arn(i.bucket) },
  };
  return { Effect: 'Allow', Action: p.action, ...where[p.resource] };
}

/** The rows the recording of `role` requires, plus `extra` statements. */
function recordedRows(role: TierlogRole, i: Ids, prefix = 'blobs', extra: Statement[] = []): string[] {
  return rows([...[...needed[role].values()].map((n) => statementOf(n.permission, i, prefix)), ...extra]);
}

const logsRow = (logGroupId: string): Statement => ({
  Effect: 'Allow',
  Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
  Resource: arn(logGroupId),
});
const idsOf = (s: Parameters<typeof logicalIdOf>[0], t: Tierlog): Ids => ({
  changeLog: logicalIdOf(s, t.changeLogTable),
  objects: logicalIdOf(s, t.objectsTable),
  bucket: logicalIdOf(s, t.bucket),
});

// ---- the recording ----------------------------------------------------------------------------

describe('what each entry point calls', () => {
  it('every entry point was driven through its distinct calls', () => {
    const names = (e: string) => new Set(recorder.of(e).map((c) => c.command));
    expect([...names(ENTRY_POINTS.writer)]).toEqual(
      expect.arrayContaining([
        'TransactWriteItems',
        'UpdateItem',
        'GetItem',
        'PutObject',
        'CreateMultipartUpload',
        'UploadPart',
        'CompleteMultipartUpload',
        'AbortMultipartUpload',
        'GetObject',
        'DeleteObject',
      ]),
    );
    expect([...names(ENTRY_POINTS.objectsFunction)]).toEqual(
      expect.arrayContaining(['TransactWriteItems', 'PutObject', 'GetObject', 'DeleteObject']),
    );
    expect([...names(ENTRY_POINTS.sweeperFunction)]).toEqual(
      expect.arrayContaining([
        'Query',
        'Scan',
        'UpdateItem',
        'DeleteItem',
        'BatchGetItem',
        'ListMultipartUploads',
        'AbortMultipartUpload',
        'DeleteObjects',
      ]),
    );
    // Both listings of multipart uploads: under an upload session's blob key, and under the prefix
    // (a dead writer's never-committed blob judged garbage).
    const listings = recorder.of(ENTRY_POINTS.sweeperFunction).filter((c) => c.command === 'ListMultipartUploads');
    expect(listings.map((c) => c.input.Prefix)).toEqual(expect.arrayContaining([`${fx.config.prefix}/`]));
    expect(listings.some((c) => c.input.Prefix !== `${fx.config.prefix}/`)).toBe(true);
    expect([...names(ENTRY_POINTS.auditDelete)]).toEqual(expect.arrayContaining(['ListObjectsV2', 'BatchGetItem', 'DeleteObjects']));
    // Inspect judges an instance's entries as the sweeper does, after checking the objects table is
    // the bucket's store (a Scan of it): an instance that is not there would record a GetItem alone.
    expect([...names(ENTRY_POINTS.inspect)]).toEqual(expect.arrayContaining(['GetItem', 'Scan', 'BatchGetItem', 'ListObjectsV2']));
    expect(recorder.of(ENTRY_POINTS.inspect).some((c) => c.command === 'Scan' && c.input.TableName === fx.config.objectsTable)).toBe(true);
    for (const e of Object.values(ENTRY_POINTS)) expect(recorder.of(e).length, e).toBeGreaterThan(0);
  });

  it('every SDK command the library constructs was sent by some entry point (none escapes the recording)', () => {
    const DOC_COMMANDS: Record<string, string> = {
      Get: 'GetItem',
      Put: 'PutItem',
      Update: 'UpdateItem',
      Delete: 'DeleteItem',
      Query: 'Query',
      Scan: 'Scan',
      BatchGet: 'BatchGetItem',
      BatchWrite: 'BatchWriteItem',
      TransactWrite: 'TransactWriteItems',
      TransactGet: 'TransactGetItems',
    };
    const sources = ['lib', 'functions']
      .flatMap((dir) => filesUnder(join(PROJECT_ROOT, dir)))
      // Local provisioning and the drill's outside checks are not deployed entry points.
      .filter((f) => !/[/\\]lib[/\\](local|drill|faults)[/\\]/.test(f));
    const constructed = new Set<string>();
    for (const file of sources) {
      for (const [, name] of readFileSync(file, 'utf8').matchAll(/new (\w+)Command\(/g)) constructed.add(DOC_COMMANDS[name!] ?? name!);
    }
    const sent = new Set(recorder.commands.map((c) => c.command));
    expect([...constructed].filter((c) => !sent.has(c))).toEqual([]);
  });

  it('every recorded command has a row in the mapping', () => {
    for (const c of recorder.commands) expect(COMMAND_ACTIONS[c.service][c.command], `${c.service}:${c.command}`).toBeDefined();
  });

  it.each(ROLES)('ROLE_PERMISSIONS.%s is exactly what its entry points call, with the calls that need each action', (role) => {
    const recorded = [...needed[role].values()].map((n) => `${permissionId(n.permission)} <- ${[...n.commands].sort().join(', ')}`).sort();
    const declared = ROLE_PERMISSIONS[role].map((p) => `${permissionId(p)} <- ${[...p.calls].sort().join(', ')}`).sort();
    expect(declared).toEqual(recorded);
  });

  it('the read-only operator writes and deletes nothing', () => {
    for (const p of ROLE_PERMISSIONS.operatorReadOnly) expect(p.action).toMatch(/:(Get|BatchGet|Scan|Query|List|Describe)/);
  });

  it('no writer lists the bucket; no grant uses ConditionCheckItem', () => {
    expect(ROLE_PERMISSIONS.writer.map((p) => p.action)).not.toContain('s3:ListBucket');
    for (const role of ROLES) expect(ROLE_PERMISSIONS[role].map((p) => p.action)).not.toContain('dynamodb:ConditionCheckItem');
  });
});

describe('the mapping places a call only on what tierlog grants (one outside would be refused on AWS, so it fails here)', () => {
  const config = loadConfig({
    [CONFIG_ENV.changeLogTable]: 'cl-1',
    [CONFIG_ENV.objectsTable]: 'ob-1',
    [CONFIG_ENV.bucket]: 'bk-1',
    [CONFIG_ENV.prefix]: 'blobs',
  });
  const s3 = (command: string, input: Record<string, unknown>): SentCommand => ({ service: 's3', command, input });
  const ddb = (command: string, input: Record<string, unknown>): SentCommand => ({ service: 'dynamodb', command, input });

  it.each<[string, SentCommand]>([
    ['a key outside the prefix', s3('GetObject', { Bucket: 'bk-1', Key: 'other/x' })],
    ['a key that starts with the prefix but not with "<prefix>/"', s3('PutObject', { Bucket: 'bk-1', Key: 'blobsX/y' })],
    ['a key of another bucket', s3('DeleteObject', { Bucket: 'other', Key: 'blobs/x' })],
    [
      'a batch delete with one key outside the prefix',
      s3('DeleteObjects', { Bucket: 'bk-1', Delete: { Objects: [{ Key: 'blobs/a' }, { Key: 'b' }] } }),
    ],
    ['a listing not under "<prefix>/"', s3('ListObjectsV2', { Bucket: 'bk-1', Prefix: 'blobs' })],
    ['a listing of multipart uploads of the whole bucket', s3('ListMultipartUploads', { Bucket: 'bk-1' })],
    ['a listing of multipart uploads under another prefix', s3('ListMultipartUploads', { Bucket: 'bk-1', Prefix: 'other/' })],
    ['another table', ddb('GetItem', { TableName: 'other' })],
    ['another index of the change log', ddb('Query', { TableName: 'cl-1', IndexName: 'other' })],
    ['an index of the objects table', ddb('Query', { TableName: 'ob-1', IndexName: 'byLease' })],
    ['a command with no row', s3('PutBucketPolicy', { Bucket: 'bk-1' })],
  ])('refuses %s', (_what, sent) => {
    expect(() => permissionsOf(sent, config)).toThrow(UnmappedCommandError);
  });

  it('places the calls tierlog makes', () => {
    expect(permissionsOf(s3('GetObject', { Bucket: 'bk-1', Key: 'blobs/x' }), config)).toEqual([
      { action: 's3:GetObject', resource: 'prefixObjects' },
    ]);
    expect(permissionsOf(s3('ListMultipartUploads', { Bucket: 'bk-1', Prefix: 'blobs/' }), config)).toEqual([
      { action: 's3:ListBucketMultipartUploads', resource: 'bucket' },
    ]);
    expect(permissionsOf(ddb('Query', { TableName: 'cl-1', IndexName: 'byLease' }), config)).toEqual([
      { action: 'dynamodb:Query', resource: 'leaseIndex' },
    ]);
    // Each element of a transaction is authorised by its own action (none sends a ConditionCheck
    // yet: one would need dynamodb:ConditionCheckItem, which no role has).
    const transaction = ddb('TransactWriteItems', {
      TransactItems: [{ Put: { TableName: 'cl-1' } }, { Update: { TableName: 'ob-1' } }, { ConditionCheck: { TableName: 'cl-1' } }],
    });
    expect(permissionsOf(transaction, config)).toEqual([
      { action: 'dynamodb:PutItem', resource: 'changeLogTable' },
      { action: 'dynamodb:UpdateItem', resource: 'objectsTable' },
      { action: 'dynamodb:ConditionCheckItem', resource: 'changeLogTable' },
    ]);
  });
});

// ---- the template -----------------------------------------------------------------------------

describe('the synthesized template grants exactly the recorded calls', () => {
  const { stack, template } = tierlogTemplate();
  const t = stack.tierlog;
  const ids = idsOf(stack, t);

  it('the sweeper function: the recorded sweep, plus its log group', () => {
    expect(rows(statementsOfRole(template, logicalIdOf(stack, t.sweeper.role)))).toEqual(
      recordedRows('sweeper', ids, 'blobs', [logsRow(logicalIdOf(stack, t.sweeper.logGroup))]),
    );
  });

  it('the objects function: the recorded writer, plus its log group', () => {
    const fnLogGroup = Object.keys(resourcesOf(template, 'AWS::Logs::LogGroup')).find(
      (id) => id.includes('Objects') && !id.includes('ObjectsStream'),
    )!;
    expect(rows(statementsOfRole(template, logicalIdOf(stack, t.objectsFunction!.role!)))).toEqual(
      recordedRows('writer', ids, 'blobs', [logsRow(fnLogGroup)]),
    );
  });

  it('the same in an app without feature flags (statements unmerged, same permissions)', () => {
    const { stack: s, template: tpl } = tierlogTemplate({}, { flags: false });
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, s.tierlog.sweeper.role)))).toEqual(
      recordedRows('sweeper', idsOf(s, s.tierlog), 'blobs', [logsRow(logicalIdOf(s, s.tierlog.sweeper.logGroup))]),
    );
  });

  it("grantWriter, grantSweeper, grantOperatorReadOnly, grantOperator on a user's principals, with an own prefix", () => {
    const { stack: s } = userStack();
    const tierlog = new Tierlog(s, 'Storage', { objectsFunction: false, prefix: 'app/blobs' });
    const fn = new lambda.Function(s, 'MyWriter', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => {}'),
      environment: { ...tierlog.writerEnvironment },
    });
    const role = (id: string) => new iam.Role(s, id, { assumedBy: new iam.AccountRootPrincipal() });
    const [sweeper, reader, operator] = [role('MySweeper'), role('Reader'), role('Operator')];
    tierlog.grantWriter(fn);
    tierlog.grantSweeper(sweeper);
    tierlog.grantOperatorReadOnly(reader);
    tierlog.grantOperator(operator);
    const tpl = Template.fromStack(s);
    const i = idsOf(s, tierlog);
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, fn.role!)))).toEqual(recordedRows('writer', i, 'app/blobs'));
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, sweeper)))).toEqual(recordedRows('sweeper', i, 'app/blobs'));
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, reader)))).toEqual(recordedRows('operatorReadOnly', i, 'app/blobs'));
    expect(rows(statementsOfRole(tpl, logicalIdOf(s, operator)))).toEqual(recordedRows('operator', i, 'app/blobs'));
  });
});

describe('least privilege in the stack', () => {
  const { stack, template } = tierlogTemplate();
  const t = stack.tierlog;
  const ids = idsOf(stack, t);
  const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
  const allowStatements = policies.flatMap((p) => (p.Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement);

  it('no Allow has a wildcard action or a "*" resource', () => {
    expect(allowStatements.length).toBeGreaterThan(0);
    for (const s of allowStatements) {
      expect(s.Effect).toBe('Allow');
      for (const a of actions(s)) expect(a).not.toContain('*');
      for (const r of Array.isArray(s.Resource) ? s.Resource : [s.Resource]) expect(r).not.toBe('*');
    }
  });

  it("every resource with a wildcard is the prefix of the bucket, a qualified ARN of the sweeper or the objects table's streams", () => {
    const allowed = [
      JSON.stringify(join2(arn(ids.bucket), '/blobs/*')),
      JSON.stringify(join2(arn(logicalIdOf(stack, t.sweeperFunction)), ':*')),
      // dynamodb:ListStreams of the stream function, on the objects table's streams.
      JSON.stringify(join2(arn(ids.objects), '/stream/*')),
    ];
    for (const s of allowStatements) {
      for (const r of Array.isArray(s.Resource) ? s.Resource : [s.Resource]) {
        const text = JSON.stringify(r);
        if (text.includes('*')) expect(allowed).toContain(text);
      }
    }
  });

  it('no role has a managed policy or an inline policy', () => {
    for (const role of Object.values(resourcesOf(template, 'AWS::IAM::Role'))) {
      expect(role.Properties!['ManagedPolicyArns']).toBeUndefined();
      expect(role.Properties!['Policies']).toBeUndefined();
    }
  });

  it('no role of the stack lists the bucket (only the operator roles, granted outside it, do)', () => {
    expect(allowStatements.filter((s) => actions(s).includes('s3:ListBucket'))).toEqual([]);
    expect(ROLE_PERMISSIONS.sweeper.map((p) => p.action)).not.toContain('s3:ListBucket');
  });

  it('the scheduler role may only invoke the sweeper and send to its dead-letter queue', () => {
    const fn = arn(logicalIdOf(stack, t.sweeperFunction));
    expect(rows(statementsOfRole(template, logicalIdOf(stack, t.sweeper.schedulerRole)))).toEqual(
      rows([
        { Effect: 'Allow', Action: ['lambda:InvokeFunction'], Resource: [fn, join2(fn, ':*')] },
        { Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: arn(logicalIdOf(stack, t.deadLetterQueue)) },
      ]),
    );
  });
});

// ---- prefixes IAM would widen -----------------------------------------------------------------

describe('a prefix IAM would read as a pattern or a variable is refused', () => {
  const base = { [CONFIG_ENV.changeLogTable]: 'cl-1', [CONFIG_ENV.objectsTable]: 'ob-1', [CONFIG_ENV.bucket]: 'bk-1' };
  const widening = ['b*', 'blobs/*', 'a?c', 'x$', '${aws:username}', 'tenant/${aws:userid}/blobs', 'a{b}'];

  it.each(widening)('loadConfig refuses TIERLOG_PREFIX %j with a ConfigError naming the variable and why', (prefix) => {
    let err: unknown;
    try {
      loadConfig({ ...base, [CONFIG_ENV.prefix]: prefix });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe(CONFIG_ENV.prefix);
    expect((err as Error).message).toMatch(
      /TIERLOG_PREFIX: prefix ".*" contains "[*?${}]", which IAM reads as a wildcard or a policy variable/,
    );
  });

  it.each(widening)('the construct refuses prefix %j with the same ConfigError, before any grant', (prefix) => {
    const { stack: s } = userStack();
    expect(() => new Tierlog(s, 'Storage', { prefix })).toThrow(ConfigError);
    expect(() => new Tierlog(s, 'Storage2', { prefix })).toThrow(/which IAM reads as a wildcard or a policy variable/);
  });

  // The grant functions and the parts take resources of the user's: a prefix of theirs is checked
  // as the construct's. `*` granted DeleteObject (and the rest) on every key of the bucket with a `/`.
  it.each([...widening, 'blobs/', '/blobs', ''])(
    'grantWriter, grantSweeper, grantOperator*, and the parts on their own refuse prefix %j with a ConfigError, before any grant',
    (prefix) => {
      const { stack: s } = userStack();
      const table = (id: string) =>
        new dynamodb.TableV2(s, id, {
          partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
          dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        });
      const resources: TierlogResources = {
        changeLogTable: changeLogTableIn(s),
        objectsTable: table('Objects'),
        bucket: new s3.Bucket(s, 'B'),
        prefix,
      };
      const environment = {
        ...configToEnv({ changeLogTable: 'placeholder', objectsTable: 'placeholder', bucket: 'placeholder', prefix, leaseShards: 4 }),
        [CONFIG_ENV.changeLogTable]: resources.changeLogTable.tableName,
        [CONFIG_ENV.objectsTable]: resources.objectsTable.tableName,
        [CONFIG_ENV.bucket]: resources.bucket.bucketName,
      };
      const role = new iam.Role(s, 'Mine', { assumedBy: new iam.AccountRootPrincipal() });
      for (const grant of [grantWriter, grantSweeper, grantOperatorReadOnly, grantOperator]) {
        expect(() => grant(role, resources)).toThrow(ConfigError);
      }
      expect(() => new TierlogSweeper(s, 'Sweeper', { resources, environment, leaseShards: 4 })).toThrow(ConfigError);
      expect(() => new ObjectsStreamCleanup(s, 'Stream', { resources, environment })).toThrow(ConfigError);
      expect(() => new ObjectsFunction(s, 'Api', { resources, environment })).toThrow(ConfigError);
      expect(Template.fromStack(s).findResources('AWS::IAM::Policy')).toEqual({});
    },
  );

  it("the prefixes IAM reads literally still work (letters, digits, / ! _ . ' ( ) -)", () => {
    expect(loadConfig({ ...base, [CONFIG_ENV.prefix]: "a-b_c.d/e!f/'g'(h)" }).prefix).toBe("a-b_c.d/e!f/'g'(h)");
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : [];
  });
}
