/**
 * Reads by a writer that has no `s3:ListBucket` (the writer grant): S3 answers a GET of a missing
 * blob 403, not 404 (`withoutListBucket` gives the local server AWS's answer). A refusal counts as
 * "the blob was replaced" only when a consistent re-read of HV shows the pointer moved; otherwise
 * it is surfaced as AccessDeniedError, never guessed to be a missing blob.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { AccessDeniedError, BlobMissingError } from '../../lib/errors.js';
import { withoutListBucket } from '../../lib/faults/without-list-bucket.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, scanAll } from '../support/local.js';
import { KiB, makeWriter, randomBody, sameBytes, type Writer } from './harness.js';

let fx: Fixture;
let writer: Writer;
beforeAll(async () => {
  fx = await freshFixture();
  writer = makeWriter(fx);
});
afterAll(() => writer.close());

/** A reader whose S3 client answers like AWS without ListBucket; `beforeGet` runs before its first GetObject. */
function reader(beforeGet?: () => Promise<void>) {
  const dynamodb = createDynamoDBClient();
  const s3 = withoutListBucket(createS3Client());
  let pending = beforeGet;
  s3.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand' && pending !== undefined) {
        const hook = pending;
        pending = undefined;
        await hook();
      }
      return next(args);
    },
    { step: 'initialize', name: 'testBeforeGet' },
  );
  const log = new DynamoChangeLog({ config: fx.config, dynamodb, renewInBackground: false });
  const store = new TieredStore({ config: fx.config, changeLog: log, dynamodb, s3 });
  return { store, close: () => (log.close(), dynamodb.destroy(), s3.destroy()) };
}

async function blobOf(key: string): Promise<string> {
  const item = (await scanAll(fx.dynamodb, fx.config.objectsTable)).find((i) => i.key === key);
  return item!.blob as string;
}

describe('a writer without s3:ListBucket reads a large object', () => {
  test('replaced between the HV read and the GET: the 403 on the old blob is followed to the new one', async () => {
    const first = randomBody(20 * KiB);
    const second = randomBody(20 * KiB);
    await writer.store.put('race', first);
    const oldBlob = await blobOf('race');
    const r = reader(async () => void (await writer.store.put('race', second)));
    try {
      const got = await r.store.get('race');
      expect(sameBytes(got?.body, second)).toBe(true);
      expect(await blobOf('race')).not.toBe(oldBlob);
    } finally {
      r.close();
    }
  });

  test('HV still points at a blob S3 refuses: AccessDeniedError, not a guess that the blob is missing', async () => {
    await writer.store.put('lost', randomBody(20 * KiB));
    const blob = await blobOf('lost');
    await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: blob }));
    const r = reader();
    try {
      const err = await r.store.get('lost').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AccessDeniedError);
      expect((err as Error).message).toMatch(/access denied: GetObject/);
      // With ListBucket (S3 answers 404), the same state is reported as a missing blob.
      await expect(writer.store.get('lost')).rejects.toBeInstanceOf(BlobMissingError);
      expect(await blobOf('lost')).toBe(blob);
    } finally {
      r.close();
    }
  });

  test('ranged read replaced between the HV read and the GET: the 403 is followed to the new blob', async () => {
    const first = randomBody(20 * KiB);
    const second = randomBody(20 * KiB);
    await writer.store.put('race-range', first);
    const r = reader(async () => void (await writer.store.put('race-range', second)));
    try {
      const got = await r.store.get('race-range', { range: { start: 100, end: 199 } });
      expect(sameBytes(got?.body, second.subarray(100, 200))).toBe(true);
      const streamed = reader(async () => void (await writer.store.put('race-range', first)));
      try {
        const s = await streamed.store.getStream('race-range', { range: { suffix: 50 } });
        const chunks: Buffer[] = [];
        for await (const c of s!.body) chunks.push(c as Buffer);
        expect(sameBytes(new Uint8Array(Buffer.concat(chunks)), first.subarray(first.byteLength - 50))).toBe(true);
      } finally {
        streamed.close();
      }
    } finally {
      r.close();
    }
  });

  test('ranged read of a blob S3 refuses while HV still points at it: AccessDeniedError', async () => {
    await writer.store.put('lost-range', randomBody(20 * KiB));
    const blob = await blobOf('lost-range');
    await fx.s3.send(new DeleteObjectCommand({ Bucket: fx.config.bucket, Key: blob }));
    const r = reader();
    try {
      await expect(r.store.get('lost-range', { range: { start: 0, end: 9 } })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(writer.store.get('lost-range', { range: { start: 0, end: 9 } })).rejects.toBeInstanceOf(BlobMissingError);
    } finally {
      r.close();
    }
  });
});
