/**
 * `functions/objects.ts` with real Function URL / HTTP API v2 events and a Lambda context, on the
 * local servers. Every write (and every refused write) is checked from outside.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { instantOf } from '../../lib/api/objects-http.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import {
  KiB,
  MiB,
  expectClean,
  isFirstVersionBetween,
  randomBody,
  rawGetObject,
  rawState,
  rawValue,
  sameBytes,
  snapshot,
} from '../tiered/harness.js';
import { httpEvent, lambdaContext, loadHandler } from './lambda.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

let fx: Fixture;
let handler: Handler;
let restore: () => void;

beforeAll(async () => {
  fx = await freshFixture();
  const loaded = await loadHandler(fx, () => import('../../functions/objects.js'), { POWERTOOLS_LOG_LEVEL: 'CRITICAL' });
  handler = loaded.mod.handler;
  restore = loaded.restore;
});
afterAll(() => restore?.());

function call(method: string, path: string, options: Parameters<typeof httpEvent>[2] = {}) {
  return handler(httpEvent(method, path, options), lambdaContext('tierlog-objects'));
}

function put(path: string, body: Uint8Array, headers: Record<string, string> = {}) {
  return call('PUT', path, { body: Buffer.from(body).toString('base64'), isBase64Encoded: true, headers });
}

function json(res: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  return JSON.parse(String(res.body));
}

describe('PUT / GET / HEAD / DELETE', () => {
  test('small PUT with a base64 body is stored inline; GET returns it base64 with its ETag', async () => {
    const body = randomBody(300);
    const before = Date.now();
    const res = await put('/objects/small', body, { 'content-type': 'text/plain' });
    expect(res.statusCode).toBe(201);
    const { version } = json(res) as { version: number };
    // A new key's version comes from the writer's clock (lib/tiered/versions.ts): 16 digits in the ETag.
    expect(isFirstVersionBetween(version, before, Date.now()), `${version} is a first version`).toBe(true);
    expect(res.headers).toMatchObject({ etag: `"${version}"`, 'x-tierlog-stored': 'inline' });
    expect(json(res)).toMatchObject({ key: 'small', version, size: 300, stored: 'inline' });
    const item = (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === 'small');
    expect(sameBytes(item?.body as Uint8Array, body)).toBe(true);

    const got = await call('GET', '/objects/small');
    expect(got.statusCode).toBe(200);
    expect(got.isBase64Encoded).toBe(true);
    expect(sameBytes(Buffer.from(String(got.body), 'base64'), body)).toBe(true);
    expect(got.headers).toMatchObject({ etag: `"${version}"`, 'content-type': 'text/plain', 'content-length': '300' });
  });

  test('large PUT goes to a blob with content type and x-amz-meta-*; GET and HEAD return them', async () => {
    const body = randomBody(200 * KiB);
    const res = await put('/objects/dir%2Fbig%20file.bin', body, {
      'content-type': 'application/x-big',
      'x-amz-meta-owner': 'alice',
      'X-Amz-Meta-Color': 'blue',
    });
    expect(res.statusCode).toBe(201);
    const etag = `"${(json(res) as { version: number }).version}"`;
    expect(res.headers).toMatchObject({ etag, 'x-tierlog-stored': 'blob' });
    const state = await rawState(fx);
    const blob = state.references.get('dir/big file.bin');
    expect(blob).toBeDefined();
    expect(sameBytes(await rawGetObject(fx, blob!), body)).toBe(true);

    const got = await call('GET', '/objects/dir%2Fbig%20file.bin');
    expect(got.statusCode).toBe(200);
    expect(sameBytes(Buffer.from(String(got.body), 'base64'), body)).toBe(true);
    expect(got.headers).toMatchObject({
      etag,
      'content-type': 'application/x-big',
      'content-length': String(200 * KiB),
      'x-amz-meta-owner': 'alice',
      'x-amz-meta-color': 'blue',
      'x-tierlog-stored': 'blob',
    });
    const head = await call('HEAD', '/objects/dir%2Fbig%20file.bin');
    expect(head.statusCode).toBe(200);
    expect(head.body).toBeUndefined();
    expect(head.headers).toMatchObject({ etag, 'content-length': String(200 * KiB), 'x-amz-meta-owner': 'alice' });
    expect((await call('HEAD', '/objects/nope')).statusCode).toBe(404);
    expect((await call('GET', '/objects/nope')).statusCode).toBe(404);
    await expectClean(fx, expect);
  });

  test('a text body (not base64) is stored as UTF-8', async () => {
    const res = await call('PUT', '/objects/text', { body: 'héllo', headers: { 'content-type': 'text/plain; charset=utf-8' } });
    expect(res.statusCode).toBe(201);
    expect(Buffer.from((await rawValue(fx, 'text'))!).toString('utf8')).toBe('héllo');
  });

  test('DELETE: 204, then 404; the blob is gone', async () => {
    await put('/objects/del', randomBody(100 * KiB));
    const blob = (await rawState(fx)).references.get('del')!;
    expect((await call('DELETE', '/objects/del')).statusCode).toBe(204);
    expect(await rawValue(fx, 'del')).toBeUndefined();
    expect(await rawGetObject(fx, blob)).toBeUndefined();
    const again = await call('DELETE', '/objects/del');
    expect(again.statusCode).toBe(404);
    await expectClean(fx, expect);
  });

  test('GET of an object over the response limit redirects to a short-lived presigned URL', async () => {
    const body = randomBody(4 * MiB + 1);
    const created = await put('/objects/huge', body);
    expect(created.statusCode).toBe(201);
    const got = await call('GET', '/objects/huge');
    expect(got.statusCode).toBe(307);
    expect(got.headers?.etag).toBe(created.headers?.etag);
    // Never reused by a cache: the URL expires within a minute, and the object may be replaced.
    expect(got.headers?.['cache-control']).toBe('no-store');
    const fetched = await fetch(String(got.headers?.location));
    expect(fetched.status).toBe(200);
    expect(sameBytes(new Uint8Array(await fetched.arrayBuffer()), body)).toBe(true);
    expect((await call('DELETE', '/objects/huge')).statusCode).toBe(204);
  });
});

describe('an object a browser would run (text/html, SVG) is answered without running it', () => {
  test.each([
    ['text/html', 100],
    ['image/svg+xml', 100],
    ['text/html', 40 * KiB],
  ])('%s of %i bytes: GET and HEAD carry a sandbox with no sources and nosniff', async (type, size) => {
    const key = `page-${type.replace('/', '-')}-${size}`;
    expect((await put(`/objects/${key}`, randomBody(size), { 'content-type': type })).statusCode).toBe(201);
    for (const method of ['GET', 'HEAD']) {
      const res = await call(method, `/objects/${key}`);
      expect(res.statusCode, method).toBe(200);
      expect(res.headers, method).toMatchObject({
        'content-type': type,
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      });
    }
  });
});

describe('conditional requests', () => {
  test('If-Match: match writes (the next ETag), mismatch is 412 and changes nothing', async () => {
    const v1 = randomBody(64 * KiB);
    const { version } = json(await put('/objects/cond', v1)) as { version: number };
    const v2 = randomBody(64 * KiB);
    const ok = await put('/objects/cond', v2, { 'if-match': `"${version}"` });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers?.etag).toBe(`"${version + 1}"`);
    const before = await snapshot(fx);
    const stale = await put('/objects/cond', randomBody(64 * KiB), { 'if-match': `"${version}"` });
    expect(stale.statusCode).toBe(412);
    expect(json(stale).error).toBe('PreconditionFailed');
    const staleSmall = await put('/objects/cond', randomBody(10), { 'If-Match': `W/"${version}"` });
    expect(staleSmall.statusCode).toBe(412);
    const staleDelete = await call('DELETE', '/objects/cond', { headers: { 'if-match': '"7"' } });
    expect(staleDelete.statusCode).toBe(412);
    expect(await snapshot(fx)).toBe(before);
    expect(sameBytes(await rawValue(fx, 'cond'), v2)).toBe(true);
    expect((await call('DELETE', '/objects/cond', { headers: { 'if-match': `"${version + 1}"` } })).statusCode).toBe(204);
    await expectClean(fx, expect);
  });

  test('If-None-Match: * creates only', async () => {
    const first = await put('/objects/once', randomBody(10), { 'if-none-match': '*' });
    expect(first.statusCode).toBe(201);
    const before = await snapshot(fx);
    const second = await put('/objects/once', randomBody(64 * KiB), { 'if-none-match': '*' });
    expect(second.statusCode).toBe(412);
    expect(await snapshot(fx)).toBe(before);
  });
});

describe('expiry headers', () => {
  test.each([
    ['x-tierlog-ttl', '3600', 3600],
    ['x-tierlog-tti', '600', 600],
  ])('%s: stored, and answered on GET and HEAD as x-tierlog-expires-at', async (header, value, seconds) => {
    const before = Date.now();
    for (const body of [randomBody(10), randomBody(40 * KiB)]) {
      expect((await put('/objects/expiring', body, { [header]: value })).statusCode).toBeLessThan(300);
      for (const method of ['GET', 'HEAD']) {
        const res = await call(method, '/objects/expiring');
        const at = Date.parse(String(res.headers?.['x-tierlog-expires-at']));
        expect(at).toBeGreaterThanOrEqual(before + seconds * 1000);
        expect(at).toBeLessThanOrEqual(Date.now() + seconds * 1000 + 1000);
      }
      // A revalidation (304) carries it too, as the validators of the 200 it stands for.
      const revalidated = await call('GET', '/objects/expiring', { headers: { 'if-none-match': '*' } });
      expect(revalidated.statusCode).toBe(304);
      expect(Date.parse(String(revalidated.headers?.['x-tierlog-expires-at']))).toBeGreaterThanOrEqual(before + seconds * 1000);
    }
  });

  /**
   * A GET of an object over the response limit is answered 307 to S3, whose answer carries no
   * tierlog header: the 307 was the GET's only answer of the expiry, and carried none, so a client
   * reading it (redirects followed by hand, a proxy) learned of no expiry, nor of a time to idle's
   * moved on by that very read.
   */
  test.each([
    ['x-tierlog-ttl', '3600'],
    ['x-tierlog-tti', '600'],
  ])('%s: a GET answered 307 (over the response limit) carries x-tierlog-expires-at as HEAD does', async (header, value) => {
    expect((await put('/objects/expiring-huge', randomBody(4 * MiB + 1), { [header]: value })).statusCode).toBeLessThan(300);
    const got = await call('GET', '/objects/expiring-huge');
    expect(got.statusCode).toBe(307);
    const headed = await call('HEAD', '/objects/expiring-huge');
    expect(headed.headers?.['x-tierlog-expires-at']).toBeDefined();
    expect(got.headers?.['x-tierlog-expires-at']).toBe(headed.headers?.['x-tierlog-expires-at']);
    expect((await call('DELETE', '/objects/expiring-huge')).statusCode).toBe(204);
  });

  test('x-tierlog-expires-at (HTTP date) is kept to the second; a PUT without one makes the object permanent', async () => {
    const at = new Date(Math.ceil(Date.now() / 1000) * 1000 + 86_400_000);
    expect((await put('/objects/dated', randomBody(10), { 'x-tierlog-expires-at': at.toUTCString() })).statusCode).toBe(201);
    expect((await call('HEAD', '/objects/dated')).headers?.['x-tierlog-expires-at']).toBe(at.toISOString());
    await put('/objects/dated', randomBody(10));
    expect((await call('HEAD', '/objects/dated')).headers?.['x-tierlog-expires-at']).toBeUndefined();
    await expectClean(fx, expect);
  });

  // Read field by field on any host: all three HTTP forms are GMT (an asctime date has no zone,
  // and JavaScript's Date takes it in the host's), a day the month lacks is no date (Date rolls
  // it into the next month), a leap second is not its minute's start, an RFC 850 year is the
  // nearest not more than 50 years ahead (RFC 9110), and a fraction of a ms is not dropped.
  test.each([
    ['asctime, on a host east of GMT', 'Wed Nov 16 08:49:37 2050', '2050-11-16T08:49:37.000Z'],
    ['IMF-fixdate, a leap second', 'Wed, 16 Nov 2050 23:59:60 GMT', '2050-11-17T00:00:00.000Z'],
    ['RFC 850, a two-digit year 24 years ahead', 'Wednesday, 16-Nov-50 08:49:37 GMT', '2050-11-16T08:49:37.000Z'],
    ['ISO 8601, under a millisecond past a second', '2050-01-01T00:00:00.0001Z', '2050-01-01T00:00:01.000Z'],
    ['IMF-fixdate, 31 April', 'Sun, 31 Apr 2050 08:00:00 GMT', 400],
    ['RFC 850, 31 April', 'Sunday, 31-Apr-50 08:00:00 GMT', 400],
    ['asctime, 31 April', 'Sun Apr 31 08:00:00 2050', 400],
    ['ISO 8601, 29 February of a common year', '2050-02-29', 400],
    ['ISO 8601, hour 24', '2050-01-01T24:00Z', 400],
    // An offset names the zone the time of day is in: +09:00 is nine hours before the same time in UTC.
    ['ISO 8601, an offset east of UTC', '2050-01-01T09:00:00+09:00', '2050-01-01T00:00:00.000Z'],
    ['ISO 8601, an offset west of UTC', '2049-12-31T19:30:00-04:30', '2050-01-01T00:00:00.000Z'],
    ['ISO 8601, second 60', '2050-01-01T00:00:60Z', 400],
  ])('x-tierlog-expires-at, %s: %s -> %s', async (_name, value, expected) => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    try {
      const res = await put('/objects/dated-forms', randomBody(10), { 'x-tierlog-expires-at': value });
      if (expected === 400) {
        expect(res.statusCode).toBe(400);
        return;
      }
      expect(res.statusCode).toBeLessThan(300);
      expect((await call('HEAD', '/objects/dated-forms')).headers?.['x-tierlog-expires-at']).toBe(expected);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });
});

