/**
 * The protocol step a request belongs to, named from the request alone: the one classifier of
 * the requests tierlog sends, shared by the drill's crash reports, the crash matrices, the
 * refused-steps tables and the fault simulation, so a change to a request's shape is made here
 * once and every tool that aims a fault at a step follows it.
 *
 * A request is recognised by its command, its table, and the placeholders of its expressions.
 * The placeholders are the builders' own aliases (`#deleted`, `#blob`, `:entry`, `:expectedBlob`,
 * ...), never attribute names, so renamed HV attributes (`hvAttributes`) classify the same. The
 * shapes come from `lib/changelog/instance-table.ts` (the change log's writes and the sweeper's
 * claim), `lib/tiered/hv-table.ts` (HV writes) and `lib/tiered/upload-session-item.ts` (upload
 * sessions). A request to another table or bucket, or to a key outside the prefix (a writer's own
 * rows and files, sent through the same clients), is `other`, never one of the store's steps.
 */
import type { TierlogConfig } from '../config.js';
import { ValidationError } from '../errors.js';
import { CHANGELOG_ATTR, SESSION_ID_PREFIX } from '../schema/tables.js';
import type { RequestInfo } from './fault-injector.js';

/** The protocol steps a request can belong to ({@link protocolStepOf}); a fault rule aims at one with `atStep`. */
export type ProtocolStep =
  /** Change log: the UpdateItem that adds an entry to a writer's instance item. */
  | 'record'
  /** Change log: the UpdateItem that removes an entry (an instance's or an upload session's). */
  | 'remove'
  /** Change log: a sweeper's claim of an instance item. */
  | 'claim'
  /** Change log: a sweeper's drop of settled entries and new claim expiry, under its claim. */
  | 'settle'
  /** Change log: any other UpdateItem of a writer (a lease renewal). */
  | 'renew'
  /** Change log: an upload session created (PutItem; a sweeper's put-back of a writer instance's item is `other`). */
  | 'session-create'
  /** Change log: an upload session read (GetItem; a read of a writer instance's item is `other`). */
  | 'session-read'
  /** Change log: the multipart upload's id noted on its session. */
  | 'session-note-upload'
  /** Change log: an abort's claim of its session (fences a complete in flight). */
  | 'session-abort-claim'
  /** Change log: an upload session deleted (DeleteItem; a sweeper's delete or retirement of a writer instance is `other`). */
  | 'session-delete'
  /** HV: the read of an object (GetItem). */
  | 'hv-read'
  /** HV: a small body's write, which refuses to replace a blob. */
  | 'hv-inline'
  /** HV: a delete's deletion marker, which refuses to replace a blob. */
  | 'hv-delete'
  /** HV: the commit of a change that is not logged: a write that expects the blob it replaces. */
  | 'hv-commit'
  /** HV: any other UpdateItem (a time-to-idle refresh). */
  | 'hv-write'
  /** HV: an item removed (DeleteItem: an expired item removed as TTL would). */
  | 'hv-remove'
  /** The fenced commit: TransactWriteItems across HV and the change log. */
  | 'commit'
  /** LT: a blob uploaded in one request. */
  | 'upload'
  | 'mp-create'
  | 'mp-part'
  | 'mp-list-parts'
  | 'mp-complete'
  | 'mp-abort'
  /** LT: one blob deleted. */
  | 'delete-blob'
  /** LT: blobs deleted in a batch (the sweeper). */
  | 'delete-blobs'
  /** Anything else (named by its command). */
  | 'other';

/**
 * What the classifier reads of a configuration: its tables and, when given, its bucket and
 * prefix (an S3 request elsewhere is then `other`).
 */
export type ProtocolStepConfig = Pick<TierlogConfig, 'changeLogTable' | 'objectsTable'> & Partial<Pick<TierlogConfig, 'bucket' | 'prefix'>>;

/** The step `request` belongs to, for a store or sweeper configured with `config`. */
export function protocolStepOf(request: RequestInfo, config: ProtocolStepConfig): ProtocolStep {
  if (!isTheStores(request, config)) return 'other';
  const input = request.input;
  const table = typeof input.TableName === 'string' ? input.TableName : undefined;
  const update = typeof input.UpdateExpression === 'string' ? input.UpdateExpression : '';
  const condition = typeof input.ConditionExpression === 'string' ? input.ConditionExpression : '';
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
  switch (request.command) {
    case 'UpdateItemCommand':
      if (table === config.changeLogTable) {
        if (update.includes(':entry')) return 'record';
        if (update.includes('REMOVE #c ADD #n :minus')) return 'remove';
        if (update.includes(':aborted')) return 'session-abort-claim';
        if (update.includes('#state = :claimed')) return 'claim';
        if (condition.includes('#by = :me')) return 'settle';
        if (update.includes('#u.#s3')) return 'session-note-upload';
        return 'renew';
      }
      if (table === config.objectsTable) {
        const refusesBlob = condition.includes('attribute_not_exists(#blob)');
        if (refusesBlob) return update.includes('#deleted = ') ? 'hv-delete' : 'hv-inline';
        if (values[':expectedBlob'] !== undefined) return 'hv-commit';
        return 'hv-write';
      }
      return 'other';
    case 'GetItemCommand':
      if (table === config.changeLogTable) return isSessionRequest(input) ? 'session-read' : 'other';
      return table === config.objectsTable ? 'hv-read' : 'other';
    case 'PutItemCommand':
      return table === config.changeLogTable && isSessionRequest(input) ? 'session-create' : 'other';
    case 'DeleteItemCommand':
      if (table === config.changeLogTable) return isSessionRequest(input) || condition.includes(':abort') ? 'session-delete' : 'other';
      return table === config.objectsTable ? 'hv-remove' : 'other';
    case 'TransactWriteItemsCommand':
      return 'commit';
    case 'PutObjectCommand':
      return 'upload';
    case 'CreateMultipartUploadCommand':
      return 'mp-create';
    case 'UploadPartCommand':
      return 'mp-part';
    case 'ListPartsCommand':
      return 'mp-list-parts';
    case 'CompleteMultipartUploadCommand':
      return 'mp-complete';
    case 'AbortMultipartUploadCommand':
      return 'mp-abort';
    case 'DeleteObjectCommand':
      return 'delete-blob';
    case 'DeleteObjectsCommand':
      return 'delete-blobs';
    default:
      return 'other';
  }
}

