/**
 * Shared by test/tiered, test/recovery and test/functions: writers whose clients carry a
 * FaultInjector (so a crash kills the whole "process"), a call recorder, sweepers with an
 * injected clock, and the invariants of DESIGN.md checked FROM OUTSIDE: raw scans of both tables
 * and a raw listing / GetObject of the bucket, no tierlog code in the way.
 */
import { randomBytes } from 'node:crypto';
import { type DynamoDBClient, PutItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { marshall } from '@aws-sdk/util-dynamodb';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog, type DynamoChangeLogOptions } from '../../lib/changelog/dynamo-change-log.js';
import { hvAttributeNames, type TierlogConfig } from '../../lib/config.js';
import { CommandRecorder, type RecordedCommand } from '../../lib/faults/command-recorder.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { DEFAULT_CLAIM_MS, DEFAULT_MAX_UPLOAD_MS } from '../../lib/constants.js';
import type { SweepReport } from '../../lib/recovery/report.js';
import { Sweeper, type SweeperOptions } from '../../lib/recovery/sweeper.js';
import { StreamCleanup } from '../../lib/recovery/stream-cleanup.js';
import type { StreamReader } from '../../lib/local/stream-reader.js';
import { TieredStore, type TieredStoreOptions } from '../../lib/tiered/tiered-store.js';
import { firstVersion, VERSIONS_PER_MS } from '../../lib/tiered/versions.js';
import { newChangeId } from '../../lib/ids.js';
import { type Fixture, freshFixture, listKeys, scanAll } from '../support/local.js';
import { listUploads } from '../../lib/drill/invariants.js';

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** Far enough past every writer lease (2 min) + skew margin (30 s) + upload window (20 min). */
export const PAST_EVERYTHING_MS = 3 * 60 * 60_000;

/**
 * From a sweep that first sighted an instance to one past the upload window that sighting opened
 * (default window, 20 min), with a minute for the time the first sweep took.
 */
export const PAST_WINDOW_MS = DEFAULT_MAX_UPLOAD_MS + 60_000;

export function randomBody(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/**
 * Whether `version` is the first version of an item written where none existed, by a writer on
 * the wall clock between `before` and `after` (ms): that clock × 1000 (lib/tiered/versions.ts).
 */
export function isFirstVersionBetween(version: number, before: number, after: number): boolean {
  return version % VERSIONS_PER_MS === 0 && version >= firstVersion(before) && version <= firstVersion(after);
}

// ---- writers -----------------------------------------------------------------------------------

export interface Writer {
  readonly store: TieredStore;
  readonly log: DynamoChangeLog;
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  /** One injector on both clients: a crash kills the whole "process". */
  readonly injector: FaultInjector;
  readonly recorder: CommandRecorder;
  close(): void;
}

/** A list whose writers are closed after each test of the file that calls this (at its top level). */
export function writersClosedAfterEach(): Writer[] {
  return closedAfterEach<Writer>();
}

/**
 * A test file's writers of large objects: `writer()` makes one (blobs above 1 KiB, parts of 5 MiB)
 * of the file's fixture (fresh, made before its tests, `fixture()`), closed after each test.
 */
export function largeObjectWriters(): { readonly writer: () => Writer; readonly fixture: () => Fixture } {
  let fx: Fixture | undefined;
  beforeAll(async () => {
    fx = await freshFixture();
  });
  const open = writersClosedAfterEach();
  const fixture = () => {
    if (fx === undefined) throw new Error('largeObjectWriters: the fixture is made before the tests, not at import');
    return fx;
  };
  return {
    fixture,
    writer: () => {
      const w = makeWriter(fixture(), { store: { inlineThreshold: 1024, partSize: 5 * MiB } });
      open.push(w);
      return w;
    },
  };
}

/** Whatever is pushed to the returned array (writers, stream readers) is closed after each test. */
export function closedAfterEach<T extends { close(): void }>(): T[] {
  const open: T[] = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });
  return open;
}

/**
 * `open` (whatever is pushed to it is closed after each test) and `sweeperAt(fx, offsetMs,
 * options)`: a sweeper with clients of its own and a clock `offsetMs` ahead of the wall clock,
 * pushed to `open`.
 */
