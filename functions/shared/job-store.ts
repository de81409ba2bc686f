import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import {
  DUPLICATE,
  FailureKind,
  type Job,
  JobStatus,
  type StoredStatus,
  type WebhookState,
  WebhookStatus,
} from './job.ts';
import { JOB_LIFECYCLE, type JobEvent } from './job-lifecycle.ts';
import { OPEN_JOBS_INDEX, openJobShardFor, TENANT_JOBS_INDEX } from './jobs-table.ts';
import type { MediaKind } from './presets.ts';

/** What ingest learned from the bytes themselves. */
export interface UploadFacts {
  file_hash: string;
  /** The ETag of the object that was hashed, so that processing reads exactly those bytes. */
  upload_etag?: string;
  detected_type?: string;
  media_kind?: MediaKind;
}

export interface JobFailure {
  code: string;
  message: string;
  /**
   * Whether running again could change it (recorded as `failure_kind`, which the retry route reads).
   * @default 'transient'
   */
  kind?: FailureKind;
}

export type DedupClaim = { claimed: true } | { claimed: false; holder: string };

/** What identifies one piece of content for one tenant: the idempotency key's parts. */
export interface ContentKey {
  tenant: string;
  fileHash: string;
  preset: string;
}

/** Where a tenant's listing stands: the index key of the last job read (base64url in the API's cursor). */
export interface TenantJobsPosition {
  pk: string;
  tenant: string;
  created_at: string;
}

export interface TenantJobsPage {
  jobs: Job[];
  /** The position of the last job of the page, if the index may hold more. */
  next?: TenantJobsPosition;
}

/** A job as the open-jobs index shows it (OPEN_JOBS_INDEX.projectedAttributes): enough to decide on. */
export interface IdleJob
  extends Pick<Job, 'id' | 'status' | 'updated_at' | 'attempts' | 'upload_key'>,
    Partial<
      Pick<Job, 'enqueued_at' | 'media_kind' | 'callback_url' | 'duplicate_of' | 'webhook' | 'announced_at'>
    > {
  /** When the job last moved, or the reconciler last looked at it (the index's sort key). */
  idle_since: string;
}

/** What a caller saw of a job, so that a write applies only if the job has not moved since. */
export interface SeenJob {
  updated_at: string;
  idle_since: string;
}

/** Statuses that take a job out of the open-jobs index, unless it still owes a callback its webhook. */
const CLOSING_STATUSES: readonly StoredStatus[] = [JobStatus.Done, JobStatus.Failed, DUPLICATE];
const FINAL_WEBHOOK_STATUSES: readonly string[] = [
  WebhookStatus.Delivered,
  WebhookStatus.Failed,
  WebhookStatus.Refused,
];
const { partitionKey: OPEN_SHARD, sortKey: IDLE_SINCE } = OPEN_JOBS_INDEX;

/** The open-jobs index attributes a new job starts with (none for one that needs nothing more). */
const openIndexFor = (job: Job, at: string): Record<string, string> =>
  CLOSING_STATUSES.includes(job.status) && !job.callback_url
    ? {}
    : { [OPEN_SHARD]: openJobShardFor(job.id), [IDLE_SINCE]: at };

/** One key per tenant, preset and bytes: the same file of two tenants is two jobs (`#` is in no name). */
const dedupKey = ({ tenant, fileHash, preset }: ContentKey) => `dedup#${tenant}#${preset}#${fileHash}`;
const now = () => new Date().toISOString();

const isConditionFailure = (error: unknown): error is ConditionalCheckFailedException =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/**
 * Jobs and their idempotency keys in one DynamoDB table. Every state change is a conditional write on
 * the job's current status, so concurrent or redelivered events cannot move a job backwards: a method
 * returns the updated job, or `undefined` when the job was not in a state the change applies to.
 */
