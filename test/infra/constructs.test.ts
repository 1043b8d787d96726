/**
 * Construct-level behaviour, without bundling (`aws:cdk:bundling-stacks` empty): stage parsing,
 * SystemFunction environment merging, and proof that the cdk-nag wiring does fail on a finding.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { SystemFunction } from '../../infra/constructs/system-function.ts';
import { SystemTable } from '../../infra/constructs/system-table.ts';
import { stageConfigFrom } from '../../infra/stage.ts';

const noBundling = { 'aws:cdk:bundling-stacks': [] };

function stackWithTable(context: Record<string, unknown> = {}) {
  const app = new App({ context: { ...noBundling, ...context }, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'Test');
  const stage = stageConfigFrom(app.node);
  const data = new SystemTable(stack, 'Data', { stage });
  return { app, stack, stage, data };
}

describe('stage configuration', () => {
  it('defaults to dev, which destroys its data', () => {
    const stage = stageConfigFrom(new App().node);
    expect(stage.name).toBe('dev');
    expect(stage.removalPolicy).toBe(RemovalPolicy.DESTROY);
    expect(stage.deletionProtection).toBe(false);
    expect(stage.portalOrigins).toEqual(['http://localhost:3000', 'http://127.0.0.1:3000']);
  });

  it('retains and protects data in prod, with no CORS origin unless one is given', () => {
    const stage = stageConfigFrom(new App({ context: { stage: 'prod' } }).node);
    expect(stage.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(stage.deletionProtection).toBe(true);
    expect(stage.portalOrigins).toEqual([]);
  });

  it('refuses an unknown stage and a portal origin with a path', () => {
    expect(() => stageConfigFrom(new App({ context: { stage: 'staging' } }).node)).toThrow(/Unknown stage/);
    expect(() => stageConfigFrom(new App({ context: { portalOrigins: 'https://portal.example/app' } }).node)).toThrow(/not an origin/);
  });

  it('takes a comma list of portal origins', () => {
    const stage = stageConfigFrom(new App({ context: { stage: 'prod', portalOrigins: 'https://a.example, https://b.example:8443' } }).node);
    expect(stage.portalOrigins).toEqual(['https://a.example', 'https://b.example:8443']);
  });
});

describe('SystemFunction', () => {
  it('merges the caller environment with the system environment', () => {
    const { stack, stage, data } = stackWithTable();
    new SystemFunction(stack, 'Fn', { name: 'sweeper', description: 'test', stage, data, environment: { SWEEP_INTERVAL_MS: '60000' } });
    Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          SWEEP_INTERVAL_MS: '60000',
          STAGE: 'dev',
          POWERTOOLS_SERVICE_NAME: 'sweeper',
          POWERTOOLS_METRICS_NAMESPACE: 'GpuMarket',
          NODE_OPTIONS: '--enable-source-maps',
          TABLE_NAME: { Ref: stack.getLogicalId(data.table.node.defaultChild as never) },
        },
      },
    });
  });

  it('refuses a caller environment that would change a system variable', () => {
    const { stack, stage, data } = stackWithTable();
    expect(
      () => new SystemFunction(stack, 'Fn', { name: 'api', description: 'test', stage, data, environment: { TABLE_NAME: 'another-table' } }),
    ).toThrow(/TABLE_NAME/);
  });

  it('refuses to bind a second queue over WEBHOOK_QUEUE_URL', () => {
    const { stack, stage, data } = stackWithTable();
    const fn = new SystemFunction(stack, 'Fn', { name: 'sweeper', description: 'test', stage, data });
    fn.useWebhookQueue(new Queue(stack, 'First'));
    expect(() => fn.useWebhookQueue(new Queue(stack, 'Second'))).toThrow(/WEBHOOK_QUEUE_URL/);
  });

  it('starts with a role that can only write its own logs (and traces)', () => {
    const { stack, stage, data } = stackWithTable();
    const fn = new SystemFunction(stack, 'Fn', { name: 'billing-close', description: 'test', stage, data });
    const template = Template.fromStack(stack);
    const [policy] = Object.values(template.findResources('AWS::IAM::Policy'));
    const actions = (policy?.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) => s.Action).sort();
    expect(actions).toEqual(['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(fn.lambda.runtime.name).toBe('nodejs22.x');
  });
});

describe('cdk-nag wiring', () => {
  it('fails synthesis on an unacknowledged AwsSolutions finding and passes once it is acknowledged', () => {
    const failing = new App({ context: noBundling, builtinCloudFormationValidation: false });
    new Queue(new Stack(failing, 'Naked'), 'Queue', { enforceSSL: true });
    Validations.of(failing).addPlugins(new AwsSolutionsChecks(failing));
    expect(() => failing.synth()).toThrow(/AwsSolutions-SQS3/);

    const acknowledged = new App({ context: noBundling, builtinCloudFormationValidation: false });
    const queue = new Queue(new Stack(acknowledged, 'Acknowledged'), 'Queue', { enforceSSL: true });
    Validations.of(queue).acknowledge({ id: 'AwsSolutions-SQS3', reason: 'Test queue that is itself a dead-letter queue.' });
    Validations.of(acknowledged).addPlugins(new AwsSolutionsChecks(acknowledged));
    const assembly = acknowledged.synth();
    const report = JSON.parse(readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports.flatMap((p: { violations: unknown[] }) => p.violations)).toEqual([]);
  });
});
