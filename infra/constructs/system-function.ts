import { Duration, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Function as LambdaFunction, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { DynamoEventSource, type DynamoEventSourceProps } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { lambdaCode, type LambdaName } from '../bundling.ts';
import type { StageConfig } from '../stage.ts';

/** Item reads; granted on the table and its indexes. `ConditionCheckItem` belongs to writes (transactions). */
export const tableReadActions = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'] as const;

/**
 * Item writes; granted on the base table only (indexes are not writable). DynamoDB authorises each item
 * of a `TransactWriteItems` call by these per-item actions: there is no separate transaction action.
 */
export const tableWriteActions = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:BatchWriteItem',
] as const;


export const powertoolsMetricsNamespace = 'GpuMarket';

export interface SystemTableRef {
  readonly table: ITable;
  readonly indexNames: readonly string[];
}

export interface SystemFunctionProps {
  /** Which entry of `functions/` this is; also its Powertools service name. */
  readonly name: LambdaName;
  readonly description: string;
  readonly stage: StageConfig;
  readonly data: SystemTableRef;
  /** @default 1024 MB: more memory is more CPU, which shortens cold starts. */
  readonly memorySize?: number;
  /** @default 30 seconds */
  readonly timeout?: Duration;
  /** Merged with the system environment; a key the system sets cannot be given another value. */
  readonly environment?: Record<string, string>;
}

/**
 * A Lambda function of this system, with the defaults fixed once: Node.js 22 on arm64, the shared
 * esbuild bundle (infra/bundling.ts: minified, source maps, split into chunks loaded when needed), its own log group with the stage's retention,
 * active X-Ray tracing, JSON logs, and a role that starts with nothing but writing its own logs.
 * Every other permission comes from a `grant…`/`use…` helper, which also sets the environment the
 * code needs for it, so a permission and its configuration never drift apart.
 */
export class SystemFunction extends Construct {
  readonly name: LambdaName;
  readonly lambda: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;
  private readonly data: SystemTableRef;
  private readonly environment: Record<string, string>;

  constructor(scope: Construct, id: string, props: SystemFunctionProps) {
    super(scope, id);
    this.name = props.name;
    this.data = props.data;

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.stage.logRetention,
      removalPolicy: props.stage.removalPolicy,
    });

    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.name} (${props.stage.name}): writes its own logs; other permissions are granted explicitly`,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    const systemEnvironment: Record<string, string> = {
      TABLE_NAME: props.data.table.tableName,
      STAGE: props.stage.name,
      POWERTOOLS_SERVICE_NAME: props.name,
      POWERTOOLS_METRICS_NAMESPACE: powertoolsMetricsNamespace,
      LOG_LEVEL: props.stage.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
    };

    this.environment = mergeEnvironment(systemEnvironment, props.environment ?? {});

    this.lambda = new LambdaFunction(this, 'Function', {
      // infra/bundling.ts: the entry chunk index.mjs (hence index.handler) and the chunks it loads when needed.
      code: lambdaCode(props.name),
      handler: 'index.handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(30),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      tracing: Tracing.ACTIVE,
      environment: { ...this.environment },
    });

    // Runtime pinned to nodejs22.x by the product's deployment contract, not the newest Lambda runtime.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The system is specified and tested on nodejs22.x (arm64); runtime upgrades are a deliberate, tested change.',
    });
    // Active tracing: CDK grants xray:PutTraceSegments/PutTelemetryRecords, which have no resource-level permissions.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments and PutTelemetryRecords do not support resource-level permissions (resource must be *).',
    });
  }

  /** Adds variables; refuses to change a value already set (system or caller). */
  addEnvironment(variables: Record<string, string>): void {
    for (const [key, value] of Object.entries(variables)) {
      const existing = this.environment[key];
      if (existing !== undefined && existing !== value) {
        throw new Error(`${this.node.path}: environment ${key} is already set to another value`);
      }
      this.environment[key] = value;
      this.lambda.addEnvironment(key, value);
    }
  }

  /** Item reads on the table and its GSIs. */
  grantTableRead(): void {
    const { table, indexNames } = this.data;
    this.role.addToPolicy(
      new PolicyStatement({
        actions: [...tableReadActions],
        resources: [table.tableArn, ...indexNames.map((index) => `${table.tableArn}/index/${index}`)],
      }),
    );
  }

  /** Item reads on the table and its GSIs, item writes (including transactions) on the table. */
  grantTableReadWrite(): void {
    this.grantTableRead();
    this.role.addToPolicy(new PolicyStatement({ actions: [...tableWriteActions], resources: [this.data.table.tableArn] }));
  }

  /** Reads the Stripe secret (once per cold start) from `STRIPE_SECRET_ARN`. */
  useStripeSecret(secret: ISecret): void {
    secret.grantRead(this.role);
    this.addEnvironment({ STRIPE_SECRET_ARN: secret.secretArn });
  }

  /**
   * Consumes the table's stream (DynamoEventSource grants stream read: DescribeStream, GetRecords,
   * GetShardIterator on the stream, ListStreams).
   */
  consumeTableStream(props: DynamoEventSourceProps): void {
    this.lambda.addEventSource(new DynamoEventSource(this.data.table, props));
    const policy = this.role.node.findChild('DefaultPolicy');
    Validations.of(policy).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'dynamodb:ListStreams (stream event source) and X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.',
    });
  }

  /** Sends webhook delivery jobs to the queue at `WEBHOOK_QUEUE_URL`. */
  useWebhookQueue(queue: IQueue): void {
    queue.grantSendMessages(this.role);
    this.addEnvironment({ WEBHOOK_QUEUE_URL: queue.queueUrl });
  }
}

function mergeEnvironment(system: Record<string, string>, caller: Record<string, string>): Record<string, string> {
  for (const [key, value] of Object.entries(caller)) {
    if (key in system && system[key] !== value) {
      throw new Error(`Environment ${key} is set by SystemFunction; the caller cannot give it another value`);
    }
  }
  return { ...system, ...caller };
}