export class JobStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(job: Job): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { pk: job.id, ...job, ...openIndexFor(job, job.updated_at) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(id: string): Promise<Job | undefined> {
    const response = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: id }, ConsistentRead: true }),
    );
    return response.Item ? toJob(response.Item) : undefined;
  }

  /** The upload arrived and is accepted: queue it for processing. */
  markQueued(id: string, facts: UploadFacts): Promise<Job | undefined> {
    return this.transition(id, 'uploadAccepted', { set: factsOf(facts), remove: ['ttl'] });
  }

  /** The upload arrived, but its bytes match an earlier job with the same preset. */
  markDuplicate(id: string, canonicalId: string, facts: UploadFacts): Promise<Job | undefined> {
    return this.transition(id, 'uploadDuplicate', {
      set: { duplicate_of: canonicalId, ...factsOf(facts) },
      remove: ['ttl'],
    });
  }

  /** The upload arrived but cannot be processed (empty, wrong size, a type the preset does not accept). */
  markUploadRefused(id: string, failure: JobFailure, facts?: Partial<UploadFacts>): Promise<Job | undefined> {
    return this.transition(id, 'uploadRefused', {
      set: { ...failureOf({ ...failure, kind: FailureKind.Permanent }), ...factsOf(facts) },
      remove: ['ttl'],
    });
  }

  /**
   * Records that the job's processing message is on its queue. With `unchangedSince`, only if the job
   * has not moved since the caller saw it (the reconciler records this before it sends, as its claim).
   */
  markEnqueued(id: string, options: { unchangedSince?: string } = {}): Promise<Job | undefined> {
    return this.transition(id, 'messageSent', {
      set: { enqueued_at: now() },
      ...(options.unchangedSince ? { condition: unchangedSince(options.unchangedSince) } : {}),
    });
  }

  /**
   * Starts a processing attempt, counting it, unless the attempts of the job's run are used up or the
   * job is not queued.
   */
  startAttempt(
    id: string,
    maxAttempts: number,
    options: {
      /** A job in processing starts again only if its attempt began before this (it died or timed out). */
      staleBefore?: string;
    } = {},
  ): Promise<Job | undefined> {
    const limit = { expression: 'attempts < :max', values: { ':max': maxAttempts } };
    return this.transition(id, 'attemptStarted', {
      increment: 'attempts',
      condition: options.staleBefore
        ? {
            expression: `${limit.expression} AND (#status = :queuedNow OR updated_at < :staleBefore)`,
            values: { ...limit.values, ':queuedNow': JobStatus.Queued, ':staleBefore': options.staleBefore },
          }
        : limit,
    });
  }

  complete(id: string, result: Record<string, unknown>, outputs: Job['outputs']): Promise<Job | undefined> {
    return this.transition(id, 'completed', {
      set: { result, outputs },
      remove: ['error', 'error_code', 'failure_kind'],
    });
  }

  /**
   * Fails the job for one of the lifecycle's failure events. `onlyFrom` narrows the statuses the event
   * allows to those the caller saw, so that a job that moved on meanwhile is left alone.
   */
  fail(
    id: string,
    event: 'processingFailed' | 'attemptsExhausted' | 'deadLettered',
    failure: JobFailure,
    onlyFrom?: readonly StoredStatus[],
    /** Only if the job's `updated_at` is still this (it has not moved since the caller saw it). */
    unchangedSinceSeen?: string,
  ): Promise<Job | undefined> {
    return this.transition(id, event, {
      set: failureOf(failure),
      ...(onlyFrom ? { onlyFrom } : {}),
      ...(unchangedSinceSeen ? { condition: unchangedSince(unchangedSinceSeen) } : {}),
    });
  }

  /**
   * The reconciler found an attempt that outlived its function's timeout: back to queued (recorded as
   * enqueued, since the caller sends the message next), if attempts are left and the job has not moved
   * since `seenUpdatedAt`.
   */
  requeueStalled(id: string, seenUpdatedAt: string, maxAttempts: number): Promise<Job | undefined> {
    const seen = unchangedSince(seenUpdatedAt);
    return this.transition(id, 'processingStalled', {
      set: { enqueued_at: now() },
      condition: {
        expression: `attempts < :max AND ${seen.expression}`,
        values: { ':max': maxAttempts, ...seen.values },
      },
    });
  }

  /** A transient failure with attempts left: back to the queue, keeping the error for the caller to see. */
  deferRetry(id: string, failure: JobFailure): Promise<Job | undefined> {
    return this.transition(id, 'retryDeferred', { set: failureOf(failure) });
  }

  /**
   * The retry route: a failed job goes back to the queue as its next run, with a fresh attempt budget
   * (`attempts` back to 0, `run` one more), only if it has not moved since the caller judged it (its
   * `updated_at`) and at most `maxRetries` runs after the first were started. Two concurrent retries of
   * one failure start one run.
   */
  requeue(seen: Pick<Job, 'id' | 'updated_at'>, maxRetries: number): Promise<Job | undefined> {
    // A job without `run` is in run 1: retryable only when manual retries are allowed at all.
    if (maxRetries < 1) return Promise.resolve(undefined);
    const unchanged = unchangedSince(seen.updated_at);
    return this.transition(seen.id, 'retryRequested', {
      set: { attempts: 0 },
      increment: 'run',
      remove: ['error', 'error_code', 'failure_kind', 'enqueued_at'],
      condition: {
        expression: `${unchanged.expression} AND (attribute_not_exists(#inc) OR #inc <= :maxRetries)`,
        values: { ...unchanged.values, ':maxRetries': maxRetries },
      },
    });
  }

  /**
   * Undoes `requeue` when the message could not be sent, so the job does not sit queued with nothing
   * queued: the failure, the run and the attempts the caller saw come back.
   */
  revertRequeue(
    id: string,
    failure: JobFailure,
    previous: Pick<Job, 'attempts' | 'run'>,
  ): Promise<Job | undefined> {
    return this.transition(id, 'retryReverted', {
      set: { ...failureOf(failure), attempts: previous.attempts, run: previous.run },
      ...(previous.run === undefined ? { remove: ['run'] } : {}),
      condition: { expression: 'attribute_not_exists(enqueued_at)', values: {} },
    });
  }

  /**
   * Adds a duplicate to the canonical job; the returned job tells whether it has already finished.
   * Undefined when the canonical job is gone or deleted (a tombstone takes no new duplicates): the
   * caller then claims the content for its own job.
   */
  linkDuplicate(canonicalId: string, duplicateId: string): Promise<Job | undefined> {
    return this.update(canonicalId, {
      UpdateExpression: 'ADD duplicates :ids SET updated_at = :now',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(deleted_at)',
      ExpressionAttributeValues: { ':ids': new Set([duplicateId]), ':now': now() },
    });
  }

  /**
   * Takes a deleted duplicate off its canonical job's list. It moves `updated_at`, so that a deletion of
   * the canonical job decided on the list it read cannot apply to a list that changed since.
   */
  unlinkDuplicate(canonicalId: string, duplicateId: string): Promise<Job | undefined> {
    return this.update(canonicalId, {
      UpdateExpression: 'DELETE duplicates :ids SET updated_at = :now',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':ids': new Set([duplicateId]), ':now': now() },
    });
  }

  /**
   * Deletes the job record, only if it has not moved since the caller read it (same status, same
   * `updated_at`, not a tombstone). Every change that could start it again (an upload arriving, a retry,
   * a new duplicate linking to it) writes the status or `updated_at`, so a deletion can never remove a
   * job that has just started to process. For a tombstone, only the tombstone the caller read.
   */
  async remove(seen: Pick<Job, 'id' | 'status' | 'updated_at' | 'deleted_at'>): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: seen.id },
          ConditionExpression: `#status = :status AND updated_at = :seen AND ${
            seen.deleted_at ? 'deleted_at = :deleted' : 'attribute_not_exists(deleted_at)'
          }`,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':status': seen.status,
            ':seen': seen.updated_at,
            ...(seen.deleted_at ? { ':deleted': seen.deleted_at } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Marks a finished job deleted while duplicates still show its results (same conditions as `remove`):
   * it keeps its record for them and leaves the open-jobs index; nothing moves it again (`transition`
   * refuses tombstones, `linkDuplicate` too).
   */
  async tombstone(
    seen: Pick<Job, 'id' | 'status' | 'updated_at'>,
    at: string = now(),
  ): Promise<Job | undefined> {
    return this.update(seen.id, {
      UpdateExpression: 'SET deleted_at = :at REMOVE #open, #idle',
      ConditionExpression: '#status = :status AND updated_at = :seen AND attribute_not_exists(deleted_at)',
      ExpressionAttributeNames: { '#status': 'status', '#open': OPEN_SHARD, '#idle': IDLE_SINCE },
      ExpressionAttributeValues: { ':at': at, ':status': seen.status, ':seen': seen.updated_at },
    });
  }

  /**
   * One page of the tenant's jobs from the tenant-jobs index, newest first, tombstones left out; with
   * `statuses`, only jobs stored in one of them. `from` continues after a position a previous page gave.
   */
  async listByTenant(
    tenant: string,
    options: { limit: number; from?: TenantJobsPosition; statuses?: readonly StoredStatus[] },
  ): Promise<TenantJobsPage> {
    const names: Record<string, string> = { '#tenant': TENANT_JOBS_INDEX.partitionKey };
    const values: Record<string, unknown> = { ':tenant': tenant };
    const filters = ['attribute_not_exists(deleted_at)'];
    if (options.statuses) {
      names['#status'] = 'status';
      const placeholders = options.statuses.map((status, index) => {
        values[`:st${index}`] = status;
        return `:st${index}`;
      });
      filters.push(`#status IN (${placeholders.join(', ')})`);
    }
    const response = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: TENANT_JOBS_INDEX.indexName,
        KeyConditionExpression: '#tenant = :tenant',
        FilterExpression: filters.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: options.limit,
        ...(options.from ? { ExclusiveStartKey: { ...options.from } } : {}),
      }),
    );
    const last = response.LastEvaluatedKey;
    return {
      jobs: (response.Items ?? []).map(toJob),
      ...(last
        ? { next: { pk: String(last.pk), tenant: String(last.tenant), created_at: String(last.created_at) } }
        : {}),
    };
  }

  /**
   * Records the job's webhook state. With `seen`, only if the job's webhook is still what the caller read
   * (`null`: nothing yet for this message id), so two deliveries of one message cannot both count the same
   * attempt. A final state (delivered, failed, refused) of a finished job also takes it out of the
   * open-jobs index: the reconciler has nothing more to announce. Returns whether it was written.
   */
  async recordWebhook(jobId: string, state: WebhookState, seen?: WebhookState | null): Promise<boolean> {
    const values: Record<string, unknown> = { ':webhook': state };
    const names: Record<string, string> = {};
    const conditions = ['attribute_exists(pk)'];
    if (seen === null) {
      values[':id'] = state.message_id;
      conditions.push('(attribute_not_exists(webhook) OR webhook.message_id <> :id)');
    } else if (seen) {
      Object.assign(values, {
        ':id': seen.message_id,
        ':seenStatus': seen.status,
        ':seenAttempts': seen.attempts,
      });
      names['#status'] = 'status';
      conditions.push(
        'webhook.message_id = :id AND webhook.#status = :seenStatus AND webhook.attempts = :seenAttempts',
      );
    }
    if (FINAL_WEBHOOK_STATUSES.includes(state.status)) {
      const closing = Object.fromEntries(CLOSING_STATUSES.map((status, i) => [`:c${i}`, status]));
      const closed = await this.write(jobId, {
        UpdateExpression: 'SET webhook = :webhook REMOVE #open, #idle',
        ConditionExpression: [...conditions, `#status IN (${Object.keys(closing).join(', ')})`].join(' AND '),
        ExpressionAttributeNames: { ...names, '#status': 'status', '#open': OPEN_SHARD, '#idle': IDLE_SINCE },
        ExpressionAttributeValues: { ...values, ...closing },
      });
      if ('job' in closed) return true;
      // No such job; otherwise not finished (a late delivery for an outcome the retry route superseded:
      // it stays open) or `seen` no longer holds, which the plain write below tells apart.
      if (!closed.rejected) return false;
    }
    const updated = await this.update(jobId, {
      UpdateExpression: 'SET webhook = :webhook',
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeValues: values,
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
    });
    return updated !== undefined;
  }

  /**
   * The open jobs of one index shard idle since before `idleBefore`, the longest idle first, at most
   * `limit` (the index is eventually consistent: callers write conditionally on what they saw).
   */
  async findIdleJobs(shard: string, idleBefore: string, limit: number): Promise<IdleJob[]> {
    const response = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: OPEN_JOBS_INDEX.indexName,
        KeyConditionExpression: '#open = :shard AND #idle < :before',
        ExpressionAttributeNames: { '#open': OPEN_SHARD, '#idle': IDLE_SINCE },
        ExpressionAttributeValues: { ':shard': shard, ':before': idleBefore },
        ScanIndexForward: true,
        Limit: limit,
      }),
    );
    return (response.Items ?? []).map((item) => {
      const { pk, [OPEN_SHARD]: _shard, ...rest } = item;
      return { ...rest, id: String(pk) } as IdleJob;
    });
  }

  /**
   * The reconciler looked at the job and left it (or claims it before announcing it): it goes to the
   * back of the open-jobs index, idle since `at`. False when the job moved, or another run claimed it.
   * With `announced`, also records `at` as when the reconciler announced the job's outcome.
   */
  async markLookedAt(
    id: string,
    seen: SeenJob,
    at: string,
    { announced = false }: { announced?: boolean } = {},
  ): Promise<boolean> {
    const result = await this.write(id, {
      UpdateExpression: announced ? 'SET #idle = :at, announced_at = :at' : 'SET #idle = :at',
      ConditionExpression: 'updated_at = :updated AND #idle = :idle',
      ExpressionAttributeNames: { '#idle': IDLE_SINCE },
      ExpressionAttributeValues: { ':at': at, ':updated': seen.updated_at, ':idle': seen.idle_since },
    });
    return 'job' in result;
  }

  /** Takes a finished job that owes nothing more out of the open-jobs index, unless it moved since. */
  async closeOpenJob(id: string, seenUpdatedAt: string): Promise<boolean> {
    const result = await this.write(id, {
      UpdateExpression: 'REMOVE #open, #idle',
      ConditionExpression: `updated_at = :updated AND #status IN (${CLOSING_STATUSES.map((_, i) => `:c${i}`).join(', ')})`,
      ExpressionAttributeNames: { '#status': 'status', '#open': OPEN_SHARD, '#idle': IDLE_SINCE },
      ExpressionAttributeValues: {
        ':updated': seenUpdatedAt,
        ...Object.fromEntries(CLOSING_STATUSES.map((status, i) => [`:c${i}`, status])),
      },
    });
    return 'job' in result;
  }

  /**
   * The conditional put that makes a file + preset one job: the first job to claim the key holds it;
   * later claimants learn which job holds it.
   */
  async claimDedupKey(content: ContentKey, jobId: string): Promise<DedupClaim> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          // No `tenant` attribute: it would put the key in the tenant-jobs index.
          Item: { pk: dedupKey(content), job_id: jobId, created_at: now() },
          ConditionExpression: 'attribute_not_exists(pk)',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const holder = error.Item ? unmarshall(error.Item).job_id : undefined;
      if (typeof holder !== 'string') throw error;
      return holder === jobId ? { claimed: true } : { claimed: false, holder };
    }
  }

  /** Hands the key from a failed job to a new upload of the same bytes, so a failure never blocks a re-upload. */
  async takeOverDedupKey(content: ContentKey, fromJobId: string, toJobId: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: dedupKey(content) },
          UpdateExpression: 'SET job_id = :to',
          ConditionExpression: 'job_id = :from',
          ExpressionAttributeValues: { ':to': toJobId, ':from': fromJobId },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** Frees the key a deleted job held (only if it still holds it), so the next upload makes a new job. */
  async releaseDedupKey(content: ContentKey, jobId: string): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: dedupKey(content) },
          ConditionExpression: 'job_id = :id',
          ExpressionAttributeValues: { ':id': jobId },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The job holding a file + preset of a tenant, if any (direct uploads answer with the existing job). */
  async findByContent(content: ContentKey): Promise<string | undefined> {
    const response = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: dedupKey(content) },
        ConsistentRead: true,
      }),
    );
    const holder = response.Item?.job_id;
    return typeof holder === 'string' ? holder : undefined;
  }

  /**
   * Applies one event of the lifecycle (functions/shared/job-lifecycle.ts): sets the status the event
   * leads to, on the condition that the job is in one of the statuses the event allows (narrowed by
   * `onlyFrom`) and meets the change's own `condition`.
   *
   * The same write keeps the open-jobs index (functions/shared/jobs-table.ts) in step: a job moving to a
   * non-terminal status is open, idle since now; one moving to done, failed or duplicate leaves the index,
   * unless it has a callback URL, which it stays for until its webhook is recorded final (recordWebhook).
   * The store cannot see the callback URL before writing, so it first writes as for a job without one
   * (on the condition that it has none), and only a job that has one is written again, the other way.
   */
  private async transition(
    jobId: string,
    event: JobEvent,
    change: {
      set?: Record<string, unknown>;
      remove?: string[];
      /** A numeric attribute to add one to. */
      increment?: string;
      condition?: { expression: string; values: Record<string, unknown> };
      onlyFrom?: readonly StoredStatus[];
    } = {},
  ): Promise<Job | undefined> {
    const { from, to } = JOB_LIFECYCLE[event];
    const allowed = change.onlyFrom ? from.filter((status) => change.onlyFrom?.includes(status)) : from;
    if (allowed.length === 0) return undefined;
    const names: Record<string, string> = { '#status': 'status', '#open': OPEN_SHARD, '#idle': IDLE_SINCE };
    const values: Record<string, unknown> = { ':now': now(), ':to': to, ...change.condition?.values };
    const sets = ['#status = :to', 'updated_at = :now'];
    Object.entries(change.set ?? {}).forEach(([attribute, value], index) => {
      if (value === undefined) return;
      names[`#s${index}`] = attribute;
      values[`:s${index}`] = value;
      sets.push(`#s${index} = :s${index}`);
    });
    if (change.increment) {
      names['#inc'] = change.increment;
      values[':one'] = 1;
      // A job written before the attribute existed counts from 1 (`run`) as from 0 (`attempts`, always set).
      values[':base'] = change.increment === 'run' ? 1 : 0;
      sets.push('#inc = if_not_exists(#inc, :base) + :one');
    }
    const removes = (change.remove ?? []).map((attribute, index) => {
      names[`#r${index}`] = attribute;
      return `#r${index}`;
    });
    const fromValues = allowed.map((status, index) => {
      values[`:from${index}`] = status;
      return `:from${index}`;
    });
    // A deleted job (a tombstone kept for its duplicates) never moves again.
    const conditions = [
      'attribute_exists(pk)',
      'attribute_not_exists(deleted_at)',
      `#status IN (${fromValues.join(', ')})`,
    ];
    if (change.condition) conditions.push(change.condition.expression);
    const expression = (index: 'open' | 'close') => {
      const allSets = index === 'open' ? [...sets, '#open = :shard', '#idle = :now'] : sets;
      const allRemoves = index === 'close' ? [...removes, '#open', '#idle'] : removes;
      return `SET ${allSets.join(', ')}${allRemoves.length > 0 ? ` REMOVE ${allRemoves.join(', ')}` : ''}`;
    };
    const keepOpen = {
      UpdateExpression: expression('open'),
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ...values, ':shard': openJobShardFor(jobId) },
    };
    if (!CLOSING_STATUSES.includes(to)) return this.update(jobId, keepOpen);

    const closed = await this.write(jobId, {
      UpdateExpression: expression('close'),
      ConditionExpression: [...conditions, 'attribute_not_exists(callback_url)'].join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    if ('job' in closed) return closed.job;
    // It owes its callback the outcome: it stays in the index until the webhook is recorded final.
    return closed.rejected?.callback_url ? this.update(jobId, keepOpen) : undefined;
  }

  private async update(
    jobId: string,
    input: Omit<UpdateCommandInput, 'TableName' | 'Key' | 'ReturnValues'>,
  ): Promise<Job | undefined> {
    const result = await this.write(jobId, input);
    return 'job' in result ? result.job : undefined;
  }

  /** A conditional update: the job as written, or what the item held when the condition failed. */
  private async write(
    jobId: string,
    input: Omit<UpdateCommandInput, 'TableName' | 'Key' | 'ReturnValues'>,
  ): Promise<{ job: Job } | { rejected: Record<string, unknown> | undefined }> {
    try {
      const response = await this.client.send(
        new UpdateCommand({
          ...input,
          TableName: this.tableName,
          Key: { pk: jobId },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      if (!response.Attributes) return { rejected: undefined };
      return { job: toJob(response.Attributes) };
    } catch (error) {
      if (isConditionFailure(error)) return { rejected: error.Item ? unmarshall(error.Item) : undefined };
      throw error;
    }
  }
}

/** A condition that the job has not moved (no state change wrote `updated_at`) since the caller saw it. */
const unchangedSince = (updatedAt: string): { expression: string; values: Record<string, unknown> } => ({
  expression: 'updated_at = :seenUpdatedAt',
  values: { ':seenUpdatedAt': updatedAt },
});

const failureOf = (failure: JobFailure): Record<string, unknown> => ({
  error: failure.message,
  error_code: failure.code,
  failure_kind: failure.kind ?? FailureKind.Transient,
});

const factsOf = (facts: Partial<UploadFacts> | undefined): Record<string, unknown> => ({
  file_hash: facts?.file_hash,
  upload_etag: facts?.upload_etag,
  detected_type: facts?.detected_type,
  media_kind: facts?.media_kind,
});

/** The job without the table's own attributes (its key, its open-jobs index entry). */
const toJob = (item: Record<string, unknown>): Job => {
  const { pk: _pk, [OPEN_SHARD]: _shard, [IDLE_SINCE]: _idle, ...job } = item;
  return job as unknown as Job;
};
