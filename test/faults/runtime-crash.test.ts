import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/emulators.ts';
import { makeJpeg } from '../support/media.ts';
import {
  callApi,
  FAST_RECOVERY_ENV,
  type RuntimeProcess,
  startRuntimeProcess,
} from '../support/runtime-process.ts';

/**
 * The whole local runtime taken down under load, as an operator would see it: SIGKILL of its process
 * group mid-burst (S3 events still in the bridge's memory, SQS messages not snapshotted, attempts in
 * flight), and a terminal's Ctrl-C. After a start on the same data, every job whose bytes were
 * uploaded reaches an outcome on its own: the reconciler (run every 3 s here, its deadlines a few
 * seconds) moves on what the crash stranded.
 */
const BURST = 12;
let dataDir: string;
let port: number;
let s3Port: number;
const running: RuntimeProcess[] = [];

const start = async (): Promise<RuntimeProcess> => {
  const runtime = await startRuntimeProcess({
    dataDir,
    port,
    s3Port,
    env: FAST_RECOVERY_ENV,
  });
  running.push(runtime);
  return runtime;
};

const api = callApi;

interface Ticket {
  job_id: string;
  upload: { url: string; headers: Record<string, string> };
}

/** An image upload created on the API, with its bytes, not yet sent. */
const ticketFor = async (runtime: RuntimeProcess, seed: number) => {
  const bytes = await makeJpeg(320 + (seed % 50), 240, seed);
  const created = await api<Ticket>(runtime, 'POST', '/api/media/', {
    file_name: `upload-${seed}.jpg`,
    content_type: 'image/jpeg',
    size: bytes.length,
    preset: 'default',
  });
  expect(created.status).toBe(201);
  return { ...created.body, bytes };
};

/** PUTs a ticket's bytes to its presigned URL as a browser would; resolves with S3's status. */
const putTicket = async (ticket: Ticket & { bytes: Buffer }): Promise<number> => {
  const headers = Object.fromEntries(
    Object.entries(ticket.upload.headers).filter(([name]) => name.toLowerCase() !== 'content-length'),
  );
  return (await fetch(ticket.upload.url, { method: 'PUT', headers, body: new Uint8Array(ticket.bytes) }))
    .status;
};

/** Creates `count` image uploads and PUTs their bytes, all at once; resolves with the job ids. */
const burst = async (runtime: RuntimeProcess, count: number, seed: number): Promise<string[]> =>
  Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const ticket = await ticketFor(runtime, seed + i);
      expect(await putTicket(ticket)).toBe(200);
      return ticket.job_id;
    }),
  );

const statusesOf = (runtime: RuntimeProcess, ids: string[]): Promise<string[]> =>
  Promise.all(
    ids.map(async (id) => (await api<{ status: string }>(runtime, 'GET', `/api/media/${id}/`)).body.status),
  );

/** Polls until every job has an outcome; returns the statuses, or whatever they were at the deadline. */
const outcomes = async (runtime: RuntimeProcess, ids: string[], deadlineMs: number): Promise<string[]> => {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const statuses = await statusesOf(runtime, ids);
    if (statuses.every((status) => status === 'done' || status === 'failed') || Date.now() > until) {
      return statuses;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
};

const count = (statuses: string[]): Record<string, number> => {
  const tally: Record<string, number> = {};
  for (const status of statuses) tally[status] = (tally[status] ?? 0) + 1;
  return tally;
};

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'media-pipeline-crash-'));
  port = await freePort();
  s3Port = await freePort();
});

/** A test that failed midway leaves no runtime holding the ports for the next one. */
afterEach(async () => {
  for (const runtime of running.splice(0)) {
    if (runtime.child.exitCode === null && runtime.child.signalCode === null) {
      runtime.signalGroup('SIGKILL');
      await runtime.exited;
    }
  }
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('the local runtime killed or stopped under load', () => {
  it('finishes every uploaded job after a SIGKILL of its whole process group and a start on the same data', async () => {
    // Prepare: a burst, killed as soon as every upload was accepted
    const first = await start();
    const ids = await burst(first, BURST, 100);
    const atTheKill = await statusesOf(first, ids);

    // Act
    first.signalGroup('SIGKILL');
    await first.exited;
    const second = await start();

    // Assess: the crash did strand work, and yet nothing is stuck: everything is done
    expect(atTheKill.filter((status) => status !== 'done').length).toBeGreaterThan(0);
    const statuses = await outcomes(second, ids, 120_000);
    expect(count(statuses)).toEqual({ done: BURST });
    // DynamoDB Local runs in a group of its own: the killed runtime's orphan was found and stopped.
    expect(second.output()).toMatch(/stopping DynamoDB Local \(pid \d+\) left running by a previous run/);
    second.signalGroup('SIGINT');
    expect((await second.exited).code).toBe(0);
  });

  it('stops cleanly on a terminal’s Ctrl-C mid-burst, closing intake first, and finishes the jobs at the next start', async () => {
    // Prepare
    const first = await start();
    const ids = await burst(first, BURST, 200);
    const atTheStop = await statusesOf(first, ids);
    const late = await ticketFor(first, 300);

    // Act: SIGINT to the whole foreground group, as a terminal sends it, and an upload once it is stopping
    first.signalGroup('SIGINT');
    await first.printed(/SIGINT: stopping/);
    const lateUpload = await putTicket(late).catch(() => 'refused: the port is closed');
    const exit = await first.exited;

    // Assess: intake closed first (an upload arriving while it stops is refused, never taken and
    // left un-ingested), then a clean stop with nothing left running on the data directory
    expect([503, 'refused: the port is closed']).toContain(lateUpload);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.output()).toContain('SIGINT: stopping');
    expect(existsSync(join(dataDir, 'dynamodb-local.pid'))).toBe(false);

    expect(atTheStop.filter((status) => status !== 'done').length).toBeGreaterThan(0);
    const second = await start();
    const statuses = await outcomes(second, ids, 120_000);
    expect(count(statuses)).toEqual({ done: BURST });
    second.signalGroup('SIGINT');
    expect((await second.exited).code).toBe(0);
  });
});
