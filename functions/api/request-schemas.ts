import { z } from 'zod';
import { parseCallbackUrl } from '#shared/callback-url';
import { ValidationError } from '#shared/errors';
import {
  canonicalMediaType,
  findPreset,
  type MediaKind,
  maxBytesFor,
  mediaKindOf,
  presetsConfig,
} from '#shared/presets';
import { FieldTooLargeError } from './api-errors.ts';

/**
 * Request validation at the edge. Each check carries the stable code and the message that tells the
 * caller what to fix; `toRequestError` turns the first failed check into the ValidationError (or 413)
 * that http-errors.ts maps to a status. Past this module, request data is trusted.
 */

/** Longest file name kept: file systems cap names at 255, and the name is only ever shown back. */
export const MAX_FILE_NAME_LENGTH = 255;

const knownPresets = () => Object.keys(presetsConfig.presets).join(', ');

/** Echoes a caller's value back in a message, quoted and cut short. */
const quoted = (value: unknown): string => {
  const text = String(value);
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
};

// C0 and C1 controls (NUL, newlines, escapes) would corrupt logs and Content-Disposition headers;
// every other character is fine because the name is never used to build a key or a path.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

// Characters that are invisible or reorder the text around them, so that a name shows as something it
// is not (`invoice\u202egpj.exe` displays as "invoiceexe.jpg"): the bidi embeddings, overrides and
// isolates (U+202A–U+202E, U+2066–U+2069) and marks (U+200E, U+200F, U+061C), zero-width characters
// (U+200B–U+200D, U+2060–U+2064, U+FEFF) and the line and paragraph separators (U+2028, U+2029), which
// break lines as C0 controls do.
const DECEPTIVE_FORMAT_CHARACTERS = /[\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

/** `U+202E`: how a message names a character a caller cannot see. */
const codePointOf = (character: string): string =>
  `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

/** A message per failure of a required field's type: "x is required" or "x must be a string". */
const typeError = (field: string, expected: string) => (issue: { input?: unknown; code?: string }) =>
  issue.code === 'invalid_type'
    ? issue.input === undefined
      ? `${field} is required`
      : `${field} must be ${expected}`
    : undefined;

// Only refinements carry params through to the issue, so every check with its own code is a refinement.
const codeOf = (code: string, extra: Record<string, unknown> = {}) => ({ params: { code, ...extra } });

const fileName = z
  .string({ error: typeError('file_name', 'a string') })
  .refine((name) => name.length > 0, {
    error: 'file_name must not be empty',
    ...codeOf('Request::InvalidFileName'),
  })
  .refine((name) => name.length <= MAX_FILE_NAME_LENGTH, {
    error: `file_name must be at most ${MAX_FILE_NAME_LENGTH} characters long`,
    ...codeOf('Request::InvalidFileName'),
  })
  .refine((name) => !CONTROL_CHARACTERS.test(name), {
    error: 'file_name must not contain control characters (line breaks, tabs, NUL)',
    ...codeOf('Request::InvalidFileName'),
  })
  .refine((name) => !DECEPTIVE_FORMAT_CHARACTERS.test(name), {
    error: (issue) => {
      const found = DECEPTIVE_FORMAT_CHARACTERS.exec(String(issue.input));
      return `file_name must not contain invisible or text-direction characters, which make a name display as another (found ${found ? codePointOf(found[0]) : 'one'} at position ${found?.index ?? 0})`;
    },
    ...codeOf('Request::InvalidFileName'),
  });

/**
 * `IMAGE/JPEG; charset=x` is `image/jpeg`, `video/matroska` is `video/x-matroska`: the form that is
 * signed into the upload URL and stored.
 */
const contentType = z
  .string({ error: typeError('content_type', 'a media type string such as "image/jpeg"') })
  .refine((value) => value.length <= 255, {
    error: 'content_type is too long to be a media type',
    ...codeOf('Request::UnsupportedContentType'),
  })
  // Either spelling of a type is the same type (video/matroska is video/x-matroska): the table ingest
  // sniffs with decides, so what is signed, stored and checked against the preset is the presets' name.
  .transform((value) => canonicalMediaType(value.split(';', 1)[0]?.trim().toLowerCase() ?? ''));

const size = z
  .number({ error: typeError('size', 'a number of bytes') })
  .int({ error: 'size must be a whole number of bytes' })
  .refine((bytes) => bytes > 0, {
    error: 'size must be greater than 0: empty files cannot be processed',
    ...codeOf('Request::EmptyFile'),
  });

const preset = z
  .string({ error: typeError('preset', 'the name of a preset') })
  .refine((name) => !!findPreset(name), {
    error: (issue) => `preset ${quoted(issue.input)} does not exist; use one of: ${knownPresets()}`,
    ...codeOf('Request::UnknownPreset'),
  });

// JSON clients may send null for an absent optional field; it means the same as leaving it out.
const callbackUrl = z
  .string({ error: typeError('callback_url', 'a URL string') })
  .nullish()
  .transform((value) => value ?? undefined);

const sha256 = z
  .string({ error: typeError('sha256', 'a string of 64 hex digits') })
  .refine((value) => SHA256_HEX.test(value), {
    error: 'sha256 must be the SHA-256 digest of the file as 64 hexadecimal digits',
    ...codeOf('Request::InvalidSha256'),
  })
  .transform((value) => value.toLowerCase())
  .nullish()
  .transform((value) => value ?? undefined);

/** The file a client announces: the JSON create body, or what a multipart upload's file part says. */
export const fileDescriptionSchema = z
  .object(
    { file_name: fileName, content_type: contentType, size, preset, callback_url: callbackUrl, sha256 },
    { error: 'the request body must be a JSON object with file_name, content_type, size and preset' },
  )
  .superRefine((value, ctx) => {
    const chosen = findPreset(value.preset);
    if (!chosen) return;
    if (!(chosen.accept as readonly string[]).includes(value.content_type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['content_type'],
        message: `preset "${value.preset}" does not accept ${value.content_type || 'an empty media type'}; it accepts ${chosen.accept.join(', ')}`,
        params: { code: 'Request::UnsupportedContentType' },
      });
      return;
    }
    const kind = mediaKindOf(value.content_type) as MediaKind;
    const limit = maxBytesFor(kind);
    if (value.size > limit) {
      ctx.addIssue({
        code: 'custom',
        path: ['size'],
        message: `the file has ${value.size} bytes; ${kind}s may have at most ${limit} bytes`,
        params: { code: 'Request::FileTooLarge', tooLarge: true },
      });
    }
  });

export type FileDescription = z.output<typeof fileDescriptionSchema>;

export interface ValidatedFileDescription extends Omit<FileDescription, 'callback_url'> {
  callback_url: URL | undefined;
  media_kind: MediaKind;
}

/** Where a field lives in the request, when that is not the field's own name (multipart: all in `file`). */
export type FieldNames = Partial<Record<string, string>>;

/** The first failed check as the error the caller sees, naming the field at fault. */
export const toRequestError = (error: z.ZodError, input: unknown, fieldNames: FieldNames = {}): Error => {
  const issue = error.issues[0];
  if (!issue) return new ValidationError('Request::Invalid', 'the request is invalid');
  const path = issue.path.map(String);
  const field = path.length > 0 ? path.join('.') : undefined;
  const reported = field === undefined ? undefined : (fieldNames[field] ?? field);
  const params = (issue as { params?: { code?: string; tooLarge?: boolean } }).params;
  if (params?.tooLarge && reported) {
    return new FieldTooLargeError(params.code ?? 'Request::TooLarge', issue.message, reported);
  }
  if (params?.code) return new ValidationError(params.code, issue.message, reported);
  if (field === undefined) return new ValidationError('Request::InvalidBody', issue.message);
  const given =
    typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[field] : undefined;
  const code = given === undefined ? 'Request::MissingField' : 'Request::InvalidField';
  return new ValidationError(code, issue.message, reported);
};

export interface ParseOptions {
  allowLoopbackCallbacks: boolean;
  /** Ports a callback URL may use (functions/shared/callback-url.ts); its default list when absent. */
  allowedCallbackPorts?: readonly number[];
  fieldNames?: FieldNames;
}

/** Validates a file description, callback URL included (its rules live with the webhook's, in #shared). */
export const parseFileDescription = (input: unknown, options: ParseOptions): ValidatedFileDescription => {
  const parsed = fileDescriptionSchema.safeParse(input);
  if (!parsed.success) throw toRequestError(parsed.error, input, options.fieldNames);
  const callback =
    parsed.data.callback_url === undefined
      ? undefined
      : parseCallbackUrl(parsed.data.callback_url, {
          allowLoopback: options.allowLoopbackCallbacks,
          allowedPorts: options.allowedCallbackPorts,
        });
  return {
    ...parsed.data,
    callback_url: callback,
    media_kind: mediaKindOf(parsed.data.content_type) as MediaKind,
  };
};

const jobIdSchema = z.uuid();

/** Job ids are UUIDs the API made; anything else cannot name a job, so it is a 400, not a 404. */
export const parseJobId = (raw: string | undefined): string => {
  const parsed = jobIdSchema.safeParse(raw?.toLowerCase());
  if (!parsed.success) {
    throw new ValidationError(
      'Request::InvalidJobId',
      `${quoted(raw ?? '')} is not a job id; job ids are UUIDs such as 3f2c7a5e-8d1b-4c6e-9a0f-2b7d4e1c9a63`,
      'id',
    );
  }
  return parsed.data;
};

/** S3's bounds on a multipart upload: part numbers 1 to 10,000. */
export const MAX_PARTS = 10_000;
/** UploadPart URLs signed per request: a client asks for more as it goes, so none expires unused. */
export const MAX_PART_URLS_PER_REQUEST = 100;

const partNumber = (field: string) =>
  z
    .number({ error: typeError(field, 'a part number') })
    .int({ error: `${field} must be whole numbers` })
    .refine((value) => value >= 1 && value <= MAX_PARTS, {
      error: `${field} must be from 1 to ${MAX_PARTS}`,
      ...codeOf('Upload::InvalidPartNumber'),
    });

const partUrlsRequestSchema = z.object(
  {
    part_numbers: z
      .array(partNumber('part_numbers'), { error: typeError('part_numbers', 'a list of part numbers') })
      .refine((numbers) => numbers.length > 0, {
        error: 'part_numbers must name at least one part',
        ...codeOf('Upload::InvalidPartNumber'),
      })
      .refine((numbers) => numbers.length <= MAX_PART_URLS_PER_REQUEST, {
        error: `ask for at most ${MAX_PART_URLS_PER_REQUEST} part URLs per request, and for more as the upload goes on`,
        ...codeOf('Upload::TooManyPartUrls'),
      })
      .refine((numbers) => new Set(numbers).size === numbers.length, {
        error: 'part_numbers must not repeat a part number',
        ...codeOf('Upload::InvalidPartNumber'),
      }),
  },
  { error: 'the request body must be a JSON object {"part_numbers": [1, 2, …]}' },
);

const completeRequestSchema = z.object(
  {
    parts: z
      .array(
        z.object(
          {
            part_number: partNumber('part_number'),
            etag: z
              .string({ error: typeError('etag', 'the ETag S3 answered for the part') })
              .refine((value) => value.length > 0 && value.length <= 1024, {
                error: 'etag must be the ETag S3 answered for the part',
                ...codeOf('Request::InvalidField'),
              }),
          },
          { error: 'each part must be an object {"part_number", "etag"}' },
        ),
        { error: typeError('parts', 'a list of {"part_number", "etag"}') },
      )
      .refine((parts) => parts.length > 0, {
        error: 'parts must list every uploaded part',
        ...codeOf('Upload::MissingParts'),
      })
      .refine((parts) => parts.length <= MAX_PARTS, {
        error: `a multipart upload has at most ${MAX_PARTS} parts`,
        ...codeOf('Upload::TooManyParts'),
      }),
  },
  { error: 'the request body must be a JSON object {"parts": [{"part_number", "etag"}, …]}' },
);

export type PartUrlsRequest = z.output<typeof partUrlsRequestSchema>;
export type CompleteUploadRequest = z.output<typeof completeRequestSchema>;

/** Multipart field errors name the list they are in, not the element's path inside it. */
const parseWith = <S extends z.ZodType>(schema: S, input: unknown, listField: string): z.output<S> => {
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) =>
      issue.path[0] === listField ? { ...issue, path: [listField] } : issue,
    );
    throw toRequestError(new z.ZodError(issues), input);
  }
  return parsed.data;
};

export const parsePartUrlsRequest = (input: unknown): PartUrlsRequest =>
  parseWith(partUrlsRequestSchema, input, 'part_numbers');

export const parseCompleteUploadRequest = (input: unknown): CompleteUploadRequest =>
  parseWith(completeRequestSchema, input, 'parts');
