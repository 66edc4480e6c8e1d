/**
 * A bounded pool of concurrent async tasks: `run` waits for a free slot, then starts the task
 * without waiting for it; `drain` waits for all. Hand-written because it is ten lines and the
 * sweeper needs "wait for a slot before listing more" (back-pressure on the index query),
 * which the usual promise-limit helpers do not give, and "tell me when nothing runs or waits to
 * run" (`onIdle`: the sweeper sends its gathered reads and deletes then).
 */
export class WorkPool {
  private readonly running = new Set<Promise<void>>();
  /** Callers of `run` waiting for a slot: work that is about to run, so the pool is not idle. */
  private queued = 0;

  /**
   * @param size tasks run at once.
   * @param onIdle called each time the last running task ends while no task waits for a slot.
   */
  constructor(
    private readonly size: number,
    private readonly onIdle?: () => void,
  ) {}

  async run(task: () => Promise<void>): Promise<void> {
    this.queued++;
    try {
      while (this.running.size >= this.size) await Promise.race(this.running);
    } finally {
      this.queued--;
    }
    const promise: Promise<void> = task().finally(() => {
      this.running.delete(promise);
      if (this.running.size === 0 && this.queued === 0) this.onIdle?.();
    });
    this.running.add(promise);
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
  }
}
