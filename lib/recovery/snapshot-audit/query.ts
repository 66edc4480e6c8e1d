/**
 * The snapshot audit's ONE SQL text: run by Amazon Athena (Trino) over the Glue tables in AWS,
 * and by DuckDB in-process for `tierlog audit --inventory --export`. It reads three relations:
 *
 *  - `inventory`: the S3 Inventory report of the bucket, columns `key`, `size`,
 *    `last_modified_date` (the names of the Parquet inventory; the local CSV reader maps to them);
 *  - `objects`: the DynamoDB export of the objects table (HV), one column `line`, one exported
 *    item per line in DynamoDB JSON: `{"Item":{"key":{"S":…},"blob":{"S":…},…}}`;
 *  - `changelog`: the export of the change-log table, the same shape.
 *
 * and returns one row per finding, `(kind, blob_key, object_key, size, last_modified)`:
 *
 *  - `orphan`: a key under `<prefix>/` of the blob-key shape, older than the cutoff by BOTH its
 *    LastModified and the time in its UUIDv7, that no HV item references and no change-log item
 *    names anywhere in its text;
 *  - `lost`: a blob key (under the prefix, of the blob-key shape, UUIDv7 time before the cutoff)
 *    that an HV item references and the inventory lacks: invariant 1 broken;
 *  - `malformed`: a key under the prefix that is not of the blob-key shape (never deleted);
 *  - `expired`: a blob the inventory lists, older than the cutoff by both clocks (as an orphan),
 *    that an HV item references whose expiry (its `expiresAt` attribute, a number of epoch
 *    seconds, read as a `double` by `try_cast`) is before the cutoff by more than TTL's lag,
 *    the stream's retention and the margin (`../expired-blobs.ts`): an object TTL has not removed,
 *    whose blob no stream event will ever delete. Not a blob an item of another object also points
 *    at (an item copied to rename an object, which no writer makes): as the orphans keep every blob
 *    an item references, the at-scale batches, which Scan for no such item, would delete it under
 *    that item. Measured from the cutoff (the safety age before
 *    the oldest snapshot), so an export hours old proposes no item that was not yet past the
 *    windows when it was taken; the live re-verification judges each again
 *    (`judgeExpiredReference`) before it is reported or removed.
 *
 * A key the inventory lists more than once (overlapping data files: S3 Inventory may list a key
 * twice) is one finding: the findings, not the whole inventory, are grouped (a small set, where a
 * grouping of the inventory would hold every key of the bucket at once). Athena's result goes to
 * the batches as it comes, so a key in two rows was re-verified in two batches and counted
 * confirmed and deleted in each.
 *
 * The shape test here is coarse (a base64url segment and a UUIDv7); whether the segment is the
 * canonical base64url of a valid object key is checked by the re-verification, which reports such
 * a key as malformed and never deletes it.
 *
 * Why the result may only PROPOSE: the snapshots are hours old and not taken at one instant.
 * Every orphan is re-verified live ({@link ./reverify.ts}) before anything is deleted.
 *
 * The protection rule is textual, and so conservative: any substring of a change-log item that
 * has the blob-key shape protects that blob, whatever attribute holds it and whether the entry
 * parses (live, claimed, quarantined or unparseable entries alike). An HV item references the
 * blob named by its blob attribute, as every other reader of HV reads it (`HvTable.readBlobPointers`:
 * the sweeper, the stream function, the listing audit): a deletion marker names none, and an item
 * that names one while flagged deleted (no writer leaves one) still references it.
 *
 * The cutoff is the safety age before the OLDER of the snapshots: a blob uploaded after an export
 * was taken is then never a candidate, whatever that export says about it.
 *
 * Dialect: the text is Trino's. DuckDB lacks two of its functions; {@link DUCKDB_PRELUDE} defines
 * them as macros over DuckDB's own (`json_extract_scalar` = `json_extract_string`, `regexp_like`
 * = `regexp_matches`, both partial-match RE2 vs Java regex on patterns that mean the same in
 * both). Everything else (`regexp_extract_all`, `CROSS JOIN UNNEST … AS t(x)`, `substr`, `try_cast`,
 * `TIMESTAMP '…'` literals, `NOT EXISTS`) is common to both.
 */
import { hvAttributeNames, type TierlogConfig } from '../../config.js';
import { ConfigError, ValidationError } from '../../errors.js';
import { EXPIRED_BLOB_MARGIN_MS, STREAM_RETENTION_MS, TTL_DELETION_LAG_MS } from '../expired-blobs.js';

/** The relations the query reads: table names, or parenthesised subqueries. */
export interface SnapshotRelations {
  readonly inventory: string;
  readonly objects: string;
  readonly changeLog: string;
}

