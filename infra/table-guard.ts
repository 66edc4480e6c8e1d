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
 */
import { createHash } from 'node:crypto';
import { Aws, Fn, Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/** Properties of {@link TableReplacementGuard}. */
export interface TableReplacementGuardProps {
  readonly changeLogTable: dynamodb.ITableV2;
  readonly objectsTable: dynamodb.ITableV2;
  /** A word that names a deliberate replacement of a table: it changes the guard's name (see the module doc). */
  readonly acknowledged?: string;
}

/** What a policy name may hold of an acknowledgement (IAM: `[\w+=,.@-]`, 128 characters in all). */
const ACKNOWLEDGEMENT = /^[A-Za-z0-9_+=,.@-]{1,40}$/;

/** The guard (see the module doc). */
export class TableReplacementGuard extends Construct {
  /** The managed policy whose name is fixed and whose path names the tables. */
  readonly policy: iam.CfnManagedPolicy;

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
    const name = ['tierlog-tables-', hash, '-', Aws.REGION];
    if (props.acknowledged !== undefined) name.push('-', props.acknowledged);
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
  }
}
