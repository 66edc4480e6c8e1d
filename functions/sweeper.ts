/**
 * Scheduled Lambda: one sweep of the change log per invocation (see lib/handlers/sweeper.ts).
 */
import { createSweeperHandler } from '../lib/handlers/sweeper.js';

export const handler = createSweeperHandler();
