import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { Tierlog, type TierlogProps } from './infra/tierlog.js';
import { readFileSync } from 'node:fs';
const ctx = JSON.parse(readFileSync('cdk.json', 'utf8')).context;
function tryIt(name: string, f: (s: Stack) => TierlogProps, env?: any) {
  const app = new App({ outdir: 'cdk.out.test/probe', context: { ...ctx, 'aws:cdk:bundling-stacks': [] } });
  const s = new Stack(app, 'S', env ? { env } : {});
  try {
    new Tierlog(s, 'T', f(s));
    app.synth();
    console.log('OK   ', name);
  } catch (e) {
    console.log('THROW', name, '::', String((e as Error).message).slice(0, 200));
  }
}
tryIt('oldestExpired 0', () => ({ oldestExpiredAgeThreshold: Duration.seconds(0) }));
tryIt('iterAge 0', () => ({ streamIteratorAgeThreshold: Duration.seconds(0) }));
tryIt('noncurrent 0', () => ({ noncurrentVersionExpiration: Duration.days(0) }));
tryIt('noncurrent 12h', () => ({ noncurrentVersionExpiration: Duration.hours(12) }));
tryIt('audit retention 0', () => ({ auditAtScale: { snapshotRetentionDays: 0 } }));
tryIt('audit retention 1.5', () => ({ auditAtScale: { snapshotRetentionDays: 1.5 } }));
tryIt('audit maxConc 0', () => ({ auditAtScale: { maxConcurrency: 0 } }));
tryIt('audit bytes 1', () => ({ auditAtScale: { bytesScannedCutoffPerQuery: 1 } }));
tryIt('removal SNAPSHOT', () => ({ removalPolicy: RemovalPolicy.SNAPSHOT }));
tryIt('url NONE without fn', () => ({ objectsFunction: false, objectsFunctionUrlAuth: lambda.FunctionUrlAuthType.NONE }));
tryIt('sweeper mem 64', () => ({ sweeperMemorySize: 64 }));
tryIt('sweeper mem 1.5', () => ({ sweeperMemorySize: 1000.5 }));
tryIt('shards 0', () => ({ leaseShards: 0 }));
tryIt(
  'other region table',
  (s) => ({ objectsTable: dynamodb.TableV2.fromTableArn(s, 'X', 'arn:aws:dynamodb:eu-west-1:123456789012:table/t') }),
  { region: 'us-east-1', account: '123456789012' },
);
tryIt(
  'other region table w stream',
  (s) => ({
    objectsTable: dynamodb.TableV2.fromTableAttributes(s, 'X', {
      tableArn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/t',
      tableStreamArn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x',
    }),
  }),
  { region: 'us-east-1', account: '123456789012' },
);
tryIt(
  'other account table w stream',
  (s) => ({
    objectsTable: dynamodb.TableV2.fromTableAttributes(s, 'X', {
      tableArn: 'arn:aws:dynamodb:us-east-1:999999999999:table/t',
      tableStreamArn: 'arn:aws:dynamodb:us-east-1:999999999999:table/t/stream/x',
    }),
  }),
  { region: 'us-east-1', account: '123456789012' },
);
tryIt('other region bucket', (s) => ({ bucket: s3.Bucket.fromBucketAttributes(s, 'B', { bucketName: 'b', region: 'eu-west-1' }) }), {
  region: 'us-east-1',
  account: '123456789012',
});
tryIt('other account bucket', (s) => ({ bucket: s3.Bucket.fromBucketAttributes(s, 'B', { bucketName: 'b', account: '999999999999' }) }), {
  region: 'us-east-1',
  account: '123456789012',
});
tryIt('sweeper timeout 0', () => ({ sweeperTimeout: Duration.seconds(0) }));
tryIt('iteratorAge 30s', () => ({ streamIteratorAgeThreshold: Duration.seconds(30) }));
// KMS bucket
{
  const app = new App({ outdir: 'cdk.out.test/probe', context: { ...ctx, 'aws:cdk:bundling-stacks': [] } });
  const s = new Stack(app, 'S');
  const key = new kms.Key(s, 'K');
  const bucket = new s3.Bucket(s, 'B', {
    encryptionKey: key,
    encryption: s3.BucketEncryption.KMS,
    versioned: true,
    lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(8), noncurrentVersionExpiration: Duration.days(7) }],
  });
  new Tierlog(s, 'T', { bucket });
  const t = Template.fromStack(s).toJSON();
  const kmsStmts = JSON.stringify(t).match(/kms:[A-Za-z*]+/g);
  console.log('KMS bucket: kms actions in template:', [...new Set(kmsStmts ?? [])]);
}
