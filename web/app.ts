import {
  createMediaClient,
  type JobView,
  MediaApiError,
  type MediaClient,
  MediaUploadError,
  type PresetsResponse,
  type UploadResult,
} from '../client/media-client.ts';
import { credentialFrom, describeCredential, sessionCredential } from './credentials.ts';
import { byId, h } from './dom.ts';
import { formatBytes, formatPercent, formatSpan } from './format.ts';
import { renderResults } from './results.ts';

/**
 * The upload page: pick or drop files, and each one is uploaded with the chosen preset (straight to
 * S3 through the typed client), then its job is followed until its outputs or its error can be shown.
 * Everything the page says comes from the API: the presets and limits, the refusal of a file, a job's
 * `error`, whether it can be retried (`retryable`), the reason a retry is refused. The API wants a key or a token (unless deployed with
 * `auth: none`): the page asks for one when the API refuses a request without it, keeps it in this
 * tab's sessionStorage, and lists the tenant's recent jobs on load, so a reload loses none.
 */

/** Uploads in flight at once; more files wait their turn (each multipart upload is parallel itself). */
const PARALLEL_UPLOADS = 3;
/** Jobs listed on load: the tenant's most recent. */
const RECENT_JOBS = 20;
/** Polling of a job: quick at first, slower while it stays in one status. */
const POLL_FIRST_MS = 700;
const POLL_MAX_MS = 4000;

/** sessionStorage, unless the browser refuses it (then the key lives as long as the page). */
const sessionStore = (): Storage | undefined => {
  try {
    return window.sessionStorage;
  } catch {
    return undefined;
  }
};
const credential = sessionCredential(sessionStore());

// The API is on this page's own origin, under the page's own path (the stage's root). No key until the
// API asks for one: a deployment with `auth: none` answers without.
const client: MediaClient = createMediaClient({
  baseUrl: new URL('.', window.location.href).href,
  auth: () => credential.get(),
  authHint: 'enter an API key or a token below',
});

const form = byId('upload-form', HTMLFormElement);
const presetSelect = byId('preset', HTMLSelectElement);
const presetDescription = byId('preset-description', HTMLElement);
const callbackInput = byId('callback-url', HTMLInputElement);
const callbackError = byId('callback-error', HTMLElement);
const fileInput = byId('file-input', HTMLInputElement);
const dropZone = byId('drop-zone', HTMLElement);
const limitsHint = byId('limits-hint', HTMLElement);
const loadError = byId('load-error', HTMLElement);
const uploadList = byId('uploads', HTMLOListElement);
const emptyState = byId('empty-state', HTMLElement);
const announcer = byId('announcer', HTMLElement);
const keyForm = byId('key-form', HTMLFormElement);
const keyInput = byId('api-key', HTMLInputElement);
const keyError = byId('key-error', HTMLElement);
const keyStatus = byId('key-status', HTMLElement);
const keyDescription = byId('key-description', HTMLElement);
const forgetKeyButton = byId('forget-key', HTMLButtonElement);

let presets: PresetsResponse | undefined;

/** Tells screen readers what changed, through the page's one polite live region. */
const announce = (message: string): void => {
  announcer.textContent = message;
};

/** The API's own words (they say what to fix), as a sentence. */
const errorMessage = (error: unknown): string => {
  const text =
    error instanceof MediaApiError || error instanceof MediaUploadError
      ? error.message
      : error instanceof TypeError
        ? 'the request failed: is the server reachable?'
        : error instanceof Error
          ? error.message
          : String(error);
  return sentence(text);
};

const sentence = (text: string): string => {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const capitalised = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capitalised) ? capitalised : `${capitalised}.`;
};

const isAbort = (error: unknown): boolean => error instanceof DOMException && error.name === 'AbortError';

/** The API (or API Gateway before it) refused the credential sent, or the lack of one. */
const isAuthRefusal = (error: unknown): error is MediaApiError =>
  error instanceof MediaApiError && (error.status === 401 || error.status === 403);

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

