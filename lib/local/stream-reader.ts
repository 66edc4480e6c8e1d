/**
 * A table's REAL stream on DynamoDB Local (the objects table's, for the stream handler): turn it
 * on (UpdateTable), read it (DescribeStream, GetShardIterator, GetRecords) and hand its records
 * over in the shape Lambda delivers them (`DynamoDBStreamEvent`: lower-case `userIdentity`,
 * binary as base64). Used by the tests, the drill and `openObjectsStream` (tierlog/testing); needs
 * `@aws-sdk/client-dynamodb-streams` (an optional peer of tierlog/testing), loaded when a reader
 * opens, so that importing tierlog/testing does not need it.
 *
 * DynamoDB Local keeps a stream's records in one shard; AWS splits and closes shards over time.
 * Every page of `DescribeStream`'s shards is read (100 a page on AWS, `ExclusiveStartShardId` on
 * until no `LastEvaluatedShardId`; a page that gives a shard id the listing was given before is a
 * `TableListingError`, not a listing read without end), and a child shard is read only once its
 * parent is drained (closed and read to its end) or gone from the listing (trimmed), as DynamoDB
 * Streams requires for a key's records to come in order. A closed shard is read to its end; an
 * open one until its first empty page, its tip on DynamoDB Local (on AWS, a page of a part of the
 * shard without records also ends the read there: the records after it come with a later read).
 */
import { DescribeTableCommand, type DynamoDBClient, UpdateTableCommand } from '@aws-sdk/client-dynamodb';
import type { _Record as SdkRecord, Shard } from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { withAwsErrors } from '../aws/errors.js';
import { localDynamoDbEndpointOf } from './endpoint-host.js';
import { ConfigError, TableListingError } from '../errors.js';

type StreamsSdk = typeof import('@aws-sdk/client-dynamodb-streams');

/** The stream views that carry old images: the objects-stream handler needs the blob a record's old image names. */
const OLD_IMAGE_VIEWS: ReadonlySet<string> = new Set(['OLD_IMAGE', 'NEW_AND_OLD_IMAGES']);

/** The streams client of the SDK, an optional peer: missing, a ConfigError that says what to install. */
async function loadStreamsSdk(): Promise<StreamsSdk> {
  try {
    return await import('@aws-sdk/client-dynamodb-streams');
  } catch (err) {
    // Installed but broken (a partial install, another major version) says so as well as missing
    // does: the error of the loading itself, not only the install line.
    throw new ConfigError(
      `reading a table's stream needs @aws-sdk/client-dynamodb-streams, an optional peer of tierlog/testing: npm install -D @aws-sdk/client-dynamodb-streams; ${err instanceof Error ? err.message : String(err)}`,
      '@aws-sdk/client-dynamodb-streams',
      { cause: err },
    );
  }
}

/** Reads a table's stream from its start, shard by shard, as Lambda's event source mapping would. */
export class StreamReader {
  private readonly client: InstanceType<StreamsSdk['DynamoDBStreamsClient']>;
  private readonly iterators = new Map<string, string | undefined>();
  private readonly lastSequence = new Map<string, string>();

  private constructor(
    private readonly sdk: StreamsSdk,
    readonly streamArn: string,
    private readonly table: string,
    private readonly region: string,
    dynamodb: DynamoDBClient,
    endpoint: string | undefined,
  ) {
    // Where the table's client goes, with its credentials: the endpoint it sends its requests to
    // (a local server's), else the SDK's own for the streams of the region (AWS's).
    this.client = new sdk.DynamoDBStreamsClient({
      region,
      credentials: dynamodb.config.credentials,
      ...(endpoint !== undefined ? { endpoint } : {}),
    });
  }

  /**
   * Opens a reader at the start of the table's stream, enabling the stream (`viewType`) first
   * unless it is enabled already with old images (a table provisioned with its stream, as the
   * construct makes it). A stream enabled without old images is a `ConfigError`: its records
   * name no replaced blob.
   */
  static async open(
    dynamodb: DynamoDBClient,
    table: string,
    viewType: 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES' = 'NEW_AND_OLD_IMAGES',
  ): Promise<StreamReader> {
    const sdk = await loadStreamsSdk();
    const before = (
      await withAwsErrors({ operation: 'DescribeTable', table }, () => dynamodb.send(new DescribeTableCommand({ TableName: table })))
    ).Table;
    const enabled = before?.StreamSpecification?.StreamEnabled === true;
    if (enabled && !OLD_IMAGE_VIEWS.has(before?.StreamSpecification?.StreamViewType ?? '')) {
      throw new ConfigError(
        `table ${table} has a stream of ${before?.StreamSpecification?.StreamViewType}: the objects-stream handler needs old images (OLD_IMAGE or NEW_AND_OLD_IMAGES)`,
        'StreamViewType',
      );
    }
    let arn = enabled ? before?.LatestStreamArn : undefined;
    if (!enabled) {
      await withAwsErrors({ operation: 'UpdateTable', table }, () =>
        dynamodb.send(new UpdateTableCommand({ TableName: table, StreamSpecification: { StreamEnabled: true, StreamViewType: viewType } })),
      );
      arn = (
        await withAwsErrors({ operation: 'DescribeTable', table }, () => dynamodb.send(new DescribeTableCommand({ TableName: table })))
      ).Table?.LatestStreamArn;
    }
    if (arn === undefined) throw new ConfigError(`table ${table} has no stream after UpdateTable`, 'StreamSpecification');
    // The endpoint the table's client sends to, as the SDK placed it: its `endpoint` option, the
    // variable, or the shared config file's `endpoint_url` (read by the variable alone, a client the
    // config file placed had the stream read from AWS's DynamoDB Streams: every read failed).
    const endpoint = await localDynamoDbEndpointOf(dynamodb);
    return new StreamReader(sdk, arn, table, await dynamodb.config.region(), dynamodb, endpoint);
  }

