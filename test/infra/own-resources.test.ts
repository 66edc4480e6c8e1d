/**
 * The construct with an objects table and a bucket of the user's (`objectsTable`, `bucket`):
 * imported ones (the only kind an existing table or bucket can be) build, cdk-nag clean with the
 * construct's acknowledgements, and every function is pointed at them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type App, Duration, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { grantWriter } from '../../infra/permissions.js';
import { ObjectsFunction } from '../../infra/objects-function.js';
import { TierlogSweeper } from '../../infra/sweeper.js';
import { Tierlog, type TierlogProps } from '../../infra/tierlog.js';
import { CONFIG_ENV } from '../../lib/config.js';
import { cleanOutdirs, newApp, onlyResource, resourcesOf, userStack } from './helpers.js';

afterAll(cleanOutdirs);

const STREAM_ARN = 'arn:aws:dynamodb:eu-west-1:123456789012:table/my-objects/stream/2026-01-01T00:00:00.000';

function findings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`)).sort();
}

/** A user's stack with an imported objects table (with its stream) and, unless `importBucket: false`, an imported bucket. */
function withImported(props: TierlogProps = {}, options: { importBucket?: boolean } = {}) {
  const { app, stack } = userStack();
  const objectsTable = dynamodb.TableV2.fromTableAttributes(stack, 'MyObjects', { tableName: 'my-objects', tableStreamArn: STREAM_ARN });
  const bucket = (options.importBucket ?? true) ? s3.Bucket.fromBucketName(stack, 'MyBlobs', 'my-blobs') : undefined;
  const tierlog = new Tierlog(stack, 'Storage', { objectsTable, ...(bucket ? { bucket } : {}), ...props });
  return { app, stack, tierlog, template: Template.fromStack(stack) };
}

