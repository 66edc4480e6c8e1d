/**
 * The dev service's sweep timer: the next sweep an interval after the end of the last, whatever
 * it ended with; `sweepNow()` queued behind the sweep under way. A sweep that fails (here: its change-log table deleted under
 * it) is told to `onSweep` and the timer goes on; `stop()` waits for the sweep under way, and no
 * sweep runs after it.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { ServiceStoppedError, startDevService } from '../../lib/dev/service.js';
import { provisionLocal } from '../../lib/local/provision.js';

/** Resolves once `check` holds, polling. */
async function until(check: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('dev service sweep timer', () => {
  it('goes on after a sweep that fails, and stops with none under way', async () => {
    const results: Array<{ ok: boolean }> = [];
    const level = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT'; // the failing sweeps' error lines
    const service = await startDevService({
      port: 0,
      sweepIntervalMs: 100,
      onSweep: ({ error }) => {
        results.push({ ok: error === undefined });
      },
    });
    // sweepNow while the timer runs: each queued behind the sweep under way, each told to onSweep.
    await Promise.all([service.sweepNow(), service.sweepNow(), service.sweepNow()]);
    await until(() => results.filter((r) => r.ok).length >= 4);
    const dynamodb = createDynamoDBClient();
    try {
      await dynamodb.send(new DeleteTableCommand({ TableName: service.config.changeLogTable }));
    } finally {
      dynamodb.destroy();
    }
    const okBefore = results.length;
    await until(() => results.slice(okBefore).filter((r) => !r.ok).length >= 2);
    expect(results.slice(okBefore).every((r) => !r.ok)).toBe(true);
    await service.stop();
    const after = results.length;
    expect(service.sweeps).toBe(after);
    await new Promise((r) => setTimeout(r, 500));
    expect(results.length).toBe(after);
    if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
    else process.env.POWERTOOLS_LOG_LEVEL = level;
  }, 120_000);
});

describe('dev service stop()', () => {
  it('answers every call once all of it has stopped: a second call does not resolve early', async () => {
    const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
    const first = service.stop();
    await service.stop();
    await expect(fetch(`${service.stack.s3Endpoint}/`)).rejects.toThrow();
    await expect(fetch(`${service.url}/objects/x`)).rejects.toThrow();
    await first;
  }, 120_000);
});

describe('dev service stop() under way', () => {
  it('waits for the sweep under way, and no sweep runs after it', async () => {
    let reported = 0;
    // Sweeps back to back: stop() comes in the middle of one.
    const service = await startDevService({ port: 0, sweepIntervalMs: 1, onSweep: () => reported++ });
    await until(() => reported >= 2);
    await service.stop();
    const after = reported;
    expect(service.sweeps).toBe(after);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(reported).toBe(after);
  }, 120_000);

  it('a sweepNow() queued behind the sweep under way does not run once stop() is called: a ServiceStoppedError', async () => {
    let reported = 0;
    const service = await startDevService({ port: 0, sweepIntervalMs: 0, onSweep: () => reported++ });
    const first = service.sweepNow();
    await new Promise((r) => setTimeout(r, 20)); // under way
    const queued = service.sweepNow();
    const stopping = service.stop();
    await expect(first, 'the sweep under way: stop() waits for it').resolves.toBeDefined();
    await expect(queued, 'not begun when stop() was called').rejects.toBeInstanceOf(ServiceStoppedError);
    await stopping;
    expect(service.sweeps).toBe(1);
    expect(reported).toBe(1);
  }, 120_000);

  it('answers a request whose handler is under way (its body all sent) before it stops the stack', async () => {
    const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
    const s3 = service.stack.pids.s3!;
    // The S3 server paused: the large PUT's handler waits on its blob's upload, its body all in.
    process.kill(s3, 'SIGSTOP');
    let stopping: Promise<void> | undefined;
    try {
      const put = fetch(`${service.url}/objects/in-flight`, { method: 'PUT', body: new Uint8Array(100_000).fill(7) }).then(
        (res) => res.status,
        (err: Error) => `failed: ${String(err.cause ?? err)}`,
      );
      await new Promise((r) => setTimeout(r, 500));
      stopping = service.stop();
      await new Promise((r) => setTimeout(r, 500));
      process.kill(s3, 'SIGCONT');
      // Ended, the client was told nothing (a connection reset) of a write its handler went on with.
      expect(await put).toBe(201);
    } finally {
      process.kill(s3, 'SIGCONT');
      await (stopping ?? service.stop());
    }
  }, 120_000);

  it('ends a request still under way (a client that stalls mid-upload) rather than waiting for it', async () => {
    const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
    const url = new URL(`${service.url}/objects/stalled`);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'PUT', headers: { 'content-length': 10 } });
    const ended = new Promise<string>((resolve) => {
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
      req.on('response', (res) => resolve(`status ${res.statusCode}`));
    });
    req.write('x'); // 1 of its 10 bytes, and no more
    await new Promise((r) => setTimeout(r, 200));
    await service.stop();
    expect(await ended).toBe('ECONNRESET');
  }, 120_000);
});

