/**
 * Checks a bucket of the user's (`TierlogProps.bucket`) against the lifecycle tierlog relies on,
 * at synth, when the bucket is a resource of this app (an `s3.Bucket` defined in CDK) and its
 * settings can be read. An imported bucket (`fromBucketName`, ...) has none to read, and is taken as documented.
 *
 * The rule: an enabled lifecycle rule that covers every key under `<prefix>/` (no tag or size
 * filter, a prefix that `<prefix>/` starts with) must
 *  - abort incomplete multipart uploads: the sweeper aborts the uploads of expired sessions, but
 *    an upload no entry or session names (a CreateMultipartUpload whose answer was lost, a writer
 *    that died first) is found by nothing else, and its parts are billed for ever;
 *  - on a versioned bucket, expire noncurrent versions: every blob tierlog deletes stays as a
 *    noncurrent version, so without it the bucket keeps every blob ever written.
 * And no enabled rule that reaches a blob under `<prefix>/` (an overlapping prefix, any size, not
 * on tagged objects only: tierlog tags nothing) may expire current objects (it deletes live blobs
 * the objects table points at) or move them to an archive class (`GLACIER`, `DEEP_ARCHIVE`: S3
 * reads none until restored), nor to `INTELLIGENT_TIERING` under an Intelligent-Tiering
 * configuration of the bucket with an archive tier over them.
 * Versioning itself is not required (it is the undo window for a wrong delete), only advised.
 */
import { Annotations, Aspects, Stack } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import { ABORT_INCOMPLETE_MULTIPART_DAYS } from './bucket.js';

interface LifecycleRule {
  readonly status?: string;
  readonly prefix?: string;
  readonly filter?: unknown;
  readonly tagFilters?: unknown[];
  readonly objectSizeGreaterThan?: unknown;
  readonly objectSizeLessThan?: unknown;
  readonly abortIncompleteMultipartUpload?: { readonly daysAfterInitiation?: unknown };
  readonly noncurrentVersionExpiration?: unknown;
  readonly noncurrentVersionExpirationInDays?: unknown;
  readonly expirationInDays?: unknown;
  readonly expirationDate?: unknown;
  readonly transitions?: Array<{ readonly storageClass?: unknown }>;
  readonly transition?: { readonly storageClass?: unknown };
}

/**
 * Storage classes S3 reads no object of until it is restored (a read is refused:
 * `BlobArchivedError`). Glacier Instant Retrieval and the infrequent-access classes read at once.
 */
const ARCHIVE_CLASSES: readonly string[] = ['GLACIER', 'DEEP_ARCHIVE'];

/** Whether `rule` applies to every key under `keyPrefix`. */
function covers(rule: LifecycleRule, keyPrefix: string): boolean {
  if (rule.status !== 'Enabled') return false;
  if ((rule.tagFilters?.length ?? 0) > 0 || rule.objectSizeGreaterThan !== undefined || rule.objectSizeLessThan !== undefined) return false;
  const filter = (rule.filter ?? {}) as Record<string, unknown>;
  if (Object.keys(filter).some((k) => k !== 'prefix')) return false;
  const rulePrefix = (rule.prefix ?? filter['prefix'] ?? '') as string;
  return keyPrefix.startsWith(rulePrefix);
}

/**
 * Whether `rule` applies to some blob under `keyPrefix`: enabled, on a prefix that overlaps it (a
 * size filter still takes some), and not on tagged objects only (tierlog tags nothing).
 */
function reachesBlobs(rule: LifecycleRule, keyPrefix: string): boolean {
  if (rule.status !== 'Enabled' || (rule.tagFilters?.length ?? 0) > 0) return false;
  const filter = (rule.filter ?? {}) as Record<string, unknown>;
  if (Object.keys(filter).some((k) => k !== 'prefix')) return false;
  const rulePrefix = (rule.prefix ?? filter['prefix'] ?? '') as string;
  return keyPrefix.startsWith(rulePrefix) || rulePrefix.startsWith(keyPrefix);
}

/**
 * The archive tiers (`ARCHIVE_ACCESS`, `DEEP_ARCHIVE_ACCESS`) of the enabled Intelligent-Tiering
 * configurations (resolved) that reach a key under `keyPrefix`: on an overlapping prefix, not on
 * tagged objects only.
 */
function archiveTiersOver(configurations: unknown, keyPrefix: string): string[] {
  type Configuration = { status?: string; prefix?: string; tagFilters?: unknown[]; tierings?: Array<{ accessTier?: unknown }> };
  const tiers = ((configurations ?? []) as Configuration[])
    .filter((c) => c.status === 'Enabled' && (c.tagFilters?.length ?? 0) === 0)
    .filter((c) => keyPrefix.startsWith(c.prefix ?? '') || (c.prefix ?? '').startsWith(keyPrefix))
    .flatMap((c) => (c.tierings ?? []).map((t) => t.accessTier))
    .filter((t): t is string => typeof t === 'string');
  return [...new Set(tiers)].sort();
}

/** The lifecycle rules of `bucket` (a bucket of this app) that cover every key under `keyPrefix`; undefined when it cannot be read. */
function coveringRules(bucket: s3.IBucket, keyPrefix: string): LifecycleRule[] | undefined {
  const resource = bucket.node.defaultChild as { cfnResourceType?: string } | undefined;
  if (resource?.cfnResourceType !== 'AWS::S3::Bucket') return undefined;
  const cfn = resource as unknown as s3.CfnBucket;
  return ((Stack.of(bucket).resolve(cfn.lifecycleConfiguration) as { rules?: LifecycleRule[] } | undefined)?.rules ?? []).filter((r) =>
    covers(r, keyPrefix),
  );
}

