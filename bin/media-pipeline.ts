#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { defineMediaPipeline } from '../lib/app.ts';

const app = new App();
defineMediaPipeline(app, {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
