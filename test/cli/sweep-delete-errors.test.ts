/**
 * EntriesFailing, from the operator's chair: the sweeper's "blob deletes failed" warning (the
 * Lambda's log, and `tierlog sweep`'s stderr) names each key with the error S3 answered for it,
 * so the operator tells a missing grant (AccessDenied) from throttling or object lock without
 * reproducing the delete by hand.
 */
import { afterEach, expect, test } from 'vitest';
import { createS3Client } from '../../lib/aws/clients.js';
import { freshFixture } from '../support/local.js';
import { putDeadInstance } from '../tiered/harness.js';
import { cli } from './helpers.js';

const open: Array<{ destroy(): void }> = [];
afterEach(() => {
  for (const c of open.splice(0)) c.destroy();
});

type DeleteError = { Key?: string; Code: string; Message: string };

/** An S3 client whose every DeleteObjects deletes nothing and answers `errorsFor(its keys)`. */
function s3AnsweringDeletes(errorsFor: (keys: string[]) => DeleteError[]) {
  const s3 = createS3Client();
  open.push(s3);
  s3.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      if (context.commandName !== 'DeleteObjectsCommand') return next(args);
      const keys: string[] = args.input.Delete.Objects.map((o: { Key: string }) => o.Key);
      return { output: { Errors: errorsFor(keys), $metadata: {} }, response: {} };
    },
    { step: 'initialize', name: 'answerDeletes' },
  );
  return s3;
}

/** The attributes of the sweep's "blob deletes failed" warning on stderr; undefined when none. */
function deleteWarning(stderr: string): Record<string, any> | undefined {
  const warning = stderr.split('\n').find((l) => l.startsWith('warning: blob deletes failed'));
  return warning === undefined ? undefined : JSON.parse(warning.slice('warning: blob deletes failed '.length));
}

test('a refused blob delete is logged with its key and S3 error code; exit 1, the entry kept', async () => {
  const fx = await freshFixture();
  // Two blobs, so they go in one DeleteObjects (a lone key goes in a DeleteObject).
  const dead = await putDeadInstance(fx, { fenced: true, count: 2 });
  const s3 = s3AnsweringDeletes((keys) => keys.map((Key) => ({ Key, Code: 'AccessDenied', Message: 'Access Denied' })));
  const run = await cli({ ...fx, s3 }, ['sweep']);
  expect(run.code).toBe(1);
  expect(run.out).toContain('2 failed');
  const attributes = deleteWarning(run.err);
  expect(attributes).toBeDefined();
  expect(attributes).toMatchObject({
    instanceId: dead.instanceId,
    errors: expect.arrayContaining(dead.blobs.map((key) => ({ key, code: 'AccessDenied', message: 'Access Denied' }))),
  });
  expect([...attributes!.keys].sort()).toEqual([...dead.blobs].sort());
});

test('an error in the DeleteObjects answer that names no key fails every key of the batch: exit 1, the entry and its blobs kept', async () => {
  const fx = await freshFixture();
  const dead = await putDeadInstance(fx, { fenced: true, count: 2 });
  // Nothing deleted, and an error S3 (or a store that claims its API) ties to no key: any key of the batch.
  const s3 = s3AnsweringDeletes(() => [{ Code: 'InternalError', Message: 'We encountered an internal error' }]);
  const run = await cli({ ...fx, s3 }, ['sweep']);
  expect(run.code).toBe(1);
  expect(run.out).toContain('2 failed');
  const attributes = deleteWarning(run.err);
  expect([...attributes!.keys].sort()).toEqual([...dead.blobs].sort());
  // The entry kept: the next sweep, its deletes answered, settles it.
  const again = await cli(fx, ['sweep']);
  expect(again.code).toBe(0);
});
