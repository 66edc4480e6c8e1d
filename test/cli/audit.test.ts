/**
 * `tierlog audit` against the real local servers: real objects written through `TieredStore`
 * (large ones referenced by HV, an overwritten one, an inline one), orphans uploaded straight
 * under the prefix with valid keys, a young orphan, malformed keys, and a key outside the prefix.
 * The CLI's clock runs 2 h ahead, so blobs written now are 2 h old by LastModified.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { beforeAll, describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { type AuditReport, auditCommand, auditFindingsLeft, parseBlobKey, runAudit, uuidV7Time } from '../../lib/cli/audit.js';
import type { CliContext } from '../../lib/cli/common.js';
import { audit, nestedStorePrefix } from '../../lib/recovery/audit.js';
import { UsageError } from '../../lib/cli/common.js';
import { type Fixture, listKeys } from '../support/local.js';
import { type AuditScene, auditScene } from './audit-scene.js';
import { capture, cli, cliJson, HOUR, putTombstone, storeWithOrphan } from './helpers.js';

const ahead = () => Date.now() + 2 * HOUR;

async function allBlobs(fx: Fixture): Promise<string[]> {
  return (await listKeys(fx.s3, fx.config.bucket)).sort();
}

/** A read of HV's blob pointers (the check, the re-check), not of an item's shape (hv-shape.ts projects the body). */
function isPointerRead(command: string | undefined, input: unknown): boolean {
  return /BatchGet/.test(command ?? '') && !JSON.stringify(input).includes('"#y"');
}

function ctxOf(fx: Fixture, overrides: Partial<CliContext> = {}): CliContext {
  return { config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, clock: ahead, io: capture().io, env: {}, ...overrides };
}

describe('blob keys', () => {
  test('parse: the object id, the UUIDv7 time; anything else is malformed with a reason', () => {
    const key = `blobs/${Buffer.from('a/b ü').toString('base64url')}/0190a6b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b`;
    expect(parseBlobKey('blobs', key)).toEqual({
      ok: true,
      objectId: 'a/b ü',
      uuid: '0190a6b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b',
      createdAt: 0x0190a6b23c4d,
    });
    expect(uuidV7Time('0190a6b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b')).toBe(0x0190a6b23c4d);
    expect(parseBlobKey('blobs', 'blobs/Zm9v')).toMatchObject({ ok: false, reason: expect.stringContaining('shape') });
    expect(parseBlobKey('blobs', 'blobs/Zm9vY/0190a6b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('canonical'),
    });
    expect(parseBlobKey('blobs', 'blobs/Zm9v/0190a6b2-3c4d-4e5f-8a9b-0c1d2e3f4a5b')).toMatchObject({
      ok: false,
      reason: expect.stringContaining('UUIDv7'),
    });
    expect(
      parseBlobKey('blobs', `blobs/${Buffer.from('a\u0001').toString('base64url')}/0190a6b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b`),
    ).toMatchObject({
      ok: false,
      reason: expect.stringContaining('control'),
    });
  });

  test('a nested store: a blob key under a prefix a configuration takes, and nothing else', () => {
    const rest = `${Buffer.from('a/b ü').toString('base64url')}/0190a6b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b`;
    expect(nestedStorePrefix('blobs', `blobs/staging/${rest}`)).toBe('blobs/staging');
    expect(nestedStorePrefix('blobs', `blobs/a/b/${rest}`)).toBe('blobs/a/b');
    // No configuration takes these prefixes: their keys are unparseable findings, not another store's.
    for (const segment of ['..', '.', 'st*ging', 'a$b']) expect(nestedStorePrefix('blobs', `blobs/${segment}/${rest}`)).toBeUndefined();
    expect(nestedStorePrefix('blobs', `blobs/${rest}`)).toBeUndefined();
    expect(nestedStorePrefix('blobs', `other/staging/${rest}`)).toBeUndefined();
  });
});

