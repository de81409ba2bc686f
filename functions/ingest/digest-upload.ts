import { createHash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';

/** Enough leading bytes for every container signature file-type knows (MP4 boxes, EBML headers, TIFF IFDs). */
const SNIFF_BYTES = 64 * 1024;

export interface UploadDigest {
  /** SHA-256 of the whole object, lowercase hex: the `file_hash` of the job. */
  sha256: string;
  size: number;
  /** The first bytes of the object, for sniffing its type. */
  head: Buffer;
}

/** Streams the object once, hashing every byte and keeping only the first few kilobytes in memory. */
export const digestUpload = async (body: AsyncIterable<Uint8Array>): Promise<UploadDigest> => {
  const hash = createHash('sha256');
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    size += chunk.byteLength;
    if (headLength < SNIFF_BYTES) {
      const part = Buffer.from(
        chunk.buffer,
        chunk.byteOffset,
        Math.min(chunk.byteLength, SNIFF_BYTES - headLength),
      );
      headChunks.push(Buffer.from(part));
      headLength += part.byteLength;
    }
  }
  return { sha256: hash.digest('hex'), size, head: Buffer.concat(headChunks, headLength) };
};

/** Container types that are the same thing to the processors, under the name presets use. */
const CANONICAL_TYPES: Record<string, string> = {
  'video/x-m4v': 'video/mp4',
  'image/apng': 'image/png',
};

/**
 * The media type the bytes really are, from their magic numbers: never the file name or the declared
 * Content-Type. `undefined` when nothing recognisable (a text file named .jpg, say).
 */
export const sniffMediaType = async (head: Buffer): Promise<string | undefined> => {
  const detected = await fileTypeFromBuffer(head);
  if (!detected) return undefined;
  return CANONICAL_TYPES[detected.mime] ?? detected.mime;
};
