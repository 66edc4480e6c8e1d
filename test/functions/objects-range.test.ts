/**
 * Ranged reads (library and HTTP) and the session routes' refusals, on the local servers: inline
 * and blob objects alike, 206 / 416, and every bad request a 4xx JSON error that writes nothing.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { RangeNotSatisfiableError, ValidationError } from '../../lib/errors.js';
import { onCommand, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { assertByteRange, parseRangeHeader, resolveRange } from '../../lib/tiered/byte-range.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { KiB, makeWriter, randomBody, sameBytes, snapshot, type Writer } from '../tiered/harness.js';
import { httpEvent } from './lambda.js';
import { uploadParts } from '../tiered/upload-session-client.js';

let fx: Fixture;
let w: Writer;
const inline = randomBody(3 * KiB);
const blob = randomBody(300 * KiB);

beforeAll(async () => {
  fx = await freshFixture();
  w = makeWriter(fx);
  await w.store.put('r/inline', inline);
  await w.store.put('r/blob', blob);
});
afterAll(() => w.close());

function call(method: string, path: string, options: { headers?: Record<string, string>; body?: string; query?: string } = {}) {
  const event = httpEvent(method, path, options);
  event.rawQueryString = options.query ?? '';
  return handleObjectsRequest(w.store, event, { maxResponseBytes: 64 * KiB });
}
const bodyOf = (res: APIGatewayProxyStructuredResultV2) => new Uint8Array(Buffer.from(String(res.body), 'base64'));

describe('byte ranges', () => {
  test('parse and resolve', () => {
    expect(parseRangeHeader('bytes=0-9')).toEqual({ start: 0, end: 9 });
    expect(parseRangeHeader('bytes=5-')).toEqual({ start: 5 });
    expect(parseRangeHeader('bytes=-3')).toEqual({ suffix: 3 });
    expect(parseRangeHeader('BYTES=0-9'), 'a range unit is case-insensitive (RFC 9110 14.1)').toEqual({ start: 0, end: 9 });
    expect(parseRangeHeader('items=0-1')).toBeUndefined();
    // Two numerals past 2^53 that one JavaScript number holds: still compared as written.
    const last = '99999999999999999998';
    for (const bad of [
      'bytes=',
      'bytes=-',
      'bytes=a-b',
      'bytes=5-1',
      'bytes=0-1,3-x',
      'bytes=,',
      'bytes=0-1,-',
      '0-1',
      `bytes=${last.slice(0, -1)}9-${last}`,
    ])
      expect(() => parseRangeHeader(bad), bad).toThrow(ValidationError);
    // Several ranges: ignored (RFC 9110 14.2), as is another unit.
    for (const ignored of ['bytes=0-1,3-4', 'bytes=0-1, ,-5', 'bytes=10-,0-0']) expect(parseRangeHeader(ignored), ignored).toBeUndefined();
    expect(resolveRange('k', { start: 2, end: 1000 }, 10)).toEqual({ start: 2, end: 9, size: 10 });
    expect(resolveRange('k', { suffix: 100 }, 10)).toEqual({ start: 0, end: 9, size: 10 });
    expect(() => resolveRange('k', { start: 10 }, 10)).toThrow(RangeNotSatisfiableError);
    expect(() => resolveRange('k', { suffix: 0 }, 10)).toThrow(RangeNotSatisfiableError);
  });

  const refusedRanges: Array<[string, unknown, string]> = [
    ['not an object', 5, 'range'],
    ['null', null, 'range'],
    ['neither start nor suffix', { end: 5 }, 'range'],
    ['start and suffix', { start: 0, suffix: 5 }, 'range'],
    ['end and suffix', { end: 5, suffix: 5 }, 'range'],
    ['a name a range does not take', { start: 10, length: 5 }, 'range.length'],
    ['a misspelt end', { start: 10, End: 5 }, 'range.End'],
    ['a negative start', { start: -1 }, 'range.start'],
    ['a fractional start', { start: 1.5 }, 'range.start'],
    ['a start past 2^53', { start: 2 ** 53 }, 'range.start'],
    ['a start as a string', { start: '0' }, 'range.start'],
    ['a negative end', { start: 0, end: -1 }, 'range.end'],
    ['an end before the start', { start: 10, end: 9 }, 'range.end'],
    ['a negative suffix', { suffix: -1 }, 'range.suffix'],
    ['a fractional suffix', { suffix: 0.5 }, 'range.suffix'],
  ];
  test.each(refusedRanges)('the range option: %s is a ValidationError naming %s', (_name, range, field) => {
    expect(() => assertByteRange(range)).toThrow(expect.objectContaining({ name: 'ValidationError', field }));
  });

  test('the range option: what it takes', () => {
    for (const range of [
      { start: 0 },
      { start: 5, end: 5 },
      { start: 0, end: undefined },
      { suffix: 7 },
      { start: 3, length: undefined },
    ]) {
      expect(() => assertByteRange(range), JSON.stringify(range)).not.toThrow();
    }
  });

  test('HTTP: several ranges are ignored (RFC 9110 14.2: a server that sends no multipart/byteranges may not refuse them): the whole object', async () => {
    const res = await call('GET', '/objects/r/inline', { headers: { range: 'bytes=0-9,20-29' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers?.['content-range']).toBeUndefined();
    expect(sameBytes(bodyOf(res), inline)).toBe(true);
    // Above the response limit: the whole object by redirect (the header follows it as it is).
    expect((await call('GET', '/objects/r/blob', { headers: { range: 'bytes=0-9,20-29' } })).statusCode).toBe(307);
  });

  test('HTTP: offsets beyond 2^53 are valid numerals (RFC 9110 14.1.1): a last byte past the end is the end, a first past it 416', async () => {
    const huge = '99999999999999999999'; // 10^20: no JavaScript number holds it exactly
    for (const [key, body, header, start] of [
      ['r/inline', inline, `bytes=0-${huge}`, 0],
      ['r/inline', inline, `bytes=-${huge}`, 0],
      ['r/blob', blob, `bytes=${blob.byteLength - 100}-${huge}`, blob.byteLength - 100],
    ] as const) {
      const res = await call('GET', `/objects/${key}`, { headers: { range: header } });
      expect(res.statusCode, header).toBe(206);
      expect(res.headers?.['content-range'], header).toBe(`bytes ${start}-${body.byteLength - 1}/${body.byteLength}`);
      expect(sameBytes(bodyOf(res), body.subarray(start)), header).toBe(true);
    }
    for (const header of [`bytes=${huge}-`, `bytes=${huge}-${huge}1`]) {
      const res = await call('GET', '/objects/r/inline', { headers: { range: header } });
      expect(res.statusCode, header).toBe(416);
      expect(res.headers?.['content-range'], header).toBe(`bytes */${inline.byteLength}`);
    }
    // Still compared as numerals: a last byte before the first is malformed, however large both are.
    expect((await call('GET', '/objects/r/blob', { headers: { range: `bytes=${huge}1-${huge}` } })).statusCode).toBe(400);
  });

  // Inline (a put), or a blob of 0 bytes (an upload session declared empty: one part of no byte).
  test.each([
    ['inline', 'r/empty'],
    ['a blob', 'r/empty-blob'],
  ])('an empty object (%s): a suffix range is satisfiable (RFC 9110 14.1.2) and answered whole; bytes=0- is 416', async (_kind, key) => {
    if (key === 'r/empty') await w.store.put(key, new Uint8Array(0));
    else {
      const created = await w.store.createUpload(key, { size: 0 });
      await w.store.completeUpload(created.uploadId, await uploadParts(w.store, created.uploadId, new Uint8Array(0), created.partSize));
      expect((await w.store.head(key))?.stored).toBe('blob');
    }
    for (const read of [w.store.get.bind(w.store), w.store.getStream.bind(w.store)]) {
      const got = await read(key, { range: { suffix: 5 } });
      expect(got?.size).toBe(0);
      expect(got?.range).toBeUndefined();
      await expect(read(key, { range: { start: 0 } })).rejects.toBeInstanceOf(RangeNotSatisfiableError);
    }
    const suffix = await call('GET', `/objects/${key}`, { headers: { range: 'bytes=-1024' } });
    expect(suffix.statusCode).toBe(200);
    expect(suffix.headers?.['content-length']).toBe('0');
    expect(suffix.headers?.['content-range']).toBeUndefined();
    expect(bodyOf(suffix).byteLength).toBe(0);
    const first = await call('GET', `/objects/${key}`, { headers: { range: 'bytes=0-' } });
    expect(first.statusCode).toBe(416);
    expect(first.headers?.['content-range']).toBe('bytes */0');
  });

  test.each([
    ['inline', 'r/inline', inline],
    ['blob', 'r/blob', blob],
  ] as const)('get and getStream with a range (%s)', async (_kind, key, body) => {
    const size = body.byteLength;
    for (const [range, start, end] of [
      [{ start: 0, end: 0 }, 0, 0],
      [{ start: 100, end: 2047 }, 100, 2047],
      [{ start: size - 10 }, size - 10, size - 1],
      [{ suffix: 17 }, size - 17, size - 1],
      [{ start: 5, end: size + 1000 }, 5, size - 1],
    ] as const) {
      const got = await w.store.get(key, { range });
      expect(got?.range).toEqual({ start, end, size });
      expect(got?.size).toBe(size);
      expect(sameBytes(got?.body, body.subarray(start, end + 1))).toBe(true);
      const streamed = await w.store.getStream(key, { range });
      const chunks: Buffer[] = [];
      for await (const chunk of streamed!.body) chunks.push(Buffer.from(chunk as Uint8Array));
      expect(sameBytes(Buffer.concat(chunks), body.subarray(start, end + 1))).toBe(true);
    }
    await expect(w.store.get(key, { range: { start: size } })).rejects.toBeInstanceOf(RangeNotSatisfiableError);
    await expect(w.store.get(key, { range: { start: -1 } })).rejects.toBeInstanceOf(ValidationError);
    await expect(w.store.get(key, { range: { start: 5, end: 2 } })).rejects.toBeInstanceOf(ValidationError);
    expect(await w.store.get('r/absent', { range: { start: 0 } })).toBeUndefined();
  });

  test('presignGet: a blob object has a short-lived URL that serves it; inline is refused', async () => {
    const presigned = await w.store.presignGet('r/blob', { expiresInMs: 30_000 });
    expect(presigned?.size).toBe(blob.byteLength);
    const res = await fetch(presigned!.url, { headers: { range: 'bytes=10-19' } });
    expect(res.status).toBe(206);
    expect(sameBytes(new Uint8Array(await res.arrayBuffer()), blob.subarray(10, 20))).toBe(true);
    await expect(w.store.presignGet('r/inline')).rejects.toBeInstanceOf(ValidationError);
    expect(await w.store.presignGet('r/absent')).toBeUndefined();
  });

  test('a deleted or expired object is absent to ranged reads and presignGet, as to every read', async () => {
    await w.store.put('r/deleted-inline', inline);
    await w.store.put('r/deleted-blob', blob);
    await w.store.delete('r/deleted-inline');
    await w.store.delete('r/deleted-blob');
    await w.store.put('r/expiring-inline', inline, { timeToLiveMs: 3_600_000 });
    await w.store.put('r/expiring-blob', blob, { timeToLiveMs: 3_600_000 });
    const later = makeWriter(fx, { store: { clock: () => Date.now() + 2 * 3_600_000 } });
    try {
      for (const key of ['r/deleted-inline', 'r/deleted-blob']) {
        expect(await w.store.get(key, { range: { start: 0, end: 9 } })).toBeUndefined();
        expect(await w.store.getStream(key, { range: { suffix: 5 } })).toBeUndefined();
      }
      expect(await w.store.presignGet('r/deleted-blob')).toBeUndefined();
      for (const key of ['r/expiring-inline', 'r/expiring-blob']) {
        expect(await w.store.get(key, { range: { start: 0, end: 9 } })).toBeDefined();
        expect(await later.store.get(key, { range: { start: 0, end: 9 } })).toBeUndefined();
        expect(await later.store.getStream(key, { range: { suffix: 5 } })).toBeUndefined();
      }
      expect(await later.store.presignGet('r/expiring-blob')).toBeUndefined();
    } finally {
      later.close();
    }
    expect((await call('GET', '/objects/r/deleted-blob', { headers: { range: 'bytes=0-9' } })).statusCode).toBe(404);
  });

  test('HTTP: Range answers 206 with Content-Range; 416 when unsatisfiable; large answers redirect', async () => {
    const res = await call('GET', '/objects/r/blob', { headers: { range: 'bytes=1000-1999' } });
    expect(res.statusCode).toBe(206);
    expect(res.headers?.['content-range']).toBe(`bytes 1000-1999/${blob.byteLength}`);
    expect(res.headers?.['content-length']).toBe('1000');
    expect(sameBytes(bodyOf(res), blob.subarray(1000, 2000))).toBe(true);
    const suffix = await call('GET', '/objects/r/inline', { headers: { range: 'bytes=-10' } });
    expect(suffix.statusCode).toBe(206);
    expect(sameBytes(bodyOf(suffix), inline.subarray(inline.byteLength - 10))).toBe(true);
    const unsatisfiable = await call('GET', '/objects/r/inline', { headers: { range: `bytes=${inline.byteLength}-` } });
    expect(unsatisfiable.statusCode).toBe(416);
    expect(unsatisfiable.headers?.['content-range']).toBe(`bytes */${inline.byteLength}`);
    expect(JSON.parse(String(unsatisfiable.body)).error).toBe('RangeNotSatisfiable');
    // 300 KiB > the 64 KiB response limit of this handler: a redirect to S3, Range and all.
    const whole = await call('GET', '/objects/r/blob');
    expect(whole.statusCode).toBe(307);
    const followed = await fetch(String(whole.headers?.location), { headers: { range: 'bytes=0-99' } });
    expect(sameBytes(new Uint8Array(await followed.arrayBuffer()), blob.subarray(0, 100))).toBe(true);
    expect((await call('HEAD', '/objects/r/blob')).headers?.['accept-ranges']).toBe('bytes');
  });
});

describe('session routes: every bad request is a 4xx JSON error and writes nothing', () => {
  test.each([
    ['malformed Range', 'GET', '/objects/r/blob', { headers: { range: 'bytes=9-1' } }, 400],
    ['a malformed range among several', 'GET', '/objects/r/blob', { headers: { range: 'bytes=0-1,5-x' } }, 400],
    ['create: body not JSON', 'POST', '/objects/r/new', { query: 'uploads', body: '{nope' }, 400],
    ['create: unknown field', 'POST', '/objects/r/new', { query: 'uploads', body: '{"sise": 5}' }, 400],
    ['create: size not a number', 'POST', '/objects/r/new', { query: 'uploads', body: '{"size": "5"}' }, 400],
    ['create: part size too small', 'POST', '/objects/r/new', { query: 'uploads', body: '{"partSize": 1024}' }, 400],
    [
      'create: too many parts',
      'POST',
      '/objects/r/new',
      { query: 'uploads', body: JSON.stringify({ size: 10_001 * 5 * 1024 * 1024, partSize: 5 * 1024 * 1024 }) },
      400,
    ],
    ['create: bad metadata', 'POST', '/objects/r/new', { query: 'uploads', body: '{"metadata": {"A B": "x"}}' }, 400],
    ['create: If-Match on another version', 'POST', '/objects/r/blob', { query: 'uploads', headers: { 'if-match': '"9"' } }, 412],
    [
      'create: If-None-Match on an existing object',
      'POST',
      '/objects/r/blob',
      { query: 'uploads', headers: { 'if-none-match': '*' } },
      412,
    ],
    ['create with GET', 'GET', '/objects/r/new', { query: 'uploads' }, 405],
    ['unknown upload id', 'GET', '/objects/r/new', { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000' }, 404],
    [
      'forged upload id',
      'POST',
      '/objects/r/new',
      { query: 'uploadId=..%2F..%2Fetc', body: '{"parts": [{"partNumber": 1, "etag": "x"}]}' },
      404,
    ],
    [
      'complete: no parts',
      'POST',
      '/objects/r/new',
      { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000', body: '{"parts": []}' },
      400,
    ],
    [
      'complete: parts not a list',
      'POST',
      '/objects/r/new',
      { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000', body: '{"parts": {"partNumber": 1, "etag": "x"}}' },
      400,
    ],
    [
      'complete: body not an object',
      'POST',
      '/objects/r/new',
      { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000', body: '[1]' },
      400,
    ],
    ['part URL: bad part number', 'GET', '/objects/r/new', { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000&partNumber=0' }, 400],
    ['abort: unknown id', 'DELETE', '/objects/r/new', { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000' }, 404],
    ['session with PUT', 'PUT', '/objects/r/new', { query: 'uploadId=0190d7a2-1c3b-7000-8000-000000000000', body: 'x' }, 405],
  ] as const)('%s', async (_name, method, path, options, status) => {
    const before = await snapshot(fx);
    const res = await call(method, path, options as never);
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(String(res.body))).toHaveProperty('error');
    expect(res.headers?.['content-type']).toBe('application/json');
    expect(await snapshot(fx)).toBe(before);
  });

  test("a session is bound to its key: another key's route refuses its id", async () => {
    const created = await call('POST', '/objects/r/mine', { query: 'uploads', body: '{"size": 10}' });
    expect(created.statusCode).toBe(201);
    const { uploadId, parts } = JSON.parse(String(created.body)) as { uploadId: string; parts: unknown[] };
    expect(parts).toHaveLength(1);
    const before = await snapshot(fx);
    for (const method of ['GET', 'POST', 'DELETE']) {
      // The complete's parts (a DELETE takes no content: 400 before its session is looked at).
      const res = await call(method, '/objects/r/theirs', {
        query: `uploadId=${uploadId}`,
        ...(method === 'POST' ? { body: '{"parts": [{"partNumber": 1, "etag": "x"}]}' } : {}),
      });
      expect(res.statusCode).toBe(404);
    }
    // Nor does it sign a part URL of that session.
    const partUrl = await call('GET', '/objects/r/theirs', { query: `uploadId=${uploadId}&partNumber=1` });
    expect(partUrl.statusCode).toBe(404);
    expect(JSON.parse(String(partUrl.body))).not.toHaveProperty('url');
    expect(await snapshot(fx)).toBe(before);
    expect((await call('DELETE', '/objects/r/mine', { query: `uploadId=${uploadId}` })).statusCode).toBe(204);
    expect((await call('DELETE', '/objects/r/mine', { query: `uploadId=${uploadId}` })).statusCode).toBe(404);
  });
});

describe('If-Range (a resumed download): the range only of the version the client holds part of', () => {
  /** A blob object at `key` (30 KiB: under the 64 KiB buffered limit), then its ETag. */
  async function resumable(key: string, body: Uint8Array): Promise<string> {
    await w.store.put(key, body);
    const head = await call('GET', `/objects/${key}`, { headers: { range: 'bytes=0-0' } });
    return String(head.headers?.etag);
  }

  test('the same version: 206 with the range; replaced since: 200 with the whole new version, never a splice', async () => {
    const first = randomBody(30 * KiB);
    const etag = await resumable('ir/doc', first);
    const same = await call('GET', '/objects/ir/doc', { headers: { range: 'bytes=100-199', 'if-range': etag } });
    expect(same.statusCode).toBe(206);
    expect(sameBytes(bodyOf(same), first.subarray(100, 200))).toBe(true);

    const second = randomBody(30 * KiB);
    await w.store.put('ir/doc', second);
    const stale = await call('GET', '/objects/ir/doc', { headers: { range: 'bytes=100-199', 'if-range': etag } });
    expect(stale.statusCode).toBe(200);
    expect(stale.headers?.['content-range']).toBeUndefined();
    expect(stale.headers?.etag).not.toBe(etag);
    expect(sameBytes(bodyOf(stale), second)).toBe(true);
  });

  test.each([
    ['a weak tag', (etag: string) => `W/${etag}`],
    ['a date', () => new Date(Date.now() + 60_000).toUTCString()],
    ['garbage', () => 'not-a-validator'],
  ])('%s never matches: 200 with the whole object', async (_name, validator) => {
    const body = randomBody(30 * KiB);
    const etag = await resumable(`ir/${_name.replace(/ /g, '-')}`, body);
    const res = await call('GET', `/objects/ir/${_name.replace(/ /g, '-')}`, {
      headers: { range: 'bytes=0-9', 'if-range': validator(etag) },
    });
    expect(res.statusCode).toBe(200);
    expect(sameBytes(bodyOf(res), body)).toBe(true);
  });

  test('a range past the end of the new, shorter version: 200 with it (416 only when If-Range names the current version)', async () => {
    const etag = await resumable('ir/shrunk', randomBody(30 * KiB));
    const shorter = randomBody(10 * KiB);
    await w.store.put('ir/shrunk', shorter);
    const stale = await call('GET', '/objects/ir/shrunk', { headers: { range: 'bytes=20000-', 'if-range': etag } });
    expect(stale.statusCode).toBe(200);
    expect(sameBytes(bodyOf(stale), shorter)).toBe(true);
    const current = String(stale.headers?.etag);
    const unsatisfiable = await call('GET', '/objects/ir/shrunk', { headers: { range: 'bytes=20000-', 'if-range': current } });
    expect(unsatisfiable.statusCode).toBe(416);
  });

  test('a range past the end, the object deleted before the version If-Range names is checked: 404, not a failure', async () => {
    const etag = await resumable('ir/deleted', randomBody(10 * KiB));
    await w.store.put('ir/deleted', randomBody(5 * KiB));
    // The GET's second read of HV (its check of the current version) comes after a delete.
    const deleting = {
      kind: 'delay' as const,
      delayMs: 0,
      skip: 1,
      times: 1,
      match: (r: RequestInfo) => onCommand('GetItem')(r) && r.input.TableName === fx.config.objectsTable,
      before: async () => void (await w.store.delete('ir/deleted')),
    };
    w.injector.add(deleting);
    try {
      const res = await call('GET', '/objects/ir/deleted', { headers: { range: 'bytes=8000-', 'if-range': etag } });
      expect(res.statusCode).toBe(404);
    } finally {
      w.injector.remove(deleting);
    }
  });

  test('a range that is redirected to S3: 307 for the same version, 412 once replaced (the Range would follow the redirect)', async () => {
    const first = randomBody(300 * KiB);
    const etag = await resumable('ir/big', first);
    const same = await call('GET', '/objects/ir/big', { headers: { range: 'bytes=0-99999', 'if-range': etag } });
    expect(same.statusCode).toBe(307);
    const fromS3 = await fetch(String(same.headers?.location), { headers: { range: 'bytes=0-99999' } });
    expect(fromS3.status).toBe(206);
    expect(sameBytes(new Uint8Array(await fromS3.arrayBuffer()), first.subarray(0, 100_000))).toBe(true);

    await w.store.put('ir/big', randomBody(300 * KiB));
    const stale = await call('GET', '/objects/ir/big', { headers: { range: 'bytes=0-99999', 'if-range': etag } });
    expect(stale.statusCode).toBe(412);
    expect(stale.headers?.etag).not.toBe(etag);
    // The current ETag, so the client knows what a request without Range gets.
    expect(stale.headers?.etag).toBe(`"${(await w.store.head('ir/big'))?.version}"`);
    expect(stale.headers?.location).toBeUndefined();
  });

  /**
   * A download that followed the redirect holds S3's answer, and its ETag is S3's own (an MD5, no
   * version): a browser or `curl -C -` resumes with it in If-Range. Its 412 said "the object is
   * now version …, not the one If-Range names", though nobody had written it since: its client
   * took the object for replaced. It says that If-Range names no version here.
   */
  test('a range that is redirected, resumed with the ETag S3 answered: 412 that says it names no version, not that the object was replaced', async () => {
    const body = randomBody(300 * KiB);
    await w.store.put('ir/s3-etag', body);
    const first = await call('GET', '/objects/ir/s3-etag');
    expect(first.statusCode).toBe(307);
    const fromS3 = await fetch(String(first.headers?.location));
    await fromS3.arrayBuffer();
    const s3Etag = String(fromS3.headers.get('etag'));
    expect(s3Etag).toMatch(/^"[0-9a-f]{32}"$/);
    const resumed = await call('GET', '/objects/ir/s3-etag', { headers: { range: 'bytes=100000-', 'if-range': s3Etag } });
    expect(resumed.statusCode).toBe(412);
    const { message } = JSON.parse(String(resumed.body)) as { message: string };
    expect(message).not.toContain('is now version');
    expect(message).toContain('names no version');
    expect(message).toContain('without Range');
    expect(resumed.headers?.etag).toBe(`"${(await w.store.head('ir/s3-etag'))?.version}"`);
  });

  describe('a range of an object above the limit, of a version If-Range does not name: judged on the version read, then the whole read afresh', () => {
    /** Another writer's puts (its requests are not the GET's, so no rule below sees them). */
    let other: Writer;
    beforeAll(() => {
      other = makeWriter(fx);
    });
    afterAll(() => other.close());

    /** Runs `request` with `before` run ahead of each read of the objects table after the first; answers it and how many reads it made. */
    async function withReads(before: () => Promise<void>, request: () => ReturnType<typeof call>) {
      let reads = 0;
      const rule = {
        kind: 'delay' as const,
        delayMs: 0,
        match: (r: RequestInfo) => {
          const read = onCommand('GetItem')(r) && r.input.TableName === fx.config.objectsTable;
          if (read) reads++;
          return read && reads > 1;
        },
        before,
      };
      w.injector.add(rule);
      try {
        return { res: await request(), reads };
      } finally {
        w.injector.remove(rule);
      }
    }

    /** A blob object above the limit at `key`, replaced once: the ETag of the first version, and the current one. */
    async function replacedLarge(key: string): Promise<{ old: string; current: string }> {
      const old = `"${(await w.store.put(key, randomBody(300 * KiB))).version}"`;
      const current = `"${(await w.store.put(key, randomBody(300 * KiB))).version}"`;
      return { old, current };
    }

    test('replaced by a small object before the whole is read: 200 with the whole small one, never a part of it', async () => {
      const { old } = await replacedLarge('ir/big-shrinks');
      const small = randomBody(10 * KiB);
      const { res } = await withReads(
        async () => void (await other.store.put('ir/big-shrinks', small)),
        () => call('GET', '/objects/ir/big-shrinks', { headers: { range: 'bytes=0-99999', 'if-range': old } }),
      );
      expect(res.statusCode).toBe(200);
      expect(res.headers?.['content-range']).toBeUndefined();
      expect(res.headers?.location).toBeUndefined();
      expect(sameBytes(bodyOf(res), small)).toBe(true);
      expect(res.headers?.etag).toBe(`"${(await w.store.head('ir/big-shrinks'))?.version}"`);
    });

    test('If-None-Match naming the version read: 304 with its validators (RFC 9110 §13.2.2: before If-Range), whatever comes after', async () => {
      const { old, current } = await replacedLarge('ir/big-cached');
      const { res } = await withReads(
        async () => void (await other.store.put('ir/big-cached', randomBody(300 * KiB))),
        () => call('GET', '/objects/ir/big-cached', { headers: { range: 'bytes=0-99999', 'if-range': old, 'if-none-match': current } }),
      );
      expect(res.statusCode).toBe(304);
      expect(res.headers?.etag).toBe(current);
      expect(res.headers?.location).toBeUndefined();
      expect(res.body ?? '').toBe('');
    });

    test('If-Match not naming the version read: 412 with its ETag, no URL', async () => {
      const { old, current } = await replacedLarge('ir/big-guarded');
      const { res } = await withReads(
        async () => void (await other.store.put('ir/big-guarded', randomBody(300 * KiB))),
        () => call('GET', '/objects/ir/big-guarded', { headers: { range: 'bytes=0-99999', 'if-range': old, 'if-match': old } }),
      );
      expect(res.statusCode).toBe(412);
      expect(res.headers?.etag).toBe(current);
      expect(res.headers?.location).toBeUndefined();
    });

    test('replaced before every read: one read more, then 412 naming the version it read last (the loop ends)', async () => {
      const { old } = await replacedLarge('ir/big-churn');
      let last = '';
      const { res, reads } = await withReads(
        async () => {
          last = `"${(await other.store.put('ir/big-churn', randomBody(300 * KiB))).version}"`;
        },
        () => call('GET', '/objects/ir/big-churn', { headers: { range: 'bytes=0-99999', 'if-range': old } }),
      );
      expect(reads).toBe(2);
      expect(res.statusCode).toBe(412);
      expect(res.headers?.etag).toBe(last);
      expect(res.headers?.location).toBeUndefined();
    });
  });

  test('without a Range, If-Range is ignored', async () => {
    const body = randomBody(30 * KiB);
    await resumable('ir/plain', body);
    const res = await call('GET', '/objects/ir/plain', { headers: { 'if-range': '"999"' } });
    expect(res.statusCode).toBe(200);
    expect(sameBytes(bodyOf(res), body)).toBe(true);
    // Above the response limit too: the redirect, not the 412 a Range that would follow it gets.
    const redirected = await call('GET', '/objects/r/blob', { headers: { 'if-range': '"999"' } });
    expect(redirected.statusCode).toBe(307);
    expect(redirected.headers?.location).toBeDefined();
  });
});

describe('what a GET of a large object costs', () => {
  // The requests the store's clients sent: seen where the request goes out (a presigned URL is
  // built through the S3 client's middleware too, but never sent).
  const sent: string[] = [];
  beforeAll(() => {
    for (const client of [w.dynamodb, w.s3] as const) {
      (client.middlewareStack as { add: (m: unknown, o: unknown) => void }).add(
        (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
          sent.push(String(context.commandName).replace(/Command$/, ''));
          return next(args);
        },
        { step: 'deserialize', name: 'testSent' },
      );
    }
  });
  async function requestsOf(headers: Record<string, string>) {
    sent.length = 0;
    const res = await call('GET', '/objects/r/blob', { headers });
    return { res, sent: [...sent] };
  }

  test.each([
    { what: 'the whole object', headers: {}, status: 307 },
    { what: 'a range above the limit', headers: { range: 'bytes=0-99999' }, status: 307 },
    { what: 'If-None-Match of its version', headers: { 'if-none-match': '"*version*"' }, status: 304 },
    { what: 'If-Match of another version', headers: { 'if-match': '"999999"' }, status: 412 },
  ])('$what: one DynamoDB read decides ($status), no S3 GET opened and dropped', async ({ headers, status }) => {
    const version = (await w.store.head('r/blob'))!.version;
    const filled = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, v.replace('*version*', String(version))]));
    const { res, sent } = await requestsOf(filled);
    expect(res.statusCode).toBe(status);
    expect(sent).toEqual(['GetItem']);
    if (status === 307) {
      const fromS3 = await fetch(String(res.headers?.location), { headers: filled.range !== undefined ? { range: filled.range } : {} });
      const bytes = new Uint8Array(await fromS3.arrayBuffer());
      expect(sameBytes(bytes, filled.range !== undefined ? blob.subarray(0, 100_000) : blob)).toBe(true);
    } else {
      expect(res.headers?.etag).toBe(`"${version}"`);
    }
  });

  test('a range within the limit is answered in the body from one DynamoDB read and one S3 GET', async () => {
    const { res, sent } = await requestsOf({ range: 'bytes=1000-1999' });
    expect(res.statusCode).toBe(206);
    expect(sameBytes(bodyOf(res), blob.subarray(1000, 2000))).toBe(true);
    expect(sent).toEqual(['GetItem', 'GetObject']);
  });
});

describe('TieredStore.getStreamOrUrl', () => {
  test('a stream up to maxBytes, a URL above it for a blob, always a stream for an inline object; bad options refused', async () => {
    const whole = await w.store.getStreamOrUrl('r/blob', { maxBytes: blob.byteLength });
    expect(whole !== undefined && !('url' in whole)).toBe(true);
    if (whole !== undefined && !('url' in whole)) expect(sameBytes(new Uint8Array(await streamBytes(whole.body)), blob)).toBe(true);

    const ranged = await w.store.getStreamOrUrl('r/blob', { maxBytes: 99, range: { start: 0, end: 99 } });
    expect(ranged !== undefined && 'url' in ranged).toBe(true);
    if (ranged !== undefined && 'url' in ranged) {
      expect(ranged).toMatchObject({ stored: 'blob', size: blob.byteLength, range: { start: 0, end: 99, size: blob.byteLength } });
      const fromS3 = await fetch(ranged.url, { headers: { range: 'bytes=0-99' } });
      expect(sameBytes(new Uint8Array(await fromS3.arrayBuffer()), blob.subarray(0, 100))).toBe(true);
    }

    const small = await w.store.getStreamOrUrl('r/inline', { maxBytes: 0 });
    expect(small !== undefined && !('url' in small)).toBe(true);
    if (small !== undefined && !('url' in small)) small.body.destroy();
    expect(await w.store.getStreamOrUrl('r/absent', { maxBytes: 0 })).toBeUndefined();

    for (const maxBytes of [-1, 1.5, Number.NaN])
      await expect(w.store.getStreamOrUrl('r/blob', { maxBytes })).rejects.toThrow(ValidationError);
    await expect(w.store.getStreamOrUrl('r/blob', { maxBytes: 0, expiresInMs: 10 })).rejects.toThrow(ValidationError);
    await expect(w.store.getStreamOrUrl('r/blob', { maxBytes: 0, range: { start: blob.byteLength } })).rejects.toThrow(
      RangeNotSatisfiableError,
    );
  });
});

async function streamBytes(body: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
