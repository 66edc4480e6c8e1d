/**
 * Three expiry scenarios the drill always runs (the random workload reaches them only by
 * chance), each with a fresh key and checked from outside by the {@link ExpiryDriver}:
 *  - overwritten as it expires: a put lands at the expiry instant of the value it replaces;
 *  - expiring during a session: the value expires while an upload session for its key is open,
 *    and the session completes over it;
 *  - re-created right after expiry: TTL removes the item, the key is written again at once (at a
 *    version above the removed one's, which a condition can no longer match), and the REMOVE
 *    reaches the stream handler after that (twice, the second time late).
 * Each must leave the right value (or absence) readable, and the expired blob deleted.
 *
 * Their expiring puts have short lives (0.3 to 2 s) and run beside the workload: a put slower
 * than its life (a loaded stack) is refused, nothing written (`refuseIfExpired`), which is the
 * store's right answer. Such a put is made again, its expiry taken anew (see {@link putExpiring}).
 */
import { ValidationError } from '../errors.js';
import type { PutOptions, PutResult } from '../tiered/object-info.js';
import { bodyFor, bodyMatches } from './model.js';
import type { ExpiryDriver } from './expiry.js';
import type { TieredStore } from '../tiered/tiered-store.js';

/** Puts of a scenario's expiring value before a refusal for its passed expiry is the scenario's error. */
export const EXPIRING_PUT_ATTEMPTS = 10;

export interface ExpiryScenarioReport {
  readonly overwrittenAsExpiring: number;
  readonly expiredDuringSession: number;
  readonly recreatedAfterExpiry: number;
  /** What went wrong (empty when all held). */
  readonly failures: string[];
}

export async function runExpiryScenarios(store: TieredStore, driver: ExpiryDriver, prefix: string): Promise<ExpiryScenarioReport> {
  const failures: string[] = [];
  const expect = (ok: boolean, what: string) => {
    if (!ok) failures.push(what);
  };
  const holds = async (key: string, tag: string, size: number) => {
    const value = await store.get(key);
    expect(value?.metadata.tag === tag && bodyMatches(tag, size, value.body), `${key} holds "${tag}" (read ${value?.metadata.tag})`);
  };

  // Overwritten as it expires.
  const a = `${prefix}/overwritten`;
  let expiresAt = new Date(0);
  await putExpiring(store, a, bodyFor('a1', 20_000), () => {
    expiresAt = new Date(Math.ceil((Date.now() + 1_000) / 1_000) * 1_000);
    return { metadata: { tag: 'a1' }, expiresAt };
  });
  await sleep(expiresAt.getTime() - Date.now());
  await store.put(a, bodyFor('a2', 30_000), { metadata: { tag: 'a2' } });
  await holds(a, 'a2', 30_000);

  // Expiring during a session.
  const b = `${prefix}/session`;
  await putExpiring(store, b, bodyFor('b1', 20_000), () => ({ metadata: { tag: 'b1' }, timeToLiveMs: 500 }));
  // The store keeps the expiry in whole seconds, rounded up: 0.5 to 1.5 s after the put. Waited
  // for as reported (a fixed wait found a value put late in a second still live, on a sound store).
  const expiring = (await store.head(b))?.expiresAt?.getTime() ?? Date.now();
  const session = await store.createUpload(b, { size: 40_000, metadata: { tag: 'b2' }, expiresInMs: 60_000 });
  const url = await store.uploadPartUrl(session.uploadId, 1);
  const part = await fetch(url, { method: 'PUT', body: bodyFor('b2', 40_000) });
  expect(part.status === 200, `the part PUT of ${b} answered ${part.status}`);
  await sleep(expiring + 50 - Date.now());
  expect((await store.head(b)) === undefined, `${b} is absent once expired, before the session completes`);
  await store.completeUpload(session.uploadId, [{ partNumber: 1, etag: part.headers.get('etag') ?? '' }]);
  await holds(b, 'b2', 40_000);

  // Re-created right after expiry: TTL removes it, the key is written again, then the stream runs.
  const c = `${prefix}/recreated`;
  const removed = await putExpiring(store, c, bodyFor('c1', 20_000), () => ({ metadata: { tag: 'c1' }, timeToLiveMs: 300 }));
  const expiry = (await store.head(c))?.expiresAt?.getTime() ?? Date.now();
  await sleep(expiry + 1_050 - Date.now()); // TTL deletes an item once its expiry (seconds) is below the current second
  await driver.expireAsTtl();
  expect((await store.head(c)) === undefined, `${c} is absent once expired`);
  const again = await store.put(c, bodyFor('c2', 25_000), { metadata: { tag: 'c2' } });
  // Versions never restart: the new item starts above the removed one, so its version matches nothing it had.
  expect(again.version > removed.version, `${c} starts above version ${removed.version} after TTL removed it (got ${again.version})`);
  const stale = await store.delete(c, { ifVersion: removed.version }).then(
    () => 'deleted',
    (err: unknown) => (err as Error).name,
  );
  expect(stale === 'VersionConflictError', `a delete of ${c} with the removed item's version is refused (got ${stale})`);
  await driver.deliverStream();
  await driver.deliverStream();
  await holds(c, 'c2', 25_000);

  return { overwrittenAsExpiring: 1, expiredDuringSession: 1, recreatedAfterExpiry: 1, failures };
}

/**
 * Puts an expiring value, made again while the store refuses it because its expiry passed before
 * the put could commit (a `ValidationError` naming the expiry option: nothing was written), at
 * most {@link EXPIRING_PUT_ATTEMPTS} puts. `options` is asked anew for each (an instant moves on).
 * Any other error, or that refusal on the last put, is the caller's.
 */
export async function putExpiring(store: TieredStore, key: string, body: Uint8Array, options: () => PutOptions): Promise<PutResult> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.put(key, body, options());
    } catch (err) {
      const expired = err instanceof ValidationError && EXPIRY_FIELDS.has(err.field);
      if (!expired || attempt >= EXPIRING_PUT_ATTEMPTS) throw err;
    }
  }
}

/** The options a refusal for a passed expiry names (`ExpiryField`). */
const EXPIRY_FIELDS: ReadonlySet<string> = new Set(['expiresAt', 'timeToLiveMs', 'timeToIdleMs']);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
