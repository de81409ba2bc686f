import type { ScheduledEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { startScheduler } from '../../local/scheduler.ts';
import type { ScheduleSpec } from '../../local/types.ts';

const rule = (overrides: Partial<ScheduleSpec> = {}): ScheduleSpec => ({
  logicalId: 'ReconcileSchedule',
  ruleArn: 'arn:aws:events:us-east-1:000000000000:rule/MediaPipeline-Reconcile',
  expression: 'rate(5 minutes)',
  periodSeconds: 300,
  enabled: true,
  functionLogicalIds: ['Reconciler'],
  ...overrides,
});

/** Records each invocation, and resolves `invoked(n)` once n have happened. */
const recorder = () => {
  const calls: Array<{ target: string; event: ScheduledEvent }> = [];
  const waiting: Array<{ count: number; resolve: () => void }> = [];
  return {
    calls,
    invoke: async (target: string, event: ScheduledEvent) => {
      calls.push({ target, event });
      for (const waiter of waiting.filter((w) => calls.length >= w.count)) waiter.resolve();
    },
    invoked: (count: number) =>
      new Promise<void>((resolve) => {
        if (calls.length >= count) resolve();
        else waiting.push({ count, resolve });
      }),
  };
};

describe('the local scheduler', () => {
  it('invokes a rule’s targets every scaled period with EventBridge’s Scheduled Event', async () => {
    // Prepare: five minutes scaled to 30 ms
    const calls = recorder();
    const scheduler = startScheduler([rule({ functionLogicalIds: ['Reconciler', 'Auditor'] })], {
      scale: 0.0001,
      invoke: calls.invoke,
      log: () => {},
    });

    // Act
    await calls.invoked(4);
    await scheduler.stop();

    // Assess: both targets at each tick, each tick its own event
    expect(calls.calls.slice(0, 4).map((call) => call.target)).toEqual([
      'Reconciler',
      'Auditor',
      'Reconciler',
      'Auditor',
    ]);
    const [first, , second] = calls.calls;
    expect(first?.event).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      resources: [rule().ruleArn],
      detail: {},
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    expect(first?.event.id).not.toBe(second?.event.id);
  });

  it('never runs a disabled rule', async () => {
    const calls = recorder();
    const scheduler = startScheduler(
      [rule(), rule({ logicalId: 'Off', enabled: false, functionLogicalIds: ['Disabled'] })],
      { scale: 0.0001, invoke: calls.invoke, log: () => {} },
    );

    // By the time the enabled rule ran three times, the disabled one (same period) would have run too.
    await calls.invoked(3);
    await scheduler.stop();

    expect(calls.calls.map((call) => call.target)).not.toContain('Disabled');
  });

  it('reports a failed invocation and keeps to its schedule', async () => {
    const logged: string[] = [];
    let count = 0;
    let secondRun: () => void = () => {};
    const ranTwice = new Promise<void>((resolve) => {
      secondRun = resolve;
    });
    const scheduler = startScheduler([rule()], {
      scale: 0.0001,
      invoke: async () => {
        count++;
        if (count === 2) secondRun();
        throw new Error('worker crashed');
      },
      log: (message) => logged.push(message),
    });

    await ranTwice;
    await scheduler.stop();

    expect(logged[0]).toBe('schedule ReconcileSchedule could not invoke Reconciler: worker crashed');
  });

  it('refuses a scale that would never run or run without pause', () => {
    expect(() => startScheduler([rule()], { scale: 0, invoke: async () => {}, log: () => {} })).toThrow(
      /scale must be above 0/,
    );
  });
});