export function sweepersClosedAfterEach(): {
  open: Array<{ close(): void }>;
  sweeperAt(fx: Fixture, offsetMs: number, options?: SweeperAtOptions): Sweeper;
} {
  const open = closedAfterEach<{ close(): void }>();
  return {
    open,
    sweeperAt(fx, offsetMs, options = {}) {
      const s = makeSweeper(fx, offsetMs, options);
      open.push(s);
      return s.sweeper;
    },
  };
}

/**
 * Another writer (pushed to `open`, closed after the test) that has put `body` at `key`: the key's
 * state before a race or a pause, and the actor that goes between at its exact point.
 */
export async function writerHolding(
  fx: Fixture,
  open: Array<{ close(): void }>,
  key: string,
  body: Uint8Array,
): Promise<{ other: Writer; version: number }> {
  const other = makeWriter(fx);
  open.push(other);
  const { version } = await other.store.put(key, body);
  return { other, version };
}

/** `p` settled to its value or its error, for a test that asserts on either. */
export async function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

export interface WriterOptions {
  readonly injector?: FaultInjector;
  readonly log?: Partial<Omit<DynamoChangeLogOptions, 'config' | 'dynamodb'>>;
  readonly store?: Partial<Omit<TieredStoreOptions, 'config' | 'changeLog' | 'dynamodb' | 's3'>>;
}

/**
 * A fresh fixture and a writer on it for a test file's tests: `set` is given both before the
 * first test (`({ fx, w } = made)` into the file's own variables), and the writer is closed after
 * the last.
 */
export function withWriter(set: (made: { readonly fx: Fixture; readonly w: Writer }) => void): void {
  let writer: Writer | undefined;
  beforeAll(async () => {
    const fx = await freshFixture();
    writer = makeWriter(fx);
    set({ fx, w: writer });
  });
  afterAll(() => writer?.close());
}

/** A writer "process": its own clients, its own change log and store. */
export function makeWriter(fx: Fixture, options: WriterOptions = {}): Writer {
  const injector = options.injector ?? new FaultInjector();
  const recorder = new CommandRecorder();
  const dynamodb = recorder.attach(injector.attach(createDynamoDBClient(), 'dynamodb'), 'dynamodb');
  const s3 = recorder.attach(injector.attach(createS3Client(), 's3'), 's3');
  const log = new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false, ...options.log });
  const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb, s3, ...options.store });
  return {
    store,
    log,
    dynamodb,
    s3,
    injector,
    recorder,
    close() {
      log.close();
      dynamodb.destroy();
      s3.destroy();
    },
  };
}

/** How {@link deadWriterPut}'s writer dies and what it puts. */
export interface DeadPutOptions {
  /** Put to the key first by a healthy writer: the dying put is then an overwrite. */
  readonly old?: Uint8Array;
  /** The dying put's body. Default 40 KiB of random bytes (one PutObject). */
  readonly body?: Uint8Array;
  /** Default `crashBefore`: the request at the step never reaches the servers. */
  readonly kind?: 'crashBefore' | 'crashAfter';
  /** The dying writer's options (its clock, part size, ...). */
  readonly writer?: Omit<WriterOptions, 'injector'>;
}

/**
 * A writer "process" that dies at `step` of a put of `key` (a matcher of {@link steps}): it
 * leaves its instance with the entry and the blob, its lease running out. Every writer it makes
 * is pushed to `open` (closed by the caller). Returns the dead writer.
 *
 * @throws when the crash did not fire (the put went another way than the test meant).
 */
export async function deadWriterPut(
  fx: Fixture,
  open: Array<{ close(): void }>,
  key: string,
  step: (request: RequestInfo) => boolean,
  options: DeadPutOptions = {},
): Promise<Writer> {
  if (options.old !== undefined) {
    const setup = makeWriter(fx);
    open.push(setup);
    await setup.store.put(key, options.old);
  }
  const injector = new FaultInjector().add({ kind: options.kind ?? 'crashBefore', match: step });
  const writer = makeWriter(fx, { ...options.writer, injector });
  open.push(writer);
  await writer.store.put(key, options.body ?? randomBody(40 * KiB)).catch(() => undefined);
  if (injector.crashedAt === undefined) throw new Error(`the writer's put of "${key}" did not crash at the step`);
  return writer;
}

/** A sweeper's options, plus an injector and a recorder put on its clients. */
export type SweeperAtOptions = Partial<Omit<SweeperOptions, 'config'>> & { injector?: FaultInjector; recorder?: CommandRecorder };

