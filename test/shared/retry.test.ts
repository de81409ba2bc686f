import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  delayRedelivery,
  fullJitterDelaySeconds,
  MAX_VISIBILITY_SECONDS,
  WEBHOOK_RETRY_SCHEDULE_SECONDS,
  webhookRetryDelaySeconds,
  webhookScheduleMaxSpanSeconds,
} from '#shared/retry';
import { createTestEnvironment, type TestEnvironment } from '#test/emulators';

/**
 * The backoff every retrying consumer uses. The handler tests run with a zero base so that a retried
 * message comes back at once; the waiting itself is pinned here.
 */
let env: TestEnvironment;

beforeAll(async () => {
  env = await createTestEnvironment();
});
afterAll(() => env.close());

const policy = { baseSeconds: 10, maxSeconds: 900 };

describe('fullJitterDelaySeconds', () => {
  it('draws below a ceiling that doubles with each failed attempt', () => {
    const highest = () => 0.999_999;

    expect([1, 2, 3, 4].map((attempt) => fullJitterDelaySeconds(attempt, policy, highest))).toEqual([
      10, 20, 40, 80,
    ]);
  });

  it('never goes past the policy’s maximum, nor SQS’s 12 hours', () => {
    const highest = () => 0.999_999;

    expect(fullJitterDelaySeconds(20, policy, highest)).toBe(900);
    expect(fullJitterDelaySeconds(40, { baseSeconds: 10, maxSeconds: 100_000 }, highest)).toBe(43_200);
  });

  it('spreads retries of jobs that failed together from zero up to the ceiling', () => {
    expect(fullJitterDelaySeconds(3, policy, () => 0)).toBe(0);
    expect(fullJitterDelaySeconds(3, policy, () => 0.5)).toBe(20);
  });
});

describe('the webhook retry schedule', () => {
  const lowest = () => 0;
  const middle = () => 0.5;
  const highest = () => 1;

  it('is Svix’s: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, about 27.5 hours in all', () => {
    expect(WEBHOOK_RETRY_SCHEDULE_SECONDS).toEqual([0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
    const total = WEBHOOK_RETRY_SCHEDULE_SECONDS.reduce((sum, wait) => sum + wait, 0);
    expect(total / 3600).toBeCloseTo(27.6, 1);
  });

  it('waits the step after the attempt that failed, at the middle of the jitter', () => {
    expect(
      [1, 2, 3, 4, 5, 6, 7].map((attempt) => webhookRetryDelaySeconds(attempt, { random: middle })),
    ).toEqual([5, 300, 1800, 7200, 18_000, 36_000, 36_000]);
  });

  it('jitters each wait by at most 20% either way, never below a second', () => {
    expect(webhookRetryDelaySeconds(1, { random: lowest })).toBe(4);
    expect(webhookRetryDelaySeconds(1, { random: highest })).toBe(6);
    expect(webhookRetryDelaySeconds(3, { random: lowest })).toBe(1440);
    expect(webhookRetryDelaySeconds(3, { random: highest })).toBe(2160);
    for (let draw = 0; draw < 200; draw++) {
      const delay = webhookRetryDelaySeconds(1);
      expect(delay).toBeGreaterThanOrEqual(4);
      expect(delay).toBeLessThanOrEqual(6);
    }
  });

  it('fits every wait, jitter included, in one visibility change (12 hours)', () => {
    expect(MAX_VISIBILITY_SECONDS).toBe(12 * 3600);
    for (let attempt = 1; attempt <= 40; attempt++) {
      expect(webhookRetryDelaySeconds(attempt, { random: highest })).toBeLessThanOrEqual(
        MAX_VISIBILITY_SECONDS,
      );
    }
    expect(webhookRetryDelaySeconds(7, { random: highest })).toBe(MAX_VISIBILITY_SECONDS);
  });

  it('repeats the last wait for a budget longer than the schedule', () => {
    expect(webhookRetryDelaySeconds(8, { random: middle })).toBe(36_000);
    expect(webhookRetryDelaySeconds(30, { random: middle })).toBe(36_000);
  });

  it('lowers every wait to a configured ceiling (the tests use 0: a failed delivery comes back at once)', () => {
    expect(webhookRetryDelaySeconds(5, { random: middle, maxSeconds: 60 })).toBe(60);
    expect(webhookRetryDelaySeconds(1, { random: middle, maxSeconds: 0 })).toBe(0);
  });

  it('spans at most about 33 hours from the first attempt to the eighth', () => {
    expect(webhookScheduleMaxSpanSeconds(1)).toBe(0);
    expect(webhookScheduleMaxSpanSeconds(2)).toBe(6);
    expect(webhookScheduleMaxSpanSeconds(8)).toBe(6 + 360 + 2160 + 8640 + 21_600 + 43_200 + 43_200);
  });
});

describe('delayRedelivery', () => {
  it('keeps a received message hidden for the delay instead of its visibility timeout', async () => {
    // Prepare: a message received once, as a consumer holds it when its attempt fails
    await env.clients.sqs.send(
      new SendMessageCommand({ QueueUrl: env.queues.image.url, MessageBody: 'retry me' }),
    );
    const [message] = await env.receive(env.queues.image.url, 1, 1);

    // Act
    await delayRedelivery(env.clients.sqs, env.queues.image.url, message?.ReceiptHandle ?? '', 600);

    // Assess: still in the queue, not deliverable now
    expect(await env.receive(env.queues.image.url, 10, 0)).toEqual([]);
    const { Attributes } = await env.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: env.queues.image.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '1',
    });

    // Act: a zero delay hands it back at once
    await delayRedelivery(env.clients.sqs, env.queues.image.url, message?.ReceiptHandle ?? '', 0);

    // Assess
    expect((await env.receive(env.queues.image.url, 10, 1)).map((m) => m.Body)).toEqual(['retry me']);
  });
});
