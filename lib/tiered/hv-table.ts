/**
 * The objects table ("HV"): one item per object key, holding either the body inline or a
 * tombstone, i.e. the key of the blob in LT. Every write sets `version` for compare-and-swap
 * (+1; where no item exists, a first version drawn from the writer's clock: versions.ts) and
 * `writeId` (the id of the write), so a write whose outcome is unknown is decided by one
 * consistent read: the item carries our `writeId` or it does not.
 *
 * A delete does not remove the item: it turns it into a small *deletion marker* (`deleted` set,
 * the version counter kept and moved on by one, no body, no blob, no metadata). Every read, CAS
 * and delete treats a marker as absent, and a create over a marker continues at its version + 1,
 * so a version names one state of one incarnation of a key: a condition taken from a deleted
 * incarnation can never match the object re-created under the same key. A marker costs one
 * small item (about 100 bytes) per deleted key; it references no blob. An expired object's item
 * is removed by TTL, counter and all; the key's next item starts above every version the removed
 * one could have reached (versions.ts), so a condition taken from it never matches either.
 *
 * Users with their own HV schema map the attribute names ({@link HvAttributeNames}).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { batchGetConsistent } from '../aws/batch-get.js';
import { documentClient } from '../aws/clients.js';
import { isConditionalCheckFailed, retryOnTransactionConflict, translateAwsError } from '../aws/errors.js';
import { CorruptItemError } from '../errors.js';
import { DEFAULT_EXPIRES_AT_ATTRIBUTE, type StoredExpiry } from './expiry.js';
import { type HvPointer, unrecognisedHvItemReason } from './hv-item-shape.js';
import { firstVersion } from './versions.js';

/** Attribute names of an HV item. */
export interface HvAttributeNames {
  /** Partition key. Default `key`. */
  readonly key: string;
  /** Version number, +1 on every write (a new item's from the clock: versions.ts). Default `version`. */
  readonly version: string;
  /** Inline body (binary). Default `body`. */
  readonly body: string;
  /** Tombstone: LT key of the blob. Default `blob`. */
  readonly blob: string;
  /** Body size in bytes. Default `size`. */
  readonly size: string;
  /** Content type. Default `contentType`. */
  readonly contentType: string;
  /** User metadata (map of strings). Default `metadata`. */
  readonly metadata: string;
  /** Creation time, ms. Default `createdAt`. */
  readonly createdAt: string;
  /** Last write time, ms. Default `updatedAt`. */
  readonly updatedAt: string;
  /** Id of the last write. Default `writeId`. */
  readonly writeId: string;
  /** Set (true) on a deletion marker: the key is absent; the item keeps its version. Default `deleted`. */
  readonly deleted: string;
  /** Expiry, epoch SECONDS: the table's TTL attribute (see lib/tiered/expiry.ts). Default `expiresAt`. */
  readonly expiresAt: string;
  /** Time to idle in ms, on a time-to-idle object. Default `tti`. */
  readonly tti: string;
}

/** The objects table's attribute names when the configuration gives none (`hvAttributes`, `TIERLOG_HV_ATTRIBUTES`). */
export const DEFAULT_HV_ATTRIBUTES: HvAttributeNames = {
  key: 'key',
  version: 'version',
  body: 'body',
  blob: 'blob',
  size: 'size',
  contentType: 'contentType',
  metadata: 'metadata',
  createdAt: 'createdAt',
  updatedAt: 'updatedAt',
  writeId: 'writeId',
  deleted: 'deleted',
  expiresAt: DEFAULT_EXPIRES_AT_ATTRIBUTE,
  tti: 'tti',
};

/**
 * An HV item, parsed. On an object exactly one of `body` and `blob` is set; a deletion marker
 * (`deleted`) has neither and stands for "absent" at its `version`.
 */
