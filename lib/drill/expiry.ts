/**
 * Expiry for drills and fault simulations on DynamoDB Local, which runs no TTL: this module
 * deletes expired items the way DynamoDB TTL does, reads the objects table's real stream
 * ({@link StreamReader}) and delivers its records to the stream handler as Lambda's event source
 * mapping may: the records the construct's event filter passes (lib/recovery/stream-filter.ts: no
 * create, no change of an inline object or of a deletion marker), as the construct's stream
 * (`OLD_IMAGE`) carries them ({@link asDeployed}: the new image read for these checks is not
 * handed over), in batches, some delivered twice
 * (at once, or again a pass later), some out of order, a batch with failed records retried from
 * the first failure. After every delivery it
 * checks, from outside (raw reads):
 *  - no blob of an expired object outlives its stream event: the blob of every REMOVE the
 *    handler accepted is gone (unless HV references it, which counts as a violation too:
 *    blob keys are never reused);
 *  - no replaced blob outlives its stream event: the blob of every MODIFY the handler accepted
 *    whose new image no longer names it (an overwrite, a delete, an inline body over a blob) is
 *    gone, whoever deleted it: its writer right after the commit, or the handler when the writer
 *    died or failed first (`replacedBlobCleanup: 'stream'` leaves it to the handler alone). A
 *    MODIFY that keeps its blob (a time-to-idle refresh) is not judged;
 *  - nothing referenced is deleted: for every key of the batch, the blob HV points at exists.
 */
