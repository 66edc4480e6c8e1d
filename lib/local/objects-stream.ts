/**
 * The objects table's stream in a test: the records that writes made, delivered to the
 * objects-stream handler's cleanup as Lambda's event source mapping delivers them to the
 * function the construct deploys: the records its event filter passes (lib/recovery/stream-filter.ts:
 * no create, no change of an inline object or of a deletion marker), in stream order, in batches,
 * a batch taken up again at the first record the handler reports failed (`ReportBatchItemFailures`),
 * its records given up after the last attempt.
 *
 * Why a test needs it: with `replacedBlobCleanup: 'stream'` (what the construct sets) a writer
 * that dies after its commit, before deleting the blob it replaced, leaves that blob to the
 * objects table's stream, not to the change log: the commit removed its entry, so no sweep will
 * ever see it, and `checkInvariants` reports it `leaked` until the stream is delivered. DynamoDB
 * Local keeps a real stream; this reads it from its start (`StreamReader`) and hands each batch to
 * the same `StreamCleanup` the deployed handler runs, with the same judgement (the blob is deleted
 * only when a consistent read shows the item no longer points at it, under the prefix).
 *
 * DynamoDB Local runs no TTL deletions: a REMOVE record here is one the test made itself.
 * Needs the optional peer `@aws-sdk/client-dynamodb-streams`.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBRecord } from 'aws-lambda';
import { assertClientOf, createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { hvAttributeNames, type TierlogConfig, validateConfig } from '../config.js';
import { isIntegerIn } from '../env-integers.js';
import { TierlogError, ValidationError } from '../errors.js';
import { assertOptions, optionNames } from '../plain-options.js';
import { parseStreamEvent, StreamCleanup, type StreamBatchResponse } from '../recovery/stream-cleanup.js';
import { objectsStreamFilterPatterns, passesStreamFilters } from '../recovery/stream-filter.js';
import { refuseAwsUnlessTold } from './endpoint-host.js';
import { StreamReader } from './stream-reader.js';

/** Options of {@link openObjectsStream}: any other name is a `ValidationError`. */
export interface OpenObjectsStreamOptions {
  /** The writers' configuration: tables, bucket, prefix, HV attribute names. */
  readonly config: TierlogConfig;
  /** Default: a client from the environment (`AWS_ENDPOINT_URL_DYNAMODB`, as `startLocalStack` sets it), destroyed by `close()`. */
  readonly dynamodb?: DynamoDBClient;
  /** Default: a client from the environment, destroyed by `close()`. */
  readonly s3?: S3Client;
  /** Records per batch, 1 to 10 000. Default 100, the construct's `batchSize`. */
  readonly batchSize?: number;
  /**
   * Attempts of a batch before the records from its first failed one are given up (on AWS: sent
   * to the on-failure queue), 1 to 10 001. Default 11: the first and the construct's 10 retries.
   */
  readonly maxAttempts?: number;
  /**
   * Take a DynamoDB client that talks to AWS's own DynamoDB: the stream is then enabled on that
   * table (an `UpdateTable` of a table a deployment may own) and the blobs its last 24 hours of
   * records name are judged and deleted from this process. Only for tables a test made for itself.
   *
   * @default false: against AWS, a `ConfigError` naming `againstAws` before any request but the
   *   endpoint's resolution (nothing is read, enabled or deleted).
   */
  readonly againstAws?: boolean;
}

const OPTIONS = optionNames<OpenObjectsStreamOptions>()('config', 'dynamodb', 's3', 'batchSize', 'maxAttempts', 'againstAws');

/** What one {@link LocalObjectsStream.deliver} did. */
export interface ObjectsStreamDelivery {
  /** Records read from the stream since the last delivery. */
  readonly records: number;
  /**
   * Of those, records the deployed mapping's event filter drops (creates, changes of inline
   * objects and of deletion markers: lib/recovery/stream-filter.ts): never handed to the cleanup,
   * as Lambda invokes nothing for them.
   */
  readonly filteredOut: number;
  /** Handler invocations, retries included. */
  readonly batches: number;
  /** Batches taken up again at their first failed record. */
  readonly retried: number;
  /** Records given up after the last attempt (on AWS, the on-failure queue's; the blobs they name stay, for `tierlog audit`). */
  readonly givenUp: number;
  /** Blobs the handler deleted: the ones items stopped pointing at. */
  readonly blobsDeleted: number;
  /** Blobs kept because a record could not be trusted (outside the prefix, an image not understood). */
  readonly untrusted: number;
  /** Blobs of removed items kept because the objects table still points at them. */
  readonly referenced: number;
}

/** The objects table's stream, opened in a test. */
export interface LocalObjectsStream {
  /**
   * Reads every record written since the last delivery (since the stream was enabled, at the
   * first; from every shard of the stream, a split shard's children after their parent) and delivers them, batch by batch, to the objects-stream handler's cleanup. Deliveries
   * asked for at once run one after the other, as the event source mapping hands a shard's records
   * to one invocation at a time: each record is delivered once.
   *
   * @throws TierlogError once `close()` has been called: no batch is handed over after it (a
   *   delivery under way stops before its next batch).
   */
  deliver(): Promise<ObjectsStreamDelivery>;
  /** Stops reading and delivering; destroys the clients this stream made. */
  close(): void;
}

