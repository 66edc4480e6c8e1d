/**
 * What the drill's workload draws (lib/drill/drill.ts): bodies within `--max-body`, expiries of
 * each kind 0.5 to 3 s ahead, each given to the register model as the store applies it, and a
 * read counted as serving an expired value when its expiry was past as the read started.
 */
import { describe, expect, it } from 'vitest';
import { body, DRILL_PART_SIZE, expiryPolicy, modelExpiry, servedExpired } from '../../lib/drill/drill.js';
import { bodyMatches } from '../../lib/drill/model.js';
import { seededRandom } from '../../lib/drill/random.js';

describe('the drill workload', () => {
  it.each([1, 100, 10_000, 3 * 1024 * 1024])(
    'every body is within --max-body %i, at least a byte, and traceable to its tag',
    (maxBytes) => {
      const random = seededRandom(maxBytes);
      const sizes = Array.from({ length: 400 }, (_, i) => {
        const b = body(random, maxBytes, `t${i}`);
        expect(bodyMatches(`t${i}`, b.byteLength, b)).toBe(true);
        return b.byteLength;
      });
      expect(Math.max(...sizes)).toBeLessThanOrEqual(maxBytes);
      expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);
    },
  );

  it('with the default --max-body (6 MiB) some bodies are above the part size (multipart), none at or below 5 MiB goes there', () => {
    const random = seededRandom(42);
    const sizes = Array.from({ length: 400 }, (_, i) => body(random, 6 * 1024 * 1024, `t${i}`).byteLength);
    const multipart = sizes.filter((size) => size > DRILL_PART_SIZE);
    expect(multipart.length).toBeGreaterThan(4);
    expect(Math.max(...multipart)).toBeLessThanOrEqual(6 * 1024 * 1024);
  });

  it('expiring puts draw each of the three policies, 0.5 to 3 s ahead, and the model gets each as it is', () => {
    const random = seededRandom(5);
    const kinds = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const before = Date.now();
      const policy = expiryPolicy(random);
      const model = modelExpiry(policy);
      const ms = policy.timeToLiveMs ?? policy.timeToIdleMs ?? (policy.expiresAt?.getTime() ?? Number.NaN) - before;
      expect(ms).toBeGreaterThanOrEqual(500);
      expect(ms).toBeLessThanOrEqual(3_000 + (Date.now() - before));
      if (policy.timeToLiveMs !== undefined) expect(model).toEqual({ kind: 'ttl', ms: policy.timeToLiveMs });
      else if (policy.timeToIdleMs !== undefined) expect(model).toEqual({ kind: 'tti', ms: policy.timeToIdleMs });
      else expect(model).toEqual({ kind: 'at', at: policy.expiresAt!.getTime() });
      kinds.add(model!.kind);
    }
    expect([...kinds].sort()).toEqual(['at', 'tti', 'ttl']);
    expect(modelExpiry(undefined)).toBeUndefined();
  });

  it('a read served an expired value when its expiry was at or before the read started', () => {
    const start = Date.UTC(2026, 11, 1, 12, 0, 0);
    expect(servedExpired({ expiresAt: new Date(start - 1) }, start)).toBe(true);
    expect(servedExpired({ expiresAt: new Date(start) }, start)).toBe(true);
    expect(servedExpired({ expiresAt: new Date(start + 1) }, start)).toBe(false);
    expect(servedExpired({}, start)).toBe(false);
    expect(servedExpired(undefined, start)).toBe(false);
  });
});
