#!/usr/bin/env node
// `npm run build` (and `prepack`): a complete dist/.
//   dist/lib, dist/infra, dist/bin   tsc output: ESM, declarations, source maps with their sources
//                                    (tsconfig.build.json: the package's entries, its binary and the
//                                    handlers' sources, and the modules they import; nothing else, so
//                                    not the drill of `npm start`, the tests' fault helpers or the
//                                    repository's doc generators, which the repository alone runs)
//   dist/lib/local/*.mjs             plain-JS files the library starts as child processes
//   dist/handlers/<name>/index.mjs   the Lambda handlers, bundled (the construct deploys these)
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
const require = createRequire(import.meta.url);

rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

for (const file of readdirSync(join(root, 'lib/local'))) {
  if (file.endsWith('.mjs')) copyFileSync(join(root, 'lib/local', file), join(dist, 'lib/local', file));
}
chmodSync(join(dist, 'bin/cli.js'), 0o755);

const { build } = await import('esbuild');
const { HANDLERS, BUNDLE_BANNER, BUNDLE_TARGET } = await import(join(dist, 'infra/bundling.js'));
for (const name of HANDLERS) {
  const outfile = join(dist, 'handlers', name, 'index.mjs');
  await build({
    entryPoints: [join(root, 'functions', `${name}.ts`)],
    outfile,
    bundle: true,
    platform: 'node',
    target: BUNDLE_TARGET,
    format: 'esm',
    mainFields: ['module', 'main'],
    banner: { js: BUNDLE_BANNER },
    minify: true,
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    logLevel: 'warning',
  });
  console.error(`dist/handlers/${name}/index.mjs ${(statSync(outfile).size / 1024).toFixed(1)} KiB`);
}
