/**
 * What each attempt asked, for the trace of a failing seed: a rule that never fires and writes
 * every request it sees as one short line (`record k…`, `commit update …`, `putObject …`).
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { TierlogConfig } from '../../../lib/config.js';
import type { FaultRule, RequestInfo } from '../../../lib/faults/fault-injector.js';
import type { Fixture } from '../../support/local.js';
import { namesReplacedBlob } from '../../../lib/drill/writer.js';

/** A rule that never fires and writes every request it sees to `sink` (what each attempt asked). */
export function spyRule(config: TierlogConfig, sink: () => string[]): FaultRule {
  return {
    kind: 'loseRequest',
    match: (r) => {
      sink().push(spyLine(r, config));
      return false;
    },
  };
}

/**
 * True when a writer's request writes a replaced blob (`old`) into a change-log entry (with
 * `replacedBlobCleanup: 'stream'` no write of a put or a delete does): the drill's check.
 */
export const namesOld = namesReplacedBlob;

/** The command and the table (`:log`, `:hv`) of a request. */
export function describeRequest(r: RequestInfo, config: TierlogConfig): string {
  const command = r.command.replace(/Command$/, '');
  const table = r.input.TableName === config.changeLogTable ? ':log' : r.input.TableName === config.objectsTable ? ':hv' : '';
  return `${command}${table}`;
}

/** A blob with the object and the write (tag) it belongs to. */
export async function describeBlob(fx: Fixture, blob: string): Promise<string> {
  const object = Buffer.from(blob.split('/')[1] ?? '', 'base64url').toString('utf8');
  try {
    const head = await fx.s3.send(new HeadObjectCommand({ Bucket: fx.config.bucket, Key: blob }));
    return `${blob} (object ${object}, tag ${head.Metadata?.tag ?? '?'}, written ${head.LastModified?.toISOString()})`;
  } catch {
    return `${blob} (object ${object})`;
  }
}

function spyLine(r: RequestInfo, config: TierlogConfig): string {
  const input = r.input as Record<string, any>;
  // The middleware sees marshalled input: {S: ...} / {N: ...}.
  const plain = (v: unknown): unknown =>
    typeof v === 'object' && v !== null && ('S' in v || 'N' in v) ? ((v as { S?: string; N?: string }).S ?? (v as { N?: string }).N) : v;
  const short = (v: unknown) => {
    const p = plain(v);
    return typeof p === 'string' ? p.slice(-6) : JSON.stringify(p);
  };
  const values = (vals: Record<string, unknown> | undefined) =>
    Object.entries(vals ?? {})
      .filter(([k]) => k !== ':entry' && k !== ':metadata' && k !== ':body')
      .map(([k, v]) => `${k}=${short(v)}`)
      .join(' ');
  switch (r.command) {
    case 'UpdateItemCommand':
      if (input.TableName === config.changeLogTable) {
        const names = input.ExpressionAttributeNames ?? {};
        const entry = input.ExpressionAttributeValues?.[':entry'];
        if (entry !== undefined)
          return `record ${short(input.Key?.pk)} ${names['#c']?.slice(-6)} new=${short(entry.M?.new)} old=${short(entry.M?.old)}`;
        if (names['#c'] !== undefined) return `remove ${short(input.Key?.pk)} ${names['#c'].slice(-6)}`;
        if (String(input.UpdateExpression).includes(':claimed')) return `claim ${short(input.Key?.pk)}`;
        return `log ${short(input.Key?.pk)} ${input.UpdateExpression}`;
      }
      return `${String(input.UpdateExpression).includes('#deleted = ') ? 'hvDelete' : 'hvUpdate'} ${values(input.ExpressionAttributeValues)}`;
    case 'DeleteItemCommand':
      return input.TableName === config.changeLogTable
        ? `logDelete ${short(input.Key?.pk)}`
        : `hvDelete ${values(input.ExpressionAttributeValues)}`;
    case 'TransactWriteItemsCommand': {
      const [hv, fence] = (input.TransactItems ?? []) as Array<Record<string, any>>;
      const hvOp = hv?.Update ?? hv?.Delete;
      const f = fence?.Update;
      return `commit ${hv?.Update ? 'update' : 'delete'} ${values(hvOp?.ExpressionAttributeValues)} | ${short(f?.Key?.pk)} ${f?.ExpressionAttributeNames?.['#c']?.slice(-6)} ${f?.UpdateExpression} ${short(f?.ExpressionAttributeValues?.[':old'])}`;
    }
    case 'PutObjectCommand':
      return `putObject ${short(input.Key)}`;
    case 'DeleteObjectCommand':
      return `deleteObject ${short(input.Key)}`;
    case 'DeleteObjectsCommand':
      return `deleteObjects ${(input.Delete?.Objects ?? []).map((o: { Key?: string }) => short(o.Key)).join(',')}`;
    case 'HeadObjectCommand':
      return `headObject ${short(input.Key)}`;
    case 'GetItemCommand':
      return input.TableName === config.objectsTable ? 'hvRead' : `logGet ${short(input.Key?.pk)}`;
    default:
      return describeRequest(r, config);
  }
}
