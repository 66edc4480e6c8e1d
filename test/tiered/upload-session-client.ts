/** What a real client does with a session: PUT each part to its presigned URL with plain fetch. */
import type { TieredStore } from '../../lib/tiered/tiered-store.js';

export async function putPart(url: string, bytes: Uint8Array): Promise<string> {
  const response = await fetch(url, { method: 'PUT', body: bytes });
  if (response.status !== 200) throw new Error(`part PUT answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const etag = response.headers.get('etag');
  if (etag === null) throw new Error('part PUT answered no ETag');
  return etag;
}

/** Uploads `body` in parts of `partSize` (a few at once); returns the list complete takes. */
export async function uploadParts(store: TieredStore, uploadId: string, body: Uint8Array, partSize: number, concurrency = 4) {
  const count = Math.max(1, Math.ceil(body.byteLength / partSize));
  const parts: Array<{ partNumber: number; etag: string }> = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        const url = await store.uploadPartUrl(uploadId, i + 1);
        parts[i] = {
          partNumber: i + 1,
          etag: await putPart(url, body.subarray(i * partSize, Math.min(body.byteLength, (i + 1) * partSize))),
        };
      }
    }),
  );
  return parts;
}
