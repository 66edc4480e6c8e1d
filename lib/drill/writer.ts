/**
 * A simulated Lambda storage writer for drills and fault simulations: its own SDK clients (so a
 * crash kills only this "process"), its own `DynamoChangeLog` (one instance per execution
 * environment, lease tied to each invocation's deadline) and `TieredStore`, and a
 * {@link FaultInjector} that can kill it at any request of an operation.
 */
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import type { TierlogConfig } from '../config.js';
import { DynamoChangeLog } from '../changelog/dynamo-change-log.js';
import { CrashError, FaultInjector, type FaultRule, type RequestInfo } from '../faults/fault-injector.js';
import { type ProtocolStep, protocolStepOf } from '../faults/protocol-steps.js';
import type { ExpiryPolicy } from '../tiered/expiry.js';
import { partCountOf } from '../tiered/part-size.js';
import { TieredStore } from '../tiered/tiered-store.js';
import type { CompletedPart } from '../tiered/upload-sessions.js';
import { statusAfterError } from './model.js';
import type { Random } from './random.js';

export type Operation =
  | { readonly kind: 'put'; readonly key: string; readonly body: Uint8Array; readonly tag: string; readonly expiry?: ExpiryPolicy }
  | { readonly kind: 'delete'; readonly key: string; readonly tag: string }
  | SessionOperation;

/**
 * An upload session, as a client and its writer run one: the writer creates it, the client PUTs
 * each part (of `partSize` bytes, the last smaller) to its presigned URL with `fetch`, then ends
 * it as `ending` says: completes it, aborts it, or abandons it (sends nothing more: the session
 * expires and a sweeper takes it).
 */
export interface SessionOperation {
  readonly kind: 'session';
  readonly key: string;
  readonly tag: string;
  readonly body: Uint8Array;
  readonly partSize: number;
  readonly ending: 'complete' | 'abort' | 'abandon';
  /** The session's lifetime, ms. */
  readonly expiresInMs: number;
  /** The object's expiry, applied at its complete. */
  readonly expiry?: ExpiryPolicy;
}

/** How far a session got (of a `session` operation's outcome). */
export interface SessionProgress {
  /** `createUpload` answered. */
  readonly created: boolean;
  /** A complete was sent: only then may its value have landed. */
  readonly completeSent: boolean;
  /** The version its complete answered. */
  readonly version?: number;
  /** The session's id and its parts, once its complete was sent: what a client retrying it sends again. */
  readonly completing?: { readonly uploadId: string; readonly parts: readonly CompletedPart[] };
}

export interface OperationOutcome {
  /** The store acknowledged the operation. */
  readonly acknowledged: boolean;
  /** The protocol step at which the writer died, if it did (also after an acknowledgement: a death in the cleanup after its commit). */
  readonly crashedAt?: ProtocolStep;
  /** The error the store reported (other than a crash), if any. */
  readonly error?: string;
  /** That error's name (`VersionConflictError`, ...). */
  readonly errorName?: string;
  /** A request of it wrote a replaced blob (`old`) into a change-log entry ({@link namesReplacedBlob}). */
  readonly namedReplacedBlob?: boolean;
  /** The requests (attempts, a crash's included) the operation made: how far a crash plan can reach into it. */
  readonly requests?: number;
  /**
   * A request of it that may write the objects table (HV) went out ({@link writesHv}): false when
   * none did, its writer dead before (then nothing of it can ever be read: its value, or its
   * deletion, is written to HV or nowhere).
   */
  readonly hvWriteSent?: boolean;
  /** Of a session: how far it got. */
  readonly session?: SessionProgress;
  readonly startedAt: number;
  readonly endedAt: number;
}

/**
 * How the register model takes an outcome: acknowledged; refused for sure (an error of
 * `statusAfterError`'s list: then a read of its value is a wrong value); else unknown (a death, an
 * error that may have left the write applied).
 */
export function writeStatusOf(outcome: OperationOutcome): 'acked' | 'failed' | 'unknown' {
  if (outcome.acknowledged) return 'acked';
  // A session whose complete was never sent (died in its create, aborted, abandoned) never lands.
  if (outcome.session !== undefined && !outcome.session.completeSent) return 'failed';
  // A writer that died before any request of it that writes HV went out: it never lands either.
  // Taken as one that may have landed, a read of its value (which only a broken store could
  // serve: a sweeper that rolled a dead writer's change forward) passed.
  if (outcome.crashedAt !== undefined) return outcome.hvWriteSent === false ? 'failed' : 'unknown';
  return statusAfterError(outcome.errorName);
}

