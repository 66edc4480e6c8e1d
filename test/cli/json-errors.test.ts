/**
 * `--json` is a promise to a script: stdout is one JSON document whatever happens. A run that
 * stops before its report (a usage error, a refused setting, a missing instance or table) prints
 * `{"error": {name, message, exitCode}}` there, its exit code the same, and the human message on
 * stderr as without `--json`; a run that printed its report prints nothing more on stdout.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { runCli } from '../../lib/cli/program.js';
import { configToEnv } from '../../lib/config.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { putDeadInstance } from '../tiered/harness.js';
import { capture, cli } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});

/** A DynamoDB client of the local stack that calls `act` as the first `command` request goes out. */
function atFirst(command: string, act: () => void) {
  return new FaultInjector()
    .add({ kind: 'delay', delayMs: 0, times: 1, match: (r) => r.command === command, before: async () => act() })
    .attach(createDynamoDBClient(), 'dynamodb');
}

/** `tierlog <argv> --json` on `fx`'s configuration with `variables` set in the process's environment (where the SDK reads them) for the run. */
async function jsonRunWith(
  fx: Fixture,
  argv: readonly string[],
  variables: Readonly<Record<string, string>>,
): Promise<{ c: ReturnType<typeof capture>; code: number }> {
  for (const [name, value] of Object.entries(variables)) vi.stubEnv(name, value);
  const c = capture();
  try {
    return { c, code: await runCli([...argv, '--json'], { io: c.io, env: configToEnv(fx.config) }) };
  } finally {
    vi.unstubAllEnvs();
  }
}

