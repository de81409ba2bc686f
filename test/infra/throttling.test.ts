import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settingsFromContext } from '#lib/app';
import {
  DEAD_LETTER_RETENTION_SECONDS,
  MIN_DEAD_LETTER_WAIT_SECONDS,
  PROCESSOR_TIMEOUT_SECONDS,
  SPARE_RECEIVES,
  SQS_MAX_RECEIVE_COUNT,
  WEBHOOK_FUNCTION_TIMEOUT_SECONDS,
  WEBHOOK_SPARE_RECEIVES,
  WEBHOOK_THROTTLE_WINDOW_SECONDS,
  webhookQueueRetentionSeconds,
} from '#lib/retry-budgets';
import { DEFAULT_BACKOFF, webhookScheduleMaxSpanSeconds } from '#shared/retry';
import { type SynthesizedPipeline, synthesizePipeline } from './synthesize.ts';
import { environmentOf, TemplateQueries } from './template-queries.ts';

/**
 * Throttling must not fail jobs: every queue mapping has a maximum concurrency, the API keeps reserved
 * concurrency, and each work queue's receive budget, visibility timeout and retention fit together
 * (lib/retry-budgets.ts). The numbers are read back from the template, and the arithmetic is redone here
 * from them, so a change to a timeout, a retention or a budget that breaks it fails here.
 */

const DAY = 24 * 3600;

let pipeline: SynthesizedPipeline;
let queries: TemplateQueries;

beforeAll(() => {
  pipeline = synthesizePipeline();
  queries = new TemplateQueries(pipeline.template);
}, 180_000);
afterAll(() => pipeline?.cleanUp());

type Resource = { Type: string; Properties: Record<string, unknown> };

const idOf = (construct: { node: { defaultChild?: unknown } }): string =>
  pipeline.stack.resolve((construct.node.defaultChild as { logicalId: string }).logicalId) as string;

/** The logical id in a `{ Fn::GetAtt: [id, …] }` or `{ Ref: id }`. */
const refId = (value: unknown): string | undefined => {
  const v = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  return v['Fn::GetAtt']?.[0] ?? v.Ref;
};

/** The mapping that feeds `service`'s function from the queue `queueId`. */
const mappingOf = (service: string, queueId: string): Resource => {
  const fn = queries.projectFunction(service).logicalId;
  const found = queries
    .ofType('AWS::Lambda::EventSourceMapping')
    .filter(
      ([, m]) => refId(m.Properties.FunctionName) === fn && refId(m.Properties.EventSourceArn) === queueId,
    );
  expect(found, `${service} ← ${queueId}`).toHaveLength(1);
  return (found[0] as [string, Resource])[1];
};

const queueProperties = (queueId: string) => {
  const properties = queries.get(queueId).Properties as {
    VisibilityTimeout: number;
    MessageRetentionPeriod?: number;
    RedrivePolicy?: { maxReceiveCount: number; deadLetterTargetArn: unknown };
  };
  return properties;
};

