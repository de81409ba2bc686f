import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { delayRedelivery, fullJitterDelaySeconds } from '#shared/retry';
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
