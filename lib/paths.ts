import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: package.json, package-lock.json, functions/ and layers/ live here. */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The lock file NodejsFunction reads to find the project root and the package manager. */
export const DEPS_LOCK_FILE = join(PROJECT_ROOT, 'package-lock.json');

/** The handler module of a function: `functions/<name>/handler.ts`, exporting `handler`. */
export const functionEntry = (name: string): string => join(PROJECT_ROOT, 'functions', name, 'handler.ts');
