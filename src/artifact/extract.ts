import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, symlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, parse, resolve, sep } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import { DefaultMaxBytes, DefaultMaxEntries, MaxLinkHops, MaxNameBytes, MaxPathBytes, MaxPathDepth } from './constants.js';
import { LadingError } from '../errors.js';
import { ArtifactError } from './errors.js';

/** Limits applied while reading an archive. */
export interface ExtractLimits {
  /** Most bytes of file content the archive may hold (default 100 MiB). */
  maxBytes?: number;
  /** Most entries the archive may hold (default 100 000). */
  maxEntries?: number;
  signal?: AbortSignal;
}

export interface ExtractSummary {
  files: number;
  directories: number;
  symlinks: number;
  bytes: number;
}

/** What a safe archive entry is, once validated. */
type SafeEntry =
  | { kind: 'file'; path: string; mode: number; size: number; stream: AsyncIterable<Buffer> }
  | { kind: 'directory'; path: string }
  | { kind: 'symlink'; path: string; target: string; resolved: string }
  | { kind: 'hardlink'; path: string; target: string };

const gzipMagic = [0x1f, 0x8b];
/** Files up to this size are read whole and written in one call rather than streamed. */
const smallFile = 1 << 20;

/**
 * Returns the archive's tar stream: gunzipped when the content starts with the gzip magic, as is
 * (plain tar) otherwise. The decompressed size is bounded so a gzip bomb fails early.
 */
async function tarStreamOf(source: Readable, limitBytes: number, what: string): Promise<Readable> {
  const iterator = source[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  let done = false;
  while (head.length < 2 && !done) {
    const r = await iterator.next();
    if (r.done) done = true;
    else head = Buffer.concat([head, r.value as Buffer]);
  }
  const rest = Readable.from(
    (async function* () {
      if (head.length > 0) yield head;
      if (done) return;
      for (;;) {
        const r = await iterator.next();
        if (r.done) return;
        yield r.value as Buffer;
      }
    })(),
    { objectMode: false },
  );
  const limiter = new ByteLimit(limitBytes, what);
  if (head[0] === gzipMagic[0] && head[1] === gzipMagic[1]) {
    const gunzip = createGunzip();
    pipeline(rest, gunzip, limiter).catch((err) => limiter.destroy(wrapArchiveError(err, what)));
    return limiter;
  }
  pipeline(rest, limiter).catch((err) => limiter.destroy(wrapArchiveError(err, what)));
  return limiter;
}

class ByteLimit extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      cb(new ArtifactError('TOO_LARGE', `${this.what}: the uncompressed archive exceeds ${this.limit} bytes (raise the limit with --max-size)`));
      return;
    }
    cb(null, chunk);
  }
}

function wrapArchiveError(err: unknown, what: string): Error {
  // lading's own errors (a digest mismatch, a registry error, a deadline) say what they are.
  if (err instanceof LadingError) return err;
  const e = err as Error & { code?: string };
  if (e.code === 'ABORT_ERR') return new ArtifactError('ABORTED', `${what}: aborted`, { cause: err });
  return new ArtifactError('INVALID_ARCHIVE', `${what}: not a valid tar or tar+gzip archive: ${e.message}`, { cause: err });
}

/**
 * A small blob can arrive, and fail its digest check, before extraction starts reading; the
 * stream keeps that error (`errored`) and the reader gets it when it starts. This listener only
 * keeps it from being reported as unhandled meanwhile, or after extraction failed for another
 * reason.
 */
function holdErrors(source: Readable): void {
  source.on('error', () => undefined);
}

function unsafe(what: string, message: string): ArtifactError {
  return new ArtifactError('UNSAFE_ARCHIVE', `${what}: ${message}`);
}

/** Refuses a path (an entry name or a link target) beyond the length and depth limits. */
function checkPathLimits(name: string, segments: readonly string[], label: string, what: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes > MaxPathBytes) {
    throw new ArtifactError('TOO_LARGE', `${what}: ${label} is ${bytes} bytes long, more than the limit of ${MaxPathBytes} bytes per path`);
  }
  if (segments.length > MaxPathDepth) {
    throw new ArtifactError('TOO_LARGE', `${what}: ${label} is ${segments.length} levels deep, more than the limit of ${MaxPathDepth} levels`);
  }
  for (const s of segments) {
    if (Buffer.byteLength(s) > MaxNameBytes) {
      throw new ArtifactError('TOO_LARGE', `${what}: ${label} has a name of ${Buffer.byteLength(s)} bytes, more than the limit of ${MaxNameBytes} bytes per name`);
    }
  }
}

