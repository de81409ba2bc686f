import { CfnResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CorsRule,
  EventType,
  HttpMethods,
  type LifecycleRule,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { LambdaDestination } from 'aws-cdk-lib/aws-s3-notifications';
import { Construct } from 'constructs';
import { JOBS_TABLE_KEYS, OPEN_JOBS_INDEX, TENANT_JOBS_INDEX } from '#shared/jobs-table';
import {
  DEFAULT_UPLOAD_RETENTION_DAYS,
  MAX_RETENTION_DAYS,
  MIN_UPLOAD_RETENTION_DAYS,
} from '#shared/retention';
import {
  addDirectLambdaNotification,
  stackUniqueBucketName,
} from './constructs/direct-bucket-notification.ts';
import { acknowledge, objectWildcardFinding } from './constructs/nag.ts';

/** What CDK's grantReadWriteData allows on a table (TableGrants.readWriteData), kept to the table itself. */
const JOBS_READ_WRITE = [
  'dynamodb:BatchGetItem',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:Query',
  'dynamodb:GetItem',
  'dynamodb:Scan',
  'dynamodb:ConditionCheckItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:DescribeTable',
];

/** Key prefixes the functions use (functions/shared/job.ts); the ingest notification filters on uploads/. */
export const UPLOADS_PREFIX = 'uploads/';
export const RESULTS_PREFIX = 'results/';

/**
 * Noncurrent object versions are deleted this many days after they stop being current. The buckets are
 * not versioned, so this rule does nothing today; it keeps storage from growing should versioning ever
 * be turned on (replication needs it), a week being time enough to undo an accidental overwrite.
 */
export const NONCURRENT_VERSION_DAYS = 7;

/** Checks a retention in days from a prop: whole days from `min` to MAX_RETENTION_DAYS. */
export const checkRetentionDays = (name: string, days: number, min: number, why = ''): number => {
  if (!Number.isInteger(days) || days < min || days > MAX_RETENTION_DAYS) {
    throw new Error(
      `${name} must be a whole number of days from ${min} to ${MAX_RETENTION_DAYS}, not ${days}${why}`,
    );
  }
  return days;
};

/** Why originals are kept at least MIN_UPLOAD_RETENTION_DAYS, for the message that refuses fewer. */
export const UPLOAD_RETENTION_FLOOR_REASON =
  ' (a job waits a week for its upload, a queued job’s message may wait 7 days in an outage, and a failed job must keep its original for a retry)';

export interface StorageProps {
  /** Browser origins allowed to upload to and download from the buckets (S3 CORS). */
  readonly allowedOrigins: readonly string[];
  /**
   * Keep the buckets, their access logs and the jobs table when the stack is deleted. When false they are
   * destroyed with it, the buckets emptied first.
   */
  readonly retainData: boolean;
  /**
   * How S3 is told to notify the uploads' consumer: `custom-resource`, CDK's
   * `Custom::S3BucketNotifications` (AWS), or `bucket-configuration`, the bucket's own
   * NotificationConfiguration (LocalStack, where CDK's deploy-time handler fails; the uploads bucket is
   * then named from the stack id, see addDirectLambdaNotification).
   * @default 'custom-resource'
   */
  readonly uploadNotifications?: 'custom-resource' | 'bucket-configuration';
  /**
   * Days after upload when originals (uploads/) are deleted, whatever became of their job: a job needs
   * its original only while it runs or can be retried, and the API refuses a retry from two days before
   * (functions/shared/retention.ts). From 10 (MIN_UPLOAD_RETENTION_DAYS) to 3650.
   * @default 30
   */
  readonly uploadRetentionDays?: number;
  /**
   * Days after they are made when results (results/) are deleted; their URLs then answer 404. From 1 to
   * 3650.
   * @default - kept
   */
  readonly resultRetentionDays?: number;
}

/**
 * Where the pipeline keeps things: the uploads bucket (what clients send), the results bucket (what the
 * pipeline makes; being another bucket, outputs can never trigger ingest again), the jobs table, and a
 * bucket for both buckets' server access logs. Its grant methods are the only way functions get data
 * access, each as narrow as the functions' code needs.
 */
export class Storage extends Construct {
  readonly uploadsBucket: Bucket;
  readonly resultsBucket: Bucket;
  readonly jobsTable: Table;
  readonly accessLogsBucket: Bucket;
  /**
   * The uploads bucket's name for the function that S3 notifies: with `bucket-configuration`
   * notifications, an expression that does not reference the bucket (that function is created first).
   */
  readonly uploadsBucketName: string;
  /** Days after upload when originals are deleted. */
  readonly uploadRetentionDays: number;
  /** Days after they are made when results are deleted; undefined when they are kept. */
  readonly resultRetentionDays: number | undefined;
  private readonly uploadNotifications: 'custom-resource' | 'bucket-configuration';

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const autoDeleteObjects = !props.retainData;
    const allowedOrigins = [...props.allowedOrigins];
    this.uploadNotifications = props.uploadNotifications ?? 'custom-resource';
    const directNotifications = this.uploadNotifications === 'bucket-configuration';
    this.uploadRetentionDays = checkRetentionDays(
      'uploadRetentionDays',
      props.uploadRetentionDays ?? DEFAULT_UPLOAD_RETENTION_DAYS,
      MIN_UPLOAD_RETENTION_DAYS,
      UPLOAD_RETENTION_FLOOR_REASON,
    );
    this.resultRetentionDays =
      props.resultRetentionDays === undefined
        ? undefined
        : checkRetentionDays('resultRetentionDays', props.resultRetentionDays, 1);
    // Acts only on versioned buckets (neither is): old versions and the delete markers left alone.
    const cleanUpOldVersions: LifecycleRule = {
      id: 'CleanUpOldVersions',
      noncurrentVersionExpiration: Duration.days(NONCURRENT_VERSION_DAYS),
      expiredObjectDeleteMarker: true,
    };

    this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      // S3 log delivery writes only to buckets with S3-managed keys.
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(90) }],
      removalPolicy,
      autoDeleteObjects,
    });
    acknowledge(
      this.accessLogsBucket,
      'AwsSolutions-S1',
      'This bucket is the destination of the server access logs; logging its own access would log the log writes.',
    );

    const privateBucket = {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: BucketEncryption.S3_MANAGED,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      removalPolicy,
      autoDeleteObjects,
    };
    const cors = (allowedMethods: HttpMethods[]): CorsRule[] => [
      { allowedOrigins, allowedMethods, allowedHeaders: ['*'], exposedHeaders: ['ETag'], maxAge: 3000 },
    ];

    const uploadsBucketName = directNotifications
      ? stackUniqueBucketName(Stack.of(this), 'uploads')
      : undefined;
    this.uploadsBucket = new Bucket(this, 'UploadsBucket', {
      ...privateBucket,
      ...(uploadsBucketName
        ? { bucketName: uploadsBucketName }
        : { notificationsHandlerRole: this.notificationsHandlerRole() }),
      serverAccessLogsPrefix: 'uploads-bucket/',
      // Browsers upload with presigned PUT or POST and read ETag to confirm what arrived.
      cors: cors([HttpMethods.PUT, HttpMethods.POST, HttpMethods.GET, HttpMethods.HEAD]),
      lifecycleRules: [
        { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        {
          id: 'ExpireUploads',
          prefix: UPLOADS_PREFIX,
          expiration: Duration.days(this.uploadRetentionDays),
        },
        cleanUpOldVersions,
      ],
    });

    this.resultsBucket = new Bucket(this, 'ResultsBucket', {
      ...privateBucket,
      serverAccessLogsPrefix: 'results-bucket/',
      cors: cors([HttpMethods.GET, HttpMethods.HEAD]),
      lifecycleRules: [
        ...(this.resultRetentionDays === undefined
          ? []
          : [
              {
                id: 'ExpireResults',
                prefix: RESULTS_PREFIX,
                expiration: Duration.days(this.resultRetentionDays),
              },
            ]),
        cleanUpOldVersions,
      ],
    });
    if (autoDeleteObjects) this.emptyAccessLogsLast();

    this.jobsTable = new Table(this, 'JobsTable', {
      partitionKey: { name: JOBS_TABLE_KEYS.partitionKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: JOBS_TABLE_KEYS.timeToLiveAttribute,
      removalPolicy,
    });
    // Sparse: only jobs that still need something carry its keys (functions/shared/jobs-table.ts says
    // which), so the reconciler queries the few open jobs, never scans the table.
    this.jobsTable.addGlobalSecondaryIndex({
      indexName: OPEN_JOBS_INDEX.indexName,
      partitionKey: { name: OPEN_JOBS_INDEX.partitionKey, type: AttributeType.STRING },
      sortKey: { name: OPEN_JOBS_INDEX.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [...OPEN_JOBS_INDEX.projectedAttributes],
    });
    // Each tenant's jobs by creation time: the list route's Query. Whole jobs, since it renders them.
    this.jobsTable.addGlobalSecondaryIndex({
      indexName: TENANT_JOBS_INDEX.indexName,
      partitionKey: { name: TENANT_JOBS_INDEX.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TENANT_JOBS_INDEX.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
    this.uploadsBucketName = uploadsBucketName ?? this.uploadsBucket.bucketName;
  }

  /**
   * `cdk destroy` without retained data (aws-cdk#21776): S3 delivers server access logs minutes to hours
   * after the requests, so records of the last requests to the uploads and results buckets (the
   * emptying of those buckets included) can land in the log bucket after it was emptied, and its
   * deletion then fails with BucketNotEmpty. CDK's auto-delete handler now first adds a statement
   * denying s3:PutObject to everyone to the bucket's policy (aws-cdk#26874), which refuses those late
   * deliveries; what is left is the order. The log bucket is emptied only once both buckets it logs
   * are gone (no more requests to log), and its policy, which holds that denial, goes after the
   * emptying (CDK makes the emptying depend on it), so deliveries stay refused until the bucket is
   * deleted, by which time the policy's grant to the logging service is gone too.
   */
  private emptyAccessLogsLast(): void {
    const emptying = this.accessLogsBucket.node.tryFindChild('AutoDeleteObjectsCustomResource');
    const emptyingResource = emptying?.node.defaultChild;
    if (!(emptyingResource instanceof CfnResource)) {
      throw new Error(
        'the access-logs bucket has no AutoDeleteObjectsCustomResource: CDK changed how autoDeleteObjects works; check aws-cdk#21776 again',
      );
    }
    for (const bucket of [this.uploadsBucket, this.resultsBucket]) {
      emptyingResource.addResourceDependency(bucket.node.defaultChild as CfnResource);
    }
  }

  /**
   * The role of CDK's deploy-time handler that writes the bucket's notification configuration: made
   * here, rather than left to CDK, so that the managed policy CDK attaches to it is acknowledged on it.
   */
  private notificationsHandlerRole(): Role {
    const role = new Role(this, 'UploadsNotificationsHandlerRole', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Deploy-time handler that sets the uploads bucket notifications',
    });
    acknowledge(
      role,
      'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      "CDK attaches AWSLambdaBasicExecutionRole to its bucket-notifications handler's role; the handler runs only during deployments.",
    );
    return role;
  }

  /**
   * S3 invokes `fn` (asynchronously) for every object created under uploads/ in the uploads bucket. With
   * `bucket-configuration` notifications, `fn` must read the bucket's name from `uploadsBucketName`.
   */
  notifyUploadCreated(fn: LambdaFunction): void {
    if (this.uploadNotifications === 'bucket-configuration') {
      addDirectLambdaNotification(this.uploadsBucket, fn, {
        events: ['s3:ObjectCreated:*'],
        prefix: UPLOADS_PREFIX,
        bucketName: this.uploadsBucketName,
      });
      return;
    }
    this.uploadsBucket.addEventNotification(EventType.OBJECT_CREATED, new LambdaDestination(fn), {
      prefix: UPLOADS_PREFIX,
    });
  }

  /**
   * Read, write and conditional updates of job records, on the table alone: CDK's grantReadWriteData
   * would add every index (`index/*`) once the table has one, and only the reconciler reads an index.
   */
  grantJobsReadWrite(fn: IFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: JOBS_READ_WRITE, resources: [this.jobsTable.tableArn] }),
    );
  }

  /** Query on the open-jobs index (and that index only): how the reconciler finds the jobs that stopped moving. */
  grantQueryOpenJobs(fn: IFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.jobsTable.tableArn}/index/${OPEN_JOBS_INDEX.indexName}`],
      }),
    );
  }

  /** Query on the tenant-jobs index (and that index only): the API's listing of a tenant's jobs. */
  grantQueryTenantJobs(fn: IFunction): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.jobsTable.tableArn}/index/${TENANT_JOBS_INDEX.indexName}`],
      }),
    );
  }

  /** DeleteObject on uploads/ and results/: deleting a job removes its upload and its outputs. */
  grantDeleteJobObjects(fn: IFunction): void {
    this.grantObjects(fn, this.uploadsBucket, UPLOADS_PREFIX, ['s3:DeleteObject'], { listBucket: false });
    this.grantObjects(fn, this.resultsBucket, RESULTS_PREFIX, ['s3:DeleteObject'], { listBucket: false });
  }

  /** GetObject (and HeadObject) on uploads/; ListBucket so that a missing upload reads as NoSuchKey, not AccessDenied. */
  grantReadUploads(fn: IFunction): void {
    this.grantObjects(fn, this.uploadsBucket, UPLOADS_PREFIX, ['s3:GetObject'], { listBucket: true });
  }

  /** PutObject on uploads/: direct uploads, and signing presigned PUT/POST uploads. */
  grantPutUploads(fn: IFunction): void {
    this.grantObjects(fn, this.uploadsBucket, UPLOADS_PREFIX, ['s3:PutObject'], { listBucket: false });
  }

  /**
   * AbortMultipartUpload and ListMultipartUploadParts on uploads/: the API lists what a resuming client
   * already sent and aborts a cancelled upload. Starting, signing parts for and completing one take
   * PutObject (grantPutUploads).
   */
  grantManageMultipartUploads(fn: IFunction): void {
    this.grantObjects(
      fn,
      this.uploadsBucket,
      UPLOADS_PREFIX,
      ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      { listBucket: false },
    );
  }

  /** GetObject on results/ (presigned GET URLs are signed with this permission); ListBucket for 404s. */
  grantReadResults(fn: IFunction): void {
    this.grantObjects(fn, this.resultsBucket, RESULTS_PREFIX, ['s3:GetObject'], { listBucket: true });
  }

  /** PutObject on results/: the variants and posters. */
  grantWriteResults(fn: IFunction): void {
    this.grantObjects(fn, this.resultsBucket, RESULTS_PREFIX, ['s3:PutObject'], { listBucket: false });
  }

  private grantObjects(
    fn: IFunction,
    bucket: Bucket,
    prefix: string,
    actions: string[],
    { listBucket }: { listBucket: boolean },
  ): void {
    const keyPattern = `${prefix}*`;
    fn.addToRolePolicy(new PolicyStatement({ actions, resources: [bucket.arnForObjects(keyPattern)] }));
    if (listBucket) {
      fn.addToRolePolicy(new PolicyStatement({ actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    }
    if (fn.role) {
      acknowledge(
        fn.role,
        objectWildcardFinding(bucket, keyPattern),
        `Object keys under ${prefix} are made per job at run time, so the permission names the prefix, not the keys.`,
      );
    }
  }
}