/**
 * The complete a session's client sends again, to a fresh writer: one whose outcome it does not
 * know (the writer serving it died in it, or the store answered an error that may have left it
 * committed); none once it was answered, or refused for sure. The client's view: it cannot tell
 * whether its complete's commit went out before the writer died.
 */
export function completeToRetry(outcome: OperationOutcome): SessionProgress['completing'] {
  if (outcome.acknowledged) return undefined;
  const unknown = outcome.crashedAt !== undefined || statusAfterError(outcome.errorName) === 'unknown';
  return unknown ? outcome.session?.completing : undefined;
}

export interface SimulatedWriterOptions {
  readonly config: TierlogConfig;
  readonly random: Random;
  /** Remaining time of each simulated invocation, ms. Default 5 000. */
  readonly invocationMs?: number;
  /** Lease margin past the invocation deadline, ms. Default 1 000. */
  readonly leaseMarginMs?: number;
  /** Inline threshold of the store. Default the library's. */
  readonly inlineThreshold?: number;
  /** The writer's clock (a skewed one for drills). Default `Date.now`. */
  readonly clock?: () => number;
  /** Multipart part size of the store's uploads (5 MiB to 5 GiB). Default the library's (8 MiB). */
  readonly partSize?: number;
  /** The store answers before its settle (`TieredStore` option); `run` awaits `settled()`. Default false. */
  readonly settleInBackground?: boolean;
  /** Grace after an upload session's expiry before a sweeper may take it (`TieredStore` option). Default the library's. */
  readonly completeGraceMs?: number;
}

/** Where a crash is armed: before or after the n-th request (0-based) of the next operation. */
export interface CrashPlan {
  readonly atRequest: number;
  readonly after: boolean;
}

export class SimulatedWriter {
  readonly injector: FaultInjector;
  readonly log: DynamoChangeLog;
  readonly store: TieredStore;
  private readonly invocationMs: number;
  private alive = true;
  /** Requests of the operation in progress that named a replaced blob in the log. */
  private namingOld = 0;
  /** Requests of the operation in progress that may write HV ({@link writesHv}), a crash's included. */
  private hvWrites = 0;

  constructor(private readonly options: SimulatedWriterOptions) {
    this.injector = new FaultInjector(options.random);
    // A rule that never fires, first of all: it sees every attempt, a crash's included.
    const spy: FaultRule = {
      kind: 'loseRequest',
      match: (request) => {
        if (namesReplacedBlob(request, options.config)) this.namingOld++;
        if (writesHv(request, options.config)) this.hvWrites++;
        return false;
      },
    };
    this.injector.add(spy);
    const dynamodb = this.injector.attach(createDynamoDBClient(), 'dynamodb');
    const s3 = this.injector.attach(createS3Client(), 's3');
    this.invocationMs = options.invocationMs ?? 5_000;
    this.log = new DynamoChangeLog({
      config: options.config,
      dynamodb,
      renewInBackground: false,
      invocationLeaseMarginMs: options.leaseMarginMs ?? 1_000,
      leaseMs: this.invocationMs,
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
    });
    this.store = new TieredStore({
      config: options.config,
      changeLog: this.log,
      dynamodb,
      s3,
      ...(options.inlineThreshold !== undefined ? { inlineThreshold: options.inlineThreshold } : {}),
      ...(options.partSize !== undefined ? { partSize: options.partSize } : {}),
      ...(options.clock !== undefined ? { clock: options.clock } : {}),
      ...(options.settleInBackground !== undefined ? { settleInBackground: options.settleInBackground } : {}),
      ...(options.completeGraceMs !== undefined ? { completeGraceMs: options.completeGraceMs } : {}),
    });
  }

  get isAlive(): boolean {
    return this.alive;
  }