/** A sweeper with its own clean clients and a clock `offsetMs` ahead of the wall clock. */
export function makeSweeper(fx: Fixture, offsetMs: number, options: SweeperAtOptions = {}): { sweeper: Sweeper; close(): void } {
  const { injector, recorder, ...rest } = options;
  const dynamodb = rest.dynamodb ?? createDynamoDBClient();
  const s3 = rest.s3 ?? createS3Client();
  if (injector !== undefined) {
    injector.attach(dynamodb, 'dynamodb');
    injector.attach(s3, 's3');
  }
  if (recorder !== undefined) {
    recorder.attach(dynamodb, 'dynamodb');
    recorder.attach(s3, 's3');
  }
  const sweeper = new Sweeper({ config: fx.config, clock: () => Date.now() + offsetMs, ...rest, dynamodb, s3 });
  return {
    sweeper,
    close() {
      if (rest.dynamodb === undefined) dynamodb.destroy();
      if (rest.s3 === undefined) s3.destroy();
    },
  };
}

/** One sweep by a sweeper whose clock is `offsetMs` ahead ({@link makeSweeper}), its own clients closed after it. */
export async function sweepOnceAt(fx: Fixture, offsetMs: number, options: SweeperAtOptions = {}) {
  const { sweeper, close } = makeSweeper(fx, offsetMs, options);
  try {
    return await sweeper.sweep();
  } finally {
    close();
  }
}

/**
 * Recovery of everything outstanding: a sweep past every lease (the first sighting of an
 * instance only fences it and defers its entries), then one past the upload window that
 * sighting opened (it judges and recovers). Returns the two reports' counts summed.
 */
export async function sweepPastEverything(fx: Fixture, options: Partial<Omit<SweeperOptions, 'config'>> = {}) {
  const window = (options.maxUploadMs ?? DEFAULT_MAX_UPLOAD_MS) + (options.claimMs ?? DEFAULT_CLAIM_MS) + 60_000;
  const sweepAt = (offsetMs: number) => sweepOnceAt(fx, offsetMs, options);
  const first = await sweepAt(PAST_EVERYTHING_MS);
  const last = await sweepAt(PAST_EVERYTHING_MS + window);
  const sum: Record<string, unknown> = { ...last };
  for (const [k, v] of Object.entries(first)) if (typeof v === 'number') sum[k] = v + (last[k as keyof SweepReport] as number);
  return { ...(sum as unknown as SweepReport), wouldDelete: [...first.wouldDelete, ...last.wouldDelete] };
}

/** The two sweeps that recover a dead instance, and the commands each sent. */
export interface FencedThenJudged {
  /** The first sighting: claims (fences) the instances and defers every entry. */
  readonly fence: SweepReport;
  /** One upload window later: judges, deletes, drops. */
  readonly judge: SweepReport;
  readonly fenceCommands: readonly RecordedCommand[];
  readonly judgeCommands: readonly RecordedCommand[];
}

/** What one recorded sweep did. */
export interface RecordedSweep {
  readonly report: SweepReport;
  /** Every command the sweeper's clients sent. */
  readonly commands: readonly RecordedCommand[];
  readonly sweeperId: string;
}

/** One sweep at `offsetMs` by a sweeper with its own recorded clients; closes them. */
export async function recordedSweep(
  fx: Fixture,
  offsetMs: number,
  options: Omit<SweeperAtOptions, 'recorder'> = {},
): Promise<RecordedSweep> {
  const recorder = new CommandRecorder();
  const { sweeper, close } = makeSweeper(fx, offsetMs, { ...options, recorder });
  try {
    const report = await sweeper.sweep();
    // What this sweep sent: a client given in `options` keeps its recorder, which records the
    // requests of whatever uses the client next (a second recorder adds to it, not replaces it).
    return { report, commands: [...recorder.commands], sweeperId: sweeper.sweeperId };
  } finally {
    close();
  }
}

/**
 * A sweep at `offsetMs` (the first sighting: it only fences), then one at `offsetMs +
 * PAST_WINDOW_MS` (past the upload window the first opened: it judges), each by a sweeper with
 * its own recorded clients; `judgeOptions` (default `options`) configures the second.
 */
export async function fenceThenSweep(
  fx: Fixture,
  offsetMs: number,
  options: Omit<SweeperAtOptions, 'recorder'> = {},
  judgeOptions: Omit<SweeperAtOptions, 'recorder'> = options,
): Promise<FencedThenJudged> {
  const fence = await recordedSweep(fx, offsetMs, options);
  const judge = await recordedSweep(fx, offsetMs + PAST_WINDOW_MS, judgeOptions);
  return { fence: fence.report, judge: judge.report, fenceCommands: fence.commands, judgeCommands: judge.commands };
}

