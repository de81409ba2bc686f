import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogAttributes, LogItemExtraInput, LogItemMessage } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { JobMetric } from './metric-names.ts';

type LogLevelMethod = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical';

/** The logger of the record being processed here, set by `withRecordContext`. */
const recordLogger = new AsyncLocalStorage<Logger>();

/**
 * Powertools' Logger, writing each line through the current record's own child logger when there is one.
 * `appendKeys` is shared by everything one invocation runs, and the batch processor runs a batch's
 * records concurrently: keys appended per record would end up on the other records' lines. Domain modules
 * keep importing `logger`; the record's keys come from the async context their calls run in.
 */

class RecordAwareLogger extends Logger {
  /** Writes through the current record's logger, or this one outside any record. */
  private through(level: LogLevelMethod, input: LogItemMessage, extraInput: LogItemExtraInput): void {
    const own = recordLogger.getStore();
    if (own) own[level](input, ...extraInput);
    else super[level](input, ...extraInput);
  }
  override trace(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    this.through('trace', input, extraInput);
  }
  override debug(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    this.through('debug', input, extraInput);
  }
  override info(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    this.through('info', input, extraInput);
  }
  override warn(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    this.through('warn', input, extraInput);
  }
  override error(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    this.through('error', input, extraInput);
  }
  override critical(input: LogItemMessage, ...extraInput: LogItemExtraInput): void {
    this.through('critical', input, extraInput);
  }
}

/**
 * Structured JSON logs and CloudWatch EMF metrics (Powertools). The service name comes from
 * POWERTOOLS_SERVICE_NAME, set per function by the stack. Log lines about a job carry `job_id`: a
 * record's keys are given with `withRecordContext`, never with `logger.appendKeys` (shared by the batch).
 */
export const logger: Logger = new RecordAwareLogger();

/**
 * Runs `work` with `keys` on every line `logger` writes from it, its awaits included, and on no other
 * record's lines however the records interleave. The keys go on a child of the current logger (the
 * invocation's, with its Lambda context, or an enclosing record's), so contexts nest.
 */
export const withRecordContext = <T>(keys: LogAttributes, work: () => Promise<T>): Promise<T> => {
  const child = (recordLogger.getStore() ?? logger).createChild();
  child.appendKeys(keys);
  return recordLogger.run(child, work);
};
export const metrics = new Metrics({
  // An invocation that records no metric is normal (a redelivered message, a 404): say so at debug level.
  logger: {
    debug: (...args: unknown[]) => logger.debug(String(args[0] ?? '')),
    info: (...args: unknown[]) => logger.info(String(args[0] ?? '')),
    warn: (...args: unknown[]) => logger.debug(String(args[0] ?? '')),
    error: (...args: unknown[]) => logger.error(String(args[0] ?? '')),
  },
});

export { JobMetric };

export const countJob = (metric: (typeof JobMetric)[keyof typeof JobMetric]): void => {
  metrics.addMetric(metric, MetricUnit.Count, 1);
};

export const recordProcessingTime = (milliseconds: number): void => {
  metrics.addMetric(JobMetric.ProcessingTime, MetricUnit.Milliseconds, milliseconds);
};
