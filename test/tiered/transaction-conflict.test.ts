/**
 * DynamoDB rejects a plain write (PutItem, UpdateItem, DeleteItem) to an item that an ongoing
 * TransactWriteItems includes with TransactionConflictException: nothing applied, and the SDK does
 * not retry it. In a busy writer that is the common case, not a fault: a record or a remove of one
 * change (an UpdateItem of the instance item) meets the commit of another change on the same
 * instance item, and a small put or delete (an UpdateItem of the objects item) meets another
 * writer's commit of the same key. DynamoDB Local serialises and never answers it, so it is
 * injected once at each such step. Each write goes on and lands; nothing is left behind, and the
 * writer keeps its instance (nothing abandoned to the sweeper).
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { CommitOutcomeUnknownError, VersionConflictError } from '../../lib/errors.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { encodeObjectId } from '../../lib/tiered/blob-keys.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  KiB,
  sweepOnceAt,
  makeWriter,
  PAST_EVERYTHING_MS,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  steps,
  writersClosedAfterEach,
} from './harness.js';

const LARGE = randomBody(40 * KiB);
const SMALL = randomBody(300);

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

function conflict(): Error {
  return Object.assign(new Error('injected: Transaction is ongoing for the item'), {
    name: 'TransactionConflictException',
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
  });
}

type Step = keyof ReturnType<typeof steps>;
/** Name, the step met by the conflict, the value before and after (undefined: absent). */
const cases: Array<[string, Step, Uint8Array | undefined, Uint8Array | undefined]> = [
  ['large put: its record', 'record', undefined, LARGE],
  ['large overwrite: its remove after the commit', 'remove', LARGE, randomBody(40 * KiB + 1)],
  ['small put', 'hvInline', SMALL, randomBody(301)],
  ['small delete', 'hvDelete', SMALL, undefined],
];

test.each(cases)('%s meets an ongoing transaction: the write lands, nothing is left', async (name, step, old, next) => {
  const key = `conflict/${name}`;
  if (old !== undefined) {
    const setup = makeWriter(fx);
    open.push(setup);
    await setup.store.put(key, old);
  }
  const match = steps(fx.config)[step];
  const injector = new FaultInjector().add({ kind: 'fail', times: 1, match: (r: RequestInfo) => match(r), error: conflict });
  const w = makeWriter(fx, { injector });
  open.push(w);
  const instance = w.log.instanceId;
  if (next === undefined) expect(await w.store.delete(key)).toBe(true);
  else await w.store.put(key, next);
  expect(injector.stats.injected.fail, 'the conflict was met').toBe(1);
  expect(sameBytes(await rawValue(fx, key), next), 'the write landed').toBe(true);
  expect(w.log.instanceId, 'the writer kept its instance (nothing abandoned)').toBe(instance);
  const state = await rawState(fx);
  const own = `${fx.config.prefix}/${encodeObjectId(key)}/`;
  expect(
    state.unreferenced.filter((b) => b.startsWith(own)),
    'no blob left',
  ).toEqual([]);
  expect(
    state.instances.flatMap((i) => Object.entries(i).filter(([n, e]) => n.startsWith('c_') && (e as { id?: unknown }).id === key)),
    'no entry left',
  ).toEqual([]);
});

test("a sweeper's claim meets a writer's commit on the instance item: it claims again, without an error", async () => {
  const own = await freshFixture();
  // A writer dies after its record: its instance holds one entry.
  const dead = makeWriter(own, { injector: new FaultInjector().add({ kind: 'crashBefore', match: steps(own.config).upload }) });
  open.push(dead);
  await expect(dead.store.put('conflict/claimed', LARGE)).rejects.toThrow();
  const injector = new FaultInjector().add({ kind: 'fail', times: 1, match: steps(own.config).claim, error: conflict });
  expect(await sweepOnceAt(own, PAST_EVERYTHING_MS, { injector })).toMatchObject({ instancesClaimed: 1, errors: 0 });
  expect(injector.stats.injected.fail).toBe(1);
  expect((await rawState(own)).instances.map((i) => i.state)).toEqual(['claimed']);
});

