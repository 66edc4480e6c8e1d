/**
 * A model of the store as a set of registers (one per object key), to check what reads return
 * under concurrency and faults.
 *
 * Every write (put or delete) is an interval on a logical clock, from the call to its answer, and
 * ends in one of: acknowledged (it took effect), failed (it definitely did not take effect), or
 * unknown (an error that may have left it applied, or the writer died during it once a request
 * of it that writes HV had gone out; dead before, it failed). A write that
 * takes effect does so at one instant inside its interval (it is linearizable), and in this
 * simulation nothing of a write reaches a server after its call returned (a dead writer sends
 * nothing more; a fenced commit never lands).
 *
 * A read over `[start, end]` may return the value of write W when W did not definitely fail, W
 * started before the read ended, and W was not overwritten for sure before the read started,
 * i.e. there is no acknowledged W' that started after W ended and ended before the read started.
 * That is: the last acknowledged write, and every write that may have landed after it (pending,
 * acknowledged, unknown or crashed). The initial state is an acknowledged delete (absent).
 *
 * Reads are checked at the end ({@link RegisterModel.violations}), when every write's outcome is
 * known: a read that returned a write which later turned out to have definitely failed is caught.
 *
 * Bodies are derived from their tag ({@link bodyFor}), so a read is checked byte for byte.
 *
 * Expiry (a put's `expiresAt`, `timeToLiveMs` or `timeToIdleMs`) is an instant on the wall
 * clock, so every write and read also carries its wall-clock interval. The store keeps the expiry
 * in whole seconds rounded up and computes it from its clock at the start of the put, so a put's
 * expiry lies in a known window: from {@link earliestExpiry} (its start plus the TTL; a TTI only
 * ever moves it later) to {@link latestExpiry} (its end plus the TTL; for a TTI, the end of the
 * last read of its value that may have refreshed it, plus the TTI). Then:
 *  - no expired object is ever served: a read that returned a value started before the value's
 *    latest expiry, and the expiry it reported is inside the window and after the read's start;
 *  - a read, a delete's "absent" and an `ifVersion: 0` may see an expiring value as absent once
 *    its earliest expiry is past, and a put over it may answer one past its version or, once TTL
 *    removed the item, a first version (lib/tiered/versions.ts) above every version it was seen
 *    at: versions never restart.
 */
import { VERSIONS_PER_MS } from '../tiered/versions.js';

export type WriteKind = 'put' | 'delete';
export type WriteStatus = 'pending' | 'acked' | 'failed' | 'unknown';

/**
 * The errors (by name) after which a write definitely did not take effect: the store refused it
 * before anything could land, or its commit was fenced. Any other error may have left it applied.
 * By name, so a subclass that says the same is listed under its own (`UploadNotSentError`).
 */
const DEFINITE_FAILURES: ReadonlySet<string> = new Set([
  'InstanceClaimedError',
  // An InstanceClaimedError: its upload was stopped unsent (the lease and the upload window passed, or the instance fenced); it did not commit.
  'UploadNotSentError',
  // DynamoDB cancelled its commit for a reason it meets again: nothing was written.
  'CommitRefusedError',
  'ContentionError',
  'VersionConflictError',
  'ValidationError',
  // A complete: the parts were refused, or the session was closed (the commit is fenced).
  'InvalidPartsError',
  'UploadSessionClosedError',
]);

/** How a write that was not acknowledged ended: `failed` after an error of {@link DEFINITE_FAILURES}, else `unknown`. */
export function statusAfterError(errorName: string | undefined): 'failed' | 'unknown' {
  return errorName !== undefined && DEFINITE_FAILURES.has(errorName) ? 'failed' : 'unknown';
}

export interface ModelWrite {
  readonly key: string;
  readonly tag: string;
  readonly kind: WriteKind;
  /** Body size of a put. */
  readonly size: number;
  readonly start: number;
  end: number;
  status: WriteStatus;
  /** Why it ended as it did (error name, crash step). */
  note?: string;
  /** The versions the value of this put was seen at (its answer, reads); one, unless `multi`. */
  versions?: Set<number>;
  /**
   * May have been applied more than once (an unconditional small write retried by the SDK after
   * another writer's write: a known limit), so its value may have held several versions.
   */
  multi?: boolean;
  /** A conditional write: the version it required (0: absent). */
  ifVersion?: number;
  /** An acknowledged delete's answer: true when there was an object to delete. */
  existed?: boolean;
  /** Wall clock (ms) at the call and at the answer. */
  readonly wallStart: number;
  wallEnd: number;
  /** The put's expiry policy, if it has one. */
  readonly expiry?: ModelExpiry;
}

