import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

describe('the API bundle', () => {
  it('carries no image or video processing code (sharp alone adds ~90 ms and 18 MB to a cold start)', async () => {
    // Act: bundle the handler the way the stack does
    const result = await build({
      entryPoints: ['functions/api/handler.ts'],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });

    // Assess
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs).toContain('functions/api/handler.ts');
    expect(
      inputs.filter((input) => /sharp|@img\/|ffmpeg|ffprobe|functions\/(image|video)\//.test(input)),
    ).toEqual([]);
  });
});
