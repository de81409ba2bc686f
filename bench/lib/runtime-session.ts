import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { localS3Client } from '../../local/emulators.ts';
import type { ApiEndpoint } from './api-client.ts';
import type { HostMessage, InvocationSummary, ParentMessage, RuntimeReady } from './runtime-protocol.ts';
import { BENCH_DIR, PROJECT_DIR, RUNTIME_DATA_DIR } from './tools.ts';

/**
 * The local runtime (`startLocalRuntime`, the same as `npm start`) running in a child process for the
 * benchmarks that go through it, with every invocation it makes reported back.
 */
export class RuntimeSession {
  readonly invocations: InvocationSummary[] = [];
  readonly s3: S3Client;
  private readonly listeners = new Set<(invocation: InvocationSummary) => void>();
  private readonly pending = new Map<string, (error?: string) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly ready: RuntimeReady,
  ) {
    this.s3 = localS3Client(ready.s3Endpoint);
    child.on('message', (message: HostMessage) => {
      if (message.type === 'invocation') {
        this.invocations.push(message.invocation);
        for (const listener of this.listeners) listener(message.invocation);
      } else if (message.type === 'sent') {
        this.pending.get(message.requestId)?.(message.error);
        this.pending.delete(message.requestId);
      }
    });
  }

  static async start(log: (message: string) => void): Promise<RuntimeSession> {
    await mkdir(RUNTIME_DATA_DIR, { recursive: true });
    const child = fork(join(BENCH_DIR, 'children', 'runtime-host.ts'), [RUNTIME_DATA_DIR], {
      cwd: PROJECT_DIR,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      env: { ...process.env, FUNCTION_LOG_LEVEL: process.env.FUNCTION_LOG_LEVEL ?? 'ERROR' },
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    child.on('message', (message: HostMessage) => {
      if (message.type === 'log') log(`runtime: ${message.message}`);
    });
    const ready = await new Promise<RuntimeReady>((resolve, reject) => {
      const onMessage = (message: HostMessage) => {
        if (message.type !== 'ready') return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(message);
      };
      const onExit = (code: number | null) =>
        reject(new Error(`the local runtime exited before it was ready (exit ${code}): ${stderr.trim()}`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    return new RuntimeSession(child, ready);
  }

  get apiUrl(): string {
    return this.ready.apiUrl;
  }

  /** The API with the dev key every call sends. */
  get api(): ApiEndpoint {
    const { apiUrl, apiKey } = this.ready;
    return { url: apiUrl, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} };
  }

  onInvocation(listener: (invocation: InvocationSummary) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends a message to a queue of the stack (a dead-letter queue, to wake its consumer). */
  sendToQueue(queueUrl: string, body?: string): Promise<void> {
    const requestId = randomUUID();
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, (error) => (error ? reject(new Error(error)) : resolve()));
      const message: ParentMessage = {
        type: 'send-to-queue',
        requestId,
        queueUrl,
        ...(body ? { body } : {}),
      };
      this.child.send(message);
    });
  }

  async stop(): Promise<void> {
    this.s3.destroy();
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    const message: ParentMessage = { type: 'stop' };
    this.child.send(message);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
}
