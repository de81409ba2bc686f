import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The page's routes and the file of the function's asset each one serves (web/build.ts writes them).
 * The stack declares one HTTP API route per entry (lib/web-page.ts).
 */
export const PAGE_ROUTES = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', contentType: 'text/javascript; charset=utf-8' },
  '/app.css': { file: 'app.css', contentType: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', contentType: 'image/svg+xml; charset=utf-8' },
} as const;

export type PagePath = keyof typeof PAGE_ROUTES;

export const isPagePath = (path: string): path is PagePath => Object.hasOwn(PAGE_ROUTES, path);

export interface PageFile {
  readonly body: string;
  readonly contentType: string;
  /** A strong validator of the content. */
  readonly etag: string;
  /** The first 12 hex digits of the content's SHA-256, as web/build.ts writes it into the page's references. */
  readonly version: string;
}

export type PageFiles = Readonly<Record<PagePath, PageFile>>;

/** Reads the page's files once, at cold start: a missing one fails the function's first invocation. */
export const loadPageFiles = (directory: string): PageFiles => {
  const entries = Object.entries(PAGE_ROUTES).map(([path, { file, contentType }]) => {
    const body = readFileSync(join(directory, file), 'utf8');
    const digest = createHash('sha256').update(body).digest();
    const page: PageFile = {
      body,
      contentType,
      etag: `"${digest.toString('base64url').slice(0, 22)}"`,
      version: digest.toString('hex').slice(0, 12),
    };
    return [path, page];
  });
  return Object.fromEntries(entries) as Record<PagePath, PageFile>;
};

export interface PageRequest {
  readonly path: PagePath;
  /** The `v` query parameter of a script or style sheet reference. */
  readonly version?: string | undefined;
  /** If-None-Match, as the browser sent it. */
  readonly ifNoneMatch?: string | undefined;
}

export interface PageResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A year, and `immutable`: a versioned URL never changes its content. */
const VERSIONED = 'public, max-age=31536000, immutable';
/** The HTML (and an unversioned or outdated reference) is revalidated on every use: a 304 is cheap. */
const REVALIDATE = 'no-cache';

/**
 * Headers that hold for every file of the page. The CSP matters on the HTML; on the others it costs
 * nothing and covers a file opened on its own.
 */
export const securityHeaders = (policy: string): Record<string, string> => ({
  'content-security-policy': policy,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  // API Gateway serves HTTPS only; browsers ignore this header over plain HTTP (the local runtime).
  'strict-transport-security': 'max-age=31536000',
});

const matchesEtag = (ifNoneMatch: string | undefined, etag: string): boolean =>
  (ifNoneMatch ?? '').split(',').some((candidate) => {
    const tag = candidate.trim().replace(/^W\//, '');
    return tag === '*' || tag === etag;
  });

/**
 * Answers a request for one of the page's files: 304 when the browser's copy is current, else the file.
 * A file the page references by its current version (script, style sheet, icon) is cached for good;
 * the page itself, and anything asked for without its current version, revalidates.
 */
export const servePage = (files: PageFiles, request: PageRequest, policy: string): PageResponse => {
  const file = files[request.path];
  const cacheControl = request.path !== '/' && request.version === file.version ? VERSIONED : REVALIDATE;
  const headers = {
    ...securityHeaders(policy),
    'cache-control': cacheControl,
    etag: file.etag,
  };
  if (matchesEtag(request.ifNoneMatch, file.etag)) return { statusCode: 304, headers, body: '' };
  return { statusCode: 200, headers: { ...headers, 'content-type': file.contentType }, body: file.body };
};
