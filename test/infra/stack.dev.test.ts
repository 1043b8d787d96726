import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { tableReadActions, tableWriteActions } from '../../infra/constructs/system-function.ts';
import { webhookMetrics } from '../../infra/constructs/system-monitoring.ts';
import { webhookSenderTimeout } from '../../infra/gpu-market-stack.ts';
import { actionsOf, functionProperties, logicalId, statementsOf, synthesize, type Synthesized } from './synth.ts';

let synth: Synthesized;

beforeAll(() => {
  synth = synthesize({});
});

const streamReadActions = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];
const sendActions = ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:SendMessage'];
const secretReadActions = ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'];
const baseActions = ['logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'];
const readWrite = [...tableReadActions, ...tableWriteActions];

describe('dev stack: the table', () => {
  it('has the key schema, GSIs, TTL, stream, PITR, on-demand billing and AWS-managed encryption of the table design', () => {
    synth.template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayWith([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
        { AttributeName: 'gsi2pk', AttributeType: 'S' },
        { AttributeName: 'gsi2sk', AttributeType: 'S' },
      ]),
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      SSESpecification: { SSEEnabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'gsi1',
          KeySchema: [
            { AttributeName: 'gsi1pk', KeyType: 'HASH' },
            { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'gsi2',
          KeySchema: [
            { AttributeName: 'gsi2pk', KeyType: 'HASH' },
            { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('is destroyed with a dev stack and not deletion-protected', () => {
    const [table] = Object.values(synth.template.findResources('AWS::DynamoDB::Table'));
    expect(table?.DeletionPolicy).toBe('Delete');
    expect(table?.Properties.DeletionProtectionEnabled).toBe(false);
  });
});

describe('dev stack: functions', () => {
  it('deploys exactly the five system functions, each nodejs22.x on arm64 with tracing, JSON logs in its own log group and source maps', () => {
    const functions = synth.template.findResources('AWS::Lambda::Function');
    expect(Object.keys(functions)).toHaveLength(5);
    for (const fn of Object.values(functions)) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.LoggingConfig.LogFormat).toBe('JSON');
      expect(fn.Properties.LoggingConfig.LogGroup).toBeDefined();
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  it('bundles each function on its own: an entry chunk index.mjs whose static imports are chunks of the same asset', () => {
    const functions = [...Object.values(synth.stack.functions)];
    const keys = functions.map((fn) => functionProperties(synth, fn).Code.S3Key as string);
    expect(new Set(keys).size).toBe(functions.length);
    for (const key of keys) {
      const asset = path.join(synth.directory, `asset.${key.replace(/\.zip$/, '')}`);
      const entry = readFileSync(path.join(asset, 'index.mjs'), 'utf8');
      const imported = [...entry.matchAll(/(?:from|import\(?)\s*["'](\.\/chunks\/[^"']+)["']/g)].map((m) => m[1]!);
      for (const chunk of imported) expect(existsSync(path.join(asset, chunk)), `${key}: ${chunk}`).toBe(true);
    }
  });

  it('gives every function the system environment, and the Stripe secret and queue only where used', () => {
    const { api, outboxDispatcher, webhookSender, sweeper, billingClose } = synth.stack.functions;
    const needsSecret = new Set([api, sweeper, billingClose]);
    const needsQueue = new Set([api, outboxDispatcher, sweeper]);
    for (const fn of [api, outboxDispatcher, webhookSender, sweeper, billingClose]) {
      const env = functionProperties(synth, fn).Environment.Variables;
      expect(env.TABLE_NAME).toEqual({ Ref: logicalId(synth.stack.data.table) });
      expect(env.STAGE).toBe('dev');
      expect(env.POWERTOOLS_SERVICE_NAME).toBe(fn.name);
      expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('GpuMarket');
      expect(env.LOG_LEVEL).toBe('DEBUG');
      expect('STRIPE_SECRET_ARN' in env).toBe(needsSecret.has(fn));
      expect('WEBHOOK_QUEUE_URL' in env).toBe(needsQueue.has(fn));
    }
  });

  it('uses no managed policies and no wildcard actions anywhere', () => {
    for (const role of Object.values(synth.template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns ?? []).toEqual([]);
    }
    for (const policy of Object.values(synth.template.findResources('AWS::IAM::Policy'))) {
      for (const action of actionsOf(policy.Properties.PolicyDocument.Statement)) expect(action).not.toContain('*');
    }
  });

  it('grants each function exactly the actions its job needs', () => {
    const { api, outboxDispatcher, webhookSender, sweeper, billingClose } = synth.stack.functions;
    const expected = new Map([
      [api, [...baseActions, ...readWrite, ...sendActions, ...secretReadActions]],
      [outboxDispatcher, [...baseActions, ...readWrite, ...streamReadActions, ...sendActions]],
      [webhookSender, [...baseActions, ...readWrite, 'sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ReceiveMessage']],
      [sweeper, [...baseActions, ...readWrite, ...sendActions, ...secretReadActions]],
      [billingClose, [...baseActions, ...readWrite, ...secretReadActions]],
    ]);
    for (const [fn, actions] of expected) {
      expect(actionsOf(statementsOf(synth, fn)), fn.name).toEqual([...new Set(actions)].sort());
    }
  });

  it('allows item writes on the base table only and reads on the table and its two GSIs', () => {
    const tableArn = { 'Fn::GetAtt': [logicalId(synth.stack.data.table), 'Arn'] };
    for (const fn of Object.values(synth.stack.functions)) {
      const statements = statementsOf(synth, fn);
      const writes = statements.filter((s) => actionsOf([s]).some((a) => (tableWriteActions as readonly string[]).includes(a)));
      expect(writes.map((s) => s.Resource)).toEqual([tableArn]);
      const reads = statements.filter((s) => actionsOf([s]).some((a) => (tableReadActions as readonly string[]).includes(a)));
      expect(reads).toHaveLength(1);
      expect(reads[0]?.Resource).toEqual([
        tableArn,
        { 'Fn::Join': ['', [tableArn, '/index/gsi1']] },
        { 'Fn::Join': ['', [tableArn, '/index/gsi2']] },
      ]);
    }
  });

  it('lets a function write only to its own log group', () => {
    for (const fn of Object.values(synth.stack.functions)) {
      const logs = statementsOf(synth, fn).filter((s) => actionsOf([s]).includes('logs:PutLogEvents'));
      expect(logs.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [logicalId(fn.logGroup), 'Arn'] }]);
    }
  });
});

describe('dev stack: outbox and webhooks', () => {
  it('feeds only inserted outbox events (pk ORG#, sk EVT#) from the stream to the dispatcher, with bisect, partial failures, bounded retries and a DLQ', () => {
    const dispatcher = synth.stack.functions.outboxDispatcher;
    const mapping = synth.template.findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { FunctionName: { Ref: logicalId(dispatcher.lambda) } },
    });
    const [props] = Object.values(mapping).map((m) => m.Properties);
    expect(props.EventSourceArn).toEqual({ 'Fn::GetAtt': [logicalId(synth.stack.data.table), 'StreamArn'] });
    expect(props.BisectBatchOnFunctionError).toBe(true);
    expect(props.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(props.MaximumRetryAttempts).toBeGreaterThan(0);
    expect(props.MaximumRetryAttempts).toBeLessThanOrEqual(10);
    expect(props.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][1]).toBe('Arn');
    const failureQueueId = props.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0];
    expect(synth.template.toJSON().Resources[failureQueueId].Type).toBe('AWS::SQS::Queue');
    expect(JSON.parse(props.FilterCriteria.Filters[0].Pattern)).toEqual({
      eventName: ['INSERT'],
      dynamodb: { Keys: { pk: { S: [{ prefix: 'ORG#' }] }, sk: { S: [{ prefix: 'EVT#' }] } } },
    });
  });

  it('delivers webhooks from a queue with a DLQ after 5 receives and a visibility timeout 6x the sender timeout', () => {
    const sender = synth.stack.functions.webhookSender;
    expect(functionProperties(synth, sender).Timeout).toBe(webhookSenderTimeout.toSeconds());
    const queues = synth.template.findResources('AWS::SQS::Queue', { Properties: { RedrivePolicy: Match.anyValue() } });
    const [queueId, queue] = Object.entries(queues)[0]!;
    expect(Object.keys(queues)).toHaveLength(1);
    expect(queue.Properties.RedrivePolicy.maxReceiveCount).toBe(5);
    expect(queue.Properties.VisibilityTimeout).toBe(6 * webhookSenderTimeout.toSeconds());
    synth.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(sender.lambda) },
      EventSourceArn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('encrypts every queue and refuses non-TLS access to it', () => {
    const queues = synth.template.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(3);
    for (const queue of Object.values(queues)) expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    const policies = Object.values(synth.template.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('dev stack: schedules', () => {
  it('runs the sweeper every minute and the billing close at 02:00 UTC on the 1st', () => {
    const { sweeper, billingClose } = synth.stack.functions;
    synth.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(sweeper.lambda), 'Arn'] } })],
    });
    synth.template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'cron(0 2 1 * ? *)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(billingClose.lambda), 'Arn'] } })],
    });
    expect(Object.keys(synth.template.findResources('AWS::Events::Rule'))).toHaveLength(2);
  });
});

describe('dev stack: HTTP API', () => {
  it('sends every route to the API function', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalId(synth.stack.functions.api.lambda), 'Arn'] },
    });
  });

  it('throttles the default stage and writes JSON access logs to a log group with retention', () => {
    const accessLogsId = logicalId(synth.stack.httpApi.accessLogs);
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [accessLogsId, 'Arn'] }, Format: Match.stringLikeRegexp('\\$context\\.requestId') },
    });
    const [stage] = Object.values(synth.template.findResources('AWS::ApiGatewayV2::Stage'));
    expect(Object.keys(JSON.parse(stage?.Properties.AccessLogSettings.Format))).toEqual(
      expect.arrayContaining(['requestId', 'ip', 'routeKey', 'status', 'integrationError']),
    );
    synth.template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    for (const group of Object.values(synth.template.findResources('AWS::Logs::LogGroup'))) {
      expect(group.Properties.RetentionInDays).toBe(7);
      expect(group.DeletionPolicy).toBe('Delete');
    }
  });

  it('allows the local portal origins with credentials in dev', () => {
    synth.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['http://localhost:3000', 'http://127.0.0.1:3000'],
        AllowCredentials: true,
        AllowHeaders: Match.arrayWith(['authorization', 'content-type', 'idempotency-key']),
      },
    });
  });

  it('outputs the API URL, the Stripe webhook URL and the table name', () => {
    const outputs = synth.template.toJSON().Outputs;
    expect(outputs.ApiUrl.Value).toEqual({ 'Fn::GetAtt': [logicalId(synth.stack.httpApi.api), 'ApiEndpoint'] });
    expect(outputs.StripeWebhookUrl.Value).toEqual({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [logicalId(synth.stack.httpApi.api), 'ApiEndpoint'] }, '/v1/stripe/webhook']],
    });
    expect(outputs.TableName.Value).toEqual({ Ref: logicalId(synth.stack.data.table) });
  });
});

