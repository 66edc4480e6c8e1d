/**
 * Presigned S3 URLs (SigV4 query authentication) for one command, made with the client's own
 * configuration: its endpoint, path style, region and credentials. The command is built by the
 * client's middleware stack (a clone, so concurrent calls do not interfere) up to the point
 * where it would be signed; it is presigned there instead of sent.
 *
 * Only `host` is signed, and the headers the caller names (`signedHeaders`): the holder of the URL
 * may send any content type, which is what a browser or `curl` uploading a part does. A signed
 * `content-length` holds the body to exactly that many bytes: S3 refuses a request whose signed
 * headers differ from the signature's (SignatureDoesNotMatch). A URL carries the signer's
 * permissions at use time and lives at most 7 days (less with temporary credentials: it dies with them).
 * It is dated when the call starts, so its lifetime runs from the instant the caller measured it at,
 * whatever the signing waits for (credentials, a paused process): it never ends later than asked.
 * That instant is read on S3's clock as the SDK measured it (`systemClockOffset`), as the SDK dates
 * the requests it signs: S3 judges the URL's life on its own clock.
 *
 * Many URLs of one operation that differ in a query parameter (the parts of a multipart upload:
 * `PUT /<key>?partNumber=<n>&uploadId=<id>` in S3's REST API) are made by {@link presignUrls} from
 * ONE pass of the middleware stack: the request it builds for the first is copied with that
 * parameter changed and each copy signed. The pass is what costs (about 2 ms of CPU and 230 KiB of
 * garbage a URL, against 0.1 ms and 25 KiB to sign), so a thousand part URLs cost one pass and a
 * thousand signatures, not a thousand passes. A variant may only change a parameter the pass put
 * in the query: the path, the method and every other parameter are the pass's.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { AccessDeniedError, TierlogError, ValidationError } from '../errors.js';
import { serverClockOffset } from './server-clock.js';

/** S3's limit on a SigV4 presigned URL's lifetime. */
export const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

interface HttpRequestLike {
  protocol: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
}

/** A command as the SDK builds it (any S3 command). */
interface PresignableCommand<I extends object> {
  readonly input: I;
  resolveMiddleware(
    stack: S3Client['middlewareStack'],
    config: S3Client['config'],
    options: undefined,
  ): (args: { input: I }) => Promise<unknown>;
}

/** A presigned URL and how long it really lives. */
export interface PresignedUrl {
  readonly url: string;
  /**
   * Seconds from signing until S3 refuses the URL: the lifetime asked for, or less when the
   * signer's credentials are temporary and expire first (the URL dies with them).
   */
  readonly expiresInSeconds: number;
  /**
   * Milliseconds from the call's start until S3 refuses the URL: `expiresInSeconds` less the part of
   * a second its date lost (and a second more when it was dated on S3's clock as the SDK measured it). The signature is dated in whole seconds (`X-Amz-Date`), the instant the
   * call started truncated, and S3 counts `X-Amz-Expires` from there: a URL signed 0.9 s into a
   * second ends 0.9 s before `expiresInSeconds` have passed.
   */
  readonly expiresInMs: number;
}

/**
 * A URL that performs `command` for whoever holds it, for `expiresInSeconds` (1 .. 7 days), or
 * until the signer's temporary credentials expire if that comes first (see the answer's
 * `expiresInSeconds`). @throws AccessDeniedError when the credentials have less than a second left.
 */
export async function presignUrl<I extends object>(
  s3: S3Client,
  command: PresignableCommand<I>,
  expiresInSeconds: number,
  signedHeaders: Readonly<Record<string, string>> = {},
): Promise<PresignedUrl> {
  return (await presignUrls(s3, command, expiresInSeconds, [{ signedHeaders }]))[0]!;
}

/** One URL of {@link presignUrls}: the request `command` makes, with these query parameters and signed headers. */
export interface PresignVariant {
  /** Query parameters to change (each must be one the command's request carries). */
  readonly query?: Readonly<Record<string, string>>;
  /** Headers to sign besides `host` (see the head of this file). */
  readonly signedHeaders?: Readonly<Record<string, string>>;
}

/**
 * The URLs of `variants`, in their order, each as {@link presignUrl} would make it for `command`
 * with the variant's query parameters: one pass of the middleware stack, one identity, one date
 * and one lifetime for all. @throws AccessDeniedError when the credentials have less than a
 * second left; TierlogError when a variant names a query parameter the request does not carry.
 */
