/**
 * The default clients give up a request the network lost instead of waiting for the Lambda
 * function's timeout: a server that accepts the connection and never answers stands for it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { DescribeTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DYNAMODB_SOCKET_TIMEOUT_MS, S3_SOCKET_TIMEOUT_MS } from '../../lib/constants.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { createSnapshotAuditHandler } from '../../lib/handlers/snapshot-audit.js';
import { Logger } from '@aws-lambda-powertools/logger';
import { freshFixture } from '../support/local.js';
import { makeWriter, randomBody } from '../tiered/harness.js';
import { httpEvent, lambdaContext } from '../functions/lambda.js';
import { ConfigError } from '../../lib/errors.js';
import { CommandRecorder } from '../../lib/faults/command-recorder.js';
import { runCli } from '../../lib/cli/program.js';
import { configToEnv } from '../../lib/config.js';
import { capture } from '../cli/helpers.js';

/** A TCP server that takes every connection and request and answers nothing. */
let silent: Server;
let silentUrl: string;
const sockets: Socket[] = [];
let requestsSeen = 0;

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk) => {
      if (/^(GET|POST|PUT|DELETE|HEAD) /.test(chunk.toString('latin1'))) requestsSeen++;
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const address = silent.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  silentUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

/** `promise`'s rejection, or a failure naming the wait when it is still pending after `ms`. */
async function rejectionWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms: no timeout`)), ms);
  });
  try {
    await Promise.race([promise, hung]);
  } catch (err) {
    return err;
  } finally {
    clearTimeout(timer);
  }
  throw new Error('the request succeeded against a server that answers nothing');
}

/** The S3 clients that send a request until `spy.mockRestore()` (the SDK's own `send`, spied on). */
function s3ClientsSending(): { used: Set<S3Client>; spy: { mockRestore(): void } } {
  const used = new Set<S3Client>();
  const send = S3Client.prototype.send;
  const spy = vi.spyOn(S3Client.prototype, 'send').mockImplementation(function (this: S3Client, ...args: unknown[]) {
    used.add(this);
    return (send as (...a: unknown[]) => Promise<unknown>).apply(this, args);
  } as never);
  return { used, spy };
}

describe('the default clients time out a request nobody answers', () => {
  it.each([
    {
      service: 'DynamoDB',
      variable: 'AWS_ENDPOINT_URL_DYNAMODB',
      send: () => {
        const client = createDynamoDBClient({ socketTimeoutMs: 300 });
        return { client, sent: client.send(new GetItemCommand({ TableName: 't', Key: { pk: { S: 'k' } } })) };
      },
    },
    {
      service: 'S3',
      variable: 'AWS_ENDPOINT_URL_S3',
      send: () => {
        const client = createS3Client({ socketTimeoutMs: 300 });
        return { client, sent: client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })) };
      },
    },
  ])('$service: TimeoutError after the SDK sent it again, not a wait for the function timeout', async ({ variable, send }) => {
    vi.stubEnv(variable, silentUrl);
    vi.stubEnv('AWS_MAX_ATTEMPTS', '2');
    const before = requestsSeen;
    const { client, sent } = send();
    try {
      const err = await rejectionWithin(sent, 15_000);
      expect((err as Error).name).toBe('TimeoutError');
      // The SDK took the timeout for a transient error and sent the request a second time.
      expect(requestsSeen - before).toBe(2);
    } finally {
      client.destroy();
      vi.unstubAllEnvs();
    }
  });
});

/** A logger that says nothing (the handler's errors are asserted on its answers). */
const quietLogger = { addContext: () => undefined, error: () => undefined, warn: () => undefined, info: () => undefined } as never;

/** The options the client's Node request handler resolved (on its first request). */
function handlerOptions(client: { config: { requestHandler: unknown } }): Record<string, unknown> {
  return (client.config.requestHandler as { httpHandlerConfigs(): Record<string, unknown> }).httpHandlerConfigs();
}

describe('timeouts of the default clients', () => {
  it('are the documented defaults when none is given', async () => {
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    try {
      // The handler resolves its options on its first request; the local stack answers it.
      await dynamodb.send(new GetItemCommand({ TableName: 'no-such-table', Key: { pk: { S: 'k' } } })).catch(() => undefined);
      await s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })).catch(() => undefined);
      expect(handlerOptions(dynamodb)).toMatchObject({ socketTimeout: DYNAMODB_SOCKET_TIMEOUT_MS });
      // None for S3 unless asked: a body its reader pauses (a stream piped to a slow client) is idle too.
      expect(handlerOptions(s3).socketTimeout).toBeUndefined();
      // None: the SDK's would count a request's wait for a free socket of the pool (behind large uploads).
      expect(handlerOptions(dynamodb).connectionTimeout).toBeUndefined();
      expect(handlerOptions(s3).connectionTimeout).toBeUndefined();
      const opted = createDynamoDBClient({ connectionTimeoutMs: 2_000 });
      try {
        await opted.send(new GetItemCommand({ TableName: 'no-such-table', Key: { pk: { S: 'k' } } })).catch(() => undefined);
        expect(handlerOptions(opted)).toMatchObject({ connectionTimeout: 2_000, socketTimeout: DYNAMODB_SOCKET_TIMEOUT_MS });
      } finally {
        opted.destroy();
      }
    } finally {
      dynamodb.destroy();
      s3.destroy();
    }
  });

  it.each([0, -1, 1.5, Number.NaN])('refuse %s ms with a ConfigError naming the option', (bad) => {
    expect(() => createDynamoDBClient({ socketTimeoutMs: bad })).toThrow(ConfigError);
    expect(() => createS3Client({ connectionTimeoutMs: bad })).toThrow(/connectionTimeoutMs must be a positive whole number/);
  });
});

describe("the objects API function's S3 client", () => {
  it('gives up an idle socket after S3_SOCKET_TIMEOUT_MS: every body it answers is read at once', async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    try {
      await w.store.put('timeouts/blob', randomBody(40 * 1024));
    } finally {
      w.close();
    }
    const { used, spy } = s3ClientsSending();
    try {
      const handler = createObjectsHandler({ config: fx.config, logger: quietLogger });
      const res = await handler(httpEvent('GET', '/objects/timeouts/blob'), lambdaContext('tierlog-objects'));
      expect((res as { statusCode: number }).statusCode).toBe(200);
    } finally {
      spy.mockRestore();
    }
    expect(used.size).toBe(1);
    expect(handlerOptions([...used][0]!)).toMatchObject({ socketTimeout: S3_SOCKET_TIMEOUT_MS });
  });
});

/**
 * The snapshot audit's function lists the inventory partitions, checks proposed blobs live and
 * deletes confirmed orphans: no body it reads is streamed to anyone. Without an idle timeout, an
 * answer the network lost (a keep-alive socket dropped while the environment was frozen) held the
 * batch until the function's 5-minute timeout, which fails the Distributed Map's batch and the
 * run, instead of a request the SDK sends again.
 */
describe("the snapshot audit function's S3 client", () => {
  it("gives up an idle socket after S3_SOCKET_TIMEOUT_MS, as the objects function's does", async () => {
    const fx = await freshFixture();
    const { used, spy } = s3ClientsSending();
    try {
      const handler = createSnapshotAuditHandler({
        config: fx.config,
        settings: { olderThanMs: 3_600_000, delete: false },
        location: { bucket: fx.config.bucket, inventoryHivePrefix: 'inventory/hive', database: 'tierlog_audit' },
        logger: new Logger({ logLevel: 'CRITICAL' }),
      });
      const exported = (table: string) => ({
        ExportArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${table}/export/01767225600000-0123abcd`,
        ExportTime: Date.now(),
      });
      // No inventory partition in the bucket: the plan fails after its listing, which is all this needs.
      await handler({
        action: 'plan',
        objectsExport: exported(fx.config.objectsTable),
        changeLogExport: exported(fx.config.changeLogTable),
      }).catch(() => undefined);
    } finally {
      spy.mockRestore();
    }
    expect(used.size).toBe(1);
    expect(handlerOptions([...used][0]!)).toMatchObject({ socketTimeout: S3_SOCKET_TIMEOUT_MS });
  });
});

