/**
 * The embedded local stack: a second stack starts on its own free ports, answers real requests,
 * and leaves nothing running once stopped, or once a start failed, and nothing on disk once the
 * process that started it is gone, however it went.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { presignUrl } from '../../lib/aws/presign.js';
import { javaMajorVersion, localStackEnv, startLocalStack } from '../../lib/local/stack.js';
import { ConfigError, ValidationError } from '../../lib/errors.js';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';

const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** The processes descended from this one (its servers, and java under DynamoDB Local's shell). */
function descendants(): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, , comm]) => comm !== 'ps') // this listing's own process
    .map(([pid, ppid]) => [Number(pid), Number(ppid)] as const);
  const found: number[] = [];
  const parents = [process.pid];
  while (parents.length > 0) {
    const parent = parents.pop()!;
    for (const [pid, ppid] of rows) {
      if (ppid === parent && pid !== parent) {
        found.push(pid);
        parents.push(pid);
      }
    }
  }
  return found;
}

/** The descendants started since `before`, once the ones on their way out have gone (up to 10 s). */
async function leftRunning(before: number[]): Promise<number[]> {
  let left: number[] = [];
  for (let i = 0; i < 100; i++) {
    left = descendants().filter((pid) => !before.includes(pid));
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

/** Runs `body` with `vars` on process.env, then puts them back and removes the directory `temp`. */
async function withEnvIn(temp: string, vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  Object.assign(process.env, vars);
  try {
    await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * A directory holding a fake `java` (put it first on PATH): it passes the version check, then
 * answers ListTables on the port it is given (the last argument) as DynamoDB Local does, writes its
 * pid to `<dir>/pid`, and ignores SIGTERM.
 */
function javaIgnoringSigterm(): string {
  const bin = mkdtempSync(join(tmpdir(), 'tierlog-java-test-'));
  writeFileSync(
    join(bin, 'java'),
    `#!/bin/sh\nif [ "$1" = -version ]; then echo 'openjdk version "17.0.15"' >&2; exit 0; fi\n` +
      `echo $$ > '${join(bin, 'pid')}'\nfor port; do :; done\nexec '${process.execPath}' -e "process.on('SIGTERM', () => {}); require('http').createServer((q, s) => { s.setHeader('content-type', 'application/x-amz-json-1.0'); s.end('{\\"TableNames\\":[]}'); }).listen(Number(process.argv[1]), '127.0.0.1')" "$port"\n`,
  );
  chmodSync(join(bin, 'java'), 0o755);
  return bin;
}

/** Whether process `pid` is alive. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startLocalStack', () => {
  it('starts both servers, serves requests, and stop() ends them (idempotently)', async () => {
    const before = { ...process.env };
    const stack = await startLocalStack({ exportEnv: false });
    // exportEnv: false leaves this process's environment alone, every variable of it.
    expect(process.env).toEqual(before);
    const dynamodb = new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    const s3 = new S3Client({ endpoint: stack.s3Endpoint, region: 'us-east-1', credentials, forcePathStyle: true, maxAttempts: 1 });
    try {
      expect(stack.dynamodbEndpoint).not.toBe(process.env.AWS_ENDPOINT_URL_DYNAMODB);
      expect(stack.s3Endpoint).not.toBe(process.env.AWS_ENDPOINT_URL_S3);
      // exportEnv: false leaves this process's SDK environment alone.
      expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(before.AWS_ENDPOINT_URL_DYNAMODB);
      expect((await dynamodb.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      await expect(s3.send(new ListBucketsCommand({}))).resolves.toBeDefined();
      expect(stack.env).toMatchObject({
        AWS_ENDPOINT_URL_DYNAMODB: stack.dynamodbEndpoint,
        AWS_ENDPOINT_URL_S3: stack.s3Endpoint,
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
        AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
      });
    } finally {
      await stack.stop();
    }
    await expect(dynamodb.send(new ListTablesCommand({}))).rejects.toBeDefined();
    await expect(s3.send(new ListBucketsCommand({}))).rejects.toBeDefined();
    await expect(stack.stop()).resolves.toBeUndefined();
    dynamodb.destroy();
    s3.destroy();
  });

  it('a second stop() while the first is under way resolves only once both servers are gone and process.env is put back', async () => {
    const names = [...Object.keys(localStackEnv('', '')), 'AWS_PROFILE'];
    const saved = { ...process.env };
    const before = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    const alive = (pid: number | undefined): boolean => {
      try {
        process.kill(pid!, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      const stack = await startLocalStack();
      // Two hooks that each stop the stack they share (an afterAll of each suite).
      const first = stack.stop();
      await stack.stop();
      expect({ dynamodb: alive(stack.pids.dynamodb), s3: alive(stack.pids.s3) }).toEqual({ dynamodb: false, s3: false });
      expect(Object.fromEntries(names.map((name) => [name, process.env[name]]))).toEqual(before);
      await first;
    } finally {
      for (const name of names) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it("stop() takes out the stack's exit hook: a process that starts stacks one after another gathers no listeners", async () => {
    const before = process.listenerCount('exit');
    for (let i = 0; i < 2; i++) {
      const stack = await startLocalStack({ exportEnv: false });
      expect(process.listenerCount('exit')).toBe(before + 1);
      await stack.stop();
      expect(process.listenerCount('exit')).toBe(before);
    }
  });

  it('a server that exits while in use is reported, with its exit and the end of its stderr; stop() reports nothing', async () => {
    const reports: string[] = [];
    const stack = await startLocalStack({ exportEnv: false, onUnexpectedExit: (message) => reports.push(message) });
    try {
      process.kill(stack.pids.s3!, 'SIGKILL');
      for (let i = 0; i < 100 && reports.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(reports).toEqual([expect.stringMatching(/^tierlog local stack: S3 server exited while in use \(signal SIGKILL\)/)]);
    } finally {
      await stack.stop();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(reports, 'the DynamoDB Local that stop() ended is not reported').toHaveLength(1);
  });

  it('an onUnexpectedExit that throws (to fail the test it runs in) is a process warning, not an exception that ends the process', async () => {
    const uncaught: unknown[] = [];
    const warnings: string[] = [];
    const onUncaught = (err: unknown): void => {
      uncaught.push(err);
    };
    const onWarning = (warning: Error): void => {
      warnings.push(warning.message);
    };
    process.prependListener('uncaughtException', onUncaught);
    process.on('warning', onWarning);
    const stack = await startLocalStack({
      exportEnv: false,
      onUnexpectedExit: (message) => {
        throw new Error(`the stack went: ${message}`);
      },
    });
    try {
      process.kill(stack.pids.s3!, 'SIGKILL');
      for (let i = 0; i < 100 && warnings.length + uncaught.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
      expect(warnings).toEqual([expect.stringMatching(/onUnexpectedExit threw: Error: the stack went: .*S3 server exited while in use/)]);
    } finally {
      process.off('uncaughtException', onUncaught);
      process.off('warning', onWarning);
      await stack.stop();
    }
  });

  it('a server that exits once ready, while the other is still starting, fails the start: no stack is handed over with a dead server and no report', async () => {
    const before = descendants();
    const temp = mkdtempSync(join(tmpdir(), 'tierlog-stack-test-'));
    // The S3 server (a Node.js process) loaded with this: it says it is ready, then fails at once,
    // before DynamoDB Local (a JVM, seconds to start) answers.
    writeFileSync(
      join(temp, 'gone-once-ready.cjs'),
      `const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = (chunk, ...rest) => {
        const done = write(chunk, ...rest);
        if (String(chunk).includes('"port"')) { process.stderr.write('gone (test)\\n'); process.exit(5); }
        return done;
      };\n`,
    );
    const reports: string[] = [];
    await withEnvIn(temp, { NODE_OPTIONS: `--require=${join(temp, 'gone-once-ready.cjs')}` }, async () => {
      const started = await startLocalStack({ exportEnv: false, onUnexpectedExit: (message) => reports.push(message) }).then(
        async (stack) => {
          await stack.stop();
          return 'started';
        },
        (err: unknown) => String(err),
      );
      expect(started).toMatch(/S3 server exited with 5 while the stack was starting: gone \(test\)/);
    });
    expect(reports).toEqual([]);
    expect(await leftRunning(before)).toEqual([]);
  });

  it('a server that exits while in use is reported with its exit code and what it last wrote to stderr', async () => {
    const temp = mkdtempSync(join(tmpdir(), 'tierlog-stack-test-'));
    // The S3 server (a Node.js process) loaded with this: on SIGUSR2 it fails as a server does, a message then an exit code.
    writeFileSync(
      join(temp, 'fail.cjs'),
      `process.on('SIGUSR2', () => { process.stderr.write('disk full (test)\\n'); process.exit(3); });\n`,
    );
    const saved = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `--require=${join(temp, 'fail.cjs')}`;
    const reports: string[] = [];
    try {
      const stack = await startLocalStack({ exportEnv: false, onUnexpectedExit: (message) => reports.push(message) });
      try {
        process.kill(stack.pids.s3!, 'SIGUSR2');
        for (let i = 0; i < 100 && reports.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(reports).toEqual([
          expect.stringMatching(/S3 server exited while in use \(code 3\); its stderr ends with: disk full \(test\)$/),
        ]);
      } finally {
        await stack.stop();
      }
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
      rmSync(temp, { recursive: true, force: true });
    }
  });

  it('a start that fails leaves nothing running: DynamoDB Local, which started, is ended when the S3 server does not start', async () => {
    const before = descendants();
    const temp = mkdtempSync(join(tmpdir(), 'tierlog-stack-test-'));
    // The S3 server is a Node.js process: this makes it exit at once. DynamoDB Local (java) starts.
    // TMPDIR: where the stack makes the S3 server's data directory.
    await withEnvIn(temp, { NODE_OPTIONS: '--require=/nonexistent/tierlog-stack-test.cjs', TMPDIR: temp }, async () => {
      await expect(startLocalStack({ exportEnv: false })).rejects.toThrow(/S3 server exited with 1/);
      // Nor anything on disk: the data directory the S3 server never ran in is removed too.
      expect(readdirSync(temp)).toEqual([]);
    });
    expect(await leftRunning(before)).toEqual([]);
  });

  it('an S3 server that fails to listen fails the start at once, with its error, not after the whole readyTimeoutMs; nothing left running or on disk', async () => {
    const before = descendants();
    const temp = mkdtempSync(join(tmpdir(), 'tierlog-stack-test-'));
    const data = join(temp, 'data');
    mkdirSync(data);
    // The S3 server (a Node.js process) loaded with this: its listen fails, as one refused a socket does.
    writeFileSync(
      join(temp, 'listen-fails.cjs'),
      `require('node:net').Server.prototype.listen = function () {
        process.nextTick(() => this.emit('error', Object.assign(new Error('listen EMFILE (test)'), { code: 'EMFILE' })));
        return this;
      };\n`,
    );
    // TMPDIR: where the S3 server makes its data directory.
    await withEnvIn(temp, { NODE_OPTIONS: `--require=${join(temp, 'listen-fails.cjs')}`, TMPDIR: data }, async () => {
      const started = Date.now();
      await expect(startLocalStack({ exportEnv: false, readyTimeoutMs: 30_000 })).rejects.toThrow(
        /S3 server exited with 1: [\s\S]*listen EMFILE \(test\)/,
      );
      expect(Date.now() - started, 'not the whole readyTimeoutMs').toBeLessThan(25_000);
      expect(readdirSync(data), 'its data directory removed').toEqual([]);
    });
    expect(await leftRunning(before)).toEqual([]);
  });

  it('a start that fails puts back the variables exportEnv would have set: process.env is as it was', async () => {
    const names = [...Object.keys(localStackEnv('', '')), 'AWS_PROFILE', 'NODE_OPTIONS'];
    const saved = { ...process.env };
    delete process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    process.env.AWS_PROFILE = 'tierlog-test-no-such-profile';
    // The S3 server is a Node.js process: this makes it exit at once.
    process.env.NODE_OPTIONS = '--require=/nonexistent/tierlog-stack-test.cjs';
    const before = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    try {
      await expect(startLocalStack()).rejects.toThrow(/S3 server exited with 1/);
      expect(Object.fromEntries(names.map((name) => [name, process.env[name]]))).toEqual(before);
    } finally {
      for (const name of names) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('a start that fails when DynamoDB Local does (a java that cannot run it) leaves nothing running, the S3 server ended', async () => {
    const before = descendants();
    const bin = mkdtempSync(join(tmpdir(), 'tierlog-java-test-'));
    // It passes the version check, and fails to run anything.
    writeFileSync(join(bin, 'java'), `#!/bin/sh\nif [ "$1" = -version ]; then echo 'openjdk version "17.0.15"' >&2; exit 0; fi\nexit 1\n`);
    chmodSync(join(bin, 'java'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const error = await startLocalStack({ exportEnv: false }).catch((err: unknown) => err);
      expect(error).not.toBeInstanceOf(ConfigError);
      expect(String(error)).toMatch(/DynamoDB Local did not start/);
    } finally {
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await leftRunning(before)).toEqual([]);
  });

  it('a server that cannot be spawned (no sh on PATH, as on Windows; EMFILE, EAGAIN) fails the start with its error at once, not an uncaught exception', async () => {
    const before = descendants();
    const bin = mkdtempSync(join(tmpdir(), 'tierlog-java-test-'));
    // A PATH with java (it passes the version check) and no sh: DynamoDB Local's shell cannot be spawned.
    writeFileSync(join(bin, 'java'), `#!/bin/sh\nif [ "$1" = -version ]; then echo 'openjdk version "17.0.15"' >&2; exit 0; fi\nexit 1\n`);
    chmodSync(join(bin, 'java'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = bin;
    const uncaught: unknown[] = [];
    const record = (err: unknown): void => {
      uncaught.push(err);
    };
    // Vitest's own handler reports such an error after the test: this one sees it in the test.
    process.prependListener('uncaughtException', record);
    try {
      const started = Date.now();
      const error = await startLocalStack({ exportEnv: false, readyTimeoutMs: 20_000 }).catch((err: unknown) => err);
      expect(uncaught.map(String)).toEqual([]);
      expect(String(error)).toMatch(/DynamoDB Local did not start: .*spawn sh ENOENT/);
      expect(Date.now() - started, 'not the whole readyTimeoutMs').toBeLessThan(15_000);
    } finally {
      process.env.PATH = saved;
      process.off('uncaughtException', record);
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await leftRunning(before)).toEqual([]);
  }, 60_000);

  it('stop() ends a DynamoDB Local that ignores SIGTERM (a JVM whose shutdown hangs): nothing left running on its port', async () => {
    const before = descendants();
    const bin = javaIgnoringSigterm();
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    let pid = 0;
    const alive = () => isAlive(pid);
    try {
      const stack = await startLocalStack({ exportEnv: false, readyTimeoutMs: 20_000 });
      pid = Number(readFileSync(join(bin, 'pid'), 'utf8'));
      await stack.stop();
      // Its shell is ended by stop(): the server under it, no longer this process's descendant, was left.
      for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(), 'the server under the shell is gone').toBe(false);
    } finally {
      if (pid > 0 && alive()) process.kill(pid, 'SIGKILL');
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await leftRunning(before)).toEqual([]);
  }, 60_000);

  it('a process that exits while its S3 server still writes into its data directory exits without an error of the exit hook', async () => {
    // npm start --json ended by Ctrl-C mid-upload, a second Ctrl-C of npm run dev: process.exit()
    // while the S3 server still writes a request's files. The exit hook's removal of the directory
    // met them (ENOTEMPTY), an uncaught error's stack trace printed as the process ended. Here a
    // loop writes into the directory for as long as the exit takes.
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const temp = mkdtempSync(join(tmpdir(), 'tierlog-exit-hook-test-'));
    const script = `
      const { readdirSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { spawn } = await import('node:child_process');
      const { startLocalStack } = await import('./lib/local/stack.ts');
      await startLocalStack();
      const data = join(process.env.TMPDIR, readdirSync(process.env.TMPDIR).find((name) => name.startsWith('tierlog-s3-')));
      const loop = 'i=0; while :; do mkdir -p "$0/writing/$1$i/a/b" 2>/dev/null; i=$((i+1)); done';
      const writer = spawn('sh', ['-c', \`\${loop.replaceAll('$1', 'x')} & \${loop.replaceAll('$1', 'y')} & \${loop.replaceAll('$1', 'z')}\`, data], { detached: true, stdio: 'ignore' });
      console.log(String(writer.pid));
      setTimeout(() => process.exit(0), 500);`;
    const child = spawn(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, TMPDIR: temp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    const writer = Number(stdout.trim());
    try {
      expect(code).toBe(0);
      expect(stderr).not.toMatch(/ENOTEMPTY|Error/);
    } finally {
      if (writer > 0) process.kill(-writer, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 500));
      rmSync(temp, { recursive: true, force: true });
    }
  }, 60_000);

  it('a process that exits without stop() leaves no DynamoDB Local that ignores SIGTERM running (killed after a grace)', async () => {
    const bin = javaIgnoringSigterm();
    const root = fileURLToPath(new URL('../..', import.meta.url));
    // A user's test process: it starts a stack and exits without stop() (the exit hook runs).
    const script = `
      const { startLocalStack } = await import('./lib/local/stack.ts');
      await startLocalStack({ exportEnv: false, readyTimeoutMs: 20_000 });
      process.exit(0);`;
    const child = spawn(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], {
      cwd: root,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    let pid = 0;
    const alive = () => isAlive(pid);
    try {
      expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
      pid = Number(readFileSync(join(bin, 'pid'), 'utf8'));
      for (let i = 0; i < 150 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(), 'the server that ignored SIGTERM is gone').toBe(false);
    } finally {
      if (pid > 0 && alive()) process.kill(pid, 'SIGKILL');
      rmSync(bin, { recursive: true, force: true });
    }
  }, 60_000);

  it('readyTimeoutMs bounds the whole start: a DynamoDB Local that never answers is not started again for another timeout', async () => {
    const before = descendants();
    const bin = mkdtempSync(join(tmpdir(), 'tierlog-java-test-'));
    const launches = join(bin, 'launches');
    // It passes the version check, then runs and never answers (a JVM hung at start-up).
    writeFileSync(
      join(bin, 'java'),
      `#!/bin/sh\nif [ "$1" = -version ]; then echo 'openjdk version "17.0.15"' >&2; exit 0; fi\necho launched >> '${launches}'\nexec sleep 600\n`,
    );
    chmodSync(join(bin, 'java'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const error = await startLocalStack({ exportEnv: false, readyTimeoutMs: 1_500 }).catch((err: unknown) => err);
      expect(String(error)).toMatch(/DynamoDB Local did not start: .*no answer within 1500 ms/);
      // Each launch used to get a timeout of its own: three of them, three times the wait asked for.
      expect(readFileSync(launches, 'utf8').trim().split('\n')).toHaveLength(1);
    } finally {
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await leftRunning(before)).toEqual([]);
  }, 60_000);

  it('readyTimeoutMs holds for a DynamoDB Local that takes the connection and never answers: the start rejects, nothing left running', async () => {
    const before = descendants();
    const bin = mkdtempSync(join(tmpdir(), 'tierlog-java-test-'));
    // It passes the version check, then listens on the port it is given (the last argument) and
    // never answers a request: the probe's request would wait for ever.
    writeFileSync(
      join(bin, 'java'),
      `#!/bin/sh\nif [ "$1" = -version ]; then echo 'openjdk version "17.0.15"' >&2; exit 0; fi\n` +
        `for port; do :; done\nexec '${process.execPath}' -e "require('net').createServer(() => {}).listen(Number(process.argv[1]), '127.0.0.1')" "$port"\n`,
    );
    chmodSync(join(bin, 'java'), 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const error = await startLocalStack({ exportEnv: false, readyTimeoutMs: 1_500 }).catch((err: unknown) => err);
      expect(String(error)).toMatch(/DynamoDB Local did not start: .*no answer within 1500 ms/);
    } finally {
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await leftRunning(before)).toEqual([]);
  }, 30_000);

  it('a start that times out leaves nothing running (the S3 server still starting is ended too)', async () => {
    const before = descendants();
    await expect(startLocalStack({ exportEnv: false, readyTimeoutMs: 1 })).rejects.toThrow();
    expect(await leftRunning(before)).toEqual([]);
  });

  it.each(['SIGINT', 'SIGKILL'] as const)(
    'a process ended by %s (no exit hook runs) leaves no server running and no data on disk',
    async (signal) => {
      const temp = mkdtempSync(join(tmpdir(), 'tierlog-stack-test-'));
      const root = fileURLToPath(new URL('../..', import.meta.url));
      // A test process of a user's: it starts a stack, stores a blob, and is ended by the signal.
      const script = `
        const { startLocalStack } = await import('./lib/local/stack.ts');
        const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
        const stack = await startLocalStack();
        const s3 = new S3Client({ forcePathStyle: true });
        await s3.send(new CreateBucketCommand({ Bucket: 'left-behind' }));
        await s3.send(new PutObjectCommand({ Bucket: 'left-behind', Key: 'k', Body: 'data' }));
        console.log(JSON.stringify(stack.pids));
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], {
        cwd: root,
        env: { ...process.env, TMPDIR: temp },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        const pids = await new Promise<{ dynamodb: number; s3: number }>((resolve, reject) => {
          let out = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('\n')) resolve(JSON.parse(out));
          });
          child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
        });
        expect(readdirSync(temp).filter((name) => name.startsWith('tierlog-s3-'))).toHaveLength(1);
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill(signal);
        await exited;
        const alive = (pid: number) => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        };
        const servers = () => [...(alive(pids.s3) ? ['s3 server'] : []), ...(alive(pids.dynamodb) ? ['DynamoDB Local'] : [])];
        expect(await leftBehind(temp, servers)).toEqual([]);
      } finally {
        child.kill('SIGKILL');
        rmSync(temp, { recursive: true, force: true });
      }
    },
    120_000,
  );

  it.each<[string, Record<string, unknown>, string]>([
    // Node.js runs a timer longer than 2^31 - 1 ms after 1 ms: the start would fail at once, "not in time".
    ['a readyTimeoutMs of Infinity (no timeout meant)', { readyTimeoutMs: Number.POSITIVE_INFINITY }, 'readyTimeoutMs'],
    ['a readyTimeoutMs past the longest timer', { readyTimeoutMs: 2 ** 31 }, 'readyTimeoutMs'],
    ['a readyTimeoutMs of NaN', { readyTimeoutMs: Number.NaN }, 'readyTimeoutMs'],
    ['a readyTimeoutMs of 0', { readyTimeoutMs: 0 }, 'readyTimeoutMs'],
    ['a readyTimeoutMs as a string', { readyTimeoutMs: '60000' }, 'readyTimeoutMs'],
    // A string is truthy: it would export the environment it was asked not to.
    ["an exportEnv of 'false'", { exportEnv: 'false' }, 'exportEnv'],
    // Called only when a server exits: a TypeError then, in an exit handler, would end the process.
    ['an onUnexpectedExit that is no function', { onUnexpectedExit: 'stderr' }, 'onUnexpectedExit'],
  ])('%s is a ValidationError naming it, before anything starts', async (_what, options, field) => {
    const before = descendants();
    const env = { ...process.env };
    const error = await startLocalStack(options as never).then(
      async (stack) => {
        await stack.stop();
        return undefined;
      },
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect(process.env).toEqual(env);
    expect(await leftRunning(before)).toEqual([]);
  });

  it.each(['SIGHUP', 'SIGINT'] as const)(
    'a terminal that sends %s to the whole process group (closed, Ctrl-C) leaves no server running and no data on disk',
    async (signal) => {
      // A test process of a user's in a terminal: it starts a stack and stores a blob; the terminal
      // then signals every process of its foreground group (SIGHUP when it is closed or its SSH
      // session drops), the S3 server's too, not only this one.
      const script = `
        const { startLocalStack } = await import('./lib/local/stack.ts');
        const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
        await startLocalStack();
        const s3 = new S3Client({ forcePathStyle: true });
        await s3.send(new CreateBucketCommand({ Bucket: 'left-behind' }));
        await s3.send(new PutObjectCommand({ Bucket: 'left-behind', Key: 'k', Body: 'data' }));
        console.log('stored');
        setInterval(() => {}, 1000);`;
      const { child, temp, signal: send, left, end } = runAsGroup(script, 'pipe');
      try {
        await new Promise<void>((resolve, reject) => {
          let out = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            if (out.includes('stored')) resolve();
          });
          child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
        });
        expect(readdirSync(temp).filter((name) => name.startsWith('tierlog-s3-'))).toHaveLength(1);
        send(signal);
        expect(await left()).toEqual([]);
      } finally {
        end();
      }
    },
    120_000,
  );

  it.each(['SIGINT', 'SIGHUP'] as const)(
    "a process that stops gracefully on the terminal's %s to its whole group (npm run dev) is served until it stops the stack",
    async (signal) => {
      // As npm run dev does on Ctrl-C: it finishes the work under way against the stack (a request,
      // a sweep: here a PutObject and a ListTables a moment later), then stops the stack. The
      // terminal signals every process of the group, the servers too: theirs to ignore.
      const script = `
        const { startLocalStack } = await import('./lib/local/stack.ts');
        const { S3Client, CreateBucketCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
        const { DynamoDBClient, ListTablesCommand } = await import('@aws-sdk/client-dynamodb');
        const exits = [];
        const stack = await startLocalStack({ onUnexpectedExit: (message) => exits.push(message) });
        const s3 = new S3Client({ forcePathStyle: true, maxAttempts: 1 });
        const dynamodb = new DynamoDBClient({ maxAttempts: 1 });
        await s3.send(new CreateBucketCommand({ Bucket: 'graceful' }));
        process.on('${signal}', async () => {
          await new Promise((resolve) => setTimeout(resolve, 3000));
          const answer = (sent) => sent.then(() => 'ok', (err) => 'failed: ' + (err.code ?? err.name));
          const put = await answer(s3.send(new PutObjectCommand({ Bucket: 'graceful', Key: 'k', Body: 'data' })));
          const list = await answer(dynamodb.send(new ListTablesCommand({})));
          await stack.stop();
          console.log(JSON.stringify({ put, list, exits }));
          process.exit(0);
        });
        console.log('ready');
        setInterval(() => {}, 1000);`;
      const { child, signal: send, left, end } = runAsGroup(script, 'pipe');
      try {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        await new Promise<void>((resolve, reject) => {
          child.stdout!.on('data', () => out.includes('ready') && resolve());
          child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
        });
        send(signal);
        expect(await exited).toBe(0);
        expect(JSON.parse(out.slice(out.indexOf('{')))).toEqual({ put: 'ok', list: 'ok', exits: [] });
        expect(await left()).toEqual([]);
      } finally {
        end();
      }
    },
    120_000,
  );

  it('Ctrl-C during the start (SIGINT to the whole process group, the S3 server not yet running) leaves no data directory', async () => {
    // A terminal's Ctrl-C reaches every process of the foreground group: here, once the stack has
    // spawned the S3 server (startLocalStack spawns it before its first await), before it runs.
    const script = `
      const { startLocalStack } = await import('./lib/local/stack.ts');
      startLocalStack().catch(() => {});
      process.kill(0, 'SIGINT');
      setInterval(() => {}, 1000);`;
    const { child, left, end } = runAsGroup(script, 'ignore');
    try {
      expect(await new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)))).toBe('SIGINT');
      expect(await left()).toEqual([]);
    } finally {
      end();
    }
  }, 60_000);

  it.each([
    ['no java on PATH', undefined, /no java on PATH/],
    ['a java older than 17', `#!/bin/sh\necho 'openjdk version "11.0.22" 2024-01-16' >&2\n`, /the java on PATH is Java 11/],
    [
      // Not three failed starts of DynamoDB Local after the S3 server started (a TierlogError).
      "macOS's java without a JDK (a stub that exits 1)",
      `#!/bin/sh\necho 'The operation couldn’t be completed. Unable to locate a Java Runtime.' >&2\necho 'Please visit http://www.java.com for information on installing Java.' >&2\nexit 1\n`,
      /does not run.*exit 1.*Unable to locate a Java Runtime/s,
    ],
  ])('%s is a ConfigError naming java that says what to install, and nothing is left running', async (_what, script, message) => {
    const before = descendants();
    const bin = mkdtempSync(join(tmpdir(), 'tierlog-java-test-'));
    if (script !== undefined) {
      writeFileSync(join(bin, 'java'), script);
      chmodSync(join(bin, 'java'), 0o755);
    }
    const saved = process.env.PATH;
    process.env.PATH = bin;
    try {
      const error = await startLocalStack({ exportEnv: false }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).setting).toBe('java');
      expect((error as ConfigError).message).toMatch(message);
      expect((error as ConfigError).message).toContain('Java 17 or later');
    } finally {
      process.env.PATH = saved;
      rmSync(bin, { recursive: true, force: true });
    }
    expect(await leftRunning(before)).toEqual([]);
  });

  it('javaMajorVersion reads what java -version prints, old and new schemes', () => {
    expect(javaMajorVersion('java version "1.8.0_392"')).toBe(8);
    expect(javaMajorVersion('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(javaMajorVersion('openjdk version "21" 2023-09-19')).toBe(21);
    expect(javaMajorVersion('something else')).toBeUndefined();
  });

  it('exportEnv points this process at the stack while it is up (whatever the shell set for AWS: FIPS, dual-stack, ignored endpoints); stop() puts back the variables it replaced', async () => {
    const names = Object.keys(localStackEnv('', ''));
    const saved = { ...process.env };
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:1';
    delete process.env.AWS_RESPONSE_CHECKSUM_VALIDATION;
    // An AWS developer's shell names a profile: the SDK would take its credentials over the stack's.
    process.env.AWS_PROFILE = 'tierlog-test-no-such-profile';
    // Set for AWS: the SDK would ignore the stack's endpoints and go to AWS, or refuse them
    // ("FIPS and custom endpoint are not supported", the same for dual-stack).
    process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS = 'true';
    process.env.AWS_USE_FIPS_ENDPOINT = 'true';
    process.env.AWS_USE_DUALSTACK_ENDPOINT = 'true';
    const before = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    try {
      const stack = await startLocalStack();
      expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(stack.dynamodbEndpoint);
      expect(process.env.AWS_ENDPOINT_URL_S3).toBe(stack.s3Endpoint);
      expect(process.env.AWS_PROFILE).toBeUndefined();
      // A default client of this process reaches the stack with the stack's credentials.
      const dynamodb = createDynamoDBClient({ socketTimeoutMs: 2_000 });
      const s3 = createS3Client({ socketTimeoutMs: 2_000 });
      try {
        await expect(dynamodb.send(new ListTablesCommand({}))).resolves.toBeDefined();
        await expect(s3.send(new ListBucketsCommand({}))).resolves.toBeDefined();
      } finally {
        dynamodb.destroy();
        s3.destroy();
      }
      await stack.stop();
      // The dead stack's endpoints are not left for the process's next clients.
      expect(Object.fromEntries(names.map((name) => [name, process.env[name]]))).toEqual(before);
      expect(process.env.AWS_PROFILE).toBe('tierlog-test-no-such-profile');
    } finally {
      for (const name of [...names, 'AWS_PROFILE']) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it("a shell with temporary credentials (aws-vault, `aws configure export-credentials`): the stack's clients sign with its keys alone, not the shell's session token and expiry; stop() puts them back", async () => {
    const saved = { ...process.env };
    process.env.AWS_SESSION_TOKEN = 'shell-session-token';
    // The shell's credentials have expired (a dev service left running past its hour).
    const expired = new Date(Date.now() - 60_000).toISOString();
    process.env.AWS_CREDENTIAL_EXPIRATION = expired;
    try {
      const stack = await startLocalStack();
      const s3 = createS3Client({ socketTimeoutMs: 2_000 });
      try {
        const credentials = await s3.config.credentials();
        expect(credentials).toMatchObject({ accessKeyId: 'S3RVER' });
        expect(credentials.sessionToken, "the shell's session token").toBeUndefined();
        expect(credentials.expiration, "the shell's expiry").toBeUndefined();
        // A presigned URL (a large upload's, a GET's redirect) was refused as signed by expired credentials.
        const url = await presignUrl(s3, new GetObjectCommand({ Bucket: 'tierlog-test', Key: 'k' }), 60);
        expect(url.url).not.toContain('X-Amz-Security-Token');
      } finally {
        s3.destroy();
        await stack.stop();
      }
      expect(process.env.AWS_SESSION_TOKEN).toBe('shell-session-token');
      expect(process.env.AWS_CREDENTIAL_EXPIRATION).toBe(expired);
    } finally {
      delete process.env.AWS_SESSION_TOKEN;
      delete process.env.AWS_CREDENTIAL_EXPIRATION;
      Object.assign(process.env, saved);
    }
  });

  it('stop() leaves a variable set since the stack started as it is, and puts back the others', async () => {
    const names = [...Object.keys(localStackEnv('', '')), 'AWS_PROFILE'];
    const saved = { ...process.env };
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:1';
    process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:2';
    process.env.AWS_PROFILE = 'tierlog-test-no-such-profile';
    try {
      const stack = await startLocalStack();
      // The user's own code points this process elsewhere while the stack is up.
      process.env.AWS_ENDPOINT_URL_S3 = 'http://127.0.0.1:3';
      process.env.AWS_PROFILE = 'tierlog-test-another-profile';
      await stack.stop();
      expect(process.env.AWS_ENDPOINT_URL_S3).toBe('http://127.0.0.1:3');
      expect(process.env.AWS_PROFILE).toBe('tierlog-test-another-profile');
      expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe('http://127.0.0.1:1');
    } finally {
      for (const name of names) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('two stacks up at once, the first stopped first: the second keeps process.env (its credentials, no profile) until it stops, then all is as before either', async () => {
    const names = [...Object.keys(localStackEnv('', '')), 'AWS_PROFILE'];
    const saved = { ...process.env };
    // An AWS developer's shell: a profile, keys of its own, FIPS endpoints.
    process.env.AWS_PROFILE = 'tierlog-test-no-such-profile';
    process.env.AWS_ACCESS_KEY_ID = 'AKIDSHELL';
    process.env.AWS_SECRET_ACCESS_KEY = 'shell-secret';
    process.env.AWS_USE_FIPS_ENDPOINT = 'true';
    const before = Object.fromEntries(names.map((name) => [name, process.env[name]]));
    const current = () => Object.fromEntries(names.map((name) => [name, process.env[name]]));
    try {
      const first = await startLocalStack();
      const second = await startLocalStack();
      await first.stop();
      expect(current(), "the second stack's variables, while it is up").toEqual({ ...second.env, AWS_PROFILE: undefined });
      // A default client made now reaches the second stack, with its credentials.
      const s3 = createS3Client({ socketTimeoutMs: 2_000 });
      try {
        await expect(s3.send(new ListBucketsCommand({}))).resolves.toBeDefined();
      } finally {
        s3.destroy();
      }
      await second.stop();
      expect(current(), "the shell's, not the first stack's dead endpoints").toEqual(before);
    } finally {
      for (const name of names) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('localStackEnv keeps the region this process names', () => {
    const saved = process.env.AWS_REGION;
    process.env.AWS_REGION = 'eu-west-3';
    try {
      expect(localStackEnv('http://127.0.0.1:1', 'http://127.0.0.1:2').AWS_REGION).toBe('eu-west-3');
      // A blank one (`export AWS_REGION=$UNSET`) is unset: the SDK refuses "" as a region, so
      // `npm start`, `npm run dev` and startLocalStack failed with "Region not accepted".
      process.env.AWS_REGION = '';
      expect(localStackEnv('http://127.0.0.1:1', 'http://127.0.0.1:2').AWS_REGION).toBe('us-east-1');
    } finally {
      if (saved === undefined) delete process.env.AWS_REGION;
      else process.env.AWS_REGION = saved;
    }
  });

  it('localStackEnv points the SDK at the endpoints with the checksum settings s3rver needs', () => {
    const env = localStackEnv('http://127.0.0.1:1', 'http://127.0.0.1:2');
    expect(env).toMatchObject({
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:2',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
    });
    expect(env.AWS_REGION).toBeTruthy();
  });
});

/**
 * A user's script run from the repository as a process group of its own (as a shell runs a
 * command, so a terminal's signal reaches every process of it), its TMPDIR a fresh folder.
 */
function runAsGroup(script: string, stdout: 'pipe' | 'ignore') {
  const temp = mkdtempSync(join(tmpdir(), 'tierlog-stack-test-'));
  const child = spawn(process.execPath, ['--import', 'tsx/esm', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: { ...process.env, TMPDIR: temp },
    stdio: ['ignore', stdout, 'inherit'],
    detached: true,
  });
  const group = child.pid!;
  const alive = (): boolean => {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    child,
    temp,
    /** Sends `signal` to every process of the group, as a terminal does. */
    signal: (signal: NodeJS.Signals) => process.kill(-group, signal),
    /** What is still there after up to 10 s: tierlog's folders under TMPDIR, a process of the group. */
    left: () => leftBehind(temp, () => (alive() ? ['a process of the group'] : [])),
    end: () => {
      if (alive()) process.kill(-group, 'SIGKILL');
      rmSync(temp, { recursive: true, force: true });
    },
  };
}

/** What is still there after up to 10 s (polled): tierlog's folders under `temp`, and what `others` names. */
async function leftBehind(temp: string, others: () => string[]): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = [...readdirSync(temp).filter((name) => name.startsWith('tierlog-')), ...others()];
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}
