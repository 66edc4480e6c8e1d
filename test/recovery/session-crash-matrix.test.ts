/**
 * Crash-point matrix of upload sessions: the process serving a session step (create, part URL,
 * complete of a create or an overwrite, abort) dies before / right after each request the step
 * issues, in protocol order. The client then retries the step on a fresh process (as it would
 * after a 5xx), and a sweeper far past every lease runs. Checked from outside: no blob HV
 * references is missing (also before the sweep), no blob leaks, no change-log entry or instance
 * item is left (a committed session's, kept a day for a retried complete, once a sweep a day later
 * retired it), no multipart upload is left open, the object holds the old value or the new one
 * (new exactly when the complete or its retry succeeded), and the retried complete answers the
 * version the object has. Every writer gets AWS's answers to a caller without s3:ListBucket (a
 * GET of a missing key is 403): no step may rely on a 404.
 *
 * Then the races: complete against the sweeper at expiry, an abort against a complete held after
 * its assembly, a complete retried after the sweeper took its session, a double complete, an
 * abandoned session, and a client that keeps uploading parts after expiry.
 */
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, ListPartsCommand } from '@aws-sdk/client-s3';
import { describe, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { UploadAssembledError, UploadSessionClosedError, UploadSessionNotFoundError } from '../../lib/errors.js';
import { FaultInjector, type FaultKind } from '../../lib/faults/fault-injector.js';
import { atStep, type ProtocolStep } from '../../lib/faults/protocol-steps.js';
import { withoutListBucket } from '../../lib/faults/without-list-bucket.js';
import type { PutResult, TieredStore } from '../../lib/tiered/tiered-store.js';
import { COMPLETE_ANSWER_KEPT_MS } from '../../lib/tiered/upload-sessions.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import {
  KiB,
  MiB,
  PAST_EVERYTHING_MS,
  deferred,
  expectClean,
  isFirstVersionBetween,
  makeSweeper,
  makeWriter,
  writersClosedAfterEach,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  sweepPastEverything,
  type Writer,
} from '../tiered/harness.js';
import { putPart, uploadParts } from '../tiered/upload-session-client.js';

type Parts = Array<{ partNumber: number; etag: string }>;

function sessionSteps(fx: Fixture) {
  const at = (step: ProtocolStep) => atStep(step, fx.config);
  return {
    sessionPut: at('session-create'),
    sessionRead: at('session-read'),
    hvRead: at('hv-read'),
    mpCreate: at('mp-create'),
    noteUploadId: at('session-note-upload'),
    mpComplete: at('mp-complete'),
    listParts: at('mp-list-parts'),
    commit: at('commit'),
    deleteBlob: at('delete-blob'),
    removeEntry: at('remove'),
    claimForAbort: at('session-abort-claim'),
    mpAbort: at('mp-abort'),
    deleteSession: at('session-delete'),
  };
}
type StepName = keyof ReturnType<typeof sessionSteps>;

interface Prepared {
  readonly uploadId: string;
  readonly parts: Parts;
}

interface Scenario {
  readonly name: string;
  readonly old?: Uint8Array;
  /** Opens the session and uploads its parts with a clean process (none for `create`). */
  readonly prepare?: (store: TieredStore, key: string) => Promise<Prepared>;
  /** `oldVersion`: the version of `old` as written (none without `old`). */
  readonly op: (store: TieredStore, key: string, p: Prepared | undefined, oldVersion?: number) => Promise<unknown>;
  /** The same request again, by the client, on a fresh process. */
  readonly retry?: (store: TieredStore, key: string, p: Prepared | undefined) => Promise<unknown>;
  readonly steps: readonly StepName[];
  /** True when the object ends with the new value. */
  readonly commits: boolean;
}

const oldLarge = randomBody(48 * KiB);
const sessionBody = randomBody(5 * MiB + 17 * KiB);
const SESSION = { expiresInMs: 60_000, partSize: 5 * MiB } as const;

