import { resolve } from 'node:path';
import { throwIfAborted } from './errors.js';
import { contentEntries, type ArtifactContent } from './push.js';
import { writeTarball } from './tarball.js';

export interface BuildArtifactOptions extends ArtifactContent {
  /** Where to write the tarball (written atomically). */
  output: string;
  signal?: AbortSignal;
}

export interface BuildArtifactResult {
  /** Absolute path of the tarball. */
  output: string;
  /** sha256 digest of the tarball: the layer digest a push of the same content would have. */
  digest: string;
  size: number;
  files: number;
}

/** Writes the artifact tarball (what `pushArtifact` would upload as its layer) to a local file. */
export async function buildArtifact(opts: BuildArtifactOptions): Promise<BuildArtifactResult> {
  const entries = await contentEntries(opts);
  throwIfAborted(opts.signal, `building ${opts.output}`);
  const output = resolve(opts.output);
  const written = await writeTarball(entries, output, opts.signal ? { signal: opts.signal } : {});
  return { output, digest: written.digest, size: written.size, files: entries.filter((e) => e.type === 'file').length };
}
