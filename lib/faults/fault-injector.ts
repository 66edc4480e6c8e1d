/**
 * Fault injection for drills and tests: an SDK middleware, placed inside the retry loop (one
 * decision per attempt), that makes real requests to the real servers fail the way networks and
 * services fail. Nothing here fakes a database: a "lost response" is a request that reached the
 * server and was applied, after which the client is told it failed.
 *
 *  - `loseRequest`: the attempt fails before it is sent (retryable network error).
 *  - `loseResponse`: the attempt is sent and applied; its answer (a refusal too) is replaced by a
 *    network error.
 *  - `throttle`: the attempt is answered with a throttling error, not sent.
 *  - `delay`: the attempt is held for `delayMs` first (a slow call that may outlive a lease).
 *  - `fail`: the attempt is answered with `error(request)` (e.g. an access-denied or validation
 *    answer the emulators never give), not sent.
 *  - `expireToken`: the attempt is sent as a new transaction: its `ClientRequestToken` is replaced
 *    by another of the same length. DynamoDB keeps a token for 10 minutes after the first request
 *    that used it completed; an SDK retry sent later (a writer paused between two attempts) is
 *    judged as a transaction of its own, not answered from the first one's outcome.
 *
 * A rule's `before` hook runs (awaited) when the rule fires, before its fault: a test uses it to
 * change the world at an exact point of the protocol (e.g. another writer's write).
 *  - `crash`: the process "dies" before (or right after) the attempt: from then on every request
 *    of every client attached to this injector fails with {@link CrashError}, so no cleanup code
 *    can run, exactly as after a real crash. An attempt a rule still held when it died (in its
 *    `before` hook or its `delay`) is not sent either: it fails with the same error, a delay's
 *    at the crash.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import { addInsideRetryLoop } from '../aws/retry-loop.js';
import { keepClassNames } from '../class-names.js';
import { MAX_TIMER_MS } from '../constants.js';
import { isIntegerIn } from '../env-integers.js';
import { ValidationError } from '../errors.js';
import { assertOptions, optionNames } from '../plain-options.js';

/** What a fault does to the attempt it fires on (see the kinds in the module header). */
export type FaultKind = 'loseRequest' | 'loseResponse' | 'throttle' | 'delay' | 'fail' | 'expireToken' | 'crashBefore' | 'crashAfter';

/** Every {@link FaultKind}, for the check of a rule's `kind`. */
const FAULT_KINDS: readonly FaultKind[] = [
  'loseRequest',
  'loseResponse',
  'throttle',
  'delay',
  'fail',
  'expireToken',
  'crashBefore',
  'crashAfter',
];

/** What a fault rule sees of a request. */
export interface RequestInfo {
  /** The client it goes through. */
  readonly service: 'dynamodb' | 's3';
  /** SDK command name, e.g. `TransactWriteItemsCommand`, `PutObjectCommand`. */
  readonly command: string;
  /** The command's input (the document client's, marshalled: attribute values). */
  readonly input: Record<string, unknown>;
}

/** A fault and the requests it fires on ({@link FaultInjector.add}). */
export interface FaultRule {
  /** What it does to the attempt (see the module doc). */
  readonly kind: FaultKind;
  /** Which requests the rule applies to. Default: all. */
  readonly match?: (request: RequestInfo) => boolean;
  /** Chance per matching attempt, 0..1. Default 1. */
  readonly probability?: number;
  /** How many times the rule fires at most. Default unlimited. */
  readonly times?: number;
  /** Skip this many matching attempts first. Default 0. */
  readonly skip?: number;
  /** For `delay`: how long the attempt is held, ms (default 1 000; `Infinity`: until the process crashes). */
  readonly delayMs?: number;
  /** For `fail`: the error the attempt is answered with. */
  readonly error?: (request: RequestInfo) => Error;
  /** Runs when the rule fires, before its fault. */
  readonly before?: (request: RequestInfo) => Promise<void>;
}

