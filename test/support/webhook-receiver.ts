import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Reply = (request: CapturedRequest, response: ServerResponse) => void;

export interface WebhookReceiver {
  port: number;
  /** A URL on this receiver (127.0.0.1); `host` puts another host name in it, for pinned-lookup tests. */
  url(path?: string, host?: string): string;
  /** Every request received, body included, in arrival order. */
  requests: CapturedRequest[];
  /** How the receiver answers; `200 ok` until replaced, and again after `reset()`. */
  reply: Reply;
  reset(): void;
  close(): Promise<void>;
}

const ok: Reply = (_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('ok');
};

const readBody = async (request: IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

/** A callback endpoint on 127.0.0.1 that records what it is sent and answers as the test says. */
export const startWebhookReceiver = async (): Promise<WebhookReceiver> => {
  const receiver = { requests: [] as CapturedRequest[], reply: ok };
  const server = createServer(async (request, response) => {
    const captured: CapturedRequest = {
      method: request.method ?? '',
      path: request.url ?? '',
      headers: request.headers,
      body: await readBody(request),
    };
    receiver.requests.push(captured);
    receiver.reply(captured, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: (path = '/hooks', host = '127.0.0.1') => `http://${host}:${port}${path}`,
    get requests() {
      return receiver.requests;
    },
    get reply() {
      return receiver.reply;
    },
    set reply(reply: Reply) {
      receiver.reply = reply;
    },
    reset: () => {
      receiver.requests.length = 0;
      receiver.reply = ok;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
};
