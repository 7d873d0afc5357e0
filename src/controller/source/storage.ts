// Artifact storage as source-controller keeps it (fluxcd/pkg artifact/storage): files under
// `<root>/<lowercase kind>/<namespace>/<name>/`, normalised tar.gz archives written atomically,
// digests re-verified on demand, `latest.tar.gz` symlinks, garbage collection by age then count,
// and URLs under the advertised address. One process owns the root: writes to one object's
// directory are serialised by an in-process lock.
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, lstatSync, readdirSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, realpath, rename, rm, stat, symlink, unlink } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { DigestCounter } from '../../artifact/index.js';
import { nowRfc3339 } from '../runtime/conditions.js';
import { SourceError } from './errors.js';
import { sourceIgnoreFilter, type IgnoreFilter } from './ignore.js';

/** Default `--artifact-retention-ttl` (1m). */
export const DefaultRetentionTtlMs = 60_000;
/** Default `--artifact-retention-records` (2). */
export const DefaultRetentionRecords = 2;
/** Name of the symlink to an object's newest artifact. */
export const LatestLink = 'latest.tar.gz';
/** Most files looked at in one object's directory by a garbage collection (Flux's GarbageCountLimit). */
const GarbageCountLimit = 1000;

export interface ArtifactStorageOptions {
  /** Directory holding the artifacts (`--storage-path`); created when missing. */
  root: string;
  /** Host (and port) in artifact URLs (`--storage-adv-addr`); an `http(s)://` prefix is kept. */
  advertisedAddress: string;
  /** Artifacts older than this are removed by gc (current one excepted); default 1 min. */
  retentionTtlMs?: number;
  /** gc keeps at most this many files per object (the current one included); default 2. */
  retentionRecords?: number;
}

/** Where an artifact file goes: `<kind>/<namespace>/<name>/<file>` under the root. */
export interface ArtifactTarget {
  kind: string;
  namespace: string;
  name: string;
  file: string;
}

/** A file written to storage. */
export interface StoredFile {
  /** Path relative to the root: `ocirepository/<ns>/<name>/<file>`. */
  path: string;
  url: string;
  /** `sha256:<hex>` of the file. */
  digest: string;
  size: number;
  /** RFC 3339, seconds precision. */
  lastUpdateTime: string;
}

export interface ArchiveOptions {
  /** `spec.ignore`: patterns that replace the default exclusions. */
  ignore?: string;
  signal?: AbortSignal;
}

const DirMode = 0o750;
const ExeFileMode = 0o700;
const FileMode = 0o600;
const epoch = new Date(0);

/** A path segment of a storage path: no separators, no `.`/`..`, nothing empty. */
function checkSegment(value: string, what: string): void {
  if (value === '' || value === '.' || value === '..' || value.includes('/') || value.includes('\\') || value.includes('\0')) {
    throw new SourceError('INVALID_PATH', `invalid ${what} "${value}" for a storage path`);
  }
}

/** Artifact files on local disk, as source-controller stores them. */
export class ArtifactStorage {
  readonly root: string;
  readonly advertisedAddress: string;
  readonly retentionTtlMs: number;
  readonly retentionRecords: number;
  private readonly locks = new Map<string, Promise<void>>();

  constructor(opts: ArtifactStorageOptions) {
    if (opts.root.trim() === '') throw new SourceError('INVALID_PATH', 'the storage path is empty');
    if (opts.advertisedAddress.trim() === '') throw new SourceError('INVALID_PATH', 'the advertised storage address is empty');
    this.root = resolve(opts.root);
    this.advertisedAddress = opts.advertisedAddress.replace(/\/+$/, '');
    this.retentionTtlMs = opts.retentionTtlMs ?? DefaultRetentionTtlMs;
    this.retentionRecords = opts.retentionRecords ?? DefaultRetentionRecords;
  }

  /** `<kind>/<namespace>/<name>` (kind lower-cased), relative to the root. */
  artifactDir(kind: string, namespace: string, name: string): string {
    checkSegment(kind, 'kind');
    checkSegment(namespace, 'namespace');
    checkSegment(name, 'name');
    return `${kind.toLowerCase()}/${namespace}/${name}`;
  }

  /** `<kind>/<namespace>/<name>/<file>`, relative to the root. */
  artifactPath(target: ArtifactTarget): string {
    checkSegment(target.file, 'file name');
    return `${this.artifactDir(target.kind, target.namespace, target.name)}/${target.file}`;
  }

