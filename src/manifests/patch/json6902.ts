import { PatchError } from './errors.js';

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: unknown;
}

export interface Json6902Options {
  /** Where the patch came from (file path or `[patch: "..."]`), for error messages. */
  source?: string;
}

/** Applies RFC 6902 operations as kustomize does; returns a new object. */
export function applyJson6902(
  target: Record<string, unknown>,
  operations: unknown[],
  opts: Json6902Options = {},
): Record<string, unknown> {
  void target;
  void operations;
  throw new PatchError('not implemented', opts.source === undefined ? {} : { source: opts.source });
}

/** Parses JSON 6902 operations written as a JSON array or a YAML list. */
export function parseJson6902(text: string, opts: Json6902Options = {}): JsonPatchOperation[] {
  void text;
  throw new PatchError('not implemented', opts.source === undefined ? {} : { source: opts.source });
}
