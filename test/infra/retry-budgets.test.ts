import { describe, expect, it } from 'vitest';
import {
  DEFAULT_WEBHOOK_MAX_ATTEMPTS,
  MAX_WEBHOOK_ATTEMPTS,
  processingReceiveBudget,
  retryBudgets,
  SPARE_RECEIVES,
  WEBHOOK_SPARE_RECEIVES,
  WEBHOOK_THROTTLE_RECEIVES,
  webhookQueueRetentionSeconds,
} from '#lib/retry-budgets';
import { WEBHOOK_RETRY_SCHEDULE_SECONDS, webhookScheduleMaxSpanSeconds } from '#shared/retry';

const DAY = 24 * 3600;

describe('retry budgets', () => {
  it('gives processing queues every receive their retention leaves beyond the attempts, at most 1000', () => {
    // Act
    const { image, video } = retryBudgets({ maxAttempts: 3, webhookMaxAttempts: 8 });

    // Assess: images 3 + floor((7 d − 3 × (60 + 900) s) / 360 s) = 1680, capped; videos 3 + 333
    expect(image).toMatchObject({ attempts: 3, maxReceiveCount: 1000, visibilityTimeoutSeconds: 360 });
    expect(video).toMatchObject({ attempts: 3, maxReceiveCount: 336, visibilityTimeoutSeconds: 1800 });
    for (const budget of [image, video]) {
      expect(budget.retentionSeconds).toBe(7 * DAY);
      expect(budget.maxReceiveCount).toBeGreaterThanOrEqual(budget.attempts + SPARE_RECEIVES);
      expect(budget.budgetSpanSeconds).toBeLessThanOrEqual(budget.retentionSeconds);
      // Throttling alone must last days, not minutes, to use the receives up.
      expect(budget.throttleToleranceSeconds).toBeGreaterThan(4 * DAY);
    }
  });

  it('refuses a processing budget whose attempts do not fit the retention', () => {
    expect(() => processingReceiveBudget(3, 300, { retentionSeconds: 3600 })).toThrow(
      /cannot hold 3 attempts of a 300 s function .* lower maxAttempts/,
    );
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
    // An hour of throttled receives at the webhook queue's 180 s visibility timeout: 20.
    expect(WEBHOOK_THROTTLE_RECEIVES).toBe(20);
    expect(webhook.maxReceiveCount).toBe(8 + WEBHOOK_SPARE_RECEIVES + WEBHOOK_THROTTLE_RECEIVES);
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

  it('grows the retention with the budget, in whole days, up to a work queue’s 7 days', () => {
    for (let attempts = 1; attempts <= MAX_WEBHOOK_ATTEMPTS; attempts++) {
      const retention = webhookQueueRetentionSeconds(attempts);
      expect(retention % DAY).toBe(0);
      expect(retention).toBeGreaterThanOrEqual(webhookScheduleMaxSpanSeconds(attempts) + DAY);
      // A dead-lettered webhook keeps at least 7 of its dead-letter queue's 14 days (counted from its first send).
      expect(retention).toBeLessThanOrEqual(7 * DAY);
    }
    expect(webhookQueueRetentionSeconds(12)).toBe(5 * DAY);
  });

  it('refuses a webhook budget whose schedule a work queue cannot keep a message through', () => {
    expect(MAX_WEBHOOK_ATTEMPTS).toBe(17);
    expect(() => webhookQueueRetentionSeconds(MAX_WEBHOOK_ATTEMPTS + 1)).toThrow(
      /webhookMaxAttempts 18 .* longer than a work queue keeps a message \(7 days.*use at most 17/,
    );
  });
});
