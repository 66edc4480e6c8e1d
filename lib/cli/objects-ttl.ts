/**
 * The objects table's TTL, read when `tierlog audit` finds objects expired long ago whose items
 * are still there ("expired, not removed by TTL"): one DescribeTimeToLive, so the finding names its
 * cause rather than listing them all. DynamoDB TTL removes an item whose expiry attribute is past,
 * and only then does the stream carry the REMOVE that deletes its blob; an item left means TTL is
 * off, on another attribute than the one the writers set (an imported table, whose TTL the
 * construct cannot check at synth), far behind, or ignoring the item (an expiry more than five
 * years past). Read only, never a reason to delete: what the audit does with the finding is
 * unchanged. A read that fails is said with its cause (the permission named only when it is an
 * access denial: a role without `dynamodb:DescribeTimeToLive`), and the audit's report stands.
 */
import { type DynamoDBClient, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { awsErrorName, isCredentialRefusal, translateAwsError } from '../aws/errors.js';
import { AccessDeniedError } from '../errors.js';

/** What the audit says of the objects table's TTL, beside its expired findings. */
export type ObjectsTableTtl =
  | {
      /** DynamoDB's `TimeToLiveStatus` (ENABLED, ENABLING, DISABLED, DISABLING). */
      readonly status: string;
      /** The attribute TTL reads, as DynamoDB describes it; null when it names none. */
      readonly attribute: string | null;
      /** The attribute the writers set the expiry in (`TIERLOG_HV_ATTRIBUTES`' `expiresAt`). */
      readonly expiryAttribute: string;
      /** The likely cause, for a person. */
      readonly diagnosis: string;
    }
  | {
      /** Why the TTL could not be read. */
      readonly error: string;
    };

/**
 * The cause the TTL of `table` points at for items left past their expiry in `expiryAttribute`
 * (pure: the `status` and `attribute` DescribeTimeToLive answered).
 */
export function ttlDiagnosis(table: string, status: string, attribute: string | null, expiryAttribute: string): string {
  const enable =
    `enable it: aws dynamodb update-time-to-live --table-name ${table} ` +
    `--time-to-live-specification Enabled=true,AttributeName=${expiryAttribute}`;
  if (status === 'DISABLED' || status === 'DISABLING') {
    return `TTL is ${status === 'DISABLED' ? 'off' : 'being turned off'} on ${table}: it removes no expired object; ${enable}`;
  }
  if (attribute !== null && attribute !== expiryAttribute) {
    return (
      `TTL reads "${attribute}" on ${table}, not "${expiryAttribute}", where the writers set the expiry ` +
      '(TIERLOG_HV_ATTRIBUTES): it removes none of these; a table takes one TTL attribute, so turn it off and ' +
      `${enable}`
    );
  }
  if (status === 'ENABLING')
    return `TTL is being turned on for "${expiryAttribute}" on ${table} (up to an hour): audit again once it is on`;
  return (
    `TTL is on for "${expiryAttribute}" on ${table}: it is far behind, or ignores these expiries ` +
    '(DynamoDB TTL never removes an item whose expiry is more than five years past)'
  );
}

/** DescribeTimeToLive of `table`, said as {@link ObjectsTableTtl}; never throws. */
export async function readObjectsTableTtl(dynamodb: DynamoDBClient, table: string, expiryAttribute: string): Promise<ObjectsTableTtl> {
  try {
    const answer = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: table }));
    const status = answer.TimeToLiveDescription?.TimeToLiveStatus ?? 'DISABLED';
    const attribute = answer.TimeToLiveDescription?.AttributeName ?? null;
    return { status, attribute, expiryAttribute, diagnosis: ttlDiagnosis(table, status, attribute, expiryAttribute) };
  } catch (err) {
    const name = awsErrorName(err) ?? (err instanceof Error ? err.name : 'Error');
    const message = err instanceof Error ? err.message : String(err);
    // The permission is named where its want is the cause: a throttle, a table gone or credentials
    // refused (an expired token) were said with it too, sending the operator to a grant the role has.
    const denied =
      translateAwsError(err, { operation: 'DescribeTimeToLive', table }) instanceof AccessDeniedError && !isCredentialRefusal(err);
    return { error: `the TTL of ${table} could not be read (${name}: ${message}${denied ? '; dynamodb:DescribeTimeToLive' : ''})` };
  }
}
