/**
 * The drill's simulated Lambda writer (lib/drill/writer.ts): what it reports of an operation is
 * what the register model judges the store by, and where it dies is where the drill says it
 * crashed. A writer that reported a refusal as unknown, a success as a failure, or died at
 * another request than planned would make the drill check less than it says.
 */
import { describe, expect, it } from 'vitest';
import { bodyFor } from '../../lib/drill/model.js';
import { listUploads } from '../../lib/drill/invariants.js';
import { seededRandom } from '../../lib/drill/random.js';
import type { RequestInfo } from '../../lib/faults/fault-injector.js';
import { completeToRetry, type Operation, SimulatedWriter, writeStatusOf } from '../../lib/drill/writer.js';
import type { ExpiryPolicy } from '../../lib/tiered/expiry.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { closedAfterEach, rawState } from '../tiered/harness.js';

const open = closedAfterEach<SimulatedWriter>();

function writerOn(fx: Fixture): SimulatedWriter {
  const writer = new SimulatedWriter({ config: fx.config, random: seededRandom(1), invocationMs: 2_000 });
  open.push(writer);
  return writer;
}

const put = (key: string, tag: string, size = 20_000, expiry?: ExpiryPolicy): Operation => ({
  kind: 'put',
  key,
  tag,
  body: bodyFor(tag, size),
  ...(expiry !== undefined ? { expiry } : {}),
});

/** Nothing of any write: no object, no writer instance in the log, no blob. */
async function untouched(fx: Fixture): Promise<boolean> {
  const state = await rawState(fx);
  return state.objects.length === 0 && state.instances.length === 0 && state.blobs.length === 0;
}

describe('SimulatedWriter: what it reports', () => {
  it('a put and a delete acknowledged, and done', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const stored = await writer.run(put('w/a', 'a1'));
    expect(writeStatusOf(stored)).toBe('acked');
    expect((await writer.store.get('w/a'))?.metadata.tag).toBe('a1');
    const deleted = await writer.run({ kind: 'delete', key: 'w/a', tag: 'd' });
    expect(writeStatusOf(deleted)).toBe('acked');
    expect(await writer.store.get('w/a')).toBeUndefined();
  });

  it('a put keeps its expiry', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const at = new Date(Math.ceil(Date.now() / 1_000) * 1_000 + 60_000);
    await writer.run(put('w/exp', 'e', 100, { expiresAt: at }));
    expect((await writer.store.head('w/exp'))?.expiresAt?.getTime()).toBe(at.getTime());
  });

  it('a put the store refused for sure is reported with its error name: a read of its value is then wrong', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const outcome = await writer.run(put('w/past', 'p', 100, { expiresAt: new Date(Date.now() - 60_000) }));
    expect(outcome).toMatchObject({ acknowledged: false, errorName: 'ValidationError' });
    expect(writeStatusOf(outcome)).toBe('failed');
    expect(writer.isAlive).toBe(true);
  });
});

