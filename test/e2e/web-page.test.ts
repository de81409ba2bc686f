import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Browser, chromium, type FileChooser, type Locator, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT } from '#lib/paths';
import { makeJpeg, makeMp4, makePng } from '#test/media';
import { apiKey, apiUrl, call, type JobView, otherApiKey } from './client.ts';

/**
 * The upload page (web/) in a real headless Chromium, against the target's root URL: what a person
 * does with it, through the same controls (labelled inputs and buttons), and what they see.
 *
 * The browser is Debian's chromium (`.ci/run` installs it). Without it the suite is skipped, unless
 * E2E_REQUIRE_CHROMIUM=true (CI) makes its absence a failure. It is skipped too when the target's API
 * URL is a Lambda function URL (LocalStack's free image, lib/localstack-target.ts): the page is served
 * by the HTTP API, which that target does not have.
 */
const CHROMIUM = process.env.E2E_CHROMIUM_PATH ?? '/usr/bin/chromium';
const chromiumRequired = process.env.E2E_REQUIRE_CHROMIUM === 'true';
const servedByFunctionUrl = new URL(inject('e2e').apiUrl).hostname.includes('.lambda-url.');
const SCREENSHOT = join(PROJECT_ROOT, 'test-results', 'web-page.png');

/** For what the page shows once the API answers (the first calls start the functions' workers). */
const SOON = { timeout: 20_000, interval: 100 };

/** Files larger than this are not worth sending through a browser in a test. */
const LARGEST_MULTIPART_TEST_FILE = 64 * 1024 * 1024;

/**
 * This run's name for a file the tests send. The page lists the tenant's recent jobs on load, and the
 * tenant's jobs from other test files and from earlier runs against the same target have the same file
 * names: named for this run, the card of a file a test sends is the one list item with its name.
 */
const RUN = randomUUID().slice(0, 8);
const runFile = (name: string): string => name.replace(/(\.\w+)$/, `-${RUN}$1`);
/** A file name as a regular expression's literal text. */
const literal = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const HARBOUR_JPG = runFile('harbour.jpg');
const WAVES_MP4 = runFile('waves.mp4');
const DROPPED_PNG = runFile('dropped.png');
/** Sent by the refusal test, retried by the next one. */
const NOTES_JPG = runFile('notes.jpg');
const NOTES_TXT = runFile('notes.txt');
const PANORAMA_PNG = runFile('panorama.png');
const KEPT_PNG = runFile('kept.png');

