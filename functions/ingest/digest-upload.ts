import { createHash } from 'node:crypto';
import { fileTypeFromBuffer } from 'file-type';
import { canonicalMediaType } from '#shared/presets';

/** Enough leading bytes for every container signature file-type knows (MP4 boxes, EBML headers, TIFF IFDs). */
const SNIFF_BYTES = 64 * 1024;

/**
 * Bytes kept from where a TIFF's first IFD starts: its entry count and 340 entries of 12 bytes (4 KiB),
 * more than any baseline TIFF writer puts in one directory.
 */
const TIFF_IFD_BYTES = 2 + 12 * 340;

export interface UploadDigest {
  /** SHA-256 of the whole object, lowercase hex: the `file_hash` of the job. */
  sha256: string;
  size: number;
  /** The first bytes of the object, for sniffing its type. */
  head: Buffer;
  /**
   * When the object starts with a TIFF header: the bytes of its first IFD, wherever the header says it
   * is. Writers such as ImageMagick put the pixels first and the IFD after them, past `head`.
   */
  tiffIfd?: Buffer;
}

interface TiffHeader {
  bigEndian: boolean;
  ifdOffset: number;
}

/** `II*\0` or `MM\0*` and the first IFD's offset; undefined for anything else (BigTIFF included). */
export const readTiffHeader = (head: Buffer): TiffHeader | undefined => {
  if (head.length < 8) return undefined;
  const order = head.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return undefined;
  const bigEndian = order === 'MM';
  const version = bigEndian ? head.readUInt16BE(2) : head.readUInt16LE(2);
  const ifdOffset = bigEndian ? head.readUInt32BE(4) : head.readUInt32LE(4);
  return version === 42 && ifdOffset >= 8 ? { bigEndian, ifdOffset } : undefined;
};

/**
 * Streams the object once, hashing every byte and keeping only the first few kilobytes in memory (and,
 * for a TIFF, the few kilobytes of its first IFD as they stream past).
 */
export const digestUpload = async (body: AsyncIterable<Uint8Array>): Promise<UploadDigest> => {
  const hash = createHash('sha256');
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let size = 0;
  // undefined: not decided yet (fewer than 8 bytes seen); null: not a TIFF.
  let tiff: TiffHeader | null | undefined;
  let ifd: Buffer | undefined;
  let ifdLength = 0;
  for await (const chunk of body) {
    hash.update(chunk);
    const start = size;
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
    if (tiff === undefined && headLength >= 8) {
      tiff = readTiffHeader(Buffer.concat(headChunks, headLength)) ?? null;
      if (tiff) ifd = Buffer.alloc(TIFF_IFD_BYTES);
    }
    if (tiff && ifd) {
      const from = Math.max(tiff.ifdOffset, start);
      const to = Math.min(tiff.ifdOffset + TIFF_IFD_BYTES, size);
      if (from < to) {
        Buffer.from(chunk.buffer, chunk.byteOffset + from - start, to - from).copy(
          ifd,
          from - tiff.ifdOffset,
        );
        ifdLength = to - tiff.ifdOffset;
      }
    }
  }
  return {
    sha256: hash.digest('hex'),
    size,
    head: Buffer.concat(headChunks, headLength),
    ...(ifd && ifdLength > 0 ? { tiffIfd: ifd.subarray(0, ifdLength) } : {}),
  };
};

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

// TIFF tags file-type looks for in the first IFD, and the two that every baseline image has.
const TAG_IMAGE_WIDTH = 256;
const TAG_IMAGE_LENGTH = 257;
const TAG_SONY_ARW = 50_341;
const TAG_ADOBE_DNG = 50_706;

/**
 * What file-type would have said had it reached the first IFD: it reads only the prefix it is given,
 * so a TIFF whose IFD follows the pixel data (ImageMagick's uncompressed output) is nothing to it. A
 * directory with a width and a length is a TIFF image; the image function's libvips then decodes it
 * for real, and a TIFF that only looks like one fails there as corrupt.
 */
const sniffTiffDirectory = (head: Buffer, ifd: Buffer | undefined): string | undefined => {
  const header = readTiffHeader(head);
  if (!header || !ifd || ifd.length < 2) return undefined;
  const read16 = (offset: number) => (header.bigEndian ? ifd.readUInt16BE(offset) : ifd.readUInt16LE(offset));
  const entries = read16(0);
  const tags = new Set<number>();
  for (let index = 0; index < entries && 2 + 12 * (index + 1) <= ifd.length; index++) {
    tags.add(read16(2 + 12 * index));
  }
  if (tags.has(TAG_SONY_ARW)) return 'image/x-sony-arw';
  if (tags.has(TAG_ADOBE_DNG)) return 'image/x-adobe-dng';
  return tags.has(TAG_IMAGE_WIDTH) && tags.has(TAG_IMAGE_LENGTH) ? 'image/tiff' : undefined;
};

/**
 * The media type the bytes really are, from their magic numbers: never the file name or the declared
 * Content-Type. `undefined` when nothing recognisable (a text file named .jpg, say).
 */
export const sniffMediaType = async (
  digest: Pick<UploadDigest, 'head' | 'tiffIfd'>,
): Promise<string | undefined> => {
  const detected =
    (await fileTypeFromBuffer(digest.head))?.mime ?? sniffTiffDirectory(digest.head, digest.tiffIfd);
  return detected === undefined ? undefined : canonicalMediaType(heifAsAvif(detected, digest.head));
};
