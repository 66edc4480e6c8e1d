/**
 * A change log that records nothing: for storage without an LT tier, and as the "unlogged"
 * baseline of the benchmark. Orphans it would have recorded are found only by `tierlog audit`.
 */
import type { Change, ChangeLog } from './change-log.js';
import type { ChangeId } from '../ids.js';
import { assertChange, assertChangeId, assertChangeNames } from './entry-codec.js';

/** A {@link ChangeLog} that records nothing: a store without the log's protection (the bench's unlogged baseline). */
export class NoopChangeLog implements ChangeLog {
  async record(id: ChangeId, change: Change): Promise<void> {
    // Records nothing, but refuses what the durable logs refuse: swapping logs changes no outcome.
    assertChangeId(id);
    assertChange(change);
    assertChangeNames(change);
  }
  async remove(_id: ChangeId): Promise<void> {}
  async scan(): Promise<Array<[ChangeId, Change]>> {
    return [];
  }
}