export interface HvRecord {
  /** The object key. */
  readonly key: string;
  /** +1 on every write (a new item's from the clock: versions.ts); a marker keeps counting. The ETag over HTTP. */
  readonly version: number;
  /** Body size in bytes. */
  readonly size: number;
  readonly contentType?: string;
  /** User metadata: lower-case names, printable ASCII values. */
  readonly metadata: Readonly<Record<string, string>>;
  /** When this incarnation was created, ms since the epoch (writer's clock). */
  readonly createdAt: number;
  /** When it was last written, ms since the epoch (writer's clock). */
  readonly updatedAt: number;
  /** Id of the last write (decides a write whose outcome is unknown). */
  readonly writeId?: string;
  readonly body?: Uint8Array;
  readonly blob?: string;
  /** A deletion marker: the key is absent. It never carries an expiry. */
  readonly deleted?: true;
  /** Expiry, epoch seconds (absent: never expires). An item at or past it is absent to readers. */
  readonly expiresAtSeconds?: number;
  /** Time to idle (ms) of a time-to-idle object. */
  readonly ttiMs?: number;
}

/** The object a record stands for: undefined for no item and for a deletion marker. */
export function liveOf(record: HvRecord | undefined): HvRecord | undefined {
  return record === undefined || record.deleted === true ? undefined : record;
}

/**
 * The body of an inline record (one read with its body), which must be the `size` bytes its item
 * declares: one of another length (a size changed by hand, another writer's item) is never answered
 * under that size, nor cut by a range resolved against it. @throws CorruptItemError
 */
export function inlineBodyOf(record: HvRecord): Uint8Array {
  const body = record.body ?? new Uint8Array(0);
  if (body.byteLength !== record.size) {
    throw new CorruptItemError(
      `its item declares ${record.size} bytes, its inline body holds ${body.byteLength}: not answered`,
      `objects item "${record.key.slice(0, 200)}"`,
    );
  }
  return body;
}

/** What an item says about the blob it points at (`blob: null`: none, the object is inline or absent). */
export interface BlobReference {
  readonly blob: string | null;
  readonly version?: number;
  /** Expiry, epoch seconds, of an item that points at a blob and expires. */
  readonly expiresAtSeconds?: number;
}

/** What a write stores besides the body or blob. */
export interface HvWriteFields {
  readonly size: number;
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly now: number;
  readonly writeId: string;
  /** The expiry this write sets; none: the object never expires (a write replaces the policy). */
  readonly expiry?: StoredExpiry;
  /**
   * The write's CAS expects an item expired at `now` (TTL has not removed it yet): the write
   * creates the object, so `createdAt` is `now`, not the expired object's.
   */
  readonly overExpired?: boolean;
}

/**
 * The state a conditional write expects: absent (no item, or a deletion marker), exactly the
 * state read (see {@link expectedOf}), a version of a live object, or anything.
 */
export type Expected =
  /** No item, or a deletion marker; with `liveAt` (ms) also an item expired at that instant. */
  | { readonly kind: 'absent'; readonly liveAt?: number }
  /** No item at all (never written). */
  | { readonly kind: 'missing' }
  /** A deletion marker at `version`. */
  | { readonly kind: 'marker'; readonly version: number }
  /**
   * A live object at `version`. `blob` pins its body too (a blob key is never reused; `null`
   * requires an inline body), so a CAS names the blob it replaces.
   */
  | { readonly kind: 'version'; readonly version: number; readonly blob?: string | null; readonly liveAt?: number }
  /** `liveAt` (ms): no item, or one not expired at that instant. */
  | { readonly kind: 'any'; readonly liveAt?: number };

/** The exact state `record` describes (undefined: no item), for a CAS against what was read. */
export function expectedOf(record: HvRecord | undefined): Expected {
  if (record === undefined) return { kind: 'missing' };
  if (record.deleted === true) return { kind: 'marker', version: record.version };
  return { kind: 'version', version: record.version, blob: record.blob ?? null };
}

/**
 * The placeholder of the instant (epoch seconds, with a fraction) at which a write's condition
 * judges an item live or expired (`liveAt` of {@link Expected}): a single write restates it at each
 * of its attempts (tiered-store.ts), so an SDK retry judges the item when it is sent.
 */
export const LIVE_AT_VALUE = ':liveAt';

/** A write in the shape both `UpdateCommand` and a transaction element take. */
export interface HvWrite {
  readonly type: 'Update';
  readonly input: {
    TableName: string;
    Key: Record<string, unknown>;
    UpdateExpression: string;
    ConditionExpression?: string;
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues?: Record<string, unknown>;
  };
}

export class HvTable {
  readonly tableName: string;
  readonly attrs: HvAttributeNames;
  private readonly doc: DynamoDBDocumentClient;

