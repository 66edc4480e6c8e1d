/**
 * A plain {@link ChangeLog} seen through the {@link FencedChangeLog} interface, so the store has
 * one write path. Such a log cannot join the commit's transaction, so:
 *
 *  - `fence` returns nothing: the commit is the HV conditional write alone (no liveness check;
 *    a plain log has no instances for a sweeper to claim);
 *  - `prepareCommit` of an overwrite records the replaced blob (`{id, old}`) as an entry of its
 *    own before the commit is sent, since the commit cannot write it into the change's entry
 *    (re-recording an id with other content is refused by the contract). Safe either way: before
 *    the commit HV points at `old`, and recovery deletes `old` only once HV no longer does;
 *    An `old` that is not exactly a blob key of this object under the prefix (an objects item
 *    copied to "rename" an object names the other object's blob) is not recorded: the writer
 *    never deletes it (the settle's namespace guard), and a recovery of the plain log that follows
 *    the seed's contract ("delete `old` unless HV points at it") would delete a blob another key
 *    still points at. tierlog's own sweeper quarantines such an entry; a third party's may not.
 *    Nor does `record` write such an `old` for a change that names it up front (a large delete, a
 *    small body over a blob);
 *  - `remove` removes those entries with the change's own.
 */
import type { Change, ChangeLog } from '../changelog/change-log.js';
import type { FenceEffect, FencedChangeLog, TransactElement } from '../changelog/fenced.js';
import { isFencedChangeLog } from '../changelog/fenced.js';
import { ValidationError } from '../errors.js';
import { type ChangeId, newChangeId } from '../ids.js';
import { checkBlobKey } from './blob-keys.js';

/** `log` itself when it fences; else the adapter around it, for the store of blob prefix `prefix`. */
export function fencedLogOf(log: ChangeLog, prefix: string): FencedChangeLog {
  return isFencedChangeLog(log) ? log : new PlainLogAdapter(log, prefix);
}

export class PlainLogAdapter implements FencedChangeLog {
  /** The object key of each change recorded and not yet removed, with its extra `old` entries. */
  private readonly open = new Map<ChangeId, { readonly change: Change; readonly olds: Map<string, ChangeId> }>();

  constructor(
    readonly inner: ChangeLog,
    /** The store's blob prefix: an `old` outside its object's keys there is not recorded. */
    readonly prefix: string,
  ) {}

  /**
   * Records `change`, but an `old` that is not exactly a blob key of its object under the prefix
   * (a large delete's or a small put's over an item that names another object's blob, recorded up
   * front): that blob is left out, as {@link prepareCommit} leaves it out of an overwrite's entries.
   */
  async record(id: ChangeId, change: Change): Promise<void> {
    const { old, ...rest } = change;
    const recorded = old !== undefined && !checkBlobKey(this.prefix, change.id, old).ok ? rest : change;
    this.open.set(id, { change: recorded, olds: new Map() });
    await this.inner.record(id, recorded);
  }

  async remove(id: ChangeId): Promise<void> {
    const entry = this.open.get(id);
    for (const [old, oldId] of entry?.olds ?? []) {
      await this.inner.remove(oldId);
      entry!.olds.delete(old);
    }
    await this.inner.remove(id);
    this.open.delete(id);
  }

  scan(): Promise<Array<[ChangeId, Change]>> {
    return this.inner.scan();
  }

  async prepareCommit(changeId: ChangeId, effect: FenceEffect): Promise<void> {
    if (effect.kind !== 'setOld') return;
    const entry = this.open.get(changeId);
    if (entry === undefined) throw new ValidationError(`change ${changeId} was not recorded by this change log`, 'changeId');
    if (entry.change.old === effect.old || entry.olds.has(effect.old)) return;
    if (!checkBlobKey(this.prefix, entry.change.id, effect.old).ok) return;
    const oldId = newChangeId();
    entry.olds.set(effect.old, oldId);
    await this.inner.record(oldId, { id: entry.change.id, old: effect.old });
  }

  fence(): TransactElement | undefined {
    return undefined;
  }

  committed(): void {}

  fenceLost(): void {}

  abandon(changeId: ChangeId): void {
    this.open.delete(changeId);
  }
}
