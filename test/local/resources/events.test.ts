import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAtt, nodeFunction, type ProvisioningHarness, startProvisioning } from '#test/provisioning';
import { ratePeriodSeconds } from '../../../local/resources/events.ts';
import { UnsupportedTemplateError } from '../../../local/support.ts';
import type { CfnResource } from '../../../local/types.ts';

let harness: ProvisioningHarness;

beforeAll(async () => {
  harness = await startProvisioning();
});

afterAll(async () => {
  await harness?.close();
});

const scheduledRule = (properties: Record<string, unknown> = {}): Record<string, CfnResource> => ({
  Reconciler: nodeFunction(),
  Every5Minutes: {
    Type: 'AWS::Events::Rule',
    Properties: {
      ScheduleExpression: 'rate(5 minutes)',
      State: 'ENABLED',
      Targets: [
        { Arn: getAtt('Reconciler', 'Arn'), Id: 'Target0', RetryPolicy: { MaximumRetryAttempts: 0 } },
      ],
      ...properties,
    },
  },
});

describe('AWS::Events::Rule', () => {
  it('becomes a schedule invoking its target function every period', async () => {
    const provisioned = await harness.provision({ Resources: scheduledRule() });

    expect(provisioned.schedules).toEqual([
      {
        logicalId: 'Every5Minutes',
        ruleArn: provisioned.resources.Every5Minutes?.attributes.Arn,
        expression: 'rate(5 minutes)',
        periodSeconds: 300,
        enabled: true,
        functionLogicalIds: ['Reconciler'],
      },
    ]);
    expect(provisioned.resources.Every5Minutes?.attributes.Arn).toMatch(
      /^arn:aws:events:us-east-1:\d+:rule\//,
    );
  });

  it('keeps a disabled rule, never to run', async () => {
    const provisioned = await harness.provision({ Resources: scheduledRule({ State: 'DISABLED' }) });

    expect(provisioned.schedules[0]?.enabled).toBe(false);
  });

  it.each([
    [{ ScheduleExpression: 'cron(0 12 * * ? *)' }, /cron\(0 12 \* \* \? \*\) is not supported locally/],
    [{ ScheduleExpression: undefined, EventPattern: { source: ['aws.s3'] } }, /only scheduled rules/],
    [
      { Targets: [{ Arn: getAtt('Reconciler', 'Arn'), Id: 'T', Input: '{}' }] },
      /Targets\.0\.Input: only a function target/,
    ],
  ])('refuses what it does not run: %j', async (properties, message) => {
    await expect(harness.provision({ Resources: scheduledRule(properties) })).rejects.toThrow(
      UnsupportedTemplateError,
    );
    await expect(harness.provision({ Resources: scheduledRule(properties) })).rejects.toThrow(message);
  });
});

describe('rate expressions', () => {
  it.each([
    ['rate(1 minute)', 60],
    ['rate(5 minutes)', 300],
    ['rate(2 hours)', 7_200],
    ['rate(1 day)', 86_400],
  ])('%s is %i s', (expression, seconds) => {
    expect(ratePeriodSeconds(expression)).toBe(seconds);
  });

  it.each(['rate(1 minutes)', 'rate(5 minute)', 'rate(0 minutes)', 'rate(5 seconds)', 'cron(* * * * ? *)'])(
    'refuses %s, as EventBridge does',
    (expression) => {
      expect(ratePeriodSeconds(expression)).toBeUndefined();
    },
  );
});
