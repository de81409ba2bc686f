import { open } from 'node:fs/promises';
import { PermanentMediaError } from '#shared/errors';

/**
 * What the container's own headers say, read by a small bounded parser before any decoder opens.
 * ffprobe and ffmpeg open a decoder for every stream while they probe (find_stream_info), whatever
 * stream is selected afterwards: a 4.75 MB MP4 holding 24 streams of 8192×8192 took each of them
 * to 3.8–3.9 GB RSS, and 1000 tiny streams ffprobe to 1.5 GB. Counting tracks and reading their
 * declared dimensions here refuses such files for the cost of reading `moov` (or Matroska's
 * `Tracks`), a few KB to a few MB. Headers can lie (the bitstream's own parameter sets decide what
 * the decoder allocates): the memory ceiling in run-binary.ts catches what gets past this.
 */
export interface ContainerHeaders {
  family: 'mp4' | 'matroska';
  /** Every track or TrackEntry: video, audio, subtitles, timecode, metadata… */
  tracks: number;
  /** Declared dimensions of each video track (for MP4 the larger of `tkhd` and the sample entry). */
  videoTracks: { width: number; height: number }[];
  /** Seconds the container claims: `mvhd`, or the Segment Info `Duration`. */
  declaredDuration?: number;
  /**
   * Seconds the longest track's samples span, summed from its `stts` sample table (MP4 only):
   * where the packets end, whatever `mvhd` or `mdhd` claim.
   */
  sampleDuration?: number;
}

export interface ContainerLimits {
  /** More tracks than this are refused. */
  maxStreams: number;
  /** Neither side of a video track may exceed this. */
  maxSide: number;
  /** The video tracks' pixels added together may not exceed this. */
  maxTotalPixels: number;
}

/**
 * 16 tracks: phone videos carry 2–6 (video, audio, timecode and metadata tracks), a film with a
 * few dubs and subtitles a dozen; each opened decoder costs about 1.5 MB even when tiny.
 * 8192 per side and 8192×4320 pixels in all: H.264/HEVC level 6.2's largest frame, so DCI and UHD
 * 8K pass (one 7680×4320 H.264 poster run peaks at about 360 MB here) and 8192×8192 does not.
 * The pixels are added up over the video tracks because every track's decoder holds frames.
 */
export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = {
  maxStreams: 16,
  maxSide: 8192,
  maxTotalPixels: 8192 * 4320,
};

/** `moov` (or `Tracks`) beyond this is not parsed here: ffprobe, under its memory ceiling, decides. */
const MAX_HEADER_BYTES = 32 * 1024 * 1024;
/** Top-level boxes or Segment children looked at before giving up on finding the headers. */
const MAX_TOP_LEVEL_ELEMENTS = 256;

const readAt = async (
  handle: Awaited<ReturnType<typeof open>>,
  position: number,
  length: number,
): Promise<Buffer> => {
  const { buffer, bytesRead } = await handle.read(Buffer.alloc(length), 0, length, position);
  return buffer.subarray(0, bytesRead);
};

/**
 * Reads the headers of an MP4/QuickTime or Matroska/WebM file. Undefined when the file is neither,
 * or its headers cannot be found or parsed within the bounds above: the caller falls back to
 * ffprobe, which runs under its memory ceiling either way. Never throws for a malformed file.
 */
