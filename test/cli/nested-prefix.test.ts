/**
 * Two stores in one bucket, one prefix nested in the other (`blobs` and `blobs/staging`), as the
 * README allows: "nested prefixes are safe". Each holds a live large object (a real store's put)
 * and an old orphan. What must hold, checked from outside (the reports, exit codes and a listing
 * of the bucket):
 *
 *  - neither store's audit takes the other's blobs for its garbage: `--delete` deletes its own
 *    orphan and nothing of the other store's, in both directions, listing audit and snapshot audit;
 *  - the outer store's audit does not report the inner store's blobs as findings. It listed them
 *    as "unparseable keys (not blob keys of this library)", every one of them, and
 *    `audit --exit-code` exited 3 on every run, clean or not: a scheduled audit of the layout the
 *    README recommends alerted for ever. They are counted under their store's prefix now
 *    (`nestedStores`), never judged, never deleted.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DynamoChangeLog } from '../../lib/changelog/dynamo-change-log.js';
import { checkInvariants } from '../../lib/drill/invariants.js';
import type { TierlogConfig } from '../../lib/config.js';
import { provisionLocal } from '../../lib/local/provision.js';
import { TieredStore } from '../../lib/tiered/tiered-store.js';
import { type Fixture, freshFixture, listKeys, uniqueName } from '../support/local.js';
import { snapshotsRemovedAfterAll } from '../snapshot-audit/snapshots.js';
import { blobKey, cli, cliJson, HOUR, putBlob } from './helpers.js';

const snapshotsAt = snapshotsRemovedAfterAll();
const LARGE = 40 * 1024;

interface Store {
  readonly fx: Fixture;
  readonly live: string;
  readonly orphan: string;
}

let outer: Store;
let inner: Store;
const logs: DynamoChangeLog[] = [];

/** A store of `config` in the shared bucket: a live large object (a real put) and an orphan of an hour ago. */
async function storeIn(fx: Fixture, config: TierlogConfig): Promise<Store> {
  const own: Fixture = { ...fx, config };
  await provisionLocal(config, { dynamodb: fx.dynamodb, s3: fx.s3 });
  const log = new DynamoChangeLog({ config, dynamodb: fx.dynamodb, renewInBackground: false });
  logs.push(log);
  const store = new TieredStore({ config, changeLog: log, dynamodb: fx.dynamodb, s3: fx.s3 });
  await store.put('live', new Uint8Array(LARGE).fill(1));
  const live = (await listKeys(fx.s3, config.bucket, `${config.prefix}/`)).find(
    (k) => k.split('/').length === config.prefix.split('/').length + 2,
  );
  const orphan = blobKey(own, 'orphan', Date.now() - HOUR);
  await putBlob(own, orphan);
  return { fx: own, live: live!, orphan };
}

beforeAll(async () => {
  const fx = await freshFixture();
  outer = await storeIn(fx, fx.config);
  inner = await storeIn(fx, {
    ...fx.config,
    prefix: `${fx.config.prefix}/staging`,
    objectsTable: uniqueName('objects'),
    changeLogTable: uniqueName('changelog'),
  });
});
afterAll(() => {
  for (const log of logs.splice(0)) log.close();
});

const later = () => Date.now() + 2 * HOUR;
const bucketKeys = () => listKeys(outer.fx.s3, outer.fx.config.bucket);

describe('two stores, one prefix nested in the other', () => {
  test("the outer store's audit counts the inner store's blobs under its prefix: no finding, nothing of it deleted", async () => {
    const report = await cliJson(outer.fx, ['audit', '--older-than', '1h'], { clock: later });
    expect(report.json).toMatchObject({ unparseable: [], nestedStores: { [inner.fx.config.prefix]: 2 } });
    expect(report.json.orphans.map((o: { key: string }) => o.key)).toEqual([outer.orphan]);
    const text = await cli(outer.fx, ['audit', '--older-than', '1h'], { clock: later });
    expect(text.out).toContain(`  ${inner.fx.config.prefix}/  2 keys`);
    expect(text.out).not.toContain(inner.orphan);

    const run = await cli(outer.fx, ['audit', '--older-than', '1h', '--delete', '--exit-code'], { clock: later });
    expect(run.code, run.out).toBe(0);
    expect(await bucketKeys()).toEqual([outer.live, inner.live, inner.orphan].sort());
  });

  test("checkInvariants of the outer store counts the inner store's blobs by prefix, none leaked; the inner's sees its own", async () => {
    const outerReport = await checkInvariants(outer.fx);
    expect(outerReport.leaked).not.toContain(inner.live);
    expect(outerReport.leaked).not.toContain(inner.orphan);
    expect(outerReport.nestedStores).toEqual({
      [inner.fx.config.prefix]: (await listKeys(inner.fx.s3, inner.fx.config.bucket, `${inner.fx.config.prefix}/`)).length,
    });
    expect(outerReport.lost).toEqual([]);
    expect(outerReport.references.get('live')).toBe(outer.live);
    const innerReport = await checkInvariants(inner.fx);
    expect(innerReport.nestedStores).toEqual({});
    expect(innerReport.references.get('live')).toBe(inner.live);
    expect(innerReport.leaked).not.toContain(inner.live);
    // Each store's blobs are its own listing's, less its nested stores'.
    const all = await bucketKeys();
    expect(outerReport.blobs + innerReport.blobs).toBe(all.filter((k) => k.startsWith(`${outer.fx.config.prefix}/`)).length);
  });

  test("the inner store's audit sees none of the outer store's keys, and deletes its own orphan alone", async () => {
    const run = await cliJson(inner.fx, ['audit', '--older-than', '1h', '--delete'], { clock: later });
    expect(run.json).toMatchObject({ unparseable: [], nestedStores: {}, deleted: 1 });
    expect(run.json.orphans.map((o: { key: string }) => o.key)).toEqual([inner.orphan]);
    expect(await bucketKeys()).toEqual([outer.live, inner.live].sort());
  });

  test("the outer store's snapshot audit counts them too: no malformed key", async () => {
    await putBlob(outer.fx, blobKey(inner.fx, 'orphan-2', Date.now() - HOUR));
    const now = later();
    const s = await snapshotsAt(outer.fx, now);
    const run = await cliJson(outer.fx, ['audit', '--older-than', '1h', '--inventory', s.manifest, '--export', s.exportDir], {
      clock: () => now,
    });
    expect(run.json).toMatchObject({ malformed: [], nestedStores: { [inner.fx.config.prefix]: 2 }, orphans: [] });
  });
});