/** The commands on the objects table (HV): BatchGetItem names it in `RequestItems`, the rest in `TableName`. */
export function hvCommands(config: TierlogConfig, commands: readonly RecordedCommand[]): RecordedCommand[] {
  return commands.filter(
    (c) =>
      c.service === 'dynamodb' &&
      (c.input.TableName === config.objectsTable ||
        Object.keys((c.input.RequestItems as object | undefined) ?? {}).includes(config.objectsTable)),
  );
}

/**
 * The writes under a claim a sweep sent to the change-log table: settles (drop entries, move the
 * claim's expiry) and deletes of claimed items. Claims and retires are not among them.
 */
export function releaseWrites(config: TierlogConfig, commands: readonly RecordedCommand[]): RecordedCommand[] {
  return commands.filter(
    (c) =>
      c.service === 'dynamodb' &&
      c.input.TableName === config.changeLogTable &&
      String(c.input.ConditionExpression ?? '').startsWith('#state = :claimed AND #by = :me'),
  );
}

/**
 * A first sighting did only that: it claimed `claimed` instances and deferred `deferred` entries
 * (quarantined `quarantined`), deleted nothing, sent nothing to S3, read nothing from HV, and
 * wrote nothing under its claims, but for `released` instances (default 0) whose entries are all
 * due later than the upload window (a claim holds an instance until the window closes).
 */
export function expectFencedOnly(
  config: TierlogConfig,
  report: SweepReport,
  commands: readonly RecordedCommand[],
  expected: { claimed: number; deferred: number; quarantined?: number; released?: number },
  expect: (v: unknown, m?: string) => any,
): void {
  expect(report).toMatchObject({
    instancesClaimed: expected.claimed,
    entriesDeferred: expected.deferred,
    entriesQuarantined: expected.quarantined ?? 0,
    entriesRecovered: 0,
    blobsDeleted: 0,
    errors: 0,
  });
  expect(
    commands.filter((c) => c.service === 's3').map((c) => c.command),
    'a first sighting sends nothing to S3',
  ).toEqual([]);
  expect(
    hvCommands(config, commands).map((c) => c.command),
    'a first sighting reads nothing from HV',
  ).toEqual([]);
  expect(releaseWrites(config, commands).length, 'a first sighting writes nothing under its claims').toBe(expected.released ?? 0);
}

// ---- fault matchers ----------------------------------------------------------------------------

/** The protocol steps of the write paths, as request matchers for a config (lib/faults/protocol-steps.ts). */
export function steps(config: TierlogConfig) {
  return {
    record: atStep('record', config),
    remove: atStep('remove', config),
    hvRead: atStep('hv-read', config),
    /** The small put's write, which refuses to replace a blob. */
    hvInline: atStep('hv-inline', config),
    /** The delete's first write: a deletion marker (an UpdateItem that sets `deleted`) that refuses to replace a blob. */
    hvDelete: atStep('hv-delete', config),
    /**
     * The commit of a change that is not logged (`replacedBlobCleanup: 'stream'`: it replaces a
     * blob with an inline body or a marker): a plain HV write against the state read.
     */
    hvCommit: atStep('hv-commit', config),
    commit: atStep('commit', config),
    upload: atStep('upload', config),
    mpCreate: atStep('mp-create', config),
    mpPart: atStep('mp-part', config),
    mpComplete: atStep('mp-complete', config),
    deleteBlob: atStep('delete-blob', config),
    claim: atStep('claim', config),
  };
}

// ---- the objects table's stream -----------------------------------------------------------------

/** Hands what `reader` has not yet read of the objects table's stream to the stream function's cleanup, as Lambda would. */
export async function deliverStream(fx: Fixture, reader: StreamReader) {
  const records = await reader.read();
  const { response, report } = await new StreamCleanup({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3 }).handle(records);
  return { records, response, report };
}

// ---- raw state and invariants ------------------------------------------------------------------

