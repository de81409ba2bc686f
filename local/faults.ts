import { z } from 'zod';
import { abortableSleep } from './abortable-sleep.ts';
import type { FunctionInvoker, FunctionSpec, InvokeMeta, InvokeOutcome } from './types.ts';

/**
 * Fault injection for the local runtime, configured by `MEDIA_PIPELINE_FAULTS` (a JSON array), so that
 * users can run their own clients against a misbehaving stack and the fault suite can break it on
 * purpose. The vocabulary is AWS FIS's Lambda actions plus errors at the SDK boundary:
 *
 * - `invocation-error` (`aws:lambda:invocation-error`): the invocation fails as if the handler threw;
 *   with `preventExecution` (the default) the handler does not run at all, otherwise it runs first.
 * - `invocation-add-delay` (`aws:lambda:invocation-add-delay`): `delayMs` before the handler starts.
 * - `sdk-error`: the function's calls to `service` (`s3`, `sqs`, `dynamodb`) for `operation` (the API
 *   name, `PutItem`, `SendMessage`, `GetObject`, …; omitted: every operation) answer `throttling` or
 *   `server-error`, as the service does, before reaching the emulator (local/fault-proxy.ts); or
 *   `crash-before` / `crash-after`: the function's execution environments are SIGKILLed before the call
 *   reaches the emulator (a crash before the side effect) or once it has been made and before its answer
 *   arrives (the side effect happened, the function never learned it).
 *
 * Every fault names its `function` (a function whose logical id or name contains it), and may set
 * `percentage` (of matching invocations or calls, default 100) and `count` (how many times at most,
 * default unlimited).
 */

const targeting = {
  function: z.string().min(1),
  percentage: z.number().min(0).max(100).default(100),
  count: z.number().int().min(1).optional(),
};

const faultSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('invocation-error'),
    ...targeting,
    preventExecution: z.boolean().default(true),
  }),
  z.object({
    action: z.literal('invocation-add-delay'),
    ...targeting,
    delayMs: z.number().int().min(1).max(900_000),
  }),
  z.object({
    action: z.literal('sdk-error'),
    ...targeting,
    service: z.enum(['s3', 'sqs', 'dynamodb']),
    operation: z.string().min(1).optional(),
    error: z.enum(['throttling', 'server-error', 'crash-before', 'crash-after']),
  }),
]);

export type FaultSpec = z.infer<typeof faultSchema>;
export type SdkFault = Extract<FaultSpec, { action: 'sdk-error' }>;

export class FaultConfigError extends Error {
  override name = 'FaultConfigError';
}

/** Reads MEDIA_PIPELINE_FAULTS; a malformed value stops the runtime with every problem listed. */
export const parseFaults = (text: string | undefined): FaultSpec[] => {
  if (text === undefined || text.trim() === '') return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new FaultConfigError('MEDIA_PIPELINE_FAULTS is not JSON: give a JSON array of faults (README)');
  }
  const parsed = z.array(faultSchema).safeParse(json);
  if (!parsed.success) {
    throw new FaultConfigError(
      `MEDIA_PIPELINE_FAULTS: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
    );
  }
  return parsed.data;
};

export const targets = (fault: Pick<FaultSpec, 'function'>, spec: Pick<FunctionSpec, 'logicalId' | 'name'>) =>
  spec.logicalId.includes(fault.function) || spec.name.includes(fault.function);

/**
 * Decides, fault by fault, whether this occurrence is hit: `percentage` of them, `count` at most.
 * `random` is injectable so that tests decide.
 */
export class FaultDice<F extends FaultSpec = FaultSpec> {
  private readonly hits = new Map<F, number>();

  constructor(private readonly random: () => number = Math.random) {}

  roll(fault: F): boolean {
    const used = this.hits.get(fault) ?? 0;
    if (fault.count !== undefined && used >= fault.count) return false;
    if (this.random() * 100 >= fault.percentage) return false;
    this.hits.set(fault, used + 1);
    return true;
  }
}

const injectedError = (fault: FaultSpec): InvokeOutcome => ({
  ok: false,
  kind: 'handler',
  error: { name: 'InjectedFault', message: `${fault.action} injected by MEDIA_PIPELINE_FAULTS` },
  durationMs: 0,
});

/** Wraps the function pool: the Lambda faults happen around its invocations, as FIS's do. */
export const withInvocationFaults = (
  invoker: FunctionInvoker,
  faults: readonly FaultSpec[],
  specOf: (logicalId: string) => Pick<FunctionSpec, 'logicalId' | 'name'> | undefined,
  options: { random?: () => number; signal?: AbortSignal } = {},
): FunctionInvoker => {
  const lambdaFaults = faults.filter((fault) => fault.action !== 'sdk-error');
  if (lambdaFaults.length === 0) return invoker;
  const dice = new FaultDice(options.random);
  const signal = options.signal ?? new AbortController().signal;
  return {
    close: () => invoker.close(),
    invoke: async (logicalId: string, event: unknown, meta: InvokeMeta): Promise<InvokeOutcome> => {
      const spec = specOf(logicalId);
      const hit = spec ? lambdaFaults.filter((fault) => targets(fault, spec) && dice.roll(fault)) : [];
      for (const fault of hit) {
        if (fault.action === 'invocation-add-delay') await abortableSleep(fault.delayMs, signal);
      }
      const error = hit.find((fault) => fault.action === 'invocation-error');
      if (error?.action === 'invocation-error' && error.preventExecution) return injectedError(error);
      const outcome = await invoker.invoke(logicalId, event, meta);
      return error ? injectedError(error) : outcome;
    },
  };
};
