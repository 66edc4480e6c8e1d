/**
 * Starts the embedded local stack once for the whole run. The endpoints reach the test workers
 * through the SDK's own environment variables; `teardown` stops both servers.
 */
import { startLocalStack, type LocalStack } from '../../lib/local/stack.js';

let stack: LocalStack | undefined;

export async function setup(): Promise<void> {
  stack = await startLocalStack({ exportEnv: true });
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}
