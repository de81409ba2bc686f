import { createServer } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startWebhookReceiver, type WebhookReceiver } from '#test/webhook-receiver';
import {
  type DeliveryOptions,
  deliverWebhook,
  USER_AGENT,
  WebhookDeliveryError,
  WebhookRefusedError,
  type WebhookRequest,
} from '../../functions/webhook/deliver-webhook.ts';

// Standard Webhooks secrets are base64 after the `whsec_` prefix.
const SECRET = `whsec_${Buffer.from('a test signing key of 32 bytes!!').toString('base64')}`;
const local: DeliveryOptions = { allowLoopback: true };
const strict: DeliveryOptions = { allowLoopback: false };

let receiver: WebhookReceiver;

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterAll(() => receiver.close());
beforeEach(() => receiver.reset());

const request = (overrides: Partial<WebhookRequest> = {}): WebhookRequest => ({
  url: receiver.url(),
  webhookId: 'msg_test_done_1',
  body: JSON.stringify({ type: 'media.job.done', job_id: 'j1' }),
  secrets: [SECRET],
  ...overrides,
});

/** Awaits `work` and returns what it threw, failing the test if it threw nothing. */
const thrown = async (work: Promise<unknown>): Promise<unknown> => {
  try {
    await work;
  } catch (error) {
    return error;
  }
  throw new Error('expected the delivery to fail');
};

