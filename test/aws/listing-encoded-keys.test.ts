/**
 * Keys XML 1.0 cannot carry. Asked without `encoding-type=url`, S3 writes a listing's keys raw in
 * its XML; the SDK's parser applies XML's end-of-line rule and reads a carriage return as a line
 * feed. A key under the prefix holding one was reported as another key (the operator could not
 * find it), and beside a key with a control character between the two (0x0B after 0x0A, before
 * 0x0D) it broke the listing's order: a `ListingError`, every audit of the bucket stopped.
 * `LtBucket.list` asks for URL-encoded keys and decodes them when the page says they are.
 *
 * The local S3 server does not encode (nor carry these keys): an HTTP server here answers as S3 does,
 * and the SDK parses its XML for real.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { LtBucket } from '../../lib/tiered/lt-bucket.js';

/** The keys in the bucket, in S3's order (ascending UTF-8). */
const stored = ['blobs/a b+c%d', 'blobs/x\u000b', 'blobs/x\r', 'blobs/\u00e9t\u00e9'].sort((a, b) =>
  Buffer.compare(Buffer.from(a), Buffer.from(b)),
);

/** S3's `encoding-type=url`: a space as `+`, `/` kept, the rest as encodeURIComponent. */
const urlEncoded = (key: string) => encodeURIComponent(key).replaceAll('%20', '+').replaceAll('%2F', '/');
const xmlEscaped = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

let server: Server;
let s3: S3Client;
const asked: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const query = new URL(req.url ?? '/', 'http://s3').searchParams;
    asked.push(query.get('encoding-type') ?? 'none');
    const encode = query.get('encoding-type') === 'url';
    // As S3 answers: the keys raw, but for XML's escapes, unless asked to encode them.
    const contents = stored
      .map(
        (key) =>
          `<Contents><Key>${encode ? urlEncoded(key) : xmlEscaped(key)}</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified><Size>3</Size></Contents>`,
      )
      .join('');
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(
      '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        `<Name>bucket</Name><Prefix>blobs/</Prefix><KeyCount>${stored.length}</KeyCount><MaxKeys>1000</MaxKeys>` +
        `${encode ? '<EncodingType>url</EncodingType>' : ''}<IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s3 = new S3Client({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
});

afterAll(async () => {
  s3?.destroy();
  await new Promise((resolve) => server?.close(resolve));
});

test('keys holding a carriage return, a control character, a space, a plus, a percent or non-ASCII are listed as they are', async () => {
  const listed: string[] = [];
  for await (const page of new LtBucket(s3, 'bucket', 'blobs').list()) listed.push(...page.map((blob) => blob.key));
  expect(listed).toEqual(stored);
  expect(asked).toEqual(['url']);
});
