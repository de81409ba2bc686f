import { EventEmitter } from 'node:events';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type DynamoDbEmulator, startDynamoDb } from './emulators.ts';
import type { Stoppable } from './types.ts';

/**
 * DynamoDB Local under supervision, for `npm start`: the jobs table is the pipeline's source of truth,
 * so a DynamoDB Local that dies (killed, out of memory) is said so in one line and started again on the
 * same data and port, and the API's writes work again once it answers. It runs in its own process
 * group (a terminal's Ctrl-C reaches only the runtime) and its pid is kept in the data directory, so a
 * runtime that was SIGKILLed, leaving it orphaned on the port, has it stopped at the next start.
 */

const PID_FILE = 'dynamodb-local.pid';
/** Restarts in a row that fail to answer before the runtime gives up on DynamoDB Local. */
const MAX_FAILED_RESTARTS = 3;

export interface SupervisedDynamoDb extends Stoppable {
  endpoint: string;
  /** `restarted` after each successful restart; `gave-up` when it could not be started again. */
  events: EventEmitter<{ restarted: []; 'gave-up': [Error] }>;
  /** The process now running (changes at each restart). */
  pid(): number | undefined;
}

const isDynamoDbLocal = async (pid: number): Promise<boolean> => {
  try {
    const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return commandLine.includes('DynamoDBLocal');
  } catch {
    return false;
  }
};

/** Stops a DynamoDB Local a previous runtime left behind on this data directory (it was SIGKILLed). */
const stopOrphan = async (pidFile: string, log: (message: string) => void): Promise<void> => {
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid) || !(await isDynamoDbLocal(pid))) return;
  log(`stopping DynamoDB Local (pid ${pid}) left running by a previous run on this data directory`);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && (await isDynamoDbLocal(pid)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

export const superviseDynamoDb = async (options: {
  dataDir: string;
  dbPath: string;
  port?: number;
  log: (message: string) => void;
}): Promise<SupervisedDynamoDb> => {
  const pidFile = join(options.dataDir, PID_FILE);
  await stopOrphan(pidFile, options.log);
  const events = new EventEmitter<{ restarted: []; 'gave-up': [Error] }>();
  let stopping = false;
  let current: DynamoDbEmulator;

  const start = async (port?: number): Promise<DynamoDbEmulator> => {
    const emulator = await startDynamoDb({
      dbPath: options.dbPath,
      detached: true,
      ...(port ? { port } : {}),
    });
    await writeFile(pidFile, String(emulator.process.pid ?? ''));
    emulator.process.once('exit', (code, signal) => {
      if (!stopping) void restart(code, signal);
    });
    return emulator;
  };

  const restart = async (code: number | null, signal: NodeJS.Signals | null): Promise<void> => {
    options.log(
      `DynamoDB Local exited (${signal ?? `code ${code}`}); restarting it on the same data (${options.dbPath})`,
    );
    const port = Number(new URL(current.endpoint).port);
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_FAILED_RESTARTS && !stopping; attempt++) {
      try {
        current = await start(port);
        // The runtime began stopping while this one started: it is not left running behind it.
        if (stopping) {
          await current.stop();
          return;
        }
        options.log('DynamoDB Local is back');
        events.emit('restarted');
        return;
      } catch (error) {
        lastError = error;
      }
    }
    if (!stopping) {
      events.emit(
        'gave-up',
        new Error(`DynamoDB Local could not be started again after ${MAX_FAILED_RESTARTS} tries`, {
          cause: lastError,
        }),
      );
    }
  };

  current = await start(options.port);
  return {
    endpoint: current.endpoint,
    events,
    pid: () => current.process.pid,
    stop: async () => {
      stopping = true;
      await current.stop();
      await rm(pidFile, { force: true });
    },
  };
};
