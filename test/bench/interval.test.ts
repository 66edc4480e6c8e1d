/**
 * The bench's interval of a logged/unlogged ratio (paired bootstrap): it must bracket what the
 * noise can give and exclude what it cannot, the same way on every run of the same samples.
 */
import { describe, expect, test } from 'vitest';
import { alternated, pairedRatioInterval, percentile, seeded, withInterval } from '../../bench/common.js';

const p = (q: number) => (v: readonly number[]) => percentile(v, q);

/** 300 rounds of one noisy server: both modes draw from the same distribution, with rare pauses. */
function rounds(seed: number, scale = 1): { logged: number[]; unlogged: number[] } {
  const random = seeded(seed);
  const draw = () => (10 + 5 * random() + (random() < 0.02 ? 30 * random() : 0)) * scale;
  const logged: number[] = [];
  const unlogged: number[] = [];
  for (let i = 0; i < 300; i++) {
    logged.push(draw());
    unlogged.push(draw() / scale);
  }
  return { logged, unlogged };
}

describe('pairedRatioInterval', () => {
  test('the same distribution in both modes: the p50 and p99 intervals hold 1', () => {
    const { logged, unlogged } = rounds(1);
    for (const q of [50, 99]) {
      const [lo, hi] = pairedRatioInterval(logged, unlogged, p(q));
      expect(lo).toBeLessThanOrEqual(1);
      expect(hi).toBeGreaterThanOrEqual(1);
    }
  });

  test('a logged mode 1.3 times slower: the p50 interval excludes 1.10', () => {
    const { logged, unlogged } = rounds(2, 1.3);
    const [lo, hi] = pairedRatioInterval(logged, unlogged, p(50));
    expect(lo).toBeGreaterThan(1.1);
    expect(hi).toBeLessThan(1.5);
  });

  test('paired: a pause that hits both modes of a round does not widen the interval', () => {
    // Six rounds paused (2%, so p99 sits on the edge of the pauses); logged 0.5 ms slower throughout.
    const unlogged = Array.from({ length: 300 }, (_, i) => 10 + (i % 7) + (i % 50 === 0 ? 100 : 0));
    const logged = unlogged.map((v) => v + 0.5);
    // Drawn unpaired, a resample with fewer pauses in one mode than the other would give a ratio
    // far from 1 (16.5 / 110); drawn by round, the ratio stays that of the 0.5 ms.
    const [lo, hi] = pairedRatioInterval(logged, unlogged, p(99));
    expect(lo).toBeGreaterThanOrEqual(1);
    expect(hi).toBeLessThanOrEqual(1.05);
  });

  test('of one pair, the interval is the ratio itself: why the bench takes two runs at least', () => {
    expect(pairedRatioInterval([12], [10], p(50))).toEqual([1.2, 1.2]);
  });

  test('seeded: the same samples give the same interval', () => {
    const { logged, unlogged } = rounds(3);
    expect(pairedRatioInterval(logged, unlogged, p(99))).toEqual(pairedRatioInterval(logged, unlogged, p(99)));
  });

  test('renders as "ratio (lo-hi)", and the ratio alone for results without an interval', () => {
    expect(withInterval(1.104, [0.951, 1.268])).toBe('1.104 (0.95-1.27)');
    expect(withInterval(1.104, undefined)).toBe('1.104');
  });
});

describe('alternated: the two sides of a pair run in turn', () => {
  test('each side first on every other run, the warm-up pair not kept, time j of one paired with time j of the other', async () => {
    const order: string[] = [];
    const op = (side: string, slowAt?: number) => async (i: number) => {
      order.push(`${side}${i}`);
      if (i === slowAt) await new Promise((resolve) => setTimeout(resolve, 60));
    };
    // As the sessions stage's ranged reads: one pair not kept, then the runs (here 4).
    const { a, b } = await alternated(4, 1, op('a'), op('b', 3));
    expect(order).toEqual(['a0', 'b0', 'b1', 'a1', 'a2', 'b2', 'b3', 'a3', 'a4', 'b4']);
    expect(a).toHaveLength(4);
    expect(b).toHaveLength(4);
    // Run 3 (the third kept) of b was the slow one: its time, and only it, shows it.
    expect(b[2]).toBeGreaterThanOrEqual(55);
    expect(Math.max(...a, b[0]!, b[1]!, b[3]!)).toBeLessThan(55);
  });
});