async function prepare(store: TieredStore, key: string): Promise<Prepared> {
  const created = await store.createUpload(key, SESSION);
  return { uploadId: created.uploadId, parts: await uploadParts(store, created.uploadId, sessionBody, created.partSize) };
}

const complete = (s: TieredStore, _k: string, p: Prepared | undefined) => s.completeUpload(p!.uploadId, p!.parts);

const scenarios: Scenario[] = [
  { name: 'create', op: (s, k) => s.createUpload(k, SESSION), steps: ['sessionPut', 'mpCreate', 'noteUploadId'], commits: false },
  {
    name: 'create with ifVersion',
    old: oldLarge,
    op: (s, k, _p, oldVersion) => s.createUpload(k, { ...SESSION, ifVersion: oldVersion! }),
    steps: ['hvRead', 'sessionPut', 'mpCreate', 'noteUploadId'],
    commits: false,
  },
  { name: 'part URL', prepare, op: (s, _k, p) => s.uploadPartUrl(p!.uploadId, 2), steps: ['sessionRead'], commits: false },
  {
    name: 'complete (create)',
    prepare,
    op: complete,
    retry: complete,
    // No read of the session after a commit it applied: the result it wrote is the answer.
    steps: ['sessionRead', 'hvRead', 'listParts', 'mpComplete', 'commit'],
    commits: true,
  },
  {
    name: 'complete (overwrite)',
    old: oldLarge,
    prepare,
    op: complete,
    retry: complete,
    steps: ['sessionRead', 'hvRead', 'listParts', 'mpComplete', 'commit', 'deleteBlob', 'removeEntry'],
    commits: true,
  },
  {
    name: 'abort',
    prepare,
    op: (s, _k, p) => s.abortUpload(p!.uploadId),
    retry: (s, _k, p) => s.abortUpload(p!.uploadId).catch(() => undefined),
    steps: ['sessionRead', 'claimForAbort', 'mpAbort', 'hvRead', 'deleteBlob', 'deleteSession'],
    commits: false,
  },
];

interface Case {
  readonly scenario: Scenario;
  readonly step: StepName;
  /** Which occurrence of the step (a step may repeat, e.g. sessionRead). */
  readonly occurrence: number;
  readonly kind: FaultKind;
}

const cases: Array<[string, string, string, Case]> = scenarios.flatMap((scenario) =>
  scenario.steps.flatMap((step, index) => {
    const occurrence = scenario.steps.slice(0, index).filter((s) => s === step).length;
    return (['crashBefore', 'crashAfter'] as const).map(
      (kind) => [scenario.name, `${index + 1}.${step}`, kind, { scenario, step, occurrence, kind }] as [string, string, string, Case],
    );
  }),
);

const open = writersClosedAfterEach();

/** A writer "process" answered as AWS answers a writer without s3:ListBucket (403 for a missing key). */
function writer(fx: Fixture, injector?: FaultInjector): Writer {
  const w = makeWriter(fx, injector !== undefined ? { injector } : {});
  withoutListBucket(w.s3);
  open.push(w);
  return w;
}

/** S3 upload ids of every session item, read raw. */
async function sessionUploads(fx: Fixture): Promise<Array<{ blob: string; s3UploadId: string }>> {
  const items = await scanAll(fx.dynamodb, fx.config.changeLogTable);
  return items
    .map((i) => i.upload as { blob?: string; s3UploadId?: string } | undefined)
    .filter((u): u is { blob: string; s3UploadId: string } => typeof u?.blob === 'string' && typeof u.s3UploadId === 'string');
}

async function expectUploadGone(fx: Fixture, upload: { blob: string; s3UploadId: string }): Promise<void> {
  const err = await fx.s3
    .send(new ListPartsCommand({ Bucket: fx.config.bucket, Key: upload.blob, UploadId: upload.s3UploadId }))
    .catch((e: unknown) => e);
  expect((err as { name?: string }).name, 'no multipart upload left open').toBe('NoSuchUpload');
}

