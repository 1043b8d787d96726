import { beforeAll, describe, expect, it } from 'vitest';
import { synthesize, type Synthesized } from './synth.ts';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize({ stage: 'prod', portalOrigins: 'https://portal.gpu-market.example', alarmEmail: 'oncall@gpu-market.example' });
});

describe('prod stack', () => {
  it('is named for the stage', () => {
    expect(synth.stack.stackName).toBe('GpuMarket-prod');
  });

  it('retains the table when the stack goes and protects it against deletion', () => {
    const [table] = Object.values(synth.template.findResources('AWS::DynamoDB::Table'));
    expect(table?.DeletionPolicy).toBe('Retain');
    expect(table?.UpdateReplacePolicy).toBe('Retain');
    expect(table?.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table?.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  it('retains the Stripe secret, the queues and every log group', () => {
    for (const type of ['AWS::SecretsManager::Secret', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup']) {
      const resources = Object.values(synth.template.findResources(type));
      expect(resources.length, type).toBeGreaterThan(0);
      for (const resource of resources) expect(resource.DeletionPolicy, type).toBe('Retain');
    }
  });

  it('keeps logs a year and logs at INFO', () => {
    for (const group of Object.values(synth.template.findResources('AWS::Logs::LogGroup'))) expect(group.Properties.RetentionInDays).toBe(365);
    for (const fn of Object.values(synth.template.findResources('AWS::Lambda::Function'))) {
      expect(fn.Properties.Environment.Variables.STAGE).toBe('prod');
      expect(fn.Properties.Environment.Variables.LOG_LEVEL).toBe('INFO');
    }
  });

  it('throttles at the prod rate and admits only the configured portal origin', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
    });
    const [api] = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Api'));
    expect(api?.Properties.CorsConfiguration.AllowOrigins).toEqual(['https://portal.gpu-market.example']);
  });

  it('e-mails alarms to the configured address', () => {
    synth.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@gpu-market.example' });
  });

  it('names alarms and dashboard for the stage', () => {
    const names = Object.values(synth.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName as string);
    expect(names.length).toBe(16);
    for (const name of names) expect(name.startsWith('gpu-market-prod-')).toBe(true);
    synth.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'gpu-market-prod' });
  });

  it('passes the cdk-nag AwsSolutions checks with no unacknowledged finding', () => {
    expect(synth.unacknowledgedViolations).toEqual([]);
  });
});
