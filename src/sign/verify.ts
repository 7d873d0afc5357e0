import { isOciError, type Descriptor, type RegistryOptions, type Storage } from '../oci/index.js';
import { attachmentTag, bundleReferrers, fetchBundleLayer, readAttached, MAX_PAYLOAD_BYTES, type AttachedImage, type BundleReferrer } from './attached.js';
import { SignError } from './errors.js';
import {
  COSIGN_SIGN_PREDICATE_TYPE,
  INTOTO_PAYLOAD_TYPE,
  SIGNATURE_ANNOTATION,
  annotationsMatch,
  decodeBase64,
  parseBundle,
  parseEnvelope,
  parseSimpleSigningPayload,
  parseStatement,
  predicateTypeURI,
  statementMatches,
  verifyEnvelope,
  type DsseEnvelope,
  type SimpleSigningPayload,
  type Statement,
} from './formats.js';
import { signatureMismatch, type VerificationKey } from './keys.js';
import type { SignatureFormat } from './sign.js';
import { mapLimit, resolveTarget, verificationKey, type Target, type TargetOptions } from './target.js';

const CONCURRENCY = 8;
/** Simple-signing payloads are a few hundred bytes; anything large is not one. */
const MAX_SIMPLE_SIGNING_BYTES = 1024 * 1024;

export interface VerifyOptions extends TargetOptions {
  /** Path to the public key (cosign.pub) or a loaded key. */
  key: string | VerificationKey;
  /** Annotations every accepted signature must carry (`-a k=v`). */
  annotations?: Record<string, string>;
}

export interface VerifiedSignature {
  format: SignatureFormat;
  /** Where it was found: `repo:sha256-….sig` layer digest, or the referrer manifest. */
  source: string;
  /** The claims in cosign's output shape (bundles are shown as cosign v3 shows them). */
  payload: SimpleSigningPayload;
}

/** A signature or attestation that was found but rejected, and why. */
export interface RejectedSignature {
  format: SignatureFormat;
  source: string;
  reason: string;
}

export interface VerifyResult {
  /** The image as cosign names it in "Verification for … --". */
  reference: string;
  /** The digest the reference resolved to (what the signatures cover). */
  digest: string;
  /** The checks performed on each accepted signature (cosign's wording). */
  checks: string[];
  signatures: VerifiedSignature[];
  rejected: RejectedSignature[];
}

function checksPerformed(annotations: Record<string, string> | undefined): string[] {
  const checks: string[] = [];
  if (annotations) checks.push('The specified annotations were verified.');
  checks.push('The cosign claims were validated', 'The signatures were verified against the specified public key');
  return checks;
}

