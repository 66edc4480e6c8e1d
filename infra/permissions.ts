/**
 * Least-privilege grants on tierlog's resources: exact actions, table and index ARNs, S3 object
 * access limited to `<prefix>/*` and listing limited to that prefix. Each set is what the code
 * in `lib/` calls, no more (TransactWriteItems is authorised per item action).
 */
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { LEASE_INDEX_NAME } from '../lib/constants.js';

/** What a grant is given on. */
export interface TierlogResources {
  readonly changeLogTable: dynamodb.ITableV2;
  readonly objectsTable: dynamodb.ITableV2;
  readonly bucket: s3.IBucket;
  /** Key prefix of the blobs, without leading or trailing `/`. */
  readonly prefix: string;
}

/** Actions of a storage writer (`TieredStore` + `DynamoChangeLog`). */
export const WRITER_ACTIONS = {
  changeLogTable: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
  objectsTable: ['dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
  objects: ['s3:AbortMultipartUpload', 's3:DeleteObject', 's3:GetObject', 's3:PutObject'],
} as const;

/** Actions of the sweeper (`Sweeper`). */
export const SWEEPER_ACTIONS = {
  changeLogTable: ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:UpdateItem'],
  leaseIndex: ['dynamodb:Query'],
  objectsTable: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'],
  objects: ['s3:DeleteObject', 's3:GetObject'],
} as const;

/** Actions the operator CLI needs beyond the sweeper's (`status` scans the change log). */
export const OPERATOR_ACTIONS = {
  changeLogTable: ['dynamodb:Scan'],
} as const;

/** The ARN of the lease index of the change-log table. */
export function leaseIndexArn(resources: TierlogResources): string {
  return `${resources.changeLogTable.tableArn}/index/${LEASE_INDEX_NAME}`;
}

/** Grants a storage writer what `TieredStore` and `DynamoChangeLog` call. */
export function grantWriter(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return combine([
    onPrincipal(grantee, WRITER_ACTIONS.changeLogTable, [resources.changeLogTable.tableArn]),
    onPrincipal(grantee, WRITER_ACTIONS.objectsTable, [resources.objectsTable.tableArn]),
    onPrincipal(grantee, WRITER_ACTIONS.objects, [prefixObjectsArn(resources)]),
    grantListPrefix(grantee, resources),
  ]);
}

/** Grants the sweeper what `Sweeper.sweep` calls. */
export function grantSweeper(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return combine([
    onPrincipal(grantee, SWEEPER_ACTIONS.changeLogTable, [resources.changeLogTable.tableArn]),
    onPrincipal(grantee, SWEEPER_ACTIONS.leaseIndex, [leaseIndexArn(resources)]),
    onPrincipal(grantee, SWEEPER_ACTIONS.objectsTable, [resources.objectsTable.tableArn]),
    onPrincipal(grantee, SWEEPER_ACTIONS.objects, [prefixObjectsArn(resources)]),
    grantListPrefix(grantee, resources),
  ]);
}

/** Grants the operator CLI (`status`, `inspect`, `sweep`, `audit`): the sweeper's rights plus a scan of the change log. */
export function grantOperator(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return combine([
    grantSweeper(grantee, resources),
    onPrincipal(grantee, OPERATOR_ACTIONS.changeLogTable, [resources.changeLogTable.tableArn]),
  ]);
}

function prefixObjectsArn(resources: TierlogResources): string {
  return resources.bucket.arnForObjects(`${resources.prefix}/*`);
}

/**
 * `s3:ListBucket` on the bucket, only for listings under `<prefix>/`. Besides `audit`'s listing,
 * it makes S3 answer a HeadObject of a missing key with 404 rather than 403.
 */
function grantListPrefix(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return iam.Grant.addToPrincipal({
    grantee,
    actions: ['s3:ListBucket'],
    resourceArns: [resources.bucket.bucketArn],
    conditions: { StringLike: { 's3:prefix': [`${resources.prefix}/*`] } },
  });
}

function onPrincipal(grantee: iam.IGrantable, actions: readonly string[], resourceArns: string[]): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns });
}

function combine(grants: iam.Grant[]): iam.Grant {
  return grants.reduce((all, grant) => all.combine(grant));
}