describe('dev service sweepNow()', () => {
  it('with no timer (sweepIntervalMs 0) runs the sweeps asked for, no more; a failing one rejects and the next runs', async () => {
    const results: Array<{ ok: boolean }> = [];
    const level = process.env.POWERTOOLS_LOG_LEVEL;
    process.env.POWERTOOLS_LOG_LEVEL = 'SILENT'; // the failing sweep's error line
    const service = await startDevService({
      port: 0,
      sweepIntervalMs: 0,
      onSweep: ({ error }) => results.push({ ok: error === undefined }),
    });
    try {
      await service.sweepNow();
      expect(service.sweeps).toBe(1);
      const dynamodb = createDynamoDBClient();
      try {
        await dynamodb.send(new DeleteTableCommand({ TableName: service.config.changeLogTable }));
      } finally {
        dynamodb.destroy();
      }
      await expect(service.sweepNow()).rejects.toThrow();
      await provisionLocal(service.config); // the table back
      await expect(service.sweepNow()).resolves.toBeDefined();
      expect(results).toEqual([{ ok: true }, { ok: false }, { ok: true }]);
      expect(service.sweeps).toBe(3);
    } finally {
      await service.stop();
      if (level === undefined) delete process.env.POWERTOOLS_LOG_LEVEL;
      else process.env.POWERTOOLS_LOG_LEVEL = level;
    }
  }, 120_000);

  it("an onSweep that throws is a process warning: sweepNow() answers the sweep's own outcome, not the callback's error", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    const service = await startDevService({
      port: 0,
      sweepIntervalMs: 0,
      onSweep: () => {
        throw new Error('onSweep failed (test)');
      },
    });
    try {
      await expect(service.sweepNow()).resolves.toMatchObject({ errors: 0 });
      expect(service.sweeps).toBe(1);
      await new Promise((r) => setImmediate(r));
      expect(warnings).toEqual([expect.stringMatching(/onSweep threw: Error: onSweep failed \(test\)/)]);
    } finally {
      process.off('warning', onWarning);
      await service.stop();
    }
  }, 120_000);

  it('sweepNow() after stop() is a ServiceStoppedError: no sweep runs, nothing reaches the endpoints the shell had set', async () => {
    // The shell's endpoints and credentials (another stack, an AWS account): stop() puts them
    // back, and a client the service made but never used would resolve them at its first request.
    const elsewhere: string[] = [];
    const foreign = createServer((req, res) => {
      elsewhere.push(`${req.method} ${req.url}`);
      res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', () => resolve()));
    const url = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`;
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL_DYNAMODB: url, AWS_ENDPOINT_URL_S3: url, AWS_MAX_ATTEMPTS: '1' });
    try {
      const service = await startDevService({ port: 0, sweepIntervalMs: 0 });
      await service.stop();
      expect(process.env.AWS_ENDPOINT_URL_DYNAMODB).toBe(url);
      const error = await service.sweepNow().catch((err: unknown) => err);
      expect(elsewhere).toEqual([]);
      expect(error).toBeInstanceOf(ServiceStoppedError);
      expect(service.sweeps).toBe(0);
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
      await new Promise((resolve) => foreign.close(resolve));
    }
  }, 60_000);
});
