import { createHash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import type { MediaType } from '#shared/presets';

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

/**
 * Every name the sniffer (file-type 21) gives a type the pipeline processes, mapped to the name presets
 * use; the API reads a declared `content_type` through the same table. The types file-type reports for
 * images and videos, and what becomes of them:
 *
 * - the presets' own names: image/jpeg, image/png, image/webp, image/avif, image/gif, image/tiff,
 *   video/mp4, video/quicktime, video/webm;
 * - aliases below: Matroska (file-type says `video/matroska`, presets the long-registered
 *   `video/x-matroska`), M4V (an MP4 brand), APNG (a PNG whose first frame every PNG decoder shows);
 * - image/heif with an AV1 brand is AVIF (see `heifAsAvif`); HEVC-coded HEIF and HEIC are refused:
 *   the image function's libvips (sharp's prebuilt build) has no HEVC decoder;
 * - everything else (3GP, AVI, MPEG, FLV, camera raw, BMP, JPEG 2000, JPEG XL, …) is not processed.
 */
export const MEDIA_TYPE_ALIASES: Readonly<Record<string, MediaType>> = {
  'video/matroska': 'video/x-matroska',
  'video/x-m4v': 'video/mp4',
  'image/apng': 'image/png',
};

/** The presets' name for a media type: `video/matroska` is `video/x-matroska`; others are unchanged. */
export const canonicalMediaType = (type: string): string => MEDIA_TYPE_ALIASES[type] ?? type;

/** The brands in an ISO BMFF `ftyp` box at the start of `head` (major first, then the compatible ones). */
const ftypBrands = (head: Buffer): string[] => {
  if (head.length < 16 || head.toString('latin1', 4, 8) !== 'ftyp') return [];
  const end = Math.min(head.readUInt32BE(0), head.length);
  const brands = [head.toString('latin1', 8, 12)];
  for (let offset = 16; offset + 4 <= end; offset += 4)
    brands.push(head.toString('latin1', offset, offset + 4));
  return brands;
};

/** A `mif1` HEIF file that says it is AVIF-compatible holds AV1 images, which libvips decodes. */
const heifAsAvif = (mime: string, head: Buffer): string =>
  mime === 'image/heif' && ftypBrands(head).includes('avif') ? 'image/avif' : mime;

/**
 * The media type the bytes really are, from their magic numbers: never the file name or the declared
 * Content-Type. `undefined` when nothing recognisable (a text file named .jpg, say).
 */
export const sniffMediaType = async (digest: Pick<UploadDigest, 'head'>): Promise<string | undefined> => {
  const detected = (await fileTypeFromBuffer(digest.head))?.mime;
  return detected === undefined ? undefined : canonicalMediaType(heifAsAvif(detected, digest.head));
};
