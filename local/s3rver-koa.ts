/**
 * What the middleware in front of s3rver 3.7.1's router share: the slice of Koa's context they use,
 * the parts of s3rver's internals they reach, and the one way they refuse a request, as S3 does.
 */

export interface KoaContext {
  method: string;
  /** The path as sent, still percent-encoded (Koa does not decode it). */
  path: string;
  /** The request target as sent: path and raw query string. */
  url: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  req: NodeJS.ReadableStream;
  status: number;
  body: unknown;
  type: string;
  set(field: string, value: string): void;
}
export type Middleware = (ctx: KoaContext, next: () => Promise<unknown>) => Promise<unknown>;

/** The parts of s3rver these touch: Koa's middleware list and the filesystem store. */
export interface S3rverInternals {
  middleware: Middleware[];
  store: {
    getResourcePath(bucket: string, key: string | undefined, resource: string): string;
    /** Rejects with ENOENT when the object does not exist. */
    getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
  };
}

export const xmlEscape = (value: string): string => value.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Answers with S3's XML error. `details` become elements after Message, as S3 adds them (Condition,
 * StringToSign, …). The Origin is echoed so that a browser page can read the refusal: these answers
 * leave before s3rver's CORS middleware would add it.
 */
export const respondError = (
  ctx: KoaContext,
  status: number,
  code: string,
  message: string,
  details: Record<string, string> = {},
): void => {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.set('x-amz-error-code', code);
  const origin = ctx.headers.origin;
  if (typeof origin === 'string') {
    ctx.set('access-control-allow-origin', origin);
    ctx.set('vary', 'Origin');
  }
  const extra = Object.entries(details)
    .map(([name, value]) => `<${name}>${xmlEscape(value)}</${name}>`)
    .join('');
  // Koa sends no body for HEAD: the SDK then names the error by its status (412 PreconditionFailed).
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${extra}</Error>`;
};

export const single = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** Path-style requests only (the emulators run with vhostBuckets: false): /<bucket>/<key>, decoded. */
export const objectOf = (ctx: KoaContext): { bucket: string; key: string } | undefined => {
  const match = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
  if (!match) return undefined;
  try {
    return { bucket: decodeURIComponent(match[1] ?? ''), key: decodeURIComponent(match[2] ?? '') };
  } catch {
    return undefined;
  }
};