  constructor(tableName: string, dynamodb: DynamoDBClient, attrs: Partial<HvAttributeNames> = {}) {
    this.tableName = tableName;
    this.attrs = { ...DEFAULT_HV_ATTRIBUTES, ...attrs };
    this.doc = documentClient(dynamodb);
  }

  /** The document client this table writes through (for transactions across tables). */
  get client(): DynamoDBDocumentClient {
    return this.doc;
  }

  /**
   * Reads one object. `withBody: false` leaves the inline body out (the reads of a write, which need no body). Read with its body, an
   * item that shows neither a body, a blob nor a deletion marker under the configured names is not
   * understood (hv-item-shape.ts: written under other names, or by something else): a
   * {@link CorruptItemError}, never an empty body answered with the item's `size`.
   */
  async read(key: string, options: { consistent?: boolean; withBody?: boolean } = {}): Promise<HvRecord | undefined> {
    const a = this.attrs;
    const fields = [
      a.key,
      a.version,
      a.blob,
      a.size,
      a.contentType,
      a.metadata,
      a.createdAt,
      a.updatedAt,
      a.writeId,
      a.deleted,
      a.expiresAt,
      a.tti,
    ];
    if (options.withBody ?? true) fields.push(a.body);
    const names = Object.fromEntries(fields.map((f, i) => [`#f${i}`, f]));
    try {
      const out = await this.doc.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { [a.key]: key },
          ConsistentRead: options.consistent ?? true,
          ProjectionExpression: Object.keys(names).join(', '),
          ExpressionAttributeNames: names,
        }),
      );
      if (out.Item === undefined) return undefined;
      const unrecognised = (options.withBody ?? true) ? unrecognisedHvItemReason(out.Item, a) : undefined;
      if (unrecognised !== undefined) throw new CorruptItemError(unrecognised, `objects table ${this.tableName}`);
      return this.parse(out.Item);
    } catch (err) {
      throw translateAwsError(err, { operation: 'GetItem', table: this.tableName });
    }
  }

  /**
   * What each key points at now, by consistent reads in batches: its blob, `null` (inline, a
   * deletion marker, or no item), or an item not understood under the configured names
   * (hv-item-shape.ts), which nobody may take for "no blob". Bodies are read only for the items
   * that name neither a blob nor a marker. Throws if a batch keeps coming back unprocessed.
   */
  async readBlobPointers(keys: readonly string[]): Promise<Map<string, HvPointer>> {
    const a = this.attrs;
    const result = new Map<string, HvPointer>();
    const unsure: string[] = [];
    await batchGetConsistent(this.doc, this.tableName, a.key, keys, { '#k': a.key, '#b': a.blob, '#d': a.deleted }, (item) => {
      const blob = item[a.blob];
      if (typeof blob === 'string') result.set(String(item[a.key]), blob);
      else if (blob === undefined && item[a.deleted] === true) result.set(String(item[a.key]), null);
      else unsure.push(String(item[a.key]));
    });
    if (unsure.length > 0) {
      const names = { '#k': a.key, '#b': a.blob, '#y': a.body, '#d': a.deleted };
      await batchGetConsistent(this.doc, this.tableName, a.key, unsure, names, (item) => {
        const why = unrecognisedHvItemReason(item, a);
        const blob = item[a.blob];
        result.set(String(item[a.key]), why !== undefined ? { unrecognised: why } : typeof blob === 'string' ? blob : null);
      });
    }
    for (const k of keys) if (!result.has(k)) result.set(k, null);
    return result;
  }

  /**
   * The blob each key points at, with the version and expiry of each item that points at one
   * (what the audit needs to tell a blob of an expired object, and to remove that item as TTL
   * would); `{ blob: null }` for no blob. The audit checks the items' shape separately, for the
   * objects whose blobs it is about to call orphans.
   */
  async readBlobReferences(keys: readonly string[]): Promise<Map<string, BlobReference>> {
    const a = this.attrs;
    const result = new Map<string, BlobReference>();
    const names = { '#k': a.key, '#b': a.blob, '#v': a.version, '#e': a.expiresAt };
    await batchGetConsistent(this.doc, this.tableName, a.key, keys, names, (item) => {
      const blob = item[a.blob];
      const version = item[a.version];
      const expiresAt = item[a.expiresAt];
      result.set(String(item[a.key]), {
        blob: typeof blob === 'string' ? blob : null,
        ...(typeof blob === 'string' && typeof version === 'number' ? { version } : {}),
        ...(typeof blob === 'string' && typeof expiresAt === 'number' ? { expiresAtSeconds: expiresAt } : {}),
      });
    });
    for (const k of keys) if (!result.has(k)) result.set(k, { blob: null });
    return result;
  }

  /**
   * Removes an expired item as DynamoDB's TTL would: only if it is still exactly `ref` (same
   * blob, version and expiry) and expired at `now` (ms). False when the item changed (then it
   * is not removed). The removal shows in the table's stream like a TTL deletion. Refused for a
   * transaction that holds the item (a writer's commit over the expired object: nothing applied,
   * which the SDK does not send again), it is sent again once that is over, and judged on the item
   * the transaction left.
   */
  async removeExpired(key: string, ref: Required<BlobReference> & { blob: string }, now: number): Promise<boolean> {
    const a = this.attrs;
    try {
      await retryOnTransactionConflict(() =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { [a.key]: key },
            ConditionExpression: '#b = :b AND #v = :v AND #e = :e AND #e <= :now AND attribute_not_exists(#d)',
            ExpressionAttributeNames: { '#b': a.blob, '#v': a.version, '#e': a.expiresAt, '#d': a.deleted },
            ExpressionAttributeValues: { ':b': ref.blob, ':v': ref.version, ':e': ref.expiresAtSeconds, ':now': now / 1000 },
          }),
        ),
      );
      return true;
    } catch (err) {
      if (isConditionalCheckFailed(err)) return false;
      throw translateAwsError(err, { operation: 'DeleteItem', table: this.tableName });
    }
  }

  /** Writes an inline body (removing any tombstone), under `expected`; `requireNoBlob` refuses to replace a blob. */
  inlineWrite(key: string, body: Uint8Array, fields: HvWriteFields, expected: Expected, requireNoBlob: boolean): HvWrite {
    const a = this.attrs;
    const b = this.builder(expected);
    b.set('body', a.body, body);
    this.setCommon(b, fields);
    b.remove(a.blob);
    if (requireNoBlob) b.condition(`attribute_not_exists(${b.name('blob', a.blob)})`);
    // An SDK retry of this very write (its answer lost) must not apply it twice: it fails here
    // and the caller recognises its own writeId in the returned item.
    const writeId = b.name('writeId', a.writeId);
    b.condition(`(attribute_not_exists(${writeId}) OR ${writeId} <> ${b.value('writeId', fields.writeId)})`);
    return b.update(key);
  }

  /** Writes a tombstone pointing at `blob`, under `expected`. */
  tombstoneWrite(key: string, blob: string, fields: HvWriteFields, expected: Expected): HvWrite {
    const a = this.attrs;
    const b = this.builder(expected);
    b.set('blob', a.blob, blob);
    this.setCommon(b, fields);
    b.remove(a.body);
    return b.update(key);
  }

  /**
   * Deletes the object under `expected`: turns its item into a deletion marker that keeps the
   * version counter (+1) and carries `writeId`. Refuses (condition) when the key is absent or
   * already a marker; `requireNoBlob` also refuses to replace a tombstone.
   */
  markerWrite(key: string, fields: Pick<HvWriteFields, 'now' | 'writeId'>, expected: Expected, requireNoBlob: boolean): HvWrite {
    const a = this.attrs;
    const b = this.builder(expected);
    b.condition(`attribute_exists(${b.name('key', a.key)}) AND attribute_not_exists(${b.name('deleted', a.deleted)})`);
    if (requireNoBlob) b.condition(`attribute_not_exists(${b.name('blob', a.blob)})`);
    const writeId = b.name('writeId', a.writeId);
    b.condition(`(attribute_not_exists(${writeId}) OR ${writeId} <> ${b.value('writeId', fields.writeId)})`);
    b.raw(`${b.name('version', a.version)} = ${b.name('version', a.version)} + ${b.value('one', 1)}`);
    b.set('deleted', a.deleted, true);
    b.set('writeId', a.writeId, fields.writeId);
    b.set('updatedAt', a.updatedAt, fields.now);
    // A marker never carries an expiry: TTL never removes it, so the deleted key's counter stays.
    for (const gone of [a.body, a.blob, a.size, a.contentType, a.metadata, a.createdAt, a.expiresAt, a.tti]) b.remove(gone);
    return b.update(key);
  }

  /**
   * Moves a time-to-idle object's expiry to `nextSeconds`, only if the item is still the state
   * that was read (`version`, expiry `fromSeconds`) and still live at `liveUntil` (ms: the reader's
   * now plus the margin a refresh may take to land, expiry.ts): a refresh never resurrects an
   * expired object nor undoes a newer write's policy.
   */
  ttiRefreshWrite(key: string, version: number, fromSeconds: number, nextSeconds: number, liveUntil: number): HvWrite {
    const a = this.attrs;
    const b = this.builder({ kind: 'version', version });
    const exp = b.name('expiresAt', a.expiresAt);
    b.condition(`${exp} = ${b.value('fromExpiry', fromSeconds)} AND ${exp} > ${b.value('nowSeconds', liveUntil / 1000)}`);
    b.set('expiresAt', a.expiresAt, nextSeconds);
    return b.update(key);
  }

  /**
   * Parses a whole item (every attribute: a refused write's `ALL_OLD`), refusing one not understood
   * under the configured names (hv-item-shape.ts), as a read with its body does. A write refused by
   * such an item (the condition every write carries, {@link builder}) learns why from it.
   *
   * @throws CorruptItemError
   */
  parseWhole(item: Record<string, unknown>): HvRecord {
    const unrecognised = unrecognisedHvItemReason(item, this.attrs);
    if (unrecognised !== undefined) throw new CorruptItemError(unrecognised, `objects table ${this.tableName}`);
    return this.parse(item);
  }

  /** Parses a raw item. @throws CorruptItemError */
  parse(item: Record<string, unknown>): HvRecord {
    const a = this.attrs;
    const key = item[a.key];
    const version = item[a.version];
    if (typeof key !== 'string' || typeof version !== 'number') {
      throw new CorruptItemError('item lacks a string key or a numeric version', `objects table ${this.tableName}`);
    }
    // An object's size is a byte count, as its version is a number: none (or a string, another
    // tool's) was read as 0, and a blob of any length described as empty (`head`, HEAD's
    // Content-Length). A deletion marker keeps none.
    const size = item[a.size];
    if (item[a.deleted] === undefined && !(Number.isSafeInteger(size) && (size as number) >= 0)) {
      throw new CorruptItemError(
        `item "${key.slice(0, 200)}" has no byte count for a size (${JSON.stringify(size) ?? 'none'})`,
        `objects table ${this.tableName}`,
      );
    }
    const body = item[a.body];
    const blob = item[a.blob];
    const metadata = item[a.metadata];
    // Each attribute the writers write is of its type, or the item is not theirs: a body that is
    // a string, or a blob that is not, was read as none (an empty object); metadata not a map of
    // strings as none; a time that is not a number as NaN (HEAD's Last-Modified "Invalid Date").
    const mistyped = mistypedAttribute(item, a);
    if (mistyped !== undefined) {
      throw new CorruptItemError(`item "${key.slice(0, 200)}" has ${mistyped}`, `objects table ${this.tableName}`);
    }
    const record: HvRecord = {
      key,
      version,
      size: typeof size === 'number' ? size : 0,
      metadata: isStringMap(metadata) ? metadata : {},
      createdAt: Number(item[a.createdAt] ?? 0),
      updatedAt: Number(item[a.updatedAt] ?? 0),
      ...(typeof item[a.contentType] === 'string' ? { contentType: item[a.contentType] as string } : {}),
      ...(typeof item[a.writeId] === 'string' ? { writeId: item[a.writeId] as string } : {}),
      ...(typeof item[a.expiresAt] === 'number' ? { expiresAtSeconds: item[a.expiresAt] as number } : {}),
      ...(typeof item[a.tti] === 'number' ? { ttiMs: item[a.tti] as number } : {}),
      ...(typeof blob === 'string' ? { blob } : {}),
      ...(body instanceof Uint8Array ? { body } : {}),
    };
    if (item[a.deleted] !== undefined) {
      if (record.blob !== undefined || record.body !== undefined) {
        throw new CorruptItemError('deletion marker with a body or a blob', `objects table ${this.tableName}`);
      }
      return { ...record, deleted: true };
    }
    if (record.blob === undefined && record.body === undefined) {
      return { ...record, body: new Uint8Array(0) };
    }
    return record;
  }

  private setCommon(b: ExpressionBuilder, fields: HvWriteFields): void {
    const a = this.attrs;
    // No item: the first version is drawn from the writer's clock (versions.ts), so it exceeds
    // every version an incarnation of the key that TTL removed could have reached.
    const before = b.value('beforeFirst', firstVersion(fields.now) - 1);
    b.raw(`${b.name('version', a.version)} = if_not_exists(${b.name('version', a.version)}, ${before}) + ${b.value('one', 1)}`);
    b.set('size', a.size, fields.size);
    b.set('metadata', a.metadata, { ...(fields.metadata ?? {}) });
    b.set('updatedAt', a.updatedAt, fields.now);
    // A new object's creation: no item, a deletion marker (which keeps no `createdAt`), or an
    // expired item, whose `createdAt` is the expired object's and must not carry over.
    if (fields.overExpired === true) b.set('createdAt', a.createdAt, fields.now);
    else
      b.raw(
        `${b.name('createdAt', a.createdAt)} = if_not_exists(${b.name('createdAt', a.createdAt)}, ${b.value('updatedAt', fields.now)})`,
      );
    b.set('writeId', a.writeId, fields.writeId);
    if (fields.contentType !== undefined) b.set('contentType', a.contentType, fields.contentType);
    else b.remove(a.contentType);
    b.remove(a.deleted);
    // A write replaces the expiry policy: none given, none kept.
    if (fields.expiry?.expiresAtSeconds !== undefined) b.set('expiresAt', a.expiresAt, fields.expiry.expiresAtSeconds);
    else b.remove(a.expiresAt);
    if (fields.expiry?.ttiMs !== undefined) b.set('tti', a.tti, fields.expiry.ttiMs);
    else b.remove(a.tti);
  }

  private builder(expected: Expected): ExpressionBuilder {
    const b = new ExpressionBuilder(this.tableName, this.attrs.key);
    const a = this.attrs;
    // A deletion marker is `deleted = true`, as the shape check (hv-item-shape.ts) and the writers
    // have it: a `deleted` of another value (another schema's soft-delete flag) is none.
    const marker = () => `${b.name('deleted', a.deleted)} = ${b.value('marker', true)}`;
    // An item there is one understood under the configured names (a blob, a body or a deletion
    // marker: hv-item-shape.ts). A writer whose names are not the item's writer's (a function
    // deployed without TIERLOG_HV_ATTRIBUTES, or on the old names while a deploy changes them) read
    // it as a blob-less empty object, whose version its condition matched: it wrote its own body or
    // blob beside the item's, answered success with a new version, and every reader of the
    // writers' names went on reading the old bytes under that version.
    if (expected.kind !== 'missing')
      b.condition(
        `(attribute_not_exists(${b.name('key', a.key)}) OR attribute_exists(${b.name('blob', a.blob)}) OR attribute_exists(${b.name('body', a.body)}) OR ${marker()})`,
      );
    // `liveAt`: an item at or past its expiry counts as absent (expiry.ts: isExpired). An expiry
    // that is no Number (a String written by another tool) is none, as to every read and to TTL,
    // which reads only a Number: compared with a number, DynamoDB answers false for another type,
    // so such an item was neither live nor expired here, and every conditional write on an object
    // read as live lost its condition on every attempt (a ContentionError, for ever).
    const liveAt = (at: number) => b.value(LIVE_AT_VALUE.slice(1), at / 1000);
    const expired = (at: number) => `${b.name('expiresAt', a.expiresAt)} <= ${liveAt(at)}`;
    const live = (at: number) =>
      `(attribute_not_exists(${b.name('expiresAt', a.expiresAt)}) OR NOT attribute_type(${b.name('expiresAt', a.expiresAt)}, ${b.value('numberType', 'N')}) OR ${b.name('expiresAt', a.expiresAt)} > ${liveAt(at)})`;
    switch (expected.kind) {
      case 'absent':
        if (expected.liveAt === undefined) b.condition(`(attribute_not_exists(${b.name('key', a.key)}) OR ${marker()})`);
        else b.condition(`(attribute_not_exists(${b.name('key', a.key)}) OR ${marker()} OR ${expired(expected.liveAt)})`);
        break;
      case 'missing':
        b.condition(`attribute_not_exists(${b.name('key', a.key)})`);
        break;
      case 'marker':
        b.condition(`${b.name('version', a.version)} = ${b.value('expectedVersion', expected.version)}`);
        b.condition(marker());
        break;
      case 'version':
        b.condition(`${b.name('version', a.version)} = ${b.value('expectedVersion', expected.version)}`);
        b.condition(`attribute_not_exists(${b.name('deleted', a.deleted)})`);
        if (expected.blob === null) b.condition(`attribute_not_exists(${b.name('blob', a.blob)})`);
        else if (expected.blob !== undefined) b.condition(`${b.name('blob', a.blob)} = ${b.value('expectedBlob', expected.blob)}`);
        if (expected.liveAt !== undefined) b.condition(live(expected.liveAt));
        break;
      case 'any':
        if (expected.liveAt !== undefined) b.condition(live(expected.liveAt));
        break;
    }
    return b;
  }
}

