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
import { beforeAll, expect, test } from 'vitest';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { encodeObjectId } from '../../lib/tiered/blob-keys.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  KiB,
  makeSweeper,
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
  const { sweeper, close } = makeSweeper(own, PAST_EVERYTHING_MS, { injector });
  try {
    expect(await sweeper.sweep()).toMatchObject({ instancesClaimed: 1, errors: 0 });
  } finally {
    close();
  }
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