/**
 * A refused expiry header is named as the client sent it, in its own unit: the store's refusal
 * named its option (`timeToLiveMs must be a positive integer (milliseconds)` for `x-tierlog-ttl: 0`),
 * so a client that followed it sent milliseconds to a header read in seconds (60000: 16 hours
 * where a minute was meant). A PUT and a session's create answer the same; nothing is written.
 */
describe('a refused expiry header is named, in seconds', () => {
  const years = (n: number) => String(n * 365 * 86_400);
  test.each([
    ['x-tierlog-ttl of 0', { 'x-tierlog-ttl': '0' }, ['x-tierlog-ttl']],
    ['x-tierlog-tti of 0', { 'x-tierlog-tti': '0' }, ['x-tierlog-tti']],
    ['x-tierlog-ttl past 100 years', { 'x-tierlog-ttl': years(101) }, ['x-tierlog-ttl']],
    ['x-tierlog-tti past 100 years', { 'x-tierlog-tti': years(101) }, ['x-tierlog-tti']],
    ['x-tierlog-expires-at in the past', { 'x-tierlog-expires-at': '2001-01-01T00:00:00Z' }, ['x-tierlog-expires-at']],
    ['x-tierlog-expires-at past 100 years', { 'x-tierlog-expires-at': '2200-01-01T00:00:00Z' }, ['x-tierlog-expires-at']],
    ['x-tierlog-ttl with x-tierlog-tti', { 'x-tierlog-ttl': '60', 'x-tierlog-tti': '60' }, ['x-tierlog-ttl', 'x-tierlog-tti']],
  ])('%s: 400 naming the header, PUT and POST ?uploads', async (_name, headers, named) => {
    const before = await snapshot(fx);
    for (const res of [
      await put('/objects/bad-expiry', randomBody(10), headers),
      await call('POST', '/objects/bad-expiry', { query: 'uploads', body: JSON.stringify({ size: 10 }), headers }),
    ]) {
      expect(res.statusCode, String(res.body)).toBe(400);
      const { message } = json(res) as { message: string };
      for (const header of named) expect(message).toContain(header);
      expect(message).not.toMatch(/timeToLiveMs|timeToIdleMs|millisecond/);
    }
    expect(await snapshot(fx)).toBe(before);
  });
});

