import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { BENCH_DIR, LAUNCHER, PROJECT_DIR, PYTHON } from './tools.ts';

/**
 * Runs one of bench/children/*.ts in a fresh Node process (with tsx) and parses the JSON it prints
 * last: peak RSS only means something per process, so each measurement gets its own.
 */
export const runChild = async <T>(script: string, args: readonly string[]): Promise<T> => {
  // Through the launcher: a Node process spawned from this one would inherit its peak RSS.
  const argv = [
    LAUNCHER,
    '-',
    process.execPath,
    '--import',
    'tsx',
    join(BENCH_DIR, 'children', script),
    ...args,
  ];
  const child = spawn(PYTHON, argv, { cwd: PROJECT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const last = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`bench/children/${script} ${args.join(' ')} failed (exit ${code}): ${stderr.trim()}`);
  }
  return JSON.parse(last) as T;
};
