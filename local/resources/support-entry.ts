/**
 * The vocabulary of a resource module's support entry: whether the local runtime emulates a type (and
 * which of its properties it acts on or accepts with a reason), or accepts the whole type as meaning
 * nothing locally. Kept apart from local/support.ts, which assembles the modules' entries into one
 * table, so that the modules can use it without importing the table they are part of.
 */
import type { CfnResource } from '../types.ts';

/** A property the runtime acts on, or one it accepts and ignores, with the reason. */
export type PropertySupport =
  | { handling: 'emulated'; note?: string }
  | { handling: 'accepted'; reason: string };

/** Problems of one resource that its property names alone do not show, each as `<path>: <reason>`. */
export type SupportCheck = (resource: CfnResource, path: string) => string[];

export interface EmulatedType {
  kind: 'emulated';
  /** What it becomes locally. */
  emulation: string;
  properties: Readonly<Record<string, PropertySupport>>;
  /** Checks of literal values the emulation depends on. */
  check?: SupportCheck;
}

export interface IgnoredType {
  kind: 'ignored';
  /** Why it means nothing locally. */
  reason: string;
}

export type ResourceSupport = EmulatedType | IgnoredType;

export const emulated = (note?: string): PropertySupport => ({ handling: 'emulated', note });
export const accepted = (reason: string): PropertySupport => ({ handling: 'accepted', reason });

export const TAGS = accepted('tags have no effect locally');
export const DESCRIPTION = accepted('descriptions have no effect locally');
export const NO_IAM = 'no IAM locally: every function may call every emulator';
export const NO_RESOURCE_POLICIES =
  'no resource policies locally (their TLS-only statements are moot: the emulators listen on loopback)';

/**
 * A check that `property`, when a literal, is one of `allowed` (a reference is left to provisioning,
 * which sees its resolved value).
 */
export const literalCheck =
  (property: string, allowed: readonly string[], what: string): SupportCheck =>
  (resource, path) => {
    const value = resource.Properties?.[property];
    return value === undefined || typeof value !== 'string' || allowed.includes(value)
      ? []
      : [
          `${path}.Properties.${property}: ${what} ${value} is not supported locally (only ${allowed.join(', ')})`,
        ];
  };

/** A check that the object `property` has no keys but `known`, one problem per other key. */
export const knownKeysCheck =
  (property: string, known: readonly string[], why: string): SupportCheck =>
  (resource, path) => {
    const value = resource.Properties?.[property];
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return [];
    return Object.keys(value)
      .filter((key) => !known.includes(key))
      .map((key) => `${path}.Properties.${property}.${key}: ${why}`);
  };

/** Every problem the `checks` find, in their order. */
export const allChecks =
  (...checks: SupportCheck[]): SupportCheck =>
  (resource, path) =>
    checks.flatMap((check) => check(resource, path));
