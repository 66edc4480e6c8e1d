/**
 * Helpers of the change-log tests: a manual clock, raw readers that look at the table from
 * outside the library (their own client, consistent reads), and SDK middleware that counts
 * attempts, records consumed capacity and loses responses after the server applied a request.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { addInsideRetryLoop } from '../../lib/aws/retry-loop.js';

/** A clock the test moves by hand. */
export interface ManualClock {
  now: number;
  readonly clock: () => number;
  advance(ms: number): number;
}

export function manualClock(start = 1_700_000_000_000): ManualClock {
  const c: ManualClock = {
    now: start,
    clock: () => c.now,
    advance(ms: number) {
      c.now += ms;
      return c.now;
    },
  };
  return c;
}

/** A client of its own, from the environment the global setup exported. */
export function newClient(maxAttempts = 3): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts, retryMode: 'standard' });
}

/** Reads an instance item raw, with a client of its own: what a second process would see. */
export class RawReader {
  readonly client = newClient();
  constructor(private readonly table: string) {}

  async get(pk: string): Promise<Record<string, any> | undefined> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.table, Key: { pk: { S: pk } }, ConsistentRead: true }));
    return out.Item === undefined ? undefined : unmarshall(out.Item);
  }

  async put(item: Record<string, unknown>): Promise<void> {
    await this.client.send(new PutItemCommand({ TableName: this.table, Item: marshall(item) }));
  }

  /** The change ids held by an item (names of its `c_` attributes). */
  static entryIds(item: Record<string, any> | undefined): string[] {
    if (item === undefined) return [];
    return Object.keys(item)
      .filter((name) => name.startsWith('c_'))
      .map((name) => name.slice(2))
      .sort();
  }

  close(): void {
    this.client.destroy();
  }
}

/** One attempt that reached the server (inside the SDK retry loop). */
export interface Attempt {
  readonly command: string;
  readonly input: Record<string, any>;
  /** The attempt's answer was replaced by a network error after the server applied it. */
  readonly lost: boolean;
  readonly error?: string;
  readonly consumed?: ConsumedCapacityLike;
}

export interface ConsumedCapacityLike {
  CapacityUnits?: number;
  Table?: { CapacityUnits?: number };
  GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

export interface Probe {
  readonly attempts: Attempt[];
  /** Loses the answer of the next `times` attempts matching `match` (after they were applied). */
  loseNextResponse(match: (command: string, input: Record<string, any>) => boolean, times?: number): void;
  /** Attempts of `command` (`UpdateItem`, `DeleteItem`, ... with or without `Command`). */
  of(command: string): Attempt[];
  clear(): void;
}

/**
 * Installs a probe on `client`, inside the SDK's retry loop (one call per attempt). With
 * `capacity`, every request asks for `ReturnConsumedCapacity: 'INDEXES'`.
 */
export function probe(client: DynamoDBClient, options: { capacity?: boolean } = {}): Probe {
  const attempts: Attempt[] = [];
  let lose: { match: (command: string, input: Record<string, any>) => boolean; left: number } | undefined;
  const middleware =
    (next: (args: any) => Promise<any>, context: { commandName?: string }) =>
    async (args: { input: Record<string, any> }): Promise<any> => {
      const command = normalise(context.commandName ?? 'unknown');
      const input = { ...args.input };
      let result: any;
      try {
        result = await next(args);
      } catch (err) {
        attempts.push({ command, input, lost: false, error: (err as Error).name });
        throw err;
      }
      const consumed = result?.output?.ConsumedCapacity as ConsumedCapacityLike | undefined;
      if (lose !== undefined && lose.left > 0 && lose.match(command, input)) {
        lose.left--;
        attempts.push({ command, input, lost: true, consumed });
        // Classified by the SDK as a transient network failure: the standard strategy retries it.
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: {} });
      }
      attempts.push({ command, input, lost: false, consumed });
      return result;
    };
  const stack = client.middlewareStack as any;
  addInsideRetryLoop(stack, 'testProbe', middleware);
  if (options.capacity === true) {
    stack.add(
      (next: (args: any) => Promise<any>) => async (args: { input: Record<string, any> }) => {
        args.input.ReturnConsumedCapacity = 'INDEXES';
        return next(args);
      },
      { step: 'initialize', name: 'testConsumedCapacity', override: true },
    );
  }
  return {
    attempts,
    loseNextResponse(match, times = 1) {
      lose = { match, left: times };
    },
    of(command) {
      const name = normalise(command);
      return attempts.filter((a) => a.command === name);
    },
    clear() {
      attempts.length = 0;
    },
  };
}

function normalise(command: string): string {
  const base = command.endsWith('Command') ? command.slice(0, -'Command'.length) : command;
  // The document client's commands reach the client's stack under either name.
  const aliases: Record<string, string> = { Update: 'UpdateItem', Delete: 'DeleteItem', Get: 'GetItem', Put: 'PutItem' };
  return aliases[base] ?? base;
}

/** GSI capacity units of one consumed-capacity answer (0 when the index was not written). */
export function gsiUnits(consumed: ConsumedCapacityLike | undefined): number {
  return Object.values(consumed?.GlobalSecondaryIndexes ?? {}).reduce((sum, i) => sum + (i.CapacityUnits ?? 0), 0);
}

/**
 * A blob key of `objectId` under `prefix` (the fixtures' `blobs`), the same for the same `n`: the
 * shape the change log takes, since it refuses an entry the sweeper would quarantine.
 */
export function blobOf(objectId: string, n = 1, prefix = 'blobs'): string {
  return `${prefix}/${Buffer.from(objectId, 'utf8').toString('base64url')}/01900000-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;
}
