/**
 * A change log held in process memory: for tests and for single-process tools. It is not
 * durable across a crash, so it protects nothing a crash can orphan.
 */
import { type Change, type ChangeLog, cloneChange, isEligible, sameChange } from './change-log.js';
import { assertChange, assertChangeId } from './entry-codec.js';
import { ChangeIdConflictError } from '../errors.js';
import { type ChangeId, type Clock, systemClock } from '../ids.js';

/** A {@link ChangeLog} in this process's memory: for tests and single-process tools (not durable; see the module doc). */
export class InMemoryChangeLog implements ChangeLog {
  private readonly entries = new Map<ChangeId, Change>();
  private readonly clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async record(id: ChangeId, change: Change): Promise<void> {
    // The same input rules as the durable logs: a test on this log must fail where they would.
    assertChangeId(id);
    assertChange(change);
    const existing = this.entries.get(id);
    if (existing !== undefined) {
      if (sameChange(existing, change)) return;
      throw new ChangeIdConflictError(id);
    }
    this.entries.set(id, cloneChange(change));
  }

  async remove(id: ChangeId): Promise<void> {
    this.entries.delete(id);
  }

  async scan(): Promise<Array<[ChangeId, Change]>> {
    const now = this.clock();
    return [...this.entries].filter(([, change]) => isEligible(change, now)).map(([id, change]) => [id, cloneChange(change)]);
  }

  /** Number of outstanding entries, eligible or not. */
  get size(): number {
    return this.entries.size;
  }
}
