/**
 * The memory stage's put figure (bench/stages/memory.ts): growth beyond the body is the peak less
 * the baseline less the body's RSS, taken once the body is filled. Filling the body must add
 * nothing but its own pages, or the put's growth is understated by what the filling left behind.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';

describe('memory stage: the put body', () => {
  test("filling 64 MiB adds 64 MiB to a fresh process's peak RSS, not the filling's garbage too", () => {
    // A fresh process, as the stage's child: its peak RSS before and after the body is filled.
    const script = `
      const { putBody } = await import('./bench/stages/memory.ts');
      const kib = () => process.resourceUsage().maxRSS;
      const before = kib();
      const body = putBody(64 * 1024 * 1024);
      process.stdout.write(JSON.stringify({ bodyKiB: kib() - before, bytes: body.byteLength }));
    `;
    const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const { bodyKiB, bytes } = JSON.parse(out.stdout) as { bodyKiB: number; bytes: number };
    expect(bytes).toBe(64 * 1024 * 1024);
    // The body's own 64 MiB at most, give or take a few MiB of the process's own (a peak taken
    // after the imports may already hold pages the body reuses, so it can count a little less).
    expect(bodyKiB / 1024).toBeGreaterThan(48);
    expect(bodyKiB / 1024).toBeLessThan(70);
  });

  test("an operation's growth is taken from the RSS it starts from, not from the imports' peak", () => {
    // A fresh process, as the stage's child: the library's imports (their transient peak), then
    // 48 MiB touched in place, its growth read as the stage reads it.
    const script = `
      await import('./lib/index.ts');
      const { putBody, peakRssKiB, rssKiB } = await import('./bench/stages/memory.ts');
      globalThis.gc();
      const baseline = rssKiB();
      const body = putBody(48 * 1024 * 1024);
      process.stdout.write(JSON.stringify({ growthKiB: peakRssKiB() - baseline, bodyKiB: rssKiB() - baseline, bytes: body.byteLength }));
    `;
    // The imports' garbage collected before the baseline: the body's 48 MiB of external memory
    // makes V8 collect during the fill, and what it gave back then (2 to 4 MiB under the CI's load)
    // was taken off the growth, which fell under the bound as if read from the imports' peak.
    const out = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const { growthKiB, bodyKiB } = JSON.parse(out.stdout) as { growthKiB: number; bodyKiB: number };
    // Where the imports' peak stands above the RSS the operation starts from (Node.js 20 here, 4 to
    // 9 MiB; Node.js 24 may give none of it back), growth taken from that peak leaves out as much of
    // the operation's own, and falls under these bounds.
    // The 48 MiB, give or take a few MiB of the process's own; the body as the put's child reads it too.
    expect(growthKiB / 1024).toBeGreaterThan(46);
    expect(growthKiB / 1024).toBeLessThan(56);
    expect(bodyKiB / 1024).toBeGreaterThan(46);
    expect(bodyKiB / 1024).toBeLessThan(56);
  });
});
