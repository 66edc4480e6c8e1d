/**
 * The listing audit at every page boundary AWS has and the emulators rarely show: ListObjectsV2
 * pages of one key, a change-log Scan that returns one item a page, and BatchGetItem answering
 * all but one key of each request as UnprocessedKeys (what DynamoDB does under throttling). The
 * audit must delete exactly the old orphans, keep every referenced blob and every blob a
 * change-log entry names, whatever page it lands on.
 */
import { describe, expect, test } from 'vitest';
import { createDynamoDBClient } from '../../lib/aws/clients.js';
import { runAudit } from '../../lib/cli/audit.js';
import { listKeys } from '../support/local.js';
import { auditScene } from './audit-scene.js';
import { capture, HOUR, putRawInstance, rawEntry } from './helpers.js';

const ahead = () => Date.now() + 2 * HOUR;

describe('audit across pages', () => {
  test('one key a page, one item a Scan page, BatchGetItem leaving keys unprocessed: exactly the orphans go', async () => {
    const s = await auditScene();
    const [named, ...rest] = s.orphans as [string, ...string[]];
    const objectOf = (key: string) => Buffer.from(key.split('/')[1]!, 'base64url').toString('utf8');
    // Several change-log items, the one naming `named` among them.
    for (let i = 0; i < 3; i++) await putRawInstance(s.fx, { leaseUntil: Date.now() + HOUR, entries: {} });
    await putRawInstance(s.fx, { leaseUntil: Date.now() + HOUR, entries: { a: rawEntry(objectOf(named), { new: named }) } });
    for (let i = 0; i < 3; i++) await putRawInstance(s.fx, { leaseUntil: Date.now() + HOUR, entries: {} });

    const dynamodb = createDynamoDBClient();
    const seen = { scanPages: 0, unprocessed: 0 };
    dynamodb.middlewareStack.add(
      (next: (args: any) => Promise<any>, context: { commandName?: string }) => async (args: any) => {
        if (context.commandName === 'ScanCommand') {
          seen.scanPages++;
          return next({ ...args, input: { ...args.input, Limit: 1 } });
        }
        if (context.commandName !== 'BatchGetItemCommand') return next(args);
        const [table, request] = Object.entries(args.input.RequestItems as Record<string, { Keys: unknown[] }>)[0]!;
        if (request.Keys.length < 2) return next(args);
        const [first, ...others] = request.Keys;
        seen.unprocessed += others.length;
        const out = await next({ ...args, input: { ...args.input, RequestItems: { [table]: { ...request, Keys: [first] } } } });
        out.output.UnprocessedKeys = { [table]: { ...request, Keys: others } };
        return out;
      },
      { step: 'initialize', name: 'testPages' },
    );
    try {
      const deleted: string[] = [];
      const report = await runAudit(
        { config: s.fx.config, dynamodb, s3: s.fx.s3, clock: ahead, io: capture().io, env: {} },
        {
          olderThanMs: 90 * 60_000,
          delete: true,
          pageSize: 1,
          checkBatch: 3,
          deleteBatch: 2,
          beforeDelete: (keys) => void deleted.push(...keys),
        },
      );
      expect(seen.scanPages).toBeGreaterThan(7);
      expect(seen.unprocessed).toBeGreaterThan(0);
      expect(report.inFlight.map((f) => f.key)).toEqual([named]);
      expect(report).toMatchObject({ referenced: 3, deleted: rest.length, deleteFailures: [], keptOnRecheck: [] });
      expect(deleted.sort()).toEqual(rest);
      expect((await listKeys(s.fx.s3, s.fx.config.bucket)).sort()).toEqual(
        [...s.referenced, named, s.young, ...s.malformed, s.outside].sort(),
      );
      for (const [key, body] of s.bodies) expect((await s.store.get(key))?.body).toEqual(body);
    } finally {
      dynamodb.destroy();
    }
  });
});
