import { fetchManifest, type Descriptor, type ImageManifest } from '../oci/index.js';
import { readAttached, type AttachmentKind } from './attached.js';
import { SignError } from './errors.js';
import { BUNDLE_PREDICATE_TYPE_ANNOTATION } from './formats.js';
import { mapLimit, resolveTarget, type TargetOptions } from './target.js';

export type TreeOptions = TargetOptions;

export interface TreeLayer {
  digest: string;
  mediaType: string;
  size: number;
  predicateType?: string;
}

export interface TreeAttachment {
  /** `signatures`, `attestations` or `sboms`. */
  kind: 'signatures' | 'attestations' | 'sboms';
  /** The full tag reference, e.g. `host/repo:sha256-….sig`. */
  tag: string;
  layers: TreeLayer[];
}

export interface TreeReferrer {
  /** The referrer's artifactType, or for sigstore bundles the statement's predicate type. */
  artifactType: string;
  /** `host/repo@sha256:…` of the referrer manifest. */
  reference: string;
  digest: string;
  layers: TreeLayer[];
  /** Why the referrer manifest could not be read, when it could not. */
  error?: string;
}

export interface TreeResult {
  reference: string;
  digest: string;
  attachments: TreeAttachment[];
  referrers: TreeReferrer[];
}

const KINDS: ReadonlyArray<[AttachmentKind, TreeAttachment['kind']]> = [
  ['sig', 'signatures'],
  ['att', 'attestations'],
  ['sbom', 'sboms'],
];

function treeLayer(d: Descriptor): TreeLayer {
  const pt = d.annotations?.['predicateType'];
  return { digest: d.digest, mediaType: d.mediaType, size: d.size, ...(pt ? { predicateType: pt } : {}) };
}

/**
 * The supply-chain artifacts attached to an image, as `cosign tree` shows them: the classic
 * `.sig`, `.att` and `.sbom` tags and every OCI 1.1 referrer (with the tag fallback).
 */
export async function tree(reference: string, opts: TreeOptions = {}): Promise<TreeResult> {
  const target = await resolveTarget(reference, opts);
  const what = `listing supply-chain artifacts of ${target.display}`;
  const signal = opts.signal ? { signal: opts.signal } : {};
  const digest = target.descriptor.digest;
  const attachments: TreeAttachment[] = [];
  const found = await Promise.all(KINDS.map(([kind]) => readAttached(target.storage, digest, kind, { ...signal, what })));
  KINDS.forEach(([, label], i) => {
    const image = found[i];
    if (image && image.manifest.layers.length > 0) attachments.push({ kind: label, tag: `${target.repository}:${image.tag}`, layers: image.manifest.layers.map(treeLayer) });
  });
  const list = await target.storage.referrers(target.descriptor, signal);
  if (list.length > 1000) throw new SignError('TOO_MANY', `${what}: ${list.length} referrers, more than the 1000 shown`);
  const referrers = await mapLimit(list, 8, async (d): Promise<TreeReferrer> => {
    const base = { reference: `${target.repository}@${d.digest}`, digest: d.digest };
    try {
      const { manifest } = await fetchManifest(target.storage, d, signal);
      const m = manifest as Partial<ImageManifest>;
      const artifactType = m.annotations?.[BUNDLE_PREDICATE_TYPE_ANNOTATION] ?? d.artifactType ?? m.artifactType ?? m.config?.mediaType ?? 'unknown';
      const layers = Array.isArray(m.layers) ? m.layers.map(treeLayer) : [];
      return { ...base, artifactType, layers };
    } catch (err) {
      return { ...base, artifactType: d.artifactType ?? 'unknown', layers: [], error: err instanceof Error ? err.message : String(err) };
    }
  });
  return { reference: target.display, digest, attachments, referrers };
}
