/**
 * Where a middleware sees each attempt the SDK makes of a request, not only the last: right after
 * its retry middleware, inside the retry loop. The attempt watcher (attempts.ts), the fault
 * injector, the command recorder and the test doubles of S3's answers all sit there. `override`:
 * a command of the document client applies its stack to the base command too, and attaching twice
 * replaces rather than fails. A check that must run when an attempt is about to leave (a deadline:
 * the TTI refresh's margin, an upload's lease, a put's expiry) sits at the last step instead,
 * after signing: {@link checkBeforeEachAttempt}.
 */

/** What of a client's or a command's middleware stack this needs (the SDK's types differ by service). */
interface RelativeStack {
  addRelativeTo(middleware: unknown, options: { relation: 'after'; toMiddleware: string; name: string; override: boolean }): void;
}

/** Adds `middleware`, named `name`, to `stack` inside the SDK's retry loop (one call per attempt). */
export function addInsideRetryLoop(stack: unknown, name: string, middleware: unknown): void {
  (stack as RelativeStack).addRelativeTo(middleware, { relation: 'after', toMiddleware: 'retryMiddleware', name, override: true });
}

/** What of a command's middleware stack {@link checkBeforeEachAttempt} needs. */
interface StepStack {
  add(middleware: unknown, options: { step: 'deserialize'; name: string; override: boolean }): void;
}

/**
 * Runs `check` right before each attempt of `command` goes out: in the last step of the SDK's
 * pipeline (deserialize, inside the retry loop, after signing), so an SDK retry, or an attempt held
 * up before it was sent (a paused process), is checked at the moment it would leave. What `check`
 * throws fails that attempt unsent; an attempt already sent is awaited, never abandoned (one
 * abandoned may still land). `name` names the middleware. Returns the command.
 */
export function checkBeforeEachAttempt<C extends { middlewareStack: unknown }>(command: C, name: string, check: () => void): C {
  (command.middlewareStack as StepStack).add(
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      check();
      return next(args);
    },
    { step: 'deserialize', name, override: true },
  );
  return command;
}

/** What the check of {@link guardEachAttempt} threw (`reason`): the attempt was not sent. */
export class AttemptNotSent extends Error {
  constructor(readonly reason: unknown) {
    super('attempt not sent');
  }
}

/**
 * {@link checkBeforeEachAttempt} for a write that must not land past a deadline of its own (a
 * put's expiry): what `check` throws fails the attempt as an {@link AttemptNotSent}, which the SDK
 * does not retry and the caller tells from any answer of the service's. Nothing of that attempt
 * landed; an earlier one may have (the attempt watcher, attempts.ts, marks the error as any
 * attempt's), so the caller decides: a refusal with `reason` when none may have been applied,
 * else a read. `check` undefined: the command as it is.
 */
export function guardEachAttempt<C extends { middlewareStack: unknown }>(command: C, name: string, check: (() => void) | undefined): C {
  if (check === undefined) return command;
  return checkBeforeEachAttempt(command, name, () => {
    try {
      check();
    } catch (reason) {
      throw new AttemptNotSent(reason);
    }
  });
}

/** What of an attempt's HTTP request {@link restatedAtEachAttempt} reads and rewrites. */
interface JsonRequest {
  body?: unknown;
  headers: Record<string, string>;
}

/**
 * Rewrites, in each attempt of `command` right before it is signed (inside the SDK's retry loop),
 * the number its serialized JSON body carries as `ExpressionAttributeValues[placeholder]` to
 * `restate` of it: for a condition judged on an instant (an item live at `now`) that each attempt
 * must judge at its own, not at the instant the command was built (an SDK retry sent seconds
 * later, after a throttled attempt or a pause). A body without that number is sent as it is.
 * Returns the command.
 */
export function restatedAtEachAttempt<C extends { middlewareStack: unknown }>(
  command: C,
  placeholder: string,
  restate: (sent: number) => number,
): C {
  addInsideRetryLoop(
    command.middlewareStack,
    'tierlogRestatedAtEachAttempt',
    (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      const request = (args as { request?: JsonRequest }).request;
      const body = request?.body;
      if (request !== undefined && (typeof body === 'string' || body instanceof Uint8Array)) {
        // The SDK's JSON body is a string, or bytes (its serializer's adapter is a Uint8Array that is also a string).
        const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
        const parsed = JSON.parse(text) as { ExpressionAttributeValues?: Record<string, { N?: unknown }> };
        const value = parsed.ExpressionAttributeValues?.[placeholder];
        if (typeof value?.N === 'string') {
          value.N = String(restate(Number(value.N)));
          request.body = JSON.stringify(parsed);
          request.headers['content-length'] = String(Buffer.byteLength(request.body as string));
        }
      }
      return next(args);
    },
  );
  return command;
}
