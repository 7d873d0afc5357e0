// Public surface of the Kustomization reconciler (kustomize.toolkit.fluxcd.io/v1 Kustomization,
// as Flux's kustomize-controller reconciles it).
export { createKustomizationReconciler, type KustomizationObject, EventAnnotations, OriginRevisionKey, type KustomizationReconcilerDeps, type BuildFunction } from './reconciler.js';
export { fetchArtifact, artifactUrl, ArtifactFetchError, type FetchArtifactOptions, type FetchErrorCode } from './fetch.js';
export { buildKustomization, type BuildKustomizationOptions, type BuildKustomizationResult } from './build.js';
