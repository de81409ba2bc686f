import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import busboy from 'busboy';
import { ingestUpload } from '#ingest/ingest-upload';
import type { Dispatcher } from '#shared/dispatch';
import { ValidationError } from '#shared/errors';
import { JobStatus } from '#shared/job';
import type { JobStore } from '#shared/job-store';
import { logger } from '#shared/observability';
import { FieldTooLargeError } from './api-errors.ts';
import { newJobFor, sha256HexToBase64 } from './create-upload.ts';
import { isVisibleTo } from './job-access.ts';
import { type JobView, type JobViewDeps, renderJobView, viewJob } from './job-view.ts';
import type { QuotaMeter } from './quotas.ts';
import { parseFileDescription } from './request-schemas.ts';

/**
 * DIRECT_UPLOAD_MAX_BYTES defaults to 4 MiB because the whole request must fit in one synchronous Lambda
 * invocation, capped at 6 MB (6,291,456 bytes) of event JSON. API Gateway base64-encodes a multipart body,
 * which grows it by 4/3: 4 MiB of file is 5,592,406 bytes of base64, leaving ~680 KiB for the multipart
 * framing, the other form fields and the event envelope (headers, request context). The largest file that
 * could fit at all is 6,291,456 × 3/4 = 4,718,592 bytes (4.5 MiB) with nothing else in the event.
 * Larger files take the presigned flow, which bypasses API Gateway and Lambda entirely.
 */
export const DEFAULT_DIRECT_UPLOAD_MAX_BYTES = 4 * 1024 * 1024;

/** Room in a multipart body for boundaries, part headers and the small form fields beside the file. */
export const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** Multipart field values are a preset name and a callback URL: 8 KiB is generous. */
const MAX_FIELD_BYTES = 8 * 1024;

export interface DirectUploadDeps {
  s3: S3Client;
  store: JobStore;
  dispatcher: Dispatcher;
  uploadsBucket: string;
  maxBytes: number;
  allowLoopbackCallbacks: boolean;
  allowedCallbackPorts: readonly number[];
  view: JobViewDeps;
  /** A new job counts against the tenant's daily quotas; answering with an existing one does not. */
  quotas: QuotaMeter;
}

export interface DirectUploadResult {
  /** False when the same file + preset already had a job, which is answered instead of a new one. */
  created: boolean;
  job: JobView;
}

interface MultipartForm {
  fields: Record<string, string>;
  file?: { fieldName: string; fileName: string | undefined; mimeType: string; bytes: Buffer };
}

const tooLarge = (maxBytes: number, size?: number) =>
  new FieldTooLargeError(
    'Request::DirectUploadTooLarge',
    `${size === undefined ? 'the file is' : `the request has ${size} bytes, so the file is`} over the ${maxBytes}-byte limit for uploads sent through the API; ` +
      'announce the file with a JSON POST /api/media/ {"file_name", "content_type", "size", "preset"} instead, ' +
      'then PUT it to the returned upload URL',
    'file',
  );

/** Refuses an oversized direct upload from its declared or encoded size, before any of it is parsed. */
export const assertDirectUploadFits = (bodySize: number, maxBytes: number): void => {
  if (bodySize > maxBytes + MULTIPART_OVERHEAD_BYTES) throw tooLarge(maxBytes, bodySize);
};

const malformed = (detail: string) =>
  new ValidationError(
    'Request::MalformedMultipart',
    `the multipart/form-data body could not be read: ${detail}`,
  );

/** busboy's parse errors, said as what the caller should fix. */
const BUSBOY_ERRORS: Readonly<Record<string, string>> = {
  'Unexpected end of form':
    'it ends before the closing boundary, so it was cut off or is malformed; send the whole form',
  'Unexpected end of file':
    'the file part ends before its closing boundary, so the form was cut off or is malformed; send the whole form',
  'Malformed part header': "a part's headers are malformed; each part needs a Content-Disposition header",
};

const malformedFrom = (error: Error) =>
  malformed(BUSBOY_ERRORS[error.message] ?? error.message.toLowerCase());

