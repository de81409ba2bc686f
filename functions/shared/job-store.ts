import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Job, StoredStatus, WebhookState } from './job.ts';
import { JOB_LIFECYCLE, type JobEvent } from './job-lifecycle.ts';
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
}

export type DedupClaim = { claimed: true } | { claimed: false; holder: string };

const dedupKey = (fileHash: string, preset: string) => `dedup#${preset}#${fileHash}`;
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
        Item: { pk: job.id, ...job },
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
      set: { ...failureOf(failure), ...factsOf(facts) },
      remove: ['ttl'],
    });
  }

  /** Records that the job's processing message is on its queue. */
  async markEnqueued(id: string): Promise<void> {
    await this.transition(id, 'messageSent', { set: { enqueued_at: now() } });
  }

  /** Starts a processing attempt, counting it, unless the attempts are used up or the job is not queued. */
  startAttempt(id: string, maxAttempts: number): Promise<Job | undefined> {
    return this.transition(id, 'attemptStarted', {
      increment: 'attempts',
      condition: { expression: 'attempts < :max', values: { ':max': maxAttempts } },
    });
  }

  complete(id: string, result: Record<string, unknown>, outputs: Job['outputs']): Promise<Job | undefined> {
    return this.transition(id, 'completed', { set: { result, outputs }, remove: ['error', 'error_code'] });
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
  ): Promise<Job | undefined> {
    return this.transition(id, event, { set: failureOf(failure), ...(onlyFrom ? { onlyFrom } : {}) });
  }

  /** A transient failure with attempts left: back to the queue, keeping the error for the caller to see. */
  deferRetry(id: string, failure: JobFailure): Promise<Job | undefined> {
    return this.transition(id, 'retryDeferred', { set: failureOf(failure) });
  }

  /** The retry route: a failed job with attempts left goes back to the queue. */
  requeue(id: string, maxAttempts: number): Promise<Job | undefined> {
    return this.transition(id, 'retryRequested', {
      remove: ['error', 'error_code', 'enqueued_at'],
      condition: { expression: 'attempts < :max', values: { ':max': maxAttempts } },
    });
  }

  /** Undoes `requeue` when the message could not be sent, so the job does not sit queued with nothing queued. */
  revertRequeue(id: string, failure: JobFailure): Promise<Job | undefined> {
    return this.transition(id, 'retryReverted', {
      set: failureOf(failure),
      condition: { expression: 'attribute_not_exists(enqueued_at)', values: {} },
    });
  }

  /** Adds a duplicate to the canonical job; the returned job tells whether it has already finished. */
  linkDuplicate(canonicalId: string, duplicateId: string): Promise<Job | undefined> {
    return this.update(canonicalId, {
      UpdateExpression: 'ADD duplicates :ids SET updated_at = :now',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':ids': new Set([duplicateId]), ':now': now() },
    });
  }

  /**
   * Records the job's webhook state. With `seen`, only if the job's webhook is still what the caller read
   * (`null`: nothing yet for this message id), so two deliveries of one message cannot both count the same
   * attempt. Returns whether it was written.
   */
  async recordWebhook(jobId: string, state: WebhookState, seen?: WebhookState | null): Promise<boolean> {
    const values: Record<string, unknown> = { ':webhook': state };
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
      conditions.push(
        'webhook.message_id = :id AND webhook.#status = :seenStatus AND webhook.attempts = :seenAttempts',
      );
    }
    const updated = await this.update(jobId, {
      UpdateExpression: 'SET webhook = :webhook',
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeValues: values,
      ...(seen ? { ExpressionAttributeNames: { '#status': 'status' } } : {}),
    });
    return updated !== undefined;
  }

  /**
   * The conditional put that makes a file + preset one job: the first job to claim the key holds it;
   * later claimants learn which job holds it.
   */
  async claimDedupKey(fileHash: string, preset: string, jobId: string): Promise<DedupClaim> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: dedupKey(fileHash, preset), job_id: jobId, created_at: now() },
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
  async takeOverDedupKey(
    fileHash: string,
    preset: string,
    fromJobId: string,
    toJobId: string,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: dedupKey(fileHash, preset) },
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

  /** The job holding a file + preset, if any (used by direct uploads to answer with the existing job). */
  async findByContent(fileHash: string, preset: string): Promise<string | undefined> {
    const response = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: { pk: dedupKey(fileHash, preset) },
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
   */
  private transition(
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
    if (allowed.length === 0) return Promise.resolve(undefined);
    const names: Record<string, string> = { '#status': 'status' };
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
      sets.push('#inc = #inc + :one');
    }
    const removes = (change.remove ?? []).map((attribute, index) => {
      names[`#r${index}`] = attribute;
      return `#r${index}`;
    });
    const fromValues = allowed.map((status, index) => {
      values[`:from${index}`] = status;
      return `:from${index}`;
    });
    const conditions = ['attribute_exists(pk)', `#status IN (${fromValues.join(', ')})`];
    if (change.condition) conditions.push(change.condition.expression);
    return this.update(jobId, {
      UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  private async update(
    jobId: string,
    input: Omit<UpdateCommandInput, 'TableName' | 'Key' | 'ReturnValues'>,
  ): Promise<Job | undefined> {
    try {
      const response = await this.client.send(
        new UpdateCommand({
          ...input,
          TableName: this.tableName,
          Key: { pk: jobId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return response.Attributes ? toJob(response.Attributes) : undefined;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}

const failureOf = (failure: JobFailure): Record<string, unknown> => ({
  error: failure.message,
  error_code: failure.code,
});

const factsOf = (facts: Partial<UploadFacts> | undefined): Record<string, unknown> => ({
  file_hash: facts?.file_hash,
  upload_etag: facts?.upload_etag,
  detected_type: facts?.detected_type,
  media_kind: facts?.media_kind,
});

const toJob = (item: Record<string, unknown>): Job => {
  const { pk: _pk, ...job } = item;
  return job as unknown as Job;
};
