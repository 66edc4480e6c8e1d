/**
 * What IAM authorises each SDK call tierlog makes: a table `command → (action, where the
 * resource is in the input)`, and {@link permissionsOf}, which reads a recorded command's input
 * and names the tierlog resource each action is needed on.
 *
 * The rules (AWS's service authorization reference):
 *  - DynamoDB: a call is authorised by the action of its name on the table it names, or on the
 *    index ARN for a Query/Scan with `IndexName`. `TransactWriteItems` has no action of its own:
 *    each element is authorised as `PutItem`, `UpdateItem`, `DeleteItem` or `ConditionCheckItem`
 *    on its own table. `BatchGetItem` is authorised per table it reads.
 *  - S3: `HeadObject` is `s3:GetObject`; the multipart calls (`CreateMultipartUpload`,
 *    `UploadPart`, `CompleteMultipartUpload`) are `s3:PutObject`, `AbortMultipartUpload` is
 *    `s3:AbortMultipartUpload`; `DeleteObjects` is `s3:DeleteObject` on each key; `ListObjectsV2`
 *    is `s3:ListBucket` on the bucket, with its `Prefix` as the `s3:prefix` condition key.
 *
 * A command this table does not know, or a resource outside the configured tables, index and
 * `<prefix>/`, is an error: the IAM test fails until the mapping (and a grant) covers it.
 */
import type { TierlogConfig } from '../lib/config.js';
import { LEASE_INDEX_NAME } from '../lib/constants.js';

/**
 * The resources tierlog grants on: the two tables, the lease index, the objects under
 * `<prefix>/` (`<bucket>/<prefix>/*`), and listings of the bucket under `<prefix>/` (the bucket
 * ARN, with `s3:prefix` like `<prefix>/*`).
 */
export type ResourceKind = 'changeLogTable' | 'leaseIndex' | 'objectsTable' | 'prefixObjects' | 'prefixListing' | 'bucket';

/** One action on one resource. */
export interface Permission {
  /** The IAM action (`dynamodb:UpdateItem`). */
  readonly action: string;
  /** The kind of resource it is granted on. */
  readonly resource: ResourceKind;
}

/** Where a command names its resources. */
export type CommandTarget =
  /** `TableName` (and `IndexName` for Query/Scan). */
  | 'table'
  /** The tables of `RequestItems` (BatchGetItem, BatchWriteItem). */
  | 'requestItems'
  /** Each element of `TransactItems`, with the action of its kind. */
  | 'transactItems'
  /** `Bucket` + `Key`. */
  | 'key'
  /** `Bucket` + every `Delete.Objects[].Key`. */
  | 'deleteKeys'
  /** `Bucket` + `Prefix` (the `s3:prefix` condition key). */
  | 'listPrefix'
  /** `Bucket` + `Key` as the `s3:prefix` of a listing (see HeadObject). */
  | 'keyListing'
  /** `Bucket` + a `Prefix` under the configured prefix, granted on the bucket (no condition key). */
  | 'bucketListing';

/** The IAM action an SDK command needs, and where the command names the resources it is granted on. */
export interface CommandAction {
  /** The IAM action (`dynamodb:UpdateItem`); a transaction's elements each carry their own. */
  readonly action: string;
  /** Where the command names its resources. */
  readonly target: CommandTarget;
}

/** The mapping, one row per SDK command (names without `Command`). */
export const COMMAND_ACTIONS: Readonly<Record<'dynamodb' | 's3', Readonly<Record<string, readonly CommandAction[]>>>> = {
  dynamodb: {
    GetItem: [{ action: 'dynamodb:GetItem', target: 'table' }],
    PutItem: [{ action: 'dynamodb:PutItem', target: 'table' }],
    UpdateItem: [{ action: 'dynamodb:UpdateItem', target: 'table' }],
    DeleteItem: [{ action: 'dynamodb:DeleteItem', target: 'table' }],
    Query: [{ action: 'dynamodb:Query', target: 'table' }],
    Scan: [{ action: 'dynamodb:Scan', target: 'table' }],
    BatchGetItem: [{ action: 'dynamodb:BatchGetItem', target: 'requestItems' }],
    BatchWriteItem: [{ action: 'dynamodb:BatchWriteItem', target: 'requestItems' }],
    DescribeTimeToLive: [{ action: 'dynamodb:DescribeTimeToLive', target: 'table' }],
    DescribeTable: [{ action: 'dynamodb:DescribeTable', target: 'table' }],
    TransactWriteItems: [{ action: '(per element)', target: 'transactItems' }],
  },
  s3: {
    PutObject: [{ action: 's3:PutObject', target: 'key' }],
    CreateMultipartUpload: [{ action: 's3:PutObject', target: 'key' }],
    UploadPart: [{ action: 's3:PutObject', target: 'key' }],
    CompleteMultipartUpload: [{ action: 's3:PutObject', target: 'key' }],
    AbortMultipartUpload: [{ action: 's3:AbortMultipartUpload', target: 'key' }],
    GetObject: [{ action: 's3:GetObject', target: 'key' }],
    // Without s3:ListBucket, S3 answers a HEAD of a missing key 403, not 404: no existence check
    // relies on a HEAD or a GET's 404 (the sweeper lists the exact key; an upload session's
    // complete sizes the blob from its listed parts, and a retried one from a GET answered 200).
    HeadObject: [{ action: 's3:GetObject', target: 'key' }],
    ListParts: [{ action: 's3:ListMultipartUploadParts', target: 'key' }],
    DeleteObject: [{ action: 's3:DeleteObject', target: 'key' }],
    DeleteObjects: [{ action: 's3:DeleteObject', target: 'deleteKeys' }],
    ListObjectsV2: [{ action: 's3:ListBucket', target: 'listPrefix' }],
    // s3:ListBucketMultipartUploads takes no s3:prefix condition: granted on the bucket. The
    // sweeper lists under an upload session's blob key, and under `<prefix>/` for dead writers'
    // uploads; both prefixes must lie under the configured one.
    ListMultipartUploads: [{ action: 's3:ListBucketMultipartUploads', target: 'bucketListing' }],
  },
};

