/**
 * What every CLI command shares: the context it runs in (configuration, clients, clock, where it
 * writes), the usage error and exit codes, and small formatting helpers (durations, instants,
 * JSON that never throws).
 *
 * Commands write through {@link CliIO}, never to `process.stdout` directly, so tests call them
 * with a capturing sink and injected clients.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { S3Client } from '@aws-sdk/client-s3';
import type { TierlogConfig } from '../config.js';
import type { Clock } from '../ids.js';
import { type ClockOff, clockOffAws } from '../aws/server-clock.js';

/** Exit codes of the `tierlog` binary. */
export const EXIT = {
  ok: 0,
  /** The command ran and failed (AWS error, missing table, delete failures, sweep errors). */
  failure: 1,
  /** Bad arguments or configuration: nothing was done. */
  usage: 2,
  /**
   * With `audit --exit-code`: the audit ran and found what needs a person and that this run did
   * not fix (orphans or expired objects' blobs it did not delete, keys that are not blob keys,
   * corrupt change-log items). Without the flag such a run exits 0: its findings are in the report.
   */
  findings: 3,
  /** Stopped by Ctrl-C (SIGINT), at a safe point; what was done is reported. 128 + SIGINT, as a shell reports it. */
  interrupted: 130,
} as const;

/** A stream the CLI writes to (`process.stdout` fits). */
export interface CliOutput {
  /** Writes `chunk` as it is (the CLI adds the newlines). */
  write(chunk: string): unknown;
  /** A terminal: the progress bar and colours are shown only there. */
  readonly isTTY?: boolean;
}

/** Where the CLI writes: `process.stdout` and `process.stderr` unless given. */
export interface CliIO {
  /** Results: the human report, or JSON with `--json`. */
  readonly stdout: CliOutput;
  /** Errors, warnings and the progress bar. */
  readonly stderr: CliOutput;
}

/** What a command runs with. */
export interface CliContext {
  /** The configuration, from the environment. */
  readonly config: TierlogConfig;
  /** The client every DynamoDB request goes through. */
  readonly dynamodb: DynamoDBClient;
  /** The client every S3 request goes through. */
  readonly s3: S3Client;
  /** ms since the epoch: the clock the command decides on. */
  readonly clock: Clock;
  /** Where the command writes. */
  readonly io: CliIO;
  /** The environment (sweeper tuning variables are read from it). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** The operator interrupted the command (Ctrl-C): it stopped at its next safe point. */
export class InterruptedError extends Error {
  readonly exitCode = EXIT.interrupted;
  constructor() {
    super('interrupted: stopped at a safe point');
    this.name = 'InterruptedError';
  }
}

/** The command was used wrongly (bad option value, refused setting): exit code 2. */
export class UsageError extends Error {
  readonly exitCode = EXIT.usage;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command ran and reports a failure it already explained: exit code 1. */
export class CommandFailedError extends Error {
  readonly exitCode = EXIT.failure;
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailedError';
  }
}

/**
 * A command stopped part-way by `cause` after it did or found something, carrying the JSON report
 * of that: `--json` prints that report with the `error` (the cause's name, message and exit code)
 * in it, so a script parsing stdout meets what was done and that it did not finish. The message on
 * stderr and the exit code are the cause's, but for a usage or configuration error's 2 when the
 * command `acted` (2 says nothing was done): it then exits 1.
 */
export class ReportBeforeError extends Error {
  constructor(
    /** What the command did before it stopped, as its `--json` report. */
    readonly report: Readonly<Record<string, unknown>>,
    /** What stopped it. */
    override readonly cause: unknown,
    /** Whether it changed anything (claimed, deleted) before it stopped. */
    readonly acted: boolean,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'ReportBeforeError';
  }
}

// ---- output ----------------------------------------------------------------------------------

/**
 * Characters a terminal may act on instead of showing them: C0 controls but tab (ESC begins a
 * sequence that clears the screen, sets the title or a hyperlink; a line feed or a carriage return
 * forges a line), DEL, the C1 controls U+0080-U+009F (xterm reads U+009B as CSI and U+009D as OSC,
 * with no ESC), the line and paragraph separators, and the bidirectional controls that reorder
 * what follows them on the line (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069).
 */
const TERMINAL_UNSAFE = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every character a terminal may act on written as its `\uXXXX` escape (see
 * {@link TERMINAL_UNSAFE}). What the CLI prints comes from the tables and the bucket: object keys
 * are an HTTP client's (the store refuses C0 controls in them, not C1 or bidirectional controls),
 * and keys under the prefix anyone's who may write the bucket. In a JSON string an escape is the
 * same character to a parser, so `--json` output parses to the same values.
 */
export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_UNSAFE, escapeCharacter);
}

/** In JSON text the C0 controls are escaped already, and a line break outside a string is layout. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeCharacter(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** Writes `lines` to `out`, one per line, each {@link terminalSafe} (a line holds no line break). */
export function println(out: CliOutput, ...lines: string[]): void {
  for (const line of lines) out.write(`${terminalSafe(line)}\n`);
}

/** JSON of anything a report may hold (BigInt, binary, sets, dates), never throwing; {@link terminalSafe}. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer, 2).replace(JSON_UNSAFE, escapeCharacter);
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { base64: Buffer.from(value).toString('base64') };
  if (value instanceof Set) return [...value];
  if (value instanceof Map) return Object.fromEntries(value);
  return value;
}

/**
 * Prints `value` as JSON on stdout: the text of {@link toJson}, written a piece at a time when
 * `value` is a plain object (a report), each element of its arrays on its own. One string of the
 * whole report could not hold an audit's millions of findings (V8 refuses a string past ~512 MiB:
 * `RangeError: Invalid string length`, the run's report lost after it had deleted).
 */
