/**
 * A session with a declared size fixes each part's length, and its part URLs sign it: S3 refuses
 * a PUT whose signed headers differ from the signature's (SignatureDoesNotMatch), so a holder of
 * the URLs cannot store more than the size declared (up to 5 GiB a part, until the session
 * expires). The local S3 server checks no signature, so S3's check is done here as SigV4 defines
 * it: the request the server receives is signed again and compared with the URL's signature.
 * Many URLs asked at once come from one pass of the SDK's pipeline (lib/aws/presign.ts), each the
 * URL its part would have alone.
 */
import { UploadPartCommand } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { presignUrls } from '../../lib/aws/presign.js';
import { TierlogError } from '../../lib/errors.js';
import { describe, expect, test } from 'vitest';
import { partLengthOf } from '../../lib/tiered/part-size.js';
import type { Fixture } from '../support/local.js';
import { MiB, withWriter, randomBody, sameBytes, type Writer } from './harness.js';
import { putPart } from './upload-session-client.js';

let fx: Fixture;
let w: Writer;
withWriter((made) => ({ fx, w } = made));

/** Whether S3 would take a PUT to `url` with a body of `contentLength` bytes: its signature, recomputed from that request. */
async function s3Accepts(url: string, contentLength: number): Promise<boolean> {
  const u = new URL(url);
  const auth = new Set(['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature']);
  const query: Record<string, string> = {};
  for (const [name, value] of u.searchParams) if (!auth.has(name)) query[name] = value;
  const signed = u.searchParams.get('X-Amz-SignedHeaders')!.split(';');
  // What the client sends; the server reads the signed ones.
  const sent: Record<string, string> = {
    host: u.host,
    'content-length': String(contentLength),
    'content-type': 'application/octet-stream',
  };
  const headers = Object.fromEntries(signed.map((name) => [name, sent[name]!]));
  const at = u.searchParams.get('X-Amz-Date')!.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z');
  const config = w.s3.config as unknown as {
    sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'];
    credentials(): Promise<never>;
  };
  const signer = new SignatureV4({
    credentials: await config.credentials(),
    region: await w.s3.config.region(),
    service: 's3',
    sha256: config.sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const again = (await signer.presign(
    { method: 'PUT', protocol: u.protocol, hostname: u.hostname, port: Number(u.port), path: u.pathname, query, headers } as never,
    { expiresIn: Number(u.searchParams.get('X-Amz-Expires')), signingDate: new Date(at) },
  )) as unknown as { query: Record<string, string> };
  return again.query['X-Amz-Signature'] === u.searchParams.get('X-Amz-Signature');
}

describe("a declared size signs each part's length", () => {
  test('every part URL takes exactly its part: partSize, the rest for the last; one byte more or less is refused', async () => {
    const size = 12 * MiB + 5;
    const created = await w.store.createUpload('len/declared', { size, partSize: 5 * MiB });
    expect(created.partCount).toBe(3);
    const urls = await w.store.uploadPartUrls(created.uploadId, [1, 2, 3]);
    const lengths = [1, 2, 3].map((n) => partLengthOf(size, created.partSize, n));
    expect(lengths).toEqual([5 * MiB, 5 * MiB, 2 * MiB + 5]);
    for (const [i, url] of urls.entries()) {
      expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('content-length;host');
      expect(await s3Accepts(url, lengths[i]!), `part ${i + 1} of its length`).toBe(true);
      expect(await s3Accepts(url, lengths[i]! + 1), `part ${i + 1}, a byte more`).toBe(false);
      expect(await s3Accepts(url, 5 * 1024 * MiB), `part ${i + 1}, 5 GiB`).toBe(false);
    }
    // The one URL asked for later signs the same length.
    expect(await s3Accepts(await w.store.uploadPartUrl(created.uploadId, 3), lengths[2]! - 1)).toBe(false);

    // And the client that sends what it was told completes (the local server checks no signature).
    const body = randomBody(size);
    const parts = [];
    for (const [i, url] of urls.entries()) {
      const start = i * created.partSize;
      parts.push({ partNumber: i + 1, etag: await putPart(url, body.subarray(start, start + lengths[i]!)) });
    }
    await w.store.completeUpload(created.uploadId, parts);
    expect(sameBytes((await w.store.get('len/declared'))!.body, body)).toBe(true);
  });

  test('an empty declared object: its one part URL takes 0 bytes', async () => {
    const created = await w.store.createUpload('len/empty', { size: 0 });
    const [url] = await w.store.uploadPartUrls(created.uploadId, [1]);
    expect(await s3Accepts(url!, 0)).toBe(true);
    expect(await s3Accepts(url!, 1)).toBe(false);
  });

  test('without a declared size, a part URL signs no length (the client chooses its parts)', async () => {
    const created = await w.store.createUpload('len/open');
    const url = await w.store.uploadPartUrl(created.uploadId, 1);
    expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('host');
    expect(await s3Accepts(url, 5 * MiB)).toBe(true);
    expect(await s3Accepts(url, 7 * MiB + 3)).toBe(true);
  });
});

describe('many part URLs: one pass of the SDK pipeline signs them all', () => {
  /** Runs `fn` counting the passes of `w.s3`'s middleware stack that build an UploadPart request (a presign's included). */
  async function uploadPartPasses<T>(fn: () => Promise<T>): Promise<{ result: T; passes: number }> {
    let passes = 0;
    const name = 'testCountUploadPartPasses';
    w.s3.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UploadPartCommand') passes++;
        return next(args);
      },
      { step: 'build', name },
    );
    try {
      return { result: await fn(), passes };
    } finally {
      w.s3.middlewareStack.remove(name);
    }
  }
  /** The URL without its date and signature: what two URLs signed at different instants share. */
  const unsigned = (url: string) => {
    const u = new URL(url);
    u.searchParams.delete('X-Amz-Date');
    u.searchParams.delete('X-Amz-Signature');
    return u.toString();
  };

  test("40 parts' URLs, asked out of order: one pass; each URL is the one asked alone, of its part and length", async () => {
    const size = 39 * 5 * MiB + 7;
    const created = await w.store.createUpload('len/many', { size, partSize: 5 * MiB });
    expect(created.partCount).toBe(40);
    const numbers = [40, ...Array.from({ length: 39 }, (_, i) => i + 1)];
    const { result: urls, passes } = await uploadPartPasses(() => w.store.uploadPartUrls(created.uploadId, numbers));
    expect(passes).toBe(1);
    expect(urls).toHaveLength(40);
    for (const [i, url] of urls.entries()) {
      const n = numbers[i]!;
      expect(new URL(url).searchParams.get('partNumber')).toBe(String(n));
      expect(unsigned(url)).toBe(unsigned(await w.store.uploadPartUrl(created.uploadId, n)));
      const length = partLengthOf(size, created.partSize, n);
      expect(await s3Accepts(url, length), `part ${n} of its length`).toBe(true);
      expect(await s3Accepts(url, length + 1), `part ${n}, a byte more`).toBe(false);
    }
    expect(new Set(urls.map((url) => new URL(url).searchParams.get('X-Amz-Signature'))).size).toBe(40);
    await w.store.abortUpload(created.uploadId);
  });

  test('without a declared size too: one pass, each URL of its part, signing no length', async () => {
    const created = await w.store.createUpload('len/many-open');
    const numbers = [7, 2, 9];
    const { result: urls, passes } = await uploadPartPasses(() => w.store.uploadPartUrls(created.uploadId, numbers));
    expect(passes).toBe(1);
    for (const [i, url] of urls.entries()) {
      expect(new URL(url).searchParams.get('partNumber')).toBe(String(numbers[i]));
      expect(new URL(url).searchParams.get('X-Amz-SignedHeaders')).toBe('host');
      expect(unsigned(url)).toBe(unsigned(await w.store.uploadPartUrl(created.uploadId, numbers[i]!)));
      expect(await s3Accepts(url, 3 * MiB + i)).toBe(true);
    }
    await w.store.abortUpload(created.uploadId);
  });

  test('a variant may change only a query parameter the request carries: another is refused, nothing signed', async () => {
    const command = new UploadPartCommand({ Bucket: fx.config.bucket, Key: `${fx.config.prefix}/x`, UploadId: 'u', PartNumber: 1 });
    await expect(presignUrls(w.s3, command, 60, [{ query: { partNumber: '2' } }, { query: { uploadId: 'other' } }])).resolves.toHaveLength(
      2,
    );
    await expect(
      presignUrls(w.s3, command, 60, [{ query: { partNumber: '2' } }, { query: { 'x-amz-acl': 'public-read' } }]),
    ).rejects.toThrow(TierlogError);
  });
});
