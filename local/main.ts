import { readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { LAMBDA_RETRY_DELAYS_MS } from './async-invoke.ts';
import { localSettingsFromEnvironment } from './config.ts';
import { startLocalRuntime } from './runtime.ts';

/**
 * `npm start`: the whole stack on this machine, from its synthesized template, on the embedded
 * emulators. `npm run reset`: forget every job, object and message (the synth cache is kept).
 */
const settings = (() => {
  try {
    return localSettingsFromEnvironment();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
})();

const dataDir = resolve(settings.dataDir);

/** The synth cache: rebuilding it costs a synth, and it holds no data. */
const KEEP_ON_RESET = new Set(['cdk.out']);

const reset = async (): Promise<void> => {
  const entries = await readdir(dataDir).catch(() => []);
  for (const entry of entries) {
    if (!KEEP_ON_RESET.has(entry)) await rm(join(dataDir, entry), { recursive: true, force: true });
  }
  console.log(`Cleared local data in ${dataDir}`);
};

// The SDK announces that its 2027 releases need Node 22 (the deployed functions run nodejs22.x): not news here.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (!warning.message.includes('NodeVersionSupportWarning'))
    for (const listener of printWarning) listener(warning);
});

const main = async (): Promise<void> => {
  if (process.argv.includes('--reset')) {
    await reset();
    return;
  }
  const started = Date.now();
  if (settings.auth === 'none') {
    console.warn(
      'warning: MEDIA_PIPELINE_AUTH=none: the API checks no key or token; every caller is tenant default (local experiments only)',
    );
  }
  const runtime = await startLocalRuntime({
    dataDir,
    port: settings.port,
    ...(settings.host ? { host: settings.host } : {}),
    s3Port: settings.s3Port ?? (settings.port === 0 ? 0 : settings.port + 1),
    ...(settings.webhookSecret ? { webhookSecret: settings.webhookSecret } : {}),
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
    ...(Object.keys(settings.context).length > 0 ? { context: settings.context } : {}),
    asyncRetryScale: settings.asyncRetryScale,
    scheduleScale: settings.scheduleScale,
    faults: settings.faults,
    functionEnvironment: settings.functionEnvironment,
    onFatal: (error) => {
      console.error(`${error.message}; stopping (start again once the cause is fixed)`);
      process.exit(1);
    },
    ...(settings.externalS3 ? { externalS3: settings.externalS3 } : {}),
  });
  const s3Lines = settings.externalS3
    ? [
        `  S3 endpoint    ${runtime.s3Endpoint}   (external: S3_ENDPOINT, path-style)`,
        `  S3 events      ${runtime.s3EventsUrl}   (its webhook target ${settings.externalS3.webhookArn} posts here)`,
      ]
    : [`  S3 endpoint    ${runtime.s3Endpoint}   (access key S3RVER, secret S3RVER, path-style)`];
  const authLines =
    runtime.authMode === 'api-key'
      ? runtime.apiKey
        ? [
            `  API key        ${runtime.apiKey}   (tenant default; ${settings.apiKey ? 'MEDIA_PIPELINE_API_KEY' : `kept in ${join(dataDir, 'api-key')}; MEDIA_PIPELINE_API_KEY sets it`}; npx media-pipeline keys create --tenant NAME makes more)`,
          ]
        : ['  Auth           api-key, but the stack has no Tenants table: no dev key']
      : runtime.authMode === 'jwt'
        ? [
            `  Auth           JWT from ${settings.context.jwtIssuer ?? 'the issuer in cdk.json'} (MEDIA_PIPELINE_AUTH=jwt): send Authorization: Bearer <token>`,
          ]
        : [
            '  Auth           NONE (MEDIA_PIPELINE_AUTH=none): anyone reaching this port acts as tenant default',
          ];
  const curlAuth =
    runtime.authMode === 'api-key' && runtime.apiKey
      ? `-H "Authorization: Bearer ${runtime.apiKey}" `
      : runtime.authMode === 'jwt'
        ? '-H "Authorization: Bearer $TOKEN" '
        : '';
  const lines = [
    '',
    `media-pipeline is running locally (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    '',
    `  API            ${runtime.apiUrl}`,
    `  Upload page    ${runtime.apiUrl}/`,
    ...s3Lines,
    `  Buckets        ${runtime.buckets.join(', ')}`,
    `  Data           ${dataDir}   (kept across restarts; npm run reset clears it)`,
    `  Async retries  after ${LAMBDA_RETRY_DELAYS_MS.map((ms) => `${(ms * settings.asyncRetryScale) / 1000} s`).join(' and ')}   (Lambda's 1 and 2 min times MEDIA_PIPELINE_ASYNC_RETRY_SCALE=${settings.asyncRetryScale})`,
    ...runtime.provisioned.schedules.map(
      (schedule) =>
        `  Schedule       ${schedule.logicalId}: every ${(schedule.periodSeconds * settings.scheduleScale).toFixed(1)} s   (${schedule.expression} times MEDIA_PIPELINE_SCHEDULE_SCALE=${settings.scheduleScale})`,
    ),
    ...(settings.faults.length > 0
      ? [
          `  Faults         ${settings.faults.length} injected (MEDIA_PIPELINE_FAULTS): ${settings.faults.map((f) => `${f.action} on ${f.function}`).join(', ')}`,
        ]
      : []),
    ...runtime.secrets.map(
      (secret) =>
        `  Secret         ${secret.name} = ${secret.value}   (the webhook signing secret; WEBHOOK_SECRET sets it)`,
    ),
    ...authLines,
    '',
    `  Try: curl ${curlAuth}${runtime.apiUrl}/api/presets/`,
    '',
    'One line per invocation follows. Ctrl-C stops everything.',
    '',
  ];
  console.log(lines.join('\n'));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    const timer = setTimeout(() => {
      console.error('did not stop within 15 s; exiting');
      process.exit(1);
    }, 15_000);
    timer.unref();
    await runtime.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
