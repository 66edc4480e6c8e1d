/**
 * Where a middleware sees each attempt the SDK makes of a request, not only the last: right after
 * its retry middleware, inside the retry loop. The attempt watcher (attempts.ts), the fault
 * injector, the command recorder and the test doubles of S3's answers all sit there. `override`:
 * a command of the document client applies its stack to the base command too, and attaching twice
 * replaces rather than fails.
 */

/** What of a client's or a command's middleware stack this needs (the SDK's types differ by service). */
interface RelativeStack {
  addRelativeTo(middleware: unknown, options: { relation: 'after'; toMiddleware: string; name: string; override: boolean }): void;
}

/** Adds `middleware`, named `name`, to `stack` inside the SDK's retry loop (one call per attempt). */
export function addInsideRetryLoop(stack: unknown, name: string, middleware: unknown): void {
  (stack as RelativeStack).addRelativeTo(middleware, { relation: 'after', toMiddleware: 'retryMiddleware', name, override: true });
}
