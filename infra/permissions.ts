/**
 * Least-privilege grants on tierlog's resources, one table per role: each row is an action on
 * one resource and the SDK calls that need it. The grants are built from these rows only; the
 * IAM test records every command each entry point sends against the local stack, maps it to IAM
 * actions (`infra/iam-map.ts`) and requires the rows to be exactly that set, so a call without
 * its grant, or a grant without its call, fails the suite. The deploy docs' permissions table is
 * generated from the same rows (`infra/iam-docs.ts`).
 *
 * Resources: exact table and index ARNs; S3 object access on `<bucket>/<prefix>/*` only; listing
 * only with `s3:prefix` like `<prefix>/*`. The prefix is refused by the configuration when it
 * holds a character IAM would read as a wildcard or a policy variable (`*`, `?`, `$`), and by
 * every grant and part here as the configuration refuses it (a literal one: a token is left to the
 * deploy).
 */
import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { CONFIG_ENV, isValidPrefix, validateConfig } from '../lib/config.js';
import { DEFAULT_PREFIX, LEASE_INDEX_NAME } from '../lib/constants.js';
import { ConfigError } from '../lib/errors.js';
import type { ResourceKind } from './iam-map.js';
import { requireSameEnvironment } from './same-environment.js';

/** What a grant is given on. */
export interface TierlogResources {
  /**
   * The change-log table (its lease index too): the schema's (`lib/schema/tables.ts`), keyed by the
   * string `pk` alone, with the lease index, in one region. A table of the app without them is
   * refused at synth by each part that reads it (`TierlogSweeper`, `ObjectsFunction`,
   * `AuditAtScale`); an imported one cannot be read and is taken as it is.
   */
  readonly changeLogTable: dynamodb.ITableV2;
  /** The objects table. */
  readonly objectsTable: dynamodb.ITableV2;
  /** The bucket of the blobs. */
  readonly bucket: s3.IBucket;
  /** Key prefix of the blobs, without leading or trailing `/`. */
  readonly prefix: string;
}

/** The principals tierlog grants to. */
export type TierlogRole = 'writer' | 'sweeper' | 'operatorReadOnly' | 'operator';

/** One granted action on one resource, and the SDK calls (command names) that need it. */
export interface RolePermission {
  /** The IAM action (`s3:DeleteObject`). */
  readonly action: string;
  /** The kind of resource it is granted on. */
  readonly resource: ResourceKind;
  /** The SDK commands that need it (`DeleteObjects`). */
  readonly calls: readonly string[];
}

/** The code each role runs: what the IAM test records for it. */
export const ROLE_ENTRY_POINTS: Readonly<Record<TierlogRole, readonly string[]>> = {
  writer: ['TieredStore + DynamoChangeLog (your writers)', 'the objects function'],
  sweeper: ['Sweeper (the sweeper function)'],
  operatorReadOnly: ['tierlog status', 'tierlog inspect', 'tierlog audit'],
  operator: ['tierlog status', 'tierlog inspect', 'tierlog audit [--delete]', 'tierlog sweep [--dry-run] [--shards 0,1]'],
};

const SWEEPER: readonly RolePermission[] = [
  { action: 'dynamodb:Query', resource: 'leaseIndex', calls: ['Query'] },
  { action: 'dynamodb:DeleteItem', resource: 'changeLogTable', calls: ['DeleteItem'] },
  { action: 'dynamodb:GetItem', resource: 'changeLogTable', calls: ['GetItem'] },
  { action: 'dynamodb:UpdateItem', resource: 'changeLogTable', calls: ['UpdateItem'] },
  { action: 'dynamodb:BatchGetItem', resource: 'objectsTable', calls: ['BatchGetItem'] },
  { action: 's3:DeleteObject', resource: 'prefixObjects', calls: ['DeleteObjects'] },
  // Instance items without a shard or in a shard past leaseShards: a bounded scan, one segment per sweep.
  { action: 'dynamodb:Scan', resource: 'changeLogTable', calls: ['Scan'] },
  // Multipart uploads left in progress: an expired upload session's (the ones it never noted
  // too: a listing under its blob key), and a dead writer's under a never-committed blob the sweep
  // judged garbage (one listing under `<prefix>/` per judging sweep that judged one).
  { action: 's3:AbortMultipartUpload', resource: 'prefixObjects', calls: ['AbortMultipartUpload'] },
  { action: 's3:ListBucketMultipartUploads', resource: 'bucket', calls: ['ListMultipartUploads'] },
  // An expired upload session's upload, or a dead writer's, after its abort: a part that landed after it is aborted again.
  { action: 's3:ListMultipartUploadParts', resource: 'prefixObjects', calls: ['ListParts'] },
];

