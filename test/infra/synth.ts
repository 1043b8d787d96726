/** Synthesises the system the way `npx cdk synth` does (cdk.json feature flags, cdk-nag registered). */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import type { GpuMarketStack } from '../../infra/gpu-market-stack.ts';
import { repoRoot } from '../../infra/bundling.ts';
import { defineGpuMarket } from '../../infra/system.ts';
import type { SystemFunction } from '../../infra/constructs/system-function.ts';

export interface Synthesized {
  readonly stack: GpuMarketStack;
  readonly template: Template;
  /** Every violation any validation plugin (cdk-nag included) left unacknowledged. */
  readonly unacknowledgedViolations: string[];
  /** Every acknowledgement recorded in the construct tree, with its reason. */
  readonly acknowledgements: { path: string; id: string; reason: string }[];
  /** The cloud assembly's directory (the bundled assets are its `asset.<hash>` folders). */
  readonly directory: string;
}

interface ValidationReport {
  pluginReports: { pluginName: string; violations: { ruleName: string; severity?: string; violatingResources?: { constructPath?: string }[] }[] }[];
}

export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(repoRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  return cdkJson.context;
}

/**
 * Synthesises once (bundling the five functions); synthesis throws on any cdk-nag error. CDK's
 * built-in CloudFormation schema validation is left to `npx cdk synth` (it takes longer than
 * everything else here together); cdk-nag runs exactly as in the CLI.
 */
export function synthesize(context: Record<string, string>): Synthesized {
  const app = new App({
    outdir: mkdtempSync(path.join(tmpdir(), 'gpu-market-synth-')),
    context: { ...cdkJsonContext(), ...context },
    builtinCloudFormationValidation: false,
  });
  const stack = defineGpuMarket(app);
  const assembly = app.synth();
  const report = JSON.parse(readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as ValidationReport;
  const unacknowledgedViolations = report.pluginReports.flatMap((plugin) =>
    plugin.violations.map(
      (v) => `${plugin.pluginName} ${v.severity ?? ''} ${v.ruleName} at ${(v.violatingResources ?? []).map((r) => r.constructPath).join(', ')}`,
    ),
  );
  return { stack, template: Template.fromStack(stack), unacknowledgedViolations, acknowledgements: acknowledgementsIn(app), directory: assembly.directory };
}

function acknowledgementsIn(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      // Recorded by Validations.acknowledge() as { "<qualified rule id>": "<reason>" }.
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({ path: construct.node.path, id, reason }))),
  );
}

export function logicalId(element: IConstruct): string {
  return Stack.of(element).getLogicalId(element.node.defaultChild as CfnElement);
}

export interface Statement {
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Effect: string;
}

/** The IAM statements attached to a system function's role. */
export function statementsOf(synth: Synthesized, fn: SystemFunction): Statement[] {
  const roleId = logicalId(fn.role);
  const policies = synth.template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((policy) => (policy.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: roleId })))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[]);
}

export function actionsOf(statements: readonly Statement[]): string[] {
  return [...new Set(statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])))].sort();
}

/** The CloudFormation properties of a system function's `AWS::Lambda::Function`. */
export function functionProperties(synth: Synthesized, fn: SystemFunction): Record<string, any> {
  const id = logicalId(fn.lambda);
  return synth.template.toJSON().Resources[id].Properties;
}
