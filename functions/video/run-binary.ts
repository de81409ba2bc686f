import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { AppError, PermanentMediaError } from '#shared/errors';
import { type MemoryBounds, SHELL, shellAvailable, ULIMIT_SCRIPT, watchMemory } from './child-memory.ts';

/**
 * Running ffmpeg and ffprobe on untrusted uploads. Crafted HLS and concat playlists have turned
 * these tools into SSRF and local-file-read gadgets (CVE-2016-1897, CVE-2016-1898, CVE-2017-9993),
 * so every run goes through here: an argument array and no shell, stdin closed, an empty
 * environment, a deadline enforced with SIGKILL, and bounded output. Callers open their single
 * input with {@link hardenedInputArgs}, which restricts protocols to `file` and demuxers to the
 * MP4 and Matroska families.
 */

/**
 * Demuxers the pipeline accepts, as `-format_whitelist` names. FFmpeg matches a demuxer when any
 * of its comma-separated names is listed: `mp4` admits the whole `mov,mp4,m4a,3gp,3g2,mj2`
 * demuxer and `webm` admits `matroska,webm`, so every alias is listed to make that explicit.
 * Playlists (hls, concat), image sequences and raw formats are refused before they are parsed.
 */
export const ALLOWED_DEMUXERS = ['mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2', 'matroska', 'webm'] as const;

/** Arguments every ffmpeg run starts with: no stdin interaction, errors only on stderr. */
export const FFMPEG_BASE_ARGS: readonly string[] = ['-hide_banner', '-nostdin', '-loglevel', 'error'];

/**
 * Bounds on how much of the input is read and decoded before the tools settle on its streams.
 * `-probesize` 5 MB and `-analyzeduration` 5 s (FFmpeg's defaults, pinned here so that no later
 * build raises them), and `-max_alloc` 256 MiB for any single allocation: the largest frame
 * accepted, 8192×4320 at 16-bit 4:4:4, takes about 212 MB. Both the 2018 ffmpeg and the 2023
 * ffprobe of the installer packages accept these as global options.
 */
export const DECODE_BOUND_ARGS: readonly string[] = [
  '-max_alloc',
  String(256 * 1024 * 1024),
  '-probesize',
  '5000000',
  '-analyzeduration',
  '5000000',
];

/** ffprobe never reads stdin (and gets none here): it has no `-nostdin`. */
export const FFPROBE_BASE_ARGS: readonly string[] = ['-hide_banner', '-loglevel', 'error'];

/**
 * The input options and input URL for one local file. The path is made absolute and prefixed
 * with `file:` so that neither a leading `-` nor a `scheme:` in it can change its meaning.
 * Both the 2018 ffmpeg of `@ffmpeg-installer` and the 2023 ffprobe of `@ffprobe-installer`
 * accept `-protocol_whitelist` and `-format_whitelist` as input options.
 */
export const hardenedInputArgs = (path: string): { options: readonly string[]; url: string } => ({
  options: ['-protocol_whitelist', 'file', '-format_whitelist', ALLOWED_DEMUXERS.join(',')],
  url: `file:${resolve(path)}`,
});

const DEFAULT_MAX_STDOUT_BYTES = 4 * 1024 * 1024;
const DEFAULT_MAX_STDERR_BYTES = 64 * 1024;
const STDERR_TAIL_CHARS = 2048;

/** A URL anywhere in the arguments means a caller bypassed {@link hardenedInputArgs}. */
const URL_PATTERN = /^[a-z][a-z0-9+.-]*:\/\//i;

export interface RunBinaryOptions {
  /** Wall-clock budget; the process is killed with SIGKILL when it runs out. */
  timeoutMs: number;
  /** stdout beyond this kills the process. @default 4 MiB */
  maxStdoutBytes?: number;
  /** Only the last this-many bytes of stderr are kept. @default 64 KiB */
  maxStderrBytes?: number;
  /** Aborting kills the process (SIGKILL) and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Bounds on the child's memory; see memoryCeiling in child-memory.ts. Unbounded (and unmeasured) without. */
  memory?: MemoryBounds;
}

