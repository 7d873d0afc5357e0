/**
 * Wire formats shared with cosign: media types, annotation keys, the simple-signing payload,
 * in-toto statements, DSSE envelopes and Sigstore bundles (v0.3). Pure data; no I/O.
 */
import { SignError } from './errors.js';
import { isBase64, signatureMismatch, type SigningKey, type VerificationKey } from './keys.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const DSSE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const INTOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Any sigstore bundle version, for recognising layers (cosign matches on this prefix). */
export const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';
export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';

/** Layer annotation holding the base64 signature of a classic signature layer. */
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
/** Manifest annotation on a bundle referrer naming the statement's predicate type. */
export const BUNDLE_PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
export const BUNDLE_CONTENT_ANNOTATION = 'dev.sigstore.bundle.content';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';

export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const STATEMENT_TYPE_V01 = 'https://in-toto.io/Statement/v0.1';
export const STATEMENT_TYPE_V1 = 'https://in-toto.io/Statement/v1';
/** Predicate type of the statement cosign v3 signs for `cosign sign` in the bundle format. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';

/** `--type` aliases and the predicate type URIs cosign maps them to. */
export const PREDICATE_TYPES: Readonly<Record<string, string>> = {
  custom: 'https://cosign.sigstore.dev/attestation/v1',
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  link: 'https://in-toto.io/Link/v1',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
};

/** Resolves a `--type` alias or URI to the predicate type URI (as cosign's ParsePredicateType). */
export function predicateTypeURI(type: string): string {
  const known = PREDICATE_TYPES[type];
  if (known) return known;
  let url: URL | undefined;
  try {
    url = new URL(type);
  } catch {
    url = undefined;
  }
  if (!url || !/^[a-z][a-z0-9+.-]*:$/i.test(url.protocol) || !type.includes(':')) {
    throw new SignError('INVALID_PREDICATE', `invalid predicate type "${type}": use one of ${Object.keys(PREDICATE_TYPES).join(', ')} or a URI`);
  }
  return type;
}

/** JSON.stringify with Go's encoding/json escaping of <, >, &, U+2028 and U+2029. */
export function goJSON(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function sortedObject(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
}

/** cosign's simple-signing payload (`payload.SimpleContainerImage`). */
export interface SimpleSigningPayload {
  critical: {
    identity: { 'docker-reference': string };
    image: { 'docker-manifest-digest': string };
    type: string;
  };
  optional: Record<string, unknown> | null;
}

/** Payload bytes for a classic signature, byte-compatible with cosign's `payload.Cosign`. */
export function simpleSigningPayload(dockerReference: string, digest: string, annotations?: Record<string, string>): Buffer {
  const payload: SimpleSigningPayload = {
    critical: {
      identity: { 'docker-reference': dockerReference },
      image: { 'docker-manifest-digest': digest },
      type: SIMPLE_SIGNING_TYPE,
    },
    optional: annotations && Object.keys(annotations).length > 0 ? sortedObject(annotations) : null,
  };
  return Buffer.from(goJSON(payload), 'utf8');
}

export function parseSimpleSigningPayload(bytes: Uint8Array, what: string): SimpleSigningPayload {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new SignError('MALFORMED', `${what}: the signed payload is not JSON`, { cause: err });
  }
  const v = value as Partial<SimpleSigningPayload> | null;
  if (!v || typeof v !== 'object' || typeof v.critical !== 'object' || v.critical === null) {
    throw new SignError('MALFORMED', `${what}: the signed payload has no "critical" section`);
  }
  return { critical: v.critical, optional: (v.optional as Record<string, unknown> | null | undefined) ?? null } as SimpleSigningPayload;
}

export interface ResourceDescriptor {
  name?: string;
  digest: Record<string, string>;
  annotations?: Record<string, unknown>;
}

/** An in-toto statement (v0.1 or v1). */
export interface Statement {
  _type: string;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate?: unknown;
}

/** The statement cosign v3 signs for `cosign sign` in the bundle format. */
export function signStatement(digest: string, annotations?: Record<string, string>): Statement {
  const [alg, hex] = splitDigest(digest);
  const subject: ResourceDescriptor = { digest: { [alg]: hex } };
  if (annotations && Object.keys(annotations).length > 0) subject.annotations = sortedObject(annotations);
  return { _type: STATEMENT_TYPE_V1, subject: [subject], predicateType: COSIGN_SIGN_PREDICATE_TYPE, predicate: {} };
}

