/**
 * Bad-input corpus, part 2: what the objects handler (`handleObjectsRequest`, behind the Function
 * URL) is sent. Each bad request gets a 4xx with a JSON `{ error, message }` that says what is
 * wrong, and writes nothing: both tables and the bucket are unchanged, the sentinels survive and
 * the existing objects read back as written.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, describe, expect, test } from 'vitest';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { handleObjectsRequest, type ObjectsApiOptions } from '../../lib/api/objects-http.js';
import { type Ground, ground } from './helpers.js';

const open: Ground[] = [];
afterEach(() => {
  for (const g of open.splice(0)) g.close();
});

function event(
  method: string,
  rawPath: string,
  options: { headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean } = {},
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: { host: 'example.lambda-url.eu-west-1.on.aws', ...(options.headers ?? {}) },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'example',
      domainName: 'example.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'example',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'corpus' },
      requestId: 'corpus',
      routeKey: '$default',
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

/** Both tables (raw items) and the bucket's keys, as one comparable string. */
async function everything(g: Ground): Promise<string> {
  const table = async (name: string) => {
    const out = await g.fx.dynamodb.send(new ScanCommand({ TableName: name, ConsistentRead: true }));
    return (out.Items ?? []).map((i) => JSON.stringify(i)).sort();
  };
  return JSON.stringify({
    objects: await table(g.fx.config.objectsTable),
    log: await table(g.fx.config.changeLogTable),
    bucket: (await g.keys()).sort(),
  });
}

interface BadRequest {
  readonly name: string;
  readonly event: () => APIGatewayProxyEventV2;
  readonly status: number;
  readonly error: string;
  readonly message: RegExp;
  readonly options?: ObjectsApiOptions;
}

const b64 = (n: number) => Buffer.alloc(n, 7).toString('base64');

