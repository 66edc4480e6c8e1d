/**
 * A change log that records nothing: for storage without an LT tier, and as the "unlogged"
 * baseline of the benchmark. Orphans it would have recorded are found only by `tierlog audit`.
 */
import type { Change, ChangeLog } from './change-log.js';
import type { ChangeId } from '../ids.js';

export class NoopChangeLog implements ChangeLog {
  async record(_id: ChangeId, _change: Change): Promise<void> {}
  async remove(_id: ChangeId): Promise<void> {}
  async scan(): Promise<Array<[ChangeId, Change]>> {
    return [];
  }
}
