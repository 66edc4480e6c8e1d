/**
 * S3's 206 answers rewritten at a client's request handler, after S3 answered and before the SDK
 * reads them: what a proxy, a cache or an S3-compatible store in front of S3 may send instead (a
 * body cut short with its length, another Content-Range, a longer body, no Content-Length). The
 * tests of ranged reads (test/tiered/*-range-answer.test.ts) each shape one such answer.
 */
import type { Readable } from 'node:stream';
import { Readable as ReadableStream } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';

interface Handler {
  handle: (
    request: { method: string; headers: Record<string, string> },
    options?: unknown,
  ) => Promise<{ response: { statusCode: number; headers: Record<string, string>; body: unknown } }>;
}

/** A 206 as the rewrite sees it: its request's headers, and its headers and body to change. */
export interface RangedAnswer {
  readonly requestHeaders: Readonly<Record<string, string>>;
  /** The answer's header `name` (any case), or undefined. */
  header(name: string): string | undefined;
  /** Sets the answer's header `name` (its case as S3 sent it), or removes it (`undefined`). */
  setHeader(name: string, value: string | undefined): void;
  /** The whole body as S3 sent it (read once). */
  body(): Promise<Buffer>;
  /** Replaces the body. */
  setBody(body: Buffer): void;
}

/**
 * Every 206 answer to a GET of `s3` goes through `rewrite`, told how many it changed so far; one it
 * changed (true) is counted in the state returned, one it declines (false) is left as S3 sent it.
 */
export function rewriteRangedAnswers(
  s3: S3Client,
  rewrite: (answer: RangedAnswer, rewrittenSoFar: number) => Promise<boolean> | boolean,
): { rewritten: number } {
  const handler = s3.config.requestHandler as unknown as Handler;
  const send = handler.handle.bind(handler);
  const state = { rewritten: 0 };
  handler.handle = async (request, options) => {
    const out = await send(request, options);
    if (request.method !== 'GET' || out.response.statusCode !== 206) return out;
    const headers = out.response.headers;
    const nameOf = (name: string) => Object.keys(headers).find((h) => h.toLowerCase() === name.toLowerCase());
    let read: Promise<Buffer> | undefined;
    const answer: RangedAnswer = {
      requestHeaders: request.headers,
      header: (name) => {
        const found = nameOf(name);
        return found === undefined ? undefined : headers[found];
      },
      setHeader: (name, value) => {
        const found = nameOf(name) ?? name;
        if (value === undefined) delete headers[found];
        else headers[found] = value;
      },
      body: () => {
        read ??= (async () => {
          const chunks: Buffer[] = [];
          for await (const chunk of out.response.body as Readable) chunks.push(Buffer.from(chunk as Uint8Array));
          return Buffer.concat(chunks);
        })();
        return read;
      },
      setBody: (body) => {
        out.response.body = ReadableStream.from([body]);
      },
    };
    if (await rewrite(answer, state.rewritten)) state.rewritten++;
    return out;
  };
  return state;
}

/** The whole of `body`. */
export async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
