import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { withRecordContext } from './observability.ts';

/**
 * Runs a record handler over an SQS batch and answers with the records that failed
 * (ReportBatchItemFailures), so one bad record never makes the whole batch come back. The records run
 * concurrently, each in its own log context carrying its `message_id` (handlers add `job_id` to it).
 */
export const processSqsBatch = (
  event: SQSEvent,
  context: Context,
  recordHandler: (record: SQSRecord) => Promise<void>,
): Promise<SQSBatchResponse> =>
  processPartialResponse(
    event,
    (record: SQSRecord) => withRecordContext({ message_id: record.messageId }, () => recordHandler(record)),
    new BatchProcessor(EventType.SQS),
    {
      context,
      // A batch whose every record failed is reported like any other: each one's retry is already scheduled.
      throwOnFullBatchFailure: false,
    },
  );
