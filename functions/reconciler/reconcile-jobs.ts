import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { S3Client } from '@aws-sdk/client-s3';
import { ingestUpload } from '#ingest/ingest-upload';
import { type Dispatcher, outcomeWebhookId } from '#shared/dispatch';
import { isTerminal, JobStatus, runOf, type WebhookState, WebhookStatus } from '#shared/job';
import type { IdleJob, JobStore } from '#shared/job-store';
import { openJobShards } from '#shared/jobs-table';
import { JobMetric, ReconcileKind } from '#shared/metric-names';
import { countJob, logger, metrics } from '#shared/observability';
import type { MediaKind } from '#shared/presets';
import { objectExists } from '#shared/s3-objects';

/** How long each kind of job may legitimately sit still before the reconciler moves it on. */
export interface ReconcilePolicy {
  /** An awaiting_upload job idle this long whose object exists lost its S3 event: it is ingested here. */
  uploadDeadlineSeconds: number;
  /** A queued job whose message was never recorded as sent, idle this long, lost it: it is sent here. */
  enqueueDeadlineSeconds: number;
  /** Per media kind: the processing function's timeout and its queue's visibility timeout. */
  processors: Record<MediaKind, { timeoutSeconds: number; visibilityTimeoutSeconds: number }>;
  /** The longest backoff before a retried attempt's message comes back (the processors' RETRY_MAX_SECONDS). */
  retryMaxSeconds: number;
  /** Added to every legitimate wait before a job counts as stalled. */
  marginSeconds: number;
  /** A finished job whose callback has not heard of its outcome this long (nor since the last try) is announced. */
  announceDeadlineSeconds: number;
  /** Processing attempts of one run of a job (MAX_ATTEMPTS of the processors; a manual retry starts a run). */
  maxAttempts: number;
  /** Jobs read from each index shard per run: what bounds a run. */
  pageLimit: number;
}

export interface ReconcileDeps {
  s3: S3Client;
  store: JobStore;
  dispatcher: Dispatcher;
  uploadsBucket: string;
  policy: ReconcilePolicy;
  /**
   * The messages a kind's processing queue holds: waiting and delayed, not in flight (readQueueBacklog,
   * SQS GetQueueAttributes). Asked once per kind per run, only of a kind with lost-message candidates.
   */
  queueBacklog: (kind: MediaKind) => Promise<number>;
}

// The kinds are named with the metric's other names, where the stack's alarm reads them too.
export { ReconcileKind };

export type ReconcileAction = 'ingested' | 'enqueued' | 'requeued' | 'failed' | 'announced';

export interface ReconciledJob {
  job_id: string;
  kind: ReconcileKind;
  /** The status the job was found in. */
  from: IdleJob['status'];
  action: ReconcileAction;
}

/**
 * What a run made of the queued jobs of one kind whose message was sent longer ago than any legitimate
 * wait (its lost-message candidates), given what the kind's queue holds.
 */
export interface BacklogCheck {
  media_kind: MediaKind;
  /** Lost-message candidates of this kind among the jobs read in this run. */
  candidates: number;
  /** Messages the queue holds waiting or delayed; absent when it could not be read. */
  backlog?: number;
  /**
   * The queue holds at least as many messages as there are candidates: the candidates may all still be
   * waiting there (a backlog held back by the mapping's maximum concurrency), so none is called lost
   * and sent again; they are looked at and left for the next run.
   */
  deferred: boolean;
}

export interface ReconcileReport {
  /** Jobs read from the index. */
  examined: number;
  moved: ReconciledJob[];
  /** Jobs whose move threw (logged; they go to the back of the index and are tried next run). */
  errors: number;
  /** One per media kind that had lost-message candidates in this run. */
  backlogs: BacklogCheck[];
}

export const RECONCILED_METRIC = JobMetric.Reconciled;

const secondsBetween = (earlier: string, now: Date): number => (now.getTime() - Date.parse(earlier)) / 1000;

/**
 * How long a queued job may wait before its message counts as missing. A job that was attempted had its
 * message sent, whatever `enqueued_at` says (its write can lose to the attempt's start): it may be
 * waiting out a retry's backoff, so it gets the long wait.
 */