export function splitDigest(digest: string): [string, string] {
  const i = digest.indexOf(':');
  if (i <= 0) throw new SignError('MALFORMED', `invalid digest "${digest}"`);
  return [digest.slice(0, i), digest.slice(i + 1)];
}

/**
 * Builds the statement for `attest`, as cosign's attestation.GenerateStatement: subject named
 * by the repository, predicate parsed from JSON (a string for `spdx`, wrapped in
 * `{Data, Timestamp}` for `custom`).
 */
export function attestationStatement(opts: { type: string; predicate: Buffer; predicateSource: string; repository: string; digest: string; now?: Date }): Statement {
  const predicateType = predicateTypeURI(opts.type);
  const [alg, hex] = splitDigest(opts.digest);
  const subject: ResourceDescriptor[] = [{ name: opts.repository, digest: { [alg]: hex } }];
  const text = opts.predicate.toString('utf8');
  let predicate: unknown;
  if (opts.type === 'custom' || (predicateType === PREDICATE_TYPES['custom'] && opts.type === predicateType)) {
    const now = opts.now ?? new Date();
    predicate = { Data: text, Timestamp: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
  } else if (opts.type === 'spdx') {
    predicate = text;
  } else {
    try {
      predicate = JSON.parse(text);
    } catch (err) {
      throw new SignError('INVALID_PREDICATE', `reading predicate ${opts.predicateSource}: not valid JSON (${(err as Error).message}); --type ${opts.type} needs a JSON document`, { cause: err });
    }
    if (predicate === null || typeof predicate !== 'object' || Array.isArray(predicate)) {
      throw new SignError('INVALID_PREDICATE', `reading predicate ${opts.predicateSource}: must be a JSON object for --type ${opts.type}`);
    }
  }
  return { _type: STATEMENT_TYPE_V01, subject, predicateType, predicate };
}

export function parseStatement(bytes: Uint8Array, what: string): Statement {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new SignError('MALFORMED', `${what}: the in-toto statement is not JSON`, { cause: err });
  }
  const st = value as Partial<Statement> | null;
  if (!st || typeof st !== 'object' || typeof st._type !== 'string' || typeof st.predicateType !== 'string' || !Array.isArray(st.subject)) {
    throw new SignError('MALFORMED', `${what}: not an in-toto statement (needs _type, subject and predicateType)`);
  }
  return st as Statement;
}

/** Whether the statement names `digest` as a subject and that subject carries `annotations`. */
export function statementMatches(st: Statement, digest: string, annotations: Record<string, string> | undefined): { ok: true } | { ok: false; reason: string } {
  const [alg, hex] = splitDigest(digest);
  for (const subject of st.subject) {
    if (!subject || typeof subject !== 'object' || !subject.digest || subject.digest[alg] !== hex) continue;
    if (annotations && !annotationsMatch(annotations, subject.annotations)) return { ok: false, reason: 'missing or incorrect annotation' };
    return { ok: true };
  }
  const found = st.subject.map((s) => (s?.digest ? Object.entries(s.digest).map(([a, h]) => `${a}:${h}`).join(',') : '?')).join(' ');
  return { ok: false, reason: `no subject matches ${digest} (found ${found || 'none'})` };
}

