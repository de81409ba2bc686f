/**
 * What the local runtime does with each resource type and property of a template. Everything the
 * template declares is either emulated, accepted with a stated reason why it means nothing locally, or
 * refused: `checkSupport` lists every refusal at once, so that a construct added to the stack never
 * silently goes missing from local runs. Each type's entry lives beside its provisioner in its
 * service's module under local/resources/ (assembled in local/resources/index.ts); this module checks a
 * template against them.
 */
import { findIntrinsics, SUPPORTED_INTRINSICS } from './intrinsics.ts';
import { RESOURCE_SUPPORT } from './resources/index.ts';
import type { EmulatedType, IgnoredType } from './resources/support-entry.ts';
import type { CfnTemplate } from './types.ts';

export { RESOURCE_SUPPORT } from './resources/index.ts';
export type { EmulatedType, IgnoredType, PropertySupport } from './resources/support-entry.ts';

/** Resource attributes (beside Type and Properties) and what the runtime does with them. */
const RESOURCE_ATTRIBUTES = new Set([
  'Type',
  'Properties',
  'DependsOn',
  'Metadata',
  'DeletionPolicy',
  'UpdateReplacePolicy',
]);

/** A resource type whose resources are custom resources (their code runs at deploy time). */
const isCustomResourceType = (type: string): boolean =>
  type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource';

/**
 * CDK's own deploy-time functions: the providers of custom resources (bucket notifications, auto-delete
 * objects, log retention…), recognised by being some custom resource's ServiceToken. They never run
 * locally: the runtime does their work itself (or it means nothing locally).
 */
export const customResourceProviders = (template: CfnTemplate): Set<string> => {
  const providers = new Set<string>();
  for (const resource of Object.values(template.Resources)) {
    if (!isCustomResourceType(resource.Type)) continue;
    const token = resource.Properties?.ServiceToken as Record<string, unknown> | undefined;
    const getAtt = token?.['Fn::GetAtt'];
    const target = Array.isArray(getAtt)
      ? getAtt[0]
      : typeof getAtt === 'string'
        ? getAtt.split('.')[0]
        : undefined;
    if (typeof target === 'string' && template.Resources[target]?.Type === 'AWS::Lambda::Function') {
      providers.add(target);
    }
  }
  return providers;
};

/** One thing in a template the runtime does not understand. */
export interface SupportProblem {
  /** Where in the template: `Resources.X.Properties.Y`. */
  path: string;
  reason: string;
}

export class UnsupportedTemplateError extends Error {
  constructor(readonly problems: readonly SupportProblem[]) {
    super(
      `the local runtime cannot run this template (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((problem) => `  - ${problem.path}: ${problem.reason}`).join('\n'),
    );
    this.name = 'UnsupportedTemplateError';
  }
}

const splitProblem = (text: string): SupportProblem => {
  const colon = text.indexOf(': ');
  return { path: text.slice(0, colon), reason: text.slice(colon + 2) };
};

/**
 * Throws one UnsupportedTemplateError listing every resource type, property, resource attribute,
 * template section or intrinsic function the runtime does not understand; returns quietly otherwise.
 */
export const checkSupport = (template: CfnTemplate): void => {
  const problems: SupportProblem[] = [];
  const raw = template as unknown as Record<string, unknown>;
  if (raw.Transform !== undefined) {
    problems.push({
      path: 'Transform',
      reason: 'template transforms (SAM, macros) are not supported locally',
    });
  }
  for (const [name, parameter] of Object.entries(template.Parameters ?? {})) {
    const isBootstrapVersion =
      parameter.Type.startsWith('AWS::SSM::Parameter::Value') && name === 'BootstrapVersion';
    if (!isBootstrapVersion && parameter.Default === undefined) {
      problems.push({
        path: `Parameters.${name}`,
        reason: 'a parameter without a Default: nobody passes parameters to a local run',
      });
    }
  }

  const providers = customResourceProviders(template);
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    const path = `Resources.${logicalId}`;
    for (const attribute of Object.keys(resource)) {
      if (attribute === 'Condition') {
        problems.push({ path: `${path}.Condition`, reason: 'conditions are not supported locally' });
      } else if (
        !RESOURCE_ATTRIBUTES.has(attribute) &&
        attribute !== 'CreationPolicy' &&
        attribute !== 'UpdatePolicy'
      ) {
        problems.push({ path: `${path}.${attribute}`, reason: 'unknown resource attribute' });
      }
    }
    if (providers.has(logicalId)) continue;
    const support = RESOURCE_SUPPORT[resource.Type];
    if (!support) {
      problems.push({
        path: `${path}.Type`,
        reason: isCustomResourceType(resource.Type)
          ? `custom resource ${resource.Type} runs deploy-time code that the local runtime does not emulate`
          : `resource type ${resource.Type} is not supported locally`,
      });
      continue;
    }
    if (support.kind === 'ignored') continue;
    for (const property of Object.keys(resource.Properties ?? {})) {
      if (!support.properties[property]) {
        problems.push({
          path: `${path}.Properties.${property}`,
          reason: `property ${property} of ${resource.Type} is not supported locally`,
        });
      }
    }
    problems.push(...(support.check?.(resource, path) ?? []).map(splitProblem));
    for (const [property, value] of Object.entries(resource.Properties ?? {})) {
      if (support.properties[property]?.handling !== 'emulated') continue;
      problems.push(...intrinsicProblems(value, `${path}.Properties.${property}`));
    }
  }
  for (const [name, output] of Object.entries(template.Outputs ?? {})) {
    problems.push(...intrinsicProblems(output.Value, `Outputs.${name}.Value`));
  }
  if (problems.length > 0) throw new UnsupportedTemplateError(problems);
};

const intrinsicProblems = (value: unknown, path: string): SupportProblem[] =>
  [...findIntrinsics(value, path)]
    .filter(({ name }) => !(SUPPORTED_INTRINSICS as readonly string[]).includes(name))
    .map(({ name, path: at }) => ({
      path: at,
      reason: `intrinsic function ${name} is not supported locally`,
    }));

/** How the runtime handles a resource: emulated, ignored (with the reason), or a custom-resource provider. */
export const supportOf = (
  template: CfnTemplate,
  logicalId: string,
): EmulatedType | IgnoredType | { kind: 'provider'; reason: string } | undefined => {
  if (customResourceProviders(template).has(logicalId)) {
    return { kind: 'provider', reason: "CDK's deploy-time custom-resource provider: not run locally" };
  }
  const resource = template.Resources[logicalId];
  return resource ? RESOURCE_SUPPORT[resource.Type] : undefined;
};
