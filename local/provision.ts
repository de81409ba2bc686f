/**
 * Creates what the template declares on the embedded emulators, and turns the rest of it (functions,
 * the HTTP API, event source mappings, bucket notifications) into specs for the parts of the runtime
 * that run them. Idempotent: the emulators' data outlives the runtime, so every resource may already
 * exist; it is then compared with the template and brought in line, and reported `unchanged` when it
 * already was. Physical names are derived from the stack name and logical id, so they are stable
 * across restarts (and unlike CloudFormation's, which end in a random suffix).
 *
 * This module keeps the order, the dispatch and the outputs; what each resource type becomes lives in
 * its service's module under local/resources/.
 */
import { IntrinsicError, NO_VALUE, referencedIds, resolveString, resolveValue } from './intrinsics.ts';
import { httpApiSpec, localiseApiUrls } from './resources/apigatewayv2.ts';
import { createProvisionContext, ProvisionError, type ProvisionOptions } from './resources/context.ts';
import { placeholder } from './resources/ignored.ts';
import { PROVISIONERS, RESOURCE_SUPPORT } from './resources/index.ts';
import { functionSpecs } from './resources/lambda.ts';
import { loadSecretStore, saveSecretStore } from './resources/secrets-manager.ts';
import { checkSupport, customResourceProviders } from './support.ts';
import type { CfnResource, LocalEndpoints, ProvisionedStack, SynthesizedStack } from './types.ts';

export { ProvisionError, type ProvisionOptions } from './resources/context.ts';

/** Resources in an order where each comes after everything it references or DependsOn. */
export const dependencyOrder = (resources: Readonly<Record<string, CfnResource>>): string[] => {
  const ids = Object.keys(resources);
  const dependencies = new Map(
    ids.map((id) => {
      const resource = resources[id] as CfnResource;
      const dependsOn = resource.DependsOn === undefined ? [] : [resource.DependsOn].flat();
      const all = [...referencedIds(resource.Properties ?? {}), ...dependsOn];
      return [id, new Set(all.filter((other) => other !== id && other in resources))];
    }),
  );
  const order: string[] = [];
  const done = new Set<string>();
  while (order.length < ids.length) {
    const ready = ids.filter(
      (id) => !done.has(id) && [...(dependencies.get(id) ?? [])].every((d) => done.has(d)),
    );
    if (ready.length === 0) {
      const stuck = ids.filter((id) => !done.has(id));
      throw new ProvisionError(
        `the template's resources reference each other in a cycle: ${stuck.join(', ')}`,
      );
    }
    for (const id of ready) {
      order.push(id);
      done.add(id);
    }
  }
  return order;
};

/**
 * Provisions `stack` on the emulators at `endpoints` and returns what the rest of the runtime needs:
 * the resolved resources, the function specs, the HTTP API, the SQS event source mappings and the S3
 * notifications. Throws an UnsupportedTemplateError (listing everything) before touching an emulator
 * if the template has anything the runtime does not understand.
 */
export const provisionStack = async (
  stack: SynthesizedStack,
  endpoints: LocalEndpoints,
  options: ProvisionOptions,
): Promise<ProvisionedStack> => {
  const { template, stackName } = stack;
  checkSupport(template);

  const context = createProvisionContext(stack, endpoints, options, {
    support: RESOURCE_SUPPORT,
    providers: customResourceProviders(template),
    secretStore: await loadSecretStore(options.dataDir),
  });
  const { resources, scope } = context;
  try {
    for (const logicalId of dependencyOrder(template.Resources)) {
      const resource = template.Resources[logicalId] as CfnResource;
      const provisioner = PROVISIONERS[resource.Type];
      // CDK's custom-resource providers are functions (not emulated as such) that still resolve to an ARN.
      const provisioned =
        provisioner &&
        (context.providers.has(logicalId) || RESOURCE_SUPPORT[resource.Type]?.kind === 'emulated');
      try {
        resources[logicalId] = provisioned
          ? await provisioner(context, logicalId, resource)
          : placeholder(stackName, logicalId, resource);
      } catch (error) {
        if (error instanceof ProvisionError || error instanceof IntrinsicError) throw error;
        throw new ProvisionError(
          `Resources.${logicalId} (${resource.Type}): ${(error as Error).name}: ${(error as Error).message}`,
          { cause: error },
        );
      }
    }
  } finally {
    for (const client of Object.values(context.clients)) client.destroy();
    await saveSecretStore(context.secretStore);
  }

  const localise = localiseApiUrls(resources, options.apiBaseUrl);
  const outputs = Object.fromEntries(
    Object.entries(template.Outputs ?? {}).flatMap(([name, output]) => {
      const value = resolveValue(output.Value, scope, `Outputs.${name}.Value`);
      if (value === NO_VALUE) return [];
      return [[name, localise(resolveString(value, scope, `Outputs.${name}.Value`))]];
    }),
  );

  return {
    resources,
    functions: functionSpecs(context, localise),
    httpApi: httpApiSpec(context.api, options.apiBaseUrl),
    functionUrls: context.functionUrls,
    eventSourceMappings: context.eventSourceMappings,
    bucketNotifications: context.bucketNotifications,
    schedules: context.schedules,
    outputs,
    actions: context.actions,
  };
};