  /**
   * Runs one operation as one invocation; with `crash`, the writer dies at that request. A
   * session's `alongsideComplete` runs at once with its complete (another writer's put or delete
   * of the key, racing it), awaited before the outcome.
   */
  async run(operation: Operation, crash?: CrashPlan, alongsideComplete?: () => Promise<void>): Promise<OperationOutcome> {
    const startedAt = Date.now();
    if (!this.alive) return { acknowledged: false, error: 'writer is dead', startedAt, endedAt: startedAt };
    this.log.bindInvocation({ getRemainingTimeInMillis: () => this.invocationMs });
    const crashRule =
      crash === undefined
        ? undefined
        : { kind: crash.after ? ('crashAfter' as const) : ('crashBefore' as const), skip: crash.atRequest, times: 1 };
    if (crashRule !== undefined) this.injector.add(crashRule);
    this.namingOld = 0;
    this.hvWrites = 0;
    const requestsBefore = this.injector.stats.requests;
    // A crash before a write to HV stopped it unsent (the spy saw it all the same).
    const unsent = () => {
      const at = this.injector.crashedAt;
      return crashRule?.kind === 'crashBefore' && at !== undefined && writesHv(at, this.options.config) ? 1 : 0;
    };
    const named = () => ({
      ...(this.namingOld > 0 ? { namedReplacedBlob: true } : {}),
      requests: this.injector.stats.requests - requestsBefore,
      hvWriteSent: this.hvWrites - unsent() > 0,
    });
    const progress: SessionRun = { created: false, completeSent: false, version: undefined, completing: undefined };
    const session = () =>
      operation.kind !== 'session'
        ? {}
        : {
            session: {
              created: progress.created,
              completeSent: progress.completeSent,
              ...(progress.version !== undefined ? { version: progress.version } : {}),
              ...(progress.completing !== undefined ? { completing: progress.completing } : {}),
            },
          };
    let racing: Promise<void> | undefined;
    try {
      if (operation.kind === 'put')
        await this.store.put(operation.key, operation.body, { metadata: { tag: operation.tag }, ...operation.expiry });
      else if (operation.kind === 'delete') await this.store.delete(operation.key);
      else
        await this.runSession(operation, progress, () => {
          racing = alongsideComplete?.();
        });
      // The store answers a write whose commit landed even when a step after it failed (the
      // delete of the replaced blob, the removal of the entry: left to the sweeper), so a crash
      // there ends in an acknowledgement. The process died all the same: nothing more of it runs.
      await racing;
      // A session not completed (aborted, abandoned) is no acknowledged write: nothing of it lands.
      const acknowledged = operation.kind !== 'session' || progress.version !== undefined;
      const crashedAt = this.injector.crashedAt;
      if (crashedAt === undefined) return { acknowledged, ...named(), ...session(), startedAt, endedAt: Date.now() };
      this.alive = false;
      return {
        acknowledged,
        crashedAt: protocolStepOf(crashedAt, this.options.config),
        ...named(),
        ...session(),
        startedAt,
        endedAt: Date.now(),
      };
    } catch (err) {
      await racing;
      const crashedAt = this.injector.crashedAt;
      if (crashedAt !== undefined || err instanceof CrashError) {
        this.alive = false;
        return {
          acknowledged: false,
          crashedAt: protocolStepOf(crashedAt!, this.options.config),
          ...named(),
          ...session(),
          startedAt,
          endedAt: Date.now(),
        };
      }
      const { name, text } = describeError(err);
      return { acknowledged: false, error: text, errorName: name, ...named(), ...session(), startedAt, endedAt: Date.now() };
    } finally {
      if (crashRule !== undefined) this.injector.remove(crashRule);
    }
  }

  /**
   * A session as its client runs it: create, each part PUT to its presigned URL (`fetch`, no AWS
   * credentials), then its ending. `beforeComplete` runs just before the complete is sent.
   */
  private async runSession(op: SessionOperation, progress: SessionRun, beforeComplete: () => void): Promise<void> {
    const created = await this.store.createUpload(op.key, {
      size: op.body.byteLength,
      partSize: op.partSize,
      metadata: { tag: op.tag },
      expiresInMs: op.expiresInMs,
      ...op.expiry,
    });
    progress.created = true;
    if (op.ending === 'abandon') return;
    const parts: Array<{ partNumber: number; etag: string }> = [];
    const count = partCountOf(op.body.byteLength, op.partSize);
    for (let n = 1; n <= count; n++) {
      const url = await this.store.uploadPartUrl(created.uploadId, n);
      parts.push({ partNumber: n, etag: await putPart(url, op.body.subarray((n - 1) * op.partSize, n * op.partSize)) });
    }
    // The client ends it in an invocation of its own, after its parts.
    this.log.bindInvocation({ getRemainingTimeInMillis: () => this.invocationMs });
    if (op.ending === 'abort') {
      await this.store.abortUpload(created.uploadId);
      return;
    }
    beforeComplete();
    progress.completeSent = true;
    progress.completing = { uploadId: created.uploadId, parts };
    progress.version = (await this.store.completeUpload(created.uploadId, parts)).version;
  }

  /**
   * A client's retry of a complete whose answer it never got (the writer serving it died), in an
   * invocation of this writer: acknowledged at the version it answered, or the error it got.
   */
  async retryComplete(completing: NonNullable<SessionProgress['completing']>): Promise<OperationOutcome> {
    const startedAt = Date.now();
    this.log.bindInvocation({ getRemainingTimeInMillis: () => this.invocationMs });
    const session = (version?: number) => ({
      created: true,
      completeSent: true,
      ...(version !== undefined ? { version } : {}),
      completing,
    });
    try {
      const { version } = await this.store.completeUpload(completing.uploadId, completing.parts);
      return { acknowledged: true, session: session(version), startedAt, endedAt: Date.now() };
    } catch (err) {
      const { name, text } = describeError(err);
      return { acknowledged: false, error: text, errorName: name, session: session(), startedAt, endedAt: Date.now() };
    }
  }

