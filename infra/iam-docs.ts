/**
 * The permissions section of `infra/README-deploy.md`, generated from the grants
 * (`ROLE_PERMISSIONS`) and the call-to-action mapping (`COMMAND_ACTIONS`) so it cannot drift:
 * a test fails when the file differs from what this writes.
 *
 *   npx tsx infra/iam-docs.ts           # rewrite the section in place
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { COMMAND_ACTIONS, type ResourceKind, TRANSACT_ELEMENT_ACTIONS } from './iam-map.js';
import { ROLE_ENTRY_POINTS, ROLE_PERMISSIONS, type TierlogRole } from './permissions.js';

/** The deploy doc the section lives in. */
export const DEPLOY_DOC = fileURLToPath(new URL('./README-deploy.md', import.meta.url));
export const BEGIN = '<!-- BEGIN generated permissions (npx tsx infra/iam-docs.ts) -->';
export const END = '<!-- END generated permissions -->';

const RESOURCE: Record<ResourceKind, string> = {
  changeLogTable: 'change-log table',
  leaseIndex: 'change-log table, index `byLease`',
  objectsTable: 'objects table',
  prefixObjects: '`<bucket>/<prefix>/*`',
  prefixListing: 'bucket, if `s3:prefix` is like `<prefix>/*`',
  bucket: 'bucket (this action takes no `s3:prefix` condition)',
};

const GRANT: Record<TierlogRole, string> = {
  writer: 'grantWriter',
  sweeper: 'grantSweeper',
  operatorReadOnly: 'grantOperatorReadOnly',
  operator: 'grantOperator',
};

/** The generated section, markers included. */
export function permissionsSection(): string {
  const lines = [BEGIN, ''];
  for (const role of Object.keys(ROLE_PERMISSIONS) as TierlogRole[]) {
    lines.push(`#### \`${GRANT[role]}\` (${role})`, '', `Runs: ${ROLE_ENTRY_POINTS[role].join('; ')}.`, '');
    lines.push('| action | resource | needed by |', '| --- | --- | --- |');
    const sorted = [...ROLE_PERMISSIONS[role]].sort((a, b) => a.resource.localeCompare(b.resource) || a.action.localeCompare(b.action));
    for (const p of sorted)
      lines.push(
        `| \`${p.action}\` | ${RESOURCE[p.resource]} | ${[...p.calls]
          .sort()
          .map((c) => `\`${c}\``)
          .join(', ')} |`,
      );
    lines.push('');
  }
  lines.push('#### How a call maps to actions', '', '| SDK call | IAM action |', '| --- | --- |');
  for (const service of ['dynamodb', 's3'] as const) {
    for (const [command, rows] of Object.entries(COMMAND_ACTIONS[service])) {
      const actions =
        command === 'TransactWriteItems'
          ? Object.entries(TRANSACT_ELEMENT_ACTIONS)
              .map(([kind, action]) => `\`${action}\` per ${kind} element`)
              .join(', ')
          : rows
              .map(
                (r) =>
                  `\`${r.action}\`${r.target === 'keyListing' ? ' (so that a missing key answers 404, not 403)' : r.target === 'deleteKeys' ? ' per key' : ''}`,
              )
              .join(', ');
      lines.push(`| \`${command}\` | ${actions} |`);
    }
  }
  lines.push('', END);
  return lines.join('\n');
}

/** `text` with its generated section replaced by the current one. */
export function withCurrentSection(text: string): string {
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`${DEPLOY_DOC}: markers ${BEGIN} ... ${END} not found`);
  return text.slice(0, begin) + permissionsSection() + text.slice(end + END.length);
}

/**
 * The text with its Markdown tables' padding taken out: Biome pads the tables of the committed
 * file (`biome format`), the generator does not; the content is what must agree.
 */
export function withoutTablePadding(text: string): string {
  return text
    .split('\n')
    .map((line) => (line.startsWith('|') ? line.replace(/ *\| */g, '|').replace(/-{3,}/g, '---') : line))
    .join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(DEPLOY_DOC, withCurrentSection(readFileSync(DEPLOY_DOC, 'utf8')));
  // Padded as `biome ci` wants the committed file.
  execFileSync('npx', ['biome', 'format', '--write', DEPLOY_DOC], { stdio: 'inherit' });
}
