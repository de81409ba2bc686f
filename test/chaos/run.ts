import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Disruption,
  figuresTable,
  kept,
  runScenario,
  type Scenario,
  type ScenarioFigures,
} from '../support/chaos.ts';

/**
 * `npm run chaos`: every fault of the fault suite, at a larger scale, with the figures printed as a
 * table. `--quick` runs one side-effect operation per function and fewer jobs; `--jobs N` sets N;
 * `--only <text>` keeps the scenarios whose name contains it. Exits 1 when a job is stuck or a webhook
 * was neither delivered nor visibly dead-lettered.
 */

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    jobs: { type: 'string' },
    only: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const jobs = Number(values.jobs ?? (quick ? 6 : 20));
if (!Number.isInteger(jobs) || jobs < 1) {
  console.error('--jobs takes a positive integer');
  process.exit(2);
}

type Crash = Extract<Disruption, { kind: 'crash' }>;
/** Each function's side effects at the SDK boundary; the first of each is the quick run's. */
const SIDE_EFFECTS: ReadonlyArray<Omit<Crash, 'kind' | 'error' | 'count'> & { label: string; quick?: true }> =
  [
    {
      label: 'ingest',
      function: 'IngestFunction',
      service: 'dynamodb',
      operation: 'UpdateItem',
      quick: true,
    },
    { label: 'ingest', function: 'IngestFunction', service: 'dynamodb', operation: 'PutItem' },
    { label: 'ingest', function: 'IngestFunction', service: 'sqs', operation: 'SendMessage' },
    { label: 'image', function: 'ImageFunction', service: 'dynamodb', operation: 'UpdateItem', quick: true },
    { label: 'image', function: 'ImageFunction', service: 's3', operation: 'GetObject' },
    { label: 'image', function: 'ImageFunction', service: 's3', operation: 'PutObject' },
    { label: 'image', function: 'ImageFunction', service: 'sqs', operation: 'SendMessageBatch' },
    {
      label: 'webhook',
      function: 'WebhookFunction',
      service: 'dynamodb',
      operation: 'UpdateItem',
      quick: true,
    },
  ];

const runtimeFaults: Scenario[] = [
  { name: 'sigkill', disruption: { kind: 'sigkill' } },
  { name: 'sigint', disruption: { kind: 'sigint' } },
  { name: 'dynamodb-killed', disruption: { kind: 'dynamodb-killed' } },
  { name: 'receiver-down', disruption: { kind: 'receiver-down', forMs: 8_000 } },
];
const scenarios: Scenario[] = [
  ...runtimeFaults,
  ...SIDE_EFFECTS.filter((effect) => !quick || effect.quick).flatMap((effect) =>
    (['crash-before', 'crash-after'] as const).map(
      (error, i): Scenario => ({
        name: `${error} ${effect.label} ${effect.service} ${effect.operation}`,
        disruption: {
          kind: 'crash',
          error,
          function: effect.function,
          service: effect.service,
          operation: effect.operation,
          // Once, and twice in a row, so that the pipeline heals from a crash of its own recovery.
          count: i + 1,
        },
      }),
    ),
  ),
].filter((scenario) => values.only === undefined || scenario.name.includes(values.only));

const main = async (): Promise<void> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'media-pipeline-chaos-'));
  const rows: ScenarioFigures[] = [];
  try {
    for (const scenario of scenarios) {
      const figures = await runScenario(scenario, {
        dataDir,
        jobs,
        log: (message) => console.error(message),
      });
      rows.push(figures);
      console.error(`${scenario.name}: ${kept(figures) ? 'kept' : 'BROKEN'} (${figures.seconds} s)`);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  console.log(`\n${jobs} image job(s) per scenario\n\n${figuresTable(rows)}\n`);
  const broken = rows.filter((row) => !kept(row));
  if (broken.length > 0) {
    console.log(`broken: ${broken.map((row) => row.scenario).join(', ')}`);
    process.exit(1);
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
