/**
 * A streamed read (`getStream`, `getStreamOrUrl`) of a blob whose GetObject body is cut while it
 * is read (a connection reset midway through a large blob). The SDK retries a request that failed
 * before its answer, never a body cut while it is read; the stream goes on from the byte it
 * reached with a ranged GET of the rest (a blob key is written once: the same bytes), up to 3
 * GETs in all, as `get` reads the body again. Cut on every one, the stream fails with the cut.
 */
import { pipeline, type Readable, Readable as ReadableStream, Writable } from 'node:stream';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { expect, test } from 'vitest';
import { cutGets as cutS3Gets } from '../support/cut-body.js';
import { MiB, randomBody, rawState, sameBytes, type Writer, largeObjectWriters } from './harness.js';

const { writer, fixture } = largeObjectWriters();

const BODY = randomBody(1 * MiB);

/** The `Range` of each GET `w`'s S3 client sends (none: the whole blob), wrapped outside the cut. */
function rangesSent(w: Writer): (string | undefined)[] {
  const handler = w.s3.config.requestHandler as unknown as {
    handle: (request: { method: string; headers: Record<string, string> }, options?: unknown) => Promise<unknown>;
  };
  const send = handler.handle.bind(handler);
  const ranges: (string | undefined)[] = [];
  handler.handle = (request, options) => {
    if (request.method === 'GET') ranges.push(request.headers.range ?? request.headers.Range);
    return send(request, options);
  };
  return ranges;
}