describe('--json on error', () => {
  test.each([
    ['an unknown option', ['status', '--json', '--bogus'], {}, 2, 'UsageError', /unknown option '--bogus'/],
    ['a duration without a unit', ['audit', '--older-than', '5', '--json'], {}, 2, 'UsageError', /invalid duration "5"/],
    ['a safety age under the floor', ['--json', 'audit', '--older-than', '10m'], {}, 2, 'UsageError', /at least 1h/],
    [
      '--empty-store-ok without --delete',
      ['audit', '--empty-store-ok', '--json'],
      {},
      2,
      'UsageError',
      /--empty-store-ok goes with --delete/,
    ],
    // One without the other is a snapshot audit half asked for, never a listing audit (with its deletes) instead.
    [
      '--inventory without --export',
      ['audit', '--inventory', 'm.json', '--delete', '--json'],
      {},
      2,
      'UsageError',
      /--export <dir> go together/,
    ],
    [
      '--export without --inventory',
      ['audit', '--export', 'exports', '--delete', '--json'],
      {},
      2,
      'UsageError',
      /--export <dir> go together/,
    ],
    // `--inventory=$MANIFEST` with the variable unset: the path of the current folder was read as
    // the manifest (exit 1, naming the folder, not the option), and an empty --export searched it.
    ['an empty --inventory', ['audit', '--inventory=', '--export', 'exports', '--json'], {}, 2, 'UsageError', /--inventory is empty/],
    ['an empty --export', ['audit', '--inventory', 'm.json', '--export=', '--delete', '--json'], {}, 2, 'UsageError', /--export is empty/],
    ['a shard that does not exist', ['sweep', '--shards', '9', '--json'], {}, 2, 'UsageError', /shard 9 does not exist/],
    ['a missing instance', ['inspect', 'no-such-instance', '--json'], {}, 1, 'CommandFailedError', /is not in/],
    ['a missing variable', ['status', '--json'], { TIERLOG_BUCKET: '' }, 2, 'ConfigError', /TIERLOG_BUCKET is not set/],
    ['a missing table', ['status', '--json'], { TIERLOG_CHANGELOG_TABLE: 'no-such-table' }, 1, 'ResourceMissingError', /no-such-table/],
  ])('%s: stdout is a JSON error with the exit code', async (_name, argv, env, code, name, message) => {
    const run = await cli(fx, argv as string[], { env: env as Record<string, string> });
    expect(run.code).toBe(code);
    const parsed = JSON.parse(run.out) as { error: { name: string; message: string; exitCode: number } };
    expect(parsed.error.exitCode).toBe(code);
    // A bad option is a UsageError whoever refused it (commander or tierlog), its message without commander's "error: ".
    expect(parsed.error.name).toBe(name);
    expect(parsed.error.message).toMatch(message);
    expect(parsed.error.message).not.toMatch(/^error: /);
    expect(run.err).toMatch(message);
    // On stderr, the message as it is: after commander's "error: " or tierlog's "tierlog: " (and "configuration: "), no error class.
    const said = run.err.split('\n').find((line) => line.includes(parsed.error.message));
    expect(said).toMatch(
      new RegExp(`^(error: |tierlog: (configuration: )?)${parsed.error.message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });

  test('without --json stdout stays empty; a successful --json run prints only its report; --help is not an error', async () => {
    const plain = await cli(fx, ['inspect', 'no-such-instance']);
    expect(plain.code).toBe(1);
    expect(plain.out).toBe('');
    const ok = await cli(fx, ['status', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ table: fx.config.changeLogTable });
    expect(ok.out).not.toContain('"error"');
    const release = (await import('../../package.json', { with: { type: 'json' } })).default.version;
    const version = await cli(fx, ['--version']);
    expect(version).toMatchObject({ code: 0, out: `${release}\n` });
    // A script that asks every command for JSON meets JSON here too, not a bare version it cannot parse.
    for (const argv of [
      ['--json', '--version'],
      ['-V', '--json'],
    ]) {
      const asJson = await cli(fx, argv);
      expect(asJson.code, argv.join(' ')).toBe(0);
      expect(JSON.parse(asJson.out), argv.join(' ')).toEqual({ name: 'tierlog', version: release });
    }
    // No command: the help goes to stderr (exit 2), and the JSON error says what was missing, not commander's placeholder.
    for (const argv of [['--json'], ['help', 'no-such-command', '--json']]) {
      const none = await cli(fx, argv);
      expect(none.code, argv.join(' ')).toBe(2);
      expect(none.err, argv.join(' ')).toContain('Usage: tierlog');
      const parsed = JSON.parse(none.out) as { error: { name: string; message: string; exitCode: number } };
      expect(parsed.error, argv.join(' ')).toEqual({
        name: 'UsageError',
        message: expect.stringMatching(/^no command given: status, sweep .*, audit, inspect <instance>/),
        exitCode: 2,
      });
    }
    // The help's exit codes are all of them: a script run with `audit --exit-code` meets 3.
    const usage = await cli(fx, ['--help']);
    expect(usage.code).toBe(0);
    expect(usage.out).toMatch(
      /^Exit codes: 0 ok, 1 failure, 2 usage or configuration error, 3 findings left for a person \(audit --exit-code\),\s+130 interrupted/m,
    );
    // A script that runs `tierlog status` under a timeout meets 130 too: the first Ctrl-C or SIGTERM quits it.
    expect(usage.out).toMatch(
      /130 interrupted \(Ctrl-C or SIGTERM: audit and sweep stop at a safe point and report; status and inspect quit at once\)/,
    );
    const help = await cli(fx, ['status', '--help', '--json']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: tierlog status');
    // An operand after "--" is not the option.
    const operand = await cli(fx, ['inspect', '--', '--json']);
    expect(operand.code).toBe(1);
    expect(operand.out).toBe('');
  });
});

describe('an endpoint variable naming a server that is not the service', () => {
  /**
   * The local stack's two endpoints swapped (`AWS_ENDPOINT_URL_DYNAMODB` set to the S3 server's
   * port, as a copy from the wrong line does), or a port another HTTP server answers on: the answer
   * is no AWS service's, and the command failed with the SDK's parse error, exit 1, naming neither
   * the endpoint nor the variable ("SyntaxError: Unexpected token 'N', "Not Found" is not valid
   * JSON ... inspect the hidden field {error}.$response"). It is a configuration error naming the
   * variable, its value and the answer's status, exit 2, before anything was done.
   */
  test.each([
    ['status', ['status'], 'AWS_ENDPOINT_URL_DYNAMODB'],
    ['inspect', ['inspect', 'some-instance'], 'AWS_ENDPOINT_URL_DYNAMODB'],
    ['audit (the bucket listed first)', ['audit'], 'AWS_ENDPOINT_URL_S3'],
  ] as const)('%s with the two endpoints swapped: exit 2 naming the variable', async (_name, argv, variable) => {
    const fx = await freshFixture();
    const dynamodbUrl = process.env.AWS_ENDPOINT_URL_DYNAMODB!;
    const s3Url = process.env.AWS_ENDPOINT_URL_S3!;
    const { c, code } = await jsonRunWith(fx, [...argv], { AWS_ENDPOINT_URL_DYNAMODB: s3Url, AWS_ENDPOINT_URL_S3: dynamodbUrl });
    const wrong = variable === 'AWS_ENDPOINT_URL_DYNAMODB' ? s3Url : dynamodbUrl;
    expect(code, c.err()).toBe(2);
    const error = (JSON.parse(c.out()) as { error: { name: string; message: string; exitCode: number } }).error;
    expect(error).toMatchObject({ name: 'ConfigError', exitCode: 2 });
    expect(error.message).toContain(`${variable} "${wrong}"`);
    expect(error.message).toMatch(/HTTP \d{3}/);
    expect(c.err()).toContain(`tierlog: configuration: ${error.message}`);
    expect(c.err()).not.toMatch(/hidden field|\$response/);
  });
});

describe('an endpoint variable naming a server that is not the service, answering without a body', () => {
  test("status with AWS_ENDPOINT_URL_DYNAMODB at another server's port (a bodiless 404): exit 2 naming each endpoint variable set", async () => {
    const fx = await freshFixture();
    // Another HTTP server on the port (a dev server, a proxy): a 404 with no body, no AWS error in it.
    const server = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const other = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { c, code } = await jsonRunWith(fx, ['status'], { AWS_ENDPOINT_URL_DYNAMODB: other, AWS_MAX_ATTEMPTS: '1' }).finally(() =>
      server.close(),
    );
    expect(code, c.err()).toBe(2);
    const error = (JSON.parse(c.out()) as { error: { name: string; message: string } }).error;
    expect(error.name).toBe('ConfigError');
    expect(error.message).toContain(`AWS_ENDPOINT_URL_DYNAMODB "${other}"`);
    expect(error.message).toContain(`AWS_ENDPOINT_URL_S3 "${process.env.AWS_ENDPOINT_URL_S3}"`);
    expect(error.message).toContain('HTTP 404');
  });
});

describe('an endpoint variable naming a port nothing listens on', () => {
  test.each([
    ['status', ['status'], 'AWS_ENDPOINT_URL_DYNAMODB'],
    ['audit (the bucket listed first)', ['audit'], 'AWS_ENDPOINT_URL_S3'],
  ] as const)(
    '%s, its endpoint variable left from a local stack that is not running: exit 2 naming it, not a bare ECONNREFUSED',
    async (_name, argv, variable) => {
      const fx = await freshFixture();
      // A port just freed: nothing listens there (the local stack of another session, stopped).
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const { c, code } = await jsonRunWith(fx, [...argv], { [variable]: closed, AWS_MAX_ATTEMPTS: '1' });
      // Before: "Error: connect ECONNREFUSED 127.0.0.1:<port>", exit 1, naming no variable.
      expect(code, c.err()).toBe(2);
      const error = (JSON.parse(c.out()) as { error: { name: string; message: string } }).error;
      expect(error.name).toBe('ConfigError');
      expect(error.message).toContain(`${variable} "${closed}"`);
      expect(error.message).toContain('ECONNREFUSED');
      expect(c.err()).toContain(`tierlog: configuration: ${error.message}`);
    },
  );
});

describe("an embedding program's own signal", () => {
  /**
   * `runCli(argv, { signal })` without `io` (a job runner or a daemon that stops its runs with its
   * own signal and prints to its own stdout): `sweep` and `audit` take that signal and leave the
   * process's alone, but `status` and `inspect` took SIGINT and SIGTERM for the run and quit at the
   * first with `process.exit(130)`: a SIGTERM to the host (a deploy's rolling restart) while a
   * status read the table ended the host at once, its own graceful shutdown preempted. They take
   * none of the process's signals when the caller gives its own, as sweep and audit.
   */
  test.each([
    ['status', ['status'], 'ScanCommand'],
    ['inspect', ['inspect', 'no-such-instance'], 'GetItemCommand'],
  ] as const)(
    '%s takes no SIGINT or SIGTERM of the host: a SIGTERM to it during the run does not end the host',
    async (_name, argv, command) => {
      const fx = await freshFixture();
      const before = { SIGINT: new Set(process.listeners('SIGINT')), SIGTERM: new Set(process.listeners('SIGTERM')) };
      const taken: string[] = [];
      const dynamodb = atFirst(command, () => {
        // The host is sent SIGTERM (then SIGINT) mid-run: the handlers tierlog took for it are called.
        for (const signal of ['SIGTERM', 'SIGINT'] as const) {
          for (const listener of process.listeners(signal)) {
            if (before[signal].has(listener)) continue;
            taken.push(signal);
            listener(signal);
          }
        }
      });
      let out = '';
      const exits: unknown[] = [];
      const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
      const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      const exit = vi.spyOn(process, 'exit').mockImplementation((code) => (exits.push(code), undefined) as never);
      let code: number;
      try {
        code = await runCli([...argv, '--json'], {
          env: configToEnv(fx.config),
          dynamodb,
          s3: fx.s3,
          signal: new AbortController().signal,
        });
      } finally {
        stdout.mockRestore();
        stderr.mockRestore();
        exit.mockRestore();
        dynamodb.destroy();
      }
      expect(taken).toEqual([]);
      expect(exits).toEqual([]);
      // The command ran to its end: its own report (or error) is stdout's one document.
      expect(code).toBe(argv[0] === 'status' ? 0 : 1);
      expect(JSON.parse(out)).not.toHaveProperty('error.name', 'InterruptedError');
    },
  );
});

describe('--json when a signal quits the real process at once', () => {
  /**
   * `tierlog <argv> --json` as the real process runs it (its own stdout, stderr and signals), the
   * signal sent `times` times as the first request `command` goes out: the handlers tierlog took
   * for the run are called (never the test runner's own), and `process.exit` is recorded with
   * stdout as it was then. Before, a signal that quits at once left stdout empty.
   */
  async function quitBy(argv: string[], command: string, signal: 'SIGINT' | 'SIGTERM', times: number) {
    const fx = await freshFixture();
    await putDeadInstance(fx, { fenced: true });
    const before = new Set(process.listeners(signal));
    const dynamodb = atFirst(command, () => {
      for (let i = 0; i < times; i++) {
        for (const listener of process.listeners(signal)) if (!before.has(listener)) listener(signal);
      }
    });
    let out = '';
    const exits: Array<{ code: unknown; out: string }> = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => (exits.push({ code, out }), undefined) as never);
    try {
      await runCli([...argv, '--json'], { env: configToEnv(fx.config), dynamodb, s3: fx.s3 });
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      exit.mockRestore();
      dynamodb.destroy();
    }
    return exits;
  }

  test.each([
    ['a second Ctrl-C of a sweep', ['sweep'], 'UpdateItemCommand', 'SIGINT', 2],
    ['a second SIGTERM of a sweep', ['sweep'], 'UpdateItemCommand', 'SIGTERM', 2],
    ['a Ctrl-C of status', ['status'], 'ScanCommand', 'SIGINT', 1],
    ['a SIGTERM of status', ['status'], 'ScanCommand', 'SIGTERM', 1],
    ['a Ctrl-C of inspect', ['inspect', 'no-such-instance'], 'GetItemCommand', 'SIGINT', 1],
  ] as const)('%s: exit 130 with the JSON error on stdout', async (_name, argv, command, signal, times) => {
    const exits = await quitBy([...argv], command, signal, times);
    expect(exits.map((e) => e.code)).toEqual([130]);
    expect(JSON.parse(exits[0]!.out)).toEqual({
      error: { name: 'InterruptedError', message: 'interrupted: quit at once, before a safe point', exitCode: 130 },
    });
  });
});
