/**
 * Whether the objects table and the bucket under the prefix are one store. Every tool that deletes
 * a blob because "HV does not point at it" across the bucket (the listing audit, the snapshot
 * audit's re-verification) checks it once, before its first delete.
 *
 * Why. A tool given the objects table of another deployment (a staging table beside the
 * production bucket, an environment variable from the wrong shell) reads "no item" for every blob
 * it lists, so every old blob looks an orphan and one run deletes the bucket. The items' shape
 * cannot tell (`hv-shape.ts`: the other table is a tierlog table too), and neither can the change
 * log. The pointers can: blob keys end in a UUIDv7 and are never reused, so the table of this
 * store points at blobs that exist in this bucket under this prefix, and another store's table
 * points at none of them.
 *
 * Pointers the caller has just read from the table, consistently, are looked at first
 * (`pointers`): an audit reads the item of each candidate's object, and an orphan is most often
 * the old blob of an object overwritten since, whose item points at the blob that replaced it.
 * One of them whose blob is here binds the store as a sampled one does, with no Scan; the rest
 * are not evidence either way (an item the audit read is no sample of the table). Without them, a
 * store of many inline objects and few blobs (a few in ten thousand) has a sample that points at
 * no blob, and every deleting audit of it was refused.
 *
 * The rule ({@link judgeStoreBinding}, pure), over a sample of the items that point at a blob
 * (a few from each of four parallel scan segments, reading up to three pages of each until one
 * yields such an item, so the sample is not one corner of the table), each blob looked up by a
 * listing (strongly consistent, allowed by the prefix-scoped grant):
 *
 *  - one sampled blob is here: `bound`, deletes go ahead;
 *  - the sampled items point at blobs, and none is here (under another prefix, or missing), each
 *    confirmed by a consistent re-read that still points at it: `unbound`, deletes refused. An
 *    overwrite that raced the check is churn, not evidence, and is not counted;
 *  - the sample points at no blob (an empty table, a table of inline objects only, or one whose
 *    blobs the sample missed): `noReferences`, deletes refused unless the operator states that
 *    the store holds no large object (`emptyStoreOk`), the one case where every blob is garbage;
 *    unless a first page of its items shows one not understood as an objects-table item (the
 *    change log named for it: `undecided`);
 *  - anything else (a lookup S3 did not answer, every sample churned): `undecided`, deletes refused.
 *
 * A refusal deletes nothing and still reports: the operator reads why, then fixes the
 * configuration (or, for `noReferences`, confirms the store is empty).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '../aws/clients.js';
import { translateAwsError } from '../aws/errors.js';
import { sampleHvItems } from './hv-shape.js';
import { checkBlobKey } from '../tiered/blob-keys.js';
import type { HvTable } from '../tiered/hv-table.js';
import type { LtBucket } from '../tiered/lt-bucket.js';

/** Parallel scan segments sampled. */
export const BINDING_SEGMENTS = 4;
/** Scan pages read per segment at most, until it yields an item that points at a blob. */
export const BINDING_PAGES_PER_SEGMENT = 3;
/** Items (evaluated, before the filter) per Scan page. */
export const BINDING_PAGE_LIMIT = 1_000;
/** Items pointing at a blob kept per segment. */
export const BINDING_SAMPLES_PER_SEGMENT = 4;
/** The caller's pointers looked up at most (one S3 listing each) before the sample. */
export const BINDING_KNOWN_POINTERS = 4;

/** What the sample showed for one item that pointed at a blob. */
export type SampleFinding =
  /** The blob exists under the prefix. */
  | { readonly kind: 'here'; readonly objectKey: string; readonly blob: string }
  /**
   * The blob is not a blob key of this object under the prefix, or it is missing; `confirmed`
   * when a consistent re-read, after the lookup, still pointed at it.
   */
  | { readonly kind: 'notHere'; readonly objectKey: string; readonly blob: string; readonly why: string; readonly confirmed: boolean }
  /** The lookup did not decide (access denied, an error after retries). */
  | { readonly kind: 'unknown'; readonly objectKey: string; readonly blob: string; readonly why: string };