/**
 * A whole number of seconds of 13 digits or more (milliseconds since the epoch sent where a
 * duration in seconds belongs, `Date.now()`) was refused as "must be a whole number of seconds, at
 * least 1", which it is: a client that followed the message had nothing to change. It is refused
 * for what it is, past 100 years; so is a number of 400 digits.
 */
test.each([
  ['x-tierlog-ttl', '1767225600000'],
  ['x-tierlog-tti', '9'.repeat(400)],
])('%s of a whole number of seconds past 100 years, however many digits: 400 saying so', async (header, value) => {
  const before = await snapshot(fx);
  for (const res of [
    await put('/objects/bad-expiry', randomBody(10), { [header]: value }),
    await call('POST', '/objects/bad-expiry', { query: 'uploads', body: JSON.stringify({ size: 10 }), headers: { [header]: value } }),
  ]) {
    expect(res.statusCode, String(res.body)).toBe(400);
    const { message } = json(res) as { message: string };
    expect(message).toContain(header);
    expect(message).toContain('more than 100 years');
    expect(message).not.toContain('whole number');
  }
  expect(await snapshot(fx)).toBe(before);
});

// RFC 9110 5.6.7, as DESIGN.md states it: an RFC 850 two-digit year is the nearest year ending so
// that is not more than 50 years ahead, on whatever date the header is read (from 2050 on, some
// are in the next century).
test.each([
  ['2026', '76', '2076'],
  ['2026', '77', '1977'],
  ['2049', '99', '2099'],
  ['2050', '00', '2100'],
  ['2060', '05', '2105'],
  ['2060', '10', '2110'],
  ['2060', '11', '2011'],
])('x-tierlog-expires-at in RFC 850 form read in %s: year %s is %s', (readIn, yy, year) => {
  const now = Date.UTC(Number(readIn), 5, 15);
  expect(instantOf(`Saturday, 01-Jan-${yy} 00:00:00 GMT`, now).toISOString()).toBe(`${year}-01-01T00:00:00.000Z`);
});

