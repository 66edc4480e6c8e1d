/**
 * The local Function URL adapter builds the event and reads the result as Lambda does (AWS Lambda
 * Developer Guide, "Invoking Lambda function URLs", payload format 2.0), so that a handler that
 * works on it works behind a real Function URL, and one that would fail there fails here:
 * cookies in `cookies`, and in the `cookie` header a Function URL keeps; `queryStringParameters`; a textual body as text;
 * repeated headers joined with commas; the result read as its JSON (as the runtime sends it);
 * a result without `statusCode` answered as its JSON;
 * `cookies` answered as `set-cookie`; a handler past its timeout answered 502.
 */
import { request, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, test } from 'vitest';
import {
  FunctionTimeoutError,
  type FunctionUrlHandler,
  functionUrlListener,
  InvalidFunctionResponseError,
} from '../../lib/dev/function-url.js';
import { LAMBDA_MAX_INVOCATION_MS, MAX_TIMER_MS } from '../../lib/constants.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function serve(handler: FunctionUrlHandler, options: { timeoutMs?: number; onError?: (err: unknown) => void } = {}): Promise<number> {
  const server = createServer(functionUrlListener(handler, { functionName: 'fidelity', ...options }));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** The event the handler got for one raw request (headers as written, repeated ones too). */
async function eventOf(
  path: string,
  headers: Record<string, string | string[]>,
  body = '',
  method = body === '' ? 'GET' : 'POST',
): Promise<APIGatewayProxyEventV2> {
  let seen: APIGatewayProxyEventV2 | undefined;
  const port = await serve(async (event) => {
    seen = event;
    return { statusCode: 204 };
  });
  await new Promise<void>((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, method, headers }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end(body);
  });
  return seen!;
}

