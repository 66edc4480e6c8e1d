/**
 * A change log held in process memory: for tests and for single-process tools. It is not
 * durable across a crash, so it protects nothing a crash can orphan.
 */
import { type Change, type ChangeLog, cloneChange, isEligible, sameChange } from './change-log.js';
import { assertChange, assertChangeId, assertChangeNames } from './entry-codec.js';
import { ChangeIdConflictError } from '../errors.js';
import { type ChangeId, type Clock, systemClock, wholeMsClock } from '../ids.js';
import { assertOptions, optionNames } from '../plain-options.js';

/** Options of {@link InMemoryChangeLog}: any other name is a `ValidationError` at construction, as the DynamoDB log's. */
export interface InMemoryChangeLogOptions {
  /** Milliseconds since the epoch (a ValidationError at construction unless it reads 2000 to 2255: not seconds). Default `Date.now`. */
  readonly clock?: Clock;
}

/** The names {@link InMemoryChangeLogOptions} has: any other is refused at construction. */
const IN_MEMORY_OPTIONS = optionNames<InMemoryChangeLogOptions>()('clock');

/** A {@link ChangeLog} in this process's memory: for tests and single-process tools (not durable; see the module doc). */
export class InMemoryChangeLog implements ChangeLog {
  private readonly entries = new Map<ChangeId, Change>();
  private readonly clock: Clock;

  constructor(options: InMemoryChangeLogOptions = {}) {
    // As the durable log: a misspelt clock would be the system's, and one in seconds would keep
    // every entry with a `cleanupAfter` out of `scan` for ever.
    assertOptions(options, IN_MEMORY_OPTIONS, 'InMemoryChangeLog');
    this.clock = wholeMsClock(options.clock ?? systemClock);
  }

  async record(id: ChangeId, change: Change): Promise<void> {
    // The same input rules as the durable logs: a test on this log must fail where they would.
    assertChangeId(id);
    assertChange(change);
    assertChangeNames(change);
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
