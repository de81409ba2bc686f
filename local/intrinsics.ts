/**
 * CloudFormation's intrinsic functions, evaluated against what the stack's resources became locally.
 * Only the functions CDK emits for this stack are implemented; anything else stops with its path in the
 * template, so a new construct that needs another one fails loudly instead of running half-resolved.
 */
import { createHash } from 'node:crypto';
import { LOCAL_ACCOUNT, LOCAL_REGION, type ResolvedResource } from './types.ts';

/** `Ref: AWS::NoValue`: the property (or list element) it stands in is removed. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');

export const SUPPORTED_INTRINSICS = [
  'Ref',
  'Fn::GetAtt',
  'Fn::Join',
  'Fn::Sub',
  'Fn::Select',
  'Fn::Split',
] as const;

export class IntrinsicError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'IntrinsicError';
  }
}

export interface PseudoParameters {
  'AWS::Region': string;
  'AWS::AccountId': string;
  'AWS::Partition': string;
  'AWS::URLSuffix': string;
  'AWS::StackName': string;
  'AWS::StackId': string;
}

export const localPseudoParameters = (stackName: string): PseudoParameters => ({
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': stackName,
  'AWS::StackId': `arn:aws:cloudformation:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stack/${stackName}/${stableUuid(stackName)}`,
});

const stableUuid = (seed: string): string => {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
};

export interface ResolveScope {
  /** Resources resolved so far, by logical id. */
  readonly resources: Readonly<Record<string, ResolvedResource>>;
  readonly pseudo: PseudoParameters;
  /** Template parameters, by name (their defaults: nobody passes parameters locally). */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Every logical id in the template, to tell "not provisioned yet" from "does not exist". */
  readonly declared?: ReadonlySet<string>;
}

/** The function name if `value` is an intrinsic function call (an object with one `Ref` or `Fn::` key). */
export const intrinsicName = (value: unknown): string | undefined => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const [key] = keys as [string];
  return key === 'Ref' || key.startsWith('Fn::') ? key : undefined;
};

/** Every intrinsic call in `value`, with its path; nested calls too. */
export function* findIntrinsics(value: unknown, path: string): Generator<{ name: string; path: string }> {
  const name = intrinsicName(value);
  if (name) yield { name, path };
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) yield* findIntrinsics(item, `${path}[${index}]`);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) yield* findIntrinsics(item, `${path}.${key}`);
  }
}

/** Every logical id `value` references (Ref, Fn::GetAtt, and `${…}` in Fn::Sub). */
export const referencedIds = (value: unknown): Set<string> => {
  const ids = new Set<string>();
  const visit = (node: unknown): void => {
    const name = intrinsicName(node);
    if (name) {
      const argument = (node as Record<string, unknown>)[name];
      if (name === 'Ref' && typeof argument === 'string') ids.add(argument);
      if (name === 'Fn::GetAtt') {
        const target = Array.isArray(argument) ? argument[0] : String(argument).split('.')[0];
        if (typeof target === 'string') ids.add(target);
      }
      if (name === 'Fn::Sub') {
        const text = Array.isArray(argument) ? argument[0] : argument;
        if (typeof text === 'string') {
          for (const match of text.matchAll(/\$\{([^!}][^}]*)\}/g))
            ids.add((match[1] ?? '').split('.')[0] ?? '');
        }
      }
    }
    if (Array.isArray(node)) node.forEach(visit);
    else if (node !== null && typeof node === 'object') Object.values(node).forEach(visit);
  };
  visit(value);
  return ids;
};

const describe = (value: unknown): string => JSON.stringify(value)?.slice(0, 120) ?? String(value);

const refOf = (name: string, scope: ResolveScope, path: string): unknown => {
  if (name === 'AWS::NoValue') return NO_VALUE;
  if (name === 'AWS::NotificationARNs') return [];
  if (name in scope.pseudo) return scope.pseudo[name as keyof PseudoParameters];
  if (name.startsWith('AWS::')) throw new IntrinsicError(path, `unknown pseudo parameter ${name}`);
  const parameter = scope.parameters?.[name];
  if (parameter !== undefined) return parameter;
  const resource = scope.resources[name];
  if (resource) return resource.ref;
  throw new IntrinsicError(path, notFound(name, scope));
};

const notFound = (name: string, scope: ResolveScope): string =>
  scope.declared?.has(name)
    ? `${name} is referenced before it is provisioned (or it is not provisioned locally)`
    : `no resource or parameter named ${name}`;

const attributeOf = (id: string, attribute: string, scope: ResolveScope, path: string): string => {
  const resource = scope.resources[id];
  if (!resource) throw new IntrinsicError(path, notFound(id, scope));
  const value = resource.attributes[attribute];
  if (value === undefined) {
    const known = Object.keys(resource.attributes);
    throw new IntrinsicError(
      path,
      `${id} (${resource.type}) has no attribute ${attribute} locally` +
        (known.length ? ` (it has ${known.join(', ')})` : ''),
    );
  }
  return value;
};

const asString = (value: unknown, path: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new IntrinsicError(path, `expected a string, got ${describe(value)}`);
};

