/**
 * Upload sessions against the real local servers: the client's side is plain `fetch` to the
 * presigned part URLs (no AWS credentials), the invariants are checked from outside (raw scans of
 * both tables and the bucket).
 */
import { describe, expect, test } from 'vitest';
import {
  InvalidPartsError,
  UploadSessionClosedError,
  UploadSessionNotFoundError,
  ValidationError,
  VersionConflictError,
} from '../../lib/errors.js';
import { collectStatus } from '../../lib/cli/status.js';
import { SESSION_ID_PREFIX } from '../../lib/schema/tables.js';
import { DEFAULT_COMPLETE_GRACE_MS } from '../../lib/tiered/upload-sessions.js';
import { freshFixture, type Fixture } from '../support/local.js';
import {
  MiB,
  deliverStream,
  expectClean,
  isFirstVersionBetween,
  makeSweeper,
  sweepOnceAt,
  makeWriter,
  withWriter,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  sweepPastEverything,
  type Writer,
} from './harness.js';
import { putPart, uploadParts } from './upload-session-client.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { StreamReader } from '../support/stream.js';

let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

describe('upload sessions', () => {
  test('create, upload parts with presigned URLs, list, complete: the object reads back whole', async () => {
    const body = randomBody(11 * MiB + 123);
    const created = await w.store.createUpload('s/one', {
      size: body.byteLength,
      partSize: 5 * MiB,
      contentType: 'video/mp4',
      metadata: { a: 'b' },
    });
    expect(created.partCount).toBe(3);
    expect(created.expiresAt).toBeGreaterThan(Date.now());
    // The change is recorded before anything exists: the session's entry names the blob.
    const mid = await rawState(fx);
    expect(mid.entries).toBe(1);
    expect(mid.blobs).toEqual([]);

    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const listed = await w.store.listUploadParts(created.uploadId);
    expect(listed.map((p) => [p.partNumber, p.etag, p.size])).toEqual(
      parts.map((p, i) => [p.partNumber, p.etag, i < 2 ? 5 * MiB : body.byteLength - 10 * MiB]),
    );

    const before = Date.now();
    const result = await w.store.completeUpload(created.uploadId, parts);
    expect(result).toEqual({ key: 's/one', version: expect.any(Number), size: body.byteLength, stored: 'blob', created: true });
    expect(isFirstVersionBetween(result.version, before, Date.now()), `${result.version} is a first version`).toBe(true);
    const got = await w.store.get('s/one');
    expect(sameBytes(got?.body, body)).toBe(true);
    expect(got?.contentType).toBe('video/mp4');
    expect(got?.metadata).toEqual({ a: 'b' });

    // A retried complete answers the same result: no second version, the blob stays.
    expect(await w.store.completeUpload(created.uploadId, parts)).toEqual(result);
    expect((await w.store.head('s/one'))?.version).toBe(result.version);
    await expect(w.store.uploadPartUrl(created.uploadId, 1)).rejects.toBeInstanceOf(UploadSessionClosedError);
    await expect(w.store.abortUpload(created.uploadId)).rejects.toThrow(/completed/);
    expect(sameBytes(await rawValue(fx, 's/one'), body)).toBe(true);
  });

  test('overwrite through a session deletes the replaced blob; ifVersion is honoured at commit', async () => {
    const { version } = await w.store.put('s/two', randomBody(20_000));
    const body = randomBody(64 * 1024);
    await expect(w.store.createUpload('s/two', { ifVersion: 7 })).rejects.toBeInstanceOf(VersionConflictError);
    const stale = await w.store.createUpload('s/two', { ifVersion: version });
    const fresh = await w.store.createUpload('s/two', { ifVersion: version });
    const freshParts = await uploadParts(w.store, fresh.uploadId, body, fresh.partSize);
    expect((await w.store.completeUpload(fresh.uploadId, freshParts)).version).toBe(version + 1);
    // The other session was made for the replaced version: its commit is refused, and it leaves nothing.
    const staleParts = await uploadParts(w.store, stale.uploadId, randomBody(1000), stale.partSize);
    await expect(w.store.completeUpload(stale.uploadId, staleParts)).rejects.toBeInstanceOf(VersionConflictError);
    expect(sameBytes((await w.store.get('s/two'))?.body, body)).toBe(true);
    const state = await rawState(fx);
    expect(state.lost).toEqual([]);
    expect(state.unreferenced).toEqual([]);
  });

  test("with replacedBlobCleanup 'stream' a complete over a blob names no old in its entry; a writer dying before the delete leaves old to the stream", async () => {
    const sfx = await freshFixture({ replacedBlobCleanup: 'stream' });
    const reader = await StreamReader.open(sfx.dynamodb, sfx.config.objectsTable);
    const setup = makeWriter(sfx);
    const injector = new FaultInjector().add({ kind: 'crashBefore', match: onCommand('DeleteObjectCommand'), times: 1 });
    const dying = makeWriter(sfx, { injector });
    try {
      await setup.store.put('s/stream', randomBody(20_000));
      const old = (await rawState(sfx)).references.get('s/stream')!;
      const body = randomBody(64 * 1024);
      const created = await dying.store.createUpload('s/stream');
      const parts = await uploadParts(dying.store, created.uploadId, body, created.partSize);
      await dying.store.completeUpload(created.uploadId, parts).catch(() => undefined);
      expect(injector.crashedAt?.command, 'died right before deleting old').toBe('DeleteObjectCommand');
      expect(sameBytes(await rawValue(sfx, 's/stream'), body), 'the complete landed').toBe(true);
      const state = await rawState(sfx);
      expect(state.blobs).toContain(old);
      expect(state.olds, 'no entry names the replaced blob').toEqual([]);
      await deliverStream(sfx, reader);
      expect((await rawState(sfx)).blobs, 'the stream deleted old').not.toContain(old);
      const after = await rawState(sfx);
      expect(after.lost).toEqual([]);
      expect(after.unreferenced, 'nothing leaked').toEqual([]);
      expect(after.entries, "the commit removed the session's entry").toBe(0);
    } finally {
      reader.close();
      setup.close();
      dying.close();
    }
  });

  test('forged, altered, foreign and malformed ids are refused with a clear error', async () => {
    const created = await w.store.createUpload('s/three');
    const altered = created.uploadId.slice(0, -1) + (created.uploadId.endsWith('0') ? '1' : '0');
    await expect(w.store.uploadPartUrl(altered, 1)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    await expect(w.store.completeUpload('not-an-id', [{ partNumber: 1, etag: '"x"' }])).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    // A writer instance id of the same table is no session.
    await w.store.put('s/large', randomBody(50_000));
    await expect(w.store.listUploadParts(w.log.instanceId)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    // Another store's session.
    const other = await freshFixture();
    const ow = makeWriter(other);
    try {
      await expect(ow.store.listUploadParts(created.uploadId)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    } finally {
      ow.close();
    }
    // Another key's route.
    await expect(w.store.listUploadParts(created.uploadId, { key: 's/elsewhere' })).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    await expect(w.store.uploadPartUrl(created.uploadId, 0)).rejects.toBeInstanceOf(ValidationError);
    await w.store.abortUpload(created.uploadId);
  });

  test('complete with missing, wrong or reordered parts is refused and writes nothing; the right list then commits', async () => {
    const body = randomBody(10 * MiB + 5);
    const created = await w.store.createUpload('s/four', { partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    expect(parts).toHaveLength(3);
    // A part 5 of 5 bytes: part 3 (5 bytes too) is then not the last of a list naming both.
    const part5 = { partNumber: 5, etag: await putPart(await w.store.uploadPartUrl(created.uploadId, 5), randomBody(5)) };
    const attempts = [
      [parts[0]!, { partNumber: 2, etag: '"00000000000000000000000000000000"' }, parts[2]!], // wrong ETag
      [parts[1]!, parts[0]!, parts[2]!], // reordered
      [...parts, { partNumber: 4, etag: parts[0]!.etag }], // a part never uploaded
      [{ partNumber: 1, etag: parts[0]!.etag }, parts[0]!], // a duplicate
      [...parts, part5], // a part but the last under 5 MiB
      [parts[0]!, parts[1]!, { ...parts[2]!, size: 4 }], // a size the listing does not give the part (5 bytes)
    ];
    for (const list of attempts) {
      w.recorder.reset();
      await expect(w.store.completeUpload(created.uploadId, list)).rejects.toBeInstanceOf(InvalidPartsError);
      // Refused from the listing, before S3 is asked to assemble anything.
      expect(w.recorder.names('s3')).not.toContain('CompleteMultipartUpload');
      expect(await w.store.head('s/four')).toBeUndefined();
    }
    await expect(w.store.completeUpload(created.uploadId, [])).rejects.toBeInstanceOf(ValidationError);
    // ETags as S3 answers them, or without their quotes: the same parts.
    // Sizes as listed are the parts' own.
    const listed = await w.store.listUploadParts(created.uploadId);
    const result = await w.store.completeUpload(
      created.uploadId,
      listed.slice(0, 3).map((part, i) => (i === 1 ? { ...part, etag: part.etag.replace(/"/g, '') } : part)),
    );
    expect(result.size).toBe(body.byteLength);
    expect(sameBytes((await w.store.get('s/four'))?.body, body)).toBe(true);
  });

  // A part list complete cannot send is refused as bad input, naming the field, before any request (no read, no S3 call).
  test.each([
    ['10,001 parts', Array.from({ length: 10_001 }, () => ({ partNumber: 1, etag: '"x"' })), 'parts'],
    ['a part number of 0', [{ partNumber: 0, etag: '"x"' }], 'parts[0].partNumber'],
    ['a part number of 10,001', [{ partNumber: 10_001, etag: '"x"' }], 'parts[0].partNumber'],
    ['an empty ETag', [{ partNumber: 1, etag: '' }], 'parts[0].etag'],
    ['an ETag of 257 characters', [{ partNumber: 1, etag: 'e'.repeat(257) }], 'parts[0].etag'],
    ['a checksum to verify', [{ partNumber: 1, etag: '"x"', checksumSHA256: 'AAAA' }], 'parts[0]'],
    ['a size that is no byte count', [{ partNumber: 1, etag: '"x"', size: '5' }], 'parts[0].size'],
  ])('complete with %s: ValidationError naming %s, nothing sent', async (_what, parts, field) => {
    const created = await w.store.createUpload('s/bad-parts');
    try {
      w.recorder.reset();
      await expect(w.store.completeUpload(created.uploadId, parts as never)).rejects.toMatchObject({ name: 'ValidationError', field });
      expect(w.recorder.names(), 'refused before any request').toEqual([]);
    } finally {
      await w.store.abortUpload(created.uploadId);
    }
  });

  test('a declared size that the parts do not make is refused', async () => {
    const created = await w.store.createUpload('s/five', { size: 100 });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(90), created.partSize);
    await expect(w.store.completeUpload(created.uploadId, parts)).rejects.toThrow(/declared 100/);
    await w.store.abortUpload(created.uploadId);
    expect(await w.store.head('s/five')).toBeUndefined();
  });

  test('abort: parts and session are gone; a client still uploading gets NoSuchUpload; complete is refused', async () => {
    const created = await w.store.createUpload('s/six', { partSize: 5 * MiB });
    const url = await w.store.uploadPartUrl(created.uploadId, 1);
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    await w.store.abortUpload(created.uploadId);
    const late = await fetch(url, { method: 'PUT', body: new Uint8Array(10) });
    expect(late.status).toBe(404);
    expect(await late.text()).toContain('NoSuchUpload');
    await expect(w.store.completeUpload(created.uploadId, [{ partNumber: 1, etag: '"x"' }])).rejects.toBeInstanceOf(
      UploadSessionNotFoundError,
    );
    expect(await w.store.head('s/six')).toBeUndefined();
  });

  test('expiry: parts and complete are refused after it; the sweeper aborts the upload and drains the session', async () => {
    let now = Date.now();
    const clocked = makeWriter(fx, { store: { clock: () => now } });
    try {
      const created = await clocked.store.createUpload('s/seven', { expiresInMs: 60_000 });
      const parts = await uploadParts(clocked.store, created.uploadId, randomBody(2000), created.partSize);
      const url = await clocked.store.uploadPartUrl(created.uploadId, 2);
      now += 61_000;
      await expect(clocked.store.uploadPartUrl(created.uploadId, 1)).rejects.toBeInstanceOf(UploadSessionClosedError);
      await expect(clocked.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(UploadSessionClosedError);
      // Before the lease (expiry + grace) ended, the sweeper leaves it alone.
      const early = makeSweeper(fx, 120_000);
      expect((await early.sweeper.sweep()).instancesClaimed).toBe(0);
      early.close();
      const report = await sweepPastEverything(fx);
      expect(report.errors).toBe(0);
      const late = await fetch(url, { method: 'PUT', body: new Uint8Array(10) });
      expect(late.status).toBe(404);
      expect(await clocked.store.head('s/seven')).toBeUndefined();
      await expect(clocked.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    } finally {
      clocked.close();
    }
  });

  test('uploadPartUrls signs many parts in the order asked, and refuses the whole list for one part it cannot have', async () => {
    const created = await w.store.createUpload('s/many', { size: 3 * 5 * MiB, partSize: 5 * MiB });
    const urls = await w.store.uploadPartUrls(created.uploadId, [3, 1, 2]);
    expect(urls.map((u) => new URL(u).searchParams.get('partNumber'))).toEqual(['3', '1', '2']);
    await expect(w.store.uploadPartUrls(created.uploadId, [1, 0])).rejects.toBeInstanceOf(ValidationError);
    await expect(w.store.uploadPartUrls(created.uploadId, 3 as never)).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'partNumber',
    });
    // Past S3's last part number: refused as such, not as a part past the declared size.
    await expect(w.store.uploadPartUrl(created.uploadId, 10_001)).rejects.toThrow(/partNumber must be an integer in 1\.\.10000/);
    await expect(w.store.uploadPartUrls(created.uploadId, [1, 4])).rejects.toThrow(/past the declared size/);
    expect(await w.store.uploadPartUrls(created.uploadId, [])).toEqual([]);
    // More part numbers than an upload has parts: refused, not a URL signed for each.
    const many = Array.from({ length: 20_001 }, (_, i) => (i % 3) + 1);
    await expect(w.store.uploadPartUrls(created.uploadId, many)).rejects.toMatchObject({ name: 'ValidationError', field: 'partNumber' });
    await w.store.abortUpload(created.uploadId);
    await expect(w.store.uploadPartUrls(created.uploadId, [1])).rejects.toBeInstanceOf(UploadSessionNotFoundError);
  });

  // A session's lifetime is that of the presigned URLs it hands out: 1 s to 7 days.
  test.each([0, 999, 1_000.5, 7 * 24 * 3_600_000 + 1])(
    'a session lifetime of %d ms is a ValidationError naming expiresInMs',
    async (expiresInMs) => {
      await expect(w.store.createUpload('s/lifetime', { expiresInMs })).rejects.toMatchObject({
        name: 'ValidationError',
        field: 'expiresInMs',
      });
    },
  );

  test.each([0, 999, 1_000.5])('a part URL lifetime of %d ms is a ValidationError naming expiresInMs', async (expiresInMs) => {
    const created = await w.store.createUpload('s/url-lifetime');
    try {
      await expect(w.store.uploadPartUrl(created.uploadId, 1, { expiresInMs })).rejects.toMatchObject({
        name: 'ValidationError',
        field: 'expiresInMs',
      });
    } finally {
      await w.store.abortUpload(created.uploadId);
    }
  });

  test('the shortest session (1 s) signs its part URLs, never much past its expiry, and refuses them once it expired', async () => {
    let now = Date.now();
    const clocked = makeWriter(fx, { store: { clock: () => now } });
    try {
      const created = await clocked.store.createUpload('s/short', { size: 3000, expiresInMs: 1_000 });
      now += 5; // the create took a moment: less than the second a presigned URL needs is left
      // X-Amz-Date counts whole seconds: a 1 s URL signed late in a second lives only its rest, too
      // short for the part's request on a loaded machine. Signed as a second starts, it lives ~1 s.
      await new Promise((resolve) => setTimeout(resolve, 1_000 - (Date.now() % 1_000)));
      const url = await clocked.store.uploadPartUrl(created.uploadId, 1);
      // Signed for the one second a presigned URL lasts at least: under a second past the expiry.
      expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('1');
      const part = await fetch(url, { method: 'PUT', body: randomBody(3000) });
      expect(part.status).toBe(200);
      now = created.expiresAt;
      await expect(clocked.store.uploadPartUrl(created.uploadId, 1)).rejects.toBeInstanceOf(UploadSessionClosedError);
      await clocked.store.abortUpload(created.uploadId);
    } finally {
      clocked.close();
    }
  });

  test('a session that expires between its read and the signing: UploadSessionClosedError (expired), no URL', async () => {
    const created = await w.store.createUpload('s/expires-while-signing', { expiresInMs: 60_000 });
    // Once the session is read, the clock shows it open one last time, then at its expiry.
    let looks = -1;
    const clock = () => (looks < 0 ? Date.now() : looks++ === 0 ? created.expiresAt - 1 : created.expiresAt);
    const signer = makeWriter(fx, {
      store: { clock },
      injector: new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r) => r.command === 'GetItemCommand' && r.input.TableName === fx.config.changeLogTable,
        before: async () => void (looks = 0),
      }),
    });
    try {
      await expect(signer.store.uploadPartUrl(created.uploadId, 1)).rejects.toMatchObject({
        constructor: UploadSessionClosedError,
        reason: 'expired',
      });
      expect(looks, 'the clock was looked at twice after the read').toBe(2);
    } finally {
      signer.close();
      await w.store.abortUpload(created.uploadId);
    }
  });

  test.each([
    ['a create', false],
    ['an overwrite', true],
  ])(
    '%s: a complete retried after its answer was lost answers the same for a day after the commit, though the session expired and was swept',
    async (_what, overwrite) => {
      const key = `s/retried-${overwrite ? 'over' : 'new'}`;
      // A fixture of its own: the sweeps a day ahead would take this file's other writers too.
      const own = await freshFixture();
      let now = Date.now();
      const clocked = makeWriter(own, { store: { clock: () => now } });
      try {
        if (overwrite) await clocked.store.put(key, randomBody(20_000));
        const created = await clocked.store.createUpload(key, { expiresInMs: 60_000 });
        const parts = await uploadParts(clocked.store, created.uploadId, randomBody(3000), created.partSize);
        const result = await clocked.store.completeUpload(created.uploadId, parts, { key });
        // The session's lease (expiry + grace) and the sweeper's margins are past: a sweep runs.
        expect((await sweepOnceAt(own, 60_000 + DEFAULT_COMPLETE_GRACE_MS + 10 * 60_000)).errors).toBe(0);
        now += 23 * 3_600_000;
        expect(await clocked.store.completeUpload(created.uploadId, parts, { key })).toEqual(result);
        // A day after the commit the sweeper retires it: nothing is kept for ever.
        await sweepOnceAt(own, 25 * 3_600_000);
        await expect(clocked.store.completeUpload(created.uploadId, parts, { key })).rejects.toBeInstanceOf(UploadSessionNotFoundError);
        expect((await clocked.store.head(key))?.version).toBe(result.version);
      } finally {
        clocked.close();
      }
    },
  );

  test('a session that expires days after its commit keeps its answer until then (its lease is not cut to the day after the commit)', async () => {
    // A fixture of its own: a sweep days ahead would take this file's other writers too.
    const own = await freshFixture();
    const owner = makeWriter(own);
    try {
      const session = await owner.store.createUpload('s/retried-long', { expiresInMs: 7 * 24 * 3_600_000 });
      const parts = await uploadParts(owner.store, session.uploadId, randomBody(3000), session.partSize);
      const result = await owner.store.completeUpload(session.uploadId, parts);
      // Two days on: past the day an answer is kept at least, within the session's own lifetime.
      expect((await sweepOnceAt(own, 2 * 24 * 3_600_000)).errors).toBe(0);
      expect(await owner.store.completeUpload(session.uploadId, parts)).toEqual(result);
    } finally {
      owner.close();
    }
  });

  test('a session days from its expiry is no suspect lease: never counted stuck, never claimed; status lists no stuck item', async () => {
    const body = randomBody(3000);
    const created = await w.store.createUpload('s/long', { expiresInMs: 7 * 24 * 3_600_000 });
    expect(created.uploadId.startsWith(SESSION_ID_PREFIX)).toBe(true);
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const report = await sweepOnceAt(fx, 0);
    expect(report).toMatchObject({ suspectLeases: 0, stuckInstances: 0, instancesClaimed: 0, errors: 0 });
    const io = { stdout: { write: () => true }, stderr: { write: () => true } };
    const status = await collectStatus({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: () => Date.now(), io } as never);
    expect(status.stuck.suspectLeases).toEqual([]);
    const completed = await w.store.completeUpload(created.uploadId, parts);
    expect(completed).toMatchObject({ created: true, size: body.byteLength });
    const got = await w.store.get('s/long');
    expect(got?.version).toBe(completed.version);
    expect(sameBytes(got?.body, body)).toBe(true);
  });

  test('after everything: nothing lost, nothing leaked, the log drains', async () => {
    await sweepPastEverything(fx);
    await expectClean(fx, expect);
  });
});
