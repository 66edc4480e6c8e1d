/**
 * Edges of an upload session's life, each ending in a known state: a part list a caller built
 * badly (a sparse array) is refused as bad input, never a TypeError or S3's MalformedXML, and the
 * session stays open; a session whose `upload` attribute the sweeper cannot read still has its
 * multipart upload aborted when the sweeper drains it (the item that named it is deleted then); a
 * session whose `upload` attribute names a blob that is not its key's (another object's upload
 * in progress, the whole prefix) has nothing aborted: the sweeper aborts every upload under the
 * blob key a session names, so a forged or corrupt one would abort others' uploads; an abort that
 * loses the session to a complete or to a sweeper between its read and its claim answers as it
 * would have after them (completed, expired), never that it aborted.
 * Checked from outside: raw scans, ListMultipartUploads.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { describe, expect, test } from 'vitest';
import {
  AccessDeniedError,
  InvalidPartsError,
  UploadSessionClosedError,
  UploadSessionNotFoundError,
  ValidationError,
  VersionConflictError,
} from '../../lib/errors.js';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { atStep } from '../../lib/faults/protocol-steps.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { encodeObjectId, newBlobKey } from '../../lib/tiered/blob-keys.js';
import { mayBeAssemblyOf, multipartEtagOf } from '../../lib/tiered/lt-bucket.js';
import { emptyTable, freshFixture, type Fixture } from '../support/local.js';
import {
  abortOutlivedByAPart,
  MiB,
  PAST_WINDOW_MS,
  expectClean,
  makeWriter,
  withWriter,
  randomBody,
  rawState,
  rawValue,
  sameBytes,
  type Writer,
  sweepOnceAt,
} from './harness.js';
import { uploadParts } from './upload-session-client.js';
import type { CompletedPart } from '../../lib/tiered/upload-sessions.js';

const DAY = 24 * 3600_000;
let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

/** Keys of the multipart uploads in progress under the store's prefix. */
async function uploadsInProgress(): Promise<string[]> {
  const out = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }));
  return (out.Uploads ?? []).map((u) => u.Key ?? '');
}

/** Rewrites one field of a session's `upload` attribute, as a newer writer or a corruption would. */
async function setSessionField(uploadId: string, field: string, value: unknown): Promise<void> {
  await fx.dynamodb.send(
    new UpdateCommand({
      TableName: fx.config.changeLogTable,
      Key: { pk: uploadId },
      UpdateExpression: 'SET #u.#f = :v',
      ExpressionAttributeNames: { '#u': 'upload', '#f': field },
      ExpressionAttributeValues: { ':v': value },
    }),
  );
}

const sweepAt = (offsetMs: number) => sweepOnceAt(fx, offsetMs);

describe('bad input to a session', () => {
  test('a sparse part list is a ValidationError naming the hole; the session stays open and the right list commits', async () => {
    const body = randomBody(5 * MiB + 10);
    const created = await w.store.createUpload('edge/sparse', { partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    // biome-ignore lint/suspicious/noSparseArray: the bad input under test
    const holeFirst = [, parts[1]!] as unknown as typeof parts;
    const allHoles = new Array(2) as typeof parts;
    for (const list of [holeFirst, allHoles]) {
      const refused = await w.store.completeUpload(created.uploadId, list).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ValidationError);
      expect((refused as ValidationError).message).toMatch(/parts\[0\]/);
      expect(await w.store.head('edge/sparse')).toBeUndefined();
    }
    expect(await w.store.listUploadParts(created.uploadId)).toHaveLength(2);
    await expect(w.store.uploadPartUrls(created.uploadId, 1 as unknown as number[])).rejects.toBeInstanceOf(ValidationError);
    expect((await w.store.completeUpload(created.uploadId, parts)).size).toBe(body.byteLength);
    expect(sameBytes(await rawValue(fx, 'edge/sparse'), body)).toBe(true);
  });
});

describe("the sweeper and a session whose 'upload' attribute it cannot read", () => {
  test('its multipart upload is aborted from its entry; nothing HV points at is deleted; the log drains', async () => {
    const kept = randomBody(64 * 1024);
    const done = await w.store.createUpload('edge/kept');
    await w.store.completeUpload(done.uploadId, await uploadParts(w.store, done.uploadId, kept, done.partSize));
    const created = await w.store.createUpload('edge/unreadable');
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    // A format this sweeper does not know (a newer writer's), or a corrupt attribute.
    await setSessionField(created.uploadId, 'v', 2);
    // Nor does this writer act on it: completed under this format's rules, a newer one's would be misread.
    await expect(w.store.listUploadParts(created.uploadId)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    const item = await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
    const blob = String((item.Item?.upload as { blob?: string } | undefined)?.blob);
    expect(await uploadsInProgress()).toContain(blob);
    for (const offset of [2 * DAY, 2 * DAY + PAST_WINDOW_MS]) expect((await sweepAt(offset)).errors).toBe(0);
    expect(
      (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }))).Item,
    ).toBeUndefined();
    expect(await uploadsInProgress(), 'no upload left in progress with no item naming it').not.toContain(blob);
    expect(sameBytes(await rawValue(fx, 'edge/kept'), kept)).toBe(true);
  });
});

describe("a session whose 'upload' attribute it cannot read and whose entry names no blob", () => {
  // Nothing left names the session's blob on the trust the judge gives an entry: no upload is
  // aborted on a guess (the bucket's lifecycle rule frees it), and the session is not an error on
  // every sweep: it drains as any other item does.
  test.each([
    ['its entry gone (as a committed create leaves it)', 'REMOVE #e'],
    ['its entry naming no new blob', 'REMOVE #e.#n'],
    // Quarantined by the judge; the session step comes first and must not trip on it.
    ['its entry unreadable too', 'SET #e = :garbage'],
  ])('%s: nothing aborted, warned as untrusted, no sweep error', async (_name, update) => {
    const created = await w.store.createUpload(`edge/untrusted-${update.length}`);
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    await setSessionField(created.uploadId, 'v', 2);
    const read = async () =>
      (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }))).Item;
    const blob = String(((await read())?.upload as { blob?: string } | undefined)?.blob);
    await fx.dynamodb.send(
      new UpdateCommand({
        TableName: fx.config.changeLogTable,
        Key: { pk: created.uploadId },
        UpdateExpression: update,
        ExpressionAttributeNames: { '#e': `c_${created.uploadId}`, ...(update.includes('#n') ? { '#n': 'new' } : {}) },
        ...(update.includes(':garbage') ? { ExpressionAttributeValues: { ':garbage': 'garbage' } } : {}),
      }),
    );
    const warnings: string[] = [];
    const logger = { info() {}, warn: (m: string, a?: Record<string, unknown>) => warnings.push(`${m} ${JSON.stringify(a)}`), error() {} };
    try {
      for (const offset of [2 * DAY, 2 * DAY + PAST_WINDOW_MS]) {
        expect((await sweepOnceAt(fx, offset, { logger })).errors).toBe(0);
      }
      const untrusted = warnings.filter((m) => m.startsWith('upload session not aborted'));
      expect(untrusted.length).toBeGreaterThan(0);
      for (const m of untrusted) expect(m).toContain('malformed upload session, and no entry names its blob');
      expect(await uploadsInProgress(), 'left to the lifecycle rule').toContain(blob);
    } finally {
      // The fixture is shared: a quarantined entry (the unreadable one) would stay for the last test's check.
      await fx.dynamodb.send(new DeleteCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
      const own = await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: blob }));
      for (const u of own.Uploads ?? [])
        await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: u.Key, UploadId: u.UploadId }));
    }
  });
});

