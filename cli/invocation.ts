import { existsSync, realpathSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join, relative } from 'node:path';

/**
 * The commands the CLI prints (a resume, the next page) must work when pasted into the same shell:
 * the program as the user ran it, and arguments quoted for a POSIX shell.
 */

/** One word for a POSIX shell: as is when it is plainly safe, else in single quotes (`'` as `'\''`). */
export const shellQuote = (word: string): string =>
  /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;

export const shellCommand = (words: readonly string[]): string => words.map(shellQuote).join(' ');

export interface ProcessFacts {
  env: NodeJS.ProcessEnv;
  /** process.argv[1]: the script node ran (a bin link is not resolved). */
  script: string | undefined;
  cwd: string;
  /** Whether `media-pipeline` on PATH runs this same script. */
  onPath?: (script: string) => boolean;
}

const resolvesTo = (script: string, env: NodeJS.ProcessEnv): boolean => {
  try {
    const target = realpathSync(script);
    return (env.PATH ?? '').split(delimiter).some((dir) => {
      const candidate = join(dir, 'media-pipeline');
      return dir !== '' && existsSync(candidate) && realpathSync(candidate) === target;
    });
  } catch {
    return false;
  }
};

/**
 * How the user started the CLI, as the words that start it again:
 * - through npx or `npm exec` (npm sets `npm_command=exec`): `npx media-pipeline`;
 * - through an npm script (`npm_command=run`, `npm_lifecycle_event` the script): `npm run cli --`;
 * - a `media-pipeline` on PATH that is this same file (a global install, `npm link`): `media-pipeline`;
 * - else the script as node ran it, relative to the working directory when inside it:
 *   `node cli/media-pipeline.mjs`, or `npx tsx cli/media-pipeline.ts` for the TypeScript entry.
 */
export const invocationOf = ({
  env,
  script,
  cwd,
  onPath = (s) => resolvesTo(s, env),
}: ProcessFacts): string[] => {
  if (env.npm_command === 'exec') return ['npx', 'media-pipeline'];
  if ((env.npm_command === 'run' || env.npm_command === 'run-script') && env.npm_lifecycle_event) {
    return ['npm', 'run', env.npm_lifecycle_event, '--'];
  }
  if (!script) return ['npx', 'media-pipeline'];
  if (basename(script) === 'media-pipeline' && onPath(script)) return ['media-pipeline'];
  const relativePath = relative(cwd, script);
  const shown =
    relativePath && !relativePath.startsWith('..') && !isAbsolute(relativePath) ? relativePath : script;
  return script.endsWith('.ts') ? ['npx', 'tsx', shown] : ['node', shown];
};
