import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FunctionSpec } from '../../local/types.ts';

/**
 * Tiny hand-written function bundles for the local runtime's trigger tests: each is `<root>/<name>/index.js`
 * exporting `handler`, run by a real LambdaPool in worker processes.
 */
export const writeTinyBundles = async (root: string, bundles: Record<string, string>): Promise<void> => {
  for (const [name, source] of Object.entries(bundles)) {
    await mkdir(join(root, name));
    await writeFile(join(root, name, 'index.js'), source);
  }
};

/** The FunctionSpec of the bundle `<root>/<name>` (logical id and name are `name`). */
export const tinyFunctionSpec = (
  root: string,
  name: string,
  overrides: Partial<FunctionSpec> = {},
): FunctionSpec => ({
  logicalId: name,
  name,
  handler: 'index.handler',
  codeDir: join(root, name),
  layerDirs: [],
  environment: {},
  timeoutSeconds: 5,
  memoryMb: 256,
  ...overrides,
});
