import { afterAll, describe, expect, it } from 'vitest';
import { Template } from 'aws-cdk-lib/assertions';
import { schemaTable } from '../../infra/tables.js';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { createTableInput } from '../../lib/local/provision.js';
import { changeLogTableSchema, objectsTableSchema, type TableSchema } from '../../lib/schema/tables.js';
import { LEASE_INDEX_NAME } from '../../lib/constants.js';
import { cleanOutdirs, logicalIdOf, newApp, onlyResource, resourcesOf, tierlogTemplate, userStack } from './helpers.js';
import { TierlogStack } from '../../infra/stack.js';
import { Tierlog } from '../../infra/tierlog.js';
import * as s3 from 'aws-cdk-lib/aws-s3';

afterAll(cleanOutdirs);

const { stack, template } = tierlogTemplate();
const tables = resourcesOf(template, 'AWS::DynamoDB::GlobalTable');
const changeLogId = logicalIdOf(stack, stack.tierlog.changeLogTable);
const objectsId = logicalIdOf(stack, stack.tierlog.objectsTable);

/** The parts of a GlobalTable that CreateTable also has, in CreateTable's shape. */
function asCreateTable(id: string) {
  const p = tables[id]!.Properties!;
  const sort = <T extends { AttributeName: string }>(xs: T[]) => [...xs].sort((a, b) => a.AttributeName.localeCompare(b.AttributeName));
  return {
    BillingMode: p['BillingMode'],
    AttributeDefinitions: sort(p['AttributeDefinitions'] as Array<{ AttributeName: string }>),
    KeySchema: p['KeySchema'],
    GlobalSecondaryIndexes: p['GlobalSecondaryIndexes'],
  };
}

function expectedFromLocal(schema: TableSchema) {
  const input = createTableInput(schema, 'local-name');
  return {
    BillingMode: input.BillingMode,
    AttributeDefinitions: [...input.AttributeDefinitions!].sort((a, b) => a.AttributeName!.localeCompare(b.AttributeName!)),
    KeySchema: input.KeySchema,
    GlobalSecondaryIndexes: input.GlobalSecondaryIndexes,
  };
}

