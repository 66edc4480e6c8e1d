/**
 * Conditional small writes whose answer is lost: the SDK sends the request again, and the retry
 * meets the state the first attempt left (or a state another writer made on top of it). A
 * refused retry then proves nothing about the write: answering "version conflict" (412, nothing
 * written) would be false when the first attempt landed. (Found by the fault simulation's model,
 * seed 1: a conditional delete answered VersionConflictError and the object was gone.)
 *
 * The same for the PutItem that creates an upload session (its id is fresh: an item under it is
 * its own first attempt), and for an abort's claim of its session (a claim that finds the session
 * claimed for an abort is the abort's own, or another abort's: either way the abort's work goes on).
 *
 * And the known limit of unconditional small writes: a retry after another writer's write applies
 * again (nothing but the write's own id guards it, and that is gone once another write is on top).
 */
import { describe, expect, test } from 'vitest';
import { isThrottling } from '../../lib/aws/errors.js';
import { CommitOutcomeUnknownError, VersionConflictError } from '../../lib/errors.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { rawState } from '../tiered/harness.js';
import { faultWriters } from './writers.js';

const writer = faultWriters();

const hv = (fx: Fixture, command: string) => (r: RequestInfo) => r.command === command && r.input.TableName === fx.config.objectsTable;

async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

describe('a conditional small write whose answer is lost', () => {
  test('delete (ifVersion): the object is gone; the answer is not a version conflict', async () => {
    const fx = await freshFixture();
    const plain = writer(fx);
    const { version } = await plain.put('k', 'small');
    // A delete writes a deletion marker (an UpdateItem that sets `deleted`).
    const marker = (r: Parameters<ReturnType<typeof hv>>[0]) =>
      hv(fx, 'UpdateItemCommand')(r) && String(r.input.UpdateExpression).includes('#deleted = ');
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: marker, times: 1 });
    const result = await settle(writer(fx, { injector }).delete('k', { ifVersion: version }));
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(await plain.get('k')).toBeUndefined();
    expect(result.error).not.toBeInstanceOf(VersionConflictError);
    if (result.error !== undefined) expect(result.error).toBeInstanceOf(CommitOutcomeUnknownError);
    else expect(result.value).toBe(true);
  });

  test('put (ifVersion) overtaken by another writer between its attempts: landed, so not a version conflict', async () => {
    const fx = await freshFixture();
    const plain = writer(fx);
    const { version } = await plain.put('k', 'v1');
    let other: Promise<unknown> | undefined;
    const injector = new FaultInjector()
      .add({ kind: 'loseResponse', match: hv(fx, 'UpdateItemCommand'), times: 1 })
      // Before the retry goes out, another writer writes on top of the first attempt.
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: hv(fx, 'UpdateItemCommand'),
        before: async () => {
          other = plain.put('k', 'other');
          await other;
        },
      });
    const result = await settle(writer(fx, { injector }).put('k', 'mine', { ifVersion: version }));
    await other;
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, delay: 1 });
    // The first attempt made the next version ("mine"); the other writer made one more on top of it.
    expect((await plain.get('k'))?.version).toBe(version + 2);
    expect(result.error).toBeInstanceOf(CommitOutcomeUnknownError);
  });

  test('without another writer the retry recognises its own write (no error)', async () => {
    const fx = await freshFixture();
    const plain = writer(fx);
    const { version } = await plain.put('k', 'v1');
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: hv(fx, 'UpdateItemCommand'), times: 1 });
    expect((await writer(fx, { injector }).put('k', 'mine', { ifVersion: version })).version).toBe(version + 1);
    expect(injector.stats.injected.loseResponse).toBe(1);
    expect(Buffer.from((await plain.get('k'))!.body).toString()).toBe('mine');
  });
});

describe('a small write none of whose attempts got an answer (none applied)', () => {
  // Decided by a consistent read: the item does not carry the write's id, so the write is unknown
  // (it may still land), never a success answered with the item another write left.
  test.each<[string, (w: ReturnType<typeof writer>) => Promise<unknown>]>([
    ['put', (w) => w.put('k', 'mine')],
    ['delete', (w) => w.delete('k')],
  ])('%s: CommitOutcomeUnknownError, the value as it was', async (_name, op) => {
    const fx = await freshFixture();
    const plain = writer(fx);
    const { version } = await plain.put('k', 'v1');
    const injector = new FaultInjector().add({ kind: 'loseRequest', match: hv(fx, 'UpdateItemCommand') });
    const result = await settle(op(writer(fx, { injector })));
    expect(injector.stats.injected.loseRequest).toBeGreaterThan(0);
    expect(result.error).toBeInstanceOf(CommitOutcomeUnknownError);
    const now = await plain.get('k');
    expect(now?.version).toBe(version);
    expect(new TextDecoder().decode(now?.body)).toBe('v1');
  });
});

