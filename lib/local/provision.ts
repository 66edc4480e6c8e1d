/**
 * Creates what tierlog needs on a local stack (or a scratch account): both tables, from the one
 * schema in `lib/schema/tables.ts`, and the bucket. Idempotent: what exists is left alone, once it
 * is checked to have the keys and indexes tierlog needs: a table of that name made for another
 * schema (another key attribute, `hvAttributes.key` changed since, no lease index) is a
 * `ConfigError`, never taken as it is (every write to it would fail later, far from the cause). It
 * resolves once each table and each index it needs is `ACTIVE` (an index DynamoDB is backfilling
 * refuses every Query).
 * Production resources come from the CDK construct in `infra/`, not from here.
 */
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  type TableDescription,
  waitUntilTableExists,
  waitUntilTableNotExists,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { hvAttributeNames, type TierlogConfig, validateConfig } from '../config.js';
import { createTableInput, schemaMismatch } from '../schema/table-shape.js';
import { changeLogTableSchema, objectsTableSchema } from '../schema/tables.js';
import { createDynamoDBClient, createS3Client } from '../aws/clients.js';
import { awsErrorName, translateAwsError } from '../aws/errors.js';
import { AccessDeniedError, ConfigError, TierlogError } from '../errors.js';
import { assertOptions } from '../plain-options.js';

export { createTableInput } from '../schema/table-shape.js';

/**
 * Creates the change-log table, the objects table and the bucket where missing.
 *
 * @throws ConfigError for a configuration every other entry point refuses (validateConfig: a name
 *   DynamoDB or S3 refuses, a misspelt setting), before any request: it made what it could of it
 *   (a bucket beside a table name DynamoDB refused; tables keyed by `key` under a misspelt
 *   `hvAtributes`), or failed with a `TypeError` given none.
 * @throws ConfigError when `changeLogTable` and `objectsTable` name one table, before any request:
 *   made for one of them, it was refused for the other as a table "of another schema" to delete
 *   (this very call had made it), or, with `hvAttributes.key` `pk`, taken for both when the change
 *   log's was made first: the change log's items and the objects in one table, by chance.
 * @throws ConfigError when the two table names differ in case alone (one table to DynamoDB Local), before any request.
 * @throws ValidationError when `clients` names a client it does not take (a misspelt `dynamoDB`
 *   would create the tables through a client from `process.env`), before any request.
 * @throws AccessDeniedError when S3 refuses the bucket's HeadBucket (on AWS most often another
 *   account's bucket of the name), ResourceMissingError naming its region when the bucket is in
 *   another region than the S3 client's; no bucket is made then.
 * @throws TierlogError when an index a table needs is still not ACTIVE a minute on (on AWS, one
 *   added to an existing table is CREATING while DynamoDB backfills it); it resolves only once
 *   each is ACTIVE.
 * @throws the first failure of the three (in the order table, table, bucket), once all three have
 *   ended: nothing of the call is under way after it rejects.
 */
export async function provisionLocal(config: TierlogConfig, clients: { dynamodb?: DynamoDBClient; s3?: S3Client } = {}): Promise<void> {
  validateConfig(config);
  assertOptions(clients, ['dynamodb', 's3'], 'provisionLocal');
  refuseOneLocalTable(config);
  const dynamodb = clients.dynamodb ?? createDynamoDBClient();
  const s3 = clients.s3 ?? createS3Client();
  try {
    // All three settled before anything is thrown: one that fails (a bucket it may not read, a
    // table of another schema) must not leave the others' requests in flight after the call
    // rejects (creating a table the caller believes was not made, on clients this call destroys).
    const settled = await Promise.allSettled([
      ensureTable(dynamodb, createTableInput(changeLogTableSchema, config.changeLogTable), 'changeLogTable'),
      // The partition key follows the configured name of the key attribute.
      ensureTable(
        dynamodb,
        createTableInput(
          { ...objectsTableSchema, partitionKey: { ...objectsTableSchema.partitionKey, name: hvAttributeNames(config).key } },
          config.objectsTable,
        ),
        'objectsTable',
      ),
      ensureBucket(s3, config.bucket),
    ]);
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  } finally {
    if (clients.dynamodb === undefined) dynamodb.destroy();
    if (clients.s3 === undefined) s3.destroy();
  }
}

/**
 * Table names that differ in case alone are two tables on AWS (and to validateConfig), one to
 * DynamoDB Local, which takes names without case: the second CreateTable failed with a bare
 * `InternalFailure` (exit 1 of `npm start`, naming nothing), or the first table was taken for both.
 *
 * @throws ConfigError naming both settings, before any request.
 */
