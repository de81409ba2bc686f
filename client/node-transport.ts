import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { abortError, type UploadTransport } from './media-client.ts';

/**
 * An upload transport for Node that reports progress as the body streams out, which fetch cannot:
 * `createMediaClient({ baseUrl, transport: nodeTransport })`. Node-only (node:http), so it lives apart
 * from media-client.ts, which browsers bundle. The body is streamed from the Blob (a file opened with
 * `fs.openAsBlob` is read from disk as it goes), with its exact Content-Length, as S3 requires.
 */

const SLICE_BYTES = 64 * 1024;

const firstHeader = (value: IncomingHttpHeaders[string]): string | null =>
  (Array.isArray(value) ? value[0] : value) ?? null;

export const nodeTransport: UploadTransport = ({ method, url, headers, body, signal, onProgress }) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) return reject(abortError(signal));
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      reject(signal.aborted ? abortError(signal) : error);
    };
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(target, {
      method,
      headers: { ...headers, 'content-length': String(body.size) },
      signal,
    });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', fail);
      response.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({
          status: response.statusCode ?? 0,
          etag: firstHeader(response.headers.etag),
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    request.on('error', fail);
    // Pulled slice by slice, so a slice is counted when the socket takes it (backpressure), whatever
    // the size of the chunks the Blob hands out (an in-memory Blob gives one).
    let sent = 0;
    async function* counted(source: AsyncIterable<Uint8Array>) {
      for await (const chunk of source) {
        for (let start = 0; start < chunk.length; start += SLICE_BYTES) {
          const slice = chunk.subarray(start, start + SLICE_BYTES);
          yield slice;
          sent += slice.length;
          onProgress(sent);
        }
      }
    }
    pipeline(Readable.fromWeb(body.stream() as WebReadableStream<Uint8Array>), counted, request).catch(fail);
  });
