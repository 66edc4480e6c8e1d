/**
 * One store per bucket prefix. Every tool that deletes blobs nothing references (the listing
 * audit, the snapshot audit) lists `<prefix>/` and reads one store's objects table and change
 * log: a second store writing under the same prefix of the same bucket has blobs that table
 * never points at and that log never names, so an audit of either store deletes the other's
 * blobs, live ones included. Nothing at run time can tell the two stores' blobs apart (keys are
 * `<prefix>/<object id>/<uuidv7>` in both), so the app that deploys them is where it is refused:
 * two `Tierlog` constructs of one app given the same bucket and the same prefix fail synthesis.
 * A bucket the construct creates is its own; nested prefixes (`blobs`, `blobs/b`) do not
 * collide: the outer store's audits read the inner store's keys as no blob keys of theirs
 * (reported, never deleted).
 */
import { Token } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

/** What {@link refuseSharedPrefix} reads of a construct that stores blobs under a prefix. */
export interface BlobStoreSite {
  readonly bucket: s3.IBucket;
  readonly prefix: string;
}

/**
 * The name `bucket` has at synth: its `bucketName` when a literal (imported by name or ARN), else
 * the `bucketName` property of its resource when it is a bucket of this app given a literal name
 * (its `bucketName` is then a reference, a token); undefined when neither is known.
 */
function literalName(bucket: s3.IBucket): string | undefined {
  if (!Token.isUnresolved(bucket.bucketName)) return bucket.bucketName;
  const resource = bucket.node.defaultChild as { cfnResourceType?: string; bucketName?: unknown } | undefined;
  if (resource?.cfnResourceType !== 'AWS::S3::Bucket') return undefined;
  return typeof resource.bucketName === 'string' && !Token.isUnresolved(resource.bucketName) ? resource.bucketName : undefined;
}

/**
 * Whether `a` and `b` are the same bucket: one construct, one name (the same literal, or the same
 * token), or a bucket of this app with a literal name and one imported by that name.
 */
function sameBucket(a: s3.IBucket, b: s3.IBucket): boolean {
  if (a === b || a.bucketName === b.bucketName) return true;
  const name = literalName(a);
  return name !== undefined && name === literalName(b);
}

/**
 * Refuses, at synth, another store of the same app (found by `isStore`) under `store`'s bucket and
 * prefix: a validation on `store`, so constructs added after it are seen.
 */
export function refuseSharedPrefix<T extends IConstruct & BlobStoreSite>(store: T, isStore: (node: IConstruct) => node is T): void {
  store.node.addValidation({
    validate: () =>
      store.node.root.node
        .findAll()
        .filter((other): other is T => other !== store && isStore(other))
        .filter((other) => other.prefix === store.prefix && sameBucket(other.bucket, store.bucket))
        .map(
          (other) =>
            `${other.node.path} stores blobs under the same bucket and prefix "${store.prefix}/": an audit of either store would delete the other's blobs; give each store its own prefix`,
        ),
  });
}
