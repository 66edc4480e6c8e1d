/**
 * The real binary, end to end: `node bin/tierlog.js ...` in a child process, configured only
 * through its environment (the local stack's AWS_ENDPOINT_URL_* from the global setup, plus the
 * fixture's TIERLOG_* variables).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { configToEnv } from '../../lib/config.js';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { newChangeId } from '../../lib/ids.js';
import { newBlobKey } from '../../lib/tiered/blob-keys.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { putRawInstance, rawEntry } from './helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tierlog.js', import.meta.url));

/** An AWS_PROFILE naming no profile, and no other source of credentials the SDK would read (files, metadata, containers, web identity). */
const NO_SUCH_PROFILE = {
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: 'tierlog-test-no-such-profile',
  AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/tierlog-test-credentials',
  AWS_CONFIG_FILE: '/nonexistent/tierlog-test-config',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: undefined,
  AWS_CONTAINER_CREDENTIALS_FULL_URI: undefined,
  AWS_WEB_IDENTITY_TOKEN_FILE: undefined,
};
let fx: Fixture;
let log: DynamoChangeLog;
let dead: string;

/**
 * Runs the binary; `closedStdout`: its reader goes at once (as `| head -1` goes after a line);
 * `closedStderr`: stderr's too (as `2>&1 | head -1`).
 */
function run(
  args: string[],
  env: Record<string, string | undefined> = {},
  closedStdout = false,
  closedStderr = false,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...configToEnv(fx.config), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (closedStdout) child.stdout.destroy();
    if (closedStderr) child.stderr.destroy();
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out, err }));
  });
}

beforeAll(async () => {
  fx = await freshFixture();
  log = new DynamoChangeLog({ config: fx.config, dynamodb: fx.dynamodb, renewInBackground: false });
  await log.record(newChangeId(), { id: 'a', new: newBlobKey(fx.config.prefix, 'a') });
  dead = await putRawInstance(fx, { leaseUntil: Date.now() - 10 * 60_000, entries: { [newChangeId()]: rawEntry('b', {}) } });
});

afterAll(() => log.close());

