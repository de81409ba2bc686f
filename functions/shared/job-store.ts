import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DUPLICATE, type Job, JobStatus, type StoredStatus, type WebhookState } from './job.ts';
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
    return this.transition(id, [JobStatus.AwaitingUpload], {
      set: { status: JobStatus.Queued, ...factsOf(facts) },
      remove: ['ttl'],
    });
  }

  /** The upload arrived, but its bytes match an earlier job with the same preset. */
  markDuplicate(id: string, canonicalId: string, facts: UploadFacts): Promise<Job | undefined> {
    return this.transition(id, [JobStatus.AwaitingUpload], {
      set: { status: DUPLICATE, duplicate_of: canonicalId, ...factsOf(facts) },
      remove: ['ttl'],
    });
  }

  /** The upload arrived but cannot be processed (empty, wrong size, a type the preset does not accept). */
  markUploadRefused(id: string, failure: JobFailure, facts?: Partial<UploadFacts>): Promise<Job | undefined> {
    return this.transition(id, [JobStatus.AwaitingUpload], {
      set: { status: JobStatus.Failed, error: failure.message, error_code: failure.code, ...factsOf(facts) },
      remove: ['ttl'],
    });
  }

  /** Records that the job's processing message is on its queue. */
  async markEnqueued(id: string): Promise<void> {
    await this.transition(id, [JobStatus.Queued], { set: { enqueued_at: now() } });
  }

  /** Starts a processing attempt, counting it, unless the attempts are used up or the job is not queued. */
  startAttempt(id: string, maxAttempts: number): Promise<Job | undefined> {
    return this.update(id, {
      UpdateExpression: 'SET #status = :processing, attempts = attempts + :one, updated_at = :now',
      ConditionExpression: 'attribute_exists(pk) AND #status IN (:queued, :processing) AND attempts < :max',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':processing': JobStatus.Processing,
        ':queued': JobStatus.Queued,
        ':one': 1,
        ':max': maxAttempts,
        ':now': now(),
      },
    });
  }

  complete(id: string, result: Record<string, unknown>, outputs: Job['outputs']): Promise<Job | undefined> {
    return this.transition(id, [JobStatus.Processing], {
      set: { status: JobStatus.Done, result, outputs },
      remove: ['error', 'error_code'],
    });
  }

  fail(id: string, failure: JobFailure, from: readonly StoredStatus[]): Promise<Job | undefined> {
    return this.transition(id, from, {
      set: { status: JobStatus.Failed, error: failure.message, error_code: failure.code },
    });
  }

  /** A transient failure with attempts left: back to the queue, keeping the error for the caller to see. */
  deferRetry(id: string, failure: JobFailure): Promise<Job | undefined> {
    return this.transition(id, [JobStatus.Processing], {
      set: { status: JobStatus.Queued, error: failure.message, error_code: failure.code },
    });
  }

  /** The retry route: a failed job with attempts left goes back to the queue. */
  requeue(id: string, maxAttempts: number): Promise<Job | undefined> {
    return this.update(id, {
      UpdateExpression: 'SET #status = :queued, updated_at = :now REMOVE #error, error_code, enqueued_at',
      ConditionExpression: 'attribute_exists(pk) AND #status = :failed AND attempts < :max',
      ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
      ExpressionAttributeValues: {
        ':queued': JobStatus.Queued,
        ':failed': JobStatus.Failed,
        ':max': maxAttempts,
        ':now': now(),
      },
    });
  }

  /** Undoes `requeue` when the message could not be sent, so the job does not sit queued with nothing queued. */
  revertRequeue(id: string, failure: JobFailure): Promise<Job | undefined> {
    return this.update(id, {
      UpdateExpression: 'SET #status = :failed, #error = :error, error_code = :code, updated_at = :now',
      ConditionExpression: '#status = :queued AND attribute_not_exists(enqueued_at)',
      ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
      ExpressionAttributeValues: {
        ':queued': JobStatus.Queued,
        ':failed': JobStatus.Failed,
        ':error': failure.message,
        ':code': failure.code,
        ':now': now(),
      },
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

  async recordWebhook(jobId: string, state: WebhookState): Promise<void> {
    await this.update(jobId, {
      UpdateExpression: 'SET webhook = :webhook',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':webhook': state },
    });
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

  private transition(
    jobId: string,
    from: readonly StoredStatus[],
    change: { set: Record<string, unknown>; remove?: string[] },
  ): Promise<Job | undefined> {
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = { ':now': now() };
    const sets = ['updated_at = :now'];
    Object.entries(change.set).forEach(([attribute, value], index) => {
      if (value === undefined) return;
      names[`#s${index}`] = attribute;
      values[`:s${index}`] = value;
      sets.push(`#s${index} = :s${index}`);
    });
    const removes = (change.remove ?? []).map((attribute, index) => {
      names[`#r${index}`] = attribute;
      return `#r${index}`;
    });
    const fromValues = from.map((status, index) => {
      values[`:from${index}`] = status;
      return `:from${index}`;
    });
    return this.update(jobId, {
      UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression: `attribute_exists(pk) AND #status IN (${fromValues.join(', ')})`,
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
