/**
 * A `Sweeper` run from a machine whose clock is off AWS's (a laptop, a VM after a pause, a host
 * without NTP), against the real local servers, AWS's clock stood in for by the Date header of
 * DynamoDB Local's answers moved on. The sweeper judges leases and upload windows on its clock:
 * ahead of AWS's it takes a live writer for a dead one, behind it a writer's fresh lease for one
 * further ahead than any writer takes. With the default clock the sweep is refused before it takes
 * anything; within the skew margin, or with a clock the caller gave, it sweeps as ever.
 */
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { DEFAULT_SKEW_MARGIN_MS, MAX_WRITER_LEASE_MS } from '../../lib/constants.js';
import { ConfigError } from '../../lib/errors.js';
import { newChangeId } from '../../lib/ids.js';
import { Sweeper } from '../../lib/recovery/sweeper.js';
import { withServerClock } from '../cli/helpers.js';
import { type Fixture, freshFixture } from '../support/local.js';
import {
  allKeys,
  closedAfterEach,
  entryNames,
  putRawInstance,
  rawBlobKey,
  rawInstance,
  rawPutObject,
  randomBody,
} from '../tiered/harness.js';

const MIN = 60_000;
const OFF_MS = 3 * MIN;
const open = closedAfterEach<{ close(): void }>();

/** A sweeper with the default clock whose DynamoDB answers say AWS's clock is `awsAheadMs` ahead of this machine's. */
function sweeperSeeing(fx: Fixture, awsAheadMs: number, clock?: () => number): Sweeper {
  const dynamodb = withServerClock(createDynamoDBClient(), awsAheadMs);
  const s3 = createS3Client();
  open.push({ close: () => (dynamodb.destroy(), s3.destroy()) });
  return new Sweeper({ config: fx.config, dynamodb, s3, ...(clock !== undefined ? { clock } : {}) });
}

/** A writer's instance with one entry and its uploaded blob, its lease ending at `leaseUntil`. */
async function instanceWithEntry(fx: Fixture, leaseUntil: number): Promise<{ instanceId: string; blob: string }> {
  const id = `clock/${newChangeId()}`;
  const blob = rawBlobKey(fx, id);
  await rawPutObject(fx, blob, randomBody(64));
  const instanceId = await putRawInstance(fx, { leaseUntil, entries: { [newChangeId()]: { v: 1, id, at: leaseUntil - MIN, new: blob } } });
  return { instanceId, blob };
}

describe("a Sweeper on a machine whose clock is off AWS's", () => {
  test.each([
    {
      way: 'ahead of',
      awsAheadMs: -OFF_MS,
      // A live writer's lease, two minutes ahead on AWS's clock: ended a minute ago on this machine's.
      leaseUntil: (awsNow: number) => awsNow + 2 * MIN,
    },
    {
      way: 'behind',
      awsAheadMs: OFF_MS,
      // A writer in a 15-minute invocation: its lease as far ahead as any writer's, on AWS's clock;
      // three minutes further on this machine's, a suspect lease.
      leaseUntil: (awsNow: number) => awsNow + MAX_WRITER_LEASE_MS - 10_000,
    },
  ])(
    '$way: the sweep is a ConfigError naming the clock; the live writer is neither claimed nor fenced',
    async ({ way, awsAheadMs, leaseUntil }) => {
      const fx = await freshFixture();
      const { instanceId, blob } = await instanceWithEntry(fx, leaseUntil(Date.now() + awsAheadMs));
      const before = await rawInstance(fx, instanceId);

      const refused = await sweeperSeeing(fx, awsAheadMs)
        .sweep()
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(ConfigError);
      expect(refused).toMatchObject({ setting: 'clock' });
      expect((refused as Error).message).toContain(`${way} AWS's`);
      expect((refused as Error).message).toMatch(/\b(179|180|181) s /);

      // Nothing claimed, nothing deleted: the writer's item is as it wrote it.
      expect(await rawInstance(fx, instanceId)).toEqual(before);
      expect(entryNames(await rawInstance(fx, instanceId))).toHaveLength(1);
      expect(await allKeys(fx)).toContain(blob);
    },
  );

  test('within the skew margin it sweeps: a dead writer is claimed', async () => {
    const fx = await freshFixture();
    const { instanceId } = await instanceWithEntry(fx, Date.now() - 60 * MIN);
    const report = await sweeperSeeing(fx, -(DEFAULT_SKEW_MARGIN_MS - 10_000)).sweep();
    expect(report).toMatchObject({ errors: 0, instancesClaimed: 1 });
    expect(await rawInstance(fx, instanceId)).toMatchObject({ state: 'claimed' });
  });

  test("with a clock given, that clock is the caller's choice (tests, drills): not checked", async () => {
    const fx = await freshFixture();
    const { instanceId } = await instanceWithEntry(fx, Date.now() - 60 * MIN);
    const report = await sweeperSeeing(fx, -OFF_MS, () => Date.now()).sweep();
    expect(report).toMatchObject({ errors: 0, instancesClaimed: 1 });
    expect(await rawInstance(fx, instanceId)).toMatchObject({ state: 'claimed' });
  });
});
