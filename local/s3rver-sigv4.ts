import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  type KoaContext,
  type Middleware,
  respondError,
  type S3rverInternals,
  single,
} from './s3rver-koa.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './types.ts';

/**
 * SigV4 as S3 checks it, in front of s3rver 3.7.1, whose own check of a V4 signature only looks the
 * access key up: without this a presigned PUT with another Content-Type, a tampered signature or no
 * signature at all is stored with a 200 locally and refused only once deployed. Both forms are
 * verified: query-string presigned URLs (what the API hands to browsers) and the `Authorization`
 * header (what the SDK clients of the runtime and the functions send). The canonical request is built
 * as S3 builds it: the path as sent (S3 does not encode it twice), the query sorted without
 * X-Amz-Signature, the signed headers' values trimmed with inner whitespace collapsed, and as payload
 * hash `UNSIGNED-PAYLOAD` for a presigned URL or the `x-amz-content-sha256` header otherwise (that the
 * body matches it is checked in s3rver-checksums.ts).
 *
 * Left to s3rver: V2 signatures (it verifies those itself) and the 15-minute clock skew of header
 * auth. Not verified: presigned POST forms, whose signature and policy travel in the form body.
 */

/** S3 refuses longer presigned lifetimes (seven days). */
export const MAX_PRESIGNED_EXPIRES_SECONDS = 604_800;

export interface SigV4Options {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The server's clock, for expiry. */
  now?: () => Date;
}

interface SignedRequest {
  form: 'presigned' | 'header';
  accessKeyId: string;
  /** The credential scope's parts: YYYYMMDD/region/service/aws4_request. */
  scopeDate: string;
  region: string;
  service: string;
  terminator: string;
  amzDate: string;
  signedHeaders: string[];
  signature: string;
  payloadHash: string;
  /** Presigned only. */
  expiresSeconds?: number;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, string> = {},
  ) {
    super(message);
  }
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your key and signing method.';

/** RFC 3986 unreserved characters stay, everything else is %XX: the SDK's and S3's encoding. */
const escapeUri = (value: string): string =>
  encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const decodeOr = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

const rawTarget = (ctx: KoaContext): { path: string; query: Array<[string, string]> } => {
  const at = ctx.url.indexOf('?');
  const path = at === -1 ? ctx.url : ctx.url.slice(0, at);
  const query = (at === -1 ? '' : ctx.url.slice(at + 1))
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair): [string, string] => {
      const equals = pair.indexOf('=');
      return equals === -1
        ? [decodeOr(pair), '']
        : [decodeOr(pair.slice(0, equals)), decodeOr(pair.slice(equals + 1))];
    });
  return { path, query };
};

/** Each segment decoded and encoded once again, so that any valid spelling of the key verifies. */
const canonicalUri = (path: string): string =>
  path
    .split('/')
    .map((segment) => escapeUri(decodeOr(segment)))
    .join('/');

