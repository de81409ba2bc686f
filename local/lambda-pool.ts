import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { InvocationRecord } from './invocation-log.ts';
import { functionEnvironment } from './lambda-environment.ts';
import {
  type FunctionInvoker,
  type FunctionSpec,
  type InvokeMeta,
  type InvokeOutcome,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
} from './types.ts';

/**
 * Lambda execution environments on a laptop: each function runs in worker processes forked from
 * local/lambda-worker.mjs that load its bundle once (the cold start) and then serve one invocation at
 * a time for as long as they live. A function has a small pool of them; further invocations wait.
 *
 * What stands in for Lambda's sandbox:
 * - /opt, PATH, NODE_PATH and the environment: local/lambda-environment.ts.
 * - Memory: the heap is capped with `--max-old-space-size`; the process as a whole is not.
 * - Timeout: past `timeoutSeconds` the worker is killed (SIGKILL) and replaced on demand, so a
 *   runaway handler costs one cold start, like a Lambda environment reset after a timeout.
 * - Module type: /var/task and /opt have nothing above them, so a `.js` file there is CommonJS unless a
 *   package.json inside them says otherwise. Locally they sit under the project, whose package.json
 *   says "type": "module"; the worker makes Node load files inside the code and layer directories
 *   with the type Lambda would give them.
 * - A bundle's `require` that misses its own directory still walks up parent directories, which
 *   Lambda's /var/task does not have: a module missing from a bundle may be found here and not there.
 *
 * One module a little over 400 lines on purpose: the pool's scheduling relies on an environment's
 * busy / dead / init states and its exit handling, which would otherwise have to be exported as API;
 * the sandbox's environment variables are already apart (local/lambda-environment.ts).
 */

const WORKER_SCRIPT = fileURLToPath(new URL('./lambda-worker.mjs', import.meta.url));

export const DEFAULT_CONCURRENCY = 2;
/** Lambda's limit on the init phase of an on-demand function. */
const INIT_TIMEOUT_MS = 10_000;

export interface LambdaPoolOptions {
  /** Concurrent execution environments per function. @default 2 */
  concurrency?: number;
  /** Environment every function gets on top of its own (emulator endpoints, credentials). */
  extraEnv?: Record<string, string>;
  /** @default LOCAL_REGION */
  region?: string;
  /** @default LOCAL_ACCOUNT */
  accountId?: string;
  /**
   * Where the functions' stdout and stderr go, line by line.
   * @default - written to this process's stdout / stderr, prefixed with `[function name]`
   */
  output?: (line: string, stream: 'stdout' | 'stderr', fn: FunctionSpec) => void;
  /** Called once per finished invocation, e.g. with `createInvocationLog()` from invocation-log.ts. */
  onInvocation?: (record: InvocationRecord) => void;
}

export class UnknownFunctionError extends Error {
  constructor(readonly logicalId: string) {
    super(`no function with logical id ${logicalId}`);
    this.name = 'UnknownFunctionError';
  }
}

const defaultOutput = (line: string, stream: 'stdout' | 'stderr', fn: FunctionSpec): void => {
  (stream === 'stdout' ? process.stdout : process.stderr).write(`[${fn.name}] ${line}\n`);
};

interface WorkerMessage {
  /** ready: the handler module loaded (or failed to: the first invocation reports it). */
  type: 'result' | 'fatal' | 'ready';
  id?: string;
  ok?: boolean;
  payload?: string;
  error?: { name: string; message: string };
  rejection?: boolean;
  /** The worker exits after this result (its initialisation failed). */
  retire?: boolean;
}

interface Running {
  requestId: string;
  startedAt: number;
  timer: NodeJS.Timeout;
  fatal?: { name: string; message: string };
  resolve: (outcome: InvokeOutcome) => void;
}

/** One execution environment: a forked worker process. */
class Environment {
  readonly child: ChildProcess;
  private running: Running | undefined;
  /** Taken by an invocation that is waiting for the init phase to end. */
  private reserved = false;
  private exited = false;
  /** Set when the environment must not take another invocation. */
  dead = false;
  readonly exitedPromise: Promise<void>;
  /** Settles when the worker has loaded its handler (Lambda's init phase), or is gone. */
  private readonly initialised: Promise<void>;
  private markInitialised: () => void = () => {};

