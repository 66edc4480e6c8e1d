/**
 * The bucket ("LT"): uploads through `@aws-sdk/lib-storage` (multipart above one part), reads,
 * and deletes. Every key it is given is checked to lie under the configured prefix; this module
 * refuses to touch anything else, whatever its caller believes.
 */
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { isNoSuchKey, translateAwsError } from '../aws/errors.js';
import { MULTIPART_PART_SIZE, S3_DELETE_BATCH } from '../constants.js';
import { ResourceMissingError, TierlogError, ValidationError } from '../errors.js';

export interface UploadOptions {
  readonly contentType?: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** What {@link LtBucket.exists} found. */
export type BlobExistence =
  /** The blob is there; `lastModified`: S3's time of its upload, ms since the epoch. */
  | { readonly kind: 'exists'; readonly lastModified: number }
  | { readonly kind: 'missing' }
  /** The check could not decide (access denied, an error): treat as neither. */
  | { readonly kind: 'unknown'; readonly reason: string };

/** A key DeleteObjects could not delete, with S3's reason. */
export interface DeleteFailure {
  readonly key: string;
  readonly code: string;
  readonly message: string;
}

export class LtBucket {
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix: string,
    private readonly partSize: number = MULTIPART_PART_SIZE,
  ) {}

  /** Uploads `body` to `key` (multipart above one part; parts are aborted on error). */
  async upload(key: string, body: Uint8Array, options: UploadOptions = {}): Promise<void> {
    this.assertOwned(key);
    const upload = new Upload({
      client: this.s3,
      params: {
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: body.byteLength,
        ...(options.contentType !== undefined ? { ContentType: options.contentType } : {}),
        ...(options.metadata !== undefined ? { Metadata: { ...options.metadata } } : {}),
      },
      partSize: Math.max(5 * 1024 * 1024, this.partSize),
      queueSize: 4,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      throw translateAwsError(err, { operation: 'PutObject', bucket: this.bucket });
    }
  }

  /** The blob's bytes, or undefined if it does not exist. */
  async getBytes(key: string): Promise<Uint8Array | undefined> {
    const out = await this.getObject(key);
    if (out === undefined) return undefined;
    return out.transformToByteArray();
  }

  /** The blob as a stream, or undefined if it does not exist. */
  async getStream(key: string): Promise<Readable | undefined> {
    const out = await this.getObject(key);
    return out as unknown as Readable | undefined;
  }

  /**
   * Whether the blob exists, by a listing: `ListObjectsV2` with `Prefix` = the key and
   * `MaxKeys` = 1 (the key itself sorts first among the keys it prefixes). Not a HeadObject: S3
   * answers a HEAD of a missing key with 403, not 404, unless the caller may list the bucket
   * unconditioned, while a listing is allowed by the `s3:prefix`-scoped grant the construct
   * gives, and is strongly consistent like a HEAD. Anything that does not decide it (access
   * denied, an error after the SDK's retries) is `unknown`, never "missing".
   *
   * @throws ResourceMissingError when the bucket does not exist.
   */
  async exists(key: string): Promise<BlobExistence> {
    this.assertOwned(key);
    try {
      const out = await this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }));
      const first = out.Contents?.[0];
      if (first?.Key !== key) return { kind: 'missing' };
      const lastModified = first.LastModified?.getTime();
      if (lastModified === undefined || Number.isNaN(lastModified)) return { kind: 'unknown', reason: 'listing gave no LastModified' };
      return { kind: 'exists', lastModified };
    } catch (err) {
      const translated = translateAwsError(err, { operation: 'ListObjectsV2', bucket: this.bucket });
      // A missing bucket is a configuration error, not an undecided blob.
      if (translated instanceof ResourceMissingError) throw translated;
      const name = translated instanceof Error ? translated.name : 'Error';
      const message = translated instanceof Error ? translated.message : String(translated);
      return { kind: 'unknown', reason: `${name}: ${message}` };
    }
  }

  /** Deletes one blob (absent is fine). */
  async delete(key: string): Promise<void> {
    this.assertOwned(key);
    try {
      await this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      throw translateAwsError(err, { operation: 'DeleteObject', bucket: this.bucket });
    }
  }

  /**
   * Deletes blobs with DeleteObjects, 1 000 a request; returns the keys S3 refused. If a batch
   * request fails as a whole, its keys are deleted one by one.
   */
  async deleteMany(keys: readonly string[]): Promise<DeleteFailure[]> {
    for (const key of keys) this.assertOwned(key);
    const failures: DeleteFailure[] = [];
    for (let i = 0; i < keys.length; i += S3_DELETE_BATCH) {
      const batch = keys.slice(i, i + S3_DELETE_BATCH);
      if (batch.length === 1) {
        await this.delete(batch[0]!);
        continue;
      }
      try {
        const out = await this.s3.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        );
        for (const error of out.Errors ?? []) {
          failures.push({ key: error.Key ?? '?', code: error.Code ?? 'Unknown', message: error.Message ?? '' });
        }
      } catch (err) {
        const translated = translateAwsError(err, { operation: 'DeleteObjects', bucket: this.bucket });
        if (translated !== err) throw translated;
        for (const key of batch) await this.delete(key);
      }
    }
    return failures;
  }

  /** Throws unless `key` lies under `<prefix>/`: the last guard before any S3 write or delete. */
  assertOwned(key: string): void {
    if (typeof key !== 'string' || !key.startsWith(`${this.prefix}/`) || key.split('/').some((s) => s === '..' || s === '.')) {
      throw new ValidationError(`blob key "${String(key).slice(0, 200)}" is outside "${this.prefix}/"`, 'blob');
    }
  }

  private async getObject(key: string) {
    this.assertOwned(key);
    try {
      const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (out.Body === undefined) throw new TierlogError(`GetObject ${key} returned no body`);
      return out.Body;
    } catch (err) {
      if (isNoSuchKey(err)) return undefined;
      throw translateAwsError(err, { operation: 'GetObject', bucket: this.bucket });
    }
  }
}