const canonicalQuery = (query: ReadonlyArray<[string, string]>): string =>
  query
    .filter(([name]) => name !== 'X-Amz-Signature')
    .map(([name, value]) => [escapeUri(name), escapeUri(value)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');

const headerValue = (ctx: KoaContext, name: string): string | undefined => {
  const value = ctx.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};

const canonicalHeaders = (ctx: KoaContext, names: readonly string[]): string =>
  names
    .map((name) => {
      const value = headerValue(ctx, name) ?? '';
      return `${name}:${value.replace(/\s+/g, ' ').trim()}\n`;
    })
    .join('');

const CREDENTIAL_SHAPE = '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"';

const parseCredential = (credential: string, where: 'query' | 'header') => {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((part) => part === '')) {
    throw where === 'query'
      ? new Refusal(
          400,
          'AuthorizationQueryParametersError',
          `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting ${CREDENTIAL_SHAPE}.`,
        )
      : new Refusal(
          400,
          'AuthorizationHeaderMalformed',
          `The authorization header is malformed; the Credential is mal-formed; expecting ${CREDENTIAL_SHAPE}.`,
        );
  }
  const [accessKeyId = '', scopeDate = '', region = '', service = '', terminator = ''] = parts;
  return { accessKeyId, scopeDate, region, service, terminator };
};

const AMZ_DATE = /^\d{8}T\d{6}Z$/;

const amzDateToTime = (amzDate: string): number =>
  Date.UTC(
    Number(amzDate.slice(0, 4)),
    Number(amzDate.slice(4, 6)) - 1,
    Number(amzDate.slice(6, 8)),
    Number(amzDate.slice(9, 11)),
    Number(amzDate.slice(11, 13)),
    Number(amzDate.slice(13, 15)),
  );

const parsePresigned = (query: ReadonlyArray<[string, string]>): SignedRequest => {
  const param = (name: string) => query.find(([key]) => key === name)?.[1];
  if (param('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') {
    throw new Refusal(
      400,
      'AuthorizationQueryParametersError',
      'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
    );
  }
  const [credential, amzDate, expires, signedHeaders, signature] = [
    'X-Amz-Credential',
    'X-Amz-Date',
    'X-Amz-Expires',
    'X-Amz-SignedHeaders',
    'X-Amz-Signature',
  ].map(param);
  if (!credential || !amzDate || expires === undefined || !signedHeaders || !signature) {
    throw new Refusal(
      400,
      'AuthorizationQueryParametersError',
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (!AMZ_DATE.test(amzDate)) {
    throw new Refusal(
      400,
      'AuthorizationQueryParametersError',
      "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
    );
  }
  const expiresSeconds = Number(expires);
  if (!/^\d+$/.test(expires)) {
    throw new Refusal(400, 'AuthorizationQueryParametersError', 'X-Amz-Expires should be a number');
  }
  if (expiresSeconds > MAX_PRESIGNED_EXPIRES_SECONDS) {
    throw new Refusal(
      400,
      'AuthorizationQueryParametersError',
      'X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds',
    );
  }
  return {
    form: 'presigned',
    ...parseCredential(credential, 'query'),
    amzDate,
    signedHeaders: signedHeaders.split(';'),
    signature,
    // A presigned URL cannot know its body: S3 signs it as UNSIGNED-PAYLOAD unless the URL says otherwise.
    payloadHash: param('X-Amz-Content-Sha256') ?? param('x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD',
    expiresSeconds,
  };
};

const parseAuthorizationHeader = (ctx: KoaContext, authorization: string): SignedRequest => {
  const components = new Map(
    authorization
      .slice('AWS4-HMAC-SHA256'.length)
      .split(',')
      .map((component) => {
        const [name = '', ...value] = component.trim().split('=');
        return [name, value.join('=')] as const;
      }),
  );
  const credential = components.get('Credential');
  const signedHeaders = components.get('SignedHeaders');
  const signature = components.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    throw new Refusal(
      400,
      'AuthorizationHeaderMalformed',
      'The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.',
    );
  }
  const payloadHash = headerValue(ctx, 'x-amz-content-sha256');
  if (!payloadHash) {
    throw new Refusal(
      400,
      'InvalidRequest',
      'Missing required header for this request: x-amz-content-sha256',
    );
  }
  const amzDate = headerValue(ctx, 'x-amz-date') ?? '';
  if (!AMZ_DATE.test(amzDate)) {
    throw new Refusal(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  return {
    form: 'header',
    ...parseCredential(credential, 'header'),
    amzDate,
    signedHeaders: signedHeaders.split(';'),
    signature,
    payloadHash,
  };
};

const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

const verify = (ctx: KoaContext, signed: SignedRequest, options: SigV4Options, now: Date): void => {
  if (signed.accessKeyId !== options.accessKeyId) {
    throw new Refusal(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
      {
        AWSAccessKeyId: signed.accessKeyId,
      },
    );
  }
  const malformed =
    signed.form === 'presigned' ? 'AuthorizationQueryParametersError' : 'AuthorizationHeaderMalformed';
  const where =
    signed.form === 'presigned'
      ? 'Error parsing the X-Amz-Credential parameter;'
      : 'The authorization header is malformed;';
  if (signed.region !== options.region) {
    throw new Refusal(
      400,
      malformed,
      `${where} the region '${signed.region}' is wrong; expecting '${options.region}'`,
      {
        Region: options.region,
      },
    );
  }
  if (signed.service !== 's3' || signed.terminator !== 'aws4_request') {
    throw new Refusal(
      400,
      malformed,
      `${where} incorrect service or terminal "${signed.service}/${signed.terminator}".`,
    );
  }
  if (signed.scopeDate !== signed.amzDate.slice(0, 8)) {
    throw new Refusal(
      400,
      malformed,
      `${where} Invalid credential date. Date is not the same as X-Amz-Date.`,
    );
  }
  if (signed.expiresSeconds !== undefined) {
    const expiresAt = amzDateToTime(signed.amzDate) + signed.expiresSeconds * 1000;
    if (now.getTime() > expiresAt) {
      throw new Refusal(403, 'AccessDenied', 'Request has expired', {
        'X-Amz-Expires': String(signed.expiresSeconds),
        Expires: new Date(expiresAt).toISOString().replace(/\.\d+Z$/, 'Z'),
        ServerTime: now.toISOString().replace(/\.\d+Z$/, 'Z'),
      });
    }
    // A presigned URL binds every x-amz-* header the request carries.
    const unsigned = Object.keys(ctx.headers).filter(
      (name) => name.startsWith('x-amz-') && !signed.signedHeaders.includes(name),
    );
    if (unsigned.length > 0) {
      throw new Refusal(
        403,
        'AccessDenied',
        'There were headers present in the request which were not signed',
        {
          HeadersNotSigned: unsigned.join(', '),
        },
      );
    }
  }

  const { path, query } = rawTarget(ctx);
  const canonicalRequest = [
    ctx.method,
    canonicalUri(path),
    canonicalQuery(query),
    canonicalHeaders(ctx, signed.signedHeaders),
    signed.signedHeaders.join(';'),
    signed.payloadHash,
  ].join('\n');
  const scope = `${signed.scopeDate}/${signed.region}/${signed.service}/${signed.terminator}`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    signed.amzDate,
    scope,
    createHash('sha256').update(canonicalRequest).digest('hex'),
  ].join('\n');
  let key: Buffer = hmac(`AWS4${options.secretAccessKey}`, signed.scopeDate);
  for (const part of [signed.region, signed.service, signed.terminator]) key = hmac(key, part);
  const expected = Buffer.from(hmac(key, stringToSign).toString('hex'));
  const provided = Buffer.from(signed.signature);
  if (expected.length !== provided.length || !timingSafeEqual(expected, provided)) {
    throw new Refusal(403, 'SignatureDoesNotMatch', SIGNATURE_MISMATCH, {
      AWSAccessKeyId: signed.accessKeyId,
      StringToSign: stringToSign,
      SignatureProvided: signed.signature,
      CanonicalRequest: canonicalRequest,
    });
  }
};

/**
 * A browser form upload to a bucket (presigned POST): its policy and signature are in the body, which
 * s3rver does not check. The pipeline never uses one, so it is refused rather than let through
 * unverified (a cross-origin form needs no preflight: any page could otherwise write any key).
 */
const isFormPost = (ctx: KoaContext): boolean =>
  ctx.method === 'POST' &&
  /^\/[^/]+\/?$/.test(ctx.path) &&
  (headerValue(ctx, 'content-type') ?? '').startsWith('multipart/form-data');

/** Authenticates every request before s3rver sees it. Install it in front of the other middleware. */
export const sigV4Authentication = (options: SigV4Options): Middleware => {
  const clock = options.now ?? (() => new Date());
  return async (ctx, next) => {
    // CORS preflights are never signed; s3rver answers them from the bucket's CORS rules.
    if (ctx.method === 'OPTIONS') return next();
    const authorization = single(ctx.headers.authorization);
    const { query } = rawTarget(ctx);
    const presigned = query.some(([name]) => name === 'X-Amz-Algorithm');
    const signedV2 = query.some(([name]) => name === 'Signature') || authorization?.startsWith('AWS ');
    try {
      if (authorization && presigned) {
        throw new Refusal(
          400,
          'InvalidArgument',
          'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
        );
      }
      if (isFormPost(ctx)) {
        throw new Refusal(
          403,
          'AccessDenied',
          'Browser form uploads (presigned POST) are not verified by the local S3, so it refuses them; use a presigned PUT',
        );
      }
      if (signedV2) return next();
      if (!authorization && !presigned) throw new Refusal(403, 'AccessDenied', 'Access Denied');
      let signed: SignedRequest;
      if (presigned) {
        signed = parsePresigned(query);
      } else if (authorization?.startsWith('AWS4-HMAC-SHA256 ')) {
        signed = parseAuthorizationHeader(ctx, authorization);
      } else {
        throw new Refusal(400, 'InvalidArgument', 'Unsupported Authorization Type', {
          ArgumentName: 'Authorization',
          ArgumentValue: authorization ?? '',
        });
      }
      verify(ctx, signed, options, clock());
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return respondError(ctx, error.status, error.code, error.message, error.details);
    }
    return next();
  };
};

/** SigV4 with the local credentials (S3RVER / S3RVER, us-east-1), first in s3rver's middleware. */
export const addSigV4Authentication = (
  server: S3rverInternals,
  options: SigV4Options = { ...LOCAL_CREDENTIALS, region: LOCAL_REGION },
): void => {
  server.middleware.unshift(sigV4Authentication(options));
};
