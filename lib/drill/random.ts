/**
 * A small seeded PRNG (mulberry32) so a drill or a fault simulation draws the same workload from
 * its seed. (A drill's writers run at once on a real stack: which request a crash hits and how
 * they interleave depend on timing, so two runs of a seed may end differently.) Hand-written: it
 * is six lines, and the helpers built on it are the only API needed.
 */
export type Random = () => number;

/** Uniform in [0, 1), determined by `seed`. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [min, max]. */
export function randomInt(random: Random, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

/** One of `items`. */
export function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** A size between `min` and `max` bytes, spread evenly over orders of magnitude. */
export function logUniformSize(random: Random, min: number, max: number): number {
  const lo = Math.log(Math.max(1, min));
  const hi = Math.log(max);
  return Math.round(Math.exp(lo + random() * (hi - lo)));
}
