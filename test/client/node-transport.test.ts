import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeTransport } from '../../client/node-transport.ts';

let server: Server;
let url: string;
const received: Array<{ headers: IncomingHttpHeaders; bytes: number }> = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    request.on('end', () => {
      received.push({ headers: request.headers, bytes });
      if (request.url === '/slow') return; // never answers
      response.writeHead(request.url === '/refuse' ? 403 : 200, { etag: '"abc"' });
      response.end(request.url === '/refuse' ? '<Error><Code>AccessDenied</Code></Error>' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

describe('nodeTransport', () => {
  it('streams the body with its exact Content-Length, reporting progress as it goes', async () => {
    // Prepare
    const body = new Blob([new Uint8Array(3 * 1024 * 1024)]);
    const progress: number[] = [];

    // Act
    const response = await nodeTransport({
      method: 'PUT',
      url: `${url}/part`,
      headers: { 'Content-Type': 'video/mp4' },
      body,
      signal: new AbortController().signal,
      onProgress: (sent) => progress.push(sent),
    });

    // Assess
    expect(response).toEqual({ status: 200, etag: '"abc"', text: '' });
    expect(received.at(-1)).toMatchObject({
      bytes: body.size,
      headers: expect.objectContaining({ 'content-length': String(body.size), 'content-type': 'video/mp4' }),
    });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(body.size);
  });

  it('answers S3’s refusals as they are, for the client to judge', async () => {
    const response = await nodeTransport({
      method: 'PUT',
      url: `${url}/refuse`,
      headers: {},
      body: new Blob(['x']),
      signal: new AbortController().signal,
      onProgress: () => undefined,
    });

    expect(response.status).toBe(403);
    expect(response.text).toContain('AccessDenied');
  });

  it('rejects with the signal’s reason when aborted', async () => {
    const controller = new AbortController();
    const sending = nodeTransport({
      method: 'PUT',
      url: `${url}/slow`,
      headers: {},
      body: new Blob(['x']),
      signal: controller.signal,
      onProgress: () => undefined,
    });
    setTimeout(() => controller.abort(), 50);

    await expect(sending).rejects.toMatchObject({ name: 'AbortError' });
  });
});