const bad: BadRequest[] = [
  {
    name: 'missing key',
    event: () => event('PUT', '/objects/', { body: 'x' }),
    status: 400,
    error: 'BadRequest',
    message: /key is missing/,
  },
  {
    name: 'over-long key (513 bytes)',
    event: () => event('PUT', `/objects/${'a'.repeat(513)}`, { body: 'x' }),
    status: 400,
    error: 'BadRequest',
    message: /longer than 512 bytes/,
  },
  {
    name: 'over-long key in multi-byte characters (300 × ü = 600 bytes)',
    event: () => event('PUT', `/objects/${encodeURIComponent('ü'.repeat(300))}`, { body: 'x' }),
    status: 400,
    error: 'BadRequest',
    message: /longer than 512 bytes/,
  },
  {
    name: 'control character (%00)',
    event: () => event('PUT', '/objects/a%00b', { body: 'x' }),
    status: 400,
    error: 'BadRequest',
    message: /control characters/,
  },
  {
    name: 'control character (%0A newline)',
    event: () => event('GET', '/objects/a%0Ab'),
    status: 400,
    error: 'BadRequest',
    message: /control characters/,
  },
  {
    name: 'control character (%7F DEL)',
    event: () => event('DELETE', '/objects/a%7F'),
    status: 400,
    error: 'BadRequest',
    message: /control characters/,
  },
  {
    name: 'invalid key: a lone surrogate (%ED%A0%80)',
    event: () => event('PUT', '/objects/a%ED%A0%80', { body: 'x' }),
    status: 400,
    error: 'BadRequest',
    message: /percent-encoding/,
  },
  {
    name: 'bad percent-encoding (%zz)',
    event: () => event('PUT', '/objects/a%zz', { body: 'x' }),
    status: 400,
    error: 'BadRequest',
    message: /percent-encoding/,
  },
  {
    name: 'truncated percent-encoding (%E2%82)',
    event: () => event('HEAD', '/objects/a%E2%82'),
    status: 400,
    error: 'BadRequest',
    message: /percent-encoding/,
  },
  { name: 'lone % at the end', event: () => event('DELETE', '/objects/a%'), status: 400, error: 'BadRequest', message: /percent-encoding/ },
  {
    name: 'body over the limit (base64)',
    event: () => event('PUT', '/objects/corpus/new', { body: b64(1025), isBase64Encoded: true }),
    options: { maxBodyBytes: 1024 },
    status: 413,
    error: 'BodyTooLarge',
    message: /exceeds 1024 bytes/,
  },
  {
    name: 'body over the limit (text, multi-byte)',
    event: () => event('PUT', '/objects/corpus/new', { body: 'é'.repeat(600) }),
    options: { maxBodyBytes: 1024 },
    status: 413,
    error: 'BodyTooLarge',
    message: /exceeds 1024 bytes/,
  },
  {
    name: 'body over the default limit (5 MiB + 1)',
    event: () => event('PUT', '/objects/corpus/new', { body: b64(5 * 1024 * 1024 + 1), isBase64Encoded: true }),
    status: 413,
    error: 'BodyTooLarge',
    message: /exceeds 5242880 bytes/,
  },
  {
    name: 'wrong method (POST)',
    event: () => event('POST', '/objects/corpus/small', { body: 'x' }),
    status: 405,
    error: 'MethodNotAllowed',
    message: /POST is not allowed/,
  },
  {
    name: 'wrong method (PATCH)',
    event: () => event('PATCH', '/objects/corpus/small', { body: 'x' }),
    status: 405,
    error: 'MethodNotAllowed',
    message: /PATCH is not allowed/,
  },
  { name: 'no method', event: () => event('', '/objects/corpus/small'), status: 405, error: 'MethodNotAllowed', message: /not allowed/ },
  ...['3', '"abc"', '"0"', '"1", "2"', '"12345678901234567"', '"9007199254740993"', '"-1"', '"1.5"', ''].map(
    (value): BadRequest => ({
      name: `malformed If-Match on PUT: ${JSON.stringify(value)}`,
      event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'If-Match': value } }),
      status: 400,
      error: 'BadRequest',
      message: /If-Match must be one quoted version/,
    }),
  ),
  {
    // RFC 9110's "only if the object exists", which a write here cannot ask: refused as such.
    name: 'If-Match: * on PUT',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'If-Match': '*' } }),
    status: 400,
    error: 'BadRequest',
    message: /If-Match: \* \(write only if the object exists\) is not evaluated on a write/,
  },
  {
    name: 'malformed If-Match on DELETE',
    event: () => event('DELETE', '/objects/corpus/large', { headers: { 'if-match': 'W/"x"' } }),
    status: 400,
    error: 'BadRequest',
    message: /If-Match/,
  },
  {
    name: 'If-None-Match other than *',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'if-none-match': '"1"' } }),
    status: 400,
    error: 'BadRequest',
    message: /If-None-Match supports only/,
  },
  {
    name: 'If-Match with If-None-Match',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'if-match': '"1"', 'if-none-match': '*' } }),
    status: 400,
    error: 'BadRequest',
    message: /cannot be combined/,
  },
  ...['!!!!', 'abc', 'ab=c', 'YQ===', 'YQ==\n', 'Y Q=='].map(
    (body): BadRequest => ({
      name: `bad base64 body: ${JSON.stringify(body)}`,
      event: () => event('PUT', '/objects/corpus/small', { body, isBase64Encoded: true }),
      status: 400,
      error: 'BadRequest',
      message: /not valid base64/,
    }),
  ),
  {
    name: 'metadata name not allowed (underscore)',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'x-amz-meta-bad_name': 'v' } }),
    status: 400,
    error: 'BadRequest',
    message: /metadata name/,
  },
  {
    name: 'metadata value not printable ASCII',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'x-amz-meta-tag': 'caf\u00e9' } }),
    status: 400,
    error: 'BadRequest',
    message: /printable ASCII/,
  },
  {
    name: 'metadata over 2 KB',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'x-amz-meta-big': 'v'.repeat(2_100) } }),
    status: 400,
    error: 'BadRequest',
    message: /metadata exceeds/,
  },
  {
    name: 'metadata of 200 short entries (within 2 KB, past what S3 request headers carry)',
    event: () =>
      event('PUT', '/objects/corpus/small', {
        body: 'x',
        headers: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-amz-meta-${i.toString(36).padStart(2, '0')}`, ''])),
      }),
    status: 400,
    error: 'BadRequest',
    message: /S3 request headers/,
  },
  {
    name: 'content type with a control character',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'content-type': 'text/plain\u0001' } }),
    status: 400,
    error: 'BadRequest',
    message: /content type/,
  },
  { name: 'path outside /objects/', event: () => event('GET', '/other/corpus/small'), status: 404, error: 'NotFound', message: /no route/ },
  {
    name: 'path prefix look-alike (/objectsX/)',
    event: () => event('DELETE', '/objectsX/corpus/small'),
    status: 404,
    error: 'NotFound',
    message: /no route/,
  },
  {
    name: 'conditional PUT on a stale version',
    event: () => event('PUT', '/objects/corpus/large', { body: 'x', headers: { 'if-match': '"7"' } }),
    status: 412,
    error: 'PreconditionFailed',
    message: /version [1-9][0-9]*, expected 7/,
  },
  {
    name: 'conditional DELETE on a stale version',
    event: () => event('DELETE', '/objects/corpus/large', { headers: { 'if-match': '"9"' } }),
    status: 412,
    error: 'PreconditionFailed',
    message: /version [1-9][0-9]*, expected 9/,
  },
  {
    name: 'create-only PUT on an existing object',
    event: () => event('PUT', '/objects/corpus/small', { body: 'x', headers: { 'if-none-match': '*' } }),
    status: 412,
    error: 'PreconditionFailed',
    message: /version [1-9][0-9]*, expected 0/,
  },
];

describe('bad requests to the objects handler: a clear 4xx, nothing written', () => {
  test.each(bad.map((b) => [b.name, b] as const))('%s', async (_name, kind) => {
    const g = await ground();
    open.push(g);
    const before = await everything(g);
    const response = (await handleObjectsRequest(g.store, kind.event(), kind.options)) as APIGatewayProxyStructuredResultV2;
    expect(response.statusCode, String(response.body)).toBe(kind.status);
    // A HEAD answer is GET's headers alone (RFC 9110 9.3.2): the JSON is the same request's as a GET.
    const sent = kind.event();
    const head = sent.requestContext.http.method === 'HEAD';
    if (head) expect(response.body).toBeUndefined();
    const asGet = { ...sent, requestContext: { ...sent.requestContext, http: { ...sent.requestContext.http, method: 'GET' } } };
    const answered = head ? await handleObjectsRequest(g.store, asGet, kind.options) : response;
    const body = JSON.parse(String(answered.body)) as { error: string; message: string };
    expect(body.error).toBe(kind.error);
    expect(body.message).toMatch(kind.message);
    if (kind.status === 405) expect(response.headers?.allow).toBe('GET, HEAD, PUT, DELETE');
    expect(await everything(g)).toBe(before);
    await g.expectIntact(expect);
  });
});

describe('keys that look like paths are only names', () => {
  test('a key with ../ traversal is stored under the prefix, in base64url; nothing outside is touched', async () => {
    const g = await ground();
    open.push(g);
    const key = '../../outside/sentinel';
    const path = `/objects/${encodeURIComponent(key)}`;
    const body = Buffer.alloc(20 * 1024, 3);
    const put = (await handleObjectsRequest(
      g.store,
      event('PUT', path, { body: body.toString('base64'), isBase64Encoded: true }),
    )) as APIGatewayProxyStructuredResultV2;
    expect(put.statusCode, String(put.body)).toBe(201);
    const blobs = (await g.keys()).filter((k) => k.startsWith(`${g.fx.config.prefix}/${Buffer.from(key).toString('base64url')}/`));
    expect(blobs).toHaveLength(1);
    const got = (await handleObjectsRequest(g.store, event('GET', path))) as APIGatewayProxyStructuredResultV2;
    expect(Buffer.from(String(got.body), 'base64').equals(body)).toBe(true);
    const del = (await handleObjectsRequest(g.store, event('DELETE', path))) as APIGatewayProxyStructuredResultV2;
    expect(del.statusCode).toBe(204);
    expect((await g.keys()).filter((k) => blobs.includes(k))).toEqual([]);
    await g.expectIntact(expect);
  });

  test('a key that names a blob or a sentinel reads as absent and deletes nothing', async () => {
    const g = await ground();
    open.push(g);
    const before = await everything(g);
    for (const key of [g.blobOf('corpus/victim'), 'outside/sentinel', `${g.fx.config.prefix}/../outside/sentinel`]) {
      const path = `/objects/${encodeURIComponent(key)}`;
      expect(((await handleObjectsRequest(g.store, event('GET', path))) as APIGatewayProxyStructuredResultV2).statusCode).toBe(404);
      expect(((await handleObjectsRequest(g.store, event('DELETE', path))) as APIGatewayProxyStructuredResultV2).statusCode).toBe(404);
    }
    expect(await everything(g)).toBe(before);
    await g.expectIntact(expect);
  });
});