describe('deliverWebhook', () => {
  it('POSTs the JSON body with Standard Webhooks headers that verify with the secret', async () => {
    // Prepare
    const body = JSON.stringify({ type: 'media.job.done', job_id: 'j1', result: { width: 640 } });

    // Act
    const result = await deliverWebhook(request({ body, webhookId: 'msg_abc_done_1' }), local);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(receiver.requests).toHaveLength(1);
    const [received] = receiver.requests;
    expect(received).toMatchObject({ method: 'POST', path: '/hooks', body });
    expect(received?.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': 'msg_abc_done_1',
      'content-length': String(Buffer.byteLength(body)),
    });
    expect(received?.headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(received?.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const verified = new Webhook(SECRET).verify(
      received?.body ?? '',
      received?.headers as Record<string, string>,
    );
    expect(verified).toEqual(JSON.parse(body));
  });

  it('signs the same way whether the secret carries its whsec_ prefix or not', async () => {
    // Act
    await deliverWebhook(request({ secrets: [SECRET.slice('whsec_'.length)] }), local);

    // Assess
    const [received] = receiver.requests;
    expect(() =>
      new Webhook(SECRET).verify(received?.body ?? '', received?.headers as Record<string, string>),
    ).not.toThrow();
  });

  it('signs once per secret, space-separated, so that either secret verifies during a rotation', async () => {
    // Prepare
    const next = `whsec_${Buffer.from('the next signing key, 32 bytes!!').toString('base64')}`;
    const other = `whsec_${Buffer.from('somebody else’s key of 32 bytes').toString('base64')}`;

    // Act
    await deliverWebhook(request({ secrets: [next, SECRET] }), local);

    // Assess
    const [received] = receiver.requests;
    const headers = received?.headers as Record<string, string>;
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
    for (const secret of [next, SECRET]) {
      expect(() => new Webhook(secret).verify(received?.body ?? '', headers), secret).not.toThrow();
    }
    expect(() => new Webhook(other).verify(received?.body ?? '', headers)).toThrow();
  });

  it('signs with the given timestamp', async () => {
    // Prepare
    const timestamp = new Date();

    // Act
    await deliverWebhook(request({ timestamp }), local);

    // Assess
    expect(receiver.requests[0]?.headers['webhook-timestamp']).toBe(
      String(Math.floor(timestamp.getTime() / 1000)),
    );
  });

  it('fails with the status code, transiently, when the receiver answers non-2xx', async () => {
    // Prepare
    receiver.reply = (_request, response) => {
      response.writeHead(503);
      response.end('down for maintenance');
    };

    // Act
    const error = await thrown(deliverWebhook(request(), local));

    // Assess
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect(error).toMatchObject({ code: 'Webhook::DeliveryFailed', statusCode: 503 });
    expect((error as Error).message).toBe('the callback URL answered HTTP 503');
  });

  it('does not follow a redirect: a 3xx is a transient failure that says what to fix', async () => {
    // Prepare
    receiver.reply = (captured, response) => {
      if (captured.path === '/hooks') {
        response.writeHead(302, { location: receiver.url('/moved') });
        response.end();
      } else {
        response.writeHead(200);
        response.end();
      }
    };

    // Act
    const error = await thrown(deliverWebhook(request(), local));

    // Assess
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect(error).toMatchObject({ statusCode: 302 });
    expect((error as Error).message).toContain('redirect, which is not followed');
    expect(receiver.requests.map(({ path }) => path)).toEqual(['/hooks']);
  });

  it('gives up on a receiver that does not answer within the timeout', async () => {
    // Prepare: the receiver reads the request and never answers.
    receiver.reply = () => {};

    // Act
    const error = await thrown(deliverWebhook(request(), { ...local, timeoutMs: 300 }));

    // Assess
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect(error).toMatchObject({ code: 'Webhook::DeliveryFailed', statusCode: undefined });
    expect((error as Error).message).toBe('the callback URL did not answer within 0.3 s');
    expect(receiver.requests).toHaveLength(1);
  });

  it('stops reading an endless answer at the cap and closes the connection, keeping the status', async () => {
    // Prepare: a 2xx answer whose body never ends.
    let bytesWritten = 0;
    let connectionClosed!: () => void;
    const closed = new Promise<void>((resolve) => {
      connectionClosed = resolve;
    });
    receiver.reply = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 120);
      const pump = () => {
        while (!response.destroyed) {
          bytesWritten += chunk.length;
          if (!response.write(chunk)) break;
        }
        if (!response.destroyed) response.once('drain', pump);
      };
      response.once('close', () => connectionClosed());
      pump();
    };

    // Act
    const result = await deliverWebhook(request(), {
      ...local,
      maxResponseBytes: 64 * 1024,
      timeoutMs: 2_000,
    });
    await closed;

    // Assess: the receiver was cut off once socket buffers filled (about 4 MB here); uncapped, it would have
    // streamed until the timeout (about 50 MB in 2 s on this machine).
    expect(result.statusCode).toBe(200);
    expect(bytesWritten).toBeLessThan(16 * 1024 * 1024);
  });

  it('reports a connection error as transient, with only the error code', async () => {
    // Prepare: a port with nothing listening.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });

    // Act
    const error = await thrown(deliverWebhook(request({ url: `http://127.0.0.1:${port}/hooks` }), local));

    // Assess
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect((error as Error).message).toBe('could not reach the callback URL (ECONNREFUSED)');
  });

  it('treats a host name that does not resolve as transient (DNS may be fixed within the retry window)', async () => {
    // Act: .invalid never resolves (RFC 6761).
    const error = await thrown(
      deliverWebhook(request({ url: 'https://hooks.does-not-exist.invalid/x' }), local),
    );

    // Assess
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect((error as Error).message).toMatch(
      /^the callback URL's host name could not be resolved \([A-Z_]+\)$/,
    );
  });

  it('bounds name resolution by the same timeout', async () => {
    // Prepare: a resolver that never answers.
    const resolveHost = () => new Promise<never>(() => {});

    // Act
    const error = await thrown(
      deliverWebhook(request({ url: 'https://slow-dns.test/hooks' }), {
        ...local,
        timeoutMs: 200,
        resolveHost,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(WebhookDeliveryError);
    expect((error as Error).message).toBe("the callback URL's host name could not be resolved within 0.2 s");
  });

  it('refuses to sign with a secret that is not a Standard Webhooks secret, sending nothing', async () => {
    // Act
    const error = await thrown(deliverWebhook(request({ secrets: ['whsec_not*base64!'] }), local));

    // Assess
    expect(error).toMatchObject({ code: 'Webhook::InvalidSigningSecret' });
    expect(error).not.toBeInstanceOf(WebhookDeliveryError);
    expect(receiver.requests).toHaveLength(0);
  });

  it('connects to the address it vetted, keeping the host name in the request', async () => {
    // Prepare: a name only this resolver knows; the system resolver would fail on it.
    const asked: string[] = [];
    const resolveHost = async (hostname: string) => {
      asked.push(hostname);
      return [{ address: '127.0.0.1', family: 4 }];
    };

    // Act
    const result = await deliverWebhook(request({ url: receiver.url('/hooks', 'hooks.pinned.test') }), {
      ...local,
      resolveHost,
    });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(asked).toEqual(['hooks.pinned.test']);
    expect(receiver.requests[0]?.headers.host).toBe(`hooks.pinned.test:${receiver.port}`);
  });
});

describe('deliverWebhook refuses non-public destinations without sending anything', () => {
  it.each([
    ['loopback, when loopback is not allowed', () => receiver.url()],
    ['localhost, when loopback is not allowed', () => receiver.url('/hooks', 'localhost')],
    ['IPv4-mapped loopback', () => `http://[::ffff:127.0.0.1]:${receiver.port}/hooks`],
    ['IPv6 loopback', () => `http://[::1]:${receiver.port}/hooks`],
    [
      'the instance metadata service',
      () => 'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    ],
    ['a private address', () => 'http://10.0.0.1/hooks'],
    ['the IPv6 instance metadata service', () => 'http://[fd00:ec2::254]/latest/meta-data/'],
    ['a URL with credentials', () => 'https://user:pass@example.com/hooks'],
    ['a public address on a port outside the allowed list', () => 'http://93.184.216.34:6379/'],
  ])('%s', async (_case, url) => {
    // Act
    const error = await thrown(deliverWebhook(request({ url: url() }), strict));

    // Assess
    expect(error).toBeInstanceOf(WebhookRefusedError);
    expect(error).toMatchObject({ code: 'Webhook::Refused' });
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses a port outside the list even when loopback is allowed, unless the host resolves to loopback', async () => {
    // Prepare: the same receiver port, reached by names resolving to a public address and to loopback
    const resolveTo = (address: string) => async () => [{ address, family: 4 }];

    // Act
    const publicHost = await thrown(
      deliverWebhook(request({ url: receiver.url('/hooks', 'hooks.public.test') }), {
        ...local,
        resolveHost: resolveTo('93.184.216.34'),
      }),
    );
    const loopbackHost = await deliverWebhook(request({ url: receiver.url('/hooks', 'hooks.loop.test') }), {
      ...local,
      resolveHost: resolveTo('127.0.0.1'),
    });

    // Assess
    expect(publicHost).toBeInstanceOf(WebhookRefusedError);
    expect((publicHost as Error).message).toBe(
      `callback_url must use one of the ports 80, 443, 8080, 8443, not ${receiver.port}`,
    );
    expect(loopbackHost.statusCode).toBe(200);
    expect(receiver.requests).toHaveLength(1);
  });

  it('refuses a host name when any address it resolves to is forbidden, naming none in the message', async () => {
    // Prepare: a public address alongside a loopback one, as a rebinding attacker would serve them.
    const resolveHost = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ];

    // Act
    const error = await thrown(
      deliverWebhook(request({ url: receiver.url('/hooks', 'rebind.attacker.test') }), {
        ...strict,
        resolveHost,
      }),
    );

    // Assess
    expect(error).toBeInstanceOf(WebhookRefusedError);
    expect((error as WebhookRefusedError).addresses).toEqual(['127.0.0.1']);
    expect((error as Error).message).not.toContain('127.0.0.1');
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses a host name that resolves to the metadata service even when loopback is allowed', async () => {
    // Prepare
    const resolveHost = async () => [{ address: '169.254.169.254', family: 4 }];

    // Act
    const error = await thrown(
      deliverWebhook(request({ url: 'http://metadata.attacker.test/' }), { ...local, resolveHost }),
    );

    // Assess
    expect(error).toBeInstanceOf(WebhookRefusedError);
  });

  it('refuses localhost by its real resolution too, when the name gets past the static check', async () => {
    // Prepare: the system resolver answers for localhost (127.0.0.1 and/or ::1).
    const { lookup } = await import('node:dns/promises');
    const resolveHost = (hostname: string) =>
      lookup(hostname === 'callback.test' ? 'localhost' : hostname, { all: true });

    // Act
    const error = await thrown(
      deliverWebhook(request({ url: receiver.url('/hooks', 'callback.test') }), { ...strict, resolveHost }),
    );

    // Assess
    expect(error).toBeInstanceOf(WebhookRefusedError);
    expect(receiver.requests).toHaveLength(0);
  });
});
