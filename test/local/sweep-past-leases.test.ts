/**
 * `sweepPastLeases` (tierlog/testing): the two sweeps that recover a dead writer in a test, on a
 * clock moved ahead. One sweep past the lease only fences (the trap it exists for); the second
 * follows the windows the sweeper is given, and the writers' clock when it is not the wall's.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { isAwsHost } from '../../lib/local/endpoint-host.js';
import { ConfigError, ValidationError } from '../../lib/errors.js';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { sweepPastLeases } from '../../lib/local/sweep-past-leases.js';
import { freshFixture } from '../support/local.js';
import { offlineDynamoDBClient } from '../support/offline-client.js';
import { deadWriterPut, makeSweeper, steps } from '../tiered/harness.js';

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

describe('sweepPastLeases', () => {
  test('one sweep past the lease leaves the dead writer pending; sweepPastLeases recovers it', async () => {
    const fx = await freshFixture();
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { old: new Uint8Array(20_000) });

    // A sweep past the lease (2 min) and the skew margin, as a test would run one.
    const once = makeSweeper(fx, 5 * 60_000);
    open.push(once);
    const single = await once.sweeper.sweep();
    expect(single).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0 });
    const after = await checkInvariants(fx);
    expect(after.pending).toHaveLength(1);
    expect(after.entries).toBe(1);

    const { first, second } = await sweepPastLeases(fx);
    expect(first.errors + second.errors).toBe(0);
    expect(second.entriesRecovered).toBe(1);
    expect(await checkInvariants(fx)).toMatchObject({ lost: [], leaked: [], pending: [], uploads: [], entries: 0, instances: 0, blobs: 1 });
  });

  test('the second sweep follows the upload window given (an hour here, not the default 20 min)', async () => {
    const fx = await freshFixture();
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit);
    const { first, second } = await sweepPastLeases({ ...fx, maxUploadMs: 60 * 60_000 });
    expect(first).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
    expect(second).toMatchObject({ entriesRecovered: 1, entriesDeferred: 0, blobsDeleted: 1, errors: 0 });
    expect(await checkInvariants(fx)).toMatchObject({ pending: [], leaked: [], entries: 0 });
  });

  test('runs `aheadMs` ahead of the clock given: a writer whose clock runs 10 min ahead of the wall', async () => {
    const fx = await freshFixture();
    const ahead = 10 * 60_000;
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { writer: { log: { clock: () => Date.now() + ahead } } });
    // Its lease ends 12 min ahead of the wall: a first sweep 5 min ahead of the wall does not see it
    // expired, so the second is only its first sighting.
    const wall = await sweepPastLeases({ ...fx, aheadMs: 5 * 60_000 });
    expect(wall.first.instancesClaimed).toBe(0);
    expect(wall.second).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1, entriesRecovered: 0 });
    // On the writer's clock, 5 min ahead of it is past its lease: the sweeps claim, then recover.
    const writers = await sweepPastLeases({ ...fx, clock: () => Date.now() + ahead, aheadMs: 5 * 60_000 + 31 * 60_000 });
    expect(writers.second.entriesRecovered).toBe(1);
    expect(await checkInvariants(fx)).toMatchObject({ pending: [], leaked: [], entries: 0 });
  });

  test("the default first sweep runs past the leases on the writers' clock given, not the wall's: a writer 30 min ahead is recovered", async () => {
    const fx = await freshFixture();
    const ahead = 30 * 60_000;
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { writer: { log: { clock: () => Date.now() + ahead } } });
    const { first, second } = await sweepPastLeases({ ...fx, clock: () => Date.now() + ahead });
    expect(first).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
    expect(second).toMatchObject({ entriesRecovered: 1, errors: 0 });
  });

  test('the first sweep allows for the skew margin given: a writer 10 min ahead is claimed by it with a margin of 10 min', async () => {
    const fx = await freshFixture();
    const ahead = 10 * 60_000;
    await deadWriterPut(fx, open, 'k', steps(fx.config).commit, { writer: { log: { clock: () => Date.now() + ahead } } });
    // Its lease ends 12 min ahead of the wall; with a 10 min margin the first sweep must run past 22 min.
    const { first, second } = await sweepPastLeases({ ...fx, skewMarginMs: 10 * 60_000 });
    expect(first).toMatchObject({ instancesClaimed: 1, entriesDeferred: 1 });
    expect(second).toMatchObject({ entriesRecovered: 1, errors: 0 });
    expect(await checkInvariants(fx)).toMatchObject({ pending: [], leaked: [], entries: 0 });
  });

  test.each([Number.NaN, Number.POSITIVE_INFINITY, -60_000, 1.5, '300000'])(
    'an aheadMs of %s is a ValidationError naming aheadMs (not the clock it was never given), before any sweep',
    async (aheadMs) => {
      const fx = await freshFixture();
      const error = await sweepPastLeases({ ...fx, aheadMs: aheadMs as number }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('aheadMs');
    },
  );

  test.each([1_764_000_000_000, 'Date.now', null])(
    'a clock of %s (no function) is a ValidationError naming clock, as the Sweeper refuses one, before any sweep',
    async (clock) => {
      const fx = await freshFixture();
      const error = await sweepPastLeases({ ...fx, clock: clock as unknown as () => number }).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('clock');
    },
  );

  test('called without its options (a JavaScript caller) is a ValidationError naming them, not a TypeError naming the clock it was never given', async () => {
    const error = await (sweepPastLeases as (options?: unknown) => Promise<unknown>)().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'options', message: expect.stringContaining('config') });
  });

  /** {@link offlineDynamoDBClient}, destroyed after the test. */
  const countingClient = (config: { endpoint?: string; region?: string; useDualstackEndpoint?: boolean }) => {
    const offline = offlineDynamoDBClient(config);
    open.push({ close: () => offline.client.destroy() });
    return offline;
  };

  test.each([
    { to: "AWS's regional endpoint (no endpoint variable)", config: { endpoint: undefined }, host: 'dynamodb.us-east-1.amazonaws.com' },
    {
      to: 'an endpoint option naming AWS',
      config: { endpoint: 'https://dynamodb.eu-west-1.amazonaws.com' },
      host: 'dynamodb.eu-west-1.amazonaws.com',
    },
    {
      to: 'a VPC endpoint',
      config: { endpoint: 'https://vpce-0a1b-c2d3.dynamodb.us-east-1.vpce.amazonaws.com' },
      host: 'vpce-0a1b-c2d3.dynamodb.us-east-1.vpce.amazonaws.com',
    },
    { to: 'the China partition', config: { region: 'cn-north-1' }, host: 'dynamodb.cn-north-1.amazonaws.com.cn' },
    // Every partition the SDK places a client in, by its endpoints and its dual-stack ones
    // (AWS_USE_DUALSTACK_ENDPOINT): the China partition's dual-stack, the European Sovereign Cloud's,
    // the ISO partitions'. Each was taken for a local server, and the sweeps ran against its tables.
    {
      to: "the China partition's dual-stack endpoint",
      config: { region: 'cn-north-1', useDualstackEndpoint: true },
      host: 'dynamodb.cn-north-1.api.amazonwebservices.com.cn',
    },
    { to: 'the European Sovereign Cloud', config: { region: 'eusc-de-east-1' }, host: 'dynamodb.eusc-de-east-1.amazonaws.eu' },
    {
      to: "the European Sovereign Cloud's dual-stack endpoint",
      config: { region: 'eusc-de-east-1', useDualstackEndpoint: true },
      host: 'dynamodb.eusc-de-east-1.api.amazonwebservices.eu',
    },
    {
      to: "an ISO partition's dual-stack endpoint",
      config: { region: 'us-iso-east-1', useDualstackEndpoint: true },
      host: 'dynamodb.us-iso-east-1.api.aws.ic.gov',
    },
    {
      to: "the ISO-B partition's dual-stack endpoint",
      config: { region: 'us-isob-east-1', useDualstackEndpoint: true },
      host: 'dynamodb.us-isob-east-1.api.aws.scloud',
    },
    { to: 'the ISO-E partition', config: { region: 'eu-isoe-west-1' }, host: 'dynamodb.eu-isoe-west-1.cloud.adc-e.uk' },
    {
      to: "the ISO-E partition's dual-stack endpoint",
      config: { region: 'eu-isoe-west-1', useDualstackEndpoint: true },
      host: 'dynamodb.eu-isoe-west-1.api.cloud-aws.adc-e.uk',
    },
    { to: 'the ISO-F partition', config: { region: 'us-isof-south-1' }, host: 'dynamodb.us-isof-south-1.csp.hci.ic.gov' },
    {
      to: "the ISO-F partition's dual-stack endpoint",
      config: { region: 'us-isof-south-1', useDualstackEndpoint: true },
      host: 'dynamodb.us-isof-south-1.api.aws.hci.ic.gov',
    },
  ])('a DynamoDB client that talks to $to is a ConfigError naming againstAws, no request sent', async ({ config, host }) => {
    const fx = await freshFixture();
    const { client: aws, sent } = countingClient(config);
    const error = await sweepPastLeases({ ...fx, dynamodb: aws }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('againstAws');
    expect((error as Error).message).toContain(host);
    expect(sent()).toBe(0);
  });

  test('againstAws: true sweeps tables on AWS (the requests go out)', async () => {
    const fx = await freshFixture();
    const { client: aws, sent } = countingClient({});
    const error = await sweepPastLeases({ ...fx, dynamodb: aws, againstAws: true }).catch((err: unknown) => err);
    expect(error).not.toBeInstanceOf(ConfigError);
    expect(sent()).toBeGreaterThan(0);
  });

  test.each(['yes', 1, null])('an againstAws of %s is a ValidationError naming it, before anything is sent', async (againstAws) => {
    const fx = await freshFixture();
    const error = await sweepPastLeases({ ...fx, againstAws: againstAws as unknown as boolean }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('againstAws');
  });

  test.each([
    ['dynamodb.us-east-1.amazonaws.com', true],
    ['DYNAMODB.US-EAST-1.AMAZONAWS.COM.', true],
    ['dynamodb.us-gov-west-1.amazonaws.com', true],
    ['dynamodb.cn-north-1.amazonaws.com.cn', true],
    ['dynamodb.us-east-1.api.aws', true],
    ['dynamodb.us-iso-east-1.c2s.ic.gov', true],
    ['dynamodb.eusc-de-east-1.amazonaws.eu', true],
    ['dynamodb.cn-north-1.api.amazonwebservices.com.cn', true],
    ['ic.gov', false],
    ['amazonaws.eu.example.org', false],
    ['127.0.0.1', false],
    ['localhost', false],
    ['localstack', false],
    ['notamazonaws.com', false],
    ['amazonaws.com.example.org', false],
  ])('isAwsHost(%s) is %s', (host, aws) => {
    expect(isAwsHost(host)).toBe(aws);
  });
});