test.each([
  ['its claim of the session', 'UpdateItemCommand', 'session'],
  ['its delete of the session (the commit still in flight)', 'DeleteItemCommand', 'session-delete'],
])("an abort whose %s meets a complete's commit sends it again: the abort answers, the session is gone", async (_what, command, key) => {
  const w = makeWriter(fx);
  open.push(w);
  const created = await w.store.createUpload(`conflict/${key}`);
  const injector = new FaultInjector().add({
    kind: 'fail',
    times: 1,
    match: (r: RequestInfo) => r.command === command && r.input.TableName === fx.config.changeLogTable,
    error: conflict,
  });
  const aborter = makeWriter(fx, { injector });
  open.push(aborter);
  await aborter.store.abortUpload(created.uploadId);
  expect(injector.stats.injected.fail).toBe(1);
  expect((await rawState(fx)).instances.filter((i) => i.pk === created.uploadId)).toEqual([]);
});

/**
 * With `replacedBlobCleanup: 'stream'` a change that uploads nothing commits with a plain HV write
 * (no transaction): it meets another writer's commit of the key as a small write does, and is
 * tried again. (Answered "unknown" before: the error was decided by a read, which cannot tell.)
 */
test.each([
  ['small over large', SMALL],
  ['large delete', undefined],
])('stream mode, %s: its plain commit meets an ongoing transaction: the write lands, nothing is left', async (name, next) => {
  const own = await freshFixture({ replacedBlobCleanup: 'stream' });
  const key = `conflict/stream/${name}`;
  const setup = makeWriter(own);
  open.push(setup);
  await setup.store.put(key, LARGE);
  const oldBlob = (await rawState(own)).references.get(key);
  const injector = new FaultInjector().add({ kind: 'fail', times: 1, match: steps(own.config).hvCommit, error: conflict });
  const w = makeWriter(own, { injector });
  open.push(w);
  if (next === undefined) expect(await w.store.delete(key)).toBe(true);
  else await w.store.put(key, next);
  expect(injector.stats.injected.fail, 'the conflict was met').toBe(1);
  expect(sameBytes(await rawValue(own, key), next), 'the write landed').toBe(true);
  const state = await rawState(own);
  expect(state.blobs, 'the replaced blob was deleted by the writer').not.toContain(oldBlob);
  expect(state.unreferenced).toEqual([]);
  expect(state.entries).toBe(0);
});

/**
 * A small write whose first attempt may have applied (its answer lost, or the request lost on the
 * way: the client cannot tell the two apart) and whose SDK retry meets another writer's
 * transaction on the item. The retry's refusal says nothing about the first attempt, and sending
 * the write again could apply it over a write that landed on top of it since: the outcome is
 * decided by a consistent read of the item instead. Carrying this write's id, it landed: the
 * answer is the landed write's. Not carrying it, the outcome is unknown
 * (`CommitOutcomeUnknownError`, its cause the conflict): never the raw SDK error (the objects API
 * answered it 500). An attempt refused for throttling (a 400: not applied) leaves the retry's
 * refusal a sure one: the write is tried again and lands.
 */
