import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, type Stats } from 'node:fs';
import { lstat, readFile, stat } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import ignore, { type Ignore } from 'ignore';
import { DefaultIgnorePaths, SourceIgnoreFile } from './constants.js';
import { ArtifactError, throwIfAborted } from './errors.js';

/** Which files of a directory go into an artifact. */
export interface SourceOptions {
  /**
   * Patterns in .gitignore syntax that replace Flux's defaults (`DefaultIgnorePaths`), as
   * `--ignore-paths` does. Pass `[]` to ignore nothing by default.
   */
  ignorePaths?: readonly string[];
  /** Patterns appended to `ignorePaths`, as `--add-ignore-paths` does. */
  addIgnorePaths?: readonly string[];
  /** Honour `.sourceignore` files in the tree, like Flux's source-controller (default true). */
  sourceIgnore?: boolean;
  /** Follow symbolic links and package what they point to; by default links are left out, as Flux does. */
  resolveSymlinks?: boolean;
  signal?: AbortSignal;
}

/** One entry of an artifact tarball, before it is written. */
export interface SourceEntry {
  /** Slash-separated path inside the archive, never absolute, never with `..`. */
  path: string;
  type: 'file' | 'directory';
  /** Normalised mode: 0o755 for directories and executable files, 0o644 otherwise. */
  mode: number;
  size: number;
  /** Where the content is read from (files on disk). */
  file?: string;
  /** In-memory content (files that did not come from disk, e.g. stdin or a build). */
  content?: Buffer;
}

/** An in-memory file to package, e.g. from stdin or a kustomize build. */
export interface MemoryFile {
  path: string;
  content: Buffer | string;
  mode?: number;
}

