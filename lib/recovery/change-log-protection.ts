/**
 * What the change log protects from an audit's delete, from one full consistent scan of the
 * change-log table, read raw (nothing is lost to unmarshalling). Shared by the listing audit
 * (`audit.ts`) and the snapshot audit's live re-verification (`snapshot-audit/reverify.ts`), so
 * both protect exactly the same blobs.
 *
 * A write records its entry before it uploads and removes it only in (or after) its commit, so
 * a blob whose write may still commit is named by an item. To be conservative, "names" means:
 * the blob's UUID appears anywhere in an item, in any attribute name or value (strings,
 * binaries decoded as UTF-8, sets, nested), whether the entry parses or not. An entry that does
 * not parse but has a readable object id holds every blob of that object. An entry with no
 * readable object id, an item that cannot be read at all, or one without the table's key `pk`
 * (the table is not a change log: the objects table named by mistake, say) sets `refuse`: the
 * caller deletes nothing. A table that holds no item at all, or an item whose header is not an
 * instance's (an objects table whose key is named `pk` too passes the check above), is checked for
 * the change log's lease index, so a table of another kind is refused too; and one none of whose
 * items is an instance sets `refuse`, for a caller not allowed to read that index. An instance item
 * stamped with another objects table than the caller's (`store-stamp.ts`: two stores never share a
 * change-log table) says the table may be another store's change log, where this store's writes in
 * flight are not named at all: it is reported corrupt and sets `refuse`. Nothing read from a
 * corrupt item ever drives a delete. {@link probeTable} is that one read of a table (or an
 * index), for a caller that must know a table exists before it reads nothing else.
 */