/** A put's expiry policy, as the model needs it. */
export type ModelExpiry =
  | { readonly kind: 'at'; readonly at: number }
  | { readonly kind: 'ttl'; readonly ms: number }
  | { readonly kind: 'tti'; readonly ms: number };

/** What a read saw: the tag of the value (from its metadata), or absent. */
export type Observed =
  | { readonly kind: 'absent' }
  | {
      readonly kind: 'value';
      readonly tag: string;
      readonly bodyOk: boolean;
      readonly size: number;
      readonly version?: number;
      /** The expiry the read reported (ms; absent: never). Checked only when `expiryKnown`. */
      readonly expiresAt?: number;
      /** The read reported the object's expiry (reads through `get`/`head` do). */
      readonly expiryKnown?: boolean;
    };

interface ModelRead {
  readonly key: string;
  readonly start: number;
  end: number;
  readonly wallStart: number;
  wallEnd: number;
  observed?: Observed;
  readonly label: string;
}

const INITIAL = '(initial: absent)';

export class RegisterModel {
  private clock = 0;
  private readonly writes = new Map<string, ModelWrite[]>();
  private readonly byTag = new Map<string, ModelWrite>();
  private readonly reads: ModelRead[] = [];

  /** The logical time now (strictly increasing). */
  tick(): number {
    return ++this.clock;
  }

  beginWrite(key: string, kind: WriteKind, tag: string, size = 0, ifVersion?: number, expiry?: ModelExpiry): ModelWrite {
    if (this.byTag.has(tag)) throw new Error(`tag ${tag} used twice`);
    const write: ModelWrite = {
      key,
      tag,
      kind,
      size,
      start: this.tick(),
      end: Number.POSITIVE_INFINITY,
      status: 'pending',
      wallStart: Date.now(),
      wallEnd: Number.POSITIVE_INFINITY,
      ...(expiry !== undefined ? { expiry } : {}),
    };
    if (ifVersion !== undefined) write.ifVersion = ifVersion;
    this.history(key).push(write);
    this.byTag.set(tag, write);
    return write;
  }

  endWrite(
    write: ModelWrite,
    status: Exclude<WriteStatus, 'pending'>,
    note?: string,
    answer: { version?: number; existed?: boolean; multi?: boolean } = {},
  ): void {
    write.end = this.tick();
    write.wallEnd = Date.now();
    write.status = status;
    if (note !== undefined) write.note = note;
    if (answer.version !== undefined) this.learnVersion(write, answer.version);
    if (answer.existed !== undefined) write.existed = answer.existed;
    if (answer.multi === true) write.multi = true;
  }

  beginRead(key: string, label: string): ModelRead {
    const read: ModelRead = {
      key,
      start: this.tick(),
      end: Number.POSITIVE_INFINITY,
      wallStart: Date.now(),
      wallEnd: Number.POSITIVE_INFINITY,
      label,
    };
    this.reads.push(read);
    return read;
  }

  endRead(read: ModelRead, observed: Observed | undefined): void {
    read.end = this.tick();
    read.wallEnd = Date.now();
    if (observed === undefined) return;
    read.observed = observed;
    if (observed.kind === 'value' && observed.version !== undefined) {
      const write = this.byTag.get(observed.tag);
      if (write !== undefined && write.kind === 'put') this.learnVersion(write, observed.version);
    }
  }

  private learnVersion(write: ModelWrite, version: number): void {
    (write.versions ??= new Set()).add(version);
  }

  /** The writes whose value a read over `[start, end]` of `key` may return. */
  candidates(key: string, start: number, end: number): ModelWrite[] {
    const history = this.history(key);
    return history.filter(
      (w) =>
        w.status !== 'failed' &&
        w.start < end &&
        !history.some((later) => later.status === 'acked' && later.start > w.end && later.end < start),
    );
  }

