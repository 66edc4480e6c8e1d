/**
 * Upload sessions and ranged reads against the same work done straight on S3, side by side in
 * one run (interleaved, so both see the same machine state):
 *
 *  - a 64 MiB upload through a session (create, presigned part URLs, parts PUT by a plain
 *    `node:http` client with a keep-alive agent, complete with its fenced commit) vs the same
 *    multipart upload with the SDK (CreateMultipartUpload, UploadPart, CompleteMultipartUpload,
 *    over node:http too), 4 parts in flight each. The parts' client is node:http, the SDK's own
 *    transport, so the ratio measures the session and not the HTTP client: undici's `fetch`
 *    PUTs 8 MiB bodies to the local S3 server about 3 times slower than either on this machine;
 *  - a 1 MiB ranged read of a 64 MiB object through `store.get(key, { range })` vs the same S3
 *    ranged GetObject.
 *
 * Ratios are of medians, each with its 95% interval by a paired bootstrap of the runs (a run is one
 * upload each way, in alternating order); the target for the upload is <= 1.10. A 64 MiB upload on
 * this machine varies by a third from one run to the next, so a ratio of a few runs alone could
 * not tell 0.84 from 1.24 (two runs of the same code, 2026-12-02): the interval says when it cannot.
 */
import { Agent as HttpAgent, request } from 'node:http';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { DynamoChangeLog, TieredStore } from '../../lib/index.js';
import { MiB, alternated, dynamodbClient, freshConfig, pairedRatioInterval, percentile, randomBody, round, s3Client } from '../common.js';

export interface SessionsResult {
  readonly uploadMiB: number;
  readonly partSizeMiB: number;
  readonly runs: number;
  readonly sessionUploadP50Ms: number;
  readonly sdkMultipartP50Ms: number;
  /** session / SDK. */
  readonly uploadRatio: number;
  /** Its 95% interval (paired bootstrap; absent in results before 2026-12-02-7). */
  readonly uploadRatioInterval?: [number, number];
  readonly rangeRuns: number;
  readonly rangedGetP50Ms: number;
  readonly s3RangedGetP50Ms: number;
  /** store / S3. */
  readonly rangeRatio: number;
  /** Its 95% interval (paired bootstrap; absent in results before 2026-12-02-7). */
  readonly rangeRatioInterval?: [number, number];
  /**
   * Cleanups of the timed session uploads that failed (the store's `onCleanupError`): a complete
   * answers all the same, often sooner, so such an upload's time is of work left undone (absent in
   * results before 2026-12-05).
   */
  readonly cleanupFailures?: number;
}

export async function sessionsStage(options: { runs: number; rangeRuns: number; sizeMiB?: number }): Promise<SessionsResult> {
  const config = await freshConfig('sessions');
  const dynamodb = dynamodbClient();
  const s3 = s3Client();
  const log = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
  // A cleanup that fails (the entry's removal, a session's end) is reported here and nowhere else:
  // the complete answers all the same. Counted over the timed uploads.
  let cleanupFailures = 0;
  let counting = false;
  const store = new TieredStore({
    config,
    changeLog: log,
    dynamodb,
    s3,
    onCleanupError: () => {
      if (counting) cleanupFailures++;
    },
  });
  const size = (options.sizeMiB ?? 64) * MiB;
  const partSize = 8 * MiB;
  const body = randomBody(size);
  const count = Math.ceil(size / partSize);
  const slice = (i: number) => body.subarray(i * partSize, Math.min(size, (i + 1) * partSize));
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 8 });
  const putPart = (url: string, bytes: Uint8Array) =>
    new Promise<string>((resolve, reject) => {
      const req = request(url, { method: 'PUT', agent, headers: { 'content-length': bytes.byteLength } }, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve(String(res.headers.etag)) : reject(new Error(`part PUT: ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end(bytes);
    });
  const inFlight = async (task: (i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < count) await task(next++);
      }),
    );
  };

  const viaSession = async (key: string) => {
    const created = await store.createUpload(key, { size, partSize });
    const parts: Array<{ partNumber: number; etag: string }> = [];
    await inFlight(async (i) => {
      const url = await store.uploadPartUrl(created.uploadId, i + 1);
      parts[i] = { partNumber: i + 1, etag: await putPart(url, slice(i)) };
    });
    await store.completeUpload(created.uploadId, parts);
  };
  const viaSdk = async (key: string) => {
    const Key = `${config.prefix}/direct/${key}`;
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: config.bucket, Key }));
    const parts: Array<{ PartNumber: number; ETag: string }> = [];
    await inFlight(async (i) => {
      const out = await s3.send(new UploadPartCommand({ Bucket: config.bucket, Key, UploadId, PartNumber: i + 1, Body: slice(i) }));
      parts[i] = { PartNumber: i + 1, ETag: out.ETag! };
    });
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: config.bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
  };

  try {
    await viaSession('warm');
    await viaSdk('warm');
    // Alternate which goes first, so neither always runs on a warmer machine.
    counting = true;
    const { a: session, b: sdk } = await alternated(
      options.runs,
      0,
      (i) => viaSession(`s-${i}`),
      (i) => viaSdk(`d-${i}`),
    );
    counting = false;

    // The same for the ranged reads, after a pair not kept (the run's first ranged read through
    // the store and straight from S3): one side always first would run the other on what it left.
    const directKey = `${config.prefix}/direct/d-0`;
    const rangeOf = (i: number) => {
      const start = ((i * 7) % (size / MiB - 1)) * MiB;
      return { start, end: start + MiB - 1 };
    };
    const { a: ranged, b: direct } = await alternated(
      options.rangeRuns,
      1,
      async (i) => (await store.get('s-0', { range: rangeOf(i) }))!.body,
      async (i) => {
        const range = rangeOf(i);
        const out = await s3.send(
          new GetObjectCommand({ Bucket: config.bucket, Key: directKey, Range: `bytes=${range.start}-${range.end}` }),
        );
        return out.Body!.transformToByteArray();
      },
    );
    const median = (v: readonly number[]) => percentile(v, 50);
    const p50 = (v: number[]) => round(median(v));
    const interval = (a: number[], b: number[]) => pairedRatioInterval(a, b, median).map((x) => round(x, 3)) as [number, number];
    return {
      uploadMiB: size / MiB,
      partSizeMiB: partSize / MiB,
      runs: options.runs,
      sessionUploadP50Ms: p50(session),
      sdkMultipartP50Ms: p50(sdk),
      uploadRatio: round(percentile(session, 50) / percentile(sdk, 50), 3),
      uploadRatioInterval: interval(session, sdk),
      rangeRuns: options.rangeRuns,
      rangedGetP50Ms: p50(ranged),
      s3RangedGetP50Ms: p50(direct),
      rangeRatio: round(percentile(ranged, 50) / percentile(direct, 50), 3),
      rangeRatioInterval: interval(ranged, direct),
      cleanupFailures,
    };
  } finally {
    log.close();
    agent.destroy();
  }
}
