import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { TooManyRequestsError } from '#shared/errors';
import { JOBS_TABLE_KEYS, usageKeyFor } from '#shared/jobs-table';

/** Per-tenant limits per UTC day; 0 turns a limit off. */
export interface QuotaLimits {
  jobsPerDay: number;
  bytesPerDay: number;
}

const DAY_SECONDS = 24 * 60 * 60;

/** The UTC day of `now` (YYYY-MM-DD), and the seconds until the next UTC midnight (at least 1). */
export const utcDayOf = (now: Date): { day: string; secondsLeft: number } => {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return {
    day: now.toISOString().slice(0, 10),
    secondsLeft: Math.max(1, Math.ceil((midnight - now.getTime()) / 1000)),
  };
};

const isConditionFailure = (error: unknown): error is ConditionalCheckFailedException =>
  error instanceof ConditionalCheckFailedException ||
  (error instanceof Error && error.name === 'ConditionalCheckFailedException');

/**
 * Counts each tenant's new jobs and their declared bytes per UTC day, in one item of the jobs table per
 * tenant and day (`usage#<tenant>#<day>`, expired by the table's TTL a day after), and refuses a job
 * that would go over a limit. The count and the check are one conditional ADD, so concurrent requests
 * can never together pass a limit. The item carries no `tenant` or `created_at`: it stays out of the
 * tenant-jobs index.
 */
export class QuotaMeter {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    readonly limits: QuotaLimits,
  ) {}

  /** Counts one job of `bytes` for the tenant today, or throws a 429 naming the limit it would pass. */
  async charge(tenant: string, bytes: number, now: Date = new Date()): Promise<void> {
    const { jobsPerDay, bytesPerDay } = this.limits;
    if (jobsPerDay === 0 && bytesPerDay === 0) return;
    const { day, secondsLeft } = utcDayOf(now);
    const resets = `the quota resets at midnight UTC, in ${secondsLeft} seconds`;
    const overBytes = (used: number) =>
      new TooManyRequestsError(
        'Quota::BytesPerDay',
        `this file of ${bytes} bytes would take today's uploads (${day}, UTC) past the quota of ${bytesPerDay} bytes per day (${used} used); ${resets}`,
        secondsLeft,
      );
    if (bytesPerDay > 0 && bytes > bytesPerDay) throw overBytes(0);

    const conditions: string[] = [];
    const values: Record<string, unknown> = {
      ':one': 1,
      ':bytes': bytes,
      ':day': day,
      ':ttl': Math.floor(now.getTime() / 1000) + secondsLeft + DAY_SECONDS,
    };
    if (jobsPerDay > 0) {
      conditions.push('(attribute_not_exists(jobs) OR jobs < :maxJobs)');
      values[':maxJobs'] = jobsPerDay;
    }
    if (bytesPerDay > 0) {
      conditions.push('(attribute_not_exists(#bytes) OR #bytes <= :roomBefore)');
      values[':roomBefore'] = bytesPerDay - bytes;
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: usageKeyFor(tenant, day) },
          UpdateExpression: 'ADD jobs :one, #bytes :bytes SET #day = :day, #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: conditions.join(' AND '),
          ExpressionAttributeNames: {
            '#bytes': 'bytes',
            '#day': 'day',
            '#ttl': JOBS_TABLE_KEYS.timeToLiveAttribute,
          },
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const used = error.Item ? unmarshall(error.Item) : {};
      if (jobsPerDay > 0 && Number(used.jobs ?? 0) >= jobsPerDay) {
        throw new TooManyRequestsError(
          'Quota::JobsPerDay',
          `the quota of ${jobsPerDay} new jobs per day is used up for today (${day}, UTC); ${resets}`,
          secondsLeft,
        );
      }
      throw overBytes(Number(used.bytes ?? 0));
    }
  }
}
