/**
 * Peak RSS of one image method, in a process of its own: `image-rss.ts <file> <jpeg|webp>
 * <render|pipelines> <in flight> <images>`. Prints `{"baselineKb", "peakKb"}`: the high-water mark once
 * everything is loaded, and after the images.
 */
import { readFile } from 'node:fs/promises';
import { defaultVariants, renderProject, threePipelines } from '../lib/image-methods.ts';

const [file, format, method, inFlightText, countText] = process.argv.slice(2);
if (!file || (format !== 'jpeg' && format !== 'webp') || (method !== 'render' && method !== 'pipelines')) {
  throw new Error('usage: image-rss.ts <file> <jpeg|webp> <render|pipelines> <in flight> <images>');
}
const inFlight = Number(inFlightText ?? 1);
const count = Number(countText ?? 3);
const input = await readFile(file);
const variants = defaultVariants(format);
const run = method === 'render' ? renderProject : threePipelines;
const baselineKb = process.resourceUsage().maxRSS;

let next = 0;
const lane = async () => {
  while (next < count) {
    next++;
    await run(input, variants);
  }
};
await Promise.all(Array.from({ length: inFlight }, lane));
process.stdout.write(`${JSON.stringify({ baselineKb, peakKb: process.resourceUsage().maxRSS })}\n`);
