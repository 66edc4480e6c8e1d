/**
 * A bounded pool of concurrent async tasks: `run` waits for a free slot, then starts the task
 * without waiting for it; `drain` waits until nothing runs or waits. Hand-written because the
 * sweeper needs "wait for a slot before listing more" (back-pressure on the index query), which
 * the usual promise-limit helpers do not give, and "tell me when nothing runs or waits to run"
 * (`onIdle`: the sweeper sends its gathered reads and deletes then).
 *
 * Waiting callers queue in order and a freed slot is handed to the first of them, so a task
 * that ends wakes one caller, not all of them (hundreds of instances may wait for their turn
 * after one batch answered them all).
 */
export class WorkPool {
  /** Slots taken: running tasks, and slots handed to a waiting caller that has not started yet. */
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly drained: Array<(failure?: unknown) => void> = [];
  private failure: { readonly error: unknown } | undefined;

  /**
   * @param size tasks run at once.
   * @param onIdle called each time the last running task ends while no caller waits for a slot.
   */
  constructor(
    private readonly size: number,
    private readonly onIdle?: () => void,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('size must be a positive integer');
  }

  /**
   * Starts `task` once a slot is free; resolves when it has started. Tasks are expected to handle
   * their own errors: a rejection is kept and rethrown by {@link drain}.
   */
  async run(task: () => Promise<void>): Promise<void> {
    if (this.active < this.size) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over
    let started: Promise<void>;
    try {
      started = task();
    } catch (err) {
      started = Promise.reject(err);
    }
    started.then(
      () => this.release(),
      (error: unknown) => {
        this.failure ??= { error };
        this.release();
      },
    );
  }

  /** Resolves once nothing runs and nothing waits; rejects with the first task failure, if any. */
  async drain(): Promise<void> {
    if (this.active > 0) await new Promise<void>((resolve) => this.drained.push(() => resolve()));
    if (this.failure !== undefined) throw this.failure.error;
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    if (--this.active > 0) return;
    this.onIdle?.();
    for (const resolve of this.drained.splice(0)) resolve();
  }
}