import { type AttributeValue, type DynamoDBClient, paginateScan, ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { unmarshallOptions } from '../aws/clients.js';
import { isCredentialRefusal, translateAwsError } from '../aws/errors.js';
import { advancingPages } from '../aws/table-pages.js';
import { decodeEntry, isEntryAttribute } from '../changelog/entry-codec.js';
import { parseInstanceItem } from '../changelog/instance-item.js';
import { foreignStoreReason } from '../changelog/store-stamp.js';
import { AccessDeniedError, CorruptItemError } from '../errors.js';
import { CONFIG_ENV } from '../config.js';
import { LEASE_INDEX_NAME } from '../constants.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';

/** A change-log item or entry an audit could not parse (reported; see the module doc). */
export interface CorruptChangeLogItem {
  /** The instance item's id. */
  readonly instanceId: string;
  /** The entry, when one entry is at fault; absent when the item itself is. */
  readonly changeId?: string;
  /** What does not parse. */
  readonly reason: string;
}

/** What the change log protects, from one full scan. */
export interface ChangeLogProtection {
  /** UUID (lower case) -> the instance item it appears in. */
  readonly uuids: Map<string, string>;
  /** Object id -> the instance item holding an unparseable entry about it. */
  readonly objects: Map<string, string>;
  readonly corrupt: CorruptChangeLogItem[];
  /** Why no delete may happen, when an item could not be read well enough to know. */
  readonly refuse?: string;
}

/** The instance item that protects the blob `uuid` of object `objectId`, or undefined. */
export function protectorOf(
  protection: ChangeLogProtection,
  objectId: string,
  uuid: string,
): { readonly instanceId: string; readonly why: 'named' | 'unreadableEntry' } | undefined {
  const namedBy = protection.uuids.get(uuid.toLowerCase());
  if (namedBy !== undefined) return { instanceId: namedBy, why: 'named' };
  const heldBy = protection.objects.get(objectId);
  if (heldBy !== undefined) return { instanceId: heldBy, why: 'unreadableEntry' };
  return undefined;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * One full, consistent scan of the change-log table `table`, raw (nothing is lost to
 * unmarshalling), for the store whose objects table is `objectsTable` (the caller's configuration:
 * an item stamped with another sets `refuse`).
 */
export async function readChangeLogProtection(dynamodb: DynamoDBClient, table: string, objectsTable: string): Promise<ChangeLogProtection> {
  const uuids = new Map<string, string>();
  const objects = new Map<string, string>();
  const corrupt: CorruptChangeLogItem[] = [];
  let refuse: string | undefined;
  // An item whose header is not an instance's: a corrupt one, or a table of another kind whose key
  // is also named `pk` (an objects table of the user's schema), where nothing looks in flight.
  let headerUnread = false;
  let items = 0;
  let instances = 0;
  try {
    for await (const page of advancingPages(paginateScan({ client: dynamodb }, { TableName: table, ConsistentRead: true }), {
      table,
      operation: 'Scan',
    })) {
      for (const raw of page.Items ?? []) {
        items++;
        const instanceId = raw[CHANGELOG_ATTR.pk]?.S ?? '?';
        // Every change-log item is keyed by a string `pk`: an item without one is not a change
        // log's, so the table named may be another (the objects table, say), and what is in
        // flight cannot be known from it.
        if (raw[CHANGELOG_ATTR.pk]?.S === undefined) {
          refuse ??= `table ${table} holds an item without a string "${CHANGELOG_ATTR.pk}": it is not a change-log table (TIERLOG_CHANGELOG_TABLE)`;
        }
        for (const text of texts(raw)) for (const match of text.matchAll(UUID)) uuids.set(match[0].toLowerCase(), instanceId);
        let item: Record<string, unknown>;
        try {
          item = unmarshall(raw, unmarshallOptions());
        } catch (err) {
          corrupt.push({ instanceId, reason: `item cannot be read: ${(err as Error).message}` });
          refuse ??= `change-log item ${instanceId} cannot be read`;
          continue;
        }
        try {
          const { store } = parseInstanceItem(item);
          instances++;
          if (foreignStoreReason(store, { objectsTable }) !== undefined) {
            // Its writer's objects table is not this store's: the table named may be that store's
            // change log, which names none of this store's writes in flight (their blobs look orphans).
            const why =
              `written by a writer of another store, objectsTable ${JSON.stringify(store?.objectsTable)} (this store's: ${JSON.stringify(objectsTable)}): ` +
              `${CONFIG_ENV.changeLogTable} may name that store's change log, which shows none of this store's writes in flight`;
            corrupt.push({ instanceId, reason: why });
            refuse ??= `change-log item ${instanceId} was ${why}`;
          }
        } catch (err) {
          if (!(err instanceof CorruptItemError)) throw err;
          corrupt.push({ instanceId, reason: err.message });
          headerUnread = true;
        }
        for (const [name, value] of Object.entries(item)) {
          if (!isEntryAttribute(name)) continue;
          const entry = decodeEntry(name, value);
          if (entry.ok) continue;
          corrupt.push({ instanceId, changeId: entry.changeId, reason: entry.reason });
          const objectId = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
          if (typeof objectId === 'string') objects.set(objectId, instanceId);
          else refuse ??= `entry ${entry.changeId} of change-log item ${instanceId} does not parse and names no object`;
        }
      }
    }
  } catch (err) {
    throw translateAwsError(err, { operation: 'Scan', table });
  }
  if (refuse === undefined && ((uuids.size === 0 && corrupt.length === 0) || headerUnread)) await assertChangeLogShape(dynamodb, table);
  // A caller not allowed to read the index learns nothing from it: a table none of whose items is
  // an instance is no change log that says what is in flight.
  if (refuse === undefined && items > 0 && instances === 0) {
    refuse = `table ${table} holds no item that is a change-log instance (${items} read): it is not a change-log table (TIERLOG_CHANGELOG_TABLE)`;
  }
  return { uuids, objects, corrupt, ...(refuse !== undefined ? { refuse } : {}) };
}

/**
 * An empty scan says nothing about which table it read: an empty table of another kind would
 * show nothing in flight. One read of the change log's lease index (at most one item) tells: a
 * table without it is refused with a `ConfigError` naming it (`translateAwsError`). A caller not
 * allowed to read the index (a role granted the table alone) learns nothing from it and goes on;
 * the construct grants it to the operators (`grantOperatorReadOnly`, `grantOperator`) and the
 * at-scale audit Lambda. Credentials refused as such
 * (an expired token) are no such answer: that error is thrown, and nothing is deleted.
 */
export async function assertChangeLogShape(dynamodb: DynamoDBClient, table: string): Promise<void> {
  const known = shapeKnown.get(dynamodb) ?? new Set<string>();
  if (known.has(table)) return;
  await probeTable(dynamodb, table, LEASE_INDEX_NAME);
  known.add(table);
  shapeKnown.set(dynamodb, known);
}

/**
 * One read of at most one item of `table` (of its index `indexName`, if named), counted, not
 * returned: a table or an index that does not exist is an error naming it. A refusal of this
 * action alone is no error (a role not granted it learns nothing, and goes on without it).
 */
export async function probeTable(dynamodb: DynamoDBClient, table: string, indexName?: string): Promise<void> {
  try {
    await dynamodb.send(
      new ScanCommand({ TableName: table, ...(indexName !== undefined ? { IndexName: indexName } : {}), Limit: 1, Select: 'COUNT' }),
    );
  } catch (err) {
    const translated = translateAwsError(err, { operation: 'Scan', table });
    // Only a refusal of this action is "not allowed to read" it. Refused credentials (an expired
    // token, say) say nothing about the table: the check is not done, so stop.
    if (!(translated instanceof AccessDeniedError) || isCredentialRefusal(err)) throw translated;
  }
}

/**
 * Tables whose lease index was read (or cannot be), by the client that read it: a table's indexes do
 * not change under a run, but a name is a table of one endpoint, region and account only (a process
 * with a local stack's client and an AWS one, two accounts' clients), each checked once.
 */
const shapeKnown = new WeakMap<DynamoDBClient, Set<string>>();

/** Every attribute name and every string (binaries decoded as UTF-8) in a raw item, nested included. */
function texts(item: Record<string, AttributeValue>): string[] {
  const out: string[] = [];
  const visit = (value: AttributeValue | undefined): void => {
    if (value === undefined) return;
    if (value.S !== undefined) out.push(value.S);
    else if (value.SS !== undefined) out.push(...value.SS);
    else if (value.B !== undefined) out.push(Buffer.from(value.B).toString('utf8'));
    else if (value.BS !== undefined) for (const b of value.BS) out.push(Buffer.from(b).toString('utf8'));
    else if (value.L !== undefined) for (const v of value.L) visit(v);
    else if (value.M !== undefined) for (const [name, v] of Object.entries(value.M)) out.push(name), visit(v);
  };
  for (const [name, value] of Object.entries(item)) {
    out.push(name);
    visit(value);
  }
  return out;
}