  /**
   * Every record written since the last call, in stream order (each shard drained, a split shard's
   * children after their parent). A read that
   * fails part-way (a request refused after others had answered records) hands none of them
   * over, and moves nothing on: the next read starts where this one did, so they are delivered
   * then, once, as Lambda's event source mapping takes a batch up again.
   */
  async read(): Promise<DynamoDBRecord[]> {
    const iterators = new Map(this.iterators);
    const lastSequence = new Map(this.lastSequence);
    try {
      return await this.readFromWhereLeft();
    } catch (err) {
      restore(this.iterators, iterators);
      restore(this.lastSequence, lastSequence);
      throw err;
    }
  }

  private async readFromWhereLeft(): Promise<DynamoDBRecord[]> {
    const records: DynamoDBRecord[] = [];
    const shards = await this.shards();
    const listed = new Map(shards.map((shard) => [shard.ShardId!, shard]));
    // Parents before children: a child waits while its parent is listed and not drained (a parent
    // listed after it, read first; an open one, whose child waits for a later read).
    const read = new Set<string>();
    for (let progress = true; progress; ) {
      progress = false;
      for (const shard of shards) {
        if (read.has(shard.ShardId!)) continue;
        const parent = shard.ParentShardId === undefined ? undefined : listed.get(shard.ParentShardId);
        if (parent !== undefined && !this.drained(parent)) continue;
        read.add(shard.ShardId!);
        progress = true;
        await this.readShard(shard, records);
      }
    }
    return records;
  }

  /** Every shard of the stream: each page of `DescribeStream`, until one gives no `LastEvaluatedShardId`. */
  private async shards(): Promise<Shard[]> {
    const shards: Shard[] = [];
    const seen = new Set<string>();
    let start: string | undefined;
    do {
      const page = await this.client.send(
        new this.sdk.DescribeStreamCommand({ StreamArn: this.streamArn, ...(start !== undefined ? { ExclusiveStartShardId: start } : {}) }),
      );
      shards.push(...(page.StreamDescription?.Shards ?? []));
      start = page.StreamDescription?.LastEvaluatedShardId;
      if (start !== undefined && seen.has(start)) {
        throw new TableListingError(
          this.table,
          'DescribeStream',
          `a page of the stream's shards gives a LastEvaluatedShardId (${start}) the listing was given before (its ExclusiveStartShardId ignored?): the listing repeats`,
        );
      }
      if (start !== undefined) seen.add(start);
    } while (start !== undefined);
    return shards;
  }

  /** Whether `shard` is closed and read to its end (no next iterator, or its last record read). */
  private drained(shard: Shard): boolean {
    const ending = shard.SequenceNumberRange?.EndingSequenceNumber;
    if (ending === undefined) return false;
    const id = shard.ShardId!;
    return (
      (this.iterators.has(id) && this.iterators.get(id) === undefined) ||
      (this.lastSequence.has(id) && !follows(ending, this.lastSequence.get(id)))
    );
  }

  /** Reads `shard` from where it was left into `records`: a closed one to its end, an open one to its first empty page. */
  private async readShard(shard: Shard, records: DynamoDBRecord[]): Promise<void> {
    const shardId = shard.ShardId!;
    // A closed shard's records are all there: read to its end (no next iterator, or its last
    // record read). An empty page is no end there: AWS answers one for a part of a shard
    // without records, "it might take multiple calls" to reach them, and the read stopped at it,
    // handing them over only some reads later. An open shard's empty page is its tip.
    const ending = shard.SequenceNumberRange?.EndingSequenceNumber;
    if (!this.iterators.has(shardId)) this.iterators.set(shardId, await this.iterator(shardId));
    let iterator = this.iterators.get(shardId);
    while (iterator !== undefined) {
      let out: Awaited<ReturnType<typeof this.next>>;
      try {
        out = await this.next(iterator);
      } catch (err) {
        // DynamoDB Local may refuse an iterator it handed out (trimmed or expired): continue
        // after the last record read, as a consumer does after a restart.
        const name = (err as Error).name;
        if (name !== 'TrimmedDataAccessException' && name !== 'ExpiredIteratorException') throw err;
        iterator = await this.iterator(shardId);
        this.iterators.set(shardId, iterator);
        if (iterator === undefined) break;
        out = await this.next(iterator);
      }
      for (const r of out.Records ?? []) {
        // Read already (an iterator from the shard's start after a trim): delivered once only.
        if (!follows(r.dynamodb?.SequenceNumber, this.lastSequence.get(shardId))) continue;
        records.push(this.toLambda(r));
        if (r.dynamodb?.SequenceNumber !== undefined) this.lastSequence.set(shardId, r.dynamodb.SequenceNumber);
      }
      iterator = out.NextShardIterator;
      this.iterators.set(shardId, iterator);
      if (ending === undefined ? (out.Records ?? []).length === 0 : !follows(ending, this.lastSequence.get(shardId))) break;
    }
  }

