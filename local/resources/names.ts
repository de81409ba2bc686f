/**
 * Physical names, ARNs and ids the way AWS shapes them, but derived from the stack name and logical id
 * instead of random suffixes, so that every start of the runtime finds the same resources again.
 */
import { createHash } from 'node:crypto';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../types.ts';

export const hashOf = (text: string, length: number): string =>
  createHash('sha256').update(text).digest('hex').slice(0, length);

/** CDK ends logical ids in an 8-character hash of the construct path; names read better without it. */
const withoutCdkHash = (logicalId: string): string => logicalId.replace(/[0-9A-F]{8}$/, '') || logicalId;

/**
 * A physical name like CloudFormation's (`<stack>-<logical id>-<suffix>`), with a suffix hashed from
 * the stack name and logical id instead of a random one, so that it is the same on every start.
 */
export const physicalName = (
  stackName: string,
  logicalId: string,
  rules: { maxLength: number; lowercase?: boolean; invalid: RegExp },
): string => {
  const clean = (text: string) => {
    const cased = rules.lowercase ? text.toLowerCase() : text;
    return cased.replace(rules.invalid, '-');
  };
  const suffix = hashOf(`${stackName}/${logicalId}`, 8);
  const base = clean(`${stackName}-${withoutCdkHash(logicalId)}`).slice(
    0,
    rules.maxLength - suffix.length - 1,
  );
  return `${base}-${suffix}`;
};

/** The name the template declares for a resource, else a physical name derived as above. */
export const declaredOrPhysicalName = (
  declared: unknown,
  stackName: string,
  logicalId: string,
  rules: Parameters<typeof physicalName>[2],
): string => (declared as string | undefined) ?? physicalName(stackName, logicalId, rules);

export const NAME_RULES = {
  bucket: { maxLength: 63, lowercase: true, invalid: /[^a-z0-9-]/g },
  queue: { maxLength: 75, invalid: /[^A-Za-z0-9_-]/g },
  table: { maxLength: 255, invalid: /[^A-Za-z0-9_.-]/g },
  function: { maxLength: 64, invalid: /[^A-Za-z0-9_-]/g },
  layer: { maxLength: 140, invalid: /[^A-Za-z0-9_-]/g },
} as const;

export const lambdaArn = (name: string) => `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`;

/** The function ARN in a function name, ARN, qualified ARN or API Gateway invocation URI. */
export const functionKey = (value: string): string => {
  const arn = /arn:aws:lambda:[^:]+:\d+:function:[^/:]+/.exec(value)?.[0];
  return arn ?? lambdaArn(value);
};

export const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
