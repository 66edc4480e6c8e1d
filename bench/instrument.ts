/**
 * Instruments AWS SDK clients for the benchmark, with two middlewares per client:
 *
 *  - a *call* middleware (initialize step, outside the retry loop): one record per logical call,
 *    the command name, the table, and (DynamoDB) the consumed capacity. When capacity is
 *    measured it sets `ReturnConsumedCapacity: 'INDEXES'` on every command and sums
 *    `ConsumedCapacity` from the response (TransactWriteItems and BatchGetItem answer an
 *    array). A refused conditional write answers an error that carries no capacity, although
 *    DynamoDB bills it: that case is *computed* from AWS's published rule (a write of the item's
 *    size, at least 1 WCU; x2 inside a transaction) and labelled so.
 *  - an *attempt* middleware (after `retryMiddleware`, i.e. inside the retry loop, where the
 *    FaultInjector sits too): one record per attempt with start and end timestamps
 *    (`performance.now()`), from which the number of sequential round trips is counted.
 *
 * Attempts minus calls are the SDK retries.
 */
import { performance } from 'node:perf_hooks';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { addInsideRetryLoop } from '../lib/aws/retry-loop.js';

export type Service = 'dynamodb' | 's3';

/** Capacity of one call, split by where it was charged. */
export interface Capacity {
  /** Write capacity units on base tables. */
  wcu: number;
  /** Write capacity units on global secondary indexes. */
  gsiWcu: number;
  /** Read capacity units (base tables and indexes). */
  rcu: number;
  /** Units not reported by the server but computed from AWS's rules (included in the above). */
  computed: number;
}

export interface CallRecord {
  readonly service: Service;
  readonly command: string;
  readonly table?: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly capacity?: Capacity;
}

export interface AttemptRecord {
  readonly service: Service;
  readonly command: string;
  readonly start: number;
  readonly end: number;
}

const READ_COMMANDS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

export class Probe {
  calls: CallRecord[] = [];
  attempts: AttemptRecord[] = [];
  /** Set ReturnConsumedCapacity on every DynamoDB command. */
  measureCapacity: boolean;
  /** Keep records (off: only count, for long runs). */
  keep: boolean;
  readonly counts = { calls: 0, attempts: 0, dynamodbCalls: 0, s3Calls: 0, dynamodbAttempts: 0, s3Attempts: 0 };
  /**
   * Logical calls by command (`UpdateItem`, `UpdateItem:changelog` when the table is the change
   * log's, ...) and their failures by `command error`, counted even when records are not kept.
   */
  readonly byCommand: Record<string, number> = {};
  readonly failuresByCommand: Record<string, number> = {};
  /** Tables whose calls are counted apart in `byCommand` (name → label). */
  readonly tableLabels = new Map<string, string>();

  constructor(options: { measureCapacity?: boolean; keep?: boolean } = {}) {
    this.measureCapacity = options.measureCapacity ?? false;
    this.keep = options.keep ?? true;
  }

  reset(): void {
    this.calls = [];
    this.attempts = [];
  }

  /** Takes the records gathered so far and starts afresh. */
  take(): { calls: CallRecord[]; attempts: AttemptRecord[] } {
    const out = { calls: this.calls, attempts: this.attempts };
    this.reset();
    return out;
  }

  attach<C extends DynamoDBClient | S3Client>(client: C, service: Service): C {
    const stack = client.middlewareStack as any;
    const callMiddleware =
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
        const command = (context.commandName ?? 'unknown').replace(/Command$/, '');
        const table = typeof args.input?.TableName === 'string' ? (args.input.TableName as string) : undefined;
        const capacity = service === 'dynamodb' && this.measureCapacity;
        if (capacity) args.input = { ...args.input, ReturnConsumedCapacity: 'INDEXES' };
        this.counts.calls++;
        if (service === 'dynamodb') this.counts.dynamodbCalls++;
        else this.counts.s3Calls++;
        const label = table !== undefined && this.tableLabels.has(table) ? `${command}:${this.tableLabels.get(table)}` : command;
        this.byCommand[label] = (this.byCommand[label] ?? 0) + 1;
        try {
          const out = await next(args);
          if (this.keep) {
            const record: CallRecord = {
              service,
              command,
              ...(table !== undefined ? { table } : {}),
              ok: true,
              ...(capacity ? { capacity: reportedCapacity(command, args.input, out.output) } : {}),
            };
            this.calls.push(record);
          }
          return out;
        } catch (err) {
          const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons;
          const failure = `${label} ${(err as { name?: string }).name ?? 'Error'}${reasons !== undefined ? `(${reasons.map((r) => r.Code ?? '?').join('+')})` : ''}`;
          this.failuresByCommand[failure] = (this.failuresByCommand[failure] ?? 0) + 1;
          if (this.keep) {
            const name = (err as { name?: string }).name ?? 'Error';
            this.calls.push({
              service,
              command,
              ...(table !== undefined ? { table } : {}),
              ok: false,
              error: name,
              ...(capacity ? { capacity: computedRefusal(command, err) } : {}),
            });
          }
          throw err;
        }
      };
    stack.add(callMiddleware, { step: 'initialize', priority: 'low', name: `benchCalls_${service}`, override: true });

