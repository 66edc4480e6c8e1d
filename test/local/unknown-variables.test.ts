/**
 * A `TIERLOG_*` variable no entry point reads is a misspelling until shown otherwise, and the
 * setting it meant keeps its default: `TIERLOG_LEASE_SHARD=8` leaves a sweeper on 4 shards,
 * blind to the instances of writers on 8. Every entry point says so once, at its start, in its
 * own log (the library as a process warning, the handlers in their logger, the CLI on stderr),
 * with the variable it likely meant; none refuses to start over it. The list of known variables
 * is every variable the code reads, so a new setting is never warned of as unknown.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../lib/cli/program.js';
import {
  CONFIG_ENV,
  loadConfig,
  TIERLOG_VARIABLES,
  type TierlogConfig,
  UNKNOWN_VARIABLE_WARNING,
  unknownVariables,
} from '../../lib/config.js';
import { ConfigError } from '../../lib/errors.js';
import { createObjectsHandler } from '../../lib/handlers/objects.js';
import { createObjectsStreamHandler } from '../../lib/handlers/objects-stream.js';
import { createSweeperHandler } from '../../lib/handlers/sweeper.js';
import { SWEEPER_ENV, UNSAFE_SHORT_WINDOWS_ENV } from '../../lib/recovery/sweeper-env.js';
import { refusal } from '../support/refusal.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const base = { TIERLOG_CHANGELOG_TABLE: 'tierlog-changelog', TIERLOG_OBJECTS_TABLE: 'tierlog-objects', TIERLOG_BUCKET: 'tierlog-blobs' };
const config: TierlogConfig = { changeLogTable: 'cl-1', objectsTable: 'ob-1', bucket: 'bk-1', prefix: 'blobs', leaseShards: 4 };

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((f) => {
    const path = `${dir}/${f}`;
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return f.endsWith('.ts') ? [path] : [];
  });
}

describe('unknownVariables', () => {
  it('knows every TIERLOG_* variable the code reads (lib/, functions/) and the construct sets (infra/)', () => {
    const read = new Set(
      [...sources('lib'), ...sources('functions'), ...sources('infra')].flatMap((f) =>
        [...readFileSync(join(root, f), 'utf8').matchAll(/'(TIERLOG_[A-Z0-9_]+)'/g)].map((m) => m[1]!),
      ),
    );
    expect(read.size).toBeGreaterThan(20);
    expect([...read].filter((v) => !TIERLOG_VARIABLES.includes(v))).toEqual([]);
    expect(unknownVariables(Object.fromEntries(TIERLOG_VARIABLES.map((v) => [v, '1'])))).toEqual([]);
  });

  it.each([
    ['TIERLOG_LEASE_SHARD', 'TIERLOG_LEASE_SHARDS'],
    ['TIERLOG_HV_ATTRIBUTE', 'TIERLOG_HV_ATTRIBUTES'],
    ['TIERLOG_CHANGE_LOG_TABLE', 'TIERLOG_CHANGELOG_TABLE'],
    ['TIERLOG_PREFX', 'TIERLOG_PREFIX'],
    ['tierlog_prefix', 'TIERLOG_PREFIX'],
    ['TIERLOG_SWEEPER_CONCURRENCY', 'TIERLOG_SWEEP_CONCURRENCY'],
    ['TIERLOG_STREAM_DEADLINE_MARGIN', 'TIERLOG_STREAM_DEADLINE_MARGIN_MS'],
    ['TIERLOG_REPLACED_BLOBS_CLEANUP', 'TIERLOG_REPLACED_BLOB_CLEANUP'],
    ['TIERLOG_INLINE_TRESHOLD', 'TIERLOG_INLINE_THRESHOLD'],
  ])('%s: unknown, did you mean %s', (variable, meant) => {
    const [unknown] = unknownVariables({ ...base, [variable]: '8' });
    expect(unknown).toEqual({ variable, didYouMean: meant, message: expect.stringContaining(`did you mean ${meant}?`) });
    expect(unknown!.message).toMatch(new RegExp(`^${variable} is not a variable tierlog reads: ignored`));
  });

  it('a name near none of them is unknown with no guess; variables of others are not looked at', () => {
    expect(unknownVariables({ ...base, TIERLOG_OWNER: 'team-a', HOME: '/root', AWS_REGION: 'x' })).toEqual([
      { variable: 'TIERLOG_OWNER', message: 'TIERLOG_OWNER is not a variable tierlog reads: ignored (README.md lists the variables)' },
    ]);
  });
});

describe('every entry point warns once at its start, and starts', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    vi.restoreAllMocks();
  });

  it('loadConfig (a writer of your own): a process warning, once per variable, and the configuration as without it', async () => {
    const warnings: Error[] = [];
    const listener = (w: Error) => warnings.push(w);
    process.on('warning', listener);
    try {
      const env = { ...base, TIERLOG_LEASE_SHARDZ: '8' };
      expect(loadConfig(env)).toEqual(loadConfig(base));
      loadConfig(env);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listener);
    }
    const ours = warnings.filter((w) => (w as Error & { code?: string }).code === UNKNOWN_VARIABLE_WARNING);
    expect(ours.map((w) => w.message)).toEqual([
      'TIERLOG_LEASE_SHARDZ is not a variable tierlog reads: ignored (did you mean TIERLOG_LEASE_SHARDS?)',
    ]);
    expect(ours[0]!.name).toBe('TierlogWarning');
  });

  /** A handler factory built with `TIERLOG_LEASE_SHARD=8` in the environment: its logger's warnings. */
  function warningsOf(build: (logger: Logger) => unknown): unknown[][] {
    process.env.TIERLOG_LEASE_SHARD = '8';
    const logger = new Logger({ serviceName: 'test', logLevel: 'CRITICAL' });
    const warn = vi.spyOn(logger, 'warn');
    build(logger);
    return warn.mock.calls;
  }
  const expected = [
    'TIERLOG_LEASE_SHARD is not a variable tierlog reads: ignored (did you mean TIERLOG_LEASE_SHARDS?)',
    { variable: 'TIERLOG_LEASE_SHARD', didYouMean: 'TIERLOG_LEASE_SHARDS' },
  ];

  it.each([
    ['createSweeperHandler', (logger: Logger) => createSweeperHandler({ config, logger })],
    ['createObjectsStreamHandler', (logger: Logger) => createObjectsStreamHandler({ config, logger })],
    ['createObjectsHandler', (logger: Logger) => createObjectsHandler({ config, logger })],
  ])('%s logs it in its logger', (_name, build) => {
    expect(warningsOf(build)).toEqual([expected]);
  });

  it('the CLI writes it on stderr before the command runs (stdout stays the report)', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['--json', 'sweep', '--shards', '9'], {
      env: { ...base, TIERLOG_LEASE_SHARD: '8', AWS_REGION: 'us-east-1' },
      io: { stdout: { write: (s: string) => out.push(s) > 0 }, stderr: { write: (s: string) => err.push(s) > 0 } },
    });
    expect(code).toBe(2); // shard 9 of 4: a usage error, after the warning
    expect(err.join('')).toContain(
      'tierlog: warning: TIERLOG_LEASE_SHARD is not a variable tierlog reads: ignored (did you mean TIERLOG_LEASE_SHARDS?)\n',
    );
    expect(JSON.parse(out.join(''))).toMatchObject({ error: { exitCode: 2 } });
  });

  it('tierlog --help says so, and names every variable the CLI reads', async () => {
    const out: string[] = [];
    await runCli(['--help'], { env: {}, io: { stdout: { write: (s: string) => out.push(s) > 0 }, stderr: { write: () => true } } });
    const help = out.join('');
    expect(help).toContain('one no tierlog entry point reads with a warning on stderr naming\n  the one it likely meant');
    for (const name of [...Object.values(CONFIG_ENV), ...Object.values(SWEEPER_ENV), UNSAFE_SHORT_WINDOWS_ENV])
      expect(help).toContain(name);
  });

  it("the snapshot audit's function logs it at init", async () => {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [join(root, 'node_modules/tsx/dist/cli.mjs'), join(root, 'functions/snapshot-audit.ts')],
      {
        cwd: root,
        env: {
          ...process.env,
          ...base,
          AWS_REGION: 'us-east-1',
          TIERLOG_SNAPSHOT_OLDER_THAN_MS: '86400000',
          TIERLOG_SNAPSHOT_DELET: 'true',
          POWERTOOLS_METRICS_DISABLED: 'true',
          POWERTOOLS_LOG_LEVEL: 'INFO',
        },
      },
    );
    // Powertools writes a warning on stderr (console.warn).
    const lines = `${stdout}\n${stderr}`
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'WARN',
        message: 'TIERLOG_SNAPSHOT_DELET is not a variable tierlog reads: ignored (did you mean TIERLOG_SNAPSHOT_DELETE?)',
        variable: 'TIERLOG_SNAPSHOT_DELET',
      }),
    );
  });
});

describe('createObjectsHandler reads TIERLOG_INLINE_THRESHOLD as the other handlers read their tuning', () => {
  it('a bad value is refused, naming the variable, even when the option is given (which takes precedence)', () => {
    process.env.TIERLOG_INLINE_THRESHOLD = '64k';
    try {
      const err = refusal(() => createObjectsHandler({ config, inlineThreshold: 1024 }));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.setting).toBe('TIERLOG_INLINE_THRESHOLD');
    } finally {
      delete process.env.TIERLOG_INLINE_THRESHOLD;
    }
  });
});
