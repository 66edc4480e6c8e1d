/**
 * The sweeper's work pool on its own: at most `size` tasks at once, and `onIdle` (when the sweeper
 * sends its gathered batches) only when nothing runs and nothing waits for a slot.
 */
import { describe, expect, test } from 'vitest';
import { WorkPool } from '../../lib/recovery/work-pool.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WorkPool', () => {
  test('runs at most size tasks at once; idle once, when the last of a queue of tasks ended', async () => {
    let idle = 0;
    let running = 0;
    let most = 0;
    const pool = new WorkPool(4, () => idle++);
    // The tasks of a round end together (as the sweeper's do when one batch answers them all).
    let open: () => void = () => {};
    let gate = new Promise<void>((resolve) => (open = resolve));
    const task = async () => {
      running++;
      most = Math.max(most, running);
      await gate;
      running--;
    };
    const callers = Promise.all(Array.from({ length: 12 }, () => pool.run(task)));
    for (let round = 0; round < 3; round++) {
      await tick();
      const release = open;
      gate = new Promise<void>((resolve) => (open = resolve));
      release();
    }
    await callers;
    await tick();
    open();
    await pool.drain();
    expect(most).toBe(4);
    expect(idle).toBe(1);
  });

  test('idle each time the pool empties with nobody waiting', async () => {
    let idle = 0;
    const pool = new WorkPool(2, () => idle++);
    await pool.run(tick);
    await pool.drain();
    await pool.run(tick);
    await pool.drain();
    expect(idle).toBe(2);
  });

  test('a task that rejects frees its slot; drain rethrows the failure', async () => {
    const pool = new WorkPool(1);
    await pool.run(async () => {
      throw new Error('task failed');
    });
    let ran = false;
    await pool.run(async () => {
      ran = true;
    });
    await expect(pool.drain()).rejects.toThrow('task failed');
    expect(ran).toBe(true);
  });

  // A size of 1.5 would run two tasks at once; NaN, every task at once (no comparison holds).
  test.each([0, -1, 1.5, Number.NaN])('a size of %d is refused: no bound it could keep', (size) => {
    expect(() => new WorkPool(size)).toThrow(RangeError);
  });

  test('drain rethrows the first failure, not a later one', async () => {
    const pool = new WorkPool(1);
    await pool.run(() => Promise.reject(new Error('first')));
    await pool.run(() => Promise.reject(new Error('second')));
    await expect(pool.drain()).rejects.toThrow('first');
  });

  test('a task that throws before returning its promise is a failure like a rejection: its slot is freed, drain rethrows it', async () => {
    const pool = new WorkPool(1);
    await pool.run(() => {
      throw new Error('thrown at once');
    });
    let ran = false;
    await pool.run(async () => {
      ran = true;
    });
    await expect(pool.drain()).rejects.toThrow('thrown at once');
    expect(ran).toBe(true);
  });
});
