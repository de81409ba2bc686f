import type { JobView } from './job-view.ts';

/**
 * The job view as an answer to a POST that made or moved a job: the original project's creation answer
 * is `{"job_id": "…", "status": "queued"}` and clients written for it read `job_id`, so it comes first,
 * beside the view's own `id` and richer fields. The form `POST /api/media/` (201, or 200 for a file
 * already known) and `POST /api/media/{id}/upload/complete` answer it; GET and the list answer the plain
 * view.
 */
export type CreatedJob = { job_id: string } & JobView;

export const asCreatedJob = (view: JobView): CreatedJob => ({ job_id: view.id, ...view });