  /**
   * Why `observed` is not an allowed result of a read of `key` over `[start, end]` (wall clock
   * `[wallStart, wallEnd]`), or undefined. `self`: the read, not counted as a refresh of its own.
   */
  explain(
    key: string,
    start: number,
    end: number,
    observed: Observed,
    wall: { start: number; end: number } = { start: Date.now(), end: Date.now() },
    self?: ModelRead,
  ): string | undefined {
    const allowed = this.candidates(key, start, end);
    if (observed.kind === 'absent') {
      if (allowed.some((w) => w.kind === 'delete' || mayHaveExpired(w, wall.end))) return undefined;
      return `read absent, allowed: ${describe(allowed)}`;
    }
    const write = this.byTag.get(observed.tag);
    if (write === undefined || write.key !== key || write.kind !== 'put')
      return `read "${observed.tag}", which was never put to this key; allowed: ${describe(allowed)}`;
    if (!observed.bodyOk || observed.size !== write.size)
      return `read "${observed.tag}" with a wrong body (size ${observed.size}, written ${write.size})`;
    if (!allowed.includes(write)) return `read "${observed.tag}" (${describe([write])}), allowed: ${describe(allowed)}`;
    return this.explainExpiry(write, observed, wall, self);
  }

  /** Why a read that returned `write`'s value served it expired, or reported a wrong expiry. */
  private explainExpiry(write: ModelWrite, observed: Observed & { kind: 'value' }, wall: { start: number; end: number }, self?: ModelRead) {
    const latest = this.latestExpiry(write, wall.end, self);
    if (wall.start >= latest)
      return `served "${write.tag}" expired: the read started at ${iso(wall.start)}, the value expired at ${iso(latest)} at the latest`;
    if (observed.expiryKnown !== true) return undefined;
    const reported = observed.expiresAt;
    if (write.expiry === undefined)
      return reported === undefined ? undefined : `read "${write.tag}" with an expiry (${iso(reported)}) it was not given`;
    if (reported === undefined) return `read "${write.tag}" without its expiry`;
    if (reported <= wall.start) return `served "${write.tag}" with an expiry (${iso(reported)}) before the read started`;
    const upper = write.expiry.kind === 'tti' ? ceilSecond(wall.end + write.expiry.ms) : latest;
    if (reported < earliestExpiry(write) || reported > upper)
      return `read "${write.tag}" with expiry ${iso(reported)}, outside ${iso(earliestExpiry(write))}..${iso(upper)}`;
    return undefined;
  }

  /**
   * The latest instant `write`'s value may expire, as seen by a read ending at `before`: for a
   * time to idle, each read of the value that started before then may have refreshed it.
   */
  private latestExpiry(write: ModelWrite, before: number, self?: ModelRead): number {
    const e = write.expiry;
    if (e === undefined) return Number.POSITIVE_INFINITY;
    if (e.kind !== 'tti') return latestFixedExpiry(write, e);
    let touched = write.wallEnd;
    for (const r of this.reads) {
      if (r === self || r.key !== write.key || r.wallStart >= before) continue;
      if (r.observed === undefined ? true : r.observed.kind === 'value' && r.observed.tag === write.tag) {
        touched = Math.max(touched, r.wallEnd);
      }
    }
    return ceilSecond(touched + e.ms);
  }

  /**
   * Acknowledged writes (of those `which` selects) over a value that expired while they ran
   * (`during`), or before (`before`): a key expiring while it is overwritten.
   */
  overExpiry(which: (w: ModelWrite) => boolean = () => true): { during: number; before: number } {
    const n = { during: 0, before: 0 };
    for (const w of this.acknowledged()) {
      if (!which(w)) continue;
      const expiring = this.candidates(w.key, w.start, w.end).filter((x) => x !== w && mayHaveExpired(x, w.wallEnd));
      if (expiring.some((x) => earliestExpiry(x) >= w.wallStart)) n.during++;
      else if (expiring.length > 0) n.before++;
    }
    return n;
  }

  /**
   * Acknowledged puts that found their key absent because its value had expired (every state
   * they could replace was a deletion or an expired value, one at least expired) within
   * `withinMs` before the put: a key re-created right after its expiry.
   */
  recreatedAfterExpiry(withinMs = 2_000): number {
    let n = 0;
    for (const w of this.acknowledged()) {
      if (w.kind !== 'put') continue;
      const others = this.candidates(w.key, w.start, w.end).filter((x) => x !== w);
      const expired = others.filter((x) => mayHaveExpired(x, w.wallStart));
      if (expired.length === 0 || !others.every((x) => x.kind === 'delete' || expired.includes(x))) continue;
      if (expired.some((x) => w.wallStart - earliestExpiry(x) <= withinMs)) n++;
    }
    return n;
  }

