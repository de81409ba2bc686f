import { join } from 'node:path';
import { Duration, Size } from 'aws-cdk-lib';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { presetsConfig } from '#shared/presets';
import { stageFfmpegLayer, stageSharpLayer } from '../layers/stage.ts';
import { architectureOf } from './architecture.ts';
import { type AssetDirectory, MediaFunction } from './constructs/media-function.ts';
import { QueueWithDeadLetter } from './constructs/queue-with-dead-letter.ts';
import { FFMPEG_PATH, FFPROBE_PATH, FfmpegLayer } from './layers/ffmpeg-layer.ts';
import { SHARP_MODULE, SharpLayer } from './layers/sharp-layer.ts';
import {
  PROCESSOR_TIMEOUT_SECONDS,
  type ProcessingBudget,
  processingReceiveBudget,
} from './retry-budgets.ts';
import type { Storage } from './storage.ts';

/** The processors' timeouts: their functions, their queues' visibility and the reconciler's deadlines follow them. */
export const IMAGE_TIMEOUT = Duration.seconds(PROCESSOR_TIMEOUT_SECONDS.image);
export const VIDEO_TIMEOUT = Duration.seconds(PROCESSOR_TIMEOUT_SECONDS.video);

/**
 * How many invocations each processor's queue mapping may run at once (ScalingConfig.MaximumConcurrency).
 * At the limit the mapping stops receiving, so a burst waits in the queue instead of taking the account's
 * concurrency (1000 by default, shared with the API) or being throttled.
 * - image 20: batches of 4, about a second of CPU per image at 2048 MB, so some 80 images in flight and
 *   tens of images a second, far beyond the default quota of 1000 jobs a tenant a day;
 * - video 10: each invocation may hold 3008 MB and 6 GB of /tmp for up to 5 minutes; ten at a time
 *   bound what a burst of large uploads costs an hour.
 */
export const DEFAULT_PROCESSING_MAX_CONCURRENCY = { image: 20, video: 10 } as const;

/** Lambda's ceiling for /tmp. */
const MAX_EPHEMERAL_STORAGE = Size.mebibytes(10_240);

/**
 * The video function downloads the whole upload to /tmp (ffmpeg seeks in a file, and is never given a
 * URL), so /tmp holds the largest accepted video (presets.json) plus room for ffmpeg's output.
 */
export const videoEphemeralStorage = (videoMaxBytes: number = presetsConfig.limits.video_max_bytes): Size => {
  const mebibytes = Math.ceil(videoMaxBytes / 1024 ** 2) + 1024;
  if (mebibytes > MAX_EPHEMERAL_STORAGE.toMebibytes()) {
    throw new Error(
      `presets.json allows videos of ${videoMaxBytes} bytes; the video function's /tmp cannot hold them`,
    );
  }
  return Size.mebibytes(Math.max(mebibytes, 4096));
};

export interface ProcessingProps {
  readonly storage: Storage;
  /** Where the functions send the webhook of a finished job. */
  readonly webhookQueue: IQueue;
  /**
   * Processing attempts of one job (the functions count them and fail the job after the last). The
   * queues' maxReceiveCount is these attempts plus what the retention leaves (lib/retry-budgets.ts).
   */
  readonly maxAttempts: number;
  /** Timeout of the function that drains the dead-letter queues. */
  readonly deadLetterConsumerTimeout: Duration;
  /**
   * The most concurrent invocations of each processor's queue mapping (2–1000).
   * @default DEFAULT_PROCESSING_MAX_CONCURRENCY (image 20, video 10)
   */
  readonly maxConcurrency?: { readonly image?: number; readonly video?: number };
  /**
   * How the functions get ffmpeg/ffprobe and sharp: `layers` (the ffmpeg and sharp layers, mounted at
   * /opt), or `bundled`, copied into the functions' own assets, for targets that do not mount layers
   * (LocalStack's free image): ffmpeg and ffprobe in /var/task/bin, sharp in /var/task/node_modules.
   * @default 'layers'
   */
  readonly nativeDependencies?: 'layers' | 'bundled';
}

/** Where `bundled` native dependencies land in a function's file system (its asset is /var/task). */
export const BUNDLED_FFMPEG_PATH = '/var/task/bin/ffmpeg';
export const BUNDLED_FFPROBE_PATH = '/var/task/bin/ffprobe';

/**
 * The two processors, each behind its own queue: images with sharp (from the sharp layer) and videos
 * with ffmpeg/ffprobe (from the ffmpeg layer). Each reads the upload, writes to the results bucket,
 * updates the job and asks for its webhook.
 */
export class Processing extends Construct {
  readonly imageQueue: QueueWithDeadLetter;
  readonly videoQueue: QueueWithDeadLetter;
  /** Each queue's receive budget and how long it lasts (lib/retry-budgets.ts). */
  readonly budgets: { readonly image: ProcessingBudget; readonly video: ProcessingBudget };
  /** Each queue mapping's maximum concurrency. */
  readonly maxConcurrency: { readonly image: number; readonly video: number };
  readonly imageFunction: MediaFunction;
  readonly videoFunction: MediaFunction;
  /** Undefined when the native dependencies are bundled into the functions. */
  readonly sharpLayer: SharpLayer | undefined;
  readonly ffmpegLayer: FfmpegLayer | undefined;

