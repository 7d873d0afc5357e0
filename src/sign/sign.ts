import { fetchManifest, sha256Digest, type Descriptor, type Storage } from '../oci/index.js';
import { appendAttached, attachmentTag, bundleReferrers, childManifests, fetchBundleLayer, pushBundleReferrer, readAttached, MAX_PAYLOAD_BYTES } from './attached.js';
import { SignError } from './errors.js';
import { readRegularFile } from './files.js';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  DSSE_MEDIA_TYPE,
  INTOTO_PAYLOAD_TYPE,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  attestationStatement,
  goJSON,
  makeBundle,
  parseBundle,
  parseStatement,
  signEnvelope,
  signStatement,
  simpleSigningPayload,
  verifyEnvelope,
  decodeBase64,
  type Statement,
} from './formats.js';
import type { PasswordOptions, SigningKey, VerificationKey } from './keys.js';
import { resolveTarget, signingKey, type KeyInput, type Target, type TargetOptions } from './target.js';

/**
 * `classic`: the `sha256-<hex>.sig` tag (cosign v1/v2, Flux, policy controllers, and cosign v3's
 * `verify --key` fallback). `bundle`: a Sigstore bundle v0.3 attached as an OCI 1.1 referrer
 * (cosign v3's default).
 */
export type SignatureFormat = 'classic' | 'bundle';

/**
 * The default is classic: cosign v3 `verify --key` accepts it (it falls back to the tag scheme
 * when no bundle is attached), and so do cosign v2 and Flux's `verify.provider: cosign`, which
 * do not read bundles.
 */
export const DEFAULT_SIGNATURE_FORMAT: SignatureFormat = 'classic';

export interface SignOptions extends TargetOptions, PasswordOptions {
  /** Path to the private key (cosign.key) or a loaded key. */
  key: KeyInput;
  /** Annotations signed with the payload (`-a k=v`). */
  annotations?: Record<string, string>;
  format?: SignatureFormat;
  /** Also sign every manifest an index lists. */
  recursive?: boolean;
  /** Progress messages (e.g. "Pushing signature to: …"). */
  onProgress?: (message: string) => void;
}

export interface SignedEntry {
  /** The digest that was signed. */
  digest: string;
  format: SignatureFormat;
  /** Where the signature is: `repo:sha256-….sig` or the referrer `repo@sha256:…`. */
  location: string;
  /** False when an identical signature by the same key was already there. */
  created: boolean;
}

export interface SignResult {
  reference: string;
  digest: string;
  signatures: SignedEntry[];
}

function parseFormat(format: string | undefined): SignatureFormat {
  const f = format ?? DEFAULT_SIGNATURE_FORMAT;
  if (f !== 'classic' && f !== 'bundle') throw new SignError('INVALID_OPTION', `invalid signature format "${f}": use classic or bundle`);
  return f;
}

async function digestsToSign(target: Target, recursive: boolean, signal?: AbortSignal): Promise<Descriptor[]> {
  if (!recursive) return [target.descriptor];
  const out: Descriptor[] = [target.descriptor];
  const { manifest } = await fetchManifest(target.storage, target.descriptor, signal ? { signal } : {});
  for (const child of childManifests(manifest)) out.push(child);
  return out;
}

/**
 * An existing classic signature layer with this payload and annotations, signed by `key` in the
 * scheme lading signs with (an Ed25519ph signature cosign v3 made does not count: `cosign verify`
 * would not accept it, so a plain Ed25519 one is still added).
 */