/** The injected death of a process. Nothing after it in that "process" reaches a server. */
export class CrashError extends Error {
  /** Always `CrashError`. */
  override readonly name = 'CrashError';
  constructor(
    /** The request the process died at. */
    readonly request: RequestInfo,
  ) {
    super(`injected crash at ${request.service}:${request.command}`);
  }
}
keepClassNames({ CrashError });

/** Counts of what happened, for reports. */
export interface FaultStats {
  /** Attempts seen, faulted or not. */
  requests: number;
  /** Faults injected, by kind. */
  injected: Record<FaultKind, number>;
}

/** Injectors made so far: each names its middleware apart. */
let injectors = 0;

/** A client whose requests an injector or a recorder can see: any AWS SDK v3 DynamoDB or S3 client. */
export type AttachableClient = Pick<DynamoDBClient | S3Client, 'middlewareStack'>;

/**
 * One writer "process"'s faults: attach it to every client the process uses (its DynamoDB and S3
 * clients), so that a crash ends them all. Rules name the requests they fire on (`match`: e.g.
 * `atStep('commit', config)` or `onCommand('PutObject')`) and what happens to them (`kind`).
 */
export class FaultInjector {
  /** This injector's middleware name: one per injector, so a second injector on a client adds to it, not replaces. */
  private readonly name = `tierlogFaultInjector-${++injectors}`;
  private rules: Array<{ rule: FaultRule; fired: number; seen: number }> = [];
  private crashed: RequestInfo | undefined;
  /** Releases of the attempts a `delay` holds now. */
  private readonly held = new Set<() => void>();
  /** What it saw and did so far. */
  readonly stats: FaultStats = {
    requests: 0,
    injected: { loseRequest: 0, loseResponse: 0, throttle: 0, delay: 0, fail: 0, expireToken: 0, crashBefore: 0, crashAfter: 0 },
  };

  /** @param random uniform in [0, 1); pass a seeded generator for reproducible runs. */
  constructor(private readonly random: () => number = Math.random) {}

  /**
   * Adds a rule; rules are tried in order, the first that fires wins.
   *
   * @throws ValidationError for a rule that is not what {@link FaultRule} describes (a `kind` not
   *   among the fault kinds, a name it does not take, a `match`, `before` or `error` that is no
   *   function, a `probability` outside 0..1, a `times` or `skip` that is no whole number, 0 or
   *   more, a `delayMs` that is no number of ms, 0 or more), before it is added: such a rule
   *   fired at requests it was not aimed at, or failed them with another error than its kind's.
   */
  add(rule: FaultRule): this {
    assertRule(rule);
    this.rules.push({ rule, fired: 0, seen: 0 });
    return this;
  }

  /** Removes one rule added before. */
  remove(rule: FaultRule): this {
    this.rules = this.rules.filter((entry) => entry.rule !== rule);
    return this;
  }

  /** Removes every rule (a crash stays a crash). */
  clear(): this {
    this.rules = [];
    return this;
  }

  /** The request at which this "process" crashed, if it did. */
  get crashedAt(): RequestInfo | undefined {
    return this.crashed;
  }

