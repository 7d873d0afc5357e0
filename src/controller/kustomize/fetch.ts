// Fetching a source's artifact as kustomize-controller does (fluxcd/pkg http/fetch): GET
// `status.artifact.url` (host replaced by SOURCE_CONTROLLER_LOCALHOST when set), retried on
// network errors and 5xx, written to a temporary file while its digest is computed, the digest
// compared with `status.artifact.digest`, and only then extracted (tar+gzip, with lading's safe
// extraction: no path or link leaves the target). Unlike Flux, the download and the extracted
// content are bounded.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { request, type Dispatcher } from 'undici';
import { extractToDirectory } from '../../artifact/index.js';
import { LadingError, describeError } from '../../errors.js';
import { createDispatcher, isRetryableNetworkError, retryDelayMs, RETRYABLE_STATUS } from '../../http/index.js';

export type FetchErrorCode =
  /** The server answered 404: the source has not stored the artifact (yet). */
  | 'ARTIFACT_NOT_FOUND'
  | 'ARTIFACT_DOWNLOAD'
  | 'ARTIFACT_DIGEST'
  | 'ARTIFACT_TOO_LARGE'
  | 'ARTIFACT_EXTRACT'
  | 'ARTIFACT_URL'
  | 'ABORTED';

export class ArtifactFetchError extends LadingError<FetchErrorCode> {}

export interface FetchArtifactOptions {
  /** `status.artifact.url` of the source. */
  url: string;
  /** `status.artifact.digest` (`<algorithm>:<hex>`). */
  digest: string | undefined;
  /** An empty (or absent) directory to extract into. */
  dir: string;
  /** Retries after the first attempt (Flux's --http-retry, default 9). */
  retries?: number;
  /** Host (`host[:port]`) that replaces the URL's, as SOURCE_CONTROLLER_LOCALHOST does. */
  hostOverride?: string;
  /** Most bytes downloaded (default 512 MiB). */
  maxDownloadBytes?: number;
  /** Most bytes of extracted file content (default 1 GiB). */
  maxExtractBytes?: number;
  /** First retry delay (default 1 s, doubling up to 10 s; Flux waits 5–30 s). */
  retryBaseMs?: number;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
}

const DEFAULT_MAX_DOWNLOAD = 512 * 1024 * 1024;
const DEFAULT_MAX_EXTRACT = 1024 * 1024 * 1024;
const algorithms: Record<string, string> = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

let sharedDispatcher: Dispatcher | undefined;
function defaultDispatcher(): Dispatcher {
  sharedDispatcher ??= createDispatcher({});
  return sharedDispatcher;
}

