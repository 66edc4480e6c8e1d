/**
 * What `tierlog audit --delete` reports when S3 or DynamoDB fail it, with the failures AWS gives
 * and the emulators do not (injected with lib/faults/fault-injector.ts or a response middleware):
 *
 *  - DeleteObjects answers 200 with per-key Errors: those keys are reported as failed deletes,
 *    not counted as deleted, and the exit code is 1; the other keys are gone. A lone key's
 *    DeleteObject refused with a 403 is reported the same way.
 *  - An error stops the audit after a delete batch went through: the report of what it did until
 *    then is printed (JSON on stdout with --json), the error goes to stderr, exit 1, and the
 *    deleted count is exactly what left the bucket.
 *  - Ctrl-C (the CLI's abort signal) stops the audit before the round's first change when it came
 *    during the round's reads, else at the end of the round's deletes: it prints what it did and
 *    exits 130; the orphans of later rounds stay.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, test } from 'vitest';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';
import { InterruptedError } from '../../lib/cli/common.js';
import { reportError } from '../../lib/cli/program.js';
import { AuditIncompleteError } from '../../lib/recovery/audit.js';
import { FaultInjector } from '../../lib/faults/fault-injector.js';
import { awsServiceError, batchDeleteThenSecondKeyFailing, s3AccessDenied } from '../../lib/faults/s3-answers.js';
import { type Fixture, freshFixture, prefixKeys } from '../support/local.js';
import { putDeadInstance } from '../tiered/harness.js';
import { auditStop, blobKey, cli, cliJson, HOUR, putBlob, putOrphans, putTombstone, storeWithOrphan } from './helpers.js';

const ahead = () => Date.now() + 2 * HOUR;
/** `--delete --empty-store-ok --older-than 90m`: the scenes' stores hold only orphans. */
const DELETE_ORPHANS = { delete: true, emptyStoreOk: true, olderThanMs: 90 * 60_000 };
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

const orphans = (fx: Fixture, n: number): Promise<string[]> => putOrphans(fx, n, 'gone');

/** An S3 client whose `page`th ListObjectsV2 aborts `interrupt` as it is sent (the operator's Ctrl-C then). */
function ctrlCAtPage(page: number, interrupt: AbortController): S3Client {
  return atListingPage(page, () => interrupt.abort(new InterruptedError()));
}

/** An S3 client that runs `act` as its `page`th ListObjectsV2 is sent (what it throws fails that request). */
function atListingPage(page: number, act: () => void): S3Client {
  const s3 = createS3Client();
  closers.push(() => s3.destroy());
  let listings = 0;
  s3.middlewareStack.add(
    (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
      if (context.commandName === 'ListObjectsV2Command' && ++listings === page) act();
      return next(args);
    },
    { step: 'initialize', name: 'atListingPage' },
  );
  return s3;
}