export interface RawState {
  readonly objects: Record<string, unknown>[];
  readonly instances: Record<string, unknown>[];
  readonly blobs: string[];
  /** HV key -> blob it points at (under the configured attribute names). */
  readonly references: Map<string, string>;
  /** Number of `c_` entries over all instance items. */
  readonly entries: number;
  /** The replaced blobs (`old`) those entries name. */
  readonly olds: string[];
  /** HV keys whose blob does not exist (invariant 1). */
  readonly lost: string[];
  /** Blobs under the prefix no HV item references (invariant 2, after a sweep). */
  readonly unreferenced: string[];
  /** Keys of the multipart uploads in progress under the prefix (their parts are paid for: none may be left after the sweeps). */
  readonly uploads: string[];
}

/**
 * Rewrites the objects item of `key` to name `blob` (and `size`, when given), behind the store's
 * back: an item copied to "rename" an object, or one naming another store's blob.
 */
export async function pointItemAt(fx: Fixture, key: string, blob: string, size?: number): Promise<void> {
  await fx.dynamodb.send(
    new UpdateItemCommand({
      TableName: fx.config.objectsTable,
      Key: { key: { S: key } },
      UpdateExpression: size === undefined ? 'SET #b = :b' : 'SET #b = :b, #s = :s',
      ExpressionAttributeNames: { '#b': 'blob', ...(size === undefined ? {} : { '#s': 'size' }) },
      ExpressionAttributeValues: { ':b': { S: blob }, ...(size === undefined ? {} : { ':s': { N: String(size) } }) },
    }),
  );
}

export async function rawState(fx: Fixture): Promise<RawState> {
  const { config, dynamodb, s3 } = fx;
  const [objects, instances, blobs, uploads] = await Promise.all([
    scanAll(dynamodb, config.objectsTable),
    scanAll(dynamodb, config.changeLogTable),
    listKeys(s3, config.bucket, `${config.prefix}/`),
    listUploads(s3, config.bucket, `${config.prefix}/`),
  ]);
  // Under the configured names (TIERLOG_HV_ATTRIBUTES): read under the defaults, no item of a store
  // with its own names points at a blob, and a blob gone is no loss.
  const names = hvAttributeNames(config);
  const references = new Map<string, string>();
  for (const item of objects) {
    const blob = item[names.blob];
    if (typeof blob === 'string') references.set(String(item[names.key]), blob);
  }
  const entryValues = instances.flatMap((item) =>
    Object.entries(item)
      .filter(([name]) => name.startsWith('c_'))
      .map(([, entry]) => entry as { old?: unknown }),
  );
  const entries = entryValues.length;
  const olds = entryValues.flatMap((e) => (typeof e.old === 'string' ? [e.old] : []));
  const existing = new Set(blobs);
  const referenced = new Set(references.values());
  return {
    objects,
    instances,
    blobs,
    references,
    entries,
    olds,
    lost: [...references].filter(([, blob]) => !existing.has(blob)).map(([key]) => key),
    unreferenced: blobs.filter((b) => !referenced.has(b)),
    uploads,
  };
}

/**
 * Invariants 1-3 after a final sweep: nothing lost, nothing leaked (no unreferenced blob, no
 * multipart upload left in progress under the prefix), no entries left. `uploadsLeft`: the
 * uploads a test leaves to the bucket's lifecycle rule on purpose (an abort refused), exactly.
 */
export async function expectClean(
  fx: Fixture,
  expect: (v: unknown, m?: string) => any,
  options: { uploadsLeft?: readonly string[] } = {},
): Promise<RawState> {
  const state = await rawState(fx);
  expect(state.lost, 'invariant 1: every referenced blob exists').toEqual([]);
  expect(state.unreferenced, 'invariant 2: no unreferenced blob').toEqual([]);
  expect(state.entries, 'invariant 3: no entries left').toBe(0);
  expect([...state.uploads].sort(), 'invariant 2: no multipart upload left in progress').toEqual([...(options.uploadsLeft ?? [])].sort());
  return state;
}

/** The object's bytes as stored, read raw under the configured names (inline body or the blob it points at); undefined: absent. */
export async function rawValue(fx: Fixture, key: string): Promise<Uint8Array | undefined> {
  const names = hvAttributeNames(fx.config);
  const items = await scanAll(fx.dynamodb, fx.config.objectsTable);
  const item = items.find((i) => i[names.key] === key);
  if (item === undefined || item[names.deleted] !== undefined) return undefined; // none, or a deletion marker
  const blob = item[names.blob];
  if (typeof blob === 'string') return rawGetObject(fx, blob);
  const body = item[names.body];
  return body instanceof Uint8Array ? body : new Uint8Array(0);
}