const asList = (value: unknown, path: string): unknown[] => {
  if (Array.isArray(value)) return value.filter((item) => item !== NO_VALUE);
  throw new IntrinsicError(path, `expected a list, got ${describe(value)}`);
};

const substitute = (
  text: string,
  variables: Record<string, unknown>,
  scope: ResolveScope,
  path: string,
): string =>
  text.replace(/\$\{([^}]*)\}/g, (whole, expression: string) => {
    if (expression.startsWith('!')) return `\${${expression.slice(1)}}`;
    if (expression in variables) return asString(variables[expression], path);
    const dot = expression.indexOf('.');
    if (dot > 0 && !expression.startsWith('AWS::')) {
      return attributeOf(expression.slice(0, dot), expression.slice(dot + 1), scope, path);
    }
    const value = refOf(expression, scope, path);
    if (value === NO_VALUE) throw new IntrinsicError(path, `${whole} cannot be AWS::NoValue inside a string`);
    return asString(value, path);
  });

const evaluate = (name: string, argument: unknown, scope: ResolveScope, path: string): unknown => {
  const at = `${path}.${name}`;
  switch (name) {
    case 'Ref':
      if (typeof argument !== 'string')
        throw new IntrinsicError(at, `expects a name, got ${describe(argument)}`);
      return refOf(argument, scope, at);
    case 'Fn::GetAtt': {
      const [id, attribute] = Array.isArray(argument)
        ? [argument[0], resolveValue(argument[1], scope, `${at}[1]`)]
        : typeof argument === 'string' && argument.includes('.')
          ? [argument.slice(0, argument.indexOf('.')), argument.slice(argument.indexOf('.') + 1)]
          : [undefined, undefined];
      if (typeof id !== 'string' || typeof attribute !== 'string') {
        throw new IntrinsicError(at, `expects [logicalId, attribute], got ${describe(argument)}`);
      }
      return attributeOf(id, attribute, scope, at);
    }
    case 'Fn::Join': {
      if (!Array.isArray(argument) || argument.length !== 2 || typeof argument[0] !== 'string') {
        throw new IntrinsicError(at, `expects [delimiter, list], got ${describe(argument)}`);
      }
      const list = asList(resolveValue(argument[1], scope, `${at}[1]`), `${at}[1]`);
      return list.map((item, index) => asString(item, `${at}[1][${index}]`)).join(argument[0]);
    }
    case 'Fn::Sub': {
      if (typeof argument === 'string') return substitute(argument, {}, scope, at);
      if (!Array.isArray(argument) || argument.length !== 2 || typeof argument[0] !== 'string') {
        throw new IntrinsicError(at, `expects a string or [string, variables], got ${describe(argument)}`);
      }
      const variables = resolveValue(argument[1], scope, `${at}[1]`);
      if (variables === null || typeof variables !== 'object' || Array.isArray(variables)) {
        throw new IntrinsicError(`${at}[1]`, `expects a map of variables, got ${describe(variables)}`);
      }
      return substitute(argument[0], variables as Record<string, unknown>, scope, at);
    }
    case 'Fn::Select': {
      if (!Array.isArray(argument) || argument.length !== 2) {
        throw new IntrinsicError(at, `expects [index, list], got ${describe(argument)}`);
      }
      const index = Number(resolveValue(argument[0], scope, `${at}[0]`));
      const list = asList(resolveValue(argument[1], scope, `${at}[1]`), `${at}[1]`);
      if (!Number.isInteger(index) || index < 0 || index >= list.length) {
        throw new IntrinsicError(at, `index ${describe(argument[0])} is outside the list of ${list.length}`);
      }
      return list[index];
    }
    case 'Fn::Split': {
      if (!Array.isArray(argument) || argument.length !== 2 || typeof argument[0] !== 'string') {
        throw new IntrinsicError(at, `expects [delimiter, string], got ${describe(argument)}`);
      }
      return asString(resolveValue(argument[1], scope, `${at}[1]`), `${at}[1]`).split(argument[0]);
    }
    default:
      throw new IntrinsicError(
        at,
        `the intrinsic function ${name} is not supported locally (supported: ${SUPPORTED_INTRINSICS.join(', ')})`,
      );
  }
};

/**
 * Resolves every intrinsic in `value`. `path` names `value` in the template (`Resources.X.Properties`)
 * and prefixes every error. A property or list element that resolves to AWS::NoValue is removed; at
 * the top level NO_VALUE is returned.
 */
export const resolveValue = (value: unknown, scope: ResolveScope, path: string): unknown => {
  const name = intrinsicName(value);
  if (name) return evaluate(name, (value as Record<string, unknown>)[name], scope, path);
  if (Array.isArray(value)) {
    return value
      .map((item, index) => resolveValue(item, scope, `${path}[${index}]`))
      .filter((item) => item !== NO_VALUE);
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, resolveValue(item, scope, `${path}.${key}`)] as const)
      .filter(([, item]) => item !== NO_VALUE);
    return Object.fromEntries(entries);
  }
  return value;
};

/** Resolves `value` to a string (numbers and booleans as CloudFormation turns them into strings). */
export const resolveString = (value: unknown, scope: ResolveScope, path: string): string =>
  asString(resolveValue(value, scope, path), path);
