/**
 * The reference storage writer: `PUT | GET | HEAD | DELETE /objects/{key}` behind a Function URL
 * or an HTTP API. The change log lives in module scope: one writer instance per execution
 * environment, its lease tied to each invocation's deadline (no timer: a frozen environment
 * holds no lease it cannot honour).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { loadConfig } from '../lib/config.js';
import { DynamoChangeLog } from '../lib/changelog/dynamo-change-log.js';
import { createDynamoDBClient, createS3Client } from '../lib/aws/clients.js';
import { TieredStore } from '../lib/tiered/tiered-store.js';
import { handleObjectsRequest } from '../lib/api/objects-http.js';

const logger = new Logger({ serviceName: 'tierlog-objects' });
const config = loadConfig();
const dynamodb = createDynamoDBClient();
const changeLog = new DynamoChangeLog({ config, dynamodb, renewInBackground: false });
const store = new TieredStore({
  config,
  changeLog,
  dynamodb,
  s3: createS3Client(),
  onCleanupError: (err, context) => logger.warn('cleanup left for the sweeper', { ...context, error: String(err) }),
});

export const handler = async (event: APIGatewayProxyEventV2, context: Context): Promise<APIGatewayProxyStructuredResultV2> => {
  logger.addContext(context);
  changeLog.bindInvocation(context);
  return handleObjectsRequest(store, event, { onError: (err) => logger.error('request failed', err as Error) });
};