describe('bad requests write nothing', () => {
  const cases: Array<[string, number, () => Promise<APIGatewayProxyStructuredResultV2>]> = [
    ['missing key', 400, () => put('/objects/', randomBody(10))],
    ['over-long key', 400, () => put(`/objects/${'k'.repeat(513)}`, randomBody(10))],
    ['bad percent-encoding', 400, () => put('/objects/a%E0%A4%A', randomBody(10))],
    ['bad percent-encoding (lone %)', 400, () => put('/objects/a%', randomBody(10))],
    ['control character in key', 400, () => put('/objects/a%01b', randomBody(10))],
    ['bad If-Match', 400, () => put('/objects/x', randomBody(10), { 'if-match': 'abc' })],
    ['If-Match "0"', 400, () => put('/objects/x', randomBody(10), { 'if-match': '"0"' })],
    ['If-Match beyond 2^53', 400, () => put('/objects/x', randomBody(10), { 'if-match': '"9007199254740993"' })],
    ['If-Match of 17 digits', 400, () => put('/objects/x', randomBody(10), { 'if-match': '"10000000000000000"' })],
    ['If-None-Match other than *', 400, () => put('/objects/x', randomBody(10), { 'if-none-match': '"3"' })],
    ['If-Match with If-None-Match', 400, () => put('/objects/x', randomBody(10), { 'if-match': '"1"', 'if-none-match': '*' })],
    ['bad base64', 400, () => call('PUT', '/objects/x', { body: '!!!!', isBase64Encoded: true })],
    ['base64 with bad length', 400, () => call('PUT', '/objects/x', { body: 'abcde', isBase64Encoded: true })],
    ['bad metadata value', 400, () => put('/objects/x', randomBody(10), { 'x-amz-meta-owner': 'a\u0007b' })],
    ['bad If-Match on DELETE', 400, () => call('DELETE', '/objects/x', { headers: { 'if-match': 'nope' } })],
    ['body over the limit (5 MiB + 1)', 413, () => put('/objects/x', randomBody(5 * MiB + 1))],
    ['text body over the limit', 413, () => call('PUT', '/objects/x', { body: 'x'.repeat(5 * MiB + 10) })],
    ['not an object route', 404, () => call('GET', '/other/x')],
    ['two expiry headers', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-ttl': '60', 'x-tierlog-tti': '60' })],
    ['ttl not a number of seconds', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-ttl': '1.5' })],
    ['expires-at not a date', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-expires-at': 'tomorrow' })],
    ['expires-at in the past', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-expires-at': '2001-01-01T00:00:00Z' })],
    // A number is not a date (seconds meant as a TTL would otherwise be read as a year: 2100-01-01).
    ['expires-at a bare number', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-expires-at': '2100' })],
    ['expires-at in a free form', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-expires-at': '1/1/2100' })],
    // A time of day with no zone is the host's local time to JavaScript: another instant on every host.
    ['expires-at a time without a zone', 400, () => put('/objects/x', randomBody(10), { 'x-tierlog-expires-at': '2100-01-01T12:00:00' })],
    [
      'session create with a body that is not base64',
      400,
      () => call('POST', '/objects/x', { query: 'uploads', body: '!!!!', isBase64Encoded: true }),
    ],
    ['session route with both uploads and uploadId', 400, () => call('GET', '/objects/x', { query: 'uploads&uploadId=u' })],
    ['uploadId given twice', 400, () => call('DELETE', '/objects/x', { query: 'uploadId=a&uploadId=b' })],
    ['partNumber given twice', 400, () => call('GET', '/objects/x', { query: 'uploadId=a&partNumber=1&partNumber=2' })],
  ];

  test.each(cases)('%s -> %i', async (_name, status, send) => {
    const before = await snapshot(fx);
    const res = await send();
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(String(res.body))).toHaveProperty('error');
    expect(res.headers?.['content-type']).toBe('application/json');
    expect(await snapshot(fx)).toBe(before);
  });

  test('405 with Allow for other methods', async () => {
    for (const method of ['POST', 'PATCH', 'OPTIONS']) {
      const res = await call(method, '/objects/x', { body: 'x' });
      expect(res.statusCode).toBe(405);
      expect(res.headers?.allow).toBe('GET, HEAD, PUT, DELETE');
    }
  });

  test('the body limit sits exactly at 5 MiB', async () => {
    const res = await put('/objects/limit', randomBody(5 * MiB));
    expect(res.statusCode).toBe(201);
    expect((await call('DELETE', '/objects/limit')).statusCode).toBe(204);
    await expectClean(fx, expect);
  });
});
