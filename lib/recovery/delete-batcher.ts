/**
 * Step 5 of the sweeper (delete) shared by every instance of a sweep: the blobs that the judged
 * instances name are gathered and sent together, up to 1 000 keys per `DeleteObjects`, instead
 * of one request per instance.
 *
 * The rule it keeps: a blob is deleted only after its entry was judged (an instance submits its
 * keys once its judgement is done), and an entry is dropped only after its blobs' deletes are
 * answered (each submission resolves to the keys that failed, and the sweeper drops or keeps the
 * instance's entries from that). Nothing an instance did not submit is ever deleted, and a key
 * that two instances submit is sent once.
 *
 * When a batch goes: as soon as it holds `maxKeys` keys, or when the sweeper has nothing else
 * running ({@link flush}, called by the sweeper when its work pool goes idle, and at the end), so
 * a small sweep waits for no timer and a large one sends full batches. A batch that fails as a
 * whole (the request throws) rejects every submission in it: each of those instances keeps its
 * claim and entries, as when its own delete failed.
 */
import { S3_DELETE_BATCH } from '../constants.js';
import type { DeleteFailure } from '../tiered/lt-bucket.js';

/** Deletes keys in as few requests as it can; answers the keys that failed. */
export type DeleteMany = (keys: readonly string[]) => Promise<DeleteFailure[]>;

interface Submission {
  readonly keys: readonly string[];
  readonly resolve: (failed: ReadonlySet<string>) => void;
  readonly reject: (err: unknown) => void;
}

export class DeleteBatcher {
  private pending: Submission[] = [];
  private readonly pendingKeys = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private sent = 0;

  /**
   * @param deleteMany the delete of one batch (`LtBucket.deleteMany`).
   * @param maxKeys the keys of one batch; at most 1 000, what one `DeleteObjects` takes.
   */
  constructor(
    private readonly deleteMany: DeleteMany,
    private readonly maxKeys: number = S3_DELETE_BATCH,
  ) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1 || maxKeys > S3_DELETE_BATCH) {
      throw new RangeError(`maxKeys must be an integer in 1..${S3_DELETE_BATCH}`);
    }
  }

  /** Keys waiting for the next batch. */
  get waiting(): number {
    return this.pendingKeys.size;
  }

  /** Batches sent so far. */
  get batches(): number {
    return this.sent;
  }

  /**
   * Submits the blobs of one judged instance. Resolves, once their batch was answered, to those
   * of them whose delete failed; rejects if the batch failed as a whole.
   */
  submit(keys: readonly string[]): Promise<ReadonlySet<string>> {
    if (keys.length === 0) return Promise.resolve(new Set());
    return new Promise((resolve, reject) => {
      this.pending.push({ keys, resolve, reject });
      for (const key of keys) this.pendingKeys.add(key);
      if (this.pendingKeys.size >= this.maxKeys) this.flush();
    });
  }

  /** Sends what is waiting now (in batches of at most `maxKeys`). */
  flush(): void {
    while (this.pending.length > 0) {
      // Take whole submissions up to the batch size (one larger than it goes alone, split by deleteMany).
      const batch: Submission[] = [];
      const keys = new Set<string>();
      while (this.pending.length > 0) {
        const next = this.pending[0]!;
        const added = next.keys.filter((key) => !keys.has(key)).length;
        if (batch.length > 0 && keys.size + added > this.maxKeys) break;
        batch.push(next);
        for (const key of next.keys) keys.add(key);
        this.pending.shift();
      }
      for (const key of keys) this.pendingKeys.delete(key);
      this.send(batch, [...keys]);
    }
  }

  /** Resolves when every batch sent has been answered (and nothing waits). */
  async settled(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private send(batch: readonly Submission[], keys: readonly string[]): void {
    this.sent++;
    const request = (async () => {
      try {
        const failures = await this.deleteMany(keys);
        const failed = new Set(failures.map((f) => f.key));
        for (const submission of batch) submission.resolve(new Set(submission.keys.filter((key) => failed.has(key))));
      } catch (err) {
        for (const submission of batch) submission.reject(err);
      }
    })();
    const tracked: Promise<void> = request.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
