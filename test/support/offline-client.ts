/**
 * A DynamoDB client placed where `config` places it (AWS's own endpoint by default) whose requests
 * never leave the process: each one sent is counted, and fails. For the test tools that must refuse
 * AWS before sending anything (`againstAws`): the count says whether they did.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

export interface OfflineClient {
  readonly client: DynamoDBClient;
  /** Requests the client tried to send. */
  sent(): number;
}

export function offlineDynamoDBClient(config: { endpoint?: string; region?: string; useDualstackEndpoint?: boolean } = {}): OfflineClient {
  let sent = 0;
  const client = new DynamoDBClient({
    region: 'us-east-1',
    ...config,
    // Plain SDK clients read AWS_ENDPOINT_URL_DYNAMODB (the global setup's local stack) unless told not to.
    ignoreConfiguredEndpointUrls: true,
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
    requestHandler: {
      handle: async () => {
        sent++;
        throw new Error('no network in this test');
      },
    },
  });
  return { client, sent: () => sent };
}
