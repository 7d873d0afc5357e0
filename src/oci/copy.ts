import { setMaxListeners } from 'node:events';
import { OciError, isOciError, throwIfAborted } from './errors.js';
import { RemoteRepository } from './remote/repository.js';
import { isRetryableError } from './remote/client.js';
import type { Descriptor, Storage } from './types.js';
import { MAX_MANIFEST_BYTES, isManifestMediaType, mapLimit, parseManifest, successors } from './util.js';

/** One step of a copy, for progress output. */
export interface CopyProgressEvent {
  kind: 'skipped' | 'mounted' | 'copied' | 'referrer';
  descriptor: Descriptor;
}

export interface CopyOptions {
  /** Blobs copied at the same time (default 4, as go-containerregistry's remote package; crane copy uses GOMAXPROCS, skopeo 6). */
  concurrency?: number;
  /** Also copy manifests that refer to copied manifests (signatures, attestations, SBOMs). */
  referrers?: boolean;
  signal?: AbortSignal;
  onProgress?: (e: CopyProgressEvent) => void;
  /** Whole-blob retries after a failed transfer (default 2); transports retry requests themselves. */
  blobRetries?: number;
}

const DEFAULT_CONCURRENCY = 4;

function sideError(err: unknown, what: string): unknown {
  if (err instanceof OciError && !err.message.startsWith(what)) return new OciError(err.code, `${what}: ${err.message}`, { cause: err, ...(err.status !== undefined ? { status: err.status } : {}) });
  return err;
}

/**
 * Copies the graph rooted at `root` (index → manifests → config and layers, and with
 * `referrers` the manifests pointing at each copied manifest) from `src` to `dst`. Children go
 * before parents, so the destination never holds a manifest whose content is missing; whatever
 * the destination already has is skipped.
 */
export async function copyGraph(src: Storage, dst: Storage, root: Descriptor, options: CopyOptions = {}): Promise<void> {
  // On the first failure the other transfers are cancelled, and awaited, so that nothing is still
  // writing when this function returns.
  const failure = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, failure.signal]) : failure.signal;
  // Every in-flight request listens on this signal; more than ten at once is expected.
  setMaxListeners(0, signal, failure.signal);
  const opts: CopyOptions = { ...options, signal };
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const done = new Map<string, Promise<void>>();
  // One semaphore for byte transfers across the whole graph.
  let active = 0;
  const waiting: Array<() => void> = [];
  const acquire = async () => {
    if (active >= concurrency) await new Promise<void>((r) => waiting.push(r));
    active++;
  };
  const release = () => {
    active--;
    waiting.shift()?.();
  };

  const copyBlob = async (desc: Descriptor): Promise<void> => {
    if (await dst.exists(desc, opts.signal ? { signal: opts.signal } : undefined)) {
      opts.onProgress?.({ kind: 'skipped', descriptor: desc });
      return;
    }
    if (src instanceof RemoteRepository && dst instanceof RemoteRepository && src.ref.registry === dst.ref.registry && src.ref.repository !== dst.ref.repository) {
      if (await dst.mount(desc, src.ref.repository, opts.signal ? { signal: opts.signal } : undefined).catch(() => false)) {
        opts.onProgress?.({ kind: 'mounted', descriptor: desc });
        return;
      }
    }
    const retries = opts.blobRetries ?? 2;
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(opts.signal, `copying ${desc.digest} to ${dst.location}`);
      try {
        const stream = await src.fetch(desc, opts.signal ? { signal: opts.signal } : undefined).catch((err: unknown) => {
          throw sideError(err, `copying ${desc.digest}: reading source ${src.location}`);
        });
        // The push reports stream errors; until it attaches its own listeners (after some
        // awaits), an error (e.g. a cancelled sibling transfer) must not go unhandled.
        stream.on('error', () => undefined);
        await dst.push(desc, stream, opts.signal ? { signal: opts.signal } : undefined);
        break;
      } catch (err) {
        if (attempt < retries && isRetryableError(err) && !opts.signal?.aborted) continue;
        throw err;
      }
    }
    opts.onProgress?.({ kind: 'copied', descriptor: desc });
  };

  const visit = (desc: Descriptor): Promise<void> => {
    let p = done.get(desc.digest);
    if (!p) {
      p = isManifestMediaType(desc.mediaType)
        ? copyManifest(desc)
        : (async () => {
            await acquire();
            try {
              await copyBlob(desc);
            } finally {
              release();
            }
          })();
      done.set(desc.digest, p);
    }
    return p;
  };

  const copyReferrers = async (desc: Descriptor): Promise<void> => {
    if (!opts.referrers) return;
    const list = await src.referrers(desc, opts.signal ? { signal: opts.signal } : undefined);
    await mapLimit(list, concurrency, async (r) => {
      opts.onProgress?.({ kind: 'referrer', descriptor: r });
      await visit({ mediaType: r.mediaType, digest: r.digest, size: r.size });
    });
  };

  const copyManifest = async (desc: Descriptor): Promise<void> => {
    const what = `copying manifest ${desc.digest} from ${src.location} to ${dst.location}`;
    throwIfAborted(opts.signal, what);
    if (await dst.exists(desc, opts.signal ? { signal: opts.signal } : undefined)) {
      opts.onProgress?.({ kind: 'skipped', descriptor: desc });
      // The destination may lack referrers even when it has the manifest.
      await copyReferrers(desc);
      return;
    }
    const bytes = await src.fetchBytes(desc, { maxBytes: MAX_MANIFEST_BYTES, ...(opts.signal ? { signal: opts.signal } : {}) });
    const manifest = parseManifest(bytes, desc.mediaType, what);
    await Promise.all(successors(manifest).map(visit));
    // A manifest with a subject needs the subject present on registries that check it.
    await dst.push(desc, bytes, opts.signal ? { signal: opts.signal } : undefined);
    opts.onProgress?.({ kind: 'copied', descriptor: desc });
    await copyReferrers(desc);
  };

  try {
    await visit(root);
  } catch (err) {
    failure.abort(err);
    for (let settled = 0; settled !== done.size; ) {
      settled = done.size;
      await Promise.allSettled([...done.values()]);
    }
    throw err;
  }
}

/**
 * Copies `srcRef` (a tag or digest in `src`) to `dst`, tagging it `dstRef` (default: the same
 * tag; nothing for a digest). Returns the root descriptor.
 */
export async function copy(src: Storage, srcRef: string, dst: Storage, dstRef?: string, opts: CopyOptions = {}): Promise<Descriptor> {
  let root: Descriptor;
  try {
    root = await src.resolve(srcRef, opts.signal ? { signal: opts.signal } : undefined);
  } catch (err) {
    if (isOciError(err)) throw sideError(err, `copying ${srcRef} from ${src.location}`);
    throw err;
  }
  await copyGraph(src, dst, root, opts);
  const tag = dstRef ?? (srcRef.includes(':') ? undefined : srcRef);
  if (tag !== undefined && !tag.includes(':')) await dst.tag(root, tag, opts.signal ? { signal: opts.signal } : undefined);
  return root;
}
