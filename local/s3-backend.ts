/**
 * The local runtime's S3, behind one interface: the embedded s3rver (the default) or an S3 server of
 * the user's (MinIO, through S3_ENDPOINT; local/external-s3.ts). The runtime asks it where functions and
 * presigned URLs reach S3, with which credentials and region buckets are created and requests signed,
 * how the buckets' notifications reach the bridge, which routes it needs on the API port, and how to
 * stop it, so that nothing else in the runtime knows which one it runs on.
 *
 * Where events come from: s3rver emits every object event itself (it has no notification API); an
 * external server's webhook target POSTs them to `S3_EVENTS_PATH` on the API port, where the backend's
 * route turns them into S3's shape and emits them on the same emitter.
 */
import { EventEmitter } from 'node:events';
import { S3Client } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { startS3 } from './emulators.ts';
import {
  configureWebhookNotifications,
  type ExternalS3Options,
  S3_EVENTS_PATH,
  s3EventsRoute,
} from './external-s3.ts';
import type { ExtraRoute } from './http-api.ts';
import { type BucketNotificationSpec, LOCAL_CREDENTIALS, LOCAL_REGION, type Stoppable } from './types.ts';

/** The credentials and region that S3 requests are signed with. */
export interface S3Access {
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
}

export interface S3Backend extends Stoppable {
  /** As the runtime and the functions reach it; presigned URLs carry it. */
  endpoint: string;
  /** What provisioning and the functions sign with (the other emulators accept anything, so it is everyone's). */
  access: S3Access;
  /** Every object event, in S3's event shape with keys as stored: what the notification bridge reads. */
  events: EventEmitter<{ event: [S3Event] }>;
  /** Routes the runtime serves on its API port for this backend (an external server's events endpoint). */
  routes(log: (message: string) => void): ExtraRoute[];
  /**
   * Makes the provisioned buckets' notifications reach `events`; says what to configure (through `log`)
   * when the server refuses, without failing the start.
   */
  connectNotifications(
    notifications: readonly BucketNotificationSpec[],
    context: { apiBaseUrl: string; log: (message: string) => void },
  ): Promise<void>;
  /** Where the server must POST its events, or undefined when it needs no URL (s3rver). */
  eventsUrl(apiBaseUrl: string): string | undefined;
  /** Stops taking clients' uploads, the functions' own calls going on (a user's server: nothing to do). */
  closeIntake(): void;
}

/** s3rver in this process, with the checks local/emulators.ts installs; objects kept under `directory`. */
export const embeddedS3Backend = async (options: { directory: string; port: number }): Promise<S3Backend> => {
  const s3 = await startS3(options);
  return {
    endpoint: s3.endpoint,
    access: { credentials: LOCAL_CREDENTIALS, region: LOCAL_REGION },
    events: s3.events,
    routes: () => [],
    connectNotifications: async () => {},
    eventsUrl: () => undefined,
    closeIntake: () => s3.closeIntake(),
    stop: () => s3.stop(),
  };
};

/** An S3 server of the user's: nothing to start or stop here; its events arrive through its webhook. */
export const externalS3Backend = (options: ExternalS3Options): S3Backend => {
  const events = new EventEmitter<{ event: [S3Event] }>();
  const access: S3Access = {
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
    region: options.region,
  };
  return {
    endpoint: options.endpoint,
    access,
    events,
    routes: (log) => [
      s3EventsRoute(events, {
        region: options.region,
        ...(options.webhookAuthToken ? { authToken: options.webhookAuthToken } : {}),
        log,
      }),
    ],
    connectNotifications: async (notifications, { apiBaseUrl, log }) => {
      const client = new S3Client({ endpoint: options.endpoint, ...access, forcePathStyle: true });
      const problems = await configureWebhookNotifications(client, notifications, options.webhookArn).finally(
        () => client.destroy(),
      );
      for (const problem of problems) {
        log(
          `could not point the bucket notifications at ${options.webhookArn} (${problem}): uploads will not be ` +
            `ingested until the S3 server has that webhook target, posting to ${apiBaseUrl}${S3_EVENTS_PATH} ` +
            '(the README, MinIO)',
        );
      }
    },
    eventsUrl: (apiBaseUrl) => `${apiBaseUrl}${S3_EVENTS_PATH}`,
    closeIntake: () => {},
    stop: async () => {},
  };
};

/** The external server when there is one, else the embedded s3rver. */
export const startS3Backend = (options: {
  external: ExternalS3Options | undefined;
  directory: string;
  port: number;
}): Promise<S3Backend> =>
  options.external
    ? Promise.resolve(externalS3Backend(options.external))
    : embeddedS3Backend({ directory: options.directory, port: options.port });