  /**
   * Installs the injector on `client` (inside the SDK's retry loop). Returns the client. Attaching
   * it again to the same client changes nothing; another injector on the same client adds its
   * rules (each decides on every attempt, the one attached last first).
   *
   * @throws ValidationError when `service` is not `'dynamodb'` or `'s3'`, or is not the client's
   *   (an S3 client attached as `'dynamodb'`): its requests were classified as the other
   *   service's, so `atStep` aimed at a step of one client never fired, or fired at a writer's own
   *   request to another bucket.
   */
  attach<C extends AttachableClient>(client: C, service: 'dynamodb' | 's3'): C {
    assertService(client, service);
    const middleware =
      (next: (args: any) => Promise<any>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown>; request?: { body?: unknown } }) => {
        const request: RequestInfo = { service, command: context.commandName ?? 'unknown', input: args.input };
        return this.intercept(
          request,
          () => next(args),
          () => replaceToken(args.request),
        );
      };
    addInsideRetryLoop(client.middlewareStack, this.name, middleware);
    return client;
  }

  private async intercept<T>(request: RequestInfo, send: () => Promise<T>, expireToken: () => void): Promise<T> {
    if (this.crashed !== undefined) throw new CrashError(this.crashed);
    this.stats.requests++;
    const rule = this.pick(request);
    if (rule === undefined) return send();
    this.stats.injected[rule.kind]++;
    if (rule.before !== undefined) await rule.before(request);
    // The process may have died while this attempt was held (its hook, a delay): nothing of it goes out.
    const alive = () => {
      if (this.crashed !== undefined) throw new CrashError(this.crashed);
    };
    alive();
    switch (rule.kind) {
      case 'loseRequest':
        throw networkError('injected: request lost before it was sent');
      case 'loseResponse':
        // Whatever the server answered, a refusal included, never reaches the client.
        await send().catch(() => undefined);
        throw networkError('injected: response lost after the request was applied');
      case 'throttle':
        throw throttlingError(request);
      case 'fail':
        throw rule.error?.(request) ?? new Error(`injected failure at ${request.service}:${request.command}`);
      case 'delay':
        await this.hold(rule.delayMs ?? 1_000);
        alive();
        return send();
      case 'expireToken':
        expireToken();
        return send();
      case 'crashBefore':
        this.crash(request);
        throw new CrashError(request);
      case 'crashAfter':
        await send().catch(() => undefined);
        this.crash(request);
        throw new CrashError(request);
    }
  }

  /**
   * Waits `ms`, or until the process dies (a dead process holds nothing: its held attempts end with
   * it). A wait past a timer's limit (2^31 - 1 ms, after which Node fires at once) is waited in
   * steps; `Infinity` holds until the crash.
   */
  private hold(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const release = () => {
        clearTimeout(timer);
        this.held.delete(release);
        resolve();
      };
      const wait = (left: number) => {
        timer = left > MAX_TIMER_MS ? setTimeout(() => wait(left - MAX_TIMER_MS), MAX_TIMER_MS) : setTimeout(release, left);
      };
      wait(ms);
      this.held.add(release);
    });
  }

  /** The process dies at `request`: every attempt a delay holds is released, to fail unsent. */
  private crash(request: RequestInfo): void {
    this.crashed = request;
    for (const release of [...this.held]) release();
  }

  private pick(request: RequestInfo): FaultRule | undefined {
    for (const entry of this.rules) {
      const { rule } = entry;
      if (rule.match !== undefined && !rule.match(request)) continue;
      entry.seen++;
      if (entry.seen <= (rule.skip ?? 0)) continue;
      if (rule.times !== undefined && entry.fired >= rule.times) continue;
      if (rule.probability !== undefined && this.random() >= rule.probability) continue;
      entry.fired++;
      return rule;
    }
    return undefined;
  }
}

/**
 * The SDK's `serviceId`s of the clients each {@link RequestInfo.service} names (a DynamoDB Streams
 * client's requests name no table: every one is `other`, as for DynamoDB).
 */
const SERVICE_IDS: Readonly<Record<RequestInfo['service'], readonly string[]>> = { dynamodb: ['DynamoDB', 'DynamoDB Streams'], s3: ['S3'] };

/**
 * Refuses a `service` that is no {@link RequestInfo.service}, or that names another service than
 * the client's own (its `config.serviceId`, when it has one): a request is classified by it (an S3
 * request under the store's bucket and prefix is the store's; any other service's is told by its
 * table), and a throttle is answered as that service throttles.
 */
function assertService(client: AttachableClient, service: unknown): void {
  if (service !== 'dynamodb' && service !== 's3') {
    throw new ValidationError(`FaultInjector.attach: the service must be 'dynamodb' or 's3'; got ${JSON.stringify(service)}`, 'service');
  }
  const serviceId = (client as { config?: { serviceId?: unknown } }).config?.serviceId;
  if (typeof serviceId === 'string' && !SERVICE_IDS[service].includes(serviceId)) {
    throw new ValidationError(
      `FaultInjector.attach: a ${serviceId} client attached as '${service}': its requests would be taken for ${SERVICE_IDS[service][0]}'s`,
      'service',
    );
  }
}