/** HV attribute names the query reads (letters, digits, `_`). */
export interface SnapshotHvAttributes {
  /** Partition key. Default `key`. */
  readonly key?: string;
  /** Tombstone: the blob key. Default `blob`. */
  readonly blob?: string;
  /**
   * Deletion marker flag. Default `deleted`. Checked against the configuration; not read: a marker
   * names no blob, and an item that names one is a reference whatever its flag.
   */
  readonly deleted?: string;
  /**
   * Expiry, epoch seconds (a number attribute), read for the `expired` finding. Default
   * `expiresAt`. Checked against the configuration only when given.
   */
  readonly expiresAt?: string;
}

/**
 * The names the snapshot audit reads: the configuration's (`TIERLOG_HV_ATTRIBUTES`), as every
 * other component. An explicit `hvAttributes` (names not given are the defaults) must name the
 * same attributes: one that disagrees is refused, never preferred, because a reader with other
 * names than the writers sees "no blob" for every object and would take referenced blobs for
 * orphans.
 *
 * @throws ConfigError when `explicit` disagrees with the configuration.
 */
export function snapshotHvAttributesOf(config: TierlogConfig, explicit?: SnapshotHvAttributes): Required<SnapshotHvAttributes> {
  const names = hvAttributeNames(config);
  const configured = { key: names.key, blob: names.blob, deleted: names.deleted, expiresAt: names.expiresAt };
  if (explicit === undefined) return configured;
  // The expiry attribute is compared only when given: explicit names made before it was read name none.
  const given = { key: 'key', blob: 'blob', deleted: 'deleted', expiresAt: configured.expiresAt, ...explicit };
  const differ = (Object.keys(configured) as Array<keyof typeof configured>).filter((k) => given[k] !== configured[k]);
  if (differ.length > 0) {
    throw new ConfigError(
      `hvAttributes disagree with the configuration (TIERLOG_HV_ATTRIBUTES) on ${differ
        .map((k) => `${k}: "${given[k]}" vs "${configured[k]}"`)
        .join(', ')}; set the names once, in the configuration`,
      'hvAttributes',
    );
  }
  return configured;
}

export interface SnapshotQueryOptions {
  readonly relations: SnapshotRelations;
  /** The blob prefix, without leading or trailing `/`. */
  readonly prefix: string;
  /**
   * Only blobs older than this instant (ms) by both clocks are orphans or lost; only objects expired
   * longer than {@link EXPIRED_WINDOW_MS} before it are `expired`.
   */
  readonly cutoffMs: number;
  readonly hvAttributes?: SnapshotHvAttributes;
}

/** The kinds of row the query returns. */
export type FindingKind = 'orphan' | 'lost' | 'malformed' | 'expired';

/**
 * How long before the cutoff an object must have expired to be proposed `expired`: TTL's lag, the
 * stream's retention and the margin, as the listing audit's rule (`judgeExpiredReference`).
 */
export const EXPIRED_WINDOW_MS = TTL_DELETION_LAG_MS + STREAM_RETENTION_MS + EXPIRED_BLOB_MARGIN_MS;

/** Column names of the result, in order. */
export const RESULT_COLUMNS = ['kind', 'blob_key', 'object_key', 'size', 'last_modified'] as const;

/** Macros that give DuckDB the two Trino functions the query uses. */
export const DUCKDB_PRELUDE = [
  'CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)',
  'CREATE OR REPLACE MACRO regexp_like(s, p) AS regexp_matches(s, p)',
] as const;

const ATTRIBUTE = /^[A-Za-z0-9_]{1,255}$/;
/** A UUIDv7 in the canonical lower-case form the library writes. */
const UUIDV7_RE = '[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

/**
 * Checks that the query can read the HV attributes `names` from an export: it names them in
 * JSON paths (`$.Item.<name>.S`) that Athena and DuckDB read alike only for letters, digits and
 * `_`, narrower than what the configuration takes (`.` and `-` too). The construct calls it at
 * synthesis with `auditAtScale`, so such a deployment fails there, not at every run's plan.
 *
 * @throws ValidationError naming the first attribute it cannot read (`hvAttributes.<field>`).
 */
export function checkSnapshotHvAttributes(names: SnapshotHvAttributes): void {
  const attrs = { key: 'key', blob: 'blob', deleted: 'deleted', expiresAt: 'expiresAt', ...names };
  for (const [field, name] of Object.entries(attrs)) {
    if (!ATTRIBUTE.test(name))
      throw new ValidationError(
        `HV attribute name "${name}" must be letters, digits and _ for the snapshot query`,
        `hvAttributes.${field}`,
      );
  }
}

