import { closeSync, createWriteStream, fchmodSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readdir, rename, rm, rmdir, symlink } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve, sep } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import { DefaultMaxBytes, DefaultMaxEntries } from './constants.js';
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
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'hardlink'; path: string; target: string };

const gzipMagic = [0x1f, 0x8b];
/** Files up to this size are written in one call rather than streamed. */
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
  if (err instanceof ArtifactError) return err;
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

/**
 * Normalises an entry name and refuses the dangerous ones: absolute paths, `..` segments,
 * backslashes, drive letters, NUL bytes. Returns '' for the archive root (`.`, `./`).
 */
export function safeEntryPath(name: string, what: string): string {
  if (name.includes('\0')) throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: entry name contains a NUL byte`);
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.includes('\\')) {
    throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: entry "${name}" has an absolute path`);
  }
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) {
    throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: entry "${name}" escapes the target directory ("..")`);
  }
  return segments.join('/');
}

/** Refuses a symlink whose target is absolute or resolves (lexically) outside the tree. */
function checkLinkTarget(entryPath: string, linkname: string, what: string): void {
  if (linkname === '') throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: link "${entryPath}" has an empty target`);
  if (linkname.startsWith('/') || /^[A-Za-z]:/.test(linkname) || linkname.includes('\\') || linkname.includes('\0')) {
    throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: link "${entryPath}" points to an absolute path "${linkname}"`);
  }
  // Lexical resolution is enough: entries below a link are refused, so no link is followed
  // while resolving another one.
  const resolved = posix.normalize(posix.join(posix.dirname(entryPath), linkname));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: link "${entryPath}" -> "${linkname}" points outside the target directory`);
  }
}

/**
 * Walks an archive and hands each validated entry to `visit`, enforcing the limits. Symlinks and
 * hard links are collected and handed over after every other entry, so no entry is ever written
 * through a link; entries below a link are refused.
 */
async function walkArchive(source: Readable, what: string, limits: ExtractLimits, visit: (e: SafeEntry) => Promise<void>): Promise<ExtractSummary> {
  const maxBytes = limits.maxBytes ?? DefaultMaxBytes;
  const maxEntries = limits.maxEntries ?? DefaultMaxEntries;
  const tarStream = await tarStreamOf(source, maxBytes + maxEntries * 1024 + (1 << 20), what);
  const ex = tarExtract();
  const fed = pipeline(tarStream, ex);
  fed.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  const summary: ExtractSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  const links: SafeEntry[] = [];
  const linkPaths = new Set<string>();
  const filePaths = new Set<string>();
  let count = 0;
  const belowLink = (p: string) => {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) if (linkPaths.has(parts.slice(0, i).join('/'))) return true;
    return false;
  };
  try {
    for await (const entry of ex) {
      if (limits.signal?.aborted) throw new ArtifactError('ABORTED', `${what}: aborted`, { cause: limits.signal.reason });
      const header: Header = entry.header;
      if (++count > maxEntries) throw new ArtifactError('TOO_LARGE', `${what}: the archive has more than ${maxEntries} entries`);
      const path = safeEntryPath(header.name, what);
      // Links come last in lading's and flux's archives: most have none to check against.
      if (path !== '' && linkPaths.size > 0 && (belowLink(path) || linkPaths.has(path))) {
        throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: entry "${header.name}" is written through or over a link`);
      }
      switch (header.type) {
        case 'file':
        case 'contiguous-file': {
          const size = header.size ?? 0;
          summary.bytes += size;
          if (summary.bytes > maxBytes) {
            throw new ArtifactError('TOO_LARGE', `${what}: content exceeds the limit of ${maxBytes} bytes at "${header.name}" (raise it with --max-size)`);
          }
          if (path === '') throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: file entry "${header.name}" has no name`);
          filePaths.add(path);
          await visit({ kind: 'file', path, mode: header.mode ?? 0o644, size, stream: entry as unknown as AsyncIterable<Buffer> });
          summary.files++;
          break;
        }
        case 'directory':
          if (path !== '') {
            await visit({ kind: 'directory', path });
            summary.directories++;
          }
          break;
        case 'symlink': {
          if (path === '') throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: the archive root is a link`);
          checkLinkTarget(path, header.linkname ?? '', what);
          links.push({ kind: 'symlink', path, target: header.linkname ?? '' });
          linkPaths.add(path);
          break;
        }
        case 'link': {
          if (path === '') throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: the archive root is a link`);
          const target = safeEntryPath(header.linkname ?? '', what);
          if (!filePaths.has(target)) {
            throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: hard link "${path}" -> "${header.linkname}" does not point to a file extracted before it`);
          }
          links.push({ kind: 'hardlink', path, target });
          linkPaths.add(path);
          break;
        }
        case 'character-device':
        case 'block-device':
        case 'fifo':
          throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: entry "${header.name}" is a ${header.type}, which is not allowed`);
        default:
          throw new ArtifactError('UNSAFE_ARCHIVE', `${what}: entry "${header.name}" has an unsupported type "${String(header.type)}"`);
      }
      entry.resume();
    }
    await fed;
  } catch (err) {
    ex.destroy();
    tarStream.destroy();
    source.destroy();
    throw wrapArchiveError(err, what);
  }
  for (const l of links) {
    await visit(l);
    summary.symlinks++;
  }
  return summary;
}