import { DeleteItemCommand, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { isConditionalCheckFailed } from '../aws/errors.js';
import { hvAttributeNames, type TierlogConfig } from '../config.js';
import { firstFailed } from '../local/objects-stream.js';
import { objectsStreamFilterPatterns, passesStreamFilters, type StreamFilterPattern } from '../recovery/stream-filter.js';
import { asTtlDeletion, type StreamReader } from '../local/stream-reader.js';
import type { StreamBatchResponse } from '../recovery/stream-cleanup.js';
import { listBlobs, scanTable } from './invariants.js';
import { type Random, randomInt } from './random.js';

/** The stream handler: one batch in, the records to retry out (`ReportBatchItemFailures`). */
export type DeliverBatch = (records: DynamoDBRecord[]) => Promise<StreamBatchResponse>;

export interface ExpiryCounts {
  /** Items deleted as TTL deletes them. */
  ttlDeletions: number;
  /** REMOVE records read from the stream. */
  removes: number;
  /** REMOVEs whose old image named a blob (each must be gone after its delivery). */
  expiredBlobs: number;
  /** MODIFYs whose old image named a blob their new image does not (each must be gone after its delivery). */
  replaced: number;
  /**
   * Of those, blobs still there when their record was delivered and gone after: the handler
   * deleted them (their writer died or failed before deleting them, or had not yet).
   */
  replacedCleaned: number;
  batches: number;
  /** Batches delivered again (at once, or a pass later). */
  duplicates: number;
  /** Batches delivered before the one that came first on the stream. */
  reordered: number;
  /** Deliveries that reported failed records (retried from the first one). */
  retried: number;
  /** Records still failing after the retries (left to the on-failure destination and the audit). */
  givenUp: number;
}

export interface ExpiryDriverOptions {
  readonly config: TierlogConfig;
  /** Raw clients with full access (the checks read from outside). */
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
  readonly reader: StreamReader;
  readonly deliver: DeliverBatch;
  readonly random: Random;
  /** Receives every broken invariant. */
  readonly violation: (text: string) => void;
  /** Chance that a batch is delivered twice, and that two batches swap places. Default 0.25. */
  readonly disorderRate?: number;
  /** Deliveries of a batch before its failing records are given up. Default 5. */
  readonly maxAttempts?: number;
}

export class ExpiryDriver {
  readonly counts: ExpiryCounts = {
    ttlDeletions: 0,
    removes: 0,
    expiredBlobs: 0,
    replaced: 0,
    replacedCleaned: 0,
    batches: 0,
    duplicates: 0,
    reordered: 0,
    retried: 0,
    givenUp: 0,
  };
  private readonly names;
  /** The deployed mapping's event filter, under the configuration's names: what it drops invokes nothing. */
  private readonly filters: readonly StreamFilterPattern[];
  private previous: DynamoDBRecord[][] = [];

  constructor(private readonly o: ExpiryDriverOptions) {
    this.names = hvAttributeNames(o.config);
    this.filters = objectsStreamFilterPatterns(this.names, this.names.blob);
  }

  /** One round: TTL deletions, then every new stream record delivered and checked. */
  async pass(now = Date.now()): Promise<void> {
    await this.expireAsTtl(now);
    await this.deliverStream();
  }

  /**
   * Deletes every item whose expiry (epoch seconds) is past, as DynamoDB TTL does: a DeleteItem
   * conditional on the expiry still being past, so an item overwritten since is kept.
   */
  async expireAsTtl(now = Date.now()): Promise<void> {
    const nowSeconds = Math.floor(now / 1_000);
    const items = await scanTable(this.o.dynamodb, this.o.config.objectsTable);
    for (const item of items) {
      const expiresAt = item[this.names.expiresAt];
      if (typeof expiresAt !== 'number' || expiresAt >= nowSeconds) continue;
      try {
        await this.o.dynamodb.send(
          new DeleteItemCommand({
            TableName: this.o.config.objectsTable,
            Key: { [this.names.key]: { S: String(item[this.names.key]) } },
            ConditionExpression: '#e < :now',
            ExpressionAttributeNames: { '#e': this.names.expiresAt },
            ExpressionAttributeValues: { ':now': { N: String(nowSeconds) } },
          }),
        );
        this.counts.ttlDeletions++;
      } catch (err) {
        if (!isConditionalCheckFailed(err)) throw err;
      }
    }
  }

  /**
   * Reads the stream and delivers what is new that the construct's event filter passes, in
   * batches, with duplicates and disorder. A record the filter drops reaches no handler on AWS:
   * handed over here, a filter that dropped a record whose blob the handler must delete passed the
   * drill (the handler deleted it), where the deployment leaks it.
   */
  async deliverStream(): Promise<void> {
    const { random } = this.o;
    const rate = this.o.disorderRate ?? 0.25;
    // Only TTL removes items from the objects table (the library's deletes write markers).
    const records = (await this.o.reader.read())
      .filter((r) => passesStreamFilters(r, this.filters))
      .map((r) => (r.eventName === 'REMOVE' ? asTtlDeletion(r) : r));
    const batches: DynamoDBRecord[][] = [];
    for (let i = 0; i < records.length; ) {
      const size = randomInt(random, 1, 4);
      batches.push(records.slice(i, i + size));
      i += size;
    }
    for (let i = 0; i + 1 < batches.length; i++) {
      if (random() < rate) {
        [batches[i], batches[i + 1]] = [batches[i + 1]!, batches[i]!];
        this.counts.reordered++;
        i++;
      }
    }
    for (const batch of batches) {
      await this.deliverChecked(batch);
      if (random() < rate) {
        this.counts.duplicates++;
        await this.deliverChecked(batch);
      }
    }
    // A batch of an earlier pass, delivered again late (its keys may have been re-created since).
    if (this.previous.length > 0 && random() < rate) {
      this.counts.duplicates++;
      await this.deliverChecked(this.previous[randomInt(random, 0, this.previous.length - 1)]!);
    }
    if (batches.length > 0) this.previous = batches;
  }

  /** Delivers one batch (retrying from its first failed record) and checks what it did. */
  private async deliverChecked(batch: DynamoDBRecord[]): Promise<void> {
    // The replaced blobs there before the delivery: those gone after it, the handler deleted.
    const present = new Set<string>();
    for (const record of batch) {
      const blob = this.replacedBlob(record);
      if (blob !== undefined && (await this.exists(blob))) present.add(blob);
    }
    let pending = batch;
    for (let attempt = 1; pending.length > 0; attempt++) {
      this.counts.batches++;
      const first = firstFailed(pending, await this.o.deliver(pending.map(asDeployed)));
      const done = first < 0 ? pending : pending.slice(0, first);
      await this.check(done, present);
      if (first < 0) return;
      if (attempt >= (this.o.maxAttempts ?? 5)) {
        this.counts.givenUp += pending.length - first;
        return;
      }
      this.counts.retried++;
      pending = pending.slice(first);
    }
  }

  /** The invariants after `records` were handled (see the module doc). */
  private async check(records: readonly DynamoDBRecord[], present: ReadonlySet<string>): Promise<void> {
    const keys = new Set<string>();
    for (const record of records) {
      const image = record.dynamodb?.OldImage;
      const key = record.dynamodb?.Keys?.[this.names.key]?.S;
      if (key !== undefined) keys.add(key);
      const replaced = this.replacedBlob(record);
      if (replaced !== undefined) {
        this.counts.replaced++;
        if (await this.exists(replaced))
          this.o.violation(`the blob ${replaced} that ${key} replaced outlived its stream event (${record.dynamodb?.SequenceNumber})`);
        else if (present.has(replaced)) this.counts.replacedCleaned++;
      }
      if (record.eventName !== 'REMOVE') continue;
      this.counts.removes++;
      const blob = image?.[this.names.blob]?.S;
      if (key === undefined || blob === undefined) continue;
      this.counts.expiredBlobs++;
      if (await this.exists(blob))
        this.o.violation(`the blob ${blob} of the expired ${key} outlived its stream event (${record.dynamodb?.SequenceNumber})`);
    }
    for (const key of keys) {
      const blob = await this.currentBlob(key);
      if (blob === undefined || (await this.exists(blob))) continue;
      // Writers may still run: an overwrite committed and deleted the old blob between the two
      // reads. Only a blob HV still points at after it was found gone is a loss.
      if ((await this.currentBlob(key)) === blob) this.o.violation(`the blob ${blob} that ${key} references is gone after a stream batch`);
    }
  }

  /**
   * The blob a MODIFY record shows its item stopped pointing at: named by its old image, not by
   * its new image. None without a new image (the view type OLD_IMAGE): a refresh that kept the
   * blob cannot be told from a replacement then.
   */
  private replacedBlob(record: DynamoDBRecord): string | undefined {
    if (record.eventName !== 'MODIFY') return undefined;
    const blob = record.dynamodb?.OldImage?.[this.names.blob]?.S;
    const next = record.dynamodb?.NewImage;
    if (blob === undefined || next === undefined || next[this.names.blob]?.S === blob) return undefined;
    return blob;
  }

  private async currentBlob(key: string): Promise<string | undefined> {
    const out = await this.o.dynamodb.send(
      new GetItemCommand({ TableName: this.o.config.objectsTable, Key: { [this.names.key]: { S: key } }, ConsistentRead: true }),
    );
    const blob = out.Item === undefined ? undefined : unmarshall(out.Item)[this.names.blob];
    return typeof blob === 'string' ? blob : undefined;
  }

  private async exists(blob: string): Promise<boolean> {
    return (await listBlobs(this.o.s3, this.o.config.bucket, blob)).includes(blob);
  }
}

/**
 * A record as the construct's stream carries it: its view type is `OLD_IMAGE` (infra/tierlog.ts),
 * so no new image. The drill reads `NEW_AND_OLD_IMAGES` to judge replaced blobs itself; handed to
 * the handler, the new image took it down a path the deployment never runs (a refresh ignored for
 * its new image, where the deployed function judges it by a consistent read), which the drill
 * then passed unexercised.
 */
export function asDeployed(record: DynamoDBRecord): DynamoDBRecord {
  const { dynamodb } = record;
  if (dynamodb === undefined) return record;
  const { NewImage: _dropped, ...rest } = dynamodb;
  return { ...record, dynamodb: { ...rest, StreamViewType: 'OLD_IMAGE' } };
}
