import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../cli/media-pipeline.ts';
import { describeResult, displayStatus, formatEta, lineProgress, RateMeter } from '../../cli/render.ts';

const collect = () => {
  const chunks: string[] = [];
  return { write: (text: string) => void chunks.push(text), text: () => chunks.join('') };
};

const URL_450 = `http://s3.test/results/x.jpg?X-Amz-Signature=${'a'.repeat(420)}`;

const IMAGE_RESULT = {
  width: 4000,
  height: 3000,
  format: 'jpeg',
  variants: [
    { name: 'thumb', key: 'k1', width: 150, height: 113, format: 'jpeg', bytes: 4200 },
    { name: 'large', key: 'k2', width: 1600, height: 1200, format: 'jpeg', bytes: 310_000 },
  ],
};
const VIDEO_RESULT = {
  poster: 'results/j/poster.jpg',
  width: 1920,
  height: 1080,
  codec: 'h264',
  audio_codec: 'aac',
  duration: 12.48,
  container: 'mp4',
  poster_width: 1280,
  poster_height: 720,
  poster_at_second: 1,
};

const job = (overrides: Record<string, unknown> = {}) => ({
  id: 'job-1',
  status: 'done',
  file_name: 'harbour.jpg',
  content_type: 'image/jpeg',
  size: 2048,
  preset: 'default',
  file_hash: null,
  attempts: 1,
  max_attempts: 3,
  result: IMAGE_RESULT,
  result_urls: { thumb: URL_450, large: URL_450 },
  error: null,
  error_code: null,
  duplicate_of: null,
  webhook: null,
  created_at: '2026-12-03T10:04:05.123Z',
  updated_at: '2026-12-03T10:04:06.123Z',
  ...overrides,
});

describe('results without presigned URLs', () => {
  it('names an image’s variants with their dimensions, format and size', () => {
    expect(describeResult(IMAGE_RESULT, { thumb: URL_450, large: URL_450 })).toEqual([
      'thumb 150×113 jpeg 4.1 KiB',
      'large 1600×1200 jpeg 303 KiB',
    ]);
  });

  it('gives a video’s duration, resolution and codecs, and its poster', () => {
    expect(describeResult(VIDEO_RESULT, { poster: URL_450 })).toEqual([
      '12.5 s, 1920×1080, h264 + aac',
      'poster 1280×720 at 1 s',
    ]);
  });

  it('adds the URLs only when asked', () => {
    expect(describeResult(VIDEO_RESULT, { poster: URL_450 }, { urls: true })[1]).toBe(
      `poster 1280×720 at 1 s  ${URL_450}`,
    );
  });

  it('shows a job still awaiting its upload after every byte went as being checked', () => {
    expect(displayStatus('awaiting_upload', true)).toBe('checking');
    expect(displayStatus('awaiting_upload', false)).toBe('awaiting_upload');
    expect(displayStatus('done', true)).toBe('done');
  });
});

describe('progress with speed and time left', () => {
  it('measures speed over the last seconds, and restarts when a part is sent again', () => {
    const meter = new RateMeter();
    meter.sample(0, 0);
    meter.sample(10 * 1024 * 1024, 1000);

    expect(meter.describe(10 * 1024 * 1024, 30 * 1024 * 1024)).toBe('10.0 MiB/s, 2 s left');
    meter.sample(1024, 1500);
    expect(meter.rate()).toBeUndefined();
  });

  it.each([
    [0.2, '1 s'],
    [59.5, '1 min 0 s'],
    [125, '2 min 5 s'],
    [7300, '2 h 1 min'],
  ])('says %d s left as %s', (seconds, text) => {
    expect(formatEta(seconds)).toBe(text);
  });

  it('writes quarters with speed and time left off a terminal, and an outcome without its detail', () => {
    // Arrange
    const out = collect();
    let clock = 0;
    const view = lineProgress(out, ['clip.mp4'], () => clock);

    // Act
    view.update(0, { kind: 'preparing' });
    for (const [sent, at] of [
      [0, 0],
      [30, 1000],
      [55, 2000],
      [100, 4000],
    ] as const) {
      clock = at;
      view.update(0, { kind: 'uploading', sent, total: 100 });
    }
    view.update(0, { kind: 'finished', status: 'failed', detail: 'the file is corrupt' });

    // Assert
    expect(out.text().split('\n')).toEqual([
      'clip.mp4: uploading 0% of 100 B',
      'clip.mp4: uploading 25% of 100 B (30 B/s, 3 s left)',
      'clip.mp4: uploading 50% of 100 B (28 B/s, 2 s left)',
      'clip.mp4: uploading 100% of 100 B (25 B/s)',
      'clip.mp4: failed',
      '',
    ]);
  });
});