describe('SimulatedWriter: a crash', () => {
  it('before the first request: nothing of the operation reached a server; after it, its first write did', async () => {
    const fx = await freshFixture();
    const before = writerOn(fx);
    const outcome = await before.run(put('w/crash', 'c1'), { atRequest: 0, after: false });
    expect(outcome.crashedAt).toBeDefined();
    // Nothing of it reached HV: it never lands, and a read of its value is wrong (it was "unknown").
    expect(writeStatusOf(outcome)).toBe('failed');
    expect(await untouched(fx)).toBe(true);

    const after = writerOn(fx);
    const died = await after.run(put('w/crash', 'c2'), { atRequest: 0, after: true });
    expect(died.crashedAt).toBe(outcome.crashedAt);
    expect(await untouched(fx)).toBe(false);
  });

  it('before its commit, the first write to HV: a write that never lands; after it, one that may have landed', async () => {
    const fx = await freshFixture();
    // A fresh writer's put of a blob: record, HV read, upload, then the commit (its 4th request).
    const before = await writerOn(fx).run(put('w/commit', 'k1'), { atRequest: 3, after: false });
    expect(before).toMatchObject({ acknowledged: false, crashedAt: 'commit', hvWriteSent: false });
    expect(writeStatusOf(before)).toBe('failed');
    expect(await writerOn(fx).store.get('w/commit')).toBeUndefined();
    const after = await writerOn(fx).run(put('w/commit', 'k2'), { atRequest: 3, after: true });
    expect(after).toMatchObject({ acknowledged: false, crashedAt: 'commit', hvWriteSent: true });
    expect(writeStatusOf(after)).toBe('unknown');
    expect((await writerOn(fx).store.get('w/commit'))?.metadata.tag).toBe('k2');
    // An inline value's delete is one write to HV, its marker: stopped unsent, the value stays.
    expect((await writerOn(fx).run(put('w/inline', 'i1', 100))).acknowledged).toBe(true);
    const marker = await writerOn(fx).run({ kind: 'delete', key: 'w/inline', tag: 'x' }, { atRequest: 0, after: false });
    expect(marker).toMatchObject({ crashedAt: 'hv-delete', hvWriteSent: false });
    expect(writeStatusOf(marker)).toBe('failed');
    expect((await writerOn(fx).store.get('w/inline'))?.metadata.tag).toBe('i1');
  });

  it('kills the writer: its next operation runs nothing and is no acknowledgement', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const died = await writer.run(put('w/dead', 'd1'), { atRequest: 0, after: false });
    expect(died.crashedAt).toBeDefined();
    expect(writer.isAlive).toBe(false);
    const next = await writer.run(put('w/dead', 'd2'));
    expect(next).toMatchObject({ acknowledged: false, error: 'writer is dead' });
    expect(await untouched(fx)).toBe(true);
  });

  it('armed past the last request of an operation, it is disarmed with it: the next operations run', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const clean = await writer.run(put('w/count', 'n0'));
    expect(clean.acknowledged).toBe(true);
    const requests = writer.injector.stats.requests;
    expect(await writer.run(put('w/armed', 'n1'), { atRequest: requests + 5, after: false })).toMatchObject({ acknowledged: true });
    for (const tag of ['n2', 'n3', 'n4']) expect(await writer.run(put(`w/${tag}`, tag)), tag).toMatchObject({ acknowledged: true });
    expect(writer.isAlive).toBe(true);
  });
});

describe('SimulatedWriter: a crash after the answer was decided', () => {
  it('in the cleanup of an acknowledged overwrite: the operation is acknowledged and names the crash, and the writer is dead', async () => {
    // The store answers an overwrite whose commit landed even when the delete of the replaced
    // blob fails (it is left to the sweeper): a crash there is swallowed by the put. The writer
    // reported a plain success and lived on, its next operation dying before any request and
    // counted as a crash that may have landed (a delete that "may have landed" lets a read of
    // absent pass over a lost value).
    const fx = await freshFixture();
    const setup = writerOn(fx);
    expect((await setup.run(put('w/settle', 's0'))).acknowledged).toBe(true);
    const writer = writerOn(fx);
    // A fresh writer's overwrite: record, HV read, upload, commit, then the delete of the old blob.
    const outcome = await writer.run(put('w/settle', 's1'), { atRequest: 4, after: false });
    expect(outcome.acknowledged).toBe(true);
    expect(writeStatusOf(outcome)).toBe('acked');
    expect(outcome.crashedAt, 'the crash fired and is reported').toBe('delete-blob');
    expect(writer.isAlive).toBe(false);
    expect(await writer.run({ kind: 'delete', key: 'w/settle', tag: 'd' })).toMatchObject({ acknowledged: false, error: 'writer is dead' });
    expect((await setup.store.get('w/settle'))?.metadata.tag).toBe('s1');
  });
});

/** A 500 from DynamoDB, as the SDK throws it after its retries. */
function serverError(): Error {
  return Object.assign(new Error('injected: internal server error'), {
    name: 'InternalServerError',
    $fault: 'server',
    $metadata: { httpStatusCode: 500 },
  });
}

