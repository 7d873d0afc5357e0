import { artifactMetadata } from './constants.js';
import { artifactResources, type ArtifactResource } from './objects.js';
import { readArtifactFiles, type ReadArtifactOptions } from './pull.js';

export interface InspectArtifactOptions extends ReadArtifactOptions {
  /** `oci://registry/repository:tag` or `@sha256:...`. */
  url: string;
}

/** What an artifact holds. */
export interface ArtifactInspection {
  /** `oci://registry/repository@sha256:...` */
  url: string;
  digest: string;
  created?: string;
  source?: string;
  revision?: string;
  annotations: Record<string, string>;
  /** Paths of the files in the artifact. */
  files: string[];
  /** Kubernetes objects, in apply order. */
  resources: ArtifactResource[];
  /** Every container image the objects reference, sorted, without duplicates. */
  images: string[];
  /** Files that looked like manifests but could not be parsed. */
  warnings: string[];
}

/** Reads an artifact and lists its annotations, files, Kubernetes objects and container images. */
export async function inspectArtifact(opts: InspectArtifactOptions): Promise<ArtifactInspection> {
  const art = await readArtifactFiles(opts.url, opts);
  const { resources, warnings } = await artifactResources(art.files);
  const a = art.annotations;
  const out: ArtifactInspection = {
    url: art.url,
    digest: art.digest,
    annotations: a,
    files: art.files.map((f) => f.path),
    resources,
    images: [...new Set(resources.flatMap((r) => r.images))].sort(),
    warnings,
  };
  return { ...out, ...artifactMetadata(a) };
}
