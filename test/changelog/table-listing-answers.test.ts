/**
 * Change-log listings (Query and Scan pages) whose continuation key does not advance: a proxy or a
 * DynamoDB-compatible store that ignores `ExclusiveStartKey` answers the first page again, with the
 * `LastEvaluatedKey` it gave before. The SDK's paginators send that key again without end (they
 * compare tokens by identity, and an object key is a new object on every page): a sweep asked for
 * the same lease-index page until its deadline, every sweep after it too, `tierlog status` and the
 * audit's change-log scan hung. A key a listing gave before is a {@link TableListingError} now, as
 * an S3 listing that repeats is a `ListingError`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { InstanceTable } from '../../lib/changelog/instance-table.js';
import { TableListingError } from '../../lib/errors.js';
import { scanTable } from '../../lib/drill/invariants.js';
import { newChangeId, newInstanceId } from '../../lib/ids.js';
import { assertChangeLogShape, readChangeLogProtection } from '../../lib/recovery/change-log-protection.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError } from '../../lib/faults/s3-answers.js';
import { Sweeper, SweepIncompleteError } from '../../lib/recovery/sweeper.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { RawReader } from './helpers.js';

let fx: Fixture;
let raw: RawReader;
const HOUR = 3_600_000;

beforeAll(async () => {
  fx = await freshFixture();
  raw = new RawReader(fx.config.changeLogTable);
  const now = Date.now();
  // Shard 0: three dead writers (one entry each, its blob never uploaded) and three suspect leases.
  for (let k = 0; k < 3; k++) {
    await raw.put({
      pk: newInstanceId(),
      state: 'live',
      shard: 0,
      leaseUntil: now - HOUR - k,
      n: 1,
      [`c_${newChangeId()}`]: { v: 1, id: `o-${k}`, at: now - 2 * HOUR, new: `${fx.config.prefix}/o-${k}/${newChangeId()}` },
    });
    await raw.put({ pk: newInstanceId(), state: 'live', shard: 0, leaseUntil: now + 10 * HOUR + k, n: 0 });
  }
  // The oldest lease of shard 0: a header no sweeper trusts (claimedBy not a string), so its
  // claim is refused on every sweep and it stays first in the lease index.
  await raw.put({
    pk: newInstanceId(),
    state: 'live',
    shard: 0,
    leaseUntil: now - 5 * HOUR,
    n: 1,
    claimedBy: 7,
    [`c_${newChangeId()}`]: { v: 1, id: 'q', at: 1 },
  });
  // Outside the lease shards (4): found by the housekeeping scan.
  for (let k = 0; k < 3; k++) await raw.put({ pk: newInstanceId(), state: 'live', shard: 9, leaseUntil: now + HOUR, n: 0 });
});

afterAll(() => {
  raw?.close();
  fx?.dynamodb.destroy();
  fx?.s3.destroy();
});

/**
 * A client whose Query and Scan requests lose their `ExclusiveStartKey` and ask one item a page:
 * each page is the first again, with the same `LastEvaluatedKey`. After 20 such requests it
 * throws, so that a listing without end fails the test instead of hanging it.
 */
function ignoringStartKey(): { client: DynamoDBClient; sent: () => number } {
  const client = createDynamoDBClient();
  let sent = 0;
  client.middlewareStack.add(
    ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
      if (context.commandName !== 'QueryCommand' && context.commandName !== 'ScanCommand') return next(args);
      if (++sent > 20) throw new Error('still listing after 20 pages');
      return next({ ...args, input: { ...args.input, ExclusiveStartKey: undefined, Limit: 1 } });
    }) as never,
    { step: 'initialize', name: 'ignoreExclusiveStartKey', override: true },
  );
  return { client, sent: () => sent };
}

async function drain<T>(pages: AsyncIterable<T>): Promise<void> {
  for await (const _ of pages);
}