const queuedWait = (policy: ReconcilePolicy, job: IdleJob): { sent: boolean; waitSeconds: number } => {
  const sent = job.enqueued_at !== undefined || job.attempts > 0;
  const processor = processorOf(policy, job.media_kind);
  return {
    sent,
    waitSeconds: sent
      ? policy.retryMaxSeconds + processor.visibilityTimeoutSeconds + policy.marginSeconds
      : policy.enqueueDeadlineSeconds,
  };
};

/**
 * The kind of a queued job whose message was sent longer ago than any backoff and visibility timeout
 * (a lost-message candidate), or undefined for any other job.
 */
const lostMessageCandidate = (policy: ReconcilePolicy, job: IdleJob, now: Date): MediaKind | undefined => {
  if (job.status !== JobStatus.Queued || !job.media_kind) return undefined;
  const { sent, waitSeconds } = queuedWait(policy, job);
  return sent && secondsBetween(job.updated_at, now) >= waitSeconds ? job.media_kind : undefined;
};

/**
 * Weighs each kind's lost-message candidates against its queue's backlog, one GetQueueAttributes per
 * kind that has candidates. A queue holding at least as many messages as there are candidates may hold
 * every one of theirs (a backlog behind the mapping's maximum concurrency is not a loss): they are
 * deferred. A queue holding fewer has lost some, which ones cannot be told: they are all sent again (a
 * copy of a message still queued is dropped by the processor once its job moved on). A backlog that
 * cannot be read defers nothing: copies cost an invocation each, a lost message costs the job.
 */
const checkBacklogs = async (
  deps: ReconcileDeps,
  jobs: readonly IdleJob[],
  now: Date,
): Promise<BacklogCheck[]> => {
  const candidates = new Map<MediaKind, number>();
  for (const job of jobs) {
    const kind = lostMessageCandidate(deps.policy, job, now);
    if (kind) candidates.set(kind, (candidates.get(kind) ?? 0) + 1);
  }
  return Promise.all(
    [...candidates].map(async ([kind, count]): Promise<BacklogCheck> => {
      const check = { media_kind: kind, candidates: count };
      let backlog: number;
      try {
        backlog = await deps.queueBacklog(kind);
      } catch (error) {
        logger.warn('could not read the queue backlog: the lost-message candidates are sent again', {
          ...check,
          error,
        });
        return { ...check, deferred: false };
      }
      const deferred = backlog >= count;
      logger.info(
        deferred
          ? 'queue backlog holds the lost-message candidates: left for the next run'
          : 'queue backlog below the lost-message candidates: they are sent again',
        { ...check, backlog },
      );
      return { ...check, backlog, deferred };
    }),
  );
};

/** The shortest wait of any kind: nothing idle for less is ever due, so the index query stops there. */
export const shortestDeadlineSeconds = (policy: ReconcilePolicy): number =>
  Math.min(
    policy.uploadDeadlineSeconds,
    policy.enqueueDeadlineSeconds,
    policy.announceDeadlineSeconds,
    ...Object.values(policy.processors).map(({ timeoutSeconds }) => timeoutSeconds + policy.marginSeconds),
  );

/**
 * One reconciler run: reads the jobs idle longer than the shortest deadline from every shard of the
 * open-jobs index (oldest first, at most `pageLimit` per shard) and moves on those that stopped moving.
 * Every move is a conditional write on what the index showed (the job's `updated_at`, or its place in
 * the index), made before any message is sent: a job that progressed meanwhile is left alone, and of two
 * overlapping runs only one moves a job. Before queued jobs' messages are called lost, their queue's
 * backlog is read once per kind (checkBacklogs). `now` is the run's clock (tests pass their own).
 */
