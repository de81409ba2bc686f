import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runScenario, type Scenario } from '../support/chaos.ts';

/**
 * A CI-sized slice of `npm run chaos` (test/chaos/run.ts): a few image jobs with a callback URL under
 * a fault that the pipeline must heal from on its own. Every job ends done, nothing is stuck, and every
 * job's webhook reaches the receiver under one `webhook-id`, however often it was sent.
 */
const JOBS = 4;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'media-pipeline-chaos-'));
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

const scenarios: Array<Scenario & { why: string }> = [
  {
    name: 'dynamodb-killed',
    why: 'DynamoDB Local SIGKILLed mid-burst (the supervisor starts it again)',
    disruption: { kind: 'dynamodb-killed' },
  },
  {
    name: 'receiver-down',
    why: 'the receiver answering 503 for 5 s',
    disruption: { kind: 'receiver-down', forMs: 5_000 },
  },
  {
    name: 'crash-after image dynamodb UpdateItem',
    why: 'the image function killed twice right after its job write (the write happened, unanswered)',
    disruption: {
      kind: 'crash',
      error: 'crash-after',
      function: 'ImageFunction',
      service: 'dynamodb',
      operation: 'UpdateItem',
      count: 2,
    },
  },
];

describe('the pipeline under faults, with webhooks', () => {
  it.each(scenarios)(
    'heals from $why: every job done, every webhook delivered under one id',
    async (scenario) => {
      // Act
      const figures = await runScenario(scenario, { dataDir, jobs: JOBS, deadlineMs: 90_000 });

      // Assess
      expect(figures).toMatchObject({
        submitted: JOBS,
        done: JOBS,
        failed: 0,
        stuck: 0,
        webhooksDelivered: JOBS,
        oneWebhookId: JOBS,
      });
      if (scenario.disruption.kind === 'receiver-down')
        expect(figures.webhookAttemptsRefused).toBeGreaterThan(0);
      if (scenario.disruption.kind === 'crash') expect(figures.crashes).toBe(scenario.disruption.count);
    },
  );
});