describe('imported objects table and bucket', () => {
  it('build, with no unacknowledged cdk-nag finding (the stream grant acknowledged on the imported ARN)', () => {
    const { app } = withImported();
    expect(findings(app)).toEqual([]);
  });

  it('every function gets the imported names, and the stream function reads the given stream', () => {
    const { template } = withImported();
    const functions = Object.values(resourcesOf(template, 'AWS::Lambda::Function'));
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      const vars = (fn.Properties!['Environment'] as { Variables: Record<string, unknown> }).Variables;
      expect(vars[CONFIG_ENV.objectsTable]).toBe('my-objects');
      expect(vars[CONFIG_ENV.bucket]).toBe('my-blobs');
    }
    expect(onlyResource(template, 'AWS::Lambda::EventSourceMapping')[1].Properties!['EventSourceArn']).toBe(STREAM_ARN);
  });

  it("refuses the settings of the bucket the construct creates (an undo window or CORS rule the user's bucket may not have)", () => {
    expect(() => withImported({ noncurrentVersionExpiration: Duration.days(30) })).toThrow(
      /noncurrentVersionExpiration configures the bucket the construct creates/,
    );
    expect(() => withImported({ corsAllowedOrigins: ['https://app.example.com'] })).toThrow(
      /corsAllowedOrigins configures the bucket the construct creates/,
    );
  });

  it('refuses an imported directory bucket (S3 Express One Zone) at synth, as every function would at its first request', () => {
    const { stack } = userStack();
    const bucket = s3.Bucket.fromBucketName(stack, 'Express', 'blobs--usw2-az1--x-s3');
    expect(() => new Tierlog(stack, 'Storage', { bucket })).toThrow(/is an S3 directory bucket/);
    const general = s3.Bucket.fromBucketName(stack, 'General', 'blobs-x-s3');
    expect(() => new Tierlog(stack, 'Other', { bucket: general })).not.toThrow();
  });

  // S3 gives no bucket a name ending -s3alias, --ol-s3 or .mrap: those are the aliases of an access
  // point, an Object Lambda access point and a Multi-Region Access Point. Their requests are
  // authorized on the access point's ARN, and an alias is no resource of a policy, so the grants on
  // arn:aws:s3:::<alias>/<prefix>/* allowed nothing: every function's first S3 request refused, on
  // AWS only (the local stack checks no IAM).
  it.each(['blobs-ap-abcdefghijklmnopqrstuvwxyz123-s3alias', 'blobs-ap-abcdefghijklmnopqrstuvwxyz123--ol-s3', 'mfzwi23gnjvgw.mrap'])(
    'refuses an access point alias given as the bucket (%s), for the Tierlog, its parts and the grants',
    (alias) => {
      const { stack } = userStack();
      const bucket = s3.Bucket.fromBucketName(stack, 'Alias', alias);
      expect(() => new Tierlog(stack, 'Storage', { bucket })).toThrow(/is the alias of an access point, not a bucket/);
      const own = new Tierlog(stack, 'Own', { prefix: 'own' });
      const resources = { changeLogTable: own.changeLogTable, objectsTable: own.objectsTable, bucket, prefix: own.prefix };
      const writer = new iam.Role(stack, 'Writer', { assumedBy: new iam.AccountRootPrincipal() });
      expect(() => grantWriter(writer, resources)).toThrow(/resources.bucket .* is the alias of an access point, not a bucket/);
      const environment = { ...own.writerEnvironment, [CONFIG_ENV.bucket]: alias };
      expect(() => new TierlogSweeper(stack, 'Sweeper', { resources, environment, leaseShards: own.leaseShards })).toThrow(
        /resources.bucket .* is the alias of an access point, not a bucket/,
      );
    },
  );

  // Each function's loadConfig refuses one table named for both at init, on every invocation. With
  // objects keyed by pk, as the change log is, the table passed for an objects table at synth.
  it('refuses one table given as both the change log and the objects table, for the parts on their own, naming both', () => {
    const { stack } = userStack();
    const own = new Tierlog(stack, 'Own', { prefix: 'own', hvAttributes: { key: 'pk' } });
    const resources = { changeLogTable: own.changeLogTable, objectsTable: own.changeLogTable, bucket: own.bucket, prefix: own.prefix };
    const environment = { ...own.writerEnvironment, [CONFIG_ENV.objectsTable]: own.changeLogTable.tableName };
    const both = /resources.changeLogTable and resources.objectsTable are one table \(UserStack\/Own\/ChangeLogTable\)/;
    expect(() => new TierlogSweeper(stack, 'Sweeper', { resources, environment, leaseShards: own.leaseShards })).toThrow(both);
    expect(() => new ObjectsFunction(stack, 'Api', { resources, environment })).toThrow(both);
    // Two tables, each a reference resolved at deploy: two names to the function, not one stand-in for both.
    const right = { ...resources, objectsTable: own.objectsTable };
    new TierlogSweeper(stack, 'Right', { resources: right, environment: own.writerEnvironment, leaseShards: own.leaseShards });
  });

  it("refuses an imported table whose stream ARN is another table's: the stream function would read that table's records (each one untrusted) and never this one's", () => {
    const build = (attrs: dynamodb.TableAttributesV2) => () => {
      const { stack } = userStack();
      new Tierlog(stack, 'Storage', { objectsTable: dynamodb.TableV2.fromTableAttributes(stack, 'MyObjects', attrs) });
    };
    const otherStream = 'arn:aws:dynamodb:eu-west-1:123456789012:table/my-orders/stream/2026-01-01T00:00:00.000';
    expect(build({ tableName: 'my-objects', tableStreamArn: otherStream })).toThrow(
      /the objects table's stream .*table\/my-orders\/stream.* is not a stream of table "my-objects"/,
    );
    const tableArn = 'arn:aws:dynamodb:eu-west-1:123456789012:table/my-objects';
    expect(build({ tableArn, tableStreamArn: otherStream })).toThrow(/is not a stream of table "my-objects"/);
    // The same name in another account or region is another table.
    expect(build({ tableArn, tableStreamArn: STREAM_ARN.replace('123456789012', '999999999999') })).toThrow(
      /is not a stream of table "my-objects"/,
    );
    expect(build({ tableName: 'my-objects', tableStreamArn: STREAM_ARN })).not.toThrow();
    expect(build({ tableArn, tableStreamArn: STREAM_ARN })).not.toThrow();
  });

  it("refuses auditAtScale with the user's bucket (its S3 Inventory is a setting of the bucket, which the construct cannot add)", () => {
    expect(() => withImported({ auditAtScale: true })).toThrow(/auditAtScale needs the bucket the construct creates/);
  });

  it('with auditAtScale (the bucket the construct creates): the table exports are acknowledged on the imported ARN', () => {
    const { app } = withImported({ auditAtScale: true }, { importBucket: false });
    expect(findings(app)).toEqual([]);
  });
});

