/**
 * `--json` is a promise to a script: stdout is one JSON document whatever happens. A run that
 * stops before its report (a usage error, a refused setting, a missing instance or table) prints
 * `{"error": {name, message, exitCode}}` there, its exit code the same, and the human message on
 * stderr as without `--json`; a run that printed its report prints nothing more on stdout.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { type Fixture, freshFixture } from '../support/local.js';
import { cli } from './helpers.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});

describe('--json on error', () => {
  test.each([
    ['an unknown option', ['status', '--json', '--bogus'], {}, 2, /unknown option '--bogus'/],
    ['a duration without a unit', ['audit', '--older-than', '5', '--json'], {}, 2, /invalid duration "5"/],
    ['a safety age under the floor', ['--json', 'audit', '--older-than', '10m'], {}, 2, /at least 1h/],
    ['--empty-store-ok without --delete', ['audit', '--empty-store-ok', '--json'], {}, 2, /--empty-store-ok goes with --delete/],
    ['a shard that does not exist', ['sweep', '--shards', '9', '--json'], {}, 2, /shard 9 does not exist/],
    ['a missing instance', ['inspect', 'no-such-instance', '--json'], {}, 1, /is not in/],
    ['a missing variable', ['status', '--json'], { TIERLOG_BUCKET: '' }, 2, /TIERLOG_BUCKET is not set/],
    ['a missing table', ['status', '--json'], { TIERLOG_CHANGELOG_TABLE: 'no-such-table' }, 1, /no-such-table/],
  ])('%s: stdout is a JSON error with the exit code', async (_name, argv, env, code, message) => {
    const run = await cli(fx, argv as string[], { env: env as Record<string, string> });
    expect(run.code).toBe(code);
    const parsed = JSON.parse(run.out) as { error: { name: string; message: string; exitCode: number } };
    expect(parsed.error.exitCode).toBe(code);
    expect(parsed.error.message).toMatch(message);
    expect(run.err).toMatch(message);
  });

  test('without --json stdout stays empty; a successful --json run prints only its report; --help is not an error', async () => {
    const plain = await cli(fx, ['inspect', 'no-such-instance']);
    expect(plain.code).toBe(1);
    expect(plain.out).toBe('');
    const ok = await cli(fx, ['status', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out)).toMatchObject({ table: fx.config.changeLogTable });
    expect(ok.out).not.toContain('"error"');
    const help = await cli(fx, ['status', '--help', '--json']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: tierlog status');
    // An operand after "--" is not the option.
    const operand = await cli(fx, ['inspect', '--', '--json']);
    expect(operand.code).toBe(1);
    expect(operand.out).toBe('');
  });
});