describe('tables from the shared schema', () => {
  it('creates exactly the two tables', () => {
    expect(Object.keys(tables).sort()).toEqual([changeLogId, objectsId].sort());
  });

  it('the change-log table has the keys and lease index provisionLocal creates', () => {
    expect(asCreateTable(changeLogId)).toEqual(expectedFromLocal(changeLogTableSchema));
    expect(tables[changeLogId]!.Properties!['GlobalSecondaryIndexes']).toEqual([
      {
        IndexName: LEASE_INDEX_NAME,
        KeySchema: [
          { AttributeName: 'shard', KeyType: 'HASH' },
          { AttributeName: 'leaseUntil', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['state', 'claimedBy'] },
      },
    ]);
  });

  it('the objects table has the key provisionLocal creates and no index', () => {
    const { GlobalSecondaryIndexes, ...rest } = asCreateTable(objectsId);
    const { GlobalSecondaryIndexes: localIndexes, ...expected } = expectedFromLocal(objectsTableSchema);
    expect(rest).toEqual(expected);
    expect(GlobalSecondaryIndexes).toBeUndefined();
    expect(localIndexes).toBeUndefined();
  });

  it.each([
    ['change log', () => changeLogId],
    ['objects', () => objectsId],
  ])('%s table: on-demand, PITR, deletion protection, retained', (_name, id) => {
    const table = tables[id()]!;
    expect(table.Properties!['BillingMode']).toBe('PAY_PER_REQUEST');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties!['Replicas']).toEqual([
      expect.objectContaining({
        DeletionProtectionEnabled: true,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    ]);
  });

  it('a schema change follows: any key, sort key and index map like CreateTable', () => {
    const schema: TableSchema = {
      partitionKey: { name: 'a', type: 'B' },
      sortKey: { name: 'b', type: 'N' },
      globalSecondaryIndexes: [
        { indexName: 'one', partitionKey: { name: 'c', type: 'S' }, nonKeyAttributes: ['x'] },
        { indexName: 'two', partitionKey: { name: 'a', type: 'B' }, sortKey: { name: 'd', type: 'S' }, nonKeyAttributes: [] },
      ],
    };
    const { stack: s } = userStack();
    const table = schemaTable(s, 'T', schema);
    const t = Template.fromStack(s);
    const props = t.toJSON().Resources[logicalIdOf(s, table)].Properties;
    const local = createTableInput(schema, 'n');
    const byName = (x: { AttributeName?: string }, y: { AttributeName?: string }) => x.AttributeName!.localeCompare(y.AttributeName!);
    expect([...props.AttributeDefinitions].sort(byName)).toEqual([...local.AttributeDefinitions!].sort(byName));
    expect(props.KeySchema).toEqual(local.KeySchema);
    expect(
      props.GlobalSecondaryIndexes.map((i: { Projection: { NonKeyAttributes?: string[] } }) => ({
        ...i,
        Projection: { ...i.Projection, NonKeyAttributes: i.Projection.NonKeyAttributes ?? [] },
      })),
    ).toEqual(local.GlobalSecondaryIndexes);
  });

  it('removalPolicy DESTROY (scratch stacks) also turns deletion protection off', () => {
    const { template: t } = tierlogTemplate({ removalPolicy: RemovalPolicy.DESTROY });
    for (const table of Object.values(resourcesOf(t, 'AWS::DynamoDB::GlobalTable'))) {
      expect(table.DeletionPolicy).toBe('Delete');
      expect(table.Properties!['Replicas']).toEqual([expect.objectContaining({ DeletionProtectionEnabled: false })]);
    }
  });

  it('any removalPolicy but RETAIN turns deletion protection off (RETAIN_ON_UPDATE_OR_DELETE deletes a table whose create failed)', () => {
    const { template: t } = tierlogTemplate({ removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE });
    for (const table of Object.values(resourcesOf(t, 'AWS::DynamoDB::GlobalTable'))) {
      expect(table.DeletionPolicy).toBe('RetainExceptOnCreate');
      expect(table.Properties!['Replicas']).toEqual([expect.objectContaining({ DeletionProtectionEnabled: false })]);
    }
  });

  it('schemaTable on its own: on-demand, PITR, deletion protection, AWS-owned encryption, retained', () => {
    const { stack: s } = userStack();
    const table = schemaTable(s, 'T', changeLogTableSchema);
    const resource = Template.fromStack(s).toJSON().Resources[logicalIdOf(s, table)];
    expect(resource.DeletionPolicy).toBe('Retain');
    expect(resource.Properties.BillingMode).toBe('PAY_PER_REQUEST');
    // AWS-owned: SSE off in CloudFormation's terms (a KMS key would need grants on every role).
    expect(resource.Properties.SSESpecification).toEqual({ SSEEnabled: false });
    expect(resource.Properties.Replicas).toEqual([
      expect.objectContaining({ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
    ]);
    expect(resource.Properties.Replicas[0].SSESpecification).toBeUndefined();
  });

  it('removalPolicy DESTROY empties the buckets before deleting them; RETAIN leaves them and their objects', () => {
    const { template: scratch } = tierlogTemplate({ removalPolicy: RemovalPolicy.DESTROY, auditAtScale: {} });
    const buckets = Object.keys(resourcesOf(scratch, 'AWS::S3::Bucket'));
    expect(buckets.length).toBe(3); // blobs, access logs, snapshots
    const emptied = Object.values(resourcesOf(scratch, 'Custom::S3AutoDeleteObjects')).map(
      (r) => (r.Properties!['BucketName'] as { Ref: string }).Ref,
    );
    expect(emptied.sort()).toEqual(buckets.sort());
    const { template: kept } = tierlogTemplate({ auditAtScale: {} });
    expect(Object.keys(resourcesOf(kept, 'Custom::S3AutoDeleteObjects'))).toEqual([]);
    for (const bucket of Object.values(resourcesOf(kept, 'AWS::S3::Bucket'))) expect(bucket.DeletionPolicy).toBe('Retain');
  });
});

/**
 * What CloudFormation replaces a table (or the bucket) for: another logical id, a physical name,
 * another key schema or key attribute, local indexes; and, for the objects table, another stream
 * (a view type changed, the stream off: its unread records lost). A replaced table is retained,
 * but every function then points at a new, empty one (docs/DESIGN.md, "Upgrades and configuration
 * changes"): no configuration change of the construct may cause it, but `hvAttributes.key`.
 */
describe('construct changes that keep the tables and the bucket', () => {
  type Props = Parameters<typeof tierlogTemplate>[0];
  function identity(props: Props) {
    const { stack: s, template: t } = tierlogTemplate(props);
    const tableIdentity = (id: string) => {
      const table = resourcesOf(t, 'AWS::DynamoDB::GlobalTable')[id]!;
      const p = table.Properties!;
      const keys = (p['KeySchema'] as Array<{ AttributeName: string }>).map((k) => k.AttributeName);
      return {
        id,
        KeySchema: p['KeySchema'],
        keyTypes: (p['AttributeDefinitions'] as Array<{ AttributeName: string }>).filter((a) => keys.includes(a.AttributeName)),
        TableName: p['TableName'],
        LocalSecondaryIndexes: p['LocalSecondaryIndexes'],
        StreamSpecification: p['StreamSpecification'],
        DeletionPolicy: table.DeletionPolicy,
        UpdateReplacePolicy: table.UpdateReplacePolicy,
      };
    };
    const bucketId = logicalIdOf(s, s.tierlog.bucket);
    const bucket = resourcesOf(t, 'AWS::S3::Bucket')[bucketId]!;
    const [, mapping] = onlyResource(t, 'AWS::Lambda::EventSourceMapping');
    return {
      changeLog: tableIdentity(logicalIdOf(s, s.tierlog.changeLogTable)),
      objects: tableIdentity(logicalIdOf(s, s.tierlog.objectsTable)),
      bucket: { id: bucketId, BucketName: bucket.Properties!['BucketName'], UpdateReplacePolicy: bucket.UpdateReplacePolicy },
      // A mapping replaced by an update reads its stream again from the oldest record, never from "now".
      startingPosition: mapping.Properties!['StartingPosition'],
    };
  }
  const base = identity({});

  it.each<[string, Props]>([
    ['leaseShards', { leaseShards: 8 }],
    ['sweeperParallelism', { leaseShards: 8, sweeperParallelism: 2 }],
    ['prefix', { prefix: 'app/blobs' }],
    ['hvAttributes other than key', { hvAttributes: { blob: 'ptr', body: 'data', expiresAt: 'ttl' } }],
    ['objectsFunction', { objectsFunction: false }],
    ['auditAtScale', { auditAtScale: {} }],
    ['bucket settings', { corsAllowedOrigins: ['https://app.example.com'], noncurrentVersionExpiration: Duration.days(30) }],
    ['stream tuning', { streamIteratorAgeThreshold: Duration.hours(2) }],
  ])('%s: same tables, keys, stream and bucket', (_name, props) => {
    expect(identity(props)).toEqual(base);
  });

  it('the tables have no physical name, the stream carries old images, the mapping starts at the trim horizon', () => {
    expect(base.changeLog.TableName).toBeUndefined();
    expect(base.objects.TableName).toBeUndefined();
    expect(base.objects.StreamSpecification).toEqual({ StreamViewType: 'OLD_IMAGE' });
    expect(base.bucket.BucketName).toBeUndefined();
    expect(base.startingPosition).toBe('TRIM_HORIZON');
  });

  it('hvAttributes.key is the one prop that changes a key schema: it would replace the objects table (refused at deploy by the guard, below)', () => {
    const renamed = identity({ hvAttributes: { key: 'id' } });
    expect(renamed.changeLog).toEqual(base.changeLog);
    expect(renamed.objects.KeySchema).not.toEqual(base.objects.KeySchema);
  });
});

/** The guard policy whose name starts `tierlog-<kind>-`. */
function guardPolicy(t: Template, kind: 'tables' | 'store'): Record<string, unknown> {
  const policies = Object.values(resourcesOf(t, 'AWS::IAM::ManagedPolicy')).filter((r) =>
    JSON.stringify(r.Properties!['ManagedPolicyName']).includes(`"tierlog-${kind}-`),
  );
  expect(policies).toHaveLength(1);
  return policies[0]!.Properties!;
}

describe('the guard against a replaced objects table (infra/table-guard.ts)', () => {
  const guard = (props: Parameters<typeof tierlogTemplate>[0]) => {
    const { stack: s, template: t } = tierlogTemplate(props);
    return { s, p: guardPolicy(t, 'tables') };
  };

  it('a managed policy of a fixed name whose path is the objects table name: a replaced table changes the path, which CloudFormation refuses to do to a named resource', () => {
    const { s, p } = guard({});
    const name = p['ManagedPolicyName'] as { 'Fn::Join': [string, unknown[]] };
    expect(name['Fn::Join'][1]).toEqual([expect.stringMatching(/^tierlog-tables-[0-9a-f]{16}-$/), { Ref: 'AWS::Region' }]);
    expect(p['Path']).toEqual({ 'Fn::Join': ['', ['/tierlog/', { Ref: logicalIdOf(s, s.tierlog.objectsTable) }, '/']] });
    // Attached to nothing, denying only the deletion of the store's tables.
    expect(p['Roles'] ?? p['Users'] ?? p['Groups']).toBeUndefined();
    expect((p['PolicyDocument'] as { Statement: unknown[] }).Statement).toEqual([
      expect.objectContaining({ Effect: 'Deny', Action: 'dynamodb:DeleteTable' }),
    ]);
    // The same name whatever else changes (another deploy of the same construct).
    expect(guard({ leaseShards: 8, hvAttributes: { key: 'id' } }).p['ManagedPolicyName']).toEqual(p['ManagedPolicyName']);
    // Another stack name (the same app deployed twice in one account and region): another name.
    const app = newApp();
    const other = Template.fromStack(new TierlogStack(app, 'Tierlog', { stackName: 'tierlog-dev' }));
    expect(guardPolicy(other, 'tables')['ManagedPolicyName']).not.toEqual(p['ManagedPolicyName']);
  });

  it('tableReplacementAcknowledged renames it (a deliberate migration); a word IAM cannot take is refused', () => {
    const { p } = guard({ tableReplacementAcknowledged: 'move-2026-12' });
    expect((p['ManagedPolicyName'] as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]).toEqual([
      expect.stringMatching(/^tierlog-tables-/),
      { Ref: 'AWS::Region' },
      '-move-2026-12',
    ]);
    expect(() => tierlogTemplate({ tableReplacementAcknowledged: 'no spaces' })).toThrow(/tableReplacementAcknowledged/);
  });
});

describe('the guard against a store moved to another prefix, bucket or attribute names (infra/table-guard.ts)', () => {
  /**
   * Blob keys carry the prefix, HV items their blobs under the attribute names, and the bucket is
   * the one the functions read: changed on a deployed store, every object written before was
   * unreadable and its blob never cleaned (docs/DESIGN.md, "not settings one changes"), and the
   * update deployed. A second named policy carries them in its path, as the tables' guard does
   * the objects table: CloudFormation refuses the update that would change it.
   */
  type Props = Parameters<typeof tierlogTemplate>[0];
  const store = (props: Props) => guardPolicy(tierlogTemplate(props).template, 'store');
  const base = store({});

  it('a policy of a fixed name, attached to nothing, whose path names the bucket, then the prefix and attribute names', () => {
    const { stack: s, template: t } = tierlogTemplate({});
    const p = guardPolicy(t, 'store');
    expect((p['ManagedPolicyName'] as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]).toEqual([
      expect.stringMatching(/^tierlog-store-[0-9a-f]{16}-$/),
      { Ref: 'AWS::Region' },
    ]);
    expect(p['Path']).toEqual({
      'Fn::Join': ['', ['/tierlog-store/', { Ref: logicalIdOf(s, s.tierlog.bucket) }, expect.stringMatching(/^\/[0-9a-f]{16}\/$/)]],
    });
    expect(p['Roles'] ?? p['Users'] ?? p['Groups']).toBeUndefined();
  });

  it.each<[string, Props]>([
    ['the prefix', { prefix: 'app/blobs' }],
    ['the blob attribute', { hvAttributes: { blob: 'ptr' } }],
    ['the expiry attribute', { hvAttributes: { expiresAt: 'ttl' } }],
  ])('%s changed: the path changes, the name does not (CloudFormation refuses the update)', (_what, props) => {
    const moved = store(props);
    expect(moved['Path']).not.toEqual(base['Path']);
    expect(moved['ManagedPolicyName']).toEqual(base['ManagedPolicyName']);
  });

  it('another bucket: another path', () => {
    const { stack: us } = userStack();
    new Tierlog(us, 'Own');
    new Tierlog(us, 'Given', { bucket: s3.Bucket.fromBucketName(us, 'Mine', 'my-blobs') });
    const paths = Object.values(resourcesOf(Template.fromStack(us), 'AWS::IAM::ManagedPolicy'))
      .filter((r) => JSON.stringify(r.Properties!['ManagedPolicyName']).includes('"tierlog-store-'))
      .map((r) => JSON.stringify(r.Properties!['Path']));
    expect(paths).toHaveLength(2);
    expect(paths[0]).not.toEqual(paths[1]);
    expect(paths.some((path) => path.includes('/tierlog-store/","my-blobs') || path.includes('/tierlog-store/my-blobs'))).toBe(true);
  });

  it('the same store written otherwise, or settings that name no data, keep the path', () => {
    const same: Array<[Props, Props]> = [
      [{ hvAttributes: {} }, {}],
      [{ hvAttributes: { blob: 'blob' } }, {}],
      [{ leaseShards: 8 }, {}],
      [{ sweeperTuning: { skewMargin: Duration.minutes(1) } }, {}],
      [{ objectsFunction: false }, {}],
      [{ hvAttributes: { expiresAt: 'ttl', blob: 'ptr' } }, { hvAttributes: { blob: 'ptr', expiresAt: 'ttl' } }],
    ];
    for (const [props, as] of same) expect(store(props)['Path'], JSON.stringify(props)).toEqual(store(as)['Path']);
  });

  it('tableReplacementAcknowledged renames it too (a deliberate move)', () => {
    const p = store({ tableReplacementAcknowledged: 'move-2026-12' });
    expect((p['ManagedPolicyName'] as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1]).toEqual([
      expect.stringMatching(/^tierlog-store-/),
      { Ref: 'AWS::Region' },
      '-move-2026-12',
    ]);
  });
});
