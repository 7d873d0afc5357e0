// Public surface of the patch algorithms used by the kustomize-compatible build engine:
// strategic merge (as kustomize v5.5's kyaml merge2 does it) and JSON 6902 (as kustomize's
// gopkg.in/evanphx/json-patch.v4 does it), and the PatchTransformer's rule for telling them apart.
//
// Data model and assumptions:
// - Resources and patches are plain JS data as the `yaml` package's `parse`/`toJS` produce it:
//   objects, arrays, strings, numbers, booleans, null. Inputs are never mutated; results share
//   no structure with the inputs.
// - Key order: `kubectl kustomize` prints every map with its keys sorted (its output goes through
//   a Go map), so key order never shows in build output. The functions still build results in
//   kyaml's order (existing keys in place; keys new to an existing map appended in sorted order;
//   maps new to the target in the patch's order; JSON 6902 results fully sorted) for callers that
//   look at insertion order. List element order matters and follows kustomize exactly: for lists
//   merged by key, the patch's elements come first, in patch order, then the target's others.
// - Merge keys and strategies come from the Kubernetes v1.21.2 OpenAPI built into kyaml v0.18.1
//   (schema-data.ts, written by schema-gen/). Kinds it does not know (custom resources, removed
//   API versions such as extensions/v1beta1 Deployments) merge maps key by key and replace lists
//   whole — except below a nested object carrying a known apiVersion/kind, which kyaml merges
//   with that kind's schema.
// - Scalars compare by their YAML text (String(value)), as kyaml compares node values: merge key
//   8080 matches "8080".
// - `$setElementOrder/…`, `$retainKeys` and `$deleteFromPrimitiveList/…` are not directives in
//   kustomize (kyaml ignores them): they are copied into the result as ordinary fields, exactly as
//   `kubectl kustomize` prints them. `$patch: delete|replace|merge` and null deletion are applied.
// - After a JSON 6902 patch, metadata.annotations values are strings (null becomes "null") and
//   an empty annotations map is removed: kustomize's transformers re-set them that way.
// - Plain data loses what kyaml keeps of the YAML text, and some of it shows in kustomize's
//   output. Callers that parse YAML themselves can pass it back through hooks:
//   - `emptyNull`: a null in the target that the patch does not mention is kept (as `null` or
//     `~` are in kustomize), but kustomize drops it when it was written empty (`key:`);
//   - `quoted`: a patch's number or boolean that replaces a quoted string becomes a string
//     (kyaml keeps the replaced scalar's quotes); without the hook, strings that would read as
//     another type unquoted count as quoted;
//   - `scalarText`: the patch's original text of a number (1.50, 0x10) for those strings and for
//     the labels and annotations of a targeted patch;
//   - `carry`: which maps of the result are copies of which maps of the inputs, to carry such
//     knowledge along to later patches.
export { applyKustomizeSmPatch, applyStrategicMergePatch, isPatchDelete } from './strategic.js';
export type { KustomizePatchOptions, StrategicMergeOptions } from './strategic.js';
export { applyJson6902, parseJson6902 } from './json6902.js';
export type { Json6902Options, JsonPatchOperation } from './json6902.js';
export { classifyPatch } from './classify.js';
export type { ClassifiedPatch, ClassifyOptions, PatchKind } from './classify.js';
export { PatchError } from './errors.js';
export type { PatchErrorDetails } from './errors.js';
