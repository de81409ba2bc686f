import {
  type KoaContext,
  type Middleware,
  objectOf,
  respondError,
  type S3rverInternals,
  single,
} from './s3rver-koa.ts';

/**
 * S3's conditional requests that s3rver 3.7.1 ignores (it already answers GET's If-None-Match and
 * If-Modified-Since with 304):
 * - `If-None-Match: *` on PutObject and CompleteMultipartUpload: 412 PreconditionFailed when the key
 *   exists, so that a presigned URL cannot overwrite;
 * - `If-Match: <etag>` on PutObject and CompleteMultipartUpload (404 NoSuchKey when there is no
 *   object), and on GetObject and HeadObject (412 when the ETag differs).
 *
 * A check and the write it guards are one step per key: conditional writes to one key run one after
 * the other, so two `If-None-Match: *` PUTs racing for a key cannot both succeed. Unconditional writes
 * are not held back (on S3 too the last of them wins).
 */

const PRECONDITION_FAILED = 'At least one of the pre-conditions you specified did not hold';

const OBJECT_SUBRESOURCES = [
  'acl',
  'tagging',
  'uploads',
  'uploadId',
  'partNumber',
  'legal-hold',
  'retention',
];

const hasAny = (ctx: KoaContext, names: readonly string[]): boolean =>
  names.some((name) => name in ctx.query);

type Operation = 'read' | 'write' | undefined;

const operationOf = (ctx: KoaContext): Operation => {
  if ((ctx.method === 'GET' || ctx.method === 'HEAD') && !hasAny(ctx, OBJECT_SUBRESOURCES)) return 'read';
  if (ctx.method === 'PUT' && !hasAny(ctx, OBJECT_SUBRESOURCES)) return 'write';
  // CompleteMultipartUpload.
  if (ctx.method === 'POST' && 'uploadId' in ctx.query) return 'write';
  return undefined;
};

const bare = (etag: string): string => etag.trim().replace(/^W\//, '').replace(/"/g, '');

/** An If-Match list (`"a", "b"` or `*`) against the object's ETag. */
const matches = (condition: string, etag: string): boolean =>
  condition
    .split(',')
    .map(bare)
    .some((candidate) => candidate === '*' || candidate === bare(etag));

/** Runs `task` after every earlier task for the same key has settled. */
const keyedQueue = () => {
  const tails = new Map<string, Promise<unknown>>();
  return async <T>(key: string, task: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
};

export const conditionalRequests = (store: S3rverInternals['store']): Middleware => {
  const oneAtATime = keyedQueue();

  const currentEtag = async (bucket: string, key: string): Promise<string | undefined> => {
    try {
      return (await store.getMetadata(bucket, key)).etag;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };

  const preconditionFailed = (ctx: KoaContext, condition: string) =>
    respondError(ctx, 412, 'PreconditionFailed', PRECONDITION_FAILED, { Condition: condition });

  return async (ctx, next) => {
    const target = objectOf(ctx);
    const operation = operationOf(ctx);
    const ifMatch = single(ctx.headers['if-match']);
    const ifNoneMatch = single(ctx.headers['if-none-match']);
    if (
      !target ||
      !operation ||
      (ifMatch === undefined && (operation === 'read' || ifNoneMatch === undefined))
    ) {
      return next();
    }
    const { bucket, key } = target;

    if (operation === 'read') {
      const etag = ifMatch === undefined ? undefined : await currentEtag(bucket, key);
      // No object: s3rver answers NoSuchKey, as S3 does before looking at If-Match.
      if (ifMatch !== undefined && etag !== undefined && !matches(ifMatch, etag)) {
        return preconditionFailed(ctx, 'If-Match');
      }
      return next();
    }

    if (ifNoneMatch !== undefined && ifNoneMatch.trim() !== '*') {
      return respondError(
        ctx,
        501,
        'NotImplemented',
        'A header you provided implies functionality that is not implemented',
        { Header: 'If-None-Match' },
      );
    }
    return oneAtATime(`${bucket}/${key}`, async () => {
      const etag = await currentEtag(bucket, key);
      if (ifNoneMatch !== undefined && etag !== undefined) return preconditionFailed(ctx, 'If-None-Match');
      if (ifMatch !== undefined) {
        if (etag === undefined) {
          return respondError(ctx, 404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
        }
        if (!matches(ifMatch, etag)) return preconditionFailed(ctx, 'If-Match');
      }
      return next();
    });
  };
};

/** Put in front of s3rver's handlers; `store` is s3rver's, where the current ETags are. */
export const addConditionalRequests = (server: S3rverInternals): void => {
  server.middleware.unshift(conditionalRequests(server.store));
};
