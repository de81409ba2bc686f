/**
 * Names of the pipeline's own CloudWatch metrics (Powertools EMF, namespace POWERTOOLS_METRICS_NAMESPACE,
 * dimension `service` = POWERTOOLS_SERVICE_NAME). Kept free of imports so that the stack's alarms and
 * dashboard (lib/) name exactly what the functions emit.
 */
export const JobMetric = {
  Created: 'JobsCreated',
  Done: 'JobsDone',
  Failed: 'JobsFailed',
  Duplicate: 'JobsDuplicate',
  Retried: 'JobsRetried',
  ProcessingTime: 'ProcessingTime',
  WebhookDelivered: 'WebhooksDelivered',
  WebhookFailed: 'WebhooksFailed',
  /** A job the reconciler moved on, with the extra dimension `kind` (ReconcileKind). */
  Reconciled: 'JobsReconciled',
} as const;

/** What had stopped moving: the `kind` dimension of the JobsReconciled metric. */
export const ReconcileKind = {
  /** awaiting_upload, its object in the bucket: the S3 event was lost or dead-lettered. */
  UploadNotIngested: 'upload_not_ingested',
  /** queued, its message never recorded as sent: the sender stopped between two writes. */
  MessageNotSent: 'message_not_sent',
  /**
   * queued, its message sent longer ago than any backoff and visibility timeout, and its queue holding
   * fewer messages than the run found such jobs: the message is gone.
   */
  MessageLost: 'message_lost',
  /** processing past the function's timeout: the attempt died without recording an outcome. */
  AttemptStalled: 'attempt_stalled',
  /** done, failed or duplicate, its callback not told: the webhook message was lost. */
  OutcomeNotAnnounced: 'outcome_not_announced',
} as const;
export type ReconcileKind = (typeof ReconcileKind)[keyof typeof ReconcileKind];
