/**
 * The monthly figures docs/COST.md and the README state count what a deployment has: the sweeper's
 * metrics are the names it publishes (each a custom metric billed by the month), the alarms at
 * rest are the alarms the construct deploys by default (billed whether or not anything is
 * written), the stream function's fixed cost counts its metrics. An alarm or a metric added
 * without its cost would otherwise go on being priced at the old count.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { STREAM_METRICS } from '../../lib/recovery/stream-metrics.js';
import { SWEEP_METRICS } from '../../lib/recovery/sweep-metrics.js';
import { cleanOutdirs, resourcesOf, tierlogTemplate } from '../infra/helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** A document as one line of single spaces: its sentences wrap anywhere, its table cells are padded. */
const flat = (file: string) => readFileSync(join(root, file), 'utf8').replace(/\s+/g, ' ');
const docs = { 'docs/COST.md': flat('docs/COST.md'), 'README.md': flat('README.md') };
type Doc = keyof typeof docs;

/** `doc` says `phrase` (a failure names the phrase, not the whole document). */
function says(doc: Doc, phrase: string): void {
  expect(docs[doc].includes(phrase), `${doc} says: ${phrase}`).toBe(true);
}
const dollars = (n: number, price: number) => (n * price).toFixed(2);

afterAll(cleanOutdirs);

test('COST.md prices every metric the sweeper publishes (each sweep publishes them all)', () => {
  const n = Object.keys(SWEEP_METRICS).length;
  says('docs/COST.md', `| ${n} sweeper metrics × $0.30 (the first 10 are free on the free tier) | ${dollars(n, 0.3)} |`);
});

test("COST.md's alarms at rest are the alarms the construct deploys by default", () => {
  const { stack, template } = tierlogTemplate();
  const n = Object.keys(resourcesOf(template, 'AWS::CloudWatch::Alarm')).length;
  const stream = Object.keys(stack.tierlog.objectsStream.alarms).length;
  says('docs/COST.md', `| alarms | ${n} × $0.10 (`);
  says('docs/COST.md', `| ${dollars(n, 0.1)} |`);
  // The stream function's alarms are among them: its fixed cost beside them is its metrics'.
  for (const doc of ['docs/COST.md', 'README.md'] as const) says(doc, `its ${stream} alarms are in the cost at rest`);
});

test("the stream function's fixed monthly cost counts the metrics it publishes", () => {
  const n = Object.keys(STREAM_METRICS).length;
  for (const doc of ['docs/COST.md', 'README.md'] as const) says(doc, `${n} stream metrics × $0.30 = $${dollars(n, 0.3)}`);
});
