/**
 * The ONE definition of tierlog's table schemas. `provisionLocal` turns it into CreateTable
 * requests; the CDK construct in `infra/` turns it into TableV2 props. Change a key here and
 * both follow.
 */
import { LEASE_INDEX_NAME } from '../constants.js';

/** A key attribute's DynamoDB type: string, number or binary. */
export type KeyType = 'S' | 'N' | 'B';

/** A key attribute of a table or an index. */
export interface KeyAttribute {
  /** The attribute's name. */
  readonly name: string;
  /** Its type. */
  readonly type: KeyType;
}

/** A global secondary index of a table. */
export interface IndexSchema {
  /** The index's name. */
  readonly indexName: string;
  /** Its partition key. */
  readonly partitionKey: KeyAttribute;
  /** Its sort key, if any. */
  readonly sortKey?: KeyAttribute;
  /** Non-key attributes projected into the index (projection type INCLUDE). */
  readonly nonKeyAttributes: readonly string[];
}

/** A table's keys and indexes: what a table must have for tierlog to work with it. */
export interface TableSchema {
  /** The table's partition key. */
  readonly partitionKey: KeyAttribute;
  /** Its sort key, if any. */
  readonly sortKey?: KeyAttribute;
  /** Its global secondary indexes. */
  readonly globalSecondaryIndexes: readonly IndexSchema[];
}

/** Attribute names of a change-log instance item. */
export const CHANGELOG_ATTR = {
  pk: 'pk',
  state: 'state',
  leaseUntil: 'leaseUntil',
  claimedBy: 'claimedBy',
  count: 'n',
  shard: 'shard',
  /** When a sweeper first claimed the instance (sweeper's clock), written once by the claim. */
  firstSeen: 'firstSeen',
  /** The store (objects table) of the writer that recorded its entries: `lib/changelog/store-stamp.ts`. */
  store: 'store',
} as const;

/**
 * Prefix of an upload session's `pk` (then a UUIDv7): a session is an instance whose lease is
 * its expiry, days ahead, so the lease index's query for suspect leases (which sees `pk`) leaves
 * it out by its id, before any claim is tried.
 */
export const SESSION_ID_PREFIX = 'upload-';

/**
 * Change-log table: one item per writer instance, and the lease index a sweep queries to find
 * expired instances without reading live ones. The index carries `state` and `claimedBy`, which
 * writers never change, and NOT the entry counter `n`, which every record and remove changes: a
 * record that does not renew the lease then costs no index write at all. A sweep tries to retire
 * a live expired instance first (one conditional delete that requires `n = 0`, the common case:
 * an idle execution environment) and claims it when that condition fails.
 */
export const changeLogTableSchema: TableSchema = {
  partitionKey: { name: CHANGELOG_ATTR.pk, type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: LEASE_INDEX_NAME,
      partitionKey: { name: CHANGELOG_ATTR.shard, type: 'N' },
      sortKey: { name: CHANGELOG_ATTR.leaseUntil, type: 'N' },
      nonKeyAttributes: [CHANGELOG_ATTR.state, CHANGELOG_ATTR.claimedBy],
    },
  ],
};

/** Objects table ("HV"): partition key `key`. Attribute names: `DEFAULT_HV_ATTRIBUTES` in `lib/tiered/hv-table.ts`. */
export const objectsTableSchema: TableSchema = {
  partitionKey: { name: 'key', type: 'S' },
  globalSecondaryIndexes: [],
};