describe('maximum concurrency of the queue mappings', () => {
  it('caps every SQS mapping, within Lambda’s 2–1000, at the defaults', () => {
    // Prepare
    const stack = pipeline.stack;
    const cases = [
      { service: 'media-image', queue: stack.processing.imageQueue.queue, max: 20 },
      { service: 'media-video', queue: stack.processing.videoQueue.queue, max: 10 },
      { service: 'media-webhook', queue: stack.notifications.webhookQueue.queue, max: 10 },
      { service: 'media-dead-letter', queue: stack.processing.imageQueue.deadLetterQueue, max: 2 },
      { service: 'media-dead-letter', queue: stack.processing.videoQueue.deadLetterQueue, max: 2 },
      { service: 'media-dead-letter', queue: stack.ingest.deadLetter.queue, max: 2 },
    ];
    // Assess: these are all the mappings there are, and each has its cap
    expect(queries.ofType('AWS::Lambda::EventSourceMapping')).toHaveLength(cases.length);
    for (const { service, queue, max } of cases) {
      const mapping = mappingOf(service, idOf(queue));
      expect(mapping.Properties.ScalingConfig, service).toEqual({ MaximumConcurrency: max });
      expect(max).toBeGreaterThanOrEqual(2);
      expect(max).toBeLessThanOrEqual(1000);
    }
  });

  it('leaves most of a default account’s 1000 to the rest: at most 75 with the API’s reservation', () => {
    // Assess
    const caps = queries
      .ofType('AWS::Lambda::EventSourceMapping')
      .map(([, m]) => (m.Properties.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency);
    const reserved = queries.projectFunction('media-api').properties.ReservedConcurrentExecutions as number;
    expect(caps.reduce((sum, cap) => sum + cap, 0) + reserved).toBe(20 + 10 + 10 + 3 * 2 + 20);
  });

  it('takes the caps from context, and refuses what Lambda would', () => {
    // Prepare
    const settingsFor = (context: Record<string, unknown>) => settingsFromContext(new App({ context }).node);
    // Act and Assess
    expect(
      settingsFor({
        imageMaxConcurrency: '50',
        videoMaxConcurrency: 5,
        webhookMaxConcurrency: '2',
        deadLetterMaxConcurrency: '1000',
        apiReservedConcurrency: '0',
      }),
    ).toMatchObject({
      imageMaxConcurrency: 50,
      videoMaxConcurrency: 5,
      webhookMaxConcurrency: 2,
      deadLetterMaxConcurrency: 1000,
      apiReservedConcurrency: 0,
    });
    expect(() => settingsFor({ videoMaxConcurrency: '1' })).toThrow(
      /videoMaxConcurrency must be an integer from 2 to 1000/,
    );
    expect(() => settingsFor({ imageMaxConcurrency: 1001 })).toThrow(/from 2 to 1000/);
    expect(() => settingsFor({ apiReservedConcurrency: '-1' })).toThrow(
      /apiReservedConcurrency must be an integer from 0/,
    );
  });
});

describe('reserved concurrency', () => {
  it('reserves 20 for the API function and none for any other (reservations shrink everyone else’s pool)', () => {
    // Assess
    for (const [service, fn] of queries.projectFunctions()) {
      expect(fn.properties.ReservedConcurrentExecutions, service).toBe(
        service === 'media-api' ? 20 : undefined,
      );
    }
  });

  it('reserves nothing with apiReservedConcurrency 0 (0 is not passed on: it would stop the function)', () => {
    // Act
    const zero = synthesizePipeline({ apiReservedConcurrency: 0, videoMaxConcurrency: 3 });
    try {
      const zeroQueries = new TemplateQueries(zero.template);
      // Assess
      expect(
        zeroQueries.projectFunction('media-api').properties.ReservedConcurrentExecutions,
      ).toBeUndefined();
      const video = zeroQueries
        .ofType('AWS::Lambda::EventSourceMapping')
        .map(([, m]) => m.Properties.ScalingConfig as { MaximumConcurrency: number })
        .map((scaling) => scaling.MaximumConcurrency);
      expect(video).toContain(3);
    } finally {
      zero.cleanUp();
    }
  }, 180_000);
});

describe('receive budgets against attempts, visibility and retention', () => {
  const processors = [
    { service: 'media-image', kind: 'image' as const },
    { service: 'media-video', kind: 'video' as const },
  ];

  it('processing: the attempts, then one receive per visibility timeout for the rest of the retention, at most 1000', () => {
    for (const { service, kind } of processors) {
      // Prepare: everything from the template
      const queue = pipeline.stack.processing[`${kind}Queue`];
      const {
        VisibilityTimeout: visibility,
        MessageRetentionPeriod: retention,
        RedrivePolicy,
      } = queueProperties(idOf(queue.queue));
      const fn = queries.projectFunction(service).properties;
      const timeout = fn.Timeout as number;
      const attempts = Number(environmentOf(fn).MAX_ATTEMPTS);
      const backoff = Number(environmentOf(fn).RETRY_MAX_SECONDS ?? DEFAULT_BACKOFF.maxSeconds);
      const maxReceiveCount = RedrivePolicy?.maxReceiveCount ?? 0;
      // Act: the arithmetic of lib/retry-budgets.ts
      const attemptSpan = Math.max(visibility, timeout + backoff);
      const expected = Math.min(
        SQS_MAX_RECEIVE_COUNT,
        attempts + Math.floor(((retention ?? 0) - attempts * attemptSpan) / visibility),
      );
      const budgetSpan = attempts * attemptSpan + (maxReceiveCount - attempts) * visibility;
      // Assess
      expect(timeout, service).toBe(PROCESSOR_TIMEOUT_SECONDS[kind]);
      expect(visibility, service).toBe(6 * timeout);
      expect(attempts, service).toBe(3);
      expect(retention, service).toBe(7 * DAY);
      expect(maxReceiveCount, service).toBe(expected);
      // The job's attempts still decide: the function fails the job after them, with room to spare.
      expect(maxReceiveCount, service).toBeGreaterThanOrEqual(attempts + SPARE_RECEIVES);
      // Throttling alone needs days, not minutes, to use the rest up…
      expect((maxReceiveCount - attempts) * visibility, service).toBeGreaterThan(4 * DAY);
      // …and the whole budget fits the retention: a message SQS dead-letters gets there before it expires.
      expect(budgetSpan, service).toBeLessThanOrEqual(retention ?? 0);
      expect(queue.maxReceiveCount).toBe(maxReceiveCount);
    }
    // With the defaults: images 1000 (capped; 997 × 6 min ≈ 4.2 days), videos 3 + 333 (≈ 6.9 days)
    expect(
      queueProperties(idOf(pipeline.stack.processing.imageQueue.queue)).RedrivePolicy?.maxReceiveCount,
    ).toBe(1000);
    expect(
      queueProperties(idOf(pipeline.stack.processing.videoQueue.queue)).RedrivePolicy?.maxReceiveCount,
    ).toBe(336);
  });

  it('webhooks: the attempts, two spare receives and an hour of throttled ones, within the retention', () => {
    // Prepare
    const queue = pipeline.stack.notifications.webhookQueue;
    const {
      VisibilityTimeout: visibility,
      MessageRetentionPeriod: retention,
      RedrivePolicy,
    } = queueProperties(idOf(queue.queue));
    const fn = queries.projectFunction('media-webhook').properties;
    const attempts = Number(environmentOf(fn).WEBHOOK_MAX_ATTEMPTS);
    const maxReceiveCount = RedrivePolicy?.maxReceiveCount ?? 0;
    // Assess
    expect(fn.Timeout).toBe(WEBHOOK_FUNCTION_TIMEOUT_SECONDS);
    expect(visibility).toBe(6 * WEBHOOK_FUNCTION_TIMEOUT_SECONDS);
    expect(maxReceiveCount).toBe(
      attempts + WEBHOOK_SPARE_RECEIVES + Math.ceil(WEBHOOK_THROTTLE_WINDOW_SECONDS / visibility),
    );
    expect(maxReceiveCount).toBe(8 + 2 + 20);
    expect(retention).toBe(webhookQueueRetentionSeconds(attempts));
    // The schedule, every attempt at its timeout and every other receive at the visibility timeout fit.
    const budgetSpan =
      webhookScheduleMaxSpanSeconds(attempts) +
      attempts * WEBHOOK_FUNCTION_TIMEOUT_SECONDS +
      (maxReceiveCount - attempts) * visibility;
    expect(budgetSpan).toBeLessThanOrEqual(retention ?? 0);
  });
});

describe('retention', () => {
  it('keeps work queues at most 7 days and dead-letter queues 14, so a dead letter waits at least 7', () => {
    // Prepare
    const stack = pipeline.stack;
    const work = [stack.processing.imageQueue, stack.processing.videoQueue, stack.notifications.webhookQueue];
    const deadLetters = [...work.map((queue) => queue.deadLetterQueue), stack.ingest.deadLetter.queue];
    // Assess: every queue of the stack is one of these
    expect(queries.ofType('AWS::SQS::Queue')).toHaveLength(work.length + deadLetters.length);
    for (const queue of work) {
      const retention = queueProperties(idOf(queue.queue)).MessageRetentionPeriod ?? 4 * DAY;
      expect(retention, queue.node.path).toBeLessThanOrEqual(
        DEAD_LETTER_RETENTION_SECONDS - MIN_DEAD_LETTER_WAIT_SECONDS,
      );
    }
    for (const queue of deadLetters) {
      expect(queueProperties(idOf(queue)).MessageRetentionPeriod, queue.node.path).toBe(14 * DAY);
    }
    // The choices: processing 7 days (SQS's default is 4), webhooks 4 (their schedule takes about 33 h)
    expect(queueProperties(idOf(stack.processing.imageQueue.queue)).MessageRetentionPeriod).toBe(7 * DAY);
    expect(queueProperties(idOf(stack.processing.videoQueue.queue)).MessageRetentionPeriod).toBe(7 * DAY);
    expect(queueProperties(idOf(stack.notifications.webhookQueue.queue)).MessageRetentionPeriod).toBe(
      4 * DAY,
    );
  });
});
