/**
 * `npm run dev`'s own surface: its options refused before anything starts (a usage error, exit 2,
 * one line and no stack trace), and the environment it prints as `export` lines that a shell runs
 * to the very values, whatever they hold (the JSON of `TIERLOG_HV_ATTRIBUTES`, quotes, spaces).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { shellExports } from '../../lib/dev/service.js';
import { startDev } from './dev-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `bin/dev.ts` with `args` until it exits (a usage error exits before the stack starts). */
function runDev(args: readonly string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/dev.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.resume();
    // SIGTERM: it stops as on Ctrl-C, its local stack with it (a SIGKILL would leave that running).
    const timer = setTimeout(() => child.kill('SIGTERM'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, err });
    });
  });
}

describe('npm run dev: options', () => {
  it.each([
    [['--port', 'abc'], '--port'],
    [['--port', ''], '--port'],
    [['--port', '0x50'], '--port'],
    [['--port', '70000'], '--port'],
    [['--sweep-interval', '10'], '--sweep-interval'],
    [['--sweep-interval', '4w'], '--sweep-interval'],
    // Rounds to 0 ms, which would mean "no timer", silently: only 0 says that.
    [['--sweep-interval', '0.4ms'], '--sweep-interval'],
    [['--sweep-interval', '0s'], '--sweep-interval'],
  ])('refuses %j with a usage error (exit 2), before anything starts', async (args, option) => {
    const { code, err } = await runDev(args);
    expect(code).toBe(2);
    expect(err).toContain(option);
    expect(err).not.toMatch(/^\s+at /m); // a message, not a stack trace
  });
});

describe('npm run dev: the environment it prints', () => {
  const env = {
    TIERLOG_HV_ATTRIBUTES: '{"blob":"ptr","size":"sz"}',
    TIERLOG_PREFIX: 'media',
    AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4567',
    QUOTED: "it's $HOME `id` a b",
    EMPTY: '',
  };

  it.each([['sh'], ['bash', '--norc', '--noprofile']])('runs in %s to the values it holds', (shell, ...options) => {
    const script = `${shellExports(env).join('\n')}\nnode -e 'process.stdout.write(JSON.stringify(process.env))'`;
    const run = spawnSync(shell, [...options, '-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    if (run.error !== undefined && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return; // no such shell here
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject(env);
  });
});

describe('npm run dev: Ctrl-C twice', () => {
  // The first stops the service in order (exit 0 once stopped); a second while it stops quits at
  // once, as the CLI's does (130): a stop that hangs (a server that does not end) is not waited for.
  it('quits at once (exit 130), its local stack with it', async () => {
    const dev = await startDev(['--quiet']);
    const exited = new Promise<number | null>((resolve) => dev.child.once('exit', (code) => resolve(code)));
    // The second once the first is being handled: two signals sent together may arrive as one.
    const stopping = new Promise<void>((resolve) => {
      let out = '';
      dev.child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('stopping')) resolve();
      });
    });
    dev.child.kill('SIGINT');
    await stopping;
    dev.child.kill('SIGINT');
    expect(await exited).toBe(130);
    // The servers it started end with it: each endpoint stops answering.
    for (const endpoint of [dev.env.AWS_ENDPOINT_URL_DYNAMODB!, dev.env.AWS_ENDPOINT_URL_S3!]) {
      let answering = true;
      for (let i = 0; i < 300 && answering; i++) {
        answering = await fetch(endpoint, { signal: AbortSignal.timeout(1_000) }).then(
          () => true,
          () => false,
        );
        if (answering) await new Promise((r) => setTimeout(r, 100));
      }
      expect(answering, `${endpoint} still answers`).toBe(false);
    }
  }, 180_000);
});

describe('npm run dev: a server of its local stack dies', () => {
  // Before, the service went on, answering every request 500 (one line on stderr said why): an
  // integrator's process manager saw it up. It stops and exits 1, saying which server went.
  it('stops and exits 1, naming the server that went', async () => {
    const dev = await startDev(['--quiet']);
    let out = '';
    dev.child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => dev.child.once('exit', (code) => resolve(code)));
    // DynamoDB Local's JVM, a descendant of the dev process.
    const table = spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).stdout.split('\n');
    const procs = table.map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)).filter((m) => m !== null);
    const descendants = new Set([dev.child.pid!]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [, pid, ppid] of procs) {
        if (descendants.has(Number(ppid)) && !descendants.has(Number(pid))) {
          descendants.add(Number(pid));
          grew = true;
        }
      }
    }
    const jvm = procs.find(
      ([, pid, , args]) => descendants.has(Number(pid)) && /^\S*java\s/.test(args!) && args!.includes('DynamoDBLocal'),
    );
    expect(jvm, 'the JVM of DynamoDB Local').toBeDefined();
    try {
      process.kill(Number(jvm![1]), 'SIGKILL');
      const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 60_000))]);
      expect(code).toBe(1);
      expect(out).toMatch(/DynamoDB Local exited while in use/);
      expect(out).toMatch(/the local stack is down: stopping/);
    } finally {
      await dev.stop();
    }
  }, 180_000);
});

describe('npm run dev: a server of its local stack dies while the service starts', () => {
  // Told while the service was still starting (its tables made, its port not yet listening), it had
  // nothing to stop yet: the service then started and ran on, every request failing, for good.
  it('stops and exits 1 once started, without printing the banner', async () => {
    const temp = mkdtempSync(join(tmpdir(), 'tierlog-dev-test-'));
    // Loaded into every Node.js process of the run: in the dev service's, its objects API's listen
    // first kills the S3 server (a child of this process) and waits for its exit to be told.
    writeFileSync(
      join(temp, 's3-dies-at-listen.cjs'),
      `if (!process.argv.some((a) => a.includes('s3-server-process'))) {
        const http = require('node:http');
        const { execFileSync } = require('node:child_process');
        const listen = http.Server.prototype.listen;
        http.Server.prototype.listen = function (...args) {
          const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).split('\\n');
          const s3 = rows.map((r) => /^\\s*(\\d+)\\s+(\\d+)\\s+(.*)$/.exec(r)).find((m) => m && Number(m[2]) === process.pid && m[3].includes('s3-server-process'));
          if (s3) process.kill(Number(s3[1]), 'SIGKILL');
          setTimeout(() => listen.apply(this, args), 1000);
          return this;
        };
      }\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/dev.ts', '--port', '0', '--sweep-interval', '0'], {
      cwd: ROOT,
      env: { ...process.env, NODE_OPTIONS: `--require=${join(temp, 's3-dies-at-listen.cjs')}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 60_000))]);
      expect(out).toMatch(/S3 server exited while in use/);
      expect(code, out).toBe(1);
      expect(out).not.toMatch(/Ctrl-C stops everything/);
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await exited;
      }
      rmSync(temp, { recursive: true, force: true });
    }
  }, 180_000);
});