/** Collects an update/condition expression with placeholder names and values. */
class ExpressionBuilder {
  private readonly sets: string[] = [];
  private readonly removes: string[] = [];
  private readonly conditions: string[] = [];
  private readonly names: Record<string, string> = {};
  private readonly values: Record<string, unknown> = {};

  constructor(
    private readonly tableName: string,
    private readonly keyName: string,
  ) {}

  name(alias: string, attribute: string): string {
    this.names[`#${alias}`] = attribute;
    return `#${alias}`;
  }

  value(alias: string, value: unknown): string {
    this.values[`:${alias}`] = value;
    return `:${alias}`;
  }

  set(alias: string, attribute: string, value: unknown): void {
    this.sets.push(`${this.name(alias, attribute)} = ${this.value(alias, value)}`);
  }

  raw(assignment: string): void {
    this.sets.push(assignment);
  }

  remove(attribute: string): void {
    this.removes.push(this.name(`rm${this.removes.length}`, attribute));
  }

  condition(expression: string): void {
    this.conditions.push(expression);
  }

  update(key: string): HvWrite {
    const parts = [];
    if (this.sets.length > 0) parts.push(`SET ${this.sets.join(', ')}`);
    if (this.removes.length > 0) parts.push(`REMOVE ${this.removes.join(', ')}`);
    return { type: 'Update', input: this.input(key, parts.join(' ')) };
  }