describe('SimulatedWriter: an upload session', () => {
  const session = (key: string, tag: string, ending: 'complete' | 'abort' | 'abandon', size = 30_000): Operation => ({
    kind: 'session',
    key,
    tag,
    body: bodyFor(tag, size),
    partSize: 5 * 1024 * 1024,
    ending,
    expiresInMs: 60_000,
  });

  it('completed: acknowledged at the version it answered, the value readable; abandoned or aborted: a write that never lands', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const done = await writer.run(session('w/s', 's1', 'complete', 5 * 1024 * 1024 + 10));
    expect(done).toMatchObject({ acknowledged: true, session: { created: true, completeSent: true, version: expect.any(Number) } });
    expect(writeStatusOf(done)).toBe('acked');
    expect((await writer.store.get('w/s'))?.metadata.tag).toBe('s1');
    for (const ending of ['abandon', 'abort'] as const) {
      const left = await writer.run(session('w/s', `s-${ending}`, ending));
      expect(left, ending).toMatchObject({ acknowledged: false, session: { created: true, completeSent: false } });
      expect(writeStatusOf(left), ending).toBe('failed');
      expect((await writer.store.get('w/s'))?.metadata.tag, ending).toBe('s1');
    }
    expect(await listUploads(fx.s3, fx.config.bucket, `${fx.config.prefix}/`), 'the abandoned session waits for a sweeper').toHaveLength(1);
  });

  it('a death in its create is a write that never lands; one at its commit answer may have landed', async () => {
    const fx = await freshFixture();
    const inCreate = await writerOn(fx).run(session('w/c', 'c1', 'complete'), { atRequest: 1, after: false });
    expect(inCreate).toMatchObject({ acknowledged: false, crashedAt: 'mp-create', session: { created: false, completeSent: false } });
    expect(writeStatusOf(inCreate)).toBe('failed');
    // create (3), one part URL (1), then the complete's reads, list and assembly: its commit is the 10th request.
    const atCommit = await writerOn(fx).run(session('w/c', 'c2', 'complete'), { atRequest: 9, after: true });
    expect(atCommit).toMatchObject({ acknowledged: false, crashedAt: 'commit', session: { completeSent: true } });
    expect(writeStatusOf(atCommit)).toBe('unknown');
    const stored = await writerOn(fx).store.get('w/c');
    expect(stored?.metadata.tag).toBe('c2');
    // Its client sends the complete again, to a fresh writer: the commit the first one landed.
    const again = await writerOn(fx).retryComplete(atCommit.session!.completing!);
    expect(again).toMatchObject({ acknowledged: true, session: { version: stored?.version } });
  });

  it('a complete whose commit answer was lost is an unknown outcome its client retries: the retry answers the commit', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    // The commit landed, its answer lost, and every DynamoDB request after it failing: the store
    // cannot tell whether it landed.
    let committed = false;
    const lost = { kind: 'loseResponse' as const, match: (r: RequestInfo) => !committed && r.command === 'TransactWriteItemsCommand' };
    const down = { kind: 'fail' as const, match: (r: RequestInfo) => committed && r.service === 'dynamodb', error: () => serverError() };
    writer.injector.add({ ...lost, before: async () => void (committed = true) });
    writer.injector.add(down);
    const outcome = await writer.run(session('w/u', 'u1', 'complete'));
    expect(outcome).toMatchObject({ acknowledged: false, session: { completeSent: true } });
    expect(outcome.crashedAt).toBeUndefined();
    expect(writeStatusOf(outcome)).toBe('unknown');
    expect(completeToRetry(outcome)).toBe(outcome.session?.completing);
    writer.injector.remove(down);
    const again = await writerOn(fx).retryComplete(completeToRetry(outcome)!);
    expect(again).toMatchObject({ acknowledged: true, session: { version: (await writer.store.head('w/u'))?.version } });
    // Refused for sure, or answered: nothing to send again.
    expect(completeToRetry(again)).toBeUndefined();
    expect(completeToRetry({ ...outcome, errorName: 'UploadSessionClosedError' })).toBeUndefined();
  });

  it('a session keeps its object expiry, counted from its complete', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    const op = { ...session('w/e', 'e1', 'complete'), expiry: { timeToLiveMs: 60_000 } };
    const before = Date.now();
    expect((await writer.run(op)).acknowledged).toBe(true);
    const expiresAt = (await writer.store.head('w/e'))?.expiresAt?.getTime();
    expect(expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(expiresAt).toBeLessThanOrEqual(Math.ceil((Date.now() + 60_000) / 1_000) * 1_000);
  });

  it('a write beside its complete runs at once with it, and is awaited', async () => {
    const fx = await freshFixture();
    const writer = writerOn(fx);
    let raced = false;
    const outcome = await writer.run(session('w/r', 'r1', 'complete'), undefined, async () => {
      await writerOn(fx).run(put('w/r', 'r2'));
      raced = true;
    });
    expect(outcome.acknowledged).toBe(true);
    expect(raced).toBe(true);
    expect(['r1', 'r2']).toContain((await writer.store.get('w/r'))?.metadata.tag);
  });
});
