/**
 * A connection reset midway through an S3 GET's body, injected at the client's request handler:
 * the SDK sees an answer (its status and headers), then a body that fails after its first 64 KiB
 * with `aborted` (`ECONNRESET`), as Node's HTTP client reports a socket closed mid-body. The SDK
 * retries a request that fails before its answer, never a body that fails while it is read: what
 * reads the body must read the object again itself.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';

interface Handler {
  handle: (request: { method: string }, options?: unknown) => Promise<{ response: { body: unknown } }>;
}

/** What {@link cutGets} saw: the GETs sent, and those whose body it cut. */
export interface CutGets {
  readonly gets: number;
  readonly cut: number;
}

/**
 * Cuts the body of the next `times` GETs `s3` sends after its first 64 KiB; `onCut` runs as each is
 * cut (after `cut` counts it).
 */
export function cutGets(s3: S3Client, times: number, onCut: () => void = () => {}): CutGets {
  const handler = s3.config.requestHandler as unknown as Handler;
  const send = handler.handle.bind(handler);
  const state = { cut: 0, gets: 0 };
  handler.handle = async (request, options) => {
    const out = await send(request, options);
    if (request.method !== 'GET') return out;
    state.gets++;
    if (state.cut >= times) return out;
    state.cut++;
    const source = out.response.body as Readable;
    let seen = 0;
    const cut = new ReadableStream({ read: () => source.resume() });
    source.on('data', (chunk: Buffer) => {
      seen += chunk.byteLength;
      if (seen > 64 * 1024) {
        source.destroy();
        onCut();
        cut.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      } else if (!cut.push(chunk)) source.pause();
    });
    source.on('end', () => cut.push(null));
    out.response.body = cut;
    return out;
  };
  return state;
}