const OPERATOR_READ_ONLY: readonly RolePermission[] = [
  { action: 'dynamodb:GetItem', resource: 'changeLogTable', calls: ['GetItem'] },
  { action: 'dynamodb:Scan', resource: 'changeLogTable', calls: ['Scan'] },
  // A change log that reads empty is checked to be one (a read of at most one item of its lease
  // index: change-log-protection.ts) before `status` reports nothing in flight and `audit --delete`
  // takes every blob as no write's: without it, a table name of another kind, empty, passed in silence.
  { action: 'dynamodb:Scan', resource: 'leaseIndex', calls: ['Scan'] },
  { action: 'dynamodb:BatchGetItem', resource: 'objectsTable', calls: ['BatchGetItem'] },
  // `tierlog inspect` of an instance with entries samples the objects table's pointers to check it
  // is the bucket's store before judging them, as `tierlog sweep` does (store-binding.ts).
  { action: 'dynamodb:Scan', resource: 'objectsTable', calls: ['Scan'] },
  // `tierlog audit` that found objects expired long ago whose items TTL did not remove reads the
  // table's TTL, to name the cause (cli/objects-ttl.ts); without it, it says it could not.
  { action: 'dynamodb:DescribeTimeToLive', resource: 'objectsTable', calls: ['DescribeTimeToLive'] },
  // `tierlog audit` (and the snapshot audit's re-verification) reads whether the objects table is a
  // restored copy, which misses every blob written since its restore point (restored-table.ts);
  // without it, the blobs it would call orphans are undecided and deletes refused.
  { action: 'dynamodb:DescribeTable', resource: 'objectsTable', calls: ['DescribeTable'] },
  { action: 's3:ListBucket', resource: 'prefixListing', calls: ['ListObjectsV2'] },
];

/** Each role's permissions (see the module doc). */
export const ROLE_PERMISSIONS: Readonly<Record<TierlogRole, readonly RolePermission[]>> = {
  writer: [
    // Upload sessions: each is an item of its own in the change-log table.
    { action: 'dynamodb:DeleteItem', resource: 'changeLogTable', calls: ['DeleteItem'] },
    { action: 'dynamodb:GetItem', resource: 'changeLogTable', calls: ['GetItem'] },
    { action: 'dynamodb:PutItem', resource: 'changeLogTable', calls: ['PutItem'] },
    { action: 'dynamodb:UpdateItem', resource: 'changeLogTable', calls: ['TransactWriteItems', 'UpdateItem'] },
    { action: 'dynamodb:GetItem', resource: 'objectsTable', calls: ['GetItem'] },
    { action: 'dynamodb:UpdateItem', resource: 'objectsTable', calls: ['TransactWriteItems', 'UpdateItem'] },
    { action: 's3:AbortMultipartUpload', resource: 'prefixObjects', calls: ['AbortMultipartUpload'] },
    { action: 's3:DeleteObject', resource: 'prefixObjects', calls: ['DeleteObject'] },
    { action: 's3:GetObject', resource: 'prefixObjects', calls: ['GetObject'] },
    { action: 's3:ListMultipartUploadParts', resource: 'prefixObjects', calls: ['ListParts'] },
    {
      action: 's3:PutObject',
      resource: 'prefixObjects',
      calls: ['CompleteMultipartUpload', 'CreateMultipartUpload', 'PutObject', 'UploadPart'],
    },
  ],
  sweeper: SWEEPER,
  operatorReadOnly: OPERATOR_READ_ONLY,
  // `audit --delete` deletes orphans in batches, and removes items of objects expired long ago
  // as TTL would (their stream event was lost) before deleting their blobs.
  operator: union(OPERATOR_READ_ONLY, SWEEPER, [
    // A batch of one key is a DeleteObject.
    { action: 's3:DeleteObject', resource: 'prefixObjects', calls: ['DeleteObject', 'DeleteObjects'] },
    { action: 'dynamodb:DeleteItem', resource: 'objectsTable', calls: ['DeleteItem'] },
  ]),
};