describe('an objects table defined in the app', () => {
  type TableSettings = Partial<dynamodb.TablePropsV2>;
  const base: TableSettings = {
    partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
    dynamoStream: dynamodb.StreamViewType.OLD_IMAGE,
    timeToLiveAttribute: 'expiresAt',
  };
  const build = (table: TableSettings, props: TierlogProps = {}) => {
    const { stack } = userStack();
    const objectsTable = new dynamodb.TableV2(stack, 'MyObjects', { ...base, ...table } as dynamodb.TablePropsV2);
    return () => new Tierlog(stack, 'Storage', { objectsTable, ...props });
  };

  it.each<[string, TableSettings, TierlogProps, RegExp]>([
    // Every record would be judged untrusted: the blobs of expired and replaced objects leak.
    ['a stream of new images', { dynamoStream: dynamodb.StreamViewType.NEW_IMAGE }, {}, /old images .*not NEW_IMAGE/],
    ['a stream of keys only', { dynamoStream: dynamodb.StreamViewType.KEYS_ONLY }, {}, /old images .*not KEYS_ONLY/],
    // Expired objects would never be removed, nor their blobs deleted.
    ['TTL on another attribute', { timeToLiveAttribute: 'ttl' }, {}, /TTL must be on "expiresAt" .*not "ttl"/],
    ['no TTL', { timeToLiveAttribute: undefined }, {}, /TTL must be on "expiresAt" .*not off/],
    ['TTL not on the configured expiry attribute', {}, { hvAttributes: { expiresAt: 'ttl' } }, /TTL must be on "ttl"/],
    [
      'another partition key',
      { partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING } },
      {},
      /partition key "key" .*not HASH "id"/,
    ],
    ['a number key', { partitionKey: { name: 'key', type: dynamodb.AttributeType.NUMBER } }, {}, /type N/],
    ['a sort key', { sortKey: { name: 'v', type: dynamodb.AttributeType.NUMBER } }, {}, /HASH "key" \+ RANGE "v"/],
  ])('with %s is refused, naming the problem', (_name, table, props, message) => {
    expect(build(table, props)).toThrow(message);
  });

  it('with TTL on the expiry attribute but disabled is refused (expired objects would never be removed)', () => {
    const { stack } = userStack();
    const objectsTable = new dynamodb.TableV2(stack, 'MyObjects', base as dynamodb.TablePropsV2);
    (objectsTable.node.defaultChild as dynamodb.CfnGlobalTable).timeToLiveSpecification = { attributeName: 'expiresAt', enabled: false };
    expect(() => new Tierlog(stack, 'Storage', { objectsTable })).toThrow(/TTL must be on "expiresAt" .*not off/);
  });

  it('a Table (not TableV2) is checked the same: its stream, and point-in-time recovery with auditAtScale', () => {
    const build1 =
      (table: Partial<dynamodb.TableProps>, props: TierlogProps = {}) =>
      () => {
        const { stack } = userStack();
        const objectsTable = new dynamodb.Table(stack, 'MyObjects', {
          partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
          stream: dynamodb.StreamViewType.OLD_IMAGE,
          timeToLiveAttribute: 'expiresAt',
          ...table,
        });
        return new Tierlog(stack, 'Storage', { objectsTable, ...props });
      };
    expect(build1({ stream: dynamodb.StreamViewType.NEW_IMAGE })).toThrow(/old images .*not NEW_IMAGE/);
    expect(build1({}, { auditAtScale: true })).toThrow(/needs point-in-time recovery/);
    expect(build1({ pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } }, { auditAtScale: true })).not.toThrow();
    expect(build1({})).not.toThrow();
  });

  it('with a replica in another region is refused (consistent reads and conditional writes hold within one region)', () => {
    const inRegion = (replicas: dynamodb.ReplicaTableProps[]) => () => {
      const stack = new Stack(newApp(), 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
      const objectsTable = new dynamodb.TableV2(stack, 'MyObjects', { ...base, replicas } as dynamodb.TablePropsV2);
      return new Tierlog(stack, 'Storage', { objectsTable });
    };
    expect(inRegion([{ region: 'us-east-1' }])).toThrow(/must live in one region, not 2 \(.*us-east-1.*\)/);
    expect(inRegion([])).not.toThrow();
  });

  it('with a replica added after the construct is refused at synth (a TableV2 written in steps)', () => {
    // Checked only when the construct was made: `addReplica` next put the objects table in two
    // regions, and the app synthesized with nothing refused.
    const stack = new Stack(newApp(), 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
    const objectsTable = new dynamodb.TableV2(stack, 'MyObjects', base as dynamodb.TablePropsV2);
    new Tierlog(stack, 'Storage', { objectsTable });
    objectsTable.addReplica({ region: 'us-east-1' });
    expect(() => (stack.node.root as App).synth()).toThrow(
      /objectsTable UserStack\/MyObjects cannot be tierlog's objects table: it must live in one region, not 2 \(.*us-east-1.*\)/,
    );
  });

  it('a Table (not TableV2) with replicationRegions is refused the same (its replicas are custom resources, not table properties)', () => {
    const withReplicas = (replicationRegions: string[]) => () => {
      const stack = new Stack(newApp(), 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
      const objectsTable = new dynamodb.Table(stack, 'MyObjects', {
        partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
        stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        timeToLiveAttribute: 'expiresAt',
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        ...(replicationRegions.length > 0 ? { replicationRegions } : {}),
      });
      return new Tierlog(stack, 'Storage', { objectsTable });
    };
    expect(withReplicas(['us-east-1', 'ap-south-1'])).toThrow(/must live in one region, not 3 \(eu-west-1, us-east-1, ap-south-1\)/);
    expect(withReplicas([])).not.toThrow();
  });

  it('with auditAtScale, without point-in-time recovery is refused (every run would fail to export it)', () => {
    expect(build({}, { auditAtScale: true })).toThrow(
      /auditAtScale exports it with ExportTableToPointInTime, which needs point-in-time recovery/,
    );
    expect(build({ pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true } }, { auditAtScale: true })).not.toThrow();
    // auditAtScale: false is off: no export, no need of it.
    expect(build({}, { auditAtScale: false })).not.toThrow();
  });

  it('with the stream, TTL and key it needs (under the configured names) is taken', () => {
    expect(build({}, {})).not.toThrow();
    expect(build({ dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES }, {})).not.toThrow();
    expect(
      build(
        { partitionKey: { name: 'k', type: dynamodb.AttributeType.STRING }, timeToLiveAttribute: 'ttl' },
        { hvAttributes: { key: 'k', expiresAt: 'ttl' } },
      ),
    ).not.toThrow();
  });
});

