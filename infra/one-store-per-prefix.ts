/**
 * One store per bucket prefix. Every tool that deletes blobs nothing references (the listing
 * audit, the snapshot audit) lists `<prefix>/` and reads one store's objects table and change
 * log: a second store writing under the same prefix of the same bucket has blobs that table
 * never points at and that log never names, so an audit of either store deletes the other's
 * blobs, live ones included. Nothing at run time can tell the two stores' blobs apart (keys are
 * `<prefix>/<object id>/<uuidv7>` in both), so the app that deploys them is where it is refused:
 * two `Tierlog` constructs of one app given the same bucket and the same prefix fail synthesis, and
 * so do parts used on their own of two stores (each its objects table) under one bucket and prefix
 * ({@link refuseOtherStoreUnderPrefix}).
 * A bucket the construct creates is its own; nested prefixes (`blobs`, `blobs/b`) do not
 * collide: the outer store's audits read the inner store's keys as no blob keys of theirs
 * (reported, never deleted).
 *
 * One store per objects table too. An item names its blob by its key alone, not by the bucket: two
 * `Tierlog` constructs given one objects table (each with its own bucket, or another prefix) answer
 * each other's objects from their own bucket, where the blob is not (every such read fails), each
 * one's audits report the other's blobs as lost, and its stream function takes the other's records
 * for its own (kept as untrusted, or deleted in its own bucket where no such key is). Two of one
 * app given the same table (one construct, or one name in one account and region) fail synthesis.
 */
