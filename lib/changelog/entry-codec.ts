/**
 * How one change is stored: attribute `c_<changeId>` of its instance item, a map
 * `{ v, id, new?, old?, ca?, at }` (schema version, object id, blobs, cleanupAfter ms, recorded-at
 * ms). Entries are validated when read; an entry that does not parse, or carries a version this
 * code does not know, is reported as such (a {@link CorruptEntry}) and never guessed at.
 */
import { types } from 'node:util';
import { z } from 'zod';
import type { Change } from './change-log.js';
import { ENTRY_ATTRIBUTE_PREFIX, ENTRY_SCHEMA_VERSION } from '../constants.js';
import { ValidationError } from '../errors.js';
import { checkChangeNames } from '../tiered/blob-keys.js';

/** Change ids this log accepts: UUIDs and other short url-safe ids. */
const CHANGE_ID = /^[A-Za-z0-9_-]{1,128}$/;
/**
 * Longest `id`, `new` and `old` a record takes, in UTF-8 bytes (what DynamoDB counts toward its
 * 400 KB item limit, not JavaScript's UTF-16 length: 2,048 characters of `€` are 6 KB). An entry
 * then takes at most about 6.3 KB, which is what bounds an instance item of 48 entries
 * (`dynamo-change-log.ts`) well within the item limit.
 */
export const MAX_ENTRY_FIELD_BYTES = 2048;
/**
 * What a stored field may be when read: 2,048 characters, the bound records checked before they
 * counted bytes. Reading stays that lenient, so an entry an earlier version recorded is settled,
 * never quarantined for its length.
 */
const MAX_FIELD = 2048;
/** The last instant a JavaScript Date holds, ms since the epoch. */
const MAX_DATE_MS = 8.64e15;

/** The stored form of one entry. */
export interface StoredEntry {
  v: number;
  id: string;
  new?: string;
  old?: string;
  ca?: number;
  at: number;
}

const storedEntrySchema = z
  .object({
    v: z.literal(ENTRY_SCHEMA_VERSION),
    id: z.string().min(1).max(MAX_FIELD),
    new: z.string().min(1).max(MAX_FIELD).optional(),
    old: z.string().min(1).max(MAX_FIELD).optional(),
    // A cleanupAfter no Date can hold would read as "none" and make the entry due at once.
    ca: z.number().int().nonnegative().max(MAX_DATE_MS).optional(),
    at: z.number().int().nonnegative(),
  })
  .strict();

/** An entry that parsed. */
export interface ParsedEntry {
  readonly ok: true;
  readonly changeId: string;
  readonly change: Change;
  /** When the writer recorded it (writer's clock, ms). */
  readonly recordedAt: number;
}

/** An entry that did not parse; kept, counted and reported, never acted on. */
export interface CorruptEntry {
  readonly ok: false;
  /** The change id taken from the attribute name (may itself be what is wrong). */
  readonly changeId: string;
  readonly reason: string;
}

export type DecodedEntry = ParsedEntry | CorruptEntry;

/** The attribute that holds change `changeId`. */
export function entryAttribute(changeId: string): string {
  return `${ENTRY_ATTRIBUTE_PREFIX}${changeId}`;
}

/** True for an attribute name that holds an entry. */
export function isEntryAttribute(name: string): boolean {
  return name.startsWith(ENTRY_ATTRIBUTE_PREFIX);
}

/** Throws {@link ValidationError} unless `changeId` is an id this log stores. */
export function assertChangeId(changeId: string): void {
  if (typeof changeId !== 'string' || !CHANGE_ID.test(changeId)) {
    throw new ValidationError(`change id must match ${CHANGE_ID}, got ${JSON.stringify(changeId)}`, 'changeId');
  }
}

/** The fields of a {@link Change}. */
const CHANGE_FIELDS: readonly string[] = ['id', 'new', 'old', 'cleanupAfter'];