    const attemptMiddleware = (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: unknown) => {
      const start = performance.now();
      this.counts.attempts++;
      if (service === 'dynamodb') this.counts.dynamodbAttempts++;
      else this.counts.s3Attempts++;
      try {
        return await next(args);
      } finally {
        if (this.keep) {
          this.attempts.push({
            service,
            command: (context.commandName ?? 'unknown').replace(/Command$/, ''),
            start,
            end: performance.now(),
          });
        }
      }
    };
    addInsideRetryLoop(stack, `benchAttempts_${service}`, attemptMiddleware);
    return client;
  }
}

interface ConsumedCapacityLike {
  TableName?: string;
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
  Table?: { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
  LocalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

export function emptyCapacity(): Capacity {
  return { wcu: 0, gsiWcu: 0, rcu: 0, computed: 0 };
}

export function addCapacity(into: Capacity, c: Capacity | undefined): Capacity {
  if (c !== undefined) {
    into.wcu += c.wcu;
    into.gsiWcu += c.gsiWcu;
    into.rcu += c.rcu;
    into.computed += c.computed;
  }
  return into;
}

/**
 * What the server reported for one call, plus what DynamoDB Local leaves out although AWS bills
 * it (checked against DynamoDB Local 3.3.0), labelled computed:
 *  - BatchGetItem: a requested key that does not exist is reported as 0 units; AWS bills a read
 *    of an absent item like any read ("If you perform a read operation on an item that doesn't
 *    exist, DynamoDB will still consume read throughput"): 1 RCU consistent, 0.5 eventual.
 *  - Query / Scan that reads nothing: reported as 0; AWS bills at least one read per request
 *    (0.5 RCU eventual, 1 consistent; queries of a GSI are always eventual).
 */
function reportedCapacity(command: string, input: Record<string, any>, output: Record<string, any> | undefined): Capacity {
  const out = emptyCapacity();
  const raw = output?.ConsumedCapacity as unknown;
  const list: ConsumedCapacityLike[] = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw as ConsumedCapacityLike];
  const read = READ_COMMANDS.has(command);
  for (const cc of list) {
    const total = cc.CapacityUnits ?? 0;
    const indexes = Object.values({ ...(cc.GlobalSecondaryIndexes ?? {}), ...(cc.LocalSecondaryIndexes ?? {}) }).reduce(
      (sum, i) => sum + (i.CapacityUnits ?? 0),
      0,
    );
    if (read) {
      out.rcu += total;
    } else {
      const table = cc.Table?.CapacityUnits ?? total - indexes;
      out.wcu += table;
      out.gsiWcu += indexes;
    }
  }
  if (command === 'BatchGetItem') {
    for (const [tableName, request] of Object.entries(
      (input.RequestItems ?? {}) as Record<string, { Keys?: unknown[]; ConsistentRead?: boolean }>,
    )) {
      const requested = request.Keys?.length ?? 0;
      const unprocessed = (output?.UnprocessedKeys?.[tableName]?.Keys as unknown[] | undefined)?.length ?? 0;
      const returned = (output?.Responses?.[tableName] as unknown[] | undefined)?.length ?? 0;
      const absent = Math.max(0, requested - unprocessed - returned);
      const units = absent * (request.ConsistentRead === true ? 1 : 0.5);
      out.rcu += units;
      out.computed += units;
    }
  } else if ((command === 'Query' || command === 'Scan') && out.rcu === 0) {
    const units = input.ConsistentRead === true && input.IndexName === undefined ? 1 : 0.5;
    out.rcu += units;
    out.computed += units;
  }
  return out;
}

/**
 * A refused conditional write (or cancelled transaction) answers no ConsumedCapacity, but AWS
 * bills it: "If a conditional write fails, you are still charged for the write": one write of
 * the existing item's size in 1 KB units, at least 1 WCU; twice that inside a transaction. The
 * existing item comes back with `ReturnValuesOnConditionCheckFailure: 'ALL_OLD'`; without it,
 * 1 WCU is assumed. Other errors (throttling, validation) consume nothing.
 */
function computedRefusal(command: string, err: unknown): Capacity {
  const out = emptyCapacity();
  const name = (err as { name?: string }).name;
  if (name === 'ConditionalCheckFailedException' && !READ_COMMANDS.has(command)) {
    const item = (err as { Item?: Record<string, unknown> }).Item;
    const units = Math.max(1, Math.ceil(itemSize(item) / 1024));
    out.wcu += units;
    out.computed += units;
  } else if (name === 'TransactionCanceledException') {
    const reasons = (err as { CancellationReasons?: Array<{ Code?: string; Item?: Record<string, unknown> }> }).CancellationReasons ?? [];
    for (const reason of reasons) {
      const units = 2 * Math.max(1, Math.ceil(itemSize(reason.Item) / 1024));
      out.wcu += units;
      out.computed += units;
    }
  }
  return out;
}

/** An item's size by DynamoDB's rules (raw AttributeValues), in bytes. */
export function itemSize(item: Record<string, unknown> | undefined): number {
  if (item === undefined || item === null) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += Buffer.byteLength(name) + valueSize(value);
  return size;
}

function valueSize(value: unknown): number {
  const v = value as Record<string, any>;
  if (v === null || typeof v !== 'object') return 0;
  if (v.S !== undefined) return Buffer.byteLength(v.S as string);
  if (v.N !== undefined) return numberSize(v.N as string);
  if (v.B !== undefined) return (v.B as Uint8Array).byteLength ?? 0;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.SS !== undefined) return (v.SS as string[]).reduce((s, x) => s + Buffer.byteLength(x), 0);
  if (v.NS !== undefined) return (v.NS as string[]).reduce((s, x) => s + numberSize(x), 0);
  if (v.BS !== undefined) return (v.BS as Uint8Array[]).reduce((s, x) => s + x.byteLength, 0);
  if (v.L !== undefined) return 3 + (v.L as unknown[]).reduce<number>((s, x) => s + 1 + valueSize(x), 0);
  if (v.M !== undefined) {
    return 3 + Object.entries(v.M as Record<string, unknown>).reduce((s, [k, x]) => s + 1 + Buffer.byteLength(k) + valueSize(x), 0);
  }
  return 0;
}