/**
 * Whether `request` is to the store's resources: a transaction that writes one of its tables, an
 * S3 request to its bucket (under its prefix, for one key or every key of a batch delete), when the
 * configuration names them.
 * Single-table requests are told apart by their table in {@link protocolStepOf}.
 */
function isTheStores(request: RequestInfo, config: ProtocolStepConfig): boolean {
  const input = request.input;
  if (request.command === 'TransactWriteItemsCommand') {
    const items = Array.isArray(input.TransactItems) ? (input.TransactItems as Record<string, { TableName?: unknown } | undefined>[]) : [];
    const ours = new Set<unknown>([config.changeLogTable, config.objectsTable]);
    return items.some((item) => Object.values(item).some((action) => ours.has(action?.TableName)));
  }
  if (request.service !== 's3') return true;
  if (config.bucket !== undefined && input.Bucket !== config.bucket) return false;
  if (config.prefix === undefined) return true;
  const under = (key: unknown) => typeof key === 'string' && key.startsWith(`${config.prefix}/`);
  if (typeof input.Key === 'string') return under(input.Key);
  // A batch delete names its keys in `Delete.Objects`: the store's name only keys under its prefix.
  const batch = (input.Delete as { Objects?: unknown } | undefined)?.Objects;
  if (Array.isArray(batch)) return batch.every((object) => under((object as { Key?: unknown } | undefined)?.Key));
  return true;
}

/**
 * Whether a change-log request's key (a put's item) is an upload session's (its id starts with
 * `SESSION_ID_PREFIX`), not a writer instance's: a writer's read of its own items (its log's
 * `scan`) and a sweeper's read, retirement, put-back or delete of an instance are no session's
 * steps. (A session made before the prefix, a bare UUIDv7, cannot be told from an instance by its key.)
 */
function isSessionRequest(input: Record<string, unknown>): boolean {
  const pk = ((input.Key ?? input.Item) as Record<string, unknown> | undefined)?.[CHANGELOG_ATTR.pk];
  const id = typeof pk === 'string' ? pk : (pk as { S?: unknown } | undefined)?.S;
  return typeof id === 'string' && id.startsWith(SESSION_ID_PREFIX);
}

/** Every {@link ProtocolStep} (a record of them all: a step added to the type and not here does not compile). */
const PROTOCOL_STEPS: Readonly<Record<ProtocolStep, true>> = {
  record: true,
  remove: true,
  claim: true,
  settle: true,
  renew: true,
  'session-create': true,
  'session-read': true,
  'session-note-upload': true,
  'session-abort-claim': true,
  'session-delete': true,
  'hv-read': true,
  'hv-inline': true,
  'hv-delete': true,
  'hv-commit': true,
  'hv-write': true,
  'hv-remove': true,
  commit: true,
  upload: true,
  'mp-create': true,
  'mp-part': true,
  'mp-list-parts': true,
  'mp-complete': true,
  'mp-abort': true,
  'delete-blob': true,
  'delete-blobs': true,
  other: true,
};

/**
 * A request matcher (a fault rule's `match`) for the requests of `step`.
 *
 * @throws ValidationError for a `step` that is not a {@link ProtocolStep} (`'comit'`, `'Commit'`,
 *   `'put'`), or a `config` that names no `changeLogTable` or `objectsTable` (a fixture passed for
 *   its `config`), or a `bucket` or `prefix` that is no string: no request would ever match, and
 *   a crash test aimed at it would run without its crash.
 */
export function atStep(step: ProtocolStep, config: ProtocolStepConfig): (request: RequestInfo) => boolean {
  if (typeof step !== 'string' || !Object.hasOwn(PROTOCOL_STEPS, step)) {
    throw new ValidationError(
      `atStep: ${JSON.stringify(step)} is no protocol step; the steps are ${Object.keys(PROTOCOL_STEPS).join(', ')}`,
      'step',
    );
  }
  assertStepConfig(config);
  return (request) => protocolStepOf(request, config) === step;
}

/** Refuses a configuration in which no request could be the store's (see {@link atStep}). */
function assertStepConfig(config: ProtocolStepConfig): void {
  if (typeof config !== 'object' || config === null) {
    throw new ValidationError('atStep takes the configuration of the store (changeLogTable, objectsTable, bucket, prefix)', 'config');
  }
  for (const name of ['changeLogTable', 'objectsTable'] as const) {
    if (typeof config[name] !== 'string' || config[name] === '') {
      throw new ValidationError(
        `atStep: the configuration names no ${name} (got ${JSON.stringify(config[name])}): no request would be the store's`,
        name,
      );
    }
  }
  for (const name of ['bucket', 'prefix'] as const) {
    if (config[name] !== undefined && typeof config[name] !== 'string') {
      throw new ValidationError(`atStep: the configuration's ${name} must be a string (got ${JSON.stringify(config[name])})`, name);
    }
  }
}
