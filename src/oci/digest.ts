import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { OciError } from './errors.js';
import type { Descriptor } from './types.js';

/** The hex digest of bytes in memory (strings are UTF-8 encoded). */
export function hashHex(algorithm: 'sha256' | 'sha512', data: Uint8Array | string): string {
  return createHash(algorithm).update(data).digest('hex');
}

/** `sha256:<hex>` of the given bytes (strings are UTF-8 encoded). */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${hashHex('sha256', data)}`;
}

/** A descriptor for in-memory content, with its digest and size computed. */
export function descriptorFor(mediaType: string, data: Uint8Array, extra?: Partial<Descriptor>): Descriptor {
  return { mediaType, digest: sha256Digest(data), size: data.byteLength, ...extra };
}

/** A digest as the OCI image spec writes it: an algorithm, a colon, the encoded value (any algorithm). */
export const DIGEST_SYNTAX = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Whether `digest` is a well-formed sha256 or sha512 digest. */
export function isDigest(digest: string): boolean {
  return /^sha256:[a-f0-9]{64}$/.test(digest) || /^sha512:[a-f0-9]{128}$/.test(digest);
}

/** Throws unless `digest` is a well-formed, supported digest. */
export function validateDigest(digest: string, context: string): void {
  if (!isDigest(digest)) {
    throw new OciError('INVALID_REFERENCE', `${context}: invalid digest "${digest}" (expected sha256:<64 hex> or sha512:<128 hex>)`);
  }
}

/** The algorithm of a digest lading can compute; throws UNSUPPORTED for others. */
function digestAlgorithm(digest: string): 'sha256' | 'sha512' {
  const algorithm = digest.slice(0, Math.max(0, digest.indexOf(':')));
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new OciError('UNSUPPORTED', `unsupported digest algorithm "${algorithm}" in ${digest}`);
  }
  return algorithm;
}

/** A hash object for `digest`'s algorithm (UNSUPPORTED for others), for content read in chunks. */
export function digestHasher(digest: string): { hash: Hash; algorithm: string } {
  const algorithm = digestAlgorithm(digest);
  return { hash: createHash(algorithm), algorithm };
}

/** Throws DIGEST_MISMATCH/SIZE_MISMATCH unless `data` matches `desc`. */
export function verifyBytes(desc: Descriptor, data: Uint8Array, context: string): void {
  if (data.byteLength !== desc.size) {
    throw new OciError('SIZE_MISMATCH', `${context}: size mismatch for ${desc.digest}: expected ${desc.size} bytes, got ${data.byteLength}`);
  }
  const algorithm = digestAlgorithm(desc.digest);
  const actual = `${algorithm}:${hashHex(algorithm, data)}`;
  if (actual !== desc.digest) {
    throw new OciError('DIGEST_MISMATCH', `${context}: digest mismatch: expected ${desc.digest}, got ${actual}`);
  }
}

/**
 * A running check of content read in chunks against a descriptor: update() with each chunk (too
 * many bytes fail at once), finish() at the end (the size and the digest). Throws OciError.
 */
export class DigestCheck {
  private readonly hash: Hash;
  private readonly algorithm: string;
  private seen = 0;

  constructor(
    readonly desc: Descriptor,
    /** What is being read, for error messages. */
    readonly context: string,
  ) {
    const h = digestHasher(desc.digest);
    this.hash = h.hash;
    this.algorithm = h.algorithm;
  }

  /** Bytes checked so far. */
  get bytes(): number {
    return this.seen;
  }

  update(chunk: Uint8Array): void {
    this.seen += chunk.byteLength;
    if (this.seen > this.desc.size) {
      throw new OciError('SIZE_MISMATCH', `${this.context}: ${this.desc.digest} is larger than its descriptor's ${this.desc.size} bytes`);
    }
    this.hash.update(chunk);
  }

  finish(): void {
    if (this.seen !== this.desc.size) {
      throw new OciError('SIZE_MISMATCH', `${this.context}: size mismatch for ${this.desc.digest}: expected ${this.desc.size} bytes, got ${this.seen}`);
    }
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.desc.digest) {
      throw new OciError('DIGEST_MISMATCH', `${this.context}: digest mismatch: expected ${this.desc.digest}, got ${actual}`);
    }
  }
}

/** Streams that check their own content against a descriptor (and fail before their last chunk). */
const verifyingStreams = new WeakMap<Readable, Descriptor>();

/** Records that `stream` checks its content against `desc` as VerifyingStream does. */
export function markVerifying(stream: Readable, desc: Descriptor): void {
  verifyingStreams.set(stream, desc);
}

/** Whether `stream` already checks exactly `desc`, so a consumer need not hash it again. */
export function verifiesContent(stream: Readable, desc: Descriptor): boolean {
  const checked = verifyingStreams.get(stream);
  return checked !== undefined && checked.digest === desc.digest && checked.size === desc.size;
}

/**
 * A pass-through stream that verifies content against a descriptor. The last chunk is held back
 * until the digest is checked, so a consumer never receives all of a bad blob; too many bytes
 * fail immediately.
 */
export class VerifyingStream extends Transform {
  private readonly check: DigestCheck;
  private held: Buffer | undefined;

  constructor(desc: Descriptor, context: string) {
    super();
    this.check = new DigestCheck(desc, context);
    markVerifying(this, desc);
  }

  /** Whether this stream checks exactly `desc` (so a consumer need not hash again). */
  verifies(desc: Descriptor): boolean {
    return verifiesContent(this, desc);
  }

  /** Bytes that went through so far. */
  get bytes(): number {
    return this.check.bytes;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.check.update(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    const previous = this.held;
    this.held = chunk;
    cb(null, previous);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.check.finish();
    } catch (err) {
      cb(err as Error);
      return;
    }
    cb(null, this.held);
  }
}