/**
 * Normalises an entry name and refuses the dangerous ones: absolute paths, `..` segments,
 * backslashes, drive letters, NUL bytes, and names beyond the length and depth limits. Returns
 * '' for the archive root (`.`, `./`).
 */
export function safeEntryPath(name: string, what: string): string {
  if (name.includes('\0')) throw unsafe(what, 'entry name contains a NUL byte');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\')) {
    throw unsafe(what, `entry "${name}" has an absolute path`);
  }
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) throw unsafe(what, `entry "${name}" escapes the target directory ("..")`);
  checkPathLimits(name, segments, `entry "${name.slice(0, 100)}"`, what);
  return segments.join('/');
}

/** Refuses a symbolic link target that is empty, absolute or beyond the path limits. */
function checkLinkTarget(entryPath: string, linkname: string, what: string): void {
  if (linkname === '') throw unsafe(what, `link "${entryPath}" has an empty target`);
  if (linkname.startsWith('/') || /^[A-Za-z]:/.test(linkname) || linkname.includes('\\') || linkname.includes('\0')) {
    throw unsafe(what, `link "${entryPath}" points to an absolute path "${linkname}"`);
  }
  checkPathLimits(linkname, linkname.split('/'), `the target of link "${entryPath}"`, what);
}

type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink';

const kindName: Record<EntryKind, string> = {
  file: 'a file',
  directory: 'a directory',
  symlink: 'a symbolic link',
  hardlink: 'a hard link',
};

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/**
 * The tree an archive describes, as its entries are read: what each path is (directories
 * included, whether listed or implied by a deeper entry), and where each link points. It refuses
 * an entry below a file or a link (which would be written through the link), an entry that takes
 * a name already used by an entry of another kind, and, once every link is known, a symbolic link
 * that leads outside the tree when followed, through other links of the archive as the kernel
 * would follow them.
 */
class ArchiveTree {
  private readonly kinds = new Map<string, EntryKind>();
  /** Symbolic links: path → target as written in the archive. */
  private readonly symlinks = new Map<string, string>();
  private readonly resolved = new Map<string, { path: string; hops: number }>();
  private readonly resolving = new Set<string>();

  constructor(private readonly what: string) {}

  kindOf(path: string): EntryKind | undefined {
    return this.kinds.get(path);
  }

  /**
   * Records an entry. A later file replaces an earlier file of the same name, as tar and Flux
   * extract them; any other reuse of a name is refused.
   */
  add(path: string, kind: EntryKind, name: string): void {
    this.checkParents(path, name);
    const existing = this.kinds.get(path);
    if (existing !== undefined && !(existing === kind && (kind === 'file' || kind === 'directory'))) {
      if (existing === 'symlink' || existing === 'hardlink') throw unsafe(this.what, `entry "${name}" would be written over ${kindName[existing]} of the same name`);
      throw unsafe(this.what, `entry "${name}" appears twice in the archive: ${kindName[existing]}, then ${kindName[kind]}`);
    }
    this.kinds.set(path, kind);
  }

  /** Records a symbolic link and its target (followed by resolveLink once every link is known). */
  addSymlink(path: string, target: string, name: string): void {
    this.add(path, 'symlink', name);
    this.symlinks.set(path, target);
  }

  /** Every directory above `path` is a directory (listed, or implied and recorded now). */
  private checkParents(path: string, name: string): void {
    const implied: string[] = [];
    for (let dir = parentOf(path); dir !== ''; dir = parentOf(dir)) {
      const kind = this.kinds.get(dir);
      if (kind === 'directory') break;
      if (kind === 'symlink' || kind === 'hardlink') throw unsafe(this.what, `entry "${name}" would be written through the link "${dir}"`);
      if (kind === 'file') throw unsafe(this.what, `entry "${name}" is below "${dir}", which is a file`);
      implied.push(dir);
    }
    for (const dir of implied) this.kinds.set(dir, 'directory');
  }

