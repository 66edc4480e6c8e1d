/**
 * Refuses an objects table or a bucket of the user's that lives in another region or account than
 * the stack. tierlog's functions and writers address them by name (`TIERLOG_OBJECTS_TABLE`,
 * `TIERLOG_BUCKET`), in their own region and account: a table name there is another table, or
 * none, and an S3 client of this region answers a bucket of another one with a redirect, not its
 * objects. The protocol is single-region too (docs/DESIGN.md, "One region"): its consistent reads
 * and conditional writes hold within one region.
 *
 * Known at synth (a literal region or account on both sides): an `Error`. The stack's own unknown
 * (an environment-agnostic stack) and the resource's known: a CloudFormation rule, so the deploy
 * is refused before it creates anything, naming the resource.
 */
import { Aws, CfnRule, Fn, type IResource, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** The resources and fields a rule was made for, by stack. */
const RULED = new WeakMap<Stack, Set<string>>();

/**
 * Checks that `resource` (the prop `prop`) is in the stack's region and account (see the module doc).
 *
 * @throws Error when both are known and differ.
 */
export function requireSameEnvironment(scope: Construct, prop: string, resource: IResource): void {
  const stack = Stack.of(scope);
  const sides = [
    { field: 'region', theirs: resource.env.region, ours: stack.region, pseudo: Aws.REGION },
    { field: 'account', theirs: resource.env.account, ours: stack.account, pseudo: Aws.ACCOUNT_ID },
  ] as const;
  for (const { field, theirs, ours, pseudo } of sides) {
    if (Token.isUnresolved(theirs)) continue;
    const why = `tierlog's functions and writers address it by name in their own ${field}, and the protocol holds within one region (docs/DESIGN.md, "One region")`;
    if (!Token.isUnresolved(ours)) {
      if (theirs !== ours) throw new Error(`${prop} ${resource.node.path} is in ${field} ${theirs}, the stack in ${ours}: ${why}`);
      continue;
    }
    // One rule a resource and field: the Tierlog construct checks its props before its parts do.
    const ruled = RULED.get(stack) ?? new Set<string>();
    RULED.set(stack, ruled);
    if (ruled.has(`${resource.node.addr} ${field}`)) continue;
    ruled.add(`${resource.node.addr} ${field}`);
    new CfnRule(scope, `${prop.replace(/\W/g, '')}Same${field === 'region' ? 'Region' : 'Account'}`, {
      assertions: [
        {
          assert: Fn.conditionEquals(pseudo, theirs),
          assertDescription: `${prop} ${resource.node.path} is in ${field} ${theirs}: deploy the stack there (${why})`,
        },
      ],
    });
  }
}