export interface BinaryResult {
  stdout: Buffer;
  /** The last `maxStderrBytes` of stderr (warnings, with `-loglevel error` usually empty). */
  stderr: string;
  /**
   * The largest VmHWM the memory watchdog read (only with `memory`). Sampled: a peak reached in the
   * last interval before exit can be missed, so it is a lower bound; the RLIMIT_AS is the hard one.
   */
  peakRssBytes?: number;
}

const MIB = 1024 * 1024;

const toolName = (binaryPath: string): string => basename(binaryPath);

/**
 * The binary could not be started: a missing file or, typically for the ffprobe installer
 * package whose install script npm 11 skips, a mode without the execute bit for this user.
 */
export class BinaryUnavailableError extends AppError {
  constructor(binaryPath: string, cause: unknown) {
    const reason = cause instanceof Error && 'code' in cause ? String(cause.code) : 'spawn failed';
    super('Media::ToolUnavailable', `could not start ${toolName(binaryPath)} (${reason})`, { cause });
  }
}

/** The process outlived its deadline and was killed. Not permanent by itself: a retry may finish. */
export class BinaryTimeoutError extends AppError {
  readonly timeoutMs: number;
  readonly stderrTail: string;
  constructor(binaryPath: string, timeoutMs: number, stderrTail: string) {
    super(
      'Media::ToolTimeout',
      `${toolName(binaryPath)} did not finish within ${timeoutMs} ms and was killed`,
    );
    this.timeoutMs = timeoutMs;
    this.stderrTail = stderrTail;
  }
}

/** The process wrote more to stdout than its caller allowed and was killed. */
export class BinaryOutputTooLargeError extends AppError {
  readonly maxStdoutBytes: number;
  constructor(binaryPath: string, maxStdoutBytes: number) {
    super(
      'Media::ToolOutputTooLarge',
      `${toolName(binaryPath)} wrote more than ${maxStdoutBytes} bytes to stdout and was killed`,
    );
    this.maxStdoutBytes = maxStdoutBytes;
  }
}

/**
 * The process's resident set passed its `maxRssBytes` and it was killed: the input needs more
 * memory than a video of the accepted kinds and sizes ever does. Permanent: a retry would do the same.
 */
export class BinaryMemoryExceededError extends PermanentMediaError {
  readonly maxRssBytes: number;
  readonly peakRssBytes: number;
  constructor(binaryPath: string, maxRssBytes: number, peakRssBytes: number) {
    super(
      'Media::TooComplex',
      `${toolName(binaryPath)} used more than ${Math.round(maxRssBytes / MIB)} MiB of memory on this file and was stopped; the limit is ${Math.round(maxRssBytes / MIB)} MiB`,
    );
    this.maxRssBytes = maxRssBytes;
    this.peakRssBytes = peakRssBytes;
  }
}

/**
 * The process exited unsuccessfully. The message stays generic (it may reach a job record);
 * `stderrTail` holds the last couple of KB of stderr for logs and for callers that classify
 * the failure, and {@link summariseStderr} turns it into a short readable reason.
 */
export class BinaryExitError extends AppError {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderrTail: string;
  /** The address-space cap the run had, if any: allocation failures then mean it was reached. */
  readonly maxAddressSpaceBytes: number | undefined;
  constructor(
    binaryPath: string,
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    stderrTail: string,
    maxAddressSpaceBytes?: number,
  ) {
    const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
    super('Media::ToolFailed', `${toolName(binaryPath)} ${how}`);
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderrTail = stderrTail;
    this.maxAddressSpaceBytes = maxAddressSpaceBytes;
  }
}

const tailOf = (text: string, chars: number): string =>
  (text.length > chars ? text.slice(-chars) : text).trim();

