/**
 * Peak memory of large transfers, each in a fresh child process (bench/stages/memory-child.ts):
 * a 64 MiB multipart put (the caller's buffer is itself 64 MiB; the figure of interest is what
 * the put adds on top of it), a 64 MiB streamed read, upload sessions of 64 MiB and of four
 * times as much (writer and client in one process, each part written into the client's one part
 * buffer as it is sent) and a streamed
 * read of the larger object. A read's and a session's growth must be bounded by the part size,
 * not the object size: the larger object shows it (at most one part more). The peak is `maxRSS`
 * from process.resourceUsage(); "growth" is the peak less the RSS after the imports and clients
 * ({@link rssKiB}: the RSS then, not the imports' peak) and, for the put, less the body.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { promisify } from 'node:util';
import { configToEnv, createS3Client, type TierlogConfig } from '../../lib/index.js';
import { MiB, round } from '../common.js';

const run = promisify(execFile);

/**
 * The put's body: `bytes` random bytes, filled in place. Its RSS is what the child subtracts as
 * "the body" (`bodyKiB`), so filling it must add nothing else to the peak: a fresh 64 KiB buffer
 * per chunk (the stage until 2026-12-05) left about 28 MiB of them for V8 to collect, counted as
 * the body, and the put's growth beyond it was that much smaller than measured.
 */
export function putBody(bytes: number): Uint8Array {
  return randomFillSync(new Uint8Array(bytes));
}

/**
 * The RSS an operation's growth is taken from, KiB: the pages the process holds now
 * (`memoryUsage().rss`). Not its peak so far (`maxRSS`, the stage's baseline until 2026-12-05):
 * after the imports that peak is theirs (tsx transpiling, the SDK loading), 4 to 9 MiB above the
 * RSS the operation starts from once their garbage is returned, and every growth measured from it
 * was that much smaller than the operation's (the put's body too: its growth beyond the body came
 * out the same).
 */
export function rssKiB(): number {
  return Math.round(process.memoryUsage().rss / 1024);
}

/**
 * The process's peak RSS so far, KiB (`maxRSS`): an operation's peak once it went past the imports'
 * (its growth is then exact; below it, the growth read is at most that much too large, never too small).
 */
export function peakRssKiB(): number {
  return process.resourceUsage().maxRSS;
}

export interface RssFigures {
  readonly baselineMiB: number;
  readonly peakMiB: number;
  /** Peak less baseline (less the body, for the put). */
  readonly growthMiB: number;
}

export interface MemoryResult {
  readonly bytes: number;
  readonly partSizeMiB: number;
  readonly put: RssFigures;
  readonly streamedRead: RssFigures;
  /**
   * The SDK's own streamed read of an S3 object of `bytes` (GetObject, no tierlog): what Node.js
   * and the SDK cost such a read (sockets' chunks wait for V8's collector, which runs on external
   * memory's growth, not on a part's), the baseline {@link streamedRead} is judged against.
   * Absent in runs before 2026-12-05.
   */
  readonly sdkStreamedRead?: RssFigures;
  /** The larger object: {@link largeBytes}. */
  readonly largeBytes: number;
  /** An upload session of `bytes`, writer and client in one process. */
  readonly smallSession: RssFigures;
  /** An upload session of `largeBytes`, writer and client in one process. */
  readonly session: RssFigures;
  /** A streamed read of the object the session wrote. */
  readonly largeStreamedRead: RssFigures;
}

export async function memoryStage(options: { config: TierlogConfig; bytes?: number }): Promise<MemoryResult> {
  const bytes = options.bytes ?? 64 * MiB;
  const env = { ...process.env, ...configToEnv(options.config) };
  const largeBytes = 4 * bytes;
  const child = async (mode: 'put' | 'read' | 'session' | 'sdk-read', key: string, size: number): Promise<RssFigures> => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/stages/memory-child.ts', mode, key, String(size)], {
      env,
      maxBuffer: 1 << 20,
    });
    const r = JSON.parse(stdout.slice(stdout.lastIndexOf('{'))) as { baselineKiB: number; bodyKiB: number; peakKiB: number };
    return {
      baselineMiB: round(r.baselineKiB / 1024, 1),
      peakMiB: round(r.peakKiB / 1024, 1),
      growthMiB: round((r.peakKiB - r.baselineKiB - r.bodyKiB) / 1024, 1),
    };
  };
  const put = await child('put', 'memory/large', bytes);
  const streamedRead = await child('read', 'memory/large', bytes);
  const sdkStreamedRead = await withRawObject(options.config, bytes, (key) => child('sdk-read', key, bytes));
  const smallSession = await child('session', 'memory/session', bytes);
  const session = await child('session', 'memory/larger', largeBytes);
  const largeStreamedRead = await child('read', 'memory/larger', largeBytes);
  return { bytes, partSizeMiB: 8, put, streamedRead, sdkStreamedRead, largeBytes, smallSession, session, largeStreamedRead };
}

/**
 * Runs `read` on an S3 object of `bytes` random bytes written for it (the SDK's multipart upload,
 * under a key of the bench's own outside the store's `<prefix>/`), deleted after: no blob the store does not know
 * is left in its bucket.
 */
async function withRawObject<T>(config: TierlogConfig, bytes: number, read: (key: string) => Promise<T>): Promise<T> {
  const s3 = createS3Client();
  const key = `${config.prefix}-bench-memory-raw-${process.pid}`; // outside `<prefix>/`, the store's alone
  try {
    await new Upload({ client: s3, params: { Bucket: config.bucket, Key: key, Body: putBody(bytes) } }).done();
    return await read(key);
  } finally {
    await s3.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: key })).finally(() => s3.destroy());
  }
}