/**
 * Opens the objects table's stream at its start, enabling it when the table has none as the
 * construct declares it (`OLD_IMAGE`, infra/tierlog.ts): open it before the writes whose records a
 * test delivers, since a stream enabled later holds nothing written before. A stream the table
 * has already (old images, `NEW_AND_OLD_IMAGES` too) is read as it is, as a deployment reads it.
 */
export async function openObjectsStream(options: OpenObjectsStreamOptions): Promise<LocalObjectsStream> {
  if (options === undefined) throw new ValidationError('openObjectsStream takes its options (config)', 'options');
  assertOptions(options, OPTIONS, 'openObjectsStream');
  const config = validateConfig(options.config);
  const batchSize = boundedInteger(options.batchSize, 100, 10_000, 'batchSize');
  const maxAttempts = boundedInteger(options.maxAttempts, 11, 10_001, 'maxAttempts');
  assertClientOf('dynamodb', options.dynamodb, 'DynamoDB');
  assertClientOf('s3', options.s3, 'S3');
  const dynamodb = options.dynamodb ?? createDynamoDBClient();
  const s3 = options.s3 ?? createS3Client();
  const destroyOwn = (): void => {
    if (options.dynamodb === undefined) dynamodb.destroy();
    if (options.s3 === undefined) s3.destroy();
  };
  let reader: StreamReader;
  try {
    await refuseAwsUnlessTold(
      dynamodb,
      options.againstAws,
      'openObjectsStream',
      "it enables the table's stream (UpdateTable) and deletes the blobs its records name, from this process",
    );
    // The construct's view type: with new images (the reader's default), a change that kept the
    // item's blob (a refresh, a metadata update) was settled by its new image, where the deployed
    // function judges it by a consistent read of the objects table, a path a test never ran.
    reader = await StreamReader.open(dynamodb, config.objectsTable, 'OLD_IMAGE');
  } catch (err) {
    destroyOwn();
    throw err;
  }
  const cleanup = new StreamCleanup({ config, dynamodb, s3 });
  // The construct's event filter, under the configuration's names: the records it drops invoke
  // nothing on AWS, so they are in no batch here either (they made batches, counts and give-ups
  // the deployment never has).
  const names = hvAttributeNames(config);
  const filters = objectsStreamFilterPatterns(names, names.blob);
  let closed = false;
  // Closed: nothing more is read or handed over (a delivery after close() deleted blobs through
  // the clients given, with a reader whose client close() had destroyed).
  const refuseClosed = (left: number): void => {
    if (!closed) return;
    throw new TierlogError(
      `openObjectsStream: the stream is closed: deliver() hands no batch over after close()${left > 0 ? ` (${left} records read were not delivered)` : ''}`,
    );
  };
  const deliverOnce = async (): Promise<ObjectsStreamDelivery> => {
    refuseClosed(0);
    const read = await reader.read();
    const records = read.filter((record) => passesStreamFilters(record, filters));
    const sums = { batches: 0, retried: 0, givenUp: 0, blobsDeleted: 0, untrusted: 0, referenced: 0 };
    for (let start = 0; start < records.length; start += batchSize) {
      const batch = records.slice(start, start + batchSize);
      let pending = batch;
      for (let attempt = 1; pending.length > 0; attempt++) {
        refuseClosed(records.length - start - (batch.length - pending.length));
        sums.batches++;
        // What the deployed handler does with its event: the same parse, the same cleanup.
        const { response, report } = await cleanup.handle(parseStreamEvent({ Records: pending }));
        sums.blobsDeleted += report.blobsDeleted;
        sums.untrusted += report.untrusted;
        sums.referenced += report.referenced;
        const first = firstFailed(pending, response);
        if (first < 0) break;
        if (attempt >= maxAttempts) {
          sums.givenUp += pending.length - first;
          break;
        }
        sums.retried++;
        pending = pending.slice(first);
      }
    }
    return { records: read.length, filteredOut: read.length - records.length, ...sums };
  };
  // One delivery at a time: two at once read the same records from the same iterators, and
  // handed each over twice (its blob deleted twice, counted twice).
  let delivering: Promise<unknown> = Promise.resolve();
  return {
    deliver() {
      const delivery = delivering.catch(() => undefined).then(deliverOnce);
      delivering = delivery;
      return delivery;
    },
    close() {
      if (closed) return;
      closed = true;
      reader.close();
      destroyOwn();
    },
  };
}

/**
 * Where Lambda's event source mapping takes a batch up again after the handler's answer
 * (`ReportBatchItemFailures`): at the first record a failure names; at the start, for the whole
 * batch, when a failure has no usable `itemIdentifier` (empty, null, or under another name: Lambda
 * counts the batch failed, and a handler that answers so holds its shard on AWS); -1 when none failed.
 */
export function firstFailed(batch: readonly DynamoDBRecord[], response: StreamBatchResponse): number {
  const identifiers = (response?.batchItemFailures ?? []).map((f) => (f as { itemIdentifier?: unknown } | null)?.itemIdentifier);
  if (identifiers.some((id) => typeof id !== 'string' || id === '')) return 0;
  const failed = new Set(identifiers);
  return batch.findIndex((r) => failed.has(r.dynamodb?.SequenceNumber ?? ''));
}

function boundedInteger(value: number | undefined, fallback: number, max: number, name: string): number {
  if (value === undefined) return fallback;
  if (!isIntegerIn(value, 1, max)) {
    throw new ValidationError(`${name} must be an integer from 1 to ${max}, got ${String(value)}`, name);
  }
  return value;
}