import { Stack, Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { CONFIG_ENV, hvAttributeNamesFromEnv } from '../lib/config.js';
import type { HvAttributeNames } from '../lib/tiered/hv-table.js';

/** What {@link refuseSharedPrefix} reads of a construct that stores blobs under a prefix. */
export interface BlobStoreSite {
  readonly bucket: s3.IBucket;
  readonly prefix: string;
}

/**
 * The name `bucket` has at synth: its `bucketName` when a literal (imported by name or ARN), else
 * the `bucketName` property of its resource when it is a bucket of this app given a literal name
 * (its `bucketName` is then a reference, a token); undefined when neither is known.
 */
function literalName(bucket: s3.IBucket): string | undefined {
  if (!Token.isUnresolved(bucket.bucketName)) return bucket.bucketName;
  const resource = bucket.node.defaultChild as { cfnResourceType?: string; bucketName?: unknown } | undefined;
  if (resource?.cfnResourceType !== 'AWS::S3::Bucket') return undefined;
  return typeof resource.bucketName === 'string' && !Token.isUnresolved(resource.bucketName) ? resource.bucketName : undefined;
}

/**
 * Whether `a` and `b` are the same bucket: one construct, one name (the same literal, or the same
 * token), or a bucket of this app with a literal name and one imported by that name.
 */
function sameBucket(a: s3.IBucket, b: s3.IBucket): boolean {
  if (a === b || a.bucketName === b.bucketName) return true;
  const name = literalName(a);
  return name !== undefined && name === literalName(b);
}

/**
 * Refuses, at synth, another store of the same app (found by `isStore`) under `store`'s bucket and
 * prefix: a validation on `store`, so constructs added after it are seen.
 */
export function refuseSharedPrefix<T extends IConstruct & BlobStoreSite>(store: T, isStore: (node: IConstruct) => node is T): void {
  store.node.addValidation({
    validate: () =>
      store.node.root.node
        .findAll()
        .filter((other): other is T => other !== store && isStore(other))
        .filter((other) => other.prefix === store.prefix && sameBucket(other.bucket, store.bucket))
        .map(
          (other) =>
            `${other.node.path} stores blobs under the same bucket and prefix "${store.prefix}/": an audit of either store would delete the other's blobs; give each store its own prefix`,
        ),
  });
}

/** What {@link refuseSharedObjectsTable} reads of a construct that keeps its objects in a table. */
export interface ObjectsTableSite {
  readonly objectsTable: dynamodb.ITableV2;
}

/**
 * The name `table` has at synth: its `tableName` when a literal (imported by name or ARN), else
 * the `tableName` property of its resource when it is a table of this app given a literal name;
 * undefined when neither is known.
 */
function literalTableName(table: dynamodb.ITableV2): string | undefined {
  if (!Token.isUnresolved(table.tableName)) return table.tableName;
  const resource = table.node.defaultChild as { cfnResourceType?: string; tableName?: unknown } | undefined;
  if (resource?.cfnResourceType !== 'AWS::DynamoDB::GlobalTable' && resource?.cfnResourceType !== 'AWS::DynamoDB::Table') return undefined;
  return typeof resource.tableName === 'string' && !Token.isUnresolved(resource.tableName) ? resource.tableName : undefined;
}

/**
 * Whether `a` and `b` are the same table: one construct, or one literal name in one account and
 * region (table names are per account and region): both in one stack, or both in a region and
 * account known at synth. Two environment-agnostic stacks may be deployed apart: not compared.
 */
function sameTable(a: dynamodb.ITableV2, b: dynamodb.ITableV2): boolean {
  if (a === b) return true;
  const name = literalTableName(a);
  if (name === undefined || name !== literalTableName(b)) return false;
  if (Stack.of(a) === Stack.of(b)) return true;
  const known = (v: string) => !Token.isUnresolved(v);
  return (
    [a.env.region, a.env.account, b.env.region, b.env.account].every(known) &&
    a.env.region === b.env.region &&
    a.env.account === b.env.account
  );
}

/**
 * Refuses, at synth, another store of the same app (found by `isStore`) given `store`'s objects
 * table: a validation on `store`, so constructs added after it are seen.
 */
export function refuseSharedObjectsTable<T extends IConstruct & ObjectsTableSite>(
  store: T,
  isStore: (node: IConstruct) => node is T,
): void {
  store.node.addValidation({
    validate: () =>
      store.node.root.node
        .findAll()
        .filter((other): other is T => other !== store && isStore(other))
        .filter((other) => sameTable(other.objectsTable, store.objectsTable))
        .map((other) => {
          const name = literalTableName(store.objectsTable);
          return `${other.node.path} uses the same objects table (${name !== undefined ? `"${name}"` : store.objectsTable.node.path}): an item names its blob by key alone, so objects written through either are unreadable through the other (their blobs in the other's bucket or prefix) and each one's audits report the other's blobs lost; give each store its own objects table`;
        }),
  });
}

/** What {@link refuseOtherStoreUnderPrefix} reads of a part's store. */
export interface PartStore extends BlobStoreSite, ObjectsTableSite {}

/** The store each part registered with {@link refuseOtherStoreUnderPrefix} works on. */
const partStores = new WeakMap<IConstruct, PartStore>();

/** The objects-table attribute names each part's function reads, when known at synth. */
const partNames = new WeakMap<IConstruct, HvAttributeNames>();

/** The names `environment` gives (`TIERLOG_HV_ATTRIBUTES`, defaults filled in); undefined when not known at synth or not valid (refused elsewhere). */
function namesOf(environment: Readonly<Record<string, string>> | undefined): HvAttributeNames | undefined {
  const variable = environment?.[CONFIG_ENV.hvAttributes];
  if (environment === undefined || (variable !== undefined && Token.isUnresolved(variable))) return undefined;
  try {
    return hvAttributeNamesFromEnv(environment);
  } catch {
    return undefined;
  }
}

/** Whether `table` is a table of this app (its settings, and its identity, known at synth). */
function tableOfApp(table: dynamodb.ITableV2): boolean {
  const type = (table.node.defaultChild as { cfnResourceType?: string } | undefined)?.cfnResourceType;
  return type === 'AWS::DynamoDB::GlobalTable' || type === 'AWS::DynamoDB::Table';
}

/**
 * Whether `a` and `b` are known to be two tables: two literal names that differ, or two tables of
 * this app (distinct constructs). An imported table whose name is a token may be either: not judged.
 */
function otherTables(a: dynamodb.ITableV2, b: dynamodb.ITableV2): boolean {
  if (a === b || a.tableName === b.tableName || sameTable(a, b)) return false;
  const nameA = literalTableName(a);
  const nameB = literalTableName(b);
  if (nameA !== undefined && nameB !== undefined) return nameA !== nameB;
  return tableOfApp(a) && tableOfApp(b);
}

/**
 * Refuses, at synth, a part used on its own (`TierlogSweeper`, `ObjectsStreamCleanup`,
 * `ObjectsFunction`, `AuditAtScale`; the `Tierlog` construct's too) whose store's bucket and prefix
 * another part of the app works on with another objects table: two stores under one prefix, whose
 * audits each delete the other's blobs (see the module doc). Parts of one store (the same bucket,
 * prefix and objects table) are taken, unless their functions read that table with other
 * attribute names (`environment`'s `TIERLOG_HV_ATTRIBUTES`, when known at synth). A validation on
 * `part`, so parts added after it are seen.
 */
export function refuseOtherStoreUnderPrefix(part: IConstruct, store: PartStore, environment?: Readonly<Record<string, string>>): void {
  partStores.set(part, store);
  const names = namesOf(environment);
  if (names !== undefined) partNames.set(part, names);
  part.node.addValidation({
    validate: () => {
      const others = part.node.root.node.findAll().filter((other) => other !== part && partStores.has(other));
      const sharing = others
        .filter((other) => {
          const theirs = partStores.get(other)!;
          return (
            theirs.prefix === store.prefix &&
            sameBucket(theirs.bucket, store.bucket) &&
            otherTables(theirs.objectsTable, store.objectsTable)
          );
        })
        .map(
          (other) =>
            `${other.node.path} stores blobs under the same bucket and prefix "${store.prefix}/" for another objects table (${partStores.get(other)!.objectsTable.node.path}, not ${store.objectsTable.node.path}): an audit of either store would delete the other's blobs; give each store its own prefix`,
        );
      return [...sharing, ...otherNames(part, store, names, others)];
    },
  });
}

/**
 * The parts among `others` whose function reads `store`'s objects table with other attribute names
 * than `names` (`TIERLOG_HV_ATTRIBUTES`), as messages. Each part checks its names against the
 * table's key alone: an objects function and a sweeper of one table deployed with other names, the
 * sweeper quarantined the entries of the function's writes (an item it does not understand) and
 * the stream function kept their blobs, every one of them left to the audit.
 */
function otherNames(part: IConstruct, store: PartStore, names: HvAttributeNames | undefined, others: IConstruct[]): string[] {
  if (names === undefined) return [];
  return others.flatMap((other) => {
    const theirs = partNames.get(other);
    const table = partStores.get(other)!.objectsTable;
    if (theirs === undefined || !(table === store.objectsTable || sameTable(table, store.objectsTable))) return [];
    const differ = (Object.keys(names) as Array<keyof HvAttributeNames>).filter((k) => names[k] !== theirs[k]);
    if (differ.length === 0) return [];
    return [
      `${part.node.path} reads the objects table ${store.objectsTable.node.path} with other attribute names (${CONFIG_ENV.hvAttributes}): ${differ
        .map((k) => `${k} ${JSON.stringify(names[k])}, not ${JSON.stringify(theirs[k])}`)
        .join(
          ', ',
        )} as ${other.node.path} reads it; each reads the other's items as items it does not understand (entries quarantined, blobs kept for the audit): give every part of one store the same names`,
    ];
  });
}