describe('bin/tierlog.js', () => {
  test('status --json', async () => {
    const { code, out, err } = await run(['status', '--json']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report).toMatchObject({
      table: fx.config.changeLogTable,
      instances: { total: 2, live: 1, expired: 1, claimed: 0 },
      entries: { outstanding: 2 },
      oldestExpiredInstance: dead,
      corruptItems: [],
    });
  });

  test('exit codes: usage 2, failure 1, help 0', async () => {
    const young = await run(['audit', '--older-than', '30m']);
    expect(young.code).toBe(2);
    expect(young.err).toContain('at least 1h');
    const missing = await run(['status'], { TIERLOG_CHANGELOG_TABLE: 'no-such-table' });
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('table "no-such-table" does not exist');
    // No region anywhere (no variable, no profile): a configuration error naming what to set.
    const noRegion = await run(['status'], {
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
      AWS_PROFILE: undefined,
      AWS_CONFIG_FILE: '/nonexistent/tierlog-test-config',
    });
    expect(noRegion.code).toBe(2);
    expect(noRegion.err).toContain('tierlog: configuration: no AWS region: set AWS_REGION');
    const help = await run(['--help'], { TIERLOG_BUCKET: undefined });
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: tierlog');
  });

  test('no AWS credentials (AWS_PROFILE naming no profile, no keys): a configuration error naming what to set, exit 2, as JSON too', async () => {
    const none = { ...NO_SUCH_PROFILE, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined };
    for (const args of [['status'], ['sweep', '--dry-run'], ['audit']]) {
      const run1 = await run(args, none);
      expect(run1.code, args.join(' ')).toBe(2);
      expect(run1.err, args.join(' ')).toContain('tierlog: configuration: no AWS credentials');
      expect(run1.err, args.join(' ')).toContain('AWS_PROFILE');
      expect(run1.err, args.join(' ')).not.toContain('CredentialsProviderError');
    }
    const json = await run(['status', '--json'], none);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({
      error: { name: 'ConfigError', message: expect.stringMatching(/^no AWS credentials/), exitCode: 2 },
    });
    // No region: the JSON error is the configuration error stderr says, not the SDK's bare one.
    const noRegion = await run(['status', '--json'], {
      AWS_REGION: undefined,
      AWS_DEFAULT_REGION: undefined,
      AWS_PROFILE: undefined,
      AWS_CONFIG_FILE: '/nonexistent/tierlog-test-config',
    });
    expect(noRegion.code).toBe(2);
    expect(JSON.parse(noRegion.out)).toMatchObject({ error: { name: 'ConfigError', message: expect.stringMatching(/^no AWS region/) } });
  }, 60_000);

  test('AWS_PROFILE naming no profile beside keys the SDK then does not read: the error says AWS_PROFILE hides them, not to set the keys that are set', async () => {
    const { code, out, err } = await run(['status', '--json'], {
      ...NO_SUCH_PROFILE,
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
    });
    expect(code).toBe(2);
    const { message } = JSON.parse(out).error as { message: string };
    // Before: "set AWS_PROFILE to a profile that has them ..., or AWS_ACCESS_KEY_ID and
    // AWS_SECRET_ACCESS_KEY", both set, the keys read by the aws CLI and passed over by the SDK.
    expect(message).toMatch(/^no AWS credentials \(.*\): AWS_PROFILE is "tierlog-test-no-such-profile"/);
    expect(message).toContain('unset AWS_PROFILE to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    expect(err).toContain(`tierlog: configuration: ${message}`);
  }, 60_000);

  test('an empty AWS_REGION (export AWS_REGION=$UNSET) or an endpoint variable that is no URL: a configuration error naming it, exit 2', async () => {
    for (const [env, named] of [
      [{ AWS_REGION: '' }, /^tierlog: configuration: AWS region "" is not a region: set AWS_REGION/m],
      [
        { AWS_ENDPOINT_URL_DYNAMODB: 'localhost-8000' },
        /^tierlog: configuration: AWS_ENDPOINT_URL_DYNAMODB "localhost-8000" is not a URL/m,
      ],
      [{ AWS_ENDPOINT_URL_S3: 'localhost-9000' }, /^tierlog: configuration: AWS_ENDPOINT_URL_S3 "localhost-9000" is not a URL/m],
      // The scheme left out: `new URL` reads "localhost:" as one, so the SDK sent DynamoDB's request
      // elsewhere (an "UnknownError" of whatever answered, exit 1) and refused S3's naming no variable.
      [
        { AWS_ENDPOINT_URL_DYNAMODB: 'localhost:8000' },
        /^tierlog: configuration: AWS_ENDPOINT_URL_DYNAMODB "localhost:8000" is not a URL/m,
      ],
      [{ AWS_ENDPOINT_URL_S3: 'localhost:9000' }, /^tierlog: configuration: AWS_ENDPOINT_URL_S3 "localhost:9000" is not a URL/m],
      [
        { AWS_ENDPOINT_URL_S3: '', AWS_ENDPOINT_URL: '127.0.0.1:9000' },
        /^tierlog: configuration: AWS_ENDPOINT_URL "127.0.0.1:9000" is not a URL/m,
      ],
    ] as const) {
      const args = env.AWS_ENDPOINT_URL_S3 !== undefined ? ['audit', '--json'] : ['status', '--json'];
      const ran = await run(args, env);
      expect(ran.code, JSON.stringify(env)).toBe(2);
      expect(ran.err, JSON.stringify(env)).toMatch(named);
      expect(JSON.parse(ran.out)).toMatchObject({ error: { name: 'ConfigError', exitCode: 2 } });
    }
  }, 60_000);

  test("AWS_DEFAULT_REGION (the aws CLI's) beside a profile's region: the SDK reads the profile's, and the CLI says so, where the runbook's aws commands go elsewhere", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierlog-region-'));
    try {
      // The profile's region is the one the fixture's tables are in; the shell's AWS_DEFAULT_REGION another.
      const config = join(dir, 'config');
      writeFileSync(config, '[default]\nregion = us-east-1\n');
      const shell = { AWS_REGION: undefined, AWS_PROFILE: undefined, AWS_CONFIG_FILE: config, AWS_DEFAULT_REGION: 'eu-west-1' };
      const status = await run(['status', '--json'], shell);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.out)).toMatchObject({ table: fx.config.changeLogTable });
      expect(status.err).toContain(
        'tierlog: warning: AWS_DEFAULT_REGION is "eu-west-1", which the AWS SDK does not read (the aws CLI does): ' +
          "this command's requests go to us-east-1 (AWS_REGION unset: the profile's region), the aws CLI's to eu-west-1",
      );
      // No region but AWS_DEFAULT_REGION: the refusal, and the variable that does not set it.
      const none = await run(['status'], { ...shell, AWS_CONFIG_FILE: join(dir, 'none') });
      expect(none.code).toBe(2);
      expect(none.err).toContain('tierlog: warning: AWS_DEFAULT_REGION is "eu-west-1", which the AWS SDK does not read (the aws CLI does)');
      expect(none.err).toContain('tierlog: configuration: no AWS region: set AWS_REGION');
      // The same region, or AWS_REGION set (which both read first): no word.
      for (const env of [
        { ...shell, AWS_DEFAULT_REGION: 'us-east-1' },
        { ...shell, AWS_REGION: 'us-east-1' },
      ]) {
        const quiet = await run(['status', '--json'], env);
        expect(quiet.code).toBe(0);
        expect(quiet.err).toBe('');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("AWS_DEFAULT_PROFILE (the aws CLI's) without AWS_PROFILE: the SDK runs on the default profile, and the CLI says so, where the runbook's aws commands go with the named one", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tierlog-profile-'));
    try {
      // The default profile holds the local stack's keys and region; the named one, what the aws CLI would use.
      const credentials = join(dir, 'credentials');
      const keys = `aws_access_key_id = ${process.env.AWS_ACCESS_KEY_ID}\naws_secret_access_key = ${process.env.AWS_SECRET_ACCESS_KEY}\n`;
      writeFileSync(credentials, `[default]\n${keys}[ops]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n`);
      const config = join(dir, 'config');
      writeFileSync(config, '[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-1\n');
      const shell = {
        ...NO_SUCH_PROFILE,
        AWS_PROFILE: undefined,
        AWS_SHARED_CREDENTIALS_FILE: credentials,
        AWS_CONFIG_FILE: config,
        AWS_ACCESS_KEY_ID: undefined,
        AWS_SECRET_ACCESS_KEY: undefined,
        AWS_REGION: undefined,
        AWS_DEFAULT_REGION: undefined,
        AWS_DEFAULT_PROFILE: 'ops',
      };
      const status = await run(['status', '--json'], shell);
      expect(status.code).toBe(0);
      expect(JSON.parse(status.out)).toMatchObject({ table: fx.config.changeLogTable });
      expect(status.err).toContain(
        'tierlog: warning: AWS_DEFAULT_PROFILE is "ops", which the AWS SDK does not read (the aws CLI does): ' +
          "this command's requests go with the default profile's credentials and region, the aws CLI's with profile ops's",
      );
      // The default profile named, AWS_PROFILE set (which both read first), or keys set (read first by both): no word.
      for (const env of [
        { ...shell, AWS_DEFAULT_PROFILE: 'default' },
        { ...shell, AWS_PROFILE: 'default' },
        { ...shell, AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY },
      ]) {
        const quiet = await run(['status', '--json'], env);
        expect(quiet.code).toBe(0);
        expect(quiet.err).toBe('');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  test("a reader that closes the pipe early (| head) ends no command in a crash: the output is dropped, the exit code is the command's", async () => {
    for (const args of [['status'], ['status', '--json'], ['inspect', dead], ['inspect', dead, '--json']]) {
      const { code, err } = await run(args, {}, true);
      expect(err, args.join(' ')).toBe('');
      expect(code, args.join(' ')).toBe(0);
    }
    // An error said to a closed stdout (--json) is still said on stderr, with its exit code.
    const missing = await run(['status', '--json'], { TIERLOG_CHANGELOG_TABLE: 'no-such-table' }, true);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('table "no-such-table" does not exist');
    expect(missing.err).not.toContain('EPIPE');
    // `2>&1 | head -1`: stderr goes with stdout, and what the command says there (a warning) is dropped too.
    for (const args of [['status'], ['status', '--json']]) {
      const both = await run(args, { TIERLOG_LEASE_SHARD: '8' }, true, true);
      expect(both.code, args.join(' ')).toBe(0);
    }
  }, 60_000);
});
