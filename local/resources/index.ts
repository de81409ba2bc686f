/**
 * The resource modules, assembled: one support table (what the local runtime emulates, accepts with a
 * reason, or refuses) and one provisioner per emulated type. A new resource type gets a module of its
 * own and a line here.
 */
import * as apigatewayv2 from './apigatewayv2.ts';
import type { Provisioner } from './context.ts';
import * as dynamodb from './dynamodb.ts';
import * as events from './events.ts';
import * as ignored from './ignored.ts';
import * as lambda from './lambda.ts';
import * as s3 from './s3.ts';
import * as s3BucketNotifications from './s3-bucket-notifications.ts';
import * as secretsManager from './secrets-manager.ts';
import * as sqs from './sqs.ts';
import type { ResourceSupport } from './support-entry.ts';

const modules = [s3, sqs, dynamodb, secretsManager, lambda, apigatewayv2, s3BucketNotifications, events];

export const RESOURCE_SUPPORT: Readonly<Record<string, ResourceSupport>> = Object.assign(
  {},
  ...modules.map((module) => module.support),
  ignored.support,
);

export const PROVISIONERS: Readonly<Record<string, Provisioner>> = Object.assign(
  {},
  ...modules.map((module) => module.provisioners),
);
