/**
 * A deploy-time guard against a store's tables being replaced by empty ones. CloudFormation
 * replaces a table when an update changes its key (the construct's `hvAttributes.key` on the
 * objects table it makes): the old one is retained (`UpdateReplacePolicy: Retain`), but every
 * function then points at the new, empty one, and the objects written before are gone from every
 * answer (docs/DESIGN.md, "Upgrades and configuration changes"). The construct cannot refuse that
 * at synth: it cannot see what is deployed.
 *
 * CloudFormation can: it refuses an update that would replace a resource with a custom name. So
 * the guard is such a resource, an IAM managed policy attached to nothing, named once for the
 * construct (its path, the region) and whose `Path` carries the objects table's physical name. A
 * table replaced changes that path, which only a replacement of the policy can change, and the
 * update fails and rolls back, the old table still in use. A deliberate replacement (a migration)
 * names itself: `tableReplacementAcknowledged` changes the policy's name, which CloudFormation may
 * replace.
 *
 * The prefix, the bucket and the attribute names name the data too (blob keys carry the prefix, HV
 * items their blobs under the names): changed on a deployed store, every object written before is
 * unreadable and its blob never cleaned, with no table replaced. A second policy of the same kind
 * (`tierlog-store-...`) carries the bucket's name and a hash of the prefix and the names in its
 * path, so such an update fails the same way; the same word renames it.
 */
import { createHash } from 'node:crypto';
import { Aws, Fn, Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEFAULT_HV_ATTRIBUTES, type HvAttributeNames } from '../lib/tiered/hv-table.js';

/** What names a store's data besides its tables: its bucket, prefix and objects-table attribute names. */
export interface StoreIdentity {
  readonly bucket: s3.IBucket;
  readonly prefix: string;
  readonly hvAttributes: HvAttributeNames;
}

/** Properties of {@link TableReplacementGuard}. */
export interface TableReplacementGuardProps {
  readonly changeLogTable: dynamodb.ITableV2;
  readonly objectsTable: dynamodb.ITableV2;
  /**
   * The store's bucket, prefix and attribute names: a second policy carries them in its path, so
   * an update that moves the store (every object written before it unreadable) fails too.
   *
   * @default - no such guard
   */
  readonly store?: StoreIdentity;
  /** A word that names a deliberate replacement of a table: it changes the guard's name (see the module doc). */
  readonly acknowledged?: string;
}

/** What a policy name may hold of an acknowledgement (IAM: `[\w+=,.@-]`, 128 characters in all). */
const ACKNOWLEDGEMENT = /^[A-Za-z0-9_+=,.@-]{1,40}$/;

/** The guard (see the module doc). */
export class TableReplacementGuard extends Construct {
  /** The managed policy whose name is fixed and whose path names the tables. */
  readonly policy: iam.CfnManagedPolicy;
  /** The managed policy whose name is fixed and whose path names the store's bucket, prefix and attribute names. */
  readonly storePolicy?: iam.CfnManagedPolicy;

  constructor(scope: Construct, id: string, props: TableReplacementGuardProps) {
    super(scope, id);
    if (props.acknowledged !== undefined && !ACKNOWLEDGEMENT.test(props.acknowledged)) {
      throw new Error(`tableReplacementAcknowledged must be 1 to 40 of [A-Za-z0-9_+=,.@-], got ${JSON.stringify(props.acknowledged)}`);
    }
    // One name per stack, construct and region (IAM names are per account): the same app deployed
    // twice in one account and region under other stack names has the same construct paths.
    const stackName = Stack.of(this).stackName;
    const owner = Token.isUnresolved(stackName) ? this.node.path : `${stackName}/${this.node.path}`;
    const hash = createHash('sha256').update(owner).digest('hex').slice(0, 16);
    const nameOf = (kind: string) => [
      `tierlog-${kind}-`,
      hash,
      '-',
      Aws.REGION,
      ...(props.acknowledged !== undefined ? ['-', props.acknowledged] : []),
    ];
    const name = nameOf('tables');
    this.policy = new iam.CfnManagedPolicy(this, 'Resource', {
      managedPolicyName: Fn.join('', name),
      // The objects table's name alone (at most 255 characters: a path takes 512): no prop of the
      // construct replaces the change-log table (test/infra/tables.test.ts).
      path: Fn.join('', ['/tierlog/', props.objectsTable.tableName, '/']),
      description:
        "tierlog: names this store's objects table in its path; CloudFormation refuses to replace this policy, so an update that would replace the table with an empty one fails (attached to nothing)",
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'KeepTheTables',
            Effect: 'Deny',
            Action: 'dynamodb:DeleteTable',
            Resource: [props.changeLogTable.tableArn, props.objectsTable.tableArn],
          },
        ],
      },
    });
    if (props.store !== undefined) {
      // Blob keys carry the prefix and HV items their blobs under the attribute names; the bucket is
      // the one every function reads: a change of any leaves the objects written before unreadable
      // (docs/DESIGN.md, "Upgrades and configuration changes"). The key attribute names a table of
      // its own (the guard above). Hashed in a canonical order, the names that differ from the
      // defaults only: the same store written otherwise is the same path, and so is a store on
      // the defaults after a version that adds a name.
      const { bucket, prefix, hvAttributes } = props.store;
      const names = Object.entries(hvAttributes)
        .filter(([logical, name]) => DEFAULT_HV_ATTRIBUTES[logical as keyof HvAttributeNames] !== name)
        .sort(([a], [b]) => a.localeCompare(b));
      const identity = createHash('sha256').update(JSON.stringify({ prefix, names })).digest('hex').slice(0, 16);
      this.storePolicy = new iam.CfnManagedPolicy(this, 'Store', {
        managedPolicyName: Fn.join('', nameOf('store')),
        path: Fn.join('', ['/tierlog-store/', bucket.bucketName, `/${identity}/`]),
        description:
          "tierlog: names this store's bucket, prefix and attribute names in its path; CloudFormation refuses to replace this policy, so an update that would move the store (every object written before unreadable) fails (attached to nothing)",
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Sid: 'KeepTheBlobs', Effect: 'Deny', Action: 's3:DeleteBucket', Resource: bucket.bucketArn }],
        },
      });
    }
  }
}
