/**
 * One Lambda execution environment: a child process forked by local/lambda-pool.ts. Plain JavaScript,
 * so that it starts without a TypeScript loader, like Lambda's own runtime starts a bundle.
 *
 * Protocol over the IPC channel (JSON):
 *   parent → worker  { type: 'init', codeDir, handler, layerDirs }
 *                    { type: 'invoke', id, event, context: { awsRequestId, deadlineMs, … } }
 *   worker → parent  { type: 'result', id, ok: true, payload }         payload: the result as JSON text
 *                    { type: 'result', id, ok: false, error, retire }   the handler threw or rejected;
 *                                                                       retire: init failed, the worker exits
 *                    { type: 'fatal', error, rejection }                uncaught; the worker exits next
 *
 * The handler module loads once (the cold start) and stays loaded between invocations, with its
 * module-level state, like a warm Lambda environment. Invocations arrive one at a time.
 */
import { existsSync, readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

if (typeof process.send !== 'function') {
  console.error('lambda-worker.mjs runs as a child process forked by local/lambda-pool.ts');
  process.exit(2);
}

// The parent is gone (exited, killed): so is this environment. No orphans.
process.on('disconnect', () => process.exit(0));

// The AWS SDK announces on Node 20 that its 2027 releases need Node 22; Lambda runs these on nodejs22.x.
const printWarnings = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (!String(warning.message).includes('NodeVersionSupportWarning')) {
    for (const listener of printWarnings) listener(warning);
  }
});

/** @type {Promise<Function> | undefined} */
let handlerReady;
/** @type {string | undefined} */
let currentId;

const describe = (error) =>
  error instanceof Error
    ? { name: error.name || 'Error', message: error.message, stack: error.stack }
    : { name: 'Error', message: typeof error === 'string' ? error : safeStringify(error) };

const safeStringify = (value) => {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};

const logError = (error) => {
  const { name, message, stack } = describe(error);
  return JSON.stringify({ errorType: name, errorMessage: message, stack: stack?.split('\n') });
};

const send = (message) =>
  new Promise((done) => {
    if (!process.connected) return done();
    process.send(message, () => done());
  });

// Lambda's Node runtime ends the environment on an uncaught exception or unhandled rejection.
const fatal = (rejection) => (error) => {
  console.error(rejection ? 'Unhandled Promise Rejection' : 'Uncaught Exception', logError(error));
  void send({ type: 'fatal', id: currentId, rejection, error: describe(error) }).finally(() =>
    process.exit(1),
  );
};
process.on('uncaughtException', fatal(false));
process.on('unhandledRejection', fatal(true));

class HandlerError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

const isInside = (file, root) => {
  const path = relative(root, file);
  return path !== '' && !path.startsWith('..') && !isAbsolute(path);
};

/**
 * The module type of a `.js` file inside the function's code or a layer, as Lambda would see it:
 * /var/task and /opt have nothing above them, so only a package.json inside them counts and the
 * default is CommonJS. Undefined for files elsewhere.
 */
const moduleTypeWithin = (file, roots) => {
  const root = roots.find((candidate) => isInside(file, candidate));
  if (!root) return undefined;
  for (let directory = dirname(file); ; directory = dirname(directory)) {
    const manifest = join(directory, 'package.json');
    if (existsSync(manifest)) {
      try {
        return JSON.parse(readFileSync(manifest, 'utf8')).type === 'module' ? 'module' : 'commonjs';
      } catch {
        return 'commonjs';
      }
    }
    if (directory === root || dirname(directory) === directory) return 'commonjs';
  }
};

/**
 * Locally the bundles sit inside the project (cdk.out), whose package.json says "type": "module":
 * left alone, Node would refuse to `require` them as CommonJS. Files inside the code and layer
 * directories are compiled by the type Lambda would give them instead.
 */
const scopeModuleTypes = (roots) => {
  const extensions = Module._extensions;
  const original = extensions['.js'];
  extensions['.js'] = function loadJs(module, filename) {
    if (moduleTypeWithin(filename, roots) !== 'commonjs') return original.call(this, module, filename);
    module._compile(readFileSync(filename, 'utf8'), filename, 'commonjs');
  };
};

/**
 * On Lambda a bundle can only `require` what is inside it or on NODE_PATH (the layers): nothing above
 * /var/task. Locally the bundles sit inside the project, whose node_modules would quietly satisfy a
 * module the bundle forgot. Lookups that climb out of the code and layer directories are cut off, so
 * such a bundle fails here as it would on AWS.
 */