describe('a bucket defined in the app', () => {
  const build = (props: s3.BucketProps, prefix = 'blobs') => {
    const { stack } = userStack();
    const bucket = new s3.Bucket(stack, 'MyBlobs', props);
    new Tierlog(stack, 'Storage', { bucket, prefix });
    return () => Template.fromStack(stack);
  };
  const abort = { abortIncompleteMultipartUploadAfter: Duration.days(8) };
  const noncurrent = { noncurrentVersionExpiration: Duration.days(7) };

  it.each<[string, s3.BucketProps, RegExp]>([
    // An upload no entry or session names is found by nothing: its parts are billed for ever.
    [
      'no abort rule for incomplete uploads',
      { lifecycleRules: [] },
      /no lifecycle rule over "blobs\/" aborts incomplete multipart uploads/,
    ],
    // Every blob tierlog deletes stays as a noncurrent version.
    [
      'versioned, without a noncurrent-version expiry',
      { versioned: true, lifecycleRules: [abort] },
      /versioned, and no lifecycle rule over "blobs\/" expires noncurrent versions/,
    ],
    [
      'its rules on another prefix',
      { versioned: true, lifecycleRules: [{ prefix: 'other/', ...abort, ...noncurrent }] },
      /aborts incomplete[\s\S]*expires noncurrent/,
    ],
    [
      'its rules on tagged objects only',
      { lifecycleRules: [{ tagFilters: { keep: 'no' }, ...abort }] },
      /aborts incomplete multipart uploads/,
    ],
    ['its rules disabled', { lifecycleRules: [{ enabled: false, ...abort }] }, /aborts incomplete multipart uploads/],
    // A size filter leaves the uploads outside it (and a multipart upload has no size until it completes).
    [
      'its rules on objects above a size only',
      { lifecycleRules: [{ objectSizeGreaterThan: 1024, ...abort }] },
      /aborts incomplete multipart uploads/,
    ],
    [
      'its rules on objects below a size only',
      { lifecycleRules: [{ objectSizeLessThan: 1024 * 1024, ...abort }] },
      /aborts incomplete multipart uploads/,
    ],
    // The live blobs themselves: deleted (a delete marker on a versioned bucket) while the objects
    // table points at them, or moved where S3 reads them only once restored.
    [
      'a rule that expires the current objects under the prefix',
      { versioned: true, lifecycleRules: [{ ...abort, ...noncurrent, expiration: Duration.days(30) }] },
      /a lifecycle rule over "blobs\/" expires current objects: it deletes the live blobs the objects table points at/,
    ],
    [
      'a rule over part of the prefix, for objects above a size, that expires them on a date',
      { lifecycleRules: [abort, { prefix: 'blobs/a', objectSizeGreaterThan: 1024, expirationDate: new Date('2030-01-01') }] },
      /expires current objects/,
    ],
    [
      'a rule over the whole bucket that moves objects to Glacier Flexible Retrieval',
      { lifecycleRules: [abort, { transitions: [{ storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(30) }] }] },
      /a lifecycle rule over "blobs\/" moves current objects to GLACIER: S3 reads none until it is restored/,
    ],
    [
      'a rule that moves objects to Deep Archive',
      { lifecycleRules: [{ ...abort, transitions: [{ storageClass: s3.StorageClass.DEEP_ARCHIVE, transitionAfter: Duration.days(90) }] }] },
      /moves current objects to DEEP_ARCHIVE/,
    ],
  ])('with %s is refused, naming the problem', (_name, props, message) => {
    expect(build(props)).toThrow(message);
  });

  it('Intelligent-Tiering with an archive tier over the prefix, for the blobs a rule moves to it: refused; either alone is taken', () => {
    // Objects in INTELLIGENT_TIERING that go unread move to its archive tiers, which S3 reads only once restored.
    const toTiering = { ...abort, transitions: [{ storageClass: s3.StorageClass.INTELLIGENT_TIERING, transitionAfter: Duration.days(0) }] };
    const archive = { name: 'archive', archiveAccessTierTime: Duration.days(90), deepArchiveAccessTierTime: Duration.days(180) };
    expect(build({ lifecycleRules: [toTiering], intelligentTieringConfigurations: [archive] })).toThrow(
      /an Intelligent-Tiering configuration over "blobs\/" moves the objects a lifecycle rule puts in INTELLIGENT_TIERING to ARCHIVE_ACCESS, DEEP_ARCHIVE_ACCESS: S3 reads none until it is restored/,
    );
    expect(build({ lifecycleRules: [toTiering], intelligentTieringConfigurations: [{ ...archive, prefix: 'blobs/' }] })).toThrow(
      /Intelligent-Tiering configuration/,
    );
    expect(build({ lifecycleRules: [toTiering] })).not.toThrow();
    expect(build({ lifecycleRules: [abort], intelligentTieringConfigurations: [archive] })).not.toThrow();
    expect(build({ lifecycleRules: [toTiering], intelligentTieringConfigurations: [{ ...archive, prefix: 'logs/' }] })).not.toThrow();
    expect(
      build({ lifecycleRules: [toTiering], intelligentTieringConfigurations: [{ ...archive, tags: [{ key: 'cold', value: 'yes' }] }] }),
    ).not.toThrow();
  });

  it('rules that leave the live blobs under the prefix alone are taken: other prefixes, tagged objects, classes S3 reads at once', () => {
    const expire = { expiration: Duration.days(30) };
    expect(build({ lifecycleRules: [abort, { prefix: 'logs/', ...expire }, { prefix: 'blobsx/', ...expire }] })).not.toThrow();
    // tierlog tags nothing: a rule on tagged objects never applies to its blobs.
    expect(build({ lifecycleRules: [abort, { tagFilters: { temporary: 'yes' }, ...expire }] })).not.toThrow();
    expect(
      build({
        lifecycleRules: [
          {
            ...abort,
            transitions: [
              { storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) },
              { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(90) },
            ],
          },
        ],
      }),
    ).not.toThrow();
    // Noncurrent versions (the undo window) and expired delete markers are not live blobs.
    expect(
      build({
        versioned: true,
        lifecycleRules: [
          {
            ...abort,
            ...noncurrent,
            expiredObjectDeleteMarker: true,
            noncurrentVersionTransitions: [{ storageClass: s3.StorageClass.GLACIER, transitionAfter: Duration.days(1) }],
          },
        ],
      }),
    ).not.toThrow();
  });

  it('rules added after the construct count (the check runs at synth)', () => {
    const { stack } = userStack();
    const bucket = new s3.Bucket(stack, 'MyBlobs', { versioned: true });
    new Tierlog(stack, 'Storage', { bucket });
    bucket.addLifecycleRule({ ...abort, ...noncurrent });
    expect(() => Template.fromStack(stack)).not.toThrow();
  });

  it('with the rules over the prefix (or the whole bucket) is taken; versioning is advised, not required', () => {
    expect(build({ versioned: true, lifecycleRules: [{ ...abort, ...noncurrent }] })).not.toThrow();
    expect(
      build(
        {
          versioned: true,
          lifecycleRules: [
            { prefix: 'tenant/', ...abort },
            { prefix: 'tenant/media/', ...noncurrent },
          ],
        },
        'tenant/media',
      ),
    ).not.toThrow();
    expect(build({ lifecycleRules: [abort] })).not.toThrow();
  });
  it('an abort rule shorter than the longest upload session (7 days) is taken with a synth warning naming it', () => {
    const warnings = (abortAfter: number) => {
      const { stack } = userStack();
      const bucket = new s3.Bucket(stack, 'MyBlobs', {
        lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(abortAfter) }],
      });
      new Tierlog(stack, 'Storage', { bucket });
      return Annotations.fromStack(stack)
        .findWarning('*', Match.stringLikeRegexp('aborts incomplete multipart uploads'))
        .map((w) => String(w.entry.data));
    };
    expect(warnings(1)).toEqual([
      expect.stringMatching(/MyBlobs aborts incomplete multipart uploads under "blobs\/" after 1 day\(s\).*at least 8 days/),
    ]);
    expect(warnings(8)).toEqual([]);
  });
});

