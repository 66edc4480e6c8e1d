/**
 * Conditional reads over HTTP (RFC 9110 §13): GET and HEAD evaluate If-Match and If-None-Match
 * against the version they answer, in §13.2.2's order, for inline objects, blobs answered in the
 * body and blobs answered by a redirect. A download that reads a large object in several ranged
 * requests with `If-Match` must get 412 once the object is replaced, never bytes of the new
 * version spliced onto the old; a cache revalidating with `If-None-Match` gets 304.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, sameBytes, type Writer } from '../tiered/harness.js';
import { httpEvent } from './lambda.js';

let fx: Fixture;
let w: Writer;
/** Key → [body, ETag]. */
const objects = new Map<string, [Uint8Array, string]>();

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx);
  for (const [key, size] of [
    ['c/inline', 3 * KiB],
    ['c/blob', 30 * KiB],
    ['c/redirected', 300 * KiB],
  ] as const) {
    const body = randomBody(size);
    const { version } = await w.store.put(key, body);
    objects.set(key, [body, `"${version}"`]);
  }
});
afterAll(() => w.close());

function call(method: string, key: string, headers: Record<string, string>): Promise<APIGatewayProxyStructuredResultV2> {
  return handleObjectsRequest(w.store, httpEvent(method, `/objects/${key}`, { headers }), { maxResponseBytes: 64 * KiB });
}

/** The headers of a case, given the object's ETag. */
type Headers = (etag: string) => Record<string, string>;
const other = '"1234567890123456"';