/** The SQL text. @throws ValidationError on an attribute name or cutoff it cannot embed safely. */
export function snapshotAuditSql(options: SnapshotQueryOptions): string {
  const { relations, prefix } = options;
  const attrs = { key: 'key', blob: 'blob', deleted: 'deleted', expiresAt: 'expiresAt', ...options.hvAttributes };
  checkSnapshotHvAttributes(attrs);
  if (!Number.isSafeInteger(options.cutoffMs) || options.cutoffMs < 0)
    throw new ValidationError('cutoffMs must be a non-negative integer', 'cutoffMs');
  const cutoff = new Date(options.cutoffMs).toISOString(); // 2024-01-02T03:04:05.678Z
  const cutoffTs = `TIMESTAMP '${cutoff.slice(0, 10)} ${cutoff.slice(11, 23)}'`;
  // Expired before this many epoch seconds (whole, so the literal is an integer in both dialects).
  const expiredBefore = Math.floor((options.cutoffMs - EXPIRED_WINDOW_MS) / 1000);
  // The first 48 bits of a UUIDv7 are its ms time: as 12 lower-case hex digits they order as the number.
  const cutoffHex = sqlString(options.cutoffMs.toString(16).padStart(12, '0'));
  const head = sqlString(`${prefix}/`);
  const headLength = prefix.length + 1;
  const prefixRe = regexEscape(prefix);
  const shape = sqlString(`^${prefixRe}/[A-Za-z0-9_-]+/${UUIDV7_RE}$`);
  // In a JSON text a `/` may be written `\/`: accept both, then normalise.
  const named = sqlString(
    `${prefixRe}\\\\?/[A-Za-z0-9_-]+\\\\?/[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`,
  );
  const uuidTime = (col: string) => `substr(${col}, length(${col}) - 35, 8) || substr(${col}, length(${col}) - 26, 4)`;
  const path = (attr: string, type: string) => sqlString(`$.Item.${attr}.${type}`);

  return `WITH
inv AS (
  SELECT "key" AS blob_key, "size" AS size, last_modified_date
  FROM ${relations.inventory}
  WHERE substr("key", 1, ${headLength}) = ${head}
),
blobs AS (
  SELECT blob_key, size, last_modified_date, regexp_like(blob_key, ${shape}) AS well_formed
  FROM inv
),
items AS (
  SELECT json_extract_scalar(line, ${path(attrs.blob, 'S')}) AS blob_key,
         json_extract_scalar(line, ${path(attrs.key, 'S')}) AS object_key,
         json_extract_scalar(line, ${path(attrs.expiresAt, 'N')}) AS expires_at
  FROM ${relations.objects}
),
refs AS (
  SELECT blob_key, object_key, expires_at FROM items
  WHERE blob_key IS NOT NULL
),
expiring AS (
  SELECT r.blob_key, r.object_key, b.size, b.last_modified_date
  FROM refs r JOIN blobs b ON b.blob_key = r.blob_key
  WHERE b.well_formed
    AND b.last_modified_date < ${cutoffTs}
    AND ${uuidTime('b.blob_key')} < ${cutoffHex}
    AND r.object_key IS NOT NULL
    AND try_cast(r.expires_at AS double) < ${expiredBefore}
),
shared AS (
  SELECT o.blob_key FROM refs o JOIN (SELECT DISTINCT blob_key FROM expiring) e ON e.blob_key = o.blob_key
  GROUP BY o.blob_key HAVING count(*) > 1
),
named AS (
  SELECT DISTINCT replace(t.k, '\\/', '/') AS blob_key
  FROM ${relations.changeLog} CROSS JOIN UNNEST(regexp_extract_all(line, ${named})) AS t(k)
),
found AS (
SELECT 'orphan' AS kind, b.blob_key, CAST(NULL AS varchar) AS object_key, b.size, b.last_modified_date AS last_modified
FROM blobs b
WHERE b.well_formed
  AND b.last_modified_date < ${cutoffTs}
  AND ${uuidTime('b.blob_key')} < ${cutoffHex}
  AND NOT EXISTS (SELECT 1 FROM refs r WHERE r.blob_key = b.blob_key)
  AND NOT EXISTS (SELECT 1 FROM named n WHERE n.blob_key = b.blob_key)
UNION ALL
SELECT 'lost' AS kind, r.blob_key, r.object_key, CAST(NULL AS bigint) AS size, CAST(NULL AS timestamp) AS last_modified
FROM refs r
WHERE regexp_like(r.blob_key, ${shape})
  AND ${uuidTime('r.blob_key')} < ${cutoffHex}
  AND NOT EXISTS (SELECT 1 FROM inv i WHERE i.blob_key = r.blob_key)
UNION ALL
SELECT 'malformed' AS kind, b.blob_key, CAST(NULL AS varchar) AS object_key, b.size, b.last_modified_date AS last_modified
FROM blobs b
WHERE NOT b.well_formed
UNION ALL
SELECT 'expired' AS kind, x.blob_key, x.object_key, x.size, x.last_modified_date AS last_modified
FROM expiring x
WHERE NOT EXISTS (SELECT 1 FROM shared s WHERE s.blob_key = x.blob_key)
)
SELECT kind, blob_key, object_key, max(size) AS size, max(last_modified) AS last_modified
FROM found
GROUP BY kind, blob_key, object_key
`;
}

/** A SQL string literal (quotes doubled; both dialects treat backslashes literally). */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function regexEscape(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\!]/g, (c) => (c === '!' ? c : `\\${c}`));
}