describe('audit --delete under failures', () => {
  test('DeleteObjects answers 200 with an Error for one key: it is a failed delete (exit 1), not a deleted one', async () => {
    const fx = await freshFixture();
    const keys = await orphans(fx, 3);
    const refused = keys[1]!;
    const s3 = createS3Client();
    closers.push(() => s3.destroy());
    // S3 leaves the key in place and names it in Errors (e.g. AccessDenied by a bucket policy).
    s3.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName !== 'DeleteObjectsCommand') return next(args);
        const objects = args.input.Delete.Objects.filter((o: { Key: string }) => o.Key !== refused);
        const out = await next({ ...args, input: { ...args.input, Delete: { ...args.input.Delete, Objects: objects } } });
        out.output.Errors = [{ Key: refused, Code: 'AccessDenied', Message: 'Access Denied' }];
        return out;
      },
      { step: 'initialize', name: 'perKeyDeleteError' },
    );
    const run = await cliJson({ ...fx, s3 }, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], { clock: ahead });
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ deleted: 2, deleteFailures: [{ key: refused, code: 'AccessDenied', message: 'Access Denied' }] });
    // A run that went to its end (its failures in the report) carries no error.
    expect(run.json).not.toHaveProperty('error');
    expect(await prefixKeys(fx)).toEqual([refused]);
  });

  test('a lone orphan whose DeleteObject S3 refuses (403): the same failed delete (exit 1) as in a batch, not a stopped audit', async () => {
    const fx = await freshFixture();
    const [refused] = await orphans(fx, 1);
    const s3 = createS3Client();
    closers.push(() => s3.destroy());
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand',
        error: s3AccessDenied,
      })
      .attach(s3, 's3');
    const run = await cliJson({ ...fx, s3 }, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], { clock: ahead });
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ deleted: 0, deleteFailures: [{ key: refused, code: 'AccessDenied', message: 'Access Denied' }] });
    expect(await prefixKeys(fx)).toEqual([refused]);
  });

  test.each([true, false])(
    'an error after a delete batch: the report so far is printed (--json %s), the error goes to stderr, exit 1',
    async (json) => {
      const fx = await freshFixture();
      await orphans(fx, 4);
      const dynamodb = createDynamoDBClient();
      closers.push(() => dynamodb.destroy());
      // Per page of 2: BatchGetItem (check, the items' shape, the re-check), DeleteObjects. The fourth read fails.
      new FaultInjector()
        .add({
          kind: 'fail',
          match: (r) => r.command === 'BatchGetItemCommand',
          skip: 3,
          error: () =>
            Object.assign(new Error('User is not authorized to perform: dynamodb:BatchGetItem'), { name: 'AccessDeniedException' }),
        })
        .attach(dynamodb, 'dynamodb');
      const { err, c } = await auditStop({ ...fx, dynamodb }, ahead, { ...DELETE_ORPHANS, json, pageSize: 2, checkBatch: 2 });
      expect(err).toBeInstanceOf(AuditIncompleteError);
      expect(await prefixKeys(fx)).toHaveLength(2);
      expect(reportError(err, c.io)).toBe(1);
      expect(c.err()).toMatch(/^tierlog: audit stopped after 4 keys listed, 2 checked, 2 blobs deleted: access denied: BatchGetItem/);
      // The JSON report says it is no clean run's, as the JSON error of a run stopped before its report does.
      if (json)
        expect(JSON.parse(c.out())).toMatchObject({
          delete: true,
          checked: 2,
          deleted: 2,
          deleteFailures: [],
          error: { name: 'AuditIncompleteError', message: expect.stringMatching(/^audit stopped after 4 keys listed/), exitCode: 1 },
        });
      else expect(c.out()).toContain('deleted 2 blobs');
    },
  );

  test('DeleteObjects fails as a whole and a one-by-one delete then fails too: the deletes S3 confirmed are counted, the audit stops with its report (exit 1)', async () => {
    const fx = await freshFixture();
    const keys = await orphans(fx, 3);
    const s3 = createS3Client();
    closers.push(() => s3.destroy());
    // The batch fails whole (500): its keys are deleted one by one; the first goes through, the second is throttled.
    const injector = new FaultInjector();
    for (const rule of batchDeleteThenSecondKeyFailing()) injector.add(rule);
    injector.attach(s3, 's3');
    const { err, c } = await auditStop({ ...fx, s3 }, ahead, { ...DELETE_ORPHANS, json: true });
    const left = await prefixKeys(fx);
    expect(left, 'the first key was deleted').toEqual(keys.slice(1));
    // Not the bare SlowDown: the audit had deleted a blob, and says so.
    expect(err).toBeInstanceOf(AuditIncompleteError);
    // The keys S3 never answered for (in the failed batch, not confirmed one by one) may be gone.
    expect((err as AuditIncompleteError).report).toMatchObject({ deleted: 1, deleteUnknown: [...keys].sort().slice(1) });
    expect(reportError(err, c.io)).toBe(1);
    expect(c.err()).toMatch(
      /^tierlog: audit stopped after 3 keys listed, 3 checked, 1 blobs deleted, 2 deletes of unknown outcome \(may be gone\): injected: SlowDown/,
    );
    expect(JSON.parse(c.out())).toMatchObject({ delete: true, deleted: 1, error: { name: 'AuditIncompleteError', exitCode: 1 } });
  });

  test('credentials refused at the second delete (a token expired during the run): the keys of that refused delete are named not deleted with the rest of the round, none of unknown outcome', async () => {
    const fx = await freshFixture();
    const [first, second, third] = (await orphans(fx, 3)) as [string, string, string];
    const s3 = createS3Client();
    closers.push(() => s3.destroy());
    // One key a delete (a lone key goes in its own DeleteObject): the first goes through, then the token expires.
    new FaultInjector()
      .add({
        kind: 'fail',
        match: (r) => r.command === 'DeleteObjectCommand',
        skip: 1,
        error: () => awsServiceError('ExpiredToken', 400, 'The provided token has expired.'),
      })
      .attach(s3, 's3');
    const { err, c } = await auditStop({ ...fx, s3 }, ahead, { ...DELETE_ORPHANS, deleteBatch: 1 });
    expect(await prefixKeys(fx)).toEqual([second, third]);
    expect(err).toBeInstanceOf(AuditIncompleteError);
    const { report } = err as AuditIncompleteError;
    expect(report.deleted).toBe(1);
    expect(report.deleteUnknown).toEqual([]);
    expect(report.deleteFailures).toEqual([]);
    // Before, the refused key was in no list: the report named only the third as still there.
    expect([...(report.notDeleted ?? [])].sort()).toEqual([second, third]);
    expect(report.orphans.map((o) => o.key)).toContain(first);
    expect(c.out()).toContain('2 blobs not deleted: the run stopped before their deletes were sent or done (still in the bucket):');
  });

  test.each([true, false])(
    'a delete S3 never answered (DeleteObjects 500, then the first one-by-one delete 503), before any confirmed: the report names the keys that may be gone (--json %s), exit 1',
    async (json) => {
      const fx = await freshFixture();
      const keys = await orphans(fx, 3);
      const s3 = createS3Client();
      closers.push(() => s3.destroy());
      new FaultInjector()
        .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectsCommand', error: () => awsServiceError('InternalError', 500) })
        .add({ kind: 'fail', match: (r) => r.command === 'DeleteObjectCommand', error: () => awsServiceError('SlowDown', 503) })
        .attach(s3, 's3');
      const { err, c } = await auditStop({ ...fx, s3 }, ahead, { ...DELETE_ORPHANS, json });
      // Not the bare SlowDown: the failed DeleteObjects may have deleted every key of its batch.
      expect(err).toBeInstanceOf(AuditIncompleteError);
      expect((err as AuditIncompleteError).report).toMatchObject({ deleted: 0, deleteFailures: [], deleteUnknown: [...keys].sort() });
      expect(reportError(err, c.io)).toBe(1);
      expect(c.err()).toMatch(/^tierlog: audit stopped after 3 keys listed, 3 checked, 0 blobs deleted, 3 deletes of unknown outcome/);
      if (json)
        expect(JSON.parse(c.out())).toMatchObject({
          deleted: 0,
          deleteUnknown: [...keys].sort(),
          error: { name: 'AuditIncompleteError', exitCode: 1 },
        });
      else expect(c.out()).toContain('3 deletes of unknown outcome (S3 did not answer; these blobs may be gone):');
    },
  );

  test.each([true, false])(
    'Ctrl-C during a delete round (--json %s): the round finishes, the next never starts, the report is printed, exit 130',
    async (json) => {
      const fx = await freshFixture();
      const keys = await orphans(fx, 6);
      const interrupt = new AbortController();
      const deletes: string[][] = [];
      const { err, c } = await auditStop(fx, ahead, {
        ...DELETE_ORPHANS,
        json,
        pageSize: 2,
        checkBatch: 2,
        deleteBatch: 1,
        signal: interrupt.signal,
        beforeDelete: (batch) => {
          deletes.push([...batch]);
          interrupt.abort(new InterruptedError()); // in the first round, before its first delete request
        },
      });
      expect(err).toBeInstanceOf(AuditIncompleteError);
      // The first round (2 orphans, one delete request each) ran to its end; nothing after it.
      expect(deletes).toEqual([[keys[0]], [keys[1]]]);
      expect(await prefixKeys(fx)).toEqual(keys.slice(2));
      expect(reportError(err, c.io)).toBe(130);
      expect(c.err()).toMatch(/^tierlog: audit stopped after 2 keys listed, 2 checked, 2 blobs deleted: interrupted/);
      if (json)
        expect(JSON.parse(c.out())).toMatchObject({
          delete: true,
          checked: 2,
          deleted: 2,
          deleteFailures: [],
          error: { name: 'AuditIncompleteError', message: expect.stringMatching(/: interrupted/), exitCode: 130 },
        });
      else expect(c.out()).toContain('deleted 2 blobs');
    },
  );

  test("Ctrl-C during a round's reads (its change-log scan), before its first change: nothing of that round is deleted, exit 130", async () => {
    const fx = await freshFixture();
    const keys = await orphans(fx, 2);
    const interrupt = new AbortController();
    const dynamodb = createDynamoDBClient();
    closers.push(() => dynamodb.destroy());
    // The operator presses Ctrl-C while the round scans the change log (minutes on a large table).
    dynamodb.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName === 'ScanCommand' && args.input.TableName === fx.config.changeLogTable)
          interrupt.abort(new InterruptedError());
        return next(args);
      },
      { step: 'initialize', name: 'ctrlCDuringScan' },
    );
    const run = await cliJson({ ...fx, dynamodb }, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], {
      clock: ahead,
      signal: interrupt.signal,
    });
    // Before, the round went on to delete both orphans after the signal (its report: 2 deleted).
    expect(await prefixKeys(fx)).toEqual(keys);
    expect(run.code, run.err).toBe(130);
    expect(run.json).toEqual({ error: { name: 'InterruptedError', message: 'interrupted: stopped at a safe point', exitCode: 130 } });
  });

  test.each([true, false])(
    "Ctrl-C during a later round's reads, after an earlier round deleted (--json %s): the report names the orphans of the stopped round as not deleted",
    async (json) => {
      const fx = await freshFixture();
      const [first, second] = (await orphans(fx, 2)) as [string, string];
      const interrupt = new AbortController();
      const dynamodb = createDynamoDBClient();
      closers.push(() => dynamodb.destroy());
      let scans = 0;
      // The second round's change-log scan: the operator presses Ctrl-C then.
      dynamodb.middlewareStack.add(
        (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
          if (context.commandName === 'ScanCommand' && args.input.TableName === fx.config.changeLogTable && args.input.Select !== 'COUNT')
            if (++scans === 2) interrupt.abort(new InterruptedError());
          return next(args);
        },
        { step: 'initialize', name: 'ctrlCAtSecondRound' },
      );
      const { err, c } = await auditStop({ ...fx, dynamodb }, ahead, {
        ...DELETE_ORPHANS,
        json,
        pageSize: 1,
        checkBatch: 1,
        signal: interrupt.signal,
      });
      expect(err).toBeInstanceOf(AuditIncompleteError);
      expect(reportError(err, c.io)).toBe(130);
      expect(await prefixKeys(fx)).toEqual([second]);
      // Both are orphans, one deleted: before, the report did not say which one is still there.
      if (json) expect(JSON.parse(c.out())).toMatchObject({ orphans: [{ key: first }, { key: second }], deleted: 1, notDeleted: [second] });
      else
        expect(c.out()).toContain(
          `1 blob not deleted: the run stopped before their deletes were sent or done (still in the bucket):\n  ${second}\n`,
        );
    },
  );

  test("Ctrl-C during the objects table's scan before the run's first delete: the scan stops at its next page, nothing is deleted, exit 130", async () => {
    const { fx, orphan, live } = await storeWithOrphan(Date.now());
    // More objects, so the scan (one item a page here; a large table's takes minutes to hours) has pages to go.
    const more: string[] = [];
    for (let i = 0; i < 4; i++) {
      const blob = blobKey(fx, `z-more-${i}`);
      await putBlob(fx, blob);
      await putTombstone(fx, `z-more-${i}`, blob);
      more.push(blob);
    }
    const interrupt = new AbortController();
    const dynamodb = createDynamoDBClient();
    closers.push(() => dynamodb.destroy());
    let pages = 0;
    dynamodb.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        // The scan for blobs other objects point at (key and blob projected), one item a page.
        if (context.commandName !== 'ScanCommand' || args.input.ProjectionExpression !== '#k, #b') return next(args);
        if (++pages === 1) interrupt.abort(new InterruptedError());
        return next({ ...args, input: { ...args.input, Limit: 1 } });
      },
      { step: 'initialize', name: 'ctrlCDuringObjectsScan' },
    );
    const run = await cli({ ...fx, dynamodb }, ['audit', '--older-than', '90m', '--delete'], { clock: ahead, signal: interrupt.signal });
    expect(run.code, run.err).toBe(130);
    // Before, the scan read the whole table (every page) after the Ctrl-C, then stopped.
    expect(pages).toBe(1);
    expect(await prefixKeys(fx)).toEqual([orphan, live, ...more].sort());
  });

  test('Ctrl-C before anything was deleted: nothing is, exit 130', async () => {
    const fx = await freshFixture();
    const keys = await orphans(fx, 2);
    const interrupt = new AbortController();
    interrupt.abort(new InterruptedError());
    const { err, c } = await auditStop(fx, ahead, { ...DELETE_ORPHANS, signal: interrupt.signal });
    expect(err).toBeInstanceOf(InterruptedError);
    expect(reportError(err, c.io)).toBe(130);
    expect(await prefixKeys(fx)).toEqual(keys);
    // Through the command line (`tierlog audit --delete`), Ctrl-C reaches the audit as well.
    const run = await cli(fx, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], {
      clock: ahead,
      signal: interrupt.signal,
    });
    expect(run.code).toBe(130);
    expect(run.err).toContain('interrupted');
    expect(await prefixKeys(fx)).toEqual(keys);
  });

  test.each([
    ['abort()', undefined],
    ['abort(reason)', new Error('host shutting down')],
  ])(
    "an embedding program's signal aborted by %s (no InterruptedError): the audit is interrupted as the sweep is, exit 130 with an InterruptedError in --json",
    async (_how, reason) => {
      const fx = await freshFixture();
      const keys = await orphans(fx, 2);
      const interrupt = new AbortController();
      interrupt.abort(reason);
      const audit = await cliJson(fx, ['audit', '--older-than', '90m', '--delete', '--empty-store-ok'], {
        clock: ahead,
        signal: interrupt.signal,
      });
      // Before, the signal's reason was thrown as the audit's failure: exit 1, "AbortError: This operation was aborted".
      expect(audit.code, audit.err).toBe(130);
      expect(audit.json).toEqual({ error: { name: 'InterruptedError', message: 'interrupted: stopped at a safe point', exitCode: 130 } });
      expect(await prefixKeys(fx)).toEqual(keys);
      // The sweep, aborted by the same signal, takes none of a dead writer's instances.
      await putDeadInstance(fx, { fenced: true });
      const sweep = await cliJson(fx, ['sweep'], { signal: interrupt.signal });
      expect(sweep.code).toBe(130);
      expect(sweep.json).toMatchObject({ interrupted: true, stoppedEarly: true });
    },
  );
});

