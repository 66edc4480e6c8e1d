/**
 * The cold-start yardstick: a handler that only creates the SDK clients (as the tierlog handlers
 * do, through lib/aws/clients) and answers with one GetItem, no tierlog code on its path.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createDynamoDBClient, createS3Client } from '../../lib/aws/clients.js';

const dynamodb = createDynamoDBClient();
export const s3 = createS3Client();
const table = process.env.TIERLOG_OBJECTS_TABLE ?? '';

export const handler = async (): Promise<{ statusCode: number }> => {
  const out = await dynamodb.send(new GetItemCommand({ TableName: table, Key: { key: { S: 'cold/absent' } }, ConsistentRead: true }));
  return { statusCode: out.Item === undefined ? 404 : 200 };
};