export type StoreBinding =
  | { readonly kind: 'bound'; readonly objectKey: string; readonly blob: string }
  | { readonly kind: 'unbound'; readonly reason: string }
  | { readonly kind: 'noReferences'; readonly reason: string }
  | { readonly kind: 'undecided'; readonly reason: string };

/** Where the sample came from, for the reasons. */
export interface BindingScope {
  readonly table: string;
  readonly bucket: string;
  readonly prefix: string;
  /** Items the sample's Scans evaluated. */
  readonly scanned: number;
}

/** The rule of the module doc, on what the sample showed. */
export function judgeStoreBinding(findings: readonly SampleFinding[], scope: BindingScope): StoreBinding {
  const here = findings.find((f) => f.kind === 'here');
  if (here !== undefined) return { kind: 'bound', objectKey: here.objectKey, blob: here.blob };
  const where = `s3://${scope.bucket}/${scope.prefix}/`;
  if (findings.length === 0) {
    return {
      kind: 'noReferences',
      reason:
        `the objects table "${scope.table}" points at no blob (${scope.scanned} items sampled): if it is not the store of ${where}, ` +
        'every blob there looks an orphan; deletes refused (fix the configuration, or state that the store holds no large object: ' +
        // The snapshot-audit function reads no such setting: its operator was told to state what it cannot be told.
        '`tierlog audit --delete --empty-store-ok`, or `emptyStoreOk` in code; the snapshot-audit function takes none)',
    };
  }
  const confirmed = findings.find((f) => f.kind === 'notHere' && f.confirmed);
  const unknown = findings.find((f) => f.kind === 'unknown');
  if (confirmed !== undefined && unknown === undefined) {
    return {
      kind: 'unbound',
      reason:
        `the objects table "${scope.table}" points at blobs that are not in ${where} (object "${confirmed.objectKey}" → ` +
        `"${confirmed.blob}": ${confirmed.kind === 'notHere' ? confirmed.why : ''}): it is not this bucket's store, or blobs were lost; deletes refused`,
    };
  }
  const first = unknown ?? findings[0]!;
  return {
    kind: 'undecided',
    reason:
      `could not tell whether the objects table "${scope.table}" is the store of ${where} (object "${first.objectKey}" → "${first.blob}": ` +
      `${first.kind === 'here' ? '' : first.why}); deletes refused`,
  };
}

/** Why deletes are refused for `binding`, or undefined when they may go ahead. */
export function bindingRefusal(binding: StoreBinding, emptyStoreOk: boolean): string | undefined {
  if (binding.kind === 'bound') return undefined;
  if (binding.kind === 'noReferences' && emptyStoreOk) return undefined;
  return binding.reason;
}

/**
 * Samples the objects table and looks its blobs up in the bucket: see the module doc.
 *
 * @throws what the Scan or the re-read throw (translated): a missing table, access denied.
 */
