/**
 * Helpers of the CLI tests: a capturing output sink, running the CLI in-process against a
 * fixture (its configuration through the environment, as the binary gets it), and raw writes
 * that set up the change log, HV and LT from outside the library.
 */
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { v7 as uuidv7 } from 'uuid';
import { configToEnv } from '../../lib/config.js';
import { auditCommand } from '../../lib/cli/audit.js';
import type { CliIO } from '../../lib/cli/common.js';
import { runCli } from '../../lib/cli/program.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';

export const HOUR = 60 * 60_000;

export interface Captured {
  readonly io: CliIO;
  readonly out: () => string;
  readonly err: () => string;
}

/** A sink that keeps what is written; `tty` makes stderr look like a terminal. */
export function capture(options: { tty?: boolean } = {}): Captured {
  let out = '';
  let err = '';
  const io: CliIO = {
    stdout: { write: (s: string) => ((out += s), true) },
    stderr: Object.assign({ write: (s: string) => ((err += s), true) }, options.tty ? { isTTY: true, columns: 120 } : {}),
  };
  return { io, out: () => out, err: () => err };
}

export interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** What {@link cli} runs with beside the fixture: a clock, more variables, an interrupt (Ctrl-C). */
export interface CliOptions {
  readonly clock?: () => number;
  readonly env?: Record<string, string>;
  readonly signal?: AbortSignal;
}

/** Runs `tierlog <argv>` in-process against `fx`, with the fixture's clients and `clock`. */
export async function cli(fx: Fixture, argv: string[], options: CliOptions = {}): Promise<CliRun> {
  const c = capture();
  const code = await runCli(argv, {
    io: c.io,
    env: { ...configToEnv(fx.config), ...options.env },
    dynamodb: fx.dynamodb,
    s3: fx.s3,
    ...(options.clock !== undefined ? { clock: options.clock } : {}),
    ...(options.signal !== undefined ? { signal: options.signal } : {}),
  });
  return { code, out: c.out(), err: c.err() };
}

/** Like {@link cli}, with `--json` and the parsed output. */
export async function cliJson<T = any>(
  fx: Fixture,
  argv: string[],
  options: CliOptions = {},
): Promise<{ code: number; json: T; err: string }> {
  const run = await cli(fx, [...argv, '--json'], options);
  let json: T;
  try {
    json = JSON.parse(run.out) as T;
  } catch {
    throw new Error(`not JSON (exit ${run.code}): ${run.out}\nstderr: ${run.err}`);
  }
  return { code: run.code, json, err: run.err };
}

/**
 * `tierlog audit` called in-process (`auditCommand`, so a test can pass its hooks and signal) on
 * the fixture's clients and `clock`, its output captured: the error it stopped with (undefined
 * when it did not) and the output, for `reportError` to print.
 */
export async function auditStop(
  fx: Fixture,
  clock: () => number,
  options: Parameters<typeof auditCommand>[1],
): Promise<{ err: unknown; c: Captured }> {
  const c = capture();
  const ctx = { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock, io: c.io, env: {} };
  const err = await auditCommand(ctx, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, c };
}

/** `count` orphans put straight to the bucket (objects `<name>-<i>`, blobs of now): their keys, sorted. */
export async function putOrphans(fx: Fixture, count: number, name = 'orphan'): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = blobKey(fx, `${name}-${i}`);
    await putBlob(fx, key);
    keys.push(key);
  }
  return keys.sort();
}

/** A blob key of the documented layout; `msecs` sets the time in its UUIDv7. */
export function blobKey(fx: Fixture, objectId: string, msecs?: number): string {
  const uuid = msecs === undefined ? uuidv7() : uuidv7({ msecs });
  return `${fx.config.prefix}/${Buffer.from(objectId, 'utf8').toString('base64url')}/${uuid}`;
}

/** Uploads `body` at `key`, straight to the bucket. */
export async function putBlob(fx: Fixture, key: string, body: string | Uint8Array = 'orphan bytes'): Promise<void> {
  await fx.s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: key, Body: body }));
}

/** Writes an HV tombstone for `objectId` pointing at `blob`, straight to the objects table. */
export async function putTombstone(fx: Fixture, objectId: string, blob: string, version = 1): Promise<void> {
  const now = Date.now();
  await fx.dynamodb.send(
    new PutItemCommand({
      TableName: fx.config.objectsTable,
      Item: marshall({ key: objectId, version, blob, size: 12, metadata: {}, createdAt: now, updatedAt: now, writeId: uuidv7() }),
    }),
  );
}

/**
 * A fresh store with a live large object ("z-live", its tombstone pointing at its blob) and an
 * orphan ("a-orphan", whose key sorts first in the listing: base64url "YS1…" before "ei1…"), both
 * blobs stamped `msecs` in their UUIDv7.
 */
export async function storeWithOrphan(msecs: number): Promise<{ fx: Fixture; live: string; orphan: string }> {
  const fx = await freshFixture();
  const orphan = blobKey(fx, 'a-orphan', msecs);
  const live = blobKey(fx, 'z-live', msecs);
  await putBlob(fx, orphan);
  await putBlob(fx, live, 'live bytes');
  await putTombstone(fx, 'z-live', live);
  return { fx, live, orphan };
}

/** Writes an instance item straight into the change-log table (one implementation, the harness's). */
/** Another store's objects table: it points at a blob (three hours old) of its own bucket. */
export async function otherStoresTable(): Promise<string> {
  const other = await freshFixture();
  const blob = blobKey(other, 'z-live', Date.now() - 3 * HOUR);
  await putBlob(other, blob);
  await putTombstone(other, 'z-live', blob);
  return other.config.objectsTable;
}

/** `fx` with its configuration naming `objectsTable` as the objects table. */
export const withTable = (fx: Fixture, objectsTable: string): Fixture => ({ ...fx, config: { ...fx.config, objectsTable } });

export { putRawInstance } from '../tiered/harness.js';

/** A valid stored entry (schema v1) recorded `agoMs` ago. */
export function rawEntry(objectId: string, fields: { new?: string; old?: string; ca?: number }, agoMs = HOUR): Record<string, unknown> {
  return { v: 1, id: objectId, at: Date.now() - agoMs, ...fields };
}

/**
 * `client`, every answer of which now carries a Date header `aheadMs` ahead of this machine's clock
 * (as the SDK reads it: the service's clock `aheadMs` ahead, this machine's behind; negative: the
 * other way). Returns the client.
 */
export function withServerClock<C extends { middlewareStack: unknown }>(client: C, aheadMs: number): C {
  (client.middlewareStack as { add(m: unknown, o: unknown): void }).add(
    (next: (args: unknown) => Promise<{ response?: { headers?: Record<string, string> } }>) => async (args: unknown) => {
      const out = await next(args);
      if (out.response?.headers !== undefined) out.response.headers.date = new Date(Date.now() + aheadMs).toUTCString();
      return out;
    },
    { step: 'deserialize', name: 'serverClockAt', override: true },
  );
  return client;
}

/** New clients whose answers carry a Date header `aheadMs` ahead ({@link withServerClock}); `only`: that service's alone. `close()` destroys both. */
export function clientsWithServerClock(aheadMs: number, only?: 'dynamodb' | 's3') {
  const dynamodb = createDynamoDBClient();
  const s3 = createS3Client();
  if (only !== 's3') withServerClock(dynamodb, aheadMs);
  if (only !== 'dynamodb') withServerClock(s3, aheadMs);
  return { dynamodb, s3, close: () => (dynamodb.destroy(), s3.destroy()) };
}
