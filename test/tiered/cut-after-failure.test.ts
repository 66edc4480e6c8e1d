/**
 * A large put whose multipart upload failed for a reason of its own (a part refused: access
 * denied) while its cut was still armed: the writer's bound passed, or the writer learned its
 * instance claimed, after that failure, while the upload's parts were being aborted. The cut was
 * taken for the failure: the put failed `UploadNotSentError` (`cut`, "a transfer too slow, or the
 * process paused?"), which the objects API answers 503 retry, hiding the refusal an operator has
 * to act on. The cut is the error only when it failed the upload (a request it aborted, an attempt
 * stopped after it); otherwise the upload's own failure is, and its cleanup is that failure's.
 */
import { beforeAll, expect, test } from 'vitest';
import { checkInvariants } from '../../lib/drill/invariants.js';
import { AccessDeniedError, UploadNotSentError } from '../../lib/errors.js';
import { FaultInjector, onCommand } from '../../lib/faults/fault-injector.js';
import { type Fixture, freshFixture } from '../support/local.js';
import { MiB, makeWriter, PAST_EVERYTHING_MS, randomBody, rawValue, writersClosedAfterEach } from './harness.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await freshFixture();
});
const open = writersClosedAfterEach();

test('a part refused (access denied), the cut armed during the abort of the parts: the put fails with the refusal, not the cut', async () => {
  const key = 'cut-after-failure/denied';
  let ahead = 0;
  let cutDuringAbort = false;
  const injector = new FaultInjector()
    .add({
      kind: 'fail',
      match: onCommand('UploadPart'),
      skip: 1,
      times: 1,
      error: () =>
        Object.assign(new Error('injected: denied'), { name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 } }),
    })
    .add({
      kind: 'delay',
      delayMs: 0,
      times: 1,
      match: onCommand('AbortMultipartUpload'),
      // The upload has failed; while its parts are aborted, its bound passes (a writer paused
      // there, or one that learns its instance claimed): the cut's next check, within a second, fires.
      before: async () => {
        ahead = PAST_EVERYTHING_MS;
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        cutDuringAbort = true;
      },
    });
  const w = makeWriter(fx, { injector, log: { clock: () => Date.now() + ahead }, store: { partSize: 5 * MiB } });
  open.push(w);
  const error = await w.store.put(key, randomBody(11 * MiB)).catch((e: unknown) => e);
  expect(cutDuringAbort, 'the cut came after the failure').toBe(true);
  expect(error, 'the refusal an operator acts on').toBeInstanceOf(AccessDeniedError);
  expect(error).not.toBeInstanceOf(UploadNotSentError);
  // Refused outright, nothing can land: nothing left, as for any refused part.
  expect(await rawValue(fx, key)).toBeUndefined();
  expect(w.log.outstanding).toBe(0);
  const now = await checkInvariants(fx);
  expect(now.leaked).toEqual([]);
  expect(now.uploads, 'the upload aborted').toEqual([]);
});
