import { afterAll, describe, expect, it } from 'vitest';
import { CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Tierlog } from '../../infra/tierlog.js';
import { cleanOutdirs, logicalIdOf, newApp, resourcesOf, tierlogTemplate } from './helpers.js';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const buckets = resourcesOf(template, 'AWS::S3::Bucket');
const blobId = logicalIdOf(stack, stack.tierlog.bucket);
const logsId = logicalIdOf(stack, stack.tierlog.accessLogsBucket!);
const blob = buckets[blobId]!;

function policyOf(bucketId: string): Array<Record<string, unknown>> {
  const policy = Object.values(resourcesOf(template, 'AWS::S3::BucketPolicy')).find(
    (p) => (p.Properties!['Bucket'] as { Ref: string }).Ref === bucketId,
  );
  return (policy!.Properties!['PolicyDocument'] as { Statement: Array<Record<string, unknown>> }).Statement;
}

describe('LT bucket', () => {
  it('is the blob bucket and its access-log bucket, both retained', () => {
    expect(Object.keys(buckets).sort()).toEqual([blobId, logsId].sort());
    for (const b of Object.values(buckets)) {
      expect(b.DeletionPolicy).toBe('Retain');
      expect(b.UpdateReplacePolicy).toBe('Retain');
    }
  });

  it('is versioned; noncurrent versions expire after 7 days and expired delete markers go', () => {
    expect(blob.Properties!['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
    const rules = (blob.Properties!['LifecycleConfiguration'] as { Rules: unknown[] }).Rules;
    expect(rules).toContainEqual({
      Id: 'undo-window',
      Status: 'Enabled',
      NoncurrentVersionExpiration: { NoncurrentDays: 7 },
      ExpiredObjectDeleteMarker: true,
    });
  });

  it('aborts incomplete multipart uploads after 8 days, past the longest upload session (7 days)', () => {
    const rules = (blob.Properties!['LifecycleConfiguration'] as { Rules: unknown[] }).Rules;
    expect(rules).toContainEqual({
      Id: 'abort-incomplete-multipart',
      Status: 'Enabled',
      AbortIncompleteMultipartUpload: { DaysAfterInitiation: 8 },
    });
  });

  it('logging works the same in an app without feature flags (bucket policy, no ACL)', () => {
    const { stack: s, template: t } = tierlogTemplate({}, { flags: false });
    const b = resourcesOf(t, 'AWS::S3::Bucket');
    const logs = b[logicalIdOf(s, s.tierlog.accessLogsBucket!)]!;
    expect(logs.Properties!['AccessControl']).toBeUndefined();
    expect(logs.Properties!['OwnershipControls']).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    expect(b[logicalIdOf(s, s.tierlog.bucket)]!.Properties!['LoggingConfiguration']).toEqual({
      DestinationBucketName: { Ref: logicalIdOf(s, s.tierlog.accessLogsBucket!) },
      LogFilePrefix: 'blob-bucket/',
    });
    expect(JSON.stringify(resourcesOf(t, 'AWS::S3::BucketPolicy'))).toContain('logging.s3.amazonaws.com');
  });

  it('the undo window is a prop', () => {
    const { template: t, stack: s } = tierlogTemplate({ noncurrentVersionExpiration: Duration.days(30) });
    const b = resourcesOf(t, 'AWS::S3::Bucket')[logicalIdOf(s, s.tierlog.bucket)]!;
    expect(JSON.stringify(b.Properties!['LifecycleConfiguration'])).toContain('"NoncurrentDays":30');
  });

  it('has no CORS rule unless browser origins are given; then PUT, GET, HEAD from them, ETag exposed', () => {
    expect(blob.Properties!['CorsConfiguration']).toBeUndefined();
    // An empty list is none (a rule without an origin fails the deploy).
    const none = tierlogTemplate({ corsAllowedOrigins: [] });
    expect(
      resourcesOf(none.template, 'AWS::S3::Bucket')[logicalIdOf(none.stack, none.stack.tierlog.bucket)]!.Properties!['CorsConfiguration'],
    ).toBeUndefined();
    const { template: t, stack: s } = tierlogTemplate({ corsAllowedOrigins: ['https://app.example.com'] });
    const b = resourcesOf(t, 'AWS::S3::Bucket')[logicalIdOf(s, s.tierlog.bucket)]!;
    expect(b.Properties!['CorsConfiguration']).toEqual({
      CorsRules: [
        {
          AllowedOrigins: ['https://app.example.com'],
          AllowedMethods: ['PUT', 'GET', 'HEAD'],
          AllowedHeaders: ['*'],
          ExposedHeaders: ['ETag', 'Content-Range', 'Content-Length'],
          MaxAge: 3600,
        },
      ],
    });
  });

  it.each([
    // A browser's Origin header is scheme://host[:port], nothing after: S3 compares it with each
    // allowed origin as text, so one with a trailing / or a path never matched, and every browser
    // upload failed CORS on a bucket that deployed.
    ['a trailing /', ['https://app.example.com/'], /"https:\/\/app\.example\.com\/" is not an origin/],
    ['a path', ['https://app.example.com', 'https://app.example.com/upload'], /"https:\/\/app\.example\.com\/upload" is not an origin/],
    ['no scheme', ['app.example.com'], /"app\.example\.com" is not an origin/],
    // S3 refuses an origin with more than one wildcard: the deploy failed on the bucket.
    ['two wildcards', ['https://*.*.example.com'], /"https:\/\/\*\.\*\.example\.com" has more than one \*/],
    // A CDK context value is a string: spread into its characters.
    ['a string, not a list', 'https://app.example.com', /corsAllowedOrigins must be a list of origins/],
  ])('refuses corsAllowedOrigins with %s', (_what, origins, error) => {
    expect(() => tierlogTemplate({ corsAllowedOrigins: origins as readonly string[] })).toThrow(error);
  });

  it("takes origins known only at deploy: a CommaDelimitedList parameter (one per stage) becomes the rule's list", () => {
    // Its list token was checked as an origin ("#{Token[...]}" is not an origin): the synth failed.
    const stack = new Stack(newApp(), 'UserStack');
    const origins = new CfnParameter(stack, 'Origins', { type: 'CommaDelimitedList' });
    const tierlog = new Tierlog(stack, 'Storage', { corsAllowedOrigins: origins.valueAsList });
    const b = resourcesOf(Template.fromStack(stack), 'AWS::S3::Bucket')[logicalIdOf(stack, tierlog.bucket)]!;
    expect(b.Properties!['CorsConfiguration']).toMatchObject({ CorsRules: [{ AllowedOrigins: { Ref: 'Origins' } }] });
  });

  it('takes the origins browsers send: a host, a port, one wildcard, any origin', () => {
    const origins = ['https://app.example.com', 'http://localhost:3000', 'https://*.example.com', '*'];
    const { template: t, stack: s } = tierlogTemplate({ corsAllowedOrigins: origins });
    const b = resourcesOf(t, 'AWS::S3::Bucket')[logicalIdOf(s, s.tierlog.bucket)]!;
    expect(b.Properties!['CorsConfiguration']).toMatchObject({ CorsRules: [{ AllowedOrigins: origins }] });
  });

  it.each([
    ['blob', () => blobId],
    ['access-log', () => logsId],
  ])('%s bucket: public access blocked, SSE-S3, owner-enforced, TLS (1.2+) only', (_name, id) => {
    const b = buckets[id()]!;
    expect(b.Properties!['PublicAccessBlockConfiguration']).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(b.Properties!['BucketEncryption']).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(b.Properties!['OwnershipControls']).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    const denies = policyOf(id()).filter((s) => s['Effect'] === 'Deny');
    expect(denies).toContainEqual(
      expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Principal: { AWS: '*' } }),
    );
    expect(denies).toContainEqual(expect.objectContaining({ Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }));
  });

  it('is access-logged to the log bucket, which S3 log delivery may write to', () => {
    expect(blob.Properties!['LoggingConfiguration']).toEqual({ DestinationBucketName: { Ref: logsId }, LogFilePrefix: 'blob-bucket/' });
    const allows = policyOf(logsId).filter((s) => s['Effect'] === 'Allow');
    expect(allows).toContainEqual({
      Effect: 'Allow',
      Action: 's3:PutObject',
      Principal: { Service: 'logging.s3.amazonaws.com' },
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logsId, 'Arn'] }, '/blob-bucket/*']] },
      Condition: {
        ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [blobId, 'Arn'] } },
        StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
      },
    });
    const logs = buckets[logsId]!;
    expect(logs.Properties!['LifecycleConfiguration']).toEqual({ Rules: [{ Id: 'expire-logs', Status: 'Enabled', ExpirationInDays: 90 }] });
  });
});