  /** Stops timers; the writer's entries stay in the log (as after a real death). */
  close(): void {
    this.alive = false;
    this.log.close();
  }
}

/** A session's progress while it runs (see {@link SessionProgress}). */
interface SessionRun {
  created: boolean;
  completeSent: boolean;
  version: number | undefined;
  completing: SessionProgress['completing'];
}

/** A client's PUT of one part to its presigned URL: the ETag S3 answered. */
async function putPart(url: string, bytes: Uint8Array): Promise<string> {
  const response = await fetch(url, { method: 'PUT', body: bytes });
  const etag = response.headers.get('etag');
  if (response.status !== 200 || etag === null) {
    const detail = (await response.text()).slice(0, 200);
    throw new Error(`a part PUT to its presigned URL answered ${response.status}${etag === null ? ' without an ETag' : ''}: ${detail}`);
  }
  return etag;
}

/**
 * True when a writer's request writes a replaced blob (`old`) into a change-log entry: a record
 * whose entry names `old`, or a commit whose change-log element records such an entry or sets
 * `old`. With `replacedBlobCleanup: 'stream'` no put or delete does (DESIGN.md, "What must hold":
 * the stream deletes the blob a dead writer replaced; an entry naming it hands it to the sweeper
 * too). A session's complete names `old` in its own item whatever the mode: not judged by this.
 */
export function namesReplacedBlob(request: RequestInfo, config: TierlogConfig): boolean {
  const logWrites = (update: unknown) => {
    const { TableName, ExpressionAttributeValues } = (update ?? {}) as {
      TableName?: unknown;
      ExpressionAttributeValues?: Record<string, unknown>;
    };
    if (TableName !== config.changeLogTable) return false;
    const values = ExpressionAttributeValues ?? {};
    // The middleware sees marshalled input ({M: ...}); a plain object is read the same way.
    const entry = values[':entry'] as { M?: Record<string, unknown>; old?: unknown } | undefined;
    return values[':old'] !== undefined || (entry?.M ?? entry)?.old !== undefined;
  };
  if (request.command === 'UpdateItemCommand') return logWrites(request.input);
  if (request.command === 'TransactWriteItemsCommand')
    return ((request.input.TransactItems ?? []) as Array<{ Update?: unknown }>).some((item) => logWrites(item.Update));
  return false;
}

/** DynamoDB commands that write nothing. */
const DYNAMODB_READS: ReadonlySet<string> = new Set([
  'GetItemCommand',
  'BatchGetItemCommand',
  'QueryCommand',
  'ScanCommand',
  'TransactGetItemsCommand',
  'DescribeTableCommand',
  'ListTablesCommand',
]);

/**
 * True when a writer's request may write the objects table (HV): a single-item write, a
 * transaction or a batch naming it. Another command of DynamoDB that is no read is taken as one
 * (a write can only be ruled out, never missed). Only such a request makes a value, or a deletion, readable.
 */
export function writesHv(request: RequestInfo, config: TierlogConfig): boolean {
  if (request.service !== 'dynamodb' || DYNAMODB_READS.has(request.command)) return false;
  const { TableName, TransactItems, RequestItems } = request.input as {
    TableName?: unknown;
    TransactItems?: unknown;
    RequestItems?: unknown;
  };
  switch (request.command) {
    case 'PutItemCommand':
    case 'UpdateItemCommand':
    case 'DeleteItemCommand':
      return TableName === config.objectsTable;
    case 'TransactWriteItemsCommand':
      return (Array.isArray(TransactItems) ? (TransactItems as Array<Record<string, { TableName?: unknown } | undefined>>) : []).some(
        (item) => ['Put', 'Update', 'Delete'].some((action) => item[action]?.TableName === config.objectsTable),
      );
    case 'BatchWriteItemCommand':
      return typeof RequestItems === 'object' && RequestItems !== null && Object.hasOwn(RequestItems, config.objectsTable);
    default:
      return true;
  }
}

/** An error's name and its `Name: message` line, for the drill's reports (a thrown non-Error is named by its type). */
export function describeError(err: unknown): { name: string; text: string } {
  const { name, message } = err instanceof Error ? err : { name: typeof err, message: String(err) };
  return { name, text: `${name}: ${message}` };
}