describe('one store per bucket prefix', () => {
  const abort = { lifecycleRules: [{ abortIncompleteMultipartUploadAfter: Duration.days(8) }] };

  it('two constructs of one app under the same bucket and prefix fail synthesis, naming the other: in one stack and across stacks', () => {
    const { app, stack } = userStack();
    const bucket = new s3.Bucket(stack, 'MyBlobs', abort);
    new Tierlog(stack, 'Photos', { bucket, prefix: 'media' });
    new Tierlog(stack, 'Videos', { bucket, prefix: 'media' });
    expect(() => Template.fromStack(stack)).toThrow(/UserStack\/Videos stores blobs under the same bucket and prefix "media\/"/);

    // Another stack of the app, the bucket imported by its name; and the construct's own bucket given to a second one.
    const other = new Stack(app, 'OtherStack');
    new Tierlog(other, 'Archive', { bucket: s3.Bucket.fromBucketName(other, 'Same', 'shared-blobs'), prefix: 'blobs' });
    const third = new Stack(app, 'ThirdStack');
    new Tierlog(third, 'Archive', { bucket: s3.Bucket.fromBucketName(third, 'Same', 'shared-blobs') });
    expect(() => Template.fromStack(other)).toThrow(/ThirdStack\/Archive stores blobs under the same bucket and prefix "blobs\/"/);
    const { stack: single } = userStack();
    const owner = new Tierlog(single, 'Owner', {});
    new Tierlog(single, 'Borrower', { bucket: owner.bucket });
    expect(() => Template.fromStack(single)).toThrow(/UserStack\/Owner stores blobs under the same bucket and prefix/);
  });

  it('a bucket of the app that has a name, and the same bucket imported by that name elsewhere: refused (its name is a token on one side, a literal on the other)', () => {
    const { app, stack } = userStack();
    new Tierlog(stack, 'Media', { bucket: new s3.Bucket(stack, 'Named', { ...abort, bucketName: 'shared-media' }) });
    const other = new Stack(app, 'Reports');
    new Tierlog(other, 'Archive', { bucket: s3.Bucket.fromBucketName(other, 'Same', 'shared-media') });
    expect(() => Template.fromStack(other)).toThrow(/UserStack\/Media stores blobs under the same bucket and prefix "blobs\/"/);
    expect(() => Template.fromStack(stack)).toThrow(/Reports\/Archive stores blobs under the same bucket and prefix "blobs\/"/);
    // By its ARN too; another name, or another prefix, is taken.
    const { app: app2, stack: stack2 } = userStack();
    new Tierlog(stack2, 'Media', { bucket: new s3.Bucket(stack2, 'Named', { ...abort, bucketName: 'shared-media' }) });
    const byArn = new Stack(app2, 'ByArn');
    new Tierlog(byArn, 'Archive', { bucket: s3.Bucket.fromBucketArn(byArn, 'Same', 'arn:aws:s3:::shared-media') });
    expect(() => Template.fromStack(byArn)).toThrow(/UserStack\/Media stores blobs under the same bucket/);
    const { app: app3, stack: stack3 } = userStack();
    new Tierlog(stack3, 'Media', { bucket: new s3.Bucket(stack3, 'Named', { ...abort, bucketName: 'shared-media' }) });
    const apart = new Stack(app3, 'Apart');
    new Tierlog(apart, 'Archive', { bucket: s3.Bucket.fromBucketName(apart, 'Same', 'other-media') });
    new Tierlog(apart, 'Nested', { bucket: s3.Bucket.fromBucketName(apart, 'Again', 'shared-media'), prefix: 'blobs/nested' });
    expect(() => Template.fromStack(apart)).not.toThrow();
    expect(() => Template.fromStack(stack3)).not.toThrow();
  });

  it('two constructs of one app given the same objects table fail synthesis, naming the other: an object written through one is unreadable through the other (its blob in the other bucket or prefix)', () => {
    // Each makes its own bucket: before, nothing compared the tables.
    const { stack } = userStack();
    const table = new dynamodb.TableV2(stack, 'MyObjects', {
      partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
      dynamoStream: dynamodb.StreamViewType.OLD_IMAGE,
      timeToLiveAttribute: 'expiresAt',
    });
    new Tierlog(stack, 'Photos', { objectsTable: table });
    new Tierlog(stack, 'Videos', { objectsTable: table, prefix: 'videos' });
    expect(() => Template.fromStack(stack)).toThrow(/UserStack\/Photos uses the same objects table/);
    // The construct's own table given to a second one; a table imported by its name in another stack of the same environment.
    const { stack: single } = userStack();
    const owner = new Tierlog(single, 'Owner', {});
    new Tierlog(single, 'Borrower', { objectsTable: owner.objectsTable, prefix: 'borrowed' });
    expect(() => Template.fromStack(single)).toThrow(/UserStack\/Owner uses the same objects table/);
    const env = { account: '123456789012', region: 'eu-west-1' };
    const app2 = newApp();
    const first = new Stack(app2, 'First', { env });
    const second = new Stack(app2, 'Second', { env });
    new Tierlog(first, 'Media', {
      objectsTable: dynamodb.TableV2.fromTableAttributes(first, 'T', { tableName: 'my-objects', tableStreamArn: STREAM_ARN }),
    });
    new Tierlog(second, 'Media', {
      objectsTable: dynamodb.TableV2.fromTableAttributes(second, 'T', { tableName: 'my-objects', tableStreamArn: STREAM_ARN }),
    });
    expect(() => Template.fromStack(second)).toThrow(/First\/Media uses the same objects table \("my-objects"\)/);
  });

  it('tables of the same name in other regions, or whose environments are not known, are other tables: taken', () => {
    const app = newApp();
    const arnIn = (region: string) => `arn:aws:dynamodb:${region}:123456789012:table/my-objects/stream/2026-01-01T00:00:00.000`;
    const stacks = [
      ...['eu-west-1', 'us-east-1'].map((region) => ({
        id: `In-${region}`,
        env: { account: '123456789012', region },
        stream: arnIn(region),
      })),
      // Two environment-agnostic stacks may be deployed to two regions: not compared.
      ...['AgnosticA', 'AgnosticB'].map((id) => ({ id, env: undefined, stream: STREAM_ARN })),
    ].map(({ id, env, stream }) => {
      const stack = new Stack(app, id, env ? { env } : {});
      new Tierlog(stack, 'Media', {
        objectsTable: dynamodb.TableV2.fromTableAttributes(stack, 'T', { tableName: 'my-objects', tableStreamArn: stream }),
      });
      return stack;
    });
    for (const stack of stacks) expect(() => Template.fromStack(stack)).not.toThrow();
  });

  it('another prefix, nested or not, or another bucket, is taken', () => {
    const { stack } = userStack();
    const bucket = new s3.Bucket(stack, 'MyBlobs', abort);
    new Tierlog(stack, 'Photos', { bucket, prefix: 'media' });
    new Tierlog(stack, 'Videos', { bucket, prefix: 'media/videos' });
    new Tierlog(stack, 'Docs', { bucket: new s3.Bucket(stack, 'Other', abort), prefix: 'media' });
    new Tierlog(stack, 'Own', { prefix: 'media' });
    expect(() => Template.fromStack(stack)).not.toThrow();
  });
});
