import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * A note on disk for each multipart upload in progress, written when its job is created and removed
 * when it completes or is aborted: a closed terminal (SIGHUP), a killed process or a crash leaves the
 * job id and the resume command where the user finds them, even though stderr went with the terminal.
 * `$XDG_STATE_HOME/media-pipeline/unfinished-uploads/<job id>.sh` (default `~/.local/state/…`): the
 * XDG directory for state that outlives a run, one file per job so that parallel runs never share a
 * file. Each note is a shell script that `cd`s where the upload started and resumes it.
 */

export const unfinishedUploadsDir = (env: NodeJS.ProcessEnv): string =>
  join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'media-pipeline', 'unfinished-uploads');

export interface UnfinishedUpload {
  jobId: string;
  /** The file as the user named it. */
  file: string;
  size: string;
  cwd: string;
  /** The command that resumes it, quoted for a POSIX shell. */
  resumeCommand: string;
  startedAt: Date;
}

export const noteText = (upload: UnfinishedUpload): string =>
  [
    '#!/bin/sh',
    `# media-pipeline: the unfinished multipart upload of ${upload.file} (${upload.size}), job ${upload.jobId},`,
    `# started ${upload.startedAt.toISOString()}. S3 discards its parts a day after that.`,
    '# Run this file to send the rest; `media-pipeline list --status awaiting_upload` lists such jobs.',
    `cd '${upload.cwd.replaceAll("'", `'\\''`)}' && ${upload.resumeCommand}`,
    '',
  ].join('\n');

/** Writes the note; returns its path, or undefined when it cannot be written (a read-only home). */
export const keepNote = (env: NodeJS.ProcessEnv, upload: UnfinishedUpload): string | undefined => {
  const dir = unfinishedUploadsDir(env);
  const path = join(dir, `${upload.jobId.replaceAll(/[^\w.-]/g, '_')}.sh`);
  try {
    // Synchronous: a SIGHUP right after the job is created must not find the note half written.
    mkdirSync(dir, { recursive: true });
    writeFileSync(path, noteText(upload), { mode: 0o700 });
    return path;
  } catch {
    return undefined;
  }
};

export const dropNote = (path: string | undefined): void => {
  if (path) rmSync(path, { force: true });
};