export const reconcileJobs = async (deps: ReconcileDeps, now: Date): Promise<ReconcileReport> => {
  const idleBefore = new Date(now.getTime() - shortestDeadlineSeconds(deps.policy) * 1000).toISOString();
  const shards = await Promise.all(
    openJobShards().map((shard) => deps.store.findIdleJobs(shard, idleBefore, deps.policy.pageLimit)),
  );
  const backlogs = await checkBacklogs(deps, shards.flat(), now);
  const deferred = new Set(backlogs.filter((check) => check.deferred).map(({ media_kind }) => media_kind));
  const report: ReconcileReport = { examined: 0, moved: [], errors: 0, backlogs };
  await Promise.all(
    shards.map(async (jobs) => {
      for (const job of jobs) {
        report.examined++;
        try {
          const moved = await reconcileJob(deps, job, now, deferred);
          if (moved) report.moved.push(moved);
        } catch (error) {
          report.errors++;
          logger.error('could not reconcile job', { job_id: job.id, status: job.status, error });
          // To the back of the index, so that a job that keeps failing cannot hold up the others.
          await deps.store.markLookedAt(job.id, job, now.toISOString()).catch(() => false);
        }
      }
    }),
  );
  return report;
};

/**
 * Looks at one job the index showed and moves it on if it stopped moving; a job that is waiting
 * legitimately is sent to the back of the index. Returns what was done, or undefined when nothing was
 * (not due, waiting legitimately, or moved by someone else meanwhile). A lost-message candidate of a kind
 * in `deferred` (its queue's backlog holds as many messages as the run found candidates) is left.
 */
export const reconcileJob = async (
  deps: ReconcileDeps,
  job: IdleJob,
  now: Date,
  deferred: ReadonlySet<MediaKind> = new Set(),
): Promise<ReconciledJob | undefined> => {
  const moved = await moveIfStalled(deps, job, now, deferred);
  if (moved) {
    const reconciled: ReconciledJob = { job_id: job.id, from: job.status, ...moved };
    logger.info('job reconciled', { ...reconciled });
    const metric = metrics.singleMetric();
    metric.addDimension('kind', moved.kind);
    metric.addMetric(RECONCILED_METRIC, MetricUnit.Count, 1);
    return reconciled;
  }
  return undefined;
};

type Move = { kind: ReconcileKind; action: ReconcileAction };

const moveIfStalled = async (
  deps: ReconcileDeps,
  job: IdleJob,
  now: Date,
  deferred: ReadonlySet<MediaKind>,
): Promise<Move | undefined> => {
  const { policy, store } = deps;
  const idle = secondsBetween(job.updated_at, now);
  const leave = async (): Promise<undefined> => {
    await store.markLookedAt(job.id, job, now.toISOString());
    return undefined;
  };

  switch (job.status) {
    case JobStatus.AwaitingUpload: {
      if (idle < policy.uploadDeadlineSeconds) return leave();
      // Most jobs found here were never uploaded to (their TTL removes them): HeadObject is the cheap test.
      if (!(await objectExists(deps.s3, deps.uploadsBucket, job.upload_key))) return leave();
      const { outcome } = await ingestUpload(deps, job.id);
      return outcome === 'ignored'
        ? undefined
        : { kind: ReconcileKind.UploadNotIngested, action: 'ingested' };
    }

    case JobStatus.Queued: {
      const { sent, waitSeconds } = queuedWait(policy, job);
      if (idle < waitSeconds || !job.media_kind) return leave();
      // Its message may still be in the queue's backlog: to the back of the index until the backlog drains.
      if (sent && deferred.has(job.media_kind)) return leave();
      // Recorded first, as the claim: if the send then fails, the job waits out the wait and is sent again.
      const claimed = await store.markEnqueued(job.id, { unchangedSince: job.updated_at });
      if (!claimed) return undefined;
      await deps.dispatcher.enqueueProcessing(claimed);
      return sent
        ? { kind: ReconcileKind.MessageLost, action: 'enqueued' }
        : { kind: ReconcileKind.MessageNotSent, action: 'enqueued' };
    }

    case JobStatus.Processing: {
      const { timeoutSeconds } = processorOf(policy, job.media_kind);
      if (idle < timeoutSeconds + policy.marginSeconds) return leave();
      if (job.attempts < policy.maxAttempts) {
        const requeued = await store.requeueStalled(job.id, job.updated_at, policy.maxAttempts);
        if (!requeued) return undefined;
        await deps.dispatcher.enqueueProcessing(requeued);
        return { kind: ReconcileKind.AttemptStalled, action: 'requeued' };
      }
      const failed = await store.fail(
        job.id,
        'attemptsExhausted',
        {
          code: 'Processing::Stalled',
          message: `gave up after ${job.attempts} attempts: the last one outlived the processing function's timeout (${timeoutSeconds} s) without recording an outcome`,
        },
        [JobStatus.Processing],
        job.updated_at,
      );
      if (!failed) return undefined;
      countJob(JobMetric.Failed);
      await deps.dispatcher.announceOutcome(failed);
      return { kind: ReconcileKind.AttemptStalled, action: 'failed' };
    }

    default:
      return announceIfUntold(deps, job, now);
  }
};