  /**
   * Where the symbolic link `link` leads, as a path in the tree ('' for the root), following the
   * archive's other links on the way; refuses a link that leaves the tree at any step (even to
   * come back), loops, or goes through more than MaxLinkHops links.
   */
  resolveLink(link: string, depth = 0): { path: string; hops: number } {
    const done = this.resolved.get(link);
    if (done) return done;
    const target = this.symlinks.get(link) ?? '';
    if (this.resolving.has(link) || depth > MaxLinkHops) {
      throw unsafe(this.what, `link "${link}" -> "${target}" loops or goes through more than ${MaxLinkHops} links`);
    }
    this.resolving.add(link);
    let segments = link.split('/');
    segments.pop();
    let hops = 1;
    for (const part of target.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (segments.length === 0) throw unsafe(this.what, `link "${link}" -> "${target}" points outside the target directory`);
        segments.pop();
        continue;
      }
      segments.push(part);
      const path = segments.join('/');
      if (Buffer.byteLength(path) > MaxPathBytes || segments.length > MaxPathDepth) {
        throw new ArtifactError('TOO_LARGE', `${this.what}: link "${link}" -> "${target}" leads to a path longer than the limits of ${MaxPathBytes} bytes and ${MaxPathDepth} levels`);
      }
      if (this.symlinks.has(path)) {
        const through = this.resolveLink(path, depth + 1);
        hops += through.hops;
        if (hops > MaxLinkHops) throw unsafe(this.what, `link "${link}" -> "${target}" loops or goes through more than ${MaxLinkHops} links`);
        segments = through.path === '' ? [] : through.path.split('/');
      }
    }
    this.resolving.delete(link);
    const result = { path: segments.join('/'), hops };
    this.resolved.set(link, result);
    return result;
  }
}

/**
 * Walks an archive and hands each validated entry to `visit`, enforcing the limits. Symlinks and
 * hard links are collected and handed over after every other entry, once every symbolic link has
 * been resolved inside the tree, so no entry is ever written through a link.
 */
async function walkArchive(source: Readable, what: string, limits: ExtractLimits, visit: (e: SafeEntry) => Promise<void>): Promise<ExtractSummary> {
  const maxBytes = limits.maxBytes ?? DefaultMaxBytes;
  const maxEntries = limits.maxEntries ?? DefaultMaxEntries;
  const aborted = () => new ArtifactError('ABORTED', `${what}: aborted`, { cause: limits.signal?.reason });
  if (limits.signal?.aborted) {
    source.destroy();
    throw aborted();
  }
  // An abort stops the reading at once, even while no data comes (a registry that trickles).
  const onAbort = () => source.destroy(aborted());
  limits.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await walkTarStream(source, what, limits, maxBytes, maxEntries, visit);
  } finally {
    limits.signal?.removeEventListener('abort', onAbort);
  }
}

async function walkTarStream(
  source: Readable,
  what: string,
  limits: ExtractLimits,
  maxBytes: number,
  maxEntries: number,
  visit: (e: SafeEntry) => Promise<void>,
): Promise<ExtractSummary> {
  const tarStream = await tarStreamOf(source, maxBytes + maxEntries * 1024 + (1 << 20), what);
  const ex = tarExtract();
  const fed = pipeline(tarStream, ex);
  fed.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  const summary: ExtractSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  const tree = new ArchiveTree(what);
  const hardlinks: SafeEntry[] = [];
  const symlinks: Array<SafeEntry & { kind: 'symlink' }> = [];
  let count = 0;
  // Errors of `visit` (writing) are its own; errors while reading are the archive's.
  let visiting = false;
  const visitEntry = async (e: SafeEntry) => {
    visiting = true;
    await visit(e);
    visiting = false;
  };
  try {
    for await (const entry of ex) {
      if (limits.signal?.aborted) throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: limits.signal.reason });
      const header: Header = entry.header;
      if (++count > maxEntries) throw new ArtifactError('TOO_LARGE', `${what}: the archive has more than ${maxEntries} entries (the limit)`);
      const path = safeEntryPath(header.name, what);
      switch (header.type) {
        case 'file':
        case 'contiguous-file': {
          const size = header.size ?? 0;
          summary.bytes += size;
          if (summary.bytes > maxBytes) {
            throw new ArtifactError('TOO_LARGE', `${what}: content exceeds the limit of ${maxBytes} bytes at "${header.name}" (raise it with --max-size)`);
          }
          if (path === '') throw unsafe(what, `file entry "${header.name}" has no name`);
          tree.add(path, 'file', header.name);
          await visitEntry({ kind: 'file', path, mode: header.mode ?? 0o644, size, stream: entry as unknown as AsyncIterable<Buffer> });
          summary.files++;
          break;
        }
        case 'directory':
          if (path !== '') {
            const known = tree.kindOf(path) === 'directory';
            tree.add(path, 'directory', header.name);
            if (!known) {
              await visitEntry({ kind: 'directory', path });
              summary.directories++;
            }
          }
          break;
        case 'symlink': {
          if (path === '') throw unsafe(what, 'the archive root is a link');
          const target = header.linkname ?? '';
          checkLinkTarget(header.name, target, what);
          tree.addSymlink(path, target, header.name);
          symlinks.push({ kind: 'symlink', path, target, resolved: '' });
          break;
        }
        case 'link': {
          if (path === '') throw unsafe(what, 'the archive root is a link');
          const target = safeEntryPath(header.linkname ?? '', what);
          if (tree.kindOf(target) !== 'file') {
            throw unsafe(what, `hard link "${header.name}" -> "${header.linkname}" does not point to a file extracted before it`);
          }
          tree.add(path, 'hardlink', header.name);
          hardlinks.push({ kind: 'hardlink', path, target });
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          throw unsafe(what, `entry "${header.name}" is a ${header.type}, which is not allowed`);
        default:
          throw unsafe(what, `entry "${header.name}" has an unsupported type "${String(header.type)}"`);
      }
      entry.resume();
    }
    await fed;
    // Where each symbolic link leads, now that every link of the archive is known.
    for (const l of symlinks) l.resolved = tree.resolveLink(l.path).path;
  } catch (err) {
    ex.destroy();
    tarStream.destroy();
    source.destroy();
    throw visiting ? err : wrapArchiveError(err, what);
  }
  // Hard links first: a symbolic link may lead to one.
  for (const l of [...hardlinks, ...symlinks]) {
    if (limits.signal?.aborted) throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: limits.signal.reason });
    await visit(l);
    summary.symlinks++;
  }
  return summary;
}

