import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
  type IWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Operation, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StageConfig } from '../stage.ts';
import { powertoolsMetricsNamespace, type SystemFunction } from './system-function.ts';

/**
 * Custom metrics the webhook sender publishes (Powertools Metrics, namespace `GpuMarket`, default
 * dimension `service` = the function's POWERTOOLS_SERVICE_NAME), one count per delivery attempt.
 */
export const webhookMetrics = {
  failed: 'WebhookDeliveryFailed',
  succeeded: 'WebhookDeliverySucceeded',
  service: 'webhook-sender',
} as const;

/** The DynamoDB operations the code performs; throttles and system errors are watched on each. */
export const watchedTableOperations = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.BATCH_WRITE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
];

const fiveMinutes = Duration.minutes(5);

/**
 * Alarms to one SNS topic and one dashboard. Each `watch…` method adds the alarms and graphs of one
 * part of the system, so whatever is deployed is watched the same way.
 */
export class SystemMonitoring extends Construct {
  readonly topic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: { readonly stage: StageConfig }) {
    super(scope, id);
    this.prefix = `gpu-market-${props.stage.name}`;
    this.topic = new Topic(this, 'AlarmTopic', { displayName: `GPU Market ${props.stage.name} alarms`, enforceSSL: true });
    if (props.stage.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.stage.alarmEmail));

    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: this.prefix });
    this.dashboard.addWidgets(
      new TextWidget({ markdown: `# GPU Market (${props.stage.name})\nAPI, functions, queues, table and webhook deliveries. Alarms notify the SNS topic.`, width: 24, height: 2 }),
    );
  }

  /** 5xx rate (percent of requests, 1-minute periods, 3 of 5 above 5 %), plus request and latency graphs. */
  watchHttpApi(api: HttpApi): void {
    const errors = api.metricServerError({ period: Duration.minutes(1), statistic: 'Sum' });
    const requests = api.metricCount({ period: Duration.minutes(1), statistic: 'Sum' });
    const rate = new MathExpression({
      expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
      usingMetrics: { errors, requests },
      label: '5xx %',
      period: Duration.minutes(1),
    });
    this.alarm('Api5xxRate', {
      name: 'api-5xx-rate',
      description: 'More than 5 % of API requests answered 5xx in 3 of the last 5 minutes.',
      metric: rate,
      threshold: 5,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
    });
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'API requests and 5xx', left: [requests, errors], right: [rate], width: 12 }),
      new GraphWidget({
        title: 'API latency',
        left: [api.metricLatency({ statistic: 'p50' }), api.metricLatency({ statistic: 'p99' }), api.metricIntegrationLatency({ statistic: 'p99' })],
        width: 12,
      }),
    );
  }

  /** Any error or throttle of the function within 5 minutes. */
  watchFunction(fn: SystemFunction): void {
    const errors = fn.lambda.metricErrors({ period: fiveMinutes, statistic: 'Sum' });
    const throttles = fn.lambda.metricThrottles({ period: fiveMinutes, statistic: 'Sum' });
    this.alarm(`${fn.node.id}Errors`, {
      name: `${fn.name}-errors`,
      description: `The ${fn.name} function raised errors (logs: ${fn.name} log group).`,
      metric: errors,
      threshold: 1,
    });
    this.alarm(`${fn.node.id}Throttles`, {
      name: `${fn.name}-throttles`,
      description: `The ${fn.name} function was throttled (account or reserved concurrency exhausted).`,
      metric: throttles,
      threshold: 1,
    });
    this.dashboard.addWidgets(
      new GraphWidget({
        title: `${fn.name}: invocations, errors, throttles`,
        left: [fn.lambda.metricInvocations({ period: fiveMinutes }), errors, throttles],
        width: 12,
      }),
      new GraphWidget({
        title: `${fn.name}: duration`,
        left: [fn.lambda.metricDuration({ statistic: 'p50' }), fn.lambda.metricDuration({ statistic: 'p99' })],
        width: 12,
      }),
    );
  }

  /** Any message in a dead-letter queue means something was given up on. */
  watchDeadLetterQueue(label: string, queue: IQueue): void {
    const depth = queue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' });
    this.alarm(`${label}Depth`, {
      name: `${kebab(label)}-depth`,
      description: `Messages are waiting in the ${label} dead-letter queue: inspect, fix, and redrive them.`,
      metric: depth,
      threshold: 1,
    });
    this.dashboard.addWidgets(new GraphWidget({ title: `${label} depth`, left: [depth], width: 12 }));
  }

  /** Queue backlog and age, graphed (its dead-letter queue carries the alarm). */
  graphQueue(label: string, queue: IQueue): void {
    this.dashboard.addWidgets(
      new GraphWidget({
        title: `${label}: backlog and oldest message`,
        left: [queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' })],
        right: [queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum' })],
        width: 12,
      }),
    );
  }

  /** Throttled requests and system errors over the operations the code performs. */
  watchTable(table: ITable): void {
    const throttled = table.metricThrottledRequestsForOperations({ operations: watchedTableOperations, period: fiveMinutes });
    const systemErrors = table.metricSystemErrorsForOperations({ operations: watchedTableOperations, period: fiveMinutes });
    this.alarm('TableThrottles', {
      name: 'table-throttled-requests',
      description: 'DynamoDB throttled requests on the table (on-demand limits or a hot partition).',
      metric: throttled,
      threshold: 1,
    });
    this.alarm('TableSystemErrors', {
      name: 'table-system-errors',
      description: 'DynamoDB answered with internal server errors.',
      metric: systemErrors,
      threshold: 1,
    });
    this.dashboard.addWidgets(
      // Each operations expression names its metrics by operation, so each gets its own graph.
      new GraphWidget({ title: 'Table throttled requests', left: [throttled], width: 8 }),
      new GraphWidget({ title: 'Table system errors', left: [systemErrors], width: 8 }),
      new GraphWidget({
        title: 'Table consumed capacity',
        left: [table.metricConsumedReadCapacityUnits({ period: fiveMinutes }), table.metricConsumedWriteCapacityUnits({ period: fiveMinutes })],
        width: 8,
      }),
    );
  }

  /** Failure rate of webhook delivery attempts (percent, 5-minute periods, at least 10 attempts). */
  watchWebhookDeliveries(): void {
    const metric = (metricName: string) =>
      new Metric({
        namespace: powertoolsMetricsNamespace,
        metricName,
        dimensionsMap: { service: webhookMetrics.service },
        statistic: 'Sum',
        period: fiveMinutes,
      });
    const failed = metric(webhookMetrics.failed);
    const succeeded = metric(webhookMetrics.succeeded);
    const rate = new MathExpression({
      expression: 'IF(FILL(failed, 0) + FILL(succeeded, 0) >= 10, 100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(succeeded, 0)), 0)',
      usingMetrics: { failed, succeeded },
      label: 'webhook failure %',
      period: fiveMinutes,
    });
    this.alarm('WebhookFailureRate', {
      name: 'webhook-failure-rate',
      description: 'More than 25 % of webhook delivery attempts failed in 2 of the last 3 five-minute periods.',
      metric: rate,
      threshold: 25,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    this.dashboard.addWidgets(new GraphWidget({ title: 'Webhook deliveries', left: [succeeded, failed], right: [rate], width: 12 }));
  }

  private alarm(
    id: string,
    spec: { name: string; description: string; metric: IMetric; threshold: number; evaluationPeriods?: number; datapointsToAlarm?: number },
  ): Alarm {
    const alarm = new Alarm(this, id, {
      alarmName: `${this.prefix}-${spec.name}`,
      alarmDescription: spec.description,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      datapointsToAlarm: spec.datapointsToAlarm ?? spec.evaluationPeriods ?? 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }
}

function kebab(label: string): string {
  return label.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