/** A done, failed or duplicate job in the index owes its callback the outcome, unless it was told. */
const announceIfUntold = async (deps: ReconcileDeps, job: IdleJob, now: Date): Promise<Move | undefined> => {
  const { store, policy } = deps;
  const leave = async (): Promise<undefined> => {
    await store.markLookedAt(job.id, job, now.toISOString());
    return undefined;
  };
  if (!job.callback_url) {
    // Left by a writer that stopped between two writes: it owes nothing.
    await store.closeOpenJob(job.id, job.updated_at);
    return undefined;
  }
  // The outcome owed: the job's own, or a duplicate's canonical job's (still at work: its completion tells).
  // Read whole: the index does not project the run, which the outcome's webhook id names.
  const source = await store.get(job.duplicate_of ?? job.id);
  if (!source || !isTerminal(source.status)) return leave();
  const toldOfIt =
    job.webhook?.message_id === outcomeWebhookId(job.id, source.status, source.attempts, runOf(source));
  if (toldOfIt && job.webhook && isFinal(job.webhook)) {
    await store.closeOpenJob(job.id, job.updated_at);
    return undefined;
  }
  // Retrying: the webhook queue holds it until its next attempt (and its dead-letter queue, should
  // every delivery fail). Long overdue, the message was lost (a local runtime killed before its queues
  // were kept, or a receive budget spent on receives that made no attempt): it is announced again, and
  // the webhook function goes on counting attempts on the job, under the same webhook-id.
  if (toldOfIt && job.webhook?.status === WebhookStatus.Retrying) {
    const due = job.webhook.next_attempt_at;
    if (!due || secondsBetween(due, now) < policy.announceDeadlineSeconds) return leave();
  }
  // Due a while after it finished, and again a while after each announcement the reconciler made.
  const since = job.announced_at && job.announced_at > job.updated_at ? job.announced_at : job.updated_at;
  if (secondsBetween(since, now) < policy.announceDeadlineSeconds) return leave();
  // The claim: of two overlapping runs, one announces.
  if (!(await store.markLookedAt(job.id, job, now.toISOString(), { announced: true }))) return undefined;
  if (job.duplicate_of) {
    await deps.dispatcher.announceToDuplicate(job.id, source);
  } else {
    // The whole job (its duplicates are told too), unless it moved since (the retry route).
    const finished = await store.get(job.id);
    if (finished?.updated_at !== job.updated_at) return undefined;
    await deps.dispatcher.announceOutcome(finished);
  }
  return { kind: ReconcileKind.OutcomeNotAnnounced, action: 'announced' };
};

const isFinal = (webhook: WebhookState): boolean =>
  webhook.status === WebhookStatus.Delivered ||
  webhook.status === WebhookStatus.Failed ||
  webhook.status === WebhookStatus.Refused;

/** The processor's timings; a job with no kind yet is judged by the slowest processor. */
const processorOf = (policy: ReconcilePolicy, kind: MediaKind | undefined) =>
  kind
    ? policy.processors[kind]
    : Object.values(policy.processors).reduce((slowest, processor) =>
        processor.timeoutSeconds > slowest.timeoutSeconds ? processor : slowest,
      );
