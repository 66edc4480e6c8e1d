/**
 * The reference storage writer: `PUT | GET | HEAD | DELETE /objects/{key}` behind a Function URL
 * or an HTTP API (see lib/handlers/objects.ts).
 */
import { createObjectsHandler } from '../lib/handlers/objects.js';

export const handler = createObjectsHandler();