describe('an abandoned session with a second upload under its blob key (its CreateMultipartUpload sent again, the first answer lost)', () => {
  test('the sweeper aborts every upload under the key, not only the first it finds in progress', async () => {
    const created = await w.store.createUpload('edge/two-uploads');
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const item = await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
    const blob = String((item.Item?.upload as { blob?: string } | undefined)?.blob);
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: blob }));
    expect((await uploadsInProgress()).filter((key) => key === blob)).toHaveLength(2);
    // The sweep that claims the session aborts them all (the next one, which drains it, would
    // find only what this one left).
    expect((await sweepAt(2 * DAY)).errors).toBe(0);
    expect(await uploadsInProgress()).not.toContain(blob);
    expect((await sweepAt(2 * DAY + PAST_WINDOW_MS)).errors).toBe(0);
  });
});

describe("a session whose 'upload' attribute names a blob that is not its key's", () => {
  /** Another writer's multipart upload in progress, under `key`; returns its id. */
  async function othersUpload(key: string): Promise<string> {
    const out = await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: key }));
    return String(out.UploadId);
  }

  test.each([
    ["another object's blob", () => newBlobKey(fx.config.prefix, 'edge/other')],
    ['the whole prefix', () => `${fx.config.prefix}/`],
  ])('%s: no upload under it is aborted (the session is untrusted), the session still drains', async (_, target) => {
    const victim = target();
    // Under the prefix itself, the listing under the session's own blob shows it too: put it under an object's key.
    const victimKey = victim.endsWith('/') ? newBlobKey(fx.config.prefix, 'edge/bystander') : victim;
    const victimId = await othersUpload(victimKey);
    try {
      const created = await w.store.createUpload('edge/forged');
      await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
      await setSessionField(created.uploadId, 'blob', victim);
      for (const offset of [2 * DAY, 2 * DAY + PAST_WINDOW_MS]) expect((await sweepAt(offset)).errors).toBe(0);
      expect(await uploadsInProgress(), "the other writer's upload is still in progress").toContain(victimKey);
      expect(
        (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }))).Item,
        'the session is drained all the same',
      ).toBeUndefined();
      const own = await fx.s3.send(
        new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/${encodeObjectId('edge/forged')}/` }),
      );
      // The session's own upload too is left to the bucket's lifecycle rule: nothing it names is trusted.
      expect(own.Uploads ?? []).toHaveLength(1);
      for (const u of own.Uploads ?? [])
        await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: u.Key, UploadId: u.UploadId }));
    } finally {
      await fx.s3.send(new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: victimKey, UploadId: victimId }));
    }
  });
});

describe("a session whose 'upload' attribute names another object's live blob", () => {
  // Its client's calls act on the blob the session names: an abort deletes it unless the session's
  // own key points at it, and a complete would commit it under this key. Never trusted.
  test('its part URLs, listing, complete and abort are refused as not found; the other object is intact', async () => {
    const other = 'edge/victim';
    const body = randomBody(20 * 1024);
    await w.store.put(other, body);
    const victim = (await rawState(fx)).references.get(other)!;
    const created = await w.store.createUpload('edge/forged-calls');
    const read = async () =>
      (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }))).Item;
    const own = (await read())!.upload.blob as string;
    await setSessionField(created.uploadId, 'blob', victim);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['part URL', () => w.store.uploadPartUrl(created.uploadId, 1)],
      ['listing', () => w.store.listUploadParts(created.uploadId)],
      ['complete', () => w.store.completeUpload(created.uploadId, [{ partNumber: 1, etag: '"x"' }])],
      ['abort', () => w.store.abortUpload(created.uploadId)],
    ];
    for (const [name, call] of calls) await expect(call(), name).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    expect(sameBytes((await w.store.get(other))!.body, body), 'the other object is intact').toBe(true);
    expect(await w.store.head('edge/forged-calls')).toBeUndefined();
    await setSessionField(created.uploadId, 'blob', own);
    await w.store.abortUpload(created.uploadId);
  });
});

describe('a sweeper not granted the multipart-upload listing', () => {
  // It cannot find a session's uploads under its blob key: the upload id the session noted is all
  // it has, and aborting it is what frees the parts before the bucket's lifecycle rule would. The
  // refusal is counted as a dead writer's is (`abandonedUploadErrors`, alarmed): it was silent, and
  // the uploads the session never noted were left to the lifecycle rule with nothing said.
  test("it aborts the session's noted upload all the same, and counts the refused listing", async () => {
    const created = await w.store.createUpload('edge/no-upload-listing');
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const item = await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
    const blob = String((item.Item?.upload as { blob?: string } | undefined)?.blob);
    expect(await uploadsInProgress()).toContain(blob);
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r: RequestInfo) => r.command === 'ListMultipartUploadsCommand',
      error: () =>
        Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
    });
    let refusals = 0;
    for (const offset of [2 * DAY, 2 * DAY + PAST_WINDOW_MS]) {
      const report = await sweepOnceAt(fx, offset, { injector });
      expect(report.errors).toBe(0);
      refusals += report.abandonedUploadErrors;
    }
    expect(injector.stats.injected.fail, 'the listing was refused').toBeGreaterThan(0);
    expect(refusals, 'each refused listing counted').toBe(injector.stats.injected.fail);
    expect(await uploadsInProgress()).not.toContain(blob);
  });
});

describe('a multipart-upload listing that fails for another reason than a refused grant (a 500)', () => {
  // Unlike a refused grant, it says nothing about what is under the blob key: a session drained on
  // the noted upload alone would leave an upload it never noted (a CreateMultipartUpload sent
  // again) with no item naming it. The instance is not settled; a later sweep finishes it.
  test('the sweep counts an error and aborts nothing; a later one aborts every upload and drains the session', async () => {
    const created = await w.store.createUpload('edge/listing-500');
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const item = await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
    const blob = String((item.Item?.upload as { blob?: string } | undefined)?.blob);
    await fx.s3.send(new CreateMultipartUploadCommand({ Bucket: fx.config.bucket, Key: blob }));
    const injector = new FaultInjector().add({
      kind: 'fail',
      match: (r: RequestInfo) => r.command === 'ListMultipartUploadsCommand' && r.input.Prefix === blob,
      error: () => awsServiceError('InternalError', 500),
    });
    expect((await sweepOnceAt(fx, 2 * DAY, { injector })).errors).toBeGreaterThan(0);
    expect((await uploadsInProgress()).filter((key) => key === blob)).toHaveLength(2);
    for (const offset of [3 * DAY, 3 * DAY + PAST_WINDOW_MS]) expect((await sweepAt(offset)).errors).toBe(0);
    expect(await uploadsInProgress()).not.toContain(blob);
    expect(
      (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }))).Item,
    ).toBeUndefined();
  });
});

describe('a session made before session ids took their prefix (a bare UUIDv7)', () => {
  // Its lease (its expiry plus the grace, a day ahead) is one no writer takes: only the claim's
  // own condition (no `upload` attribute) keeps a housekeeping sweep from claiming it as suspect,
  // since the lease index's filter knows sessions by the id's prefix alone.
  test('a housekeeping sweep leaves it live, and it completes afterwards', async () => {
    const body = randomBody(1000);
    const created = await w.store.createUpload('edge/legacy-id');
    const legacyId = uuidv7();
    const item = (await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }))).Item!;
    const { [`c_${created.uploadId}`]: entry, ...header } = item;
    await fx.dynamodb.send(
      new PutCommand({ TableName: fx.config.changeLogTable, Item: { ...header, pk: legacyId, [`c_${legacyId}`]: entry } }),
    );
    await fx.dynamodb.send(new DeleteCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
    const report = await sweepAt(0);
    expect(report).toMatchObject({ instancesClaimed: 0, errors: 0 });
    expect((await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: legacyId } }))).Item).toMatchObject({
      state: 'live',
    });
    const parts = await uploadParts(w.store, legacyId, body, created.partSize);
    expect((await w.store.completeUpload(legacyId, parts)).size).toBe(body.byteLength);
    expect(sameBytes(await rawValue(fx, 'edge/legacy-id'), body)).toBe(true);
  });
});

describe("a part uploaded again between the complete's listing and its assembly", () => {
  // The complete checks the client's list against S3's listing, then asks S3 to assemble it; a part
  // PUT again in between (a client retrying its upload) has another ETag, and S3 refuses. Nothing
  // was assembled: a commit now would point the object at a blob that does not exist.
  test('S3 refuses the assembly: InvalidPartsError, nothing committed, the session open for the parts as they are', async () => {
    const key = 'edge/part-again';
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, randomBody(64 * 1024), created.partSize);
    const replacement = randomBody(1000);
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r: RequestInfo) => r.command === 'CompleteMultipartUploadCommand',
      before: async () => {
        const put = await fetch(await w.store.uploadPartUrl(created.uploadId, 1), { method: 'PUT', body: replacement });
        expect(put.status).toBe(200);
      },
    });
    const completer = makeWriter(fx, { injector });
    try {
      await expect(completer.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(InvalidPartsError);
      expect(injector.stats.injected.delay).toBe(1);
      expect(await w.store.head(key), 'nothing committed').toBeUndefined();
      const listed = await w.store.listUploadParts(created.uploadId);
      expect((await w.store.completeUpload(created.uploadId, listed)).size).toBe(replacement.byteLength);
      expect(sameBytes(await rawValue(fx, key), replacement)).toBe(true);
    } finally {
      completer.close();
    }
  });
});

describe('a multipart upload aborted or assembled outside tierlog during a complete', () => {
  // An operator's tool or a lifecycle rule: S3 answers the assembly NoSuchUpload, as it answers an
  // SDK retry of an assembly that landed. Only the blob tells them apart: here there is none.
  test('UploadSessionClosedError, nothing committed (no object pointing at a blob that does not exist)', async () => {
    const key = 'edge/aborted-outside';
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, randomBody(64 * 1024), created.partSize);
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r: RequestInfo) => r.command === 'CompleteMultipartUploadCommand',
      before: async (r: RequestInfo) => {
        await fx.s3.send(
          new AbortMultipartUploadCommand({ Bucket: fx.config.bucket, Key: String(r.input.Key), UploadId: String(r.input.UploadId) }),
        );
      },
    });
    const completer = makeWriter(fx, { injector });
    try {
      await expect(completer.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(UploadSessionClosedError);
      expect(injector.stats.injected.delay).toBe(1);
      expect(await w.store.head(key), 'nothing committed').toBeUndefined();
    } finally {
      completer.close();
    }
  });

  test('assembled there with another size than the session declared: InvalidPartsError, nothing committed', async () => {
    const key = 'edge/assembled-outside';
    const created = await w.store.createUpload(key, { size: 1000 });
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r: RequestInfo) => r.command === 'ListPartsCommand',
      before: async (r: RequestInfo) => {
        const upload = { Bucket: fx.config.bucket, Key: String(r.input.Key), UploadId: String(r.input.UploadId) };
        const { ETag } = await fx.s3.send(new UploadPartCommand({ ...upload, PartNumber: 1, Body: randomBody(500) }));
        await fx.s3.send(new CompleteMultipartUploadCommand({ ...upload, MultipartUpload: { Parts: [{ PartNumber: 1, ETag }] } }));
      },
    });
    const completer = makeWriter(fx, { injector });
    try {
      await expect(completer.store.completeUpload(created.uploadId, [{ partNumber: 1, etag: '"any"' }])).rejects.toBeInstanceOf(
        InvalidPartsError,
      );
      expect(injector.stats.injected.delay).toBe(1);
      expect(await w.store.head(key), 'nothing committed').toBeUndefined();
    } finally {
      completer.close();
      await w.store.abortUpload(created.uploadId);
    }
  });
});

/** A complete of `parts` whose writer assembles them and dies before its commit (nothing committed). */
async function completeDyingBeforeCommit(uploadId: string, parts: readonly CompletedPart[]): Promise<void> {
  const dying = makeWriter(fx, {
    injector: new FaultInjector().add({
      kind: 'crashBefore',
      times: 1,
      match: (r: RequestInfo) => r.command === 'TransactWriteItemsCommand',
    }),
  });
  try {
    await expect(dying.store.completeUpload(uploadId, parts)).rejects.toThrow();
  } finally {
    dying.close();
  }
}

describe('a retried complete listing other parts than the earlier complete that assembled them (its commit lost)', () => {
  // S3 answers the retry's assembly NoSuchUpload (the upload is gone, assembled), and the blob's
  // GET confirms an object: with no size declared, it was committed whatever parts the retry
  // listed, its size answered as theirs. AWS gives an assembled object the ETag
  // "<md5 of the parts' MD5s>-<count>" (s3rver an MD5 of the whole body): the GET's is answered so.
  test('InvalidPartsError, nothing committed, the session open; the list that was assembled commits it', async () => {
    const key = 'edge/assembled-other-list';
    const body = randomBody(2 * 5 * MiB + 1000);
    const created = await w.store.createUpload(key, { partSize: 5 * MiB });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    expect(parts).toHaveLength(3);
    const firstTwo = parts.slice(0, 2);
    // The first complete assembles parts 1 and 2 and dies before its commit.
    await completeDyingBeforeCommit(created.uploadId, firstTwo);
    expect(await w.store.head(key), 'the first complete committed nothing').toBeUndefined();
    const md5 = createHash('md5');
    for (const part of firstTwo) md5.update(Buffer.from(part.etag.replace(/"/g, ''), 'hex'));
    const awsEtag = `"${md5.digest('hex')}-2"`;
    const retrier = makeWriter(fx);
    const send = retrier.s3.send.bind(retrier.s3) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
    retrier.s3.send = (async (command: unknown, ...rest: unknown[]) => {
      const out = await send(command, ...rest);
      if (command instanceof GetObjectCommand) (out as { ETag?: string }).ETag = awsEtag;
      return out;
    }) as typeof retrier.s3.send;
    try {
      // Three parts listed, two assembled: refused on the count.
      await expect(retrier.store.completeUpload(created.uploadId, parts)).rejects.toBeInstanceOf(InvalidPartsError);
      // Two parts listed, not those assembled (part 3 for part 2): refused on the digest.
      await expect(retrier.store.completeUpload(created.uploadId, [parts[0]!, { ...parts[2]!, partNumber: 2 }])).rejects.toBeInstanceOf(
        InvalidPartsError,
      );
      expect(await w.store.head(key), 'nothing committed').toBeUndefined();
      // The parts that were assembled commit it, under their size.
      expect(await retrier.store.completeUpload(created.uploadId, firstTwo)).toMatchObject({ size: 2 * 5 * MiB });
      expect(sameBytes((await w.store.get(key))?.body, body.subarray(0, 2 * 5 * MiB))).toBe(true);
    } finally {
      retrier.close();
    }
  });
});

describe('a retried complete whose listed parts, with their sizes, are not those the earlier complete assembled (its commit lost)', () => {
  // The ETag tells nothing here (s3rver's, as an S3-compatible store's, is the whole body's MD5):
  // the sizes the listing gave the parts, sent back with them, make another size than the blob's.
  test('InvalidPartsError, nothing committed, the session open; the parts that were assembled commit it', async () => {
    const key = 'edge/assembled-other-sizes';
    const body = randomBody(2 * 5 * MiB + 1000);
    const created = await w.store.createUpload(key, { partSize: 5 * MiB });
    await uploadParts(w.store, created.uploadId, body, created.partSize);
    const listed = await w.store.listUploadParts(created.uploadId);
    expect(listed).toHaveLength(3);
    await completeDyingBeforeCommit(created.uploadId, listed.slice(0, 2));
    await expect(w.store.completeUpload(created.uploadId, listed)).rejects.toBeInstanceOf(InvalidPartsError);
    expect(await w.store.head(key), 'nothing committed').toBeUndefined();
    expect(await w.store.completeUpload(created.uploadId, listed.slice(0, 2))).toMatchObject({ size: 2 * 5 * MiB });
    expect(sameBytes((await w.store.get(key))?.body, body.subarray(0, 2 * 5 * MiB))).toBe(true);
  });
});

describe("mayBeAssemblyOf: what an assembled object's ETag can tell", () => {
  const parts = [{ etag: `"${'a'.repeat(32)}"` }, { etag: `"${'b'.repeat(32)}"` }];
  const digestOfParts = multipartEtagOf(parts)!;
  test("the parts' own: their count and digest", () => {
    expect(mayBeAssemblyOf(digestOfParts, parts)).toBe(true);
    expect(mayBeAssemblyOf(digestOfParts, [...parts, { etag: `"${'c'.repeat(32)}"` }]), 'another count').toBe(false);
    expect(mayBeAssemblyOf(`"${'0'.repeat(32)}-2"`, parts), 'another digest').toBe(false);
  });
  // An object encrypted with a KMS or a customer key: its parts' ETags are no MD5s of their bytes,
  // and its ETag's digest is not known to follow the rule. Compared, a correct retry on such a
  // bucket would be refused for good (the client could only abort): only the count is read.
  test('an object encrypted with a KMS or a customer key: its count alone is read, never its digest', () => {
    expect(mayBeAssemblyOf(`"${'0'.repeat(32)}-2"`, parts, false)).toBe(true);
    expect(mayBeAssemblyOf(`"${'0'.repeat(32)}-3"`, parts, false)).toBe(false);
  });
  test('an ETag of another form (none, a digest of the whole body) tells nothing', () => {
    for (const etag of [undefined, `"${'0'.repeat(32)}"`, '"not-an-etag"']) expect(mayBeAssemblyOf(etag, parts)).toBe(true);
  });
});

describe("a complete's assembly that landed, its answer lost, the blob's GET answered without a Content-Length", () => {
  // The SDK's retry of the assembly is answered NoSuchUpload and the blob's size is confirmed by a
  // GET of it. Answered chunked (a proxy, an S3-compatible store), that GET tells no length: it was
  // taken as 0 bytes, and the object committed with a size of 0 over a blob of 64 KiB.
  test('the complete fails, nothing committed under a size S3 did not tell; a complete answered with it commits the size', async () => {
    const key = 'edge/assembled-chunked';
    const body = randomBody(64 * 1024);
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const injector = new FaultInjector().add({
      kind: 'loseResponse',
      times: 1,
      match: (r: RequestInfo) => r.command === 'CompleteMultipartUploadCommand',
    });
    const completer = makeWriter(fx, { injector });
    const send = completer.s3.send.bind(completer.s3) as (command: unknown, ...rest: unknown[]) => Promise<unknown>;
    completer.s3.send = (async (command: unknown, ...rest: unknown[]) => {
      const out = await send(command, ...rest);
      if (command instanceof GetObjectCommand) delete (out as { ContentLength?: number }).ContentLength;
      return out;
    }) as typeof completer.s3.send;
    try {
      const outcome = await completer.store.completeUpload(created.uploadId, parts).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      expect(injector.stats.injected.loseResponse).toBe(1);
      expect('error' in outcome, `answered ${JSON.stringify(outcome)}`).toBe(true);
      expect(String((outcome as { error: unknown }).error)).toMatch(/Content-Length/);
      expect(await w.store.head(key), 'nothing committed').toBeUndefined();
      // The client's retry, answered with the length, commits the blob under its size.
      expect(await w.store.completeUpload(created.uploadId, parts)).toMatchObject({ size: body.byteLength });
      expect(sameBytes((await w.store.get(key))?.body, body)).toBe(true);
    } finally {
      completer.close();
    }
  });
});

describe("a complete's assembly that landed, its answer lost, the blob's GET refused for its KMS key", () => {
  // A 403 to the GET that confirms the assembled blob was taken for "missing" (AWS's answer for a
  // missing key to a writer without s3:ListBucket), so a live session whose blob the role may not
  // decrypt was answered "expired" (410: start again), the access error hidden from the operator.
  // S3 names KMS in such a refusal: it is the AccessDeniedError it is, the session left open.
  test('AccessDeniedError, never "expired"; nothing committed, the session open; a complete that may read the blob commits it', async () => {
    const key = 'edge/assembled-kms-denied';
    const body = randomBody(64 * 1024);
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const injector = new FaultInjector()
      .add({ kind: 'loseResponse', times: 1, match: (r: RequestInfo) => r.command === 'CompleteMultipartUploadCommand' })
      .add({
        kind: 'fail',
        match: (r: RequestInfo) => r.command === 'GetObjectCommand',
        error: () =>
          awsServiceError(
            'AccessDenied',
            403,
            'User: arn:aws:sts::111122223333:assumed-role/writer/fn is not authorized to perform: kms:Decrypt on the resource associated with this ciphertext because the resource does not exist in this account, or the requester is not authorized to access this resource.',
          ),
      });
    const completer = makeWriter(fx, { injector });
    try {
      const error = await completer.store.completeUpload(created.uploadId, parts).catch((e: unknown) => e);
      expect(injector.stats.injected.loseResponse).toBe(1);
      expect(error, String(error)).toBeInstanceOf(AccessDeniedError);
      expect(await w.store.head(key), 'nothing committed').toBeUndefined();
      expect(await w.store.completeUpload(created.uploadId, parts)).toMatchObject({ size: body.byteLength });
      expect(sameBytes((await w.store.get(key))?.body, body)).toBe(true);
    } finally {
      completer.close();
    }
  });
});

describe('a complete retried after the commit with parts, with their sizes, that are not those committed', () => {
  // The stored result was answered whatever the retry listed: a list whose sizes make another size
  // (a part dropped, a part of another length) was told it was committed, 200 with the size of
  // parts it did not list. It is the session's completion that answers such a list: completed
  // (409), the object as committed; the list committed (or one without sizes) answers the result.
  test('UploadSessionClosedError (completed); the committed list answers the result; the object stays', async () => {
    const key = 'edge/retry-other-sizes';
    const body = randomBody(64 * 1024);
    const created = await w.store.createUpload(key, { partSize: 5 * MiB });
    const [part] = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const sized = [{ ...part!, size: body.byteLength }];
    const committed = await w.store.completeUpload(created.uploadId, sized);
    const other = [{ ...part!, size: body.byteLength - 1 }];
    const error = await w.store.completeUpload(created.uploadId, other).catch((e: unknown) => e);
    expect(error, JSON.stringify(error)).toBeInstanceOf(UploadSessionClosedError);
    expect((error as UploadSessionClosedError).reason).toBe('completed');
    expect(await w.store.completeUpload(created.uploadId, sized)).toEqual(committed);
    expect(await w.store.completeUpload(created.uploadId, [part!])).toEqual(committed);
    expect(sameBytes((await w.store.get(key))?.body, body)).toBe(true);
  });
});

describe('an abort that loses the session between its read and its claim', () => {
  /** A writer whose claim of session `id` for the abort first lets `meanwhile` run. */
  function aborterAfter(id: string, meanwhile: () => Promise<unknown>): Writer {
    const injector = new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: (r: RequestInfo) =>
        r.command === 'UpdateItemCommand' && r.input.TableName === fx.config.changeLogTable && JSON.stringify(r.input.Key).includes(id),
      before: async () => void (await meanwhile()),
    });
    return makeWriter(fx, { injector });
  }

  test('to a complete that committed: UploadSessionClosedError (completed), the object stays', async () => {
    const body = randomBody(64 * 1024);
    const created = await w.store.createUpload('edge/abort-vs-complete');
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const aborter = aborterAfter(created.uploadId, () => w.store.completeUpload(created.uploadId, parts));
    try {
      const refused = await aborter.store.abortUpload(created.uploadId).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(UploadSessionClosedError);
      expect((refused as UploadSessionClosedError).reason).toBe('completed');
      expect(sameBytes(await rawValue(fx, 'edge/abort-vs-complete'), body)).toBe(true);
    } finally {
      aborter.close();
    }
  });

  test('to a sweeper that took it past its expiry: UploadSessionClosedError (expired), as after the sweep', async () => {
    const created = await w.store.createUpload('edge/abort-vs-sweeper');
    await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const aborter = aborterAfter(created.uploadId, () => sweepAt(2 * DAY));
    try {
      const refused = await aborter.store.abortUpload(created.uploadId).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(UploadSessionClosedError);
      expect((refused as UploadSessionClosedError).reason).toBe('expired');
      await expect(w.store.abortUpload(created.uploadId), 'the same answer once the sweep is over').rejects.toMatchObject({
        reason: 'expired',
      });
    } finally {
      aborter.close();
    }
  });
});

/**
 * A writer whose S3 client answers its first `times` AbortMultipartUpload with success, unsent: what
 * AWS leaves when a part PUT was in flight during the abort and landed after it ("those part uploads
 * might or might not succeed. As a result, it might be necessary to abort a given multipart upload
 * multiple times", AbortMultipartUpload's reference): the upload still holds parts. s3rver refuses
 * a part sent after an abort, so it never shows that.
 */
function writerWhoseAbortAPartOutlives(times = 1): Writer {
  const writer = makeWriter(fx);
  abortOutlivedByAPart(writer.s3, times);
  return writer;
}

describe('an abort whose upload a part PUT in flight outlives (it landed after S3 aborted the upload)', () => {
  // The session's item is deleted by the abort: nothing names the upload any more, and no sweeper
  // comes back for it. Its parts stayed billed until the bucket's lifecycle rule (8 days).
  test('the abort asks S3 for the parts again and aborts the upload again: none is left in progress', async () => {
    const key = 'edge/abort-outlived-by-a-part';
    const created = await w.store.createUpload(key, { partSize: 5 * MiB });
    await uploadParts(w.store, created.uploadId, randomBody(5 * MiB + 100), created.partSize);
    const item = await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: created.uploadId } }));
    const blob = String((item.Item?.upload as { blob?: string } | undefined)?.blob);
    const aborter = writerWhoseAbortAPartOutlives();
    try {
      await aborter.store.abortUpload(created.uploadId);
      expect(await uploadsInProgress(), 'no upload left in progress that nothing names').not.toContain(blob);
      await expect(w.store.listUploadParts(created.uploadId)).rejects.toBeInstanceOf(UploadSessionNotFoundError);
    } finally {
      aborter.close();
    }
  });
});

describe('a session taken by a sweeper before its create noted the upload id (a clock far behind the sweeper’s)', () => {
  // Where the sweep runs: before the upload starts (the sweeper finds none to abort), or before its id is noted.
  test.each([
    ['before its multipart upload starts', 'unstarted', (r: RequestInfo) => r.command === 'CreateMultipartUploadCommand'],
    [
      'before it notes the upload id',
      'unnoted',
      (r: RequestInfo) => r.command === 'UpdateItemCommand' && String(r.input.UpdateExpression).includes('#u.#s3'),
    ],
  ])('%s: the create is refused (expired) and leaves no upload in progress', async (_when, name, match) => {
    const key = `edge/taken-before-noted/${name}`;
    const creator = makeWriter(fx, {
      injector: new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match,
        before: async () => void (await sweepAt(2 * DAY)),
      }),
    });
    try {
      const refused = await creator.store.createUpload(key).catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(UploadSessionClosedError);
      expect((refused as UploadSessionClosedError).reason).toBe('expired');
      expect((await uploadsInProgress()).filter((k) => k.includes(encodeObjectId(key)))).toEqual([]);
    } finally {
      creator.close();
    }
  });
});

describe('a complete whose session an abort claims while its commit is on its way', () => {
  // The abort deletes the assembled blob (HV does not point at it) before it deletes the session;
  // an abort that dies in between leaves the session claimed, its entry present and no result.
  // Only the commit's `state = live` then keeps the complete from pointing HV at the deleted blob.
  test('the commit is fenced: UploadSessionClosedError (aborted), no object, nothing leaked after the sweeps', async () => {
    const key = 'edge/complete-vs-dying-abort';
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const aborterInjector = new FaultInjector().add({
      kind: 'crashBefore',
      times: 1,
      match: (r: RequestInfo) => r.command === 'DeleteItemCommand' && r.input.TableName === fx.config.changeLogTable,
    });
    const aborter = makeWriter(fx, { injector: aborterInjector });
    const completer = makeWriter(fx, {
      injector: new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r: RequestInfo) => r.command === 'TransactWriteItemsCommand',
        before: async () => void (await aborter.store.abortUpload(created.uploadId).catch(() => undefined)),
      }),
    });
    try {
      const refused = await completer.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(aborterInjector.stats.injected.crashBefore, 'the abort died before deleting the session').toBe(1);
      expect(refused).toBeInstanceOf(UploadSessionClosedError);
      expect((refused as UploadSessionClosedError).reason).toBe('aborted');
      expect(await w.store.head(key)).toBeUndefined();
      // The session is still there, claimed by the abort: a part asked for now is refused as aborted too.
      await expect(w.store.uploadPartUrl(created.uploadId, 1)).rejects.toMatchObject({
        name: 'UploadSessionClosedError',
        reason: 'aborted',
      });
    } finally {
      aborter.close();
      completer.close();
    }
  });

  // The abort runs to its end (the session deleted) before the commit goes out. The complete was
  // answered "expired" for a session that had hours left, and a client that starts an expired
  // upload over would send again what its user cancelled.
  test('the abort ran to its end first: UploadSessionClosedError (aborted), never "expired"; no object, no blob', async () => {
    const key = 'edge/complete-vs-finished-abort';
    const created = await w.store.createUpload(key);
    const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const completer = makeWriter(fx, {
      injector: new FaultInjector().add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r: RequestInfo) => r.command === 'TransactWriteItemsCommand',
        before: async () => void (await w.store.abortUpload(created.uploadId)),
      }),
    });
    try {
      const refused = await completer.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(completer.injector.stats.injected.delay, 'the abort ran before the commit').toBe(1);
      expect(refused).toBeInstanceOf(UploadSessionClosedError);
      expect((refused as UploadSessionClosedError).reason).toBe('aborted');
      expect(await w.store.head(key)).toBeUndefined();
      expect((await rawState(fx)).blobs.filter((blob) => blob.startsWith(`${fx.config.prefix}/${encodeObjectId(key)}/`))).toEqual([]);
    } finally {
      completer.close();
    }
  });
});

/** A session of `key`, over a first value of 40 KiB, with a body of 1000 bytes in its parts. */
async function sessionOverValue(key: string) {
  await w.store.put(key, randomBody(40 * 1024));
  const created = await w.store.createUpload(key);
  const body = randomBody(1000);
  const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
  return { uploadId: created.uploadId, body, parts };
}

/** A read of a session's item (the change-log table's GetItem). */
const sessionRead = (r: RequestInfo) => r.command === 'GetItemCommand' && r.input.TableName === fx.config.changeLogTable;

/**
 * A session of `key` (over a first value of 40 KiB) with a body of 1000 bytes in its parts, and two
 * writers to complete it: `crashing`, whose commit lands and which dies right after it (its
 * cleanup never runs), and `paused`, whose commit waits for `meanwhile` before it goes out (a
 * frozen Lambda). Close both writers when done.
 */
async function racingCompletes(
  key: string,
  meanwhile: (race: { readonly crashing: Writer; readonly uploadId: string; readonly parts: CompletedPart[] }) => Promise<void>,
) {
  const { uploadId, body, parts } = await sessionOverValue(key);
  const transaction = (r: RequestInfo) => r.command === 'TransactWriteItemsCommand';
  const crashing = makeWriter(fx, { injector: new FaultInjector().add({ kind: 'crashAfter', times: 1, match: transaction }) });
  const paused = makeWriter(fx, {
    injector: new FaultInjector().add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: transaction,
      before: () => meanwhile({ crashing, uploadId, parts }),
    }),
  });
  return { crashing, paused, uploadId, body, parts };
}

describe('two completes of one session, the first dying right after its commit, the key overwritten in between', () => {
  // The first commit left the entry naming the blob it replaced (its cleanup never ran); the second
  // complete, its CAS lost to the overwrite, tries again against the new state. Only the session
  // element's `no result yet` refuses it: landed, it would put the session's blob back over the
  // other writer's value, and its cleanup would delete that value's blob.
  test("the second commits nothing: the other writer's value stays", async () => {
    const key = 'edge/two-completes-overwritten';
    const other = randomBody(40 * 1024 + 1);
    const {
      crashing: first,
      paused: second,
      uploadId,
      parts,
    } = await racingCompletes(key, async ({ crashing, uploadId, parts }) => {
      await crashing.store.completeUpload(uploadId, parts).catch(() => undefined);
      await w.store.put(key, other);
    });
    try {
      expect(first.injector.stats.injected.crashAfter).toBe(0);
      await second.store.completeUpload(uploadId, parts).catch(() => undefined);
      expect(first.injector.stats.injected.crashAfter, 'the first complete committed and died').toBe(1);
      expect(sameBytes(await rawValue(fx, key), other)).toBe(true);
    } finally {
      first.close();
      second.close();
    }
  });
});

describe('two completes of one session, the key overwritten between their reads, the one that commits dying right after', () => {
  // The second complete read the key's first value; the first read the value another writer put
  // since (whose put deleted the first value's blob) and committed over it, its entry naming that
  // value's blob as the one to delete, and died before deleting it. The second's commit finds the
  // session committed: what is left to clean is what the landed commit replaced, named by the
  // entry, not what the second read. Removing the entry after deleting its own would leave that
  // blob to no one.
  test('the second answers the commit and deletes the blob the commit replaced: none is left that nothing names', async () => {
    const key = 'edge/two-completes-replaced';
    const {
      crashing: first,
      paused: second,
      uploadId,
      body,
      parts,
    } = await racingCompletes(key, async ({ crashing, uploadId, parts }) => {
      await w.store.put(key, randomBody(40 * 1024 + 1));
      await crashing.store.completeUpload(uploadId, parts).catch(() => undefined);
    });
    try {
      const answer = await second.store.completeUpload(uploadId, parts);
      expect(first.injector.stats.injected.crashAfter, 'the first complete committed and died').toBe(1);
      expect(answer).toMatchObject({ key, size: body.byteLength, version: (await w.store.head(key))!.version });
      expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
      const state = await rawState(fx);
      const named = new Set([...state.olds, ...state.references.values()]);
      const left = state.blobs.filter((blob) => blob.startsWith(`${fx.config.prefix}/${encodeObjectId(key)}/`) && !named.has(blob));
      expect(left, 'no blob of the key that nothing names').toEqual([]);
    } finally {
      first.close();
      second.close();
    }
  });
});

describe('a complete refused for its condition whose ending of the session fails (S3 refuses the abort of its upload)', () => {
  // A create-only session whose key another writer created meanwhile: the complete assembles the
  // parts, its condition fails, and it ends the session (claim, abort the upload, delete the blob,
  // delete the session). The abort of the upload is refused: the client got S3's refusal (500)
  // instead of its condition's (412), and its retry an "aborted" session it never aborted.
  test("VersionConflictError all the same; the session is the abort's, nothing committed, and the sweeper finishes it", async () => {
    const key = 'edge/refused-abort-fails';
    const created = await w.store.createUpload(key, { ifVersion: 0 });
    const parts = await uploadParts(w.store, created.uploadId, randomBody(1000), created.partSize);
    const theirs = randomBody(40 * 1024);
    await w.store.put(key, theirs);
    const reported: unknown[] = [];
    const completer = makeWriter(fx, {
      injector: new FaultInjector().add({
        kind: 'fail',
        match: (r: RequestInfo) => r.command === 'AbortMultipartUploadCommand',
        error: () => awsServiceError('InternalError', 500),
      }),
      store: { onCleanupError: (err: unknown) => void reported.push(err) },
    });
    try {
      const refused = await completer.store.completeUpload(created.uploadId, parts).catch((err: unknown) => err);
      expect(completer.injector.stats.injected.fail, 'the abort of the upload was refused').toBeGreaterThan(0);
      expect(refused).toBeInstanceOf(VersionConflictError);
      expect(reported, 'the failed cleanup is reported').toHaveLength(1);
      expect(sameBytes(await rawValue(fx, key), theirs)).toBe(true);
      await expect(w.store.uploadPartUrl(created.uploadId, 1)).rejects.toMatchObject({
        name: 'UploadSessionClosedError',
        reason: 'aborted',
      });
    } finally {
      completer.close();
    }
  });
});

describe("a complete refused for its condition while the client's retry of it commits", () => {
  // A create-only session (ifVersion 0). The first complete assembles the parts; another writer
  // puts to the key before its commit goes out, so the commit's CAS is lost and the state it reads
  // again fails the condition: it refuses, ending the session. Before its claim goes out the other
  // writer's object is deleted and the client's retry completes the session (absent again: it
  // commits). The refusal's claim then meets a committed session.
  test('the refused complete answers the committed version, not VersionConflictError; the object is the body, nothing leaks', async () => {
    const key = 'edge/refused-vs-retry';
    const body = randomBody(64 * 1024);
    const created = await w.store.createUpload(key, { ifVersion: 0 });
    const parts = await uploadParts(w.store, created.uploadId, body, created.partSize);
    const retry = makeWriter(fx);
    let retried: Awaited<ReturnType<typeof w.store.completeUpload>> | undefined;
    const injector = new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: atStep('commit', fx.config),
        before: async () => void (await w.store.put(key, 'theirs')),
      })
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: atStep('session-abort-claim', fx.config),
        before: async () => {
          await w.store.delete(key);
          retried = await retry.store.completeUpload(created.uploadId, parts);
        },
      });
    const refusing = makeWriter(fx, { injector });
    try {
      const answer = await refusing.store.completeUpload(created.uploadId, parts);
      expect(injector.stats.injected.delay, 'the commit lost to the put, then the claim ran after the retry').toBe(2);
      expect(retried).toMatchObject({ key, size: body.byteLength, stored: 'blob' });
      expect(answer).toEqual(retried);
      expect((await w.store.head(key))?.version).toBe(retried?.version);
      expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
      // Settled as one commit: the session's entry gone, its blob the object's, no upload in progress.
      const state = await rawState(fx);
      const session = state.instances.find((item) => item.pk === created.uploadId);
      expect(session?.state).toBe('live');
      expect(Object.keys(session ?? {}).filter((name) => name.startsWith('c_'))).toEqual([]);
      const blobs = state.blobs.filter((blob) => blob.startsWith(`${fx.config.prefix}/${encodeObjectId(key)}/`));
      expect(blobs).toEqual([state.references.get(key)]);
      expect((await uploadsInProgress()).filter((k) => blobs.includes(k) || k.includes(encodeObjectId(key)))).toEqual([]);
    } finally {
      refusing.close();
      retry.close();
    }
  });
});

describe("a presigned URL's answered expiry", () => {
  // S3 counts X-Amz-Expires from X-Amz-Date, which holds whole seconds: the signing instant
  // truncated. A URL signed 0.4 s into a second ends 0.4 s before its lifetime has passed from
  // then; the answered expiresAt said it lived that much longer (a client refused before it).
  test('is never later than the instant S3 ends the URL, whatever part of a second it was signed in', async () => {
    const key = 'url-expiry/object';
    await w.store.put(key, randomBody(2 * MiB));
    // Signed early in a second, after the reads before it: the truncation loses the time since its start.
    while (Date.now() % 1_000 < 150 || Date.now() % 1_000 > 400) await new Promise((r) => setTimeout(r, 5));
    const presigned = (await w.store.presignGet(key, { expiresInMs: 60_000 }))!;
    const url = new URL(presigned.url);
    const dated = url.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
    const endsAt = Date.parse(dated) + Number(url.searchParams.get('X-Amz-Expires')) * 1_000;
    expect(presigned.expiresAt).toBeLessThanOrEqual(endsAt);
    expect(presigned.expiresAt, 'no more than the wait for the read and the signing is lost').toBeGreaterThan(endsAt - 1_000);
  });
});

test('after everything: nothing lost, nothing leaked, the log drains', async () => {
  for (const offset of [3 * DAY, 3 * DAY + PAST_WINDOW_MS]) expect((await sweepAt(offset)).errors).toBe(0);
  await expectClean(fx, expect);
  expect(await uploadsInProgress()).toEqual([]);
});

describe('a complete whose commit landed and whose read of the session after it fails', () => {
  // The commit applied (its transaction answered success): the result it stored is the one it
  // wrote. Reading it back failed the complete with that read's error, a failure answered for a
  // durable object (and the replaced blob left to the sweeper). The commit's own result answers.
  test('the committed result is the answer, the replaced blob deleted and the entry removed', async () => {
    const key = 'edge/complete-read-after-commit-fails';
    const { uploadId, body, parts } = await sessionOverValue(key);
    // The complete's first read of the session goes through; every one after its commit fails.
    const injector = new FaultInjector().add({
      kind: 'fail',
      skip: 1,
      match: sessionRead,
      error: () => awsServiceError('InternalServerError', 500),
    });
    const completer = makeWriter(fx, { injector });
    try {
      const result = await completer.store.completeUpload(uploadId, parts);
      expect(result).toMatchObject({ key, size: body.byteLength, stored: 'blob', created: false });
      expect(result.version).toBe((await w.store.head(key))!.version);
      expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
      // The cleanup ran: no blob but the new one, no entry left.
      const state = await rawState(fx);
      expect(state.unreferenced.filter((b) => b.includes(encodeObjectId(key)))).toEqual([]);
      expect(state.instances.find((i) => i.pk === uploadId)).not.toHaveProperty(`c_${uploadId}`);
    } finally {
      completer.close();
    }
  });
});

describe("a complete whose retry's commit landed first and whose read of the session after it fails", () => {
  // Its own commit found HV holding the session's write (the client's retry committed first): a
  // landing, known. Reading the stored result back failed the complete with that read's error, a
  // failure answered for a durable object, as an applied commit's was before (the test above).
  test("the session's commit is the answer, read from HV under the session's id", async () => {
    const key = 'edge/complete-twin-landed-read-fails';
    const { uploadId, body, parts } = await sessionOverValue(key);
    const injector = new FaultInjector()
      .add({
        kind: 'delay',
        delayMs: 0,
        times: 1,
        match: (r: RequestInfo) => r.command === 'TransactWriteItemsCommand',
        before: async () => void (await w.store.completeUpload(uploadId, parts)),
      })
      // The complete's first read of the session goes through; every one after fails.
      .add({ kind: 'fail', skip: 1, match: sessionRead, error: () => awsServiceError('InternalServerError', 500) });
    const completer = makeWriter(fx, { injector });
    try {
      const result = await completer.store.completeUpload(uploadId, parts);
      expect(completer.injector.stats.injected.delay, "the retry's commit landed first").toBe(1);
      expect(result).toMatchObject({ key, size: body.byteLength, stored: 'blob', created: false });
      expect(result.version).toBe((await w.store.head(key))!.version);
      expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
    } finally {
      completer.close();
    }
  });
});

describe('a session of another store sharing the change-log table (another objects table, the same prefix)', () => {
  // Its id is a handle to the other store's item: completed here, the object would be this objects
  // table's under an item whose sweeper reads the other (and deletes its blob as unreferenced);
  // aborted here, the other store's client loses its upload.
  test('its part URLs, listing, complete and abort are refused as not found; its own store completes it', async () => {
    const own = await freshFixture();
    const a = makeWriter(own);
    const b = makeWriter({ ...own, config: { ...own.config, objectsTable: await emptyTable(own) } });
    try {
      const key = 'edge/another-store';
      const created = await a.store.createUpload(key);
      const body = randomBody(1000);
      const parts = await uploadParts(a.store, created.uploadId, body, created.partSize);
      const calls: Array<[string, () => Promise<unknown>]> = [
        ['part URL', () => b.store.uploadPartUrl(created.uploadId, 1)],
        ['listing', () => b.store.listUploadParts(created.uploadId)],
        ['complete', () => b.store.completeUpload(created.uploadId, parts)],
        ['abort', () => b.store.abortUpload(created.uploadId)],
      ];
      for (const [name, call] of calls) await expect(call(), name).rejects.toBeInstanceOf(UploadSessionNotFoundError);
      expect(await b.store.head(key), 'nothing committed in the other objects table').toBeUndefined();
      expect(await a.store.completeUpload(created.uploadId, parts)).toMatchObject({ key, size: body.byteLength, created: true });
      expect(sameBytes((await a.store.get(key))?.body, body)).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('a complete paused before its commit while its retry commits and a sweeper ends the session', () => {
  // The first complete read the key's first value and paused (a frozen Lambda) with its commit on
  // its way. Meanwhile another writer overwrote the key, the client's retry committed the session
  // over that value and died before its cleanup, and a sweeper, past the session's lease, finished
  // the cleanup and deleted the session's item. The paused commit, sent at last, finds HV holding
  // the session's commit: landed, but not as this complete computed it. With no item left to read
  // the stored result from, it answered the version it had computed (the other writer's), not the
  // session's commit's.
  test("it answers the session's commit, the version HV holds under the session's id", async () => {
    const key = 'edge/paused-complete-item-gone';
    const {
      crashing: retry,
      paused,
      uploadId,
      body,
      parts,
    } = await racingCompletes(key, async ({ crashing, uploadId, parts }) => {
      await w.store.put(key, randomBody(40 * 1024 + 1));
      await crashing.store.completeUpload(uploadId, parts).catch(() => undefined);
      await sweepAt(2 * DAY);
      await sweepAt(4 * DAY);
    });
    try {
      const answer = await paused.store.completeUpload(uploadId, parts);
      expect(retry.injector.stats.injected.crashAfter, 'the retry committed and died').toBe(1);
      const item = await fx.dynamodb.send(new GetCommand({ TableName: fx.config.changeLogTable, Key: { pk: uploadId } }));
      expect(item.Item, "the sweeper deleted the session's item").toBeUndefined();
      const head = await w.store.head(key);
      expect(sameBytes(await rawValue(fx, key), body)).toBe(true);
      expect(answer).toMatchObject({ key, size: body.byteLength, version: head!.version });
    } finally {
      retry.close();
      paused.close();
    }
  });
});