  /**
   * The absolute local path of a storage path; refuses one that would leave the root (`..`,
   * absolute paths).
   */
  localPath(path: string): string {
    const trimmed = path.replace(/^\/+/, '');
    if (trimmed === '' || trimmed.split('/').some((s) => s === '..' || s === '.' || s === '') || trimmed.includes('\\') || trimmed.includes('\0')) {
      throw new SourceError('INVALID_PATH', `invalid storage path "${path}"`);
    }
    const abs = resolve(this.root, trimmed);
    if (!abs.startsWith(this.root + sep)) throw new SourceError('INVALID_PATH', `storage path "${path}" leaves the storage root`);
    return abs;
  }

  /** `http://<advertised address>/<path>` (or the address as given when it carries a scheme). */
  urlFor(path: string): string {
    const clean = path.replace(/^\/+/, '');
    const base = /^https?:\/\//.test(this.advertisedAddress) ? this.advertisedAddress : `http://${this.advertisedAddress}`;
    return `${base}/${clean}`;
  }

  /**
   * An artifact URL written by an earlier run (another advertised address) with the current
   * host; '' for a URL that does not parse (as Flux's SetHostname).
   */
  setHostname(url: string): string {
    try {
      const u = new URL(url);
      const host = this.advertisedAddress.replace(/^https?:\/\//, '');
      u.host = host;
      return u.toString();
    } catch {
      return '';
    }
  }

  /** Whether the artifact's file exists and is a regular file (a symlink is not one). */
  async exists(artifact: { path: string }): Promise<boolean> {
    try {
      return (await lstat(this.localPath(artifact.path))).isFile();
    } catch {
      return false;
    }
  }

  /** Re-hashes the stored file; throws DIGEST_MISMATCH when it is not what `digest` says. */
  async verify(artifact: { path: string; digest?: string }): Promise<void> {
    if (!artifact.digest) throw new SourceError('DIGEST_MISMATCH', `verifying ${artifact.path}: the artifact has no digest`);
    const m = /^sha256:([a-f0-9]{64})$/.exec(artifact.digest);
    if (!m) throw new SourceError('DIGEST_MISMATCH', `verifying ${artifact.path}: unsupported digest "${artifact.digest}"`);
    const abs = this.localPath(artifact.path);
    const hasher = new DigestCounter();
    try {
      await pipeline(createReadStream(abs), hasher, new Writable({ write: (_c, _e, cb) => cb() }));
    } catch (err) {
      throw new SourceError('STORAGE', `verifying ${artifact.path}: ${(err as Error).message.replaceAll(this.root, '<storage>')}`, { cause: err });
    }
    const actual = hasher.digest();
    if (actual !== artifact.digest) {
      throw new SourceError('DIGEST_MISMATCH', `verifying ${artifact.path}: computed digest ${actual} does not match '${artifact.digest}'`);
    }
  }

  /** Runs `fn` with the lock of one object's directory held (in this process). */
  async withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(dir) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const chained = previous.then(() => mine);
    this.locks.set(dir, chained);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(dir) === chained) this.locks.delete(dir);
    }
  }

  /** Creates the object's directory (0700, as Flux) and checks that it resolves inside the root. */
  private async ensureDir(target: ArtifactTarget): Promise<string> {
    const rel = this.artifactDir(target.kind, target.namespace, target.name);
    const abs = this.localPath(rel);
    try {
      await mkdir(this.root, { recursive: true });
      await mkdir(abs, { recursive: true, mode: 0o700 });
      const realRoot = await realpath(this.root);
      const realDir = await realpath(abs);
      if (!realDir.startsWith(realRoot + sep)) throw new SourceError('INVALID_PATH', `storage directory ${rel} resolves outside the storage root`);
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError('STORAGE', `creating storage directory ${rel}: ${(err as Error).message.replaceAll(this.root, '<storage>')}`, { cause: err });
    }
    return abs;
  }

  /**
   * Writes `content` (a stream) to the target through a temporary file beside it, renamed into
   * place once complete (mode `mode`). Nothing is left behind on failure.
   */
  private async writeAtomic(target: ArtifactTarget, content: () => Readable, mode: number, signal: AbortSignal | undefined): Promise<StoredFile> {
    const path = this.artifactPath(target);
    const dir = await this.ensureDir(target);
    const dest = join(dir, target.file);
    const tmp = join(dir, `.${target.file}.tmp-${randomBytes(6).toString('hex')}`);
    const hasher = new DigestCounter();
    try {
      await pipeline(content(), hasher, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }), signal ? { signal } : {});
      await chmod(tmp, mode);
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      if (err instanceof SourceError) throw err;
      if (signal?.aborted) throw new SourceError('ABORTED', `writing ${path}: aborted`, { cause: err });
      throw new SourceError('STORAGE', `writing ${path}: ${(err as Error).message.replaceAll(dir, '<storage>')}`, { cause: err });
    }
    return { path, url: this.urlFor(path), digest: hasher.digest(), size: hasher.size, lastUpdateTime: nowRfc3339() };
  }

  /**
   * Archives directory `dir` as a normalised tar.gz at the target (Flux's Storage.Archive): a
   * walk in lexical order from `.`, only regular files and directories (symlinks and anything
   * else left out), uid/gid 0, no user/group names, mtime 0, modes 0750 for directories, 0700
   * for executable files and 0600 for the others; `.sourceignore` files and `opts.ignore`
   * honoured (see ignore.ts). Written to a temporary file and renamed into place.
   */
  async archive(target: ArtifactTarget, dir: string, opts: ArchiveOptions = {}): Promise<StoredFile> {
    const what = `archiving ${this.artifactPath(target)}`;
    let st;
    try {
      st = await stat(dir);
    } catch (err) {
      throw new SourceError('INVALID_PATH', `${what}: invalid dir path: ${(err as Error).message}`, { cause: err });
    }
    if (!st.isDirectory()) throw new SourceError('INVALID_PATH', `${what}: invalid dir path: not a directory`);
    let filter: IgnoreFilter;
    try {
      filter = sourceIgnoreFilter(dir, opts.ignore);
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError('STORAGE', `${what}: loading ignore patterns: ${(err as Error).message}`, { cause: err });
    }
    const entries = walkForArchive(resolve(dir), filter);
    return this.withLock(this.artifactDir(target.kind, target.namespace, target.name), () =>
      this.writeAtomic(target, () => archiveStream(entries, opts.signal), 0o600, opts.signal),
    );
  }

  /** Copies a file (a compressed layer, `layerSelector.operation: copy`) to the target as is. */
  async copy(target: ArtifactTarget, file: string, opts: { signal?: AbortSignal } = {}): Promise<StoredFile> {
    return this.withLock(this.artifactDir(target.kind, target.namespace, target.name), () =>
      this.writeAtomic(target, () => createReadStream(file), 0o600, opts.signal),
    );
  }

  /**
   * Points `<object dir>/latest.tar.gz` at the artifact (a symlink replaced atomically) and
   * returns its URL.
   */
  async setLatest(artifact: { path: string }): Promise<string> {
    const abs = this.localPath(artifact.path);
    const dir = resolve(abs, '..');
    const link = join(dir, LatestLink);
    const tmp = `${link}.tmp`;
    try {
      await unlink(tmp).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await symlink(abs, tmp);
      await rename(tmp, link);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw new SourceError('STORAGE', `updating ${LatestLink} for ${artifact.path}: ${(err as Error).message.replaceAll(this.root, '<storage>')}`, { cause: err });
    }
    return this.urlFor(relative(this.root, link).split(sep).join('/'));
  }

  /** Removes one artifact file. */
  async removeFile(artifact: { path: string }): Promise<void> {
    try {
      await rm(this.localPath(artifact.path), { force: true });
    } catch (err) {
      throw new SourceError('STORAGE', `removing ${artifact.path}: ${(err as Error).message.replaceAll(this.root, '<storage>')}`, { cause: err });
    }
  }

  /**
   * Garbage-collects the directory of `current` (Flux's GarbageCollect): files older than the
   * TTL, then the oldest until at most `retentionRecords` remain. The current artifact,
   * symlinks, directories and `.lock` files are never removed. Returns the removed paths
   * (relative to the root).
   */
  async gc(current: { path: string }, now: Date = new Date()): Promise<string[]> {
    const currentAbs = this.localPath(current.path);
    const dir = resolve(currentAbs, '..');
    return this.withLock(relative(this.root, dir).split(sep).join('/'), async () => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw new SourceError('STORAGE', `garbage collection in ${relative(this.root, dir)}: ${(err as Error).message.replaceAll(this.root, '<storage>')}`, { cause: err });
      }
      const files: Array<{ abs: string; mtime: number }> = [];
      for (const name of names) {
        if (files.length >= GarbageCountLimit) break;
        const abs = join(dir, name);
        let st;
        try {
          st = await lstat(abs);
        } catch {
          continue;
        }
        if (!st.isFile() || name.endsWith('.lock')) continue;
        files.push({ abs, mtime: st.mtimeMs });
      }
      const garbage = new Set<string>();
      for (const f of files) if (f.abs !== currentAbs && now.getTime() - f.mtime > this.retentionTtlMs) garbage.add(f.abs);
      let remaining = files.length - garbage.size;
      if (remaining > this.retentionRecords) {
        const oldestFirst = [...files].sort((a, b) => a.mtime - b.mtime);
        for (const f of oldestFirst) {
          if (remaining <= this.retentionRecords) break;
          if (f.abs === currentAbs || garbage.has(f.abs)) continue;
          garbage.add(f.abs);
          remaining--;
        }
      }
      const removed: string[] = [];
      const failures: string[] = [];
      for (const abs of garbage) {
        try {
          await unlink(abs);
          removed.push(relative(this.root, abs).split(sep).join('/'));
        } catch (err) {
          failures.push(`${relative(this.root, abs)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        await unlink(`${abs}.lock`).catch(() => undefined);
      }
      if (failures.length > 0) throw new SourceError('STORAGE', `garbage collection failed for ${failures.join(', ')}`);
      return removed;
    });
  }

  /** Removes every artifact of an object (its whole directory); true when there was one. */
  async remove(kind: string, namespace: string, name: string): Promise<boolean> {
    const rel = this.artifactDir(kind, namespace, name);
    const abs = this.localPath(rel);
    return this.withLock(rel, async () => {
      let existed = true;
      try {
        await lstat(abs);
      } catch {
        existed = false;
      }
      try {
        await rm(abs, { recursive: true, force: true });
      } catch (err) {
        throw new SourceError('STORAGE', `removing artifacts of ${rel}: ${(err as Error).message.replaceAll(this.root, '<storage>')}`, { cause: err });
      }
      return existed;
    });
  }
}

interface ArchiveEntry {
  name: string;
  type: 'file' | 'directory';
  mode: number;
  size: number;
  abs: string;
}

/**
 * The entries of `root` in the order Go's filepath.Walk visits them (the root, then each
 * directory's names in byte order, depth first); links and special files left out, ignored paths
 * left out (an ignored directory is still entered: a later pattern may keep a file below it).
 */
function walkForArchive(root: string, filter: IgnoreFilter): ArchiveEntry[] {
  const out: ArchiveEntry[] = [{ name: '.', type: 'directory', mode: DirMode, size: 0, abs: root }];
  const visit = (dir: string, rel: string) => {
    const names = readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const abs = join(dir, name);
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        if (!filter(childRel, true)) out.push({ name: childRel, type: 'directory', mode: DirMode, size: 0, abs });
        visit(abs, childRel);
      } else if (st.isFile()) {
        if (filter(childRel, false)) continue;
        out.push({ name: childRel, type: 'file', mode: (st.mode & 0o111) !== 0 ? ExeFileMode : FileMode, size: st.size, abs });
      }
    }
  };
  visit(root, '');
  return out;
}

/** The gzip-compressed tar stream of the entries, with normalised headers. */
function archiveStream(entries: readonly ArchiveEntry[], signal: AbortSignal | undefined): Readable {
  const pack = tarPack();
  const gzip = createGzip();
  const fail = (err: unknown) => {
    pack.destroy(err as Error);
    gzip.destroy(err as Error);
  };
  pack.pipe(gzip);
  pack.on('error', (err) => gzip.destroy(err));
  (async () => {
    for (const e of entries) {
      if (signal?.aborted) throw new SourceError('ABORTED', 'archiving: aborted', { cause: signal.reason });
      const header = { name: e.name, type: e.type, mode: e.mode, size: e.type === 'file' ? e.size : 0, mtime: epoch, uid: 0, gid: 0, uname: '', gname: '' };
      if (e.type === 'directory') {
        await new Promise<void>((res, rej) => pack.entry(header, (err) => (err ? rej(err) : res())));
        continue;
      }
      await new Promise<void>((res, rej) => {
        const sink = pack.entry(header, (err) => (err ? rej(new SourceError('STORAGE', `archiving ${e.name}: ${err.message} (did the file change while it was read?)`, { cause: err })) : res()));
        const src = createReadStream(e.abs);
        src.on('error', (err) => {
          sink.destroy(err);
          rej(err);
        });
        src.pipe(sink);
      });
    }
    pack.finalize();
  })().catch(fail);
  return gzip;
}