/** [name, headers, status]; 200 = the whole object (a GET of the redirected one: 307). */
const CASES: Array<[string, Headers, number]> = [
  ['If-None-Match: the current tag', (e) => ({ 'if-none-match': e }), 304],
  ['If-None-Match: the current tag, weak (weak comparison)', (e) => ({ 'if-none-match': `W/${e}` }), 304],
  ['If-None-Match: a list holding the current tag', (e) => ({ 'if-none-match': `${other}, ${e}` }), 304],
  ['If-None-Match: *', () => ({ 'if-none-match': '*' }), 304],
  ['If-None-Match: another tag', () => ({ 'if-none-match': other }), 200],
  ['If-Match: the current tag', (e) => ({ 'if-match': e }), 200],
  ['If-Match: a list holding the current tag', (e) => ({ 'if-match': `${other},${e}` }), 200],
  ['If-Match: *', () => ({ 'if-match': '*' }), 200],
  ['If-Match: another tag', () => ({ 'if-match': other }), 412],
  ['If-Match: the current tag, weak (strong comparison never matches a weak tag)', (e) => ({ 'if-match': `W/${e}` }), 412],
  ['If-Match fails before If-None-Match is looked at (§13.2.2)', (e) => ({ 'if-match': other, 'if-none-match': e }), 412],
  ['If-Match holds, If-None-Match matches', (e) => ({ 'if-match': e, 'if-none-match': e }), 304],
  ['If-Match: an unquoted tag', (e) => ({ 'if-match': e.replace(/"/g, '') }), 400],
  ['If-Match: a list of no tag', () => ({ 'if-match': ' , ,' }), 400],
  ['If-Match: two tags without a comma between', (e) => ({ 'if-match': `${other}${e}` }), 400],
  ['If-None-Match: * among spaces', () => ({ 'if-none-match': ' * ' }), 304],
  // A date cannot name a version (several within a second, writers' clocks apart): never taken for a match.
  ['If-Unmodified-Since (a date) alone', () => ({ 'if-unmodified-since': new Date(Date.now() + 60_000).toUTCString() }), 400],
  ['If-Unmodified-Since beside If-Match (not evaluated, §13.2.2)', (e) => ({ 'if-match': e, 'if-unmodified-since': 'x' }), 200],
  ['If-Modified-Since (a date): the whole object', () => ({ 'if-modified-since': new Date(Date.now() + 60_000).toUTCString() }), 200],
];

describe.each(['c/inline', 'c/blob', 'c/redirected'])('%s', (key) => {
  test.each(CASES)('GET with %s', async (_name, headers, status) => {
    const [body, etag] = objects.get(key)!;
    const res = await call('GET', key, headers(etag));
    // A redirect's If-Modified-Since alone is refused: S3 would evaluate it (below).
    const refusedDate = key === 'c/redirected' && _name.startsWith('If-Modified-Since');
    const expected = refusedDate ? 400 : status === 200 && key === 'c/redirected' ? 307 : status;
    expect(res.statusCode).toBe(expected);
    if (expected === 200) expect(sameBytes(new Uint8Array(Buffer.from(String(res.body), 'base64')), body)).toBe(true);
    if (expected === 304) {
      expect(res.body ?? '').toBe('');
      expect(res.headers?.etag).toBe(etag);
    }
    if (expected === 412) {
      expect(JSON.parse(String(res.body)).error).toBe('PreconditionFailed');
      expect(res.headers?.etag).toBe(etag);
    }
  });

  test.each(CASES)('HEAD with %s', async (_name, headers, status) => {
    const [body, etag] = objects.get(key)!;
    const res = await call('HEAD', key, headers(etag));
    expect(res.statusCode).toBe(status);
    if (status === 200) expect(res.headers?.['content-length']).toBe(String(body.byteLength));
    if (status === 304 || status === 412) expect(res.headers?.etag).toBe(etag);
  });
});

describe('If-Modified-Since on a GET answered by a redirect to S3', () => {
  // The header follows the 307 to S3, whose GetObject answers 304 when its blob's LastModified is
  // not after the date: a version written within the second the client's copy names (or a
  // session's blob, dated by its upload's start) would come as 304, the old copy kept as current.
  const sameSecond = () => new Date().toUTCString();

  test('alone: 400 naming it, no URL answered', async () => {
    const res = await call('GET', 'c/redirected', { 'if-modified-since': sameSecond() });
    expect(res.statusCode).toBe(400);
    expect(res.headers?.location).toBeUndefined();
    expect(JSON.parse(String(res.body)).message).toMatch(/^If-Modified-Since is not evaluated here.*send If-None-Match with the ETag/);
  });

  test('with a Range: 400 too (the Range would follow the redirect with it)', async () => {
    const res = await call('GET', 'c/redirected', { 'if-modified-since': sameSecond(), range: 'bytes=0-' });
    expect(res.statusCode).toBe(400);
  });

  test('beside If-None-Match (a cache revalidating, S3 ignores the date then): 307 for another tag, 304 for the current one', async () => {
    const [, etag] = objects.get('c/redirected')!;
    const moved = await call('GET', 'c/redirected', { 'if-modified-since': sameSecond(), 'if-none-match': other });
    expect(moved.statusCode).toBe(307);
    expect(moved.headers?.location).toMatch(/^http/);
    const same = await call('GET', 'c/redirected', { 'if-modified-since': sameSecond(), 'if-none-match': etag });
    expect(same.statusCode).toBe(304);
  });

  test('of objects answered in the body: not evaluated, the whole object (200), as HEAD of the redirected one', async () => {
    for (const key of ['c/inline', 'c/blob']) expect((await call('GET', key, { 'if-modified-since': sameSecond() })).statusCode).toBe(200);
    expect((await call('HEAD', 'c/redirected', { 'if-modified-since': sameSecond() })).statusCode).toBe(200);
  });
});

describe('a download in ranges with If-Match', () => {
  test('the object replaced between two ranges: 412 for the second, never the new bytes', async () => {
    const first = randomBody(30 * KiB);
    const { version } = await w.store.put('c/ranges', first);
    const etag = `"${version}"`;
    const one = await call('GET', 'c/ranges', { range: 'bytes=0-9999', 'if-match': etag });
    expect(one.statusCode).toBe(206);
    expect(sameBytes(new Uint8Array(Buffer.from(String(one.body), 'base64')), first.subarray(0, 10_000))).toBe(true);
    await w.store.put('c/ranges', randomBody(30 * KiB));
    const two = await call('GET', 'c/ranges', { range: 'bytes=10000-19999', 'if-match': etag });
    expect(two.statusCode).toBe(412);
    expect(two.headers?.etag).toBe(`"${version + 1}"`);
    expect(two.headers?.['content-range']).toBeUndefined();
  });

  // RFC 9110 §14.2: a Range is evaluated after the preconditions. Answered 416 (`bytes */<new size>`),
  // a resuming client (curl -C -) takes its copy for complete: the old version's first bytes kept
  // as the whole object, the very splice If-Match asks to be kept from.
  test.each([
    ['answered in the body', 30 * KiB, 2 * KiB],
    ['answered by a redirect', 300 * KiB, 200 * KiB],
  ] as const)('the object replaced by a shorter one, the next range past its end (%s): 412, not 416', async (name, size, shorter) => {
    const key = `c/shorter-${name.split(' ').pop()}`;
    const { version } = await w.store.put(key, randomBody(size));
    const etag = `"${version}"`;
    await w.store.put(key, randomBody(shorter));
    const res = await call('GET', key, { range: `bytes=${size - 1000}-`, 'if-match': etag });
    expect(res.statusCode).toBe(412);
    expect(res.headers?.etag).toBe(`"${version + 1}"`);
    expect(res.headers?.['content-range']).toBeUndefined();
    // Without If-Match (or with the current tag), the range past the end is 416, as before.
    expect((await call('GET', key, { range: `bytes=${size - 1000}-` })).statusCode).toBe(416);
    expect((await call('GET', key, { range: `bytes=${size - 1000}-`, 'if-match': `"${version + 1}"` })).statusCode).toBe(416);
  });

  test('a range with If-None-Match of the current version: 304', async () => {
    const [, etag] = objects.get('c/blob')!;
    const res = await call('GET', 'c/blob', { range: 'bytes=0-99', 'if-none-match': etag });
    expect(res.statusCode).toBe(304);
  });

  test('an absent object is 404 whatever the preconditions (§13.2.1)', async () => {
    const cases: Array<Record<string, string>> = [{ 'if-match': '*' }, { 'if-none-match': '*' }, { 'if-match': other }];
    for (const headers of cases) {
      expect((await call('GET', 'c/absent', headers)).statusCode).toBe(404);
      expect((await call('HEAD', 'c/absent', headers)).statusCode).toBe(404);
    }
  });
});

/**
 * Makes every GET `s3` sends meet a connection reset (what the SDK sends again, then gives up on);
 * other requests go through. `sent` counts the GETs.
 */
function failEveryGet(s3: S3Client): { readonly sent: number } {
  const handler = s3.config.requestHandler as unknown as {
    handle: (request: { method: string }, options?: unknown) => Promise<unknown>;
  };
  const send = handler.handle.bind(handler);
  const counter = { sent: 0 };
  handler.handle = async (request, options) => {
    if (request.method !== 'GET') return send(request, options);
    counter.sent++;
    throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  };
  return counter;
}

/**
 * Every answer carries `Cache-Control: no-cache`, so a cache revalidates each reuse with
 * `If-None-Match`. For a blob answered in the body, the read opened the blob's S3 GET before the
 * condition was judged, and dropped it for the 304: each revalidation cost an S3 GET (and its
 * connection), and while S3 throttled or failed GETs the revalidation of an unchanged object was a
 * 503. The condition is judged on the objects table's item first; the blob is read only for bytes
 * that are answered.
 */
describe('a revalidation (If-None-Match) of a blob answered in the body', () => {
  test('of its current version while S3 fails every GET: 304 from the objects table alone, no GET sent to S3', async () => {
    const r = makeWriter(fx);
    const s3Gets = failEveryGet(r.s3);
    try {
      const [, etag] = objects.get('c/blob')!;
      const cases: Record<string, string>[] = [
        { 'if-none-match': etag },
        { 'if-none-match': etag, range: 'bytes=0-99' },
        { 'if-none-match': '*' },
      ];
      for (const headers of cases) {
        const res = await handleObjectsRequest(r.store, httpEvent('GET', '/objects/c/blob', { headers }), { maxResponseBytes: 64 * KiB });
        expect([res.statusCode, res.headers?.etag], JSON.stringify(headers)).toEqual([304, etag]);
        expect(res.headers?.['cache-control']).toBe('no-cache');
      }
      expect(s3Gets.sent, 'no GET sent to S3').toBe(0);
      // A read of the bytes does meet the failure: 503, as before.
      const read = await handleObjectsRequest(r.store, httpEvent('GET', '/objects/c/blob', { headers: { 'if-none-match': '"1"' } }), {
        maxResponseBytes: 64 * KiB,
      });
      expect(read.statusCode).toBe(503);
      expect(s3Gets.sent).toBeGreaterThan(0);
    } finally {
      r.close();
    }
  });

  test('of another version: the bytes, 200, read from S3 (whole or the range asked for)', async () => {
    const [body, etag] = objects.get('c/blob')!;
    const whole = await call('GET', 'c/blob', { 'if-none-match': '"1"' });
    expect([whole.statusCode, whole.headers?.etag]).toEqual([200, etag]);
    expect(sameBytes(Buffer.from(String(whole.body), 'base64'), body)).toBe(true);
    const part = await call('GET', 'c/blob', { 'if-none-match': '"1"', range: 'bytes=100-199' });
    expect([part.statusCode, part.headers?.['content-range']]).toEqual([206, `bytes 100-199/${body.byteLength}`]);
    expect(sameBytes(Buffer.from(String(part.body), 'base64'), body.subarray(100, 200))).toBe(true);
  });
});

/**
 * A download in ranges sends `If-Match` with each range, and learns from its 412 that the object
 * was replaced (ask again from the start). For a blob answered in the body the read opened the
 * new version's S3 GET, read its bytes whole and dropped them for the 412: each such answer cost an
 * S3 GET of up to the response limit, and while S3 throttled or failed GETs the client was told
 * 503 "retry" (its condition known false all along) and sent the same doomed range again. The
 * condition is judged on the objects table's item first, as a revalidation's is.
 */
describe('a GET whose If-Match names another version, of a blob answered in the body', () => {
  test('while S3 fails every GET: 412 from the objects table alone, no GET sent to S3', async () => {
    const r = makeWriter(fx);
    const s3Gets = failEveryGet(r.s3);
    try {
      const [, etag] = objects.get('c/blob')!;
      const cases: Record<string, string>[] = [
        { 'if-match': other },
        { 'if-match': other, range: 'bytes=0-99' },
        { 'if-match': `W/${etag}` },
      ];
      for (const headers of cases) {
        const res = await handleObjectsRequest(r.store, httpEvent('GET', '/objects/c/blob', { headers }), { maxResponseBytes: 64 * KiB });
        expect([res.statusCode, res.headers?.etag], JSON.stringify(headers)).toEqual([412, etag]);
        expect(JSON.parse(String(res.body)).error).toBe('PreconditionFailed');
      }
      expect(s3Gets.sent, 'no GET sent to S3').toBe(0);
      // A read of the bytes (If-Match of the current version) does meet the failure: 503, as before.
      const read = await handleObjectsRequest(r.store, httpEvent('GET', '/objects/c/blob', { headers: { 'if-match': etag } }), {
        maxResponseBytes: 64 * KiB,
      });
      expect(read.statusCode).toBe(503);
      expect(s3Gets.sent).toBeGreaterThan(0);
    } finally {
      r.close();
    }
  });
});
