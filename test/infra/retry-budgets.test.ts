import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WEBHOOK_MAX_ATTEMPTS,
  MAX_WEBHOOK_ATTEMPTS,
  retryBudgets,
  WEBHOOK_SPARE_RECEIVES,
  webhookQueueRetentionSeconds,
} from '#lib/retry-budgets';
import { WEBHOOK_RETRY_SCHEDULE_SECONDS, webhookScheduleMaxSpanSeconds } from '#shared/retry';

const DAY = 24 * 3600;

describe('retry budgets', () => {
  it('gives processing queues two receives beyond the attempts', () => {
    expect(retryBudgets({ maxAttempts: 3, webhookMaxAttempts: 8 }).processing).toEqual({
      attempts: 3,
      maxReceiveCount: 5,
    });
  });

  it('takes the default webhook budget from the schedule: one attempt per step', () => {
    expect(DEFAULT_WEBHOOK_MAX_ATTEMPTS).toBe(WEBHOOK_RETRY_SCHEDULE_SECONDS.length);
    expect(DEFAULT_WEBHOOK_MAX_ATTEMPTS).toBe(8);
  });

  it('lets the webhook queue receive a message a few times more than the attempts the job counts', () => {
    // Act
    const { webhook } = retryBudgets({ maxAttempts: 3, webhookMaxAttempts: 8 });

    // Assess
    expect(WEBHOOK_SPARE_RECEIVES).toBeGreaterThanOrEqual(1);
    expect(webhook.attempts).toBe(8);
    expect(webhook.maxReceiveCount).toBe(8 + WEBHOOK_SPARE_RECEIVES);
  });

  it('keeps a webhook message longer than its whole schedule can take', () => {
    // Prepare: the default schedule waits about 27.5 hours, 33.1 at the top of its jitter
    const span = webhookScheduleMaxSpanSeconds(8);
    expect(span / 3600).toBeCloseTo(33.1, 1);

    // Act
    const { webhook } = retryBudgets({ maxAttempts: 3, webhookMaxAttempts: 8 });

    // Assess: SQS's default of 4 days, more than the schedule plus a day
    expect(webhook.retentionSeconds).toBe(4 * DAY);
    expect(webhook.retentionSeconds).toBeGreaterThanOrEqual(span + DAY);
  });

  it('grows the retention with the budget, in whole days, up to SQS’s 14 days', () => {
    for (let attempts = 1; attempts <= MAX_WEBHOOK_ATTEMPTS; attempts++) {
      const retention = webhookQueueRetentionSeconds(attempts);
      expect(retention % DAY).toBe(0);
      expect(retention).toBeGreaterThanOrEqual(webhookScheduleMaxSpanSeconds(attempts) + DAY);
      expect(retention).toBeLessThanOrEqual(14 * DAY);
    }
    expect(webhookQueueRetentionSeconds(20)).toBe(9 * DAY);
  });

  it('refuses a webhook budget whose schedule SQS cannot keep a message through', () => {
    expect(MAX_WEBHOOK_ATTEMPTS).toBe(31);
    expect(() => webhookQueueRetentionSeconds(MAX_WEBHOOK_ATTEMPTS + 1)).toThrow(
      /webhookMaxAttempts 32 .* longer than SQS keeps a message \(14 days\): use at most 31/,
    );
  });
});
