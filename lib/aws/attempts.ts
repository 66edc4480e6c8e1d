/**
 * What the SDK's retries hide: whether an attempt before the one that answered may have been
 * applied. A plain conditional write has no idempotency token, so when the SDK sends it again and
 * the retry is refused for its condition, the refusal alone cannot say whether an earlier attempt
 * landed (and was overwritten since) or nothing ever did. Counting attempts cannot either: a first
 * attempt refused for throttling (a 400: not applied) makes a later refusal a sure
 * compare-and-swap loss, while one that got no answer, or a 5xx, may have landed (unless it made no
 * connection at all: a host name not resolved, a connection refused).
 *
 * {@link watchAttempts} puts a middleware inside the SDK's retry loop of one command (on the
 * command's own stack, so it sits outside any middleware of the client's, a fault injector
 * included) that marks each attempt's error with whether an attempt before it may have been
 * applied. {@link earlierAttemptMayHaveApplied} reads that mark; on an error of a command sent
 * without the watcher it falls back to "sent more than once", the safe answer.
 */
import { httpStatus } from './errors.js';
import { addInsideRetryLoop } from './retry-loop.js';

const EARLIER_MAY_HAVE_APPLIED = Symbol.for('tierlog.earlierAttemptMayHaveApplied');

/** Installs the attempt watcher on `command` (see the module doc). Returns the command. */
export function watchAttempts<C extends { middlewareStack: unknown }>(command: C): C {
  let mayHaveApplied = false;
  const middleware = (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
    try {
      return await next(args);
    } catch (err) {
      if (typeof err === 'object' && err !== null) {
        Object.defineProperty(err, EARLIER_MAY_HAVE_APPLIED, { value: mayHaveApplied, configurable: true });
      }
      if (attemptMayHaveApplied(err)) mayHaveApplied = true;
      throw err;
    }
  };
  addInsideRetryLoop(command.middlewareStack, 'tierlogAttemptWatcher', middleware);
  return command;
}

/**
 * True when an attempt of the request before the one that failed with `err` may have been applied:
 * it got no answer (a connection made), a 5xx, or a 2xx the SDK could not read. A watched command's error says so exactly ({@link watchAttempts});
 * any other error answers true when the SDK sent the request more than once.
 */
export function earlierAttemptMayHaveApplied(err: unknown): boolean {
  const mark = typeof err === 'object' && err !== null ? (err as Record<symbol, unknown>)[EARLIER_MAY_HAVE_APPLIED] : undefined;
  if (typeof mark === 'boolean') return mark;
  return ((err as { $metadata?: { attempts?: number } })?.$metadata?.attempts ?? 1) > 1;
}

/**
 * True when the request that failed with `err` may have been applied: the attempt that failed got
 * no answer, a 5xx or a 2xx it could not read, or one before it may have been applied ({@link earlierAttemptMayHaveApplied}).
 * False only when every attempt that may have reached the table was refused outright (a 4xx).
 */
export function requestMayHaveApplied(err: unknown): boolean {
  return attemptMayHaveApplied(err) || earlierAttemptMayHaveApplied(err);
}

/**
 * An attempt that failed without an answer, or with a 5xx, may have been applied; a 4xx (throttling
 * included) was not, nor one that made no connection at all ({@link NO_CONNECTION}). One that
 * failed with a 2xx was applied: the service answered success and the SDK could not read the
 * answer (its body cut short or garbled: the SDK's parse error carries the answer's status).
 */
function attemptMayHaveApplied(err: unknown): boolean {
  const status = httpStatus(err);
  if (status === undefined) return !NO_CONNECTION.has(String((err as { code?: unknown } | null)?.code));
  return status >= 500 || (status >= 200 && status < 300);
}

/**
 * Node's codes of a request that never reached a server: its host name not resolved (`ENOTFOUND`,
 * `EAI_AGAIN`: a resolver busy or briefly out) or its connection refused (`ECONNREFUSED`). Each
 * comes before a byte of the request is written; the SDK takes them for transient and sends the
 * request again. A connection reset or timed out (`ECONNRESET`, `ETIMEDOUT`, `EPIPE`) may come
 * after the request went out: not one.
 */
const NO_CONNECTION: ReadonlySet<string> = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED']);