describe('audit', () => {
  let s: AuditScene;
  beforeAll(async () => {
    s = await auditScene();
  });

  test('reports exactly the old orphans and the malformed keys; deletes nothing', async () => {
    const before = await allBlobs(s.fx);
    const { code, json } = await cliJson(s.fx, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(code).toBe(0);
    expect(json).toMatchObject({
      bucket: s.fx.config.bucket,
      prefix: s.fx.config.prefix,
      olderThanMs: 90 * 60_000,
      delete: false,
      listed: 3 + 4 + 1 + 5,
      checked: 7,
      referenced: 3,
      young: 1,
      deleted: 0,
    });
    expect(json.orphans.map((u: { key: string }) => u.key).sort()).toEqual(s.orphans);
    expect(json.inFlight).toEqual([]);
    const stale = json.orphans.find((u: { objectId: string }) => u.objectId === 'big-1');
    expect(stale).toMatchObject({ size: 'orphan bytes'.length, lastModified: expect.any(String), ageMs: expect.any(Number) });
    expect(stale.ageMs).toBeGreaterThanOrEqual(HOUR + 59 * 60_000);
    expect(json.unparseable.map((m: { key: string }) => m.key).sort()).toEqual(s.malformed);
    for (const m of json.unparseable) expect(m.reason).toEqual(expect.any(String));
    expect(await allBlobs(s.fx)).toEqual(before);

    const text = await cli(s.fx, ['audit', '--older-than', '90m'], { clock: ahead });
    expect(text.code).toBe(0);
    expect(text.err).toBe(''); // stderr is not a TTY: no progress bar
    expect(text.out).toContain(
      `audit of s3://${s.fx.config.bucket}/blobs/ against the change log and HV (consistent reads), blobs older than 1h 30m`,
    );
    expect(text.out).toContain('13 keys listed: 3 referenced, 4 orphans, 0 in flight, 1 younger than 1h 30m (not checked), 5 unparseable');
    expect(text.out).toContain('orphans: no object points at them, no change-log entry names them (4 blobs, 48 B):');
    for (const key of s.orphans) expect(text.out).toMatch(new RegExp(`^  ${key}\\s+12 B\\s+modified 2h ago\\s+object "`, 'm'));
    expect(text.out).toContain('unparseable keys (not blob keys of this library; never deleted):');
    expect(text.out).toContain(`  ${s.fx.config.prefix}/not/a/blob  does not have the shape`);
    expect(text.out).toContain('nothing deleted: run with --delete to delete the orphans');
    for (const key of [...s.referenced, s.young]) expect(text.out).not.toContain(key);
  });

  test('--exit-code: 3 when the audit leaves findings (orphans not deleted, unparseable keys); 0 when it finds none', async () => {
    const found = await cli(s.fx, ['audit', '--older-than', '90m', '--exit-code'], { clock: ahead });
    expect(found.code).toBe(3);
    expect(found.out).toContain('4 orphans');
    // No orphan old enough, but keys that are not blob keys: a person must still look.
    const unparseable = await cli(s.fx, ['audit', '--older-than', '3h', '--exit-code'], { clock: ahead });
    expect(unparseable.out).toContain('0 orphans');
    expect(unparseable.code).toBe(3);
  });

  test('--exit-code with --delete: 0 once the run deleted what it found; 3 before, and without the flag 0', async () => {
    const { fx, orphan } = await storeWithOrphan(Date.now() - HOUR);
    expect((await cli(fx, ['audit', '--older-than', '90m'], { clock: ahead })).code).toBe(0);
    expect((await cli(fx, ['audit', '--older-than', '90m', '--exit-code'], { clock: ahead })).code).toBe(3);
    const cleaned = await cliJson(fx, ['audit', '--older-than', '90m', '--delete', '--exit-code'], { clock: ahead });
    expect(cleaned.json.orphans.map((u: { key: string }) => u.key)).toEqual([orphan]);
    expect(cleaned.json.deleted).toBe(1);
    expect(cleaned.code).toBe(0);
    expect((await cli(fx, ['audit', '--older-than', '90m', '--exit-code'], { clock: ahead })).code).toBe(0);
  });

  test('runAudit from code without `delete` is a dry run: it reports the orphans and deletes none', async () => {
    const before = await allBlobs(s.fx);
    const report = await runAudit(ctxOf(s.fx), { olderThanMs: 90 * 60_000 });
    expect(report.delete).toBe(false);
    expect(report.orphans).toHaveLength(4);
    expect(report.deleted).toBe(0);
    expect(await allBlobs(s.fx)).toEqual(before);
  });

  test.each(['false', 0, 'no'])(
    "runAudit from code given progress %j (not a boolean, from a job's JSON or environment) refuses it, naming progress, and draws no bar",
    async (value) => {
      const c = capture();
      const run = runAudit(ctxOf(s.fx, { io: c.io }), { olderThanMs: 90 * 60_000, progress: value as never });
      // Before, "false" was truthy: the bar (cursor hidden, wrapping off) was drawn to a stderr that is no terminal.
      await expect(run).rejects.toMatchObject({ name: 'ValidationError', field: 'progress' });
      expect(c.err()).toBe('');
    },
  );

  test.each(['86400000', '24h', null])(
    "runAudit and audit() given olderThanMs %j (no number: a job's JSON or environment) refuse it as no number, naming olderThanMs, not as an age under 1 h",
    async (value) => {
      const before = await allBlobs(s.fx);
      // Before: "--older-than 1d is too young" (a flag nobody gave), "must be at least 3600000 (1 h), got 86400000", or 24 h taken for null.
      const run = runAudit(ctxOf(s.fx), { olderThanMs: value as never, delete: true });
      await expect(run).rejects.toMatchObject({ name: 'ValidationError', field: 'olderThanMs' });
      await expect(run).rejects.toThrow(/olderThanMs must be a number of milliseconds, got (string|null)$/);
      const lib = audit({ config: s.fx.config, dynamodb: s.fx.dynamodb, s3: s.fx.s3, olderThanMs: value as never, delete: true });
      await expect(lib).rejects.toThrow(/^olderThanMs must be a number of milliseconds, got (string|null)$/);
      expect(await allBlobs(s.fx)).toEqual(before);
    },
  );

  test('auditFindingsLeft: orphans and expired blobs count as left unless this run deleted them, and it did not when deletes were refused', () => {
    const one = [{}] as never[];
    const report = {
      delete: false,
      orphans: one,
      expired: one,
      unparseable: [],
      corruptChangeLog: [],
      undecided: [],
    } as unknown as AuditReport;
    expect(auditFindingsLeft(report)).toBe(2);
    expect(auditFindingsLeft({ ...report, delete: true })).toBe(0);
    expect(auditFindingsLeft({ ...report, delete: true, deleteRefused: 'the objects table is not this bucket' })).toBe(2);
    expect(auditFindingsLeft({ ...report, delete: true, unparseable: one, corruptChangeLog: one, undecided: one } as AuditReport)).toBe(3);
  });

  test('a blob is old only when both LastModified and its UUIDv7 are: an old UUID does not make a new upload old', async () => {
    const { code, json } = await cliJson(s.fx, ['audit', '--older-than', '3h'], { clock: ahead });
    expect(code).toBe(0);
    expect(json).toMatchObject({ olderThanMs: 3 * HOUR, checked: 0, young: 8, orphans: [] });
  });

  test('the safety age is 24h unless given: blobs 2h old are young, the orphans among them not reported', async () => {
    const { code, json } = await cliJson(s.fx, ['audit'], { clock: ahead });
    expect(code).toBe(0);
    expect(json).toMatchObject({ olderThanMs: 24 * HOUR, checked: 0, orphans: [] });
  });

  test("the snapshot-audit function's variables (TIERLOG_SNAPSHOT_OLDER_THAN_MS, TIERLOG_SNAPSHOT_DELETE), set from the deployment, are not the CLI's: a run that differs from them says so", async () => {
    // The function's environment copied into the shell (a 7-day safety age, deleting): the CLI's
    // audit takes --older-than and --delete, and this run audits at 3h and deletes nothing.
    const env = { TIERLOG_SNAPSHOT_OLDER_THAN_MS: String(7 * 24 * HOUR), TIERLOG_SNAPSHOT_DELETE: 'true' };
    const run = await cliJson(s.fx, ['audit', '--older-than', '3h'], { clock: ahead, env });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ olderThanMs: 3 * HOUR, delete: false });
    expect(run.err).toContain(
      "tierlog: warning: TIERLOG_SNAPSHOT_OLDER_THAN_MS (7d) is the snapshot-audit function's safety age, not read here: this audit's is --older-than, 3h",
    );
    expect(run.err).toContain(
      "tierlog: warning: TIERLOG_SNAPSHOT_DELETE (true) is the snapshot-audit function's, not read here: this audit deletes only with --delete, and deletes nothing",
    );
    // A run that does what they say: no word of them.
    const same = await cli(s.fx, ['audit', '--older-than', '7d', '--json'], {
      clock: ahead,
      env: { ...env, TIERLOG_SNAPSHOT_DELETE: 'false' },
    });
    expect(same.code).toBe(0);
    expect(same.err).toBe('');
  });

  test('--older-than under 1h is refused (exit 2) and nothing is touched', async () => {
    const before = await allBlobs(s.fx);
    const run = await cli(s.fx, ['audit', '--older-than', '30m', '--delete'], { clock: ahead });
    expect(run.code).toBe(2);
    expect(run.out).toBe('');
    expect(run.err).toContain('tierlog: --older-than 30m is too young: audit needs at least 1h');
    await expect(runAudit(ctxOf(s.fx), { olderThanMs: 59 * 60_000, delete: true })).rejects.toThrow(UsageError);
    // runAudit's own refusals, before anything is listed: not a number, or an age reaching back before 2000.
    await expect(runAudit(ctxOf(s.fx), { olderThanMs: Number.NaN, delete: true })).rejects.toThrow(UsageError);
    await expect(runAudit(ctxOf(s.fx), { olderThanMs: 100 * 365 * 24 * HOUR, delete: true })).rejects.toThrow(
      expect.objectContaining({ name: 'UsageError', message: expect.stringContaining('is too old: a safety age of') }),
    );
    const junk = await cli(s.fx, ['audit', '--older-than', '24']);
    expect(junk.code).toBe(2);
    expect(junk.err).toContain('invalid duration "24"');
    // Given twice, refused before anything is listed: the last (1h) was taken, with --delete.
    const twice = await cli(s.fx, ['audit', '--older-than', '7d', '--older-than', '1h', '--delete'], { clock: ahead });
    expect(twice.code).toBe(2);
    expect(twice.out).toBe('');
    expect(twice.err).toContain('--older-than is given more than once');
    for (const flag of ['--inventory', '--export']) {
      const repeated = await cli(s.fx, ['audit', flag, 'a', flag, 'b']);
      expect(repeated.code, flag).toBe(2);
      expect(repeated.err, flag).toContain(`${flag} is given more than once`);
    }
    expect(await allBlobs(s.fx)).toEqual(before);
  });

  test('a progress bar goes to stderr when it is a terminal', async () => {
    const c = capture({ tty: true });
    expect(await auditCommand(ctxOf(s.fx, { io: c.io }), { olderThanMs: 90 * 60_000, json: true })).toBe(0);
    expect(c.err()).toContain('audit |');
    expect(c.err()).toContain('orphans');
    expect(JSON.parse(c.out()).orphans).toHaveLength(4);
  });

  test('a second Ctrl-C (process.exit) while the bar shows leaves the terminal as it was: the cursor shown, lines wrapped', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./progress-exit.child.ts', import.meta.url))], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise((resolve) => child.once('close', resolve));
    expect(code).toBe(130);
    expect(err).toContain('audit |');
    for (const [hidden, shown] of [
      ['\x1b[?25l', '\x1b[?25h'],
      ['\x1b[?7l', '\x1b[?7h'],
    ] as const) {
      expect(err).toContain(hidden);
      expect(err.lastIndexOf(shown), JSON.stringify(shown)).toBeGreaterThan(err.lastIndexOf(hidden));
    }
  });
});

