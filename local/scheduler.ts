import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import { abortableSleep } from './abortable-sleep.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, type ScheduleSpec, type Stoppable } from './types.ts';

/**
 * EventBridge's scheduled rules, run locally from the template (local/resources/events.ts): every
 * `periodSeconds` × `scale`, each enabled rule invokes its target functions asynchronously with the
 * Scheduled Event EventBridge sends. As on AWS, the first run comes one period after the rule exists,
 * and a run does not wait for the previous one to finish.
 */

export interface SchedulerOptions {
  /**
   * Multiplies every period: 1 runs the template's schedule as it is; tests and the fault suite run
   * a five-minute rule every few seconds (MEDIA_PIPELINE_SCHEDULE_SCALE).
   */
  scale: number;
  /** Hands the event to the function as an asynchronous invocation would. */
  invoke(functionLogicalId: string, event: ScheduledEvent): Promise<void>;
  log(message: string): void;
}

/** The event EventBridge sends a rule's targets at each scheduled time. */
export const scheduledEvent = (ruleArn: string, time: Date): ScheduledEvent => ({
  version: '0',
  id: randomUUID(),
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: LOCAL_ACCOUNT,
  time: `${time.toISOString().slice(0, 19)}Z`,
  region: LOCAL_REGION,
  resources: [ruleArn],
  detail: {},
});

export const startScheduler = (schedules: readonly ScheduleSpec[], options: SchedulerOptions): Stoppable => {
  if (!(options.scale > 0)) throw new Error(`the schedule scale must be above 0, not ${options.scale}`);
  const stopping = new AbortController();
  const runs = schedules
    .filter((schedule) => schedule.enabled)
    .map(async (schedule) => {
      const periodMs = schedule.periodSeconds * 1000 * options.scale;
      while (!stopping.signal.aborted) {
        await abortableSleep(periodMs, stopping.signal);
        if (stopping.signal.aborted) return;
        const event = scheduledEvent(schedule.ruleArn, new Date());
        for (const target of schedule.functionLogicalIds) {
          options.invoke(target, event).catch((error: unknown) => {
            options.log(
              `schedule ${schedule.logicalId} could not invoke ${target}: ${error instanceof Error ? error.message : String(error)}`,
            );
          });
        }
      }
    });
  return {
    stop: async () => {
      stopping.abort();
      await Promise.all(runs);
    },
  };
};
