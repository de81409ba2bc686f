import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../../local/emulators.ts';
import { makeJpeg } from './media.ts';
import { FAST_RECOVERY_ENV, type RuntimeProcess, startRuntimeProcess } from './runtime-process.ts';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.ts';

/**
 * Chaos scenarios for `npm run chaos` and the fault suite: `npm start` as a child process, a burst of
 * image jobs with a callback URL to a receiver on loopback, one fault during the burst (the runtime
 * SIGKILLed or Ctrl-C'd, DynamoDB Local killed, the receiver down, a function crashed at the SDK
 * boundary), then the figures: what became of every job and of its webhook.
 */

export type Disruption =
  | { kind: 'sigkill' }
  | { kind: 'sigint' }
  | { kind: 'dynamodb-killed' }
  | { kind: 'receiver-down'; forMs: number }
  | {
      kind: 'crash';
      error: 'crash-before' | 'crash-after';
      function: string;
      service: 's3' | 'sqs' | 'dynamodb';
      operation: string;
      count: number;
    };

export interface Scenario {
  name: string;
  disruption: Disruption;
}

export interface ScenarioFigures {
  scenario: string;
  submitted: number;
  done: number;
  failed: number;
  /** Neither done nor failed at the deadline: must be 0. */
  stuck: number;
  /** Done jobs whose `attempts` went past 1 (a processing run began again). */
  retried: number;
  /** Jobs the image function was invoked for more than once (the runtime's invocation lines). */
  processedMoreThanOnce: number;
  /** Crashes the fault proxies made (the runtime's `fault crash-…` lines). */
  crashes: number;
  /** Jobs with at least one webhook delivery answered 2xx. */
  webhooksDelivered: number;
  /** Jobs whose webhook was never delivered but whose `webhook.status` is `failed` (dead-lettered). */
  webhooksDeadLettered: number;
  /** Jobs every delivery of which carried one and the same `webhook-id`. */
  oneWebhookId: number;
  /** Deliveries the receiver refused (503 while down): proof that the fault struck. */
  webhookAttemptsRefused: number;
  /** Jobs that got the same webhook more than once (the receiver deduplicates by `webhook-id`). */
  webhooksRepeated: number;
  seconds: number;
}

/** Whether the scenario kept its promises: nothing stuck, every webhook delivered or visibly dead-lettered. */
export const kept = (figures: ScenarioFigures): boolean =>
  figures.stuck === 0 &&
  figures.webhooksDelivered + figures.webhooksDeadLettered === figures.submitted &&
  figures.oneWebhookId === figures.submitted;

/** The synth cache survives; every job, object, message and secret of the last scenario goes. */
const clearData = async (dataDir: string): Promise<void> => {
  await mkdir(dataDir, { recursive: true });
  for (const entry of await readdir(dataDir)) {
    if (entry !== 'cdk.out') await rm(join(dataDir, entry), { recursive: true, force: true });
  }
};

interface Ticket {
  job_id: string;
  upload: { url: string; headers: Record<string, string> };
}

interface JobView {
  status: string;
  attempts: number;
  webhook: { status: string; attempts: number } | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A client that retries what a 5xx or a dropped connection refused, as a real one would. */
const withRetries = async (call: () => Promise<Response>, tries = 8): Promise<Response> => {
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await call();
      if (response.status < 500 || attempt >= tries) return response;
      await response.body?.cancel();
    } catch (error) {
      if (attempt >= tries) throw error;
    }
    await sleep(250 * attempt);
  }
};

/** Submits one image job (create, then PUT the bytes); undefined when the API never accepted it. */
const submit = async (
  runtime: RuntimeProcess,
  callbackUrl: string,
  seed: number,
): Promise<string | undefined> => {
  const bytes = await makeJpeg(320 + (seed % 50), 240, seed);
  const created = await withRetries(() =>
    fetch(`${runtime.apiUrl}/api/media/`, {
      method: 'POST',
      headers: { ...runtime.authHeaders(), 'content-type': 'application/json' },
      body: JSON.stringify({
        file_name: `chaos-${seed}.jpg`,
        content_type: 'image/jpeg',
        size: bytes.length,
        preset: 'default',
        callback_url: callbackUrl,
      }),
    }),
  );
  if (created.status !== 201) return undefined;
  const ticket = (await created.json()) as Ticket;
  const headers = Object.fromEntries(
    Object.entries(ticket.upload.headers).filter(([name]) => name.toLowerCase() !== 'content-length'),
  );
  const put = await withRetries(() =>
    fetch(ticket.upload.url, { method: 'PUT', headers, body: new Uint8Array(bytes) }),
  );
  // 412: an earlier try of this PUT stored the bytes and its answer was lost.
  return put.status === 200 || put.status === 412 ? ticket.job_id : undefined;
};

