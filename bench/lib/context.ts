import type { RuntimeSession } from './runtime-session.ts';

export interface BenchContext {
  /** Short inputs and few repeats: keeps the code paths exercised in CI, not a measurement. */
  quick: boolean;
  log: (message: string) => void;
  /** The local runtime, started on first use and shared by the sections that need it. */
  runtime: () => Promise<RuntimeSession>;
}

/** Runs `work` for items 0…count-1 with at most `inFlight` at a time. */
export const runPool = async (
  count: number,
  inFlight: number,
  work: (index: number) => Promise<unknown>,
): Promise<void> => {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      await work(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
};

/** Wall and CPU (this process, every thread) of one call. */
export const timed = async <T>(
  work: () => Promise<T>,
): Promise<{ wallMs: number; cpuMs: number; value: T }> => {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const value = await work();
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { wallMs, cpuMs: (used.user + used.system) / 1000, value };
};

/** The order of `items` rotated by `round`: no method always runs first (or right after another). */
export const rotate = <T>(items: readonly T[], round: number): T[] => {
  const shift = round % Math.max(1, items.length);
  return [...items.slice(shift), ...items.slice(0, shift)];
};
