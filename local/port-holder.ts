/**
 * Who holds a TCP port: so that "port 3000 is in use" can say by whom. On Linux the kernel's socket
 * tables answer without any tool (/proc/net/tcp{,6} give the listening socket's inode, /proc/<pid>/fd
 * the process that has it open); elsewhere `ss -ltnp` or `lsof` if present. Processes of other users
 * cannot be looked into: then the answer is undefined, and the message says "another process".
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

export interface PortHolder {
  pid: number;
  /** The process's command line, shortened (`node --import tsx local/main.ts`). */
  command: string;
}

const run = promisify(execFile);
/** TCP_LISTEN in /proc/net/tcp's `st` column. */
const LISTEN = '0A';
const MAX_COMMAND = 80;

/** Inodes of the sockets listening on `port`, from /proc/net/tcp and tcp6 (empty when not on Linux). */
export const listeningInodes = async (port: number): Promise<Set<string>> => {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, local, , state] = fields;
      const inode = fields[9];
      if (!local || state !== LISTEN || !inode || inode === '0') continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) === port) inodes.add(inode);
    }
  }
  return inodes;
};

const shorten = (command: string): string =>
  command.length > MAX_COMMAND ? `${command.slice(0, MAX_COMMAND - 1)}…` : command;

const commandOf = async (pid: number): Promise<string> => {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline) return shorten(cmdline.split('\0').filter(Boolean).join(' '));
  const ps = await run('ps', ['-o', 'command=', '-p', String(pid)]).catch(() => undefined);
  return shorten(ps?.stdout.trim() ?? '');
};

const fromProc = async (port: number): Promise<PortHolder | undefined> => {
  const inodes = await listeningInodes(port);
  if (inodes.size === 0) return undefined;
  const sockets = new Set([...inodes].map((inode) => `socket:[${inode}]`));
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((name) => /^\d+$/.test(name));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (sockets.has(target)) return { pid: Number(pid), command: await commandOf(Number(pid)) };
    }
  }
  return undefined;
};

/** `ss -ltnpH 'sport = :3000'` → `users:(("node",pid=1234,fd=21))`. */
const fromSs = async (port: number): Promise<PortHolder | undefined> => {
  const result = await run('ss', ['-ltnpH', `sport = :${port}`], { timeout: 2_000 }).catch(() => undefined);
  const match = result?.stdout.match(/pid=(\d+)/);
  return match ? { pid: Number(match[1]), command: await commandOf(Number(match[1])) } : undefined;
};

/** `lsof -nP -iTCP:3000 -sTCP:LISTEN -t` → the pid (macOS has no /proc and no ss). */
const fromLsof = async (port: number): Promise<PortHolder | undefined> => {
  const result = await run('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t'], { timeout: 2_000 }).catch(
    () => undefined,
  );
  const pid = Number(result?.stdout.trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? { pid, command: await commandOf(pid) } : undefined;
};

/** The process listening on `port` on this machine, or undefined when it cannot be told. */
export const findPortHolder = async (port: number): Promise<PortHolder | undefined> =>
  (await fromProc(port)) ?? (await fromSs(port)) ?? (await fromLsof(port));

/** True when `port` can be listened on at `host` now (false on EADDRINUSE; other errors are thrown). */
export const isPortFree = (port: number, host: string): Promise<boolean> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EADDRINUSE' ? resolve(false) : reject(error),
    );
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });

/** A port the runtime needs, and the setting that chooses it. */
export interface NeededPort {
  port: number;
  /** What listens there: `the API`, `the S3 emulator`. */
  role: string;
  /** How to change it: `PORT`, `S3_PORT (default PORT+1)`. */
  setting: string;
}

export class PortInUseError extends Error {
  constructor(
    readonly needed: NeededPort,
    readonly holder: PortHolder | undefined,
  ) {
    super(portInUseMessage(needed, holder));
    this.name = 'PortInUseError';
  }
}

/** One line: the port, what needs it, who holds it and how to choose another. */
export const portInUseMessage = (needed: NeededPort, holder: PortHolder | undefined): string => {
  const who = holder ? `pid ${holder.pid}${holder.command ? ` (${holder.command})` : ''}` : 'another process';
  const settingName = needed.setting.split(' ')[0];
  const runtime = holder?.command.includes('local/main.ts')
    ? ': another npm start? (a second one needs its own MEDIA_PIPELINE_DATA_DIR too)'
    : '';
  return (
    `port ${needed.port} (${needed.role}) is in use by ${who}${runtime}; ` +
    `stop it, or choose another port with ${needed.setting}, e.g. ${settingName}=${needed.port + 10} npm start`
  );
};

/** Throws PortInUseError for the first port in use, naming its holder. */
export const assertPortsFree = async (ports: readonly NeededPort[], host: string): Promise<void> => {
  for (const needed of ports) {
    if (needed.port === 0) continue;
    if (!(await isPortFree(needed.port, host)))
      throw new PortInUseError(needed, await findPortHolder(needed.port));
  }
};