describe.skipIf((!existsSync(CHROMIUM) && !chromiumRequired) || servedByFunctionUrl)(
  'the upload page in Chromium',
  () => {
    let browser: Browser;
    let page: Page;
    /** Console errors that name the Content-Security-Policy, and uncaught exceptions: both must stay empty. */
    const policyViolations: string[] = [];
    const pageErrors: string[] = [];
    /** `METHOD path?query` of every request the page made, to tell a multipart upload from a single PUT. */
    const requests: string[] = [];
    /**
     * Every file picker the page opened. Listening from the start, not with `waitForEvent` just before
     * the key press: Playwright turns Chromium's file-chooser interception on asynchronously when the
     * first listener arrives, and under load a key press could win that race (seen in CI), opening a
     * native picker that no event reports.
     */
    const fileChoosers: FileChooser[] = [];

    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
          policyViolations.push(message.text());
        }
      });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('filechooser', (chooser) => fileChoosers.push(chooser));
      page.on('request', (request) => {
        const url = new URL(request.url());
        requests.push(`${request.method()} ${url.pathname}${url.search}`);
      });
    });

    afterAll(async () => {
      // The artifact: the page as it was left, with every upload the tests made (test-results/ is git-ignored).
      if (page) {
        mkdirSync(dirname(SCREENSHOT), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => undefined);
      }
      await browser?.close();
    });

    /**
     * The card of one file, found as a screen reader would: the list item named after the file (a name
     * of this run, see `runFile`: the locator's strictness then also says the page shows the file once).
     */
    const upload = (fileName: string): Locator => page.getByRole('listitem', { name: fileName, exact: true });
    const statusOf = (item: Locator): Locator => item.locator('.status-label');

    /** Every picture of the card has loaded (decoded with a width), in the browser. */
    const loadedWidths = (item: Locator): Promise<number[]> =>
      item
        .getByRole('img')
        .evaluateAll((images) => images.map((image) => (image as HTMLImageElement).naturalWidth));

    const chooseFiles = (files: { name: string; mimeType: string; buffer: Buffer }[]) =>
      page.getByLabel('Choose files to upload').setInputFiles(files);

    /** The page's key form, as a person finds it: the labelled field and its button. */
    const keyField = (): Locator => page.getByLabel('API key or token');
    const enterKey = async (key: string) => {
      await keyField().fill(key);
      await page.getByRole('button', { name: 'Use this key' }).click();
    };

    it('loads from the API root with its CSP, asks for a key, lists the presets, and labels every control', async () => {
      // Act
      // The root of the stage: a deployed stack's ApiUrl ends with a slash, the local runtime's does not.
      const response = await page.goto(apiUrl().replace(/\/?$/, '/'));
      // Assess
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-type']).toBe('text/html; charset=utf-8');
      expect(response?.headers()['content-security-policy']).toMatch(/default-src 'none'; script-src 'self'/);
      const key = apiKey();
      if (key) {
        // The API refused the page's first call without a key: the page asks for one, with the focus on it.
        await expect.poll(() => keyField().isVisible(), SOON).toBe(true);
        expect(await keyField().getAttribute('type')).toBe('password');
        expect(await keyField().evaluate((input) => input === document.activeElement)).toBe(true);
        expect(await page.locator('#key-error').textContent()).toMatch(/none was sent: enter an API key/);
        expect(await page.getByLabel('Preset').isEnabled()).toBe(false);
        // A key the API does not know is refused, and the page asks again, saying why.
        await enterKey(`mpk_000000000000_${'A'.repeat(43)}`);
        await expect
          .poll(
            () =>
              page
                .getByRole('alert')
                .filter({ hasText: /unknown or revoked/ })
                .count(),
            SOON,
          )
          .toBe(1);
        expect(await keyField().isVisible()).toBe(true);
        await enterKey(key);
        await expect.poll(() => keyField().isVisible(), SOON).toBe(false);
        expect(await page.locator('#key-description').textContent()).toMatch(/^Using (an )?API key /);
        expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([key]);
      }
      await expect.poll(() => page.getByLabel('Preset').isEnabled(), SOON).toBe(true);
      expect(await keyField().isVisible()).toBe(false);
      const presets = await call<{ presets: { name: string }[] }>('GET', '/api/presets/');
      expect(await page.getByLabel('Preset').locator('option').allTextContents()).toEqual(
        presets.body.presets.map((preset) => preset.name),
      );
      expect(await page.getByLabel('Callback URL').getAttribute('type')).toBe('url');
      expect(await page.getByLabel('Choose files to upload').getAttribute('type')).toBe('file');
      expect(await page.getByRole('status').getAttribute('aria-live')).toBe('polite');
      expect(await page.locator('#limits-hint').textContent()).toMatch(
        /^Images up to 50 MiB, videos up to 5 GiB/,
      );
    });

    it('reaches the preset, the callback URL and the file picker with the keyboard alone, before the listed jobs', async () => {
      // Prepare: the page as a person arriving finds it, nothing focused (the key is kept in this tab), with
      // the tenant's recent jobs listed: whatever other test files and earlier runs left, maybe none.
      const recent = await call<{ items: { id: string }[] }>('GET', '/api/media/?limit=20');
      expect(recent.status).toBe(200);
      await page.reload();
      await expect.poll(() => page.getByLabel('Preset').isEnabled(), SOON).toBe(true);
      await expect
        .poll(
          () =>
            page
              .locator('#uploads > li')
              .evaluateAll((cards) => cards.map((card) => card.getAttribute('data-job-id'))),
          SOON,
        )
        .toEqual(recent.body.items.map((job) => job.id));
      expect(await keyField().isVisible()).toBe(false);
      const tab = async (): Promise<string> => {
        await page.keyboard.press('Tab');
        return page.evaluate(() => document.activeElement?.id || document.activeElement?.className || '');
      };

      // Act: Tab from the top of the page, past the skip link.
      const focused: string[] = [];
      for (let step = 0; step < 4; step++) focused.push(await tab());

      // Assess: the file input is focusable (visually hidden, not display:none); its drop zone shows the focus.
      expect(focused).toEqual(['skip-link', 'preset', 'callback-url', 'file-input']);
      expect(await page.locator('#drop-zone').evaluate((zone) => zone.matches(':focus-within'))).toBe(true);
      // Enter on the focused input opens the file picker.
      const openedBefore = fileChoosers.length;
      await page.keyboard.press('Enter');
      await expect.poll(() => fileChoosers.length, SOON).toBe(openedBefore + 1);

      // Then the key's Forget button (when the API wants a key), then the first listed job's first control
      // (an output's link, a Retry), or out of the page when none has one: the page's own controls first.
      if (apiKey()) expect(await tab()).toBe('forget-key');
      await page.keyboard.press('Tab');
      expect(
        await page.evaluate(() => {
          const first = document.querySelector<HTMLElement>('#uploads :is(a[href], button)');
          return first ? document.activeElement === first : document.activeElement === document.body;
        }),
      ).toBe(true);

      // A click anywhere on the drop zone's label opens the file picker too.
      await page.getByText('or drop them here').click();
      await expect.poll(() => fileChoosers.length, SOON).toBe(openedBefore + 2);
      expect(fileChoosers.slice(openedBefore).map((chooser) => chooser.isMultiple())).toEqual([true, true]);
    });

    it('uploads an image and a video picked together, then shows the variants, the poster and the metadata', async () => {
      // Prepare: bytes no other test sends (a duplicate would show another job's outputs, which is fine, but not this test's point).
      const photo = await makeJpeg(1600, 1280, 77);
      const clip = await makeMp4(2, '480x270');
      // Act
      await chooseFiles([
        { name: HARBOUR_JPG, mimeType: 'image/jpeg', buffer: photo },
        { name: WAVES_MP4, mimeType: 'video/mp4', buffer: clip },
      ]);
      // Assess: each upload's progress bar, then each job to done.
      const image = upload(HARBOUR_JPG);
      const video = upload(WAVES_MP4);
      await expect.poll(() => statusOf(image).textContent(), { timeout: 60_000, interval: 250 }).toBe('Done');
      await expect.poll(() => statusOf(video).textContent(), { timeout: 90_000, interval: 250 }).toBe('Done');
      for (const item of [image, video]) {
        expect(await item.getByRole('progressbar').getAttribute('value')).toBe('100');
        expect(await item.getByText(/^Refused|^Failed/).count()).toBe(0);
      }

      // The three variants of the default preset, loaded from their presigned URLs, with their sizes.
      expect(
        await image.getByRole('img').evaluateAll((images) => images.map((i) => i.getAttribute('alt'))),
      ).toEqual([
        `thumb variant of ${HARBOUR_JPG}, 150 × 120`,
        `medium variant of ${HARBOUR_JPG}, 800 × 640`,
        `large variant of ${HARBOUR_JPG}, 1600 × 1280`,
      ]);
      await expect.poll(() => loadedWidths(image), SOON).toEqual([150, 800, 1600]);
      const captions = await image.locator('figcaption').allTextContents();
      expect(captions[0]).toMatch(/^thumb 150 × 120 · JPEG · [\d.]+ KiB$/);
      expect(await image.locator('.results-summary').textContent()).toBe(
        'Original 1600 × 1280 JPEG · 3 variants',
      );

      // The poster (never enlarged: the video is 480 px wide) and what ffprobe said.
      await expect.poll(() => loadedWidths(video), SOON).toEqual([480]);
      expect(await video.getByRole('img').getAttribute('alt')).toBe(`Poster of ${WAVES_MP4} at 1 s`);
      const metadata = await video.getByRole('definition').allTextContents();
      const terms = await video.getByRole('term').allTextContents();
      expect(Object.fromEntries(terms.map((term, index) => [term, metadata[index]]))).toMatchObject({
        Duration: '0:02',
        Resolution: '480 × 270',
        'Video codec': 'h264',
        'Frame rate': '25 fps',
        'Audio codec': 'aac',
        Container: 'mp4',
      });
      await expect.poll(() => page.getByRole('status').textContent(), SOON).toMatch(/: Done$/);
      expect(policyViolations).toEqual([]);
      expect(pageErrors).toEqual([]);
    });

    it('takes files dropped on the drop zone', async () => {
      // Prepare: what a file dragged from the desktop carries, made in the page.
      const bytes = (await makePng(640, 400, false)).toString('base64');
      const dataTransfer = await page.evaluateHandle(
        ([base64, name]) => {
          const transfer = new DataTransfer();
          const data = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
          transfer.items.add(new File([data], name, { type: 'image/png' }));
          return transfer;
        },
        [bytes, DROPPED_PNG] as const,
      );
      // Act
      await page.locator('#drop-zone').dispatchEvent('dragenter', { dataTransfer });
      expect(await page.locator('#drop-zone').getAttribute('class')).toContain('is-dragging');
      await page.locator('#drop-zone').dispatchEvent('drop', { dataTransfer });
      // Assess
      const item = upload(DROPPED_PNG);
      await expect.poll(() => statusOf(item).textContent(), { timeout: 60_000, interval: 250 }).toBe('Done');
      expect(await page.locator('#drop-zone').getAttribute('class')).not.toContain('is-dragging');
      await expect.poll(() => loadedWidths(item), SOON).toEqual([150, 640, 640]);
    });

    it('shows the API’s reason for a file it refuses, and the job’s error for a file ingest rejects', async () => {
      // Prepare
      const text = Buffer.from('These are meeting notes, not a photograph.\n'.repeat(40));
      // Act
      await chooseFiles([
        { name: NOTES_JPG, mimeType: 'image/jpeg', buffer: text },
        { name: NOTES_TXT, mimeType: 'text/plain', buffer: text },
      ]);
      // Assess: refused at once by POST /api/media/ (the preset does not accept text/plain)…
      const refused = upload(NOTES_TXT);
      await expect.poll(() => statusOf(refused).textContent(), { timeout: 30_000 }).toBe('Refused');
      expect(await refused.locator('.error').textContent()).toMatch(/text\/plain/);
      expect(await refused.getByRole('button', { name: /Retry/ }).count()).toBe(0);
      // …and failed by ingest, which sniffs the bytes whatever the name says, with the job's own error.
      const failed = upload(NOTES_JPG);
      await expect
        .poll(() => statusOf(failed).textContent(), { timeout: 60_000, interval: 250 })
        .toBe('Failed');
      const jobId = await failed.getAttribute('data-job-id');
      const job = await call<JobView & { file_name: string }>('GET', `/api/media/${jobId}/`);
      expect(job.body.file_name).toBe(NOTES_JPG);
      expect(job.body.error).toMatch(/not an image or video this service can process/);
      expect((await failed.locator('.error').textContent())?.toLowerCase()).toContain(
        job.body.error?.toLowerCase(),
      );
      // No run can change a refused upload: the card offers no Retry.
      expect(job.body.retryable).toBe(false);
      expect(await failed.getByRole('button', { name: /Retry/ }).count()).toBe(0);
      expect(policyViolations).toEqual([]);
    });

    it('retries a failed job from the keyboard and shows why the API refuses it', async () => {
      // Prepare: a listing that went stale shows the refused upload as retryable (the page offers Retry
      // only then), so that the API's refusal is what the page meets; a reload lists the jobs again.
      const jobId = await upload(NOTES_JPG).getAttribute('data-job-id');
      await page.route(/\/api\/media\/(\?[^/]*)?$/, async (route) => {
        if (route.request().method() !== 'GET') return route.fallback();
        const response = await route.fetch();
        const listing = (await response.json()) as { items: JobView[] };
        const items = listing.items.map((item) => (item.id === jobId ? { ...item, retryable: true } : item));
        return route.fulfill({ response, json: { ...listing, items } });
      });
      await page.reload();
      const failed = upload(NOTES_JPG);
      const retry = failed.getByRole('button', { name: `Retry ${NOTES_JPG}` });
      await expect.poll(() => retry.count(), SOON).toBe(1);
      await page.unroute(/\/api\/media\/(\?[^/]*)?$/);
      // Act
      await retry.focus();
      await page.keyboard.press('Enter');
      // Assess: nothing to retry in a refused upload (409), and the page says so in the API's words.
      await expect
        .poll(() => failed.locator('.retry-note').textContent(), SOON)
        .toMatch(/^Retry refused: Job [\w-]+ cannot be retried: the upload was refused/);
      // The button's description is the card's error and the refusal: what a screen reader says with it.
      expect(await retry.getAttribute('aria-describedby')).toMatch(/-error .*-retry-note$/);
      await expect
        .poll(() => page.getByRole('status').textContent(), SOON)
        .toMatch(new RegExp(`${literal(NOTES_JPG)}: .*Retry refused`));
      expect(await retry.isEnabled()).toBe(true);
      // The keyboard focus stays on the button: the card is updated around it.
      expect(await retry.evaluate((button) => button === document.activeElement)).toBe(true);
    });

    it('sends a file over the multipart threshold in parts, then shows its variants', async (context) => {
      // Prepare: a PNG of noise, stored without compression, just over the target's threshold.
      const presets = await call<{ limits: { multipart_threshold_bytes?: number } }>('GET', '/api/presets/');
      const threshold = presets.body.limits.multipart_threshold_bytes;
      if (!threshold || threshold > LARGEST_MULTIPART_TEST_FILE) {
        return context.skip(
          `the target's multipart threshold (${threshold ?? 'none'}) is too high for a browser test`,
        );
      }
      const width = 2048;
      const height = Math.ceil((threshold + 512 * 1024) / (width * 3 + 1));
      const large = await sharp({
        create: {
          width,
          height,
          channels: 3,
          background: { r: 90, g: 120, b: 150 },
          noise: { type: 'gaussian', mean: 128, sigma: 50 },
        },
      })
        .png({ compressionLevel: 0 })
        .toBuffer();
      expect(large.length).toBeGreaterThan(threshold);
      requests.length = 0;
      // Act
      await chooseFiles([{ name: PANORAMA_PNG, mimeType: 'image/png', buffer: large }]);
      // Assess
      const item = upload(PANORAMA_PNG);
      await expect.poll(() => statusOf(item).textContent(), { timeout: 90_000, interval: 250 }).toBe('Done');
      const jobId = await item.getAttribute('data-job-id');
      const partPuts = requests.filter((request) => /^PUT .*[?&]partNumber=\d+/.test(request));
      expect(partPuts.length).toBeGreaterThanOrEqual(2);
      expect(requests).toContain(`POST /api/media/${jobId}/upload/complete`);
      expect(await item.locator('.file-meta').textContent()).toMatch(/ · sent in \d+ parts$/);
      const job = await call<JobView>('GET', `/api/media/${jobId}/`);
      const variants = (job.body.result as { variants: { width: number }[] }).variants;
      expect(variants.map((variant) => variant.width)).toEqual([150, 800, 1600]);
      await expect.poll(() => loadedWidths(item), SOON).toEqual([150, 800, 1600]);
      expect(policyViolations).toEqual([]);
      expect(pageErrors).toEqual([]);
    });

    it('lists the tenant’s recent jobs after a reload, and forgets the key (and its jobs) on request', async () => {
      // Prepare: a fresh upload, done
      const bytes = await makePng(480, 320, false);
      await chooseFiles([{ name: KEPT_PNG, mimeType: 'image/png', buffer: bytes }]);
      const before = upload(KEPT_PNG);
      await expect
        .poll(() => statusOf(before).textContent(), { timeout: 60_000, interval: 250 })
        .toBe('Done');
      const jobId = await before.getAttribute('data-job-id');
      requests.length = 0;

      // Act: the page loads again in the same tab
      await page.reload();

      // Assess: no key asked again (this tab keeps it), and the job is listed with its outputs
      const after = upload(KEPT_PNG);
      await expect.poll(() => after.count(), SOON).toBe(1);
      expect(await keyField().isVisible()).toBe(false);
      expect(requests).toContain('GET /api/media/?limit=20');
      expect(await after.getAttribute('data-job-id')).toBe(jobId);
      expect(await statusOf(after).textContent()).toBe('Done');
      await expect.poll(() => loadedWidths(after), SOON).toEqual([150, 480, 480]);
      // Listed without its file: nothing to upload again, but the job can be shown as it is.
      expect(await after.getByRole('button', { name: /Upload again/ }).count()).toBe(0);
      expect(policyViolations).toEqual([]);
      expect(pageErrors).toEqual([]);

      const key = apiKey();
      if (!key) return;
      // Act: forget the key
      await page.getByRole('button', { name: 'Forget key' }).click();

      // Assess: the key and the tenant's jobs leave the page, and it asks for a key again
      expect(await page.evaluate(() => Object.values(sessionStorage))).toEqual([]);
      expect(await upload(KEPT_PNG).count()).toBe(0);
      expect(await keyField().isVisible()).toBe(true);

      const other = otherApiKey();
      if (other) {
        // Another tenant's key: its page lists none of the first tenant's jobs.
        requests.length = 0;
        await enterKey(other);
        await expect.poll(() => requests.includes('GET /api/media/?limit=20'), SOON).toBe(true);
        await expect.poll(() => page.getByLabel('Preset').isEnabled(), SOON).toBe(true);
        expect(await page.locator(`[data-job-id="${jobId}"]`).count()).toBe(0);
        await page.getByRole('button', { name: 'Forget key' }).click();
      }
      // The suite's key again, for whatever runs next.
      await enterKey(key);
      await expect.poll(() => upload(KEPT_PNG).count(), SOON).toBe(1);
    });
  },
);
