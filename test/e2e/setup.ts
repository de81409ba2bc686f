import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

/**
 * Where the end-to-end suite points. With E2E_OUTPUTS_FILE set (a `cdk deploy --outputs-file` JSON) it
 * runs against that deployment (test/e2e/from-outputs.ts). With E2E_API_URL set (a LocalStack or AWS deployment, from its
 * stack outputs) it runs against that; otherwise it starts the local runtime itself, on a fresh data
 * directory. E2E_WEBHOOK_SECRET is the deployment's webhook secret; the webhook test needs a target
 * that may call back to this machine (the local runtime allows loopback callbacks), so it runs only
 * when E2E_LOOPBACK_CALLBACKS=true or the suite started the runtime.
 *
 * Callers are tenants: `apiKey` is a key of one tenant (E2E_API_KEY; locally the runtime's dev key of
 * tenant `default`), `otherApiKey` a key of a second one (E2E_OTHER_API_KEY; locally tenant `other`,
 * created in the runtime's Tenants table), to show that neither sees the other's jobs. Both are
 * undefined against a stack without API keys (auth none or jwt).
 */
export interface E2eTarget {
  apiUrl: string;
  /** The webhook secret of the `apiKey`'s tenant (locally the stack secret, which tenant `default` uses). */
  webhookSecret: string | undefined;
  loopbackCallbacks: boolean;
  apiKey: string | undefined;
  otherApiKey: string | undefined;
  /** The webhook secret of the `otherApiKey`'s tenant (E2E_OTHER_WEBHOOK_SECRET when deployed). */
  otherWebhookSecret: string | undefined;
  /** The local runtime's data directory, when the suite started it (the keys CLI finds the runtime there). */
  dataDir?: string;
}

/** The second tenant of the local run. */
export const OTHER_TENANT = 'other';

export const E2E_MULTIPART_THRESHOLD_BYTES = 8 * 1024 * 1024;

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2eTarget;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.E2E_OUTPUTS_FILE) {
    // A deployed stack's `cdk deploy --outputs-file` JSON (LocalStack or AWS): see from-outputs.ts.
    const { targetFromOutputs } = await import('./from-outputs.ts');
    project.provide('e2e', await targetFromOutputs(process.env.E2E_OUTPUTS_FILE));
    return undefined;
  }
  if (process.env.E2E_API_URL) {
    project.provide('e2e', {
      apiUrl: process.env.E2E_API_URL,
      webhookSecret: process.env.E2E_WEBHOOK_SECRET,
      loopbackCallbacks: process.env.E2E_LOOPBACK_CALLBACKS === 'true',
      apiKey: process.env.E2E_API_KEY,
      otherApiKey: process.env.E2E_OTHER_API_KEY,
      otherWebhookSecret: process.env.E2E_OTHER_WEBHOOK_SECRET,
    });
    return undefined;
  }
  const [{ startLocalRuntime }, { localTenantStore }] = await Promise.all([
    import('../../local/runtime.ts'),
    import('../../local/dev-key.ts'),
  ]);
  const dataDir = await mkdtemp(join(tmpdir(), 'media-pipeline-e2e-'));
  const webhookSecret = `whsec_${randomBytes(24).toString('base64')}`;
  const runtime = await startLocalRuntime({
    dataDir,
    port: 0,
    webhookSecret,
    quiet: !process.env.E2E_VERBOSE,
    // Files over 8 MiB take the multipart path, so a ~16 MB test video exercises it (the tests read the
    // threshold from GET /api/presets/, so they run against a deployed stack's 100 MiB too).
    context: { multipartThresholdBytes: E2E_MULTIPART_THRESHOLD_BYTES },
    // Lambda's asynchronous retries after 1 and 2 seconds instead of minutes.
    asyncRetryScale: 1 / 60,
  });
  let other: { key: string; webhook_secret?: string } | undefined;
  if (runtime.apiKey && runtime.tenantsTable) {
    const tenants = localTenantStore(runtime.dynamodbEndpoint, runtime.tenantsTable);
    try {
      other = await tenants.store.createKey(OTHER_TENANT);
    } finally {
      tenants.destroy();
    }
  }
  project.provide('e2e', {
    apiUrl: runtime.apiUrl,
    webhookSecret,
    loopbackCallbacks: true,
    apiKey: runtime.apiKey,
    otherApiKey: other?.key,
    otherWebhookSecret: other?.webhook_secret,
    dataDir,
  });
  return async () => {
    await runtime.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
}