describe('a small write meets a transaction after an attempt that may have applied', () => {
  const HOUR = 60 * 60_000;
  type Op = 'put' | 'put ifVersion' | 'put over expired' | 'put creating' | 'delete';
  type First = 'loseResponse' | 'loseRequest' | 'throttle';
  /** Sets the key up; the expected version of a landed put, its `created`. */
  async function setUp(op: Op, key: string): Promise<{ version?: number; next?: number; created: boolean }> {
    if (op === 'put creating') return { created: true };
    if (op === 'put over expired') {
      // Written two hours ago with a minute to live: expired now, and still there (no TTL here).
      const past = makeWriter(fx, { store: { clock: () => Date.now() - 2 * HOUR } });
      open.push(past);
      const { version } = await past.store.put(key, SMALL, { timeToLiveMs: 60_000 });
      return { version, next: version + 1, created: true };
    }
    const setup = makeWriter(fx);
    open.push(setup);
    const { version } = await setup.store.put(key, SMALL);
    return { version, next: version + 1, created: false };
  }
  const ops: Op[] = ['put', 'put ifVersion', 'put over expired', 'put creating', 'delete'];
  const rows: Array<[Op, First]> = ops.flatMap((op) =>
    (['loseResponse', 'loseRequest', 'throttle'] as const).map((f): [Op, First] => [op, f]),
  );

  test.each(rows)('%s, first attempt %s, the retry meets a transaction', async (op, first) => {
    const key = `conflict/uncertain/${op}/${first}`;
    const before = await setUp(op, key);
    const step = op === 'delete' ? 'hvDelete' : 'hvInline';
    // A put over an expired item: its first write is refused (expired), its CAS on the item as stored is the one faulted.
    const skip = op === 'put over expired' ? 1 : 0;
    const match = steps(fx.config)[step];
    const injector = new FaultInjector()
      .add({ kind: first, times: 1, skip, match })
      .add({ kind: 'fail', times: 1, skip, match, error: conflict });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const next = randomBody(301);
    const write =
      op === 'delete'
        ? w.store.delete(key, { ifVersion: before.version! })
        : w.store.put(key, next, op === 'put ifVersion' ? { ifVersion: before.version! } : {});
    const outcome = await write.then(
      (value) => ({ value, error: undefined }),
      (error: unknown) => ({ value: undefined, error }),
    );
    expect(injector.stats.injected, 'the first attempt was faulted, its retry met the transaction').toMatchObject({ [first]: 1, fail: 1 });
    const item = (await rawState(fx)).objects.find((o) => o.key === key);
    const landed = first === 'loseResponse' || first === 'throttle';
    if (!landed) {
      // Nothing applied, but the client cannot know the request never arrived: unknown, and the state is untouched.
      expect(outcome.error).toBeInstanceOf(CommitOutcomeUnknownError);
      expect(((outcome.error as Error).cause as Error).name).toBe('TransactionConflictException');
      expect(item?.version).toBe(before.version);
      expect(sameBytes(await rawValue(fx, key), op === 'put creating' ? undefined : SMALL)).toBe(true);
      return;
    }
    expect(outcome.error, 'the write landed: success').toBeUndefined();
    if (op === 'delete') {
      expect(outcome.value).toBe(true);
      expect(item?.deleted, 'its deletion marker is the item').toBeDefined();
      expect(item?.version).toBe(before.next);
      return;
    }
    expect(sameBytes(await rawValue(fx, key), next), 'the value is the write').toBe(true);
    expect(outcome.value).toEqual({
      key,
      version: item?.version,
      size: next.byteLength,
      stored: 'inline',
      created: before.created,
    });
    if (before.next !== undefined) expect(item?.version).toBe(before.next);
  });

  /**
   * The same decision for any error that leaves the outcome open: the SDK gives up with no answer
   * (its retries lost on the way), or with a 5xx.
   */
  function serverError(): Error {
    return Object.assign(new Error('injected: Internal server error'), {
      name: 'InternalServerError',
      $fault: 'server',
      $metadata: { httpStatusCode: 500 },
    });
  }
  test.each(
    ops.flatMap((op) =>
      (['answer lost, then every retry lost', 'answer lost, then 5xx to the last'] as const).map((f) => [op, f] as const),
    ),
  )('%s, %s: it landed, so it succeeds', async (op, how) => {
    const key = `conflict/open/${op}/${how}`;
    const before = await setUp(op, key);
    const match = steps(fx.config)[op === 'delete' ? 'hvDelete' : 'hvInline'];
    const skip = op === 'put over expired' ? 1 : 0;
    const injector = new FaultInjector().add({ kind: 'loseResponse', times: 1, skip, match });
    if (how === 'answer lost, then every retry lost') injector.add({ kind: 'loseRequest', skip, match });
    else injector.add({ kind: 'fail', skip, match, error: serverError });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const next = randomBody(302);
    const value =
      op === 'delete'
        ? await w.store.delete(key, { ifVersion: before.version! })
        : await w.store.put(key, next, op === 'put ifVersion' ? { ifVersion: before.version! } : {});
    expect(injector.stats.injected.loseResponse).toBe(1);
    // Every retry of the SDK's failed: its error, not a later answer, ended the write.
    expect(injector.stats.injected.loseRequest + injector.stats.injected.fail).toBeGreaterThan(0);
    const item = (await rawState(fx)).objects.find((o) => o.key === key);
    if (op === 'delete') {
      expect(value).toBe(true);
      expect(item?.deleted).toBeDefined();
    } else {
      expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
      expect(value).toEqual({ key, version: item?.version, size: next.byteLength, stored: 'inline', created: before.created });
    }
    if (before.next !== undefined) expect(item?.version).toBe(before.next);
  });
});

