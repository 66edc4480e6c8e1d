/** The objects table's real stream on DynamoDB Local (see lib/local/stream-reader.ts). */
export { StreamReader, asTtlDeletion, streamEvent } from '../../lib/local/stream-reader.js';
