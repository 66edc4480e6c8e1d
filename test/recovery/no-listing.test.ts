/**
 * The sweeper needs neither s3:ListBucket nor HeadObject. It judges a dead writer's entries on HV
 * alone, once the upload window its first sighting opened has closed, so it never asks the bucket
 * whether a blob exists. A middleware on the sweeper's S3 client refuses every HeadObject and
 * every ListObjectsV2 with 403 AccessDenied, as real S3 refuses a caller without those grants
 * (the emulator would answer): dead writers' orphans are still recovered, an abandoned upload
 * session's multipart upload is still aborted, and the only S3 requests either sweep sends are
 * deletes, plus ListMultipartUploads and AbortMultipartUpload for the session and for the uploads
 * of never-committed blobs (one listing of the prefix per judging sweep).
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  KiB,
  MiB,
  PAST_EVERYTHING_MS,
  PAST_WINDOW_MS,
  expectClean,
  expectFencedOnly,
  deadWriterPut,
  makeWriter,
  randomBody,
  rawState,
  rawValue,
  recordedSweep,
  sameBytes,
  steps,
} from '../tiered/harness.js';
import { putPart } from '../tiered/upload-session-client.js';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** What the sweeper would need s3:ListBucket for, or does not need at all. */
const DENIED = ['HeadObjectCommand', 'ListObjectsV2Command'];
const DELETES = ['DeleteObjectCommand', 'DeleteObjectsCommand'];

/** An S3 client on which every HeadObject and ListObjectsV2 answers 403 AccessDenied; keeps what was sent. */
function deniedS3() {
  const client = createS3Client();
  const sent: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? '?';
      sent.push(command);
      if (DENIED.includes(command)) {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'denyAsRealS3' },
  );
  open.push({ close: () => client.destroy() });
  return { client, sent };
}

/** The first sighting, then the judging sweep, both through `s3`; what each sent to S3. */
async function fenceThenJudge(fx: Fixture, s3: ReturnType<typeof deniedS3>) {
  const fence = await recordedSweep(fx, PAST_EVERYTHING_MS, { s3: s3.client });
  const fenceSent = s3.sent.splice(0);
  const judge = await recordedSweep(fx, PAST_EVERYTHING_MS + PAST_WINDOW_MS, { s3: s3.client });
  const judgeSent = s3.sent.splice(0);
  return { fence, fenceSent, judge, judgeSent };
}

describe('the sweeper without s3:ListBucket and HeadObject', () => {
  test("dead writers' orphans (a create and an overwrite) are recovered; the sweeps send S3 nothing but deletes and one listing of uploads", async () => {
    const fx = await freshFixture();
    const s = steps(fx.config);
    // An overwrite that dies after its commit (old orphaned), a create that dies before it (new orphaned).
    const body = randomBody(40 * KiB);
    await deadWriterPut(fx, open, 'nl/over', s.deleteBlob, { old: randomBody(40 * KiB), body });
    await deadWriterPut(fx, open, 'nl/new', s.commit);
    const before = await rawState(fx);
    expect(before.unreferenced).toHaveLength(2);
    expect(before.entries).toBe(2);

    const s3 = deniedS3();
    const { fence, fenceSent, judge, judgeSent } = await fenceThenJudge(fx, s3);
    expectFencedOnly(fx.config, fence.report, fence.commands, { claimed: 2, deferred: 2 }, expect);
    expect(fenceSent, 'a first sighting sends nothing to S3').toEqual([]);
    expect(judge.report).toMatchObject({ instancesClaimed: 2, entriesRecovered: 2, blobsDeleted: 2, errors: 0 });
    expect(judgeSent.length).toBeGreaterThanOrEqual(1);
    expect(
      judgeSent.filter((c) => !DELETES.includes(c)),
      "the judging sweep sends S3 only deletes, and one listing of uploads (the create's `new` is garbage)",
    ).toEqual(['ListMultipartUploadsCommand']);

    await expectClean(fx, expect);
    expect(sameBytes(await rawValue(fx, 'nl/over'), body)).toBe(true);
  });

  test("an abandoned upload session: its upload aborted, its entry drained; S3 sees only the session's upload listing, its abort, its parts listing and deletes", async () => {
    const fx = await freshFixture();
    const w = makeWriter(fx);
    open.push(w);
    const created = await w.store.createUpload('nl/session', { expiresInMs: 60_000, partSize: 5 * MiB });
    await putPart(await w.store.uploadPartUrl(created.uploadId, 1), randomBody(5 * MiB));
    const openUploads = async () =>
      (await fx.s3.send(new ListMultipartUploadsCommand({ Bucket: fx.config.bucket, Prefix: `${fx.config.prefix}/` }))).Uploads ?? [];
    expect(await openUploads()).toHaveLength(1);

    const s3 = deniedS3();
    const { fence, fenceSent, judge, judgeSent } = await fenceThenJudge(fx, s3);
    expect(fence.report).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0, errors: 0 });
    // The claim fences the session; its upload is aborted at once (nothing of it can land any more).
    expect(fenceSent).toContain('AbortMultipartUploadCommand');
    expect(judge.report).toMatchObject({ entriesRecovered: 1, errors: 0 });
    // ListParts after each abort: a part that landed after it is aborted again (session-crash-matrix.test.ts).
    const allowed = [...DELETES, 'ListMultipartUploadsCommand', 'AbortMultipartUploadCommand', 'ListPartsCommand'];
    expect([...fenceSent, ...judgeSent].filter((c) => !allowed.includes(c))).toEqual([]);

    expect(await openUploads(), 'no multipart upload left open').toEqual([]);
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
  });
});