/** The URL to download from: http(s) only, host replaced when an override is given. */
export function artifactUrl(raw: string, hostOverride?: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (err) {
    throw new ArtifactFetchError('ARTIFACT_URL', `invalid artifact URL "${raw}"`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ArtifactFetchError('ARTIFACT_URL', `artifact URL "${raw}": only http and https are supported`);
  if (url.username !== '' || url.password !== '') throw new ArtifactFetchError('ARTIFACT_URL', `artifact URL of host ${url.host}: credentials in the URL are not accepted`);
  if (hostOverride) {
    const replaced = new URL(url.href);
    replaced.host = hostOverride;
    if (replaced.host !== hostOverride.toLowerCase()) throw new ArtifactFetchError('ARTIFACT_URL', `invalid host override "${hostOverride}" (SOURCE_CONTROLLER_LOCALHOST)`);
    return replaced;
  }
  return url;
}

function parseDigest(digest: string | undefined): { algorithm: string; hex: string } {
  if (digest === undefined || digest === '') throw new ArtifactFetchError('ARTIFACT_DIGEST', 'failed to verify artifact: empty digest');
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest);
  const algorithm = m ? algorithms[m[1] as string] : undefined;
  if (!m || !algorithm) throw new ArtifactFetchError('ARTIFACT_DIGEST', `failed to verify artifact: unsupported or invalid digest "${digest}" (sha256, sha384 or sha512 expected)`);
  return { algorithm, hex: m[2] as string };
}

/** Hashes what passes through and stops after `limit` bytes. */
class Meter extends Transform {
  bytes = 0;
  constructor(
    private readonly hash: Hash,
    private readonly limit: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(new ArtifactFetchError('ARTIFACT_TOO_LARGE', `artifact is larger than the limit of ${this.limit} bytes`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The URL as shown in messages: no query (a signed URL's token stays out of status and events). */
function shown(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * Downloads, verifies and extracts an artifact into `dir`. Throws ArtifactFetchError:
 * ARTIFACT_NOT_FOUND on 404 (the caller requeues), ARTIFACT_DIGEST when the content does not
 * match (nothing is extracted), ARTIFACT_TOO_LARGE, ARTIFACT_DOWNLOAD, ARTIFACT_EXTRACT.
 */
export async function fetchArtifact(opts: FetchArtifactOptions): Promise<{ bytes: number }> {
  const url = artifactUrl(opts.url, opts.hostOverride);
  const expected = parseDigest(opts.digest);
  const retries = opts.retries ?? 9;
  const limit = opts.maxDownloadBytes ?? DEFAULT_MAX_DOWNLOAD;
  const dispatcher = opts.dispatcher ?? defaultDispatcher();
  await mkdir(dirname(resolve(opts.dir)), { recursive: true });
  const scratch = await mkdtemp(join(dirname(resolve(opts.dir)), '.fetch-'));
  const file = join(scratch, 'artifact.tar.gz');
  try {
    let bytes = 0;
    let hash: Hash | undefined;
    for (let attempt = 0; ; attempt++) {
      if (opts.signal?.aborted) throw new ArtifactFetchError('ABORTED', `downloading ${shown(url)}: aborted`, { cause: opts.signal.reason });
      let retryable = false;
      let retryAfter: string | undefined;
      try {
        const res = await request(url, { dispatcher, method: 'GET', headers: { 'user-agent': 'lading-kustomize-controller' }, ...(opts.signal ? { signal: opts.signal } : {}) });
        // Errors of a body given up on (destroyed) are the failure already being reported.
        res.body.on('error', () => undefined);
        if (res.statusCode !== 200) {
          await res.body.dump().catch(() => undefined);
          if (res.statusCode === 404) throw new ArtifactFetchError('ARTIFACT_NOT_FOUND', `artifact not found at ${shown(url)} (404)`);
          retryable = RETRYABLE_STATUS.has(res.statusCode);
          const h = res.headers['retry-after'];
          retryAfter = Array.isArray(h) ? h[0] : h;
          throw new ArtifactFetchError('ARTIFACT_DOWNLOAD', `failed to download archive from ${shown(url)} (status: ${res.statusCode})`);
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > limit) {
          res.body.destroy();
          throw new ArtifactFetchError('ARTIFACT_TOO_LARGE', `artifact at ${shown(url)} is ${declared} bytes, over the limit of ${limit} bytes`);
        }
        hash = createHash(expected.algorithm);
        const meter = new Meter(hash, limit);
        await pipeline(res.body, meter, createWriteStream(file), ...(opts.signal ? [{ signal: opts.signal }] : []));
        bytes = meter.bytes;
        break;
      } catch (err) {
        if (err instanceof ArtifactFetchError && (err.code === 'ARTIFACT_NOT_FOUND' || err.code === 'ARTIFACT_TOO_LARGE')) throw err;
        if (opts.signal?.aborted) throw new ArtifactFetchError('ABORTED', `downloading ${shown(url)}: aborted`, { cause: err });
        const wrapped = err instanceof ArtifactFetchError ? err : new ArtifactFetchError('ARTIFACT_DOWNLOAD', `failed to download archive from ${shown(url)}: ${describeError(err)}`, { cause: err });
        if (!(retryable || isRetryableNetworkError(err)) || attempt >= retries) {
          throw attempt > 0 ? new ArtifactFetchError(wrapped.code, `${wrapped.message} (after ${attempt + 1} attempts)`, { cause: err }) : wrapped;
        }
        await sleep(retryDelayMs(attempt, retryAfter, opts.retryBaseMs ?? 1000), opts.signal);
      }
    }
    const actual = (hash as Hash).digest('hex');
    if (actual !== expected.hex) {
      throw new ArtifactFetchError('ARTIFACT_DIGEST', `failed to verify artifact: computed digest ${expected.algorithm}:${actual} doesn't match '${opts.digest ?? ''}' (${shown(url)})`);
    }
    try {
      await extractToDirectory(createReadStream(file), opts.dir, { maxBytes: opts.maxExtractBytes ?? DEFAULT_MAX_EXTRACT, ...(opts.signal ? { signal: opts.signal } : {}) }, `extracting the artifact of ${shown(url)}`);
    } catch (err) {
      throw new ArtifactFetchError('ARTIFACT_EXTRACT', `failed to extract archive: ${describeError(err)}`, { cause: err });
    }
    return { bytes };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