export interface ExtractToDirectoryOptions extends ExtractLimits {
  /** Replace a non-empty target directory (atomically, by swapping it with the new tree). */
  overwrite?: boolean;
}

/** Prefix of the temporaries beside an output directory `name`: `.name.lading-`. */
function temporaryPrefix(name: string): string {
  return `.${name}.lading-`;
}

/** Whether a process with this id exists (one of another user counts). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporaries that earlier extractions into `dest` left behind when they were killed:
 * `.name.lading-tmp-PID-XXXXXX` and `.name.lading-old-PID-XXXXXX` whose process is gone.
 */
async function sweepStaleTemporaries(parent: string, name: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  const prefix = temporaryPrefix(name);
  for (const entry of names) {
    if (!entry.startsWith(prefix)) continue;
    const m = /^(?:tmp|old)-(\d+)-[^-]+$/.exec(entry.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processExists(pid)) continue;
    await rm(join(parent, entry), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Refuses output directories that replacing would be a disaster: an empty path (which resolves
 * to the current directory), the root of a file system, the home directory, and the current
 * directory or one above it.
 */
export function checkOutputDirectory(target: string, dest: string, overwrite: boolean, what: string): void {
  if (target.trim() === '') throw new ArtifactError('INVALID_ARGUMENT', `${what}: the output directory is an empty path`);
  if (!overwrite) return;
  const cwd = process.cwd();
  const within = (dir: string) => dir === dest || dir.startsWith(dest.endsWith(sep) ? dest : dest + sep);
  if (parse(dest).root === dest) throw new ArtifactError('OUTPUT', `${what}: refusing to replace the content of ${dest}, the root of a file system`);
  if (dest === resolve(homedir())) throw new ArtifactError('OUTPUT', `${what}: refusing to replace the content of ${dest}, the home directory`);
  if (within(cwd)) throw new ArtifactError('OUTPUT', `${what}: refusing to replace the content of ${dest}, which holds the current directory`);
}

/**
 * Extracts a tar or tar+gzip archive into `target` without ever leaving a half-written tree:
 * the content goes to a temporary directory beside the target (`.NAME.lading-tmp-PID-XXXXXX`),
 * which is renamed into place only when everything was read, verified and written; on failure or
 * abort it is removed, and temporaries of earlier runs whose process is gone are swept. A target
 * that exists must be an empty directory, unless `overwrite` is set.
 */
export async function extractToDirectory(source: Readable, target: string, opts: ExtractToDirectoryOptions = {}, what = `extracting into ${target}`): Promise<ExtractSummary> {
  holdErrors(source);
  const dest = resolve(target);
  checkOutputDirectory(target, dest, opts.overwrite === true, what);
  let existing: 'none' | 'empty' | 'full' = 'none';
  try {
    const st = await lstat(dest);
    if (!st.isDirectory()) throw new ArtifactError('OUTPUT', `${what}: ${target} exists and is not a directory`);
    existing = (await readdir(dest)).length === 0 ? 'empty' : 'full';
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ArtifactError('OUTPUT', `${what}: ${(err as Error).message}`, { cause: err });
  }
  if (existing === 'full' && !opts.overwrite) {
    throw new ArtifactError('OUTPUT', `${what}: ${target} is not empty (use --overwrite to replace its content)`);
  }
  if (opts.signal?.aborted) throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: opts.signal.reason });
  const parent = dirname(dest);
  const name = basename(dest);
  await mkdir(parent, { recursive: true });
  await sweepStaleTemporaries(parent, name);
  const tmp = await mkdtemp(join(parent, `${temporaryPrefix(name)}tmp-${process.pid}-`));
  const made = new Set<string>([tmp]);
  const ensureDir = (dir: string) => {
    if (made.has(dir)) return;
    // Once per directory; entries are validated, so no part of `dir` is a link or a file.
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    made.add(dir);
  };
  // Entry paths are validated relative paths with `/` separators: on POSIX the file's path is a
  // concatenation (path.join would normalise them again, per file).
  const pathOf = sep === '/' ? (p: string) => `${tmp}/${p}` : (p: string) => join(tmp, ...p.split('/'));
  try {
    const summary = await walkArchive(source, what, opts, async (e) => {
      const abs = pathOf(e.path);
      switch (e.kind) {
        case 'directory':
          ensureDir(abs);
          return;
        case 'file': {
          ensureDir(dirname(abs));
          // Modes are normalised as Flux writes them (0755 for executables, 0644 otherwise),
          // then reduced by the umask, as tar and Flux extract them.
          const mode = (e.mode & 0o111) !== 0 ? 0o755 : 0o644;
          // No links exist in the tree while files are written (they come last), so opening with
          // truncation cannot be redirected; a later entry with the same name replaces the
          // earlier one, as tar does.
          if (e.size <= smallFile) {
            // One synchronous call per small file: a thread-pool round trip for each of open,
            // write and close costs more than the write itself (500 manifests: 18 ms of CPU
            // written this way, 45 ms through fs.promises.writeFile 16 at a time).
            writeFileSync(abs, await readEntry(e.stream), { mode });
          } else {
            await pipeline(Readable.from(e.stream), createWriteStream(abs, { mode }), opts.signal ? { signal: opts.signal } : {});
          }
          return;
        }
        case 'symlink':
          ensureDir(dirname(abs));
          await symlink(e.target, abs);
          return;
        case 'hardlink':
          ensureDir(dirname(abs));
          await copyFile(pathOf(e.target), abs);
          return;
      }
    });
    await chmod(tmp, 0o755);
    // The last point to give up: the swap below is not interrupted.
    if (opts.signal?.aborted) throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: opts.signal.reason });
    if (existing === 'full') {
      const old = await mkdtemp(join(parent, `${temporaryPrefix(name)}old-${process.pid}-`));
      await rename(dest, join(old, 'content'));
      await rename(tmp, dest);
      await rm(old, { recursive: true, force: true });
    } else {
      if (existing === 'empty') await rmdir(dest);
      await rename(tmp, dest);
    }
    return summary;
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    if (err instanceof ArtifactError) throw err;
    if ((err as { name?: string }).name === 'AbortError') throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: err });
    throw new ArtifactError('OUTPUT', `${what}: ${(err as Error).message.replaceAll(tmp, dest)}`, { cause: err });
  }
}