  constructor(
    private readonly spec: FunctionSpec,
    env: Record<string, string>,
    output: NonNullable<LambdaPoolOptions['output']>,
    private readonly onGone: (environment: Environment) => void,
  ) {
    // Most of the function's memory goes to the heap, leaving the rest for the process itself.
    const heapMb = Math.max(32, Math.floor(spec.memoryMb * 0.9));
    this.child = fork(WORKER_SCRIPT, [], {
      cwd: spec.codeDir,
      env,
      // Its own process group: a terminal's Ctrl-C reaches only the runtime, which drains and then
      // stops its workers. A worker whose runtime dies exits when its IPC channel closes.
      detached: true,
      execArgv: [`--max-old-space-size=${heapMb}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = this.child[stream];
      if (!source) continue;
      createInterface({ input: source, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        output(line, stream, spec),
      );
    }
    this.initialised = new Promise((resolve) => {
      this.markInitialised = resolve;
    });
    let gone: () => void = () => {};
    this.exitedPromise = new Promise((resolve) => {
      gone = () => {
        if (this.exited) return;
        this.markInitialised();
        this.exited = true;
        this.dead = true;
        this.onGone(this);
        resolve();
      };
    });
    this.child.once('exit', (code, signal) => {
      this.finish(this.crashOutcome(code, signal));
      gone();
    });
    this.child.on('error', (error) => {
      // Spawn or IPC failure: the environment is unusable.
      this.dead = true;
      const message = existsSync(spec.codeDir)
        ? error.message
        : `the function's code directory ${spec.codeDir} does not exist (${error.message})`;
      this.finish(this.failure('crash', { name: 'Runtime.ExitError', message }));
      // A process that never started emits no 'exit'.
      if (this.child.pid === undefined) gone();
      else this.kill();
    });
    this.child.on('message', (message: WorkerMessage) => this.onMessage(message));
    this.child.send({
      type: 'init',
      codeDir: spec.codeDir,
      handler: spec.handler,
      layerDirs: spec.layerDirs,
    });
  }

  get busy(): boolean {
    return this.reserved || this.running !== undefined;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /**
   * As on Lambda, the init phase (loading the handler module) has its own limit and does not count
   * against the invocation's timeout: the timer starts once the handler is loaded.
   */
  async invoke(event: unknown, requestId: string, invokedFunctionArn: string): Promise<InvokeOutcome> {
    this.reserved = true;
    let initTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.initialised,
      new Promise<void>((resolve) => {
        initTimer = setTimeout(resolve, INIT_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(initTimer);
    this.reserved = false;
    return new Promise((resolve) => {
      const startedAt = Date.now();
      const timeoutMs = this.spec.timeoutSeconds * 1000;
      const timer = setTimeout(() => {
        this.dead = true;
        this.finish(
          this.failure('timeout', {
            name: 'Sandbox.Timedout',
            message: `Task timed out after ${this.spec.timeoutSeconds.toFixed(2)} seconds`,
          }),
        );
        this.kill();
      }, timeoutMs);
      this.running = { requestId, startedAt, timer, resolve };
      const context = {
        functionName: this.spec.name,
        functionVersion: '$LATEST',
        invokedFunctionArn,
        memoryLimitInMB: String(this.spec.memoryMb),
        awsRequestId: requestId,
        logGroupName: `/aws/lambda/${this.spec.name}`,
        logStreamName: `local/[$LATEST]${this.spec.logicalId}`,
        deadlineMs: startedAt + timeoutMs,
      };
      this.child.send({ type: 'invoke', id: requestId, event, context }, (error) => {
        if (!error) return;
        this.dead = true;
        this.finish(this.failure('crash', { name: 'Runtime.ExitError', message: error.message }));
        this.kill();
      });
    });
  }

  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  private onMessage(message: WorkerMessage): void {
    if (message.type === 'ready') {
      this.markInitialised();
      return;
    }
    const running = this.running;
    if (message.type === 'fatal') {
      this.dead = true;
      if (running && message.error) {
        running.fatal = message.rejection
          ? {
              name: 'Runtime.UnhandledPromiseRejection',
              message: `${message.error.name}: ${message.error.message}`,
            }
          : { name: message.error.name, message: message.error.message };
      }
      return;
    }
    if (message.retire) this.dead = true;
    if (!running || message.id !== running.requestId) return;
    if (message.ok) {
      let result: unknown;
      try {
        result = JSON.parse(message.payload ?? 'null');
      } catch {
        result = null;
      }
      this.finish({ ok: true, result, durationMs: Date.now() - running.startedAt });
    } else {
      this.finish(this.failure('handler', message.error ?? { name: 'Error', message: 'unknown error' }));
    }
  }

  private crashOutcome(code: number | null, signal: NodeJS.Signals | null): InvokeOutcome {
    const fatal = this.running?.fatal;
    if (fatal) return this.failure('crash', fatal);
    const reason = signal ? `signal: ${signalName(signal)}` : `exit status ${code}`;
    return this.failure('crash', {
      name: 'Runtime.ExitError',
      message: `Runtime exited with error: ${reason}`,
    });
  }

  private failure(
    kind: 'handler' | 'timeout' | 'crash',
    error: { name: string; message: string },
  ): InvokeOutcome {
    const durationMs = this.running ? Date.now() - this.running.startedAt : 0;
    return { ok: false, kind, error: { name: error.name, message: error.message }, durationMs };
  }

  private finish(outcome: InvokeOutcome): void {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    clearTimeout(running.timer);
    running.resolve(outcome);
  }
}

const signalName = (signal: NodeJS.Signals): string =>
  ({ SIGKILL: 'killed', SIGSEGV: 'segmentation fault', SIGABRT: 'aborted', SIGTERM: 'terminated' })[
    signal as string
  ] ?? signal.toLowerCase();

interface Waiting {
  event: unknown;
  meta: InvokeMeta;
  resolve: (outcome: InvokeOutcome) => void;
}

/** One function's environments and the invocations waiting for one. */
class FunctionEnvironments {
  readonly environments = new Set<Environment>();
  private readonly waiting: Waiting[] = [];
  private readonly env: Record<string, string>;
  private closed = false;

  constructor(
    readonly spec: FunctionSpec,
    private readonly options: Required<
      Pick<LambdaPoolOptions, 'concurrency' | 'output' | 'region' | 'accountId'>
    > &
      Pick<LambdaPoolOptions, 'onInvocation' | 'extraEnv'>,
  ) {
    this.env = functionEnvironment(spec, options);
  }

  invoke(event: unknown, meta: InvokeMeta): Promise<InvokeOutcome> {
    if (this.closed) return Promise.resolve(closedOutcome());
    return new Promise((resolve) => {
      this.waiting.push({ event, meta, resolve });
      this.dispatch();
    });
  }

  /** Pids of the live environments (for tests and diagnostics). */
  pids(): number[] {
    return [...this.environments].flatMap((environment) => (environment.pid ? [environment.pid] : []));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const waiting of this.waiting.splice(0)) waiting.resolve(closedOutcome());
    const environments = [...this.environments];
    for (const environment of environments) environment.kill();
    await Promise.all(environments.map((environment) => environment.exitedPromise));
  }

  private dispatch(): void {
    while (this.waiting.length > 0 && !this.closed) {
      let environment = [...this.environments].find((candidate) => !candidate.busy && !candidate.dead);
      let coldStart = false;
      if (!environment) {
        const live = [...this.environments].filter((candidate) => !candidate.dead).length;
        if (live >= this.options.concurrency) return;
        environment = new Environment(this.spec, this.env, this.options.output, (gone) => {
          this.environments.delete(gone);
          this.dispatch();
        });
        this.environments.add(environment);
        coldStart = true;
      }
      const next = this.waiting.shift();
      if (!next) return;
      void this.run(environment, next, coldStart);
    }
  }

  private async run(environment: Environment, waiting: Waiting, coldStart: boolean): Promise<void> {
    const requestId = waiting.meta.requestId ?? randomUUID();
    const startedAt = new Date();
    const arn = `arn:aws:lambda:${this.options.region}:${this.options.accountId}:function:${this.spec.name}`;
    const ran = await environment.invoke(waiting.event, requestId, arn);
    // A worker killed because the pool is closing did not crash: say the runtime stopped it.
    const outcome: InvokeOutcome =
      this.closed && !ran.ok && ran.kind === 'crash'
        ? { ...closedOutcome(), durationMs: ran.durationMs }
        : ran;
    try {
      this.options.onInvocation?.({
        startedAt,
        functionName: this.spec.name,
        logicalId: this.spec.logicalId,
        trigger: waiting.meta.trigger,
        requestId,
        coldStart,
        event: waiting.event,
        outcome,
      });
    } catch {
      // A broken log line must not fail the invocation.
    } finally {
      waiting.resolve(outcome);
      this.dispatch();
    }
  }
}

const closedOutcome = (): InvokeOutcome => ({
  ok: false,
  kind: 'crash',
  error: { name: 'Runtime.Shutdown', message: 'the local runtime is shutting down' },
  durationMs: 0,
});

/** A `FunctionInvoker` over warm worker processes: see the module comment. */
export class LambdaPool implements FunctionInvoker {
  readonly concurrency: number;
  private readonly functions = new Map<string, FunctionEnvironments>();

  constructor(specs: readonly FunctionSpec[], options: LambdaPoolOptions = {}) {
    this.concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
    const resolved = {
      ...options,
      concurrency: this.concurrency,
      output: options.output ?? defaultOutput,
      region: options.region ?? LOCAL_REGION,
      accountId: options.accountId ?? LOCAL_ACCOUNT,
    };
    for (const spec of specs) this.functions.set(spec.logicalId, new FunctionEnvironments(spec, resolved));
  }

  invoke(logicalId: string, event: unknown, meta: InvokeMeta): Promise<InvokeOutcome> {
    const fn = this.functions.get(logicalId);
    if (!fn) return Promise.reject(new UnknownFunctionError(logicalId));
    return fn.invoke(event, meta);
  }

  /** The function's spec, if the pool runs it. */
  spec(logicalId: string): FunctionSpec | undefined {
    return this.functions.get(logicalId)?.spec;
  }

  /** Pids of a function's live worker processes. */
  workerPids(logicalId: string): number[] {
    return this.functions.get(logicalId)?.pids() ?? [];
  }

  async close(): Promise<void> {
    await Promise.all([...this.functions.values()].map((fn) => fn.close()));
  }
}
