/**
 * The sweeper's one extra step for upload sessions. A session is a change-log instance like any
 * other (its lease is its expiry plus a grace), so the sweeper claims it, judges its entry and
 * drains it the usual way; but its multipart upload lives on in S3 (parts a client may still be
 * sending) until someone aborts it. Once the claim is held (no complete can commit any more),
 * this aborts it: a client still uploading parts gets NoSuchUpload, and the parts are freed.
 *
 * Never act on what cannot be trusted: the upload is aborted only when the session names a blob
 * this library makes for its key under the configured prefix. Aborting a completed or already
 * aborted upload is a no-op (NoSuchUpload).
 */
import type { LtBucket } from '../tiered/lt-bucket.js';
import { UPLOAD_ATTR, parseSessionItem } from '../tiered/upload-session-item.js';
import { checkBlobKey } from '../tiered/blob-keys.js';

export type SessionStep =
  | { readonly kind: 'none' }
  | { readonly kind: 'aborted'; readonly existed: boolean }
  | { readonly kind: 'untrusted'; readonly reason: string };

/** Aborts the multipart upload of a claimed session item (nothing for other items). */
export async function abortSessionUpload(lt: LtBucket, prefix: string, raw: Record<string, unknown>): Promise<SessionStep> {
  if (raw[UPLOAD_ATTR] === undefined) return { kind: 'none' };
  const session = parseSessionItem(raw);
  if (session === undefined) return { kind: 'untrusted', reason: 'malformed upload session' };
  const check = checkBlobKey(prefix, session.info.key, session.info.blob);
  if (!check.ok) return { kind: 'untrusted', reason: check.reason };
  if (session.info.s3UploadId === undefined) return { kind: 'none' };
  return { kind: 'aborted', existed: await lt.abortMultipart(session.info.blob, session.info.s3UploadId) };
}
