import { basename, isAbsolute, join, relative } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { architectureOf, cdkArchitecture } from '../architecture.ts';
import { DEPS_LOCK_FILE, functionEntry, PROJECT_ROOT } from '../paths.ts';
import { acknowledge } from './nag.ts';

/** CloudWatch namespace of every function's Powertools metrics. */
export const METRICS_NAMESPACE = 'MediaPipeline';

/** The props a MediaFunction fixes itself are left out: runtime, bundling, role and log group. */
type InheritedProps = Omit<
  NodejsFunctionProps,
  | 'entry'
  | 'handler'
  | 'runtime'
  | 'architecture'
  | 'bundling'
  | 'projectRoot'
  | 'depsLockFilePath'
  | 'role'
  | 'logGroup'
  | 'logRetention'
>;

export interface MediaFunctionProps extends InheritedProps {
  /** The function's folder under functions/; its entry is `functions/<source>/handler.ts`, exporting `handler`. */
  readonly source: string;
  /** Powertools' service name (POWERTOOLS_SERVICE_NAME): names the function in logs and metric dimensions. */
  readonly serviceName: string;
  /**
   * Modules left out of the bundle and `require`d at run time from a layer's /opt/nodejs/node_modules.
   * @default - none: everything is bundled, the AWS SDK included
   */
  readonly externalModules?: string[];
  /**
   * How long the function's logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Memory in MB.
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Files under the project root copied into the function's asset next to the bundle, where the handler
   * finds them under LAMBDA_TASK_ROOT (a web page built at synth time). They must exist when the function
   * is defined, since bundling runs then; they count in the asset hash like the bundle does.
   * @default - none
   */
  readonly assetFiles?: readonly string[];
  /**
   * Directories under the project root whose contents are copied into the function's asset at `target`
   * (relative to the asset root, /var/task in Lambda): what a layer would provide, for targets that do not
   * mount layers (LocalStack's free image). They count in the asset hash like the bundle does.
   * @default - none
   */
  readonly assetDirectories?: readonly AssetDirectory[];
}

/** A directory copied into a function's asset. */
export interface AssetDirectory {
  /** Absolute path of a directory under the project root. */
  readonly source: string;
  /** Where its contents go, relative to the asset root: `bin`, `node_modules`. */
  readonly target: string;
}

/** POSIX shell quoting, for the copy commands of `assetFiles`. */
const shellQuote = (value: string): string => `'${value.replaceAll("'", `'\\''`)}'`;

/**
 * Commands that copy `files` into the bundle's output directory. Paths are taken relative to the project
 * root, which is the bundling input directory both locally and in Docker (`/asset-input`).
 */
const copyAssetFiles = (files: readonly string[], directories: readonly AssetDirectory[] = []) => {
  const underRoot = (file: string): string => {
    const path = relative(PROJECT_ROOT, file);
    if (path.startsWith('..') || isAbsolute(path)) {
      throw new Error(`asset file ${file} is outside the project root ${PROJECT_ROOT}`);
    }
    return path;
  };
  const relativePaths = files.map(underRoot);
  const relativeDirectories = directories.map(({ source, target }) => {
    if (target.startsWith('..') || isAbsolute(target)) {
      throw new Error(`asset directory target ${target} is outside the asset`);
    }
    return { source: underRoot(source), target };
  });
  return {
    beforeBundling: (): string[] => [],
    beforeInstall: (): string[] => [],
    afterBundling: (inputDir: string, outputDir: string): string[] => [
      ...relativePaths.map(
        (path) => `cp ${shellQuote(join(inputDir, path))} ${shellQuote(join(outputDir, basename(path)))}`,
      ),
      // `cp -R dir/. target` copies the contents (modes kept: binaries stay executable).
      ...relativeDirectories.flatMap(({ source, target }) => [
        `mkdir -p ${shellQuote(join(outputDir, target))}`,
        `cp -R ${shellQuote(`${join(inputDir, source)}/.`)} ${shellQuote(join(outputDir, target))}`,
      ]),
    ],
  };
};

/**
 * The project's Lambda function: holds the defaults every function shares, so the concern constructs
 * only say what differs (memory, timeout, environment, layers).
 *
 * - nodejs22.x on the stack's architecture (lib/architecture.ts: arm64 unless the stack says
 *   otherwise), the one its layers are staged for;
 * - bundled locally by esbuild, never in Docker, as one self-contained CommonJS file with the AWS SDK
 *   inside: CommonJS because `require('sharp')` from a bundle resolves through NODE_PATH to a layer's
 *   /opt/nodejs/node_modules while ESM imports ignore NODE_PATH; self-contained because a local
 *   runtime runs the bundles as they are;
 * - minified, with source maps that `NODE_OPTIONS=--enable-source-maps` applies to stack traces;
 * - its own log group with a retention, and a role that may write only to that log group (instead of
 *   the AWSLambdaBasicExecutionRole managed policy, which allows every log group in the account);
 * - Powertools' service name and metrics namespace in the environment.
 */
export class MediaFunction extends NodejsFunction {
  /** POWERTOOLS_SERVICE_NAME of this function. */
  readonly serviceName: string;

  constructor(scope: Construct, id: string, props: MediaFunctionProps) {
    const {
      source,
      serviceName,
      externalModules = [],
      logRetention,
      environment,
      assetFiles = [],
      assetDirectories = [],
      ...functionProps
    } = props;

    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${serviceName} function`,
    });

    super(scope, id, {
      memorySize: 256,
      timeout: Duration.seconds(30),
      ...functionProps,
      entry: functionEntry(source),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: cdkArchitecture(architectureOf(scope)),
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: DEPS_LOCK_FILE,
      role,
      logGroup,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: serviceName,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        ...environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.CJS,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; leaving the sources out keeps the asset small.
        sourcesContent: false,
        // ESM builds first: the AWS SDK's dist-es tree-shakes, its dist-cjs does not (about 20% smaller).
        mainFields: ['module', 'main'],
        bundleAwsSDK: true,
        externalModules,
        logLevel: LogLevel.WARNING,
        ...(assetFiles.length > 0 || assetDirectories.length > 0
          ? { commandHooks: copyAssetFiles(assetFiles, assetDirectories) }
          : {}),
      },
    });

    this.serviceName = serviceName;
    logGroup.grantWrite(role);
    acknowledge(
      this,
      'AwsSolutions-L1',
      'nodejs22.x is pinned on purpose: the bundles target node22 and the code is tested on Node 20 and 22; a newer runtime is a deliberate upgrade.',
    );
  }
}
