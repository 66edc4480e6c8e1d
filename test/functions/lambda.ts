/**
 * Real Lambda event and context shapes for the handler tests, and loading a handler module
 * fresh against a fixture's configuration (the handlers read `loadConfig()` at module load).
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2, Context, ScheduledEvent } from 'aws-lambda';
import { vi } from 'vitest';
import { handleObjectsRequest } from '../../lib/api/objects-http.js';
import { configToEnv } from '../../lib/config.js';
import type { TieredStore } from '../../lib/tiered/tiered-store.js';
import type { Fixture } from '../support/local.js';

/**
 * A Lambda context of a function in DynamoDB Local's account (`000000000000`, the account of its
 * stream ARNs), as a deployed function shares its objects table's account.
 */
export function lambdaContext(functionName: string, remainingMs = 60_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:eu-west-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2025/01/01/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** A Function URL / HTTP API (payload 2.0) event. */
export function httpEvent(
  method: string,
  rawPath: string,
  options: { headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean; query?: string } = {},
): APIGatewayProxyEventV2 {
  const now = new Date();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: options.query ?? '',
    headers: {
      host: 'abcdefghij.lambda-url.eu-west-1.on.aws',
      'user-agent': 'vitest',
      'x-forwarded-proto': 'https',
      ...(options.headers ?? {}),
    },
    requestContext: {
      accountId: 'anonymous',
      apiId: 'abcdefghij',
      domainName: 'abcdefghij.lambda-url.eu-west-1.on.aws',
      domainPrefix: 'abcdefghij',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: options.isBase64Encoded ?? false,
  };
}

/** `method /objects/<key>` answered by the objects API over `store`, with a binary body sent base64 as Lambda does. */
export function objectsRequest(
  store: TieredStore,
  method: string,
  key: string,
  init: { body?: Uint8Array; headers?: Record<string, string> } = {},
): ReturnType<typeof handleObjectsRequest> {
  return handleObjectsRequest(
    store,
    httpEvent(method, `/objects/${key}`, {
      ...(init.headers !== undefined ? { headers: init.headers } : {}),
      ...(init.body !== undefined ? { body: Buffer.from(init.body).toString('base64'), isBase64Encoded: true } : {}),
    }),
  );
}

/** An EventBridge scheduled event, with extra fields (e.g. `shards`) merged in. */
export function scheduledEvent(extra: Record<string, unknown> = {}): ScheduledEvent & Record<string, unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: ['arn:aws:events:eu-west-1:123456789012:rule/tierlog-sweeper'],
    detail: {},
    ...extra,
  };
}

/** Sets `TIERLOG_*` (and `extra`) for `fx`, imports a fresh copy of the module; returns a restore function. */
export async function loadHandler<M>(
  fx: Fixture,
  importer: () => Promise<M>,
  extra: Record<string, string> = {},
): Promise<{ mod: M; restore: () => void }> {
  const env = { ...configToEnv(fx.config), ...extra };
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  vi.resetModules();
  const mod = await importer();
  return {
    mod,
    restore: () => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    },
  };
}

/** The JSON lines of a captured output (Powertools' log lines, EMF documents), parsed; other lines left out. */
export function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Captures what is written to stdout (`out`: EMF metrics, info logs) and to stderr (`err`: the
 * logger's warnings and errors) while `fn` runs; neither reaches the test output.
 */
export async function captureStdout<T>(fn: () => Promise<T>): Promise<{ result?: T; error?: unknown; out: string; err: string }> {
  const chunks: string[] = [];
  const errChunks: string[] = [];
  const sinkInto = (into: string[]) =>
    ((chunk: unknown) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(sinkInto(chunks));
  const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation(sinkInto(errChunks));
  try {
    return { result: await fn(), out: chunks.join(''), err: errChunks.join('') };
  } catch (error) {
    return { error, out: chunks.join(''), err: errChunks.join('') };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
  }
}
