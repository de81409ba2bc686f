import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/**
 * Bounds on an ffmpeg or ffprobe child's memory (issue 9, item 6): no input may push one run past
 * its allowance, and what tries is killed and reported instead of taking the function down with
 * an out-of-memory crash. runBinary applies them; this module holds the mechanics.
 */

export interface MemoryBounds {
  /**
   * The watchdog reads `/proc/<pid>/status` every {@link MEMORY_POLL_MS} ms and kills the process
   * with SIGKILL once its peak resident set (VmHWM) passes this, rejecting with
   * BinaryMemoryExceededError (run-binary.ts). It can overshoot by what the child allocates in one interval.
   */
  maxRssBytes?: number;
  /**
   * RLIMIT_AS for the child, the hard ceiling: its address space, hence its resident set, can never
   * pass this; allocations beyond it fail inside the tool. Node has no setrlimit and Lambda's image
   * no prlimit, so it is set by `/bin/sh` (`ulimit -v`) before it execs the binary in place (same
   * pid): the binary and every argument are positional parameters, never part of the script. Not
   * applied where there is no /bin/sh.
   */
  maxAddressSpaceBytes?: number;
}

/** How often the memory watchdog reads the child's VmHWM. */
export const MEMORY_POLL_MS = 10;

/**
 * One memory allowance per tool run as {@link MemoryBounds}: the address space is capped at the
 * allowance and the watchdog kills at three quarters of it, so that a run which grows is normally
 * stopped by the watchdog (a readable `Media::TooComplex`) before allocations start failing at the
 * hard cap. ffmpeg's address space runs about 100 MB above its resident set (its 79 MB static
 * binary, thread stacks), which that quarter covers.
 */
export const memoryCeiling = (allowanceBytes: number): MemoryBounds => ({
  maxRssBytes: Math.floor((allowanceBytes * 3) / 4),
  maxAddressSpaceBytes: allowanceBytes,
});

export const SHELL = '/bin/sh';
/** `$1` is the limit in KiB; the rest is the binary and its arguments, exec'd as they are. */
export const ULIMIT_SCRIPT = 'ulimit -v "$1" && shift && exec "$@"';
export const shellAvailable = existsSync(SHELL);

const kibibytes = (status: string, field: string): number | undefined => {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
};

/**
 * Reports the child's VmHWM (peak resident set) every {@link MEMORY_POLL_MS} ms. One read at a
 * time; a read that fails (the process is gone, or no /proc) reports nothing.
 */
export const watchMemory = (pid: number, report: (peakBytes: number) => void): NodeJS.Timeout => {
  let reading = false;
  const poll = (): void => {
    if (reading) return;
    reading = true;
    readFile(`/proc/${pid}/status`, 'latin1')
      .then((status) => {
        const peak = kibibytes(status, 'VmHWM') ?? kibibytes(status, 'VmRSS');
        if (peak !== undefined) report(peak);
      })
      .catch(() => undefined)
      .finally(() => {
        reading = false;
      });
  };
  poll();
  return setInterval(poll, MEMORY_POLL_MS);
};
