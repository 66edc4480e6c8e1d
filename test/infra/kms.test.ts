/**
 * A bucket or an objects table of the user's under a customer managed KMS key: every role that
 * reads or writes through the key is granted exactly the key actions its S3 or DynamoDB actions
 * need (`KMS_ACTIONS_FOR` in infra/permissions.ts), on that key, only via the service. Without
 * them every blob write (`kms:GenerateDataKey`) and read (`kms:Decrypt`) is refused on AWS, which
 * the local stack, checking no IAM, never shows.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { Tierlog } from '../../infra/tierlog.js';
import { actions, cleanOutdirs, logicalIdOf, newApp, type Statement, statementsOfRole, userStack } from './helpers.js';

afterAll(cleanOutdirs);

const TABLE_WRITE = [
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:Encrypt',
  'kms:GenerateDataKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];
const TABLE_READ = ['kms:Decrypt', 'kms:DescribeKey'];

function encryptedStack() {
  // A customer managed key on a TableV2 needs the stack's region.
  const app = newApp();
  const stack = new Stack(app, 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  const bucketKey = new kms.Key(stack, 'BucketKey', { enableKeyRotation: true });
  const tableKey = new kms.Key(stack, 'TableKey', { enableKeyRotation: true });
  const bucket = new s3.Bucket(stack, 'MyBlobs', {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: bucketKey,
    versioned: true,
    enforceSSL: true,
    lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(8), noncurrentVersionExpiration: Duration.days(7) }],
  });
  const objectsTable = new dynamodb.TableV2(stack, 'MyObjects', {
    partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
    dynamoStream: dynamodb.StreamViewType.OLD_IMAGE,
    timeToLiveAttribute: 'expiresAt',
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryptionV2.customerManagedKey(tableKey),
  });
  const tierlog = new Tierlog(stack, 'Storage', { bucket, objectsTable });
  const operator = new iam.Role(stack, 'Reader', { assumedBy: new iam.AccountRootPrincipal() });
  tierlog.grantOperatorReadOnly(operator);
  return { app, stack, tierlog, bucketKey, tableKey, operator, template: Template.fromStack(stack) };
}

/** The KMS actions `roleId`'s statements allow on `key`, and the service each is limited to. */
function keyGrants(stack: Stack, template: Template, role: iam.IRole, key: kms.IKey): { actions: string[]; via: unknown[] } {
  const keyArn = stack.resolve(key.keyArn);
  const statements = statementsOfRole(template, logicalIdOf(stack, role)).filter(
    (s: Statement) => s.Effect === 'Allow' && JSON.stringify(s.Resource) === JSON.stringify(keyArn),
  );
  return {
    actions: [...new Set(statements.flatMap(actions))].sort(),
    via: statements.map((s) => s.Condition?.['StringEquals']?.['kms:ViaService']),
  };
}

const viaService = (stack: Stack, service: string) => stack.resolve(`${service}.${stack.region}.amazonaws.com`) as unknown;

describe('customer managed keys of the user bucket and objects table', () => {
  const { app, stack, tierlog, bucketKey, tableKey, operator, template } = encryptedStack();

  it('the objects function (a writer) may generate and decrypt data keys of the bucket key, and use the table key to write', () => {
    const role = tierlog.objectsFunction!.role!;
    expect(keyGrants(stack, template, role, bucketKey)).toEqual({
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      via: [viaService(stack, 's3')],
    });
    expect(keyGrants(stack, template, role, tableKey)).toEqual({ actions: TABLE_WRITE, via: [viaService(stack, 'dynamodb')] });
  });

  it('the sweeper reads the objects table through its key, and needs nothing of the bucket key (deletes, aborts, listings)', () => {
    expect(keyGrants(stack, template, tierlog.sweeper.role, bucketKey).actions).toEqual([]);
    expect(keyGrants(stack, template, tierlog.sweeper.role, tableKey)).toEqual({
      actions: TABLE_READ,
      via: [viaService(stack, 'dynamodb')],
    });
  });

  it('the stream function reads the stream and the table through the table key, and needs nothing of the bucket key', () => {
    expect(keyGrants(stack, template, tierlog.objectsStream.role, bucketKey).actions).toEqual([]);
    expect(keyGrants(stack, template, tierlog.objectsStream.role, tableKey)).toEqual({
      actions: TABLE_READ,
      via: [viaService(stack, 'dynamodb')],
    });
  });

  it('grantOperatorReadOnly: table key reads only', () => {
    expect(keyGrants(stack, template, operator, bucketKey).actions).toEqual([]);
    expect(keyGrants(stack, template, operator, tableKey).actions).toEqual(TABLE_READ);
  });

  it('adds no cdk-nag finding on the construct (exact actions on the exact keys)', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const ours = report.violations.flatMap((v) =>
      v.violatingResources.filter((r) => (r.constructPath ?? '').includes('/Storage/')).map((r) => `${v.ruleName} @ ${r.constructPath}`),
    );
    expect(ours).toEqual([]);
  });
});

describe('without a customer managed key', () => {
  it('no role of the construct is granted any KMS action', () => {
    const { stack } = userStack();
    new Tierlog(stack, 'Storage', {});
    expect(JSON.stringify(Template.fromStack(stack).toJSON())).not.toMatch(/"kms:/);
  });
});

describe('a key given as an alias', () => {
  /**
   * KMS authorizes a request on the ARN of the key, never on an alias's: a grant on the alias ARN
   * (what an alias's `keyArn` is) allowed nothing, and every SSE-KMS put and get of the writers,
   * and every read through a table key, was refused on AWS.
   */
  const build = (alias: (stack: Stack, key: kms.Key) => kms.IKey) => {
    const stack = new Stack(newApp(), 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
    const key = new kms.Key(stack, 'BucketKey', { enableKeyRotation: true });
    const bucket = new s3.Bucket(stack, 'MyBlobs', {
      encryption: s3.BucketEncryption.KMS,
      encryptionKey: alias(stack, key),
      lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(8) }],
    });
    const tierlog = new Tierlog(stack, 'Storage', { bucket });
    return { stack, key, tierlog };
  };

  it('an alias of the app: the grants are on the key it names', () => {
    const { stack, key, tierlog } = build((s, k) => new kms.Alias(s, 'BlobsAlias', { aliasName: 'alias/blobs', targetKey: k }));
    const template = Template.fromStack(stack);
    expect(keyGrants(stack, template, tierlog.objectsFunction!.role!, key)).toEqual({
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      via: [viaService(stack, 's3')],
    });
    // And none on an alias ARN.
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain(':alias/');
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain(
      logicalIdOf(stack, tierlog.bucket.encryptionKey as kms.Alias),
    );
  });

  it('an alias imported by its name (the key it names unknown): refused at synth, naming it', () => {
    expect(() => build((s) => kms.Alias.fromAliasName(s, 'Imported', 'alias/blobs'))).toThrow(
      /is an alias \(alias\/blobs\): KMS authorizes a request on the key's ARN, so a grant on the alias would allow nothing/,
    );
  });
});