describe('audit --delete', () => {
  test('deletes exactly the old orphans; referenced, young, malformed and outside keys survive', async () => {
    const s = await auditScene();
    const run = await cliJson(s.fx, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ delete: true, deleted: 4, keptOnRecheck: [], deleteFailures: [] });
    expect(await allBlobs(s.fx)).toEqual([...s.referenced, s.young, ...s.malformed, s.outside].sort());
    for (const [key, body] of s.bodies) expect((await s.store.get(key))?.body).toEqual(body);

    const again = await cli(s.fx, ['audit', '--older-than', '90m', '--delete'], { clock: ahead });
    expect(again.code).toBe(0);
    // The orphans this run deleted are not left for a person; the unparseable keys, which no run deletes, are.
    const flagged = await cli(s.fx, ['audit', '--older-than', '90m', '--delete', '--exit-code'], { clock: ahead });
    expect(flagged.code).toBe(3);
    expect(auditFindingsLeft(run.json)).toBe(s.malformed.length);
    expect(again.out).toContain('9 keys listed: 3 referenced, 0 orphans, 0 in flight, 1 younger than 1h 30m (not checked), 5 unparseable');
    expect(again.out).toContain('deleted 0 blobs');
  });

  test('the safety age is exact: a blob 20 s younger than it is young and kept; 20 s older, an orphan, deleted', async () => {
    // Its UUIDv7 is 10 h old: LastModified (now) decides.
    const { fx, live, orphan } = await storeWithOrphan(Date.now() - 10 * HOUR);
    const clockAt = (offsetMs: number) => () => Date.now() + HOUR + offsetMs;
    const early = await cliJson(fx, ['audit', '--older-than', '1h', '--delete'], { clock: clockAt(-20_000) });
    expect(early.json).toMatchObject({ listed: 2, young: 2, checked: 0, orphans: [], deleted: 0 });
    expect(await allBlobs(fx)).toEqual([orphan, live].sort());
    const late = await cliJson(fx, ['audit', '--older-than', '1h', '--delete'], { clock: clockAt(20_000) });
    expect(late.json).toMatchObject({ listed: 2, young: 0, checked: 2, deleted: 1 });
    expect(await allBlobs(fx)).toEqual([live]);
  });

  test.each([
    ['a blob referenced by then is kept', (fx: Fixture, target: string) => putTombstone(fx, 'never-written', target), true],
    [
      // It may still name the blob (a blob attribute of another type): never deleted on a guess.
      'a blob whose item is not understood by then is kept',
      (fx: Fixture, target: string) =>
        fx.dynamodb
          .send(
            new PutItemCommand({
              TableName: fx.config.objectsTable,
              Item: { key: { S: 'never-written' }, version: { N: '1' }, blob: { L: [{ S: target }] } },
            }),
          )
          .then(() => undefined),
      // As at the check: undecided, and no delete of the run goes after it (the batch before it went).
      false,
    ],
  ])('each batch is checked against HV again right before its delete: %s', async (_, atRecheck, understood) => {
    const s = await auditScene();
    const target = s.orphans.find((k) => k.includes(Buffer.from('never-written').toString('base64url')))!;
    // A client whose second read of "never-written" (the re-check) first finds HV pointing at the orphan.
    const dynamodb = createDynamoDBClient();
    let reads = 0;
    dynamodb.middlewareStack.add(
      (next, context) => async (args) => {
        if (isPointerRead(context.commandName, args.input) && JSON.stringify(args.input).includes('never-written') && ++reads === 2) {
          await atRecheck(s.fx, target);
        }
        return next(args);
      },
      { step: 'initialize', name: 'testRecheck' },
    );
    try {
      const deleted: string[] = [];
      const report = await runAudit(ctxOf(s.fx, { dynamodb }), {
        olderThanMs: 90 * 60_000,
        delete: true,
        pageSize: 4,
        deleteBatch: 2,
        beforeDelete: (keys) => void deleted.push(...keys),
      });
      expect(reads).toBe(2);
      if (understood) {
        expect(report.keptOnRecheck).toEqual([target]);
        expect(report.deleted).toBe(3);
        expect(deleted.sort()).toEqual(s.orphans.filter((k) => k !== target));
        expect(await allBlobs(s.fx)).toEqual([...s.referenced, target, s.young, ...s.malformed, s.outside].sort());
      } else {
        // The orphans sorted, two a batch: the first batch went; the target's batch, and after it nothing.
        const [first, later] = [s.orphans.slice(0, 2), s.orphans.slice(2)];
        expect(later).toContain(target);
        expect(report).toMatchObject({ keptOnRecheck: [], deleted: 2, deleteRefused: expect.stringMatching(/TIERLOG_HV_ATTRIBUTES/) });
        expect(report.undecided.map((u) => u.key)).toEqual([target]);
        expect(deleted.sort()).toEqual(first);
        expect(await allBlobs(s.fx)).toEqual([...s.referenced, ...later, s.young, ...s.malformed, s.outside].sort());
      }
    } finally {
      dynamodb.destroy();
    }
  });
});
