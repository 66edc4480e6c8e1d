/**
 * Building tierlog stacks in tests the way `cdk synth` does: `new App()` does not read cdk.json,
 * so its context (feature flags) is passed here, and every App writes under the project's
 * gitignored `cdk.out.test/`. Bundling is skipped unless asked for.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { TierlogStack } from '../../infra/stack.js';
import { toAttribute, toGlobalSecondaryIndex } from '../../infra/tables.js';
import { CONFIG_ENV } from '../../lib/config.js';
import { changeLogTableSchema } from '../../lib/schema/tables.js';
import type { TierlogProps } from '../../infra/tierlog.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CDK_JSON = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
  app: string;
  notices?: boolean;
  context: Record<string, unknown>;
};
const OUT_ROOT = join(PROJECT_ROOT, 'cdk.out.test');

const outdirs: string[] = [];

/**
 * A fresh App with cdk.json's context (unless `flags: false`: no feature flags at all, like an
 * older app the construct is dropped into); bundling skipped unless `bundle`.
 */
export function newApp(options: { bundle?: boolean; flags?: boolean } = {}): App {
  mkdirSync(OUT_ROOT, { recursive: true });
  const outdir = mkdtempSync(join(OUT_ROOT, 'app-'));
  outdirs.push(outdir);
  return new App({
    outdir,
    context: {
      ...(options.flags === false ? {} : CDK_JSON.context),
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
}

/** Removes the output folders of the Apps made so far (call in afterAll). */
export function cleanOutdirs(): void {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The app's TierlogStack with `props`, and its template. */
export function tierlogTemplate(
  props: TierlogProps = {},
  options: { bundle?: boolean; flags?: boolean } = {},
): { app: App; stack: TierlogStack; template: Template } {
  const app = newApp(options);
  const stack = new TierlogStack(app, 'Tierlog', { tierlog: props });
  return { app, stack, template: Template.fromStack(stack) };
}

/** A plain stack in a fresh App, for dropping the construct into "a user's stack". */
export function userStack(): { app: App; stack: Stack } {
  const app = newApp();
  return { app, stack: new Stack(app, 'UserStack') };
}

type Resource = { Type: string; Properties?: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

/** The template's resources of `type`, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** The only resource of `type` (fails if there is not exactly one). */
export function onlyResource(template: Template, type: string): [string, Resource] {
  const entries = Object.entries(resourcesOf(template, type));
  if (entries.length !== 1) throw new Error(`expected one ${type}, found ${entries.length}`);
  return entries[0]!;
}

/** The logical id of `construct`'s CloudFormation resource in `stack`. */
export function logicalIdOf(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** The statements of the IAM policies attached to the role with logical id `roleId`. */
export function statementsOfRole(template: Template, roleId: string): Statement[] {
  const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).filter((p) =>
    (p.Properties!['Roles'] as Array<{ Ref: string }>).some((r) => r.Ref === roleId),
  );
  return policies.flatMap((p) => (p.Properties!['PolicyDocument'] as { Statement: Statement[] }).Statement);
}

/** `Action` as a sorted array. */
export function actions(statement: Statement): string[] {
  return (Array.isArray(statement.Action) ? statement.Action : [statement.Action]).slice().sort();
}

/**
 * The variables that name a store's tables and bucket, from the resources a part grants on: what a
 * part's function must be given (its `loadConfig` has no default for them).
 */
export function storeNames(r: {
  readonly changeLogTable: { readonly tableName: string };
  readonly objectsTable: { readonly tableName: string };
  readonly bucket: { readonly bucketName: string };
}): Record<string, string> {
  return {
    [CONFIG_ENV.changeLogTable]: r.changeLogTable.tableName,
    [CONFIG_ENV.objectsTable]: r.objectsTable.tableName,
    [CONFIG_ENV.bucket]: r.bucket.bucketName,
  };
}

/**
 * A change-log table of the user's app, as a part used on its own needs it (`infra/change-log-table.ts`):
 * the schema's key and lease index (`lib/schema/tables.ts`), with `props` beside them.
 */
export function changeLogTableIn(
  scope: Construct,
  id = 'Log',
  props: Omit<dynamodb.TablePropsV2, 'partitionKey' | 'globalSecondaryIndexes'> = {},
): dynamodb.TableV2 {
  return new dynamodb.TableV2(scope, id, {
    partitionKey: toAttribute(changeLogTableSchema.partitionKey),
    globalSecondaryIndexes: changeLogTableSchema.globalSecondaryIndexes.map(toGlobalSecondaryIndex),
    ...props,
  });
}

/**
 * An objects table of the user's app, as a part used on its own needs it: keyed on `key`, a stream
 * of old and new images, TTL on `expiresAt` (the default names), with `props` over them.
 */
export function objectsTableIn(
  scope: Construct,
  id = 'Objects',
  props: Omit<dynamodb.TablePropsV2, 'partitionKey'> = {},
): dynamodb.TableV2 {
  return new dynamodb.TableV2(scope, id, {
    partitionKey: { name: 'key', type: dynamodb.AttributeType.STRING },
    dynamoStream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    timeToLiveAttribute: 'expiresAt',
    ...props,
  });
}
