/**
 * The register model's verdict on a refused conditional write (lib/drill/model.ts): the oracle the
 * drill and the fault simulation judge every run by. A create-only put (`ifVersion: 0`) refused
 * is wrong only when every state of the key was absent whenever the put looked: deleted, or
 * expired for sure before the put started. A value that may expire while the put runs may have
 * been live when it read (a soak seed flagged such a refusal as a violation).
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { RegisterModel } from '../../lib/drill/model.js';
import { type OperationOutcome, writeStatusOf } from '../../lib/drill/writer.js';

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0);
const TTL_MS = 3_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});
afterEach(() => {
  vi.useRealTimers();
});

/** A TTL put acknowledged at T0 (its expiry: T0 + TTL, rounded up to the second), then a create-only put refused over [startMs, endMs]. */
function refusedCreateOver(startMs: number, endMs: number): string[] {
  const model = new RegisterModel();
  const ttl = model.beginWrite('k', 'put', 'ttl-value', 10, undefined, { kind: 'ttl', ms: TTL_MS });
  model.endWrite(ttl, 'acked', undefined, { version: T0 * 1000 });
  vi.setSystemTime(T0 + startMs);
  const create = model.beginWrite('k', 'put', 'create-only', 10, 0);
  vi.setSystemTime(T0 + endMs);
  model.endWrite(create, 'failed', 'VersionConflictError: version 0 expected');
  return model.violations();
}

describe('a create-only put refused over a value with a time to live', () => {
  test.each([
    ['while the value is surely live', 1_000, 1_500, false],
    ['while the value expires during the put', 2_900, 3_100, false],
    ['after the value surely expired', 3_500, 3_600, true],
  ] as const)('%s', (_name, startMs, endMs, violation) => {
    const found = refusedCreateOver(startMs, endMs);
    if (violation) expect(found).toEqual([expect.stringContaining('was refused, though every state then had version 0')]);
    else expect(found).toEqual([]);
  });
});

describe('how the drill takes a write that was not acknowledged', () => {
  const at = { startedAt: 0, endedAt: 1 };
  test.each([
    ['acknowledged', { acknowledged: true }, 'acked'],
    ['refused for a version', { acknowledged: false, error: 'VersionConflictError: …', errorName: 'VersionConflictError' }, 'failed'],
    [
      'fenced (its instance claimed)',
      { acknowledged: false, error: 'InstanceClaimedError: …', errorName: 'InstanceClaimedError' },
      'failed',
    ],
    ['refused as invalid (an expiry passed before any attempt)', { acknowledged: false, errorName: 'ValidationError' }, 'failed'],
    ['an outcome the store could not decide', { acknowledged: false, errorName: 'CommitOutcomeUnknownError' }, 'unknown'],
    ['an error of the network', { acknowledged: false, errorName: 'TimeoutError' }, 'unknown'],
    ['a death at a step', { acknowledged: false, crashedAt: 'commit' }, 'unknown'],
    ['a writer already dead', { acknowledged: false, error: 'writer is dead' }, 'unknown'],
  ] as const)('%s: %s', (_what, outcome, status) => {
    expect(writeStatusOf({ ...at, ...outcome } as OperationOutcome)).toBe(status);
  });

  test('a read of a write refused for sure is a wrong value; of one whose outcome is unknown, it is not', () => {
    for (const [status, wrong] of [
      ['failed', true],
      ['unknown', false],
    ] as const) {
      const model = new RegisterModel();
      const write = model.beginWrite('k', 'put', 'refused', 3);
      model.endWrite(write, status, 'VersionConflictError');
      const read = model.beginRead('k', 'read');
      model.endRead(read, { kind: 'value', tag: 'refused', bodyOk: true, size: 3 });
      const found = model.violations();
      if (wrong) expect(found, status).toEqual([expect.stringContaining('refused')]);
      else expect(found, status).toEqual([]);
    }
  });
});
