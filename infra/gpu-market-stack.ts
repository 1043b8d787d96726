import { CfnOutput, Duration, SecretValue, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { FilterCriteria, FilterRule, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { SystemFunction } from './constructs/system-function.ts';
import { SystemHttpApi } from './constructs/system-http-api.ts';
import { SystemMonitoring } from './constructs/system-monitoring.ts';
import { SystemTable } from './constructs/system-table.ts';
import type { StageConfig } from './stage.ts';
import { prefixes } from '../shared/store/keys.ts';

/** Schedules of the timed jobs (EventBridge rules, UTC). */
export const schedules = {
  sweeper: Schedule.rate(Duration.minutes(1)),
  /** 02:00 UTC on the 1st: closes the month that just ended. */
  billingClose: Schedule.cron({ minute: '0', hour: '2', day: '1' }),
} as const;

/** Sized for a batch of 10 deliveries sent one after another, each capped at 15 s by shared/webhooks/send.ts. */
export const webhookSenderTimeout = Duration.seconds(180);
export const webhookBatchSize = 10;

export interface GpuMarketStackProps extends StackProps {
  readonly stage: StageConfig;
}

/**
 * The whole system: table, API, outbox dispatcher, webhook queue and sender, sweeper, monthly
 * billing close, Stripe secret, alarms and dashboard. See docs/architecture.md.
 */
export class GpuMarketStack extends Stack {
  readonly data: SystemTable;
  readonly httpApi: SystemHttpApi;
  readonly functions: Record<'api' | 'outboxDispatcher' | 'webhookSender' | 'sweeper' | 'billingClose', SystemFunction>;
  readonly monitoring: SystemMonitoring;

  constructor(scope: Construct, id: string, props: GpuMarketStackProps) {
    super(scope, id, props);
    const { stage } = props;

    this.data = new SystemTable(this, 'Data', { stage });

    const stripeSecret = new Secret(this, 'StripeSecret', {
      description:
        'Stripe keys as JSON {"secretKey":"sk_...","webhookSecret":"whsec_..."}; empty values mean Stripe is not configured (invoices stay drafts).',
      secretObjectValue: { secretKey: SecretValue.unsafePlainText(''), webhookSecret: SecretValue.unsafePlainText('') },
      removalPolicy: stage.removalPolicy,
    });
    Validations.of(stripeSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'Stripe API keys are rolled in the Stripe dashboard, not by a Secrets Manager rotation Lambda; docs/deploy.md describes rolling them.',
    });

    // Webhook deliveries: dispatcher and sweeper enqueue, the sender delivers; 5 failed receives park a job in the DLQ.
    const webhookDeadLetters = new Queue(this, 'WebhookDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: stage.dlqRetention,
      removalPolicy: stage.removalPolicy,
    });
    const webhookQueue = new Queue(this, 'WebhookQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(webhookSenderTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: webhookDeadLetters, maxReceiveCount: 5 },
      removalPolicy: stage.removalPolicy,
    });
    // Stream batches the dispatcher gave up on (after bounded retries) land here, as Lambda on-failure records.
    const outboxFailures = new Queue(this, 'OutboxDispatchFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: stage.dlqRetention,
      removalPolicy: stage.removalPolicy,
    });
    Validations.of(outboxFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter destination (the on-failure destination of the outbox stream mapping).',
    });

    const system = (id: string, fnProps: Omit<ConstructorParameters<typeof SystemFunction>[2], 'stage' | 'data'>) =>
      new SystemFunction(this, id, { ...fnProps, stage, data: this.data });

    const api = system('Api', { name: 'api', description: 'HTTP API and portal (Hono)', timeout: Duration.seconds(20) });
    api.grantTableReadWrite();
    api.useStripeSecret(stripeSecret);
    // Webhook test events and manual retries are queued for the sender, not attempted in the request.
    api.useWebhookQueue(webhookQueue);

    const outboxDispatcher = system('OutboxDispatcher', {
      name: 'outbox-dispatcher',
      description: 'Table stream (outbox events) to webhook delivery jobs',
      memorySize: 512,
    });
    outboxDispatcher.grantTableReadWrite();
    outboxDispatcher.useWebhookQueue(webhookQueue);
    outboxDispatcher.consumeTableStream({
      startingPosition: StartingPosition.TRIM_HORIZON,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(1),
      bisectBatchOnError: true,
      reportBatchItemFailures: true,
      retryAttempts: 10,
      maxRecordAge: Duration.hours(24),
      onFailure: new SqsDlq(outboxFailures),
      filters: [outboxEventFilter()],
    });

    const webhookSender = system('WebhookSender', {
      name: 'webhook-sender',
      description: 'Delivers signed webhooks to partner endpoints',
      memorySize: 512,
      timeout: webhookSenderTimeout,
    });
    webhookSender.grantTableReadWrite();
    webhookSender.lambda.addEventSource(
      new SqsEventSource(webhookQueue, { batchSize: webhookBatchSize, maxBatchingWindow: Duration.seconds(1), reportBatchItemFailures: true }),
    );

    const sweeper = system('Sweeper', {
      name: 'sweeper',
      description: 'Every minute: hold expiry, reservation transitions, due webhook retries',
      timeout: Duration.seconds(55),
    });
    sweeper.grantTableReadWrite();
    sweeper.useWebhookQueue(webhookQueue);
    sweeper.useStripeSecret(stripeSecret);
    // A failed tick is not retried: the next one, a minute later, picks up the same due items.
    sweeper.lambda.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(1) });
    new Rule(this, 'SweeperSchedule', {
      description: 'Runs the sweeper every minute',
      schedule: schedules.sweeper,
      targets: [new LambdaFunction(sweeper.lambda, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    const billingClose = system('BillingClose', {
      name: 'billing-close',
      description: 'Monthly close: invoices the previous month (idempotent)',
      timeout: Duration.minutes(15),
    });
    billingClose.grantTableReadWrite();
    billingClose.useStripeSecret(stripeSecret);
    billingClose.lambda.configureAsyncInvoke({ retryAttempts: 2, maxEventAge: Duration.hours(6) });
    new Rule(this, 'BillingCloseSchedule', {
      description: 'Closes the previous month at 02:00 UTC on the 1st',
      schedule: schedules.billingClose,
      targets: [new LambdaFunction(billingClose.lambda, { retryAttempts: 3, maxEventAge: Duration.hours(6) })],
    });

    this.httpApi = new SystemHttpApi(this, 'Http', { stage, handler: api.lambda });

    this.functions = { api, outboxDispatcher, webhookSender, sweeper, billingClose };

    this.monitoring = new SystemMonitoring(this, 'Monitoring', { stage });
    this.monitoring.watchHttpApi(this.httpApi.api);
    for (const fn of Object.values(this.functions)) this.monitoring.watchFunction(fn);
    this.monitoring.watchTable(this.data.table);
    this.monitoring.graphQueue('WebhookQueue', webhookQueue);
    this.monitoring.watchDeadLetterQueue('WebhookDeadLetters', webhookDeadLetters);
    this.monitoring.watchDeadLetterQueue('OutboxDispatchFailures', outboxFailures);
    this.monitoring.watchWebhookDeliveries();

    new CfnOutput(this, 'ApiUrl', { value: this.httpApi.url, description: 'Base URL of the API and the portal' });
    new CfnOutput(this, 'StripeWebhookUrl', {
      value: `${this.httpApi.url}/v1/stripe/webhook`,
      description: 'Register this endpoint in Stripe (Developers > Webhooks)',
    });
    new CfnOutput(this, 'TableName', { value: this.data.table.tableName });
    new CfnOutput(this, 'StripeSecretArn', { value: stripeSecret.secretArn, description: 'Put the Stripe keys here (docs/deploy.md)' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
  }
}

/** Only outbox events reach the dispatcher: inserted items with `pk` ORG#… and `sk` EVT#…. */
export function outboxEventFilter(): Record<string, unknown> {
  return FilterCriteria.filter({
    eventName: FilterRule.isEqual('INSERT'),
    dynamodb: {
      Keys: {
        pk: { S: FilterRule.beginsWith(prefixes.org) },
        sk: { S: FilterRule.beginsWith(prefixes.event) },
      },
    },
  });
}