/** A queue that runs at most `limit` tasks at once, in order. */
const limiter = (limit: number) => {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await task();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
};
const uploadSlot = limiter(PARALLEL_UPLOADS);

type Phase =
  | { kind: 'waiting' }
  /** `started` once bytes go out (before that the client hashes the file and creates the job). */
  | { kind: 'uploading'; sent: number; total: number; started: boolean }
  | { kind: 'cancelled' }
  /**
   * The API refused the file, or its bytes did not all reach S3: `again` says whether sending it again
   * can help, and `resumeJobId` names the multipart upload whose missing parts can be sent.
   */
  | { kind: 'refused'; message: string; again: boolean; resumeJobId?: string }
  /** `problem`: the last poll failed, for want of a connection or of an accepted key; polling goes on. */
  | { kind: 'job'; job: JobView | undefined; problem?: 'connection' | 'key' };

const JOB_STATUS_LABELS: Record<string, string> = {
  awaiting_upload: 'Checking the upload',
  queued: 'Queued',
  processing: 'Processing',
  done: 'Done',
  failed: 'Failed',
};

let nextItemId = 1;

/** The cards on the page, to list no job twice and to clear them all when the key is forgotten. */
const items = new Set<UploadItem>();
/** Counts the forgotten keys: a listing asked for with a key forgotten since is not shown. */
let keysForgotten = 0;

/**
 * One card per job: a listing that answered between an upload's job being created and the upload
 * hearing of it shows that job too; the upload's card (with the file) stays, the listed one goes.
 */
const dropListedTwin = (upload: UploadItem): void => {
  for (const other of [...items]) {
    if (other !== upload && other.listed && other.jobId === upload.jobId) other.remove();
  }
};

/** One file of the list: its card, its upload, then its job; or a job listed on load, without its file. */
class UploadItem {
  /** The file picked or dropped; undefined for a job listed on load (nothing to upload again). */
  readonly #file: File | undefined;
  readonly #fileName: string;
  readonly #fileSize: number;
  readonly #fileType: string;
  readonly #preset: string;
  readonly #callbackUrl: string | undefined;
  #phase: Phase = { kind: 'waiting' };
  #jobId: string | undefined;
  #controller = new AbortController();
  #run = 0;
  #retryNote: string | undefined;
  #retrying = false;
  #lastAnnounced = '';

  readonly element: HTMLLIElement;
  readonly #status: HTMLElement;
  readonly #detail: HTMLElement;
  readonly #progress: HTMLProgressElement;
  readonly #error: HTMLElement;
  readonly #retryNoteElement: HTMLElement;
  #resultsKey = '';
  readonly #actions: HTMLElement;
  readonly #results: HTMLElement;
  readonly #nameId: string;
  readonly #meta: HTMLElement;