/** Throws {@link ValidationError} unless `change` can be recorded. */
export function assertChange(change: Change): void {
  if (typeof change !== 'object' || change === null) throw new ValidationError('change must be an object', 'change');
  // A field of another name is not recorded: `{ id, blob }` for `{ id, new }` would leave the blob
  // its writer uploads named by no entry, a leak after a crash. Refused, never dropped.
  for (const [name, value] of Object.entries(change)) {
    if (value !== undefined && !CHANGE_FIELDS.includes(name)) {
      throw new ValidationError(
        `change has an unknown field "${name.slice(0, 64)}" (a change takes ${CHANGE_FIELDS.join(', ')}): nothing was recorded`,
        `change.${name.slice(0, 64)}`,
      );
    }
  }
  if (typeof change.id !== 'string' || change.id.length === 0 || !fitsField(change.id)) {
    throw new ValidationError(
      `change.id must be a non-empty, well-formed string of at most ${MAX_ENTRY_FIELD_BYTES} UTF-8 bytes`,
      'change.id',
    );
  }
  for (const field of ['new', 'old'] as const) {
    const value = change[field];
    if (value !== undefined && (typeof value !== 'string' || value.length === 0 || !fitsField(value))) {
      throw new ValidationError(
        `change.${field} must be a non-empty, well-formed string of at most ${MAX_ENTRY_FIELD_BYTES} UTF-8 bytes when set`,
        `change.${field}`,
      );
    }
  }
  if (change.cleanupAfter !== undefined) {
    // The stored form takes no instant before the epoch (`ca` is non-negative): such an entry
    // would read back as malformed, be quarantined by the sweeper and never settled, and a
    // retried record of it would be refused as a conflict with itself.
    if (!types.isDate(change.cleanupAfter) || Number.isNaN(change.cleanupAfter.getTime()) || change.cleanupAfter.getTime() < 0) {
      throw new ValidationError('change.cleanupAfter must be a valid Date, not before 1970-01-01T00:00:00Z', 'change.cleanupAfter');
    }
  }
}

/**
 * Throws {@link ValidationError} (field `change`) for a change every sweeper quarantines, whatever
 * the prefix: an object id no object has (`assertObjectKey`: control characters, over 512 bytes),
 * or a `new` that is its `old`. For the logs that know no prefix (in memory, no-op): the DynamoDB
 * log refuses these with the rest of `checkChangeNames`, and a test on them must fail where it would.
 */
export function assertChangeNames(change: Change): void {
  // No blob field checked, so no prefix read: the object id and `new` = `old` only.
  const names = checkChangeNames('', change, []);
  if (!names.ok) {
    throw new ValidationError(`change cannot be recorded: the sweeper would quarantine it, never settle it (${names.reason})`, 'change');
  }
}

/**
 * Whether `value` can be an entry's `id`, `new` or `old` ({@link assertChange}): a non-empty,
 * well-formed string of at most {@link MAX_ENTRY_FIELD_BYTES} UTF-8 bytes. No S3 key fails it (a
 * key has 1 to 1,024 bytes).
 */
export function isEntryField(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && fitsField(value);
}

/**
 * Whether `value` is well-formed Unicode (a lone surrogate has no UTF-8 form: the sweeper would
 * quarantine the entry as an invalid object id) of at most {@link MAX_ENTRY_FIELD_BYTES} UTF-8 bytes.
 */
function fitsField(value: string): boolean {
  return value.length <= MAX_ENTRY_FIELD_BYTES && value.isWellFormed() && Buffer.byteLength(value, 'utf8') <= MAX_ENTRY_FIELD_BYTES;
}

/** The stored form of `change`, recorded at `recordedAt`. */
export function encodeEntry(change: Change, recordedAt: number): StoredEntry {
  const entry: StoredEntry = { v: ENTRY_SCHEMA_VERSION, id: change.id, at: Math.floor(recordedAt) };
  if (change.new !== undefined) entry.new = change.new;
  if (change.old !== undefined) entry.old = change.old;
  if (change.cleanupAfter !== undefined) entry.ca = change.cleanupAfter.getTime();
  return entry;
}

/** Parses the value of attribute `attributeName`. Never throws. */
export function decodeEntry(attributeName: string, raw: unknown): DecodedEntry {
  const changeId = attributeName.slice(ENTRY_ATTRIBUTE_PREFIX.length);
  if (!CHANGE_ID.test(changeId)) return { ok: false, changeId, reason: 'invalid change id in attribute name' };
  if (typeof raw === 'object' && raw !== null && 'v' in raw) {
    const v = (raw as { v: unknown }).v;
    if (v !== ENTRY_SCHEMA_VERSION) return { ok: false, changeId, reason: `unknown schema version ${describeValue(v)}` };
  }
  const parsed = storedEntrySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      changeId,
      reason: `malformed entry: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'unknown'}`,
    };
  }
  const stored = parsed.data;
  const change: Change = { id: stored.id };
  if (stored.new !== undefined) change.new = stored.new;
  if (stored.old !== undefined) change.old = stored.old;
  if (stored.ca !== undefined) change.cleanupAfter = new Date(stored.ca);
  return { ok: true, changeId, change, recordedAt: stored.at };
}

/** A short rendering of a stored value for a reason text; never throws (BigInt, symbols, cycles). */
function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