  private input(key: string, update: string): HvWrite['input'] {
    return {
      TableName: this.tableName,
      Key: { [this.keyName]: key },
      UpdateExpression: update,
      ...(this.conditions.length > 0 ? { ConditionExpression: this.conditions.join(' AND ') } : {}),
      ExpressionAttributeNames: { ...this.names },
      ...(Object.keys(this.values).length > 0 ? { ExpressionAttributeValues: { ...this.values } } : {}),
    };
  }
}

/** Which attribute of `item` is present and not of the type the writers write it with, described; or undefined. */
function mistypedAttribute(item: Record<string, unknown>, a: HvAttributeNames): string | undefined {
  const present = (name: string) => item[name] !== undefined;
  if (present(a.blob) && typeof item[a.blob] !== 'string') return `a "${a.blob}" (blob) that is no string`;
  if (present(a.body) && !(item[a.body] instanceof Uint8Array)) return `a "${a.body}" (body) that is no binary`;
  if (present(a.metadata) && !isStringMap(item[a.metadata])) return `a "${a.metadata}" (metadata) that is no map of strings`;
  // A deletion marker's flag is `true` (hv-item-shape.ts): another schema's soft-delete flag
  // (`false` on a live object) was read as a marker, and the object written over as absent.
  if (present(a.deleted) && item[a.deleted] !== true) return `a "${a.deleted}" (deletion marker) that is not true`;
  for (const name of [a.createdAt, a.updatedAt]) {
    if (present(name) && !Number.isFinite(item[name])) return `a "${name}" that is no number of ms`;
  }
  return undefined;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && Object.values(value).every((v) => typeof v === 'string');
}
