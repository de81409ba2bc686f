import { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * Parses the environment once, at cold start, against a zod schema, so that the rest of the code
 * receives a typed object and a misconfigured function fails on its first invocation with a list of
 * what is wrong instead of deep inside a request.
 */
export const loadConfig = <S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> => {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid function configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
};

/** Environment values are strings: these read them as what they mean. */
export const envBoolean = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((value) => (value === undefined ? fallback : value === 'true' || value === '1'));

export const envInt = (fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const envString = () => z.string().min(1);

/** A comma-separated list of TCP ports (`80,443`), each from 1 to 65535; at least one. */
export const envPortList = (fallback: readonly number[]) =>
  z
    .string()
    .regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, 'must be comma-separated port numbers, such as 80,443')
    .transform((value) => value.split(',').map((port) => Number(port.trim())))
    .pipe(z.array(z.number().int().min(1).max(65_535)).min(1))
    .optional()
    .transform((ports) => ports ?? [...fallback]);
export const envUrl = () => z.url();