function findDuplicateClassic(layers: Descriptor[], payloadDigest: string, payload: Buffer, key: SigningKey): boolean {
  // The annotations are inside the payload, so an equal payload digest means equal claims.
  for (const layer of layers) {
    if (layer.digest !== payloadDigest || layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const b64 = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (!b64) continue;
    try {
      if (key.verifiesAsSigned(payload, decodeBase64(b64, 'existing signature'))) return true;
    } catch {
      // not a usable signature; keep looking
    }
  }
  return false;
}

async function signClassic(storage: Storage, repository: string, subject: Descriptor, key: SigningKey, annotations: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<SignedEntry> {
  const what = `signing ${repository}@${subject.digest}`;
  const payload = simpleSigningPayload(repository, subject.digest, annotations);
  const existing = await readAttached(storage, subject.digest, 'sig', signal ? { signal, what } : { what });
  const location = `${repository}:${attachmentTag(subject.digest, 'sig')}`;
  if (existing && findDuplicateClassic(existing.manifest.layers, sha256Digest(payload), payload, key)) {
    return { digest: subject.digest, format: 'classic', location, created: false };
  }
  const signature = key.sign(payload).toString('base64');
  await appendAttached(storage, subject.digest, 'sig', existing, { mediaType: SIMPLE_SIGNING_MEDIA_TYPE, bytes: payload, annotations: { [SIGNATURE_ANNOTATION]: signature } }, signal ? { signal } : {});
  return { digest: subject.digest, format: 'classic', location, created: true };
}

function sameStatement(a: Statement, b: Statement): boolean {
  return goJSON(a) === goJSON(b);
}

/** Whether a bundle referrer already holds `statement` signed by `key`. */
async function findDuplicateBundle(storage: Storage, subject: Descriptor, predicateType: string, statement: Statement, key: SigningKey, what: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  const refs = await bundleReferrers(storage, subject, signal ? { signal, what } : { what });
  // Only a signature in lading's own scheme is a duplicate (see findDuplicateClassic).
  const ownScheme: VerificationKey = { ...key, verify: async (data, sig) => key.verifiesAsSigned(data, sig) };
  for (const r of refs) {
    if (r.predicateType && r.predicateType !== predicateType) continue;
    try {
      const fetched = await fetchBundleLayer(storage, r.descriptor, signal ? { signal, what } : { what });
      if (!fetched) continue;
      const bundle = parseBundle(fetched.bytes, what);
      if (!bundle.dsseEnvelope || bundle.dsseEnvelope.payloadType !== INTOTO_PAYLOAD_TYPE) continue;
      const checked = await verifyEnvelope(bundle.dsseEnvelope, ownScheme, what);
      if (!checked.ok) continue;
      if (sameStatement(parseStatement(checked.payload, what), statement)) return r.descriptor.digest;
    } catch {
      // an unreadable referrer is not a duplicate
    }
  }
  return undefined;
}

async function signBundle(storage: Storage, repository: string, subject: Descriptor, key: SigningKey, annotations: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<SignedEntry> {
  const what = `signing ${repository}@${subject.digest}`;
  const statement = signStatement(subject.digest, annotations);
  const duplicate = await findDuplicateBundle(storage, subject, COSIGN_SIGN_PREDICATE_TYPE, statement, key, what, signal);
  if (duplicate) {
    return { digest: subject.digest, format: 'bundle', location: `${repository}@${duplicate}`, created: false };
  }
  const { bytes } = makeBundle(key, statement);
  const pushed = await pushBundleReferrer(storage, subject, bytes, COSIGN_SIGN_PREDICATE_TYPE, signal ? { signal } : {});
  return { digest: subject.digest, format: 'bundle', location: `${repository}@${pushed.digest}`, created: true };
}

/**
 * Signs the digest `reference` resolves to with a cosign key, as `cosign sign --key` does, in
 * the classic tag format or as a Sigstore bundle referrer. Signing again with the same key and
 * annotations adds nothing.
 */
export async function sign(reference: string, opts: SignOptions): Promise<SignResult> {
  const format = parseFormat(opts.format);
  const key = await signingKey(opts.key, opts);
  const target = await resolveTarget(reference, opts);
  const subjects = await digestsToSign(target, opts.recursive ?? false, opts.signal);
  const signatures: SignedEntry[] = [];
  opts.onProgress?.(`Pushing signature to: ${target.repository}`);
  for (const subject of subjects) {
    opts.signal?.throwIfAborted();
    signatures.push(
      format === 'classic'
        ? await signClassic(target.storage, target.repository, subject, key, opts.annotations, opts.signal)
        : await signBundle(target.storage, target.repository, subject, key, opts.annotations, opts.signal),
    );
  }
  return { reference: target.display, digest: target.descriptor.digest, signatures };
}

export interface AttestOptions extends TargetOptions, PasswordOptions {
  key: KeyInput;
  /** Path to the predicate file. */
  predicate: string;
  /** `custom` (default), `slsaprovenance`, `slsaprovenance1`, `spdx`, `spdxjson`, `cyclonedx`, `openvex`, `link`, `vuln` or a URI. */
  type?: string;
  format?: SignatureFormat;
  /** Classic format: drop existing attestations of the same predicate type first. */
  replace?: boolean;
  onProgress?: (message: string) => void;
  /** Clock for the `custom` predicate's Timestamp. */
  now?: Date;
}

export interface AttestResult {
  reference: string;
  digest: string;
  predicateType: string;
  format: SignatureFormat;
  location: string;
}

const MAX_PREDICATE_BYTES = MAX_PAYLOAD_BYTES / 2;

function readPredicate(path: string): Buffer {
  return readRegularFile(path, {
    max: MAX_PREDICATE_BYTES,
    code: 'INVALID_PREDICATE',
    what: `reading predicate ${path}`,
    tooLarge: (size) => `${size} bytes is over the ${MAX_PREDICATE_BYTES}-byte limit`,
  });
}

/**
 * Attests `reference` with an in-toto statement about its digest, signed in a DSSE envelope, as
 * `cosign attest --key` does: a layer of the `.att` tag (classic) or a bundle referrer.
 */
export async function attest(reference: string, opts: AttestOptions): Promise<AttestResult> {
  const format = parseFormat(opts.format);
  const type = opts.type ?? 'custom';
  const predicate = readPredicate(opts.predicate);
  const key = await signingKey(opts.key, opts);
  const target = await resolveTarget(reference, opts);
  const digest = target.descriptor.digest;
  const statement = attestationStatement({ type, predicate, predicateSource: opts.predicate, repository: target.repository, digest, ...(opts.now ? { now: opts.now } : {}) });
  const signal = opts.signal ? { signal: opts.signal } : {};
  opts.onProgress?.(`Pushing attestation to: ${target.repository}`);
  if (format === 'bundle') {
    const { bytes } = makeBundle(key, statement);
    const pushed = await pushBundleReferrer(target.storage, target.descriptor, bytes, statement.predicateType, signal);
    return { reference: target.display, digest, predicateType: statement.predicateType, format, location: `${target.repository}@${pushed.digest}` };
  }
  const what = `attesting ${target.display}`;
  let existing = await readAttached(target.storage, digest, 'att', { ...signal, what });
  if (existing && opts.replace) {
    const kept = existing.manifest.layers.filter((l) => l.annotations?.['predicateType'] !== statement.predicateType);
    existing = { ...existing, manifest: { ...existing.manifest, layers: kept } };
  }
  const envelope = signEnvelope(key, INTOTO_PAYLOAD_TYPE, Buffer.from(goJSON(statement), 'utf8'));
  await appendAttached(
    target.storage,
    digest,
    'att',
    existing,
    { mediaType: DSSE_MEDIA_TYPE, bytes: Buffer.from(goJSON(envelope), 'utf8'), annotations: { [SIGNATURE_ANNOTATION]: '', predicateType: statement.predicateType } },
    signal,
  );
  return { reference: target.display, digest, predicateType: statement.predicateType, format, location: `${target.repository}:${attachmentTag(digest, 'att')}` };
}