export interface ExtractToDirectoryOptions extends ExtractLimits {
  /** Replace a non-empty target directory (atomically, by swapping it with the new tree). */
  overwrite?: boolean;
}

/**
 * Extracts a tar or tar+gzip archive into `target` without ever leaving a half-written tree:
 * the content goes to a temporary directory beside the target, which is renamed into place only
 * when everything was read, verified and written. A target that exists must be an empty
 * directory, unless `overwrite` is set.
 */
export async function extractToDirectory(source: Readable, target: string, opts: ExtractToDirectoryOptions = {}, what = `extracting into ${target}`): Promise<ExtractSummary> {
  holdErrors(source);
  const dest = resolve(target);
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
  const parent = dirname(dest);
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(join(parent, `.${basename(dest)}.lading-`));
  const made = new Set<string>([tmp]);
  const ensureDir = (dir: string) => {
    if (made.has(dir)) return;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    made.add(dir);
  };
  // Small files are written synchronously, in archive order (the last entry for a path wins, as
  // with tar): per file, a thread-pool round trip for each of open, write, chmod and close costs
  // more than the write itself (500 small manifests: tens of ms of a pull).
  const writeSmall = (abs: string, data: Buffer, mode: number) => {
    const fd = openSync(abs, 'w', mode);
    try {
      for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset, data.length - offset);
      // The mode exactly, whatever the umask (fchmod: no second path lookup).
      fchmodSync(fd, mode);
    } finally {
      closeSync(fd);
    }
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
          const mode = (e.mode & 0o111) !== 0 ? 0o755 : 0o644;
          // No links exist in the tree while files are written (they come last), so opening with
          // truncation cannot be redirected; a later entry with the same name replaces the
          // earlier one, as tar does.
          if (e.size <= smallFile) {
            writeSmall(abs, await readEntry(e.stream), mode);
          } else {
            await pipeline(Readable.from(e.stream), createWriteStream(abs, { mode }), opts.signal ? { signal: opts.signal } : {});
            await chmod(abs, mode);
          }
          return;
        }
        case 'symlink':
          ensureDir(dirname(abs));
          await symlink(e.target, abs);
          return;
        case 'hardlink':
          ensureDir(dirname(abs));
          await copyFile(join(tmp, ...e.target.split('/')), abs);
          return;
      }
    });
    await chmod(tmp, 0o755);
    if (existing === 'full') {
      const old = await mkdtemp(join(parent, `.${basename(dest)}.lading-old-`));
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
    throw new ArtifactError('OUTPUT', `${what}: ${(err as Error).message}`, { cause: err });
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
 * that point to files in the archive become copies of them; other links are dropped.
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
        const target = posix.normalize(posix.join(posix.dirname(e.path), e.target));
        const content = files.get(target);
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