describe('session crash-point matrix', () => {
  test('covers every step of every session scenario', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    console.log(
      `session crash-point matrix: ${cases.length} cases\n${scenarios.map((s) => `  ${s.name}: ${s.steps.join(' -> ')}`).join('\n')}`,
    );
  });

  test.each(cases)('%s: %s %s', async (_scenario, _step, _kind, c) => {
    const { scenario } = c;
    const fx = await freshFixture();
    const key = `crash/${scenario.name}`;
    const setup = writer(fx);
    const oldVersion = scenario.old !== undefined ? (await setup.store.put(key, scenario.old)).version : undefined;
    const prepared = scenario.prepare !== undefined ? await scenario.prepare(setup.store, key) : undefined;
    // A commit answers one past the old value's version, or, over no item, a version from the clock at its commit.
    const since = Date.now();
    const expectCommitted = (result: unknown) => {
      const { version } = result as { version: number };
      if (oldVersion !== undefined) expect(version).toBe(oldVersion + 1);
      else expect(isFirstVersionBetween(version, since, Date.now()), `${version} is a first version`).toBe(true);
    };

    const match = sessionSteps(fx)[c.step];
    const injector = new FaultInjector().add({ kind: c.kind, match, skip: c.occurrence, times: 1 });
    const crashing = writer(fx, injector);
    let acknowledged = false;
    let answer: unknown;
    try {
      answer = await scenario.op(crashing.store, key, prepared, oldVersion);
      acknowledged = true;
    } catch {
      // the crash
    }
    expect(injector.crashedAt, 'the crash fired').toBeDefined();
    // Only the cleanup after a landed commit may fail quietly (it is left to the sweeper).
    const afterCommit =
      scenario.steps.indexOf('commit') >= 0 &&
      scenario.steps.indexOf(c.step) > scenario.steps.indexOf('commit') &&
      c.step !== 'sessionRead';
    if (acknowledged) expect(afterCommit, 'only a write whose commit landed is acknowledged').toBe(true);
    if (acknowledged) expectCommitted(answer);
    expect((await rawState(fx)).lost, 'invariant 1 right after the crash').toEqual([]);

    if (scenario.retry !== undefined) answer = await scenario.retry(writer(fx).store, key, prepared);
    const expected = scenario.commits ? sessionBody : scenario.old;
    expect(sameBytes(await rawValue(fx, key), expected), 'value before the sweep').toBe(true);
    if (scenario.commits) {
      expect(answer).toMatchObject({ size: sessionBody.byteLength, created: scenario.old === undefined });
      expectCommitted(answer);
      expect((await rawState(fx)).objects.find((o) => o.key === key)?.version).toBe((answer as { version: number }).version);
    }

    const uploads = await sessionUploads(fx);
    const before = await rawState(fx);
    expect(before.lost, 'invariant 1 before the sweep').toEqual([]);
    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    expect(report.entriesQuarantined).toBe(0);
    await expectClean(fx, expect);
    // A committed session keeps its answer for a retried complete a day after the commit, then a sweep retires it.
    const late = makeSweeper(fx, COMPLETE_ANSWER_KEPT_MS + PAST_EVERYTHING_MS);
    try {
      expect((await late.sweeper.sweep()).errors).toBe(0);
    } finally {
      late.close();
    }
    const after = await expectClean(fx, expect);
    expect(after.instances, 'no instance or session items left').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected), 'value after the sweep').toBe(true);
    for (const upload of uploads) await expectUploadGone(fx, upload);
  });
});

/** `key` holds `oldLarge`; a session over it whose complete assembled the parts, then died at its commit. */
async function assembledThenDied(fx: Fixture, key: string): Promise<Prepared> {
  const setup = writer(fx);
  await setup.store.put(key, oldLarge);
  const p = await prepare(setup.store, key);
  const dying = writer(fx, new FaultInjector().add({ kind: 'crashBefore', match: (r) => r.command === 'TransactWriteItemsCommand' }));
  await expect(dying.store.completeUpload(p.uploadId, p.parts)).rejects.toThrow();
  return p;
}

