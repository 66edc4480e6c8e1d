/**
 * How tierlog's handlers are bundled, in one place: by `npm run build` into the package's
 * `dist/handlers/<name>/index.mjs` (what an installed tierlog deploys, with no bundler or Docker
 * in the user's app), and by `NodejsFunction` when the construct runs from this repository's
 * sources.
 */

/** The handlers in `functions/`. */
export type HandlerName = 'sweeper' | 'objects' | 'objects-stream' | 'snapshot-audit';

/** The handlers, in build order. */
export const HANDLERS: readonly HandlerName[] = ['sweeper', 'objects', 'objects-stream', 'snapshot-audit'];

/** Some CommonJS dependencies call require(); the ESM bundle gets one. */
export const BUNDLE_BANNER =
  "import { createRequire as __tierlogCreateRequire } from 'node:module'; const require = __tierlogCreateRequire(import.meta.url);";

/** The Node.js the bundles target: the oldest Lambda runtime the construct accepts. */
export const BUNDLE_TARGET = 'node22';
