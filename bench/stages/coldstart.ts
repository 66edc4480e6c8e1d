/**
 * Cold start and bundle size: each handler (functions/objects.ts, functions/sweeper.ts) bundled
 * with esbuild as infra/function.ts bundles it (ESM, minified, SDK and Powertools inside), next
 * to a bare handler that only creates the SDK clients and answers with one GetItem
 * (bench/coldstart/bare.ts). Each run is a fresh `node` process that imports the bundle and
 * answers its first request against the local stack (objects: GET of an absent key; sweeper: a
 * sweep of empty tables with the event the construct's every-minute schedule sends,
 * `{"housekeeping": false}`: one lease-index query per shard); the figure is `performance.now()` at the answer, i.e. ms
 * since the process started (Node's own start included, alike for all). Runs are interleaved;
 * medians are reported, each ratio with its 95% interval by a paired bootstrap of the runs (run i's
 * handler against run i's bare one): two runs of the same code gave 1.158 and 1.224 against the
 * bound of 1.20, and the interval says when a run cannot tell. The processes run this process's
 * node unless the run names another (`--coldstart-node`: the construct deploys nodejs24.x, and a
 * bundle's import costs what that Node's parser and source-map support cost); the result names it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { BUNDLE_BANNER, BUNDLE_TARGET } from '../../infra/bundling.js';
import { configToEnv, type TierlogConfig } from '../../lib/index.js';
import { pairedRatioInterval, percentile, round } from '../common.js';

const run = promisify(execFile);
export const BUNDLES = ['bare', 'objects', 'sweeper'] as const;
export type BundleName = (typeof BUNDLES)[number];

const ENTRY: Record<BundleName, string> = {
  bare: 'bench/coldstart/bare.ts',
  objects: 'functions/objects.ts',
  sweeper: 'functions/sweeper.ts',
};

const EVENT: Record<BundleName, unknown> = {
  bare: {},
  objects: { rawPath: '/objects/cold%2Fabsent', requestContext: { http: { method: 'GET' } }, headers: {} },
  sweeper: { housekeeping: false },
};

/**
 * Whether a bundle's first answer is the one its event asks for: a 404 for the absent key (bare
 * and objects), a sweep report without errors (sweeper). A handler that failed (a 500, a sweep
 * that met errors) answers too, often sooner: its time is not a cold start of the handler.
 */
export function expectedAnswer(name: BundleName, out: unknown): boolean {
  const answer = out as { statusCode?: unknown; errors?: unknown } | null | undefined;
  if (name === 'sweeper') return typeof answer?.errors === 'number' && answer.errors === 0;
  return answer?.statusCode === 404;
}

export interface BundleFigures {
  readonly bytes: number;
  readonly gzipBytes: number;
  /** Median ms from process start to the first answer. */
  readonly firstAnswerMs: number;
  readonly samples: number[];
  /** firstAnswerMs / the bare handler's. */
  readonly ratioToBare: number;
  /** Its 95% interval (paired bootstrap; absent for the bare handler, and in results before 2026-12-03). */
  readonly ratioInterval?: [number, number];
}

export type ColdStartResult = Record<BundleName, BundleFigures> & {
  readonly runs: number;
  /** The version of the node the processes ran (absent in results before 2026-12-06: the bench's own, the run's `node`). */
  readonly node?: string;
};

export async function coldStartStage(options: { config: TierlogConfig; runs: number; node?: string }): Promise<ColdStartResult> {
  const node = options.node ?? process.execPath;
  const version = (await run(node, ['--version'])).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'tierlog-coldstart-'));
  try {
    for (const name of BUNDLES) {
      await build({
        entryPoints: [ENTRY[name]],
        outfile: join(dir, name, 'index.mjs'),
        bundle: true,
        platform: 'node',
        // As scripts/build.mjs and the construct's NodejsFunction bundle the handlers (infra/bundling.ts).
        target: BUNDLE_TARGET,
        format: 'esm',
        mainFields: ['module', 'main'],
        minify: true,
        keepNames: true,
        sourcemap: true,
        sourcesContent: false,
        banner: { js: BUNDLE_BANNER },
        logLevel: 'silent',
      });
    }
    const env = {
      ...process.env,
      ...configToEnv(options.config),
      AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // The construct's functions run with it (infra/function.ts): the bundle's source map is read at import.
      NODE_OPTIONS: '--enable-source-maps',
    };
    const samples: Record<BundleName, number[]> = { bare: [], objects: [], sweeper: [] };
    for (let i = 0; i < options.runs; i++) {
      const order = i % 2 === 0 ? BUNDLES : [...BUNDLES].reverse();
      for (const name of order) samples[name].push(await firstAnswer(node, name, join(dir, name), EVENT[name], env));
    }
    const median = (values: readonly number[]) => percentile(values, 50);
    const bare = median(samples.bare);
    const figures = (name: BundleName): BundleFigures => {
      const file = join(dir, name, 'index.mjs');
      const answer = median(samples[name]);
      return {
        bytes: statSync(file).size,
        gzipBytes: gzipSync(readFileSync(file)).length,
        firstAnswerMs: round(answer, 1),
        samples: samples[name].map((v) => round(v, 1)),
        ratioToBare: round(answer / bare, 3),
        ...(name === 'bare'
          ? {}
          : { ratioInterval: pairedRatioInterval(samples[name], samples.bare, median).map((x) => round(x, 3)) as [number, number] }),
      };
    };
    return { runs: options.runs, node: version, bare: figures('bare'), objects: figures('objects'), sweeper: figures('sweeper') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function firstAnswer(node: string, name: BundleName, cwd: string, event: unknown, env: NodeJS.ProcessEnv): Promise<number> {
  const script = `
    const { performance } = await import('node:perf_hooks');
    const m = await import('./index.mjs');
    const context = { functionName: 'cold', functionVersion: '1', invokedFunctionArn: 'arn:aws:lambda:us-east-1:0:function:cold', memoryLimitInMB: '1024', awsRequestId: 'r', getRemainingTimeInMillis: () => 60000 };
    const out = await m.handler(${JSON.stringify(event)}, context);
    process.stdout.write(JSON.stringify({ ms: performance.now(), out }));
  `;
  const { stdout } = await run(node, ['--input-type=module', '-e', script], { cwd, env, maxBuffer: 1 << 20 });
  const parsed = JSON.parse(stdout.slice(stdout.lastIndexOf('{"ms"'))) as { ms: number; out: unknown };
  if (!expectedAnswer(name, parsed.out)) {
    throw new Error(`cold start of ${name}: its first answer is not the expected one: ${JSON.stringify(parsed.out).slice(0, 500)}`);
  }
  return parsed.ms;
}
