/**
 * The LT bucket (large blobs under the prefix) and the bucket that receives its access logs.
 */
import { Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { MAX_PRESIGN_SECONDS } from '../lib/aws/presign.js';
import { checkRemovalPolicy } from './tables.js';

/** Days after which the bucket aborts an incomplete multipart upload: the longest session + 1. */
export const ABORT_INCOMPLETE_MULTIPART_DAYS = MAX_PRESIGN_SECONDS / 86_400 + 1;

/** Properties of {@link BlobBucket}. */
export interface BlobBucketProps {
  /**
   * How long a deleted or overwritten blob stays recoverable as a noncurrent version: the undo
   * window for a wrong delete.
   *
   * @default Duration.days(7)
   */
  readonly noncurrentVersionExpiration?: Duration;
  /**
   * How long the server access logs are kept.
   *
   * @default Duration.days(90)
   */
  readonly accessLogsExpiration?: Duration;
  /**
   * Origins (e.g. `https://app.example.com`) of browser clients that upload parts to presigned
   * URLs and read through presigned GETs: the bucket then answers CORS for `PUT`, `GET` and
   * `HEAD` from them and exposes `ETag` (which a complete needs), `Content-Range` and
   * `Content-Length`. None: no CORS rule (clients other than browsers need none). Each is an
   * origin as browsers send it, `scheme://host[:port]` with at most one `*`, or `*`: one with a
   * path or a trailing `/` (which no browser's `Origin` matches) is refused. A list known only at
   * deploy (a `CommaDelimitedList` parameter's `valueAsList`) is taken as it is.
   *
   * @default none
   */
  readonly corsAllowedOrigins?: readonly string[];
  /**
   * What happens to both buckets when they leave the stack. With `DESTROY` they are emptied
   * first (every object and version), by CDK's auto-delete custom resource. `SNAPSHOT` is
   * refused (CloudFormation snapshots no bucket: it deletes it).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A versioned, private, TLS-only, SSE-S3 encrypted bucket with access logging: noncurrent
 * versions expire after the undo window, expired delete markers are removed, incomplete
 * multipart uploads are aborted after one day.
 */
export class BlobBucket extends Construct {
  /** The bucket that holds the blobs. */
  public readonly bucket: s3.Bucket;
  /** The bucket that receives the blob bucket's server access logs. */
  public readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: BlobBucketProps = {}) {
    super(scope, id);
    checkRemovalPolicy(props.removalPolicy, 'removalPolicy');
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const undoWindow = props.noncurrentVersionExpiration ?? Duration.days(7);
    // S3 counts lifecycle ages in whole days, at least one: 0 or a fraction fails the deploy.
    if (!undoWindow.isUnresolved() && !isWholeDays(undoWindow)) {
      throw new Error(`noncurrentVersionExpiration must be a whole number of days, at least 1, got ${undoWindow.toHumanString()}`);
    }
    if (props.corsAllowedOrigins !== undefined) checkCorsOrigins(props.corsAllowedOrigins);
    const secure = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
      // A bucket that still holds objects (or versions) cannot be deleted: with DESTROY, CDK's
      // custom resource empties it first, so `cdk destroy` of a scratch stack completes.
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
    } satisfies s3.BucketProps;

    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      // Server access log delivery writes only to SSE-S3 buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      lifecycleRules: [{ id: 'expire-logs', expiration: props.accessLogsExpiration ?? Duration.days(90) }],
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...secure,
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: true,
      lifecycleRules: [
        {
          id: 'undo-window',
          noncurrentVersionExpiration: undoWindow,
          expiredObjectDeleteMarker: true,
        },
        // Past the longest upload session (7 days, the longest a presigned part URL lives): the
        // sweeper aborts a session's upload at its expiry; this rule catches the uploads no
        // session names (a CreateMultipartUpload whose answer was lost, a writer that died first).
        { id: 'abort-incomplete-multipart', abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_MULTIPART_DAYS) },
      ],
      ...(props.corsAllowedOrigins !== undefined && props.corsAllowedOrigins.length > 0
        ? {
            cors: [
              {
                allowedOrigins: [...props.corsAllowedOrigins],
                allowedMethods: [s3.HttpMethods.PUT, s3.HttpMethods.GET, s3.HttpMethods.HEAD],
                allowedHeaders: ['*'],
                exposedHeaders: ['ETag', 'Content-Range', 'Content-Length'],
                maxAge: 3600,
              },
            ],
          }
        : {}),
    });

    deliverAccessLogs(this.bucket, this.accessLogsBucket, 'blob-bucket/');
  }
}

/** An origin as a browser's `Origin` header carries it: a scheme, `://`, a host (`*` in it), an optional port; nothing after. */
const ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\s]+$/;

/**
 * Refuses allowed origins no browser request matches, or S3 refuses: S3 compares a request's
 * `Origin` with each as text (one `*` matching anything), so one with a path or a trailing `/`
 * never matched, and every browser upload failed CORS on a bucket that deployed; two `*` failed
 * the deploy.
 */
function checkCorsOrigins(origins: unknown): void {
  // A list known only at deploy (a CommaDelimitedList parameter): its one element is the list's
  // token, no origin to check here (it was refused as one).
  if (Array.isArray(origins) && Token.isUnresolved(origins)) return;
  if (!Array.isArray(origins)) {
    // A CDK context value is a string: it was spread into its characters.
    throw new Error(`corsAllowedOrigins must be a list of origins, got ${JSON.stringify(origins)} (${typeof origins})`);
  }
  for (const origin of origins as unknown[]) {
    if (typeof origin === 'string' && Token.isUnresolved(origin)) continue;
    if (origin === '*') continue;
    if (typeof origin !== 'string' || !ORIGIN.test(origin)) {
      throw new Error(
        `corsAllowedOrigins: ${JSON.stringify(origin)} is not an origin (scheme://host[:port], no path or trailing /, e.g. https://app.example.com): a browser's Origin header never matches it`,
      );
    }
    if (origin.indexOf('*') !== origin.lastIndexOf('*')) {
      throw new Error(`corsAllowedOrigins: ${JSON.stringify(origin)} has more than one *: S3 allows one wildcard in an origin`);
    }
  }
}

/** Whether `d` is a whole number of days, at least one (what S3 lifecycle rules take). */
function isWholeDays(d: Duration): boolean {
  const days = d.toDays({ integral: false });
  return days >= 1 && Number.isInteger(days);
}

/**
 * Sends `source`'s server access logs to `logs` under `prefix`, delivered under a bucket policy
 * (no ACLs, so the log bucket stays owner-enforced). Set on the resource rather than through
 * `serverAccessLogsBucket`, which does this only under the feature flag
 * `@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy` and falls back to ACLs (and fails against
 * BUCKET_OWNER_ENFORCED) in apps without it.
 */
export function deliverAccessLogs(source: s3.Bucket, logs: s3.Bucket, prefix: string): void {
  (source.node.defaultChild as s3.CfnBucket).loggingConfiguration = {
    destinationBucketName: logs.bucketName,
    logFilePrefix: prefix,
  };
  logs.addToResourcePolicy(
    new iam.PolicyStatement({
      principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
      actions: ['s3:PutObject'],
      resources: [logs.arnForObjects(`${prefix}*`)],
      conditions: {
        ArnLike: { 'aws:SourceArn': source.bucketArn },
        StringEquals: { 'aws:SourceAccount': Stack.of(source).account },
      },
    }),
  );
}
