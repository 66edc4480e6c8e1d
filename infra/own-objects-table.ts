/**
 * Checks an objects table of the user's (`TierlogProps.objectsTable`) against what tierlog needs
 * of it, when the table is a resource of this app (a `TableV2` or `Table` defined in CDK) and its
 * settings can be read. An imported table (`fromTableAttributes`, `fromTableName`) has none to
 * read, and is taken as documented.
 *
 * The rule, and why each part is refused rather than warned about:
 *  - its stream carries old images (`OLD_IMAGE` or `NEW_AND_OLD_IMAGES`): the stream function
 *    deletes the blob an item's OLD image names. With `KEYS_ONLY` or `NEW_IMAGE` every record is
 *    judged untrusted, nothing is deleted, and the blobs of expired objects and those a dead
 *    writer replaced leak (the construct tells the writers that the stream cleans them up);
 *  - TTL is on the configured expiry attribute (`hvAttributes.expiresAt`): otherwise expired
 *    objects are never removed, and neither their items nor their blobs are ever deleted;
 *  - its partition key is the configured key attribute (`hvAttributes.key`), a string, and it
 *    has no sort key: every read and write addresses an item by that key alone;
 *  - with the audit at scale, point-in-time recovery: its runs export the table with
 *    `ExportTableToPointInTime`, which needs it (every run would fail);
 *  - one region (a `TableV2` with no replica besides its own, a `Table` without
 *    `replicationRegions`): a consistent read and a
 *    conditional write hold within one region only, so a writer in another region could point an
 *    item at a blob that a sweeper's consistent read here does not see yet, and the sweeper would
 *    delete it; the protocol, like the change log, is single-region.
 */
import { Token } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { IConstruct } from 'constructs';
import { CONFIG_ENV, hvAttributeNamesFromEnv } from '../lib/config.js';
import type { HvAttributeNames } from '../lib/tiered/hv-table.js';
import { pointInTimeRecoveryOf, readableTable, regionsOf, stringKeyProblem } from './readable-table.js';

/** The stream view types that carry the old image. */
const OLD_IMAGE_VIEWS: readonly string[] = ['OLD_IMAGE', 'NEW_AND_OLD_IMAGES'];

/**
 * What is wrong with `table` as tierlog's objects table under the attribute names `names`: one
 * sentence per problem; empty when nothing is, or when the table cannot be read (imported).
 */
export function ownObjectsTableProblems(
  table: dynamodb.ITableV2,
  names: Pick<HvAttributeNames, 'key' | 'expiresAt'>,
  options: { readonly pointInTimeRecovery?: boolean } = {},
): string[] {
  const readable = readableTable(table);
  if (readable === undefined) return [];
  const { props, read } = readable;
  const problems: string[] = [];

  const view = read(props.streamSpecification)?.streamViewType;
  if (view === undefined || !OLD_IMAGE_VIEWS.includes(view)) {
    problems.push(
      `its stream must carry old images (OLD_IMAGE or NEW_AND_OLD_IMAGES), not ${view ?? 'none'}: the stream function deletes the blob an item's old image names`,
    );
  }
  const ttl = read(props.timeToLiveSpecification);
  if (ttl?.attributeName !== names.expiresAt || ttl.enabled === false) {
    problems.push(
      `TTL must be on "${names.expiresAt}" (hvAttributes.expiresAt), not ${ttl?.attributeName === undefined || ttl.enabled === false ? 'off' : `"${ttl.attributeName}"`}: otherwise expired objects and their blobs are never removed`,
    );
  }
  const keyProblem = stringKeyProblem(table, names.key, 'hvAttributes.key');
  if (keyProblem !== undefined) problems.push(keyProblem);
  const regions = regionsOf(table, readable);
  if (regions.length > 1) {
    problems.push(
      `it must live in one region, not ${regions.length} (${regions.join(', ')}): consistent reads and conditional writes hold within one region, and a sweeper would take a blob a write in another region references for garbage`,
    );
  }
  if (options.pointInTimeRecovery && pointInTimeRecoveryOf(table) === false) {
    problems.push('auditAtScale exports it with ExportTableToPointInTime, which needs point-in-time recovery: turn it on');
  }
  return problems;
}