const viewOf = async (runtime: RuntimeProcess, id: string): Promise<JobView | undefined> => {
  try {
    const response = await fetch(`${runtime.apiUrl}/api/media/${id}/`, { headers: runtime.authHeaders() });
    return response.ok ? ((await response.json()) as JobView) : undefined;
  } catch {
    return undefined;
  }
};

const FINAL_WEBHOOK = new Set(['delivered', 'failed', 'refused']);
const settled = (view: JobView | undefined): boolean =>
  view !== undefined &&
  (view.status === 'done' || view.status === 'failed') &&
  view.webhook !== null &&
  FINAL_WEBHOOK.has(view.webhook.status);

/** Polls until every job and its webhook settled, or the deadline; returns the last views. */
const waitForOutcomes = async (
  runtime: RuntimeProcess,
  ids: readonly string[],
  deadlineMs: number,
): Promise<Map<string, JobView | undefined>> => {
  const until = Date.now() + deadlineMs;
  const views = new Map<string, JobView | undefined>();
  for (;;) {
    const pending = ids.filter((id) => !settled(views.get(id)));
    await Promise.all(pending.map(async (id) => views.set(id, await viewOf(runtime, id))));
    if (ids.every((id) => settled(views.get(id))) || Date.now() > until) return views;
    await sleep(500);
  }
};

const INVOCATION_JOBS = /\bjob=([0-9a-f,-]+)/;
const INVOCATION_TIME = /^\d\d:\d\d:\d\d\.\d{3}$/;

/** Image invocations per job, from the runtime's invocation lines (`12:01:03.020 …Image… sqs … job=<id>`). */
const imageRunsPerJob = (output: string): Map<string, number> => {
  const runs = new Map<string, number>();
  for (const line of output.split('\n')) {
    const [time = '', functionName = '', trigger = ''] = line.trim().split(/\s+/);
    if (!INVOCATION_TIME.test(time) || !/image/i.test(functionName) || trigger !== 'sqs') continue;
    const jobs = INVOCATION_JOBS.exec(line)?.[1]?.split(',') ?? [];
    for (const job of jobs) runs.set(job, (runs.get(job) ?? 0) + 1);
  }
  return runs;
};

export interface ChaosOptions {
  /** One directory for every scenario: cleared between them but for the synth cache. */
  dataDir: string;
  jobs: number;
  /** How long the jobs and their webhooks may take after the fault. @default 120 s */
  deadlineMs?: number;
  log?: (message: string) => void;
}

