#!/usr/bin/env node
// The `media-pipeline` bin: runs the TypeScript CLI through tsx (a devDependency), so that
// `npx media-pipeline …` works from the project folder without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./media-pipeline.ts');
await main();
