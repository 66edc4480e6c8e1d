/**
 * Checks a change-log table of the user's (`TierlogResources.changeLogTable`, given to a part used
 * on its own that reads it: `TierlogSweeper`, `ObjectsFunction`, `AuditAtScale`; the stream's
 * `ObjectsStreamCleanup` never does) against what tierlog needs of it, when the table is a resource of this app and its settings can
 * be read. An imported table has none to read, and is taken as documented. The `Tierlog` construct
 * makes its own from the one schema (`lib/schema/tables.ts`) and needs no check.
 *
 * The rule, and why each part is refused rather than warned about:
 *  - the schema's key and lease index, judged as `provisionLocal` judges a table it finds
 *    (`schemaMismatch`): the string partition key `pk` alone (every writer records, and every
 *    sweeper claims, an instance by it: DynamoDB refuses each request to a table keyed otherwise,
 *    a `ValidationException`), and the index `byLease` keyed by `shard` and `leaseUntil`, projecting
 *    `state` and `claimedBy` (every sweep finds expired instances by querying it: without it no
 *    sweep ever finds one, and the blobs of every dead writer leak);
 *  - one region: a lease is fenced by conditional writes, which hold within one region only; a
 *    sweeper here could claim, and judge, an instance whose writer in another region is still
 *    recording entries.
 */
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type { IConstruct } from 'constructs';
import { createTableInput, schemaMismatch } from '../lib/schema/table-shape.js';
import { changeLogTableSchema } from '../lib/schema/tables.js';
import { describedAs, readableTable, regionsOf } from './readable-table.js';

/**
 * What is wrong with `table` as tierlog's change-log table: one sentence per problem; empty when
 * nothing is, or when the table cannot be read (imported).
 */
export function changeLogTableProblems(table: dynamodb.ITableV2): string[] {
  const readable = readableTable(table);
  if (readable === undefined) return [];
  const problems: string[] = [];
  const mismatch = schemaMismatch(describedAs(readable), createTableInput(changeLogTableSchema, table.node.path));
  if (mismatch !== undefined) {
    problems.push(
      `${mismatch}: writers and sweepers address every instance by its string key "pk", and sweepers find expired ones by the lease index`,
    );
  }
  const regions = regionsOf(table, readable);
  if (regions.length > 1) {
    problems.push(
      `it must live in one region, not ${regions.length} (${regions.join(', ')}): a lease is fenced by conditional writes, which hold within one region, and a sweeper would judge the entries of a writer still at work in another`,
    );
  }
  return problems;
}

/**
 * Refuses, at synth, a part's `resources.changeLogTable`, a table of this app, that tierlog cannot
 * work with (see the module doc): its function would fail on every invocation, or no sweep would
 * ever find a dead writer. A validation on `scope` (the part), as `validateOwnBucket` is, so an
 * index or a replica added to the table after the part is made counts: checked when the part was
 * made, a lease index added next was refused as missing, and a replica added next (the change log
 * in two regions) was never seen.
 */
export function validateChangeLogTable(scope: IConstruct, table: dynamodb.ITableV2): void {
  scope.node.addValidation({
    validate: () => {
      const problems = changeLogTableProblems(table);
      return problems.length > 0
        ? [`resources.changeLogTable ${table.node.path} cannot be tierlog's change-log table: ${problems.join('; ')}`]
        : [];
    },
  });
}