export const readContainerHeaders = async (path: string): Promise<ContainerHeaders | undefined> => {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const start = await readAt(handle, 0, 12);
    if (start.length >= 4 && start.readUInt32BE(0) === 0x1a45dfa3) {
      return await readMatroska(handle, size);
    }
    if (start.length >= 8 && /^[a-z]{4}$/.test(start.toString('latin1', 4, 8))) {
      return await readMp4(handle, size);
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
};

// ---- MP4 / QuickTime (ISO BMFF) ----

interface Box {
  type: string;
  /** Payload, without the box header. */
  body: Buffer;
}

/** The child boxes of a payload; stops at the first box whose size does not fit. */
const childBoxes = (data: Buffer): Box[] => {
  const boxes: Box[] = [];
  let offset = 0;
  while (offset + 8 <= data.length) {
    let size = data.readUInt32BE(offset);
    let header = 8;
    if (size === 1) {
      if (offset + 16 > data.length) break;
      size = Number(data.readBigUInt64BE(offset + 8));
      header = 16;
    } else if (size === 0) {
      size = data.length - offset;
    }
    if (size < header || offset + size > data.length) break;
    boxes.push({
      type: data.toString('latin1', offset + 4, offset + 8),
      body: data.subarray(offset + header, offset + size),
    });
    offset += size;
  }
  return boxes;
};

const child = (boxes: Box[], type: string): Box | undefined => boxes.find((box) => box.type === type);
const path = (body: Buffer, ...types: string[]): Box | undefined => {
  let current: Box | undefined = { type: '', body };
  for (const type of types) {
    current = current ? child(childBoxes(current.body), type) : undefined;
  }
  return current;
};

/** `mvhd` and `mdhd` share their layout up to the duration: timescale and duration by version. */
const timedHeader = (body: Buffer | undefined): { timescale: number; duration: number } | undefined => {
  if (!body || body.length < 20) return undefined;
  const version = body[0];
  if (version === 1) {
    if (body.length < 32) return undefined;
    return { timescale: body.readUInt32BE(20), duration: Number(body.readBigUInt64BE(24)) };
  }
  return { timescale: body.readUInt32BE(12), duration: body.readUInt32BE(16) };
};

const seconds = (ticks: number, timescale: number): number | undefined =>
  timescale > 0 && ticks > 0 && Number.isFinite(ticks / timescale) ? ticks / timescale : undefined;

/** `tkhd` width and height, 16.16 fixed point, at offsets that depend on its version. */
const trackHeaderSize = (body: Buffer | undefined): { width: number; height: number } | undefined => {
  if (!body) return undefined;
  const at = body[0] === 1 ? 88 : 76;
  if (body.length < at + 8) return undefined;
  return { width: body.readUInt32BE(at) >>> 16, height: body.readUInt32BE(at + 4) >>> 16 };
};

/** Width and height of the first visual sample entry in `stsd` (what the decoder is configured with). */
const sampleEntrySize = (stsd: Buffer | undefined): { width: number; height: number } | undefined => {
  const entry = stsd && stsd.length >= 8 ? childBoxes(stsd.subarray(8))[0] : undefined;
  if (!entry || entry.body.length < 28) return undefined;
  return { width: entry.body.readUInt16BE(24), height: entry.body.readUInt16BE(26) };
};

/** Sum of sample_count × sample_delta over the `stts` entries that are present. */
const sampleTableTicks = (stts: Buffer | undefined): number | undefined => {
  if (!stts || stts.length < 8) return undefined;
  const entries = Math.min(stts.readUInt32BE(4), Math.floor((stts.length - 8) / 8));
  let ticks = 0;
  for (let index = 0; index < entries; index += 1) {
    const at = 8 + index * 8;
    ticks += stts.readUInt32BE(at) * stts.readUInt32BE(at + 4);
  }
  return ticks;
};

const readMp4 = async (
  handle: Awaited<ReturnType<typeof open>>,
  fileSize: number,
): Promise<ContainerHeaders | undefined> => {
  let offset = 0;
  for (let count = 0; count < MAX_TOP_LEVEL_ELEMENTS && offset + 8 <= fileSize; count += 1) {
    const header = await readAt(handle, offset, 16);
    if (header.length < 8) return undefined;
    let size = header.readUInt32BE(0);
    let headerSize = 8;
    if (size === 1) {
      if (header.length < 16) return undefined;
      size = Number(header.readBigUInt64BE(8));
      headerSize = 16;
    } else if (size === 0) {
      size = fileSize - offset;
    }
    if (size < headerSize) return undefined;
    if (header.toString('latin1', 4, 8) === 'moov') {
      if (size - headerSize > MAX_HEADER_BYTES) return undefined;
      return parseMoov(await readAt(handle, offset + headerSize, size - headerSize));
    }
    offset += size;
  }
  return undefined;
};

const parseMoov = (moov: Buffer): ContainerHeaders => {
  const boxes = childBoxes(moov);
  const movie = timedHeader(child(boxes, 'mvhd')?.body);
  const headers: ContainerHeaders = { family: 'mp4', tracks: 0, videoTracks: [] };
  const declared = movie && seconds(movie.duration, movie.timescale);
  if (declared !== undefined) headers.declaredDuration = declared;

  let longest = 0;
  for (const trak of boxes.filter((box) => box.type === 'trak')) {
    headers.tracks += 1;
    const media = path(trak.body, 'mdia');
    const handler = path(trak.body, 'mdia', 'hdlr')?.body;
    const kind = handler && handler.length >= 12 ? handler.toString('latin1', 8, 12) : '';
    const stbl = media ? path(media.body, 'minf', 'stbl') : undefined;
    if (kind === 'vide') {
      const declaredSize = trackHeaderSize(child(childBoxes(trak.body), 'tkhd')?.body);
      const coded = sampleEntrySize(stbl ? child(childBoxes(stbl.body), 'stsd')?.body : undefined);
      headers.videoTracks.push({
        width: Math.max(declaredSize?.width ?? 0, coded?.width ?? 0),
        height: Math.max(declaredSize?.height ?? 0, coded?.height ?? 0),
      });
    }
    const timescale = timedHeader(media ? child(childBoxes(media.body), 'mdhd')?.body : undefined)?.timescale;
    const ticks = sampleTableTicks(stbl ? child(childBoxes(stbl.body), 'stts')?.body : undefined);
    const spanned = ticks !== undefined && timescale !== undefined ? seconds(ticks, timescale) : undefined;
    if (spanned !== undefined) longest = Math.max(longest, spanned);
  }
  // Fragmented MP4 keeps its samples in `moof` boxes and an empty `stts`: no span is known here.
  if (longest > 0) headers.sampleDuration = longest;
  return headers;
};

// ---- Matroska / WebM (EBML) ----

const ID = {
  segment: 0x18538067,
  info: 0x1549a966,
  tracks: 0x1654ae6b,
  cluster: 0x1f43b675,
  timecodeScale: 0x2ad7b1,
  duration: 0x4489,
  trackEntry: 0xae,
  trackType: 0x83,
  video: 0xe0,
  pixelWidth: 0xb0,
  pixelHeight: 0xba,
} as const;

interface Element {
  id: number;
  /** Undefined for the "unknown size" of a live-streamed Segment or Cluster. */
  size: number | undefined;
  headerLength: number;
}

/** Reads a variable-length integer; `keepMarker` for IDs, which keep their length bits. */
const vint = (
  data: Buffer,
  at: number,
  keepMarker: boolean,
): { value: number; length: number } | undefined => {
  const first = data[at];
  if (first === undefined || first === 0) return undefined;
  const length = Math.clz32(first) - 23;
  if (length > 8 || at + length > data.length) return undefined;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let index = 1; index < length; index += 1) {
    const byte = data[at + index] as number;
    value = value * 256 + byte;
    allOnes &&= byte === 0xff;
  }
  return { value: !keepMarker && allOnes ? -1 : value, length };
};