  private *acknowledged(): Generator<ModelWrite> {
    for (const history of this.writes.values()) for (const w of history) if (w.status === 'acked' && w.tag !== INITIAL) yield w;
  }

  /**
   * Every read that returned something the model does not allow, and every acknowledged answer
   * no state during the write could give: a put's new version is one more than the version it
   * replaced (over no item, a first version: lib/tiered/versions.ts); a delete that found an object (or none) met one; a conditional
   * write met its version, and a refused one met another.
   */
  violations(): string[] {
    const out: string[] = [];
    for (const history of this.writes.values()) {
      for (const w of history) {
        if (w.status === 'pending' || w.tag === INITIAL) continue;
        const others = this.candidates(w.key, w.start, w.end).filter((x) => x !== w);
        // A value that may have expired during the write was absent to it (version 0); once TTL
        // removed its item, a put starts at a first version above every version it was seen at.
        const expired = (x: ModelWrite) => mayHaveExpired(x, w.wallEnd);
        const matches = (x: ModelWrite, version: number) =>
          version === 0
            ? x.kind === 'delete' || expired(x)
            : x.kind === 'put' && (x.multi === true || x.versions === undefined || x.versions.has(version));
        const fail = (why: string) =>
          out.push(`${w.kind} ${w.tag} of ${w.key} @[${w.start},${w.end}] ${why}; states possible then: ${describe(others)}`);
        if (w.versions !== undefined && w.versions.size > 1 && w.multi !== true) fail(`was seen at versions ${[...w.versions].join(', ')}`);
        const answered = w.versions?.size === 1 ? [...w.versions][0]! : undefined;
        if (w.status === 'acked') {
          // A delete leaves a marker that keeps counting: a put over it answers a version the
          // model did not learn (any version past 1; over no item at all, a first version).
          const replaces = (x: ModelWrite) =>
            matches(x, answered! - 1) ||
            (x.kind === 'delete' && answered! > 1) ||
            (expired(x) && isFirstVersion(answered!) && [...(x.versions ?? [])].every((v) => v < answered!));
          if (w.kind === 'put' && answered !== undefined && w.multi !== true && !others.some(replaces)) {
            fail(`answered version ${answered}, but no state it could replace had version ${answered - 1}`);
          }
          if (w.kind === 'delete' && w.existed !== undefined && !others.some((x) => (w.existed ? x.kind === 'put' : matches(x, 0)))) {
            fail(`answered ${w.existed ? 'deleted' : 'absent'}, which no state then was`);
          }
          if (w.ifVersion !== undefined && !others.some((x) => matches(x, w.ifVersion!))) {
            fail(`succeeded on version ${w.ifVersion}, which no state then had`);
          }
        }
        if (w.status === 'failed' && w.note?.startsWith('VersionConflictError') && w.ifVersion !== undefined) {
          const known = others.every((x) => x.kind === 'delete' || (x.versions !== undefined && x.multi !== true));
          // A refusal is wrong only if every state had the version asked for whenever the write
          // looked: for version 0, deleted or expired for sure before the write started (a value
          // that may expire during the write may have been live when it read); else that version,
          // and not one that may have expired by the end.
          const surelyExpired = (x: ModelWrite) =>
            x.kind === 'put' && x.expiry !== undefined && this.latestExpiry(x, w.wallStart) <= w.wallStart;
          const had = (x: ModelWrite) =>
            w.ifVersion === 0 ? x.kind === 'delete' || surelyExpired(x) : matches(x, w.ifVersion!) && !expired(x);
          if (known && others.every(had)) fail(`was refused, though every state then had version ${w.ifVersion}`);
        }
      }
    }
    for (const read of this.reads) {
      if (read.observed === undefined) continue;
      const why = this.explain(read.key, read.start, read.end, read.observed, { start: read.wallStart, end: read.wallEnd }, read);
      if (why !== undefined) out.push(`${read.label} of ${read.key} @[${read.start},${read.end}]: ${why}`);
    }
    return out;
  }

  /** Checks the value a key holds after every write ended. */
  checkFinal(key: string, observed: Observed, wall?: { start: number; end: number }): string | undefined {
    const now = this.tick();
    const why = this.explain(key, now, now + 1, observed, wall);
    return why === undefined ? undefined : `final value of ${key}: ${why}`;
  }

  /** Reads checked (with a result). */
  get readsObserved(): number {
    return this.reads.filter((r) => r.observed !== undefined).length;
  }