  constructor(source: File | JobView, preset: string, callbackUrl: string | undefined) {
    const file = source instanceof File ? source : undefined;
    const job = source instanceof File ? undefined : source;
    this.#file = file;
    this.#fileName = file?.name ?? job?.file_name ?? '';
    this.#fileSize = file?.size ?? job?.size ?? 0;
    this.#fileType = file?.type ?? job?.content_type ?? '';
    this.#preset = preset;
    this.#callbackUrl = callbackUrl;
    if (job) {
      this.#jobId = job.id;
      this.#phase = { kind: 'job', job };
    }
    const id = nextItemId++;
    this.#nameId = `upload-${id}-name`;
    this.#status = h('span', { class: 'status-label' });
    this.#detail = h('span', { class: 'status-detail' });
    this.#progress = h('progress', {
      max: 100,
      value: 0,
      'aria-label': `Upload progress of ${this.#fileName}`,
    });
    this.#error = h('p', { class: 'error', id: `upload-${id}-error` });
    this.#retryNoteElement = h('p', { class: 'retry-note', id: `upload-${id}-retry-note` });
    this.#actions = h('div', { class: 'actions' });
    this.#results = h('div', { class: 'results-slot' });
    this.#meta = h('p', { class: 'file-meta' });
    this.#describeFile();
    this.element = h(
      'li',
      { class: 'upload', 'aria-labelledby': this.#nameId },
      h(
        'div',
        { class: 'upload-header' },
        h('h3', { class: 'file-name', id: this.#nameId }, this.#fileName),
        this.#meta,
      ),
      h('p', { class: 'status' }, this.#status, this.#detail),
      this.#progress,
      this.#error,
      this.#actions,
      this.#retryNoteElement,
      this.#results,
    );
    this.#render();
    items.add(this);
  }

  /** A job listed on load: its card, followed while the job is queued or processing. */
  static listed(job: JobView): UploadItem {
    const item = new UploadItem(job, job.preset, undefined);
    if (job.status === 'queued' || job.status === 'processing') void item.#follow();
    return item;
  }

  get jobId(): string | undefined {
    return this.#jobId;
  }

  /** Listed on load, without its file. */
  get listed(): boolean {
    return this.#file === undefined;
  }

  /** Stops whatever the card is doing and takes it off the page (the key was forgotten, or an upload's card shows its job). */
  remove(): void {
    this.#run += 1;
    this.#controller.abort();
    this.element.remove();
    items.delete(this);
  }

  #describeFile(upload?: UploadResult): void {
    const parts = upload?.parts;
    const sent =
      upload?.method === 'multipart' && parts
        ? `sent in ${parts.sent + parts.skipped} parts${parts.skipped > 0 ? ` (${parts.skipped} resumed)` : ''}`
        : '';
    this.#meta.textContent = [
      formatBytes(this.#fileSize),
      this.#fileType || 'unknown type',
      `preset ${this.#preset}`,
      sent,
    ]
      .filter(Boolean)
      .join(' · ');
  }

  /**
   * Uploads the file (when a slot is free), then follows its job. With `resumeJobId`, sends only the
   * parts of that multipart upload that S3 does not hold yet.
   */
  async start(resumeJobId?: string): Promise<void> {
    const file = this.#file;
    if (!file) return;
    // A cancelled upload may still be waiting for a slot when it is sent again: only the latest run counts.
    this.#run += 1;
    const run = this.#run;
    const controller = new AbortController();
    this.#controller = controller;
    const { signal } = controller;
    this.#retryNote = undefined;
    this.#setPhase({ kind: 'waiting' });
    try {
      const upload = await uploadSlot(async () => {
        signal.throwIfAborted();
        this.#setPhase({ kind: 'uploading', sent: 0, total: file.size, started: false });
        return client.upload(file, {
          preset: this.#preset,
          ...(this.#callbackUrl ? { callbackUrl: this.#callbackUrl } : {}),
          ...(resumeJobId ? { resumeJobId } : {}),
          signal,
          onCreated: ({ jobId }) => {
            if (run !== this.#run) return;
            this.#jobId = jobId;
            dropListedTwin(this);
          },
          onProgress: (sent, total) => {
            if (run === this.#run && this.#phase.kind === 'uploading') {
              this.#setPhase({ kind: 'uploading', sent, total, started: true });
            }
          },
        });
      });
      if (run !== this.#run) return;
      this.#jobId = upload.jobId;
      dropListedTwin(this);
      this.#describeFile(upload);
      this.#setPhase({ kind: 'job', job: undefined });
    } catch (error) {
      if (run !== this.#run) return;
      if (isAbort(error) || signal.aborted) this.#setPhase({ kind: 'cancelled' });
      else if (isAuthRefusal(error)) {
        // Sending it again, once a key the API takes is entered, can help.
        this.#setPhase({ kind: 'refused', message: errorMessage(error), again: true });
        askForKey(error);
      } else if (error instanceof MediaUploadError) {
        this.#setPhase({
          kind: 'refused',
          message: errorMessage(error),
          again: true,
          ...(error.resumable ? { resumeJobId: error.jobId } : {}),
        });
      } else {
        this.#setPhase({
          kind: 'refused',
          message: errorMessage(error),
          // The API refused the file itself: sending it again would be refused again.
          again: !(error instanceof MediaApiError && error.status < 500),
        });
      }
      return;
    }
    await this.#follow();
  }

  #cancel(): void {
    this.#controller.abort();
    // An upload still waiting for a slot has nothing in flight to interrupt.
    if (this.#phase.kind === 'waiting') this.#setPhase({ kind: 'cancelled' });
  }

  /** Polls the job until it is done or failed; a lost connection is retried, not fatal. */
  async #follow(): Promise<void> {
    const id = this.#jobId;
    if (!id) return;
    const { signal } = this.#controller;
    let delay = POLL_FIRST_MS;
    let lastStatus: string | undefined;
    while (!signal.aborted) {
      try {
        const job = await client.getJob(id);
        if (job.status !== lastStatus) delay = POLL_FIRST_MS;
        lastStatus = job.status;
        this.#setPhase({ kind: 'job', job });
        if (job.status === 'done' || job.status === 'failed') return;
      } catch (error) {
        if (isAuthRefusal(error)) {
          // Polling goes on: the next poll after a key is entered picks the job up again.
          const job = this.#phase.kind === 'job' ? this.#phase.job : undefined;
          this.#setPhase({ kind: 'job', job, problem: 'key' });
          askForKey(error);
        } else if (error instanceof MediaApiError && error.status < 500) {
          this.#setPhase({ kind: 'refused', message: errorMessage(error), again: false });
          return;
        } else {
          const job = this.#phase.kind === 'job' ? this.#phase.job : undefined;
          this.#setPhase({ kind: 'job', job, problem: 'connection' });
        }
      }
      await sleep(delay, signal);
      delay = Math.min(Math.round(delay * 1.4), POLL_MAX_MS);
    }
  }

  async #retry(button: HTMLButtonElement): Promise<void> {
    const id = this.#jobId;
    if (!id || this.#retrying) return;
    // Busy rather than disabled: a disabled button would drop the keyboard focus.
    this.#retrying = true;
    button.setAttribute('aria-busy', 'true');
    this.#retryNote = undefined;
    try {
      await client.retryJob(id);
      await this.#follow();
    } catch (error) {
      // Rendered with the job's error, and announced with it.
      this.#retryNote = `Retry refused: ${errorMessage(error)}`;
      this.#render();
      if (isAuthRefusal(error)) askForKey(error);
    } finally {
      this.#retrying = false;
      button.removeAttribute('aria-busy');
    }
  }

  #setPhase(phase: Phase): void {
    this.#phase = phase;
    this.#render();
  }

  #statusLabel(): { label: string; detail: string; state: string } {
    const phase = this.#phase;
    switch (phase.kind) {
      case 'waiting':
        return { label: 'Waiting', detail: 'to upload', state: 'waiting' };
      case 'uploading':
        return {
          label: 'Uploading',
          detail: phase.started
            ? `${formatPercent(phase.sent, phase.total)} · ${formatBytes(phase.sent)} of ${formatBytes(phase.total)}`
            : 'preparing…',
          state: 'uploading',
        };
      case 'cancelled':
        return { label: 'Cancelled', detail: '', state: 'cancelled' };
      case 'refused':
        return { label: 'Refused', detail: '', state: 'failed' };
      case 'job': {
        const { job } = phase;
        const status = job?.status ?? 'awaiting_upload';
        // Listed on load, before its bytes arrived: nothing on this page is sending them.
        const label =
          status === 'awaiting_upload' && !this.#file
            ? 'Awaiting upload'
            : (JOB_STATUS_LABELS[status] ?? status);
        // Attempts are counted per run; a retried job says which run it is in.
        const run = job && job.run > 1 ? `retry ${job.run - 1}` : '';
        const attempts =
          job && job.attempts > 0 && status !== 'done'
            ? `attempt ${job.attempts} of ${job.max_attempts}`
            : '';
        const problem =
          phase.problem === 'connection'
            ? 'lost contact with the API, retrying…'
            : phase.problem === 'key'
              ? 'waiting for a key the API accepts'
              : '';
        return {
          label,
          detail: [run, attempts, problem].filter(Boolean).join(' · '),
          state: status,
        };
      }
    }
  }

  #render(): void {
    const phase = this.#phase;
    const { label, detail, state } = this.#statusLabel();
    this.element.dataset.state = state;
    if (this.#jobId) this.element.dataset.jobId = this.#jobId;
    this.#status.textContent = label;
    this.#detail.textContent = detail ? ` · ${detail}` : '';

    const uploaded =
      phase.kind === 'job' || (phase.kind === 'uploading' && phase.total > 0 && phase.sent >= phase.total);
    this.#progress.hidden = phase.kind === 'cancelled' || phase.kind === 'refused';
    if (phase.kind === 'uploading' && phase.total > 0)
      this.#progress.value = (phase.sent / phase.total) * 100;
    else if (uploaded) this.#progress.value = 100;
    else if (phase.kind === 'waiting') this.#progress.value = 0;

    const job = phase.kind === 'job' ? phase.job : undefined;
    const errorText =
      phase.kind === 'refused'
        ? phase.message
        : job?.status === 'failed'
          ? sentence(job.error ?? 'Processing failed.')
          : '';
    this.#error.textContent = errorText;
    this.#error.hidden = errorText === '';
    this.#retryNoteElement.textContent = this.#retryNote ?? '';
    this.#retryNoteElement.hidden = this.#retryNote === undefined;

    this.#renderActions(phase, job);
    this.#renderResults(job);

    this.#announceChange(label, [errorText, this.#retryNote].filter(Boolean).join(' '));
  }

  /** The outputs, made again only when the job changed: their presigned URLs differ on every read. */
  #renderResults(job: JobView | undefined): void {
    const key = job?.status === 'done' ? `${job.id} ${job.updated_at}` : '';
    if (key === this.#resultsKey) return;
    this.#resultsKey = key;
    this.#results.replaceChildren();
    if (!job || key === '') return;
    if (job.duplicate_of) {
      this.#results.append(
        h(
          'p',
          { class: 'note' },
          'The same file was already processed with this preset: these are its outputs.',
        ),
      );
    }
    this.#results.append(renderResults(job));
  }

  #renderActions(phase: Phase, job: JobView | undefined): void {
    const buttons: HTMLButtonElement[] = [];
    // Screen readers read the card's error (and a refused retry's reason) with each button.
    const describedBy = `${this.#error.id} ${this.#retryNoteElement.id}`;
    const button = (text: string, description: string, onClick: (button: HTMLButtonElement) => void) => {
      const element = h(
        'button',
        {
          type: 'button',
          'aria-label': `${text} ${this.#fileName}`,
          'aria-describedby': describedBy,
          title: description,
        },
        text,
      );
      element.addEventListener('click', () => onClick(element));
      buttons.push(element);
    };
    if (phase.kind === 'waiting' || phase.kind === 'uploading') {
      button('Cancel', 'Stop this upload', () => this.#cancel());
    }
    if (phase.kind === 'refused' && phase.resumeJobId && this.#file) {
      const jobId = phase.resumeJobId;
      button('Resume upload', 'Send the parts that did not arrive', () => void this.start(jobId));
    }
    if (this.#file && (phase.kind === 'cancelled' || (phase.kind === 'refused' && phase.again))) {
      button('Upload again', 'Send this file again, as a new job', () => void this.start());
    }
    // Only a failure another run can change (an outage, a timeout) is offered a retry; the job's error
    // says what to do about any other.
    if (job?.status === 'failed' && job.retryable) {
      button('Retry', 'Process this job again', (element) => void this.#retry(element));
    }
    // Keep the same buttons (and the keyboard focus on them) while nothing about them changed.
    const same =
      buttons.length === this.#actions.children.length &&
      buttons.every(
        (candidate, index) => candidate.textContent === this.#actions.children[index]?.textContent,
      );
    if (!same) this.#actions.replaceChildren(...buttons);
    this.#actions.hidden = this.#actions.children.length === 0;
  }

  #announceChange(label: string, error: string): void {
    if (this.#phase.kind === 'uploading' || this.#phase.kind === 'waiting') return;
    const message = `${this.#fileName}: ${label}${error ? `. ${error}` : ''}`;
    if (message === this.#lastAnnounced) return;
    this.#lastAnnounced = message;
    announce(message);
  }
}

/** Shows the chosen preset's description and what the file picker offers. */
const showPreset = (): void => {
  const preset = presets?.presets.find((candidate) => candidate.name === presetSelect.value);
  presetDescription.textContent = preset?.description ?? '';
  fileInput.accept = preset ? preset.accept.join(',') : 'image/*,video/*';
};

const showLimits = (listing: PresetsResponse): void => {
  const { limits } = listing;
  limitsHint.textContent =
    `Images up to ${formatBytes(limits.image_max_bytes)}, videos up to ${formatBytes(limits.video_max_bytes)} ` +
    `and ${formatSpan(limits.video_max_duration_seconds)} long. Each upload starts as soon as you add it.`;
};

/** Names the key in use beside its "Forget key" button, or hides both when there is none. */
const showKeyStatus = (): void => {
  const auth = credential.get();
  keyStatus.hidden = !auth || !keyForm.hidden;
  keyDescription.textContent = auth ? `Using ${describeCredential(auth)} for this tab.` : '';
};

/**
 * Shows the key form with what the API said (no key sent, key refused, token expired) and moves the
 * focus to it, once: further refusals while it is open only update the message.
 */
const askForKey = (refusal?: MediaApiError): void => {
  const asking = !keyForm.hidden;
  keyError.textContent = refusal ? errorMessage(refusal) : '';
  keyError.hidden = !refusal;
  keyInput.setAttribute('aria-invalid', String(Boolean(refusal && credential.get())));
  keyForm.hidden = false;
  showKeyStatus();
  if (!asking) {
    keyInput.focus();
    if (!refusal) announce('Enter an API key or a token to use the API.');
  }
};

const loadPresets = async (): Promise<boolean> => {
  try {
    presets = await client.listPresets();
  } catch (error) {
    if (isAuthRefusal(error)) {
      askForKey(error);
      return false;
    }
    loadError.textContent = `The presets could not be loaded: ${errorMessage(error)}. Reload the page to try again.`;
    loadError.hidden = false;
    return false;
  }
  loadError.hidden = true;
  presetSelect.replaceChildren(
    ...presets.presets.map((preset) => h('option', { value: preset.name }, preset.name)),
  );
  presetSelect.disabled = false;
  fileInput.disabled = false;
  dropZone.classList.remove('is-disabled');
  showPreset();
  showLimits(presets);
  return true;
};

/** The tenant's recent jobs, under the uploads of this visit (the API lists them newest first). */
const loadRecentJobs = async (): Promise<void> => {
  const forgotten = keysForgotten;
  let listed: JobView[];
  try {
    listed = (await client.listJobs({ limit: RECENT_JOBS })).items;
    // The key was forgotten while the API answered: its tenant's jobs left the page with it.
    if (keysForgotten !== forgotten) return;
  } catch (error) {
    if (keysForgotten !== forgotten) return;
    if (isAuthRefusal(error)) askForKey(error);
    else {
      loadError.textContent = `Your recent jobs could not be listed: ${errorMessage(error)}`;
      loadError.hidden = false;
    }
    return;
  }
  const shown = new Set([...items].map((item) => item.jobId));
  const fresh = listed.filter((job) => !shown.has(job.id));
  for (const job of fresh) uploadList.append(UploadItem.listed(job).element);
  if (items.size > 0) emptyState.hidden = true;
  if (fresh.length > 0) {
    announce(`${fresh.length} recent job${fresh.length === 1 ? '' : 's'} listed`);
  }
};

/** What the page needs from the API to be used: the presets, then the recent jobs. */
const loadPage = async (): Promise<void> => {
  if (await loadPresets()) await loadRecentJobs();
};

/** The callback URL if it is empty or an absolute http(s) URL; otherwise says so by the field. */
const validCallbackUrl = (): { ok: true; value: string | undefined } | { ok: false } => {
  const value = callbackInput.value.trim();
  let problem = '';
  if (value !== '') {
    try {
      const url = new URL(value);
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        problem = 'The callback URL must start with https:// or http://.';
    } catch {
      problem = 'The callback URL must be an absolute URL, such as https://example.com/hooks/media.';
    }
  }
  callbackError.textContent = problem;
  callbackError.hidden = problem === '';
  callbackInput.setAttribute('aria-invalid', String(problem !== ''));
  if (problem) {
    callbackInput.focus();
    announce(problem);
    return { ok: false };
  }
  return { ok: true, value: value || undefined };
};

const addFiles = (files: ArrayLike<File>): void => {
  const list = Array.from(files);
  if (list.length === 0) return;
  if (!presets) return;
  const callback = validCallbackUrl();
  if (!callback.ok) return;
  const preset = presetSelect.value;
  emptyState.hidden = true;
  for (const file of list) {
    const item = new UploadItem(file, preset, callback.value);
    uploadList.prepend(item.element);
    void item.start();
  }
  announce(`${list.length} file${list.length === 1 ? '' : 's'} added, uploading with preset ${preset}`);
};

fileInput.addEventListener('change', () => {
  addFiles(fileInput.files ?? []);
  // The same file can be picked again.
  fileInput.value = '';
});

presetSelect.addEventListener('change', showPreset);
callbackInput.addEventListener('input', () => {
  if (!callbackError.hidden) validCallbackUrl();
});
form.addEventListener('submit', (event) => event.preventDefault());

// A file dropped outside the drop zone would replace the page with the file: never.
for (const type of ['dragover', 'drop'] as const) {
  window.addEventListener(type, (event) => event.preventDefault());
}
let dragDepth = 0;
dropZone.addEventListener('dragenter', () => {
  dragDepth += 1;
  dropZone.classList.add('is-dragging');
});
dropZone.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropZone.classList.remove('is-dragging');
});
dropZone.addEventListener('dragover', (event) => {
  if (event.dataTransfer) event.dataTransfer.dropEffect = fileInput.disabled ? 'none' : 'copy';
});
dropZone.addEventListener('drop', (event) => {
  dragDepth = 0;
  dropZone.classList.remove('is-dragging');
  if (!fileInput.disabled) addFiles(event.dataTransfer?.files ?? []);
});

keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const auth = credentialFrom(keyInput.value);
  if (!auth) {
    keyError.textContent = 'Enter an API key or a token.';
    keyError.hidden = false;
    keyInput.setAttribute('aria-invalid', 'true');
    keyInput.focus();
    return;
  }
  credential.set(auth);
  keyInput.value = '';
  keyInput.removeAttribute('aria-invalid');
  keyError.hidden = true;
  keyForm.hidden = true;
  showKeyStatus();
  announce(`Using ${describeCredential(auth)}.`);
  // Focus to where the work is, not to the body: the preset once it loads.
  void loadPage().then(() => {
    if (keyForm.hidden && !presetSelect.disabled) presetSelect.focus();
  });
});

forgetKeyButton.addEventListener('click', () => {
  credential.forget();
  keysForgotten += 1;
  // The jobs shown are the forgotten key's tenant's: they go with it.
  for (const item of [...items]) item.remove();
  emptyState.hidden = false;
  askForKey();
  announce('The key is forgotten. Enter an API key or a token to go on.');
});

showKeyStatus();
void loadPage();