export function refuseOneLocalTable(config: TierlogConfig): void {
  if (config.changeLogTable.toLowerCase() !== config.objectsTable.toLowerCase()) return;
  throw new ConfigError(
    `changeLogTable "${config.changeLogTable}" and objectsTable "${config.objectsTable}" differ in case alone: two tables on AWS, ` +
      'one to DynamoDB Local, which takes table names without case; name two that differ in more than case',
    'objectsTable',
  );
}

async function ensureTable(
  client: DynamoDBClient,
  input: CreateTableCommandInput,
  setting: 'changeLogTable' | 'objectsTable',
): Promise<void> {
  const TableName = input.TableName!;
  let found = await describeTable(client, TableName);
  if (found?.TableStatus === 'DELETING') {
    // On AWS a table is DELETING for a while after DeleteTable (a test's teardown on a scratch
    // account): made again once it is gone. Taken as existing, the wait for it to become active
    // ran out after a minute (a waiter's TimeoutError), and nothing was made.
    await waitUntilTableNotExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName });
    found = undefined;
  }
  const existing = found ?? (await createTable(client, input));
  const mismatch = schemaMismatch(existing, input);
  if (mismatch !== undefined) {
    throw new ConfigError(
      `table ${TableName} exists with another schema than the ${setting === 'objectsTable' ? 'objects' : 'change-log'} table's: ${mismatch}. ` +
        'provisionLocal does not change a table: name one of this schema, or delete this one',
      setting,
    );
  }
  if (existing.TableStatus !== 'ACTIVE') await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName });
  await waitForIndexes(client, existing, input);
}

/** How long `waitForIndexes` waits for an index to become active: the table waiter's minute. */
const INDEX_WAIT_MS = 60_000;

/**
 * Waits until each index `input` needs is `ACTIVE` on the table. On AWS an index added to an
 * existing table (UpdateTable, after this refused the table for want of it) is `CREATING` while
 * DynamoDB backfills it, the table `ACTIVE` all along, and every Query of it is refused ("Cannot
 * read from backfilling global secondary index"): taken as ready, the sweeper's every sweep failed.
 * Past a minute, a `TierlogError` naming the index and its status.
 */
async function waitForIndexes(client: DynamoDBClient, described: TableDescription, input: CreateTableCommandInput): Promise<void> {
  const TableName = input.TableName!;
  const wanted = new Set((input.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  const deadline = Date.now() + INDEX_WAIT_MS;
  let table = described;
  for (;;) {
    const pending = (table.GlobalSecondaryIndexes ?? []).filter(
      (index) => wanted.has(index.IndexName) && index.IndexStatus !== undefined && index.IndexStatus !== 'ACTIVE',
    );
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new TierlogError(
        `table ${TableName}: ${pending.map((index) => `index ${index.IndexName} is ${index.IndexStatus}`).join(', ')} after ${INDEX_WAIT_MS / 1_000} s (DynamoDB is backfilling it): run provisionLocal again once it is ACTIVE`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    table = (await client.send(new DescribeTableCommand({ TableName }))).Table ?? {};
  }
}

/** The table's description, or undefined when there is no such table. */
async function describeTable(client: DynamoDBClient, TableName: string): Promise<TableDescription | undefined> {
  try {
    return (await client.send(new DescribeTableCommand({ TableName }))).Table;
  } catch (err) {
    if (awsErrorName(err) !== 'ResourceNotFoundException') throw err;
    return undefined;
  }
}

/** Creates the table (another run may have just done so) and describes it once it is active. */
async function createTable(client: DynamoDBClient, input: CreateTableCommandInput): Promise<TableDescription> {
  const TableName = input.TableName!;
  try {
    await client.send(new CreateTableCommand(input));
  } catch (err) {
    // By name, as every AWS error here: a client of another copy of the SDK throws its own class.
    if (awsErrorName(err) !== 'ResourceInUseException') throw err;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 2 }, { TableName });
  return (await client.send(new DescribeTableCommand({ TableName }))).Table!;
}

/**
 * Makes the bucket unless HeadBucket finds it. What else HeadBucket answers is thrown translated
 * (translateAwsError), never taken for a missing bucket: on AWS a bucket these credentials may not
 * read is a bare 403 (no body, so no error name: the SDK's "Unknown: UnknownError", naming neither
 * the bucket nor the cause), most often another account's bucket of the name (bucket names are
 * global), an `AccessDeniedError` saying so; one in another region than the client's is a bare
 * 301, a `ResourceMissingError` naming the bucket's region.
 */
async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (err) {
    const name = awsErrorName(err);
    if (name !== 'NotFound' && name !== 'NoSuchBucket') {
      const translated = translateAwsError(err, { operation: 'HeadBucket', bucket });
      if (translated instanceof AccessDeniedError) {
        translated.message += `; bucket names are global: "${bucket}" may be another account's bucket (name one of your own)`;
      }
      throw translated;
    }
  }
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = awsErrorName(err);
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw err;
  }
}