/**
 * The CLI's commands stream no S3 body to anyone and have no deadline of their own (`tierlog
 * audit`, `tierlog sweep` by hand or from a cron job). With the default S3 client's no idle
 * timeout, an answer the network lost held the command without end (until Ctrl-C twice, or the
 * job's own timeout), where its DynamoDB requests are given up and sent again.
 */
describe("the CLI's own S3 client", () => {
  it('gives up a request nobody answers after S3_SOCKET_TIMEOUT_MS: tierlog audit fails with a TimeoutError, not a wait without end', async () => {
    const fx = await freshFixture();
    vi.stubEnv('AWS_ENDPOINT_URL_S3', silentUrl);
    vi.stubEnv('AWS_MAX_ATTEMPTS', '1');
    const c = capture();
    try {
      // The DynamoDB client is the fixture's (the local stack); the S3 one the CLI makes, toward a silence.
      const run = runCli(['audit', '--json'], { io: c.io, env: configToEnv(fx.config), dynamodb: fx.dynamodb });
      const code = await Promise.race([
        run,
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), S3_SOCKET_TIMEOUT_MS + 5_000)),
      ]);
      expect(code).toBe(1);
      expect(JSON.parse(c.out()).error.name).toBe('TimeoutError');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('createObjectsHandler with clients of the caller', () => {
  it('sends every request of the store and its change log through the clients it is given (one wrapped for tracing, say)', async () => {
    const fx = await freshFixture();
    const recorder = new CommandRecorder();
    const dynamodb = recorder.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = recorder.attach(createS3Client({ socketTimeoutMs: S3_SOCKET_TIMEOUT_MS }), 's3');
    const handler = createObjectsHandler({ config: fx.config, logger: quietLogger, dynamodb, s3 });
    const context = lambdaContext('tierlog-objects');
    const body = Buffer.from(randomBody(40 * 1024)).toString('base64');
    const put = await handler(
      httpEvent('PUT', '/objects/clients/blob', { body, isBase64Encoded: true, headers: { 'content-type': 'application/octet-stream' } }),
      context,
    );
    expect((put as { statusCode: number }).statusCode).toBe(201);
    const get = await handler(httpEvent('GET', '/objects/clients/blob'), context);
    expect((get as { statusCode: number }).statusCode).toBe(200);
    const sent = new Set(recorder.commands.map((c) => `${c.service}:${c.command}`));
    // The large put's record and commit (the log), its upload, and the read's GetItem and GetObject.
    for (const command of ['dynamodb:UpdateItem', 'dynamodb:TransactWriteItems', 'dynamodb:GetItem', 's3:PutObject', 's3:GetObject']) {
      expect(sent).toContain(command);
    }
  });
});

describe('the default S3 client reads its endpoint as the SDK does', () => {
  /** The local S3 server's endpoint, which the global setup exports as the S3 variable. */
  const localS3 = (): string => {
    const url = process.env.AWS_ENDPOINT_URL_S3;
    if (url === undefined || url === '') throw new Error('the global setup exported no S3 endpoint');
    return url;
  };

  it.each([
    {
      set: 'only the global AWS_ENDPOINT_URL (as LocalStack users do)',
      env: (url: string) => ({ AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: url }),
    },
    { set: 'the service variable', env: (url: string) => ({ AWS_ENDPOINT_URL_S3: url, AWS_ENDPOINT_URL: '' }) },
  ])('reaches a local server named by $set, path-style', async ({ env }) => {
    const fx = await freshFixture();
    const url = localS3();
    for (const [name, value] of Object.entries(env(url))) vi.stubEnv(name, value);
    const s3 = createS3Client();
    try {
      // Virtual-hosted style would ask `<bucket>.127.0.0.1`, which no local server answers.
      expect(await s3.config.forcePathStyle).toBe(true);
      await s3.send(new HeadBucketCommand({ Bucket: fx.config.bucket }));
    } finally {
      s3.destroy();
      vi.unstubAllEnvs();
    }
  });

  it.each([
    { set: 'no endpoint variable', env: { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '' } },
    { set: 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true', env: { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' } },
  ])('addresses AWS virtual-hosted style with $set', async ({ env }) => {
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    const s3 = createS3Client();
    try {
      expect(await s3.config.forcePathStyle).toBe(false);
    } finally {
      s3.destroy();
      vi.unstubAllEnvs();
    }
  });
});

describe('the default clients keep the endpoints the environment named when they were made', () => {
  it.each([
    { put: 'a closed port (the stack stopped, its port free)', url: 'http://127.0.0.1:1' },
    { put: 'no endpoint at all (the shell has none: the SDK would go to AWS)', url: '' },
  ])('answer from the local servers after the variables are changed to $put', async ({ url }) => {
    const fx = await freshFixture();
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    try {
      // What stop() of a local stack does: the variables go back to the shell's values.
      for (const name of ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) vi.stubEnv(name, url);
      const described = await dynamodb.send(new DescribeTableCommand({ TableName: fx.config.changeLogTable }));
      expect(described.Table?.TableName).toBe(fx.config.changeLogTable);
      await s3.send(new HeadBucketCommand({ Bucket: fx.config.bucket }));
      expect(await s3.config.forcePathStyle).toBe(true);
    } finally {
      dynamodb.destroy();
      s3.destroy();
      vi.unstubAllEnvs();
    }
  });
});

describe("the default clients' retries", () => {
  // A mode fixed at standard ignored AWS_RETRY_MODE in silence (the SDK's own clients honour it):
  // an operator who asked for adaptive mode's client-side rate limit, for a job that meets throttling, had none.
  it.each([
    { value: 'adaptive', mode: 'adaptive' },
    { value: 'standard', mode: 'standard' },
    { value: '', mode: 'standard' },
  ])('AWS_RETRY_MODE=$value gives the $mode mode, with the attempts of AWS_MAX_ATTEMPTS', async ({ value, mode }) => {
    vi.stubEnv('AWS_RETRY_MODE', value);
    vi.stubEnv('AWS_MAX_ATTEMPTS', '3');
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    try {
      for (const client of [dynamodb, s3]) {
        const strategy = (await client.config.retryStrategy()) as { mode?: string };
        expect(strategy.mode).toBe(mode);
        expect(await client.config.maxAttempts()).toBe(3);
      }
    } finally {
      dynamodb.destroy();
      s3.destroy();
      vi.unstubAllEnvs();
    }
  });

  it.each([
    { value: '2', attempts: 2 },
    { value: '', attempts: 5 },
  ])('AWS_MAX_ATTEMPTS="$value" gives $attempts attempts (5 when unset)', async ({ value, attempts }) => {
    vi.stubEnv('AWS_MAX_ATTEMPTS', value);
    const dynamodb = createDynamoDBClient();
    const s3 = createS3Client();
    try {
      expect(await dynamodb.config.maxAttempts()).toBe(attempts);
      expect(await s3.config.maxAttempts()).toBe(attempts);
    } finally {
      dynamodb.destroy();
      s3.destroy();
      vi.unstubAllEnvs();
    }
  });

  // Taken as 5 in silence until 2026-12-05: a typo meant to stop retries gave five.
  it.each(['0', '-3', '2.5', 'many', '1O', '1e3'])('AWS_MAX_ATTEMPTS=%s is refused by either client, naming it', (value) => {
    vi.stubEnv('AWS_MAX_ATTEMPTS', value);
    try {
      for (const make of [createDynamoDBClient, createS3Client]) {
        expect(() => make()).toThrow(ConfigError);
        expect(() => make()).toThrow(`AWS_MAX_ATTEMPTS must be a whole number of attempts, 1 or more; got ${JSON.stringify(value)}`);
      }
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
