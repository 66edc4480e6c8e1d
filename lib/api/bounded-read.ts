/**
 * Reading a blob's body into memory for a buffered response, bounded. The objects API answers a
 * blob inline only when its item says it fits the response; the bytes S3 streams are those of the
 * blob, which may be larger than the item says (replaced by hand, another store's, corrupt). A
 * read that buffered the whole stream would take a Lambda's memory with it before the size check
 * could refuse it, so the read stops, and the stream is destroyed, at the first byte past the bound.
 */
import type { Readable } from 'node:stream';
import { TierlogError } from '../errors.js';

/**
 * The whole of `stream`, or a `TierlogError` (the API's 500) as soon as more than `limit` bytes
 * have come: nothing past that chunk is read, and the stream is destroyed.
 */
export async function readAtMost(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.from(chunk as Uint8Array);
    total += buffer.byteLength;
    if (total > limit) {
      stream.destroy();
      throw new TierlogError(`the body read is larger than the ${limit} bytes its item declares`);
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}