describe('the CLI’s words, in process against a scripted API', () => {
  let dir: string;
  let photo: string;
  // Storage: takes every PUT.
  let storage: Server;
  let putUrl: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'media-cli-summary-'));
    photo = join(dir, 'harbour.jpg');
    await writeFile(photo, Buffer.from('not really a jpeg'));
    storage = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(200, { etag: '"e"' }).end());
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    putUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}/upload`;
  });
  afterAll(async () => {
    await new Promise((resolve) => storage.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  const cli = async (argv: string[], answer: (url: URL, method: string) => Response | Promise<Response>) => {
    const stdout = collect();
    const stderr = collect();
    const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) =>
      answer(new URL(String(input)), init?.method ?? 'GET')) as typeof fetch;
    const code = await run([...argv, '--api-url', 'http://api.test'], {
      stdout,
      stderr,
      env: { XDG_STATE_HOME: join(dir, 'state') },
      fetch: fetchImpl,
    });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  };

  it('says a missing file does not exist, and sends nothing', async () => {
    const calls: string[] = [];
    const result = await cli(['upload', join(dir, 'gone.jpg'), '--preset', 'default'], (url) => {
      calls.push(url.pathname);
      return Response.json({});
    });

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${join(dir, 'gone.jpg')} does not exist`);
    expect(result.stdout).not.toContain('is not a file');
    expect(calls).toEqual([]);
  });

  it('shows no upload progress before the API refuses a file, and prints the refusal once', async () => {
    const result = await cli(['upload', photo, '--preset', 'nope'], () =>
      Response.json(
        { error: { code: 'Request::UnknownPreset', message: 'there is no preset "nope"' } },
        { status: 400 },
      ),
    );

    expect(result.code).toBe(1);
    expect(result.stderr).toBe('harbour.jpg: refused\n');
    expect(result.stdout.match(/there is no preset/g)).toHaveLength(1);
  });

  it('asks whether the API runs only when it could not be reached', async () => {
    const refused = await cli(['list'], () => {
      throw new TypeError('fetch failed', {
        cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      });
    });
    const failing = await cli(['list'], () =>
      Response.json({ error: { code: 'Internal', message: 'internal error' } }, { status: 500 }),
    );
    const bug = await cli(['list'], () => {
      throw new TypeError('something else');
    });

    expect(refused.stderr).toBe(
      'media-pipeline: fetch failed (connect ECONNREFUSED); is the API running at http://api.test?\n',
    );
    expect(failing.stderr).toBe('media-pipeline: internal error\n');
    expect(bug.stderr).not.toContain('is the API running');
  });

  it('summarises an upload without URLs: variants, and a duplicate as such', async () => {
    const result = await cli(['upload', photo, '--preset', 'default'], (_url, method) => {
      if (method === 'POST') {
        return Response.json(
          {
            job_id: 'job-2',
            status: 'awaiting_upload',
            upload: { method: 'PUT', url: putUrl, headers: {}, expires_at: '' },
          },
          { status: 201 },
        );
      }
      return Response.json(job({ id: 'job-2', duplicate_of: 'job-1' }));
    });

    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^harbour\.jpg: job job-2$/m);
    expect(result.stdout.split('\n').slice(2, 5)).toEqual([
      'harbour.jpg  job-2   done    duplicate of job-1',
      '                             thumb 150×113 jpeg 4.1 KiB',
      '                             large 1600×1200 jpeg 303 KiB',
    ]);
    expect(result.stdout).not.toContain('X-Amz-Signature');

    const done = await cli(['status', 'job-2'], () =>
      Response.json(job({ id: 'job-2', duplicate_of: 'job-1' })),
    );
    expect(done.stdout).toContain('duplicate of  job-1');
    expect(done.stdout).toMatch(/^result {8}thumb 150×113 jpeg 4\.1 KiB$/m);
    expect(done.stdout).not.toContain('X-Amz-Signature');
    expect(done.stdout.split('\n').every((line) => line.length < 100)).toBe(true);

    const withUrls = await cli(['status', 'job-2', '--urls'], () => Response.json(job()));
    expect(withUrls.stdout).toContain(URL_450);
  });
});