  constructor(scope: Construct, id: string, props: ProcessingProps) {
    super(scope, id);
    const { storage } = props;
    // The functions' own attempt counting decides a job's fate; the receive budgets are as large as the
    // retention allows, so throttled receives only delay it (lib/retry-budgets.ts says how).
    this.budgets = {
      image: processingReceiveBudget(props.maxAttempts, IMAGE_TIMEOUT.toSeconds()),
      video: processingReceiveBudget(props.maxAttempts, VIDEO_TIMEOUT.toSeconds()),
    };
    this.maxConcurrency = {
      image: props.maxConcurrency?.image ?? DEFAULT_PROCESSING_MAX_CONCURRENCY.image,
      video: props.maxConcurrency?.video ?? DEFAULT_PROCESSING_MAX_CONCURRENCY.video,
    };

    const bundled = props.nativeDependencies === 'bundled';
    // The stack's architecture, which MediaFunction and the layers read too.
    const architecture = architectureOf(this);
    this.sharpLayer = bundled ? undefined : new SharpLayer(this, 'SharpLayer');
    this.ffmpegLayer = bundled ? undefined : new FfmpegLayer(this, 'FfmpegLayer');
    // The staged layers' contents, copied into the assets instead (what would be /opt/... is /var/task/...).
    const sharpFiles: AssetDirectory[] = bundled
      ? [
          {
            source: join(stageSharpLayer({ architecture }).directory, 'nodejs', 'node_modules'),
            target: 'node_modules',
          },
        ]
      : [];
    const ffmpegFiles: AssetDirectory[] = bundled
      ? [{ source: join(stageFfmpegLayer({ architecture }).directory, 'bin'), target: 'bin' }]
      : [];

    this.imageQueue = new QueueWithDeadLetter(this, 'ImageQueue', {
      consumerTimeout: IMAGE_TIMEOUT,
      maxReceiveCount: this.budgets.image.maxReceiveCount,
      retentionPeriod: Duration.seconds(this.budgets.image.retentionSeconds),
      deadLetterConsumerTimeout: props.deadLetterConsumerTimeout,
      deadLetterAlarmDescription:
        "An image job's message used its whole receive budget without an attempt being counted (days of throttling, or DynamoDB unreachable); the dead-letter function fails the job.",
    });
    this.videoQueue = new QueueWithDeadLetter(this, 'VideoQueue', {
      consumerTimeout: VIDEO_TIMEOUT,
      maxReceiveCount: this.budgets.video.maxReceiveCount,
      retentionPeriod: Duration.seconds(this.budgets.video.retentionSeconds),
      deadLetterConsumerTimeout: props.deadLetterConsumerTimeout,
      deadLetterAlarmDescription:
        "A video job's message used its whole receive budget without an attempt being counted (days of throttling, or DynamoDB unreachable); the dead-letter function fails the job.",
    });

    const processorEnvironment = (queue: QueueWithDeadLetter, timeout: Duration) => ({
      JOBS_TABLE: storage.jobsTable.tableName,
      UPLOADS_BUCKET: storage.uploadsBucket.bucketName,
      RESULTS_BUCKET: storage.resultsBucket.bucketName,
      QUEUE_URL: queue.queue.queueUrl,
      WEBHOOK_QUEUE_URL: props.webhookQueue.queueUrl,
      MAX_ATTEMPTS: String(props.maxAttempts),
      ATTEMPT_TIMEOUT_SECONDS: String(timeout.toSeconds()),
    });

    this.imageFunction = new MediaFunction(this, 'ImageFunction', {
      source: 'image',
      serviceName: 'media-image',
      description: 'Renders the image variants of a job (sharp)',
      memorySize: 2048,
      timeout: IMAGE_TIMEOUT,
      externalModules: [SHARP_MODULE],
      ...(this.sharpLayer ? { layers: [this.sharpLayer] } : { assetDirectories: sharpFiles }),
      environment: processorEnvironment(this.imageQueue, IMAGE_TIMEOUT),
    });

    this.videoFunction = new MediaFunction(this, 'VideoFunction', {
      source: 'video',
      serviceName: 'media-video',
      description: 'Extracts the poster and metadata of a video job (ffmpeg, ffprobe)',
      memorySize: 3008,
      timeout: VIDEO_TIMEOUT,
      ephemeralStorageSize: videoEphemeralStorage(),
      ...(this.ffmpegLayer ? { layers: [this.ffmpegLayer] } : { assetDirectories: ffmpegFiles }),
      environment: {
        ...processorEnvironment(this.videoQueue, VIDEO_TIMEOUT),
        FFMPEG_PATH: this.ffmpegLayer ? FFMPEG_PATH : BUNDLED_FFMPEG_PATH,
        FFPROBE_PATH: this.ffmpegLayer ? FFPROBE_PATH : BUNDLED_FFPROBE_PATH,
      },
    });

    for (const fn of [this.imageFunction, this.videoFunction]) {
      storage.grantReadUploads(fn);
      storage.grantWriteResults(fn);
      storage.grantJobsReadWrite(fn);
      props.webhookQueue.grantSendMessages(fn);
    }
    this.imageQueue.addConsumer(this.imageFunction, {
      batchSize: 4,
      maxConcurrency: this.maxConcurrency.image,
    });
    this.videoQueue.addConsumer(this.videoFunction, {
      batchSize: 1,
      maxConcurrency: this.maxConcurrency.video,
    });
  }
}