/** cosign's correctAnnotations: every wanted key is present with the same (string) value. */
export function annotationsMatch(wanted: Record<string, string>, have: Record<string, unknown> | null | undefined): boolean {
  for (const [k, v] of Object.entries(wanted)) {
    if (!have || have[k] !== v) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// DSSE

export interface DsseSignature {
  keyid?: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  payload: string;
  signatures: DsseSignature[];
}

/** DSSE pre-authentication encoding. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

export function signEnvelope(key: SigningKey, payloadType: string, payload: Uint8Array): DsseEnvelope {
  const sig = key.sign(pae(payloadType, payload));
  return { payloadType, payload: Buffer.from(payload).toString('base64'), signatures: [{ keyid: '', sig: sig.toString('base64') }] };
}

/** Parses a DSSE envelope in either the secure-systems-lab or the protobuf JSON shape. */
export function parseEnvelope(value: unknown, what: string): DsseEnvelope {
  let v = value;
  if (typeof v === 'string' || v instanceof Uint8Array) {
    try {
      v = JSON.parse(Buffer.from(v as Uint8Array | string).toString('utf8'));
    } catch (err) {
      throw new SignError('MALFORMED', `${what}: the DSSE envelope is not JSON`, { cause: err });
    }
  }
  const env = v as Partial<DsseEnvelope> | null;
  if (!env || typeof env !== 'object' || typeof env.payload !== 'string' || typeof env.payloadType !== 'string' || !Array.isArray(env.signatures)) {
    throw new SignError('MALFORMED', `${what}: not a DSSE envelope (needs payloadType, payload, signatures)`);
  }
  return env as DsseEnvelope;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function decodeBase64(value: string, what: string): Buffer {
  // The usual form (the standard alphabet on one line) is checked without regular expressions.
  if (isBase64(value)) return Buffer.from(value, 'base64');
  const v = value.replace(/\s+/g, '');
  // Go's StdEncoding is strict; accept URL-safe too since some producers use it.
  const std = v.replace(/-/g, '+').replace(/_/g, '/');
  if (!BASE64.test(std)) throw new SignError('MALFORMED', `${what}: not valid base64`);
  return Buffer.from(std, 'base64');
}

/** Verifies a DSSE envelope with `key`; returns the payload bytes or a reason. */
export async function verifyEnvelope(env: DsseEnvelope, key: VerificationKey, what: string): Promise<{ ok: true; payload: Buffer } | { ok: false; reason: string }> {
  const payload = decodeBase64(env.payload, `${what}: payload`);
  const message = pae(env.payloadType, payload);
  if (env.signatures.length === 0) return { ok: false, reason: 'the envelope has no signatures' };
  for (const s of env.signatures) {
    if (!s || typeof s.sig !== 'string') continue;
    let sig: Buffer;
    try {
      sig = decodeBase64(s.sig, `${what}: signature`);
    } catch {
      continue;
    }
    if (await key.verify(message, sig)) return { ok: true, payload };
  }
  return { ok: false, reason: signatureMismatch(key) };
}

// ---------------------------------------------------------------------------------------------
// Sigstore bundle v0.3

export interface SigstoreBundle {
  mediaType: string;
  verificationMaterial: {
    publicKey?: { hint?: string };
    certificate?: { rawBytes: string };
    x509CertificateChain?: unknown;
    tlogEntries?: unknown[];
    timestampVerificationData?: unknown;
  };
  dsseEnvelope?: DsseEnvelope;
  messageSignature?: unknown;
}

/** A v0.3 bundle holding a DSSE envelope signed by a key (no certificate, no log entries). */
export function makeBundle(key: SigningKey, statement: Statement): { bundle: SigstoreBundle; bytes: Buffer } {
  const payload = Buffer.from(goJSON(statement), 'utf8');
  const env = signEnvelope(key, INTOTO_PAYLOAD_TYPE, payload);
  // Field order as protojson writes it: payload, payloadType, signatures{sig, keyid}.
  const bundle: SigstoreBundle = {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: { publicKey: { hint: key.hint } },
    dsseEnvelope: {
      payload: env.payload,
      payloadType: env.payloadType,
      signatures: env.signatures.map((s) => ({ sig: s.sig, keyid: '' })),
    } as DsseEnvelope,
  };
  return { bundle, bytes: Buffer.from(JSON.stringify(bundle), 'utf8') };
}

export function parseBundle(bytes: Uint8Array, what: string): SigstoreBundle {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new SignError('MALFORMED', `${what}: the sigstore bundle is not JSON`, { cause: err });
  }
  const b = value as Partial<SigstoreBundle> | null;
  if (!b || typeof b !== 'object' || typeof b.mediaType !== 'string' || !b.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX)) {
    throw new SignError('MALFORMED', `${what}: not a sigstore bundle (mediaType ${JSON.stringify(b?.mediaType ?? null)})`);
  }
  if (!b.verificationMaterial || typeof b.verificationMaterial !== 'object') {
    throw new SignError('MALFORMED', `${what}: the sigstore bundle has no verificationMaterial`);
  }
  return b as SigstoreBundle;
}
