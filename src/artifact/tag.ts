import { isValidTag } from '../oci/index.js';
import { ArtifactError } from './errors.js';
import { ociURL, parseArtifactURL, refSuffix, repositoryFor, type RemoteOptions } from './remote.js';

export interface TagArtifactOptions extends RemoteOptions {
  /** The artifact to tag: `oci://registry/repository:tag` or `@sha256:...`. */
  url: string;
  /** New tags in the same repository. */
  tags: readonly string[];
}

export interface TagArtifactResult {
  digest: string;
  /** `oci://registry/repository:tag` for each new tag. */
  tagged: string[];
}

/** Adds tags to an artifact, in the same repository (no content is copied). */
export async function tagArtifact(opts: TagArtifactOptions): Promise<TagArtifactResult> {
  const ref = parseArtifactURL(opts.url);
  const what = `tagging ${ociURL(ref, refSuffix(ref))}`;
  if (opts.tags.length === 0) throw new ArtifactError('INVALID_ARGUMENT', `${what}: no tag given`);
  for (const t of opts.tags) {
    if (!isValidTag(t)) throw new ArtifactError('INVALID_ARGUMENT', `${what}: invalid tag "${t}" (letters, digits, _ . -; at most 128 characters; not starting with . or -)`);
  }
  const storage = repositoryFor(ref, opts);
  const op = opts.signal ? { signal: opts.signal } : {};
  try {
    const desc = await storage.resolve(ref.reference, op);
    const tagged: string[] = [];
    for (const t of opts.tags) {
      await storage.tag(desc, t, op);
      tagged.push(ociURL(ref, `:${t}`));
    }
    return { digest: desc.digest, tagged };
  } finally {
    storage.close();
  }
}
