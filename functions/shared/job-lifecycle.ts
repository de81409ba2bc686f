import { DUPLICATE, JobStatus, type StoredStatus } from './job.ts';

/**
 * The job lifecycle, written once: every event that changes a job's stored status, the statuses it may
 * happen in, and the status it leads to. JobStore expresses each of its state changes through this
 * table (a conditional write on the current status), so a redelivered or late event can never move a
 * job backwards, and test/shared/job-store.test.ts walks every event from every status.
 *
 * ```
 *                 ┌─ uploadDuplicate ─► duplicate (shows its canonical job)
 * awaiting_upload ┼─ uploadRefused ──► failed ◄─ processingFailed / attemptsExhausted / deadLettered
 *                 └─ uploadAccepted ─► queued ◄─► processing ─ completed ─► done
 *                                        ▲   attemptStarted / retryDeferred / processingStalled
 *                failed ─ retryRequested ┘ (retryReverted undoes it when the message cannot be sent)
 * ```
 *
 * Attempts are counted per run: attemptStarted, retryDeferred, processingStalled and attemptsExhausted
 * work within one run's `maxAttempts`; retryRequested (a manual retry of a transient failure) starts
 * the next run with a fresh budget, up to `maxRetries` runs after the first.
 */
export interface Transition {
  readonly from: readonly StoredStatus[];
  readonly to: StoredStatus;
  /** What the event means, for the reader and the table's test. */
  readonly meaning: string;
}

const { AwaitingUpload, Queued, Processing, Done, Failed } = JobStatus;

export const JOB_LIFECYCLE = {
  uploadAccepted: {
    from: [AwaitingUpload],
    to: Queued,
    meaning: 'ingest accepted the bytes and claimed their file + preset key',
  },
  uploadDuplicate: {
    from: [AwaitingUpload],
    to: DUPLICATE,
    meaning: 'ingest found the same bytes and preset already held by another job',
  },
  uploadRefused: {
    from: [AwaitingUpload],
    to: Failed,
    meaning:
      'the bytes cannot be processed (empty, wrong size, wrong type, too large), or the upload was aborted',
  },
  messageSent: {
    from: [Queued],
    to: Queued,
    meaning: 'the processing message is on its queue (recorded as enqueued_at)',
  },
  attemptStarted: {
    from: [Queued, Processing],
    to: Processing,
    meaning:
      'a processor starts an attempt and counts it (a redelivery after a crash starts from processing)',
  },
  completed: { from: [Processing], to: Done, meaning: 'the attempt stored its outputs' },
  processingFailed: {
    from: [Processing],
    to: Failed,
    meaning: 'the attempt failed for good: a permanent media error, or a transient one on the last attempt',
  },
  retryDeferred: {
    from: [Processing],
    to: Queued,
    meaning: 'a transient failure with attempts of its run left: the message comes back after a backoff',
  },
  processingStalled: {
    from: [Processing],
    to: Queued,
    meaning:
      'the reconciler found an attempt that outlived its function timeout, with attempts of its run left: queued again',
  },
  attemptsExhausted: {
    from: [Queued, Processing],
    to: Failed,
    meaning:
      'every attempt of the run was used by deliveries that crashed or timed out before recording an outcome',
  },
  deadLettered: {
    from: [AwaitingUpload, Queued, Processing],
    to: Failed,
    meaning: 'its message reached a dead-letter queue: ingest or a processor gave up on it',
  },
  retryRequested: {
    from: [Failed],
    to: Queued,
    meaning:
      'the retry route re-queues a job whose failure was transient, as the next run with a fresh attempt budget, while manual runs are left',
  },
  retryReverted: {
    from: [Queued],
    to: Failed,
    meaning:
      'the retry route could not send the message, so the job goes back to failed, its previous run and attempts restored',
  },
} as const satisfies Record<string, Transition>;

export type JobEvent = keyof typeof JOB_LIFECYCLE;

/** Every status a job record can hold. */
export const STORED_STATUSES: readonly StoredStatus[] = [
  AwaitingUpload,
  Queued,
  Processing,
  Done,
  Failed,
  DUPLICATE,
];

/** Whether `event` may happen to a job in `status`. */
export const allows = (event: JobEvent, status: StoredStatus): boolean =>
  (JOB_LIFECYCLE[event].from as readonly StoredStatus[]).includes(status);
