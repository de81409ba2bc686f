/**
 * `npm run reset`: forgets every job, object, queued message and table row of the local runtime.
 *
 * Never under a running runtime: its DynamoDB files and object directory would vanish under it (it
 * then answers 500 until restarted) and it would write its queue snapshot back a second later. So a
 * reset refuses while `npm start` runs on the same data directory, naming its pid and port; with
 * `--force` it stops that runtime first (SIGTERM, the same clean stop as Ctrl-C) and resets once it has
 * exited. Stopping rather than restarting: the runtime belongs to another terminal, and a restart from
 * here would leave it running detached from it.
 *
 * Kept: the synth cache (rebuilding it costs a minute and it holds no data), and unless `--new-secrets`
 * the dev API key and the generated webhook secret, because they are configured elsewhere (a webhook
 * receiver verifies with the secret, scripts send the key): a reset of the data should not silently
 * break them.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { API_KEY_FILE } from './dev-key.ts';
import { findPortHolder, isPortFree } from './port-holder.ts';
import { RUNTIME_FILE, type RuntimeFile } from './runtime-file.ts';

/** The synth cache: rebuilding it costs a synth, and it holds no data. */
const ALWAYS_KEPT = new Set(['cdk.out']);
/** Generated secrets (local/resources/secrets-manager.ts) and the dev key (local/dev-key.ts). */
export const SECRET_FILES = ['secrets.json', API_KEY_FILE] as const;
/** How long `--force` waits for the runtime to stop; the runtime gives itself 15 s. */
const STOP_WAIT_MS = 20_000;

export interface ResetOptions {
  /** Stop a running runtime first instead of refusing. */
  force?: boolean;
  /** Also delete the dev API key and the generated webhook secret (new ones at the next start). */
  newSecrets?: boolean;
  log?: (message: string) => void;
  /** @default 20 s */
  stopWaitMs?: number;
}

export interface RunningRuntime {
  pid: number;
  apiUrl: string;
  port: number;
}

export class RuntimeRunningError extends Error {
  constructor(
    message: string,
    readonly running: RunningRuntime,
  ) {
    super(message);
    this.name = 'RuntimeRunningError';
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * The runtime recorded in `<dataDir>/runtime.json` if it still runs: its pid is alive and holds the
 * API's port (a runtime killed without a word leaves the file behind, and its pid may be reused).
 */
export const findRunningRuntime = async (dataDir: string): Promise<RunningRuntime | undefined> => {
  const file = await readFile(join(dataDir, RUNTIME_FILE), 'utf8')
    .then((text) => JSON.parse(text) as Partial<RuntimeFile>)
    .catch(() => undefined);
  if (!file || typeof file.pid !== 'number' || typeof file.apiUrl !== 'string') return undefined;
  if (file.pid === process.pid || !isAlive(file.pid)) return undefined;
  const url = new URL(file.apiUrl);
  const port = Number(url.port);
  const holder = await findPortHolder(port);
  if (holder) return holder.pid === file.pid ? { pid: file.pid, apiUrl: file.apiUrl, port } : undefined;
  // Nobody to be seen (no /proc, no ss or lsof): someone listening there is taken for the runtime.
  const free = await isPortFree(port, url.hostname).catch(() => false);
  return free ? undefined : { pid: file.pid, apiUrl: file.apiUrl, port };
};

const waitForExit = async (pid: number, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
};

/** Resets the data directory (see the module comment); throws RuntimeRunningError instead of wiping live data. */
export const resetLocalData = async (dataDir: string, options: ResetOptions = {}): Promise<void> => {
  const log = options.log ?? ((message: string) => console.log(message));
  const running = await findRunningRuntime(dataDir);
  if (running && !options.force) {
    throw new RuntimeRunningError(
      `npm start is running on ${dataDir} (pid ${running.pid}, API ${running.apiUrl}, port ${running.port}): ` +
        'nothing was deleted. Stop it first (Ctrl-C in its terminal), or run `npm run reset -- --force` ' +
        'to stop it and then reset',
      running,
    );
  }
  if (running) {
    log(`stopping the running runtime (pid ${running.pid}, port ${running.port}) as Ctrl-C would…`);
    process.kill(running.pid, 'SIGTERM');
    if (!(await waitForExit(running.pid, options.stopWaitMs ?? STOP_WAIT_MS))) {
      throw new RuntimeRunningError(
        `the runtime (pid ${running.pid}) did not stop within ${(options.stopWaitMs ?? STOP_WAIT_MS) / 1000} s: nothing was deleted`,
        running,
      );
    }
    log(`stopped it (pid ${running.pid}); start it again with npm start`);
  }
  const kept = new Set<string>([...ALWAYS_KEPT, ...(options.newSecrets ? [] : SECRET_FILES)]);
  const entries = await readdir(dataDir).catch(() => [] as string[]);
  for (const entry of entries) {
    if (!kept.has(entry)) await rm(join(dataDir, entry), { recursive: true, force: true });
  }
  log(
    `Cleared local data in ${dataDir}: jobs, objects, queued messages, and the keys of tenants other than default.`,
  );
  log(
    options.newSecrets
      ? 'Replaced the dev API key and the webhook secret: npm start generates new ones (update MEDIA_PIPELINE_API_KEY users and your webhook receiver).'
      : `Kept the dev API key (${API_KEY_FILE}) and the webhook secret (secrets.json), so scripts and webhook receivers keep working; npm run reset -- --new-secrets replaces them too.`,
  );
};
