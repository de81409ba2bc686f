import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { FFMPEG_PATH, FFPROBE_PATH, PYTHON } from './tools.ts';

const run = promisify(execFile);

export interface MachineInfo {
  date: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  loadAverageAtStart: number[];
  node: string;
  sharp: string;
  libvips: string;
  ffmpeg: string;
  ffprobe: string;
  pillow: string;
  vipsthumbnail: string;
  openssl: string;
  commit: string;
}

/** First line of a tool's version output, or why there is none. */
const firstLine = async (file: string, args: string[]): Promise<string> => {
  try {
    const { stdout, stderr } = await run(file, args, { timeout: 10_000 });
    return (stdout || stderr).split('\n')[0]?.trim() ?? '';
  } catch (error) {
    return `unavailable (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`;
  }
};

const cpuModel = async (): Promise<string> => {
  const info = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const fromProc = /^model name\s*:\s*(.+)$/m.exec(info)?.[1];
  return fromProc?.trim() ?? cpus()[0]?.model ?? 'unknown';
};

export const describeMachine = async (): Promise<MachineInfo> => {
  const [model, ffmpeg, ffprobe, pillow, vipsthumbnail, openssl, commit] = await Promise.all([
    cpuModel(),
    firstLine(FFMPEG_PATH, ['-hide_banner', '-version']),
    firstLine(FFPROBE_PATH, ['-hide_banner', '-version']),
    firstLine(PYTHON, [
      '-c',
      'import PIL, sys; print("Pillow", PIL.__version__, "on Python", sys.version.split()[0])',
    ]),
    firstLine('vipsthumbnail', ['--vips-version']),
    firstLine('openssl', ['version']),
    firstLine('git', ['describe', '--always', '--dirty']),
  ]);
  return {
    date: new Date().toISOString(),
    cpuModel: model,
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    loadAverageAtStart: loadavg().map((value) => Math.round(value * 100) / 100),
    node: process.version,
    sharp: sharp.versions.sharp ?? 'unknown',
    libvips: sharp.versions.vips,
    ffmpeg,
    ffprobe,
    pillow,
    vipsthumbnail,
    openssl,
    commit,
  };
};
