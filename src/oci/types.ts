import type { Readable } from 'node:stream';

/** OCI content descriptor (image-spec `descriptor.md`). */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
  urls?: string[];
  platform?: Platform;
  /** Embedded content, base64 (rarely used). */
  data?: string;
}

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Media types of manifests (stored under /manifests/ in a registry, never as blobs). */
export const ManifestMediaTypes: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
];

export const IndexMediaTypes: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];

export interface OpOptions {
  signal?: AbortSignal;
}

export interface ResolveOptions extends OpOptions {
  /**
   * The caller reads the manifest next: a store that can answer both in one exchange (a registry:
   * one GET instead of HEAD + GET) does so, and the following fetch is served from memory.
   */
  content?: boolean;
}

export interface ReferrersOptions extends OpOptions {
  /** Only referrers with this artifactType. */
  artifactType?: string;
}

export interface FetchBytesOptions extends OpOptions {
  /** Refuse content larger than this many bytes (default: 4 MiB for manifests, 64 MiB otherwise). */
  maxBytes?: number;
}

/**
 * One storage interface for a single repository's content: a remote registry repository, an OCI
 * image-layout directory, or memory. Every implementation verifies digests: `fetch` streams fail
 * at the end (before the last chunk is handed out) when the content does not match the
 * descriptor, and `push` refuses content that does not match.
 */
export interface Storage {
  /** Human-readable location for messages, e.g. `oci://localhost:5000/app` or `layout:/tmp/x`. */
  readonly location: string;

  /** Streams the content of a blob or manifest, verified against `desc.digest` and `desc.size`. */
  fetch(desc: Descriptor, opts?: OpOptions): Promise<Readable>;

  /** Reads content fully into memory, verified; bounded by `maxBytes`. */
  fetchBytes(desc: Descriptor, opts?: FetchBytesOptions): Promise<Buffer>;

  /** Stores content described by `desc`; manifests are recognised by media type. */
  push(desc: Descriptor, content: Readable | Uint8Array, opts?: OpOptions): Promise<void>;

  /** Whether content with this descriptor's digest is present. */
  exists(desc: Descriptor, opts?: OpOptions): Promise<boolean>;

  /** Resolves a tag or digest (`1.0.0`, `sha256:...`) to the manifest descriptor it names. */
  resolve(reference: string, opts?: ResolveOptions): Promise<Descriptor>;

  /** Points `tag` at the manifest `desc` (which must already be stored). */
  tag(desc: Descriptor, tag: string, opts?: OpOptions): Promise<void>;

  /** All tags, in the order the store reports them (registries: lexical). */
  listTags(opts?: OpOptions): Promise<string[]>;

  /** Manifests whose `subject` is `subject` (OCI 1.1 referrers, with the tag-schema fallback). */
  referrers(subject: Descriptor, opts?: ReferrersOptions): Promise<Descriptor[]>;

  /** Deletes a manifest (by digest) or a blob. */
  delete(desc: Descriptor, opts?: OpOptions): Promise<void>;
}