export async function rawGetObject(fx: Fixture, key: string): Promise<Uint8Array | undefined> {
  try {
    const out = await fx.s3.send(new GetObjectCommand({ Bucket: fx.config.bucket, Key: key }));
    return await out.Body!.transformToByteArray();
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey' || (err as { name?: string }).name === 'NotFound') return undefined;
    throw err;
  }
}

export async function rawPutObject(fx: Fixture, key: string, body: Uint8Array | string): Promise<void> {
  await fx.s3.send(new PutObjectCommand({ Bucket: fx.config.bucket, Key: key, Body: body }));
}

/** Every key in the whole bucket (not only the prefix). */
export async function allKeys(fx: Fixture): Promise<string[]> {
  return listKeys(fx.s3, fx.config.bucket);
}

/** A byte-exact snapshot of both tables (raw AttributeValues) and the bucket (keys, sizes, ETags). */
export async function snapshot(fx: Fixture): Promise<string> {
  const table = async (name: string) => {
    const items: unknown[] = [];
    let ExclusiveStartKey: Record<string, any> | undefined;
    do {
      const page = await fx.dynamodb.send(new ScanCommand({ TableName: name, ConsistentRead: true, ExclusiveStartKey }));
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined);
    return items.map((i) => stableStringify(i)).sort();
  };
  const objects: string[] = [];
  let ContinuationToken: string | undefined;
  do {
    const page = await fx.s3.send(new ListObjectsV2Command({ Bucket: fx.config.bucket, ContinuationToken }));
    for (const o of page.Contents ?? []) objects.push(`${o.Key} ${o.Size} ${o.ETag}`);
    ContinuationToken = page.NextContinuationToken;
  } while (ContinuationToken !== undefined);
  return stableStringify({
    objects: await table(fx.config.objectsTable),
    changelog: await table(fx.config.changeLogTable),
    bucket: objects.sort(),
  });
}

function stableStringify(value: unknown): string {
  return JSON.stringify(value, (_k, v) => {
    if (v instanceof Uint8Array) return `b64:${Buffer.from(v).toString('base64')}`;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, (v as Record<string, unknown>)[k]]),
      );
    }
    return v;
  });
}

// ---- raw change-log items ----------------------------------------------------------------------

/** Writes an instance item straight into the change-log table (as a dead writer would have left it). */
export async function putRawInstance(
  fx: Fixture,
  args: {
    instanceId?: string;
    shard?: number;
    leaseUntil: number;
    entries: Record<string, unknown>;
    state?: string;
    n?: unknown;
    /** With `state: 'claimed'`: the sweeper that claimed it. */
    claimedBy?: string;
    /** When a sweeper first claimed it (its upload window runs from there). */
    firstSeen?: number;
    /** The store stamp a writer writes (lib/changelog/store-stamp.ts); none by default. */
    store?: unknown;
  },
): Promise<string> {
  const instanceId = args.instanceId ?? uuidv7();
  const item: Record<string, unknown> = {
    pk: instanceId,
    state: args.state ?? 'live',
    leaseUntil: args.leaseUntil,
    shard: args.shard ?? 0,
    n: args.n ?? Object.keys(args.entries).length,
    ...(args.claimedBy !== undefined ? { claimedBy: args.claimedBy } : {}),
    ...(args.firstSeen !== undefined ? { firstSeen: args.firstSeen } : {}),
    ...(args.store !== undefined ? { store: args.store } : {}),
  };
  for (const [changeId, entry] of Object.entries(args.entries)) item[`c_${changeId}`] = entry;
  await fx.dynamodb.send(
    new PutItemCommand({ TableName: fx.config.changeLogTable, Item: marshall(item, { removeUndefinedValues: true }) }),
  );
  return instanceId;
}

/**
 * An instance a sweeper claimed (and died holding) at `since`, with `count` entries, each naming an
 * uncommitted blob that exists (`many/<i>`), and one entry it cannot trust, kept: so a sweep
 * settles the instance (drops and a new claim expiry) rather than draining it. With more than 48
 * entries the drops take more than one settle request ({@link isDropRequest}).
 */
