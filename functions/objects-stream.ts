/**
 * DynamoDB Streams consumer of the objects table: deletes the blob an item stopped pointing at
 * (see lib/handlers/objects-stream.ts, and lib/recovery/stream-cleanup.ts for the rule).
 */
import { createObjectsStreamHandler } from '../lib/handlers/objects-stream.js';

export const handler = createObjectsStreamHandler();