interface IgnoreLevel {
  /** Directory the patterns are relative to ('' for the root). */
  base: string;
  matcher: Ignore;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Names sorted in byte order (each encoded once, not at every comparison). */
function sortedByBytes(names: readonly string[]): string[] {
  return names
    .map((name) => ({ name, bytes: Buffer.from(name) }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((e) => e.name);
}

function normaliseMode(mode: number, isDir: boolean): number {
  if (isDir) return 0o755;
  return (mode & 0o111) !== 0 ? 0o755 : 0o644;
}

function isIgnored(levels: readonly IgnoreLevel[], rel: string, isDir: boolean): boolean {
  // gitignore precedence: a deeper ignore file overrides a shallower one, and within a file the
  // last matching pattern wins (which `ignore` applies for us).
  let ignored = false;
  for (const level of levels) {
    if (level.base !== '' && !rel.startsWith(level.base + '/')) continue;
    const sub = level.base === '' ? rel : rel.slice(level.base.length + 1);
    const r = level.matcher.test(isDir ? `${sub}/` : sub);
    if (r.ignored) ignored = true;
    else if (r.unignored) ignored = false;
  }
  return ignored;
}

function patternLines(text: string): string[] {
  return text.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.startsWith('#'));
}

/** The patterns of a `.sourceignore` file the directory listing showed. */
function readSourceIgnore(file: string): string[] {
  try {
    return patternLines(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ArtifactError('INVALID_PATH', `reading ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function rootMatcher(opts: SourceOptions): Ignore {
  const patterns = [...(opts.ignorePaths ?? DefaultIgnorePaths), ...(opts.addIgnorePaths ?? [])];
  const matcher = ignore({ ignorecase: false });
  for (const p of patterns) {
    if (p.trim() === '' || p.startsWith('#')) continue;
    try {
      matcher.add(p);
    } catch (err) {
      throw new ArtifactError('INVALID_ARGUMENT', `invalid ignore pattern "${p}": ${(err as Error).message}`, { cause: err });
    }
  }
  return matcher;
}

/**
 * Lists what goes into an artifact made from `path` (a directory or a single file), in the
 * order Flux writes it: a depth-first walk with each directory's entries in byte order, so the
 * same tree always gives the same archive. Ignore rules are applied and ignored directories
 * are not descended into.
 */
export async function collectSource(path: string, opts: SourceOptions = {}): Promise<SourceEntry[]> {
  const root = resolve(path);
  let info;
  try {
    info = opts.resolveSymlinks ? await stat(root) : await lstat(root).then(async (s) => (s.isSymbolicLink() ? stat(root) : s));
  } catch (err) {
    throw new ArtifactError('INVALID_PATH', `reading ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, { cause: err });
  }
  const levels: IgnoreLevel[] = [{ base: '', matcher: rootMatcher(opts) }];
  if (!info.isDirectory()) {
    if (!info.isFile()) throw new ArtifactError('INVALID_PATH', `${path} is neither a directory nor a regular file`);
    const name = basename(root);
    if (isIgnored(levels, name, false)) return [];
    return [{ path: name, type: 'file', mode: normaliseMode(info.mode, false), size: info.size, file: root }];
  }
  const entries: SourceEntry[] = [];
  walk(root, '', levels, new Set<string>(opts.resolveSymlinks ? [realpathSync(root)] : []), entries, opts);
  return entries;
}

/**
 * Lists `dir` into `out`. The file system is read synchronously: a walk makes a few calls per
 * entry, and for many small entries the thread-pool round trips cost more than the calls (500
 * files in 50 directories: tens of ms of a push). A directory's own `.sourceignore` applies to
 * what is below it; `visiting` holds the real paths of the directories being walked when
 * symbolic links are followed (without them, no directory can be reached twice).
 */
function walk(dir: string, rel: string, levels: IgnoreLevel[], visiting: Set<string>, out: SourceEntry[], opts: SourceOptions): void {
  throwIfAborted(opts.signal, `reading ${dir}`);
  let names: string[];
  try {
    names = sortedByBytes(readdirSync(dir));
  } catch (err) {
    throw new ArtifactError('INVALID_PATH', `reading directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  // Paths by concatenation: `dir` is absolute and normalised, names hold no separator.
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  const stats = names.map((name) => {
    try {
      return lstatSync(prefix + name);
    } catch (err) {
      throw new ArtifactError('INVALID_PATH', `reading ${prefix + name}: ${(err as Error).message}`, { cause: err });
    }
  });
  let here = levels;
  const ignoreFile = opts.sourceIgnore !== false ? names.indexOf(SourceIgnoreFile) : -1;
  if (ignoreFile >= 0 && !stats[ignoreFile]!.isDirectory()) {
    const own = readSourceIgnore(prefix + SourceIgnoreFile);
    // The root's file adds to the root patterns; deeper ones are levels of their own.
    if (rel === '') levels[0]!.matcher.add(own);
    else here = [...levels, { base: rel, matcher: ignore({ ignorecase: false }).add(own) }];
  }
  for (const [i, name] of names.entries()) {
    const abs = prefix + name;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    let st: Stats = stats[i]!;
    if (st.isSymbolicLink()) {
      if (!opts.resolveSymlinks) continue;
      try {
        st = statSync(abs);
      } catch (err) {
        throw new ArtifactError('INVALID_PATH', `resolving symlink ${abs}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (st.isDirectory()) {
      if (isIgnored(here, childRel, true)) continue;
      const real = opts.resolveSymlinks ? realpathSync(abs) : undefined;
      if (real !== undefined && visiting.has(real)) continue; // a symlink cycle: the directory is already being packaged
      out.push({ path: childRel, type: 'directory', mode: 0o755, size: 0 });
      if (real !== undefined) visiting.add(real);
      walk(abs, childRel, here, visiting, out, opts);
      if (real !== undefined) visiting.delete(real);
    } else if (st.isFile()) {
      if (isIgnored(here, childRel, false)) continue;
      out.push({ path: childRel, type: 'file', mode: normaliseMode(st.mode, false), size: st.size, file: abs });
    }
    // Sockets, fifos and devices are never packaged.
  }
}

/** Entries for in-memory files (sorted like a directory walk), with their parent directories. */
export function memorySource(files: readonly MemoryFile[]): SourceEntry[] {
  const dirs = new Set<string>();
  const byPath = new Map<string, SourceEntry>();
  for (const f of files) {
    const path = f.path.replace(/^\.?\/+/, '');
    if (path === '' || path.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      throw new ArtifactError('INVALID_PATH', `invalid file name "${f.path}" for an artifact entry`);
    }
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    const content = typeof f.content === 'string' ? Buffer.from(f.content) : f.content;
    byPath.set(path, { path, type: 'file', mode: normaliseMode(f.mode ?? 0o644, false), size: content.length, content });
  }
  const all: SourceEntry[] = [...byPath.values()];
  for (const d of dirs) {
    if (byPath.has(d)) throw new ArtifactError('INVALID_PATH', `"${d}" is both a file and a directory`);
    all.push({ path: d, type: 'directory', mode: 0o755, size: 0 });
  }
  return all.sort((a, b) => walkOrder(a.path, b.path));
}

/** Depth-first walk order: compares path segment by segment, in byte order. */
function walkOrder(a: string, b: string): number {
  const as = a.split('/');
  const bs = b.split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const c = byteOrder(as[i]!, bs[i]!);
    if (c !== 0) return c;
  }
  return as.length - bs.length;
}

/** Reads the content of an entry (from disk or memory). */
export async function entryContent(entry: SourceEntry): Promise<Buffer> {
  if (entry.content) return entry.content;
  if (entry.file) return readFile(entry.file);
  return Buffer.alloc(0);
}
