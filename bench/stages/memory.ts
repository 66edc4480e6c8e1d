/**
 * Peak memory of large transfers, each in a fresh child process (bench/stages/memory-child.ts):
 * a 64 MiB multipart put (the caller's buffer is itself 64 MiB; the figure of interest is what
 * the put adds on top of it) and a 64 MiB streamed read, whose growth must be bounded by the part
 * size, not the object size. `maxRSS` from process.resourceUsage(); "growth" is the peak less the
 * RSS after the imports and clients (and, for the put, less the body).
 *
 * Hook: an upload session (streamed upload in parts) reports here as `session` when the store
 * offers one; until then it is absent.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { configToEnv, type TierlogConfig } from '../../lib/index.js';
import { MiB, round } from '../common.js';

const run = promisify(execFile);

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
  readonly session?: RssFigures;
}

export async function memoryStage(options: { config: TierlogConfig; bytes?: number }): Promise<MemoryResult> {
  const bytes = options.bytes ?? 64 * MiB;
  const env = { ...process.env, ...configToEnv(options.config) };
  const child = async (mode: 'put' | 'read'): Promise<RssFigures> => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'bench/stages/memory-child.ts', mode, 'memory/large', String(bytes)],
      {
        env,
        maxBuffer: 1 << 20,
      },
    );
    const r = JSON.parse(stdout.slice(stdout.lastIndexOf('{'))) as { baselineKiB: number; bodyKiB: number; peakKiB: number };
    return {
      baselineMiB: round(r.baselineKiB / 1024, 1),
      peakMiB: round(r.peakKiB / 1024, 1),
      growthMiB: round((r.peakKiB - r.baselineKiB - r.bodyKiB) / 1024, 1),
    };
  };
  const put = await child('put');
  const streamedRead = await child('read');
  return { bytes, partSizeMiB: 8, put, streamedRead };
}
