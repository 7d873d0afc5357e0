import { openRepository, parseReference, type Descriptor, type Reference, type RegistryOptions, type Storage } from '../oci/index.js';
import { SignError } from './errors.js';
import { loadPrivateKey, loadPublicKey, type PasswordOptions, type SigningKey, type VerificationKey } from './keys.js';

/** The image being signed or verified: where it lives and the digest its reference resolves to. */
export interface Target {
  ref: Reference;
  storage: Storage;
  descriptor: Descriptor;
  /** `registry/repository`, cosign's docker-reference. */
  repository: string;
  /** How cosign names the image in its messages (`registry/repository:tag` or `@digest`). */
  display: string;
}

/** Options shared by every operation that reaches an image. */
export interface TargetOptions {
  registry?: RegistryOptions;
  /** Use this storage instead of opening the reference's registry (OCI layout, memory, tests). */
  storage?: Storage;
  signal?: AbortSignal;
}

/** Resolves the image a command works on. */
export async function resolveTarget(input: string, opts: TargetOptions): Promise<Target> {
  const ref = parseReference(input);
  const storage = opts.storage ?? openRepository(ref, { ...(opts.registry ?? {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  const descriptor = await storage.resolve(ref.reference, opts.signal ? { signal: opts.signal } : {});
  const display = ref.digest ? `${ref.name}@${ref.digest}` : `${ref.name}:${ref.tag ?? 'latest'}`;
  return { ref, storage, descriptor, repository: ref.name, display };
}

export type KeyInput = string | SigningKey;

export async function signingKey(key: KeyInput | undefined, opts: PasswordOptions): Promise<SigningKey> {
  if (key === undefined || key === '') throw new SignError('INVALID_OPTION', 'a signing key is required (--key cosign.key)');
  return typeof key === 'string' ? loadPrivateKey(key, opts) : key;
}

export async function verificationKey(key: string | VerificationKey | undefined): Promise<VerificationKey> {
  if (key === undefined || key === '') throw new SignError('INVALID_OPTION', 'a public key is required (--key cosign.pub)');
  return typeof key === 'string' ? loadPublicKey(key) : key;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Parses `k=v` annotation flags (as cosign's `-a`). */
export function parseAnnotations(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new SignError('INVALID_OPTION', `invalid annotation "${pair}": want key=value`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}