/**
 * Why `bucket`'s abort rule may cut upload sessions short: its shortest abort of incomplete
 * multipart uploads over `<prefix>/`, when shorter than the longest session (7 days) and a day;
 * undefined otherwise, or when it cannot be read. Not a refusal: sessions shorter than the rule
 * (`expiresInMs`) are fine, and the user knows their clients (README, "Upload sessions").
 */
export function ownBucketAbortWarning(bucket: s3.IBucket, prefix: string): string | undefined {
  const days = (coveringRules(bucket, `${prefix}/`) ?? [])
    .map((r) => r.abortIncompleteMultipartUpload?.daysAfterInitiation)
    .filter((d): d is number => typeof d === 'number');
  if (days.length === 0) return undefined;
  const shortest = Math.min(...days);
  if (shortest >= ABORT_INCOMPLETE_MULTIPART_DAYS) return undefined;
  return `bucket ${bucket.node.path} aborts incomplete multipart uploads under "${prefix}/" after ${shortest} day(s): an upload session (up to 7 days; the objects function's clients choose expiresInMs) that runs longer loses its upload, and its complete fails. Keep sessions shorter, or make the rule at least ${ABORT_INCOMPLETE_MULTIPART_DAYS} days`;
}

/**
 * What is wrong with `bucket` as tierlog's bucket for blobs under `prefix`: one sentence per
 * problem; empty when nothing is, or when the bucket cannot be read (imported).
 */
export function ownBucketProblems(bucket: s3.IBucket, prefix: string): string[] {
  const resource = bucket.node.defaultChild as { cfnResourceType?: string } | undefined;
  if (resource?.cfnResourceType !== 'AWS::S3::Bucket') return [];
  const cfn = resource as unknown as s3.CfnBucket;
  const stack = Stack.of(bucket);
  const all = (stack.resolve(cfn.lifecycleConfiguration) as { rules?: LifecycleRule[] } | undefined)?.rules ?? [];
  const rules = all.filter((r) => covers(r, `${prefix}/`));
  const versioned = (stack.resolve(cfn.versioningConfiguration) as { status?: string } | undefined)?.status === 'Enabled';
  const problems: string[] = [];
  if (!rules.some((r) => r.abortIncompleteMultipartUpload !== undefined)) {
    problems.push(
      `no lifecycle rule over "${prefix}/" aborts incomplete multipart uploads: an upload nothing names would be billed for ever`,
    );
  }
  if (versioned && !rules.some((r) => r.noncurrentVersionExpiration !== undefined || r.noncurrentVersionExpirationInDays !== undefined)) {
    problems.push(
      `it is versioned, and no lifecycle rule over "${prefix}/" expires noncurrent versions: every blob tierlog deletes would be kept for ever`,
    );
  }
  // The live blobs themselves: a rule that deletes them (a delete marker, when versioned) or
  // archives them takes away what the objects table points at, and nothing tells until a read.
  const reaching = all.filter((r) => reachesBlobs(r, `${prefix}/`));
  if (reaching.some((r) => r.expirationInDays !== undefined || r.expirationDate !== undefined)) {
    problems.push(
      `a lifecycle rule over "${prefix}/" expires current objects: it deletes the live blobs the objects table points at (their objects unreadable; tierlog deletes the blobs nothing points at itself)`,
    );
  }
  const archived = new Set(
    reaching
      .flatMap((r) => [...(r.transitions ?? []), ...(r.transition !== undefined ? [r.transition] : [])])
      .map((t) => t.storageClass)
      .filter((c): c is string => typeof c === 'string' && ARCHIVE_CLASSES.includes(c)),
  );
  for (const storageClass of archived) {
    problems.push(
      `a lifecycle rule over "${prefix}/" moves current objects to ${storageClass}: S3 reads none until it is restored, so every read of such a blob fails (BlobArchivedError)`,
    );
  }
  // Intelligent-Tiering moves the objects of its class that go unread to its archive tiers.
  const tiered = reaching.some((r) =>
    [...(r.transitions ?? []), ...(r.transition !== undefined ? [r.transition] : [])].some((t) => t.storageClass === 'INTELLIGENT_TIERING'),
  );
  const tiers = tiered ? archiveTiersOver(stack.resolve(cfn.intelligentTieringConfigurations), `${prefix}/`) : [];
  if (tiers.length > 0) {
    problems.push(
      `an Intelligent-Tiering configuration over "${prefix}/" moves the objects a lifecycle rule puts in INTELLIGENT_TIERING to ${tiers.join(', ')}: S3 reads none until it is restored, so every read of such a blob fails (BlobArchivedError)`,
    );
  }
  return problems;
}

/**
 * Refuses, at synth, a bucket of this app that lacks the lifecycle tierlog relies on (see the
 * module doc): a validation on `scope`, so lifecycle rules added after the construct count.
 */
export function validateOwnBucket(scope: IConstruct, bucket: s3.IBucket, prefix: string): void {
  scope.node.addValidation({
    validate: () => ownBucketProblems(bucket, prefix).map((p) => `bucket ${bucket.node.path} cannot hold tierlog's blobs: ${p}`),
  });
  // A warning, read when the app synthesizes (rules added after the construct count too).
  Aspects.of(scope).add({
    visit: (node) => {
      if (node !== scope) return;
      const warning = ownBucketAbortWarning(bucket, prefix);
      if (warning !== undefined) Annotations.of(scope).addWarningV2('tierlog:abortRuleShorterThanSessions', warning);
    },
  });
}
