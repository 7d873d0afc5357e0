import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { chmod, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { ArtifactError } from './errors.js';
import type { SourceEntry } from './source.js';

const epoch = new Date(0);
/** Files up to this size are read in one call rather than streamed. */
const smallFile = 1 << 20;

/**
 * Streams a gzip-compressed tarball of `entries`, in the given order. Every header is
 * reproducible: zero modification time, uid/gid 0, no user or group names, normalised modes;
 * the gzip header carries no name and no time. The same entries always give the same bytes.
 */
export function tarballStream(entries: readonly SourceEntry[], opts: { signal?: AbortSignal } = {}): Readable {
  const pack = tarPack();
  const gzip = createGzip({ level: 6 });
  const out = new GzipHeaderOS();
  const fail = (err: unknown) => {
    pack.destroy(err as Error);
    out.destroy(err as Error);
  };
  pipeline(pack, new Coalesce(64 * 1024), gzip, out).catch(fail);
  (async () => {
    for (const e of entries) {
      if (opts.signal?.aborted) throw new ArtifactError('ABORTED', 'building tarball: aborted', { cause: opts.signal.reason });
      const header = {
        name: e.path,
        type: e.type,
        mode: e.mode,
        size: e.type === 'file' ? e.size : 0,
        mtime: epoch,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
      } as const;
      if (e.type === 'directory') {
        await new Promise<void>((res, rej) => pack.entry(header, (err) => (err ? rej(err) : res())));
      } else if (e.content) {
        const content = e.content;
        await new Promise<void>((res, rej) => pack.entry(header, content, (err) => (err ? rej(err) : res())));
      } else if (e.size <= smallFile) {
        const file = e.file!;
        let content: Buffer;
        try {
          // Small files are read synchronously: a thread-pool round trip per open, fstat, read and
          // close costs more than the read itself (500 small manifests: ~40 ms of a push).
          content = readFileSync(file);
        } catch (err) {
          throw new ArtifactError('INVALID_PATH', `reading ${file}: ${(err as Error).message}`, { cause: err });
        }
        if (content.length !== e.size) throw new ArtifactError('INVALID_PATH', `packaging ${file}: the file changed while it was read`);
        await new Promise<void>((res, rej) => pack.entry(header, content, (err) => (err ? rej(err) : res())));
      } else {
        const file = e.file!;
        await new Promise<void>((res, rej) => {
          const sink = pack.entry(header, (err) => (err ? rej(new ArtifactError('INVALID_PATH', `packaging ${file}: ${err.message} (did the file change while it was read?)`, { cause: err })) : res()));
          const src = createReadStream(file);
          src.on('error', (err) => {
            sink.destroy(err);
            rej(new ArtifactError('INVALID_PATH', `reading ${file}: ${err.message}`, { cause: err }));
          });
          src.pipe(sink);
        });
      }
    }
    pack.finalize();
  })().catch(fail);
  return out;
}

/**
 * zlib writes the operating system it was built for into the gzip header (3 on Linux, 19 on
 * macOS); the same content must give the same bytes everywhere, so the byte is set to 255
 * ("unknown"), as Go's compress/gzip (and so `flux push artifact`) writes it.
 */
class GzipHeaderOS extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const osOffset = 9;
    if (this.seen <= osOffset && this.seen + chunk.length > osOffset) {
      chunk = Buffer.from(chunk);
      chunk[osOffset - this.seen] = 0xff;
    }
    this.seen += chunk.length;
    cb(null, chunk);
  }
}

/**
 * Gathers small chunks (tar headers are 512 bytes) into larger ones before compression: each
 * chunk written to a zlib stream is a separate trip to the thread pool.
 */
class Coalesce extends Transform {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly target: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.parts.push(chunk);
    this.size += chunk.length;
    if (this.size >= this.target) {
      const out = Buffer.concat(this.parts, this.size);
      this.parts = [];
      this.size = 0;
      cb(null, out);
      return;
    }
    cb();
  }
  override _flush(cb: TransformCallback): void {
    if (this.size > 0) this.push(Buffer.concat(this.parts, this.size));
    cb();
  }
}

/** Counts and hashes what flows through. */
export class DigestCounter extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

export interface WrittenTarball {
  path: string;
  digest: string;
  size: number;
}

/**
 * Writes the tarball of `entries` to `dest` atomically: into a temporary file beside it, renamed
 * into place once complete (mode 0640, as Flux writes it). Returns its digest and size.
 */
export async function writeTarball(entries: readonly SourceEntry[], dest: string, opts: { signal?: AbortSignal } = {}): Promise<WrittenTarball> {
  const tmpDir = await mkdtemp(join(dirname(dest), '.lading-build-'));
  const tmp = join(tmpDir, 'artifact.tgz');
  try {
    const counter = new DigestCounter();
    const fh = await open(tmp, 'wx', 0o640);
    try {
      await pipeline(tarballStream(entries, opts), counter, fh.createWriteStream(), opts.signal ? { signal: opts.signal } : {});
    } finally {
      await fh.close().catch(() => undefined);
    }
    await chmod(tmp, 0o640);
    await rename(tmp, dest);
    return { path: dest, digest: counter.digest(), size: counter.size };
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError('OUTPUT', `writing ${dest}: ${(err as Error).message}`, { cause: err });
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
}

/** Builds the tarball in memory (for small artifacts and tests). */
export async function tarballBuffer(entries: readonly SourceEntry[], opts: { signal?: AbortSignal } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarballStream(entries, opts)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
