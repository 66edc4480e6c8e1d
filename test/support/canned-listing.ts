/**
 * An S3 client whose listings are answered by the test, no request sent: for answers the local
 * server never gives (a page that repeats its token or markers, a truncated page without one).
 */
import type { S3Client } from '@aws-sdk/client-s3';

/** S3 listing commands a test may answer. */
export type ListingCommand = 'ListObjectsV2' | 'ListMultipartUploads' | 'ListParts';

/**
 * Answers every `command` sent through `s3` with `page(input)` from now on (replacing an earlier
 * answer of the same command); more than 50 pages is a plain Error, so a listing without end fails
 * the test instead of hanging it. Returns how many pages were asked for.
 */
export function answering(
  s3: S3Client,
  command: ListingCommand,
  page: (input: Record<string, unknown>) => Record<string, unknown>,
): { sent: () => number } {
  let sent = 0;
  const middleware =
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => {
      if (context.commandName !== `${command}Command`) return next(args);
      sent++;
      if (sent > 50) throw new Error('still listing after 50 pages');
      return { response: {}, output: { $metadata: {}, ...page(args.input) } };
    };
  s3.middlewareStack.add(middleware as never, { step: 'initialize', name: `canned${command}`, override: true });
  return { sent: () => sent };
}
