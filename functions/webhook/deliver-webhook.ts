import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import {
  bareHostname,
  callbackPortRefusal,
  isForbiddenAddress,
  isLoopbackAddress,
  parseCallbackAddress,
} from '#shared/callback-url';
import { AppError, ValidationError } from '#shared/errors';

export const USER_AGENT = 'media-pipeline-webhooks/1';
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Enough for any acknowledgement; a receiver sending more is cut off, never buffered. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * The destination must not be called, and calling again cannot change that: a forbidden address, a URL
 * that no longer passes the static check. The message is safe to store on the job (no resolved addresses).
 */
export class WebhookRefusedError extends AppError {
  /** The forbidden addresses the host resolved to: for logs only, never stored on the job. */
  readonly addresses: string[];
  constructor(message: string, options?: { addresses?: string[]; cause?: unknown }) {
    super('Webhook::Refused', message, { cause: options?.cause });
    this.addresses = options?.addresses ?? [];
  }
}

/**
 * This attempt failed and a later one may succeed: a non-2xx answer (redirects included: they are not
 * followed), a timeout, a connection or TLS error, a host name that does not resolve (yet).
 */
export class WebhookDeliveryError extends AppError {
  readonly statusCode: number | undefined;
  constructor(message: string, options?: { statusCode?: number; cause?: unknown }) {
    super('Webhook::DeliveryFailed', message, { cause: options?.cause });
    this.statusCode = options?.statusCode;
  }
}

export interface WebhookRequest {
  url: string | URL;
  /** The Standard Webhooks `webhook-id`: stable across retries of one event, so receivers can deduplicate. */
  webhookId: string;
  /** The JSON body, exactly as signed and sent. */
  body: string;
  /**
   * The signing secrets, each with or without its `whsec_` prefix: every one signs, so that during a
   * rotation a receiver verifies with whichever it has (Standard Webhooks allows several signatures).
   */
  secrets: readonly string[];
  /** When the attempt is made (`webhook-timestamp`); now by default. */
  timestamp?: Date;
}

/** Resolves a host name to every address it has; `node:dns` lookup (the system resolver) by default. */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

export interface DeliveryOptions {
  allowLoopback: boolean;
  /** Ports a callback URL may use, checked again at delivery; the default list when absent. */
  allowedPorts?: readonly number[];
  /** For the whole attempt: resolution, connection, request and response headers. */
  timeoutMs?: number;
  maxResponseBytes?: number;
  resolveHost?: ResolveHost;
}

export interface DeliveryResult {
  statusCode: number;
  durationMs: number;
}

const systemResolve: ResolveHost = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
      error ? reject(error) : resolve(addresses),
    ),
  );

const errorCode = (error: unknown): string | undefined => {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]+$/.test(code) ? code : undefined;
};

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * Signs a body the Standard Webhooks way: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`, once per
 * secret, the signatures separated by spaces (`v1,<a> v1,<b>`), as the spec allows for rotations.
 */
export const signWebhook = (
  secrets: readonly string[],
  webhookId: string,
  timestamp: Date,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> => {
  if (secrets.length === 0) {
    throw new AppError('Webhook::NoSigningSecret', 'there is no webhook signing secret to sign with');
  }
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => signer(secret).sign(webhookId, timestamp, body)).join(' '),
  };
};

const signer = (secret: string): Webhook => {
  try {
    return new Webhook(secret);
  } catch (error) {
    // A deployment problem, not the receiver's: no delivery can succeed until the secret is fixed.
    throw new AppError(
      'Webhook::InvalidSigningSecret',
      'the webhook signing secret is not a Standard Webhooks secret (whsec_ followed by base64)',
      { cause: error },
    );
  }
};

interface VettedTarget {
  url: URL;
  address: string;
  family: number;
}

const timeoutError = (timeoutMs: number) =>
  new WebhookDeliveryError(`the callback URL did not answer within ${seconds(timeoutMs)}`);

/** Stops waiting for `work` after `ms` (the work itself, a DNS lookup, cannot be cancelled). */
const within = <T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([work, expiry]).finally(() => clearTimeout(timer));
};

/**
 * Resolves the callback host and vets every address it has: one forbidden address refuses the whole
 * destination, since which address a client ends up using is not ours to predict.
 */
const vetDestination = async (
  rawUrl: string | URL,
  options: DeliveryOptions,
  resolveWithin: { ms: number; onTimeout: () => Error },
): Promise<VettedTarget> => {
  let url: URL;
  try {
    url = parseCallbackAddress(String(rawUrl), { allowLoopback: options.allowLoopback });
  } catch (error) {
    if (error instanceof ValidationError) throw new WebhookRefusedError(error.message, { cause: error });
    throw error;
  }
  // The API refused these ports already; a URL stored before the list changed is refused here, after
  // the address checks (their reason comes first). Only a receiver on loopback, where allowed (local
  // runs), may use another port.
  const portRefusal = callbackPortRefusal(url, options.allowedPorts);
  const host = bareHostname(url);
  const literalFamily = isIP(host);
  let addresses: LookupAddress[];
  if (literalFamily !== 0) {
    addresses = [{ address: host, family: literalFamily }];
  } else {
    try {
      addresses = await within(
        (options.resolveHost ?? systemResolve)(host),
        resolveWithin.ms,
        resolveWithin.onTimeout,
      );
    } catch (error) {
      if (error instanceof WebhookDeliveryError) throw error;
      // Whatever DNS says later, this port is refused: no point in retrying.
      if (portRefusal && !options.allowLoopback) throw new WebhookRefusedError(portRefusal, { cause: error });
      // NXDOMAIN included: DNS for a new or migrated host is often fixed within the retry window.
      throw new WebhookDeliveryError(
        `the callback URL's host name could not be resolved (${errorCode(error) ?? 'lookup failed'})`,
        { cause: error },
      );
    }
  }
  const forbidden = addresses.filter(({ address }) => isForbiddenAddress(address, options));
  if (forbidden.length > 0) {
    throw new WebhookRefusedError(
      "the callback URL's host resolves to a private, loopback, link-local or otherwise non-public address",
      { addresses: forbidden.map(({ address }) => address) },
    );
  }
  if (portRefusal && !addresses.every(({ address }) => isLoopbackAddress(address))) {
    throw new WebhookRefusedError(portRefusal);
  }
  const [first] = addresses;
  if (!first) throw new WebhookDeliveryError("the callback URL's host name resolved to no address");
  return { url, address: first.address, family: first.family };
};

