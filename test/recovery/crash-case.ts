/**
 * One case of a crash-point matrix (test/recovery/crash-matrix.test.ts and its stream-mode twin):
 * a write path's old value is stored, then a writer "process" whose clients share one
 * FaultInjector runs the path and dies before or right after one of its requests, so nothing of
 * it reaches a server afterwards. What each matrix checks from outside after that is its own.
 */
import { expect } from 'vitest';
import { FaultInjector, type FaultKind, type RequestInfo } from '../../lib/faults/fault-injector.js';
import type { Fixture } from '../support/local.js';
import { makeWriter, rawState, steps, type Writer } from '../tiered/harness.js';
import type { StepName, WritePath } from '../tiered/write-paths.js';

export interface CrashCase {
  readonly scenario: WritePath;
  readonly step: StepName;
  readonly index: number;
  readonly kind: FaultKind;
}

/** Every step of every path, crashed before and after: `[path, "n.step", kind, case]` rows for `test.each`. */
export function crashCases(paths: readonly WritePath[]): Array<[string, string, string, CrashCase]> {
  return paths.flatMap((scenario) =>
    scenario.steps.flatMap((step, index) =>
      (['crashBefore', 'crashAfter'] as const).map(
        (kind) => [scenario.name, `${index + 1}.${step}`, kind, { scenario, step, index, kind }] as [string, string, string, CrashCase],
      ),
    ),
  );
}

/** What the crashed write left to check. */
export interface Crashed {
  /** The crash came after the commit landed. */
  readonly committed: boolean;
  /** The value the object must hold: the new one if committed, else the old one. */
  readonly expected: Uint8Array | undefined;
  /** The blob the old value was stored in, if it was one. */
  readonly oldBlob: string | undefined;
}

/**
 * Stores the path's old value under `key`, runs the path in a writer that dies at the case's
 * step (its writers go to `open`, to be closed), and checks that the crash fired there and that
 * a write its caller saw acknowledged had committed.
 */
export async function crashAt(fx: Fixture, c: CrashCase, key: string, open: Writer[]): Promise<Crashed> {
  const { scenario } = c;
  let oldBlob: string | undefined;
  if (scenario.old !== undefined) {
    const setup = makeWriter(fx);
    open.push(setup);
    await setup.store.put(key, scenario.old, { metadata: { gen: 'old' } });
    oldBlob = (await rawState(fx)).references.get(key);
  }
  const match = steps(fx.config)[c.step];
  const injector = new FaultInjector().add({ kind: c.kind, match, times: 1 });
  const writer = makeWriter(fx, { injector, ...(scenario.partSize ? { store: { partSize: scenario.partSize } } : {}) });
  open.push(writer);

  let acknowledged = false;
  try {
    await scenario.op(writer.store, key);
    acknowledged = true;
  } catch {
    // the crash, or what the crash turned into
  }
  // The crash point was reached, at the intended step.
  expect(injector.crashedAt, 'the crash fired').toBeDefined();
  expect(match(injector.crashedAt as RequestInfo)).toBe(true);

  const committed = c.index > scenario.commitAt || (c.index === scenario.commitAt && c.kind === 'crashAfter');
  if (acknowledged) expect(committed, 'an acknowledged write committed').toBe(true);
  return { committed, expected: committed ? scenario.next : scenario.old, oldBlob };
}
