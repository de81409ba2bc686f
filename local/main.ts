import { join, resolve } from 'node:path';
import { LAMBDA_RETRY_DELAYS_MS } from './async-invoke.ts';
import { localSettingsFromEnvironment } from './config.ts';
import { INVOCATION_LOG_HEADER } from './invocation-log.ts';
import {
  assertPortsFree,
  findPortHolder,
  type NeededPort,
  PortInUseError,
  portInUseMessage,
} from './port-holder.ts';
import { findRunningRuntime, RuntimeRunningError, resetLocalData } from './reset.ts';
import { startLocalRuntime } from './runtime.ts';

/**
 * `npm start`: the whole stack on this machine, from its synthesized template, on the embedded
 * emulators. `npm run reset [-- --force] [-- --new-secrets]`: forget every job, object and message
 * (local/reset.ts says what is kept and why).
 */

// The SDK announces that its releases after the first week of January 2027 need Node 22 (the deployed
// functions run nodejs22.x; README "Node versions" says what that means here): said once in the README,
// not on every start. Set before any client exists; AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=false shows it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const USAGE = 'usage: npm start | npm run reset [-- --force] [-- --new-secrets]';
const args = process.argv.slice(2);
const unknown = args.filter((arg) => !['--reset', '--force', '--new-secrets'].includes(arg));
if (unknown.length > 0 || (!args.includes('--reset') && args.length > 0)) {
  console.error(`unknown option ${unknown[0] ?? args[0]}; ${USAGE}`);
  process.exit(2);
}

const settings = (() => {
  try {
    return localSettingsFromEnvironment();
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
})();

const dataDir = resolve(settings.dataDir);

/** The ports `npm start` listens on, with the settings that choose them (0: any free port, not checked). */
const neededPorts: NeededPort[] = [
  { port: settings.port, role: 'the API', setting: 'PORT' },
  ...(settings.externalS3
    ? []
    : [
        {
          port: settings.s3Port ?? (settings.port === 0 ? 0 : settings.port + 1),
          role: 'the S3 emulator',
          setting: settings.s3Port === undefined ? 'S3_PORT (default PORT+1)' : 'S3_PORT',
        },
      ]),
];
const apiHost = settings.host ?? '127.0.0.1';

const main = async (): Promise<void> => {
  if (args.includes('--reset')) {
    await resetLocalData(dataDir, {
      force: args.includes('--force'),
      newSecrets: args.includes('--new-secrets'),
    });
    return;
  }
  // One runtime per data directory: a second one would stop the first's DynamoDB Local as an orphan and
  // take over its runtime.json (and a reset would then wipe the first's live data).
  const running = await findRunningRuntime(dataDir);
  if (running) {
    console.error(
      `a runtime (pid ${running.pid}, ${running.apiUrl}) already runs on ${dataDir}; stop it, or start another with its own MEDIA_PIPELINE_DATA_DIR (and PORT)`,
    );
    process.exit(1);
  }
  // Before the minute of synth: a port in use is said at once, with who holds it.
  await assertPortsFree(neededPorts, apiHost);
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
    'One line per invocation follows, as each ends. Ctrl-C stops everything.',
    '',
    INVOCATION_LOG_HEADER,
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
    console.log(`stopped; the data in ${dataDir} is kept for the next npm start`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
};

/** A port taken between the check and the listen (or by the check's own race) says the same one line. */
const portErrorMessage = async (
  error: NodeJS.ErrnoException & { port?: number },
): Promise<string | undefined> => {
  if (error.code !== 'EADDRINUSE' || error.port === undefined) return undefined;
  const needed = neededPorts.find((candidate) => candidate.port === error.port) ?? {
    port: error.port,
    role: 'the runtime',
    setting: 'PORT / S3_PORT',
  };
  return portInUseMessage(needed, await findPortHolder(error.port));
};

main().catch(async (error: unknown) => {
  if (error instanceof PortInUseError || error instanceof RuntimeRunningError) console.error(error.message);
  else
    console.error(
      (error instanceof Error && (await portErrorMessage(error))) ||
        (error instanceof Error ? error.message : error),
    );
  process.exit(1);
});