describe('a change-log listing whose LastEvaluatedKey repeats', () => {
  test('pages that advance are read to the end', async () => {
    const table = new InstanceTable(fx.config, fx.dynamodb);
    let expired = 0;
    for await (const page of table.listExpired(0, Date.now(), 1)) expired += page.length;
    expect(expired).toBe(4);
    let items = 0;
    for await (const page of table.scanAll(1)) items += page.length;
    expect(items).toBe(10);
  });

  test('the lease-index queries (expired, suspect): TableListingError at the first repeat', async () => {
    for (const list of [
      (t: InstanceTable) => t.listExpired(0, Date.now()),
      (t: InstanceTable) => t.listSuspect(0, Date.now() + 5 * HOUR),
    ]) {
      const { client, sent } = ignoringStartKey();
      const error = await drain(list(new InstanceTable(fx.config, client))).catch((e: unknown) => e);
      client.destroy();
      expect(error).toBeInstanceOf(TableListingError);
      expect((error as TableListingError).table).toBe(fx.config.changeLogTable);
      expect(sent()).toBe(2);
    }
  });

  test('the full scan (tierlog status) and the bounded housekeeping scan: TableListingError', async () => {
    const { client, sent } = ignoringStartKey();
    const table = new InstanceTable(fx.config, client);
    await expect(drain(table.scanAll())).rejects.toBeInstanceOf(TableListingError);
    expect(sent()).toBe(2);
    await expect(table.scanOutsideShards({ segment: 0, segments: 1, maxPages: 50, shards: 4 })).rejects.toBeInstanceOf(TableListingError);
    expect(sent()).toBe(4);
    client.destroy();
  });

  test("the audit's scan of the change log: TableListingError, no protection taken from a repeated page", async () => {
    const { client, sent } = ignoringStartKey();
    await expect(readChangeLogProtection(client, fx.config.changeLogTable, fx.config.objectsTable)).rejects.toBeInstanceOf(
      TableListingError,
    );
    expect(sent()).toBe(2);
    client.destroy();
  });

  test("the drill's raw scan (its invariants, read from outside): TableListingError, not items piling up", async () => {
    const { client, sent } = ignoringStartKey();
    await expect(scanTable(client, fx.config.changeLogTable)).rejects.toBeInstanceOf(TableListingError);
    expect(sent()).toBe(2);
    client.destroy();
  });

  test('a sweep fails on it (its report kept), not one request after another until its deadline', async () => {
    const { client, sent } = ignoringStartKey();
    const sweeper = new Sweeper({ config: { ...fx.config, leaseShards: 1 }, dynamodb: client, s3: fx.s3, shardlessScan: false });
    const error = await sweeper.sweep({ housekeeping: false }).catch((e: unknown) => e);
    client.destroy();
    const cause = error instanceof SweepIncompleteError ? error.cause : error;
    expect(cause).toBeInstanceOf(TableListingError);
    expect(sent()).toBe(2);
  });
});

/**
 * The check that a table is a change log (its lease index read once) remembered the table by its
 * name alone, for every client of the process: a name is a table of one endpoint, region and
 * account, and a second client's table of that name (another account's, a local stack's beside
 * AWS) went unchecked once the first's had been read. It is remembered per client now.
 */
describe("a change log's shape, checked once per client", () => {
  test("a second client's table of the same name is checked too: its missing lease index is a ConfigError", async () => {
    const first = createDynamoDBClient();
    const second = createDynamoDBClient();
    try {
      await assertChangeLogShape(first, fx.config.changeLogTable);
      // The second client's table of that name has no lease index (another account's table).
      const injector = new FaultInjector().add({
        kind: 'fail',
        match: (r) => r.command === 'ScanCommand' && r.input.IndexName !== undefined,
        error: () => awsServiceError('ValidationException', 400, 'The table does not have the specified index: leases'),
      });
      injector.attach(second, 'dynamodb');
      await expect(assertChangeLogShape(second, fx.config.changeLogTable)).rejects.toMatchObject({ name: 'ConfigError' });
      expect(injector.stats.injected.fail).toBe(1);
      // The first client's check stands: no request more.
      await assertChangeLogShape(first, fx.config.changeLogTable);
    } finally {
      first.destroy();
      second.destroy();
    }
  });
});