/**
 * Runs a binary with an argument array (never a shell), stdin closed and an empty environment
 * (ffmpeg honours variables such as `FFREPORT` and `http_proxy`). Resolves once the process has
 * exited with code 0 and its pipes are drained.
 */
export const runBinary = (
  binaryPath: string,
  args: readonly string[],
  options: RunBinaryOptions,
): Promise<BinaryResult> => {
  const offending = args.find((arg) => URL_PATTERN.test(arg));
  if (offending !== undefined) {
    return Promise.reject(new AppError('Media::UrlRefused', 'refusing to pass a URL to a media tool'));
  }
  if (!(options.timeoutMs > 0)) {
    return Promise.reject(new BinaryTimeoutError(binaryPath, options.timeoutMs, ''));
  }
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  const addressSpace = shellAvailable ? options.memory?.maxAddressSpaceBytes : undefined;
  if (addressSpace === undefined) return spawnBinary(binaryPath, args, options, undefined);
  // Through the shell a missing binary would be the shell's exit 127: check it first, as spawn would.
  return access(binaryPath, constants.X_OK).then(
    () => spawnBinary(binaryPath, args, options, addressSpace),
    (error: unknown) => {
      throw new BinaryUnavailableError(binaryPath, error);
    },
  );
};

const spawnBinary = (
  binaryPath: string,
  args: readonly string[],
  options: RunBinaryOptions,
  addressSpace: number | undefined,
): Promise<BinaryResult> => {
  const maxStdoutBytes = options.maxStdoutBytes ?? DEFAULT_MAX_STDOUT_BYTES;
  const maxStderrBytes = options.maxStderrBytes ?? DEFAULT_MAX_STDERR_BYTES;
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  const [command, argv] =
    addressSpace === undefined
      ? [binaryPath, [...args]]
      : [SHELL, ['-c', ULIMIT_SCRIPT, 'sh', String(Math.floor(addressSpace / 1024)), binaryPath, ...args]];

  return new Promise<BinaryResult>((resolvePromise, reject) => {
    const child = spawn(command, argv, {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { AV_LOG_FORCE_NOCOLOR: '1' },
      windowsHide: true,
    });

    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrChunks: Buffer[] = [];
    let stderrBytes = 0;
    let failure: Error | undefined;

    const stderrText = (): string => Buffer.concat(stderrChunks).toString('utf8');
    const kill = (error: Error): void => {
      failure ??= error;
      child.kill('SIGKILL');
    };

    const timer = setTimeout(() => {
      kill(new BinaryTimeoutError(binaryPath, options.timeoutMs, tailOf(stderrText(), STDERR_TAIL_CHARS)));
    }, options.timeoutMs);
    const onAbort = (): void => {
      if (signal) kill(abortReason(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const maxRssBytes = options.memory?.maxRssBytes;
    let peakRssBytes: number | undefined;
    const watchdog =
      options.memory && child.pid !== undefined
        ? watchMemory(child.pid, (peak) => {
            peakRssBytes = Math.max(peakRssBytes ?? 0, peak);
            if (maxRssBytes !== undefined && peak > maxRssBytes) {
              kill(new BinaryMemoryExceededError(binaryPath, maxRssBytes, peak));
            }
          })
        : undefined;
    const release = (): void => {
      clearTimeout(timer);
      if (watchdog) clearInterval(watchdog);
      signal?.removeEventListener('abort', onAbort);
    };

    child.stdout.on('data', (chunk: Buffer) => {
      if (failure) return;
      stdoutBytes += chunk.length;
      if (stdoutBytes > maxStdoutBytes) {
        kill(new BinaryOutputTooLargeError(binaryPath, maxStdoutBytes));
        return;
      }
      stdoutChunks.push(chunk);
    });

    child.stderr.on('data', (chunk: Buffer) => {
      stderrChunks.push(chunk);
      stderrBytes += chunk.length;
      if (stderrBytes > 2 * maxStderrBytes) {
        // Compact now and then rather than on every chunk: keep only the last maxStderrBytes.
        const kept = Buffer.concat(stderrChunks).subarray(-maxStderrBytes);
        stderrChunks = [kept];
        stderrBytes = kept.length;
      }
    });

    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      release();
      reject(error);
    };

    child.on('error', (error) => {
      // spawn failures (ENOENT, EACCES) land here; 'close' may or may not follow.
      fail(failure ?? new BinaryUnavailableError(binaryPath, error));
    });

    child.on('close', (exitCode, signal) => {
      if (settled) return;
      if (failure) {
        fail(failure);
        return;
      }
      settled = true;
      release();
      const stderr = Buffer.concat(stderrChunks).subarray(-maxStderrBytes).toString('utf8');
      if (exitCode !== 0) {
        const tail = tailOf(stderr, STDERR_TAIL_CHARS);
        reject(new BinaryExitError(binaryPath, exitCode, signal, tail, addressSpace));
        return;
      }
      const result: BinaryResult = { stdout: Buffer.concat(stdoutChunks, stdoutBytes), stderr };
      if (peakRssBytes !== undefined) result.peakRssBytes = peakRssBytes;
      resolvePromise(result);
    });
  });
};

const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error
    ? signal.reason
    : new DOMException('The operation was aborted', 'AbortError');

/**
 * A short, readable reason from an ffmpeg/ffprobe stderr tail, for messages that reach users:
 * log prefixes such as `[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d…]` are dropped and the input's local
 * path becomes `input`. At most the last three distinct lines, at most 300 characters.
 */
export const summariseStderr = (stderrTail: string, inputPath?: string): string => {
  const absolute = inputPath ? resolve(inputPath) : undefined;
  const lines = stderrTail
    .split(/\r?\n/)
    .map((line) => {
      let cleaned = line.replace(/^\[[^\]]*@ 0x[0-9a-f]+\]\s*/i, '').trim();
      if (absolute) cleaned = cleaned.split(`file:${absolute}`).join('input').split(absolute).join('input');
      return cleaned;
    })
    .filter((line) => line.length > 0 && !/^Last message repeated/.test(line));
  const distinct = [...new Set(lines)].slice(-3);
  const summary = distinct.join('; ');
  return summary.length > 300 ? `${summary.slice(0, 297)}...` : summary;
};

/**
 * An allocation failed under the run's address-space cap (ffmpeg says `Cannot allocate memory`):
 * a PermanentMediaError `Media::TooComplex`, or undefined for any other failure.
 */
export const outOfMemoryError = (error: BinaryExitError): PermanentMediaError | undefined => {
  if (error.maxAddressSpaceBytes === undefined) return undefined;
  if (!/Cannot allocate memory|out of memory/i.test(error.stderrTail)) return undefined;
  const limit = Math.round(error.maxAddressSpaceBytes / MIB);
  return new PermanentMediaError(
    'Media::TooComplex',
    `the file needs more than the ${limit} MiB of memory a media tool may use; the limit is ${limit} MiB`,
    { cause: error },
  );
};

/**
 * `[hls @ 0x…] Format not on whitelist '…'`: the input is a kind of file the pipeline never
 * opens (a playlist, an image sequence, another container). A PermanentMediaError
 * `Media::UnsupportedFormat` naming the detected format, or undefined for any other failure.
 */
export const unsupportedFormatError = (error: BinaryExitError): PermanentMediaError | undefined => {
  const match = /\[([^\]@]+?) @ 0x[0-9a-f]+\] Format not on whitelist/i.exec(error.stderrTail);
  if (!match) return undefined;
  const detected = (match[1] ?? 'unknown').split(',')[0];
  return new PermanentMediaError(
    'Media::UnsupportedFormat',
    `the file is ${detected === 'hls' || detected === 'concat' ? `a ${detected} playlist` : `in ${detected} format`}; only MP4/QuickTime and Matroska/WebM videos are accepted`,
    { cause: error },
  );
};
