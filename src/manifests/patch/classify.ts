import type { JsonPatchOperation } from './json6902.js';

export type PatchKind = 'strategicMerge' | 'json6902';

export type ClassifiedPatch =
  | { kind: 'strategicMerge'; documents: Array<Record<string, unknown>> }
  | { kind: 'json6902'; operations: JsonPatchOperation[] };

/**
 * Tells a JSON 6902 patch (a list of operations, JSON or YAML) from strategic merge patches
 * (one or more YAML documents), as kustomize's PatchTransformer does, and parses it.
 */
export function classifyPatch(
  text: string,
  opts: { source?: string; parse?: (text: string, source?: string) => Array<Record<string, unknown>> } = {},
): ClassifiedPatch {
  void text;
  void opts;
  throw new Error('not implemented');
}
