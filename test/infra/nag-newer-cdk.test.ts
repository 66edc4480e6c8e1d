/**
 * cdk-nag's AwsSolutions-L1 ("not the latest runtime") judges by the runtimes the app's aws-cdk-lib
 * knows. tierlog's peer range (^2.276) admits newer releases than the one tested here, and 2.278
 * knows `nodejs26.x`: under it, tierlog's own functions on their default `nodejs24.x` (the runtime
 * the bundles are tested on) were findings nothing acknowledged, and every app under cdk-nag failed
 * its synth. A runtime made here registers in `Runtime.ALL` as that release's own does (this file
 * only: vitest runs each test file in a process of its own).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { App } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type NagAcknowledgement, nagAcknowledgements } from '../../infra/nag.js';
import { TierlogStack } from '../../infra/stack.js';
import type { TierlogProps } from '../../infra/tierlog.js';
import { cleanOutdirs, newApp } from './helpers.js';

afterAll(cleanOutdirs);

// What aws-cdk-lib 2.278 declares (aws-lambda/lib/runtime.js), beside the 2.276 tested here.
new lambda.Runtime('nodejs26.x', lambda.RuntimeFamily.NODEJS, { supportsInlineCode: true });

/** Every finding as `rule @ construct path`. */
function findings(app: App): string[] {
  const report = new AwsSolutionsChecks().validateScope(app);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} @ ${r.constructPath}`)).sort();
}

function stackWith(props: TierlogProps): { app: App; stack: TierlogStack } {
  const app = newApp();
  return { app, stack: new TierlogStack(app, 'Tierlog', { tierlog: props }) };
}

describe('cdk-nag AwsSolutions under an aws-cdk-lib that knows a newer Node.js runtime than the default', () => {
  it('the default stack, audit at scale too: no unacknowledged finding', () => {
    expect(findings(stackWith({ auditAtScale: { delete: true } }).app)).toEqual([]);
  });

  it("AwsSolutions-L1 is acknowledged on each of tierlog's functions, and needed there", () => {
    const { app, stack } = stackWith({ acknowledgeNagFindings: false });
    const l1 = findings(app).filter((f) => f.startsWith('AwsSolutions-L1 @ '));
    expect(l1).toEqual([
      'AwsSolutions-L1 @ Tierlog/Tierlog/ObjectsApi/Objects/Function/Resource',
      'AwsSolutions-L1 @ Tierlog/Tierlog/ObjectsStream/Function/Function/Resource',
      'AwsSolutions-L1 @ Tierlog/Tierlog/Sweeper/Sweeper/Function/Resource',
    ]);
    const acks: NagAcknowledgement[] = nagAcknowledgements(stack.tierlog).filter((a) => a.id === 'AwsSolutions-L1');
    expect(acks.map((a) => a.construct.node.path).sort()).toEqual([
      'Tierlog/Tierlog/ObjectsApi/Objects/Function',
      'Tierlog/Tierlog/ObjectsStream/Function/Function',
      'Tierlog/Tierlog/Sweeper/Sweeper/Function',
    ]);
    expect(acks[0]!.reason).toContain('nodejs26.x');
  });

  it('a runtime the app chose is its own to acknowledge, as README says of NODEJS_22_X', () => {
    const l1 = findings(stackWith({ runtime: lambda.Runtime.NODEJS_22_X, objectsFunction: false }).app);
    expect(l1).toEqual([
      'AwsSolutions-L1 @ Tierlog/Tierlog/ObjectsStream/Function/Function/Resource',
      'AwsSolutions-L1 @ Tierlog/Tierlog/Sweeper/Sweeper/Function/Resource',
    ]);
  });
});
