import { Validations, type App } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { GpuMarketStack } from './gpu-market-stack.ts';
import { stageConfigFrom } from './stage.ts';

/**
 * Defines the system in `app` for the stage chosen by `-c stage=dev|prod` (default dev) and registers
 * the cdk-nag AwsSolutions checks, which fail synthesis on any unacknowledged finding. The stack is
 * environment-agnostic (no account/region lookups), so synthesis needs no AWS credentials or network.
 */
export function defineGpuMarket(app: App): GpuMarketStack {
  const stage = stageConfigFrom(app.node);
  const stack = new GpuMarketStack(app, `GpuMarket-${stage.name}`, {
    stage,
    description: `GPU Market (${stage.name}): HTTP API, booking, metering, billing and webhooks`,
    tags: { project: 'gpu-market', stage: stage.name },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}
