import { entryContent } from './source.js';
import { contentEntries, type ArtifactContent } from './push.js';
import { readArtifactFiles, type ReadArtifactOptions } from './pull.js';

export interface DiffArtifactOptions extends ArtifactContent, ReadArtifactOptions {
  /** The artifact to compare with: `oci://registry/repository:tag` or `@sha256:...`. */
  url: string;
}

/** One file that differs between the artifact and the local content. */
export interface FileChange {
  path: string;
  /** `added`: only local; `removed`: only in the artifact; `modified`: contents differ. */
  status: 'added' | 'removed' | 'modified';
  /** Unified diff from the artifact (`a/`) to the local file (`b/`); absent for binary files. */
  patch?: string;
  binary?: boolean;
}

export interface ArtifactDiff {
  url: string;
  digest: string;
  identical: boolean;
  changes: FileChange[];
}

function isBinary(b: Buffer): boolean {
  return b.subarray(0, 8000).includes(0);
}

type PatchMaker = (typeof import('diff'))['createTwoFilesPatch'];

function change(createTwoFilesPatch: PatchMaker, path: string, status: FileChange['status'], before: Buffer | undefined, after: Buffer | undefined): FileChange {
  if ((before && isBinary(before)) || (after && isBinary(after))) return { path, status, binary: true };
  const patch = createTwoFilesPatch(
    before ? `a/${path}` : '/dev/null',
    after ? `b/${path}` : '/dev/null',
    before?.toString('utf8') ?? '',
    after?.toString('utf8') ?? '',
    undefined,
    undefined,
    { context: 3 },
  );
  // Drop the "Index:"/"=====" preamble the library writes; keep the ---/+++ header and hunks.
  const start = patch.indexOf('--- ');
  return { path, status, patch: start >= 0 ? patch.slice(start) : patch };
}

/**
 * Compares an artifact's files with a local directory or file (after the same ignore rules a
 * push applies), file by file: what pushing the local content would change.
 */
export async function diffArtifact(opts: DiffArtifactOptions): Promise<ArtifactDiff> {
  const remote = await readArtifactFiles(opts.url, opts);
  const localEntries = (await contentEntries(opts)).filter((e) => e.type === 'file');
  const local = new Map<string, Buffer>();
  for (const e of localEntries) local.set(e.path, await entryContent(e));
  const remoteMap = new Map(remote.files.map((f) => [f.path, f.content]));
  const paths = [...new Set([...remoteMap.keys(), ...local.keys()])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const { createTwoFilesPatch } = await import('diff');
  const changes: FileChange[] = [];
  for (const p of paths) {
    const before = remoteMap.get(p);
    const after = local.get(p);
    if (before && after) {
      if (!before.equals(after)) changes.push(change(createTwoFilesPatch, p, 'modified', before, after));
    } else if (after) {
      changes.push(change(createTwoFilesPatch, p, 'added', undefined, after));
    } else {
      changes.push(change(createTwoFilesPatch, p, 'removed', before, undefined));
    }
  }
  return { url: remote.url, digest: remote.digest, identical: changes.length === 0, changes };
}
