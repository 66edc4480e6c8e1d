/**
 * Preconditions of a read (GET, HEAD) of an object, RFC 9110 §13, evaluated against the version
 * the read returned: the state whose bytes (or headers) are answered, so a match can never be
 * judged on one version and answered with another. Pure functions.
 *
 * The rule, in §13.2.2's order (an origin server MUST evaluate If-Match and If-None-Match,
 * §13.1.1 and §13.1.2):
 *
 *   1. `If-Match`: strong comparison (a weak tag never matches), `*` matches any object. False:
 *      412. This is what keeps a download in several ranged requests from splicing two versions.
 *   2. `If-Unmodified-Since` without `If-Match`: refused (400), never evaluated. A date cannot
 *      name a version: several versions can share a second, and writers' clocks differ, so an
 *      object replaced by a writer whose clock runs behind would look unmodified. Ignoring it
 *      would hand the client the very splice it asked to be protected from. Use `If-Match`.
 *   3. `If-None-Match`: weak comparison, `*` matches any object. True (a match): 304.
 *   4. `If-Modified-Since`: not evaluated (answered as if the header were absent). For the
 *      same reason as 2 a 304 on a date could keep a stale copy in a cache; answering the bytes
 *      is always correct, only less economical. A cache that holds the ETag sends If-None-Match,
 *      which takes precedence anyway. (A GET answered by a redirect to S3 refuses it without
 *      If-None-Match: it follows the redirect, and S3 evaluates it on its own date.)
 *
 * An absent object is 404 whatever the preconditions (§13.2.1: a non-2xx answer to the request
 * without them takes precedence). A range is evaluated after them (§14.2): a range past the end
 * of a version `If-Match` does not name is 412, never 416. A malformed `If-Match` or
 * `If-None-Match` is 400: a precondition is never ignored. The ETag of an object is its quoted
 * version (`"<version>"`), so tags are compared with the version's digits.
 */
import { ValidationError } from '../errors.js';

/** One entity tag of a list: its opaque part (without quotes) and whether it was weak. */
export interface EntityTag {
  readonly weak: boolean;
  readonly opaque: string;
}

/** The preconditions of a read request, parsed (validated) before anything is read. */
export interface ReadPreconditions {
  /** `If-Match`: `*` or the tags listed; undefined when absent. */
  readonly ifMatch?: '*' | readonly EntityTag[];
  /** `If-None-Match`: `*` or the tags listed; undefined when absent. */
  readonly ifNoneMatch?: '*' | readonly EntityTag[];
}

/** What the preconditions make of a read of one version. */
export type ReadVerdict = 'proceed' | 'not-modified' | 'failed';

/** `W/"…"` or `"…"`, etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3). */
const ENTITY_TAG = /^(W\/)?"([\x21\x23-\x7E\x80-\xFF]*)"/;

/**
 * The preconditions of a GET or HEAD (header names lower-case).
 * @throws ValidationError for a malformed If-Match or If-None-Match, or an If-Unmodified-Since without If-Match.
 */
export function readPreconditionsOf(headers: Readonly<Record<string, string>>): ReadPreconditions {
  const ifMatch = headers['if-match'] !== undefined ? entityTags(headers['if-match'], 'If-Match') : undefined;
  const ifNoneMatch = headers['if-none-match'] !== undefined ? entityTags(headers['if-none-match'], 'If-None-Match') : undefined;
  refuseDateOnlyCondition(headers);
  return { ...(ifMatch !== undefined ? { ifMatch } : {}), ...(ifNoneMatch !== undefined ? { ifNoneMatch } : {}) };
}

/**
 * Refuses `If-Unmodified-Since` without `If-Match` (with it, §13.2.2 ignores the date), on reads
 * and writes alike: a date cannot name a version (rule 2 above), and a precondition is never ignored.
 * @throws ValidationError
 */
export function refuseDateOnlyCondition(headers: Readonly<Record<string, string>>): void {
  if (headers['if-match'] === undefined && headers['if-unmodified-since'] !== undefined) {
    throw new ValidationError(
      'If-Unmodified-Since is not evaluated (a date cannot name a version): send If-Match with the ETag',
      'If-Unmodified-Since',
    );
  }
}

/** The verdict of `preconditions` on a read that found `version` (§13.2.2, steps 1 and 3). */
export function evaluateRead(preconditions: ReadPreconditions, version: number): ReadVerdict {
  const opaque = String(version);
  const { ifMatch, ifNoneMatch } = preconditions;
  if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.some((tag) => !tag.weak && tag.opaque === opaque)) return 'failed';
  if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || ifNoneMatch.some((tag) => tag.opaque === opaque))) return 'not-modified';
  return 'proceed';
}

/** `*`, or a comma-separated list of entity tags (empty elements tolerated, RFC 9110 §5.6.1.2). */
function entityTags(value: string, field: string): '*' | EntityTag[] {
  if (value.trim() === '*') return '*';
  const tags: EntityTag[] = [];
  let rest = value;
  for (;;) {
    rest = rest.replace(/^[\s,]+/, '');
    if (rest === '') break;
    const match = ENTITY_TAG.exec(rest);
    if (match === null) throw new ValidationError(`${field} must be * or a list of quoted entity tags, e.g. "3"`, field);
    tags.push({ weak: match[1] !== undefined, opaque: match[2]! });
    rest = rest.slice(match[0].length).replace(/^\s+/, '');
    if (rest !== '' && !rest.startsWith(',')) {
      throw new ValidationError(`${field} must be * or a list of quoted entity tags, e.g. "3"`, field);
    }
  }
  if (tags.length === 0) throw new ValidationError(`${field} must be * or a list of quoted entity tags, e.g. "3"`, field);
  return tags;
}