export async function checkStoreBinding(options: {
  readonly dynamodb: DynamoDBClient;
  readonly hv: HvTable;
  readonly lt: LtBucket;
  /** Items of the table the caller has just read consistently, each with the blob it points at. */
  readonly pointers?: ReadonlyArray<{ readonly objectKey: string; readonly blob: string }>;
}): Promise<StoreBinding> {
  const { hv, lt } = options;
  const known = (options.pointers ?? []).filter((p) => checkBlobKey(lt.prefix, p.objectKey, p.blob).ok);
  for (const { objectKey, blob } of known.slice(0, BINDING_KNOWN_POINTERS)) {
    if ((await lt.exists(blob)).kind === 'exists') return { kind: 'bound', objectKey, blob };
  }
  const { sample, scanned } = await sampleBlobPointers(options.dynamodb, hv);
  const findings: SampleFinding[] = [];
  for (const { objectKey, blob } of sample) {
    const key = checkBlobKey(lt.prefix, objectKey, blob);
    if (!key.ok) {
      findings.push({ kind: 'notHere', objectKey, blob, why: key.reason, confirmed: false });
      continue;
    }
    const existence = await lt.exists(blob);
    if (existence.kind === 'exists') {
      findings.push({ kind: 'here', objectKey, blob });
      break;
    }
    if (existence.kind === 'missing') findings.push({ kind: 'notHere', objectKey, blob, why: 'no such blob', confirmed: false });
    else findings.push({ kind: 'unknown', objectKey, blob, why: existence.reason });
  }
  if (!findings.some((f) => f.kind === 'here')) {
    // Churn is not evidence: count only the items that still point where they did after the lookup.
    const notHere = findings.filter((f) => f.kind === 'notHere');
    const now = await hv.readBlobPointers(notHere.map((f) => f.objectKey));
    for (let i = 0; i < findings.length; i++) {
      const f = findings[i]!;
      if (f.kind === 'notHere') findings[i] = { ...f, confirmed: now.get(f.objectKey) === f.blob };
    }
    const churned = findings.filter((f) => f.kind === 'notHere' && !f.confirmed).length;
    if (churned === findings.length && findings.length > 0) {
      return {
        kind: 'undecided',
        reason: `every sampled item of the objects table "${hv.tableName}" changed during the check; deletes refused (run again)`,
      };
    }
  }
  const binding = judgeStoreBinding(findings, { table: hv.tableName, bucket: lt.bucket, prefix: lt.prefix, scanned });
  if (binding.kind !== 'noReferences') return binding;
  // A table that points at no blob may be no objects table at all (the change log, its key named
  // as the objects': every lookup finds nothing): `emptyStoreOk` would then take every blob for garbage.
  const why = await sampleHvItems(options.dynamodb, hv.tableName, hv.attrs);
  return why === undefined ? binding : { kind: 'undecided', reason: `${why}; deletes refused` };
}

/** Items that point at a blob (not deletion markers), a few from each scan segment. */
async function sampleBlobPointers(
  dynamodb: DynamoDBClient,
  hv: HvTable,
): Promise<{ sample: Array<{ objectKey: string; blob: string }>; scanned: number }> {
  const a = hv.attrs;
  const doc = documentClient(dynamodb);
  let scanned = 0;
  const segments = await Promise.all(
    Array.from({ length: BINDING_SEGMENTS }, async (_, segment) => {
      const found: Array<{ objectKey: string; blob: string }> = [];
      let start: Record<string, unknown> | undefined;
      for (let page = 0; page < BINDING_PAGES_PER_SEGMENT && found.length === 0; page++) {
        let out;
        try {
          out = await doc.send(
            new ScanCommand({
              TableName: hv.tableName,
              Segment: segment,
              TotalSegments: BINDING_SEGMENTS,
              Limit: BINDING_PAGE_LIMIT,
              FilterExpression: 'attribute_type(#b, :s) AND NOT (#d = :t)',
              ProjectionExpression: '#k, #b',
              ExpressionAttributeNames: { '#k': a.key, '#b': a.blob, '#d': a.deleted },
              ExpressionAttributeValues: { ':s': 'S', ':t': true },
              ...(start !== undefined ? { ExclusiveStartKey: start } : {}),
            }),
          );
        } catch (err) {
          throw translateAwsError(err, { operation: 'Scan', table: hv.tableName });
        }
        scanned += out.ScannedCount ?? 0;
        for (const item of out.Items ?? []) {
          const objectKey = item[a.key];
          const blob = item[a.blob];
          if (typeof objectKey === 'string' && typeof blob === 'string' && found.length < BINDING_SAMPLES_PER_SEGMENT)
            found.push({ objectKey, blob });
        }
        start = out.LastEvaluatedKey;
        if (start === undefined) break;
      }
      return found;
    }),
  );
  return { sample: segments.flat(), scanned };
}
