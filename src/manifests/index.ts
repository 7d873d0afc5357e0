// Public surface of the manifests domain: kustomize-compatible builds, YAML parsing, image
// listing and digest pinning.
export type { BuildOptions, BuildResult, KubeObject } from './types.js';
export { ManifestError } from './errors.js';
export type { ManifestErrorCode } from './errors.js';
export { build } from './build.js';
export { parseManifests, formatManifests } from './yaml.js';
export { listImages } from './images.js';
export type { ImageUse } from './images.js';
export { pinImages, readImageLock, writeImageLock, formatImageLock } from './pin.js';
export type { ImageLock, ImageLockEntry, PinOptions, PinResult } from './pin.js';

/** kustomize's legacy kind order (`orderFirst`, `orderLast`), also the apply engine's stage order. */
export { DEFAULT_ORDER_FIRST as legacyOrderFirst, DEFAULT_ORDER_LAST as legacyOrderLast } from './transformers.js';
