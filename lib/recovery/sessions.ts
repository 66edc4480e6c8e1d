/**
 * The sweeper's one extra step for upload sessions. A session is a change-log instance like any
 * other (its lease is its expiry plus a grace), so the sweeper claims it, judges its entry and
 * drains it the usual way; but its multipart upload lives on in S3 (parts a client may still be
 * sending) until someone aborts it. Once the claim is held (no complete can commit any more),
 * this aborts it, and every other upload under the session's blob key (see `uploadsOfSession`):
 * a client still uploading parts gets NoSuchUpload, and the parts are freed.
 *
 * Never act on what cannot be trusted: the upload is aborted only when the session names a blob
 * this library makes for its key under the configured prefix. Aborting a completed or already
 * aborted upload is a no-op (NoSuchUpload).
 *
 * A session whose `upload` attribute cannot be read (a format this sweeper does not know, a
 * corrupt attribute) is still drained: its entry `{ id: key, new: blob }` is judged like any
 * other, and the item is deleted. Its uploads are then found from that entry, on the same trust
 * as the judge's (the blob checked against the entry's key): skipping them would leave them in
 * progress with no item left to name them, to the bucket's lifecycle rule alone. Only the
 * noted upload id is lost with the attribute; the listing under the blob key finds it.
 */
import { AccessDeniedError } from '../errors.js';
import type { LtBucket } from '../tiered/lt-bucket.js';
import { UPLOAD_ATTR, parseSessionItem } from '../tiered/upload-session-item.js';
import { checkBlobKey } from '../tiered/blob-keys.js';
import { decodeEntry, entryAttribute } from '../changelog/entry-codec.js';
import { CHANGELOG_ATTR } from '../schema/tables.js';

export type SessionStep =
  /** `unlisted`: the listing of uploads under the blob key was refused (why): only a noted upload is known. */
  | { readonly kind: 'none'; readonly unlisted?: string }
  /**
   * `unreadable`: why the session's `upload` attribute could not be read (its entry named the blob).
   * `unlisted`: as above; the uploads the session never noted are left to the bucket's lifecycle rule.
   */
  | {
      readonly kind: 'aborted';
      readonly existed: boolean;
      readonly unreadable?: string;
      readonly unlisted?: string;
      /**
       * Why an aborted upload may still hold parts (ListParts refused, or parts still listed after
       * `UPLOAD_ABORT_ROUNDS` aborts): those are left to the bucket's lifecycle rule.
       */
      readonly partsLeft?: string;
    }
  | { readonly kind: 'untrusted'; readonly reason: string }
  /** The sweep was cut off at its deadline before every upload was aborted: the rest are the next sweep's. */
  | { readonly kind: 'stopped' };

/**
 * True for an upload session's item: its uploads are this step's, never the sweeper's step for
 * dead writers' uploads (abandoned-uploads.ts).
 */
export function isUploadSession(raw: Record<string, unknown>): boolean {
  return raw[UPLOAD_ATTR] !== undefined;
}

/**
 * Until when a drained session's item must stay (ms since the epoch), or undefined when it may go:
 * a committed session keeps its answer for a retried complete a day after its commit
 * (`COMPLETE_ANSWER_KEPT_MS`), however soon the session expires. An overwrite's entry keeps the
 * session's own lease for its cleanup, so the sweeper may drain it (the replaced blob deleted) well
 * before that day is out; deleting the item then told a client retrying a lost answer that the
 * session does not exist. So does a session a complete's refusal ended (its `refusal`, recorded
 * with the claim) whose writer died before the ending was done: the sweeper finishes it and keeps
 * the refusal until its `keepUntil`. Undefined for an item that is neither, or one committed
 * before the result carried its `keepUntil`.
 */
export function answerKeptUntil(raw: Record<string, unknown>): number | undefined {
  if (!isUploadSession(raw)) return undefined;
  const session = parseSessionItem(raw);
  return session?.result?.keepUntil ?? session?.refusal?.keepUntil;
}

/**
 * Aborts the multipart upload of a claimed session item (nothing for other items). No abort is
 * sent once `stopped` says the sweep was cut off at its deadline (its listing may answer after the
 * sweep returned): the session stays claimed with its entry, and the next sweep aborts them.
 */
export async function abortSessionUpload(
  lt: LtBucket,
  prefix: string,
  raw: Record<string, unknown>,
  stopped: () => boolean = () => false,
): Promise<SessionStep> {
  const target = sessionUploadTarget(prefix, raw);
  if (target.kind !== 'abort') return target;
  const listed = await uploadsOfSession(lt, target.blob);
  const ids = new Set(listed.ids);
  if (target.uploadId !== undefined) ids.add(target.uploadId);
  const unreadable = target.unreadable !== undefined ? { unreadable: target.unreadable } : {};
  const unlisted = listed.refused !== undefined ? { unlisted: listed.refused } : {};
  if (ids.size === 0)
    return target.unreadable !== undefined
      ? { kind: 'aborted', existed: false, ...unreadable, ...unlisted }
      : { kind: 'none', ...unlisted };
  let existed = false;
  const left: string[] = [];
  for (const id of ids) {
    if (stopped()) return { kind: 'stopped' };
    const aborted = await abortUntilNoParts(lt, target.blob, id, stopped);
    if (aborted === 'stopped') return { kind: 'stopped' };
    existed = aborted.existed || existed;
    if (aborted.partsLeft !== undefined) left.push(aborted.partsLeft);
  }
  const partsLeft = left.length > 0 ? { partsLeft: left.join('; ') } : {};
  return { kind: 'aborted', existed, ...unreadable, ...unlisted, ...partsLeft };
}

