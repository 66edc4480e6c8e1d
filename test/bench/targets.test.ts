/**
 * The bench's targets, judged from a saved run's JSON (bench/results-2026-12-02-3.json, the run
 * docs/FIGURES.md shows): every target `met` must compare the right figure with its bound, and a
 * stage that did not do its work must not yield a `met` for its rates and costs.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { Results, Target } from '../../bench/results.js';
import { expectedAnswer } from '../../bench/stages/coldstart.js';
import { latencyPair } from '../../bench/stages/latency.js';
import { targets } from '../../bench/targets.js';
import { figuresPage, rerunCommand } from '../../bench/figures.js';
import { verdictOf } from '../../bench/render.js';
import { BENCH_OPTIONS, STAGES, parseBenchArgs } from '../../bench/settings.js';

const saved = (): Results => JSON.parse(readFileSync('bench/results-2026-12-02-3.json', 'utf8')) as Results;
const named = (list: readonly Target[], name: string): Target => {
  const t = list.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no target "${name}" among: ${list.map((x) => x.name).join(' | ')}`);
  return t;
};

describe('targets', () => {
  test('re-judging the saved run gives the targets it saved, value and met', () => {
    const r = saved();
    const again = targets(r);
    for (const t of r.targets) {
      const { name, target, value, met } = named(again, t.name);
      expect({ name, target, value, met }).toEqual(t);
    }
  });

  test('a latency ratio whose 95% interval holds the bound is undecided, whichever side its point estimate falls', () => {
    const r = saved();
    const judged = (interval: [number, number], ratio: number) => {
      r.latency = { ...r.latency!, create: { ...r.latency!.create, p99Ratio: ratio, p99RatioInterval: interval } };
      return named(targets(r), '1 MiB create p99 logged/unlogged, answer, local');
    };
    expect(judged([0.94, 1.48], 1.113)).toMatchObject({ met: false, undecided: true });
    expect(judged([0.94, 1.48], 1.05)).toMatchObject({ met: true, undecided: true });
    expect(judged([1.1, 1.2], 1.15)).toMatchObject({ met: false, undecided: true });
    expect(judged([1.11, 1.2], 1.15)).toMatchObject({ met: false, undecided: false });
    expect(judged([0.9, 1.09], 1.0)).toMatchObject({ met: true, undecided: false });
    expect(verdictOf(judged([0.94, 1.48], 1.113))).toBe('MISSED (bound within the 95% interval)');
    expect(verdictOf(judged([1.11, 1.2], 1.15))).toBe('MISSED');
    // A figure measured without an interval says nothing of it.
    expect(named(targets(r), 'recovery throughput').undecided).toBeUndefined();
  });

  test('the session upload ratio is judged with its 95% interval when the run has one', () => {
    const r = saved();
    const judged = (ratio: number, interval?: [number, number]) => {
      const { uploadRatioInterval: _none, ...rest } = r.sessions!;
      r.sessions = { ...rest, uploadRatio: ratio, ...(interval !== undefined ? { uploadRatioInterval: interval } : {}) };
      return named(targets(r), '64 MiB upload session/SDK multipart');
    };
    // Two runs of the same code: 1.235 and 0.836. Neither tells anything alone when its interval holds 1.10.
    expect(judged(1.235, [0.8, 1.31])).toMatchObject({ value: '1.235 (0.80-1.31)', met: false, undecided: true });
    expect(judged(0.836, [0.7, 1.12])).toMatchObject({ met: true, undecided: true });
    expect(judged(1.235, [1.12, 1.31])).toMatchObject({ met: false, undecided: false });
    expect(judged(0.836, [0.7, 0.95])).toMatchObject({ met: true, undecided: false });
    expect(judged(1.05)).toMatchObject({ value: '1.050', met: true });
    expect(judged(1.05).undecided).toBeUndefined();
  });

  test('a cold start ratio is judged with its 95% interval when the run has one, against 1.20', () => {
    const r = saved();
    const judged = (ratio: number, interval?: [number, number]) => {
      const { ratioInterval: _none, ...rest } = r.coldStart!.objects;
      r.coldStart = {
        ...r.coldStart!,
        objects: { ...rest, ratioToBare: ratio, ...(interval !== undefined ? { ratioInterval: interval } : {}) },
      };
      return named(targets(r), 'cold start objects / bare handler');
    };
    const times = `${r.coldStart!.objects.firstAnswerMs} vs ${r.coldStart!.bare.firstAnswerMs} ms`;
    // Two runs of the same code: 1.158 and 1.224.
    expect(judged(1.224, [1.13, 1.27])).toMatchObject({ value: `1.224 (1.13-1.27); ${times}`, met: false, undecided: true });
    expect(judged(1.158, [1.1, 1.2])).toMatchObject({ met: true, undecided: true });
    expect(judged(1.224, [1.21, 1.27])).toMatchObject({ met: false, undecided: false });
    expect(judged(1.11, [1.05, 1.19])).toMatchObject({ met: true, undecided: false });
    // A result without the interval reads as before.
    expect(judged(1.11)).toMatchObject({ value: `1.110 (${times})`, met: true });
    expect(judged(1.11).undecided).toBeUndefined();
  });

  test('the figures page counts the undecided among the met and the missed, from the run judged again', () => {
    const r = saved();
    const page = figuresPage(r, 'saved.json');
    const list = targets(r);
    const met = list.filter((t) => t.met);
    const within = (ts: Target[]) => ts.filter((t) => t.undecided === true).length;
    expect(page).toContain(`## Targets: ${met.length} of ${list.length} met`);
    expect(page).toContain(
      `${within(list.filter((t) => !t.met))} of the ${list.length - met.length} missed and ${within(met)} of the ${met.length} met`,
    );
    expect(within(list)).toBeGreaterThan(0);
    const row = page.split('\n').find((line) => line.startsWith('| 1 MiB create p99 logged/unlogged, answer, local |'));
    const t = named(list, '1 MiB create p99 logged/unlogged, answer, local');
    expect(row?.endsWith(`| ${t.met ? 'yes' : '**no**'}${t.undecided ? ', within' : ''} |`)).toBe(true);
  });

  test("the figures page names the command that runs again with the saved run's sizes, each flag one the bench takes", () => {
    const r = saved();
    const line = figuresPage(r, 'saved.json')
      .split('\n')
      .find((l) => l.startsWith('- run again with these sizes: '));
    const command = line?.match(/`([^`]+)`/)?.[1] ?? '';
    expect(command.startsWith('npm run bench -- ')).toBe(true);
    const flags = new Map([...command.matchAll(/--([a-z0-9-]+) (\S+)/g)].map((m) => [m[1]!, m[2]!]));
    const st = r.settings;
    expect(flags.get('latency-runs')).toBe(String(st.latencyRuns));
    expect(flags.get('recovery-instances')).toBe(String(st.recoveryInstances));
    expect(flags.get('scaling-instances')).toBe(String(st.scalingInstances));
    expect(flags.get('coldstart-runs')).toBe(String(st.coldStartRuns));
    expect(flags.get('writers')).toBe(String(st.writers));
    expect(flags.has('sweep-concurrency')).toBe(st.sweepConcurrency !== undefined);
    // Every flag is one bench/settings.ts parses (an unknown one makes the bench refuse to start).
    for (const flag of flags.keys()) expect(Object.keys(BENCH_OPTIONS)).toContain(flag);
    expect(rerunCommand({ ...st, quick: true })).toContain('npm run bench -- --quick ');
    // The node a cold start ran under is part of what it measured.
    expect(rerunCommand({ ...st, coldStartNode: '/opt/node24/bin/node' })).toContain('--coldstart-node /opt/node24/bin/node');
  });

  test('the command runs the stages the saved run ran, and those alone (--only is not in its settings)', () => {
    const command = (r: Results) =>
      figuresPage(r, 'saved.json')
        .split('\n')
        .find((l) => l.startsWith('- run again with these sizes: '))
        ?.match(/`npm run bench -- ([^`]+)`/)?.[1]
        ?.split(' ') ?? [];
    // A full run: every stage, no --only.
    expect(command(saved())).not.toContain('--only');
    expect([...parseBenchArgs(command(saved())).only]).toEqual([...STAGES]);
    // A run of two stages (`--only latency,load`): the command runs those two, not the ten.
    const r = saved();
    for (const part of ['baseline', 'ops', 'recovery', 'recoveryScaling', 'idle', 'coldStart', 'memory', 'sessions'] as const)
      delete r[part];
    delete r.latencyModelled;
    expect([...parseBenchArgs(command(r)).only]).toEqual(['latency', 'load']);
    // And its sizes line names the sizes of those two, not of stages it did not run.
    const sizes = figuresPage(r, 'saved.json')
      .split('\n')
      .find((l) => l.startsWith('- sizes: '));
    expect(sizes).toBe(
      `- sizes: latency ${r.settings.latencyRuns} runs per mode and kind; load ${r.settings.writers} writers × ${r.settings.opsPerWriter} ops on ${r.settings.keys} keys`,
    );
  });

  test('the figures page renders a run saved before the delete and "all done" figures (2026-11-25), every figure it has', () => {
    const old = JSON.parse(readFileSync('bench/results-2026-11-25.json', 'utf8')) as Results;
    expect(old.latency!.done).toBeUndefined();
    const page = figuresPage(old, 'old.json');
    const rows = page.split('\n').filter((l) => /^(create|overwrite|delete) +(answer|all done) /.test(l));
    // Local and modelled: create and overwrite until the answer, nothing invented for the rest.
    expect(rows.map((l) => l.split(/ {2,}/).slice(0, 2).join(' '))).toEqual([
      'create answer',
      'overwrite answer',
      'create answer',
      'overwrite answer',
    ]);
    expect(rows[0]).toContain(String(old.latency!.create.logged.p50Ms));
  });

  test('the "all done" latency ratios are judged too, by their own figures (modelled overwrite p50: 1.116, missed)', () => {
    const r = saved();
    const list = targets(r);
    for (const where of ['local', 'modelled'] as const) {
      const l = where === 'local' ? r.latency! : r.latencyModelled!;
      for (const kind of ['create', 'overwrite', 'delete'] as const) {
        for (const p of ['p50', 'p99'] as const) {
          const t = named(list, `1 MiB ${kind} ${p} logged/unlogged, all done, ${where}`);
          const ratio = l.done[kind][`${p}Ratio`];
          expect(t.met).toBe(ratio <= 1.1);
          expect(t.value.startsWith(ratio.toFixed(3))).toBe(true);
        }
      }
    }
    const overwrite = named(list, '1 MiB overwrite p50 logged/unlogged, all done, modelled');
    expect(overwrite.value).toBe('1.116 (1.10-1.12)');
    expect(overwrite.met).toBe(false);
  });

  test('a recovery that left entries behind meets none of its rate and cost targets', () => {
    const r = saved();
    const x = r.recovery!;
    // Half the entries recovered, with the calls and time that took: every rate and cost per
    // entry still looks fine, but the recovery did not do its work.
    r.recovery = { ...x, ok: false, report: { ...x.report, entriesRecovered: x.entries / 2 }, after: { ...x.after, logItems: 150 } };
    const list = targets(r);
    for (const name of [
      'recovery throughput',
      `recovery requests / stack's at ${x.sweeperConcurrency} in flight`,
      'recovery DynamoDB calls per entry',
      'recovery S3 calls per entry',
      'recovery leaves nothing',
    ]) {
      expect(named(list, name).met, name).toBe(false);
    }
  });

  test('recovery calls per entry are judged on the calls counted, not on the figure rounded to 0.001', () => {
    const r = saved();
    const x = r.recovery!;
    // 31 S3 calls and 1,501 DynamoDB calls for 3,000 entries: 0.0103 and 0.5003, printed 0.01 and 0.5.
    const judged = (s3: number, dynamodb: number) => {
      r.recovery = {
        ...x,
        entries: 3000,
        calls: { ...x.calls, s3Total: s3, dynamodbTotal: dynamodb },
        s3CallsPerEntry: Math.round((s3 / 3000) * 1000) / 1000,
        dynamodbCallsPerEntry: Math.round((dynamodb / 3000) * 1000) / 1000,
      };
      const list = targets(r);
      return [named(list, 'recovery S3 calls per entry'), named(list, 'recovery DynamoDB calls per entry')];
    };
    const [s3Over, dynamodbOver] = judged(31, 1501);
    expect(s3Over).toMatchObject({ met: false, value: '0.01 (31 calls for 3000 entries: 0.0103)' });
    expect(dynamodbOver).toMatchObject({ met: false, value: '0.5 (1501 calls for 3000 entries: 0.500)' });
    const [s3At, dynamodbAt] = judged(30, 1500);
    expect(s3At).toMatchObject({ met: true, value: '0.01' });
    expect(dynamodbAt).toMatchObject({ met: true, value: '0.5' });
  });

  test('an idle sweep whose queries failed is not met', () => {
    const r = saved();
    r.idle = { ...r.idle!, report: { ...r.idle!.report, errors: 4 } };
    const t = named(targets(r), 'idle sweep (every minute)');
    expect(t.met).toBe(false);
    expect(t.value).toContain('4 errors');
  });

  test('load throughput: a mode whose operations failed is not met, however fast it was', () => {
    const r = saved();
    // The logged writers fail a third of their operations, fast: logged throughput now above unlogged's.
    r.load = { ...r.load!, opsPerSecond: 200, errors: { ConflictError: 1000 } };
    const t = named(targets(r), 'load throughput logged/unlogged');
    expect(t.met).toBe(false);
    expect(t.value).toContain('failed operations 1000 vs 0');
  });
});

describe('cold start: the first answer must be the one the event asks for', () => {
  test.each([
    ['bare', { statusCode: 404 }, true],
    ['objects', { statusCode: 404, body: '{"error":"NotFound"}' }, true],
    ['objects', { statusCode: 500, body: '{"error":"InternalError"}' }, false],
    ['sweeper', { instancesExpired: 0, errors: 0 }, true],
    ['sweeper', { instancesExpired: 0, errors: 4 }, false],
    ['sweeper', undefined, false],
  ] as const)('%s answering %j: %s', (name, out, ok) => {
    expect(expectedAnswer(name, out)).toBe(ok);
  });
});

describe('latency ratios', () => {
  test('of the percentiles as measured, not of the printed (0.01 ms) ones: 1.1049 / 1.0000 is 1.105, missed', () => {
    const x = latencyPair({ logged: [1.1049], unlogged: [1.0] });
    expect(x.logged.p50Ms).toBe(1.1);
    expect(x.p50Ratio).toBe(1.105);
    expect(x.p99Ratio).toBe(1.105);
    const r = saved();
    r.latency = { ...r.latency!, delete: x };
    expect(named(targets(r), '1 MiB delete p50 logged/unlogged, answer, local').met).toBe(false);
  });
});

describe('latency "all done": a settle that failed', () => {
  test('resolved settled() all the same: the run\'s "all done" targets are not met, its answer targets stand', () => {
    const r = saved();
    const before = targets(r);
    const name = (kind: string, until: string, where: string) => `1 MiB ${kind} p50 logged/unlogged, ${until}, ${where}`;
    // The saved run met its local "all done" delete p50 (1.002); one logged settle failed, timed as done.
    expect(named(before, name('delete', 'all done', 'local')).met).toBe(true);
    r.latency = { ...r.latency!, settleFailures: { logged: 1, unlogged: 0 } };
    const after = targets(r);
    for (const kind of ['create', 'overwrite', 'delete']) {
      const t = named(after, name(kind, 'all done', 'local'));
      expect(t.met, t.name).toBe(false);
      expect(t.value).toContain('settles failed 1 vs 0');
      // Until the answer, and the modelled run's, as they were.
      for (const other of [name(kind, 'answer', 'local'), name(kind, 'all done', 'modelled')]) {
        expect(named(after, other)).toEqual(named(before, other));
      }
    }
    // None failed: as before.
    r.latency = { ...r.latency!, settleFailures: { logged: 0, unlogged: 0 } };
    expect(targets(r)).toEqual(before);
  });
});

describe('upload sessions: a cleanup that failed', () => {
  test('answered the complete all the same: the upload ratio is not met, whatever its value', () => {
    const r = saved();
    const name = '64 MiB upload session/SDK multipart';
    // The saved run met it (1.003).
    expect(named(targets(r), name).met).toBe(true);
    r.sessions = { ...r.sessions!, cleanupFailures: 2 };
    expect(named(targets(r), name)).toMatchObject({ met: false, value: '1.003; cleanups failed 2' });
    r.sessions = { ...r.sessions!, cleanupFailures: 0 };
    expect(named(targets(r), name)).toMatchObject({ met: true, value: '1.003' });
  });
});

describe("the streamed read against the SDK's own", () => {
  test("with the SDK's read measured, the 64 MiB read is judged against it plus one part; without it, against half the object", () => {
    const r = saved();
    const name = '64 MiB streamed read: RSS growth';
    const fig = (growthMiB: number) => ({ baselineMiB: 100, peakMiB: 100 + growthMiB, growthMiB });
    // The saved run has no SDK read: half the object (32 MiB), as it was judged.
    r.memory = { ...r.memory!, streamedRead: fig(35.4) };
    expect(named(targets(r), name)).toMatchObject({ target: '<= 32 MiB (half the object: not buffered)', met: false });
    // The SDK's read grew 34.6 MiB in the same run: tierlog's 35.4 adds less than a part.
    r.memory = { ...r.memory!, sdkStreamedRead: fig(34.6) };
    expect(named(targets(r), name)).toMatchObject({
      target: "<= 42.6 MiB (the SDK's own GetObject stream's + one part: nothing buffered)",
      value: "35.4 MiB (the SDK's 34.6 MiB)",
      met: true,
    });
    // A read that buffered a part more than the SDK's, or the object, misses.
    r.memory = { ...r.memory!, streamedRead: fig(42.7) };
    expect(named(targets(r), name).met).toBe(false);
    r.memory = { ...r.memory!, streamedRead: fig(98.6) };
    expect(named(targets(r), name).met).toBe(false);
    // An SDK read not measured leaves nothing to judge by.
    r.memory = { ...r.memory!, streamedRead: fig(10), sdkStreamedRead: fig(NaN) };
    expect(named(targets(r), name).met).toBe(false);
  });
});

describe('a figure the run could not measure', () => {
  test('NaN, written to the JSON as null, meets no target when the run is judged again (docs/FIGURES.md)', () => {
    const r = saved();
    // A run whose figures could not be measured: NaN at run time, null once saved.
    r.latency = { ...r.latency!, delete: { ...r.latency!.delete, p50Ratio: NaN, p50RatioInterval: [NaN, NaN] } };
    r.memory = { ...r.memory!, put: { ...r.memory!.put, growthMiB: NaN }, streamedRead: { ...r.memory!.streamedRead, growthMiB: NaN } };
    r.idle = { ...r.idle!, queriesPerShard: NaN };
    r.coldStart = { ...r.coldStart!, objects: { ...r.coldStart!.objects, ratioToBare: NaN, ratioInterval: [NaN, NaN] } };
    r.recovery = { ...r.recovery!, stackRatio: NaN, calls: { ...r.recovery!.calls, s3Total: NaN } };
    const reread = JSON.parse(JSON.stringify(r)) as Results;
    expect(reread.memory!.put.growthMiB).toBeNull();
    for (const judged of [targets(r), targets(reread)]) {
      for (const name of [
        '1 MiB delete p50 logged/unlogged, answer, local',
        '64 MiB put: RSS growth beyond the body',
        '64 MiB streamed read: RSS growth',
        // Its bound is the 64 MiB read's growth and a part: not measured either.
        '256 MiB streamed read: RSS growth',
        'idle sweep (every minute)',
        'cold start objects / bare handler',
        `recovery requests / stack's at ${r.recovery!.sweeperConcurrency} in flight`,
        'recovery S3 calls per entry',
      ]) {
        expect(named(judged, name).met, name).toBe(false);
      }
      expect(named(judged, '1 MiB delete p50 logged/unlogged, answer, local').value).toBe('not measured');
    }
    // And the page renders, the run judged again.
    expect(figuresPage(reread, 'reread.json')).toContain(
      '| 1 MiB delete p50 logged/unlogged, answer, local | <= 1.10 | not measured | **no** |',
    );
  });
});

describe('load invariants', () => {
  test('a load run that leaked fails the target, even when it is not the fastest one the figures come from', () => {
    const r = saved();
    r.loadRuns = { ...r.loadRuns!, loggedOk: [true, false], unloggedOk: [true, true] };
    expect(named(targets(r), 'load invariants').met).toBe(false);
  });

  test('so does the counted unlogged run', () => {
    const r = saved();
    r.loadUnlogged = { ...r.loadUnlogged!, ok: false };
    expect(named(targets(r), 'load invariants').met).toBe(false);
  });
});
