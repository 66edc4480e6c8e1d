/**
 * `npm start -- --keep`: the drill leaves the local stack up and prints the environment for the CLI
 * in another shell. Those lines are run by a shell as they are: what they set must be what the
 * drill ran with, and the AWS_PROFILE whose credentials the SDK would take over the stack's is
 * taken out, as `npm run dev` prints it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a POSIX shell that runs `script` (its lines as printed) then has in its environment. */
function shellEnvAfter(script: string, before: Record<string, string>): Record<string, string> {
  const out = spawnSync('sh', ['-c', `${script}\nnode -e 'process.stdout.write(JSON.stringify(process.env))'`], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...before },
  });
  return JSON.parse(out.stdout) as Record<string, string>;
}

it('--keep prints lines a shell runs as they are: the JSON of TIERLOG_HV_ATTRIBUTES intact, AWS_PROFILE unset', async () => {
  const hvAttributes = '{"key":"pk","version":"ver"}';
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bin/drill.ts', '--keep', '--writers', '1', '--operations', '4', '--keys', '2', '--max-body', '2048'],
    { cwd: ROOT, env: { ...process.env, TIERLOG_HV_ATTRIBUTES: hvAttributes }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (output.includes('Ctrl-C stops it')) resolve();
      };
      child.stdout!.on('data', check);
      void exited.then(() => reject(new Error(`the drill exited before it kept the stack up:\n${output}`)));
    });
    expect(output).toContain('OK: every invariant holds');
    const lines = output.split('\n').filter((line) => /^\s*(export|unset) \w+/.test(line));
    const env = shellEnvAfter(lines.join('\n'), { AWS_PROFILE: 'someone-else' });
    expect(env['TIERLOG_HV_ATTRIBUTES']).toBe(hvAttributes);
    expect(env['AWS_ENDPOINT_URL_DYNAMODB']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(env['TIERLOG_OBJECTS_TABLE']).toBe('tierlog-objects');
    // The windows the drill's sweeper ran with: the CLI's status, inspect and sweep judge its entries by them.
    expect(env['TIERLOG_MAX_UPLOAD_MS']).toBe('4000');
    expect(env['TIERLOG_CLAIM_MS']).toBe('10000');
    expect(env['TIERLOG_SKEW_MARGIN_MS']).toBe('500');
    expect(env['TIERLOG_UNSAFE_SHORT_WINDOWS']).toBe('1');
    expect(env['AWS_PROFILE']).toBeUndefined();
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
}, 180_000);

it('--json --keep: stdout is the JSON report alone, the lines for the other shell on stderr', async () => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bin/drill.ts', '--json', '--keep', '--writers', '1', '--operations', '4', '--keys', '2', '--max-body', '2048'],
    { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        // The report's last field written (stdout and stderr arrive in no fixed order).
        if (`${stdout}${stderr}`.includes('Ctrl-C stops it') && /"ok": (true|false)\n}/.test(stdout)) resolve();
      };
      child.stdout!.on('data', check);
      child.stderr!.on('data', check);
      void exited.then(() => reject(new Error(`the drill exited before it kept the stack up:\n${stdout}\n${stderr}`)));
    });
    const report = JSON.parse(stdout) as { ok: boolean; seed: number };
    expect(report).toMatchObject({ ok: true, seed: 42 });
    expect(stderr).toContain('Ctrl-C stops it');
    expect(stderr).toMatch(/export AWS_ENDPOINT_URL_DYNAMODB=/);
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
}, 180_000);