async function read(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

test('getStream of a blob whose body is cut once midway: goes on from the byte reached, the whole body', async () => {
  const w = writer();
  await w.store.put('stream-cut/whole', BODY);
  const cuts = cutS3Gets(w.s3, 1);
  const ranges = rangesSent(w);
  const got = await w.store.getStream('stream-cut/whole');
  const bytes = await read(got!.body);
  expect(cuts.cut).toBe(1);
  expect(sameBytes(bytes, BODY), 'the whole body').toBe(true);
  expect(ranges).toHaveLength(2);
  expect(ranges[0]).toBeUndefined();
  expect(ranges[1]).toMatch(new RegExp(`^bytes=[1-9][0-9]*-${BODY.byteLength - 1}$`));
});

test('a ranged getStream cut once midway: goes on within the range, the range answered', async () => {
  const w = writer();
  await w.store.put('stream-cut/range', BODY);
  const cuts = cutS3Gets(w.s3, 1);
  const ranges = rangesSent(w);
  const got = await w.store.getStream('stream-cut/range', { range: { start: 1000, end: 500_000 } });
  expect(got?.range).toEqual({ start: 1000, end: 500_000, size: BODY.byteLength });
  const bytes = await read(got!.body);
  expect(cuts.cut).toBe(1);
  expect(sameBytes(bytes, BODY.subarray(1000, 500_001)), 'the range').toBe(true);
  expect(ranges[0]).toBe('bytes=1000-500000');
  expect(ranges[1]).toMatch(/^bytes=[1-9][0-9]*-500000$/);
});

test('getStreamOrUrl of a blob within maxBytes, cut once midway: the whole body', async () => {
  const w = writer();
  await w.store.put('stream-cut/or-url', BODY);
  const cuts = cutS3Gets(w.s3, 1);
  const got = await w.store.getStreamOrUrl('stream-cut/or-url', { maxBytes: 2 * MiB });
  expect(got !== undefined && 'body' in got).toBe(true);
  const bytes = await read((got as { body: Readable }).body);
  expect(cuts.cut).toBe(1);
  expect(sameBytes(bytes, BODY)).toBe(true);
});

test('cut on every GET: the stream fails with the cut after 3 GETs, never ends short as if whole', async () => {
  const w = writer();
  await w.store.put('stream-cut/always', BODY);
  const cuts = cutS3Gets(w.s3, Number.POSITIVE_INFINITY);
  const got = await w.store.getStream('stream-cut/always');
  const error = await read(got!.body).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(cuts.cut).toBe(3);
  expect((error as Error).message).toBe('aborted');
});

test('a blob deleted between the cut and the rest (replaced meanwhile): the stream fails with the cut, nothing spliced', async () => {
  const w = writer();
  await w.store.put('stream-cut/gone', BODY);
  const blob = (await rawState(fixture())).references.get('stream-cut/gone')!;
  const cuts = cutS3Gets(w.s3, 1);
  const handler = w.s3.config.requestHandler as unknown as {
    handle: (request: { method: string }, options?: unknown) => Promise<unknown>;
  };
  const send = handler.handle.bind(handler);
  let gets = 0;
  handler.handle = async (request, options) => {
    if (request.method === 'GET' && ++gets === 2)
      await fixture().s3.send(new DeleteObjectCommand({ Bucket: fixture().config.bucket, Key: blob }));
    return send(request, options);
  };
  const got = await w.store.getStream('stream-cut/gone');
  const error = await read(got!.body).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(cuts.cut).toBe(1);
  expect(gets).toBe(2);
  expect((error as Error).message).toBe('aborted');
});

test('a stream its reader destroys with an error (a client gone, through pipeline): no GetObject of the rest is sent', async () => {
  // The reader's error reaches the stream's source where a chunk was handed over: taken for a cut
  // of S3's body, it sent a GetObject of the rest of the blob for nobody, and the stream closed
  // only once that answer's first bytes came.
  const w = writer();
  await w.store.put('stream-cut/reader-gone', BODY);
  const ranges = rangesSent(w);
  const got = await w.store.getStream('stream-cut/reader-gone');
  let taken = 0;
  const error = await new Promise<unknown>((resolve) => {
    const client = new Writable({
      write(chunk: Buffer, _encoding, done) {
        taken += chunk.byteLength;
        done(taken > 100_000 ? new Error('client went away') : null);
      },
    });
    pipeline(got!.body, client, resolve);
  });
  expect((error as Error).message).toBe('client went away');
  expect(got!.body.destroyed).toBe(true);
  // Whatever was on its way has had the time to go out.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(ranges, 'the one GET of the read, none after the reader left').toEqual([undefined]);
});

test('a stream destroyed while its body stalls (no byte coming): it closes at once, its body destroyed, nothing more asked', async () => {
  // A reader's watchdog destroys a download that makes no progress. The stream waited for the
  // stalled body's next chunk before it closed: no close, and the body's socket held, until S3
  // sent more (with no socket timeout, the default client's: as long as the connection lived).
  const w = writer();
  await w.store.put('stream-cut/stalled', BODY);
  const handler = w.s3.config.requestHandler as unknown as {
    handle: (request: { method: string }, options?: unknown) => Promise<{ response: { body: unknown } }>;
  };
  const send = handler.handle.bind(handler);
  const bodies: Readable[] = [];
  handler.handle = async (request, options) => {
    const out = await send(request, options);
    if (request.method !== 'GET') return out;
    // The answer's headers came; its body sends nothing.
    const body = out.response.body as Readable;
    body.pause();
    bodies.push(body);
    out.response.body = new ReadableStream({
      read: () => {},
      destroy: (error, done) => {
        body.destroy();
        done(error);
      },
    });
    return out;
  };
  const got = await w.store.getStream('stream-cut/stalled');
  got!.body.on('data', () => {});
  await new Promise((resolve) => setTimeout(resolve, 100));
  const closed = new Promise((resolve) => got!.body.once('close', () => resolve('closed')));
  got!.body.destroy();
  const timedOut = new Promise((resolve) => setTimeout(() => resolve('still open'), 2_000));
  expect(await Promise.race([closed, timedOut])).toBe('closed');
  expect(
    bodies.map((body) => body.destroyed),
    'the one GET, its body destroyed',
  ).toEqual([true]);
});

test('a stream destroyed while the GetObject of the rest after a cut waits for its answer: it closes at once, that request aborted', async () => {
  // A cut, then the GetObject of the rest sent on a pooled connection that is dead (a NAT dropped it
  // while the process sat idle): no answer comes, and the default S3 client has no socket timeout.
  // A reader's watchdog destroys the stream: it waited for that answer before it closed, the
  // request and its socket held as long as the connection lived.
  const w = writer();
  await w.store.put('stream-cut/rest-unanswered', BODY);
  const handler = w.s3.config.requestHandler as unknown as {
    handle: (request: { method: string }, options?: { abortSignal?: AbortSignal }) => Promise<unknown>;
  };
  const send = handler.handle.bind(handler);
  let gets = 0;
  const aborted: boolean[] = [];
  handler.handle = (request, options) => {
    if (request.method !== 'GET' || ++gets !== 2) return send(request, options);
    // No answer: only an abort ends the request, as the SDK's handler ends one.
    return new Promise((_resolve, reject) => {
      const signal = options?.abortSignal;
      signal?.addEventListener('abort', () => {
        aborted.push(true);
        reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
      });
    });
  };
  // Cuts the first GET's body (wrapped outside the unanswered second one).
  const cuts = cutS3Gets(w.s3, 1);
  const got = await w.store.getStream('stream-cut/rest-unanswered');
  got!.body.on('data', () => {});
  got!.body.on('error', () => {});
  for (let waited = 0; gets < 2 && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(cuts.cut).toBe(1);
  expect(gets, 'the GetObject of the rest was sent').toBe(2);
  const closed = new Promise((resolve) => got!.body.once('close', () => resolve('closed')));
  got!.body.destroy();
  const timedOut = new Promise((resolve) => setTimeout(() => resolve('still open'), 2_000));
  expect(await Promise.race([closed, timedOut])).toBe('closed');
  expect(aborted, 'the GetObject of the rest aborted').toEqual([true]);
});
