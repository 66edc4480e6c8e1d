/**
 * Names of the variables the snapshot audit's Lambda reads (beyond `loadConfig`'s), which the
 * construct sets (`infra/audit-at-scale.ts`). A module of their own, with no imports, so that
 * `lib/config.ts` can list them among every variable tierlog reads (`TIERLOG_VARIABLES`) without
 * importing the audit.
 */
export const SNAPSHOT_AUDIT_ENV = {
  olderThanMs: 'TIERLOG_SNAPSHOT_OLDER_THAN_MS',
  delete: 'TIERLOG_SNAPSHOT_DELETE',
  bucket: 'TIERLOG_SNAPSHOT_BUCKET',
  inventoryHivePrefix: 'TIERLOG_SNAPSHOT_INVENTORY_HIVE_PREFIX',
  database: 'TIERLOG_SNAPSHOT_DATABASE',
} as const;