/**
 * Hands the socket the vetted address whatever it asks for, so the name cannot resolve differently
 * between the check and the connection. The request keeps the host name, so TLS still sends it as SNI and
 * verifies the certificate against it. Node asks with `all: true` when it races address families.
 */
const pinnedLookup =
  (address: string, family: number): LookupFunction =>
  (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) {
      (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, [{ address, family }]);
    } else {
      callback(null, address, family);
    }
  };

/**
 * POSTs a signed webhook to its callback URL and reports the status code. Never follows redirects,
 * bounds the whole attempt (resolution, connection, request, answer) by one timeout and reads at most
 * `maxResponseBytes` of the answer. Throws WebhookRefusedError (permanent) or WebhookDeliveryError
 * (transient).
 */
export const deliverWebhook = async (
  request: WebhookRequest,
  options: DeliveryOptions,
): Promise<DeliveryResult> => {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const started = performance.now();
  const remainingMs = () => Math.max(0, timeoutMs - (performance.now() - started));
  const onTimeout = () => timeoutError(timeoutMs);

  const target = await vetDestination(request.url, options, {
    ms: timeoutMs,
    onTimeout: () =>
      new WebhookDeliveryError(
        `the callback URL's host name could not be resolved within ${seconds(timeoutMs)}`,
      ),
  });
  const headers = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(request.body)),
    'user-agent': USER_AGENT,
    ...signWebhook(request.secrets, request.webhookId, request.timestamp ?? new Date(), request.body),
  };
  const requestOptions: RequestOptions = {
    method: 'POST',
    headers,
    lookup: pinnedLookup(target.address, target.family),
    // A fresh connection per attempt: a pooled socket could be one opened to an earlier resolution.
    agent: false,
  };
  const send = target.url.protocol === 'https:' ? httpsRequest : httpRequest;
  const statusCode = await exchange(send(target.url, requestOptions), request.body, {
    maxResponseBytes,
    timeoutMs: remainingMs(),
    onTimeout,
  });
  const durationMs = Math.round(performance.now() - started);
  if (statusCode >= 200 && statusCode < 300) return { statusCode, durationMs };
  throw new WebhookDeliveryError(describeStatus(statusCode), { statusCode });
};

const describeStatus = (statusCode: number): string =>
  statusCode >= 300 && statusCode < 400
    ? `the callback URL answered HTTP ${statusCode}, a redirect, which is not followed: point callback_url at the final URL`
    : `the callback URL answered HTTP ${statusCode}`;

/**
 * Sends the body and waits for the answer. Its body is read only to let the receiver finish, up to the
 * cap and the deadline; then the socket is destroyed either way, so a receiver can hold neither the
 * function nor its memory by streaming forever. Once the status line is in, it is the outcome: a body cut
 * short by the cap or the deadline does not change what the receiver answered.
 */
const exchange = (
  outgoing: ClientRequest,
  body: string,
  limits: { maxResponseBytes: number; timeoutMs: number; onTimeout: () => Error },
): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    let statusCode: number | undefined;
    let incoming: IncomingMessage | undefined;
    const settle = (outcome: () => void) => {
      clearTimeout(timer);
      incoming?.destroy();
      outgoing.destroy();
      outcome();
    };
    const finish = () => settle(() => resolve(statusCode ?? 0));
    const timer = setTimeout(() => {
      if (statusCode !== undefined) finish();
      else settle(() => reject(limits.onTimeout()));
    }, limits.timeoutMs);

    outgoing.once('error', (error) => {
      settle(() =>
        reject(
          new WebhookDeliveryError(
            `could not reach the callback URL (${errorCode(error) ?? 'connection failed'})`,
            {
              cause: error,
            },
          ),
        ),
      );
    });
    outgoing.once('response', (response: IncomingMessage) => {
      incoming = response;
      statusCode = response.statusCode ?? 0;
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > limits.maxResponseBytes) finish();
      });
      response.once('end', finish);
      response.once('error', finish);
      response.once('aborted', finish);
    });
    outgoing.end(body);
  });
