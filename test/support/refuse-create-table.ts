/**
 * Preloaded into a child process (`node --import tsx --import ./test/support/refuse-create-table.ts
 * ...`): every CreateTable its DynamoDB clients send is refused, as DynamoDB refuses a request it
 * finds invalid, before it is sent. An error that comes once a local stack is up (the drill's
 * provisioning), for tests of what a process does after such an error; the configuration itself
 * is sound, so nothing refuses it before the stack starts.
 */
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

const send = DynamoDBClient.prototype.send;
DynamoDBClient.prototype.send = function (this: DynamoDBClient, ...args: Parameters<typeof send>) {
  if (args[0] instanceof CreateTableCommand) {
    const refusal = Object.assign(new Error('injected: CreateTable refused'), {
      name: 'ValidationException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    return Promise.reject(refusal);
  }
  return send.apply(this, args);
} as typeof send;
