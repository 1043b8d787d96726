/** CDK app entry (`cdk.json`): `npx cdk synth -c stage=dev|prod`. */
import { App } from 'aws-cdk-lib';
import { defineGpuMarket } from './system.ts';

const app = new App();
defineGpuMarket(app);
app.synth();
