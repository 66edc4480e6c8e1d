/**
 * Which service sent a payload 2.0 event: a Lambda Function URL, or an API Gateway HTTP API.
 * They differ where the objects API must know it: an HTTP API answers its client 503 on its own
 * after its 30 s integration timeout, and it passes `rawPath` percent-decoded, where a Function URL
 * passes the path as its client encoded it (live captures published by others; not checked here
 * on AWS, so the objects API refuses what it cannot carry intact rather than trust either reading).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * Whether an HTTP API sent `event`: its `requestContext.apiId` is an HTTP API's id, 10 characters
 * of lower-case letters and digits (a Function URL's is 32), and its domain is no Function URL's
 * (`<id>.lambda-url.<region>.on.aws`), whatever domain the API is reached by. False for the dev
 * service's events and anything without an id.
 */
export function sentByHttpApi(event: APIGatewayProxyEventV2): boolean {
  const { apiId, domainName } = (event?.requestContext ?? {}) as Partial<APIGatewayProxyEventV2['requestContext']>;
  if (typeof apiId !== 'string' || !/^[a-z0-9]{10}$/.test(apiId)) return false;
  return !(typeof domainName === 'string' && /\.lambda-url\.[a-z0-9-]+\.on\.aws$/.test(domainName));
}