function numberSize(n: string): number {
  const digits = n.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(1, digits.length) / 2) + 1;
}

/**
 * Sequential round trips: attempts grouped by overlap in time. Attempts that overlap (started
 * before the running group ended) count as one round trip; a gap starts the next.
 */
export function roundTrips(attempts: readonly AttemptRecord[], service?: Service): number {
  const list = attempts.filter((a) => service === undefined || a.service === service).sort((a, b) => a.start - b.start);
  let groups = 0;
  let end = -Infinity;
  for (const a of list) {
    if (a.start >= end) {
      groups++;
      end = a.end;
    } else {
      end = Math.max(end, a.end);
    }
  }
  return groups;
}

/** The attempts as a readable sequence: `GetItem∥UpdateItem → PutObject → TransactWriteItems`. */
export function sequence(attempts: readonly AttemptRecord[]): string {
  const list = [...attempts].sort((a, b) => a.start - b.start);
  const groups: string[][] = [];
  let end = -Infinity;
  for (const a of list) {
    if (a.start >= end) groups.push([]);
    groups[groups.length - 1]!.push(a.command);
    end = Math.max(end, a.end);
  }
  return groups.map((g) => g.sort().join('∥')).join(' → ');
}

/** Median and p99 duration of the attempts, ms, by command (`s3:` prefix for S3). */
export function attemptLatency(attempts: readonly AttemptRecord[]): Record<string, { n: number; p50Ms: number; p99Ms: number }> {
  const by = new Map<string, number[]>();
  for (const a of attempts) {
    const key = `${a.service === 's3' ? 's3:' : ''}${a.command}`;
    if (!by.has(key)) by.set(key, []);
    by.get(key)!.push(a.end - a.start);
  }
  const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  return Object.fromEntries(
    [...by].map(([k, v]) => {
      const sorted = v.sort((a, b) => a - b);
      return [k, { n: v.length, p50Ms: Math.round(pct(sorted, 50) * 100) / 100, p99Ms: Math.round(pct(sorted, 99) * 100) / 100 }];
    }),
  );
}