/**
 * An attempt that never reached DynamoDB because no connection was made (its host name not
 * resolved: `EAI_AGAIN`, `ENOTFOUND`; or the connection refused: `ECONNREFUSED`) was not applied,
 * and the SDK sends the request again (it takes those errors for transient). Taken for an attempt
 * whose answer was lost, it turned the retry's answer into an unknown outcome: a retry that met
 * another writer's transaction was a `CommitOutcomeUnknownError` (the objects API's 503) for a
 * write that never landed and would have on its next try, and a retry refused for its condition
 * (`ifVersion` of a version the object is no longer at) was the same instead of the
 * `VersionConflictError` (412) it is.
 */
describe('a small write whose first attempt made no connection', () => {
  const unconnected = (code: string) => () =>
    Object.assign(new Error(`${code === 'ECONNREFUSED' ? 'connect' : 'getaddrinfo'} ${code} dynamodb.local`), {
      code,
      syscall: code === 'ECONNREFUSED' ? 'connect' : 'getaddrinfo',
    });
  const codes = ['EAI_AGAIN', 'ENOTFOUND', 'ECONNREFUSED'] as const;

  test.each(codes)('%s, then the retry meets a transaction: tried again, it lands', async (code) => {
    const key = `conflict/unconnected/${code}`;
    const setup = makeWriter(fx);
    open.push(setup);
    const { version } = await setup.store.put(key, SMALL);
    const match = steps(fx.config).hvInline;
    const injector = new FaultInjector()
      .add({ kind: 'fail', times: 1, match, error: unconnected(code) })
      .add({ kind: 'fail', times: 1, match, error: conflict });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const next = randomBody(303);
    const result = await w.store.put(key, next, { ifVersion: version });
    expect(injector.stats.injected.fail).toBe(2);
    expect(result.version).toBe(version + 1);
    expect(sameBytes(await rawValue(fx, key), next)).toBe(true);
  });

  test.each(codes)('%s, then the retry refused for its condition: a VersionConflictError', async (code) => {
    const key = `conflict/unconnected-stale/${code}`;
    const setup = makeWriter(fx);
    open.push(setup);
    const { version } = await setup.store.put(key, SMALL);
    await setup.store.put(key, randomBody(304));
    const match = steps(fx.config).hvInline;
    const injector = new FaultInjector().add({ kind: 'fail', times: 1, match, error: unconnected(code) });
    const w = makeWriter(fx, { injector });
    open.push(w);
    const err = await w.store.put(key, randomBody(305), { ifVersion: version }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(injector.stats.injected.fail).toBe(1);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(await rawValue(fx, key)).toHaveLength(304);
  });
});