/** A complete by `w` that holds right before its commit (after the assembly) until `release`. */
function completeHeldAtCommit(w: Writer, p: Prepared) {
  const reached = deferred();
  const release = deferred();
  (w.dynamodb.middlewareStack as any).add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      if (context.commandName === 'TransactWriteItemsCommand') {
        reached.resolve();
        await release.promise;
      }
      return next(args);
    },
    { step: 'initialize', name: 'holdCommit' },
  );
  const completing = w.store.completeUpload(p.uploadId, p.parts).then(
    (r) => ({ ok: true as const, r }),
    (e: unknown) => ({ ok: false as const, e }),
  );
  return { reached, release, completing };
}

describe('session races', () => {
  test('complete racing the sweeper at expiry: the claim fences the commit; nothing lost, nothing leaked', async () => {
    const fx = await freshFixture();
    const key = 'race/expiry';
    const setup = writer(fx);
    const p = await prepare(setup.store, key);
    // Hold the complete right before its commit, let the sweeper take the session, then release.
    const { reached, release, completing } = completeHeldAtCommit(writer(fx), p);
    await reached.promise;
    const report = await sweepPastEverything(fx);
    expect(report.instancesClaimed).toBeGreaterThanOrEqual(1);
    release.resolve();
    const outcome = await completing;
    expect(outcome.ok).toBe(false);
    expect((outcome as { e: unknown }).e).toBeInstanceOf(UploadSessionClosedError);
    expect(await rawValue(fx, key)).toBeUndefined();
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test('abort racing a complete held after its assembly: the abort fences the commit, the assembled blob is deleted, the old value stays', async () => {
    const fx = await freshFixture();
    const key = 'race/abort';
    const setup = writer(fx);
    await setup.store.put(key, oldLarge);
    const p = await prepare(setup.store, key);
    const { reached, release, completing } = completeHeldAtCommit(writer(fx), p);
    await reached.promise; // assembled, commit not sent
    await writer(fx).store.abortUpload(p.uploadId);
    release.resolve();
    const outcome = await completing;
    expect(outcome.ok).toBe(false);
    expect((outcome as { e: unknown }).e).toBeInstanceOf(UploadSessionClosedError);
    expect(sameBytes(await rawValue(fx, key), oldLarge)).toBe(true);
    // Nothing to sweep: the abort and the fenced complete cleaned up everything between them.
    await expectClean(fx, expect);
  });

  test('a complete retried after the sweeper took the session (its commit never landed) is refused and commits nothing', async () => {
    const fx = await freshFixture();
    const key = 'race/late-retry';
    const p = await assembledThenDied(fx, key);
    // The first sighting claims the session; a retry then is refused (it can never commit).
    const { sweeper, close } = makeSweeper(fx, PAST_EVERYTHING_MS);
    try {
      expect((await sweeper.sweep()).instancesClaimed).toBeGreaterThanOrEqual(1);
    } finally {
      close();
    }
    await expect(writer(fx).store.completeUpload(p.uploadId, p.parts)).rejects.toBeInstanceOf(UploadSessionClosedError);
    // Drained: the session is gone, a retry names no session; the assembled blob is deleted.
    await sweepPastEverything(fx);
    await expect(writer(fx).store.completeUpload(p.uploadId, p.parts)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    expect(sameBytes(await rawValue(fx, key), oldLarge)).toBe(true);
    await expectClean(fx, expect);
  });

  test('a complete that assembled and died before its commit: listing the parts says so (not "expired"), a complete again commits', async () => {
    const fx = await freshFixture();
    const key = 'race/assembled';
    const p = await assembledThenDied(fx, key);
    // S3 lists no parts of an assembled upload; the session is open and can still complete.
    await expect(writer(fx).store.listUploadParts(p.uploadId)).rejects.toBeInstanceOf(UploadAssembledError);
    const done = await writer(fx).store.completeUpload(p.uploadId, p.parts);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
    await expect(writer(fx).store.listUploadParts(p.uploadId)).rejects.toMatchObject({ reason: 'completed' });
    expect(await writer(fx).store.completeUpload(p.uploadId, p.parts)).toEqual(done);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test('an open session whose upload the bucket aborted (nothing assembled): listing the parts answers expired', async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    const p = await prepare(setup.store, 'race/lifecycle');
    // The bucket's lifecycle rule aborts incomplete uploads after some days, whatever the session says.
    for (const u of await sessionUploads(fx))
      await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: u.blob, UploadId: u.s3UploadId }));
    // The writer has no s3:ListBucket: S3 answers the absent object 403, which says nothing either way.
    await expect(writer(fx).store.listUploadParts(p.uploadId)).rejects.toMatchObject({
      constructor: UploadSessionClosedError,
      reason: 'expired',
    });
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test('a double complete (concurrent, then a retry) commits once and answers the same version', async () => {
    const fx = await freshFixture();
    const key = 'race/double';
    const setup = writer(fx);
    const { version } = await setup.store.put(key, oldLarge);
    const p = await prepare(setup.store, key);
    const [a, b] = await Promise.all([
      writer(fx).store.completeUpload(p.uploadId, p.parts),
      writer(fx).store.completeUpload(p.uploadId, p.parts),
    ]);
    expect(a).toEqual(b);
    expect(a.version).toBe(version + 1);
    expect(await writer(fx).store.completeUpload(p.uploadId, p.parts)).toEqual(a);
    expect((await setup.store.head(key))?.version).toBe(version + 1);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
  });

  test.each([
    ['without ifVersion', false],
    ['with ifVersion', true],
  ] as const)(
    "a complete held at its commit while the client's retry commits and another writer overwrites (%s): it answers the retry's version, not an error",
    async (_what, conditional) => {
      const fx = await freshFixture();
      const key = `race/retried-${conditional ? 'if' : 'any'}`;
      const setup = writer(fx);
      const { version } = await setup.store.put(key, oldLarge);
      const created = await setup.store.createUpload(key, { ...SESSION, ...(conditional ? { ifVersion: version } : {}) });
      const p = { uploadId: created.uploadId, parts: await uploadParts(setup.store, created.uploadId, sessionBody, created.partSize) };
      const { reached, release, completing } = completeHeldAtCommit(writer(fx), p);
      await reached.promise; // assembled, its commit not sent: the client gave up waiting and retried
      const retried = await writer(fx).store.completeUpload(p.uploadId, p.parts);
      expect(retried.version).toBe(version + 1);
      const newer = randomBody(40 * KiB);
      await setup.store.put(key, newer);
      release.resolve();
      // The session completed once: every complete of it answers that, as a later retry does.
      expect(await completing).toEqual({ ok: true, r: retried });
      expect(await writer(fx).store.completeUpload(p.uploadId, p.parts)).toEqual(retried);
      expect(sameBytes(await rawValue(fx, key), newer)).toBe(true);
      await sweepPastEverything(fx);
      await expectClean(fx, expect);
    },
  );

  test("a complete that read the session just before the client's retry of it committed, answered past the session's expiry: that commit's answer (created), not 'expired'", async () => {
    const fx = await freshFixture();
    const key = 'race/read-before-retry';
    const p = await prepare(writer(fx).store, key);
    let retried: PutResult | undefined;
    let offsetMs = 0;
    // Between its read of the session (open, no result) and its read of the object: the retry commits, and the session expires.
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: sessionSteps(fx).hvRead,
      before: async () => {
        retried = await writer(fx).store.completeUpload(p.uploadId, p.parts);
        offsetMs = SESSION.expiresInMs + 60_000;
      },
    });
    const late = makeWriter(fx, { injector, store: { clock: () => Date.now() + offsetMs } });
    open.push(late);
    const answer = await late.store.completeUpload(p.uploadId, p.parts);
    expect(injector.stats.injected.delay, 'the retry committed in between').toBe(1);
    expect(retried).toMatchObject({ created: true, size: sessionBody.byteLength });
    expect(answer).toEqual(retried);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test("a complete held before its part listing while the client's retry commits and another writer overwrites (the session's blob deleted): the retry's answer, not 'completed'", async () => {
    const fx = await freshFixture();
    const key = 'race/retried-then-overwritten';
    const setup = writer(fx);
    const p = await prepare(setup.store, key);
    let retried: PutResult | undefined;
    const newer = randomBody(40 * KiB);
    // Between its read of the object and its part listing: the retry commits (assembling the
    // upload), and an overwrite replaces the object, deleting the blob the retry committed.
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: sessionSteps(fx).listParts,
      before: async () => {
        retried = await writer(fx).store.completeUpload(p.uploadId, p.parts);
        await setup.store.put(key, newer);
      },
    });
    const answer = await writer(fx, injector).store.completeUpload(p.uploadId, p.parts);
    expect(injector.stats.injected.delay, 'the retry and the overwrite ran in between').toBe(1);
    expect(retried).toMatchObject({ created: true, size: sessionBody.byteLength });
    expect(answer).toEqual(retried);
    expect(sameBytes(await rawValue(fx, key), newer)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), newer)).toBe(true);
  });

  test("a complete whose commit meets a transaction while the client's retry commits: its next attempt finds that commit, answers it, and deletes nothing the object points at", async () => {
    const fx = await freshFixture();
    const key = 'race/busy-then-retried';
    const setup = writer(fx);
    const { version } = await setup.store.put(key, oldLarge);
    const p = await prepare(setup.store, key);
    let retried: PutResult | undefined;
    const injector = new FaultInjector().add({
      kind: 'fail',
      times: 1,
      match: sessionSteps(fx).commit,
      // The retry commits while this commit's transaction is cancelled as busy: it reads the object again and tries once more.
      before: async () => void (retried = await writer(fx).store.completeUpload(p.uploadId, p.parts)),
      error: () =>
        new TransactionCanceledException({
          message: 'injected: Transaction cancelled [None, TransactionConflict]',
          $metadata: { httpStatusCode: 400 },
          CancellationReasons: [{ Code: 'None' }, { Code: 'TransactionConflict' }],
        }),
    });
    const answer = await writer(fx, injector).store.completeUpload(p.uploadId, p.parts);
    expect(injector.stats.injected.fail, 'the first commit was cancelled').toBe(1);
    expect(retried?.version).toBe(version + 1);
    expect(answer).toEqual(retried);
    expect((await rawState(fx)).lost, 'the session blob the object points at is still there').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
  });

  test("a complete held at its commit while the client's retry commits (its cleanup dies), another writer overwrites, and a sweeper claims the session: fenced, it answers the retry's commit", async () => {
    const fx = await freshFixture();
    const key = 'race/retried-then-claimed';
    const setup = writer(fx);
    const { version } = await setup.store.put(key, oldLarge);
    const p = await prepare(setup.store, key);
    const { reached, release, completing } = completeHeldAtCommit(writer(fx), p);
    await reached.promise;
    // The retry commits and dies before removing its entry: the session keeps its own lease, and its result.
    const dying = writer(fx, new FaultInjector().add({ kind: 'crashBefore', match: sessionSteps(fx).removeEntry }));
    const retried = await dying.store.completeUpload(p.uploadId, p.parts);
    expect(retried.version).toBe(version + 1);
    const newer = randomBody(40 * KiB);
    await setup.store.put(key, newer);
    // One sweep past the session's lease: the first sighting claims it (its entry deferred).
    const { sweeper, close } = makeSweeper(fx, PAST_EVERYTHING_MS);
    try {
      expect((await sweeper.sweep()).instancesClaimed).toBeGreaterThanOrEqual(1);
    } finally {
      close();
    }
    expect((await rawState(fx)).instances.find((i) => i.pk === p.uploadId)).toMatchObject({ state: 'claimed' });
    release.resolve();
    expect(await completing).toEqual({ ok: true, r: retried });
    expect(sameBytes(await rawValue(fx, key), newer)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, key), newer)).toBe(true);
  });

  test("a complete whose commit lost to another writer, the client's retry committing before its next round, then past the object's expiresAt: it answers the retry's commit, not that the expiry passed", async () => {
    const fx = await freshFixture();
    const key = 'race/lost-then-expired';
    const setup = writer(fx);
    await setup.store.put(key, oldLarge);
    const expiresAt = new Date(Date.now() + 10 * 60_000);
    const created = await setup.store.createUpload(key, { ...SESSION, expiresAt });
    const p = { uploadId: created.uploadId, parts: await uploadParts(setup.store, created.uploadId, sessionBody, created.partSize) };
    let offsetMs = 0;
    let retried: PutResult | undefined;
    const late = makeWriter(fx, { store: { clock: () => Date.now() + offsetMs } });
    open.push(late);
    let first = true;
    (late.dynamodb.middlewareStack as any).add(
      (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        if (context.commandName !== 'TransactWriteItemsCommand' || !first) return next(args);
        first = false;
        // Sent after another writer's overwrite: the CAS is lost. Before the next round the
        // client's retry commits over that writer, and the object's expiresAt passes.
        await setup.store.put(key, randomBody(40 * KiB));
        try {
          return await next(args);
        } finally {
          retried = await writer(fx).store.completeUpload(p.uploadId, p.parts);
          offsetMs = expiresAt.getTime() - Date.now() + 60_000;
        }
      },
      { step: 'initialize', name: 'loseThenRetry' },
    );
    const answer = await late.store.completeUpload(p.uploadId, p.parts);
    expect(retried).toMatchObject({ size: sessionBody.byteLength, created: false });
    expect(answer).toEqual(retried);
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test("a complete held at its commit over an absent object, while another writer creates it and the client's retry commits over that: both answer the same (created: false)", async () => {
    const fx = await freshFixture();
    const key = 'race/retried-created';
    const setup = writer(fx);
    const p = await prepare(setup.store, key);
    const { reached, release, completing } = completeHeldAtCommit(writer(fx), p);
    await reached.promise; // it read the object as absent
    const { version } = await setup.store.put(key, oldLarge);
    const retried = await writer(fx).store.completeUpload(p.uploadId, p.parts);
    expect(retried).toMatchObject({ version: version + 1, created: false });
    release.resolve();
    expect(await completing).toEqual({ ok: true, r: retried });
    expect(sameBytes(await rawValue(fx, key), sessionBody)).toBe(true);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test('an abort that died right after its claim: the claim has already ended, so the next sweep aborts the upload (not one an hour later)', async () => {
    const fx = await freshFixture();
    const p = await prepare(writer(fx).store, 'race/abort-died');
    const [upload] = await sessionUploads(fx);
    const dying = writer(fx, new FaultInjector().add({ kind: 'crashAfter', match: sessionSteps(fx).claimForAbort, times: 1 }));
    await expect(dying.store.abortUpload(p.uploadId)).rejects.toThrow();
    // Two minutes on: past the sweeper's skew margin.
    const next = makeSweeper(fx, 2 * 60_000);
    try {
      expect((await next.sweeper.sweep()).errors).toBe(0);
    } finally {
      next.close();
    }
    await expectUploadGone(fx, upload!);
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });

  test('an abandoned session: the sweeper aborts its upload, deletes its parts, drains its entry', async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    const p = await prepare(setup.store, 'race/abandoned');
    expect(p.parts).toHaveLength(2);
    const [upload] = await sessionUploads(fx);
    await sweepPastEverything(fx);
    await expectUploadGone(fx, upload!);
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
  });

  // AWS: a part PUT in flight during an abort may land after it ("it might be necessary to abort a
  // given multipart upload multiple times", AbortMultipartUpload's reference). The sweeper deletes
  // the session's item once it is drained: nothing names the upload any more, its parts billed until
  // the lifecycle rule. s3rver refuses such a part: the sweeper's aborts are answered unsent instead.
  test("an abandoned session whose upload a client's part outlives at each abort: the sweeper lists its parts, aborts it again, leaves no upload open", async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    await prepare(setup.store, 'race/abandoned-part-outlives');
    const [upload] = await sessionUploads(fx);
    const s3 = createS3Client();
    let outlived = 0;
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        // The first abort of each sweep (one per sweep for this session) is outlived by a part.
        if (context.commandName === 'AbortMultipartUploadCommand' && outlived < 2) {
          outlived++;
          return { output: { $metadata: { httpStatusCode: 204 } }, response: {} } as never;
        }
        return next(args);
      },
      { step: 'initialize', name: 'testAbortOutlivedByAPart' },
    );
    try {
      const report = await sweepPastEverything(fx, { s3 });
      expect(outlived).toBeGreaterThan(0);
      expect(report.abandonedUploadErrors).toBe(0);
    } finally {
      s3.destroy();
    }
    await expectUploadGone(fx, upload!);
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
  });

  test("an abandoned session whose upload's parts the sweeper may not list (no s3:ListMultipartUploadParts): aborted, drained, the refusal counted", async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    await prepare(setup.store, 'race/abandoned-parts-unlisted');
    const [upload] = await sessionUploads(fx);
    const s3 = createS3Client();
    s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListPartsCommand') {
          throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        }
        return next(args);
      },
      { step: 'initialize', name: 'testListPartsDenied' },
    );
    try {
      const report = await sweepPastEverything(fx, { s3 });
      expect(report.errors).toBe(0);
      expect(report.abandonedUploadErrors).toBeGreaterThan(0);
    } finally {
      s3.destroy();
    }
    await expectUploadGone(fx, upload!);
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
  });

  test.each([
    ['its answer was lost (the SDK sent it again: two uploads, one noted)', 'loseResponse'],
    ['the writer died right after it (an upload nothing noted)', 'crashAfter'],
  ] as const)('a session whose CreateMultipartUpload %s: the sweeper aborts every upload under its blob key', async (_what, kind) => {
    const fx = await freshFixture();
    const steps = sessionSteps(fx);
    const setup = writer(fx, new FaultInjector().add({ kind, match: steps.mpCreate, times: 1 }));
    const created = await setup.store.createUpload('race/unnoted', SESSION).catch(() => undefined);
    const listed = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
    const uploads = listed.Uploads ?? [];
    expect(uploads.length, 'an upload no session item names').toBeGreaterThan(kind === 'loseResponse' ? 1 : 0);
    if (kind === 'loseResponse') expect(created).toBeDefined();
    await sweepPastEverything(fx);
    for (const u of uploads) await expectUploadGone(fx, { blob: u.Key!, s3UploadId: u.UploadId! });
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
  });

  test('a client that keeps uploading parts after expiry gets NoSuchUpload and leaves nothing', async () => {
    const fx = await freshFixture();
    const setup = writer(fx);
    const created = await setup.store.createUpload('race/late', SESSION);
    const urls = await Promise.all([1, 2, 3].map((n) => setup.store.uploadPartUrl(created.uploadId, n)));
    await putPart(urls[0]!, sessionBody.subarray(0, 5 * MiB));
    await sweepPastEverything(fx);
    for (const url of urls.slice(1)) {
      const late = await fetch(url, { method: 'PUT', body: sessionBody.subarray(0, 1024) });
      expect(late.status).toBe(404);
      expect(await late.text()).toContain('NoSuchUpload');
    }
    await expect(setup.store.completeUpload(created.uploadId, [{ partNumber: 1, etag: '"x"' }])).rejects.toThrow();
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
  });
});