export async function putClaimedInstanceOfMany(
  fx: Fixture,
  count: number,
  since: number,
): Promise<{ instanceId: string; blobs: string[] }> {
  const entries: Record<string, unknown> = {};
  const blobs: string[] = [];
  for (let i = 0; i < count; i++) {
    const id = `many/${i}`;
    const blob = rawBlobKey(fx, id);
    await rawPutObject(fx, blob, randomBody(16));
    blobs.push(blob);
    entries[newChangeId()] = { v: 1, id, at: since, new: blob };
  }
  entries[newChangeId()] = { v: 1, id: 'many/x', at: since, new: 'elsewhere/not-a-blob-key' };
  const instanceId = await putRawInstance(fx, {
    state: 'claimed',
    claimedBy: 'dead-sweeper',
    firstSeen: since,
    leaseUntil: since,
    entries,
  });
  return { instanceId, blobs };
}

/** A sweeper's settle request that drops entries (an UpdateItem that REMOVEs). */
export function isDropRequest(r: RequestInfo): boolean {
  return r.command === 'UpdateItemCommand' && String((r.input as { UpdateExpression?: string }).UpdateExpression).includes('REMOVE');
}

/** A blob key of `objectId`, built from the documented layout (`<prefix>/<base64url id>/<uuidv7>`), not by the library. */
export function rawBlobKey(fx: Fixture, objectId: string): string {
  return `${fx.config.prefix}/${Buffer.from(objectId, 'utf8').toString('base64url')}/${uuidv7()}`;
}

/** What {@link putDeadInstance} writes. */
export interface DeadInstanceOptions {
  /** Entries, each naming its own blob. Default 1. */
  readonly count?: number;
  /** Default 0. */
  readonly shard?: number;
  /** The object id of entry `i`. Default `dead/<uuidv7>`. */
  readonly objectId?: (i: number) => string;
  /** When its lease ran out, and when its entries were written. Default an hour ago. */
  readonly since?: number;
  /**
   * A sweeper claimed it at `since` and died, its claim long over: a sweep judges it at once (its
   * upload window is over) instead of fencing it first.
   */
  readonly fenced?: boolean;
  /** Its blobs are put in S3 (64 bytes each). Default true; false: the entries name blobs never uploaded (a writer that died first). */
  readonly uploaded?: boolean;
}

/**
 * A dead writer as the change-log table holds it, written raw: an instance whose lease ran out,
 * with `count` entries each naming a real `new` blob that nothing references (garbage).
 */
export async function putDeadInstance(fx: Fixture, options: DeadInstanceOptions = {}): Promise<{ instanceId: string; blobs: string[] }> {
  const since = options.since ?? Date.now() - 60 * 60_000;
  const entries: Record<string, unknown> = {};
  const blobs: string[] = [];
  for (let i = 0; i < (options.count ?? 1); i++) {
    const id = options.objectId?.(i) ?? `dead/${uuidv7()}`;
    const blob = rawBlobKey(fx, id);
    if (options.uploaded !== false) await rawPutObject(fx, blob, randomBody(64));
    blobs.push(blob);
    entries[newChangeId()] = { v: 1, id, at: since, new: blob };
  }
  const instanceId = await putRawInstance(fx, {
    shard: options.shard ?? 0,
    leaseUntil: since,
    entries,
    ...(options.fenced === true ? { state: 'claimed', claimedBy: 'dead-sweeper', firstSeen: since } : {}),
  });
  return { instanceId, blobs };
}

export async function rawInstance(fx: Fixture, instanceId: string): Promise<Record<string, unknown> | undefined> {
  return (await scanAll(fx.dynamodb, fx.config.changeLogTable)).find((i) => i.pk === instanceId);
}

/** The entry attributes (`c_<changeId>`) of a raw instance item; none when it is gone. */
export function entryNames(item: Record<string, unknown> | undefined): string[] {
  return Object.keys(item ?? {}).filter((k) => k.startsWith('c_'));
}

/** Waits until `predicate` holds (polling), or fails after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise with its resolve handle. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * `s3` whose first `times` AbortMultipartUpload are answered as S3 answers an abort a part PUT in
 * flight then outlives (204, the upload still listed once the part lands): s3rver refuses a part
 * sent after an abort, where AWS may store it. Returns `s3`.
 */
export function abortOutlivedByAPart(s3: S3Client, times = 1): S3Client {
  let left = times;
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'AbortMultipartUploadCommand' && left > 0) {
        left--;
        return { output: { $metadata: { httpStatusCode: 204 } }, response: {} } as never;
      }
      return next(args);
    },
    { step: 'initialize', name: 'testAbortOutlivedByAPart' },
  );
  return s3;
}
