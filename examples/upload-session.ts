/**
 * Example (e): bodies a Lambda cannot carry (a Function URL takes 6 MB each way) go straight from
 * the client to S3 through an upload session. The writer hands out presigned part URLs, so the
 * client never holds AWS credentials; the session is in the change log before anything exists,
 * and completing it is the same fenced commit as any large put.
 */
import type { TieredStore } from 'tierlog';

/**
 * The client's side of one part: PUT exactly `bytes` of the body (offsets `start` to `end`,
 * inclusive) to the URL, keep the ETag S3 answers. The URL signs that length: S3 refuses others.
 */
export type UploadPart = (url: string, partNumber: number, bytes: { readonly start: number; readonly end: number }) => Promise<string>;

export async function uploadLarge(store: TieredStore, key: string, size: number, uploadPart: UploadPart): Promise<number> {
  // A declared size fixes the parts: partSize bytes (the store's choice), the rest for the last (an empty body is one empty part).
  const { uploadId, partSize, partCount = 1 } = await store.createUpload(key, { size, contentType: 'video/mp4', ifVersion: 0 });
  const parts: { partNumber: number; etag: string }[] = [];
  try {
    const partNumbers = Array.from({ length: partCount }, (_, i) => i + 1);
    const urls = await store.uploadPartUrls(uploadId, partNumbers); // one read of the session; or uploadPartUrl(id, n)
    for (const [i, url] of urls.entries()) {
      const bytes = { start: i * partSize, end: Math.min((i + 1) * partSize, size) - 1 }; // what the URL takes
      parts.push({ partNumber: i + 1, etag: await uploadPart(url, i + 1, bytes) }); // client: PUT those bytes there
    }
    await store.listUploadParts(uploadId); // [{ partNumber, etag, size }], e.g. to resume
    const { version } = await store.completeUpload(uploadId, parts); // idempotent under retries
    return version;
  } catch (err) {
    await store.abortUpload(uploadId).catch(() => {}); // or let it expire: the sweeper aborts it
    throw err;
  }
}
