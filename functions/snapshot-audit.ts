/**
 * The snapshot audit's Lambda: the at-scale audit's plan and batches (see lib/handlers/snapshot-audit.ts).
 */
import { createSnapshotAuditHandler } from '../lib/handlers/snapshot-audit.js';

export const handler = createSnapshotAuditHandler();