const confineModuleLookups = (roots) => {
  const original = Module._nodeModulePaths;
  Module._nodeModulePaths = function nodeModulePaths(from) {
    const paths = original.call(this, from);
    if (!roots.some((root) => from === root || isInside(from, root))) return paths;
    return paths.filter((path) => roots.some((root) => isInside(path, root)));
  };
};

/** `handler` is `path/to/file.export` relative to codeDir, as Lambda's `Handler` property. */
const loadHandler = async (codeDir, handler, layerDirs) => {
  const roots = [codeDir, ...layerDirs];
  scopeModuleTypes(roots);
  confineModuleLookups(roots);
  const dot = handler.lastIndexOf('.');
  if (dot <= 0) throw new HandlerError('Runtime.MalformedHandlerName', `Bad handler ${handler}`);
  const modulePath = resolve(codeDir, handler.slice(0, dot));
  const exportPath = handler.slice(dot + 1).split('.');
  const file = ['.js', '.cjs', '.mjs'].map((extension) => modulePath + extension).find(existsSync);
  if (!file) {
    throw new HandlerError(
      'Runtime.ImportModuleError',
      `Error: Cannot find module '${handler.slice(0, dot)}'`,
    );
  }
  const isModule =
    file.endsWith('.mjs') || (file.endsWith('.js') && moduleTypeWithin(file, roots) === 'module');
  const module = isModule
    ? await import(pathToFileURL(file).href)
    : createRequire(join(codeDir, 'noop.js'))(file);
  let target = module;
  for (const name of exportPath) target = target?.[name];
  if (typeof target !== 'function') {
    throw new HandlerError('Runtime.HandlerNotFound', `${handler} is undefined or not exported`);
  }
  return target;
};

const makeContext = (fields, onCallback) => {
  const { deadlineMs, ...rest } = fields;
  return {
    ...rest,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    // Legacy completion methods, still honoured by Lambda's Node runtime.
    done: (error, result) => onCallback(error, result),
    succeed: (result) => onCallback(null, result),
    fail: (error) => onCallback(error ?? new Error('handled')),
  };
};

/** Runs the handler: async handlers by their promise, callback-style ones (3 parameters) by the callback. */
const runHandler = (handler, event, contextFields) =>
  new Promise((resolvePromise, rejectPromise) => {
    let settled = false;
    const settle = (error, result) => {
      if (settled) return;
      settled = true;
      if (error !== null && error !== undefined) rejectPromise(error);
      else resolvePromise(result);
    };
    const context = makeContext(contextFields, settle);
    try {
      const returned = handler(event, context, settle);
      if (returned && typeof returned.then === 'function') {
        returned.then(
          (result) => settle(null, result),
          (error) => settle(error ?? new Error('the handler rejected with no reason')),
        );
      } else if (handler.length < 3) {
        settle(null, returned);
      }
    } catch (error) {
      settle(error);
    }
  });

const invoke = async ({ id, event, context }) => {
  currentId = id;
  try {
    if (!handlerReady) throw new HandlerError('Runtime.InitError', 'the worker was not initialised');
    const handler = await handlerReady;
    const result = await runHandler(handler, event, context);
    let payload;
    try {
      payload = JSON.stringify(result) ?? 'null';
    } catch (error) {
      throw new HandlerError(
        'Runtime.MarshalError',
        `Unable to stringify response body: ${describe(error).message}`,
      );
    }
    await send({ type: 'result', id, ok: true, payload });
  } catch (error) {
    // Lambda's runtime logs a failed invocation in the function's own log stream, too.
    console.error('Invoke Error', logError(error));
    // A failed initialisation is not kept: the next invocation gets a fresh environment, as on Lambda.
    const initFailed = handlerReady
      ? await handlerReady.then(
          () => false,
          () => true,
        )
      : true;
    await send({ type: 'result', id, ok: false, error: describe(error), retire: initFailed });
    if (initFailed) process.exit(1);
  } finally {
    currentId = undefined;
  }
};

process.on('message', (message) => {
  if (message?.type === 'init') {
    handlerReady = loadHandler(message.codeDir, message.handler, message.layerDirs ?? []);
    // The init phase is over either way: a failure is reported with the first invocation.
    const initDone = () => void send({ type: 'ready' });
    handlerReady.then(initDone, initDone);
  } else if (message?.type === 'invoke') {
    void invoke(message);
  }
});
