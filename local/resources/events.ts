/**
 * EventBridge rules with a schedule, as the local scheduler's specs (local/scheduler.ts runs them):
 * `rate(N unit)` expressions invoking functions of the template. Event patterns, cron expressions and
 * other targets are refused, so a template that needs them does not start looking as if it worked.
 */
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../types.ts';
import { ProvisionError, type Provisioner } from './context.ts';
import { declaredOrPhysicalName, NAME_RULES } from './names.ts';
import { DESCRIPTION, emulated, type ResourceSupport, type SupportCheck, TAGS } from './support-entry.ts';

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_SECONDS: Readonly<Record<string, number>> = {
  minute: 60,
  minutes: 60,
  hour: 3_600,
  hours: 3_600,
  day: 86_400,
  days: 86_400,
};

/** The period of a `rate(...)` expression in seconds, or undefined for anything else (cron, typos). */
export const ratePeriodSeconds = (expression: string): number | undefined => {
  const match = RATE.exec(expression.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  const value = Number(amount);
  const plural = unit?.endsWith('s') ?? false;
  // EventBridge wants the singular unit for 1 and the plural otherwise.
  if (value < 1 || (value === 1) === plural) return undefined;
  return value * (UNIT_SECONDS[unit ?? ''] ?? 0);
};

const scheduleCheck: SupportCheck = (resource, path) => {
  const properties = resource.Properties ?? {};
  const problems: string[] = [];
  const expression = properties.ScheduleExpression;
  if (expression === undefined) {
    problems.push(`${path}.Properties.ScheduleExpression: only scheduled rules are emulated locally`);
  } else if (typeof expression === 'string' && ratePeriodSeconds(expression) === undefined) {
    problems.push(
      `${path}.Properties.ScheduleExpression: ${expression} is not supported locally (only rate(N minutes|hours|days))`,
    );
  }
  const targets = properties.Targets;
  if (Array.isArray(targets)) {
    targets.forEach((target: Record<string, unknown>, index) => {
      for (const key of Object.keys(target)) {
        // RetryPolicy bounds EventBridge's retries of a failed hand-over to Lambda, which cannot fail
        // locally (the function's own failures are the asynchronous invocation's to retry).
        if (key !== 'Arn' && key !== 'Id' && key !== 'RetryPolicy') {
          problems.push(
            `${path}.Properties.Targets.${index}.${key}: only a function target with no input, transformer or dead-letter queue is emulated locally`,
          );
        }
      }
    });
  }
  return problems;
};

export const support: Readonly<Record<string, ResourceSupport>> = {
  'AWS::Events::Rule': {
    kind: 'emulated',
    emulation: 'a ScheduleSpec: the local scheduler invokes the target functions every period',
    properties: {
      Name: emulated(),
      ScheduleExpression: emulated(
        'rate(N minutes|hours|days); the period scales with MEDIA_PIPELINE_SCHEDULE_SCALE',
      ),
      State: emulated('DISABLED rules are provisioned and never run'),
      Targets: emulated('Lambda functions of the template, invoked asynchronously'),
      Description: DESCRIPTION,
      Tags: TAGS,
    },
    check: scheduleCheck,
  },
};

const provisionRule: Provisioner = async (context, logicalId, resource) => {
  const path = `Resources.${logicalId}.Properties`;
  const properties = context.propertiesOf(logicalId, resource);
  const expression = String(properties.ScheduleExpression);
  const periodSeconds = ratePeriodSeconds(expression);
  if (periodSeconds === undefined) {
    throw new ProvisionError(`${path}.ScheduleExpression: ${expression} is not a rate expression`);
  }
  const name = declaredOrPhysicalName(properties.Name, context.stackName, logicalId, NAME_RULES.function);
  const arn = `arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:rule/${name}`;
  const targets = (properties.Targets as Array<{ Arn?: unknown }> | undefined) ?? [];
  context.schedules.push({
    logicalId,
    ruleArn: arn,
    expression,
    periodSeconds,
    enabled: properties.State === undefined || properties.State === 'ENABLED',
    functionLogicalIds: targets.map((target, index) =>
      context.functionOf(target.Arn, `${path}.Targets.${index}.Arn`),
    ),
  });
  return { type: resource.Type, ref: name, attributes: { Arn: arn } };
};

export const provisioners: Readonly<Record<string, Provisioner>> = {
  'AWS::Events::Rule': provisionRule,
};