const elementAt = (data: Buffer, at: number): Element | undefined => {
  const id = vint(data, at, true);
  const size = id && vint(data, at + id.length, false);
  if (!id || !size) return undefined;
  return {
    id: id.value,
    size: size.value < 0 ? undefined : size.value,
    headerLength: id.length + size.length,
  };
};

const childElements = (data: Buffer): { id: number; body: Buffer }[] => {
  const found: { id: number; body: Buffer }[] = [];
  let at = 0;
  while (at < data.length) {
    const element = elementAt(data, at);
    if (!element || element.size === undefined) break;
    const start = at + element.headerLength;
    if (start + element.size > data.length) break;
    found.push({ id: element.id, body: data.subarray(start, start + element.size) });
    at = start + element.size;
  }
  return found;
};

const unsigned = (body: Buffer | undefined): number | undefined =>
  body && body.length > 0 && body.length <= 6 ? body.readUIntBE(0, body.length) : undefined;

const float = (body: Buffer | undefined): number | undefined =>
  body?.length === 4 ? body.readFloatBE(0) : body?.length === 8 ? body.readDoubleBE(0) : undefined;

const readMatroska = async (
  handle: Awaited<ReturnType<typeof open>>,
  fileSize: number,
): Promise<ContainerHeaders | undefined> => {
  // The EBML header, then the Segment whose children (Info, Tracks, …) come before the first Cluster.
  const start = await readAt(handle, 0, 64);
  const ebml = elementAt(start, 0);
  if (!ebml || ebml.size === undefined) return undefined;
  let offset = ebml.headerLength + ebml.size;
  const segment = elementAt(await readAt(handle, offset, 16), 0);
  if (!segment || segment.id !== ID.segment) return undefined;
  offset += segment.headerLength;

  let info: Buffer | undefined;
  let tracks: Buffer | undefined;
  for (let count = 0; count < MAX_TOP_LEVEL_ELEMENTS && offset < fileSize && !tracks; count += 1) {
    const element = elementAt(await readAt(handle, offset, 16), 0);
    if (!element || element.size === undefined || element.id === ID.cluster) break;
    const bodyAt = offset + element.headerLength;
    if (element.id === ID.info || element.id === ID.tracks) {
      if (element.size > MAX_HEADER_BYTES) return undefined;
      const body = await readAt(handle, bodyAt, element.size);
      if (element.id === ID.info) info = body;
      else tracks = body;
    }
    offset = bodyAt + element.size;
  }
  if (!tracks) return undefined;

  const headers: ContainerHeaders = { family: 'matroska', tracks: 0, videoTracks: [] };
  for (const entry of childElements(tracks).filter((element) => element.id === ID.trackEntry)) {
    headers.tracks += 1;
    const fields = childElements(entry.body);
    const video = fields.find((field) => field.id === ID.video);
    if (unsigned(fields.find((field) => field.id === ID.trackType)?.body) !== 1 && !video) continue;
    const sizes = video ? childElements(video.body) : [];
    headers.videoTracks.push({
      width: unsigned(sizes.find((field) => field.id === ID.pixelWidth)?.body) ?? 0,
      height: unsigned(sizes.find((field) => field.id === ID.pixelHeight)?.body) ?? 0,
    });
  }
  if (info) {
    const fields = childElements(info);
    const scale = unsigned(fields.find((field) => field.id === ID.timecodeScale)?.body) ?? 1_000_000;
    const ticks = float(fields.find((field) => field.id === ID.duration)?.body);
    const declared = ticks !== undefined ? seconds(ticks * scale, 1e9) : undefined;
    if (declared !== undefined) headers.declaredDuration = declared;
  }
  return headers;
};