/** A role's actions by resource, sorted: `{ changeLogTable: ['dynamodb:GetItem', ...], ... }`. */
export function actionsByResource(role: TierlogRole): Partial<Record<ResourceKind, string[]>> {
  const out: Partial<Record<ResourceKind, string[]>> = {};
  for (const p of ROLE_PERMISSIONS[role]) (out[p.resource] ??= []).push(p.action);
  for (const list of Object.values(out)) list.sort();
  return out;
}

/** Actions of a storage writer (`TieredStore` + `DynamoChangeLog`), by resource. */
export const WRITER_ACTIONS = actionsByResource('writer');
/** Actions of the sweeper (`Sweeper`), by resource. */
export const SWEEPER_ACTIONS = actionsByResource('sweeper');

/** The ARN of the lease index of the change-log table. */
export function leaseIndexArn(resources: TierlogResources): string {
  return `${resources.changeLogTable.tableArn}/index/${LEASE_INDEX_NAME}`;
}

/**
 * What a customer managed KMS key of the bucket or of a table needs granted besides the S3 or
 * DynamoDB action (a bucket or table of the user's: the construct's own use S3- and DynamoDB-owned
 * keys). Without it every such request is refused on AWS, while the local stack, which checks no
 * IAM, never shows it.
 *  - S3 (SSE-KMS): `PutObject` (and the multipart calls it authorises) generates a data key, and a
 *    multipart upload decrypts it again for each part and the complete: `kms:GenerateDataKey` and
 *    `kms:Decrypt`; `GetObject` decrypts: `kms:Decrypt`. Deletes, aborts and listings need none.
 *  - DynamoDB: reading decrypts the table key (`kms:Decrypt`, `kms:DescribeKey`); writing also
 *    encrypts (what CDK's own table grants add, without their wildcards).
 * Each key grant is limited to requests the service makes on the caller's behalf (`kms:ViaService`).
 */
export const KMS_ACTIONS_FOR: Readonly<Record<string, readonly string[]>> = {
  's3:PutObject': ['kms:Decrypt', 'kms:GenerateDataKey'],
  's3:GetObject': ['kms:Decrypt'],
  'dynamodb:BatchGetItem': ['kms:Decrypt', 'kms:DescribeKey'],
  'dynamodb:GetItem': ['kms:Decrypt', 'kms:DescribeKey'],
  'dynamodb:Query': ['kms:Decrypt', 'kms:DescribeKey'],
  'dynamodb:Scan': ['kms:Decrypt', 'kms:DescribeKey'],
  'dynamodb:GetRecords': ['kms:Decrypt', 'kms:DescribeKey'],
  ...Object.fromEntries(
    ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'].map((a) => [
      a,
      [
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
      ],
    ]),
  ),
};

/**
 * Grants `grantee` the KMS actions ({@link KMS_ACTIONS_FOR}) that `actions` need on `key` (none
 * when `key` is undefined, or when they need none), through `service` only (`s3` or `dynamodb`).
 */
export function grantKeyFor(
  grantee: iam.IGrantable,
  key: kms.IKey | undefined,
  service: 's3' | 'dynamodb',
  actions: readonly string[],
): iam.Grant | undefined {
  if (key === undefined) return undefined;
  const kmsActions = [...new Set(actions.flatMap((a) => KMS_ACTIONS_FOR[a] ?? []))].sort();
  if (kmsActions.length === 0) return undefined;
  const target = keyNamedBy(key);
  return iam.Grant.addToPrincipal({
    grantee,
    actions: kmsActions,
    resourceArns: [target.keyArn],
    conditions: { StringEquals: { 'kms:ViaService': `${service}.${target.env.region}.amazonaws.com` } },
  });
}

/**
 * The key a grant must name for `key`: itself, or the key an alias points at. KMS authorizes a
 * request on the key's ARN, never on an alias's (an alias's `keyArn` is its own ARN), so a grant
 * on an alias allows nothing.
 *
 * @throws Error for an alias whose key is not known here (imported by its name).
 */
