import type semverType from 'semver';
import { fetchManifest } from '../oci/index.js';
import { artifactMetadata, isHiddenTag } from './constants.js';
import { ArtifactError } from './errors.js';
import { ociURL, parseArtifactURL, repositoryFor, type RemoteOptions } from './remote.js';

export interface ListArtifactsOptions extends RemoteOptions {
  /** The repository: `oci://registry/repository` (a tag or digest in it is ignored). */
  url: string;
  /** Keep tags that are versions within this semver range (e.g. `>=1.0.0`, `1.x`). */
  semver?: string;
  /** Keep tags matching this regular expression. */
  regex?: string;
  /** Also list cosign (`.sig`, `.att`, `.sbom`) and digest-named (`sha256-...`) tags. */
  includeHidden?: boolean;
  /** Manifests fetched at once (default 8). */
  concurrency?: number;
}

export interface ArtifactListing {
  /** `oci://registry/repository:tag` */
  url: string;
  tag: string;
  digest: string;
  created?: string;
  source?: string;
  revision?: string;
}

/** Lists a repository's artifacts (one per tag), newest tag first as Flux sorts them (by tag, descending). */
export async function listArtifacts(opts: ListArtifactsOptions): Promise<ArtifactListing[]> {
  const ref = parseArtifactURL(opts.url);
  const what = `listing ${ociURL(ref)}`;
  // Loaded only when filtering: every CLI start-up would otherwise pay for it.
  const semver = opts.semver !== undefined ? (await import('semver')).default : undefined;
  let range: semverType.Range | undefined;
  if (semver && opts.semver !== undefined) {
    try {
      range = new semver.Range(opts.semver, { loose: true });
    } catch (err) {
      throw new ArtifactError('INVALID_ARGUMENT', `${what}: invalid semver range "${opts.semver}": ${(err as Error).message}`, { cause: err });
    }
  }
  let re: RegExp | undefined;
  if (opts.regex !== undefined) {
    try {
      re = new RegExp(opts.regex);
    } catch (err) {
      throw new ArtifactError('INVALID_ARGUMENT', `${what}: invalid regular expression "${opts.regex}": ${(err as Error).message}`, { cause: err });
    }
  }
  const storage = repositoryFor(ref, opts);
  const op = opts.signal ? { signal: opts.signal } : {};
  try {
    const tags = (await storage.listTags(op))
      .filter((t) => opts.includeHidden || !isHiddenTag(t))
      .filter((t) => {
        if (!range || !semver) return true;
        // Like Flux: a leading "v" is allowed; tags that are not versions are left out.
        const v = semver.parse(t.replace(/^v(?=\d)/, ''), { loose: true });
        return v !== null && range.test(v);
      })
      .filter((t) => !re || re.test(t))
      .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));

    const out: ArtifactListing[] = new Array(tags.length);
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= tags.length) return;
        const tag = tags[i]!;
        const { descriptor, manifest } = await fetchManifest(storage, tag, op);
        const a = manifest.annotations ?? {};
        out[i] = { url: ociURL(ref, `:${tag}`), tag, digest: descriptor.digest, ...artifactMetadata(a) };
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, tags.length)) }, worker));
    return out;
  } finally {
    storage.close();
  }
}
