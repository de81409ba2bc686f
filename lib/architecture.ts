import { Stack } from 'aws-cdk-lib';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';
import type { LambdaArchitecture } from '../layers/stage.ts';

export type { LambdaArchitecture } from '../layers/stage.ts';

/** What the `architecture` setting accepts: Lambda's names. */
export const LAMBDA_ARCHITECTURES: readonly LambdaArchitecture[] = ['arm64', 'x86_64'];

/** Graviton: 20% less per GB-second than x86_64, and every binary the layers carry exists for it. */
export const DEFAULT_ARCHITECTURE: LambdaArchitecture = 'arm64';

export const isLambdaArchitecture = (value: unknown): value is LambdaArchitecture =>
  (LAMBDA_ARCHITECTURES as readonly unknown[]).includes(value);

/**
 * The Lambda architecture matching this machine's CPU (Node's `process.arch`), or undefined when Lambda
 * has none: what the local runtime synthesizes with, so that the layer binaries it runs are the host's.
 */
export const hostArchitecture = (arch: string = process.arch): LambdaArchitecture | undefined =>
  arch === 'arm64' ? 'arm64' : arch === 'x64' ? 'x86_64' : undefined;

export const cdkArchitecture = (architecture: LambdaArchitecture): Architecture =>
  architecture === 'arm64' ? Architecture.ARM_64 : Architecture.X86_64;

const stackArchitectures = new WeakMap<Stack, LambdaArchitecture>();

/**
 * Sets the architecture of every function and layer of `stack`: the stack calls it once, before it
 * defines any, so that functions and the layers they mount can never disagree.
 */
export const setStackArchitecture = (stack: Stack, architecture: LambdaArchitecture): void => {
  stackArchitectures.set(stack, architecture);
};

/** The architecture of the stack `scope` is in, {@link DEFAULT_ARCHITECTURE} unless the stack set one. */
export const architectureOf = (scope: IConstruct): LambdaArchitecture =>
  stackArchitectures.get(Stack.of(scope)) ?? DEFAULT_ARCHITECTURE;
