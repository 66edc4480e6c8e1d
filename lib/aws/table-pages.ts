/**
 * The pages of a DynamoDB Query or Scan, checked to advance. DynamoDB starts each page after the
 * key it was asked with (`ExclusiveStartKey`), so the continuation keys of one listing never repeat.
 * A proxy or a DynamoDB-compatible store that ignores that key answers the same page again, with the
 * same `LastEvaluatedKey`, and the SDK's paginators ask for it again without end: they compare the
 * tokens by identity, and a key is a new object on every page. A key the listing was given before
 * is a {@link TableListingError} here, before the next page is asked for, as an S3 listing that
 * repeats is a `ListingError` (lt-bucket.ts).
 */
import { TableListingError } from '../errors.js';

/** What of a page this needs: its continuation key (marshalled or not). */
interface Page {
  readonly LastEvaluatedKey?: Record<string, unknown> | undefined;
}

/** The continuation keys one listing was given: each must be new. */
export class ContinuationKeys {
  private readonly seen = new Set<string>();

  /** `start`: the key the listing starts after (a scan that goes on where an earlier one stopped). */
  constructor(
    private readonly table: string,
    private readonly operation: string,
    start?: Record<string, unknown>,
  ) {
    if (start !== undefined) this.seen.add(canonical(start));
  }

  /** @throws TableListingError when `page` gives a continuation key this listing was given before. */
  check(page: Page): void {
    const key = page.LastEvaluatedKey;
    if (key === undefined) return;
    const text = canonical(key);
    if (this.seen.has(text)) {
      throw new TableListingError(
        this.table,
        this.operation,
        'a page gives a LastEvaluatedKey the listing was given before (its ExclusiveStartKey ignored?): the listing repeats',
      );
    }
    this.seen.add(text);
  }
}

/** The pages of `pages`, each checked by {@link ContinuationKeys}: a repeat throws before the next page is asked for. */
export async function* advancingPages<P extends Page>(
  pages: AsyncIterable<P>,
  where: { readonly table: string; readonly operation: string },
): AsyncGenerator<P> {
  const keys = new ContinuationKeys(where.table, where.operation);
  for await (const page of pages) {
    keys.check(page);
    yield page;
  }
}

/** One text per key value, whatever the order of its attributes (binary values as base64). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_name, v: unknown) => {
    if (v instanceof Uint8Array) return { $binary: Buffer.from(v).toString('base64') };
    if (typeof v === 'bigint') return { $bigint: v.toString() };
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}
