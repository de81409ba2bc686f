import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { downloadUpload, storeOutput } from '#processing/media-objects';
import type { ProcessedMedia } from '#processing/process-job';
import { PermanentMediaError } from '#shared/errors';
import { type Job, resultKeyFor } from '#shared/job';
import { findPreset, type MediaLimits } from '#shared/presets';
import { processVideo } from './process-video.ts';

export interface VideoJobDeps {
  s3: S3Client;
  uploadsBucket: string;
  resultsBucket: string;
  limits: MediaLimits;
  ffmpegPath: string;
  ffprobePath: string;
  timeoutMs: number;
  /** Memory allowance of each ffprobe/ffmpeg run (FFMPEG_MAX_MEMORY_MB). */
  memoryLimitBytes: number;
}

/**
 * Downloads a job's video to local disk (ffmpeg seeks in a file far faster than in a stream), extracts
 * the preset's poster and the metadata, and stores the poster under results/{job_id}/. `result` keeps
 * the original project's shape: `{poster, width, height, codec, duration, …}`.
 */
export const createVideoJobProcessor =
  (deps: VideoJobDeps) =>
  async (job: Job): Promise<ProcessedMedia> => {
    const preset = findPreset(job.preset);
    if (!preset?.video) {
      throw new PermanentMediaError('Job::PresetUnavailable', `preset "${job.preset}" has no video poster`);
    }
    const workDir = await mkdtemp(join(tmpdir(), `video-${job.id}-`));
    try {
      const input = join(workDir, 'input');
      await downloadUpload(deps.s3, deps.uploadsBucket, job, input);
      const { metadata, poster } = await processVideo(input, preset.video.poster, {
        ffmpegPath: deps.ffmpegPath,
        ffprobePath: deps.ffprobePath,
        maxDurationSeconds: deps.limits.video_max_duration_seconds,
        timeoutMs: deps.timeoutMs,
        memoryLimitBytes: deps.memoryLimitBytes,
      });
      const key = resultKeyFor(job.id, 'poster', poster.extension);
      await storeOutput(deps.s3, deps.resultsBucket, key, poster.data, poster.contentType);
      return {
        result: {
          poster: key,
          ...metadata,
          poster_width: poster.width,
          poster_height: poster.height,
          poster_at_second: poster.at_second,
        },
        outputs: [{ name: 'poster', key, content_type: poster.contentType }],
      };
    } finally {
      // /tmp outlives the invocation in a warm Lambda: never leave a video behind.
      await rm(workDir, { recursive: true, force: true });
    }
  };
