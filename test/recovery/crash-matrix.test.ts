/**
 * Crash-point matrix: for each write path, the writer "process" dies before / right after each
 * request its operation issues, in protocol order. Its clients share one FaultInjector, so
 * after the crash nothing of that process reaches a server (no in-process cleanup). Then a
 * sweeper with its own clean clients and a clock past the lease + skew margin + upload window
 * runs, and the invariants are checked from outside:
 *
 *   1. every blob HV references exists (also checked BEFORE the sweep: no loss at any moment);
 *   2. no unreferenced blob under the prefix;
 *   3. no change-log entries (and no instance items) left;
 *   4. no multipart upload left in progress under the prefix (a writer that died mid-upload has
 *      its upload aborted by the sweeper);
 *   and the object holds exactly the old value (crash before the commit landed) or the new one
 *   (after), and an acknowledged write always holds the new one.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { FaultInjector, type RequestInfo } from '../../lib/faults/fault-injector.js';
import { listUploads } from '../../lib/drill/invariants.js';
import { freshFixture } from '../support/local.js';
import { WRITE_PATHS } from '../tiered/write-paths.js';
import { expectClean, makeWriter, rawState, rawValue, sameBytes, steps, sweepPastEverything, type Writer } from '../tiered/harness.js';
import { type CrashCase as Case, crashAt, crashCases } from './crash-case.js';

const scenarios = WRITE_PATHS;
const cases = crashCases(scenarios);

const open: Writer[] = [];
afterEach(() => {
  for (const w of open.splice(0)) w.close();
});

describe('crash-point matrix', () => {
  test('covers every step of every scenario', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    console.log(`crash-point matrix: ${cases.length} cases\n${scenarios.map((s) => `  ${s.name}: ${s.steps.join(' -> ')}`).join('\n')}`);
  });

  test.each(cases)('%s: %s %s', async (_scenario, _step, _kind, c) => {
    const fx = await freshFixture();
    const key = `crash/${c.scenario.name}`;
    const { expected } = await crashAt(fx, c, key, open);

    // No loss at any moment: before the sweep too.
    const before = await rawState(fx);
    expect(before.lost, 'invariant 1 before the sweep').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected), 'value before the sweep').toBe(true);

    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    expect(report.entriesQuarantined).toBe(0);
    // The first pass only fences and defers; the second, past the upload window the first
    // opened, recovers: every entry is recovered, none left deferred (drained below).
    expect(report.entriesRecovered).toBe(before.entries);
    const after = await expectClean(fx, expect);
    expect(after.instances, 'the change log is drained: no instance items left').toEqual([]);
    expect(await listUploads(fx.s3, fx.config.bucket, `${fx.config.prefix}/`), 'no multipart upload left in progress').toEqual([]);
    expect(sameBytes(await rawValue(fx, key), expected), 'value after the sweep').toBe(true);
    // A blob that HV does not point at was deleted by the sweeper, never one it does point at.
    expect(after.blobs.length).toBe(after.references.size);
  });
});

/**
 * Settle after the answer (`settleInBackground`): a write answers once its commit landed and
 * deletes `old` and removes its entry afterwards. The process dies during that settle, after
 * the caller has its answer: the answer must hold (the new value), the entry with `old` stays,
 * and the sweeper deletes `old` and drains the log. Crashes before the commit behave as in the
 * matrix above (the settle is only deferred for a landed commit), so this block covers the steps
 * from the commit on.
 */
const afterAnswer: Array<[string, string, string, Case]> = scenarios
  .filter((s) => s.steps.length > s.commitAt + 1)
  .flatMap((scenario) =>
    scenario.steps.slice(scenario.commitAt + 1).flatMap((step, i) =>
      (['crashBefore', 'crashAfter'] as const).map((kind) => {
        const index = scenario.commitAt + 1 + i;
        return [scenario.name, `${index + 1}.${step}`, kind, { scenario, step, index, kind }] as [string, string, string, Case];
      }),
    ),
  );

describe('crash after the answer (settle in the background)', () => {
  test('covers every settle step of every scenario that replaces a blob', () => {
    expect(afterAnswer.length).toBe(12);
  });

  test.each(afterAnswer)('%s: %s %s', async (_scenario, _step, _kind, c) => {
    const { scenario } = c;
    const fx = await freshFixture();
    const key = `crash-bg/${scenario.name}`;
    const setup = makeWriter(fx);
    open.push(setup);
    await setup.store.put(key, scenario.old!, { metadata: { gen: 'old' } });
    const oldBlob = (await rawState(fx)).references.get(key);
    expect(oldBlob, 'the old value is a blob').toBeDefined();

    const match = steps(fx.config)[c.step];
    const injector = new FaultInjector().add({ kind: c.kind, match, times: 1 });
    const writer = makeWriter(fx, { injector, store: { settleInBackground: true } });
    open.push(writer);

    // The answer comes before the settle, so the crash in the settle cannot reach it.
    await scenario.op(writer.store, key);
    expect(sameBytes(await rawValue(fx, key), scenario.next), 'the answer holds').toBe(true);
    await writer.store.settled();
    expect(writer.store.pendingSettles).toBe(0);
    expect(injector.crashedAt, 'the crash fired during the settle').toBeDefined();
    expect(match(injector.crashedAt as RequestInfo)).toBe(true);

    const before = await rawState(fx);
    expect(before.lost, 'invariant 1 before the sweep').toEqual([]);
    const oldGone = (c.kind === 'crashAfter' && c.step === 'deleteBlob') || c.step === 'remove';
    const removed = c.kind === 'crashAfter' && c.step === 'remove';
    expect(before.blobs.includes(oldBlob!), 'old is deleted only by the settle that reached it').toBe(!oldGone);
    expect(before.entries, 'the entry stays for the sweeper unless its removal landed').toBe(removed ? 0 : 1);

    const report = await sweepPastEverything(fx);
    expect(report.errors).toBe(0);
    expect(report.entriesRecovered).toBe(before.entries);
    const after = await expectClean(fx, expect);
    expect(after.instances).toEqual([]);
    expect(after.blobs.includes(oldBlob!)).toBe(false);
    expect(sameBytes(await rawValue(fx, key), scenario.next), 'value after the sweep').toBe(true);
  });
});
