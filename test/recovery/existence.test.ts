/**
 * The sweeper's existence check under real S3's permissions. S3 answers a HeadObject of a missing
 * key with 403 (not 404) unless the caller may list the bucket unconditioned; the emulator always
 * answers 404. A middleware on the sweeper's S3 client makes every HeadObject answer 403
 * AccessDenied, as real S3 does under the construct's prefix-scoped grant: the sweeper still
 * tells an existing `new` from a missing one. A listing that is refused too leaves existence
 * unknown: deferred, never deleted.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { createS3Client } from '../../lib/aws/clients.js';
import { newChangeId } from '../../lib/ids.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { expectClean, makeSweeper, makeWriter, rawGetObject, rawInstance, rawPutObject } from '../tiered/harness.js';

const MIN = 60_000;
const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** An S3 client on which every request named in `denied` answers 403 AccessDenied; counts what was sent. */
function deniedS3(denied: readonly string[]) {
  const client = createS3Client();
  const sent: string[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? '?';
      sent.push(command);
      if (denied.includes(command)) {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'denyAsRealS3' },
  );
  return { client, sent };
}

function blobKey(fx: Fixture, objectId: string): string {
  return `${fx.config.prefix}/${Buffer.from(objectId, 'utf8').toString('base64url')}/${uuidv7()}`;
}

async function deadEntries(fx: Fixture) {
  const w = makeWriter(fx);
  open.push(w);
  const present = blobKey(fx, 'ex/present');
  const absent = blobKey(fx, 'ex/absent');
  await w.log.record(newChangeId(), { id: 'ex/present', new: present });
  await w.log.record(newChangeId(), { id: 'ex/absent', new: absent });
  await rawPutObject(fx, present, 'uploaded');
  return { instanceId: w.log.instanceId, present, absent };
}

describe('existence of new, under a HeadObject that answers 403', () => {
  test('every HeadObject denied: the listing still tells present from missing', async () => {
    const fx = await freshFixture();
    const { instanceId, present, absent } = await deadEntries(fx);
    const s3 = deniedS3(['HeadObjectCommand']);
    const s = makeSweeper(fx, 10 * MIN, { s3: s3.client });
    open.push({ close: () => (s.close(), s3.client.destroy()) });

    const report = await s.sweeper.sweep();
    // present: deleted at once, its entry kept to the window's end; absent: deferred.
    expect(report).toMatchObject({ instancesClaimed: 1, blobsDeleted: 1, entriesDeferred: 2, entriesRecovered: 0, errors: 0 });
    expect(await rawGetObject(fx, present)).toBeUndefined();
    expect(s3.sent).toContain('ListObjectsV2Command');
    expect(s3.sent).not.toContain('HeadObjectCommand');
    const item = (await rawInstance(fx, instanceId))!;
    expect(item.leaseUntil).toBe((item.firstSeen as number) + 20 * MIN);

    // The stalled upload of `absent` lands; after the window the next pass deletes it.
    await rawPutObject(fx, absent, 'late');
    const later = makeSweeper(fx, 31 * MIN, { s3: s3.client });
    open.push(later);
    expect(await later.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesRecovered: 2, blobsDeleted: 2, errors: 0 });
    expect(await rawGetObject(fx, absent)).toBeUndefined();
    await expectClean(fx, expect);
  });

  test('the listing denied too: existence unknown, deferred, nothing deleted; recovered once the window is over', async () => {
    const fx = await freshFixture();
    const { instanceId, present } = await deadEntries(fx);
    const s3 = deniedS3(['HeadObjectCommand', 'ListObjectsV2Command']);
    const s = makeSweeper(fx, 10 * MIN, { s3: s3.client });
    open.push({ close: () => (s.close(), s3.client.destroy()) });

    const report = await s.sweeper.sweep();
    expect(report).toMatchObject({ instancesClaimed: 1, blobsDeleted: 0, entriesDeferred: 2, entriesRecovered: 0, errors: 0 });
    expect(await rawGetObject(fx, present)).toBeDefined();
    expect((await rawInstance(fx, instanceId))!.state).toBe('claimed');

    // Past the window no check is needed: deleting `new` is safe whether it exists or not.
    const later = makeSweeper(fx, 31 * MIN, { s3: s3.client });
    open.push(later);
    expect(await later.sweeper.sweep()).toMatchObject({ instancesClaimed: 1, entriesRecovered: 2, errors: 0 });
    expect(await rawGetObject(fx, present)).toBeUndefined();
    await expectClean(fx, expect);
  });
});
