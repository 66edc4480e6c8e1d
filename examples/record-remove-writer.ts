/**
 * Example (b): a writer that keeps its own S3 steps and uses only the seed's change-log contract
 * (`record` / `remove`) around them, the "record/remove client". Every blob it may write or
 * replace is recorded before the first side effect; if the process dies between the steps, the
 * sweeper finds the entry once the writer's lease expires, reads the objects table, and deletes
 * exactly the blob nothing points at.
 *
 * The pointer lives in the objects table (partition key `key`, the blob key in `blob`), where the
 * sweeper looks. Commit it well inside the lease (a Lambda invocation's deadline, or the
 * renewing timer of a long-running process); `TieredStore` adds a fenced commit that closes even
 * that window, and is the better choice when it fits.
 */
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type ChangeLog, type TierlogConfig, newBlobKey, newChangeId } from 'tierlog';

export interface ReportWriterDeps {
  readonly config: TierlogConfig;
  /**
   * The change log: a `DynamoChangeLog`, whose `abandon` leaves an entry to the sweeper. A log keeps
   * every entry recorded and not removed alive (it renews the lease of its instance while it has
   * one, on its timer or with the next writes): the sweeper claims an instance only once its lease
   * has ended, so an entry the writer neither removes nor abandons is settled only after the
   * process stops.
   */
  readonly changeLog: ChangeLog & { abandon?(changeId: string): void };
  readonly dynamodb: DynamoDBClient;
  readonly s3: S3Client;
}

/**
 * Stores `body` as the report `id`: upload a new blob, point the item at it (compare-and-swap on
 * the blob it replaced), delete the old blob. Returns the new blob's key.
 */
export async function saveReport(deps: ReportWriterDeps, id: string, body: Uint8Array): Promise<string> {
  const { config, changeLog, s3 } = deps;
  const doc = DynamoDBDocumentClient.from(deps.dynamodb);
  const current = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { key: id }, ConsistentRead: true }));
  const old = current.Item?.blob as string | undefined;
  const blob = newBlobKey(config.prefix, id); // never reused: a blob once unreferenced stays so

  const changeId = newChangeId();
  try {
    await changeLog.record(changeId, { id, new: blob, ...(old !== undefined ? { old } : {}) }); // durable before any side effect
  } catch (err) {
    // Its outcome may be unknown (no answer): the entry may be there. Nothing was uploaded: remove it.
    await settle(changeLog, changeId, true);
    throw err;
  }
  try {
    await s3.send(new PutObjectCommand({ Bucket: config.bucket, Key: blob, Body: body }));
    await doc.send(
      new UpdateCommand({
        TableName: config.objectsTable,
        Key: { key: id },
        UpdateExpression: 'SET #blob = :new, #size = :size ADD #version :one',
        ConditionExpression: old === undefined ? 'attribute_not_exists(#blob)' : '#blob = :old',
        ExpressionAttributeNames: { '#blob': 'blob', '#size': 'size', '#version': 'version' },
        ExpressionAttributeValues: { ':new': blob, ':size': body.byteLength, ':one': 1, ...(old !== undefined ? { ':old': old } : {}) },
      }),
    );
  } catch (err) {
    // An error is no proof the pointer was not written: an answer lost after the update was applied
    // is sent again by the SDK, and the retry fails its condition on the item the first one wrote.
    // Deleting the new blob then would lose the report. Ask the item (consistently) first.
    const landed = await doc.send(new GetCommand({ TableName: config.objectsTable, Key: { key: id }, ConsistentRead: true })).then(
      (read) => read.Item?.blob === blob,
      () => undefined,
    );
    if (landed === undefined) {
      // Not known: the entry stays, and the sweeper decides by the item, once the log stops keeping it alive.
      changeLog.abandon?.(changeId);
      throw err;
    }
    if (!landed) {
      // Lost the race or failed: the new blob is unreferenced. Clean up in-process, then remove;
      // a delete that failed leaves the entry, which names the blob to the sweeper.
      const deleted = await s3.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: blob })).then(
        () => true,
        () => false,
      );
      await settle(changeLog, changeId, deleted);
      throw err instanceof ConditionalCheckFailedException ? new Error(`report ${id} was changed concurrently`) : err;
    }
    // It landed: the write stands, and goes on as one answered.
  }
  // The old blob is no longer referenced; a delete that failed leaves it to the sweeper, named by the entry.
  const deleted =
    old === undefined ||
    (await s3.send(new DeleteObjectCommand({ Bucket: config.bucket, Key: old })).then(
      () => true,
      () => false,
    ));
  await settle(changeLog, changeId, deleted);
  return blob;
}

/**
 * Removes the entry once its cleanup is `done`; else (or when the remove fails) leaves it to the
 * sweeper: `abandon` stops the log keeping its instance alive for it, so a sweeper can claim it.
 */
async function settle(changeLog: ReportWriterDeps['changeLog'], changeId: string, done: boolean): Promise<void> {
  if (done) {
    try {
      await changeLog.remove(changeId);
      return;
    } catch {
      // Left to the sweeper, as a cleanup that failed.
    }
  }
  changeLog.abandon?.(changeId);
}
