/**
 * `<data dir>/runtime.json`: where a running local runtime can be reached, written once it is up and
 * removed when it stops. `npx media-pipeline keys …` reads it to work on the running runtime's tenants.
 */
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const RUNTIME_FILE = 'runtime.json';

export interface RuntimeFile {
  pid: number;
  apiUrl: string;
  dynamodbEndpoint: string;
  region: string;
  /** Undefined when the stack has no Tenants table. */
  tenantsTable: string | undefined;
  jobsTable: string | undefined;
  authMode: string;
}

export const writeRuntimeFile = async (dataDir: string, content: RuntimeFile): Promise<void> => {
  const path = join(dataDir, RUNTIME_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
};

/** Removes the file, unless another runtime (another pid) has written it since. */
export const removeRuntimeFile = async (dataDir: string, pid: number = process.pid): Promise<void> => {
  const path = join(dataDir, RUNTIME_FILE);
  const current = await readFile(path, 'utf8')
    .then((text) => JSON.parse(text) as Partial<RuntimeFile>)
    .catch(() => undefined);
  if (current && current.pid !== pid) return;
  await rm(path, { force: true });
};
