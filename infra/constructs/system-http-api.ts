import { Duration, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { CorsHttpMethod, HttpApi, HttpStage, LogGroupLogDestination, type CorsPreflightOptions } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { StageConfig } from '../stage.ts';

/** One JSON line per request, with the fields an on-call engineer filters by. */
export const accessLogFields = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  requestTime: '$context.requestTime',
  method: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
} as const;

export interface SystemHttpApiProps {
  readonly stage: StageConfig;
  readonly handler: IFunction;
}

/**
 * The public HTTP API: every route (`$default`) goes to the Hono Lambda, which authenticates
 * (Bearer API keys, portal sessions, Stripe signatures) and routes. The `$default` stage carries
 * throttling and JSON access logs; CORS admits the portal origins of the stage.
 */
export class SystemHttpApi extends Construct {
  readonly api: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;

  constructor(scope: Construct, id: string, props: SystemHttpApiProps) {
    super(scope, id);
    this.api = new HttpApi(this, 'Api', {
      apiName: `gpu-market-${props.stage.name}`,
      description: `GPU Market API (${props.stage.name})`,
      createDefaultStage: false,
      defaultIntegration: new HttpLambdaIntegration('Hono', props.handler),
      ...corsFor(props.stage.portalOrigins),
    });

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.stage.logRetention,
      removalPolicy: props.stage.removalPolicy,
    });

    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { ...props.stage.apiThrottle },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(accessLogFields)),
      },
    });

    // The API authenticates in the application: API keys are random 128-bit secrets stored only as
    // hashes, checked per request by the Hono app; the Stripe webhook is verified by its signature;
    // the catalog, /healthz, /openapi.json, /docs and the portal's sign-in page are public by design.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason: 'Authentication is done by the Hono app (hashed Bearer API keys, signed Stripe webhooks); public catalog and docs routes are intended.',
    });
  }

  /** The invoke URL of the `$default` stage, without a trailing slash. */
  get url(): string {
    return this.api.apiEndpoint;
  }
}

function corsFor(origins: readonly string[]): { corsPreflight?: CorsPreflightOptions } {
  if (origins.length === 0) return {};
  return {
    corsPreflight: {
      allowOrigins: [...origins],
      // The same as the app's own CORS (shared/http/cors.ts) for `npm start`.
      allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.PUT, CorsHttpMethod.PATCH, CorsHttpMethod.DELETE, CorsHttpMethod.OPTIONS],
      allowHeaders: ['authorization', 'content-type', 'idempotency-key'],
      exposeHeaders: ['location', 'retry-after', 'ratelimit', 'ratelimit-policy', 'x-request-id'],
      allowCredentials: true,
      maxAge: Duration.hours(1),
    },
  };
}
