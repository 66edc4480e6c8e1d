/**
 * The bench's command line (bench/settings.ts): what a run is given is what it measures, and a
 * command line it cannot read is refused with the usage before the local stack starts, never run
 * as the nearest one it can (a typo in a size would otherwise run eight minutes of defaults).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { BenchArgsError, parseBenchArgs, STAGES, USAGE } from '../../bench/settings.js';

describe('parseBenchArgs', () => {
  test('no options: every stage, the full sizes, the stream cleanup the construct deploys', () => {
    const run = parseBenchArgs([]);
    expect(run.help).toBe(false);
    expect(run.json).toBeUndefined();
    expect([...run.only]).toEqual([...STAGES]);
    expect(run.settings).toMatchObject({
      quick: false,
      latencyRuns: 200,
      modelRuns: 200,
      recoveryInstances: 1000,
      scalingInstances: 300,
      coldStartRuns: 7,
      idleInstances: 10_000,
      writers: 100,
      opsPerWriter: 30,
      keys: 150,
      throttle: 0.05,
      modelDynamodbMs: 4,
      modelS3Ms: 25,
      replacedBlobCleanup: 'stream',
    });
    expect(run.settings.sweepConcurrency).toBeUndefined();
    expect(run.settings.coldStartNode).toBeUndefined();
  });

  test('--coldstart-node names the node the cold-start processes run: a binary that answers --version is taken', () => {
    expect(parseBenchArgs(['--coldstart-node', process.execPath]).settings.coldStartNode).toBe(process.execPath);
  });

  test('--quick picks the smaller sizes; a size given beside it wins', () => {
    const quick = parseBenchArgs(['--quick']).settings;
    expect(quick).toMatchObject({ quick: true, latencyRuns: 30, recoveryInstances: 100, opsPerWriter: 5, warmupRounds: 80 });
    expect(parseBenchArgs(['--quick', '--latency-runs', '500']).settings).toMatchObject({ latencyRuns: 500, modelRuns: 500 });
  });

  test('each option reaches its setting', () => {
    const run = parseBenchArgs([
      '--json',
      'out.json',
      '--only',
      'load, latency',
      '--sweep-concurrency',
      '64',
      '--throttle',
      '0',
      '--seed',
      '0',
      '--idle-instances',
      '1',
      '--model-dynamodb-ms',
      '0',
      '--model-s3-ms',
      '2.5',
      '--replaced-blob-cleanup',
      'log',
    ]);
    expect(run.json).toBe('out.json');
    expect([...run.only]).toEqual(['load', 'latency']);
    expect(run.settings).toMatchObject({
      sweepConcurrency: 64,
      throttle: 0,
      seed: 0,
      idleInstances: 1,
      modelDynamodbMs: 0,
      modelS3Ms: 2.5,
      replacedBlobCleanup: 'log',
    });
    expect(parseBenchArgs(['--help']).help).toBe(true);
  });

  const REFUSED: ReadonlyArray<[argv: string[], names: string]> = [
    [['--latency-run', '10'], "'--latency-run'"],
    [['extra'], "'extra'"],
    [['--writers', '2.5'], '--writers'],
    [['--writers', '0'], '--writers'],
    // The idle target, met on an empty table, would show nothing of a sweep that reads no live instance.
    [['--idle-instances', '0'], '--idle-instances'],
    [['--latency-runs', '-1'], '--latency-runs'],
    // One run of a ratio with an interval: its bootstrap interval is the ratio itself, a certainty it does not have.
    [['--latency-runs', '1'], '--latency-runs takes a whole number of at least 2'],
    [['--coldstart-runs', '1'], '--coldstart-runs takes a whole number of at least 2'],
    [['--recovery-instances', ''], '--recovery-instances'],
    [['--recovery-instances', '1e3x'], '--recovery-instances'],
    [['--coldstart-runs', 'Infinity'], '--coldstart-runs'],
    [['--seed', '-1'], '--seed'],
    [['--throttle', '1'], '--throttle'],
    [['--throttle', '-0.1'], '--throttle'],
    [['--throttle', 'NaN'], '--throttle'],
    [['--model-s3-ms', '-4'], '--model-s3-ms'],
    [['--model-dynamodb-ms', 'fast'], '--model-dynamodb-ms'],
    [['--only', 'lod'], '"lod"'],
    [['--only', 'load,'], '""'],
    [['--replaced-blob-cleanup', 'none'], '"none"'],
    [['--quick=yes'], '--quick'],
    // Written after every stage has run: a path it cannot write would lose the run's figures.
    [['--json', 'no-such-folder/results.json'], '"no-such-folder"'],
    [['--json', 'bench'], '"bench"'],
    [['--json', ''], '--json'],
    // Read when the cold-start stage starts, after every other stage: a wrong path is refused first.
    [['--coldstart-node', 'no-such-node'], '--coldstart-node'],
    [['--coldstart-node', 'package.json'], '"package.json"'],
    [['--coldstart-node', ''], '--coldstart-node'],
  ];
  test.each(REFUSED)('%j is refused, naming %s', (argv, names) => {
    let err: unknown;
    try {
      parseBenchArgs(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BenchArgsError);
    expect((err as Error).message).toContain(names);
  });
});

describe('npm run bench', () => {
  // The bench's own process, as `npm run bench` starts it; a refused line starts no local stack,
  // so this needs neither Java nor a server and ends in about a second.
  const bench = (...argv: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...argv], { encoding: 'utf8', timeout: 60_000 });

  test('a command line it cannot read: exit code 2, the reason and the usage on stderr, no stack trace, nothing on stdout', () => {
    const out = bench('--writers', '2.5');
    expect(out.status).toBe(2);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(`bench: --writers takes a whole number of at least 1, got "2.5"\n\n${USAGE}`);
  });

  test('--help prints the usage on stdout and runs nothing', () => {
    const out = bench('--help');
    expect(out.status).toBe(0);
    expect(out.stdout).toBe(USAGE);
    expect(out.stderr).toBe('');
  });
});
