/**
 * A round of checks larger than the arguments one call takes. `checkBatch` has no upper bound (a
 * bucket of millions audited with few change-log scans), and a round's candidates HV does not point
 * at were put back into their list spread into one `splice`: past some 125 000 of them the call
 * threw `RangeError: Maximum call stack size exceeded`, and the audit of that bucket never ran.
 *
 * The listing is answered by the test (150 pages of 1 000 old blob keys, which the local S3 server
 * would take minutes to hold); the change log and the objects table are the local stack's.
 */
import { expect, test } from 'vitest';
import { audit } from '../../lib/recovery/audit.js';
import { encodeObjectId } from '../../lib/tiered/blob-keys.js';
import { freshFixture } from '../support/local.js';

const KEYS = 150_000;
const PAGE = 1_000;
const day = 24 * 3_600_000;

test('a round of 150 000 candidates is judged, none of them an orphan of a table that points at no blob', async () => {
  const fx = await freshFixture();
  const old = Date.now() - 7 * day;
  const uuid = (i: number) =>
    `${old
      .toString(16)
      .padStart(12, '0')
      .replace(/^(.{8})(.{4})$/, '$1-$2')}-7000-8000-${i.toString(16).padStart(12, '0')}`;
  const keys = Array.from({ length: KEYS }, (_, i) => `${fx.config.prefix}/${encodeObjectId(`object-${i}`)}/${uuid(i)}`).sort();
  const lastModified = new Date(old);
  const listing =
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: { ContinuationToken?: string } }) => {
      if (context.commandName !== 'ListObjectsV2Command') return next(args);
      const from = Number(args.input.ContinuationToken ?? 0);
      const to = Math.min(from + PAGE, KEYS);
      return {
        response: {},
        output: {
          $metadata: {},
          Contents: keys.slice(from, to).map((Key) => ({ Key, Size: 1, LastModified: lastModified })),
          IsTruncated: to < KEYS,
          ...(to < KEYS ? { NextContinuationToken: String(to) } : {}),
        },
      };
    };
  fx.s3.middlewareStack.add(listing as never, { step: 'initialize', name: 'largeListing' });
  const report = await audit({ config: fx.config, dynamodb: fx.dynamodb, s3: fx.s3, olderThanMs: day, checkBatch: 200_000 });
  expect(report.listed).toBe(KEYS);
  expect(report.checked).toBe(KEYS);
  // An objects table that points at no blob is not shown to be this bucket's store: undecided, never orphans.
  expect(report.orphans).toHaveLength(0);
  expect(report.undecided).toHaveLength(KEYS);
}, 300_000);
