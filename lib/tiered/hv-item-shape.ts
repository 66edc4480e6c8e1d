/**
 * Whether an objects-table item, read under the configured attribute names, is understood. An
 * item that exists but has none of the attributes that say what it is (a string `blob`, a
 * `body`, a `deleted` marker) is being read with the wrong names (`TIERLOG_HV_ATTRIBUTES` not as
 * the writers', or another table), or was written by something else: its blob, if it has one,
 * would look unreferenced. Whoever would delete a blob on such a read deletes nothing (never
 * delete on a guess): the sweeper quarantines the entry, the stream function counts the record
 * as untrusted and logs it (no retry: the audit lists the blob later), the audits refuse to delete.
 */
import type { HvAttributeNames } from './hv-table.js';

/** The attribute names the shape check reads. */
export type HvShapeNames = Pick<HvAttributeNames, 'key' | 'blob' | 'body' | 'deleted'>;

/** An item that exists and is not understood, with why. */
export interface UnrecognisedHvItem {
  readonly unrecognised: string;
}

/**
 * What a consistent read says an object points at now: a blob key, `null` (inline, a deletion
 * marker, or no item), or an item not understood.
 */
export type HvPointer = string | null | UnrecognisedHvItem;

/** `pointer` is an item not understood. */
export function isUnrecognised(pointer: HvPointer | undefined): pointer is UnrecognisedHvItem {
  return typeof pointer === 'object' && pointer !== null;
}

/** Why `item` (projected to at least the names of `a`) is not understood, or undefined. */
export function unrecognisedHvItemReason(item: Record<string, unknown>, a: HvShapeNames): string | undefined {
  const blob = item[a.blob];
  const says = typeof blob === 'string' || item[a.body] !== undefined || item[a.deleted] === true;
  if (typeof item[a.key] === 'string' && says && (blob === undefined || typeof blob === 'string')) return undefined;
  const key = item[a.key] === undefined ? `(no "${a.key}" attribute)` : JSON.stringify(String(item[a.key]));
  return (
    `objects-table item ${key} has none of the attributes the configuration names ` +
    `(key "${a.key}", blob "${a.blob}" as a string, body "${a.body}", deleted "${a.deleted}"): ` +
    "TIERLOG_HV_ATTRIBUTES must be the writers' (or the table is not theirs)"
  );
}
