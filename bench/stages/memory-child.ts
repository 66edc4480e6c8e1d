/**
 * Child process of the memory stage (bench/stages/memory.ts): one operation on a large object
 * through TieredStore against the local stack, then prints its RSS figures as JSON.
 *
 *   put      a multipart put of a buffer (lib-storage, 8 MiB parts)
 *   read     a streamed read (getStream) of the object at `key`, consumed and discarded
 *   session  an upload session, both sides in this process: the writer creates it, signs the
 *            part URLs and completes it; the client fills its one 8 MiB part buffer with each
 *            part when it sends it and PUTs it to its URL (node:http), so no side ever holds
 *            the object, as a client reading a file part by part into its buffer
 *
 * Arguments: mode, key, bytes. Environment: the local stack's and the config's (configToEnv).
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NoopChangeLog, DynamoChangeLog, TieredStore, loadConfig } from '../../lib/index.js';
import { randomFillSync } from 'node:crypto';
import { request } from 'node:http';
import { peakRssKiB, putBody, rssKiB } from './memory.js';

/** The client's PUT of one part to its presigned URL (node:http: less of its own garbage than fetch); its ETag. */
function putPart(url: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-length': body.byteLength } }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve(String(res.headers.etag ?? '')) : reject(new Error(`part: HTTP ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const [mode, key, size] = process.argv.slice(2) as [string, string, string];
const bytes = Number(size);
const config = loadConfig();
const log = new DynamoChangeLog({ config, renewInBackground: false });
const store = new TieredStore({ config, changeLog: mode === 'put' ? log : new NoopChangeLog() });
// The RSS now, not the peak so far: that is the imports' (see rssKiB).
const baselineKiB = rssKiB();
let bodyKiB = 0;
if (mode === 'session') {
  const created = await store.createUpload(key, { size: bytes });
  const count = created.partCount ?? 1;
  const urls = await store.uploadPartUrls(
    created.uploadId,
    Array.from({ length: count }, (_, i) => i + 1),
  );
  const parts: Array<{ partNumber: number; etag: string }> = [];
  // One buffer for every part, refilled for each (as a client reading a file part by part into
  // its buffer): a fresh 8 MiB buffer a part would leave the parts sent waiting for V8's
  // collector, and their number would grow with the object's.
  const buffer = Buffer.allocUnsafe(created.partSize);
  for (const [i, url] of urls.entries()) {
    const part = randomFillSync(buffer.subarray(0, Math.min(created.partSize, bytes - i * created.partSize)));
    parts.push({ partNumber: i + 1, etag: await putPart(url, part) });
  }
  await store.completeUpload(created.uploadId, parts);
} else if (mode === 'put') {
  const body = putBody(bytes);
  bodyKiB = rssKiB() - baselineKiB;
  await store.put(key, body);
} else if (mode === 'sdk-read') {
  // The client a user would make (endpoint from the environment, as the SDK reads it), not tierlog's.
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
  const s3 = new S3Client({ ...(endpoint !== undefined ? { endpoint, forcePathStyle: true } : {}) });
  const got = await s3.send(new GetObjectCommand({ Bucket: config.bucket, Key: key }));
  let seen = 0;
  for await (const chunk of got.Body as AsyncIterable<Uint8Array>) seen += chunk.byteLength;
  if (seen !== bytes) throw new Error(`read ${seen} bytes, expected ${bytes}`);
  s3.destroy();
} else {
  const got = await store.getStream(key);
  if (got === undefined) throw new Error(`no object ${key}`);
  let seen = 0;
  for await (const chunk of got.body) seen += (chunk as Buffer).byteLength;
  if (seen !== bytes) throw new Error(`read ${seen} bytes, expected ${bytes}`);
}
log.close();
process.stdout.write(JSON.stringify({ baselineKiB, bodyKiB, peakKiB: peakRssKiB() }));
process.exit(0);
