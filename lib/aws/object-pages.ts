/**
 * The pages of an S3 `ListObjectsV2`, checked to advance. S3 continues a truncated page from its
 * `NextContinuationToken`, and a listing's tokens never repeat. A proxy or an S3-compatible store
 * that ignores the token answers the same page again, with the same token, and the SDK's paginator
 * asks for it again without end (it stops on a repeated token only when told to, and this check
 * says why); a truncated page without a token ends the paginator in silence, as if the listing were
 * complete. Either is a {@link ListingError} here, before the next page is asked for, as a table
 * listing that repeats is a `TableListingError` (table-pages.ts). A listing that also checks its
 * keys' order (`LtBucket.list`) still needs this: a page without keys that repeats shows no order.
 */
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3';
import { ListingError } from '../errors.js';

/** What of a page this needs. */
type Page = Pick<ListObjectsV2CommandOutput, 'IsTruncated' | 'NextContinuationToken'>;

/** The continuation tokens one listing was given: each must be new, and a truncated page must give one. */
export class ContinuationTokens {
  private readonly seen = new Set<string>();

  constructor(
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  /** @throws ListingError when `page` is truncated without a token, or gives one this listing was given before. */
  check(page: Page): void {
    const token = page.NextContinuationToken;
    if (page.IsTruncated === true && !token) {
      throw new ListingError(this.bucket, this.prefix, 'a page says it is truncated and gives no continuation token');
    }
    if (!token) return;
    if (this.seen.has(token)) {
      throw new ListingError(
        this.bucket,
        this.prefix,
        'a page gives a continuation token the listing was given before: the listing repeats',
      );
    }
    this.seen.add(token);
  }
}

/** The pages of `pages`, each checked by {@link ContinuationTokens}: a repeat throws before the next page is asked for. */
export async function* advancingObjectPages<P extends Page>(
  pages: AsyncIterable<P>,
  where: { readonly bucket: string; readonly prefix: string },
): AsyncGenerator<P> {
  const tokens = new ContinuationTokens(where.bucket, where.prefix);
  for await (const page of pages) {
    tokens.check(page);
    yield page;
  }
}