const RULE_FIELDS = optionNames<FaultRule>()('kind', 'match', 'probability', 'times', 'skip', 'delayMs', 'error', 'before');

/**
 * Refuses a rule whose fault no attempt would meet as its kind says: an unknown `kind` (`crash`)
 * answered its attempt with nothing (the SDK failed it unsent, and no crash: the "dead" writer
 * went on); an unknown name (`step: 'commit'`) was ignored, so the rule fired at every request;
 * a `match` that is no function failed every attempt with a `TypeError`; a `times` or `skip` of
 * NaN or below 0 and a `delayMs` of NaN changed silently what the rule does.
 */
function assertRule(rule: FaultRule): void {
  if (rule === undefined) throw new ValidationError('FaultInjector.add takes a rule ({ kind, match, ... })', 'rule');
  assertOptions(rule, RULE_FIELDS, 'FaultInjector.add');
  if (!FAULT_KINDS.includes(rule.kind)) {
    throw new ValidationError(`a fault rule's kind must be one of ${FAULT_KINDS.join(', ')}; got ${JSON.stringify(rule.kind)}`, 'kind');
  }
  for (const name of ['match', 'before', 'error'] as const) {
    if (rule[name] !== undefined && typeof rule[name] !== 'function') {
      throw new ValidationError(`a fault rule's ${name} must be a function; got ${JSON.stringify(rule[name])}`, name);
    }
  }
  const { probability, times, skip, delayMs } = rule;
  if (probability !== undefined && !(typeof probability === 'number' && probability >= 0 && probability <= 1)) {
    throw new ValidationError(`a fault rule's probability must be a number from 0 to 1; got ${String(probability)}`, 'probability');
  }
  for (const [name, value] of [
    ['times', times],
    ['skip', skip],
  ] as const) {
    if (value !== undefined && !isIntegerIn(value, 0)) {
      throw new ValidationError(`a fault rule's ${name} must be a whole number, 0 or more; got ${String(value)}`, name);
    }
  }
  if (delayMs !== undefined && !(typeof delayMs === 'number' && delayMs >= 0)) {
    throw new ValidationError(
      `a fault rule's delayMs must be a number of ms, 0 or more (Infinity: until the crash); got ${String(delayMs)}`,
      'delayMs',
    );
  }
}

/** Matches requests by command name (with or without the `Command` suffix). */
export function onCommand(...commands: string[]): (request: RequestInfo) => boolean {
  const names = new Set(commands.map((c) => (c.endsWith('Command') ? c : `${c}Command`)));
  return (request) => names.has(request.command);
}

/**
 * Replaces the `ClientRequestToken` in a serialized request's JSON body with a fresh token of the
 * same length (so its Content-Length holds). The SDK's body is a string or bytes (its JSON
 * serializer's adapter is a `Uint8Array` that is also a string); a request without a token is
 * sent as it is.
 */
function replaceToken(http: { body?: unknown } | undefined): void {
  const body = http?.body;
  if (http === undefined || (typeof body !== 'string' && !(body instanceof Uint8Array))) return;
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const replaced = text.replace(/("ClientRequestToken":")([^"]*)"/, (_all, head: string, token: string) => {
    const fresh = Array.from({ length: token.length }, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('');
    return `${head}${fresh}"`;
  });
  if (replaced !== text) http.body = replaced;
}

function networkError(message: string): Error {
  // Classified by the SDK as transient (code ECONNRESET): the retry strategy retries it.
  return Object.assign(new Error(message), { name: 'TimeoutError', code: 'ECONNRESET', $metadata: {} });
}

function throttlingError(request: RequestInfo): Error {
  const name = request.service === 's3' ? 'SlowDown' : 'ThrottlingException';
  return Object.assign(new Error(`injected: ${name}`), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: request.service === 's3' ? 503 : 400 },
    $retryable: { throttling: true },
  });
}
