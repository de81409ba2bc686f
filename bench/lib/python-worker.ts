import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LAUNCHER, PYTHON, PYTHON_WORKER } from './tools.ts';

export interface PillowReply {
  wall_ms: number;
  cpu_ms: number;
  bytes: number[];
  decoded: [number, number];
}

export interface ExecReply {
  wall_ms: number;
  cpu_ms: number;
  max_rss_kb: number;
  returncode: number;
  stderr: string;
}

export interface RusageReply {
  self_max_rss_kb: number;
}

export interface PillowVariant {
  width: number;
  height: number;
  format: string;
  quality: number;
}

/**
 * A long-lived bench/py/worker.py under Debian's Python: Pillow for the side-by-side comparison, and a
 * rusage harness for command-line tools (CPU and peak RSS of a child, which Node cannot report).
 * One request at a time.
 */
export class PythonWorker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly replies: Array<(line: string) => void> = [];
  private stderr = '';
  private exited = false;

  constructor() {
    // Through the launcher, so that the worker's own peak RSS does not start at this process's.
    this.child = spawn(PYTHON, [LAUNCHER, '-', PYTHON, PYTHON_WORKER], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.replies.shift()?.(line));
    this.child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2000);
    });
    this.child.on('exit', () => {
      this.exited = true;
      for (const reply of this.replies.splice(0))
        reply(JSON.stringify({ ok: false, error: 'worker exited' }));
    });
  }

  private async request<T>(message: Record<string, unknown>): Promise<T> {
    if (this.exited) throw new Error(`the Python worker has exited: ${this.stderr}`);
    const line = await new Promise<string>((resolve) => {
      this.replies.push(resolve);
      this.child.stdin.write(`${JSON.stringify(message)}\n`);
    });
    const reply = JSON.parse(line) as { ok: boolean; error?: string } & T;
    if (!reply.ok) throw new Error(`Python worker: ${reply.error ?? 'failed'} ${this.stderr}`);
    return reply;
  }

  pillow(file: string, variants: readonly PillowVariant[]): Promise<PillowReply> {
    return this.request({ op: 'pillow', file, variants });
  }

  /** Runs a command under the rusage harness; a non-zero exit throws unless `allowFailure`. */
  async exec(argv: readonly string[], { allowFailure = false } = {}): Promise<ExecReply> {
    const reply = await this.request<ExecReply>({ op: 'exec', argv });
    if (reply.returncode !== 0 && !allowFailure) {
      throw new Error(`${argv[0]} exited with ${reply.returncode}: ${reply.stderr.trim()}`);
    }
    return reply;
  }

  rusage(): Promise<RusageReply> {
    return this.request({ op: 'rusage' });
  }

  async close(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}
