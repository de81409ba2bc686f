import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * `npm start` as a user runs it, for the crash tests and `npm run chaos`: the runtime's main process
 * (node --import tsx local/main.ts, as the npm script) in a process group of its own, so that a test can
 * send a signal to the whole group as a terminal's Ctrl-C does, or SIGKILL it as a crash would.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const READY = /media-pipeline is running locally/;
const API_LINE = /^\s+API\s+(http:\/\/\S+)/m;
/** The dev key of tenant `default`, printed at start in api-key mode. */
const API_KEY_LINE = /^\s+API key\s+(\S+)/m;

export interface RuntimeProcess {
  apiUrl: string;
  /** The dev key it printed (tenant `default`); undefined when its API takes no keys. */
  apiKey: string | undefined;
  /** `Authorization: Bearer <dev key>` when there is one: what every API call of a harness sends. */
  authHeaders(): Record<string, string>;
  pid: number;
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Resolves once its output matches `pattern`. */
  printed(pattern: RegExp): Promise<void>;
  /** Sends `signal` to its whole process group (a terminal's Ctrl-C reaches the group). */
  signalGroup(signal: NodeJS.Signals): void;
  /** Resolves with the exit code (or signal) once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface RuntimeProcessOptions {
  dataDir: string;
  port: number;
  /** Presigned URLs carry it: keep it across restarts. */
  s3Port: number;
  env?: Record<string, string>;
  /** How long the start may take (a first start synthesizes and bundles). @default 240 s */
  startTimeoutMs?: number;
}

export const startRuntimeProcess = async (options: RuntimeProcessOptions): Promise<RuntimeProcess> => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: String(options.port),
      S3_PORT: String(options.s3Port),
      MEDIA_PIPELINE_DATA_DIR: options.dataDir,
      ...options.env,
    },
  });
  let text = '';
  let onLine: () => void = () => {};
  const watchers = new Set<{ pattern: RegExp; resolve: () => void }>();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      text += `${line}\n`;
      onLine();
      for (const watcher of watchers) {
        if (watcher.pattern.test(text)) {
          watchers.delete(watcher);
          watcher.resolve();
        }
      }
    });
  }
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const startTimeoutMs = options.startTimeoutMs ?? 240_000;
  const ready = new Promise<string>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the runtime did not start within ${startTimeoutMs} ms:\n${text}`)),
      startTimeoutMs,
    );
    onLine = () => {
      const api = API_LINE.exec(text)?.[1];
      if (!READY.test(text) || !api) return;
      clearTimeout(timer);
      onLine = () => {};
      resolveReady(api);
    };
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the runtime exited (${signal ?? code}) before it was ready:\n${text}`));
    });
  });
  const apiUrl = await ready;
  const apiKey = API_KEY_LINE.exec(text)?.[1];
  return {
    apiUrl,
    apiKey,
    authHeaders: (): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    pid: child.pid ?? 0,
    child,
    output: () => text,
    printed: (pattern) =>
      new Promise<void>((resolvePrinted) => {
        if (pattern.test(text)) resolvePrinted();
        else watchers.add({ pattern, resolve: resolvePrinted });
      }),
    signalGroup: (signal) => process.kill(-(child.pid ?? 0), signal),
    exited,
  };
};

/**
 * The settings under which a crash heals in seconds rather than minutes: the reconciler every 3 s with
 * deadlines of a few seconds, Lambda's asynchronous retries after 1 and 2 s, webhook waits of 1 s at most.
 */
/** A JSON call to the runtime's API with its dev key: the status and the parsed body. */
export const callApi = async <T>(runtime: RuntimeProcess, method: string, path: string, json?: unknown) => {
  const response = await fetch(`${runtime.apiUrl}${path}`, {
    method,
    headers: {
      ...runtime.authHeaders(),
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
  });
  return { status: response.status, body: (await response.json()) as T };
};

export const FAST_RECOVERY_ENV: Readonly<Record<string, string>> = {
  MEDIA_PIPELINE_SCHEDULE_SCALE: '0.01',
  MEDIA_PIPELINE_ASYNC_RETRY_SCALE: String(1 / 60),
  MEDIA_PIPELINE_FUNCTION_ENV: JSON.stringify({
    Reconciler: {
      UPLOAD_DEADLINE_SECONDS: '2',
      ENQUEUE_DEADLINE_SECONDS: '2',
      ANNOUNCE_DEADLINE_SECONDS: '2',
      MARGIN_SECONDS: '2',
      RETRY_MAX_SECONDS: '1',
      IMAGE_TIMEOUT_SECONDS: '5',
      IMAGE_VISIBILITY_TIMEOUT_SECONDS: '2',
      VIDEO_TIMEOUT_SECONDS: '5',
      VIDEO_VISIBILITY_TIMEOUT_SECONDS: '2',
    },
    WebhookFunction: { WEBHOOK_MAX_DELAY_SECONDS: '1' },
  }),
};
