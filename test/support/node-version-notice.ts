/**
 * The AWS SDK warns once per process that its releases after the first week of January 2027 need
 * Node 22. The test run starts a few dozen processes (forks, the runtime's workers, CLI children), and
 * the README ("Node versions") says it once: imported by the vitest configs, before any process starts,
 * so every process of the run inherits it. AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=false shows it.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