  private history(key: string): ModelWrite[] {
    let list = this.writes.get(key);
    if (list === undefined) {
      const initial: ModelWrite = {
        key,
        tag: INITIAL,
        kind: 'delete',
        size: 0,
        start: 0,
        end: 0,
        status: 'acked',
        wallStart: 0,
        wallEnd: 0,
      };
      this.writes.set(key, (list = [initial]));
    }
    return list;
  }
}

/** Whether `version` can be the first version of an item (the writer's clock in ms × 1000). */
function isFirstVersion(version: number): boolean {
  return version > 0 && version % VERSIONS_PER_MS === 0;
}

/** The store keeps an expiry in whole seconds, rounded up. */
function ceilSecond(ms: number): number {
  return Math.ceil(ms / 1_000) * 1_000;
}

/** The earliest instant a put's value may expire (a TTI refresh only moves it later). */
export function earliestExpiry(w: ModelWrite): number {
  const e = w.expiry;
  if (e === undefined) return Number.POSITIVE_INFINITY;
  return e.kind === 'at' ? ceilSecond(e.at) : ceilSecond(w.wallStart + e.ms);
}

/** The latest instant a put with a fixed expiry (an instant or a TTL) expires. */
function latestFixedExpiry(w: ModelWrite, e: ModelExpiry): number {
  return e.kind === 'at' ? ceilSecond(e.at) : ceilSecond(w.wallEnd + e.ms);
}

/** True when the value of put `w` may have expired by `at` (wall clock). */
function mayHaveExpired(w: ModelWrite, at: number): boolean {
  return w.kind === 'put' && w.expiry !== undefined && earliestExpiry(w) <= at;
}

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : 'never';
}

function describe(writes: readonly ModelWrite[]): string {
  if (writes.length === 0) return '(none)';
  return writes
    .map(
      (w) =>
        `${w.kind} ${w.tag}${w.versions !== undefined ? ` v${[...w.versions].join('/')}` : ''}${w.multi ? ' (may have applied twice)' : ''}${w.ifVersion !== undefined ? ` if v${w.ifVersion}` : ''}${w.expiry !== undefined ? ` expires ${w.expiry.kind}` : ''} [${w.start},${Number.isFinite(w.end) ? w.end : '…'}] ${w.status}${w.note ? ` (${w.note})` : ''}`,
    )
    .join('; ');
}

/**
 * The body of a put with this tag and size: the tag, then bytes derived from it. A body too short
 * to hold its tag is the tag's hash (FNV-1a, its 4 bytes, then bytes derived from it): a prefix of
 * the tag was one body for every write of that size whose tags began alike (`w1-op12` and
 * `w1-op13` in 3 bytes), so a read that served one's bytes under the other's metadata passed.
 */
export function bodyFor(tag: string, size: number): Uint8Array {
  const bytes = Buffer.alloc(size);
  const head = Buffer.from(`${tag}|`);
  let h = 0x811c9dc5;
  for (const c of head) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  if (size < head.length) {
    for (let i = 0; i < size; i++) bytes[i] = i < 4 ? (h >>> (8 * i)) & 0xff : (h + i * 7) & 0xff;
  } else {
    head.copy(bytes, 0);
    for (let i = head.length; i < size; i++) bytes[i] = (h + i * 7 + (i >>> 8)) & 0xff;
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** True when `body` is exactly {@link bodyFor}(tag, size). */
export function bodyMatches(tag: string, size: number, body: Uint8Array): boolean {
  return body.byteLength === size && Buffer.from(body).equals(Buffer.from(bodyFor(tag, size)));
}

/**
 * What a read returned, as the model takes it: the tag from the object's metadata, the body checked
 * against {@link bodyFor}; its version unless `withVersion` is false (a read whose answer is not
 * compared by version).
 */
export function observe(
  value: { metadata: Readonly<Record<string, string>>; body: Uint8Array; version?: number; expiresAt?: Date } | undefined,
  withVersion = true,
): Observed {
  if (value === undefined) return { kind: 'absent' };
  const tag = value.metadata.tag ?? '(no tag)';
  const size = value.body.byteLength;
  return {
    kind: 'value',
    tag,
    size,
    bodyOk: bodyMatches(tag, size, value.body),
    ...(withVersion && value.version !== undefined ? { version: value.version } : {}),
    expiryKnown: true,
    ...(value.expiresAt !== undefined ? { expiresAt: value.expiresAt.getTime() } : {}),
  };
}