/**
 * Refuses a part's `resources.objectsTable`, a table of this app, whose key is not the key
 * attribute its function reads (the `key` of `TIERLOG_HV_ATTRIBUTES` in `environment`, `key` when
 * it names none): the function addresses every item by that key, and DynamoDB refuses each such
 * request (a `ValidationException`), on every invocation. The `Tierlog` construct refuses such a
 * table (`checkOwnObjectsTable`); its parts used on their own took it. A variable known only at
 * deploy, or an imported table, is not judged.
 *
 * @throws Error naming the table and both keys.
 */
export function checkObjectsTableKey(table: dynamodb.ITableV2, environment: Readonly<Record<string, string>>): void {
  const variable = environment[CONFIG_ENV.hvAttributes];
  if (variable !== undefined && Token.isUnresolved(variable)) return;
  const key = hvAttributeNamesFromEnv(environment).key;
  const problem = stringKeyProblem(table, key, `the key attribute of the function's ${CONFIG_ENV.hvAttributes}`);
  if (problem !== undefined) {
    throw new Error(
      `resources.objectsTable ${table.node.path} cannot be the function's objects table: ${problem}; the function addresses every item by that key, and DynamoDB would refuse each request`,
    );
  }
}

/**
 * Refuses an objects table of this app that tierlog cannot work with (see the module doc).
 *
 * @throws Error naming every problem.
 */
export function checkOwnObjectsTable(
  table: dynamodb.ITableV2,
  names: Pick<HvAttributeNames, 'key' | 'expiresAt'>,
  options: { readonly pointInTimeRecovery?: boolean } = {},
): void {
  const problems = ownObjectsTableProblems(table, names, options);
  if (problems.length > 0) {
    throw new Error(`objectsTable ${table.node.path} cannot be tierlog's objects table: ${problems.join('; ')}`);
  }
}

/**
 * Refuses such a table at synth too, a validation on `scope` (the construct): a replica added to
 * the table after the construct (`addReplica`, a `TableV2`'s settings written in steps) put the
 * objects table in two regions with nothing refused, as the bucket's rules added after count.
 */
export function validateOwnObjectsTable(
  scope: IConstruct,
  table: dynamodb.ITableV2,
  names: Pick<HvAttributeNames, 'key' | 'expiresAt'>,
  options: { readonly pointInTimeRecovery?: boolean } = {},
): void {
  scope.node.addValidation({
    validate: () => {
      const problems = ownObjectsTableProblems(table, names, options);
      return problems.length > 0 ? [`objectsTable ${table.node.path} cannot be tierlog's objects table: ${problems.join('; ')}`] : [];
    },
  });
}

/**
 * Refuses, at synth, a part's `resources.objectsTable`, a table of this app, that lives in more
 * than one region (a `TableV2` with a replica besides its own, a `Table` with
 * `replicationRegions`), as the `Tierlog` construct and `ObjectsStreamCleanup` refuse it (DESIGN,
 * "One region"): `what` deletes a blob once a consistent read here shows no item pointing at it, or
 * writes with conditions that hold here only, and a write in another region's replica is not seen
 * by either. A validation on `scope` (the part), so a replica added to the table after the part
 * (`addReplica`) counts. An imported table cannot be read: taken as it is.
 */
export function validateObjectsTableInOneRegion(scope: IConstruct, table: dynamodb.ITableV2, what: string): void {
  scope.node.addValidation({
    validate: () => {
      const readable = readableTable(table);
      const regions = readable === undefined ? [] : regionsOf(table, readable);
      return regions.length > 1
        ? [
            `resources.objectsTable ${table.node.path} must live in one region, not ${regions.length} (${regions.join(', ')}): ${what}, and a write in another region's replica is not seen here (consistent reads and conditional writes hold within one region)`,
          ]
        : [];
    },
  });
}
