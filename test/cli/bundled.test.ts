/**
 * `runCli` of `tierlog/operations` bundled into a user's own function, as CDK's `NodejsFunction`
 * bundles by default (esbuild, CommonJS): there `import.meta` is empty, and the module must still
 * load and run the CLI (an operator function running `audit` on a schedule), its version unknown.
 * (The optional peer DuckDB is left out, as such a function leaves it.)
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, expect, test } from 'vitest';

const run = promisify(execFile);
const OPERATIONS = fileURLToPath(new URL('../../lib/operations.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tierlog-bundled-cli-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('runCli bundled as CommonJS loads, and runs a command', async () => {
  const entry = join(dir, 'entry.ts');
  writeFileSync(
    entry,
    `import { runCli } from ${JSON.stringify(OPERATIONS)};
export async function handler(): Promise<{ code: number; out: string }> {
  let out = '';
  const sink = { write: (chunk: string) => ((out += chunk), true) };
  const code = await runCli(['--version'], { io: { stdout: sink, stderr: sink }, env: {} });
  return { code, out };
}
`,
  );
  const outfile = join(dir, 'index.cjs');
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'silent',
    external: ['@duckdb/node-api'], // an optional peer, not installed in such a function
  });
  const { stdout } = await run(
    process.execPath,
    ['-e', `require(${JSON.stringify(outfile)}).handler().then((r) => console.log(JSON.stringify(r)))`],
    {
      env: { ...process.env, AWS_REGION: 'us-east-1' },
    },
  );
  expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ code: 0, out: 'unknown\n' });
}, 60_000);
