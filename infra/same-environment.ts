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
  requireEnvironment(scope, prop, resource.node.path, resource.node.addr, resource.env);
}

/**
 * Checks that the stream `streamArn` (a literal ARN: a token is not checked), the objects table's
 * stream as `prop` gives it, is in the stack's region and account, as {@link requireSameEnvironment}
 * checks a resource: the stream function reads the table by name in its own region and account,
 * so a stream of a table of the same name elsewhere (a cross-account mapping) is not that table's.
 *
 * @throws Error when both are known and differ.
 */
export function requireStreamInStackEnvironment(scope: Construct, prop: string, streamArn: string): void {
  if (Token.isUnresolved(streamArn)) return;
  const parts = /^arn:[^:]+:dynamodb:([^:]+):(\d{12}):table\//.exec(streamArn);
  if (parts === null) return;
  requireEnvironment(scope, prop, streamArn, streamArn, { region: parts[1]!, account: parts[2]! });
}

/** {@link requireSameEnvironment} of what `path` names (`key` tells it apart), at `env`. */
function requireEnvironment(
  scope: Construct,
  prop: string,
  path: string,
  key: string,
  env: { readonly region: string; readonly account: string },
): void {
  const stack = Stack.of(scope);
  const sides = [
    { field: 'region', theirs: env.region, ours: stack.region, pseudo: Aws.REGION },
    { field: 'account', theirs: env.account, ours: stack.account, pseudo: Aws.ACCOUNT_ID },
  ] as const;
  for (const { field, theirs, ours, pseudo } of sides) {
    if (Token.isUnresolved(theirs)) continue;
    const why = `tierlog's functions and writers address it by name in their own ${field}, and the protocol holds within one region (docs/DESIGN.md, "One region")`;
    if (!Token.isUnresolved(ours)) {
      if (theirs !== ours) throw new Error(`${prop} ${path} is in ${field} ${theirs}, the stack in ${ours}: ${why}`);
      continue;
    }
    // One rule a resource and field: the Tierlog construct checks its props before its parts do.
    const ruled = RULED.get(stack) ?? new Set<string>();
    RULED.set(stack, ruled);
    if (ruled.has(`${key} ${field}`)) continue;
    ruled.add(`${key} ${field}`);
    new CfnRule(scope, `${prop.replace(/\W/g, '')}Same${field === 'region' ? 'Region' : 'Account'}`, {
      assertions: [
        {
          assert: Fn.conditionEquals(pseudo, theirs),
          assertDescription: `${prop} ${path} is in ${field} ${theirs}: deploy the stack there (${why})`,
        },
      ],
    });
  }
}