/** An entry's content, whole (small files): read with events, cheaper than async iteration. */
function readEntry(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const readable = stream as unknown as Readable;
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    readable.on('data', (c: Buffer) => chunks.push(c));
    // Copied (even a single chunk): a chunk may be a view of a larger buffer it would keep alive.
    readable.once('end', () => resolvePromise(Buffer.concat(chunks)));
    readable.once('error', reject);
  });
}

/** A file read from an archive into memory. */
export interface ArchiveFile {
  path: string;
  content: Buffer;
}

/**
 * Reads the regular files of an archive into memory, with the same checks as extraction. Links
 * that lead to files in the archive (followed as extraction would create them) become copies of
 * them; links to directories are dropped.
 */
export async function extractToMemory(source: Readable, opts: ExtractLimits = {}, what = 'reading archive'): Promise<{ files: ArchiveFile[]; summary: ExtractSummary }> {
  holdErrors(source);
  const files = new Map<string, Buffer>();
  const summary = await walkArchive(source, what, opts, async (e) => {
    switch (e.kind) {
      case 'file': {
        files.set(e.path, await readEntry(e.stream));
        return;
      }
      case 'directory':
        return;
      case 'symlink': {
        const content = files.get(e.resolved);
        if (content) files.set(e.path, content);
        return;
      }
      case 'hardlink': {
        const content = files.get(e.target);
        if (content) files.set(e.path, content);
        return;
      }
    }
  });
  const list = [...files.entries()].map(([path, content]) => ({ path, content }));
  list.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return { files: list, summary };
}
