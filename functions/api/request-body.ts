import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { PayloadTooLargeError, ValidationError } from '#shared/errors';

/** API Gateway lower-cases header names in payload format 2.0; looked up case-insensitively all the same. */
export const headerValue = (event: APIGatewayProxyEventV2, name: string): string | undefined => {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  if (headers[wanted] !== undefined) return headers[wanted];
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === wanted);
  return key === undefined ? undefined : headers[key];
};

/** The request's media type without parameters (`multipart/form-data`), lower-cased; undefined when absent. */
export const requestMediaType = (event: APIGatewayProxyEventV2): string | undefined => {
  const raw = headerValue(event, 'content-type');
  const mediaType = raw?.split(';', 1)[0]?.trim().toLowerCase();
  return mediaType === '' ? undefined : mediaType;
};

/**
 * The body's size in bytes, known before decoding it: the declared Content-Length when there is one,
 * otherwise what the (possibly base64) body decodes to. Lets oversized requests be refused unparsed.
 */
export const requestBodySize = (event: APIGatewayProxyEventV2): number => {
  const declared = Number(headerValue(event, 'content-length'));
  const body = event.body ?? '';
  let actual = body.length;
  if (event.isBase64Encoded) {
    const padding = body.endsWith('==') ? 2 : body.endsWith('=') ? 1 : 0;
    actual = Math.max(0, Math.floor((body.length * 3) / 4) - padding);
  } else {
    actual = Buffer.byteLength(body);
  }
  return Number.isSafeInteger(declared) && declared > actual ? declared : actual;
};

/** API Gateway base64-encodes bodies it does not consider text (multipart uploads, for one). */
export const requestBodyBytes = (event: APIGatewayProxyEventV2): Buffer =>
  Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');

/** Parses a JSON request body, refusing bodies over `maxBytes` before reading them. */
export const readJsonBody = (event: APIGatewayProxyEventV2, maxBytes: number): unknown => {
  const size = requestBodySize(event);
  if (size > maxBytes) {
    throw new PayloadTooLargeError(
      'Request::BodyTooLarge',
      `the JSON body has ${size} bytes; it describes the file and may have at most ${maxBytes} (send the file itself to the upload URL)`,
    );
  }
  const text = requestBodyBytes(event).toString('utf8');
  if (text.trim() === '') {
    throw new ValidationError(
      'Request::MissingBody',
      'the request has no body; send a JSON object describing the file',
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? `: ${error.message}` : '';
    throw new ValidationError('Request::MalformedJson', `the request body is not valid JSON${detail}`);
  }
};
