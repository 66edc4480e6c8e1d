/**
 * The register model's verdict on a refused conditional write (lib/drill/model.ts): the oracle the
 * drill and the fault simulation judge every run by. A create-only put (`ifVersion: 0`) refused
 * is wrong only when every state of the key was absent whenever the put looked: deleted, or
 * expired for sure before the put started. A value that may expire while the put runs may have
 * been live when it read (a soak seed flagged such a refusal as a violation).
 */
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { RegisterModel } from '../../lib/drill/model.js';

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