export function printJson(io: CliIO, value: unknown): void {
  if (!isPlainObject(value)) {
    io.stdout.write(`${toJson(value)}\n`);
    return;
  }
  // As JSON.stringify takes each property: toJSON, then the replacer; what it has no JSON for, left out.
  const properties = Object.entries(value)
    .map(([name, v]): [string, unknown] => [name, jsonReplacer(name, hasToJson(v) ? v.toJSON(name) : v)])
    .filter(([, v]) => jsonable(v));
  if (properties.length === 0) {
    io.stdout.write('{}\n');
    return;
  }
  io.stdout.write('{\n');
  properties.forEach(([name, v], i) => {
    const head = `  ${toJson(name)}: `;
    const end = i < properties.length - 1 ? ',\n' : '\n';
    if (!Array.isArray(v) || v.length === 0) {
      io.stdout.write(`${head}${indented(toJson(v), '  ')}${end}`);
      return;
    }
    io.stdout.write(`${head}[\n`);
    v.forEach((element: unknown, j) => {
      const text = jsonable(element) ? indented(toJson(element), '    ') : 'null';
      io.stdout.write(`    ${text}${j < v.length - 1 ? ',' : ''}\n`);
    });
    io.stdout.write(`  ]${end}`);
  });
  io.stdout.write('}\n');
}

/** An object of properties (a report), not one JSON.stringify or {@link jsonReplacer} turns into something else. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || hasToJson(value)) return false;
  return !(value instanceof Map || value instanceof Set || value instanceof Uint8Array);
}

function hasToJson(value: unknown): value is { toJSON(key: string): unknown } {
  return typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function';
}

/** Whether JSON.stringify writes `value` (it leaves out a property, and writes null for an element, that is not). */
function jsonable(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
}

/** JSON `text` of a value nested in a report, its lines after the first indented by `pad` (strings hold no line break). */
function indented(text: string, pad: string): string {
  return text.replaceAll('\n', `\n${pad}`);
}

// ---- durations and instants ----------------------------------------------------------------

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};
const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;

/**
 * Parses a duration such as `90m`, `24h`, `7d`, `1h30m` (units ms, s, m, h, d, w) into ms.
 *
 * @throws UsageError on anything else (a bare number included: the unit is never guessed).
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) {
    throw new UsageError(`invalid duration "${text}": use a number and a unit (ms, s, m, h, d, w), e.g. 90m, 24h, 7d`);
  }
  let ms = 0;
  for (const [, amount, unit] of trimmed.matchAll(DURATION_PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  // Digits past what a number holds read as Infinity: no age, and no "too young" either.
  if (!Number.isFinite(ms)) throw new UsageError(`invalid duration "${text}": too large to be a number of ms`);
  return Math.round(ms);
}

/** A short human duration: `850ms`, `45s`, `4m 12s`, `2h 5m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const abs = Math.abs(Math.round(ms));
  if (abs < 1_000) return `${abs}ms`;
  const s = Math.floor(abs / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 === 0 ? `${m}m` : `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}

/** `in 4m 12s` for a future instant, `4m 12s ago` for a past one. */
export function formatRelative(at: number, now: number): string {
  if (at === now) return 'now';
  return at > now ? `in ${formatDuration(at - now)}` : `${formatDuration(now - at)} ago`;
}

/** ISO time of a ms instant, or the raw number when it is not a valid date. */
export function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

/** `2025-01-01T00:00:00.000Z (4m 12s ago)`. */
export function formatInstant(ms: number, now: number): string {
  return `${iso(ms)} (${formatRelative(ms, now)})`;
}

/** `1 blob`, `3 blobs`. */
export function plural(n: number, singular: string, pluralForm = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : pluralForm}`;
}

/** A byte count: `512 B`, `2.1 KiB`, `40.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** Left-aligned columns. */
export function columns(rows: readonly (readonly string[])[], gap = 2): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]! + gap)))
      .join('')
      .trimEnd(),
  );
}

/**
 * Lets this process's stdout and stderr lose their reader (`tierlog status | head -1`, a terminal
 * closed under `npm run dev`) without crashing: what is written after it has gone is dropped, and
 * the program ends as it would have, with its own exit code. Any other error of the streams stays
 * fatal. For the binaries (`bin/`), not the library.
 */
export function dropOutputOnBrokenPipe(): void {
  const drop = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  };
  process.stdout.on('error', drop);
  process.stderr.on('error', drop);
}

/** `this machine's clock is 1m 2s behind AWS's` (to the second: the Date header has no finer). */
export function describeClockOff(off: ClockOff): string {
  return `this machine's clock is ${formatDuration(Math.round(off.ms / 1_000) * 1_000)} ${off.way} AWS's (as the SDK measured it from the answers' Date header)`;
}

/**
 * Warns on stderr when this machine's clock is off AWS's by more than `skewMarginMs`: a read-only
 * command that judged leases and windows on it (status, inspect) shows what a sweep on it would
 * decide, not what the scheduled sweeper will.
 */
export function warnIfClockOff(ctx: Pick<CliContext, 'dynamodb' | 's3' | 'io'>, skewMarginMs: number): void {
  const off = clockOffAws(ctx, skewMarginMs);
  if (off === undefined) return;
  ctx.io.stderr.write(
    `tierlog: warning: ${terminalSafe(describeClockOff(off))}: leases, suspect leases and upload windows here are judged on it, not on the scheduled sweeper's clock\n`,
  );
}