describe('the event: as Lambda builds it', () => {
  test('cookies are the cookies array, one a cookie, and the cookie header is kept, as a Function URL keeps it', async () => {
    // A live Function URL event has both (an HTTP API's has no cookie header): a handler parsing
    // the header found none here, and worked on AWS.
    const event = await eventOf('/x', { Cookie: ['a=1; b=2', 'c=3'] });
    expect(event.cookies).toEqual(['a=1', 'b=2', 'c=3']);
    expect(event.headers.cookie).toBe('a=1; b=2; c=3');
    expect((await eventOf('/x', { Cookie: 'session=abc123; theme=dark' })).headers.cookie).toBe('session=abc123; theme=dark');
  });

  test('no cookie header is no cookies array; an empty cookie between semicolons is not one', async () => {
    expect((await eventOf('/x', {})).cookies).toBeUndefined();
    expect((await eventOf('/x', { Cookie: 'a=1; ; b=2;' })).cookies).toEqual(['a=1', 'b=2']);
  });

  test('rawPath is the path as sent and requestContext.http.path the path decoded, both without the query; method, host and user agent as sent', async () => {
    const event = await eventOf('/objects/a%20b?x=1', { Host: 'objects.example', 'User-Agent': 'probe/1' }, '', 'DELETE');
    expect(event.rawPath).toBe('/objects/a%20b');
    // As a live Function URL event has them: rawPath "/capture/space%20value", http.path "/capture/space value".
    expect(event.requestContext.http.path).toBe('/objects/a b');
    expect((await eventOf('/objects/unicode-%CE%BB', {})).requestContext.http.path).toBe('/objects/unicode-λ');
    expect(event.requestContext.http.method).toBe('DELETE');
    expect(event.requestContext.domainName).toBe('objects.example');
    expect(event.requestContext.http.userAgent).toBe('probe/1');
  });

  test('requestContext.http.sourceIp is the IPv4 address, not its IPv6-mapped form, on a dual-stack listener', async () => {
    let seen: APIGatewayProxyEventV2 | undefined;
    const server = createServer(
      functionUrlListener(
        async (event) => {
          seen = event;
          return { statusCode: 204 };
        },
        { functionName: 'fidelity' },
      ),
    );
    servers.push(server);
    // Listening on '::' takes IPv4 connections too, which Node.js reports as ::ffff:127.0.0.1.
    await new Promise<void>((r) => server.listen(0, '::', () => r()));
    const { port } = server.address() as AddressInfo;
    await fetch(`http://127.0.0.1:${port}/objects/k`).then((res) => res.arrayBuffer());
    expect(seen!.requestContext.http.sourceIp).toBe('127.0.0.1');
  });

  test('the headers Lambda adds: x-forwarded-for (the client appended to one it sent), -proto, -port, and a trace id', async () => {
    let seen: APIGatewayProxyEventV2 | undefined;
    const port = await serve(async (event) => {
      seen = event;
      return { statusCode: 204 };
    });
    await fetch(`http://127.0.0.1:${port}/x`);
    expect(seen!.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen!.headers['x-forwarded-proto']).toBe('http');
    expect(seen!.headers['x-forwarded-port']).toBe(String(port));
    expect(seen!.headers['x-amzn-trace-id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    // What a client says is kept before what the front door saw, which is last; a trace id it sent is kept.
    await fetch(`http://127.0.0.1:${port}/x`, {
      headers: {
        'X-Forwarded-For': '203.0.113.7',
        'X-Forwarded-Proto': 'https',
        'X-Amzn-Trace-Id': 'Root=1-5759e988-bd862e3fe1be46a994272793',
      },
    });
    expect(seen!.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen!.headers['x-forwarded-proto']).toBe('http');
    expect(seen!.headers['x-amzn-trace-id']).toBe('Root=1-5759e988-bd862e3fe1be46a994272793');
  });

  test('a repeated header is its values joined with commas, every one of them', async () => {
    const event = await eventOf('/x', { Accept: ['text/plain', 'text/html'], 'X-Trace': ['a', 'b'] });
    expect(event.headers.accept).toBe('text/plain,text/html');
    expect(event.headers['x-trace']).toBe('a,b');
  });

  test('queryStringParameters: decoded, a repeated name joined with commas; absent without a query', async () => {
    const event = await eventOf('/x?uploadId=a%2Fb&partNumber=1&partNumber=2&flag', {});
    expect(event.rawQueryString).toBe('uploadId=a%2Fb&partNumber=1&partNumber=2&flag');
    expect(event.queryStringParameters).toEqual({ uploadId: 'a/b', partNumber: '1,2', flag: '' });
    expect((await eventOf('/x', {})).queryStringParameters).toBeUndefined();
  });

  test('queryStringParameters: a name that is also an object property (constructor, toString, __proto__) is a parameter as any other', async () => {
    // Lambda's event is JSON: each name an own property with its value. Looked up on a plain object,
    // `constructor` found Object's (the value became "function Object() { [native code] },a"), and
    // `__proto__` was set as the object's prototype: the parameter was gone.
    const event = await eventOf('/x?constructor=a&toString=b&toString=c&__proto__=d&hasOwnProperty=e', {});
    expect(JSON.parse(JSON.stringify(event.queryStringParameters))).toEqual({
      constructor: 'a',
      toString: 'b,c',
      ['__proto__']: 'd',
      hasOwnProperty: 'e',
    });
    expect(Object.getPrototypeOf(event.queryStringParameters)).toBe(Object.prototype);
  });

  test.each([
    ['application/json', false],
    ['application/json; charset=utf-8', false],
    ['text/plain', false],
    ['application/xml', false],
    ['application/javascript', false],
    ['application/octet-stream', true],
    ['application/x-www-form-urlencoded', true],
    ['image/png', true],
  ])('a body of %s is base64: %s', async (type, base64) => {
    const event = await eventOf('/x', { 'Content-Type': type }, '{"a":1}');
    expect(event.isBase64Encoded).toBe(base64);
    expect(event.body).toBe(base64 ? Buffer.from('{"a":1}').toString('base64') : '{"a":1}');
  });

  test('a body without a content type, or with a content coding, is base64', async () => {
    expect((await eventOf('/x', {}, 'hello')).isBase64Encoded).toBe(true);
    expect((await eventOf('/x', { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' }, 'hello')).isBase64Encoded).toBe(true);
  });

  test('a request without a body has no body, and isBase64Encoded false', async () => {
    const event = await eventOf('/x', {});
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
  });

  test("requestContext.requestId is the invocation's awsRequestId, the id its logs carry", async () => {
    const seen: Array<{ requestId: string; awsRequestId: string }> = [];
    const port = await serve(async (event, context) => {
      seen.push({ requestId: event.requestContext.requestId, awsRequestId: context.awsRequestId });
      return { statusCode: 204 };
    });
    await fetch(`http://127.0.0.1:${port}/x`);
    await fetch(`http://127.0.0.1:${port}/x`);
    expect(seen[0]!.requestId).toBe(seen[0]!.awsRequestId);
    expect(seen[1]!.requestId).toBe(seen[1]!.awsRequestId);
    expect(seen[1]!.requestId).not.toBe(seen[0]!.requestId);
  });

  test('requestContext.time is in the common log format Lambda writes', async () => {
    const event = await eventOf('/x', {});
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  test('requestContext.time and timeEpoch are the time of the request, to the second', async () => {
    const before = Date.now();
    const event = await eventOf('/x', {});
    const after = Date.now();
    const { timeEpoch, time } = event.requestContext;
    expect(timeEpoch).toBeGreaterThanOrEqual(before);
    expect(timeEpoch).toBeLessThanOrEqual(after);
    const [, day, month, year, hours, minutes, seconds] = /^(\d+)\/(\w+)\/(\d+):(\d+):(\d+):(\d+) \+0000$/.exec(time)!;
    const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
    const at = Date.UTC(Number(year), months.indexOf(month!), Number(day), Number(hours), Number(minutes), Number(seconds));
    expect(at).toBe(Math.floor(timeEpoch / 1_000) * 1_000);
  });
});

describe('the response: as Lambda reads the result', () => {
  test('a result without statusCode is a 200 of its JSON, as application/json', async () => {
    const result: unknown = { body: 'hello' };
    const port = await serve(async () => result as never);
    const object = await fetch(`http://127.0.0.1:${port}/x`);
    expect(object.status).toBe(200);
    expect(object.headers.get('content-type')).toBe('application/json');
    expect(await object.text()).toBe('{"body":"hello"}');
  });

  test("every answer of an invocation carries x-amzn-requestid, the invocation's awsRequestId, a failed one's too", async () => {
    // A Function URL's answer names the invocation (recorded against AWS by LocalStack's validated
    // tests: its x-amzn-RequestId is the id of the END line in the function's log).
    const ids: string[] = [];
    let fail = false;
    const port = await serve(async (_event, context) => {
      ids.push(context.awsRequestId);
      if (fail) throw new Error('handler failed');
      return { statusCode: 200, body: 'hi' };
    });
    const ok = await fetch(`http://127.0.0.1:${port}/x`);
    expect(ok.headers.get('x-amzn-requestid')).toBe(ids[0]);
    fail = true;
    const failed = await fetch(`http://127.0.0.1:${port}/x`);
    expect(failed.status).toBe(502);
    expect(failed.headers.get('x-amzn-requestid')).toBe(ids[1]);
  });

  test('a result that names no content type is answered as application/json; one it names is kept', async () => {
    // A Function URL answers { statusCode: 200, body: "body123" } with Content-Type
    // application/json (recorded against AWS by LocalStack's validated tests); here it had none.
    let result: unknown = { statusCode: 200, body: 'body123' };
    const port = await serve(async () => result as never);
    const plain = await fetch(`http://127.0.0.1:${port}/x`);
    expect(plain.headers.get('content-type')).toBe('application/json');
    expect(await plain.text()).toBe('body123');
    result = { statusCode: 204 };
    expect((await fetch(`http://127.0.0.1:${port}/x`)).headers.get('content-type')).toBe('application/json');
    result = { statusCode: 200, headers: { 'Content-Type': 'text/plain' }, body: 'body123' };
    expect((await fetch(`http://127.0.0.1:${port}/x`)).headers.get('content-type')).toBe('text/plain');
  });

  test('a string result is a 200 of the string itself, not its JSON; a number, a boolean, a list are their JSON', async () => {
    // As a Function URL answers them (recorded against AWS by LocalStack's validated tests):
    // "hello" is 5 bytes, hello; 3 is 3; [..] its compact JSON. A client of a handler that
    // answered a string read it quoted here and bare on AWS.
    let result: unknown = 'Hello, wörld!';
    const port = await serve(async () => result as never);
    const text = await fetch(`http://127.0.0.1:${port}/x`);
    expect(text.status).toBe(200);
    expect(text.headers.get('content-type')).toBe('application/json');
    expect(await text.text()).toBe('Hello, wörld!');
    for (const [value, body] of [
      [3, '3'],
      [3.1, '3.1'],
      [true, 'true'],
      [['hello', 3, true], '["hello",3,true]'],
    ] as const) {
      result = value;
      expect(await (await fetch(`http://127.0.0.1:${port}/x`)).text()).toBe(body);
    }
  });

  test('the result is read as its JSON, as the runtime sends it: what JSON drops is not in the response', async () => {
    let result: unknown = { statusCode: 200, headers: { 'x-present': 'yes', 'x-absent': undefined }, body: 'ok' };
    const port = await serve(async () => result as never);
    const answer = await fetch(`http://127.0.0.1:${port}/x`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-present')).toBe('yes');
    expect(answer.headers.has('x-absent')).toBe(false); // not "undefined"
    expect(await answer.text()).toBe('ok');
    // A statusCode that JSON drops: no statusCode, so a 200 of the result's JSON.
    result = { statusCode: undefined, body: 'b' };
    const dropped = await fetch(`http://127.0.0.1:${port}/x`);
    expect(dropped.status).toBe(200);
    expect(await dropped.text()).toBe('{"body":"b"}');
  });

  test('a handler that returns nothing is a 200 of null, as application/json', async () => {
    const port = await serve(async () => undefined);
    const answer = await fetch(`http://127.0.0.1:${port}/x`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json');
    expect(await answer.text()).toBe('null');
  });

  test('a null body is no body', async () => {
    const port = await serve(async () => ({ statusCode: 200, body: null }) as never);
    const answer = await fetch(`http://127.0.0.1:${port}/x`);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe('');
  });

  test('cookies are set-cookie headers beside a set-cookie header of the result', async () => {
    const port = await serve(async () => ({ statusCode: 200, headers: { 'Set-Cookie': 'h=0' }, cookies: ['a=1'], body: 'ok' }));
    expect((await fetch(`http://127.0.0.1:${port}/x`)).headers.getSetCookie()).toEqual(['h=0', 'a=1']);
  });

  test.each([
    ['a string', 'a=1'],
    ['an object', { a: '1' }],
    ['a list with a number', ['a=1', 2]],
  ])(
    'cookies that are not a list of strings (%s) are a 502, told to onError, not set-cookie headers of their characters',
    async (_, cookies) => {
      // A string was spread into its characters: cookies 'a=1' sent set-cookie `a`, `=` and `1`.
      const errors: unknown[] = [];
      const port = await serve(async () => ({ statusCode: 200, cookies, body: 'ok' }) as never, { onError: (err) => errors.push(err) });
      const answer = await fetch(`http://127.0.0.1:${port}/x`);
      expect(answer.status).toBe(502);
      expect(answer.headers.getSetCookie()).toEqual([]);
      expect(errors[0]).toBeInstanceOf(InvalidFunctionResponseError);
    },
  );

  test('cookies are set-cookie headers, one each', async () => {
    const port = await serve(async () => ({ statusCode: 201, cookies: ['a=1; Max-Age=60', 'b=2'], body: 'ok' }));
    const answer = await fetch(`http://127.0.0.1:${port}/x`);
    expect(answer.status).toBe(201);
    expect(answer.headers.getSetCookie()).toEqual(['a=1; Max-Age=60', 'b=2']);
  });

  test("the body is framed by its own length, whatever Content-Length the result names (Lambda sends the body's)", async () => {
    // A handler that counts the string's characters, not its bytes: on AWS the client gets the
    // body whole; here the client got 4 of its 5 bytes, and the 5th began the connection's next answer.
    let result: unknown = { statusCode: 200, headers: { 'Content-Length': String('café'.length) }, body: 'café' };
    const port = await serve(async () => result as never);
    const raw = () =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request({ port, host: '127.0.0.1', path: '/x', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        });
        req.setTimeout(5_000, () => req.destroy(new Error('no whole answer in 5 s')));
        req.on('error', reject);
        req.end();
      });
    const short = await raw();
    expect(short.body).toBe('café');
    expect(short.headers['content-length']).toBe('5');
    result = { statusCode: 200, headers: { 'content-length': '100' }, body: 'hello' }; // longer: the client waited for ever
    expect(await raw()).toMatchObject({ status: 200, body: 'hello', headers: { 'content-length': '5' } });
    result = { statusCode: 201, body: 'hello' }; // none: a length, as Lambda answers, not chunks
    const plain = await raw();
    expect(plain.headers['content-length']).toBe('5');
    expect(plain.headers['transfer-encoding']).toBeUndefined();
  });

  test('a statusCode given as a string of digits is that status, as a Function URL answers it', async () => {
    // Lambda answers { statusCode: "418", body: "i'm a teapot" } with a 418 (checked against AWS by
    // LocalStack's validated tests): a handler that sent its status as text failed here only.
    const errors: unknown[] = [];
    const port = await serve(async () => ({ statusCode: '418', body: "i'm a teapot" }) as never, { onError: (err) => errors.push(err) });
    const answer = await fetch(`http://127.0.0.1:${port}/x`);
    expect(answer.status).toBe(418);
    expect(await answer.text()).toBe("i'm a teapot");
    expect(errors).toEqual([]);
  });

  test.each([42, 99, 600, 200.5, '600', 'ok', ''])(
    'a statusCode that is not an HTTP status (%s) is a 502, told to onError',
    async (statusCode) => {
      const errors: unknown[] = [];
      const port = await serve(async () => ({ statusCode }), { onError: (err) => errors.push(err) });
      expect((await fetch(`http://127.0.0.1:${port}/x`)).status).toBe(502);
      expect(errors[0]).toBeInstanceOf(InvalidFunctionResponseError);
    },
  );

  test.each([100, 101, 103, 199, '103'])(
    'an informational statusCode (%s) is no final response: a 502 at once, told to onError, not an interim answer the client waits past',
    async (statusCode) => {
      // Sent as the response, a 1xx was taken by the client as interim: it waited for an answer that
      // never came until the idle connection was closed under it (fetch: "other side closed").
      const errors: unknown[] = [];
      const port = await serve(async () => ({ statusCode, body: 'early' }) as never, { onError: (err) => errors.push(err) });
      const answer = await fetch(`http://127.0.0.1:${port}/x`, { signal: AbortSignal.timeout(2_000) });
      expect(answer.status).toBe(502);
      expect(await answer.text()).toBe('Internal Server Error');
      expect(errors[0]).toBeInstanceOf(InvalidFunctionResponseError);
    },
  );

  test('the handler is told its function name and the time left of its timeout (30 s unless set)', async () => {
    const seen: Array<{ name: string; left: number }> = [];
    const handler: FunctionUrlHandler = async (_event, context) => {
      seen.push({ name: context.functionName, left: context.getRemainingTimeInMillis() });
      return { statusCode: 204 };
    };
    await fetch(`http://127.0.0.1:${await serve(handler, { timeoutMs: 5_000 })}/x`);
    await fetch(`http://127.0.0.1:${await serve(handler)}/x`);
    expect(seen.map(({ name }) => name)).toEqual(['fidelity', 'fidelity']);
    expect(seen[0]!.left).toBeGreaterThan(0);
    expect(seen[0]!.left).toBeLessThanOrEqual(5_000);
    expect(seen[1]!.left).toBeGreaterThan(5_000);
    expect(seen[1]!.left).toBeLessThanOrEqual(30_000);
  });

  test('a handler past its timeout is answered 502 at the timeout, told to onError', async () => {
    const errors: unknown[] = [];
    const port = await serve(() => new Promise((resolve) => setTimeout(() => resolve({ statusCode: 200, body: 'late' }), 2_000)), {
      timeoutMs: 200,
      onError: (err) => errors.push(err),
    });
    const answer = await fetch(`http://127.0.0.1:${port}/x`);
    expect(answer.status).toBe(502);
    expect(errors[0]).toBeInstanceOf(FunctionTimeoutError);
    expect((errors[0] as FunctionTimeoutError).timeoutMs).toBe(200);
  });

  test('a function that fails (throws, answers what is no response, runs past its timeout) is a 502 whose body is "Internal Server Error"', async () => {
    // A client that read the 502's body as JSON passed here and threw on AWS, whose body is these words.
    let failure: () => Promise<unknown> = async () => {
      throw new Error('handler failed');
    };
    const port = await serve(() => failure() as never, { timeoutMs: 200 });
    const failures = [failure, async () => ({ statusCode: 42 }), () => new Promise((r) => setTimeout(() => r({ statusCode: 200 }), 1_000))];
    for (const next of failures) {
      failure = next;
      const answer = await fetch(`http://127.0.0.1:${port}/x`);
      expect(answer.status).toBe(502);
      expect(await answer.text()).toBe('Internal Server Error');
    }
  });

  test('an onError that throws (a log line of a circular error) leaves no request unanswered, and ends no process', async () => {
    const told: unknown[] = [];
    const port = await serve(
      async () => {
        throw new Error('handler failed');
      },
      {
        onError: (err) => {
          told.push(err);
          const circular: Record<string, unknown> = { err };
          circular.self = circular;
          JSON.stringify(circular);
        },
      },
    );
    for (let i = 0; i < 2; i++) {
      const answer = await fetch(`http://127.0.0.1:${port}/x`, { signal: AbortSignal.timeout(5_000) });
      expect(answer.status).toBe(502);
      // What a Function URL answers a function that failed (LocalStack's tests validated against AWS): these words, not JSON.
      expect(await answer.text()).toBe('Internal Server Error');
    }
    expect(told).toHaveLength(2);
    expect((told[0] as Error).message).toBe('handler failed');
  });

  test.each([
    ['Infinity (no timeout meant)', Number.POSITIVE_INFINITY],
    ["past Node's longest timer", MAX_TIMER_MS + 1],
    ["past a Lambda invocation's 15 minutes (a handler told so refuses every request)", LAMBDA_MAX_INVOCATION_MS + 1],
    ['0', 0],
    ['negative', -1],
    ['not a number', Number.NaN],
  ])('a timeout %s is refused with a ValidationError naming it: Node would fire it after 1 ms, every request a 502', (_what, timeoutMs) => {
    expect(() => functionUrlListener(async () => ({ statusCode: 204 }), { functionName: 'f', timeoutMs })).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'timeoutMs' }),
    );
  });

  test.each([
    ['an object (a logger given for its method)', { error() {} }],
    ['a string', 'console.error'],
  ])(
    'an onError that is %s is refused with a ValidationError naming it: each failure was a warning "onError threw: TypeError", its error lost',
    (_what, onError) => {
      const options = { functionName: 'f', onError } as unknown as { functionName: string };
      expect(() => functionUrlListener(async () => ({ statusCode: 204 }), options)).toThrow(
        expect.objectContaining({ name: 'ValidationError', field: 'onError' }),
      );
    },
  );

  test.each<[string, unknown, unknown, string]>([
    [
      'a handler that is no function (a module), every request a 502 of its TypeError',
      { handler: async () => ({}) },
      { functionName: 'f' },
      'handler',
    ],
    ['options left out, a TypeError reading onError', async () => ({}), undefined, 'options'],
    ['no functionName, "undefined" in its context, ARN and log group', async () => ({}), {}, 'functionName'],
    ['a blank functionName', async () => ({}), { functionName: ' ' }, 'functionName'],
    ['a functionName that is no string', async () => ({}), { functionName: 42 }, 'functionName'],
  ])('%s: refused with a ValidationError naming it when the listener is made', (_what, handler, options, field) => {
    const make = functionUrlListener as (handler: unknown, options: unknown) => unknown;
    expect(() => make(handler, options)).toThrow(expect.objectContaining({ name: 'ValidationError', field }));
  });

  test('a misspelt option (timeout for timeoutMs) is refused, not left at 30 s', () => {
    const options = { functionName: 'f', timeout: 60_000 } as unknown as { functionName: string };
    expect(() => functionUrlListener(async () => ({ statusCode: 204 }), options)).toThrow(
      expect.objectContaining({ name: 'ValidationError', field: 'timeout' }),
    );
  });

  test("the longest timeout, a Lambda invocation's 15 minutes, is taken, and the handler is told that much time left", async () => {
    let left = 0;
    const handler: FunctionUrlHandler = async (_event, context) => {
      left = context.getRemainingTimeInMillis();
      return { statusCode: 204 };
    };
    const answer = await fetch(`http://127.0.0.1:${await serve(handler, { timeoutMs: LAMBDA_MAX_INVOCATION_MS })}/x`);
    expect(answer.status).toBe(204);
    expect(left).toBeGreaterThan(LAMBDA_MAX_INVOCATION_MS - 60_000);
  });
});
