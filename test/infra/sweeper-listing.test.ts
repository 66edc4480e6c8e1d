/**
 * The sweeper's existence check lists `Prefix` = the blob key (`ListObjectsV2`, `MaxKeys` 1): the
 * sweeper role must hold `s3:ListBucket` on the bucket under an `s3:prefix` condition that covers
 * `<prefix>/*`, since a HeadObject of a missing key answers 403 without an unconditioned
 * ListBucket.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { actions, cleanOutdirs, logicalIdOf, statementsOfRole, tierlogTemplate } from './helpers.js';

afterAll(cleanOutdirs);

/** IAM's StringLike: `*` any run of characters, `?` one. */
function stringLike(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(value);
}

describe('sweeper role: the listing its existence check sends', () => {
  for (const prefix of ['blobs', 'app/blobs']) {
    it(`s3:ListBucket on the bucket, s3:prefix covering ${prefix}/* (a blob key as the Prefix)`, () => {
      const { stack, template } = tierlogTemplate({ prefix });
      const bucketId = logicalIdOf(stack, stack.tierlog.bucket);
      const lists = statementsOfRole(template, logicalIdOf(stack, stack.tierlog.sweeper.role)).filter((s) =>
        actions(s).includes('s3:ListBucket'),
      );
      expect(lists.length).toBeGreaterThan(0);
      const blobKey = `${prefix}/${Buffer.from('some/object').toString('base64url')}/0190a000-0000-7000-8000-000000000002`;
      const allows = lists.some((s) => {
        const resources = Array.isArray(s.Resource) ? s.Resource : [s.Resource];
        const onBucket = resources.some((r) => JSON.stringify(r) === JSON.stringify({ 'Fn::GetAtt': [bucketId, 'Arn'] }));
        const patterns = ((s.Condition as Record<string, Record<string, string | string[]>> | undefined)?.['StringLike']?.['s3:prefix'] ??
          []) as string | string[];
        const list = Array.isArray(patterns) ? patterns : [patterns];
        return onBucket && list.includes(`${prefix}/*`) && list.some((p) => stringLike(p, blobKey));
      });
      expect(allows).toBe(true);
      // Never unconditioned: the listing stays inside the prefix.
      for (const s of lists) expect(s.Condition).toBeDefined();
    });
  }
});