const megapixels = (pixels: number): string => `${Number((pixels / 1e6).toFixed(1))} MP`;

/**
 * Refuses, before any decoder opens, a file whose headers declare more streams, larger video or
 * more video pixels in all than the limits allow: PermanentMediaError `Media::TooComplex`
 * saying what was too much and what the limit is.
 */
export const assertWithinContainerLimits = (
  headers: ContainerHeaders,
  limits: ContainerLimits = DEFAULT_CONTAINER_LIMITS,
): void => {
  if (headers.tracks > limits.maxStreams) {
    throw new PermanentMediaError(
      'Media::TooComplex',
      `the file has ${headers.tracks} streams; the limit is ${limits.maxStreams}`,
    );
  }
  const oversized = headers.videoTracks.find(
    (track) => track.width > limits.maxSide || track.height > limits.maxSide,
  );
  if (oversized) {
    throw new PermanentMediaError(
      'Media::TooComplex',
      `a video stream is ${oversized.width}×${oversized.height}; the limit is ${limits.maxSide} pixels per side`,
    );
  }
  const pixels = headers.videoTracks.reduce((sum, track) => sum + track.width * track.height, 0);
  if (pixels > limits.maxTotalPixels) {
    const what =
      headers.videoTracks.length === 1
        ? `the video is ${megapixels(pixels)}`
        : `the ${headers.videoTracks.length} video streams add up to ${megapixels(pixels)}`;
    throw new PermanentMediaError(
      'Media::TooComplex',
      `${what}; the limit is ${megapixels(limits.maxTotalPixels)} (8192×4320)`,
    );
  }
};
