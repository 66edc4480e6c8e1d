/**
 * Which host a client sends its requests to, found as the SDK finds it: its `endpoint` option,
 * else `AWS_ENDPOINT_URL_*` or the shared config file's `endpoint_url`, else AWS's own endpoint
 * for its region. A request is built by the client's middleware stack up to the point where it
 * would be signed, its host read there, and the request dropped: nothing is sent (the credentials
 * are resolved on the way, as for any request: with none to be had, it rejects with the SDK's
 * `CredentialsProviderError`).
 *
 * What it is for: a tool that is safe only against a test's own tables (one that sweeps ahead of
 * the clock, say) refuses to run against AWS unless told to. A host is AWS's when it is under one
 * of AWS's service domains ({@link AWS_SERVICE_DOMAINS}), VPC endpoints included.
 */
import { type DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ConfigError, ValidationError } from '../errors.js';

/**
 * The domains AWS's service endpoints are under, in every partition the SDK places a client in,
 * each by its endpoints' domain and its dual-stack endpoints' (`AWS_USE_DUALSTACK_ENDPOINT`): AWS
 * and GovCloud, China, the European Sovereign Cloud, and the ISO partitions (ISO, ISO-B, ISO-E,
 * ISO-F). One left out (China's dual-stack `api.amazonwebservices.com.cn`, the European Sovereign
 * Cloud's `amazonaws.eu`) was taken for a local server's: the tool ran against AWS's tables.
 */
export const AWS_SERVICE_DOMAINS = [
  'amazonaws.com',
  'api.aws',
  'amazonaws.com.cn',
  'api.amazonwebservices.com.cn',
  'amazonaws.eu',
  'api.amazonwebservices.eu',
  'c2s.ic.gov',
  'api.aws.ic.gov',
  'sc2s.sgov.gov',
  'api.aws.scloud',
  'cloud.adc-e.uk',
  'api.cloud-aws.adc-e.uk',
  'csp.hci.ic.gov',
  'api.aws.hci.ic.gov',
] as const;

/** Where a request goes: its scheme, host, port and path, as the SDK built it. */
interface RequestTarget {
  readonly protocol?: unknown;
  readonly hostname?: unknown;
  readonly port?: unknown;
  readonly path?: unknown;
}

/** Thrown by the middleware that reads the host, to stop the request before it is signed. */
class HostFound extends Error {
  constructor(readonly target: RequestTarget) {
    super(`request to ${String(target.hostname)} built and dropped`);
  }
}

/** Where `client` would send a DynamoDB request, read from the request it builds (and drops). */
async function dynamoDbTargetOf(client: DynamoDBClient): Promise<RequestTarget> {
  const command = new ListTablesCommand({ Limit: 1 });
  // The build step runs after the endpoint is resolved and before signing and retries.
  command.middlewareStack.add(
    () => async (args) => {
      throw new HostFound(args.request as RequestTarget);
    },
    { step: 'build', priority: 'low', name: 'tierlogEndpointHost' },
  );
  try {
    await client.send(command);
  } catch (err) {
    if (err instanceof HostFound) return err.target;
    throw err;
  }
  throw new Error('the request was sent: the middleware reading its host did not run');
}

/**
 * The host `client` would send a DynamoDB request to. Rejects as a request would for a client
 * the SDK cannot place (no region and no endpoint).
 */
export async function dynamoDbHostOf(client: DynamoDBClient): Promise<string> {
  const { hostname } = await dynamoDbTargetOf(client);
  return typeof hostname === 'string' ? hostname : '';
}

/**
 * The endpoint `client` sends DynamoDB requests to (`http://127.0.0.1:8000`), when it is not
 * AWS's own: placed as the SDK places it (its `endpoint` option, `AWS_ENDPOINT_URL_*`, the shared
 * config file's `endpoint_url`). Undefined for AWS's, whose DynamoDB Streams endpoint is another
 * host, which the SDK finds for a streams client of the region.
 */
export async function localDynamoDbEndpointOf(client: DynamoDBClient): Promise<string | undefined> {
  const { protocol, hostname, port, path } = await dynamoDbTargetOf(client);
  if (typeof hostname !== 'string' || isAwsHost(hostname)) return undefined;
  const scheme = typeof protocol === 'string' && protocol !== '' ? protocol.replace(/:?$/, ':') : 'https:';
  const host = hostname.includes(':') && !hostname.startsWith('[') ? `[${hostname}]` : hostname;
  const at = typeof port === 'number' ? `:${port}` : '';
  const under = typeof path === 'string' && path !== '/' ? path.replace(/\/$/, '') : '';
  return `${scheme}//${host}${at}${under}`;
}

/** Whether `hostname` is an AWS service endpoint's (under one of {@link AWS_SERVICE_DOMAINS}). */
export function isAwsHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return AWS_SERVICE_DOMAINS.some((domain) => host === domain || host.endsWith(`.${domain}`));
}

/**
 * Refuses a test tool against AWS's own DynamoDB unless `againstAws` is `true`: a `ConfigError`
 * naming `againstAws` that says what `tool` would do there (`risk`), before any request but the
 * endpoint's resolution. An `againstAws` that is not a boolean is a `ValidationError`.
 */
export async function refuseAwsUnlessTold(dynamodb: DynamoDBClient, againstAws: unknown, tool: string, risk: string): Promise<void> {
  if (againstAws !== undefined && typeof againstAws !== 'boolean') {
    throw new ValidationError(`againstAws must be true or false; got ${JSON.stringify(againstAws)}`, 'againstAws');
  }
  if (againstAws === true) return;
  let host: string;
  try {
    host = await dynamoDbHostOf(dynamodb);
  } catch (err) {
    // The SDK resolves the credentials before it builds a request: with none to be had, nothing
    // can be sent anywhere, AWS included. The tool's first request fails with that error itself
    // (or, before it, a missing optional peer is named), not this guard with a credentials error.
    if (err instanceof Error && err.name === 'CredentialsProviderError') return;
    throw err;
  }
  if (!isAwsHost(host)) return;
  throw new ConfigError(
    `${tool}: the DynamoDB client talks to AWS (${host}), not a local stack; ${risk}. Point it at a local stack (startLocalStack), or pass againstAws: true for tables a test made for itself`,
    'againstAws',
  );
}