describe('dev stack: Stripe secret', () => {
  it('holds the JSON shape the functions read, with no key material in the template', () => {
    synth.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      SecretString: JSON.stringify({ secretKey: '', webhookSecret: '' }),
    });
  });
});

describe('dev stack: alarms and dashboard', () => {
  const alarms = () => Object.values(synth.template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
  const topicRef = () => ({ Ref: logicalId(synth.stack.monitoring.topic) });

  it('sends every alarm to the SNS topic, which requires TLS', () => {
    for (const alarm of alarms()) expect(alarm.AlarmActions).toEqual([topicRef()]);
    synth.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('alarms on errors and throttles of every function', () => {
    for (const fn of Object.values(synth.stack.functions)) {
      for (const metricName of ['Errors', 'Throttles']) {
        synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          Namespace: 'AWS/Lambda',
          MetricName: metricName,
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(fn.lambda) } }],
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    }
  });

  it('alarms on the API 5xx rate', () => {
    const alarm = alarms().find((a) => a.AlarmName === 'gpu-market-dev-api-5xx-rate');
    const metricNames = alarm?.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric.MetricName);
    expect(metricNames?.sort()).toEqual(['5xx', 'Count']);
    expect(alarm?.Metrics.find((m: any) => m.Expression)?.Expression).toContain('100 * FILL(errors, 0) / requests');
    expect(alarm?.Threshold).toBe(5);
  });

  it('alarms as soon as any message sits in a dead-letter queue', () => {
    const dlqAlarms = alarms().filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible');
    expect(dlqAlarms).toHaveLength(2);
    for (const alarm of dlqAlarms) {
      expect(alarm.Threshold).toBe(1);
      expect(alarm.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
      expect(alarm.Statistic).toBe('Maximum');
    }
  });

  it('alarms on DynamoDB throttled requests and system errors', () => {
    for (const name of ['gpu-market-dev-table-throttled-requests', 'gpu-market-dev-table-system-errors']) {
      const alarm = alarms().find((a) => a.AlarmName === name);
      const stats = alarm?.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
      expect(stats?.length).toBeGreaterThan(0);
      for (const metric of stats ?? []) expect(metric.Namespace).toBe('AWS/DynamoDB');
    }
  });

  it('alarms on the webhook delivery failure rate from the GpuMarket custom metrics', () => {
    const alarm = alarms().find((a) => a.AlarmName === 'gpu-market-dev-webhook-failure-rate');
    const metrics = alarm?.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
    expect(metrics).toEqual(
      expect.arrayContaining([
        { Namespace: 'GpuMarket', MetricName: webhookMetrics.failed, Dimensions: [{ Name: 'service', Value: 'webhook-sender' }] },
        { Namespace: 'GpuMarket', MetricName: webhookMetrics.succeeded, Dimensions: [{ Name: 'service', Value: 'webhook-sender' }] },
      ]),
    );
  });

  it('has a dashboard', () => {
    synth.template.hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'gpu-market-dev' });
  });
});

describe('dev stack: cdk-nag AwsSolutions', () => {
  it('leaves no unacknowledged finding (errors or warnings)', () => {
    expect(synth.unacknowledgedViolations).toEqual([]);
  });

  it('gives every acknowledgement a reason', () => {
    expect(synth.acknowledgements.length).toBeGreaterThan(0);
    for (const ack of synth.acknowledgements) expect(ack.reason.length, `${ack.path} ${ack.id}`).toBeGreaterThan(40);
  });
});