describe('a report-only audit stopped part-way', () => {
  test.each([true, false])(
    'Ctrl-C (or a job timeout SIGTERM) after it found an orphan (--json %s): the orphans found are printed with the error, exit 130',
    async (json) => {
      // "a-orphan" lists first, then "z-live" (its object points at it): one key per page.
      const { fx, orphan, live } = await storeWithOrphan(Date.now());
      const interrupt = new AbortController();
      // The operator presses Ctrl-C while the second page is asked for, the first judged.
      const s3 = ctrlCAtPage(2, interrupt);
      const { err, c } = await auditStop({ ...fx, s3 }, ahead, {
        olderThanMs: 90 * 60_000,
        json,
        pageSize: 1,
        checkBatch: 1,
        signal: interrupt.signal,
      });
      // Before, the bare InterruptedError: an hour of listing reported nothing, stdout empty.
      expect(err).toBeInstanceOf(AuditIncompleteError);
      expect((err as AuditIncompleteError).report.orphans.map((o) => o.key)).toEqual([orphan]);
      expect(reportError(err, c.io)).toBe(130);
      expect(c.err()).toMatch(/^tierlog: audit stopped after 1 keys listed, 1 checked, 0 blobs deleted: interrupted/);
      if (json)
        expect(JSON.parse(c.out())).toMatchObject({
          delete: false,
          orphans: [{ key: orphan }],
          error: { name: 'AuditIncompleteError', exitCode: 130 },
        });
      else expect(c.out()).toContain(orphan);
      // Nothing deleted: a report-only run.
      expect(await prefixKeys(fx)).toEqual([orphan, live].sort());
    },
  );

  test('Ctrl-C after it found only keys that are no blob keys (a finding for a person too): they are printed with the error, exit 130', async () => {
    const fx = await freshFixture();
    // A foreign file under the prefix lists first, then a blob: one key a page.
    const foreign = `${fx.config.prefix}/a-report.csv`;
    await putBlob(fx, foreign);
    await putOrphans(fx, 1, 'later');
    const interrupt = new AbortController();
    const { err, c } = await auditStop({ ...fx, s3: ctrlCAtPage(2, interrupt) }, ahead, {
      olderThanMs: 90 * 60_000,
      json: true,
      pageSize: 1,
      signal: interrupt.signal,
    });
    // Before, the bare InterruptedError: stdout empty, the key found named nowhere.
    expect(err).toBeInstanceOf(AuditIncompleteError);
    expect(reportError(err, c.io)).toBe(130);
    expect(JSON.parse(c.out())).toMatchObject({
      listed: 1,
      unparseable: [{ key: foreign }],
      error: { name: 'AuditIncompleteError', exitCode: 130 },
    });
  });

  test('credentials lost after it found keys that are no blob keys: the report, then what to set (the SDK said only its own error), exit 1', async () => {
    const fx = await freshFixture();
    await putBlob(fx, `${fx.config.prefix}/a-report.csv`);
    await putOrphans(fx, 1, 'later');
    // An SSO session that expires while the audit lists: the second page's credentials are refused.
    const s3 = atListingPage(2, () => {
      throw Object.assign(new Error('injected: the SSO session associated with this profile has expired'), {
        name: 'CredentialsProviderError',
      });
    });
    const { err, c } = await auditStop({ ...fx, s3 }, ahead, { olderThanMs: 90 * 60_000, pageSize: 1 });
    expect(err).toBeInstanceOf(AuditIncompleteError);
    expect(reportError(err, c.io)).toBe(1);
    expect(c.out()).toContain('a-report.csv');
    expect(c.err()).toMatch(/tierlog: audit stopped .*injected: the SSO session/);
    expect(c.err()).toMatch(/tierlog: configuration: no AWS credentials \(injected: the SSO session.*set AWS_PROFILE/);
  });

  test('--delete whose deletes were refused, then Ctrl-C: the refusal and the undecided blobs are printed with the error, exit 130', async () => {
    // The objects table points at no blob and --empty-store-ok is not given: the first orphan is
    // undecided and every delete of the run refused; Ctrl-C comes at the second page.
    const fx = await freshFixture();
    const keys = await orphans(fx, 2);
    const interrupt = new AbortController();
    const { err, c } = await auditStop({ ...fx, s3: ctrlCAtPage(2, interrupt) }, ahead, {
      olderThanMs: 90 * 60_000,
      delete: true,
      pageSize: 1,
      checkBatch: 1,
      signal: interrupt.signal,
    });
    // Before, the bare InterruptedError: why nothing was deleted was said nowhere.
    expect(err).toBeInstanceOf(AuditIncompleteError);
    expect(reportError(err, c.io)).toBe(130);
    expect(c.out()).toMatch(/deletes refused: the objects table ".*" points at no blob/);
    expect(c.out()).toContain(keys[0]);
    expect(await prefixKeys(fx)).toEqual(keys);
  });

  test('stopped before it found anything: the bare interrupt, as before (nothing to report)', async () => {
    const fx = await freshFixture();
    const interrupt = new AbortController();
    interrupt.abort(new InterruptedError());
    await putOrphans(fx, 1, 'gone');
    const { err, c } = await auditStop(fx, ahead, { olderThanMs: 90 * 60_000, json: true, signal: interrupt.signal });
    expect(err).toBeInstanceOf(InterruptedError);
    expect(c.out()).toBe('');
  });
});
