/**
 * A caller's callback whose failure must not become the operation's.
 *
 * Several entry points hand their caller a notification: the objects API's and the Function URL
 * listener's `onError`, the dev service's `onSweep`, the local stack's `onUnexpectedExit`. Each is
 * told something after the operation's outcome is decided (an answer sent, a sweep finished, a
 * child process gone). A callback that throws there (a logger failing on a circular error, a
 * closed stream) must not replace that outcome: thrown, it turned a sent 502 into a client left
 * waiting, a successful sweep into a rejected one, a child's exit into an uncaught exception that
 * ended the process. It is a process warning instead, naming the callback, and the outcome stands.
 */

/**
 * Calls `callback` with `args` (nothing when it is undefined); a throw is a process warning
 * `"<name> threw: <error>"`, never thrown on.
 */
export function notifyCallback<A extends unknown[]>(name: string, callback: ((...args: A) => void) | undefined, ...args: A): void {
  try {
    callback?.(...args);
  } catch (thrown) {
    process.emitWarning(`${name} threw: ${String(thrown)}`);
  }
}