/** Reads a multipart body held in memory, keeping at most one file of at most `maxBytes`. */
export const parseMultipart = (body: Buffer, contentType: string, maxBytes: number): Promise<MultipartForm> =>
  new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: { 'content-type': contentType },
        defParamCharset: 'utf8',
        limits: {
          files: 1,
          fileSize: maxBytes,
          fields: 10,
          fieldSize: MAX_FIELD_BYTES,
          parts: 12,
          headerPairs: 20,
        },
      });
    } catch (error) {
      reject(malformed(error instanceof Error ? error.message.toLowerCase() : 'unknown content type'));
      return;
    }
    const form: MultipartForm = { fields: {} };
    let failure: Error | undefined;
    const fail = (error: Error) => {
      failure ??= error;
    };

    parser.on('field', (name, value, info) => {
      if (info.valueTruncated)
        fail(new ValidationError('Request::InvalidField', `${name} is too long`, name));
      else form.fields[name] = value;
    });
    parser.on('file', (fieldName, stream, info) => {
      const chunks: Buffer[] = [];
      // A form cut off inside the file destroys this stream with busboy's error as well as failing the
      // parser: without a listener here that second 'error' is uncaught and takes the process down.
      stream.on('error', (error: Error) => reject(malformedFrom(error)));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => fail(tooLarge(maxBytes)));
      stream.on('close', () => {
        form.file = {
          fieldName,
          fileName: info.filename,
          mimeType: info.mimeType,
          bytes: Buffer.concat(chunks),
        };
      });
    });
    parser.on('filesLimit', () =>
      fail(
        new ValidationError(
          'Request::TooManyFiles',
          'send one file per request, in the field "file"',
          'file',
        ),
      ),
    );
    parser.on('fieldsLimit', () =>
      fail(malformed('too many form fields; send file, preset and callback_url')),
    );
    parser.on('partsLimit', () => fail(malformed('too many parts; send file, preset and callback_url')));
    parser.on('error', (error: Error) => reject(malformedFrom(error)));
    parser.on('close', () => (failure ? reject(failure) : resolve(form)));
    parser.end(body);
  });

/**
 * The original project's upload: the file itself in a multipart form. The API stores it and ingests it
 * at once, so the answer already says whether it is queued, a duplicate or refused; the S3 event that
 * follows finds the job ingested and does nothing. The same file with the same preset gets the job it
 * already has.
 */
export const directUpload = async (
  deps: DirectUploadDeps,
  tenant: string,
  request: { body: Buffer; contentType: string },
): Promise<DirectUploadResult> => {
  const form = await parseMultipart(request.body, request.contentType, deps.maxBytes);
  const file = form.file;
  if (!file || (file.bytes.length === 0 && !file.fileName)) {
    throw new ValidationError(
      'Request::MissingField',
      'file is required: send the file in the form field "file"',
      'file',
    );
  }
  if (file.fieldName !== 'file') {
    throw new ValidationError(
      'Request::InvalidField',
      `the file was sent in the field "${file.fieldName}"; send it in the field "file"`,
      'file',
    );
  }
  const description = parseFileDescription(
    {
      // The name is only displayed back; a part without one still carries a file.
      file_name: file.fileName || 'upload',
      content_type: file.mimeType,
      size: file.bytes.length,
      preset: form.fields.preset,
      callback_url: form.fields.callback_url || undefined,
    },
    {
      allowLoopbackCallbacks: deps.allowLoopbackCallbacks,
      allowedCallbackPorts: deps.allowedCallbackPorts,
      fieldNames: { file_name: 'file', content_type: 'file', size: 'file' },
    },
  );

  const fileHash = createHash('sha256').update(file.bytes).digest('hex');
  const holderId = await deps.store.findByContent({ tenant, fileHash, preset: description.preset });
  const holder = holderId ? await deps.store.get(holderId) : undefined;
  // A failed job never absorbs a new upload of the same bytes (ingest hands its key to the new job).
  // The key is the tenant's; checking the holder's tenant too keeps another tenant's job out of any answer.
  if (isVisibleTo(holder, tenant) && holder.status !== JobStatus.Failed) {
    logger.info('direct upload matches an existing job', { job_id: holder.id });
    return { created: false, job: await renderJobView(deps.view, holder) };
  }

  await deps.quotas.charge(tenant, file.bytes.length);
  const job = newJobFor(tenant, { ...description, sha256: fileHash }, 'direct');
  logger.appendKeys({ job_id: job.id });
  await deps.store.create(job);
  await deps.s3.send(
    new PutObjectCommand({
      Bucket: deps.uploadsBucket,
      Key: job.upload_key,
      Body: file.bytes,
      ContentType: job.content_type,
      ContentLength: file.bytes.length,
      ChecksumSHA256: sha256HexToBase64(fileHash),
      IfNoneMatch: '*',
    }),
  );
  try {
    const { outcome } = await ingestUpload(
      { s3: deps.s3, store: deps.store, dispatcher: deps.dispatcher, uploadsBucket: deps.uploadsBucket },
      job.id,
    );
    logger.info('direct upload ingested', { outcome });
  } catch (error) {
    // The object is stored: the S3 event ingests it a moment later, so the job is answered as it stands.
    logger.warn('direct upload stored but not ingested yet; the S3 event will ingest it', {
      error: error as Error,
    });
  }
  return { created: true, job: await viewJob(deps.view, tenant, job.id) };
};