/** Runs one scenario on a cleared data directory and returns its figures. */
export const runScenario = async (scenario: Scenario, options: ChaosOptions): Promise<ScenarioFigures> => {
  const started = Date.now();
  const log = options.log ?? (() => {});
  await clearData(options.dataDir);
  const [port, s3Port] = [await freePort(), await freePort()];
  const receiver: WebhookReceiver = await startWebhookReceiver();
  const answered = new Map<object, number>();
  let receiverDown = false;
  receiver.reply = (request, response) => {
    const status = receiverDown ? 503 : 200;
    answered.set(request, status);
    response.writeHead(status, { 'content-type': 'text/plain' });
    response.end(status === 200 ? 'ok' : 'down');
  };
  const { disruption } = scenario;
  const faults =
    disruption.kind === 'crash'
      ? [
          {
            action: 'sdk-error',
            function: disruption.function,
            service: disruption.service,
            operation: disruption.operation,
            error: disruption.error,
            count: disruption.count,
          },
        ]
      : [];
  const processes: RuntimeProcess[] = [];
  const start = async (withFaults: boolean): Promise<RuntimeProcess> => {
    const runtime = await startRuntimeProcess({
      dataDir: options.dataDir,
      port,
      s3Port,
      env: {
        ...FAST_RECOVERY_ENV,
        MEDIA_PIPELINE_FAULTS: withFaults && faults.length > 0 ? JSON.stringify(faults) : '',
      },
    });
    processes.push(runtime);
    return runtime;
  };

  try {
    let runtime = await start(true);
    log(`${scenario.name}: runtime up, submitting ${options.jobs} job(s)`);
    const callbackUrl = receiver.url(`/hooks/${scenario.name}`);
    const submissions = Array.from({ length: options.jobs }, (_, i) =>
      submit(runtime, callbackUrl, 1_000 + i),
    );
    let submitted: Array<string | undefined>;
    switch (disruption.kind) {
      case 'sigkill':
      case 'sigint': {
        submitted = await Promise.all(submissions);
        runtime.signalGroup(disruption.kind === 'sigkill' ? 'SIGKILL' : 'SIGINT');
        await runtime.exited;
        runtime = await start(false);
        break;
      }
      case 'dynamodb-killed': {
        await sleep(300);
        const pid = Number((await readFile(join(options.dataDir, 'dynamodb-local.pid'), 'utf8')).trim());
        process.kill(pid, 'SIGKILL');
        submitted = await Promise.all(submissions);
        break;
      }
      case 'receiver-down': {
        receiverDown = true;
        setTimeout(() => {
          receiverDown = false;
        }, disruption.forMs);
        submitted = await Promise.all(submissions);
        break;
      }
      case 'crash':
        submitted = await Promise.all(submissions);
        break;
    }
    const ids = submitted.filter((id): id is string => id !== undefined);
    log(`${scenario.name}: ${ids.length} submitted, waiting for outcomes`);
    const views = await waitForOutcomes(runtime, ids, options.deadlineMs ?? 120_000);
    runtime.signalGroup('SIGINT');
    await runtime.exited;

    const output = processes.map((child) => child.output()).join('\n');
    const runs = imageRunsPerJob(output);
    const byJob = new Map<string, Array<{ webhookId: string; status: number }>>();
    for (const request of receiver.requests) {
      const jobId = (JSON.parse(request.body) as { job_id?: string }).job_id ?? '';
      const deliveries = byJob.get(jobId) ?? [];
      deliveries.push({
        webhookId: String(request.headers['webhook-id'] ?? ''),
        status: answered.get(request) ?? 0,
      });
      byJob.set(jobId, deliveries);
    }
    const status = (id: string) => views.get(id)?.status;
    const delivered = (id: string) => (byJob.get(id) ?? []).filter((d) => d.status === 200);
    return {
      scenario: scenario.name,
      submitted: ids.length,
      done: ids.filter((id) => status(id) === 'done').length,
      failed: ids.filter((id) => status(id) === 'failed').length,
      stuck: ids.filter((id) => status(id) !== 'done' && status(id) !== 'failed').length,
      retried: ids.filter((id) => status(id) === 'done' && (views.get(id)?.attempts ?? 0) > 1).length,
      processedMoreThanOnce: ids.filter((id) => (runs.get(id) ?? 0) > 1).length,
      crashes: (output.match(/^fault crash-/gm) ?? []).length,
      webhooksDelivered: ids.filter((id) => delivered(id).length > 0).length,
      webhooksDeadLettered: ids.filter(
        (id) => delivered(id).length === 0 && views.get(id)?.webhook?.status === 'failed',
      ).length,
      oneWebhookId: ids.filter((id) => {
        const webhookIds = new Set((byJob.get(id) ?? []).map((d) => d.webhookId));
        return webhookIds.size === 1 && !webhookIds.has('');
      }).length,
      webhooksRepeated: ids.filter((id) => delivered(id).length > 1).length,
      webhookAttemptsRefused: [...answered.values()].filter((code) => code !== 200).length,
      seconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    for (const runtime of processes) {
      if (runtime.child.exitCode === null && runtime.child.signalCode === null) {
        runtime.signalGroup('SIGKILL');
        await runtime.exited;
      }
    }
    await receiver.close();
  }
};

const COLUMNS: ReadonlyArray<[keyof ScenarioFigures, string]> = [
  ['scenario', 'scenario'],
  ['submitted', 'submitted'],
  ['done', 'done'],
  ['failed', 'failed'],
  ['stuck', 'stuck'],
  ['crashes', 'crashes'],
  ['retried', 'attempts > 1'],
  ['processedMoreThanOnce', 'processed > once'],
  ['webhooksDelivered', 'webhook delivered'],
  ['webhooksDeadLettered', 'webhook dead-lettered'],
  ['oneWebhookId', 'one webhook-id'],
  ['webhooksRepeated', 'webhook delivered > once'],
  ['seconds', 's'],
];

/** The figures as a Markdown table (the README carries one). */
export const figuresTable = (rows: readonly ScenarioFigures[]): string =>
  [
    `| ${COLUMNS.map(([, title]) => title).join(' | ')} |`,
    `| ${COLUMNS.map(([key]) => (key === 'scenario' ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${COLUMNS.map(([key]) => String(row[key])).join(' | ')} |`),
  ].join('\n');
