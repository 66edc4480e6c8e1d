/**
 * Requests the sweeper shares across the instances of one sweep: the consistent HV reads of
 * step 4 (up to 100 keys per `BatchGetItem`) and the blob deletes of step 5 (up to 1 000 keys per
 * `DeleteObjects`). Each instance submits its keys; the batcher sends them together, so a sweep
 * of many small instances makes a few full requests instead of one small request per instance.
 *
 * What it keeps: an instance learns only the answers for its own keys, and only once the
 * request that carried them was answered; nothing an instance did not submit is asked for; a
 * key two instances submit is sent once. A request that fails as a whole rejects every
 * submission in it (each of those instances keeps its claim and its entries, as when its own
 * request failed).
 *
 * When a batch goes: as soon as it holds `maxKeys` keys, or when the sweeper has nothing else
 * running ({@link flush}, called by the sweeper when its work pool goes idle, and at the end), so
 * a small sweep waits for no timer and a large one sends full batches; and, since a sweep of a
 * backlog keeps its pool busy to its end, once its oldest key has waited long enough
 * ({@link waitingSince}: the sweeper flushes a batch older than a second as it takes each next
 * instance), so an instance claimed early is settled while its claim holds. No library batches
 * requests this way across independent callers (DataLoader does, per tick, with no size-driven
 * send and no idle signal), and the rule above is the sweeper's to keep: hand-written.
 */

/** One request for `keys`; answers what it has to say per key (absent: nothing to say). */
export type BatchRequest<T> = (keys: readonly string[]) => Promise<ReadonlyMap<string, T>>;

interface Submission<T> {
  readonly keys: readonly string[];
  readonly resolve: (answers: ReadonlyMap<string, T>) => void;
  readonly reject: (err: unknown) => void;
}

export class KeyBatcher<T> {
  private pending: Submission<T>[] = [];
  /** When the oldest submission waiting was made (`clock`), or undefined when none waits. */
  private oldest: number | undefined;
  private readonly pendingKeys = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private sent = 0;

  /**
   * @param request one request of at most `maxKeys` keys.
   * @param maxKeys the keys of one request (what the service takes in one call).
   * @param clock what {@link waitingSince} is measured on (ms). Default `Date.now`.
   */
  constructor(
    private readonly request: BatchRequest<T>,
    private readonly maxKeys: number,
    private readonly clock: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError('maxKeys must be a positive integer');
  }

  /** Keys waiting for the next batch. */
  get waiting(): number {
    return this.pendingKeys.size;
  }

  /** When the oldest submission still waiting for a batch was made (on the clock), or undefined: none waits. */
  get waitingSince(): number | undefined {
    return this.oldest;
  }

  /** Keys wait for a batch, or a request is unanswered: more answers are on their way. */
  get busy(): boolean {
    return this.pendingKeys.size > 0 || this.inFlight.size > 0;
  }

  /** Requests sent so far. */
  get batches(): number {
    return this.sent;
  }

  /**
   * Submits the keys of one instance. Resolves, once the request that carried them was answered,
   * to the answers for those keys; rejects if that request failed as a whole.
   */
  submit(keys: readonly string[]): Promise<ReadonlyMap<string, T>> {
    if (keys.length === 0) return Promise.resolve(new Map());
    const unique = [...new Set(keys)];
    if (unique.length > this.maxKeys) return this.submitInChunks(unique);
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) this.oldest = this.clock();
      this.pending.push({ keys: unique, resolve, reject });
      for (const key of unique) this.pendingKeys.add(key);
      if (this.pendingKeys.size >= this.maxKeys) this.flush();
    });
  }

  /** Sends what is waiting now, in requests of at most `maxKeys` keys, whole submissions each. */
  flush(): void {
    this.oldest = undefined;
    while (this.pending.length > 0) {
      const batch: Submission<T>[] = [];
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

  /** Resolves when every request sent has been answered (and nothing waits). */
  async settled(): Promise<void> {
    this.flush();
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** A submission larger than one request: in parts, answered when all parts are. */
  private async submitInChunks(keys: readonly string[]): Promise<ReadonlyMap<string, T>> {
    const parts: Promise<ReadonlyMap<string, T>>[] = [];
    for (let i = 0; i < keys.length; i += this.maxKeys) parts.push(this.submit(keys.slice(i, i + this.maxKeys)));
    return new Map((await Promise.all(parts)).flatMap((part) => [...part]));
  }

  private send(batch: readonly Submission<T>[], keys: readonly string[]): void {
    this.sent++;
    const request = (async () => {
      try {
        const answers = await this.request(keys);
        for (const submission of batch) {
          submission.resolve(new Map(submission.keys.flatMap((key) => (answers.has(key) ? [[key, answers.get(key)!] as const] : []))));
        }
      } catch (err) {
        for (const submission of batch) submission.reject(err);
      }
    })();
    const tracked: Promise<void> = request.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