  private next(iterator: string) {
    return this.client.send(new this.sdk.GetRecordsCommand({ ShardIterator: iterator }));
  }

  /**
   * An iterator after the last record read from the shard (from its start when none was read, or
   * when that record is trimmed: the records after it that the stream still holds are at its
   * start, as Lambda's event source mapping goes on from there; the ones trimmed are lost).
   */
  private async iterator(shardId: string): Promise<string | undefined> {
    const after = this.lastSequence.get(shardId);
    const get = (
      position: { ShardIteratorType: 'TRIM_HORIZON' } | { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER'; SequenceNumber: string },
    ) => this.client.send(new this.sdk.GetShardIteratorCommand({ StreamArn: this.streamArn, ShardId: shardId, ...position }));
    if (after === undefined) return (await get({ ShardIteratorType: 'TRIM_HORIZON' })).ShardIterator;
    try {
      return (await get({ ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after })).ShardIterator;
    } catch (err) {
      // A record older than the stream's 24 hours has no iterator after it: every read after a
      // trim was refused, and nothing the stream still holds was ever delivered again.
      if ((err as Error).name !== 'TrimmedDataAccessException') throw err;
      return (await get({ ShardIteratorType: 'TRIM_HORIZON' })).ShardIterator;
    }
  }

  close(): void {
    this.client.destroy();
  }

  private toLambda(r: SdkRecord): DynamoDBRecord {
    const d = r.dynamodb ?? {};
    return {
      eventID: r.eventID!,
      eventName: r.eventName as DynamoDBRecord['eventName'],
      eventVersion: r.eventVersion ?? '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: this.region,
      eventSourceARN: this.streamArn,
      dynamodb: {
        ...(d.ApproximateCreationDateTime !== undefined
          ? { ApproximateCreationDateTime: Math.floor(d.ApproximateCreationDateTime.getTime() / 1000) }
          : {}),
        ...(d.Keys !== undefined ? { Keys: jsonImage(d.Keys) } : {}),
        ...(d.NewImage !== undefined ? { NewImage: jsonImage(d.NewImage) } : {}),
        ...(d.OldImage !== undefined ? { OldImage: jsonImage(d.OldImage) } : {}),
        SequenceNumber: d.SequenceNumber!,
        SizeBytes: d.SizeBytes ?? 0,
        StreamViewType: d.StreamViewType as 'NEW_AND_OLD_IMAGES',
      },
      ...(r.userIdentity !== undefined ? { userIdentity: { type: r.userIdentity.Type, principalId: r.userIdentity.PrincipalId } } : {}),
    };
  }
}

/**
 * Marks a REMOVE as DynamoDB TTL's own: DynamoDB Local runs no TTL deletions, so a test deletes
 * the expired item itself and gives the record the identity the TTL process's records carry.
 */
export function asTtlDeletion(record: DynamoDBRecord): DynamoDBRecord {
  return { ...record, userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' } };
}

/** A Lambda event of `records`. */
export function streamEvent(records: DynamoDBRecord[]): DynamoDBStreamEvent {
  return { Records: records };
}

/**
 * Whether the record of sequence number `seq` comes after `last` in its shard (sequence numbers
 * are decimal and grow within a shard); true when either is missing or not a decimal.
 */
function follows(seq: string | undefined, last: string | undefined): boolean {
  if (seq === undefined || last === undefined || !/^\d+$/.test(seq) || !/^\d+$/.test(last)) return true;
  return BigInt(seq) > BigInt(last);
}

/** Puts `map` back to `saved`. */
function restore<V>(map: Map<string, V>, saved: ReadonlyMap<string, V>): void {
  map.clear();
  for (const [key, value] of saved) map.set(key, value);
}

/** The SDK's attribute values in Lambda's JSON form (binary as base64). */
function jsonImage(image: Record<string, unknown>): Record<string, any> {
  return Object.fromEntries(Object.entries(image).map(([k, v]) => [k, jsonValue(v)]));
}

function jsonValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}