function keyNamedBy(key: kms.IKey): kms.IKey {
  if (!('aliasName' in key)) return key;
  const alias = key as kms.IAlias;
  try {
    return alias.aliasTargetKey;
  } catch {
    throw new Error(
      `the customer managed key ${key.node.path} is an alias (${alias.aliasName}): KMS authorizes a request on the key's ARN, so a grant on the alias would allow nothing; give the key itself (kms.Key.fromKeyArn), or the alias with its key (kms.Alias.fromAliasAttributes)`,
    );
  }
}

/** The customer managed key of each resource kind, and the service that uses it. */
function keyOf(kind: ResourceKind, r: TierlogResources): { key: kms.IKey | undefined; service: 's3' | 'dynamodb' } {
  switch (kind) {
    case 'changeLogTable':
    case 'leaseIndex':
      return { key: r.changeLogTable.encryptionKey, service: 'dynamodb' };
    case 'objectsTable':
      return { key: r.objectsTable.encryptionKey, service: 'dynamodb' };
    case 'prefixObjects':
    case 'prefixListing':
    case 'bucket':
      return { key: r.bucket.encryptionKey, service: 's3' };
  }
}

/**
 * The endings S3 gives no bucket's name: they end the aliases of an access point (`-s3alias`), of an
 * Object Lambda access point (`--ol-s3`) and of a Multi-Region Access Point (`.mrap`).
 */
const ACCESS_POINT_ALIAS_SUFFIXES: readonly string[] = ['-s3alias', '--ol-s3', '.mrap'];

/**
 * Refuses a bucket (the prop `prop`) whose literal name is an access point's alias: requests through
 * it are authorized on the access point's ARN, and an alias is no resource of an IAM policy, so the
 * grants on `arn:aws:s3:::<alias>/<prefix>/*` allowed nothing and every S3 request of the functions
 * was refused, on AWS only (the local stack checks no IAM). A name known only at deploy is not judged.
 *
 * @throws Error naming `prop`, the bucket and the alias.
 */
export function refuseAccessPointAlias(bucket: s3.IBucket, prop: string): void {
  const name = bucket.bucketName;
  if (Token.isUnresolved(name)) return;
  const suffix = ACCESS_POINT_ALIAS_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix === undefined) return;
  throw new Error(
    `${prop} ${bucket.node.path} ("${name}") is the alias of an access point, not a bucket (S3 names no bucket "...${suffix}"): its requests are authorized on the access point's ARN, and an alias is no resource of an IAM policy, so the grants on arn:aws:s3:::${name}/<prefix>/* would allow nothing (every request refused, on AWS only); give the bucket itself`,
  );
}

/**
 * Grants `role`'s permissions ({@link ROLE_PERMISSIONS}) on `resources`: one statement per
 * resource, and one per customer managed key of theirs that the actions need (`grantKeyFor`).
 *
 * @throws Error for a bucket that is an access point's alias (`refuseAccessPointAlias`).
 */
export function grantRole(grantee: iam.IGrantable, resources: TierlogResources, role: TierlogRole): iam.Grant {
  checkGrantPrefix(resources.prefix);
  refuseAccessPointAlias(resources.bucket, 'resources.bucket');
  const byResource = Object.entries(actionsByResource(role)) as Array<[ResourceKind, string[]]>;
  const grants = byResource.map(([kind, actions]) => iam.Grant.addToPrincipal({ grantee, actions, ...resourceOf(kind, resources) }));
  // One key may serve several resources of a service (both tables): their actions in one grant.
  const keyActions = new Map<string, { key: kms.IKey; service: 's3' | 'dynamodb'; actions: string[] }>();
  const keyIds = new Map<kms.IKey, number>();
  for (const [kind, actions] of byResource) {
    const { key, service } = keyOf(kind, resources);
    if (key === undefined) continue;
    if (!keyIds.has(key)) keyIds.set(key, keyIds.size);
    const id = `${keyIds.get(key)} ${service}`;
    const entry = keyActions.get(id) ?? { key, service, actions: [] };
    entry.actions.push(...actions);
    keyActions.set(id, entry);
  }
  for (const { key, service, actions } of keyActions.values()) {
    const grant = grantKeyFor(grantee, key, service, actions);
    if (grant !== undefined) grants.push(grant);
  }
  return grants.reduce((all, grant) => all.combine(grant));
}

