/**
 * The store an instance item's changes belong to: the objects table of the writer that recorded
 * them, stamped on the item by every write that can create it (a record, a commit that records
 * its own entry, an upload session's create).
 *
 * Why. The sweeper deletes a blob an entry names unless HV points at it, and it reads HV in the
 * objects table of its own configuration. A sweeper configured with another objects table than
 * the writers that share its change-log table (an environment variable from the wrong shell, a
 * sweeper deployed beside another deployment's writers) reads "no item" for every key, so it
 * would judge every blob a dead writer's entries name unreferenced, committed ones included (an
 * overwrite's entry names the blob it made current until the replaced one is deleted): data lost
 * for good. The prefix needs no stamp: the sweeper's namespace guard refuses a blob key outside
 * its own prefix. Nor does the bucket: blob keys are never reused, so a sweeper of another bucket
 * deletes keys that are not there (the writers' blobs are left to the audit of theirs), never a
 * blob anything points at; and the entries of a writer whose bucket is missing (every upload
 * refused) are settled by the store's sweeper as before.
 *
 * The rule ({@link foreignStoreReason}, pure): an item stamped with another objects table than
 * the sweeper's is quarantined whole; nothing in it drives a delete or a drop. An item without a
 * stamp (written before stamps, or by hand) is judged as before.
 */
import type { TierlogConfig } from '../config.js';

/** What an instance item says of the store its writer wrote to. */
export interface StoreStamp {
  /** The writer's objects table (HV). */
  readonly objectsTable: string;
}

/** The stamp of the store `config` names. */
export function storeStampOf(config: Pick<TierlogConfig, 'objectsTable'>): StoreStamp {
  return { objectsTable: config.objectsTable };
}

/**
 * Why a sweeper of `config`'s store must not act on an item stamped `stamp`, or undefined when
 * it may (the same objects table, or no stamp).
 */
export function foreignStoreReason(stamp: StoreStamp | undefined, config: Pick<TierlogConfig, 'objectsTable'>): string | undefined {
  if (stamp === undefined || stamp.objectsTable === config.objectsTable) return undefined;
  return (
    `written by a writer of another store, objectsTable ${JSON.stringify(stamp.objectsTable)} ` +
    `(this sweeper's: ${JSON.stringify(config.objectsTable)}): nothing in it is acted on. ` +
    'Give the sweeper and the writers that share its change-log table the same objects table'
  );
}
