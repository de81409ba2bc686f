import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** The binaries the video layer ships, straight from their installer packages. */
export const FFMPEG_PATH: string = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
export const FFPROBE_PATH: string = (require('@ffprobe-installer/ffprobe') as { path: string }).path;

/** Debian's interpreter, the one with python3-pil: the `python3` first on PATH may be another one. */
export const PYTHON = '/usr/bin/python3';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const PROJECT_DIR = dirname(BENCH_DIR);
export const RESULTS_DIR = join(BENCH_DIR, 'results');
/** Generated inputs, kept between runs (git-ignored with the rest of bench/results). */
export const INPUTS_DIR = join(RESULTS_DIR, 'inputs');
/** The local runtime's data directory for the benchmarks (its synth cache survives between runs). */
export const RUNTIME_DATA_DIR = join(RESULTS_DIR, 'runtime');
export const PYTHON_WORKER = join(BENCH_DIR, 'py', 'worker.py');
/** Runs a command forked from a small process, so that its peak RSS is its own (see bench/py/launch.py). */
export const LAUNCHER = join(BENCH_DIR, 'py', 'launch.py');
