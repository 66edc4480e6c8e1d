/**
 * `npm run dev` as an integrator meets it: the real bin in a child process, driven over HTTP
 * with fetch as a client would (curl-equivalent requests), the sweeper running on its timer,
 * the printed environment good for the CLI, and Ctrl-C (SIGINT) stopping everything.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevProcess, startDev } from './dev-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const HV_ATTRIBUTES = '{"blob":"ptr","size":"bytes"}';
const NO_SUCH_PROFILE = 'tierlog-test-no-such-profile';
let dev: DevProcess;
let url: string;
let env: Record<string, string>;

beforeAll(async () => {
  // Attribute names of its own, as JSON: the printed export must hand the CLI the same JSON.
  // And AWS_PROFILE set, as an AWS developer's shell has it: the SDK would take the profile's
  // credentials over the local stack's (here: a profile that does not exist).
  dev = await startDev([], 120_000, { TIERLOG_HV_ATTRIBUTES: HV_ATTRIBUTES, AWS_PROFILE: NO_SUCH_PROFILE });
  ({ url, env } = dev);
}, 180_000);

afterAll(() => {
  if (dev.child.exitCode === null) dev.child.kill('SIGKILL');
});

describe('npm run dev', () => {
  it('serves the objects API over HTTP: PUT, GET, HEAD, conditional PUT, DELETE', async () => {
    const small = await fetch(`${url}/objects/greeting`, { method: 'PUT', body: 'hello', headers: { 'content-type': 'text/plain' } });
    expect(small.status).toBe(201); // created
    const etag = small.headers.get('etag');
    const { version } = (await small.json()) as { version: number };
    expect(etag).toBe(`"${version}"`);

    const large = new Uint8Array(100_000).map((_, i) => i % 251);
    expect((await fetch(`${url}/objects/photos/1`, { method: 'PUT', body: large })).status).toBe(201);
    const got = await fetch(`${url}/objects/photos/1`);
    expect(got.status).toBe(200);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(large);

    expect(await (await fetch(`${url}/objects/greeting`)).text()).toBe('hello');
    const head = await fetch(`${url}/objects/greeting`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length') ?? head.headers.get('x-object-size')).not.toBeNull();

    expect((await fetch(`${url}/objects/greeting`, { method: 'PUT', body: 'x', headers: { 'if-match': '"7"' } })).status).toBe(412);
    const conditional = await fetch(`${url}/objects/greeting`, { method: 'PUT', body: 'hello again', headers: { 'if-match': etag! } });
    expect(conditional.status).toBe(200);
    expect(conditional.headers.get('etag')).toBe(`"${version + 1}"`);
    expect((await fetch(`${url}/objects/greeting`, { method: 'PUT', body: 'x', headers: { 'if-match': etag! } })).status).toBe(412);
    expect((await fetch(`${url}/objects/greeting`, { method: 'DELETE' })).status).toBeLessThan(300);
    expect((await fetch(`${url}/objects/greeting`)).status).toBe(404);
    expect((await fetch(`${url}/nothing-here`)).status).toBe(404);
  });

  it('prints the environment the CLI needs, and the CLI works with it', async () => {
    for (const name of [
      'AWS_ENDPOINT_URL_DYNAMODB',
      'AWS_ENDPOINT_URL_S3',
      'TIERLOG_CHANGELOG_TABLE',
      'TIERLOG_OBJECTS_TABLE',
      'TIERLOG_BUCKET',
    ]) {
      expect(env[name], name).toBeTruthy();
    }
    // As a shell that runs the printed lines sets it (neither its quotes stripped nor its braces expanded).
    expect(env['TIERLOG_HV_ATTRIBUTES']).toBe(HV_ATTRIBUTES);
    const status = await new Promise<{ code: number | null; out: string }>((resolve) => {
      // The shell the integrator pastes the lines into, AWS_PROFILE set in it.
      const shell: Record<string, string | undefined> = { ...process.env, AWS_PROFILE: NO_SUCH_PROFILE, ...env };
      for (const name of dev.unset) delete shell[name];
      const cli = spawn(process.execPath, ['bin/tierlog.js', 'status', '--json'], {
        cwd: ROOT,
        env: shell,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      cli.stdout.on('data', (c: Buffer) => (out += c.toString()));
      cli.stderr.on('data', (c: Buffer) => process.stderr.write(c));
      cli.once('close', (code) => resolve({ code, out }));
    });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toBeTypeOf('object');
  }, 60_000);

  it('stops everything on Ctrl-C and exits 0, even once the reader of its output has gone (a terminal closed, | head)', async () => {
    // What it says from now on ("stopping") meets a closed pipe (EPIPE): dropped, never a crash.
    dev.child.stdout!.destroy();
    expect(await dev.stop()).toBe(0);
    await expect(fetch(`${url}/objects/greeting`)).rejects.toThrow();
    await expect(fetch(`${env['AWS_ENDPOINT_URL_S3']}/`)).rejects.toThrow();
  }, 60_000);
});