/**
 * Aborts one upload until S3 no longer lists it ({@link LtBucket.abortUntilNoParts}). A listing
 * refused (no `s3:ListMultipartUploadParts`), or parts still listed after the last round, is told
 * in `partsLeft`: those parts are the bucket's lifecycle rule's. Any other failure of the listing
 * throws: the session stays claimed, and the next sweep aborts it again.
 */
async function abortUntilNoParts(
  lt: LtBucket,
  blob: string,
  uploadId: string,
  stopped: () => boolean,
): Promise<{ readonly existed: boolean; readonly partsLeft?: string } | 'stopped'> {
  const outcome = await lt.abortUntilNoParts(blob, uploadId, stopped);
  const upload = `upload ${uploadId.slice(0, 200)}`;
  switch (outcome.kind) {
    case 'stopped':
      return 'stopped';
    case 'gone':
      return { existed: outcome.existed };
    case 'partsLeft':
      return { existed: outcome.existed, partsLeft: `${upload} still holds ${outcome.parts} parts after ${outcome.rounds} aborts` };
    case 'unlisted':
      if (outcome.error instanceof AccessDeniedError) return { existed: outcome.existed, partsLeft: `${upload}: ${outcome.error.message}` };
      throw outcome.error;
  }
}

/**
 * What {@link abortSessionUpload} acts on, from the item alone (no request): `none` for an item
 * that is no upload session; `untrusted` (why) for a session whose blob it will not touch; else
 * `abort`: every upload in progress under `blob` (and the noted `uploadId`), `unreadable` saying
 * why the session's `upload` attribute was not read (its entry named the blob). `tierlog inspect`
 * shows it, so an operator is told what the sweeper aborts once it takes the session.
 */
export type SessionUploadTarget =
  | { readonly kind: 'none' }
  | { readonly kind: 'untrusted'; readonly reason: string }
  | { readonly kind: 'abort'; readonly blob: string; readonly uploadId?: string; readonly unreadable?: string };

/** The uploads the sweeper's step aborts for `raw` once it holds it ({@link SessionUploadTarget}). */
export function sessionUploadTarget(prefix: string, raw: Record<string, unknown>): SessionUploadTarget {
  if (!isUploadSession(raw)) return { kind: 'none' };
  const session = parseSessionItem(raw);
  const target = session !== undefined ? session.info : entryTarget(raw);
  if (target === undefined) return { kind: 'untrusted', reason: 'malformed upload session, and no entry names its blob' };
  const check = checkBlobKey(prefix, target.key, target.blob);
  if (!check.ok) return { kind: 'untrusted', reason: check.reason };
  return {
    kind: 'abort',
    blob: target.blob,
    ...(target.s3UploadId !== undefined ? { uploadId: target.s3UploadId } : {}),
    ...(session === undefined ? { unreadable: 'malformed upload session' } : {}),
  };
}

/** The key and blob of an unreadable session, from its entry (absent once committed as a create). */
function entryTarget(raw: Record<string, unknown>): { key: string; blob: string; s3UploadId?: undefined } | undefined {
  const pk = raw[CHANGELOG_ATTR.pk];
  if (typeof pk !== 'string') return undefined;
  const name = entryAttribute(pk);
  if (raw[name] === undefined) return undefined;
  const entry = decodeEntry(name, raw[name]);
  if (!entry.ok || entry.change.new === undefined) return undefined;
  return { key: entry.change.id, blob: entry.change.new };
}

/**
 * Every multipart upload in progress under the session's blob key. The key is the session's own
 * (a fresh UUIDv7), so each upload under it is the session's: the one it noted, and any it never
 * noted (a CreateMultipartUpload whose answer was lost and which the SDK sent again, a writer that
 * died before noting the id). Without the listing grant, only the noted upload is known; the
 * bucket's lifecycle rule frees the rest, and `refused` says why (the sweeper counts it as it counts
 * a dead writer's listing refused: `abandonedUploadErrors`).
 */
async function uploadsOfSession(lt: LtBucket, blob: string): Promise<{ readonly ids: string[]; readonly refused?: string }> {
  try {
    return { ids: await lt.multipartUploadIds(blob) };
  } catch (err) {
    if (err instanceof AccessDeniedError) return { ids: [], refused: err.message };
    throw err;
  }
}
