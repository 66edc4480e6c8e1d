import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEPLOY_DOC, permissionsSection, withCurrentSection, withoutTablePadding } from '../../infra/iam-docs.js';
import { ROLE_PERMISSIONS } from '../../infra/permissions.js';

describe('the deploy docs list every granted action with the calls that need it', () => {
  it('infra/README-deploy.md holds the current generated section (npx tsx infra/iam-docs.ts rewrites it)', () => {
    const text = readFileSync(DEPLOY_DOC, 'utf8');
    expect(withoutTablePadding(text)).toBe(withoutTablePadding(withCurrentSection(text)));
  });

  it('every permission of every role is a row of the section', () => {
    const section = permissionsSection();
    for (const permissions of Object.values(ROLE_PERMISSIONS)) {
      for (const p of permissions) expect(section).toContain(`| \`${p.action}\` |`);
    }
  });
});