/**
 * Refuses an `environment` (the variables a function reads, `loadConfig`'s) that names another
 * prefix, bucket or table than `resources` (what its grants are on): the function would work on
 * one and be granted on the other, and every such request would be refused on AWS (where the
 * local stack checks no IAM). Compared where both sides are known at synth: the prefix (the
 * default when the variable is unset), two literal names, or two references to resources of the
 * app; a variable not set, or a literal against a reference, is not compared. A literal
 * `TIERLOG_PREFIX` the function could not read (blank, padded) is refused, never taken for unset.
 * Each resource must be in the stack's region and account, where the function addresses it by
 * name (refused at synth when both are known, else by a CloudFormation rule at deploy).
 *
 * @throws ConfigError naming `TIERLOG_PREFIX` when the function's `loadConfig` would refuse it, and
 *   naming both tables when `resources` gives one table as the change log and the objects table.
 * @throws Error naming the variable and both values, or the resource in another region or account.
 */
export function checkGrantsCoverEnvironment(
  scope: IConstruct,
  resources: TierlogResources,
  environment: Readonly<Record<string, string>>,
): void {
  checkGrantPrefix(resources.prefix);
  refuseAccessPointAlias(resources.bucket, 'resources.bucket');
  // The function addresses each by name, in its own region and account (as Tierlog refuses its props).
  requireSameEnvironment(scope, 'resources.changeLogTable', resources.changeLogTable);
  requireSameEnvironment(scope, 'resources.objectsTable', resources.objectsTable);
  requireSameEnvironment(scope, 'resources.bucket', resources.bucket);
  if (resources.changeLogTable === resources.objectsTable) {
    // What the function's loadConfig refuses at init, on every invocation (validateConfig).
    throw new ConfigError(
      `resources.changeLogTable and resources.objectsTable are one table (${resources.objectsTable.node.path}): tierlog keeps its change log and its objects in two tables of their own schemas; give two`,
      'resources.objectsTable',
    );
  }
  const stack = Stack.of(scope);
  const shown = (v: string) => (Token.isUnresolved(v) ? JSON.stringify(stack.resolve(v)) : `"${v}"`);
  const prefix = environment[CONFIG_ENV.prefix];
  // Read as `loadConfig` reads it: only an unset variable is the default (a blank or padded one
  // is refused by the function at its init, so it is refused here, naming the variable).
  if (prefix !== undefined && !Token.isUnresolved(prefix) && !isValidPrefix(prefix)) {
    throw new ConfigError(
      `${CONFIG_ENV.prefix} ("${prefix}") is not a prefix the function's loadConfig takes (non-empty segments of [A-Za-z0-9!_.'()-] joined by "/", no surrounding space; unset for the default "${DEFAULT_PREFIX}"): it would refuse it at init, on every invocation`,
      CONFIG_ENV.prefix,
    );
  }
  const read = prefix ?? DEFAULT_PREFIX;
  if (!Token.isUnresolved(read) && !Token.isUnresolved(resources.prefix) && read !== resources.prefix) {
    throw new Error(
      `${CONFIG_ENV.prefix} ("${read}"${read === prefix ? '' : ', the default: unset'}) is not the prefix the grants are on ("${resources.prefix}"): the function would work under one and be granted on the other`,
    );
  }
  const names: Array<[string, string, string]> = [
    [CONFIG_ENV.bucket, resources.bucket.bucketName, 'bucket'],
    [CONFIG_ENV.objectsTable, resources.objectsTable.tableName, 'objects table'],
    [CONFIG_ENV.changeLogTable, resources.changeLogTable.tableName, 'change-log table'],
  ];
  for (const [variable, granted, what] of names) {
    const given = environment[variable];
    // Read as `loadConfig` reads it: a literal name trimmed (a padded one is the granted one to the function).
    const value = given !== undefined && !Token.isUnresolved(given) ? given.trim() : given;
    if (value === undefined || value === granted || !comparable(stack, value, granted)) continue;
    if (JSON.stringify(stack.resolve(value)) === JSON.stringify(stack.resolve(granted))) continue;
    throw new Error(
      `${variable} (${shown(value)}) is not the ${what} the grants are on (${shown(granted)}): the function would use one and be granted on the other`,
    );
  }
}