export async function presignUrls<I extends object>(
  s3: S3Client,
  command: PresignableCommand<I>,
  expiresInSeconds: number,
  variants: readonly PresignVariant[],
): Promise<PresignedUrl[]> {
  const wanted = Math.floor(expiresInSeconds);
  if (!Number.isFinite(wanted) || wanted < 1 || wanted > MAX_PRESIGN_SECONDS) {
    throw new ValidationError(`a presigned URL lives 1 to ${MAX_PRESIGN_SECONDS} seconds, not ${expiresInSeconds}`, 'expiresIn');
  }
  if (variants.length === 0) return [];
  // The URL's lifetime runs from this call, when the caller measured it (a presigned GET's from
  // the object's expiry), not from the moment of the signature: resolving the credentials may
  // take seconds (a refresh from STS or the container endpoint) or the process may pause, and a
  // URL dated then would outlive what the caller bounded it by (an expired object served).
  // On S3's clock as the SDK measured it (`systemClockOffset`, from its answers' Date header), as
  // the SDK dates every request it signs: S3 counts X-Amz-Expires from X-Amz-Date on its own clock,
  // and a URL dated on a machine's clock behind S3's is dead before its time (ahead: it outlives it).
  // A Date header holds whole seconds, so the measure runs up to a second behind S3: an offset
  // within a second is none (this clock is as good), and a URL dated on a larger one is answered
  // a second short (it may end that much before S3's measured clock says).
  const offset = serverClockOffset(s3);
  const skewed = Math.abs(offset) >= 1_000;
  const signingDate = new Date(Date.now() + (skewed ? offset : 0));
  const stack = s3.middlewareStack.clone();
  const config = s3.config as S3Client['config'] & { sha256: ConstructorParameters<typeof SignatureV4>[0]['sha256'] };
  // One identity signs and bounds the lifetime: S3 refuses a URL once the credentials that signed
  // it have expired, whatever its X-Amz-Expires says.
  const credentials = await config.credentials();
  // An expiry that is no time (an AWS_CREDENTIAL_EXPIRATION the SDK read as an Invalid Date) bounds
  // nothing, as for the SDK, which signs with such credentials and never refreshes them: a NaN
  // lifetime would sign a URL S3 refuses (`X-Amz-Expires=NaN`) and answer an `expiresAt` of NaN.
  const expiresAt = credentials.expiration === undefined ? Number.NaN : new Date(credentials.expiration).getTime();
  // The credentials' expiry is the issuer's clock's, and S3 judges it on its own.
  const s3Now = skewed ? Date.now() + offset + 1_000 : Date.now();
  const left = Number.isFinite(expiresAt) ? Math.floor((expiresAt - s3Now) / 1_000) : wanted;
  const expiresIn = Math.min(wanted, left);
  if (expiresIn < 1) throw new AccessDeniedError('presign', "the signer's credentials (expired)");
  stack.addRelativeTo(
    (() => async (args: { request: HttpRequestLike }) => {
      const request = args.request;
      // Per-attempt and client-identifying headers mean nothing in a URL; an unsigned
      // content-type lets the holder send what it has.
      for (const name of Object.keys(request.headers)) {
        if (name.toLowerCase() !== 'host') delete request.headers[name];
      }
      const signer = new SignatureV4({
        credentials,
        region: config.region,
        service: 's3',
        sha256: config.sha256,
        uriEscapePath: false,
        applyChecksum: false,
      });
      const presigned: HttpRequestLike[] = [];
      for (const variant of variants) {
        const query = { ...request.query };
        for (const [name, value] of Object.entries(variant.query ?? {})) {
          if (!Object.hasOwn(query, name)) throw new TierlogError(`presign: the request has no query parameter "${name}" to vary`);
          query[name] = value;
        }
        const headers = { ...request.headers };
        for (const [name, value] of Object.entries(variant.signedHeaders ?? {})) headers[name.toLowerCase()] = value;
        presigned.push(
          (await signer.presign({ ...request, query, headers } as never, { expiresIn, signingDate })) as unknown as HttpRequestLike,
        );
      }
      return { response: {}, output: { $metadata: {}, presigned } };
    }) as never,
    { name: 'tierlogPresign', relation: 'before', toMiddleware: 'httpSigningMiddleware', override: true },
  );
  const handler = command.resolveMiddleware(stack, s3.config, undefined);
  const out = (await handler({ input: command.input })) as { output: { presigned: HttpRequestLike[] } };
  // X-Amz-Date drops the date's milliseconds: the URL ends that much before expiresIn has passed.
  const expiresInMs = expiresIn * 1_000 - (signingDate.getTime() % 1_000) - (skewed ? 1_000 : 0);
  return out.output.presigned.map((request) => ({ url: formatUrl(request), expiresInSeconds: expiresIn, expiresInMs }));
}

function formatUrl(request: HttpRequestLike): string {
  const port = request.port !== undefined ? `:${request.port}` : '';
  const query = Object.entries(request.query)
    .flatMap(([name, value]) =>
      value === null
        ? [encodeURIComponent(name)]
        : ([] as string[]).concat(value).map((v) => `${encodeURIComponent(name)}=${encodeURIComponent(v)}`),
    )
    .join('&');
  return `${request.protocol}//${request.hostname}${port}${request.path}${query.length > 0 ? `?${query}` : ''}`;
}
