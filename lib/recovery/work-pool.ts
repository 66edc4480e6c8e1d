/**
 * A bounded pool of concurrent async tasks: `run` waits for a free slot, then starts the task
 * without waiting for it; `drain` waits for all. Hand-written because it is ten lines and the
 * sweeper needs "wait for a slot before listing more" (back-pressure on the index query),
 * which the usual promise-limit helpers do not give.
 */
export class WorkPool {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly size: number) {}

  async run(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.size) await Promise.race(this.running);
    const promise: Promise<void> = task().finally(() => this.running.delete(promise));
    this.running.add(promise);
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
  }
}