describe('a small write throttled on every attempt (none applied: a 400 each time)', () => {
  // Nothing may have landed: the answer is the throttling (retry later: the objects API's 503),
  // not "unknown" (which tells the caller the write may still land, and to read before retrying).
  test.each<[string, (w: ReturnType<typeof writer>) => Promise<unknown>]>([
    ['put', (w) => w.put('k', 'mine')],
    ['delete', (w) => w.delete('k')],
  ])('%s: the throttling error, the value as it was', async (_name, op) => {
    const fx = await freshFixture();
    const plain = writer(fx);
    const { version } = await plain.put('k', 'v1');
    const injector = new FaultInjector().add({ kind: 'throttle', match: hv(fx, 'UpdateItemCommand') });
    const result = await settle(op(writer(fx, { injector })));
    expect(injector.stats.injected.throttle).toBeGreaterThan(1);
    expect(result.error).not.toBeInstanceOf(CommitOutcomeUnknownError);
    expect(isThrottling(result.error)).toBe(true);
    expect((await plain.get('k'))?.version).toBe(version);
  });
});

describe('known limit: an unconditional small write retried after another writer applies again', () => {
  test('the value ends as the retried write, at a version one past the other writer', async () => {
    const fx = await freshFixture();
    const plain = writer(fx);
    const { version } = await plain.put('k', 'v1');
    let other: Promise<unknown> | undefined;
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: hv(fx, 'UpdateItemCommand'), times: 1 }).add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: hv(fx, 'UpdateItemCommand'),
      before: async () => {
        other = plain.put('k', 'other');
        await other;
      },
    });
    const mine = await writer(fx, { injector }).put('k', 'mine');
    expect((await other) as { version: number }).toMatchObject({ version: version + 2 }); // on top of "mine"
    expect(mine.version).toBe(version + 3); // applied a second time
    expect(Buffer.from((await plain.get('k'))!.body).toString()).toBe('mine');
  });
});

describe('an upload session whose create lost its answer', () => {
  test('the SDK sends the PutItem again: the session is created once and completes', async () => {
    const fx = await freshFixture();
    const log = (r: RequestInfo) => r.command === 'PutItemCommand' && r.input.TableName === fx.config.changeLogTable;
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: log, times: 1 });
    const store = writer(fx, { injector });
    const created = await store.createUpload('k', { size: 5 });
    expect(injector.stats.injected.loseResponse).toBe(1);
    const url = await store.uploadPartUrl(created.uploadId, 1);
    const put = await fetch(url, { method: 'PUT', body: new Uint8Array([1, 2, 3, 4, 5]) });
    expect(put.status).toBe(200);
    const result = await store.completeUpload(created.uploadId, [{ partNumber: 1, etag: put.headers.get('etag')! }]);
    expect(result).toMatchObject({ size: 5, created: true });
    expect(await writer(fx).get('k')).toMatchObject({ version: result.version, body: new Uint8Array([1, 2, 3, 4, 5]) });
  });
});

describe("an upload session complete whose commit landed, its answer lost, and the SDK's retry sent past the token's 10 minutes", () => {
  test('the retry, refused by the commit itself, is recognised: the complete answers the version it stored', async () => {
    const fx = await freshFixture();
    const store = writer(fx);
    const created = await store.createUpload('k', { size: 5 });
    const url = await store.uploadPartUrl(created.uploadId, 1);
    const put = await fetch(url, { method: 'PUT', body: new Uint8Array([1, 2, 3, 4, 5]) });
    const commit = atStep('commit', fx.config);
    const injector = new FaultInjector()
      .add({ kind: 'loseResponse', match: commit, times: 1 })
      .add({ kind: 'expireToken', match: commit, times: 1 });
    const result = await writer(fx, { injector }).completeUpload(created.uploadId, [{ partNumber: 1, etag: put.headers.get('etag')! }]);
    expect(injector.stats.injected).toMatchObject({ loseResponse: 1, expireToken: 1 });
    expect(result).toMatchObject({ size: 5, created: true });
    expect(await writer(fx).get('k')).toMatchObject({ version: result.version, body: new Uint8Array([1, 2, 3, 4, 5]) });
  });
});

describe('an abort whose claim of its session lost its answer', () => {
  test('the SDK sends the claim again and finds it done: the abort answers, and its parts, blob and session are gone', async () => {
    const fx = await freshFixture();
    const store = writer(fx);
    const created = await store.createUpload('k', { size: 5 });
    const url = await store.uploadPartUrl(created.uploadId, 1);
    expect((await fetch(url, { method: 'PUT', body: new Uint8Array([1, 2, 3, 4, 5]) })).status).toBe(200);
    const injector = new FaultInjector().add({ kind: 'loseResponse', match: atStep('session-abort-claim', fx.config), times: 1 });
    await writer(fx, { injector }).abortUpload(created.uploadId);
    expect(injector.stats.injected.loseResponse).toBe(1);
    // Done by the abort itself, not left for a sweeper: a client still uploading gets NoSuchUpload.
    expect((await fetch(url, { method: 'PUT', body: new Uint8Array([1]) })).status).toBe(404);
    const state = await rawState(fx);
    expect(state.instances.filter((i) => i.pk === created.uploadId)).toEqual([]);
    expect(state.blobs).toEqual([]);
  });
});
