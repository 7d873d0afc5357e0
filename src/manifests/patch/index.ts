// Public surface of the patch algorithms used by the kustomize-compatible build engine:
// strategic merge (as kustomize's kyaml merge2 does it) and JSON 6902.
//
// Data model: resources and patches are plain JS data as produced by the `yaml` package's
// `parse` (objects, arrays, strings, numbers, booleans, null). Key insertion order of objects
// is the order written out, so the functions here build every result object with its keys in
// the order kustomize prints them. Inputs are never mutated; results share no structure with
// the patch (they may share unchanged subtrees of the target, so treat results as immutable or
// clone them before editing in place).
export { applyKustomizeSmPatch, applyStrategicMergePatch, isPatchDelete } from './strategic.js';
export type { KustomizePatchOptions, StrategicMergeOptions } from './strategic.js';
export { applyJson6902, parseJson6902 } from './json6902.js';
export type { Json6902Options, JsonPatchOperation } from './json6902.js';
export { classifyPatch } from './classify.js';
export type { PatchKind, ClassifiedPatch } from './classify.js';
export { PatchError } from './errors.js';
