import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPageFiles, type PageFiles, servePage } from '../../functions/web/serve-page.ts';

const POLICY = "default-src 'none'";

let directory: string;
let files: PageFiles;

beforeAll(() => {
  // Prepare: the files web/build.ts puts into the function's asset.
  directory = mkdtempSync(join(tmpdir(), 'web-page-'));
  writeFileSync(join(directory, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(directory, 'app.js'), 'console.log(1);');
  writeFileSync(join(directory, 'app.css'), 'body{margin:0}');
  writeFileSync(join(directory, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  files = loadPageFiles(directory);
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('servePage', () => {
  it.each([
    ['/', 'text/html; charset=utf-8', '<!doctype html><title>t</title>'],
    ['/app.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['/app.css', 'text/css; charset=utf-8', 'body{margin:0}'],
    ['/favicon.svg', 'image/svg+xml; charset=utf-8', '<svg xmlns="http://www.w3.org/2000/svg"/>'],
  ] as const)('serves %s as %s with the security headers', (path, contentType, body) => {
    // Act
    const response = servePage(files, { path }, POLICY);
    // Assess
    expect(response).toMatchObject({ statusCode: 200, body });
    expect(response.headers).toMatchObject({
      'content-type': contentType,
      'content-security-policy': POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      etag: expect.stringMatching(/^"[\w-]{22}"$/),
    });
  });

  it('makes the page revalidate on every visit, so a deployment shows at once', () => {
    expect(servePage(files, { path: '/' }, POLICY).headers['cache-control']).toBe('no-cache');
  });

  it('caches a script or style sheet for a year when asked for by its current version', () => {
    // Act
    const current = servePage(files, { path: '/app.js', version: files['/app.js'].version }, POLICY);
    const outdated = servePage(files, { path: '/app.js', version: '000000000000' }, POLICY);
    const unversioned = servePage(files, { path: '/app.css' }, POLICY);
    // Assess
    expect(current.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(outdated.headers['cache-control']).toBe('no-cache');
    expect(outdated.body).toBe('console.log(1);');
    expect(unversioned.headers['cache-control']).toBe('no-cache');
  });

  it('answers 304 without a body when the browser’s copy is current', () => {
    // Prepare
    const { etag } = files['/'];
    // Act
    const response = servePage(files, { path: '/', ifNoneMatch: `"stale", W/${etag}` }, POLICY);
    // Assess
    expect(response).toMatchObject({ statusCode: 304, body: '' });
    expect(response.headers).toMatchObject({
      etag,
      'cache-control': 'no-cache',
      'content-security-policy': POLICY,
    });
    expect(servePage(files, { path: '/', ifNoneMatch: '"stale"' }, POLICY).statusCode).toBe(200);
  });

  it('versions each file by its content, as web/build.ts writes the references', () => {
    expect(files['/app.js'].version).toMatch(/^[0-9a-f]{12}$/);
    expect(files['/app.js'].version).not.toBe(files['/app.css'].version);
  });
});
