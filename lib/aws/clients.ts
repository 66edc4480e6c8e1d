/**
 * Default AWS clients. Region, credentials and endpoints come from the SDK's own configuration
 * chain (`AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`, ...); retries are the
 * SDK's standard mode (exponential backoff with jitter, `AWS_MAX_ATTEMPTS`, default 3 here 5).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';

const DEFAULT_MAX_ATTEMPTS = 5;

/** A DynamoDB client from the environment, with standard retries. */
export function createDynamoDBClient(): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: maxAttempts(), retryMode: 'standard' });
}

/**
 * An S3 client from the environment. Path-style addressing when an endpoint override is set
 * (local servers do not serve virtual-hosted buckets).
 */
export function createS3Client(): S3Client {
  const endpoint = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3Client({
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
    forcePathStyle: endpoint !== undefined,
  });
}

/**
 * How tierlog reads numbers: as JS numbers when they are exact, else as their string. A stored
 * number no JS number holds (a corrupt or forged `1e30`) then fails schema validation and is
 * reported, instead of making the whole item unreadable. A fresh object per call: the document
 * client writes into the options it is given.
 */
export function unmarshallOptions(): { wrapNumbers: (value: string) => number | string } {
  return {
    wrapNumbers: (value) => {
      const n = Number(value);
      return Number.isFinite(n) && (!Number.isInteger(n) || Number.isSafeInteger(n)) ? n : value;
    },
  };
}

/** The document client tierlog uses on top of `client`: plain JS values, no empty-value surprises. */
export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: unmarshallOptions(),
  });
}

function maxAttempts(): number {
  const raw = Number(process.env.AWS_MAX_ATTEMPTS);
  return Number.isInteger(raw) && raw > 0 ? raw : DEFAULT_MAX_ATTEMPTS;
}
