import { PatchError } from './errors.js';

export interface StrategicMergeOptions {
  /** Where the patch came from (file path or `[patch: "..."]`), for error messages. */
  source?: string;
  /** Let the patch rename the target (kustomize's `options.allowNameChange`). */
  allowNameChange?: boolean;
  /** Let the patch change the target's kind (kustomize's `options.allowKindChange`). */
  allowKindChange?: boolean;
}

/**
 * Applies a strategic merge patch the way kustomize (kyaml merge2) does. Returns a new object;
 * an empty object `{}` means the patch deleted the whole resource (drop it from the build).
 */
export function applyStrategicMergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
  opts: StrategicMergeOptions = {},
): Record<string, unknown> {
  throw new PatchError(`applying strategic merge patch ${opts.source ?? ''}: not implemented`, {
    ...(opts.source === undefined ? {} : { source: opts.source }),
  });
  void target;
  void patch;
}

/** True when the patch removes the whole object (`$patch: delete` at the top level). */
export function isPatchDelete(patch: Record<string, unknown>): boolean {
  return patch['$patch'] === 'delete';
}