/**
 * Refuses a literal `prefix` the configuration refuses, as the `Tierlog` construct does with its
 * own (`validateConfig`): with a character IAM reads as a wildcard or a policy variable the grants
 * on `<prefix>/` cover other keys (`*`: every key of the bucket with a `/`), and with a leading or
 * trailing `/` they cover keys no function writes. A token is resolved only at deploy: left as is.
 *
 * @throws ConfigError naming `prefix`.
 */
function checkGrantPrefix(prefix: string): void {
  if (Token.isUnresolved(prefix)) return;
  validateConfig({ ...STAND_IN_NAMES, prefix, leaseShards: 1 });
}

/**
 * The resource names a synth check gives the configuration's validation when it judges one
 * setting alone (a grant's prefix, the sweeper's lease shards): three distinct valid names, so
 * only the setting judged can be refused.
 */
export const STAND_IN_NAMES = {
  changeLogTable: 'placeholder-changelog',
  objectsTable: 'placeholder-objects',
  bucket: 'placeholder',
} as const;

/** `STAND_IN_NAMES` as the function's environment carries them, for `loadConfig`. */
export function standInEnvironment(): Record<string, string> {
  return {
    [CONFIG_ENV.changeLogTable]: STAND_IN_NAMES.changeLogTable,
    [CONFIG_ENV.objectsTable]: STAND_IN_NAMES.objectsTable,
    [CONFIG_ENV.bucket]: STAND_IN_NAMES.bucket,
  };
}

/** Whether `a` and `b` can be compared at synth: two literals, or two references (`Ref`) to resources of the app. */
function comparable(stack: Stack, a: string, b: string): boolean {
  const literal = (v: string) => !Token.isUnresolved(v);
  if (literal(a) && literal(b)) return true;
  if (literal(a) || literal(b)) return false;
  const ref = (v: string) => {
    const resolved = stack.resolve(v) as { Ref?: unknown } | undefined;
    return typeof resolved === 'object' && resolved !== null && Object.keys(resolved).length === 1 && typeof resolved.Ref === 'string';
  };
  return ref(a) && ref(b);
}

/** Grants a storage writer what `TieredStore` and `DynamoChangeLog` call. */
export function grantWriter(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return grantRole(grantee, resources, 'writer');
}

/** Grants the sweeper what `Sweeper.sweep` calls. */
export function grantSweeper(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return grantRole(grantee, resources, 'sweeper');
}

/** Grants a read-only operator what `tierlog status`, `inspect` and `audit` (without `--delete`) call. */
export function grantOperatorReadOnly(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return grantRole(grantee, resources, 'operatorReadOnly');
}

/** Grants the full operator: the read-only commands plus `tierlog sweep` and `audit --delete`. */
export function grantOperator(grantee: iam.IGrantable, resources: TierlogResources): iam.Grant {
  return grantRole(grantee, resources, 'operator');
}

function resourceOf(
  kind: ResourceKind,
  r: TierlogResources,
): { resourceArns: string[]; conditions?: Record<string, Record<string, unknown>> } {
  switch (kind) {
    case 'changeLogTable':
      return { resourceArns: [r.changeLogTable.tableArn] };
    case 'leaseIndex':
      return { resourceArns: [leaseIndexArn(r)] };
    case 'objectsTable':
      return { resourceArns: [r.objectsTable.tableArn] };
    case 'prefixObjects':
      return { resourceArns: [r.bucket.arnForObjects(`${r.prefix}/*`)] };
    case 'prefixListing':
      return { resourceArns: [r.bucket.bucketArn], conditions: { StringLike: { 's3:prefix': [`${r.prefix}/*`] } } };
    case 'bucket':
      return { resourceArns: [r.bucket.bucketArn] };
  }
}

function union(...sets: ReadonlyArray<readonly RolePermission[]>): RolePermission[] {
  const by = new Map<string, { action: string; resource: ResourceKind; calls: Set<string> }>();
  for (const p of sets.flat()) {
    const id = `${p.action} on ${p.resource}`;
    if (!by.has(id)) by.set(id, { action: p.action, resource: p.resource, calls: new Set() });
    for (const c of p.calls) by.get(id)!.calls.add(c);
  }
  return [...by.values()].map((p) => ({ action: p.action, resource: p.resource, calls: [...p.calls].sort() }));
}
