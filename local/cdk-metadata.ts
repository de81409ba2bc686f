import type { CfnResource } from './types.ts';

/**
 * The id of the construct a resource came from, from CDK's `aws:cdk:path` metadata
 * (`MediaPipeline/Processing/ImageFunction/Resource` → `ImageFunction`): readable where logical ids carry hashes.
 */
export const constructName = (resource: CfnResource): string | undefined => {
  const path = resource.Metadata?.['aws:cdk:path'];
  if (typeof path !== 'string') return undefined;
  return path
    .split('/')
    .filter((segment) => segment !== 'Resource')
    .at(-1);
};
