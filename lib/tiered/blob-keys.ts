/**
 * Blob keys: `<prefix>/<url-safe object id>/<uuidv7>`. A key is never reused, so a blob that
 * stopped being referenced can never become referenced again, which is what makes "delete it
 * when HV does not point at it" safe.
 *
 * {@link checkBlobKey} is the gate in front of every delete the sweeper makes: a key it does not
 * accept (outside the prefix, `..`, percent-encoding, wrong shape, another object's blob) is
 * quarantined, never deleted.
 */
import { v7 as uuidv7 } from 'uuid';
import { isUuidV7 } from '../ids.js';
import { assertObjectKey } from './object-key.js';

/** The url-safe form of an object id (base64url of its UTF-8 bytes). */
export function encodeObjectId(objectId: string): string {
  return Buffer.from(objectId, 'utf8').toString('base64url');
}

/** A new, never-used blob key for `objectId`. */
export function newBlobKey(prefix: string, objectId: string): string {
  return `${prefix}/${encodeObjectId(objectId)}/${uuidv7()}`;
}

export type BlobKeyCheck = { ok: true } | { ok: false; reason: string };

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Accepts `key` only if it is exactly a blob key this library makes for `objectId` under
 * `prefix`: no other shape, no traversal, no encoding tricks.
 */
export function checkBlobKey(prefix: string, objectId: string, key: unknown): BlobKeyCheck {
  if (typeof key !== 'string') return { ok: false, reason: 'blob key is not a string' };
  if (!key.startsWith(`${prefix}/`)) return { ok: false, reason: `blob key "${truncate(key)}" is outside prefix "${prefix}/"` };
  const rest = key.slice(prefix.length + 1);
  const parts = rest.split('/');
  if (parts.length !== 2) return { ok: false, reason: `blob key "${truncate(key)}" does not have the shape <prefix>/<object>/<uuidv7>` };
  const [objectPart, blobPart] = parts as [string, string];
  if (!BASE64URL.test(objectPart)) return { ok: false, reason: `blob key "${truncate(key)}" has an invalid object segment` };
  if (!isUuidV7(blobPart)) return { ok: false, reason: `blob key "${truncate(key)}" does not end in a UUIDv7` };
  if (objectPart !== encodeObjectId(objectId)) {
    return { ok: false, reason: `blob key "${truncate(key)}" belongs to another object than "${truncate(objectId)}"` };
  }
  return { ok: true };
}

/**
 * Accepts the names of a change (its object id and the blobs in `fields`) only if the sweeper can
 * act on them: a valid object id, each blob exactly a key of that object under `prefix`, and `new`
 * not `old`. The sweeper quarantines an entry this refuses (lib/recovery/judge.ts, all fields).
 * The change log refuses to record a `new` it refuses (lib/changelog/dynamo-change-log.ts): the
 * writer chose that blob, and an entry nobody will settle would keep it forever. An `old` is read
 * from the objects item, which may name another object's blob (an item copied to rename an
 * object): it is recorded, and its quarantine is how the sweeper reports it, never deleting it.
 */
export function checkChangeNames(
  prefix: string,
  change: { readonly id: string; readonly new?: string; readonly old?: string },
  fields: ReadonlyArray<'new' | 'old'> = ['new', 'old'],
): BlobKeyCheck {
  try {
    assertObjectKey(change.id);
  } catch (err) {
    return { ok: false, reason: `invalid object id: ${(err as Error).message}` };
  }
  for (const field of fields) {
    const blob = change[field];
    if (blob === undefined) continue;
    const check = checkBlobKey(prefix, change.id, blob);
    if (!check.ok) return { ok: false, reason: `${field}: ${check.reason}` };
  }
  if (change.new !== undefined && change.new === change.old) return { ok: false, reason: 'new and old name the same blob' };
  return { ok: true };
}

function truncate(value: string): string {
  return value.length > 200 ? `${value.slice(0, 200)}…` : value;
}