function describeFailure(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function failureSummary(rejected: RejectedSignature[]): string {
  const shown = rejected.slice(0, 5).map((r) => `${r.source}: ${r.reason}`);
  if (rejected.length > shown.length) shown.push(`and ${rejected.length - shown.length} more`);
  return shown.join('; ');
}

async function verifyClassicLayer(storage: Storage, image: AttachedImage, layer: Descriptor, target: Target, pendingKey: Promise<VerificationKey>, annotations: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<VerifiedSignature | RejectedSignature> {
  const source = `${target.repository}:${image.tag} layer ${layer.digest}`;
  const fail = (reason: string): RejectedSignature => ({ format: 'classic', source, reason });
  const b64 = layer.annotations?.[SIGNATURE_ANNOTATION];
  if (!b64) return fail(`no ${SIGNATURE_ANNOTATION} annotation`);
  if (typeof layer.size !== 'number' || layer.size > MAX_SIMPLE_SIGNING_BYTES) return fail(`payload of ${String(layer.size)} bytes is over the ${MAX_SIMPLE_SIGNING_BYTES}-byte limit`);
  let signature: Buffer;
  try {
    signature = decodeBase64(b64, 'signature annotation');
  } catch (err) {
    return fail(describeFailure(err));
  }
  let payloadBytes: Buffer;
  try {
    payloadBytes = await storage.fetchBytes(layer, { maxBytes: MAX_SIMPLE_SIGNING_BYTES, ...(signal ? { signal } : {}) });
  } catch (err) {
    return fail(`fetching the signed payload: ${describeFailure(err)}`);
  }
  const key = await pendingKey;
  if (!(await key.verify(payloadBytes, signature))) return fail(signatureMismatch(key));
  let payload: SimpleSigningPayload;
  try {
    payload = parseSimpleSigningPayload(payloadBytes, 'signed payload');
  } catch (err) {
    return fail(describeFailure(err));
  }
  const signed = payload.critical?.image?.['docker-manifest-digest'];
  if (signed !== target.descriptor.digest) return fail(`the signature is for ${String(signed)}, not ${target.descriptor.digest}`);
  if (annotations && !annotationsMatch(annotations, payload.optional)) return fail('missing or incorrect annotation');
  return { format: 'classic', source, payload };
}

interface VerifiedBundle {
  source: string;
  envelope: DsseEnvelope;
  statement: Statement;
}

/** Fetches and checks one bundle referrer: signature by `key`, statement about the digest. */
async function verifyBundleReferrer(storage: Storage, referrer: BundleReferrer, target: Target, pendingKey: Promise<VerificationKey>, annotations: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<VerifiedBundle | RejectedSignature | undefined> {
  const source = `${target.repository}@${referrer.descriptor.digest}`;
  const what = `reading bundle ${source}`;
  const fail = (reason: string): RejectedSignature => ({ format: 'bundle', source, reason });
  let fetched;
  try {
    fetched = await fetchBundleLayer(storage, referrer.descriptor, signal ? { signal, what } : { what });
  } catch (err) {
    return fail(describeFailure(err));
  }
  if (!fetched) return undefined; // a referrer that is not a sigstore bundle
  const key = await pendingKey;
  try {
    const bundle = parseBundle(fetched.bytes, what);
    if (!bundle.dsseEnvelope) return fail('the bundle holds no DSSE envelope (a message signature is for blobs, not images)');
    const envelope = parseEnvelope(bundle.dsseEnvelope, what);
    if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE) return fail(`payloadType ${envelope.payloadType}, want ${INTOTO_PAYLOAD_TYPE}`);
    const checked = await verifyEnvelopeSafe(envelope, key, what);
    if (!checked.ok) return fail(checked.reason);
    const statement = parseStatement(checked.payload, what);
    const match = statementMatches(statement, target.descriptor.digest, annotations);
    if (!match.ok) return fail(match.reason);
    return { source, envelope, statement };
  } catch (err) {
    return fail(describeFailure(err));
  }
}

async function verifyEnvelopeSafe(envelope: DsseEnvelope, key: VerificationKey, what: string): Promise<{ ok: true; payload: Buffer } | { ok: false; reason: string }> {
  const payload = decodeBase64(envelope.payload, `${what}: payload`);
  if (payload.length > MAX_PAYLOAD_BYTES) return { ok: false, reason: 'payload too large' };
  return verifyEnvelope(envelope, key, what);
}

/**
 * Reads the classic `.sig`/`.att` image; a malformed or oversized one is reported as a rejected
 * entry instead of hiding valid bundles. Transport errors still fail the verification.
 */
async function readClassic(target: Target, kind: 'sig' | 'att', what: string, signal: AbortSignal | undefined): Promise<{ image?: AttachedImage; failure?: RejectedSignature }> {
  try {
    const image = await readAttached(target.storage, target.descriptor.digest, kind, signal ? { signal, what } : { what });
    return image ? { image } : {};
  } catch (err) {
    if (!(err instanceof SignError) && !isOciError(err, 'INVALID_MANIFEST', 'UNSUPPORTED_MEDIA_TYPE')) throw err;
    return { failure: { format: 'classic', source: `${target.repository}:${attachmentTag(target.descriptor.digest, kind)}`, reason: describeFailure(err) } };
  }
}

/**
 * Lists bundle referrers; a failure here does not hide classic signatures (as in cosign, which
 * falls back to the tag scheme when bundles cannot be listed) but is reported.
 */
async function listBundles(target: Target, what: string, signal: AbortSignal | undefined): Promise<{ referrers: BundleReferrer[]; failure?: RejectedSignature }> {
  try {
    return { referrers: await bundleReferrers(target.storage, target.descriptor, signal ? { signal, what } : { what }) };
  } catch (err) {
    if (signal?.aborted) throw err;
    return { referrers: [], failure: { format: 'bundle', source: `referrers of ${target.repository}@${target.descriptor.digest}`, reason: describeFailure(err) } };
  }
}

function bundleAsSimpleSigning(target: Target, statement: Statement): SimpleSigningPayload {
  const subject = statement.subject[0];
  const digest = subject?.digest ? Object.entries(subject.digest).map(([a, h]) => `${a}:${h}`)[0] ?? '' : '';
  const annotations = subject?.annotations && Object.keys(subject.annotations).length > 0 ? subject.annotations : null;
  return {
    critical: { identity: { 'docker-reference': target.display }, image: { 'docker-manifest-digest': digest }, type: statement.predicateType },
    optional: annotations,
  };
}

/**
 * Resolves the image and reads the key meanwhile. The key is awaited only where a signature is
 * checked, so that the lookups go out as soon as the image is resolved; a key error still comes
 * before any other.
 */
async function startVerification(reference: string, opts: VerifyOptions): Promise<{ target: Target; key: Promise<VerificationKey> }> {
  const pendingTarget = resolveTarget(reference, opts);
  const key = verificationKey(opts.key);
  key.catch(() => undefined);
  try {
    return { target: await pendingTarget, key };
  } catch (err) {
    await key;
    throw err;
  }
}

/** The lookups' results, unless the key could not be read: then that error. */
async function keyFirst<T>(key: Promise<VerificationKey>, lookups: Promise<T>): Promise<T> {
  lookups.catch(() => undefined);
  await key;
  return lookups;
}

/**
 * Verifies the signatures on `reference` with a public key, as `cosign verify --key` does:
 * classic `.sig` signatures and Sigstore bundle referrers (cosign v2 and v3, both formats). At
 * least one must verify and name the resolved digest (and carry the requested annotations);
 * otherwise throws with the reason for each rejected signature.
 */
export async function verify(reference: string, opts: VerifyOptions): Promise<VerifyResult> {
  const { target, key } = await startVerification(reference, opts);
  const what = `verifying ${target.display}`;
  const signal = opts.signal;
  // Classic layers are verified as soon as the .sig manifest is read, while the bundles are
  // still being listed (and the other way round); the results keep the order classic, bundles.
  const lookups = Promise.all([
    readClassic(target, 'sig', what, signal).then(async (read) => {
      const image = read.image;
      return [read, image ? await mapLimit(image.manifest.layers, CONCURRENCY, (layer) => verifyClassicLayer(target.storage, image, layer, target, key, opts.annotations, signal)) : []] as const;
    }),
    listBundles(target, what, signal).then(async (list) => {
      const signReferrers = list.referrers.filter((r) => !r.predicateType || r.predicateType === COSIGN_SIGN_PREDICATE_TYPE);
      return [list, await mapLimit(signReferrers, CONCURRENCY, (r) => verifyBundleReferrer(target.storage, r, target, key, opts.annotations, signal))] as const;
    }),
  ]);
  const [[classicRead, classic], [listed, bundles]] = await keyFirst(key, lookups);
  const early = [classicRead.failure, listed.failure].filter((f): f is RejectedSignature => f !== undefined);
  const signatures: VerifiedSignature[] = [];
  const rejected: RejectedSignature[] = [...early];
  for (const c of classic) ('payload' in c ? signatures.push(c) : rejected.push(c));
  for (const b of bundles) {
    if (!b) continue;
    if ('reason' in b) {
      rejected.push(b);
    } else if (b.statement.predicateType === COSIGN_SIGN_PREDICATE_TYPE) {
      signatures.push({ format: 'bundle', source: b.source, payload: bundleAsSimpleSigning(target, b.statement) });
    }
  }
  if (signatures.length === 0) {
    if (rejected.length === 0) throw new SignError('NO_SIGNATURES', `${what}: no signatures found`);
    throw new SignError('NO_MATCHING_SIGNATURES', `${what}: no matching signatures: ${failureSummary(rejected)}`);
  }
  return { reference: target.display, digest: target.descriptor.digest, checks: checksPerformed(opts.annotations), signatures, rejected };
}

export interface VerifyAttestationOptions extends VerifyOptions {
  /**
   * Only attestations of this predicate type (alias or URI). Default `custom`
   * (`https://cosign.sigstore.dev/attestation/v1`), as cosign's `verify-attestation --type`.
   */
  type?: string;
}

/** cosign's `verify-attestation --type` default. */
const DEFAULT_ATTESTATION_TYPE = 'custom';

export interface VerifiedAttestation {
  format: SignatureFormat;
  source: string;
  predicateType: string;
  statement: Statement;
  /** The verified DSSE envelope (what cosign prints). */
  envelope: DsseEnvelope;
}

export interface VerifyAttestationResult {
  reference: string;
  digest: string;
  checks: string[];
  attestations: VerifiedAttestation[];
  rejected: RejectedSignature[];
}

async function verifyClassicAttestation(storage: Storage, image: AttachedImage, layer: Descriptor, target: Target, pendingKey: Promise<VerificationKey>, annotations: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<VerifiedAttestation | RejectedSignature> {
  const source = `${target.repository}:${image.tag} layer ${layer.digest}`;
  const what = `reading attestation ${source}`;
  const fail = (reason: string): RejectedSignature => ({ format: 'classic', source, reason });
  if (typeof layer.size !== 'number' || layer.size > MAX_PAYLOAD_BYTES) return fail(`envelope of ${String(layer.size)} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  try {
    const bytes = await storage.fetchBytes(layer, { maxBytes: MAX_PAYLOAD_BYTES, ...(signal ? { signal } : {}) });
    const envelope = parseEnvelope(bytes, what);
    if (envelope.payloadType !== INTOTO_PAYLOAD_TYPE) return fail(`payloadType ${envelope.payloadType}, want ${INTOTO_PAYLOAD_TYPE}`);
    const checked = await verifyEnvelopeSafe(envelope, await pendingKey, what);
    if (!checked.ok) return fail(checked.reason);
    const statement = parseStatement(checked.payload, what);
    const match = statementMatches(statement, target.descriptor.digest, annotations);
    if (!match.ok) return fail(match.reason);
    return { format: 'classic', source, predicateType: statement.predicateType, statement, envelope };
  } catch (err) {
    return fail(describeFailure(err));
  }
}

/**
 * Verifies the attestations on `reference` with a public key, as `cosign verify-attestation
 * --key` does (classic `.att` layers and bundle referrers), keeping those of `type`.
 */
export async function verifyAttestation(reference: string, opts: VerifyAttestationOptions): Promise<VerifyAttestationResult> {
  const typeName = opts.type ?? DEFAULT_ATTESTATION_TYPE;
  const wantType = predicateTypeURI(typeName);
  const typeShown = typeName === wantType ? wantType : `${typeName} (${wantType})`;
  const { target, key } = await startVerification(reference, opts);
  const what = `verifying attestations of ${target.display}`;
  const signal = opts.signal;
  // As in verify: each kind is verified as soon as it is listed.
  const lookups = Promise.all([
    readClassic(target, 'att', what, signal).then(async (read) => {
      const image = read.image;
      if (!image) return [read, []] as const;
      const layers = image.manifest.layers.filter((l) => !l.annotations?.['predicateType'] || l.annotations['predicateType'] === wantType);
      return [read, await mapLimit(layers, CONCURRENCY, (layer) => verifyClassicAttestation(target.storage, image, layer, target, key, opts.annotations, signal))] as const;
    }),
    listBundles(target, what, signal).then(async (list) => {
      // The sign statement is a signature, not an attestation.
      const attReferrers = list.referrers.filter((r) => r.predicateType !== COSIGN_SIGN_PREDICATE_TYPE && (!r.predicateType || r.predicateType === wantType));
      return [list, await mapLimit(attReferrers, CONCURRENCY, (r) => verifyBundleReferrer(target.storage, r, target, key, opts.annotations, signal))] as const;
    }),
  ]);
  const [[classicRead, classic], [listed, bundles]] = await keyFirst(key, lookups);
  const image = classicRead.image;
  const referrers = listed.referrers;
  const early = [classicRead.failure, listed.failure].filter((f): f is RejectedSignature => f !== undefined);
  const verified: VerifiedAttestation[] = [];
  const rejected: RejectedSignature[] = [...early];
  for (const c of classic) ('reason' in c ? rejected.push(c) : verified.push(c));
  for (const b of bundles) {
    if (!b) continue;
    if ('reason' in b) rejected.push(b);
    else if (b.statement.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) {
      verified.push({ format: 'bundle', source: b.source, predicateType: b.statement.predicateType, statement: b.statement, envelope: b.envelope });
    }
  }
  const attestations = verified.filter((a) => a.predicateType === wantType);
  if (attestations.length === 0) {
    const found = new Set(verified.map((a) => a.predicateType));
    for (const l of image?.manifest.layers ?? []) if (l.annotations?.['predicateType']) found.add(l.annotations['predicateType']);
    for (const r of referrers) if (r.predicateType && r.predicateType !== COSIGN_SIGN_PREDICATE_TYPE) found.add(r.predicateType);
    if (found.size > 0 && !found.has(wantType)) {
      throw new SignError('NO_MATCHING_SIGNATURES', `${what}: none of the attestations matched the predicate type ${typeShown}, found: ${[...found].sort().join(', ')}`);
    }
    if (rejected.length === 0) throw new SignError('NO_SIGNATURES', `${what}: no attestations found of type ${typeShown}`);
    throw new SignError('NO_MATCHING_SIGNATURES', `${what}: no matching attestations: ${failureSummary(rejected)}`);
  }
  return { reference: target.display, digest: target.descriptor.digest, checks: checksPerformed(opts.annotations), attestations, rejected };
}

export interface VerifyArtifactOptions {
  /** Path to the public key (cosign.pub) or a loaded key. */
  key: string | VerificationKey;
  registry?: RegistryOptions;
  annotations?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * Verifies an artifact before it is pulled or shown (`pull|inspect artifact --verify`). Returns
 * the verified digest: fetch content by this digest, not by tag, so what is used is what was
 * verified. Throws SignError when no signature verifies.
 */
export async function verifyArtifact(reference: string, opts: VerifyArtifactOptions): Promise<VerifyResult> {
  const input = reference.replace(/^oci:\/\//, '');
  return verify(input, {
    key: opts.key,
    ...(opts.registry ? { registry: opts.registry } : {}),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