/** The action of each kind of `TransactWriteItems` element. */
export const TRANSACT_ELEMENT_ACTIONS: Readonly<Record<string, string>> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
};

/** A command as the recorder saw it. */
export interface SentCommand {
  /** The service the command went to. */
  readonly service: 'dynamodb' | 's3';
  /** The SDK command's name without `Command` (`UpdateItem`). */
  readonly command: string;
  /** The command's input, as sent. */
  readonly input: Readonly<Record<string, unknown>>;
}

/** A command the mapping cannot place: unknown, or on a resource tierlog does not grant. */
export class UnmappedCommandError extends Error {
  override readonly name = 'UnmappedCommandError';
}

/** The permissions `sent` needs, given the configuration it ran with. */
export function permissionsOf(sent: SentCommand, config: TierlogConfig): Permission[] {
  const rows = COMMAND_ACTIONS[sent.service][sent.command];
  if (rows === undefined)
    throw new UnmappedCommandError(`${sent.service}:${sent.command} has no row in COMMAND_ACTIONS (infra/iam-map.ts)`);
  return rows.flatMap((row) => permissionsOfRow(row, sent, config));
}

function permissionsOfRow(row: CommandAction, sent: SentCommand, config: TierlogConfig): Permission[] {
  const input = sent.input as Record<string, any>;
  switch (row.target) {
    case 'table':
      return [{ action: row.action, resource: tableKind(input.TableName, input.IndexName, config, sent) }];
    case 'requestItems':
      return Object.keys(input.RequestItems ?? {}).map((table) => ({
        action: row.action,
        resource: tableKind(table, undefined, config, sent),
      }));
    case 'transactItems':
      return (input.TransactItems as Array<Record<string, { TableName?: string }>>).flatMap((element) =>
        Object.entries(element).map(([kind, op]) => {
          const action = TRANSACT_ELEMENT_ACTIONS[kind];
          if (action === undefined) throw new UnmappedCommandError(`TransactWriteItems element ${kind} has no action`);
          return { action, resource: tableKind(op.TableName, undefined, config, sent) };
        }),
      );
    case 'key':
      return [{ action: row.action, resource: objectKind(input.Bucket, input.Key, config, sent) }];
    case 'deleteKeys':
      return ((input.Delete?.Objects ?? []) as Array<{ Key?: string }>).map((o) => ({
        action: row.action,
        resource: objectKind(input.Bucket, o.Key, config, sent),
      }));
    case 'listPrefix':
      if (input.Bucket !== config.bucket || typeof input.Prefix !== 'string' || !input.Prefix.startsWith(`${config.prefix}/`)) {
        throw new UnmappedCommandError(
          `${sent.command} of ${input.Bucket} with Prefix ${String(input.Prefix)}: not a listing under "${config.prefix}/"`,
        );
      }
      return [{ action: row.action, resource: 'prefixListing' }];
    case 'keyListing':
      objectKind(input.Bucket, input.Key, config, sent);
      return [{ action: row.action, resource: 'prefixListing' }];
    case 'bucketListing':
      if (input.Bucket !== config.bucket || typeof input.Prefix !== 'string' || !input.Prefix.startsWith(`${config.prefix}/`)) {
        throw new UnmappedCommandError(
          `${sent.command} of ${input.Bucket} with Prefix ${String(input.Prefix)}: not a listing under "${config.prefix}/"`,
        );
      }
      return [{ action: row.action, resource: 'bucket' }];
  }
}

/** Every permission `commands` need, deduplicated, with the commands that need each. */
export function requiredPermissions(
  commands: readonly SentCommand[],
  config: TierlogConfig,
): Map<string, { permission: Permission; commands: Set<string> }> {
  const out = new Map<string, { permission: Permission; commands: Set<string> }>();
  for (const sent of commands) {
    for (const permission of permissionsOf(sent, config)) {
      const id = permissionId(permission);
      if (!out.has(id)) out.set(id, { permission, commands: new Set() });
      out.get(id)!.commands.add(sent.command);
    }
  }
  return out;
}

/** `action on resource`, a stable id of a permission. */
export function permissionId(p: Permission): string {
  return `${p.action} on ${p.resource}`;
}

function tableKind(table: unknown, index: unknown, config: TierlogConfig, sent: SentCommand): ResourceKind {
  if (table === config.changeLogTable) {
    if (index === undefined) return 'changeLogTable';
    if (index === LEASE_INDEX_NAME) return 'leaseIndex';
  } else if (table === config.objectsTable && index === undefined) {
    return 'objectsTable';
  }
  throw new UnmappedCommandError(
    `${sent.command} on table ${String(table)}${index ? ` index ${String(index)}` : ''}: not a tierlog table or index`,
  );
}

function objectKind(bucket: unknown, key: unknown, config: TierlogConfig, sent: SentCommand): ResourceKind {
  if (bucket === config.bucket && typeof key === 'string' && key.startsWith(`${config.prefix}/`)) return 'prefixObjects';
  throw new UnmappedCommandError(`${sent.command} of ${String(bucket)}/${String(key)}: not under "${config.prefix}/"`);
}
